#include "auth/x509.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/reason.h"
#include "src/util/file.h"

#define CA_FILE_MAX (1024u * 1024u) /* a client CA bundle */

/* An identity is 6 KiB (every SAN slot); the table holds pointers, and a
 * slot's result is allocated when first filled, so 1,024 slots cost 48 KiB
 * until used instead of 6 MiB. */
struct xentry {
	unsigned char digest[32];
	int used;
	int64_t until; /* wall seconds */
	struct pg_auth_cert_result *res;
};

struct pg_auth_x509_trust {
	gnutls_x509_trust_list_t tl;
	pthread_mutex_t mu; /* guards cache and stats */
	struct xentry *cache;
	size_t n_cache;
	long ttl_s;
	EVP_MD *sha256; /* fetched once with the cache (OpenSSL 3 fetches per use otherwise) */
	struct pg_auth_x509_stats stats;
};

int pg_auth_x509_trust_new_mem(const void *pem, size_t len, struct pg_auth_x509_trust **out)
{
	struct pg_auth_x509_trust *t;
	gnutls_datum_t d = {(unsigned char *)(uintptr_t)pem, (unsigned int)len};
	int n;

	*out = NULL;
	if (!pem || len == 0 || len > (1u << 24))
		return pg_fail(PG_EINVAL, "client CA bundle is empty or too large");
	t = calloc(1, sizeof(*t));
	if (!t)
		return pg_fail(PG_ENOMEM, "out of memory for the client CA bundle");
	pthread_mutex_init(&t->mu, NULL);
	if (gnutls_x509_trust_list_init(&t->tl, 0) < 0) {
		pthread_mutex_destroy(&t->mu);
		free(t);
		return pg_fail(PG_EINTERNAL, "gnutls_x509_trust_list_init failed");
	}
	n = gnutls_x509_trust_list_add_trust_mem(t->tl, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
	if (n <= 0) {
		pg_auth_x509_trust_free(&t);
		return pg_fail(PG_EINVAL, "client CA bundle holds no PEM certificate%s%s",
			       n < 0 ? ": " : "", n < 0 ? gnutls_strerror(n) : "");
	}
	*out = t;
	return PG_OK;
}

int pg_auth_x509_trust_new_file(const char *path, struct pg_auth_x509_trust **out)
{
	char *pem = NULL, why[200];
	size_t n = 0;
	int rc;

	*out = NULL;
	if ((rc = pg_file_read(path, CA_FILE_MAX, 0, &pem, &n)) != PG_OK) {
		snprintf(why, sizeof(why), "%s", pg_errmsg());
		return pg_fail(rc, "client CA bundle: %s", why);
	}
	rc = pg_auth_x509_trust_new_mem(pem, n, out);
	free(pem);
	if (rc != PG_OK) {
		snprintf(why, sizeof(why), "%s", pg_errmsg());
		return pg_fail(rc, "%s: %s", path, why);
	}
	return PG_OK;
}

void pg_auth_x509_trust_free(struct pg_auth_x509_trust **pp)
{
	if (!pp || !*pp)
		return;
	gnutls_x509_trust_list_deinit((*pp)->tl, 1);
	for (size_t i = 0; i < (*pp)->n_cache; i++)
		free((*pp)->cache[i].res);
	free((*pp)->cache);
	EVP_MD_free((*pp)->sha256);
	pthread_mutex_destroy(&(*pp)->mu);
	free(*pp);
	*pp = NULL;
}

int pg_auth_x509_trust_set_cache(struct pg_auth_x509_trust *t, size_t max, long ttl_s)
{
	if (!t || max == 0 || max > 65536 || ttl_s < 1 || ttl_s > 3600)
		return pg_fail(PG_EINVAL, "client certificate cache: size must be 1..65536 and ttl "
					  "1..3600 s");
	for (size_t i = 0; i < t->n_cache; i++)
		free(t->cache[i].res);
	free(t->cache);
	t->cache = calloc(max, sizeof(*t->cache));
	t->n_cache = t->cache ? max : 0;
	t->ttl_s = ttl_s;
	if (!t->sha256)
		t->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!t->sha256) {
		free(t->cache);
		t->cache = NULL;
		t->n_cache = 0;
		return pg_fail(PG_EINTERNAL, "client certificate cache: OpenSSL has no SHA-256");
	}
	return t->cache ? PG_OK : pg_fail(PG_ENOMEM, "out of memory for the certificate cache");
}

void pg_auth_x509_stats(struct pg_auth_x509_trust *t, struct pg_auth_x509_stats *st)
{
	pthread_mutex_lock(&t->mu);
	*st = t->stats;
	pthread_mutex_unlock(&t->mu);
}

/* SHA-256 over (length, bytes) of each certificate, so chains cannot collide
 * by moving a boundary. */
static int chain_digest(const EVP_MD *md, const struct pg_auth_der *chain, size_t n, unsigned char *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL);

	for (size_t i = 0; ok && i < n; i++) {
		unsigned char len[8];

		for (int k = 0; k < 8; k++)
			len[k] = (unsigned char)((uint64_t)chain[i].len >> (56 - 8 * k));
		ok = EVP_DigestUpdate(ctx, len, sizeof(len)) &&
		     EVP_DigestUpdate(ctx, chain[i].data, chain[i].len);
	}
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return ok;
}

static struct xentry *xslot(struct pg_auth_x509_trust *t, const unsigned char *d)
{
	size_t h = (size_t)d[0] << 24 | (size_t)d[1] << 16 | (size_t)d[2] << 8 | d[3];

	return &t->cache[h % t->n_cache];
}

static int xcache_get(struct pg_auth_x509_trust *t, const unsigned char *d, int64_t now,
		      struct pg_auth_cert_result *res)
{
	struct xentry *e;
	int hit = 0;

	pthread_mutex_lock(&t->mu);
	e = xslot(t, d);
	if (e->used && CRYPTO_memcmp(e->digest, d, 32) == 0) {
		if (now < e->until) {
			*res = *e->res;
			hit = 1;
		} else {
			e->used = 0;
		}
	}
	if (hit)
		t->stats.hits++;
	else
		t->stats.misses++;
	pthread_mutex_unlock(&t->mu);
	return hit;
}

static void xcache_put(struct pg_auth_x509_trust *t, const unsigned char *d, int64_t until,
		       const struct pg_auth_cert_result *res)
{
	struct xentry *e;

	pthread_mutex_lock(&t->mu);
	e = xslot(t, d);
	if (!e->res)
		e->res = malloc(sizeof(*e->res));
	if (e->res) {
		memcpy(e->digest, d, 32);
		e->until = until;
		*e->res = *res;
		e->used = 1;
	}
	pthread_mutex_unlock(&t->mu);
}

/* Copies a string field only when it fits whole and has no NUL or control
 * bytes inside (a NUL inside a SAN is the classic prefix-match trick). */
static int take(char *dst, const char *src, size_t n)
{
	if (n == 0 || n >= PG_AUTH_ID_LEN || memchr(src, '\0', n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)src[i] < 0x20 || src[i] == 0x7f)
			return 0;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 1;
}

static void extract(gnutls_x509_crt_t crt, struct pg_auth_cert_id *id)
{
	char buf[1024];
	size_t sz = sizeof(buf);

	memset(id, 0, sizeof(*id));
	/* Exactly one CN, or none is used (two CNs are ambiguous). */
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &sz) == 0) {
		char b2[8];
		size_t sz2 = sizeof(b2);
		int r2 = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 1, 0, b2, &sz2);

		if (r2 == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			take(id->cn, buf, sz);
	}
	for (unsigned seq = 0; seq < 64; seq++) {
		unsigned int critical = 0;
		int type;

		sz = sizeof(buf);
		type = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &sz, &critical);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type < 0)
			continue;
		switch (type) {
		case GNUTLS_SAN_DNSNAME:
			if (id->n_dns < PG_AUTH_ID_SANS && take(id->dns[id->n_dns], buf, sz))
				id->n_dns++;
			break;
		case GNUTLS_SAN_URI:
			if (id->n_uri < PG_AUTH_ID_SANS && take(id->uri[id->n_uri], buf, sz))
				id->n_uri++;
			break;
		case GNUTLS_SAN_RFC822NAME:
			if (id->n_email < PG_AUTH_ID_SANS && take(id->email[id->n_email], buf, sz))
				id->n_email++;
			break;
		default:
			break;
		}
	}
}

static int status_reason(unsigned int st)
{
	if (st == 0)
		return PG_AUTH_R_OK;
	if (st & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNATURE_FAILURE |
		  GNUTLS_CERT_SIGNER_NOT_CA | GNUTLS_CERT_INSECURE_ALGORITHM | GNUTLS_CERT_REVOKED |
		  GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE | GNUTLS_CERT_MISMATCH))
		return PG_AUTH_R_CERT_UNTRUSTED;
	if (st & GNUTLS_CERT_EXPIRED)
		return PG_AUTH_R_CERT_EXPIRED;
	if (st & GNUTLS_CERT_NOT_ACTIVATED)
		return PG_AUTH_R_CERT_NOT_YET_VALID;
	if (st & GNUTLS_CERT_PURPOSE_MISMATCH)
		return PG_AUTH_R_CERT_BAD_PURPOSE;
	return PG_AUTH_R_CERT_UNTRUSTED;
}

/* The leaf's own fields, which need no trust store: validity at `now`
 * (wall seconds), not a CA, and TLS client authentication among its
 * extended key usages when it lists any (RFC 5280 4.2.1.12; anyExtendedKeyUsage
 * counts). */
static int leaf_status(gnutls_x509_crt_t crt, int64_t now)
{
	unsigned int crit = 0, ca = 0;
	time_t nb = gnutls_x509_crt_get_activation_time(crt), na = gnutls_x509_crt_get_expiration_time(crt);
	bool any_eku = false;

	if (nb == (time_t)-1 || na == (time_t)-1)
		return PG_AUTH_R_CERT_INVALID;
	if (now > (int64_t)na)
		return PG_AUTH_R_CERT_EXPIRED;
	if (now < (int64_t)nb)
		return PG_AUTH_R_CERT_NOT_YET_VALID;
	/* A CA certificate (e.g. the trust anchor itself) is never a client. */
	if (gnutls_x509_crt_get_basic_constraints(crt, &crit, &ca, NULL) >= 0 && ca)
		return PG_AUTH_R_CERT_IS_CA;
	for (unsigned i = 0; i < 64; i++) {
		char oid[128];
		size_t sz = sizeof(oid);
		int r = gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &sz, NULL);

		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (r < 0)
			return PG_AUTH_R_CERT_INVALID;
		any_eku = true;
		if (strcmp(oid, GNUTLS_KP_TLS_WWW_CLIENT) == 0 || strcmp(oid, GNUTLS_KP_ANY) == 0)
			return PG_AUTH_R_OK;
	}
	return any_eku ? PG_AUTH_R_CERT_BAD_PURPOSE : PG_AUTH_R_OK;
}

static void verify_crts(const struct pg_auth_x509_trust *t, gnutls_x509_crt_t *crts, size_t n,
			struct pg_auth_cert_result *res)
{
	gnutls_typed_vdata_st vdata = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
				       .data = (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT};
	unsigned int st = 0;

	if (gnutls_x509_trust_list_verify_crt2(t->tl, crts, (unsigned int)n, &vdata, 1, 0, &st,
					       NULL) < 0) {
		res->status = PG_AUTH_R_CERT_INVALID;
		return;
	}
	res->status = status_reason(st);
	if (res->status == PG_AUTH_R_OK)
		res->status = leaf_status(crts[0], (int64_t)time(NULL));
	if (res->status == PG_AUTH_R_OK)
		extract(crts[0], &res->id);
}

void pg_auth_x509_verify_der(struct pg_auth_x509_trust *t, const struct pg_auth_der *chain,
			     size_t n, struct pg_auth_cert_result *res)
{
	gnutls_x509_crt_t crts[PG_AUTH_X509_MAX_CHAIN];
	size_t got = 0;
	unsigned char digest[32];
	int cacheable = 0;
	int64_t now = (int64_t)time(NULL);

	memset(res, 0, sizeof(*res));
	res->status = PG_AUTH_R_CERT_MISSING;
	if (!t || !chain || n == 0)
		return;
	res->status = PG_AUTH_R_CERT_INVALID;
	if (n > PG_AUTH_X509_MAX_CHAIN)
		return;
	for (size_t i = 0; i < n; i++)
		if (!chain[i].data || chain[i].len == 0 || chain[i].len > (1u << 20))
			return;
	/* A hit skips parsing and verification: same bytes, same answer, while
	 * the entry lasts. */
	if (t->cache && chain_digest(t->sha256, chain, n, digest)) {
		cacheable = 1;
		if (xcache_get(t, digest, now, res))
			return;
	}
	for (got = 0; got < n; got++) {
		gnutls_datum_t d = {(unsigned char *)(uintptr_t)chain[got].data,
				    (unsigned int)chain[got].len};

		if (gnutls_x509_crt_init(&crts[got]) < 0)
			goto out;
		if (gnutls_x509_crt_import(crts[got], &d, GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(crts[got]);
			goto out;
		}
	}
	verify_crts(t, crts, n, res);
	if (res->status == PG_AUTH_R_OK) {
		int64_t until = now + (t->cache ? t->ttl_s : 1), na = (int64_t)gnutls_x509_crt_get_expiration_time(crts[0]);

		if (na > 0 && na < until)
			until = na;
		res->valid_until = until;
		if (cacheable)
			xcache_put(t, digest, until, res);
	}
out:
	for (size_t i = 0; i < got; i++)
		gnutls_x509_crt_deinit(crts[i]);
}

/* Imports a PEM chain (leaf first). PG_AUTH_R_OK with *crts and *n set (caller
 * frees with free_crts), _CERT_MISSING for no bytes, _CERT_INVALID for
 * anything unparsable or longer than PG_AUTH_X509_MAX_CHAIN. */
static int import_pem(const void *pem, size_t len, gnutls_x509_crt_t **crts, unsigned int *n)
{
	gnutls_datum_t d = {(unsigned char *)(uintptr_t)pem, (unsigned int)len};

	*crts = NULL;
	*n = 0;
	if (!pem || len == 0)
		return PG_AUTH_R_CERT_MISSING;
	if (len > (1u << 24) || gnutls_x509_crt_list_import2(crts, n, &d, GNUTLS_X509_FMT_PEM, 0) < 0) {
		*crts = NULL;
		*n = 0;
		return PG_AUTH_R_CERT_INVALID;
	}
	return *n > 0 && *n <= PG_AUTH_X509_MAX_CHAIN ? PG_AUTH_R_OK : PG_AUTH_R_CERT_INVALID;
}

static void free_crts(gnutls_x509_crt_t *crts, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
}

void pg_auth_x509_verify_pem(const struct pg_auth_x509_trust *t, const void *pem, size_t len,
			     struct pg_auth_cert_result *res)
{
	gnutls_x509_crt_t *crts = NULL;
	unsigned int n = 0;

	memset(res, 0, sizeof(*res));
	res->status = t ? import_pem(pem, len, &crts, &n) : PG_AUTH_R_CERT_MISSING;
	if (res->status == PG_AUTH_R_OK)
		verify_crts(t, crts, n, res);
	free_crts(crts, n);
}

void pg_auth_x509_check_leaf_pem(const void *pem, size_t len, int64_t now, struct pg_auth_cert_result *res)
{
	gnutls_x509_crt_t *crts = NULL;
	unsigned int n = 0;

	memset(res, 0, sizeof(*res));
	res->status = import_pem(pem, len, &crts, &n);
	if (res->status == PG_AUTH_R_OK)
		res->status = leaf_status(crts[0], now);
	if (res->status == PG_AUTH_R_OK)
		extract(crts[0], &res->id);
	free_crts(crts, n);
}

bool pg_auth_x509_trust_names_issuer(const struct pg_auth_x509_trust *t, const void *pem, size_t len)
{
	gnutls_x509_crt_t *crts = NULL, issuer = NULL;
	unsigned int n = 0;
	bool named = false;

	if (t && import_pem(pem, len, &crts, &n) == PG_AUTH_R_OK) {
		/* The chain's last certificate is the one a CA of t must have issued. */
		named = gnutls_x509_trust_list_get_issuer(t->tl, crts[n - 1], &issuer, 0) == 0;
	}
	free_crts(crts, n);
	return named;
}

const char *pg_auth_x509_status_text(int status)
{
	switch (status) {
	case PG_AUTH_R_OK:
		return "the certificate is valid";
	case PG_AUTH_R_CERT_MISSING:
		return "no client certificate was presented";
	case PG_AUTH_R_CERT_EXPIRED:
		return "the certificate has expired";
	case PG_AUTH_R_CERT_NOT_YET_VALID:
		return "the certificate is not valid yet (check its notBefore date and the clocks)";
	case PG_AUTH_R_CERT_UNTRUSTED:
		return "the certificate is not signed by a trusted CA (other CA, self-signed, or a bad "
		       "signature)";
	case PG_AUTH_R_CERT_IS_CA:
		return "the certificate is a CA certificate (CA:TRUE), not a client certificate";
	case PG_AUTH_R_CERT_BAD_PURPOSE:
		return "the certificate's extended key usage does not allow TLS client authentication "
		       "(clientAuth)";
	case PG_AUTH_R_IDENTITY_NOT_ALLOWED:
		return "the certificate's identity is not an allowed identity";
	default:
		return "the certificate cannot be parsed or its chain is too long";
	}
}
