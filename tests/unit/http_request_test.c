/* The request-line and header checker (src/http/request.h): refusals first. */
#include <string.h>

#include "src/http/request.h"
#include "tests/unit/test.h"

#define F(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}

static const char *check(const char *m, size_t ml, const char *t, size_t tl, const struct pg_http_field *f,
			 size_t n)
{
	const struct pg_http_fault *fault = pg_http_request_check(m, ml, t, tl, f, n);

	return fault ? fault->reason : "ok";
}

#define CHECK_REQ(m, t, f, n, want) CHECK_STR(check(m, sizeof(m) - 1, t, sizeof(t) - 1, f, n), want)

static void test_nul_and_ctl_in_request_line(void)
{
	CHECK_REQ("GET", "/debug/pprof/cmdline\0.css", NULL, 0, "ctl_in_request_line");
	CHECK_REQ("GET", "/debug/pprof/heap\0", NULL, 0, "ctl_in_request_line");
	CHECK_REQ("GET", "\0/metrics", NULL, 0, "ctl_in_request_line");
	CHECK_REQ("GET", "/x?a=\x01", NULL, 0, "ctl_in_request_line");
	CHECK_REQ("GET", "/x\x7f", NULL, 0, "ctl_in_request_line");
	CHECK_REQ("GET", "/x\t", NULL, 0, "ctl_in_request_line");
	CHECK_REQ("GE\0T", "/x", NULL, 0, "ctl_in_request_line");
	CHECK_REQ("GET\r", "/x", NULL, 0, "ctl_in_request_line");
	CHECK_REQ("G(T", "/x", NULL, 0, "bad_method");
	CHECK_REQ("", "/x", NULL, 0, "bad_method");
}

static void test_header_name(void)
{
	struct pg_http_field nul[] = {F("Auth\0orization", "Bearer x")};
	struct pg_http_field sp[] = {F("Authorization ", "Bearer x")};
	struct pg_http_field empty[] = {F("", "x")};
	struct pg_http_field colon[] = {F("a:b", "x")};
	struct pg_http_field utf8[] = {F("X-\xc3\xa9", "x")};

	CHECK_REQ("GET", "/x", nul, 1, "ctl_in_header");
	CHECK_REQ("GET", "/x", sp, 1, "bad_header_name");
	CHECK_REQ("GET", "/x", empty, 1, "bad_header_name");
	CHECK_REQ("GET", "/x", colon, 1, "bad_header_name");
	CHECK_REQ("GET", "/x", utf8, 1, "bad_header_name");
}

static void test_header_value(void)
{
	struct pg_http_field nul[] = {F("Host", "x"), F("Authorization", "Bearer good\0junk")};
	struct pg_http_field trailing[] = {F("Authorization", "Bearer good\0")};
	struct pg_http_field cr[] = {F("X-A", "a\rb")};
	struct pg_http_field lf[] = {F("X-A", "a\nb")};
	struct pg_http_field del[] = {F("X-A", "a\x7f")};
	struct pg_http_field esc[] = {F("X-A", "\x1b[31m")};

	CHECK_REQ("GET", "/x", nul, 2, "ctl_in_header");
	CHECK_REQ("GET", "/x", trailing, 1, "ctl_in_header");
	CHECK_REQ("GET", "/x", cr, 1, "ctl_in_header");
	CHECK_REQ("GET", "/x", lf, 1, "ctl_in_header");
	CHECK_REQ("GET", "/x", del, 1, "ctl_in_header");
	CHECK_REQ("GET", "/x", esc, 1, "ctl_in_header");
}

static void test_repeated_fields(void)
{
	struct pg_http_field two[] = {F("Authorization", "Bearer a"), F("Host", "h"), F("authorization", "Bearer b")};
	struct pg_http_field same[] = {F("Authorization", "Bearer a"), F("AUTHORIZATION", "Bearer a")};
	struct pg_http_field host[] = {F("Host", "a"), F("host", "b")};
	struct pg_http_field clen[] = {F("Content-Length", "0"), F("Content-length", "5")};
	struct pg_http_field xff[] = {F("X-Forwarded-For", "1.2.3.4"), F("X-Forwarded-For", "5.6.7.8")};

	CHECK_REQ("GET", "/x", two, 3, "duplicate_authorization");
	CHECK_REQ("GET", "/x", same, 2, "duplicate_authorization");
	CHECK_REQ("GET", "/x", host, 2, "duplicate_header");
	CHECK_REQ("POST", "/x", clen, 2, "duplicate_header");
	/* List-valued fields may repeat (RFC 9110 section 5.3). */
	CHECK_REQ("GET", "/x", xff, 2, "ok");
}

static void test_bad_arguments(void)
{
	struct pg_http_field nulls[] = {{NULL, 3, "x", 1}};

	CHECK_STR(check(NULL, 3, "/x", 2, NULL, 0), "malformed_request");
	CHECK_STR(check("GET", 3, NULL, 2, NULL, 0), "malformed_request");
	CHECK_STR(check("GET", 3, "/x", 2, NULL, 1), "malformed_request");
	CHECK_STR(check("GET", 3, "/x", 2, nulls, 1), "malformed_request");
	CHECK(pg_http_request_check("GET", 3, "/\0", 2, NULL, 0)->message[0] != '\0');
}

static void test_accepts(void)
{
	struct pg_http_field ok[] = {F("Host", "example:9090"), F("Authorization", "Bearer a.b.c"),
				     F("User-Agent", "curl/7.88.1"), F("X-Tab", "a\tb"), F("X-Empty", ""),
				     F("X-Latin1", "caf\xe9"), F("Accept", "*/*")};

	CHECK_REQ("GET", "/debug/pprof/heap?debug=1", ok, 7, "ok");
	CHECK_REQ("GET", "/", NULL, 0, "ok");
	CHECK_REQ("M-SEARCH", "*", NULL, 0, "ok");
	CHECK(pg_http_request_check("GET", 3, "/x", 2, ok, 7) == NULL);
}

int main(void)
{
	RUN(test_nul_and_ctl_in_request_line);
	RUN(test_header_name);
	RUN(test_header_value);
	RUN(test_repeated_fields);
	RUN(test_bad_arguments);
	RUN(test_accepts);
	TEST_END();
}
