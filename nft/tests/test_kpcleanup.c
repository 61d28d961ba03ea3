/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Run under `unshare -n` (ctest does): kube-proxy-like leftovers of both
 * modes plus an operator's tables, made with `nft -f`; kp_cleanup() must
 * remove exactly kube-proxy's, checked with `nft list ruleset`.
 */
#include "core/test.h"
#include "nft/kpcleanup.h"

#include <stdlib.h>

static const char *ruleset =
	"nft -f - <<'EOF'\n"
	/* nftables mode */
	"table ip kube-proxy {\n"
	"  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }\n"
	"  chain services {\n"
	"    ip daddr . meta l4proto . th dport vmap @service-ips\n"
	"  }\n"
	"  chain nat-prerouting {\n"
	"    type nat hook prerouting priority dstnat; jump services\n"
	"  }\n"
	"  chain service-X-ns-web-tcp-http {\n"
	"    ip daddr 198.18.0.10 counter\n"
	"  }\n"
	"}\n"
	"table ip6 kube-proxy {\n"
	"  chain services { }\n"
	"  chain filter-input {\n"
	"    type filter hook input priority -110; jump services\n"
	"  }\n"
	"}\n"
	/* iptables-nft mode */
	"table ip nat {\n"
	"  chain KUBE-SERVICES {\n"
	"    ip daddr 198.18.0.10 tcp dport 80 jump KUBE-SVC-ABC\n"
	"  }\n"
	"  chain KUBE-SVC-ABC {\n"
	"    jump KUBE-SEP-XYZ\n"
	"  }\n"
	"  chain KUBE-SEP-XYZ {\n"
	"    meta l4proto tcp dnat to 198.18.1.5:8080\n"
	"  }\n"
	"  chain KUBE-POSTROUTING {\n"
	"    meta mark & 0x4000 == 0 return; masquerade\n"
	"  }\n"
	"  chain KUBE-MARK-MASQ {\n"
	"    meta mark set meta mark | 0x4000\n"
	"  }\n"
	"  chain PREROUTING { type nat hook prerouting priority dstnat; policy accept;\n"
	"    counter jump KUBE-SERVICES\n"
	"    ip daddr 192.0.2.1 counter accept comment \"operator-prerouting\"\n"
	"  }\n"
	"  chain OUTPUT {\n"
	"    type nat hook output priority -100; jump KUBE-SERVICES\n"
	"  }\n"
	"  chain POSTROUTING {\n"
	"    type nat hook postrouting priority srcnat; jump KUBE-POSTROUTING\n"
	"  }\n"
	"  chain OPERATOR-CHAIN {\n"
	"    ip saddr 203.0.113.0/24 goto KUBE-MARK-MASQ; counter comment \"operator-counter\"\n"
	"  }\n"
	"}\n"
	"table ip filter {\n"
	"  chain KUBE-PROXY-FIREWALL {\n"
	"    drop\n"
	"  }\n"
	"  chain KUBE-FORWARD {\n"
	"    accept\n"
	"  }\n"
	/* kubelet's: stays, with the rules that use it */
	"  chain KUBE-FIREWALL {\n"
	"    ip daddr != 127.0.0.0/8 ip saddr 127.0.0.0/8 drop comment \"kubelet-martian\"\n"
	"  }\n"
	"  chain INPUT {\n"
	"    type filter hook input priority filter; jump KUBE-PROXY-FIREWALL; jump KUBE-FIREWALL; tcp dport 22 accept comment \"operator-ssh\"\n"
	"  }\n"
	"  chain FORWARD {\n"
	"    type filter hook forward priority filter; jump KUBE-FORWARD\n"
	"  }\n"
	"}\n"
	"table ip6 nat {\n"
	"  chain KUBE-SERVICES { }\n"
	"  chain PREROUTING {\n"
	"    type nat hook prerouting priority dstnat; jump KUBE-SERVICES\n"
	"  }\n"
	"}\n"
	"table ip6 mangle {\n"
	"  chain KUBE-PROXY-CANARY { }\n"
	"  chain KUBE-KUBELET-CANARY { }\n"
	"  chain KUBE-IPTABLES-HINT { }\n"
	"  chain PREROUTING {\n"
	"    type filter hook prerouting priority mangle; counter comment \"operator-mangle\"\n"
	"  }\n"
	"}\n"
	/* the operator's: same-looking names elsewhere stay */
	"table inet operator {\n"
	"  chain KUBE-LOOKALIKE {\n"
	"    counter\n"
	"  }\n"
	"  chain input {\n"
	"    type filter hook input priority 0; jump KUBE-LOOKALIKE\n"
	"  }\n"
	"}\n"
	"table ip operator2 {\n"
	"  chain KUBE-X { }\n"
	"  chain c {\n"
	"    jump KUBE-X\n"
	"  }\n"
	"}\n"
	"table ip kube-proxy-not {\n  chain c { }\n}\n"
	"table inet kube-proxy {\n  chain c { }\n}\n"
	"EOF\n";

static char *listing(void)
{
	FILE *p = popen("nft list ruleset", "r");
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, p);

	pclose(p);
	buf[n] = 0;
	return buf;
}

/* `nft list chain` succeeds */
static int chain_exists(const char *fam, const char *table, const char *chain)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "nft list chain %s %s %s >/dev/null 2>&1", fam, table, chain);
	return system(cmd) == 0;
}

/* The real thing: kube-proxy's iptables mode as iptables-nft writes it
 * (xt matches, comments, MASQUERADE --random-fully), kubelet's chains and
 * an operator's rules; compared with iptables-nft-save afterwards. */
static void test_iptables_nft(const char *dir)
{
	char cmd[1024], *want, got[16384];
	FILE *f, *p;
	size_t n;

	if (system("command -v iptables-nft-restore >/dev/null && command -v ip6tables-nft-restore >/dev/null")) {
		fprintf(stderr, "iptables-nft not installed: skipping the iptables-nft case\n");
		return;
	}
	snprintf(cmd, sizeof(cmd), "iptables-nft-restore < %s/kube-proxy-iptables.rules && "
		 "ip6tables-nft-restore < %s/kube-proxy-ip6tables.rules", dir, dir);
	CHECK(system(cmd) == 0);
	/* 19 KUBE-* chains of kube-proxy's, 15 rules elsewhere jumping to them */
	CHECK_EQ_INT(kp_cleanup(), 34);
	p = popen("(iptables-nft-save; ip6tables-nft-save) | grep -v '^#'", "r");
	n = fread(got, 1, sizeof(got) - 1, p);
	got[n] = 0;
	pclose(p);
	snprintf(cmd, sizeof(cmd), "%s/kube-proxy-iptables.expected", dir);
	f = fopen(cmd, "r");
	CHECK(f != NULL);
	if (!f)
		return;
	want = calloc(1, 16384);
	n = fread(want, 1, 16383, f);
	fclose(f);
	CHECK_EQ_STR(got, want);
	free(want);
	CHECK_EQ_INT(kp_cleanup(), 0);
}

int main(int argc, char **argv)
{
	const char *l;

	if (system(ruleset) != 0) {
		fprintf(stderr, "setup failed (needs root in a network namespace)\n");
		return 1;
	}
	/* 2 tables + 9 KUBE-* chains + 7 referring rules */
	CHECK_EQ_INT(kp_cleanup(), 18);
	l = listing();
	CHECK(!strstr(l, "table ip kube-proxy {"));
	CHECK(!strstr(l, "table ip6 kube-proxy {"));
	CHECK(!chain_exists("ip", "nat", "KUBE-SERVICES"));
	CHECK(!chain_exists("ip", "nat", "KUBE-SEP-XYZ"));
	CHECK(!chain_exists("ip", "filter", "KUBE-PROXY-FIREWALL"));
	CHECK(!chain_exists("ip6", "nat", "KUBE-SERVICES"));
	CHECK(!chain_exists("ip6", "mangle", "KUBE-PROXY-CANARY"));
	/* kubelet's chains stay, and the jump to its firewall */
	CHECK(chain_exists("ip", "filter", "KUBE-FIREWALL"));
	CHECK(strstr(l, "jump KUBE-FIREWALL") != NULL);
	CHECK(strstr(l, "kubelet-martian") != NULL);
	CHECK(chain_exists("ip6", "mangle", "KUBE-KUBELET-CANARY"));
	CHECK(chain_exists("ip6", "mangle", "KUBE-IPTABLES-HINT"));
	/* every other KUBE- left is the operator's */
	for (const char *p = l; (p = strstr(p, "KUBE-")); p++)
		CHECK(!strncmp(p, "KUBE-LOOKALIKE", 14) || !strncmp(p, "KUBE-X", 6) || !strncmp(p, "KUBE-FIREWALL", 13) ||
		      !strncmp(p, "KUBE-KUBELET-CANARY", 19) || !strncmp(p, "KUBE-IPTABLES-HINT", 18));
	/* base chains and the operator's rules stay */
	CHECK(chain_exists("ip", "nat", "PREROUTING"));
	CHECK(chain_exists("ip", "nat", "POSTROUTING"));
	CHECK(chain_exists("ip", "nat", "OPERATOR-CHAIN"));
	CHECK(chain_exists("ip", "filter", "INPUT"));
	CHECK(chain_exists("ip6", "mangle", "PREROUTING"));
	CHECK(strstr(l, "ip daddr 192.0.2.1 counter packets 0 bytes 0 accept comment \"operator-prerouting\"") != NULL);
	CHECK(strstr(l, "operator-counter") != NULL);
	CHECK(strstr(l, "operator-ssh") != NULL);
	CHECK(strstr(l, "operator-mangle") != NULL);
	CHECK(strstr(l, "203.0.113.0/24") == NULL);	/* its goto KUBE-MARK-MASQ went */
	CHECK(chain_exists("inet", "operator", "KUBE-LOOKALIKE"));
	CHECK(strstr(l, "jump KUBE-LOOKALIKE") != NULL);
	CHECK(chain_exists("ip", "operator2", "KUBE-X"));
	CHECK(strstr(l, "jump KUBE-X") != NULL);
	CHECK(strstr(l, "table ip kube-proxy-not {") != NULL);
	CHECK(strstr(l, "table inet kube-proxy {") != NULL);

	/* nothing left to do */
	CHECK_EQ_INT(kp_cleanup(), 0);
	if (system("nft flush ruleset") != 0)
		CHECK(0);
	CHECK_EQ_INT(kp_cleanup(), 0);
	if (argc > 1)
		test_iptables_nft(argv[1]);
	if (system("nft flush ruleset") != 0)
		CHECK(0);
	return test_done("nft_kpcleanup");
}
