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

/* The checks of pg_http_tls_install without installing anything. */
PG_WUR int pg_http_tls_check(const char *cert_file, const char *key_file);
/* TLS session resumption (RFC 8446 §4.6.1 tickets, RFC 5077 for TLS 1.2):
 * a returning client skips the key exchange and the certificate signature.
 * The ticket carries the session's state, the client's certificate chain
 * included, encrypted and authenticated under a key only this process holds;
 * the gate verifies that chain against the current trust store as it does
 * after a full handshake. Tickets live PG_HTTP_TLS_TICKET_LIFETIME_S; GnuTLS
 * derives a new ticket-encryption key from the master key every such period
 * and accepts the previous period's; the master key itself is replaced every
 * PG_HTTP_TLS_TICKET_KEY_ROTATE_S (and is never written anywhere), so a key
 * read out of memory opens at most a day of recorded resumptions. */
#define PG_HTTP_TLS_TICKET_LIFETIME_S 3600
#define PG_HTTP_TLS_TICKET_KEY_ROTATE_S 86400

/* Enables session tickets on a new server session (before its handshake).
 * On failure the session still works, without resumption. */
PG_WUR int pg_http_tls_session_init(gnutls_session_t s);

/* The callback to pass as MHD_OPTION_HTTPS_CERT_CALLBACK. */
int pg_http_tls_retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca_rdn, int nreqs,
			 const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
			 gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey);


/* Frees current and replaced credentials and wipes the ticket key; call
 * after every daemon stopped. */
void pg_http_tls_release(void);

#endif
