/* Contention profiles for the node's own locks (struct pg_mutex), the C
 * analogue of Go's /debug/pprof/mutex and /debug/pprof/block.
 *
 * When pg_mutex_lock() has to wait, one contention event in every `rate` is
 * timed and recorded with the waiting thread's stack. Values are scaled by
 * the rate at record time (as Go's pprof scales by the mutex profile
 * fraction), so they estimate the totals. Go's mutex profile attributes the
 * delay to the unlocker's stack; this one, like Go's block profile, uses the
 * waiter's stack, so both routes serve the same data.
 *
 * Process-global, thread-safe, bounded to PG_CONTENTION_MAX distinct stacks;
 * events on further new stacks are counted as dropped (shown as a comment). */
#ifndef PG_PPROF_CONTENTION_H
#define PG_PPROF_CONTENTION_H

#include <stdint.h>

#include "src/util/buf.h"
#include "src/util/err.h"

#define PG_CONTENTION_MAX 512
#define PG_CONTENTION_DEPTH 32
#define PG_CONTENTION_DEFAULT_RATE 1

/* Makes every struct pg_mutex report its waits here (pg_mutex_set_hooks);
 * pg_pprof_routes_new calls it. Idempotent. */
void pg_contention_install(void);

/* 0 disables recording (like runtime.SetMutexProfileFraction(0)); n > 0
 * records one contention event in n. Returns the previous rate. */
int pg_contention_set_rate(int rate);
int pg_contention_rate(void);

/* For pg_mutex: decides whether this contention event is sampled. */
int pg_contention_should_sample(void);
/* For pg_mutex: records a sampled wait of delay_ns with the caller's stack,
 * leaving out `skip` frames above this function. */
void pg_contention_record(int64_t delay_ns, int skip);

/* Forgets all records (for tests and after a reset request). */
void pg_contention_reset(void);

/* Totals so far (scaled) and events dropped because the table was full. */
void pg_contention_totals(int64_t *contentions, int64_t *delay_ns, uint64_t *dropped);

/* Go's /debug/pprof/mutex and /debug/pprof/block: debug=0 appends a gzipped
 * profile.proto (contentions/count, delay/nanoseconds) to out; debug>0
 * appends Go's legacy text ("--- mutex:" / "--- contention:" header, then
 * "<delay> <count> @ pcs" and "#\t0x..\tfunc+0x..\tfile:line" lines).
 * *content_type receives a static string. */
PG_WUR int pg_pprof_mutex(int debug, struct pg_buf *out, const char **content_type);
PG_WUR int pg_pprof_block(int debug, struct pg_buf *out, const char **content_type);

#endif
