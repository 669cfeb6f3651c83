#include "src/util/mutex.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/util/clock.h"

static _Atomic(const struct pg_mutex_hooks *) g_hooks;

void pg_mutex_set_hooks(const struct pg_mutex_hooks *hooks)
{
	atomic_store_explicit(&g_hooks, hooks, memory_order_release);
}

int pg_mutex_init(struct pg_mutex *m)
{
	int rc = pthread_mutex_init(&m->mu, NULL);

	if (rc != 0)
		return pg_fail(PG_ENOMEM, "pthread_mutex_init: %s", strerror(rc));
	return PG_OK;
}

/* A failing lock or unlock on a valid mutex is a bug (corruption, unlock by a
 * non-owner); continuing would break mutual exclusion. */
static void die(const char *what, int rc)
{
	fprintf(stderr, "pprofgate: %s failed: %s\n", what, strerror(rc));
	abort();
}

/* Kept out of line so the fast path stays a trylock and a branch. */
__attribute__((noinline)) static void lock_slow(struct pg_mutex *m)
{
	const struct pg_mutex_hooks *h = atomic_load_explicit(&g_hooks, memory_order_acquire);
	int64_t t0;
	int rc;

	if (!h || !h->should_sample()) {
		rc = pthread_mutex_lock(&m->mu);
		if (rc != 0)
			die("pthread_mutex_lock", rc);
		return;
	}
	t0 = pg_clock_mono_ns();
	rc = pthread_mutex_lock(&m->mu);
	if (rc != 0)
		die("pthread_mutex_lock", rc);
	/* Skip lock_slow and pg_mutex_lock: the stack starts at the waiter. */
	h->record(pg_clock_mono_ns() - t0, 2);
	/* No tail calls: the skipped frames must really be on the stack. */
	__asm__ __volatile__("" ::: "memory");
}

void pg_mutex_lock(struct pg_mutex *m)
{
	if (pthread_mutex_trylock(&m->mu) == 0)
		return;
	lock_slow(m);
	__asm__ __volatile__("" ::: "memory");
}

int pg_mutex_trylock(struct pg_mutex *m)
{
	return pthread_mutex_trylock(&m->mu) == 0;
}

void pg_mutex_unlock(struct pg_mutex *m)
{
	int rc = pthread_mutex_unlock(&m->mu);

	if (rc != 0)
		die("pthread_mutex_unlock", rc);
}

pthread_mutex_t *pg_mutex_raw(struct pg_mutex *m)
{
	return &m->mu;
}

void pg_mutex_destroy(struct pg_mutex *m)
{
	if (m)
		(void)pthread_mutex_destroy(&m->mu);
}
