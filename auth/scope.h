/* Scopes and which pprof routes they open.
 *
 *   pprof:read       every profile and the index (CPU, allocs, block, mutex, ...)
 *   pprof:sensitive  also heap, allocs, goroutine and cmdline: they reveal the most
 *                    (heap contents' call sites, every goroutine stack, argv)
 *   pprof:admin      implies both (and is what a future window-opening API needs)
 *
 * Scope strings follow RFC 8693 §4.2 / RFC 6749 §3.3: space-separated,
 * case-sensitive. Unknown scopes are ignored. */
#ifndef PG_AUTH_SCOPE_H
#define PG_AUTH_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

enum {
	PG_AUTH_SCOPE_NONE = 0,
	PG_AUTH_SCOPE_READ = 1u << 0,      /* "pprof:read" */
	PG_AUTH_SCOPE_SENSITIVE = 1u << 1, /* "pprof:sensitive" */
	PG_AUTH_SCOPE_ADMIN = 1u << 2,     /* "pprof:admin" */
};

/* The scope a request for /debug/pprof/<profile> needs. `profile` is the path
 * part after /debug/pprof/ ("heap", "profile", "" for the index, "symbol").
 * Unknown names need PG_AUTH_SCOPE_READ (the HTTP layer answers 404 later). */
unsigned pg_auth_scope_required(const char *profile);

/* Whether the granted bits satisfy `required`: admin implies sensitive,
 * sensitive implies read. required == 0 is always satisfied. */
bool pg_auth_scope_satisfies(unsigned granted, unsigned required);

/* Parses a space-separated scope list of n bytes into bits. */
unsigned pg_auth_scope_parse(const char *s, size_t n);

/* Bits for one scope token of n bytes (0 if unknown). */
unsigned pg_auth_scope_bit(const char *s, size_t n);

/* "pprof:read" / "pprof:sensitive" / "pprof:admin" for the strongest bit set in
 * `bits`, "" for none. */
const char *pg_auth_scope_name(unsigned bits);

#endif
