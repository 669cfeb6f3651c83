/* /debug/pprof/cmdline in Go's format. */
#include "src/pprof/cmdline.h"
#include "tests/unit/test.h"

static char **saved_argv;
static int saved_argc;

static void test_joins_with_nul_without_trailing_nul(void)
{
	struct pg_buf b;

	pg_buf_init(&b, 1024);
	CHECK_INT(pg_pprof_cmdline_from("a\0bc\0\0d\0", 8, &b), PG_OK);
	CHECK_INT(b.len, 7);
	CHECK(memcmp(b.data, "a\0bc\0\0d", 7) == 0);
	pg_buf_reset(&b);
	CHECK_INT(pg_pprof_cmdline_from("", 0, &b), PG_OK);
	CHECK_INT(b.len, 0);
	/* A truncated image (no final NUL) is kept as is. */
	CHECK_INT(pg_pprof_cmdline_from("ab", 2, &b), PG_OK);
	CHECK_INT(b.len, 2);
	pg_buf_free(&b);
}

static void test_own_command_line(void)
{
	struct pg_buf b, want;
	const char *ct = NULL;

	pg_buf_init(&b, 1 << 16);
	pg_buf_init(&want, 1 << 16);
	for (int i = 0; i < saved_argc; i++) {
		if (i)
			CHECK_INT(pg_buf_append(&want, "", 1), PG_OK);
		CHECK_INT(pg_buf_puts(&want, saved_argv[i]), PG_OK);
	}
	CHECK_INT(pg_pprof_cmdline(&b, &ct), PG_OK);
	CHECK_STR(ct, "text/plain; charset=utf-8");
	CHECK_INT(b.len, want.len);
	CHECK(b.len == want.len && memcmp(b.data, want.data, b.len) == 0);
	pg_buf_free(&b);
	pg_buf_free(&want);
}

static void test_output_bound(void)
{
	struct pg_buf b;
	const char *ct;

	pg_buf_init(&b, 2);
	CHECK_INT(pg_pprof_cmdline(&b, &ct), PG_ENOMEM);
	pg_buf_free(&b);
}

int main(int argc, char **argv)
{
	saved_argc = argc;
	saved_argv = argv;
	RUN(test_joins_with_nul_without_trailing_nul);
	RUN(test_own_command_line);
	RUN(test_output_bound);
	TEST_END();
}
