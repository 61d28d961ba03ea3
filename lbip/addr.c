// SPDX-License-Identifier: GPL-2.0-or-later
/* struct lb_addr: compare, parse, print, to and from sockaddr. */
#include <arpa/inet.h>
#include <netinet/in.h>
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

void lb_addr_from_sockaddr(const struct sockaddr *sa, struct lb_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (sa && sa->sa_family == AF_INET) {
		a->family = 4;
		memcpy(a->b, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6) {
		a->family = 6;
		memcpy(a->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

/* Not family 4 is IPv6, as both BGP callers had it. */
socklen_t lb_addr_to_sockaddr(const struct lb_addr *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, a->b, 4);
		return sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, a->b, 16);
		return sizeof(*in6);
	}
}
