#include "src/metrics/metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/util/fmtnum.h"
#include "src/util/mutex.h"

#define SERIES_HASH_BUCKETS 256
#define MAX_COLLECTORS 32

/* Doubles are kept as their bit patterns in 64-bit atomics so that updates
 * need no lock; additions use a compare-and-swap loop. */
struct pg_series {
	struct pg_family *family;
	char **values;                  /* label values, n_labels of them */
	char *labels;                   /* a="x",b="y" rendered once (escaped); "" without labels */
	size_t labels_len;
	_Atomic uint64_t value;         /* counter/gauge value, or histogram sum */
	_Atomic uint64_t count;         /* histogram observations */
	_Atomic uint64_t *bucket_count; /* histogram: per bucket, not cumulative */
	struct pg_series *hash_next;
	struct pg_series *order_next;   /* creation order, for stable output */
};

struct pg_family {
	enum pg_metric_kind kind;
	char *name;
	size_t name_len;
	char *help;
	char *labels[PG_METRICS_MAX_LABELS];
	size_t n_labels;
	double buckets[PG_METRICS_MAX_BUCKETS];
	char le[PG_METRICS_MAX_BUCKETS][PG_FMTNUM_MAX]; /* buckets as text, rendered once */
	size_t n_buckets;
	char *head; /* "# HELP ...\n# TYPE ...\n", rendered once */
	struct pg_mutex lock; /* guards the hash chains and the order list */
	struct pg_series *hash[SERIES_HASH_BUCKETS];
	struct pg_series *first, *last;
	size_t n_series;
	struct pg_family *next;
};

struct pg_metrics {
	struct pg_mutex lock; /* guards the family list and collectors */
	struct pg_family *first, *last;
	struct {
		pg_metrics_collect_fn *fn;
		void *arg;
		void (*free_arg)(void *arg);
	} collectors[MAX_COLLECTORS];
	size_t n_collectors;
};

static uint64_t dbits(double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

static double bitsd(uint64_t u)
{
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

static void atomic_add_double(_Atomic uint64_t *a, double v)
{
	uint64_t old = atomic_load_explicit(a, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(a, &old, dbits(bitsd(old) + v),
						      memory_order_relaxed, memory_order_relaxed))
		;
}

static int valid_name(const char *s, int allow_colon)
{
	if (!s || !*s)
		return 0;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];
		int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			    (allow_colon && c == ':');
		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return 0;
	}
	return 1;
}

int pg_metrics_new(struct pg_metrics **out)
{
	struct pg_metrics *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return pg_fail(PG_ENOMEM, "out of memory creating the metrics registry");
	if ((rc = pg_mutex_init(&m->lock)) != PG_OK) {
		free(m);
		return rc;
	}
	*out = m;
	return PG_OK;
}

static void series_free(struct pg_series *s, size_t n_labels)
{
	for (size_t i = 0; s->values && i < n_labels; i++)
		free(s->values[i]);
	free(s->values);
	free(s->labels);
	free(s->bucket_count);
	free(s);
}

static void family_free(struct pg_family *f)
{
	struct pg_series *s = f->first;

	while (s) {
		struct pg_series *next = s->order_next;
		series_free(s, f->n_labels);
		s = next;
	}
	for (size_t i = 0; i < f->n_labels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	free(f->head);
	pg_mutex_destroy(&f->lock);
	free(f);
}

void pg_metrics_free(struct pg_metrics **pp)
{
	struct pg_metrics *m;
	struct pg_family *f;

	if (!pp || !*pp)
		return;
	m = *pp;
	for (size_t i = 0; i < m->n_collectors; i++)
		if (m->collectors[i].free_arg)
			m->collectors[i].free_arg(m->collectors[i].arg);
	f = m->first;
	while (f) {
		struct pg_family *next = f->next;
		family_free(f);
		f = next;
	}
	pg_mutex_destroy(&m->lock);
	free(m);
	*pp = NULL;
}

/* Label values escape \ " and newline; HELP text escapes \ and newline. */
static int put_escaped(struct pg_buf *b, const char *s, int quote)
{
	int rc = PG_OK;

	for (; *s && rc == PG_OK; s++) {
		if (*s == '\\')
			rc = pg_buf_puts(b, "\\\\");
		else if (*s == '\n')
			rc = pg_buf_puts(b, "\\n");
		else if (quote && *s == '"')
			rc = pg_buf_puts(b, "\\\"");
		else
			rc = pg_buf_append(b, s, 1);
	}
	return rc;
}

/* What never changes between scrapes is rendered when declared: the HELP
 * and TYPE lines, the bucket bounds, each series' label text. */
static int render_head(struct pg_family *f)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	struct pg_buf b;
	int rc;

	pg_buf_init(&b, 1u << 20);
	rc = pg_buf_printf(&b, "# HELP %s ", f->name);
	if (rc == PG_OK)
		rc = put_escaped(&b, f->help, 0);
	if (rc == PG_OK)
		rc = pg_buf_printf(&b, "\n# TYPE %s %s\n", f->name, types[f->kind]);
	if (rc != PG_OK) {
		pg_buf_free(&b);
		return rc;
	}
	f->head = pg_buf_steal(&b, NULL);
	for (size_t i = 0; i < f->n_buckets; i++)
		pg_fmtnum_double(f->le[i], f->buckets[i]);
	return PG_OK;
}

static int render_labels(const struct pg_family *f, struct pg_series *s)
{
	struct pg_buf b;
	int rc = PG_OK;

	pg_buf_init(&b, 1u << 20);
	rc = pg_buf_append(&b, "", 0);
	for (size_t i = 0; i < f->n_labels && rc == PG_OK; i++) {
		rc = pg_buf_printf(&b, "%s%s=\"", i ? "," : "", f->labels[i]);
		if (rc == PG_OK)
			rc = put_escaped(&b, s->values[i], 1);
		if (rc == PG_OK)
			rc = pg_buf_puts(&b, "\"");
	}
	if (rc != PG_OK) {
		pg_buf_free(&b);
		return rc;
	}
	s->labels = pg_buf_steal(&b, &s->labels_len);
	return PG_OK;
}

static int same_shape(const struct pg_family *f, enum pg_metric_kind kind,
		      const char *const *label_names, size_t n_labels)
{
	if (f->kind != kind || f->n_labels != n_labels)
		return 0;
	for (size_t i = 0; i < n_labels; i++)
		if (strcmp(f->labels[i], label_names[i]) != 0)
			return 0;
	return 1;
}

int pg_metrics_family(struct pg_metrics *m, enum pg_metric_kind kind, const char *name,
		      const char *help, const char *const *label_names, size_t n_labels,
		      const double *buckets, size_t n_buckets, struct pg_family **out)
{
	struct pg_family *f = NULL;
	int rc = PG_OK;

	if (!valid_name(name, 1))
		return pg_fail(PG_EINVAL, "metric name \"%s\" is not a valid Prometheus name", name ? name : "");
	if (n_labels > PG_METRICS_MAX_LABELS)
		return pg_fail(PG_EINVAL, "metric %s: more than %d labels", name, PG_METRICS_MAX_LABELS);
	for (size_t i = 0; i < n_labels; i++)
		if (!valid_name(label_names[i], 0) || strncmp(label_names[i], "__", 2) == 0 ||
		    (kind == PG_METRIC_HISTOGRAM && strcmp(label_names[i], "le") == 0))
			return pg_fail(PG_EINVAL, "metric %s: invalid label name \"%s\"", name, label_names[i]);
	if (kind == PG_METRIC_HISTOGRAM) {
		if (n_buckets == 0 || n_buckets > PG_METRICS_MAX_BUCKETS)
			return pg_fail(PG_EINVAL, "histogram %s: needs 1..%d buckets", name, PG_METRICS_MAX_BUCKETS);
		for (size_t i = 0; i < n_buckets; i++)
			if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
				return pg_fail(PG_EINVAL, "histogram %s: buckets must be finite and strictly increasing", name);
	}

	pg_mutex_lock(&m->lock);
	for (struct pg_family *g = m->first; g; g = g->next) {
		if (strcmp(g->name, name) != 0)
			continue;
		if (same_shape(g, kind, label_names, n_labels))
			*out = g;
		else
			rc = pg_fail(PG_EEXIST, "metric %s is already declared with another type or labels", name);
		goto out;
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->name = strdup(name)) || !(f->help = strdup(help ? help : ""))) {
		rc = pg_fail(PG_ENOMEM, "out of memory declaring metric %s", name);
		goto out;
	}
	f->kind = kind;
	f->name_len = strlen(f->name);
	for (size_t i = 0; i < n_labels; i++) {
		if (!(f->labels[i] = strdup(label_names[i]))) {
			rc = pg_fail(PG_ENOMEM, "out of memory declaring metric %s", name);
			goto out;
		}
		f->n_labels++;
	}
	if (kind == PG_METRIC_HISTOGRAM) {
		memcpy(f->buckets, buckets, n_buckets * sizeof(*buckets));
		f->n_buckets = n_buckets;
	}
	if ((rc = render_head(f)) != PG_OK)
		goto out;
	if ((rc = pg_mutex_init(&f->lock)) != PG_OK)
		goto out;
	if (m->last)
		m->last->next = f;
	else
		m->first = f;
	m->last = f;
	*out = f;
	f = NULL;
out:
	pg_mutex_unlock(&m->lock);
	if (f) {
		for (size_t i = 0; i < f->n_labels; i++)
			free(f->labels[i]);
		free(f->name);
		free(f->help);
		free(f->head);
		free(f);
	}
	return rc;
}

/* FNV-1a over the label values, each terminated by a 0xff separator. */
static unsigned hash_values(const char *const *values, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
			h = (h ^ *p) * 16777619u;
		h = (h ^ 0xffu) * 16777619u;
	}
	return h % SERIES_HASH_BUCKETS;
}

static int values_equal(const struct pg_series *s, const char *const *values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->values[i], values[i]) != 0)
			return 0;
	return 1;
}

struct pg_series *pg_family_series(struct pg_family *f, const char *const *label_values)
{
	static const char *const none[1] = {""};
	const char *const *values = f->n_labels ? label_values : none;
	unsigned h = hash_values(values, f->n_labels);
	struct pg_series *s;

	pg_mutex_lock(&f->lock);
	for (s = f->hash[h]; s; s = s->hash_next)
		if (values_equal(s, values, f->n_labels))
			goto out;
	if (f->n_series >= PG_METRICS_MAX_SERIES)
		goto out; /* s is NULL: cardinality guard */
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	s->family = f;
	s->values = calloc(f->n_labels ? f->n_labels : 1, sizeof(char *));
	if (f->kind == PG_METRIC_HISTOGRAM)
		s->bucket_count = calloc(f->n_buckets, sizeof(*s->bucket_count));
	if (!s->values || (f->kind == PG_METRIC_HISTOGRAM && !s->bucket_count))
		goto fail;
	for (size_t i = 0; i < f->n_labels; i++)
		if (!(s->values[i] = strdup(values[i])))
			goto fail;
	if (render_labels(f, s) != PG_OK) {
		pg_err_clear();
		goto fail;
	}
	s->hash_next = f->hash[h];
	f->hash[h] = s;
	if (f->last)
		f->last->order_next = s;
	else
		f->first = s;
	f->last = s;
	f->n_series++;
	goto out;
fail:
	series_free(s, f->n_labels);
	s = NULL;
out:
	pg_mutex_unlock(&f->lock);
	return s;
}

void pg_series_add(struct pg_series *s, double v)
{
	if (!s || (s->family->kind == PG_METRIC_COUNTER && !(v >= 0)))
		return;
	atomic_add_double(&s->value, v);
}

void pg_series_set(struct pg_series *s, double v)
{
	if (!s || s->family->kind == PG_METRIC_HISTOGRAM)
		return;
	atomic_store_explicit(&s->value, dbits(v), memory_order_relaxed);
}

void pg_series_observe(struct pg_series *s, double v)
{
	const struct pg_family *f;
	size_t i;

	if (!s || s->family->kind != PG_METRIC_HISTOGRAM || isnan(v))
		return;
	f = s->family;
	for (i = 0; i < f->n_buckets && v > f->buckets[i]; i++)
		;
	if (i < f->n_buckets)
		atomic_fetch_add_explicit(&s->bucket_count[i], 1, memory_order_relaxed);
	atomic_add_double(&s->value, v);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

double pg_series_value(const struct pg_series *s)
{
	return s ? bitsd(atomic_load_explicit(&((struct pg_series *)s)->value, memory_order_relaxed)) : 0;
}

int pg_metrics_add_collector(struct pg_metrics *m, pg_metrics_collect_fn *fn, void *arg)
{
	return pg_metrics_add_collector_owned(m, fn, arg, NULL);
}

int pg_metrics_add_collector_owned(struct pg_metrics *m, pg_metrics_collect_fn *fn, void *arg,
				   void (*free_arg)(void *arg))
{
	int rc = PG_OK;

	pg_mutex_lock(&m->lock);
	if (m->n_collectors == MAX_COLLECTORS) {
		rc = pg_fail(PG_ENOMEM, "more than %d metrics collectors", MAX_COLLECTORS);
	} else {
		m->collectors[m->n_collectors].fn = fn;
		m->collectors[m->n_collectors].arg = arg;
		m->collectors[m->n_collectors].free_arg = free_arg;
		m->n_collectors++;
	}
	pg_mutex_unlock(&m->lock);
	if (rc != PG_OK && free_arg)
		free_arg(arg);
	return rc;
}

/* Every sample line, in the text format 0.0.4: name, {labels[,le="b"]},
 * value. Values are written by pg_fmtnum (src/util/fmtnum.h): the shortest
 * digits that read back exactly, as Go's client writes them. The line's
 * length is known up front: one bounds check, then plain copies. */
static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static int put_sample(struct pg_buf *b, const struct pg_family *f, const char *suffix,
		      const struct pg_series *s, const char *le, const char *value, size_t value_len)
{
	size_t suffix_len = suffix ? strlen(suffix) : 0, le_len = le ? strlen(le) : 0;
	bool braces = s->labels_len || le;
	size_t n = f->name_len + suffix_len + (braces ? 2 : 0) + s->labels_len +
		   (le ? le_len + 6 : 0) + 1 + value_len + 1;
	int rc = pg_buf_reserve(b, n);
	char *p;

	if (rc != PG_OK)
		return rc;
	p = put(b->data + b->len, f->name, f->name_len);
	if (suffix)
		p = put(p, suffix, suffix_len);
	if (braces) {
		*p++ = '{';
		p = put(p, s->labels, s->labels_len);
		if (le) {
			if (s->labels_len)
				*p++ = ',';
			p = put(p, "le=\"", 4);
			p = put(p, le, le_len);
			*p++ = '"';
		}
		*p++ = '}';
	}
	*p++ = ' ';
	p = put(p, value, value_len);
	*p++ = '\n';
	*p = '\0';
	b->len = (size_t)(p - b->data);
	return PG_OK;
}

static int render_series(struct pg_buf *b, const struct pg_family *f, struct pg_series *s)
{
	char v[PG_FMTNUM_MAX];
	uint64_t cum = 0, count;
	int rc = PG_OK;

	if (f->kind != PG_METRIC_HISTOGRAM)
		return put_sample(b, f, NULL, s, NULL, v, pg_fmtnum_double(v, pg_series_value(s)));
	/* Read count first: a concurrent observe may make the buckets sum to
	 * more than this count, never less, so +Inf uses the larger. */
	count = atomic_load_explicit(&s->count, memory_order_relaxed);
	for (size_t i = 0; i < f->n_buckets && rc == PG_OK; i++) {
		cum += atomic_load_explicit(&s->bucket_count[i], memory_order_relaxed);
		rc = put_sample(b, f, "_bucket", s, f->le[i], v, pg_fmtnum_u64(v, cum));
	}
	if (count > cum)
		cum = count;
	if (rc == PG_OK)
		rc = put_sample(b, f, "_bucket", s, "+Inf", v, pg_fmtnum_u64(v, cum));
	if (rc == PG_OK)
		rc = put_sample(b, f, "_sum", s, NULL, v, pg_fmtnum_double(v, pg_series_value(s)));
	if (rc == PG_OK)
		rc = put_sample(b, f, "_count", s, NULL, v, pg_fmtnum_u64(v, cum));
	return rc;
}

int pg_metrics_render(struct pg_metrics *m, struct pg_buf *out)
{
	int rc = PG_OK;

	pg_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_collectors; i++)
		m->collectors[i].fn(m->collectors[i].arg);
	for (struct pg_family *f = m->first; f && rc == PG_OK; f = f->next) {
		pg_mutex_lock(&f->lock);
		if (f->n_series > 0) {
			rc = pg_buf_puts(out, f->head);
			for (struct pg_series *s = f->first; s && rc == PG_OK; s = s->order_next)
				rc = render_series(out, f, s);
		}
		pg_mutex_unlock(&f->lock);
	}
	pg_mutex_unlock(&m->lock);
	return rc;
}
