// SPDX-License-Identifier: GPL-2.0-or-later
/* The desired RIB per peer, its difference and its UPDATEs (bgp_rib.h). */
#include "lbip/bgp_rib.h"

#include "core/vec.h"
#include "lbip/range.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- prefixes and routes ---- */

int bgp_prefix_cmp(const struct bgp_prefix *a, const struct bgp_prefix *b)
{
	int c;

	if (a->addr.family != b->addr.family)
		return a->addr.family < b->addr.family ? -1 : 1;
	if ((c = memcmp(a->addr.b, b->addr.b, 16)))
		return c;
	return (int)a->len - (int)b->len;
}

void bgp_prefix_format(const struct bgp_prefix *p, char *buf, size_t len)
{
	char a[64];

	lb_addr_format(&p->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, p->len);
}

static int comm_cmp(const void *x, const void *y)
{
	const struct lb_community *a = x, *b = y;

	if (a->large != b->large)
		return a->large ? 1 : -1;
	for (int i = 0; i < 3; i++)
		if (a->v[i] != b->v[i])
			return a->v[i] < b->v[i] ? -1 : 1;
	return 0;
}

bool bgp_route_attrs_equal(const struct bgp_route *a, const struct bgp_route *b)
{
	if (a->local_pref != b->local_pref || a->n_comms != b->n_comms)
		return false;
	for (size_t i = 0; i < a->n_comms; i++)
		if (comm_cmp(&a->comms[i], &b->comms[i]))
			return false;
	return true;
}

void bgp_rib_free(struct bgp_rib *rib)
{
	for (size_t i = 0; i < rib->n; i++)
		free(rib->r[i].comms);
	free(rib->r);
	memset(rib, 0, sizeof(*rib));
}

int bgp_rib_copy(struct bgp_rib *dst, const struct bgp_rib *src)
{
	struct bgp_rib t = { 0 };

	if (src->n && !(t.r = calloc(src->n, sizeof(*t.r))))
		return -ENOMEM;
	t.cap = src->n;
	for (; t.n < src->n; t.n++) {
		const struct bgp_route *s = &src->r[t.n];

		t.r[t.n] = *s;
		t.r[t.n].comms = NULL;
		if (s->n_comms && !(t.r[t.n].comms = malloc(s->n_comms * sizeof(*s->comms)))) {
			bgp_rib_free(&t);
			return -ENOMEM;
		}
		if (s->n_comms)
			memcpy(t.r[t.n].comms, s->comms, s->n_comms * sizeof(*s->comms));
	}
	bgp_rib_free(dst);
	*dst = t;
	return 0;
}

static int route_cmp(const void *x, const void *y)
{
	return bgp_prefix_cmp(&((const struct bgp_route *)x)->pfx, &((const struct bgp_route *)y)->pfx);
}

const struct bgp_route *bgp_rib_find(const struct bgp_rib *rib, const struct bgp_prefix *pfx)
{
	struct bgp_route key = { .pfx = *pfx };

	return rib->n ? bsearch(&key, rib->r, rib->n, sizeof(*rib->r), route_cmp) : NULL;
}

/* ---- the rule ---- */

static bool has_label(const struct bgp_node *n, const char *key)
{
	for (size_t i = 0; i < n->n_labels; i++)
		if (n->labels[i].key && !strcmp(n->labels[i].key, key))
			return true;
	return false;
}

static bool any_selector(const struct lb_selector *s, size_t n, const struct lb_label *l, size_t nl)
{
	if (!n)
		return true;
	for (size_t i = 0; i < n; i++)
		if (lb_selector_matches(&s[i], l, nl))
			return true;
	return false;
}

bool bgp_peer_selects_node(const struct lb_peer *p, const struct bgp_node *self)
{
	return any_selector(p->node_selectors, p->n_node_selectors, self->labels, self->n_labels);
}

static bool adv_selects_pool(const struct lb_bgp_adv *a, const struct lb_pool *p)
{
	return lb_adv_selects_pool(a->pools, a->n_pools, a->pool_selectors, a->n_pool_selectors, p);
}

static bool adv_selects_peer(const struct lb_bgp_adv *a, const struct lb_peer *p)
{
	if (!a->n_peers)
		return true;
	for (size_t i = 0; i < a->n_peers; i++)
		if (p->name && !strcmp(a->peers[i], p->name))
			return true;
	return false;
}

static struct bgp_prefix masked(const struct lb_addr *ip, int len)
{
	struct bgp_prefix p = { *ip, (uint8_t)len };
	int bits = ip->family == 4 ? 32 : 128;

	for (int i = len; i < bits; i++)
		p.addr.b[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	return p;
}

/* Add one route (unsorted; merged later). */
static int add_route(struct bgp_rib *rib, const struct bgp_prefix *pfx, uint32_t lp,
		     const struct lb_community *c, size_t n)
{
	struct bgp_route r = { .pfx = *pfx, .local_pref = lp, .n_comms = n };

	if (n && !(r.comms = malloc(n * sizeof(*c))))
		return -ENOMEM;
	if (n)
		memcpy(r.comms, c, n * sizeof(*c));
	if (vec_grow((void **)&rib->r, &rib->cap, rib->n + 1, sizeof(*rib->r))) {
		free(r.comms);
		return -ENOMEM;
	}
	rib->r[rib->n++] = r;
	return 0;
}

/* Sort by prefix, merge equal prefixes (union of communities, highest
 * LOCAL_PREF), sort and deduplicate each route's communities. */
static int normalize(struct bgp_rib *rib)
{
	size_t w = 0;

	vec_sort(rib->r, rib->n, sizeof(*rib->r), route_cmp);
	for (size_t i = 0; i < rib->n; i++) {
		struct bgp_route *d;

		if (w && !bgp_prefix_cmp(&rib->r[w - 1].pfx, &rib->r[i].pfx)) {
			struct bgp_route *s = &rib->r[i];
			struct lb_community *c;

			d = &rib->r[w - 1];
			if (s->local_pref > d->local_pref)
				d->local_pref = s->local_pref;
			if (s->n_comms) {
				if (!(c = realloc(d->comms, (d->n_comms + s->n_comms) * sizeof(*c))))
					return -ENOMEM;
				memcpy(c + d->n_comms, s->comms, s->n_comms * sizeof(*c));
				d->comms = c;
				d->n_comms += s->n_comms;
			}
			free(s->comms);
			s->comms = NULL;
			continue;
		}
		rib->r[w++] = rib->r[i];
	}
	rib->n = w;
	for (size_t i = 0; i < rib->n; i++) {
		struct bgp_route *r = &rib->r[i];
		size_t k = 0;

		vec_sort(r->comms, r->n_comms, sizeof(*r->comms), comm_cmp);
		for (size_t j = 0; j < r->n_comms; j++)
			if (!k || comm_cmp(&r->comms[k - 1], &r->comms[j]))
				r->comms[k++] = r->comms[j];
		r->n_comms = k;
	}
	return 0;
}

int bgp_rib_compute(const struct lb_config *cfg, size_t peer, const struct bgp_node *self,
		    const struct bgp_svc *svcs, size_t n_svcs, struct bgp_rib *out)
{
	const struct lb_peer *p;
	bool ibgp;
	int rc = 0;

	bgp_rib_free(out);
	if (!cfg || peer >= cfg->n_peers)
		return 0;
	p = &cfg->peers[peer];
	ibgp = p->peer_asn == p->my_asn;
	if (self->network_unavailable || has_label(self, BGP_EXCLUDE_LABEL) ||
	    !bgp_peer_selects_node(p, self))
		return 0;
	for (size_t i = 0; i < n_svcs && !rc; i++) {
		const struct bgp_svc *s = &svcs[i];

		if (!(s->local ? s->local_serving : s->serving))
			continue;
		for (size_t k = 0; k < s->n_ips && !rc; k++) {
			const struct lb_addr *ip = &s->ips[k];
			const struct lb_pool *pool = lb_pool_of(cfg, ip);

			/* a legacy layer2 pool is never announced over BGP */
			if (!pool || pool->protocol == LB_PROTO_LAYER2)
				continue;
			for (size_t a = 0; a < cfg->n_bgp_advs && !rc; a++) {
				const struct lb_bgp_adv *ad = &cfg->bgp_advs[a];
				int len = ip->family == 4 ? ad->aggregation_length : ad->aggregation_length_v6;
				int bits = ip->family == 4 ? 32 : 128;
				struct bgp_prefix pfx;

				if (!adv_selects_pool(ad, pool) || !adv_selects_peer(ad, p) ||
				    !any_selector(ad->node_selectors, ad->n_node_selectors, self->labels,
						  self->n_labels))
					continue;
				if (len < 0 || len > bits)
					len = bits;
				pfx = masked(ip, len);
				rc = add_route(out, &pfx, ibgp ? ad->localpref : 0, ad->communities,
					       ad->n_communities);
			}
		}
	}
	if (!rc)
		rc = normalize(out);
	if (rc)
		bgp_rib_free(out);
	return rc;
}

/* ---- the difference ---- */

int bgp_rib_diff(const struct bgp_rib *old, const struct bgp_rib *nw, struct bgp_rib_diff *d)
{
	size_t i = 0, j = 0;

	memset(d, 0, sizeof(*d));
	if ((old->n && !(d->withdraw = calloc(old->n, sizeof(*d->withdraw)))) ||
	    (nw->n && !(d->announce = calloc(nw->n, sizeof(*d->announce))))) {
		bgp_rib_diff_free(d);
		return -ENOMEM;
	}
	/* both sorted: one merge walk */
	while (i < old->n || j < nw->n) {
		int c = i == old->n ? 1 : j == nw->n ? -1 : bgp_prefix_cmp(&old->r[i].pfx, &nw->r[j].pfx);

		if (c < 0) {
			d->withdraw[d->n_withdraw++] = old->r[i++].pfx;
		} else if (c > 0) {
			d->announce[d->n_announce++] = &nw->r[j++];
		} else {
			if (!bgp_route_attrs_equal(&old->r[i], &nw->r[j]))
				d->announce[d->n_announce++] = &nw->r[j];
			i++;
			j++;
		}
	}
	return 0;
}

void bgp_rib_diff_free(struct bgp_rib_diff *d)
{
	free(d->withdraw);
	free(d->announce);
	memset(d, 0, sizeof(*d));
}

/* ---- UPDATE messages ---- */

void bgp_wire_list_free(struct bgp_wire_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->m[i].b);
	free(l->m);
	memset(l, 0, sizeof(*l));
}

static int push_msg(struct bgp_wire_list *out, const struct bgp_msg *m, const struct bgp_ctx *ctx)
{
	uint8_t buf[BGP_MAX_LEN];
	int len = bgp_msg_encode(m, ctx, buf, sizeof(buf));
	uint8_t *b;

	if (len < 0)
		return len;
	if (!(b = malloc((size_t)len)))
		return -ENOMEM;
	memcpy(b, buf, (size_t)len);
	if (vec_grow((void **)&out->m, &out->cap, out->n + 1, sizeof(*out->m))) {
		free(b);
		return -ENOMEM;
	}
	out->m[out->n++] = (struct bgp_wire){ b, (size_t)len };
	return 0;
}

static bool family_sent(const struct bgp_out_params *o, int fam)
{
	return fam == 4 ? o->ipv4 && o->nh4.family == 4 : o->ipv6 && o->nh6.family == 6;
}

/*
 * Encode `n` prefixes of one family with the attributes of `tmpl` (NULL:
 * withdrawals) into as few messages as fit: try all, halve on -EMSGSIZE.
 */
static int emit(struct bgp_wire_list *out, const struct bgp_out_params *o, int fam,
		struct bgp_prefix *p, size_t n, const struct bgp_route *tmpl)
{
	size_t done = 0, k = n;
	uint32_t as = o->local_as;
	struct bgp_as_seg seg = { BGP_AS_SEQUENCE, 1, &as };

	while (done < n) {
		struct bgp_msg m = { .type = BGP_UPDATE };
		struct bgp_update *u = &m.update;
		int rc;

		if (k > n - done)
			k = n - done;
		if (!tmpl) {
			if (fam == 4) {
				u->withdrawn = p + done;
				u->n_withdrawn = k;
			} else {
				u->attrs |= 1ull << BGP_ATTR_MP_UNREACH;
				u->mp_unreach_afi = BGP_AFI_IPV6;
				u->mp_unreach = p + done;
				u->n_mp_unreach = k;
			}
		} else {
			u->attrs |= 1ull << BGP_ATTR_ORIGIN | 1ull << BGP_ATTR_AS_PATH;
			u->origin = BGP_ORIGIN_IGP;
			/* eBGP: our AS; iBGP: an empty path (RFC 4271 5.1.2) */
			if (!o->ctx.ibgp) {
				u->as_path.segs = &seg;
				u->as_path.n_segs = 1;
			}
			if (o->ctx.ibgp) {
				u->attrs |= 1ull << BGP_ATTR_LOCAL_PREF;
				u->local_pref = tmpl->local_pref ? tmpl->local_pref : 100;
			}
			if (fam == 4) {
				u->attrs |= 1ull << BGP_ATTR_NEXT_HOP;
				u->next_hop = o->nh4;
				u->nlri = p + done;
				u->n_nlri = k;
			} else {
				u->attrs |= 1ull << BGP_ATTR_MP_REACH;
				u->mp_reach_afi = BGP_AFI_IPV6;
				u->mp_nh = o->nh6;
				if (o->nh6_ll.family == 6)
					u->mp_nh_ll = o->nh6_ll;
				u->mp_reach = p + done;
				u->n_mp_reach = k;
			}
			if (bgp_update_add_communities(u, tmpl->comms, tmpl->n_comms) < 0)
				return -ENOMEM;
		}
		rc = push_msg(out, &m, &o->ctx);
		free(u->communities);
		free(u->large);
		if (rc == -EMSGSIZE && k > 1) {
			k /= 2;
			continue;
		}
		if (rc)
			return rc;
		done += k;
	}
	return 0;
}

int bgp_rib_updates(const struct bgp_rib_diff *d, const struct bgp_out_params *o,
		    struct bgp_wire_list *out)
{
	size_t cap = d->n_withdraw > d->n_announce ? d->n_withdraw : d->n_announce;
	struct bgp_prefix *tmp = calloc(cap ? cap : 1, sizeof(*tmp));
	bool *done = calloc(d->n_announce ? d->n_announce : 1, sizeof(*done));
	int rc = 0;

	if (!tmp || !done) {
		free(tmp);
		free(done);
		return -ENOMEM;
	}
	for (int fam = 4; fam <= 6 && !rc; fam += 2) {
		size_t n = 0;

		if (!family_sent(o, fam))
			continue;
		for (size_t i = 0; i < d->n_withdraw; i++)
			if (d->withdraw[i].addr.family == fam)
				tmp[n++] = d->withdraw[i];
		if (n && !(rc = emit(out, o, fam, tmp, n, NULL)))
			out->n_withdrawn += n;
	}
	/* announcements: one group per (family, attributes), in prefix order
	 * of the group's first route */
	for (size_t i = 0; i < d->n_announce && !rc; i++) {
		const struct bgp_route *first = d->announce[i];
		int fam = first->pfx.addr.family;
		size_t n = 0;

		if (done[i] || !family_sent(o, fam))
			continue;
		for (size_t j = i; j < d->n_announce; j++) {
			const struct bgp_route *r = d->announce[j];

			if (!done[j] && r->pfx.addr.family == fam && bgp_route_attrs_equal(first, r)) {
				done[j] = true;
				tmp[n++] = r->pfx;
			}
		}
		if (!(rc = emit(out, o, fam, tmp, n, first)))
			out->n_prefixes += n;
	}
	free(tmp);
	free(done);
	return rc;
}

int bgp_rib_eor(const struct bgp_out_params *o, struct bgp_wire_list *out)
{
	int rc = 0;

	for (int fam = 4; fam <= 6 && !rc; fam += 2) {
		struct bgp_msg m = { .type = BGP_UPDATE };

		if (!(fam == 4 ? o->ipv4 : o->ipv6))
			continue;
		bgp_update_make_eor(&m.update, fam == 4 ? BGP_AFI_IPV4 : BGP_AFI_IPV6);
		rc = push_msg(out, &m, &o->ctx);
	}
	return rc;
}
