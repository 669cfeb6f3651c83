/* A minimal unit-test harness: each tests/unit/<module>_test.c has a main()
 * that runs its cases with RUN() and ends with TEST_END(), which prints the
 * closing line "N passed, N failed" and returns non-zero on any failure. */
#ifndef PG_TESTS_TEST_H
#define PG_TESTS_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failed_checks;
static int test_passed, test_failed;

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			test_failed_checks++;                                          \
		}                                                                      \
	} while (0)

#define CHECK_INT(a, b)                                                                \
	do {                                                                           \
		long long _a = (long long)(a), _b = (long long)(b);                   \
		if (_a != _b) {                                                        \
			fprintf(stderr, "%s:%d: %s == %lld, want %lld\n", __FILE__, __LINE__, #a, _a, _b); \
			test_failed_checks++;                                          \
		}                                                                      \
	} while (0)

#define CHECK_STR(a, b)                                                                \
	do {                                                                           \
		const char *_a = (a), *_b = (b);                                       \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                               \
			fprintf(stderr, "%s:%d: %s == \"%s\", want \"%s\"\n", __FILE__, __LINE__, #a, \
				_a ? _a : "(null)", _b ? _b : "(null)");                \
			test_failed_checks++;                                          \
		}                                                                      \
	} while (0)

/* Passes when `needle` occurs in `hay`. */
#define CHECK_CONTAINS(hay, needle)                                                    \
	do {                                                                           \
		const char *_h = (hay), *_n = (needle);                                \
		if (!_h || !strstr(_h, _n)) {                                          \
			fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
				_h ? _h : "(null)", _n);                               \
			test_failed_checks++;                                          \
		}                                                                      \
	} while (0)

#define RUN(fn)                                                                        \
	do {                                                                           \
		int _before = test_failed_checks;                                      \
		fn();                                                                  \
		if (test_failed_checks == _before) {                                   \
			test_passed++;                                                 \
		} else {                                                               \
			test_failed++;                                                 \
			fprintf(stderr, "FAIL %s\n", #fn);                             \
		}                                                                      \
	} while (0)

#define TEST_END()                                                                     \
	do {                                                                           \
		printf("%d passed, %d failed\n", test_passed, test_failed);            \
		return test_failed ? 1 : 0;                                            \
	} while (0)

#endif
