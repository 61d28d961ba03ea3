// SPDX-License-Identifier: GPL-2.0-or-later
/* struct lb_addr: compare, parse, print. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "lbip/config.h"

static size_t addr_len(const struct lb_addr *a)
{
	return a->family == 4 ? 4 : a->family == 6 ? 16 : 0;
}

/* IPv4 sorts before IPv6; within a family, numeric order. */
int lb_addr_cmp(const struct lb_addr *a, const struct lb_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->b, b->b, addr_len(a));
}

int lb_addr_parse(const char *s, struct lb_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, out->b) == 1) {
		out->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->b) == 1) {
		/* An IPv4-mapped address is the IPv4 address, as Go's net.ParseIP
		 * (and so MetalLB) treats it. */
		static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

		if (!memcmp(out->b, mapped, sizeof(mapped))) {
			memmove(out->b, out->b + 12, 4);
			memset(out->b + 4, 0, 12);
			out->family = 4;
			return 0;
		}
		out->family = 6;
		return 0;
	}
	memset(out, 0, sizeof(*out));
	return -EINVAL;
}

void lb_addr_format(const struct lb_addr *a, char *buf, size_t len)
{
	if (!len)
		return;
	buf[0] = 0;
	if (a->family == 4)
		inet_ntop(AF_INET, a->b, buf, len);
	else if (a->family == 6)
		inet_ntop(AF_INET6, a->b, buf, len);
}
