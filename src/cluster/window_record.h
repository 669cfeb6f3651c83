/* Cluster-wide diagnostics windows through etcd.
 *
 * OpenWindow{cluster} writes one JSON record at `<prefix>/diagnostics/window`
 * attached to a NEW etcd lease whose TTL is the window's duration. Every node
 * watches that key: a put opens its local window until
 * min(record deadline, now + duration), a delete (lease expired or revoked)
 * closes it. The watcher re-reads the key every confirm_every_ms (an open
 * watch stream does not prove etcd is alive); a node whose etcd has not
 * confirmed the record within admin.window.cluster_grace_seconds closes its
 * cluster window (src/admin/window.c), so etcd being down can never pin a
 * window open. CloseWindow{cluster} revokes the record's lease.
 *
 * Record (version 1), at most PG_WINDOW_RECORD_MAX bytes:
 *   {"v":1,"opened_by":"uri:spiffe://...","reason":"...","id":"Zk3...",
 *    "approved_by":"cn:admin","profiles":["heap"],
 *    "duration_ms":300000,"deadline_unix_ms":1795000000000}
 * id (the window id window-bound tokens name) and approved_by (a window
 * opened by approving a request) are optional.
 * The record parser is pure and fuzzed (tests/fuzz/fuzz_window_record.c). */
#ifndef PG_CLUSTER_WINDOW_RECORD_H
#define PG_CLUSTER_WINDOW_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "auth/window.h"
#include "src/util/err.h"

struct pg_config;

#define PG_WINDOW_RECORD_MAX 8192

/* A parsed record: plain value. */
struct pg_window_record {
	char opened_by[PG_AUTH_WINDOW_TEXT_MAX];
	char approved_by[PG_AUTH_WINDOW_TEXT_MAX]; /* "" = opened without approval */
	char id[PG_AUTH_WINDOW_ID_MAX];            /* "" = none */
	char reason[PG_AUTH_WINDOW_TEXT_MAX];
	size_t n_profiles; /* 0 = every profile */
	char profiles[PG_AUTH_WINDOW_MAX_PROFILES][PG_AUTH_WINDOW_PROFILE_MAX];
	int64_t duration_ms;      /* 1 .. 7 days */
	int64_t deadline_unix_ms; /* wall clock, ms since the epoch */
};

/* Parses a record. PG_EPROTO (with a sentence) for anything malformed:
 * not JSON, v != 1, missing/empty opened_by or reason, texts too long,
 * too many or bad profile names, durations out of range. */
PG_WUR int pg_window_record_parse(const char *text, size_t len,
					struct pg_window_record *out);

/* Encodes a record into a malloc'd NUL-terminated string (*out, caller frees). */
PG_WUR int pg_window_record_encode(const struct pg_window_record *rec, char **out);

/* How long the local window should stay open for `rec` received at wall time
 * now_unix_ms: min(deadline - now, duration), capped to max_ms; <= 0 = over. */
int64_t pg_window_record_remaining_ms(const struct pg_window_record *rec,
					    int64_t now_unix_ms, int64_t max_ms);

/* Shared by the record codecs of src/cluster (what = "window record", ...):
 * a non-empty JSON string without NUL into dst (PG_EPROTO otherwise); an
 * optional list of profile names (absent or null = none); writing that list
 * as the member ,"profiles":[...]. */
struct pg_json_value;
struct pg_buf;
PG_WUR int pg_record_text(const char *what, const struct pg_json_value *v, const char *name, char *dst,
			  size_t cap);
PG_WUR int pg_record_profiles(const char *what, const struct pg_json_value *v,
			      char out[][PG_AUTH_WINDOW_PROFILE_MAX], size_t *n);
PG_WUR int pg_record_write_profiles(struct pg_buf *b, const char (*profiles)[PG_AUTH_WINDOW_PROFILE_MAX],
				    size_t n);
/* Ends a record parse with rc: on failure clears `out` (size bytes, so
 * nothing is half-filled) and keeps the failure's sentence. */
PG_WUR int pg_record_end(int rc, void *out, size_t size);
/* Chains the writes of a JSON object: when rc is PG_OK, writes `member`
 * (e.g. ",\"reason\":") then value as a JSON string; returns the new rc. */
PG_WUR int pg_record_put(struct pg_buf *b, int rc, const char *member, const char *value);

/* ---- the watcher ---- */

/* Called from the watcher thread with the current record, or NULL when the
 * key is absent (closed everywhere). */
typedef void pg_cluster_window_apply_fn(const struct pg_window_record *rec, void *arg);

struct pg_cluster_window;

/* Connects to the etcd of `cfg` (endpoints, TLS, prefix) and starts a thread
 * that reads the key, then watches it, calling `apply` on every change
 * (re-reading after any failure, every second, and every confirm_every_ms,
 * at least 200, while the watch is idle). */
PG_WUR int pg_cluster_window_start(const struct pg_config *cfg, int64_t confirm_every_ms,
				  pg_cluster_window_apply_fn *apply, void *arg,
				  struct pg_cluster_window **out);

/* Milliseconds since etcd last answered for the key (a read, a watch message
 * or our own put), at monotonic time now_mono_ms; `why` (may be NULL)
 * receives the last failure's sentence. Thread-safe. */
int64_t pg_cluster_window_unconfirmed_ms(struct pg_cluster_window *c, int64_t now_mono_ms, char *why,
					size_t cap);

/* Writes `rec` under a new lease of ceil(duration) seconds. */
PG_WUR int pg_cluster_window_open(struct pg_cluster_window *c, const struct pg_window_record *rec);

/* Revokes the current record's lease (deletes a record without lease).
 * PG_OK when there was none. */
PG_WUR int pg_cluster_window_close(struct pg_cluster_window *c);

/* The watched key, e.g. "/goverse/diagnostics/window". */
const char *pg_cluster_window_key(const struct pg_cluster_window *c);

/* Stops the thread (bounded: etcd calls are cancelled) and frees. */
void pg_cluster_window_stop(struct pg_cluster_window **pp);

#endif
