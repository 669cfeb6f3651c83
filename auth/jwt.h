/* Bearer JWT verification (RFC 7519 / RFC 7515 / RFC 6750) over libjwt 1.10.
 *
 * libjwt only checks signatures, and trusts the token's own "alg" header. This
 * verifier pins the algorithm per key: it reads the header itself (bounded
 * base64url + JSON), refuses "none" and any alg without a configured key, picks
 * the key by alg (+ "kid"), so an RSA/EC public key is never handed to an HS*
 * check, then re-checks jwt_get_alg() after decoding. It checks exp (required),
 * nbf, iat, iss and aud itself, with a clock skew.
 *
 * Verified tokens are cached by SHA-256 of the token text (bounded, entries
 * expire with the token), so the hot path does one hash and one lookup. The
 * cache only spares the signature check: a cached token carries its "jti"
 * and window claims like a fresh one, and the caller (auth/policy.c) counts
 * every presentation as a use (auth/replay.h).
 *
 * A struct pg_auth_jwt is built single-threaded (new + add_key*), then
 * pg_auth_jwt_verify() is thread-safe. It owns copies of all key material and
 * wipes them on free. */
#ifndef PG_AUTH_JWT_H
#define PG_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "auth/reason.h"
#include "auth/window.h"
#include "src/util/err.h"

/* Tokens longer than this are refused before any parsing. */
#define PG_AUTH_TOKEN_MAX 8192
#define PG_AUTH_SUBJECT_MAX 256
#define PG_AUTH_SCOPE_TEXT_MAX 256
#define PG_AUTH_KID_MAX 128
#define PG_AUTH_JWT_MAX_KEYS 16
#define PG_AUTH_JTI_MAX 129 /* a "jti" claim's bytes (1..128 printable, no space), with its NUL */
/* The private claim naming the diagnostics window a token is bound to. */
#define PG_AUTH_CLAIM_WINDOW "pprofgate_window"

enum pg_auth_alg { PG_AUTH_ALG_HS256 = 1, PG_AUTH_ALG_RS256, PG_AUTH_ALG_ES256 };

struct pg_auth_jwt_config {
	const char *issuer;   /* required "iss" value; NULL/"" = not checked */
	const char *audience; /* required in "aud" (string or array); NULL/"" = not checked */
	long skew_s;          /* clock skew for exp/nbf/iat; < 0 selects the default 60 */
	size_t cache_max;     /* verified-token cache entries; 0 disables the cache */
};

/* What a verified token says. Plain value, no secrets (the token itself is not
 * kept). */
struct pg_auth_token {
	char subject[PG_AUTH_SUBJECT_MAX];        /* "sub", "" if absent */
	char scope_text[PG_AUTH_SCOPE_TEXT_MAX];  /* known scopes granted, space-separated */
	unsigned scopes;                          /* PG_AUTH_SCOPE_* bits */
	int64_t exp;                              /* "exp", seconds since the epoch */
	int64_t valid_until;                      /* exp + clock skew: the last second it verifies */
	char jti[PG_AUTH_JTI_MAX];                /* "jti", "" if absent; set = a single-use token */
	char window_id[PG_AUTH_WINDOW_ID_MAX];    /* PG_AUTH_CLAIM_WINDOW, "" if absent: valid only
						     while the window with this id is open */
	enum pg_auth_alg alg;
	int cached;                               /* 1 when served from the cache */
};

struct pg_auth_jwt;

PG_WUR int pg_auth_jwt_new(const struct pg_auth_jwt_config *cfg, struct pg_auth_jwt **out);
void pg_auth_jwt_free(struct pg_auth_jwt **pp);

/* Adds a verification key from memory: PEM public key (RSA >= 2048 bits for
 * RS256, P-256 for ES256) or raw secret bytes (>= 32, HS256). `kid` may be NULL
 * (the key then serves tokens without a "kid" and any kid). The bytes are
 * copied. Refuses PEM text as an HS256 secret (that is the alg-confusion trap
 * turned around). */
PG_WUR int pg_auth_jwt_add_key(struct pg_auth_jwt *v, enum pg_auth_alg alg, const char *kid,
			       const void *key, size_t len);

/* Same, reading a file (PEM, or for HS256 the secret: one trailing newline is
 * dropped). Warns when an HS256 secret file is readable by group/others. */
PG_WUR int pg_auth_jwt_add_key_file(struct pg_auth_jwt *v, enum pg_auth_alg alg, const char *kid,
				    const char *path);

/* Verifies a compact JWS of len bytes (need not be NUL-terminated) at wall
 * time now_s. Returns PG_AUTH_R_OK and fills *out, or a refusal reason. The
 * scope is not checked here (see pg_auth_scope_satisfies). Thread-safe. */
enum pg_auth_reason pg_auth_jwt_verify(struct pg_auth_jwt *v, const char *token, size_t len,
				       int64_t now_s, struct pg_auth_token *out);

/* Parses an Authorization header value "Bearer <token>" (RFC 6750 §2.1: the
 * scheme is case-insensitive, 1*SP, then b64token). NULL/empty or another
 * scheme -> PG_AUTH_R_TOKEN_MISSING; longer than PG_AUTH_TOKEN_MAX + 64 ->
 * PG_AUTH_R_TOKEN_TOO_LARGE; bad syntax -> PG_AUTH_R_TOKEN_MALFORMED. On OK,
 * tok and len point into `value`. */
enum pg_auth_reason pg_auth_bearer_parse(const char *value, const char **tok, size_t *len);

/* Cache counters, for metrics and tests. */
struct pg_auth_jwt_stats {
	uint64_t hits, misses, inserts, evictions;
};
void pg_auth_jwt_stats(struct pg_auth_jwt *v, struct pg_auth_jwt_stats *st);

const char *pg_auth_alg_name(enum pg_auth_alg alg);

#endif
