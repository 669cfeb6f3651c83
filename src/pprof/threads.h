/* Thread stacks: the C analogue of Go's goroutine profile, and the
 * threadcreate profile.
 *
 * A dump lists /proc/self/task, sends each other thread a real-time signal
 * (PG_THREADS_SIGNAL) with tgkill and waits, bounded, for its handler to
 * record its stack (backtrace()) into a preallocated slot. Threads that block
 * the signal, or do not answer within the timeout, are reported with no stack
 * ("stack unavailable"). Dumps are serialized by a mutex.
 *
 * Side effect: a blocking system call in a signalled thread may return EINTR
 * (the handler is installed with SA_RESTART, but e.g. epoll_wait and
 * nanosleep are never restarted); project code must retry on EINTR. */
#ifndef PG_PPROF_THREADS_H
#define PG_PPROF_THREADS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "src/util/buf.h"
#include "src/util/err.h"

#define PG_THREADS_MAX 512
#define PG_THREADS_DEPTH 64
#define PG_THREADS_SIGNAL (SIGRTMIN + 5)
#define PG_THREADS_TIMEOUT_MS 500

enum pg_thread_stack_state {
	PG_THREAD_STACK_OK = 0,
	PG_THREAD_STACK_BLOCKED = 1, /* the thread blocks PG_THREADS_SIGNAL */
	PG_THREAD_STACK_TIMEOUT = 2  /* no answer within the timeout */
};

struct pg_thread_stack {
	pid_t tid;
	char name[16];
	int state;         /* enum pg_thread_stack_state */
	int leaf_is_pc;    /* pcs[0] is the interrupted PC */
	size_t depth;      /* 0 unless state is OK */
	uintptr_t pcs[PG_THREADS_DEPTH];
};

/* Captures every thread's stack (the calling thread's too). On success *out
 * is a malloc'd array of *n entries sorted by tid: the caller frees it with
 * free(). timeout_ms bounds the whole wait (<= 0: PG_THREADS_TIMEOUT_MS).
 * More than PG_THREADS_MAX threads: the rest are left out. */
PG_WUR int pg_threads_capture(struct pg_thread_stack **out, size_t *n, int timeout_ms);

/* Go's /debug/pprof/goroutine for threads. debug=0: gzipped profile.proto,
 * sample type goroutine/count, label "thread" = thread name, aggregated by
 * stack; debug=1: "thread profile: total N" then "N @ pcs" and
 * "#\t0x..\tfunc+0x..\tfile:line" groups; debug>=2: a readable per-thread
 * dump ("thread TID [name]:" then "func(...)\n\tfile:line" frames).
 * Appends to out; *content_type receives a static string. */
PG_WUR int pg_pprof_goroutine(int debug, struct pg_buf *out, const char **content_type);

/* Go's /debug/pprof/threadcreate: the stacks that created threads through
 * pg_thread_create() (src/util/thread.h), sample type threadcreate/count;
 * debug>0 gives the legacy text. */
PG_WUR int pg_pprof_threadcreate(int debug, struct pg_buf *out, const char **content_type);

#endif
