/* Event trace capture: Chrome Trace Event JSON. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "src/pprof/trace.h"
#include "src/util/clock.h"
#include "src/util/span.h"
#include "src/util/thread.h"
#include "tests/unit/test.h"

/* Validates the JSON with Python's parser and checks its shape; returns the
 * checker's exit status (0 = valid). */
static int check_json(const struct pg_buf *b, const char *py_assert)
{
	char cmd[1024];
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); "
		 "ev=d[\"traceEvents\"]; names=[e[\"name\"] for e in ev]; %s'",
		 py_assert);
	p = popen(cmd, "w");
	if (!p)
		return -1;
	fwrite(b->data, 1, b->len, p);
	return pclose(p);
}

static void *tracer(void *arg)
{
	(void)arg;
	pg_trace_begin("test", "in-thread");
	pg_trace_end("test", "in-thread");
	return NULL;
}

static void test_events_inside_capture_only(void)
{
	struct pg_buf b;
	pthread_t t;
	int64_t t0;

	pg_buf_init(&b, 1 << 20);
	pg_trace_event("test", "before", pg_trace_now_ns(), 10);
	pg_span_event("test", "span-before", pg_clock_mono_ns(), 10);
	CHECK(!pg_trace_active());
	CHECK(!pg_span_active());
	CHECK_INT(pg_trace_start(5, 0), PG_OK);
	CHECK(pg_trace_active());
	/* the span hook (what http and rpc call) records into the capture */
	CHECK(pg_span_active());
	t0 = pg_trace_now_ns();
	pg_trace_event("test", "span \"quoted\"\n", t0, 1500);
	pg_span_event("test", "via-span-hook", pg_clock_mono_ns(), 10);
	pg_trace_event("test", "started-before-capture", t0 - 1000000000, 10);
	pg_trace_instant("test", "mark");
	CHECK_INT(pg_thread_create(&t, "pgtest-tracer", tracer, NULL), PG_OK);
	pthread_join(t, NULL);
	CHECK_INT(pg_trace_collect(&b), PG_OK);
	CHECK(!pg_trace_active());
	CHECK(!pg_span_active());
	pg_trace_event("test", "after", pg_trace_now_ns(), 10);
	CHECK_CONTAINS(b.data, "\"traceEvents\":[");
	CHECK_INT(check_json(&b, "assert \"span \\\"quoted\\\"\\n\" in names; "
				 "assert names.count(\"in-thread\") == 2; "
				 "assert \"mark\" in names; "
				 "assert \"via-span-hook\" in names and \"span-before\" not in names; "
				 "assert \"before\" not in names and \"after\" not in names; "
				 "assert \"started-before-capture\" not in names; "
				 "x=[e for e in ev if e[\"ph\"]==\"X\"][0]; assert abs(x[\"dur\"]-1.5)<1e-9; "
				 "assert any(e[\"ph\"]==\"M\" and e[\"args\"][\"name\"]==\"trace_test\" for e in ev); "
				 "b=[e for e in ev if e[\"name\"]==\"in-thread\"]; "
				 "assert [e[\"ph\"] for e in b]==[\"B\",\"E\"]; "
				 "assert all(e[\"tid\"]!=x[\"tid\"] for e in b)"),
		  0);
	pg_buf_free(&b);
}

static void test_one_capture_at_a_time(void)
{
	struct pg_buf b;

	pg_buf_init(&b, 1 << 20);
	CHECK_INT(pg_trace_collect(&b), PG_ENOTFOUND);
	CHECK_INT(pg_trace_start(0, 0), PG_EINVAL);
	CHECK_INT(pg_trace_start(PG_TRACE_MAX_SECONDS + 1, 0), PG_EINVAL);
	CHECK_INT(pg_trace_start(1, PG_TRACE_MAX_EVENTS + 1), PG_EINVAL);
	CHECK_INT(pg_trace_start(1, 0), PG_OK);
	CHECK_INT(pg_trace_start(1, 0), PG_EBUSY);
	pg_trace_cancel();
	CHECK(!pg_trace_active());
	CHECK_INT(pg_trace_collect(&b), PG_ENOTFOUND);
	pg_trace_cancel(); /* none running: no-op */
	CHECK_INT(pg_trace_start(1, 0), PG_OK);
	CHECK_INT(pg_trace_collect(&b), PG_OK);
	CHECK_INT(check_json(&b, "assert len(ev) >= 1"), 0);
	pg_buf_free(&b);
}

static void test_full_buffer_drops_and_counts(void)
{
	struct pg_buf b;

	pg_buf_init(&b, 1 << 20);
	CHECK_INT(pg_trace_start(5, 4), PG_OK);
	for (int i = 0; i < 10; i++)
		pg_trace_instant("test", "e");
	CHECK_INT(pg_trace_collect(&b), PG_OK);
	CHECK_INT(pg_trace_last_dropped(), 6);
	CHECK_INT(check_json(&b, "assert names.count(\"e\") == 4; "
				 "assert d[\"otherData\"][\"dropped_events\"] == \"6\""),
		  0);
	pg_buf_free(&b);
}

static void test_output_bound_ends_capture(void)
{
	struct pg_buf b;

	pg_buf_init(&b, 16);
	CHECK_INT(pg_trace_start(5, 0), PG_OK);
	pg_trace_instant("test", "e");
	CHECK_INT(pg_trace_collect(&b), PG_ENOMEM);
	CHECK(!pg_trace_active());
	CHECK_INT(pg_trace_start(1, 0), PG_OK); /* the failed collect ended it */
	pg_trace_cancel();
	pg_buf_free(&b);
}

/* Runs the strict Trace Event Format checker (tests/integration/trace_check.py)
 * on b; returns its exit status (0 = valid). */
static int check_strict(const struct pg_buf *b, const char *args)
{
	char path[] = "/tmp/pg-trace-XXXXXX", cmd[512];
	int fd = mkstemp(path), rc;

	if (fd < 0)
		return -1;
	rc = write(fd, b->data, b->len) == (ssize_t)b->len ? 0 : -1;
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 tests/integration/trace_check.py %s %s", path, args);
	if (rc == 0)
		rc = system(cmd);
	unlink(path);
	return rc;
}

/* The checker itself refuses what the specification forbids. */
static void test_checker_refuses(void)
{
	static const char *const bad[] = {
		"{\"traceEvents\":[{\"name\":\"a\",\"ph\":\"Q\",\"pid\":1,\"tid\":1,\"ts\":0}]}",
		"{\"traceEvents\":[{\"name\":\"a\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":0}]}",
		"{\"traceEvents\":[{\"name\":\"a\",\"ph\":\"B\",\"pid\":1,\"tid\":1,\"ts\":0}]}",
		"{\"traceEvents\":[{\"name\":\"a\",\"ph\":\"E\",\"pid\":1,\"tid\":1,\"ts\":0}]}",
		"{\"traceEvents\":[{\"name\":\"a\",\"ph\":\"B\",\"pid\":1,\"tid\":1,\"ts\":0},"
		"{\"name\":\"b\",\"ph\":\"E\",\"pid\":1,\"tid\":1,\"ts\":1}]}",
		"{\"traceEvents\":[{\"name\":\"a\",\"ph\":\"i\",\"s\":\"x\",\"pid\":1,\"tid\":1,\"ts\":0}]}",
		"{\"traceEvents\":[{\"name\":\"thread_nom\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{}}]}",
		"{\"traceEvents\":[{\"name\":\"a\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":0,\"dur\":5},"
		"{\"name\":\"b\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":3,\"dur\":5}]}",
		"{\"traceEvents\":[{\"name\":\"a\",\"ph\":\"X\",\"pid\":1,\"ts\":0,\"dur\":1}]}",
	};
	const char *ok = "{\"traceEvents\":[{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":"
			 "{\"name\":\"p\"}},{\"name\":\"a\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":0,\"dur\":5},"
			 "{\"name\":\"b\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":1,\"dur\":2}],"
			 "\"displayTimeUnit\":\"ns\"}";
	struct pg_buf b;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pg_buf_init(&b, 4096);
		CHECK_INT(pg_buf_puts(&b, bad[i]), PG_OK);
		CHECK(check_strict(&b, "> /dev/null") != 0);
		pg_buf_free(&b);
	}
	pg_buf_init(&b, 4096);
	CHECK_INT(pg_buf_puts(&b, ok), PG_OK);
	CHECK_INT(check_strict(&b, "> /dev/null"), 0);
	pg_buf_free(&b);
}

static void *span_cut_at_start(void *arg)
{
	(void)arg;
	pg_trace_end("test", "began-before-capture"); /* its B was not recorded */
	pg_trace_begin("test", "outer");
	pg_trace_begin("test", "inner");
	pg_trace_end("test", "not-open"); /* closes nothing: dropped */
	pg_trace_end("test", "inner");
	pg_trace_begin("test", "still-open-at-end");
	return NULL;
}

/* A capture cuts spans at both ends; the output stays valid: an E whose B
 * came before the start is dropped, a B open at the end is closed there. */
static void test_output_is_strictly_valid(void)
{
	struct pg_buf b;
	pthread_t t;

	pg_buf_init(&b, 1 << 20);
	CHECK_INT(pg_trace_start(5, 0), PG_OK);
	CHECK_INT(pg_thread_create(&t, "pgtest-cut", span_cut_at_start, NULL), PG_OK);
	pthread_join(t, NULL);
	pg_trace_event("test", "outer-x", pg_trace_now_ns(), 5000);
	pg_trace_event("test", "inner-x", pg_trace_now_ns() + 1000, 1000);
	pg_trace_instant("test", "mark");
	CHECK_INT(pg_trace_collect(&b), PG_OK);
	CHECK_INT(check_strict(&b, "--min-events 8 --require-cat test"), 0);
	CHECK_INT(check_json(&b, "ph=[(e[\"name\"],e[\"ph\"]) for e in ev if e[\"ph\"] in \"BE\"]; "
				 "assert ph==[(\"outer\",\"B\"),(\"inner\",\"B\"),(\"inner\",\"E\"),"
				 "(\"still-open-at-end\",\"B\"),(\"still-open-at-end\",\"E\"),(\"outer\",\"E\")], ph"),
		  0);
	pg_buf_free(&b);
}

static double ns_per(struct timespec a, struct timespec b, int n)
{
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n;
}

static void test_event_cost(void)
{
	struct timespec t0, t1, t2, t3;
	const int n = 1000000, nc = 100000;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++)
		pg_trace_event("bench", "idle", i, 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK_INT(pg_trace_start(5, nc * 2), PG_OK);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	for (int i = 0; i < nc; i++) {
		pg_trace_begin("bench", "capturing");
		pg_trace_end("bench", "capturing");
	}
	clock_gettime(CLOCK_MONOTONIC, &t3);
	pg_trace_cancel();
	printf("trace event: idle %.2f ns, capturing %.1f ns (begin or end, incl. clock read)\n",
	       ns_per(t0, t1, n), ns_per(t2, t3, 2 * nc));
	CHECK(ns_per(t0, t1, n) < 20);
}

int main(void)
{
	pg_thread_set_name("trace_test");
	RUN(test_events_inside_capture_only);
	RUN(test_one_capture_at_a_time);
	RUN(test_full_buffer_drops_and_counts);
	RUN(test_output_bound_ends_capture);
	RUN(test_checker_refuses);
	RUN(test_output_is_strictly_valid);
	RUN(test_event_cost);
	TEST_END();
}
