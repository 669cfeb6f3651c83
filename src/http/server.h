/* The HTTP server: a transport. It answers /metrics, /healthz and /ready
 * itself and the routes its caller lists (src/main_routes.c: /debug/pprof/).
 *
 * Built on libmicrohttpd (internal polling threads: opts.threads on the main
 * listener, one on the plain one; poll() on an HTTPS listener, epoll on a
 * plain one, see pg_http_start; suspend/resume enabled so that long handlers
 * never pin a thread).
 *
 * Routing. The server's own routes and opts.routes (struct pg_http_route:
 * exact path, also its metrics label; allowed methods; handler and its arg;
 * group, which names the guard). The request
 * line and headers as received are checked first (src/http/request.h: a NUL
 * or control byte, a repeated Authorization answer 400), then the raw
 * request-target (src/http/path.h: non-canonical spellings answer 400 and
 * never reach a route), then it is matched exactly; no route answers 404, a route
 * without the method answers 405 with an Allow header. HEAD is allowed where
 * GET is, and answers without a body. Every route of group PG_HTTP_GROUP_PPROF
 * passes through opts.gate first: the one place where the security gateway
 * hooks in.
 *
 * Request/response API for handlers. A handler gets a struct pg_http_req and
 * must, before returning, either answer it (pg_http_reply*) or suspend it
 * (pg_http_suspend) and answer it later from any thread. A handler that does
 * neither gets a 500. All strings returned by the accessors are owned by the
 * request and valid until it is answered.
 *
 *     static void hello(struct pg_http_req *r, void *arg)
 *     {
 *             const char *who = pg_http_req_query(r, "name");
 *             pg_http_reply_text(r, 200, "text/plain", who ? who : "anon");
 *     }
 *
 * Long work (a 30 s CPU profile):
 *
 *     pg_http_suspend(r);            // in the handler, before handing r off
 *     start_capture(r);              // another thread later calls:
 *     pg_http_reply_buf(r, 200, "application/octet-stream", &buf);
 *
 * Metrics (when opts.metrics is set): pprofgate_http_requests_total{route,code}
 * and pprofgate_http_request_duration_seconds{route}; route is the route's
 * label, or "other" for requests that matched no route (libmicrohttpd's own
 * refusals included); with HTTPS, pprofgate_tls_handshake_failures_total. */
#ifndef PG_HTTP_SERVER_H
#define PG_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "src/metrics/metrics.h"
#include "src/util/buf.h"
#include "src/util/err.h"

struct pg_http;
struct pg_http_req;

/* Route groups: the gateway wraps every route of a group in one place. */
enum pg_http_group {
	PG_HTTP_GROUP_PUBLIC = 0, /* /metrics, /healthz, /ready */
	PG_HTTP_GROUP_PPROF = 1   /* /debug/pprof/...: behind opts.gate */
};

/* Method bits for the route table. */
enum { PG_HTTP_GET = 1u << 0, PG_HTTP_HEAD = 1u << 1, PG_HTTP_POST = 1u << 2 };

typedef void pg_http_handler_fn(struct pg_http_req *r, void *arg);

/* Gate for PG_HTTP_GROUP_PPROF routes. Returns true to let the request
 * through; returning false means the gate answered (e.g. 401/403) itself. */
typedef bool pg_http_gate_fn(struct pg_http_req *r, void *arg);

/* Maximum number of routes in opts.routes. */
#define PG_HTTP_MAX_ROUTES 32

/* One route: the server answers the exact path with the handler, after the
 * guard of its group (PG_HTTP_GROUP_PUBLIC: opts.gate_public, none when
 * NULL; PG_HTTP_GROUP_PPROF: opts.gate, 403 when NULL). The path is also the
 * route's metrics and audit label. */
struct pg_http_route {
	const char *path;
	unsigned methods;            /* PG_HTTP_GET | PG_HTTP_HEAD | PG_HTTP_POST */
	pg_http_handler_fn *handler;
	void *arg;                   /* the handler's arg */
	enum pg_http_group group;
};

/* Readiness: true when ready; otherwise writes a short reason (n bytes max,
 * NUL-terminated) that /ready returns. Called on a server thread, possibly
 * concurrently when opts.threads > 1; must not block. */
typedef bool pg_http_ready_fn(void *arg, char *reason, size_t n);

/* What the server tells opts.done about a finished request: every request of
 * PG_HTTP_GROUP_PPROF, every refused one (4xx, the server's own refusals
 * and libmicrohttpd's: 431, 400, 413, a timeout after the request line), on
 * any route and either listener, and successful public answers when
 * opts.audit_public_success. Strings are valid during the call only. */
struct pg_http_done_info {
	const char *method;   /* "GET", "HEAD", "POST", "other"; "-" when refused before the handler */
	const char *path;     /* request-target as received, query included; may hold NULs */
	size_t path_len;
	const char *route;    /* route path, or "other" */
	bool gated;           /* the route is in PG_HTTP_GROUP_PPROF */
	const char *peer;     /* peer address text */
	unsigned status;      /* 0: no answer was sent (timeout, client gone) */
	size_t bytes;         /* response body bytes */
	double duration_s;
	const char *note;     /* what the gate wrote with pg_http_req_note, "" if nothing */
	const char *reason;   /* the server's refusal reason (bad_path, ctl_in_header, ...), "" if none */
};
typedef void pg_http_done_fn(void *arg, const struct pg_http_done_info *info);

struct pg_http_opts {
	const char *listen;           /* "127.0.0.1:9090", "[::1]:0", "localhost:9090" */
	struct pg_metrics *metrics;   /* served on /metrics; also gets HTTP metrics. May be NULL. */
	pg_http_gate_fn *gate;        /* NULL: pprof routes answer 403 (fail closed) */
	void *gate_arg;
	pg_http_gate_fn *gate_public; /* NULL: /metrics, /healthz, /ready are open */
	void *gate_public_arg;
	/* Frees what a guard kept in pg_http_req_conn_memo when the connection
	 * closes (NULL: nothing is kept). */
	void (*conn_memo_free)(void *memo);
	/* Routes besides the server's own /metrics, /healthz and /ready (at
	 * most PG_HTTP_MAX_ROUTES; copied, but the path strings are kept by
	 * pointer and must outlive the server). */
	const struct pg_http_route *routes;
	size_t n_routes;
	/* Serve opts.routes only, without /metrics, /healthz and /ready (a
	 * forwarder that relays those of another server). */
	bool no_builtin_routes;
	unsigned threads;             /* 0 or 1: one polling thread; else a pool of this many */
	unsigned max_connections;     /* per listener; 0: 256 */
	unsigned max_per_ip;          /* open connections per client address; 0: no limit */
	unsigned timeout_s;           /* idle connection timeout; 0: 30 s */
	/* Slow clients: a connection whose request headers are not all in
	 * within header_timeout_s of its start (the accept for the first
	 * request, the request line for later ones), or whose body is not all
	 * in within body_timeout_s of its headers, is shut down. 0: 10 s / 30 s.
	 * MHD's own timeout (timeout_s) only counts silence, which a client
	 * sending a byte now and then never produces. */
	unsigned header_timeout_s;
	unsigned body_timeout_s;
	size_t max_body;              /* POST body bound; 0: 64 KiB, larger answers 413 */
	unsigned stop_timeout_ms;     /* pg_http_stop's wait for in-flight requests; 0: 5000 */
	int metrics_cache_ms;         /* scrapes within this window share one rendering;
				       * 0: PG_HTTP_METRICS_CACHE_MS, < 0: render every scrape */
	pg_http_done_fn *done;        /* audit hook (see struct pg_http_done_info); may be NULL */
	void *done_arg;
	bool audit_public_success;    /* also report successful /metrics, /healthz, /ready */
	/* HTTPS (all NULL: plain HTTP). cert/key: PEM files (the key file must
	 * not be group/other-accessible); client_ca_file: when set, a client
	 * certificate is requested (not required: the gate verifies it per
	 * request, see auth/x509.h). TLS 1.2+ (tls13_only: 1.3), AEAD only. */
	const char *tls_cert_file;
	const char *tls_key_file;
	const char *tls_client_ca_file;
	bool tls13_only;
	/* With HTTPS: also serve /metrics, /healthz and /ready over plain HTTP
	 * on this address (for scrapers); profile routes are never served
	 * there (404). NULL/"" = none. */
	const char *plain_listen;
};

/* Default sharing window for /metrics renderings (see docs/performance.md). */
#define PG_HTTP_METRICS_CACHE_MS 5

/* Parses "host:port": IPv4 literal, "[IPv6]" literal, or "localhost"
 * (127.0.0.1). Port 0..65535. Fails with PG_EINVAL and a sentence naming s. */
PG_WUR int pg_http_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* What pg_http_start checks before it binds (listen addresses, TLS
 * certificate, key and client CA files), without binding or installing
 * anything: the start-up checks that --check-config runs. */
PG_WUR int pg_http_check_opts(const struct pg_http_opts *o);

/* Binds, listens and starts serving. On bind failure the error names the
 * address and the reason (e.g. "address already in use"). opts is copied;
 * opts->metrics must outlive the server. The TLS file names are kept by
 * pointer (a reload re-reads them) and must outlive the server too. */
PG_WUR int pg_http_start(const struct pg_http_opts *opts, struct pg_http **out);

/* Re-reads opts.tls_cert_file/key_file and serves them from the next
 * handshake; open connections continue. On failure the old certificate stays
 * and the error says why. PG_OK without doing anything for plain HTTP. */
PG_WUR int pg_http_reload_tls(struct pg_http *h);

/* The bound TCP port (useful with port 0). */
int pg_http_port(const struct pg_http *h);
/* The plain listener's port, -1 when there is none. */
int pg_http_plain_port(const struct pg_http *h);

/* Sets the readiness callback; until then /ready answers 503 "starting".
 * Thread-safe; fn(arg) must stay valid until pg_http_stop. */
void pg_http_set_ready_fn(struct pg_http *h, pg_http_ready_fn *fn, void *arg);

/* Graceful stop: stops accepting, lets in-flight requests finish for up to
 * opts.stop_timeout_ms, answers still-suspended requests 503, then closes
 * everything. Takes NULL; sets *pp = NULL. */
void pg_http_stop(struct pg_http **pp);

/* ---- request accessors ----
 * Call them from the handler, or from the owner of a suspended request
 * before it answers; results are valid until the request is answered. */

const char *pg_http_req_method(const struct pg_http_req *r);
/* The validated path, without the query. */
const char *pg_http_req_path(const struct pg_http_req *r);
/* The percent-decoded value of query parameter `name`, NULL if absent. */
const char *pg_http_req_query(struct pg_http_req *r, const char *name);
/* A request header (case-insensitive name), NULL if absent. */
const char *pg_http_req_header(struct pg_http_req *r, const char *name);
/* The peer address; NULL only if the library could not tell. */
const struct sockaddr *pg_http_req_peer(struct pg_http_req *r);
/* The peer as "ip" text, into buf (n >= 46 covers IPv6). */
void pg_http_req_peer_str(struct pg_http_req *r, char *buf, size_t n);
/* The POST body (up to opts.max_body), len 0 and NULL for other methods. */
const void *pg_http_req_body(const struct pg_http_req *r, size_t *len);
/* Called for each value by the iterators below; returns false to stop. */
typedef bool pg_http_each_fn(void *arg, const char *name, const char *value);
/* fn for every field of header `name` (case-insensitive; NULL: all fields)
 * in the order received: a repeated header is several calls. Returns false
 * when fn stopped the walk. */
bool pg_http_req_header_each(struct pg_http_req *r, const char *name, pg_http_each_fn *fn, void *arg);
/* fn for every query argument, in order: key and value as sent (percent
 * escapes kept, but '+' already turned into ' '), value NULL for a bare key.
 * Returns false when fn stopped it. */
bool pg_http_req_query_each(struct pg_http_req *r, pg_http_each_fn *fn, void *arg);
/* A per-request value the guard hands to the handler; the server does not
 * interpret it. The gate stores the time left in the diagnostics window
 * (which bounds timed captures); -1 until set. */
void pg_http_req_set_limit_ms(struct pg_http_req *r, int64_t ms);
int64_t pg_http_req_limit_ms(const struct pg_http_req *r);
/* Whether the request came over TLS. */
bool pg_http_req_is_tls(struct pg_http_req *r);
/* The client's certificate chain as sent (DER, leaf first): fills up to max
 * entries and returns how many the client sent (0: none, or plain HTTP). The
 * pointers stay valid until the request is answered. */
size_t pg_http_req_peer_certs(struct pg_http_req *r, const unsigned char **der, size_t *len,
			      size_t max);
/* A slot that lives as long as the request's connection (one TLS session:
 * libmicrohttpd 0.9.75 closes a connection that asks to renegotiate), for
 * the guard to keep what holds for the whole session, such as its verified
 * client chain. NULL when the connection is not tracked. Used only from the
 * connection's own thread; opts.conn_memo_free frees it at close. */
void **pg_http_req_conn_memo(struct pg_http_req *r);
/* A scratch text buffer of PG_HTTP_NOTE_MAX bytes that the gate fills and
 * opts.done receives as info->note. */
#define PG_HTTP_NOTE_MAX 512
char *pg_http_req_note(struct pg_http_req *r);
/* For the owner of a suspended request: true when the client has closed
 * its connection (or the request already completed), so long work such as a
 * CPU profile can stop early. MHD does not watch suspended connections, so
 * this peeks at the socket (a pending FIN or a reset). Plain HTTP only: a
 * TLS close_notify shows as readable data, not as gone. Thread-safe. */
bool pg_http_req_peer_gone(struct pg_http_req *r);

/* ---- responses: exactly one per request ----
 * Each returns PG_OK, or an error when the request was already answered
 * (PG_EBUSY) or memory ran out; on error the request is answered 500 if
 * it was not yet, so handlers may ignore the result. Headers set with
 * pg_http_add_header apply to the reply. */

/* Adds a response header (copied). At most 8 per request. */
PG_WUR int pg_http_add_header(struct pg_http_req *r, const char *name, const char *value);
/* Body is copied. */
int pg_http_reply(struct pg_http_req *r, unsigned status, const char *content_type,
			 const void *body, size_t len);
int pg_http_reply_text(struct pg_http_req *r, unsigned status, const char *content_type,
			      const char *body);
/* Takes ownership of body's storage (body is left empty). */
int pg_http_reply_buf(struct pg_http_req *r, unsigned status, const char *content_type,
			     struct pg_buf *body);
/* {"status":"error","error":"<msg>"} as application/json. */
int pg_http_reply_error(struct pg_http_req *r, unsigned status, const char *msg);

/* Body not copied: the server reads [data, data+len) until it calls
 * release(arg), exactly once, when it no longer needs the bytes (also on
 * failure). For bodies shared between concurrent answers. */
int pg_http_reply_shared(struct pg_http_req *r, unsigned status, const char *content_type,
			 const void *data, size_t len, void (*release)(void *arg), void *arg);

/* Streaming body: fn(arg, pos, buf, max) is called from a server thread to
 * fill buf; it returns bytes written (> 0), 0 at end of stream, or -1 on
 * error (the connection is closed). free_fn(arg) runs once when done (may be
 * NULL). The callback must not block for long; use suspend for waiting. */
typedef ssize_t pg_http_stream_fn(void *arg, unsigned long long pos, char *buf, size_t max);
int pg_http_reply_stream(struct pg_http_req *r, unsigned status, const char *content_type,
				pg_http_stream_fn *fn, void *arg, void (*free_fn)(void *arg));

/* A streaming body whose bytes come from another thread (a body relayed
 * from elsewhere): fn may also return PG_HTTP_STREAM_WAIT when it has nothing
 * yet; the server then stops polling the connection (no thread waits) until
 * the producer calls pg_http_stream_wake, and calls fn again. *handle is the
 * producer's, to wake with and to release once (pg_http_stream_release)
 * when it produces no more; it stays valid after the request ends (a wake is
 * then a no-op). A stream still waiting when pg_http_stop runs out of time
 * ends with an error. On failure *handle is NULL and free_fn(arg) has run. */
#define PG_HTTP_STREAM_WAIT (-2)
struct pg_http_stream;
int pg_http_reply_stream_wake(struct pg_http_req *r, unsigned status, const char *content_type,
			      pg_http_stream_fn *fn, void *arg, void (*free_fn)(void *arg),
			      struct pg_http_stream **handle);
/* New bytes (or the end) are ready: fn will be called again. Any thread. */
void pg_http_stream_wake(struct pg_http_stream *s);
/* Takes NULL; sets *pp = NULL. */
void pg_http_stream_release(struct pg_http_stream **pp);

/* Suspends the request: call it in the handler, then hand r to another
 * thread, which answers with one pg_http_reply* call (that resumes it). The
 * server keeps r alive until that call, even past pg_http_stop: if the
 * server stopped first, the late reply returns PG_EBUSY and frees r. */
void pg_http_suspend(struct pg_http_req *r);

#endif
