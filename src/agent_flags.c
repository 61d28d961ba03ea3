/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "src/agent_flags.h"
#include "lbip/svc.h"
#include "proxy/kpconfig.h"

#include <string.h>

const char *const agent_flag_groups[AFG_COUNT] = {
	[AFG_AGENT] = "Agent",
	[AFG_KUBE_PROXY] = "kube-proxy compatible",
	[AFG_API] = "API client (kube-proxy's flags too)",
	[AFG_LB] = "LoadBalancer IP allocation (MetalLB's configuration, read as it is)",
	[AFG_L2] = "Layer-2 announcement (ARP/NDP for the IPs of layer-2 pools)",
	[AFG_BGP] = "BGP announcement (sessions with the peers of MetalLB's configuration)",
};

#define DUR "DURATION"
#define TF "true|false"

/* Indexed by id, so an entry cannot answer for another flag's case in
 * agent.c. A `def` is parsed at start like a given value: keep it one. */
const struct agent_flag agent_flags[AF_COUNT] = {
	[AF_HELP] = { "help", 'h', NULL, NULL, NULL, AFG_AGENT, 0,
		      "print this help and exit" },
	[AF_NODE_NAME] = { "node-name", 0, "NAME", NULL, "the host name", AFG_AGENT, KPC_HOSTNAME_OVERRIDE,
			   "the Node this agent serves" },
	[AF_CLEANUP_KUBE_PROXY] = { "cleanup-kube-proxy", 0, TF, "true", NULL, AFG_AGENT, 0,
				    "remove kube-proxy's leftover rules after the first complete sync" },
	[AF_PROXY] = { "proxy", 0, TF, "true", NULL, AFG_AGENT, 0,
		       "forward Services (false: no nftables at all, e.g. the LoadBalancer allocator "
		       "alone with --l2=false --bgp=false, under its own identity)" },
	[AF_V] = { "v", 'v', "N", "0", NULL, AFG_KUBE_PROXY, KPC_LOG_VERBOSITY,
		   "log verbosity, 0 to 10 (with --config, the higher of this and logging.verbosity)" },
	[AF_HOSTNAME_OVERRIDE] = { "hostname-override", 0, "NAME", NULL, "the host name", AFG_KUBE_PROXY,
				   KPC_HOSTNAME_OVERRIDE, "the same as --node-name" },
	[AF_CONFIG] = { "config", 0, "FILE", NULL, "none", AFG_KUBE_PROXY, 0,
			"kube-proxy's KubeProxyConfiguration (v1alpha1); flags given win over its fields" },
	[AF_HEALTHZ_BIND_ADDRESS] = { "healthz-bind-address", 0, "IP:PORT", "0.0.0.0:10256", NULL, AFG_KUBE_PROXY,
				      KPC_HEALTHZ_BIND_ADDRESS, "/healthz and /livez, kube-proxy's meaning; \"\" disables" },
	[AF_METRICS_BIND_ADDRESS] = { "metrics-bind-address", 0, "IP:PORT", "127.0.0.1:10249", NULL,
				      AFG_KUBE_PROXY, KPC_METRICS_BIND_ADDRESS,
				      "/metrics, /status, /proxyMode, /healthz and /livez; \"\" disables" },
	[AF_SYNC_PERIOD] = { "sync-period", 0, DUR, "30s", NULL, AFG_KUBE_PROXY, KPC_SYNC_PERIOD,
			     "rebuild every rule from the caches at least this often" },
	[AF_MIN_SYNC_PERIOD] = { "min-sync-period", 0, DUR, "1s", NULL, AFG_KUBE_PROXY, KPC_MIN_SYNC_PERIOD,
				 "under a stream of changes, at most one sync per this period" },
	[AF_NODEPORT_ADDRESSES] = { "nodeport-addresses", 0, "primary|CIDR,...", NULL,
				    "primary: the Node's InternalIPs", AFG_KUBE_PROXY, KPC_NODE_PORT_ADDRESSES,
				    "the node addresses NodePorts are served on (at most 8)" },
	[AF_CLUSTER_CIDR] = { "cluster-cidr", 0, "CIDR,...", NULL, "the Node's podCIDRs", AFG_KUBE_PROXY,
			      KPC_CLUSTER_CIDR, "the pods' addresses, to tell pod traffic from other traffic (at most 4)" },
	[AF_DETECT_LOCAL_MODE] = { "detect-local-mode", 0, "MODE", NULL,
				   "--cluster-cidr, else the Node's podCIDRs", AFG_KUBE_PROXY, KPC_DETECT_LOCAL_MODE,
				   "how traffic from this node's pods is told: ClusterCIDR (--cluster-cidr), "
				   "NodeCIDR (the Node's podCIDRs), BridgeInterface, InterfaceNamePrefix" },
	[AF_POD_BRIDGE_INTERFACE] = { "pod-bridge-interface", 0, "IF", NULL, "none", AFG_KUBE_PROXY,
				      KPC_DETECT_LOCAL_BRIDGE,
				      "with --detect-local-mode BridgeInterface: traffic arriving on it is the pods'" },
	[AF_POD_INTERFACE_NAME_PREFIX] = { "pod-interface-name-prefix", 0, "PREFIX", NULL, "none", AFG_KUBE_PROXY,
					   KPC_DETECT_LOCAL_PREFIX,
					   "with --detect-local-mode InterfaceNamePrefix: traffic arriving on an "
					   "interface whose name starts with it is the pods'" },
	[AF_MASQUERADE_ALL] = { "masquerade-all", 0, NULL, NULL, "off", AFG_KUBE_PROXY, KPC_MASQUERADE_ALL,
				"masquerade all traffic sent to Service addresses" },
	[AF_MASQUERADE_BIT] = { "iptables-masquerade-bit", 0, "N", "14", NULL, AFG_KUBE_PROXY, KPC_MASQUERADE_BIT,
				"the ct mark bit (0 to 31) that asks for masquerading; ferry sets, tests and clears only it" },
	[AF_SERVICE_CIDR] = { "service-cluster-ip-range", 0, "CIDR,...", NULL, "the ServiceCIDR objects only", AFG_KUBE_PROXY, 0,
			      "Service CIDRs besides the ServiceCIDR objects', as kube-apiserver's flag (at most 4): new traffic to an address in them that no Service holds is dropped" },
	[AF_KUBECONFIG] = { "kubeconfig", 0, "FILE", NULL, "$KUBECONFIG, else in-cluster, else ~/.kube/config",
			    AFG_API, KPC_KUBECONFIG, "the API server and credentials" },
	[AF_MASTER] = { "master", 0, "URL", NULL, "the kubeconfig's server", AFG_API, 0,
			"the API server's address, over the kubeconfig's" },
	[AF_KUBE_API_QPS] = { "kube-api-qps", 0, "N", "50", NULL, AFG_API, KPC_QPS,
			      "requests per second to the API server" },
	[AF_KUBE_API_BURST] = { "kube-api-burst", 0, "N", "100", NULL, AFG_API, KPC_BURST,
				"requests allowed at once above --kube-api-qps" },
	[AF_LB_ALLOCATOR] = { "lb-allocator", 0, TF, "true", NULL, AFG_LB, 0,
			      "allocate LoadBalancer IPs (false: another allocator does)" },
	[AF_LB_CLASS] = { "lb-class", 0, "NAME", LB_DEFAULT_CLASS, NULL, AFG_LB, 0,
			  "the loadBalancerClass served, besides Services without one" },
	[AF_LB_CONFIG_NAMESPACE] = { "lb-config-namespace", 0, "NS", "metallb-system", NULL, AFG_LB, 0,
				     "the namespace of MetalLB's legacy ConfigMap" },
	[AF_LB_CONFIG_NAME] = { "lb-config-name", 0, "NAME", "config", NULL, AFG_LB, 0,
				"the name of MetalLB's legacy ConfigMap" },
	[AF_LB_LEASE_NAMESPACE] = { "lb-lease-namespace", 0, "NS", "ferry-system", NULL, AFG_LB, 0,
				    "the namespace of the Lease whose holder allocates" },
	[AF_LB_LEASE_NAME] = { "lb-lease-name", 0, "NAME", "ferry-lb-allocator", NULL, AFG_LB, 0,
			       "the name of that Lease" },
	[AF_LB_LEASE_DURATION] = { "lb-lease-duration", 0, DUR, "15s", NULL, AFG_LB, 0,
				   "how long the others wait for a holder that stopped renewing" },
	[AF_LB_RENEW_DEADLINE] = { "lb-renew-deadline", 0, DUR, "10s", NULL, AFG_LB, 0,
				   "the holder stops allocating when it could not renew for this long" },
	[AF_LB_RETRY_PERIOD] = { "lb-retry-period", 0, DUR, "2s", NULL, AFG_LB, 0,
				 "how often the Lease is tried and renewed (< renew deadline < duration)" },
	[AF_L2] = { "l2", 0, TF, "true", NULL, AFG_L2, 0,
		    "announce the LoadBalancer IPs of layer-2 pools" },
	[AF_L2_KEY_FILE] = { "l2-key-file", 0, "FILE", NULL, "none: layer 2 is off", AFG_L2, 0,
			     "the heartbeat key the agents share (Secret ferry-system/ferry-l2-key)" },
	[AF_L2_INTERFACES] = { "l2-interfaces", 0, "IF,...", NULL, "those with an address on the IP's subnet",
			       AFG_L2, 0, "announce on these interfaces only (at most 8)" },
	[AF_L2_BEAT_INTERVAL] = { "l2-beat-interval", 0, DUR, "200ms", NULL, AFG_L2, 0,
				  "the heartbeat interval between the agents, 20ms to 10s" },
	[AF_BGP] = { "bgp", 0, TF, "true", NULL, AFG_BGP, 0,
		     "announce LoadBalancer IPs to the BGP peers" },
	[AF_BGP_LISTEN_PORT] = { "bgp-listen-port", 0, "PORT", "179", NULL, AFG_BGP, 0,
				 "accept the peers' connections on this port while the node has "
				 "peers (0: do not listen, only connect)" },
};

int agent_flags_getopt(struct option *opts, char *shortopts, size_t len)
{
	size_t n = 0;

	for (int i = 0; i < AF_COUNT; i++) {
		const struct agent_flag *f = &agent_flags[i];

		if (!f->name)
			return -1;
		opts[i] = (struct option){ f->name, f->arg ? required_argument : no_argument, NULL,
					   f->short_name ? f->short_name : AGENT_FLAG_VAL(i) };
		if (f->short_name) {
			if (n + 3 > len)
				return -1;
			shortopts[n++] = f->short_name;
			if (f->arg)
				shortopts[n++] = ':';
		}
	}
	opts[AF_COUNT] = (struct option){ 0 };
	if (n + 1 > len)
		return -1;
	shortopts[n] = 0;
	return 0;
}

int agent_flags_id(int c)
{
	if (c >= AGENT_FLAG_VAL(0) && c < AGENT_FLAG_VAL(AF_COUNT))
		return c - AGENT_FLAG_VAL(0);
	for (int i = 0; c > 0 && i < AF_COUNT; i++)
		if (agent_flags[i].short_name == c)
			return i;
	return -1;
}

uint32_t agent_flags_kpc(void)
{
	uint32_t m = 0;

	for (int i = 0; i < AF_COUNT; i++)
		m |= agent_flags[i].kpc;
	return m;
}

void agent_flag_spelling(const struct agent_flag *f, char *buf, size_t len)
{
	/* a word choice reads as one token: --l2=false, as kube-proxy's
	 * users write booleans */
	if (!f->arg)
		snprintf(buf, len, "--%s", f->name);
	else
		snprintf(buf, len, "--%s%s%s", f->name, strchr(f->arg, '|') && !strchr(f->arg, ',') ? "=" : " ",
			 f->arg);
}

void agent_flags_usage(FILE *out)
{
	fprintf(out, "usage: ferry agent [FLAG...]\n");
	for (int g = 0; g < AFG_COUNT; g++) {
		fprintf(out, "\n%s:\n", agent_flag_groups[g]);
		for (int i = 0; i < AF_COUNT; i++) {
			const struct agent_flag *f = &agent_flags[i];
			char sp[96];

			if (f->group != (enum agent_flag_group)g)
				continue;
			agent_flag_spelling(f, sp, sizeof(sp));
			if (f->short_name)
				fprintf(out, "  -%c, %s\n", f->short_name, sp);
			else
				fprintf(out, "  %s\n", sp);
			fprintf(out, "        %s", f->help);
			if (f->def)
				fprintf(out, " (default \"%s\")", f->def);
			else if (f->def_note)
				fprintf(out, " (default: %s)", f->def_note);
			fprintf(out, "\n");
		}
	}
}

struct unused_walk {
	uint32_t set, used;
	char (*paths)[64];
	size_t n, max;
};

static void unused_one(void *arg, const struct kp_field_info *f)
{
	struct unused_walk *w = arg;

	/* ignored fields are the parser's to warn about (it sees them given) */
	if ((f->bit & w->set & ~w->used) && !f->ignored && !f->typemeta && !f->agent_applies) {
		if (w->n < w->max)
			snprintf(w->paths[w->n], sizeof(w->paths[w->n]), "%s", f->path);
		w->n++;
	}
}

size_t agent_flags_unused(uint32_t set, char (*paths)[64], size_t max)
{
	/* mode: only nftables is ferry's; the parser warns of the others */
	struct unused_walk w = { set, agent_flags_kpc() | KPC_MODE, paths, 0, max };

	kp_config_fields(unused_one, &w);
	return w.n;
}
