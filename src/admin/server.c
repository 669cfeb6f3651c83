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
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "auth/identity.h"
#include "auth/window.h"
#include "proto/admin.pb-c.h"
#include "src/admin/cluster_window.h"
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
#define METHOD_PREFIX "/pprofgate.admin.v1.Diagnostics/"

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
};

struct pg_admin {
	const struct pg_config *cfg;
	char node[PG_CONFIG_ADDR_MAX];
	void (*audit)(void *arg, const char *fields); /* NULL: the log */
	void *audit_arg;
	int64_t max_ms;
	struct pg_auth_window *window;
	struct pg_auth_idlist *ids;
	struct pg_admin_cluster *cluster;

	/* Who holds the window, for expiry audit lines and the reply's `cluster`. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum scope scope;
	char opener[PG_AUTH_WINDOW_TEXT_MAX], reason[PG_AUTH_WINDOW_TEXT_MAX];
	int64_t duration_ms;
	int64_t cluster_deadline_unix_ms; /* the record applied, to apply each once */
	bool stopping;
	pthread_t ticker;
	bool ticker_started;

	struct pg_series *g_open, *g_left;
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

/* One audit line: JSON, every text escaped by the JSON writer, no secrets. */
static void audit(struct pg_admin *a, const char *event, const char *who, const char *reason,
		  int64_t duration_ms, enum scope scope, const char *extra)
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
	if (rc == PG_OK)
		rc = pg_buf_printf(&b, ",\"duration_s\":%.3f,\"scope\":\"%s\",\"node\":",
				   (double)duration_ms / 1000.0, scope_name(scope));
	if (rc == PG_OK)
		rc = pg_json_write_cstr(&b, a->node);
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
static void expire_check_locked(struct pg_admin *a, int64_t now)
{
	if (a->scope != SCOPE_NONE && pg_auth_window_time_left_ms(a->window, now) == 0) {
		audit(a, "expire", a->opener, a->reason, a->duration_ms, a->scope, NULL);
		pg_auth_window_close(a->window);
		a->scope = SCOPE_NONE;
	}
	update_gauges_locked(a, now);
}

static void *ticker_main(void *arg)
{
	struct pg_admin *a = arg;

	pthread_mutex_lock(&a->mu);
	while (!a->stopping) {
		struct timespec ts;
		int64_t now = mono_ms();

		expire_check_locked(a, now);
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
		if (a->scope == SCOPE_CLUSTER) {
			pg_auth_window_close(a->window);
			audit(a, "close", a->opener, a->reason, a->duration_ms, SCOPE_CLUSTER,
			      "cluster record removed (closed or lease expired)");
			a->scope = SCOPE_NONE;
		}
		a->cluster_deadline_unix_ms = 0;
		goto out;
	}
	if (a->scope == SCOPE_CLUSTER && rec->deadline_unix_ms == a->cluster_deadline_unix_ms &&
	    strcmp(rec->opened_by, a->opener) == 0)
		goto out; /* the record this node already applied (its own open, or a re-read) */
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

static bool has_scheme_sep(const char *v, size_t n)
{
	for (size_t i = 0; i + 3 <= n; i++)
		if (v[i] == ':' && v[i + 1] == '/' && v[i + 2] == '/')
			return true;
	return false;
}

/* Adds one property value of the peer certificate to id. Values too long for
 * the identity are dropped, never truncated (auth/identity.h). */
static void add_prop(struct pg_auth_cert_id *id, const char *name, const char *v, size_t n)
{
	char (*dst)[PG_AUTH_ID_LEN] = NULL;
	size_t *count = NULL;

	if (n == 0 || n >= PG_AUTH_ID_LEN || memchr(v, '\0', n))
		return;
	if (strcmp(name, "x509_common_name") == 0) {
		memcpy(id->cn, v, n);
		id->cn[n] = '\0';
		return;
	}
	/* gRPC lists every SAN under one name; tell the kinds apart by shape. */
	if (memchr(v, ':', n) && (strcmp(name, "peer_spiffe_id") == 0 || has_scheme_sep(v, n) ||
				  (n > 4 && memcmp(v, "urn:", 4) == 0))) {
		dst = id->uri;
		count = &id->n_uri;
	} else if (memchr(v, '@', n)) {
		dst = id->email;
		count = &id->n_email;
	} else if (strcmp(name, "peer_spiffe_id") != 0) {
		dst = id->dns;
		count = &id->n_dns;
	}
	if (!dst || *count >= PG_AUTH_ID_SANS)
		return;
	for (size_t i = 0; i < *count; i++)
		if (strlen(dst[i]) == n && memcmp(dst[i], v, n) == 0)
			return;
	memcpy(dst[*count], v, n);
	dst[*count][n] = '\0';
	(*count)++;
}

static void peer_identity(grpc_call *call, struct pg_auth_cert_id *id)
{
	static const char *const names[] = {"x509_common_name", "x509_subject_alternative_name",
					    "peer_spiffe_id"};
	grpc_auth_context *ctx = grpc_call_auth_context(call);

	memset(id, 0, sizeof(*id));
	if (!ctx)
		return;
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(ctx, names[k]);
		const grpc_auth_property *p;
		while ((p = grpc_auth_property_iterator_next(&it)))
			add_prop(id, names[k], p->value, p->value_length);
	}
	grpc_auth_context_release(ctx);
}

struct reply {
	grpc_status_code code;
	char message[256];
	uint8_t *body;
	size_t len;
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

static void status_reply(struct pg_admin *a, struct reply *r)
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
	r->len = pprofgate__admin__v1__window_status__get_packed_size(&st);
	r->body = malloc(r->len ? r->len : 1);
	if (!r->body) {
		fail_reply(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	pprofgate__admin__v1__window_status__pack(&st, r->body);
	r->code = GRPC_STATUS_OK;
}

static bool profile_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

static void do_open(struct pg_admin *a, const char *who, const uint8_t *body, size_t len, struct reply *r)
{
	Pprofgate__Admin__V1__OpenWindowRequest *q =
		pprofgate__admin__v1__open_window_request__unpack(NULL, len, body);
	int64_t dur_ms;

	if (!q) {
		fail_reply(r, GRPC_STATUS_INVALID_ARGUMENT, "malformed OpenWindowRequest");
		return;
	}
	dur_ms = (int64_t)q->duration_seconds * 1000;
	if (q->duration_seconds == 0 || dur_ms > a->max_ms) {
		fail_reply(r, GRPC_STATUS_INVALID_ARGUMENT,
			   "duration must be 1..%lld seconds (admin.window.max_seconds)",
			   (long long)(a->max_ms / 1000));
		goto out;
	}
	if (!q->reason || !q->reason[0] || strlen(q->reason) >= PG_AUTH_WINDOW_TEXT_MAX) {
		fail_reply(r, GRPC_STATUS_INVALID_ARGUMENT, "a reason of 1..%d bytes is required",
			   PG_AUTH_WINDOW_TEXT_MAX - 1);
		goto out;
	}
	if (q->n_profiles > PG_AUTH_WINDOW_MAX_PROFILES) {
		fail_reply(r, GRPC_STATUS_INVALID_ARGUMENT, "at most %d profiles", PG_AUTH_WINDOW_MAX_PROFILES);
		goto out;
	}
	for (size_t i = 0; i < q->n_profiles; i++)
		if (!profile_ok(q->profiles[i])) {
			fail_reply(r, GRPC_STATUS_INVALID_ARGUMENT,
				   "profile names are 1..31 letters, digits, '_', '-' or '.'");
			goto out;
		}
	if (q->cluster) {
		struct pg_admin_window_record rec;

		if (!a->cluster) {
			fail_reply(r, GRPC_STATUS_FAILED_PRECONDITION, "this node does not watch cluster windows");
			goto out;
		}
		memset(&rec, 0, sizeof(rec));
		snprintf(rec.opened_by, sizeof(rec.opened_by), "%s", who);
		snprintf(rec.reason, sizeof(rec.reason), "%s", q->reason);
		for (size_t i = 0; i < q->n_profiles; i++)
			snprintf(rec.profiles[rec.n_profiles++], sizeof(rec.profiles[0]), "%s", q->profiles[i]);
		rec.duration_ms = dur_ms;
		rec.deadline_unix_ms = wall_ms() + dur_ms;
		if (pg_admin_cluster_open(a->cluster, &rec) != PG_OK) {
			pg_warn(MOD, "cluster window not opened: %s", pg_errmsg());
			fail_reply(r, GRPC_STATUS_UNAVAILABLE, "etcd did not take the cluster window; see the node log");
			goto out;
		}
		audit(a, "open_request", who, q->reason, dur_ms, SCOPE_CLUSTER, pg_admin_cluster_key(a->cluster));
		count_open(a, who);
		/* Apply here too, so the reply already shows it; the watch event
		 * for the same record is then a no-op. */
		apply_cluster(&rec, a);
	} else {
		int64_t now = mono_ms();

		pthread_mutex_lock(&a->mu);
		if (pg_auth_window_open(a->window, now, dur_ms, q->reason, who,
					(const char *const *)q->profiles, q->n_profiles) != PG_OK) {
			pthread_mutex_unlock(&a->mu);
			fail_reply(r, GRPC_STATUS_INVALID_ARGUMENT, "%s", pg_errmsg());
			goto out;
		}
		set_holder_locked(a, SCOPE_NODE, who, q->reason, dur_ms);
		a->cluster_deadline_unix_ms = 0;
		audit(a, "open", who, q->reason, dur_ms, SCOPE_NODE, NULL);
		update_gauges_locked(a, now);
		pthread_mutex_unlock(&a->mu);
		count_open(a, who);
	}
	status_reply(a, r);
out:
	pprofgate__admin__v1__open_window_request__free_unpacked(q, NULL);
}

static void do_close(struct pg_admin *a, const char *who, const uint8_t *body, size_t len, struct reply *r)
{
	Pprofgate__Admin__V1__CloseWindowRequest *q =
		pprofgate__admin__v1__close_window_request__unpack(NULL, len, body);
	bool cluster;

	if (!q) {
		fail_reply(r, GRPC_STATUS_INVALID_ARGUMENT, "malformed CloseWindowRequest");
		return;
	}
	cluster = q->cluster;
	pprofgate__admin__v1__close_window_request__free_unpacked(q, NULL);
	if (cluster) {
		if (!a->cluster) {
			fail_reply(r, GRPC_STATUS_FAILED_PRECONDITION, "this node does not watch cluster windows");
			return;
		}
		if (pg_admin_cluster_close(a->cluster) != PG_OK) {
			pg_warn(MOD, "cluster window not closed in etcd: %s", pg_errmsg());
			fail_reply(r, GRPC_STATUS_UNAVAILABLE, "etcd did not close the cluster window; see the node log");
			return;
		}
		audit(a, "close_request", who, "", 0, SCOPE_CLUSTER, pg_admin_cluster_key(a->cluster));
	}
	pthread_mutex_lock(&a->mu);
	if (a->scope != SCOPE_NONE) {
		audit(a, "close", who, a->reason, a->duration_ms, a->scope, NULL);
		a->scope = SCOPE_NONE;
	}
	pg_auth_window_close(a->window);
	update_gauges_locked(a, mono_ms());
	pthread_mutex_unlock(&a->mu);
	status_reply(a, r);
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

static void handle(struct call *c, struct reply *r)
{
	struct pg_admin *a = c->a;
	const char *m = (const char *)GRPC_SLICE_START_PTR(c->details.method);
	size_t ml = GRPC_SLICE_LENGTH(c->details.method), pl = strlen(METHOD_PREFIX);
	struct pg_auth_cert_id id;
	char who[PG_AUTH_WINDOW_TEXT_MAX], desc[PG_AUTH_ID_LEN];
	unsigned scopes = 0;
	uint8_t *body = NULL;
	size_t len = 0;

	/* Identity first: a caller outside the list learns nothing else. */
	peer_identity(c->call, &id);
	if (!pg_auth_idlist_match(a->ids, &id, &scopes, who, sizeof(who))) {
		pg_auth_cert_id_describe(&id, desc, sizeof(desc));
		audit(a, "denied", desc, "", 0, SCOPE_NODE, "identity not in admin.allowed_identities");
		fail_reply(r, GRPC_STATUS_PERMISSION_DENIED, "caller is not an allowed admin identity");
		return;
	}
	if (!c->recv) {
		fail_reply(r, GRPC_STATUS_INVALID_ARGUMENT, "request message missing");
		return;
	}
	body = read_message(c->recv, &len);
	if (!body) {
		fail_reply(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	if (ml > pl && memcmp(m, METHOD_PREFIX, pl) == 0 && ml - pl == 10 && memcmp(m + pl, "OpenWindow", 10) == 0)
		do_open(a, who, body, len, r);
	else if (ml > pl && memcmp(m, METHOD_PREFIX, pl) == 0 && ml - pl == 11 &&
		 memcmp(m + pl, "CloseWindow", 11) == 0)
		do_close(a, who, body, len, r);
	else if (ml > pl && memcmp(m, METHOD_PREFIX, pl) == 0 && ml - pl == 9 &&
		 memcmp(m + pl, "GetWindow", 9) == 0)
		status_reply(a, r);
	else
		fail_reply(r, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
	free(body);
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
	/* gRPC refuses a missing or untrusted client certificate in the handshake. */
	creds = grpc_ssl_server_credentials_create_ex(ca, &pair, 1,
						      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY,
						      NULL);
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
	if (!a->g_open || !a->g_left)
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
	if (o->cluster && (rc = pg_admin_cluster_start(cfg, apply_cluster, a, &a->cluster)) != PG_OK)
		goto fail;
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
	struct pg_admin *a;

	if (!pp || !*pp)
		return;
	a = *pp;
	stop_grpc(a);
	pg_admin_cluster_stop(&a->cluster);
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_cond_broadcast(&a->cv);
	if (a->scope != SCOPE_NONE) {
		audit(a, "close", a->opener, a->reason, a->duration_ms, a->scope, "node stopping");
		a->scope = SCOPE_NONE;
	}
	if (a->window)
		pg_auth_window_close(a->window);
	pthread_mutex_unlock(&a->mu);
	if (a->ticker_started)
		pthread_join(a->ticker, NULL);
	pg_auth_window_free(&a->window);
	pg_auth_idlist_free(&a->ids);
	pthread_rwlock_destroy(&a->slot_lock);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
	*pp = NULL;
}
