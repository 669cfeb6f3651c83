/* Tables shared by the profile.proto encoder (profile.c) and the merger
 * (merge.c): an interned string table, a map from 64-bit ids to dense
 * indexes, and gzip of an encoded profile. Single-threaded; callers own
 * them. */
#ifndef PG_PPROF_TABLE_H
#define PG_PPROF_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "src/util/buf.h"
#include "src/util/err.h"

/* Most strings one table holds. */
#define PG_STRTAB_MAX (1u << 22)

/* Interned strings: s[i] is string i (malloc'd); zero-initialise. */
struct pg_strtab {
	char **s;
	size_t n, cap;
	uint32_t *slots; /* open addressing: index+1, 0 = empty */
	size_t nslots;
};

/* Interns s (NULL means "") and returns its index, or a negative error. */
int64_t pg_strtab_add(struct pg_strtab *t, const char *s);
void pg_strtab_free(struct pg_strtab *t);

/* A map from a 64-bit key to an index; zero-initialise. */
struct pg_idmap {
	uint64_t *keys;
	uint32_t *vals; /* index+1, 0 = empty */
	size_t n, nslots;
};

/* Finds key; when absent adds it with value `next` (*added = 1). *val is
 * the key's value either way. */
PG_WUR int pg_idmap_find_or_add(struct pg_idmap *m, uint64_t key, uint32_t next, uint32_t *val, int *added);
/* The value of key, or -1 when absent. */
int64_t pg_idmap_find(const struct pg_idmap *m, uint64_t key);
void pg_idmap_free(struct pg_idmap *m);

/* Appends the gzip (RFC 1952) of in[0..n) to out; n < 4 GiB. */
PG_WUR int pg_pprof_gzip(const uint8_t *in, size_t n, struct pg_buf *out);

/* Hash helpers. */
uint64_t pg_pprof_mix(uint64_t h, uint64_t v);
uint64_t pg_pprof_hash_str(const char *s);

#endif
