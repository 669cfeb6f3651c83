/* profile.proto encoder: encode -> gunzip -> protobuf-c unpack -> check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "proto/profile.pb-c.h"
#include "src/pprof/profile.h"
#include "tests/unit/test.h"

static int __attribute__((noinline)) profile_test_marker(int x)
{
	volatile int v = x;

	return v * 3 + 1;
}

static uint8_t *gunzip(const struct pg_buf *in, size_t *n_out)
{
	z_stream z;
	size_t cap = 1 << 16, n = 0;
	uint8_t *out = malloc(cap);
	int zrc;

	memset(&z, 0, sizeof(z));
	if (!out || inflateInit2(&z, 15 + 16) != Z_OK) {
		free(out);
		return NULL;
	}
	z.next_in = (Bytef *)in->data;
	z.avail_in = (uInt)in->len;
	do {
		if (n == cap) {
			uint8_t *no = realloc(out, cap * 2);

			if (!no)
				break;
			out = no;
			cap *= 2;
		}
		z.next_out = out + n;
		z.avail_out = (uInt)(cap - n);
		zrc = inflate(&z, Z_NO_FLUSH);
		n = cap - z.avail_out;
	} while (zrc == Z_OK);
	inflateEnd(&z);
	if (zrc != Z_STREAM_END) {
		free(out);
		return NULL;
	}
	*n_out = n;
	return out;
}

static Perftools__Profiles__Profile *roundtrip(struct pg_profile *p)
{
	struct pg_buf b;
	uint8_t *raw;
	size_t n = 0;
	Perftools__Profiles__Profile *pr = NULL;

	pg_buf_init(&b, 64 << 20);
	CHECK_INT(pg_profile_write(p, &b), PG_OK);
	/* gzip magic */
	CHECK(b.len > 2 && (uint8_t)b.data[0] == 0x1f && (uint8_t)b.data[1] == 0x8b);
	raw = gunzip(&b, &n);
	CHECK(raw != NULL);
	if (raw)
		pr = perftools__profiles__profile__unpack(NULL, n, raw);
	CHECK(pr != NULL);
	free(raw);
	pg_buf_free(&b);
	return pr;
}

static const char *str(const Perftools__Profiles__Profile *pr, int64_t i)
{
	if (i < 0 || (size_t)i >= pr->n_string_table)
		return "(out of range)";
	return pr->string_table[i];
}

static const Perftools__Profiles__Location *loc(const Perftools__Profiles__Profile *pr, uint64_t id)
{
	for (size_t i = 0; i < pr->n_location; i++)
		if (pr->location[i]->id == id)
			return pr->location[i];
	return NULL;
}

static const Perftools__Profiles__Function *fn(const Perftools__Profiles__Profile *pr, uint64_t id)
{
	for (size_t i = 0; i < pr->n_function; i++)
		if (pr->function[i]->id == id)
			return pr->function[i];
	return NULL;
}

static void test_roundtrip(void)
{
	struct pg_profile *p = NULL;
	Perftools__Profiles__Profile *pr;
	uintptr_t marker = (uintptr_t)&profile_test_marker + 4;
	uintptr_t s1[3] = {marker, (uintptr_t)&malloc + 1, 0x10};
	uintptr_t s2[2] = {marker, (uintptr_t)&malloc + 1};
	int64_t v1[2] = {1, 10000000}, v2[2] = {2, 20000000};
	struct pg_profile_label lab[2] = {{"thread", "main", 0, NULL}, {"bytes", NULL, 512, "bytes"}};
	const Perftools__Profiles__Sample *with_labels = NULL;
	int seen_marker = 0;

	profile_test_marker(1);
	CHECK_INT(pg_profile_new(&p), PG_OK);
	CHECK_INT(pg_profile_add_sample_type(p, "samples", "count"), PG_OK);
	CHECK_INT(pg_profile_add_sample_type(p, "cpu", "nanoseconds"), PG_OK);
	CHECK_INT(pg_profile_set_period(p, "cpu", "nanoseconds", 10000000), PG_OK);
	CHECK_INT(pg_profile_set_default_sample_type(p, "cpu"), PG_OK);
	pg_profile_set_time(p, 1700000000000000000LL, 2000000000LL);
	CHECK_INT(pg_profile_add_comment(p, "hello comment"), PG_OK);
	/* s1 twice (merged), s2 once, s2 with labels once */
	CHECK_INT(pg_profile_add_sample(p, s1, 3, 1, v1, 2, NULL, 0), PG_OK);
	CHECK_INT(pg_profile_add_sample(p, s1, 3, 1, v2, 2, NULL, 0), PG_OK);
	CHECK_INT(pg_profile_add_sample(p, s2, 2, 1, v1, 2, NULL, 0), PG_OK);
	CHECK_INT(pg_profile_add_sample(p, s2, 2, 1, v1, 2, lab, 2), PG_OK);
	pr = roundtrip(p);
	if (!pr)
		goto out;
	CHECK(pr->n_string_table > 0);
	CHECK_STR(pr->string_table[0], "");
	CHECK_INT(pr->n_sample_type, 2);
	CHECK_STR(str(pr, pr->sample_type[0]->type), "samples");
	CHECK_STR(str(pr, pr->sample_type[0]->unit), "count");
	CHECK_STR(str(pr, pr->sample_type[1]->type), "cpu");
	CHECK_STR(str(pr, pr->sample_type[1]->unit), "nanoseconds");
	CHECK(pr->period_type != NULL);
	if (pr->period_type)
		CHECK_STR(str(pr, pr->period_type->type), "cpu");
	CHECK_INT(pr->period, 10000000);
	CHECK_STR(str(pr, pr->default_sample_type), "cpu");
	CHECK_INT(pr->time_nanos, 1700000000000000000LL);
	CHECK_INT(pr->duration_nanos, 2000000000LL);
	CHECK_INT(pr->n_comment, 1);
	if (pr->n_comment)
		CHECK_STR(str(pr, pr->comment[0]), "hello comment");
	CHECK_INT(pr->n_sample, 3);
	/* Locations deduplicated by address: marker, malloc+1, 0x10. */
	CHECK_INT(pr->n_location, 3);
	for (size_t i = 0; i < pr->n_sample; i++) {
		const Perftools__Profiles__Sample *s = pr->sample[i];

		CHECK_INT(s->n_value, 2);
		if (s->n_label)
			with_labels = s;
		if (s->n_location_id == 3) {
			CHECK_INT(s->value[0], 3);
			CHECK_INT(s->value[1], 30000000);
		}
		for (size_t k = 0; k < s->n_location_id; k++)
			CHECK(loc(pr, s->location_id[k]) != NULL);
	}
	CHECK(with_labels != NULL);
	if (with_labels) {
		CHECK_INT(with_labels->n_label, 2);
		CHECK_STR(str(pr, with_labels->label[0]->key), "thread");
		CHECK_STR(str(pr, with_labels->label[0]->str), "main");
		CHECK_STR(str(pr, with_labels->label[1]->key), "bytes");
		CHECK_INT(with_labels->label[1]->num, 512);
		CHECK_STR(str(pr, with_labels->label[1]->num_unit), "bytes");
	}
	/* The marker resolves to its function name and this file, in a
	 * mapping that is the main binary (mapping[0]). */
	for (size_t i = 0; i < pr->n_location; i++) {
		const Perftools__Profiles__Location *l = pr->location[i];

		if (l->address != marker)
			continue;
		CHECK_INT(l->n_line, 1);
		CHECK_INT(l->mapping_id, 1);
		if (l->n_line) {
			const Perftools__Profiles__Function *f = fn(pr, l->line[0]->function_id);

			CHECK(f != NULL);
			if (f) {
				seen_marker = 1;
				CHECK_STR(str(pr, f->name), "profile_test_marker");
				CHECK_CONTAINS(str(pr, f->filename), "profile_test.c");
				CHECK(f->start_line > 0 && f->start_line <= l->line[0]->line);
			}
			CHECK(l->line[0]->line > 0);
		}
	}
	CHECK(seen_marker);
	/* 0x10 is in no mapping and has no function */
	for (size_t i = 0; i < pr->n_location; i++)
		if (pr->location[i]->address == 0x10) {
			CHECK_INT(pr->location[i]->mapping_id, 0);
			CHECK_INT(pr->location[i]->n_line, 0);
		}
	CHECK(pr->n_mapping > 0);
	if (pr->n_mapping) {
		CHECK(pr->mapping[0]->has_functions);
		CHECK(pr->mapping[0]->has_filenames);
		CHECK(pr->mapping[0]->has_line_numbers);
		CHECK_CONTAINS(str(pr, pr->mapping[0]->filename), "profile_test");
		CHECK(strlen(str(pr, pr->mapping[0]->build_id)) >= 16);
		CHECK(pr->mapping[0]->memory_start <= marker && marker < pr->mapping[0]->memory_limit);
	}
	perftools__profiles__profile__free_unpacked(pr, NULL);
out:
	pg_profile_free(&p);
	CHECK(p == NULL);
}

static void test_errors(void)
{
	struct pg_profile *p = NULL;
	uintptr_t pc = 0x1234;
	int64_t v[1] = {1};
	struct pg_profile_label bad = {NULL, "x", 0, NULL};

	pg_profile_free(&p); /* NULL is fine */
	CHECK_INT(pg_profile_new(&p), PG_OK);
	CHECK_INT(pg_profile_add_sample_type(p, NULL, "count"), PG_EINVAL);
	CHECK_INT(pg_profile_add_sample_type(p, "samples", "count"), PG_OK);
	/* value count must match the sample types */
	CHECK_INT(pg_profile_add_sample(p, &pc, 1, 0, v, 0, NULL, 0), PG_EINVAL);
	CHECK_INT(pg_profile_add_sample(p, NULL, 1, 0, v, 1, NULL, 0), PG_EINVAL);
	CHECK_INT(pg_profile_add_sample(p, &pc, 1, 0, v, 1, &bad, 1), PG_EINVAL);
	CHECK_INT(pg_profile_add_sample(p, &pc, 1, 0, v, 1, NULL, 0), PG_OK);
	/* no more sample types once samples exist */
	CHECK_INT(pg_profile_add_sample_type(p, "x", "y"), PG_EINVAL);
	for (int i = 0; i < 3; i++)
		CHECK_INT(pg_profile_add_sample_type(p, "x", "y"), PG_EINVAL);
	pg_profile_free(&p);
	CHECK_INT(pg_profile_new(&p), PG_OK);
	for (int i = 0; i < PG_PROFILE_MAX_VALUES; i++)
		CHECK_INT(pg_profile_add_sample_type(p, "t", "u"), PG_OK);
	CHECK_INT(pg_profile_add_sample_type(p, "t", "u"), PG_EINVAL);
	pg_profile_free(&p);
}

/* An empty profile is still valid (Go's parser rejects nothing here). */
static void test_empty_and_deep(void)
{
	struct pg_profile *p = NULL;
	Perftools__Profiles__Profile *pr;
	uintptr_t deep[PG_PROFILE_MAX_DEPTH + 50];
	int64_t v[1] = {7};

	for (size_t i = 0; i < sizeof(deep) / sizeof(deep[0]); i++)
		deep[i] = 0x1000 + i;
	CHECK_INT(pg_profile_new(&p), PG_OK);
	CHECK_INT(pg_profile_add_sample_type(p, "samples", "count"), PG_OK);
	pr = roundtrip(p);
	if (pr) {
		CHECK_INT(pr->n_sample, 0);
		CHECK_STR(pr->string_table[0], "");
		perftools__profiles__profile__free_unpacked(pr, NULL);
	}
	CHECK_INT(pg_profile_add_sample(p, deep, sizeof(deep) / sizeof(deep[0]), 0, v, 1, NULL, 0),
		  PG_OK);
	pr = roundtrip(p);
	if (pr) {
		CHECK_INT(pr->n_sample, 1);
		CHECK_INT(pr->sample[0]->n_location_id, PG_PROFILE_MAX_DEPTH);
		CHECK_INT(pr->n_location, PG_PROFILE_MAX_DEPTH);
		perftools__profiles__profile__free_unpacked(pr, NULL);
	}
	pg_profile_free(&p);
}

/* Many distinct samples exercise table growth; identical ones merge. */
static void test_many(void)
{
	struct pg_profile *p = NULL;
	Perftools__Profiles__Profile *pr;
	int64_t v[1] = {1};

	CHECK_INT(pg_profile_new(&p), PG_OK);
	CHECK_INT(pg_profile_add_sample_type(p, "samples", "count"), PG_OK);
	for (int rep = 0; rep < 2; rep++)
		for (uintptr_t i = 0; i < 5000; i++) {
			uintptr_t st[2] = {0x100000 + i, 0x200000 + (i % 7)};

			CHECK_INT(pg_profile_add_sample(p, st, 2, 1, v, 1, NULL, 0), PG_OK);
		}
	pr = roundtrip(p);
	if (pr) {
		CHECK_INT(pr->n_sample, 5000);
		CHECK_INT(pr->n_location, 5007);
		for (size_t i = 0; i < pr->n_sample; i++)
			CHECK_INT(pr->sample[i]->value[0], 2);
		perftools__profiles__profile__free_unpacked(pr, NULL);
	}
	pg_profile_free(&p);
}

int main(void)
{
	RUN(test_roundtrip);
	RUN(test_errors);
	RUN(test_empty_and_deep);
	RUN(test_many);
	TEST_END();
}
