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
#include "src/cluster/request_record.h"
#include "src/util/err.h"

#define PG_ADMIN_METHOD_PREFIX "/pprofgate.admin.v1.Diagnostics/"
#define PG_ADMIN_PROFILE_NAME_MAX PG_AUTH_WINDOW_PROFILE_MAX

enum pg_admin_method { PG_ADMIN_OPEN = 1, PG_ADMIN_CLOSE, PG_ADMIN_GET, PG_ADMIN_REQUEST, PG_ADMIN_APPROVE,
		       PG_ADMIN_DENY, PG_ADMIN_LIST };

/* A decoded request: plain value. */
struct pg_admin_request {
	enum pg_admin_method method;
	bool cluster;            /* OpenWindow/CloseWindow/RequestWindow: on every node */
	int64_t duration_ms;     /* OpenWindow/RequestWindow: 1 s .. max_ms */
	char reason[PG_AUTH_WINDOW_TEXT_MAX]; /* DenyWindow: optional */
	char id[PG_REQUEST_ID_MAX]; /* ApproveWindow/DenyWindow: the request */
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

/* The four-eyes rule for approving `rec` at wall time now_unix_ms by the
 * caller whose certificate matched the allowed_identities entry `approver`
 * and whose certificate's own identity is `approver_cert`
 * (pg_auth_cert_id_describe). SELF when either equals the requester's: the
 * same entry (two certificates of one name) or the same certificate
 * identity (one certificate matching two entries) is one person as far as
 * the node can tell. Pure. */
enum pg_admin_approval { PG_ADMIN_APPROVAL_OK = 0, PG_ADMIN_APPROVAL_SELF, PG_ADMIN_APPROVAL_EXPIRED };
enum pg_admin_approval pg_admin_approval_check(const struct pg_request_record *rec, const char *approver,
					       const char *approver_cert, int64_t now_unix_ms);

#endif
