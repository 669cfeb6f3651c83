/* Merging profile.proto profiles (google/pprof proto/profile.proto) from
 * several nodes into one, each sample labelled with where it came from, so
 * that `go tool pprof -tagfocus node=n1` and `-tagroot node` work on it.
 *
 * A pure function of its inputs (no I/O), which come from the network:
 * every index and id is checked before use, sizes are bounded, and it is
 * fuzzed (tests/fuzz/fuzz_pprof_merge.c).
 *
 * The merged profile holds every input's samples unchanged (values and
 * labels), so its total for each sample type is the sum of the inputs'
 * totals. String tables are re-interned; mappings, functions and locations
 * get new dense ids (not deduplicated across inputs: the same address on
 * two nodes may mean different code). As in Go's profile.Merge, the start
 * time is the earliest and the durations add up. */
#ifndef PG_PPROF_MERGE_H
#define PG_PPROF_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "src/util/buf.h"
#include "src/util/err.h"

/* Largest input accepted, after gunzip. */
#define PG_MERGE_MAX_INPUT (256u * 1024u * 1024u)
/* Most inputs merged at once. */
#define PG_MERGE_MAX_INPUTS 1024

struct pg_pprof_merge_in {
	const void *data; /* gzip'd (as served) or raw profile.proto */
	size_t len;
	const char *label; /* this input's value of the added label, e.g. the node name */
};

/* Merges in[0..n) and appends the gzip'd result to out. Every sample gets the
 * string label label_key=in[i].label unless it already has label_key.
 * Refusals, each with a sentence naming the input (its label): PG_EPROTO for
 * an input that is not a valid profile (bad gzip, bad protobuf, an index or id
 * pointing nowhere, a sample with the wrong number of values), PG_EINVAL when
 * the inputs do not fit together: different sample types (type and unit, in
 * order), period type or period. PG_ENOMEM past the bounds. */
PG_WUR int pg_pprof_merge(const struct pg_pprof_merge_in *in, size_t n, const char *label_key, struct pg_buf *out);

/* The sum over samples of value[index] of one (gzip'd or raw) profile, and
 * the sample type's name (into type, cap bytes). PG_EPROTO / PG_EINVAL. */
PG_WUR int pg_pprof_total(const void *data, size_t len, size_t index, int64_t *total, char *type, size_t cap);

#endif
