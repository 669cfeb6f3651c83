/* Client certificate chain verification and identity extraction (GnuTLS).
 *
 * MHD's MHD_OPTION_HTTPS_MEM_TRUST only *requests* a client certificate; a
 * missing or rogue one still completes the handshake, so every request must be
 * checked by the application. The HTTP layer takes the peer's DER chain
 * (gnutls_certificate_get_peers) and calls pg_auth_x509_verify_der(); the
 * result goes into pg_auth_request.cert.
 *
 * Checks: chain to a configured CA, validity dates (now), signature, and key
 * purpose: when the leaf has an extended key usage it must include TLS client
 * authentication (1.3.6.1.5.5.7.3.2); a leaf without EKU is accepted
 * (RFC 5280 §4.2.1.12: no EKU means any purpose). The leaf must not be a CA.
 *
 * A trust store is built once and then read-only; verification is
 * thread-safe. No GnuTLS types in this API. */
#ifndef PG_AUTH_X509_H
#define PG_AUTH_X509_H

#include <stddef.h>

#include "auth/identity.h"
#include "src/util/err.h"

#define PG_AUTH_X509_MAX_CHAIN 8

struct pg_auth_x509_trust;

/* Loads PEM CA certificates (one or more). PG_EINVAL if none could be read. */
PG_WUR int pg_auth_x509_trust_new_mem(const void *pem, size_t len, struct pg_auth_x509_trust **out);
PG_WUR int pg_auth_x509_trust_new_file(const char *path, struct pg_auth_x509_trust **out);
void pg_auth_x509_trust_free(struct pg_auth_x509_trust **pp);

/* Enables a cache of successful pg_auth_x509_verify_der() results keyed by
 * SHA-256 of the DER chain: at most `max` entries, each trusted for ttl_s
 * seconds (1..3600) and never past the leaf's notAfter. Full verification
 * costs ~0.4 ms; a hit costs a hash. Call before the store is shared. */
PG_WUR int pg_auth_x509_trust_set_cache(struct pg_auth_x509_trust *t, size_t max, long ttl_s);

struct pg_auth_x509_stats {
	unsigned long long hits, misses;
};
void pg_auth_x509_stats(struct pg_auth_x509_trust *t, struct pg_auth_x509_stats *st);

/* One DER certificate (same layout as a gnutls_datum_t's fields, but not that
 * type). */
struct pg_auth_der {
	const unsigned char *data;
	size_t len;
};

/* Verifies chain[0] (the leaf) with chain[1..n) as untrusted intermediates.
 * res->status is PG_AUTH_R_OK or one of PG_AUTH_R_CERT_MISSING (n == 0),
 * _CERT_INVALID (unparsable, a CA as leaf), _CERT_UNTRUSTED, _CERT_EXPIRED,
 * _CERT_NOT_YET_VALID, _CERT_BAD_PURPOSE. The identity is filled only on OK. */
void pg_auth_x509_verify_der(struct pg_auth_x509_trust *t, const struct pg_auth_der *chain,
			     size_t n, struct pg_auth_cert_result *res);

/* Same with a PEM chain (leaf first), for tests and tools. */
void pg_auth_x509_verify_pem(const struct pg_auth_x509_trust *t, const void *pem, size_t len,
			     struct pg_auth_cert_result *res);

#endif
