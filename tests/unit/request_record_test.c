/* The pending window request record (src/cluster/request_record.h): parse,
 * encode round trip; hostile records are refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cluster/request_record.h"
#include "tests/unit/test.h"

#define GOOD "{\"v\":1,\"id\":\"Zk3-_q\",\"requested_by\":\"cn:operator\"," \
	     "\"requester_cert\":\"uri:spiffe://pprofgate.local/operator\",\"reason\":\"INC-9\"," \
	     "\"profiles\":[\"heap\"],\"duration_ms\":900000,\"created_unix_ms\":1795000000000," \
	     "\"expires_unix_ms\":1795000600000}"

static int parse(const char *s, struct pg_request_record *r)
{
	return pg_request_record_parse(s, strlen(s), r);
}

static void test_parse_good(void)
{
	struct pg_request_record r;

	CHECK_INT(parse(GOOD, &r), PG_OK);
	CHECK_STR(r.id, "Zk3-_q");
	CHECK_STR(r.requested_by, "cn:operator");
	CHECK_STR(r.requester_cert, "uri:spiffe://pprofgate.local/operator");
	CHECK_STR(r.reason, "INC-9");
	CHECK_INT(r.n_profiles, 1);
	CHECK_STR(r.profiles[0], "heap");
	CHECK_INT(r.duration_ms, 900000);
	CHECK_INT(r.created_unix_ms, 1795000000000LL);
	CHECK_INT(r.expires_unix_ms, 1795000600000LL);
}

/* Each line replaces one member of GOOD (or the whole text). */
static void test_parse_bad(void)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"v\":2}",
		/* id: missing, empty, not url-safe, too long */
		"{\"v\":1,\"requested_by\":\"a\",\"requester_cert\":\"a\",\"reason\":\"r\",\"duration_ms\":1,"
		"\"created_unix_ms\":1,\"expires_unix_ms\":2}",
		"{\"v\":1,\"id\":\"\",\"requested_by\":\"a\",\"requester_cert\":\"a\",\"reason\":\"r\",\"duration_ms\":1,"
		"\"created_unix_ms\":1,\"expires_unix_ms\":2}",
		"{\"v\":1,\"id\":\"../k\",\"requested_by\":\"a\",\"requester_cert\":\"a\",\"reason\":\"r\",\"duration_ms\":1,"
		"\"created_unix_ms\":1,\"expires_unix_ms\":2}",
		"{\"v\":1,\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"requested_by\":\"a\","
		"\"requester_cert\":\"a\",\"reason\":\"r\",\"duration_ms\":1,\"created_unix_ms\":1,\"expires_unix_ms\":2}",
		/* texts: missing requester, control byte in the reason, NUL */
		"{\"v\":1,\"id\":\"i\",\"requester_cert\":\"a\",\"reason\":\"r\",\"duration_ms\":1,"
		"\"created_unix_ms\":1,\"expires_unix_ms\":2}",
		"{\"v\":1,\"id\":\"i\",\"requested_by\":\"a\",\"requester_cert\":\"a\",\"reason\":\"r\\n\",\"duration_ms\":1,"
		"\"created_unix_ms\":1,\"expires_unix_ms\":2}",
		"{\"v\":1,\"id\":\"i\",\"requested_by\":\"a\\u0000b\",\"requester_cert\":\"a\",\"reason\":\"r\",\"duration_ms\":1,"
		"\"created_unix_ms\":1,\"expires_unix_ms\":2}",
		/* numbers: duration 0, expiry not after creation, expiry beyond a day */
		"{\"v\":1,\"id\":\"i\",\"requested_by\":\"a\",\"requester_cert\":\"a\",\"reason\":\"r\",\"duration_ms\":0,"
		"\"created_unix_ms\":1,\"expires_unix_ms\":2}",
		"{\"v\":1,\"id\":\"i\",\"requested_by\":\"a\",\"requester_cert\":\"a\",\"reason\":\"r\",\"duration_ms\":1,"
		"\"created_unix_ms\":5,\"expires_unix_ms\":5}",
		"{\"v\":1,\"id\":\"i\",\"requested_by\":\"a\",\"requester_cert\":\"a\",\"reason\":\"r\",\"duration_ms\":1,"
		"\"created_unix_ms\":1,\"expires_unix_ms\":86400002}",
		/* profiles: a bad name */
		"{\"v\":1,\"id\":\"i\",\"requested_by\":\"a\",\"requester_cert\":\"a\",\"reason\":\"r\",\"profiles\":[\"../x\"],"
		"\"duration_ms\":1,\"created_unix_ms\":1,\"expires_unix_ms\":2}",
		/* a duplicate key */
		"{\"v\":1,\"id\":\"i\",\"id\":\"j\",\"requested_by\":\"a\",\"requester_cert\":\"a\",\"reason\":\"r\","
		"\"duration_ms\":1,\"created_unix_ms\":1,\"expires_unix_ms\":2}",
	};
	struct pg_request_record r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], &r);

		if (rc != PG_EPROTO)
			fprintf(stderr, "accepted bad record %zu: %s\n", i, bad[i]);
		CHECK_INT(rc, PG_EPROTO);
		CHECK_STR(r.id, ""); /* nothing half-filled */
	}
	CHECK_INT(parse("{\"v\":1,\"id\":\"i\",\"requested_by\":\"a\",\"requester_cert\":\"a\",\"reason\":\"r\","
			"\"duration_ms\":1,\"created_unix_ms\":1,\"expires_unix_ms\":86400001}", &r), PG_OK);
}

static void test_roundtrip(void)
{
	struct pg_request_record a, b;
	char *s = NULL;

	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), "Zk3-_q");
	snprintf(a.requested_by, sizeof(a.requested_by), "cn:admin");
	snprintf(a.requester_cert, sizeof(a.requester_cert), "uri:spiffe://pprofgate.local/admin");
	snprintf(a.reason, sizeof(a.reason), "quote \" backslash \\ and é");
	snprintf(a.profiles[a.n_profiles++], sizeof(a.profiles[0]), "heap");
	snprintf(a.profiles[a.n_profiles++], sizeof(a.profiles[0]), "profile");
	a.duration_ms = 60000;
	a.created_unix_ms = 1000;
	a.expires_unix_ms = 601000;
	CHECK_INT(pg_request_record_encode(&a, &s), PG_OK);
	CHECK(s != NULL);
	CHECK_INT(pg_request_record_parse(s, s ? strlen(s) : 0, &b), PG_OK);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	free(s);
}

int main(void)
{
	RUN(test_parse_good);
	RUN(test_parse_bad);
	RUN(test_roundtrip);
	TEST_END();
}
