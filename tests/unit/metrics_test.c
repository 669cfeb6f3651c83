#include "src/metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "tests/unit/test.h"

static char *render(struct pg_metrics *m)
{
	struct pg_buf b;

	pg_buf_init(&b, 1 << 20);
	if (pg_metrics_render(m, &b) != PG_OK) {
		pg_buf_free(&b);
		return NULL;
	}
	return pg_buf_steal(&b, NULL);
}

static void test_counter_gauge_text(void)
{
	struct pg_metrics *m = NULL;
	struct pg_family *c = NULL, *g = NULL;
	const char *labels[] = {"method", "status"};
	const char *v1[] = {"Add", "ok"};
	char *text;

	CHECK_INT(pg_metrics_new(&m), PG_OK);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_COUNTER, "calls_total", "All calls.", labels, 2,
				    NULL, 0, &c), PG_OK);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_GAUGE, "temp", "A \\ help\nline.", NULL, 0,
				    NULL, 0, &g), PG_OK);
	pg_series_add(pg_family_series(c, v1), 2);
	pg_series_add(pg_family_series(c, v1), 1);
	pg_series_add(pg_family_series(c, v1), -5); /* counters never go down */
	pg_series_set(pg_family_series(g, NULL), 0.1);
	text = render(m);
	CHECK_STR(text, "# HELP calls_total All calls.\n"
			"# TYPE calls_total counter\n"
			"calls_total{method=\"Add\",status=\"ok\"} 3\n"
			"# HELP temp A \\\\ help\\nline.\n"
			"# TYPE temp gauge\n"
			"temp 0.1\n");
	free(text);
	pg_metrics_free(&m);
	CHECK(m == NULL);
	pg_metrics_free(&m);
}

static void test_label_escaping_and_specials(void)
{
	struct pg_metrics *m = NULL;
	struct pg_family *g = NULL;
	const char *labels[] = {"id"};
	const char *v[] = {"a\"b\\c\nd"};
	const char *v2[] = {"inf"};
	const char *v3[] = {"nan"};
	char *text;

	CHECK_INT(pg_metrics_new(&m), PG_OK);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_GAUGE, "g", "h", labels, 1, NULL, 0, &g), PG_OK);
	pg_series_set(pg_family_series(g, v), 1e21);
	pg_series_set(pg_family_series(g, v2), INFINITY);
	pg_series_set(pg_family_series(g, v3), NAN);
	text = render(m);
	CHECK_CONTAINS(text, "g{id=\"a\\\"b\\\\c\\nd\"} 1e+21\n");
	CHECK_CONTAINS(text, "g{id=\"inf\"} +Inf\n");
	CHECK_CONTAINS(text, "g{id=\"nan\"} NaN\n");
	free(text);
	pg_metrics_free(&m);
}

static void test_histogram(void)
{
	struct pg_metrics *m = NULL;
	struct pg_family *h = NULL;
	const double buckets[] = {0.001, 0.01, 0.1, 1, 10};
	const char *labels[] = {"m"};
	const char *v[] = {"x"};
	struct pg_series *s;
	char *text;

	CHECK_INT(pg_metrics_new(&m), PG_OK);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_HISTOGRAM, "d", "Duration.", labels, 1, buckets, 5,
				    &h), PG_OK);
	s = pg_family_series(h, v);
	pg_series_observe(s, 0.0005);
	pg_series_observe(s, 0.001); /* le is inclusive */
	pg_series_observe(s, 0.5);
	pg_series_observe(s, 100);
	text = render(m);
	CHECK_CONTAINS(text, "# TYPE d histogram\n");
	CHECK_CONTAINS(text, "d_bucket{m=\"x\",le=\"0.001\"} 2\n");
	CHECK_CONTAINS(text, "d_bucket{m=\"x\",le=\"0.1\"} 2\n");
	CHECK_CONTAINS(text, "d_bucket{m=\"x\",le=\"1\"} 3\n");
	CHECK_CONTAINS(text, "d_bucket{m=\"x\",le=\"10\"} 3\n");
	CHECK_CONTAINS(text, "d_bucket{m=\"x\",le=\"+Inf\"} 4\n");
	CHECK_CONTAINS(text, "d_sum{m=\"x\"} 100.5015\n");
	CHECK_CONTAINS(text, "d_count{m=\"x\"} 4\n");
	free(text);
	pg_metrics_free(&m);
}

static void test_declaration_errors(void)
{
	struct pg_metrics *m = NULL;
	struct pg_family *f = NULL, *f2 = NULL;
	const char *bad_label[] = {"__reserved"};
	const char *le[] = {"le"};
	const double unsorted[] = {1, 0.5};
	const char *l1[] = {"a"};

	CHECK_INT(pg_metrics_new(&m), PG_OK);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_GAUGE, "9bad", "", NULL, 0, NULL, 0, &f), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "9bad");
	CHECK_INT(pg_metrics_family(m, PG_METRIC_GAUGE, "ok", "", bad_label, 1, NULL, 0, &f), PG_EINVAL);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_HISTOGRAM, "h", "", le, 1, unsorted, 1, &f), PG_EINVAL);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_HISTOGRAM, "h", "", NULL, 0, unsorted, 2, &f), PG_EINVAL);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_HISTOGRAM, "h", "", NULL, 0, NULL, 0, &f), PG_EINVAL);
	/* Same name: same shape returns the family, another shape is refused. */
	CHECK_INT(pg_metrics_family(m, PG_METRIC_GAUGE, "g", "", l1, 1, NULL, 0, &f), PG_OK);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_GAUGE, "g", "", l1, 1, NULL, 0, &f2), PG_OK);
	CHECK(f == f2);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_COUNTER, "g", "", l1, 1, NULL, 0, &f2), PG_EEXIST);
	pg_metrics_free(&m);
}

static void test_cardinality_guard(void)
{
	struct pg_metrics *m = NULL;
	struct pg_family *f = NULL;
	const char *labels[] = {"i"};
	char v[16];
	const char *vp[] = {v};
	int made = 0;

	CHECK_INT(pg_metrics_new(&m), PG_OK);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_COUNTER, "c_total", "", labels, 1, NULL, 0, &f), PG_OK);
	for (int i = 0; i < PG_METRICS_MAX_SERIES + 10; i++) {
		snprintf(v, sizeof(v), "%d", i);
		if (pg_family_series(f, vp))
			made++;
	}
	CHECK_INT(made, PG_METRICS_MAX_SERIES);
	snprintf(v, sizeof(v), "%d", 7);
	CHECK(pg_family_series(f, vp) != NULL); /* existing series still found */
	pg_metrics_free(&m);
}

static void collect(void *arg)
{
	pg_series_set(arg, 42);
}

static void test_collector(void)
{
	struct pg_metrics *m = NULL;
	struct pg_family *f = NULL;
	char *text;

	CHECK_INT(pg_metrics_new(&m), PG_OK);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_GAUGE, "answer", "", NULL, 0, NULL, 0, &f), PG_OK);
	CHECK_INT(pg_metrics_add_collector(m, collect, pg_family_series(f, NULL)), PG_OK);
	text = render(m);
	CHECK_CONTAINS(text, "answer 42\n");
	free(text);
	pg_metrics_free(&m);
}

static struct pg_family *shared_family;

static void *adder(void *arg)
{
	const char *v[] = {"x"};

	(void)arg;
	for (int i = 0; i < 100000; i++)
		pg_series_add(pg_family_series(shared_family, v), 1);
	return NULL;
}

static void test_concurrent_adds(void)
{
	struct pg_metrics *m = NULL;
	const char *labels[] = {"l"};
	const char *v[] = {"x"};
	pthread_t t[4];

	CHECK_INT(pg_metrics_new(&m), PG_OK);
	CHECK_INT(pg_metrics_family(m, PG_METRIC_COUNTER, "n_total", "", labels, 1, NULL, 0,
				    &shared_family), PG_OK);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, adder, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK(pg_series_value(pg_family_series(shared_family, v)) == 400000.0);
	pg_metrics_free(&m);
}

int main(void)
{
	RUN(test_counter_gauge_text);
	RUN(test_label_escaping_and_specials);
	RUN(test_histogram);
	RUN(test_declaration_errors);
	RUN(test_cardinality_guard);
	RUN(test_collector);
	RUN(test_concurrent_adds);
	TEST_END();
}
