/* A small etcd v3 client over the JSON gateway (etcd 3.4, "/v3/..."), using
 * libcurl. Enough for cluster membership: leases, put, range, deleterange and
 * a streaming watch.
 *
 * Wire format (etcd's grpc-gateway): POST a JSON request, read a JSON reply;
 * keys and values are standard base64; int64 fields are JSON strings; fields
 * at their default value are omitted. Errors come back as
 * {"error":"...","code":N,"message":"..."} (code = gRPC status).
 *
 * Two layers:
 *  - pure parsers (pg_etcd_parse_*): reply bytes -> struct, no I/O, unit
 *    tested and fuzzed with hostile input;
 *  - the client (struct pg_etcd): one request per call on a fresh curl
 *    handle, so a client may be shared by threads. Short timeouts (connect
 *    1 s, request 3 s by default) and failover: on a connect failure or a
 *    timeout the next endpoint is tried, and the one that answered is
 *    remembered for the next call.
 *
 * Cancellation: pg_etcd_cancel() makes every call in progress or started
 * later (except pg_etcd_lease_revoke, the shutdown path) return PG_ENET
 * within ~100 ms. */
#ifndef PG_CLUSTER_ETCD_H
#define PG_CLUSTER_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/config/config.h"
#include "src/util/err.h"

/* Largest reply body accepted from etcd (a range of every member fits). */
#define PG_ETCD_MAX_REPLY (4u * 1024u * 1024u)
/* Largest key or value handled, after base64 decoding. */
#define PG_ETCD_MAX_KV (64u * 1024u)

struct pg_etcd_opts {
	const char *const *endpoints; /* "host:port" or "http(s)://host:port" */
	size_t n_endpoints;
	/* TLS (optional): with ca_file set, scheme-less endpoints use https and
	 * the server is verified against that CA; cert/key add a client
	 * certificate. "" or NULL = unused. */
	const char *ca_file, *cert_file, *key_file;
	long connect_timeout_ms; /* 0 = 1000 */
	long request_timeout_ms; /* 0 = 3000 */
};

/* One key-value pair. key/value are malloc'd, NUL-terminated (the NUL is not
 * counted) and owned by the struct that holds them. */
struct pg_etcd_kv {
	char *key, *value;
	size_t key_len, value_len;
	int64_t create_revision, mod_revision, version, lease;
};

struct pg_etcd_range {
	int64_t revision; /* header.revision of the reply */
	struct pg_etcd_kv *kvs;
	size_t n;
};

enum pg_etcd_event_type { PG_ETCD_PUT = 0, PG_ETCD_DELETE = 1 };

struct pg_etcd_event {
	enum pg_etcd_event_type type;
	struct pg_etcd_kv kv;
};

/* One message of a watch stream. */
struct pg_etcd_watch_resp {
	int64_t revision, watch_id, compact_revision;
	bool created, canceled;
	struct pg_etcd_event *events;
	size_t n_events;
	char cancel_reason[128];
};

/* ---- pure parsers ---- */

/* Each takes a whole reply body. Results: PG_OK; PG_EPROTO for malformed
 * JSON, wrong types or bad base64; for an etcd error object, PG_ENOTFOUND
 * when code is 5 (NOT_FOUND, e.g. "requested lease not found") and PG_EPROTO
 * otherwise, with etcd's message in pg_errmsg(). */

/* /v3/lease/grant: the new lease's ID and granted TTL (seconds). */
PG_WUR int pg_etcd_parse_grant(const char *body, size_t len, int64_t *id, int64_t *ttl);
/* /v3/lease/keepalive: {"result":{"ID","TTL"}}. The remaining TTL; etcd
 * omits TTL (so *ttl = 0) for a lease that no longer exists. */
PG_WUR int pg_etcd_parse_keepalive(const char *body, size_t len, int64_t *ttl);
/* /v3/kv/put, /v3/lease/revoke: only the error check; *revision may be NULL. */
PG_WUR int pg_etcd_parse_header(const char *body, size_t len, int64_t *revision);
/* /v3/kv/range. On success `out` owns its kvs (release with
 * pg_etcd_range_clear); on failure it is left empty. */
PG_WUR int pg_etcd_parse_range(const char *body, size_t len, struct pg_etcd_range *out);
/* /v3/kv/deleterange: the number of keys deleted. */
PG_WUR int pg_etcd_parse_delete(const char *body, size_t len, int64_t *deleted);
/* One line of /v3/watch. Same ownership rule (pg_etcd_watch_resp_clear). */
PG_WUR int pg_etcd_parse_watch(const char *body, size_t len, struct pg_etcd_watch_resp *out);

void pg_etcd_range_clear(struct pg_etcd_range *r);
void pg_etcd_watch_resp_clear(struct pg_etcd_watch_resp *w);


/* The end of the range holding every key that starts with `prefix`: the
 * prefix with its last byte incremented (dropping trailing 0xff bytes);
 * "\0" (length 1) when the prefix is all 0xff, meaning "to the end". */
PG_WUR int pg_etcd_prefix_end(const char *prefix, size_t n, char *out, size_t cap, size_t *out_len);

/* ---- client ---- */

struct pg_etcd;

PG_WUR int pg_etcd_new(const struct pg_etcd_opts *opts, struct pg_etcd **out);

/* pg_etcd_new() with the node's cluster.etcd settings (1..PG_CONFIG_MAX_ENDPOINTS
 * endpoints, TLS, default timeouts): the one way every etcd user of the node
 * (membership, cluster windows) builds its client. PG_EINVAL without
 * endpoints. */
PG_WUR int pg_etcd_new_from_config(const struct pg_config *cfg, struct pg_etcd **out);

/* cluster.etcd.prefix, or Goverse's "/goverse" when unset. */
const char *pg_etcd_config_prefix(const struct pg_config *cfg);
void pg_etcd_free(struct pg_etcd **pp);

/* Makes calls in progress and later calls fail fast (see above). */
void pg_etcd_cancel(struct pg_etcd *c);

/* The endpoint URL the last successful call used (for logs). */
const char *pg_etcd_endpoint(struct pg_etcd *c);

PG_WUR int pg_etcd_lease_grant(struct pg_etcd *c, int64_t ttl, int64_t *id, int64_t *granted_ttl);
/* Refreshes a lease once. PG_ENOTFOUND when etcd no longer knows it. */
PG_WUR int pg_etcd_lease_keepalive(struct pg_etcd *c, int64_t id, int64_t *ttl);
/* Revokes a lease (its keys disappear at once). Ignores pg_etcd_cancel;
 * timeout_ms > 0 bounds the whole call across all endpoints (0 = the request
 * timeout per endpoint), so shutdown stays bounded when etcd hangs. */
PG_WUR int pg_etcd_lease_revoke(struct pg_etcd *c, int64_t id, long timeout_ms);
/* lease 0 = no lease. */
PG_WUR int pg_etcd_put(struct pg_etcd *c, const char *key, const char *value, int64_t lease);
/* Every key starting with `prefix` (prefix = true) or exactly `key`. */
PG_WUR int pg_etcd_get(struct pg_etcd *c, const char *key, bool prefix, struct pg_etcd_range *out);
PG_WUR int pg_etcd_delete(struct pg_etcd *c, const char *key, bool prefix, int64_t *deleted);

/* Called for each watch message (resp != NULL) and about every 100 ms while
 * the stream is idle (resp == NULL). Return false to end the watch. */
typedef bool pg_etcd_watch_fn(const struct pg_etcd_watch_resp *resp, void *arg);

/* Watches `key` (or the prefix) from revision start_rev (0 = now), calling
 * fn until it returns false (PG_OK), the stream ends or fails (PG_ENET /
 * PG_EPROTO), etcd cancels the watch (PG_ENOTFOUND when compacted: re-read
 * and watch again) or pg_etcd_cancel() is called (PG_ENET). Blocks. */
PG_WUR int pg_etcd_watch(struct pg_etcd *c, const char *key, bool prefix, int64_t start_rev,
			 pg_etcd_watch_fn *fn, void *arg);

#endif
