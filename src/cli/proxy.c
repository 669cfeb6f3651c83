/* pprofgatectl proxy: a local forwarder to one node's diagnostics routes,
 * like `kubectl proxy`. Tools that cannot present a client certificate or a
 * bearer token (Debian 12's `go tool pprof` ignores -tls_cert for URLs; no
 * pprof tool sends a token; curl scripts written for an open node) talk plain
 * HTTP to 127.0.0.1, and the proxy forwards each request to the node with the
 * operator's credentials, exactly as `fetch` sends them (src/cli/upstream.c).
 * The node sees, checks and audits the operator, never the proxy.
 *
 * Local side: the project's HTTP transport (src/http, its own routes off),
 * loopback addresses only, the routes Go's net/http/pprof serves plus
 * /healthz and /ready; everything else answers 404 there without reaching
 * the node. Each request is suspended and handed to a worker thread (at most
 * MAX_JOBS at once) that forwards it with libcurl: no total timeout short of
 * the capture (?seconds=N plus --timeout plus a margin), so long captures
 * run; a client that goes away cancels the upstream request, which cancels
 * the node's capture. The node's status, content type, refusal body and
 * capture headers come back unchanged; the body is relayed as it arrives
 * (pg_http_reply_stream_wake: the worker fills a bounded buffer and wakes the
 * connection, and waits while the client is slower than the node). Request
 * bodies (the POST of /debug/pprof/symbol) are read whole first, up to
 * MAX_BODY. One log line per request on stderr; SIGINT/SIGTERM stop it: the
 * listener closes, transfers in flight are cancelled, then it exits 0. */
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "src/cli/args.h"
#include "src/cli/cmd.h"
#include "src/http/server.h"
#include "src/util/buf.h"
#include "src/util/log.h"
#include "src/util/thread.h"

#define PFX "pprofgatectl proxy"
#define MAX_JOBS 32
#define MAX_BODY (1024u * 1024u)
#define RELAY_BUF (256u * 1024u)
#define MAX_HDRS 6

static void proxy_usage(FILE *f)
{
	fputs("usage: pprofgatectl proxy [--listen 127.0.0.1:6060]\n"
	      "Forwards http://LISTEN/debug/pprof/* (and /healthz, /ready) to the node at --node\n"
	      "(PPROFGATE_NODE) with your credentials: --cert/--key (mTLS, with --cacert) or a\n"
	      "bearer token from PPROFGATE_TOKEN. Then, unchanged:\n"
	      "  go tool pprof http://127.0.0.1:6060/debug/pprof/heap\n"
	      "  go tool pprof -http=127.0.0.1:8081 'http://127.0.0.1:6060/debug/pprof/profile?seconds=10'\n"
	      "  curl -o trace.json 'http://127.0.0.1:6060/debug/pprof/trace?seconds=5'\n"
	      "LISTEN must be a loopback address (127.0.0.0/8, [::1], localhost): anyone who can\n"
	      "connect to it acts as you. The node still needs an open diagnostics window.\n"
	      "One line per request on stderr; Ctrl-C stops it.\n",
	      f);
}

/* Go's net/http/pprof routes (what pprof tools ask for) and the health routes. */
static const char *const forwarded[] = {
	"/debug/pprof/",          "/debug/pprof/profile", "/debug/pprof/heap",   "/debug/pprof/allocs",
	"/debug/pprof/goroutine", "/debug/pprof/threadcreate", "/debug/pprof/mutex", "/debug/pprof/block",
	"/debug/pprof/cmdline",   "/debug/pprof/symbol",  "/debug/pprof/trace",  "/healthz",
	"/ready",
};
#define N_FORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

/* Response headers of the node passed back besides Content-Type. */
static const char *const passed[MAX_HDRS] = {"X-Pprofgate-Capture", "X-Pprofgate-Capture-Seconds",
					     "Content-Disposition", "WWW-Authenticate", "Retry-After", "Allow"};

struct proxy {
	struct pg_cli_upstream u;
	atomic_int jobs;     /* workers running */
	atomic_bool stopping;
	pthread_mutex_t lock;
	pthread_cond_t idle; /* signalled when jobs drops to 0 */
};

/* One forwarded request, shared by its worker and (once answered) the
 * server's stream; freed by the last of the two. */
struct job {
	struct proxy *p;
	struct pg_http_req *r; /* until answered */
	CURL *h;               /* the worker's handle */
	pthread_mutex_t lock;
	pthread_cond_t space;  /* the buffer has room, or the client is gone */
	int refs;
	char url[4096];
	unsigned method;       /* PG_HTTP_GET / HEAD / POST */
	void *body;            /* POST body (copy) */
	size_t body_len;
	long timeout_s;
	/* the node's answer */
	long status;
	char ctype[128];
	char hdr[MAX_HDRS][256];
	bool answered;         /* r was answered (with a stream or at the end) */
	struct pg_http_stream *stream;
	char *buf;             /* relay buffer: [off, len) not yet sent */
	size_t off, len;
	bool done, failed;     /* the node's body ended (failed: mid-way) */
	bool gone;             /* the server no longer wants bytes */
};

static void job_unref(struct job *j)
{
	bool last;

	pthread_mutex_lock(&j->lock);
	last = --j->refs == 0;
	pthread_mutex_unlock(&j->lock);
	if (!last)
		return;
	pg_http_stream_release(&j->stream);
	pthread_cond_destroy(&j->space);
	pthread_mutex_destroy(&j->lock);
	free(j->buf);
	free(j->body);
	free(j);
}

/* ---- the node's answer, relayed ---- */

static ssize_t relay_read(void *arg, unsigned long long pos, char *out, size_t max)
{
	struct job *j = arg;
	ssize_t n;

	(void)pos;
	pthread_mutex_lock(&j->lock);
	if (j->off < j->len) {
		size_t k = j->len - j->off < max ? j->len - j->off : max;

		memcpy(out, j->buf + j->off, k);
		j->off += k;
		if (j->off == j->len)
			j->off = j->len = 0;
		pthread_cond_signal(&j->space);
		n = (ssize_t)k;
	} else if (j->done) {
		n = j->failed ? -1 : 0;
	} else {
		n = PG_HTTP_STREAM_WAIT;
	}
	pthread_mutex_unlock(&j->lock);
	return n;
}

static void relay_free(void *arg)
{
	struct job *j = arg;

	pthread_mutex_lock(&j->lock);
	j->gone = true;
	pthread_cond_signal(&j->space);
	pthread_mutex_unlock(&j->lock);
	job_unref(j);
}

/* Answers r with what the node sent so far: status, headers, and a relayed
 * body (or an empty one for HEAD and bodiless answers). */
static void answer(struct job *j, bool with_stream)
{
	unsigned st = j->status >= 100 && j->status <= 599 ? (unsigned)j->status : 502;

	for (size_t i = 0; i < MAX_HDRS; i++)
		if (j->hdr[i][0] && pg_http_add_header(j->r, passed[i], j->hdr[i]) != PG_OK)
			pg_err_clear(); /* a value the transport refuses is dropped */
	j->answered = true;
	if (!with_stream) {
		(void)pg_http_reply(j->r, st, j->ctype[0] ? j->ctype : NULL, "", 0);
		return;
	}
	pthread_mutex_lock(&j->lock);
	j->refs++; /* the stream's */
	pthread_mutex_unlock(&j->lock);
	(void)pg_http_reply_stream_wake(j->r, st, j->ctype[0] ? j->ctype : NULL, relay_read, j, relay_free,
					&j->stream);
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct job *j = arg;
	size_t len = sz * n, nl, vl, i;
	char *vstart;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* a new status line (after a 100 Continue): forget the last block */
		j->ctype[0] = '\0';
		memset(j->hdr, 0, sizeof(j->hdr));
		return len;
	}
	vstart = memchr(p, ':', len);
	if (!vstart)
		return len;
	nl = (size_t)(vstart - p);
	for (i = nl + 1; i < len && p[i] == ' '; i++)
		;
	for (vl = 0; i + vl < len && (unsigned char)p[i + vl] >= 0x20 && p[i + vl] != 0x7f; vl++)
		;
	if (nl == 12 && strncasecmp(p, "Content-Type", 12) == 0 && vl < sizeof(j->ctype)) {
		memcpy(j->ctype, p + i, vl);
		j->ctype[vl] = '\0';
	}
	for (size_t k = 0; k < MAX_HDRS; k++)
		if (strlen(passed[k]) == nl && strncasecmp(p, passed[k], nl) == 0 && vl > 0 &&
		    vl < sizeof(j->hdr[k])) {
			memcpy(j->hdr[k], p + i, vl);
			j->hdr[k][vl] = '\0';
		}
	return len;
}

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct job *j = arg;
	size_t len = sz * n, done = 0;

	if (!j->answered) {
		curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &j->status);
		answer(j, true);
	}
	pthread_mutex_lock(&j->lock);
	while (done < len) {
		size_t k;

		/* the worker waits while the client is slower than the node */
		while (!j->gone && j->len == RELAY_BUF)
			pthread_cond_wait(&j->space, &j->lock);
		if (j->gone)
			break;
		k = RELAY_BUF - j->len < len - done ? RELAY_BUF - j->len : len - done;
		memcpy(j->buf + j->len, p + done, k);
		j->len += k;
		done += k;
		pthread_mutex_unlock(&j->lock);
		pg_http_stream_wake(j->stream);
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	return done == len ? len : 0; /* 0: the client went away, stop */
}

/* Until the answer starts: a client that went away (or Ctrl-C) cancels the
 * request, and so the node's capture. */
static int on_progress(void *arg, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln)
{
	struct job *j = arg;

	(void)dlt;
	(void)dln;
	(void)ult;
	(void)uln;
	if (atomic_load(&j->p->stopping))
		return 1;
	return !j->answered && pg_http_req_peer_gone(j->r) ? 1 : 0;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	struct proxy *p = j->p;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *h = curl_easy_init();
	CURLcode cc = CURLE_OUT_OF_MEMORY;

	j->h = h;
	if (h) {
		pg_cli_upstream_setup(h, &p->u, j->url, j->timeout_s, errbuf);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, j);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, j);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, j);
		if (j->method == PG_HTTP_HEAD) {
			curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		} else if (j->method == PG_HTTP_POST) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->body ? (const char *)j->body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)j->body_len);
		}
		j->status = 0;
		cc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &j->status);
	}
	if (!j->answered) {
		if (cc == CURLE_OK) {
			answer(j, false);
		} else {
			char msg[CURL_ERROR_SIZE + 64];

			snprintf(msg, sizeof(msg), "pprofgatectl proxy: cannot reach the node: %s",
				 errbuf[0] ? errbuf : curl_easy_strerror(cc));
			j->answered = true;
			(void)pg_http_reply_error(j->r, atomic_load(&p->stopping) ? 503 : 502, msg);
		}
	} else {
		pthread_mutex_lock(&j->lock);
		j->done = true;
		j->failed = cc != CURLE_OK;
		pthread_mutex_unlock(&j->lock);
		pg_http_stream_wake(j->stream);
		if (cc != CURLE_OK && !j->gone)
			fprintf(stderr, "%s: the node's answer to %s broke off: %s\n", PFX, j->url,
				errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}
	if (h)
		curl_easy_cleanup(h);
	job_unref(j);
	pthread_mutex_lock(&p->lock);
	if (atomic_fetch_sub(&p->jobs, 1) == 1)
		pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- the local side ---- */

struct qjoin {
	char *out;
	size_t cap, n;
	bool overflow;
};

/* Rebuilds the query as sent: the transport turned '+' into ' ' and kept
 * percent escapes; a target holds no raw space, so ' ' was '+'. */
static bool add_arg(void *arg, const char *name, const char *value)
{
	struct qjoin *q = arg;
	int w = snprintf(q->out + q->n, q->cap - q->n, "%s%s%s%s", q->n ? "&" : "", name, value ? "=" : "",
			 value ? value : "");

	if (w < 0 || (size_t)w >= q->cap - q->n) {
		q->overflow = true;
		return false;
	}
	for (size_t i = q->n; i < q->n + (size_t)w; i++)
		if (q->out[i] == ' ')
			q->out[i] = '+';
	q->n += (size_t)w;
	return true;
}

static void handle(struct pg_http_req *r, void *arg)
{
	struct proxy *p = arg;
	const char *secs = pg_http_req_query(r, "seconds"), *m = pg_http_req_method(r);
	char query[2100];
	struct qjoin q = {query, sizeof(query), 0, false};
	struct job *j;
	const void *body;
	size_t blen = 0;
	long seconds = 0;
	pthread_t th;

	query[0] = '\0';
	if (atomic_load(&p->stopping)) {
		pg_http_reply_error(r, 503, "pprofgatectl proxy: stopping");
		return;
	}
	if (!pg_http_req_query_each(r, add_arg, &q) || q.overflow) {
		pg_http_reply_error(r, 414, "pprofgatectl proxy: query too long");
		return;
	}
	if (secs) {
		char *end;

		seconds = strtol(secs, &end, 10);
		if (*end || end == secs || seconds < 0 || seconds > 3600)
			seconds = 0; /* the node refuses it; no longer timeout for it */
	}
	if (atomic_fetch_add(&p->jobs, 1) >= MAX_JOBS) {
		atomic_fetch_sub(&p->jobs, 1);
		if (pg_http_add_header(r, "Retry-After", "1") != PG_OK)
			pg_err_clear();
		pg_http_reply_error(r, 503, "pprofgatectl proxy: too many requests in flight");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j)
		j->buf = malloc(RELAY_BUF);
	body = pg_http_req_body(r, &blen);
	if (j && blen) {
		j->body = malloc(blen);
		if (j->body)
			memcpy(j->body, body, blen);
	}
	if (!j || !j->buf || (blen && !j->body)) {
		if (j) {
			free(j->buf);
			free(j->body);
			free(j);
		}
		atomic_fetch_sub(&p->jobs, 1);
		pg_http_reply_error(r, 500, "pprofgatectl proxy: out of memory");
		return;
	}
	j->p = p;
	j->r = r;
	j->refs = 1;
	j->body_len = blen;
	j->method = strcmp(m, "HEAD") == 0 ? PG_HTTP_HEAD : strcmp(m, "POST") == 0 ? PG_HTTP_POST : PG_HTTP_GET;
	/* Go's pprof allows 1.5 x seconds for a capture; give the node that
	 * plus the connect timeout, and a minute for anything else. */
	j->timeout_s = seconds + seconds / 2 + p->u.c->timeout_s + 60;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->space, NULL);
	if ((size_t)snprintf(j->url, sizeof(j->url), "%s%s%s%s", p->u.base, pg_http_req_path(r), q.n ? "?" : "",
			     query) >= sizeof(j->url)) {
		atomic_fetch_sub(&p->jobs, 1);
		pg_http_reply_error(r, 414, "pprofgatectl proxy: URL too long");
		job_unref(j);
		return;
	}
	pg_http_suspend(r);
	if (pg_thread_create(&th, "proxy-fwd", worker, j) != PG_OK) {
		atomic_fetch_sub(&p->jobs, 1);
		pg_http_reply_error(r, 500, "pprofgatectl proxy: cannot start a thread");
		job_unref(j);
		return;
	}
	pthread_detach(th);
}

/* One line per request: what came in, what the node answered. */
static void log_done(void *arg, const struct pg_http_done_info *info)
{
	char path[256];
	size_t n = 0;
	time_t now = time(NULL);
	struct tm tm;
	char ts[32];

	(void)arg;
	for (size_t i = 0; i < info->path_len && n + 1 < sizeof(path); i++)
		path[n++] = (unsigned char)info->path[i] >= 0x20 && (unsigned char)info->path[i] < 0x7f ? info->path[i] : '?';
	path[n] = '\0';
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s %s %s -> %u, %zu bytes, %.3f s\n", ts, info->method, path, info->status, info->bytes,
		info->duration_s);
}

/* Loopback only: 127.0.0.0/8 or ::1 (pg_http_parse_addr maps "localhost"). */
static bool loopback(const char *listen)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (pg_http_parse_addr(listen, &ss, &len) != PG_OK) {
		pg_err_clear();
		return false;
	}
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr);
	return false;
}

int pg_cli_cmd_proxy(struct pg_cli_conn *c, int argc, char **argv)
{
	const char *listen = "127.0.0.1:6060", *v;
	struct pg_http_route routes[N_FORWARDED];
	struct pg_http_opts o = {0};
	struct pg_http *srv = NULL;
	struct proxy p = {0};
	sigset_t set;
	int sig = 0, rc;

	for (int i = 0; i < argc; i++) {
		int m;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			proxy_usage(stdout);
			return PG_CLI_OK;
		}
		if ((m = pg_cli_flag(argc, argv, &i, "--listen", &v)) == 1) {
			listen = v;
		} else {
			fprintf(stderr, "%s: %s %s\n", PFX, argv[i], m == -1 ? "needs a value" : "is not expected here");
			return PG_CLI_USAGE;
		}
	}
	if (!loopback(listen)) {
		fprintf(stderr, "%s: --listen must be a loopback address such as 127.0.0.1:6060 or [::1]:6060 "
				"(\"%.80s\" is not): whoever reaches the proxy acts with your credentials\n",
			PFX, listen);
		return PG_CLI_USAGE;
	}
	/* Signals are taken by sigwait below; threads started from here on
	 * inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((rc = pg_cli_upstream_open(c, PFX, &p.u)) != PG_CLI_OK)
		return rc;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.idle, NULL);
	for (size_t i = 0; i < N_FORWARDED; i++) {
		routes[i] = (struct pg_http_route){forwarded[i], PG_HTTP_GET, handle, &p, PG_HTTP_GROUP_PUBLIC};
		if (strcmp(forwarded[i], "/debug/pprof/symbol") == 0)
			routes[i].methods |= PG_HTTP_POST; /* pprof's remote symbolization */
	}
	o.listen = listen;
	o.routes = routes;
	o.n_routes = N_FORWARDED;
	o.no_builtin_routes = true;
	o.threads = 2;
	o.max_connections = 64;
	o.max_body = MAX_BODY;
	o.stop_timeout_ms = 1000;
	o.done = log_done;
	o.audit_public_success = true;
	pg_log_set_level(PG_LOG_ERROR);
	if (pg_http_start(&o, &srv) != PG_OK) {
		fprintf(stderr, "%s: cannot listen: %s\n", PFX, pg_errmsg());
		rc = PG_CLI_FAILED;
		goto out;
	}
	fprintf(stderr, "%s: forwarding http://%s/debug/pprof/ (and /healthz, /ready) to %s as %s; Ctrl-C stops\n",
		PFX, listen, p.u.base, p.u.identity);
	do {
		if (sigwait(&set, &sig) != 0)
			break;
	} while (sig == SIGPIPE);
	fprintf(stderr, "%s: stopping (%s)\n", PFX, sig == SIGTERM ? "SIGTERM" : "SIGINT");
	/* Cancel the transfers (their progress callbacks see the flag within
	 * a second), then close the listener and wait for the workers. */
	atomic_store(&p.stopping, true);
	pg_http_stop(&srv);
	pthread_mutex_lock(&p.lock);
	while (atomic_load(&p.jobs) > 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		if (pthread_cond_timedwait(&p.idle, &p.lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&p.lock);
	rc = PG_CLI_OK;
out:
	pg_cli_upstream_close(&p.u);
	curl_global_cleanup();
	return rc;
}
