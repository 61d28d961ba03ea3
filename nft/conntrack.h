/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stale conntrack cleanup over ctnetlink (libmnl), never the `conntrack`
 * binary. UDP has no connection teardown: a client that keeps its socket
 * keeps hitting the DNAT of its first packet, so when a UDP Service's
 * endpoints change the entries pointing at the old ones must go:
 *
 *  - a Service IP:port that had no endpoints (packets were rejected and the
 *    entries remember no DNAT) and now has some, or that was deleted:
 *    match the original destination (ct_match_service);
 *  - an endpoint that was removed: match the reply source, the DNAT'ed
 *    endpoint, optionally limited to one Service IP:port (ct_match_endpoint);
 *  - NodePorts: the original destination port on any address.
 *
 * One dump per address family, matching in user space, then one delete per
 * matching entry by its original tuple (and zone). Entries of other
 * protocols are never touched unless a match asks for them.
 */
#ifndef FERRY_NFT_CONNTRACK_H
#define FERRY_NFT_CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ct_match {
	uint8_t family;			/* AF_INET or AF_INET6 */
	uint8_t proto;			/* IPPROTO_UDP, ... */
	bool orig_dst_set;		/* match the original destination address */
	uint8_t orig_dst[16];
	uint16_t orig_dst_port;		/* host order; 0 = any */
	bool reply_src_set;		/* match the reply source (the endpoint) */
	uint8_t reply_src[16];
	uint16_t reply_src_port;	/* host order; 0 = any */
};

/* UDP entries to Service `ip`:`port` (ClusterIP, external or LB IP).
 *   conntrack -D -p udp --orig-dst IP --orig-port-dst PORT */
int ct_match_service(struct ct_match *m, const char *ip, uint16_t port);
/* UDP entries to any address with destination port `node_port`, and when
 * `ep_ip` is not NULL only those DNAT'ed to ep_ip:ep_port (ep_port 0: any).
 *   conntrack -D -p udp --orig-port-dst NODEPORT [--reply-src EP --reply-port-src EPPORT] */
int ct_match_nodeport(struct ct_match *m, int family, uint16_t node_port, const char *ep_ip,
		      uint16_t ep_port);
/* UDP entries DNAT'ed to endpoint `ep_ip`:`ep_port` (0: any port); when
 * `svc_ip` is not NULL, only those sent to svc_ip:svc_port.
 *   conntrack -D -p udp [--orig-dst SVC --orig-port-dst PORT] --reply-src EP [--reply-port-src EPPORT] */
int ct_match_endpoint(struct ct_match *m, const char *svc_ip, uint16_t svc_port, const char *ep_ip,
		      uint16_t ep_port);

/*
 * Deletes every entry matching any of `m` (both families as needed).
 * Returns the number deleted, or a negative errno (logged) when the
 * conntrack table could not be read; entries that vanish meanwhile are
 * not errors.
 */
int ct_delete(const struct ct_match *m, size_t n);

/*
 * The dump parser alone, for the fuzz target: the entries of a ctnetlink
 * dump reply in buf[0..len) (the kernel's answer, parsed strictly) that
 * match one of m[0..n). Returns how many, or a negative errno.
 */
int ct_parse_dump(const void *buf, size_t len, int family, const struct ct_match *m, size_t n);
/* Deletions per netlink send (default 256; 1 is the one-by-one baseline
 * bench/ct_bench measures against; 0 restores the default). */
void ct_set_delete_batch(size_t n);

/*
 * kube-proxy v1.37's reconciler (pkg/proxy/conntrack/cleanup.go), the way
 * to call this after a sync in which any UDP Service's endpoints changed:
 * every UDP entry sent to a frontend (Service IP:port, or *:NodePort) whose
 * reply source (the DNAT'ed endpoint IP:port) is not one of that frontend's
 * serving endpoints is deleted. Stateless: it needs no memory of what was
 * removed, so it also repairs what an agent restart missed.
 *
 * Give every UDP frontend of every UDP Service port, with the serving
 * endpoints (serving, whatever the traffic policy or topology, as
 * kube-proxy) and an empty list when there are none. A NodePort frontend
 * with no serving endpoints is skipped, as kube-proxy does: it would match
 * any traffic to that port number on any address.
 */
struct ct_backend {
	uint8_t addr[16];
	uint16_t port;		/* host order */
};

struct ct_frontend {
	uint8_t family;		/* AF_INET or AF_INET6 */
	bool node_port;		/* match the destination port on any address */
	uint8_t addr[16];	/* Service IP unless node_port */
	uint16_t port;		/* Service port or NodePort, host order */
	const struct ct_backend *serving;
	size_t n_serving;
};

/* Fill a frontend/backend from text ("198.51.100.7" or "2001:db8::7"). */
int ct_frontend_ip(struct ct_frontend *f, const char *ip, uint16_t port);
int ct_frontend_nodeport(struct ct_frontend *f, int family, uint16_t node_port);
int ct_backend_set(struct ct_backend *b, int family, const char *ip, uint16_t port);

/* Returns the entries deleted, or a negative errno (logged). */
int ct_reconcile(const struct ct_frontend *f, size_t n);

#endif
