/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Read (three dumps: tables, chains, then rules of the tables that hold
 * KUBE-* chains), plan, send one batch. The batch carries the ruleset
 * generation read before the dumps, so if anything changed meanwhile the
 * kernel refuses it (ERESTART) and we read again.
 */
#include "nft/kpcleanup.h"
#include "nft/internal.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define KUBE_PREFIX "KUBE-"

struct obj {
	uint16_t family;	/* NFPROTO_IPV4 / NFPROTO_IPV6 */
	char table[64], chain[256];
	uint64_t handle;	/* rules */
};

struct list {
	struct obj *v;
	size_t n, cap;
};

static int push(struct list *l, uint16_t family, const char *table, const char *chain, uint64_t handle)
{
	if (vec_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
		return -ENOMEM;
	memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
	l->v[l->n].family = family;
	snprintf(l->v[l->n].table, sizeof(l->v[l->n].table), "%s", table ? table : "");
	snprintf(l->v[l->n].chain, sizeof(l->v[l->n].chain), "%s", chain ? chain : "");
	l->v[l->n].handle = handle;
	l->n++;
	return 0;
}

/* kubelet's chains, not kube-proxy's: the martian-source firewall, the
 * canary it watches to re-create its rules, the hint other components read
 * to tell iptables-nft from legacy (kubelet_network_linux.go; KUBE-MARK-DROP
 * from kubelets before 1.28). kube-proxy's own cleanup leaves them too. */
static const char *const kubelet_chains[] = {
	"KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT", "KUBE-MARK-DROP",
};

static bool is_kube(const char *chain)
{
	if (!chain || strncmp(chain, KUBE_PREFIX, strlen(KUBE_PREFIX)))
		return false;
	for (size_t i = 0; i < sizeof(kubelet_chains) / sizeof(kubelet_chains[0]); i++)
		if (!strcmp(chain, kubelet_chains[i]))
			return false;
	return true;
}

static bool iptables_table(uint16_t family, const char *t)
{
	return (family == NFPROTO_IPV4 || family == NFPROTO_IPV6) &&
	       (!strcmp(t, "nat") || !strcmp(t, "filter") || !strcmp(t, "mangle"));
}

static const char *fam_name(uint16_t f) { return f == NFPROTO_IPV6 ? "ip6" : "ip"; }

/* ---- dumps ---- */

struct plan {
	uint32_t genid;
	struct list tables;	/* ip/ip6 kube-proxy */
	struct list holders;	/* ip/ip6 nat/filter/mangle tables holding KUBE-* chains */
	struct list chains;	/* KUBE-* chains */
	struct list rules;	/* rules elsewhere that jump/goto a KUBE-* chain */
	int err;
};

static int dump(struct mnl_socket *nl, uint32_t *seq, uint16_t type, uint16_t family,
		int (*payload)(struct nlmsghdr *, void *), void *parg, mnl_cb_t cb, void *data)
{
	/* zeroed: libmnl (1.0.4) leaves attribute padding unwritten */
	char buf[1024] = { 0 };
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, type, family, NLM_F_DUMP, ++*seq);

	if (payload && payload(nlh, parg))
		return -ENOMEM;
	return nl_talk(nl, nlh, cb, data);
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct plan *p = data;
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t) {
		p->err = -ENOMEM;
		return MNL_CB_OK;
	}
	if (nftnl_table_nlmsg_parse(nlh, t) == 0) {
		uint16_t f = nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY);
		const char *name = nftnl_table_get_str(t, NFTNL_TABLE_NAME);

		if ((f == NFPROTO_IPV4 || f == NFPROTO_IPV6) && name && !strcmp(name, "kube-proxy") &&
		    push(&p->tables, f, name, NULL, 0) < 0)
			p->err = -ENOMEM;
	}
	nftnl_table_free(t);
	return MNL_CB_OK;
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct plan *p = data;
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c) {
		p->err = -ENOMEM;
		return MNL_CB_OK;
	}
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0) {
		uint16_t f = nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY);
		const char *t = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
		const char *name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
		bool known = false;

		if (t && name && iptables_table(f, t) && is_kube(name)) {
			if (push(&p->chains, f, t, name, 0) < 0)
				p->err = -ENOMEM;
			for (size_t i = 0; i < p->holders.n; i++)
				known |= p->holders.v[i].family == f && !strcmp(p->holders.v[i].table, t);
			if (!known && push(&p->holders, f, t, NULL, 0) < 0)
				p->err = -ENOMEM;
		}
	}
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

struct rule_walk {
	struct plan *p;
	bool jumps;
};

static int expr_cb(struct nftnl_expr *e, void *data)
{
	struct rule_walk *w = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	/* nft: jump KUBE-... / goto KUBE-... is an immediate verdict */
	if (name && !strcmp(name, "immediate") && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT)) {
		int32_t v = (int32_t)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);

		if ((v == NFT_JUMP || v == NFT_GOTO) && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN) &&
		    is_kube(nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN)))
			w->jumps = true;
	}
	return MNL_CB_OK;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct plan *p = data;
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r) {
		p->err = -ENOMEM;
		return MNL_CB_OK;
	}
	if (nftnl_rule_nlmsg_parse(nlh, r) == 0) {
		uint16_t f = nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY);
		const char *t = nftnl_rule_get_str(r, NFTNL_RULE_TABLE);
		const char *chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
		struct rule_walk w = { p, false };

		/* rules inside kube-proxy's chains go with their chain's flush */
		if (t && chain && !is_kube(chain) && iptables_table(f, t)) {
			nftnl_expr_foreach(r, expr_cb, &w);
			if (w.jumps && push(&p->rules, f, t, chain, nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE)) < 0)
				p->err = -ENOMEM;
		}
	}
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

static int rule_filter(struct nlmsghdr *nlh, void *arg)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		return -ENOMEM;
	if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, arg) < 0) {
		nftnl_rule_free(r);
		return -ENOMEM;
	}
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return 0;
}

static void plan_free(struct plan *p)
{
	free(p->tables.v);
	free(p->holders.v);
	free(p->chains.v);
	free(p->rules.v);
	memset(p, 0, sizeof(*p));
}

static int read_plan(struct mnl_socket *nl, uint32_t *seq, struct plan *p)
{
	int rc;

	memset(p, 0, sizeof(*p));
	if ((rc = nl_get_genid(nl, seq, &p->genid)) < 0 ||
	    (rc = dump(nl, seq, NFT_MSG_GETTABLE, NFPROTO_UNSPEC, NULL, NULL, table_cb, p)) < 0 ||
	    (rc = dump(nl, seq, NFT_MSG_GETCHAIN, NFPROTO_UNSPEC, NULL, NULL, chain_cb, p)) < 0)
		return rc;
	for (size_t i = 0; i < p->holders.n && !p->err; i++)
		if ((rc = dump(nl, seq, NFT_MSG_GETRULE, p->holders.v[i].family, rule_filter,
			       p->holders.v[i].table, rule_cb, p)) < 0)
			return rc;
	return p->err;
}

/* ---- the batch ---- */

/* Writes one message deleting `obj` (a struct nftnl_rule/chain/table);
 * `what` names it in the kernel's refusal. */
static int put(struct nbatch *bt, uint16_t type, uint16_t family, enum nobj kind, const void *obj,
	       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int put(struct nbatch *bt, uint16_t type, uint16_t family, enum nobj kind, const void *obj,
	       const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return nbatch_put(bt, type, family, 0, what, true, kind, obj);
}

/* A struct nftnl_rule or nftnl_chain naming TABLE and CHAIN (rule handle
 * if not 0); NULL when out of memory. */
static struct nftnl_rule *rule_of(const struct obj *o, uint64_t handle)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (r && (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, o->table) < 0 ||
		  nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, o->chain) < 0)) {
		nftnl_rule_free(r);
		return NULL;
	}
	if (r && handle)
		nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, handle);
	return r;
}

static int build(struct nbatch *bt, const struct plan *p)
{
	int rc = 0;

	/* nft delete rule FAM TABLE CHAIN handle H   (each jump/goto to KUBE-*) */
	for (size_t i = 0; i < p->rules.n && !rc; i++) {
		const struct obj *o = &p->rules.v[i];
		struct nftnl_rule *r = rule_of(o, o->handle);

		rc = put(bt, NFT_MSG_DELRULE, o->family, NOBJ_RULE, r, "rule %s %s %s handle %llu",
			 fam_name(o->family), o->table, o->chain, (unsigned long long)o->handle);
		if (r)
			nftnl_rule_free(r);
	}
	/* nft flush chain FAM TABLE KUBE-...   (all of them before any delete:
	 * they jump to each other) */
	for (size_t i = 0; i < p->chains.n && !rc; i++) {
		const struct obj *o = &p->chains.v[i];
		struct nftnl_rule *r = rule_of(o, 0);

		rc = put(bt, NFT_MSG_DELRULE, o->family, NOBJ_RULE, r, "flush chain %s %s %s",
			 fam_name(o->family), o->table, o->chain);
		if (r)
			nftnl_rule_free(r);
	}
	/* nft delete chain FAM TABLE KUBE-... */
	for (size_t i = 0; i < p->chains.n && !rc; i++) {
		const struct obj *o = &p->chains.v[i];
		struct nftnl_chain *c = nftnl_chain_alloc();

		if (c && (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, o->table) < 0 ||
			  nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, o->chain) < 0))
			rc = -ENOMEM;
		if (!rc)
			rc = put(bt, NFT_MSG_DELCHAIN, o->family, NOBJ_CHAIN, c, "chain %s %s %s",
				 fam_name(o->family), o->table, o->chain);
		if (c)
			nftnl_chain_free(c);
	}
	/* nft delete table ip kube-proxy; nft delete table ip6 kube-proxy */
	for (size_t i = 0; i < p->tables.n && !rc; i++) {
		const struct obj *o = &p->tables.v[i];
		struct nftnl_table *t = nftnl_table_alloc();

		if (t && nftnl_table_set_str(t, NFTNL_TABLE_NAME, o->table) < 0)
			rc = -ENOMEM;
		if (!rc)
			rc = put(bt, NFT_MSG_DELTABLE, o->family, NOBJ_TABLE, t, "table %s %s",
				 fam_name(o->family), o->table);
		if (t)
			nftnl_table_free(t);
	}
	return rc;
}

static int attempt(struct mnl_socket *nl, uint32_t *seq)
{
	struct plan p;
	struct nbatch bt;
	int rc, n;

	rc = read_plan(nl, seq, &p);
	if (rc < 0) {
		log_err("kpcleanup", "cannot read the ruleset", "err=%s", log_q(strerror(-rc)));
		plan_free(&p);
		return rc;
	}
	n = (int)(p.tables.n + p.chains.n + p.rules.n);
	if (!n) {
		plan_free(&p);
		return 0;
	}
	/* refused with ERESTART if the ruleset moved since we read it */
	rc = nbatch_init(&bt, ++*seq, p.genid, true);
	if (rc) {
		plan_free(&p);
		return rc;
	}
	rc = build(&bt, &p);
	if (!rc)
		rc = nbatch_send(nl, &bt, "kpcleanup", NULL);
	*seq = bt.seq;
	if (!rc)
		log_info("kpcleanup", "removed kube-proxy leftovers", "tables=%zu chains=%zu rules=%zu",
			 p.tables.n, p.chains.n, p.rules.n);
	nbatch_free(&bt);
	plan_free(&p);
	return rc < 0 ? rc : n;
}

int kp_cleanup(void)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	uint32_t seq = (uint32_t)time(NULL);
	int rc = -EAGAIN;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		log_err("kpcleanup", "cannot open nfnetlink", "err=%s", log_q(strerror(-rc)));
		if (nl)
			mnl_socket_close(nl);
		return rc;
	}
	/* ERESTART: the ruleset changed under us; EINTR: it changed during a
	 * dump; ENOENT/EBUSY: an object we planned for vanished or gained a
	 * user. Read again. */
	for (int i = 0; i < 3; i++) {
		rc = attempt(nl, &seq);
		if (rc != -ERESTART && rc != -EINTR && rc != -ENOENT && rc != -EBUSY)
			break;
		log_info("kpcleanup", "ruleset changed meanwhile, retrying", "attempt=%d", i + 1);
	}
	mnl_socket_close(nl);
	return rc;
}
