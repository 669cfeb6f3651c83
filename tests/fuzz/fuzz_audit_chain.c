/* Fuzz target for the audit chain (src/audit/chain.c): any bytes as an audit
 * file, verified without and with an HMAC key; every line parsed alone. The
 * verifier must return a verdict that names a line inside the input, and a
 * line the parser accepts must keep its hash tail inside the line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/audit/chain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key[32] = "fuzz-audit-key-fuzz-audit-key-32";
	const char *s = (const char *)data, *end = s + size;
	struct pg_audit_verify_result r;
	size_t lines = 1;

	for (const char *p = s; p < end; p++)
		lines += *p == '\n';
	for (int k = 0; k < 2; k++) {
		if (pg_audit_verify(s, size, k ? key : NULL, k ? sizeof(key) : 0, NULL, &r) != PG_OK)
			return 0; /* out of memory */
		if (r.verdict != PG_AUDIT_OK && (r.line_no < 1 || r.line_no > lines || !r.msg[0]))
			abort();
		if (r.verdict == PG_AUDIT_OK && r.lines > lines)
			abort();
	}
	for (const char *p = s; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		struct pg_audit_line l;

		if (pg_audit_line_parse(p, n, &l) == PG_OK && l.canon_len + PG_AUDIT_TAIL_LEN != n)
			abort();
		p += n + 1;
	}
	return 0;
}
