/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "kube/objects.h"
#include "core/test.h"
#include "kube/tests/util.h"

#include <json-c/json.h>

static struct kube_object *load(enum kube_kind k, const char *file)
{
	char *text = slurp(file, NULL);
	struct json_object *j = json_tokener_parse(text);
	const char *err = NULL;
	struct kube_object *o = kube_object_from_json(k, j, &err);

	if (!o)
		fprintf(stderr, "%s: %s\n", file, err);
	json_object_put(j);
	free(text);
	return o;
}

static void test_service(void)
{
	struct kube_object *o = load(KUBE_SERVICE, "service-lb.json");
	const struct kube_service *s = kube_service(o);

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_STR(o->namespace, "shop");
	CHECK_EQ_STR(o->name, "web");
	CHECK_EQ_STR(o->resource_version, "48213");
	CHECK_EQ_INT(s->type, KUBE_SVC_LOAD_BALANCER);
	CHECK(!s->headless);
	CHECK_EQ_INT(s->n_cluster_ips, 2);
	CHECK_EQ_STR(s->cluster_ips[1], "2001:db8:1::20");
	CHECK_EQ_INT(s->n_ip_families, 2);
	CHECK_EQ_INT(s->ip_families[1], KUBE_IPV6);
	CHECK_EQ_STR(s->ip_family_policy, "PreferDualStack");
	CHECK_EQ_INT(s->external_traffic_policy, KUBE_POLICY_LOCAL);
	CHECK_EQ_INT(s->internal_traffic_policy, KUBE_POLICY_CLUSTER);
	CHECK_EQ_INT(s->health_check_node_port, 31555);
	CHECK(s->session_affinity_client_ip);
	CHECK_EQ_INT(s->session_affinity_timeout, 10800);
	CHECK(s->allocate_lb_node_ports);
	CHECK_EQ_INT(s->n_lb_source_ranges, 1);
	CHECK_EQ_STR(s->lb_source_ranges[0], "192.0.2.0/24");
	CHECK_EQ_INT(s->n_ports, 2);
	CHECK_EQ_STR(s->ports[0].name, "http");
	CHECK_EQ_INT(s->ports[0].port, 80);
	CHECK_EQ_INT(s->ports[0].node_port, 30080);
	CHECK_EQ_INT(s->ports[0].target_port, 0);
	CHECK_EQ_STR(s->ports[0].target_port_name, "http");
	CHECK_EQ_INT(s->ports[1].protocol, KUBE_PROTO_UDP);
	CHECK_EQ_INT(s->ports[1].target_port, 5353);
	CHECK_EQ_STR(s->ports[1].app_protocol, "dns");
	CHECK_EQ_INT(s->n_lb_ingress, 1);
	CHECK_EQ_STR(s->lb_ingress[0].ip, "203.0.113.10");
	CHECK_EQ_STR(s->lb_ingress[0].ip_mode, "VIP");
	CHECK_EQ_STR(kube_object_annotation(o, "metallb.universe.tf/address-pool"), "public");
	CHECK_EQ_STR(kube_object_annotation(o, "metallb.universe.tf/allow-shared-ip"), "web");
	CHECK_EQ_STR(kube_object_annotation(o, "metallb.universe.tf/loadBalancerIPs"), "203.0.113.10");
	/* the big last-applied copy is not kept; every label is (MetalLB's
	 * serviceSelectors may match any) */
	CHECK(!kube_object_annotation(o, "kubectl.kubernetes.io/last-applied-configuration"));
	CHECK(kube_object_label(o, "app") != NULL);
	CHECK_EQ_STR(kube_object_label(o, "service.kubernetes.io/service-proxy-name"), "ferry");
	CHECK(o->size < 1024);
	fprintf(stderr, "service: %zu bytes\n", o->size);
	kube_object_free(o);

	o = load(KUBE_SERVICE, "service-headless.json");
	s = kube_service(o);
	CHECK(s && s->headless && s->type == KUBE_SVC_CLUSTER_IP);
	CHECK(s && s->ports[0].target_port == 5432 && !s->ports[0].target_port_name);
	CHECK(kube_object_label(o, "service.kubernetes.io/headless") != NULL);
	kube_object_free(o);
}

static void test_endpointslice(void)
{
	struct kube_object *o = load(KUBE_ENDPOINTSLICE, "endpointslice.json");
	const struct kube_endpointslice *e = kube_endpointslice(o);

	CHECK(e != NULL);
	if (!e)
		return;
	CHECK_EQ_STR(e->service_name, "web");
	CHECK_EQ_INT(e->address_type, KUBE_ADDR_IPV4);
	CHECK_EQ_INT(e->n_endpoints, 3);
	CHECK_EQ_STR(e->endpoints[0].addresses[0], "198.18.1.5");
	CHECK_EQ_INT(e->endpoints[0].ready, 1);
	CHECK_EQ_INT(e->endpoints[0].terminating, 0);
	CHECK_EQ_STR(e->endpoints[0].node_name, "node-a");
	CHECK_EQ_STR(e->endpoints[0].zone, "zone-a");
	CHECK_EQ_INT(e->endpoints[0].n_hint_zones, 1);
	CHECK_EQ_STR(e->endpoints[0].hint_zones[0], "zone-a");
	CHECK_EQ_INT(e->endpoints[1].ready, 0);
	CHECK_EQ_INT(e->endpoints[1].serving, 1);
	CHECK_EQ_INT(e->endpoints[1].terminating, 1);
	CHECK_EQ_INT(e->endpoints[2].ready, KUBE_UNSET);
	CHECK(e->endpoints[2].zone == NULL);
	CHECK_EQ_INT(e->n_ports, 2);
	CHECK_EQ_INT(e->ports[1].port, 5353);
	CHECK_EQ_INT(e->ports[1].protocol, KUBE_PROTO_UDP);
	CHECK(!kube_object_label(o, "app"));
	CHECK_EQ_STR(kube_object_label(o, "endpointslice.kubernetes.io/managed-by"),
		     "endpointslice-controller.k8s.io");
	fprintf(stderr, "endpointslice (3 endpoints): %zu bytes\n", o->size);
	CHECK(o->size < 1024);
	kube_object_free(o);
}

static void test_node(void)
{
	struct kube_object *o = load(KUBE_NODE, "node.json");
	const struct kube_node *n = kube_node(o);

	CHECK(n != NULL);
	if (!n)
		return;
	CHECK_EQ_STR(o->namespace, "");
	CHECK_EQ_STR(o->name, "node-a");
	CHECK(n->unschedulable);
	CHECK_EQ_INT(n->ready, 1);
	CHECK_EQ_INT(n->n_pod_cidrs, 2);
	CHECK_EQ_STR(n->pod_cidrs[1], "2001:db8:1:1::/64");
	CHECK_EQ_INT(n->n_addresses, 3);
	CHECK_EQ_STR(n->addresses[1].address, "2001:db8::11");
	CHECK_EQ_STR(n->addresses[2].type, "Hostname");
	CHECK_EQ_STR(kube_object_label(o, "topology.kubernetes.io/zone"), "zone-a");
	CHECK_EQ_INT(o->n_labels, 4);
	CHECK_EQ_INT(o->n_annotations, 0);
	CHECK(n->to_be_deleted);
	CHECK(!n->deleting);
	kube_object_free(o);

	/* a Node being deleted, no taints */
	const char *err = NULL;
	struct json_object *j = json_tokener_parse("{\"metadata\":{\"name\":\"node-b\","
		"\"deletionTimestamp\":\"2026-11-26T13:00:00Z\"},\"spec\":{}}");
	o = kube_object_from_json(KUBE_NODE, j, &err);
	json_object_put(j);
	CHECK(o && kube_node(o)->deleting && !kube_node(o)->to_be_deleted);
	kube_object_free(o);
}

/* The hash ignores resourceVersion and fields ferry does not keep, and
 * changes with any kept field. */
static void test_hash(void)
{
	static const struct { const char *a, *b; int same; } rows[] = {
		{ "{\"metadata\":{\"name\":\"x\",\"resourceVersion\":\"1\"},\"spec\":{\"ports\":[{\"port\":80}]}}",
		  "{\"metadata\":{\"name\":\"x\",\"resourceVersion\":\"2\"},\"spec\":{\"ports\":[{\"port\":80}]}}", 1 },
		{ "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"selector\":{\"a\":\"b\"}}}",
		  "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"selector\":{\"a\":\"c\"}}}", 0 },
		{ "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"ports\":[{\"port\":80}]}}",
		  "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"ports\":[{\"port\":81}]}}", 0 },
		{ "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"clusterIP\":\"198.18.0.1\"}}",
		  "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"clusterIP\":\"198.18.0.2\"}}", 0 },
		{ "{\"metadata\":{\"name\":\"x\",\"annotations\":{\"metallb.universe.tf/address-pool\":\"a\"}}}",
		  "{\"metadata\":{\"name\":\"x\",\"annotations\":{\"metallb.universe.tf/address-pool\":\"b\"}}}", 0 },
		{ "{\"metadata\":{\"name\":\"x\"},\"status\":{\"loadBalancer\":{}}}",
		  "{\"metadata\":{\"name\":\"x\"},\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"203.0.113.1\"}]}}}", 0 },
		/* an annotation map appearing with only unkept keys */
		{ "{\"metadata\":{\"name\":\"x\"}}",
		  "{\"metadata\":{\"name\":\"x\",\"labels\":{},\"annotations\":{\"unrelated\":\"yes\"}}}", 1 },
		{ "{\"metadata\":{\"name\":\"x\"}}",
		  "{\"metadata\":{\"name\":\"x\",\"labels\":{\"team\":\"a\"}}}", 0 },
		{ "{\"metadata\":{\"name\":\"x\",\"labels\":{\"a\":\"b\"}}}",
		  "{\"metadata\":{\"name\":\"x\",\"labels\":{\"service.kubernetes.io/headless\":\"\"}}}", 0 },
		{ "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"externalName\":\"\"}}",
		  "{\"metadata\":{\"name\":\"x\"},\"spec\":{}}", 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct json_object *ja = json_tokener_parse(rows[i].a), *jb = json_tokener_parse(rows[i].b);
		struct kube_object *a = kube_object_from_json(KUBE_SERVICE, ja, NULL);
		struct kube_object *b = kube_object_from_json(KUBE_SERVICE, jb, NULL);

		CHECK(a && b);
		if (a && b && (a->hash == b->hash) != rows[i].same)
			fprintf(stderr, "hash row %zu wrong\n", i);
		CHECK(a && b && (a->hash == b->hash) == rows[i].same);
		kube_object_free(a);
		kube_object_free(b);
		json_object_put(ja);
		json_object_put(jb);
	}
}

/* Malformed objects: refused with a reason, or built with the wrong-typed
 * fields treated as absent; never a crash. */
static void test_malformed(void)
{
	static const struct { const char *json; int ok; } rows[] = {
		{ "{}", 0 },
		{ "{\"metadata\":{}}", 0 },
		{ "{\"metadata\":{\"name\":\"\"}}", 0 },
		{ "{\"metadata\":{\"name\":42}}", 0 },
		{ "{\"metadata\":\"x\"}", 0 },
		{ "[1,2]", 0 },
		{ "{\"metadata\":{\"name\":\"x\",\"labels\":[1]},\"spec\":{\"ports\":{\"port\":80},\"clusterIPs\":\"x\"}}", 1 },
		{ "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"ports\":[1,\"a\",null,{\"port\":80}]}}", 1 },
		{ "{\"metadata\":{\"name\":\"x\"},\"endpoints\":[null,{\"addresses\":[1,\"198.18.0.1\"],\"conditions\":{\"ready\":\"yes\"}}]}", 1 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		for (int k = 0; k < KUBE_KIND_COUNT; k++) {
			struct json_object *j = json_tokener_parse(rows[i].json);
			const char *err = NULL;
			struct kube_object *o = kube_object_from_json(k, j, &err);

			CHECK(!!o == rows[i].ok);
			CHECK(o || err);
			kube_object_free(o);
			json_object_put(j);
		}
	/* a port number outside 0-65535 (or not a number) refuses the object:
	 * narrowed to 16 bits it would forward another port */
	static const struct { enum kube_kind k; const char *json; int ok; } ports[] = {
		{ KUBE_SERVICE, "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"ports\":[{\"port\":65535,\"nodePort\":30000,\"targetPort\":0}]}}", 1 },
		{ KUBE_SERVICE, "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"ports\":[{\"port\":65616}]}}", 0 },
		{ KUBE_SERVICE, "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"ports\":[{\"port\":-1}]}}", 0 },
		{ KUBE_SERVICE, "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"ports\":[{\"port\":\"80\"}]}}", 0 },
		{ KUBE_SERVICE, "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"ports\":[{\"port\":80,\"nodePort\":95536}]}}", 0 },
		{ KUBE_SERVICE, "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":70000}]}}", 0 },
		{ KUBE_SERVICE, "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":\"http\"}]}}", 1 },
		{ KUBE_SERVICE, "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"healthCheckNodePort\":4294967297}}", 0 },
		{ KUBE_ENDPOINTSLICE, "{\"metadata\":{\"name\":\"x\"},\"ports\":[{\"port\":8080},{}]}", 1 },
		{ KUBE_ENDPOINTSLICE, "{\"metadata\":{\"name\":\"x\"},\"ports\":[{\"port\":73616}]}", 0 },
	};

	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		struct json_object *pj = json_tokener_parse(ports[i].json);
		const char *err = NULL;
		struct kube_object *po = kube_object_from_json(ports[i].k, pj, &err);

		if (!!po != ports[i].ok)
			fprintf(stderr, "port row %zu: %s\n", i, err ? err : "accepted");
		CHECK(!!po == ports[i].ok);
		CHECK(po || (err && strstr(err, "port")));
		kube_object_free(po);
		json_object_put(pj);
	}

	struct json_object *j = json_tokener_parse("{\"metadata\":{\"name\":\"x\"},\"endpoints\":[null,"
		"{\"addresses\":[1,\"198.18.0.1\"],\"conditions\":{\"ready\":\"yes\"}}]}");
	struct kube_object *o = kube_object_from_json(KUBE_ENDPOINTSLICE, j, NULL);
	const struct kube_endpointslice *e = kube_endpointslice(o);

	CHECK(e && e->n_endpoints == 2 && e->endpoints[1].n_addresses == 1);
	CHECK(e && !strcmp(e->endpoints[1].addresses[0], "198.18.0.1"));
	CHECK(e && e->endpoints[1].ready == KUBE_UNSET);
	kube_object_free(o);
	json_object_put(j);
}

/* What MetalLB's allocator reads of a Service: selector, creation time. */
static void test_service_metallb(void)
{
	struct kube_object *o = load(KUBE_SERVICE, "service-lb.json");
	const struct kube_service *s = kube_service(o);

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_INT(s->n_selector, 1);
	CHECK_EQ_STR(kube_kv_get(s->selector, s->n_selector, "app"), "web");
	CHECK_EQ_STR(o->creation_timestamp, "2026-11-20T09:12:44Z");
	CHECK(o->created == 1795165964);
	kube_object_free(o);

	/* a timestamp that is not one: kept as text, 0 seconds; the oldest
	 * is decided by seconds, fractions only cut */
	static const struct { const char *ts; long long want; } rows[] = {
		{ "2026-13-45T09:00:00Z", 0 }, { "yesterday", 0 }, { "2026-11-20T09:12:44", 0 },
		{ "2026-11-20T09:12:44.999999Z", 1795165964 }, { "2026-11-20T10:12:44+01:00", 1795165964 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char text[200];

		snprintf(text, sizeof(text), "{\"metadata\":{\"name\":\"x\",\"creationTimestamp\":\"%s\"}}", rows[i].ts);
		struct json_object *j = json_tokener_parse(text);
		o = kube_object_from_json(KUBE_SERVICE, j, NULL);
		CHECK(o && !strcmp(o->creation_timestamp, rows[i].ts));
		CHECK(o && o->created == rows[i].want);
		kube_object_free(o);
		json_object_put(j);
	}
}

static void test_namespace_configmap(void)
{
	struct kube_object *o = load(KUBE_NAMESPACE, "namespace.json");

	CHECK(kube_namespace(o) != NULL);
	CHECK(o && !strcmp(o->name, "shop") && !*o->namespace);
	CHECK(o && o->n_labels == 2);
	CHECK_EQ_STR(o ? kube_object_label(o, "team") : NULL, "web");
	kube_object_free(o);

	o = load(KUBE_CONFIGMAP, "configmap.json");
	const struct kube_configmap *c = kube_configmap(o);

	CHECK(c != NULL);
	if (c) {
		CHECK_EQ_INT(c->n_data, 2);	/* binaryData not kept */
		CHECK(strstr(kube_kv_get(c->data, c->n_data, "config"), "198.51.100.0/28") != NULL);
		CHECK_EQ_STR(kube_kv_get(c->data, c->n_data, "other"), "x");
		CHECK(o->created == 1795161601);	/* +01:00 offset */
	}
	kube_object_free(o);

	/* a 1 MiB value is kept whole */
	size_t big = 1 << 20;
	char *v = malloc(big + 1);
	CHECK(v != NULL);
	memset(v, 'a', big);
	v[big] = 0;
	struct json_object *j = json_object_new_object(), *md = json_object_new_object(), *d = json_object_new_object();
	json_object_object_add(md, "name", json_object_new_string("config"));
	json_object_object_add(j, "metadata", md);
	json_object_object_add(d, "config", json_object_new_string(v));
	json_object_object_add(j, "data", d);
	o = kube_object_from_json(KUBE_CONFIGMAP, j, NULL);
	c = kube_configmap(o);
	CHECK(c && c->n_data == 1 && strlen(c->data[0].value) == big);
	kube_object_free(o);
	json_object_put(j);
	free(v);
}

static void test_custom(void)
{
	struct kube_object *o = load(KUBE_IPADDRESSPOOL, "ipaddresspool.json");
	const struct kube_custom *c = kube_custom(o);

	CHECK(c != NULL);
	if (!c)
		return;
	CHECK(kube_service(o) == NULL);
	CHECK_EQ_STR(c->kind_name, "IPAddressPool");
	CHECK_EQ_STR(c->api_version, "metallb.io/v1beta1");
	CHECK_EQ_STR(o->namespace, "metallb-system");
	CHECK_EQ_STR(o->name, "public");
	CHECK_EQ_STR(o->uid, "7b1e0c52-1e4e-4f0a-9d55-2b6f1c0f4a01");
	CHECK_EQ_STR(o->resource_version, "501");
	CHECK(o->created == 1795165201);
	CHECK_EQ_STR(kube_object_annotation(o, "metallb.io/note"), "x");
	CHECK(!kube_object_annotation(o, "kubectl.kubernetes.io/last-applied-configuration"));
	CHECK_EQ_INT((int)c->json_len, (int)strlen(c->json));
	/* the text decodes back to the object, without managedFields */
	struct json_object *j = json_tokener_parse(c->json), *md, *spec, *v;
	CHECK(j != NULL);
	CHECK(json_object_object_get_ex(j, "metadata", &md));
	CHECK(!json_object_object_get_ex(md, "managedFields", &v));
	CHECK(json_object_object_get_ex(md, "annotations", &v));	/* all of metadata but that */
	CHECK(json_object_object_get_ex(j, "spec", &spec));
	CHECK(json_object_object_get_ex(spec, "addresses", &v) && json_object_array_length(v) == 2);
	CHECK(json_object_object_get_ex(j, "status", &v));
	json_object_put(j);

	/* a status or resourceVersion change is not a change; a spec change is */
	static const char *const variants[][2] = {
		{ "{\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"1\"},\"spec\":{\"a\":1},\"status\":{\"n\":1}}",
		  "{\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"2\"},\"spec\":{\"a\":1},\"status\":{\"n\":2}}" },
		{ "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"a\":1}}",
		  "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"a\":2}}" },
	};
	for (int i = 0; i < 2; i++) {
		struct json_object *ja = json_tokener_parse(variants[i][0]), *jb = json_tokener_parse(variants[i][1]);
		struct kube_object *a = kube_object_from_json(KUBE_BGPPEER, ja, NULL);
		struct kube_object *b = kube_object_from_json(KUBE_BGPPEER, jb, NULL);

		CHECK(a && b && (a->hash == b->hash) == (i == 0));
		kube_object_free(a);
		kube_object_free(b);
		json_object_put(ja);
		json_object_put(jb);
	}
	kube_object_free(o);
}

static void test_kinds(void)
{
	char *p;

	CHECK_EQ_INT(kube_kind_lookup("metallb.io/v1beta1", "ipaddresspools"), KUBE_IPADDRESSPOOL);
	CHECK_EQ_INT(kube_kind_lookup("metallb.io/v1beta2", "bgppeers"), KUBE_BGPPEER);
	CHECK_EQ_INT(kube_kind_lookup("metallb.io/v1beta1", "bgppeers"), -1);
	CHECK_EQ_INT(kube_kind_lookup("v1", "configmaps"), KUBE_CONFIGMAP);
	CHECK_EQ_STR(kube_kind_name(KUBE_BFDPROFILE), "BFDProfile");
	CHECK_EQ_STR(p = kube_kind_path(KUBE_L2ADVERTISEMENT, "metallb-system"),
		     "/apis/metallb.io/v1beta1/namespaces/metallb-system/l2advertisements");
	free(p);
	CHECK_EQ_STR(p = kube_kind_path(KUBE_COMMUNITY, NULL), "/apis/metallb.io/v1beta1/communities");
	free(p);
	CHECK_EQ_STR(p = kube_kind_path(KUBE_CONFIGMAP, "metallb-system"), "/api/v1/namespaces/metallb-system/configmaps");
	free(p);
	CHECK_EQ_STR(p = kube_kind_path(KUBE_NODE, "ignored"), "/api/v1/nodes");
	free(p);
	CHECK_EQ_STR(p = kube_kind_path(KUBE_ENDPOINTSLICE, ""), "/apis/discovery.k8s.io/v1/endpointslices");
	free(p);
	CHECK(kube_kind_path(KUBE_KIND_COUNT, NULL) == NULL);
	for (int k = KUBE_IPADDRESSPOOL; k < KUBE_KIND_COUNT; k++)
		CHECK(kube_kind_is_custom(k));
	CHECK(!kube_kind_is_custom(KUBE_CONFIGMAP));
	CHECK(!kube_kind_is_custom(KUBE_SERVICECIDR));
	CHECK_EQ_STR(p = kube_kind_path(KUBE_SERVICECIDR, "ignored"), "/apis/networking.k8s.io/v1/servicecidrs");
	free(p);
}

/* networking.k8s.io/v1 ServiceCIDR: spec.cidrs, at most one per family */
static void test_servicecidr(void)
{
	struct json_object *j = json_tokener_parse(
		"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"ServiceCIDR\","
		"\"metadata\":{\"name\":\"kubernetes\",\"resourceVersion\":\"7\"},"
		"\"spec\":{\"cidrs\":[\"198.19.0.0/16\",\"2001:db8:2::/112\",\"extra\"]},"
		"\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
	struct kube_object *o = kube_object_from_json(KUBE_SERVICECIDR, j, NULL);
	const struct kube_servicecidr *c = kube_servicecidr(o);

	CHECK(c != NULL);
	if (c) {
		CHECK_EQ_STR(o->name, "kubernetes");
		CHECK_EQ_INT(c->n_cidrs, 2);
		CHECK_EQ_STR(c->cidrs[0], "198.19.0.0/16");
		CHECK_EQ_STR(c->cidrs[1], "2001:db8:2::/112");
	}
	CHECK(kube_servicecidr(NULL) == NULL);
	kube_object_free(o);
	json_object_put(j);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		data_dir = argv[1];
	test_service();
	test_endpointslice();
	test_node();
	test_hash();
	test_malformed();
	test_service_metallb();
	test_namespace_configmap();
	test_custom();
	test_kinds();
	test_servicecidr();
	return test_done("test_kube_objects");
}
