/* The cluster-window record (src/cluster/window_record.h): parse, encode,
 * remaining time; hostile records are refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/cluster/window_record.h"
#include "tests/unit/test.h"

#define GOOD "{\"v\":1,\"opened_by\":\"cn:admin\",\"reason\":\"incident 42\",\"profiles\":[\"heap\",\"profile\"]," \
	     "\"duration_ms\":300000,\"deadline_unix_ms\":1795000000000}"

static int parse(const char *s, struct pg_window_record *r)
{
	return pg_window_record_parse(s, strlen(s), r);
}

static void test_parse_good(void)
{
	struct pg_window_record r;

	CHECK_INT(parse(GOOD, &r), PG_OK);
	CHECK_STR(r.opened_by, "cn:admin");
	CHECK_STR(r.reason, "incident 42");
	CHECK_INT(r.n_profiles, 2);
	CHECK_STR(r.profiles[1], "profile");
	CHECK_INT(r.duration_ms, 300000);
	CHECK_INT(r.deadline_unix_ms, 1795000000000LL);
	/* int64 as strings (protobuf JSON style) and no profiles = all */
	CHECK_INT(parse("{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"duration_ms\":\"5000\","
			"\"deadline_unix_ms\":\"1\"}", &r), PG_OK);
	CHECK_INT(r.n_profiles, 0);
	CHECK_INT(r.duration_ms, 5000);
	CHECK_STR(r.id, "");
	CHECK_STR(r.approved_by, "");
	/* The optional window id and approver. */
	CHECK_INT(parse("{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"id\":\"Zk3-_q\",\"approved_by\":\"cn:op\","
			"\"duration_ms\":5000,\"deadline_unix_ms\":1}", &r), PG_OK);
	CHECK_STR(r.id, "Zk3-_q");
	CHECK_STR(r.approved_by, "cn:op");
	CHECK_INT(parse("{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"id\":\"a/b\","
			"\"duration_ms\":5000,\"deadline_unix_ms\":1}", &r), PG_EPROTO);
	CHECK_INT(parse("{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"id\":\"\","
			"\"duration_ms\":5000,\"deadline_unix_ms\":1}", &r), PG_EPROTO);
	CHECK_INT(parse("{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"approved_by\":7,"
			"\"duration_ms\":5000,\"deadline_unix_ms\":1}", &r), PG_EPROTO);
}

static void test_parse_bad(void)
{
	static const char *const bad[] = {
		"",
		"null",
		"[]",
		"{}",
		"{\"v\":2,\"opened_by\":\"a\",\"reason\":\"b\",\"duration_ms\":1,\"deadline_unix_ms\":1}",
		"{\"v\":1,\"opened_by\":\"\",\"reason\":\"b\",\"duration_ms\":1,\"deadline_unix_ms\":1}",
		"{\"v\":1,\"opened_by\":\"a\",\"duration_ms\":1,\"deadline_unix_ms\":1}",
		"{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"duration_ms\":0,\"deadline_unix_ms\":1}",
		"{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"duration_ms\":-5,\"deadline_unix_ms\":1}",
		"{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"duration_ms\":1.5,\"deadline_unix_ms\":1}",
		"{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"duration_ms\":604800001,\"deadline_unix_ms\":1}",
		"{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"duration_ms\":1,\"deadline_unix_ms\":0}",
		"{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"duration_ms\":1}",
		"{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"duration_ms\":1,\"deadline_unix_ms\":1,\"profiles\":\"heap\"}",
		"{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"duration_ms\":1,\"deadline_unix_ms\":1,\"profiles\":[\"../x\"]}",
		"{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"duration_ms\":1,\"deadline_unix_ms\":1,\"profiles\":[1]}",
		"{\"v\":1,\"opened_by\":\"a\\u0000b\",\"reason\":\"b\",\"duration_ms\":1,\"deadline_unix_ms\":1}",
		"{\"v\":1,\"opened_by\":5,\"reason\":\"b\",\"duration_ms\":1,\"deadline_unix_ms\":1}",
		"{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"duration_ms\":1,\"deadline_unix_ms\":1} x",
	};
	struct pg_window_record r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], &r);
		if (rc != PG_EPROTO)
			fprintf(stderr, "case %zu accepted: %s\n", i, bad[i]);
		CHECK_INT(rc, PG_EPROTO);
		CHECK_STR(r.opened_by, ""); /* cleared on failure */
	}
}

static void test_parse_limits(void)
{
	struct pg_window_record r;
	char *big = malloc(PG_WINDOW_RECORD_MAX + 64), reason[400];
	char profs[600] = "";

	/* a reason longer than the window keeps is refused, not truncated */
	memset(reason, 'r', 300);
	reason[300] = '\0';
	snprintf(big, PG_WINDOW_RECORD_MAX + 64, "{\"v\":1,\"opened_by\":\"a\",\"reason\":\"%s\",\"duration_ms\":1,"
		 "\"deadline_unix_ms\":1}", reason);
	CHECK_INT(parse(big, &r), PG_EPROTO);
	/* 17 profiles */
	for (int i = 0; i < 17; i++)
		strcat(profs, i ? ",\"p\"" : "\"p\"");
	snprintf(big, PG_WINDOW_RECORD_MAX + 64, "{\"v\":1,\"opened_by\":\"a\",\"reason\":\"b\",\"duration_ms\":1,"
		 "\"deadline_unix_ms\":1,\"profiles\":[%s]}", profs);
	CHECK_INT(parse(big, &r), PG_EPROTO);
	memset(big, ' ', PG_WINDOW_RECORD_MAX + 1);
	CHECK_INT(pg_window_record_parse(big, PG_WINDOW_RECORD_MAX + 1, &r), PG_EPROTO);
	free(big);
}

static void test_roundtrip_and_remaining(void)
{
	struct pg_window_record a, b;
	char *s = NULL;

	memset(&a, 0, sizeof(a));
	snprintf(a.opened_by, sizeof(a.opened_by), "uri:spiffe://pprofgate.local/admin");
	snprintf(a.reason, sizeof(a.reason), "quote \" backslash \\ newline \n");
	snprintf(a.profiles[a.n_profiles++], 32, "heap");
	a.duration_ms = 60000;
	a.deadline_unix_ms = 1000000;
	CHECK_INT(pg_window_record_encode(&a, &s), PG_OK);
	CHECK(s != NULL);
	CHECK_INT(pg_window_record_parse(s, strlen(s), &b), PG_OK);
	CHECK_STR(b.reason, a.reason);
	CHECK_STR(b.opened_by, a.opened_by);
	CHECK_INT(b.n_profiles, 1);
	CHECK_STR(b.id, "");
	free(s);
	snprintf(a.id, sizeof(a.id), "w1");
	snprintf(a.approved_by, sizeof(a.approved_by), "cn:operator");
	CHECK_INT(pg_window_record_encode(&a, &s), PG_OK);
	CHECK_INT(pg_window_record_parse(s, strlen(s), &b), PG_OK);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	free(s);
	/* min(deadline - now, duration, max) */
	CHECK_INT(pg_window_record_remaining_ms(&a, 990000, 3600000), 10000);
	CHECK_INT(pg_window_record_remaining_ms(&a, 0, 3600000), 60000); /* clock behind: duration */
	CHECK_INT(pg_window_record_remaining_ms(&a, 0, 5000), 5000);
	CHECK(pg_window_record_remaining_ms(&a, 1000000, 3600000) <= 0);
	CHECK(pg_window_record_remaining_ms(&a, 2000000, 3600000) <= 0);
}

int main(void)
{
	RUN(test_parse_good);
	RUN(test_parse_bad);
	RUN(test_parse_limits);
	RUN(test_roundtrip_and_remaining);
	TEST_END();
}
