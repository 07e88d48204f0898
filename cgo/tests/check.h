/*
 * Check macros shared by the C test programs: each check prints
 * "ok N - what" or "FAIL - what" and the program exits 1 on the first
 * failure.
 */
#ifndef CHECK_H
#define CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int checks_passed;

#define CHECK(cond, ...) do { \
	if (cond) { \
		checks_passed++; \
		printf("ok %d - ", checks_passed); \
		printf(__VA_ARGS__); \
		printf("\n"); \
	} else { \
		printf("FAIL - "); \
		printf(__VA_ARGS__); \
		printf(" (%s:%d)\n", __FILE__, __LINE__); \
		fflush(stdout); \
		exit(1); \
	} \
} while (0)

/* EXPECT checks that an integer expression has the wanted value. */
#define EXPECT(expr, want) do { \
	long long got_ = (long long) (expr); \
	CHECK(got_ == (long long) (want), "%s == %lld (got %lld)", \
			#expr, (long long) (want), got_); \
} while (0)

/* EXPECT_ERRNO checks that an integer expression, evaluated with errno
 * cleared, has the wanted value and sets errno to err. */
#define EXPECT_ERRNO(expr, want, err) do { \
	long long got_; \
	int errno_; \
	errno = 0; \
	got_ = (long long) (expr); \
	errno_ = errno; \
	CHECK(got_ == (long long) (want) && errno_ == (err), \
			"%s == %lld with errno %s (got %lld, errno %d: %s)", \
			#expr, (long long) (want), #err, got_, errno_, \
			strerror(errno_)); \
} while (0)

/* The same as CHECK, but silent on success: for checks in loops. */
#define QUIET_CHECK(cond, ...) do { \
	if (!(cond)) { \
		printf("FAIL - "); \
		printf(__VA_ARGS__); \
		printf(" (%s:%d)\n", __FILE__, __LINE__); \
		fflush(stdout); \
		exit(1); \
	} \
} while (0)

#define U(s) ((const unsigned char *) (s))

#endif
