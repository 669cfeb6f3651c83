#include "auth/jsonscan.h"

#include <string.h>

#define MAX_DEPTH 16

static void skip_ws(const char *s, size_t n, size_t *i)
{
	while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r'))
		(*i)++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* s[*i] must be '"'; leaves *i after the closing quote. */
static int skip_string(const char *s, size_t n, size_t *i)
{
	if (*i >= n || s[*i] != '"')
		return PG_EPROTO;
	(*i)++;
	while (*i < n) {
		unsigned char c = (unsigned char)s[*i];

		if (c == '"') {
			(*i)++;
			return PG_OK;
		}
		if (c < 0x20)
			return PG_EPROTO;
		if (c == '\\') {
			if (*i + 1 >= n)
				return PG_EPROTO;
			c = (unsigned char)s[*i + 1];
			if (c == 'u') {
				if (*i + 5 >= n)
					return PG_EPROTO;
				for (size_t k = 2; k < 6; k++)
					if (hexval(s[*i + k]) < 0)
						return PG_EPROTO;
				*i += 6;
				continue;
			}
			if (!strchr("\"\\/bfnrt", c) || c == 0)
				return PG_EPROTO;
			*i += 2;
			continue;
		}
		(*i)++;
	}
	return PG_EPROTO;
}

static int skip_number(const char *s, size_t n, size_t *i)
{
	size_t start = *i, digits = 0;

	if (*i < n && s[*i] == '-')
		(*i)++;
	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		(*i)++;
		digits++;
	}
	if (!digits)
		return PG_EPROTO;
	if (*i < n && s[*i] == '.') {
		(*i)++;
		digits = 0;
		while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
			(*i)++;
			digits++;
		}
		if (!digits)
			return PG_EPROTO;
	}
	if (*i < n && (s[*i] == 'e' || s[*i] == 'E')) {
		(*i)++;
		if (*i < n && (s[*i] == '+' || s[*i] == '-'))
			(*i)++;
		digits = 0;
		while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
			(*i)++;
			digits++;
		}
		if (!digits)
			return PG_EPROTO;
	}
	return *i > start ? PG_OK : PG_EPROTO;
}

static int skip_value(const char *s, size_t n, size_t *i, int depth);

static int skip_container(const char *s, size_t n, size_t *i, int depth, char open)
{
	char close = open == '{' ? '}' : ']';
	int rc;

	if (depth >= MAX_DEPTH)
		return PG_EPROTO;
	(*i)++;
	skip_ws(s, n, i);
	if (*i < n && s[*i] == close) {
		(*i)++;
		return PG_OK;
	}
	for (;;) {
		if (open == '{') {
			skip_ws(s, n, i);
			if ((rc = skip_string(s, n, i)) != PG_OK)
				return rc;
			skip_ws(s, n, i);
			if (*i >= n || s[*i] != ':')
				return PG_EPROTO;
			(*i)++;
		}
		if ((rc = skip_value(s, n, i, depth + 1)) != PG_OK)
			return rc;
		skip_ws(s, n, i);
		if (*i >= n)
			return PG_EPROTO;
		if (s[*i] == close) {
			(*i)++;
			return PG_OK;
		}
		if (s[*i] != ',')
			return PG_EPROTO;
		(*i)++;
	}
}

static int skip_literal(const char *s, size_t n, size_t *i, const char *lit)
{
	size_t l = strlen(lit);

	if (n - *i < l || memcmp(s + *i, lit, l) != 0)
		return PG_EPROTO;
	*i += l;
	return PG_OK;
}

static int skip_value(const char *s, size_t n, size_t *i, int depth)
{
	skip_ws(s, n, i);
	if (*i >= n)
		return PG_EPROTO;
	switch (s[*i]) {
	case '{':
	case '[':
		return skip_container(s, n, i, depth, s[*i]);
	case '"':
		return skip_string(s, n, i);
	case 't':
		return skip_literal(s, n, i, "true");
	case 'f':
		return skip_literal(s, n, i, "false");
	case 'n':
		return skip_literal(s, n, i, "null");
	default:
		return skip_number(s, n, i);
	}
}

int pg_auth_json_validate(const char *js, size_t len)
{
	size_t i = 0;

	if (!js || skip_value(js, len, &i, 0) != PG_OK)
		return PG_EPROTO;
	skip_ws(js, len, &i);
	return i == len ? PG_OK : PG_EPROTO;
}

int pg_auth_json_member(const char *js, size_t len, const char *key, const char **val, size_t *vlen)
{
	size_t i = 0, klen = strlen(key);
	int found = 0;

	if (pg_auth_json_validate(js, len) != PG_OK)
		return PG_EPROTO;
	skip_ws(js, len, &i);
	if (js[i] != '{')
		return PG_EPROTO;
	i++;
	skip_ws(js, len, &i);
	if (js[i] == '}')
		return PG_ENOTFOUND;
	for (;;) {
		size_t ks, ke, vs;

		skip_ws(js, len, &i);
		ks = i;
		if (skip_string(js, len, &i) != PG_OK)
			return PG_EPROTO;
		ke = i;
		skip_ws(js, len, &i);
		i++; /* ':' (validated above) */
		skip_ws(js, len, &i);
		vs = i;
		if (skip_value(js, len, &i, 1) != PG_OK)
			return PG_EPROTO;
		/* Compare the raw key; a key spelled with escapes ("\u0061lg") is
		 * a different spelling of the same name, so refuse any key whose
		 * raw form has a backslash and decodes to `key`. */
		if (ke - ks - 2 == klen && memcmp(js + ks + 1, key, klen) == 0) {
			if (found)
				return PG_EPROTO;
			found = 1;
			*val = js + vs;
			*vlen = i - vs;
		} else if (memchr(js + ks, '\\', ke - ks)) {
			char tmp[64];
			int rc = pg_auth_json_string(js + ks, ke - ks, tmp, sizeof(tmp));

			if (rc == PG_OK && strcmp(tmp, key) == 0)
				return PG_EPROTO;
		}
		skip_ws(js, len, &i);
		if (js[i] == '}')
			break;
		i++; /* ',' */
	}
	return found ? PG_OK : PG_ENOTFOUND;
}

int pg_auth_json_string(const char *v, size_t vlen, char *out, size_t cap)
{
	size_t i = 0, o = 0;
	int unsup = 0;

	if (!v || vlen < 2 || v[0] != '"' || cap == 0)
		return PG_EPROTO;
	if (skip_string(v, vlen, &i) != PG_OK || i != vlen)
		return PG_EPROTO;
	for (i = 1; i < vlen - 1; i++) {
		char c = v[i];

		if (c == '\\') {
			char e = v[++i];

			switch (e) {
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u': {
				int cp = (hexval(v[i + 1]) << 12) | (hexval(v[i + 2]) << 8) |
					 (hexval(v[i + 3]) << 4) | hexval(v[i + 4]);

				i += 4;
				if (cp < 1 || cp > 0x7f) {
					unsup = 1;
					continue;
				}
				c = (char)cp;
				break;
			}
			default: c = e; break;
			}
		}
		if (o + 1 >= cap)
			return PG_ENOMEM;
		out[o++] = c;
	}
	out[o] = '\0';
	return unsup ? PG_EUNSUP : PG_OK;
}

int pg_auth_json_array_next(const char *v, size_t vlen, size_t *pos, const char **elem, size_t *elen)
{
	size_t i = *pos, start;

	if (!v || vlen == 0)
		return PG_EPROTO;
	if (i == 0) {
		if (pg_auth_json_validate(v, vlen) != PG_OK)
			return PG_EPROTO;
		skip_ws(v, vlen, &i);
		if (v[i] != '[')
			return PG_EPROTO;
		i++;
		skip_ws(v, vlen, &i);
		if (v[i] == ']') {
			*pos = vlen;
			return PG_ENOTFOUND;
		}
	} else {
		if (i >= vlen)
			return PG_ENOTFOUND;
		skip_ws(v, vlen, &i);
		if (v[i] == ']') {
			*pos = vlen;
			return PG_ENOTFOUND;
		}
		i++; /* ',' */
	}
	skip_ws(v, vlen, &i);
	start = i;
	if (skip_value(v, vlen, &i, 1) != PG_OK)
		return PG_EPROTO;
	*elem = v + start;
	*elen = i - start;
	*pos = i;
	return PG_OK;
}
