/* Fuzz target for the profile merger (src/pprof/merge.c), whose inputs are
 * profiles fetched from nodes: the first byte splits the rest into two
 * inputs. A merge that succeeds must be a profile whose total is the sum of
 * the inputs' totals. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/pprof/merge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_pprof_merge_in in[2];
	struct pg_buf out;
	size_t cut;
	int64_t ta, tb, tm;

	if (size < 1)
		return 0;
	cut = (size - 1) * data[0] / 255;
	in[0] = (struct pg_pprof_merge_in){data + 1, cut, "a"};
	in[1] = (struct pg_pprof_merge_in){data + 1 + cut, size - 1 - cut, "b"};
	pg_buf_init(&out, 64u << 20);
	if (pg_pprof_merge(in, 2, "node", &out) == PG_OK) {
		if (pg_pprof_total(out.data, out.len, 0, &tm, NULL, 0) != PG_OK)
			abort(); /* the merger wrote something it cannot read back */
		if (pg_pprof_total(in[0].data, in[0].len, 0, &ta, NULL, 0) == PG_OK &&
		    pg_pprof_total(in[1].data, in[1].len, 0, &tb, NULL, 0) == PG_OK &&
		    !__builtin_add_overflow(ta, tb, &ta) && ta != tm)
			abort();
	}
	pg_buf_free(&out);
	return 0;
}
