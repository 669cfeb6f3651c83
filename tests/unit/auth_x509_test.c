/* Client certificate verification against certificates made at test time by
 * certs/gen-dev-pki.sh --test-extras. */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/reason.h"
#include "auth/x509.h"
#include "tests/unit/test.h"

static char dir[] = "/tmp/pg_auth_x509_XXXXXX";
static struct pg_auth_x509_trust *trust;

static char *slurp(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int verify_file(const char *name, struct pg_auth_cert_result *res)
{
	size_t n = 0;
	char *pem = slurp(name, &n);

	CHECK(pem != NULL);
	pg_auth_x509_verify_pem(trust, pem, n, res);
	free(pem);
	return res->status;
}

static void test_good_clients(void)
{
	struct pg_auth_cert_result r;

	CHECK_INT(verify_file("admin.crt", &r), PG_AUTH_R_OK);
	CHECK_STR(r.id.cn, "admin");
	CHECK_INT(r.id.n_uri, 1);
	CHECK_STR(r.id.uri[0], "spiffe://pprofgate.local/admin");
	CHECK_INT(r.id.n_dns, 0);
	CHECK_INT(verify_file("operator.crt", &r), PG_AUTH_R_OK);
	CHECK_STR(r.id.cn, "operator");
	/* No EKU at all: any purpose (RFC 5280 §4.2.1.12). */
	CHECK_INT(verify_file("noeku-client.crt", &r), PG_AUTH_R_OK);
	CHECK_STR(r.id.cn, "operator");
}

static void test_bad_clients(void)
{
	struct pg_auth_cert_result r;

	CHECK_INT(verify_file("expired-client.crt", &r), PG_AUTH_R_CERT_EXPIRED);
	CHECK_STR(r.id.cn, ""); /* no identity unless verified */
	CHECK_INT(verify_file("future-client.crt", &r), PG_AUTH_R_CERT_NOT_YET_VALID);
	CHECK_INT(verify_file("rogue-client.crt", &r), PG_AUTH_R_CERT_UNTRUSTED);
	CHECK_STR(r.id.cn, "");
	CHECK_INT(verify_file("selfsigned-client.crt", &r), PG_AUTH_R_CERT_UNTRUSTED);
	CHECK_INT(verify_file("serveronly-client.crt", &r), PG_AUTH_R_CERT_BAD_PURPOSE);
	CHECK_INT(verify_file("server.crt", &r), PG_AUTH_R_CERT_BAD_PURPOSE);
	/* The CA itself is not a client, nor a CA:TRUE certificate it issued,
	 * whatever its name and key usage say. */
	CHECK_INT(verify_file("ca.crt", &r), PG_AUTH_R_CERT_IS_CA);
	CHECK_INT(verify_file("ca-client.crt", &r), PG_AUTH_R_CERT_IS_CA);
	CHECK_STR(r.id.cn, "");
	pg_auth_x509_verify_pem(trust, "garbage", 7, &r);
	CHECK_INT(r.status, PG_AUTH_R_CERT_INVALID);
	pg_auth_x509_verify_pem(trust, "", 0, &r);
	CHECK_INT(r.status, PG_AUTH_R_CERT_MISSING);
	pg_auth_x509_verify_der(trust, NULL, 0, &r);
	CHECK_INT(r.status, PG_AUTH_R_CERT_MISSING);
}

/* The rogue chain verifies against its own CA, proving the test certificates
 * are well-formed and only the trust anchor differs. */
static void test_rogue_ca_trust(void)
{
	struct pg_auth_x509_trust *rogue = NULL;
	struct pg_auth_cert_result r;
	size_t n = 0;
	char *pem = slurp("rogue-ca.crt", &n), *leaf;

	CHECK_INT(pg_auth_x509_trust_new_mem(pem, n, &rogue), PG_OK);
	free(pem);
	leaf = slurp("rogue-client.crt", &n);
	pg_auth_x509_verify_pem(rogue, leaf, n, &r);
	CHECK_INT(r.status, PG_AUTH_R_OK);
	free(leaf);
	leaf = slurp("admin.crt", &n);
	pg_auth_x509_verify_pem(rogue, leaf, n, &r);
	CHECK_INT(r.status, PG_AUTH_R_CERT_UNTRUSTED);
	free(leaf);
	pg_auth_x509_trust_free(&rogue);
	CHECK(rogue == NULL);
}

static void test_der(void)
{
	size_t n = 0;
	char *pem = slurp("admin.crt", &n);
	BIO *b = BIO_new_mem_buf(pem, (int)n);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	unsigned char *der = NULL;
	int dl = i2d_X509(x, &der);
	struct pg_auth_der chain[1] = {{der, (size_t)dl}};
	struct pg_auth_der many[PG_AUTH_X509_MAX_CHAIN + 1];
	struct pg_auth_cert_result r;

	CHECK(dl > 0);
	pg_auth_x509_verify_der(trust, chain, 1, &r);
	CHECK_INT(r.status, PG_AUTH_R_OK);
	CHECK_STR(r.id.uri[0], "spiffe://pprofgate.local/admin");
	der[dl / 2] ^= 0x01; /* corrupt */
	pg_auth_x509_verify_der(trust, chain, 1, &r);
	CHECK(r.status != PG_AUTH_R_OK);
	for (size_t i = 0; i < PG_AUTH_X509_MAX_CHAIN + 1; i++)
		many[i] = chain[0];
	pg_auth_x509_verify_der(trust, many, PG_AUTH_X509_MAX_CHAIN + 1, &r);
	CHECK_INT(r.status, PG_AUTH_R_CERT_INVALID);
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(b);
	free(pem);
}

static char *chain_of(const char *name, int copies, size_t *len)
{
	size_t n = 0;
	char *one = slurp(name, &n), *all = malloc(n * (size_t)copies + 1);

	CHECK(one != NULL && all != NULL);
	for (int i = 0; i < copies; i++)
		memcpy(all + n * (size_t)i, one, n);
	all[n * (size_t)copies] = '\0';
	*len = n * (size_t)copies;
	free(one);
	return all;
}

/* PEM chains as the admin API gets them from gRPC: leaf then intermediates. */
static void test_pem_chain_limits(void)
{
	struct pg_auth_cert_result r;
	size_t n = 0;
	char *pem = chain_of("admin.crt", PG_AUTH_X509_MAX_CHAIN + 1, &n);

	pg_auth_x509_verify_pem(trust, pem, n, &r);
	CHECK_INT(r.status, PG_AUTH_R_CERT_INVALID);
	free(pem);
	/* The leaf followed by its CA is a normal chain. */
	{
		size_t a = 0, b = 0;
		char *leaf = slurp("admin.crt", &a), *ca = slurp("ca.crt", &b), *both = malloc(a + b + 1);

		memcpy(both, leaf, a);
		memcpy(both + a, ca, b);
		both[a + b] = '\0';
		pg_auth_x509_verify_pem(trust, both, a + b, &r);
		CHECK_INT(r.status, PG_AUTH_R_OK);
		CHECK_STR(r.id.cn, "admin");
		free(both);
		free(ca);
		free(leaf);
	}
	pg_auth_x509_verify_pem(NULL, "x", 1, &r);
	CHECK_INT(r.status, PG_AUTH_R_CERT_MISSING);
}

/* What pprofgatectl checks on its own certificate before it connects. */
static void test_check_leaf(void)
{
	struct pg_auth_cert_result r;
	int64_t now = (int64_t)time(NULL);
	static const struct {
		const char *file;
		int status;
	} cases[] = {
		{"admin.crt", PG_AUTH_R_OK},
		{"noeku-client.crt", PG_AUTH_R_OK},
		{"rogue-client.crt", PG_AUTH_R_OK}, /* the issuer is not the leaf's business */
		{"expired-client.crt", PG_AUTH_R_CERT_EXPIRED},
		{"future-client.crt", PG_AUTH_R_CERT_NOT_YET_VALID},
		{"ca-client.crt", PG_AUTH_R_CERT_IS_CA},
		{"ca.crt", PG_AUTH_R_CERT_IS_CA},
		{"serveronly-client.crt", PG_AUTH_R_CERT_BAD_PURPOSE},
		{"server.crt", PG_AUTH_R_CERT_BAD_PURPOSE},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = 0;
		char *pem = slurp(cases[i].file, &n);

		pg_auth_x509_check_leaf_pem(pem, n, now, &r);
		CHECK_INT(r.status, cases[i].status);
		free(pem);
	}
	{
		size_t n = 0;
		char *pem = slurp("admin.crt", &n);

		pg_auth_x509_check_leaf_pem(pem, n, now, &r);
		CHECK_STR(r.id.uri[0], "spiffe://pprofgate.local/admin");
		/* Dates are checked against the time given. */
		pg_auth_x509_check_leaf_pem(pem, n, now + 100LL * 365 * 86400, &r);
		CHECK_INT(r.status, PG_AUTH_R_CERT_EXPIRED);
		CHECK_STR(r.id.cn, "");
		free(pem);
	}
	pg_auth_x509_check_leaf_pem("garbage", 7, now, &r);
	CHECK_INT(r.status, PG_AUTH_R_CERT_INVALID);
	pg_auth_x509_check_leaf_pem(NULL, 0, now, &r);
	CHECK_INT(r.status, PG_AUTH_R_CERT_MISSING);
}

static void test_names_issuer(void)
{
	static const char *const ours[] = {"admin.crt", "expired-client.crt", "ca-client.crt"};
	static const char *const theirs[] = {"rogue-client.crt", "selfsigned-client.crt"};

	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
		size_t n = 0;
		char *pem = slurp(ours[i], &n);

		CHECK(pg_auth_x509_trust_names_issuer(trust, pem, n));
		free(pem);
	}
	for (size_t i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++) {
		size_t n = 0;
		char *pem = slurp(theirs[i], &n);

		CHECK(!pg_auth_x509_trust_names_issuer(trust, pem, n));
		free(pem);
	}
	CHECK(!pg_auth_x509_trust_names_issuer(trust, "garbage", 7));
	CHECK(!pg_auth_x509_trust_names_issuer(NULL, "garbage", 7));
}

static void test_status_text(void)
{
	CHECK_CONTAINS(pg_auth_x509_status_text(PG_AUTH_R_CERT_EXPIRED), "expired");
	CHECK_CONTAINS(pg_auth_x509_status_text(PG_AUTH_R_CERT_NOT_YET_VALID), "not valid yet");
	CHECK_CONTAINS(pg_auth_x509_status_text(PG_AUTH_R_CERT_UNTRUSTED), "trusted CA");
	CHECK_CONTAINS(pg_auth_x509_status_text(PG_AUTH_R_CERT_IS_CA), "CA certificate");
	CHECK_CONTAINS(pg_auth_x509_status_text(PG_AUTH_R_CERT_BAD_PURPOSE), "clientAuth");
	CHECK_CONTAINS(pg_auth_x509_status_text(PG_AUTH_R_CERT_MISSING), "no client certificate");
	CHECK_CONTAINS(pg_auth_x509_status_text(PG_AUTH_R_IDENTITY_NOT_ALLOWED), "not an allowed");
	CHECK_CONTAINS(pg_auth_x509_status_text(-7), "cannot be parsed");
}

static void test_trust_errors(void)
{
	struct pg_auth_x509_trust *t = NULL;

	CHECK_INT(pg_auth_x509_trust_new_mem("nothing here", 12, &t), PG_EINVAL);
	CHECK(t == NULL);
	CHECK_INT(pg_auth_x509_trust_new_file("/nonexistent/ca.crt", &t), PG_EIO);
	CHECK_CONTAINS(pg_errmsg(), "/nonexistent/ca.crt");
}

static void test_cost(void)
{
	size_t n = 0;
	char *pem = slurp("admin.crt", &n);
	BIO *b = BIO_new_mem_buf(pem, (int)n);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	unsigned char *der = NULL;
	int dl = i2d_X509(x, &der), ok = 1;
	struct pg_auth_der chain[1] = {{der, (size_t)dl}};
	struct pg_auth_cert_result r;
	struct timespec a, z;
	const int iters = 200;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < iters; i++) {
		pg_auth_x509_verify_der(trust, chain, 1, &r);
		ok &= r.status == PG_AUTH_R_OK;
	}
	clock_gettime(CLOCK_MONOTONIC, &z);
	CHECK(ok);
	printf("cost: client chain verification + identity (DER, P-256) %.1f us uncached",
	       ((z.tv_sec - a.tv_sec) * 1e9 + (z.tv_nsec - a.tv_nsec)) / iters / 1e3);
	{
		struct pg_auth_x509_stats st;

		CHECK_INT(pg_auth_x509_trust_set_cache(trust, 0, 60), PG_EINVAL);
		CHECK_INT(pg_auth_x509_trust_set_cache(trust, 64, 0), PG_EINVAL);
		CHECK_INT(pg_auth_x509_trust_set_cache(trust, 64, 60), PG_OK);
		pg_auth_x509_verify_der(trust, chain, 1, &r);
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (int i = 0; i < iters * 10; i++) {
			pg_auth_x509_verify_der(trust, chain, 1, &r);
			ok &= r.status == PG_AUTH_R_OK;
		}
		clock_gettime(CLOCK_MONOTONIC, &z);
		CHECK(ok);
		CHECK_STR(r.id.uri[0], "spiffe://pprofgate.local/admin");
		pg_auth_x509_stats(trust, &st);
		CHECK_INT(st.hits, iters * 10);
		CHECK_INT(st.misses, 1);
		printf(", %.2f us cached\n",
		       ((z.tv_sec - a.tv_sec) * 1e9 + (z.tv_nsec - a.tv_nsec)) / (iters * 10) / 1e3);
		/* A different chain (corrupted byte) misses and fails. */
		der[dl - 5] ^= 0x01;
		pg_auth_x509_verify_der(trust, chain, 1, &r);
		CHECK(r.status != PG_AUTH_R_OK);
		pg_auth_x509_stats(trust, &st);
		CHECK_INT(st.misses, 2);
	}
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(b);
	free(pem);
}

int main(void)
{
	char cmd[512], ca[300];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(cmd, sizeof(cmd), "certs/gen-dev-pki.sh --dir %s --test-extras >/dev/null", dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "gen-dev-pki.sh failed\n");
		return 1;
	}
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	if (pg_auth_x509_trust_new_file(ca, &trust) != PG_OK) {
		fprintf(stderr, "%s\n", pg_errmsg());
		return 1;
	}
	RUN(test_good_clients);
	RUN(test_bad_clients);
	RUN(test_rogue_ca_trust);
	RUN(test_der);
	RUN(test_pem_chain_limits);
	RUN(test_check_leaf);
	RUN(test_names_issuer);
	RUN(test_status_text);
	RUN(test_trust_errors);
	RUN(test_cost);
	pg_auth_x509_trust_free(&trust);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	TEST_END();
}
