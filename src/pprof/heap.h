/* Heap profiles from tcmalloc's sampled heap: Go's /debug/pprof/heap and
 * /debug/pprof/allocs.
 *
 * tcmalloc (gperftools 2.10) samples about one allocation per
 * TCMALLOC_SAMPLE_PARAMETER bytes (the variable must be set when the process
 * starts; 0 disables sampling) and keeps the samples of LIVE allocations
 * only. So the alloc_* sample types carry the same numbers as inuse_*: there
 * is no record of memory already freed. Sampled values are scaled to
 * estimates the way pprof scales heap_v2 profiles (each record by
 * 1/(1-exp(-avg_size/rate))).
 *
 * The text parser is pure and takes untrusted input (it has a fuzzer). */
#ifndef PG_PPROF_HEAP_H
#define PG_PPROF_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "src/util/buf.h"
#include "src/util/err.h"

#define PG_HEAP_MAX_RECORDS 200000
#define PG_HEAP_MAX_DEPTH 64

/* A parsed heap sample: records merged by stack. Owned by the caller. */
struct pg_heap_sample;

/* Parses tcmalloc's heap sample text ("heap profile: N: B [N: B] @
 * heap_v2/RATE", then "n: b [n: b] @ 0x.. 0x.." lines, up to a blank line
 * or "MAPPED_LIBRARIES:"). PG_EPROTO on malformed input, PG_ENOMEM past
 * PG_HEAP_MAX_RECORDS distinct stacks. */
PG_WUR int pg_heap_sample_parse(const char *text, size_t len, struct pg_heap_sample **out);
void pg_heap_sample_free(struct pg_heap_sample **ps);

/* Sampling rate in bytes (0 = every allocation recorded), distinct stacks,
 * and unscaled totals: v[0..3] = alloc objects, alloc bytes, inuse objects,
 * inuse bytes as tcmalloc reported them. */
int64_t pg_heap_sample_rate(const struct pg_heap_sample *s);
size_t pg_heap_sample_records(const struct pg_heap_sample *s);
void pg_heap_sample_totals(const struct pg_heap_sample *s, int64_t v[4]);
/* Scaled totals (estimates of the real heap), same order. */
void pg_heap_sample_scaled_totals(const struct pg_heap_sample *s, int64_t v[4]);

/* pprof's heap_v2 scaling of one record (count objects, size bytes). */
void pg_heap_scale(int64_t count, int64_t size, int64_t rate, int64_t *scount, int64_t *ssize);

/* after - before, by stack (values may be negative): the ?seconds=N form.
 * Both samples must have the same rate (PG_EINVAL otherwise). */
PG_WUR int pg_heap_sample_delta(const struct pg_heap_sample *before,
				const struct pg_heap_sample *after, struct pg_heap_sample **out);

/* Takes tcmalloc's current sample, with the allocator's own leading frames
 * removed. PG_EUNSUP when tcmalloc is not the process's allocator (e.g. the
 * sanitizer build). */
PG_WUR int pg_heap_capture(struct pg_heap_sample **out);

/* Appends s as a gzipped profile.proto (alloc_objects/count,
 * alloc_space/bytes, inuse_objects/count, inuse_space/bytes, period
 * space/bytes = rate) whose default sample type is `default_type`
 * ("inuse_space" for heap, "alloc_space" for allocs), or with debug > 0 as
 * the legacy text with symbolized "#" frame lines. */
PG_WUR int pg_heap_write(const struct pg_heap_sample *s, int debug, const char *default_type,
			 struct pg_buf *out, const char **content_type);

/* Go's /debug/pprof/heap and /debug/pprof/allocs (capture + write). */
PG_WUR int pg_pprof_heap(int debug, struct pg_buf *out, const char **content_type);
PG_WUR int pg_pprof_allocs(int debug, struct pg_buf *out, const char **content_type);

/* Call once at the start of main() (tcmalloc otherwise never samples the
 * main thread's small allocations). PG_EUNSUP without tcmalloc. */
PG_WUR int pg_heap_mark_thread_idle(void);

#endif
