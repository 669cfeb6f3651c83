/* HTTP server: routes, errors, path rejection, readiness, suspend/resume,
 * the pprof gate, bodies, streams and graceful stop, driven over loopback
 * with libcurl and raw sockets.
 *
 * server.c is compiled into this file (its layout checks are tested
 * directly); the test routes (a slow, suspending handler, a POST echo, a
 * stream, a gated route) are registered through opts.routes like any
 * caller's. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "src/http/server.h"

static void t_slow(struct pg_http_req *r, void *arg);
static void t_echo(struct pg_http_req *r, void *arg);
static void t_stream(struct pg_http_req *r, void *arg);
static void t_secret(struct pg_http_req *r, void *arg);
static void t_silent(struct pg_http_req *r, void *arg);
static void t_shared(struct pg_http_req *r, void *arg);
static void t_relay(struct pg_http_req *r, void *arg);

#include "src/http/server.c"
#include "tests/unit/test.h"

/* ---- test handlers ---- */

struct slow_job {
	struct pg_http_req *r;
	unsigned delay_ms;
	int reply_rc;
};

static struct slow_job last_job;
static pthread_t last_job_thread;
static bool have_job_thread;

static void *slow_worker(void *arg)
{
	struct slow_job *j = arg;

	sleep_ms(j->delay_ms);
	j->reply_rc = pg_http_reply_text(j->r, 200, "text/plain", "slow done");
	return NULL;
}

/* Suspends, then answers from another thread after ?ms=N milliseconds. */
static void t_slow(struct pg_http_req *r, void *arg)
{
	const char *ms = pg_http_req_query(r, "ms");

	(void)arg;
	last_job.r = r;
	last_job.delay_ms = ms ? (unsigned)strtoul(ms, NULL, 10) : 50;
	last_job.reply_rc = 1;
	pg_http_suspend(r);
	have_job_thread = pthread_create(&last_job_thread, NULL, slow_worker, &last_job) == 0;
	if (!have_job_thread)
		pg_http_reply_text(r, 500, "text/plain", "no thread");
}

/* Joins what pg_http_req_*_each hands over as "name=value;" into a pg_buf. */
static bool join_each(void *arg, const char *name, const char *value)
{
	return pg_buf_printf(arg, "%s=%s;", name, value ? value : "(null)") == PG_OK;
}

static bool stop_each(void *arg, const char *name, const char *value)
{
	(void)name;
	(void)value;
	++*(int *)arg;
	return false;
}

static void t_echo(struct pg_http_req *r, void *arg)
{
	size_t len;
	const void *body = pg_http_req_body(r, &len);
	char peer[64];
	struct pg_buf each;
	int calls = 0;

	(void)arg;
	pg_buf_init(&each, 4096);
	CHECK(pg_http_req_query_each(r, join_each, &each));
	if (each.len)
		CHECK_INT(pg_http_add_header(r, "X-Args", each.data), PG_OK);
	pg_buf_reset(&each);
	/* the header name matches case-insensitively */
	CHECK(pg_http_req_header_each(r, "HOST", join_each, &each));
	CHECK_CONTAINS(each.data, "127.0.0.1");
	CHECK(!pg_http_req_header_each(r, NULL, stop_each, &calls));
	CHECK_INT(calls, 1);
	pg_buf_free(&each);
	pg_http_req_peer_str(r, peer, sizeof(peer));
	CHECK_INT(pg_http_add_header(r, "X-Peer", peer), PG_OK);
	if (pg_http_req_query(r, "name"))
		CHECK_INT(pg_http_add_header(r, "X-Name", pg_http_req_query(r, "name")), PG_OK);
	CHECK(pg_http_req_query(r, "absent") == NULL);
	CHECK_STR(pg_http_req_method(r), "POST");
	CHECK_STR(pg_http_req_path(r), "/test/echo");
	CHECK_INT(pg_http_add_header(r, "X-Empty", ""), PG_EINVAL);
	CHECK_INT(pg_http_add_header(r, "X-Split", "a\r\nSet-Cookie: x"), PG_EINVAL);
	CHECK_INT(pg_http_add_header(r, "Bad:Name", "v"), PG_EINVAL);
	pg_http_reply(r, 200, "application/octet-stream", body, len);
}

static ssize_t count_stream(void *arg, unsigned long long pos, char *buf, size_t max)
{
	int *chunks = arg;

	(void)pos;
	if (*chunks == 0 || max < 6)
		return 0;
	(*chunks)--;
	memcpy(buf, "chunk\n", 6);
	return 6;
}

static void t_stream(struct pg_http_req *r, void *arg)
{
	int *chunks = malloc(sizeof(*chunks));

	(void)arg;
	if (chunks)
		*chunks = 3;
	pg_http_reply_stream(r, 200, "text/plain", count_stream, chunks, free);
}

static const char shared_body[] = "shared bytes";
static atomic_int shared_released;
static void release_shared(void *arg)
{
	CHECK(arg == shared_body);
	atomic_fetch_add(&shared_released, 1);
}

static void t_shared(struct pg_http_req *r, void *arg)
{
	(void)arg;
	pg_http_reply_shared(r, 200, "text/plain", shared_body, strlen(shared_body), release_shared,
			     (void *)shared_body);
}

static int secret_calls;
static void t_secret(struct pg_http_req *r, void *arg)
{
	(void)arg;
	secret_calls++;
	pg_http_reply_text(r, 200, "text/plain", "secret");
}

static void t_silent(struct pg_http_req *r, void *arg)
{
	(void)r;
	(void)arg;
}

/* A body relayed from a producer thread (pg_http_reply_stream_wake): ?n=N
 * parts, one every 60 ms; n=0 never ends. */
static struct relay {
	pthread_mutex_t mu;
	char data[256];
	size_t len, off;
	int parts;
	bool done;
	struct pg_http_stream *s;
	pthread_t th;
	bool started;
} relay = {.mu = PTHREAD_MUTEX_INITIALIZER};

static ssize_t relay_read(void *arg, unsigned long long pos, char *buf, size_t max)
{
	struct relay *rl = arg;
	ssize_t n;

	(void)pos;
	pthread_mutex_lock(&rl->mu);
	if (rl->off < rl->len) {
		n = (ssize_t)(rl->len - rl->off < max ? rl->len - rl->off : max);
		memcpy(buf, rl->data + rl->off, (size_t)n);
		rl->off += (size_t)n;
	} else {
		n = rl->done ? 0 : PG_HTTP_STREAM_WAIT;
	}
	pthread_mutex_unlock(&rl->mu);
	return n;
}

static void *relay_main(void *arg)
{
	struct relay *rl = arg;

	for (int i = 0; i < rl->parts; i++) {
		sleep_ms(60);
		pthread_mutex_lock(&rl->mu);
		memcpy(rl->data + rl->len, "part\n", 5);
		rl->len += 5;
		pthread_mutex_unlock(&rl->mu);
		pg_http_stream_wake(rl->s);
	}
	if (rl->parts > 0) {
		pthread_mutex_lock(&rl->mu);
		rl->done = true;
		pthread_mutex_unlock(&rl->mu);
		pg_http_stream_wake(rl->s);
	}
	return NULL;
}

static void t_relay(struct pg_http_req *r, void *arg)
{
	const char *n = pg_http_req_query(r, "n");

	(void)arg;
	relay.len = relay.off = 0;
	relay.done = false;
	relay.parts = n ? (int)strtol(n, NULL, 10) : 3;
	CHECK_INT(pg_http_reply_stream_wake(r, 200, "text/plain", relay_read, &relay, NULL, &relay.s), PG_OK);
	relay.started = pthread_create(&relay.th, NULL, relay_main, &relay) == 0;
}

static void relay_join(void)
{
	if (relay.started)
		pthread_join(relay.th, NULL);
	relay.started = false;
	pg_http_stream_release(&relay.s);
}

static const struct pg_http_route test_routes[] = {
	{"/test/slow", PG_HTTP_GET, t_slow, NULL, PG_HTTP_GROUP_PUBLIC},
	{"/test/echo", PG_HTTP_POST, t_echo, NULL, PG_HTTP_GROUP_PUBLIC},
	{"/test/stream", PG_HTTP_GET, t_stream, NULL, PG_HTTP_GROUP_PUBLIC},
	{"/test/silent", PG_HTTP_GET, t_silent, NULL, PG_HTTP_GROUP_PUBLIC},
	{"/test/shared", PG_HTTP_GET, t_shared, NULL, PG_HTTP_GROUP_PUBLIC},
	{"/test/relay", PG_HTTP_GET, t_relay, NULL, PG_HTTP_GROUP_PUBLIC},
	{"/debug/pprof/test", PG_HTTP_GET | PG_HTTP_POST, t_secret, NULL, PG_HTTP_GROUP_PPROF},
};

/* Zeroed options serving test_routes. */
static void opts_init(struct pg_http_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->routes = test_routes;
	o->n_routes = sizeof(test_routes) / sizeof(test_routes[0]);
}

/* ---- client helpers ---- */

struct resp {
	long code;
	struct pg_buf body;
	struct pg_buf hdrs;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	return pg_buf_append(arg, p, sz * n) == PG_OK ? sz * n : 0;
}

static void resp_free(struct resp *r)
{
	pg_buf_free(&r->body);
	pg_buf_free(&r->hdrs);
}

/* One request with libcurl; method NULL = GET. Returns the status or -1. */
static long fetch(int port, const char *method, const char *path, const char *hdr, const char *post,
		  struct resp *out)
{
	char url[1024];
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	CURLcode cc;

	memset(out, 0, sizeof(*out));
	pg_buf_init(&out->body, 1 << 22);
	pg_buf_init(&out->hdrs, 1 << 16);
	out->code = -1;
	if (!c)
		return -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->hdrs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	if (method && strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (method)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (post) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
	}
	if (hdr && strcmp(hdr, "gzip") == 0)
		curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
	else if (hdr)
		hl = curl_slist_append(hl, hdr);
	if (hl)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->code);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return out->code;
}

/* Sends n bytes verbatim; waits up to wait_s for the answer's status. */
static int raw_status_n(int port, const char *req, size_t n, int wait_s)
{
	struct sockaddr_in a;
	char buf[512];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), status = 0;
	struct timeval tv = {wait_s, 0};

	if (fd < 0)
		return 0;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && send(fd, req, n, MSG_NOSIGNAL) == (ssize_t)n) {
		ssize_t k;

		while (got + 1 < sizeof(buf) && (k = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
			got += (size_t)k;
		buf[got] = '\0';
		if (strncmp(buf, "HTTP/1.1 ", 9) == 0)
			status = (int)strtol(buf + 9, NULL, 10);
	}
	close(fd);
	return status;
}

/* Sends `req` verbatim and returns the status of the answer (0 if none). */
static int raw_status(int port, const char *req)
{
	return raw_status_n(port, req, strlen(req), 5);
}

static int raw_get(int port, const char *target)
{
	char req[1024];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target);
	return raw_status(port, req);
}

static struct pg_http *start(struct pg_metrics *m, unsigned threads)
{
	struct pg_http_opts o;
	struct pg_http *h = NULL;

	opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.metrics = m;
	o.threads = threads;
	o.max_body = 1024;
	o.metrics_cache_ms = -1; /* every scrape renders: tests see fresh counts */
	if (pg_http_start(&o, &h) != PG_OK)
		fprintf(stderr, "start: %s\n", pg_errmsg());
	return h;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- tests ---- */

static void test_parse_addr(void)
{
	struct sockaddr_storage ss;
	socklen_t len;

	CHECK_INT(pg_http_parse_addr("127.0.0.1:9090", &ss, &len), PG_OK);
	CHECK_INT(ss.ss_family, AF_INET);
	CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9090);
	CHECK_INT(pg_http_parse_addr("localhost:0", &ss, &len), PG_OK);
	CHECK_INT(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	CHECK_INT(pg_http_parse_addr("[::1]:65535", &ss, &len), PG_OK);
	CHECK_INT(ss.ss_family, AF_INET6);
	CHECK_INT(pg_http_parse_addr("0.0.0.0:1", &ss, &len), PG_OK);

	static const char *const bad[] = {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
					  "127.0.0.1:+5", "127.0.0.1:80x", "::1:80", "[::1]80", "[::1]",
					  "[127.0.0.1]:80", "example.com:80", ":80", "[]:80", "1.2.3:80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = pg_http_parse_addr(bad[i], &ss, &len);

		if (rc != PG_EINVAL)
			fprintf(stderr, "accepted \"%s\"\n", bad[i]);
		CHECK_INT(rc, PG_EINVAL);
	}
	CHECK_INT(pg_http_parse_addr(NULL, &ss, &len), PG_EINVAL);
}

static void test_start_and_bind_failure(void)
{
	struct pg_http *h = start(NULL, 0), *h2 = NULL;
	struct pg_http_opts o;
	char addr[64];

	CHECK(h != NULL);
	CHECK(pg_http_port(h) > 0);
	opts_init(&o);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", pg_http_port(h));
	o.listen = addr;
	CHECK_INT(pg_http_start(&o, &h2), PG_ENET);
	CHECK(h2 == NULL);
	CHECK_CONTAINS(pg_errmsg(), addr);
	CHECK_CONTAINS(pg_errmsg(), "in use");
	o.listen = "nonsense";
	CHECK_INT(pg_http_start(&o, &h2), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "nonsense");
	/* the route table: a path answered twice, a relative path, too many */
	{
		struct pg_http_route bad[PG_HTTP_MAX_ROUTES + 1];

		for (size_t i = 0; i < PG_HTTP_MAX_ROUTES + 1; i++)
			bad[i] = test_routes[0];
		o.listen = "127.0.0.1:0";
		o.routes = bad;
		o.n_routes = 1;
		bad[0].path = "/healthz";
		CHECK_INT(pg_http_start(&o, &h2), PG_EINVAL);
		CHECK_CONTAINS(pg_errmsg(), "/healthz given twice");
		bad[0].path = "test/slow";
		CHECK_INT(pg_http_start(&o, &h2), PG_EINVAL);
		o.n_routes = PG_HTTP_MAX_ROUTES + 1;
		CHECK_INT(pg_http_start(&o, &h2), PG_EINVAL);
		CHECK(h2 == NULL);
	}
	pg_http_stop(&h);
	CHECK(h == NULL);
	pg_http_stop(&h); /* NULL is fine */
	pg_http_stop(NULL);
}

static void test_ipv6_listen(void)
{
	struct pg_http_opts o;
	struct pg_http *h = NULL;
	int s6 = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a;

	if (s6 < 0)
		return; /* no IPv6 in this sandbox */
	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	a.sin6_addr = in6addr_loopback;
	if (bind(s6, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(s6);
		return;
	}
	close(s6);
	opts_init(&o);
	o.listen = "[::1]:0";
	CHECK_INT(pg_http_start(&o, &h), PG_OK);
	CHECK(pg_http_port(h) > 0);
	pg_http_stop(&h);
}

static void test_healthz(void)
{
	struct pg_http *h = start(NULL, 0);
	struct resp r;

	CHECK_INT(fetch(pg_http_port(h), NULL, "/healthz", NULL, NULL, &r), 200);
	CHECK_STR(r.body.data, "{\"status\":\"ok\"}\n");
	CHECK_CONTAINS(r.hdrs.data, "Content-Type: application/json");
	resp_free(&r);
	CHECK_INT(fetch(pg_http_port(h), "HEAD", "/healthz", NULL, NULL, &r), 200);
	CHECK(r.body.len == 0);
	CHECK_CONTAINS(r.hdrs.data, "Content-Length: 16");
	resp_free(&r);
	pg_http_stop(&h);
}

static void test_metrics(void)
{
	struct pg_metrics *m = NULL;
	struct pg_family *f;
	struct pg_http *h;
	struct resp r;

	CHECK_INT(pg_metrics_new(&m), PG_OK);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_COUNTER, "test_things_total", "Things.", NULL, 0, NULL, 0, &f),
		  PG_OK);
	pg_series_add(pg_family_series(f, NULL), 42);
	h = start(m, 0);
	CHECK_INT(fetch(pg_http_port(h), NULL, "/metrics", NULL, NULL, &r), 200);
	CHECK_CONTAINS(r.body.data, "\ntest_things_total 42\n");
	CHECK_CONTAINS(r.hdrs.data, "Content-Type: text/plain; version=0.0.4; charset=utf-8");
	CHECK(!strstr(r.hdrs.data, "Content-Encoding"));
	resp_free(&r);
	/* gzip when asked (curl decodes it; the header proves it was used) */
	CHECK_INT(fetch(pg_http_port(h), NULL, "/metrics", "gzip", NULL, &r), 200);
	CHECK_CONTAINS(r.hdrs.data, "Content-Encoding: gzip");
	CHECK_CONTAINS(r.body.data, "\ntest_things_total 42\n");
	resp_free(&r);
	/* q=0 refuses gzip */
	CHECK_INT(fetch(pg_http_port(h), NULL, "/metrics", "Accept-Encoding: gzip;q=0, identity", NULL, &r), 200);
	CHECK(!strstr(r.hdrs.data, "Content-Encoding"));
	resp_free(&r);
	CHECK_INT(fetch(pg_http_port(h), "HEAD", "/metrics", NULL, NULL, &r), 200);
	CHECK(r.body.len == 0);
	resp_free(&r);
	/* the HTTP metrics count what was served so far */
	CHECK_INT(fetch(pg_http_port(h), NULL, "/nope", NULL, NULL, &r), 404);
	resp_free(&r);
	CHECK_INT(fetch(pg_http_port(h), NULL, "/metrics", NULL, NULL, &r), 200);
	CHECK_CONTAINS(r.body.data, "pprofgate_http_requests_total{route=\"/metrics\",code=\"200\"} 4\n");
	CHECK_CONTAINS(r.body.data, "pprofgate_http_requests_total{route=\"other\",code=\"404\"} 1\n");
	CHECK_CONTAINS(r.body.data, "pprofgate_http_request_duration_seconds_count{route=\"/metrics\"} 4\n");
	CHECK_CONTAINS(r.body.data, "# TYPE pprofgate_http_request_duration_seconds histogram\n");
	resp_free(&r);
	pg_http_stop(&h);
	pg_metrics_free(&m);
}

static void test_metrics_shared_window(void)
{
	struct pg_metrics *m = NULL;
	struct pg_family *f;
	struct pg_series *c;
	struct pg_http_opts o;
	struct pg_http *h = NULL;
	struct resp r;

	CHECK_INT(pg_metrics_new(&m), PG_OK);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_COUNTER, "test_things_total", "Things.", NULL, 0, NULL, 0, &f),
		  PG_OK);
	c = pg_family_series(f, NULL);
	opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.metrics = m;
	o.metrics_cache_ms = 300;
	CHECK_INT(pg_http_start(&o, &h), PG_OK);
	pg_series_add(c, 1);
	CHECK_INT(fetch(pg_http_port(h), NULL, "/metrics", NULL, NULL, &r), 200);
	CHECK_CONTAINS(r.body.data, "\ntest_things_total 1\n");
	resp_free(&r);
	/* within the window: the same rendering, plain and gzipped */
	pg_series_add(c, 1);
	CHECK_INT(fetch(pg_http_port(h), NULL, "/metrics", NULL, NULL, &r), 200);
	CHECK_CONTAINS(r.body.data, "\ntest_things_total 1\n");
	resp_free(&r);
	CHECK_INT(fetch(pg_http_port(h), NULL, "/metrics", "gzip", NULL, &r), 200);
	CHECK_CONTAINS(r.hdrs.data, "Content-Encoding: gzip");
	CHECK_CONTAINS(r.body.data, "\ntest_things_total 1\n");
	resp_free(&r);
	/* after it: a fresh one */
	sleep_ms(350);
	CHECK_INT(fetch(pg_http_port(h), NULL, "/metrics", "gzip", NULL, &r), 200);
	CHECK_CONTAINS(r.body.data, "\ntest_things_total 2\n");
	resp_free(&r);
	pg_http_stop(&h);
	pg_metrics_free(&m);
}

static bool ready_val;
static bool ready_fn(void *arg, char *reason, size_t n)
{
	CHECK(arg == &ready_val);
	if (!ready_val)
		snprintf(reason, n, "etcd \"down\"");
	return ready_val;
}

static void test_ready(void)
{
	struct pg_http *h = start(NULL, 0);
	struct resp r;

	CHECK_INT(fetch(pg_http_port(h), NULL, "/ready", NULL, NULL, &r), 503);
	CHECK_STR(r.body.data, "{\"status\":\"not ready\",\"reason\":\"starting\"}\n");
	resp_free(&r);
	ready_val = false;
	pg_http_set_ready_fn(h, ready_fn, &ready_val);
	CHECK_INT(fetch(pg_http_port(h), NULL, "/ready", NULL, NULL, &r), 503);
	CHECK_STR(r.body.data, "{\"status\":\"not ready\",\"reason\":\"etcd \\\"down\\\"\"}\n");
	resp_free(&r);
	ready_val = true;
	CHECK_INT(fetch(pg_http_port(h), NULL, "/ready", NULL, NULL, &r), 200);
	CHECK_STR(r.body.data, "{\"status\":\"ready\"}\n");
	CHECK_CONTAINS(r.hdrs.data, "Content-Type: application/json");
	resp_free(&r);
	pg_http_stop(&h);
}

static void test_not_found_and_method(void)
{
	struct pg_http *h = start(NULL, 0);
	struct resp r;

	CHECK_INT(fetch(pg_http_port(h), NULL, "/nope", NULL, NULL, &r), 404);
	CHECK_STR(r.body.data, "{\"status\":\"error\",\"error\":\"not found\"}\n");
	CHECK_CONTAINS(r.hdrs.data, "Content-Type: application/json");
	resp_free(&r);
	CHECK_INT(fetch(pg_http_port(h), "POST", "/metrics", NULL, "x=1", &r), 405);
	CHECK_CONTAINS(r.hdrs.data, "Allow: GET, HEAD\r\n");
	CHECK_CONTAINS(r.body.data, "method not allowed");
	resp_free(&r);
	CHECK_INT(fetch(pg_http_port(h), "DELETE", "/healthz", NULL, NULL, &r), 405);
	resp_free(&r);
	CHECK_INT(fetch(pg_http_port(h), NULL, "/test/echo", NULL, NULL, &r), 405);
	CHECK_CONTAINS(r.hdrs.data, "Allow: POST\r\n");
	resp_free(&r);
	/* HEAD is implied by GET (the /test/stream route lists only GET) */
	CHECK_INT(fetch(pg_http_port(h), "HEAD", "/test/stream", NULL, NULL, &r), 200);
	CHECK(r.body.len == 0);
	resp_free(&r);
	CHECK_INT(fetch(pg_http_port(h), "PUT", "/test/stream", NULL, NULL, &r), 405);
	CHECK_CONTAINS(r.hdrs.data, "Allow: GET, HEAD\r\n");
	resp_free(&r);
	/* methods are case-sensitive (RFC 9110 section 9.1) */
	CHECK_INT(fetch(pg_http_port(h), "get", "/healthz", NULL, NULL, &r), 405);
	resp_free(&r);
	/* a handler that neither answers nor suspends gets a 500 */
	CHECK_INT(fetch(pg_http_port(h), NULL, "/test/silent", NULL, NULL, &r), 500);
	resp_free(&r);
	pg_http_stop(&h);
}

static void test_path_rejection(void)
{
	struct pg_http *h = start(NULL, 0);
	int port = pg_http_port(h);
	static const char *const bad[] = {"/%2e%2e/metrics", "/%2E%2E/healthz", "//metrics", "/./metrics",
					  "/x/../metrics", "/metrics/.", "/metrics/..", "/metrics;x",
					  "/metrics%00", "/metrics%2f", "/debug%2fpprof/test", "/debug/pprof/./test",
					  "/debug//pprof/test", "/metrics#x", "/healthz\\", "http://x/metrics", "*"};

	CHECK_INT(raw_get(port, "/metrics"), 200);
	CHECK_INT(raw_get(port, "/metrics?a=b&c"), 200);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = raw_get(port, bad[i]);

		if (st != 400)
			fprintf(stderr, "%s -> %d\n", bad[i], st);
		CHECK_INT(st, 400);
	}
	{
		char longp[PG_HTTP_PATH_MAX + 16];

		memset(longp, 'a', sizeof(longp) - 1);
		longp[0] = '/';
		longp[sizeof(longp) - 1] = '\0';
		CHECK_INT(raw_get(port, longp), 414);
	}
	/* Canonical but unknown spellings are plain 404s. */
	CHECK_INT(raw_get(port, "/METRICS"), 404);
	CHECK_INT(raw_get(port, "/metrics/"), 404);
	CHECK_INT(raw_get(port, "/metricsx"), 404);
	CHECK_INT(raw_get(port, "/debug/pprof"), 404);
	CHECK_INT(secret_calls, 0);
	pg_http_stop(&h);
}

static bool gate_allow;
static int gate_calls;
static bool gate(struct pg_http_req *r, void *arg)
{
	CHECK(arg == &gate_allow);
	gate_calls++;
	if (!gate_allow)
		pg_http_reply_error(r, 401, "no token");
	return gate_allow;
}

static void test_pprof_gate(void)
{
	struct pg_http_opts o;
	struct pg_http *h = start(NULL, 0);
	struct resp r;

	/* No gate configured: pprof routes fail closed. */
	secret_calls = 0;
	CHECK_INT(fetch(pg_http_port(h), NULL, "/debug/pprof/test", NULL, NULL, &r), 403);
	resp_free(&r);
	CHECK_INT(secret_calls, 0);
	pg_http_stop(&h);

	opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.gate = gate;
	o.gate_arg = &gate_allow;
	CHECK_INT(pg_http_start(&o, &h), PG_OK);
	gate_allow = false;
	CHECK_INT(fetch(pg_http_port(h), NULL, "/debug/pprof/test", NULL, NULL, &r), 401);
	CHECK_CONTAINS(r.body.data, "no token");
	resp_free(&r);
	CHECK_INT(fetch(pg_http_port(h), "POST", "/debug/pprof/test", NULL, "0x1", &r), 401);
	resp_free(&r);
	CHECK_INT(secret_calls, 0);
	gate_allow = true;
	CHECK_INT(fetch(pg_http_port(h), NULL, "/debug/pprof/test", NULL, NULL, &r), 200);
	CHECK_STR(r.body.data, "secret");
	resp_free(&r);
	CHECK_INT(secret_calls, 1);
	/* the gate does not run for public routes */
	gate_calls = 0;
	CHECK_INT(fetch(pg_http_port(h), NULL, "/healthz", NULL, NULL, &r), 200);
	resp_free(&r);
	CHECK_INT(gate_calls, 0);
	pg_http_stop(&h);
}

/* ---- the audit hook: every refusal, once ---- */

#define MAX_SEEN 16
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct seen {
	char method[8], path[64], reason[32];
	size_t path_len;
	unsigned status;
} seen[MAX_SEEN];
static int n_seen;

static void on_done(void *arg, const struct pg_http_done_info *info)
{
	(void)arg;
	pthread_mutex_lock(&seen_lock);
	if (n_seen < MAX_SEEN) {
		struct seen *e = &seen[n_seen];

		snprintf(e->method, sizeof(e->method), "%s", info->method);
		e->path_len = info->path_len < sizeof(e->path) ? info->path_len : sizeof(e->path) - 1;
		memcpy(e->path, info->path, e->path_len);
		e->path[e->path_len] = '\0';
		snprintf(e->reason, sizeof(e->reason), "%s", info->reason);
		e->status = info->status;
	}
	n_seen++;
	pthread_mutex_unlock(&seen_lock);
}

/* Waits (2 s at most) for `want` reports; returns how many came. */
static int wait_seen(int want)
{
	int n = 0;

	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&seen_lock);
		n = n_seen;
		pthread_mutex_unlock(&seen_lock);
		if (n >= want)
			break;
		usleep(10000);
	}
	usleep(50000); /* a second report would come by now */
	pthread_mutex_lock(&seen_lock);
	n = n_seen;
	pthread_mutex_unlock(&seen_lock);
	return n;
}

static void test_audit_every_refusal(void)
{
	static const char nul_target[] = "GET /metrics\0.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	static const char nul_value[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\0b\r\n"
					"Connection: close\r\n\r\n";
	static const char two_auth[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n"
				       "Authorization: Bearer b\r\nConnection: close\r\n\r\n";
	static const char stalled[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
	struct pg_http_opts o;
	struct pg_http *h = NULL;
	struct pg_buf big;
	int port;

	opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.done = on_done;
	o.timeout_s = 1;
	CHECK_INT(pg_http_start(&o, &h), PG_OK);
	port = pg_http_port(h);
	n_seen = 0;

	/* A successful public request is not reported (audit_public_success off). */
	CHECK_INT(raw_get(port, "/healthz"), 200);
	CHECK_INT(wait_seen(1), 0);

	CHECK_INT(raw_status_n(port, nul_target, sizeof(nul_target) - 1, 5), 400);
	CHECK_INT(wait_seen(1), 1);
	CHECK_STR(seen[0].reason, "ctl_in_request_line");
	CHECK_INT(seen[0].path_len, 13);
	CHECK(memcmp(seen[0].path, "/metrics\0.css", 13) == 0);
	CHECK_STR(seen[0].method, "GET");

	CHECK_INT(raw_status_n(port, nul_value, sizeof(nul_value) - 1, 5), 400);
	CHECK_INT(wait_seen(2), 2);
	CHECK_STR(seen[1].reason, "ctl_in_header");

	CHECK_INT(raw_status_n(port, two_auth, sizeof(two_auth) - 1, 5), 400);
	CHECK_INT(wait_seen(3), 3);
	CHECK_STR(seen[2].reason, "duplicate_authorization");

	CHECK_INT(raw_get(port, "/nope"), 404);
	CHECK_INT(wait_seen(4), 4);
	CHECK_STR(seen[3].reason, "not_found");

	/* libmicrohttpd's own 431: reported with its status, before any handler. */
	pg_buf_init(&big, 1 << 20);
	CHECK_INT(pg_buf_puts(&big, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "), PG_OK);
	for (int i = 0; i < 40000; i++)
		CHECK_INT(pg_buf_puts(&big, "a"), PG_OK);
	CHECK_INT(pg_buf_puts(&big, "\r\n\r\n"), PG_OK);
	CHECK_INT(raw_status_n(port, big.data, big.len, 5), 431);
	pg_buf_free(&big);
	CHECK_INT(wait_seen(5), 5);
	CHECK_INT(seen[4].status, 431);
	CHECK_STR(seen[4].reason, "header_too_large");
	CHECK_STR(seen[4].method, "-");
	CHECK_STR(seen[4].path, "/healthz");

	/* Headers that never finish: the connection timeout (1 s) ends it. */
	CHECK_INT(raw_status_n(port, stalled, sizeof(stalled) - 1, 4), 0);
	CHECK_INT(wait_seen(6), 6);
	CHECK_INT(seen[5].status, 0);
	CHECK_STR(seen[5].reason, "timeout");
	CHECK_STR(seen[5].path, "/healthz");
	pg_http_stop(&h);

	/* audit_public_success: successful public answers are reported too. */
	o.audit_public_success = true;
	CHECK_INT(pg_http_start(&o, &h), PG_OK);
	n_seen = 0;
	CHECK_INT(raw_get(pg_http_port(h), "/healthz?x=1"), 200);
	CHECK_INT(wait_seen(1), 1);
	CHECK_INT(seen[0].status, 200);
	CHECK_STR(seen[0].reason, "");
	CHECK_STR(seen[0].path, "/healthz?x=1");
	pg_http_stop(&h);
}

/* fit_layout on buffers laid out as libmicrohttpd 0.9.75 leaves them: NULs
 * over the separators, CR and LF. */
static void test_fit_layout(void)
{
	/* GET /x HTTP/1.1\r\nHost: x\r\nA: b\0junk\r\n\r\n */
	static const char nul[] = "GET\0/x\0HTTP/1.1\0\0Host\0 x\0\0A\0 b\0junk\0\0\0\0";
	/* GET /x HTTP/1.1\nHost: x\nA:\tb\n\n */
	static const char lf[] = "GET\0/x\0HTTP/1.1\0Host\0 x\0A\0\tb\0\0";
	/* GET /x HTTP/1.1\r\nHost: x\nA: b\r\n\r\n (mixed) */
	static const char mixed[] = "GET\0/x\0HTTP/1.1\0\0Host\0 x\0A\0 b\0\0\0\0";
	/* GET /x HTTP/1.1\r\n\r\n, and with junk on the empty line */
	static const char none[] = "GET\0/x\0HTTP/1.1\0\0\0\0";
	static const char none_junk[] = "GET\0/x\0HTTP/1.1\0\0\0junk\0\0";
	struct pg_http_field f[2];

	f[0] = (struct pg_http_field){nul + 17, 4, nul + 23, 1};
	f[1] = (struct pg_http_field){nul + 26, 1, nul + 29, 1};
	CHECK(fit_layout(nul + 15, nul + sizeof(nul) - 1, f, 2));
	CHECK_INT(f[0].value_len, 1);
	CHECK_INT(f[1].value_len, 6);
	CHECK_STR(pg_http_request_check("GET", 3, "/x", 2, f, 2)->reason, "ctl_in_header");

	f[0] = (struct pg_http_field){lf + 16, 4, lf + 22, 1};
	f[1] = (struct pg_http_field){lf + 24, 1, lf + 27, 1};
	CHECK(fit_layout(lf + 15, lf + sizeof(lf) - 1, f, 2));
	CHECK_INT(f[1].value_len, 1);
	CHECK(pg_http_request_check("GET", 3, "/x", 2, f, 2) == NULL);

	f[0] = (struct pg_http_field){mixed + 17, 4, mixed + 23, 1};
	f[1] = (struct pg_http_field){mixed + 25, 1, mixed + 28, 1};
	CHECK(!fit_layout(mixed + 15, mixed + sizeof(mixed) - 1, f, 2));

	CHECK(fit_layout(none + 15, none + sizeof(none) - 1, NULL, 0));
	CHECK(!fit_layout(none_junk + 15, none_junk + sizeof(none_junk) - 1, NULL, 0));

	/* A name that does not start where the line does (obs-fold copy). */
	f[0] = (struct pg_http_field){nul + 18, 3, nul + 23, 1};
	CHECK(!fit_layout(nul + 15, nul + sizeof(nul) - 1, f, 1));
	/* Something else than whitespace between ':' and the value. */
	f[0] = (struct pg_http_field){nul + 17, 4, nul + 24, 0};
	f[1] = (struct pg_http_field){nul + 26, 1, nul + 29, 1};
	CHECK(!fit_layout(nul + 15, nul + sizeof(nul) - 1, f, 2));
}

/* The layout the NUL checks rely on, with both line endings. */
static void test_line_endings(void)
{
	static const char lf[] = "GET /healthz HTTP/1.1\nHost: x\nX-A: b\nConnection: close\n\n";
	static const char lf_none[] = "GET /healthz HTTP/1.0\n\n";
	static const char crlf_none[] = "GET /healthz HTTP/1.0\r\n\r\n";
	static const char ws[] = "GET /healthz HTTP/1.1\r\nHost:x\r\nX-A: \t b \r\nX-E:\r\nConnection: close\r\n\r\n";
	static const char mixed[] = "GET /healthz HTTP/1.1\r\nHost: x\nConnection: close\r\n\r\n";
	static const char nul_lf[] = "GET /healthz HTTP/1.1\nHost: x\0\nConnection: close\n\n";
	static const char two_sp[] = "GET  /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct pg_http *h = start(NULL, 0);
	int port = pg_http_port(h);

	CHECK_INT(raw_status_n(port, lf, sizeof(lf) - 1, 5), 200);
	CHECK_INT(raw_status_n(port, lf_none, sizeof(lf_none) - 1, 5), 200);
	CHECK_INT(raw_status_n(port, crlf_none, sizeof(crlf_none) - 1, 5), 200);
	CHECK_INT(raw_status_n(port, ws, sizeof(ws) - 1, 5), 200);
	CHECK_INT(raw_status_n(port, mixed, sizeof(mixed) - 1, 5), 400);
	CHECK_INT(raw_status_n(port, nul_lf, sizeof(nul_lf) - 1, 5), 400);
	CHECK_INT(raw_status_n(port, two_sp, sizeof(two_sp) - 1, 5), 400);
	pg_http_stop(&h);
}

static void test_post_body(void)
{
	struct pg_http *h = start(NULL, 0);
	char big[2048];
	struct resp r;

	CHECK_INT(fetch(pg_http_port(h), "POST", "/test/echo", NULL, "0x4005d0+0x4005e0", &r), 200);
	CHECK_STR(r.body.data, "0x4005d0+0x4005e0");
	CHECK_CONTAINS(r.hdrs.data, "X-Peer: 127.0.0.1\r\n");
	resp_free(&r);
	/* query values are percent-decoded, '+' is a space */
	CHECK_INT(fetch(pg_http_port(h), "POST", "/test/echo?name=a%20b+c%2Fd&x", NULL, "q", &r), 200);
	CHECK_CONTAINS(r.hdrs.data, "X-Name: a b c/d\r\n");
	/* every argument in order, not percent-decoded, the bare key without a value */
	CHECK_CONTAINS(r.hdrs.data, "X-Args: name=a%20b c%2Fd;x=(null);\r\n");
	resp_free(&r);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(fetch(pg_http_port(h), "POST", "/test/echo", NULL, big, &r), 413);
	resp_free(&r);
	/* the server still serves after the early answer */
	CHECK_INT(fetch(pg_http_port(h), "POST", "/test/echo", NULL, "", &r), 200);
	CHECK(r.body.len == 0);
	resp_free(&r);
	pg_http_stop(&h);
}

static void test_stream(void)
{
	struct pg_http *h = start(NULL, 0);
	struct resp r;

	CHECK_INT(fetch(pg_http_port(h), NULL, "/test/stream", NULL, NULL, &r), 200);
	CHECK_STR(r.body.data, "chunk\nchunk\nchunk\n");
	resp_free(&r);
	pg_http_stop(&h);
}

static void test_shared_body(void)
{
	struct pg_http *h = start(NULL, 0);
	struct resp r;

	for (int i = 0; i < 3; i++) {
		CHECK_INT(fetch(pg_http_port(h), NULL, "/test/shared", NULL, NULL, &r), 200);
		CHECK_STR(r.body.data, "shared bytes");
		resp_free(&r);
	}
	pg_http_stop(&h);
	/* released once per answer, and only by then */
	CHECK_INT(atomic_load(&shared_released), 3);
}

static void join_job(void)
{
	if (have_job_thread)
		pthread_join(last_job_thread, NULL);
	have_job_thread = false;
}

static void test_suspend_resume(void)
{
	struct pg_http *h = start(NULL, 0);
	struct resp r;
	double t0 = now_s();

	CHECK_INT(fetch(pg_http_port(h), NULL, "/test/slow?ms=150", NULL, NULL, &r), 200);
	CHECK(now_s() - t0 >= 0.14);
	CHECK_STR(r.body.data, "slow done");
	resp_free(&r);
	join_job();
	CHECK_INT(last_job.reply_rc, PG_OK);
	pg_http_stop(&h);
}

struct bg {
	int port;
	const char *path;
	long code;
	struct resp r;
	pthread_t th;
};

static void *bg_fetch(void *arg)
{
	struct bg *b = arg;

	b->code = fetch(b->port, NULL, b->path, NULL, NULL, &b->r);
	return NULL;
}

static void test_suspended_does_not_block_others(void)
{
	struct pg_http *h = start(NULL, 0);
	struct bg b = {.port = pg_http_port(h), .path = "/test/slow?ms=600"};
	struct resp r;
	double t0;

	CHECK_INT(pthread_create(&b.th, NULL, bg_fetch, &b), 0);
	sleep_ms(100);
	t0 = now_s();
	CHECK_INT(fetch(pg_http_port(h), NULL, "/healthz", NULL, NULL, &r), 200);
	CHECK(now_s() - t0 < 0.3);
	resp_free(&r);
	pthread_join(b.th, NULL);
	CHECK_INT(b.code, 200);
	resp_free(&b.r);
	join_job();
	pg_http_stop(&h);
}

static void test_graceful_stop_waits(void)
{
	struct pg_http *h = start(NULL, 0);
	struct bg b = {.port = pg_http_port(h), .path = "/test/slow?ms=400"};
	int port = pg_http_port(h);
	double t0;

	CHECK_INT(pthread_create(&b.th, NULL, bg_fetch, &b), 0);
	sleep_ms(100);
	t0 = now_s();
	pg_http_stop(&h);
	/* stop waited for the in-flight request, which completed normally */
	CHECK(now_s() - t0 >= 0.2);
	pthread_join(b.th, NULL);
	CHECK_INT(b.code, 200);
	CHECK_STR(b.r.body.data, "slow done");
	resp_free(&b.r);
	join_job();
	/* and the port no longer accepts */
	CHECK_INT(raw_get(port, "/healthz"), 0);
}

static void test_graceful_stop_bounded(void)
{
	struct pg_http_opts o;
	struct pg_http *h = NULL;
	struct bg b;
	double t0;

	opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.stop_timeout_ms = 200;
	CHECK_INT(pg_http_start(&o, &h), PG_OK);
	memset(&b, 0, sizeof(b));
	b.port = pg_http_port(h);
	b.path = "/test/slow?ms=1500";
	CHECK_INT(pthread_create(&b.th, NULL, bg_fetch, &b), 0);
	sleep_ms(100);
	t0 = now_s();
	pg_http_stop(&h);
	CHECK(now_s() - t0 < 1.2);
	pthread_join(b.th, NULL);
	CHECK_INT(b.code, 503);
	resp_free(&b.r);
	/* the owner's late reply finds the request answered and frees it */
	join_job();
	CHECK_INT(last_job.reply_rc, PG_EBUSY);
}

static void test_stream_wake(void)
{
	struct pg_http *h = start(NULL, 0);
	struct bg b = {.port = pg_http_port(h), .path = "/test/relay?n=4"};
	struct resp r;
	double t0 = now_s(), t1;

	CHECK_INT(pthread_create(&b.th, NULL, bg_fetch, &b), 0);
	sleep_ms(90);
	/* the waiting stream pins no thread: others are answered at once */
	t1 = now_s();
	CHECK_INT(fetch(pg_http_port(h), NULL, "/healthz", NULL, NULL, &r), 200);
	CHECK(now_s() - t1 < 0.1);
	resp_free(&r);
	pthread_join(b.th, NULL);
	CHECK_INT(b.code, 200);
	CHECK_STR(b.r.body.data, "part\npart\npart\npart\n");
	CHECK(now_s() - t0 >= 0.23);
	resp_free(&b.r);
	relay_join();
	pg_http_stop(&h);
}

static void test_stream_wake_stop_bounded(void)
{
	struct pg_http_opts o;
	struct pg_http *h = NULL;
	struct bg b;
	double t0;

	opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.stop_timeout_ms = 200;
	CHECK_INT(pg_http_start(&o, &h), PG_OK);
	memset(&b, 0, sizeof(b));
	b.port = pg_http_port(h);
	b.path = "/test/relay?n=0"; /* a producer that never sends */
	CHECK_INT(pthread_create(&b.th, NULL, bg_fetch, &b), 0);
	sleep_ms(100);
	t0 = now_s();
	pg_http_stop(&h);
	CHECK(now_s() - t0 < 1.2);
	pthread_join(b.th, NULL);
	/* the status went out; the body ended with an error, not a hang */
	CHECK(b.code == 200 || b.code == -1);
	resp_free(&b.r);
	/* the producer's late wake after the request is gone is harmless */
	pg_http_stream_wake(relay.s);
	relay_join();
}

static void test_no_builtin_routes(void)
{
	struct pg_http_opts o;
	struct pg_http *h = NULL;
	struct pg_http_route own[1] = {{"/healthz", PG_HTTP_GET, t_secret, NULL, PG_HTTP_GROUP_PUBLIC}};
	struct resp r;

	memset(&o, 0, sizeof(o));
	o.listen = "127.0.0.1:0";
	o.routes = own;
	o.n_routes = 1;
	/* without the option, the server's own /healthz may not be shadowed */
	CHECK_INT(pg_http_start(&o, &h), PG_EINVAL);
	o.no_builtin_routes = true;
	CHECK_INT(pg_http_start(&o, &h), PG_OK);
	CHECK_INT(fetch(pg_http_port(h), NULL, "/healthz", NULL, NULL, &r), 200);
	CHECK_STR(r.body.data, "secret");
	resp_free(&r);
	CHECK_INT(fetch(pg_http_port(h), NULL, "/metrics", NULL, NULL, &r), 404);
	resp_free(&r);
	pg_http_stop(&h);
}

static void test_thread_pool(void)
{
	struct pg_http *h = start(NULL, 3);
	struct resp r;

	for (int i = 0; i < 10; i++) {
		CHECK_INT(fetch(pg_http_port(h), NULL, "/healthz", NULL, NULL, &r), 200);
		resp_free(&r);
	}
	CHECK_INT(fetch(pg_http_port(h), NULL, "/test/slow?ms=20", NULL, NULL, &r), 200);
	resp_free(&r);
	join_job();
	pg_http_stop(&h);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pg_log_set_level(PG_LOG_ERROR);
	RUN(test_parse_addr);
	RUN(test_start_and_bind_failure);
	RUN(test_ipv6_listen);
	RUN(test_healthz);
	RUN(test_metrics);
	RUN(test_metrics_shared_window);
	RUN(test_ready);
	RUN(test_not_found_and_method);
	RUN(test_path_rejection);
	RUN(test_pprof_gate);
	RUN(test_audit_every_refusal);
	RUN(test_fit_layout);
	RUN(test_line_endings);
	RUN(test_post_body);
	RUN(test_stream);
	RUN(test_stream_wake);
	RUN(test_stream_wake_stop_bounded);
	RUN(test_no_builtin_routes);
	RUN(test_shared_body);
	RUN(test_suspend_resume);
	RUN(test_suspended_does_not_block_others);
	RUN(test_graceful_stop_waits);
	RUN(test_graceful_stop_bounded);
	RUN(test_thread_pool);
	curl_global_cleanup();
	TEST_END();
}
