/* Admin API request decoding (src/admin/request.h): the three methods, and
 * every malformed or out-of-bounds request refused with a sentence. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/admin.pb-c.h"
#include "src/admin/request.h"
#include "tests/unit/test.h"

#define MAX_MS (3600 * 1000LL)
#define OPEN PG_ADMIN_METHOD_PREFIX "OpenWindow"

static int decode_open(const Pprofgate__Admin__V1__OpenWindowRequest *q, struct pg_admin_request *out)
{
	uint8_t buf[4096];
	size_t n = pprofgate__admin__v1__open_window_request__get_packed_size(q);

	CHECK(n <= sizeof(buf));
	pprofgate__admin__v1__open_window_request__pack(q, buf);
	return pg_admin_request_decode(OPEN, strlen(OPEN), buf, n, MAX_MS, out);
}

static void test_open(void)
{
	Pprofgate__Admin__V1__OpenWindowRequest q = PPROFGATE__ADMIN__V1__OPEN_WINDOW_REQUEST__INIT;
	char *profs[] = {"heap", "profile"};
	struct pg_admin_request r;

	q.duration_seconds = 900;
	q.reason = "incident 42";
	q.profiles = profs;
	q.n_profiles = 2;
	q.cluster = true;
	CHECK_INT(decode_open(&q, &r), PG_OK);
	CHECK_INT(r.method, PG_ADMIN_OPEN);
	CHECK_INT(r.duration_ms, 900000);
	CHECK_STR(r.reason, "incident 42");
	CHECK_INT(r.n_profiles, 2);
	CHECK_STR(r.profiles[1], "profile");
	CHECK(r.cluster);
}

static void test_open_refused(void)
{
	Pprofgate__Admin__V1__OpenWindowRequest q = PPROFGATE__ADMIN__V1__OPEN_WINDOW_REQUEST__INIT;
	char *bad[] = {"heap", "../etc"}, *many[PG_AUTH_WINDOW_MAX_PROFILES + 1];
	char longr[PG_AUTH_WINDOW_TEXT_MAX + 1];
	struct pg_admin_request r;

	q.reason = "r";
	q.duration_seconds = 0;
	CHECK_INT(decode_open(&q, &r), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "duration must be 1..3600 seconds");
	q.duration_seconds = 3601;
	CHECK_INT(decode_open(&q, &r), PG_EINVAL);
	q.duration_seconds = 60;
	q.reason = "";
	CHECK_INT(decode_open(&q, &r), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "a reason of 1..255 bytes");
	memset(longr, 'a', sizeof(longr) - 1);
	longr[sizeof(longr) - 1] = '\0';
	q.reason = longr;
	CHECK_INT(decode_open(&q, &r), PG_EINVAL);
	q.reason = "line\nbreak";
	CHECK_INT(decode_open(&q, &r), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "control characters");
	q.reason = "ok";
	q.profiles = bad;
	q.n_profiles = 2;
	CHECK_INT(decode_open(&q, &r), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "profile names");
	for (size_t i = 0; i < PG_AUTH_WINDOW_MAX_PROFILES + 1; i++)
		many[i] = "heap";
	q.profiles = many;
	q.n_profiles = PG_AUTH_WINDOW_MAX_PROFILES + 1;
	CHECK_INT(decode_open(&q, &r), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "at most 16 profiles");
	/* Truncated and garbage messages. */
	CHECK_INT(pg_admin_request_decode(OPEN, strlen(OPEN), (const uint8_t *)"\x12\x40" "abc", 5, MAX_MS, &r),
		  PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "malformed OpenWindowRequest");
}

static void test_other_methods(void)
{
	static const char close_m[] = PG_ADMIN_METHOD_PREFIX "CloseWindow", get_m[] = PG_ADMIN_METHOD_PREFIX "GetWindow";
	struct pg_admin_request r;

	CHECK_INT(pg_admin_request_decode(close_m, strlen(close_m), (const uint8_t *)"\x08\x01", 2, MAX_MS, &r), PG_OK);
	CHECK_INT(r.method, PG_ADMIN_CLOSE);
	CHECK(r.cluster);
	CHECK_INT(pg_admin_request_decode(close_m, strlen(close_m), (const uint8_t *)"", 0, MAX_MS, &r), PG_OK);
	CHECK(!r.cluster);
	CHECK_INT(pg_admin_request_decode(get_m, strlen(get_m), (const uint8_t *)"", 0, MAX_MS, &r), PG_OK);
	CHECK_INT(r.method, PG_ADMIN_GET);
	/* Method names are exact: no prefix match, no other service. */
	CHECK_INT(pg_admin_request_decode(get_m, strlen(get_m) - 1, (const uint8_t *)"", 0, MAX_MS, &r),
		  PG_ENOTFOUND);
	CHECK_INT(pg_admin_request_decode("/goverse.Goverse/Status", 23, (const uint8_t *)"", 0, MAX_MS, &r),
		  PG_ENOTFOUND);
	CHECK_INT(pg_admin_request_decode(NULL, 0, NULL, 0, MAX_MS, &r), PG_ENOTFOUND);
	CHECK(pg_auth_window_profile_name_ok("heap", 4));
	CHECK(!pg_auth_window_profile_name_ok("he/p", 4));
	CHECK(!pg_auth_window_profile_name_ok("", 0));
}

int main(void)
{
	RUN(test_open);
	RUN(test_open_refused);
	RUN(test_other_methods);
	TEST_END();
}
