#include "src/util/base64.h"
#include "src/util/rand.h"
#include "src/util/buf.h"
#include "src/util/clock.h"
#include "src/util/err.h"
#include "src/util/file.h"
#include "src/util/log.h"
#include "src/util/zmem.h"
#include "tests/unit/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Wrapping the previous message in a new one (the arguments point into the
 * message buffer itself) keeps both parts. */
static void test_err_wrap(void)
{
	CHECK_INT(pg_fail(PG_EIO, "inner %d", 7), PG_EIO);
	CHECK_INT(pg_fail(PG_EINVAL, "outer: %s (%s)", pg_errmsg(), pg_errmsg()), PG_EINVAL);
	CHECK_STR(pg_errmsg(), "outer: inner 7 (inner 7)");
	pg_err_clear();
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

/* base64url encoding round-trips, and random ids are 22 url-safe characters,
 * different each time. */
static void test_base64url_encode_and_ids(void)
{
	char txt[32], id1[PG_RAND_ID_LEN + 1], id2[PG_RAND_ID_LEN + 1];
	unsigned char back[16];
	size_t n = 0;

	CHECK_INT(pg_base64url_encode("\xfb\xff", 2, txt, sizeof(txt)), PG_OK);
	CHECK_STR(txt, "-_8");
	CHECK_INT(pg_base64url_encode("{\"a\":1}", 7, txt, sizeof(txt)), PG_OK);
	CHECK_STR(txt, "eyJhIjoxfQ");
	CHECK_INT(pg_base64url_encode("", 0, txt, sizeof(txt)), PG_OK);
	CHECK_STR(txt, "");
	CHECK_INT(pg_base64url_encode("abc", 3, txt, 4), PG_ENOMEM);
	CHECK_INT(pg_base64url_encode("abc", 3, txt, 5), PG_OK);
	CHECK_STR(txt, "YWJj");
	CHECK_INT(pg_rand_id(id1, sizeof(id1)), PG_OK);
	CHECK_INT(pg_rand_id(id2, sizeof(id2)), PG_OK);
	CHECK_INT(strlen(id1), PG_RAND_ID_LEN);
	CHECK(strcmp(id1, id2) != 0);
	CHECK(pg_rand_id_ok(id1, strlen(id1)));
	CHECK_INT(pg_base64url_decode(id1, strlen(id1), back, sizeof(back), &n), PG_OK);
	CHECK_INT(n, 16);
	CHECK_INT(pg_rand_id(id1, PG_RAND_ID_LEN), PG_ENOMEM);
	CHECK(!pg_rand_id_ok("", 0));
	CHECK(!pg_rand_id_ok("a/b", 3));
	CHECK(!pg_rand_id_ok("a=", 2));
	CHECK(!pg_rand_id_ok("a\0b", 3));
	CHECK(!pg_rand_id_ok(NULL, 3));
	memset(txt, 'a', sizeof(txt));
	CHECK(pg_rand_id_ok(txt, 32));
}

static void test_clock(void)
{
	int64_t ns0 = pg_clock_mono_ns(), ms = pg_clock_mono_ms(), ns1 = pg_clock_mono_ns();
	int64_t wall = pg_clock_wall_ns();
	time_t t = time(NULL);

	CHECK(ns0 > 0 && ns1 >= ns0);
	CHECK(ms >= ns0 / 1000000 && ms <= ns1 / 1000000);
	CHECK(wall / 1000000000 >= (int64_t)t - 1 && wall / 1000000000 <= (int64_t)t + 1);
	/* Deadlines carry into seconds and stay normalized. */
	for (int64_t d = 0; d < 3000; d += 333) {
		int64_t before = pg_clock_mono_ns();
		struct timespec ts = pg_clock_deadline(CLOCK_MONOTONIC, d);
		int64_t at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;

		CHECK(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
		CHECK(at >= before + d * 1000000 && at <= pg_clock_mono_ns() + d * 1000000);
	}
}

static void write_file(const char *path, const char *data, size_t n)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	if (f) {
		CHECK_INT(fwrite(data, 1, n, f), n);
		fclose(f);
	}
}

static void test_file_read(void)
{
	char dir[] = "/tmp/pg_util_test.XXXXXX", path[128], link[128];
	char *out = (char *)1;
	size_t len = 99;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(link, sizeof(link), "%s/l", dir);
	write_file(path, "ab\0cd", 5);
	CHECK_INT(pg_file_read(path, 5, 0, &out, &len), PG_OK);
	CHECK_INT(len, 5);
	CHECK(out && memcmp(out, "ab\0cd", 6) == 0); /* NUL-terminated too */
	free(out);
	CHECK_INT(pg_file_read(path, 5, 0, &out, NULL), PG_OK);
	free(out);
	/* One byte over the bound: refused, naming the file and the sizes. */
	CHECK_INT(pg_file_read(path, 4, 0, &out, &len), PG_EINVAL);
	CHECK(out == NULL);
	CHECK_CONTAINS(pg_errmsg(), "/f: file is 5 bytes; at most 4");
	/* A pipe-like file without a size: bounded while reading. */
	CHECK_INT(pg_file_read("/dev/zero", 10000, 0, &out, &len), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "/dev/zero: file is over 10000 bytes");
	CHECK(out == NULL);
	CHECK_INT(pg_file_read("/nonexistent/x", 10, 0, &out, &len), PG_EIO);
	CHECK_CONTAINS(pg_errmsg(), "/nonexistent/x: cannot open: No such file or directory");
	CHECK_INT(pg_file_read(dir, 10, 0, &out, &len), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "is a directory");
	/* /proc files report size 0 and are read whole anyway. */
	CHECK_INT(pg_file_read("/proc/self/status", 1 << 20, 0, &out, &len), PG_OK);
	CHECK(len > 100 && out && strstr(out, "Pid:") != NULL);
	free(out);
	CHECK(symlink(path, link) == 0);
	CHECK_INT(pg_file_read(link, 10, 0, &out, &len), PG_OK);
	free(out);
	CHECK_INT(pg_file_read(link, 10, PG_FILE_NOFOLLOW, &out, &len), PG_EIO);
	write_file(path, "", 0);
	CHECK_INT(pg_file_read(path, 10, 0, &out, &len), PG_OK);
	CHECK_INT(len, 0);
	CHECK(out && out[0] == '\0');
	free(out);
	unlink(link);
	unlink(path);
	rmdir(dir);
}

static long rss_anon_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* A 4 MiB table costs only the pages touched; clear zeroes it again. */
static void test_zmem(void)
{
	size_t n = 16384, size = 256;
	long before = rss_anon_kb(), after;
	unsigned char *t = pg_zmem_new(n, size);

	CHECK(t != NULL);
	CHECK(before > 0);
	CHECK(t[0] == 0 && t[n * size / 2] == 0);
	t[5 * size] = 7;
	t[n * size - 1] = 9;
	after = rss_anon_kb();
	CHECK(after - before < 1024); /* a calloc'd table would add 4096 KiB */
	pg_zmem_clear(t, n, size);
	CHECK(t[5 * size] == 0 && t[n * size - 1] == 0);
	pg_zmem_free(t, n, size);
	pg_zmem_free(NULL, n, size);
	CHECK(pg_zmem_new((size_t)-1 / 2, 4) == NULL);
	CHECK(pg_zmem_new(0, 4) == NULL);
}

int main(void)
{
	RUN(test_buf_bounded);
	RUN(test_buf_steal);
	RUN(test_err_detail);
	RUN(test_err_wrap);
	RUN(test_log_level_parse);
	RUN(test_base64url);
	RUN(test_base64url_encode_and_ids);
	RUN(test_file_read);
	RUN(test_clock);
	RUN(test_zmem);
	TEST_END();
}
