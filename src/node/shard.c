/* Goverse's GetShardID in C; see shard.h. */
#include "src/node/shard.h"

#include <string.h>

#define FNV32_OFFSET 2166136261u
#define FNV32_PRIME 16777619u

uint32_t pg_shard_fnv1a32(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t h = FNV32_OFFSET;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV32_PRIME;
	}
	return h;
}

/* Parses s[0..n) like Go's strconv.Atoi and reports whether the value lies in
 * [0, limit). Values out of that range are rejected whether or not they would
 * fit an int, which is all GetShardID needs: Atoi errors and out-of-range
 * values both fall back to the hash. */
static int parse_pinned(const char *s, size_t n, uint32_t limit, uint32_t *out)
{
	size_t i = 0;
	int neg = 0;
	uint64_t v = 0;

	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == n)
		return 0; /* "", "+" and "-" are Atoi errors */
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v >= limit && !neg)
			return 0; /* too large for the range; stop before overflow */
		if (v > 0 && neg)
			return 0; /* negative: only "-0", "-00"... stay in range */
	}
	*out = (uint32_t)v;
	return 1;
}

uint32_t pg_shard_of(const char *id, size_t len, uint32_t shards)
{
	static const char prefix[] = "shard#";
	const size_t plen = sizeof(prefix) - 1;
	uint32_t pinned;

	if (shards == 0)
		shards = 1;
	if (len >= plen && memcmp(id, prefix, plen) == 0) {
		/* Goverse looks for the first '/' anywhere and needs it after the prefix. */
		const char *slash = memchr(id, '/', len);

		if (slash && (size_t)(slash - id) > plen &&
		    parse_pinned(id + plen, (size_t)(slash - id) - plen, shards, &pinned))
			return pinned;
	}
	return pg_shard_fnv1a32(id, len) % shards;
}
