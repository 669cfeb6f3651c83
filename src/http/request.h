/* Request-line and header-field checks at the HTTP library boundary.
 *
 * libmicrohttpd hands the application NUL-terminated strings, so a NUL byte
 * sent inside the request line or a header value silently cuts what the
 * application sees ("GET /debug/pprof/cmdline\0.css" reaches the routes as
 * /debug/pprof/cmdline), and a repeated header is two entries of which a
 * lookup returns the first. A proxy in front may read the same bytes
 * differently. server.c recovers the true lengths of what was sent (see the
 * comment on its layout checks) and calls this pure function before routing;
 * anything it refuses answers 400 and never reaches the gate.
 *
 * Refused (RFC 9110 section 5.5, RFC 9112 sections 3 and 5):
 *   - a control byte (0x00-0x1f, 0x7f) in the method or the request-target;
 *   - a header name that is not a token (tchar only: no NUL, space, ':', CTL);
 *   - a control byte in a header value, except HTAB;
 *   - more than one Authorization field (even when their values agree);
 *   - more than one Host or Content-Length field.
 *
 * Pure, no allocation: safe for fuzzing (tests/fuzz/fuzz_http_request.c). */
#ifndef PG_HTTP_REQUEST_H
#define PG_HTTP_REQUEST_H

#include <stddef.h>

/* One header field as received: bytes and true lengths, not NUL-terminated. */
struct pg_http_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* Why a request was refused: `reason` is the audit reason (snake_case),
 * `message` the sentence of the JSON error body. Static storage. */
struct pg_http_fault {
	const char *reason;
	const char *message;
};

/* A request whose line or fields the server could not map back to the bytes
 * sent (for example an obs-fold continuation line): refused the same way. */
extern const struct pg_http_fault pg_http_fault_malformed;

/* NULL when the request may proceed, else why it is refused (answer 400). */
const struct pg_http_fault *pg_http_request_check(const char *method, size_t method_len, const char *target,
						  size_t target_len, const struct pg_http_field *fields,
						  size_t n_fields);

#endif
