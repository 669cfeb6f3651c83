/* The node's diagnostics window holder: who opened the window (auth/window.h)
 * for how long and where (this node or the whole cluster), its expiry, its
 * gauges and the audit of every open, close and expiry. The admin API
 * (src/admin/api.h) drives it; the security gate reads the window.
 *
 * The window always exists, closed at start, and never survives a restart:
 * it lives only in this process. Cluster windows (src/cluster/window_record.h)
 * are an etcd record with a lease that every node watches; a cluster window
 * whose record etcd has not confirmed within
 * admin.window.cluster_grace_seconds is closed here (audited), so etcd down
 * or cut off can never pin a window open.
 *
 * Audit: one line per event in the node's audit log (src/audit), with
 * event, identity (spelled as an allowlist entry, "-" when unknown), reason,
 * node and, for calls, the peer address.
 * Metrics: pprofgate_diag_window_open, pprofgate_diag_window_seconds_left,
 * pprofgate_diag_window_opens_total{identity}.
 *
 * Ownership: pg_admin_window_start returns an object owning its ticker
 * thread, the cluster watcher and the window; config and metrics are
 * borrowed and must outlive it. Every function is thread-safe. */
#ifndef PG_ADMIN_WINDOW_H
#define PG_ADMIN_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/window.h"
#include "src/util/err.h"

struct pg_config;
struct pg_metrics;
struct pg_admin_window;

struct pg_admin_window_opts {
	const struct pg_config *cfg;  /* admin.window.*, cluster.etcd.* */
	struct pg_metrics *metrics;   /* may be NULL */
	const char *node;             /* this node's name in audit lines (advertise address) */
	bool cluster;                 /* watch etcd for cluster windows */
	/* Where events are audited: audit(audit_arg, fields) with JSON object
	 * members (pg_audit_event). NULL: the log, at info level. */
	void (*audit)(void *arg, const char *fields);
	void *audit_arg;
};

/* Creates the closed window, registers its metrics, starts the ticker and
 * (if o->cluster) the etcd watcher. On failure nothing is left running. */
PG_WUR int pg_admin_window_start(const struct pg_admin_window_opts *o, struct pg_admin_window **out);

/* Stops the watcher and the ticker, closes the window (audited "node
 * stopping") and frees. Takes NULL; sets *pp = NULL. */
void pg_admin_window_stop(struct pg_admin_window **pp);

/* The window the security gate checks (pg_gate_set_window); valid until
 * pg_admin_window_stop. */
struct pg_auth_window *pg_admin_window_auth(struct pg_admin_window *w);

/* admin.window.max_seconds in ms, the longest window one may open. */
int64_t pg_admin_window_max_ms(const struct pg_admin_window *w);

/* Whether cluster windows can be opened here (etcd is watched). */
bool pg_admin_window_has_cluster(const struct pg_admin_window *w);

/* Opens the window on this node for who/reason, with a fresh window id
 * (src/util/rand.h). approved_by: the approver of a four-eyes request (NULL
 * = none). PG_EINVAL with the window's sentence when it refuses (audited as
 * "open" on success, with peer, window_id and approved_by). */
PG_WUR int pg_admin_window_open_node(struct pg_admin_window *w, const char *who, const char *reason,
				     int64_t duration_ms, const char *const *profiles, size_t n_profiles,
				     const char *approved_by, const char *peer);

/* Writes a cluster window record (with a fresh window id, and approved_by
 * when not NULL) to etcd and applies it here at once.
 * PG_ENET (pg_errmsg says why) when etcd did not take it: nothing opened. */
PG_WUR int pg_admin_window_open_cluster(struct pg_admin_window *w, const char *who, const char *reason,
					int64_t duration_ms, const char *const *profiles, size_t n_profiles,
					const char *approved_by, const char *peer);

/* Closes the window here at once, whatever etcd's state; with `cluster`,
 * then revokes the etcd record. When etcd fails, `note` (cap bytes) says so
 * for the operator; otherwise it is "". */
void pg_admin_window_close(struct pg_admin_window *w, const char *who, bool cluster, const char *peer,
			   char *note, size_t cap);

/* The window as a caller should see it now (expiry and grace checked
 * first, so a "closed" answer never precedes its audit line); *cluster says
 * whether an open window is a cluster window; approved_by (cap bytes)
 * receives its approver, "" when none. */
void pg_admin_window_status(struct pg_admin_window *w, struct pg_auth_window_status *ws, bool *cluster,
			    char *approved_by, size_t cap);

/* One audit line without duration or scope (refused calls, failed
 * handshakes); who, detail and peer may be NULL. */
void pg_admin_window_audit(struct pg_admin_window *w, const char *event, const char *who, const char *reason,
			   const char *detail, const char *peer);

/* One audit line of a four-eyes step (event "window_request",
 * "window_approve", "window_deny", or "denied" with a reason code): the
 * caller `who`, and request_id, requester (rec->requested_by), approver
 * (NULL = "-") and the request's reason as their own members. */
struct pg_request_record;
void pg_admin_window_audit_approval(struct pg_admin_window *w, const char *event, const char *who,
				    const struct pg_request_record *rec, bool cluster, const char *approver,
				    const char *reason, const char *detail, const char *peer);

/* Runs fn(arg, now_mono_ms) on every tick (about 5 times a second) until
 * replaced; fn NULL stops it. Returns once no call of the old fn runs. */
void pg_admin_window_on_tick(struct pg_admin_window *w, void (*fn)(void *arg, int64_t now_ms), void *arg);

#endif
