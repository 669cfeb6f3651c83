/* Tests of the etcd client and cluster membership against a real etcd
 * (Debian's etcd-server, started here on free loopback ports with a
 * throwaway data dir, killed at the end). Checks what Goverse nodes would
 * see with etcdctl: the key, its value and its lease, and the faults:
 * etcd absent at start, etcd frozen (SIGSTOP) past the lease TTL, etcd
 * restarted on the same data dir, and a bounded stop while etcd hangs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/cluster/etcd.h"
#include "src/util/base64.h"
#include "src/cluster/membership.h"
#include "src/metrics/metrics.h"
#include "src/util/log.h"
#include "tests/unit/test.h"

static char etcd_dir[256];
static int client_port, peer_port;
static pid_t etcd_pid = -1;
static char endpoint[64];

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t l = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static bool etcd_answers(void)
{
	const char *eps[] = {endpoint};
	struct pg_etcd_opts o = {.endpoints = eps, .n_endpoints = 1};
	struct pg_etcd *c = NULL;
	struct pg_etcd_range r;
	bool ok = false;

	if (pg_etcd_new(&o, &c) == PG_OK && pg_etcd_get(c, "health-probe", false, &r) == PG_OK) {
		ok = true;
		pg_etcd_range_clear(&r);
	}
	pg_etcd_free(&c);
	return ok;
}

/* Starts etcd on the fixed ports and data dir; waits until it answers. */
static bool etcd_start(void)
{
	char curl[64], purl[64];

	snprintf(curl, sizeof(curl), "http://127.0.0.1:%d", client_port);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", peer_port);
	etcd_pid = fork();
	if (etcd_pid == 0) {
		char logp[300];
		FILE *f;

		snprintf(logp, sizeof(logp), "%s.log", etcd_dir);
		f = freopen(logp, "a", stderr);
		(void)f;
		execlp("etcd", "etcd", "--data-dir", etcd_dir, "--listen-client-urls", curl,
		       "--advertise-client-urls", curl, "--listen-peer-urls", purl, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		if (etcd_answers())
			return true;
		sleep_ms(100);
	}
	fprintf(stderr, "etcd did not start (see %s.log)\n", etcd_dir);
	return false;
}

static void etcd_kill(int sig)
{
	if (etcd_pid > 0) {
		kill(etcd_pid, SIGCONT);
		kill(etcd_pid, sig);
		waitpid(etcd_pid, NULL, 0);
		etcd_pid = -1;
	}
}

/* Runs etcdctl and returns its output (caller frees). */
static char *etcdctl(const char *args)
{
	char cmd[512];
	char *out = calloc(1, 65536);
	size_t n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ETCDCTL_API=3 etcdctl --dial-timeout=2s --endpoints=%s %s 2>&1", endpoint, args);
	p = popen(cmd, "r");
	if (!p || !out) {
		free(out);
		return NULL;
	}
	n = fread(out, 1, 65535, p);
	out[n] = '\0';
	pclose(p);
	return out;
}

static void make_cfg(struct pg_config *cfg, const char *adv, long ttl)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen, sizeof(cfg->listen), "%s", adv);
	snprintf(cfg->advertise, sizeof(cfg->advertise), "%s", adv);
	snprintf(cfg->etcd_prefix, sizeof(cfg->etcd_prefix), "/goverse");
	/* A dead endpoint first: failover must find the live one. */
	snprintf(cfg->etcd_endpoints[0], sizeof(cfg->etcd_endpoints[0]), "127.0.0.1:1");
	snprintf(cfg->etcd_endpoints[1], sizeof(cfg->etcd_endpoints[1]), "%s", endpoint);
	cfg->n_etcd_endpoints = 2;
	cfg->etcd_lease_ttl = ttl;
}

/* Waits until ready(m) == want; returns elapsed ms or -1 on timeout. */
static long long wait_ready(struct pg_membership *m, bool want, long long timeout_ms)
{
	long long t0 = now_ms();

	while (now_ms() - t0 < timeout_ms) {
		if (pg_membership_ready(m, NULL, 0) == want)
			return now_ms() - t0;
		sleep_ms(20);
	}
	return -1;
}

static long long wait_members(struct pg_membership *m, size_t want, long long timeout_ms)
{
	long long t0 = now_ms();

	while (now_ms() - t0 < timeout_ms) {
		if (pg_membership_members(m, NULL, 0) == want)
			return now_ms() - t0;
		sleep_ms(20);
	}
	return -1;
}

/* ---- client ---- */

struct watch_seen {
	int puts, deletes;
	bool got_a;
};

static bool collect(const struct pg_etcd_watch_resp *w, void *arg)
{
	struct watch_seen *s = arg;

	if (!w)
		return true;
	for (size_t i = 0; i < w->n_events; i++) {
		if (w->events[i].type == PG_ETCD_PUT)
			s->puts++;
		else
			s->deletes++;
		if (strcmp(w->events[i].kv.key, "/t/a") == 0 && strcmp(w->events[i].kv.value, "A") == 0)
			s->got_a = true;
	}
	return s->puts < 2; /* /t/a and /t/b */
}

static bool never_stop(const struct pg_etcd_watch_resp *w, void *arg)
{
	(void)w;
	(void)arg;
	return true;
}

static void *cancel_later(void *arg)
{
	sleep_ms(300);
	pg_etcd_cancel(arg);
	return NULL;
}

static void test_client_live(void)
{
	const char *eps[] = {"127.0.0.1:1", endpoint};
	struct pg_etcd_opts o = {.endpoints = eps, .n_endpoints = 2};
	struct pg_etcd *c = NULL;
	struct pg_etcd_range r;
	struct watch_seen seen = {0};
	int64_t id = 0, ttl = 0, del = 0;
	long long t0;
	pthread_t th;

	CHECK_INT(pg_etcd_new(&o, &c), PG_OK);
	CHECK_INT(pg_etcd_lease_grant(c, 5, &id, &ttl), PG_OK);
	CHECK(id != 0);
	CHECK_INT(ttl, 5);
	CHECK_CONTAINS(pg_etcd_endpoint(c), endpoint); /* failed over and remembered */
	CHECK_INT(pg_etcd_put(c, "/t/a", "A", id), PG_OK);
	CHECK_INT(pg_etcd_put(c, "/t/b", "", 0), PG_OK);
	CHECK_INT(pg_etcd_put(c, "/u", "x", 0), PG_OK);
	CHECK_INT(pg_etcd_put(c, "/t/c", "C", 424242), PG_ENOTFOUND); /* unknown lease */
	CHECK_INT(pg_etcd_get(c, "/t/", true, &r), PG_OK);
	CHECK_INT(r.n, 2);
	if (r.n == 2) {
		CHECK_STR(r.kvs[0].key, "/t/a");
		CHECK_STR(r.kvs[0].value, "A");
		CHECK(r.kvs[0].lease == id);
		CHECK_STR(r.kvs[1].value, "");
	}
	pg_etcd_range_clear(&r);
	CHECK_INT(pg_etcd_get(c, "/t/a", false, &r), PG_OK);
	CHECK_INT(r.n, 1);
	pg_etcd_range_clear(&r);
	CHECK_INT(pg_etcd_lease_keepalive(c, id, &ttl), PG_OK);
	CHECK(ttl > 0 && ttl <= 5);
	CHECK_INT(pg_etcd_lease_keepalive(c, 424242, &ttl), PG_ENOTFOUND);
	/* Watch from revision 1: the history replays at once. */
	CHECK_INT(pg_etcd_watch(c, "/t/", true, 1, collect, &seen), PG_OK);
	CHECK(seen.got_a);
	CHECK_INT(pg_etcd_lease_revoke(c, id, 0), PG_OK);
	CHECK_INT(pg_etcd_get(c, "/t/a", false, &r), PG_OK);
	CHECK_INT(r.n, 0); /* revoking the lease deleted its key */
	pg_etcd_range_clear(&r);
	CHECK_INT(pg_etcd_lease_revoke(c, id, 0), PG_ENOTFOUND);
	CHECK_INT(pg_etcd_delete(c, "/", true, &del), PG_OK);
	CHECK_INT(del, 2);
	/* An idle watch ends promptly on cancel. */
	pthread_create(&th, NULL, cancel_later, c);
	t0 = now_ms();
	CHECK_INT(pg_etcd_watch(c, "/t/", true, 0, never_stop, NULL), PG_ENET);
	CHECK(now_ms() - t0 < 1000);
	pthread_join(th, NULL);
	pg_etcd_free(&c);
}

/* ---- membership ---- */

static bool key_has_lease(const char *adv)
{
	char args[300], *out, b64[200];
	char key[256];
	bool ok;

	snprintf(key, sizeof(key), "/goverse/nodes/%s", adv);
	if (pg_base64_encode(key, strlen(key), b64, sizeof(b64)) != PG_OK)
		return false;
	snprintf(args, sizeof(args), "get --prefix /goverse/nodes/ -w json");
	out = etcdctl(args);
	ok = out && strstr(out, b64) && strstr(out, "\"lease\":");
	if (ok) {
		/* and the value is the advertise address */
		char vb64[200];

		ok = pg_base64_encode(adv, strlen(adv), vb64, sizeof(vb64)) == PG_OK && strstr(out, vb64);
	}
	if (!ok)
		fprintf(stderr, "etcdctl: %s\n", out ? out : "(none)");
	free(out);
	return ok;
}

static bool key_absent(void)
{
	char *out = etcdctl("get --prefix /goverse/nodes/ --keys-only");
	bool ok = out && strstr(out, "/goverse/nodes/") == NULL && strstr(out, "rror") == NULL;

	free(out);
	return ok;
}

static void test_membership(void)
{
	struct pg_config cfg1, cfg2;
	struct pg_membership *m1 = NULL, *m2 = NULL;
	struct pg_metrics *reg = NULL;
	struct pg_buf text;
	char reason[128], addrs[4][PG_CONFIG_ADDR_MAX];
	long long t, t0;

	CHECK_INT(pg_metrics_new(&reg), PG_OK);
	make_cfg(&cfg1, "127.0.0.1:47101", 3);
	make_cfg(&cfg2, "127.0.0.1:47102", 3);
	t0 = now_ms();
	CHECK_INT(pg_membership_start(&cfg1, reg, &m1), PG_OK);
	CHECK_STR(pg_membership_key(m1), "/goverse/nodes/127.0.0.1:47101");
	t = wait_ready(m1, true, 5000);
	printf("registration latency: %lld ms\n", now_ms() - t0);
	CHECK(t >= 0);
	CHECK(key_has_lease("127.0.0.1:47101"));
	CHECK_INT(pg_membership_start(&cfg2, NULL, &m2), PG_OK);
	CHECK(wait_ready(m2, true, 5000) >= 0);
	/* Each node sees both. */
	CHECK(wait_members(m1, 2, 3000) >= 0);
	CHECK(wait_members(m2, 2, 3000) >= 0);
	CHECK_INT(pg_membership_members(m1, addrs, 4), 2);
	CHECK_STR(addrs[0], "127.0.0.1:47101");
	CHECK_STR(addrs[1], "127.0.0.1:47102");
	CHECK_INT(pg_membership_members(m1, addrs, 1), 2); /* total, copies only one */
	/* The keys outlive several TTLs: keepalive works. */
	sleep_ms(4000);
	CHECK(pg_membership_ready(m1, reason, sizeof(reason)));
	CHECK(pg_membership_ready_cb(m1, reason, sizeof(reason)));
	CHECK(key_has_lease("127.0.0.1:47102"));
	/* A clean stop revokes: gone from etcd at once and from the peer's list within 1 s. */
	t0 = now_ms();
	pg_membership_leave(m2);
	printf("leave took %lld ms\n", now_ms() - t0);
	CHECK(!pg_membership_ready(m2, reason, sizeof(reason)));
	CHECK_STR(reason, "stopping");
	CHECK_INT(pg_membership_members(m2, NULL, 0), 2); /* last known list, still readable */
	pg_membership_leave(m2);
	pg_membership_stop(&m2);
	CHECK(m2 == NULL);
	CHECK(now_ms() - t0 < 2000);
	t = wait_members(m1, 1, 1000);
	printf("peer saw the leave after %lld ms\n", t);
	CHECK(t >= 0);
	{
		char *out = etcdctl("get --prefix /goverse/nodes/ --keys-only");
		CHECK(out && !strstr(out, "47102") && strstr(out, "47101"));
		free(out);
	}
	/* Metrics. */
	pg_buf_init(&text, 1 << 20);
	CHECK_INT(pg_metrics_render(reg, &text), PG_OK);
	CHECK_CONTAINS(text.data, "pprofgate_cluster_nodes 1");
	CHECK_CONTAINS(text.data, "pprofgate_etcd_registered 1");
	CHECK_CONTAINS(text.data, "pprofgate_etcd_lease_ttl_seconds");
	CHECK_CONTAINS(text.data, "pprofgate_etcd_errors_total{op=\"keepalive\"} 0");
	CHECK_CONTAINS(text.data, "pprofgate_etcd_reconnects_total 0");
	CHECK_CONTAINS(text.data, "goverse_watch_reconnections_total{node_addr=\"127.0.0.1:47101\",outcome=\"reconnected\"} 0");
	CHECK_CONTAINS(text.data, "goverse_watch_reconnections_total{node_addr=\"127.0.0.1:47101\",outcome=\"reload_failed\"} 0");
	pg_buf_free(&text);

	/* Fault: etcd frozen longer than the TTL -> not ready; thawed -> registered again. */
	kill(etcd_pid, SIGSTOP);
	t0 = now_ms();
	t = wait_ready(m1, false, 12000);
	printf("not ready %lld ms after etcd froze (TTL 3 s)\n", t);
	CHECK(t >= 0);
	pg_membership_ready(m1, reason, sizeof(reason));
	CHECK_CONTAINS(reason, "etcd unreachable");
	sleep_ms(1000);
	kill(etcd_pid, SIGCONT);
	t = wait_ready(m1, true, 15000);
	printf("re-registered %lld ms after etcd thawed\n", t);
	CHECK(t >= 0);
	CHECK(key_has_lease("127.0.0.1:47101"));

	/* Fault: etcd killed and restarted on the same data dir and port. */
	etcd_kill(SIGKILL);
	t = wait_ready(m1, false, 12000);
	printf("not ready %lld ms after etcd was killed\n", t);
	CHECK(t >= 0);
	CHECK(etcd_start());
	t = wait_ready(m1, true, 15000);
	printf("re-registered %lld ms after etcd restarted\n", t);
	CHECK(t >= 0);
	CHECK(key_has_lease("127.0.0.1:47101"));
	pg_buf_init(&text, 1 << 20);
	CHECK_INT(pg_metrics_render(reg, &text), PG_OK);
	CHECK(strstr(text.data, "pprofgate_etcd_reconnects_total 0\n") == NULL);
	/* The member watch was re-established after etcd came back. */
	CHECK_CONTAINS(text.data, "goverse_watch_reconnections_total{node_addr=\"127.0.0.1:47101\",outcome=\"reconnected\"}");
	CHECK(strstr(text.data, "outcome=\"reconnected\"} 0\n") == NULL);
	CHECK(strstr(text.data, "pprofgate_etcd_errors_total{op=\"keepalive\"} 0\n") == NULL);
	pg_buf_free(&text);

	/* Stop is bounded even when etcd hangs; the key then expires with the lease. */
	kill(etcd_pid, SIGSTOP);
	t0 = now_ms();
	pg_membership_stop(&m1);
	printf("stop with etcd frozen took %lld ms\n", now_ms() - t0);
	CHECK(now_ms() - t0 < 2500);
	kill(etcd_pid, SIGCONT);
	sleep_ms(4500);
	CHECK(key_absent());
	pg_metrics_free(&reg);
}

/* Start without etcd: not ready with a reason, registered once etcd comes up. */
static void test_start_without_etcd(void)
{
	struct pg_config cfg;
	struct pg_membership *m = NULL;
	char reason[128];
	long long t;

	etcd_kill(SIGTERM);
	make_cfg(&cfg, "127.0.0.1:47103", 3);
	CHECK_INT(pg_membership_start(&cfg, NULL, &m), PG_OK);
	sleep_ms(1500);
	CHECK(!pg_membership_ready(m, reason, sizeof(reason)));
	CHECK_CONTAINS(reason, "etcd unreachable");
	CHECK(!pg_membership_ready_cb(m, reason, sizeof(reason)));
	CHECK(etcd_start());
	t = wait_ready(m, true, 12000);
	printf("registered %lld ms after etcd appeared\n", t);
	CHECK(t >= 0);
	CHECK(key_has_lease("127.0.0.1:47103"));
	pg_membership_stop(&m);
	CHECK(key_absent());
}

/* ---- TLS: etcd with server certificate and client-certificate auth ---- */

static bool run(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	return rc == 0;
}

static bool make_pki(const char *d)
{
	char cmd[2048];

	/* Two CAs (the second one must be refused), a server certificate for
	 * IP 127.0.0.1 and a client certificate, all from the first CA. */
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd '%s'; exec 2>pki.log >&2;"
		 "for ca in ca ca2; do openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
		 " -keyout $ca.key -out $ca.pem -days 1 -subj /CN=test-$ca; done;"
		 "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > srv.ext;"
		 "printf 'extendedKeyUsage=clientAuth\\n' > cli.ext;"
		 "for n in srv cli; do openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
		 " -keyout $n.key -out $n.csr -subj /CN=$n;"
		 " openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.pem -days 1"
		 " -extfile $n.ext; done",
		 d);
	return run(cmd);
}

static void test_tls(void)
{
	char d[300], url[64], purl[64], ca[400], ca2[400], crt[400], key[400], data[400];
	int cport = free_port(), pport = free_port();
	const char *eps[1];
	struct pg_etcd_opts o = {0};
	struct pg_etcd *c = NULL;
	struct pg_etcd_range r;
	struct pg_config cfg;
	struct pg_membership *m = NULL;
	pid_t pid;
	int rc = PG_ENET;

	snprintf(d, sizeof(d), "%s-tls", etcd_dir);
	if (mkdir(d, 0700) != 0 || !make_pki(d)) {
		CHECK(!"could not make the test PKI");
		return;
	}
	snprintf(ca, sizeof(ca), "%s/ca.pem", d);
	snprintf(ca2, sizeof(ca2), "%s/ca2.pem", d);
	snprintf(crt, sizeof(crt), "%s/cli.pem", d);
	snprintf(key, sizeof(key), "%s/cli.key", d);
	snprintf(data, sizeof(data), "%s/data", d);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", cport);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport);
	pid = fork();
	if (pid == 0) {
		char sc[400], sk[400], logp[400];

		snprintf(sc, sizeof(sc), "%s/srv.pem", d);
		snprintf(sk, sizeof(sk), "%s/srv.key", d);
		snprintf(logp, sizeof(logp), "%s/etcd.log", d);
		if (!freopen(logp, "a", stderr))
			_exit(126);
		execlp("etcd", "etcd", "--data-dir", data, "--listen-client-urls", url, "--advertise-client-urls",
		       url, "--listen-peer-urls", purl, "--cert-file", sc, "--key-file", sk,
		       "--trusted-ca-file", ca, "--client-cert-auth", (char *)NULL);
		_exit(127);
	}
	snprintf(url, sizeof(url), "127.0.0.1:%d", cport);
	eps[0] = url;
	o.endpoints = eps;
	o.n_endpoints = 1;
	o.ca_file = ca;
	o.cert_file = crt;
	o.key_file = key;
	CHECK_INT(pg_etcd_new(&o, &c), PG_OK);
	CHECK_CONTAINS(pg_etcd_endpoint(c), "https://");
	for (int i = 0; i < 100 && rc != PG_OK; i++) {
		rc = pg_etcd_put(c, "/tls/k", "v", 0);
		if (rc != PG_OK)
			sleep_ms(100);
	}
	CHECK_INT(rc, PG_OK);
	CHECK_INT(pg_etcd_get(c, "/tls/", true, &r), PG_OK);
	CHECK_INT(r.n, 1);
	pg_etcd_range_clear(&r);
	pg_etcd_free(&c);
	/* No client certificate: etcd refuses the handshake. */
	o.cert_file = o.key_file = NULL;
	CHECK_INT(pg_etcd_new(&o, &c), PG_OK);
	CHECK(pg_etcd_put(c, "/tls/k", "v", 0) != PG_OK);
	pg_etcd_free(&c);
	/* A CA that did not sign the server: we refuse etcd. */
	o.ca_file = ca2;
	o.cert_file = crt;
	o.key_file = key;
	CHECK_INT(pg_etcd_new(&o, &c), PG_OK);
	CHECK_INT(pg_etcd_put(c, "/tls/k", "v", 0), PG_ENET);
	CHECK_CONTAINS(pg_errmsg(), "SSL");
	pg_etcd_free(&c);
	/* Membership over TLS from the config fields. */
	make_cfg(&cfg, "127.0.0.1:47104", 3);
	snprintf(cfg.etcd_endpoints[0], sizeof(cfg.etcd_endpoints[0]), "%s", url);
	cfg.n_etcd_endpoints = 1;
	snprintf(cfg.etcd_ca_file, sizeof(cfg.etcd_ca_file), "%s", ca);
	snprintf(cfg.etcd_cert_file, sizeof(cfg.etcd_cert_file), "%s", crt);
	snprintf(cfg.etcd_key_file, sizeof(cfg.etcd_key_file), "%s", key);
	CHECK_INT(pg_membership_start(&cfg, NULL, &m), PG_OK);
	CHECK(wait_ready(m, true, 5000) >= 0);
	CHECK(wait_members(m, 1, 3000) >= 0);
	pg_membership_stop(&m);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	{
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
		CHECK(run(cmd));
	}
}

static void test_invalid_config(void)
{
	struct pg_config cfg;
	struct pg_membership *m = NULL;

	make_cfg(&cfg, "127.0.0.1:1", 1);
	CHECK_INT(pg_membership_start(&cfg, NULL, &m), PG_EINVAL);
	make_cfg(&cfg, "", 15);
	cfg.listen[0] = '\0';
	CHECK_INT(pg_membership_start(&cfg, NULL, &m), PG_EINVAL);
	make_cfg(&cfg, "x:1", 15);
	cfg.n_etcd_endpoints = 0;
	CHECK_INT(pg_membership_start(&cfg, NULL, &m), PG_EINVAL);
	CHECK(m == NULL);
	CHECK(!pg_membership_ready(NULL, NULL, 0));
	pg_membership_stop(&m);
	pg_membership_stop(NULL);
}

int main(void)
{
	char tmpl[] = "/tmp/pg-membership-test.XXXXXX";

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(etcd_dir, sizeof(etcd_dir), "%s", tmpl);
	client_port = free_port();
	do
		peer_port = free_port();
	while (peer_port == client_port);
	snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%d", client_port);
	RUN(test_invalid_config);
	if (!etcd_start()) {
		test_failed++;
		TEST_END();
	}
	RUN(test_client_live);
	RUN(test_membership);
	RUN(test_start_without_etcd);
	RUN(test_tls);
	etcd_kill(SIGTERM);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s.log'", etcd_dir, etcd_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", etcd_dir);
	}
	TEST_END();
}
