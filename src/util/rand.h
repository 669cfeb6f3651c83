/* Random identifiers from the kernel's CSPRNG (getrandom(2)): window ids,
 * approval request ids, token ids (jti). Not for keys (those come from
 * openssl, certs/gen-dev-pki.sh). */
#ifndef PG_UTIL_RAND_H
#define PG_UTIL_RAND_H

#include <stddef.h>

#include "src/util/err.h"

/* 128 random bits as unpadded base64url: 22 characters. */
#define PG_RAND_ID_LEN 22

/* Fills buf with n random bytes. PG_EIO (with a sentence) when the kernel
 * gives none. */
PG_WUR int pg_rand_bytes(void *buf, size_t n);

/* Writes a fresh 128-bit id, PG_RAND_ID_LEN characters of [A-Za-z0-9_-] and a
 * NUL, into out (cap > PG_RAND_ID_LEN). */
PG_WUR int pg_rand_id(char *out, size_t cap);

/* Whether s (n bytes) could be an id from pg_rand_id: 1..64 of [A-Za-z0-9_-].
 * What callers accept from peers as an id. */
int pg_rand_id_ok(const char *s, size_t n);

#endif
