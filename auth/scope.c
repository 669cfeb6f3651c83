#include "auth/scope.h"

#include <string.h>

/* Profiles that expose the most: heap and allocs (the same sampled heap data
 * in Go's net/http/pprof, only a different default sample type), goroutine
 * (every stack, with arguments in debug=2) and cmdline (argv may hold
 * secrets). */
static const char *const sensitive[] = {"heap", "allocs", "goroutine", "cmdline"};

unsigned pg_auth_scope_required(const char *profile)
{
	if (!profile)
		return PG_AUTH_SCOPE_READ;
	for (size_t i = 0; i < sizeof(sensitive) / sizeof(sensitive[0]); i++)
		if (strcmp(profile, sensitive[i]) == 0)
			return PG_AUTH_SCOPE_SENSITIVE;
	return PG_AUTH_SCOPE_READ;
}

bool pg_auth_scope_satisfies(unsigned granted, unsigned required)
{
	unsigned eff = granted;

	if (eff & PG_AUTH_SCOPE_ADMIN)
		eff |= PG_AUTH_SCOPE_SENSITIVE | PG_AUTH_SCOPE_READ;
	if (eff & PG_AUTH_SCOPE_SENSITIVE)
		eff |= PG_AUTH_SCOPE_READ;
	return (eff & required) == required;
}

unsigned pg_auth_scope_bit(const char *s, size_t n)
{
	if (n == 10 && memcmp(s, "pprof:read", 10) == 0)
		return PG_AUTH_SCOPE_READ;
	if (n == 15 && memcmp(s, "pprof:sensitive", 15) == 0)
		return PG_AUTH_SCOPE_SENSITIVE;
	if (n == 11 && memcmp(s, "pprof:admin", 11) == 0)
		return PG_AUTH_SCOPE_ADMIN;
	return 0;
}

unsigned pg_auth_scope_parse(const char *s, size_t n)
{
	unsigned bits = 0;
	size_t i = 0;

	while (s && i < n) {
		size_t start;

		while (i < n && s[i] == ' ')
			i++;
		start = i;
		while (i < n && s[i] != ' ')
			i++;
		if (i > start)
			bits |= pg_auth_scope_bit(s + start, i - start);
	}
	return bits;
}

const char *pg_auth_scope_name(unsigned bits)
{
	if (bits & PG_AUTH_SCOPE_ADMIN)
		return "pprof:admin";
	if (bits & PG_AUTH_SCOPE_SENSITIVE)
		return "pprof:sensitive";
	if (bits & PG_AUTH_SCOPE_READ)
		return "pprof:read";
	return "";
}
