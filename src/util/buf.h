/* A growable byte buffer with a hard maximum size (like curl's dynbuf).
 *
 * The struct is a plain value owned by its user: initialise with
 * pg_buf_init(), release with pg_buf_free(). Contents are always
 * NUL-terminated (the terminator is not counted in len). Appending past `max`
 * fails with PG_ENOMEM and leaves the buffer unchanged. */
#ifndef PG_UTIL_BUF_H
#define PG_UTIL_BUF_H

#include <stddef.h>

#include "src/util/err.h"

struct pg_buf {
	char *data;   /* NULL until the first append */
	size_t len;   /* bytes used, excluding the NUL terminator */
	size_t cap;   /* bytes allocated */
	size_t max;   /* maximum len */
};

void pg_buf_init(struct pg_buf *b, size_t max);
/* Frees the storage; `wipe` zeroes it first (use for secrets). */
void pg_buf_free(struct pg_buf *b);
void pg_buf_wipe_free(struct pg_buf *b);
void pg_buf_reset(struct pg_buf *b);
/* Makes room for `extra` more bytes at once (a caller that knows the size
 * it is about to write saves the growth by doubling). */
PG_WUR int pg_buf_reserve(struct pg_buf *b, size_t extra);
PG_WUR int pg_buf_append(struct pg_buf *b, const void *p, size_t n);
PG_WUR int pg_buf_puts(struct pg_buf *b, const char *s);
PG_WUR int pg_buf_printf(struct pg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the storage to the caller (free() it); the buffer is left empty. */
char *pg_buf_steal(struct pg_buf *b, size_t *len);

#endif
