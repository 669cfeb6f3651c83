/* /debug/pprof/ handlers; see routes.h. */
#include "src/pprof/routes.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/http/path.h"
#include "src/pprof/cmdline.h"
#include "src/pprof/contention.h"
#include "src/pprof/cpu.h"
#include "src/pprof/heap.h"
#include "src/pprof/symbolize.h"
#include "src/pprof/threads.h"
#include "src/pprof/trace.h"
#include "src/util/clock.h"
#include "src/util/log.h"
#include "src/util/mutex.h"
#include "src/util/thread.h"

#define MOD "pprof"
#define PROFILE_BODY_MAX (256u << 20)
#define TEXT_PLAIN "text/plain; charset=utf-8"

enum job_kind { JOB_CPU, JOB_TRACE, JOB_HEAP };

/* A timed capture whose request is suspended until its deadline. */
struct job {
	bool used;
	enum job_kind kind;
	struct pg_http_req *req;
	int64_t start_ns, deadline_ns; /* CLOCK_MONOTONIC */
	struct pg_pprof_cpu *cpu;
	struct pg_heap_sample *before;
	int debug;
	const char *default_type;
};

struct pg_pprof_routes {
	unsigned max_seconds;
	char *tmpdir;
	struct pg_mutex mu; /* guards everything below; taken before any request lock */
	pthread_cond_t cv;
	pthread_t thread;
	bool thread_started, stopping;
	struct job jobs[PG_PPROF_MAX_JOBS];
	int64_t trace_end_unix_ns; /* when the running trace ends; 0: none */
	int64_t min_capture_ms;    /* opts.min_capture_seconds */
};

/* ---- time ----------------------------------------------------------------- */

/* ---- pure parsers --------------------------------------------------------- */

int pg_pprof_parse_seconds(const char *v, unsigned def, unsigned max, unsigned *out, char *msg, size_t n)
{
	uint64_t x = 0;
	size_t i;

	*out = def;
	if (!v)
		return PG_OK;
	for (i = 0; v[i]; i++) {
		if (v[i] < '0' || v[i] > '9' || i >= 10)
			break;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (i == 0 || v[i]) {
		snprintf(msg, n, "seconds must be a whole number of seconds from 1 to %u", max);
		return PG_EINVAL;
	}
	if (x < 1 || x > max) {
		snprintf(msg, n, "seconds=%llu is out of range: must be 1..%u (the configured maximum)",
			 (unsigned long long)x, max);
		return PG_EINVAL;
	}
	*out = (unsigned)x;
	return PG_OK;
}

int pg_pprof_parse_debug(const char *v, int max, int *out, char *msg, size_t n)
{
	*out = 0;
	if (!v)
		return PG_OK;
	if (v[0] >= '0' && v[0] <= '9' && !v[1] && v[0] - '0' <= max) {
		*out = v[0] - '0';
		return PG_OK;
	}
	snprintf(msg, n, "debug must be one of 0..%d", max);
	return PG_EINVAL;
}

static int digit_in_base(char c, unsigned base)
{
	int d = -1;

	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'f')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		d = c - 'A' + 10;
	return d >= 0 && (unsigned)d < base ? d : -1;
}

/* strconv.ParseUint(w, 0, 64): 0x/0X hex, 0o/0 octal, 0b binary, else
 * decimal; '_' separators are not accepted. 0 on any error. */
static uint64_t parse_word(const char *w, size_t n)
{
	unsigned base = 10;
	uint64_t x = 0;
	size_t i = 0;

	if (n >= 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X'))
		base = 16, i = 2;
	else if (n >= 2 && w[0] == '0' && (w[1] == 'b' || w[1] == 'B'))
		base = 2, i = 2;
	else if (n >= 2 && w[0] == '0' && (w[1] == 'o' || w[1] == 'O'))
		base = 8, i = 2;
	else if (n >= 1 && w[0] == '0')
		base = 8, i = 1;
	if (i == n && !(n == 1 && w[0] == '0'))
		return 0;
	for (; i < n; i++) {
		int d = digit_in_base(w[i], base);

		if (d < 0 || x > (UINT64_MAX - (uint64_t)d) / base)
			return 0;
		x = x * base + (uint64_t)d;
	}
	return x;
}

size_t pg_pprof_parse_symbol_addrs(const char *s, size_t len, uint64_t *addrs, size_t max)
{
	size_t count = 0, start = 0;

	if (!s)
		return 0;
	for (size_t i = 0; i <= len && count < max; i++) {
		if (i == len || s[i] == '+') {
			uint64_t a = parse_word(s + start, i - start);

			if (a)
				addrs[count++] = a;
			start = i + 1;
		}
	}
	return count;
}

/* ---- replies -------------------------------------------------------------- */

/* Go's net/http/pprof answers errors as text/plain with X-Go-Pprof: 1. */
static void reply_msg(struct pg_http_req *r, unsigned status, const char *msg)
{
	char line[512];

	snprintf(line, sizeof(line), "%s\n", msg);
	if (pg_http_add_header(r, "X-Content-Type-Options", "nosniff") != PG_OK)
		pg_err_clear();
	pg_http_reply_text(r, status, TEXT_PLAIN, line);
}

/* Answers a producer failure: 501 for PG_EUNSUP, 500 otherwise. */
static void reply_failure(struct pg_http_req *r, int rc, const char *what)
{
	char msg[400];

	if (rc == PG_EUNSUP) {
		snprintf(msg, sizeof(msg), "%s is not available in this build: %s", what, pg_errmsg());
		reply_msg(r, 501, msg);
	} else {
		snprintf(msg, sizeof(msg), "%s failed: %s", what, pg_errmsg());
		pg_warn(MOD, "%s", msg);
		reply_msg(r, 500, msg);
	}
	pg_err_clear();
}

static void reply_profile(struct pg_http_req *r, const char *name, struct pg_buf *b, const char *ctype)
{
	char disp[96];

	if (ctype && strncmp(ctype, "application/octet-stream", 24) == 0) {
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", name);
		if (pg_http_add_header(r, "Content-Disposition", disp) != PG_OK)
			pg_err_clear();
	}
	if (pg_http_add_header(r, "X-Content-Type-Options", "nosniff") != PG_OK)
		pg_err_clear();
	pg_http_reply_buf(r, 200, ctype ? ctype : "application/octet-stream", b);
}

/* 429 with Retry-After (RFC 9110 section 10.2.3) and the end time in the body. */
static void reply_busy(struct pg_http_req *r, const char *what, int64_t end_unix_ns)
{
	int64_t now = pg_clock_wall_ns(), left = end_unix_ns > now ? (end_unix_ns - now + 999999999) / 1000000000 : 1;
	time_t end_s = (time_t)(end_unix_ns / 1000000000);
	char when[32] = "soon", ra[24], msg[256];
	struct tm tm;

	if (left < 1)
		left = 1;
	if (end_unix_ns > 0 && gmtime_r(&end_s, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(ra, sizeof(ra), "%lld", (long long)left);
	snprintf(msg, sizeof(msg), "%s already in use: the running capture ends at %s (in %lld s); retry then",
		 what, when, (long long)left);
	if (pg_http_add_header(r, "Retry-After", ra) != PG_OK)
		pg_err_clear();
	reply_msg(r, 429, msg);
}

static struct pg_pprof_routes *routes_of(struct pg_http_req *r, void *arg)
{
	if (!arg)
		reply_msg(r, 503, "pprof routes are not configured");
	return arg;
}

/* ---- timed captures ------------------------------------------------------- */

/* A free job slot, or NULL. Caller holds pr->mu. */
static struct job *free_slot(struct pg_pprof_routes *pr)
{
	for (size_t i = 0; i < PG_PPROF_MAX_JOBS; i++)
		if (!pr->jobs[i].used)
			return &pr->jobs[i];
	return NULL;
}

/* Earliest end (unix ns) of the running captures. Caller holds pr->mu. */
static int64_t earliest_end(struct pg_pprof_routes *pr)
{
	int64_t best = 0, now_m = pg_trace_now_ns(), now_u = pg_clock_wall_ns();

	for (size_t i = 0; i < PG_PPROF_MAX_JOBS; i++)
		if (pr->jobs[i].used && (!best || pr->jobs[i].deadline_ns - now_m + now_u < best))
			best = pr->jobs[i].deadline_ns - now_m + now_u;
	return best;
}

/* Takes pr->mu and a zeroed free slot for a timed capture. On success returns
 * the slot with pr->mu held; otherwise answers r (503 while stopping, 429
 * when every slot is busy), releases pr->mu and returns NULL. */
static struct job *claim_slot(struct pg_pprof_routes *pr, struct pg_http_req *r)
{
	struct job *j;
	int64_t end;

	pg_mutex_lock(&pr->mu);
	if (pr->stopping) {
		pg_mutex_unlock(&pr->mu);
		reply_msg(r, 503, "the node is shutting down");
		return NULL;
	}
	if ((j = free_slot(pr))) {
		memset(j, 0, sizeof(*j));
		return j;
	}
	end = earliest_end(pr);
	pg_mutex_unlock(&pr->mu);
	reply_busy(r, "profile capture slots", end);
	return NULL;
}

/* Suspends r and hands it to the timer thread. Caller holds pr->mu. */
static void job_arm(struct pg_pprof_routes *pr, struct job *j, struct pg_http_req *r, unsigned seconds)
{
	j->used = true;
	j->req = r;
	j->start_ns = pg_trace_now_ns();
	j->deadline_ns = j->start_ns + (int64_t)seconds * 1000000000;
	pg_http_suspend(r);
	pthread_cond_signal(&pr->cv);
}

static void job_finish(struct pg_pprof_routes *pr, struct job *j)
{
	struct pg_heap_sample *after = NULL, *delta = NULL;
	const char *ctype = "application/octet-stream";
	struct pg_buf b;
	int rc;

	pg_buf_init(&b, PROFILE_BODY_MAX);
	switch (j->kind) {
	case JOB_CPU:
		rc = pg_pprof_cpu_finish(&j->cpu, &b);
		if (rc == PG_OK)
			reply_profile(j->req, "profile", &b, ctype);
		else
			reply_failure(j->req, rc, "CPU profile");
		pg_trace_event("pprof", "profile", j->start_ns, pg_trace_now_ns() - j->start_ns);
		break;
	case JOB_TRACE:
		pg_mutex_lock(&pr->mu);
		pr->trace_end_unix_ns = 0;
		pg_mutex_unlock(&pr->mu);
		rc = pg_trace_collect(&b);
		if (rc == PG_OK)
			reply_profile(j->req, "trace", &b, "application/json");
		else
			reply_failure(j->req, rc, "trace");
		break;
	case JOB_HEAP:
		rc = pg_heap_capture(&after);
		if (rc == PG_OK)
			rc = pg_heap_sample_delta(j->before, after, &delta);
		if (rc == PG_OK)
			rc = pg_heap_write(delta, j->debug, j->default_type, &b, &ctype);
		if (rc == PG_OK)
			reply_profile(j->req, strcmp(j->default_type, "inuse_space") == 0 ? "heap" : "allocs", &b,
				      ctype);
		else
			reply_failure(j->req, rc, "heap delta profile");
		pg_heap_sample_free(&after);
		pg_heap_sample_free(&delta);
		pg_heap_sample_free(&j->before);
		pg_trace_event("pprof", "heap-delta", j->start_ns, pg_trace_now_ns() - j->start_ns);
		break;
	}
	pg_buf_free(&b);
}

/* Ends a capture without a profile; answers status (the answer is lost
 * when the client is gone, but it releases the suspended request). */
static void job_cancel(struct pg_pprof_routes *pr, struct job *j, unsigned status, const char *msg)
{
	switch (j->kind) {
	case JOB_CPU:
		pg_pprof_cpu_cancel(&j->cpu);
		break;
	case JOB_TRACE:
		pg_mutex_lock(&pr->mu);
		pr->trace_end_unix_ns = 0;
		pg_mutex_unlock(&pr->mu);
		pg_trace_cancel();
		break;
	case JOB_HEAP:
		pg_heap_sample_free(&j->before);
		break;
	}
	reply_msg(j->req, status, msg);
}

static void *timer_main(void *arg)
{
	struct pg_pprof_routes *pr = arg;

	pg_mutex_lock(&pr->mu);
	while (!pr->stopping) {
		int64_t now = pg_trace_now_ns(), wake = now + (int64_t)PG_PPROF_POLL_MS * 1000000;
		struct job j = {0};
		bool gone = false;

		for (size_t i = 0; i < PG_PPROF_MAX_JOBS && !j.used; i++) {
			struct job *s = &pr->jobs[i];

			if (!s->used)
				continue;
			if (s->deadline_ns <= now || (gone = pg_http_req_peer_gone(s->req))) {
				j = *s;
				memset(s, 0, sizeof(*s));
			} else if (s->deadline_ns < wake) {
				wake = s->deadline_ns;
			}
		}
		if (j.used) {
			pg_mutex_unlock(&pr->mu);
			if (gone) {
				pg_info(MOD, "client closed the connection: %s capture cancelled",
					j.kind == JOB_CPU ? "CPU profile" : j.kind == JOB_TRACE ? "trace" : "heap delta");
				job_cancel(pr, &j, 499, "client closed the connection");
			} else {
				job_finish(pr, &j);
			}
			pg_mutex_lock(&pr->mu);
			continue;
		}
		struct timespec ts = {(time_t)(wake / 1000000000), (long)(wake % 1000000000)};
		int e = pthread_cond_timedwait(&pr->cv, pg_mutex_raw(&pr->mu), &ts);

		(void)e;
	}
	pg_mutex_unlock(&pr->mu);
	return NULL;
}

int pg_pprof_routes_new(const struct pg_pprof_routes_opts *opts, struct pg_pprof_routes **out)
{
	struct pg_pprof_routes *pr = calloc(1, sizeof(*pr));
	pthread_condattr_t ca;
	int rc = PG_OK;

	*out = NULL;
	/* From now on the node's struct pg_mutex locks feed /mutex and /block. */
	pg_contention_install();
	if (!pr)
		return pg_fail(PG_ENOMEM, "out of memory creating the pprof routes");
	pr->max_seconds = opts && opts->max_seconds ? opts->max_seconds : PG_PPROF_MAX_SECONDS;
	pr->min_capture_ms = opts ? (int64_t)opts->min_capture_seconds * 1000 : 0;
	if (pr->max_seconds > PG_PPROF_CPU_MAX_SECONDS)
		pr->max_seconds = PG_PPROF_CPU_MAX_SECONDS;
	if (opts && opts->tmpdir && !(pr->tmpdir = strdup(opts->tmpdir))) {
		free(pr);
		return pg_fail(PG_ENOMEM, "out of memory creating the pprof routes");
	}
	if ((rc = pg_mutex_init(&pr->mu)) != PG_OK) {
		free(pr->tmpdir);
		free(pr);
		return rc;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines are CLOCK_MONOTONIC */
	pthread_cond_init(&pr->cv, &ca);
	pthread_condattr_destroy(&ca);
	rc = pg_thread_create(&pr->thread, "pprof-timer", timer_main, pr);
	if (rc != PG_OK) {
		pg_pprof_routes_free(&pr);
		return rc;
	}
	pr->thread_started = true;
	*out = pr;
	return PG_OK;
}

void pg_pprof_routes_stop(struct pg_pprof_routes *pr)
{
	if (!pr)
		return;
	pg_mutex_lock(&pr->mu);
	pr->stopping = true;
	pthread_cond_broadcast(&pr->cv);
	pg_mutex_unlock(&pr->mu);
	if (pr->thread_started) {
		pthread_join(pr->thread, NULL);
		pr->thread_started = false;
	}
	for (size_t i = 0; i < PG_PPROF_MAX_JOBS; i++) {
		struct job j;

		pg_mutex_lock(&pr->mu);
		j = pr->jobs[i];
		memset(&pr->jobs[i], 0, sizeof(pr->jobs[i]));
		pg_mutex_unlock(&pr->mu);
		if (j.used)
			job_cancel(pr, &j, 503, "the node is shutting down");
	}
}

void pg_pprof_routes_free(struct pg_pprof_routes **pp)
{
	struct pg_pprof_routes *pr;

	if (!pp || !*pp)
		return;
	pr = *pp;
	pg_pprof_routes_stop(pr);
	pthread_cond_destroy(&pr->cv);
	pg_mutex_destroy(&pr->mu);
	free(pr->tmpdir);
	free(pr);
	*pp = NULL;
}

/* Shortens *seconds to the diagnostics window, or answers 403 and returns
 * false when the window leaves too little time; the answer says which
 * (a capture never outlives the window that allowed it). The granted length
 * goes out as X-Pprofgate-Capture-Seconds. A HEAD request (RFC 9110 9.3.2:
 * GET's header fields without content) is answered here with those headers
 * and starts nothing: a client learns the capture it would get, and can
 * count it down, before it asks for it. */
static bool fit_window(struct pg_pprof_routes *pr, struct pg_http_req *r, const char *profile,
		       unsigned *seconds)
{
	/* What the guard allowed: the time left in the window, -1 unbounded. */
	int64_t left_ms = pg_http_req_limit_ms(r);
	unsigned granted = *seconds;
	char v[96];

	if (left_ms < 0 || (int64_t)*seconds * 1000 <= left_ms) {
		granted = *seconds;
	} else if (left_ms >= pr->min_capture_ms && left_ms >= 1000) {
		/* Whole seconds that still end inside the window. */
		granted = (unsigned)(left_ms / 1000);
		snprintf(v, sizeof(v), "shortened from %u s to %u s: the diagnostics window closes then",
			 *seconds, granted);
		if (pg_http_add_header(r, "X-Pprofgate-Capture", v) != PG_OK)
			pg_err_clear();
		pg_info("pprof", "%s capture %s", profile, v);
	} else {
		if (pg_http_add_header(r, "Content-Type", "application/json") != PG_OK)
			pg_err_clear();
		pg_http_reply_text(r, 403, "application/json",
				   "{\"error\":\"forbidden\",\"reason\":\"window_too_short\","
				   "\"message\":\"the diagnostics window closes before the shortest capture "
				   "allowed; open a new window\"}\n");
		return false;
	}
	*seconds = granted;
	snprintf(v, sizeof(v), "%u", granted);
	if (pg_http_add_header(r, "X-Pprofgate-Capture-Seconds", v) != PG_OK)
		pg_err_clear();
	if (strcmp(pg_http_req_method(r), "HEAD") == 0) {
		pg_http_reply(r, 200, NULL, "", 0);
		return false;
	}
	return true;
}

/* ---- handlers ------------------------------------------------------------- */

void pg_pprof_handle_profile(struct pg_http_req *r, void *arg)
{
	struct pg_pprof_routes *pr = routes_of(r, arg);
	struct pg_pprof_cpu *cpu = NULL;
	int64_t busy_until = 0;
	unsigned seconds;
	char msg[200];
	struct job *j;
	int rc;

	if (!pr)
		return;
	if (pg_pprof_parse_seconds(pg_http_req_query(r, "seconds"), PG_PPROF_DEFAULT_SECONDS,
				   pr->max_seconds, &seconds, msg, sizeof(msg)) != PG_OK) {
		reply_msg(r, 400, msg);
		return;
	}
	if (!fit_window(pr, r, "profile", &seconds))
		return;
	if (!(j = claim_slot(pr, r)))
		return;
	rc = pg_pprof_cpu_start(seconds, 0, pr->tmpdir, &cpu, &busy_until);
	if (rc == PG_OK) {
		j->kind = JOB_CPU;
		j->cpu = cpu;
		job_arm(pr, j, r, seconds);
	}
	pg_mutex_unlock(&pr->mu);
	if (rc == PG_EBUSY) {
		pg_err_clear();
		reply_busy(r, "cpu profiling", busy_until);
	} else if (rc != PG_OK) {
		reply_failure(r, rc, "CPU profile");
	}
}

void pg_pprof_handle_trace(struct pg_http_req *r, void *arg)
{
	struct pg_pprof_routes *pr = routes_of(r, arg);
	unsigned seconds;
	int64_t busy_until;
	char msg[200];
	struct job *j;
	int rc;

	if (!pr)
		return;
	/* Go's trace defaults to 1 s. */
	if (pg_pprof_parse_seconds(pg_http_req_query(r, "seconds"), 1, pr->max_seconds, &seconds, msg,
				   sizeof(msg)) != PG_OK) {
		reply_msg(r, 400, msg);
		return;
	}
	if (!fit_window(pr, r, "trace", &seconds))
		return;
	if (!(j = claim_slot(pr, r)))
		return;
	busy_until = pr->trace_end_unix_ns;
	rc = pg_trace_start((int)seconds, 0);
	if (rc == PG_OK) {
		j->kind = JOB_TRACE;
		pr->trace_end_unix_ns = pg_clock_wall_ns() + (int64_t)seconds * 1000000000;
		job_arm(pr, j, r, seconds);
	}
	pg_mutex_unlock(&pr->mu);
	if (rc == PG_EBUSY) {
		pg_err_clear();
		reply_busy(r, "tracing", busy_until);
	} else if (rc != PG_OK) {
		reply_failure(r, rc, "trace");
	}
}

typedef int sync_profile_fn(int debug, struct pg_buf *out, const char **content_type);

static void serve_sync(struct pg_http_req *r, void *arg, const char *name, int max_debug, sync_profile_fn *fn)
{
	const char *ctype = NULL;
	struct pg_buf b;
	char msg[200];
	int debug, rc;

	if (!routes_of(r, arg))
		return;
	if (pg_pprof_parse_debug(pg_http_req_query(r, "debug"), max_debug, &debug, msg, sizeof(msg)) != PG_OK) {
		reply_msg(r, 400, msg);
		return;
	}
	pg_buf_init(&b, PROFILE_BODY_MAX);
	rc = fn(debug, &b, &ctype);
	if (rc == PG_OK)
		reply_profile(r, name, &b, ctype);
	else
		reply_failure(r, rc, name);
	pg_buf_free(&b);
}

static void serve_heap(struct pg_http_req *r, void *arg, const char *name, const char *default_type,
		       sync_profile_fn *fn)
{
	struct pg_pprof_routes *pr = routes_of(r, arg);
	struct pg_heap_sample *before = NULL;
	const char *sv;
	unsigned seconds;
	char msg[200];
	struct job *j;
	int debug, rc;

	if (!pr)
		return;
	sv = pg_http_req_query(r, "seconds");
	if (!sv) {
		/* gc=1 asks Go to collect first; there is no collector here. */
		serve_sync(r, arg, name, 2, fn);
		return;
	}
	if (pg_pprof_parse_seconds(sv, 0, pr->max_seconds, &seconds, msg, sizeof(msg)) != PG_OK ||
	    pg_pprof_parse_debug(pg_http_req_query(r, "debug"), 2, &debug, msg, sizeof(msg)) != PG_OK) {
		reply_msg(r, 400, msg);
		return;
	}
	if (!fit_window(pr, r, name, &seconds))
		return;
	rc = pg_heap_capture(&before);
	if (rc != PG_OK) {
		reply_failure(r, rc, name);
		return;
	}
	if (!(j = claim_slot(pr, r))) {
		pg_heap_sample_free(&before);
		return;
	}
	j->kind = JOB_HEAP;
	j->before = before;
	j->debug = debug;
	j->default_type = default_type;
	job_arm(pr, j, r, seconds);
	pg_mutex_unlock(&pr->mu);
}

void pg_pprof_handle_heap(struct pg_http_req *r, void *arg)
{
	serve_heap(r, arg, "heap", "inuse_space", pg_pprof_heap);
}

void pg_pprof_handle_allocs(struct pg_http_req *r, void *arg)
{
	serve_heap(r, arg, "allocs", "alloc_space", pg_pprof_allocs);
}

void pg_pprof_handle_goroutine(struct pg_http_req *r, void *arg)
{
	serve_sync(r, arg, "goroutine", 2, pg_pprof_goroutine);
}

void pg_pprof_handle_threadcreate(struct pg_http_req *r, void *arg)
{
	serve_sync(r, arg, "threadcreate", 2, pg_pprof_threadcreate);
}

void pg_pprof_handle_mutex(struct pg_http_req *r, void *arg)
{
	serve_sync(r, arg, "mutex", 2, pg_pprof_mutex);
}

void pg_pprof_handle_block(struct pg_http_req *r, void *arg)
{
	serve_sync(r, arg, "block", 2, pg_pprof_block);
}

/* Built once, redacted (src/pprof/cmdline.h), shared by every request. */
void pg_pprof_handle_cmdline(struct pg_http_req *r, void *arg)
{
	if (routes_of(r, arg))
		pg_pprof_cmdline_reply(r);
}

struct rawq {
	struct pg_buf *b;
	int rc;
};

/* Rebuilds the raw query from the parsed arguments: the pprof client sends
 * the addresses as a bare "?0x1+0x2" key. The HTTP layer turns '+' into ' '
 * (see pg_http_req_query_each); a raw space cannot occur in a valid
 * request-target, so every ' ' was a '+'. */
static bool add_arg(void *arg, const char *key, const char *value)
{
	struct rawq *q = arg;

	if (q->rc == PG_OK && q->b->len)
		q->rc = pg_buf_puts(q->b, "&");
	for (const char *p = key; q->rc == PG_OK && *p; p++)
		q->rc = pg_buf_append(q->b, *p == ' ' ? "+" : p, 1);
	if (q->rc == PG_OK && value)
		q->rc = pg_buf_printf(q->b, "=%s", value);
	return q->rc == PG_OK;
}

/* Go's net/http/pprof Symbol: "num_symbols: 1", then "0xADDR name" for each
 * address that resolves (others are left out, as Go does). */
void pg_pprof_handle_symbol(struct pg_http_req *r, void *arg)
{
	struct pg_buf q, out;
	uint64_t *addrs = NULL;
	const char *src;
	size_t len = 0, n;
	int rc = PG_OK;

	if (!routes_of(r, arg))
		return;
	pg_buf_init(&q, PG_HTTP_QUERY_MAX + 1);
	pg_buf_init(&out, 4u << 20);
	src = pg_http_req_body(r, &len);
	if (strcmp(pg_http_req_method(r), "POST") != 0 || !src) {
		struct rawq rq = {&q, PG_OK};

		(void)pg_http_req_query_each(r, add_arg, &rq);
		if (rq.rc != PG_OK) {
			pg_err_clear();
			reply_msg(r, 400, "query too long");
			goto out;
		}
		src = q.data;
		len = q.len;
	}
	addrs = malloc(PG_PPROF_SYMBOL_MAX * sizeof(*addrs));
	if (!addrs) {
		reply_msg(r, 500, "out of memory");
		goto out;
	}
	n = pg_pprof_parse_symbol_addrs(src, len, addrs, PG_PPROF_SYMBOL_MAX);
	rc = pg_buf_puts(&out, "num_symbols: 1\n");
	for (size_t i = 0; i < n && rc == PG_OK; i++) {
		char name[512];

		if (addrs[i] > UINTPTR_MAX || pg_symbolize_name((uintptr_t)addrs[i], name, sizeof(name)) != PG_OK) {
			pg_err_clear();
			continue;
		}
		rc = pg_buf_printf(&out, "0x%llx %s\n", (unsigned long long)addrs[i], name);
	}
	if (rc == PG_OK)
		pg_http_reply_buf(r, 200, TEXT_PLAIN, &out);
	else
		reply_failure(r, rc, "symbol");
out:
	free(addrs);
	pg_buf_free(&q);
	pg_buf_free(&out);
}

/* ---- index ---------------------------------------------------------------- */

struct index_row {
	const char *name;
	const char *desc;
	const char *link; /* href relative to /debug/pprof/ */
};

/* Descriptions follow Go's net/http/pprof index, adapted to threads. */
static const struct index_row index_rows[] = {
	{"allocs", "A sampling of past memory allocations (tcmalloc keeps live ones only, so this equals heap "
		   "with alloc_space selected).", "allocs?debug=1"},
	{"block", "Stack traces of waits on the node's own locks (pg_mutex), sampled.", "block?debug=1"},
	{"cmdline", "The command line of the current process.", "cmdline"},
	{"goroutine", "Stack traces of all current threads (the C analogue of goroutines); debug=2 is a "
		      "per-thread dump.", "goroutine?debug=1"},
	{"heap", "A sampling of memory allocations of live objects. Add seconds=N for a delta.", "heap?debug=1"},
	{"mutex", "Stack traces of waiters on contended pg_mutex locks, sampled (the same data as block).", "mutex?debug=1"},
	{"profile", "CPU profile. Set seconds=N (default 30) in the query; download, then run go tool pprof "
		    "on the file.", "profile"},
	{"symbol", "Maps program counters to function names (pprof's remote symbolization).", "symbol"},
	{"threadcreate", "Stack traces that led to the creation of new threads.", "threadcreate?debug=1"},
	{"trace", "A time-boxed trace of the node's own events (HTTP, gRPC, object calls, profile captures) "
		  "as Chrome Trace Event JSON, not Go's execution trace: open the file in https://ui.perfetto.dev "
		  "or chrome://tracing; go tool trace cannot read it. Set seconds=N (default 1).",
	 "trace?seconds=1"},
};
#define N_INDEX (sizeof(index_rows) / sizeof(index_rows[0]))

static long count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Current count per profile, as Go's index shows (-1: not available). */
static long index_count(const char *name)
{
	if (strcmp(name, "goroutine") == 0)
		return count_threads();
	if (strcmp(name, "threadcreate") == 0) {
		struct pg_thread_creation *recs = calloc(64, sizeof(*recs));
		size_t n;
		long total = 0;

		if (!recs)
			return -1;
		n = pg_thread_creations(recs, 64, NULL);
		for (size_t i = 0; i < n && i < 64; i++)
			total += (long)recs[i].count;
		free(recs);
		return total;
	}
	if (strcmp(name, "heap") == 0 || strcmp(name, "allocs") == 0) {
		struct pg_heap_sample *s = NULL;
		long n;

		if (pg_heap_capture(&s) != PG_OK) {
			pg_err_clear();
			return -1;
		}
		n = (long)pg_heap_sample_records(s);
		pg_heap_sample_free(&s);
		return n;
	}
	if (strcmp(name, "mutex") == 0 || strcmp(name, "block") == 0) {
		int64_t c = 0, d = 0;
		uint64_t dr = 0;

		pg_contention_totals(&c, &d, &dr);
		return (long)c;
	}
	return 0;
}

void pg_pprof_handle_index(struct pg_http_req *r, void *arg)
{
	struct pg_buf b;
	char msg[200];
	long counts[N_INDEX];
	int debug, rc = PG_OK;

	if (!routes_of(r, arg))
		return;
	if (pg_pprof_parse_debug(pg_http_req_query(r, "debug"), 1, &debug, msg, sizeof(msg)) != PG_OK) {
		reply_msg(r, 400, msg);
		return;
	}
	for (size_t i = 0; i < N_INDEX; i++)
		counts[i] = index_count(index_rows[i].name);
	pg_buf_init(&b, 1 << 20);
	if (debug) {
		rc = pg_buf_puts(&b, "/debug/pprof/\n\nprofiles:\n");
		for (size_t i = 0; i < N_INDEX && rc == PG_OK; i++) {
			if (counts[i] < 0)
				rc = pg_buf_printf(&b, "%8s  %-13s %s\n", "-", index_rows[i].name, index_rows[i].desc);
			else
				rc = pg_buf_printf(&b, "%8ld  %-13s %s\n", counts[i], index_rows[i].name,
						   index_rows[i].desc);
		}
		if (rc == PG_OK)
			rc = pg_buf_puts(&b, "\nfull thread stack dump: /debug/pprof/goroutine?debug=2\n");
		if (rc == PG_OK)
			pg_http_reply_buf(r, 200, TEXT_PLAIN, &b);
	} else {
		rc = pg_buf_puts(&b, "<!DOCTYPE html>\n<html><head><title>/debug/pprof/</title></head><body>\n"
				     "/debug/pprof/<br>\n<p>Set debug=1 as a query parameter to export in legacy "
				     "text format</p>\nTypes of profiles available:\n<table>\n"
				     "<thead><td>Count</td><td>Profile</td></thead>\n");
		for (size_t i = 0; i < N_INDEX && rc == PG_OK; i++) {
			if (counts[i] < 0)
				rc = pg_buf_printf(&b, "<tr><td>-</td><td><a href='%s'>%s</a></td></tr>\n",
						   index_rows[i].link, index_rows[i].name);
			else
				rc = pg_buf_printf(&b, "<tr><td>%ld</td><td><a href='%s'>%s</a></td></tr>\n",
						   counts[i], index_rows[i].link, index_rows[i].name);
		}
		if (rc == PG_OK)
			rc = pg_buf_puts(&b, "</table>\n<a href='goroutine?debug=2'>full thread stack dump</a>\n<br>\n"
					     "<p>\nProfile Descriptions:\n<ul>\n");
		for (size_t i = 0; i < N_INDEX && rc == PG_OK; i++)
			rc = pg_buf_printf(&b, "<li><div class=profile-name>%s: </div> %s</li>\n", index_rows[i].name,
					   index_rows[i].desc);
		if (rc == PG_OK)
			rc = pg_buf_puts(&b, "</ul>\n</p>\n</body></html>\n");
		if (rc == PG_OK)
			pg_http_reply_buf(r, 200, "text/html; charset=utf-8", &b);
	}
	if (rc != PG_OK)
		reply_failure(r, rc, "index");
	pg_buf_free(&b);
}
