/* /debug/pprof/ routes: the pure parameter parsers, the loopback gate's
 * decision for fake peers, and the routes served by a real server on
 * loopback (bad parameters, 429 with Retry-After, a disconnect freeing the
 * CPU profiler, other routes served during a capture). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/policy.h"
#include "src/config/config.h"
#include "src/gate/gate.h"
#include "src/http/server.h"
#include "src/main_routes.h"
#include "src/pprof/routes.h"
#include "src/pprof/trace.h"
#include "tests/unit/test.h"

/* The sanitizer build links neither tcmalloc nor the CPU profiler
 * (PG_NO_TCMALLOC): there the heap and profile routes answer 501; every other
 * build links both into this test (CMakeLists.txt), so they answer 200. */
#ifdef PG_NO_TCMALLOC
#define PROFILER_STATUS 501
#else
#define PROFILER_STATUS 200
#endif

/* ---- parsers ---- */

static void test_seconds(void)
{
	unsigned s = 99;
	char msg[200];

	CHECK_INT(pg_pprof_parse_seconds(NULL, 30, 300, &s, msg, sizeof(msg)), PG_OK);
	CHECK_INT(s, 30);
	CHECK_INT(pg_pprof_parse_seconds("5", 30, 300, &s, msg, sizeof(msg)), PG_OK);
	CHECK_INT(s, 5);
	CHECK_INT(pg_pprof_parse_seconds("300", 30, 300, &s, msg, sizeof(msg)), PG_OK);
	CHECK_INT(s, 300);
	CHECK_INT(pg_pprof_parse_seconds("007", 30, 300, &s, msg, sizeof(msg)), PG_OK);
	CHECK_INT(s, 7);
	static const char *const bad[] = {"", "0", "-1", "+1", "abc", "1e9", "1.5", " 1", "1 ", "301",
					  "99999999999999999999", "4294967297", "0x10"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = '\0';
		CHECK_INT(pg_pprof_parse_seconds(bad[i], 30, 300, &s, msg, sizeof(msg)), PG_EINVAL);
		CHECK_CONTAINS(msg, "300");
	}
	CHECK_INT(pg_pprof_parse_seconds("301", 30, 300, &s, msg, sizeof(msg)), PG_EINVAL);
	CHECK_CONTAINS(msg, "configured maximum");
}

static void test_debug(void)
{
	int d = 9;
	char msg[200];

	CHECK_INT(pg_pprof_parse_debug(NULL, 2, &d, msg, sizeof(msg)), PG_OK);
	CHECK_INT(d, 0);
	CHECK_INT(pg_pprof_parse_debug("2", 2, &d, msg, sizeof(msg)), PG_OK);
	CHECK_INT(d, 2);
	CHECK_INT(pg_pprof_parse_debug("2", 1, &d, msg, sizeof(msg)), PG_EINVAL);
	CHECK_CONTAINS(msg, "0..1");
	static const char *const bad[] = {"7", "", "-1", "01", "x", "1 ", "10"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(pg_pprof_parse_debug(bad[i], 2, &d, msg, sizeof(msg)), PG_EINVAL);
}

static void test_symbol_addrs(void)
{
	uint64_t a[8];
	const char *s = "0x4a1b2c+0X10+31+037+0b101+zz+0x+0+0xffffffffffffffff+0x10000000000000000";

	CHECK_INT(pg_pprof_parse_symbol_addrs(s, strlen(s), a, 8), 6);
	CHECK(a[0] == 0x4a1b2c);
	CHECK(a[1] == 0x10);
	CHECK(a[2] == 31);
	CHECK(a[3] == 037);
	CHECK(a[4] == 5);
	CHECK(a[5] == UINT64_MAX);
	CHECK_INT(pg_pprof_parse_symbol_addrs("", 0, a, 8), 0);
	CHECK_INT(pg_pprof_parse_symbol_addrs("+++", 3, a, 8), 0);
	CHECK_INT(pg_pprof_parse_symbol_addrs("1+2+3", 5, a, 2), 2); /* bounded */
	/* The length is honoured: no read past it. */
	CHECK_INT(pg_pprof_parse_symbol_addrs("0x12+0x34", 4, a, 8), 1);
	CHECK(a[0] == 0x12);
}

/* ---- the default decision (no diagnostics: security): loopback peers only ---- */

static bool decide(const struct pg_auth_policy *p, const char *ip, const char *xff)
{
	struct sockaddr_storage ss;
	struct pg_auth_request q;
	struct pg_auth_decision d;

	memset(&ss, 0, sizeof(ss));
	memset(&q, 0, sizeof(q));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		CHECK_INT(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
		q.peer_len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		CHECK_INT(inet_pton(AF_INET, ip, &a->sin_addr), 1);
		q.peer_len = sizeof(*a);
	}
	q.route = PG_AUTH_ROUTE_PPROF;
	q.profile = "profile";
	q.peer = (struct sockaddr *)&ss;
	q.forwarded_for = xff;
	pg_auth_decide(p, &q, &d);
	if (!d.allow) {
		char body[256];

		/* What the gate answers. */
		CHECK_INT(d.http_status, 403);
		CHECK(pg_auth_decision_json(&d, body, sizeof(body)) > 0);
		CHECK_STR(body, "{\"error\":\"forbidden\",\"reason\":\"loopback_only\"}");
	}
	return d.allow;
}

static void test_gate_decision(void)
{
	struct pg_auth_policy *p = NULL;

	CHECK_INT(pg_auth_policy_new(&p), PG_OK);
	CHECK(decide(p, "127.0.0.1", NULL));
	CHECK(decide(p, "127.3.4.5", NULL));
	CHECK(decide(p, "::1", NULL));
	CHECK(!decide(p, "10.0.0.1", NULL));
	CHECK(!decide(p, "192.168.1.20", NULL));
	CHECK(!decide(p, "2001:db8::1", NULL));
	/* No trusted proxies: X-Forwarded-For is ignored, the socket peer decides. */
	CHECK(decide(p, "127.0.0.1", "203.0.113.9"));
	CHECK(!decide(p, "10.0.0.1", "127.0.0.1"));
	pg_auth_policy_free(&p);
}

/* ---- over a real server ---- */

static int port;

/* One HTTP/1.0 request over a fresh socket; returns the status, the whole
 * response in resp (NUL-terminated). */
static int request(const char *method, const char *target, char *resp, size_t n)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char req[512];
	size_t got = 0;
	ssize_t k;
	int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	resp[0] = '\0';
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto out;
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: x\r\n\r\n", method, target);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	while (got + 1 < n && (k = read(fd, resp + got, n - 1 - got)) > 0)
		got += (size_t)k;
	resp[got] = '\0';
	if (strncmp(resp, "HTTP/1.", 7) == 0)
		status = (int)strtol(resp + 9, NULL, 10);
out:
	if (fd >= 0)
		close(fd);
	return status;
}

static int get(const char *target, char *resp, size_t n)
{
	return request("GET", target, resp, n);
}

/* Starts a request and leaves it open; returns the socket. */
static int start_get(const char *target)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char req[512];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -1;
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", target);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return -1;
	}
	return fd;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static struct pg_http *srv;
static struct pg_pprof_routes *pr;
static struct pg_gate *gate;
static struct pg_config_diag diag; /* empty: the node's default policy */
static char resp[1 << 20];

static void test_start(void)
{
	struct pg_pprof_routes_opts ro = {.max_seconds = 5};
	static struct pg_http_route table[PG_HTTP_MAX_ROUTES];
	struct pg_http_opts ho = {.listen = "127.0.0.1:0", .threads = 2, .routes = table};

	CHECK_INT(pg_pprof_routes_new(&ro, &pr), PG_OK);
	/* The node's own gate with no diagnostics: section configured. */
	CHECK_INT(pg_gate_new(&diag, NULL, &gate), PG_OK);
	pg_gate_http_opts(gate, &diag, &ho);
	ho.n_routes = pg_main_routes(pr, table, PG_HTTP_MAX_ROUTES);
	CHECK_INT(pg_http_start(&ho, &srv), PG_OK);
	port = pg_http_port(srv);
}

static void test_bad_params(void)
{
	CHECK_INT(get("/debug/pprof/profile?seconds=-1", resp, sizeof(resp)), 400);
	CHECK_INT(get("/debug/pprof/profile?seconds=abc", resp, sizeof(resp)), 400);
	CHECK_INT(get("/debug/pprof/profile?seconds=0", resp, sizeof(resp)), 400);
	CHECK_INT(get("/debug/pprof/profile?seconds=6", resp, sizeof(resp)), 400);
	CHECK_CONTAINS(resp, "1..5");
	CHECK_INT(get("/debug/pprof/trace?seconds=1e9", resp, sizeof(resp)), 400);
	CHECK_INT(get("/debug/pprof/goroutine?debug=7", resp, sizeof(resp)), 400);
	CHECK_INT(get("/debug/pprof/heap?seconds=x", resp, sizeof(resp)), 400);
	CHECK_INT(get("/debug/pprof/nope", resp, sizeof(resp)), 404);
	CHECK_INT(get("/debug/pprof/?debug=2", resp, sizeof(resp)), 400);
}

static void test_simple_routes(void)
{
	CHECK_INT(get("/debug/pprof/", resp, sizeof(resp)), 200);
	CHECK_CONTAINS(resp, "text/html");
	CHECK_CONTAINS(resp, "goroutine?debug=2");
	CHECK_INT(get("/debug/pprof/?debug=1", resp, sizeof(resp)), 200);
	CHECK_CONTAINS(resp, "threadcreate");
	CHECK_INT(get("/debug/pprof/symbol", resp, sizeof(resp)), 200);
	CHECK_CONTAINS(resp, "\r\n\r\nnum_symbols: 1\n");
	/* A real function of this binary resolves by name. */
	{
		char t[128];

		snprintf(t, sizeof(t), "/debug/pprof/symbol?%#llx+0x0+zz",
			 (unsigned long long)(uintptr_t)&pg_pprof_parse_debug);
		CHECK_INT(get(t, resp, sizeof(resp)), 200);
		CHECK_CONTAINS(resp, " pg_pprof_parse_debug\n");
	}
	CHECK_INT(get("/debug/pprof/goroutine?debug=2", resp, sizeof(resp)), 200);
	CHECK_CONTAINS(resp, "pprof-timer");
	CHECK_INT(get("/debug/pprof/cmdline", resp, sizeof(resp)), 200);
	CHECK_CONTAINS(resp, "routes_test");
	CHECK_INT(get("/debug/pprof/mutex?debug=1", resp, sizeof(resp)), 200);
	CHECK_INT(get("/debug/pprof/threadcreate", resp, sizeof(resp)), 200);
	CHECK_INT(get("/debug/pprof/heap", resp, sizeof(resp)), PROFILER_STATUS);
	if (PROFILER_STATUS == 501)
		CHECK_CONTAINS(resp, "not available in this build");
	else
		CHECK_CONTAINS(resp, "application/octet-stream");
}

static void test_trace_capture(void)
{
	double t0 = now_s();
	int fd = start_get("/debug/pprof/trace?seconds=1"), st;

	CHECK(fd >= 0);
	sleep_ms(150);
	/* One at a time: the second gets 429 and Retry-After. */
	CHECK_INT(get("/debug/pprof/trace?seconds=1", resp, sizeof(resp)), 429);
	CHECK_CONTAINS(resp, "Retry-After: 1");
	/* Served while the capture runs, and recorded by it. */
	CHECK_INT(get("/healthz", resp, sizeof(resp)), 200);
	{
		size_t got = 0;
		ssize_t k;

		while (got + 1 < sizeof(resp) && (k = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
			got += (size_t)k;
		resp[got] = '\0';
		close(fd);
	}
	st = strncmp(resp, "HTTP/1.1 200", 12) == 0 || strncmp(resp, "HTTP/1.0 200", 12) == 0;
	CHECK(st);
	CHECK_CONTAINS(resp, "traceEvents");
	CHECK_CONTAINS(resp, "/healthz");
	CHECK(now_s() - t0 < 2.5);
}

/* HEAD answers at once with the length a GET would capture, and starts
 * nothing: a GET right after is not refused as busy. */
static void test_head_probe(void)
{
	double t0 = now_s();

	CHECK_INT(request("HEAD", "/debug/pprof/trace?seconds=3", resp, sizeof(resp)), 200);
	CHECK(now_s() - t0 < 1.0);
	CHECK_CONTAINS(resp, "X-Pprofgate-Capture-Seconds: 3\r\n");
	CHECK_INT(request("HEAD", "/debug/pprof/profile?seconds=5", resp, sizeof(resp)), 200);
	CHECK_CONTAINS(resp, "X-Pprofgate-Capture-Seconds: 5\r\n");
	CHECK_INT(request("HEAD", "/debug/pprof/trace?seconds=6", resp, sizeof(resp)), 400);
	t0 = now_s();
	CHECK_INT(get("/debug/pprof/trace?seconds=1", resp, sizeof(resp)), 200);
	CHECK_CONTAINS(resp, "X-Pprofgate-Capture-Seconds: 1\r\n");
	CHECK(now_s() - t0 >= 0.9);
}

static void test_cpu_capture(void)
{
	int fd, st;
	double t0;

	st = get("/debug/pprof/profile?seconds=1", resp, sizeof(resp));
	CHECK_INT(st, PROFILER_STATUS);
	if (st == 501) {
		printf("CPU profiler not in this build: 501 checked, capture tests skipped\n");
		CHECK_CONTAINS(resp, "not available in this build");
		return;
	}
	CHECK_CONTAINS(resp, "application/octet-stream");
	/* A client that goes away frees the profiler within a poll period. */
	fd = start_get("/debug/pprof/profile?seconds=5");
	CHECK(fd >= 0);
	sleep_ms(200);
	CHECK_INT(get("/debug/pprof/profile?seconds=1", resp, sizeof(resp)), 429);
	CHECK_CONTAINS(resp, "Retry-After: 5");
	CHECK_CONTAINS(resp, "cpu profiling already in use");
	close(fd);
	sleep_ms(3 * PG_PPROF_POLL_MS);
	t0 = now_s();
	CHECK_INT(get("/debug/pprof/profile?seconds=1", resp, sizeof(resp)), 200);
	CHECK(now_s() - t0 < 2.0);
}

/* Live sampled objects in a legacy "heap profile: N: ..." text, or -1. */
static long heap_objects(const char *text)
{
	const char *p = strstr(text, "heap profile: ");
	char *end;
	long n;

	if (!p)
		return -1;
	n = strtol(p + strlen("heap profile: "), &end, 10);
	return *end == ':' ? n : -1;
}

static void test_heap(void)
{
	CHECK_INT(get("/debug/pprof/heap?debug=1", resp, sizeof(resp)), PROFILER_STATUS);
	if (PROFILER_STATUS == 501)
		return;
	/* main() turned sampling on: this process's own allocations show. */
	CHECK(heap_objects(resp) > 0);
	CHECK_INT(get("/debug/pprof/heap?seconds=1&debug=1", resp, sizeof(resp)), 200);
	CHECK(heap_objects(resp) >= 0);
}

static void test_stop_with_capture_running(void)
{
	int fd = start_get("/debug/pprof/trace?seconds=5");
	ssize_t k;
	size_t got = 0;
	double t0;

	CHECK(fd >= 0);
	sleep_ms(150);
	t0 = now_s();
	pg_pprof_routes_stop(pr);
	while (got + 1 < sizeof(resp) && (k = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)k;
	resp[got] = '\0';
	close(fd);
	CHECK_CONTAINS(resp, " 503 ");
	CHECK(now_s() - t0 < 2.0);
	CHECK(!pg_trace_active());
	CHECK_INT(get("/debug/pprof/profile?seconds=1", resp, sizeof(resp)), 503);
	pg_http_stop(&srv);
	pg_pprof_routes_free(&pr);
	pg_gate_free(&gate);
	CHECK(pr == NULL);
}

int main(int argc, char **argv)
{
	(void)argc;
#ifndef PG_NO_TCMALLOC
	/* tcmalloc reads its sampling rate at start: exec once with one sample
	 * per 4 KiB so the heap route has this small process's samples. */
	if (!getenv("TCMALLOC_SAMPLE_PARAMETER")) {
		setenv("TCMALLOC_SAMPLE_PARAMETER", "4096", 1);
		execv("/proc/self/exe", argv);
		perror("execv");
		return 1;
	}
#else
	(void)argv;
#endif
	RUN(test_seconds);
	RUN(test_debug);
	RUN(test_symbol_addrs);
	RUN(test_gate_decision);
	RUN(test_start);
	RUN(test_bad_params);
	RUN(test_simple_routes);
	RUN(test_trace_capture);
	RUN(test_head_probe);
	RUN(test_cpu_capture);
	RUN(test_heap);
	RUN(test_stop_with_capture_running);
	TEST_END();
}
