#define _GNU_SOURCE
#include "src/pprof/threads.h"

#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "src/pprof/profile.h"
#include "src/pprof/stacktext.h"
#include "src/util/clock.h"
#include "src/util/mutex.h"
#include "src/util/thread.h"

/* Slot life cycle. The dumper arms slots FREE -> PENDING; the handler claims
 * PENDING -> BUSY and publishes BUSY -> DONE; at the deadline the dumper
 * abandons PENDING -> FREE, so a late handler finds nothing to claim and
 * never writes into a slot being read. */
enum { SLOT_FREE, SLOT_PENDING, SLOT_BUSY, SLOT_DONE };

struct slot {
	_Atomic pid_t tid;
	_Atomic int state;
	int depth;
	uintptr_t pc;
	void *frames[PG_THREADS_DEPTH + 4];
};

static struct slot slots[PG_THREADS_MAX];
static _Atomic int n_armed;
static sem_t answered;
static struct pg_mutex dump_mu = PG_MUTEX_INITIALIZER;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_rc = PG_OK;
static char install_err[128];

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static uintptr_t context_pc(void *uctx)
{
#if defined(__x86_64__)
	return (uintptr_t)((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	return (uintptr_t)((ucontext_t *)uctx)->uc_mcontext.pc;
#else
	(void)uctx;
	return 0;
#endif
}

/* Async-signal-safe: gettid, atomics, backtrace (its one-time library load
 * is done by install() beforehand), sem_post. */
static void on_signal(int sig, siginfo_t *si, void *uctx)
{
	int saved = errno, n = atomic_load(&n_armed);
	pid_t tid = my_tid();

	(void)sig;
	(void)si;
	for (int i = 0; i < n; i++) {
		struct slot *s = &slots[i];
		int expect = SLOT_PENDING;

		if (atomic_load(&s->tid) != tid)
			continue;
		if (!atomic_compare_exchange_strong(&s->state, &expect, SLOT_BUSY))
			break;
		s->depth = backtrace(s->frames, (int)(sizeof(s->frames) / sizeof(s->frames[0])));
		s->pc = context_pc(uctx);
		atomic_store(&s->state, SLOT_DONE);
		sem_post(&answered);
		break;
	}
	errno = saved;
}

static void install(void)
{
	struct sigaction sa;
	void *warm[2];

	/* backtrace() loads libgcc_s on first use: not in a signal handler. */
	(void)backtrace(warm, 2);
	if (sem_init(&answered, 0, 0) != 0) {
		snprintf(install_err, sizeof(install_err), "sem_init: %s", strerror(errno));
		install_rc = PG_EINTERNAL;
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(PG_THREADS_SIGNAL, &sa, NULL) != 0) {
		snprintf(install_err, sizeof(install_err), "sigaction: %s", strerror(errno));
		install_rc = PG_EINTERNAL;
	}
}

/* Whether the thread blocks `sig`, from the SigBlk mask in its status. */
static int blocks_signal(pid_t tid, int sig)
{
	char path[64], buf[2048];
	unsigned long long mask;
	const char *p;
	char *end;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nSigBlk:");
	if (!p)
		return 0;
	errno = 0;
	mask = strtoull(p + 8, &end, 16);
	if (errno || end == p + 8)
		return 0;
	return (mask >> (sig - 1)) & 1;
}

/* A thread still returning from the previous dump's handler has the signal
 * masked for a few microseconds; only a mask that persists means the thread
 * blocks it. */
static int blocked_for_good(pid_t tid)
{
	for (int i = 0; i < 5; i++) {
		if (!blocks_signal(tid, PG_THREADS_SIGNAL))
			return 0;
		usleep(2000);
	}
	return 1;
}

static int by_tid(const void *a, const void *b)
{
	const struct pg_thread_stack *x = a, *y = b;

	return (x->tid > y->tid) - (x->tid < y->tid);
}

static int list_tids(pid_t *tids, size_t max, size_t *n)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	size_t k = 0;

	if (!d)
		return pg_fail(PG_EIO, "cannot list /proc/self/task: %s", strerror(errno));
	while ((e = readdir(d)) && k < max) {
		char *end;
		long v;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		errno = 0;
		v = strtol(e->d_name, &end, 10);
		if (errno || *end || v <= 0)
			continue;
		tids[k++] = (pid_t)v;
	}
	closedir(d);
	*n = k;
	return PG_OK;
}

/* Copies a handler's frames into st, dropping the handler and signal frames:
 * the stack starts at the interrupted PC when the unwinder reports it. */
static void take_frames(struct pg_thread_stack *st, const struct slot *s)
{
	int first = -1, n = s->depth;

	for (int i = 0; i < n; i++)
		if ((uintptr_t)s->frames[i] == s->pc) {
			first = i;
			break;
		}
	st->leaf_is_pc = first >= 0;
	if (first < 0)
		first = n > 2 ? 2 : n; /* on_signal, then the signal trampoline */
	st->depth = 0;
	for (int i = first; i < n && st->depth < PG_THREADS_DEPTH; i++)
		st->pcs[st->depth++] = (uintptr_t)s->frames[i];
}

__attribute__((noinline)) int pg_threads_capture(struct pg_thread_stack **out, size_t *n_out,
						 int timeout_ms)
{
	pid_t *tids = NULL, self = my_tid();
	struct pg_thread_stack *v = NULL;
	size_t n = 0;
	int rc, armed = 0, slot_of[PG_THREADS_MAX];
	int64_t deadline;

	*out = NULL;
	*n_out = 0;
	pthread_once(&install_once, install);
	if (install_rc != PG_OK)
		return pg_fail(install_rc, "thread dump unavailable: %s", install_err);
	if (timeout_ms <= 0)
		timeout_ms = PG_THREADS_TIMEOUT_MS;
	tids = malloc(PG_THREADS_MAX * sizeof(*tids));
	v = calloc(PG_THREADS_MAX, sizeof(*v));
	if (!tids || !v) {
		rc = pg_fail(PG_ENOMEM, "thread dump: out of memory");
		goto out;
	}
	rc = list_tids(tids, PG_THREADS_MAX, &n);
	if (rc != PG_OK)
		goto out;

	pg_mutex_lock(&dump_mu);
	while (sem_trywait(&answered) == 0)
		; /* answers left over from an earlier dump */
	for (size_t i = 0; i < n; i++) {
		struct pg_thread_stack *st = &v[i];

		st->tid = tids[i];
		pg_thread_name_of(st->tid, st->name);
		slot_of[i] = -1;
		if (st->tid == self) {
			void *frames[PG_THREADS_DEPTH];
			int d = backtrace(frames, PG_THREADS_DEPTH);

			for (int k = 0; k < d; k++)
				st->pcs[st->depth++] = (uintptr_t)frames[k];
			continue;
		}
		if (blocked_for_good(st->tid)) {
			st->state = PG_THREAD_STACK_BLOCKED;
			continue;
		}
		atomic_store(&slots[armed].tid, st->tid);
		atomic_store(&slots[armed].state, SLOT_PENDING);
		slot_of[i] = armed++;
	}
	atomic_store(&n_armed, armed);
	for (size_t i = 0; i < n; i++) {
		if (slot_of[i] < 0)
			continue;
		if (syscall(SYS_tgkill, (int)getpid(), (int)v[i].tid, PG_THREADS_SIGNAL) != 0) {
			int expect = SLOT_PENDING;

			/* ESRCH: the thread exited since the listing. */
			atomic_compare_exchange_strong(&slots[slot_of[i]].state, &expect, SLOT_FREE);
			v[i].tid = 0;
		}
	}
	deadline = pg_clock_mono_ms() + timeout_ms;
	for (;;) {
		int pending = 0;
		struct timespec ts;
		int64_t left;

		for (int k = 0; k < armed; k++)
			pending += atomic_load(&slots[k].state) == SLOT_PENDING ||
				   atomic_load(&slots[k].state) == SLOT_BUSY;
		left = deadline - pg_clock_mono_ms();
		if (pending == 0 || left <= 0)
			break;
		ts = pg_clock_deadline(CLOCK_REALTIME, left); /* sem_timedwait */
		(void)sem_timedwait(&answered, &ts);
	}
	for (size_t i = 0; i < n; i++) {
		struct slot *s;
		int expect = SLOT_PENDING;

		if (slot_of[i] < 0)
			continue;
		s = &slots[slot_of[i]];
		if (atomic_compare_exchange_strong(&s->state, &expect, SLOT_FREE)) {
			v[i].state = PG_THREAD_STACK_TIMEOUT;
			continue;
		}
		while (atomic_load(&s->state) == SLOT_BUSY)
			sched_yield(); /* the handler is mid-backtrace */
		if (atomic_load(&s->state) == SLOT_DONE)
			take_frames(&v[i], s);
		atomic_store(&s->state, SLOT_FREE);
	}
	atomic_store(&n_armed, 0);
	pg_mutex_unlock(&dump_mu);

	/* Drop threads that exited before they could be signalled. */
	{
		size_t k = 0;

		for (size_t i = 0; i < n; i++)
			if (v[i].tid != 0)
				v[k++] = v[i];
		n = k;
	}
	qsort(v, n, sizeof(*v), by_tid);
	*out = v;
	*n_out = n;
	v = NULL;
out:
	free(tids);
	free(v);
	return rc;
}

static const char *unavailable_reason(int state)
{
	return state == PG_THREAD_STACK_BLOCKED ? "signal blocked" : "no answer before timeout";
}

static int same_stack(const struct pg_thread_stack *a, const struct pg_thread_stack *b)
{
	return a->depth == b->depth && a->leaf_is_pc == b->leaf_is_pc &&
	       memcmp(a->pcs, b->pcs, a->depth * sizeof(a->pcs[0])) == 0;
}

static int write_goroutine_text(const struct pg_thread_stack *v, size_t n, struct pg_buf *out)
{
	char *done = calloc(n ? n : 1, 1);
	int rc;

	if (!done)
		return pg_fail(PG_ENOMEM, "thread profile: out of memory");
	rc = pg_buf_printf(out, "thread profile: total %zu\n", n);
	/* Group identical stacks in order of first appearance (Go sorts by count). */
	for (size_t i = 0; rc == PG_OK && i < n; i++) {
		size_t count = 0;

		if (done[i] || v[i].depth == 0)
			continue;
		for (size_t j = i; j < n; j++)
			if (!done[j] && same_stack(&v[i], &v[j])) {
				done[j] = 1;
				count++;
			}
		rc = pg_buf_printf(out, "%zu", count);
		if (rc == PG_OK)
			rc = pg_stacktext_at(out, v[i].pcs, v[i].depth);
		if (rc == PG_OK)
			rc = pg_stacktext_hash_lines(out, v[i].pcs, v[i].depth, v[i].leaf_is_pc);
		if (rc == PG_OK)
			rc = pg_buf_puts(out, "\n");
	}
	for (size_t i = 0; rc == PG_OK && i < n; i++)
		if (v[i].depth == 0)
			rc = pg_buf_printf(out, "# thread %d [%s]: stack unavailable (%s)\n",
					   (int)v[i].tid, v[i].name, unavailable_reason(v[i].state));
	free(done);
	return rc;
}

static int write_goroutine_dump(const struct pg_thread_stack *v, size_t n, struct pg_buf *out)
{
	int rc = PG_OK;

	for (size_t i = 0; rc == PG_OK && i < n; i++) {
		rc = pg_buf_printf(out, "thread %d [%s]:\n", (int)v[i].tid, v[i].name);
		if (rc != PG_OK)
			break;
		if (v[i].depth == 0)
			rc = pg_buf_printf(out, "stack unavailable (%s)\n",
					   unavailable_reason(v[i].state));
		else
			rc = pg_stacktext_frames(out, v[i].pcs, v[i].depth, v[i].leaf_is_pc);
		if (rc == PG_OK)
			rc = pg_buf_puts(out, "\n");
	}
	return rc;
}

static int write_goroutine_proto(const struct pg_thread_stack *v, size_t n, struct pg_buf *out)
{
	struct pg_profile *p = NULL;
	int rc = pg_profile_new(&p);

	if (rc != PG_OK)
		goto out;
	rc = pg_profile_add_sample_type(p, "goroutine", "count");
	if (rc == PG_OK)
		rc = pg_profile_set_period(p, "goroutine", "count", 1);
	if (rc == PG_OK)
		rc = pg_profile_add_comment(p, "threads of the process: each goroutine sample is an OS thread");
	if (rc != PG_OK)
		goto out;
	pg_profile_set_time(p, pg_clock_wall_ns(), 0);
	for (size_t i = 0; i < n; i++) {
		struct pg_profile_label l[2] = { { .key = "thread", .str = v[i].name },
						 { .key = "stack", .str = NULL } };
		int64_t one = 1;
		size_t nl = 1;

		if (v[i].depth == 0) {
			l[1].str = unavailable_reason(v[i].state);
			nl = 2;
		}
		rc = pg_profile_add_sample(p, v[i].pcs, v[i].depth, v[i].leaf_is_pc, &one, 1, l, nl);
		if (rc != PG_OK)
			goto out;
	}
	rc = pg_profile_write(p, out);
out:
	pg_profile_free(&p);
	return rc;
}

int pg_pprof_goroutine(int debug, struct pg_buf *out, const char **content_type)
{
	struct pg_thread_stack *v = NULL;
	size_t n = 0;
	int rc = pg_threads_capture(&v, &n, 0);

	if (rc != PG_OK)
		return rc;
	if (debug >= 2) {
		*content_type = "text/plain; charset=utf-8";
		rc = write_goroutine_dump(v, n, out);
	} else if (debug == 1) {
		*content_type = "text/plain; charset=utf-8";
		rc = write_goroutine_text(v, n, out);
	} else {
		*content_type = "application/octet-stream";
		rc = write_goroutine_proto(v, n, out);
	}
	free(v);
	return rc;
}

int pg_pprof_threadcreate(int debug, struct pg_buf *out, const char **content_type)
{
	struct pg_thread_creation *c = malloc(PG_THREAD_CREATE_MAX * sizeof(*c));
	struct pg_profile *p = NULL;
	uint64_t dropped = 0, total = 0;
	size_t n;
	int rc = PG_OK;

	if (!c)
		return pg_fail(PG_ENOMEM, "threadcreate profile: out of memory");
	n = pg_thread_creations(c, PG_THREAD_CREATE_MAX, &dropped);
	if (n > PG_THREAD_CREATE_MAX)
		n = PG_THREAD_CREATE_MAX;
	for (size_t i = 0; i < n; i++)
		total += c[i].count;
	if (debug > 0) {
		*content_type = "text/plain; charset=utf-8";
		rc = pg_buf_printf(out, "threadcreate profile: total %llu\n",
				   (unsigned long long)(total + dropped));
		for (size_t i = 0; rc == PG_OK && i < n; i++) {
			rc = pg_buf_printf(out, "%llu", (unsigned long long)c[i].count);
			if (rc == PG_OK)
				rc = pg_stacktext_at(out, c[i].pcs, c[i].depth);
			if (rc == PG_OK)
				rc = pg_stacktext_hash_lines(out, c[i].pcs, c[i].depth, 0);
			if (rc == PG_OK)
				rc = pg_buf_printf(out, "# name: %s\n\n", c[i].name);
		}
		if (rc == PG_OK && dropped)
			rc = pg_buf_printf(out, "# %llu creations not recorded: table full\n",
					   (unsigned long long)dropped);
		goto out;
	}
	*content_type = "application/octet-stream";
	rc = pg_profile_new(&p);
	if (rc == PG_OK)
		rc = pg_profile_add_sample_type(p, "threadcreate", "count");
	if (rc == PG_OK)
		rc = pg_profile_set_period(p, "threadcreate", "count", 1);
	if (rc != PG_OK)
		goto out;
	pg_profile_set_time(p, pg_clock_wall_ns(), 0);
	for (size_t i = 0; i < n; i++) {
		struct pg_profile_label l = { .key = "thread", .str = c[i].name };
		int64_t cnt = (int64_t)c[i].count;

		rc = pg_profile_add_sample(p, c[i].pcs, c[i].depth, 0, &cnt, 1, &l, 1);
		if (rc != PG_OK)
			goto out;
	}
	rc = pg_profile_write(p, out);
out:
	pg_profile_free(&p);
	free(c);
	return rc;
}
