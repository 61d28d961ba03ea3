/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lbip/svc.c: which Services are ours, and what the allocator is told. */
#include "core/test.h"
#include "lbip/svc.h"

#include <json-c/json.h>
#include <stdlib.h>

static struct kube_object *obj(enum kube_kind k, const char *text)
{
	struct json_object *j = json_tokener_parse(text);
	const char *err = NULL;
	struct kube_object *o = kube_object_from_json(k, j, &err);

	json_object_put(j);
	if (!o)
		fprintf(stderr, "bad test object: %s\n", err);
	return o;
}

static void test_ours(void)
{
	struct kube_object *plain = obj(KUBE_SERVICE,
		"{\"metadata\":{\"name\":\"a\",\"namespace\":\"d\"},\"spec\":{\"type\":\"LoadBalancer\"}}");
	struct kube_object *cls = obj(KUBE_SERVICE,
		"{\"metadata\":{\"name\":\"b\",\"namespace\":\"d\"},\"spec\":{\"type\":\"LoadBalancer\","
		"\"loadBalancerClass\":\"metallb.io/metallb\"}}");
	struct kube_object *other = obj(KUBE_SERVICE,
		"{\"metadata\":{\"name\":\"c\",\"namespace\":\"d\"},\"spec\":{\"type\":\"LoadBalancer\","
		"\"loadBalancerClass\":\"e2e.ferry.dev/manual\"}}");
	struct kube_object *np = obj(KUBE_SERVICE,
		"{\"metadata\":{\"name\":\"e\",\"namespace\":\"d\"},\"spec\":{\"type\":\"NodePort\"}}");

	CHECK(lb_svc_is_ours(kube_service(plain), LB_DEFAULT_CLASS));
	CHECK(lb_svc_is_ours(kube_service(plain), NULL));
	CHECK(lb_svc_is_ours(kube_service(cls), LB_DEFAULT_CLASS));
	CHECK(!lb_svc_is_ours(kube_service(cls), "ferry.dev/other"));
	CHECK(!lb_svc_is_ours(kube_service(other), LB_DEFAULT_CLASS));
	CHECK(!lb_svc_is_ours(kube_service(np), LB_DEFAULT_CLASS));
	CHECK(!lb_svc_is_ours(NULL, LB_DEFAULT_CLASS));
	kube_object_free(plain);
	kube_object_free(cls);
	kube_object_free(other);
	kube_object_free(np);
}

static void test_view(void)
{
	struct kube_object *s = obj(KUBE_SERVICE,
		"{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\","
		"\"creationTimestamp\":\"2026-11-26T13:20:01Z\",\"labels\":{\"tier\":\"front\"},"
		"\"annotations\":{\"metallb.universe.tf/address-pool\":\"old\",\"metallb.io/address-pool\":\"new\","
		"\"metallb.universe.tf/allow-shared-ip\":\"k1\",\"metallb.universe.tf/loadBalancerIPs\":\"192.0.2.201,2001:db8::c9\"}},"
		"\"spec\":{\"type\":\"LoadBalancer\",\"externalTrafficPolicy\":\"Local\",\"selector\":{\"app\":\"web\"},"
		"\"ipFamilyPolicy\":\"RequireDualStack\",\"ipFamilies\":[\"IPv6\",\"IPv4\"],"
		"\"ports\":[{\"port\":80,\"protocol\":\"TCP\"},{\"port\":53,\"protocol\":\"UDP\"}]},"
		"\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.201\"},{\"hostname\":\"x.example\"},{\"ip\":\"2001:db8::c9\"}]}}}");
	struct kube_object *ns = obj(KUBE_NAMESPACE,
		"{\"metadata\":{\"name\":\"shop\",\"labels\":{\"team\":\"blue\",\"env\":\"prod\"}}}");
	struct lb_svc_view v;

	CHECK(s && ns);
	CHECK_EQ_INT(lb_svc_view_init(&v, kube_service(s), kube_namespace(ns)), 0);
	CHECK_EQ_STR(v.svc.ns, "shop");
	CHECK_EQ_STR(v.svc.name, "web");
	CHECK(v.svc.created > 1700000000);
	CHECK_EQ_STR(v.svc.pool, "new");		/* metallb.io/ wins */
	CHECK_EQ_STR(v.svc.sharing_key, "k1");	/* old spelling still read */
	CHECK_EQ_STR(v.svc.lb_ips_annotation, "192.0.2.201,2001:db8::c9");
	CHECK_EQ_INT(v.svc.policy, LB_REQUIRE_DUAL_STACK);
	CHECK_EQ_INT(v.svc.n_families, 2);
	CHECK_EQ_INT(v.svc.families[0], 6);
	CHECK_EQ_INT(v.svc.families[1], 4);
	CHECK(v.svc.local);
	CHECK_EQ_INT(v.svc.n_ports, 2);
	CHECK_EQ_INT(v.svc.ports[1].proto, LB_UDP);
	CHECK_EQ_INT(v.svc.ports[1].port, 53);
	CHECK_EQ_INT(v.svc.n_labels, 1);
	CHECK_EQ_STR(v.svc.labels[0].value, "front");
	CHECK_EQ_INT(v.svc.n_ns_labels, 2);
	CHECK_EQ_INT(v.svc.n_selector, 1);
	CHECK_EQ_STR(v.svc.selector[0].key, "app");
	CHECK_EQ_INT(v.svc.n_status_ips, 2);	/* the hostname is skipped */
	CHECK_EQ_INT(v.svc.status_ips[1].family, 6);
	lb_svc_view_free(&v);

	/* no Namespace object yet: no namespace labels, still a view */
	CHECK_EQ_INT(lb_svc_view_init(&v, kube_service(s), NULL), 0);
	CHECK_EQ_INT(v.svc.n_ns_labels, 0);
	CHECK_EQ_INT(v.svc.n_selector, 1);
	lb_svc_view_free(&v);
	kube_object_free(s);
	kube_object_free(ns);
}

int main(void)
{
	test_ours();
	test_view();
	return test_done("lbip_svc");
}
