/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctnetlink messages used here (linux/netfilter/nfnetlink_conntrack.h):
 *   dump:   IPCTNL_MSG_CT_GET, NLM_F_DUMP, nfgenmsg.family = AF_INET/AF_INET6
 *   delete: IPCTNL_MSG_CT_DELETE with CTA_TUPLE_ORIG { CTA_TUPLE_IP
 *           { CTA_IP_V4_SRC/DST | CTA_IP_V6_SRC/DST }, CTA_TUPLE_PROTO
 *           { CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT } }
 *           and CTA_ZONE when the entry has one.
 */
#include "nft/conntrack.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/nlframe.h"
#include "core/vec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* from the kernel's nf_conntrack_netlink.c (not in the uapi header) */
#ifndef CTA_FILTER_FLAG_CTA_PROTO_NUM
#define CTA_FILTER_FLAG_CTA_PROTO_NUM (1 << 3)
#endif

static int parse_ip(int *family, uint8_t *a, const char *s)
{
	if (inet_pton(AF_INET, s, a) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a) == 1) {
		*family = AF_INET6;
		return 0;
	}
	log_err("conntrack", "bad IP address", "ip=%s", log_q(s));
	return -EINVAL;
}

int ct_match_service(struct ct_match *m, const char *ip, uint16_t port)
{
	int fam;

	memset(m, 0, sizeof(*m));
	if (parse_ip(&fam, m->orig_dst, ip) < 0)
		return -EINVAL;
	m->family = fam;
	m->proto = IPPROTO_UDP;
	m->orig_dst_set = true;
	m->orig_dst_port = port;
	return 0;
}

int ct_match_nodeport(struct ct_match *m, int family, uint16_t node_port, const char *ep_ip,
		      uint16_t ep_port)
{
	int fam = family;

	memset(m, 0, sizeof(*m));
	if (ep_ip) {
		if (parse_ip(&fam, m->reply_src, ep_ip) < 0)
			return -EINVAL;
		if (fam != family)
			return -EINVAL;
		m->reply_src_set = true;
		m->reply_src_port = ep_port;
	}
	if (family != AF_INET && family != AF_INET6)
		return -EINVAL;
	m->family = family;
	m->proto = IPPROTO_UDP;
	m->orig_dst_port = node_port;
	return node_port ? 0 : -EINVAL;
}

int ct_match_endpoint(struct ct_match *m, const char *svc_ip, uint16_t svc_port, const char *ep_ip,
		      uint16_t ep_port)
{
	int fam, sfam;

	memset(m, 0, sizeof(*m));
	if (parse_ip(&fam, m->reply_src, ep_ip) < 0)
		return -EINVAL;
	if (svc_ip) {
		if (parse_ip(&sfam, m->orig_dst, svc_ip) < 0)
			return -EINVAL;
		if (sfam != fam) {
			log_err("conntrack", "service and endpoint of different families", "svc=%s ep=%s",
				log_q(svc_ip), log_q(ep_ip));
			return -EINVAL;
		}
		m->orig_dst_set = true;
		m->orig_dst_port = svc_port;
	}
	m->family = fam;
	m->proto = IPPROTO_UDP;
	m->reply_src_set = true;
	m->reply_src_port = ep_port;
	return 0;
}

/* ---- one conntrack entry, as much as we need of it ---- */
struct tuple {
	uint8_t src[16], dst[16];
	uint8_t proto;
	uint16_t sport, dport;	/* host order */
	bool ports;
};

struct entry {
	struct tuple orig, reply;
	bool has_zone;
	uint16_t zone;		/* network order, as received */
};

struct dump {
	int family;
	bool (*want)(void *ctx, int family, const struct entry *e);
	void *ctx;
	struct entry *hits;
	size_t n_hits, cap;
	int err;
};

struct tbl {
	const struct nlattr **tb;
	int max;
};

/* attributes into tb[0..max]; types above max (newer kernels) are ignored */
static int table_cb(const struct nlattr *a, void *data)
{
	struct tbl *t = data;
	int type = mnl_attr_get_type(a);

	if (type <= t->max)
		t->tb[type] = a;
	return MNL_CB_OK;
}

static int nested(const struct nlattr *a, const struct nlattr **tb, int max)
{
	struct tbl t = { tb, max };

	return mnl_attr_parse_nested(a, table_cb, &t) < 0 ? -1 : 0;
}

static int parse_tuple(const struct nlattr *a, int family, struct tuple *t)
{
	const struct nlattr *tb[CTA_TUPLE_MAX + 1] = { 0 }, *ip[CTA_IP_MAX + 1] = { 0 },
			    *pr[CTA_PROTO_MAX + 1] = { 0 };
	size_t alen = family == AF_INET6 ? 16 : 4;
	int src = family == AF_INET6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC;
	int dst = family == AF_INET6 ? CTA_IP_V6_DST : CTA_IP_V4_DST;

	memset(t, 0, sizeof(*t));
	if (!a || nested(a, tb, CTA_TUPLE_MAX) < 0 || !tb[CTA_TUPLE_IP] || !tb[CTA_TUPLE_PROTO] ||
	    nested(tb[CTA_TUPLE_IP], ip, CTA_IP_MAX) < 0 || nested(tb[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX) < 0)
		return -1;
	if (!ip[src] || !ip[dst] || mnl_attr_get_payload_len(ip[src]) != alen ||
	    mnl_attr_get_payload_len(ip[dst]) != alen || !pr[CTA_PROTO_NUM] ||
	    mnl_attr_validate(pr[CTA_PROTO_NUM], MNL_TYPE_U8) < 0)
		return -1;
	memcpy(t->src, mnl_attr_get_payload(ip[src]), alen);
	memcpy(t->dst, mnl_attr_get_payload(ip[dst]), alen);
	t->proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
	if (pr[CTA_PROTO_SRC_PORT] && pr[CTA_PROTO_DST_PORT] &&
	    mnl_attr_validate(pr[CTA_PROTO_SRC_PORT], MNL_TYPE_U16) == 0 &&
	    mnl_attr_validate(pr[CTA_PROTO_DST_PORT], MNL_TYPE_U16) == 0) {
		t->sport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_SRC_PORT]));
		t->dport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT]));
		t->ports = true;
	}
	return 0;
}

static bool matches(const struct ct_match *m, int family, const struct entry *e)
{
	size_t alen = family == AF_INET6 ? 16 : 4;

	if (m->family != family || (m->proto && m->proto != e->orig.proto))
		return false;
	if ((m->orig_dst_port || m->reply_src_port) && !e->orig.ports)
		return false;
	if (m->orig_dst_set && memcmp(m->orig_dst, e->orig.dst, alen))
		return false;
	if (m->orig_dst_port && m->orig_dst_port != e->orig.dport)
		return false;
	if (m->reply_src_set && memcmp(m->reply_src, e->reply.src, alen))
		return false;
	if (m->reply_src_port && m->reply_src_port != e->reply.sport)
		return false;
	return true;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	const struct nlattr *tb[CTA_MAX + 1] = { 0 };
	struct tbl t = { tb, CTA_MAX };
	struct entry e = { 0 };

	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), table_cb, &t) < 0)
		return MNL_CB_OK;	/* not ours to judge; skip it */
	if (parse_tuple(tb[CTA_TUPLE_ORIG], d->family, &e.orig) < 0 ||
	    parse_tuple(tb[CTA_TUPLE_REPLY], d->family, &e.reply) < 0)
		return MNL_CB_OK;
	if (tb[CTA_ZONE] && mnl_attr_validate(tb[CTA_ZONE], MNL_TYPE_U16) == 0) {
		e.has_zone = true;
		e.zone = mnl_attr_get_u16(tb[CTA_ZONE]);
	}
	if (!d->want(d->ctx, d->family, &e))
		return MNL_CB_OK;
	if (vec_grow((void **)&d->hits, &d->cap, d->n_hits + 1, sizeof(*d->hits))) {
		d->err = -ENOMEM;
		return MNL_CB_ERROR;
	}
	d->hits[d->n_hits++] = e;
	return MNL_CB_OK;
}

static struct nlmsghdr *ct_msg(char *buf, int type, int flags, int family, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

static void put_tuple(struct nlmsghdr *nlh, int family, const struct tuple *t)
{
	size_t alen = family == AF_INET6 ? 16 : 4;
	struct nlattr *tup = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG), *n;

	n = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put(nlh, family == AF_INET6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, alen, t->src);
	mnl_attr_put(nlh, family == AF_INET6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, alen, t->dst);
	mnl_attr_nest_end(nlh, n);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, t->proto);
	if (t->ports) {
		mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(t->sport));
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(t->dport));
	}
	mnl_attr_nest_end(nlh, n);
	mnl_attr_nest_end(nlh, tup);
}

/*
 * The deletions, DELETE_BATCH messages to a datagram: the kernel takes the
 * messages of one send in order and acknowledges each (NETLINK_CAP_ACK keeps
 * an ack to its header), so a hundred thousand stale entries cost a few
 * hundred round trips, not one each. An entry gone meanwhile (ENOENT) is
 * fine. 0 or a negative errno; *deleted counts the successes.
 */
enum { DELETE_BATCH = 256, DELETE_MSG_MAX = 256 };
static size_t delete_batch = DELETE_BATCH;

void ct_set_delete_batch(size_t n)
{
	delete_batch = n ? n : DELETE_BATCH;
}

static int delete_hits(struct mnl_socket *nl, int family, const struct dump *d, uint32_t *seq,
		       char *buf, size_t cap, int *deleted)
{
	unsigned int portid = mnl_socket_get_portid(nl);

	for (size_t i = 0; i < d->n_hits;) {
		uint32_t first = *seq + 1, last;
		size_t off = 0, sent = 0, acked = 0;

		while (i < d->n_hits && sent < delete_batch && off + DELETE_MSG_MAX <= cap) {
			const struct entry *e = &d->hits[i++];
			struct nlmsghdr *nlh = ct_msg(buf + off, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, family, ++*seq);

			put_tuple(nlh, family, &e->orig);
			if (e->has_zone)
				mnl_attr_put_u16(nlh, CTA_ZONE, e->zone);
			off += NLMSG_ALIGN(nlh->nlmsg_len);
			sent++;
		}
		last = *seq;
		if (mnl_socket_sendto(nl, buf, off) < 0)
			return -errno;
		while (acked < sent) {
			ssize_t len = mnl_socket_recvfrom(nl, buf, cap);
			int left;

			if (len < 0)
				return -errno;
			left = (int)len;
			for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(h, left);
			     h = mnl_nlmsg_next(h, &left)) {
				const struct nlmsgerr *err;

				if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_pid != portid ||
				    h->nlmsg_seq < first || h->nlmsg_seq > last)
					continue;
				err = mnl_nlmsg_get_payload(h);
				acked++;
				if (!err->error)
					(*deleted)++;
				else if (err->error != -ENOENT)	/* gone meanwhile: fine */
					log_warn("conntrack", "delete failed", "family=%d err=%s", family,
						 log_q(strerror(-err->error)));
			}
		}
	}
	return 0;
}

/* Dumps `family`'s table and deletes the matches; returns deletions or -errno. */
static int clean_family(struct mnl_socket *nl, int family, uint8_t proto,
			bool (*want)(void *ctx, int family, const struct entry *e), void *ctx, uint32_t *seq)
{
	/* dumps come in skbs of up to 32 KiB; a smaller read truncates them.
	 * Zeroed: libmnl (1.0.4) leaves attribute padding unwritten, and the
	 * requests built here went out with heap bytes in it (valgrind:
	 * "socketcall.sendto(msg) points to uninitialised byte(s)", the byte
	 * after CTA_PROTO_NUM's u8) */
	enum { BUF = 65536 };
	char *buf = calloc(1, BUF);
	struct dump d = { .family = family, .want = want, .ctx = ctx };
	unsigned int portid = mnl_socket_get_portid(nl);
	uint32_t s = ++*seq;
	struct nlmsghdr *nlh;
	int rc, deleted = 0;

	if (!buf)
		return -ENOMEM;
again:
	nlh = ct_msg(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, family, s);
	if (proto) {
		/* conntrack -L -p udp: the kernel (5.8+) skips the other
		 * protocols, so a table full of TCP costs little; older
		 * kernels ignore it and want() still checks */
		struct nlattr *tup = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
		struct nlattr *pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
		struct nlattr *fl;

		mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
		mnl_attr_nest_end(nlh, pr);
		mnl_attr_nest_end(nlh, tup);
		fl = mnl_attr_nest_start(nlh, CTA_FILTER);
		mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, CTA_FILTER_FLAG_CTA_PROTO_NUM);
		mnl_attr_put_u32(nlh, CTA_FILTER_REPLY_FLAGS, 0);
		mnl_attr_nest_end(nlh, fl);
	}

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		rc = -errno;
		goto fail;
	}
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(nl, buf, BUF);

		if (len < 0) {
			rc = -errno;
			goto fail;
		}
		rc = nl_frames_ok(buf, (size_t)len) ? mnl_cb_run(buf, len, s, portid, dump_cb, &d) :
			(errno = EBADMSG, -1);
		if (rc == MNL_CB_STOP)
			break;
		if (rc < 0) {
			rc = d.err ? d.err : nl_errno();
			/* a kernel that refuses the filter: dump everything */
			if (proto && !d.n_hits && (rc == -EINVAL || rc == -EOPNOTSUPP)) {
				log_v(2, "conntrack", "kernel dump filter refused, dumping all", "");
				proto = 0;
				s = ++*seq;
				goto again;
			}
			/* ENOENT: conntrack not loaded in this namespace, nothing tracked */
			if (rc == -ENOENT) {
				free(d.hits);
				free(buf);
				return 0;
			}
			goto fail;
		}
	}
	rc = delete_hits(nl, family, &d, seq, buf, BUF, &deleted);
	if (rc < 0)
		goto fail;
	free(d.hits);
	free(buf);
	return deleted;
fail:
	free(d.hits);
	free(buf);
	if (rc == -EINTR)
		log_v(2, "conntrack", "dump interrupted by a change, again", "family=%d", family);
	else
		log_err("conntrack", "conntrack dump failed", "family=%d err=%s", family, log_q(strerror(-rc)));
	return rc;
}

struct match_list {
	const struct ct_match *m;
	size_t n;
};

static bool want_match(void *ctx, int family, const struct entry *e)
{
	const struct match_list *l = ctx;

	for (size_t i = 0; i < l->n; i++)
		if (matches(&l->m[i], family, e))
			return true;
	return false;
}

/* Runs `want` over the tables of the families in fams[2]; returns deletions. */
static int clean(const bool fams[2], uint8_t proto, bool (*want)(void *, int, const struct entry *), void *ctx)
{
	static const int fam[] = { AF_INET, AF_INET6 };
	struct mnl_socket *nl;
	uint32_t seq = (uint32_t)time(NULL);
	int total = 0;

	if (!fams[0] && !fams[1])
		return 0;
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (nl) {
		int one = 1;

		/* acks without a copy of each request: a batch's acks fit */
		mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	}
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = -errno;

		log_err("conntrack", "cannot open ctnetlink", "err=%s", log_q(strerror(-err)));
		if (nl)
			mnl_socket_close(nl);
		return err;
	}
	for (size_t f = 0; f < 2; f++) {
		int rc;

		if (!fams[f])
			continue;
		/* EINTR: the table changed during the dump (NLM_F_DUMP_INTR);
		 * dump again rather than act on a torn view */
		for (int tries = 0; tries < 3; tries++) {
			rc = clean_family(nl, fam[f], proto, want, ctx, &seq);
			if (rc != -EINTR)
				break;
		}
		if (rc < 0) {
			mnl_socket_close(nl);
			return rc;
		}
		total += rc;
	}
	mnl_socket_close(nl);
	if (total)
		log_v(2, "conntrack", "deleted stale entries", "entries=%d", total);
	return total;
}

int ct_parse_dump(const void *buf, size_t len, int family, const struct ct_match *m, size_t n)
{
	struct match_list l = { m, n };
	struct dump d = { .family = family, .want = want_match, .ctx = &l };
	int rc;

	/* seq and portid 0: libmnl checks neither */
	rc = nl_frames_ok(buf, len) ? mnl_cb_run(buf, len, 0, 0, dump_cb, &d) : (errno = EBADMSG, -1);
	free(d.hits);
	if (d.err)
		return d.err;
	return rc < 0 ? nl_errno() : (int)d.n_hits;
}

int ct_delete(const struct ct_match *m, size_t n)
{
	struct match_list l = { m, n };
	bool fams[2] = { false, false };

	uint8_t proto = n ? m[0].proto : 0;

	for (size_t i = 0; i < n; i++) {
		fams[m[i].family == AF_INET6] = true;
		if (m[i].proto != proto)
			proto = 0;	/* mixed: no kernel filter */
	}
	return clean(fams, proto, want_match, &l);
}

/* ---- the reconciler ---- */

int ct_frontend_ip(struct ct_frontend *f, const char *ip, uint16_t port)
{
	int fam;

	memset(f, 0, sizeof(*f));
	if (parse_ip(&fam, f->addr, ip) < 0)
		return -EINVAL;
	f->family = fam;
	f->port = port;
	return 0;
}

int ct_frontend_nodeport(struct ct_frontend *f, int family, uint16_t node_port)
{
	memset(f, 0, sizeof(*f));
	if ((family != AF_INET && family != AF_INET6) || !node_port)
		return -EINVAL;
	f->family = family;
	f->node_port = true;
	f->port = node_port;
	return 0;
}

int ct_backend_set(struct ct_backend *b, int family, const char *ip, uint16_t port)
{
	int fam;

	memset(b, 0, sizeof(*b));
	if (parse_ip(&fam, b->addr, ip) < 0)
		return -EINVAL;
	if (fam != family) {
		log_err("conntrack", "endpoint of the wrong family", "ip=%s", log_q(ip));
		return -EINVAL;
	}
	b->port = port;
	return 0;
}

struct fe_node {
	struct hnode node;
	const struct ct_frontend *f;
};

struct recon {
	const struct ct_frontend *f;
	size_t n;
	struct htab ips;	/* Service IP frontends (struct fe_node) by address and port */
	struct fe_node *nodes;
	int32_t *np;		/* [65536]: NodePort frontend index or -1; NULL when none */
};

static uint64_t fe_hash(const uint8_t *a, size_t alen, uint16_t port)
{
	return hash_bytes(a, alen, hash_bytes(&port, sizeof(port), HASH_SEED));
}

static const struct ct_frontend *fe_find(const struct recon *r, const uint8_t *a, size_t alen,
					 uint16_t port)
{
	uint64_t h = fe_hash(a, alen, port);

	for (struct hnode *n = htab_first(&r->ips, h); n; n = htab_next(n, h)) {
		const struct ct_frontend *f = container_of(n, struct fe_node, node)->f;
		if (f->port == port && !memcmp(f->addr, a, alen))
			return f;
	}
	return NULL;
}

static int recon_index(struct recon *r, int family)
{
	size_t alen = family == AF_INET6 ? 16 : 4;

	r->nodes = calloc(r->n + 1, sizeof(*r->nodes));
	if (!r->nodes)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		const struct ct_frontend *f = &r->f[i];

		if (f->family != family)
			continue;
		if (f->node_port) {
			/* kube-proxy skips these: "*:port" with nothing serving
			 * would hit unrelated flows to that port */
			if (!f->n_serving)
				continue;
			if (!r->np) {
				r->np = malloc(65536 * sizeof(*r->np));
				if (!r->np)
					return -ENOMEM;
				memset(r->np, 0xff, 65536 * sizeof(*r->np));
			}
			if (r->np[f->port] < 0)
				r->np[f->port] = (int32_t)i;
			continue;
		}
		if (fe_find(r, f->addr, alen, f->port))
			continue;	/* listed twice: the first wins */
		r->nodes[i].f = f;
		if (htab_add(&r->ips, &r->nodes[i].node, fe_hash(f->addr, alen, f->port)))
			return -ENOMEM;
	}
	return 0;
}

static bool serving(const struct ct_frontend *f, const struct tuple *reply, size_t alen)
{
	for (size_t i = 0; i < f->n_serving; i++)
		if (f->serving[i].port == reply->sport && !memcmp(f->serving[i].addr, reply->src, alen))
			return true;
	return false;
}

static bool want_recon(void *ctx, int family, const struct entry *e)
{
	const struct recon *r = ctx;
	size_t alen = family == AF_INET6 ? 16 : 4;

	if (e->orig.proto != IPPROTO_UDP || !e->orig.ports || !e->reply.ports)
		return false;
	const struct ct_frontend *f = fe_find(r, e->orig.dst, alen, e->orig.dport);

	/* A Service IP frontend decides alone. kube-proxy goes on to the
	 * NodePort test when the endpoint is serving, which can delete a
	 * healthy flow whose Service port equals another Service's NodePort;
	 * ferry does not. */
	if (f)
		return !serving(f, &e->reply, alen);
	if (r->np && r->np[e->orig.dport] >= 0)
		return !serving(&r->f[r->np[e->orig.dport]], &e->reply, alen);
	return false;
}

int ct_reconcile(const struct ct_frontend *f, size_t n)
{
	static const int fam[] = { AF_INET, AF_INET6 };
	int total = 0;

	for (size_t k = 0; k < 2; k++) {
		struct recon r = { .f = f, .n = n };
		bool fams[2] = { k == 0, k == 1 }, any = false;
		int rc;

		for (size_t i = 0; i < n && !any; i++)
			any = f[i].family == fam[k];
		if (!any)
			continue;
		rc = recon_index(&r, fam[k]);
		if (rc == 0)
			rc = clean(fams, IPPROTO_UDP, want_recon, &r);
		htab_free(&r.ips);
		free(r.nodes);
		free(r.np);
		if (rc < 0)
			return rc;
		total += rc;
	}
	return total;
}
