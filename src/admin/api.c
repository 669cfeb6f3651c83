/* The admin gRPC API; see api.h.
 *
 * The API runs on the gRPC server core (src/rpc/cq.h, one thread: a handful
 * of calls per day). Every call: the client certificate (auth/x509, the HTTP
 * gate's check), then the identity, then the request (src/admin/request.c),
 * then the window (src/admin/window.h); each refusal is audited. */
#include "src/admin/api.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <grpc/status.h>
#include <grpc/support/log.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/identity.h"
#include "auth/reason.h"
#include "auth/window.h"
#include "auth/x509.h"
#include "proto/admin.pb-c.h"
#include "src/admin/approval.h"
#include "src/admin/request.h"
#include "src/admin/window.h"
#include "src/config/config.h"
#include "src/metrics/metrics.h"
#include "src/rpc/cq.h"
#include "src/util/clock.h"
#include "src/util/file.h"
#include "src/util/log.h"

#define MOD "admin"
#define MAX_PEM (256 * 1024)
#define NOTE_MAX 512

struct pg_admin_api {
	struct pg_admin_window *win;
	struct pg_admin_approvals *approvals;
	struct pg_auth_idlist *ids;
	struct pg_auth_x509_trust *trust; /* admin.tls.client_ca_file */
	struct pg_series *c_handshake;
	struct pg_cq *cq;
};

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
static struct pg_admin_api *hs_admin;           /* under hs_mu */
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
static void hs_audit_locked(struct pg_admin_api *a, int64_t now, const char *last)
{
	char detail[NOTE_MAX];

	snprintf(detail, sizeof(detail), "%lld failed TLS handshake%s on the admin listener since the last such "
					 "line%s%.300s",
		 (long long)hs_unreported, hs_unreported == 1 ? "" : "s", last ? "; last: " : "", last ? last : "");
	pg_admin_window_audit(a->win, "denied", "-", "tls_handshake_failed", detail, "-");
	hs_last_ms = now;
	hs_unreported = 0;
}

static void grpc_log_hook(gpr_log_func_args *args)
{
	if (args->severity == GPR_LOG_SEVERITY_ERROR && args->message &&
	    strstr(args->message, "Handshake failed")) {
		int64_t now = pg_clock_mono_ms();

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
static void handshake_flush(void *arg, int64_t now)
{
	struct pg_admin_api *a = arg;

	pthread_mutex_lock(&hs_mu);
	if (hs_admin == a && hs_unreported > 0 && now - hs_last_ms >= 1000)
		hs_audit_locked(a, now, NULL);
	pthread_mutex_unlock(&hs_mu);
}

static void handshake_hook_install(struct pg_admin_api *a)
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

static void handshake_hook_remove(struct pg_admin_api *a)
{
	pthread_mutex_lock(&hs_mu);
	if (hs_admin == a)
		hs_admin = NULL;
	pthread_mutex_unlock(&hs_mu);
}

/* ---- calls ---- */

/* Who is calling, for audit lines and replies. */
struct caller {
	char peer[128];                        /* e.g. "ipv4:127.0.0.1:5555" */
	char who[PG_AUTH_WINDOW_TEXT_MAX];     /* the matching allowlist entry, or a description */
	char cert[PG_AUTH_WINDOW_TEXT_MAX];    /* the certificate's own identity (four-eyes) */
	const char *method;                    /* short method name for audit lines */
};

/* Refuses the call: one audit line (event "denied", reason code, the caller's
 * sentence as detail, peer) and the status with the same sentence. */
static void refuse(struct pg_admin_api *a, const struct caller *k, struct pg_cq_reply *r, int code,
		   const char *reason, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void refuse(struct pg_admin_api *a, const struct caller *k, struct pg_cq_reply *r, int code,
		   const char *reason, const char *fmt, ...)
{
	char detail[NOTE_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
	r->code = code;
	snprintf(detail, sizeof(detail), "%s: %s", k->method, r->message);
	pg_admin_window_audit(a->win, "denied", k->who, reason, detail, k->peer);
}

/* Packs a reply message into r (OK), or RESOURCE_EXHAUSTED. */
static void pack_reply(struct pg_cq_reply *r, const ProtobufCMessage *m)
{
	r->len = protobuf_c_message_get_packed_size(m);
	r->body = malloc(r->len ? r->len : 1);
	if (!r->body) {
		r->code = GRPC_STATUS_RESOURCE_EXHAUSTED;
		snprintf(r->message, sizeof(r->message), "out of memory");
		return;
	}
	protobuf_c_message_pack(m, r->body);
	r->code = GRPC_STATUS_OK;
}

static void status_reply(struct pg_admin_api *a, struct pg_cq_reply *r, const char *cluster_error)
{
	Pprofgate__Admin__V1__WindowStatus st = PPROFGATE__ADMIN__V1__WINDOW_STATUS__INIT;
	struct pg_auth_window_status ws;
	char *profs[PG_AUTH_WINDOW_MAX_PROFILES];
	char approved_by[PG_AUTH_WINDOW_TEXT_MAX];
	bool cluster;

	pg_admin_window_status(a->win, &ws, &cluster, approved_by, sizeof(approved_by));
	st.open = ws.open && ws.left_ms > 0;
	st.cluster = st.open && cluster;
	st.opened_by = st.open ? ws.opener : (char *)"";
	st.reason = st.open ? ws.reason : (char *)"";
	st.seconds_left = st.open ? (uint32_t)((ws.left_ms + 999) / 1000) : 0;
	for (size_t i = 0; st.open && i < ws.n_profiles; i++)
		profs[i] = ws.profiles[i];
	st.n_profiles = st.open ? ws.n_profiles : 0;
	st.profiles = profs;
	st.cluster_error = (char *)(cluster_error ? cluster_error : "");
	st.id = st.open ? ws.id : (char *)"";
	st.approved_by = st.open ? approved_by : (char *)"";
	pack_reply(r, (const ProtobufCMessage *)&st);
}

static void do_open(struct pg_admin_api *a, const struct caller *k, const struct pg_admin_request *q,
		    struct pg_cq_reply *r)
{
	const char *profs[PG_AUTH_WINDOW_MAX_PROFILES];
	char why[300];

	for (size_t i = 0; i < q->n_profiles; i++)
		profs[i] = q->profiles[i];
	if (q->cluster) {
		if (pg_admin_window_open_cluster(a->win, k->who, q->reason, q->duration_ms, profs, q->n_profiles,
						 NULL, k->peer) != PG_OK) {
			snprintf(why, sizeof(why), "%s", pg_errmsg());
			pg_warn(MOD, "cluster window not opened: %s", why);
			/* Tells the client the node answered and what behind it failed. */
			r->trailer_key = "pprofgate-component";
			r->trailer_value = "etcd";
			refuse(a, k, r, GRPC_STATUS_UNAVAILABLE, "etcd_unreachable",
			       "etcd did not take the cluster window (%s); no window was opened", why);
			return;
		}
	} else if (pg_admin_window_open_node(a->win, k->who, q->reason, q->duration_ms, profs, q->n_profiles,
					     NULL, k->peer) != PG_OK) {
		snprintf(why, sizeof(why), "%s", pg_errmsg());
		refuse(a, k, r, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "%s", why);
		return;
	}
	status_reply(a, r, NULL);
}

/* Closes the window on this node at once, whatever etcd's state; when etcd
 * fails the reply still says closed (true here) and carries cluster_error. */
static void do_close(struct pg_admin_api *a, const struct caller *k, const struct pg_admin_request *q,
		     struct pg_cq_reply *r)
{
	char note[NOTE_MAX];

	pg_admin_window_close(a->win, k->who, q->cluster, k->peer, note, sizeof(note));
	status_reply(a, r, note[0] ? note : NULL);
}

/* ---- four-eyes windows ---- */

static void fill_request(Pprofgate__Admin__V1__WindowRequest *m, const struct pg_request_record *rec, bool cluster,
			 char **profs, int64_t now)
{
	int64_t age = (now - rec->created_unix_ms) / 1000, left = (rec->expires_unix_ms - now + 999) / 1000;

	pprofgate__admin__v1__window_request__init(m);
	m->id = (char *)rec->id;
	m->requested_by = (char *)rec->requested_by;
	m->reason = (char *)rec->reason;
	m->duration_seconds = (uint32_t)((rec->duration_ms + 999) / 1000);
	for (size_t i = 0; i < rec->n_profiles; i++)
		profs[i] = (char *)rec->profiles[i];
	m->profiles = profs;
	m->n_profiles = rec->n_profiles;
	m->cluster = cluster;
	m->age_seconds = age > 0 ? (uint32_t)age : 0;
	m->expires_in_seconds = left > 0 ? (uint32_t)left : 0;
}

static void request_reply(struct pg_cq_reply *r, const struct pg_request_record *rec, bool cluster)
{
	Pprofgate__Admin__V1__WindowRequest m;
	char *profs[PG_AUTH_WINDOW_MAX_PROFILES];

	fill_request(&m, rec, cluster, profs, pg_clock_wall_ns() / 1000000);
	pack_reply(r, (const ProtobufCMessage *)&m);
}

/* The status for an approval module error (already audited there). */
static void approval_error(struct pg_cq_reply *r, int rc)
{
	r->code = rc == PG_EDENIED     ? GRPC_STATUS_PERMISSION_DENIED
		  : rc == PG_ENOTFOUND ? GRPC_STATUS_NOT_FOUND
		  : rc == PG_EBUSY     ? GRPC_STATUS_FAILED_PRECONDITION
		  : rc == PG_ENOMEM    ? GRPC_STATUS_RESOURCE_EXHAUSTED
		  : rc == PG_ENET      ? GRPC_STATUS_UNAVAILABLE
				       : GRPC_STATUS_INVALID_ARGUMENT;
	if (rc == PG_ENET) {
		r->trailer_key = "pprofgate-component";
		r->trailer_value = "etcd";
	}
	snprintf(r->message, sizeof(r->message), "%s", pg_errmsg());
}

static void do_four_eyes(struct pg_admin_api *a, const struct caller *k, const struct pg_admin_request *q,
			 struct pg_cq_reply *r)
{
	struct pg_admin_caller c = {.who = k->who, .cert = k->cert, .peer = k->peer};
	struct pg_request_record rec;
	const char *profs[PG_AUTH_WINDOW_MAX_PROFILES];
	bool cluster = false;
	int rc;

	switch (q->method) {
	case PG_ADMIN_REQUEST:
		for (size_t i = 0; i < q->n_profiles; i++)
			profs[i] = q->profiles[i];
		rc = pg_admin_approvals_request(a->approvals, &c, q->reason, q->duration_ms, profs, q->n_profiles,
						q->cluster, &rec);
		if (rc != PG_OK) {
			char why[300];

			snprintf(why, sizeof(why), "%s", pg_errmsg());
			if (rc == PG_ENET) {
				r->trailer_key = "pprofgate-component";
				r->trailer_value = "etcd";
				refuse(a, k, r, GRPC_STATUS_UNAVAILABLE, "etcd_unreachable",
				       "etcd did not take the cluster window request (%s)", why);
			} else {
				refuse(a, k, r, rc == PG_ENOMEM ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_INVALID_ARGUMENT,
				       rc == PG_ENOMEM ? "too_many_requests" : "invalid_request", "%s", why);
			}
			return;
		}
		request_reply(r, &rec, q->cluster);
		return;
	case PG_ADMIN_APPROVE:
		rc = pg_admin_approvals_approve(a->approvals, &c, q->id);
		if (rc != PG_OK)
			approval_error(r, rc);
		else
			status_reply(a, r, NULL);
		return;
	case PG_ADMIN_DENY:
		rc = pg_admin_approvals_deny(a->approvals, &c, q->id, q->reason, &rec, &cluster);
		if (rc != PG_OK)
			approval_error(r, rc);
		else
			request_reply(r, &rec, cluster);
		return;
	default:
		break;
	}
	/* ListWindowRequests */
	{
		Pprofgate__Admin__V1__WindowRequests list = PPROFGATE__ADMIN__V1__WINDOW_REQUESTS__INIT;
		size_t cap = 2 * PG_ADMIN_PENDING_MAX, n = 0;
		struct pg_request_record *recs = calloc(cap, sizeof(*recs));
		bool *cl = calloc(cap, sizeof(*cl));
		Pprofgate__Admin__V1__WindowRequest *ms = calloc(cap, sizeof(*ms)), **mp = calloc(cap, sizeof(*mp));
		char **pbuf = calloc(cap * PG_AUTH_WINDOW_MAX_PROFILES, sizeof(*pbuf));
		char err[400];
		int64_t now = pg_clock_wall_ns() / 1000000;

		if (!recs || !cl || !ms || !mp || !pbuf) {
			r->code = GRPC_STATUS_RESOURCE_EXHAUSTED;
			snprintf(r->message, sizeof(r->message), "out of memory");
		} else {
			pg_admin_approvals_list(a->approvals, recs, cl, cap, &n, err, sizeof(err));
			for (size_t i = 0; i < n; i++) {
				fill_request(&ms[i], &recs[i], cl[i], pbuf + i * PG_AUTH_WINDOW_MAX_PROFILES, now);
				mp[i] = &ms[i];
			}
			list.requests = mp;
			list.n_requests = n;
			list.cluster_error = err;
			pack_reply(r, (const ProtobufCMessage *)&list);
		}
		free(recs);
		free(cl);
		free(ms);
		free(mp);
		free(pbuf);
	}
}

static const char *short_method(const char *m, size_t ml)
{
	static const char *const names[] = {"OpenWindow",    "CloseWindow", "GetWindow",         "RequestWindow",
					    "ApproveWindow", "DenyWindow",  "ListWindowRequests"};
	size_t pl = strlen(PG_ADMIN_METHOD_PREFIX);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ml == pl + strlen(names[i]) && memcmp(m, PG_ADMIN_METHOD_PREFIX, pl) == 0 &&
		    memcmp(m + pl, names[i], ml - pl) == 0)
			return names[i];
	return "unknown method";
}

/* Identity first: a caller outside the list learns nothing else. */
static void handle(void *arg, struct pg_cq_call *call, const char *m, size_t ml, const uint8_t *body,
		   size_t len, struct pg_cq_reply *r)
{
	struct pg_admin_api *a = arg;
	struct pg_auth_cert_result cert;
	struct pg_admin_request q;
	struct caller k;
	size_t pem_len = 0;
	char *pem;
	unsigned scopes = 0;
	int rc;

	memset(&k, 0, sizeof(k));
	pg_cq_call_peer(call, k.peer, sizeof(k.peer));
	snprintf(k.who, sizeof(k.who), "-");
	k.method = short_method(m, ml);

	pem = pg_cq_call_peer_chain(call, MAX_PEM, &pem_len);
	pg_auth_x509_verify_pem(a->trust, pem, pem_len, &cert);
	free(pem);
	if (cert.status != PG_AUTH_R_OK) {
		refuse(a, &k, r, GRPC_STATUS_UNAUTHENTICATED, pg_auth_reason_str(cert.status),
		       "client certificate refused: %s", pg_auth_x509_status_text(cert.status));
		return;
	}
	pg_auth_cert_id_describe(&cert.id, k.cert, sizeof(k.cert));
	if (!pg_auth_idlist_match(a->ids, &cert.id, &scopes, k.who, sizeof(k.who))) {
		pg_auth_cert_id_describe(&cert.id, k.who, sizeof(k.who));
		refuse(a, &k, r, GRPC_STATUS_PERMISSION_DENIED, pg_auth_reason_str(PG_AUTH_R_IDENTITY_NOT_ALLOWED),
		       "%s is not an allowed admin identity (admin.allowed_identities)", k.who);
		return;
	}
	rc = body ? pg_admin_request_decode(m, ml, body, len, pg_admin_window_max_ms(a->win), &q)
		  : pg_fail(PG_EINVAL, "request message missing");
	if (rc != PG_OK) {
		refuse(a, &k, r, rc == PG_ENOTFOUND ? GRPC_STATUS_UNIMPLEMENTED : GRPC_STATUS_INVALID_ARGUMENT,
		       "invalid_request", "%s", pg_errmsg());
		return;
	}
	if (q.cluster && !pg_admin_window_has_cluster(a->win)) {
		refuse(a, &k, r, GRPC_STATUS_FAILED_PRECONDITION, "invalid_request",
		       "this node does not watch cluster windows (cluster.provider is not etcd)");
		return;
	}
	if (q.method == PG_ADMIN_OPEN && pg_admin_approvals_required(a->approvals)) {
		refuse(a, &k, r, GRPC_STATUS_FAILED_PRECONDITION, "approval_required",
		       "this node requires approved windows (admin.require_approval): ask with `pprofgatectl window "
		       "request --for DURATION --reason TEXT`, then another admin runs `pprofgatectl window approve ID`");
		return;
	}
	if (q.method >= PG_ADMIN_REQUEST)
		do_four_eyes(a, &k, &q, r);
	else if (q.method == PG_ADMIN_OPEN)
		do_open(a, &k, &q, r);
	else if (q.method == PG_ADMIN_CLOSE)
		do_close(a, &k, &q, r);
	else
		status_reply(a, r, NULL);
}

/* Reads a whole PEM file (bounded). *out is malloc'd, NUL-terminated. */
static int read_pem(const char *path, const char *what, char **out)
{
	size_t n = 0;
	int rc = pg_file_read(path, MAX_PEM, 0, out, &n);

	if (rc != PG_OK)
		return pg_fail(rc, "admin: %s: %s", what, pg_errmsg());
	if (n == 0) {
		free(*out);
		*out = NULL;
		return pg_fail(PG_EINVAL, "admin: %s %s is empty", what, path);
	}
	return PG_OK;
}

static void wipe_free(char *p)
{
	if (!p)
		return;
	explicit_bzero(p, strlen(p));
	free(p);
}

static int load_ids(struct pg_admin_api *a, const char *list)
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

static int register_metrics(struct pg_admin_api *a, struct pg_metrics *m)
{
	struct pg_family *f;
	int rc;

	if (!m)
		return PG_OK;
	if ((rc = pg_metrics_family(m, PG_METRIC_COUNTER, "pprofgate_admin_tls_handshake_failures_total",
				    "TLS handshakes on the admin listener that failed inside gRPC (not TLS, no "
				    "common version, the client refused our certificate); audited as "
				    "tls_handshake_failed.",
				    NULL, 0, NULL, 0, &f)) != PG_OK)
		return rc;
	if (!(a->c_handshake = pg_family_series(f, NULL)))
		return pg_fail(PG_ENOMEM, "admin: out of memory for metrics");
	return PG_OK;
}

static int start_grpc(struct pg_admin_api *a, const struct pg_config *cfg)
{
	struct pg_cq_opts co = {0};
	char *cert = NULL, *key = NULL, *ca = NULL;
	int rc;

	if ((rc = read_pem(cfg->admin_cert_file, "admin.tls.cert_file", &cert)) != PG_OK ||
	    (rc = read_pem(cfg->admin_key_file, "admin.tls.key_file", &key)) != PG_OK ||
	    (rc = read_pem(cfg->admin_client_ca_file, "admin.tls.client_ca_file", &ca)) != PG_OK)
		goto out;
	if ((rc = pg_auth_x509_trust_new_mem(ca, strlen(ca), &a->trust)) != PG_OK) {
		rc = pg_fail(rc, "admin.tls.client_ca_file %s: %s", cfg->admin_client_ca_file, pg_errmsg());
		goto out;
	}
	co.name = "admin";
	co.listen = cfg->admin_listen;
	co.threads = 1;
	co.cert_pem = cert;
	co.key_pem = key;
	co.client_ca_pem = ca;
	co.handler = handle;
	co.arg = a;
	if ((rc = pg_cq_start(&co, &a->cq)) != PG_OK)
		goto out;
	/* After grpc_init (in pg_cq_start), which set gRPC's log threshold. */
	handshake_hook_install(a);
	pg_admin_window_on_tick(a->win, handshake_flush, a);
out:
	free(cert);
	wipe_free(key);
	free(ca);
	return rc;
}

static int check_tls_settings(const struct pg_config *cfg, bool *all_tls)
{
	bool any_tls = cfg->admin_cert_file[0] || cfg->admin_key_file[0] || cfg->admin_client_ca_file[0];

	*all_tls = cfg->admin_cert_file[0] && cfg->admin_key_file[0] && cfg->admin_client_ca_file[0];
	if (any_tls && !*all_tls)
		return pg_fail(PG_EINVAL, "admin: set all of admin.tls.cert_file, key_file and client_ca_file "
					  "(--admin-cert, --admin-key, --admin-client-ca), or none");
	if (*all_tls && !cfg->admin_allowed_identities[0])
		return pg_fail(PG_EINVAL, "admin: admin.allowed_identities (--admin-allow) is empty: nobody "
					  "could open a window");
	return PG_OK;
}

int pg_admin_api_check(const struct pg_config *cfg)
{
	struct pg_admin_api a = {0};
	char *cert = NULL, *key = NULL, *ca = NULL;
	gnutls_certificate_credentials_t probe = NULL;
	bool all_tls;
	int rc;

	if ((rc = check_tls_settings(cfg, &all_tls)) != PG_OK || (rc = load_ids(&a, cfg->admin_allowed_identities)) != PG_OK ||
	    !all_tls)
		goto out;
	if ((rc = read_pem(cfg->admin_cert_file, "admin.tls.cert_file", &cert)) != PG_OK ||
	    (rc = read_pem(cfg->admin_key_file, "admin.tls.key_file", &key)) != PG_OK ||
	    (rc = read_pem(cfg->admin_client_ca_file, "admin.tls.client_ca_file", &ca)) != PG_OK)
		goto out;
	if ((rc = pg_auth_x509_trust_new_mem(ca, strlen(ca), &a.trust)) != PG_OK) {
		rc = pg_fail(rc, "admin.tls.client_ca_file %s: %s", cfg->admin_client_ca_file, pg_errmsg());
		goto out;
	}
	/* What gRPC checks when it binds: the key is the certificate's. */
	if (gnutls_certificate_allocate_credentials(&probe) != GNUTLS_E_SUCCESS) {
		rc = pg_fail(PG_ENOMEM, "admin: out of memory");
		goto out;
	}
	{
		gnutls_datum_t cd = {(unsigned char *)cert, (unsigned)strlen(cert)};
		gnutls_datum_t kd = {(unsigned char *)key, (unsigned)strlen(key)};
		int grc = gnutls_certificate_set_x509_key_mem2(probe, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
		if (grc < 0)
			rc = pg_fail(PG_EINVAL, "admin: admin.tls.cert_file %s with key_file %s: %s", cfg->admin_cert_file,
				     cfg->admin_key_file, gnutls_strerror(grc));
	}
out:
	if (probe)
		gnutls_certificate_free_credentials(probe);
	pg_auth_x509_trust_free(&a.trust);
	pg_auth_idlist_free(&a.ids);
	free(cert);
	wipe_free(key);
	free(ca);
	return rc;
}

int pg_admin_api_start(const struct pg_config *cfg, struct pg_metrics *metrics, struct pg_admin_window *win,
		       struct pg_admin_api **out)
{
	struct pg_admin_api *a;
	bool all_tls;
	int rc;

	*out = NULL;
	if (!cfg || !win)
		return pg_fail(PG_EINVAL, "admin: no config or window");
	if ((rc = check_tls_settings(cfg, &all_tls)) != PG_OK)
		return rc;
	a = calloc(1, sizeof(*a));
	if (!a)
		return pg_fail(PG_ENOMEM, "admin: out of memory");
	a->win = win;
	if ((rc = load_ids(a, cfg->admin_allowed_identities)) != PG_OK ||
	    (rc = register_metrics(a, metrics)) != PG_OK ||
	    (rc = pg_admin_approvals_new(cfg, win, pg_admin_window_has_cluster(win), &a->approvals)) != PG_OK)
		goto fail;
	if (!all_tls) {
		pg_info(MOD, "admin API not served: admin.tls is not configured (it is only served over "
			     "mutual TLS); the diagnostics window stays closed");
	} else {
		if ((rc = start_grpc(a, cfg)) != PG_OK)
			goto fail;
		pg_info(MOD, "serving pprofgate.admin.v1.Diagnostics on %s (port %d, mTLS required, %zu "
			     "allowed identit%s)", cfg->admin_listen, pg_cq_port(a->cq), pg_auth_idlist_count(a->ids),
			pg_auth_idlist_count(a->ids) == 1 ? "y" : "ies");
	}
	*out = a;
	return PG_OK;
fail: {
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", pg_errmsg());
	pg_admin_api_stop(&a);
	return pg_fail(rc, "%s", msg);
}
}

int pg_admin_api_port(const struct pg_admin_api *a)
{
	return a ? pg_cq_port(a->cq) : 0;
}

void pg_admin_api_stop(struct pg_admin_api **pp)
{
	struct pg_admin_api *a;

	if (!pp || !*pp)
		return;
	a = *pp;
	pg_admin_window_on_tick(a->win, NULL, NULL);
	handshake_hook_remove(a);
	pg_cq_stop(&a->cq);
	pg_admin_approvals_free(&a->approvals);
	pg_auth_idlist_free(&a->ids);
	pg_auth_x509_trust_free(&a->trust);
	free(a);
	*pp = NULL;
}
