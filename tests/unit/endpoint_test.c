/* The published diagnostics endpoint (src/cluster/endpoint.c): the record a
 * node builds from its config, and what a reader accepts from etcd. */
#include <string.h>

#include "src/cluster/endpoint.h"
#include "tests/unit/test.h"

static void cfg_init(struct pg_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "localhost:47000");
	snprintf(c->advertise, sizeof(c->advertise), "node1.internal:47000");
	snprintf(c->http_listen, sizeof(c->http_listen), "127.0.0.1:9090");
	snprintf(c->etcd_prefix, sizeof(c->etcd_prefix), "/goverse");
}

static void build_ok(const struct pg_config *c, const char *want_key, const char *want_value)
{
	char key[600], value[PG_ENDPOINT_VALUE_MAX];
	struct pg_endpoint ep;

	CHECK_INT(pg_endpoint_build(c, key, sizeof(key), value, sizeof(value)), PG_OK);
	CHECK_STR(key, want_key);
	CHECK_STR(value, want_value);
	/* what a node writes, a reader accepts */
	CHECK_INT(pg_endpoint_parse(value, strlen(value), &ep), PG_OK);
}

static void test_build(void)
{
	struct pg_config c;

	cfg_init(&c);
	build_ok(&c, "/goverse/diagnostics/endpoints/node1.internal:47000",
		 "{\"node\":\"node1.internal:47000\",\"url\":\"http://127.0.0.1:9090\",\"tls_server_name\":\"127.0.0.1\"}");
	/* HTTPS with a certificate; the node id names it */
	snprintf(c.diag.cert_file, sizeof(c.diag.cert_file), "/etc/pprofgate/server.crt");
	snprintf(c.node_id, sizeof(c.node_id), "n1");
	build_ok(&c, "/goverse/diagnostics/endpoints/node1.internal:47000",
		 "{\"node\":\"n1\",\"url\":\"https://127.0.0.1:9090\",\"tls_server_name\":\"127.0.0.1\"}");
	/* a wildcard listen address: the advertise host */
	snprintf(c.http_listen, sizeof(c.http_listen), "0.0.0.0:9443");
	build_ok(&c, "/goverse/diagnostics/endpoints/node1.internal:47000",
		 "{\"node\":\"n1\",\"url\":\"https://node1.internal:9443\",\"tls_server_name\":\"node1.internal\"}");
	snprintf(c.http_listen, sizeof(c.http_listen), ":9443");
	snprintf(c.advertise, sizeof(c.advertise), "[fd00::1]:47000");
	build_ok(&c, "/goverse/diagnostics/endpoints/[fd00::1]:47000",
		 "{\"node\":\"n1\",\"url\":\"https://[fd00::1]:9443\",\"tls_server_name\":\"fd00::1\"}");
	/* the URL and server name from the config */
	snprintf(c.diag.advertise_url, sizeof(c.diag.advertise_url), "https://lb.example.com:443/");
	build_ok(&c, "/goverse/diagnostics/endpoints/[fd00::1]:47000",
		 "{\"node\":\"n1\",\"url\":\"https://lb.example.com:443\",\"tls_server_name\":\"lb.example.com\"}");
	snprintf(c.diag.advertise_server_name, sizeof(c.diag.advertise_server_name), "n1.pprof.example.com");
	build_ok(&c, "/goverse/diagnostics/endpoints/[fd00::1]:47000",
		 "{\"node\":\"n1\",\"url\":\"https://lb.example.com:443\",\"tls_server_name\":\"n1.pprof.example.com\"}");
	/* a node id that cannot be a file name gives way to the advertise address */
	snprintf(c.node_id, sizeof(c.node_id), "../x");
	build_ok(&c, "/goverse/diagnostics/endpoints/[fd00::1]:47000",
		 "{\"node\":\"[fd00::1]:47000\",\"url\":\"https://lb.example.com:443\",\"tls_server_name\":\"n1.pprof.example.com\"}");
}

static void test_build_refusals(void)
{
	struct pg_config c;
	char key[600], value[PG_ENDPOINT_VALUE_MAX];

	cfg_init(&c);
	c.http_listen[0] = '\0';
	CHECK_INT(pg_endpoint_build(&c, key, sizeof(key), value, sizeof(value)), PG_ENOTFOUND);
	cfg_init(&c);
	snprintf(c.diag.advertise_url, sizeof(c.diag.advertise_url), "ftp://x:1");
	CHECK_INT(pg_endpoint_build(&c, key, sizeof(key), value, sizeof(value)), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "diagnostics.advertise_url");
	snprintf(c.diag.advertise_url, sizeof(c.diag.advertise_url), "https://a b:1");
	CHECK_INT(pg_endpoint_build(&c, key, sizeof(key), value, sizeof(value)), PG_EINVAL);
	snprintf(c.diag.advertise_url, sizeof(c.diag.advertise_url), "https:///x");
	CHECK_INT(pg_endpoint_build(&c, key, sizeof(key), value, sizeof(value)), PG_EINVAL);
	snprintf(c.diag.advertise_url, sizeof(c.diag.advertise_url), "https://ok:1");
	snprintf(c.diag.advertise_server_name, sizeof(c.diag.advertise_server_name), "bad name");
	CHECK_INT(pg_endpoint_build(&c, key, sizeof(key), value, sizeof(value)), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "advertise_server_name");
	/* too small for the record */
	cfg_init(&c);
	CHECK(pg_endpoint_build(&c, key, sizeof(key), value, 16) != PG_OK);
}

static void test_parse_refusals(void)
{
	static const char *const bad[] = {
		"", "null", "[]", "{}", "{\"node\":\"n\"}", "{\"node\":\"n\",\"url\":\"https://x:1\"}",
		"{\"node\":\"\",\"url\":\"https://x:1\",\"tls_server_name\":\"x\"}",
		"{\"node\":\"../etc\",\"url\":\"https://x:1\",\"tls_server_name\":\"x\"}",
		"{\"node\":\"a/b\",\"url\":\"https://x:1\",\"tls_server_name\":\"x\"}",
		"{\"node\":\"n\\u0000x\",\"url\":\"https://x:1\",\"tls_server_name\":\"x\"}",
		"{\"node\":\"n\",\"url\":\"file:///etc/passwd\",\"tls_server_name\":\"x\"}",
		"{\"node\":\"n\",\"url\":\"https://x:1\\n\",\"tls_server_name\":\"x\"}",
		"{\"node\":\"n\",\"url\":\"https://x:1\",\"tls_server_name\":\"x y\"}",
		"{\"node\":\"n\",\"url\":\"https://x:1\",\"tls_server_name\":7}",
		"{\"node\":\"n\",\"node\":\"m\",\"url\":\"https://x:1\",\"tls_server_name\":\"x\"}",
		"{\"node\":\"n\",\"url\":\"https://x:1\",\"tls_server_name\":\"x\"} trailing",
	};
	struct pg_endpoint ep;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(pg_endpoint_parse(bad[i], strlen(bad[i]), &ep), PG_EPROTO);
		CHECK(ep.node[0] == '\0' && ep.url[0] == '\0');
	}
	/* unknown members are ignored; an empty server name is allowed */
	const char *ok = "{\"node\":\"n-1\",\"url\":\"http://10.0.0.1:9090\",\"tls_server_name\":\"\",\"x\":[1]}";
	CHECK_INT(pg_endpoint_parse(ok, strlen(ok), &ep), PG_OK);
	CHECK_STR(ep.node, "n-1");
	CHECK_STR(ep.url, "http://10.0.0.1:9090");
	CHECK_STR(ep.tls_server_name, "");
}

int main(void)
{
	RUN(test_build);
	RUN(test_build_refusals);
	RUN(test_parse_refusals);
	TEST_END();
}
