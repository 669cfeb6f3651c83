/* Profile merging (src/pprof/merge.c): totals add up, every sample is
 * labelled with its input, ids and strings are re-indexed consistently, and
 * inputs that do not fit together or are malformed are refused by name. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "proto/profile.pb-c.h"
#include "src/pprof/merge.h"
#include "src/pprof/table.h"
#include "tests/unit/test.h"

typedef Perftools__Profiles__Profile Profile;

/* A small profile: strings "", type, unit, "fn_<tag>_<i>", "file.c", "node",
 * "old"; n functions/locations (ids 10+i / 100+i, one mapping id 7), one
 * sample per location with value base+i (and a second value 2*(base+i)). */
struct spec {
	const char *type, *unit, *tag;
	int n;
	int64_t base, period;
	int bad; /* 1: location names mapping 99; 2: duplicate location id;
		  * 3: sample with one value; 4: function name index 999;
		  * 5: sample names location 555; 6: string_table[0] not "";
		  * 7: sample already labelled node=old */
};

static int enc(const struct spec *sp, bool gz, struct pg_buf *out)
{
	Profile p = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType vt[2], *vtp[2], pt;
	Perftools__Profiles__Mapping m, *mp = &m;
	Perftools__Profiles__Function fn[8], *fnp[8];
	Perftools__Profiles__Location loc[8], *locp[8];
	Perftools__Profiles__Line ln[8], *lnp[8];
	Perftools__Profiles__Sample s[8], *sp_[8];
	Perftools__Profiles__Label lb, *lbp = &lb;
	uint64_t locid[8];
	int64_t val[8][2];
	char names[8][32];
	char *strs[16];
	size_t ns = 0, packed;
	uint8_t *bytes;
	int rc;

	strs[ns++] = sp->bad == 6 ? "x" : "";
	strs[ns++] = (char *)sp->type;   /* 1 */
	strs[ns++] = (char *)sp->unit;   /* 2 */
	strs[ns++] = "file.c";           /* 3 */
	strs[ns++] = "node";             /* 4 */
	strs[ns++] = "old";              /* 5 */
	strs[ns++] = "count";            /* 6 */
	for (int i = 0; i < sp->n; i++) {
		snprintf(names[i], sizeof(names[i]), "fn_%s_%d", sp->tag, i);
		strs[ns++] = names[i]; /* 7 + i */
	}
	for (int k = 0; k < 2; k++) {
		perftools__profiles__value_type__init(&vt[k]);
		vt[k].type = k ? 6 : 1;
		vt[k].unit = 2;
		vtp[k] = &vt[k];
	}
	perftools__profiles__value_type__init(&pt);
	pt.type = 1;
	pt.unit = 2;
	perftools__profiles__mapping__init(&m);
	m.id = 7;
	m.filename = 3;
	for (int i = 0; i < sp->n; i++) {
		perftools__profiles__function__init(&fn[i]);
		fn[i].id = 10 + (uint64_t)i;
		fn[i].name = sp->bad == 4 && i == 0 ? 999 : 7 + i;
		fn[i].filename = 3;
		fnp[i] = &fn[i];
		perftools__profiles__line__init(&ln[i]);
		ln[i].function_id = fn[i].id;
		ln[i].line = 40 + i;
		lnp[i] = &ln[i];
		perftools__profiles__location__init(&loc[i]);
		loc[i].id = sp->bad == 2 && i == 1 ? 100 : 100 + (uint64_t)i;
		loc[i].mapping_id = sp->bad == 1 ? 99 : 7;
		loc[i].address = 0x1000 + (uint64_t)i;
		loc[i].line = &lnp[i];
		loc[i].n_line = 1;
		locp[i] = &loc[i];
		perftools__profiles__sample__init(&s[i]);
		locid[i] = sp->bad == 5 ? 555 : 100 + (uint64_t)i;
		s[i].location_id = &locid[i];
		s[i].n_location_id = 1;
		val[i][0] = sp->base + i;
		val[i][1] = 2 * (sp->base + i);
		s[i].value = val[i];
		s[i].n_value = sp->bad == 3 ? 1 : 2;
		sp_[i] = &s[i];
	}
	perftools__profiles__label__init(&lb);
	lb.key = 4;
	lb.str = 5;
	if (sp->bad == 7) {
		s[0].label = &lbp;
		s[0].n_label = 1;
	}
	p.sample_type = vtp;
	p.n_sample_type = 2;
	p.period_type = &pt;
	p.period = sp->period;
	p.mapping = &mp;
	p.n_mapping = 1;
	p.function = fnp;
	p.n_function = (size_t)sp->n;
	p.location = locp;
	p.n_location = (size_t)sp->n;
	p.sample = sp_;
	p.n_sample = (size_t)sp->n;
	p.string_table = strs;
	p.n_string_table = ns;
	p.time_nanos = 1000 + sp->base;
	p.duration_nanos = 5;
	packed = perftools__profiles__profile__get_packed_size(&p);
	bytes = malloc(packed);
	perftools__profiles__profile__pack(&p, bytes);
	pg_buf_init(out, 1 << 24);
	rc = gz ? pg_pprof_gzip(bytes, packed, out) : pg_buf_append(out, bytes, packed);
	free(bytes);
	return rc;
}

static Profile *gunzip_unpack(const struct pg_buf *b)
{
	z_stream z;
	static uint8_t raw[1 << 20];
	Profile *p;

	memset(&z, 0, sizeof(z));
	CHECK_INT(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)b->data;
	z.avail_in = (uInt)b->len;
	z.next_out = raw;
	z.avail_out = sizeof(raw);
	CHECK_INT(inflate(&z, Z_FINISH), Z_STREAM_END);
	p = perftools__profiles__profile__unpack(NULL, sizeof(raw) - z.avail_out, raw);
	inflateEnd(&z);
	CHECK(p != NULL);
	return p;
}

static const char *label_of(const Profile *p, const Perftools__Profiles__Sample *s, const char *key, int *count)
{
	const char *v = NULL;

	*count = 0;
	for (size_t i = 0; i < s->n_label; i++)
		if (strcmp(p->string_table[s->label[i]->key], key) == 0) {
			v = p->string_table[s->label[i]->str];
			(*count)++;
		}
	return v;
}

/* The function name at a sample's leaf, through location and line. */
static const char *leaf_name(const Profile *p, const Perftools__Profiles__Sample *s)
{
	for (size_t i = 0; i < p->n_location; i++)
		if (p->location[i]->id == s->location_id[0]) {
			uint64_t fid = p->location[i]->line[0]->function_id;
			for (size_t k = 0; k < p->n_function; k++)
				if (p->function[k]->id == fid)
					return p->string_table[p->function[k]->name];
		}
	return NULL;
}

static void test_merge_two(void)
{
	struct spec a = {"cpu", "nanoseconds", "a", 3, 10, 10000000, 0};
	struct spec b = {"cpu", "nanoseconds", "b", 4, 100, 10000000, 0};
	struct pg_buf ba, bb, out;
	struct pg_pprof_merge_in in[2];
	int64_t ta, tb, tm, t2a, t2b, t2m;
	char type[32];
	Profile *m;
	int per_node[2] = {0, 0};

	CHECK_INT(enc(&a, true, &ba), PG_OK);
	CHECK_INT(enc(&b, false, &bb), PG_OK); /* raw input accepted too */
	in[0] = (struct pg_pprof_merge_in){ba.data, ba.len, "n1"};
	in[1] = (struct pg_pprof_merge_in){bb.data, bb.len, "n2"};
	pg_buf_init(&out, 1 << 24);
	CHECK_INT(pg_pprof_merge(in, 2, "node", &out), PG_OK);
	CHECK(out.len > 20 && (unsigned char)out.data[0] == 0x1f);
	/* totals add up, for each sample type */
	CHECK_INT(pg_pprof_total(ba.data, ba.len, 0, &ta, type, sizeof(type)), PG_OK);
	CHECK_STR(type, "cpu");
	CHECK_INT(pg_pprof_total(bb.data, bb.len, 0, &tb, NULL, 0), PG_OK);
	CHECK_INT(pg_pprof_total(out.data, out.len, 0, &tm, NULL, 0), PG_OK);
	CHECK_INT(tm, ta + tb);
	CHECK_INT(ta, 10 + 11 + 12);
	CHECK_INT(pg_pprof_total(ba.data, ba.len, 1, &t2a, type, sizeof(type)), PG_OK);
	CHECK_STR(type, "count");
	CHECK_INT(pg_pprof_total(bb.data, bb.len, 1, &t2b, NULL, 0), PG_OK);
	CHECK_INT(pg_pprof_total(out.data, out.len, 1, &t2m, NULL, 0), PG_OK);
	CHECK_INT(t2m, t2a + t2b);
	CHECK_INT(pg_pprof_total(out.data, out.len, 2, &t2m, NULL, 0), PG_EINVAL);

	m = gunzip_unpack(&out);
	CHECK_STR(m->string_table[0], "");
	CHECK_INT((long)m->n_sample, 7);
	CHECK_INT((long)m->n_location, 7);
	CHECK_INT((long)m->n_function, 7);
	CHECK_INT((long)m->n_mapping, 2);
	CHECK_INT(m->period, 10000000);
	CHECK_INT(m->time_nanos, 1010);    /* the earliest */
	CHECK_INT(m->duration_nanos, 10);  /* summed, as Go's Merge */
	for (size_t i = 0; i < m->n_sample; i++) {
		int cnt;
		const char *node = label_of(m, m->sample[i], "node", &cnt);
		const char *fn = leaf_name(m, m->sample[i]);

		CHECK_INT(cnt, 1);
		CHECK(node && fn);
		/* each sample still points at its own node's function */
		if (node && fn && strcmp(node, "n1") == 0) {
			CHECK(strncmp(fn, "fn_a_", 5) == 0);
			per_node[0]++;
		} else if (node && fn) {
			CHECK_STR(node, "n2");
			CHECK(strncmp(fn, "fn_b_", 5) == 0);
			per_node[1]++;
		}
	}
	CHECK_INT(per_node[0], 3);
	CHECK_INT(per_node[1], 4);
	/* strings interned once */
	for (size_t i = 0; i < m->n_string_table; i++)
		for (size_t k = i + 1; k < m->n_string_table; k++)
			CHECK(strcmp(m->string_table[i], m->string_table[k]) != 0);
	perftools__profiles__profile__free_unpacked(m, NULL);
	pg_buf_free(&out);
	pg_buf_free(&ba);
	pg_buf_free(&bb);
}

static void test_existing_label_kept(void)
{
	struct spec a = {"cpu", "nanoseconds", "a", 2, 1, 1, 7};
	struct pg_buf ba, out;
	struct pg_pprof_merge_in in;
	Profile *m;
	int cnt;

	CHECK_INT(enc(&a, true, &ba), PG_OK);
	in = (struct pg_pprof_merge_in){ba.data, ba.len, "n1"};
	pg_buf_init(&out, 1 << 24);
	CHECK_INT(pg_pprof_merge(&in, 1, "node", &out), PG_OK);
	m = gunzip_unpack(&out);
	CHECK_STR(label_of(m, m->sample[0], "node", &cnt), "old");
	CHECK_INT(cnt, 1);
	CHECK_STR(label_of(m, m->sample[1], "node", &cnt), "n1");
	perftools__profiles__profile__free_unpacked(m, NULL);
	pg_buf_free(&out);
	pg_buf_free(&ba);
}

static int merge2(const struct spec *a, const struct spec *b)
{
	struct pg_buf ba, bb, out;
	struct pg_pprof_merge_in in[2];
	int rc;

	CHECK_INT(enc(a, true, &ba), PG_OK);
	CHECK_INT(enc(b, true, &bb), PG_OK);
	in[0] = (struct pg_pprof_merge_in){ba.data, ba.len, "n1"};
	in[1] = (struct pg_pprof_merge_in){bb.data, bb.len, "n2"};
	pg_buf_init(&out, 1 << 24);
	rc = pg_pprof_merge(in, 2, "node", &out);
	if (rc != PG_OK)
		CHECK(out.len == 0);
	pg_buf_free(&out);
	pg_buf_free(&ba);
	pg_buf_free(&bb);
	return rc;
}

static void test_incompatible(void)
{
	struct spec a = {"cpu", "nanoseconds", "a", 2, 1, 10000000, 0};
	struct spec b = a, c = a;

	b.type = "alloc_space";
	b.unit = "bytes";
	CHECK_INT(merge2(&a, &b), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "n1 and n2 do not merge");
	CHECK_CONTAINS(pg_errmsg(), "cpu/nanoseconds");
	c.period = 20000000;
	CHECK_INT(merge2(&a, &c), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "periods");
}

static void test_malformed(void)
{
	static const char *const why[] = {"", "mapping 99", "two locations", "1 values", "names no string",
					  "location 555", "string_table[0]"};
	struct spec good = {"cpu", "nanoseconds", "a", 3, 1, 1, 0};
	struct pg_pprof_merge_in in[2];
	struct pg_buf out;
	static const unsigned char junk[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff};
	static const unsigned char notproto[] = {0xff, 0xff, 0xff, 0xff};

	for (int bad = 1; bad <= 6; bad++) {
		struct spec b = good;

		b.bad = bad;
		CHECK_INT(merge2(&good, &b), PG_EPROTO);
		CHECK_CONTAINS(pg_errmsg(), "profile from n2");
		CHECK_CONTAINS(pg_errmsg(), why[bad]);
	}
	pg_buf_init(&out, 1 << 20);
	in[0] = (struct pg_pprof_merge_in){junk, sizeof(junk), "n1"};
	CHECK_INT(pg_pprof_merge(in, 1, "node", &out), PG_EPROTO);
	CHECK_CONTAINS(pg_errmsg(), "n1");
	in[0] = (struct pg_pprof_merge_in){notproto, sizeof(notproto), "n3"};
	CHECK_INT(pg_pprof_merge(in, 1, "node", &out), PG_EPROTO);
	CHECK_CONTAINS(pg_errmsg(), "profile from n3");
	in[0] = (struct pg_pprof_merge_in){"", 0, "n4"}; /* empty: no sample types */
	CHECK_INT(pg_pprof_merge(in, 1, "node", &out), PG_EPROTO);
	CHECK_INT(pg_pprof_merge(in, 0, "node", &out), PG_EINVAL);
	in[0].label = "";
	CHECK_INT(pg_pprof_merge(in, 1, "node", &out), PG_EINVAL);
	CHECK(out.len == 0);
	pg_buf_free(&out);
}

int main(void)
{
	RUN(test_merge_two);
	RUN(test_existing_label_kept);
	RUN(test_incompatible);
	RUN(test_malformed);
	TEST_END();
}
