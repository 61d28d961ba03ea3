/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The typed, compact objects the informer caches keep: only what kube-proxy
 * and MetalLB logic read, never the whole JSON. Each object is ONE
 * allocation (structs, arrays and strings packed together), immutable once
 * built; free it with kube_object_free(). proxy/ and lbip/ consume these.
 *
 * Booleans that the API may leave unset are `int8_t` tri-states:
 * KUBE_UNSET (-1), 0 or 1 (EndpointSlice conditions: an unset `ready` means
 * ready, an unset `serving` follows `ready`, as the API documents).
 */
#ifndef FERRY_KUBE_OBJECTS_H
#define FERRY_KUBE_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hash.h"

struct json_object;

#define KUBE_UNSET (-1)

enum kube_kind {
	KUBE_SERVICE, KUBE_ENDPOINTSLICE, KUBE_NODE, KUBE_NAMESPACE, KUBE_CONFIGMAP,
	KUBE_SERVICECIDR,
	/* metallb.io custom resources, all built as struct kube_custom */
	KUBE_IPADDRESSPOOL, KUBE_L2ADVERTISEMENT, KUBE_BGPADVERTISEMENT, KUBE_COMMUNITY,
	KUBE_BGPPEER, KUBE_BFDPROFILE,
	KUBE_KIND_COUNT
};
#define KUBE_CUSTOM_FIRST KUBE_IPADDRESSPOOL

/* Where a kind lives in the API. */
struct kube_kind_info {
	const char *kind;		/* "IPAddressPool" */
	const char *group_version;	/* "v1", "metallb.io/v1beta1" */
	const char *plural;		/* "ipaddresspools" */
	bool namespaced;
};
const struct kube_kind_info *kube_kind_info(enum kube_kind k);	/* NULL when out of range */
/* "metallb.io/v1beta1" + "ipaddresspools" -> KUBE_IPADDRESSPOOL; -1 when unknown. */
int kube_kind_lookup(const char *group_version, const char *plural);
/* The collection path: "/apis/metallb.io/v1beta1/namespaces/NS/ipaddresspools",
 * cluster-wide when ns is NULL or "" (or the kind is cluster-scoped).
 * Caller frees; NULL on allocation failure or unknown kind. */
char *kube_kind_path(enum kube_kind k, const char *ns);
static inline bool kube_kind_is_custom(enum kube_kind k)
{ return k >= KUBE_CUSTOM_FIRST && k < KUBE_KIND_COUNT; }
enum kube_protocol { KUBE_PROTO_TCP, KUBE_PROTO_UDP, KUBE_PROTO_SCTP };

struct kube_kv {
	const char *key, *value;
};

struct kube_object {
	enum kube_kind kind;
	const char *namespace;		/* "" for cluster-scoped (Nodes) */
	const char *name;
	const char *uid;
	const char *resource_version;
	/* metadata.creationTimestamp as sent ("2026-11-26T13:20:01Z") or
	 * NULL, and as unix seconds (0 when absent or unparsable) */
	const char *creation_timestamp;
	int64_t created;
	uint64_t hash;			/* of the kept fields but resourceVersion:
					 * equal hash = no change that matters */
	/* labels and annotations ferry reads. Labels: all, but EndpointSlices
	 * keep only the kubernetes.io / metallb ones. Annotations: Services and
	 * EndpointSlices keep the prefixes service.kubernetes.io/,
	 * metallb.universe.tf/ and metallb.io/ and the trigger time; custom
	 * resources the metallb ones; others none. */
	const struct kube_kv *labels, *annotations;
	uint16_t n_labels, n_annotations;
	size_t size;			/* bytes of the one allocation */
	/* cache bookkeeping, owned by the informer */
	struct hnode hnode;
	uint32_t seen;
};

/* ---- core/v1 Service ---- */
enum kube_svc_type { KUBE_SVC_CLUSTER_IP, KUBE_SVC_NODE_PORT, KUBE_SVC_LOAD_BALANCER, KUBE_SVC_EXTERNAL_NAME };
enum kube_traffic_policy { KUBE_POLICY_CLUSTER, KUBE_POLICY_LOCAL };
enum kube_ip_family { KUBE_IPV4 = 4, KUBE_IPV6 = 6 };

struct kube_service_port {
	const char *name;
	const char *app_protocol;
	uint8_t protocol;		/* enum kube_protocol */
	uint16_t port, node_port;
	uint16_t target_port;		/* 0 when named (or unset: same as port) */
	const char *target_port_name;
};

struct kube_lb_ingress {
	const char *ip, *hostname;
	const char *ip_mode;		/* "VIP", "Proxy" or NULL */
};

struct kube_service {
	struct kube_object obj;
	uint8_t type;			/* enum kube_svc_type */
	bool headless;			/* clusterIP: None */
	uint8_t external_traffic_policy, internal_traffic_policy;
	bool session_affinity_client_ip;
	bool allocate_lb_node_ports;	/* default true */
	uint8_t ip_families[2], n_ip_families;
	int32_t session_affinity_timeout;	/* seconds, 0 unset */
	uint16_t health_check_node_port;
	const char *ip_family_policy;
	const char *external_name;
	const char *load_balancer_ip;	/* deprecated spec.loadBalancerIP */
	const char *load_balancer_class;
	const char *traffic_distribution;
	const char *const *cluster_ips;	/* spec.clusterIPs (or clusterIP) */
	const char *const *external_ips;
	const char *const *lb_source_ranges;
	const struct kube_service_port *ports;
	const struct kube_lb_ingress *lb_ingress;	/* status.loadBalancer.ingress */
	const struct kube_kv *selector;			/* spec.selector, API order */
	uint16_t n_cluster_ips, n_external_ips, n_lb_source_ranges, n_ports, n_lb_ingress;
	uint16_t n_selector;
};

/* ---- discovery.k8s.io/v1 EndpointSlice ---- */
enum kube_addr_type { KUBE_ADDR_IPV4, KUBE_ADDR_IPV6, KUBE_ADDR_FQDN };

struct kube_endpoint {
	const char *const *addresses;
	const char *node_name, *zone, *hostname;
	const char *const *hint_zones;	/* hints.forZones[].name */
	const char *const *hint_nodes;	/* hints.forNodes[].name */
	int8_t ready, serving, terminating;	/* tri-state */
	uint8_t n_addresses, n_hint_zones, n_hint_nodes;
};

struct kube_eps_port {
	const char *name, *app_protocol;
	uint8_t protocol;
	int32_t port;			/* -1: unset (all ports) */
};

struct kube_endpointslice {
	struct kube_object obj;
	uint8_t address_type;		/* enum kube_addr_type */
	const char *service_name;	/* label kubernetes.io/service-name */
	const struct kube_endpoint *endpoints;
	const struct kube_eps_port *ports;
	uint32_t n_endpoints;
	uint16_t n_ports;
};

/* ---- core/v1 Node ---- */
struct kube_node_address {
	const char *type;		/* InternalIP, ExternalIP, Hostname, ... */
	const char *address;
};

struct kube_node {
	struct kube_object obj;
	bool unschedulable;
	/* being deleted (metadata.deletionTimestamp), or tainted
	 * ToBeDeletedByClusterAutoscaler: load balancers should drain it */
	bool deleting, to_be_deleted;
	int8_t ready;			/* Ready condition: 1 True, 0 False/Unknown, unset */
	const char *const *pod_cidrs;
	const struct kube_node_address *addresses;
	uint16_t n_pod_cidrs, n_addresses;
};

/* ---- core/v1 Namespace: name and (all) labels in the base ---- */
struct kube_namespace {
	struct kube_object obj;
};

/* ---- core/v1 ConfigMap ---- */
struct kube_configmap {
	struct kube_object obj;
	const struct kube_kv *data;	/* .data, string values only (binaryData skipped) */
	uint16_t n_data;
};

/* ---- networking.k8s.io/v1 ServiceCIDR: the ranges ClusterIPs come from ---- */
struct kube_servicecidr {
	struct kube_object obj;
	const char *const *cidrs;	/* spec.cidrs: one or two (one per family) */
	uint16_t n_cidrs;
};

/* ---- metallb.io custom resources ---- */
struct kube_custom {
	struct kube_object obj;
	const char *api_version;	/* as sent, e.g. "metallb.io/v1beta1" */
	const char *kind_name;		/* as sent, e.g. "IPAddressPool" */
	/* the whole object as JSON text (metadata.managedFields left out), for
	 * lbip/ to decode; hash covers apiVersion, kind, labels, annotations
	 * and spec (not status: status writes are no change) */
	const char *json;
	size_t json_len;
};

/*
 * The nesting the parsers accept: the API server's own limit (10,000 in
 * apimachinery's JSON decoder) plus the list or watch event around the
 * object. json-c's default (32) let one deeply nested object, which the
 * server had accepted, fail a whole list. The tokener's stack is calloc'd,
 * so untouched depth costs no resident memory.
 */
#define KUBE_JSON_DEPTH 10016
/* Parse a whole document (a list, a Status) at that depth; NULL if it is
 * not valid JSON. */
struct json_object *kube_json_parse(const char *text, size_t len);

/* Build from a decoded API object (the `object` of a watch event or an
 * item of a list). NULL with *err set (a static string) when the object
 * lacks what every object needs (metadata.name) or memory runs out. Fields
 * of the wrong JSON type are treated as absent. */
struct kube_object *kube_object_from_json(enum kube_kind kind, struct json_object *j,
					  const char **err);
void kube_object_free(struct kube_object *o);

static inline const struct kube_service *kube_service(const struct kube_object *o)
{ return o && o->kind == KUBE_SERVICE ? (const struct kube_service *)o : NULL; }
static inline const struct kube_endpointslice *kube_endpointslice(const struct kube_object *o)
{ return o && o->kind == KUBE_ENDPOINTSLICE ? (const struct kube_endpointslice *)o : NULL; }
static inline const struct kube_node *kube_node(const struct kube_object *o)
{ return o && o->kind == KUBE_NODE ? (const struct kube_node *)o : NULL; }

static inline const struct kube_namespace *kube_namespace(const struct kube_object *o)
{ return o && o->kind == KUBE_NAMESPACE ? (const struct kube_namespace *)o : NULL; }
static inline const struct kube_configmap *kube_configmap(const struct kube_object *o)
{ return o && o->kind == KUBE_CONFIGMAP ? (const struct kube_configmap *)o : NULL; }
static inline const struct kube_servicecidr *kube_servicecidr(const struct kube_object *o)
{ return o && o->kind == KUBE_SERVICECIDR ? (const struct kube_servicecidr *)o : NULL; }
static inline const struct kube_custom *kube_custom(const struct kube_object *o)
{ return o && kube_kind_is_custom(o->kind) ? (const struct kube_custom *)o : NULL; }

/* Lookup in any kube_kv array (labels, selector, ConfigMap data). */
const char *kube_kv_get(const struct kube_kv *kv, size_t n, const char *key);
const char *kube_object_label(const struct kube_object *o, const char *key);
const char *kube_object_annotation(const struct kube_object *o, const char *key);
const char *kube_kind_name(enum kube_kind k);
/* One line of key=value fields describing what ferry sees (for -v 2 logs). */
void kube_object_summary(const struct kube_object *o, char *buf, size_t len);

#endif
