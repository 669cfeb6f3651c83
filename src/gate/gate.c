#include "src/gate/gate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/cidr.h"
#include "auth/identity.h"
#include "auth/jwt.h"
#include "auth/replay.h"
#include "auth/policy.h"
#include "auth/scope.h"
#include "auth/window.h"
#include "auth/x509.h"
#include "src/audit/audit.h"
#include "src/util/clock.h"
#include "src/util/buf.h"
#include "src/util/json.h"
#include "src/util/log.h"

#define MOD "gate"
#define PPROF_PREFIX "/debug/pprof/"
#define XFF_MAX 4096
#define AUDIT_LINE_MAX 2048

/* Everything one configuration produces; replaced whole on reload. */
struct gstate {
	atomic_int refs;
	uint64_t gen; /* distinct per state built: a session's memo names the one it was checked under */
	struct pg_auth_policy *pol;
	struct pg_auth_jwt *jwt;
	struct pg_auth_idlist *ids;
	struct pg_auth_cidr_list *proxies;
	struct pg_auth_cidr_list *allow[PG_AUTH_ROUTE__COUNT];
	struct pg_auth_x509_trust *trust; /* NULL: client certificates are not verified */
	unsigned methods[PG_AUTH_ROUTE__COUNT];
};

struct pg_gate {
	pthread_mutex_t lock;       /* guards cur */
	struct pg_auth_window *_Atomic window; /* borrowed; NULL = closed */
	struct pg_audit *_Atomic audit;        /* borrowed; NULL = the log */
	struct gstate *cur;
	struct pg_family *requests; /* pprofgate_diag_requests_total */
	/* Single-use token ids seen (auth/replay.h): outside the reloaded state,
	 * so a SIGHUP does not forget them. */
	struct pg_auth_replay *replay;
};

/* ---- building a state ------------------------------------------------------ */

static _Atomic uint64_t g_state_gen;

static void state_free(struct gstate *s)
{
	if (!s)
		return;
	pg_auth_policy_free(&s->pol);
	pg_auth_jwt_free(&s->jwt);
	pg_auth_idlist_free(&s->ids);
	pg_auth_cidr_list_free(&s->proxies);
	for (int i = 0; i < PG_AUTH_ROUTE__COUNT; i++)
		pg_auth_cidr_list_free(&s->allow[i]);
	pg_auth_x509_trust_free(&s->trust);
	free(s);
}

static void state_put(struct gstate *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		state_free(s);
}

static struct gstate *state_get(struct pg_gate *g)
{
	struct gstate *s;

	pthread_mutex_lock(&g->lock);
	s = g->cur;
	atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&g->lock);
	return s;
}

/* "mtls or jwt", "jwt", "mtls", "none", "" -> method bits. */
static int parse_auth(const char *group, const char *s, unsigned *out)
{
	char buf[64];
	char *save = NULL, *tok;

	*out = PG_AUTH_METHOD_NONE;
	if (strlen(s) >= sizeof(buf))
		return pg_fail(PG_EINVAL, "diagnostics.groups.%s.auth: too long", group);
	memcpy(buf, s, strlen(s) + 1);
	for (tok = strtok_r(buf, " ,|", &save); tok; tok = strtok_r(NULL, " ,|", &save)) {
		if (strcmp(tok, "or") == 0 || strcmp(tok, "none") == 0)
			continue;
		if (strcmp(tok, "mtls") == 0)
			*out |= PG_AUTH_METHOD_MTLS;
		else if (strcmp(tok, "jwt") == 0)
			*out |= PG_AUTH_METHOD_JWT;
		else
			return pg_fail(PG_EINVAL,
				       "diagnostics.groups.%s.auth: unknown method \"%s\" (want \"mtls\", \"jwt\", "
				       "\"mtls or jwt\" or \"none\")",
				       group, tok);
	}
	return PG_OK;
}

static int parse_alg(const char *s, enum pg_auth_alg *alg)
{
	if (strcmp(s, "RS256") == 0)
		*alg = PG_AUTH_ALG_RS256;
	else if (strcmp(s, "ES256") == 0)
		*alg = PG_AUTH_ALG_ES256;
	else if (strcmp(s, "HS256") == 0)
		*alg = PG_AUTH_ALG_HS256;
	else
		return pg_fail(PG_EINVAL, "diagnostics.jwt.keys: alg \"%s\" (want RS256, ES256 or HS256)", s);
	return PG_OK;
}

/* Secrets and private keys others can read are refused, not warned about. */
static int check_private_file(const char *what, const char *path)
{
	struct stat st;

	if (access(path, R_OK) != 0)
		return pg_fail(PG_EIO, "%s %s is not readable: %s", what, path, strerror(errno));
	if (stat(path, &st) != 0)
		return pg_fail(PG_EIO, "%s %s: %s", what, path, strerror(errno));
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return pg_fail(PG_EDENIED, "%s %s is accessible by group or others (mode %03o); run: chmod 600 %s",
			       what, path, (unsigned)(st.st_mode & 0777), path);
	return PG_OK;
}

static int cidrs(const char *what, const char *text, struct pg_auth_cidr_list **out)
{
	char buf[PG_CONFIG_LIST_MAX];
	int rc;

	*out = NULL;
	if (!text[0])
		return PG_OK;
	snprintf(buf, sizeof(buf), "%s", text);
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	rc = pg_auth_cidr_list_new(out);
	if (rc == PG_OK)
		rc = pg_auth_cidr_list_add_many(*out, buf);
	if (rc != PG_OK) {
		rc = pg_fail(rc, "%s: %s", what, pg_errmsg());
		pg_auth_cidr_list_free(out);
	}
	return rc;
}

/* "<identity> [scope ...]" one per line; no scope means pprof:read. */
static int identities(const char *text, struct pg_auth_idlist *ids)
{
	char buf[PG_CONFIG_LIST_MAX];
	char *save = NULL, *line;
	int rc = PG_OK;

	snprintf(buf, sizeof(buf), "%s", text);
	for (line = strtok_r(buf, "\n", &save); line && rc == PG_OK; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		unsigned scopes = 0;

		if (sp) {
			*sp++ = '\0';
			scopes = pg_auth_scope_parse(sp, strlen(sp));
			if (!scopes)
				return pg_fail(PG_EINVAL,
					       "diagnostics.client_identities: \"%s\": no known scope in \"%s\" (want "
					       "pprof:read, pprof:sensitive or pprof:admin)",
					       line, sp);
		}
		rc = pg_auth_idlist_add(ids, line, scopes);
		if (rc != PG_OK)
			rc = pg_fail(rc, "diagnostics.client_identities: %s", pg_errmsg());
	}
	return rc;
}

static const struct pg_config_diag_group *group_cfg(const struct pg_config_diag *d, int route)
{
	return route == PG_AUTH_ROUTE_PPROF ? &d->pprof : route == PG_AUTH_ROUTE_METRICS ? &d->metrics : &d->health;
}

/* Prometheus' default is NoClientCert; here a configured client CA implies
 * RequestClientCert unless the operator says otherwise. */
static bool wants_client_cert(const struct pg_config_diag *d)
{
	if (!d->client_auth_type[0])
		return d->client_ca_file[0] != '\0';
	return strcmp(d->client_auth_type, "NoClientCert") != 0;
}

/* Closed by default: authenticated profiling needs an open window too,
 * unless the operator turns that off explicitly. */
static bool require_window(const struct pg_config_diag *d, unsigned pprof_methods)
{
	return strcmp(d->pprof.require_window, "true") == 0 ||
	       (strcmp(d->pprof.require_window, "auto") == 0 && pprof_methods != 0);
}

static int state_build(const struct pg_config_diag *d, struct gstate **out)
{
	struct gstate *s = calloc(1, sizeof(*s));
	unsigned all = 0;
	int rc;

	*out = NULL;
	if (!s)
		return pg_fail(PG_ENOMEM, "out of memory building the diagnostics policy");
	atomic_init(&s->refs, 1);
	s->gen = atomic_fetch_add(&g_state_gen, 1) + 1;
	rc = pg_auth_policy_new(&s->pol);
	for (int r = 0; rc == PG_OK && r < PG_AUTH_ROUTE__COUNT; r++) {
		const struct pg_config_diag_group *gc = group_cfg(d, r);
		const char *name = pg_auth_route_name((enum pg_auth_route)r);
		char what[64];

		rc = parse_auth(name, gc->auth, &s->methods[r]);
		/* RequireAndVerifyClientCert (Prometheus' strictest mode) makes
		 * mTLS the pprof default. */
		if (rc == PG_OK && r == PG_AUTH_ROUTE_PPROF && !gc->auth[0] &&
		    strcmp(d->client_auth_type, "RequireAndVerifyClientCert") == 0)
			s->methods[r] = PG_AUTH_METHOD_MTLS;
		snprintf(what, sizeof(what), "diagnostics.groups.%s.allowlist", name);
		if (rc == PG_OK)
			rc = cidrs(what, gc->allowlist, &s->allow[r]);
		if (rc == PG_OK) {
			struct pg_auth_route_rule rule = {
				.methods = s->methods[r],
				.require_window = r == PG_AUTH_ROUTE_PPROF && require_window(d, s->methods[r]),
				.allow_plaintext_jwt = gc->allow_plaintext_jwt != 0,
				.allowlist = s->allow[r],
			};
			rc = pg_auth_policy_set_route(s->pol, (enum pg_auth_route)r, &rule);
		}
		all |= s->methods[r];
	}
	if (rc == PG_OK && d->plain_listen[0] && !d->cert_file[0])
		rc = pg_fail(PG_EINVAL, "diagnostics.plain_listen is for a node serving HTTPS: set "
					"diagnostics.tls_server_config.cert_file and key_file, or remove plain_listen");
	if (rc == PG_OK)
		rc = cidrs("diagnostics.trusted_proxies", d->trusted_proxies, &s->proxies);
	if (rc == PG_OK && s->proxies)
		pg_auth_policy_set_trusted_proxies(s->pol, s->proxies);

	/* mTLS: CA store and allowed identities. */
	if (rc == PG_OK && (all & PG_AUTH_METHOD_MTLS)) {
		if (!d->client_ca_file[0] || !wants_client_cert(d))
			rc = pg_fail(PG_EINVAL, "a diagnostics group uses mtls: set diagnostics.tls_server_config."
						"client_ca_file and client_auth_type (RequestClientCert or "
						"RequireAndVerifyClientCert)");
		if (rc == PG_OK && !d->cert_file[0])
			rc = pg_fail(PG_EINVAL, "a diagnostics group uses mtls: set diagnostics.tls_server_config."
						"cert_file and key_file (mTLS needs HTTPS)");
		if (rc == PG_OK)
			rc = pg_auth_x509_trust_new_file(d->client_ca_file, &s->trust);
		if (rc == PG_OK)
			rc = pg_auth_x509_trust_set_cache(s->trust, 1024, 300);
		if (rc == PG_OK)
			rc = pg_auth_idlist_new(&s->ids);
		if (rc == PG_OK)
			rc = identities(d->client_identities, s->ids);
		if (rc == PG_OK && pg_auth_idlist_count(s->ids) == 0)
			rc = pg_fail(PG_EINVAL, "a diagnostics group uses mtls but diagnostics.client_identities is "
						"empty: list the certificates allowed (e.g. "
						"\"uri:spiffe://example.org/ops pprof:read\")");
		if (rc == PG_OK)
			pg_auth_policy_set_client_ids(s->pol, s->ids);
	}

	/* JWT: pinned keys. */
	if (rc == PG_OK && (all & PG_AUTH_METHOD_JWT)) {
		struct pg_auth_jwt_config jc = {
			.issuer = d->jwt_issuer,
			.audience = d->jwt_audience,
			.skew_s = d->jwt_clock_skew,
			.cache_max = 1024,
		};

		if (d->n_jwt_keys == 0)
			rc = pg_fail(PG_EINVAL, "a diagnostics group uses jwt but diagnostics.jwt.keys is empty");
		if (rc == PG_OK)
			rc = pg_auth_jwt_new(&jc, &s->jwt);
		for (size_t i = 0; rc == PG_OK && i < d->n_jwt_keys; i++) {
			const struct pg_config_diag_key *k = &d->jwt_keys[i];
			enum pg_auth_alg alg = PG_AUTH_ALG_RS256;

			rc = parse_alg(k->alg, &alg);
			if (rc == PG_OK && alg == PG_AUTH_ALG_HS256)
				rc = check_private_file("HS256 secret file", k->file);
			if (rc == PG_OK)
				rc = pg_auth_jwt_add_key_file(s->jwt, alg, k->kid[0] ? k->kid : NULL, k->file);
		}
		if (rc == PG_OK)
			pg_auth_policy_set_jwt(s->pol, s->jwt);
	}
	if (rc == PG_OK)
		rc = pg_auth_policy_check(s->pol);
	if (rc != PG_OK) {
		state_free(s);
		return rc;
	}
	*out = s;
	return PG_OK;
}

/* ---- exposure check ---------------------------------------------------------- */

static bool listen_is_loopback(const char *listen)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	struct pg_auth_addr a;

	if (pg_http_parse_addr(listen, &ss, &len) != PG_OK) {
		pg_err_clear();
		return false;
	}
	if (pg_auth_addr_from_sockaddr((struct sockaddr *)&ss, len, &a) != PG_OK) {
		pg_err_clear();
		return false;
	}
	return pg_auth_addr_is_loopback(&a);
}

int pg_gate_check_exposure(const char *http_listen, const struct pg_config_diag *d)
{
	unsigned m = 0;

	if (!http_listen || !*http_listen || listen_is_loopback(http_listen))
		return PG_OK;
	if (parse_auth("pprof", d->pprof.auth, &m) != PG_OK)
		return PG_EINVAL;
	if (!d->pprof.auth[0] && strcmp(d->client_auth_type, "RequireAndVerifyClientCert") == 0)
		m = PG_AUTH_METHOD_MTLS;
	if (!d->cert_file[0] || !d->key_file[0] || m == PG_AUTH_METHOD_NONE)
		return pg_fail(PG_EINVAL,
			       "refusing to serve /debug/pprof on %s (not loopback) without TLS and an "
			       "authentication method: set diagnostics.tls_server_config.cert_file and key_file, "
			       "and diagnostics.groups.pprof.auth (\"mtls\", \"jwt\" or \"mtls or jwt\"), or "
			       "listen on localhost",
			       http_listen);
	return PG_OK;
}

/* ---- audit ------------------------------------------------------------------ */

#define B(x)                       \
	do {                       \
		if (rc == PG_OK)   \
			rc = (x);  \
	} while (0)

static void count(struct pg_gate *g, const char *route, const char *decision, const char *reason)
{
	const char *v[3] = {route, decision, reason};

	if (g->requests)
		pg_series_add(pg_family_series(g->requests, v), 1);
}

static const char *status_reason(unsigned status)
{
	switch (status) {
	case 400:
	case 414:
		return "bad_path";
	case 404:
		return "not_found";
	case 405:
		return "method_not_allowed";
	default:
		return status < 400 ? "ok" : "error";
	}
}

/* Hands a line's fields to the audit log (or the log when there is none).
 * reserved: the gate took a slot for this request when it let it through. */
static void audit_submit(struct pg_gate *g, bool reserved, const struct pg_buf *b)
{
	struct pg_audit *a = atomic_load(&g->audit);

	if (!a) {
		pg_info(MOD, "audit: {%s}", b->data);
		return;
	}
	if (pg_audit_submit(a, reserved, b->data, b->len) != PG_OK)
		pg_err_clear(); /* counted and logged by the audit log */
}

/* The gate reserved an audit slot for a diagnostics request it decided,
 * unless the audit log had none (then it answered audit_unavailable). */
static bool holds_reservation(const struct pg_http_done_info *info)
{
	return info->gated && info->note[0] && !strstr(info->note, "\"reason\":\"audit_unavailable\"");
}

void pg_gate_audit(void *arg, const struct pg_http_done_info *info)
{
	struct pg_gate *g = arg;
	struct pg_buf b;
	uint64_t us = info->duration_s > 0 ? (uint64_t)(info->duration_s * 1e6) : 0;
	int rc = PG_OK;

	/* Room for the whole target, every byte escaped (\u00XX): it is never
	 * cut (libmicrohttpd's connection memory already bounds it). */
	pg_buf_init(&b, AUDIT_LINE_MAX + 6 * info->path_len);
	B(pg_buf_puts(&b, "\"peer\":"));
	B(pg_json_write_cstr(&b, info->peer));
	if (info->note[0]) {
		/* The gate's decision: client, identity, decision, reason. */
		B(pg_buf_printf(&b, ",%s", info->note));
	} else {
		/* Refused before the gate: by the server (NUL or control byte,
		 * non-canonical spelling, unknown route) or libmicrohttpd. */
		const char *reason = info->reason && info->reason[0] ? info->reason : status_reason(info->status);
		const char *decision = info->status == 0 || info->status >= 400 ? "deny" : "allow";

		B(pg_buf_printf(&b, ",\"identity\":\"-\",\"decision\":\"%s\",\"reason\":\"%s\"", decision, reason));
		count(g, info->route, decision, reason);
	}
	B(pg_buf_printf(&b, ",\"method\":\"%s\",\"route\":", info->method));
	B(pg_json_write_cstr(&b, info->route));
	B(pg_buf_puts(&b, ",\"path\":"));
	B(pg_json_write_string(&b, info->path, info->path_len));
	/* Integers only: no float formatting on the request path. */
	B(pg_buf_printf(&b, ",\"status\":%u,\"bytes\":%zu,\"duration_ms\":%llu.%03u", info->status, info->bytes,
			    (unsigned long long)(us / 1000), (unsigned)(us % 1000)));
	if (rc == PG_OK)
		audit_submit(g, holds_reservation(info), &b);
	else
		pg_warn(MOD, "audit line could not be formatted; dropped");
	pg_buf_free(&b);
}

/* ---- per request --------------------------------------------------------------- */

struct xff {
	char buf[XFF_MAX + 2];
	size_t len;
	bool seen, overflow;
};

static bool xff_add(void *arg, const char *name, const char *value)
{
	struct xff *x = arg;
	size_t n;

	(void)name;
	if (!value)
		return true;
	n = strlen(value);
	/* RFC 9110 §5.3: several lines of one field are one comma-joined list. */
	if (x->len + n + 2 > sizeof(x->buf)) {
		x->overflow = true;
		return false;
	}
	if (x->seen)
		x->buf[x->len++] = ',';
	memcpy(x->buf + x->len, value, n);
	x->len += n;
	x->buf[x->len] = '\0';
	x->seen = true;
	return true;
}

static socklen_t sa_len(const struct sockaddr *sa)
{
	if (!sa)
		return 0;
	return sa->sa_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
					 : (socklen_t)sizeof(struct sockaddr_in);
}

static const char *method_name(enum pg_auth_method_used m)
{
	switch (m) {
	case PG_AUTH_USED_MTLS:
		return "mtls";
	case PG_AUTH_USED_JWT:
		return "jwt";
	case PG_AUTH_USED_LOOPBACK:
		return "loopback";
	default:
		return "none";
	}
}

/* ---- the client chain, verified once per TLS session ------------------------- */

/* What the gate keeps per connection (pg_http_req_conn_memo): the chain it
 * verified, byte for byte, and the outcome. A later request on the same
 * session reuses it when the chain is the same bytes, the configuration the
 * same state, and the outcome still within its validity (the leaf's
 * notAfter, at most the trust store's TTL); anything else verifies again. */
struct chain_memo {
	uint64_t gen;
	int64_t until; /* wall seconds */
	size_t n, len;
	size_t lens[PG_AUTH_X509_MAX_CHAIN];
	struct pg_auth_cert_result cr;
	unsigned char der[]; /* the chain's certificates, concatenated */
};

static void chain_memo_free(void *p)
{
	free(p);
}

static bool chain_memo_matches(const struct chain_memo *m, uint64_t gen, int64_t now,
			       const unsigned char *const *der, const size_t *lens, size_t n)
{
	size_t off = 0;

	if (!m || m->gen != gen || now >= m->until || m->n != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (m->lens[i] != lens[i] || memcmp(m->der + off, der[i], lens[i]) != 0)
			return false;
		off += lens[i];
	}
	return true;
}

static void check_chain(struct pg_http_req *r, const struct gstate *s, int64_t now,
			struct pg_auth_cert_result *cr)
{
	const unsigned char *der[PG_AUTH_X509_MAX_CHAIN];
	size_t lens[PG_AUTH_X509_MAX_CHAIN], total = 0;
	size_t n = pg_http_req_peer_certs(r, der, lens, PG_AUTH_X509_MAX_CHAIN);
	struct pg_auth_der chain[PG_AUTH_X509_MAX_CHAIN];
	void **slot = pg_http_req_conn_memo(r);
	struct chain_memo *m;

	memset(cr, 0, sizeof(*cr));
	cr->status = PG_AUTH_R_CERT_MISSING;
	if (n == 0)
		return;
	if (n > PG_AUTH_X509_MAX_CHAIN) {
		cr->status = PG_AUTH_R_CERT_INVALID;
		return;
	}
	if (slot && chain_memo_matches(*slot, s->gen, now, der, lens, n)) {
		*cr = ((struct chain_memo *)*slot)->cr;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		chain[i] = (struct pg_auth_der){der[i], lens[i]};
		total += lens[i];
	}
	pg_auth_x509_verify_der(s->trust, chain, n, cr);
	if (!slot || cr->status != PG_AUTH_R_OK || cr->valid_until <= now)
		return;
	chain_memo_free(*slot);
	*slot = m = malloc(sizeof(*m) + total);
	if (!m)
		return; /* verified again next time */
	m->gen = s->gen;
	m->until = cr->valid_until;
	m->n = n;
	m->len = total;
	m->cr = *cr;
	total = 0;
	for (size_t i = 0; i < n; i++) {
		m->lens[i] = lens[i];
		memcpy(m->der + total, der[i], lens[i]);
		total += lens[i];
	}
}

static bool guard(struct pg_http_req *r, struct pg_gate *g, enum pg_auth_route route)
{
	struct gstate *s = state_get(g);
	struct pg_auth_cert_result cr;
	struct pg_auth_decision d;
	struct xff x;
	const char *path = pg_http_req_path(r);
	struct pg_auth_request rq = {.route = route, .profile = ""};
	char *note = pg_http_req_note(r);
	struct pg_buf nb;
	int rc = PG_OK;

	if (route == PG_AUTH_ROUTE_PPROF && strncmp(path, PPROF_PREFIX, strlen(PPROF_PREFIX)) == 0)
		rq.profile = path + strlen(PPROF_PREFIX);
	rq.peer = pg_http_req_peer(r);
	rq.peer_len = sa_len(rq.peer);
	x.len = 0;
	x.buf[0] = '\0';
	x.seen = x.overflow = false;
	(void)pg_http_req_header_each(r, "X-Forwarded-For", xff_add, &x);
	/* Too long to join: hand over something malformed, so a trusted
	 * proxy's request is refused (400) rather than guessed at. */
	rq.forwarded_for = x.overflow ? "\x01" : x.seen ? x.buf : NULL;
	rq.tls = pg_http_req_is_tls(r);
	rq.authorization = pg_http_req_header(r, "Authorization");
	rq.now_wall_s = (int64_t)time(NULL);
	if (rq.tls && s->trust && (s->methods[route] & PG_AUTH_METHOD_MTLS)) {
		check_chain(r, s, rq.now_wall_s, &cr);
		if (cr.status != PG_AUTH_R_CERT_MISSING)
			rq.cert = &cr;
	}
	rq.now_mono_ms = pg_clock_mono_ms();
	rq.window = atomic_load(&g->window);
	rq.probe = strcmp(pg_http_req_method(r), "HEAD") == 0;
	pg_auth_decide(s->pol, &rq, &d);
	state_put(s);
	/* The handler bounds timed captures by what is left of the window. */
	if (d.allow)
		pg_http_req_set_limit_ms(r, d.window_left_ms);

	/* The audit fragment: no token, no key, no certificate bytes. */
	pg_buf_init(&nb, PG_HTTP_NOTE_MAX - 1);
	B(pg_buf_puts(&nb, "\"client\":"));
	B(pg_json_write_cstr(&nb, d.client));
	B(pg_buf_puts(&nb, ",\"identity\":"));
	B(pg_json_write_cstr(&nb, d.identity));
	B(pg_buf_printf(&nb, ",\"auth\":\"%s\",\"decision\":\"%s\",\"reason\":\"%s\"", method_name(d.method),
			    d.allow ? "allow" : "deny", pg_auth_reason_str(d.reason)));
	/* A single-use token's id and a bound token's window: not secrets, and
	 * what ties a replay refusal to the first use. */
	if (d.jti[0]) {
		B(pg_buf_puts(&nb, ",\"jti\":"));
		B(pg_json_write_cstr(&nb, d.jti));
	}
	if (d.window_id[0]) {
		B(pg_buf_puts(&nb, ",\"token_window\":"));
		B(pg_json_write_cstr(&nb, d.window_id));
	}
	if (rc == PG_OK && nb.len < PG_HTTP_NOTE_MAX) {
		memcpy(note, nb.data, nb.len);
		note[nb.len] = '\0';
	} else {
		snprintf(note, PG_HTTP_NOTE_MAX, "\"identity\":\"-\",\"decision\":\"%s\",\"reason\":\"%s\"",
			 d.allow ? "allow" : "deny", pg_auth_reason_str(d.reason));
	}
	pg_buf_free(&nb);
	count(g, route == PG_AUTH_ROUTE_PPROF ? path : pg_auth_route_name(route), d.allow ? "allow" : "deny",
	      pg_auth_reason_str(d.reason));
	if (!d.allow) {
		char body[160];
		int len = pg_auth_decision_json(&d, body, sizeof(body));

		if (d.www_authenticate[0] && pg_http_add_header(r, "WWW-Authenticate", d.www_authenticate) != PG_OK)
			pg_err_clear();
		if (len < 0) {
			pg_err_clear();
			pg_http_reply_error(r, (unsigned)d.http_status, "forbidden");
		} else {
			pg_http_reply(r, (unsigned)d.http_status, "application/json", body, (size_t)len);
		}
		return false;
	}
	return true;
}

/* A diagnostics request is served only if its audit line has a place in
 * the audit queue (held until it completes): with the queue full, writes
 * failing or the disk too slow, it is refused rather than served unaudited. */
static bool reserve_audit(struct pg_http_req *r, struct pg_gate *g)
{
	static const char body[] = "{\"error\":\"service_unavailable\",\"reason\":\"audit_unavailable\"}";
	struct pg_audit *a = atomic_load(&g->audit);

	if (!a || pg_audit_reserve(a) == PG_OK)
		return true;
	pg_debug(MOD, "refused: %s", pg_errmsg());
	pg_err_clear();
	snprintf(pg_http_req_note(r), PG_HTTP_NOTE_MAX,
		 "\"identity\":\"-\",\"decision\":\"deny\",\"reason\":\"audit_unavailable\"");
	count(g, pg_http_req_path(r), "deny", "audit_unavailable");
	if (pg_http_add_header(r, "Retry-After", "1") != PG_OK)
		pg_err_clear();
	pg_http_reply(r, 503, "application/json", body, sizeof(body) - 1);
	return false;
}

bool pg_gate_check(struct pg_http_req *r, void *arg)
{
	return reserve_audit(r, arg) && guard(r, arg, PG_AUTH_ROUTE_PPROF);
}

bool pg_gate_check_public(struct pg_http_req *r, void *arg)
{
	const char *p = pg_http_req_path(r);

	return guard(r, arg, strcmp(p, "/metrics") == 0 ? PG_AUTH_ROUTE_METRICS : PG_AUTH_ROUTE_HEALTH);
}

/* ---- lifecycle ----------------------------------------------------------------- */

int pg_gate_new(const struct pg_config_diag *d, struct pg_metrics *metrics, struct pg_gate **out)
{
	static const char *const labels[] = {"route", "decision", "reason"};
	struct pg_gate *g = calloc(1, sizeof(*g));
	int rc;

	*out = NULL;
	if (!g)
		return pg_fail(PG_ENOMEM, "out of memory creating the diagnostics gate");
	pthread_mutex_init(&g->lock, NULL);
	rc = pg_auth_replay_new(PG_AUTH_REPLAY_DEFAULT_MAX, &g->replay);
	if (rc == PG_OK)
		rc = state_build(d, &g->cur);
	if (rc == PG_OK)
		pg_auth_policy_set_replay(g->cur->pol, g->replay);
	if (rc == PG_OK && metrics)
		rc = pg_metrics_family(metrics, PG_METRIC_COUNTER, "pprofgate_diag_requests_total",
				       "Diagnostics requests by route, gateway decision and reason.", labels, 3, NULL,
				       0, &g->requests);
	if (rc != PG_OK) {
		pg_gate_free(&g);
		return rc;
	}
	pg_info(MOD, "diagnostics policy: pprof %s%s, metrics %s, health %s; audit to %s",
		g->cur->methods[PG_AUTH_ROUTE_PPROF] == 3   ? "mtls or jwt"
		: g->cur->methods[PG_AUTH_ROUTE_PPROF] == 1 ? "mtls"
		: g->cur->methods[PG_AUTH_ROUTE_PPROF] == 2 ? "jwt"
		: g->cur->allow[PG_AUTH_ROUTE_PPROF]        ? "allowlist only"
							    : "loopback only",
		g->cur->allow[PG_AUTH_ROUTE_PPROF] && g->cur->methods[PG_AUTH_ROUTE_PPROF] ? " + allowlist" : "",
		g->cur->methods[PG_AUTH_ROUTE_METRICS] || g->cur->allow[PG_AUTH_ROUTE_METRICS] ? "guarded" : "open",
		g->cur->methods[PG_AUTH_ROUTE_HEALTH] || g->cur->allow[PG_AUTH_ROUTE_HEALTH] ? "guarded" : "open",
		d->audit_file[0] ? d->audit_file : "stderr");
	*out = g;
	return PG_OK;
}

int pg_gate_reload(struct pg_gate *g, const struct pg_config_diag *d)
{
	struct gstate *s = NULL, *old;
	int rc;

	rc = state_build(d, &s);
	if (rc != PG_OK)
		return rc;
	pg_auth_policy_set_replay(s->pol, g->replay);
	pthread_mutex_lock(&g->lock);
	old = g->cur;
	g->cur = s;
	pthread_mutex_unlock(&g->lock);
	state_put(old);
	return PG_OK;
}

/* open_audit's check without creating the file: an existing file must open
 * for appending, a missing one needs a directory it can be created in. */
static int check_audit(const char *path)
{
	char dir[PG_CONFIG_PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	if (!path[0])
		return PG_OK;
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
		return PG_OK;
	}
	if (errno == ENOENT) {
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == path)
			snprintf(dir, sizeof(dir), "/");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		if (access(dir, W_OK | X_OK) == 0)
			return PG_OK;
	}
	return pg_fail(PG_EIO, "cannot open audit file diagnostics.audit_file %s: %s", path, strerror(errno));
}

int pg_gate_check_config(const struct pg_config_diag *d, struct pg_http_opts *o)
{
	struct pg_gate g = {.cur = NULL};
	int rc = state_build(d, &g.cur);

	if (rc == PG_OK)
		rc = check_audit(d->audit_file);
	if (rc == PG_OK) {
		pg_gate_http_opts(&g, d, o);
		o->gate = o->gate_public = NULL;
		o->gate_arg = o->gate_public_arg = o->done_arg = NULL;
		o->done = NULL;
	}
	state_free(g.cur);
	return rc;
}

void pg_gate_free(struct pg_gate **pp)
{
	struct pg_gate *g;

	if (!pp || !*pp)
		return;
	g = *pp;
	state_put(g->cur);
	pg_auth_replay_free(&g->replay);
	pthread_mutex_destroy(&g->lock);
	free(g);
	*pp = NULL;
}

void pg_gate_set_window(struct pg_gate *g, struct pg_auth_window *w)
{
	if (g)
		atomic_store(&g->window, w);
}

void pg_gate_set_audit(struct pg_gate *g, struct pg_audit *a)
{
	if (g)
		atomic_store(&g->audit, a);
}

void pg_gate_http_opts(struct pg_gate *g, const struct pg_config_diag *d, struct pg_http_opts *o)
{
	struct gstate *s = g->cur;

	o->gate = pg_gate_check;
	o->gate_arg = g;
	o->conn_memo_free = chain_memo_free;
	o->done = pg_gate_audit;
	o->done_arg = g;
	o->audit_public_success = strcmp(d->audit_public_success, "true") == 0;
	/* /metrics and /healthz stay ungated (no per-request cost) unless
	 * their group has a rule. */
	if (s->methods[PG_AUTH_ROUTE_METRICS] || s->allow[PG_AUTH_ROUTE_METRICS] || s->methods[PG_AUTH_ROUTE_HEALTH] ||
	    s->allow[PG_AUTH_ROUTE_HEALTH]) {
		o->gate_public = pg_gate_check_public;
		o->gate_public_arg = g;
	}
	o->tls_cert_file = d->cert_file[0] ? d->cert_file : NULL;
	o->tls_key_file = d->key_file[0] ? d->key_file : NULL;
	o->tls_client_ca_file = d->client_ca_file[0] && wants_client_cert(d) ? d->client_ca_file : NULL;
	o->tls13_only = strcmp(d->min_version, "TLS13") == 0;
	o->plain_listen = d->plain_listen[0] && d->cert_file[0] ? d->plain_listen : NULL;
}
