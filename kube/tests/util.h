/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the kube/ tests: read a test data file. */
#ifndef FERRY_KUBE_TEST_UTIL_H
#define FERRY_KUBE_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

static const char *data_dir = ".";

static char *slurp(const char *name, size_t *len)
{
	char path[4096];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", data_dir, name);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n + 1);
	if (!buf || fread(buf, 1, n, f) != (size_t)n)
		exit(2);
	buf[n] = 0;
	fclose(f);
	if (len)
		*len = n;
	return buf;
}

#endif
