/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "proxy/proxy.h"
#include "core/log.h"
#include "core/vec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define LABEL_SERVICE_NAME "kubernetes.io/service-name"
#define LABEL_PROXY_NAME "service.kubernetes.io/service-proxy-name"
#define LABEL_ZONE "topology.kubernetes.io/zone"
#define DEFAULT_AFFINITY_TIMEOUT 10800	/* kube-proxy's, 3 hours */

static const char *const proto_names[] = {
	[KUBE_PROTO_TCP] = "tcp", [KUBE_PROTO_UDP] = "udp", [KUBE_PROTO_SCTP] = "sctp",
};
static const uint8_t proto_numbers[] = {
	[KUBE_PROTO_TCP] = IPPROTO_TCP, [KUBE_PROTO_UDP] = IPPROTO_UDP,
	[KUBE_PROTO_SCTP] = IPPROTO_SCTP,
};

void proxy_svc_key(char *buf, size_t len, const char *ns, const char *name,
		   const char *port_name, uint16_t port, const char *proto)
{
	/* an unnamed port (a Service's only one) is called by its number: a
	 * port name always holds a letter, so the two never meet */
	if (port_name && *port_name)
		snprintf(buf, len, "%s/%s:%s/%s", ns, name, port_name, proto);
	else
		snprintf(buf, len, "%s/%s:%u/%s", ns, name, port, proto);
}

bool proxy_service_ours(const struct kube_object *o)
{
	return o && o->kind == KUBE_SERVICE && !kube_object_label(o, LABEL_PROXY_NAME);
}

/* ---- the EndpointSlices of one Service ---- */

struct slice_list {
	const struct kube_endpointslice **v;
	size_t n, cap;
};

struct build {
	const struct proxy_config *cfg;
	const struct proxy_input *in;
	struct fstate *out;
	struct proxy_stats *st;
	const char *zone;		/* this node's, or NULL */
	/* EndpointSlices grouped by "namespace/service", sorted for bsearch */
	struct slice_group {
		char *key;
		struct slice_list l;
	} *groups;
	size_t n_groups, cap_groups;
	int err;
};

static int group_cmp(const void *a, const void *b)
{
	return strcmp(((const struct slice_group *)a)->key, ((const struct slice_group *)b)->key);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int collect_slice(void *arg, const struct kube_object *o)
{
	struct build *b = arg;
	const struct kube_endpointslice *s = kube_endpointslice(o);
	char key[512];
	const char *k = key;

	if (!s || !s->service_name || s->address_type == KUBE_ADDR_FQDN)
		return 0;
	snprintf(key, sizeof(key), "%s/%s", o->namespace, s->service_name);
	if (b->in->only && !bsearch(&k, b->in->only, b->in->n_only, sizeof(*b->in->only), str_cmp))
		return 0;
	/* Slices arrive grouped more often than not: try the last group first. */
	struct slice_group *g = b->n_groups && !strcmp(b->groups[b->n_groups - 1].key, key) ?
		&b->groups[b->n_groups - 1] : NULL;
	if (!g) {
		if (vec_grow((void **)&b->groups, &b->cap_groups, b->n_groups + 1, sizeof(*b->groups)))
			goto oom;
		g = &b->groups[b->n_groups++];
		memset(g, 0, sizeof(*g));
		if (!(g->key = strdup(key))) {
			b->n_groups--;
			goto oom;
		}
	}
	if (vec_grow((void **)&g->l.v, &g->l.cap, g->l.n + 1, sizeof(*g->l.v)))
		goto oom;
	g->l.v[g->l.n++] = s;
	return 0;
oom:
	b->err = -ENOMEM;
	return 1;
}

/* Merge groups that share a key (slices of one Service seen apart). */
static int group_merge(struct build *b)
{
	size_t w = 0;

	vec_sort(b->groups, b->n_groups, sizeof(*b->groups), group_cmp);
	for (size_t r = 0; r < b->n_groups; r++) {
		if (w && !strcmp(b->groups[w - 1].key, b->groups[r].key)) {
			struct slice_list *d = &b->groups[w - 1].l, *s = &b->groups[r].l;
			const struct kube_endpointslice **nv =
				realloc(d->v, (d->n + s->n) * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			memcpy(nv + d->n, s->v, s->n * sizeof(*nv));
			d->v = nv;
			d->n += s->n;
			d->cap = d->n;
			free(s->v);
			free(b->groups[r].key);
		} else {
			b->groups[w++] = b->groups[r];
		}
	}
	b->n_groups = w;
	return 0;
}

static const struct slice_list *slices_of(const struct build *b, const char *ns, const char *name)
{
	char key[512];
	struct slice_group k = { .key = key }, *g;

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (!b->n_groups)
		return NULL;
	g = bsearch(&k, b->groups, b->n_groups, sizeof(*b->groups), group_cmp);
	return g ? &g->l : NULL;
}

/* ---- one Service port ---- */

static bool tri(int8_t v, bool unset) { return v == KUBE_UNSET ? unset : v != 0; }

static bool has_str(const char *const *l, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (l[i] && s && !strcmp(l[i], s))
			return true;
	return false;
}

static void problem(const struct build *b, const struct kube_object *o, const char *reason,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void problem(const struct build *b, const struct kube_object *o, const char *reason,
		    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!b->in->problem)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->in->problem(b->in->problem_arg, o, reason, msg);
}

/* Adds an endpoint, or merges it with the copy another slice listed. */
static int add_endpoint(struct fsvc *v, const struct faddr *a, uint16_t port,
			bool ready, bool serving, bool terminating, bool local, bool hinted_away)
{
	for (size_t i = 0; i < v->n_eps; i++) {
		struct fendpoint *e = &v->eps[i];
		if (e->port == port && e->addr.family == a->family &&
		    !memcmp(e->addr.a, a->a, sizeof(a->a))) {
			if (ready && !e->ready) {	/* the ready copy wins */
				e->ready = ready;
				e->serving = serving;
				e->terminating = terminating;
				e->hinted_away = hinted_away;
			}
			e->local |= local;
			return 0;
		}
	}
	struct fendpoint *e = fsvc_add_ep(v);
	if (!e)
		return -ENOMEM;
	e->addr = *a;
	e->port = port;
	e->ready = ready;
	e->serving = serving;
	e->terminating = terminating;
	e->local = local;
	e->hinted_away = hinted_away;
	return 0;
}

/*
 * kube-proxy's topology rule (pkg/proxy/topology.go): when every ready
 * endpoint carries node hints and one names this node, only the endpoints
 * hinted for this node take cluster-wide traffic (trafficDistribution
 * PreferSameNode); else the same with zone hints and this node's zone
 * (PreferSameZone, PreferClose, topology-aware hints); else all endpoints.
 */
enum topo { TOPO_NONE, TOPO_NODE, TOPO_ZONE };

static enum topo topology_mode(const struct build *b, const struct slice_list *sl)
{
	bool any_ready = false, all_nodes = true, for_node = false, all_zones = true, for_zone = false;

	for (size_t i = 0; i < sl->n; i++) {
		const struct kube_endpointslice *s = sl->v[i];
		for (uint32_t j = 0; j < s->n_endpoints; j++) {
			const struct kube_endpoint *e = &s->endpoints[j];
			if (!tri(e->ready, true))
				continue;
			any_ready = true;
			if (!e->n_hint_nodes)
				all_nodes = false;
			else if (has_str(e->hint_nodes, e->n_hint_nodes, b->cfg->node_name))
				for_node = true;
			if (!e->n_hint_zones)
				all_zones = false;
			else if (b->zone && has_str(e->hint_zones, e->n_hint_zones, b->zone))
				for_zone = true;
		}
	}
	if (!any_ready)
		return TOPO_NONE;
	if (all_nodes && for_node)
		return TOPO_NODE;
	return all_zones && for_zone ? TOPO_ZONE : TOPO_NONE;
}

static bool for_topology(const struct build *b, enum topo t, const struct kube_endpoint *e)
{
	switch (t) {
	case TOPO_NODE:
		return has_str(e->hint_nodes, e->n_hint_nodes, b->cfg->node_name);
	case TOPO_ZONE:
		return has_str(e->hint_zones, e->n_hint_zones, b->zone);
	default:
		return true;
	}
}

static const struct kube_eps_port *slice_port(const struct kube_endpointslice *s,
					      const struct kube_service_port *sp)
{
	for (uint16_t i = 0; i < s->n_ports; i++) {
		const struct kube_eps_port *p = &s->ports[i];
		const char *pn = p->name ? p->name : "", *sn = sp->name ? sp->name : "";
		if (!strcmp(pn, sn) && p->protocol == sp->protocol && p->port > 0 && p->port < 65536)
			return p;
	}
	return NULL;
}

static int fill_endpoints(struct build *b, struct fsvc *v, const struct kube_service *svc,
			  const struct kube_service_port *sp)
{
	const struct slice_list *sl = slices_of(b, svc->obj.namespace, svc->obj.name);
	enum topo topo;

	if (!sl)
		return 0;
	/* Topology narrows cluster-wide traffic only: with a Local policy the
	 * node-local list still holds every endpoint of this node, while the
	 * cluster-wide one (the other policy, a pod's short-cut to an external
	 * IP) follows the hints, as kube-proxy's CategorizeEndpoints does. */
	topo = topology_mode(b, sl);
	for (size_t i = 0; i < sl->n; i++) {
		const struct kube_endpointslice *s = sl->v[i];
		const struct kube_eps_port *p = slice_port(s, sp);

		if (!p)
			continue;
		for (uint32_t j = 0; j < s->n_endpoints; j++) {
			const struct kube_endpoint *e = &s->endpoints[j];
			bool ready = tri(e->ready, true);
			bool serving = tri(e->serving, ready);
			bool terminating = tri(e->terminating, false);
			bool local = e->node_name && !strcmp(e->node_name, b->cfg->node_name);
			struct faddr a;

			/* One address per endpoint is used, as kube-proxy does. */
			if (!e->n_addresses || faddr_parse(&a, e->addresses[0]) < 0 ||
			    a.plen != (a.family == AF_INET ? 32 : 128)) {
				log_warn("proxy", "bad endpoint address", "slice=%s/%s address=%s",
					 s->obj.namespace, s->obj.name,
					 log_q(e->n_addresses ? e->addresses[0] : ""));
				continue;
			}
			if ((a.family == AF_INET) != (s->address_type == KUBE_ADDR_IPV4))
				continue;
			if (add_endpoint(v, &a, (uint16_t)p->port, ready, serving, terminating, local,
					 !for_topology(b, topo, e)) < 0)
				return -ENOMEM;
			b->st->endpoints++;
		}
	}
	return 0;
}

static int ep_cmp(const void *a, const void *b)
{
	const struct fendpoint *x = a, *y = b;
	int c = (int)x->addr.family - (int)y->addr.family;

	if (!c)
		c = memcmp(x->addr.a, y->addr.a, sizeof(x->addr.a));
	return c ? c : (int)x->port - (int)y->port;
}

/* Parses IP strings (or CIDRs) into a model address list; a bad one is
 * logged and skipped, the others kept. */
/* Does prefix a hold every address of b? */
static bool prefix_holds(const struct faddr *a, const struct faddr *b)
{
	if (a->family != b->family || a->plen > b->plen)
		return false;
	for (int bit = 0; bit < a->plen; bit++)
		if ((a->a[bit / 8] ^ b->a[bit / 8]) & (0x80 >> (bit % 8)))
			return false;
	return true;
}

/* Two prefixes either nest or are apart: keep only the outer ones. An
 * interval set refuses overlapping elements (EEXIST) and would fail the
 * Service; kube-proxy's anonymous sets merge them. */
static void merge_nested(struct faddr *l, size_t *n)
{
	size_t kept = 0;

	for (size_t i = 0; i < *n; i++) {
		bool inner = false;

		for (size_t j = 0; j < *n && !inner; j++)
			inner = j != i && prefix_holds(&l[j], &l[i]) &&
				(l[j].plen < l[i].plen || j < i);	/* equal: keep the first */
		if (!inner)
			l[kept++] = l[i];
	}
	*n = kept;
}

static int add_ips(struct build *b, const struct kube_service *svc, const char *field,
		   const char *const *ips, size_t n, bool cidr, struct faddr **list, size_t *cnt)
{
	for (size_t i = 0; i < n; i++) {
		char buf[INET6_ADDRSTRLEN + 8];
		const char *t = ips[i];
		size_t len;
		struct faddr a;

		if (!t)
			continue;
		/* " 192.0.2.0/24" passes API validation; kube-proxy trims it */
		while (*t == ' ' || *t == '\t')
			t++;
		len = strlen(t);
		while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
			len--;
		if (!len || len >= sizeof(buf) || !strncmp(t, "None", len))
			continue;
		memcpy(buf, t, len);
		buf[len] = 0;
		if (faddr_parse(&a, buf) < 0 ||
		    (!cidr && a.plen != (a.family == AF_INET ? 32 : 128))) {
			log_warn("proxy", "ignoring a bad address", "service=%s/%s field=%s value=%s",
				 svc->obj.namespace, svc->obj.name, field, log_q(ips[i]));
			continue;
		}
		if (fsvc_add_addr(list, cnt, &a) < 0)
			return -ENOMEM;
	}
	if (cidr)
		merge_nested(*list, cnt);
	return 0;
}

/* Whether the user wrote any loadBalancerSourceRanges entry at all. */
static bool wrote_ranges(const struct kube_service *svc)
{
	for (uint32_t i = 0; i < svc->n_lb_source_ranges; i++)
		if (svc->lb_source_ranges[i] &&
		    svc->lb_source_ranges[i][strspn(svc->lb_source_ranges[i], " \t")])
			return true;
	return false;
}

/*
 * Ranges were written and none parses: an empty list would mean "allow
 * all", so fail closed instead (kube-proxy drops bad entries and then
 * allows all; docs/kube-proxy-compat.md). The only allowed sources are the
 * unspecified addresses, which no client holds (0.0.0.0 is a martian
 * source; :: only precedes an address and cannot be answered): every
 * client of either family is refused, and `ferry status` shows it.
 */
static int deny_all_sources(struct fsvc *v)
{
	struct faddr a;

	faddr_parse(&a, "0.0.0.0/32");
	if (fsvc_add_addr(&v->source_ranges, &v->n_source_ranges, &a) < 0)
		return -ENOMEM;
	faddr_parse(&a, "::/128");
	return fsvc_add_addr(&v->source_ranges, &v->n_source_ranges, &a);
}

/* What one service port costs in the ruleset, about: an entry, a pick and
 * the DNAT targets per address, the firewall per LB address and range, the
 * same for the NodePort. */
static size_t fsvc_elements(const struct fsvc *v)
{
	size_t ips = v->n_cluster_ips + v->n_external_ips + v->n_lb_ips;

	return ips * (2 + v->n_eps) + v->n_lb_ips * v->n_source_ranges +
	       (v->node_port ? 2 + v->n_eps : 0);
}

static int add_service(void *arg, const struct kube_object *o)
{
	struct build *b = arg;
	const struct kube_service *svc = kube_service(o);
	bool external, lb;

	if (!svc)
		return 0;
	if (!proxy_service_ours(o) || svc->type == KUBE_SVC_EXTERNAL_NAME || svc->headless ||
	    !svc->n_cluster_ips) {
		b->st->skipped_services++;
		return 0;
	}
	b->st->services++;
	lb = svc->type == KUBE_SVC_LOAD_BALANCER;
	external = lb || svc->type == KUBE_SVC_NODE_PORT || svc->n_external_ips;
	size_t first = b->out->n_svcs, elements = 0;
	int ranges_told = 0;

	for (uint16_t i = 0; i < svc->n_ports; i++) {
		const struct kube_service_port *sp = &svc->ports[i];
		char key[FSVC_KEY_MAX + 2];
		struct fsvc *v;

		if (sp->protocol > KUBE_PROTO_SCTP || !sp->port) {
			log_warn("proxy", "ignoring a bad service port", "service=%s/%s port=%u",
				 o->namespace, o->name, sp->port);
			continue;
		}
		proxy_svc_key(key, sizeof(key), o->namespace, o->name, sp->name, sp->port,
			      proto_names[sp->protocol]);
		if (!(v = fstate_add_svc(b->out, key)))
			goto oom;
		v->proto = proto_numbers[sp->protocol];
		v->port = sp->port;
		if (svc->type == KUBE_SVC_NODE_PORT || lb)
			v->node_port = sp->node_port;
		v->external_policy = external && svc->external_traffic_policy == KUBE_POLICY_LOCAL ?
			FPOLICY_LOCAL : FPOLICY_CLUSTER;
		v->internal_policy = svc->internal_traffic_policy == KUBE_POLICY_LOCAL ?
			FPOLICY_LOCAL : FPOLICY_CLUSTER;
		if (svc->session_affinity_client_ip)
			v->affinity_timeout = svc->session_affinity_timeout > 0 ?
				(uint32_t)svc->session_affinity_timeout : DEFAULT_AFFINITY_TIMEOUT;
		if (add_ips(b, svc, "clusterIPs", svc->cluster_ips, svc->n_cluster_ips, false,
			    &v->cluster_ips, &v->n_cluster_ips) < 0 ||
		    add_ips(b, svc, "externalIPs", svc->external_ips, svc->n_external_ips, false,
			    &v->external_ips, &v->n_external_ips) < 0)
			goto oom;
		if (lb) {
			for (uint16_t j = 0; j < svc->n_lb_ingress; j++) {
				const struct kube_lb_ingress *ing = &svc->lb_ingress[j];
				/* ipMode Proxy: the load balancer proxies, packets never
				 * arrive addressed to this IP; do not capture it. */
				if (!ing->ip || (ing->ip_mode && !strcmp(ing->ip_mode, "Proxy")))
					continue;
				if (add_ips(b, svc, "status.loadBalancer.ingress", &ing->ip, 1, false,
					    &v->lb_ips, &v->n_lb_ips) < 0)
					goto oom;
			}
			if (add_ips(b, svc, "loadBalancerSourceRanges", svc->lb_source_ranges,
				    svc->n_lb_source_ranges, true, &v->source_ranges,
				    &v->n_source_ranges) < 0)
				goto oom;
			if (!v->n_source_ranges && wrote_ranges(svc)) {
				if (deny_all_sources(v) < 0)
					goto oom;
				if (!ranges_told++) {
					log_warn("proxy", "no loadBalancerSourceRanges entry is valid; "
						 "the LoadBalancer IPs allow no client", "service=%s/%s",
						 o->namespace, o->name);
					problem(b, o, "InvalidSourceRanges", "no entry of "
						"loadBalancerSourceRanges is a valid CIDR: the "
						"LoadBalancer IPs allow no client until one is");
				}
			}
		}
		if (fill_endpoints(b, v, svc, sp) < 0)
			goto oom;
		/* one order whatever order the slices came in: equal inputs
		 * give equal ports, and no sync moves an endpoint's slot */
		vec_sort(v->eps, v->n_eps, sizeof(*v->eps), ep_cmp);
		b->st->service_ports++;
		elements += fsvc_elements(v);
	}
	if (elements > PROXY_SVC_ELEMENT_BUDGET) {
		/* one tenant's object must not block the loop for seconds with a
		 * million elements (1,024 ports x 1,024 externalIPs) */
		log_warn("proxy", "service left out: too many nftables elements", "service=%s/%s "
			 "elements=%zu budget=%d", o->namespace, o->name, elements, PROXY_SVC_ELEMENT_BUDGET);
		problem(b, o, "TooManyElements", "left out of this node's data plane: it would cost "
			"%zu nftables elements, over the budget of %d per Service (ports x "
			"addresses x endpoints)", elements, PROXY_SVC_ELEMENT_BUDGET);
		b->st->service_ports -= b->out->n_svcs - first;
		while (b->out->n_svcs > first) {
			struct fsvc *x = &b->out->svcs[--b->out->n_svcs];

			b->st->endpoints -= x->n_eps;
			fsvc_free(x);
		}
		b->st->services--;
		b->st->over_budget++;
	}
	return 0;
oom:
	b->err = -ENOMEM;
	return 1;
}

/* ---- node-wide settings ---- */

static int add_cidr_strings(const char *const *l, size_t n, struct faddr **list, size_t *cnt,
			    const char *what)
{
	for (size_t i = 0; i < n; i++) {
		struct faddr a;
		if (faddr_parse(&a, l[i]) < 0) {
			log_warn("proxy", "ignoring a bad CIDR", "field=%s value=%s", what, log_q(l[i]));
			continue;
		}
		if (fsvc_add_addr(list, cnt, &a) < 0)
			return -ENOMEM;
	}
	return 0;
}

/*
 * nodePortAddresses as kube-proxy v1.37 reads it
 * (cmd/kube-proxy/app/server.go expandNodePortAddressKeywords, then
 * NewNodePortAddresses per family): "primary" (the default, also for an
 * empty list) is the node's first InternalIP of each family, "localhost"
 * 127.0.0.0/8 and ::1/128, "all" both zero CIDRs; CIDRs add to these; a
 * family left with no CIDR takes all its addresses (kube-proxy runs a
 * proxier per family whether or not the Node has an IP of it).
 */
static bool needs_primary(const struct proxy_config *cfg)
{
	if (!cfg->n_nodeport_addresses)
		return true;
	for (size_t i = 0; i < cfg->n_nodeport_addresses; i++)
		if (!strcmp(cfg->nodeport_addresses[i], "primary"))
			return true;
	return false;
}

bool proxy_nodeports_wait(const struct proxy_config *cfg, const struct kube_node *node)
{
	return !node && needs_primary(cfg);
}

static int fill_nodeport_addresses(struct build *b, struct fnode *fn)
{
	static const char *const localhost[] = { "127.0.0.0/8", "::1/128" };
	static const char *const all[] = { "0.0.0.0/0", "::/0" };
	/* no address can be a NodePort's destination: nothing matches */
	static const char *const none[] = { "0.0.0.0/32", "::/128" };
	const struct proxy_config *cfg = b->cfg;
	bool primary = needs_primary(cfg), got[2] = { false, false };
	const char *l[20];
	size_t n = 0;

	if (proxy_nodeports_wait(cfg, b->in->node))
		return add_cidr_strings(none, 2, &fn->nodeport_cidrs, &fn->n_nodeport_cidrs,
					"nodePortAddresses");
	for (size_t i = 0; i < cfg->n_nodeport_addresses && n + 2 <= 20; i++) {
		const char *a = cfg->nodeport_addresses[i];

		if (!strcmp(a, "primary")) {
			continue;
		} else if (!strcmp(a, "localhost") || !strcmp(a, "all")) {
			const char *const *two = a[0] == 'l' ? localhost : all;

			l[n++] = two[0];
			l[n++] = two[1];
			got[0] = got[1] = true;
		} else {
			l[n++] = a;
			got[!!strchr(a, ':')] = true;
		}
	}
	for (size_t i = 0; primary && i < fn->n_node_ips; i++) {
		int f = fn->node_ips[i].family == AF_INET6;
		bool first = true;

		for (size_t j = 0; j < i; j++)
			first &= fn->node_ips[j].family != fn->node_ips[i].family;
		if (!first)
			continue;
		if (fsvc_add_addr(&fn->nodeport_cidrs, &fn->n_nodeport_cidrs, &fn->node_ips[i]) < 0)
			return -ENOMEM;
		got[f] = true;
	}
	if (add_cidr_strings(l, n, &fn->nodeport_cidrs, &fn->n_nodeport_cidrs, "nodePortAddresses") < 0)
		return -ENOMEM;
	for (int f = 0; f < 2; f++) {
		struct faddr any;

		if (got[f])
			continue;
		faddr_parse(&any, all[f]);
		if (fsvc_add_addr(&fn->nodeport_cidrs, &fn->n_nodeport_cidrs, &any) < 0)
			return -ENOMEM;
	}
	return 0;
}

struct cidr_walk {
	struct fnode *fn;
	int err;
};

static int add_servicecidr(void *arg, const struct kube_object *o)
{
	const struct kube_servicecidr *c = kube_servicecidr(o);
	struct cidr_walk *w = arg;

	if (c && add_cidr_strings(c->cidrs, c->n_cidrs, &w->fn->service_cidrs,
				  &w->fn->n_service_cidrs, "ServiceCIDR spec.cidrs") < 0)
		w->err = -ENOMEM;
	return w->err;
}

static int faddr_cmp(const void *x, const void *y)
{
	const struct faddr *a = x, *b = y;

	if (a->family != b->family)
		return a->family - b->family;
	if (a->plen != b->plen)
		return a->plen - b->plen;
	return memcmp(a->a, b->a, sizeof(a->a));
}

/* The flag's CIDRs and the ServiceCIDR objects', sorted and without
 * repeats: the cache's order must not look like a change of the node. */
static int fill_service_cidrs(struct build *b, struct fnode *fn)
{
	const struct proxy_config *cfg = b->cfg;
	struct cidr_walk w = { fn, 0 };
	size_t n = 0;

	if (add_cidr_strings(cfg->service_cidrs, cfg->n_service_cidrs, &fn->service_cidrs,
			     &fn->n_service_cidrs, "serviceCIDRs") < 0)
		return -ENOMEM;
	if (b->in->service_cidrs && b->in->foreach)
		b->in->foreach(b->in->service_cidrs, add_servicecidr, &w);
	if (w.err)
		return w.err;
	vec_sort(fn->service_cidrs, fn->n_service_cidrs, sizeof(*fn->service_cidrs), faddr_cmp);
	for (size_t i = 0; i < fn->n_service_cidrs; i++)
		if (!n || faddr_cmp(&fn->service_cidrs[n - 1], &fn->service_cidrs[i]))
			fn->service_cidrs[n++] = fn->service_cidrs[i];
	fn->n_service_cidrs = n;
	return 0;
}

/* Which traffic comes from this node's pods (kube-proxy's detectLocalMode,
 * cmd/kube-proxy/app/server_linux.go getLocalDetectors). */
static int fill_local(const struct proxy_config *cfg, const struct kube_node *n, struct fnode *fn)
{
	switch (cfg->local_mode) {
	case PROXY_LOCAL_BRIDGE:
	case PROXY_LOCAL_IFACE_PREFIX:
		if (!cfg->local_iface || !*cfg->local_iface ||
		    strlen(cfg->local_iface) >= sizeof(fn->pod_iface)) {
			log_warn("proxy", "no usable pod interface: no traffic counts as the pods'",
				 "iface=%s", log_q(cfg->local_iface ? cfg->local_iface : ""));
			return 0;
		}
		strcpy(fn->pod_iface, cfg->local_iface);
		fn->pod_iface_prefix = cfg->local_mode == PROXY_LOCAL_IFACE_PREFIX;
		return 0;
	case PROXY_LOCAL_NODE_CIDR:
		break;
	case PROXY_LOCAL_CLUSTER_CIDR:
	case PROXY_LOCAL_DEFAULT:
		if (cfg->n_cluster_cidrs || cfg->local_mode == PROXY_LOCAL_CLUSTER_CIDR)
			return add_cidr_strings(cfg->cluster_cidrs, cfg->n_cluster_cidrs, &fn->pod_cidrs,
						&fn->n_pod_cidrs, "clusterCIDR");
		break;
	}
	if (n)
		return add_cidr_strings(n->pod_cidrs, n->n_pod_cidrs, &fn->pod_cidrs,
					&fn->n_pod_cidrs, "podCIDRs");
	return 0;
}

static int fill_node(struct build *b)
{
	const struct proxy_config *cfg = b->cfg;
	const struct kube_node *n = b->in->node;
	struct fnode *fn = &b->out->node;

	fn->masquerade_all = cfg->masquerade_all;
	fn->masq_mark = cfg->masq_mark;
	if (fill_service_cidrs(b, fn) < 0)
		return -ENOMEM;
	if (n) {
		for (uint16_t i = 0; i < n->n_addresses; i++) {
			struct faddr a;
			if (strcmp(n->addresses[i].type, "InternalIP") ||
			    faddr_parse(&a, n->addresses[i].address) < 0)
				continue;
			if (fsvc_add_addr(&fn->node_ips, &fn->n_node_ips, &a) < 0)
				return -ENOMEM;
		}
		b->zone = kube_object_label(&n->obj, LABEL_ZONE);
	}
	if (fill_nodeport_addresses(b, fn) < 0)
		return -ENOMEM;
	return fill_local(cfg, n, fn);
}

int proxy_local_mode_parse(const char *s)
{
	static const char *const names[] = {
		[PROXY_LOCAL_CLUSTER_CIDR] = "ClusterCIDR", [PROXY_LOCAL_NODE_CIDR] = "NodeCIDR",
		[PROXY_LOCAL_BRIDGE] = "BridgeInterface", [PROXY_LOCAL_IFACE_PREFIX] = "InterfaceNamePrefix",
	};

	for (int i = PROXY_LOCAL_CLUSTER_CIDR; i <= PROXY_LOCAL_IFACE_PREFIX; i++)
		if (s && !strcmp(s, names[i]))
			return i;
	return -1;
}

bool proxy_split_key(const char *key, char *ns, size_t len)
{
	const char *slash = strchr(key, '/');
	size_t n = slash ? (size_t)(slash - key) : len;

	if (n >= len)
		return false;
	memcpy(ns, key, n);
	ns[n] = 0;
	return true;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

bool proxy_node_same(const struct kube_node *a, const struct kube_node *b)
{
	if (!a || !b)
		return a == b;
	if (a->n_addresses != b->n_addresses || a->n_pod_cidrs != b->n_pod_cidrs ||
	    !same_str(kube_object_label(&a->obj, LABEL_ZONE), kube_object_label(&b->obj, LABEL_ZONE)))
		return false;
	for (uint16_t i = 0; i < a->n_addresses; i++)
		if (!same_str(a->addresses[i].type, b->addresses[i].type) ||
		    !same_str(a->addresses[i].address, b->addresses[i].address))
			return false;
	for (uint16_t i = 0; i < a->n_pod_cidrs; i++)
		if (!same_str(a->pod_cidrs[i], b->pod_cidrs[i]))
			return false;
	return true;
}

int proxy_build(const struct proxy_config *cfg, const struct proxy_input *in,
		struct fstate *out, struct proxy_stats *stats)
{
	struct proxy_stats dummy;
	struct build b = { .cfg = cfg, .in = in, .out = out, .st = stats ? stats : &dummy };
	int err;

	memset(b.st, 0, sizeof(*b.st));
	fstate_free(out);
	fstate_init(out);
	if ((err = fill_node(&b)) < 0)
		goto done;
	if (in->only && in->slices_of) {
		for (size_t i = 0; i < in->n_only && !b.err; i++) {
			char ns[512];

			if (proxy_split_key(in->only[i], ns, sizeof(ns)))
				in->slices_of(in->slices_of_arg, ns, in->only[i] + strlen(ns) + 1,
					      collect_slice, &b);
		}
	} else {
		in->foreach(in->slices, collect_slice, &b);
	}
	if ((err = b.err) < 0 || (err = group_merge(&b)) < 0)
		goto done;
	if (in->only) {
		for (size_t i = 0; i < in->n_only && !b.err; i++) {
			char ns[512];
			const struct kube_object *o = proxy_split_key(in->only[i], ns, sizeof(ns)) ?
				in->get(in->services, ns, in->only[i] + strlen(ns) + 1) : NULL;
			if (o)
				add_service(&b, o);
		}
	} else {
		in->foreach(in->services, add_service, &b);
	}
	if ((err = b.err) < 0)
		goto done;
	fstate_sort(out);
done:
	for (size_t i = 0; i < b.n_groups; i++) {
		free(b.groups[i].key);
		free(b.groups[i].l.v);
	}
	free(b.groups);
	if (err < 0) {
		fstate_free(out);
		fstate_init(out);
	}
	return err;
}
