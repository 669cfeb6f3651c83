#include "src/http/conn.h"

#include <errno.h>
#include <linux/tcp.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "src/util/log.h"

#define MOD "http"
#define PLAIN_PEEK_MAX 4096

struct pg_http_conn {
	int fd;
	gnutls_session_t session; /* NULL: a plain HTTP connection */
	unsigned requests;        /* request lines libmicrohttpd parsed */
	size_t rx;                /* bytes read before the session was up */
	bool done;                /* the client's Finished was processed */
	bool plain;               /* plain HTTP on HTTPS, answered */
	char target[256];         /* then: its request-target, as far as seen */
	size_t target_len;
};

/* Go's net/http answer to plain HTTP on a TLS port (crypto/tls RecordHeaderError). */
static const char plain_answer[] = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/* Reads what the client sent with its first bytes (bounded, never waits),
 * keeps the target of the request line and answers. */
static void answer_plain(struct pg_http_conn *c, const char *first, size_t n)
{
	char buf[PLAIN_PEEK_MAX];
	size_t len = n < sizeof(buf) ? n : sizeof(buf);
	const char *sp, *end;

	memcpy(buf, first, len);
	while (len < sizeof(buf)) {
		ssize_t got = recv(c->fd, buf + len, sizeof(buf) - len, MSG_DONTWAIT);

		if (got <= 0)
			break;
		len += (size_t)got;
	}
	sp = memchr(buf, ' ', len);
	if (sp) {
		sp++;
		for (end = sp; end < buf + len && *end != ' ' && *end != '\r' && *end != '\n'; end++)
			;
		c->target_len = (size_t)(end - sp) < sizeof(c->target) ? (size_t)(end - sp) : sizeof(c->target) - 1;
		memcpy(c->target, sp, c->target_len);
	}
	/* Best effort, like Go: one small write on a fresh socket. */
	if (send(c->fd, plain_answer, sizeof(plain_answer) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		pg_debug(MOD, "plain HTTP on the HTTPS port: answer not sent: %s", strerror(errno));
	(void)shutdown(c->fd, SHUT_WR);
	c->plain = true;
}

/* GnuTLS pull function: the socket read GnuTLS would do (non-blocking), and
 * a look at the very first byte. A TLS record starts with a content type
 * (0x14..0x18) and an SSLv2-style hello with a set high bit; an HTTP method
 * starts with an ASCII letter. */
static ssize_t conn_pull(gnutls_transport_ptr_t p, void *buf, size_t n)
{
	struct pg_http_conn *c = p;
	ssize_t got;

	if (c->plain) {
		gnutls_transport_set_errno(c->session, ECONNRESET);
		return -1;
	}
	got = recv(c->fd, buf, n, 0);
	if (got < 0) {
		gnutls_transport_set_errno(c->session, errno);
		return -1;
	}
	if (got > 0 && c->rx == 0) {
		unsigned char b = ((const unsigned char *)buf)[0];

		if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z')) {
			answer_plain(c, buf, (size_t)got);
			gnutls_transport_set_errno(c->session, ECONNRESET);
			return -1;
		}
	}
	if (!c->done)
		c->rx += (size_t)got;
	return got;
}

static int conn_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
	struct pg_http_conn *c = p;
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};

	return poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

/* The client's Finished (the last handshake message a server receives, in
 * TLS 1.2 full and resumed handshakes and in TLS 1.3) was processed. */
static int on_finished(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
		       const gnutls_datum_t *msg)
{
	struct MHD_Connection *mc = gnutls_session_get_ptr(s);
	struct pg_http_conn *c = mc ? pg_http_conn_of(mc) : NULL;

	(void)when;
	(void)msg;
	if (c && c->session == s && incoming && htype == GNUTLS_HANDSHAKE_FINISHED)
		c->done = true;
	return 0;
}

void pg_http_conn_request(struct pg_http_conn *c)
{
	if (c)
		c->requests++;
}

struct pg_http_conn *pg_http_conn_watch(gnutls_session_t s, int fd)
{
	struct pg_http_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	c->session = s;
	if (!s)
		return c;
	/* Reads go through conn_pull (recv pointer = c); writes keep
	 * GnuTLS's default on the socket (send pointer = fd). */
	gnutls_transport_set_ptr2(s, c, (gnutls_transport_ptr_t)(intptr_t)fd);
	gnutls_transport_set_pull_function(s, conn_pull);
	gnutls_transport_set_pull_timeout_function(s, conn_pull_timeout);
	gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_FINISHED, GNUTLS_HOOK_POST, on_finished);
	return c;
}

enum pg_http_conn_outcome pg_http_conn_outcome(const struct pg_http_conn *c, const char **target,
						  size_t *len)
{
	*target = c->target;
	*len = c->target_len;
	if (!c->session) {
		/* Plain HTTP: bytes arrived (TCP_INFO) but no request line was
		 * ever parsed. The socket is still open at NOTIFY_CLOSED. The
		 * peer's FIN counts one in tcpi_bytes_received, hence > 1. */
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);

		memset(&ti, 0, sizeof(ti));
		if (c->requests == 0 && getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 &&
		    tl >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received) &&
		    ti.tcpi_bytes_received > 1)
			return PG_HTTP_CONN_NO_REQUEST;
		return PG_HTTP_CONN_OK;
	}
	if (c->plain)
		return PG_HTTP_CONN_PLAIN_ON_TLS;
	if (c->done)
		return PG_HTTP_CONN_OK;
	return c->rx ? PG_HTTP_CONN_TLS_FAILED : PG_HTTP_CONN_SILENT;
}

void pg_http_conn_free(struct pg_http_conn **pp)
{
	if (!pp || !*pp)
		return;
	free(*pp);
	*pp = NULL;
}
