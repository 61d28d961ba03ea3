/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Layer-2 I/O (see l2io.h): rtnetlink, AF_PACKET sockets, answers,
 * gratuitous frames and heartbeat frames. Touches the world for lbip/l2pkt.
 */
#include "src/l2io.h"

#include "core/hash.h"
#include "core/nlframe.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/vec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/filter.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* gratuitous schedule after taking an address, ms from the take */
static const uint32_t garp_at[] = { 0, 500, 1000, 2000 };
#define GARP_STEPS (sizeof(garp_at) / sizeof(garp_at[0]))

struct iface {
	struct l2io_if pub;
	VEC(struct l2io_pfx) pfx;
	struct l2io *io;
	int fd;
	struct loop_io lio;
	bool beat;
	VEC(struct lb_addr) groups;	/* solicited-node groups joined */
};

struct ann {
	struct hnode node;		/* hashed by ip alone */
	struct l2io_ann a;
	unsigned step;			/* next gratuitous step */
	uint64_t t0;			/* when taken (or restarted) */
	bool keep;
};

struct l2io {
	struct loop *loop;
	const struct l2io_ops *ops;
	void *arg;
	char **only;
	size_t n_only;
	VEC(struct iface *) ifs;
	VEC(struct l2io_if) pub;	/* l2io_ifs' view */
	struct mnl_socket *mon;		/* notifications */
	struct loop_io mon_io;
	struct loop_timer refresh_timer, garp_timer;
	int v6fd;			/* IPV6_JOIN_GROUP (MLD reports); -1 without IPv6 */
	struct htab anns;
};

static uint64_t ip_hash(const struct lb_addr *ip)
{
	return hash_bytes(ip->b, ip->family == 4 ? 4 : 16, HASH_SEED + ip->family);
}

static void count(struct l2io *io, const char *what, const char *why)
{
	if (io->ops->count)
		io->ops->count(io->arg, what, why);
}

static struct iface *if_find(const struct l2io *io, int ifindex)
{
	for (size_t i = 0; i < io->ifs.n; i++)
		if (io->ifs.v[i]->pub.ifindex == ifindex)
			return io->ifs.v[i];
	return NULL;
}

static struct ann *ann_find(const struct l2io *io, const struct lb_addr *ip, int ifindex)
{
	uint64_t h = ip_hash(ip);

	for (struct hnode *n = htab_first(&io->anns, h); n; n = htab_next(n, h)) {
		struct ann *x = container_of(n, struct ann, node);

		if (!lb_addr_cmp(&x->a.ip, ip) && (ifindex == 0 || x->a.ifindex == ifindex))
			return x;
	}
	return NULL;
}

/* ---- sending ---- */

static void send_frame(struct iface *f, const uint8_t *buf, int len, const char *what)
{
	if (len <= 0 || f->fd < 0)
		return;
	if (send(f->fd, buf, (size_t)len, MSG_DONTWAIT) < 0) {
		log_v(1, "l2", "send failed", "if=%s what=%s err=%s", f->pub.name, what,
		      log_q(strerror(errno)));
		return;
	}
	count(f->io, what, NULL);
}

static void send_gratuitous(struct iface *f, const struct lb_addr *ip)
{
	uint8_t buf[L2_FRAME_MAX];

	if (ip->family == 4) {
		send_frame(f, buf, l2_build_garp(ip, f->pub.mac, false, buf, sizeof(buf)), "garp");
		send_frame(f, buf, l2_build_garp(ip, f->pub.mac, true, buf, sizeof(buf)), "garp");
	} else {
		send_frame(f, buf, l2_build_unsolicited_na(ip, f->pub.mac, buf, sizeof(buf)), "una");
	}
}

static void garp_run(struct loop_timer *t)
{
	struct l2io *io = t->arg;
	uint64_t now = loop_now_ms(), next = UINT64_MAX;
	int sent = 0;

	HTAB_WALK(&io->anns, n) {
		struct ann *x = container_of(n, struct ann, node);
		struct iface *f;

		while (x->step < GARP_STEPS && x->t0 + garp_at[x->step] <= now) {
			if (sent >= L2IO_BURST)
				break;
			if ((f = if_find(io, x->a.ifindex)) && f->fd >= 0)
				send_gratuitous(f, &x->a.ip);
			x->step++;
			sent++;
		}
		if (x->step < GARP_STEPS && x->t0 + garp_at[x->step] < next)
			next = x->t0 + garp_at[x->step];
	}
	/* rate limit: what is left over goes out 10 ms later */
	if (sent >= L2IO_BURST && next < now + 10)
		next = now + 10;
	if (next != UINT64_MAX)
		loop_timer_arm(io->loop, &io->garp_timer, next > now ? next - now : 0);
}

static void garp_restart(struct l2io *io, int ifindex)
{
	uint64_t now = loop_now_ms();

	HTAB_WALK(&io->anns, n) {
		struct ann *x = container_of(n, struct ann, node);

		if (ifindex == 0 || x->a.ifindex == ifindex) {
			x->step = 0;
			x->t0 = now;
		}
	}
	loop_timer_arm(io->loop, &io->garp_timer, 0);
}

int l2io_send_beat(struct l2io *io, const uint8_t *p, size_t n)
{
	uint8_t buf[L2_ETH_HLEN + 512];
	int sent = 0;

	if (n > sizeof(buf) - L2_ETH_HLEN)
		return -EINVAL;
	for (size_t i = 0; i < io->ifs.n; i++) {
		struct iface *f = io->ifs.v[i];

		if (f->fd < 0 || !f->beat)
			continue;
		memset(buf, 0xff, L2_ETH_ALEN);
		memcpy(buf + 6, f->pub.mac, L2_ETH_ALEN);
		buf[12] = L2IO_ETHERTYPE_BEAT >> 8;
		buf[13] = L2IO_ETHERTYPE_BEAT & 0xff;
		memcpy(buf + L2_ETH_HLEN, p, n);
		if (send(f->fd, buf, L2_ETH_HLEN + n, MSG_DONTWAIT) == (ssize_t)(L2_ETH_HLEN + n))
			sent++;
	}
	return sent;
}

/* ---- receiving ---- */

static void answer(struct iface *f, const struct l2_msg *m)
{
	uint8_t buf[L2_FRAME_MAX];
	bool v4 = m->kind == L2_ARP_REQUEST;

	if (m->kind != L2_ARP_REQUEST && m->kind != L2_NDP_NS)
		return;
	/* someone else's announcement (sender = target), not a question */
	if (v4 && !lb_addr_cmp(&m->sender, &m->target))
		return;
	if (!ann_find(f->io, &m->target, f->pub.ifindex))
		return;
	send_frame(f, buf, l2_build_reply(m, f->pub.mac, buf, sizeof(buf)), v4 ? "arp" : "ndp");
}

static void on_packet(struct loop_io *lio, uint32_t events)
{
	struct iface *f = lio->arg;
	uint8_t buf[2048];
	struct sockaddr_ll sll;
	socklen_t sl;
	ssize_t n;

	for (int i = 0; i < 64; i++) {
		struct l2_msg m;
		const char *why = NULL;
		int rc;

		sl = sizeof(sll);
		n = recvfrom(f->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&sll, &sl);
		if (n < 0)
			return;
		/* our own frames come back on ETH_P_ALL; others' unicast in promisc */
		if (sll.sll_pkttype == PACKET_OUTGOING || sll.sll_pkttype == PACKET_OTHERHOST)
			continue;
		if (n >= L2_ETH_HLEN && buf[12] == (L2IO_ETHERTYPE_BEAT >> 8) &&
		    buf[13] == (L2IO_ETHERTYPE_BEAT & 0xff)) {
			f->io->ops->beat(f->io->arg, f->pub.ifindex, buf + L2_ETH_HLEN,
					 (size_t)n - L2_ETH_HLEN);
			continue;
		}
		rc = l2_parse(buf, (size_t)n, &m, &why);
		if (rc == -EBADMSG) {
			log_v(2, "l2", "malformed frame ignored", "if=%s why=%s", f->pub.name,
			      log_q(why ? why : "?"));
			count(f->io, "bad", why);
		} else if (rc == 0) {
			answer(f, &m);
		}
	}
	(void)events;
}

/* ---- the sockets ---- */

/* ARP, heartbeat frames, and IPv6 packets whose next header is ICMPv6 and
 * whose type is 135 (NS); everything else stays in the kernel.
 *   tcpdump -d 'arp or ether proto 0x88b5 or (ip6 and ip6[6]=58 and ip6[40]=135)' */
static const struct sock_filter filter[] = {
	BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_ARP, 7, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, L2IO_ETHERTYPE_BEAT, 6, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 4),
	BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_ICMPV6, 0, 2),
	BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 54),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 135, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, 0),
	BPF_STMT(BPF_RET | BPF_K, 0x40000),
};

static int if_open(struct iface *f)
{
	struct sock_fprog prog = { sizeof(filter) / sizeof(filter[0]), (struct sock_filter *)filter };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = f->pub.ifindex };
	int fd, err;

	/* protocol 0 receives nothing until bound: the filter is in place first */
	if ((fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if ((err = loop_io_add(f->io->loop, &f->lio, fd, EPOLLIN, on_packet, f)) < 0) {
		close(fd);
		return err;
	}
	f->fd = fd;
	f->groups.n = 0;	/* a new socket has joined nothing */
	return 0;
}

static void group_leave_all(struct iface *f)
{
	for (size_t i = 0; i < f->groups.n; i++) {
		struct ipv6_mreq mr = { .ipv6mr_interface = (unsigned)f->pub.ifindex };

		memcpy(&mr.ipv6mr_multiaddr, f->groups.v[i].b, 16);
		if (f->io->v6fd >= 0)
			setsockopt(f->io->v6fd, IPPROTO_IPV6, IPV6_LEAVE_GROUP, &mr, sizeof(mr));
	}
	f->groups.n = 0;
}

static void if_close(struct iface *f)
{
	if (f->fd < 0)
		return;
	group_leave_all(f);
	loop_io_del(f->io->loop, &f->lio);
	close(f->fd);	/* drops the PACKET memberships with it */
	f->fd = -1;
}

static void if_free(struct iface *f)
{
	if_close(f);
	vec_free(&f->pfx);
	vec_free(&f->groups);
	free(f);
}

/* Join (or leave) one solicited-node group on f: the NIC's filter through
 * the packet socket, and MLD through the IPv6 socket. */
static int group_op(struct iface *f, const struct lb_addr *g, bool join)
{
	struct packet_mreq pm = { .mr_ifindex = f->pub.ifindex, .mr_type = PACKET_MR_MULTICAST,
				  .mr_alen = L2_ETH_ALEN };
	struct ipv6_mreq mr = { .ipv6mr_interface = (unsigned)f->pub.ifindex };

	l2_mcast_mac(g, pm.mr_address);
	if (setsockopt(f->fd, SOL_PACKET, join ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP,
		       &pm, sizeof(pm)) < 0 && join)
		return -errno;
	memcpy(&mr.ipv6mr_multiaddr, g->b, 16);
	if (f->io->v6fd >= 0)
		setsockopt(f->io->v6fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP,
			   &mr, sizeof(mr));	/* best effort: no IPv6 on this link is fine */
	return 0;
}

/* Make f's joined groups those of the IPv6 addresses announced on it. */
static void groups_sync(struct l2io *io, struct iface *f)
{
	VEC(struct lb_addr) want = { 0 };

	if (f->fd < 0)
		return;
	HTAB_WALK(&io->anns, n) {
		struct ann *x = container_of(n, struct ann, node);
		struct lb_addr g;
		bool dup = false;

		if (x->a.ifindex != f->pub.ifindex || x->a.ip.family != 6)
			continue;
		l2_solicited_node(&x->a.ip, &g);
		for (size_t i = 0; i < want.n && !dup; i++)
			dup = !lb_addr_cmp(&want.v[i], &g);
		if (!dup && vec_push(&want, g) < 0)
			break;
	}
	for (size_t i = 0; i < f->groups.n;) {
		bool keep = false;

		for (size_t j = 0; j < want.n && !keep; j++)
			keep = !lb_addr_cmp(&want.v[j], &f->groups.v[i]);
		if (keep) {
			i++;
			continue;
		}
		group_op(f, &f->groups.v[i], false);
		f->groups.v[i] = f->groups.v[--f->groups.n];
	}
	for (size_t j = 0; j < want.n; j++) {
		bool have = false;
		int rc;

		for (size_t i = 0; i < f->groups.n && !have; i++)
			have = !lb_addr_cmp(&want.v[j], &f->groups.v[i]);
		if (have)
			continue;
		if ((rc = group_op(f, &want.v[j], true)) < 0) {
			log_warn("l2", "cannot join solicited-node group", "if=%s err=%s", f->pub.name,
				 log_q(strerror(-rc)));
			continue;
		}
		if (vec_push(&f->groups, want.v[j]) < 0)
			group_op(f, &want.v[j], false);
	}
	vec_free(&want);
}

/* A socket only where needed: on an interface that carries beats or
 * announces something (a node with many pod veths keeps no socket on
 * them), and only while it is usable. */
static void socket_sync(struct l2io *io, struct iface *f)
{
	bool want = f->beat;
	int rc;

	HTAB_WALK(&io->anns, n) {
		if (want)
			break;
		want = container_of(n, struct ann, node)->a.ifindex == f->pub.ifindex;
	}
	want = want && f->pub.usable;
	if (!want && f->fd >= 0) {
		log_v(1, "l2", "packet socket closed", "if=%s", f->pub.name);
		if_close(f);
	} else if (want && f->pub.usable && f->fd < 0) {
		if ((rc = if_open(f)) < 0)
			log_warn("l2", "cannot open a packet socket", "if=%s err=%s", f->pub.name,
				 log_q(strerror(-rc)));
		else
			log_info("l2", "packet socket open", "if=%s ifindex=%d", f->pub.name, f->pub.ifindex);
	}
	if (f->pub.usable && f->fd >= 0)
		groups_sync(io, f);
	else
		f->groups.n = 0;
}

/* ---- rtnetlink: the interfaces ---- */

struct dump {
	struct l2io *io;
	VEC(struct iface *) ifs;
	int err;
};

static struct iface *dump_if(struct dump *d, int ifindex)
{
	for (size_t i = 0; i < d->ifs.n; i++)
		if (d->ifs.v[i]->pub.ifindex == ifindex)
			return d->ifs.v[i];
	return NULL;
}

static bool name_allowed(const struct l2io *io, const char *name)
{
	if (!io->n_only)
		return true;
	for (size_t i = 0; i < io->n_only; i++)
		if (!strcmp(io->only[i], name))
			return true;
	return false;
}

static int on_link(const struct nlmsghdr *nlh, void *arg)
{
	struct dump *d = arg;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct nlattr *at;
	struct iface *f;
	bool has_mac = false;

	if (nlh->nlmsg_type != RTM_NEWLINK || !(f = calloc(1, sizeof(*f))))
		return MNL_CB_OK;
	f->io = d->io;
	f->fd = -1;
	f->pub.ifindex = ifi->ifi_index;
	mnl_attr_for_each(at, nlh, sizeof(*ifi)) {
		if (mnl_attr_get_type(at) == IFLA_IFNAME && mnl_attr_validate(at, MNL_TYPE_STRING) == 0)
			snprintf(f->pub.name, sizeof(f->pub.name), "%s", mnl_attr_get_str(at));
		else if (mnl_attr_get_type(at) == IFLA_ADDRESS &&
			 mnl_attr_get_payload_len(at) == L2_ETH_ALEN) {
			memcpy(f->pub.mac, mnl_attr_get_payload(at), L2_ETH_ALEN);
			has_mac = true;
		}
	}
	f->pub.up = (ifi->ifi_flags & IFF_UP) && (ifi->ifi_flags & IFF_LOWER_UP);
	/* usable: Ethernet with ARP, not loopback. veth counts: the e2e nodes
	 * (and some real setups) reach their LAN through one. */
	f->pub.usable = f->pub.up && has_mac && ifi->ifi_type == ARPHRD_ETHER &&
			!(ifi->ifi_flags & (IFF_NOARP | IFF_LOOPBACK)) && f->pub.name[0] &&
			name_allowed(d->io, f->pub.name);
	if (vec_push(&d->ifs, f) < 0) {
		free(f);
		d->err = -ENOMEM;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

static int on_addr(const struct nlmsghdr *nlh, void *arg)
{
	struct dump *d = arg;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct nlattr *at;
	struct l2io_pfx p = { .plen = ifa->ifa_prefixlen };
	const void *addr = NULL, *local = NULL;
	struct iface *f;

	if (nlh->nlmsg_type != RTM_NEWADDR || !(f = dump_if(d, (int)ifa->ifa_index)))
		return MNL_CB_OK;
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return MNL_CB_OK;
	p.addr.family = ifa->ifa_family == AF_INET ? 4 : 6;
	mnl_attr_for_each(at, nlh, sizeof(*ifa)) {
		size_t want = p.addr.family == 4 ? 4 : 16;

		if (mnl_attr_get_payload_len(at) != want)
			continue;
		if (mnl_attr_get_type(at) == IFA_ADDRESS)
			addr = mnl_attr_get_payload(at);
		else if (mnl_attr_get_type(at) == IFA_LOCAL)
			local = mnl_attr_get_payload(at);
	}
	if (local)
		addr = local;	/* IFA_ADDRESS is the peer on point-to-point links */
	if (!addr || p.plen > (p.addr.family == 4 ? 32 : 128))
		return MNL_CB_OK;
	memcpy(p.addr.b, addr, p.addr.family == 4 ? 4 : 16);
	if (vec_push(&f->pfx, p) < 0)
		d->err = -ENOMEM;
	return MNL_CB_OK;
}

static int dump_one(struct mnl_socket *nl, uint16_t type, mnl_cb_t cb, struct dump *d)
{
	char buf[MNL_SOCKET_BUFFER_SIZE > 32768 ? MNL_SOCKET_BUFFER_SIZE : 32768];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtgenmsg *g;
	unsigned seq = (unsigned)time(NULL), portid = mnl_socket_get_portid(nl);
	ssize_t n;
	int rc = MNL_CB_OK;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		rc = nl_frames_ok(buf, (size_t)n) ? mnl_cb_run(buf, (size_t)n, seq, portid, cb, d) :
			(errno = EBADMSG, MNL_CB_ERROR);
		if (rc <= MNL_CB_STOP)
			break;
	}
	if (n < 0 || rc == MNL_CB_ERROR)
		return d->err ? d->err : nl_errno();
	return d->err;
}

int l2io_refresh(struct l2io *io)
{
	struct dump d = { .io = io };
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	bool went_down = false, came_up = false;
	int rc = -errno;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    (rc = dump_one(nl, RTM_GETLINK, on_link, &d)) < 0 ||
	    (rc = dump_one(nl, RTM_GETADDR, on_addr, &d)) < 0) {
		if (nl)
			mnl_socket_close(nl);
		for (size_t i = 0; i < d.ifs.n; i++)
			if_free(d.ifs.v[i]);
		vec_free(&d.ifs);
		log_warn("l2", "cannot read the interfaces", "err=%s", log_q(strerror(-rc)));
		return rc;
	}
	mnl_socket_close(nl);
	/* carry sockets, joined groups and beat marks over; compare */
	for (size_t i = 0; i < d.ifs.n; i++) {
		struct iface *f = d.ifs.v[i], *old = if_find(io, f->pub.ifindex);
		bool was_usable = old && old->pub.usable;

		f->pub.pfx = f->pfx.v;
		f->pub.n_pfx = f->pfx.n;
		if (old) {
			f->beat = old->beat;
			if (f->pub.usable && old->fd >= 0) {
				/* move the socket: the loop_io points at old */
				f->fd = old->fd;
				f->groups = old->groups;
				old->groups = (typeof(old->groups)){ 0 };
				loop_io_del(io->loop, &old->lio);
				old->fd = -1;
				if (loop_io_add(io->loop, &f->lio, f->fd, EPOLLIN, on_packet, f) < 0) {
					group_leave_all(f);
					close(f->fd);
					f->fd = -1;
				}
			}
		}
		if (was_usable != f->pub.usable)
			log_v(f->beat ? 0 : 2, "l2", f->pub.usable ? "interface usable" : "interface not usable",
			      "if=%s ifindex=%d up=%d", f->pub.name, f->pub.ifindex, f->pub.up);
		if (was_usable && !f->pub.usable && f->beat)
			went_down = true;
		if (!was_usable && f->pub.usable) {
			came_up = came_up || f->beat;
			garp_restart(io, f->pub.ifindex);
		} else if (was_usable && f->pub.usable && memcmp(old->pub.mac, f->pub.mac, L2_ETH_ALEN)) {
			log_info("l2", "interface MAC changed: announcing again", "if=%s", f->pub.name);
			garp_restart(io, f->pub.ifindex);
		}
	}
	for (size_t i = 0; i < io->ifs.n; i++) {
		struct iface *old = io->ifs.v[i];

		if (!dump_if(&d, old->pub.ifindex)) {
			if (old->pub.usable) {
				log_info("l2", "interface gone", "if=%s", old->pub.name);
				went_down = went_down || old->beat;
			}
		}
		if_free(old);
	}
	vec_free(&io->ifs);
	io->ifs.v = d.ifs.v;
	io->ifs.n = d.ifs.n;
	io->ifs.cap = d.ifs.cap;
	io->pub.n = 0;
	for (size_t i = 0; i < io->ifs.n; i++)
		if (vec_push(&io->pub, io->ifs.v[i]->pub) < 0)
			break;
	for (size_t i = 0; i < io->ifs.n; i++)
		socket_sync(io, io->ifs.v[i]);
	/* before any frame goes out on a link that came back (the gratuitous
	 * timer and the sockets wait for the loop): the owner re-decides,
	 * and a node back from a cut withdraws before it says anything */
	io->ops->links(io->arg, went_down, came_up);
	return 0;
}

static void refresh_run(struct loop_timer *t)
{
	l2io_refresh(t->arg);
}

static void on_monitor(struct loop_io *lio, uint32_t events)
{
	struct l2io *io = lio->arg;
	char buf[8192];

	/* drain; the content does not matter (ENOBUFS neither): re-dump */
	while (recv(mnl_socket_get_fd(io->mon), buf, sizeof(buf), MSG_DONTWAIT) > 0 ||
	       errno == ENOBUFS)
		;
	if (!loop_timer_armed(&io->refresh_timer))
		loop_timer_arm(io->loop, &io->refresh_timer, 0);
	(void)events;
}

/* ---- the set ---- */

size_t l2io_ifs(const struct l2io *io, const struct l2io_if **out)
{
	*out = io->pub.v;
	return io->pub.n;
}

const struct l2io_if *l2io_if_get(const struct l2io *io, int ifindex)
{
	const struct iface *f = if_find(io, ifindex);

	return f ? &f->pub : NULL;
}

void l2io_set_beat(struct l2io *io, int ifindex, bool beat)
{
	struct iface *f = if_find(io, ifindex);

	if (f) {
		f->beat = beat;
		socket_sync(io, f);
	}
}

bool l2io_announced(const struct l2io *io, const struct lb_addr *ip)
{
	return ann_find(io, ip, 0) != NULL;
}

int l2io_set(struct l2io *io, const struct l2io_ann *a, size_t n)
{
	uint64_t now = loop_now_ms();
	bool fresh = false;
	int err = 0;

	HTAB_WALK(&io->anns, hn)
		container_of(hn, struct ann, node)->keep = false;
	for (size_t i = 0; i < n && !err; i++) {
		struct ann *x = ann_find(io, &a[i].ip, a[i].ifindex);

		if (x) {
			x->keep = true;
			continue;
		}
		if (!(x = calloc(1, sizeof(*x))) || htab_add(&io->anns, &x->node, ip_hash(&a[i].ip)) < 0) {
			free(x);
			err = -ENOMEM;
			break;
		}
		x->a = a[i];
		x->t0 = now;
		x->keep = fresh = true;
	}
	HTAB_WALK(&io->anns, hn) {
		struct ann *x = container_of(hn, struct ann, node);

		if (!x->keep || err) {
			htab_del(&io->anns, &x->node);
			free(x);
		}
	}
	for (size_t i = 0; i < io->ifs.n; i++)
		socket_sync(io, io->ifs.v[i]);
	if (fresh && !err)
		loop_timer_arm(io->loop, &io->garp_timer, 0);
	return err;
}

/* ---- life ---- */

struct l2io *l2io_new(struct loop *l, const char *const *only, size_t n_only,
		      const struct l2io_ops *ops, void *arg, int *err)
{
	struct l2io *io = calloc(1, sizeof(*io));
	int rc = -ENOMEM;

	if (!io)
		goto fail;
	io->loop = l;
	io->ops = ops;
	io->arg = arg;
	io->v6fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	loop_timer_init(&io->refresh_timer, refresh_run, io);
	loop_timer_init(&io->garp_timer, garp_run, io);
	if (n_only) {
		if (!(io->only = calloc(n_only, sizeof(*io->only))))
			goto fail;
		io->n_only = n_only;
		for (size_t i = 0; i < n_only; i++)
			if (!(io->only[i] = strdup(only[i])))
				goto fail;
	}
	if (!(io->mon = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC)) ||
	    mnl_socket_bind(io->mon, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
			    MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = loop_io_add(l, &io->mon_io, mnl_socket_get_fd(io->mon), EPOLLIN, on_monitor, io)) < 0)
		goto fail;
	if ((rc = l2io_refresh(io)) < 0)
		goto fail;
	return io;
fail:
	if (err)
		*err = rc;
	l2io_free(io);
	return NULL;
}

void l2io_free(struct l2io *io)
{
	if (!io)
		return;
	HTAB_WALK(&io->anns, hn) {
		struct ann *x = container_of(hn, struct ann, node);

		htab_del(&io->anns, &x->node);
		free(x);
	}
	htab_free(&io->anns);
	for (size_t i = 0; i < io->ifs.n; i++)
		if_free(io->ifs.v[i]);
	vec_free(&io->ifs);
	vec_free(&io->pub);
	if (io->mon) {
		loop_io_del(io->loop, &io->mon_io);
		mnl_socket_close(io->mon);
	}
	loop_timer_cancel(io->loop, &io->refresh_timer);
	loop_timer_cancel(io->loop, &io->garp_timer);
	if (io->v6fd >= 0)
		close(io->v6fd);
	for (size_t i = 0; i < io->n_only; i++)
		free(io->only[i]);
	free(io->only);
	free(io);
}
