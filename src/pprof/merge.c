/* Merging profiles; see merge.h. */
#include "src/pprof/merge.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "proto/profile.pb-c.h"
#include "src/pprof/table.h"

typedef Perftools__Profiles__Profile Profile;

/* Gunzips (or copies, when not gzip) into a malloc'd buffer of at most
 * PG_MERGE_MAX_INPUT bytes. */
static int unzip(const struct pg_pprof_merge_in *in, uint8_t **out, size_t *out_len)
{
	const uint8_t *p = in->data;
	struct pg_buf b;
	z_stream z;
	uint8_t chunk[16384];
	int zrc, rc = PG_OK;

	*out = NULL;
	*out_len = 0;
	pg_buf_init(&b, PG_MERGE_MAX_INPUT);
	if (in->len < 2 || p[0] != 0x1f || p[1] != 0x8b) {
		rc = pg_buf_append(&b, in->data, in->len);
		goto done;
	}
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return pg_fail(PG_ENOMEM, "zlib inflateInit2 failed");
	z.next_in = (Bytef *)(uintptr_t)in->data;
	z.avail_in = (uInt)in->len;
	do {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		zrc = inflate(&z, Z_NO_FLUSH);
		if (zrc != Z_OK && zrc != Z_STREAM_END) {
			rc = pg_fail(PG_EPROTO, "profile from %s: not valid gzip", in->label);
			break;
		}
		if (pg_buf_append(&b, chunk, sizeof(chunk) - z.avail_out) != PG_OK) {
			rc = pg_fail(PG_ENOMEM, "profile from %s: larger than %u bytes", in->label, PG_MERGE_MAX_INPUT);
			break;
		}
		if (zrc != Z_STREAM_END && z.avail_in == 0 && z.avail_out != 0) {
			rc = pg_fail(PG_EPROTO, "profile from %s: truncated gzip", in->label);
			break;
		}
	} while (zrc != Z_STREAM_END);
	inflateEnd(&z);
done:
	if (rc == PG_OK)
		*out = (uint8_t *)pg_buf_steal(&b, out_len);
	pg_buf_free(&b);
	return rc;
}

static int unpack(const struct pg_pprof_merge_in *in, Profile **out)
{
	uint8_t *raw = NULL;
	size_t n = 0;
	int rc = unzip(in, &raw, &n);

	*out = NULL;
	if (rc != PG_OK)
		return rc;
	*out = perftools__profiles__profile__unpack(NULL, n, raw ? raw : (const uint8_t *)"");
	free(raw);
	if (!*out)
		return pg_fail(PG_EPROTO, "profile from %s: not a profile.proto message", in->label);
	return PG_OK;
}

static bool str_ok(const Profile *p, int64_t i)
{
	return i >= 0 && (uint64_t)i < p->n_string_table;
}

static const char *str_of(const Profile *p, int64_t i)
{
	return str_ok(p, i) && p->string_table[i] ? p->string_table[i] : "";
}

/* The ids of one input: old id -> dense index, per kind. */
struct ids {
	struct pg_idmap map, fn, loc;
};

static void ids_free(struct ids *x)
{
	pg_idmap_free(&x->map);
	pg_idmap_free(&x->fn);
	pg_idmap_free(&x->loc);
}

static int add_id(struct pg_idmap *m, uint64_t id, size_t next, const char *what, const char *label)
{
	uint32_t v;
	int added = 0, rc;

	if (id == 0)
		return pg_fail(PG_EPROTO, "profile from %s: a %s with id 0", label, what);
	if ((rc = pg_idmap_find_or_add(m, id, (uint32_t)next, &v, &added)) != PG_OK)
		return rc;
	if (!added)
		return pg_fail(PG_EPROTO, "profile from %s: two %ss with id %llu", label, what, (unsigned long long)id);
	return PG_OK;
}

/* Dense index of id in m, or -1. */
static int64_t find_id(const struct pg_idmap *m, uint64_t id)
{
	return id ? pg_idmap_find(m, id) : -1;
}

/* Checks one input on its own and records its ids. */
static int check_one(const Profile *p, const char *label, struct ids *x)
{
	int rc;

	if (p->n_string_table == 0 || !p->string_table[0] || p->string_table[0][0])
		return pg_fail(PG_EPROTO, "profile from %s: string_table[0] must be \"\"", label);
	if (p->n_sample_type == 0)
		return pg_fail(PG_EPROTO, "profile from %s: no sample types", label);
	for (size_t i = 0; i < p->n_sample_type; i++)
		if (!str_ok(p, p->sample_type[i]->type) || !str_ok(p, p->sample_type[i]->unit))
			return pg_fail(PG_EPROTO, "profile from %s: a sample type names no string", label);
	if (p->period_type && (!str_ok(p, p->period_type->type) || !str_ok(p, p->period_type->unit)))
		return pg_fail(PG_EPROTO, "profile from %s: the period type names no string", label);
	if (!str_ok(p, p->drop_frames) || !str_ok(p, p->keep_frames) || !str_ok(p, p->default_sample_type))
		return pg_fail(PG_EPROTO, "profile from %s: a string index out of range", label);
	for (size_t i = 0; i < p->n_comment; i++)
		if (!str_ok(p, p->comment[i]))
			return pg_fail(PG_EPROTO, "profile from %s: a comment names no string", label);
	for (size_t i = 0; i < p->n_mapping; i++) {
		const Perftools__Profiles__Mapping *m = p->mapping[i];

		if (!str_ok(p, m->filename) || !str_ok(p, m->build_id))
			return pg_fail(PG_EPROTO, "profile from %s: a mapping names no string", label);
		if ((rc = add_id(&x->map, m->id, i, "mapping", label)) != PG_OK)
			return rc;
	}
	for (size_t i = 0; i < p->n_function; i++) {
		const Perftools__Profiles__Function *f = p->function[i];

		if (!str_ok(p, f->name) || !str_ok(p, f->system_name) || !str_ok(p, f->filename))
			return pg_fail(PG_EPROTO, "profile from %s: a function names no string", label);
		if ((rc = add_id(&x->fn, f->id, i, "function", label)) != PG_OK)
			return rc;
	}
	for (size_t i = 0; i < p->n_location; i++)
		if ((rc = add_id(&x->loc, p->location[i]->id, i, "location", label)) != PG_OK)
			return rc;
	for (size_t i = 0; i < p->n_location; i++) {
		const Perftools__Profiles__Location *l = p->location[i];

		if (l->mapping_id && find_id(&x->map, l->mapping_id) < 0)
			return pg_fail(PG_EPROTO, "profile from %s: a location names mapping %llu, which does not exist",
				       label, (unsigned long long)l->mapping_id);
		for (size_t k = 0; k < l->n_line; k++)
			if (l->line[k]->function_id && find_id(&x->fn, l->line[k]->function_id) < 0)
				return pg_fail(PG_EPROTO, "profile from %s: a line names function %llu, which does not "
							  "exist", label, (unsigned long long)l->line[k]->function_id);
	}
	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];

		if (s->n_value != p->n_sample_type)
			return pg_fail(PG_EPROTO, "profile from %s: a sample has %zu values for %zu sample types", label,
				       s->n_value, p->n_sample_type);
		for (size_t k = 0; k < s->n_location_id; k++)
			if (find_id(&x->loc, s->location_id[k]) < 0)
				return pg_fail(PG_EPROTO, "profile from %s: a sample names location %llu, which does not "
							  "exist", label, (unsigned long long)s->location_id[k]);
		for (size_t k = 0; k < s->n_label; k++)
			if (!str_ok(p, s->label[k]->key) || !str_ok(p, s->label[k]->str) ||
			    !str_ok(p, s->label[k]->num_unit))
				return pg_fail(PG_EPROTO, "profile from %s: a label names no string", label);
	}
	return PG_OK;
}

/* Whether b fits with a (the first input). */
static int check_fit(const Profile *a, const char *la, const Profile *b, const char *lb)
{
	bool pa = a->period_type != NULL, pb = b->period_type != NULL;

	if (a->n_sample_type != b->n_sample_type)
		return pg_fail(PG_EINVAL, "profiles from %s and %s do not merge: %zu and %zu sample types", la, lb,
			       a->n_sample_type, b->n_sample_type);
	for (size_t i = 0; i < a->n_sample_type; i++)
		if (strcmp(str_of(a, a->sample_type[i]->type), str_of(b, b->sample_type[i]->type)) != 0 ||
		    strcmp(str_of(a, a->sample_type[i]->unit), str_of(b, b->sample_type[i]->unit)) != 0)
			return pg_fail(PG_EINVAL, "profiles from %s and %s do not merge: sample type %zu is %s/%s on "
						  "one, %s/%s on the other", la, lb, i,
				       str_of(a, a->sample_type[i]->type), str_of(a, a->sample_type[i]->unit),
				       str_of(b, b->sample_type[i]->type), str_of(b, b->sample_type[i]->unit));
	if (pa != pb || (pa && (strcmp(str_of(a, a->period_type->type), str_of(b, b->period_type->type)) != 0 ||
				strcmp(str_of(a, a->period_type->unit), str_of(b, b->period_type->unit)) != 0)))
		return pg_fail(PG_EINVAL, "profiles from %s and %s do not merge: different period types", la, lb);
	if (a->period != b->period)
		return pg_fail(PG_EINVAL, "profiles from %s and %s do not merge: periods %lld and %lld differ", la, lb,
			       (long long)a->period, (long long)b->period);
	return PG_OK;
}

/* The output under construction: arrays sized from the inputs' counts. */
struct out {
	struct pg_strtab st;
	Perftools__Profiles__Mapping *maps, **mapp;
	Perftools__Profiles__Function *fns, **fnp;
	Perftools__Profiles__Location *locs, **locp;
	Perftools__Profiles__Line *lines, **linep;
	Perftools__Profiles__Sample *smp, **smpp;
	uint64_t *locids;
	int64_t *vals;
	Perftools__Profiles__Label *labs, **labp;
	Perftools__Profiles__ValueType *types, **typep, ptype;
	int64_t *comments;
	size_t n_maps, n_fns, n_locs, n_lines, n_smp, n_locids, n_vals, n_labs, n_comments;
};

static void out_free(struct out *o)
{
	pg_strtab_free(&o->st);
	free(o->maps);
	free(o->mapp);
	free(o->fns);
	free(o->fnp);
	free(o->locs);
	free(o->locp);
	free(o->lines);
	free(o->linep);
	free(o->smp);
	free(o->smpp);
	free(o->locids);
	free(o->vals);
	free(o->labs);
	free(o->labp);
	free(o->types);
	free(o->typep);
	free(o->comments);
}

/* Interns string i of p; negative on error. */
static int64_t intern(struct out *o, const Profile *p, int64_t i)
{
	return pg_strtab_add(&o->st, str_of(p, i));
}

#define I(dst, expr)                                                                                   \
	do {                                                                                           \
		int64_t i_ = (expr);                                                                   \
		if (i_ < 0)                                                                            \
			return (int)i_;                                                                \
		(dst) = i_;                                                                            \
	} while (0)

/* Appends input p (checked) to o; base ids are the counts so far. */
static int append(struct out *o, const Profile *p, struct ids *x, const char *key, const char *value)
{
	size_t map0 = o->n_maps, fn0 = o->n_fns, loc0 = o->n_locs;
	int64_t key_ix, val_ix;

	I(key_ix, pg_strtab_add(&o->st, key));
	I(val_ix, pg_strtab_add(&o->st, value));
	for (size_t i = 0; i < p->n_mapping; i++) {
		const Perftools__Profiles__Mapping *m = p->mapping[i];
		Perftools__Profiles__Mapping *d = &o->maps[o->n_maps];

		perftools__profiles__mapping__init(d);
		d->id = o->n_maps + 1;
		d->memory_start = m->memory_start;
		d->memory_limit = m->memory_limit;
		d->file_offset = m->file_offset;
		I(d->filename, intern(o, p, m->filename));
		I(d->build_id, intern(o, p, m->build_id));
		d->has_functions = m->has_functions;
		d->has_filenames = m->has_filenames;
		d->has_line_numbers = m->has_line_numbers;
		d->has_inline_frames = m->has_inline_frames;
		o->mapp[o->n_maps++] = d;
	}
	for (size_t i = 0; i < p->n_function; i++) {
		const Perftools__Profiles__Function *f = p->function[i];
		Perftools__Profiles__Function *d = &o->fns[o->n_fns];

		perftools__profiles__function__init(d);
		d->id = o->n_fns + 1;
		I(d->name, intern(o, p, f->name));
		I(d->system_name, intern(o, p, f->system_name));
		I(d->filename, intern(o, p, f->filename));
		d->start_line = f->start_line;
		o->fnp[o->n_fns++] = d;
	}
	for (size_t i = 0; i < p->n_location; i++) {
		const Perftools__Profiles__Location *l = p->location[i];
		Perftools__Profiles__Location *d = &o->locs[o->n_locs];

		perftools__profiles__location__init(d);
		d->id = o->n_locs + 1;
		d->mapping_id = l->mapping_id ? map0 + (uint64_t)find_id(&x->map, l->mapping_id) + 1 : 0;
		d->address = l->address;
		d->is_folded = l->is_folded;
		d->line = &o->linep[o->n_lines];
		d->n_line = l->n_line;
		for (size_t k = 0; k < l->n_line; k++) {
			Perftools__Profiles__Line *ln = &o->lines[o->n_lines];

			perftools__profiles__line__init(ln);
			ln->function_id =
				l->line[k]->function_id ? fn0 + (uint64_t)find_id(&x->fn, l->line[k]->function_id) + 1 : 0;
			ln->line = l->line[k]->line;
			o->linep[o->n_lines++] = ln;
		}
		o->locp[o->n_locs++] = d;
	}
	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];
		Perftools__Profiles__Sample *d = &o->smp[o->n_smp];
		bool has_key = false;

		perftools__profiles__sample__init(d);
		d->location_id = &o->locids[o->n_locids];
		d->n_location_id = s->n_location_id;
		for (size_t k = 0; k < s->n_location_id; k++)
			o->locids[o->n_locids++] = loc0 + (uint64_t)find_id(&x->loc, s->location_id[k]) + 1;
		d->value = &o->vals[o->n_vals];
		d->n_value = s->n_value;
		memcpy(&o->vals[o->n_vals], s->value, s->n_value * sizeof(*s->value));
		o->n_vals += s->n_value;
		d->label = &o->labp[o->n_labs];
		for (size_t k = 0; k < s->n_label; k++) {
			Perftools__Profiles__Label *lb = &o->labs[o->n_labs];

			perftools__profiles__label__init(lb);
			I(lb->key, intern(o, p, s->label[k]->key));
			I(lb->str, intern(o, p, s->label[k]->str));
			I(lb->num_unit, intern(o, p, s->label[k]->num_unit));
			lb->num = s->label[k]->num;
			has_key = has_key || lb->key == key_ix;
			o->labp[o->n_labs++] = lb;
		}
		if (!has_key) {
			Perftools__Profiles__Label *lb = &o->labs[o->n_labs];

			perftools__profiles__label__init(lb);
			lb->key = key_ix;
			lb->str = val_ix;
			o->labp[o->n_labs++] = lb;
		}
		d->n_label = (size_t)(&o->labp[o->n_labs] - d->label);
		o->smpp[o->n_smp++] = d;
	}
	for (size_t i = 0; i < p->n_comment; i++) {
		int64_t c;
		bool seen = false;

		I(c, intern(o, p, p->comment[i]));
		for (size_t k = 0; k < o->n_comments && !seen; k++)
			seen = o->comments[k] == c;
		if (!seen)
			o->comments[o->n_comments++] = c;
	}
	return PG_OK;
}

/* Sizes the output arrays for inputs ps[0..n) (overflow-checked: every
 * count comes from a message of at most PG_MERGE_MAX_INPUT bytes, and
 * each element takes at least one byte of it). */
static int out_alloc(struct out *o, Profile **ps, size_t n)
{
	size_t nm = 0, nf = 0, nl = 0, nln = 0, ns = 0, nli = 0, nv = 0, nlb = 0, nc = 0;

	for (size_t i = 0; i < n; i++) {
		const Profile *p = ps[i];

		nm += p->n_mapping;
		nf += p->n_function;
		nl += p->n_location;
		for (size_t k = 0; k < p->n_location; k++)
			nln += p->location[k]->n_line;
		ns += p->n_sample;
		for (size_t k = 0; k < p->n_sample; k++) {
			nli += p->sample[k]->n_location_id;
			nv += p->sample[k]->n_value;
			nlb += p->sample[k]->n_label + 1;
		}
		nc += p->n_comment;
	}
#define ALLOC(f, cnt) ((o->f = calloc((cnt) ? (cnt) : 1, sizeof(*o->f))) != NULL)
	if (!(ALLOC(maps, nm) && ALLOC(mapp, nm) && ALLOC(fns, nf) && ALLOC(fnp, nf) && ALLOC(locs, nl) &&
	      ALLOC(locp, nl) && ALLOC(lines, nln) && ALLOC(linep, nln) && ALLOC(smp, ns) && ALLOC(smpp, ns) &&
	      ALLOC(locids, nli) && ALLOC(vals, nv) && ALLOC(labs, nlb) && ALLOC(labp, nlb) &&
	      ALLOC(comments, nc) && ALLOC(types, ps[0]->n_sample_type) && ALLOC(typep, ps[0]->n_sample_type)))
		return pg_fail(PG_ENOMEM, "out of memory merging profiles");
#undef ALLOC
	return PG_OK;
}

static int encode(struct out *o, const Profile *first, int64_t time_nanos, int64_t duration_nanos,
		  struct pg_buf *buf)
{
	Profile pr = PERFTOOLS__PROFILES__PROFILE__INIT;
	uint8_t *bytes;
	size_t packed;
	int rc;

	for (size_t i = 0; i < first->n_sample_type; i++) {
		perftools__profiles__value_type__init(&o->types[i]);
		I(o->types[i].type, intern(o, first, first->sample_type[i]->type));
		I(o->types[i].unit, intern(o, first, first->sample_type[i]->unit));
		o->typep[i] = &o->types[i];
	}
	if (first->period_type) {
		perftools__profiles__value_type__init(&o->ptype);
		I(o->ptype.type, intern(o, first, first->period_type->type));
		I(o->ptype.unit, intern(o, first, first->period_type->unit));
		pr.period_type = &o->ptype;
	}
	I(pr.default_sample_type, intern(o, first, first->default_sample_type));
	I(pr.drop_frames, intern(o, first, first->drop_frames));
	I(pr.keep_frames, intern(o, first, first->keep_frames));
	pr.sample_type = o->typep;
	pr.n_sample_type = first->n_sample_type;
	pr.period = first->period;
	pr.sample = o->smpp;
	pr.n_sample = o->n_smp;
	pr.mapping = o->mapp;
	pr.n_mapping = o->n_maps;
	pr.location = o->locp;
	pr.n_location = o->n_locs;
	pr.function = o->fnp;
	pr.n_function = o->n_fns;
	pr.string_table = o->st.s;
	pr.n_string_table = o->st.n;
	pr.comment = o->comments;
	pr.n_comment = o->n_comments;
	pr.time_nanos = time_nanos;
	pr.duration_nanos = duration_nanos;
	packed = perftools__profiles__profile__get_packed_size(&pr);
	if (packed >= (size_t)1 << 31)
		return pg_fail(PG_ENOMEM, "merged profile too large (%zu bytes)", packed);
	bytes = malloc(packed ? packed : 1);
	if (!bytes)
		return pg_fail(PG_ENOMEM, "out of memory encoding the merged profile");
	perftools__profiles__profile__pack(&pr, bytes);
	rc = pg_pprof_gzip(bytes, packed, buf);
	free(bytes);
	return rc;
}

int pg_pprof_merge(const struct pg_pprof_merge_in *in, size_t n, const char *label_key, struct pg_buf *buf)
{
	Profile **ps = NULL;
	struct ids *xs = NULL;
	struct out o;
	int64_t t0 = 0, dur = 0;
	int rc = PG_OK;

	memset(&o, 0, sizeof(o));
	if (n == 0 || n > PG_MERGE_MAX_INPUTS || !label_key || !*label_key)
		return pg_fail(PG_EINVAL, "merge: 1..%d profiles and a label key", PG_MERGE_MAX_INPUTS);
	ps = calloc(n, sizeof(*ps));
	xs = calloc(n, sizeof(*xs));
	if (!ps || !xs) {
		rc = pg_fail(PG_ENOMEM, "out of memory merging profiles");
		goto out;
	}
	for (size_t i = 0; i < n && rc == PG_OK; i++) {
		if (!in[i].label || !*in[i].label)
			rc = pg_fail(PG_EINVAL, "merge: profile %zu has no label", i);
		if (rc == PG_OK)
			rc = unpack(&in[i], &ps[i]);
		if (rc == PG_OK)
			rc = check_one(ps[i], in[i].label, &xs[i]);
		if (rc == PG_OK && i > 0)
			rc = check_fit(ps[0], in[0].label, ps[i], in[i].label);
		if (rc == PG_OK && ps[i]->time_nanos > 0 && (t0 == 0 || ps[i]->time_nanos < t0))
			t0 = ps[i]->time_nanos;
		if (rc == PG_OK && ps[i]->duration_nanos > 0 && __builtin_add_overflow(dur, ps[i]->duration_nanos, &dur))
			dur = INT64_MAX;
	}
	if (rc == PG_OK)
		rc = out_alloc(&o, ps, n);
	if (rc == PG_OK && pg_strtab_add(&o.st, "") < 0)
		rc = PG_ENOMEM;
	for (size_t i = 0; i < n && rc == PG_OK; i++)
		rc = append(&o, ps[i], &xs[i], label_key, in[i].label);
	if (rc == PG_OK)
		rc = encode(&o, ps[0], t0, dur, buf);
out:
	for (size_t i = 0; ps && i < n; i++)
		if (ps[i])
			perftools__profiles__profile__free_unpacked(ps[i], NULL);
	for (size_t i = 0; xs && i < n; i++)
		ids_free(&xs[i]);
	free(ps);
	free(xs);
	out_free(&o);
	return rc;
}

int pg_pprof_total(const void *data, size_t len, size_t index, int64_t *total, char *type, size_t cap)
{
	struct pg_pprof_merge_in in = {data, len, "input"};
	struct ids x;
	Profile *p = NULL;
	int rc;

	memset(&x, 0, sizeof(x));
	*total = 0;
	if ((rc = unpack(&in, &p)) != PG_OK)
		return rc;
	rc = check_one(p, in.label, &x);
	if (rc == PG_OK && index >= p->n_sample_type)
		rc = pg_fail(PG_EINVAL, "the profile has %zu sample types", p->n_sample_type);
	for (size_t i = 0; rc == PG_OK && i < p->n_sample; i++)
		if (__builtin_add_overflow(*total, p->sample[i]->value[index], total))
			rc = pg_fail(PG_EINVAL, "the profile's total overflows");
	if (rc == PG_OK && type && cap)
		snprintf(type, cap, "%s", str_of(p, p->sample_type[index]->type));
	ids_free(&x);
	perftools__profiles__profile__free_unpacked(p, NULL);
	return rc;
}
