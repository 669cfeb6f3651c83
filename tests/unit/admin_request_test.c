/* Admin API request decoding (src/admin/request.h): the three methods, and
 * every malformed or out-of-bounds request refused with a sentence. */
#include <stdint.h>
#include <stdio.h>
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

static int decode_decide(const char *method, const char *id, const char *reason, struct pg_admin_request *out)
{
	Pprofgate__Admin__V1__DecideWindowRequest q = PPROFGATE__ADMIN__V1__DECIDE_WINDOW_REQUEST__INIT;
	uint8_t buf[1024];
	size_t n;

	q.id = (char *)id;
	if (reason)
		q.reason = (char *)reason;
	n = pprofgate__admin__v1__decide_window_request__get_packed_size(&q);
	CHECK(n <= sizeof(buf));
	pprofgate__admin__v1__decide_window_request__pack(&q, buf);
	return pg_admin_request_decode(method, strlen(method), buf, n, MAX_MS, out);
}

/* RequestWindow is validated as OpenWindow; Approve/Deny need a well-formed
 * id; ListWindowRequests takes nothing. */
static void test_four_eyes_methods(void)
{
	static const char req_m[] = PG_ADMIN_METHOD_PREFIX "RequestWindow",
			  appr_m[] = PG_ADMIN_METHOD_PREFIX "ApproveWindow", deny_m[] = PG_ADMIN_METHOD_PREFIX "DenyWindow",
			  list_m[] = PG_ADMIN_METHOD_PREFIX "ListWindowRequests";
	Pprofgate__Admin__V1__OpenWindowRequest q = PPROFGATE__ADMIN__V1__OPEN_WINDOW_REQUEST__INIT;
	struct pg_admin_request r;
	uint8_t buf[512];
	size_t n;
	char long_id[70];

	q.duration_seconds = 60;
	q.reason = "INC-1";
	n = pprofgate__admin__v1__open_window_request__get_packed_size(&q);
	pprofgate__admin__v1__open_window_request__pack(&q, buf);
	CHECK_INT(pg_admin_request_decode(req_m, strlen(req_m), buf, n, MAX_MS, &r), PG_OK);
	CHECK_INT(r.method, PG_ADMIN_REQUEST);
	CHECK_INT(r.duration_ms, 60000);
	q.duration_seconds = 3601;
	n = pprofgate__admin__v1__open_window_request__get_packed_size(&q);
	pprofgate__admin__v1__open_window_request__pack(&q, buf);
	CHECK_INT(pg_admin_request_decode(req_m, strlen(req_m), buf, n, MAX_MS, &r), PG_EINVAL);
	CHECK_INT(decode_decide(appr_m, "Zk3-_q", NULL, &r), PG_OK);
	CHECK_INT(r.method, PG_ADMIN_APPROVE);
	CHECK_STR(r.id, "Zk3-_q");
	CHECK_INT(decode_decide(deny_m, "abc", "not now", &r), PG_OK);
	CHECK_INT(r.method, PG_ADMIN_DENY);
	CHECK_STR(r.reason, "not now");
	CHECK_INT(decode_decide(deny_m, "abc", "tab\there", &r), PG_EINVAL);
	CHECK_INT(decode_decide(appr_m, "", NULL, &r), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "a request id is 1..64 of [A-Za-z0-9_-]");
	CHECK_INT(decode_decide(appr_m, "../x", NULL, &r), PG_EINVAL);
	CHECK_INT(decode_decide(appr_m, "a b", NULL, &r), PG_EINVAL);
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	CHECK_INT(decode_decide(appr_m, long_id, NULL, &r), PG_EINVAL);
	CHECK_INT(pg_admin_request_decode(appr_m, strlen(appr_m), (const uint8_t *)"\x0a\x05" "ab", 4, MAX_MS, &r),
		  PG_EINVAL); /* truncated string */
	CHECK_INT(pg_admin_request_decode(list_m, strlen(list_m), (const uint8_t *)"", 0, MAX_MS, &r), PG_OK);
	CHECK_INT(r.method, PG_ADMIN_LIST);
}

/* The four-eyes rule: the requester can never approve, by entry or by
 * certificate identity; an expired request never opens. */
static void test_approval_rule(void)
{
	struct pg_request_record rec;

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.id, sizeof(rec.id), "abc");
	snprintf(rec.requested_by, sizeof(rec.requested_by), "cn:admin");
	snprintf(rec.requester_cert, sizeof(rec.requester_cert), "uri:spiffe://pprofgate.local/admin");
	rec.created_unix_ms = 1000;
	rec.expires_unix_ms = 2000;
	CHECK_INT(pg_admin_approval_check(&rec, "cn:operator", "uri:spiffe://pprofgate.local/operator", 1500),
		  PG_ADMIN_APPROVAL_OK);
	CHECK_INT(pg_admin_approval_check(&rec, "cn:admin", "uri:spiffe://pprofgate.local/admin", 1500),
		  PG_ADMIN_APPROVAL_SELF);
	/* Another certificate with the requester's name (same entry). */
	CHECK_INT(pg_admin_approval_check(&rec, "cn:admin", "uri:spiffe://other", 1500), PG_ADMIN_APPROVAL_SELF);
	/* The requester's certificate matching another entry. */
	CHECK_INT(pg_admin_approval_check(&rec, "uri:spiffe://pprofgate.local/admin",
					  "uri:spiffe://pprofgate.local/admin", 1500),
		  PG_ADMIN_APPROVAL_SELF);
	CHECK_INT(pg_admin_approval_check(&rec, "cn:operator", "cn:admin", 1500), PG_ADMIN_APPROVAL_SELF);
	/* Self wins over expired: the caller learns the rule, not the clock. */
	CHECK_INT(pg_admin_approval_check(&rec, "cn:admin", "cn:admin", 2500), PG_ADMIN_APPROVAL_SELF);
	CHECK_INT(pg_admin_approval_check(&rec, "cn:operator", "cn:operator", 2000), PG_ADMIN_APPROVAL_EXPIRED);
	CHECK_INT(pg_admin_approval_check(&rec, NULL, "cn:operator", 1500), PG_ADMIN_APPROVAL_SELF);
}

int main(void)
{
	RUN(test_open);
	RUN(test_open_refused);
	RUN(test_other_methods);
	RUN(test_four_eyes_methods);
	RUN(test_approval_rule);
	TEST_END();
}
