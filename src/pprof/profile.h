/* A pprof profile builder: collects samples (stacks of program counters with
 * values and labels) and writes them as gzip-compressed profile.proto
 * (google/pprof proto/profile.proto), the format `go tool pprof` reads
 * natively. Locations are symbolized in-process (function, file:line) and
 * mappings come from /proc/self/maps with ELF build IDs, so no binary is
 * needed on the reader's side.
 *
 * Ownership: the caller owns the struct pg_profile and frees it with
 * pg_profile_free(); strings passed in are copied. Not thread-safe: one
 * builder per request. */
#ifndef PG_PPROF_PROFILE_H
#define PG_PPROF_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "src/util/buf.h"
#include "src/util/err.h"

#define PG_PROFILE_MAX_VALUES 4
#define PG_PROFILE_MAX_DEPTH 128

struct pg_profile;

/* A sample label: a string value (str != NULL) or a number with a unit. */
struct pg_profile_label {
	const char *key;
	const char *str;
	int64_t num;
	const char *num_unit; /* may be NULL */
};

PG_WUR int pg_profile_new(struct pg_profile **out);
void pg_profile_free(struct pg_profile **pp);

/* Appends a sample type such as ("cpu", "nanoseconds"); samples carry one
 * value per sample type, in this order. */
PG_WUR int pg_profile_add_sample_type(struct pg_profile *p, const char *type, const char *unit);
/* The period and its type, e.g. ("cpu", "nanoseconds", 10000000). */
PG_WUR int pg_profile_set_period(struct pg_profile *p, const char *type, const char *unit,
				 int64_t period);
/* The sample type `go tool pprof` shows by default (e.g. "alloc_space"). */
PG_WUR int pg_profile_set_default_sample_type(struct pg_profile *p, const char *type);
/* Wall-clock start (Unix ns) and duration of the collection. */
void pg_profile_set_time(struct pg_profile *p, int64_t time_nanos, int64_t duration_nanos);
/* Adds a free-form comment shown by `go tool pprof -comments`. */
PG_WUR int pg_profile_add_comment(struct pg_profile *p, const char *text);

/* Adds one sample. `pcs` are return addresses, leaf first (as from
 * backtrace()); `leaf_is_pc` says pcs[0] is an exact PC rather than a return
 * address (return addresses are looked up at pc-1). Samples with the same
 * stack and labels are merged by adding their values. */
PG_WUR int pg_profile_add_sample(struct pg_profile *p, const uintptr_t *pcs, size_t n_pcs,
				 int leaf_is_pc, const int64_t *values, size_t n_values,
				 const struct pg_profile_label *labels, size_t n_labels);

/* Symbolizes, encodes and gzips the profile, appending to `out`. */
PG_WUR int pg_profile_write(struct pg_profile *p, struct pg_buf *out);

#endif
