/* The bounded JSON reader used for JOSE headers and array claims. */
#include <string.h>

#include "auth/jsonscan.h"
#include "tests/unit/test.h"

static int valid(const char *s)
{
	return pg_auth_json_validate(s, strlen(s)) == PG_OK;
}

static void test_validate(void)
{
	CHECK(valid("{}"));
	CHECK(valid(" {\"a\" : [1, -2.5e+3, true, false, null, \"x\\u0041\\n\"]} "));
	CHECK(valid("[]"));
	CHECK(valid("\"s\""));
	CHECK(!valid(""));
	CHECK(!valid("{"));
	CHECK(!valid("{\"a\":}"));
	CHECK(!valid("{\"a\":1,}"));
	CHECK(!valid("{a:1}"));
	CHECK(!valid("{\"a\":1} x"));
	CHECK(!valid("[01x]"));
	CHECK(!valid("[1.]"));
	CHECK(!valid("[\"\\x\"]"));
	CHECK(!valid("[\"\\u12\"]"));
	CHECK(!valid("[\"tab\there\"]")); /* raw control character */
	CHECK(!valid("[tru]"));
	/* Depth limit 16. */
	CHECK(valid("[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]"));
	CHECK(!valid("[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]"));
}

static void test_member(void)
{
	const char *v;
	size_t n;
	char buf[32];
	const char *h = "{\"typ\":\"JWT\", \"alg\" : \"RS256\",\"x\":{\"alg\":\"none\"}}";

	CHECK_INT(pg_auth_json_member(h, strlen(h), "alg", &v, &n), PG_OK);
	CHECK_INT(pg_auth_json_string(v, n, buf, sizeof(buf)), PG_OK);
	CHECK_STR(buf, "RS256");
	CHECK_INT(pg_auth_json_member(h, strlen(h), "kid", &v, &n), PG_ENOTFOUND);
	CHECK_INT(pg_auth_json_member("{}", 2, "alg", &v, &n), PG_ENOTFOUND);
	CHECK_INT(pg_auth_json_member("[]", 2, "alg", &v, &n), PG_EPROTO);
	CHECK_INT(pg_auth_json_member("{\"alg\":1,\"alg\":2}", 17, "alg", &v, &n), PG_EPROTO);
	/* The same name spelled with an escape is a duplicate too. */
	h = "{\"alg\":\"HS256\",\"\\u0061lg\":\"none\"}";
	CHECK_INT(pg_auth_json_member(h, strlen(h), "alg", &v, &n), PG_EPROTO);
	h = "{\"\\u0061lg\":\"none\"}";
	CHECK_INT(pg_auth_json_member(h, strlen(h), "alg", &v, &n), PG_EPROTO);
}

static void test_string(void)
{
	char buf[8];

	CHECK_INT(pg_auth_json_string("\"a\\\"b\\\\\"", 8, buf, sizeof(buf)), PG_OK);
	CHECK_STR(buf, "a\"b\\");
	CHECK_INT(pg_auth_json_string("\"\\u0041\"", 8, buf, sizeof(buf)), PG_OK);
	CHECK_STR(buf, "A");
	CHECK_INT(pg_auth_json_string("\"\\u00e9\"", 8, buf, sizeof(buf)), PG_EUNSUP);
	CHECK_INT(pg_auth_json_string("\"\\u0000\"", 8, buf, sizeof(buf)), PG_EUNSUP);
	CHECK_INT(pg_auth_json_string("\"12345678\"", 10, buf, sizeof(buf)), PG_ENOMEM);
	CHECK_INT(pg_auth_json_string("\"1234567\"", 9, buf, sizeof(buf)), PG_OK);
	CHECK_INT(pg_auth_json_string("42", 2, buf, sizeof(buf)), PG_EPROTO);
	CHECK_INT(pg_auth_json_string("\"ab", 3, buf, sizeof(buf)), PG_EPROTO);
	CHECK_INT(pg_auth_json_string("\"a\"b\"", 5, buf, sizeof(buf)), PG_EPROTO);
}

static void test_array(void)
{
	const char *a = " [ \"x\" , {\"k\":[1,2]}, 3 ] ", *e;
	size_t pos = 0, n, count = 0;

	while (pg_auth_json_array_next(a, strlen(a), &pos, &e, &n) == PG_OK)
		count++;
	CHECK_INT(count, 3);
	pos = 0;
	CHECK_INT(pg_auth_json_array_next("[]", 2, &pos, &e, &n), PG_ENOTFOUND);
	pos = 0;
	CHECK_INT(pg_auth_json_array_next("{}", 2, &pos, &e, &n), PG_EPROTO);
	pos = 0;
	CHECK_INT(pg_auth_json_array_next("[1,", 3, &pos, &e, &n), PG_EPROTO);
	pos = 0;
	CHECK_INT(pg_auth_json_array_next("[\"only\"]", 8, &pos, &e, &n), PG_OK);
	CHECK_INT(n, 6);
	CHECK_INT(pg_auth_json_array_next("[\"only\"]", 8, &pos, &e, &n), PG_ENOTFOUND);
}

int main(void)
{
	RUN(test_validate);
	RUN(test_member);
	RUN(test_string);
	RUN(test_array);
	TEST_END();
}
