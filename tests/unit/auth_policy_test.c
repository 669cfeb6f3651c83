/* The access decision: every route group, every refusal, and the order of
 * checks (allowlist, then authentication, then scope, then window). */
#include <arpa/inet.h>
#include <jwt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/policy.h"
#include "auth/replay.h"
#include "auth/scope.h"
#include "tests/unit/test.h"

#define NOW 1800000000L
#define MONO 5000000

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef-policy-test";

/* The fixture's window, which every request hands to the policy. */
static struct pg_auth_window *cur_win;

struct fixture {
	struct pg_auth_policy *p;
	struct pg_auth_jwt *jwt;
	struct pg_auth_idlist *ids;
	struct pg_auth_cidr_list *loop, *proxies, *metrics_allow;
	struct pg_auth_window *win;
};

/* A token with a "jti" (single use) and/or a window claim (bound) when
 * those are not NULL. */
static char *mint_claims(const char *sub, const char *scope, const char *jti, const char *window, long exp)
{
	jwt_t *j = NULL;
	char *t;

	jwt_new(&j);
	jwt_add_grant(j, "sub", sub);
	jwt_add_grant(j, "iss", "iss.example");
	jwt_add_grant(j, "aud", "pprofgate");
	if (scope)
		jwt_add_grant(j, "scope", scope);
	if (jti)
		jwt_add_grant(j, "jti", jti);
	if (window)
		jwt_add_grant(j, PG_AUTH_CLAIM_WINDOW, window);
	jwt_add_grant_int(j, "exp", exp);
	jwt_set_alg(j, JWT_ALG_HS256, secret, (int)sizeof(secret) - 1);
	t = jwt_encode_str(j);
	jwt_free(j);
	return t;
}

static char *mint(const char *sub, const char *scope, long exp)
{
	return mint_claims(sub, scope, NULL, NULL, exp);
}

static char *bearer(const char *tok)
{
	size_t n = strlen(tok) + 8;
	char *h = malloc(n);

	snprintf(h, n, "Bearer %s", tok);
	return h;
}

/* pprof: mtls or jwt, window required, allowlist 127.0.0.0/8 + ::1;
 * metrics: allowlist 10.0.0.0/8 only; health: open. */
static void setup(struct fixture *f)
{
	struct pg_auth_jwt_config jc = {.issuer = "iss.example", .audience = "pprofgate",
					.skew_s = 60, .cache_max = 128};
	struct pg_auth_route_rule pprof = {0}, metrics = {0};

	memset(f, 0, sizeof(*f));
	CHECK_INT(pg_auth_jwt_new(&jc, &f->jwt), PG_OK);
	CHECK_INT(pg_auth_jwt_add_key(f->jwt, PG_AUTH_ALG_HS256, NULL, secret, sizeof(secret) - 1), PG_OK);
	CHECK_INT(pg_auth_idlist_new(&f->ids), PG_OK);
	CHECK_INT(pg_auth_idlist_add(f->ids, "spiffe://pprofgate.local/admin", PG_AUTH_SCOPE_ADMIN), PG_OK);
	CHECK_INT(pg_auth_idlist_add(f->ids, "cn:operator", PG_AUTH_SCOPE_READ), PG_OK);
	CHECK_INT(pg_auth_cidr_list_new(&f->loop), PG_OK);
	CHECK_INT(pg_auth_cidr_list_add_many(f->loop, "127.0.0.0/8 ::1"), PG_OK);
	CHECK_INT(pg_auth_cidr_list_new(&f->proxies), PG_OK);
	CHECK_INT(pg_auth_cidr_list_add(f->proxies, "127.0.0.2"), PG_OK);
	CHECK_INT(pg_auth_cidr_list_new(&f->metrics_allow), PG_OK);
	CHECK_INT(pg_auth_cidr_list_add(f->metrics_allow, "10.0.0.0/8"), PG_OK);
	CHECK_INT(pg_auth_window_new(3600000, 5000, &f->win), PG_OK);
	CHECK_INT(pg_auth_policy_new(&f->p), PG_OK);
	pprof.methods = PG_AUTH_METHOD_MTLS | PG_AUTH_METHOD_JWT;
	pprof.require_window = true;
	pprof.allowlist = f->loop;
	metrics.allowlist = f->metrics_allow;
	CHECK_INT(pg_auth_policy_set_route(f->p, PG_AUTH_ROUTE_PPROF, &pprof), PG_OK);
	CHECK_INT(pg_auth_policy_set_route(f->p, PG_AUTH_ROUTE_METRICS, &metrics), PG_OK);
	pg_auth_policy_set_jwt(f->p, f->jwt);
	pg_auth_policy_set_client_ids(f->p, f->ids);
	pg_auth_policy_set_trusted_proxies(f->p, f->proxies);
	cur_win = f->win;
	CHECK_INT(pg_auth_policy_check(f->p), PG_OK);
}

static void teardown(struct fixture *f)
{
	pg_auth_policy_free(&f->p);
	pg_auth_jwt_free(&f->jwt);
	pg_auth_idlist_free(&f->ids);
	pg_auth_cidr_list_free(&f->loop);
	pg_auth_cidr_list_free(&f->proxies);
	pg_auth_cidr_list_free(&f->metrics_allow);
	pg_auth_window_free(&f->win);
	cur_win = NULL;
}

struct peer {
	struct sockaddr_storage ss;
	socklen_t len;
};

static struct peer P(const char *ip)
{
	struct peer p;

	memset(&p, 0, sizeof(p));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&p.ss;
		s->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &s->sin6_addr);
		p.len = sizeof(*s);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&p.ss;
		s->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &s->sin_addr);
		p.len = sizeof(*s);
	}
	return p;
}

static struct pg_auth_request req(enum pg_auth_route route, const char *profile, const struct peer *p)
{
	struct pg_auth_request r = {.route = route, .profile = profile,
				    .peer = (const struct sockaddr *)&p->ss, .peer_len = p->len,
				    .tls = true, .now_wall_s = NOW, .now_mono_ms = MONO, .window = cur_win};
	return r;
}

static struct pg_auth_cert_result cert(int status, const char *cn, const char *uri)
{
	struct pg_auth_cert_result c;

	memset(&c, 0, sizeof(c));
	c.status = status;
	if (status == PG_AUTH_R_OK) {
		snprintf(c.id.cn, sizeof(c.id.cn), "%s", cn);
		if (uri) {
			snprintf(c.id.uri[0], sizeof(c.id.uri[0]), "%s", uri);
			c.id.n_uri = 1;
		}
	}
	return c;
}

#define EXPECT(d, st, why)                                                    \
	do {                                                                  \
		CHECK_INT((d).http_status, st);                               \
		CHECK_STR(pg_auth_reason_str((d).reason), why);               \
		CHECK_INT((d).allow, (st) == 200);                            \
	} while (0)

static void test_no_security(void)
{
	struct pg_auth_policy *p = NULL;
	struct pg_auth_decision d;
	struct peer lo = P("127.0.0.1"), lo6 = P("::1"), mapped = P("::ffff:127.0.0.1"),
		    far = P("192.0.2.1");
	struct pg_auth_request r;

	CHECK_INT(pg_auth_policy_new(&p), PG_OK);
	CHECK_INT(pg_auth_policy_check(p), PG_OK);
	r = req(PG_AUTH_ROUTE_PPROF, "heap", &lo);
	r.tls = false;
	pg_auth_decide(p, &r, &d);
	EXPECT(d, 200, "ok");
	CHECK_INT(d.method, PG_AUTH_USED_LOOPBACK);
	CHECK_STR(d.client, "127.0.0.1");
	r.peer = (const struct sockaddr *)&lo6.ss;
	r.peer_len = lo6.len;
	pg_auth_decide(p, &r, &d);
	EXPECT(d, 200, "ok");
	r.peer = (const struct sockaddr *)&mapped.ss;
	r.peer_len = mapped.len;
	pg_auth_decide(p, &r, &d);
	EXPECT(d, 200, "ok");
	r.peer = (const struct sockaddr *)&far.ss;
	r.peer_len = far.len;
	pg_auth_decide(p, &r, &d);
	EXPECT(d, 403, "loopback_only");
	CHECK_STR(d.client, "192.0.2.1");
	/* Metrics and health are open without configuration. */
	r.route = PG_AUTH_ROUTE_METRICS;
	pg_auth_decide(p, &r, &d);
	EXPECT(d, 200, "ok");
	r.route = PG_AUTH_ROUTE_HEALTH;
	pg_auth_decide(p, &r, &d);
	EXPECT(d, 200, "ok");
	/* A non-IP peer is refused. */
	r.route = PG_AUTH_ROUTE_PPROF;
	r.peer = NULL;
	pg_auth_decide(p, &r, &d);
	EXPECT(d, 403, "ip_not_allowed");
	pg_auth_decide(p, NULL, &d);
	CHECK_INT(d.allow, 0);
	CHECK_INT(d.http_status, 500);
	pg_auth_policy_free(&p);
}

static void test_allowlist_first(void)
{
	struct fixture f;
	struct pg_auth_decision d;
	struct peer far = P("192.0.2.1"), ten = P("10.9.8.7"), proxy = P("127.0.0.2");
	char *tok = mint("alice", "pprof:admin", NOW + 300), *h = bearer(tok);
	struct pg_auth_request r;

	setup(&f);
	CHECK_INT(pg_auth_window_open(f.win, MONO, 60000, "test", "t", NULL, 0), PG_OK);
	/* Even a valid token does not help from outside the allowlist. */
	r = req(PG_AUTH_ROUTE_PPROF, "profile", &far);
	r.authorization = h;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "ip_not_allowed");
	CHECK_STR(d.www_authenticate, "");
	CHECK_STR(d.identity, "-");
	/* Metrics: allowlist only. */
	r = req(PG_AUTH_ROUTE_METRICS, NULL, &ten);
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	r = req(PG_AUTH_ROUTE_METRICS, NULL, &far);
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "ip_not_allowed");
	/* Health: open. */
	r = req(PG_AUTH_ROUTE_HEALTH, NULL, &far);
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	/* Through the trusted proxy the forwarded client is what counts. */
	r = req(PG_AUTH_ROUTE_METRICS, NULL, &proxy);
	r.forwarded_for = "192.0.2.1, 10.1.1.1";
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	CHECK_STR(d.client, "10.1.1.1");
	r.forwarded_for = "10.1.1.1, 192.0.2.1";
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "ip_not_allowed");
	CHECK_STR(d.client, "192.0.2.1");
	r.forwarded_for = "10.1.1.1, bogus";
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 400, "bad_forwarded_for");
	/* An untrusted peer's forwarded-for is ignored. */
	r = req(PG_AUTH_ROUTE_METRICS, NULL, &far);
	r.forwarded_for = "10.1.1.1";
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "ip_not_allowed");
	teardown(&f);
	free(tok);
	free(h);
}

static void test_jwt_path(void)
{
	struct fixture f;
	struct pg_auth_decision d;
	struct peer lo = P("127.0.0.1");
	char *good = mint("alice", "pprof:read", NOW + 300), *hg = bearer(good);
	char *sens = mint("bob", "pprof:sensitive", NOW + 300), *hs = bearer(sens);
	char *old = mint("alice", "pprof:admin", NOW - 3600), *ho = bearer(old);
	struct pg_auth_request r;

	setup(&f);
	/* Anonymous: 401 with a bare challenge; nothing about the window. */
	r = req(PG_AUTH_ROUTE_PPROF, "profile", &lo);
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "credentials_missing");
	CHECK_STR(d.www_authenticate, "Bearer realm=\"pprofgate\"");
	/* Another scheme counts as no token. */
	r.authorization = "Basic dXNlcjpwYXNz";
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "credentials_missing");
	/* Bad tokens: 401 invalid_token, still nothing about the window. */
	r.authorization = ho;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "token_expired");
	CHECK_STR(d.www_authenticate, "Bearer realm=\"pprofgate\", error=\"invalid_token\"");
	r.authorization = "Bearer abc.def.ghi";
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "token_malformed");
	r.authorization = "Bearer two tokens";
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 400, "token_malformed");
	CHECK_STR(d.www_authenticate, "Bearer realm=\"pprofgate\", error=\"invalid_request\"");
	/* Valid token, window closed. */
	r.authorization = hg;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "window_closed");
	CHECK_STR(d.identity, "jwt:alice");
	CHECK_STR(d.www_authenticate, "");
	/* Window open: allowed. */
	CHECK_INT(pg_auth_window_open(f.win, MONO - 1000, 60000, "INC-1", "jwt:ops", NULL, 0), PG_OK);
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	CHECK_STR(d.identity, "jwt:alice");
	CHECK_INT(d.method, PG_AUTH_USED_JWT);
	CHECK_INT(d.scopes, PG_AUTH_SCOPE_READ);
	CHECK_INT(d.window_left_ms, 59000);
	/* No window handed over is a closed one. */
	r.window = NULL;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "window_closed");
	r.window = f.win;
	/* pprof:read does not open heap. */
	r.profile = "heap";
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "scope_missing");
	CHECK_STR(d.www_authenticate,
		  "Bearer realm=\"pprofgate\", error=\"insufficient_scope\", scope=\"pprof:sensitive\"");
	r.authorization = hs;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	CHECK_STR(d.identity, "jwt:bob");
	/* Bearer over plain HTTP is refused. */
	r.tls = false;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "tls_required");
	/* Window covering only "profile": heap is closed for it. */
	{
		const char *const only[] = {"profile"};
		CHECK_INT(pg_auth_window_open(f.win, MONO, 60000, "INC-2", "jwt:ops", only, 1), PG_OK);
	}
	r.tls = true;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "window_closed");
	r.profile = "profile";
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	/* Window over. */
	r.now_mono_ms = MONO + 60000;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "window_closed");
	teardown(&f);
	free(good);
	free(hg);
	free(sens);
	free(hs);
	free(old);
	free(ho);
}

static void test_mtls_path(void)
{
	struct fixture f;
	struct pg_auth_decision d;
	struct peer lo = P("::1");
	struct pg_auth_cert_result admin = cert(PG_AUTH_R_OK, "admin", "spiffe://pprofgate.local/admin");
	struct pg_auth_cert_result oper = cert(PG_AUTH_R_OK, "operator", NULL);
	struct pg_auth_cert_result stranger = cert(PG_AUTH_R_OK, "mallory", "spiffe://evil/x");
	struct pg_auth_cert_result expired = cert(PG_AUTH_R_CERT_EXPIRED, NULL, NULL);
	struct pg_auth_cert_result untrusted = cert(PG_AUTH_R_CERT_UNTRUSTED, NULL, NULL);
	char *old = mint("alice", "pprof:admin", NOW - 3600), *ho = bearer(old);
	struct pg_auth_request r;

	setup(&f);
	CHECK_INT(pg_auth_window_open(f.win, MONO, 60000, "INC-3", "cn:admin", NULL, 0), PG_OK);
	r = req(PG_AUTH_ROUTE_PPROF, "goroutine", &lo);
	r.cert = &admin;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	CHECK_STR(d.identity, "uri:spiffe://pprofgate.local/admin");
	CHECK_INT(d.method, PG_AUTH_USED_MTLS);
	/* operator has pprof:read only. */
	r.cert = &oper;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "scope_missing");
	CHECK_STR(d.www_authenticate, ""); /* not a token problem */
	r.profile = "profile";
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	CHECK_STR(d.identity, "cn:operator");
	r.cert = &stranger;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "identity_not_allowed");
	CHECK_STR(d.identity, "uri:spiffe://evil/x");
	r.cert = &expired;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "cert_expired");
	r.cert = &untrusted;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "cert_untrusted");
	/* A good cert plus a bad token: every presented credential must hold. */
	r.cert = &admin;
	r.authorization = ho;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "token_expired");
	teardown(&f);
	free(old);
	free(ho);
}

static void test_single_method_routes(void)
{
	struct fixture f;
	struct pg_auth_decision d;
	struct peer lo = P("127.0.0.1");
	struct pg_auth_route_rule mtls_only = {.methods = PG_AUTH_METHOD_MTLS};
	struct pg_auth_route_rule jwt_only = {.methods = PG_AUTH_METHOD_JWT, .allow_plaintext_jwt = true};
	struct pg_auth_cert_result admin = cert(PG_AUTH_R_OK, "admin", "spiffe://pprofgate.local/admin");
	char *tok = mint("carol", NULL, NOW + 300), *h = bearer(tok);
	struct pg_auth_request r;

	setup(&f);
	CHECK_INT(pg_auth_policy_set_route(f.p, PG_AUTH_ROUTE_METRICS, &mtls_only), PG_OK);
	r = req(PG_AUTH_ROUTE_METRICS, NULL, &lo);
	r.tls = false;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "tls_required");
	r.tls = true;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "cert_missing");
	/* A token is not a certificate. */
	r.authorization = h;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "cert_missing");
	r.cert = &admin;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");

	CHECK_INT(pg_auth_policy_set_route(f.p, PG_AUTH_ROUTE_METRICS, &jwt_only), PG_OK);
	r = req(PG_AUTH_ROUTE_METRICS, NULL, &lo);
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "token_missing");
	/* A certificate is not a token. */
	r.cert = &admin;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "token_missing");
	/* Plaintext allowed on this route; metrics needs no pprof scope. */
	r.authorization = h;
	r.tls = false;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	CHECK_STR(d.identity, "jwt:carol");
	/* The same token on pprof: authenticated, but no scope. */
	CHECK_INT(pg_auth_window_open(f.win, MONO, 60000, "x", "y", NULL, 0), PG_OK);
	r.route = PG_AUTH_ROUTE_PPROF;
	r.profile = "profile";
	r.tls = true;
	r.cert = NULL;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "scope_missing");
	teardown(&f);
	free(tok);
	free(h);
}

static void test_check_and_json(void)
{
	struct pg_auth_policy *p = NULL;
	struct pg_auth_route_rule jwt = {.methods = PG_AUTH_METHOD_JWT};
	struct pg_auth_route_rule mtls = {.methods = PG_AUTH_METHOD_MTLS};
	struct pg_auth_route_rule win = {.require_window = true};
	struct pg_auth_route_rule bad = {.methods = 8};
	struct pg_auth_decision d;
	char buf[128];

	CHECK_INT(pg_auth_policy_new(&p), PG_OK);
	CHECK_INT(pg_auth_policy_set_route(p, PG_AUTH_ROUTE_PPROF, &bad), PG_EINVAL);
	CHECK_INT(pg_auth_policy_set_route(p, PG_AUTH_ROUTE__COUNT, &jwt), PG_EINVAL);
	CHECK_INT(pg_auth_policy_set_route(p, PG_AUTH_ROUTE_PPROF, &jwt), PG_OK);
	CHECK_INT(pg_auth_policy_check(p), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "route pprof uses JWT");
	CHECK_INT(pg_auth_policy_set_route(p, PG_AUTH_ROUTE_PPROF, &mtls), PG_OK);
	CHECK_INT(pg_auth_policy_check(p), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "mTLS");
	CHECK_INT(pg_auth_policy_set_route(p, PG_AUTH_ROUTE_PPROF, &win), PG_OK);
	CHECK_INT(pg_auth_policy_check(p), PG_OK);
	CHECK_INT(pg_auth_policy_set_route(p, PG_AUTH_ROUTE_METRICS, &win), PG_OK);
	CHECK_INT(pg_auth_policy_check(p), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "only pprof can require the window");
	pg_auth_policy_free(&p);
	CHECK(p == NULL);

	memset(&d, 0, sizeof(d));
	d.http_status = 401;
	d.reason = PG_AUTH_R_TOKEN_EXPIRED;
	CHECK_INT(pg_auth_decision_json(&d, buf, sizeof(buf)), 49);
	CHECK_STR(buf, "{\"error\":\"unauthorized\",\"reason\":\"token_expired\"}");
	d.http_status = 403;
	d.reason = PG_AUTH_R_WINDOW_CLOSED;
	CHECK(pg_auth_decision_json(&d, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "{\"error\":\"forbidden\",\"reason\":\"window_closed\"}");
	CHECK_INT(pg_auth_decision_json(&d, buf, 10), PG_ENOMEM);
	CHECK_STR(pg_auth_reason_str(PG_AUTH_R__COUNT), "unknown");
	for (int i = 0; i < PG_AUTH_R__COUNT; i++)
		CHECK(strcmp(pg_auth_reason_str((enum pg_auth_reason)i), "unknown") != 0);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void test_cost(void)
{
	struct fixture f;
	struct pg_auth_decision d;
	struct peer lo = P("127.0.0.1");
	struct pg_auth_cert_result admin = cert(PG_AUTH_R_OK, "admin", "spiffe://pprofgate.local/admin");
	char *tok = mint("alice", "pprof:admin", NOW + 300), *h = bearer(tok);
	struct pg_auth_request r;
	const int n = 20000;
	double t0, jwt_ns, mtls_ns;
	int ok = 1;

	setup(&f);
	CHECK_INT(pg_auth_window_open(f.win, MONO, 60000, "bench", "t", NULL, 0), PG_OK);
	r = req(PG_AUTH_ROUTE_PPROF, "heap", &lo);
	r.authorization = h;
	pg_auth_decide(f.p, &r, &d);
	t0 = now_ns();
	for (int i = 0; i < n; i++) {
		pg_auth_decide(f.p, &r, &d);
		ok &= d.allow;
	}
	jwt_ns = (now_ns() - t0) / n;
	r.authorization = NULL;
	r.cert = &admin;
	t0 = now_ns();
	for (int i = 0; i < n; i++) {
		pg_auth_decide(f.p, &r, &d);
		ok &= d.allow;
	}
	mtls_ns = (now_ns() - t0) / n;
	CHECK(ok);
	printf("cost: full decision with cached JWT %.2f us, with verified cert identity %.2f us\n",
	       jwt_ns / 1e3, mtls_ns / 1e3);
	teardown(&f);
	free(tok);
	free(h);
}

/* Single use: the first allowed presentation spends the token; a second one
 * (served from the verifier's cache, which must not skip the count) is
 * token_replayed. Refusals before the last step and HEAD probes do not
 * spend it; without a replay set it is refused, never honoured twice. */
static void test_single_use(void)
{
	struct fixture f;
	struct pg_auth_decision d;
	struct pg_auth_replay *rp = NULL;
	struct pg_auth_jwt_stats st;
	struct peer lo = P("127.0.0.1");
	char *t1 = mint_claims("alice", "pprof:admin", "jti-one", NULL, NOW + 300), *h1 = bearer(t1);
	char *t2 = mint_claims("alice", "pprof:admin", "jti-two", NULL, NOW + 300), *h2 = bearer(t2);
	char *t3 = mint_claims("alice", "pprof:admin", "jti-three", NULL, NOW + 300), *h3 = bearer(t3);
	char *bad = mint_claims("alice", "pprof:admin", "has space", NULL, NOW + 300), *hb = bearer(bad);
	struct pg_auth_request r;

	setup(&f);
	r = req(PG_AUTH_ROUTE_PPROF, "heap", &lo);
	r.authorization = h1;
	/* No replay set: refused. */
	CHECK_INT(pg_auth_window_open(f.win, MONO - 1000, 60000, "INC-1", "jwt:ops", NULL, 0), PG_OK);
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "single_use_full");
	CHECK_INT(pg_auth_replay_new(2, &rp), PG_OK);
	pg_auth_policy_set_replay(f.p, rp);
	/* Window closed: refused, not spent. */
	pg_auth_window_close(f.win);
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "window_closed");
	CHECK_INT(pg_auth_replay_count(rp), 0);
	CHECK_INT(pg_auth_window_open(f.win, MONO - 1000, 60000, "INC-1", "jwt:ops", NULL, 0), PG_OK);
	/* A HEAD probe checks without spending. */
	r.probe = true;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	CHECK_INT(pg_auth_replay_count(rp), 0);
	r.probe = false;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	CHECK_STR(d.jti, "jti-one");
	CHECK_INT(pg_auth_replay_count(rp), 1);
	pg_auth_jwt_stats(f.jwt, &st);
	CHECK(st.hits >= 1); /* the second presentation above came from the cache */
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "token_replayed");
	CHECK_STR(d.www_authenticate, "Bearer realm=\"pprofgate\", error=\"invalid_token\"");
	CHECK_STR(d.jti, "jti-one");
	/* A probe after the use is refused too. */
	r.probe = true;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "token_replayed");
	r.probe = false;
	/* The set holds 2: the third single-use token is refused, none forgotten. */
	r.authorization = h2;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	r.authorization = h3;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 403, "single_use_full");
	r.authorization = h1;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "token_replayed");
	/* Past exp + skew the verifier refuses the token before the set is asked
	 * (test_replay_set shows the room being reused). */
	r.now_wall_s = NOW + 300 + 60 + 1;
	r.authorization = h3;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "token_expired"); /* the verifier refuses it first */
	/* A jti with a space is malformed (it goes into audit lines). */
	r.now_wall_s = NOW;
	r.authorization = hb;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "token_malformed");
	teardown(&f);
	pg_auth_replay_free(&rp);
	free(t1), free(h1), free(t2), free(h2), free(t3), free(h3), free(bad), free(hb);
}

/* The replay set alone: bound, expiry, reuse of expired room. */
static void test_replay_set(void)
{
	struct pg_auth_replay *rp = NULL;

	CHECK_INT(pg_auth_replay_new(0, &rp), PG_EINVAL);
	CHECK_INT(pg_auth_replay_new(PG_AUTH_REPLAY_MAX_MAX + 1, &rp), PG_EINVAL);
	CHECK_INT(pg_auth_replay_new(3, &rp), PG_OK);
	CHECK_INT(pg_auth_replay_use(rp, "a", 1, 100, 10, false), PG_AUTH_R_OK);
	CHECK_INT(pg_auth_replay_count(rp), 0);
	CHECK_INT(pg_auth_replay_use(rp, "a", 1, 100, 10, true), PG_AUTH_R_OK);
	CHECK_INT(pg_auth_replay_use(rp, "a", 1, 100, 11, true), PG_AUTH_R_TOKEN_REPLAYED);
	CHECK_INT(pg_auth_replay_use(rp, "a", 1, 100, 100, false), PG_AUTH_R_TOKEN_REPLAYED);
	CHECK_INT(pg_auth_replay_use(rp, "b", 1, 50, 10, true), PG_AUTH_R_OK);
	CHECK_INT(pg_auth_replay_use(rp, "c", 1, 200, 10, true), PG_AUTH_R_OK);
	CHECK_INT(pg_auth_replay_use(rp, "d", 1, 200, 10, true), PG_AUTH_R_SINGLE_USE_FULL);
	CHECK_INT(pg_auth_replay_use(rp, "d", 1, 200, 10, false), PG_AUTH_R_OK); /* probe: not recorded */
	/* At 51, "b" is over: its room goes to "d"; "a" and "c" stay. */
	CHECK_INT(pg_auth_replay_use(rp, "d", 1, 200, 51, true), PG_AUTH_R_OK);
	CHECK_INT(pg_auth_replay_count(rp), 3);
	CHECK_INT(pg_auth_replay_use(rp, "a", 1, 100, 51, true), PG_AUTH_R_TOKEN_REPLAYED);
	CHECK_INT(pg_auth_replay_use(rp, "c", 1, 200, 51, true), PG_AUTH_R_TOKEN_REPLAYED);
	CHECK_INT(pg_auth_replay_use(rp, "d", 1, 200, 51, true), PG_AUTH_R_TOKEN_REPLAYED);
	CHECK_INT(pg_auth_replay_use(rp, "e", 1, 200, 51, true), PG_AUTH_R_SINGLE_USE_FULL);
	CHECK_INT(pg_auth_replay_use(rp, "", 0, 200, 51, true), PG_AUTH_R_INTERNAL);
	pg_auth_replay_free(&rp);
	CHECK(rp == NULL);
	pg_auth_replay_free(&rp);
}

/* Window-bound: valid only while the window with its id is open, even when
 * exp is later; a new window (new id) does not revive it. */
static void test_bound_window(void)
{
	struct fixture f;
	struct pg_auth_decision d;
	struct peer lo = P("127.0.0.1");
	char *t = mint_claims("alice", "pprof:admin", NULL, "win-1", NOW + 3600), *h = bearer(t);
	char *bad = mint_claims("alice", "pprof:admin", NULL, "win/1", NOW + 3600), *hb = bearer(bad);
	struct pg_auth_request r;
	struct pg_auth_route_rule open_rule = {.methods = PG_AUTH_METHOD_JWT};

	setup(&f);
	r = req(PG_AUTH_ROUTE_PPROF, "heap", &lo);
	r.authorization = h;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "window_mismatch");
	CHECK_STR(d.window_id, "win-1");
	CHECK_INT(pg_auth_window_open_id(f.win, MONO - 1000, 60000, "INC-1", "jwt:ops", "win-1", NULL, 0), PG_OK);
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	/* The window's time runs out: refused though exp is an hour away. */
	r.now_mono_ms = MONO + 60000;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "window_mismatch");
	CHECK_STR(d.www_authenticate, "Bearer realm=\"pprofgate\", error=\"invalid_token\"");
	r.now_mono_ms = MONO;
	pg_auth_window_close(f.win);
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "window_mismatch");
	/* A new window has a new id. */
	CHECK_INT(pg_auth_window_open_id(f.win, MONO - 1000, 60000, "INC-2", "jwt:ops", "win-2", NULL, 0), PG_OK);
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "window_mismatch");
	/* A window without id never matches. */
	CHECK_INT(pg_auth_window_open(f.win, MONO - 1000, 60000, "INC-3", "jwt:ops", NULL, 0), PG_OK);
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "window_mismatch");
	/* The binding holds on a route that does not require the window. */
	CHECK_INT(pg_auth_policy_set_route(f.p, PG_AUTH_ROUTE_METRICS, &open_rule), PG_OK);
	r = req(PG_AUTH_ROUTE_METRICS, NULL, &lo);
	r.authorization = h;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "window_mismatch");
	CHECK_INT(pg_auth_window_open_id(f.win, MONO - 1000, 60000, "INC-1", "jwt:ops", "win-1", NULL, 0), PG_OK);
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 200, "ok");
	/* A window claim that is no window id: malformed. */
	r.authorization = hb;
	pg_auth_decide(f.p, &r, &d);
	EXPECT(d, 401, "token_malformed");
	CHECK_INT(pg_auth_window_open_id(f.win, MONO, 1000, "r", "o", "bad id", NULL, 0), PG_EINVAL);
	teardown(&f);
	free(t), free(h), free(bad), free(hb);
}

int main(void)
{
	RUN(test_no_security);
	RUN(test_allowlist_first);
	RUN(test_jwt_path);
	RUN(test_mtls_path);
	RUN(test_single_method_routes);
	RUN(test_check_and_json);
	RUN(test_cost);
	RUN(test_single_use);
	RUN(test_replay_set);
	RUN(test_bound_window);
	TEST_END();
}
