/* Fuzzes the tcmalloc heap-sample text parser and what consumes its result:
 * totals, scaling, delta and the text writer (which symbolizes arbitrary
 * addresses). */
#include <stddef.h>
#include <stdint.h>

#include "src/pprof/heap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_heap_sample *s = NULL, *d = NULL;
	struct pg_buf b;
	const char *ct;
	int64_t t[4];

	if (pg_heap_sample_parse((const char *)data, size, &s) != PG_OK)
		return 0;
	pg_heap_sample_totals(s, t);
	pg_heap_sample_scaled_totals(s, t);
	if (pg_heap_sample_delta(s, s, &d) == PG_OK && pg_heap_sample_records(d) != 0)
		__builtin_trap(); /* x - x must be empty */
	pg_heap_sample_free(&d);
	pg_buf_init(&b, 1 << 20);
	if (pg_heap_write(s, 1, "inuse_space", &b, &ct) != PG_OK && b.len > (1 << 20))
		__builtin_trap();
	pg_buf_free(&b);
	pg_heap_sample_free(&s);
	return 0;
}
