/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "src/kpconfig_file.h"
#include "core/file.h"
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KPCONFIG_MAX (16u << 20)

int kp_config_load(const char *path, bool strict, struct kp_config *out, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int rc;

	/* file_read takes "-" for stdin; --config names a file */
	rc = file_read(strcmp(path, "-") ? path : "./-", KPCONFIG_MAX, &buf, &len);

	if (rc < 0) {
		if (err)
			snprintf(err, errlen, "%s: %s", path, rc == -EFBIG ? "too large" : strerror(-rc));
		log_err("kpconfig", "cannot read configuration", "path=%s err=%s", log_q(path),
			log_q(strerror(-rc)));
		return rc;
	}
	rc = kp_config_parse(buf, len, strict, out, err, errlen);
	free(buf);
	return rc;
}
