/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/log.h"
#include "core/test.h"
#include "proxy/kpconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define HDR "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
#define S(x) ((int64_t)(x) * 1000000000LL)

static int parse(const char *text, bool strict, struct kp_config *c, char *err)
{
	return kp_config_parse(text, strlen(text), strict, c, err, 256);
}

static bool has_warning(const struct kp_config *c, const char *w)
{
	for (size_t i = 0; i < c->n_warnings; i++)
		if (strstr(c->warnings[i], w))
			return true;
	return false;
}

static void test_durations(void)
{
	static const struct { const char *s; int64_t ns; int rc; } rows[] = {
		{ "30s", S(30), 0 }, { "1m0s", S(60), 0 }, { "500ms", 500000000, 0 }, { "0", 0, 0 },
		{ "0s", 0, 0 }, { "1h2m3s", S(3723), 0 }, { "1.5h", S(5400), 0 }, { "-1.5s", -1500000000, 0 },
		{ "+2s", S(2), 0 }, { "10us", 10000, 0 }, { "10\xc2\xb5s", 10000, 0 }, { "7ns", 7, 0 },
		{ ".5s", 500000000, 0 }, { "1.s", S(1), 0 }, { "2562047h", S(2562047LL * 3600), 0 },
		{ "", 0, -EINVAL }, { "30", 0, -EINVAL }, { "s", 0, -EINVAL }, { "1x", 0, -EINVAL },
		{ "1 s", 0, -EINVAL }, { "-", 0, -EINVAL }, { ".s", 0, -EINVAL }, { "3000000h", 0, -EINVAL },
		{ "1m1", 0, -EINVAL },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int64_t ns = -42;
		int rc = kp_parse_duration(rows[i].s, &ns);

		CHECK_EQ_INT(rc, rows[i].rc);
		if (!rc && !rows[i].rc)
			CHECK_EQ_INT(ns, rows[i].ns);
		if (rc != rows[i].rc)
			fprintf(stderr, "  duration %s\n", rows[i].s);
	}
}

static void test_full(void)
{
	const char *y = HDR
		"bindAddress: 192.0.2.10\n"
		"healthzBindAddress: 0.0.0.0:10256\n"
		"metricsBindAddress: \"::\"\n"
		"clusterCIDR: 198.18.0.0/16,2001:db8:42::/56\n"
		"hostnameOverride: node-1\n"
		"mode: nftables\n"
		"nodePortAddresses: [192.0.2.0/24, primary]\n"
		"configSyncPeriod: 15m0s\n"
		"oomScoreAdj: -999\n"
		"clientConnection:\n"
		"  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf\n"
		"  qps: 7.5\n"
		"  burst: 20\n"
		"  contentType: application/json\n"
		"  acceptContentTypes: \"\"\n"
		"nftables:\n"
		"  masqueradeAll: true\n"
		"  masqueradeBit: null\n"
		"  syncPeriod: 1m0s\n"
		"  minSyncPeriod: 500ms\n"
		"iptables:\n"
		"  syncPeriod: 10s\n"
		"  minSyncPeriod: 0s\n"
		"  masqueradeBit: 14\n"
		"detectLocalMode: InterfaceNamePrefix\n"
		"detectLocal:\n"
		"  interfaceNamePrefix: veth\n"
		"  bridgeInterface: \"\"\n"
		"featureGates:\n"
		"  AllAlpha: false\n"
		"  KubeProxyDrainingTerminatingNodes: true\n"
		"logging:\n"
		"  verbosity: 2\n"
		"  format: text\n"
		"  flushFrequency: 5s\n"
		"conntrack:\n"
		"  maxPerCore: 0\n"
		"  min: null\n"
		"  tcpEstablishedTimeout: 24h0m0s\n"
		"  tcpCloseWaitTimeout: 1h0m0s\n"
		"  udpTimeout: 30s\n"
		"ipvs:\n"
		"  scheduler: rr\n"
		"winkernel: {}\n"
		"portRange: \"\"\n";
	struct kp_config c;
	char err[256];

	CHECK_EQ_INT(parse(y, true, &c, err), 0);
	CHECK_EQ_STR(err, "");
	CHECK_EQ_STR(c.bind_address, "192.0.2.10");
	CHECK_EQ_STR(c.healthz_bind_address, "0.0.0.0:10256");
	CHECK_EQ_STR(c.metrics_bind_address, "[::]:10249");
	CHECK_EQ_STR(c.cluster_cidr, "198.18.0.0/16,2001:db8:42::/56");
	CHECK_EQ_STR(c.hostname_override, "node-1");
	CHECK_EQ_STR(c.mode, "nftables");
	CHECK_EQ_INT(c.n_node_port_addresses, 2);
	CHECK_EQ_STR(c.node_port_addresses[0], "192.0.2.0/24");
	CHECK_EQ_STR(c.node_port_addresses[1], "primary");
	CHECK_EQ_INT(c.config_sync_period_ns, S(900));
	CHECK_EQ_STR(c.kubeconfig, "/var/lib/kube-proxy/kubeconfig.conf");
	CHECK(c.qps == 7.5);
	CHECK_EQ_INT(c.burst, 20);
	CHECK_EQ_STR(c.content_type, "application/json");
	CHECK(c.masquerade_all);
	CHECK_EQ_INT(c.masquerade_bit, 14);
	/* nftables' periods win over iptables', whichever comes first */
	CHECK_EQ_INT(c.sync_period_ns, S(60));
	CHECK_EQ_INT(c.min_sync_period_ns, 500000000);
	CHECK_EQ_STR(c.detect_local_mode, "InterfaceNamePrefix");
	CHECK_EQ_STR(c.detect_local_interface_name_prefix, "veth");
	CHECK(c.set & KPC_DETECT_LOCAL_MODE);
	CHECK(c.set & KPC_DETECT_LOCAL_PREFIX);
	CHECK(!(c.set & KPC_DETECT_LOCAL_BRIDGE));
	CHECK_EQ_INT(c.n_feature_gates, 2);
	CHECK_EQ_STR(c.feature_gates[1].name, "KubeProxyDrainingTerminatingNodes");
	CHECK(c.feature_gates[1].enabled && !c.feature_gates[0].enabled);
	CHECK_EQ_INT(c.log_verbosity, 2);
	CHECK_EQ_INT(c.conntrack.max_per_core, 0);
	CHECK_EQ_INT(c.conntrack.min, 131072);
	CHECK_EQ_INT(c.conntrack.udp_timeout_ns, S(30));
	CHECK(c.set & KPC_SYNC_PERIOD);
	CHECK(c.set & KPC_QPS);
	CHECK(c.set & KPC_CONNTRACK);
	CHECK(!(c.set & KPC_MASQUERADE_BIT) || c.masquerade_bit == 14);
	/* not-applicable fields are accepted with a note, even when strict */
	CHECK(has_warning(&c, "\"ipvs\" accepted and ignored"));
	CHECK(has_warning(&c, "\"logging.flushFrequency\" accepted"));
	CHECK(!has_warning(&c, "conntrack"));	/* applied by the agent (src/ctsysctl.c) */
	CHECK(!has_warning(&c, "winkernel"));	/* empty: nothing to say */
	CHECK(!has_warning(&c, "unknown"));
	kp_config_free(&c);
}

static void test_defaults_and_json(void)
{
	struct kp_config c;
	char err[256];
	const char *j = "{\"apiVersion\": \"kubeproxy.config.k8s.io/v1alpha1\", \"kind\": \"KubeProxyConfiguration\","
			" \"mode\": \"\", \"healthzBindAddress\": \"2001:db8::1\", \"hostnameOverride\": null}";

	CHECK_EQ_INT(parse(j, false, &c, err), 0);
	CHECK_EQ_STR(c.mode, "nftables");
	CHECK_EQ_STR(c.healthz_bind_address, "[2001:db8::1]:10256");
	CHECK_EQ_STR(c.metrics_bind_address, "127.0.0.1:10249");
	CHECK_EQ_STR(c.hostname_override, "");
	CHECK_EQ_INT(c.sync_period_ns, S(30));
	CHECK_EQ_INT(c.min_sync_period_ns, S(1));
	CHECK(c.qps == 5);
	CHECK_EQ_INT(c.burst, 10);
	CHECK_EQ_STR(c.detect_local_mode, "ClusterCIDR");
	CHECK_EQ_INT(c.oom_score_adj, -999);
	CHECK_EQ_INT(c.set, KPC_HEALTHZ_BIND_ADDRESS);	/* mode "" is the default */
	kp_config_free(&c);

	/* iptables' periods are used when nftables gives none */
	CHECK_EQ_INT(parse(HDR "mode: iptables\niptables:\n  syncPeriod: 45s\n  minSyncPeriod: 2s\n", false, &c, err), 0);
	CHECK_EQ_INT(c.sync_period_ns, S(45));
	CHECK_EQ_INT(c.min_sync_period_ns, S(2));
	CHECK_EQ_STR(c.mode, "nftables");
	CHECK(has_warning(&c, "field \"mode\": iptables: ferry always programs nftables"));
	kp_config_free(&c);
}

/* v1alpha1 defaulting: zero values mean the defaults */
static void test_zero_defaults(void)
{
	struct kp_config c;
	char err[256];

	CHECK_EQ_INT(parse(HDR "bindAddress: \"2001:db8::1\"\nconfigSyncPeriod: 0s\nnftables:\n  syncPeriod: 0s\n"
			   "  minSyncPeriod: 0s\nclientConnection:\n  qps: 0\n  burst: 0\n", false, &c, err), 0);
	CHECK_EQ_INT(c.sync_period_ns, S(30));
	CHECK_EQ_INT(c.min_sync_period_ns, S(1));
	CHECK_EQ_INT(c.config_sync_period_ns, S(900));
	CHECK(c.qps == 5);
	CHECK_EQ_INT(c.burst, 10);
	CHECK_EQ_STR(c.healthz_bind_address, "[::]:10256");
	CHECK_EQ_STR(c.metrics_bind_address, "[::1]:10249");
	CHECK(has_warning(&c, "minSyncPeriod"));
	CHECK(!(c.set & (KPC_SYNC_PERIOD | KPC_MIN_SYNC_PERIOD | KPC_CONFIG_SYNC_PERIOD | KPC_QPS | KPC_BURST)));
	kp_config_free(&c);

	/* "" and [] are Go's zero values: not given */
	CHECK_EQ_INT(parse(HDR "hostnameOverride: \"\"\nclientConnection:\n  kubeconfig: ''\nnodePortAddresses: []\n"
			   "clusterCIDR: \"\"\n", false, &c, err), 0);
	CHECK_EQ_INT(c.set, 0);
	CHECK_EQ_STR(c.hostname_override, "");
	CHECK_EQ_INT(c.n_node_port_addresses, 0);
	kp_config_free(&c);
}

static void test_unknown(void)
{
	struct kp_config c;
	char err[256];
	const char *y = HDR "foo: 1\nnftables:\n  bar: {x: 1}\n  syncPeriod: 5s\nclientConnection:\n  qpsx: 3\n";

	CHECK_EQ_INT(parse(y, false, &c, err), 0);
	CHECK(has_warning(&c, "unknown field \"foo\""));
	CHECK(has_warning(&c, "unknown field \"nftables.bar\""));
	CHECK(has_warning(&c, "unknown field \"clientConnection.qpsx\""));
	CHECK_EQ_INT(c.n_warnings, 3);
	CHECK_EQ_INT(c.sync_period_ns, S(5));
	kp_config_free(&c);

	memset(&c, 0x5a, sizeof(c));
	CHECK_EQ_INT(parse(y, true, &c, err), -EINVAL);
	CHECK_EQ_STR(err, "unknown field \"foo\"");
}

/* detectLocal.*: read with their bits, so the agent applies them; a
 * field nothing in ferry reads is a warning, never silent. */
static void test_detect_local_and_no_effect(void)
{
	struct kp_config c;
	char err[256];

	CHECK_EQ_INT(parse(HDR "detectLocalMode: BridgeInterface\ndetectLocal:\n  bridgeInterface: cni0\n"
			   "bindAddressHardFail: true\nclientConnection:\n  contentType: application/json\n",
			   false, &c, err), 0);
	CHECK_EQ_STR(c.detect_local_mode, "BridgeInterface");
	CHECK_EQ_STR(c.detect_local_bridge_interface, "cni0");
	CHECK(c.set & KPC_DETECT_LOCAL_MODE);
	CHECK(c.set & KPC_DETECT_LOCAL_BRIDGE);
	CHECK(has_warning(&c, "field \"bindAddressHardFail\" has no effect in ferry"));
	CHECK(has_warning(&c, "field \"clientConnection.contentType\" has no effect in ferry"));
	CHECK(!has_warning(&c, "detectLocal"));
	kp_config_free(&c);
}

static void test_bad(void)
{
	static const struct { const char *y, *err; } rows[] = {
		{ "", "empty configuration file" },
		{ "- a\n- b\n", "want a KubeProxyConfiguration object, got a list" },
		{ "kind: KubeProxyConfiguration\n", "not a KubeProxyConfiguration: apiVersion and kind are required" },
		{ "apiVersion: kubeproxy.config.k8s.io/v1beta1\nkind: KubeProxyConfiguration\n",
		  "unsupported apiVersion kubeproxy.config.k8s.io/v1beta1 (want kubeproxy.config.k8s.io/v1alpha1)" },
		{ "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n",
		  "unsupported kind KubeletConfiguration (want KubeProxyConfiguration)" },
		{ HDR "nftables:\n  syncPeriod: 30\n",
		  "field \"nftables.syncPeriod\": want a duration like \"30s\", \"1m0s\" or \"500ms\", got 30" },
		{ HDR "nftables:\n  minSyncPeriod: soon\n",
		  "field \"nftables.minSyncPeriod\": want a duration like \"30s\", \"1m0s\" or \"500ms\", got soon" },
		{ HDR "nftables:\n  syncPeriod: -1s\n", "field \"nftables.syncPeriod\": must be greater than 0" },
		{ HDR "nftables:\n  minSyncPeriod: -1s\n",
		  "field \"nftables.minSyncPeriod\": must be greater than or equal to 0" },
		{ HDR "clusterCIDR: 198.18.0.0/16,198.19.0.0/16\n", "field \"clusterCIDR\": at most one IPv4 and one IPv6 CIDR" },
		{ HDR "nodePortAddresses: [primary, 192.0.2.0/24, primary]\n",
		  "field \"nodePortAddresses[2]\": duplicate value primary" },
		{ HDR "mode: kernelspace\n", "field \"mode\": unknown proxy mode kernelspace" },
		{ HDR "nftables:\n  syncPeriod: 1s\n  minSyncPeriod: 2s\n",
		  "field \"nftables.minSyncPeriod\": must be less than or equal to syncPeriod" },
		{ HDR "nftables:\n  masqueradeAll: maybe\n", "field \"nftables.masqueradeAll\": want true or false, got maybe" },
		{ HDR "nftables:\n  masqueradeAll: \"true\"\n", "field \"nftables.masqueradeAll\": want true or false, got true" },
		{ HDR "nftables:\n  masqueradeBit: 32\n", "field \"nftables.masqueradeBit\": must be within the range [0, 31]" },
		{ HDR "clientConnection:\n  burst: \"20\"\n", "field \"clientConnection.burst\": want an integer, got 20" },
		{ HDR "clientConnection:\n  burst: 1.5\n", "field \"clientConnection.burst\": want an integer, got 1.5" },
		{ HDR "clientConnection:\n  qps: -1\n", "field \"clientConnection.qps\": must be greater than or equal to 0" },
		{ HDR "clientConnection: 5\n", "field \"clientConnection\": want an object, got a scalar" },
		{ HDR "clientConnection:\n  kubeconfig: [a]\n", "field \"clientConnection.kubeconfig\": want a string, got a list" },
		{ HDR "mode: userspace\n", "field \"mode\": unknown proxy mode userspace" },
		{ HDR "bindAddress: node-1\n", "field \"bindAddress\": not a valid IP address: node-1" },
		{ HDR "healthzBindAddress: 0.0.0.0:99999\n", "field \"healthzBindAddress\": want IP:port, got 0.0.0.0:99999" },
		{ HDR "metricsBindAddress: localhost:10249\n", "field \"metricsBindAddress\": want IP:port, got localhost:10249" },
		{ HDR "clusterCIDR: 10.0.0.0/33\n", "field \"clusterCIDR\": not a CIDR: 10.0.0.0/33" },
		{ HDR "clusterCIDR: 198.18.0.0/16,2001:db8::/64,198.19.0.0/16\n",
		  "field \"clusterCIDR\": at most one IPv4 and one IPv6 CIDR" },
		{ HDR "nodePortAddresses: 192.0.2.0/24\n", "field \"nodePortAddresses\": want a list, got a scalar" },
		{ HDR "nodePortAddresses: [192.0.2.0/24, eth0]\n",
		  "field \"nodePortAddresses[1]\": want a CIDR, \"primary\" or \"all\", got eth0" },
		{ HDR "nodePortAddresses: [[a]]\n", "field \"nodePortAddresses[0]\": want a string" },
		{ HDR "detectLocalMode: Magic\n",
		  "field \"detectLocalMode\": want ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix, got Magic" },
		{ HDR "detectLocalMode: BridgeInterface\n",
		  "field \"detectLocal.bridgeInterface\": required with detectLocalMode BridgeInterface" },
		{ HDR "detectLocalMode: InterfaceNamePrefix\n",
		  "field \"detectLocal.interfaceNamePrefix\": required with detectLocalMode InterfaceNamePrefix" },
		{ HDR "detectLocalMode: BridgeInterface\ndetectLocal:\n  bridgeInterface: a-bridge-of-16ch\n",
		  "field \"detectLocal.bridgeInterface\": longer than 15 characters" },
		{ HDR "featureGates:\n  Foo: sometimes\n", "field \"featureGates.Foo\": want true or false" },
		{ HDR "featureGates: [a]\n", "field \"featureGates\": want a map of feature names to booleans, got a list" },
		{ HDR "oomScoreAdj: -1001\n", "field \"oomScoreAdj\": must be within the range [-1000, 1000]" },
		{ HDR "oomScoreAdj: 99999999999\n", "field \"oomScoreAdj\": want an integer, got 99999999999" },
		{ HDR "mode: nftables\nmode: ipvs\n", "duplicate field \"mode\"" },
		{ HDR "conntrack:\n  udpTimeout: 1d\n",
		  "field \"conntrack.udpTimeout\": want a duration like \"30s\", \"1m0s\" or \"500ms\", got 1d" },
		{ HDR "mode: [\n", NULL },
		{ HDR "---\n" HDR, "more than one YAML document" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct kp_config c, before;
		char err[256];

		memset(&c, 0x5a, sizeof(c));
		before = c;
		CHECK_EQ_INT(parse(rows[i].y, false, &c, err), -EINVAL);
		/* the caller's config is untouched */
		CHECK(!memcmp(&c, &before, sizeof(c)));
		if (rows[i].err)
			CHECK_EQ_STR(err, rows[i].err);
		else
			CHECK(!strncmp(err, "YAML error at line 4", 20));
	}
}

/* The sysctls the conntrack fields stand for, as kube-proxy computes them. */
static void test_conntrack_sysctls(void)
{
	struct kp_config c;
	struct kp_sysctl sc[KP_SYSCTL_MAX];
	size_t n;

	CHECK_EQ_INT(kp_config_defaults(&c), 0);
	/* 8 x 32768 > min 131072; timeouts 24h and 1h; no UDP, not liberal */
	n = kp_conntrack_sysctls(&c, 8, sc);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_STR(sc[0].name, "net.netfilter.nf_conntrack_max");
	CHECK_EQ_INT(sc[0].value, 262144);
	CHECK(sc[0].raise_only);
	CHECK_EQ_STR(sc[1].path, "sys/module/nf_conntrack/parameters/hashsize");
	CHECK_EQ_INT(sc[1].value, 65536);
	CHECK(sc[1].raise_only);
	CHECK_EQ_STR(sc[2].path, "proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established");
	CHECK_EQ_INT(sc[2].value, 86400);
	CHECK_EQ_STR(sc[3].field, "conntrack.tcpCloseWaitTimeout");
	CHECK_EQ_INT(sc[3].value, 3600);
	/* min wins over few CPUs */
	n = kp_conntrack_sysctls(&c, 2, sc);
	CHECK_EQ_INT(sc[0].value, 131072);
	/* capped at 1M on many CPUs */
	n = kp_conntrack_sysctls(&c, 64, sc);
	CHECK_EQ_INT(sc[0].value, 1048576);
	CHECK_EQ_INT(sc[1].value, 262144);
	/* maxPerCore 0 leaves the table size alone; sub-second timeouts are 0 */
	c.conntrack.max_per_core = 0;
	c.conntrack.tcp_be_liberal = true;
	c.conntrack.udp_timeout_ns = 500000000;
	c.conntrack.udp_stream_timeout_ns = 120LL * 1000000000;
	n = kp_conntrack_sysctls(&c, 8, sc);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_STR(sc[0].name, "net.netfilter.nf_conntrack_tcp_be_liberal");
	CHECK_EQ_INT(sc[0].value, 1);
	CHECK_EQ_STR(sc[3].name, "net.netfilter.nf_conntrack_udp_timeout_stream");
	CHECK_EQ_INT(sc[3].value, 120);
	kp_config_free(&c);
}

int main(void)
{
	log_set_stream(fopen("/dev/null", "w"));
	test_durations();
	test_full();
	test_defaults_and_json();
	test_zero_defaults();
	test_unknown();
	test_detect_local_and_no_effect();
	test_bad();
	test_conntrack_sysctls();
	return test_done("proxy_kpconfig");
}
