/* Unit tests for the pure parts of src/cluster/etcd: reply parsers, base64,
 * prefix ranges and client options. No network. Replies are the shapes etcd
 * 3.4's JSON gateway sends (captured from a real etcd). */
#include <stdlib.h>
#include <string.h>

#include "src/cluster/etcd.h"
#include "src/util/base64.h"
#include "src/util/buf.h"
#include "tests/unit/test.h"

#define S(x) x, strlen(x)

static void test_base64(void)
{
	unsigned char out[64];
	char enc[64];
	size_t n = 0;

	CHECK_INT(pg_base64_encode("/goverse/nodes/a", 16, enc, sizeof(enc)), PG_OK);
	CHECK_STR(enc, "L2dvdmVyc2Uvbm9kZXMvYQ==");
	CHECK_INT(pg_base64_encode("ab", 2, enc, sizeof(enc)), PG_OK);
	CHECK_STR(enc, "YWI=");
	CHECK_INT(pg_base64_encode("", 0, enc, sizeof(enc)), PG_OK);
	CHECK_STR(enc, "");
	CHECK_INT(pg_base64_encode("abcd", 4, enc, 8), PG_ENOMEM); /* needs 9 */
	CHECK_INT(pg_base64_encode("abcd", 4, enc, 9), PG_OK);
	CHECK_STR(enc, "YWJjZA==");

	CHECK_INT(pg_base64_decode(S("L2dvdmVyc2Uvbm9kZXMvYQ=="), out, sizeof(out), &n), PG_OK);
	CHECK_INT(n, 16);
	CHECK(memcmp(out, "/goverse/nodes/a", 16) == 0);
	CHECK_INT(pg_base64_decode(S("+/+/"), out, sizeof(out), &n), PG_OK);
	CHECK_INT(n, 3);
	CHECK_INT(pg_base64_decode(S(""), out, sizeof(out), &n), PG_OK);
	CHECK_INT(n, 0);
	/* Malformed: length, alphabet (URL-safe is not etcd's), padding, trailing bits. */
	CHECK_INT(pg_base64_decode(S("YWI"), out, sizeof(out), &n), PG_EPROTO);
	CHECK_INT(pg_base64_decode(S("YW-_"), out, sizeof(out), &n), PG_EPROTO);
	CHECK_INT(pg_base64_decode(S("Y==="), out, sizeof(out), &n), PG_EPROTO);
	CHECK_INT(pg_base64_decode(S("YW=I"), out, sizeof(out), &n), PG_EPROTO);
	CHECK_INT(pg_base64_decode(S("YQ==YQ=="), out, sizeof(out), &n), PG_EPROTO);
	CHECK_INT(pg_base64_decode(S("YR=="), out, sizeof(out), &n), PG_EPROTO);
	CHECK_INT(pg_base64_decode(S("YWJ="), out, sizeof(out), &n), PG_EPROTO);
	CHECK_INT(pg_base64_decode(S("YW I"), out, sizeof(out), &n), PG_EPROTO);
	CHECK_INT(pg_base64_decode(S("YWJjZA=="), out, 3, &n), PG_ENOMEM);
}

static void test_prefix_end(void)
{
	char out[16];
	size_t n = 0;

	CHECK_INT(pg_etcd_prefix_end(S("/goverse/nodes/"), out, sizeof(out), &n), PG_OK);
	CHECK_STR(out, "/goverse/nodes0");
	CHECK_INT(n, 15);
	CHECK_INT(pg_etcd_prefix_end("a\xff\xff", 3, out, sizeof(out), &n), PG_OK);
	CHECK_STR(out, "b");
	CHECK_INT(pg_etcd_prefix_end("\xff", 1, out, sizeof(out), &n), PG_OK);
	CHECK_INT(n, 1);
	CHECK_INT(out[0], 0);
	CHECK_INT(pg_etcd_prefix_end(S("abc"), out, 3, &n), PG_ENOMEM);
}

static void test_errors(void)
{
	int64_t id = 0, ttl = 0;
	struct pg_etcd_range r;
	struct pg_etcd_watch_resp w;

	/* Unary error object: code 5 is NOT_FOUND. */
	CHECK_INT(pg_etcd_parse_keepalive(S("{\"error\":\"etcdserver: requested lease not found\","
					    "\"message\":\"etcdserver: requested lease not found\",\"code\":5}"),
					  &ttl),
		  PG_ENOTFOUND);
	CHECK_CONTAINS(pg_errmsg(), "requested lease not found");
	CHECK_INT(pg_etcd_parse_header(S("{\"error\":\"invalid character\",\"code\":3}"), NULL), PG_EPROTO);
	CHECK_CONTAINS(pg_errmsg(), "etcd error 3: invalid character");
	CHECK_INT(pg_etcd_parse_header(S("{\"error\":7}"), NULL), PG_EPROTO);
	/* Stream error object. */
	CHECK_INT(pg_etcd_parse_watch(S("{\"error\":{\"grpc_code\":14,\"http_code\":503,"
					"\"message\":\"etcdserver: no leader\",\"http_status\":\"Service Unavailable\"}}"),
				      &w),
		  PG_EPROTO);
	CHECK_CONTAINS(pg_errmsg(), "no leader");
	CHECK_INT(pg_etcd_parse_range(S("{\"error\":{\"grpc_code\":\"5\",\"message\":\"gone\"}}"), &r), PG_ENOTFOUND);
	CHECK(r.kvs == NULL && r.n == 0);
	/* Not JSON / not an object / truncated / trailing garbage. */
	CHECK_INT(pg_etcd_parse_grant(S(""), &id, &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_grant(S("[]"), &id, &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_grant(S("\"x\""), &id, &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_grant(S("{\"ID\":\"75878991557604"), &id, &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_grant(S("{\"ID\":\"1\",\"TTL\":\"15\"} {}"), &id, &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_grant(S("<html>502 Bad Gateway</html>"), &id, &ttl), PG_EPROTO);
}

static void test_grant_keepalive(void)
{
	int64_t id = 0, ttl = 0;

	CHECK_INT(pg_etcd_parse_grant(S("{\"header\":{\"cluster_id\":\"14841639068965178418\",\"member_id\":"
					"\"10276657743932975437\",\"revision\":\"1\",\"raft_term\":\"2\"},"
					"\"ID\":\"7587899155760402949\",\"TTL\":\"15\"}"),
				      &id, &ttl),
		  PG_OK);
	CHECK(id == 7587899155760402949LL);
	CHECK_INT(ttl, 15);
	/* int64 as JSON numbers are accepted too. */
	CHECK_INT(pg_etcd_parse_grant(S("{\"ID\":42,\"TTL\":5}"), &id, &ttl), PG_OK);
	CHECK_INT(id, 42);
	/* Missing ID or TTL, wrong types, out of range. */
	CHECK_INT(pg_etcd_parse_grant(S("{\"TTL\":\"15\"}"), &id, &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_grant(S("{\"ID\":\"1\"}"), &id, &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_grant(S("{\"ID\":\"1\",\"TTL\":\"-3\"}"), &id, &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_grant(S("{\"ID\":true,\"TTL\":\"15\"}"), &id, &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_grant(S("{\"ID\":\"1x\",\"TTL\":\"15\"}"), &id, &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_grant(S("{\"ID\":\"99999999999999999999\",\"TTL\":\"15\"}"), &id, &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_grant(S("{\"ID\":1.5,\"TTL\":\"15\"}"), &id, &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_grant(S("{\"ID\":\"1\",\"TTL\":\"15\",\"header\":[]}"), &id, &ttl), PG_OK);

	CHECK_INT(pg_etcd_parse_keepalive(S("{\"result\":{\"header\":{\"revision\":\"1\"},"
					    "\"ID\":\"7587899155760402949\",\"TTL\":\"15\"}}"),
					  &ttl),
		  PG_OK);
	CHECK_INT(ttl, 15);
	/* etcd omits TTL (= 0) for an unknown lease. */
	CHECK_INT(pg_etcd_parse_keepalive(S("{\"result\":{\"header\":{\"revision\":\"1\"},\"ID\":\"123\"}}"), &ttl),
		  PG_OK);
	CHECK_INT(ttl, 0);
	CHECK_INT(pg_etcd_parse_keepalive(S("{\"ID\":\"1\",\"TTL\":\"15\"}"), &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_keepalive(S("{\"result\":null}"), &ttl), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_keepalive(S("{\"result\":{\"TTL\":{}}}"), &ttl), PG_EPROTO);
}

static void test_range(void)
{
	struct pg_etcd_range r;
	int64_t d = -1, rev = 0;

	CHECK_INT(pg_etcd_parse_range(S("{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":"
					"\"L2dvdmVyc2Uvbm9kZXMvYQ==\",\"create_revision\":\"2\",\"mod_revision\":\"2\","
					"\"version\":\"1\",\"value\":\"YQ==\",\"lease\":\"7587899155760402949\"},"
					"{\"key\":\"Yg==\"}],\"count\":\"2\"}"),
				      &r),
		  PG_OK);
	CHECK_INT(r.revision, 2);
	CHECK_INT(r.n, 2);
	if (r.n == 2) {
		CHECK_STR(r.kvs[0].key, "/goverse/nodes/a");
		CHECK_INT(r.kvs[0].key_len, 16);
		CHECK_STR(r.kvs[0].value, "a");
		CHECK(r.kvs[0].lease == 7587899155760402949LL);
		CHECK_INT(r.kvs[0].version, 1);
		/* Omitted value = empty. */
		CHECK_STR(r.kvs[1].key, "b");
		CHECK_STR(r.kvs[1].value, "");
		CHECK_INT(r.kvs[1].lease, 0);
	}
	pg_etcd_range_clear(&r);
	CHECK(r.kvs == NULL && r.n == 0);
	pg_etcd_range_clear(&r);
	pg_etcd_range_clear(NULL);
	/* No kvs = nothing found. */
	CHECK_INT(pg_etcd_parse_range(S("{\"header\":{\"revision\":\"2\"}}"), &r), PG_OK);
	CHECK_INT(r.n, 0);
	/* Malformed members leave nothing behind (ASan checks the frees). */
	CHECK_INT(pg_etcd_parse_range(S("{\"kvs\":{}}"), &r), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_range(S("{\"kvs\":[{\"key\":\"YQ==\"},{\"value\":\"YQ==\"}]}"), &r), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_range(S("{\"kvs\":[{\"key\":\"YQ==\"},{\"key\":\"!!!!\"}]}"), &r), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_range(S("{\"kvs\":[{\"key\":\"YQ==\",\"value\":5}]}"), &r), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_range(S("{\"kvs\":[{\"key\":\"YQ==\",\"lease\":\"x\"}]}"), &r), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_range(S("{\"kvs\":[1]}"), &r), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_range(S("{\"header\":\"x\"}"), &r), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_range(S("{\"header\":{\"revision\":\"1\"},\"kvs\":["), &r), PG_EPROTO);
	CHECK(r.kvs == NULL && r.n == 0);

	CHECK_INT(pg_etcd_parse_delete(S("{\"header\":{\"revision\":\"3\"},\"deleted\":\"1\"}"), &d), PG_OK);
	CHECK_INT(d, 1);
	CHECK_INT(pg_etcd_parse_delete(S("{\"header\":{\"revision\":\"3\"}}"), &d), PG_OK);
	CHECK_INT(d, 0);
	CHECK_INT(pg_etcd_parse_header(S("{\"header\":{\"revision\":\"9\"}}"), &rev), PG_OK);
	CHECK_INT(rev, 9);
	CHECK_INT(pg_etcd_parse_header(S("{\"header\":{\"revision\":false}}"), &rev), PG_EPROTO);
}

/* A reply larger than the JSON reader's default 1 MiB still parses. */
static void test_large_range(void)
{
	struct pg_buf b;
	struct pg_etcd_range r;
	int rc = PG_OK;

	pg_buf_init(&b, 4u << 20);
	rc = pg_buf_puts(&b, "{\"header\":{\"revision\":\"9\"},\"kvs\":[");
	for (int i = 0; i < 10000 && rc == PG_OK; i++)
		rc = pg_buf_printf(&b, "%s{\"key\":\"L2dvdmVyc2Uvbm9kZXMvYQ==\",\"create_revision\":\"2\","
				   "\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"YQ==\","
				   "\"lease\":\"7587899155760402949\"}",
				   i ? "," : "");
	if (rc == PG_OK)
		rc = pg_buf_puts(&b, "]}");
	CHECK_INT(rc, PG_OK);
	CHECK(b.len > (1u << 20));
	CHECK_INT(pg_etcd_parse_range(b.data, b.len, &r), PG_OK);
	CHECK_INT(r.n, 10000);
	pg_etcd_range_clear(&r);
	pg_buf_free(&b);
}

static void test_watch(void)
{
	struct pg_etcd_watch_resp w;

	CHECK_INT(pg_etcd_parse_watch(S("{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":true}}"), &w), PG_OK);
	CHECK(w.created && !w.canceled);
	CHECK_INT(w.n_events, 0);
	pg_etcd_watch_resp_clear(&w);

	CHECK_INT(pg_etcd_parse_watch(S("{\"result\":{\"header\":{\"revision\":\"3\"},\"events\":["
					"{\"kv\":{\"key\":\"L2dvdmVyc2Uvbm9kZXMvYQ==\",\"create_revision\":\"2\","
					"\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"YQ==\",\"lease\":\"5\"}},"
					"{\"type\":\"DELETE\",\"kv\":{\"key\":\"L2dvdmVyc2Uvbm9kZXMvYQ==\","
					"\"mod_revision\":\"3\"}},{\"type\":1,\"kv\":{\"key\":\"YQ==\"}}]}}"),
				      &w),
		  PG_OK);
	CHECK_INT(w.revision, 3);
	CHECK_INT(w.n_events, 3);
	if (w.n_events == 3) {
		CHECK_INT(w.events[0].type, PG_ETCD_PUT);
		CHECK_STR(w.events[0].kv.value, "a");
		CHECK_INT(w.events[0].kv.lease, 5);
		CHECK_INT(w.events[1].type, PG_ETCD_DELETE);
		CHECK_STR(w.events[1].kv.key, "/goverse/nodes/a");
		CHECK_INT(w.events[2].type, PG_ETCD_DELETE);
	}
	pg_etcd_watch_resp_clear(&w);
	CHECK(w.events == NULL);

	CHECK_INT(pg_etcd_parse_watch(S("{\"result\":{\"canceled\":true,\"compact_revision\":\"7\","
					"\"cancel_reason\":\"mvcc: required revision has been compacted\"}}"),
				      &w),
		  PG_OK);
	CHECK(w.canceled);
	CHECK_INT(w.compact_revision, 7);
	CHECK_CONTAINS(w.cancel_reason, "compacted");
	pg_etcd_watch_resp_clear(&w);

	CHECK_INT(pg_etcd_parse_watch(S("{\"header\":{}}"), &w), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_watch(S("{\"result\":{\"events\":[{\"type\":\"WAT\",\"kv\":{\"key\":\"YQ==\"}}]}}"), &w),
		  PG_EPROTO);
	CHECK_INT(pg_etcd_parse_watch(S("{\"result\":{\"events\":[{\"type\":2,\"kv\":{\"key\":\"YQ==\"}}]}}"), &w),
		  PG_EPROTO);
	CHECK_INT(pg_etcd_parse_watch(S("{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\"}},{\"type\":\"PUT\"}]}}"), &w),
		  PG_EPROTO);
	CHECK_INT(pg_etcd_parse_watch(S("{\"result\":{\"events\":[7]}}"), &w), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_watch(S("{\"result\":{\"events\":\"x\"}}"), &w), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_watch(S("{\"result\":{\"created\":\"true\"}}"), &w), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_watch(S("{\"result\":{\"watch_id\":[]}}"), &w), PG_EPROTO);
	CHECK_INT(pg_etcd_parse_watch(S("{\"result\":{\"created\":true}}\n{\"result\":{}}"), &w), PG_EPROTO);
	CHECK(w.events == NULL && w.n_events == 0);
}

static void test_client_opts(void)
{
	const char *eps[] = {"127.0.0.1:2379", "https://h:1/"};
	const char *bad_scheme[] = {"unix:///x"};
	const char *empty[] = {""};
	struct pg_etcd_opts o = {.endpoints = eps, .n_endpoints = 2};
	struct pg_etcd *c = NULL;

	CHECK_INT(pg_etcd_new(&o, &c), PG_OK);
	CHECK_STR(pg_etcd_endpoint(c), "http://127.0.0.1:2379");
	pg_etcd_free(&c);
	CHECK(c == NULL);
	pg_etcd_free(&c);
	o.ca_file = "/tmp/ca.pem";
	CHECK_INT(pg_etcd_new(&o, &c), PG_OK);
	CHECK_STR(pg_etcd_endpoint(c), "https://127.0.0.1:2379");
	pg_etcd_free(&c);
	o.cert_file = "/tmp/c.pem"; /* without a key */
	CHECK_INT(pg_etcd_new(&o, &c), PG_EINVAL);
	CHECK(c == NULL);
	o = (struct pg_etcd_opts){.endpoints = bad_scheme, .n_endpoints = 1};
	CHECK_INT(pg_etcd_new(&o, &c), PG_EINVAL);
	o = (struct pg_etcd_opts){.endpoints = empty, .n_endpoints = 1};
	CHECK_INT(pg_etcd_new(&o, &c), PG_EINVAL);
	o = (struct pg_etcd_opts){.endpoints = eps, .n_endpoints = 0};
	CHECK_INT(pg_etcd_new(&o, &c), PG_EINVAL);
	CHECK_INT(pg_etcd_new(NULL, &c), PG_EINVAL);
}

/* Nothing listens on port 1 of loopback: every call fails fast (well inside
 * the 1 s connect timeout) with PG_ENET after trying each endpoint. */
static void test_client_unreachable(void)
{
	const char *eps[] = {"127.0.0.1:1", "127.0.0.1:1"};
	struct pg_etcd_opts o = {.endpoints = eps, .n_endpoints = 2};
	struct pg_etcd *c = NULL;
	int64_t id = 0, ttl = 0;

	CHECK_INT(pg_etcd_new(&o, &c), PG_OK);
	CHECK_INT(pg_etcd_lease_grant(c, 5, &id, &ttl), PG_ENET);
	CHECK_CONTAINS(pg_errmsg(), "127.0.0.1:1/v3/lease/grant");
	CHECK_INT(pg_etcd_put(c, "k", "v", 0), PG_ENET);
	pg_etcd_cancel(c);
	CHECK_INT(pg_etcd_lease_keepalive(c, 1, &ttl), PG_ENET);
	CHECK_CONTAINS(pg_errmsg(), "cancelled");
	/* Revoke ignores cancellation but still fails on the network. */
	CHECK_INT(pg_etcd_lease_revoke(c, 1, 500), PG_ENET);
	pg_etcd_free(&c);
}

int main(void)
{
	RUN(test_base64);
	RUN(test_prefix_end);
	RUN(test_errors);
	RUN(test_grant_keepalive);
	RUN(test_range);
	RUN(test_large_range);
	RUN(test_watch);
	RUN(test_client_opts);
	RUN(test_client_unreachable);
	TEST_END();
}
