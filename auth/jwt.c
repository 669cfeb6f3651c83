#include "auth/jwt.h"

#include <errno.h>
#include <jwt.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "auth/scope.h"
#include "src/util/base64.h"
#include "src/util/file.h"
#include "src/util/json.h"
#include "src/util/log.h"
#include "src/util/zmem.h"

#define HEADER_MAX 1024   /* decoded JOSE header bytes */
#define KEY_FILE_MAX 65536
#define CACHE_WAYS 4
#define DEFAULT_SKEW 60

struct key {
	enum pg_auth_alg alg;
	char kid[PG_AUTH_KID_MAX]; /* "" = any */
	unsigned char *bytes;      /* PEM text NUL-terminated, or the HMAC secret */
	size_t len;
};

struct cache_entry {
	unsigned char digest[32];
	int used;
	struct pg_auth_token tok;
};

struct pg_auth_jwt {
	char *issuer, *audience;
	long skew;
	struct key keys[PG_AUTH_JWT_MAX_KEYS];
	size_t n_keys;
	pthread_mutex_t mu; /* guards cache and stats */
	struct cache_entry *cache;
	size_t n_sets; /* power of two; cache has n_sets * CACHE_WAYS entries */
	struct pg_auth_jwt_stats stats;
};

static void wipe(void *p, size_t n)
{
	if (p)
		OPENSSL_cleanse(p, n);
}

const char *pg_auth_alg_name(enum pg_auth_alg alg)
{
	switch (alg) {
	case PG_AUTH_ALG_HS256: return "HS256";
	case PG_AUTH_ALG_RS256: return "RS256";
	case PG_AUTH_ALG_ES256: return "ES256";
	}
	return "?";
}

static jwt_alg_t to_jwt_alg(enum pg_auth_alg a)
{
	switch (a) {
	case PG_AUTH_ALG_HS256: return JWT_ALG_HS256;
	case PG_AUTH_ALG_RS256: return JWT_ALG_RS256;
	case PG_AUTH_ALG_ES256: return JWT_ALG_ES256;
	}
	return JWT_ALG_INVAL;
}

int pg_auth_jwt_new(const struct pg_auth_jwt_config *cfg, struct pg_auth_jwt **out)
{
	struct pg_auth_jwt *v;
	int rc = PG_ENOMEM;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return pg_fail(PG_ENOMEM, "out of memory for the JWT verifier");
	pthread_mutex_init(&v->mu, NULL);
	v->skew = (cfg && cfg->skew_s >= 0) ? cfg->skew_s : DEFAULT_SKEW;
	if (v->skew > 3600) {
		rc = pg_fail(PG_EINVAL, "jwt clock skew %ld s is above the 3600 s maximum", v->skew);
		goto out;
	}
	if (cfg && cfg->issuer && cfg->issuer[0] && !(v->issuer = strdup(cfg->issuer)))
		goto out;
	if (cfg && cfg->audience && cfg->audience[0] && !(v->audience = strdup(cfg->audience)))
		goto out;
	if (cfg && cfg->cache_max > 0) {
		size_t sets = 1, want = (cfg->cache_max + CACHE_WAYS - 1) / CACHE_WAYS;

		if (cfg->cache_max > (1u << 20)) {
			rc = pg_fail(PG_EINVAL, "jwt cache size %zu is above 1048576", cfg->cache_max);
			goto out;
		}
		while (sets < want)
			sets <<= 1;
		v->n_sets = sets;
		/* Pages are used as tokens arrive: an idle node holds none. */
		v->cache = pg_zmem_new(sets * CACHE_WAYS, sizeof(*v->cache));
		if (!v->cache)
			goto out;
	}
	*out = v;
	return PG_OK;
out:
	if (rc == PG_ENOMEM)
		rc = pg_fail(PG_ENOMEM, "out of memory for the JWT verifier");
	pg_auth_jwt_free(&v);
	return rc;
}

void pg_auth_jwt_free(struct pg_auth_jwt **pp)
{
	struct pg_auth_jwt *v = pp ? *pp : NULL;

	if (!v)
		return;
	for (size_t i = 0; i < v->n_keys; i++) {
		wipe(v->keys[i].bytes, v->keys[i].len);
		free(v->keys[i].bytes);
	}
	/* Unmapped pages leave the process (nothing to wipe by hand). */
	pg_zmem_free(v->cache, v->n_sets * CACHE_WAYS, sizeof(*v->cache));
	free(v->issuer);
	free(v->audience);
	pthread_mutex_destroy(&v->mu);
	free(v);
	*pp = NULL;
}

static void cache_clear(struct pg_auth_jwt *v)
{
	pthread_mutex_lock(&v->mu);
	pg_zmem_clear(v->cache, v->n_sets * CACHE_WAYS, sizeof(*v->cache));
	pthread_mutex_unlock(&v->mu);
}

/* Checks that PEM text is a public key of the type `alg` needs. */
static int check_public_key(enum pg_auth_alg alg, const void *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pk = NULL;
	int rc = PG_OK;

	if (!bio)
		return pg_fail(PG_ENOMEM, "out of memory reading a public key");
	pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!pk) {
		rc = pg_fail(PG_EINVAL, "%s key is not a PEM public key (\"-----BEGIN PUBLIC KEY-----\")",
			     pg_auth_alg_name(alg));
		goto out;
	}
	if (alg == PG_AUTH_ALG_RS256) {
		if (EVP_PKEY_base_id(pk) != EVP_PKEY_RSA)
			rc = pg_fail(PG_EINVAL, "RS256 key is not an RSA public key");
		else if (EVP_PKEY_bits(pk) < 2048)
			rc = pg_fail(PG_EINVAL, "RS256 key has %d bits; at least 2048 are required",
				     EVP_PKEY_bits(pk));
	} else {
		char group[64] = "";
		size_t glen = 0;

		if (EVP_PKEY_base_id(pk) != EVP_PKEY_EC ||
		    !EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof(group), &glen) ||
		    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0))
			rc = pg_fail(PG_EINVAL, "ES256 key is not an EC P-256 public key (RFC 7518 §3.4)");
	}
out:
	EVP_PKEY_free(pk);
	BIO_free(bio);
	return rc;
}

static int contains(const void *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	const char *h = hay;

	for (size_t i = 0; m <= n && i <= n - m; i++)
		if (memcmp(h + i, needle, m) == 0)
			return 1;
	return 0;
}

int pg_auth_jwt_add_key(struct pg_auth_jwt *v, enum pg_auth_alg alg, const char *kid, const void *key,
			size_t len)
{
	struct key *k;
	int rc;

	if (!v || !key)
		return pg_fail(PG_EINVAL, "jwt key: missing argument");
	if (v->n_keys >= PG_AUTH_JWT_MAX_KEYS)
		return pg_fail(PG_ENOMEM, "at most %d JWT keys can be configured", PG_AUTH_JWT_MAX_KEYS);
	if (kid && strlen(kid) >= PG_AUTH_KID_MAX)
		return pg_fail(PG_EINVAL, "jwt key id is longer than %d bytes", PG_AUTH_KID_MAX - 1);
	if (len == 0 || len > KEY_FILE_MAX)
		return pg_fail(PG_EINVAL, "jwt key: size %zu is out of range", len);
	switch (alg) {
	case PG_AUTH_ALG_HS256:
		/* RFC 7518 §3.2: the key must be at least as long as the hash. */
		if (len < 32)
			return pg_fail(PG_EINVAL, "HS256 secret has %zu bytes; at least 32 are required", len);
		if (contains(key, len, "-----BEGIN"))
			return pg_fail(PG_EINVAL, "HS256 secret looks like a PEM key; an HMAC secret must "
						  "be random bytes, never a public key");
		break;
	case PG_AUTH_ALG_RS256:
	case PG_AUTH_ALG_ES256:
		if ((rc = check_public_key(alg, key, len)) != PG_OK)
			return rc;
		break;
	default:
		return pg_fail(PG_EINVAL, "unsupported JWT algorithm");
	}
	k = &v->keys[v->n_keys];
	k->bytes = malloc(len + 1);
	if (!k->bytes)
		return pg_fail(PG_ENOMEM, "out of memory for a JWT key");
	memcpy(k->bytes, key, len);
	k->bytes[len] = '\0';
	k->len = len;
	k->alg = alg;
	snprintf(k->kid, sizeof(k->kid), "%s", kid ? kid : "");
	v->n_keys++;
	cache_clear(v);
	return PG_OK;
}

int pg_auth_jwt_add_key_file(struct pg_auth_jwt *v, enum pg_auth_alg alg, const char *kid,
			     const char *path)
{
	char *buf = NULL, why[256];
	size_t n = 0, len = 0;
	struct stat st;
	int rc;

	if (!path)
		return pg_fail(PG_EINVAL, "jwt key: no file given");
	rc = pg_file_read(path, KEY_FILE_MAX, 0, &buf, &len);
	if (rc == PG_OK && len == 0)
		rc = pg_fail(PG_EINVAL, "%s: the file is empty", path);
	if (rc != PG_OK) {
		snprintf(why, sizeof(why), "%s", pg_errmsg());
		return pg_fail(rc, "JWT %s key: %s", pg_auth_alg_name(alg), why);
	}
	if (alg == PG_AUTH_ALG_HS256 && stat(path, &st) == 0 && (st.st_mode & 077))
		pg_warn("auth", "%s: HS256 secret file is readable by group or others (mode %03o); "
				"use chmod 600", path, (unsigned)(st.st_mode & 0777));
	n = len;
	/* A secret written by `openssl rand -hex 32 > file` ends in a newline
	 * that is not part of the secret. */
	if (alg == PG_AUTH_ALG_HS256 && n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
	rc = pg_auth_jwt_add_key(v, alg, kid, buf, n);
	if (rc != PG_OK) {
		snprintf(why, sizeof(why), "%s", pg_errmsg());
		rc = pg_fail(rc, "%s: %s", path, why);
	}
	wipe(buf, len);
	free(buf);
	return rc;
}

/* ---- token parsing helpers ---- */

/* Unpadded base64url (RFC 7515 section 2). Returns decoded length or -1. */
static long b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
	size_t len;

	if (pg_base64url_decode(in, n, out, cap, &len) != PG_OK) {
		pg_err_clear();
		return -1;
	}
	return (long)len;
}

struct segs {
	size_t h_len, p_off, p_len, s_off, s_len;
};

/* Compact JWS: exactly three base64url segments (RFC 7515 §7.1). */
static int split_token(const char *t, size_t n, struct segs *s)
{
	size_t dots[2], nd = 0;

	for (size_t i = 0; i < n; i++) {
		if (t[i] == '.') {
			if (nd == 2)
				return -1;
			dots[nd++] = i;
		} else if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') ||
			     (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_')) {
			return -1;
		}
	}
	if (nd != 2)
		return -1;
	s->h_len = dots[0];
	s->p_off = dots[0] + 1;
	s->p_len = dots[1] - s->p_off;
	s->s_off = dots[1] + 1;
	s->s_len = n - s->s_off;
	if (s->h_len == 0 || s->p_len == 0)
		return -1;
	return 0;
}

/* Limits for the JSON we read here: a JOSE header and the arrays libjwt hands
 * back for "aud" and "scp" are small and flat. */
static const struct pg_json_limits jose_limits = {.max_bytes = PG_AUTH_TOKEN_MAX, .max_depth = 16};

/* Copies a JSON string without NULs into out. -1 when v is no such string or
 * does not fit. */
static int copy_string(const struct pg_json_value *v, char *out, size_t cap)
{
	size_t n = 0;
	const char *s = pg_json_str(v, &n);

	if (!s || n >= cap || memchr(s, '\0', n))
		return -1;
	memcpy(out, s, n + 1);
	return 0;
}

/* Reads the protected header: alg (required) and kid (optional). The JSON
 * reader refuses duplicate names, as RFC 7515 section 4 requires: a second
 * "alg" is how parser differentials smuggle "none". */
static enum pg_auth_reason read_header(const char *t, const struct segs *s, char *alg, size_t alg_cap,
				       char *kid, size_t kid_cap)
{
	unsigned char hdr[HEADER_MAX];
	struct pg_json *doc = NULL;
	const struct pg_json_value *h, *v;
	enum pg_auth_reason r = PG_AUTH_R_TOKEN_MALFORMED;
	long hl;

	if (s->h_len > (HEADER_MAX / 3) * 4)
		return PG_AUTH_R_TOKEN_MALFORMED;
	hl = b64url_decode(t, s->h_len, hdr, sizeof(hdr));
	if (hl <= 0 || pg_json_parse((const char *)hdr, (size_t)hl, &jose_limits, &doc) != PG_OK)
		return PG_AUTH_R_TOKEN_MALFORMED;
	h = pg_json_root(doc);
	if (!pg_json_is(h, PG_JSON_OBJECT))
		goto out;
	v = pg_json_get(h, "alg");
	if (!v || copy_string(v, alg, alg_cap) != 0) {
		r = PG_AUTH_R_ALG_NOT_ALLOWED;
		goto out;
	}
	/* RFC 7515 section 4.1.11: extensions marked critical must be
	 * understood; we understand none. */
	if (pg_json_get(h, "crit"))
		goto out;
	kid[0] = '\0';
	v = pg_json_get(h, "kid");
	if (v && copy_string(v, kid, kid_cap) != 0) {
		r = PG_AUTH_R_UNKNOWN_KEY;
		goto out;
	}
	r = PG_AUTH_R_OK;
out:
	pg_json_free(&doc);
	return r;
}

static int parse_alg(const char *s, enum pg_auth_alg *a)
{
	/* Exact, case-sensitive match (RFC 7515 §4.1.1): "none", "hs256",
	 * "RS512"... are all refused. */
	if (strcmp(s, "HS256") == 0)
		*a = PG_AUTH_ALG_HS256;
	else if (strcmp(s, "RS256") == 0)
		*a = PG_AUTH_ALG_RS256;
	else if (strcmp(s, "ES256") == 0)
		*a = PG_AUTH_ALG_ES256;
	else
		return -1;
	return 0;
}

/* Constant-time HMAC-SHA256 check done here rather than trusting libjwt's
 * comparison of the signature text. */
static int hmac_ok(const struct key *k, const char *t, const struct segs *s)
{
	unsigned char sig[64], mac[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0;
	long sl;

	sl = b64url_decode(t + s->s_off, s->s_len, sig, sizeof(sig));
	if (sl != 32)
		return 0;
	if (!HMAC(EVP_sha256(), k->bytes, (int)k->len, (const unsigned char *)t, s->s_off - 1, mac,
		  &mlen) || mlen != 32)
		return 0;
	return CRYPTO_memcmp(sig, mac, 32) == 0;
}

/* NumericDate (RFC 7519 §2): a JSON number, possibly non-integer. */
static int numeric_claim(jwt_t *j, const char *name, int64_t *out)
{
	char *js = jwt_get_grants_json(j, name);
	char *end = NULL;
	double d;
	int rc = 0;

	if (!js)
		return ENOENT;
	errno = 0;
	d = strtod(js, &end);
	if (errno || end == js || *end != '\0' || !isfinite(d) || d < 0 || d > 9.0e15 ||
	    js[0] == '"')
		rc = EINVAL;
	else
		*out = (int64_t)floor(d);
	free(js);
	return rc;
}

/* Parses a JSON array text from jwt_get_grants_json; NULL when it is none. */
static struct pg_json *parse_array(const char *js)
{
	struct pg_json *doc = NULL;

	if (!js || pg_json_parse(js, strlen(js), &jose_limits, &doc) != PG_OK)
		return NULL;
	if (!pg_json_is(pg_json_root(doc), PG_JSON_ARRAY))
		pg_json_free(&doc);
	return doc;
}

static int json_array_has_string(const char *js, const char *want)
{
	struct pg_json *doc = parse_array(js);
	size_t wl = strlen(want), n;
	int found = 0;

	for (const struct pg_json_value *e = pg_json_first(pg_json_root(doc)); e && !found;
	     e = pg_json_next(e)) {
		const char *s = pg_json_str(e, &n);

		found = s && n == wl && memcmp(s, want, n) == 0;
	}
	pg_json_free(&doc);
	return found;
}

static unsigned json_array_scopes(const char *js)
{
	struct pg_json *doc = parse_array(js);
	unsigned bits = 0;
	size_t n;

	for (const struct pg_json_value *e = pg_json_first(pg_json_root(doc)); e; e = pg_json_next(e)) {
		const char *s = pg_json_str(e, &n);

		if (s)
			bits |= pg_auth_scope_bit(s, n);
	}
	pg_json_free(&doc);
	return bits;
}

static void scope_text(unsigned bits, char *out, size_t cap)
{
	static const struct {
		unsigned bit;
		const char *name;
	} all[] = {{PG_AUTH_SCOPE_READ, "pprof:read"},
		   {PG_AUTH_SCOPE_SENSITIVE, "pprof:sensitive"},
		   {PG_AUTH_SCOPE_ADMIN, "pprof:admin"}};
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		int w;

		if (!(bits & all[i].bit))
			continue;
		w = snprintf(out + o, cap - o, "%s%s", o ? " " : "", all[i].name);
		if (w < 0 || (size_t)w >= cap - o)
			return;
		o += (size_t)w;
	}
}

static bool jti_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f; /* printable, no space: it goes into audit lines */
}

static bool id_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* An optional string claim of 1..cap-1 bytes, each accepted by ok(), into out
 * ("" when absent). -1 when present but not such a string (a number, an
 * object, empty, too long, an odd byte): the token is malformed. */
static int text_claim(jwt_t *j, const char *name, char *out, size_t cap, bool (*ok)(unsigned char))
{
	const char *s = jwt_get_grant(j, name);
	size_t n;

	out[0] = '\0';
	if (!s) {
		char *js = jwt_get_grants_json(j, name);

		free(js);
		return js ? -1 : 0;
	}
	n = strlen(s);
	if (n == 0 || n >= cap)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!ok((unsigned char)s[i]))
			return -1;
	memcpy(out, s, n + 1);
	return 0;
}

static enum pg_auth_reason check_claims(struct pg_auth_jwt *v, jwt_t *j, int64_t now,
					struct pg_auth_token *out)
{
	int64_t exp = 0, nbf = 0, iat = 0;
	const char *s;
	int rc;

	rc = numeric_claim(j, "exp", &exp);
	if (rc == ENOENT)
		return PG_AUTH_R_EXP_MISSING;
	if (rc)
		return PG_AUTH_R_TOKEN_MALFORMED;
	/* RFC 7519 §4.1.4: reject on or after exp, with leeway. */
	if (now >= exp + v->skew)
		return PG_AUTH_R_TOKEN_EXPIRED;
	rc = numeric_claim(j, "nbf", &nbf);
	if (rc == EINVAL)
		return PG_AUTH_R_TOKEN_MALFORMED;
	if (rc == 0 && now + v->skew < nbf)
		return PG_AUTH_R_TOKEN_NOT_YET_VALID;
	rc = numeric_claim(j, "iat", &iat);
	if (rc == EINVAL)
		return PG_AUTH_R_TOKEN_MALFORMED;
	/* A token issued in the future means a broken clock or a forgery. */
	if (rc == 0 && iat > now + v->skew)
		return PG_AUTH_R_TOKEN_NOT_YET_VALID;
	if (v->issuer) {
		s = jwt_get_grant(j, "iss");
		if (!s || strcmp(s, v->issuer) != 0)
			return PG_AUTH_R_WRONG_ISSUER;
	}
	if (v->audience) {
		/* RFC 7519 §4.1.3: a string or an array of strings. */
		s = jwt_get_grant(j, "aud");
		if (s) {
			if (strcmp(s, v->audience) != 0)
				return PG_AUTH_R_WRONG_AUDIENCE;
		} else {
			char *js = jwt_get_grants_json(j, "aud");
			int ok = js && js[0] == '[' && json_array_has_string(js, v->audience);

			free(js);
			if (!ok)
				return PG_AUTH_R_WRONG_AUDIENCE;
		}
	}
	memset(out, 0, sizeof(*out));
	s = jwt_get_grant(j, "sub");
	if (s) {
		if (strlen(s) >= sizeof(out->subject))
			return PG_AUTH_R_TOKEN_MALFORMED;
		/* The subject goes into audit logs: no control characters. */
		for (const char *c = s; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return PG_AUTH_R_TOKEN_MALFORMED;
		memcpy(out->subject, s, strlen(s) + 1);
	}
	/* "scope" (RFC 8693 §4.2) or "scp" (string or array, as some issuers
	 * emit). */
	s = jwt_get_grant(j, "scope");
	if (s) {
		out->scopes = pg_auth_scope_parse(s, strlen(s));
	} else if ((s = jwt_get_grant(j, "scp"))) {
		out->scopes = pg_auth_scope_parse(s, strlen(s));
	} else {
		char *js = jwt_get_grants_json(j, "scp");

		if (js && js[0] == '[')
			out->scopes = json_array_scopes(js);
		free(js);
	}
	scope_text(out->scopes, out->scope_text, sizeof(out->scope_text));
	if ((rc = text_claim(j, "jti", out->jti, sizeof(out->jti), jti_char)) != 0 ||
	    (rc = text_claim(j, PG_AUTH_CLAIM_WINDOW, out->window_id, sizeof(out->window_id), id_char)) != 0)
		return PG_AUTH_R_TOKEN_MALFORMED;
	out->exp = exp;
	out->valid_until = exp + v->skew;
	return PG_AUTH_R_OK;
}

/* ---- cache ---- */

static struct cache_entry *cache_set(struct pg_auth_jwt *v, const unsigned char *d)
{
	size_t h = ((size_t)d[0] << 24 | (size_t)d[1] << 16 | (size_t)d[2] << 8 | d[3]);

	return &v->cache[(h & (v->n_sets - 1)) * CACHE_WAYS];
}

static int cache_lookup(struct pg_auth_jwt *v, const unsigned char *d, int64_t now,
			struct pg_auth_token *out, enum pg_auth_reason *why)
{
	struct cache_entry *set;
	int found = 0;

	if (!v->cache)
		return 0;
	pthread_mutex_lock(&v->mu);
	set = cache_set(v, d);
	for (int i = 0; i < CACHE_WAYS; i++) {
		if (!set[i].used || CRYPTO_memcmp(set[i].digest, d, 32) != 0)
			continue;
		found = 1;
		if (now >= set[i].tok.exp + v->skew) {
			set[i].used = 0;
			*why = PG_AUTH_R_TOKEN_EXPIRED;
		} else {
			*out = set[i].tok;
			out->cached = 1;
			*why = PG_AUTH_R_OK;
		}
		break;
	}
	if (found)
		v->stats.hits++;
	else
		v->stats.misses++;
	pthread_mutex_unlock(&v->mu);
	return found;
}

static void cache_insert(struct pg_auth_jwt *v, const unsigned char *d, const struct pg_auth_token *t)
{
	struct cache_entry *set, *victim;

	if (!v->cache)
		return;
	pthread_mutex_lock(&v->mu);
	set = cache_set(v, d);
	victim = &set[0];
	for (int i = 0; i < CACHE_WAYS; i++) {
		if (!set[i].used) {
			victim = &set[i];
			break;
		}
		/* Evict the entry that expires first. */
		if (set[i].tok.exp < victim->tok.exp)
			victim = &set[i];
	}
	if (victim->used)
		v->stats.evictions++;
	memcpy(victim->digest, d, 32);
	victim->tok = *t;
	victim->tok.cached = 0;
	victim->used = 1;
	v->stats.inserts++;
	pthread_mutex_unlock(&v->mu);
}

void pg_auth_jwt_stats(struct pg_auth_jwt *v, struct pg_auth_jwt_stats *st)
{
	pthread_mutex_lock(&v->mu);
	*st = v->stats;
	pthread_mutex_unlock(&v->mu);
}

/* ---- verification ---- */

/* Whether the payload is one libjwt can read, to tell a malformed token from
 * one whose signature does not verify. */
static int payload_well_formed(const char *t, const struct segs *s)
{
	unsigned char buf[PG_AUTH_TOKEN_MAX];
	long n = b64url_decode(t + s->p_off, s->p_len, buf, sizeof(buf));
	struct pg_json *doc = NULL;
	int ok;

	if (n <= 0 || buf[0] != '{' ||
	    pg_json_parse((const char *)buf, (size_t)n, &jose_limits, &doc) != PG_OK)
		return 0;
	ok = pg_json_is(pg_json_root(doc), PG_JSON_OBJECT);
	pg_json_free(&doc);
	return ok;
}

enum pg_auth_reason pg_auth_jwt_verify(struct pg_auth_jwt *v, const char *token, size_t len,
				       int64_t now_s, struct pg_auth_token *out)
{
	unsigned char digest[32];
	char alg_s[16], kid[PG_AUTH_KID_MAX];
	char copy[PG_AUTH_TOKEN_MAX + 1];
	enum pg_auth_reason r;
	enum pg_auth_alg alg;
	struct segs s;
	jwt_t *j = NULL;
	const struct key *used = NULL;
	int kid_seen = 0, alg_seen = 0, hmac_verified = 0;

	memset(out, 0, sizeof(*out));
	if (!v || !token || len == 0)
		return PG_AUTH_R_TOKEN_MISSING;
	if (len > PG_AUTH_TOKEN_MAX)
		return PG_AUTH_R_TOKEN_TOO_LARGE;
	if (split_token(token, len, &s) != 0)
		return PG_AUTH_R_TOKEN_MALFORMED;
	if (!EVP_Digest(token, len, digest, NULL, EVP_sha256(), NULL))
		return PG_AUTH_R_INTERNAL;
	if (cache_lookup(v, digest, now_s, out, &r))
		return r;

	r = read_header(token, &s, alg_s, sizeof(alg_s), kid, sizeof(kid));
	if (r != PG_AUTH_R_OK)
		return r;
	if (parse_alg(alg_s, &alg) != 0 || s.s_len == 0)
		return PG_AUTH_R_ALG_NOT_ALLOWED;
	memcpy(copy, token, len);
	copy[len] = '\0';

	/* Try only keys configured for exactly this alg (and kid): an RSA/EC
	 * public key never reaches an HMAC verification. */
	for (size_t i = 0; i < v->n_keys; i++) {
		const struct key *k = &v->keys[i];
		int rc;

		if (k->alg != alg)
			continue;
		alg_seen = 1;
		if (kid[0] && k->kid[0] && strcmp(kid, k->kid) != 0)
			continue;
		kid_seen = 1;
		if (alg == PG_AUTH_ALG_HS256 && !hmac_ok(k, copy, &s))
			continue;
		hmac_verified = alg == PG_AUTH_ALG_HS256;
		rc = jwt_decode(&j, copy, k->bytes,
				(int)(alg == PG_AUTH_ALG_HS256 ? k->len : strlen((char *)k->bytes)));
		if (rc == 0 && j) {
			used = k;
			break;
		}
		if (j) {
			jwt_free(j);
			j = NULL;
		}
	}
	wipe(copy, len);
	if (!alg_seen)
		return PG_AUTH_R_ALG_NOT_ALLOWED;
	if (!kid_seen)
		return PG_AUTH_R_UNKNOWN_KEY;
	/* A verified HMAC that libjwt still refused: the claims are at fault. */
	if (!used)
		return !hmac_verified && payload_well_formed(token, &s) ? PG_AUTH_R_BAD_SIGNATURE
									: PG_AUTH_R_TOKEN_MALFORMED;
	/* Re-check what libjwt decided the algorithm was. */
	if (jwt_get_alg(j) != to_jwt_alg(used->alg)) {
		r = PG_AUTH_R_ALG_NOT_ALLOWED;
		goto out;
	}
	r = check_claims(v, j, now_s, out);
	if (r != PG_AUTH_R_OK)
		goto out;
	out->alg = used->alg;
	cache_insert(v, digest, out);
out:
	jwt_free(j);
	if (r != PG_AUTH_R_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

static int is_b64token_char(unsigned char c)
{
	/* RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~"
	 * / "+" / "/" ) *"=" */
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

enum pg_auth_reason pg_auth_bearer_parse(const char *value, const char **tok, size_t *len)
{
	size_t n, i, start, end;

	*tok = NULL;
	*len = 0;
	if (!value)
		return PG_AUTH_R_TOKEN_MISSING;
	n = strnlen(value, PG_AUTH_TOKEN_MAX + 65);
	if (n > PG_AUTH_TOKEN_MAX + 64)
		return PG_AUTH_R_TOKEN_TOO_LARGE;
	/* HTTP strips optional whitespace around field values (RFC 9110 §5.5). */
	i = 0;
	while (i < n && (value[i] == ' ' || value[i] == '\t'))
		i++;
	while (n > i && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	if (i == n)
		return PG_AUTH_R_TOKEN_MISSING;
	if (n - i < 6 || strncasecmp(value + i, "Bearer", 6) != 0 ||
	    (n - i > 6 && value[i + 6] != ' '))
		return PG_AUTH_R_TOKEN_MISSING; /* another scheme: no bearer credentials */
	i += 6;
	if (i == n)
		return PG_AUTH_R_TOKEN_MALFORMED;
	while (i < n && value[i] == ' ')
		i++;
	start = i;
	while (i < n && is_b64token_char((unsigned char)value[i]))
		i++;
	if (i == start)
		return PG_AUTH_R_TOKEN_MALFORMED;
	while (i < n && value[i] == '=')
		i++;
	end = i;
	if (i != n)
		return PG_AUTH_R_TOKEN_MALFORMED;
	if (end - start > PG_AUTH_TOKEN_MAX)
		return PG_AUTH_R_TOKEN_TOO_LARGE;
	*tok = value + start;
	*len = end - start;
	return PG_AUTH_R_OK;
}
