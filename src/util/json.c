/* The JSON reader on jansson, and the string writer; see json.h. */
#include "src/util/json.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX

/* One value of the document. The children of a container are consecutive
 * nodes [first, first + count), so indexing and iteration are constant time. */
struct pg_json_value {
	json_t *j;
	const struct pg_json *doc;
	const char *key; /* the member key, in an object; owned by jansson */
	size_t first, count, parent, pos;
};

struct pg_json {
	json_t *root;
	struct pg_json_value *nodes;
	size_t n;
};

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Enforces the limits on the raw text before jansson allocates anything:
 * nesting depth, number length, and the value count through the commas (k
 * elements or members need k - 1 of them). Strings are skipped; the text's
 * validity is jansson's job, so invalid input only needs to stay bounded. */
static int prescan(const unsigned char *p, size_t len, const struct pg_json_limits *lim)
{
	size_t depth = 0, commas = 0, num = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (c == '"') {
			for (i++; i < len && p[i] != '"'; i++)
				if (p[i] == '\\')
					i++;
			num = 0;
			continue;
		}
		if (is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			if (++num > lim->max_number_len)
				return pg_fail(PG_ENOMEM, "json: number longer than %zu characters at byte %zu",
					       lim->max_number_len, i + 1 - num);
			continue;
		}
		num = 0;
		if ((c == '[' || c == '{') && ++depth > lim->max_depth)
			return pg_fail(PG_ENOMEM, "json: nesting deeper than %zu at byte %zu", lim->max_depth, i);
		if ((c == ']' || c == '}') && depth)
			depth--;
		if (c == ',' && ++commas >= lim->max_nodes)
			return pg_fail(PG_ENOMEM, "json: more than %zu values", lim->max_nodes);
	}
	return PG_OK;
}

/* Counts the values under j (itself included), stopping past max. */
static size_t count_values(json_t *j, size_t max)
{
	size_t n = 1;

	if (json_is_array(j)) {
		for (size_t i = 0; i < json_array_size(j) && n <= max; i++)
			n += count_values(json_array_get(j, i), max - n + 1);
	} else if (json_is_object(j)) {
		for (void *it = json_object_iter(j); it && n <= max; it = json_object_iter_next(j, it))
			n += count_values(json_object_iter_value(it), max - n + 1);
	}
	return n;
}

/* Lays out the children of node idx at the end of doc->nodes, then theirs. */
static void index_children(struct pg_json *doc, size_t idx)
{
	struct pg_json_value *v = &doc->nodes[idx];
	size_t first = doc->n, k = 0;

	if (json_is_array(v->j)) {
		for (size_t i = 0; i < json_array_size(v->j); i++)
			doc->nodes[first + k++].j = json_array_get(v->j, i);
	} else if (json_is_object(v->j)) {
		for (void *it = json_object_iter(v->j); it; it = json_object_iter_next(v->j, it)) {
			doc->nodes[first + k].key = json_object_iter_key(it);
			doc->nodes[first + k++].j = json_object_iter_value(it);
		}
	}
	v->first = first;
	v->count = k;
	doc->n += k;
	for (size_t i = 0; i < k; i++) {
		doc->nodes[first + i].doc = doc;
		doc->nodes[first + i].parent = idx;
		doc->nodes[first + i].pos = i;
	}
	for (size_t i = 0; i < k; i++)
		index_children(doc, first + i);
}

int pg_json_parse(const char *text, size_t len, const struct pg_json_limits *limits,
		  struct pg_json **out)
{
	struct pg_json_limits lim = {PG_JSON_DEFAULT_MAX_BYTES, PG_JSON_DEFAULT_MAX_DEPTH,
				     PG_JSON_DEFAULT_MAX_NODES, PG_JSON_DEFAULT_MAX_NUMBER_LEN};
	struct pg_json *doc = NULL;
	json_error_t err;
	size_t n;
	int rc;

	if (!out)
		return pg_fail(PG_EINVAL, "json: no output");
	*out = NULL;
	if (!text && len)
		return pg_fail(PG_EINVAL, "json: no input");
	if (limits) {
		if (limits->max_bytes)
			lim.max_bytes = limits->max_bytes;
		if (limits->max_depth)
			lim.max_depth = limits->max_depth;
		if (limits->max_nodes)
			lim.max_nodes = limits->max_nodes;
		if (limits->max_number_len)
			lim.max_number_len = limits->max_number_len;
	}
	if (len > lim.max_bytes)
		return pg_fail(PG_ENOMEM, "json: input of %zu bytes exceeds the limit of %zu", len,
			       lim.max_bytes);
	if ((rc = prescan((const unsigned char *)text, len, &lim)) != PG_OK)
		return rc;
	doc = calloc(1, sizeof(*doc));
	if (!doc)
		return pg_fail(PG_ENOMEM, "json: out of memory");
	doc->root = json_loadb(text ? text : "", len,
			       JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (!doc->root) {
		/* jansson appends " near '<input>'": keep peer bytes out of the message. */
		char *near = strstr(err.text, " near ");

		if (near)
			*near = '\0';
		rc = pg_fail(json_error_code(&err) == json_error_out_of_memory ? PG_ENOMEM : PG_EPROTO,
			     "json: %s at byte %d", err.text, err.position);
		goto out;
	}
	n = count_values(doc->root, lim.max_nodes);
	if (n > lim.max_nodes) {
		rc = pg_fail(PG_ENOMEM, "json: more than %zu values", lim.max_nodes);
		goto out;
	}
	doc->nodes = calloc(n, sizeof(*doc->nodes));
	if (!doc->nodes) {
		rc = pg_fail(PG_ENOMEM, "json: out of memory");
		goto out;
	}
	doc->nodes[0] = (struct pg_json_value){.j = doc->root, .doc = doc, .parent = NONE};
	doc->n = 1;
	index_children(doc, 0);
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
	json_decref((*pp)->root);
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
	switch (v ? json_typeof(v->j) : JSON_NULL) {
	case JSON_OBJECT: return PG_JSON_OBJECT;
	case JSON_ARRAY: return PG_JSON_ARRAY;
	case JSON_STRING: return PG_JSON_STRING;
	case JSON_INTEGER:
	case JSON_REAL: return PG_JSON_NUMBER;
	case JSON_TRUE: return PG_JSON_TRUE;
	case JSON_FALSE: return PG_JSON_FALSE;
	default: return PG_JSON_NULL;
	}
}

bool pg_json_is(const struct pg_json_value *v, enum pg_json_type t)
{
	return v && pg_json_type(v) == t;
}

size_t pg_json_count(const struct pg_json_value *v)
{
	return v ? v->count : 0;
}

const struct pg_json_value *pg_json_at(const struct pg_json_value *v, size_t i)
{
	return i < pg_json_count(v) ? &v->doc->nodes[v->first + i] : NULL;
}

const struct pg_json_value *pg_json_get(const struct pg_json_value *v, const char *key)
{
	if (!key || !pg_json_is(v, PG_JSON_OBJECT))
		return NULL;
	for (size_t i = 0; i < v->count; i++)
		if (strcmp(v->doc->nodes[v->first + i].key, key) == 0)
			return &v->doc->nodes[v->first + i];
	return NULL;
}

const char *pg_json_key_at(const struct pg_json_value *v, size_t i)
{
	return pg_json_key(pg_json_at(v, i));
}

const struct pg_json_value *pg_json_first(const struct pg_json_value *v)
{
	return pg_json_at(v, 0);
}

const struct pg_json_value *pg_json_next(const struct pg_json_value *v)
{
	if (!v || v->parent == NONE)
		return NULL;
	return pg_json_at(&v->doc->nodes[v->parent], v->pos + 1);
}

const char *pg_json_key(const struct pg_json_value *v)
{
	return v ? v->key : NULL;
}

const char *pg_json_str(const struct pg_json_value *v, size_t *len)
{
	if (!v || !json_is_string(v->j))
		return NULL;
	if (len)
		*len = json_string_length(v->j);
	return json_string_value(v->j);
}

int pg_json_double(const struct pg_json_value *v, double *out)
{
	if (!v || !json_is_number(v->j))
		return pg_fail(PG_EINVAL, "json: not a number");
	if (!isfinite(json_number_value(v->j)))
		return pg_fail(PG_EINVAL, "json: number out of range");
	*out = json_number_value(v->j);
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
	if (v && json_is_integer(v->j)) {
		*out = (int64_t)json_integer_value(v->j);
		return PG_OK;
	}
	if (v && json_is_string(v->j) && allow_string)
		return parse_int64(json_string_value(v->j), json_string_length(v->j), out);
	return pg_fail(PG_EINVAL, "json: not an int64");
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
