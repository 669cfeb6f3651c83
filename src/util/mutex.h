/* The project's mutex: a pthread mutex that feeds the contention (mutex and
 * block) profiles. An uncontended lock is one pthread_mutex_trylock; only a
 * lock that has to wait is timed and, sampled, recorded with the waiter's
 * stack by the hooks the profiler installs (src/pprof/contention.h), so this
 * module depends on nothing above src/util.
 *
 * The struct is public so it can be embedded and statically initialised;
 * its fields are private. Not recursive; the profiler's own tables use plain
 * pthread mutexes so recording never recurses. */
#ifndef PG_UTIL_MUTEX_H
#define PG_UTIL_MUTEX_H

#include <pthread.h>
#include <stdint.h>

#include "src/util/err.h"

struct pg_mutex {
	pthread_mutex_t mu;
};

#define PG_MUTEX_INITIALIZER { PTHREAD_MUTEX_INITIALIZER }

/* Contention hooks. should_sample() decides whether this wait is timed;
 * record() gets the wait and the number of frames above it that belong to
 * the mutex (to leave out of the stack). */
struct pg_mutex_hooks {
	int (*should_sample)(void);
	void (*record)(int64_t delay_ns, int skip);
};

/* Installs hooks (a static object; NULL: waits are not recorded). Any
 * thread, any time; locks already waiting finish with the old hooks. */
void pg_mutex_set_hooks(const struct pg_mutex_hooks *hooks);

PG_WUR int pg_mutex_init(struct pg_mutex *m);
void pg_mutex_lock(struct pg_mutex *m);
/* Returns 1 when the lock was taken, 0 when it is held elsewhere. */
int pg_mutex_trylock(struct pg_mutex *m);
void pg_mutex_unlock(struct pg_mutex *m);
/* The underlying pthread mutex, for pthread_cond_wait/timedwait only (a
 * condition wait's re-lock is not recorded). */
pthread_mutex_t *pg_mutex_raw(struct pg_mutex *m);
/* The mutex must be unlocked. NULL is ignored. */
void pg_mutex_destroy(struct pg_mutex *m);

#endif
