/* Fuzzes the Authorization header path: bearer parsing, compact JWS
 * splitting, the JOSE header reader (base64url + JSON), key selection, libjwt
 * decoding and the claim checks. Keys are fixed so seeds minted with the
 * HS256 secret below reach the claim checks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "src/util/json.h"

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
	const char *tok = NULL;
	size_t n = 0;
	struct pg_auth_token out;
	struct pg_json *doc = NULL;

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
	/* The JSON reader alone, on the raw bytes, as read_header() uses it. */
	if (pg_json_parse(hv, size, NULL, &doc) == PG_OK) {
		const struct pg_json_value *alg = pg_json_get(pg_json_root(doc), "alg");
		size_t al = 0;
		const char *s = pg_json_str(alg, &al);

		if (alg && pg_json_get(pg_json_root(doc), pg_json_key(alg)) != alg)
			abort(); /* duplicate names are refused, so lookups are unique */
		if (s && s[al] != '\0')
			abort();
		pg_json_free(&doc);
	}
	free(hv);
	return 0;
}
