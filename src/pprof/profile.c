/* profile.proto encoder: interned strings, merged samples, locations
 * deduplicated by address, functions by (name, file), mappings from
 * /proc/self/maps. See profile.h. */
#include "src/pprof/profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/profile.pb-c.h"
#include "src/pprof/symbolize.h"
#include "src/pprof/table.h"

/* Bounds that keep a pathological caller from exhausting memory. */

#define MAX_SAMPLES (1u << 22)
#define MAX_LABELS 64
#define MAX_COMMENTS 1024
#define MAX_MAPPINGS 4096
#define MAX_OUTPUT ((size_t)1 << 30)

struct label_ix {
	int64_t key, str, num, unit;
};

struct sample {
	uint64_t hash;
	uintptr_t *pcs;
	size_t n_pcs;
	int leaf_is_pc;
	int64_t values[PG_PROFILE_MAX_VALUES];
	struct label_ix *labels;
	size_t n_labels;
};

struct pg_profile {
	struct pg_strtab st;
	int64_t type[PG_PROFILE_MAX_VALUES], unit[PG_PROFILE_MAX_VALUES];
	size_t n_types;
	int64_t period_type, period_unit, period;
	int64_t default_type;
	int64_t time_nanos, duration_nanos;
	int64_t *comments;
	size_t n_comments;
	struct sample *samples;
	size_t n_samples, cap_samples;
	uint32_t *slots; /* sample index+1 */
	size_t nslots;
};

/* --- builder --- */

int pg_profile_new(struct pg_profile **out)
{
	struct pg_profile *p = calloc(1, sizeof(*p));
	int64_t rc;

	*out = NULL;
	if (!p)
		return pg_fail(PG_ENOMEM, "out of memory allocating a profile");
	rc = pg_strtab_add(&p->st, ""); /* string_table[0] must be "" */
	if (rc < 0) {
		pg_profile_free(&p);
		return (int)rc;
	}
	*out = p;
	return PG_OK;
}

void pg_profile_free(struct pg_profile **pp)
{
	struct pg_profile *p;

	if (!pp || !*pp)
		return;
	p = *pp;
	for (size_t i = 0; i < p->n_samples; i++) {
		free(p->samples[i].pcs);
		free(p->samples[i].labels);
	}
	free(p->samples);
	free(p->slots);
	free(p->comments);
	pg_strtab_free(&p->st);
	free(p);
	*pp = NULL;
}

int pg_profile_add_sample_type(struct pg_profile *p, const char *type, const char *unit)
{
	int64_t t, u;

	if (!p || !type || !unit)
		return pg_fail(PG_EINVAL, "profile sample type needs a type and a unit");
	if (p->n_types >= PG_PROFILE_MAX_VALUES)
		return pg_fail(PG_EINVAL, "a profile has at most %d sample types", PG_PROFILE_MAX_VALUES);
	if (p->n_samples)
		return pg_fail(PG_EINVAL, "sample types must be added before samples");
	if ((t = pg_strtab_add(&p->st, type)) < 0)
		return (int)t;
	if ((u = pg_strtab_add(&p->st, unit)) < 0)
		return (int)u;
	p->type[p->n_types] = t;
	p->unit[p->n_types] = u;
	p->n_types++;
	return PG_OK;
}

int pg_profile_set_period(struct pg_profile *p, const char *type, const char *unit, int64_t period)
{
	int64_t t, u;

	if (!p || !type || !unit)
		return pg_fail(PG_EINVAL, "profile period needs a type and a unit");
	if ((t = pg_strtab_add(&p->st, type)) < 0)
		return (int)t;
	if ((u = pg_strtab_add(&p->st, unit)) < 0)
		return (int)u;
	p->period_type = t;
	p->period_unit = u;
	p->period = period;
	return PG_OK;
}

int pg_profile_set_default_sample_type(struct pg_profile *p, const char *type)
{
	int64_t t;

	if (!p || !type)
		return pg_fail(PG_EINVAL, "default sample type is NULL");
	if ((t = pg_strtab_add(&p->st, type)) < 0)
		return (int)t;
	p->default_type = t;
	return PG_OK;
}

void pg_profile_set_time(struct pg_profile *p, int64_t time_nanos, int64_t duration_nanos)
{
	p->time_nanos = time_nanos;
	p->duration_nanos = duration_nanos;
}

int pg_profile_add_comment(struct pg_profile *p, const char *text)
{
	int64_t t, *nc;

	if (!p || !text)
		return pg_fail(PG_EINVAL, "profile comment is NULL");
	if (p->n_comments >= MAX_COMMENTS)
		return pg_fail(PG_ENOMEM, "a profile has at most %d comments", MAX_COMMENTS);
	if ((t = pg_strtab_add(&p->st, text)) < 0)
		return (int)t;
	nc = realloc(p->comments, (p->n_comments + 1) * sizeof(*nc));
	if (!nc)
		return pg_fail(PG_ENOMEM, "out of memory adding a profile comment");
	p->comments = nc;
	p->comments[p->n_comments++] = t;
	return PG_OK;
}

static uint64_t sample_hash(const uintptr_t *pcs, size_t n, int leaf_is_pc,
			    const struct label_ix *l, size_t nl)
{
	uint64_t h = pg_pprof_mix(n, (uint64_t)leaf_is_pc);

	for (size_t i = 0; i < n; i++)
		h = pg_pprof_mix(h, pcs[i]);
	for (size_t i = 0; i < nl; i++) {
		h = pg_pprof_mix(h, (uint64_t)l[i].key);
		h = pg_pprof_mix(h, (uint64_t)l[i].str);
		h = pg_pprof_mix(h, (uint64_t)l[i].num);
		h = pg_pprof_mix(h, (uint64_t)l[i].unit);
	}
	return h;
}

static int sample_equal(const struct sample *s, uint64_t h, const uintptr_t *pcs, size_t n,
			int leaf_is_pc, const struct label_ix *l, size_t nl)
{
	return s->hash == h && s->n_pcs == n && s->leaf_is_pc == leaf_is_pc && s->n_labels == nl &&
	       (n == 0 || memcmp(s->pcs, pcs, n * sizeof(*pcs)) == 0) &&
	       (nl == 0 || memcmp(s->labels, l, nl * sizeof(*l)) == 0);
}

static int samples_grow(struct pg_profile *p)
{
	size_t n = p->nslots ? p->nslots * 2 : 1024;
	uint32_t *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return pg_fail(PG_ENOMEM, "out of memory growing the sample table");
	for (size_t i = 0; i < p->n_samples; i++) {
		size_t j = p->samples[i].hash & (n - 1);

		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = (uint32_t)(i + 1);
	}
	free(p->slots);
	p->slots = slots;
	p->nslots = n;
	return PG_OK;
}

int pg_profile_add_sample(struct pg_profile *p, const uintptr_t *pcs, size_t n_pcs, int leaf_is_pc,
			  const int64_t *values, size_t n_values,
			  const struct pg_profile_label *labels, size_t n_labels)
{
	struct label_ix lab[MAX_LABELS];
	struct sample *s;
	uint64_t h;
	size_t j;
	int rc;

	if (!p || (n_pcs && !pcs) || (n_values && !values) || (n_labels && !labels))
		return pg_fail(PG_EINVAL, "profile sample: NULL array");
	if (n_values != p->n_types)
		return pg_fail(PG_EINVAL, "profile sample has %zu values for %zu sample types",
			       n_values, p->n_types);
	if (n_labels > MAX_LABELS)
		return pg_fail(PG_EINVAL, "a profile sample has at most %d labels", MAX_LABELS);
	if (n_pcs > PG_PROFILE_MAX_DEPTH)
		n_pcs = PG_PROFILE_MAX_DEPTH; /* keep the leaf end, like runtime/pprof */
	leaf_is_pc = leaf_is_pc ? 1 : 0;
	memset(lab, 0, sizeof(lab));
	for (size_t i = 0; i < n_labels; i++) {
		int64_t v;

		if (!labels[i].key)
			return pg_fail(PG_EINVAL, "profile label without a key");
		if ((v = pg_strtab_add(&p->st, labels[i].key)) < 0)
			return (int)v;
		lab[i].key = v;
		if (labels[i].str) {
			if ((v = pg_strtab_add(&p->st, labels[i].str)) < 0)
				return (int)v;
			lab[i].str = v;
		} else {
			lab[i].num = labels[i].num;
			if (labels[i].num_unit) {
				if ((v = pg_strtab_add(&p->st, labels[i].num_unit)) < 0)
					return (int)v;
				lab[i].unit = v;
			}
		}
	}
	h = sample_hash(pcs, n_pcs, leaf_is_pc, lab, n_labels);
	if ((p->n_samples + 1) * 2 > p->nslots && (rc = samples_grow(p)))
		return rc;
	j = h & (p->nslots - 1);
	while (p->slots[j]) {
		s = &p->samples[p->slots[j] - 1];
		if (sample_equal(s, h, pcs, n_pcs, leaf_is_pc, lab, n_labels)) {
			for (size_t i = 0; i < n_values; i++)
				s->values[i] += values[i];
			return PG_OK;
		}
		j = (j + 1) & (p->nslots - 1);
	}
	if (p->n_samples >= MAX_SAMPLES)
		return pg_fail(PG_ENOMEM, "profile sample limit (%u) reached", MAX_SAMPLES);
	if (p->n_samples == p->cap_samples) {
		size_t cap = p->cap_samples ? p->cap_samples * 2 : 256;
		struct sample *ns = realloc(p->samples, cap * sizeof(*ns));

		if (!ns)
			return pg_fail(PG_ENOMEM, "out of memory growing the sample list");
		p->samples = ns;
		p->cap_samples = cap;
	}
	s = &p->samples[p->n_samples];
	memset(s, 0, sizeof(*s));
	s->hash = h;
	s->n_pcs = n_pcs;
	s->leaf_is_pc = leaf_is_pc;
	s->n_labels = n_labels;
	if (n_pcs && !(s->pcs = malloc(n_pcs * sizeof(*pcs))))
		return pg_fail(PG_ENOMEM, "out of memory copying a stack");
	if (n_labels && !(s->labels = malloc(n_labels * sizeof(*lab)))) {
		free(s->pcs);
		return pg_fail(PG_ENOMEM, "out of memory copying labels");
	}
	if (n_pcs)
		memcpy(s->pcs, pcs, n_pcs * sizeof(*pcs));
	if (n_labels)
		memcpy(s->labels, lab, n_labels * sizeof(*lab));
	memcpy(s->values, values, n_values * sizeof(*values));
	p->slots[j] = (uint32_t)(p->n_samples + 1);
	p->n_samples++;
	return PG_OK;
}

/* --- encoding --- */

struct mapping {
	uint64_t start, limit, offset;
	int64_t filename, build_id;
	int has_functions, has_lines;
};

/* Reads the executable mappings of /proc/self/maps; the main executable's
 * first mapping is moved to index 0 (profile.proto: mapping[0] is the main
 * binary). */
static int read_mappings(struct pg_profile *p, struct mapping **out, size_t *n_out)
{
	char exe[4096], line[4096 + 256];
	struct mapping *m = NULL;
	size_t n = 0, cap = 0;
	ssize_t el;
	FILE *f;
	int rc = PG_OK;

	*out = NULL;
	*n_out = 0;
	el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[el > 0 ? el : 0] = '\0';
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return pg_fail(PG_EIO, "cannot open /proc/self/maps");
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *e;
		unsigned long long lo, hi, off;
		char perms[5];
		const char *path;
		struct pg_sym_info si;
		int64_t fi;

		lo = strtoull(s, &e, 16);
		if (e == s || *e != '-')
			continue;
		s = e + 1;
		hi = strtoull(s, &e, 16);
		if (e == s || *e != ' ')
			continue;
		s = e + 1;
		if (strlen(s) < 5)
			continue;
		memcpy(perms, s, 4);
		perms[4] = '\0';
		s += 4;
		if (perms[2] != 'x')
			continue;
		off = strtoull(s, &e, 16);
		if (e == s)
			continue;
		s = e;
		/* dev and inode, then the path (may contain spaces) */
		for (int field = 0; field < 2; field++) {
			while (*s == ' ')
				s++;
			while (*s && *s != ' ' && *s != '\n')
				s++;
		}
		while (*s == ' ')
			s++;
		path = s;
		s[strcspn(s, "\n")] = '\0';
		if (n >= MAX_MAPPINGS)
			break;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			struct mapping *nm = realloc(m, nc * sizeof(*nm));

			if (!nm) {
				rc = pg_fail(PG_ENOMEM, "out of memory reading mappings");
				goto out;
			}
			m = nm;
			cap = nc;
		}
		memset(&m[n], 0, sizeof(m[n]));
		m[n].start = lo;
		m[n].limit = hi;
		m[n].offset = off;
		if ((fi = pg_strtab_add(&p->st, path)) < 0) {
			rc = (int)fi;
			goto out;
		}
		m[n].filename = fi;
		memset(&si, 0, sizeof(si));
		/* Names only: loading every library's tables would cost
		 * more than the profile. */
		if (pg_symbolize_object((uintptr_t)lo, &si) == PG_OK && si.build_id) {
			if ((fi = pg_strtab_add(&p->st, si.build_id)) < 0) {
				rc = (int)fi;
				goto out;
			}
			m[n].build_id = fi;
		}
		if (exe[0] && strcmp(path, exe) == 0 && n > 0 && m[0].filename != m[n].filename) {
			struct mapping tmp = m[n];

			memmove(&m[1], &m[0], n * sizeof(*m));
			m[0] = tmp;
		}
		n++;
	}
out:
	fclose(f);
	if (rc) {
		free(m);
		return rc;
	}
	*out = m;
	*n_out = n;
	return PG_OK;
}

static size_t find_mapping(const struct mapping *m, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= m[i].start && addr < m[i].limit)
			return i + 1;
	return 0;
}

struct enc {
	Perftools__Profiles__Location *locs;
	Perftools__Profiles__Location **loc_ptrs;
	size_t *line_at; /* per location: index of its first line in lines */
	size_t n_locs, cap_locs;
	/* A location's lines, innermost inlined function first, its own
	 * function last (profile.proto, Location.line). */
	Perftools__Profiles__Line *lines;
	Perftools__Profiles__Line **line_ptrs;
	size_t n_lines, cap_lines;
	Perftools__Profiles__Function *funcs;
	Perftools__Profiles__Function **func_ptrs;
	size_t n_funcs, cap_funcs;
	struct pg_idmap loc_ix;
	/* functions keyed by (name, file) string indices */
	struct pg_idmap func_ix;
};

static int add_function(struct pg_profile *p, struct enc *e, const char *fn, const char *fl, int start_line,
			uint64_t *id)
{
	int64_t name, file;
	uint32_t ix;
	int added, rc;

	if ((name = pg_strtab_add(&p->st, fn)) < 0)
		return (int)name;
	if ((file = pg_strtab_add(&p->st, fl)) < 0)
		return (int)file;
	rc = pg_idmap_find_or_add(&e->func_ix, ((uint64_t)name << 32) | (uint64_t)file,
			       (uint32_t)e->n_funcs, &ix, &added);
	if (rc)
		return rc;
	if (added) {
		Perftools__Profiles__Function *f;

		if (e->n_funcs == e->cap_funcs) {
			size_t cap = e->cap_funcs ? e->cap_funcs * 2 : 256;
			Perftools__Profiles__Function *nf = realloc(e->funcs, cap * sizeof(*nf));

			if (!nf)
				return pg_fail(PG_ENOMEM, "out of memory growing the function list");
			e->funcs = nf;
			e->cap_funcs = cap;
		}
		f = &e->funcs[e->n_funcs++];
		perftools__profiles__function__init(f);
		f->id = e->n_funcs;
		f->name = name;
		f->system_name = name;
		f->filename = file;
		f->start_line = start_line;
	}
	*id = (uint64_t)ix + 1;
	return PG_OK;
}

/* Appends one line (function + line number) to the current location. */
static int add_line(struct pg_profile *p, struct enc *e, const char *fn, const char *fl, int start_line,
		    int line)
{
	Perftools__Profiles__Line *li;
	uint64_t fid = 0;
	int rc;

	if (e->n_lines == e->cap_lines) {
		size_t cap = e->cap_lines ? e->cap_lines * 2 : 256;
		Perftools__Profiles__Line *nl = realloc(e->lines, cap * sizeof(*nl));

		if (!nl)
			return pg_fail(PG_ENOMEM, "out of memory growing the line list");
		e->lines = nl;
		e->cap_lines = cap;
	}
	if ((rc = add_function(p, e, fn, fl, start_line, &fid)))
		return rc;
	li = &e->lines[e->n_lines++];
	perftools__profiles__line__init(li);
	li->function_id = fid;
	li->line = line;
	e->locs[e->n_locs - 1].n_line++; /* the pointer is fixed up once the arrays stop moving */
	return PG_OK;
}

/* Returns the 1-based location id of pc, symbolizing it on first sight. */
static int add_location(struct pg_profile *p, struct enc *e, struct mapping *maps,
			size_t n_maps, uintptr_t pc, int exact, uint64_t *id)
{
	struct pg_sym_info si;
	uint32_t ix;
	int added, rc;
	Perftools__Profiles__Location *l;

	rc = pg_idmap_find_or_add(&e->loc_ix, pc, (uint32_t)e->n_locs, &ix, &added);
	if (rc)
		return rc;
	*id = (uint64_t)ix + 1;
	if (!added)
		return PG_OK;
	if (e->n_locs == e->cap_locs) {
		size_t cap = e->cap_locs ? e->cap_locs * 2 : 256;
		Perftools__Profiles__Location *nl = realloc(e->locs, cap * sizeof(*nl));
		size_t *na;

		if (!nl)
			return pg_fail(PG_ENOMEM, "out of memory growing the location list");
		e->locs = nl;
		na = realloc(e->line_at, cap * sizeof(*na));
		if (!na)
			return pg_fail(PG_ENOMEM, "out of memory growing the location list");
		e->line_at = na;
		e->cap_locs = cap;
	}
	l = &e->locs[e->n_locs];
	perftools__profiles__location__init(l);
	e->line_at[e->n_locs] = e->n_lines;
	e->n_locs++;
	l->id = *id;
	l->address = pc;
	l->mapping_id = find_mapping(maps, n_maps, pc);
	/* A return address points after the call: look up the call itself. */
	memset(&si, 0, sizeof(si));
	if (pc && pg_symbolize(exact ? pc : pc - 1, &si) == PG_OK && si.function) {
		if (l->mapping_id) {
			struct mapping *m = &maps[l->mapping_id - 1];

			m->has_functions = 1;
			if (si.object_has_lines)
				m->has_lines = 1;
		}
		/* Inlined functions first, innermost first; then the function
		 * they were inlined into (what `go tool pprof -list` needs to
		 * show the lines of an inlined static function). */
		for (size_t k = 0; k < si.n_inlined; k++)
			if ((rc = add_line(p, e, si.inlined[k].function, si.inlined[k].file, si.inlined[k].start_line,
					   si.inlined[k].line)))
				return rc;
		if ((rc = add_line(p, e, si.function, si.file, si.start_line, si.line)))
			return rc;
	}
	return PG_OK;
}

int pg_profile_write(struct pg_profile *p, struct pg_buf *out)
{
	Perftools__Profiles__Profile pr = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType vt[PG_PROFILE_MAX_VALUES], *vtp[PG_PROFILE_MAX_VALUES];
	Perftools__Profiles__ValueType period_vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__Sample *smp = NULL, **smpp = NULL;
	Perftools__Profiles__Label *labs = NULL, **labp = NULL;
	Perftools__Profiles__Mapping *mp = NULL, **mpp = NULL;
	uint64_t *locids = NULL;
	struct mapping *maps = NULL;
	size_t n_maps = 0, total_pcs = 0, total_labels = 0, li = 0, lbi = 0, packed;
	uint8_t *bytes = NULL;
	struct enc e;
	int rc;

	memset(&e, 0, sizeof(e));
	if (!p || !out)
		return pg_fail(PG_EINVAL, "pg_profile_write: NULL argument");
	if ((rc = read_mappings(p, &maps, &n_maps)))
		goto out;
	for (size_t i = 0; i < p->n_samples; i++) {
		total_pcs += p->samples[i].n_pcs;
		total_labels += p->samples[i].n_labels;
	}
	smp = calloc(p->n_samples ? p->n_samples : 1, sizeof(*smp));
	smpp = calloc(p->n_samples ? p->n_samples : 1, sizeof(*smpp));
	locids = calloc(total_pcs ? total_pcs : 1, sizeof(*locids));
	labs = calloc(total_labels ? total_labels : 1, sizeof(*labs));
	labp = calloc(total_labels ? total_labels : 1, sizeof(*labp));
	mp = calloc(n_maps ? n_maps : 1, sizeof(*mp));
	mpp = calloc(n_maps ? n_maps : 1, sizeof(*mpp));
	if (!smp || !smpp || !locids || !labs || !labp || !mp || !mpp) {
		rc = pg_fail(PG_ENOMEM, "out of memory encoding a profile");
		goto out;
	}
	for (size_t i = 0; i < p->n_samples; i++) {
		struct sample *s = &p->samples[i];

		perftools__profiles__sample__init(&smp[i]);
		smpp[i] = &smp[i];
		smp[i].location_id = &locids[li];
		smp[i].n_location_id = s->n_pcs;
		for (size_t k = 0; k < s->n_pcs; k++) {
			rc = add_location(p, &e, maps, n_maps, s->pcs[k], k == 0 && s->leaf_is_pc,
					  &locids[li++]);
			if (rc)
				goto out;
		}
		smp[i].value = s->values;
		smp[i].n_value = p->n_types;
		smp[i].label = &labp[lbi];
		smp[i].n_label = s->n_labels;
		for (size_t k = 0; k < s->n_labels; k++, lbi++) {
			perftools__profiles__label__init(&labs[lbi]);
			labp[lbi] = &labs[lbi];
			labs[lbi].key = s->labels[k].key;
			labs[lbi].str = s->labels[k].str;
			labs[lbi].num = s->labels[k].num;
			labs[lbi].num_unit = s->labels[k].unit;
		}
	}
	e.loc_ptrs = calloc(e.n_locs ? e.n_locs : 1, sizeof(*e.loc_ptrs));
	e.line_ptrs = calloc(e.n_lines ? e.n_lines : 1, sizeof(*e.line_ptrs));
	e.func_ptrs = calloc(e.n_funcs ? e.n_funcs : 1, sizeof(*e.func_ptrs));
	if (!e.loc_ptrs || !e.line_ptrs || !e.func_ptrs) {
		rc = pg_fail(PG_ENOMEM, "out of memory encoding a profile");
		goto out;
	}
	for (size_t i = 0; i < e.n_lines; i++)
		e.line_ptrs[i] = &e.lines[i];
	for (size_t i = 0; i < e.n_locs; i++) {
		e.loc_ptrs[i] = &e.locs[i];
		if (e.locs[i].n_line)
			e.locs[i].line = &e.line_ptrs[e.line_at[i]];
	}
	for (size_t i = 0; i < e.n_funcs; i++)
		e.func_ptrs[i] = &e.funcs[i];
	for (size_t i = 0; i < n_maps; i++) {
		perftools__profiles__mapping__init(&mp[i]);
		mpp[i] = &mp[i];
		mp[i].id = i + 1;
		mp[i].memory_start = maps[i].start;
		mp[i].memory_limit = maps[i].limit;
		mp[i].file_offset = maps[i].offset;
		mp[i].filename = maps[i].filename;
		mp[i].build_id = maps[i].build_id;
		mp[i].has_functions = maps[i].has_functions;
		mp[i].has_filenames = maps[i].has_functions && maps[i].has_lines;
		mp[i].has_line_numbers = maps[i].has_functions && maps[i].has_lines;
	}
	for (size_t i = 0; i < p->n_types; i++) {
		perftools__profiles__value_type__init(&vt[i]);
		vt[i].type = p->type[i];
		vt[i].unit = p->unit[i];
		vtp[i] = &vt[i];
	}
	pr.sample_type = vtp;
	pr.n_sample_type = p->n_types;
	pr.sample = smpp;
	pr.n_sample = p->n_samples;
	pr.mapping = mpp;
	pr.n_mapping = n_maps;
	pr.location = e.loc_ptrs;
	pr.n_location = e.n_locs;
	pr.function = e.func_ptrs;
	pr.n_function = e.n_funcs;
	pr.string_table = p->st.s;
	pr.n_string_table = p->st.n;
	pr.time_nanos = p->time_nanos;
	pr.duration_nanos = p->duration_nanos;
	if (p->period_type || p->period_unit) {
		period_vt.type = p->period_type;
		period_vt.unit = p->period_unit;
		pr.period_type = &period_vt;
	}
	pr.period = p->period;
	pr.comment = p->comments;
	pr.n_comment = p->n_comments;
	pr.default_sample_type = p->default_type;
	packed = perftools__profiles__profile__get_packed_size(&pr);
	if (packed > MAX_OUTPUT) {
		rc = pg_fail(PG_ENOMEM, "encoded profile too large (%zu bytes)", packed);
		goto out;
	}
	bytes = malloc(packed ? packed : 1);
	if (!bytes) {
		rc = pg_fail(PG_ENOMEM, "out of memory encoding a profile");
		goto out;
	}
	if (perftools__profiles__profile__pack(&pr, bytes) != packed) {
		rc = pg_fail(PG_EINTERNAL, "protobuf-c packed a different size than announced");
		goto out;
	}
	rc = pg_pprof_gzip(bytes, packed, out);
out:
	free(bytes);
	free(smp);
	free(smpp);
	free(locids);
	free(labs);
	free(labp);
	free(mp);
	free(mpp);
	free(maps);
	free(e.locs);
	free(e.loc_ptrs);
	free(e.lines);
	free(e.line_ptrs);
	free(e.line_at);
	free(e.funcs);
	free(e.func_ptrs);
	pg_idmap_free(&e.loc_ix);
	pg_idmap_free(&e.func_ix);
	return rc;
}
