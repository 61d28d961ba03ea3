/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy_build: API objects as the apiserver sends them -> the model.
 * Each case is a set of objects and what the model must say about them.
 */
#include "core/test.h"
#include "proxy/proxy.h"

#include <json-c/json.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

struct objs {
	struct kube_object *v[32];
	size_t n;
};

static void each(const void *cache, int (*fn)(void *, const struct kube_object *), void *arg)
{
	const struct objs *o = cache;
	for (size_t i = 0; i < o->n; i++)
		if (fn(arg, o->v[i]))
			return;
}

static struct kube_object *obj(enum kube_kind k, const char *json)
{
	const char *err = NULL;
	struct json_object *j = json_tokener_parse(json);
	struct kube_object *o;

	if (!j) {
		fprintf(stderr, "bad test JSON: %s\n", json);
		abort();
	}
	o = kube_object_from_json(k, j, &err);
	json_object_put(j);
	if (!o) {
		fprintf(stderr, "object rejected (%s): %s\n", err, json);
		abort();
	}
	return o;
}

static struct objs svcs, slices;
static struct kube_object *node;

static void reset(void)
{
	for (size_t i = 0; i < svcs.n; i++)
		kube_object_free(svcs.v[i]);
	for (size_t i = 0; i < slices.n; i++)
		kube_object_free(slices.v[i]);
	svcs.n = slices.n = 0;
}

static void svc(const char *json) { svcs.v[svcs.n++] = obj(KUBE_SERVICE, json); }
static void eps(const char *json) { slices.v[slices.n++] = obj(KUBE_ENDPOINTSLICE, json); }

static struct fstate st;
static struct proxy_stats stats;

static void build(const struct proxy_config *cfg)
{
	struct proxy_input in = { .node = kube_node(node), .foreach = each,
				  .services = &svcs, .slices = &slices };
	CHECK(proxy_build(cfg, &in, &st, &stats) == 0);
	CHECK(fstate_check(&st) == 0);
}

static const struct fsvc *find(const char *key)
{
	for (size_t i = 0; i < st.n_svcs; i++)
		if (!strcmp(st.svcs[i].key, key))
			return &st.svcs[i];
	return NULL;
}

static const char *ip(const struct faddr *a)
{
	static char buf[8][64];
	static int k;
	return faddr_str(a, buf[k++ % 8], sizeof(buf[0]));
}

static const struct fendpoint *ep(const struct fsvc *v, const char *addr, uint16_t port)
{
	for (size_t i = 0; i < v->n_eps; i++)
		if (!strcmp(ip(&v->eps[i].addr), addr) && v->eps[i].port == port)
			return &v->eps[i];
	return NULL;
}

static const struct proxy_config cfg1 = { .node_name = "node1" };

#define META(ns, n) "\"metadata\":{\"namespace\":\"" ns "\",\"name\":\"" n "\",\"uid\":\"u-" n "\",\"resourceVersion\":\"1\"}"
#define SLICE_META(ns, n, svcname) "\"metadata\":{\"namespace\":\"" ns "\",\"name\":\"" n \
	"\",\"uid\":\"u-" n "\",\"resourceVersion\":\"1\",\"labels\":{\"kubernetes.io/service-name\":\"" svcname "\"}}"

/* The seed's myapp-svc: LoadBalancer, endpoints in two slices, one endpoint
 * listed twice (not ready in one copy): it counts once, as ready. */
static void test_loadbalancer_and_slices(void)
{
	reset();
	svc("{" META("default", "myapp-svc") ",\"spec\":{\"type\":\"LoadBalancer\","
	    "\"clusterIP\":\"198.19.0.10\",\"clusterIPs\":[\"198.19.0.10\"],"
	    "\"ports\":[{\"port\":80,\"targetPort\":80,\"nodePort\":31714,\"protocol\":\"TCP\"}],"
	    "\"externalTrafficPolicy\":\"Cluster\",\"loadBalancerSourceRanges\":[\"198.51.100.0/24\"]},"
	    "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.209\"},"
	    "{\"ip\":\"192.0.2.210\",\"ipMode\":\"Proxy\"}]}}}");
	eps("{" SLICE_META("default", "myapp-svc-a", "myapp-svc") ",\"addressType\":\"IPv4\","
	    "\"ports\":[{\"name\":\"\",\"port\":80,\"protocol\":\"TCP\"}],\"endpoints\":["
	    "{\"addresses\":[\"198.18.0.2\"],\"nodeName\":\"node1\",\"conditions\":{\"ready\":true}},"
	    "{\"addresses\":[\"198.18.1.2\"],\"nodeName\":\"node2\",\"conditions\":{\"ready\":false}}]}");
	eps("{" SLICE_META("default", "myapp-svc-b", "myapp-svc") ",\"addressType\":\"IPv4\","
	    "\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}],\"endpoints\":["
	    "{\"addresses\":[\"198.18.1.2\"],\"nodeName\":\"node2\",\"conditions\":{\"ready\":true}},"
	    "{\"addresses\":[\"198.18.1.3\"],\"nodeName\":\"node2\"}]}");
	build(&cfg1);
	CHECK_EQ_INT(st.n_svcs, 1);
	const struct fsvc *v = find("default/myapp-svc:80/tcp");
	CHECK(v != NULL);
	if (!v)
		return;
	CHECK_EQ_INT(v->proto, IPPROTO_TCP);
	CHECK_EQ_INT(v->port, 80);
	CHECK_EQ_INT(v->node_port, 31714);
	CHECK_EQ_INT(v->n_cluster_ips, 1);
	CHECK_EQ_STR(ip(&v->cluster_ips[0]), "198.19.0.10");
	CHECK_EQ_INT(v->n_lb_ips, 1);	/* the ipMode: Proxy one is not captured */
	CHECK_EQ_STR(ip(&v->lb_ips[0]), "192.0.2.209");
	CHECK_EQ_INT(v->n_source_ranges, 1);
	CHECK_EQ_STR(ip(&v->source_ranges[0]), "198.51.100.0/24");
	CHECK_EQ_INT(v->external_policy, FPOLICY_CLUSTER);
	CHECK_EQ_INT(v->n_eps, 3);
	const struct fendpoint *e = ep(v, "198.18.1.2", 80);
	CHECK(e && e->ready && e->serving && !e->terminating && !e->local);
	e = ep(v, "198.18.0.2", 80);
	CHECK(e && e->ready && e->local);
	e = ep(v, "198.18.1.3", 80);	/* conditions unset: ready */
	CHECK(e && e->ready && e->serving);
}

/* Services ferry must leave alone, and one with the same port on TCP and UDP. */
static void test_skipped_and_protocols(void)
{
	reset();
	svc("{" META("default", "headless") ",\"spec\":{\"clusterIP\":\"None\",\"clusterIPs\":[\"None\"],"
	    "\"ports\":[{\"port\":80}]}}");
	svc("{" META("default", "ext") ",\"spec\":{\"type\":\"ExternalName\",\"externalName\":\"example.org\"}}");
	svc("{\"metadata\":{\"namespace\":\"default\",\"name\":\"other\",\"uid\":\"x\",\"resourceVersion\":\"1\","
	    "\"labels\":{\"service.kubernetes.io/service-proxy-name\":\"someone-else\"}},"
	    "\"spec\":{\"clusterIP\":\"198.19.0.11\",\"clusterIPs\":[\"198.19.0.11\"],\"ports\":[{\"port\":80}]}}");
	svc("{" META("kube-system", "dns") ",\"spec\":{\"clusterIP\":\"198.19.0.53\",\"clusterIPs\":[\"198.19.0.53\"],"
	    "\"ports\":[{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"},"
	    "{\"name\":\"dns-tcp\",\"port\":53,\"protocol\":\"TCP\"}]}}");
	eps("{" SLICE_META("kube-system", "dns-x", "dns") ",\"addressType\":\"IPv4\","
	    "\"ports\":[{\"name\":\"dns\",\"port\":5353,\"protocol\":\"UDP\"},"
	    "{\"name\":\"dns-tcp\",\"port\":5354,\"protocol\":\"TCP\"}],"
	    "\"endpoints\":[{\"addresses\":[\"198.18.0.9\"],\"nodeName\":\"node2\"}]}");
	build(&cfg1);
	CHECK_EQ_INT(st.n_svcs, 2);
	CHECK_EQ_INT(stats.skipped_services, 3);
	const struct fsvc *u = find("kube-system/dns:dns/udp"), *t = find("kube-system/dns:dns-tcp/tcp");
	CHECK(u && t);
	if (!u || !t)
		return;
	CHECK_EQ_INT(u->proto, IPPROTO_UDP);
	CHECK_EQ_INT(t->proto, IPPROTO_TCP);
	/* named ports: each Service port takes the slice port of its name */
	CHECK(ep(u, "198.18.0.9", 5353) != NULL);
	CHECK(ep(t, "198.18.0.9", 5354) != NULL);
	CHECK_EQ_INT(u->node_port, 0);	/* ClusterIP: no NodePort */
}

/* Local policies, affinity, terminating endpoints, and a bad address. */
static void test_policies_affinity_terminating(void)
{
	reset();
	svc("{" META("web", "local") ",\"spec\":{\"type\":\"NodePort\",\"clusterIP\":\"198.19.0.20\","
	    "\"clusterIPs\":[\"198.19.0.20\"],\"externalIPs\":[\"203.0.113.7\",\"not-an-ip\"],"
	    "\"ports\":[{\"port\":8080,\"nodePort\":30080}],\"externalTrafficPolicy\":\"Local\","
	    "\"internalTrafficPolicy\":\"Local\",\"sessionAffinity\":\"ClientIP\","
	    "\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":60}}}}");
	svc("{" META("web", "sticky") ",\"spec\":{\"clusterIP\":\"198.19.0.21\",\"clusterIPs\":[\"198.19.0.21\"],"
	    "\"ports\":[{\"port\":80}],\"externalTrafficPolicy\":\"Local\",\"sessionAffinity\":\"ClientIP\"}}");
	eps("{" SLICE_META("web", "local-1", "local") ",\"addressType\":\"IPv4\","
	    "\"ports\":[{\"port\":8080,\"protocol\":\"TCP\"}],\"endpoints\":["
	    "{\"addresses\":[\"198.18.0.4\"],\"nodeName\":\"node1\","
	    "\"conditions\":{\"ready\":false,\"serving\":true,\"terminating\":true}},"
	    "{\"addresses\":[\"198.18.0.5\"],\"nodeName\":\"node1\","
	    "\"conditions\":{\"ready\":false,\"serving\":false,\"terminating\":true}},"
	    "{\"addresses\":[\"300.1.2.3\"],\"nodeName\":\"node1\"}]}");
	build(&cfg1);
	const struct fsvc *v = find("web/local:8080/tcp"), *s = find("web/sticky:80/tcp");
	CHECK(v && s);
	if (!v || !s)
		return;
	CHECK_EQ_INT(v->external_policy, FPOLICY_LOCAL);
	CHECK_EQ_INT(v->internal_policy, FPOLICY_LOCAL);
	CHECK_EQ_INT(v->affinity_timeout, 60);
	CHECK_EQ_INT(v->n_external_ips, 1);	/* the bad one is skipped, the good one kept */
	CHECK_EQ_INT(v->node_port, 30080);
	CHECK_EQ_INT(v->n_eps, 2);		/* the bad address is skipped */
	const struct fendpoint *e = ep(v, "198.18.0.4", 8080);
	CHECK(e && !e->ready && e->serving && e->terminating && e->local);
	/* the model's choice: no ready endpoint, so the serving terminating one */
	const struct fendpoint *pick[4];
	CHECK_EQ_INT(fsvc_pick_eps(v, AF_INET, true, pick), 1);
	CHECK(pick[0] == e);
	/* ClusterIP-only: externalTrafficPolicy has nothing to apply to */
	CHECK_EQ_INT(s->external_policy, FPOLICY_CLUSTER);
	CHECK_EQ_INT(s->affinity_timeout, 10800);
}

/* Topology: zone hints narrow cluster-wide endpoints only when every ready
 * endpoint has hints and one is for this node's zone. */
static void test_topology_hints(void)
{
	reset();
	svc("{" META("default", "close") ",\"spec\":{\"clusterIP\":\"198.19.0.30\",\"clusterIPs\":[\"198.19.0.30\"],"
	    "\"ports\":[{\"port\":80}],\"trafficDistribution\":\"PreferClose\"}}");
	eps("{" SLICE_META("default", "close-1", "close") ",\"addressType\":\"IPv4\","
	    "\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}],\"endpoints\":["
	    "{\"addresses\":[\"198.18.0.6\"],\"nodeName\":\"node1\",\"zone\":\"zone-a\","
	    "\"hints\":{\"forZones\":[{\"name\":\"zone-a\"}]}},"
	    "{\"addresses\":[\"198.18.1.6\"],\"nodeName\":\"node2\",\"zone\":\"zone-b\","
	    "\"hints\":{\"forZones\":[{\"name\":\"zone-b\"}]}}]}");
	build(&cfg1);
	const struct fsvc *v = find("default/close:80/tcp");
	CHECK(v && v->n_eps == 1 && ep(v, "198.18.0.6", 80));

	/* one endpoint without hints: all endpoints are used */
	reset();
	svc("{" META("default", "close") ",\"spec\":{\"clusterIP\":\"198.19.0.30\",\"clusterIPs\":[\"198.19.0.30\"],"
	    "\"ports\":[{\"port\":80}]}}");
	eps("{" SLICE_META("default", "close-1", "close") ",\"addressType\":\"IPv4\","
	    "\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}],\"endpoints\":["
	    "{\"addresses\":[\"198.18.0.6\"],\"nodeName\":\"node1\",\"hints\":{\"forZones\":[{\"name\":\"zone-a\"}]}},"
	    "{\"addresses\":[\"198.18.1.6\"],\"nodeName\":\"node2\"}]}");
	build(&cfg1);
	v = find("default/close:80/tcp");
	CHECK(v && v->n_eps == 2);
}

/* Dual-stack: one Service port carries both families; slices per family. */
static void test_dual_stack(void)
{
	reset();
	svc("{" META("default", "dual") ",\"spec\":{\"clusterIP\":\"198.19.0.40\","
	    "\"clusterIPs\":[\"198.19.0.40\",\"2001:db8:5e::40\"],\"ipFamilies\":[\"IPv4\",\"IPv6\"],"
	    "\"ports\":[{\"port\":80}]}}");
	eps("{" SLICE_META("default", "dual-4", "dual") ",\"addressType\":\"IPv4\","
	    "\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}],\"endpoints\":[{\"addresses\":[\"198.18.0.7\"]}]}");
	eps("{" SLICE_META("default", "dual-6", "dual") ",\"addressType\":\"IPv6\","
	    "\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}],\"endpoints\":[{\"addresses\":[\"2001:db8:1::7\"]}]}");
	build(&cfg1);
	const struct fsvc *v = find("default/dual:80/tcp");
	CHECK(v && v->n_cluster_ips == 2 && v->n_eps == 2);
	if (v) {
		CHECK(ep(v, "2001:db8:1::7", 80) && ep(v, "198.18.0.7", 80));
		CHECK_EQ_STR(ip(&v->cluster_ips[1]), "2001:db8:5e::40");
	}
}

/* Node-wide: NodePorts on the primary (InternalIP) addresses by default, or
 * on --nodeport-addresses; pod traffic from the node's podCIDRs, or from
 * --cluster-cidr. */
static void test_node(void)
{
	reset();
	build(&cfg1);
	CHECK_EQ_INT(st.node.n_node_ips, 1);
	CHECK_EQ_STR(ip(&st.node.node_ips[0]), "192.0.2.11");
	CHECK_EQ_INT(st.node.n_nodeport_cidrs, 1);
	CHECK_EQ_STR(ip(&st.node.nodeport_cidrs[0]), "192.0.2.11");
	CHECK_EQ_INT(st.node.n_pod_cidrs, 1);
	CHECK_EQ_STR(ip(&st.node.pod_cidrs[0]), "198.18.0.0/24");

	const char *np[] = { "192.0.2.0/24" }, *cc[] = { "198.18.0.0/16" };
	struct proxy_config c = { .node_name = "node1", .nodeport_addresses = np,
				  .n_nodeport_addresses = 1, .cluster_cidrs = cc,
				  .n_cluster_cidrs = 1, .masquerade_all = true };
	build(&c);
	CHECK_EQ_STR(ip(&st.node.nodeport_cidrs[0]), "192.0.2.0/24");
	CHECK_EQ_STR(ip(&st.node.pod_cidrs[0]), "198.18.0.0/16");
	CHECK(st.node.masquerade_all);

	/* a status heartbeat changes nothing proxy_build reads; an address,
	 * a podCIDR or the zone does */
#define NODE(zone, cidr, addr, ready) "{\"metadata\":{\"name\":\"node1\",\"resourceVersion\":\"2\"," \
	"\"labels\":{\"topology.kubernetes.io/zone\":\"" zone "\"}},\"spec\":{\"podCIDRs\":[\"" cidr "\"]}," \
	"\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"" ready "\"}]," \
	"\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"" addr "\"}]}}"
	struct kube_object *a = obj(KUBE_NODE, NODE("zone-a", "198.18.0.0/24", "192.0.2.11", "True"));
	struct kube_object *b[] = {
		obj(KUBE_NODE, NODE("zone-a", "198.18.0.0/24", "192.0.2.11", "False")),
		obj(KUBE_NODE, NODE("zone-b", "198.18.0.0/24", "192.0.2.11", "True")),
		obj(KUBE_NODE, NODE("zone-a", "198.18.1.0/24", "192.0.2.11", "True")),
		obj(KUBE_NODE, NODE("zone-a", "198.18.0.0/24", "192.0.2.12", "True")),
	};
	CHECK(proxy_node_same(kube_node(a), kube_node(b[0])));
	for (int i = 1; i < 4; i++)
		CHECK(!proxy_node_same(kube_node(a), kube_node(b[i])));
	CHECK(!proxy_node_same(kube_node(a), NULL));
	kube_object_free(a);
	for (int i = 0; i < 4; i++)
		kube_object_free(b[i]);
}

int main(void)
{
	node = obj(KUBE_NODE, "{\"metadata\":{\"name\":\"node1\",\"uid\":\"n1\",\"resourceVersion\":\"1\","
		   "\"labels\":{\"topology.kubernetes.io/zone\":\"zone-a\"}},"
		   "\"spec\":{\"podCIDR\":\"198.18.0.0/24\",\"podCIDRs\":[\"198.18.0.0/24\"]},"
		   "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.0.2.11\"},"
		   "{\"type\":\"Hostname\",\"address\":\"node1\"}]}}");
	fstate_init(&st);
	test_loadbalancer_and_slices();
	test_skipped_and_protocols();
	test_policies_affinity_terminating();
	test_topology_hints();
	test_dual_stack();
	test_node();
	reset();
	kube_object_free(node);
	fstate_free(&st);
	return test_done("proxy_build");
}
