/* The HTTPS listener's server certificate, reloadable while serving.
 *
 * libmicrohttpd fixes MHD_OPTION_HTTPS_MEM_CERT/_KEY at start, so the server
 * instead installs a GnuTLS certificate-retrieve callback
 * (MHD_OPTION_HTTPS_CERT_CALLBACK) that hands out the credentials current at
 * each handshake. A reload builds new credentials from the files, checks that
 * key and certificate match, then swaps them under a lock; a failing reload
 * keeps the old ones. Replaced credentials stay allocated until
 * pg_http_tls_release() (a handshake may still be using them): a few KiB per
 * reload.
 *
 * One set per process: the callback has no user argument, and a node serves
 * one HTTPS certificate. Internal to src/http/. */
#ifndef PG_HTTP_TLS_H
#define PG_HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "src/util/err.h"

/* The GnuTLS priority string: TLS 1.2 and 1.3 (min_tls13: 1.3 only), ECDHE
 * key exchange and AEAD ciphers only (AES-GCM, ChaCha20-Poly1305). */
const char *pg_http_tls_priorities(bool min_tls13);

/* Loads cert_file (PEM chain, leaf first) and key_file (PEM private key),
 * checks them, and makes them the credentials served from the next handshake.
 * Refuses a key file that group or others can read (PG_EDENIED, naming the
 * file and "chmod 600"). On failure the current credentials stay. */
PG_WUR int pg_http_tls_install(const char *cert_file, const char *key_file);

/* The callback to pass as MHD_OPTION_HTTPS_CERT_CALLBACK. */
int pg_http_tls_retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca_rdn, int nreqs,
			 const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
			 gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey);

/* Reads a whole (small) file into a malloc'd NUL-terminated buffer. */
PG_WUR int pg_http_tls_read_file(const char *path, size_t max, char **out, size_t *len);

/* Frees current and replaced credentials; call after every daemon stopped. */
void pg_http_tls_release(void);

/* ---- one HTTPS connection's beginning ----
 * libmicrohttpd tells the application nothing about a connection that never
 * completes a TLS handshake (it logs "received handshake message out of
 * context", without the peer). At MHD_CONNECTION_NOTIFY_STARTED the server
 * calls pg_http_tls_conn_watch, which reads the socket for GnuTLS (its own
 * pull function) and hooks the end of the handshake, so at
 * MHD_CONNECTION_NOTIFY_CLOSED pg_http_tls_conn_outcome says what happened.
 * A connection whose first byte is an ASCII letter is plain HTTP: it gets
 * Go's answer ("HTTP/1.0 400 Bad Request ... Client sent an HTTP request to
 * an HTTPS server.") and the handshake fails at once; nothing blocks (the
 * socket is non-blocking and only read when libmicrohttpd polled it readable;
 * a client that sends nothing meets the connection timeout). */
struct pg_http_tls_conn;

enum pg_http_tls_outcome {
	PG_HTTP_TLS_HANDSHAKE_DONE, /* a TLS session was established */
	PG_HTTP_TLS_SILENT,         /* closed before the client sent a byte */
	PG_HTTP_TLS_FAILED,         /* bytes came, no session: a failed handshake */
	PG_HTTP_TLS_PLAIN_HTTP,     /* plain HTTP on the HTTPS port, answered 400 */
	PG_HTTP_CONN_NO_REQUEST     /* plain listener: bytes came, no request line was parsed */
};

/* fd is the connection's socket; libmicrohttpd's connection must be the
 * session's GnuTLS pointer and this struct its socket context. With s NULL
 * (the plain listener) it only counts requests: libmicrohttpd 0.9.75 refuses
 * a request line itself (414 over its buffer, 400 malformed, 505) before any
 * application callback, and at NOTIFY_CLOSED the status it sent is gone
 * (the response is destroyed first), so "bytes arrived, no request line"
 * (TCP_INFO) is what can be told. Over TLS the bytes are records (a
 * close_notify is bytes too), so this is not told there. NULL when out of memory (the connection then runs unwatched). */
struct pg_http_tls_conn *pg_http_tls_conn_watch(gnutls_session_t s, int fd);
/* For plain HTTP, *target and *len: the request-target of its first line as far
 * as it arrived ("" otherwise). Valid until pg_http_tls_conn_free. */
enum pg_http_tls_outcome pg_http_tls_conn_outcome(const struct pg_http_tls_conn *c, const char **target,
						  size_t *len);
/* libmicrohttpd parsed a request line on this connection (NULL: ignored). */
void pg_http_tls_conn_request(struct pg_http_tls_conn *c);
void pg_http_tls_conn_free(struct pg_http_tls_conn **pp);

#endif
