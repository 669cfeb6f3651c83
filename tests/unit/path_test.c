/* Request-target validation: every non-canonical spelling is rejected. */
#include <string.h>

#include "src/http/path.h"
#include "tests/unit/test.h"

static int parse(const char *s, struct pg_http_target *t)
{
	return pg_http_target_parse(s, strlen(s), t);
}

static void test_accepts_canonical(void)
{
	static const char *const ok[] = {"/", "/metrics", "/healthz", "/debug/pprof/",
					 "/debug/pprof/heap", "/a-b_c~d.e", "/x/.../y", "/.well-known"};
	struct pg_http_target t;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_INT(parse(ok[i], &t), 0);
		CHECK_INT(t.path_len, strlen(ok[i]));
		CHECK(t.path == ok[i]);
		CHECK(t.query == NULL);
	}
}

static void test_splits_query(void)
{
	struct pg_http_target t;

	CHECK_INT(parse("/debug/pprof/profile?seconds=30&x=%2F", &t), 0);
	CHECK_INT(t.path_len, strlen("/debug/pprof/profile"));
	CHECK_INT(t.query_len, strlen("seconds=30&x=%2F"));
	CHECK(strncmp(t.query, "seconds=30&x=%2F", t.query_len) == 0);
	/* An empty query is still a query. */
	CHECK_INT(parse("/metrics?", &t), 0);
	CHECK(t.query != NULL);
	CHECK_INT(t.query_len, 0);
	/* Only the first '?' splits; '/' and '?' are legal in a query. */
	CHECK_INT(parse("/m?a=/../b?c", &t), 0);
	CHECK_INT(t.path_len, 2);
}

static void test_rejects_non_canonical(void)
{
	static const char *const bad[] = {
		"",		      "metrics",	    "*",		"http://h/metrics",
		"//metrics",	      "/metrics//",	    "/a//b",		"/.",
		"/..",		      "/./metrics",	    "/debug/../metrics", "/debug/pprof/..",
		"/debug/pprof/../../etc", "/%2e%2e/metrics", "/%2E",		"/debug%2fpprof",
		"/debug%2Fpprof",     "/metrics%00",	    "/metrics;x",	"/metrics;",
		"/metrics\\",	      "/debug\\pprof",	    "/metrics ",	"/me trics",
		"/metrics\t",	      "/metrics#",	    "/metrics#frag",	"/metrics?a#b",
		"/metrics?a b",	      "/m\xc3\xa9trics",    "/metrics?\x7f",	"/metrics?\xff",
		"/metrics\r\n",	      "/metrics%",	    "/%",		"/metrics+",
		"/metrics:",	      "/metrics@",	    "/metrics!",	"/./",
	};
	struct pg_http_target t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], &t);

		if (rc != 400)
			fprintf(stderr, "accepted or wrong code %d for \"%s\"\n", rc, bad[i]);
		CHECK_INT(rc, 400);
		CHECK(t.path == NULL);
	}
}

static void test_rejects_embedded_nul(void)
{
	static const char s[] = "/metrics\0/debug";
	struct pg_http_target t;

	CHECK_INT(pg_http_target_parse(s, sizeof(s) - 1, &t), 400);
	CHECK_INT(pg_http_target_parse(NULL, 0, &t), 400);
	CHECK_INT(pg_http_target_parse("/", 0, &t), 400);
}

static void test_bounds(void)
{
	char s[PG_HTTP_PATH_MAX + PG_HTTP_QUERY_MAX + 8];
	struct pg_http_target t;

	memset(s, 'a', sizeof(s));
	s[0] = '/';
	CHECK_INT(pg_http_target_parse(s, PG_HTTP_PATH_MAX, &t), 0);
	CHECK_INT(pg_http_target_parse(s, PG_HTTP_PATH_MAX + 1, &t), 414);
	s[10] = '?';
	CHECK_INT(pg_http_target_parse(s, 11 + PG_HTTP_QUERY_MAX, &t), 0);
	CHECK_INT(pg_http_target_parse(s, 12 + PG_HTTP_QUERY_MAX, &t), 414);
}

int main(void)
{
	RUN(test_accepts_canonical);
	RUN(test_splits_query);
	RUN(test_rejects_non_canonical);
	RUN(test_rejects_embedded_nul);
	RUN(test_bounds);
	TEST_END();
}
