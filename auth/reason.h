/* Reason codes for every authentication/authorisation outcome.
 *
 * The short string of a reason ("token_expired") is what clients see in the
 * JSON error body and what the audit log records; it never contains secrets. */
#ifndef PG_AUTH_REASON_H
#define PG_AUTH_REASON_H

enum pg_auth_reason {
	PG_AUTH_R_OK = 0,
	/* bearer tokens (RFC 6750, RFC 7519) */
	PG_AUTH_R_TOKEN_MISSING,
	PG_AUTH_R_TOKEN_MALFORMED,
	PG_AUTH_R_TOKEN_TOO_LARGE,
	PG_AUTH_R_ALG_NOT_ALLOWED,
	PG_AUTH_R_UNKNOWN_KEY,
	PG_AUTH_R_BAD_SIGNATURE,
	PG_AUTH_R_EXP_MISSING,
	PG_AUTH_R_TOKEN_EXPIRED,
	PG_AUTH_R_TOKEN_NOT_YET_VALID,
	PG_AUTH_R_WRONG_ISSUER,
	PG_AUTH_R_WRONG_AUDIENCE,
	PG_AUTH_R_SCOPE_MISSING,
	PG_AUTH_R_TOKEN_REPLAYED,   /* a single-use token ("jti") presented again */
	PG_AUTH_R_SINGLE_USE_FULL,  /* no room left to remember one more single-use token */
	/* client certificates */
	PG_AUTH_R_CERT_MISSING,
	PG_AUTH_R_CERT_INVALID,
	PG_AUTH_R_CERT_EXPIRED,
	PG_AUTH_R_CERT_NOT_YET_VALID,
	PG_AUTH_R_CERT_UNTRUSTED,
	PG_AUTH_R_CERT_BAD_PURPOSE,
	PG_AUTH_R_CERT_IS_CA,
	PG_AUTH_R_IDENTITY_NOT_ALLOWED,
	/* transport and network */
	PG_AUTH_R_TLS_REQUIRED,
	PG_AUTH_R_CREDENTIALS_MISSING,
	PG_AUTH_R_IP_NOT_ALLOWED,
	PG_AUTH_R_BAD_FORWARDED_FOR,
	PG_AUTH_R_LOOPBACK_ONLY,
	/* diagnostics window */
	PG_AUTH_R_WINDOW_CLOSED,
	PG_AUTH_R_WINDOW_MISMATCH,  /* a window-bound token whose window is not the one open */
	PG_AUTH_R_INTERNAL,
	PG_AUTH_R__COUNT
};

/* "ok", "token_expired", ...; never NULL ("unknown" for out-of-range). */
const char *pg_auth_reason_str(enum pg_auth_reason r);

#endif
