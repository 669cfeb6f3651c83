/* JWT verification: every refusal reason, with tokens minted here by libjwt
 * using keys generated here by OpenSSL. */
#include <jwt.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/jwt.h"
#include "auth/scope.h"
#include "tests/unit/test.h"

#define NOW 1800000000L

static char *rsa_priv, *rsa_pub, *ec_priv, *ec_pub, *rsa2_priv;
static unsigned char hs_secret[32];

static char *pem_of(EVP_PKEY *pk, int priv)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	if (priv)
		PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL);
	else
		PEM_write_bio_PUBKEY(b, pk);
	n = BIO_get_mem_data(b, &data);
	out = malloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(b);
	return out;
}

static void make_keys(void)
{
	EVP_PKEY *rsa = EVP_RSA_gen(2048), *rsa2 = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256");

	rsa_priv = pem_of(rsa, 1);
	rsa_pub = pem_of(rsa, 0);
	rsa2_priv = pem_of(rsa2, 1);
	ec_priv = pem_of(ec, 1);
	ec_pub = pem_of(ec, 0);
	RAND_bytes(hs_secret, sizeof(hs_secret));
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(ec);
}

struct claims {
	const char *iss, *aud, *aud_json, *sub, *scope, *scp_json, *extra_json;
	long exp, nbf, iat;
	int no_exp;
	const char *kid;
};

static struct claims good(void)
{
	struct claims c = {.iss = "https://issuer.example", .aud = "pprofgate", .sub = "alice",
			   .scope = "pprof:read pprof:sensitive", .exp = NOW + 300, .iat = NOW - 10};
	return c;
}

/* Mints a token; the caller frees it. */
static char *mint(jwt_alg_t alg, const void *key, size_t keylen, const struct claims *c)
{
	jwt_t *j = NULL;
	char *t;

	jwt_new(&j);
	if (c->iss)
		jwt_add_grant(j, "iss", c->iss);
	if (c->aud)
		jwt_add_grant(j, "aud", c->aud);
	if (c->aud_json) {
		char buf[256];
		snprintf(buf, sizeof(buf), "{\"aud\":%s}", c->aud_json);
		jwt_add_grants_json(j, buf);
	}
	if (c->sub)
		jwt_add_grant(j, "sub", c->sub);
	if (c->scope)
		jwt_add_grant(j, "scope", c->scope);
	if (c->scp_json) {
		char buf[256];
		snprintf(buf, sizeof(buf), "{\"scp\":%s}", c->scp_json);
		jwt_add_grants_json(j, buf);
	}
	if (c->extra_json)
		jwt_add_grants_json(j, c->extra_json);
	if (!c->no_exp)
		jwt_add_grant_int(j, "exp", c->exp);
	if (c->nbf)
		jwt_add_grant_int(j, "nbf", c->nbf);
	if (c->iat)
		jwt_add_grant_int(j, "iat", c->iat);
	if (c->kid)
		jwt_add_header(j, "kid", c->kid);
	jwt_set_alg(j, alg, key, (int)keylen);
	t = jwt_encode_str(j);
	jwt_free(j);
	return t;
}

/* base64url without padding of n bytes, appended to out. */
static void b64url_cat(char *out, const unsigned char *in, size_t n)
{
	char tmp[1024];
	int len = EVP_EncodeBlock((unsigned char *)tmp, in, (int)n);
	char *o = out + strlen(out);

	for (int i = 0; i < len && tmp[i] != '='; i++)
		*o++ = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
	*o = '\0';
}

/* An HS256 token over a payload written by hand (JSON that libjwt's own
 * encoder would never produce). Static storage. */
static const char *hs256_raw(const char *payload)
{
	static char t[2048];
	static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	unsigned char mac[32];
	unsigned mac_len = 0;

	t[0] = '\0';
	b64url_cat(t, (const unsigned char *)hdr, strlen(hdr));
	strcat(t, ".");
	b64url_cat(t, (const unsigned char *)payload, strlen(payload));
	HMAC(EVP_sha256(), hs_secret, sizeof(hs_secret), (const unsigned char *)t, strlen(t), mac, &mac_len);
	strcat(t, ".");
	b64url_cat(t, mac, mac_len);
	return t;
}

static struct pg_auth_jwt *verifier(void)
{
	struct pg_auth_jwt_config cfg = {.issuer = "https://issuer.example", .audience = "pprofgate",
					 .skew_s = 60, .cache_max = 64};
	struct pg_auth_jwt *v = NULL;

	CHECK_INT(pg_auth_jwt_new(&cfg, &v), PG_OK);
	CHECK_INT(pg_auth_jwt_add_key(v, PG_AUTH_ALG_RS256, NULL, rsa_pub, strlen(rsa_pub)), PG_OK);
	CHECK_INT(pg_auth_jwt_add_key(v, PG_AUTH_ALG_ES256, NULL, ec_pub, strlen(ec_pub)), PG_OK);
	CHECK_INT(pg_auth_jwt_add_key(v, PG_AUTH_ALG_HS256, NULL, hs_secret, sizeof(hs_secret)), PG_OK);
	return v;
}

static enum pg_auth_reason verify_at(struct pg_auth_jwt *v, const char *t, long now,
				     struct pg_auth_token *out)
{
	return pg_auth_jwt_verify(v, t, t ? strlen(t) : 0, now, out);
}

static enum pg_auth_reason verify_fresh(const char *t)
{
	struct pg_auth_jwt *v = verifier();
	struct pg_auth_token tok;
	enum pg_auth_reason r = verify_at(v, t, NOW, &tok);

	pg_auth_jwt_free(&v);
	return r;
}

static void test_valid_rs256(void)
{
	struct claims c = good();
	char *t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	struct pg_auth_jwt *v = verifier();
	struct pg_auth_token tok;

	CHECK_INT(verify_at(v, t, NOW, &tok), PG_AUTH_R_OK);
	CHECK_STR(tok.subject, "alice");
	CHECK_INT(tok.scopes, PG_AUTH_SCOPE_READ | PG_AUTH_SCOPE_SENSITIVE);
	CHECK_STR(tok.scope_text, "pprof:read pprof:sensitive");
	CHECK_INT(tok.exp, NOW + 300);
	CHECK_INT(tok.alg, PG_AUTH_ALG_RS256);
	CHECK_INT(tok.cached, 0);
	/* The second time comes from the cache. */
	CHECK_INT(verify_at(v, t, NOW + 1, &tok), PG_AUTH_R_OK);
	CHECK_INT(tok.cached, 1);
	CHECK_STR(tok.subject, "alice");
	/* A cached token still expires. */
	CHECK_INT(verify_at(v, t, NOW + 300 + 60, &tok), PG_AUTH_R_TOKEN_EXPIRED);
	CHECK_INT(verify_at(v, t, NOW + 300 + 60, &tok), PG_AUTH_R_TOKEN_EXPIRED);
	pg_auth_jwt_free(&v);
	CHECK(v == NULL);
	free(t);
}

static void test_valid_es256_hs256(void)
{
	struct claims c = good();
	char *t1 = mint(JWT_ALG_ES256, ec_priv, strlen(ec_priv), &c);
	char *t2 = mint(JWT_ALG_HS256, hs_secret, sizeof(hs_secret), &c);

	CHECK_INT(verify_fresh(t1), PG_AUTH_R_OK);
	CHECK_INT(verify_fresh(t2), PG_AUTH_R_OK);
	free(t1);
	free(t2);
}

static void test_alg_none(void)
{
	struct claims c = good();
	char *t = mint(JWT_ALG_NONE, NULL, 0, &c);

	CHECK(t != NULL);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_ALG_NOT_ALLOWED);
	free(t);
}

/* The classic confusion: HS256 with the RSA public key PEM as the secret. */
static void test_alg_confusion(void)
{
	struct claims c = good();
	char *t = mint(JWT_ALG_HS256, rsa_pub, strlen(rsa_pub), &c);
	struct pg_auth_jwt *v = NULL;
	struct pg_auth_jwt_config cfg = {.skew_s = -1};
	struct pg_auth_token tok;

	/* The trap is real: libjwt alone accepts this token with the PEM. */
	{
		jwt_t *j = NULL;

		CHECK_INT(jwt_decode(&j, t, (const unsigned char *)rsa_pub, (int)strlen(rsa_pub)), 0);
		jwt_free(j);
	}
	/* Only the RSA key configured: no HS256 key, so the alg is refused. */
	CHECK_INT(pg_auth_jwt_new(&cfg, &v), PG_OK);
	CHECK_INT(pg_auth_jwt_add_key(v, PG_AUTH_ALG_RS256, NULL, rsa_pub, strlen(rsa_pub)), PG_OK);
	CHECK_INT(verify_at(v, t, NOW, &tok), PG_AUTH_R_ALG_NOT_ALLOWED);
	/* And the PEM can never be configured as an HMAC secret. */
	CHECK_INT(pg_auth_jwt_add_key(v, PG_AUTH_ALG_HS256, NULL, rsa_pub, strlen(rsa_pub)), PG_EINVAL);
	pg_auth_jwt_free(&v);
	/* With an HS256 key too, the signature does not verify. */
	CHECK_INT(verify_fresh(t), PG_AUTH_R_BAD_SIGNATURE);
	free(t);
}

static void test_time_claims(void)
{
	struct claims c = good();
	char *t;

	c.exp = NOW - 61;
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_TOKEN_EXPIRED);
	free(t);
	c.exp = NOW - 30; /* within the 60 s skew */
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_OK);
	free(t);
	c = good();
	c.nbf = NOW + 120;
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_TOKEN_NOT_YET_VALID);
	free(t);
	c.nbf = NOW + 30;
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_OK);
	free(t);
	c = good();
	c.iat = NOW + 3600;
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_TOKEN_NOT_YET_VALID);
	free(t);
	c = good();
	c.no_exp = 1;
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_EXP_MISSING);
	free(t);
	c.extra_json = "{\"exp\":\"1900000000\"}";
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_TOKEN_MALFORMED);
	free(t);
	c = good();
	c.sub = "alice\nINFO forged log line";
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_TOKEN_MALFORMED);
	free(t);
	c = good();
	c.no_exp = 1;
	c.extra_json = "{\"exp\":1800000100.5}"; /* NumericDate may be fractional */
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_OK);
	free(t);
	/* A well-signed token whose exp is out of range is a claim problem,
	 * not a signature one (libjwt's decoder refuses it). */
	c.extra_json = "{\"exp\":1e20}";
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_TOKEN_MALFORMED);
	free(t);
	c.extra_json = "{\"exp\":1e20}";
	t = mint(JWT_ALG_HS256, hs_secret, sizeof(hs_secret), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_TOKEN_MALFORMED);
	free(t);
	c.extra_json = "{\"exp\":-5}";
	t = mint(JWT_ALG_ES256, ec_priv, strlen(ec_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_TOKEN_MALFORMED);
	free(t);
	/* exp=1e20 written as an integer overflows libjwt's JSON reader. */
	CHECK_INT(verify_fresh(hs256_raw("{\"iss\":\"https://issuer.example\",\"aud\":\"pprofgate\","
					 "\"sub\":\"alice\",\"scope\":\"pprof:read\","
					 "\"exp\":100000000000000000000}")),
		  PG_AUTH_R_TOKEN_MALFORMED);
	/* The same token with a sane exp is accepted: the helper signs right. */
	CHECK_INT(verify_fresh(hs256_raw("{\"iss\":\"https://issuer.example\",\"aud\":\"pprofgate\","
					 "\"sub\":\"alice\",\"scope\":\"pprof:read\","
					 "\"exp\":1800000300}")),
		  PG_AUTH_R_OK);
	/* Without a valid signature too, such a payload is malformed. */
	{
		char bad[2048];

		snprintf(bad, sizeof(bad), "%s", hs256_raw("{\"exp\":-100000000000000000000}"));
		bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
		CHECK_INT(verify_fresh(bad), PG_AUTH_R_TOKEN_MALFORMED);
		snprintf(bad, sizeof(bad), "%s", hs256_raw("{\"exp\":1800000300,\"n\":\"99999999999999999999\"}"));
		bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
		CHECK_INT(verify_fresh(bad), PG_AUTH_R_BAD_SIGNATURE);
	}
}

static void test_iss_aud(void)
{
	struct claims c = good();
	char *t;

	c.iss = "https://evil.example";
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_WRONG_ISSUER);
	free(t);
	c.iss = NULL;
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_WRONG_ISSUER);
	free(t);
	c = good();
	c.aud = "other";
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_WRONG_AUDIENCE);
	free(t);
	c.aud = NULL;
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_WRONG_AUDIENCE);
	free(t);
	c.aud_json = "[\"a\",\"b\"]";
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_WRONG_AUDIENCE);
	free(t);
	c.aud_json = "[\"a\",\"pprofgate\"]";
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_OK);
	free(t);
	c.aud_json = "[\"a\",[\"pprofgate\"]]"; /* nested: not a match */
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_WRONG_AUDIENCE);
	free(t);
	c.aud_json = "42";
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_WRONG_AUDIENCE);
	free(t);
}

static void test_scopes(void)
{
	struct claims c = good();
	struct pg_auth_jwt *v = verifier();
	struct pg_auth_token tok;
	char *t;

	c.scope = NULL;
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_at(v, t, NOW, &tok), PG_AUTH_R_OK);
	CHECK_INT(tok.scopes, 0);
	CHECK(!pg_auth_scope_satisfies(tok.scopes, pg_auth_scope_required("profile")));
	free(t);
	c.scp_json = "[\"pprof:admin\",\"x\"]";
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_at(v, t, NOW, &tok), PG_AUTH_R_OK);
	CHECK_INT(tok.scopes, PG_AUTH_SCOPE_ADMIN);
	CHECK(pg_auth_scope_satisfies(tok.scopes, pg_auth_scope_required("heap")));
	free(t);
	c.scp_json = NULL;
	c.scope = "pprof:readx PPROF:READ pprof:read";
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_at(v, t, NOW, &tok), PG_AUTH_R_OK);
	CHECK_INT(tok.scopes, PG_AUTH_SCOPE_READ);
	CHECK(!pg_auth_scope_satisfies(tok.scopes, pg_auth_scope_required("goroutine")));
	free(t);
	pg_auth_jwt_free(&v);
}

static void test_tampered_and_malformed(void)
{
	struct claims c = good();
	char *t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	char *evil = mint(JWT_ALG_RS256, rsa2_priv, strlen(rsa2_priv), &c);
	char *p1 = strchr(t, '.'), *p2 = strchr(p1 + 1, '.');
	char buf[PG_AUTH_TOKEN_MAX + 100];
	struct claims c2 = good();
	char *other;

	/* Swap in another token's payload (claims tampered, signature kept). */
	c2.sub = "mallory";
	c2.scope = "pprof:admin";
	other = mint(JWT_ALG_RS256, rsa2_priv, strlen(rsa2_priv), &c2);
	{
		char *q1 = strchr(other, '.'), *q2 = strchr(q1 + 1, '.');
		snprintf(buf, sizeof(buf), "%.*s%.*s%s", (int)(p1 - t), t, (int)(q2 - q1), q1, p2);
	}
	CHECK_INT(verify_fresh(buf), PG_AUTH_R_BAD_SIGNATURE);
	/* Flip one payload character. */
	snprintf(buf, sizeof(buf), "%s", t);
	buf[(p1 - t) + 5] = buf[(p1 - t) + 5] == 'A' ? 'B' : 'A';
	{
		/* The flipped byte may also break the JSON: either refusal is right. */
		enum pg_auth_reason r = verify_fresh(buf);
		CHECK(r == PG_AUTH_R_BAD_SIGNATURE || r == PG_AUTH_R_TOKEN_MALFORMED);
	}
	/* Signed by another key. */
	CHECK_INT(verify_fresh(evil), PG_AUTH_R_BAD_SIGNATURE);
	/* Structure. */
	CHECK_INT(verify_fresh("abc"), PG_AUTH_R_TOKEN_MALFORMED);
	CHECK_INT(verify_fresh("a.b"), PG_AUTH_R_TOKEN_MALFORMED);
	CHECK_INT(verify_fresh("a.b.c.d"), PG_AUTH_R_TOKEN_MALFORMED);
	CHECK_INT(verify_fresh(".b.c"), PG_AUTH_R_TOKEN_MALFORMED);
	CHECK_INT(verify_fresh("a=.b.c"), PG_AUTH_R_TOKEN_MALFORMED);
	CHECK_INT(verify_fresh(""), PG_AUTH_R_TOKEN_MISSING);
	/* Header that is not JSON: "not json" */
	CHECK_INT(verify_fresh("bm90IGpzb24.e30.c2ln"), PG_AUTH_R_TOKEN_MALFORMED);
	/* {"alg":"RS256","alg":"none"}: duplicate alg */
	CHECK_INT(verify_fresh("eyJhbGciOiJSUzI1NiIsImFsZyI6Im5vbmUifQ.e30.c2ln"),
		  PG_AUTH_R_TOKEN_MALFORMED);
	/* {"alg":"RS256","\u0061lg":"none"}: duplicate alg spelled with an escape */
	CHECK_INT(verify_fresh("eyJhbGciOiJSUzI1NiIsIlx1MDA2MWxnIjoibm9uZSJ9.e30.c2ln"),
		  PG_AUTH_R_TOKEN_MALFORMED);
	/* {"alg":"RS256","kid":"k\u0000x"}: a kid holding NUL */
	CHECK_INT(verify_fresh("eyJhbGciOiJSUzI1NiIsImtpZCI6ImtcdTAwMDB4In0.e30.c2ln"),
		  PG_AUTH_R_UNKNOWN_KEY);
	/* {"alg":256}: alg not a string */
	CHECK_INT(verify_fresh("eyJhbGciOjI1Nn0.e30.c2ln"), PG_AUTH_R_ALG_NOT_ALLOWED);
	/* ["alg","RS256"]: header not an object */
	CHECK_INT(verify_fresh("WyJhbGciLCJSUzI1NiJd.e30.c2ln"), PG_AUTH_R_TOKEN_MALFORMED);
	/* {"alg":"RS512"} */
	CHECK_INT(verify_fresh("eyJhbGciOiJSUzUxMiJ9.e30.c2ln"), PG_AUTH_R_ALG_NOT_ALLOWED);
	/* {"typ":"JWT"}: no alg */
	CHECK_INT(verify_fresh("eyJ0eXAiOiJKV1QifQ.e30.c2ln"), PG_AUTH_R_ALG_NOT_ALLOWED);
	/* {"alg":"RS256","crit":["exp"]} */
	CHECK_INT(verify_fresh("eyJhbGciOiJSUzI1NiIsImNyaXQiOlsiZXhwIl19.e30.c2ln"),
		  PG_AUTH_R_TOKEN_MALFORMED);
	/* Valid RS256 header, payload not JSON. */
	snprintf(buf, sizeof(buf), "%.*s.bm90IGpzb24%s", (int)(p1 - t), t, p2);
	CHECK_INT(verify_fresh(buf), PG_AUTH_R_TOKEN_MALFORMED);
	/* Over 8 KiB: refused before parsing. */
	memset(buf, 'A', PG_AUTH_TOKEN_MAX + 1);
	buf[PG_AUTH_TOKEN_MAX + 1] = '\0';
	CHECK_INT(verify_fresh(buf), PG_AUTH_R_TOKEN_TOO_LARGE);
	free(t);
	free(evil);
	free(other);
}

/* A real token padded past 8 KiB with a big claim is refused as too large. */
static void test_large_claims(void)
{
	struct claims c = good();
	char *big = malloc(7000), *extra = malloc(7100), *t;

	memset(big, 'x', 6999);
	big[6999] = '\0';
	snprintf(extra, 7100, "{\"pad\":\"%s\"}", big);
	c.extra_json = extra;
	t = mint(JWT_ALG_HS256, hs_secret, sizeof(hs_secret), &c);
	CHECK(strlen(t) > PG_AUTH_TOKEN_MAX);
	CHECK_INT(verify_fresh(t), PG_AUTH_R_TOKEN_TOO_LARGE);
	free(t);
	free(big);
	free(extra);
}

static void test_kid(void)
{
	struct pg_auth_jwt_config cfg = {.skew_s = 60, .cache_max = 0};
	struct pg_auth_jwt *v = NULL;
	struct pg_auth_token tok;
	struct claims c = good();
	char *t;

	CHECK_INT(pg_auth_jwt_new(&cfg, &v), PG_OK);
	CHECK_INT(pg_auth_jwt_add_key(v, PG_AUTH_ALG_RS256, "k1", rsa_pub, strlen(rsa_pub)), PG_OK);
	c.kid = "k1";
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_at(v, t, NOW, &tok), PG_AUTH_R_OK);
	CHECK_INT(tok.cached, 0);
	CHECK_INT(verify_at(v, t, NOW, &tok), PG_AUTH_R_OK);
	CHECK_INT(tok.cached, 0); /* cache disabled */
	free(t);
	c.kid = "k2";
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_at(v, t, NOW, &tok), PG_AUTH_R_UNKNOWN_KEY);
	free(t);
	/* ES256 token, only an RSA key: alg refused. */
	c.kid = NULL;
	t = mint(JWT_ALG_ES256, ec_priv, strlen(ec_priv), &c);
	CHECK_INT(verify_at(v, t, NOW, &tok), PG_AUTH_R_ALG_NOT_ALLOWED);
	free(t);
	pg_auth_jwt_free(&v);
	pg_auth_jwt_free(&v); /* NULL-safe */
}

static void test_key_loading(void)
{
	struct pg_auth_jwt *v = NULL;
	char path[] = "/tmp/pg_auth_jwt_test_XXXXXX";
	FILE *f;
	int fd;

	CHECK_INT(pg_auth_jwt_new(NULL, &v), PG_OK);
	CHECK_INT(pg_auth_jwt_add_key(v, PG_AUTH_ALG_HS256, NULL, "short", 5), PG_EINVAL);
	CHECK_INT(pg_auth_jwt_add_key(v, PG_AUTH_ALG_RS256, NULL, ec_pub, strlen(ec_pub)), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "RSA");
	CHECK_INT(pg_auth_jwt_add_key(v, PG_AUTH_ALG_ES256, NULL, rsa_pub, strlen(rsa_pub)), PG_EINVAL);
	CHECK_INT(pg_auth_jwt_add_key(v, PG_AUTH_ALG_RS256, NULL, "garbage", 7), PG_EINVAL);
	CHECK_INT(pg_auth_jwt_add_key_file(v, PG_AUTH_ALG_RS256, NULL, "/nonexistent/key.pem"), PG_EIO);
	CHECK_CONTAINS(pg_errmsg(), "/nonexistent/key.pem");
	fd = mkstemp(path);
	f = fdopen(fd, "w");
	fprintf(f, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
	fclose(f);
	CHECK_INT(pg_auth_jwt_add_key_file(v, PG_AUTH_ALG_HS256, "h", path), PG_OK);
	{
		/* The trailing newline is not part of the secret. */
		struct claims c = good();
		const char *sec = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
		char *t = mint(JWT_ALG_HS256, sec, strlen(sec), &c);
		struct pg_auth_token tok;

		CHECK_INT(verify_at(v, t, NOW, &tok), PG_AUTH_R_OK);
		free(t);
	}
	unlink(path);
	pg_auth_jwt_free(&v);
}

static void test_bearer_parse(void)
{
	const char *tok;
	size_t n;
	char big[PG_AUTH_TOKEN_MAX + 200];

	CHECK_INT(pg_auth_bearer_parse("Bearer abc.def.ghi", &tok, &n), PG_AUTH_R_OK);
	CHECK_INT(n, 11);
	CHECK(strncmp(tok, "abc.def.ghi", n) == 0);
	CHECK_INT(pg_auth_bearer_parse("bEaReR abc", &tok, &n), PG_AUTH_R_OK);
	CHECK_INT(pg_auth_bearer_parse("Bearer  abc", &tok, &n), PG_AUTH_R_OK); /* 1*SP */
	CHECK_INT(pg_auth_bearer_parse(" Bearer abc== ", &tok, &n), PG_AUTH_R_OK);
	CHECK_INT(n, 5);
	CHECK_INT(pg_auth_bearer_parse(NULL, &tok, &n), PG_AUTH_R_TOKEN_MISSING);
	CHECK_INT(pg_auth_bearer_parse("", &tok, &n), PG_AUTH_R_TOKEN_MISSING);
	CHECK_INT(pg_auth_bearer_parse("Basic dXNlcjpwYXNz", &tok, &n), PG_AUTH_R_TOKEN_MISSING);
	CHECK_INT(pg_auth_bearer_parse("Bearerabc", &tok, &n), PG_AUTH_R_TOKEN_MISSING);
	CHECK_INT(pg_auth_bearer_parse("Bearer", &tok, &n), PG_AUTH_R_TOKEN_MALFORMED);
	CHECK_INT(pg_auth_bearer_parse("Bearer\tabc", &tok, &n), PG_AUTH_R_TOKEN_MISSING);
	CHECK_INT(pg_auth_bearer_parse("Bearer abc def", &tok, &n), PG_AUTH_R_TOKEN_MALFORMED);
	CHECK_INT(pg_auth_bearer_parse("Bearer abc,Bearer x", &tok, &n), PG_AUTH_R_TOKEN_MALFORMED);
	CHECK_INT(pg_auth_bearer_parse("Bearer ===", &tok, &n), PG_AUTH_R_TOKEN_MALFORMED);
	CHECK_INT(pg_auth_bearer_parse("Bearer a=b", &tok, &n), PG_AUTH_R_TOKEN_MALFORMED);
	memcpy(big, "Bearer ", 7);
	memset(big + 7, 'a', sizeof(big) - 8);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(pg_auth_bearer_parse(big, &tok, &n), PG_AUTH_R_TOKEN_TOO_LARGE);
}

/* Several threads verifying through a tiny cache (constant eviction). */
static struct pg_auth_jwt *shared;
static char *thread_tokens[6];
static int thread_bad;

static void *verify_loop(void *arg)
{
	long id = (long)arg;
	struct pg_auth_token tok;

	for (int i = 0; i < 300; i++) {
		const char *t = thread_tokens[(id + i) % 6];

		if (pg_auth_jwt_verify(shared, t, strlen(t), NOW, &tok) != PG_AUTH_R_OK ||
		    strcmp(tok.subject, "alice") != 0)
			__atomic_add_fetch(&thread_bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_threads(void)
{
	struct pg_auth_jwt_config cfg = {.skew_s = 60, .cache_max = 4};
	struct pg_auth_jwt_stats st;
	pthread_t th[4];

	CHECK_INT(pg_auth_jwt_new(&cfg, &shared), PG_OK);
	CHECK_INT(pg_auth_jwt_add_key(shared, PG_AUTH_ALG_HS256, NULL, hs_secret, sizeof(hs_secret)),
		  PG_OK);
	for (int i = 0; i < 6; i++) {
		struct claims c = good();

		c.exp = NOW + 100 + i;
		thread_tokens[i] = mint(JWT_ALG_HS256, hs_secret, sizeof(hs_secret), &c);
	}
	for (long i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, verify_loop, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK_INT(thread_bad, 0);
	pg_auth_jwt_stats(shared, &st);
	CHECK_INT(st.hits + st.misses, 1200);
	CHECK(st.evictions > 0);
	for (int i = 0; i < 6; i++)
		free(thread_tokens[i]);
	pg_auth_jwt_free(&shared);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Prints the cost of a cached and an uncached verification. */
static void test_cost(void)
{
	struct claims c = good();
	char *t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	char *te = mint(JWT_ALG_ES256, ec_priv, strlen(ec_priv), &c);
	char *th = mint(JWT_ALG_HS256, hs_secret, sizeof(hs_secret), &c);
	struct pg_auth_jwt_config nocache = {.issuer = "https://issuer.example",
					     .audience = "pprofgate", .skew_s = 60};
	struct pg_auth_jwt *v = verifier(), *u = NULL;
	struct pg_auth_token tok;
	struct pg_auth_jwt_stats st;
	const int n = 200;
	double t0, cached, rs, es, hs;
	int ok = 1;

	CHECK_INT(pg_auth_jwt_new(&nocache, &u), PG_OK);
	CHECK_INT(pg_auth_jwt_add_key(u, PG_AUTH_ALG_RS256, NULL, rsa_pub, strlen(rsa_pub)), PG_OK);
	CHECK_INT(pg_auth_jwt_add_key(u, PG_AUTH_ALG_ES256, NULL, ec_pub, strlen(ec_pub)), PG_OK);
	CHECK_INT(pg_auth_jwt_add_key(u, PG_AUTH_ALG_HS256, NULL, hs_secret, sizeof(hs_secret)), PG_OK);
	t0 = now_ns();
	for (int i = 0; i < n; i++)
		ok &= verify_at(u, t, NOW, &tok) == PG_AUTH_R_OK;
	rs = (now_ns() - t0) / n;
	t0 = now_ns();
	for (int i = 0; i < n; i++)
		ok &= verify_at(u, te, NOW, &tok) == PG_AUTH_R_OK;
	es = (now_ns() - t0) / n;
	t0 = now_ns();
	for (int i = 0; i < n; i++)
		ok &= verify_at(u, th, NOW, &tok) == PG_AUTH_R_OK;
	hs = (now_ns() - t0) / n;
	ok &= verify_at(v, t, NOW, &tok) == PG_AUTH_R_OK;
	t0 = now_ns();
	for (int i = 0; i < n * 10; i++)
		ok &= verify_at(v, t, NOW, &tok) == PG_AUTH_R_OK && tok.cached;
	cached = (now_ns() - t0) / (n * 10);
	CHECK(ok);
	pg_auth_jwt_stats(v, &st);
	CHECK_INT(st.hits, (uint64_t)n * 10);
	CHECK_INT(st.inserts, 1);
	printf("cost: uncached RS256 %.1f us, ES256 %.1f us, HS256 %.1f us; cached %.2f us\n",
	       rs / 1e3, es / 1e3, hs / 1e3, cached / 1e3);
	CHECK(cached < rs);
	pg_auth_jwt_free(&v);
	pg_auth_jwt_free(&u);
	free(t);
	free(te);
	free(th);
}

/* jti and the window claim: optional strings, read into the token (cached
 * copies too), anything else malformed. */
static void test_single_use_and_window_claims(void)
{
	struct pg_auth_jwt *v = verifier();
	struct pg_auth_token tok;
	struct claims c = good();
	static const char *const bad[] = {
		"{\"jti\":7}", "{\"jti\":\"\"}", "{\"jti\":\"a b\"}", "{\"jti\":[\"a\"]}",
		"{\"pprofgate_window\":\"a/b\"}", "{\"pprofgate_window\":null}", "{\"pprofgate_window\":\"\"}",
	};
	char *t;

	c.extra_json = "{\"jti\":\"J-1\",\"pprofgate_window\":\"Zk3-_q\"}";
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_at(v, t, NOW, &tok), PG_AUTH_R_OK);
	CHECK_STR(tok.jti, "J-1");
	CHECK_STR(tok.window_id, "Zk3-_q");
	CHECK_INT(tok.valid_until, NOW + 300 + 60);
	CHECK_INT(verify_at(v, t, NOW, &tok), PG_AUTH_R_OK);
	CHECK_INT(tok.cached, 1);
	CHECK_STR(tok.jti, "J-1"); /* the cache keeps what makes it single use */
	CHECK_STR(tok.window_id, "Zk3-_q");
	free(t);
	c = good();
	t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
	CHECK_INT(verify_at(v, t, NOW, &tok), PG_AUTH_R_OK);
	CHECK_STR(tok.jti, "");
	CHECK_STR(tok.window_id, "");
	free(t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = good();
		c.extra_json = bad[i];
		t = mint(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), &c);
		if (verify_fresh(t) != PG_AUTH_R_TOKEN_MALFORMED)
			fprintf(stderr, "accepted claims %s\n", bad[i]);
		CHECK_INT(verify_fresh(t), PG_AUTH_R_TOKEN_MALFORMED);
		free(t);
	}
	pg_auth_jwt_free(&v);
}

int main(void)
{
	make_keys();
	RUN(test_valid_rs256);
	RUN(test_valid_es256_hs256);
	RUN(test_alg_none);
	RUN(test_alg_confusion);
	RUN(test_time_claims);
	RUN(test_iss_aud);
	RUN(test_scopes);
	RUN(test_tampered_and_malformed);
	RUN(test_large_claims);
	RUN(test_single_use_and_window_claims);
	RUN(test_kid);
	RUN(test_key_loading);
	RUN(test_bearer_parse);
	RUN(test_threads);
	RUN(test_cost);
	free(rsa_priv);
	free(rsa_pub);
	free(rsa2_priv);
	free(ec_priv);
	free(ec_pub);
	TEST_END();
}
