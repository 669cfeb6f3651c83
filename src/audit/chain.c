/* The audit hash chain; see chain.h and docs/audit.md. */
#include "src/audit/chain.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How far the verifier looks ahead for the seq it expected, to tell moved
 * lines from deleted ones. */
#define LOOKAHEAD_LINES 4096

struct pg_audit_hasher {
	EVP_MD *md;          /* SHA-256, fetched once */
	EVP_MD_CTX *mdctx;
	EVP_MAC *mac;        /* HMAC, fetched once; NULL without a key */
	EVP_MAC_CTX *macctx;
	unsigned char *key;
	size_t key_len;
};

static const char HEXD[] = "0123456789abcdef";

void pg_audit_hex(const unsigned char h[PG_AUDIT_HASH_LEN], char out[PG_AUDIT_HEX_LEN + 1])
{
	for (size_t i = 0; i < PG_AUDIT_HASH_LEN; i++) {
		out[2 * i] = HEXD[h[i] >> 4];
		out[2 * i + 1] = HEXD[h[i] & 15];
	}
	out[PG_AUDIT_HEX_LEN] = '\0';
}

static int hexval(char c, bool lower_only)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (!lower_only && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool unhex(const char *s, size_t len, bool lower_only, unsigned char h[PG_AUDIT_HASH_LEN])
{
	if (len != PG_AUDIT_HEX_LEN)
		return false;
	for (size_t i = 0; i < PG_AUDIT_HASH_LEN; i++) {
		int a = hexval(s[2 * i], lower_only), b = hexval(s[2 * i + 1], lower_only);

		if (a < 0 || b < 0)
			return false;
		h[i] = (unsigned char)(a << 4 | b);
	}
	return true;
}

int pg_audit_unhex(const char *s, size_t len, unsigned char h[PG_AUDIT_HASH_LEN])
{
	return unhex(s, len, false, h) ? PG_OK : pg_fail(PG_EINVAL, "a hash is 64 hex digits");
}

/* ---- hashing ------------------------------------------------------------- */

void pg_audit_hasher_free(struct pg_audit_hasher **pp)
{
	struct pg_audit_hasher *h;

	if (!pp || !*pp)
		return;
	h = *pp;
	EVP_MAC_CTX_free(h->macctx);
	EVP_MAC_free(h->mac);
	EVP_MD_CTX_free(h->mdctx);
	EVP_MD_free(h->md);
	if (h->key) {
		OPENSSL_cleanse(h->key, h->key_len);
		free(h->key);
	}
	free(h);
	*pp = NULL;
}

int pg_audit_hasher_new(const unsigned char *key, size_t key_len, struct pg_audit_hasher **out)
{
	struct pg_audit_hasher *h = calloc(1, sizeof(*h));
	int rc = PG_OK;

	*out = NULL;
	if (!h)
		return pg_fail(PG_ENOMEM, "out of memory for the audit hasher");
	h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	h->mdctx = EVP_MD_CTX_new();
	if (!h->md || !h->mdctx)
		rc = pg_fail(PG_ENOMEM, "OpenSSL has no SHA-256 for the audit chain");
	if (rc == PG_OK && key) {
		if (key_len < PG_AUDIT_KEY_MIN || key_len > PG_AUDIT_KEY_MAX)
			rc = pg_fail(PG_EINVAL, "the audit HMAC key is %zu bytes; it must be %d..%d bytes", key_len,
				     PG_AUDIT_KEY_MIN, PG_AUDIT_KEY_MAX);
		if (rc == PG_OK) {
			h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
			h->macctx = h->mac ? EVP_MAC_CTX_new(h->mac) : NULL;
			h->key = malloc(key_len);
			if (!h->mac || !h->macctx || !h->key)
				rc = pg_fail(PG_ENOMEM, "OpenSSL has no HMAC for the audit chain");
		}
		if (rc == PG_OK) {
			/* Digest and key set once; each line re-initialises with them. */
			OSSL_PARAM params[2];

			params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
			params[1] = OSSL_PARAM_construct_end();
			memcpy(h->key, key, key_len);
			h->key_len = key_len;
			if (EVP_MAC_init(h->macctx, h->key, h->key_len, params) != 1)
				rc = pg_fail(PG_EINTERNAL, "OpenSSL refused the audit HMAC key");
		}
	}
	if (rc != PG_OK) {
		pg_audit_hasher_free(&h);
		return rc;
	}
	*out = h;
	return PG_OK;
}

const char *pg_audit_hasher_alg(const struct pg_audit_hasher *h)
{
	return h->mac ? "hmac-sha256" : "sha256";
}

int pg_audit_hash(struct pg_audit_hasher *h, const unsigned char prev[PG_AUDIT_HASH_LEN], const char *canon,
		  size_t len, unsigned char out[PG_AUDIT_HASH_LEN])
{
	if (h->mac) {
		size_t n = 0;

		if (EVP_MAC_init(h->macctx, NULL, 0, NULL) != 1 ||
		    EVP_MAC_update(h->macctx, prev, PG_AUDIT_HASH_LEN) != 1 ||
		    EVP_MAC_update(h->macctx, (const unsigned char *)canon, len) != 1 ||
		    EVP_MAC_final(h->macctx, out, &n, PG_AUDIT_HASH_LEN) != 1 || n != PG_AUDIT_HASH_LEN)
			return pg_fail(PG_EIO, "HMAC-SHA256 failed");
		return PG_OK;
	}
	unsigned int n = 0;

	if (EVP_DigestInit_ex2(h->mdctx, h->md, NULL) != 1 || EVP_DigestUpdate(h->mdctx, prev, PG_AUDIT_HASH_LEN) != 1 ||
	    EVP_DigestUpdate(h->mdctx, canon, len) != 1 || EVP_DigestFinal_ex(h->mdctx, out, &n) != 1 ||
	    n != PG_AUDIT_HASH_LEN)
		return pg_fail(PG_EIO, "SHA-256 failed");
	return PG_OK;
}

/* ---- lines --------------------------------------------------------------- */

/* Literal `lit` at *p (advancing it), within end. */
static bool lit(const char **p, const char *end, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0)
		return false;
	*p += n;
	return true;
}

/* A decimal without sign or leading zero, at most 2^64-1. */
static bool num(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (s >= end || *s < '0' || *s > '9' || (*s == '0' && s + 1 < end && s[1] >= '0' && s[1] <= '9'))
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return true;
}

/* A short word of [a-z0-9_-] up to the closing quote, into out. */
static bool word(const char **p, const char *end, char *out, size_t cap)
{
	size_t n = 0;

	while (*p < end && **p != '"') {
		char c = **p;

		if (n + 1 >= cap || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
		out[n++] = c;
		(*p)++;
	}
	out[n] = '\0';
	return n > 0 && lit(p, end, "\"");
}

int pg_audit_line_parse(const char *line, size_t len, struct pg_audit_line *out)
{
	const char *p = line, *end, *tail;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (len > PG_AUDIT_LINE_MAX || len < PG_AUDIT_TAIL_LEN + 20)
		return PG_EINVAL;
	out->canon_len = len - PG_AUDIT_TAIL_LEN;
	end = line + out->canon_len;
	tail = end;
	if (!lit(&tail, line + len, ",\"hash\":\"") || !unhex(tail, PG_AUDIT_HEX_LEN, true, out->hash) ||
	    memcmp(tail + PG_AUDIT_HEX_LEN, "\"}", 2) != 0)
		return PG_EINVAL;
	/* The canonical bytes are text: no control byte (a '\n' would split the line). */
	for (size_t i = 0; i < out->canon_len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			return PG_EINVAL;
	if (!lit(&p, end, "{\"seq\":") || !num(&p, end, &out->seq) || !lit(&p, end, ",\"time\":\""))
		return PG_EINVAL;
	for (n = 0; p < end && *p != '"' && *p != '\\'; p++, n++)
		if (n >= 40)
			return PG_EINVAL;
	if (n == 0 || !lit(&p, end, "\""))
		return PG_EINVAL;
	if (p == end)
		return PG_OK;
	if (*p != ',')
		return PG_EINVAL;
	if (!lit(&p, end, ",\"event\":\"audit_chain_start\","))
		return PG_OK;
	out->start = true;
	if (!lit(&p, end, "\"alg\":\"") || !word(&p, end, out->alg, sizeof(out->alg)) ||
	    !lit(&p, end, ",\"prev_seq\":") || !num(&p, end, &out->prev_seq) || !lit(&p, end, ",\"prev_hash\":\"") ||
	    end - p < PG_AUDIT_HEX_LEN || !unhex(p, PG_AUDIT_HEX_LEN, true, out->prev_hash))
		return PG_EINVAL;
	p += PG_AUDIT_HEX_LEN;
	if (!lit(&p, end, "\",\"reason\":\"") || !word(&p, end, out->reason, sizeof(out->reason)))
		return PG_EINVAL;
	return PG_OK;
}

/* ---- verification -------------------------------------------------------- */

struct vstate {
	const char *data, *end;
	struct pg_audit_hasher *sha, *hmac, *cur;
	bool have_prev;
	uint64_t prev_seq;
	unsigned char prev_hash[PG_AUDIT_HASH_LEN];
};

/* The next line at *pos: [*line, *line + *len), *pos advanced past its '\n'.
 * false at the end; *complete false for a last line without '\n'. */
static bool next_line(const char *end, const char **pos, const char **line, size_t *len, bool *complete)
{
	const char *nl;

	if (*pos >= end)
		return false;
	nl = memchr(*pos, '\n', (size_t)(end - *pos));
	*line = *pos;
	*complete = nl != NULL;
	*len = (size_t)((nl ? nl : end) - *pos);
	*pos = nl ? nl + 1 : end;
	return true;
}

/* Where (1-based line) seq `want` appears within the next lines, 0 if not. */
static size_t find_seq(const char *pos, const char *end, size_t line_no, uint64_t want)
{
	const char *l;
	size_t len;
	bool complete;
	struct pg_audit_line pl;

	for (int i = 0; i < LOOKAHEAD_LINES && next_line(end, &pos, &l, &len, &complete); i++) {
		line_no++;
		if (complete && pg_audit_line_parse(l, len, &pl) == PG_OK && pl.seq == want)
			return line_no;
	}
	return 0;
}

static void verdict(struct pg_audit_verify_result *res, enum pg_audit_verdict v, size_t line_no, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));

static void verdict(struct pg_audit_verify_result *res, enum pg_audit_verdict v, size_t line_no, const char *fmt, ...)
{
	va_list ap;

	res->verdict = v;
	res->line_no = line_no;
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
}

static int verify_lines(struct vstate *st, const unsigned char *prev, struct pg_audit_verify_result *res)
{
	const char *pos = st->data, *l;
	size_t len, line_no = 0;
	bool complete;
	unsigned char h[PG_AUDIT_HASH_LEN];
	struct pg_audit_line pl;
	int rc;

	while (next_line(st->end, &pos, &l, &len, &complete)) {
		const unsigned char *p;
		bool first = res->lines == 0 && res->partial_skipped == 0;

		line_no++;
		if (!complete) {
			verdict(res, PG_AUDIT_TRUNCATED, line_no,
				"line %zu is incomplete (no newline): the file was truncated or the node stopped "
				"mid-write",
				line_no);
			return PG_OK;
		}
		if (len > PG_AUDIT_LINE_MAX || pg_audit_line_parse(l, len, &pl) != PG_OK) {
			/* An incomplete line a crash left, closed by the restart that
			 * follows it and names the line before it. */
			const char *q = pos, *nl2;
			size_t len2;
			bool c2;
			struct pg_audit_line nx;

			if (st->have_prev && next_line(st->end, &q, &nl2, &len2, &c2) && c2 &&
			    pg_audit_line_parse(nl2, len2, &nx) == PG_OK && nx.start &&
			    strcmp(nx.reason, "partial_line") == 0 && nx.prev_seq == st->prev_seq &&
			    memcmp(nx.prev_hash, st->prev_hash, PG_AUDIT_HASH_LEN) == 0) {
				res->partial_skipped++;
				continue;
			}
			verdict(res, PG_AUDIT_MALFORMED, line_no, "line %zu is not an audit chain line", line_no);
			return PG_OK;
		}
		if (pl.start) {
			if (strcmp(pl.alg, "sha256") == 0) {
				st->cur = st->sha;
			} else if (strcmp(pl.alg, "hmac-sha256") == 0) {
				if (!st->hmac) {
					verdict(res, PG_AUDIT_NEEDS_KEY, line_no,
						"line %zu starts an hmac-sha256 chain: give its key with --key", line_no);
					return PG_OK;
				}
				st->cur = st->hmac;
			} else {
				verdict(res, PG_AUDIT_MALFORMED, line_no, "line %zu names an unknown algorithm \"%s\"",
					line_no, pl.alg);
				return PG_OK;
			}
			if (first && prev && memcmp(prev, pl.prev_hash, PG_AUDIT_HASH_LEN) != 0) {
				verdict(res, PG_AUDIT_BAD_LINK, line_no,
					"line %zu: the chain starts from another hash than --prev-hash (the previous "
					"file's last hash)",
					line_no);
				return PG_OK;
			}
			if (!first && (pl.prev_seq != st->prev_seq ||
				       memcmp(pl.prev_hash, st->prev_hash, PG_AUDIT_HASH_LEN) != 0)) {
				verdict(res, PG_AUDIT_BAD_LINK, line_no,
					"line %zu: chain start names seq %llu and a hash that are not the line before "
					"it (seq %llu)",
					line_no, (unsigned long long)pl.prev_seq, (unsigned long long)st->prev_seq);
				return PG_OK;
			}
			if (first) {
				st->have_prev = true;
				st->prev_seq = pl.prev_seq;
				memcpy(st->prev_hash, pl.prev_hash, PG_AUDIT_HASH_LEN);
			}
		} else if (first && !prev) {
			/* Nothing to check this line against: take it as the start. */
			res->first_unchecked = true;
			res->first_seq = pl.seq;
			res->lines++;
			st->have_prev = true;
			st->prev_seq = pl.seq;
			memcpy(st->prev_hash, pl.hash, PG_AUDIT_HASH_LEN);
			continue;
		} else if (first) {
			st->have_prev = true;
			st->prev_seq = pl.seq - 1; /* the first seq is taken as it is */
			memcpy(st->prev_hash, prev, PG_AUDIT_HASH_LEN);
		}
		if (pl.seq != st->prev_seq + 1) {
			uint64_t want = st->prev_seq + 1;
			size_t at = find_seq(pos, st->end, line_no, want);

			if (at)
				verdict(res, PG_AUDIT_REORDERED, line_no,
					"line %zu has seq %llu where %llu was expected; seq %llu is at line %zu: lines "
					"moved or swapped",
					line_no, (unsigned long long)pl.seq, (unsigned long long)want,
					(unsigned long long)want, at);
			else if (pl.seq < want)
				verdict(res, PG_AUDIT_REORDERED, line_no,
					"line %zu has seq %llu after seq %llu: a line moved back or duplicated", line_no,
					(unsigned long long)pl.seq, (unsigned long long)st->prev_seq);
			else
				verdict(res, PG_AUDIT_MISSING, line_no,
					"line %zu has seq %llu where %llu was expected: %llu line(s) missing (deleted)",
					line_no, (unsigned long long)pl.seq, (unsigned long long)want,
					(unsigned long long)(pl.seq - want));
			return PG_OK;
		}
		p = st->prev_hash;
		if ((rc = pg_audit_hash(st->cur, p, l, pl.canon_len, h)) != PG_OK)
			return rc;
		if (memcmp(h, pl.hash, PG_AUDIT_HASH_LEN) != 0) {
			verdict(res, PG_AUDIT_EDITED, line_no,
				"line %zu (seq %llu): hash mismatch: the line was edited%s", line_no,
				(unsigned long long)pl.seq,
				st->cur == st->hmac ? " (or the key is not the node's)" : "");
			return PG_OK;
		}
		if (first)
			res->first_seq = pl.seq;
		res->lines++;
		st->prev_seq = pl.seq;
		memcpy(st->prev_hash, h, PG_AUDIT_HASH_LEN);
	}
	return PG_OK;
}

int pg_audit_verify(const char *data, size_t len, const unsigned char *key, size_t key_len,
		    const unsigned char *prev, struct pg_audit_verify_result *res)
{
	struct vstate st = {.data = data, .end = data + len};
	int rc;

	memset(res, 0, sizeof(*res));
	rc = pg_audit_hasher_new(NULL, 0, &st.sha);
	if (rc == PG_OK && key)
		rc = pg_audit_hasher_new(key, key_len, &st.hmac);
	if (rc == PG_OK) {
		/* Lines before any chain start: the key decides. */
		st.cur = st.hmac ? st.hmac : st.sha;
		rc = verify_lines(&st, prev, res);
	}
	if (rc == PG_OK && res->verdict == PG_AUDIT_OK) {
		res->last_seq = st.prev_seq;
		memcpy(res->last_hash, st.prev_hash, PG_AUDIT_HASH_LEN);
		snprintf(res->msg, sizeof(res->msg), "%zu line(s) verified", res->lines);
	}
	pg_audit_hasher_free(&st.hmac);
	pg_audit_hasher_free(&st.sha);
	return rc;
}
