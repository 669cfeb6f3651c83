/* Base64 (RFC 4648): the standard padded alphabet (etcd's JSON gateway) and
 * unpadded base64url (JWS compact serialization, RFC 7515 section 2).
 * Decoding is strict: bad characters, misplaced padding and non-zero
 * trailing bits (RFC 4648 section 3.5) are refused, so one value has one
 * spelling. */
#ifndef PG_UTIL_BASE64_H
#define PG_UTIL_BASE64_H

#include <stddef.h>

#include "src/util/err.h"

/* Standard alphabet with '=' padding; writes a NUL-terminated string.
 * cap must be at least (n + 2) / 3 * 4 + 1, else PG_ENOMEM. */
PG_WUR int pg_base64_encode(const void *in, size_t n, char *out, size_t cap);

/* Standard alphabet, padded. PG_EPROTO on malformed input, PG_ENOMEM when
 * the result exceeds cap. */
PG_WUR int pg_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap,
			    size_t *out_len);

/* base64url without padding (RFC 4648 section 5); writes a NUL-terminated
 * string. cap must be at least (n * 4 + 2) / 3 + 1, else PG_ENOMEM. */
PG_WUR int pg_base64url_encode(const void *in, size_t n, char *out, size_t cap);

/* base64url without padding ('=' is refused). Same errors. */
PG_WUR int pg_base64url_decode(const char *in, size_t n, unsigned char *out, size_t cap,
			       size_t *out_len);

#endif
