/* The admin gRPC API (proto/admin.proto, pprofgate.admin.v1.Diagnostics) and
 * the node's diagnostics window.
 *
 * The window (auth/window.h) always exists, closed at start, and never
 * survives a restart: it lives only in this process. The gRPC listener
 * (admin.listen, default localhost:47001) is started only when admin TLS is
 * fully configured. The handshake requests a client certificate without
 * judging it (GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY; TLS still
 * proves the client holds the key); every call then checks the peer chain with
 * auth/x509 against admin.tls.client_ca_file (the HTTP gate's check) and the
 * identity against admin.allowed_identities, refusing with UNAUTHENTICATED or
 * PERMISSION_DENIED and a reason sentence. Without TLS the admin API is not
 * served at all (a notice is logged): admin is never served in plaintext.
 *
 * Cluster windows (OpenWindow{cluster}) go through etcd
 * (src/admin/cluster_window.h); every node watches the record.
 *
 * Audit: every open, close, expiry and refused call is one line in the
 * gateway's audit sink (or the log), with event, identity (spelled as an
 * allowlist entry, "-" when unknown), reason, node and, for calls, the peer
 * address. A cluster window whose etcd record is not confirmed within
 * admin.window.cluster_grace_seconds is closed here (audited).
 * Metrics: pprofgate_diag_window_open, pprofgate_diag_window_seconds_left,
 * pprofgate_diag_window_opens_total{identity}.
 *
 * Ownership: pg_admin_start returns an object owning its threads, gRPC server,
 * etcd watcher and window; the config and metrics are borrowed and must
 * outlive it. */
#ifndef PG_ADMIN_SERVER_H
#define PG_ADMIN_SERVER_H

#include <stdbool.h>

#include "src/util/err.h"

struct pg_config;
struct pg_metrics;
struct pg_auth_window;
struct pg_admin;

struct pg_admin_opts {
	const struct pg_config *cfg;  /* admin.*, cluster.etcd.* */
	struct pg_metrics *metrics;   /* may be NULL */
	const char *node;             /* this node's name in audit lines (advertise address) */
	bool cluster;                 /* watch etcd for cluster windows */
	/* Where window events are audited: audit(audit_arg, fields) with JSON
	 * object members (pg_gate_audit_event). NULL: the log, at info level. */
	void (*audit)(void *arg, const char *fields);
	void *audit_arg;
};

/* Creates the window, registers metrics, starts the etcd watcher (if
 * o->cluster) and, when TLS is configured, the admin listener. On failure
 * nothing is left running and pg_errmsg() says why (e.g. the address). */
PG_WUR int pg_admin_start(const struct pg_admin_opts *o, struct pg_admin **out);

/* The node's window, for the security gate (pg_auth_policy_set_window). Owned
 * by the admin object; valid until pg_admin_stop. */
struct pg_auth_window *pg_admin_window(struct pg_admin *a);

/* The bound admin port, 0 when the admin API is not served. */
int pg_admin_port(const struct pg_admin *a);

/* Stops the listener and the watcher, closes the window (audited) and frees.
 * Takes NULL; sets *pp = NULL. */
void pg_admin_stop(struct pg_admin **pp);

#endif
