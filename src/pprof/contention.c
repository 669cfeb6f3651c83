#include "src/pprof/contention.h"

#include <execinfo.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/pprof/profile.h"
#include "src/pprof/stacktext.h"
#include "src/util/clock.h"
#include "src/util/mutex.h"

#define TABLE_SLOTS (2 * PG_CONTENTION_MAX) /* power of two, half full at most */

struct rec {
	uint64_t hash; /* 0 = empty slot */
	size_t depth;
	uintptr_t pcs[PG_CONTENTION_DEPTH];
	int64_t count;
	int64_t delay;
};

static _Atomic int rate = PG_CONTENTION_DEFAULT_RATE;
static atomic_uint_fast64_t event_seq;
/* A plain pthread mutex: recording must never recurse into pg_mutex. */
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rec table[TABLE_SLOTS];
static size_t n_used;
static uint64_t dropped;

void pg_contention_install(void)
{
	static const struct pg_mutex_hooks hooks = {
		.should_sample = pg_contention_should_sample,
		.record = pg_contention_record,
	};

	pg_mutex_set_hooks(&hooks);
}

int pg_contention_set_rate(int r)
{
	return atomic_exchange(&rate, r < 0 ? 0 : r);
}

int pg_contention_rate(void)
{
	return atomic_load_explicit(&rate, memory_order_relaxed);
}

int pg_contention_should_sample(void)
{
	int r = atomic_load_explicit(&rate, memory_order_relaxed);

	if (r <= 0)
		return 0;
	if (r == 1)
		return 1;
	return atomic_fetch_add_explicit(&event_seq, 1, memory_order_relaxed) % (uint64_t)r == 0;
}

static uint64_t hash_stack(const uintptr_t *pcs, size_t n)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (uint64_t)pcs[i];
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

__attribute__((noinline)) void pg_contention_record(int64_t delay_ns, int skip)
{
	void *frames[PG_CONTENTION_DEPTH + 8];
	uintptr_t pcs[PG_CONTENTION_DEPTH];
	int r = pg_contention_rate(), n, first;
	size_t depth = 0;
	uint64_t h;

	if (r <= 0)
		return;
	n = backtrace(frames, (int)(sizeof(frames) / sizeof(frames[0])));
	first = 1 + (skip > 0 ? skip : 0); /* frame 0 is this function */
	for (int i = first; i < n && depth < PG_CONTENTION_DEPTH; i++)
		pcs[depth++] = (uintptr_t)frames[i];
	h = hash_stack(pcs, depth);
	pthread_mutex_lock(&table_mu);
	for (size_t i = h & (TABLE_SLOTS - 1);; i = (i + 1) & (TABLE_SLOTS - 1)) {
		struct rec *e = &table[i];

		if (e->hash == 0) {
			if (n_used >= PG_CONTENTION_MAX) {
				dropped++;
				break;
			}
			e->hash = h;
			e->depth = depth;
			memcpy(e->pcs, pcs, depth * sizeof(pcs[0]));
			n_used++;
		} else if (e->hash != h || e->depth != depth ||
			   memcmp(e->pcs, pcs, depth * sizeof(pcs[0])) != 0) {
			continue;
		}
		e->count += r;
		e->delay += delay_ns * r;
		break;
	}
	pthread_mutex_unlock(&table_mu);
	__asm__ __volatile__("" ::: "memory");
}

void pg_contention_reset(void)
{
	pthread_mutex_lock(&table_mu);
	memset(table, 0, sizeof(table));
	n_used = 0;
	dropped = 0;
	pthread_mutex_unlock(&table_mu);
}

void pg_contention_totals(int64_t *contentions, int64_t *delay_ns, uint64_t *drop)
{
	int64_t c = 0, d = 0;

	pthread_mutex_lock(&table_mu);
	for (size_t i = 0; i < TABLE_SLOTS; i++) {
		c += table[i].count;
		d += table[i].delay;
	}
	if (drop)
		*drop = dropped;
	pthread_mutex_unlock(&table_mu);
	if (contentions)
		*contentions = c;
	if (delay_ns)
		*delay_ns = d;
}

/* Copies the used records out, largest delay first. */
static int snapshot(struct rec **out, size_t *n, uint64_t *drop)
{
	struct rec *v = malloc(PG_CONTENTION_MAX * sizeof(*v));
	size_t k = 0;

	if (!v)
		return pg_fail(PG_ENOMEM, "contention profile: out of memory");
	pthread_mutex_lock(&table_mu);
	for (size_t i = 0; i < TABLE_SLOTS && k < PG_CONTENTION_MAX; i++)
		if (table[i].hash)
			v[k++] = table[i];
	*drop = dropped;
	pthread_mutex_unlock(&table_mu);
	*out = v;
	*n = k;
	return PG_OK;
}

static int by_delay_desc(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return x->delay < y->delay ? 1 : x->delay > y->delay ? -1 : 0;
}

static int write_text(const char *header, int with_period, const struct rec *v, size_t n,
		      uint64_t drop, struct pg_buf *out)
{
	int rc = pg_buf_printf(out, "--- %s:\ncycles/second=1000000000\n", header);

	if (rc == PG_OK && with_period)
		rc = pg_buf_printf(out, "sampling period=%d\n", pg_contention_rate());
	for (size_t i = 0; rc == PG_OK && i < n; i++) {
		rc = pg_buf_printf(out, "%lld %lld", (long long)v[i].delay, (long long)v[i].count);
		if (rc == PG_OK)
			rc = pg_stacktext_at(out, v[i].pcs, v[i].depth);
		if (rc == PG_OK)
			rc = pg_stacktext_hash_lines(out, v[i].pcs, v[i].depth, 0);
	}
	if (rc == PG_OK && drop)
		rc = pg_buf_printf(out, "# %llu events dropped: table full (%d stacks)\n",
				   (unsigned long long)drop, PG_CONTENTION_MAX);
	return rc;
}

static int write_proto(const struct rec *v, size_t n, uint64_t drop, struct pg_buf *out)
{
	struct pg_profile *p = NULL;
	int rc;

	rc = pg_profile_new(&p);
	if (rc != PG_OK)
		goto out;
	rc = pg_profile_add_sample_type(p, "contentions", "count");
	if (rc == PG_OK)
		rc = pg_profile_add_sample_type(p, "delay", "nanoseconds");
	if (rc == PG_OK)
		rc = pg_profile_set_period(p, "contentions", "count", pg_contention_rate());
	if (rc != PG_OK)
		goto out;
	pg_profile_set_time(p, pg_clock_wall_ns(), 0);
	if (drop) {
		char c[128];

		(void)snprintf(c, sizeof(c), "%llu contention events dropped: table full (%d stacks)",
			       (unsigned long long)drop, PG_CONTENTION_MAX);
		rc = pg_profile_add_comment(p, c);
		if (rc != PG_OK)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t vals[2] = { v[i].count, v[i].delay };

		rc = pg_profile_add_sample(p, v[i].pcs, v[i].depth, 0, vals, 2, NULL, 0);
		if (rc != PG_OK)
			goto out;
	}
	rc = pg_profile_write(p, out);
out:
	pg_profile_free(&p);
	return rc;
}

static int serve(const char *header, int with_period, int debug, struct pg_buf *out,
		 const char **content_type)
{
	struct rec *v = NULL;
	size_t n = 0;
	uint64_t drop = 0;
	int rc = snapshot(&v, &n, &drop);

	if (rc != PG_OK)
		return rc;
	qsort(v, n, sizeof(*v), by_delay_desc);
	if (debug > 0) {
		*content_type = "text/plain; charset=utf-8";
		rc = write_text(header, with_period, v, n, drop, out);
	} else {
		*content_type = "application/octet-stream";
		rc = write_proto(v, n, drop, out);
	}
	free(v);
	return rc;
}

int pg_pprof_mutex(int debug, struct pg_buf *out, const char **content_type)
{
	return serve("mutex", 1, debug, out, content_type);
}

int pg_pprof_block(int debug, struct pg_buf *out, const char **content_type)
{
	return serve("contention", 0, debug, out, content_type);
}
