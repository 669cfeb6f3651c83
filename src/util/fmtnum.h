/* Numbers as text without printf's per-call parsing: integers digit by
 * digit, doubles as the shortest decimal that reads back as the same double.
 *
 * pg_fmtnum_double writes what Go's strconv.FormatFloat(v, 'g', -1, 64)
 * writes except for the switch to exponent form, taken at an exponent below
 * -4 or at 21 and above (as Go's fmt %v, which the Prometheus text format
 * follows): "0.1", "1e+21", "1.5e-07", "NaN", "+Inf", "-Inf", "-0".
 *
 * Both write into out (at least PG_FMTNUM_MAX bytes), NUL-terminate and
 * return the length. Thread-safe, no allocation. */
#ifndef PG_UTIL_FMTNUM_H
#define PG_UTIL_FMTNUM_H

#include <stddef.h>
#include <stdint.h>

#define PG_FMTNUM_MAX 32

size_t pg_fmtnum_u64(char *out, uint64_t v);
size_t pg_fmtnum_double(char *out, double v);

#endif
