/* Fuzz target for src/util/json: parse any bytes; on success walk the whole
 * document through the accessors and re-encode every string with the writer,
 * which must itself produce JSON the parser accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct pg_json_value *v, struct pg_buf *b, int depth)
{
	size_t n, len = 0;
	const char *s;
	double d;
	int64_t i;

	if (depth > 100)
		abort(); /* the parser's depth limit must hold */
	switch (pg_json_type(v)) {
	case PG_JSON_STRING:
		s = pg_json_str(v, &len);
		if (!s || s[len] != '\0')
			abort();
		if (pg_json_int64(v, true, &i) == PG_OK && i == 0 && len == 0)
			abort(); /* an empty string is no int64 */
		pg_buf_reset(b);
		if (pg_json_write_string(b, s, len) == PG_OK) {
			struct pg_json *back = NULL;

			if (pg_json_parse(b->data, b->len, NULL, &back) != PG_OK)
				abort();
			pg_json_free(&back);
		}
		break;
	case PG_JSON_NUMBER:
		if (pg_json_int64(v, false, &i) == PG_OK && pg_json_double(v, &d) != PG_OK)
			abort(); /* every int64 is a finite double */
		break;
	case PG_JSON_ARRAY:
	case PG_JSON_OBJECT:
		n = pg_json_count(v);
		{
			size_t cnt = 0;

			for (const struct pg_json_value *e = pg_json_first(v); e; e = pg_json_next(e))
				cnt++;
			if (cnt != n)
				abort();
		}
		for (size_t k = 0; k < n && k < 64; k++) {
			const char *key = pg_json_key_at(v, k);

			if (key && pg_json_get(v, key) == NULL)
				abort();
			walk(pg_json_at(v, k), b, depth + 1);
		}
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_json *doc = NULL;
	struct pg_buf b;

	/* The writer must accept arbitrary bytes too. */
	pg_buf_init(&b, 1u << 20);
	if (pg_json_write_string(&b, (const char *)data, size) == PG_OK) {
		if (pg_json_parse(b.data, b.len, NULL, &doc) != PG_OK)
			abort();
		pg_json_free(&doc);
	}
	if (pg_json_parse((const char *)data, size, NULL, &doc) == PG_OK) {
		walk(pg_json_root(doc), &b, 0);
		pg_json_free(&doc);
	} else if (doc) {
		abort();
	}
	pg_buf_free(&b);
	return 0;
}
