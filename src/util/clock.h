/* The clocks: monotonic time for durations and deadlines (immune to the wall
 * clock being set), wall time for timestamps shown to people and tools. */
#ifndef PG_UTIL_CLOCK_H
#define PG_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds and milliseconds. */
int64_t pg_clock_mono_ns(void);
int64_t pg_clock_mono_ms(void);

/* CLOCK_REALTIME in nanoseconds since the Unix epoch. */
int64_t pg_clock_wall_ns(void);

/* The absolute time `ms` from now on `clk`, for pthread_cond_timedwait (on a
 * condition variable set to that clock) or sem_timedwait (CLOCK_REALTIME). */
struct timespec pg_clock_deadline(clockid_t clk, int64_t ms);

#endif
