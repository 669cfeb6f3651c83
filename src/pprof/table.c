/* Shared profile tables; see table.h. */
#include "src/pprof/table.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

uint64_t pg_pprof_mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 33);
}

uint64_t pg_pprof_hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* --- string table --- */

static int strtab_grow(struct pg_strtab *t)
{
	size_t n = t->nslots ? t->nslots * 2 : 256;
	uint32_t *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return pg_fail(PG_ENOMEM, "out of memory growing the profile string table");
	for (size_t i = 0; i < t->n; i++) {
		size_t j = pg_pprof_hash_str(t->s[i]) & (n - 1);

		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = (uint32_t)(i + 1);
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = n;
	return PG_OK;
}

/* Interns s (NULL means "") and returns its index, or a negative error. */
int64_t pg_strtab_add(struct pg_strtab *t, const char *s)
{
	size_t j;
	char *copy;
	int rc;

	if (!s)
		s = "";
	if ((t->n + 1) * 2 > t->nslots && (rc = strtab_grow(t)))
		return rc;
	j = pg_pprof_hash_str(s) & (t->nslots - 1);
	while (t->slots[j]) {
		if (strcmp(t->s[t->slots[j] - 1], s) == 0)
			return (int64_t)(t->slots[j] - 1);
		j = (j + 1) & (t->nslots - 1);
	}
	if (t->n >= PG_STRTAB_MAX)
		return pg_fail(PG_ENOMEM, "profile string table limit (%u) reached", PG_STRTAB_MAX);
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **ns = realloc(t->s, cap * sizeof(*ns));

		if (!ns)
			return pg_fail(PG_ENOMEM, "out of memory growing the profile string table");
		t->s = ns;
		t->cap = cap;
	}
	copy = strdup(s);
	if (!copy)
		return pg_fail(PG_ENOMEM, "out of memory copying a profile string");
	t->s[t->n] = copy;
	t->slots[j] = (uint32_t)(t->n + 1);
	return (int64_t)t->n++;
}

void pg_strtab_free(struct pg_strtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}


int pg_idmap_find_or_add(struct pg_idmap *m, uint64_t key, uint32_t next, uint32_t *val,
			     int *added)
{
	size_t j;

	*added = 0;
	if ((m->n + 1) * 2 > m->nslots) {
		size_t n = m->nslots ? m->nslots * 2 : 1024;
		uint64_t *keys = calloc(n, sizeof(*keys));
		uint32_t *vals = calloc(n, sizeof(*vals));

		if (!keys || !vals) {
			free(keys);
			free(vals);
			return pg_fail(PG_ENOMEM, "out of memory growing a profile index");
		}
		for (size_t i = 0; i < m->nslots; i++) {
			if (!m->vals[i])
				continue;
			j = pg_pprof_mix(0, m->keys[i]) & (n - 1);
			while (vals[j])
				j = (j + 1) & (n - 1);
			keys[j] = m->keys[i];
			vals[j] = m->vals[i];
		}
		free(m->keys);
		free(m->vals);
		m->keys = keys;
		m->vals = vals;
		m->nslots = n;
	}
	j = pg_pprof_mix(0, key) & (m->nslots - 1);
	while (m->vals[j]) {
		if (m->keys[j] == key) {
			*val = m->vals[j] - 1;
			return PG_OK;
		}
		j = (j + 1) & (m->nslots - 1);
	}
	m->keys[j] = key;
	m->vals[j] = next + 1;
	m->n++;
	*val = next;
	*added = 1;
	return PG_OK;
}

int64_t pg_idmap_find(const struct pg_idmap *m, uint64_t key)
{
	size_t j;

	if (!m->nslots)
		return -1;
	for (j = pg_pprof_mix(0, key) & (m->nslots - 1); m->vals[j]; j = (j + 1) & (m->nslots - 1))
		if (m->keys[j] == key)
			return (int64_t)m->vals[j] - 1;
	return -1;
}

void pg_idmap_free(struct pg_idmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

int pg_pprof_gzip(const uint8_t *in, size_t n, struct pg_buf *out)
{
	z_stream z;
	uint8_t chunk[16384];
	int zrc, rc = PG_OK;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return pg_fail(PG_EINTERNAL, "zlib deflateInit2 failed");
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n; /* n is bounded by MAX_OUTPUT < 4 GiB */
	do {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		zrc = deflate(&z, Z_FINISH);
		if (zrc == Z_STREAM_ERROR) {
			rc = pg_fail(PG_EINTERNAL, "zlib deflate failed");
			break;
		}
		if ((rc = pg_buf_append(out, chunk, sizeof(chunk) - z.avail_out)))
			break;
	} while (zrc != Z_STREAM_END);
	deflateEnd(&z);
	return rc;
}

