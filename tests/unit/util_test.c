#include "src/util/base64.h"
#include "src/util/buf.h"
#include "src/util/err.h"
#include "src/util/log.h"
#include "tests/unit/test.h"

#include <stdlib.h>

static void test_buf_bounded(void)
{
	struct pg_buf b;

	pg_buf_init(&b, 8);
	CHECK_INT(pg_buf_puts(&b, "abcd"), PG_OK);
	CHECK_INT(pg_buf_printf(&b, "%d", 1234), PG_OK);
	CHECK_STR(b.data, "abcd1234");
	/* One byte past the maximum fails and leaves the contents unchanged. */
	CHECK_INT(pg_buf_puts(&b, "x"), PG_ENOMEM);
	CHECK_STR(b.data, "abcd1234");
	CHECK_INT(b.len, 8);
	pg_buf_reset(&b);
	CHECK_INT(b.len, 0);
	CHECK_INT(pg_buf_printf(&b, "%s", "123456789"), PG_ENOMEM);
	pg_buf_free(&b);
	CHECK(b.data == NULL);
}

static void test_buf_steal(void)
{
	struct pg_buf b;
	size_t n = 0;
	char *p;

	pg_buf_init(&b, 1 << 20);
	for (int i = 0; i < 1000; i++)
		CHECK_INT(pg_buf_printf(&b, "%04d", i), PG_OK);
	CHECK_INT(b.len, 4000);
	p = pg_buf_steal(&b, &n);
	CHECK_INT(n, 4000);
	CHECK(strncmp(p + 3996, "0999", 4) == 0);
	CHECK(b.data == NULL && b.len == 0);
	free(p);
}

static void test_err_detail(void)
{
	pg_err_clear();
	CHECK_STR(pg_errmsg(), "success");
	CHECK_INT(pg_fail(PG_EINVAL, "field %s is bad", "x"), PG_EINVAL);
	CHECK_STR(pg_errmsg(), "field x is bad");
	CHECK_STR(pg_strerror(PG_ENOTFOUND), "not found");
	CHECK_STR(pg_strerror(-999), "unknown error");
}

static void test_log_level_parse(void)
{
	CHECK_INT(pg_log_level_parse("debug"), PG_LOG_DEBUG);
	CHECK_INT(pg_log_level_parse("WARN"), PG_LOG_WARN);
	CHECK_INT(pg_log_level_parse("verbose"), -1);
}

static void test_base64url(void)
{
	unsigned char out[16];
	size_t n = 0;

	/* {"alg":"none"} style header bytes, unpadded, url alphabet. */
	CHECK_INT(pg_base64url_decode("eyJhIjoxfQ", 10, out, sizeof(out), &n), PG_OK);
	CHECK_INT(n, 7);
	CHECK(memcmp(out, "{\"a\":1}", 7) == 0);
	CHECK_INT(pg_base64url_decode("-_8", 3, out, sizeof(out), &n), PG_OK);
	CHECK_INT(n, 2);
	CHECK(out[0] == 0xfb && out[1] == 0xff);
	CHECK_INT(pg_base64url_decode("", 0, out, sizeof(out), &n), PG_OK);
	CHECK_INT(n, 0);
	/* Refused: padding, the standard alphabet, impossible length, trailing bits. */
	CHECK_INT(pg_base64url_decode("YQ==", 4, out, sizeof(out), &n), PG_EPROTO);
	CHECK_INT(pg_base64url_decode("+/8", 3, out, sizeof(out), &n), PG_EPROTO);
	CHECK_INT(pg_base64url_decode("YWJjZ", 5, out, sizeof(out), &n), PG_EPROTO);
	CHECK_INT(pg_base64url_decode("YR", 2, out, sizeof(out), &n), PG_EPROTO);
	CHECK_INT(pg_base64url_decode("YWJjZA", 6, out, 3, &n), PG_ENOMEM);
}

int main(void)
{
	RUN(test_buf_bounded);
	RUN(test_buf_steal);
	RUN(test_err_detail);
	RUN(test_log_level_parse);
	RUN(test_base64url);
	TEST_END();
}
