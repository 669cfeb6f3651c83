/* pprofgatectl's argument helpers. src/cli/ is not in pg_core (it is the
 * CLI's own code), so the pure helpers are compiled into this test directly. */
#include <stdint.h>
#include <string.h>

#include "src/cli/args.c"
#include "tests/unit/test.h"

static void test_duration_ok(void)
{
	int64_t ms = 0;

	CHECK_INT(pg_cli_parse_duration("15m", &ms), 0);
	CHECK_INT(ms, 900000);
	CHECK_INT(pg_cli_parse_duration("5s", &ms), 0);
	CHECK_INT(ms, 5000);
	CHECK_INT(pg_cli_parse_duration("1h30m", &ms), 0);
	CHECK_INT(ms, 5400000);
	CHECK_INT(pg_cli_parse_duration("90", &ms), 0);
	CHECK_INT(ms, 90000);
	CHECK_INT(pg_cli_parse_duration("500ms", &ms), 0);
	CHECK_INT(ms, 500);
	CHECK_INT(pg_cli_parse_duration("1m1s", &ms), 0);
	CHECK_INT(ms, 61000);
	CHECK_INT(pg_cli_parse_duration("8784h", &ms), 0); /* 366 days, the bound */
}

static void test_duration_bad(void)
{
	static const char *const bad[] = {"", "m", "15", "15x", "-5s", "+5s", "1.5h", "5 s", "0", "0s",
					  "1h 2m", "15mm", "8785h", "99999999999999999999s", "1d",
					  "s5", "5sm", "10m5"};
	int64_t ms = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (strcmp(bad[i], "15") == 0)
			continue; /* a bare number is seconds: valid, listed to keep the table honest */
		if (pg_cli_parse_duration(bad[i], &ms) != -1)
			fprintf(stderr, "accepted bad duration \"%s\"\n", bad[i]);
		CHECK_INT(pg_cli_parse_duration(bad[i], &ms), -1);
	}
	CHECK_INT(ms, 42); /* untouched on failure */
	CHECK_INT(pg_cli_parse_duration(NULL, &ms), -1);
}

static void test_profiles(void)
{
	char out[16][32];
	size_t n = 0;
	char many[200] = "";

	CHECK_INT(pg_cli_split_profiles("heap,profile", out, 16, &n), 0);
	CHECK_INT(n, 2);
	CHECK_STR(out[0], "heap");
	CHECK_STR(out[1], "profile");
	CHECK_INT(pg_cli_split_profiles("heap", out, 16, &n), 0);
	CHECK_INT(n, 1);
	CHECK_INT(pg_cli_split_profiles("", out, 16, &n), -1);
	CHECK_INT(pg_cli_split_profiles("heap,", out, 16, &n), -1);
	CHECK_INT(pg_cli_split_profiles(",heap", out, 16, &n), -1);
	CHECK_INT(pg_cli_split_profiles("heap,,cpu", out, 16, &n), -1);
	CHECK_INT(pg_cli_split_profiles("he ap", out, 16, &n), -1);
	CHECK_INT(pg_cli_split_profiles("../x", out, 16, &n), -1);
	CHECK_INT(pg_cli_split_profiles("abcdefghijabcdefghijabcdefghijab", out, 16, &n), -1); /* 32 chars */
	for (int i = 0; i < 17; i++)
		strcat(many, i ? ",a" : "a");
	CHECK_INT(pg_cli_split_profiles(many, out, 16, &n), -1);
}

static void test_flag(void)
{
	char *argv[] = {"x", "--for", "15m", "--reason=why", "--forx", "1", "--cluster", "--for"};
	int argc = 8, i;
	const char *v = NULL;

	i = 1;
	CHECK_INT(pg_cli_flag(argc, argv, &i, "--for", &v), 1);
	CHECK_STR(v, "15m");
	CHECK_INT(i, 2);
	i = 3;
	CHECK_INT(pg_cli_flag(argc, argv, &i, "--reason", &v), 1);
	CHECK_STR(v, "why");
	CHECK_INT(i, 3);
	i = 4; /* a longer flag with the same prefix is not --for */
	CHECK_INT(pg_cli_flag(argc, argv, &i, "--for", &v), 0);
	i = 6;
	CHECK_INT(pg_cli_flag(argc, argv, &i, "--for", &v), 0);
	i = 7; /* the last argument, its value missing */
	CHECK_INT(pg_cli_flag(argc, argv, &i, "--for", &v), -1);
}

static void test_endpoint_and_format(void)
{
	char b[32];

	CHECK(pg_cli_endpoint_ok("localhost:47001"));
	CHECK(pg_cli_endpoint_ok("127.0.0.1:1"));
	CHECK(pg_cli_endpoint_ok("https://node1:9090"));
	CHECK(!pg_cli_endpoint_ok("localhost"));
	CHECK(!pg_cli_endpoint_ok("localhost:"));
	CHECK(!pg_cli_endpoint_ok(":47001"));
	CHECK(!pg_cli_endpoint_ok("host:4700x"));
	CHECK(!pg_cli_endpoint_ok("host:123456"));
	CHECK(!pg_cli_endpoint_ok("ho st:1"));
	CHECK(!pg_cli_endpoint_ok("https://"));
	CHECK(!pg_cli_endpoint_ok(""));
	pg_cli_format_secs(42, b, sizeof(b));
	CHECK_STR(b, "42s");
	pg_cli_format_secs(65, b, sizeof(b));
	CHECK_STR(b, "1m05s");
	pg_cli_format_secs(3725, b, sizeof(b));
	CHECK_STR(b, "1h02m05s");
	pg_cli_format_secs(-3, b, sizeof(b));
	CHECK_STR(b, "0s");
}

int main(void)
{
	RUN(test_duration_ok);
	RUN(test_duration_bad);
	RUN(test_profiles);
	RUN(test_flag);
	RUN(test_endpoint_and_format);
	TEST_END();
}
