#include "src/http/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/util/clock.h"
#include "src/util/file.h"
#include "src/util/log.h"

#define MOD "http"
#define MAX_CHAIN 8
#define PEM_MAX (1u << 20)

struct creds {
	gnutls_pcert_st pcerts[MAX_CHAIN];
	unsigned n;
	gnutls_privkey_t key;
	struct creds *next; /* replaced credentials, kept until release */
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct creds *g_cur;
static struct creds *g_old;

/* The session-ticket master key (never leaves the process), replaced every
 * PG_HTTP_TLS_TICKET_KEY_ROTATE_S; guarded by g_lock. */
static gnutls_datum_t g_stek;
static int64_t g_stek_born_ms;

const char *pg_http_tls_priorities(bool min_tls13)
{
	/* SECURE128/256 drop export, RC4, 3DES and CBC-SHA1 suites; then only
	 * AEAD ciphers and forward-secret ECDHE key exchange are re-allowed.
	 * Groups: X25519, then P-256, then P-384, nothing else: TLS 1.3 would
	 * otherwise also offer the FFDHE groups, and clients that guess a
	 * group outside this list pay one HelloRetryRequest. Ciphers:
	 * AES-128-GCM first (what Go's crypto/tls prefers with AES hardware;
	 * 128-bit AEAD keys are not the weak link next to a 128-bit-secure
	 * curve), then AES-256-GCM and ChaCha20-Poly1305 for clients that ask. */
	if (min_tls13)
		return "SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
		       "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:"
		       "+GROUP-SECP384R1:%SERVER_PRECEDENCE";
	return "SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:"
	       "+AES-256-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:"
	       "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%SERVER_PRECEDENCE";
}

/* A private key others can read is as good as published: refuse it rather
 * than warn (the operator fixes it once; a warning is read by nobody). */
static int check_key_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return pg_fail(PG_EIO, "cannot read key file %s: %s", path, strerror(errno));
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return pg_fail(PG_EDENIED,
			       "key file %s is accessible by group or others (mode %03o); run: chmod 600 %s",
			       path, (unsigned)(st.st_mode & 0777), path);
	return PG_OK;
}

static void creds_free(struct creds *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->n; i++)
		gnutls_pcert_deinit(&c->pcerts[i]);
	if (c->key)
		gnutls_privkey_deinit(c->key);
	free(c);
}

/* Reads, checks and parses cert_file and key_file into *out. */
static int creds_load(const char *cert_file, const char *key_file, struct creds **out)
{
	char *cert = NULL, *key = NULL;
	size_t clen = 0, klen = 0;
	struct creds *c = NULL;
	gnutls_certificate_credentials_t probe = NULL;
	gnutls_datum_t cd, kd;
	int rc, grc;

	*out = NULL;
	rc = check_key_mode(key_file);
	if (rc == PG_OK)
		rc = pg_file_read(cert_file, PEM_MAX, 0, &cert, &clen);
	if (rc == PG_OK)
		rc = pg_file_read(key_file, PEM_MAX, 0, &key, &klen);
	if (rc != PG_OK)
		goto out;
	cd = (gnutls_datum_t){(unsigned char *)cert, (unsigned)clen};
	kd = (gnutls_datum_t){(unsigned char *)key, (unsigned)klen};
	/* The credentials API checks that the key matches the leaf. */
	if (gnutls_certificate_allocate_credentials(&probe) != GNUTLS_E_SUCCESS) {
		rc = pg_fail(PG_ENOMEM, "out of memory loading the TLS certificate");
		goto out;
	}
	grc = gnutls_certificate_set_x509_key_mem2(probe, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (grc < 0) {
		rc = pg_fail(PG_EINVAL, "TLS certificate %s with key %s: %s", cert_file, key_file,
			     gnutls_strerror(grc));
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = pg_fail(PG_ENOMEM, "out of memory loading the TLS certificate");
		goto out;
	}
	c->n = MAX_CHAIN;
	grc = gnutls_pcert_list_import_x509_raw(c->pcerts, &c->n, &cd, GNUTLS_X509_FMT_PEM, 0);
	if (grc < 0) {
		c->n = 0;
		rc = pg_fail(PG_EINVAL, "TLS certificate %s: %s", cert_file, gnutls_strerror(grc));
		goto out;
	}
	grc = gnutls_privkey_init(&c->key);
	if (grc >= 0)
		grc = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (grc < 0) {
		rc = pg_fail(PG_EINVAL, "TLS key %s: %s", key_file, gnutls_strerror(grc));
		goto out;
	}
	*out = c;
	c = NULL;
out:
	creds_free(c);
	if (probe)
		gnutls_certificate_free_credentials(probe);
	if (key) {
		explicit_bzero(key, klen);
		free(key);
	}
	free(cert);
	return rc;
}

int pg_http_tls_install(const char *cert_file, const char *key_file)
{
	struct creds *c = NULL;
	int rc = creds_load(cert_file, key_file, &c);

	if (rc != PG_OK)
		return rc;
	pthread_mutex_lock(&g_lock);
	if (g_cur) {
		g_cur->next = g_old;
		g_old = g_cur;
	}
	g_cur = c;
	pthread_mutex_unlock(&g_lock);
	return PG_OK;
}

int pg_http_tls_check(const char *cert_file, const char *key_file)
{
	struct creds *c = NULL;
	int rc = creds_load(cert_file, key_file, &c);

	creds_free(c);
	return rc;
}

int pg_http_tls_retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca_rdn, int nreqs,
			 const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
			 gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
	int rc = -1;

	(void)s;
	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	pthread_mutex_lock(&g_lock);
	if (g_cur) {
		*pcert = g_cur->pcerts;
		*pcert_length = g_cur->n;
		*privkey = g_cur->key;
		rc = 0;
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

/* GnuTLS copies the master key into the session (lib/stek.c) and derives
 * from it the key that encrypts tickets, a new one every ticket lifetime,
 * accepting the previous one too; replacing the master key ends every
 * ticket issued under it (those clients make one full handshake). */
static void stek_free(void)
{
	if (g_stek.data) {
		gnutls_memset(g_stek.data, 0, g_stek.size);
		gnutls_free(g_stek.data);
	}
	g_stek.data = NULL;
	g_stek.size = 0;
}

int pg_http_tls_session_init(gnutls_session_t s)
{
	int64_t now = pg_clock_mono_ms();
	int grc = 0;

	pthread_mutex_lock(&g_lock);
	if (!g_stek.data || now - g_stek_born_ms >= (int64_t)PG_HTTP_TLS_TICKET_KEY_ROTATE_S * 1000) {
		stek_free();
		grc = gnutls_session_ticket_key_generate(&g_stek);
		g_stek_born_ms = now;
	}
	if (grc >= 0) {
		gnutls_db_set_cache_expiration(s, PG_HTTP_TLS_TICKET_LIFETIME_S);
		grc = gnutls_session_ticket_enable_server(s, &g_stek);
	}
	pthread_mutex_unlock(&g_lock);
	if (grc < 0)
		return pg_fail(PG_EINTERNAL, "TLS session tickets: %s", gnutls_strerror(grc));
	return PG_OK;
}

void pg_http_tls_release(void)
{
	pthread_mutex_lock(&g_lock);
	stek_free();
	creds_free(g_cur);
	g_cur = NULL;
	while (g_old) {
		struct creds *n = g_old->next;

		creds_free(g_old);
		g_old = n;
	}
	pthread_mutex_unlock(&g_lock);
}
