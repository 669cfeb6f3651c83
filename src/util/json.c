/* Bounded JSON reader and string writer; see json.h. Grammar: RFC 8259. */
#include "src/util/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX

struct pg_json_value {
	enum pg_json_type type;
	const struct pg_json *doc;
	size_t first, next, count; /* children (node indices), sibling */
	size_t str, str_len;       /* pool offset of string bytes or number text */
	size_t key, key_len;       /* pool offset of the member key, in an object */
};

struct pg_json {
	struct pg_json_value *nodes;
	size_t n, cap;
	struct pg_buf pool; /* decoded strings, each NUL-terminated */
};

struct parser {
	const unsigned char *p;
	size_t len, pos, depth;
	struct pg_json_limits lim;
	struct pg_json *doc;
};

static int perr(const struct parser *ps, const char *what)
{
	return pg_fail(PG_EPROTO, "json: %s at byte %zu", what, ps->pos);
}

static void skip_ws(struct parser *ps)
{
	while (ps->pos < ps->len) {
		unsigned char c = ps->p[ps->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		ps->pos++;
	}
}

static int new_node(struct parser *ps, enum pg_json_type t, size_t *idx)
{
	struct pg_json *d = ps->doc;

	if (d->n >= ps->lim.max_nodes)
		return pg_fail(PG_ENOMEM, "json: more than %zu values", ps->lim.max_nodes);
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct pg_json_value *nn;

		if (cap > ps->lim.max_nodes)
			cap = ps->lim.max_nodes;
		nn = realloc(d->nodes, cap * sizeof(*nn));
		if (!nn)
			return pg_fail(PG_ENOMEM, "json: out of memory");
		d->nodes = nn;
		d->cap = cap;
	}
	memset(&d->nodes[d->n], 0, sizeof(d->nodes[0]));
	d->nodes[d->n].type = t;
	d->nodes[d->n].first = NONE;
	d->nodes[d->n].next = NONE;
	d->nodes[d->n].str = NONE;
	d->nodes[d->n].key = NONE;
	*idx = d->n++;
	return PG_OK;
}

static int pool_put(struct parser *ps, const void *b, size_t n)
{
	if (pg_buf_append(&ps->doc->pool, b, n) != PG_OK)
		return pg_fail(PG_ENOMEM, "json: string storage limit reached");
	return PG_OK;
}

static int put_utf8(struct parser *ps, uint32_t cp)
{
	unsigned char o[4];
	size_t n;

	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		o[0] = (unsigned char)(0xF0 | (cp >> 18));
		o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return pool_put(ps, o, n);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is
 * invalid: overlong forms, surrogates and values above U+10FFFF are rejected
 * (RFC 3629 section 4). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0; /* overlong */
		if (c == 0xED && s[1] >= 0xA0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0; /* overlong */
		if (c == 0xF4 && s[1] >= 0x90)
			return 0; /* above U+10FFFF */
		return 4;
	}
	return 0;
}

static int hex4(struct parser *ps, uint32_t *out)
{
	uint32_t v = 0;

	if (ps->len - ps->pos < 4)
		return perr(ps, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		unsigned char c = ps->p[ps->pos + (size_t)i];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return perr(ps, "bad hex digit in \\u escape");
		v = (v << 4) | d;
	}
	ps->pos += 4;
	*out = v;
	return PG_OK;
}

/* Parses a string at ps->pos (the opening quote) into the pool; sets *off and
 * *n to its decoded bytes. */
static int parse_string(struct parser *ps, size_t *off, size_t *n)
{
	int rc;

	ps->pos++; /* opening quote */
	*off = ps->doc->pool.len;
	for (;;) {
		unsigned char c;

		if (ps->pos >= ps->len)
			return perr(ps, "unterminated string");
		c = ps->p[ps->pos];
		if (c == '"') {
			ps->pos++;
			break;
		}
		if (c < 0x20)
			return perr(ps, "control character in string");
		if (c == '\\') {
			unsigned char e;
			char ch;

			if (++ps->pos >= ps->len)
				return perr(ps, "unterminated escape");
			e = ps->p[ps->pos++];
			switch (e) {
			case '"': ch = '"'; break;
			case '\\': ch = '\\'; break;
			case '/': ch = '/'; break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			case 'u': {
				uint32_t cp, lo;

				if ((rc = hex4(ps, &cp)) != PG_OK)
					return rc;
				if (cp >= 0xDC00 && cp <= 0xDFFF)
					return perr(ps, "lone low surrogate");
				if (cp >= 0xD800 && cp <= 0xDBFF) {
					/* RFC 8259 section 7: a pair encodes one code point. */
					if (ps->len - ps->pos < 2 || ps->p[ps->pos] != '\\' ||
					    ps->p[ps->pos + 1] != 'u')
						return perr(ps, "high surrogate without low surrogate");
					ps->pos += 2;
					if ((rc = hex4(ps, &lo)) != PG_OK)
						return rc;
					if (lo < 0xDC00 || lo > 0xDFFF)
						return perr(ps, "high surrogate without low surrogate");
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				}
				if ((rc = put_utf8(ps, cp)) != PG_OK)
					return rc;
				continue;
			}
			default:
				ps->pos--;
				return perr(ps, "invalid escape");
			}
			if ((rc = pool_put(ps, &ch, 1)) != PG_OK)
				return rc;
			continue;
		}
		{
			size_t l = utf8_len(ps->p + ps->pos, ps->len - ps->pos);

			if (l == 0)
				return perr(ps, "invalid UTF-8 in string");
			if ((rc = pool_put(ps, ps->p + ps->pos, l)) != PG_OK)
				return rc;
			ps->pos += l;
		}
	}
	*n = ps->doc->pool.len - *off;
	return pool_put(ps, "", 1);
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* number = [ minus ] int [ frac ] [ exp ] (RFC 8259 section 6). */
static int parse_number(struct parser *ps, size_t idx)
{
	size_t start = ps->pos;
	const unsigned char *p = ps->p;
	size_t n = ps->len;
	int rc;

	if (ps->pos < n && p[ps->pos] == '-')
		ps->pos++;
	if (ps->pos >= n || !is_digit(p[ps->pos]))
		return perr(ps, "invalid number");
	if (p[ps->pos] == '0') {
		ps->pos++;
		if (ps->pos < n && is_digit(p[ps->pos]))
			return perr(ps, "leading zero in number");
	} else {
		while (ps->pos < n && is_digit(p[ps->pos]))
			ps->pos++;
	}
	if (ps->pos < n && p[ps->pos] == '.') {
		ps->pos++;
		if (ps->pos >= n || !is_digit(p[ps->pos]))
			return perr(ps, "digit expected after decimal point");
		while (ps->pos < n && is_digit(p[ps->pos]))
			ps->pos++;
	}
	if (ps->pos < n && (p[ps->pos] == 'e' || p[ps->pos] == 'E')) {
		ps->pos++;
		if (ps->pos < n && (p[ps->pos] == '+' || p[ps->pos] == '-'))
			ps->pos++;
		if (ps->pos >= n || !is_digit(p[ps->pos]))
			return perr(ps, "digit expected in exponent");
		while (ps->pos < n && is_digit(p[ps->pos]))
			ps->pos++;
	}
	if (ps->pos - start > ps->lim.max_number_len)
		return pg_fail(PG_ENOMEM, "json: number longer than %zu characters at byte %zu",
			       ps->lim.max_number_len, start);
	ps->doc->nodes[idx].str = ps->doc->pool.len;
	ps->doc->nodes[idx].str_len = ps->pos - start;
	if ((rc = pool_put(ps, p + start, ps->pos - start)) != PG_OK)
		return rc;
	return pool_put(ps, "", 1);
}

static int parse_literal(struct parser *ps, const char *word)
{
	size_t l = strlen(word);

	if (ps->len - ps->pos < l || memcmp(ps->p + ps->pos, word, l) != 0)
		return perr(ps, "invalid literal");
	ps->pos += l;
	return PG_OK;
}

static int parse_value(struct parser *ps, size_t *out);

/* Links child `c` after `*last` in container `parent`. */
static void link_child(struct pg_json *d, size_t parent, size_t *last, size_t c)
{
	if (*last == NONE)
		d->nodes[parent].first = c;
	else
		d->nodes[*last].next = c;
	*last = c;
	d->nodes[parent].count++;
}

static int parse_container(struct parser *ps, size_t idx, bool object)
{
	unsigned char close = object ? '}' : ']';
	size_t last = NONE;
	int rc;

	if (++ps->depth > ps->lim.max_depth)
		return pg_fail(PG_ENOMEM, "json: nesting deeper than %zu at byte %zu", ps->lim.max_depth,
			       ps->pos);
	ps->pos++; /* '[' or '{' */
	skip_ws(ps);
	if (ps->pos < ps->len && ps->p[ps->pos] == close) {
		ps->pos++;
		ps->depth--;
		return PG_OK;
	}
	for (;;) {
		size_t key = NONE, key_len = 0, child;

		skip_ws(ps);
		if (object) {
			if (ps->pos >= ps->len || ps->p[ps->pos] != '"')
				return perr(ps, "object key expected");
			if ((rc = parse_string(ps, &key, &key_len)) != PG_OK)
				return rc;
			skip_ws(ps);
			if (ps->pos >= ps->len || ps->p[ps->pos] != ':')
				return perr(ps, "':' expected");
			ps->pos++;
		}
		if ((rc = parse_value(ps, &child)) != PG_OK)
			return rc;
		ps->doc->nodes[child].key = key;
		ps->doc->nodes[child].key_len = key_len;
		link_child(ps->doc, idx, &last, child);
		skip_ws(ps);
		if (ps->pos >= ps->len)
			return perr(ps, object ? "unterminated object" : "unterminated array");
		if (ps->p[ps->pos] == ',') {
			ps->pos++;
			continue;
		}
		if (ps->p[ps->pos] == close) {
			ps->pos++;
			break;
		}
		return perr(ps, object ? "',' or '}' expected" : "',' or ']' expected");
	}
	ps->depth--;
	return PG_OK;
}

static int parse_value(struct parser *ps, size_t *out)
{
	unsigned char c;
	size_t idx;
	int rc;

	skip_ws(ps);
	if (ps->pos >= ps->len)
		return perr(ps, "value expected");
	c = ps->p[ps->pos];
	switch (c) {
	case '{':
	case '[':
		if ((rc = new_node(ps, c == '{' ? PG_JSON_OBJECT : PG_JSON_ARRAY, &idx)) != PG_OK)
			return rc;
		rc = parse_container(ps, idx, c == '{');
		break;
	case '"': {
		size_t off = 0, n = 0;

		if ((rc = new_node(ps, PG_JSON_STRING, &idx)) != PG_OK)
			return rc;
		rc = parse_string(ps, &off, &n);
		ps->doc->nodes[idx].str = off;
		ps->doc->nodes[idx].str_len = n;
		break;
	}
	case 't':
		if ((rc = new_node(ps, PG_JSON_TRUE, &idx)) != PG_OK)
			return rc;
		rc = parse_literal(ps, "true");
		break;
	case 'f':
		if ((rc = new_node(ps, PG_JSON_FALSE, &idx)) != PG_OK)
			return rc;
		rc = parse_literal(ps, "false");
		break;
	case 'n':
		if ((rc = new_node(ps, PG_JSON_NULL, &idx)) != PG_OK)
			return rc;
		rc = parse_literal(ps, "null");
		break;
	default:
		if (c != '-' && !is_digit(c))
			return perr(ps, "unexpected character");
		if ((rc = new_node(ps, PG_JSON_NUMBER, &idx)) != PG_OK)
			return rc;
		rc = parse_number(ps, idx);
		break;
	}
	if (rc == PG_OK)
		*out = idx;
	return rc;
}

int pg_json_parse(const char *text, size_t len, const struct pg_json_limits *limits,
		  struct pg_json **out)
{
	struct parser ps = {0};
	struct pg_json *doc = NULL;
	size_t root;
	int rc;

	if (!out)
		return pg_fail(PG_EINVAL, "json: no output");
	*out = NULL;
	if (!text && len)
		return pg_fail(PG_EINVAL, "json: no input");
	ps.lim.max_bytes = PG_JSON_DEFAULT_MAX_BYTES;
	ps.lim.max_depth = PG_JSON_DEFAULT_MAX_DEPTH;
	ps.lim.max_nodes = PG_JSON_DEFAULT_MAX_NODES;
	ps.lim.max_number_len = PG_JSON_DEFAULT_MAX_NUMBER_LEN;
	if (limits) {
		if (limits->max_bytes)
			ps.lim.max_bytes = limits->max_bytes;
		if (limits->max_depth)
			ps.lim.max_depth = limits->max_depth;
		if (limits->max_nodes)
			ps.lim.max_nodes = limits->max_nodes;
		if (limits->max_number_len)
			ps.lim.max_number_len = limits->max_number_len;
	}
	if (len > ps.lim.max_bytes)
		return pg_fail(PG_ENOMEM, "json: input of %zu bytes exceeds the limit of %zu", len,
			       ps.lim.max_bytes);
	doc = calloc(1, sizeof(*doc));
	if (!doc)
		return pg_fail(PG_ENOMEM, "json: out of memory");
	/* Decoded strings never exceed their source, plus one NUL per value. */
	pg_buf_init(&doc->pool, 2 * len + 16);
	ps.p = (const unsigned char *)(text ? text : "");
	ps.len = len;
	ps.doc = doc;
	if ((rc = parse_value(&ps, &root)) != PG_OK)
		goto out;
	skip_ws(&ps);
	if (ps.pos != ps.len) {
		rc = perr(&ps, "trailing data after the value");
		goto out;
	}
	for (size_t i = 0; i < doc->n; i++)
		doc->nodes[i].doc = doc;
	*out = doc;
	doc = NULL;
	rc = PG_OK;
out:
	pg_json_free(&doc);
	return rc;
}

void pg_json_free(struct pg_json **pp)
{
	if (!pp || !*pp)
		return;
	pg_buf_free(&(*pp)->pool);
	free((*pp)->nodes);
	free(*pp);
	*pp = NULL;
}

const struct pg_json_value *pg_json_root(const struct pg_json *doc)
{
	return (doc && doc->n) ? &doc->nodes[0] : NULL;
}

enum pg_json_type pg_json_type(const struct pg_json_value *v)
{
	return v ? v->type : PG_JSON_NULL;
}

bool pg_json_is(const struct pg_json_value *v, enum pg_json_type t)
{
	return v && v->type == t;
}

static const struct pg_json_value *node(const struct pg_json_value *v, size_t i)
{
	return i == NONE ? NULL : &v->doc->nodes[i];
}

static const char *pool_at(const struct pg_json_value *v, size_t off)
{
	return off == NONE ? NULL : v->doc->pool.data + off;
}

const struct pg_json_value *pg_json_get(const struct pg_json_value *v, const char *key)
{
	size_t kl;

	if (!v || v->type != PG_JSON_OBJECT || !key)
		return NULL;
	kl = strlen(key);
	for (const struct pg_json_value *c = node(v, v->first); c; c = node(c, c->next))
		if (c->key_len == kl && memcmp(pool_at(c, c->key), key, kl) == 0)
			return c;
	return NULL;
}

size_t pg_json_count(const struct pg_json_value *v)
{
	return (v && (v->type == PG_JSON_ARRAY || v->type == PG_JSON_OBJECT)) ? v->count : 0;
}

const struct pg_json_value *pg_json_at(const struct pg_json_value *v, size_t i)
{
	const struct pg_json_value *c;

	if (i >= pg_json_count(v))
		return NULL;
	for (c = node(v, v->first); c && i; i--)
		c = node(c, c->next);
	return c;
}

const char *pg_json_key_at(const struct pg_json_value *v, size_t i)
{
	if (!v || v->type != PG_JSON_OBJECT)
		return NULL;
	v = pg_json_at(v, i);
	return v ? pool_at(v, v->key) : NULL;
}

const struct pg_json_value *pg_json_first(const struct pg_json_value *v)
{
	if (!v || (v->type != PG_JSON_ARRAY && v->type != PG_JSON_OBJECT))
		return NULL;
	return node(v, v->first);
}

const struct pg_json_value *pg_json_next(const struct pg_json_value *v)
{
	return v ? node(v, v->next) : NULL;
}

const char *pg_json_key(const struct pg_json_value *v)
{
	return v ? pool_at(v, v->key) : NULL;
}

const char *pg_json_str(const struct pg_json_value *v, size_t *len)
{
	if (!v || v->type != PG_JSON_STRING)
		return NULL;
	if (len)
		*len = v->str_len;
	return pool_at(v, v->str);
}

int pg_json_double(const struct pg_json_value *v, double *out)
{
	char *end;
	double d;

	if (!v || v->type != PG_JSON_NUMBER)
		return pg_fail(PG_EINVAL, "json: not a number");
	errno = 0;
	d = strtod(pool_at(v, v->str), &end);
	if (*end != '\0' || !isfinite(d))
		return pg_fail(PG_EINVAL, "json: number out of range");
	*out = d;
	return PG_OK;
}

/* Decimal int64 in exactly n bytes: optional '-', digits, no leading zeros
 * (protobuf JSON writes them canonically). */
static int parse_int64(const char *s, size_t n, int64_t *out)
{
	char tmp[24];
	char *end;
	long long x;
	size_t i = 0;

	if (n == 0 || n >= sizeof(tmp))
		return pg_fail(PG_EINVAL, "json: not an int64");
	if (s[0] == '-')
		i = 1;
	if (i == n)
		return pg_fail(PG_EINVAL, "json: not an int64");
	if (s[i] == '0' && n - i > 1)
		return pg_fail(PG_EINVAL, "json: leading zero in int64");
	for (size_t j = i; j < n; j++)
		if (!is_digit((unsigned char)s[j]))
			return pg_fail(PG_EINVAL, "json: not an int64");
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	x = strtoll(tmp, &end, 10);
	if (errno == ERANGE || *end != '\0')
		return pg_fail(PG_EINVAL, "json: int64 out of range");
	*out = (int64_t)x;
	return PG_OK;
}

int pg_json_int64(const struct pg_json_value *v, bool allow_string, int64_t *out)
{
	if (v && v->type == PG_JSON_NUMBER)
		return parse_int64(pool_at(v, v->str), v->str_len, out);
	if (v && v->type == PG_JSON_STRING && allow_string)
		return parse_int64(pool_at(v, v->str), v->str_len, out);
	return pg_fail(PG_EINVAL, "json: not an int64");
}

int pg_json_write_string(struct pg_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;
	int rc;

	if ((rc = pg_buf_append(b, "\"", 1)) != PG_OK)
		return rc;
	while (i < n) {
		unsigned char c = p[i];
		char esc[7];
		size_t el = 0, l;

		if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
			i++;
			run++;
			continue;
		}
		/* Flush the plain run before handling this byte. */
		if (run && (rc = pg_buf_append(b, p + i - run, run)) != PG_OK)
			return rc;
		run = 0;
		if (c < 0x80) {
			esc[0] = '\\';
			switch (c) {
			case '"': esc[1] = '"'; el = 2; break;
			case '\\': esc[1] = '\\'; el = 2; break;
			case '\n': esc[1] = 'n'; el = 2; break;
			case '\r': esc[1] = 'r'; el = 2; break;
			case '\t': esc[1] = 't'; el = 2; break;
			case '\b': esc[1] = 'b'; el = 2; break;
			case '\f': esc[1] = 'f'; el = 2; break;
			default:
				esc[1] = 'u';
				esc[2] = '0';
				esc[3] = '0';
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				el = 6;
			}
			if ((rc = pg_buf_append(b, esc, el)) != PG_OK)
				return rc;
			i++;
			continue;
		}
		l = utf8_len(p + i, n - i);
		if (l == 0) {
			/* Not UTF-8: the byte's value, escaped, so nothing is lost. */
			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[p[i] >> 4];
			esc[5] = hex[p[i] & 15];
			rc = pg_buf_append(b, esc, 6);
			l = 1;
		} else if (l == 3 && p[i] == 0xE2 && p[i + 1] == 0x80 && (p[i + 2] == 0xA8 || p[i + 2] == 0xA9)) {
			/* U+2028/U+2029 are valid JSON but end a JavaScript line. */
			rc = pg_buf_append(b, p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
		} else {
			rc = pg_buf_append(b, p + i, l);
		}
		if (rc != PG_OK)
			return rc;
		i += l;
	}
	if (run && (rc = pg_buf_append(b, p + i - run, run)) != PG_OK)
		return rc;
	return pg_buf_append(b, "\"", 1);
}

int pg_json_write_cstr(struct pg_buf *b, const char *s)
{
	if (!s)
		return pg_buf_append(b, "null", 4);
	return pg_json_write_string(b, s, strlen(s));
}
