/* CPU profiles: the legacy-format parser, the capture lifecycle, and the
 * result read back by the real `go tool pprof`. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/pprof/cpu.h"
#include "tests/unit/test.h"

#define W sizeof(uint64_t)

static volatile uint64_t cpu_test_sink;

struct words {
	uint8_t b[4096];
	size_t n;
};

static void put(struct words *w, uint64_t v)
{
	memcpy(w->b + w->n, &v, W);
	w->n += W;
}

static void legacy_sample(struct words *w)
{
	w->n = 0;
	put(w, 0);
	put(w, 3);
	put(w, 0);
	put(w, 10000); /* 10 ms = 100 Hz */
	put(w, 0);
	/* two records with the same stack (merged) and one other */
	put(w, 5);
	put(w, 2);
	put(w, 0x401000);
	put(w, 0x402000);
	put(w, 7);
	put(w, 3);
	put(w, 0x401100);
	put(w, 0x402000);
	put(w, 0x403000);
	put(w, 2);
	put(w, 2);
	put(w, 0x401000);
	put(w, 0x402000);
	/* trailer, then maps text */
	put(w, 0);
	put(w, 1);
	put(w, 0);
	memcpy(w->b + w->n, "00400000-00500000 r-xp 00000000 00:00 0 /bin/x\n", 47);
	w->n += 47;
}

static void test_parse_valid(void)
{
	struct words w;
	struct pg_profile *p = NULL;
	struct pg_buf b;

	legacy_sample(&w);
	CHECK_INT(pg_profile_new(&p), PG_OK);
	CHECK_INT(pg_pprof_cpu_parse_legacy(w.b, w.n, p), PG_OK);
	pg_buf_init(&b, 1 << 24);
	CHECK_INT(pg_profile_write(p, &b), PG_OK);
	CHECK(b.len > 20);
	pg_buf_free(&b);
	pg_profile_free(&p);
	/* no maps text at all is fine too */
	CHECK_INT(pg_profile_new(&p), PG_OK);
	CHECK_INT(pg_pprof_cpu_parse_legacy(w.b, w.n - 47, p), PG_OK);
	pg_profile_free(&p);
}

static int parse(const uint8_t *d, size_t n)
{
	struct pg_profile *p = NULL;
	int rc;

	if (pg_profile_new(&p) != PG_OK)
		return -100;
	rc = pg_pprof_cpu_parse_legacy(d, n, p);
	pg_profile_free(&p);
	return rc;
}

static void test_parse_malformed(void)
{
	struct words w, bad;

	legacy_sample(&w);
	CHECK_INT(parse(NULL, 0), PG_EINVAL);
	/* every truncation before the end of the trailer is rejected */
	for (size_t n = 0; n < w.n - 47; n++)
		CHECK_INT(parse(w.b, n), PG_EPROTO);
	/* header words */
	for (size_t k = 0; k < 4; k++) {
		bad = w;
		memset(bad.b + k * W, 0xff, W);
		CHECK_INT(parse(bad.b, bad.n), PG_EPROTO);
	}
	bad = w; /* period 0 */
	memset(bad.b + 3 * W, 0, W);
	CHECK_INT(parse(bad.b, bad.n), PG_EPROTO);
	bad = w; /* depth 0 */
	memset(bad.b + 6 * W, 0, W);
	CHECK_INT(parse(bad.b, bad.n), PG_EPROTO);
	bad = w; /* huge depth */
	memset(bad.b + 6 * W, 0x7f, W);
	CHECK_INT(parse(bad.b, bad.n), PG_EPROTO);
	bad = w; /* implausible count */
	memset(bad.b + 5 * W, 0x7f, W);
	CHECK_INT(parse(bad.b, bad.n), PG_EPROTO);
	bad = w; /* trailer {0, 1, 5} */
	bad.b[w.n - 47 - W] = 5;
	CHECK_INT(parse(bad.b, bad.n), PG_EPROTO);
	bad = w; /* trailer {0, 2, 0} */
	bad.b[w.n - 47 - 2 * W] = 2;
	CHECK_INT(parse(bad.b, bad.n), PG_EPROTO);
}

#ifdef PG_NO_TCMALLOC
static void test_capture_unsupported(void)
{
	struct pg_pprof_cpu *c = (struct pg_pprof_cpu *)1;
	int64_t until = -1;

	CHECK_INT(pg_pprof_cpu_start(1, 0, NULL, &c, &until), PG_EUNSUP);
	CHECK(c == NULL);
	pg_pprof_cpu_cancel(&c);
}
#else

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Inlined into the hot loop (always, even at -O0), so it has no symbol of
 * its own: the profile can only name it, and -list show its lines, from the
 * DWARF inline information. */
static inline __attribute__((always_inline)) void cpu_test_inlined_step(uint64_t i)
{
	cpu_test_sink = cpu_test_sink * 6364136223846793005ull + i; /* HOT_LINE */
}

/* The hot function the profile must show; its body is what -list prints. */
static void __attribute__((noinline)) cpu_test_hot_loop(double seconds)
{
	int64_t end = mono_ns() + (int64_t)(seconds * 1e9);

	while (mono_ns() < end) {
		for (uint64_t i = 0; i < 2000000; i++)
			cpu_test_inlined_step(i); /* CALL_LINE */
	}
}

/* Runs a shell command, capturing stdout+stderr. */
static int run(const char *cmd, struct pg_buf *out)
{
	FILE *f = popen(cmd, "r");
	char chunk[4096];
	size_t n;

	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (pg_buf_append(out, chunk, n) != PG_OK)
			break;
	return pclose(f);
}

static void test_capture_and_go_pprof(void)
{
	struct pg_pprof_cpu *c = NULL, *c2 = NULL;
	int64_t until = 0, t0;
	struct pg_buf b, o;
	char dir[] = "/tmp/pg_cpu_test.XXXXXX", file[256], cmd[2048], *env;
	FILE *f;

	pg_buf_init(&b, 64 << 20);
	pg_buf_init(&o, 16 << 20);
	CHECK_INT(pg_pprof_cpu_start(0, 0, NULL, &c, NULL), PG_EINVAL);
	CHECK_INT(pg_pprof_cpu_start(1, 7, NULL, &c, NULL), PG_EUNSUP);
	CHECK(c == NULL);
	CHECK(mkdtemp(dir) != NULL);
	/* cancel, then a fresh start works */
	CHECK_INT(pg_pprof_cpu_start(5, 0, dir, &c, NULL), PG_OK);
	pg_pprof_cpu_cancel(&c);
	CHECK(c == NULL);
	t0 = mono_ns();
	CHECK_INT(pg_pprof_cpu_start(2, 0, dir, &c, NULL), PG_OK);
	CHECK(c != NULL);
	if (!c)
		goto out;
	CHECK(pg_pprof_cpu_deadline_ns(c) >= t0 + 2000000000LL);
	/* one capture at a time */
	CHECK_INT(pg_pprof_cpu_start(2, 0, dir, &c2, &until), PG_EBUSY);
	CHECK(c2 == NULL);
	CHECK(until > (int64_t)time(NULL) * 1000000000LL);
	cpu_test_hot_loop(2.0);
	CHECK_INT(pg_pprof_cpu_finish(&c, &b), PG_OK);
	CHECK(c == NULL);
	CHECK(b.len > 100);
	/* the private directory is gone, only ours is left */
	snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir);
	CHECK_INT(run(cmd, &o), 0);
	CHECK_STR(o.data, "0\n");
	pg_buf_reset(&o);

	snprintf(file, sizeof(file), "%s/cpu.pb.gz", dir);
	f = fopen(file, "wb");
	CHECK(f != NULL);
	if (!f)
		goto out;
	CHECK_INT(fwrite(b.data, 1, b.len, f), b.len);
	fclose(f);
	/* golang-go is a test dependency (scripts/deps.sh): no go, no pass. */
	if (run("command -v go >/dev/null 2>&1", &o) != 0) {
		CHECK(!"go is installed (golang-go)");
		goto out;
	}
	env = cmd;
	snprintf(cmd, sizeof(cmd),
		 "cd %s && HOME=%s GOCACHE=%s/gocache PPROF_TMPDIR=%s GOFLAGS= timeout 120 "
		 "go tool pprof -top -symbolize=none %s 2>&1",
		 dir, dir, dir, dir, file);
	CHECK_INT(run(env, &o), 0);
	CHECK_CONTAINS(o.data, "Type: cpu");
	CHECK_CONTAINS(o.data, "cpu_test_hot_loop");
	CHECK_CONTAINS(o.data, "cpu_test_inlined_step");
	printf("--- go tool pprof -top ---\n%.1500s\n", o.data ? o.data : "");
	pg_buf_reset(&o);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && HOME=%s GOCACHE=%s/gocache PPROF_TMPDIR=%s timeout 120 "
		 "go tool pprof -list cpu_test_hot_loop -symbolize=none %s 2>&1",
		 dir, dir, dir, dir, file);
	CHECK_INT(run(cmd, &o), 0);
	CHECK_CONTAINS(o.data, "cpu_test.c");
	CHECK_CONTAINS(o.data, "CALL_LINE"); /* the source text itself */
	printf("--- go tool pprof -list ---\n%.2000s\n", o.data ? o.data : "");
	pg_buf_reset(&o);
	/* The inlined function's own lines, with the samples spent there. */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && HOME=%s GOCACHE=%s/gocache PPROF_TMPDIR=%s timeout 120 "
		 "go tool pprof -list cpu_test_inlined_step -symbolize=none %s 2>&1",
		 dir, dir, dir, dir, file);
	CHECK_INT(run(cmd, &o), 0);
	CHECK_CONTAINS(o.data, "HOT_LINE");
	printf("--- go tool pprof -list (inlined) ---\n%.1200s\n", o.data ? o.data : "");
	pg_buf_reset(&o);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && HOME=%s GOCACHE=%s/gocache PPROF_TMPDIR=%s timeout 120 "
		 "go tool pprof -raw -symbolize=none %s 2>&1",
		 dir, dir, dir, dir, file);
	CHECK_INT(run(cmd, &o), 0);
	CHECK_CONTAINS(o.data, "samples/count cpu/nanoseconds");
	CHECK_CONTAINS(o.data, "cpu_test_hot_loop");
	CHECK_CONTAINS(o.data, "Mappings");
out:
	if (c)
		pg_pprof_cpu_cancel(&c);
	unlink(file);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	pg_buf_reset(&o);
	if (run(cmd, &o) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	pg_buf_free(&o);
	pg_buf_free(&b);
}
#endif

int main(void)
{
	RUN(test_parse_valid);
	RUN(test_parse_malformed);
#ifdef PG_NO_TCMALLOC
	printf("SKIP CPU capture tests: the sanitizer build does not link gperftools "
	       "(the release build runs them)\n");
	RUN(test_capture_unsupported);
#else
	RUN(test_capture_and_go_pprof);
#endif
	TEST_END();
}
