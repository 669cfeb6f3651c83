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
 * This is the one client-certificate check of the node: the HTTP gate hands
 * it the DER chain from GnuTLS, the admin API the PEM chain from gRPC's auth
 * context, and pprofgatectl checks its own certificate with
 * pg_auth_x509_check_leaf_pem() before it connects.
 *
 * A trust store is built once and then read-only; verification is
 * thread-safe. No GnuTLS types in this API. */
#ifndef PG_AUTH_X509_H
#define PG_AUTH_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * costs ~0.4 ms; a hit costs a hash. Call before the store is shared.
 * (Per TLS session the gate keeps the result itself: src/gate/gate.c.) */
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
 * _CERT_INVALID (unparsable, chain longer than PG_AUTH_X509_MAX_CHAIN),
 * _CERT_UNTRUSTED, _CERT_EXPIRED, _CERT_NOT_YET_VALID, _CERT_IS_CA (a CA as
 * leaf), _CERT_BAD_PURPOSE. The identity is filled only on OK. */
void pg_auth_x509_verify_der(struct pg_auth_x509_trust *t, const struct pg_auth_der *chain,
			     size_t n, struct pg_auth_cert_result *res);

/* Same with a PEM chain (leaf first), for tests and tools. */
void pg_auth_x509_verify_pem(const struct pg_auth_x509_trust *t, const void *pem, size_t len,
			     struct pg_auth_cert_result *res);

/* The leaf's own checks, without a trust store (a client checking its own
 * certificate): parsable, valid at `now` (wall seconds), not a CA, clientAuth
 * among its extended key usages if it has any. Same statuses as above but
 * never _CERT_UNTRUSTED; the identity is filled on OK. */
void pg_auth_x509_check_leaf_pem(const void *pem, size_t len, int64_t now,
				 struct pg_auth_cert_result *res);

/* Whether a CA of `t` is named as the issuer of the PEM chain's last
 * certificate (by subject name and key identifier, not by signature): tells a
 * client whether its certificate is meant to chain to that bundle at all. */
bool pg_auth_x509_trust_names_issuer(const struct pg_auth_x509_trust *t, const void *pem, size_t len);

/* A sentence for the operator for a certificate status (PG_AUTH_R_OK,
 * PG_AUTH_R_CERT_*, PG_AUTH_R_IDENTITY_NOT_ALLOWED); never NULL. */
const char *pg_auth_x509_status_text(int status);

#endif
