/* Four-eyes diagnostics windows; see approval.h. */
#include "src/admin/approval.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/admin/request.h"
#include "src/admin/window.h"
#include "src/config/config.h"
#include "src/util/clock.h"
#include "src/util/log.h"
#include "src/util/rand.h"

#define MOD "admin"

struct pg_admin_approvals {
	struct pg_admin_window *win;
	struct pg_cluster_requests *cluster; /* NULL: node requests only */
	bool required;
	int64_t ttl_ms;
	pthread_mutex_t mu; /* guards pending[] */
	struct pg_request_record pending[PG_ADMIN_PENDING_MAX]; /* id[0] == '\0': free */
};

static int64_t wall_ms(void)
{
	return pg_clock_wall_ns() / 1000000;
}

int pg_admin_approvals_new(const struct pg_config *cfg, struct pg_admin_window *win, bool cluster,
			   struct pg_admin_approvals **out)
{
	struct pg_admin_approvals *a;
	int rc;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return pg_fail(PG_ENOMEM, "admin: out of memory");
	pthread_mutex_init(&a->mu, NULL);
	a->win = win;
	a->required = strcmp(cfg->admin_require_approval, "true") == 0;
	a->ttl_ms = (cfg->admin_request_ttl_seconds > 0 ? cfg->admin_request_ttl_seconds : 600) * 1000LL;
	if (cluster && (rc = pg_cluster_requests_new(cfg, &a->cluster)) != PG_OK) {
		pg_admin_approvals_free(&a);
		return rc;
	}
	*out = a;
	return PG_OK;
}

void pg_admin_approvals_free(struct pg_admin_approvals **pp)
{
	if (!pp || !*pp)
		return;
	pg_cluster_requests_free(&(*pp)->cluster);
	pthread_mutex_destroy(&(*pp)->mu);
	free(*pp);
	*pp = NULL;
}

bool pg_admin_approvals_required(const struct pg_admin_approvals *a)
{
	return a && a->required;
}

/* Drops node requests that expired (audited). Caller holds mu. */
static void purge_locked(struct pg_admin_approvals *a, int64_t now)
{
	for (size_t i = 0; i < PG_ADMIN_PENDING_MAX; i++) {
		struct pg_request_record *r = &a->pending[i];

		if (r->id[0] && now >= r->expires_unix_ms) {
			pg_admin_window_audit_approval(a->win, "window_request_expired", "-", r, false, NULL, r->reason,
						       NULL, NULL);
			memset(r, 0, sizeof(*r));
		}
	}
}

/* The node request `id`, or NULL. Caller holds mu. */
static struct pg_request_record *find_locked(struct pg_admin_approvals *a, const char *id)
{
	for (size_t i = 0; i < PG_ADMIN_PENDING_MAX; i++)
		if (a->pending[i].id[0] && strcmp(a->pending[i].id, id) == 0)
			return &a->pending[i];
	return NULL;
}

int pg_admin_approvals_request(struct pg_admin_approvals *a, const struct pg_admin_caller *c, const char *reason,
			       int64_t duration_ms, const char *const *profiles, size_t n_profiles, bool cluster,
			       struct pg_request_record *out)
{
	struct pg_request_record *slot = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (cluster && !a->cluster)
		return pg_fail(PG_EINVAL, "this node does not watch cluster windows");
	if ((rc = pg_rand_id(out->id, sizeof(out->id))) != PG_OK)
		return rc;
	snprintf(out->requested_by, sizeof(out->requested_by), "%s", c->who);
	snprintf(out->requester_cert, sizeof(out->requester_cert), "%s", c->cert);
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
	for (size_t i = 0; i < n_profiles && i < PG_AUTH_WINDOW_MAX_PROFILES; i++)
		snprintf(out->profiles[out->n_profiles++], sizeof(out->profiles[0]), "%s", profiles[i]);
	out->duration_ms = duration_ms;
	out->created_unix_ms = wall_ms();
	out->expires_unix_ms = out->created_unix_ms + a->ttl_ms;
	if (cluster) {
		/* The same bound for the cluster's requests in etcd (two nodes
		 * racing may pass it by one or two: it bounds growth, not a
		 * count to the unit). */
		struct pg_request_record *seen = calloc(PG_ADMIN_PENDING_MAX, sizeof(*seen));
		size_t n = 0;

		if (!seen)
			return pg_fail(PG_ENOMEM, "admin: out of memory");
		rc = pg_cluster_requests_list(a->cluster, seen, PG_ADMIN_PENDING_MAX, &n);
		free(seen);
		if (rc != PG_OK)
			return PG_ENET; /* etcd's sentence stays in pg_errmsg() */
		if (n >= PG_ADMIN_PENDING_MAX)
			return pg_fail(PG_ENOMEM, "%d cluster window requests are pending, the most kept: approve "
						  "or deny some (pprofgatectl window requests)",
				       PG_ADMIN_PENDING_MAX);
		if ((rc = pg_cluster_requests_put(a->cluster, out)) != PG_OK)
			return PG_ENET; /* etcd's sentence stays in pg_errmsg() */
	} else {
		pthread_mutex_lock(&a->mu);
		purge_locked(a, out->created_unix_ms);
		for (size_t i = 0; i < PG_ADMIN_PENDING_MAX && !slot; i++)
			if (!a->pending[i].id[0])
				slot = &a->pending[i];
		if (slot)
			*slot = *out;
		pthread_mutex_unlock(&a->mu);
		if (!slot)
			return pg_fail(PG_ENOMEM, "%d window requests are pending on this node, the most it keeps: "
						  "approve or deny some (pprofgatectl window requests)",
				       PG_ADMIN_PENDING_MAX);
	}
	pg_admin_window_audit_approval(a->win, "window_request", c->who, out, cluster, NULL, out->reason,
				       cluster ? pg_cluster_requests_prefix(a->cluster) : NULL, c->peer);
	return PG_OK;
}

/* Refuses an approval: one audit line with both identities, the caller's
 * sentence in pg_errmsg(). */
static int refuse(struct pg_admin_approvals *a, const struct pg_admin_caller *c, const struct pg_request_record *rec,
		  bool cluster, int code, const char *reason_code, const char *sentence)
{
	pg_admin_window_audit_approval(a->win, "denied", c->who, rec, cluster, c->who, reason_code, sentence, c->peer);
	return pg_fail(code, "%s", sentence);
}

static int judge(struct pg_admin_approvals *a, const struct pg_admin_caller *c, const struct pg_request_record *rec,
		 bool cluster, int64_t now)
{
	char msg[512];

	switch (pg_admin_approval_check(rec, c->who, c->cert, now)) {
	case PG_ADMIN_APPROVAL_SELF:
		snprintf(msg, sizeof(msg),
			 "request %s was made by %s: a window request must be approved by another allowed identity "
			 "(four-eyes, admin.require_approval)", rec->id, rec->requested_by);
		return refuse(a, c, rec, cluster, PG_EDENIED, "self_approval", msg);
	case PG_ADMIN_APPROVAL_EXPIRED:
		snprintf(msg, sizeof(msg), "request %s expired %lld s ago (admin.request_ttl_seconds); ask for a new one",
			 rec->id, (long long)((now - rec->expires_unix_ms) / 1000));
		return refuse(a, c, rec, cluster, PG_EBUSY, "request_expired", msg);
	case PG_ADMIN_APPROVAL_OK:
		break;
	}
	return PG_OK;
}

/* etcd failed (or held an unreadable record) while reading or removing
 * request `id`: audited, PG_ENET. */
static int etcd_failed(struct pg_admin_approvals *a, const struct pg_admin_caller *c, const char *id)
{
	struct pg_request_record none;
	char msg[400];

	memset(&none, 0, sizeof(none));
	snprintf(none.id, sizeof(none.id), "%s", id);
	snprintf(msg, sizeof(msg), "request %s could not be read or removed in etcd (%s); no window was opened", id,
		 pg_errmsg());
	return refuse(a, c, &none, true, PG_ENET, "etcd_unreachable", msg);
}

static int not_found(struct pg_admin_approvals *a, const struct pg_admin_caller *c, const char *id)
{
	struct pg_request_record none;
	char msg[256];

	memset(&none, 0, sizeof(none));
	snprintf(none.id, sizeof(none.id), "%s", id);
	snprintf(msg, sizeof(msg), "no pending window request %s (never made, expired, or already approved or denied)",
		 id);
	return refuse(a, c, &none, a->cluster != NULL, PG_ENOTFOUND, "request_not_found", msg);
}

/* Takes request `id` off the node's table or etcd (checked by judge() first
 * when `approve`). *cluster says where it was. */
static int take(struct pg_admin_approvals *a, const struct pg_admin_caller *c, const char *id, bool approve,
		struct pg_request_record *rec, bool *cluster)
{
	int64_t now = wall_ms();
	struct pg_request_record *r;
	int rc;

	*cluster = false;
	pthread_mutex_lock(&a->mu);
	r = find_locked(a, id);
	if (r) {
		*rec = *r;
		rc = approve ? judge(a, c, rec, false, now) : PG_OK;
		if (rc != PG_EDENIED) /* approved, denied or expired: it is gone */
			memset(r, 0, sizeof(*r));
		pthread_mutex_unlock(&a->mu);
		return rc;
	}
	pthread_mutex_unlock(&a->mu);
	if (!a->cluster)
		return not_found(a, c, id);
	rc = pg_cluster_requests_get(a->cluster, id, rec);
	if (rc == PG_ENOTFOUND)
		return not_found(a, c, id);
	if (rc != PG_OK)
		return etcd_failed(a, c, id);
	*cluster = true;
	if (approve && (rc = judge(a, c, rec, true, now)) != PG_OK) {
		if (rc == PG_EBUSY) {
			char msg[512];

			snprintf(msg, sizeof(msg), "%s", pg_errmsg());
			if (pg_cluster_requests_take(a->cluster, id) != PG_OK)
				pg_err_clear(); /* its lease removes it anyway */
			rc = pg_fail(PG_EBUSY, "%s", msg);
		}
		return rc;
	}
	/* Only the caller whose delete removed it goes on. */
	rc = pg_cluster_requests_take(a->cluster, id);
	if (rc == PG_ENOTFOUND)
		return not_found(a, c, id);
	return rc == PG_OK ? PG_OK : etcd_failed(a, c, id);
}

int pg_admin_approvals_approve(struct pg_admin_approvals *a, const struct pg_admin_caller *c, const char *id)
{
	struct pg_request_record rec;
	const char *profs[PG_AUTH_WINDOW_MAX_PROFILES];
	bool cluster;
	int rc = take(a, c, id, true, &rec, &cluster);

	if (rc != PG_OK)
		return rc;
	for (size_t i = 0; i < rec.n_profiles; i++)
		profs[i] = rec.profiles[i];
	pg_admin_window_audit_approval(a->win, "window_approve", c->who, &rec, cluster, c->who, rec.reason, NULL,
				       c->peer);
	rc = cluster ? pg_admin_window_open_cluster(a->win, rec.requested_by, rec.reason, rec.duration_ms, profs,
						    rec.n_profiles, c->who, c->peer)
		     : pg_admin_window_open_node(a->win, rec.requested_by, rec.reason, rec.duration_ms, profs,
						 rec.n_profiles, c->who, c->peer);
	if (rc != PG_OK) {
		char why[300];

		snprintf(why, sizeof(why), "%s", pg_errmsg());
		pg_admin_window_audit_approval(a->win, "denied", c->who, &rec, cluster, c->who, "window_not_opened", why,
					       c->peer);
		return pg_fail(rc, "request %s was approved but the window did not open: %s; ask for a new request",
			       rec.id, why);
	}
	return PG_OK;
}

int pg_admin_approvals_deny(struct pg_admin_approvals *a, const struct pg_admin_caller *c, const char *id,
			    const char *note, struct pg_request_record *out, bool *cluster)
{
	int rc = take(a, c, id, false, out, cluster);

	if (rc == PG_OK)
		pg_admin_window_audit_approval(a->win, "window_deny", c->who, out, *cluster, c->who, out->reason,
					       note && note[0] ? note : NULL, c->peer);
	return rc;
}

void pg_admin_approvals_list(struct pg_admin_approvals *a, struct pg_request_record *out, bool *cluster, size_t cap,
			     size_t *n, char *err, size_t cap_err)
{
	size_t nc = 0;

	*n = 0;
	if (cap_err)
		err[0] = '\0';
	pthread_mutex_lock(&a->mu);
	purge_locked(a, wall_ms());
	for (size_t i = 0; i < PG_ADMIN_PENDING_MAX && *n < cap; i++)
		if (a->pending[i].id[0]) {
			cluster[*n] = false;
			out[(*n)++] = a->pending[i];
		}
	pthread_mutex_unlock(&a->mu);
	if (!a->cluster || *n >= cap)
		return;
	if (pg_cluster_requests_list(a->cluster, out + *n, cap - *n, &nc) != PG_OK) {
		snprintf(err, cap_err, "etcd could not be read (%s): cluster requests are not listed", pg_errmsg());
		pg_warn(MOD, "%s", err);
		return;
	}
	for (size_t i = 0; i < nc; i++)
		cluster[*n + i] = true;
	*n += nc;
}
