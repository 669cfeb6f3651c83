/* pprofgatectl: checks the operator's own client certificate before it is
 * sent anywhere, with the node's own check (auth/x509), so a certificate the
 * node would refuse is explained here, by name, instead of as a refusal. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/reason.h"
#include "auth/x509.h"
#include "src/cli/args.h"
#include "src/cli/cmd.h"
#include "src/util/base64.h"
#include "src/util/json.h"

int pg_cli_check_own_cert(const struct pg_cli_conn *c, const char *pfx)
{
	struct pg_auth_cert_result res;
	struct pg_auth_x509_trust *trust = NULL;
	char *pem = NULL, *ca = NULL;
	size_t n = 0, cn = 0;
	int rc = PG_CLI_OK;

	if (!c->cert)
		return PG_CLI_OK;
	if (pg_cli_read_file(c->cert, &pem, &n) != 0) {
		fprintf(stderr, "%s: cannot read the client certificate %s\n", pfx, c->cert);
		return PG_CLI_FAILED;
	}
	pg_auth_x509_check_leaf_pem(pem, n, (int64_t)time(NULL), &res);
	if (res.status != PG_AUTH_R_OK) {
		fprintf(stderr, "%s: your client certificate %s is not usable: %s (%s)\n", pfx, c->cert,
			pg_auth_x509_status_text(res.status), pg_auth_reason_str(res.status));
		rc = PG_CLI_DENIED;
		goto out;
	}
	/* The node's client CA may differ from --cacert (the CA of the node's
	 * server certificate); check the signature only when --cacert names the
	 * certificate's issuer. */
	if (c->cacert && pg_cli_read_file(c->cacert, &ca, &cn) == 0 &&
	    pg_auth_x509_trust_new_mem(ca, cn, &trust) == PG_OK && pg_auth_x509_trust_names_issuer(trust, pem, n)) {
		pg_auth_x509_verify_pem(trust, pem, n, &res);
		if (res.status != PG_AUTH_R_OK) {
			fprintf(stderr, "%s: your client certificate %s does not verify against %s: %s (%s)\n", pfx,
				c->cert, c->cacert, pg_auth_x509_status_text(res.status),
				pg_auth_reason_str(res.status));
			rc = PG_CLI_DENIED;
		}
	}
	pg_err_clear();
out:
	pg_auth_x509_trust_free(&trust);
	free(ca);
	free(pem);
	return rc;
}

/* Visible ASCII and spaces only: the text goes to a terminal. */
static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

void pg_cli_own_identity(const struct pg_cli_conn *c, char *out, size_t cap)
{
	snprintf(out, cap, "anonymous");
	if (c->cert) {
		struct pg_auth_cert_result res;
		char *pem = NULL;
		size_t n = 0;

		if (pg_cli_read_file(c->cert, &pem, &n) == 0) {
			pg_auth_x509_check_leaf_pem(pem, n, (int64_t)time(NULL), &res);
			if (res.status == PG_AUTH_R_OK && res.id.cn[0])
				snprintf(out, cap, "cn:%s", res.id.cn);
			else if (res.status == PG_AUTH_R_OK && res.id.n_uri)
				snprintf(out, cap, "uri:%s", res.id.uri[0]);
			else if (res.status == PG_AUTH_R_OK && res.id.n_dns)
				snprintf(out, cap, "dns:%s", res.id.dns[0]);
		}
		free(pem);
		pg_err_clear();
	} else if (c->token) {
		/* The claims, for the operator's eyes only: the node verifies. */
		const char *p = strchr(c->token, '.'), *e = p ? strchr(p + 1, '.') : NULL;
		unsigned char claims[4096];
		struct pg_json *doc = NULL;
		size_t n = 0, sl = 0;
		const char *sub;

		snprintf(out, cap, "a bearer token");
		if (e && pg_base64url_decode(p + 1, (size_t)(e - p - 1), claims, sizeof(claims), &n) == PG_OK &&
		    pg_json_parse((const char *)claims, n, NULL, &doc) == PG_OK &&
		    (sub = pg_json_str(pg_json_get(pg_json_root(doc), "sub"), &sl)) && sl < 200 && printable(sub, sl))
			snprintf(out, cap, "token sub=%s", sub);
		pg_json_free(&doc);
		pg_err_clear();
	}
}
