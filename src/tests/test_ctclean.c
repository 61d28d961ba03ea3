/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ct_clean against real conntrack entries (ctest runs this under
 * `unshare -n`; the addresses and DNAT rules are the test's own).
 */
#include "core/metrics.h"
#include "core/test.h"
#include "nft/model.h"
#include "proxy/kpmetrics.h"
#include "proxy/tests/ct_states.h"
#include "src/ctclean.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *setup =
	"set -e\n"
	"ip link set lo up\n"
	"ip addr add 198.51.100.1/32 dev lo\n"
	"ip addr add 198.51.100.2/32 dev lo\n"
	"ip addr add 198.51.100.3/32 dev lo\n"
	"ip route add 203.0.113.0/24 dev lo\n"
	"nft -f - <<'EOF'\n"
	"table ip ctsync {\n"
	"  chain out {\n"
	"    type nat hook output priority -100;\n"
	"    ip daddr 203.0.113.10 udp dport 53 dnat to 198.51.100.1:5353\n"
	"    ip daddr 203.0.113.11 udp dport 53 dnat to 198.51.100.2:5353\n"
	"    ip daddr 203.0.113.20 udp dport 53 dnat to 198.51.100.3:5353\n"
	"  }\n"
	"}\n"
	"EOF\n";

static void udp_send(const char *dst, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	inet_pton(AF_INET, dst, &sa.sin_addr);
	CHECK(sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa)) == 1);
	close(fd);
}

static int ct_count(const char *w)
{
	FILE *p = popen("conntrack -L -p udp 2>/dev/null", "r");
	char line[1024];
	int n = 0;

	while (fgets(line, sizeof(line), p))
		n += strstr(line, w) != NULL;
	pclose(p);
	return n;
}

static void test_sync(void)
{
	struct fstate old, cur;
	struct kp_metrics m;
	char *t;

	if (system(setup) != 0) {
		fprintf(stderr, "setup failed (needs root in a network namespace)\n");
		CHECK(0);
		return;
	}
	udp_send("203.0.113.10", 53);	/* to A, DNAT'ed to its serving endpoint: stays */
	udp_send("203.0.113.11", 53);	/* to A, DNAT'ed to one not serving: goes */
	udp_send("203.0.113.20", 53);	/* to D, deleted: goes */
	CHECK_EQ_INT(ct_count("sport=5353"), 3);
	build_old(&old);
	build_cur(&cur, &old);
	CHECK_EQ_INT(kp_metrics_init_families(&m, true, true), 0);
	CHECK_EQ_INT(ct_clean(&old, &cur, &m), 2);
	CHECK_EQ_INT(ct_count("dst=203.0.113.10 "), 1);
	CHECK_EQ_INT(ct_count("dst=203.0.113.11 "), 0);
	CHECK_EQ_INT(ct_count("dst=203.0.113.20 "), 0);
	/* nothing changed since: not even a dump */
	CHECK_EQ_INT(ct_clean(&cur, &cur, &m), 0);
	t = metrics_text(m.reg);
	CHECK(strstr(t, "\nkubeproxy_conntrack_reconciler_deleted_entries_total{ip_family=\"IPv4\"} 2\n") != NULL);
	CHECK(strstr(t, "\nkubeproxy_conntrack_reconciler_sync_duration_seconds_count{ip_family=\"IPv4\"} 1\n") != NULL);
	free(t);
	kp_metrics_free(&m);
	fstate_free(&old);
	fstate_free(&cur);
	if (system("nft delete table ip ctsync") != 0)
		CHECK(0);
}

int main(void)
{
	test_sync();
	return test_done("src_ctclean");
}
