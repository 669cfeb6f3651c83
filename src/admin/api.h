/* The admin gRPC API (proto/admin.proto, pprofgate.admin.v1.Diagnostics)
 * over the node's diagnostics window (src/admin/window.h).
 *
 * The listener (admin.listen, default localhost:47001) runs on the gRPC
 * server core (src/rpc/cq.h) and is started only when admin TLS is fully
 * configured. The handshake requests a client certificate without judging it
 * (GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY; TLS still proves the
 * client holds the key); every call then checks the peer chain with auth/x509
 * against admin.tls.client_ca_file (the HTTP gate's check) and the identity
 * against admin.allowed_identities, refusing with UNAUTHENTICATED or
 * PERMISSION_DENIED and a reason sentence. Without TLS the admin API is not
 * served at all (a notice is logged): admin is never served in plaintext.
 *
 * Four-eyes windows (RequestWindow, ApproveWindow, DenyWindow,
 * ListWindowRequests) go to src/admin/approval.h; with
 * admin.require_approval, OpenWindow is refused (FAILED_PRECONDITION,
 * approval_required) with a sentence pointing to `window request`.
 *
 * Audit: every refused call is one line (event "denied", reason, detail,
 * peer) through the window's audit sink; TLS handshakes that fail inside gRPC
 * are counted (pprofgate_admin_tls_handshake_failures_total) and audited as
 * tls_handshake_failed, at most one line a second.
 *
 * Ownership: pg_admin_api_start returns an object owning its gRPC server;
 * config, metrics and the window are borrowed and must outlive it (stop the
 * API before the window). */
#ifndef PG_ADMIN_API_H
#define PG_ADMIN_API_H

#include "src/util/err.h"

struct pg_config;
struct pg_metrics;
struct pg_admin_window;
struct pg_admin_api;

/* The checks pg_admin_api_start makes of the admin settings (TLS files
 * all or none, readable and matching, client CA parsed, allowed identities
 * set and valid), without listening: the start-up checks --check-config
 * runs. */
PG_WUR int pg_admin_api_check(const struct pg_config *cfg);

/* Registers the API's metrics and, when TLS is configured, starts the
 * listener. On failure nothing is left running and pg_errmsg() says why
 * (e.g. the address). */
PG_WUR int pg_admin_api_start(const struct pg_config *cfg, struct pg_metrics *metrics,
			      struct pg_admin_window *win, struct pg_admin_api **out);

/* The bound admin port, 0 when the admin API is not served. */
int pg_admin_api_port(const struct pg_admin_api *a);

/* Stops the listener (calls in flight finish first, see src/rpc/cq.h) and
 * frees. Takes NULL; sets *pp = NULL. */
void pg_admin_api_stop(struct pg_admin_api **pp);

#endif
