/* Fuzzes the Authorization header path: bearer parsing, compact JWS
 * splitting, the JOSE header reader (base64url + JSON), key selection, libjwt
 * decoding and the claim checks. Keys are fixed so seeds minted with the
 * HS256 secret below reach the claim checks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jsonscan.h"
#include "auth/jwt.h"

#define NOW 1800000000L

static const char secret[] = "pprofgate-fuzz-secret-0123456789abcdef";

static struct pg_auth_jwt *verifier(void)
{
	static struct pg_auth_jwt *v;
	struct pg_auth_jwt_config cfg = {.issuer = "fuzz", .audience = "pprofgate", .skew_s = 60,
					 .cache_max = 16};

	if (v)
		return v;
	if (pg_auth_jwt_new(&cfg, &v) != PG_OK ||
	    pg_auth_jwt_add_key(v, PG_AUTH_ALG_HS256, NULL, secret, strlen(secret)) != PG_OK)
		abort();
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *hv = malloc(size + 1);
	const char *tok = NULL, *v;
	size_t n = 0, vl, pos = 0;
	struct pg_auth_token out;

	if (!hv)
		return 0;
	memcpy(hv, data, size);
	hv[size] = '\0';
	if (pg_auth_bearer_parse(hv, &tok, &n) == PG_AUTH_R_OK) {
		enum pg_auth_reason r = pg_auth_jwt_verify(verifier(), tok, n, NOW, &out);

		/* Only a token signed with the secret can pass. */
		if (r == PG_AUTH_R_OK && out.exp <= 0)
			abort();
		if (getenv("PG_FUZZ_DEBUG"))
			fprintf(stderr, "%s\n", pg_auth_reason_str(r));
	}
	/* The JSON reader alone, on the raw bytes. */
	if (pg_auth_json_member(hv, size, "alg", &v, &vl) == PG_OK) {
		char buf[64];

		int rc = pg_auth_json_string(v, vl, buf, sizeof(buf));

		(void)rc;
	}
	while (pg_auth_json_array_next(hv, size, &pos, &v, &vl) == PG_OK)
		;
	free(hv);
	return 0;
}
