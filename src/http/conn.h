/* What a connection did before, or instead of, sending a request.
 *
 * libmicrohttpd tells the application nothing about a connection that never
 * completes a TLS handshake (it logs "received handshake message out of
 * context", without the peer), nor about a request line it refuses itself.
 * At MHD_CONNECTION_NOTIFY_STARTED the server calls pg_http_conn_watch; at
 * MHD_CONNECTION_NOTIFY_CLOSED pg_http_conn_outcome says what happened.
 *
 * HTTPS: the watch reads the socket for GnuTLS (its own pull function) and
 * hooks the end of the handshake. A connection whose first byte is an ASCII
 * letter is plain HTTP: it gets Go's answer ("HTTP/1.0 400 Bad Request ...
 * Client sent an HTTP request to an HTTPS server.") and the handshake fails
 * at once; nothing blocks (the socket is non-blocking and only read when
 * libmicrohttpd polled it readable; a client that sends nothing meets the
 * connection timeout).
 *
 * Plain HTTP: the watch counts request lines. libmicrohttpd 0.9.75 refuses a
 * request line itself (414 over its buffer, 400 malformed, 505) before any
 * application callback, and at NOTIFY_CLOSED the status it sent is gone (it
 * destroys the response first), so what can be told is "bytes arrived
 * (TCP_INFO), no request line was parsed". Over TLS the bytes are records (a
 * close_notify is bytes too), so this is not told there.
 *
 * One watch per connection, used from that connection's thread. Internal to
 * src/http/. */
#ifndef PG_HTTP_CONN_H
#define PG_HTTP_CONN_H

#include <stddef.h>
#include <gnutls/gnutls.h>

struct pg_http_conn;

enum pg_http_conn_outcome {
	PG_HTTP_CONN_OK,           /* nothing to report: a session, or requests */
	PG_HTTP_CONN_SILENT,       /* HTTPS: closed before the client sent a byte */
	PG_HTTP_CONN_TLS_FAILED,   /* HTTPS: bytes came, no session: a failed handshake */
	PG_HTTP_CONN_PLAIN_ON_TLS, /* HTTPS: plain HTTP, answered 400 */
	PG_HTTP_CONN_NO_REQUEST    /* HTTP: bytes came, no request line was parsed */
};

/* s: the connection's GnuTLS session (its GnuTLS pointer must be
 * libmicrohttpd's connection, and this watch that connection's socket
 * context), or NULL for plain HTTP; fd: its socket. NULL when out of memory
 * (the connection then runs unwatched). */
struct pg_http_conn *pg_http_conn_watch(gnutls_session_t s, int fd);
/* libmicrohttpd parsed a request line on this connection (NULL: ignored). */
void pg_http_conn_request(struct pg_http_conn *c);
/* At NOTIFY_CLOSED (the socket is still open). For PLAIN_ON_TLS, *target and
 * *len: the request-target of its first line as far as it arrived ("" and 0
 * otherwise). Valid until pg_http_conn_free. */
enum pg_http_conn_outcome pg_http_conn_outcome(const struct pg_http_conn *c, const char **target, size_t *len);
void pg_http_conn_free(struct pg_http_conn **pp);

/* The watch of libmicrohttpd's connection mc, NULL if none (server.c keeps it
 * in the connection's socket context, next to its slow-client deadline). */
struct MHD_Connection;
struct pg_http_conn *pg_http_conn_of(struct MHD_Connection *mc);

#endif
