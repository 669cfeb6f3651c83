/* Unit tests for src/util/json: the strict reader (also as auth/jwt.c uses it
 * for JOSE headers) and the string writer. */
#include <stdlib.h>
#include <string.h>

#include "src/util/json.h"
#include "tests/unit/test.h"

static struct pg_json *parse_ok(const char *s)
{
	struct pg_json *d = NULL;
	int rc = pg_json_parse(s, strlen(s), NULL, &d);

	if (rc != PG_OK)
		fprintf(stderr, "unexpected failure for %s: %s\n", s, pg_errmsg());
	return d;
}

static int parse_rc(const char *s, size_t n)
{
	struct pg_json *d = (struct pg_json *)1;
	int rc = pg_json_parse(s, n, NULL, &d);

	if (rc != PG_OK && d != NULL)
		rc = 999; /* *out must be NULL on failure */
	pg_json_free(&d);
	return rc;
}

static void test_malformed(void)
{
	static const char *bad[] = {
		"", " ", "{", "}", "[", "]", "[1,]", "[,1]", "{\"a\":1,}", "{,}", "{\"a\"}",
		"{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":1 \"b\":2}", "[1 2]", "nul", "nulll",
		"truee", "True", "NaN", "Infinity", "-Infinity", "+1", "01", "-01", "1.", ".5",
		"1e", "1e+", "-", "--1", "0x10", "1.5.2", "\"abc", "\"\\\"", "\"\\x\"", "\"\\u12\"",
		"\"\\u12G4\"", "\"\\uD800\"", "\"\\uDC00\"", "\"\\uD800\\u0041\"", "\"\\uD800x\"",
		"\"\\uD800\\\"", "\"a\tb\"", "\"a\nb\"", "\"\x01\"", "\"\xff\"", "\"\xc0\xaf\"",
		"\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xc3\"",
		"\"\xe2\x82\"", "1 2", "{} {}", "[] x", "\"a\" \"b\"", "[1]]", "{\"a\":1}}",
		"/*c*/1", "[1,2", "{\"a\":", "{\"a\":[}", "\xef\xbb\xbf{}", "[\"a\",,\"b\"]",
		"[01x]", "[1.]", "[tru]", "[\"\\u12\"]",
		/* Numbers that do not fit make the text malformed. */
		"9223372036854775808", "-9223372036854775809", "1e400", "[1,-1e999]",
		/* Duplicate names, also spelled with an escape (RFC 7515 section 4). */
		"{\"alg\":1,\"alg\":2}", "{\"alg\":\"HS256\",\"\\u0061lg\":\"none\"}",
		"{\"a\":{\"b\":1,\"b\":1}}",
		/* A key with NUL could hide from a lookup by C string. */
		"{\"a\\u0000\":1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse_rc(bad[i], strlen(bad[i]));
		if (rc == PG_OK || rc == 999)
			fprintf(stderr, "accepted malformed #%zu: %s\n", i, bad[i]);
		CHECK(rc == PG_EPROTO || rc == PG_ENOMEM);
	}
	/* An embedded NUL outside a string is garbage. */
	CHECK_INT(parse_rc("[1]\0", 4), PG_EPROTO);
	CHECK_INT(parse_rc("\"a\0b\"", 5), PG_EPROTO);
	/* The error says where. */
	CHECK_INT(parse_rc("[1,x]", 5), PG_EPROTO);
	CHECK_CONTAINS(pg_errmsg(), "invalid token at byte 4");
	/* ... without echoing the peer's bytes. */
	CHECK_INT(parse_rc("[1,\"\x01secret\"]", 13), PG_EPROTO);
	CHECK(strstr(pg_errmsg(), "secret") == NULL);
	CHECK_INT(parse_rc("{\"a\":1,\"a\":2}", 13), PG_EPROTO);
	CHECK_CONTAINS(pg_errmsg(), "duplicate object key");
	CHECK_INT(pg_json_parse(NULL, 1, NULL, NULL), PG_EINVAL);
}

static void test_limits(void)
{
	struct pg_json_limits lim = {.max_depth = 3};
	struct pg_json *d = NULL;
	char deep[200];

	CHECK_INT(pg_json_parse("[[[1]]]", 7, &lim, &d), PG_OK);
	pg_json_free(&d);
	CHECK_INT(pg_json_parse("[[[[1]]]]", 9, &lim, &d), PG_ENOMEM);
	CHECK(d == NULL);
	/* Depth as auth/jwt.c reads JOSE headers: 16. */
	lim = (struct pg_json_limits){.max_depth = 16};
	CHECK_INT(pg_json_parse("[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]", 33, &lim, &d), PG_OK);
	pg_json_free(&d);
	CHECK_INT(pg_json_parse("[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]", 35, &lim, &d), PG_ENOMEM);
	/* Brackets inside strings are no nesting. */
	CHECK_INT(pg_json_parse("[\"[[[[[[[[[[[[[[[[[\\\"[[\"]", 25, &lim, &d), PG_OK);
	pg_json_free(&d);
	/* Default depth 64: 100 nested arrays are refused without recursion blow-up. */
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	CHECK_INT(parse_rc(deep, 200), PG_ENOMEM);
	lim = (struct pg_json_limits){.max_bytes = 4};
	CHECK_INT(pg_json_parse("[1,2]", 5, &lim, &d), PG_ENOMEM);
	lim = (struct pg_json_limits){.max_nodes = 3};
	CHECK_INT(pg_json_parse("[1,2]", 5, &lim, &d), PG_OK);
	pg_json_free(&d);
	CHECK_INT(pg_json_parse("[1,2,3]", 7, &lim, &d), PG_ENOMEM);
	CHECK_INT(pg_json_parse("{\"a\":[1],\"b\":2}", 15, &lim, &d), PG_ENOMEM);
	/* A megabyte of commas is refused before jansson builds anything. */
	{
		size_t n = PG_JSON_DEFAULT_MAX_BYTES;
		char *big = malloc(n);

		CHECK(big != NULL);
		if (big) {
			big[0] = '[';
			for (size_t k = 1; k + 1 < n; k += 2) {
				big[k] = '0';
				big[k + 1] = ',';
			}
			big[n - 1] = ']';
			CHECK_INT(parse_rc(big, n), PG_ENOMEM);
			CHECK_CONTAINS(pg_errmsg(), "more than 65536 values");
			free(big);
		}
	}
	lim = (struct pg_json_limits){.max_number_len = 3};
	CHECK_INT(pg_json_parse("123", 3, &lim, &d), PG_OK);
	pg_json_free(&d);
	CHECK_INT(pg_json_parse("1234", 4, &lim, &d), PG_ENOMEM);
	CHECK(d == NULL);
}

static void test_values(void)
{
	struct pg_json *d = parse_ok(" {\"a\": [1, -2.5e3, true, false, null, \"x\"], \"b\": {}, "
				     "\"z\": 7, \"n\": \"123\", \"big\": 9223372036854775807,"
				     " \"over\": \"9223372036854775808\", \"neg\": \"-5\", \"f\": 1.5,"
				     " \"lz\": \"007\", \"e\": 1e300}\n");
	const struct pg_json_value *r = pg_json_root(d), *a;
	double x = 0;
	int64_t i = 0;

	CHECK(d != NULL);
	CHECK_INT(pg_json_type(r), PG_JSON_OBJECT);
	CHECK_INT(pg_json_count(r), 10);
	CHECK_STR(pg_json_key_at(r, 1), "b");
	a = pg_json_get(r, "a");
	CHECK_INT(pg_json_type(a), PG_JSON_ARRAY);
	CHECK_INT(pg_json_count(a), 6);
	CHECK_INT(pg_json_int64(pg_json_at(a, 0), false, &i), PG_OK);
	CHECK_INT(i, 1);
	CHECK_INT(pg_json_double(pg_json_at(a, 1), &x), PG_OK);
	CHECK(x == -2500.0);
	CHECK_INT(pg_json_int64(pg_json_at(a, 1), false, &i), PG_EINVAL);
	CHECK(pg_json_is(pg_json_at(a, 2), PG_JSON_TRUE));
	CHECK(pg_json_is(pg_json_at(a, 3), PG_JSON_FALSE));
	CHECK(pg_json_is(pg_json_at(a, 4), PG_JSON_NULL));
	CHECK_STR(pg_json_str(pg_json_at(a, 5), NULL), "x");
	CHECK(pg_json_at(a, 6) == NULL);
	{
		size_t k = 0;

		for (const struct pg_json_value *e = pg_json_first(a); e; e = pg_json_next(e))
			CHECK(e == pg_json_at(a, k++));
		CHECK_INT(k, 6);
		CHECK_STR(pg_json_key(pg_json_first(r)), "a");
		CHECK(pg_json_key(pg_json_first(a)) == NULL);
		CHECK(pg_json_first(pg_json_at(a, 0)) == NULL);
		CHECK(pg_json_next(NULL) == NULL);
	}
	CHECK(pg_json_key_at(a, 0) == NULL);
	CHECK_INT(pg_json_count(pg_json_get(r, "b")), 0);
	CHECK(pg_json_get(r, "missing") == NULL);
	CHECK(pg_json_get(a, "a") == NULL);
	CHECK(pg_json_get(pg_json_get(r, "nope"), "deeper") == NULL);
	/* int64 as string only when allowed. */
	CHECK_INT(pg_json_int64(pg_json_get(r, "n"), false, &i), PG_EINVAL);
	CHECK_INT(pg_json_int64(pg_json_get(r, "n"), true, &i), PG_OK);
	CHECK_INT(i, 123);
	CHECK_INT(pg_json_int64(pg_json_get(r, "neg"), true, &i), PG_OK);
	CHECK_INT(i, -5);
	CHECK_INT(pg_json_int64(pg_json_get(r, "big"), false, &i), PG_OK);
	CHECK(i == INT64_MAX);
	CHECK_INT(pg_json_int64(pg_json_get(r, "over"), true, &i), PG_EINVAL);
	CHECK_INT(pg_json_int64(pg_json_get(r, "f"), false, &i), PG_EINVAL);
	CHECK_INT(pg_json_int64(pg_json_get(r, "lz"), true, &i), PG_EINVAL);
	CHECK_INT(pg_json_double(pg_json_get(r, "e"), &x), PG_OK);
	CHECK(x == 1e300);
	CHECK_INT(pg_json_int64(pg_json_get(r, "e"), false, &i), PG_EINVAL);
	CHECK_INT(pg_json_double(pg_json_get(r, "n"), &x), PG_EINVAL);
	CHECK_INT(pg_json_int64(NULL, true, &i), PG_EINVAL);
	pg_json_free(&d);
	CHECK(d == NULL);
	pg_json_free(&d);
	pg_json_free(NULL);

	d = parse_ok("-0");
	CHECK_INT(pg_json_type(pg_json_root(d)), PG_JSON_NUMBER);
	pg_json_free(&d);
	d = parse_ok("\"\"");
	CHECK_STR(pg_json_str(pg_json_root(d), NULL), "");
	pg_json_free(&d);
}

static void test_escapes(void)
{
	struct pg_json *d = parse_ok("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", "
				     "\"\\uD83D\\uDE00\", \"a\\u0000b\", \"\xc3\xa9\xf0\x9f\x98\x80\"]");
	const struct pg_json_value *r = pg_json_root(d);
	size_t n = 0;
	const char *s;

	CHECK(d != NULL);
	CHECK_STR(pg_json_str(pg_json_at(r, 0), NULL), "\"\\/\b\f\n\r\t");
	CHECK_STR(pg_json_str(pg_json_at(r, 1), NULL), "\xc3\xa9\xe2\x82\xac");
	CHECK_STR(pg_json_str(pg_json_at(r, 2), NULL), "\xf0\x9f\x98\x80");
	s = pg_json_str(pg_json_at(r, 3), &n);
	CHECK_INT(n, 3);
	CHECK(s && memcmp(s, "a\0b", 3) == 0);
	CHECK_STR(pg_json_str(pg_json_at(r, 4), NULL), "\xc3\xa9\xf0\x9f\x98\x80");
	CHECK(pg_json_str(r, NULL) == NULL);
	pg_json_free(&d);
}

static char *write_str(const char *s, size_t n)
{
	struct pg_buf b;

	pg_buf_init(&b, 1024);
	if (pg_json_write_string(&b, s, n) != PG_OK) {
		pg_buf_free(&b);
		return NULL;
	}
	return pg_buf_steal(&b, NULL);
}

static void test_writer(void)
{
	static const char *cases[][2] = {
		{"plain", "\"plain\""},
		{"q\"b\\s/", "\"q\\\"b\\\\s/\""},
		{"\n\r\t\b\f\x01\x1f\x7f", "\"\\n\\r\\t\\b\\f\\u0001\\u001f\\u007f\""},
		{"\xc3\xa9", "\"\xc3\xa9\""},
		{"a\xffz", "\"a\\u00ffz\""},
		{"\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\""},
		{"\xe2\x80\xa8\xe2\x80\xa9", "\"\\u2028\\u2029\""},
		{"\xc3", "\"\\u00c3\""},
		{"", "\"\""},
	};
	struct pg_buf b;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = write_str(cases[i][0], strlen(cases[i][0]));
		CHECK_STR(got, cases[i][1]);
		free(got);
	}
	{
		char *got = write_str("a\0b", 3);
		CHECK_STR(got, "\"a\\u0000b\"");
		free(got);
	}
	/* Round trip: whatever bytes go in, the output parses and (for valid UTF-8) decodes back. */
	{
		const char in[] = "k\"\\\x01\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80 end";
		char *got = write_str(in, sizeof(in) - 1);
		struct pg_json *d = got ? parse_ok(got) : NULL;
		size_t n = 0;
		const char *s = pg_json_str(pg_json_root(d), &n);

		CHECK_INT(n, sizeof(in) - 1);
		CHECK(s && memcmp(s, in, n) == 0);
		pg_json_free(&d);
		free(got);
	}
	pg_buf_init(&b, 8);
	CHECK_INT(pg_json_write_string(&b, "0123456789", 10), PG_ENOMEM);
	pg_buf_free(&b);
	pg_buf_init(&b, 64);
	CHECK_INT(pg_json_write_cstr(&b, NULL), PG_OK);
	CHECK_INT(pg_json_write_cstr(&b, "x"), PG_OK);
	CHECK_STR(b.data, "null\"x\"");
	pg_buf_free(&b);
}

int main(void)
{
	RUN(test_malformed);
	RUN(test_limits);
	RUN(test_values);
	RUN(test_escapes);
	RUN(test_writer);
	TEST_END();
}
