/* pg_mutex and the contention (mutex/block) profiles. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "src/pprof/contention.h"
#include "src/util/mutex.h"
#include "tests/unit/test.h"

static struct pg_mutex mu = PG_MUTEX_INITIALIZER;
static _Atomic int holding;

static void *holder(void *arg)
{
	(void)arg;
	pg_mutex_lock(&mu);
	holding = 1;
	usleep(30000);
	pg_mutex_unlock(&mu);
	return NULL;
}

/* Waits on the held mutex; the recorded stack must include this frame. */
__attribute__((noinline)) static void waiter_here(void)
{
	pg_mutex_lock(&mu);
	pg_mutex_unlock(&mu);
	__asm__ __volatile__("" ::: "memory");
}

/* Whether the first " @ pcs" line of a legacy text profile holds a PC in [lo, lo+span). */
static int at_line_has(const char *text, uintptr_t lo, uintptr_t span)
{
	const char *p = text ? strstr(text, " @ ") : NULL;

	if (!p)
		return 0;
	p += 2;
	while (*p == ' ') {
		char *end;
		unsigned long long pc = strtoull(p + 1, &end, 16);

		if (end == p + 1)
			break;
		if (pc > lo && pc < lo + span)
			return 1;
		p = end;
	}
	return 0;
}

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

static void contend_once(void)
{
	pthread_t t;

	holding = 0;
	CHECK_INT(pthread_create(&t, NULL, holder, NULL), 0);
	while (!holding)
		usleep(500);
	waiter_here();
	pthread_join(t, NULL);
}

/* Until the profiler installs its hooks, a pg_mutex records nothing: src/util
 * does not call up into src/pprof. */
static void test_no_hooks_records_nothing(void)
{
	int64_t c = -1;

	pg_contention_reset();
	pg_mutex_set_hooks(NULL);
	contend_once();
	pg_contention_totals(&c, NULL, NULL);
	CHECK_INT(c, 0);
	pg_contention_install();
	/* A loaded machine may run the waiter only after the holder let go. */
	for (int i = 0; i < 20 && c == 0; i++) {
		contend_once();
		pg_contention_totals(&c, NULL, NULL);
	}
	CHECK_INT(c, 1);
}

static void test_uncontended_records_nothing(void)
{
	int64_t c = -1, d = -1;

	pg_contention_reset();
	for (int i = 0; i < 1000; i++) {
		pg_mutex_lock(&mu);
		pg_mutex_unlock(&mu);
	}
	pg_contention_totals(&c, &d, NULL);
	CHECK_INT(c, 0);
	CHECK_INT(d, 0);
}

static void test_contended_wait_is_recorded(void)
{
	int64_t c = 0, d = 0;
	struct pg_buf b;
	const char *ct = NULL;

	pg_contention_reset();
	CHECK_INT(pg_contention_set_rate(1), PG_CONTENTION_DEFAULT_RATE);
	contend_once();
	pg_contention_totals(&c, &d, NULL);
	CHECK_INT(c, 1);
	CHECK(d >= 10 * 1000000LL); /* the holder slept 30 ms */
	CHECK(d < 5 * 1000000000LL);

	pg_buf_init(&b, 1 << 20);
	CHECK_INT(pg_pprof_mutex(1, &b, &ct), PG_OK);
	CHECK_STR(ct, "text/plain; charset=utf-8");
	CHECK_CONTAINS(b.data, "--- mutex:\ncycles/second=1000000000\nsampling period=1\n");
	CHECK_CONTAINS(b.data, " 1 @ 0x");
	CHECK(at_line_has(b.data, (uintptr_t)waiter_here, 128));
	pg_buf_reset(&b);
	CHECK_INT(pg_pprof_block(1, &b, &ct), PG_OK);
	CHECK_CONTAINS(b.data, "--- contention:\ncycles/second=1000000000\n");
	pg_buf_reset(&b);
	CHECK_INT(pg_pprof_mutex(0, &b, &ct), PG_OK);
	CHECK_STR(ct, "application/octet-stream");
	CHECK(b.len > 2 && (unsigned char)b.data[0] == 0x1f);
	save_profile("mutex.pb.gz", &b);
	pg_buf_free(&b);
}

static void test_rate_zero_disables(void)
{
	int64_t c = -1;

	pg_contention_reset();
	CHECK_INT(pg_contention_set_rate(0), 1);
	CHECK_INT(pg_contention_should_sample(), 0);
	contend_once();
	pg_contention_totals(&c, NULL, NULL);
	CHECK_INT(c, 0);
	CHECK_INT(pg_contention_set_rate(-5), 0); /* negative means off */
	CHECK_INT(pg_contention_rate(), 0);
	pg_contention_set_rate(1);
}

static void test_sampling_scales_values(void)
{
	int hits = 0;
	int64_t c = 0, d = 0;

	pg_contention_reset();
	pg_contention_set_rate(4);
	for (int i = 0; i < 400; i++)
		hits += pg_contention_should_sample();
	CHECK_INT(hits, 100);
	pg_contention_record(1000, 0);
	pg_contention_totals(&c, &d, NULL);
	CHECK_INT(c, 4);
	CHECK_INT(d, 4000);
	pg_contention_set_rate(1);
}

/* Distinct stacks from a binary tree of two recursive functions. */
static void rec_a(unsigned bits, int n);
static void rec_b(unsigned bits, int n);
__attribute__((noinline)) static void rec_a(unsigned bits, int n)
{
	if (n == 0)
		pg_contention_record(1, 0);
	else if (bits & 1)
		rec_b(bits >> 1, n - 1);
	else
		rec_a(bits >> 1, n - 1);
	__asm__ __volatile__("" ::: "memory");
}
__attribute__((noinline)) static void rec_b(unsigned bits, int n)
{
	if (n == 0)
		pg_contention_record(1, 0);
	else if (bits & 1)
		rec_b(bits >> 1, n - 1);
	else
		rec_a(bits >> 1, n - 1);
	__asm__ __volatile__("" ::: "memory");
}

static void test_table_is_bounded(void)
{
	uint64_t dropped = 0;
	int64_t c = 0;

	pg_contention_reset();
	for (unsigned i = 0; i < 1024; i++)
		rec_a(i, 10);
	pg_contention_totals(&c, NULL, &dropped);
	CHECK_INT(c, PG_CONTENTION_MAX);
	CHECK_INT(dropped, 1024 - PG_CONTENTION_MAX);
	{
		struct pg_buf b;
		const char *ct;

		pg_buf_init(&b, 1 << 24);
		CHECK_INT(pg_pprof_block(1, &b, &ct), PG_OK);
		CHECK_CONTAINS(b.data, "# 512 events dropped: table full");
		pg_buf_free(&b);
	}
	pg_contention_reset();
}

static double ns_per_op(struct timespec a, struct timespec b, int n)
{
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n;
}

/* Reports the uncontended cost of pg_mutex against a raw pthread mutex. */
static void test_uncontended_overhead(void)
{
	pthread_mutex_t raw = PTHREAD_MUTEX_INITIALIZER;
	struct timespec t0, t1, t2;
	const int n = 2000000;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		pthread_mutex_lock(&raw);
		pthread_mutex_unlock(&raw);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (int i = 0; i < n; i++) {
		pg_mutex_lock(&mu);
		pg_mutex_unlock(&mu);
	}
	clock_gettime(CLOCK_MONOTONIC, &t2);
	printf("uncontended lock+unlock: pthread %.1f ns, pg_mutex %.1f ns\n",
	       ns_per_op(t0, t1, n), ns_per_op(t1, t2, n));
	/* Generous bound: catches an accidental slow path, not noise. */
	CHECK(ns_per_op(t1, t2, n) < 10 * ns_per_op(t0, t1, n) + 50);
}

/* Reports the cost of recording one sampled contention event. */
static void test_record_cost(void)
{
	struct timespec t0, t1;
	const int n = 20000;

	pg_contention_reset();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++)
		pg_contention_record(1, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("pg_contention_record (backtrace + table): %.1f ns per event\n", ns_per_op(t0, t1, n));
	pg_contention_reset();
}

static void test_init_destroy(void)
{
	struct pg_mutex m;

	CHECK_INT(pg_mutex_init(&m), PG_OK);
	CHECK_INT(pg_mutex_trylock(&m), 1);
	CHECK_INT(pg_mutex_trylock(&m), 0);
	pg_mutex_unlock(&m);
	pg_mutex_destroy(&m);
	pg_mutex_destroy(NULL);
}

int main(void)
{
	RUN(test_init_destroy);
	RUN(test_no_hooks_records_nothing);
	RUN(test_uncontended_records_nothing);
	RUN(test_contended_wait_is_recorded);
	RUN(test_rate_zero_disables);
	RUN(test_sampling_scales_values);
	RUN(test_table_is_bounded);
	RUN(test_uncontended_overhead);
	RUN(test_record_cost);
	TEST_END();
}
