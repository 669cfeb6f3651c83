#include "src/pprof/heap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/pprof/heap_shim.h"
#include "src/pprof/profile.h"
#include "src/pprof/stacktext.h"
#include "src/util/clock.h"

struct rec {
	int64_t v[4]; /* alloc objects, alloc bytes, inuse objects, inuse bytes */
	size_t depth;
	uintptr_t pcs[PG_HEAP_MAX_DEPTH];
	uint64_t hash;
};

struct pg_heap_sample {
	int64_t rate;
	struct rec *recs;
	size_t n, cap;
	size_t *index; /* open addressing over recs by stack hash; SIZE_MAX = empty */
	size_t index_cap;
};

static uint64_t hash_stack(const uintptr_t *pcs, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (uint64_t)pcs[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int sample_new(struct pg_heap_sample **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? PG_OK : pg_fail(PG_ENOMEM, "heap sample: out of memory");
}

void pg_heap_sample_free(struct pg_heap_sample **ps)
{
	if (!ps || !*ps)
		return;
	free((*ps)->recs);
	free((*ps)->index);
	free(*ps);
	*ps = NULL;
}

static int grow_index(struct pg_heap_sample *s)
{
	size_t cap = s->index_cap ? s->index_cap * 2 : 256;
	size_t *idx = malloc(cap * sizeof(*idx));

	if (!idx)
		return pg_fail(PG_ENOMEM, "heap sample: out of memory");
	for (size_t i = 0; i < cap; i++)
		idx[i] = SIZE_MAX;
	for (size_t r = 0; r < s->n; r++) {
		size_t i = s->recs[r].hash & (cap - 1);

		while (idx[i] != SIZE_MAX)
			i = (i + 1) & (cap - 1);
		idx[i] = r;
	}
	free(s->index);
	s->index = idx;
	s->index_cap = cap;
	return PG_OK;
}

/* Adds v (times sign) to the record of this stack, creating it if needed. */
static int add_rec(struct pg_heap_sample *s, const uintptr_t *pcs, size_t depth,
		   const int64_t v[4], int sign)
{
	uint64_t h = hash_stack(pcs, depth);
	struct rec *r;
	size_t i;
	int rc;

	if ((s->n + 1) * 2 > s->index_cap) {
		rc = grow_index(s);
		if (rc != PG_OK)
			return rc;
	}
	for (i = h & (s->index_cap - 1); s->index[i] != SIZE_MAX; i = (i + 1) & (s->index_cap - 1)) {
		r = &s->recs[s->index[i]];
		if (r->hash == h && r->depth == depth &&
		    memcmp(r->pcs, pcs, depth * sizeof(pcs[0])) == 0)
			goto found;
	}
	if (s->n == PG_HEAP_MAX_RECORDS)
		return pg_fail(PG_ENOMEM, "heap sample: more than %d stacks", PG_HEAP_MAX_RECORDS);
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct rec *nr = realloc(s->recs, cap * sizeof(*nr));

		if (!nr)
			return pg_fail(PG_ENOMEM, "heap sample: out of memory");
		s->recs = nr;
		s->cap = cap;
	}
	r = &s->recs[s->n];
	memset(r, 0, sizeof(*r));
	r->hash = h;
	r->depth = depth;
	memcpy(r->pcs, pcs, depth * sizeof(pcs[0]));
	s->index[i] = s->n++;
found:
	for (int k = 0; k < 4; k++) {
		/* Saturate rather than overflow on hostile input. */
		int64_t add = sign > 0 ? v[k] : -v[k];

		if ((add > 0 && r->v[k] > INT64_MAX - add) || (add < 0 && r->v[k] < INT64_MIN - add))
			return pg_fail(PG_EPROTO, "heap sample: value overflow");
		r->v[k] += add;
	}
	return PG_OK;
}

/* --- the parser: a cursor over [p, end) --- */

struct cur {
	const char *p, *end;
};

static void skip_spaces(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

static int expect(struct cur *c, const char *lit)
{
	size_t n = strlen(lit);

	skip_spaces(c);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

/* A non-negative decimal (base 10) or hex (base 16, optional 0x) number. */
static int number(struct cur *c, int base, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	int digits = 0;

	skip_spaces(c);
	if (base == 16 && c->end - c->p >= 2 && c->p[0] == '0' && (c->p[1] == 'x' || c->p[1] == 'X'))
		c->p += 2;
	for (; c->p < c->end; c->p++, digits++) {
		char ch = *c->p;
		unsigned d;

		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (base == 16 && ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else if (base == 16 && ch >= 'A' && ch <= 'F')
			d = (unsigned)(ch - 'A' + 10);
		else
			break;
		if (v > (max - d) / (uint64_t)base)
			return 0;
		v = v * (uint64_t)base + d;
	}
	*out = v;
	return digits > 0;
}

/* "N: B [N: B]" into v (inuse first in the text, then alloc in brackets). */
static int counts(struct cur *c, int64_t v[4])
{
	uint64_t a, b, x, y;

	if (!number(c, 10, INT64_MAX, &a) || !expect(c, ":") || !number(c, 10, INT64_MAX, &b) ||
	    !expect(c, "[") || !number(c, 10, INT64_MAX, &x) || !expect(c, ":") ||
	    !number(c, 10, INT64_MAX, &y) || !expect(c, "]"))
		return 0;
	v[0] = (int64_t)x;
	v[1] = (int64_t)y;
	v[2] = (int64_t)a;
	v[3] = (int64_t)b;
	return 1;
}

static int at_eol(struct cur *c)
{
	skip_spaces(c);
	if (c->p < c->end && *c->p == '\r')
		c->p++;
	if (c->p == c->end)
		return 1;
	if (*c->p == '\n') {
		c->p++;
		return 1;
	}
	return 0;
}

int pg_heap_sample_parse(const char *text, size_t len, struct pg_heap_sample **out)
{
	struct pg_heap_sample *s = NULL;
	struct cur c = { text, text + len };
	int64_t totals[4];
	uint64_t rate = 0;
	size_t line = 1;
	int rc;

	*out = NULL;
	rc = sample_new(&s);
	if (rc != PG_OK)
		return rc;
	if (!text || !expect(&c, "heap profile:") || !counts(&c, totals) || !expect(&c, "@")) {
		rc = pg_fail(PG_EPROTO, "heap sample: no \"heap profile: N: B [N: B] @\" header");
		goto out;
	}
	/* "heap_v2/RATE" (sampled); "heap" alone means every allocation. */
	if (expect(&c, "heap_v2/")) {
		if (!number(&c, 10, INT64_MAX, &rate)) {
			rc = pg_fail(PG_EPROTO, "heap sample: bad sampling rate in header");
			goto out;
		}
	} else if (!expect(&c, "heap")) {
		rc = pg_fail(PG_EPROTO, "heap sample: unknown profile type in header");
		goto out;
	}
	if (!at_eol(&c)) {
		rc = pg_fail(PG_EPROTO, "heap sample: junk after header");
		goto out;
	}
	s->rate = (int64_t)rate;
	while (c.p < c.end) {
		uintptr_t pcs[PG_HEAP_MAX_DEPTH];
		size_t depth = 0;
		int64_t v[4];

		line++;
		if (at_eol(&c) || expect(&c, "MAPPED_LIBRARIES:"))
			break; /* the records end at a blank line before the maps */
		if (!counts(&c, v) || !expect(&c, "@")) {
			rc = pg_fail(PG_EPROTO, "heap sample line %zu: want \"n: b [n: b] @ pcs\"", line);
			goto out;
		}
		while (!at_eol(&c)) {
			uint64_t pc;

			if (!number(&c, 16, UINTPTR_MAX, &pc)) {
				rc = pg_fail(PG_EPROTO, "heap sample line %zu: bad address", line);
				goto out;
			}
			if (depth < PG_HEAP_MAX_DEPTH)
				pcs[depth++] = (uintptr_t)pc; /* deeper frames are cut */
		}
		rc = add_rec(s, pcs, depth, v, 1);
		if (rc != PG_OK)
			goto out;
	}
	*out = s;
	s = NULL;
	rc = PG_OK;
out:
	pg_heap_sample_free(&s);
	return rc;
}

int64_t pg_heap_sample_rate(const struct pg_heap_sample *s)
{
	return s->rate;
}

size_t pg_heap_sample_records(const struct pg_heap_sample *s)
{
	return s->n;
}

/* Totals of records that each fit in int64 can still overflow: saturate. */
static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

void pg_heap_sample_totals(const struct pg_heap_sample *s, int64_t v[4])
{
	memset(v, 0, 4 * sizeof(v[0]));
	for (size_t i = 0; i < s->n; i++)
		for (int k = 0; k < 4; k++)
			v[k] = sat_add(v[k], s->recs[i].v[k]);
}

/* pprof (internal/profile/legacy_profile.go, scaleHeapSample): a record of
 * `count` samples totalling `size` bytes stands for count/p allocations,
 * p = 1 - exp(-avg/rate) being the chance an allocation of the average size
 * is sampled. Negative (delta) values scale by their magnitude. */
void pg_heap_scale(int64_t count, int64_t size, int64_t rate, int64_t *scount, int64_t *ssize)
{
	int neg_c = count < 0, neg_s = size < 0;
	double c = neg_c ? -(double)count : (double)count;
	double sz = neg_s ? -(double)size : (double)size;
	double scale, rc, rs;

	if (count == 0 || size == 0) {
		*scount = 0;
		*ssize = 0;
		return;
	}
	if (rate <= 1) {
		*scount = count;
		*ssize = size;
		return;
	}
	scale = 1.0 / (1.0 - exp(-(sz / c) / (double)rate));
	rc = c * scale;
	rs = sz * scale;
	rc = rc > 9.2e18 ? 9.2e18 : rc;
	rs = rs > 9.2e18 ? 9.2e18 : rs;
	*scount = neg_c ? -(int64_t)rc : (int64_t)rc;
	*ssize = neg_s ? -(int64_t)rs : (int64_t)rs;
}

static void scaled(const struct pg_heap_sample *s, const struct rec *r, int64_t v[4])
{
	pg_heap_scale(r->v[0], r->v[1], s->rate, &v[0], &v[1]);
	pg_heap_scale(r->v[2], r->v[3], s->rate, &v[2], &v[3]);
}

void pg_heap_sample_scaled_totals(const struct pg_heap_sample *s, int64_t v[4])
{
	memset(v, 0, 4 * sizeof(v[0]));
	for (size_t i = 0; i < s->n; i++) {
		int64_t w[4];

		scaled(s, &s->recs[i], w);
		for (int k = 0; k < 4; k++)
			v[k] = sat_add(v[k], w[k]);
	}
}

int pg_heap_sample_delta(const struct pg_heap_sample *before, const struct pg_heap_sample *after,
			 struct pg_heap_sample **out)
{
	struct pg_heap_sample *d = NULL;
	int rc;

	*out = NULL;
	if (before->rate != after->rate)
		return pg_fail(PG_EINVAL, "heap delta: sampling rate changed (%lld -> %lld)",
			       (long long)before->rate, (long long)after->rate);
	rc = sample_new(&d);
	if (rc != PG_OK)
		return rc;
	d->rate = after->rate;
	for (size_t i = 0; rc == PG_OK && i < after->n; i++)
		rc = add_rec(d, after->recs[i].pcs, after->recs[i].depth, after->recs[i].v, 1);
	for (size_t i = 0; rc == PG_OK && i < before->n; i++)
		rc = add_rec(d, before->recs[i].pcs, before->recs[i].depth, before->recs[i].v, -1);
	if (rc == PG_OK) {
		/* Stacks that did not change are left out. */
		size_t k = 0;

		for (size_t i = 0; i < d->n; i++)
			if (d->recs[i].v[0] || d->recs[i].v[1] || d->recs[i].v[2] || d->recs[i].v[3])
				d->recs[k++] = d->recs[i];
		d->n = k;
		free(d->index);
		d->index = NULL;
		d->index_cap = 0;
		rc = grow_index(d);
	}
	if (rc == PG_OK) {
		*out = d;
		d = NULL;
	}
	pg_heap_sample_free(&d);
	return rc;
}

int pg_heap_capture(struct pg_heap_sample **out)
{
	char *text = NULL;
	size_t len = 0;
	uintptr_t lo = 0, hi = 0;
	int rc;

	*out = NULL;
	rc = pg_heap_shim_sample(&text, &len);
	if (rc == PG_EUNSUP)
		return pg_fail(rc, "heap profile needs tcmalloc as the allocator (not in this build)");
	if (rc != PG_OK)
		return pg_fail(rc, "tcmalloc heap sample failed");
	/* With TCMALLOC_SAMPLE_PARAMETER=0 tcmalloc answers only "%warn" lines
	 * saying sampling is off: say so (501) rather than fail to parse (500). */
	if (len >= 5 && memcmp(text, "%warn", 5) == 0) {
		free(text);
		return pg_fail(PG_EUNSUP, "heap sampling is off in this process (TCMALLOC_SAMPLE_PARAMETER=0); "
					  "restart the node without it or with a positive rate");
	}
	rc = pg_heap_sample_parse(text, len, out);
	free(text);
	if (rc != PG_OK)
		return rc;
	/* Drop tcmalloc's own frames so stacks start at the allocating call,
	 * as pprof hides runtime.mallocgc. */
	if (pg_heap_shim_allocator_range(&lo, &hi) == PG_OK) {
		struct pg_heap_sample *s = *out;

		for (size_t i = 0; i < s->n; i++) {
			struct rec *r = &s->recs[i];
			size_t k = 0;

			while (k < r->depth && r->pcs[k] >= lo && r->pcs[k] < hi)
				k++;
			if (k > 0 && k < r->depth) {
				memmove(r->pcs, r->pcs + k, (r->depth - k) * sizeof(r->pcs[0]));
				r->depth -= k;
			}
		}
	}
	return PG_OK;
}

static int write_text(const struct pg_heap_sample *s, struct pg_buf *out)
{
	int64_t t[4];
	int rc;

	pg_heap_sample_totals(s, t);
	/* Raw sampled values, as tcmalloc prints them: pprof's legacy parser
	 * applies the heap_v2 scaling itself. */
	if (s->rate > 0)
		rc = pg_buf_printf(out, "heap profile: %lld: %lld [%lld: %lld] @ heap_v2/%lld\n",
				   (long long)t[2], (long long)t[3], (long long)t[0], (long long)t[1],
				   (long long)s->rate);
	else
		rc = pg_buf_printf(out, "heap profile: %lld: %lld [%lld: %lld] @ heap\n",
				   (long long)t[2], (long long)t[3], (long long)t[0], (long long)t[1]);
	for (size_t i = 0; rc == PG_OK && i < s->n; i++) {
		const struct rec *r = &s->recs[i];

		rc = pg_buf_printf(out, "%lld: %lld [%lld: %lld]", (long long)r->v[2], (long long)r->v[3],
				   (long long)r->v[0], (long long)r->v[1]);
		if (rc == PG_OK)
			rc = pg_stacktext_at(out, r->pcs, r->depth);
		if (rc == PG_OK)
			rc = pg_stacktext_hash_lines(out, r->pcs, r->depth, 0);
		if (rc == PG_OK)
			rc = pg_buf_puts(out, "\n");
	}
	if (rc == PG_OK) {
		int64_t e[4];

		pg_heap_sample_scaled_totals(s, e);
		rc = pg_buf_printf(out, "# estimated (scaled): inuse %lld objects, %lld bytes\n"
					"# tcmalloc samples live allocations only: alloc values equal inuse\n",
				   (long long)e[2], (long long)e[3]);
	}
	return rc;
}

static int write_proto(const struct pg_heap_sample *s, const char *default_type, struct pg_buf *out)
{
	static const char *const types[4][2] = { { "alloc_objects", "count" },
						 { "alloc_space", "bytes" },
						 { "inuse_objects", "count" },
						 { "inuse_space", "bytes" } };
	struct pg_profile *p = NULL;
	int rc = pg_profile_new(&p);

	for (int k = 0; rc == PG_OK && k < 4; k++)
		rc = pg_profile_add_sample_type(p, types[k][0], types[k][1]);
	if (rc == PG_OK)
		rc = pg_profile_set_period(p, "space", "bytes", s->rate);
	if (rc == PG_OK && default_type)
		rc = pg_profile_set_default_sample_type(p, default_type);
	if (rc == PG_OK)
		rc = pg_profile_add_comment(p, "tcmalloc sampled heap: live allocations only, "
					       "so alloc_* equal inuse_*");
	if (rc != PG_OK)
		goto out;
	pg_profile_set_time(p, pg_clock_wall_ns(), 0);
	for (size_t i = 0; i < s->n; i++) {
		int64_t v[4];

		scaled(s, &s->recs[i], v);
		rc = pg_profile_add_sample(p, s->recs[i].pcs, s->recs[i].depth, 0, v, 4, NULL, 0);
		if (rc != PG_OK)
			goto out;
	}
	rc = pg_profile_write(p, out);
out:
	pg_profile_free(&p);
	return rc;
}

int pg_heap_write(const struct pg_heap_sample *s, int debug, const char *default_type,
		  struct pg_buf *out, const char **content_type)
{
	if (debug > 0) {
		*content_type = "text/plain; charset=utf-8";
		return write_text(s, out);
	}
	*content_type = "application/octet-stream";
	return write_proto(s, default_type, out);
}

static int serve(int debug, const char *default_type, struct pg_buf *out, const char **ct)
{
	struct pg_heap_sample *s = NULL;
	int rc = pg_heap_capture(&s);

	if (rc == PG_OK)
		rc = pg_heap_write(s, debug, default_type, out, ct);
	pg_heap_sample_free(&s);
	return rc;
}

int pg_pprof_heap(int debug, struct pg_buf *out, const char **content_type)
{
	return serve(debug, "inuse_space", out, content_type);
}

int pg_pprof_allocs(int debug, struct pg_buf *out, const char **content_type)
{
	return serve(debug, "alloc_space", out, content_type);
}

int pg_heap_mark_thread_idle(void)
{
	int rc = pg_heap_shim_mark_thread_idle();

	return rc == PG_OK ? PG_OK : pg_fail(rc, "tcmalloc is not the allocator of this process");
}
