/* The project's one JSON reader (RFC 8259, on jansson) and its JSON string
 * writer.
 *
 * Reader: pg_json_parse() turns one complete JSON text into a read-only
 * document. It is strict: one value, optional surrounding whitespace, nothing
 * after it; strings must be valid UTF-8 with no raw control characters (a
 * lone surrogate escape is an error); numbers follow the RFC grammar (no
 * leading zeros, no "+", no NaN/Infinity) and must fit: an integer beyond
 * int64 or a real beyond double makes the whole text malformed. Duplicate
 * object keys are refused, also when spelled with escapes (RFC 7515 section 4
 * requires it for JOSE headers; one rule everywhere leaves no parser
 * differential). Object keys may not hold NUL; string values may (\u0000).
 * Input size, depth, value count and number length are bounded (struct
 * pg_json_limits) and checked before jansson builds anything, so hostile input
 * cannot exhaust the stack or memory.
 *
 * Ownership: the document owns every value and string reachable from it;
 * pointers returned by the accessors stay valid until pg_json_free(). A
 * document is immutable, so it may be read from several threads.
 *
 * Writer: pg_json_write_string() appends a quoted, escaped JSON string to a
 * struct pg_buf: the one string writer of the project (audit lines, HTTP
 * error bodies, the event trace, the admin API). Its output is always valid
 * JSON, so logging untrusted text through it is safe: valid UTF-8 stays as
 * it is, each byte that is not UTF-8 becomes \u00XX (its value, so an audit
 * line loses nothing). */
#ifndef PG_UTIL_JSON_H
#define PG_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/util/buf.h"
#include "src/util/err.h"

enum pg_json_type {
	PG_JSON_NULL,
	PG_JSON_FALSE,
	PG_JSON_TRUE,
	PG_JSON_NUMBER,
	PG_JSON_STRING,
	PG_JSON_ARRAY,
	PG_JSON_OBJECT
};

struct pg_json_limits {
	size_t max_bytes;      /* input size; default 1 MiB */
	size_t max_depth;      /* nesting of arrays/objects; default 64 */
	size_t max_nodes;      /* values in the document; default 65536 */
	size_t max_number_len; /* characters in one number; default 64 */
};

/* Defaults used when pg_json_parse() is given limits == NULL. */
#define PG_JSON_DEFAULT_MAX_BYTES (1024u * 1024u)
#define PG_JSON_DEFAULT_MAX_DEPTH 64u
#define PG_JSON_DEFAULT_MAX_NODES 65536u
#define PG_JSON_DEFAULT_MAX_NUMBER_LEN 64u

struct pg_json;       /* a parsed document */
struct pg_json_value; /* one value inside a document */

/* Parses `len` bytes at `text` (need not be NUL-terminated). On success *out
 * is a new document (free with pg_json_free). On failure *out is NULL and the
 * result is PG_EPROTO (malformed, with the byte offset in pg_errmsg()),
 * PG_ENOMEM (a limit was reached or allocation failed) or PG_EINVAL. */
PG_WUR int pg_json_parse(const char *text, size_t len, const struct pg_json_limits *limits,
			 struct pg_json **out);
void pg_json_free(struct pg_json **pp);

/* The top-level value; never NULL for a parsed document. */
const struct pg_json_value *pg_json_root(const struct pg_json *doc);

/* Every accessor accepts v == NULL and then returns NULL / 0 / false, so
 * lookups chain without checks: pg_json_get(pg_json_get(root, "a"), "b"). */
enum pg_json_type pg_json_type(const struct pg_json_value *v);
bool pg_json_is(const struct pg_json_value *v, enum pg_json_type t);

/* Object member `key`, or NULL when v is not an object or has no such
 * member. */
const struct pg_json_value *pg_json_get(const struct pg_json_value *v, const char *key);

/* Elements of an array or members of an object (in document order): count
 * and i-th (0-based). pg_json_key_at() gives an object member's key. */
size_t pg_json_count(const struct pg_json_value *v);
const struct pg_json_value *pg_json_at(const struct pg_json_value *v, size_t i);
const char *pg_json_key_at(const struct pg_json_value *v, size_t i);

/* Iteration in constant time per step:
 *     for (v = pg_json_first(arr); v; v = pg_json_next(v)) ...
 * pg_json_first gives the first element/member of an array/object (NULL if
 * empty or not a container); pg_json_next the following sibling, NULL at
 * the end. pg_json_key gives a member's key (NULL outside objects). */
const struct pg_json_value *pg_json_first(const struct pg_json_value *v);
const struct pg_json_value *pg_json_next(const struct pg_json_value *v);
const char *pg_json_key(const struct pg_json_value *v);

/* A string's decoded UTF-8 bytes (NUL-terminated; it may also contain NULs
 * from \u0000, hence *len), or NULL when v is not a string. len may be NULL. */
const char *pg_json_str(const struct pg_json_value *v, size_t *len);

/* A number's value as a double. PG_EINVAL when v is not a number. */
PG_WUR int pg_json_double(const struct pg_json_value *v, double *out);

/* An exact int64. Accepts a number written as an integer (no fraction or
 * exponent) and, when `allow_string` is true, a string holding one (etcd and
 * other protobuf-JSON peers send int64 as strings). PG_EINVAL otherwise,
 * including out of range. */
PG_WUR int pg_json_int64(const struct pg_json_value *v, bool allow_string, int64_t *out);

/* Appends `s` (n bytes) as a JSON string with its quotes. Escapes '"', '\\',
 * control characters (\n \r \t \b \f, else \u00XX), DEL and U+2028/U+2029
 * (which break JavaScript), and each byte that is not part of valid UTF-8 as
 * \u00XX (so "\xff" reads back as U+00FF: the byte's value). PG_ENOMEM when
 * the buffer's max is reached (the buffer may then hold a partial string). */
PG_WUR int pg_json_write_string(struct pg_buf *b, const char *s, size_t n);
/* The same for a NUL-terminated string (NULL writes `null`). */
PG_WUR int pg_json_write_cstr(struct pg_buf *b, const char *s);

#endif
