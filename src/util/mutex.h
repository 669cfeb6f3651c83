/* The project's mutex: a pthread mutex that feeds the contention (mutex and
 * block) profiles. An uncontended lock is one pthread_mutex_trylock; only a
 * lock that has to wait is timed and, sampled, recorded with the waiter's
 * stack (see src/pprof/contention.h).
 *
 * The struct is public so it can be embedded and statically initialised;
 * its fields are private. Not recursive; the profiler's own tables use plain
 * pthread mutexes so recording never recurses. */
#ifndef PG_UTIL_MUTEX_H
#define PG_UTIL_MUTEX_H

#include <pthread.h>

#include "src/util/err.h"

struct pg_mutex {
	pthread_mutex_t mu;
};

#define PG_MUTEX_INITIALIZER { PTHREAD_MUTEX_INITIALIZER }

PG_WUR int pg_mutex_init(struct pg_mutex *m);
void pg_mutex_lock(struct pg_mutex *m);
/* Returns 1 when the lock was taken, 0 when it is held elsewhere. */
int pg_mutex_trylock(struct pg_mutex *m);
void pg_mutex_unlock(struct pg_mutex *m);
/* The mutex must be unlocked. NULL is ignored. */
void pg_mutex_destroy(struct pg_mutex *m);

#endif
