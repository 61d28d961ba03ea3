/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Read a whole file into memory (configuration, kubeconfig, fixtures).
 */
#ifndef FERRY_CORE_FILE_H
#define FERRY_CORE_FILE_H

#include <stddef.h>

/* *out is NUL-terminated (the NUL is not counted in *len) and the caller's
 * to free. Returns 0, -EFBIG when the file holds more than max bytes, or
 * -errno. path "-" reads standard input. */
int file_read(const char *path, size_t max, char **out, size_t *len);

#endif
