#include "src/util/fmtnum.h"
#include "tests/unit/test.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The formatter this one replaced in the metrics renderer: try 1, 2, ... 17
 * significant digits until one reads back. Slow and obviously right. */
static void reference(char *out, size_t cap, double v)
{
	char tmp[64];
	int prec, exp10;

	if (isnan(v)) {
		snprintf(out, cap, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, cap, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) {
		snprintf(out, cap, "%s", signbit(v) ? "-0" : "0");
		return;
	}
	for (prec = 0; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	exp10 = (int)strtol(strchr(tmp, 'e') + 1, NULL, 10);
	if (exp10 < -4 || exp10 >= 21)
		snprintf(out, cap, "%s", tmp);
	else
		snprintf(out, cap, "%.*f", prec - exp10 > 0 ? prec - exp10 : 0, v);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	/* xorshift64*: reproducible, so a failure names the same value again. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

/* Finite doubles drawn from the shapes metrics carry: any bit pattern,
 * whole numbers, milliseconds as seconds, bytes, and small fractions. */
static double random_double(void)
{
	uint64_t r = next();
	double v;

	switch (r % 5) {
	case 0:
		do {
			uint64_t b = next();
			memcpy(&v, &b, sizeof(v));
		} while (!isfinite(v));
		return v;
	case 1:
		return (double)(int64_t)(next() >> (next() % 64));
	case 2:
		return (double)(next() % 10000000) / 1000.0;
	case 3:
		return (double)(next() % 100000) * pow(10, (double)((int)(next() % 40) - 20));
	default:
		return (double)(next() >> 11) / 9007199254740992.0;
	}
}

static void test_fixed(void)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
		{0.0, "0"},
		{1.0, "1"},
		{-1.0, "-1"},
		{0.1, "0.1"},
		{-2.5, "-2.5"},
		{123.456, "123.456"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{1.5e-7, "1.5e-07"},
		{1e20, "100000000000000000000"},
		{1e21, "1e+21"},
		{1.25e22, "1.25e+22"},
		{1e300, "1e+300"},
		{5e-324, "5e-324"},
		{DBL_MAX, "1.7976931348623157e+308"},
		{9007199254740992.0, "9007199254740992"},
		{18014398509481984.0, "18014398509481984"},
		{8.5771e20, "857710000000000065536"},
		{0.30000000000000004, "0.30000000000000004"},
		{1.0 / 3, "0.3333333333333333"},
		{3600.5, "3600.5"},
	};
	char out[PG_FMTNUM_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(pg_fmtnum_double(out, cases[i].v), strlen(cases[i].want));
		CHECK_STR(out, cases[i].want);
	}
	CHECK_INT(pg_fmtnum_double(out, -0.0), 2);
	CHECK_STR(out, "-0");
	pg_fmtnum_double(out, NAN);
	CHECK_STR(out, "NaN");
	pg_fmtnum_double(out, INFINITY);
	CHECK_STR(out, "+Inf");
	pg_fmtnum_double(out, -INFINITY);
	CHECK_STR(out, "-Inf");
	CHECK_INT(pg_fmtnum_u64(out, 0), 1);
	CHECK_STR(out, "0");
	CHECK_INT(pg_fmtnum_u64(out, UINT64_MAX), 20);
	CHECK_STR(out, "18446744073709551615");
}

/* Every output reads back as the same double (and is what %.17g reads back
 * as): two million draws. */
static void test_round_trip(void)
{
	char out[PG_FMTNUM_MAX], ref[64];
	long bad = 0;

	for (long i = 0; i < 2000000; i++) {
		double v = random_double();
		size_t n = pg_fmtnum_double(out, v);

		snprintf(ref, sizeof(ref), "%.17g", v);
		if (n != strlen(out) || n >= PG_FMTNUM_MAX || strtod(out, NULL) != strtod(ref, NULL)) {
			if (bad++ < 5)
				fprintf(stderr, "round trip: %s -> \"%s\"\n", ref, out);
		}
	}
	CHECK_INT(bad, 0);
}

/* Byte for byte what the 1..17-digit search writes: two hundred thousand draws. */
static void test_same_as_reference(void)
{
	char out[PG_FMTNUM_MAX], ref[400];
	long bad = 0;

	for (long i = 0; i < 200000; i++) {
		double v = random_double();

		pg_fmtnum_double(out, v);
		reference(ref, sizeof(ref), v);
		if (strcmp(out, ref) != 0 && bad++ < 5)
			fprintf(stderr, "%.17g: \"%s\", reference \"%s\"\n", v, out, ref);
	}
	CHECK_INT(bad, 0);
}

int main(void)
{
	RUN(test_fixed);
	RUN(test_round_trip);
	RUN(test_same_as_reference);
	TEST_END();
}
