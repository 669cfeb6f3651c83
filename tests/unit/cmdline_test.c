/* /debug/pprof/cmdline in Go's format. */
#include <stdlib.h>
#include <string.h>

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

/* Redacts `image` (a /proc cmdline image) with the default patterns and
 * compares with `want` (NUL-separated, no trailing NUL). */
static void check_redact(const char *image, size_t len, const char *want, size_t want_len, unsigned want_n)
{
	struct pg_buf b;
	unsigned n = 99;

	pg_buf_init(&b, 1 << 20);
	CHECK_INT(pg_pprof_cmdline_redact(image, len, NULL, &b, &n), PG_OK);
	CHECK_INT(n, want_n);
	CHECK_INT(b.len, want_len);
	if (b.len != want_len || memcmp(b.data, want, want_len) != 0) {
		fprintf(stderr, "got: ");
		fwrite(b.data, 1, b.len, stderr);
		fprintf(stderr, "\n");
		CHECK(0);
	}
	pg_buf_free(&b);
}

#define R(img, want, n) check_redact(img, sizeof(img) - 1, want, sizeof(want) - 1, n)

static void test_redaction(void)
{
	/* --name=value, --name value, -name=value, NAME=value. */
	R("node\0--etcd-password=hunter2\0", "node\0--etcd-password=<redacted>", 1);
	R("node\0--db-passwd\0hunter2\0--listen\0:1\0", "node\0--db-passwd\0<redacted>\0--listen\0:1", 1);
	R("node\0-apiToken=abc\0", "node\0-apiToken=<redacted>", 1);
	R("node\0AWS_SECRET_ACCESS_KEY=abc\0x=1\0", "node\0AWS_SECRET_ACCESS_KEY=<redacted>\0x=1", 1);
	/* Case-insensitive, substring: --Client-Credential, --admin-key. */
	R("n\0--Client-CREDENTIAL=c\0--admin-key\0/k.pem\0", "n\0--Client-CREDENTIAL=<redacted>\0--admin-key\0<redacted>", 2);
	/* A flag without value: the next argument is another flag, or none. */
	R("n\0--no-auth-check\0--verbose\0", "n\0--no-auth-check\0--verbose", 0);
	R("n\0--token\0", "n\0--token", 0);
	R("n\0--token\0--x\0", "n\0--token\0--x", 0);
	/* A --no-... switch takes no value even before a plain word. */
	R("n\0--no-auth\0run\0", "n\0--no-auth\0run", 0);
	/* Empty values reveal nothing and stay empty. */
	R("n\0--key=\0KEY=\0--key\0\0", "n\0--key=\0KEY=\0--key\0", 0);
	/* Harmless names and words stay; argv[0] is never a value. */
	R("/opt/secret/bin/node\0--listen=:1\0serve\0monkey\0", "/opt/secret/bin/node\0--listen=:1\0serve\0monkey", 0);
	/* After "--" nothing is a flag, NAME=V still is an assignment. */
	R("n\0--\0--password=x\0TOKEN=y\0", "n\0--\0--password=x\0TOKEN=<redacted>", 1);
	/* A value that contains '=' is replaced whole; UTF-8 names and values. */
	R("n\0--secret=a=b\0--mot-de-passé=x\0--clé-secret=\xc3\xa9t\xc3\xa9\0",
	  "n\0--secret=<redacted>\0--mot-de-passé=x\0--clé-secret=<redacted>", 2);
	/* Paths with '=' are not NAME=V assignments. */
	R("n\0/tmp/a=token\0", "n\0/tmp/a=token", 0);
	/* A truncated image (no final NUL). */
	R("n\0--token=abc", "n\0--token=<redacted>", 1);
	/* Very long arguments. */
	{
		size_t big = 256 * 1024;
		char *img = malloc(big + 32), *want = malloc(64);
		struct pg_buf b;
		unsigned n = 0;

		memcpy(img, "n\0--auth-header=", 16);
		memset(img + 16, 'x', big);
		img[16 + big] = '\0';
		pg_buf_init(&b, 1 << 20);
		CHECK_INT(pg_pprof_cmdline_redact(img, big + 17, NULL, &b, &n), PG_OK);
		CHECK_INT(n, 1);
		memcpy(want, "n\0--auth-header=<redacted>", 26);
		CHECK(b.len == 26 && memcmp(b.data, want, 26) == 0);
		/* And one whose name is the long part. */
		pg_buf_reset(&b);
		memset(img + 2, 'a', big);
		memcpy(img + 2 + big, "=v", 3);
		CHECK_INT(pg_pprof_cmdline_redact(img, big + 5, NULL, &b, &n), PG_OK);
		CHECK_INT(n, 0);
		CHECK_INT(b.len, big + 4);
		pg_buf_free(&b);
		free(img);
		free(want);
	}
}

static void test_custom_patterns(void)
{
	struct pg_buf b;
	unsigned n = 0;
	static const char img[] = "n\0--dsn=postgres://u:p@h\0--token=t\0";

	pg_buf_init(&b, 1024);
	CHECK_INT(pg_pprof_cmdline_redact(img, sizeof(img) - 1, "DSN\nconn", &b, &n), PG_OK);
	CHECK_INT(n, 1);
	CHECK(b.len == 28 && memcmp(b.data, "n\0--dsn=<redacted>\0--token=t", 28) == 0);
	pg_buf_reset(&b);
	/* Patterns are bounded. */
	{
		char many[2048];
		size_t o = 0;

		for (int i = 0; i < 70; i++)
			o += (size_t)snprintf(many + o, sizeof(many) - o, "p%d\n", i);
		CHECK(pg_pprof_cmdline_redact(img, sizeof(img) - 1, many, &b, &n) != PG_OK);
		pg_err_clear();
	}
	pg_buf_free(&b);
}

/* The shared answer: built once, redacted by default, off on request. */
static void test_setup(void)
{
	struct pg_buf b;
	const char *ct;

	pg_buf_init(&b, 1 << 16);
	CHECK_INT(pg_pprof_cmdline_setup(true, "cmdline_test"), PG_OK);
	CHECK_INT(pg_pprof_cmdline(&b, &ct), PG_OK);
	/* argv[0] is never redacted, even when it matches. */
	{
		size_t a0 = strnlen(b.data, b.len);
		CHECK(a0 >= 12 && memcmp(b.data + a0 - 12, "cmdline_test", 12) == 0);
	}
	CHECK_INT(pg_pprof_cmdline_setup(false, NULL), PG_OK);
	pg_buf_free(&b);
}

int main(int argc, char **argv)
{
	saved_argc = argc;
	saved_argv = argv;
	RUN(test_joins_with_nul_without_trailing_nul);
	RUN(test_own_command_line);
	RUN(test_output_bound);
	RUN(test_redaction);
	RUN(test_custom_patterns);
	RUN(test_setup);
	TEST_END();
}
