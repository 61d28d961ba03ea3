/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fixed part of the ferry tables, built on every full rebuild: the
 * table itself, its sets and maps, the hook, kind and pick chains, the
 * node's address sets. Per-Service elements are elems.c's.
 *
 * Shape (one `ip ferry` and one `ip6 ferry` table, same names in both; the
 * IPv6 one says ip6 where this says ip). Per-packet cost is a fixed number of
 * hash lookups whatever the number of Services; per-Service state is only
 * map elements; every rule below exists once.
 *
 *   chain nat-prerouting { type nat hook prerouting priority -100; jump services }
 *   chain nat-output     { type nat hook output priority -100; jump services }
 *   chain services {
 *     ip daddr . meta l4proto . th dport vmap @service-ips
 *     fib daddr type local ip daddr != 127.0.0.0/8 [ip daddr @nodeport-addrs]
 *         meta l4proto . th dport vmap @service-nodeports
 *   }
 *   service-ips/-nodeports lead to one of five "kind" chains, which decide
 *   masquerading (ct mark bit 0x4000) and which endpoint list applies:
 *     svc-cluster-ip          masquerade if not from a pod (or masquerade-all)
 *     svc-external-ip         Cluster policy: always masquerade, all endpoints
 *     svc-external-ip-local   Local policy: pods and the node itself reach all
 *                             endpoints, outside clients only local ones, with
 *                             their source address kept
 *     svc-nodeport, svc-nodeport-local   the same for NodePorts
 *   The kind chain looks the entry up again in pick-* maps, giving a "pick"
 *   chain shared by every Service with the same endpoint count K:
 *     chain pick-ip-K { meta mark set numgen random mod K
 *                       dnat to ip daddr . meta l4proto . th dport . meta mark map @dnat-ips }
 *   (pick-ip-local-K counts from 0x10000 in the same map; -affT variants
 *   first look the client up in @affinity, which remembers endpoint ids
 *   per Service port (render.h), and record their choice there; pick_rules.)
 *   chain nat-postrouting: hairpin sets ct mark 0x4000 too; the bit ->
 *   cleared, masquerade. (0x4000: 1 << masqueradeBit, kube-proxy's 14 by
 *   default; only that bit of the ct mark is ever set, tested or cleared.)
 *   chain mark-restore-prerouting/-output (priority -90, after NAT): the
 *   packet mark saved in @mark-save before the services chain used it.
 *   chain filter-forward, filter-output-post: what is still addressed to
 *   the Service CIDRs after that is for no Service -> drop.
 *   chain filter-prerouting: loadBalancerSourceRanges (@firewall-*).
 *   chain filter-input/forward/output: Services with no endpoint -> reject.
 *   chain filter-forward: ct state invalid drop (kube-proxy's iptables mode).
 *   chain filter-forward, filter-output-post (after NAT): what is still
 *   addressed to a ClusterIP is for a port it lacks -> reject (kube-proxy's
 *   cluster-ips-check).
 *
 * The packet mark is scratch for the endpoint index on the first packet of a
 * new Service connection (the NAT chains see no other packet); its own value
 * is saved per connection first and put back after NAT (x_mark_save), so
 * the mark a CNI or a policy engine set leaves the node unchanged. The
 * decision to masquerade rides in one ct mark bit, cleared when used.
 */
#include "nft/internal.h"
#include "core/log.h"
#include "core/vec.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* nftables datatype ids (nftables src/datatype.h), for `nft list`. */
enum { DT_VERDICT = 1, DT_INTEGER = 4, DT_IPADDR = 7, DT_IP6ADDR = 8, DT_INET_PROTO = 12,
       DT_INET_SERVICE = 13, DT_MARK = 19, DT_BITS = 6 };

/* What each shared chain is for, as its comment: `nft list` prints it
 * inside the chain, so a reader of the ruleset needs no map of ours. */
static const struct { const char *name, *role; } chain_roles[] = {
	{ "nat-prerouting", "entry: packets arriving for a Service -> services" },
	{ "nat-output", "entry: this node's own packets to a Service -> services" },
	{ "services", "dispatch: address . proto . port (@service-ips) or NodePort (@service-nodeports) -> @kinds; mark saved in @mark-save" },
	{ "mark-restore-prerouting", "after DNAT: the packet mark a Service connection came with, back from @mark-save" },
	{ "mark-restore-output", "after DNAT: this node's packet mark back from @mark-save (routed again)" },
	{ "svc-cluster-ip", "kind ClusterIP: masquerade unless from a pod; endpoint list from @pick-ips-internal" },
	{ "svc-external-ip", "kind external/LB IP, policy Cluster: masquerade; all endpoints (@pick-ips-internal)" },
	{ "svc-external-ip-local", "kind external/LB IP, policy Local: outside clients keep their source, this node's endpoints (@pick-ips-external)" },
	{ "svc-nodeport", "kind NodePort, policy Cluster: masquerade; all endpoints (@pick-nodeports-internal)" },
	{ "svc-nodeport-local", "kind NodePort, policy Local: outside clients keep their source, this node's endpoints (@pick-nodeports-external)" },
	{ "nat-postrouting", "masquerade what a kind chain marked (ct mark bit masqueradeBit) and hairpin traffic (@hairpin)" },
	{ "filter-prerouting", "loadBalancerSourceRanges: new connections to @firewall-ips from outside @firewall-allow are dropped" },
	{ "reject-service", "refuse: TCP reset, else ICMP port unreachable" },
	{ "filter-input", "Services without endpoints (@no-endpoint-ips, @no-endpoint-nodeports) -> reject-service" },
	{ "filter-forward", "drop ct invalid; no endpoints, unknown ClusterIP ports -> reject-service; drop unallocated @service-cidrs" },
	{ "filter-output", "this node's connections to Services without endpoints -> reject-service" },
	{ "filter-output-post", "after DNAT, this node's: a ClusterIP port the Service lacks -> reject-service; drop unallocated @service-cidrs" },
};

static const char *chain_role(const char *name, char *buf, size_t len)
{
	struct rpick p;

	for (size_t i = 0; i < sizeof(chain_roles) / sizeof(chain_roles[0]); i++)
		if (!strcmp(chain_roles[i].name, name))
			return chain_roles[i].role;
	if (!rpick_parse(name, &p))
		return NULL;
	char aff[32] = "";
	if (p.affinity)
		snprintf(aff, sizeof(aff), ", affinity %us", p.affinity);
	snprintf(buf, len, "pick: 1 of %u %sendpoints (numgen%s) -> @%s%s", p.k,
		 p.local ? "node-local " : "", p.local ? ", index from 0x10000" : "",
		 p.nodeport ? "dnat-nodeports" : "dnat-ips", aff);
	return buf;
}

/* add chain ip ferry NAME [{ type TYPE hook HOOK priority PRIO; policy accept; }]
 *   (with comment "ROLE": NFTNL_UDATA_CHAIN_COMMENT in the chain's userdata) */
static int chain_emit(struct nbatch *bt, int fam, const char *name, const char *hook_type,
		      int hook, int prio)
{
	char rolebuf[NFTNL_UDATA_COMMENT_MAXLEN];
	const char *role = chain_role(name, rolebuf, sizeof(rolebuf));
	struct nftnl_chain *c = nftnl_chain_alloc();
	int r = -ENOMEM;

	if (!c || nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, TABLE) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0)
		goto out;
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)nfproto_of(fam));
	if (hook_type) {
		if (nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, hook_type) < 0)
			goto out;
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	if (role) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 4);
		int bad = !ud || !nftnl_udata_put_strz(ud, NFTNL_UDATA_CHAIN_COMMENT, role) ||
			  nftnl_chain_set_data(c, NFTNL_CHAIN_USERDATA, nftnl_udata_buf_data(ud),
					       nftnl_udata_buf_len(ud)) < 0;
		if (ud)
			nftnl_udata_buf_free(ud);
		if (bad)
			goto out;
	}
	r = nbatch_put(bt, NFT_MSG_NEWCHAIN, nfproto_of(fam), NLM_F_CREATE | NLM_F_EXCL, name, true,
		       NOBJ_CHAIN, c);
out:
	if (c)
		nftnl_chain_free(c);
	return r;
}

/* `ip daddr . meta l4proto . th dport . meta mark` (or the NodePort key)
 * looked up in the DNAT map, then dnat. */
static void x_dnat_lookup(struct xrule *r, int fam, const struct rpick *p)
{
	uint32_t at = p->nodeport ? x_key_np(r, 0) : x_key_ip(r, fam, daddr_off(fam), 0);
	x_meta(r, NFT_META_MARK, R(at));
	x_lookup(r, p->nodeport ? "dnat-nodeports" : "dnat-ips", R(0), 0);
	x_dnat(r, fam);
}

/* `ip saddr . meta mark & 0xffff8000`: the affinity key, the client and
 * the Service port (the base of the id in the mark); words. */
static uint32_t x_key_affinity(struct xrule *r, int fam)
{
	uint32_t w = (uint32_t)rfam_alen(fam) / 4;
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(fam), (uint32_t)rfam_alen(fam), R(0));
	x_meta(r, NFT_META_MARK, R(w));
	x_bitwise_reg(r, R(w), RAFF_PORT_MASK, 0);
	return w + 1;
}

/* ENTRY . meta mark looked up in @affinity-ids, into the mark */
static void x_affinity_id(struct xrule *r, int fam, const struct rpick *p)
{
	uint32_t at = p->nodeport ? x_key_np(r, 0) : x_key_ip(r, fam, daddr_off(fam), 0);
	x_meta(r, NFT_META_MARK, R(at));
	x_lookup(r, p->nodeport ? "affinity-nodeport-ids" : "affinity-ids", R(0), 0);
	x_meta_set(r, NFT_META_MARK, R(0));
}

/* update @affinity { ip saddr . meta mark & 0xffff8000 timeout Ts : meta mark } */
static void x_affinity_update(struct xrule *r, int fam, uint64_t to)
{
	uint32_t w = x_key_affinity(r, fam);
	x_meta(r, NFT_META_MARK, R(w));
	x_dynset_update(r, "affinity", R(0), R(w), to);
}

/* The rules of a pick chain (see the top of the file). An affinity chain
 * remembers endpoint ids (render.h), not indexes: the index of a remembered
 * endpoint moves when the list changes, its id does not; and one client is
 * one element per Service port, whichever of its addresses or NodePort it
 * came by. */
static int pick_rules(struct nbatch *bt, int fam, const char *name, const struct rpick *p, uint32_t *n)
{
	uint64_t to = (uint64_t)p->affinity * 1000;
	struct xrule *r;
	int ret;

	if (p->affinity) {
		/* meta mark set 0x7fffffff
		 *   meta mark set ip daddr . meta l4proto . th dport . meta mark map @affinity-ids
		 *   meta mark set ip saddr . meta mark map @affinity
		 *   [meta mark set meta mark | 0x00000001]
		 *   update @affinity { ip saddr . meta mark & 0xffff8000 timeout Ts : meta mark }
		 *   dnat to ip daddr . meta l4proto . th dport . meta mark map @dnat-ips
		 * The Service port's base, then the endpoint remembered for
		 * this client: if still listed, used, and every new connection
		 * refreshes its timeout, as kube-proxy's `update` does. One no
		 * longer listed misses the DNAT map and falls through. A local
		 * chain checks the id's local flavour: a remembered remote
		 * endpoint is no match. */
		r = rule_new(fam, name);
		x_imm(r, RAFF_BASE_IDX, R(0));
		x_meta_set(r, NFT_META_MARK, R(0));
		x_affinity_id(r, fam, p);
		uint32_t w = (uint32_t)rfam_alen(fam) / 4;
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(fam), (uint32_t)rfam_alen(fam), R(0));
		x_meta(r, NFT_META_MARK, R(w));
		x_lookup(r, "affinity", R(0), 0);
		x_meta_set(r, NFT_META_MARK, R(0));
		if (p->local) {
			/* as its own statement: nft lists no bitwise on a map's result */
			x_meta(r, NFT_META_MARK, R(0));
			x_bitwise(r, 0xfffffffeu, 1);
			x_meta_set(r, NFT_META_MARK, R(0));
		}
		x_affinity_update(r, fam, to);
		x_dnat_lookup(r, fam, p);
		if ((ret = rule_emit(bt, fam, r, n)))
			return ret;
		/* delete @affinity { ip saddr . meta mark & 0xffff8000 : meta mark }
		 * A stale choice is forgotten (the mark holds its id, or the
		 * base when there was none: no element, nothing done): `update`
		 * below keeps the data of an element that exists, and would
		 * never record the new one. */
		r = rule_new(fam, name);
		w = x_key_affinity(r, fam);
		x_meta(r, NFT_META_MARK, R(w));
		x_dynset_delete(r, "affinity", R(0), R(w));
		if ((ret = rule_emit(bt, fam, r, n)))
			return ret;
	}
	/* meta mark set numgen random mod K [offset 0x10000] */
	r = rule_new(fam, name);
	x_numgen(r, p->k, p->local ? RLOCAL_BASE : 0);
	x_meta_set(r, NFT_META_MARK, R(0));
	if ((ret = rule_emit(bt, fam, r, n)))
		return ret;
	if (p->affinity) {
		/* meta mark set ip daddr . meta l4proto . th dport . meta mark map @affinity-ids
		 *   update @affinity { ip saddr . meta mark & 0xffff8000 timeout Ts : meta mark } */
		r = rule_new(fam, name);
		x_affinity_id(r, fam, p);
		x_affinity_update(r, fam, to);
		if ((ret = rule_emit(bt, fam, r, n)))
			return ret;
	}
	/* dnat to ip daddr . meta l4proto . th dport . meta mark map @dnat-ips */
	r = rule_new(fam, name);
	x_dnat_lookup(r, fam, p);
	return rule_emit(bt, fam, r, n);
}

struct set_spec {
	int set;
	uint32_t flags;
	int key[5], nkey;	/* datatypes; 0 = the family's address */
	int data[2], ndata;	/* none: a set; DT_VERDICT: verdict map */
};

static const struct set_spec set_specs[RS_COUNT] = {
	{ RS_POD_CIDRS, NFT_SET_INTERVAL, { 0 }, 1, { 0 }, 0 },
	{ RS_NODEPORT_ADDRS, NFT_SET_INTERVAL, { 0 }, 1, { 0 }, 0 },
	{ RS_SERVICE_IPS, NFT_SET_MAP, { 0, DT_INET_PROTO, DT_INET_SERVICE }, 3, { DT_MARK }, 1 },
	{ RS_SERVICE_NODEPORTS, NFT_SET_MAP, { DT_INET_PROTO, DT_INET_SERVICE }, 2, { DT_MARK }, 1 },
	{ RS_PICK_IPS_INTERNAL, NFT_SET_MAP, { 0, DT_INET_PROTO, DT_INET_SERVICE }, 3, { DT_MARK }, 1 },
	{ RS_PICK_IPS_EXTERNAL, NFT_SET_MAP, { 0, DT_INET_PROTO, DT_INET_SERVICE }, 3, { DT_MARK }, 1 },
	{ RS_PICK_NP_INTERNAL, NFT_SET_MAP, { DT_INET_PROTO, DT_INET_SERVICE }, 2, { DT_MARK }, 1 },
	{ RS_PICK_NP_EXTERNAL, NFT_SET_MAP, { DT_INET_PROTO, DT_INET_SERVICE }, 2, { DT_MARK }, 1 },
	{ RS_DNAT_IPS, NFT_SET_MAP, { 0, DT_INET_PROTO, DT_INET_SERVICE, DT_MARK }, 4, { 0, DT_INET_SERVICE }, 2 },
	{ RS_DNAT_NODEPORTS, NFT_SET_MAP, { DT_INET_PROTO, DT_INET_SERVICE, DT_MARK }, 3, { 0, DT_INET_SERVICE }, 2 },
	{ RS_AFFINITY, NFT_SET_MAP | NFT_SET_TIMEOUT | NFT_SET_EVAL, { 0, DT_MARK }, 2, { DT_MARK }, 1 },
	{ RS_AFFINITY_IDS, NFT_SET_MAP, { 0, DT_INET_PROTO, DT_INET_SERVICE, DT_MARK }, 4, { DT_MARK }, 1 },
	{ RS_AFFINITY_NP_IDS, NFT_SET_MAP, { DT_INET_PROTO, DT_INET_SERVICE, DT_MARK }, 3, { DT_MARK }, 1 },
	{ RS_HAIRPIN, 0, { 0, 0 }, 2, { 0 }, 0 },
	{ RS_FIREWALL_IPS, 0, { 0, DT_INET_PROTO, DT_INET_SERVICE }, 3, { 0 }, 0 },
	{ RS_FIREWALL_ALLOW, NFT_SET_INTERVAL | NFT_SET_CONCAT,
	  { 0, DT_INET_PROTO, DT_INET_SERVICE, 0 }, 4, { 0 }, 0 },
	{ RS_NOEP_IPS, 0, { 0, DT_INET_PROTO, DT_INET_SERVICE }, 3, { 0 }, 0 },
	{ RS_NOEP_NODEPORTS, 0, { DT_INET_PROTO, DT_INET_SERVICE }, 2, { 0 }, 0 },
	{ RS_CLUSTER_IPS, 0, { 0 }, 1, { 0 }, 0 },
	{ RS_SERVICE_CIDRS, NFT_SET_INTERVAL, { 0 }, 1, { 0 }, 0 },
	{ RS_MARK_SAVE, NFT_SET_MAP | NFT_SET_TIMEOUT | NFT_SET_EVAL, { DT_INTEGER }, 1, { DT_MARK }, 1 },
	{ RS_KINDS, NFT_SET_MAP, { DT_MARK }, 1, { DT_VERDICT }, 1 },
	{ RS_PICK_CHAINS, NFT_SET_MAP, { DT_MARK }, 1, { DT_VERDICT }, 1 },
};

static int dt_len(int dt, int fam)
{
	switch (dt) {
	case 0: return rfam_alen(fam);
	case DT_INET_PROTO: return 1;
	case DT_INET_SERVICE: return 2;
	default: return 4;
	}
}

static void dt_concat(const int *dts, int n, int fam, uint32_t *type, uint32_t *len, uint8_t *fields)
{
	*type = 0;
	*len = 0;
	for (int i = 0; i < n; i++) {
		int dt = dts[i] ? dts[i] : (fam ? DT_IP6ADDR : DT_IPADDR);
		*type = (*type << DT_BITS) | (uint32_t)dt;
		*len += (uint32_t)(dt_len(dts[i], fam) + 3) / 4 * 4;
		if (fields)
			fields[i] = (uint8_t)dt_len(dts[i], fam);
	}
	if (n == 1)	/* a lone field is not padded */
		*len = (uint32_t)dt_len(dts[0], fam);
}

/*
 * add map ip ferry dnat-ips { type ipv4_addr . inet_proto . inet_service . mark :
 *                             ipv4_addr . inet_service; }
 * Key and data types are nftables datatype ids packed 6 bits each (what
 * `nft list` prints from); key length counts each field padded to 32 bits.
 */
static int set_emit(struct nbatch *bt, int fam, const struct set_spec *sp)
{
	struct nftnl_set *st = nftnl_set_alloc();
	uint32_t type, len;
	uint8_t fields[NFT_REG32_COUNT] = { 0 };
	int bad = 0;

	if (!st || nftnl_set_set_str(st, NFTNL_SET_TABLE, TABLE) < 0 ||
	    nftnl_set_set_str(st, NFTNL_SET_NAME, rset_name(sp->set)) < 0)
		bad = -ENOMEM;
	if (bad)
		goto out;
	nftnl_set_set_u32(st, NFTNL_SET_FAMILY, (uint32_t)nfproto_of(fam));
	nftnl_set_set_u32(st, NFTNL_SET_ID, (uint32_t)sp->set + 1);
	dt_concat(sp->key, sp->nkey, fam, &type, &len, fields);
	nftnl_set_set_u32(st, NFTNL_SET_KEY_TYPE, type);
	nftnl_set_set_u32(st, NFTNL_SET_KEY_LEN, len);
	if (sp->flags & NFT_SET_CONCAT)
		err_keep(&bad, nftnl_set_set_data(st, NFTNL_SET_DESC_CONCAT, fields, (uint32_t)sp->nkey));
	nftnl_set_set_u32(st, NFTNL_SET_FLAGS, sp->flags);
	if (sp->ndata == 1 && sp->data[0] == DT_VERDICT) {
		nftnl_set_set_u32(st, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	} else if (sp->ndata) {
		dt_concat(sp->data, sp->ndata, fam, &type, &len, NULL);
		nftnl_set_set_u32(st, NFTNL_SET_DATA_TYPE, type);
		nftnl_set_set_u32(st, NFTNL_SET_DATA_LEN, len);
	}
	if (sp->flags & NFT_SET_EVAL)
		/* size 262144: remembered clients of every affinity Service
		 * (one element each per Service port, ~100 bytes of kernel
		 * memory once used); past it a pick is not remembered */
		nftnl_set_set_u32(st, NFTNL_SET_DESC_SIZE, sp->set == RS_MARK_SAVE ? 65535 : 262144);
	/* A lone mark key or mark data is host order: tell `nft list`. */
	bool mkey = sp->nkey == 1 && sp->key[0] == DT_MARK;
	bool mdata = sp->ndata == 1 && sp->data[0] == DT_MARK;
	if (sp->set == RS_MARK_SAVE) {
		/* `typeof ct id : meta mark`, in the bytes nft 1.0.6 writes for it
		 * (a ct id key has no datatype of its own for `nft list`) */
		static const uint8_t typeof_ctid_mark[] = {
			0x00, 0x04, 0x02, 0x00, 0x00, 0x00,	/* key byte order */
			0x01, 0x04, 0x01, 0x00, 0x00, 0x00,	/* data byte order */
			0x03, 0x14, 0x00, 0x04, 0x0c, 0x00, 0x00, 0x00,	/* key: ct */
			0x01, 0x0c, 0x00, 0x04, 0x17, 0x00, 0x00, 0x00,	/*   id */
			0x01, 0x04, 0xff, 0xff, 0xff, 0xff,	/*   no direction */
			0x04, 0x0e, 0x00, 0x04, 0x09, 0x00, 0x00, 0x00,	/* data: meta */
			0x01, 0x06, 0x00, 0x04, 0x03, 0x00, 0x00, 0x00,	/*   mark */
			0x06, 0x04, 0x00, 0x00, 0x00, 0x00 };
		err_keep(&bad, nftnl_set_set_data(st, NFTNL_SET_USERDATA, typeof_ctid_mark,
						  sizeof(typeof_ctid_mark)));
	} else if (mkey || mdata) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
		if (!ud) {
			bad = -ENOMEM;
			goto out;
		}
		if (mkey)
			nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 1 /* host */);
		if (mdata)
			nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, 1 /* host */);
		err_keep(&bad, nftnl_set_set_data(st, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
						  nftnl_udata_buf_len(ud)));
		nftnl_udata_buf_free(ud);
	}
	if (!bad)
		bad = nbatch_put(bt, NFT_MSG_NEWSET, nfproto_of(fam), NLM_F_CREATE | NLM_F_EXCL,
				 rset_name(sp->set), false, NOBJ_SET, st);
out:
	if (st)
		nftnl_set_free(st);
	return bad ? -ENOMEM : 0;
}

/* A static chain: created in a full rebuild, rules depend on node settings. */
static struct chain_ent *static_chain(struct nft_sync *s, struct nbatch *bt, int fam,
				      const char *name, const char *type, int hook, int prio)
{
	struct chain_ent *c = chain_add(s, fam, name);
	if (!c || chain_emit(bt, fam, name, type, hook, prio))
		return NULL;
	c->is_static = c->exists = true;
	c->refs = 1;
	c->rules = 0;
	return c;
}

static bool fam_has(const struct faddr *l, size_t n, int fam)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].family == rfam_af(fam))
			return true;
	return false;
}

/*
 * The kind chains. `np` selects the NodePort variants.
 *   svc-cluster-ip:   [ip saddr != @pod-cidrs] ct mark set ct mark | 0x4000
 *                     (with a pod interface: iifname != "cni0", or "veth*")
 *                     ip daddr . meta l4proto . th dport vmap @pick-ips-internal
 *   svc-external-ip:  ct mark set ct mark | 0x4000; ... vmap @pick-ips-internal
 *   svc-external-ip-local:
 *                     ip saddr @pod-cidrs ... vmap @pick-ips-internal
 *                     fib saddr type local ct mark set ct mark | 0x4000
 *                     fib saddr type local ... vmap @pick-ips-internal
 *                     ... vmap @pick-ips-external
 */
/* What a kind chain's rule tests first. */
enum guard { G_ALL, G_FROM_PODS, G_NOT_FROM_PODS, G_FROM_NODE };

static void x_guard(struct xrule *r, int fam, enum guard g, const struct fnode *nd)
{
	if ((g == G_FROM_PODS || g == G_NOT_FROM_PODS) && nd->pod_iface[0]) {
		/* iifname [!=] "cni0" (a prefix: iifname [!=] "veth*", the
		 * compare of the prefix's bytes only, as nft writes it) */
		char name[16] = { 0 };
		size_t len = nd->pod_iface_prefix ? strlen(nd->pod_iface) : sizeof(name);

		memcpy(name, nd->pod_iface, strlen(nd->pod_iface));
		x_meta(r, NFT_META_IIFNAME, R(0));
		x_cmp(r, g == G_NOT_FROM_PODS ? NFT_CMP_NEQ : NFT_CMP_EQ, name, (uint32_t)len);
	} else if (g == G_FROM_PODS || g == G_NOT_FROM_PODS) {
		/* ip saddr [!=] @pod-cidrs */
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(fam), (uint32_t)rfam_alen(fam), R(0));
		x_lookup(r, "pod-cidrs", -1, g == G_NOT_FROM_PODS ? NFT_LOOKUP_F_INV : 0);
	} else if (g == G_FROM_NODE) {
		x_fib_local(r, NFTA_FIB_F_SADDR);	/* fib saddr type local */
	}
}

/* GUARD ct mark set ct mark | 0x4000 */
static int rule_masq(struct nbatch *bt, int fam, struct chain_ent *c, enum guard g,
		     const struct fnode *nd)
{
	struct xrule *r = rule_new(fam, c->name);
	x_guard(r, fam, g, nd);
	x_mark_masq(r, fnode_masq_mark(nd));
	return rule_emit(bt, fam, r, &c->rules);
}

/* GUARD ip daddr . meta l4proto . th dport (or the NodePort key) vmap via @MAP */
static int rule_pick(struct nbatch *bt, int fam, struct chain_ent *c, enum guard g, bool np,
		     const char *map, const struct fnode *nd)
{
	struct xrule *r = rule_new(fam, c->name);
	x_guard(r, fam, g, nd);
	if (np)
		x_key_np(r, 0);
	else
		x_key_ip(r, fam, daddr_off(fam), 0);
	x_dispatch(r, map, "pick-chains");
	return rule_emit(bt, fam, r, &c->rules);
}

static int kind_chains(struct nft_sync *s, struct nbatch *bt, int fam, const struct fnode *nd, bool np)
{
	bool pods = nd->pod_iface[0] || fam_has(nd->pod_cidrs, nd->n_pod_cidrs, fam);
	const char *internal = np ? "pick-nodeports-internal" : "pick-ips-internal";
	const char *external = np ? "pick-nodeports-external" : "pick-ips-external";
	struct chain_ent *c;
	int ret = 0;

	if (!np) {
		if (!(c = static_chain(s, bt, fam, "svc-cluster-ip", NULL, 0, 0)))
			return -ENOMEM;
		if (nd->masquerade_all || pods)
			err_keep(&ret, rule_masq(bt, fam, c, nd->masquerade_all ? G_ALL : G_NOT_FROM_PODS, nd));
		err_keep(&ret, rule_pick(bt, fam, c, G_ALL, np, internal, nd));
	}
	/* Cluster policy: masquerade, any endpoint. */
	if (!(c = static_chain(s, bt, fam, np ? "svc-nodeport" : "svc-external-ip", NULL, 0, 0)))
		return -ENOMEM;
	err_keep(&ret, rule_masq(bt, fam, c, G_ALL, nd));
	err_keep(&ret, rule_pick(bt, fam, c, G_ALL, np, internal, nd));

	/* Local policy. */
	if (!(c = static_chain(s, bt, fam, np ? "svc-nodeport-local" : "svc-external-ip-local", NULL, 0, 0)))
		return -ENOMEM;
	if (pods)
		err_keep(&ret, rule_pick(bt, fam, c, G_FROM_PODS, np, internal, nd));
	err_keep(&ret, rule_masq(bt, fam, c, G_FROM_NODE, nd));
	err_keep(&ret, rule_pick(bt, fam, c, G_FROM_NODE, np, internal, nd));
	err_keep(&ret, rule_pick(bt, fam, c, G_ALL, np, external, nd));
	return ret;
}

/* fib daddr type local ip daddr != 127.0.0.0/8 [ip daddr @nodeport-addrs] */
static void x_nodeport_dest(struct xrule *r, int fam, const struct fnode *nd)
{
	x_fib_local(r, NFTA_FIB_F_DADDR);
	if (fam == 0) {
		uint8_t lo = 127;
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), 1, R(0));
		x_cmp(r, NFT_CMP_NEQ, &lo, 1);
	} else {
		struct in6_addr lo = IN6ADDR_LOOPBACK_INIT;
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), 16, R(0));
		x_cmp(r, NFT_CMP_NEQ, &lo, 16);
	}
	if (nd->n_nodeport_cidrs) {
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), (uint32_t)rfam_alen(fam), R(0));
		x_lookup(r, "nodeport-addrs", -1, 0);
	}
}

/* ct KEY & BITS == 0 return */
static int rule_ct_clear_return(struct nbatch *bt, int fam, struct chain_ent *c, uint32_t key,
				uint32_t bits)
{
	struct xrule *r = rule_new(fam, c->name);
	uint32_t zero = 0;

	x_ct(r, key, R(0));
	x_bitwise(r, bits, 0);
	x_cmp(r, NFT_CMP_EQ, &zero, 4);
	x_verdict(r, NFT_RETURN, NULL);
	return rule_emit(bt, fam, r, &c->rules);
}

/*
 * ct state invalid drop
 * A packet conntrack cannot place (a spurious retransmit outside the TCP
 * window) is not un-NATed: it would reach the pod with the Service's
 * address swapped out and the pod would reset the connection (kubernetes
 * #74839; upstream e2e "should not be vulnerable to the invalid conntrack
 * state bug"). kube-proxy's iptables mode drops these in FORWARD (its
 * nftables mode leaves it to nf_conntrack_tcp_be_liberal); ferry drops
 * them whatever that sysctl says: with it set, only out-of-window RSTs
 * are INVALID and dropping them is as harmless.
 */
static int invalid_drop(struct nbatch *bt, int fam, struct chain_ent *c)
{
	struct xrule *r = rule_new(fam, c->name);
	uint32_t zero = 0;

	x_ct(r, NFT_CT_STATE, R(0));
	x_bitwise(r, NF_CT_STATE_INVALID_BIT, 0);
	x_cmp(r, NFT_CMP_NEQ, &zero, 4);
	x_verdict(r, NF_DROP, NULL);
	return rule_emit(bt, fam, r, &c->rules);
}

/*
 * ct state new ip daddr @cluster-ips goto reject-service
 * After DNAT, a new connection still addressed to a ClusterIP asked for a
 * port the Service does not have: refuse it at once, as kube-proxy does,
 * instead of letting it time out (a ClusterIP answers nothing else).
 */
static int cluster_ips_check(struct nbatch *bt, int fam, struct chain_ent *c)
{
	struct xrule *r = rule_new(fam, c->name);

	x_ct_new(r);
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), (uint32_t)rfam_alen(fam), R(0));
	x_lookup(r, "cluster-ips", -1, 0);
	x_verdict(r, NFT_GOTO, "reject-service");
	return rule_emit(bt, fam, r, &c->rules);
}

/*
 * ct state new ip daddr @service-cidrs drop
 * After cluster_ips_check: what is still addressed to the Service CIDRs is
 * for an address no Service holds (kube-proxy drops it too: it must not
 * leave the node towards whatever the default route says).
 */
static int service_cidrs_check(struct nbatch *bt, int fam, struct chain_ent *c, const struct fnode *nd)
{
	if (!fam_has(nd->service_cidrs, nd->n_service_cidrs, fam))
		return 0;
	struct xrule *r = rule_new(fam, c->name);

	x_ct_new(r);
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), (uint32_t)rfam_alen(fam), R(0));
	x_lookup(r, "service-cidrs", -1, 0);
	x_verdict(r, NF_DROP, NULL);
	return rule_emit(bt, fam, r, &c->rules);
}

/*
 * The packet mark is ferry's scratch on the first packet of a Service
 * connection (kind, pick chain, endpoint index); what it held before
 * belongs to others (a CNI, a policy engine). The services chain saves it
 * per connection in @mark-save before the first write,
 *   ip daddr . meta l4proto . th dport @service-ips
 *       update @mark-save { ct id timeout 1s : meta mark }
 * (the NodePort rule likewise); one chain after NAT puts it back:
 *   ct state new meta mark set ct id map @mark-save
 * A full @mark-save (65,535 new Service connections within a second) leaves
 * the scratch value on the overflow, as before.
 */
static void x_mark_save(struct xrule *r)
{
	x_ct(r, NFT_CT_ID, R(0));
	x_meta(r, NFT_META_MARK, R(1));
	x_dynset_update(r, "mark-save", R(0), R(1), 1000);
}

static int mark_restore(struct nft_sync *s, struct nbatch *bt, int fam, const char *name,
			const char *type, int hook)
{
	/* chain NAME { type TYPE hook HOOK priority -90; (after NAT at -100)
	 *   ct state new meta mark set ct id map @mark-save }
	 * In output a route chain: a changed mark routes the packet again. */
	struct chain_ent *c = static_chain(s, bt, fam, name, type, hook, -90);
	if (!c)
		return -ENOMEM;
	struct xrule *r = rule_new(fam, c->name);
	x_ct_new(r);
	x_ct(r, NFT_CT_ID, R(0));
	x_lookup(r, "mark-save", R(0), 0);
	x_meta_set(r, NFT_META_MARK, R(0));
	return rule_emit(bt, fam, r, &c->rules);
}

static int base_chains(struct nft_sync *s, struct nbatch *bt, int fam, const struct fnode *nd)
{
	struct xrule *r;
	struct chain_ent *c;
	int ret = 0;

	if ((ret = kind_chains(s, bt, fam, nd, false)) || (ret = kind_chains(s, bt, fam, nd, true)))
		return ret;

	/* chain services: the two dispatch lookups, each after saving the
	 * packet mark it is about to overwrite (x_mark_save) */
	if (!(c = static_chain(s, bt, fam, "services", NULL, 0, 0)))
		return -ENOMEM;
	for (int np = 0; np < 2; np++) {
		const char *map = np ? "service-nodeports" : "service-ips";
		for (int save = 1; save >= 0; save--) {
			r = rule_new(fam, c->name);
			if (np) {
				x_nodeport_dest(r, fam, nd);
				x_key_np(r, 0);
			} else {
				x_key_ip(r, fam, daddr_off(fam), 0);
			}
			if (save) {
				x_lookup(r, map, -1, 0);
				x_mark_save(r);
			} else {
				x_dispatch(r, map, "kinds");
			}
			err_keep(&ret, rule_emit(bt, fam, r, &c->rules));
		}
	}
	err_keep(&ret, mark_restore(s, bt, fam, "mark-restore-prerouting", "filter", NF_INET_PRE_ROUTING));
	err_keep(&ret, mark_restore(s, bt, fam, "mark-restore-output", "route", NF_INET_LOCAL_OUT));

	/* Hooks. */
	static const struct { const char *name; int hook; } nat_in[] = {
		{ "nat-prerouting", NF_INET_PRE_ROUTING }, { "nat-output", NF_INET_LOCAL_OUT } };
	for (int i = 0; i < 2; i++) {
		/* chain nat-prerouting { type nat hook prerouting priority -100; jump services } */
		if (!(c = static_chain(s, bt, fam, nat_in[i].name, "nat", nat_in[i].hook, -100)))
			return -ENOMEM;
		r = rule_new(fam, c->name);
		x_verdict(r, NFT_JUMP, "services");
		err_keep(&ret, rule_emit(bt, fam, r, &c->rules));
	}

	/* chain nat-postrouting { type nat hook postrouting priority 100;
	 *   ct status & dnat == 0 return
	 *   ip saddr . ip daddr @hairpin ct mark set ct mark | 0x4000
	 *   ct mark & 0x4000 == 0 return
	 *   ct mark set ct mark & 0xffffbfff
	 *   masquerade fully-random }
	 * (hairpin: an endpoint reaching itself through its Service) */
	if (!(c = static_chain(s, bt, fam, "nat-postrouting", "nat", NF_INET_POST_ROUTING, 100)))
		return -ENOMEM;
	err_keep(&ret, rule_ct_clear_return(bt, fam, c, NFT_CT_STATUS, IPS_DST_NAT));
	r = rule_new(fam, c->name);
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(fam), (uint32_t)rfam_alen(fam), R(0));
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), (uint32_t)rfam_alen(fam),
		  R((uint32_t)rfam_alen(fam) / 4));
	x_lookup(r, "hairpin", -1, 0);
	x_mark_masq(r, fnode_masq_mark(nd));
	err_keep(&ret, rule_emit(bt, fam, r, &c->rules));
	err_keep(&ret, rule_ct_clear_return(bt, fam, c, NFT_CT_MARK, fnode_masq_mark(nd)));
	r = rule_new(fam, c->name);
	x_ct(r, NFT_CT_MARK, R(0));
	x_bitwise(r, ~fnode_masq_mark(nd), 0);
	x_ct_set(r, NFT_CT_MARK, R(0));
	err_keep(&ret, rule_emit(bt, fam, r, &c->rules));
	r = rule_new(fam, c->name);
	x_masq_fully_random(r);
	err_keep(&ret, rule_emit(bt, fam, r, &c->rules));

	/* chain filter-prerouting { type filter hook prerouting priority -110;
	 *   ct state new ip daddr . meta l4proto . th dport @firewall-ips
	 *     ip daddr . meta l4proto . th dport . ip saddr != @firewall-allow drop }
	 * The protocol is in both keys: TCP and UDP Services sharing an LB IP
	 * and port (MetalLB's allow-shared-ip) have elements of their own. */
	if (!(c = static_chain(s, bt, fam, "filter-prerouting", "filter", NF_INET_PRE_ROUTING, -110)))
		return -ENOMEM;
	r = rule_new(fam, c->name);
	x_ct_new(r);
	uint32_t at = x_key_ip(r, fam, daddr_off(fam), 0);
	x_lookup(r, "firewall-ips", -1, 0);
	/* the lookup left daddr . l4proto . dport in place: append saddr */
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(fam), (uint32_t)rfam_alen(fam), R(at));
	x_lookup(r, "firewall-allow", -1, NFT_LOOKUP_F_INV);
	x_verdict(r, NF_DROP, NULL);
	err_keep(&ret, rule_emit(bt, fam, r, &c->rules));

	/* chain reject-service { meta l4proto tcp reject with tcp reset; reject } */
	if (!(c = static_chain(s, bt, fam, "reject-service", NULL, 0, 0)))
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		r = rule_new(fam, c->name);
		if (i == 0) {
			uint8_t tcp = IPPROTO_TCP;
			x_meta(r, NFT_META_L4PROTO, R(0));
			x_cmp(r, NFT_CMP_EQ, &tcp, 1);
			x_reject(r, NFT_REJECT_TCP_RST, 0);
		} else {
			/* port unreachable: 3 for ICMP, 4 for ICMPv6 */
			x_reject(r, NFT_REJECT_ICMP_UNREACH, fam ? 4 : 3);
		}
		err_keep(&ret, rule_emit(bt, fam, r, &c->rules));
	}

	/* chain filter-{input,forward,output} { type filter hook ... priority -110;
	 *   ct state new ip daddr . meta l4proto . th dport @no-endpoint-ips goto reject-service
	 *   (input) ct state new fib daddr type local ... meta l4proto . th dport
	 *           @no-endpoint-nodeports goto reject-service } */
	static const struct { const char *name; int hook; } filt[] = {
		{ "filter-input", NF_INET_LOCAL_IN }, { "filter-forward", NF_INET_FORWARD },
		{ "filter-output", NF_INET_LOCAL_OUT } };
	for (int i = 0; i < 3; i++) {
		if (!(c = static_chain(s, bt, fam, filt[i].name, "filter", filt[i].hook, -110)))
			return -ENOMEM;
		if (filt[i].hook == NF_INET_FORWARD)
			err_keep(&ret, invalid_drop(bt, fam, c));
		r = rule_new(fam, c->name);
		x_ct_new(r);
		x_key_ip(r, fam, daddr_off(fam), 0);
		x_lookup(r, "no-endpoint-ips", -1, 0);
		x_verdict(r, NFT_GOTO, "reject-service");
		err_keep(&ret, rule_emit(bt, fam, r, &c->rules));
		if (filt[i].hook == NF_INET_FORWARD) {
			err_keep(&ret, cluster_ips_check(bt, fam, c));
			err_keep(&ret, service_cidrs_check(bt, fam, c, nd));
		}
		if (filt[i].hook != NF_INET_LOCAL_IN)
			continue;
		r = rule_new(fam, c->name);
		x_ct_new(r);
		x_nodeport_dest(r, fam, nd);
		x_key_np(r, 0);
		x_lookup(r, "no-endpoint-nodeports", -1, 0);
		x_verdict(r, NFT_GOTO, "reject-service");
		err_keep(&ret, rule_emit(bt, fam, r, &c->rules));
	}
	/* chain filter-output-post { type filter hook output priority 0; ... }:
	 * the node's own packets, after nat-output's DNAT (forwarded ones
	 * were translated in prerouting already) */
	if (!(c = static_chain(s, bt, fam, "filter-output-post", "filter", NF_INET_LOCAL_OUT, 0)))
		return -ENOMEM;
	err_keep(&ret, cluster_ips_check(bt, fam, c));
	err_keep(&ret, service_cidrs_check(bt, fam, c, nd));
	return ret;
}

/*
 * add element ip ferry pod-cidrs { 198.18.0.0/16 }
 * An interval set (rbtree) takes a start element and an end element flagged
 * INTERVAL_END one past the range; overlapping or adjacent prefixes are
 * merged first, as nft does, or the kernel refuses the overlap.
 */
static int node_set_emit(struct nbatch *bt, int fam, int set, const struct faddr *l, size_t n)
{
	int alen = rfam_alen(fam);
	struct rng { uint8_t lo[16], hi[16]; } *rs = calloc(n + 1, sizeof(*rs));
	size_t m = 0;

	if (!rs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (l[i].family != rfam_af(fam))
			continue;
		memcpy(rs[m].lo, l[i].a, alen);
		memcpy(rs[m].hi, l[i].a, alen);
		for (int b = l[i].plen; b < alen * 8; b++)
			rs[m].hi[b / 8] |= (uint8_t)(0x80 >> (b % 8));
		m++;
	}
	/* sort by start (few entries: insertion sort) */
	for (size_t i = 1; i < m; i++)
		for (size_t j = i; j > 0 && memcmp(rs[j - 1].lo, rs[j].lo, alen) > 0; j--) {
			struct rng t = rs[j]; rs[j] = rs[j - 1]; rs[j - 1] = t;
		}
	struct nftnl_set *st = elem_set(fam, set);
	int ret = st ? 0 : -ENOMEM;
	size_t i = 0;
	while (i < m && !ret) {
		struct rng cur = rs[i++];
		for (; i < m; i++) {
			uint8_t next[16];
			memcpy(next, cur.hi, alen);
			int k = alen - 1;	/* next = hi + 1 */
			while (k >= 0 && ++next[k] == 0)
				k--;
			if (k >= 0 && memcmp(rs[i].lo, next, alen) > 0)
				break;
			if (memcmp(rs[i].hi, cur.hi, alen) > 0)
				memcpy(cur.hi, rs[i].hi, alen);
		}
		ret = elem_add_key(st, cur.lo, (uint32_t)alen, 0);
		int k = alen - 1;	/* the end element is one past the range */
		while (k >= 0 && ++cur.hi[k] == 0)
			k--;
		if (k >= 0 && !ret)
			ret = elem_add_key(st, cur.hi, (uint32_t)alen, NFT_SET_ELEM_INTERVAL_END);
	}
	free(rs);
	if (m && !ret)
		ret = nbatch_put(bt, NFT_MSG_NEWSETELEM, nfproto_of(fam), NLM_F_CREATE | NLM_F_EXCL,
				 rset_name(set), false, NOBJ_ELEMS, st);
	if (st)
		nftnl_set_free(st);
	return ret;
}


/* The kind chains of a table say where each kind of Service entry goes:
 * kinds { ID : goto svc-... }; pick-chains { 0 : drop }. */
static int kind_map(struct nft_sync *s, struct nbatch *bt, int fam)
{
	static const char *const kinds[] = { "svc-cluster-ip", "svc-external-ip",
		"svc-external-ip-local", "svc-nodeport", "svc-nodeport-local" };

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		int r = vmap_elem(bt, fam, RS_KINDS, chain_id(s, chain_find(s, fam, kinds[k])), kinds[k], false);
		if (r)
			return r;
	}
	return vmap_elem(bt, fam, RS_PICK_CHAINS, 0, NULL, false);
}

/* add table ip ferry; delete table ip ferry; add table ip ferry:
 * replaces whatever was there in the same transaction. */
static int table_replace(struct nbatch *bt, int fam)
{
	static const uint16_t ops[3] = { NFT_MSG_NEWTABLE, NFT_MSG_DELTABLE, NFT_MSG_NEWTABLE };
	struct nftnl_table *t = nftnl_table_alloc();
	int r = -ENOMEM;

	if (t && nftnl_table_set_str(t, NFTNL_TABLE_NAME, TABLE) == 0) {
		nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, (uint32_t)nfproto_of(fam));
		r = 0;
		for (int i = 0; i < 3 && !r; i++)
			r = nbatch_put(bt, ops[i], nfproto_of(fam), ops[i] == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0,
				       "table", false, NOBJ_TABLE, t);
	}
	if (t)
		nftnl_table_free(t);
	return r;
}

/*
 * The clients an affinity map remembers survive a rebuild (ferry's restart,
 * a failed sync, a node change): the rebuild deletes the table, so the
 * elements are read first and added back to the new map in the same batch,
 * each with the time it had left. Only when the map's definition is the
 * same; a client remembered between the read and the commit is lost.
 */
struct kept_elem { uint8_t key[RKEY_MAX], klen; uint32_t data; uint64_t left_ms; };
struct kept {
	uint32_t key_type, key_len, data_type, data_len;	/* the definition we make */
	bool same;
	struct kept_elem *v;
	size_t n, cap;
};

static int kept_set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kept *k = data;
	struct nftnl_set *st = nftnl_set_alloc();

	if (!st)
		return MNL_CB_ERROR;
	if (nftnl_set_nlmsg_parse(nlh, st) == 0)
		k->same = nftnl_set_get_u32(st, NFTNL_SET_KEY_TYPE) == k->key_type &&
			  nftnl_set_get_u32(st, NFTNL_SET_KEY_LEN) == k->key_len &&
			  nftnl_set_get_u32(st, NFTNL_SET_DATA_TYPE) == k->data_type &&
			  nftnl_set_get_u32(st, NFTNL_SET_DATA_LEN) == k->data_len;
	nftnl_set_free(st);
	return MNL_CB_OK;
}

static int kept_elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kept *k = data;
	struct nftnl_set *st = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it = NULL;
	int r = MNL_CB_OK;

	if (!st)
		return MNL_CB_ERROR;
	if (nftnl_set_elems_nlmsg_parse(nlh, st) < 0 || !(it = nftnl_set_elems_iter_create(st)))
		goto out;
	for (struct nftnl_set_elem *e = nftnl_set_elems_iter_next(it); e; e = nftnl_set_elems_iter_next(it)) {
		uint32_t kl = 0, dl = 0;
		const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &kl);
		const void *d = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &dl);
		if (!key || kl != k->key_len || !d || dl != 4 ||
		    !nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION))
			continue;
		uint64_t left = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION);
		if (!left)
			continue;	/* a timeout of 0 would never expire */
		if (vec_grow((void **)&k->v, &k->cap, k->n + 1, sizeof(*k->v))) {
			r = MNL_CB_ERROR;
			break;
		}
		struct kept_elem *ke = &k->v[k->n++];
		memcpy(ke->key, key, kl);
		ke->klen = (uint8_t)kl;
		memcpy(&ke->data, d, 4);
		ke->left_ms = left;
	}
out:
	if (it)
		nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(st);
	return r;
}

/* nft list map ip ferry affinity: what it remembers, when its definition is ours */
static void kept_read(struct nft_sync *s, int fam, const struct set_spec *sp, struct kept *k)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint16_t nfp = (uint16_t)nfproto_of(fam);
	struct nftnl_set *st;

	dt_concat(sp->key, sp->nkey, fam, &k->key_type, &k->key_len, NULL);
	dt_concat(sp->data, sp->ndata, fam, &k->data_type, &k->data_len, NULL);
	for (int pass = 0; pass < 2; pass++) {
		if (!(st = elem_set(fam, sp->set)))
			return;
		memset(buf, 0, sizeof(buf));	/* no stack garbage to the kernel */
		struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, pass ? NFT_MSG_GETSETELEM : NFT_MSG_GETSET,
							     nfp, pass ? NLM_F_DUMP : NLM_F_ACK, ++s->seq);
		if (pass)
			nftnl_set_elems_nlmsg_build_payload(nlh, st);
		else
			nftnl_set_nlmsg_build_payload(nlh, st);
		nftnl_set_free(st);
		int r = nl_talk(s->nl, nlh, pass ? kept_elem_cb : kept_set_cb, k);
		if (r < 0 || !k->same) {	/* none yet (ENOENT), or another definition */
			k->n = 0;
			return;
		}
	}
}

/* add element ip ferry affinity { KEY timeout LEFTms : DATA, ... } */
static int kept_emit(struct nbatch *bt, int fam, int set, const struct kept *k)
{
	int r = 0;

	for (size_t i = 0; i < k->n && !r;) {
		struct nftnl_set *st = elem_set(fam, set);
		if (!st)
			return -ENOMEM;
		for (size_t j = 0; j < 256 && i < k->n && !r; j++, i++) {
			const struct kept_elem *ke = &k->v[i];
			struct nftnl_set_elem *e = nftnl_set_elem_alloc();
			if (!e || nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, ke->key, ke->klen) < 0 ||
			    nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, &ke->data, 4) < 0) {
				if (e)
					nftnl_set_elem_free(e);
				r = -ENOMEM;
				break;
			}
			nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, ke->left_ms);
			nftnl_set_elem_add(st, e);
		}
		if (!r)
			r = nbatch_put(bt, NFT_MSG_NEWSETELEM, nfproto_of(fam), NLM_F_CREATE | NLM_F_EXCL,
				       rset_name(set), false, NOBJ_ELEMS, st);
		nftnl_set_free(st);
	}
	return r;
}

int skeleton_build(struct nft_sync *s, struct nbatch *bt, const struct fnode *node)
{
	int r = 0;

	s->chains.n = 0;
	hairpin_clear(s);
	for (int fam = 0; fam < RFAM_N && !r; fam++) {
		struct kept kept = { 0 };
		kept_read(s, fam, &set_specs[RS_AFFINITY], &kept);
		r = table_replace(bt, fam);
		for (int i = 0; i < RS_COUNT && !r; i++)
			r = set_emit(bt, fam, &set_specs[i]);
		if (!r && kept.n) {
			r = kept_emit(bt, fam, RS_AFFINITY, &kept);
			log_v(2, "nft", "affinity kept", "family=%d n=%zu", fam, kept.n);
		}
		free(kept.v);
		if (!r)
			r = base_chains(s, bt, fam, node);
		if (!r)
			r = kind_map(s, bt, fam);
		if (!r)
			r = node_set_emit(bt, fam, RS_POD_CIDRS, node->pod_cidrs, node->n_pod_cidrs);
		if (!r)
			r = node_set_emit(bt, fam, RS_NODEPORT_ADDRS, node->nodeport_cidrs,
					  node->n_nodeport_cidrs);
		if (!r)
			r = node_set_emit(bt, fam, RS_SERVICE_CIDRS, node->service_cidrs,
					  node->n_service_cidrs);
	}
	return r;
}

int pick_chain_emit(struct nft_sync *s, struct nbatch *bt, struct chain_ent *c,
		    const struct rpick *p)
{
	int r = chain_emit(bt, c->fam, c->name, NULL, 0, 0);

	c->rules = 0;
	if (!r)
		r = pick_rules(bt, c->fam, c->name, p, &c->rules);
	if (!r)
		r = vmap_elem(bt, c->fam, RS_PICK_CHAINS, chain_id(s, c), c->name, false);
	if (r)
		return r;
	c->exists = true;
	c->refs = 1;
	return 0;
}

/* delete element ip ferry pick-chains { ID };
 * flush chain ip ferry pick-ip-K; delete chain ip ferry pick-ip-K */
int pick_chain_delete(struct nft_sync *s, struct nbatch *bt, struct chain_ent *c)
{
	int r = vmap_elem(bt, c->fam, RS_PICK_CHAINS, chain_id(s, c), c->name, true);
	struct xrule *rl = NULL;
	struct nftnl_chain *ch = NULL;

	if (r)
		return r;
	rl = rule_new(c->fam, c->name);
	r = !rl ? -ENOMEM : rl->err;
	if (!r)
		r = nbatch_put(bt, NFT_MSG_DELRULE, nfproto_of(c->fam), 0, c->name, true, NOBJ_RULE, rl->r);
	if (rl) {
		if (rl->r)
			nftnl_rule_free(rl->r);
		free(rl);
	}
	if (!r) {
		ch = nftnl_chain_alloc();
		if (!ch || nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, TABLE) < 0 ||
		    nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, c->name) < 0)
			r = -ENOMEM;
	}
	if (!r) {
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, (uint32_t)nfproto_of(c->fam));
		r = nbatch_put(bt, NFT_MSG_DELCHAIN, nfproto_of(c->fam), 0, c->name, true, NOBJ_CHAIN, ch);
	}
	if (ch)
		nftnl_chain_free(ch);
	if (!r)
		c->exists = false;
	return r;
}
