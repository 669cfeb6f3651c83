/* pprofgatectl: the one way the CLI talks HTTP(S) to a node's diagnostics
 * listener (fetch, fetch --cluster, nodes, proxy): the node's URL from
 * --node, the operator's client certificate or bearer token, the CA, and the
 * libcurl options every request shares. See cmd.h. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli/args.h"
#include "src/cli/cmd.h"

void pg_cli_node_base(const char *node, bool cacert, char *out, size_t cap, bool *https)
{
	size_t n;

	*https = strncmp(node, "https://", 8) == 0 || (strncmp(node, "http://", 7) != 0 && cacert);
	if (strncmp(node, "http", 4) == 0)
		snprintf(out, cap, "%s", node);
	else
		snprintf(out, cap, "%s://%s", *https ? "https" : "http", node);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
}

int pg_cli_upstream_open(const struct pg_cli_conn *c, const char *pfx, struct pg_cli_upstream *u)
{
	char auth[8400];
	int rc;

	memset(u, 0, sizeof(*u));
	u->c = c;
	if ((c->cert && !c->key) || (!c->cert && c->key)) {
		fprintf(stderr, "%s: --cert and --key go together\n", pfx);
		return PG_CLI_USAGE;
	}
	if ((rc = pg_cli_check_own_cert(c, pfx)) != PG_CLI_OK)
		return rc;
	pg_cli_node_base(c->node, c->cacert != NULL, u->base, sizeof(u->base), &u->https);
	if (c->token && !u->https && !getenv("PPROFGATE_ALLOW_PLAINTEXT_TOKEN")) {
		fprintf(stderr, "%s: refusing to send a bearer token over plain HTTP (RFC 6750 §5.3); "
				"use --cacert/https://\n", pfx);
		return PG_CLI_USAGE;
	}
	if (c->token) {
		if ((size_t)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token) >= sizeof(auth)) {
			explicit_bzero(auth, sizeof(auth));
			fprintf(stderr, "%s: the token is too long\n", pfx);
			return PG_CLI_USAGE;
		}
		u->hdr = curl_slist_append(NULL, auth);
		explicit_bzero(auth, sizeof(auth));
		if (!u->hdr) {
			fprintf(stderr, "%s: out of memory\n", pfx);
			return PG_CLI_FAILED;
		}
	}
	pg_cli_own_identity(c, u->identity, sizeof(u->identity));
	return PG_CLI_OK;
}

void pg_cli_upstream_setup(CURL *h, const struct pg_cli_upstream *u, const char *url, long timeout_s,
			   char *errbuf)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, u->c->timeout_s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (u->c->cacert)
		curl_easy_setopt(h, CURLOPT_CAINFO, u->c->cacert);
	if (u->c->cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, u->c->cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, u->c->key);
	}
	if (u->hdr)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, u->hdr);
}

void pg_cli_upstream_close(struct pg_cli_upstream *u)
{
	/* The list holds the token: wipe it before it is freed. */
	for (struct curl_slist *l = u->hdr; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(u->hdr);
	u->hdr = NULL;
}

void pg_cli_reason_of(const char *body, char *out, size_t cap)
{
	const char *r = strstr(body, "\"reason\":\"");
	size_t n = 0;

	out[0] = '\0';
	if (!r || cap == 0)
		return;
	r += 10;
	while (r[n] && r[n] != '"' && n + 1 < cap && (unsigned char)r[n] >= 0x20 && (unsigned char)r[n] < 0x7f)
		n++;
	memcpy(out, r, n);
	out[n] = '\0';
}
