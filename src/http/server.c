#include "src/http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "src/http/conn.h"
#include "src/http/path.h"
#include "src/http/request.h"
#include "src/http/tls.h"
#include "src/util/json.h"
#include "src/util/log.h"
#include "src/util/clock.h"
#include "src/util/file.h"
#include "src/util/span.h"
#include "src/util/thread.h"

#define MOD "http"
#define MAX_RESP_HEADERS 8
#define METRICS_BODY_MAX (64u << 20)
#define PG_AUTH_ADDR_TEXT 46

/* ---- route table ----------------------------------------------------------- */

static pg_http_handler_fn handle_metrics, handle_healthz, handle_ready;

/* The server's own routes; opts.routes follow them (pg_http_start). Their
 * handlers get the server as arg. */
static const struct pg_http_route builtin_routes[] = {
	{"/metrics", PG_HTTP_GET | PG_HTTP_HEAD, handle_metrics, NULL, PG_HTTP_GROUP_PUBLIC},
	{"/healthz", PG_HTTP_GET | PG_HTTP_HEAD, handle_healthz, NULL, PG_HTTP_GROUP_PUBLIC},
	{"/ready", PG_HTTP_GET | PG_HTTP_HEAD, handle_ready, NULL, PG_HTTP_GROUP_PUBLIC},
};
#define N_BUILTIN (sizeof(builtin_routes) / sizeof(builtin_routes[0]))
#define N_ROUTES_MAX (N_BUILTIN + PG_HTTP_MAX_ROUTES)
#define ROUTE_OTHER N_ROUTES_MAX /* metrics slot for requests that matched no route */

/* ---- types ---------------------------------------------------------------- */

struct pg_http {
	struct pg_http_opts opts;
	struct MHD_Daemon *daemon;
	int listen_fd;
	int port;
	pthread_mutex_t lock; /* guards ready_fn/arg and the suspended list */
	pg_http_ready_fn *ready_fn;
	void *ready_arg;
	struct pg_http_req *suspended; /* requests suspended by handlers */
	struct pg_http_stream *paused; /* streams waiting for their producer */
	atomic_int inflight;           /* requests between first call and completion */
	struct pg_family *req_total;
	struct pg_http_route routes[N_ROUTES_MAX]; /* builtin_routes, then opts.routes */
	size_t n_routes;
	struct pg_series *duration[N_ROUTES_MAX + 1];
	struct pg_series *tls_failures; /* pprofgate_tls_handshake_failures_total */
	/* The last /metrics rendering, shared by scrapes within
	 * opts.metrics_cache_ms (plain and, lazily, gzipped). */
	pthread_mutex_t cache_lock;
	struct snap *plain, *gz;
	struct timespec rendered_at;
	bool tls;
	char *client_ca; /* PEM text for MHD_OPTION_HTTPS_MEM_TRUST, or NULL */
	/* opts.plain_listen: a second daemon, plain HTTP, public routes only. */
	struct MHD_Daemon *plain_daemon;
	int plain_fd, plain_port;
	/* Slow-client deadlines: every open connection, and a thread that
	 * shuts down those past their deadline (see struct conn). */
	pthread_mutex_t conns_lock;
	pthread_cond_t sweep_cond;
	struct conn *conns;
	pthread_t sweeper;
	bool sweeper_started, stopping;
	struct pg_family *slow_closed; /* pprofgate_http_slow_clients_closed_total */
	struct pg_series *limit_refused_total; /* pprofgate_http_connections_limited_total */
	atomic_ulong limit_refused;            /* since the last log line */
	atomic_llong limit_logged_ms;
};

/* One open connection (MHD's socket context). Its deadline moves with the
 * request: headers due header_timeout_s after the connection or the request
 * line, the body body_timeout_s after the headers, none while a handler
 * runs or the connection waits idle between requests (MHD's idle timeout
 * covers that). */
enum conn_phase { CONN_HEADERS, CONN_BODY, CONN_SERVING, CONN_IDLE };

struct conn {
	struct conn *next, *prev; /* h->conns, under h->conns_lock */
	int fd;
	struct pg_http_conn *watch; /* what it did before a request (conn.h); may be NULL */
	void *memo;               /* the guard's (pg_http_req_conn_memo); its thread only */
	const char *cut;          /* shut down by the sweeper: "header_timeout" or
				   * "body_timeout"; NULL (under the lock) */
	/* Set by the connection's MHD thread without the lock (every request
	 * passes here): since_ms is stored before phase, so a sweeper that
	 * sees a new phase also sees its start. */
	atomic_int phase;         /* enum conn_phase */
	atomic_llong since_ms;    /* CLOCK_MONOTONIC ms at the start of the phase */
};

/* A rendered body shared by concurrent answers; freed with the last one. */
struct snap {
	atomic_int refs;
	size_t len;
	char *data;
	/* One response object for every answer that shares this rendering
	 * (libmicrohttpd responses are reference counted and reusable); it
	 * owns data once created. */
	struct MHD_Response *resp;
};

enum req_state {
	REQ_NEW,       /* first call of the access handler not yet done */
	REQ_BODY,      /* receiving a POST body */
	REQ_SUSPENDED, /* handler suspended it; waiting for a reply */
	REQ_READY,     /* a reply is stored, to be queued */
	REQ_QUEUED     /* response queued */
};

struct pg_http_req {
	pthread_mutex_t lock; /* guards state, resp, refs, conn for suspended requests */
	struct pg_http *h;
	struct MHD_Connection *conn; /* NULL once MHD completed the request */
	const char *method;
	const char *path;
	unsigned method_bit;
	size_t route; /* index in routes[], or ROUTE_OTHER */
	int64_t limit_ms; /* pg_http_req_set_limit_ms; -1 until set */
	enum req_state state;
	int refs;     /* MHD's, plus the owner's while suspended */
	bool answered;
	bool ever_suspended; /* the access handler must not queue before resume */
	bool owner_ref;      /* the owner of a suspended request holds a reference */
	bool listed;         /* on h->suspended */
	struct pg_http_req *next_susp, *prev_susp;
	struct MHD_Response *resp;
	struct snap *snap; /* answer is snap->resp, shared (holds a snap reference) */
	unsigned status;
	struct timespec t0;
	struct pg_buf body;
	struct pg_buf hdrs; /* "name\0value\0" pairs */
	unsigned n_hdrs;
	char *qarena; /* decoded query values */
	size_t qused;
	size_t bytes;  /* response body bytes, for the audit hook */
	struct pg_http_stream *stream; /* a streamed answer counts its own bytes (a reference) */
	bool plain;    /* arrived on the plain_listen daemon */
	/* The request-target as received, copied when libmicrohttpd logs the
	 * URI (before it cuts the query off and before its own refusals drop
	 * the line); an embedded NUL is restored once the handler runs. */
	char *target;
	size_t target_len;
	const char *reason; /* the server's own refusal reason for the audit, "" if none */
	char peer[PG_AUTH_ADDR_TEXT];
	char note[PG_HTTP_NOTE_MAX];
};

/* ---- address parsing ------------------------------------------------------ */

int pg_http_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon, *hs, *he;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (!s || !*s)
		return pg_fail(PG_EINVAL, "empty listen address (want host:port)");
	if (s[0] == '[') {
		he = strchr(s, ']');
		if (!he || he[1] != ':')
			return pg_fail(PG_EINVAL, "listen address \"%s\": want [ipv6]:port", s);
		hs = s + 1;
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return pg_fail(PG_EINVAL, "listen address \"%s\": want host:port (IPv6 in brackets)", s);
		hs = s;
		he = colon;
	}
	if ((size_t)(he - hs) >= sizeof(host) || he == hs)
		return pg_fail(PG_EINVAL, "listen address \"%s\": bad host", s);
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port < 0 || port > 65535 || colon[1] == '-' || colon[1] == '+')
		return pg_fail(PG_EINVAL, "listen address \"%s\": port must be 0..65535", s);
	if (s[0] != '[' && strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return pg_fail(PG_EINVAL, "listen address \"%s\": \"%s\" is not an IPv6 address", s, host);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return pg_fail(PG_EINVAL,
				       "listen address \"%s\": \"%s\" is not an IPv4 address or localhost", s, host);
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
	}
	return PG_OK;
}

static int open_listener(const char *addr, int *fd_out, int *port_out)
{
	struct sockaddr_storage ss, bound;
	socklen_t len, blen = sizeof(bound);
	int fd, one = 1, rc;

	rc = pg_http_parse_addr(addr, &ss, &len);
	if (rc != PG_OK)
		return rc;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pg_fail(PG_ENET, "http: socket for %s: %s", addr, strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
		rc = pg_fail(PG_ENET, "http: cannot listen on %s: %s", addr, strerror(errno));
		goto fail;
	}
	if (listen(fd, SOMAXCONN) != 0 || getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
		rc = pg_fail(PG_ENET, "http: cannot listen on %s: %s", addr, strerror(errno));
		goto fail;
	}
	*port_out = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
						      : ((struct sockaddr_in *)&bound)->sin_port);
	*fd_out = fd;
	return PG_OK;
fail:
	close(fd);
	return rc;
}

/* ---- request accessors ---------------------------------------------------- */

const char *pg_http_req_method(const struct pg_http_req *r)
{
	return r->method;
}

const char *pg_http_req_path(const struct pg_http_req *r)
{
	return r->path;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* MHD hands query values over undecoded (our unescape callback is the
 * identity, so the path stays raw for validation); decode here, '+' as
 * space as in application/x-www-form-urlencoded, which Go's URL.Query() uses. */
const char *pg_http_req_query(struct pg_http_req *r, const char *name)
{
	const size_t cap = PG_HTTP_QUERY_MAX + 1;
	const char *raw;
	char *out;
	size_t n;

	if (!r->conn)
		return NULL;
	raw = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	if (!raw)
		return NULL;
	n = strlen(raw);
	if (!r->qarena && !(r->qarena = malloc(cap)))
		return NULL;
	if (r->qused + n + 1 > cap)
		return NULL;
	out = r->qarena + r->qused;
	for (size_t i = 0, o = 0;; i++) {
		if (raw[i] == '%' && hexval(raw[i + 1]) >= 0 && hexval(raw[i + 2]) >= 0) {
			out[o++] = (char)(hexval(raw[i + 1]) * 16 + hexval(raw[i + 2]));
			i += 2;
		} else if (raw[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = raw[i];
			if (!raw[i]) {
				r->qused += o;
				break;
			}
		}
	}
	return out;
}

const char *pg_http_req_header(struct pg_http_req *r, const char *name)
{
	return r->conn ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name) : NULL;
}

const struct sockaddr *pg_http_req_peer(struct pg_http_req *r)
{
	const union MHD_ConnectionInfo *ci;

	if (!r->conn)
		return NULL;
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	return ci ? ci->client_addr : NULL;
}

static void peer_text(const struct sockaddr *sa, char *buf, size_t n)
{
	if (n == 0)
		return;
	buf[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		(void)inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)n);
	else if (sa && sa->sa_family == AF_INET6)
		(void)inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)n);
}

void pg_http_req_peer_str(struct pg_http_req *r, char *buf, size_t n)
{
	peer_text(pg_http_req_peer(r), buf, n);
}

const void *pg_http_req_body(const struct pg_http_req *r, size_t *len)
{
	*len = r->body.len;
	return r->body.len ? r->body.data : NULL;
}

struct each_ctx {
	const char *name;
	pg_http_each_fn *fn;
	void *arg;
	bool stopped;
};

static enum MHD_Result each_value(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct each_ctx *e = cls;

	(void)kind;
	if (!key || (e->name && strcasecmp(key, e->name) != 0))
		return MHD_YES;
	if (e->fn(e->arg, key, value))
		return MHD_YES;
	e->stopped = true;
	return MHD_NO;
}

static bool values_each(struct pg_http_req *r, enum MHD_ValueKind kind, const char *name, pg_http_each_fn *fn,
			void *arg)
{
	struct each_ctx e = {name, fn, arg, false};

	if (r->conn)
		(void)MHD_get_connection_values(r->conn, kind, each_value, &e);
	return !e.stopped;
}

bool pg_http_req_header_each(struct pg_http_req *r, const char *name, pg_http_each_fn *fn, void *arg)
{
	return values_each(r, MHD_HEADER_KIND, name, fn, arg);
}

bool pg_http_req_query_each(struct pg_http_req *r, pg_http_each_fn *fn, void *arg)
{
	return values_each(r, MHD_GET_ARGUMENT_KIND, NULL, fn, arg);
}

void pg_http_req_set_limit_ms(struct pg_http_req *r, int64_t ms)
{
	r->limit_ms = ms;
}

int64_t pg_http_req_limit_ms(const struct pg_http_req *r)
{
	return r->limit_ms;
}

bool pg_http_req_is_tls(struct pg_http_req *r)
{
	return r->h && r->h->tls && !r->plain;
}

size_t pg_http_req_peer_certs(struct pg_http_req *r, const unsigned char **der, size_t *len, size_t max)
{
	const union MHD_ConnectionInfo *ci;
	const gnutls_datum_t *peers;
	unsigned n = 0;

	if (!r->conn || !pg_http_req_is_tls(r))
		return 0;
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return 0;
	peers = gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
	if (!peers)
		return 0;
	for (unsigned i = 0; i < n && i < max; i++) {
		der[i] = peers[i].data;
		len[i] = peers[i].size;
	}
	return n;
}

void **pg_http_req_conn_memo(struct pg_http_req *r)
{
	const union MHD_ConnectionInfo *ci;
	struct conn *k;

	if (!r->conn || !r->h || !r->h->opts.conn_memo_free)
		return NULL;
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	k = ci ? ci->socket_context : NULL;
	return k ? &k->memo : NULL;
}

char *pg_http_req_note(struct pg_http_req *r)
{
	return r->note;
}


/* ---- responses ------------------------------------------------------------ */

int pg_http_add_header(struct pg_http_req *r, const char *name, const char *value)
{
	int rc;

	if (r->n_hdrs == MAX_RESP_HEADERS)
		return pg_fail(PG_ENOMEM, "more than %d response headers", MAX_RESP_HEADERS);
	/* libmicrohttpd refuses empty values, and CR/LF would split headers. */
	if (!*name || !*value || strpbrk(name, "\r\n: ") || strpbrk(value, "\r\n"))
		return pg_fail(PG_EINVAL, "invalid response header \"%s\"", name);
	rc = pg_buf_append(&r->hdrs, name, strlen(name) + 1);
	if (rc == PG_OK)
		rc = pg_buf_append(&r->hdrs, value, strlen(value) + 1);
	if (rc == PG_OK)
		r->n_hdrs++;
	return rc;
}

static void snap_unref(void *arg);
static void stream_unref(struct pg_http_stream *s);

static void req_free(struct pg_http_req *r)
{
	if (r->stream)
		stream_unref(r->stream);
	if (r->resp)
		MHD_destroy_response(r->resp);
	snap_unref(r->snap);
	pg_buf_free(&r->body);
	pg_buf_free(&r->hdrs);
	free(r->qarena);
	free(r->target);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Stores resp as the answer of r (consumes resp, also on failure). Resumes
 * the connection when r was suspended. Drops the owner's reference of a
 * suspended request: the owner must not touch r afterwards. */
static int set_response(struct pg_http_req *r, unsigned status, const char *ctype, struct MHD_Response *resp)
{
	bool was_suspended, free_now = false;
	int rc = PG_OK;

	if (resp) {
		const char *p = r->hdrs.data;

		if (ctype && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES)
			rc = pg_fail(PG_ENOMEM, "out of memory adding a response header");
		for (unsigned i = 0; i < r->n_hdrs && rc == PG_OK; i++) {
			const char *v = p + strlen(p) + 1;

			if (MHD_add_response_header(resp, p, v) != MHD_YES)
				rc = pg_fail(PG_ENOMEM, "out of memory adding a response header");
			p = v + strlen(v) + 1;
		}
	} else {
		rc = pg_fail(PG_ENOMEM, "out of memory creating a response");
	}
	pthread_mutex_lock(&r->lock);
	was_suspended = r->state == REQ_SUSPENDED;
	if (r->owner_ref) {
		/* The owner of a suspended request drops its reference here. */
		r->owner_ref = false;
		free_now = --r->refs == 0;
	}
	if (r->answered) {
		if (rc == PG_OK)
			rc = pg_fail(PG_EBUSY, "request already answered");
		if (resp)
			MHD_destroy_response(resp);
	} else {
		r->answered = true;
		r->resp = rc == PG_OK ? resp : NULL;
		r->status = rc == PG_OK ? status : 500;
		if (rc != PG_OK && resp)
			MHD_destroy_response(resp);
		r->state = REQ_READY;
		if (was_suspended && r->conn)
			MHD_resume_connection(r->conn);
	}
	pthread_mutex_unlock(&r->lock);
	if (free_now)
		req_free(r);
	return rc;
}

int pg_http_reply(struct pg_http_req *r, unsigned status, const char *content_type, const void *body,
		  size_t len)
{
	r->bytes = len;
	return set_response(r, status, content_type,
			    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY));
}

int pg_http_reply_text(struct pg_http_req *r, unsigned status, const char *content_type, const char *body)
{
	return pg_http_reply(r, status, content_type, body, strlen(body));
}

int pg_http_reply_buf(struct pg_http_req *r, unsigned status, const char *content_type, struct pg_buf *body)
{
	size_t len = 0;
	char *data = pg_buf_steal(body, &len);
	struct MHD_Response *resp;

	if (!data)
		return pg_http_reply(r, status, content_type, "", 0);
	r->bytes = len;
	resp = MHD_create_response_from_buffer_with_free_callback(len, data, free);
	if (!resp)
		free(data);
	return set_response(r, status, content_type, resp);
}

int pg_http_reply_error(struct pg_http_req *r, unsigned status, const char *msg)
{
	struct pg_buf b;
	int rc;

	pg_buf_init(&b, 1024);
	rc = pg_buf_puts(&b, "{\"status\":\"error\",\"error\":");
	if (rc == PG_OK)
		rc = pg_json_write_cstr(&b, msg);
	if (rc == PG_OK)
		rc = pg_buf_puts(&b, "}\n");
	if (rc != PG_OK) {
		pg_buf_free(&b);
		return pg_http_reply_text(r, status, "application/json", "{\"status\":\"error\"}\n");
	}
	return pg_http_reply_buf(r, status, "application/json", &b);
}

int pg_http_reply_shared(struct pg_http_req *r, unsigned status, const char *content_type,
			 const void *data, size_t len, void (*release)(void *arg), void *arg)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer_with_free_callback_cls(len, (void *)data, release, arg);

	r->bytes = len;

	if (!resp && release)
		release(arg);
	return set_response(r, status, content_type, resp);
}

/* A streaming body. A stream fed by another thread (pg_http_reply_stream_wake)
 * may pause its connection: refs counts MHD's response and the producer's
 * handle; conn is NULL once the response is gone. */
struct pg_http_stream {
	pg_http_stream_fn *fn;
	void *arg;
	void (*free_fn)(void *arg);
	pthread_mutex_t lock;
	int refs;
	struct pg_http *h;
	struct MHD_Connection *conn; /* while MHD holds the response */
	bool paused;                 /* the connection is suspended by stream_read */
	bool wake_pending;           /* a wake came while fn was running */
	atomic_bool closing;         /* pg_http_stop gave up waiting: end with an error */
	atomic_size_t sent;          /* body bytes handed to libmicrohttpd */
	struct pg_http_stream *next_paused, *prev_paused; /* h->paused, under h->lock */
};

static void stream_unref(struct pg_http_stream *s)
{
	bool last;

	pthread_mutex_lock(&s->lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (!last)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Lock order: server (h->lock), then stream. */
static void stream_unlist(struct pg_http_stream *s)
{
	struct pg_http *h = s->h;

	if (s->prev_paused)
		s->prev_paused->next_paused = s->next_paused;
	else if (h->paused == s)
		h->paused = s->next_paused;
	if (s->next_paused)
		s->next_paused->prev_paused = s->prev_paused;
	s->next_paused = s->prev_paused = NULL;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct pg_http_stream *s = cls;

	for (;;) {
		ssize_t n = s->closing ? -1 : s->fn(s->arg, pos, buf, max);

		if (n == 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (n > 0)
			atomic_fetch_add(&s->sent, (size_t)n);
		if (n != PG_HTTP_STREAM_WAIT)
			return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
		/* Nothing yet: pause the connection (libmicrohttpd allows it
		 * from the content reader) unless a wake came meanwhile. */
		pthread_mutex_lock(&s->h->lock);
		pthread_mutex_lock(&s->lock);
		if (s->wake_pending || s->closing) {
			s->wake_pending = false;
			pthread_mutex_unlock(&s->lock);
			pthread_mutex_unlock(&s->h->lock);
			continue;
		}
		s->paused = true;
		s->prev_paused = NULL;
		s->next_paused = s->h->paused;
		if (s->h->paused)
			s->h->paused->prev_paused = s;
		s->h->paused = s;
		MHD_suspend_connection(s->conn);
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_unlock(&s->h->lock);
		return 0;
	}
}

/* Resumes a paused stream; h->lock and s->lock held. */
static void stream_resume(struct pg_http_stream *s)
{
	s->paused = false;
	stream_unlist(s);
	MHD_resume_connection(s->conn);
}

void pg_http_stream_wake(struct pg_http_stream *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->h->lock);
	pthread_mutex_lock(&s->lock);
	if (s->paused && s->conn)
		stream_resume(s);
	else
		s->wake_pending = true;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->h->lock);
}

void pg_http_stream_release(struct pg_http_stream **pp)
{
	if (!pp || !*pp)
		return;
	stream_unref(*pp);
	*pp = NULL;
}

static void stream_free(void *cls)
{
	struct pg_http_stream *s = cls;

	pthread_mutex_lock(&s->lock);
	s->conn = NULL;
	pthread_mutex_unlock(&s->lock);
	if (s->free_fn)
		s->free_fn(s->arg);
	stream_unref(s);
}

static int reply_stream(struct pg_http_req *r, unsigned status, const char *content_type, pg_http_stream_fn *fn,
			void *arg, void (*free_fn)(void *arg), struct pg_http_stream **handle)
{
	struct pg_http_stream *s = calloc(1, sizeof(*s));
	struct MHD_Response *resp = NULL;

	if (handle)
		*handle = NULL;
	if (s) {
		s->fn = fn;
		s->arg = arg;
		s->free_fn = free_fn;
		s->h = r->h;
		s->refs = handle ? 3 : 2; /* MHD's response, the request's, the producer's */
		pthread_mutex_init(&s->lock, NULL);
		pthread_mutex_lock(&r->lock);
		s->conn = r->conn;
		pthread_mutex_unlock(&r->lock);
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, stream_read, s, stream_free);
		if (!resp) {
			pthread_mutex_destroy(&s->lock);
			free(s);
		} else {
			r->stream = s;
			if (handle)
				*handle = s;
		}
	}
	if (!resp && free_fn)
		free_fn(arg);
	return set_response(r, status, content_type, resp);
}

int pg_http_reply_stream(struct pg_http_req *r, unsigned status, const char *content_type,
			 pg_http_stream_fn *fn, void *arg, void (*free_fn)(void *arg))
{
	return reply_stream(r, status, content_type, fn, arg, free_fn, NULL);
}

int pg_http_reply_stream_wake(struct pg_http_req *r, unsigned status, const char *content_type,
			      pg_http_stream_fn *fn, void *arg, void (*free_fn)(void *arg),
			      struct pg_http_stream **handle)
{
	return reply_stream(r, status, content_type, fn, arg, free_fn, handle);
}

bool pg_http_req_peer_gone(struct pg_http_req *r)
{
	bool gone = false;

	pthread_mutex_lock(&r->lock);
	if (!r->conn) {
		gone = true;
	} else if (r->state == REQ_SUSPENDED && !r->answered) {
		/* Still suspended and unanswered: MHD has not resumed the
		 * connection, so its socket is open. A suspended connection is
		 * not polled by MHD; peek at it: 0 bytes is the peer's FIN.
		 * Bytes before the FIN (a TLS client's close_notify, which
		 * TLS 1.3 sends as opaque application data) hide it from the
		 * peek; the TCP state still says the peer has closed its side
		 * (CLOSE_WAIT), as Go's server cancels a request whose
		 * connection reads EOF. */
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		char c;

		if (ci) {
			ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

			gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
			if (n > 0) {
				struct tcp_info ti;
				socklen_t tl = sizeof(ti);

				memset(&ti, 0, sizeof(ti));
				gone = getsockopt(ci->connect_fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 &&
				       ti.tcpi_state == TCP_CLOSE_WAIT;
			}
		}
	}
	pthread_mutex_unlock(&r->lock);
	return gone;
}

void pg_http_suspend(struct pg_http_req *r)
{
	struct pg_http *h = r->h;

	/* Lock order: server, then request (as pg_http_stop). */
	pthread_mutex_lock(&h->lock);
	pthread_mutex_lock(&r->lock);
	if (!r->answered && !r->ever_suspended && r->conn) {
		r->state = REQ_SUSPENDED;
		r->ever_suspended = true;
		r->owner_ref = true;
		r->refs++;
		r->listed = true;
		r->prev_susp = NULL;
		r->next_susp = h->suspended;
		if (h->suspended)
			h->suspended->prev_susp = r;
		h->suspended = r;
		MHD_suspend_connection(r->conn);
	}
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_unlock(&h->lock);
}

/* ---- built-in handlers ---------------------------------------------------- */

/* True when the Accept-Encoding header (RFC 9110 section 12.5.3) accepts gzip
 * with a non-zero q. */
static bool accepts_gzip(const char *ae)
{
	while (ae && *ae) {
		const char *end = strchr(ae, ','), *semi;
		size_t n = end ? (size_t)(end - ae) : strlen(ae);

		while (n && (*ae == ' ' || *ae == '\t')) {
			ae++;
			n--;
		}
		semi = memchr(ae, ';', n);
		size_t name_len = semi ? (size_t)(semi - ae) : n;
		while (name_len && (ae[name_len - 1] == ' ' || ae[name_len - 1] == '\t'))
			name_len--;
		if (name_len == 4 && strncasecmp(ae, "gzip", 4) == 0) {
			const char *q = semi ? semi + 1 : NULL;

			while (q && q < ae + n && (*q == ' ' || *q == '\t'))
				q++;
			if (q && q + 1 < ae + n && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
				/* q=0, q=0.0, q=0.000 refuse it. */
				const char *v = q + 2;
				bool zero = v < ae + n && *v == '0';

				for (v++; zero && v < ae + n && *v != ' ' && *v != ';'; v++)
					if (*v != '.' && *v != '0')
						zero = false;
				return !zero;
			}
			return true;
		}
		ae = end ? end + 1 : NULL;
	}
	return false;
}

static int gzip_buf(const struct pg_buf *in, struct pg_buf *out)
{
	z_stream z;
	int zrc;
	uLong bound;
	char *dst;

	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16 writes a gzip header (RFC 1952); level 1 keeps
	 * the cost low: metrics text compresses well at any level. */
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return pg_fail(PG_ENOMEM, "deflateInit2 failed");
	bound = deflateBound(&z, (uLong)in->len);
	dst = malloc(bound);
	if (!dst) {
		deflateEnd(&z);
		return pg_fail(PG_ENOMEM, "out of memory compressing /metrics");
	}
	z.next_in = (Bytef *)in->data;
	z.avail_in = (uInt)in->len;
	z.next_out = (Bytef *)dst;
	z.avail_out = (uInt)bound;
	zrc = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (zrc != Z_STREAM_END) {
		free(dst);
		return pg_fail(PG_EINTERNAL, "deflate failed (%d)", zrc);
	}
	pg_buf_free(out);
	out->data = dst;
	out->len = bound - z.avail_out;
	out->cap = bound;
	out->max = bound;
	return PG_OK;
}

static void snap_unref(void *arg)
{
	struct snap *sn = arg;

	if (sn && atomic_fetch_sub(&sn->refs, 1) == 1) {
		MHD_destroy_response(sn->resp); /* frees data after its last user */
		free(sn);
	}
}

/* Builds sn->resp with the headers every answer sharing it carries. */
static int snap_response(struct snap *sn, bool gz)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(sn->len, sn->data, free);

	if (!resp)
		return pg_fail(PG_ENOMEM, "out of memory creating the /metrics response");
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, PG_METRICS_CONTENT_TYPE) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING) != MHD_YES ||
	    (gz && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip") != MHD_YES)) {
		MHD_destroy_response(resp); /* frees data too */
		sn->data = NULL;
		return pg_fail(PG_ENOMEM, "out of memory creating the /metrics response");
	}
	sn->resp = resp;
	return PG_OK;
}

/* Takes the storage of b (b is left empty); NULL when out of memory. */
static struct snap *snap_new(struct pg_buf *b, bool gz)
{
	struct snap *sn = calloc(1, sizeof(*sn));

	if (!sn)
		return NULL;
	atomic_init(&sn->refs, 1);
	sn->data = pg_buf_steal(b, &sn->len);
	if (!sn->data || snap_response(sn, gz) != PG_OK) {
		free(sn->data);
		free(sn);
		return NULL;
	}
	return sn;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Returns a referenced rendering (gzipped if gz), rendering anew when the
 * cached one is older than the sharing window; *gzp is cleared when gzip
 * was asked for but failed. Caller holds h->cache_lock. */
static struct snap *metrics_snapshot(struct pg_http *h, bool *gzp)
{
	struct pg_buf b, z;
	bool gz = *gzp;
	int rc;

	if (!h->plain || h->opts.metrics_cache_ms < 0 || ms_since(&h->rendered_at) >= h->opts.metrics_cache_ms) {
		pg_buf_init(&b, METRICS_BODY_MAX);
		/* The last rendering's size, and a little: one allocation. */
		rc = pg_buf_reserve(&b, h->plain ? h->plain->len + h->plain->len / 8 : 0);
		if (rc == PG_OK)
			rc = pg_metrics_render(h->opts.metrics, &b);
		if (rc != PG_OK) {
			pg_warn(MOD, "rendering /metrics: %s", pg_errmsg());
			pg_buf_free(&b);
			return NULL;
		}
		snap_unref(h->plain);
		snap_unref(h->gz);
		h->gz = NULL;
		h->plain = snap_new(&b, false);
		pg_buf_free(&b);
		if (!h->plain)
			return NULL;
		clock_gettime(CLOCK_MONOTONIC, &h->rendered_at);
	}
	if (gz && !h->gz) {
		struct pg_buf in = {.data = h->plain->data, .len = h->plain->len};

		pg_buf_init(&z, METRICS_BODY_MAX);
		if (gzip_buf(&in, &z) == PG_OK)
			h->gz = snap_new(&z, true);
		pg_buf_free(&z);
	}
	if (gz && !h->gz)
		gz = false; /* compression failed: plain text is still correct */
	*gzp = gz;
	atomic_fetch_add(gz ? &h->gz->refs : &h->plain->refs, 1);
	return gz ? h->gz : h->plain;
}

static void handle_metrics(struct pg_http_req *r, void *arg)
{
	struct pg_http *h = arg;
	struct snap *sn;
	bool gz;

	if (!h->opts.metrics) {
		pg_http_reply_text(r, 200, PG_METRICS_CONTENT_TYPE, "");
		return;
	}
	gz = accepts_gzip(pg_http_req_header(r, MHD_HTTP_HEADER_ACCEPT_ENCODING));
	pthread_mutex_lock(&h->cache_lock);
	sn = metrics_snapshot(h, &gz);
	pthread_mutex_unlock(&h->cache_lock);
	if (!sn) {
		pg_http_reply_error(r, 500, "cannot render metrics");
		return;
	}
	/* The shared response already carries every header: no per-scrape
	 * response object, header copies or body copy. */
	pthread_mutex_lock(&r->lock);
	r->answered = true;
	r->snap = sn;
	r->bytes = sn->len;
	r->status = 200;
	r->state = REQ_READY;
	pthread_mutex_unlock(&r->lock);
}

static void handle_healthz(struct pg_http_req *r, void *arg)
{
	(void)arg;
	pg_http_reply_text(r, 200, "application/json", "{\"status\":\"ok\"}\n");
}

static void handle_ready(struct pg_http_req *r, void *arg)
{
	struct pg_http *h = arg;
	char reason[256];
	pg_http_ready_fn *fn;
	void *fn_arg;
	bool ready = false;
	struct pg_buf b;
	int rc;

	pthread_mutex_lock(&h->lock);
	fn = h->ready_fn;
	fn_arg = h->ready_arg;
	pthread_mutex_unlock(&h->lock);
	snprintf(reason, sizeof(reason), "starting");
	if (fn) {
		reason[0] = '\0';
		ready = fn(fn_arg, reason, sizeof(reason));
		reason[sizeof(reason) - 1] = '\0';
	}
	if (ready) {
		pg_http_reply_text(r, 200, "application/json", "{\"status\":\"ready\"}\n");
		return;
	}
	pg_buf_init(&b, 1024);
	rc = pg_buf_puts(&b, "{\"status\":\"not ready\",\"reason\":");
	if (rc == PG_OK)
		rc = pg_json_write_cstr(&b, reason[0] ? reason : "unknown");
	if (rc == PG_OK)
		rc = pg_buf_puts(&b, "}\n");
	if (rc == PG_OK) {
		pg_http_reply_buf(r, 503, "application/json", &b);
	} else {
		pg_buf_free(&b);
		pg_http_reply_text(r, 503, "application/json", "{\"status\":\"not ready\"}\n");
	}
}

/* ---- slow clients ---------------------------------------------------------- */

/* Moves connection c to phase p (no-op without a socket context). */
static void conn_phase(struct MHD_Connection *c, enum conn_phase p)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *k = ci ? ci->socket_context : NULL;

	if (k && atomic_load(&k->phase) != (int)p) {
		atomic_store(&k->since_ms, pg_clock_mono_ms());
		atomic_store(&k->phase, (int)p);
	}
}

/* "header_timeout"/"body_timeout" when the sweeper cut connection c, else "". */
static const char *conn_cut_reason(struct pg_http *h, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *k = ci ? ci->socket_context : NULL;
	const char *why;

	if (!k)
		return "";
	pthread_mutex_lock(&h->conns_lock);
	why = k->cut ? k->cut : "";
	pthread_mutex_unlock(&h->conns_lock);
	return why;
}

struct pg_http_conn *pg_http_conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *k = ci ? ci->socket_context : NULL;

	return k ? k->watch : NULL;
}

/* Every second: shut down connections past their header or body deadline.
 * shutdown() (not close()) leaves the descriptor to MHD, which sees the end
 * of the stream and cleans up as for any client that went away; the lock
 * keeps MHD from closing (and reusing) the descriptor meanwhile. Cuts are
 * made in batches, letting connections come and go between them. */
#define SWEEP_BATCH 64

static void *sweep_main(void *arg)
{
	struct pg_http *h = arg;

	pthread_mutex_lock(&h->conns_lock);
	while (!h->stopping) {
		struct timespec wake;
		unsigned cut = 0;
		long long now = pg_clock_mono_ms();

		for (struct conn *k = h->conns; k;) {
			int phase = atomic_load(&k->phase);
			long long age_ms = now - atomic_load(&k->since_ms);
			const char *what = NULL;

			if (!k->cut && phase == CONN_HEADERS && age_ms >= 1000LL * h->opts.header_timeout_s)
				what = "headers";
			else if (!k->cut && phase == CONN_BODY && age_ms >= 1000LL * h->opts.body_timeout_s)
				what = "body";
			if (what) {
				k->cut = what[0] == 'h' ? "header_timeout" : "body_timeout";
				(void)shutdown(k->fd, SHUT_RDWR);
				if (h->slow_closed) {
					const char *v[1] = {what};

					pg_series_add(pg_family_series(h->slow_closed, v), 1);
				}
				pg_debug(MOD, "closed a slow client: %s not complete after %lld ms", what, age_ms);
				if (++cut % SWEEP_BATCH == 0) {
					/* Let MHD threads in; start over (cut ones are skipped). */
					pthread_mutex_unlock(&h->conns_lock);
					sched_yield();
					pthread_mutex_lock(&h->conns_lock);
					if (h->stopping)
						break;
					k = h->conns;
					continue;
				}
			}
			k = k->next;
		}
		clock_gettime(CLOCK_REALTIME, &wake);
		wake.tv_sec += 1;
		(void)pthread_cond_timedwait(&h->sweep_cond, &h->conns_lock, &wake);
	}
	pthread_mutex_unlock(&h->conns_lock);
	return NULL;
}


/* ---- MHD glue ------------------------------------------------------------- */

static unsigned method_bit(const char *m)
{
	if (strcmp(m, MHD_HTTP_METHOD_GET) == 0)
		return PG_HTTP_GET;
	if (strcmp(m, MHD_HTTP_METHOD_HEAD) == 0)
		return PG_HTTP_HEAD;
	if (strcmp(m, MHD_HTTP_METHOD_POST) == 0)
		return PG_HTTP_POST;
	return 0;
}

/* HEAD is allowed wherever GET is (RFC 9110 section 9.3.2); libmicrohttpd
 * sends the headers of the GET answer without its body. */
static unsigned route_methods(const struct pg_http_route *rt)
{
	return rt->methods | ((rt->methods & PG_HTTP_GET) ? PG_HTTP_HEAD : 0);
}

static void allow_header(unsigned methods, char *buf, size_t n)
{
	snprintf(buf, n, "%s%s%s%s%s", (methods & PG_HTTP_GET) ? "GET" : "",
		 (methods & PG_HTTP_GET) && (methods & (PG_HTTP_HEAD | PG_HTTP_POST)) ? ", " : "",
		 (methods & PG_HTTP_HEAD) ? "HEAD" : "",
		 (methods & PG_HTTP_HEAD) && (methods & PG_HTTP_POST) ? ", " : "",
		 (methods & PG_HTTP_POST) ? "POST" : "");
}

/* Identity: keeps the path raw so that path.c sees exactly what was sent;
 * query values are decoded on lookup by pg_http_req_query. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

/* libmicrohttpd's messages carry no peer. Its refusals of requests (the
 * "Error processing request" family, a full header pool) are audited with
 * the peer instead, and clients that went away mid-request are no fault of
 * ours, so those are only debug lines here. Its line for every failed TLS
 * handshake ("received handshake message out of context", also for a scan or
 * a client that refuses our certificate) is dropped: on_connection writes one
 * debug line with the peer and counts it. A flood of connections must not
 * become a flood of log lines: connections refused at the limits
 * (diagnostics.limits) are counted and logged at most once per 10 s with the
 * number since. Anything else stays a warning. */
__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	static const char *const audited[] = {"Error processing request", "Not enough memory in pool to allocate header",
					      "closed by remote side", "socket is closed when reading"};
	struct pg_http *h = cls;
	char msg[512];
	size_t n;
	bool quiet = false;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (h && strstr(msg, "connection limit")) {
		struct timespec now;
		long long ms, last;
		unsigned long k = atomic_fetch_add(&h->limit_refused, 1) + 1;

		if (h->limit_refused_total)
			pg_series_add(h->limit_refused_total, 1);
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
		last = atomic_load(&h->limit_logged_ms);
		if ((last == 0 || ms - last >= 10000) && atomic_compare_exchange_strong(&h->limit_logged_ms, &last, ms)) {
			k = atomic_exchange(&h->limit_refused, 0);
			pg_warn(MOD, "%lu connection(s) closed at once: the listener is at diagnostics.limits."
				     "max_connections or a client address at max_connections_per_ip",
				k);
		}
		return;
	}
	if (strstr(msg, "received handshake message out of context"))
		return;
	for (size_t i = 0; i < sizeof(audited) / sizeof(audited[0]); i++)
		quiet = quiet || strstr(msg, audited[i]) != NULL;
	if (quiet)
		pg_debug(MOD, "libmicrohttpd: %s", msg);
	else
		pg_warn(MOD, "libmicrohttpd: %s", msg);
}

static enum MHD_Result queue(struct pg_http_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	pthread_mutex_lock(&r->lock);
	resp = r->resp;
	r->resp = NULL;
	r->state = REQ_QUEUED;
	pthread_mutex_unlock(&r->lock);
	if (r->snap) {
		ret = MHD_queue_response(r->conn, r->status, r->snap->resp);
		snap_unref(r->snap); /* MHD holds its own reference to the response */
		r->snap = NULL;
		return ret;
	}
	if (!resp) {
		/* set_response ran out of memory: a static 500 needs no allocation
		 * of ours. */
		static const char body[] = "{\"status\":\"error\",\"error\":\"internal error\"}\n";
		resp = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		r->status = 500;
	}
	ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result dispatch(struct pg_http_req *r)
{
	const struct pg_http_route *rt = &r->h->routes[r->route];
	bool suspended;

	if (rt->group == PG_HTTP_GROUP_PPROF) {
		if (!r->h->opts.gate)
			pg_http_reply_error(r, 403, "forbidden");
		else if (!r->h->opts.gate(r, r->h->opts.gate_arg) && !r->answered)
			pg_http_reply_error(r, 403, "forbidden");
	}
	if (rt->group == PG_HTTP_GROUP_PUBLIC && r->h->opts.gate_public &&
	    !r->h->opts.gate_public(r, r->h->opts.gate_public_arg) && !r->answered)
		pg_http_reply_error(r, 403, "forbidden");
	if (!r->answered)
		rt->handler(r, rt->arg);
	/* Once suspended, the owner may answer at any moment; MHD calls us
	 * again after the resume and on_request queues the answer then. */
	pthread_mutex_lock(&r->lock);
	suspended = r->ever_suspended;
	pthread_mutex_unlock(&r->lock);
	if (suspended)
		return MHD_YES;
	if (!r->answered) {
		pg_error(MOD, "handler for %s neither answered nor suspended", rt->path);
		pg_http_reply_error(r, 500, "internal error");
	}
	return queue(r);
}

/* Creates the request when its line has arrived. `uri` is the target as
 * received up to its first NUL byte (libmicrohttpd wrote one over the space
 * before the version); the bytes are copied now because libmicrohttpd later
 * cuts the query off in place and, when it refuses the request itself (431),
 * drops the line buffer. */
static struct pg_http_req *req_new(struct pg_http *h, struct MHD_Connection *c, const char *uri)
{
	struct pg_http_req *r = calloc(1, sizeof(*r));
	size_t n = uri ? strlen(uri) : 0;

	if (!r)
		return NULL;
	r->target = malloc(n + 1);
	if (!r->target) {
		free(r);
		return NULL;
	}
	memcpy(r->target, uri ? uri : "", n + 1);
	r->target_len = n;
	pthread_mutex_init(&r->lock, NULL);
	r->h = h;
	r->conn = c;
	r->method = "-";
	r->path = r->target;
	r->route = ROUTE_OTHER;
	r->refs = 1;
	r->reason = "";
	r->limit_ms = -1;
	if (h->plain_daemon) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON);

		r->plain = ci && ci->daemon == h->plain_daemon;
	}
	pg_buf_init(&r->body, h->opts.max_body);
	pg_buf_init(&r->hdrs, 4096);
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	pg_http_req_peer_str(r, r->peer, sizeof(r->peer));
	atomic_fetch_add(&h->inflight, 1);
	return r;
}

/* MHD_OPTION_URI_LOG_CALLBACK: libmicrohttpd 0.9.75 calls it as soon as the
 * request line is parsed (parse_initial_message_line), before it modifies
 * the target, marks the request "client aware" (so MHD_OPTION_NOTIFY_COMPLETED
 * follows even when libmicrohttpd refuses the headers itself: 431, 400) and
 * stores the return value as the access handler's *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	/* A later request on a kept-alive connection: its headers are due
	 * from now. */
	conn_phase(c, CONN_HEADERS);
	pg_http_conn_request(pg_http_conn_of(c));
	return req_new(cls, c, uri);
}

/* ---- the request as received -----------------------------------------------
 * libmicrohttpd 0.9.75 gives NUL-terminated strings and, for header values,
 * lengths that are strlen() of them (connection_add_header is called with
 * strlen(last), strlen(colon)), so neither shows a NUL sent inside a value.
 * The true lengths come from where the strings lie: the request line and the
 * header lines stay, in order, in the connection's read buffer, from the
 * method to method + MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE (which ends after
 * the empty line). libmicrohttpd wrote NULs over the separators: the space
 * after the method and before the version, each ':' and each line's CR LF
 * (or bare LF). So, with T the request line's terminator length (1 or 2):
 *   - the target is version - url - 1 bytes long;
 *   - each header name starts T bytes after the end of the previous line;
 *   - the block ends 2T bytes after the last line.
 * A value followed by more bytes than T is one with a NUL (and whatever came
 * after it) inside. A line whose layout does not fit (an obs-fold
 * continuation, which libmicrohttpd copies elsewhere; mixed line endings) is
 * refused as malformed. One case stays invisible: a single NUL just before a
 * bare LF in a request whose other lines end in CR LF reads as CR LF; the
 * value seen is then the value sent without that last NUL. */

struct fields {
	struct pg_http_field *f;
	size_t n, cap;
};

static enum MHD_Result collect_field(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
				     const char *value, size_t value_size)
{
	struct fields *fs = cls;

	(void)kind;
	if (fs->n == fs->cap || !key || !value)
		return MHD_NO;
	fs->f[fs->n++] = (struct pg_http_field){key, key_size, value, value_size};
	return MHD_YES;
}

/* Gives each value its true length from where the next line starts, within
 * the header block [line_end, hi) that follows the request line. False when
 * the lines do not lie as described above. */
static bool fit_layout(const char *line_end, const char *hi, struct pg_http_field *f, size_t n)
{
	const char *line;
	size_t term;

	if (n == 0)
		return hi - line_end == 2 || hi - line_end == 4; /* only the empty line */
	if (f[0].name <= line_end || f[0].name - line_end > 2)
		return false;
	term = (size_t)(f[0].name - line_end);
	line = f[0].name;
	for (size_t i = 0; i < n; i++) {
		const char *sep = f[i].name + f[i].name_len, *next, *end;

		/* name, the NUL written over ':', optional whitespace, value */
		if (f[i].name != line || sep >= hi || *sep != '\0' || f[i].value <= sep || f[i].value > hi ||
		    f[i].value_len > (size_t)(hi - f[i].value))
			return false;
		for (const char *p = sep + 1; p < f[i].value; p++)
			if (*p != ' ' && *p != '\t')
				return false;
		next = i + 1 < n ? f[i + 1].name : hi - term; /* the next line, or the empty one */
		if (next < f[i].value + term)
			return false;
		end = next - term;
		if (end < f[i].value + f[i].value_len)
			return false; /* a shorter terminator than the request line's */
		f[i].value_len = (size_t)(end - f[i].value);
		line = next;
	}
	return true;
}

/* Checks the request as received (src/http/request.h) and restores a NUL
 * inside the target into r->target for the audit line. NULL: fine. */
static const struct pg_http_fault *check_received(struct pg_http_req *r, struct MHD_Connection *c, const char *url,
						  const char *method, const char *version)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	const struct pg_http_fault *fault = &pg_http_fault_malformed;
	struct fields fs = {0};
	const char *hi;
	size_t target_len;
	int count;

	if (!ci || !url || !method || !version)
		return fault;
	hi = method + ci->header_size;
	if (!(method < url && url < version && strlen(version) == 8 && version + 8 < hi))
		return fault;
	target_len = (size_t)(version - 1 - url);
	if (target_len < r->target_len)
		return fault;
	if (target_len > r->target_len) {
		/* A NUL inside the target. libmicrohttpd has since written NULs
		 * over the query's '?', '&' and '=' after it too; the audit
		 * line shows those as NULs. */
		char *t = realloc(r->target, target_len + 1);

		if (!t)
			return fault;
		memcpy(t + r->target_len, url + r->target_len, target_len - r->target_len);
		t[target_len] = '\0';
		r->target = t;
		r->target_len = target_len;
	}
	count = MHD_get_connection_values_n(c, MHD_HEADER_KIND, NULL, NULL);
	fs.cap = count > 0 ? (size_t)count : 0;
	if (fs.cap && !(fs.f = calloc(fs.cap, sizeof(*fs.f))))
		return fault;
	if (fs.cap)
		(void)MHD_get_connection_values_n(c, MHD_HEADER_KIND, collect_field, &fs);
	if (fs.n == fs.cap && fit_layout(version + 8, hi, fs.f, fs.n))
		fault = pg_http_request_check(method, (size_t)(url - 1 - method), r->target, r->target_len, fs.f,
					      fs.n);
	free(fs.f);
	return fault;
}

/* MHD calls this once when the headers are in, then for each body chunk,
 * then once more with *upload_size == 0. Answers are queued only on that
 * last call: MHD 0.9.75 closes the connection (no keep-alive) when a
 * response is queued before the request was read completely. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size,
				  void **con_cls)
{
	struct pg_http *h = cls;
	struct pg_http_req *r = *con_cls;
	const struct pg_http_fault *fault;
	struct pg_http_target t;
	int bad;

	if (!r) {
		/* The URI log callback ran out of memory. */
		r = req_new(h, c, url);
		if (!r)
			return MHD_NO;
		*con_cls = r;
	}
	if (r->state == REQ_NEW) {
		conn_phase(c, CONN_BODY); /* the headers are in */
		r->state = REQ_BODY;
		r->method = method;
		r->method_bit = method_bit(method);
		r->path = url; /* libmicrohttpd has cut the query off */
		fault = check_received(r, c, url, method, version);
		if (fault) {
			r->reason = fault->reason;
			pg_http_reply_error(r, 400, fault->message);
			return MHD_YES;
		}
		bad = pg_http_target_parse(r->target, r->target_len, &t);
		if (bad) {
			r->reason = bad == 414 ? "uri_too_long" : "bad_path";
			pg_http_reply_error(r, (unsigned)bad, bad == 414 ? "uri too long" : "bad request path");
			return MHD_YES;
		}
		/* The plain listener next to an HTTPS one has no profile routes:
		 * they answer 404 there, as if they did not exist. */
		for (size_t i = 0; i < h->n_routes; i++)
			if (strlen(h->routes[i].path) == t.path_len &&
			    memcmp(h->routes[i].path, t.path, t.path_len) == 0 &&
			    !(r->plain && h->routes[i].group == PG_HTTP_GROUP_PPROF))
				r->route = i;
		if (r->route == ROUTE_OTHER) {
			r->reason = "not_found";
			pg_http_reply_error(r, 404, "not found");
		} else if (!(r->method_bit & route_methods(&h->routes[r->route]))) {
			char allow[32];

			allow_header(route_methods(&h->routes[r->route]), allow, sizeof(allow));
			if (pg_http_add_header(r, MHD_HTTP_HEADER_ALLOW, allow) != PG_OK)
				pg_debug(MOD, "no room for the Allow header");
			r->reason = "method_not_allowed";
			pg_http_reply_error(r, 405, "method not allowed");
		}
		return MHD_YES;
	}
	if (*upload_size) {
		/* Only POST keeps its body; other bodies are read and dropped.
		 * An oversized body is drained too and answered 413 at the end:
		 * answering mid-upload makes clients see a reset, not the 413. */
		if (r->state == REQ_BODY && r->method_bit == PG_HTTP_POST &&
		    pg_buf_append(&r->body, upload_data, *upload_size) != PG_OK) {
			pg_buf_free(&r->body);
			r->reason = "body_too_large";
			pg_http_reply_error(r, 413, "request body too large");
		}
		*upload_size = 0;
		return MHD_YES;
	}
	switch (r->state) {
	case REQ_BODY:
		conn_phase(c, CONN_SERVING);
		return dispatch(r);
	case REQ_READY:
		return queue(r);
	default:
		return MHD_YES; /* suspended, or already queued */
	}
}

static double since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The audit reason of a request libmicrohttpd answered (or dropped) itself. */
static const char *mhd_refusal_reason(unsigned status, enum MHD_RequestTerminationCode toe)
{
	switch (status) {
	case 0:
		return toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout" : "incomplete_request";
	case 400:
		return "malformed_request";
	case 413:
		return "body_too_large";
	case 414:
		return "uri_too_long";
	case 431:
		return "header_too_large";
	default:
		return "refused_by_server";
	}
}

/* One audit line for a connection that carried no request. */
static void audit_connection(struct pg_http *h, const char *peer, unsigned status, const char *reason,
			     const char *target, size_t target_len)
{
	struct pg_http_done_info di = {
		.method = "-",
		.path = target,
		.path_len = target_len,
		.route = "other",
		.peer = peer,
		.status = status,
		.note = "",
		.reason = reason,
	};

	if (h->opts.done)
		h->opts.done(h->opts.done_arg, &di);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct pg_http *h = cls;
	struct pg_http_req *r = *con_cls;
	bool free_now, gated;

	conn_phase(c, CONN_IDLE);
	if (!r)
		return;
	*con_cls = NULL;
	if (!r->answered) {
		/* libmicrohttpd refused the request itself (431, 400, 413): the
		 * response it queued is still attached here (MHD_connection_close_
		 * notifies before it destroys the response). No response: the
		 * request never completed (timeout, client gone). */
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);

		r->status = ci ? ci->http_status : 0;
		if (!r->reason[0])
			r->reason = conn_cut_reason(h, c);
		if (!r->reason[0])
			r->reason = mhd_refusal_reason(r->status, toe);
	}
	if (pg_span_active()) {
		int64_t t0 = (int64_t)r->t0.tv_sec * 1000000000 + r->t0.tv_nsec;

		pg_span_event("http", r->route == ROUTE_OTHER ? "other" : h->routes[r->route].path, t0,
			       pg_clock_mono_ns() - t0);
	}
	if (h->req_total && r->status) {
		char code[12];
		const char *labels[2];

		snprintf(code, sizeof(code), "%u", r->status);
		labels[0] = r->route == ROUTE_OTHER ? "other" : h->routes[r->route].path;
		labels[1] = code;
		pg_series_add(pg_family_series(h->req_total, labels), 1);
		pg_series_observe(h->duration[r->route], since(&r->t0));
	}
	gated = r->route != ROUTE_OTHER && h->routes[r->route].group == PG_HTTP_GROUP_PPROF;
	/* Every diagnostics request and every refusal, on any route and
	 * either listener; successful public answers only when asked. */
	if (h->opts.done && (gated || r->reason[0] || (r->status >= 400 && r->status < 500) ||
			     h->opts.audit_public_success)) {
		struct pg_http_done_info di = {
			/* MHD's method string may be gone by now. */
			.method = r->state == REQ_NEW		  ? "-"
				  : r->method_bit == PG_HTTP_GET  ? "GET"
				  : r->method_bit == PG_HTTP_HEAD ? "HEAD"
				  : r->method_bit == PG_HTTP_POST ? "POST"
								  : "other",
			.path = r->target,
			.path_len = r->target_len,
			.route = r->route == ROUTE_OTHER ? "other" : h->routes[r->route].path,
			.gated = gated,
			.peer = r->peer,
			.status = r->status,
			.bytes = r->stream ? atomic_load(&r->stream->sent) : r->bytes,
			.duration_s = since(&r->t0),
			.note = r->note,
			.reason = r->reason,
		};
		h->opts.done(h->opts.done_arg, &di);
	}
	pthread_mutex_lock(&h->lock);
	if (r->listed) {
		if (r->prev_susp)
			r->prev_susp->next_susp = r->next_susp;
		else
			h->suspended = r->next_susp;
		if (r->next_susp)
			r->next_susp->prev_susp = r->prev_susp;
		r->listed = false;
	}
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_lock(&r->lock);
	r->conn = NULL;
	r->h = NULL;
	free_now = --r->refs == 0;
	pthread_mutex_unlock(&r->lock);
	atomic_fetch_sub(&h->inflight, 1);
	if (free_now)
		req_free(r);
}

/* MHD_OPTION_NOTIFY_CONNECTION on every daemon: watches each connection's
 * beginning (src/http/conn.h) and, when it closes, audits what never became
 * a request: a failed handshake, plain HTTP on the HTTPS port, a request
 * line libmicrohttpd refused. libmicrohttpd 0.9.75 calls CLOSED after it
 * freed the TLS session and the request's memory (MHD_cleanup_connections),
 * so nothing here touches them; the peer address and the socket are still
 * there (freed and closed after the call). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct pg_http *h = cls;
	struct pg_http_conn *wc;
	struct conn *k = *socket_context;
	const union MHD_ConnectionInfo *ci;
	const char *target = "";
	size_t target_len = 0;
	char peer[PG_AUTH_ADDR_TEXT];

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *si = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
		const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (!fi || !(k = calloc(1, sizeof(*k))))
			return; /* unwatched: only libmicrohttpd's idle timeout applies */
		k->fd = fi->connect_fd;
		atomic_init(&k->since_ms, pg_clock_mono_ms());
		atomic_init(&k->phase, CONN_HEADERS);
		k->watch = pg_http_conn_watch(si ? (gnutls_session_t)si->tls_session : NULL, fi->connect_fd);
		if (si && si->tls_session) {
			/* GnuTLS writes a handshake flight as several records, one
			 * send each: with Nagle's algorithm on, the second waits
			 * for the client's delayed ACK (40 ms on Linux) in every
			 * handshake. libmicrohttpd sets TCP_NODELAY only around
			 * its responses; Go sets it on every connection. */
			int one = 1;

			(void)setsockopt(fi->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (pg_http_tls_session_init((gnutls_session_t)si->tls_session) != PG_OK) {
				pg_warn(MOD, "%s", pg_errmsg());
				pg_err_clear();
			}
		}
		pthread_mutex_lock(&h->conns_lock);
		k->next = h->conns;
		if (h->conns)
			h->conns->prev = k;
		h->conns = k;
		pthread_mutex_unlock(&h->conns_lock);
		*socket_context = k;
		return;
	}
	*socket_context = NULL;
	if (!k)
		return;
	/* Off the sweeper's list before libmicrohttpd closes the socket (right
	 * after this call): the sweeper only shuts down listed sockets. */
	pthread_mutex_lock(&h->conns_lock);
	if (k->prev)
		k->prev->next = k->next;
	else
		h->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	pthread_mutex_unlock(&h->conns_lock);
	wc = k->watch;
	if (k->memo)
		h->opts.conn_memo_free(k->memo);
	free(k);
	if (!wc)
		return;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	peer_text(ci ? ci->client_addr : NULL, peer, sizeof(peer));
	switch (pg_http_conn_outcome(wc, &target, &target_len)) {
	case PG_HTTP_CONN_TLS_FAILED:
		pg_debug(MOD, "TLS handshake with %s failed", peer);
		if (h->tls_failures)
			pg_series_add(h->tls_failures, 1);
		audit_connection(h, peer, 0, "tls_handshake_failed", "", 0);
		break;
	case PG_HTTP_CONN_PLAIN_ON_TLS:
		pg_debug(MOD, "plain HTTP from %s on the HTTPS port: answered 400", peer);
		audit_connection(h, peer, 400, "http_on_https_port", target, target_len);
		break;
	case PG_HTTP_CONN_NO_REQUEST:
		/* A request line refused by libmicrohttpd (414, 400, 505, or
		 * dropped), or one that never finished: which, and the status, it
		 * does not tell. */
		audit_connection(h, peer, 0, "bad_request_line", "", 0);
		break;
	default:
		break;
	}
	pg_http_conn_free(&wc);
}

static int metrics_init(struct pg_http *h)
{
	static const char *const total_labels[] = {"route", "code"};
	static const char *const dur_labels[] = {"route"};
	/* Go client defaults, extended downwards: most answers take < 1 ms. */
	static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
	struct pg_family *dur;
	int rc;

	if (!h->opts.metrics)
		return PG_OK;
	rc = pg_metrics_family(h->opts.metrics, PG_METRIC_COUNTER, "pprofgate_http_requests_total",
			       "HTTP requests answered, by route and status code.", total_labels, 2, NULL, 0,
			       &h->req_total);
	if (rc == PG_OK)
		rc = pg_metrics_family(h->opts.metrics, PG_METRIC_HISTOGRAM,
				       "pprofgate_http_request_duration_seconds",
				       "Time from request headers to the end of the answer, by route.", dur_labels, 1,
				       buckets, sizeof(buckets) / sizeof(buckets[0]), &dur);
	if (rc == PG_OK) {
		static const char *const phase_labels[] = {"phase"};

		rc = pg_metrics_family(h->opts.metrics, PG_METRIC_COUNTER, "pprofgate_http_slow_clients_closed_total",
				       "Connections shut down because their request headers or body did not arrive "
				       "in time (diagnostics.limits.header_timeout, body_timeout), by phase.",
				       phase_labels, 1, NULL, 0, &h->slow_closed);
	}
	if (rc == PG_OK) {
		struct pg_family *lim;

		rc = pg_metrics_family(h->opts.metrics, PG_METRIC_COUNTER, "pprofgate_http_connections_limited_total",
				       "Connections closed at once because the listener was at "
				       "diagnostics.limits.max_connections or the client address at "
				       "max_connections_per_ip.",
				       NULL, 0, NULL, 0, &lim);
		if (rc == PG_OK && !(h->limit_refused_total = pg_family_series(lim, NULL)))
			rc = pg_fail(PG_ENOMEM, "out of memory creating HTTP metrics");
	}
	if (rc == PG_OK && h->tls) {
		struct pg_family *f;

		rc = pg_metrics_family(h->opts.metrics, PG_METRIC_COUNTER, "pprofgate_tls_handshake_failures_total",
				       "Connections to the HTTPS listener that sent bytes but completed no TLS "
				       "handshake (plain HTTP excluded).",
				       NULL, 0, NULL, 0, &f);
		if (rc == PG_OK && !(h->tls_failures = pg_family_series(f, NULL)))
			rc = pg_fail(PG_ENOMEM, "out of memory creating HTTP metrics");
	}
	for (size_t i = 0; rc == PG_OK && i <= ROUTE_OTHER; i++) {
		const char *v[1] = {i == ROUTE_OTHER ? "other" : h->routes[i].path};

		if (i >= h->n_routes && i != ROUTE_OTHER)
			continue;
		h->duration[i] = pg_family_series(dur, v);
		if (!h->duration[i])
			rc = pg_fail(PG_ENOMEM, "out of memory creating HTTP metrics");
	}
	return rc;
}

/* builtin_routes then opts->routes into h->routes: each path absolute and
 * answered once, with a handler and at least one method. */
static int routes_init(struct pg_http *h, const struct pg_http_opts *opts)
{
	if (opts->n_routes > PG_HTTP_MAX_ROUTES)
		return pg_fail(PG_EINVAL, "http: %zu routes, at most %d", opts->n_routes, PG_HTTP_MAX_ROUTES);
	h->n_routes = 0;
	for (size_t i = 0; i < N_BUILTIN && !opts->no_builtin_routes; i++) {
		h->routes[i] = builtin_routes[i];
		h->routes[i].arg = h;
		h->n_routes++;
	}
	for (size_t i = 0; i < opts->n_routes; i++) {
		const struct pg_http_route *rt = &opts->routes[i];

		if (!rt->path || rt->path[0] != '/' || !rt->handler || !rt->methods)
			return pg_fail(PG_EINVAL, "http: route %zu needs a path starting with '/', a handler and methods", i);
		for (size_t j = 0; j < h->n_routes; j++)
			if (strcmp(h->routes[j].path, rt->path) == 0)
				return pg_fail(PG_EINVAL, "http: route %s given twice", rt->path);
		h->routes[h->n_routes++] = *rt;
	}
	return PG_OK;
}

static int need_key(const struct pg_http_opts *o)
{
	if (!o->tls_key_file || !*o->tls_key_file)
		return pg_fail(PG_EINVAL, "http: TLS certificate %s given without a key file", o->tls_cert_file);
	return PG_OK;
}

int pg_http_check_opts(const struct pg_http_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char *ca = NULL;
	size_t ca_len = 0;
	int rc = pg_http_parse_addr(o->listen ? o->listen : "", &ss, &len);

	if (rc == PG_OK && o->plain_listen && *o->plain_listen)
		rc = pg_http_parse_addr(o->plain_listen, &ss, &len);
	if (rc == PG_OK && o->tls_cert_file && *o->tls_cert_file) {
		rc = need_key(o);
		if (rc == PG_OK)
			rc = pg_http_tls_check(o->tls_cert_file, o->tls_key_file);
		if (rc == PG_OK && o->tls_client_ca_file && *o->tls_client_ca_file)
			rc = pg_file_read(o->tls_client_ca_file, 1u << 20, 0, &ca, &ca_len);
		free(ca);
	}
	return rc;
}

int pg_http_start(const struct pg_http_opts *opts, struct pg_http **out)
{
	struct pg_http *h = calloc(1, sizeof(*h));
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	int rc;

	*out = NULL;
	if (!h)
		return pg_fail(PG_ENOMEM, "out of memory starting the HTTP server");
	h->opts = *opts;
	h->listen_fd = -1;
	h->plain_fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->cache_lock, NULL);
	pthread_mutex_init(&h->conns_lock, NULL);
	pthread_cond_init(&h->sweep_cond, NULL);
	if (!h->opts.header_timeout_s)
		h->opts.header_timeout_s = 10;
	if (!h->opts.body_timeout_s)
		h->opts.body_timeout_s = 30;
	if (!h->opts.metrics_cache_ms)
		h->opts.metrics_cache_ms = PG_HTTP_METRICS_CACHE_MS;
	if (!h->opts.max_connections)
		h->opts.max_connections = 256;
	if (!h->opts.timeout_s)
		h->opts.timeout_s = 30;
	if (!h->opts.max_body)
		h->opts.max_body = 64 * 1024;
	if (!h->opts.stop_timeout_ms)
		h->opts.stop_timeout_ms = 5000;
	if (!h->opts.threads)
		h->opts.threads = 1;
	h->tls = opts->tls_cert_file && *opts->tls_cert_file;
	rc = routes_init(h, opts);
	if (rc == PG_OK)
		rc = metrics_init(h);
	if (rc == PG_OK && h->tls) {
		size_t ca_len = 0;

		rc = need_key(opts);
		if (rc == PG_OK)
			rc = pg_http_tls_install(opts->tls_cert_file, opts->tls_key_file);
		if (rc == PG_OK && opts->tls_client_ca_file && *opts->tls_client_ca_file)
			rc = pg_file_read(opts->tls_client_ca_file, 1u << 20, 0, &h->client_ca, &ca_len);
		/* poll(), not epoll: libmicrohttpd 0.9.75 in epoll mode keeps a
		 * connection whose TLS handshake waits for the client in its
		 * ready list, so the polling thread spins (epoll_wait with no
		 * timeout, recv, EAGAIN) until the client's next flight: a
		 * ClientHello and silence held a CPU at 100 % until the header
		 * deadline, and every handshake cost ~3x its crypto.
		 * poll() waits for the socket. Its cost grows with the open
		 * connections (docs/performance.md); the plain listener, which
		 * has no handshake, keeps epoll. */
		flags |= MHD_USE_TLS | MHD_USE_POLL;
	} else {
		flags |= MHD_USE_EPOLL;
	}
	if (rc == PG_OK)
		rc = open_listener(opts->listen ? opts->listen : "", &h->listen_fd, &h->port);
	if (rc != PG_OK)
		goto fail;
	if (strchr(opts->listen, '['))
		flags |= MHD_USE_IPv6;
	{
		/* MHD_OPTION_HTTPS_MEM_TRUST only makes the server *request* a
		 * client certificate (GNUTLS_CERT_REQUEST); the gate verifies
		 * it on every protected request. */
		/* MHD takes the callback through a void * slot; ISO C has no
		 * function-to-object pointer cast, a union does the same. */
		union {
			gnutls_certificate_retrieve_function2 *fn;
			void *p;
		} cb = {.fn = pg_http_tls_retrieve};
		struct MHD_OptionItem tls_opts[] = {
			{h->tls ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END, 0, cb.p},
			{h->tls ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, 0,
			 (void *)pg_http_tls_priorities(opts->tls13_only)},
			{h->client_ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, h->client_ca},
			/* In an option array the callback travels in `value`. */
			{MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h},
			{MHD_OPTION_END, 0, NULL},
		};
		struct MHD_OptionItem packed[5];
		size_t n = 0;

		for (size_t i = 0; i < 5; i++)
			if (tls_opts[i].option != MHD_OPTION_END)
				packed[n++] = tls_opts[i];
		packed[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
		h->daemon = MHD_start_daemon(
			flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
			MHD_OPTION_LISTEN_SOCKET, h->listen_fd, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
			MHD_OPTION_URI_LOG_CALLBACK, on_uri, h, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_CONNECTION_LIMIT,
			h->opts.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->opts.max_per_ip,
			MHD_OPTION_CONNECTION_TIMEOUT, h->opts.timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			(size_t)(32 * 1024), MHD_OPTION_ARRAY, packed,
			h->opts.threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, h->opts.threads,
			MHD_OPTION_END);
	}
	if (!h->daemon) {
		rc = pg_fail(PG_ENET, "http: libmicrohttpd could not start on %s", opts->listen);
		goto fail;
	}
	if (opts->plain_listen && *opts->plain_listen) {
		unsigned pflags = (flags & ~(unsigned)(MHD_USE_TLS | MHD_USE_IPv6 | MHD_USE_POLL)) | MHD_USE_EPOLL;
		struct MHD_OptionItem notify[] = {
			{MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h},
			{MHD_OPTION_END, 0, NULL},
		};

		rc = open_listener(opts->plain_listen, &h->plain_fd, &h->plain_port);
		if (rc != PG_OK) {
			MHD_stop_daemon(h->daemon);
			goto fail;
		}
		if (strchr(opts->plain_listen, '['))
			pflags |= MHD_USE_IPv6;
		h->plain_daemon = MHD_start_daemon(
			pflags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
			MHD_OPTION_LISTEN_SOCKET, h->plain_fd, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
			MHD_OPTION_URI_LOG_CALLBACK, on_uri, h, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_CONNECTION_LIMIT,
			h->opts.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->opts.max_per_ip,
			MHD_OPTION_CONNECTION_TIMEOUT, h->opts.timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			(size_t)(32 * 1024), MHD_OPTION_ARRAY, notify, MHD_OPTION_END);
		if (!h->plain_daemon) {
			close(h->plain_fd);
			MHD_stop_daemon(h->daemon);
			rc = pg_fail(PG_ENET, "http: libmicrohttpd could not start on %s", opts->plain_listen);
			goto fail;
		}
		pg_info(MOD, "plain HTTP on %s (port %d): /metrics, /healthz, /ready only", opts->plain_listen,
			h->plain_port);
	}
	if (pg_thread_create(&h->sweeper, "http-sweep", sweep_main, h) != PG_OK) {
		rc = pg_fail(PG_EINTERNAL, "http: cannot start the slow-client sweeper: %s", pg_errmsg());
		if (h->plain_daemon)
			MHD_stop_daemon(h->plain_daemon);
		MHD_stop_daemon(h->daemon);
		goto fail;
	}
	h->sweeper_started = true;
	pg_info(MOD, "listening on %s (port %d%s)", opts->listen, h->port,
		h->tls ? (h->client_ca ? ", HTTPS, client certificates requested" : ", HTTPS") : "");
	*out = h;
	return PG_OK;
fail:
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	free(h->client_ca);
	pthread_cond_destroy(&h->sweep_cond);
	pthread_mutex_destroy(&h->conns_lock);
	pthread_mutex_destroy(&h->cache_lock);
	pthread_mutex_destroy(&h->lock);
	free(h);
	return rc;
}

int pg_http_reload_tls(struct pg_http *h)
{
	if (!h || !h->tls)
		return PG_OK;
	return pg_http_tls_install(h->opts.tls_cert_file, h->opts.tls_key_file);
}

int pg_http_port(const struct pg_http *h)
{
	return h ? h->port : -1;
}

int pg_http_plain_port(const struct pg_http *h)
{
	return h && h->plain_daemon ? h->plain_port : -1;
}

void pg_http_set_ready_fn(struct pg_http *h, pg_http_ready_fn *fn, void *arg)
{
	pthread_mutex_lock(&h->lock);
	h->ready_fn = fn;
	h->ready_arg = arg;
	pthread_mutex_unlock(&h->lock);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Waits until no request is in flight or `ms` passed; true when drained. */
static bool drain(struct pg_http *h, unsigned ms)
{
	for (unsigned waited = 0; atomic_load(&h->inflight) > 0; waited += 10) {
		if (waited >= ms)
			return false;
		sleep_ms(10);
	}
	return true;
}

void pg_http_stop(struct pg_http **pp)
{
	struct pg_http *h;
	MHD_socket fd;

	if (!pp || !*pp)
		return;
	h = *pp;
	/* Stop accepting: the listening socket leaves MHD and is closed. */
	fd = MHD_quiesce_daemon(h->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	if (h->plain_daemon && (fd = MHD_quiesce_daemon(h->plain_daemon)) != MHD_INVALID_SOCKET)
		close(fd);
	if (!drain(h, h->opts.stop_timeout_ms)) {
		unsigned n = 0;

		/* Suspended requests whose owner is still busy get a 503 now;
		 * the owner's later reply finds them answered. */
		pthread_mutex_lock(&h->lock);
		for (struct pg_http_req *r = h->suspended; r; r = r->next_susp) {
			pthread_mutex_lock(&r->lock);
			if (!r->answered && r->conn) {
				struct MHD_Response *resp =
					MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
				r->answered = true;
				r->resp = resp;
				r->status = resp ? 503 : 500;
				r->state = REQ_READY;
				MHD_resume_connection(r->conn);
				n++;
			}
			pthread_mutex_unlock(&r->lock);
		}
		pthread_mutex_unlock(&h->lock);
		/* Streams still waiting for their producer end with an error. */
		pthread_mutex_lock(&h->lock);
		while (h->paused) {
			struct pg_http_stream *s = h->paused;

			pthread_mutex_lock(&s->lock);
			s->closing = true;
			stream_resume(s);
			pthread_mutex_unlock(&s->lock);
			n++;
		}
		pthread_mutex_unlock(&h->lock);
		pg_warn(MOD, "stop: requests still running after %u ms (%u suspended answered 503 or ended)",
			h->opts.stop_timeout_ms, n);
		(void)drain(h, 500);
	}
	pthread_mutex_lock(&h->conns_lock);
	h->stopping = true;
	pthread_cond_signal(&h->sweep_cond);
	pthread_mutex_unlock(&h->conns_lock);
	if (h->sweeper_started)
		pthread_join(h->sweeper, NULL);
	MHD_stop_daemon(h->daemon);
	if (h->plain_daemon)
		MHD_stop_daemon(h->plain_daemon);
	snap_unref(h->plain);
	snap_unref(h->gz);
	if (h->tls)
		pg_http_tls_release();
	free(h->client_ca);
	pthread_cond_destroy(&h->sweep_cond);
	pthread_mutex_destroy(&h->conns_lock);
	pthread_mutex_destroy(&h->cache_lock);
	pthread_mutex_destroy(&h->lock);
	free(h);
	*pp = NULL;
}
