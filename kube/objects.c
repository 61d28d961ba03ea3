/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON -> compact typed objects.
 *
 * Each object is one malloc: the builder runs the same parse twice, first
 * measuring (into throw-away scratch memory), then filling a block of exactly
 * the measured size. No per-string malloc overhead: a 10-endpoint
 * EndpointSlice costs about 1 KiB instead of the ~10 KiB json-c would hold.
 * While filling, every kept value is folded into a 64-bit hash so the
 * informer can tell "nothing ferry reads changed" without a field-by-field
 * compare.
 */
#include "kube/objects.h"
#include "core/hash.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct scratch {
	struct scratch *next;
	max_align_t data[];
};

struct bld {
	/* custom resources: the object's text and its spec's, made once */
	const char *raw, *spec_text;
	size_t raw_len;
	bool sizing;
	bool oom;
	char *base;
	size_t used, cap;
	struct scratch *scratch;
	uint64_t hash;
};

/* Sizing: throw-away memory the parse can write into as when filling. */
static void *scratch(struct bld *b, size_t n)
{
	struct scratch *s = calloc(1, sizeof(*s) + n + 1);

	if (!s) {
		b->oom = true;
		return NULL;
	}
	s->next = b->scratch;
	b->scratch = s;
	return s->data;
}

static void *balloc(struct bld *b, size_t n)
{
	size_t a = (b->used + 7) & ~(size_t)7;
	void *p;

	if (b->sizing) {
		p = scratch(b, n);
		b->used = a + n;
		return p;
	}
	if (a + n > b->cap) {	/* cannot happen: same parse as when sizing */
		b->oom = true;
		return NULL;
	}
	p = b->base + a;
	b->used = a + n;
	memset(p, 0, n);
	return p;
}

/* Strings need no alignment: pack them. */
static char *bstrn(struct bld *b, const char *s, size_t n)
{
	char *p;

	if (b->sizing) {
		if (!(p = scratch(b, n)))
			return NULL;
		b->used += n + 1;
	} else {
		if (b->used + n + 1 > b->cap) {
			b->oom = true;
			return NULL;
		}
		p = b->base + b->used;
		b->used += n + 1;
	}
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

static void bhash(struct bld *b, const void *p, size_t n) { b->hash = hash_bytes(p, n, b->hash); }
static void hash_int(struct bld *b, long long v) { bhash(b, &v, sizeof(v)); }

/* ---- JSON access, tolerant of wrong types ---- */

static struct json_object *jget(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &v))
		return NULL;
	return v;
}

static struct json_object *jtyped(struct json_object *o, const char *k, json_type t)
{
	struct json_object *v = jget(o, k);

	return v && json_object_is_type(v, t) ? v : NULL;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v = jtyped(o, k, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

static long long jint(struct json_object *o, const char *k, long long dflt)
{
	struct json_object *v = jtyped(o, k, json_type_int);

	return v ? json_object_get_int64(v) : dflt;
}

struct json_object *kube_json_parse(const char *text, size_t len)
{
	struct json_tokener *t = json_tokener_new_ex(KUBE_JSON_DEPTH);
	struct json_object *j;

	if (!t)
		return NULL;
	j = json_tokener_parse_ex(t, text, (int)len);
	/* a complete value and nothing after it but the end */
	if (j && (json_tokener_get_error(t) != json_tokener_success)) {
		json_object_put(j);
		j = NULL;
	}
	json_tokener_free(t);
	return j;
}

/* A port number field: absent gives dflt; a number outside 0-65535 (or not
 * a number) is an error, never silently narrowed to another port. */
static int jport(struct json_object *o, const char *k, long long dflt, long long *out)
{
	struct json_object *v = jget(o, k);
	long long n;

	*out = dflt;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	n = json_object_get_int64(v);
	if (n < 0 || n > 65535)
		return -1;
	*out = n;
	return 0;
}

static int jbool(struct json_object *o, const char *k)
{
	struct json_object *v = jtyped(o, k, json_type_boolean);

	return v ? json_object_get_boolean(v) : KUBE_UNSET;
}

static size_t jlen(struct json_object *a)
{
	return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

/* Copy a string field, hashing it (a NULL hashes differently from ""). */
static const char *bstr(struct bld *b, const char *s)
{
	if (!s) {
		bhash(b, "\xff", 1);
		return NULL;
	}
	bhash(b, s, strlen(s) + 1);
	return bstrn(b, s, strlen(s));
}

/* An array of strings: strings only, others skipped. */
static const char *const *bstrarr(struct bld *b, struct json_object *a, uint16_t *n, size_t max)
{
	size_t len = jlen(a), k = 0;
	const char **out;

	if (len > max)
		len = max;
	*n = 0;
	hash_int(b, (long long)len);
	if (!len)
		return NULL;
	out = balloc(b, len * sizeof(*out));
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);

		if (json_object_is_type(e, json_type_string))
			out[k++] = bstr(b, json_object_get_string(e));
	}
	*n = (uint16_t)k;
	return out;
}

/* [{"name": X}, ...] -> [X, ...] (EndpointSlice hints). */
static const char *const *bnamearr(struct bld *b, struct json_object *a, uint8_t *n)
{
	size_t len = jlen(a), k = 0;
	const char **out;

	if (len > 255)
		len = 255;
	*n = 0;
	hash_int(b, (long long)len);
	if (!len)
		return NULL;
	out = balloc(b, len * sizeof(*out));
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		const char *s = jstr(json_object_array_get_idx(a, i), "name");

		if (s)
			out[k++] = bstr(b, s);
	}
	*n = (uint8_t)k;
	return out;
}

typedef bool (*keep_fn)(const char *key);

static const struct kube_kv *bkv(struct bld *b, struct json_object *m, keep_fn keep, uint16_t *n)
{
	size_t cnt = 0, k = 0;
	struct kube_kv *out;

	*n = 0;
	if (!m || !json_object_is_type(m, json_type_object)) {
		hash_int(b, 0);	/* as a map with nothing kept: no change when one appears */
		return NULL;
	}
	json_object_object_foreach(m, key0, v0) {
		if (json_object_is_type(v0, json_type_string) && keep(key0))
			cnt++;
	}
	hash_int(b, (long long)cnt);
	if (!cnt || cnt > 65535)
		return NULL;
	out = balloc(b, cnt * sizeof(*out));
	if (!out)
		return NULL;
	json_object_object_foreach(m, key, v) {
		if (json_object_is_type(v, json_type_string) && keep(key)) {
			out[k].key = bstr(b, key);
			out[k].value = bstr(b, json_object_get_string(v));
			k++;
		}
	}
	*n = (uint16_t)k;
	return out;
}

static bool keep_all(const char *k) { return true; }
static bool keep_none(const char *k) { return false; }

/* Services and slices: the labels kube-proxy and MetalLB read. */
static bool keep_k8s_label(const char *k)
{
	return strstr(k, "kubernetes.io/") || !strncmp(k, "metallb.", 8);
}

static bool keep_metallb(const char *k)
{
	return !strncmp(k, "metallb.universe.tf/", 20) || !strncmp(k, "metallb.io/", 11);
}

/* Never kubectl's last-applied-configuration (a copy of the object). */
static bool keep_svc_annotation(const char *k)
{
	/* the trigger time gives kubeproxy_network_programming_duration_seconds */
	return keep_metallb(k) || !strncmp(k, "service.kubernetes.io/", 22) ||
	       !strcmp(k, "endpoints.kubernetes.io/last-change-trigger-time");
}

/* "2026-11-26T13:20:01Z" (RFC 3339, any fraction or offset) -> unix seconds;
 * 0 when it is not one. */
static int64_t parse_time(const char *s)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
	const char *p;
	time_t t;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n < 19)
		return 0;
	p = s + n;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2) {
		if (*p == '-') {
			oh = -oh;
			om = -om;
		}
	} else if (*p != 'Z' && *p != 'z') {
		return 0;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
		return 0;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	return t == (time_t)-1 ? 0 : (int64_t)t - oh * 3600 - om * 60;
}

static int protocol(const char *s)
{
	if (s && !strcmp(s, "UDP"))
		return KUBE_PROTO_UDP;
	if (s && !strcmp(s, "SCTP"))
		return KUBE_PROTO_SCTP;
	return KUBE_PROTO_TCP;
}

static int bmeta(struct bld *b, struct kube_object *o, enum kube_kind kind, struct json_object *j,
		 keep_fn keep_label, keep_fn keep_ann, const char **err)
{
	struct json_object *md = jget(j, "metadata");
	const char *name = jstr(md, "name"), *ns = jstr(md, "namespace"), *rv;

	if (!name || !*name) {
		*err = "object without metadata.name";
		return -1;
	}
	o->kind = kind;
	o->namespace = bstr(b, ns ? ns : "");
	o->name = bstr(b, name);
	o->uid = bstr(b, jstr(md, "uid"));
	/* not hashed: it changes on every write, relevant or not */
	rv = jstr(md, "resourceVersion");
	o->resource_version = rv ? bstrn(b, rv, strlen(rv)) : NULL;
	o->creation_timestamp = bstr(b, jstr(md, "creationTimestamp"));
	o->created = parse_time(o->creation_timestamp);
	o->labels = bkv(b, jget(md, "labels"), keep_label, &o->n_labels);
	o->annotations = bkv(b, jget(md, "annotations"), keep_ann, &o->n_annotations);
	return 0;
}

static int build_service(struct bld *b, struct json_object *j, const char **err)
{
	struct kube_service *s = balloc(b, sizeof(*s));
	struct json_object *spec = jget(j, "spec"), *a, *fam;
	struct kube_service_port *ports;
	struct kube_lb_ingress *ing;
	const char *t, *cip;
	size_t n;

	if (!s)
		return -1;
	/* all labels: MetalLB's serviceSelectors may match any of them */
	if (bmeta(b, &s->obj, KUBE_SERVICE, j, keep_all, keep_svc_annotation, err) < 0)
		return -1;
	/* the allocator compares selectors to share an IP between Local services */
	s->selector = bkv(b, jget(spec, "selector"), keep_all, &s->n_selector);
	t = jstr(spec, "type");
	s->type = !t ? KUBE_SVC_CLUSTER_IP : !strcmp(t, "NodePort") ? KUBE_SVC_NODE_PORT :
		  !strcmp(t, "LoadBalancer") ? KUBE_SVC_LOAD_BALANCER :
		  !strcmp(t, "ExternalName") ? KUBE_SVC_EXTERNAL_NAME : KUBE_SVC_CLUSTER_IP;
	hash_int(b, s->type);
	cip = jstr(spec, "clusterIP");
	s->headless = cip && !strcmp(cip, "None");
	hash_int(b, s->headless);
	if (jlen(jget(spec, "clusterIPs"))) {
		s->cluster_ips = bstrarr(b, jget(spec, "clusterIPs"), &s->n_cluster_ips, 2);
	} else if (cip && *cip) {
		const char **one = balloc(b, sizeof(*one));

		if (one) {
			one[0] = bstr(b, cip);
			s->cluster_ips = one;
			s->n_cluster_ips = 1;
		}
	}
	s->external_ips = bstrarr(b, jget(spec, "externalIPs"), &s->n_external_ips, 1024);
	s->lb_source_ranges = bstrarr(b, jget(spec, "loadBalancerSourceRanges"), &s->n_lb_source_ranges, 1024);
	t = jstr(spec, "externalTrafficPolicy");
	s->external_traffic_policy = t && !strcmp(t, "Local") ? KUBE_POLICY_LOCAL : KUBE_POLICY_CLUSTER;
	t = jstr(spec, "internalTrafficPolicy");
	s->internal_traffic_policy = t && !strcmp(t, "Local") ? KUBE_POLICY_LOCAL : KUBE_POLICY_CLUSTER;
	t = jstr(spec, "sessionAffinity");
	s->session_affinity_client_ip = t && !strcmp(t, "ClientIP");
	s->session_affinity_timeout = (int32_t)jint(jget(jget(spec, "sessionAffinityConfig"), "clientIP"),
						    "timeoutSeconds", 0);
	long long hc;

	if (jport(spec, "healthCheckNodePort", 0, &hc) < 0) {
		*err = "spec.healthCheckNodePort is not a port number";
		return -1;
	}
	s->health_check_node_port = (uint16_t)hc;
	s->allocate_lb_node_ports = jbool(spec, "allocateLoadBalancerNodePorts") != 0;
	hash_int(b, s->external_traffic_policy | s->internal_traffic_policy << 2 |
		    s->session_affinity_client_ip << 4 | s->allocate_lb_node_ports << 5);
	hash_int(b, s->session_affinity_timeout);
	hash_int(b, s->health_check_node_port);
	fam = jget(spec, "ipFamilies");
	for (size_t i = 0; i < jlen(fam) && s->n_ip_families < 2; i++) {
		const char *f = json_object_get_string(json_object_array_get_idx(fam, i));

		if (f && (!strcmp(f, "IPv4") || !strcmp(f, "IPv6")))
			s->ip_families[s->n_ip_families++] = f[3] == '4' ? KUBE_IPV4 : KUBE_IPV6;
	}
	hash_int(b, s->ip_families[0] | s->ip_families[1] << 8);
	s->ip_family_policy = bstr(b, jstr(spec, "ipFamilyPolicy"));
	s->external_name = bstr(b, jstr(spec, "externalName"));
	s->load_balancer_ip = bstr(b, jstr(spec, "loadBalancerIP"));
	s->load_balancer_class = bstr(b, jstr(spec, "loadBalancerClass"));
	s->traffic_distribution = bstr(b, jstr(spec, "trafficDistribution"));

	a = jget(spec, "ports");
	n = jlen(a) > 65535 ? 65535 : jlen(a);
	hash_int(b, (long long)n);
	if (n && (ports = balloc(b, n * sizeof(*ports)))) {
		for (size_t i = 0; i < n; i++) {
			struct json_object *p = json_object_array_get_idx(a, i), *tp = jget(p, "targetPort");

			long long port, node_port, target_port = 0;

			if (jport(p, "port", 0, &port) < 0 || jport(p, "nodePort", 0, &node_port) < 0 ||
			    (tp && json_object_is_type(tp, json_type_int) &&
			     jport(p, "targetPort", 0, &target_port) < 0)) {
				*err = "spec.ports[]: a port number outside 0-65535";
				return -1;
			}
			ports[i].name = bstr(b, jstr(p, "name"));
			ports[i].app_protocol = bstr(b, jstr(p, "appProtocol"));
			ports[i].protocol = protocol(jstr(p, "protocol"));
			ports[i].port = (uint16_t)port;
			ports[i].node_port = (uint16_t)node_port;
			if (tp && json_object_is_type(tp, json_type_int))
				ports[i].target_port = (uint16_t)target_port;
			ports[i].target_port_name = bstr(b, tp && json_object_is_type(tp, json_type_string) ?
							 json_object_get_string(tp) : NULL);
			hash_int(b, ports[i].protocol | (long long)ports[i].port << 8 |
				    (long long)ports[i].node_port << 24 | (long long)ports[i].target_port << 40);
		}
		s->ports = ports;
		s->n_ports = (uint16_t)n;
	}
	a = jget(jget(jget(j, "status"), "loadBalancer"), "ingress");
	n = jlen(a) > 65535 ? 65535 : jlen(a);
	hash_int(b, (long long)n);
	if (n && (ing = balloc(b, n * sizeof(*ing)))) {
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(a, i);

			ing[i].ip = bstr(b, jstr(e, "ip"));
			ing[i].hostname = bstr(b, jstr(e, "hostname"));
			ing[i].ip_mode = bstr(b, jstr(e, "ipMode"));
		}
		s->lb_ingress = ing;
		s->n_lb_ingress = (uint16_t)n;
	}
	return 0;
}

static int build_endpointslice(struct bld *b, struct json_object *j, const char **err)
{
	struct kube_endpointslice *s = balloc(b, sizeof(*s));
	struct json_object *a;
	struct kube_endpoint *eps;
	struct kube_eps_port *ports;
	const char *t;
	size_t n;

	if (!s)
		return -1;
	if (bmeta(b, &s->obj, KUBE_ENDPOINTSLICE, j, keep_k8s_label, keep_svc_annotation, err) < 0)
		return -1;
	t = jstr(j, "addressType");
	s->address_type = t && !strcmp(t, "IPv6") ? KUBE_ADDR_IPV6 : t && !strcmp(t, "FQDN") ?
			  KUBE_ADDR_FQDN : KUBE_ADDR_IPV4;
	hash_int(b, s->address_type);
	s->service_name = kube_object_label(&s->obj, "kubernetes.io/service-name");

	a = jget(j, "endpoints");
	n = jlen(a) > 100000 ? 100000 : jlen(a);
	hash_int(b, (long long)n);
	if (n && (eps = balloc(b, n * sizeof(*eps)))) {
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(a, i), *c = jget(e, "conditions"),
					   *h = jget(e, "hints");
			struct kube_endpoint *ep = &eps[i];
			uint16_t na;

			ep->addresses = bstrarr(b, jget(e, "addresses"), &na, 255);
			ep->n_addresses = (uint8_t)na;
			ep->ready = (int8_t)jbool(c, "ready");
			ep->serving = (int8_t)jbool(c, "serving");
			ep->terminating = (int8_t)jbool(c, "terminating");
			hash_int(b, (ep->ready + 1) | (ep->serving + 1) << 2 | (ep->terminating + 1) << 4);
			ep->node_name = bstr(b, jstr(e, "nodeName"));
			ep->zone = bstr(b, jstr(e, "zone"));
			ep->hostname = bstr(b, jstr(e, "hostname"));
			ep->hint_zones = bnamearr(b, jget(h, "forZones"), &ep->n_hint_zones);
			ep->hint_nodes = bnamearr(b, jget(h, "forNodes"), &ep->n_hint_nodes);
		}
		s->endpoints = eps;
		s->n_endpoints = (uint32_t)n;
	}
	a = jget(j, "ports");
	n = jlen(a) > 65535 ? 65535 : jlen(a);
	hash_int(b, (long long)n);
	if (n && (ports = balloc(b, n * sizeof(*ports)))) {
		for (size_t i = 0; i < n; i++) {
			struct json_object *p = json_object_array_get_idx(a, i);

			ports[i].name = bstr(b, jstr(p, "name"));
			ports[i].app_protocol = bstr(b, jstr(p, "appProtocol"));
			ports[i].protocol = protocol(jstr(p, "protocol"));
			long long port;

			if (jport(p, "port", -1, &port) < 0) {
				*err = "ports[].port outside 0-65535";
				return -1;
			}
			ports[i].port = (int32_t)port;
			hash_int(b, (long long)((uint64_t)ports[i].protocol | (uint64_t)(uint32_t)ports[i].port << 8));
		}
		s->ports = ports;
		s->n_ports = (uint16_t)n;
	}
	return 0;
}

static int build_node(struct bld *b, struct json_object *j, const char **err)
{
	struct kube_node *nd = balloc(b, sizeof(*nd));
	struct json_object *spec = jget(j, "spec"), *st = jget(j, "status"), *a;
	struct kube_node_address *addrs;
	size_t n;

	if (!nd)
		return -1;
	if (bmeta(b, &nd->obj, KUBE_NODE, j, keep_all, keep_none, err) < 0)
		return -1;
	nd->unschedulable = jbool(spec, "unschedulable") == 1;
	hash_int(b, nd->unschedulable);
	nd->deleting = jstr(jget(j, "metadata"), "deletionTimestamp") != NULL;
	hash_int(b, nd->deleting);
	a = jget(spec, "taints");
	for (size_t i = 0; i < jlen(a); i++) {
		const char *key = jstr(json_object_array_get_idx(a, i), "key");
		if (key && !strcmp(key, "ToBeDeletedByClusterAutoscaler"))
			nd->to_be_deleted = true;
	}
	hash_int(b, nd->to_be_deleted);
	if (jlen(jget(spec, "podCIDRs"))) {
		nd->pod_cidrs = bstrarr(b, jget(spec, "podCIDRs"), &nd->n_pod_cidrs, 16);
	} else if (jstr(spec, "podCIDR")) {
		const char **one = balloc(b, sizeof(*one));

		if (one) {
			one[0] = bstr(b, jstr(spec, "podCIDR"));
			nd->pod_cidrs = one;
			nd->n_pod_cidrs = 1;
		}
	}
	a = jget(st, "addresses");
	n = jlen(a) > 1024 ? 1024 : jlen(a);
	hash_int(b, (long long)n);
	if (n && (addrs = balloc(b, n * sizeof(*addrs)))) {
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(a, i);

			addrs[i].type = bstr(b, jstr(e, "type"));
			addrs[i].address = bstr(b, jstr(e, "address"));
		}
		nd->addresses = addrs;
		nd->n_addresses = (uint16_t)n;
	}
	nd->ready = KUBE_UNSET;
	a = jget(st, "conditions");
	for (size_t i = 0; i < jlen(a); i++) {
		struct json_object *c = json_object_array_get_idx(a, i);
		const char *t = jstr(c, "type"), *v = jstr(c, "status");

		if (t && !strcmp(t, "Ready"))
			nd->ready = v && !strcmp(v, "True");
	}
	hash_int(b, nd->ready);
	return 0;
}

static int build_namespace(struct bld *b, struct json_object *j, const char **err)
{
	struct kube_namespace *n = balloc(b, sizeof(*n));

	if (!n)
		return -1;
	return bmeta(b, &n->obj, KUBE_NAMESPACE, j, keep_all, keep_none, err);
}

static int build_configmap(struct bld *b, struct json_object *j, const char **err)
{
	struct kube_configmap *c = balloc(b, sizeof(*c));

	if (!c)
		return -1;
	if (bmeta(b, &c->obj, KUBE_CONFIGMAP, j, keep_all, keep_none, err) < 0)
		return -1;
	c->data = bkv(b, jget(j, "data"), keep_all, &c->n_data);
	return 0;
}

static int build_servicecidr(struct bld *b, struct json_object *j, const char **err)
{
	struct kube_servicecidr *c = balloc(b, sizeof(*c));

	if (!c)
		return -1;
	if (bmeta(b, &c->obj, KUBE_SERVICECIDR, j, keep_all, keep_none, err) < 0)
		return -1;
	c->cidrs = bstrarr(b, jget(jget(j, "spec"), "cidrs"), &c->n_cidrs, 2);
	return 0;
}

static int build_custom(struct bld *b, enum kube_kind kind, struct json_object *j, const char **err)
{
	struct kube_custom *c = balloc(b, sizeof(*c));

	if (!c)
		return -1;
	if (bmeta(b, &c->obj, kind, j, keep_all, keep_metallb, err) < 0)
		return -1;
	c->api_version = bstr(b, jstr(j, "apiVersion"));
	c->kind_name = bstr(b, jstr(j, "kind"));
	bhash(b, b->spec_text, strlen(b->spec_text) + 1);	/* hashed, not kept apart */
	/* not hashed: it holds resourceVersion and status */
	c->json = bstrn(b, b->raw, b->raw_len);
	c->json_len = b->raw_len;
	return 0;
}

static int build(struct bld *b, enum kube_kind kind, struct json_object *j, const char **err)
{
	switch (kind) {
	case KUBE_SERVICE: return build_service(b, j, err);
	case KUBE_ENDPOINTSLICE: return build_endpointslice(b, j, err);
	case KUBE_NODE: return build_node(b, j, err);
	case KUBE_NAMESPACE: return build_namespace(b, j, err);
	case KUBE_CONFIGMAP: return build_configmap(b, j, err);
	case KUBE_SERVICECIDR: return build_servicecidr(b, j, err);
	default:
		if (kube_kind_is_custom(kind))
			return build_custom(b, kind, j, err);
		*err = "unknown kind";
		return -1;
	}
}

/* A custom resource's text without metadata.managedFields (often bigger
 * than the object, never read): a shallow copy, children are shared. */
static struct json_object *strip_managed(struct json_object *j)
{
	struct json_object *out = json_object_new_object(), *md = jget(j, "metadata"), *nmd;

	if (!out)
		return NULL;
	json_object_object_foreach(j, k, v) {
		if (!strcmp(k, "metadata") && md && json_object_is_type(md, json_type_object)) {
			if (!(nmd = json_object_new_object()))
				goto oom;
			json_object_object_foreach(md, mk, mv)
				if (strcmp(mk, "managedFields") &&
				    json_object_object_add(nmd, mk, json_object_get(mv)) < 0) {
					json_object_put(mv);
					json_object_put(nmd);
					goto oom;
				}
			v = nmd;
		} else {
			json_object_get(v);
		}
		if (json_object_object_add(out, k, v) < 0) {
			json_object_put(v);
			goto oom;
		}
	}
	return out;
oom:
	json_object_put(out);
	return NULL;
}

static void scratch_free(struct bld *b)
{
	while (b->scratch) {
		struct scratch *s = b->scratch;

		b->scratch = s->next;
		free(s);
	}
}

struct kube_object *kube_object_from_json(enum kube_kind kind, struct json_object *j,
					  const char **err)
{
	struct bld b = { .sizing = true, .hash = HASH_SEED };
	struct json_object *copy = NULL;
	struct kube_object *o;
	const char *e0 = NULL;

	if (!err)
		err = &e0;
	*err = NULL;
	if (!j || !json_object_is_type(j, json_type_object)) {
		*err = "not a JSON object";
		return NULL;
	}
	if (kube_kind_is_custom(kind)) {
		struct json_object *spec = jget(j, "spec");

		if (!(copy = strip_managed(j)) ||
		    !(b.raw = json_object_to_json_string_ext(copy, JSON_C_TO_STRING_PLAIN))) {
			json_object_put(copy);
			*err = "out of memory";
			return NULL;
		}
		b.raw_len = strlen(b.raw);
		b.spec_text = spec ? json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN) : "";
		if (!b.spec_text) {
			json_object_put(copy);
			*err = "out of memory";
			return NULL;
		}
	}
	if (build(&b, kind, j, err) < 0 || b.oom) {
		json_object_put(copy);
		scratch_free(&b);
		if (!*err)
			*err = "out of memory";
		return NULL;
	}
	scratch_free(&b);
	b = (struct bld){ .sizing = false, .cap = b.used, .hash = HASH_SEED,
			  .raw = b.raw, .raw_len = b.raw_len, .spec_text = b.spec_text };
	b.base = malloc(b.cap);
	if (!b.base || build(&b, kind, j, err) < 0 || b.oom) {
		json_object_put(copy);
		free(b.base);
		if (!*err)
			*err = "out of memory";
		return NULL;
	}
	json_object_put(copy);
	o = (struct kube_object *)b.base;
	o->hash = b.hash;
	o->size = b.cap;
	return o;
}

void kube_object_free(struct kube_object *o)
{
	free(o);
}

const char *kube_kv_get(const struct kube_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i].key, key))
			return kv[i].value;
	return NULL;
}

const char *kube_object_label(const struct kube_object *o, const char *key)
{
	return kube_kv_get(o->labels, o->n_labels, key);
}

const char *kube_object_annotation(const struct kube_object *o, const char *key)
{
	return kube_kv_get(o->annotations, o->n_annotations, key);
}

static const struct kube_kind_info kinds[KUBE_KIND_COUNT] = {
	[KUBE_SERVICE] = { "Service", "v1", "services", true },
	[KUBE_ENDPOINTSLICE] = { "EndpointSlice", "discovery.k8s.io/v1", "endpointslices", true },
	[KUBE_NODE] = { "Node", "v1", "nodes", false },
	[KUBE_NAMESPACE] = { "Namespace", "v1", "namespaces", false },
	[KUBE_CONFIGMAP] = { "ConfigMap", "v1", "configmaps", true },
	[KUBE_SERVICECIDR] = { "ServiceCIDR", "networking.k8s.io/v1", "servicecidrs", false },
	[KUBE_IPADDRESSPOOL] = { "IPAddressPool", "metallb.io/v1beta1", "ipaddresspools", true },
	[KUBE_L2ADVERTISEMENT] = { "L2Advertisement", "metallb.io/v1beta1", "l2advertisements", true },
	[KUBE_BGPADVERTISEMENT] = { "BGPAdvertisement", "metallb.io/v1beta1", "bgpadvertisements", true },
	[KUBE_COMMUNITY] = { "Community", "metallb.io/v1beta1", "communities", true },
	[KUBE_BGPPEER] = { "BGPPeer", "metallb.io/v1beta2", "bgppeers", true },
	[KUBE_BFDPROFILE] = { "BFDProfile", "metallb.io/v1beta1", "bfdprofiles", true },
};

const struct kube_kind_info *kube_kind_info(enum kube_kind k)
{
	return (unsigned)k < KUBE_KIND_COUNT ? &kinds[k] : NULL;
}

int kube_kind_lookup(const char *group_version, const char *plural)
{
	for (int k = 0; k < KUBE_KIND_COUNT; k++)
		if (group_version && plural && !strcmp(kinds[k].group_version, group_version) &&
		    !strcmp(kinds[k].plural, plural))
			return k;
	return -1;
}

char *kube_kind_path(enum kube_kind k, const char *ns)
{
	const struct kube_kind_info *i = kube_kind_info(k);
	bool core = i && !strchr(i->group_version, '/');
	char *p = NULL;

	if (!i)
		return NULL;
	if (asprintf(&p, "/%s/%s%s%s/%s", core ? "api" : "apis", i->group_version,
		     i->namespaced && ns && *ns ? "/namespaces/" : "", i->namespaced && ns ? ns : "",
		     i->plural) < 0)
		return NULL;
	return p;
}

const char *kube_kind_name(enum kube_kind k)
{
	return (unsigned)k < KUBE_KIND_COUNT ? kinds[k].kind : "?";
}

void kube_object_summary(const struct kube_object *o, char *buf, size_t len)
{
	static const char *const types[] = { "ClusterIP", "NodePort", "LoadBalancer", "ExternalName" };
	const struct kube_service *s = kube_service(o);
	const struct kube_endpointslice *e = kube_endpointslice(o);
	const struct kube_node *n = kube_node(o);

	if (s) {
		snprintf(buf, len, "type=%s cluster_ip=%s ports=%u lb_ingress=%s etp=%s", types[s->type],
			 s->headless ? "None" : s->n_cluster_ips ? s->cluster_ips[0] : "-", s->n_ports,
			 s->n_lb_ingress && s->lb_ingress[0].ip ? s->lb_ingress[0].ip : "-",
			 s->external_traffic_policy == KUBE_POLICY_LOCAL ? "Local" : "Cluster");
	} else if (e) {
		unsigned ready = 0;

		for (uint32_t i = 0; i < e->n_endpoints; i++)
			ready += e->endpoints[i].ready != 0;
		snprintf(buf, len, "service=%s endpoints=%u ready=%u ports=%u", e->service_name ? e->service_name : "-",
			 e->n_endpoints, ready, e->n_ports);
	} else if (n) {
		snprintf(buf, len, "ready=%s address=%s pod_cidr=%s unschedulable=%s deleting=%s",
			 n->ready == 1 ? "true" : n->ready == 0 ? "false" : "unknown",
			 n->n_addresses ? n->addresses[0].address : "-", n->n_pod_cidrs ? n->pod_cidrs[0] : "-",
			 n->unschedulable ? "true" : "false",
			 n->deleting ? "true" : n->to_be_deleted ? "tainted" : "false");
	} else if (kube_configmap(o)) {
		snprintf(buf, len, "keys=%u", kube_configmap(o)->n_data);
	} else if (kube_servicecidr(o)) {
		snprintf(buf, len, "cidrs=%s", kube_servicecidr(o)->n_cidrs ? kube_servicecidr(o)->cidrs[0] : "-");
	} else if (kube_custom(o)) {
		snprintf(buf, len, "api_version=%s bytes=%zu", kube_custom(o)->api_version ?
			 kube_custom(o)->api_version : "-", kube_custom(o)->json_len);
	} else if (len) {
		snprintf(buf, len, "labels=%u", o->n_labels);
	}
}
