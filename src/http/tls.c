#include "src/http/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

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

const char *pg_http_tls_priorities(bool min_tls13)
{
	/* SECURE128/256 drop export, RC4, 3DES and CBC-SHA1 suites; then only
	 * AEAD ciphers and forward-secret ECDHE key exchange are re-allowed.
	 * Groups: X25519, then P-256, then P-384, nothing else: TLS 1.3 would
	 * otherwise also offer the FFDHE groups, and clients that guess a
	 * group outside this list pay one HelloRetryRequest. */
	if (min_tls13)
		return "SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"
		       "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:"
		       "+GROUP-SECP384R1:%SERVER_PRECEDENCE";
	return "SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:"
	       "+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:"
	       "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%SERVER_PRECEDENCE";
}

int pg_http_tls_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = -1, rc = PG_OK;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pg_fail(PG_EIO, "cannot read %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 || (size_t)st.st_size > max) {
		rc = pg_fail(PG_EINVAL, "%s: not a regular file of at most %zu bytes", path, max);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = pg_fail(PG_ENOMEM, "out of memory reading %s", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = pg_fail(PG_EIO, "cannot read %s: %s", path, n < 0 ? strerror(errno) : "short read");
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
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

int pg_http_tls_install(const char *cert_file, const char *key_file)
{
	char *cert = NULL, *key = NULL;
	size_t clen = 0, klen = 0;
	struct creds *c = NULL;
	gnutls_certificate_credentials_t probe = NULL;
	gnutls_datum_t cd, kd;
	int rc, grc;

	rc = check_key_mode(key_file);
	if (rc == PG_OK)
		rc = pg_http_tls_read_file(cert_file, PEM_MAX, &cert, &clen);
	if (rc == PG_OK)
		rc = pg_http_tls_read_file(key_file, PEM_MAX, &key, &klen);
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
	pthread_mutex_lock(&g_lock);
	if (g_cur) {
		g_cur->next = g_old;
		g_old = g_cur;
	}
	g_cur = c;
	c = NULL;
	pthread_mutex_unlock(&g_lock);
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

void pg_http_tls_release(void)
{
	pthread_mutex_lock(&g_lock);
	creds_free(g_cur);
	g_cur = NULL;
	while (g_old) {
		struct creds *n = g_old->next;

		creds_free(g_old);
		g_old = n;
	}
	pthread_mutex_unlock(&g_lock);
}

/* ---- one connection's beginning ------------------------------------------- */

#define PLAIN_PEEK_MAX 4096

struct pg_http_tls_conn {
	int fd;
	gnutls_session_t session; /* NULL: a plain HTTP connection */
	unsigned requests;        /* request lines libmicrohttpd parsed */
	size_t rx;           /* bytes read before the session was up */
	bool done;           /* the client's Finished was processed */
	bool plain;          /* plain HTTP, answered */
	char target[256];    /* plain HTTP: the request-target, as far as seen */
	size_t target_len;
};

/* Go's net/http answer to plain HTTP on a TLS port (crypto/tls RecordHeaderError). */
static const char plain_answer[] = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/* Reads what the client sent with its first bytes (bounded, never waits),
 * keeps the target of the request line and answers. */
static void answer_plain(struct pg_http_tls_conn *c, const char *first, size_t n)
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
	struct pg_http_tls_conn *c = p;
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
	struct pg_http_tls_conn *c = p;
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};

	return poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

/* The client's Finished (the last handshake message a server receives, in
 * TLS 1.2 full and resumed handshakes and in TLS 1.3) was processed. */
static int on_finished(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
		       const gnutls_datum_t *msg)
{
	struct MHD_Connection *mc = gnutls_session_get_ptr(s);
	const union MHD_ConnectionInfo *ci = mc ? MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
	struct pg_http_tls_conn *c = ci ? ci->socket_context : NULL;

	(void)when;
	(void)msg;
	if (c && c->session == s && incoming && htype == GNUTLS_HANDSHAKE_FINISHED)
		c->done = true;
	return 0;
}

struct pg_http_tls_conn *pg_http_tls_conn_watch(gnutls_session_t s, int fd)
{
	struct pg_http_tls_conn *c = calloc(1, sizeof(*c));

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

enum pg_http_tls_outcome pg_http_tls_conn_outcome(const struct pg_http_tls_conn *c, const char **target,
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
		return PG_HTTP_TLS_HANDSHAKE_DONE;
	}
	if (c->plain)
		return PG_HTTP_TLS_PLAIN_HTTP;
	if (c->done)
		return PG_HTTP_TLS_HANDSHAKE_DONE;
	return c->rx ? PG_HTTP_TLS_FAILED : PG_HTTP_TLS_SILENT;
}

void pg_http_tls_conn_request(struct pg_http_tls_conn *c)
{
	if (c)
		c->requests++;
}

void pg_http_tls_conn_free(struct pg_http_tls_conn **pp)
{
	if (!pp || !*pp)
		return;
	free(*pp);
	*pp = NULL;
}
