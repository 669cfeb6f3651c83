/* Project threads. Every thread of pprofgate is created through
 * pg_thread_create(), which names it (visible in /proc, gdb, top -H and the
 * thread profile) and records the creating stack for the threadcreate
 * profile, like Go's runtime records where each OS thread was started.
 *
 * The creation table is process-global, bounded (PG_THREAD_CREATE_MAX
 * distinct stacks; further new stacks are counted as dropped) and
 * thread-safe. */
#ifndef PG_UTIL_THREAD_H
#define PG_UTIL_THREAD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "src/util/err.h"

/* Linux limits thread names (comm) to 15 bytes plus NUL; longer names are cut. */
#define PG_THREAD_NAME_MAX 16
#define PG_THREAD_CREATE_DEPTH 32
#define PG_THREAD_CREATE_MAX 256

/* Starts fn(arg) on a new joinable thread named `name` (may be NULL). The
 * caller joins or detaches *t as with pthread_create. */
PG_WUR int pg_thread_create(pthread_t *t, const char *name, void *(*fn)(void *), void *arg);

/* Names the calling thread (cut to 15 bytes). */
void pg_thread_set_name(const char *name);

/* Reads the name of thread `tid` of this process from /proc ("" when it
 * cannot be read, e.g. the thread has exited). */
void pg_thread_name_of(pid_t tid, char name[PG_THREAD_NAME_MAX]);

/* One distinct creating stack (return addresses, leaf first: the caller of
 * pg_thread_create) with the name given and how many threads it created. */
struct pg_thread_creation {
	uintptr_t pcs[PG_THREAD_CREATE_DEPTH];
	size_t depth;
	uint64_t count;
	char name[PG_THREAD_NAME_MAX];
};

/* Copies up to `max` records into `out` and returns how many there are in
 * total (may exceed max). *dropped (may be NULL) receives the number of
 * creations not recorded because the table was full. */
size_t pg_thread_creations(struct pg_thread_creation *out, size_t max, uint64_t *dropped);

#endif
