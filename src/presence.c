/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "src/presence.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char name[] = "ferry-agent";

static socklen_t addr(struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	/* sun_path[0] stays 0: the abstract namespace */
	memcpy(a->sun_path + 1, name, sizeof(name) - 1);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + sizeof(name) - 1);
}

int presence_claim(void)
{
	struct sockaddr_un a;
	socklen_t len = addr(&a);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, len) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

bool presence_held(void)
{
	int fd = presence_claim();

	if (fd == -EADDRINUSE)
		return true;
	if (fd >= 0)
		close(fd);
	return false;
}
