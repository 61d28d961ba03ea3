/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A minimal test harness: CHECK records a failure and goes on; a test
 * program returns test_done(), non-zero when anything failed. */
#ifndef FERRY_CORE_TEST_H
#define FERRY_CORE_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failures, test_checks;

#define CHECK(cond) do { test_checks++; if (!(cond)) { test_failures++; \
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (a), _b = (b); test_checks++; if (_a != _b) { \
	test_failures++; fprintf(stderr, "%s:%d: %s == %lld, want %lld\n", \
	__FILE__, __LINE__, #a, _a, _b); } } while (0)
#define CHECK_EQ_STR(a, b) do { const char *_a = (a), *_b = (b); test_checks++; \
	if (!_a || !_b || strcmp(_a, _b)) { test_failures++; \
	fprintf(stderr, "%s:%d: %s == \"%s\", want \"%s\"\n", __FILE__, __LINE__, #a, \
	_a ? _a : "(null)", _b ? _b : "(null)"); } } while (0)

static inline int test_done(const char *name)
{
	fprintf(stderr, "%s: %d checks, %d failed\n", name, test_checks, test_failures);
	return test_failures ? 1 : 0;
}

#endif
