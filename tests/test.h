/*
 * test.h - a tiny assertion header for the unit test programs.
 *
 * CHECK(cond, ...) counts a pass or prints the failure with its location;
 * SKIP(desc, ...) counts a check that cannot run here (it needs root, a
 * tool is missing) and prints "ok - desc # SKIP reason", the reason given
 * printf-style: a skip is neither a pass nor a failure. TEST_END(name)
 * prints "name: N passed, N failed", then ", N skipped" when some were,
 * and returns the exit status from main(): 1 if any check failed.
 */
#ifndef IMGSRV_TEST_H
#define IMGSRV_TEST_H

#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_skipped;

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

/* Each argument is evaluated once: a call with side effects is fine. */
#define CHECK_INT(a, b)                                                    \
	do {                                                               \
		long long got_i_ = (long long)(a), want_i_ = (long long)(b); \
		CHECK(got_i_ == want_i_, "%s is %lld, not %lld", #a,       \
		      got_i_, want_i_);                                    \
	} while (0)

#define SKIP(desc, ...)                                                    \
	do {                                                               \
		test_skipped++;                                            \
		printf("ok - %s # SKIP ", (desc));                         \
		printf(__VA_ARGS__);                                       \
		putchar('\n');                                             \
	} while (0)

#define TEST_END(name)                                                     \
	(printf("%s: %d passed, %d failed", (name), test_passed,           \
		test_failed),                                              \
	 test_skipped ? printf(", %d skipped", test_skipped) : 0,          \
	 putchar('\n'), test_failed ? 1 : 0)

#endif
