/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Model, JSON and rendering: no kernel needed. */
#include "core/test.h"
#include "nft/model.h"
#include "nft/render.h"

#include <errno.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>

static struct fsvc *svc(struct fstate *s, const char *key, const char *vip, int neps, int nlocal)
{
	struct fsvc *v = fstate_add_svc(s, key);
	struct faddr a;
	v->proto = IPPROTO_TCP;
	v->port = 80;
	faddr_parse(&a, vip);
	fsvc_add_addr(&v->cluster_ips, &v->n_cluster_ips, &a);
	for (int i = 0; i < neps; i++) {
		struct fendpoint *e = fsvc_add_ep(v);
		char ip[32];
		snprintf(ip, sizeof(ip), "198.18.0.%d", i + 2);
		faddr_parse(&e->addr, ip);
		e->port = 8080;
		e->ready = e->serving = true;
		e->local = i < nlocal;
	}
	return v;
}

static size_t count(const struct relem_vec *v, int set, uint32_t verdict)
{
	size_t n = 0;
	for (size_t i = 0; i < v->n; i++)
		if (v->v[i].set == set && (verdict == 99 || v->v[i].verdict == verdict))
			n++;
	return n;
}

static void test_addr(void)
{
	struct faddr a;
	char buf[64];
	CHECK_EQ_INT(faddr_parse(&a, "198.18.7.9/15"), 0);
	CHECK_EQ_STR(faddr_str(&a, buf, sizeof(buf)), "198.18.0.0/15");
	CHECK_EQ_INT(faddr_parse(&a, "2001:db8::1"), 0);
	CHECK_EQ_INT(a.plen, 128);
	CHECK(faddr_parse(&a, "198.18.0.1/33") < 0);
	CHECK(faddr_parse(&a, "nonsense") < 0);
	CHECK(faddr_parse(&a, "") < 0);
	CHECK(faddr_parse(&a, "1.2.3.4/") < 0);
}

static void test_pick_eps(void)
{
	struct fstate s;
	fstate_init(&s);
	struct fsvc *v = svc(&s, "ns/a:http/tcp", "198.19.0.1", 3, 1);
	const struct fendpoint *out[8];
	CHECK_EQ_INT(fsvc_pick_eps(v, AF_INET, false, out), 3);
	CHECK_EQ_INT(fsvc_pick_eps(v, AF_INET, true, out), 1);
	CHECK_EQ_INT(fsvc_pick_eps(v, AF_INET6, false, out), 0);
	/* topology hints send cluster-wide traffic away from the local one,
	 * which a Local policy still uses */
	v->eps[0].hinted_away = true;
	CHECK_EQ_INT(fsvc_pick_eps(v, AF_INET, false, out), 2);
	CHECK(out[0] == &v->eps[1] && out[1] == &v->eps[2]);
	CHECK_EQ_INT(fsvc_pick_eps(v, AF_INET, true, out), 1);
	CHECK(out[0] == &v->eps[0]);
	v->eps[0].hinted_away = false;
	/* none ready: serving + terminating ones take over */
	for (size_t i = 0; i < v->n_eps; i++)
		v->eps[i].ready = false;
	v->eps[2].terminating = true;
	CHECK_EQ_INT(fsvc_pick_eps(v, AF_INET, false, out), 1);
	CHECK(out[0] == &v->eps[2]);
	v->eps[2].serving = false;
	CHECK_EQ_INT(fsvc_pick_eps(v, AF_INET, false, out), 0);
	fstate_free(&s);
}

/* One tenant's broken Service port leaves out that port alone. */
static void test_drop_bad(void)
{
	struct fstate s;

	fstate_init(&s);
	svc(&s, "a/good:http/tcp", "198.19.0.1", 1, 0);
	svc(&s, "b/dup:http/tcp", "198.19.0.2", 1, 0);
	svc(&s, "b/dup:http/tcp", "198.19.0.3", 1, 0);
	svc(&s, "c/noport:http/tcp", "198.19.0.4", 1, 0)->port = 0;
	svc(&s, "d/badip:http/tcp", "198.19.0.5", 1, 0)->cluster_ips[0].plen = 24;
	svc(&s, "e/good:http/tcp", "198.19.0.6", 1, 0);
	fstate_sort(&s);
	CHECK_EQ_INT(fstate_check(&s), -EINVAL);
	CHECK_EQ_INT((int)fstate_drop_bad(&s), 3);
	CHECK_EQ_INT(fstate_check(&s), 0);
	CHECK_EQ_INT((int)s.n_svcs, 3);
	CHECK(fstate_find(&s, "a/good:http/tcp") && fstate_find(&s, "e/good:http/tcp"));
	CHECK(fstate_find(&s, "b/dup:http/tcp") != NULL);
	CHECK(!fstate_find(&s, "c/noport:http/tcp") && !fstate_find(&s, "d/badip:http/tcp"));
	CHECK_EQ_INT((int)fstate_drop_bad(&s), 0);
	fstate_free(&s);
}

static void test_render(void)
{
	struct fstate s;
	struct relem_vec vec = { 0 };
	fstate_init(&s);

	/* Cluster IP, two endpoints: entry, pick, two DNAT elements. */
	struct fsvc *v = svc(&s, "ns/a:http/tcp", "198.19.0.1", 2, 0);
	CHECK_EQ_INT(render_svc(v, 0, &vec), 0);
	CHECK_EQ_INT(count(&vec, RS_SERVICE_IPS, RV_GOTO), 1);
	CHECK_EQ_INT(count(&vec, RS_PICK_IPS_INTERNAL, RV_GOTO), 1);
	CHECK_EQ_INT(count(&vec, RS_DNAT_IPS, 99), 2);
	CHECK_EQ_INT(count(&vec, RS_CLUSTER_IPS, 99), 1);	/* its unknown ports: reject */
	CHECK_EQ_INT(vec.n, 5);
	for (size_t i = 0; i < vec.n; i++)
		if (vec.v[i].set == RS_PICK_IPS_INTERNAL)
			CHECK_EQ_STR(vec.v[i].chain, "pick-ip-2");
	vec.n = 0;
	CHECK_EQ_INT(render_svc(v, 1, &vec), 0);	/* no IPv6 address: nothing */
	CHECK_EQ_INT(vec.n, 0);

	/* Local policy, a NodePort, no local endpoint: external traffic dropped. */
	struct faddr lb;
	faddr_parse(&lb, "203.0.113.7");
	v = svc(&s, "ns/b:http/tcp", "198.19.0.2", 2, 0);
	v->external_policy = FPOLICY_LOCAL;
	v->node_port = 30080;
	fsvc_add_addr(&v->lb_ips, &v->n_lb_ips, &lb);
	vec.n = 0;
	CHECK_EQ_INT(render_svc(v, 0, &vec), 0);
	CHECK_EQ_INT(count(&vec, RS_PICK_IPS_EXTERNAL, RV_DROP), 1);
	CHECK_EQ_INT(count(&vec, RS_PICK_NP_EXTERNAL, RV_DROP), 1);
	CHECK_EQ_INT(count(&vec, RS_PICK_IPS_INTERNAL, RV_GOTO), 2);	/* cluster IP + LB IP */
	CHECK_EQ_INT(count(&vec, RS_PICK_NP_INTERNAL, RV_GOTO), 1);

	/* No endpoints: reject entries instead. */
	v = svc(&s, "ns/c:http/tcp", "198.19.0.3", 0, 0);
	v->node_port = 30081;
	vec.n = 0;
	CHECK_EQ_INT(render_svc(v, 0, &vec), 0);
	CHECK_EQ_INT(count(&vec, RS_NOEP_IPS, 99), 1);
	CHECK_EQ_INT(count(&vec, RS_NOEP_NODEPORTS, 99), 1);
	CHECK_EQ_INT(count(&vec, RS_CLUSTER_IPS, 99), 1);
	CHECK_EQ_INT(vec.n, 3);

	/* Affinity and local endpoints: names carry both; hairpin for local. */
	v = svc(&s, "ns/d:http/tcp", "198.19.0.4", 3, 2);
	v->affinity_timeout = 600;
	v->internal_policy = FPOLICY_LOCAL;
	vec.n = 0;
	CHECK_EQ_INT(render_svc(v, 0, &vec), 0);
	relem_vec_sort(&vec);
	CHECK_EQ_INT(count(&vec, RS_HAIRPIN, 99), 2);
	for (size_t i = 0; i < vec.n; i++)
		if (vec.v[i].set == RS_PICK_IPS_INTERNAL)
			CHECK_EQ_STR(vec.v[i].chain, "pick-ip-local-2-aff600");

	/* The local list falls back to a terminating local endpoint while the
	 * cluster-wide list has a ready remote one: hairpin still covers it. */
	v = svc(&s, "ns/e:http/tcp", "198.19.0.5", 2, 1);
	v->external_policy = FPOLICY_LOCAL;
	v->node_port = 30085;
	v->eps[0].ready = false;
	v->eps[0].terminating = true;
	vec.n = 0;
	CHECK_EQ_INT(render_svc(v, 0, &vec), 0);
	relem_vec_sort(&vec);
	CHECK_EQ_INT(count(&vec, RS_HAIRPIN, 99), 1);
	CHECK_EQ_INT(count(&vec, RS_PICK_NP_EXTERNAL, RV_GOTO), 1);
	relem_vec_free(&vec);
	fstate_free(&s);
}

static void test_pick_names(void)
{
	struct rpick p = { .nodeport = true, .local = true, .k = 7, .affinity = 10800 }, q;
	char name[RCHAIN_MAX];
	rpick_name(&p, name, sizeof(name));
	CHECK_EQ_STR(name, "pick-np-local-7-aff10800");
	CHECK(rpick_parse(name, &q));
	CHECK(q.nodeport && q.local && q.k == 7 && q.affinity == 10800);
	CHECK(rpick_parse("pick-ip-3", &q) && !q.nodeport && q.k == 3 && !q.affinity);
	CHECK(!rpick_parse("pick-ip-0", &q));
	CHECK(!rpick_parse("services", &q));
	CHECK(!rpick_parse("pick-ip-3x", &q));
}

static const char *good =
	"{\"node\":{\"nodeIPs\":[\"203.0.113.1\"],\"podCIDRs\":[\"198.18.0.0/16\"]},"
	"\"services\":[{\"key\":\"ns/b:p/udp\",\"protocol\":\"udp\",\"port\":53,"
	"\"clusterIPs\":[\"198.19.0.53\",\"2001:db8::53\"],\"affinityTimeout\":60,"
	"\"endpoints\":[{\"ip\":\"198.18.0.9\",\"port\":5353,\"local\":true,\"ready\":false,"
	"\"serving\":true,\"terminating\":true}]},"
	"{\"key\":\"ns/a:p/tcp\",\"port\":80,\"clusterIPs\":[\"198.19.0.1\"]}]}";

static void test_json(void)
{
	struct fstate s, t;
	CHECK_EQ_INT(fstate_from_json(&s, good, strlen(good)), 0);
	CHECK_EQ_INT(s.n_svcs, 2);
	CHECK_EQ_STR(s.svcs[0].key, "ns/a:p/tcp");	/* sorted */
	CHECK_EQ_INT(s.svcs[1].proto, IPPROTO_UDP);
	CHECK(s.svcs[1].eps[0].terminating && !s.svcs[1].eps[0].ready);
	char *text = fstate_to_json(&s);
	CHECK_EQ_INT(fstate_from_json(&t, text, strlen(text)), 0);
	CHECK_EQ_INT(t.n_svcs, 2);
	for (size_t i = 0; i < t.n_svcs && i < s.n_svcs; i++)
		CHECK(fsvc_equal(&s.svcs[i], &t.svcs[i]));
	CHECK(fnode_equal(&s.node, &t.node));
	free(text);
	fstate_free(&t);

	/* copy compares equal */
	CHECK_EQ_INT(fstate_copy(&t, &s), 0);
	CHECK(fsvc_equal(&s.svcs[1], &t.svcs[1]));
	t.svcs[1].eps[0].local = false;
	CHECK(!fsvc_equal(&s.svcs[1], &t.svcs[1]));
	fstate_free(&t);
	fstate_free(&s);

	/* node settings: the masquerade bit and the Service CIDRs round-trip */
	const char *node = "{\"node\":{\"masqueradeBit\":0,\"serviceCIDRs\":[\"198.19.0.0/16\"]}}";
	CHECK_EQ_INT(fstate_from_json(&s, node, strlen(node)), 0);
	CHECK_EQ_INT(fnode_masq_mark(&s.node), 1);
	CHECK_EQ_INT(s.node.n_service_cidrs, 1);
	char *nj = fstate_to_json(&s);
	CHECK(nj && strstr(nj, "\"masqueradeBit\":0") && strstr(nj, "198.19.0.0"));
	CHECK(fstate_copy(&t, &s) == 0 && fnode_equal(&s.node, &t.node));
	t.node.masq_mark = 0;	/* the default, 1 << 14 */
	CHECK(!fnode_equal(&s.node, &t.node));
	free(nj);
	fstate_free(&t);
	fstate_free(&s);
	fstate_init(&s);
	fstate_init(&t);
	CHECK_EQ_INT(fnode_masq_mark(&s.node), 0x4000);

	/* detection by input interface round-trips; a change is a node change */
	const char *ifn = "{\"node\":{\"podInterface\":\"veth\",\"podInterfacePrefix\":true}}";
	CHECK_EQ_INT(fstate_from_json(&s, ifn, strlen(ifn)), 0);
	CHECK_EQ_STR(s.node.pod_iface, "veth");
	CHECK(s.node.pod_iface_prefix);
	nj = fstate_to_json(&s);
	CHECK(nj && strstr(nj, "\"podInterface\":\"veth\"") && strstr(nj, "\"podInterfacePrefix\":true"));
	CHECK(fstate_copy(&t, &s) == 0 && fnode_equal(&s.node, &t.node));
	t.node.pod_iface_prefix = false;
	CHECK(!fnode_equal(&s.node, &t.node));
	free(nj);
	fstate_free(&t);
	fstate_free(&s);
	fstate_init(&s);
	fstate_init(&t);

	static const char *bad[] = {
		"", "[]", "{\"services\":{}}", "{\"extra\":1}",
		"{\"services\":[{\"port\":80}]}",
		"{\"services\":[{\"key\":\"a\",\"port\":0}]}",
		"{\"services\":[{\"key\":\"a\",\"port\":70000}]}",
		"{\"services\":[{\"key\":\"a\",\"port\":80,\"protocol\":\"icmp\"}]}",
		"{\"services\":[{\"key\":\"a\",\"port\":80,\"clusterIPs\":[\"198.19.0.0/24\"]}]}",
		"{\"services\":[{\"key\":\"a\",\"port\":80,\"endpoints\":[{\"ip\":\"x\",\"port\":1}]}]}",
		"{\"services\":[{\"key\":\"a\",\"port\":80,\"endpoints\":[{\"ip\":\"198.18.0.1\"}]}]}",
		"{\"services\":[{\"key\":\"a\",\"port\":80},{\"key\":\"a\",\"port\":81}]}",
		"{\"services\":[{\"key\":\"a\\\"b\",\"port\":80}]}",
		"{\"services\":[{\"key\":\"a\",\"port\":80,\"typo\":1}]}",
		"{\"node\":{\"masqueradeAll\":1}}",
		"{\"node\":{\"masqueradeBit\":32}}",
		"{\"node\":{\"masqueradeBit\":-1}}",
		"{\"node\":{\"serviceCIDRs\":[\"198.19.0.0/33\"]}}",
		"{\"node\":{\"podInterface\":\"\"}}",
		"{\"node\":{\"podInterface\":\"a-name-of-16-chr\"}}",
		"{\"node\":{\"podInterfacePrefix\":true}}",
		"{} trailing",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = fstate_from_json(&s, bad[i], strlen(bad[i]));
		if (r == 0)
			fprintf(stderr, "accepted bad input: %s\n", bad[i]);
		CHECK(r < 0);
		CHECK_EQ_INT(s.n_svcs, 0);
	}
}

/* The last byte of the IPv4 endpoint a DNAT element keyed by `mark` leads
 * to, or 0. */
static uint32_t dnat_to(const struct relem_vec *v, uint32_t mark)
{
	for (size_t i = 0; i < v->n; i++) {
		uint32_t m;
		if (v->v[i].set != RS_DNAT_IPS)
			continue;
		memcpy(&m, v->v[i].key + v->v[i].klen - 4, 4);
		if (m == mark)
			return v->v[i].data[3];
	}
	return 0;
}

/* Affinity remembers endpoint ids: the same endpoint keeps its id when
 * others are added before it, ids never meet indexes, the Service port is
 * in the high bits. */
static void test_render_affinity(void)
{
	struct fstate s, t;
	struct relem_vec a = { 0 }, b = { 0 };
	uint32_t ida[2], idb[4];
	fstate_init(&s);
	fstate_init(&t);

	struct fsvc *v = svc(&s, "ns/aff:http/tcp", "198.19.0.9", 2, 0);
	v->affinity_timeout = 60;
	CHECK_EQ_INT(render_svc(v, 0, &a), 0);
	CHECK_EQ_INT(count(&a, RS_AFFINITY_IDS, 99), 3);	/* the base and 2 ids */
	CHECK_EQ_INT(count(&a, RS_DNAT_IPS, 99), 2);
	CHECK_EQ_INT(raff_ids(v, 0, ida), 0);
	uint32_t base = raff_base(v);
	CHECK(ida[0] != ida[1] && (base & RAFF_ID) && !(base & ~RAFF_PORT_MASK));
	for (int i = 0; i < 2; i++)
		CHECK((ida[i] & RAFF_PORT_MASK) == base && !(ida[i] & 1));
	uint32_t ep0 = dnat_to(&a, ida[0]), ep1 = dnat_to(&a, ida[1]);
	CHECK(ep0 && ep1 && ep0 != ep1);
	CHECK_EQ_INT((int)dnat_to(&a, 0), 0);	/* no index elements for affinity */
	svc(&s, "ns/other:http/tcp", "198.19.0.10", 0, 0);
	v = &s.svcs[0];
	CHECK(raff_base(&s.svcs[1]) != base);

	/* two endpoints added before them: indexes move, ids do not */
	struct fsvc *w = svc(&t, "ns/aff:http/tcp", "198.19.0.9", 0, 0);
	w->affinity_timeout = 60;
	for (int i = 0; i < 4; i++) {
		struct fendpoint *e = fsvc_add_ep(w);
		*e = v->eps[i < 2 ? 0 : i - 2];
		if (i < 2)
			e->addr.a[3] = (uint8_t)(200 + i);
	}
	CHECK_EQ_INT(render_svc(w, 0, &b), 0);
	CHECK_EQ_INT(count(&b, RS_AFFINITY_IDS, 99), 5);
	CHECK_EQ_INT(raff_ids(w, 0, idb), 0);
	CHECK(idb[2] == ida[0] && idb[3] == ida[1]);
	CHECK_EQ_INT((int)dnat_to(&b, ida[0]), (int)ep0);
	CHECK_EQ_INT((int)dnat_to(&b, ida[1]), (int)ep1);
	relem_vec_free(&a);
	relem_vec_free(&b);
	fstate_free(&s);
	fstate_free(&t);
}

int main(void)
{
	test_addr();
	test_pick_eps();
	test_drop_bad();
	test_render();
	test_render_affinity();
	test_pick_names();
	test_json();
	return test_done("test_nft_model");
}
