/* Four-eyes diagnostics windows (admin.require_approval): pending window
 * requests and the rule that a second allowed identity opens them.
 *
 * A node request lives here, in memory: at most PG_ADMIN_PENDING_MAX (64)
 * pending per node, so a caller cannot grow the node's memory; expired ones
 * are dropped when room is needed or the list is read. A cluster request
 * lives in etcd (src/cluster/request_record.h) on its own lease, and any
 * node approves, denies or lists it; a node refuses a new one when 64 are
 * pending in etcd. Both expire after
 * admin.request_ttl_seconds. Approving checks pg_admin_approval_check
 * (src/admin/request.h: not the requester, not expired), removes the request
 * (so one approval opens one window), then opens the window through
 * src/admin/window.h with the requester as opener and the approver as
 * approved_by. Every step and every refusal is one audit line naming both
 * identities (pg_admin_window_audit_approval).
 *
 * Ownership: the object owns its etcd client; config and window are
 * borrowed and must outlive it. Thread-safe. */
#ifndef PG_ADMIN_APPROVAL_H
#define PG_ADMIN_APPROVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/cluster/request_record.h"
#include "src/util/err.h"

#define PG_ADMIN_PENDING_MAX 64

struct pg_config;
struct pg_admin_window;
struct pg_admin_approvals;

/* `cluster`: cluster requests go to etcd (the node watches cluster windows). */
PG_WUR int pg_admin_approvals_new(const struct pg_config *cfg, struct pg_admin_window *win, bool cluster,
				  struct pg_admin_approvals **out);
void pg_admin_approvals_free(struct pg_admin_approvals **pp);

/* admin.require_approval: OpenWindow is refused. */
bool pg_admin_approvals_required(const struct pg_admin_approvals *a);

/* Who is calling: the allowed_identities entry the certificate matched, the
 * certificate's own identity, and the peer address. */
struct pg_admin_caller {
	const char *who, *cert, *peer;
};

/* Creates a pending request; *out receives it (its id for the reply).
 * PG_ENOMEM: 64 pending on this node (or, for cluster requests, in etcd).
 * PG_ENET: etcd did not take it. */
PG_WUR int pg_admin_approvals_request(struct pg_admin_approvals *a, const struct pg_admin_caller *c,
				      const char *reason, int64_t duration_ms, const char *const *profiles,
				      size_t n_profiles, bool cluster, struct pg_request_record *out);

/* Approves request `id` and opens its window. PG_EDENIED: the caller is the
 * requester. PG_ENOTFOUND: no such pending request. PG_EBUSY: it expired.
 * PG_ENET: etcd failed (nothing opened). Otherwise the window's error. Each
 * refusal is audited here; pg_errmsg() has the sentence for the caller. */
PG_WUR int pg_admin_approvals_approve(struct pg_admin_approvals *a, const struct pg_admin_caller *c,
				      const char *id);

/* Denies (drops) request `id`; *out receives it. PG_ENOTFOUND, PG_ENET. */
PG_WUR int pg_admin_approvals_deny(struct pg_admin_approvals *a, const struct pg_admin_caller *c, const char *id,
				   const char *note, struct pg_request_record *out, bool *cluster);

/* Pending requests, node ones first: at most cap into out[], cluster[i] says
 * which are cluster requests. When etcd cannot be read, the node's are still
 * listed and `err` (cap_err bytes) says why; otherwise it is "". */
void pg_admin_approvals_list(struct pg_admin_approvals *a, struct pg_request_record *out, bool *cluster,
			     size_t cap, size_t *n, char *err, size_t cap_err);

#endif
