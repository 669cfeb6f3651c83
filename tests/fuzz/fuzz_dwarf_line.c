/* Fuzzes the DWARF .debug_line parser. Input layout: a little-endian u16
 * length L, then L bytes used as .debug_line_str (and .debug_str), then the
 * rest as .debug_line. */
#include <stdint.h>
#include <string.h>

#include "src/pprof/symbolize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_dwarf_sections ds;
	struct pg_line_table *t = NULL;
	size_t ls;

	if (size < 2)
		return 0;
	ls = (size_t)data[0] | ((size_t)data[1] << 8);
	if (ls > size - 2)
		ls = size - 2;
	memset(&ds, 0, sizeof(ds));
	ds.debug_line_str = ls ? data + 2 : NULL;
	ds.debug_line_str_len = ls;
	ds.debug_str = ds.debug_line_str;
	ds.debug_str_len = ls;
	ds.debug_line = data + 2 + ls;
	ds.debug_line_len = size - 2 - ls;
	if (pg_line_table_parse(&ds, &t) == PG_OK) {
		static const uint64_t probes[] = {0, 1, 0x1000, 0x401000, UINT64_MAX};

		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
			const char *file;
			int line;

			if (pg_line_table_lookup(t, probes[i], &file, &line) == PG_OK && file)
				(void)strlen(file);
		}
	}
	pg_line_table_free(&t);
	return 0;
}
