/* Text renderings of stacks shared by the debug=1 and debug=2 outputs of the
 * thread, threadcreate, contention and heap profiles, in the layout of Go's
 * runtime/pprof legacy text format. PCs are return addresses, leaf first;
 * `leaf_is_pc` says pcs[0] is an exact PC (a thread interrupted by a signal).
 * All functions append to `out`. */
#ifndef PG_PPROF_STACKTEXT_H
#define PG_PPROF_STACKTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "src/util/buf.h"
#include "src/util/err.h"

/* " @ 0x.. 0x..\n" (the PCs as Go prints them). */
PG_WUR int pg_stacktext_at(struct pg_buf *out, const uintptr_t *pcs, size_t n);
/* One "#\t0x%x\tfunc+0x%x\tfile:line\n" line per frame, then nothing. */
PG_WUR int pg_stacktext_hash_lines(struct pg_buf *out, const uintptr_t *pcs, size_t n,
				   int leaf_is_pc);
/* Go's debug=2 goroutine frames: "func(...)\n\tfile:line +0x%x\n" per frame. */
PG_WUR int pg_stacktext_frames(struct pg_buf *out, const uintptr_t *pcs, size_t n,
			       int leaf_is_pc);

#endif
