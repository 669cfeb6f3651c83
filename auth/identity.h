/* Client-certificate identity: the fields a verified certificate names, and an
 * allowlist of identities with the scopes each one is granted.
 *
 * Allowlist entries:
 *   "cn:operator"                    subject common name, exact, case-sensitive
 *   "dns:ops.example.com"            a DNS SAN, case-insensitive (RFC 4343)
 *   "uri:spiffe://example.org/ops"   a URI SAN, exact
 *   "spiffe://example.org/ops"       same as uri:
 *   "email:ops@example.com"          an rfc822Name SAN; domain case-insensitive
 *
 * Matching SANs is preferred over CN (RFC 6125 §6.4.4 deprecates CN identity
 * for servers; for client identities CN is still what operators use, so both
 * are offered and the operator picks).
 *
 * A list is built single-threaded, then read-only and safe to share. */
#ifndef PG_AUTH_IDENTITY_H
#define PG_AUTH_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/util/err.h"

#define PG_AUTH_ID_LEN 256
#define PG_AUTH_ID_SANS 8

/* What a certificate says about its subject. Plain value; empty strings and
 * zero counts for absent fields. Filled by pg_auth_x509_verify_*() or by the
 * caller from another TLS stack. Fields longer than PG_AUTH_ID_LEN - 1 or
 * beyond PG_AUTH_ID_SANS per kind are dropped (never truncated: a truncated
 * name could match an entry it does not equal). */
struct pg_auth_cert_id {
	char cn[PG_AUTH_ID_LEN];
	char dns[PG_AUTH_ID_SANS][PG_AUTH_ID_LEN];
	size_t n_dns;
	char uri[PG_AUTH_ID_SANS][PG_AUTH_ID_LEN];
	size_t n_uri;
	char email[PG_AUTH_ID_SANS][PG_AUTH_ID_LEN];
	size_t n_email;
};

/* A client certificate as the TLS layer saw it: the chain verification
 * outcome (PG_AUTH_R_OK or a PG_AUTH_R_CERT_* reason) and, when verified, the
 * identity. */
struct pg_auth_cert_result {
	int status; /* enum pg_auth_reason */
	/* PG_AUTH_R_OK from pg_auth_x509_verify_der: wall seconds until which
	 * the outcome may be reused (the leaf's notAfter, at most the trust
	 * store's cache TTL); 0 otherwise. */
	int64_t valid_until;
	struct pg_auth_cert_id id;
};

struct pg_auth_idlist;

PG_WUR int pg_auth_idlist_new(struct pg_auth_idlist **out);
void pg_auth_idlist_free(struct pg_auth_idlist **pp);

/* Adds an entry (syntax above) granting `scopes` (PG_AUTH_SCOPE_* bits; 0
 * means PG_AUTH_SCOPE_READ). PG_EINVAL names the entry and the problem. */
PG_WUR int pg_auth_idlist_add(struct pg_auth_idlist *l, const char *entry, unsigned scopes);

size_t pg_auth_idlist_count(const struct pg_auth_idlist *l);

/* Whether any entry matches `id`. On a match, *scopes is the union of the
 * scopes of all matching entries and `matched` (if not NULL) receives the
 * first matching entry's text, e.g. "uri:spiffe://example.org/ops", for the
 * audit log. */
bool pg_auth_idlist_match(const struct pg_auth_idlist *l, const struct pg_auth_cert_id *id,
			  unsigned *scopes, char *matched, size_t matched_cap);

/* A one-line description of the identity for logs and audit lines, spelled
 * as an allowlist entry so an operator can copy it: "uri:<first URI SAN>",
 * else "dns:<first DNS SAN>", else "email:<first email SAN>", else
 * "cn:<cn>", else "-". */
void pg_auth_cert_id_describe(const struct pg_auth_cert_id *id, char *out, size_t cap);

#endif
