/* Process metrics: names, types and sanity bounds of the values. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/metrics/process.h"
#include "tests/unit/test.h"

/* The value of the sample line "name value" in text, or -1e300 if absent. */
static double sample(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	return -1e300;
}

static void test_values_are_sane(void)
{
	struct pg_metrics *m = NULL;
	struct pg_buf b;
	double now = (double)time(NULL);
	volatile double spin = 0;

	pg_buf_init(&b, 1 << 20);
	CHECK_INT(pg_metrics_new(&m), PG_OK);
	CHECK_INT(pg_metrics_process_register(m), PG_OK);
	for (int i = 0; i < 2000000; i++)
		spin += i; /* some CPU time so the counter can be > 0 */
	CHECK(spin > 0);
	CHECK_INT(pg_metrics_render(m, &b), PG_OK);
	CHECK_CONTAINS(b.data, "# TYPE process_cpu_seconds_total counter\n");
	CHECK_CONTAINS(b.data, "# TYPE process_resident_memory_bytes gauge\n");
	CHECK_CONTAINS(b.data, "# TYPE process_start_time_seconds gauge\n");
	CHECK_CONTAINS(b.data, "pprofgate_build_info{version=\"" PG_VERSION "\",compiler=\"");
	CHECK(sample(b.data, "process_cpu_seconds_total") >= 0);
	CHECK(sample(b.data, "process_cpu_seconds_total") < 3600);
	CHECK(sample(b.data, "process_resident_memory_bytes") > 100 * 1024);
	CHECK(sample(b.data, "process_virtual_memory_bytes") >= sample(b.data, "process_resident_memory_bytes"));
	CHECK(sample(b.data, "process_open_fds") >= 3);
	CHECK(sample(b.data, "process_max_fds") >= sample(b.data, "process_open_fds"));
	/* Started within the last minute (and not in the future, allowing for
	 * the tick granularity of starttime). */
	CHECK(sample(b.data, "process_start_time_seconds") > now - 60);
	CHECK(sample(b.data, "process_start_time_seconds") <= now + 1);
	/* A second render refreshes the values again. */
	pg_buf_reset(&b);
	CHECK_INT(pg_metrics_render(m, &b), PG_OK);
	CHECK(sample(b.data, "process_open_fds") >= 3);
	pg_buf_free(&b);
	pg_metrics_free(&m);
	CHECK(m == NULL);
}

static void test_open_fds_tracks_files(void)
{
	struct pg_metrics *m = NULL;
	struct pg_buf b;
	double before, after;
	FILE *f[4];

	pg_buf_init(&b, 1 << 20);
	CHECK_INT(pg_metrics_new(&m), PG_OK);
	CHECK_INT(pg_metrics_process_register(m), PG_OK);
	CHECK_INT(pg_metrics_render(m, &b), PG_OK);
	before = sample(b.data, "process_open_fds");
	for (int i = 0; i < 4; i++)
		f[i] = fopen("/dev/null", "r");
	pg_buf_reset(&b);
	CHECK_INT(pg_metrics_render(m, &b), PG_OK);
	after = sample(b.data, "process_open_fds");
	CHECK(after == before + 4);
	for (int i = 0; i < 4; i++)
		if (f[i])
			fclose(f[i]);
	pg_buf_free(&b);
	pg_metrics_free(&m);
}

int main(void)
{
	RUN(test_values_are_sane);
	RUN(test_open_fds_tracks_files);
	TEST_END();
}
