/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes kube-proxy's conntrack settings to /proc/sys (and the hash size
 * module parameter) for proxy/kpconfig.c, which decides what they are.
 */
#include "src/ctsysctl.h"
#include "core/file.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_value(const char *path, int64_t *v)
{
	char *text = NULL, *end;
	size_t len;
	int r = file_read(path, 64, &text, &len);

	if (r < 0)
		return r;
	errno = 0;
	*v = strtoll(text, &end, 10);
	r = (end == text || errno) ? -EINVAL : 0;
	free(text);
	return r;
}

static int write_value(const char *path, int64_t v)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRId64 "\n", v);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n)
		r = errno ? -errno : -EIO;
	if (close(fd) < 0 && !r)
		r = -errno;
	return r;
}

int ct_sysctl_apply(const char *root, const struct kp_sysctl *l, size_t n)
{
	int failed = 0;

	for (size_t i = 0; i < n; i++) {
		char path[256];
		int64_t cur = 0;
		int r;

		snprintf(path, sizeof(path), "%s/%s", root, l[i].path);
		r = read_value(path, &cur);
		if (!r && (cur == l[i].value || (l[i].raise_only && cur >= l[i].value))) {
			log_v(2, "agent", "conntrack setting already in place", "sysctl=%s value=%" PRId64,
			      l[i].name, cur);
			continue;
		}
		if (!r)
			r = write_value(path, l[i].value);
		if (r) {
			failed++;
			log_warn("agent", "conntrack setting not applied: set it on the node",
				 "field=%s sysctl=%s value=%" PRId64 " err=%s", l[i].field, log_q(l[i].name),
				 l[i].value, strerror(-r));
			continue;
		}
		log_info("agent", "conntrack setting applied", "field=%s sysctl=%s value=%" PRId64 " was=%" PRId64,
			 l[i].field, log_q(l[i].name), l[i].value, cur);
	}
	return failed;
}
