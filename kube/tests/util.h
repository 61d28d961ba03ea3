/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the kube/ tests: read a test data file. */
#ifndef FERRY_KUBE_TEST_UTIL_H
#define FERRY_KUBE_TEST_UTIL_H

#include "core/file.h"

#include <stdio.h>
#include <stdlib.h>

static const char *data_dir = ".";

static char *slurp(const char *name, size_t *len)
{
	char path[4096];
	char *buf;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", data_dir, name);
	if (file_read(path, 64u << 20, &buf, &n) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(2);
	}
	if (len)
		*len = n;
	return buf;
}

#endif
