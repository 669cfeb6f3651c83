/* pprofgatectl token mint: signs a JWT (RFC 7519) with libjwt for operators
 * and tests. The claims match what auth/jwt.c checks: sub, scope (RFC 8693
 * §4.2, space-separated), aud, iss, iat, nbf, exp; with --single-use a
 * random jti (RFC 7519 §4.1.7, 128 bits, base64url), with --bind-window the
 * window id claim (PG_AUTH_CLAIM_WINDOW). */
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/jwt.h"
#include "src/cli/args.h"
#include "src/cli/cmd.h"
#include "src/util/rand.h"

#define PFX "pprofgatectl token mint"

static void token_usage(FILE *f)
{
	fputs("usage: pprofgatectl token mint --key FILE --alg RS256|ES256|HS256 --sub SUBJECT\n"
	      "          [--scope \"pprof:read pprof:sensitive\"] [--aud AUDIENCE] [--iss ISSUER]\n"
	      "          [--ttl 10m] [--kid KEY_ID] [--single-use] [--bind-window WINDOW_ID]\n"
	      "Prints a signed JWT on stdout. --key is a PEM private key (RS256, ES256) or the\n"
	      "HS256 secret file (one trailing newline is dropped, as the node does).\n"
	      "--single-use adds a random \"jti\": a node honours the token once (a second use is\n"
	      "refused with token_replayed; HEAD probes do not count). It is remembered per node:\n"
	      "each node it is presented to honours it once. --bind-window WINDOW_ID (the id\n"
	      "`window open`/`window status` print) makes the token valid only while that window\n"
	      "is open, whatever its exp (window_mismatch otherwise).\n"
	      "\n"
	      "usage: pprofgatectl token verify --key FILE --alg RS256|ES256|HS256 [--aud A] [--iss I]\n"
	      "Reads a token on stdin and checks it exactly as the node does (auth/jwt): signature\n"
	      "with the pinned algorithm, exp/nbf/iat, iss and aud. --key is the PUBLIC key (or\n"
	      "the HS256 secret). Exit 0 and the subject and scopes when valid, 3 otherwise.\n",
	      f);
}

static int verify(int argc, char **argv)
{
	const char *keyf = NULL, *alg_s = NULL, *aud = NULL, *iss = NULL, *v;
	struct pg_auth_jwt_config cfg = {.skew_s = -1};
	struct pg_auth_jwt *j = NULL;
	struct pg_auth_token t;
	enum pg_auth_alg alg;
	enum pg_auth_reason why;
	char tok[PG_AUTH_TOKEN_MAX + 2];
	size_t n;
	int rc = PG_CLI_FAILED;

	for (int i = 1; i < argc; i++) {
		int m;
		if ((m = pg_cli_flag(argc, argv, &i, "--key", &v)) == 1)
			keyf = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--alg", &v)) == 1)
			alg_s = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--aud", &v)) == 1)
			aud = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--iss", &v)) == 1)
			iss = v;
		if (m != 1) {
			fprintf(stderr, "pprofgatectl token verify: %s %s\n", argv[i],
				m == -1 ? "needs a value" : "is not a flag of this command");
			return PG_CLI_USAGE;
		}
	}
	if (!keyf || !alg_s) {
		fprintf(stderr, "pprofgatectl token verify: --key and --alg are required\n");
		return PG_CLI_USAGE;
	}
	alg = strcmp(alg_s, "RS256") == 0 ? PG_AUTH_ALG_RS256
	      : strcmp(alg_s, "ES256") == 0 ? PG_AUTH_ALG_ES256
	      : strcmp(alg_s, "HS256") == 0 ? PG_AUTH_ALG_HS256 : (enum pg_auth_alg)0;
	if (!alg) {
		fprintf(stderr, "pprofgatectl token verify: --alg must be RS256, ES256 or HS256\n");
		return PG_CLI_USAGE;
	}
	if (!fgets(tok, sizeof(tok), stdin)) {
		fprintf(stderr, "pprofgatectl token verify: no token on stdin\n");
		return PG_CLI_USAGE;
	}
	n = strcspn(tok, "\r\n");
	tok[n] = '\0';
	cfg.audience = aud;
	cfg.issuer = iss;
	if (pg_auth_jwt_new(&cfg, &j) != PG_OK || pg_auth_jwt_add_key_file(j, alg, NULL, keyf) != PG_OK) {
		fprintf(stderr, "pprofgatectl token verify: %s\n", pg_errmsg());
		rc = PG_CLI_USAGE;
		goto out;
	}
	why = pg_auth_jwt_verify(j, tok, n, (int64_t)time(NULL), &t);
	if (why != PG_AUTH_R_OK) {
		fprintf(stderr, "pprofgatectl token verify: invalid: %s\n", pg_auth_reason_str(why));
		rc = PG_CLI_DENIED;
		goto out;
	}
	printf("valid: sub=%s scope=\"%s\" alg=%s exp=%lld%s%s%s%s\n", t.subject, t.scope_text,
	       pg_auth_alg_name(t.alg), (long long)t.exp, t.jti[0] ? " single-use jti=" : "", t.jti,
	       t.window_id[0] ? " window=" : "", t.window_id);
	rc = PG_CLI_OK;
out:
	explicit_bzero(tok, sizeof(tok));
	pg_auth_jwt_free(&j);
	return rc;
}

int pg_cli_cmd_token(int argc, char **argv)
{
	const char *keyf = NULL, *alg_s = NULL, *sub = NULL, *scope = "pprof:read", *aud = NULL, *iss = NULL,
		   *kid = NULL, *window = NULL, *v;
	char jti[PG_RAND_ID_LEN + 1] = "";
	bool single_use = false;
	int64_t ttl_ms = 600000;
	jwt_alg_t alg;
	jwt_t *j = NULL;
	char *key = NULL, *tok = NULL;
	size_t klen = 0;
	time_t now = time(NULL);
	int rc = PG_CLI_FAILED;

	if (argc >= 1 && strcmp(argv[0], "verify") == 0)
		return verify(argc, argv);
	if (argc < 1 || strcmp(argv[0], "mint") != 0) {
		if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
			token_usage(stdout);
			return PG_CLI_OK;
		}
		token_usage(stderr);
		return PG_CLI_USAGE;
	}
	for (int i = 1; i < argc; i++) {
		int m;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			token_usage(stdout);
			return PG_CLI_OK;
		}
		if ((m = pg_cli_flag(argc, argv, &i, "--key", &v)) == 1)
			keyf = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--alg", &v)) == 1)
			alg_s = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--sub", &v)) == 1)
			sub = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--scope", &v)) == 1)
			scope = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--aud", &v)) == 1)
			aud = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--iss", &v)) == 1)
			iss = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--kid", &v)) == 1)
			kid = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--bind-window", &v)) == 1) {
			if (!pg_rand_id_ok(v, strlen(v))) {
				fprintf(stderr, "%s: --bind-window takes a window id as `pprofgatectl window status` "
						"prints it\n", PFX);
				return PG_CLI_USAGE;
			}
			window = v;
		} else if (m == 0 && strcmp(argv[i], "--single-use") == 0) {
			single_use = true;
			continue;
		}
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--ttl", &v)) == 1) {
			if (pg_cli_parse_duration(v, &ttl_ms) != 0 || ttl_ms < 1000) {
				fprintf(stderr, "%s: --ttl takes a duration of at least 1s, e.g. 10m\n", PFX);
				return PG_CLI_USAGE;
			}
		}
		if (m != 1) {
			fprintf(stderr, "%s: %s %s\n", PFX, argv[i],
				m == -1 ? "needs a value" : "is not a flag of this command");
			return PG_CLI_USAGE;
		}
	}
	if (!keyf || !alg_s || !sub || !*sub) {
		fprintf(stderr, "%s: --key, --alg and --sub are required\n", PFX);
		return PG_CLI_USAGE;
	}
	if (strcmp(alg_s, "RS256") == 0)
		alg = JWT_ALG_RS256;
	else if (strcmp(alg_s, "ES256") == 0)
		alg = JWT_ALG_ES256;
	else if (strcmp(alg_s, "HS256") == 0)
		alg = JWT_ALG_HS256;
	else {
		fprintf(stderr, "%s: --alg must be RS256, ES256 or HS256\n", PFX);
		return PG_CLI_USAGE;
	}
	if (single_use && pg_rand_id(jti, sizeof(jti)) != PG_OK) {
		fprintf(stderr, "%s: %s\n", PFX, pg_errmsg());
		goto out;
	}
	if (pg_cli_read_file(keyf, &key, &klen) != 0) {
		fprintf(stderr, "%s: %s\n", PFX, pg_errmsg());
		goto out;
	}
	if (klen == 0) {
		fprintf(stderr, "%s: the key file %s is empty\n", PFX, keyf);
		goto out;
	}
	if (alg == JWT_ALG_HS256 && klen > 0 && key[klen - 1] == '\n')
		key[--klen] = '\0';
	if (alg == JWT_ALG_HS256 && klen < 32) {
		fprintf(stderr, "%s: an HS256 secret needs at least 32 bytes\n", PFX);
		rc = PG_CLI_USAGE;
		goto out;
	}
	if (jwt_new(&j) != 0 || jwt_add_grant(j, "sub", sub) != 0 ||
	    (scope && *scope && jwt_add_grant(j, "scope", scope) != 0) ||
	    (aud && *aud && jwt_add_grant(j, "aud", aud) != 0) || (iss && *iss && jwt_add_grant(j, "iss", iss) != 0) ||
	    jwt_add_grant_int(j, "iat", (long)now) != 0 || jwt_add_grant_int(j, "nbf", (long)now) != 0 ||
	    jwt_add_grant_int(j, "exp", (long)(now + ttl_ms / 1000)) != 0 ||
	    (jti[0] && jwt_add_grant(j, "jti", jti) != 0) ||
	    (window && jwt_add_grant(j, PG_AUTH_CLAIM_WINDOW, window) != 0) ||
	    (kid && *kid && jwt_add_header(j, "kid", kid) != 0)) {
		fprintf(stderr, "%s: cannot build the token\n", PFX);
		goto out;
	}
	if (jwt_set_alg(j, alg, (const unsigned char *)key, (int)klen) != 0) {
		fprintf(stderr, "%s: the key does not suit %s\n", PFX, alg_s);
		rc = PG_CLI_USAGE;
		goto out;
	}
	tok = jwt_encode_str(j);
	if (!tok) {
		fprintf(stderr, "%s: signing failed (is %s a %s private key?)\n", PFX, keyf, alg_s);
		rc = PG_CLI_USAGE;
		goto out;
	}
	printf("%s\n", tok);
	rc = PG_CLI_OK;
out:
	if (tok) {
		explicit_bzero(tok, strlen(tok));
		free(tok);
	}
	jwt_free(j);
	if (key) {
		explicit_bzero(key, klen);
		free(key);
	}
	return rc;
}
