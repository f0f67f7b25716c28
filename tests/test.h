/*
 * test.h - a tiny assertion header for the unit test programs.
 *
 * CHECK(cond, ...) counts a pass or prints the failure with its location;
 * TEST_END(name) prints "name: N passed, N failed" and returns the exit
 * status from main().
 */
#ifndef IMGSRV_TEST_H
#define IMGSRV_TEST_H

#include <stdio.h>
#include <string.h>

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			test_passed++;                                     \
		} else {                                                   \
			test_failed++;                                     \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__,      \
				__LINE__, #cond);                          \
			fprintf(stderr, " " __VA_ARGS__);                  \
			fputc('\n', stderr);                               \
		}                                                          \
	} while (0)

#define CHECK_STR(a, b)                                                    \
	CHECK(strcmp((a), (b)) == 0, "'%s' != '%s'", (a), (b))

#define CHECK_INT(a, b)                                                    \
	CHECK((long long)(a) == (long long)(b), "%lld != %lld",            \
	      (long long)(a), (long long)(b))

#define TEST_END(name)                                                     \
	(printf("%s: %d passed, %d failed\n", (name), test_passed,         \
		test_failed),                                              \
	 test_failed ? 1 : 0)

#endif
