/* Fuzzes the request-target validator and checks its promise: an accepted
 * path holds only unreserved bytes and '/', no empty inner segment, no dot
 * segment, and the query (if any) follows the first '?'. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/http/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int contains(const char *h, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(h + i, needle, k) == 0)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_http_target t;
	const char *s = (const char *)data;
	int rc = pg_http_target_parse(s, size, &t);

	if (rc != 0) {
		if ((rc != 400 && rc != 414) || t.path)
			abort();
		return 0;
	}
	if (t.path != s || t.path_len == 0 || t.path_len > size || s[0] != '/')
		abort();
	for (size_t i = 0; i < t.path_len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '?' || c == '%' || c == '#' || c == ';' || c == '\\' || c <= 0x20 || c >= 0x7f)
			abort();
		if (c == '/' && i + 1 < t.path_len && s[i + 1] == '/')
			abort();
	}
	if (contains(s, t.path_len, "/./") || contains(s, t.path_len, "/../"))
		abort();
	if ((t.path_len >= 2 && memcmp(s + t.path_len - 2, "/.", 2) == 0) ||
	    (t.path_len >= 3 && memcmp(s + t.path_len - 3, "/..", 3) == 0))
		abort();
	if (t.query && (t.query != s + t.path_len + 1 || t.query_len != size - t.path_len - 1))
		abort();
	if (!t.query && t.path_len != size)
		abort();
	return 0;
}
