/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The LoadBalancer configuration, as MetalLB users write it: the legacy
 * ConfigMap (`config` in `metallb-system`) or the `metallb.io` resources
 * (IPAddressPool, L2Advertisement, BGPAdvertisement, Community, BGPPeer,
 * BFDProfile). Both decode into one struct lb_config; the allocator and the
 * announcers read only this. Pure data: lbip/config.c parses text, it never
 * opens a file or a socket.
 *
 * Addresses are struct lb_addr: family 4 (bytes 0..3 used) or 6.
 */
#ifndef FERRY_LBIP_CONFIG_H
#define FERRY_LBIP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct lb_addr {
	uint8_t family;			/* 4 or 6 */
	uint8_t b[16];			/* network order; IPv4 in b[0..3] */
};

/* Inclusive range; a CIDR a.b.c.d/n is the range of its network. */
struct lb_range {
	struct lb_addr lo, hi;
};

/* A Kubernetes label selector. No requirement at all matches everything;
 * an unset selector (NULL pointer where one is optional) matches nothing
 * or everything as the field's own documentation says. */
enum lb_sel_op { LB_SEL_IN, LB_SEL_NOT_IN, LB_SEL_EXISTS, LB_SEL_DOES_NOT_EXIST };
struct lb_sel_req {
	char *key;
	enum lb_sel_op op;
	char **values;
	size_t n_values;
};
struct lb_selector {
	struct lb_sel_req *reqs;	/* matchLabels become IN with one value */
	size_t n_reqs;
};

/* One label key=value (Service, Namespace, Node or pool labels). */
struct lb_label {
	const char *key, *value;
};

enum lb_protocol { LB_PROTO_NONE, LB_PROTO_LAYER2, LB_PROTO_BGP };

struct lb_pool {
	char *name;
	enum lb_protocol protocol;	/* legacy ConfigMap; NONE for IPAddressPool
					 * (advertisements decide) */
	struct lb_range *ranges;
	size_t n_ranges;
	bool auto_assign;		/* default true */
	bool avoid_buggy_ips;		/* skip .0 and .255 of every /24 (IPv4) */
	/* IPAddressPool.spec.serviceAllocation */
	bool has_allocation;
	int priority;			/* lower wins; 0 = unset (after every set one) */
	char **namespaces;
	size_t n_namespaces;
	struct lb_selector *namespace_selectors, *service_selectors;
	size_t n_namespace_selectors, n_service_selectors;
	/* IPAddressPool metadata.labels, for ipAddressPoolSelectors */
	struct lb_label *labels;	/* strings owned by the config */
	size_t n_labels;
};

struct lb_community {
	bool large;			/* RFC 8092 a:b:c, else RFC 1997 a:b */
	uint32_t v[3];
};

struct lb_bgp_adv {
	char *name;			/* BGPAdvertisement name; legacy: NULL */
	int aggregation_length, aggregation_length_v6;	/* default 32, 128 */
	uint32_t localpref;		/* 0: unset */
	struct lb_community *communities;
	size_t n_communities;
	/* CRD fields; empty = every pool / every peer / every node */
	char **pools;
	size_t n_pools;
	struct lb_selector *pool_selectors, *node_selectors;
	size_t n_pool_selectors, n_node_selectors;
	char **peers;
	size_t n_peers;
	char *pool;			/* legacy: the pool this advertisement belongs to */
};

struct lb_l2_adv {
	char *name;			/* legacy: NULL (one per layer2 pool) */
	char **pools;
	size_t n_pools;
	struct lb_selector *pool_selectors, *node_selectors;
	size_t n_pool_selectors, n_node_selectors;
	char **interfaces;
	size_t n_interfaces;
};

struct lb_peer {
	char *name;			/* BGPPeer name; legacy: "peers[N]" */
	struct lb_addr peer_address, source_address;	/* source: family 0 = unset */
	uint32_t peer_asn, my_asn;
	uint16_t peer_port;		/* default 179 */
	struct lb_addr router_id;	/* family 0 = unset */
	uint32_t hold_time_s, keepalive_time_s;	/* default 90, hold/3 */
	char *password;
	bool ebgp_multihop;
	bool graceful_restart;
	char *bfd_profile;		/* parsed; using one is reported unsupported */
	struct lb_selector *node_selectors;
	size_t n_node_selectors;
};

/* Where the configuration came from (the log and `ferry status` say it). */
enum lb_source { LB_SRC_NONE, LB_SRC_CONFIGMAP, LB_SRC_CRDS };

struct lb_config {
	enum lb_source source;
	struct lb_pool *pools;
	size_t n_pools;
	struct lb_l2_adv *l2_advs;
	size_t n_l2_advs;
	struct lb_bgp_adv *bgp_advs;
	size_t n_bgp_advs;
	struct lb_peer *peers;
	size_t n_peers;
	char **bfd_profiles;
	size_t n_bfd_profiles;
};

/* Label matching, shared by the allocator and the announcers.
 * labels: n pairs key, value. */
bool lb_selector_matches(const struct lb_selector *s, const struct lb_label *labels, size_t n);
/* An advertisement's pool choice (L2 and BGP alike): no pools and no
 * selectors is every pool; else p named in pools or matching a selector. */
bool lb_adv_selects_pool(char *const *pools, size_t n_pools, const struct lb_selector *sel,
			 size_t n_sel, const struct lb_pool *p);
/* Free an array of n selectors and everything they own. */
void lb_selectors_free(struct lb_selector *s, size_t n);

int lb_addr_cmp(const struct lb_addr *a, const struct lb_addr *b);
/* "192.0.2.1" / "2001:db8::1" -> 0 or -EINVAL */
int lb_addr_parse(const char *s, struct lb_addr *out);
void lb_addr_format(const struct lb_addr *a, char *buf, size_t len);	/* len >= 46 */
/* The socket address forms, for the BGP session and listener: sa NULL or
 * of another family gives family 0; to_sockaddr returns the length. */
void lb_addr_from_sockaddr(const struct sockaddr *sa, struct lb_addr *a);
socklen_t lb_addr_to_sockaddr(const struct lb_addr *a, uint16_t port, struct sockaddr_storage *ss);

#endif
