/* CPU profiles, as Go's /debug/pprof/profile?seconds=N serves them.
 *
 * Sampling is gperftools' CPU profiler (SIGPROF, all threads), which is
 * process-global: exactly one capture runs at a time. The profiler writes its
 * legacy binary format to a private temporary file; at the end the file is
 * parsed, symbolized in-process and written as gzipped profile.proto with
 * sample types samples/count and cpu/nanoseconds (the types Go uses).
 *
 * How an HTTP handler uses it without pinning a worker thread:
 *
 *     struct pg_pprof_cpu *cap;
 *     int64_t busy_until;
 *     rc = pg_pprof_cpu_start(seconds, 0, tmpdir, &cap, &busy_until);
 *     // PG_EBUSY: answer 500 "cpu profiling already in use" (as Go does);
 *     //   busy_until says when the running capture ends (Retry-After).
 *     // PG_EUNSUP: this build has no CPU profiler (sanitizer build): 501.
 *     // PG_OK: suspend the connection; arm a timer for
 *     //   pg_pprof_cpu_deadline_ns(cap) (CLOCK_MONOTONIC).
 *     // client went away -> pg_pprof_cpu_cancel(&cap);
 *     // timer fired     -> pg_pprof_cpu_finish(&cap, &body);  (tens of ms:
 *     //   parse + symbolize + gzip; run it off the event loop if needed)
 *     //   then resume the connection and send body as
 *     //   application/octet-stream.
 *
 * Every started capture must end in exactly one finish() or cancel(); both
 * take any thread, free the handle and set it to NULL. finish() before the
 * deadline is allowed and just yields a shorter profile. A new capture can
 * start as soon as finish()/cancel() has stopped the profiler (before the
 * encoding in finish() is done). */
#ifndef PG_PPROF_CPU_H
#define PG_PPROF_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "src/pprof/profile.h"
#include "src/util/buf.h"
#include "src/util/err.h"

#define PG_PPROF_CPU_MAX_SECONDS 3600

struct pg_pprof_cpu;

/* Starts a capture of `seconds` (1..PG_PPROF_CPU_MAX_SECONDS). `hz` is 0 for
 * the profiler's rate, or must equal it: gperftools fixes the rate at
 * process start from CPUPROFILE_FREQUENCY (default 100). `tmpdir` (NULL:
 * $TMPDIR or /tmp) receives a private 0700 directory holding the raw file
 * while the capture runs; both are removed by finish/cancel.
 * Returns PG_OK with *out, PG_EBUSY when a capture is already running
 * (*busy_until_unix_ns, if not NULL, gets the wall-clock time it ends),
 * PG_EUNSUP in builds without the profiler, PG_EINVAL, PG_EIO. */
PG_WUR int pg_pprof_cpu_start(unsigned seconds, unsigned hz, const char *tmpdir,
			      struct pg_pprof_cpu **out, int64_t *busy_until_unix_ns);

/* CLOCK_MONOTONIC time (ns) at which the capture should be finished. */
int64_t pg_pprof_cpu_deadline_ns(const struct pg_pprof_cpu *c);

/* Stops the capture and appends the gzipped profile.proto to `out`. The
 * handle is freed and *pc set to NULL whatever the result. */
PG_WUR int pg_pprof_cpu_finish(struct pg_pprof_cpu **pc, struct pg_buf *out);

/* Stops the capture and discards it. NULL and *pc == NULL are fine. */
void pg_pprof_cpu_cancel(struct pg_pprof_cpu **pc);

/* Parses gperftools' legacy CPU profile (native 64-bit words: header
 * {0, 3, 0, period_us, 0}, records {count, depth, pc[depth]}, trailer
 * {0, 1, 0}, then the text of /proc/self/maps, which is ignored: mappings
 * are read live when the profile is written). Adds the sample types
 * samples/count and cpu/nanoseconds, the period and every record to `p`,
 * which must have no sample types yet. A pure function of the bytes:
 * returns PG_EPROTO for anything malformed or truncated. */
PG_WUR int pg_pprof_cpu_parse_legacy(const uint8_t *data, size_t n, struct pg_profile *p);

#endif
