/* Request-target validation for the HTTP server (RFC 9112 section 3.2,
 * origin-form only).
 *
 * Routes are matched by exact string comparison, so the security of the
 * route groups rests on one property: a path that reaches a route is spelled
 * exactly as the route is. This module therefore never rewrites a path (no
 * percent-decoding, no dot-segment removal); it accepts only the canonical
 * spelling and rejects everything else:
 *
 *   - the target must start with '/' (no absolute-form, no '*');
 *   - path bytes are limited to ALPHA DIGIT '-' '.' '_' '~' '/', so any
 *     percent-encoding ("%2e", "%2f", "%00"), ';' parameters, '\', spaces,
 *     control and non-ASCII bytes are rejected;
 *   - no empty segment ("//"), no "." or ".." segment;
 *   - a '#' anywhere is rejected (fragments are never sent in requests);
 *   - the query (after the first '?') may hold any visible ASCII but '#'.
 *
 * A rejected target answers 400 (or 414 when too long) and never reaches a
 * route; an accepted path that matches no route answers 404.
 *
 * Pure functions, no allocation: safe for fuzzing. */
#ifndef PG_HTTP_PATH_H
#define PG_HTTP_PATH_H

#include <stddef.h>

/* Longest accepted path (the part before '?'), in bytes. */
#define PG_HTTP_PATH_MAX 512
/* Longest accepted query, in bytes. */
#define PG_HTTP_QUERY_MAX 2048

struct pg_http_target {
	const char *path;  /* points into the input; not NUL-terminated */
	size_t path_len;
	const char *query; /* after '?', or NULL when there is no '?' */
	size_t query_len;
};

/* Validates the raw request-target `s` (n bytes, as received, before any
 * decoding). Returns 0 and fills `out` (pointers into `s`) when it is
 * canonical, else the HTTP status to answer: 400, or 414 when a bound is
 * exceeded. `out` is left zeroed on failure. */
int pg_http_target_parse(const char *s, size_t n, struct pg_http_target *out);

#endif
