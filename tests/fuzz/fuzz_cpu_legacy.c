/* Fuzzes the gperftools legacy CPU profile parser and, when it accepts the
 * input, the profile encoder over the resulting (arbitrary) addresses. */
#include <stdint.h>
#include <stdlib.h>

#include "src/pprof/cpu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_profile *p = NULL;
	struct pg_buf b;

	if (pg_profile_new(&p) != PG_OK)
		return 0;
	pg_buf_init(&b, 16 << 20);
	if (pg_pprof_cpu_parse_legacy(data, size, p) == PG_OK && size < 4096) {
		/* encoding symbolizes every address: garbage must be harmless */
		if (pg_profile_write(p, &b) != PG_OK)
			abort();
	}
	pg_buf_free(&b);
	pg_profile_free(&p);
	return 0;
}
