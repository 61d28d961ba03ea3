/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stale UDP conntrack clean-up at scale: N entries DNAT'ed through one
 * Service IP:port, deleted one netlink round trip each (the baseline) and
 * then in batches, in one run. Root, in a throw-away network namespace:
 *
 *     unshare -n build/bench/ct_bench [N]      (default 100000)
 *
 * Prints one JSON line: entries, seconds for each way, the ratio.
 */
#include "nft/conntrack.h"
#include "core/loop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *setup =
	"set -e\n"
	"ip link set lo up\n"
	"for i in 1 2 3 4; do ip addr add 198.51.100.$i/32 dev lo; done\n"
	"ip route add 203.0.113.0/24 dev lo\n"
	"sysctl -qw net.netfilter.nf_conntrack_max=1048576 2>/dev/null || true\n"
	"nft -f - <<'EOF'\n"
	"table ip ctbench {\n"
	"  chain out {\n"
	"    type nat hook output priority -100;\n"
	"    ip daddr 203.0.113.10 udp dport 53 dnat to 198.51.100.1:5353\n"
	"  }\n"
	"}\n"
	"EOF\n";

/* n entries: one UDP packet from each (source address, source port) */
static int make_entries(int n)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(53) };
	int made = 0;

	inet_pton(AF_INET, "203.0.113.10", &dst.sin_addr);
	for (int a = 1; a <= 4 && made < n; a++)
		for (int port = 10000; port < 60000 && made < n; port++) {
			struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(port) };
			char ip[32];
			int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1;

			snprintf(ip, sizeof(ip), "198.51.100.%d", a);
			inet_pton(AF_INET, ip, &src.sin_addr);
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (fd >= 0 && bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0 &&
			    sendto(fd, "x", 1, 0, (struct sockaddr *)&dst, sizeof(dst)) == 1)
				made++;
			if (fd >= 0)
				close(fd);
		}
	return made;
}

static double timed_delete(int *deleted)
{
	struct ct_match m;
	uint64_t t0;

	ct_match_service(&m, "203.0.113.10", 53);
	t0 = loop_now_us();
	*deleted = ct_delete(&m, 1);
	return (double)(loop_now_us() - t0) / 1e6;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100000, made1, made2, del1, del2;
	double one, batched;

	if (system(setup) != 0) {
		fprintf(stderr, "setup failed: run as root under unshare -n\n");
		return 1;
	}
	made1 = make_entries(n);
	ct_set_delete_batch(1);
	one = timed_delete(&del1);
	made2 = make_entries(n);
	ct_set_delete_batch(0);
	batched = timed_delete(&del2);
	printf("{\"entries\": [%d, %d], \"deleted\": [%d, %d], \"one_by_one_s\": %.3f, "
	       "\"batched_s\": %.3f, \"speedup\": %.1f}\n", made1, made2, del1, del2, one, batched,
	       batched > 0 ? one / batched : 0);
	return del1 == made1 && del2 == made2 ? 0 : 1;
}
