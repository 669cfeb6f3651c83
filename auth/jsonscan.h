/* A small bounded JSON reader for the few places auth/ must read JSON before
 * (or beside) libjwt: the JWT header (to pin the algorithm before any key is
 * used) and array claims returned by jwt_get_grants_json ("aud", "scp").
 *
 * It validates the whole text (RFC 8259 structure, nesting depth <= 16) and
 * never allocates. Spans point into the caller's text. */
#ifndef PG_AUTH_JSONSCAN_H
#define PG_AUTH_JSONSCAN_H

#include <stddef.h>

#include "src/util/err.h"

/* Validates that js[0..len) is exactly one JSON value (surrounding whitespace
 * allowed). PG_OK or PG_EPROTO. */
PG_WUR int pg_auth_json_validate(const char *js, size_t len);

/* In a JSON object text, finds the top-level member `key` and returns the span
 * of its value. PG_ENOTFOUND when absent, PG_EPROTO when the text is not a
 * valid object or names `key` more than once (duplicate names are how parser
 * differentials smuggle a second "alg"). */
PG_WUR int pg_auth_json_member(const char *js, size_t len, const char *key, const char **val,
			       size_t *vlen);

/* Decodes a JSON string value span (including its quotes) into out, NUL
 * terminated. \uXXXX escapes are accepted only for ASCII (U+0001..U+007F);
 * other escapes of non-ASCII code points give PG_EUNSUP (a caller comparing
 * against ASCII config simply treats it as no match). PG_EPROTO if the span is
 * not a string, PG_ENOMEM if it does not fit in cap. */
PG_WUR int pg_auth_json_string(const char *v, size_t vlen, char *out, size_t cap);

/* Iterates the elements of a JSON array span: start with *pos = 0; returns
 * PG_OK with the next element's span, PG_ENOTFOUND at the end, PG_EPROTO when
 * the span is not an array. */
PG_WUR int pg_auth_json_array_next(const char *v, size_t vlen, size_t *pos, const char **elem,
				   size_t *elen);

#endif
