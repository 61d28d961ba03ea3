/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Run under `unshare -n` (ctest does): real UDP/TCP conntrack entries through
 * DNAT rules made for the test in the throw-away namespace, deleted through
 * nft/conntrack.c, checked with the conntrack binary.
 */
#include "core/test.h"
#include "nft/conntrack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *setup =
	"set -e\n"
	"ip link set lo up\n"
	"ip addr add 198.51.100.1/32 dev lo\n"
	"ip addr add 198.51.100.2/32 dev lo\n"
	"ip addr add 2001:db8::1/128 dev lo nodad\n"
	"ip addr add 2001:db8::2/128 dev lo nodad\n"
	"ip route add 203.0.113.0/24 dev lo\n"
	"ip -6 route add 2001:db8:0:1::/64 dev lo\n"
	"nft -f - <<'EOF'\n"
	"table inet cttest {\n"
	"  chain out {\n"
	"    type nat hook output priority -100;\n"
	"    ip daddr 203.0.113.10 udp dport 53 dnat ip to 198.51.100.1:5353\n"
	"    ip daddr 203.0.113.11 udp dport 53 dnat ip to 198.51.100.2:5353\n"
	"    ip daddr 198.51.100.1 udp dport 30053 dnat ip to 198.51.100.2:5353\n"
	"    ip daddr 203.0.113.10 tcp dport 80 dnat ip to 198.51.100.1:8080\n"
	"    ip6 daddr 2001:db8:0:1::10 udp dport 53 dnat ip6 to [2001:db8::1]:5353\n"
	"    ip6 daddr 2001:db8:0:1::11 udp dport 53 dnat ip6 to [2001:db8::2]:5353\n"
	"  }\n"
	"}\n"
	"EOF\n";

static void udp_send(int family, const char *dst, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd = socket(family, SOCK_DGRAM, 0);

	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		inet_pton(AF_INET, dst, &s->sin_addr);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		inet_pton(AF_INET6, dst, &s->sin6_addr);
		len = sizeof(*s);
	}
	CHECK(sendto(fd, "x", 1, 0, (struct sockaddr *)&ss, len) == 1);
	close(fd);
}

/* Lines of `conntrack -L` containing every one of the words. */
static int ct_count(const char *w1, const char *w2, const char *w3)
{
	FILE *p = popen("conntrack -L -f ipv4 2>/dev/null; conntrack -L -f ipv6 2>/dev/null", "r");
	char line[1024];
	int n = 0;

	while (fgets(line, sizeof(line), p))
		if (strstr(line, w1) && (!w2 || strstr(line, w2)) && (!w3 || strstr(line, w3)))
			n++;
	pclose(p);
	return n;
}

int main(void)
{
	struct ct_match m[2];
	int lfd, cfd, afd, one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(8080) };

	if (system(setup) != 0) {
		fprintf(stderr, "setup failed (needs root in a network namespace)\n");
		return 1;
	}
	/* an established TCP connection through the DNAT: must survive */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	inet_pton(AF_INET, "198.51.100.1", &sa.sin_addr);
	CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 1) == 0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "203.0.113.10", &sa.sin_addr);
	sa.sin_port = htons(80);
	CHECK(connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	afd = accept(lfd, NULL, NULL);
	CHECK(afd >= 0);

	udp_send(AF_INET, "203.0.113.10", 53);
	udp_send(AF_INET, "203.0.113.10", 53);
	udp_send(AF_INET, "203.0.113.11", 53);
	udp_send(AF_INET, "198.51.100.1", 30053);
	udp_send(AF_INET, "198.51.100.1", 9999);
	udp_send(AF_INET6, "2001:db8:0:1::10", 53);
	udp_send(AF_INET6, "2001:db8:0:1::11", 53);
	CHECK_EQ_INT(ct_count("udp", "dst=203.0.113.10 ", "src=198.51.100.1 dst=198.51.100.1 sport=5353"), 2);
	CHECK_EQ_INT(ct_count("udp", "dst=203.0.113.11 ", "src=198.51.100.2 dst=198.51.100.1 sport=5353"), 1);
	CHECK_EQ_INT(ct_count("udp", "dport=30053", "src=198.51.100.2 dst=198.51.100.1 sport=5353"), 1);
	CHECK_EQ_INT(ct_count("udp", "dport=9999", NULL), 1);
	CHECK_EQ_INT(ct_count("tcp", "ESTABLISHED", "dst=203.0.113.10 "), 1);
	CHECK_EQ_INT(ct_count("udp", "dst=2001:db8:0:1::10 ", "src=2001:db8::1 "), 1);
	CHECK_EQ_INT(ct_count("udp", "dst=2001:db8:0:1::11 ", "src=2001:db8::2 "), 1);

	/* bad input */
	CHECK_EQ_INT(ct_match_service(&m[0], "203.0.113.300", 53), -EINVAL);
	CHECK_EQ_INT(ct_match_endpoint(&m[0], "203.0.113.10", 53, "2001:db8::1", 0), -EINVAL);
	CHECK_EQ_INT(ct_match_nodeport(&m[0], AF_INET6, 30053, "198.51.100.2", 0), -EINVAL);
	CHECK_EQ_INT(ct_delete(m, 0), 0);

	/* (a) a Service IP:port: only its UDP entries, not its TCP one */
	CHECK_EQ_INT(ct_match_service(&m[0], "203.0.113.10", 53), 0);
	CHECK_EQ_INT(ct_delete(m, 1), 2);
	CHECK_EQ_INT(ct_count("udp", "dst=203.0.113.10 ", NULL), 0);
	CHECK_EQ_INT(ct_count("tcp", "ESTABLISHED", "dst=203.0.113.10 "), 1);
	CHECK_EQ_INT(ct_count("udp", "dst=203.0.113.11 ", NULL), 1);
	CHECK_EQ_INT(ct_delete(m, 1), 0);

	/* (b) a removed endpoint behind one Service IP: the NodePort entry to
	 * the same endpoint stays */
	CHECK_EQ_INT(ct_match_endpoint(&m[0], "203.0.113.11", 53, "198.51.100.2", 5353), 0);
	CHECK_EQ_INT(ct_delete(m, 1), 1);
	CHECK_EQ_INT(ct_count("udp", "dst=203.0.113.11 ", NULL), 0);
	CHECK_EQ_INT(ct_count("udp", "dport=30053", NULL), 1);
	/* wrong endpoint port: nothing */
	CHECK_EQ_INT(ct_match_nodeport(&m[0], AF_INET, 30053, "198.51.100.2", 5354), 0);
	CHECK_EQ_INT(ct_delete(m, 1), 0);
	CHECK_EQ_INT(ct_match_nodeport(&m[0], AF_INET, 30053, "198.51.100.2", 5353), 0);
	CHECK_EQ_INT(ct_delete(m, 1), 1);
	CHECK_EQ_INT(ct_count("udp", "dport=30053", NULL), 0);

	/* IPv6, two matches in one call */
	CHECK_EQ_INT(ct_match_endpoint(&m[0], NULL, 0, "2001:db8::1", 0), 0);
	CHECK_EQ_INT(ct_match_service(&m[1], "2001:db8:0:1::11", 53), 0);
	CHECK_EQ_INT(ct_delete(m, 2), 2);
	CHECK_EQ_INT(ct_count("udp", "dst=2001:db8:0:1::1", NULL), 0);

	/* the reconciler (kube-proxy v1.37's way): fresh entries */
	udp_send(AF_INET, "203.0.113.10", 53);
	udp_send(AF_INET, "203.0.113.10", 53);
	udp_send(AF_INET, "203.0.113.11", 53);
	udp_send(AF_INET, "198.51.100.1", 30053);
	udp_send(AF_INET6, "2001:db8:0:1::10", 53);
	udp_send(AF_INET6, "2001:db8:0:1::11", 53);
	CHECK_EQ_INT(ct_count("udp", "sport=5353", NULL), 6);
	{
		struct ct_backend a, gone, v6a, v6b;
		struct ct_frontend f[7];

		CHECK_EQ_INT(ct_backend_set(&a, AF_INET, "198.51.100.1", 5353), 0);
		CHECK_EQ_INT(ct_backend_set(&gone, AF_INET, "198.51.100.9", 5353), 0);
		CHECK_EQ_INT(ct_backend_set(&v6a, AF_INET6, "2001:db8::7", 5353), 0);
		CHECK_EQ_INT(ct_backend_set(&v6b, AF_INET6, "2001:db8::2", 5353), 0);
		CHECK_EQ_INT(ct_backend_set(&v6b, AF_INET, "2001:db8::2", 5353), -EINVAL);
		CHECK_EQ_INT(ct_backend_set(&v6b, AF_INET6, "2001:db8::2", 5353), 0);
		/* still served by its endpoint: both entries stay */
		CHECK_EQ_INT(ct_frontend_ip(&f[0], "203.0.113.10", 53), 0);
		f[0].serving = &a;
		f[0].n_serving = 1;
		/* no serving endpoint left: its entry goes */
		CHECK_EQ_INT(ct_frontend_ip(&f[1], "203.0.113.11", 53), 0);
		/* NodePort whose endpoint moved: goes */
		CHECK_EQ_INT(ct_frontend_nodeport(&f[2], AF_INET, 30053), 0);
		f[2].serving = &gone;
		f[2].n_serving = 1;
		/* NodePort with nothing serving: skipped, the direct 9999 flow stays */
		CHECK_EQ_INT(ct_frontend_nodeport(&f[3], AF_INET, 9999), 0);
		/* UDP only: the TCP flow to this IP:port stays */
		CHECK_EQ_INT(ct_frontend_ip(&f[4], "203.0.113.10", 80), 0);
		CHECK_EQ_INT(ct_frontend_ip(&f[5], "2001:db8:0:1::10", 53), 0);
		f[5].serving = &v6a;
		f[5].n_serving = 1;
		CHECK_EQ_INT(ct_frontend_ip(&f[6], "2001:db8:0:1::11", 53), 0);
		f[6].serving = &v6b;
		f[6].n_serving = 1;
		CHECK_EQ_INT(ct_frontend_nodeport(&f[3], AF_INET, 0), -EINVAL);
		CHECK_EQ_INT(ct_frontend_nodeport(&f[3], AF_INET, 9999), 0);

		CHECK_EQ_INT(ct_reconcile(f, 7), 3);
		CHECK_EQ_INT(ct_count("udp", "dst=203.0.113.10 ", "sport=5353"), 2);
		CHECK_EQ_INT(ct_count("udp", "dst=203.0.113.11 ", NULL), 0);
		CHECK_EQ_INT(ct_count("udp", "dport=30053", NULL), 0);
		CHECK_EQ_INT(ct_count("udp", "dst=2001:db8:0:1::10 ", NULL), 0);
		CHECK_EQ_INT(ct_count("udp", "dst=2001:db8:0:1::11 ", NULL), 1);
		CHECK_EQ_INT(ct_reconcile(f, 7), 0);
		CHECK_EQ_INT(ct_reconcile(f, 0), 0);
	}

	/* the rest is untouched */
	CHECK_EQ_INT(ct_count("udp", "dport=9999", NULL), 1);
	CHECK_EQ_INT(ct_count("tcp", "ESTABLISHED", "dst=203.0.113.10 "), 1);
	CHECK(write(cfd, "ok", 2) == 2);
	char b[4] = { 0 };
	CHECK(read(afd, b, 2) == 2 && !strcmp(b, "ok"));

	close(afd);
	close(cfd);
	close(lfd);
	if (system("nft delete table inet cttest") != 0)
		CHECK(0);
	return test_done("nft_conntrack");
}
