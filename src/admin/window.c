/* The node's diagnostics window holder; see window.h.
 *
 * One lock (mu) guards the holder's fields and every change of the window,
 * so an audit line, the gauges and the window never disagree. A ticker
 * thread notices windows that expired (audit) and keeps the gauges current. */
#include "src/admin/window.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/cluster/request_record.h"
#include "src/cluster/window_record.h"
#include "src/config/config.h"
#include "src/metrics/metrics.h"
#include "src/util/clock.h"
#include "src/util/buf.h"
#include "src/util/json.h"
#include "src/util/log.h"
#include "src/util/rand.h"
#include "src/util/thread.h"

#define MOD "admin"
#define TICK_MS 200
#define NOTE_MAX 512

enum scope { SCOPE_NONE = 0, SCOPE_NODE, SCOPE_CLUSTER };

struct pg_admin_window {
	char node[PG_CONFIG_ADDR_MAX];
	void (*audit)(void *arg, const char *fields); /* NULL: the log */
	void *audit_arg;
	int64_t max_ms;
	struct pg_auth_window *window;
	struct pg_cluster_window *cluster;
	int64_t grace_ms; /* admin.window.cluster_grace_seconds, else the lease TTL */

	/* Who holds the window, for expiry audit lines and the reply's `cluster`. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum scope scope;
	char opener[PG_AUTH_WINDOW_TEXT_MAX], reason[PG_AUTH_WINDOW_TEXT_MAX];
	char approved_by[PG_AUTH_WINDOW_TEXT_MAX]; /* "" = opened without approval */
	char id[PG_AUTH_WINDOW_ID_MAX];
	int64_t duration_ms;
	int64_t cluster_deadline_unix_ms; /* the record applied, to apply each once */
	/* The record last closed here (request or lost etcd): re-reading it never
	 * reopens the window on this node; only a new record does. */
	int64_t dismissed_deadline_unix_ms;
	char dismissed_by[PG_AUTH_WINDOW_TEXT_MAX];
	bool stopping;
	pthread_t ticker;
	bool ticker_started;
	void (*tick)(void *arg, int64_t now_ms); /* under mu */
	void *tick_arg;

	struct pg_series *g_open, *g_left;
	struct pg_family *f_opens;
};

static const char *scope_name(enum scope s)
{
	return s == SCOPE_CLUSTER ? "cluster" : "node";
}

/* One audit line: JSON, every text escaped by the JSON writer, no secrets.
 * duration_ms < 0 leaves out duration and scope; peer may be NULL; members
 * (may be NULL) are more JSON object members, already escaped, appended
 * after the node (",\"requester\":...": approvals). */
static void audit_members(struct pg_admin_window *a, const char *event, const char *who, const char *reason,
			  int64_t duration_ms, enum scope scope, const char *extra, const char *peer,
			  const char *members)
{
	struct pg_buf b;
	int rc;

	pg_buf_init(&b, 4096);
	rc = pg_buf_puts(&b, "\"event\":");
	if (rc == PG_OK)
		rc = pg_json_write_cstr(&b, event);
	if (rc == PG_OK)
		rc = pg_buf_puts(&b, ",\"identity\":");
	if (rc == PG_OK)
		rc = pg_json_write_cstr(&b, who && who[0] ? who : "-");
	if (rc == PG_OK)
		rc = pg_buf_puts(&b, ",\"reason\":");
	if (rc == PG_OK)
		rc = pg_json_write_cstr(&b, reason ? reason : "");
	if (rc == PG_OK && duration_ms >= 0)
		rc = pg_buf_printf(&b, ",\"duration_s\":%.3f,\"scope\":\"%s\"", (double)duration_ms / 1000.0,
				   scope_name(scope));
	if (rc == PG_OK)
		rc = pg_buf_puts(&b, ",\"node\":");
	if (rc == PG_OK)
		rc = pg_json_write_cstr(&b, a->node);
	if (rc == PG_OK && members)
		rc = pg_buf_puts(&b, members);
	if (rc == PG_OK && peer) {
		rc = pg_buf_puts(&b, ",\"peer\":");
		if (rc == PG_OK)
			rc = pg_json_write_cstr(&b, peer);
	}
	if (rc == PG_OK && extra) {
		rc = pg_buf_puts(&b, ",\"detail\":");
		if (rc == PG_OK)
			rc = pg_json_write_cstr(&b, extra);
	}
	if (rc == PG_OK && a->audit)
		a->audit(a->audit_arg, b.data);
	else if (rc == PG_OK)
		pg_info(MOD, "audit: {%s}", b.data);
	else
		pg_warn(MOD, "audit: %s event could not be formatted", event);
	pg_buf_free(&b);
}

static void audit_peer(struct pg_admin_window *a, const char *event, const char *who, const char *reason,
		       int64_t duration_ms, enum scope scope, const char *extra, const char *peer)
{
	audit_members(a, event, who, reason, duration_ms, scope, extra, peer, NULL);
}

/* ,"window_id":...[,"approved_by":...] for the holder's open/close lines.
 * Caller holds a->mu. */
static void holder_members(const struct pg_admin_window *a, struct pg_buf *b)
{
	int rc = PG_OK;

	if (a->id[0])
		rc = pg_record_put(b, rc, ",\"window_id\":", a->id);
	if (a->approved_by[0])
		rc = pg_record_put(b, rc, ",\"approved_by\":", a->approved_by);
	if (rc != PG_OK)
		pg_buf_reset(b);
}

/* An event of the window held here, with its id and approver. Caller holds
 * a->mu. */
static void audit_holder(struct pg_admin_window *a, const char *event, const char *who, const char *reason,
			 int64_t duration_ms, enum scope scope, const char *extra, const char *peer)
{
	struct pg_buf m;

	pg_buf_init(&m, 1024);
	holder_members(a, &m);
	audit_members(a, event, who, reason, duration_ms, scope, extra, peer, m.len ? m.data : NULL);
	pg_buf_free(&m);
}

static void audit(struct pg_admin_window *a, const char *event, const char *who, const char *reason,
		  int64_t duration_ms, enum scope scope, const char *extra)
{
	audit_holder(a, event, who, reason, duration_ms, scope, extra, NULL);
}

static void update_gauges_locked(struct pg_admin_window *a, int64_t now)
{
	int64_t left = pg_auth_window_time_left_ms(a->window, now);

	if (a->g_open)
		pg_series_set(a->g_open, left > 0 ? 1 : 0);
	if (a->g_left)
		pg_series_set(a->g_left, (double)((left + 999) / 1000));
}

static void count_open(struct pg_admin_window *a, const char *who)
{
	const char *lv[1] = {who};
	struct pg_series *s = a->f_opens ? pg_family_series(a->f_opens, lv) : NULL;

	if (s)
		pg_series_add(s, 1);
}

/* Records the holder after a successful open. Caller holds a->mu. */
static void set_holder_locked(struct pg_admin_window *a, enum scope s, const char *who, const char *reason,
			      const char *approved_by, const char *id, int64_t duration_ms)
{
	a->scope = s;
	snprintf(a->opener, sizeof(a->opener), "%s", who);
	snprintf(a->reason, sizeof(a->reason), "%s", reason);
	snprintf(a->approved_by, sizeof(a->approved_by), "%s", approved_by ? approved_by : "");
	snprintf(a->id, sizeof(a->id), "%s", id ? id : "");
	a->duration_ms = duration_ms;
}

/* Closes the window held here (audited as `event` with `detail`). A cluster
 * record closed here stays closed here (dismissed). Caller holds a->mu. */
static void close_locked(struct pg_admin_window *a, const char *event, const char *who, const char *detail)
{
	if (a->scope == SCOPE_CLUSTER) {
		a->dismissed_deadline_unix_ms = a->cluster_deadline_unix_ms;
		snprintf(a->dismissed_by, sizeof(a->dismissed_by), "%s", a->opener);
	}
	if (a->scope != SCOPE_NONE)
		audit(a, event, who, a->reason, a->duration_ms, a->scope, detail);
	a->scope = SCOPE_NONE;
	a->approved_by[0] = a->id[0] = '\0';
	pg_auth_window_close(a->window);
}

/* Audits a window that reached its deadline, closes a cluster window whose
 * etcd record could not be confirmed within the grace (etcd down or cut off
 * must never pin a window open), and refreshes the gauges. Run by the ticker
 * and by every call that reads the window, so a status that says "closed"
 * never precedes the audit line and gauges. */
static void expire_check_locked(struct pg_admin_window *a, int64_t now)
{
	if (a->scope != SCOPE_NONE && pg_auth_window_time_left_ms(a->window, now) == 0)
		close_locked(a, "expire", a->opener, NULL);
	if (a->scope == SCOPE_CLUSTER && a->cluster) {
		char why[200], detail[NOTE_MAX];
		int64_t since = pg_cluster_window_unconfirmed_ms(a->cluster, now, why, sizeof(why));

		if (since >= a->grace_ms) {
			snprintf(detail, sizeof(detail),
				 "etcd has not confirmed the cluster window record for %.1f s (grace %lld s): %s",
				 (double)since / 1000.0, (long long)(a->grace_ms / 1000), why);
			pg_warn(MOD, "cluster window closed on this node: %s", detail);
			close_locked(a, "close", a->opener, detail);
		}
	}
	update_gauges_locked(a, now);
}

static void *ticker_main(void *arg)
{
	struct pg_admin_window *a = arg;

	pthread_mutex_lock(&a->mu);
	while (!a->stopping) {
		struct timespec ts;
		int64_t now = pg_clock_mono_ms();

		expire_check_locked(a, now);
		if (a->tick)
			a->tick(a->tick_arg, now);
		ts = pg_clock_deadline(CLOCK_MONOTONIC, TICK_MS);
		pthread_cond_timedwait(&a->cv, &a->mu, &ts);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* ---- cluster records from etcd ---- */

static void apply_cluster(const struct pg_window_record *rec, void *arg)
{
	struct pg_admin_window *a = arg;
	const char *profs[PG_AUTH_WINDOW_MAX_PROFILES];
	int64_t now = pg_clock_mono_ms(), left;

	pthread_mutex_lock(&a->mu);
	if (!rec) {
		if (a->scope == SCOPE_CLUSTER)
			close_locked(a, "close", a->opener, "cluster record removed (closed or lease expired)");
		a->cluster_deadline_unix_ms = 0;
		goto out;
	}
	if (a->scope == SCOPE_CLUSTER && rec->deadline_unix_ms == a->cluster_deadline_unix_ms &&
	    strcmp(rec->opened_by, a->opener) == 0)
		goto out; /* the record this node already applied (its own open, or a re-read) */
	if (rec->deadline_unix_ms == a->dismissed_deadline_unix_ms && strcmp(rec->opened_by, a->dismissed_by) == 0)
		goto out; /* closed here already: a re-read after etcd returns does not reopen it */
	left = pg_window_record_remaining_ms(rec, (pg_clock_wall_ns() / 1000000), a->max_ms);
	if (left <= 0)
		goto out;
	for (size_t i = 0; i < rec->n_profiles; i++)
		profs[i] = rec->profiles[i];
	if (pg_auth_window_open_id(a->window, now, left, rec->reason, rec->opened_by, rec->id[0] ? rec->id : NULL,
				   profs, rec->n_profiles) != PG_OK) {
		pg_warn(MOD, "cluster window record not applied: %s", pg_errmsg());
		goto out;
	}
	set_holder_locked(a, SCOPE_CLUSTER, rec->opened_by, rec->reason, rec->approved_by, rec->id, left);
	a->cluster_deadline_unix_ms = rec->deadline_unix_ms;
	audit(a, "open", rec->opened_by, rec->reason, left, SCOPE_CLUSTER, "applied from etcd");
out:
	update_gauges_locked(a, now);
	pthread_mutex_unlock(&a->mu);
}


int pg_admin_window_open_node(struct pg_admin_window *a, const char *who, const char *reason,
			      int64_t duration_ms, const char *const *profiles, size_t n_profiles,
			      const char *approved_by, const char *peer)
{
	int64_t now = pg_clock_mono_ms();
	char id[PG_AUTH_WINDOW_ID_MAX];
	int rc;

	/* A fresh id per open: a token bound to an earlier window never
	 * serves this one. */
	if ((rc = pg_rand_id(id, sizeof(id))) != PG_OK)
		return rc;
	pthread_mutex_lock(&a->mu);
	rc = pg_auth_window_open_id(a->window, now, duration_ms, reason, who, id, profiles, n_profiles);
	if (rc == PG_OK) {
		set_holder_locked(a, SCOPE_NODE, who, reason, approved_by, id, duration_ms);
		a->cluster_deadline_unix_ms = 0;
		audit_holder(a, "open", who, reason, duration_ms, SCOPE_NODE, NULL, peer);
		update_gauges_locked(a, now);
	}
	pthread_mutex_unlock(&a->mu);
	if (rc != PG_OK)
		return rc; /* the window's sentence stays in pg_errmsg() */
	count_open(a, who);
	return PG_OK;
}

int pg_admin_window_open_cluster(struct pg_admin_window *a, const char *who, const char *reason,
				 int64_t duration_ms, const char *const *profiles, size_t n_profiles,
				 const char *approved_by, const char *peer)
{
	struct pg_window_record rec;
	int rc;

	if (!a->cluster)
		return pg_fail(PG_EINVAL, "this node does not watch cluster windows");
	memset(&rec, 0, sizeof(rec));
	if ((rc = pg_rand_id(rec.id, sizeof(rec.id))) != PG_OK)
		return rc;
	snprintf(rec.approved_by, sizeof(rec.approved_by), "%s", approved_by ? approved_by : "");
	snprintf(rec.opened_by, sizeof(rec.opened_by), "%s", who);
	snprintf(rec.reason, sizeof(rec.reason), "%s", reason);
	for (size_t i = 0; i < n_profiles && i < PG_AUTH_WINDOW_MAX_PROFILES; i++)
		snprintf(rec.profiles[rec.n_profiles++], sizeof(rec.profiles[0]), "%s", profiles[i]);
	rec.duration_ms = duration_ms;
	rec.deadline_unix_ms = (pg_clock_wall_ns() / 1000000) + duration_ms;
	if (pg_cluster_window_open(a->cluster, &rec) != PG_OK)
		return PG_ENET; /* etcd's sentence stays in pg_errmsg() */
	audit_peer(a, "open_request", who, reason, duration_ms, SCOPE_CLUSTER, pg_cluster_window_key(a->cluster),
		   peer);
	count_open(a, who);
	/* Apply here too, so the reply already shows it; the watch event for
	 * the same record is then a no-op. */
	apply_cluster(&rec, a);
	return PG_OK;
}

void pg_admin_window_close(struct pg_admin_window *a, const char *who, bool cluster, const char *peer,
			   char *note, size_t cap)
{
	if (cap)
		note[0] = '\0';
	pthread_mutex_lock(&a->mu);
	close_locked(a, "close", who, cluster ? "close requested for the cluster" : NULL);
	update_gauges_locked(a, pg_clock_mono_ms());
	pthread_mutex_unlock(&a->mu);
	if (!cluster || !a->cluster)
		return;
	if (pg_cluster_window_close(a->cluster) != PG_OK) {
		char why[300];

		snprintf(why, sizeof(why), "%s", pg_errmsg());
		pg_warn(MOD, "cluster window not closed in etcd: %s", why);
		snprintf(note, cap,
			 "closed on this node; etcd unreachable (%s): other nodes close their cluster window "
			 "within %lld s",
			 why, (long long)(a->grace_ms / 1000));
		audit_peer(a, "close_request", who, "etcd_unreachable", -1, SCOPE_CLUSTER, note, peer);
	} else {
		audit_peer(a, "close_request", who, "", -1, SCOPE_CLUSTER, pg_cluster_window_key(a->cluster), peer);
	}
}

void pg_admin_window_status(struct pg_admin_window *a, struct pg_auth_window_status *ws, bool *cluster,
			    char *approved_by, size_t cap)
{
	int64_t now = pg_clock_mono_ms();

	pthread_mutex_lock(&a->mu);
	expire_check_locked(a, now);
	pg_auth_window_status(a->window, now, ws);
	*cluster = ws->open && a->scope == SCOPE_CLUSTER;
	if (cap)
		snprintf(approved_by, cap, "%s", ws->open ? a->approved_by : "");
	pthread_mutex_unlock(&a->mu);
}

void pg_admin_window_audit_approval(struct pg_admin_window *a, const char *event, const char *who,
				    const struct pg_request_record *rec, bool cluster, const char *approver,
				    const char *reason, const char *detail, const char *peer)
{
	struct pg_buf m;
	int rc;

	pg_buf_init(&m, 2048);
	rc = pg_record_put(&m, PG_OK, ",\"request_id\":", rec->id);
	rc = pg_record_put(&m, rc, ",\"requester\":", rec->requested_by[0] ? rec->requested_by : "-");
	rc = pg_record_put(&m, rc, ",\"approver\":", approver && approver[0] ? approver : "-");
	/* The request's own reason, when "reason" holds a refusal's code. */
	if (rec->reason[0] && (!reason || strcmp(reason, rec->reason) != 0))
		rc = pg_record_put(&m, rc, ",\"request_reason\":", rec->reason);
	if (rc != PG_OK)
		pg_buf_reset(&m);
	audit_members(a, event, who, reason, rec->duration_ms > 0 ? rec->duration_ms : -1,
		      cluster ? SCOPE_CLUSTER : SCOPE_NODE, detail, peer, m.len ? m.data : NULL);
	pg_buf_free(&m);
}

void pg_admin_window_audit(struct pg_admin_window *a, const char *event, const char *who, const char *reason,
			   const char *detail, const char *peer)
{
	audit_peer(a, event, who, reason, -1, SCOPE_NONE, detail, peer);
}

void pg_admin_window_on_tick(struct pg_admin_window *a, void (*fn)(void *arg, int64_t now_ms), void *arg)
{
	pthread_mutex_lock(&a->mu);
	a->tick = fn;
	a->tick_arg = arg;
	pthread_mutex_unlock(&a->mu);
}

struct pg_auth_window *pg_admin_window_auth(struct pg_admin_window *a)
{
	return a ? a->window : NULL;
}

int64_t pg_admin_window_max_ms(const struct pg_admin_window *a)
{
	return a->max_ms;
}

bool pg_admin_window_has_cluster(const struct pg_admin_window *a)
{
	return a->cluster != NULL;
}

static int register_metrics(struct pg_admin_window *a, struct pg_metrics *m)
{
	static const char *const id_label[] = {"identity"};
	struct pg_family *f;
	int rc;

	if (!m)
		return PG_OK;
	if ((rc = pg_metrics_family(m, PG_METRIC_GAUGE, "pprofgate_diag_window_open",
				    "1 while this node's diagnostics window is open.", NULL, 0, NULL, 0, &f)) !=
	    PG_OK)
		return rc;
	a->g_open = pg_family_series(f, NULL);
	if ((rc = pg_metrics_family(m, PG_METRIC_GAUGE, "pprofgate_diag_window_seconds_left",
				    "Seconds left in this node's diagnostics window (0 when closed).", NULL, 0,
				    NULL, 0, &f)) != PG_OK)
		return rc;
	a->g_left = pg_family_series(f, NULL);
	if ((rc = pg_metrics_family(m, PG_METRIC_COUNTER, "pprofgate_diag_window_opens_total",
				    "Diagnostics windows opened through this node, by admin identity (the "
				    "matching admin.allowed_identities entry).",
				    id_label, 1, NULL, 0, &a->f_opens)) != PG_OK)
		return rc;
	if (!a->g_open || !a->g_left)
		return pg_fail(PG_ENOMEM, "admin: out of memory for metrics");
	pg_series_set(a->g_open, 0);
	pg_series_set(a->g_left, 0);
	return PG_OK;
}

int pg_admin_window_start(const struct pg_admin_window_opts *o, struct pg_admin_window **out)
{
	const struct pg_config *cfg = o->cfg;
	struct pg_admin_window *a;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!cfg)
		return pg_fail(PG_EINVAL, "admin: no config");
	a = calloc(1, sizeof(*a));
	if (!a)
		return pg_fail(PG_ENOMEM, "admin: out of memory");
	snprintf(a->node, sizeof(a->node), "%s", o->node ? o->node : "-");
	a->audit = o->audit;
	a->audit_arg = o->audit_arg;
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	a->max_ms = (cfg->admin_window_max_seconds > 0 ? cfg->admin_window_max_seconds : 3600) * 1000LL;
	a->grace_ms = (cfg->admin_window_cluster_grace_seconds > 0 ? cfg->admin_window_cluster_grace_seconds
			: cfg->etcd_lease_ttl > 0 ? cfg->etcd_lease_ttl : 15) * 1000LL;
	if ((rc = pg_auth_window_new(a->max_ms, cfg->admin_window_min_capture_seconds * 1000LL, &a->window)) !=
		    PG_OK ||
	    (rc = register_metrics(a, o->metrics)) != PG_OK)
		goto fail;
	if (pg_thread_create(&a->ticker, "win-ticker", ticker_main, a) != PG_OK) {
		rc = pg_fail(PG_EINTERNAL, "admin: cannot start the window ticker");
		goto fail;
	}
	a->ticker_started = true;
	if (o->cluster) {
		struct pg_cluster_window *cl = NULL;

		/* Re-read the record three times per grace, so one slow answer
		 * is not a closed window. */
		if ((rc = pg_cluster_window_start(cfg, a->grace_ms / 3 < 5000 ? a->grace_ms / 3 : 5000,
						  apply_cluster, a, &cl)) != PG_OK)
			goto fail;
		pthread_mutex_lock(&a->mu); /* the ticker reads it */
		a->cluster = cl;
		pthread_mutex_unlock(&a->mu);
	}
	*out = a;
	return PG_OK;
fail: {
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", pg_errmsg());
	pg_admin_window_stop(&a);
	return pg_fail(rc, "%s", msg);
}
}

void pg_admin_window_stop(struct pg_admin_window **pp)
{
	struct pg_cluster_window *cl;
	struct pg_admin_window *a;

	if (!pp || !*pp)
		return;
	a = *pp;
	/* Detached under the lock: the ticker reads it (the watcher's apply
	 * takes the same lock). */
	pthread_mutex_lock(&a->mu);
	cl = a->cluster;
	a->cluster = NULL;
	pthread_mutex_unlock(&a->mu);
	pg_cluster_window_stop(&cl);
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_cond_broadcast(&a->cv);
	if (a->window)
		close_locked(a, "close", a->opener, "node stopping");
	pthread_mutex_unlock(&a->mu);
	if (a->ticker_started)
		pthread_join(a->ticker, NULL);
	pg_auth_window_free(&a->window);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
	*pp = NULL;
}
