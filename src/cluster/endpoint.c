/* The published diagnostics endpoint; see endpoint.h. */
#include "src/cluster/endpoint.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "src/cluster/etcd.h"
#include "src/util/buf.h"
#include "src/util/json.h"

static bool node_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-' || c == ':' || c == '[' || c == ']';
}

/* A node name is also a file name (fetch --cluster writes DIR/<node>.pb.gz):
 * no '/', no leading '.', nothing invisible. */
static bool node_ok(const char *s, size_t n)
{
	if (n == 0 || n >= PG_ENDPOINT_NODE_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!node_char(s[i]))
			return false;
	return true;
}

/* http:// or https://, a non-empty authority, visible ASCII only. */
static bool url_ok(const char *s, size_t n)
{
	size_t skip = strncmp(s, "https://", 8) == 0 ? 8 : strncmp(s, "http://", 7) == 0 ? 7 : 0;

	if (!skip || n <= skip || n >= PG_ENDPOINT_URL_MAX || s[skip] == '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* DNS name or IP literal characters (RFC 1123, IPv6 colons). */
static bool name_ok(const char *s, size_t n)
{
	if (n >= PG_ENDPOINT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '-' || c == ':'))
			return false;
	}
	return true;
}

/* Splits "host:port" / "[v6]:port" / ":port": host without brackets. */
static void split_hostport(const char *a, char *host, size_t hcap, const char **port)
{
	const char *colon = strrchr(a, ':');
	size_t hl = colon ? (size_t)(colon - a) : strlen(a);

	*port = colon ? colon + 1 : "";
	if (hl >= 2 && a[0] == '[' && a[hl - 1] == ']') {
		a++;
		hl -= 2;
	}
	snprintf(host, hcap, "%.*s", (int)hl, a);
}

/* The host of a URL's authority, without brackets or port; false when it
 * does not fit. */
static bool url_host(const char *url, char *host, size_t cap)
{
	const char *a = strstr(url, "://"), *end;
	size_t n;

	a = a ? a + 3 : url;
	n = strcspn(a, "/?#");
	if (a[0] == '[') {
		end = memchr(a, ']', n);
		if (!end)
			return false;
		a++;
		n = (size_t)(end - a);
	} else {
		end = memchr(a, ':', n);
		if (end)
			n = (size_t)(end - a);
	}
	if (n >= cap)
		return false;
	memcpy(host, a, n);
	host[n] = '\0';
	return true;
}

int pg_endpoint_prefix(const char *etcd_prefix, char *out, size_t cap)
{
	if ((size_t)snprintf(out, cap, "%s/diagnostics/endpoints/", etcd_prefix) >= cap)
		return pg_fail(PG_EINVAL, "cluster: etcd prefix too long");
	return PG_OK;
}

int pg_endpoint_build(const struct pg_config *cfg, char *key, size_t kcap, char *value, size_t vcap)
{
	const char *adv = cfg->advertise[0] ? cfg->advertise : cfg->listen;
	/* The node id names the node; one that cannot be a file name gives way
	 * to the advertise address. */
	const char *node = node_ok(cfg->node_id, strlen(cfg->node_id)) ? cfg->node_id : adv;
	char url[PG_ENDPOINT_URL_MAX], host[PG_ENDPOINT_NAME_MAX], name[PG_ENDPOINT_NAME_MAX], pfx[PG_CONFIG_ADDR_MAX + 32];
	struct pg_buf b;
	int rc;

	if (!cfg->http_listen[0])
		return pg_fail(PG_ENOTFOUND, "cluster: no HTTP listener, no diagnostics endpoint to publish");
	if (!node_ok(node, strlen(node)))
		return pg_fail(PG_EINVAL, "cluster: node name \"%.60s\" cannot name a diagnostics endpoint", node);
	if (cfg->diag.advertise_url[0]) {
		if (!url_ok(cfg->diag.advertise_url, strlen(cfg->diag.advertise_url)))
			return pg_fail(PG_EINVAL, "diagnostics.advertise_url \"%.80s\" is not an http:// or https:// URL "
						  "without spaces", cfg->diag.advertise_url);
		snprintf(url, sizeof(url), "%s", cfg->diag.advertise_url);
		while (strlen(url) > 8 && url[strlen(url) - 1] == '/')
			url[strlen(url) - 1] = '\0';
	} else {
		const char *port, *aport;
		char ahost[PG_ENDPOINT_NAME_MAX];

		split_hostport(cfg->http_listen, host, sizeof(host), &port);
		if (!host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
			split_hostport(adv, ahost, sizeof(ahost), &aport);
			snprintf(host, sizeof(host), "%s", ahost);
		}
		snprintf(url, sizeof(url), "%s://%s%s%s:%s", cfg->diag.cert_file[0] ? "https" : "http",
			 strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
	}
	if (cfg->diag.advertise_server_name[0])
		snprintf(name, sizeof(name), "%s", cfg->diag.advertise_server_name);
	else if (!url_host(url, name, sizeof(name)))
		snprintf(name, sizeof(name), "?"); /* refused below */
	if (!name_ok(name, strlen(name)))
		return pg_fail(PG_EINVAL, "diagnostics.advertise_server_name \"%.80s\" is not a DNS name or an IP "
					  "address", name);
	if ((rc = pg_endpoint_prefix(pg_etcd_config_prefix(cfg), pfx, sizeof(pfx))) != PG_OK)
		return rc;
	if ((size_t)snprintf(key, kcap, "%s%s", pfx, adv) >= kcap)
		return pg_fail(PG_EINVAL, "cluster: endpoint key too long");
	pg_buf_init(&b, vcap - 1);
	rc = pg_buf_puts(&b, "{\"node\":");
	if (rc == PG_OK)
		rc = pg_json_write_cstr(&b, node);
	if (rc == PG_OK)
		rc = pg_buf_puts(&b, ",\"url\":");
	if (rc == PG_OK)
		rc = pg_json_write_cstr(&b, url);
	if (rc == PG_OK)
		rc = pg_buf_puts(&b, ",\"tls_server_name\":");
	if (rc == PG_OK)
		rc = pg_json_write_cstr(&b, name);
	if (rc == PG_OK)
		rc = pg_buf_puts(&b, "}");
	if (rc == PG_OK) {
		memcpy(value, b.data, b.len);
		value[b.len] = '\0';
	} else {
		rc = pg_fail(PG_EINVAL, "cluster: endpoint record too long");
	}
	pg_buf_free(&b);
	return rc;
}

/* Copies string member `name` of obj into out after check(). */
static int member(const struct pg_json_value *obj, const char *name, bool (*check)(const char *, size_t),
		  bool may_be_empty, char *out, size_t cap)
{
	size_t n = 0;
	const char *s = pg_json_str(pg_json_get(obj, name), &n);

	if (!s || n >= cap || memchr(s, 0, n) || (!may_be_empty && n == 0) || (n > 0 && !check(s, n)))
		return pg_fail(PG_EPROTO, "diagnostics endpoint record: \"%s\" missing or not valid", name);
	memcpy(out, s, n);
	out[n] = '\0';
	return PG_OK;
}

int pg_endpoint_parse(const char *value, size_t len, struct pg_endpoint *out)
{
	struct pg_json_limits lim = {0};
	struct pg_json *doc = NULL;
	const struct pg_json_value *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > PG_ENDPOINT_VALUE_MAX)
		return pg_fail(PG_EPROTO, "diagnostics endpoint record: longer than %d bytes", PG_ENDPOINT_VALUE_MAX);
	lim.max_bytes = PG_ENDPOINT_VALUE_MAX;
	lim.max_depth = 4;
	lim.max_nodes = 64;
	lim.max_number_len = 32;
	if (pg_json_parse(value, len, &lim, &doc) != PG_OK)
		return pg_fail(PG_EPROTO, "diagnostics endpoint record: not JSON (%s)", pg_errmsg());
	root = pg_json_root(doc);
	rc = pg_json_is(root, PG_JSON_OBJECT) ? PG_OK
					      : pg_fail(PG_EPROTO, "diagnostics endpoint record: not a JSON object");
	if (rc == PG_OK)
		rc = member(root, "node", node_ok, false, out->node, sizeof(out->node));
	if (rc == PG_OK)
		rc = member(root, "url", url_ok, false, out->url, sizeof(out->url));
	if (rc == PG_OK)
		rc = member(root, "tls_server_name", name_ok, true, out->tls_server_name,
			    sizeof(out->tls_server_name));
	pg_json_free(&doc);
	if (rc != PG_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}
