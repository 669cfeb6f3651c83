/* The clocks; see clock.h. */
#include "src/util/clock.h"

#define NS_PER_S 1000000000LL

static int64_t ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

int64_t pg_clock_mono_ns(void)
{
	return ns(CLOCK_MONOTONIC);
}

int64_t pg_clock_mono_ms(void)
{
	return ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t pg_clock_wall_ns(void)
{
	return ns(CLOCK_REALTIME);
}

struct timespec pg_clock_deadline(clockid_t clk, int64_t ms)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= NS_PER_S) {
		ts.tv_sec++;
		ts.tv_nsec -= NS_PER_S;
	}
	return ts;
}
