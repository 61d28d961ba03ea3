/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * src/l2io against the real kernel and real tools, in a throw-away network
 * namespace (ctest runs it under `unshare -n`): a veth pair a <-> b, l2io on
 * a announcing 192.0.2.200 and 2001:db8::200, and from b:
 *  - arping gets replies from exactly a's MAC, ndisc6 likewise;
 *  - gratuitous ARP (both forms) and an unsolicited NA arrive at once;
 *  - an address not announced (or withdrawn) gets no answer;
 *  - heartbeat frames sent on a arrive at a second l2io on b, byte for byte;
 *  - link down/up and a MAC change are noticed through rtnetlink, and the
 *    gratuitous frames go out again with the new MAC;
 *  - hostile frames (random bytes, truncated ARP/NDP) do not crash it.
 * Exit 77 (skipped) when not root or a tool is missing.
 */
#include "core/log.h"
#include "core/loop.h"
#include "core/test.h"
#include "lbip/l2pkt.h"
#include "src/l2io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static struct loop *L;

struct side {
	int beats, downs, ups, links;
	uint8_t last[256];
	size_t last_n;
};

static void on_beat(void *arg, int ifindex, const uint8_t *p, size_t n)
{
	struct side *s = arg;

	s->beats++;
	s->last_n = n < sizeof(s->last) ? n : sizeof(s->last);
	memcpy(s->last, p, s->last_n);
	(void)ifindex;
}

static void on_links(void *arg, bool down, bool up)
{
	struct side *s = arg;

	s->links++;
	s->downs += down;
	s->ups += up;
}

static const struct l2io_ops ops = { .beat = on_beat, .links = on_links };

static int sh(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Run cmd (through sh, output to out) while the loop keeps serving. */
static int run_tool(const char *cmd, char *out, size_t len)
{
	char path[] = "/tmp/ferry-l2io-XXXXXX";
	int fd = mkstemp(path), st = 0;
	pid_t pid;
	ssize_t n;

	if (fd < 0)
		return -1;
	if ((pid = fork()) == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, WNOHANG) == 0)
		loop_run_once(L, 20);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, out, len - 1);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void spin(int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;

	while (loop_now_ms() < end)
		loop_run_once(L, 10);
}

static void mac_text(const uint8_t *m, char *buf, bool upper)
{
	sprintf(buf, upper ? "%02X:%02X:%02X:%02X:%02X:%02X" : "%02x:%02x:%02x:%02x:%02x:%02x",
		m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* A raw socket on b, to watch what a sends and to send junk. */
static int raw_open(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = (int)if_nametoindex(ifname) };
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct seen {
	int garp_req, garp_rep, una;
	uint8_t src[6];
};

/* Drain fd for ms, counting the announcements for ip4/ip6 from mac. */
static void watch(int fd, int ms, const struct lb_addr *ip4, const struct lb_addr *ip6,
		  const uint8_t *mac, struct seen *w)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;
	uint8_t buf[2048];
	struct sockaddr_ll sll;
	socklen_t sl;

	memset(w, 0, sizeof(*w));
	while (loop_now_ms() < end) {
		struct l2_msg m;
		ssize_t n;

		loop_run_once(L, 5);
		sl = sizeof(sll);
		while ((n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&sll, &sl)) > 0) {
			if (sll.sll_pkttype == PACKET_OUTGOING || l2_parse(buf, (size_t)n, &m, NULL) < 0)
				continue;
			if (memcmp(m.eth_src, mac, 6))
				continue;
			if (m.kind == L2_ARP_REQUEST && !lb_addr_cmp(&m.sender, ip4) &&
			    !lb_addr_cmp(&m.target, ip4))
				w->garp_req++;
			if (m.kind == L2_ARP_REPLY && !lb_addr_cmp(&m.sender, ip4) &&
			    !lb_addr_cmp(&m.target, ip4))
				w->garp_rep++;
			if (m.kind == L2_NDP_NA && !lb_addr_cmp(&m.target, ip6) &&
			    (m.na_flags & L2_NA_OVERRIDE) && !(m.na_flags & L2_NA_SOLICITED))
				w->una++;
		}
	}
}

int main(void)
{
	struct side sa = { 0 }, sb = { 0 };
	const char *only_a[] = { "a" }, *only_b[] = { "b" };
	struct l2io *ioa, *iob;
	struct l2io_ann ann[2];
	struct lb_addr v4, v6, v4_other;
	const struct l2io_if *fa;
	char out[8192], mac[32];
	uint8_t amac[6];
	struct seen w;
	int rc, raw, ia, ups;

	if (geteuid() != 0 || sh("command -v ip >/dev/null && command -v arping >/dev/null && "
				 "command -v ndisc6 >/dev/null")) {
		printf("skipped: needs root, ip, arping and ndisc6\n");
		return 77;
	}
	if (sh("ip link set lo up && ip link add name a type veth peer name b && "
	       "sysctl -qw net.ipv6.conf.all.disable_ipv6=0 && "
	       "ip addr add 192.0.2.1/24 dev a && ip addr add 192.0.2.2/24 dev b && "
	       "ip -6 addr add 2001:db8::1/64 dev a nodad && ip -6 addr add 2001:db8::2/64 dev b nodad && "
	       "ip link set dev a up && ip link set dev b up")) {
		printf("skipped: cannot build the veth pair (not in a throw-away namespace?)\n");
		return 77;
	}
	log_set_verbosity(1);
	L = loop_new();
	ioa = l2io_new(L, only_a, 1, &ops, &sa, &rc);
	iob = l2io_new(L, only_b, 1, &ops, &sb, &rc);
	CHECK(ioa && iob);
	if (!ioa || !iob)
		return test_done("src_l2io");
	l2io_set_beat(iob, (int)if_nametoindex("b"), true);	/* b listens for beats */
	spin(100);	/* carrier comes up a moment after "up" on veth */
	ia = (int)if_nametoindex("a");
	fa = l2io_if_get(ioa, ia);
	CHECK(fa && fa->usable);
	CHECK(l2io_if_get(ioa, (int)if_nametoindex("b")) && !l2io_if_get(ioa, (int)if_nametoindex("b"))->usable);
	lb_addr_parse("192.0.2.200", &v4);
	lb_addr_parse("192.0.2.201", &v4_other);
	lb_addr_parse("2001:db8::200", &v6);
	raw = raw_open("b");
	CHECK(raw >= 0);

	/* taking: gratuitous frames at once, both ARP forms and an NA */
	ann[0] = (struct l2io_ann){ v4, ia };
	ann[1] = (struct l2io_ann){ v6, ia };
	CHECK_EQ_INT(l2io_set(ioa, ann, 2), 0);
	CHECK(l2io_announced(ioa, &v4) && l2io_announced(ioa, &v6) && !l2io_announced(ioa, &v4_other));
	memcpy(amac, l2io_if_get(ioa, ia)->mac, 6);
	watch(raw, 300, &v4, &v6, amac, &w);
	CHECK(w.garp_req >= 1 && w.garp_rep >= 1 && w.una >= 1);
	CHECK(w.garp_req <= 2);	/* 0 ms and 500 ms: only the first within 300 ms */

	/* arping: replies, from exactly a's MAC */
	mac_text(amac, mac, false);
	rc = run_tool("arping -I b -c 3 -W 0.2 192.0.2.200", out, sizeof(out));
	CHECK_EQ_INT(rc, 0);
	CHECK(strstr(out, mac) != NULL);
	{
		int replies = 0;
		for (char *p = out; (p = strstr(p, "bytes from ")); p++) {
			replies++;
			CHECK(!strncasecmp(p + 11, mac, 17));
		}
		CHECK_EQ_INT(replies, 3);
	}
	/* an address we do not announce: nothing */
	rc = run_tool("arping -I b -c 2 -W 0.2 192.0.2.201", out, sizeof(out));
	CHECK(rc != 0 && !strstr(out, "bytes from"));

	/* ndisc6: the NA names a's MAC */
	mac_text(amac, mac, true);
	rc = run_tool("ndisc6 -n -r 3 -w 300 2001:db8::200 b", out, sizeof(out));
	CHECK_EQ_INT(rc, 0);
	CHECK(strstr(out, mac) != NULL);
	if (rc || !strstr(out, mac))
		printf("ndisc6 said: %s\n", out);

	/* the heartbeat frame crosses, byte for byte */
	l2io_set_beat(ioa, ia, true);
	CHECK_EQ_INT(l2io_send_beat(ioa, (const uint8_t *)"FRL2-test-beat-payload", 22), 1);
	spin(100);
	CHECK_EQ_INT(sb.beats, 1);
	CHECK(sb.last_n == 22 && !memcmp(sb.last, "FRL2-test-beat-payload", 22));
	CHECK_EQ_INT(sa.beats, 0);	/* our own frame is not delivered back */

	/* hostile frames: random bytes and truncated ARP/NDP, sent to a */
	{
		uint8_t junk[256], good[L2_FRAME_MAX];
		struct lb_addr src;
		int n;

		srand(14);
		for (int i = 0; i < 2000; i++) {
			size_t len = 14 + (size_t)(rand() % 200);

			for (size_t k = 0; k < len; k++)
				junk[k] = (uint8_t)rand();
			memset(junk, 0xff, 6);
			junk[12] = i % 3 == 0 ? 0x08 : i % 3 == 1 ? 0x86 : 0x88;
			junk[13] = i % 3 == 0 ? 0x06 : i % 3 == 1 ? 0xdd : 0xb5;
			send(raw, junk, len, 0);
		}
		lb_addr_parse("2001:db8::2", &src);
		n = l2_build_ns(&src, &v6, l2io_if_get(iob, (int)if_nametoindex("b"))->mac, good, sizeof(good));
		for (int cut = 14; n > 0 && cut < n; cut += 3)
			send(raw, good, (size_t)cut, 0);
		spin(200);
		CHECK(sb.beats == 1);
	}
	/* still answering after that */
	mac_text(amac, mac, false);
	rc = run_tool("arping -I b -c 1 -W 0.2 192.0.2.200", out, sizeof(out));
	CHECK(rc == 0 && strstr(out, mac));

	/* link down and up: noticed, and announced again on the way up */
	ups = sa.ups;
	sh("ip link set dev a down");
	spin(200);
	CHECK_EQ_INT(sa.downs, 1);
	CHECK(!l2io_if_get(ioa, ia)->usable);
	sh("ip link set dev a up");
	spin(100);
	CHECK(l2io_if_get(ioa, ia)->usable);
	CHECK_EQ_INT(sa.ups, ups + 1);
	memcpy(amac, l2io_if_get(ioa, ia)->mac, 6);
	watch(raw, 300, &v4, &v6, amac, &w);
	CHECK(w.garp_req >= 1 && w.una >= 1);

	/* a new MAC: announced again from it */
	sh("ip link set dev a address 02:00:5e:10:00:aa");
	{
		const uint8_t want[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0xaa };

		watch(raw, 300, &v4, &v6, want, &w);
		CHECK(w.garp_req >= 1 && w.garp_rep >= 1 && w.una >= 1);
		CHECK(!memcmp(l2io_if_get(ioa, ia)->mac, want, 6));
	}
	rc = run_tool("arping -I b -c 1 -W 0.2 192.0.2.200", out, sizeof(out));
	CHECK(rc == 0 && strstr(out, "02:00:5e:10:00:aa"));

	/* withdrawing: no answer from then on, no group left joined */
	CHECK_EQ_INT(l2io_set(ioa, NULL, 0), 0);
	CHECK(!l2io_announced(ioa, &v4));
	rc = run_tool("arping -I b -c 2 -W 0.2 192.0.2.200", out, sizeof(out));
	CHECK(rc != 0 && !strstr(out, "bytes from"));
	rc = run_tool("ndisc6 -n -r 2 -w 200 2001:db8::200 b", out, sizeof(out));
	CHECK(rc != 0);

	/* an interface that appears is picked up without a restart */
	sh("ip link add name c type veth peer name d && ip link set dev c up && ip link set dev d up");
	spin(200);
	{
		const struct l2io_if *all;
		size_t n = l2io_ifs(iob, &all);
		bool found = false;

		for (size_t i = 0; i < n; i++)
			found = found || !strcmp(all[i].name, "c");
		CHECK(found);
	}
	close(raw);
	l2io_free(ioa);
	l2io_free(iob);
	loop_free(L);
	return test_done("src_l2io");
}
