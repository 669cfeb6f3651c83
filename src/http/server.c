#include "src/http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "src/http/path.h"
#include "src/http/tls.h"
#include "src/pprof/routes.h"
#include "src/pprof/trace.h"
#include "src/util/log.h"

#define MOD "http"
#define MAX_RESP_HEADERS 8
#define METRICS_BODY_MAX (64u << 20)
#define PG_AUTH_ADDR_TEXT 46

/* ---- route table ---------------------------------------------------------- */

static pg_http_handler_fn handle_metrics, handle_healthz, handle_ready;

struct route {
	const char *path;
	unsigned methods;
	pg_http_handler_fn *handler;
	enum pg_http_group group;
};

/* Every route the server answers. The /debug/pprof/ routes join here with
 * PG_HTTP_GROUP_PPROF; the gate in dispatch() covers them all. */
static const struct route routes[] = {
	{"/metrics", PG_HTTP_GET | PG_HTTP_HEAD, handle_metrics, PG_HTTP_GROUP_PUBLIC},
	{"/healthz", PG_HTTP_GET | PG_HTTP_HEAD, handle_healthz, PG_HTTP_GROUP_PUBLIC},
	{"/ready", PG_HTTP_GET | PG_HTTP_HEAD, handle_ready, PG_HTTP_GROUP_PUBLIC},
	/* Go's net/http/pprof routes (src/pprof/routes.h). */
	{"/debug/pprof/", PG_HTTP_GET, pg_pprof_handle_index, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/profile", PG_HTTP_GET, pg_pprof_handle_profile, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/heap", PG_HTTP_GET, pg_pprof_handle_heap, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/allocs", PG_HTTP_GET, pg_pprof_handle_allocs, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/goroutine", PG_HTTP_GET, pg_pprof_handle_goroutine, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/threadcreate", PG_HTTP_GET, pg_pprof_handle_threadcreate, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/mutex", PG_HTTP_GET, pg_pprof_handle_mutex, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/block", PG_HTTP_GET, pg_pprof_handle_block, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/cmdline", PG_HTTP_GET, pg_pprof_handle_cmdline, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/symbol", PG_HTTP_GET | PG_HTTP_POST, pg_pprof_handle_symbol, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/trace", PG_HTTP_GET, pg_pprof_handle_trace, PG_HTTP_GROUP_PPROF},
#ifdef PG_HTTP_TEST_ROUTES
	/* tests/unit/http_test.c compiles this file with extra routes. */
	PG_HTTP_TEST_ROUTES
#endif
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))
#define ROUTE_OTHER N_ROUTES /* metrics slot for requests that matched no route */

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
	atomic_int inflight;           /* requests between first call and completion */
	struct pg_family *req_total;
	struct pg_series *duration[N_ROUTES + 1];
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
	bool plain;    /* arrived on the plain_listen daemon */
	bool audited;  /* reported to opts.done when complete */
	char apath[161];
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
	if (listen(fd, 512) != 0 || getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
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

void pg_http_req_peer_str(struct pg_http_req *r, char *buf, size_t n)
{
	const struct sockaddr *sa = pg_http_req_peer(r);

	if (n == 0)
		return;
	buf[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		(void)inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)n);
	else if (sa && sa->sa_family == AF_INET6)
		(void)inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)n);
}

const void *pg_http_req_body(const struct pg_http_req *r, size_t *len)
{
	*len = r->body.len;
	return r->body.len ? r->body.data : NULL;
}

struct MHD_Connection *pg_http_req_connection(struct pg_http_req *r)
{
	return r->conn;
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

char *pg_http_req_note(struct pg_http_req *r)
{
	return r->note;
}

void *pg_http_req_route_arg(const struct pg_http_req *r)
{
	return r->h ? r->h->opts.route_arg : NULL;
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

static void req_free(struct pg_http_req *r)
{
	if (r->resp)
		MHD_destroy_response(r->resp);
	snap_unref(r->snap);
	pg_buf_free(&r->body);
	pg_buf_free(&r->hdrs);
	free(r->qarena);
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

/* JSON string contents: escapes what RFC 8259 requires. */
static int json_escape(struct pg_buf *b, const char *s)
{
	int rc = PG_OK;

	for (; *s && rc == PG_OK; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			rc = pg_buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			rc = pg_buf_printf(b, "\\u%04x", c);
		else
			rc = pg_buf_append(b, s, 1);
	}
	return rc;
}

int pg_http_reply_error(struct pg_http_req *r, unsigned status, const char *msg)
{
	struct pg_buf b;
	int rc;

	pg_buf_init(&b, 1024);
	rc = pg_buf_puts(&b, "{\"status\":\"error\",\"error\":\"");
	if (rc == PG_OK)
		rc = json_escape(&b, msg);
	if (rc == PG_OK)
		rc = pg_buf_puts(&b, "\"}\n");
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

struct stream {
	pg_http_stream_fn *fn;
	void *arg;
	void (*free_fn)(void *arg);
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	ssize_t n = s->fn(s->arg, pos, buf, max);

	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	if (s->free_fn)
		s->free_fn(s->arg);
	free(s);
}

int pg_http_reply_stream(struct pg_http_req *r, unsigned status, const char *content_type,
			 pg_http_stream_fn *fn, void *arg, void (*free_fn)(void *arg))
{
	struct stream *s = malloc(sizeof(*s));
	struct MHD_Response *resp = NULL;

	if (s) {
		s->fn = fn;
		s->arg = arg;
		s->free_fn = free_fn;
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, stream_read, s, stream_free);
		if (!resp)
			free(s);
	}
	if (!resp && free_fn)
		free_fn(arg);
	return set_response(r, status, content_type, resp);
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
		 * not polled by MHD; peek at it: 0 bytes is the peer's FIN. */
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		char c;

		if (ci) {
			ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

			gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
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
	rc = pg_buf_puts(&b, "{\"status\":\"not ready\",\"reason\":\"");
	if (rc == PG_OK)
		rc = json_escape(&b, reason[0] ? reason : "unknown");
	if (rc == PG_OK)
		rc = pg_buf_puts(&b, "\"}\n");
	if (rc == PG_OK) {
		pg_http_reply_buf(r, 503, "application/json", &b);
	} else {
		pg_buf_free(&b);
		pg_http_reply_text(r, 503, "application/json", "{\"status\":\"not ready\"}\n");
	}
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
static unsigned route_methods(const struct route *rt)
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

__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
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
	const struct route *rt = &routes[r->route];
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
		rt->handler(r, rt->group == PG_HTTP_GROUP_PUBLIC ? (void *)r->h : r->h->opts.route_arg);
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

static void *req_new(struct pg_http *h, struct MHD_Connection *c, const char *method, const char *url)
{
	struct pg_http_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->h = h;
	r->conn = c;
	r->method = method;
	r->path = url;
	r->method_bit = method_bit(method);
	r->route = ROUTE_OTHER;
	r->refs = 1;
	if (h->plain_daemon) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON);

		r->plain = ci && ci->daemon == h->plain_daemon;
	}
	pg_buf_init(&r->body, h->opts.max_body);
	pg_buf_init(&r->hdrs, 4096);
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	if (h->opts.done && strstr(url, "debug")) {
		r->audited = true;
		snprintf(r->apath, sizeof(r->apath), "%s", url);
		pg_http_req_peer_str(r, r->peer, sizeof(r->peer));
	}
	atomic_fetch_add(&h->inflight, 1);
	return r;
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
	struct pg_http_target t;
	int bad;

	(void)version;
	if (!r) {
		r = req_new(h, c, method, url);
		if (!r)
			return MHD_NO;
		*con_cls = r;
		r->state = REQ_BODY;
		bad = pg_http_target_parse(url, strlen(url), &t);
		if (bad) {
			pg_http_reply_error(r, (unsigned)bad, bad == 414 ? "uri too long" : "bad request path");
			return MHD_YES;
		}
		/* The plain listener next to an HTTPS one has no profile routes:
		 * they answer 404 there, as if they did not exist. */
		for (size_t i = 0; i < N_ROUTES; i++)
			if (strcmp(routes[i].path, url) == 0 && !(r->plain && routes[i].group == PG_HTTP_GROUP_PPROF))
				r->route = i;
		if (r->route == ROUTE_OTHER) {
			pg_http_reply_error(r, 404, "not found");
		} else if (!(r->method_bit & route_methods(&routes[r->route]))) {
			char allow[32];

			allow_header(route_methods(&routes[r->route]), allow, sizeof(allow));
			if (pg_http_add_header(r, MHD_HTTP_HEADER_ALLOW, allow) != PG_OK)
				pg_debug(MOD, "no room for the Allow header");
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
			pg_http_reply_error(r, 413, "request body too large");
		}
		*upload_size = 0;
		return MHD_YES;
	}
	switch (r->state) {
	case REQ_BODY:
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

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct pg_http *h = cls;
	struct pg_http_req *r = *con_cls;
	bool free_now;

	(void)c;
	(void)toe;
	if (!r)
		return;
	*con_cls = NULL;
	if (pg_trace_active()) {
		int64_t t0 = (int64_t)r->t0.tv_sec * 1000000000 + r->t0.tv_nsec;

		pg_trace_event("http", r->route == ROUTE_OTHER ? "other" : routes[r->route].path, t0,
			       pg_trace_now_ns() - t0);
	}
	if (h->req_total && r->status) {
		char code[12];
		const char *labels[2];

		snprintf(code, sizeof(code), "%u", r->status);
		labels[0] = r->route == ROUTE_OTHER ? "other" : routes[r->route].path;
		labels[1] = code;
		pg_series_add(pg_family_series(h->req_total, labels), 1);
		pg_series_observe(h->duration[r->route], since(&r->t0));
	}
	if (r->audited && h->opts.done) {
		struct pg_http_done_info di = {
			/* MHD's method string may be gone by now. */
			.method = r->method_bit == PG_HTTP_GET    ? "GET"
				  : r->method_bit == PG_HTTP_HEAD ? "HEAD"
				  : r->method_bit == PG_HTTP_POST ? "POST"
								  : "other",
			.path = r->apath,
			.route = r->route == ROUTE_OTHER ? "other" : routes[r->route].path,
			.gated = r->route != ROUTE_OTHER && routes[r->route].group == PG_HTTP_GROUP_PPROF,
			.peer = r->peer,
			.status = r->status,
			.bytes = r->bytes,
			.duration_s = since(&r->t0),
			.note = r->note,
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

/* Connection notification: nothing per connection yet; requests carry state. */

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
	for (size_t i = 0; rc == PG_OK && i <= N_ROUTES; i++) {
		const char *v[1] = {i == ROUTE_OTHER ? "other" : routes[i].path};

		h->duration[i] = pg_family_series(dur, v);
		if (!h->duration[i])
			rc = pg_fail(PG_ENOMEM, "out of memory creating HTTP metrics");
	}
	return rc;
}

int pg_http_start(const struct pg_http_opts *opts, struct pg_http **out)
{
	struct pg_http *h = calloc(1, sizeof(*h));
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	int rc;

	*out = NULL;
	if (!h)
		return pg_fail(PG_ENOMEM, "out of memory starting the HTTP server");
	h->opts = *opts;
	h->listen_fd = -1;
	h->plain_fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->cache_lock, NULL);
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
	rc = metrics_init(h);
	if (rc == PG_OK && h->tls) {
		size_t ca_len = 0;

		if (!opts->tls_key_file || !*opts->tls_key_file)
			rc = pg_fail(PG_EINVAL, "http: TLS certificate %s given without a key file", opts->tls_cert_file);
		if (rc == PG_OK)
			rc = pg_http_tls_install(opts->tls_cert_file, opts->tls_key_file);
		if (rc == PG_OK && opts->tls_client_ca_file && *opts->tls_client_ca_file)
			rc = pg_http_tls_read_file(opts->tls_client_ca_file, 1u << 20, &h->client_ca, &ca_len);
		flags |= MHD_USE_TLS;
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
			{MHD_OPTION_END, 0, NULL},
		};
		struct MHD_OptionItem packed[4];
		size_t n = 0;

		for (size_t i = 0; i < 4; i++)
			if (tls_opts[i].option != MHD_OPTION_END)
				packed[n++] = tls_opts[i];
		packed[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
		h->daemon = MHD_start_daemon(
			flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
			MHD_OPTION_LISTEN_SOCKET, h->listen_fd, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_CONNECTION_LIMIT,
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
		unsigned pflags = flags & ~(unsigned)(MHD_USE_TLS | MHD_USE_IPv6);

		rc = open_listener(opts->plain_listen, &h->plain_fd, &h->plain_port);
		if (rc != PG_OK) {
			MHD_stop_daemon(h->daemon);
			goto fail;
		}
		if (strchr(opts->plain_listen, '['))
			pflags |= MHD_USE_IPv6;
		h->plain_daemon = MHD_start_daemon(
			pflags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
			MHD_OPTION_LISTEN_SOCKET, h->plain_fd, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_CONNECTION_LIMIT,
			h->opts.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->opts.max_per_ip,
			MHD_OPTION_CONNECTION_TIMEOUT, h->opts.timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			(size_t)(32 * 1024), MHD_OPTION_END);
		if (!h->plain_daemon) {
			close(h->plain_fd);
			MHD_stop_daemon(h->daemon);
			rc = pg_fail(PG_ENET, "http: libmicrohttpd could not start on %s", opts->plain_listen);
			goto fail;
		}
		pg_info(MOD, "plain HTTP on %s (port %d): /metrics, /healthz, /ready only", opts->plain_listen,
			h->plain_port);
	}
	pg_info(MOD, "listening on %s (port %d%s)", opts->listen, h->port,
		h->tls ? (h->client_ca ? ", HTTPS, client certificates requested" : ", HTTPS") : "");
	*out = h;
	return PG_OK;
fail:
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	free(h->client_ca);
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
		pg_warn(MOD, "stop: requests still running after %u ms (%u suspended answered 503)",
			h->opts.stop_timeout_ms, n);
		(void)drain(h, 500);
	}
	MHD_stop_daemon(h->daemon);
	if (h->plain_daemon)
		MHD_stop_daemon(h->plain_daemon);
	snap_unref(h->plain);
	snap_unref(h->gz);
	if (h->tls)
		pg_http_tls_release();
	free(h->client_ca);
	pthread_mutex_destroy(&h->cache_lock);
	pthread_mutex_destroy(&h->lock);
	free(h);
	*pp = NULL;
}
