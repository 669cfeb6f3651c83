/* Decoding and validation of one admin API call (proto/admin.proto): the
 * method path and the request message bytes in, a plain value out. Pure (no
 * I/O, no globals) so it is unit-tested and fuzzed
 * (tests/fuzz/fuzz_admin_request.c); src/admin/api.c runs it only after the
 * caller's certificate and identity were accepted. */
#ifndef PG_ADMIN_REQUEST_H
#define PG_ADMIN_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/window.h"
#include "src/util/err.h"

#define PG_ADMIN_METHOD_PREFIX "/pprofgate.admin.v1.Diagnostics/"
#define PG_ADMIN_PROFILE_NAME_MAX PG_AUTH_WINDOW_PROFILE_MAX

enum pg_admin_method { PG_ADMIN_OPEN = 1, PG_ADMIN_CLOSE, PG_ADMIN_GET };

/* A decoded request: plain value. */
struct pg_admin_request {
	enum pg_admin_method method;
	bool cluster;            /* OpenWindow/CloseWindow: on every node */
	int64_t duration_ms;     /* OpenWindow: 1 s .. max_ms */
	char reason[PG_AUTH_WINDOW_TEXT_MAX];
	size_t n_profiles;       /* 0 = every profile */
	char profiles[PG_AUTH_WINDOW_MAX_PROFILES][PG_ADMIN_PROFILE_NAME_MAX];
};

/* Decodes `body` for the method path `method` (method_len bytes, not
 * NUL-terminated, e.g. "/pprofgate.admin.v1.Diagnostics/OpenWindow").
 * PG_ENOTFOUND: no such method (UNIMPLEMENTED). PG_EINVAL with a sentence for
 * the caller: malformed message, duration 0 or beyond max_ms, reason empty,
 * too long or with control bytes, too many or bad profile names. */
PG_WUR int pg_admin_request_decode(const char *method, size_t method_len, const uint8_t *body, size_t len,
				   int64_t max_ms, struct pg_admin_request *out);

#endif
