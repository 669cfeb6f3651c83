#include "src/util/fmtnum.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t pg_fmtnum_u64(char *out, uint64_t v)
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}

/* The shortest digits: the first of 15, 16, 17 significant digits whose
 * correctly rounded decimal (glibc's %e) reads back as v. Why 15 first and
 * nothing shorter: a double's neighbours are at most 2^-53 |v| away, less
 * than half a unit in the 15th digit (5e-16 |v|), so when any decimal of
 * 15 digits or fewer reads back as v, rounding v to 15 digits gives exactly
 * that decimal padded with zeros; stripping the zeros gives the shortest.
 * That is what trying 1, 2, ... 15 digits in turn would find, at one
 * conversion instead of up to 15 (tests/unit/fmtnum_test.c compares the
 * two on random doubles). 17 digits always read back (IEEE 754 §5.12.2).
 * *exp10: the decimal exponent of the first digit; returns the digit count. */
static size_t shortest_digits(double v, char *digits, int *exp10)
{
	char tmp[40];
	const char *e;
	size_t n = 0;

	/* Subnormals have fewer significant bits: the argument above does not
	 * hold, so they take the long way (1 to 17 digits). */
	for (int prec = v < DBL_MIN ? 0 : 14; prec <= 16; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec, v);
		if (prec == 16 || strtod(tmp, NULL) == v)
			break;
	}
	/* tmp is "d.ddde[+-]XX" (v is finite, non-zero, positive). */
	e = strchr(tmp, 'e');
	for (const char *p = tmp; p < e; p++)
		if (*p != '.')
			digits[n++] = *p;
	while (n > 1 && digits[n - 1] == '0')
		n--;
	*exp10 = (int)strtol(e + 1, NULL, 10);
	return n;
}

size_t pg_fmtnum_double(char *out, double v)
{
	char d[20];
	size_t n, len = 0;
	int x;

	if (isnan(v)) {
		memcpy(out, "NaN", 4);
		return 3;
	}
	if (isinf(v)) {
		memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
		return 4;
	}
	if (v == 0) {
		if (signbit(v)) {
			memcpy(out, "-0", 3);
			return 2;
		}
		memcpy(out, "0", 2);
		return 1;
	}
	if (v < 0) {
		out[len++] = '-';
		v = -v;
	}
	/* Whole numbers below 2^53 are exact: their digits are the shortest.
	 * From 2^53 to 1e21 every double is a whole number, written in full
	 * (its exact value, as %.0f and the renderer always did). */
	if (v < 9007199254740992.0 && v == floor(v))
		return len + pg_fmtnum_u64(out + len, (uint64_t)v);
	if (v >= 9007199254740992.0 && v < 1e21)
		return len + (size_t)snprintf(out + len, PG_FMTNUM_MAX - len, "%.0f", v);
	n = shortest_digits(v, d, &x);
	if (x < -4 || x >= 21) {
		out[len++] = d[0];
		if (n > 1) {
			out[len++] = '.';
			memcpy(out + len, d + 1, n - 1);
			len += n - 1;
		}
		out[len++] = 'e';
		out[len++] = x < 0 ? '-' : '+';
		x = abs(x);
		if (x >= 100)
			out[len++] = (char)('0' + x / 100);
		out[len++] = (char)('0' + x / 10 % 10);
		out[len++] = (char)('0' + x % 10);
	} else if (x < 0) {
		out[len++] = '0';
		out[len++] = '.';
		for (int i = -1; i > x; i--)
			out[len++] = '0';
		memcpy(out + len, d, n);
		len += n;
	} else {
		/* x + 1 integer digits (zero-padded), then the rest after a point. */
		for (size_t i = 0; i <= (size_t)x; i++)
			out[len++] = i < n ? d[i] : '0';
		if (n > (size_t)x + 1) {
			out[len++] = '.';
			memcpy(out + len, d + x + 1, n - (size_t)x - 1);
			len += n - (size_t)x - 1;
		}
	}
	out[len] = '\0';
	return len;
}
