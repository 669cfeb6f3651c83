/* Heap profiles: the tcmalloc heap-sample parser, scaling, deltas, output,
 * and (with tcmalloc) a real capture. The test re-executes itself with
 * libtcmalloc preloaded and TCMALLOC_SAMPLE_PARAMETER set, since tcmalloc
 * reads it only at process start. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "src/pprof/heap.h"
#include "tests/unit/test.h"

/* tcmalloc's library as pkg-config names it (CMakeLists.txt). */
#if !defined(PG_NO_TCMALLOC) && !defined(PG_TCMALLOC_SO)
#error "PG_TCMALLOC_SO (tcmalloc's library path) is set by CMakeLists.txt"
#endif

static const char sample_text[] =
	"heap profile:      4:   300100 [     4:   300100] @ heap_v2/524288\n"
	"     1:   100000 [     1:   100000] @ 0x7f0000001000 0x401000 0x402000\n"
	"     1:   100000 [     1:   100000] @ 0x7f0000001000 0x401000 0x402000\n"
	"     1:   100000 [     1:   100000] @ 0x7f0000001000 0x401000 0x402000\n"
	"     1:      100 [     1:      100] @ 0x7f0000001000 0x403000\n"
	"\n"
	"MAPPED_LIBRARIES:\n"
	"55f922259000-55f92225a000 r--p 00000000 00:00 10952998    /tmp/x\n";

static int parse(const char *text, struct pg_heap_sample **s)
{
	return pg_heap_sample_parse(text, strlen(text), s);
}

static void test_parse_merges_by_stack(void)
{
	struct pg_heap_sample *s = NULL;
	int64_t t[4];

	CHECK_INT(parse(sample_text, &s), PG_OK);
	if (!s)
		return;
	CHECK_INT(pg_heap_sample_rate(s), 524288);
	CHECK_INT(pg_heap_sample_records(s), 2);
	pg_heap_sample_totals(s, t);
	CHECK_INT(t[0], 4);
	CHECK_INT(t[1], 300100);
	CHECK_INT(t[2], 4);
	CHECK_INT(t[3], 300100);
	pg_heap_sample_free(&s);
	CHECK(s == NULL);
	pg_heap_sample_free(&s);
	pg_heap_sample_free(NULL);
}

static void test_scale_matches_pprof(void)
{
	int64_t c, b;

	/* avg 100000 at rate 524288: p = 1 - exp(-0.19073) = 0.17364, x5.7589 */
	pg_heap_scale(1, 100000, 524288, &c, &b);
	CHECK_INT(c, 5);
	CHECK(b > 575800 && b < 575950);
	pg_heap_scale(3, 300000, 524288, &c, &b);
	CHECK_INT(c, 17);
	/* Big objects are almost always sampled. */
	pg_heap_scale(1, 100 << 20, 524288, &c, &b);
	CHECK_INT(c, 1);
	CHECK_INT(b, 100 << 20);
	pg_heap_scale(2, 64, 1, &c, &b);
	CHECK_INT(c, 2);
	CHECK_INT(b, 64);
	pg_heap_scale(0, 64, 524288, &c, &b);
	CHECK_INT(c, 0);
	CHECK_INT(b, 0);
	pg_heap_scale(-1, -100000, 524288, &c, &b);
	CHECK_INT(c, -5);
	CHECK(b < -575800 && b > -575950);
}

static void test_parse_variants(void)
{
	struct pg_heap_sample *s = NULL;
	char deep[4096];
	size_t n;

	/* Unsampled v1 header, CRLF, no trailer. */
	CHECK_INT(parse("heap profile: 1: 8 [1: 8] @ heap\r\n1: 8 [1: 8] @ 0x10 0x20\r\n", &s), PG_OK);
	if (s) {
		CHECK_INT(pg_heap_sample_rate(s), 0);
		CHECK_INT(pg_heap_sample_records(s), 1);
	}
	pg_heap_sample_free(&s);
	/* An empty heap. */
	CHECK_INT(parse("heap profile:      0:        0 [     0:        0] @ heap_v2/524288\n\n"
			"MAPPED_LIBRARIES:\n", &s), PG_OK);
	if (s)
		CHECK_INT(pg_heap_sample_records(s), 0);
	pg_heap_sample_free(&s);
	/* Stacks deeper than PG_HEAP_MAX_DEPTH are cut, not rejected. */
	n = (size_t)snprintf(deep, sizeof(deep), "heap profile: 1: 8 [1: 8] @ heap_v2/1\n1: 8 [1: 8] @");
	for (int i = 0; i < PG_HEAP_MAX_DEPTH + 20; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, " 0x%x", 0x1000 + i);
	CHECK_INT(parse(deep, &s), PG_OK);
	pg_heap_sample_free(&s);
}

static void test_parse_rejects_malformed(void)
{
	static const char *const bad[] = {
		"",
		"heap profile:",
		"not a heap profile\n",
		"heap profile: 1: 8 [1: 8] heap\n",
		"heap profile: 1: 8 [1: 8] @ cpu\n",
		"heap profile: 1: 8 [1: 8] @ heap_v2/\n",
		"heap profile: 1: 8 [1: 8] @ heap_v2/8 junk\n",
		"heap profile: -1: 8 [1: 8] @ heap\n",
		"heap profile: 99999999999999999999: 8 [1: 8] @ heap\n",
		"heap profile: 1: 8 [1: 8] @ heap\n1: 8 [1: 8] 0x10\n",
		"heap profile: 1: 8 [1: 8] @ heap\n1: 8 [1: 8] @ 0xZZ\n",
		"heap profile: 1: 8 [1: 8] @ heap\n1: 8 [1: 8] @ 0x\n",
		"heap profile: 1: 8 [1: 8] @ heap\n1: 8 [1 8] @ 0x10\n",
		"heap profile: 1: 8 [1: 8] @ heap\n1: 8 [1: 8] @ 0x10000000000000000\n",
		/* two records whose counts overflow int64 when added */
		("heap profile: 1: 8 [1: 8] @ heap\n9223372036854775807: 8 [1: 8] @ 0x1\n"
		 "9223372036854775807: 8 [1: 8] @ 0x1\n"),
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pg_heap_sample *s = (struct pg_heap_sample *)&s;

		if (parse(bad[i], &s) != PG_EPROTO) {
			fprintf(stderr, "accepted bad input %zu: %s\n", i, bad[i]);
			test_failed_checks++;
		}
		CHECK(s == NULL);
	}
	{
		struct pg_heap_sample *s = NULL;

		CHECK_INT(pg_heap_sample_parse(NULL, 0, &s), PG_EPROTO);
		/* A length that cuts the header short is honoured. */
		CHECK_INT(pg_heap_sample_parse(sample_text, 10, &s), PG_EPROTO);
	}
}

static void test_delta(void)
{
	struct pg_heap_sample *a = NULL, *b = NULL, *d = NULL, *other = NULL;
	int64_t t[4];

	CHECK_INT(parse("heap profile: 2: 16 [2: 16] @ heap_v2/512\n"
			"1: 8 [1: 8] @ 0x10\n1: 8 [1: 8] @ 0x20\n", &a), PG_OK);
	CHECK_INT(parse("heap profile: 3: 40 [3: 40] @ heap_v2/512\n"
			"1: 8 [1: 8] @ 0x10\n2: 32 [2: 32] @ 0x30\n", &b), PG_OK);
	CHECK_INT(parse("heap profile: 0: 0 [0: 0] @ heap_v2/1024\n", &other), PG_OK);
	if (!a || !b || !other)
		goto out;
	CHECK_INT(pg_heap_sample_delta(a, b, &d), PG_OK);
	if (d) {
		CHECK_INT(pg_heap_sample_records(d), 2); /* 0x10 unchanged: left out */
		pg_heap_sample_totals(d, t);
		CHECK_INT(t[2], 1);  /* +2 at 0x30, -1 at 0x20 */
		CHECK_INT(t[3], 24); /* +32, -8 */
	}
	pg_heap_sample_free(&d);
	CHECK_INT(pg_heap_sample_delta(a, other, &d), PG_EINVAL);
	CHECK(d == NULL);
out:
	pg_heap_sample_free(&a);
	pg_heap_sample_free(&b);
	pg_heap_sample_free(&other);
}

static void test_write(void)
{
	struct pg_heap_sample *s = NULL;
	struct pg_buf b;
	const char *ct = NULL;

	CHECK_INT(parse(sample_text, &s), PG_OK);
	if (!s)
		return;
	pg_buf_init(&b, 1 << 20);
	CHECK_INT(pg_heap_write(s, 1, "inuse_space", &b, &ct), PG_OK);
	CHECK_STR(ct, "text/plain; charset=utf-8");
	CHECK_CONTAINS(b.data, "heap profile: 4: 300100 [4: 300100] @ heap_v2/524288\n");
	CHECK_CONTAINS(b.data, "3: 300000 [3: 300000] @ 0x7f0000001000 0x401000 0x402000\n#\t0x7f0000001000");
	CHECK_CONTAINS(b.data, "alloc values equal inuse");
	pg_buf_reset(&b);
	CHECK_INT(pg_heap_write(s, 0, "alloc_space", &b, &ct), PG_OK);
	CHECK_STR(ct, "application/octet-stream");
	CHECK(b.len > 2 && (unsigned char)b.data[0] == 0x1f && (unsigned char)b.data[1] == 0x8b);
	pg_buf_free(&b);
	pg_buf_init(&b, 16);
	CHECK_INT(pg_heap_write(s, 1, NULL, &b, &ct), PG_ENOMEM);
	pg_buf_free(&b);
	pg_heap_sample_free(&s);
}

#ifndef PG_NO_TCMALLOC
/* With PG_PROFILE_OUT_DIR set, saves a profile there for
 * tests/integration/test_pprof_go_reader.sh to open with `go tool pprof`. */
static void save_profile(const char *file, const struct pg_buf *b)
{
	const char *dir = getenv("PG_PROFILE_OUT_DIR");
	char path[512];
	FILE *f;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_INT(fwrite(b->data, 1, b->len, f), b->len);
	fclose(f);
}

void *volatile kept[200];

__attribute__((noinline)) static void heap_alloc_here(void)
{
	for (int i = 0; i < 200; i++)
		kept[i] = malloc(100000);
	__asm__ __volatile__("" ::: "memory");
}

static void test_capture_with_tcmalloc(void)
{
	struct pg_heap_sample *s = NULL;
	struct pg_buf b;
	const char *ct = NULL;
	int64_t e[4];

	CHECK_INT(pg_heap_mark_thread_idle(), PG_OK);
	heap_alloc_here();
	CHECK_INT(pg_heap_capture(&s), PG_OK);
	if (!s)
		return;
	CHECK_INT(pg_heap_sample_rate(s), 524288);
	pg_heap_sample_scaled_totals(s, e);
	/* 20 MB live from heap_alloc_here; the estimate is statistical. */
	printf("heap estimate: %lld bytes in use (20000000 allocated by the test)\n", (long long)e[3]);
	CHECK(e[3] > 8000000 && e[3] < 80000000);
	pg_heap_sample_free(&s);

	pg_buf_init(&b, 1 << 24);
	CHECK_INT(pg_pprof_heap(1, &b, &ct), PG_OK);
	/* tcmalloc's frames are dropped: heap_alloc_here is a record's first frame,
	 * so its "#" line directly follows the record's " @ " line. */
	{
		const char *p = b.data ? strstr(b.data, "\theap_alloc_here+") : NULL;
		const char *line = p, *prev;

		CHECK(p != NULL);
		while (line && line > b.data && line[-1] != '\n')
			line--;
		prev = line && line > b.data + 1 ? line - 2 : NULL;
		while (prev && prev > b.data && prev[-1] != '\n')
			prev--;
		CHECK(prev && strncmp(prev, "#", 1) != 0 && strstr(prev, " @ 0x") < line);
	}
	pg_buf_reset(&b);
	CHECK_INT(pg_pprof_heap(0, &b, &ct), PG_OK);
	save_profile("heap.pb.gz", &b);
	pg_buf_reset(&b);
	CHECK_INT(pg_pprof_allocs(0, &b, &ct), PG_OK);
	save_profile("allocs.pb.gz", &b);
	pg_buf_free(&b);
	for (int i = 0; i < 200; i++)
		free(kept[i]);
}
#endif

static void test_capture_without_tcmalloc(void)
{
	struct pg_heap_sample *s = NULL;

	CHECK_INT(pg_heap_capture(&s), PG_EUNSUP);
	CHECK(s == NULL);
	CHECK_INT(pg_heap_mark_thread_idle(), PG_EUNSUP);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	RUN(test_parse_merges_by_stack);
	RUN(test_scale_matches_pprof);
	RUN(test_parse_variants);
	RUN(test_parse_rejects_malformed);
	RUN(test_delta);
	RUN(test_write);
#ifdef PG_NO_TCMALLOC
	printf("SKIP tcmalloc capture: built with PG_NO_TCMALLOC (sanitizer build has no tcmalloc)\n");
	RUN(test_capture_without_tcmalloc);
#else
	if (!getenv("PG_HEAP_TEST_CHILD")) {
		/* Without tcmalloc the capture must fail cleanly... */
		RUN(test_capture_without_tcmalloc);
		if (test_failed)
			TEST_END();
		/* ...then run again under tcmalloc with sampling on. */
		if (access(PG_TCMALLOC_SO, R_OK) != 0) {
			printf("FAIL: %s (pkg-config libtcmalloc) is not readable\n", PG_TCMALLOC_SO);
			return 1;
		}
		fflush(stdout);
		setenv("PG_HEAP_TEST_CHILD", "1", 1);
		setenv("LD_PRELOAD", PG_TCMALLOC_SO, 1);
		setenv("TCMALLOC_SAMPLE_PARAMETER", "524288", 1);
		execv("/proc/self/exe", argv);
		perror("execv");
		return 1;
	} else {
		RUN(test_capture_with_tcmalloc);
	}
#endif
	TEST_END();
}
