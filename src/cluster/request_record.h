/* Pending window requests (four-eyes approval, admin.require_approval): the
 * record, and where cluster requests live in etcd.
 *
 * `pprofgatectl window request --cluster` stores one JSON record at
 * `<prefix>/diagnostics/requests/<id>` on a NEW etcd lease whose TTL is
 * admin.approval.request_ttl_seconds, so a request nobody answers disappears
 * by itself. Any node reads it when asked to approve, deny or list (no watch:
 * a request does nothing until someone acts on it); approving or denying
 * deletes the key, and only the caller whose delete removed it goes on, so
 * two approvers racing open one window. Node requests (without --cluster)
 * use the same record in the node's memory (src/admin/window.c).
 *
 * Record (version 1), at most PG_REQUEST_RECORD_MAX bytes:
 *   {"v":1,"id":"3q2-7w...","requested_by":"cn:operator",
 *    "requester_cert":"uri:spiffe://pprofgate.local/operator","reason":"INC-1",
 *    "profiles":["heap"],"duration_ms":900000,"created_unix_ms":1795000000000,
 *    "expires_unix_ms":1795000600000}
 * requested_by is the admin.allowed_identities entry the requester's
 * certificate matched, requester_cert that certificate's own identity
 * (auth/identity.h); the approval rule compares both (src/admin/request.h).
 * The parser is pure and fuzzed (tests/fuzz/fuzz_request_record.c). */
#ifndef PG_CLUSTER_REQUEST_RECORD_H
#define PG_CLUSTER_REQUEST_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "auth/window.h"
#include "src/util/err.h"

struct pg_config;

#define PG_REQUEST_RECORD_MAX 8192
#define PG_REQUEST_ID_MAX 65 /* 1..64 of [A-Za-z0-9_-], with the NUL (src/util/rand.h) */

/* A request: plain value. */
struct pg_request_record {
	char id[PG_REQUEST_ID_MAX];
	char requested_by[PG_AUTH_WINDOW_TEXT_MAX];
	char requester_cert[PG_AUTH_WINDOW_TEXT_MAX];
	char reason[PG_AUTH_WINDOW_TEXT_MAX];
	size_t n_profiles; /* 0 = every profile */
	char profiles[PG_AUTH_WINDOW_MAX_PROFILES][PG_AUTH_WINDOW_PROFILE_MAX];
	int64_t duration_ms;     /* of the window asked for: 1 .. 7 days */
	int64_t created_unix_ms; /* wall clock, ms since the epoch */
	int64_t expires_unix_ms; /* after created_unix_ms */
};

/* Parses a record. PG_EPROTO (with a sentence) for anything malformed: not
 * JSON, v != 1, a bad id, missing/empty texts or texts with control bytes,
 * too many or bad profile names, durations or times out of range. */
PG_WUR int pg_request_record_parse(const char *text, size_t len, struct pg_request_record *out);

/* Encodes a record into a malloc'd NUL-terminated string (*out, caller frees). */
PG_WUR int pg_request_record_encode(const struct pg_request_record *rec, char **out);

/* ---- cluster requests in etcd ---- */

struct pg_cluster_requests;

/* An etcd client for `cfg` (endpoints, TLS, prefix). No thread. */
PG_WUR int pg_cluster_requests_new(const struct pg_config *cfg, struct pg_cluster_requests **out);
void pg_cluster_requests_free(struct pg_cluster_requests **pp);

/* Stores rec under a new lease of ceil((expires - created) / 1000) seconds. */
PG_WUR int pg_cluster_requests_put(struct pg_cluster_requests *c, const struct pg_request_record *rec);

/* Reads the request `id`. PG_ENOTFOUND when there is none (never made,
 * expired, approved or denied); PG_EPROTO when its record is unreadable. */
PG_WUR int pg_cluster_requests_get(struct pg_cluster_requests *c, const char *id, struct pg_request_record *out);

/* Deletes the request `id`: PG_OK when this call removed it, PG_ENOTFOUND
 * when it was already gone (another approver or deny won, or it expired). */
PG_WUR int pg_cluster_requests_take(struct pg_cluster_requests *c, const char *id);

/* Every readable request (unreadable ones are skipped with a warning), at
 * most `cap` into out[]; *n receives how many. */
PG_WUR int pg_cluster_requests_list(struct pg_cluster_requests *c, struct pg_request_record *out, size_t cap,
				    size_t *n);

/* The key prefix, e.g. "/goverse/diagnostics/requests/". */
const char *pg_cluster_requests_prefix(const struct pg_cluster_requests *c);

#endif
