/* Metrics registry and the Prometheus text exposition format (version 0.0.4).
 *
 * A registry holds families (one metric name, its HELP, its label names);
 * a family holds series (one set of label values). Series are found or
 * created on first use and live as long as the registry, so callers may keep
 * the returned pointer and update it without locking: updates are atomic.
 *
 * Collectors are callbacks run at render time, for values that are cheaper to
 * read on demand (process CPU, resident memory, object counts).
 *
 * Ownership: the registry owns families and series; pg_metrics_free releases
 * all of them. Every function is thread-safe. */
#ifndef PG_METRICS_METRICS_H
#define PG_METRICS_METRICS_H

#include <stddef.h>

#include "src/util/buf.h"
#include "src/util/err.h"

#define PG_METRICS_MAX_LABELS 8
#define PG_METRICS_MAX_BUCKETS 16
/* Series per family; beyond it pg_family_series returns NULL (cardinality guard). */
#define PG_METRICS_MAX_SERIES 10000

struct pg_metrics;
struct pg_family;
struct pg_series;

enum pg_metric_kind { PG_METRIC_COUNTER, PG_METRIC_GAUGE, PG_METRIC_HISTOGRAM };

PG_WUR int pg_metrics_new(struct pg_metrics **out);
void pg_metrics_free(struct pg_metrics **pp);

/* Declares a family. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*; counters
 * should end in _total. `buckets` (strictly increasing upper bounds, +Inf
 * implied) is used by histograms only. Declaring the same name twice returns
 * the existing family if kind and labels match, PG_EEXIST otherwise. */
PG_WUR int pg_metrics_family(struct pg_metrics *m, enum pg_metric_kind kind, const char *name,
			     const char *help, const char *const *label_names, size_t n_labels,
			     const double *buckets, size_t n_buckets, struct pg_family **out);

/* Finds or creates the series with these label values (n_labels of them, in
 * the family's order; values are escaped on output). NULL on allocation
 * failure or when the family reached PG_METRICS_MAX_SERIES. */
struct pg_series *pg_family_series(struct pg_family *f, const char *const *label_values);

/* Counter: add a non-negative amount. Gauge: add any amount, or set. */
void pg_series_add(struct pg_series *s, double v);
void pg_series_set(struct pg_series *s, double v);
/* Histogram: record one observation. */
void pg_series_observe(struct pg_series *s, double v);
/* The current value of a counter or gauge (for tests and collectors). */
double pg_series_value(const struct pg_series *s);

/* A collector updates gauges/counters just before each render. It runs with
 * the registry lock held: it may update series (and create them through
 * pg_family_series) but must not call pg_metrics_family. */
typedef void pg_metrics_collect_fn(void *arg);
PG_WUR int pg_metrics_add_collector(struct pg_metrics *m, pg_metrics_collect_fn *fn, void *arg);
/* Same, and the registry owns `arg`: pg_metrics_free calls free_arg(arg)
 * (also when this call fails, so the caller never leaks it). */
PG_WUR int pg_metrics_add_collector_owned(struct pg_metrics *m, pg_metrics_collect_fn *fn, void *arg,
					  void (*free_arg)(void *arg));

/* Runs the collectors and appends the whole registry in text format 0.0.4. */
PG_WUR int pg_metrics_render(struct pg_metrics *m, struct pg_buf *out);

/* Content-Type of the rendered text. */
#define PG_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
