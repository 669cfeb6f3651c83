/* src/audit: the hash chain (pure) and the writer (files in a temp dir). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/audit/audit.h"
#include "src/audit/chain.h"
#include "src/util/file.h"
#include "tests/unit/test.h"

static char dir[256];

static const char *path(const char *name)
{
	static char p[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static char *slurp(const char *p, size_t *len)
{
	char *s = NULL;

	if (pg_file_read(p, 64u << 20, 0, &s, len) != PG_OK)
		pg_err_clear();
	return s;
}

static void spit(const char *p, const char *data, size_t len, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, data, len) == (ssize_t)len);
	close(fd);
	CHECK(chmod(p, mode) == 0);
}

/* Verifies file p; the verdict (and the line on failure). */
static enum pg_audit_verdict verify_file(const char *p, const unsigned char *key, size_t klen,
					 const unsigned char *prev, struct pg_audit_verify_result *res)
{
	size_t len = 0;
	char *s = slurp(p, &len);
	int rc;

	CHECK(s != NULL);
	if (!s)
		return PG_AUDIT_MALFORMED;
	rc = pg_audit_verify(s, len, key, klen, prev, res);
	CHECK_INT(rc, PG_OK);
	free(s);
	return res->verdict;
}

/* A file of n lines written through the writer. */
static void write_lines(const char *p, const char *key_file, int n)
{
	struct pg_audit_opts o = {.path = p, .key_file = key_file, .sync_ms = -1};
	struct pg_audit *a = NULL;
	char f[64];

	CHECK_INT(pg_audit_new(&o, &a), PG_OK);
	if (!a)
		return;
	for (int i = 0; i < n; i++) {
		int len = snprintf(f, sizeof(f), "\"event\":\"test\",\"i\":%d", i);
		CHECK_INT(pg_audit_submit(a, false, f, (size_t)len), PG_OK);
	}
	CHECK_INT(pg_audit_flush(a, 2000), PG_OK);
	pg_audit_free(&a);
}

/* ---- lines ---- */

static void test_parse_refuses(void)
{
	struct pg_audit_line l;
	const char *hash = ",\"hash\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}";
	char line[512];
	const char *bad[] = {
		"{\"seq\":01,\"time\":\"t\",\"x\":1",     /* leading zero */
		"{\"seq\":-1,\"time\":\"t\",\"x\":1",     /* sign */
		"{\"seq\":18446744073709551616,\"time\":\"t\"", /* 2^64 */
		"{\"seq\":1,\"time\":\"t\\\"\",\"x\":1",  /* escape in time */
		"{\"seq\":1,\"time\":\"\",\"x\":1",       /* empty time */
		"{\"seq\":1,\"time\":\"t\"x",             /* junk after time */
		"{\"seq\":1,\"time\":\"t\",\"a\":\"\x01\"", /* control byte */
		"{\"seq\":1,\"time\":\"t\",\"event\":\"audit_chain_start\",\"alg\":\"SHA\",\"prev_seq\":0", /* alg */
		"{\"seq\":1,\"time\":\"t\",\"event\":\"audit_chain_start\",\"alg\":\"sha256\",\"prev_seq\":0,"
		"\"prev_hash\":\"00\",\"reason\":\"new\"", /* short prev_hash */
		" {\"seq\":1,\"time\":\"t\",\"x\":1", /* leading space */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = snprintf(line, sizeof(line), "%s%s", bad[i], hash);
		if (pg_audit_line_parse(line, (size_t)n, &l) == PG_OK)
			fprintf(stderr, "accepted: %s\n", line);
		CHECK(pg_audit_line_parse(line, (size_t)n, &l) != PG_OK);
	}
	/* The tail: uppercase hex, short hash, no closing brace. */
	CHECK(pg_audit_line_parse("{\"seq\":1,\"time\":\"t\",\"hash\":\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"}", 101, &l) != PG_OK);
	snprintf(line, sizeof(line), "{\"seq\":1,\"time\":\"t\",\"x\":1%s", hash);
	CHECK_INT(pg_audit_line_parse(line, strlen(line), &l), PG_OK);
	CHECK(l.seq == 1 && !l.start);
	CHECK(pg_audit_line_parse(line, strlen(line) - 1, &l) != PG_OK);
	CHECK(pg_audit_line_parse("", 0, &l) != PG_OK);
}

static void test_hasher(void)
{
	struct pg_audit_hasher *h = NULL;
	unsigned char zero[PG_AUDIT_HASH_LEN] = {0}, a[PG_AUDIT_HASH_LEN], b[PG_AUDIT_HASH_LEN];
	unsigned char key[32];
	char hex[PG_AUDIT_HEX_LEN + 1];

	/* SHA-256 of 32 zero bytes and "abc" (sha256sum of that input). */
	CHECK_INT(pg_audit_hasher_new(NULL, 0, &h), PG_OK);
	CHECK_STR(pg_audit_hasher_alg(h), "sha256");
	CHECK_INT(pg_audit_hash(h, zero, "abc", 3, a), PG_OK);
	pg_audit_hex(a, hex);
	CHECK_STR(hex, "365aa7d8f7f9402c4b9434502b4cc89ddb09fe50d7cd95b493b834c62d5a5370");
	pg_audit_hasher_free(&h);
	CHECK(h == NULL);
	/* Keys shorter than 32 bytes are refused; HMAC differs from SHA. */
	memset(key, 'k', sizeof(key));
	CHECK(pg_audit_hasher_new(key, 31, &h) != PG_OK);
	pg_err_clear();
	CHECK_INT(pg_audit_hasher_new(key, 32, &h), PG_OK);
	CHECK_STR(pg_audit_hasher_alg(h), "hmac-sha256");
	CHECK_INT(pg_audit_hash(h, zero, "abc", 3, b), PG_OK);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	/* HMAC-SHA256(32 x 'k', 32 zero bytes || "abc"), twice: the context
	 * re-initialises with the same key. */
	for (int i = 0; i < 2; i++) {
		CHECK_INT(pg_audit_hash(h, zero, "abc", 3, b), PG_OK);
		pg_audit_hex(b, hex);
		CHECK_STR(hex, "c07aeb87816ffc6542335d89da972e816b20bb6b0429bcdd228cff1dc859ef0f");
	}
	pg_audit_hasher_free(&h);
	CHECK(pg_audit_unhex("zz", 2, a) != PG_OK);
	pg_err_clear();
}

/* ---- the writer and verify ---- */

static void test_chain_and_tampering(void)
{
	struct pg_audit_verify_result r;
	size_t len = 0;
	char *s;

	write_lines(path("a.log"), NULL, 5);
	CHECK_INT(verify_file(path("a.log"), NULL, 0, NULL, &r), PG_AUDIT_OK);
	CHECK_INT(r.lines, 6); /* the chain start and 5 */
	CHECK(r.first_seq == 1 && r.last_seq == 6 && !r.first_unchecked);
	s = slurp(path("a.log"), &len);
	if (!s)
		return;
	CHECK_CONTAINS(s, "\"reason\":\"new\"");
	/* Time: RFC 3339 UTC with milliseconds. */
	{
		const char *t = strstr(s, "\"time\":\"");
		CHECK(t && strlen(t) > 32 && t[12] == '-' && t[18] == 'T' && t[27] == '.' && t[31] == 'Z');
	}
	/* One byte edited in line 3. */
	{
		char *c = strdup(s), *l3 = c;
		for (int i = 0; i < 2; i++)
			l3 = strchr(l3, '\n') + 1;
		*strstr(l3, "\"i\":1") = '\'';
		spit(path("e.log"), c, len, 0600);
		CHECK_INT(verify_file(path("e.log"), NULL, 0, NULL, &r), PG_AUDIT_EDITED);
		CHECK_INT(r.line_no, 3);
		free(c);
	}
	/* Line 3 deleted: a gap. */
	{
		char *c = malloc(len), *l3 = s, *l4;
		for (int i = 0; i < 2; i++)
			l3 = strchr(l3, '\n') + 1;
		l4 = strchr(l3, '\n') + 1;
		memcpy(c, s, (size_t)(l3 - s));
		memcpy(c + (l3 - s), l4, len - (size_t)(l4 - s));
		spit(path("d.log"), c, len - (size_t)(l4 - l3), 0600);
		CHECK_INT(verify_file(path("d.log"), NULL, 0, NULL, &r), PG_AUDIT_MISSING);
		CHECK_INT(r.line_no, 3);
		CHECK_CONTAINS(r.msg, "1 line(s) missing");
		/* Lines 3 and 4 swapped. */
		{
			char *l5 = strchr(l4, '\n') + 1, *o = c;
			memcpy(o, s, (size_t)(l3 - s));
			o += l3 - s;
			memcpy(o, l4, (size_t)(l5 - l4));
			o += l5 - l4;
			memcpy(o, l3, (size_t)(l4 - l3));
			o += l4 - l3;
			memcpy(o, l5, len - (size_t)(l5 - s));
			spit(path("s.log"), c, len, 0600);
			CHECK_INT(verify_file(path("s.log"), NULL, 0, NULL, &r), PG_AUDIT_REORDERED);
			CHECK_INT(r.line_no, 3);
			CHECK_CONTAINS(r.msg, "is at line 4");
		}
		free(c);
	}
	/* Cut mid-line: truncated. Whole last lines cut: still a valid chain
	 * (the seq metric tells), shorter. */
	spit(path("t.log"), s, len - 10, 0600);
	CHECK_INT(verify_file(path("t.log"), NULL, 0, NULL, &r), PG_AUDIT_TRUNCATED);
	CHECK_INT(r.line_no, 6);
	/* The second file of a rotation on its own: first line unchecked. */
	{
		const char *l2 = strchr(s, '\n') + 1;
		unsigned char h[PG_AUDIT_HASH_LEN];
		struct pg_audit_line pl;

		spit(path("tail.log"), l2, len - (size_t)(l2 - s), 0600);
		CHECK_INT(verify_file(path("tail.log"), NULL, 0, NULL, &r), PG_AUDIT_OK);
		CHECK(r.first_unchecked);
		/* With the previous hash, checked. */
		CHECK_INT(pg_audit_line_parse(s, (size_t)(l2 - s - 1), &pl), PG_OK);
		memcpy(h, pl.hash, sizeof(h));
		CHECK_INT(verify_file(path("tail.log"), NULL, 0, h, &r), PG_AUDIT_OK);
		CHECK(!r.first_unchecked && r.lines == 5);
		h[0] ^= 1;
		CHECK_INT(verify_file(path("tail.log"), NULL, 0, h, &r), PG_AUDIT_EDITED);
	}
	free(s);
}

static void test_restart_and_partial_line(void)
{
	struct pg_audit_verify_result r;
	size_t len = 0;
	char *s;
	int fd;

	write_lines(path("r.log"), NULL, 2);
	write_lines(path("r.log"), NULL, 2);
	CHECK_INT(verify_file(path("r.log"), NULL, 0, NULL, &r), PG_AUDIT_OK);
	CHECK_INT(r.lines, 6);
	s = slurp(path("r.log"), &len);
	CHECK(s && strstr(s, "\"prev_seq\":3,") && strstr(s, "\"reason\":\"restart\""));
	free(s);
	/* A crash mid-line: the next start closes it, verify notes it. */
	fd = open(path("r.log"), O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, "{\"seq\":7,\"ti", 12) == 12);
	close(fd);
	CHECK_INT(verify_file(path("r.log"), NULL, 0, NULL, &r), PG_AUDIT_TRUNCATED);
	write_lines(path("r.log"), NULL, 1);
	CHECK_INT(verify_file(path("r.log"), NULL, 0, NULL, &r), PG_AUDIT_OK);
	CHECK_INT(r.partial_skipped, 1);
	CHECK_INT(r.lines, 8);
	/* A line that is not the node's, before the next start: malformed. */
	fd = open(path("r.log"), O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, "hello\n", 6) == 6);
	close(fd);
	write_lines(path("r.log"), NULL, 0);
	CHECK_INT(verify_file(path("r.log"), NULL, 0, NULL, &r), PG_AUDIT_MALFORMED);
	CHECK_INT(r.line_no, 10);
}

static void test_rotation(void)
{
	struct pg_audit_opts o = {.path = path("rot.log"), .sync_ms = 0};
	struct pg_audit_verify_result r1, r2;
	struct pg_audit *a = NULL;
	unsigned char wrong[PG_AUDIT_HASH_LEN] = {1};

	CHECK_INT(pg_audit_new(&o, &a), PG_OK);
	if (!a)
		return;
	CHECK_INT(pg_audit_submit(a, false, "\"event\":\"one\"", 13), PG_OK);
	CHECK_INT(rename(path("rot.log"), path("rot.log.1")), 0);
	/* Lines submitted before the reopen stay in the old file. */
	CHECK_INT(pg_audit_submit(a, false, "\"event\":\"two\"", 13), PG_OK);
	CHECK_INT(pg_audit_reopen(a, &o), PG_OK);
	CHECK_INT(pg_audit_submit(a, false, "\"event\":\"three\"", 15), PG_OK);
	CHECK_INT(pg_audit_flush(a, 2000), PG_OK);
	CHECK(pg_audit_last_seq(a) == 5);
	pg_audit_free(&a);
	CHECK_INT(verify_file(path("rot.log.1"), NULL, 0, NULL, &r1), PG_AUDIT_OK);
	CHECK_INT(r1.lines, 3);
	CHECK_INT(verify_file(path("rot.log"), NULL, 0, r1.last_hash, &r2), PG_AUDIT_OK);
	CHECK_INT(r2.lines, 2);
	CHECK(r2.first_seq == 4 && r2.last_seq == 5);
	CHECK_INT(verify_file(path("rot.log"), NULL, 0, wrong, &r2), PG_AUDIT_BAD_LINK);
	CHECK_INT(r2.line_no, 1);
}

static void test_hmac_key(void)
{
	struct pg_audit_opts o = {.path = path("k.log"), .key_file = path("key"), .sync_ms = -1};
	struct pg_audit_verify_result r;
	struct pg_audit *a = NULL;
	const char *k = "0123456789abcdef0123456789abcdef\n", *k2 = "0123456789abcdef0123456789abcdeX";

	/* Readable by others: refused, naming the fix. */
	spit(path("key"), k, strlen(k), 0644);
	CHECK(pg_audit_new(&o, &a) != PG_OK);
	CHECK_CONTAINS(pg_errmsg(), "chmod 600");
	CHECK(pg_audit_check(&o) != PG_OK);
	pg_err_clear();
	spit(path("key"), "short\n", 6, 0600);
	CHECK(pg_audit_new(&o, &a) != PG_OK);
	CHECK_CONTAINS(pg_errmsg(), "32..1024");
	pg_err_clear();
	spit(path("key"), k, strlen(k), 0600);
	CHECK_INT(pg_audit_check(&o), PG_OK);
	write_lines(path("k.log"), path("key"), 3);
	CHECK_INT(verify_file(path("k.log"), NULL, 0, NULL, &r), PG_AUDIT_NEEDS_KEY);
	CHECK_INT(verify_file(path("k.log"), (const unsigned char *)k, 32, NULL, &r), PG_AUDIT_OK);
	CHECK_INT(r.lines, 4);
	CHECK_INT(verify_file(path("k.log"), (const unsigned char *)k2, 32, NULL, &r), PG_AUDIT_EDITED);
	CHECK_INT(r.line_no, 1);
}

static void test_queue_bound(void)
{
	struct pg_audit_opts o = {.path = path("q.log"), .queue_lines = 16, .sync_ms = -1};
	struct pg_audit *a = NULL;
	int held = 0;

	CHECK_INT(pg_audit_new(&o, &a), PG_OK);
	if (!a)
		return;
	while (pg_audit_reserve(a) == PG_OK && held < 100)
		held++;
	CHECK_INT(held, 16);
	CHECK_CONTAINS(pg_errmsg(), "queue is full");
	CHECK_INT(pg_audit_submit(a, false, "\"x\":1", 5), PG_EBUSY);
	pg_err_clear();
	/* A reserved line always goes in. */
	CHECK_INT(pg_audit_submit(a, true, "\"x\":2", 5), PG_OK);
	CHECK_INT(pg_audit_flush(a, 2000), PG_OK);
	CHECK_INT(pg_audit_submit(a, false, "\"x\":3", 5), PG_OK);
	CHECK(pg_audit_submit(a, false, "\"x\":3", PG_AUDIT_FIELDS_MAX + 1) != PG_OK);
	pg_err_clear();
	/* Free the remaining reservations before stopping. */
	for (int i = 1; i < held; i++)
		CHECK_INT(pg_audit_submit(a, true, "\"x\":4", 5), PG_OK);
	pg_audit_free(&a);
	CHECK(a == NULL);
	pg_audit_free(NULL);
}

/* A disk that refuses writes (here: the file size limit, EFBIG): the lines
 * stay queued and are retried, new lines and requests are refused, and
 * everything is written once the disk takes it again. */
static void test_write_failure(void)
{
	struct pg_audit_opts o = {.path = path("full.log"), .sync_ms = 0};
	struct pg_audit_verify_result r;
	struct pg_audit *a = NULL;
	struct rlimit saved, lim;
	struct stat st;
	int rc = PG_OK;

	CHECK_INT(pg_audit_new(&o, &a), PG_OK);
	if (!a)
		return;
	CHECK_INT(getrlimit(RLIMIT_FSIZE, &saved), 0);
	CHECK_INT(stat(path("full.log"), &st), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = saved;
	lim.rlim_cur = (rlim_t)st.st_size;
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
	CHECK_INT(pg_audit_submit(a, false, "\"x\":\"kept\"", 10), PG_OK);
	for (int i = 0; i < 100 && rc == PG_OK; i++) {
		usleep(20 * 1000);
		rc = pg_audit_reserve(a);
		if (rc == PG_OK)
			CHECK_INT(pg_audit_submit(a, true, "\"x\":1", 5), PG_OK);
	}
	CHECK_INT(rc, PG_EIO);
	CHECK_CONTAINS(pg_errmsg(), "cannot be written");
	pg_err_clear();
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &saved), 0);
	CHECK_INT(pg_audit_flush(a, 3000), PG_OK);
	CHECK_INT(pg_audit_reserve(a), PG_OK);
	CHECK_INT(pg_audit_submit(a, true, "\"x\":2", 5), PG_OK);
	pg_audit_free(&a);
	signal(SIGXFSZ, SIG_DFL);
	CHECK_INT(verify_file(path("full.log"), NULL, 0, NULL, &r), PG_AUDIT_OK);
	CHECK(r.lines >= 3);
}

/* A sink that cannot take the chain start: the node does not start. */
static void test_unwritable_at_start(void)
{
	struct pg_audit_opts o = {.path = "/dev/full", .sync_ms = -1};
	struct pg_audit *a = NULL;

	CHECK(pg_audit_new(&o, &a) != PG_OK);
	CHECK_CONTAINS(pg_errmsg(), "cannot write audit file /dev/full");
	CHECK(a == NULL);
	pg_err_clear();
	o.path = path("no/such/dir/a.log");
	CHECK(pg_audit_check(&o) != PG_OK);
	CHECK_CONTAINS(pg_errmsg(), "not writable");
	pg_err_clear();
}

static void test_stderr_sink(void)
{
	struct pg_audit_opts o = {.sync_ms = -1};
	struct pg_audit *a = NULL;

	CHECK_INT(pg_audit_new(&o, &a), PG_OK);
	if (!a)
		return;
	pg_audit_event(a, "\"event\":\"stderr\"");
	CHECK_INT(pg_audit_flush(a, 2000), PG_OK);
	CHECK(pg_audit_last_seq(a) == 2);
	pg_audit_free(&a);
}

int main(void)
{
	char cmd[512];

	snprintf(dir, sizeof(dir), "%s/pg-audit-test.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	RUN(test_parse_refuses);
	RUN(test_hasher);
	RUN(test_chain_and_tampering);
	RUN(test_restart_and_partial_line);
	RUN(test_rotation);
	RUN(test_hmac_key);
	RUN(test_queue_bound);
	RUN(test_write_failure);
	RUN(test_unwritable_at_start);
	RUN(test_stderr_sink);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	TEST_END();
}
