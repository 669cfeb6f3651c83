/* Thread stacks (goroutine profile analogue) and the threadcreate profile. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "src/pprof/threads.h"
#include "src/util/thread.h"
#include "tests/unit/test.h"

#define N_WORKERS 3

static int park_pipe[2];
static _Atomic int started;
static _Atomic pid_t worker_tids[N_WORKERS + 1];

/* Workers wait here until the pipe closes; the dump must find this frame. */
__attribute__((noinline)) static void parked_here(void)
{
	char c;

	while (read(park_pipe[0], &c, 1) < 0)
		; /* EINTR from the dump signal */
	__asm__ __volatile__("" ::: "memory");
}

static void *worker(void *arg)
{
	int idx = (int)(intptr_t)arg;

	worker_tids[idx] = (pid_t)syscall(SYS_gettid);
	started++;
	parked_here();
	return NULL;
}

/* Blocks the dump signal, so it must be reported without a stack. */
static void *blocking_worker(void *arg)
{
	sigset_t s;

	(void)arg;
	sigemptyset(&s);
	sigaddset(&s, PG_THREADS_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	worker_tids[N_WORKERS] = (pid_t)syscall(SYS_gettid);
	started++;
	parked_here();
	return NULL;
}

static pthread_t th[N_WORKERS + 1];

__attribute__((noinline)) static void start_workers(void)
{
	char name[16];

	CHECK_INT(pipe(park_pipe), 0);
	for (int i = 0; i < N_WORKERS; i++) {
		snprintf(name, sizeof(name), "pgtest-w%d", i);
		CHECK_INT(pg_thread_create(&th[i], name, worker, (void *)(intptr_t)i), PG_OK);
	}
	CHECK_INT(pg_thread_create(&th[N_WORKERS], "pgtest-blk", blocking_worker, NULL), PG_OK);
	while (started < N_WORKERS + 1)
		usleep(1000);
	usleep(20000); /* let them reach read() */
}

static void stop_workers(void)
{
	close(park_pipe[1]);
	for (int i = 0; i <= N_WORKERS; i++)
		pthread_join(th[i], NULL);
	close(park_pipe[0]);
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

static int stack_has_fn(const struct pg_thread_stack *s, void (*fn)(void))
{
	uintptr_t lo = (uintptr_t)fn;

	for (size_t i = 0; i < s->depth; i++)
		if (s->pcs[i] >= lo && s->pcs[i] < lo + 256)
			return 1;
	return 0;
}

static const struct pg_thread_stack *find(const struct pg_thread_stack *v, size_t n, pid_t tid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].tid == tid)
			return &v[i];
	return NULL;
}

static void test_create_rejects_bad_args(void)
{
	pthread_t t;

	CHECK_INT(pg_thread_create(&t, "x", NULL, NULL), PG_EINVAL);
	CHECK_INT(pg_thread_create(NULL, "x", worker, NULL), PG_EINVAL);
}

static void test_capture_finds_workers(void)
{
	struct pg_thread_stack *v = NULL;
	size_t n = 0;

	CHECK_INT(pg_threads_capture(&v, &n, 2000), PG_OK);
	CHECK(n >= N_WORKERS + 2);
	for (int i = 0; i < N_WORKERS; i++) {
		const struct pg_thread_stack *s = find(v, n, worker_tids[i]);
		char want[16];

		CHECK(s != NULL);
		if (!s)
			continue;
		snprintf(want, sizeof(want), "pgtest-w%d", i);
		CHECK_STR(s->name, want);
		CHECK_INT(s->state, PG_THREAD_STACK_OK);
		CHECK(s->depth > 0);
		CHECK(stack_has_fn(s, parked_here));
	}
	{
		const struct pg_thread_stack *s = find(v, n, worker_tids[N_WORKERS]);

		CHECK(s != NULL);
		if (s) {
			CHECK_INT(s->state, PG_THREAD_STACK_BLOCKED);
			CHECK_INT(s->depth, 0);
			CHECK_STR(s->name, "pgtest-blk");
		}
	}
	/* The calling thread is captured without a signal. */
	{
		const struct pg_thread_stack *s = find(v, n, (pid_t)syscall(SYS_gettid));

		CHECK(s != NULL && s->depth > 0);
	}
	free(v);
}

static void test_goroutine_text_outputs(void)
{
	struct pg_buf b;
	const char *ct = NULL;
	char want[64];

	pg_buf_init(&b, 1 << 22);
	CHECK_INT(pg_pprof_goroutine(1, &b, &ct), PG_OK);
	CHECK_STR(ct, "text/plain; charset=utf-8");
	CHECK_CONTAINS(b.data, "thread profile: total ");
	/* The three parked workers share one stack. */
	CHECK_CONTAINS(b.data, "\n3 @ 0x");
	CHECK_CONTAINS(b.data, "#\t0x");
	CHECK_CONTAINS(b.data, "[pgtest-blk]: stack unavailable (signal blocked)");
	pg_buf_reset(&b);

	CHECK_INT(pg_pprof_goroutine(2, &b, &ct), PG_OK);
	snprintf(want, sizeof(want), "thread %d [pgtest-w1]:\n", (int)worker_tids[1]);
	CHECK_CONTAINS(b.data, want);
	CHECK_CONTAINS(b.data, "(...)\n\t");
	snprintf(want, sizeof(want), "thread %d [pgtest-blk]:\nstack unavailable", (int)worker_tids[N_WORKERS]);
	CHECK_CONTAINS(b.data, want);
	pg_buf_reset(&b);

	CHECK_INT(pg_pprof_goroutine(0, &b, &ct), PG_OK);
	CHECK_STR(ct, "application/octet-stream");
	CHECK(b.len > 2 && (unsigned char)b.data[0] == 0x1f && (unsigned char)b.data[1] == 0x8b);
	save_profile("goroutine.pb.gz", &b);
	pg_buf_free(&b);
}

static void test_output_bound_is_enforced(void)
{
	struct pg_buf b;
	const char *ct = NULL;

	pg_buf_init(&b, 64);
	CHECK_INT(pg_pprof_goroutine(2, &b, &ct), PG_ENOMEM);
	pg_buf_free(&b);
}

static void *dumper(void *arg)
{
	struct pg_thread_stack *v = NULL;
	size_t n = 0;

	*(int *)arg = pg_threads_capture(&v, &n, 2000) == PG_OK && n > 0;
	free(v);
	return NULL;
}

static void test_concurrent_dumps_serialize(void)
{
	pthread_t a, b;
	int ok_a = 0, ok_b = 0;

	CHECK_INT(pthread_create(&a, NULL, dumper, &ok_a), 0);
	CHECK_INT(pthread_create(&b, NULL, dumper, &ok_b), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	CHECK(ok_a && ok_b);
}

static void test_threadcreate(void)
{
	struct pg_thread_creation c[PG_THREAD_CREATE_MAX];
	uint64_t dropped = 99;
	size_t n = pg_thread_creations(c, PG_THREAD_CREATE_MAX, &dropped);
	uint64_t workers = 0;
	struct pg_buf b;
	const char *ct;

	CHECK_INT(dropped, 0);
	for (size_t i = 0; i < n; i++)
		if (strncmp(c[i].name, "pgtest-w", 8) == 0) {
			workers += c[i].count;
			CHECK(c[i].depth > 0);
		}
	CHECK_INT(workers, N_WORKERS);
	pg_buf_init(&b, 1 << 20);
	CHECK_INT(pg_pprof_threadcreate(1, &b, &ct), PG_OK);
	CHECK_CONTAINS(b.data, "threadcreate profile: total 4\n");
	CHECK_CONTAINS(b.data, "# name: pgtest-blk");
	pg_buf_reset(&b);
	CHECK_INT(pg_pprof_threadcreate(0, &b, &ct), PG_OK);
	CHECK(b.len > 2 && (unsigned char)b.data[0] == 0x1f);
	save_profile("threadcreate.pb.gz", &b);
	pg_buf_free(&b);
}

static void test_set_name_cuts_long_names(void)
{
	char name[32];

	pg_thread_set_name("a-very-long-thread-name-indeed");
	CHECK_INT(pthread_getname_np(pthread_self(), name, sizeof(name)), 0);
	CHECK_STR(name, "a-very-long-thr");
}

int main(void)
{
	RUN(test_create_rejects_bad_args);
	start_workers();
	RUN(test_capture_finds_workers);
	RUN(test_goroutine_text_outputs);
	RUN(test_output_bound_is_enforced);
	RUN(test_concurrent_dumps_serialize);
	RUN(test_threadcreate);
	stop_workers();
	RUN(test_set_name_cuts_long_names);
	TEST_END();
}
