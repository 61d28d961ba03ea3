/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One nftables netlink batch, for sync.c and kpcleanup.c alike: sequence
 * numbers, a note per message saying what it is about (so a refusal names
 * its Service or object), sending, and reading the kernel's answers with
 * its extended ack text. Also the small request/answer exchanges (the
 * ruleset generation, dumps).
 */
#include "nft/internal.h"
#include "core/log.h"
#include "core/nlframe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int note(struct nbatch *bt, const char *what)
{
	if (vec_reserve(&bt->what, (size_t)nbatch_count(bt) + 1))
		return -ENOMEM;
	bt->what.v[nbatch_count(bt)] = what;
	bt->what.n = (size_t)nbatch_count(bt) + 1;
	return 0;
}

/* Big pages: a cold sync of 30,000 Services is tens of MiB. A message
 * is written whole past a page's end, so the overrun must hold the
 * biggest one (element messages stay under 64 KiB, see elems.c). */
#define PAGE_SIZE_B (1u << 20)
#define PAGE_OVERRUN_B (1u << 17)

/* libnftnl's pages come from malloc and libmnl (1.0.4, Debian 12) writes no
 * attribute padding (mnl_attr_put: "ferry\0" is 6 bytes, 2 left as they
 * were), so heap garbage went to the kernel with each batch (valgrind:
 * "sendmsg(msg.msg_iov[0]) points to uninitialised byte(s)"). The bytes
 * ahead of the write position are zeroed before each message, an overrun's
 * worth (the most one message takes) and more at a time, so a small sync
 * zeroes 256 KiB, not the whole page: called after nftnl_batch_alloc and
 * after every nftnl_batch_update, which may start a page (with the message
 * that overran the last one already copied in). */
static void zero_ahead(struct nbatch *bt)
{
	char *cur = nftnl_batch_buffer(bt->b);
	size_t used = (size_t)nftnl_batch_buffer_len(bt->b), to;

	if (cur - used != bt->page) {
		bt->page = cur - used;
		bt->zeroed = used;
	}
	if (bt->zeroed >= used + PAGE_OVERRUN_B)
		return;
	to = used + 2 * PAGE_OVERRUN_B;
	if (to > PAGE_SIZE_B + PAGE_OVERRUN_B)
		to = PAGE_SIZE_B + PAGE_OVERRUN_B;
	memset(bt->page + bt->zeroed, 0, to - bt->zeroed);
	bt->zeroed = to;
}

int nbatch_init(struct nbatch *bt, uint32_t seq, uint32_t genid, bool use_genid)
{
	memset(bt, 0, sizeof(*bt));
	bt->b = nftnl_batch_alloc(PAGE_SIZE_B, PAGE_OVERRUN_B);
	if (!bt->b)
		return -ENOMEM;
	zero_ahead(bt);
	bt->seq0 = bt->seq = seq;
	if (note(bt, "batch begin")) {
		nbatch_free(bt);
		return -ENOMEM;
	}
	struct nlmsghdr *nlh = nftnl_batch_begin(nftnl_batch_buffer(bt->b), bt->seq++);
	/* The kernel refuses the batch (ERESTART) if the ruleset moved on
	 * since we read the generation: nobody's change is overwritten. */
	if (use_genid)
		mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
	nftnl_batch_update(bt->b);
	zero_ahead(bt);
	return 0;
}

void nbatch_free(struct nbatch *bt)
{
	if (bt->b)
		nftnl_batch_free(bt->b);
	for (size_t i = 0; i < bt->owned.n; i++)
		free(bt->owned.v[i]);
	vec_free(&bt->owned);
	vec_free(&bt->what);
	memset(bt, 0, sizeof(*bt));
}

/* A message's header, with its note; NULL: out of memory. */
static struct nlmsghdr *msg_start(struct nbatch *bt, uint16_t type, int family, uint16_t flags,
				  const char *what, bool copy)
{
	if (copy) {
		char *c = strdup(what);
		if (!c || vec_push(&bt->owned, c)) {
			free(c);
			return NULL;
		}
		what = c;
	}
	if (note(bt, what))
		return NULL;
	return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(bt->b), type, (uint16_t)family, flags,
				     bt->seq++);
}

static void msg_end(struct nbatch *bt)
{
	nftnl_batch_update(bt->b);
	zero_ahead(bt);
}

int nbatch_put(struct nbatch *bt, uint16_t type, int family, uint16_t flags,
	       const char *what, bool copy, enum nobj kind, const void *obj)
{
	struct nlmsghdr *nlh = obj ? msg_start(bt, type, family, flags, what, copy) : NULL;

	if (!nlh)
		return -ENOMEM;
	switch (kind) {
	case NOBJ_TABLE: nftnl_table_nlmsg_build_payload(nlh, (struct nftnl_table *)obj); break;
	case NOBJ_CHAIN: nftnl_chain_nlmsg_build_payload(nlh, (struct nftnl_chain *)obj); break;
	case NOBJ_RULE: nftnl_rule_nlmsg_build_payload(nlh, (struct nftnl_rule *)obj); break;
	case NOBJ_SET: nftnl_set_nlmsg_build_payload(nlh, (struct nftnl_set *)obj); break;
	case NOBJ_ELEMS: nftnl_set_elems_nlmsg_build_payload(nlh, (struct nftnl_set *)obj); break;
	}
	msg_end(bt);
	return 0;
}

int nbatch_put_elems(struct nbatch *bt, uint16_t type, int family, uint16_t flags,
		     const char *what, const char *set, const void *list, uint32_t len)
{
	struct nlmsghdr *nlh = msg_start(bt, type, family, flags, what, false);

	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	struct nlattr *nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	memcpy(mnl_nlmsg_get_payload_tail(nlh), list, len);
	nlh->nlmsg_len += len;
	mnl_attr_nest_end(nlh, nest);
	msg_end(bt);
	return 0;
}

static int ext_ack_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **msg = data;

	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		*msg = a;
	return MNL_CB_OK;
}

/*
 * With NETLINK_EXT_ACK the kernel appends attributes to an error
 * (NLM_F_ACK_TLVS) after the struct nlmsgerr, which carries a copy of the
 * refused message unless NETLINK_CAP_ACK cut it to its header (NLM_F_CAPPED).
 */
const char *nl_ext_ack_msg(const struct nlmsghdr *h)
{
	const struct nlattr *msg = NULL;

	if (h->nlmsg_type != NLMSG_ERROR || !(h->nlmsg_flags & NLM_F_ACK_TLVS) ||
	    h->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nlmsgerr))
		return NULL;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
	size_t off = sizeof(*e);
	if (!(h->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < NLMSG_HDRLEN)
			return NULL;
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	}
	if (NLMSG_HDRLEN + off > h->nlmsg_len)
		return NULL;
	if (mnl_attr_parse(h, (unsigned int)off, ext_ack_cb, &msg) < 0 && !msg)
		return NULL;
	return msg ? mnl_attr_get_str(msg) : NULL;
}

/* Ask for an ack of the last message only: success costs one reply, and an
 * error names its message by sequence number. */
static void ack_last(struct iovec *iov, int n_iov, uint32_t last)
{
	for (int i = 0; i < n_iov; i++) {
		char *p = iov[i].iov_base;
		for (size_t o = 0; o + sizeof(struct nlmsghdr) <= iov[i].iov_len;) {
			struct nlmsghdr *h = (struct nlmsghdr *)(p + o);
			if (h->nlmsg_seq == last) {
				h->nlmsg_flags |= NLM_F_ACK;
				return;
			}
			o += NLMSG_ALIGN(h->nlmsg_len);
		}
	}
}

int nbatch_send(struct mnl_socket *nl, struct nbatch *bt, const char *sub, const char **bad)
{
	uint32_t last = bt->seq - 1;
	const char *culprit = NULL;
	int err = 0;

	if (bad)
		*bad = NULL;
	if (note(bt, "batch end"))
		return -ENOMEM;
	nftnl_batch_end(nftnl_batch_buffer(bt->b), bt->seq++);
	nftnl_batch_update(bt->b);

	int n_iov = nftnl_batch_iovec_len(bt->b);
	struct iovec *iov = calloc((size_t)n_iov, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	nftnl_batch_iovec(bt->b, iov, (uint32_t)n_iov);
	size_t total = 0;
	for (int i = 0; i < n_iov; i++)
		total += iov[i].iov_len;
	ack_last(iov, n_iov, last);
	int sz = (int)(total + 65536);
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct msghdr msg = { .msg_name = &snl, .msg_namelen = sizeof(snl),
			      .msg_iov = iov, .msg_iovlen = (size_t)n_iov };
	ssize_t ret = sendmsg(mnl_socket_get_fd(nl), &msg, 0);
	free(iov);
	if (ret < 0) {
		err = -errno;
		log_err(sub, "netlink send failed", "err=%s bytes=%zu", log_q(strerror(-err)), total);
		return err;
	}

	char buf[MNL_SOCKET_BUFFER_SIZE];
	bool done = false;
	while (!done) {
		struct pollfd pfd = { .fd = mnl_socket_get_fd(nl), .events = POLLIN };
		/* After an error the kernel may not ack the last message: once
		 * an error is in, stop at the first quiet moment. */
		int pr = poll(&pfd, 1, err ? 50 : 30000);
		if (pr <= 0) {
			if (!err) {
				log_err(sub, "no answer from the kernel", "");
				err = -ETIMEDOUT;
			}
			break;
		}
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			err = err ? err : -errno;
			break;
		}
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		int len = (int)n;
		for (; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
			if (e->error) {
				const char *what = "?", *kmsg = nl_ext_ack_msg(h);
				if (h->nlmsg_seq >= bt->seq0 && h->nlmsg_seq < bt->seq)
					what = bt->what.v[h->nlmsg_seq - bt->seq0];
				if (kmsg)
					log_err(sub, "kernel refused a change", "object=%s err=%s seq=%u kernel=%s",
						log_q(what), log_q(strerror(-e->error)), h->nlmsg_seq,
						log_q(kmsg));
				else
					log_err(sub, "kernel refused a change", "object=%s err=%s seq=%u",
						log_q(what), log_q(strerror(-e->error)), h->nlmsg_seq);
				if (!err)
					err = e->error;
				/* The first refused message names the culprit
				 * (a Service key, or a set or object name). */
				if (!culprit)
					culprit = what;
				if (h->nlmsg_seq == bt->seq0)
					done = true;
			}
			if (h->nlmsg_seq == last)
				done = true;
		}
	}
	if (bad)
		*bad = culprit;
	return err;
}

/* Dumps come in skbs of up to 32 KiB; a smaller read truncates them. */
#define DUMP_BUF 65536

int nl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh,
	    int (*cb)(const struct nlmsghdr *, void *), void *data)
{
	uint32_t seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(nl);
	char *buf = malloc(DUMP_BUF);
	int r;

	if (!buf)
		return -ENOMEM;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, DUMP_BUF);
		if (n < 0) {
			r = -errno;
			break;
		}
		r = nl_frames_ok(buf, (size_t)n) ? mnl_cb_run(buf, (size_t)n, seq, portid, cb, data) :
			(errno = EBADMSG, -1);
		if (r <= 0) {
			r = r < 0 ? nl_errno() : 0;
			break;
		}
	}
out:
	free(buf);
	return r;
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nftnl_gen_alloc();

	if (!g)
		return MNL_CB_ERROR;	/* errno is ENOMEM */
	if (nftnl_gen_nlmsg_parse(nlh, g) == 0)
		*(uint32_t *)data = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

int nl_get_genid(struct mnl_socket *nl, uint32_t *seq, uint32_t *genid)
{
	char buf[256];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, ++*seq);

	return nl_talk(nl, nlh, gen_cb, genid);
}
