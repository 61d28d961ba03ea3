/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kube-proxy's --config from a file: the read here, the parse in
 * proxy/kpconfig.c (which touches no file).
 */
#ifndef FERRY_SRC_KPCONFIG_FILE_H
#define FERRY_SRC_KPCONFIG_FILE_H

#include "proxy/kpconfig.h"

/* kp_config_parse of the file's text; -errno when it cannot be read (err
 * says "path: reason"), -EFBIG past 16 MiB. */
int kp_config_load(const char *path, bool strict, struct kp_config *out, char *err, size_t errlen);

#endif
