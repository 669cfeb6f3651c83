/* The diagnostics gateway: the glue between the HTTP server and auth/.
 *
 * Built from the diagnostics: section of the config, it holds the access
 * policy (JWT verifier, client CA store, allowed identities, allowlists,
 * trusted proxies). Per request it collects what the
 * policy needs (peer, X-Forwarded-For, Authorization, the client's
 * certificate chain, verified here: libmicrohttpd only requests it), calls
 * pg_auth_decide() and answers refusals itself (status, JSON reason,
 * WWW-Authenticate). Every diagnostics request, and every request the HTTP
 * server refused on any route, ends in one audit line (src/audit) and one
 * pprofgate_diag_requests_total{route,decision,reason} increment. A
 * diagnostics request holds a slot in the audit queue from the gate to its
 * completion; without one it is refused (503 audit_unavailable).
 *
 * Reload (SIGHUP): pg_gate_reload() builds a complete new policy from a
 * config; requests in flight keep the state they started with (reference
 * counted), new ones see the new state; on failure the old state stays.
 *
 * Thread-safe after pg_gate_new(); the gate must outlive the HTTP server. */
#ifndef PG_GATE_GATE_H
#define PG_GATE_GATE_H

#include <stdbool.h>

#include "auth/window.h"
#include "src/config/config.h"
#include "src/http/server.h"
#include "src/metrics/metrics.h"
#include "src/util/err.h"

struct pg_gate;

/* Refuses (PG_EINVAL, with a sentence saying what to configure) to expose
 * /debug/pprof on a non-loopback HTTP address without TLS and an
 * authentication method for the pprof group. */
PG_WUR int pg_gate_check_exposure(const char *http_listen, const struct pg_config_diag *d);

/* Builds the gate. Key files must be readable and private (mode 600); the
 * errors name the file and the fix. `metrics` may be NULL. */
PG_WUR int pg_gate_new(const struct pg_config_diag *d, struct pg_metrics *metrics, struct pg_gate **out);

/* The checks of pg_gate_new without building a gate or creating the audit
 * file (an existing one must open for appending, a missing one needs a
 * writable directory), for --check-config; fills o's TLS fields as
 * pg_gate_http_opts does (its gate and audit hooks stay NULL). */
PG_WUR int pg_gate_check_config(const struct pg_config_diag *d, struct pg_http_opts *o);

/* Replaces policy and keys from `d`; the old state stays on failure. TLS
 * server certificates are reloaded by pg_http_reload_tls(), the audit file by
 * pg_audit_reopen(). */
PG_WUR int pg_gate_reload(struct pg_gate *g, const struct pg_config_diag *d);

void pg_gate_free(struct pg_gate **pp);

/* Fills the gate and TLS fields of HTTP server options from the gate and
 * `d` (d's strings must outlive the server). */
void pg_gate_http_opts(struct pg_gate *g, const struct pg_config_diag *d, struct pg_http_opts *o);

/* The diagnostics window that groups.pprof.require_window checks (borrowed:
 * it must outlive the gate's use; NULL = closed). The gate hands it to
 * pg_auth_decide with each request, and the time left in it to the handler
 * (pg_http_req_limit_ms). Thread-safe. */
struct pg_auth_window;
void pg_gate_set_window(struct pg_gate *g, struct pg_auth_window *w);

/* pg_http_gate_fn for the pprof group (arg = the gate). */
bool pg_gate_check(struct pg_http_req *r, void *arg);
/* pg_http_gate_fn for /metrics and /healthz, /ready (arg = the gate). */
bool pg_gate_check_public(struct pg_http_req *r, void *arg);
/* pg_http_done_fn: the audit line (arg = the gate). */
void pg_gate_audit(void *arg, const struct pg_http_done_info *info);

/* The audit log the gate writes to (borrowed: it must outlive the gate's
 * use; NULL = lines go to the log at info level, and nothing is refused for
 * want of an audit slot). Thread-safe. */
struct pg_audit;
void pg_gate_set_audit(struct pg_gate *g, struct pg_audit *a);

#endif
