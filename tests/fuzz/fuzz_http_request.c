/* Fuzzes the request-line and header checker (src/http/request.h) and checks
 * its promise on accepted input: no control byte in the method or target, a
 * token for each name, no control byte but HTAB in values, at most one
 * Authorization. Input: method, target, then name/value pairs, separated by
 * 0xfe bytes (which the checker itself treats as ordinary obs-text). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/http/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PIECES 66

static int ctl(const char *s, size_t n, int tab_ok)
{
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 && !(tab_ok && s[i] == '\t')) || s[i] == 0x7f)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *piece[MAX_PIECES];
	size_t len[MAX_PIECES], n = 0, start = 0, n_auth = 0;
	struct pg_http_field f[(MAX_PIECES - 2) / 2];
	const struct pg_http_fault *fault;

	for (size_t i = 0; i <= size && n < MAX_PIECES; i++) {
		if (i == size || data[i] == 0xfe) {
			piece[n] = s + start;
			len[n++] = i - start;
			start = i + 1;
		}
	}
	if (n < 2)
		return 0;
	for (size_t i = 0; 3 + 2 * i < n; i++)
		f[i] = (struct pg_http_field){piece[2 + 2 * i], len[2 + 2 * i], piece[3 + 2 * i], len[3 + 2 * i]};
	fault = pg_http_request_check(piece[0], len[0], piece[1], len[1], f, (n - 2) / 2);
	if (fault) {
		if (!fault->reason || !fault->reason[0] || !fault->message || !fault->message[0])
			abort();
		return 0;
	}
	if (len[0] == 0 || ctl(piece[0], len[0], 0) || ctl(piece[1], len[1], 0))
		abort();
	for (size_t i = 0; i < (n - 2) / 2; i++) {
		if (f[i].name_len == 0 || ctl(f[i].name, f[i].name_len, 0) || ctl(f[i].value, f[i].value_len, 1) ||
		    memchr(f[i].name, ':', f[i].name_len) || memchr(f[i].name, ' ', f[i].name_len))
			abort();
		if (f[i].name_len == 13 && strncasecmp(f[i].name, "authorization", 13) == 0 && ++n_auth > 1)
			abort();
	}
	return 0;
}
