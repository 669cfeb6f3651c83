#include "src/pprof/trace.h"
#include "src/util/clock.h"
#include "src/util/mutex.h"
#include "src/util/json.h"
#include "src/util/span.h"
#include "src/util/thread.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct ev {
	const char *cat;
	const char *name;
	int64_t ts;  /* ns, CLOCK_MONOTONIC */
	int64_t dur; /* ns, 'X' only */
	pid_t tid;
	char ph;
};

/* Writers announce themselves in `inflight` before re-checking `active`;
 * the collector clears `active` and then waits for `inflight` to drain. Both
 * sides use sequentially consistent atomics, so after the wait no writer can
 * touch the buffer. */
static _Atomic int active;
static _Atomic int inflight;
static atomic_size_t next_ev;
static atomic_uint_fast64_t dropped;
static struct ev *events;
static size_t cap;
static int64_t start_ns, deadline_ns;
static uint64_t last_dropped;
static struct pg_mutex ctl_mu = PG_MUTEX_INITIALIZER;
static _Thread_local pid_t tl_tid;

int64_t pg_trace_now_ns(void)
{
	return pg_clock_mono_ns();
}

int pg_trace_active(void)
{
	return atomic_load_explicit(&active, memory_order_relaxed);
}

static void record(const char *cat, const char *name, char ph, int64_t ts, int64_t dur)
{
	atomic_fetch_add(&inflight, 1);
	if (atomic_load(&active) && ts >= start_ns && ts <= deadline_ns) {
		size_t i = atomic_fetch_add_explicit(&next_ev, 1, memory_order_relaxed);

		if (i < cap) {
			struct ev *e = &events[i];

			if (!tl_tid)
				tl_tid = (pid_t)syscall(SYS_gettid);
			e->cat = cat ? cat : "";
			e->name = name ? name : "";
			e->ts = ts;
			e->dur = dur < 0 ? 0 : dur;
			e->tid = tl_tid;
			e->ph = ph;
		} else {
			atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
		}
	}
	atomic_fetch_sub(&inflight, 1);
}

void pg_trace_event(const char *cat, const char *name, int64_t start, int64_t dur)
{
	if (atomic_load_explicit(&active, memory_order_relaxed))
		record(cat, name, 'X', start, dur);
}

void pg_trace_begin(const char *cat, const char *name)
{
	if (atomic_load_explicit(&active, memory_order_relaxed))
		record(cat, name, 'B', pg_trace_now_ns(), 0);
}

void pg_trace_end(const char *cat, const char *name)
{
	if (atomic_load_explicit(&active, memory_order_relaxed))
		record(cat, name, 'E', pg_trace_now_ns(), 0);
}

void pg_trace_instant(const char *cat, const char *name)
{
	if (atomic_load_explicit(&active, memory_order_relaxed))
		record(cat, name, 'i', pg_trace_now_ns(), 0);
}

static const struct pg_span_hook span_hook = {pg_trace_active, pg_trace_event};

int pg_trace_start(int seconds, size_t max_events)
{
	int rc = PG_OK;

	if (seconds < 1 || seconds > PG_TRACE_MAX_SECONDS)
		return pg_fail(PG_EINVAL, "trace seconds must be 1..%d, got %d", PG_TRACE_MAX_SECONDS,
			       seconds);
	if (max_events == 0)
		max_events = PG_TRACE_DEFAULT_EVENTS;
	if (max_events > PG_TRACE_MAX_EVENTS)
		return pg_fail(PG_EINVAL, "trace buffer must hold at most %u events", PG_TRACE_MAX_EVENTS);
	pg_mutex_lock(&ctl_mu);
	/* From now on http and rpc report their spans here (src/util/span.h). */
	pg_span_set_hook(&span_hook);
	if (events) {
		rc = pg_fail(PG_EBUSY, "a trace capture is already running");
		goto out;
	}
	events = malloc(max_events * sizeof(*events));
	if (!events) {
		rc = pg_fail(PG_ENOMEM, "trace buffer of %zu events: out of memory", max_events);
		goto out;
	}
	cap = max_events;
	atomic_store(&next_ev, 0);
	atomic_store(&dropped, 0);
	start_ns = pg_trace_now_ns();
	deadline_ns = start_ns + (int64_t)seconds * 1000000000;
	atomic_store(&active, 1);
out:
	pg_mutex_unlock(&ctl_mu);
	return rc;
}

/* Stops recording and waits until no writer can touch the buffer. Called
 * with ctl_mu held and a capture running. */
static void stop_locked(void)
{
	atomic_store(&active, 0);
	while (atomic_load(&inflight) > 0)
		sched_yield();
	last_dropped = atomic_load(&dropped);
}

void pg_trace_cancel(void)
{
	pg_mutex_lock(&ctl_mu);
	if (events) {
		stop_locked();
		free(events);
		events = NULL;
	}
	pg_mutex_unlock(&ctl_mu);
}

static int by_tid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* Microseconds since the capture start, with ns precision ("ts" is in us). */
static int put_us(struct pg_buf *out, const char *key, int64_t ns)
{
	if (ns < 0)
		ns = 0;
	return pg_buf_printf(out, ",\"%s\":%lld.%03lld", key, (long long)(ns / 1000),
			     (long long)(ns % 1000));
}

/* A buffer index and its thread, to order a thread's events. */
struct slot {
	pid_t tid;
	size_t i;
};

/* By thread, then by recording order (a thread records its own B, E and i
 * events in time order). */
static int by_thread(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	if (x->tid != y->tid)
		return (x->tid > y->tid) - (x->tid < y->tid);
	return (x->i > y->i) - (x->i < y->i);
}

/* The Trace Event Format wants each thread's B and E events nested, with
 * matching names; a capture cuts spans at both ends. Marks in skip[] the E
 * events whose B came before the capture (or that close another name), and
 * lists in open[] (returning how many) the B events still open at its end,
 * which write_json closes at the end of the capture. */
static size_t balance(const struct ev *v, size_t n, unsigned char *skip, struct slot *order, size_t *open)
{
	size_t n_open = 0, k = 0;

	for (size_t i = 0; i < n; i++)
		order[i] = (struct slot){v[i].tid, i};
	qsort(order, n, sizeof(*order), by_thread);
	while (k < n) {
		size_t start = n_open, end = k;

		while (end < n && order[end].tid == order[k].tid)
			end++;
		for (; k < end; k++) {
			const struct ev *e = &v[order[k].i];

			if (e->ph == 'B') {
				open[n_open++] = order[k].i;
			} else if (e->ph == 'E') {
				if (n_open > start && strcmp(v[open[n_open - 1]].name, e->name) == 0)
					n_open--;
				else
					skip[order[k].i] = 1;
			}
		}
	}
	return n_open;
}

static int write_event(struct pg_buf *out, const struct ev *e, char ph, int pid, int64_t t0)
{
	int rc = pg_buf_puts(out, ",\n{\"name\":");

	if (rc == PG_OK)
		rc = pg_json_write_cstr(out, e->name);
	if (rc == PG_OK)
		rc = pg_buf_puts(out, ",\"cat\":");
	if (rc == PG_OK)
		rc = pg_json_write_cstr(out, e->cat);
	if (rc == PG_OK)
		rc = pg_buf_printf(out, ",\"ph\":\"%c\",\"pid\":%d,\"tid\":%d", ph, pid, (int)e->tid);
	if (rc == PG_OK)
		rc = put_us(out, "ts", e->ts - t0);
	if (rc == PG_OK && ph == 'X')
		rc = put_us(out, "dur", e->dur);
	if (rc == PG_OK && ph == 'i')
		rc = pg_buf_puts(out, ",\"s\":\"t\"");
	if (rc == PG_OK)
		rc = pg_buf_puts(out, "}");
	return rc;
}

static int write_json(const struct ev *v, size_t n, uint64_t drop, int64_t t0, int64_t t_end, int seconds,
		      struct pg_buf *out)
{
	int pid = (int)getpid(), rc;
	pid_t *tids = malloc((n ? n : 1) * sizeof(*tids));
	size_t nt = 0, n_open = 0, *open = NULL;
	struct slot *order = NULL;
	unsigned char *skip = NULL;
	char name[16];

	if (!tids)
		return pg_fail(PG_ENOMEM, "trace: out of memory");
	rc = pg_buf_printf(out, "{\"traceEvents\":[\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,"
				"\"tid\":%d,\"args\":{\"name\":\"pprofgate\"}}", pid, pid);
	/* One thread_name metadata event per thread seen. */
	for (size_t i = 0; i < n; i++)
		tids[i] = v[i].tid;
	qsort(tids, n, sizeof(*tids), by_tid);
	for (size_t i = 0; i < n; i++)
		if (nt == 0 || tids[nt - 1] != tids[i])
			tids[nt++] = tids[i];
	for (size_t i = 0; rc == PG_OK && i < nt; i++) {
		pg_thread_name_of(tids[i], name);
		if (!name[0])
			continue; /* the thread has exited */
		rc = pg_buf_printf(out, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
					"\"args\":{\"name\":", pid, (int)tids[i]);
		if (rc == PG_OK)
			rc = pg_json_write_cstr(out, name);
		if (rc == PG_OK)
			rc = pg_buf_puts(out, "}}");
	}
	skip = calloc(n ? n : 1, 1);
	order = malloc((n ? n : 1) * sizeof(*order));
	open = malloc((n ? n : 1) * sizeof(*open));
	if (rc == PG_OK && (!skip || !order || !open))
		rc = pg_fail(PG_ENOMEM, "trace: out of memory");
	if (rc == PG_OK)
		n_open = balance(v, n, skip, order, open);
	for (size_t i = 0; rc == PG_OK && i < n; i++)
		if (!skip[i])
			rc = write_event(out, &v[i], v[i].ph, pid, t0);
	/* Spans still open close at the end of the capture, innermost first. */
	for (size_t i = n_open; rc == PG_OK && i > 0; i--) {
		struct ev e = v[open[i - 1]];

		e.ts = t_end;
		rc = write_event(out, &e, 'E', pid, t0);
	}
	if (rc == PG_OK)
		rc = pg_buf_printf(out, "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"seconds\":\"%d\","
					"\"events\":\"%zu\",\"dropped_events\":\"%llu\"}}\n",
				   seconds, n, (unsigned long long)drop);
	free(tids);
	free(skip);
	free(order);
	free(open);
	return rc;
}

int pg_trace_collect(struct pg_buf *out)
{
	struct ev *v;
	size_t n;
	int64_t t0, t_end;
	int seconds, rc;

	pg_mutex_lock(&ctl_mu);
	if (!events) {
		pg_mutex_unlock(&ctl_mu);
		return pg_fail(PG_ENOTFOUND, "no trace capture is running");
	}
	stop_locked();
	v = events;
	events = NULL;
	n = atomic_load(&next_ev);
	if (n > cap)
		n = cap;
	t0 = start_ns;
	t_end = pg_trace_now_ns() < deadline_ns ? pg_trace_now_ns() : deadline_ns;
	seconds = (int)((deadline_ns - start_ns) / 1000000000);
	pg_mutex_unlock(&ctl_mu);

	rc = write_json(v, n, last_dropped, t0, t_end, seconds, out);
	free(v);
	return rc;
}

int pg_trace_capture(int seconds, size_t max_events, struct pg_buf *out)
{
	struct timespec ts = { .tv_sec = seconds, .tv_nsec = 0 };
	int rc = pg_trace_start(seconds, max_events);

	if (rc != PG_OK)
		return rc;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	return pg_trace_collect(out);
}

uint64_t pg_trace_last_dropped(void)
{
	uint64_t d;

	pg_mutex_lock(&ctl_mu);
	d = last_dropped;
	pg_mutex_unlock(&ctl_mu);
	return d;
}
