/* Fuzzes the /debug/pprof/ parameter parsers with peer bytes: the first
 * byte picks the parser, the rest is the query value or the symbol body.
 * Checks their promises: accepted values are in range, addresses are
 * non-zero and never more than asked for. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/pprof/routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[200], *s;
	uint64_t addrs[64];
	unsigned secs;
	int debug;
	size_t n;

	if (size == 0)
		return 0;
	/* Query values are NUL-terminated strings (pg_http_req_query). */
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		if (pg_pprof_parse_seconds(s, 30, 300, &secs, msg, sizeof(msg)) == PG_OK && (secs < 1 || secs > 300))
			abort();
		break;
	case 1:
		if (pg_pprof_parse_debug(s, 2, &debug, msg, sizeof(msg)) == PG_OK && (debug < 0 || debug > 2))
			abort();
		break;
	default:
		/* The body is not NUL-terminated: pass the exact length. */
		n = pg_pprof_parse_symbol_addrs((const char *)data + 1, size - 1, addrs, 64);
		if (n > 64)
			abort();
		for (size_t i = 0; i < n; i++)
			if (addrs[i] == 0)
				abort();
		break;
	}
	free(s);
	return 0;
}
