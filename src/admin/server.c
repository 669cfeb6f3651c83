/* The admin gRPC API and the node's diagnostics window; see server.h.
 *
 * One completion-queue thread serves the admin API (a handful of calls per
 * day); a call moves REQUESTED -> RECEIVED (identity check, then the method)
 * -> SENT, as in src/rpc/server.c. A ticker thread notices windows that
 * expired (audit) and keeps the gauges current. */
#include "src/admin/server.h"

#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "auth/identity.h"
#include "auth/reason.h"
#include "auth/window.h"
#include "auth/x509.h"
#include "proto/admin.pb-c.h"
#include "src/admin/cluster_window.h"
#include "src/admin/request.h"
#include "src/config/config.h"
#include "src/metrics/metrics.h"
#include "src/util/buf.h"
#include "src/util/json.h"
#include "src/util/log.h"
#include "src/util/thread.h"

#define MOD "admin"
#define SLOTS 8
#define STOP_GRACE_MS 1000
#define TICK_MS 200
#define MAX_PEM (256 * 1024)
#define NOTE_MAX 512

enum scope { SCOPE_NONE = 0, SCOPE_NODE, SCOPE_CLUSTER };
enum step { REQUESTED, RECEIVED, SENT };

struct call {
	enum step step;
	struct pg_admin *a;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array request_md;
	grpc_byte_buffer *recv, *send;
	int cancelled;
	grpc_slice status_details;
	grpc_metadata trailer; /* static key and value */
};

struct pg_admin {
	const struct pg_config *cfg;
	char node[PG_CONFIG_ADDR_MAX];
	void (*audit)(void *arg, const char *fields); /* NULL: the log */
	void *audit_arg;
	int64_t max_ms;
	struct pg_auth_window *window;
	struct pg_auth_idlist *ids;
	struct pg_auth_x509_trust *trust; /* admin.tls.client_ca_file */
	struct pg_admin_cluster *cluster;
	int64_t grace_ms; /* admin.window.cluster_grace_seconds, else the lease TTL */

	/* Who holds the window, for expiry audit lines and the reply's `cluster`. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum scope scope;
	char opener[PG_AUTH_WINDOW_TEXT_MAX], reason[PG_AUTH_WINDOW_TEXT_MAX];
	int64_t duration_ms;
	int64_t cluster_deadline_unix_ms; /* the record applied, to apply each once */
	/* The record last closed here (request or lost etcd): re-reading it never
	 * reopens the window on this node; only a new record does. */
	int64_t dismissed_deadline_unix_ms;
	char dismissed_by[PG_AUTH_WINDOW_TEXT_MAX];
	bool stopping;
	pthread_t ticker;
	bool ticker_started;

	struct pg_series *g_open, *g_left, *c_handshake;
	struct pg_family *f_opens;

	grpc_server *server;
	grpc_completion_queue *cq;
	pthread_t thread;
	bool thread_started, grpc_inited;
	int port;
	pthread_rwlock_t slot_lock;
	bool slots_stopped;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *scope_name(enum scope s)
{
	return s == SCOPE_CLUSTER ? "cluster" : "node";
}

/* One audit line: JSON, every text escaped by the JSON writer, no secrets.
 * duration_ms < 0 leaves out duration and scope; peer may be NULL. */
static void audit_peer(struct pg_admin *a, const char *event, const char *who, const char *reason,
		       int64_t duration_ms, enum scope scope, const char *extra, const char *peer)
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

static void audit(struct pg_admin *a, const char *event, const char *who, const char *reason,
		  int64_t duration_ms, enum scope scope, const char *extra)
{
	audit_peer(a, event, who, reason, duration_ms, scope, extra, NULL);
}

static void update_gauges_locked(struct pg_admin *a, int64_t now)
{
	int64_t left = pg_auth_window_time_left_ms(a->window, now);

	if (a->g_open)
		pg_series_set(a->g_open, left > 0 ? 1 : 0);
	if (a->g_left)
		pg_series_set(a->g_left, (double)((left + 999) / 1000));
}

static void count_open(struct pg_admin *a, const char *who)
{
	const char *lv[1] = {who};
	struct pg_series *s = a->f_opens ? pg_family_series(a->f_opens, lv) : NULL;

	if (s)
		pg_series_add(s, 1);
}

/* Records the holder after a successful open. Caller holds a->mu. */
static void set_holder_locked(struct pg_admin *a, enum scope s, const char *who, const char *reason,
			      int64_t duration_ms)
{
	a->scope = s;
	snprintf(a->opener, sizeof(a->opener), "%s", who);
	snprintf(a->reason, sizeof(a->reason), "%s", reason);
	a->duration_ms = duration_ms;
}

/* Audits a window that reached its deadline and refreshes the gauges. Run by
 * the ticker and by every call that reads the window, so a status that says
 * "closed" never precedes the expiry's audit line and gauges. */
/* Closes the window held here (audited as `event` with `detail`). A cluster
 * record closed here stays closed here (dismissed). Caller holds a->mu. */
static void close_locked(struct pg_admin *a, const char *event, const char *who, const char *detail)
{
	if (a->scope == SCOPE_CLUSTER) {
		a->dismissed_deadline_unix_ms = a->cluster_deadline_unix_ms;
		snprintf(a->dismissed_by, sizeof(a->dismissed_by), "%s", a->opener);
	}
	if (a->scope != SCOPE_NONE)
		audit(a, event, who, a->reason, a->duration_ms, a->scope, detail);
	a->scope = SCOPE_NONE;
	pg_auth_window_close(a->window);
}

/* Audits a window that reached its deadline, closes a cluster window whose
 * etcd record could not be confirmed within the grace (etcd down or cut off
 * must never pin a window open), and refreshes the gauges. Run by the ticker
 * and by every call that reads the window, so a status that says "closed"
 * never precedes the audit line and gauges. */
static void expire_check_locked(struct pg_admin *a, int64_t now)
{
	if (a->scope != SCOPE_NONE && pg_auth_window_time_left_ms(a->window, now) == 0)
		close_locked(a, "expire", a->opener, NULL);
	if (a->scope == SCOPE_CLUSTER && a->cluster) {
		char why[200], detail[NOTE_MAX];
		int64_t since = pg_admin_cluster_unconfirmed_ms(a->cluster, now, why, sizeof(why));

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

static void handshake_flush(struct pg_admin *a, int64_t now);

static void *ticker_main(void *arg)
{
	struct pg_admin *a = arg;

	pthread_mutex_lock(&a->mu);
	while (!a->stopping) {
		struct timespec ts;
		int64_t now = mono_ms();

		expire_check_locked(a, now);
		handshake_flush(a, now);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&a->cv, &a->mu, &ts);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* ---- cluster records from etcd ---- */

static void apply_cluster(const struct pg_admin_window_record *rec, void *arg)
{
	struct pg_admin *a = arg;
	const char *profs[PG_AUTH_WINDOW_MAX_PROFILES];
	int64_t now = mono_ms(), left;

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
	left = pg_admin_window_record_remaining_ms(rec, wall_ms(), a->max_ms);
	if (left <= 0)
		goto out;
	for (size_t i = 0; i < rec->n_profiles; i++)
		profs[i] = rec->profiles[i];
	if (pg_auth_window_open(a->window, now, left, rec->reason, rec->opened_by, profs, rec->n_profiles) !=
	    PG_OK) {
		pg_warn(MOD, "cluster window record not applied: %s", pg_errmsg());
		goto out;
	}
	set_holder_locked(a, SCOPE_CLUSTER, rec->opened_by, rec->reason, left);
	a->cluster_deadline_unix_ms = rec->deadline_unix_ms;
	audit(a, "open", rec->opened_by, rec->reason, left, SCOPE_CLUSTER, "applied from etcd");
out:
	update_gauges_locked(a, now);
	pthread_mutex_unlock(&a->mu);
}

/* ---- TLS handshakes that fail inside gRPC ---- */

/* Certificates are judged per call, but a handshake can still fail inside
 * gRPC core (bytes that are not TLS, no common TLS version, a client that
 * rejects our certificate). gRPC 1.51 tells nobody but its log: one
 * "Handshake failed with fatal error ..." line at ERROR severity, with no peer
 * address and no listener name. The admin API is the node's only TLS gRPC
 * listener (src/rpc serves plaintext), so each such line is one failed admin
 * handshake: a process-wide log hook counts it and audits it (peer "-", at
 * most one line per second, with the count). The hook has to be a global:
 * gpr_set_log_function takes no argument. */
static pthread_mutex_t hs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pg_admin *hs_admin;           /* under hs_mu */
static gpr_log_severity hs_operator_min;     /* what GRPC_VERBOSITY asked to print */
static int64_t hs_last_ms, hs_unreported;    /* under hs_mu */

static gpr_log_severity verbosity_from_env(void)
{
	const char *v = getenv("GRPC_VERBOSITY");

	if (v && strcasecmp(v, "DEBUG") == 0)
		return GPR_LOG_SEVERITY_DEBUG;
	if (v && strcasecmp(v, "INFO") == 0)
		return GPR_LOG_SEVERITY_INFO;
	if (v && strcasecmp(v, "ERROR") == 0)
		return GPR_LOG_SEVERITY_ERROR;
	return (gpr_log_severity)(GPR_LOG_SEVERITY_ERROR + 1); /* NONE (src/main.c's default) */
}

/* One audit line for the failures counted since the last one. Caller holds
 * hs_mu; `last` (may be NULL) is gRPC's message. */
static void hs_audit_locked(struct pg_admin *a, int64_t now, const char *last)
{
	char detail[NOTE_MAX];

	snprintf(detail, sizeof(detail), "%lld failed TLS handshake%s on the admin listener since the last such "
					 "line%s%.300s",
		 (long long)hs_unreported, hs_unreported == 1 ? "" : "s", last ? "; last: " : "", last ? last : "");
	audit_peer(a, "denied", "-", "tls_handshake_failed", -1, SCOPE_NONE, detail, "-");
	hs_last_ms = now;
	hs_unreported = 0;
}

static void grpc_log_hook(gpr_log_func_args *args)
{
	if (args->severity == GPR_LOG_SEVERITY_ERROR && args->message &&
	    strstr(args->message, "Handshake failed")) {
		int64_t now = mono_ms();

		pthread_mutex_lock(&hs_mu);
		if (hs_admin) {
			if (hs_admin->c_handshake)
				pg_series_add(hs_admin->c_handshake, 1);
			hs_unreported++;
			if (now - hs_last_ms >= 1000)
				hs_audit_locked(hs_admin, now, args->message);
		}
		pthread_mutex_unlock(&hs_mu);
	}
	/* Everything else as gRPC would print it, when the operator asked. */
	if (args->severity >= hs_operator_min)
		fprintf(stderr, "%s %s:%d] %s\n", gpr_log_severity_string(args->severity),
			args->file ? args->file : "?", args->line, args->message ? args->message : "");
}

/* Audits failures the rate limit held back, once a second has passed (run by
 * the ticker), so a single burst is never left unreported. */
static void handshake_flush(struct pg_admin *a, int64_t now)
{
	pthread_mutex_lock(&hs_mu);
	if (hs_admin == a && hs_unreported > 0 && now - hs_last_ms >= 1000)
		hs_audit_locked(a, now, NULL);
	pthread_mutex_unlock(&hs_mu);
}

static void handshake_hook_install(struct pg_admin *a)
{
	pthread_mutex_lock(&hs_mu);
	hs_admin = a;
	hs_last_ms = 0;
	hs_unreported = 0;
	pthread_mutex_unlock(&hs_mu);
	hs_operator_min = verbosity_from_env();
	gpr_set_log_function(grpc_log_hook);
	/* After grpc_init, which set the threshold from GRPC_VERBOSITY. */
	gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR < hs_operator_min ? GPR_LOG_SEVERITY_ERROR
									: hs_operator_min);
}

static void handshake_hook_remove(struct pg_admin *a)
{
	pthread_mutex_lock(&hs_mu);
	if (hs_admin == a)
		hs_admin = NULL;
	pthread_mutex_unlock(&hs_mu);
}

/* ---- the gRPC side ---- */

static void call_free(struct call *c)
{
	if (!c)
		return;
	if (c->call)
		grpc_call_unref(c->call);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->request_md);
	if (c->recv)
		grpc_byte_buffer_destroy(c->recv);
	if (c->send)
		grpc_byte_buffer_destroy(c->send);
	grpc_slice_unref(c->status_details);
	free(c);
}

static int post_slot(struct pg_admin *a)
{
	struct call *c = calloc(1, sizeof(*c));

	if (!c)
		return pg_fail(PG_ENOMEM, "admin: out of memory for a call slot");
	c->a = a;
	c->status_details = grpc_empty_slice();
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->request_md);
	if (grpc_server_request_call(a->server, &c->call, &c->details, &c->request_md, a->cq, a->cq, c) !=
	    GRPC_CALL_OK) {
		call_free(c);
		return pg_fail(PG_EINTERNAL, "admin: grpc_server_request_call failed");
	}
	return PG_OK;
}

/* The peer's certificate chain as PEM, leaf first: gRPC gives the leaf
 * (x509_pem_cert) apart from the rest of the chain (x509_pem_cert_chain, which
 * on a server holds only what follows the leaf; with OpenSSL it may be empty
 * on a resumed session). *out is malloc'd, NULL when no certificate came. */
static char *peer_chain_pem(grpc_call *call, size_t *len)
{
	grpc_auth_context *ctx = grpc_call_auth_context(call);
	const grpc_auth_property *leaf = NULL, *rest = NULL, *p;
	grpc_auth_property_iterator it;
	char *out = NULL;
	size_t ll, rl;

	*len = 0;
	if (!ctx)
		return NULL;
	it = grpc_auth_context_find_properties_by_name(ctx, GRPC_X509_PEM_CERT_PROPERTY_NAME);
	if ((p = grpc_auth_property_iterator_next(&it)))
		leaf = p;
	it = grpc_auth_context_find_properties_by_name(ctx, GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME);
	if ((p = grpc_auth_property_iterator_next(&it)))
		rest = p;
	if (!leaf || leaf->value_length == 0 || leaf->value_length > MAX_PEM)
		goto out;
	ll = leaf->value_length;
	rl = rest && rest->value_length <= MAX_PEM ? rest->value_length : 0;
	/* A chain that starts with the leaf (the client-side shape) adds nothing. */
	if (rl >= ll && memcmp(rest->value, leaf->value, ll) == 0) {
		rest = NULL;
		rl = 0;
	}
	out = malloc(ll + rl + 2);
	if (!out)
		goto out;
	memcpy(out, leaf->value, ll);
	out[ll] = '\n';
	if (rl)
		memcpy(out + ll + 1, rest->value, rl);
	*len = ll + 1 + rl;
	out[*len] = '\0';
out:
	grpc_auth_context_release(ctx);
	return out;
}

struct reply {
	grpc_status_code code;
	char message[NOTE_MAX];
	const char *component; /* trailer pprofgate-component: what failed ("etcd") */
	uint8_t *body;
	size_t len;
};

/* Who is calling, for audit lines and replies. */
struct caller {
	char peer[128];                        /* grpc_call_get_peer, e.g. "ipv4:127.0.0.1:5555" */
	char who[PG_AUTH_WINDOW_TEXT_MAX];     /* the matching allowlist entry, or a description */
	const char *method;                    /* short method name for audit lines */
};

static void fail_reply(struct reply *r, grpc_status_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_reply(struct reply *r, grpc_status_code code, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

/* Refuses the call: one audit line (event "denied", reason code, the caller's
 * sentence as detail, peer) and the status with the same sentence. */
static void refuse(struct pg_admin *a, const struct caller *k, struct reply *r, grpc_status_code code,
		   const char *reason, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void refuse(struct pg_admin *a, const struct caller *k, struct reply *r, grpc_status_code code,
		   const char *reason, const char *fmt, ...)
{
	char detail[NOTE_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
	r->code = code;
	snprintf(detail, sizeof(detail), "%s: %s", k->method, r->message);
	audit_peer(a, "denied", k->who, reason, -1, SCOPE_NONE, detail, k->peer);
}

static void status_reply(struct pg_admin *a, struct reply *r, const char *cluster_error)
{
	Pprofgate__Admin__V1__WindowStatus st = PPROFGATE__ADMIN__V1__WINDOW_STATUS__INIT;
	struct pg_auth_window_status ws;
	char *profs[PG_AUTH_WINDOW_MAX_PROFILES];

	int64_t now = mono_ms();

	pthread_mutex_lock(&a->mu);
	expire_check_locked(a, now);
	pg_auth_window_status(a->window, now, &ws);
	st.cluster = ws.open && a->scope == SCOPE_CLUSTER;
	pthread_mutex_unlock(&a->mu);
	st.open = ws.open && ws.left_ms > 0;
	st.opened_by = st.open ? ws.opener : (char *)"";
	st.reason = st.open ? ws.reason : (char *)"";
	st.seconds_left = st.open ? (uint32_t)((ws.left_ms + 999) / 1000) : 0;
	for (size_t i = 0; st.open && i < ws.n_profiles; i++)
		profs[i] = ws.profiles[i];
	st.n_profiles = st.open ? ws.n_profiles : 0;
	st.profiles = profs;
	if (!st.open)
		st.cluster = false;
	st.cluster_error = (char *)(cluster_error ? cluster_error : "");
	r->len = pprofgate__admin__v1__window_status__get_packed_size(&st);
	r->body = malloc(r->len ? r->len : 1);
	if (!r->body) {
		fail_reply(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	pprofgate__admin__v1__window_status__pack(&st, r->body);
	r->code = GRPC_STATUS_OK;
}

static void do_open(struct pg_admin *a, const struct caller *k, const struct pg_admin_request *q,
		    struct reply *r)
{
	const char *profs[PG_AUTH_WINDOW_MAX_PROFILES];
	const char *who = k->who;

	for (size_t i = 0; i < q->n_profiles; i++)
		profs[i] = q->profiles[i];
	if (q->cluster) {
		struct pg_admin_window_record rec;

		memset(&rec, 0, sizeof(rec));
		snprintf(rec.opened_by, sizeof(rec.opened_by), "%s", who);
		snprintf(rec.reason, sizeof(rec.reason), "%s", q->reason);
		for (size_t i = 0; i < q->n_profiles; i++)
			snprintf(rec.profiles[rec.n_profiles++], sizeof(rec.profiles[0]), "%s", q->profiles[i]);
		rec.duration_ms = q->duration_ms;
		rec.deadline_unix_ms = wall_ms() + q->duration_ms;
		if (pg_admin_cluster_open(a->cluster, &rec) != PG_OK) {
			char why[300];

			snprintf(why, sizeof(why), "%s", pg_errmsg());
			pg_warn(MOD, "cluster window not opened: %s", why);
			r->component = "etcd";
			refuse(a, k, r, GRPC_STATUS_UNAVAILABLE, "etcd_unreachable",
			       "etcd did not take the cluster window (%s); no window was opened", why);
			return;
		}
		audit_peer(a, "open_request", who, q->reason, q->duration_ms, SCOPE_CLUSTER,
			   pg_admin_cluster_key(a->cluster), k->peer);
		count_open(a, who);
		/* Apply here too, so the reply already shows it; the watch event
		 * for the same record is then a no-op. */
		apply_cluster(&rec, a);
	} else {
		int64_t now = mono_ms();

		pthread_mutex_lock(&a->mu);
		if (pg_auth_window_open(a->window, now, q->duration_ms, q->reason, who, profs, q->n_profiles) !=
		    PG_OK) {
			char why[300];

			pthread_mutex_unlock(&a->mu);
			snprintf(why, sizeof(why), "%s", pg_errmsg());
			refuse(a, k, r, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "%s", why);
			return;
		}
		set_holder_locked(a, SCOPE_NODE, who, q->reason, q->duration_ms);
		a->cluster_deadline_unix_ms = 0;
		audit_peer(a, "open", who, q->reason, q->duration_ms, SCOPE_NODE, NULL, k->peer);
		update_gauges_locked(a, now);
		pthread_mutex_unlock(&a->mu);
		count_open(a, who);
	}
	status_reply(a, r, NULL);
}

/* Closes the window on this node at once, whatever etcd's state; then, for
 * a cluster close, revokes the etcd record. When etcd fails the reply still
 * says closed (true here) and carries cluster_error for the operator. */
static void do_close(struct pg_admin *a, const struct caller *k, const struct pg_admin_request *q,
		     struct reply *r)
{
	char note[NOTE_MAX] = "";

	pthread_mutex_lock(&a->mu);
	close_locked(a, "close", k->who, q->cluster ? "close requested for the cluster" : NULL);
	update_gauges_locked(a, mono_ms());
	pthread_mutex_unlock(&a->mu);
	if (q->cluster) {
		if (pg_admin_cluster_close(a->cluster) != PG_OK) {
			char why[300];

			snprintf(why, sizeof(why), "%s", pg_errmsg());
			pg_warn(MOD, "cluster window not closed in etcd: %s", why);
			snprintf(note, sizeof(note),
				 "closed on this node; etcd unreachable (%s): other nodes close their cluster "
				 "window within %lld s",
				 why, (long long)(a->grace_ms / 1000));
			audit_peer(a, "close_request", k->who, "etcd_unreachable", -1, SCOPE_CLUSTER, note, k->peer);
		} else {
			audit_peer(a, "close_request", k->who, "", -1, SCOPE_CLUSTER, pg_admin_cluster_key(a->cluster),
				   k->peer);
		}
	}
	status_reply(a, r, note[0] ? note : NULL);
}

static uint8_t *read_message(grpc_byte_buffer *bb, size_t *len)
{
	grpc_byte_buffer_reader rd;
	grpc_slice s;
	uint8_t *p;

	*len = 0;
	if (!bb || !grpc_byte_buffer_reader_init(&rd, bb))
		return NULL;
	s = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	*len = GRPC_SLICE_LENGTH(s);
	p = malloc(*len ? *len : 1);
	if (p && *len)
		memcpy(p, GRPC_SLICE_START_PTR(s), *len);
	grpc_slice_unref(s);
	return p;
}

static const char *short_method(const char *m, size_t ml)
{
	static const char *const names[] = {"OpenWindow", "CloseWindow", "GetWindow"};
	size_t pl = strlen(PG_ADMIN_METHOD_PREFIX);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ml == pl + strlen(names[i]) && memcmp(m, PG_ADMIN_METHOD_PREFIX, pl) == 0 &&
		    memcmp(m + pl, names[i], ml - pl) == 0)
			return names[i];
	return "unknown method";
}

/* Every call: the client certificate (auth/x509, the same check as the HTTP
 * gate's), then the identity, then the request; each refusal is audited. */
static void handle(struct call *c, struct reply *r)
{
	struct pg_admin *a = c->a;
	const char *m = (const char *)GRPC_SLICE_START_PTR(c->details.method);
	size_t ml = GRPC_SLICE_LENGTH(c->details.method), pem_len = 0, len = 0;
	struct pg_auth_cert_result cert;
	struct pg_admin_request q;
	struct caller k;
	char *peer = grpc_call_get_peer(c->call), *pem;
	uint8_t *body = NULL;
	unsigned scopes = 0;
	int rc;

	memset(&k, 0, sizeof(k));
	snprintf(k.peer, sizeof(k.peer), "%s", peer ? peer : "-");
	gpr_free(peer);
	snprintf(k.who, sizeof(k.who), "-");
	k.method = short_method(m, ml);

	/* Identity first: a caller outside the list learns nothing else. */
	pem = peer_chain_pem(c->call, &pem_len);
	pg_auth_x509_verify_pem(a->trust, pem, pem_len, &cert);
	free(pem);
	if (cert.status != PG_AUTH_R_OK) {
		refuse(a, &k, r, GRPC_STATUS_UNAUTHENTICATED, pg_auth_reason_str(cert.status),
		       "client certificate refused: %s", pg_auth_x509_status_text(cert.status));
		return;
	}
	if (!pg_auth_idlist_match(a->ids, &cert.id, &scopes, k.who, sizeof(k.who))) {
		pg_auth_cert_id_describe(&cert.id, k.who, sizeof(k.who));
		refuse(a, &k, r, GRPC_STATUS_PERMISSION_DENIED, pg_auth_reason_str(PG_AUTH_R_IDENTITY_NOT_ALLOWED),
		       "%s is not an allowed admin identity (admin.allowed_identities)", k.who);
		return;
	}
	if (c->recv && !(body = read_message(c->recv, &len))) {
		fail_reply(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	rc = c->recv ? pg_admin_request_decode(m, ml, body, len, a->max_ms, &q)
		     : pg_fail(PG_EINVAL, "request message missing");
	free(body);
	if (rc != PG_OK) {
		refuse(a, &k, r, rc == PG_ENOTFOUND ? GRPC_STATUS_UNIMPLEMENTED : GRPC_STATUS_INVALID_ARGUMENT,
		       "invalid_request", "%s", pg_errmsg());
		return;
	}
	if (q.cluster && !a->cluster) {
		refuse(a, &k, r, GRPC_STATUS_FAILED_PRECONDITION, "invalid_request",
		       "this node does not watch cluster windows (cluster.provider is not etcd)");
		return;
	}
	if (q.method == PG_ADMIN_OPEN)
		do_open(a, &k, &q, r);
	else if (q.method == PG_ADMIN_CLOSE)
		do_close(a, &k, &q, r);
	else
		status_reply(a, r, NULL);
}

static int start_reply(struct call *c)
{
	struct reply r = {.code = GRPC_STATUS_OK};
	grpc_op ops[4];
	size_t n = 0;

	handle(c, &r);
	memset(ops, 0, sizeof(ops));
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (r.code == GRPC_STATUS_OK) {
		grpc_slice s = r.len ? grpc_slice_new(r.body, r.len, free) : grpc_empty_slice();
		if (!r.len)
			free(r.body);
		r.body = NULL;
		c->send = grpc_raw_byte_buffer_create(&s, 1);
		grpc_slice_unref(s);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->send;
	}
	free(r.body);
	grpc_slice_unref(c->status_details);
	c->status_details = grpc_slice_from_copied_string(r.message);
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	if (r.component) {
		/* Tells the client the node answered and what behind it failed. */
		c->trailer.key = grpc_slice_from_static_string("pprofgate-component");
		c->trailer.value = grpc_slice_from_static_string(r.component);
		ops[n].data.send_status_from_server.trailing_metadata_count = 1;
		ops[n].data.send_status_from_server.trailing_metadata = &c->trailer;
	}
	ops[n].data.send_status_from_server.status = r.code;
	ops[n++].data.send_status_from_server.status_details =
		r.code == GRPC_STATUS_OK ? NULL : &c->status_details;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	c->step = SENT;
	return grpc_call_start_batch(c->call, ops, n, c, NULL) == GRPC_CALL_OK ? PG_OK : PG_EINTERNAL;
}

static void *serve_main(void *arg)
{
	struct pg_admin *a = arg;

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(a->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		struct call *c = ev.tag;

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE || !c)
			continue;
		if (!ev.success) {
			call_free(c);
			continue;
		}
		switch (c->step) {
		case REQUESTED: {
			grpc_op op;

			pthread_rwlock_rdlock(&a->slot_lock);
			if (!a->slots_stopped && post_slot(a) != PG_OK)
				pg_warn(MOD, "no new call slot: %s", pg_errmsg());
			pthread_rwlock_unlock(&a->slot_lock);
			memset(&op, 0, sizeof(op));
			op.op = GRPC_OP_RECV_MESSAGE;
			op.data.recv_message.recv_message = &c->recv;
			c->step = RECEIVED;
			if (grpc_call_start_batch(c->call, &op, 1, c, NULL) != GRPC_CALL_OK)
				call_free(c);
			break;
		}
		case RECEIVED:
			if (start_reply(c) != PG_OK)
				call_free(c);
			break;
		case SENT:
			call_free(c);
			break;
		}
	}
	return NULL;
}

/* Reads a whole PEM file (bounded). *out is malloc'd, NUL-terminated. */
static int read_pem(const char *path, const char *what, char **out)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t n;

	*out = NULL;
	if (!f)
		return pg_fail(PG_EIO, "admin: cannot read %s %s: %s", what, path, strerror(errno));
	p = malloc(MAX_PEM + 1);
	if (!p) {
		fclose(f);
		return pg_fail(PG_ENOMEM, "admin: out of memory");
	}
	n = fread(p, 1, MAX_PEM + 1, f);
	fclose(f);
	if (n == 0 || n > MAX_PEM) {
		free(p);
		return pg_fail(PG_EINVAL, "admin: %s %s is empty or larger than %d bytes", what, path, MAX_PEM);
	}
	p[n] = '\0';
	*out = p;
	return PG_OK;
}

static void wipe_free(char *p)
{
	if (!p)
		return;
	explicit_bzero(p, strlen(p));
	free(p);
}

static int load_ids(struct pg_admin *a, const char *list)
{
	char one[PG_CONFIG_PATH_MAX];
	const char *p = list;
	int rc;

	if ((rc = pg_auth_idlist_new(&a->ids)) != PG_OK)
		return rc;
	while (*p) {
		size_t l = strcspn(p, ",");
		if (l > 0) {
			if (l >= sizeof(one))
				return pg_fail(PG_EINVAL, "admin.allowed_identities: an entry is too long");
			memcpy(one, p, l);
			one[l] = '\0';
			if ((rc = pg_auth_idlist_add(a->ids, one, 0)) != PG_OK)
				return pg_fail(rc, "admin.allowed_identities: %s", pg_errmsg());
		}
		p += l + (p[l] == ',');
	}
	return PG_OK;
}

static int start_grpc(struct pg_admin *a)
{
	const struct pg_config *cfg = a->cfg;
	char *cert = NULL, *key = NULL, *ca = NULL;
	grpc_ssl_pem_key_cert_pair pair;
	grpc_server_credentials *creds;
	grpc_arg args[1];
	grpc_channel_args chargs = {1, args};
	int rc;

	if ((rc = read_pem(cfg->admin_cert_file, "admin.tls.cert_file", &cert)) != PG_OK ||
	    (rc = read_pem(cfg->admin_key_file, "admin.tls.key_file", &key)) != PG_OK ||
	    (rc = read_pem(cfg->admin_client_ca_file, "admin.tls.client_ca_file", &ca)) != PG_OK)
		goto out;
	if ((rc = pg_auth_x509_trust_new_mem(ca, strlen(ca), &a->trust)) != PG_OK) {
		rc = pg_fail(rc, "admin.tls.client_ca_file %s: %s", cfg->admin_client_ca_file, pg_errmsg());
		goto out;
	}
	grpc_init();
	a->grpc_inited = true;
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_ALLOW_REUSEPORT;
	args[0].value.integer = 0;
	a->server = grpc_server_create(&chargs, NULL);
	a->cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(a->server, a->cq, NULL);
	pair.private_key = key;
	pair.cert_chain = cert;
	/* The handshake asks for a client certificate and TLS proves the client
	 * holds its key, but gRPC does not judge it: every call is checked by
	 * auth/x509 (chain to client_ca_file, dates, CA:FALSE, clientAuth), the
	 * HTTP gate's check, so a bad certificate is refused with a reason and
	 * an audit line instead of a bare handshake failure. */
	creds = grpc_ssl_server_credentials_create_ex(ca, &pair, 1,
						      GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY, NULL);
	if (!creds) {
		rc = pg_fail(PG_EINVAL, "admin: gRPC refused the admin TLS certificate, key or CA");
		goto out;
	}
	a->port = grpc_server_add_http2_port(a->server, cfg->admin_listen, creds);
	grpc_server_credentials_release(creds);
	if (a->port == 0) {
		rc = pg_fail(PG_ENET, "admin: cannot listen on %s (address in use, bad address, no "
				      "permission, or bad TLS files)", cfg->admin_listen);
		goto out;
	}
	grpc_server_start(a->server);
	handshake_hook_install(a);
	for (int k = 0; k < SLOTS; k++)
		if ((rc = post_slot(a)) != PG_OK)
			goto out;
	if (pg_thread_create(&a->thread, "admin-cq", serve_main, a) != PG_OK) {
		rc = pg_fail(PG_EINTERNAL, "admin: cannot start the server thread");
		goto out;
	}
	a->thread_started = true;
	rc = PG_OK;
out:
	free(cert);
	wipe_free(key);
	free(ca);
	return rc;
}

static void stop_grpc(struct pg_admin *a)
{
	handshake_hook_remove(a);
	pthread_rwlock_wrlock(&a->slot_lock);
	a->slots_stopped = true;
	pthread_rwlock_unlock(&a->slot_lock);
	if (a->server) {
		grpc_completion_queue *sq = grpc_completion_queue_create_for_pluck(NULL);
		gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
						     gpr_time_from_millis(STOP_GRACE_MS, GPR_TIMESPAN));

		grpc_server_shutdown_and_notify(a->server, sq, a);
		if (grpc_completion_queue_pluck(sq, a, deadline, NULL).type == GRPC_QUEUE_TIMEOUT) {
			grpc_server_cancel_all_calls(a->server);
			grpc_completion_queue_pluck(sq, a, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		}
		grpc_server_destroy(a->server);
		a->server = NULL;
		grpc_completion_queue_shutdown(sq);
		while (grpc_completion_queue_pluck(sq, a, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
		       GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(sq);
	}
	if (a->cq) {
		grpc_completion_queue_shutdown(a->cq);
		if (a->thread_started) {
			pthread_join(a->thread, NULL);
		} else {
			grpc_event ev;
			while ((ev = grpc_completion_queue_next(a->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL))
				       .type != GRPC_QUEUE_SHUTDOWN)
				if (ev.type == GRPC_OP_COMPLETE)
					call_free(ev.tag);
		}
		grpc_completion_queue_destroy(a->cq);
		a->cq = NULL;
	}
	if (a->grpc_inited)
		grpc_shutdown();
	a->grpc_inited = false;
}

static int register_metrics(struct pg_admin *a, struct pg_metrics *m)
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
	if ((rc = pg_metrics_family(m, PG_METRIC_COUNTER, "pprofgate_admin_tls_handshake_failures_total",
				    "TLS handshakes on the admin listener that failed inside gRPC (not TLS, no "
				    "common version, the client refused our certificate); audited as "
				    "tls_handshake_failed.",
				    NULL, 0, NULL, 0, &f)) != PG_OK)
		return rc;
	a->c_handshake = pg_family_series(f, NULL);
	if (!a->g_open || !a->g_left || !a->c_handshake)
		return pg_fail(PG_ENOMEM, "admin: out of memory for metrics");
	pg_series_set(a->g_open, 0);
	pg_series_set(a->g_left, 0);
	return PG_OK;
}

int pg_admin_start(const struct pg_admin_opts *o, struct pg_admin **out)
{
	const struct pg_config *cfg = o->cfg;
	struct pg_admin *a;
	pthread_condattr_t ca;
	bool any_tls, all_tls;
	int rc;

	*out = NULL;
	if (!cfg)
		return pg_fail(PG_EINVAL, "admin: no config");
	any_tls = cfg->admin_cert_file[0] || cfg->admin_key_file[0] || cfg->admin_client_ca_file[0];
	all_tls = cfg->admin_cert_file[0] && cfg->admin_key_file[0] && cfg->admin_client_ca_file[0];
	if (any_tls && !all_tls)
		return pg_fail(PG_EINVAL, "admin: set all of admin.tls.cert_file, key_file and client_ca_file "
					  "(--admin-cert, --admin-key, --admin-client-ca), or none");
	if (all_tls && !cfg->admin_allowed_identities[0])
		return pg_fail(PG_EINVAL, "admin: admin.allowed_identities (--admin-allow) is empty: nobody "
					  "could open a window");
	a = calloc(1, sizeof(*a));
	if (!a)
		return pg_fail(PG_ENOMEM, "admin: out of memory");
	a->cfg = cfg;
	snprintf(a->node, sizeof(a->node), "%s", o->node ? o->node : "-");
	a->audit = o->audit;
	a->audit_arg = o->audit_arg;
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_rwlock_init(&a->slot_lock, NULL);
	a->max_ms = (cfg->admin_window_max_seconds > 0 ? cfg->admin_window_max_seconds : 3600) * 1000LL;
	a->grace_ms = (cfg->admin_window_cluster_grace_seconds > 0 ? cfg->admin_window_cluster_grace_seconds
			: cfg->etcd_lease_ttl > 0 ? cfg->etcd_lease_ttl : 15) * 1000LL;
	if ((rc = pg_auth_window_new(a->max_ms, cfg->admin_window_min_capture_seconds * 1000LL, &a->window)) !=
		    PG_OK ||
	    (rc = load_ids(a, cfg->admin_allowed_identities)) != PG_OK ||
	    (rc = register_metrics(a, o->metrics)) != PG_OK)
		goto fail;
	if (pg_thread_create(&a->ticker, "win-ticker", ticker_main, a) != PG_OK) {
		rc = pg_fail(PG_EINTERNAL, "admin: cannot start the window ticker");
		goto fail;
	}
	a->ticker_started = true;
	if (o->cluster) {
		struct pg_admin_cluster *cl = NULL;

		/* Re-read the record three times per grace, so one slow answer
		 * is not a closed window. */
		if ((rc = pg_admin_cluster_start(cfg, a->grace_ms / 3 < 5000 ? a->grace_ms / 3 : 5000,
						 apply_cluster, a, &cl)) != PG_OK)
			goto fail;
		pthread_mutex_lock(&a->mu); /* the ticker reads it */
		a->cluster = cl;
		pthread_mutex_unlock(&a->mu);
	}
	if (!all_tls) {
		pg_info(MOD, "admin API not served: admin.tls is not configured (it is only served over "
			     "mutual TLS); the diagnostics window stays closed");
	} else {
		if ((rc = start_grpc(a)) != PG_OK)
			goto fail;
		pg_info(MOD, "serving pprofgate.admin.v1.Diagnostics on %s (port %d, mTLS required, %zu "
			     "allowed identit%s)", cfg->admin_listen, a->port, pg_auth_idlist_count(a->ids),
			pg_auth_idlist_count(a->ids) == 1 ? "y" : "ies");
	}
	*out = a;
	return PG_OK;
fail: {
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", pg_errmsg());
	if (a->server && a->port == 0) {
		grpc_server_destroy(a->server);
		a->server = NULL;
	}
	pg_admin_stop(&a);
	return pg_fail(rc, "%s", msg);
}
}

struct pg_auth_window *pg_admin_window(struct pg_admin *a)
{
	return a ? a->window : NULL;
}

int pg_admin_port(const struct pg_admin *a)
{
	return a ? a->port : 0;
}

void pg_admin_stop(struct pg_admin **pp)
{
	struct pg_admin_cluster *cl;
	struct pg_admin *a;

	if (!pp || !*pp)
		return;
	a = *pp;
	stop_grpc(a);
	/* Detached under the lock: the ticker reads it (no call is in flight
	 * any more, the watcher's apply takes the same lock). */
	pthread_mutex_lock(&a->mu);
	cl = a->cluster;
	a->cluster = NULL;
	pthread_mutex_unlock(&a->mu);
	pg_admin_cluster_stop(&cl);
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_cond_broadcast(&a->cv);
	if (a->window)
		close_locked(a, "close", a->opener, "node stopping");
	pthread_mutex_unlock(&a->mu);
	if (a->ticker_started)
		pthread_join(a->ticker, NULL);
	pg_auth_window_free(&a->window);
	pg_auth_idlist_free(&a->ids);
	pg_auth_x509_trust_free(&a->trust);
	pthread_rwlock_destroy(&a->slot_lock);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
	*pp = NULL;
}
