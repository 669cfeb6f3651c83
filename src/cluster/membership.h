/* Cluster membership in etcd, compatible with Goverse's node registry.
 *
 * Protocol (Goverse cluster.registerNode, etcdmanager.sharedLeaseLoop):
 *   key   <etcd_prefix>/nodes/<advertise address>   e.g. /goverse/nodes/localhost:47000
 *   value <advertise address>
 *   bound to a lease of cfg->etcd_lease_ttl seconds (15 by default), kept
 *   alive every TTL/3 and revoked on pg_membership_stop(), so the key
 *   disappears at once on a clean stop and at lease expiry after a crash.
 * The node watches <etcd_prefix>/nodes/ and keeps the live member list.
 *
 * Two background threads do all network I/O (one keeps the registration,
 * one reads and watches the member list). The accessors below only copy
 * memory under a mutex, so request paths (/ready, Status RPCs, /metrics)
 * never wait for etcd. See docs/membership.md for timings and failure
 * behaviour. */
#ifndef PG_CLUSTER_MEMBERSHIP_H
#define PG_CLUSTER_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>

#include "src/config/config.h"
#include "src/util/err.h"

struct pg_membership;
struct pg_metrics;

/* Reconnect backoff after a failed etcd call: 1 s, 2 s, 4 s, then 8 s. */
#define PG_MEMBERSHIP_BACKOFF_MIN_MS 1000
#define PG_MEMBERSHIP_BACKOFF_MAX_MS 8000

/* Starts registering this node (cfg->advertise, or cfg->listen when that is
 * empty) in cfg's etcd. Returns at once: an unreachable etcd is not an error
 * here, the background thread retries with backoff and pg_membership_ready()
 * says false until it succeeds. `metrics` may be NULL; when set, the families
 * pprofgate_cluster_nodes, pprofgate_etcd_registered,
 * pprofgate_etcd_errors_total{op}, pprofgate_etcd_reconnects_total and
 * pprofgate_etcd_lease_ttl_seconds are declared in it and kept current.
 * cfg is copied; neither cfg nor metrics is owned (metrics must outlive the
 * membership). Fails only on invalid config or resources (PG_EINVAL,
 * PG_ENOMEM, PG_EINTERNAL). */
PG_WUR int pg_membership_start(const struct pg_config *cfg, struct pg_metrics *metrics,
			       struct pg_membership **out);

/* Looks under cfg's etcd prefix for the keys only Go Goverse nodes write
 * (<prefix>/leader, <prefix>/shard/0, <prefix>/gates/...): a Goverse leader
 * would list this node and assign it shards it never claims. PG_OK when there
 * are none (or cluster.etcd.unsafe_share_goverse_prefix is true: a warning is
 * logged); PG_EEXIST with a sentence saying why and how to pick another
 * prefix; PG_ENET when etcd cannot be read (bounded by the etcd client's
 * timeouts). Blocks on etcd: call it before starting, not on request paths. */
PG_WUR int pg_membership_check_goverse(const struct pg_config *cfg);

/* Leaves the cluster: stops the threads and revokes the lease (the key
 * disappears immediately). Bounded to about 2 s even when etcd hangs. The
 * object stays valid: readers keep working (ready says false, "stopping"),
 * so a server thread still holding it as its readiness callback is safe.
 * Idempotent; call it from the thread that owns m. */
void pg_membership_leave(struct pg_membership *m);

/* pg_membership_leave, then frees everything. Readers must be gone (stop
 * the HTTP server first, or call leave early and stop last). Takes NULL;
 * sets *pp = NULL. */
void pg_membership_stop(struct pg_membership **pp);

/* True while this node's key is registered under a live lease. Otherwise
 * false, and a short reason ("registering", "etcd unreachable: ...", "lease
 * lost, re-registering", "stopping") is written to reason (n bytes,
 * NUL-terminated; reason may be NULL). Never blocks on I/O. */
bool pg_membership_ready(struct pg_membership *m, char *reason, size_t n);

/* pg_membership_ready with the signature of the HTTP server's readiness
 * callback (pg_http_ready_fn): arg is the struct pg_membership. */
bool pg_membership_ready_cb(void *arg, char *reason, size_t n);

/* The live member list as last read from etcd (values of the keys under
 * <prefix>/nodes/, sorted). Copies up to `max` addresses into out (may be
 * NULL when max is 0) and returns the total number of members. Longer
 * addresses are truncated. Never blocks on I/O. */
size_t pg_membership_members(struct pg_membership *m, char (*out)[PG_CONFIG_ADDR_MAX], size_t max);

/* This node's key in etcd (valid until stop). */
const char *pg_membership_key(const struct pg_membership *m);

#endif
