#include "auth/reason.h"

static const char *const names[PG_AUTH_R__COUNT] = {
	[PG_AUTH_R_OK] = "ok",
	[PG_AUTH_R_TOKEN_MISSING] = "token_missing",
	[PG_AUTH_R_TOKEN_MALFORMED] = "token_malformed",
	[PG_AUTH_R_TOKEN_TOO_LARGE] = "token_too_large",
	[PG_AUTH_R_ALG_NOT_ALLOWED] = "alg_not_allowed",
	[PG_AUTH_R_UNKNOWN_KEY] = "unknown_key",
	[PG_AUTH_R_BAD_SIGNATURE] = "bad_signature",
	[PG_AUTH_R_EXP_MISSING] = "exp_missing",
	[PG_AUTH_R_TOKEN_EXPIRED] = "token_expired",
	[PG_AUTH_R_TOKEN_NOT_YET_VALID] = "token_not_yet_valid",
	[PG_AUTH_R_WRONG_ISSUER] = "wrong_issuer",
	[PG_AUTH_R_WRONG_AUDIENCE] = "wrong_audience",
	[PG_AUTH_R_SCOPE_MISSING] = "scope_missing",
	[PG_AUTH_R_TOKEN_REPLAYED] = "token_replayed",
	[PG_AUTH_R_SINGLE_USE_FULL] = "single_use_full",
	[PG_AUTH_R_CERT_MISSING] = "cert_missing",
	[PG_AUTH_R_CERT_INVALID] = "cert_invalid",
	[PG_AUTH_R_CERT_EXPIRED] = "cert_expired",
	[PG_AUTH_R_CERT_NOT_YET_VALID] = "cert_not_yet_valid",
	[PG_AUTH_R_CERT_UNTRUSTED] = "cert_untrusted",
	[PG_AUTH_R_CERT_BAD_PURPOSE] = "cert_bad_purpose",
	[PG_AUTH_R_CERT_IS_CA] = "cert_is_ca",
	[PG_AUTH_R_IDENTITY_NOT_ALLOWED] = "identity_not_allowed",
	[PG_AUTH_R_TLS_REQUIRED] = "tls_required",
	[PG_AUTH_R_CREDENTIALS_MISSING] = "credentials_missing",
	[PG_AUTH_R_IP_NOT_ALLOWED] = "ip_not_allowed",
	[PG_AUTH_R_BAD_FORWARDED_FOR] = "bad_forwarded_for",
	[PG_AUTH_R_LOOPBACK_ONLY] = "loopback_only",
	[PG_AUTH_R_WINDOW_CLOSED] = "window_closed",
	[PG_AUTH_R_WINDOW_MISMATCH] = "window_mismatch",
	[PG_AUTH_R_INTERNAL] = "internal_error",
};

const char *pg_auth_reason_str(enum pg_auth_reason r)
{
	if ((unsigned)r >= PG_AUTH_R__COUNT || !names[r])
		return "unknown";
	return names[r];
}
