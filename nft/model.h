/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The desired forwarding state, as plain C with no Kubernetes types.
 *
 * proxy/ fills a `struct fstate` from Services, EndpointSlices and the Node;
 * nft/ turns it into the `ferry` tables. One `struct fsvc` is one service
 * port (a Service has one per port and protocol), identified by a stable
 * key "namespace/name:portname/proto" that survives every change of its
 * contents, so two states can be compared service by service.
 *
 * Addresses of both families sit side by side; the IPv4 table takes the
 * IPv4 ones, the IPv6 table the IPv6 ones.
 */
#ifndef FERRY_NFT_MODEL_H
#define FERRY_NFT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct faddr {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t plen;		/* prefix length; 32/128 for a host address */
	uint8_t a[16];		/* network order; IPv4 uses a[0..3] */
};

enum fpolicy { FPOLICY_CLUSTER = 0, FPOLICY_LOCAL = 1 };

struct fendpoint {
	struct faddr addr;
	uint16_t port;
	bool ready, serving, terminating;
	bool local;		/* runs on this node */
	/* Topology hints send this node's cluster-wide traffic to other
	 * endpoints; still one of the node-local ones if local. */
	bool hinted_away;
};

#define FSVC_KEY_MAX 254

struct fsvc {
	char *key;			/* "namespace/name:portname/proto", owned */
	uint8_t proto;			/* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP */
	uint16_t port;			/* service port */
	uint16_t node_port;		/* 0: none */
	struct faddr *cluster_ips; size_t n_cluster_ips;
	struct faddr *external_ips; size_t n_external_ips;	/* spec.externalIPs */
	struct faddr *lb_ips; size_t n_lb_ips;			/* status.loadBalancer */
	struct faddr *source_ranges; size_t n_source_ranges;	/* guard lb_ips only */
	struct fendpoint *eps; size_t n_eps;			/* cluster-wide; .local marks this node's */
	enum fpolicy external_policy;	/* NodePort, external and LB IPs */
	enum fpolicy internal_policy;	/* cluster IPs */
	uint32_t affinity_timeout;	/* ClientIP affinity in seconds; 0: none */
	/* Optional change hint: the filler bumps it whenever anything above
	 * changes. Equal non-zero versions of the same key mean "unchanged"
	 * and skip the deep compare (what keeps a one-change sync flat at
	 * 30,000 Services); 0 means unknown: always compared. */
	uint64_t version;
};

struct fnode {
	struct faddr *node_ips; size_t n_node_ips;
	struct faddr *nodeport_cidrs; size_t n_nodeport_cidrs;	/* empty: every local address */
	struct faddr *pod_cidrs; size_t n_pod_cidrs;	/* local-traffic detection; empty: none */
	/* Local-traffic detection by the input interface instead (kube-proxy's
	 * detectLocalMode BridgeInterface, InterfaceNamePrefix): pod traffic
	 * is what arrives on pod_iface (a name prefix when pod_iface_prefix);
	 * "": by pod_cidrs. */
	char pod_iface[16];
	bool pod_iface_prefix;
	/* The Service CIDRs: new traffic to an address in them that is no
	 * ClusterIP is dropped (kube-proxy's service-cidrs check); empty: none. */
	struct faddr *service_cidrs; size_t n_service_cidrs;
	bool masquerade_all;
	/* The ct mark bit that asks for masquerading: 1 << masqueradeBit of
	 * the KubeProxyConfiguration; 0 means kube-proxy's default, 1 << 14. */
	uint32_t masq_mark;
};

static inline uint32_t fnode_masq_mark(const struct fnode *n)
{
	return n->masq_mark ? n->masq_mark : 0x4000u;
}

struct fstate {
	struct fnode node;
	struct fsvc *svcs; size_t n_svcs, cap_svcs;
};

/* ---- building ---- */
void fstate_init(struct fstate *s);
void fstate_free(struct fstate *s);
/* A new zeroed service port with `key`; NULL on a bad or duplicate key is
 * not checked here (fstate_check does). The pointer lives until the next add. */
struct fsvc *fstate_add_svc(struct fstate *s, const char *key);
int fsvc_add_addr(struct faddr **list, size_t *n, const struct faddr *a);
struct fendpoint *fsvc_add_ep(struct fsvc *v);
int fstate_copy(struct fstate *dst, const struct fstate *src);
int fsvc_copy(struct fsvc *dst, const struct fsvc *src);	/* deep */
void fsvc_free(struct fsvc *v);		/* its arrays, not v itself */
int fnode_copy(struct fnode *dst, const struct fnode *src);
void fnode_free(struct fnode *n);	/* its arrays */
/* Sorts services by key: dump output and comparisons are stable. */
void fstate_sort(struct fstate *s);
/* In a sorted state: the service port with `key`, or NULL. */
const struct fsvc *fstate_find(const struct fstate *s, const char *key);
/* In a sorted state: [*lo, *hi) are the ports of the Service
 * "namespace/name" (the keys that start with "namespace/name:"). */
void fstate_service_range(const struct fstate *s, const char *svc, size_t *lo, size_t *hi);
/*
 * Updating a sorted state Service by Service. `svcs` names Services
 * ("namespace/name", sorted by strcmp, each once) and `ports` holds all the
 * ports they have now (sorted; none of other Services).
 *
 * fstate_dropped_keys: the keys of their ports in `s` that `ports` lacks,
 * as a malloc'd array of pointers into `s` (*n_keys of them). 0 or -ENOMEM.
 *
 * fstate_replace_services: their ports in `s` are replaced by `ports`,
 * moved (`ports` is left with no services); the replaced ones are moved
 * into `old`, emptied first, sorted. s stays sorted. 0, or -ENOMEM with
 * nothing changed.
 */
int fstate_dropped_keys(const struct fstate *s, const char *const *svcs, size_t n,
			const struct fstate *ports, const char ***keys, size_t *n_keys);
int fstate_replace_services(struct fstate *s, const char *const *svcs, size_t n,
			    struct fstate *ports, struct fstate *old);
/* 0, or -EINVAL with a log line naming the first bad service. */
int fstate_check(const struct fstate *s);
/* In a sorted state: leave out every bad service port and every repeated
 * key after its first, each with a log line, so that one tenant's broken
 * object never stops the others. Returns how many were left out. */
size_t fstate_drop_bad(struct fstate *s);

/* ---- comparing ---- */
bool fsvc_equal(const struct fsvc *a, const struct fsvc *b);	/* ignores version */
/* Same key and version (non-zero), or deeply equal. */
bool fsvc_same(const struct fsvc *a, const struct fsvc *b);
bool fnode_equal(const struct fnode *a, const struct fnode *b);

/* ---- addresses ---- */
/* "192.0.2.1", "2001:db8::1", "198.18.0.0/15"; 0 or -EINVAL. */
int faddr_parse(struct faddr *a, const char *s);
/* Writes "addr" or "addr/plen" (when not a host prefix); returns buf. */
const char *faddr_str(const struct faddr *a, char *buf, size_t len);
const char *fproto_name(uint8_t proto);
int fproto_parse(const char *s);	/* "tcp" -> 6, -1 when unknown */

/*
 * The endpoints traffic should go to: the ready ones; when none is ready,
 * the serving-and-terminating ones (graceful termination, as kube-proxy).
 * `local_only` restricts to this node's endpoints, `family` to one family.
 * Fills `out` (room for v->n_eps) and returns the count.
 */
size_t fsvc_pick_eps(const struct fsvc *v, int family, bool local_only,
		     const struct fendpoint **out);

/* ---- JSON (ferry dump / apply-state) ---- */
/* Parses a whole state; on error logs why and returns -EINVAL, `s` empty. */
int fstate_from_json(struct fstate *s, const char *text, size_t len);
/* A malloc'd JSON text of the state (the format fstate_from_json reads). */
char *fstate_to_json(const struct fstate *s);

#endif
