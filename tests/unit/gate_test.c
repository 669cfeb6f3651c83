/* The diagnostics gateway end to end, in one process: the real HTTP server
 * (HTTPS, client certificates requested) with test pprof routes, the gate
 * built from a diagnostics config, and libcurl as the client. Certificates
 * come from certs/gen-dev-pki.sh --test-extras; tokens are minted here with
 * libjwt (and by hand for the forged ones). */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/http/server.h"
static void t_ok(struct pg_http_req *r, void *arg);

#include "src/http/server.c"
#include "auth/window.h"
#include "src/audit/audit.h"
#include "src/audit/chain.h"
#undef MOD
#include "src/gate/gate.c" /* white box: the trust store's lookup counts */
#include "tests/unit/test.h"

static void t_ok(struct pg_http_req *r, void *arg)
{
	(void)arg;
	pg_http_reply_text(r, 200, "text/plain", "profile\n");
}

static const struct pg_http_route test_routes[] = {
	{"/debug/pprof/heap", PG_HTTP_GET, t_ok, NULL, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/block", PG_HTTP_GET, t_ok, NULL, PG_HTTP_GROUP_PPROF},
};
#define TEST_ROUTES .routes = test_routes, .n_routes = sizeof(test_routes) / sizeof(test_routes[0])

static char dir[256];
static char path_buf[32][512];
static int path_i;

static const char *P(const char *name)
{
	char *p = path_buf[path_i++ % 32];

	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

static struct pg_http *http;
static struct pg_gate *gate;
static struct pg_audit *audit;
static struct pg_config_diag diag;
static int port;
static bool plain; /* get() speaks plain HTTP to plain_port */
static int plain_port;

/* ---- client ---- */

struct resp {
	long status;
	char body[512];
	size_t len;
	char www[256];
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t k = sz * n;

	if (r->len + k < sizeof(r->body)) {
		memcpy(r->body + r->len, p, k);
		r->len += k;
		r->body[r->len] = '\0';
	}
	return k;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t k = sz * n;

	if (k > 18 && strncasecmp(p, "WWW-Authenticate:", 17) == 0)
		snprintf(r->www, sizeof(r->www), "%.*s", (int)(k - 18), p + 18);
	return k;
}

/* GET https://127.0.0.1:port<path> with an optional client cert (name
 * prefix in dir: "admin" -> admin.crt/admin.key), bearer token and extra
 * header. */
static struct resp get(const char *path, const char *cert, const char *token, const char *hdr)
{
	struct resp r;
	char url[1024], crt[512], key[512];
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char *auth = NULL;

	memset(&r, 0, sizeof(r));
	snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", plain ? "http" : "https", plain ? plain_port : port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_CAINFO, P("ca.crt"));
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	if (cert) {
		snprintf(crt, sizeof(crt), "%s/%s.crt", dir, cert);
		snprintf(key, sizeof(key), "%s/%s.key", dir, cert);
		curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
		curl_easy_setopt(c, CURLOPT_SSLKEY, key);
	}
	if (token) {
		size_t n = strlen(token) + 32;

		auth = malloc(n);
		snprintf(auth, n, "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (hdr)
		h = curl_slist_append(h, hdr);
	if (h)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(h);
	free(auth);
	curl_easy_cleanup(c);
	return r;
}

/* ---- tokens ---- */

static char *slurp(const char *path, size_t *len)
{
	char *d = NULL;

	if (pg_file_read(path, 1 << 20, 0, &d, len) != PG_OK)
		return NULL;
	return d;
}

/* Mints a token; exp/nbf relative to now (0 = leave out nbf). */
static char *mint(jwt_alg_t alg, const char *keyfile, const char *iss, const char *aud, const char *scope,
		  long exp_in, long nbf_in)
{
	jwt_t *j = NULL;
	size_t klen = 0;
	char *key = slurp(keyfile, &klen), *out = NULL;
	time_t now = time(NULL);

	if (!key || jwt_new(&j) != 0)
		goto out;
	if (alg == JWT_ALG_HS256 && klen && key[klen - 1] == '\n')
		klen--; /* the verifier drops one trailing newline too */
	jwt_add_grant(j, "sub", "tester");
	jwt_add_grant(j, "iss", iss);
	jwt_add_grant(j, "aud", aud);
	jwt_add_grant(j, "scope", scope);
	jwt_add_grant_int(j, "exp", now + exp_in);
	if (nbf_in)
		jwt_add_grant_int(j, "nbf", now + nbf_in);
	if (jwt_set_alg(j, alg, (unsigned char *)key, (int)klen) == 0)
		out = jwt_encode_str(j);
out:
	jwt_free(j);
	free(key);
	return out;
}

static char *b64url(const unsigned char *in, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *o = malloc(n * 4 / 3 + 4), *p = o;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		*p++ = t[v >> 18 & 63];
		*p++ = t[v >> 12 & 63];
		if (i + 1 < n)
			*p++ = t[v >> 6 & 63];
		if (i + 2 < n)
			*p++ = t[v & 63];
	}
	*p = '\0';
	return o;
}

/* ---- setup ---- */

static void fill_diag(void)
{
	memset(&diag, 0, sizeof(diag));
	snprintf(diag.cert_file, sizeof(diag.cert_file), "%s", P("server.crt"));
	snprintf(diag.key_file, sizeof(diag.key_file), "%s", P("server.key"));
	snprintf(diag.client_ca_file, sizeof(diag.client_ca_file), "%s", P("ca.crt"));
	snprintf(diag.client_auth_type, sizeof(diag.client_auth_type), "RequestClientCert");
	snprintf(diag.min_version, sizeof(diag.min_version), "TLS12");
	snprintf(diag.client_identities, sizeof(diag.client_identities),
		 "uri:spiffe://pprofgate.local/admin pprof:admin\nuri:spiffe://pprofgate.local/operator pprof:read");
	snprintf(diag.jwt_keys[0].alg, 8, "RS256");
	snprintf(diag.jwt_keys[0].file, sizeof(diag.jwt_keys[0].file), "%s", P("jwt-rs256.pub"));
	snprintf(diag.jwt_keys[1].alg, 8, "HS256");
	snprintf(diag.jwt_keys[1].kid, 8, "hs");
	snprintf(diag.jwt_keys[1].file, sizeof(diag.jwt_keys[1].file), "%s", P("jwt-hs256.secret"));
	snprintf(diag.jwt_keys[2].alg, 8, "ES256");
	snprintf(diag.jwt_keys[2].file, sizeof(diag.jwt_keys[2].file), "%s", P("jwt-es256.pub"));
	diag.n_jwt_keys = 3;
	snprintf(diag.jwt_issuer, sizeof(diag.jwt_issuer), "https://issuer.test");
	snprintf(diag.jwt_audience, sizeof(diag.jwt_audience), "pprofgate");
	diag.jwt_clock_skew = 30;
	snprintf(diag.pprof.auth, sizeof(diag.pprof.auth), "mtls or jwt");
	snprintf(diag.audit_file, sizeof(diag.audit_file), "%s", P("audit.log"));
}

static int setup(void)
{
	char cmd[1024];
	struct pg_http_opts o = {TEST_ROUTES, .listen = "127.0.0.1:0", .threads = 2};

	snprintf(dir, sizeof(dir), "%s/pg-gate-test.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof(cmd), "certs/gen-dev-pki.sh --dir %s --test-extras >/dev/null 2>&1", dir);
	if (system(cmd) != 0)
		return -1;
	fill_diag();
	if (pg_gate_new(&diag, NULL, &gate) != PG_OK) {
		fprintf(stderr, "gate: %s\n", pg_errmsg());
		return -1;
	}
	struct pg_audit_opts ao = {.path = diag.audit_file, .sync_ms = -1};
	if (pg_audit_new(&ao, &audit) != PG_OK) {
		fprintf(stderr, "audit: %s\n", pg_errmsg());
		return -1;
	}
	pg_gate_set_audit(gate, audit);
	pg_gate_http_opts(gate, &diag, &o);
	if (pg_http_start(&o, &http) != PG_OK) {
		fprintf(stderr, "http: %s\n", pg_errmsg());
		return -1;
	}
	port = pg_http_port(http);
	return 0;
}

/* ---- cases ---- */

static void test_open_routes(void)
{
	struct resp r = get("/healthz", NULL, NULL, NULL);

	CHECK_INT(r.status, 200);
}

static void test_no_credentials(void)
{
	struct resp r = get("/debug/pprof/heap", NULL, NULL, NULL);

	CHECK_INT(r.status, 401);
	CHECK_CONTAINS(r.body, "credentials_missing");
	CHECK_CONTAINS(r.www, "Bearer");
}

static void test_client_certs(void)
{
	struct resp r;

	r = get("/debug/pprof/heap", "admin", NULL, NULL);
	CHECK_INT(r.status, 200);
	CHECK_STR(r.body, "profile\n");
	r = get("/debug/pprof/block", "operator", NULL, NULL);
	CHECK_INT(r.status, 200);
	r = get("/debug/pprof/heap", "operator", NULL, NULL); /* heap needs pprof:sensitive */
	CHECK_INT(r.status, 403);
	CHECK_CONTAINS(r.body, "scope_missing");
	r = get("/debug/pprof/heap", "selfsigned-client", NULL, NULL);
	CHECK_INT(r.status, 403);
	CHECK_CONTAINS(r.body, "cert_untrusted");
	r = get("/debug/pprof/heap", "expired-client", NULL, NULL);
	CHECK_INT(r.status, 403);
	CHECK_CONTAINS(r.body, "cert_expired");
	r = get("/debug/pprof/heap", "rogue-client", NULL, NULL);
	CHECK_INT(r.status, 403);
	CHECK_CONTAINS(r.body, "cert_untrusted");
	r = get("/debug/pprof/heap", "serveronly-client", NULL, NULL);
	CHECK_INT(r.status, 403);
	CHECK_CONTAINS(r.body, "cert_bad_purpose");
}

static void test_tokens(void)
{
	char *good = mint(JWT_ALG_RS256, P("jwt-rs256.key"), "https://issuer.test", "pprofgate",
			  "pprof:sensitive", 300, 0);
	char *hs = mint(JWT_ALG_HS256, P("jwt-hs256.secret"), "https://issuer.test", "pprofgate", "pprof:read",
			300, 0);
	char *expired = mint(JWT_ALG_RS256, P("jwt-rs256.key"), "https://issuer.test", "pprofgate",
			     "pprof:sensitive", -3600, 0);
	char *early = mint(JWT_ALG_RS256, P("jwt-rs256.key"), "https://issuer.test", "pprofgate",
			   "pprof:sensitive", 7200, 3600);
	char *wrong_iss = mint(JWT_ALG_RS256, P("jwt-rs256.key"), "https://evil.test", "pprofgate",
			       "pprof:sensitive", 300, 0);
	char *wrong_aud = mint(JWT_ALG_RS256, P("jwt-rs256.key"), "https://issuer.test", "other",
			       "pprof:sensitive", 300, 0);
	char *read_only = mint(JWT_ALG_RS256, P("jwt-rs256.key"), "https://issuer.test", "pprofgate",
			       "pprof:read", 300, 0);
	/* HS256 with the RSA public key PEM as the HMAC secret (alg confusion). */
	char *confused = mint(JWT_ALG_HS256, P("jwt-rs256.pub"), "https://issuer.test", "pprofgate",
			      "pprof:admin", 300, 0);
	struct resp r;
	char tmp[9000];

	CHECK(good && hs && expired && early && wrong_iss && wrong_aud && read_only && confused);
	if (!good || !hs || !expired || !early || !wrong_iss || !wrong_aud || !read_only || !confused)
		goto out;
	r = get("/debug/pprof/heap", NULL, good, NULL);
	CHECK_INT(r.status, 200);
	r = get("/debug/pprof/block", NULL, hs, NULL);
	CHECK_INT(r.status, 200);
	{
		char *es = mint(JWT_ALG_ES256, P("jwt-es256.key"), "https://issuer.test", "pprofgate",
				"pprof:sensitive", 300, 0);

		CHECK(es != NULL);
		r = get("/debug/pprof/heap", NULL, es, NULL);
		CHECK_INT(r.status, 200);
		free(es);
	}
	r = get("/debug/pprof/heap", NULL, expired, NULL);
	CHECK_INT(r.status, 401);
	CHECK_CONTAINS(r.body, "token_expired");
	CHECK_CONTAINS(r.www, "invalid_token");
	r = get("/debug/pprof/heap", NULL, early, NULL);
	CHECK_INT(r.status, 401);
	CHECK_CONTAINS(r.body, "token_not_yet_valid");
	r = get("/debug/pprof/heap", NULL, wrong_iss, NULL);
	CHECK_INT(r.status, 401);
	CHECK_CONTAINS(r.body, "wrong_issuer");
	r = get("/debug/pprof/heap", NULL, wrong_aud, NULL);
	CHECK_INT(r.status, 401);
	CHECK_CONTAINS(r.body, "wrong_audience");
	r = get("/debug/pprof/heap", NULL, read_only, NULL);
	CHECK_INT(r.status, 403);
	CHECK_CONTAINS(r.body, "scope_missing");
	CHECK_CONTAINS(r.www, "insufficient_scope");
	r = get("/debug/pprof/heap", NULL, confused, NULL);
	CHECK_INT(r.status, 401);
	{
		/* alg=none: header {"alg":"none"}, no signature. */
		const char *hdr = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
		char *h = b64url((const unsigned char *)hdr, strlen(hdr));
		const char *dot = strchr(good, '.');
		const char *dot2 = strchr(dot + 1, '.');

		snprintf(tmp, sizeof(tmp), "%s.%.*s.", h, (int)(dot2 - dot - 1), dot + 1);
		free(h);
		r = get("/debug/pprof/heap", NULL, tmp, NULL);
		CHECK_INT(r.status, 401);
		CHECK_CONTAINS(r.body, "alg_not_allowed");
	}
	{
		/* Tampered payload: same header and signature, scope widened. */
		const char *dot = strchr(read_only, '.');
		const char *dot2 = strchr(dot + 1, '.');
		char payload[1024];
		char *p;

		snprintf(payload, sizeof(payload),
			 "{\"sub\":\"tester\",\"iss\":\"https://issuer.test\",\"aud\":\"pprofgate\","
			 "\"scope\":\"pprof:admin\",\"exp\":%lld}",
			 (long long)time(NULL) + 300);
		p = b64url((const unsigned char *)payload, strlen(payload));
		snprintf(tmp, sizeof(tmp), "%.*s.%s%s", (int)(dot - read_only), read_only, p, dot2);
		free(p);
		r = get("/debug/pprof/heap", NULL, tmp, NULL);
		CHECK_INT(r.status, 401);
		CHECK_CONTAINS(r.body, "bad_signature");
	}
	/* Over 8 KiB. */
	memset(tmp, 'A', 8300);
	tmp[8300] = '\0';
	r = get("/debug/pprof/heap", NULL, tmp, NULL);
	CHECK(r.status == 400 || r.status == 401);
	CHECK_CONTAINS(r.body, "token_too_large");
	/* A presented bad token is refused even with a good certificate. */
	r = get("/debug/pprof/heap", "admin", expired, NULL);
	CHECK_INT(r.status, 401);
out:
	free(good);
	free(hs);
	free(expired);
	free(early);
	free(wrong_iss);
	free(wrong_aud);
	free(read_only);
	free(confused);
}

static void test_paths(void)
{
	struct resp r;

	r = get("/debug/pprof/../pprof/heap", "admin", NULL, NULL);
	CHECK_INT(r.status, 400);
	r = get("//debug/pprof/heap", "admin", NULL, NULL);
	CHECK_INT(r.status, 400);
	r = get("/debug/pprof/%2e%2e/heap", "admin", NULL, NULL);
	CHECK_INT(r.status, 400);
	r = get("/debug/pprof/%68eap", NULL, NULL, NULL);
	CHECK_INT(r.status, 400);
	r = get("/debug/pprof/\"q\\", NULL, NULL, NULL); /* audited JSON-escaped */
	CHECK_INT(r.status, 400);
}

/* Allowlist that excludes 127.0.0.1, applied by reload; X-Forwarded-For
 * from an untrusted peer changes nothing. */
static void test_allowlist_and_reload(void)
{
	struct resp r;

	snprintf(diag.pprof.allowlist, sizeof(diag.pprof.allowlist), "10.0.0.0/8\n::1/128");
	CHECK_INT(pg_gate_reload(gate, &diag), PG_OK);
	r = get("/debug/pprof/heap", "admin", NULL, NULL);
	CHECK_INT(r.status, 403);
	CHECK_CONTAINS(r.body, "ip_not_allowed");
	r = get("/debug/pprof/heap", "admin", NULL, "X-Forwarded-For: 10.1.2.3");
	CHECK_INT(r.status, 403);
	CHECK_CONTAINS(r.body, "ip_not_allowed");
	/* A broken reload keeps the current policy. */
	snprintf(diag.pprof.allowlist, sizeof(diag.pprof.allowlist), "10.0.0.0/33");
	CHECK(pg_gate_reload(gate, &diag) != PG_OK);
	pg_err_clear();
	r = get("/debug/pprof/heap", "admin", NULL, NULL);
	CHECK_INT(r.status, 403);
	CHECK_CONTAINS(r.body, "ip_not_allowed");
	diag.pprof.allowlist[0] = '\0';
	CHECK_INT(pg_gate_reload(gate, &diag), PG_OK);
	r = get("/debug/pprof/heap", "admin", NULL, NULL);
	CHECK_INT(r.status, 200);
}

/* One request on a kept-alive connection with the admin certificate. */
static long get_on(CURL *c, const char *path, struct resp *r)
{
	char url[1024];

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	return r->status;
}

static unsigned long long chain_lookups(void)
{
	struct pg_auth_x509_stats st;

	pg_auth_x509_stats(gate->cur->trust, &st);
	return st.hits + st.misses;
}

/* The client chain is verified once per TLS session: later requests on the
 * connection reuse the outcome (no lookup in the trust store's cache, no
 * hashing); a reload makes the next request verify it against the new
 * configuration, and a new connection verifies its own chain. */
static void test_chain_once_per_session(void)
{
	CURL *c = curl_easy_init();
	char crt[512], key[512];
	unsigned long long before;
	struct resp r;
	long connects = 0;

	snprintf(crt, sizeof(crt), "%s/admin.crt", dir);
	snprintf(key, sizeof(key), "%s/admin.key", dir);
	curl_easy_setopt(c, CURLOPT_CAINFO, P("ca.crt"));
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
	curl_easy_setopt(c, CURLOPT_SSLKEY, key);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	before = chain_lookups();
	for (int i = 0; i < 5; i++)
		CHECK_INT(get_on(c, "/debug/pprof/heap", &r), 200);
	curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
	CHECK_INT(connects, 0); /* the last request re-used the connection */
	CHECK_INT(chain_lookups() - before, 1);
	/* Another connection: its own verification (a hit in the store's cache). */
	CHECK_INT(get("/debug/pprof/heap", "admin", NULL, NULL).status, 200);
	CHECK_INT(chain_lookups() - before, 2);
	/* A reload that drops the identity applies to the kept-alive session. */
	snprintf(diag.client_identities, sizeof(diag.client_identities),
		 "uri:spiffe://pprofgate.local/operator pprof:read");
	CHECK_INT(pg_gate_reload(gate, &diag), PG_OK);
	before = chain_lookups();
	CHECK_INT(get_on(c, "/debug/pprof/heap", &r), 403);
	CHECK_CONTAINS(r.body, "identity_not_allowed");
	CHECK_INT(chain_lookups() - before, 1);
	fill_diag();
	CHECK_INT(pg_gate_reload(gate, &diag), PG_OK);
	CHECK_INT(get_on(c, "/debug/pprof/heap", &r), 200);
	curl_easy_cleanup(c);
}

/* mTLS-only pprof: no certificate is 403 cert_missing (no HTTP challenge
 * exists for TLS). */
static void test_mtls_only(void)
{
	struct resp r;

	snprintf(diag.pprof.auth, sizeof(diag.pprof.auth), "mtls");
	CHECK_INT(pg_gate_reload(gate, &diag), PG_OK);
	r = get("/debug/pprof/heap", NULL, NULL, NULL);
	CHECK_INT(r.status, 403);
	CHECK_CONTAINS(r.body, "cert_missing");
	CHECK_INT(get("/debug/pprof/heap", "admin", NULL, NULL).status, 200);
	snprintf(diag.pprof.auth, sizeof(diag.pprof.auth), "mtls or jwt");
	CHECK_INT(pg_gate_reload(gate, &diag), PG_OK);
}

/* groups.pprof.require_window: closed (no window yet) -> 403 window_closed
 * after authentication; open -> 200. */
static void test_window(void)
{
	struct pg_auth_window *w = NULL;
	struct timespec ts;
	struct resp r;

	snprintf(diag.pprof.require_window, sizeof(diag.pprof.require_window), "true");
	CHECK_INT(pg_gate_reload(gate, &diag), PG_OK);
	r = get("/debug/pprof/heap", "admin", NULL, NULL);
	CHECK_INT(r.status, 403);
	CHECK_CONTAINS(r.body, "window_closed");
	r = get("/debug/pprof/heap", NULL, NULL, NULL); /* anonymous: not told about the window */
	CHECK_INT(r.status, 401);
	CHECK_INT(pg_auth_window_new(3600 * 1000, 0, &w), PG_OK);
	pg_gate_set_window(gate, w);
	CHECK_INT(get("/debug/pprof/heap", "admin", NULL, NULL).status, 403);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	CHECK_INT(pg_auth_window_open(w, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, 60000, "test", "tester",
				      NULL, 0),
		  PG_OK);
	CHECK_INT(get("/debug/pprof/heap", "admin", NULL, NULL).status, 200);
	pg_gate_set_window(gate, NULL);
	pg_auth_window_free(&w);
	snprintf(diag.pprof.require_window, sizeof(diag.pprof.require_window), "false");
	CHECK_INT(pg_gate_reload(gate, &diag), PG_OK);
}

/* Plain HTTP: bearer tokens are refused (RFC 6750 §5.3), a guarded
 * /metrics applies its allowlist, /healthz stays open. */
static void test_plain_http(void)
{
	struct pg_config_diag d = diag;
	struct pg_gate *g2 = NULL;
	struct pg_http *h2 = NULL;
	struct pg_http_opts o = {TEST_ROUTES, .listen = "127.0.0.1:0"};
	char *tok = mint(JWT_ALG_RS256, P("jwt-rs256.key"), "https://issuer.test", "pprofgate", "pprof:admin", 300, 0);
	struct resp r;

	d.cert_file[0] = d.key_file[0] = d.client_ca_file[0] = '\0';
	snprintf(d.pprof.auth, sizeof(d.pprof.auth), "jwt");
	snprintf(d.metrics.allowlist, sizeof(d.metrics.allowlist), "10.0.0.0/8");
	d.audit_file[0] = '\0';
	CHECK_INT(pg_gate_new(&d, NULL, &g2), PG_OK);
	if (!g2 || !tok)
		goto out;
	pg_gate_http_opts(g2, &d, &o);
	CHECK(o.gate_public != NULL);
	CHECK(o.tls_cert_file == NULL);
	CHECK_INT(pg_http_start(&o, &h2), PG_OK);
	if (!h2)
		goto out;
	plain = true;
	plain_port = pg_http_port(h2);
	r = get("/debug/pprof/heap", NULL, tok, NULL);
	CHECK_INT(r.status, 403);
	CHECK_CONTAINS(r.body, "tls_required");
	r = get("/metrics", NULL, NULL, NULL);
	CHECK_INT(r.status, 403);
	CHECK_CONTAINS(r.body, "ip_not_allowed");
	CHECK_INT(get("/healthz", NULL, NULL, NULL).status, 200);
	plain = false;
out:
	pg_http_stop(&h2);
	pg_gate_free(&g2);
	free(tok);
}

/* HTTPS node with a plain listener: /metrics and /healthz there, profile
 * routes 404 (never served in clear). */
static void test_plain_listener(void)
{
	struct pg_config_diag d = diag;
	struct pg_http *h2 = NULL;
	struct pg_http_opts o = {TEST_ROUTES, .listen = "127.0.0.1:0"};
	struct resp r;

	snprintf(d.plain_listen, sizeof(d.plain_listen), "127.0.0.1:0");
	pg_gate_http_opts(gate, &d, &o);
	CHECK_INT(pg_http_start(&o, &h2), PG_OK);
	if (!h2)
		return;
	CHECK(pg_http_plain_port(h2) > 0);
	plain = true;
	plain_port = pg_http_plain_port(h2);
	CHECK_INT(get("/healthz", NULL, NULL, NULL).status, 200);
	CHECK_INT(get("/metrics", NULL, NULL, NULL).status, 200);
	r = get("/debug/pprof/heap", NULL, NULL, NULL);
	CHECK_INT(r.status, 404);
	plain = false;
	{
		int saved = port;

		port = pg_http_port(h2);
		CHECK_INT(get("/debug/pprof/heap", "admin", NULL, NULL).status, 200);
		port = saved;
	}
	/* pg_http_stop releases the process-wide TLS credentials: install
	 * them again for the main server. */
	pg_http_stop(&h2);
	CHECK_INT(pg_http_reload_tls(http), PG_OK);
	d.cert_file[0] = '\0';
	{
		struct pg_gate *g2 = NULL;

		CHECK(pg_gate_new(&d, NULL, &g2) != PG_OK);
		CHECK_CONTAINS(pg_errmsg(), "diagnostics.plain_listen");
		pg_err_clear();
	}
}

/* Misconfigurations name the key to set. */
static void test_config_errors(void)
{
	struct pg_config_diag d = diag;
	struct pg_gate *g2 = NULL;

	d.client_identities[0] = '\0';
	CHECK(pg_gate_new(&d, NULL, &g2) != PG_OK);
	CHECK_CONTAINS(pg_errmsg(), "diagnostics.client_identities");
	d = diag;
	d.n_jwt_keys = 0;
	CHECK(pg_gate_new(&d, NULL, &g2) != PG_OK);
	CHECK_CONTAINS(pg_errmsg(), "diagnostics.jwt.keys");
	d = diag;
	snprintf(d.pprof.auth, sizeof(d.pprof.auth), "basic");
	CHECK(pg_gate_new(&d, NULL, &g2) != PG_OK);
	CHECK_CONTAINS(pg_errmsg(), "diagnostics.groups.pprof.auth");
	d = diag;
	chmod(P("jwt-hs256.secret"), 0640);
	CHECK(pg_gate_new(&d, NULL, &g2) != PG_OK);
	CHECK_CONTAINS(pg_errmsg(), "chmod 600");
	chmod(P("jwt-hs256.secret"), 0600);
	d = diag;
	snprintf(d.client_identities, sizeof(d.client_identities), "uri:spiffe://x pprof:nothing");
	CHECK(pg_gate_new(&d, NULL, &g2) != PG_OK);
	CHECK_CONTAINS(pg_errmsg(), "no known scope");
	CHECK(g2 == NULL);
	pg_err_clear();
}

static void test_audit(void)
{
	size_t len = 0;
	char *a;

	/* A target with UTF-8 (e-acute) then a byte that is not (libcurl
	 * would percent-encode both, so straight to the audit hook): the
	 * first stays as is, the second is written as its value, \u00ff. */
	const struct pg_http_done_info bytes = {
		.method = "GET", .path = "/debug/pprof/\xc3\xa9\xff", .path_len = 16, .route = "other",
		.peer = "127.0.0.1", .status = 400, .note = "", .reason = "bad_path"};

	pg_gate_audit(gate, &bytes);
	/* Lines are queued when libmicrohttpd completes a request, just
	 * after the client has its answer, then written by the audit writer. */
	usleep(200 * 1000);
	CHECK_INT(pg_audit_flush(audit, 2000), PG_OK);
	a = slurp(P("audit.log"), &len);
	struct stat st;
	size_t lines = 0;
	struct pg_audit_verify_result vr;

	CHECK(a != NULL);
	if (!a)
		return;
	for (size_t i = 0; i < len; i++)
		lines += a[i] == '\n';
	/* Every gated or refused diagnostics request above left a line. */
	CHECK(lines >= 29);
	if (lines < 29)
		fprintf(stderr, "%zu audit lines:\n%s", lines, a);
	CHECK_CONTAINS(a, "\"reason\":\"cert_expired\"");
	CHECK_CONTAINS(a, "\"reason\":\"token_expired\"");
	CHECK_CONTAINS(a, "\"reason\":\"bad_path\"");
	CHECK_CONTAINS(a, "\"identity\":\"uri:spiffe://pprofgate.local/admin\"");
	CHECK_CONTAINS(a, "\"status\":401");
	CHECK_CONTAINS(a, "\"path\":\"/debug/pprof/\\\"q\\\\\"");
	CHECK_CONTAINS(a, "\"path\":\"/debug/pprof/\xc3\xa9\\u00ff\"");
	CHECK(strstr(a, "eyJ") == NULL); /* no token (base64url JSON) ever */
	CHECK(strstr(a, "Bearer") == NULL);
	CHECK(stat(P("audit.log"), &st) == 0 && (st.st_mode & 0777) == 0600);
	/* Every line chained, the last one the writer's. */
	CHECK_INT(pg_audit_verify(a, len, NULL, 0, NULL, &vr), PG_OK);
	CHECK_INT(vr.verdict, PG_AUDIT_OK);
	CHECK_INT(vr.lines, lines);
	CHECK(vr.last_seq == pg_audit_last_seq(audit));
	free(a);
}

/* No room in the audit queue: diagnostics requests are refused (503
 * audit_unavailable) before anything else, and served again once there is. */
static void test_audit_unavailable(void)
{
	struct pg_audit_opts ao = {.path = P("audit-small.log"), .queue_lines = 16, .sync_ms = 0};
	struct pg_audit *small = NULL;
	struct pg_audit_verify_result vr;
	struct resp r;
	size_t len = 0;
	char *a;
	int held = 0;

	CHECK_INT(pg_audit_new(&ao, &small), PG_OK);
	if (!small)
		return;
	pg_gate_set_audit(gate, small);
	while (pg_audit_reserve(small) == PG_OK)
		held++;
	pg_err_clear();
	CHECK_INT(held, 16);
	r = get("/debug/pprof/heap", NULL, NULL, NULL);
	CHECK_INT(r.status, 503);
	CHECK_CONTAINS(r.body, "\"reason\":\"audit_unavailable\"");
	/* Public routes do not wait for the audit log. */
	CHECK_INT(get("/healthz", NULL, NULL, NULL).status, 200);
	for (; held > 0; held--)
		CHECK_INT(pg_audit_submit(small, true, "\"event\":\"test\"", 14), PG_OK);
	/* Queued lines hold their slots until written. */
	CHECK_INT(pg_audit_flush(small, 2000), PG_OK);
	r = get("/debug/pprof/heap", NULL, NULL, NULL);
	CHECK_INT(r.status, 401);
	usleep(200 * 1000);
	CHECK_INT(pg_audit_flush(small, 2000), PG_OK);
	pg_gate_set_audit(gate, audit);
	a = slurp(P("audit-small.log"), &len);
	CHECK(a != NULL);
	if (a) {
		CHECK_CONTAINS(a, "\"reason\":\"credentials_missing\"");
		CHECK_INT(pg_audit_verify(a, len, NULL, 0, NULL, &vr), PG_OK);
		CHECK_INT(vr.verdict, PG_AUDIT_OK);
		CHECK_INT(vr.lines, 1 + 16 + 1);
	}
	free(a);
	pg_audit_free(&small);
}

static void test_exposure_and_key_mode(void)
{
	struct pg_config_diag d;
	struct pg_http_opts o = {TEST_ROUTES, .listen = "127.0.0.1:0", .tls_cert_file = P("server.crt"),
				 .tls_key_file = P("server.key")};
	struct pg_http *h2 = NULL;

	memset(&d, 0, sizeof(d));
	CHECK_INT(pg_gate_check_exposure("127.0.0.1:9090", &d), PG_OK);
	CHECK_INT(pg_gate_check_exposure("0.0.0.0:9090", &d), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "diagnostics.groups.pprof.auth");
	CHECK_INT(pg_gate_check_exposure("0.0.0.0:9090", &diag), PG_OK);
	CHECK_INT(pg_gate_check_exposure("[::]:9090", &d), PG_EINVAL);
	pg_err_clear();
	chmod(P("server.key"), 0644);
	CHECK_INT(pg_http_start(&o, &h2), PG_EDENIED);
	CHECK_CONTAINS(pg_errmsg(), "chmod 600");
	pg_err_clear();
	chmod(P("server.key"), 0600);
	/* TLS reload with a broken key keeps the old certificate. */
	CHECK_INT(pg_http_reload_tls(http), PG_OK);
	{
		struct pg_http_opts o2 = o;
		struct pg_http *h3 = NULL;

		o2.tls_key_file = P("admin.key"); /* does not match server.crt */
		CHECK(pg_http_start(&o2, &h3) != PG_OK);
		CHECK_CONTAINS(pg_errmsg(), "server.crt");
		pg_err_clear();
	}
	CHECK_INT(get("/debug/pprof/heap", "admin", NULL, NULL).status, 200);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (setup() != 0) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	RUN(test_open_routes);
	RUN(test_no_credentials);
	RUN(test_client_certs);
	RUN(test_tokens);
	RUN(test_paths);
	RUN(test_allowlist_and_reload);
	RUN(test_exposure_and_key_mode);
	RUN(test_mtls_only);
	RUN(test_chain_once_per_session);
	RUN(test_window);
	RUN(test_plain_http);
	RUN(test_plain_listener);
	RUN(test_config_errors);
	RUN(test_audit);
	RUN(test_audit_unavailable);
	pg_http_stop(&http);
	pg_gate_free(&gate);
	pg_audit_free(&audit);
	curl_global_cleanup();
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	TEST_END();
}
