/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One service port becomes a handful of map elements per entry point (cluster
 * IP, external IP, LB IP, NodePort) plus one DNAT element per endpoint. No
 * chain, set or rule is per Service: that is what keeps a cold sync of 10,000
 * Services fast (docs/nft-facts.md).
 *
 * Keys are laid out the way the kernel sees concatenations: every field in
 * its own 32-bit registers, zero padded; ports and addresses in network
 * order, the mark (endpoint index) in host order.
 */
#include "nft/render.h"
#include "core/hash.h"
#include "core/vec.h"

#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const set_names[RS_COUNT] = {
	[RS_POD_CIDRS] = "pod-cidrs",
	[RS_NODEPORT_ADDRS] = "nodeport-addrs",
	[RS_SERVICE_IPS] = "service-ips",
	[RS_SERVICE_NODEPORTS] = "service-nodeports",
	[RS_PICK_IPS_INTERNAL] = "pick-ips-internal",
	[RS_PICK_IPS_EXTERNAL] = "pick-ips-external",
	[RS_PICK_NP_INTERNAL] = "pick-nodeports-internal",
	[RS_PICK_NP_EXTERNAL] = "pick-nodeports-external",
	[RS_DNAT_IPS] = "dnat-ips",
	[RS_DNAT_NODEPORTS] = "dnat-nodeports",
	[RS_AFFINITY] = "affinity",
	[RS_AFFINITY_IDS] = "affinity-ids",
	[RS_AFFINITY_NP_IDS] = "affinity-nodeport-ids",
	[RS_HAIRPIN] = "hairpin",
	[RS_FIREWALL_IPS] = "firewall-ips",
	[RS_FIREWALL_ALLOW] = "firewall-allow",
	[RS_NOEP_IPS] = "no-endpoint-ips",
	[RS_NOEP_NODEPORTS] = "no-endpoint-nodeports",
	[RS_CLUSTER_IPS] = "cluster-ips",
	[RS_SERVICE_CIDRS] = "service-cidrs",
	[RS_MARK_SAVE] = "mark-save",
	[RS_KINDS] = "kinds",
	[RS_PICK_CHAINS] = "pick-chains",
};

const char *rset_name(int set)
{
	return set >= 0 && set < RS_COUNT ? set_names[set] : "?";
}

void rpick_name(const struct rpick *p, char *buf, size_t len)
{
	char aff[24] = "";
	if (p->affinity)
		snprintf(aff, sizeof(aff), "-aff%u", p->affinity);
	snprintf(buf, len, "pick-%s%s-%u%s", p->nodeport ? "np" : "ip",
		 p->local ? "-local" : "", p->k, aff);
}

bool rpick_parse(const char *name, struct rpick *p)
{
	char buf[RCHAIN_MAX], back[RCHAIN_MAX];
	unsigned k = 0, aff = 0;
	const char *s;

	memset(p, 0, sizeof(*p));
	if (strncmp(name, "pick-", 5))
		return false;
	s = name + 5;
	if (!strncmp(s, "np", 2))
		p->nodeport = true;
	else if (strncmp(s, "ip", 2))
		return false;
	s += 2;
	if (!strncmp(s, "-local", 6)) {
		p->local = true;
		s += 6;
	}
	if (sscanf(s, "-%u%39s", &k, buf) < 1)
		return false;
	if (strstr(s, "-aff"))
		sscanf(strstr(s, "-aff"), "-aff%u", &aff);
	p->k = k;
	p->affinity = aff;
	rpick_name(p, back, sizeof(back));
	return k > 0 && !strcmp(back, name);	/* only names we make */
}

static struct relem *push(struct relem_vec *vec, int fam, int set)
{
	if (vec_grow((void **)&vec->v, &vec->cap, vec->n + 1, sizeof(*vec->v)))
		return NULL;
	struct relem *e = &vec->v[vec->n++];
	memset(e, 0, sizeof(*e));
	e->fam = (uint8_t)fam;
	e->set = (uint8_t)set;
	return e;
}

/* Field writers: return the new key length. */
static uint8_t put_addr(uint8_t *k, uint8_t off, const struct faddr *a, int alen)
{
	memcpy(k + off, a->a, alen);
	return (uint8_t)(off + alen);
}

static uint8_t put_proto(uint8_t *k, uint8_t off, uint8_t proto)
{
	k[off] = proto;
	return (uint8_t)(off + 4);
}

static uint8_t put_port(uint8_t *k, uint8_t off, uint16_t port)
{
	k[off] = (uint8_t)(port >> 8);
	k[off + 1] = (uint8_t)port;
	return (uint8_t)(off + 4);
}

static uint8_t put_mark(uint8_t *k, uint8_t off, uint32_t mark)
{
	memcpy(k + off, &mark, 4);	/* host order, as meta mark loads it */
	return (uint8_t)(off + 4);
}

/* An entry point: an address (IP entries) or none (NodePort). */
struct entry {
	const struct faddr *addr;	/* NULL: NodePort */
	uint16_t port;
};

static uint8_t put_entry_key(uint8_t *k, const struct entry *en, uint8_t proto, int alen)
{
	uint8_t off = 0;
	if (en->addr)
		off = put_addr(k, off, en->addr, alen);
	off = put_proto(k, off, proto);
	return put_port(k, off, en->port);
}

static int add_entry_elem(struct relem_vec *out, int fam, int set, const struct fsvc *v,
			  const struct entry *en, uint32_t verdict, const char *chain)
{
	struct relem *e = push(out, fam, set);
	if (!e)
		return -ENOMEM;
	e->klen = put_entry_key(e->key, en, v->proto, rfam_alen(fam));
	e->verdict = verdict;
	if (chain)
		snprintf(e->chain, sizeof(e->chain), "%s", chain);
	return 0;
}

/* The pick element for one entry, and the DNAT elements it leads to. */
static int add_pick(struct relem_vec *out, int fam, int set, const struct fsvc *v,
		    const struct entry *en, const struct fendpoint **eps, size_t n, bool local)
{
	char chain[RCHAIN_MAX];
	int alen = rfam_alen(fam);

	if (!n)	/* Local policy and no local endpoint: drop, never elsewhere. */
		return add_entry_elem(out, fam, set, v, en, RV_DROP, NULL);
	struct rpick p = { .nodeport = !en->addr, .local = local, .k = (uint32_t)n,
			   .affinity = v->affinity_timeout };
	rpick_name(&p, chain, sizeof(chain));
	if (add_entry_elem(out, fam, set, v, en, RV_GOTO, chain))
		return -ENOMEM;
	uint32_t *ids = NULL;
	if (v->affinity_timeout) {
		/* the Service port's base (the client's key), then per pick
		 * index the endpoint's id, which its DNAT element is keyed by */
		if (!(ids = malloc((v->n_eps ? v->n_eps : 1) * sizeof(*ids))) || raff_ids(v, fam, ids)) {
			free(ids);
			return -ENOMEM;
		}
		struct relem *m = push(out, fam, en->addr ? RS_AFFINITY_IDS : RS_AFFINITY_NP_IDS);
		if (!m) {
			free(ids);
			return -ENOMEM;
		}
		m->klen = put_entry_key(m->key, en, v->proto, alen);
		m->klen = put_mark(m->key, m->klen, RAFF_BASE_IDX);
		m->dlen = put_mark(m->data, 0, raff_base(v));
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t idx = (uint32_t)i + (local ? RLOCAL_BASE : 0);
		if (ids) {
			uint32_t id = ids[eps[i] - v->eps] | (local ? 1u : 0u);
			struct relem *m = push(out, fam, en->addr ? RS_AFFINITY_IDS : RS_AFFINITY_NP_IDS);
			if (!m) {
				free(ids);
				return -ENOMEM;
			}
			m->klen = put_entry_key(m->key, en, v->proto, alen);
			m->klen = put_mark(m->key, m->klen, idx);
			m->dlen = put_mark(m->data, 0, id);
			idx = id;
		}
		struct relem *e = push(out, fam, en->addr ? RS_DNAT_IPS : RS_DNAT_NODEPORTS);
		if (!e) {
			free(ids);
			return -ENOMEM;
		}
		e->klen = put_entry_key(e->key, en, v->proto, alen);
		e->klen = put_mark(e->key, e->klen, idx);
		e->dlen = put_addr(e->data, 0, &eps[i]->addr, alen);
		e->dlen = put_port(e->data, e->dlen, eps[i]->port);
	}
	free(ids);
	return 0;
}

uint32_t raff_base(const struct fsvc *v)
{
	uint64_t h = hash_str(v->key, HASH_SEED);
	return RAFF_ID | (((uint32_t)(h ^ (h >> 32)) << 15) & (RAFF_PORT_MASK & ~RAFF_ID));
}

struct slot_ord { uint32_t slot; size_t i; const struct fendpoint *ep; int alen; };

static int slot_cmp(const void *a, const void *b)
{
	const struct slot_ord *x = a, *y = b;
	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	int c = memcmp(x->ep->addr.a, y->ep->addr.a, (size_t)x->alen);
	return c ? c : (int)x->ep->port - (int)y->ep->port;
}

/* Each endpoint's slot is its hash unless an endpoint with the same hash
 * and a lower address holds it: then the next free one. Adding an
 * endpoint moves another only on such a collision (one in 16,384/K). */
int raff_ids(const struct fsvc *v, int fam, uint32_t *out)
{
	int alen = rfam_alen(fam);
	struct slot_ord *o = malloc((v->n_eps ? v->n_eps : 1) * sizeof(*o));
	uint8_t taken[RAFF_SLOTS / 8] = { 0 };
	size_t n = 0;

	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < v->n_eps; i++) {
		const struct fendpoint *ep = &v->eps[i];
		out[i] = 0;
		if (ep->addr.family != rfam_af(fam))
			continue;
		uint8_t port[2] = { (uint8_t)(ep->port >> 8), (uint8_t)ep->port };
		uint64_t h = hash_bytes(port, 2, hash_bytes(ep->addr.a, (size_t)alen, HASH_SEED));
		o[n++] = (struct slot_ord){ (uint32_t)(h ^ (h >> 32)) % RAFF_SLOTS, i, ep, alen };
	}
	vec_sort(o, n, sizeof(*o), slot_cmp);
	uint32_t base = raff_base(v);
	for (size_t j = 0; j < n; j++) {
		uint32_t sl = o[j].slot;
		for (uint32_t tries = 0; tries < RAFF_SLOTS && (taken[sl / 8] & (1u << (sl % 8))); tries++)
			sl = (sl + 1) % RAFF_SLOTS;
		taken[sl / 8] |= (uint8_t)(1u << (sl % 8));
		out[o[j].i] = base | (sl << 1);
	}
	free(o);
	return 0;
}

/*
 * loadBalancerSourceRanges guard a family's LB IPs when that family has
 * ranges of its own, as kube-proxy filters them per family: IPv4-only
 * ranges leave a dual-stack Service's IPv6 address open, not closed to
 * every IPv6 client. A /0 of the family allows everyone: no guard.
 */
static bool firewalled(const struct fsvc *v, int af)
{
	bool any = false;

	for (size_t s = 0; s < v->n_source_ranges; s++) {
		if (v->source_ranges[s].family != af)
			continue;
		if (v->source_ranges[s].plen == 0)
			return false;
		any = true;
	}
	return any;
}
static void range_end(const struct faddr *a, int alen, uint8_t *out)
{
	memcpy(out, a->a, alen);
	for (int bit = a->plen; bit < alen * 8; bit++)
		out[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
}

int render_svc(const struct fsvc *v, int fam, struct relem_vec *out)
{
	int af = rfam_af(fam), alen = rfam_alen(fam);
	const struct fendpoint **all = NULL, **loc = NULL;
	size_t n_all, n_loc, start = out->n;
	bool has_fam = false;
	int r = -ENOMEM;

	for (size_t i = 0; i < v->n_cluster_ips; i++)
		has_fam |= v->cluster_ips[i].family == af;
	for (size_t i = 0; i < v->n_external_ips; i++)
		has_fam |= v->external_ips[i].family == af;
	for (size_t i = 0; i < v->n_lb_ips; i++)
		has_fam |= v->lb_ips[i].family == af;
	if (!has_fam)
		return 0;
	/* every ClusterIP, for the reject of its unknown ports (skeleton.c);
	 * shared by the ports of a Service, so counted (installed.c) */
	for (size_t i = 0; i < v->n_cluster_ips; i++) {
		struct relem *e;

		if (v->cluster_ips[i].family != af)
			continue;
		if (!(e = push(out, fam, RS_CLUSTER_IPS)))
			goto out;
		e->klen = put_addr(e->key, 0, &v->cluster_ips[i], alen);
	}
	all = calloc(v->n_eps + 1, sizeof(*all));
	loc = calloc(v->n_eps + 1, sizeof(*loc));
	if (!all || !loc)
		goto out;
	n_all = fsvc_pick_eps(v, af, false, all);
	n_loc = fsvc_pick_eps(v, af, true, loc);
	bool ext_local = v->external_policy == FPOLICY_LOCAL;
	bool int_local = v->internal_policy == FPOLICY_LOCAL;
	struct entry np = { .addr = NULL, .port = v->node_port };

	if (!n_all) {
		/* No endpoint at all: refuse loudly (reject) instead of black-holing. */
		const struct faddr *lists[3] = { v->cluster_ips, v->external_ips, v->lb_ips };
		size_t ns[3] = { v->n_cluster_ips, v->n_external_ips, v->n_lb_ips };
		for (int l = 0; l < 3; l++)
			for (size_t i = 0; i < ns[l]; i++) {
				struct entry en = { &lists[l][i], v->port };
				if (lists[l][i].family == af &&
				    add_entry_elem(out, fam, RS_NOEP_IPS, v, &en, 0, NULL))
					goto out;
			}
		if (v->node_port && add_entry_elem(out, fam, RS_NOEP_NODEPORTS, v, &np, 0, NULL))
			goto out;
		r = 0;
		goto out;
	}

	for (size_t i = 0; i < v->n_cluster_ips; i++) {
		struct entry en = { &v->cluster_ips[i], v->port };
		if (en.addr->family != af)
			continue;
		if (add_entry_elem(out, fam, RS_SERVICE_IPS, v, &en, RV_GOTO, "svc-cluster-ip") ||
		    add_pick(out, fam, RS_PICK_IPS_INTERNAL, v, &en, int_local ? loc : all,
			     int_local ? n_loc : n_all, int_local))
			goto out;
	}
	for (int l = 0; l < 2; l++) {
		const struct faddr *list = l ? v->lb_ips : v->external_ips;
		size_t n = l ? v->n_lb_ips : v->n_external_ips;
		for (size_t i = 0; i < n; i++) {
			struct entry en = { &list[i], v->port };
			if (en.addr->family != af)
				continue;
			if (add_entry_elem(out, fam, RS_SERVICE_IPS, v, &en, RV_GOTO,
					   ext_local ? "svc-external-ip-local" : "svc-external-ip") ||
			    add_pick(out, fam, RS_PICK_IPS_INTERNAL, v, &en, all, n_all, false) ||
			    (ext_local && add_pick(out, fam, RS_PICK_IPS_EXTERNAL, v, &en, loc, n_loc, true)))
				goto out;
			if (!l || !firewalled(v, af))
				continue;
			/* loadBalancerSourceRanges: the LB IP is guarded, these sources pass. */
			if (add_entry_elem(out, fam, RS_FIREWALL_IPS, v, &en, 0, NULL))
				goto out;
			for (size_t s = 0; s < v->n_source_ranges; s++) {
				const struct faddr *src = &v->source_ranges[s];
				if (src->family != af)
					continue;
				struct relem *e = push(out, fam, RS_FIREWALL_ALLOW);
				if (!e)
					goto out;
				uint8_t off = put_entry_key(e->key, &en, v->proto, alen);
				memcpy(e->key_end, e->key, off);
				e->klen = put_addr(e->key, off, src, alen);
				range_end(src, alen, e->key_end + off);
			}
		}
	}
	if (v->node_port) {
		if (add_entry_elem(out, fam, RS_SERVICE_NODEPORTS, v, &np, RV_GOTO,
				   ext_local ? "svc-nodeport-local" : "svc-nodeport") ||
		    add_pick(out, fam, RS_PICK_NP_INTERNAL, v, &np, all, n_all, false) ||
		    (ext_local && add_pick(out, fam, RS_PICK_NP_EXTERNAL, v, &np, loc, n_loc, true)))
			goto out;
	}
	/* Hairpin: a local endpoint reaching itself through the Service (from
	 * either list: the local one may hold terminating fallbacks the
	 * cluster-wide one does not; duplicates go in render_both). */
	for (int l = 0; l < 2; l++)
		for (size_t i = 0; i < (l ? n_loc : n_all); i++) {
			const struct fendpoint *ep = l ? loc[i] : all[i];
			if (!ep->local)
				continue;
			struct relem *e = push(out, fam, RS_HAIRPIN);
			if (!e)
				goto out;
			e->klen = put_addr(e->key, 0, &ep->addr, alen);
			e->klen = put_addr(e->key, e->klen, &ep->addr, alen);
		}
	r = 0;
out:
	free(all);
	free(loc);
	if (r)
		out->n = start;
	return r;
}

int relem_cmp(const struct relem *a, const struct relem *b)
{
	if (a->fam != b->fam)
		return a->fam - b->fam;
	if (a->set != b->set)
		return a->set - b->set;
	if (a->klen != b->klen)
		return a->klen - b->klen;
	int c = memcmp(a->key, b->key, a->klen);
	if (c || a->set != RS_FIREWALL_ALLOW)
		return c;
	return memcmp(a->key_end, b->key_end, a->klen);
}

bool relem_equal(const struct relem *a, const struct relem *b)
{
	return !relem_cmp(a, b) && a->dlen == b->dlen && !memcmp(a->data, b->data, a->dlen) &&
	       a->verdict == b->verdict && !strcmp(a->chain, b->chain);
}

static int relem_qcmp(const void *a, const void *b)
{
	return relem_cmp(a, b);
}

void relem_vec_sort(struct relem_vec *vec)
{
	size_t i;
	/* One Service has a dozen elements, mostly in order already: an
	 * insertion sort moves few of these big structs, where qsort sorts a
	 * pointer table and permutes them all (a tenth of a cold sync). */
	if (vec->n <= 32) {
		for (i = 1; i < vec->n; i++) {
			if (relem_cmp(&vec->v[i - 1], &vec->v[i]) <= 0)
				continue;
			struct relem t = vec->v[i];
			size_t j = i;
			for (; j > 0 && relem_cmp(&vec->v[j - 1], &t) > 0; j--)
				vec->v[j] = vec->v[j - 1];
			vec->v[j] = t;
		}
	} else {
		vec_sort(vec->v, vec->n, sizeof(*vec->v), relem_qcmp);
	}
	/* A Service listing an address twice renders it twice: keep one. */
	size_t o = 0;
	for (i = 0; i < vec->n; i++)
		if (!o || relem_cmp(&vec->v[o - 1], &vec->v[i]))
			vec->v[o++] = vec->v[i];
	vec->n = o;
}

void relem_vec_free(struct relem_vec *vec)
{
	free(vec->v);
	memset(vec, 0, sizeof(*vec));
}
