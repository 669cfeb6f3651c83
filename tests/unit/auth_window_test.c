/* The diagnostics window, with time driven by the test. */
#include <pthread.h>
#include <string.h>

#include "auth/window.h"
#include "tests/unit/test.h"

#define T0 1000000

static void test_new_errors(void)
{
	struct pg_auth_window *w = NULL;

	CHECK_INT(pg_auth_window_new(0, 0, &w), PG_EINVAL);
	CHECK_INT(pg_auth_window_new(1000, -1, &w), PG_EINVAL);
	CHECK_INT(pg_auth_window_new(1000, 2000, &w), PG_EINVAL);
	CHECK(w == NULL);
}

static void test_lifecycle(void)
{
	struct pg_auth_window *w = NULL;
	struct pg_auth_window_status st;

	CHECK_INT(pg_auth_window_new(3600000, 5000, &w), PG_OK);
	/* Closed by default. */
	CHECK(!pg_auth_window_is_open_for(w, "profile", T0));
	CHECK_INT(pg_auth_window_time_left_ms(w, T0), 0);
	pg_auth_window_status(w, T0, &st);
	CHECK(!st.open);
	/* Bounds and required fields. */
	CHECK_INT(pg_auth_window_open(w, T0, 3600001, "r", "alice", NULL, 0), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "1..3600000 ms");
	CHECK_INT(pg_auth_window_open(w, T0, 0, "r", "alice", NULL, 0), PG_EINVAL);
	CHECK_INT(pg_auth_window_open(w, T0, 1000, "", "alice", NULL, 0), PG_EINVAL);
	CHECK_INT(pg_auth_window_open(w, T0, 1000, "r", NULL, NULL, 0), PG_EINVAL);
	CHECK_INT(pg_auth_window_open(w, T0, 1000, "line\nbreak", "alice", NULL, 0), PG_EINVAL);
	CHECK(!pg_auth_window_is_open_for(w, "profile", T0));
	/* Open for 10 minutes, all profiles. */
	CHECK_INT(pg_auth_window_open(w, T0, 600000, "INC-42 latency", "jwt:alice", NULL, 0), PG_OK);
	CHECK(pg_auth_window_is_open_for(w, "profile", T0));
	CHECK(pg_auth_window_is_open_for(w, "heap", T0 + 599999));
	CHECK(!pg_auth_window_is_open_for(w, "heap", T0 + 600000));
	CHECK(!pg_auth_window_is_open_for(w, "heap", T0 - 1)); /* before it opened */
	CHECK_INT(pg_auth_window_time_left_ms(w, T0 + 100000), 500000);
	CHECK_INT(pg_auth_window_time_left_ms(w, T0 + 700000), 0);
	pg_auth_window_status(w, T0 + 1000, &st);
	CHECK(st.open);
	CHECK_STR(st.reason, "INC-42 latency");
	CHECK_STR(st.opener, "jwt:alice");
	CHECK_INT(st.left_ms, 599000);
	pg_auth_window_status(w, T0 + 600000, &st);
	CHECK(!st.open);
	/* Close. */
	pg_auth_window_close(w);
	CHECK(!pg_auth_window_is_open_for(w, "profile", T0 + 1));
	pg_auth_window_free(&w);
	CHECK(w == NULL);
	pg_auth_window_free(&w);
}

static void test_profiles(void)
{
	struct pg_auth_window *w = NULL;
	const char *const only[] = {"profile", "heap"};
	const char *const toolong[] = {"0123456789012345678901234567890123456789"};

	CHECK_INT(pg_auth_window_new(60000, 0, &w), PG_OK);
	CHECK_INT(pg_auth_window_open(w, T0, 60000, "r", "o", toolong, 1), PG_EINVAL);
	CHECK_INT(pg_auth_window_open(w, T0, 60000, "r", "o", only, 17), PG_EINVAL);
	CHECK_INT(pg_auth_window_open(w, T0, 60000, "r", "o", only, 2), PG_OK);
	CHECK(pg_auth_window_is_open_for(w, "profile", T0));
	CHECK(pg_auth_window_is_open_for(w, "heap", T0));
	CHECK(!pg_auth_window_is_open_for(w, "goroutine", T0));
	CHECK(!pg_auth_window_is_open_for(w, NULL, T0));
	/* Re-opening replaces the previous window. */
	CHECK_INT(pg_auth_window_open(w, T0, 1000, "r2", "o", NULL, 0), PG_OK);
	CHECK(pg_auth_window_is_open_for(w, "goroutine", T0));
	CHECK(!pg_auth_window_is_open_for(w, "profile", T0 + 1000));
	pg_auth_window_free(&w);
}

static void test_fit_capture(void)
{
	struct pg_auth_window *w = NULL;
	const char *const only[] = {"profile"};
	int64_t g = -1;

	CHECK_INT(pg_auth_window_new(3600000, 5000, &w), PG_OK);
	CHECK_INT(pg_auth_window_fit_capture(w, "profile", T0, 30000, &g), PG_AUTH_CAPTURE_REFUSED);
	CHECK_INT(g, 0);
	CHECK_INT(pg_auth_window_open(w, T0, 60000, "r", "o", only, 1), PG_OK);
	CHECK_INT(pg_auth_window_fit_capture(w, "profile", T0, 30000, &g), PG_AUTH_CAPTURE_OK);
	CHECK_INT(g, 30000);
	CHECK_INT(pg_auth_window_fit_capture(w, "profile", T0 + 30000, 30000, &g), PG_AUTH_CAPTURE_OK);
	CHECK_INT(g, 30000);
	CHECK_INT(pg_auth_window_fit_capture(w, "profile", T0 + 40000, 30000, &g),
		  PG_AUTH_CAPTURE_SHORTENED);
	CHECK_INT(g, 20000);
	CHECK_INT(pg_auth_window_fit_capture(w, "profile", T0 + 55000, 30000, &g),
		  PG_AUTH_CAPTURE_SHORTENED);
	CHECK_INT(g, 5000); /* exactly the minimum */
	CHECK_INT(pg_auth_window_fit_capture(w, "profile", T0 + 55001, 30000, &g),
		  PG_AUTH_CAPTURE_REFUSED);
	CHECK_INT(g, 0);
	/* A short capture still fits when less than the minimum remains. */
	CHECK_INT(pg_auth_window_fit_capture(w, "profile", T0 + 58000, 1000, &g), PG_AUTH_CAPTURE_OK);
	CHECK_INT(pg_auth_window_fit_capture(w, "heap", T0, 1000, &g), PG_AUTH_CAPTURE_REFUSED);
	CHECK_INT(pg_auth_window_fit_capture(w, "profile", T0, 0, &g), PG_AUTH_CAPTURE_REFUSED);
	CHECK_INT(pg_auth_window_fit_capture(w, "profile", T0 + 60000, 1, &g), PG_AUTH_CAPTURE_REFUSED);
	pg_auth_window_free(&w);
}

static struct pg_auth_window *shared;
static int thread_errors;

static void *hammer(void *arg)
{
	int64_t g;

	for (int i = 0; i < 2000; i++) {
		if ((long)arg == 0) {
			if (pg_auth_window_open(shared, T0, 60000, "race", "t", NULL, 0) != PG_OK)
				__atomic_add_fetch(&thread_errors, 1, __ATOMIC_RELAXED);
			pg_auth_window_close(shared);
		} else {
			(void)pg_auth_window_is_open_for(shared, "profile", T0 + i);
			(void)pg_auth_window_fit_capture(shared, "profile", T0 + i, 30000, &g);
			if (g != 0 && g != 30000)
				__atomic_add_fetch(&thread_errors, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t t[3];

	CHECK_INT(pg_auth_window_new(60000, 1000, &shared), PG_OK);
	for (long i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, hammer, (void *)i);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	CHECK_INT(thread_errors, 0);
	pg_auth_window_free(&shared);
}

int main(void)
{
	RUN(test_new_errors);
	RUN(test_lifecycle);
	RUN(test_profiles);
	RUN(test_fit_capture);
	RUN(test_threads);
	TEST_END();
}
