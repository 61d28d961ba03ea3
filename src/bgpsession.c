// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One BGP session (bgpsession.h). Touches the world: a TCP socket (source
 * address, TCP_MD5SIG, TTL) and loop timers. Every decision is the state
 * machine's (lbip/bgp_fsm: it also logs every transition); this file reads
 * and writes bytes, performs the actions the table returns, and turns the
 * desired RIB into UPDATEs (lbip/bgp_rib).
 *
 * Events raised while performing actions (a write that fails) are queued
 * and fed on the next turn of the loop, tagged with the connection they
 * belong to, so the table is never entered twice at once.
 */
#include "src/bgpsession.h"

#include "core/log.h"
#include "core/loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One TCP connection with its own state machine (RFC 4271 6.8: during a
 * collision each connection runs one). */
struct bgp_conn {
	struct bgp_session *s;
	bool incoming;			/* the peer connected to our listener */
	struct bgp_fsm fsm;
	char name[216];			/* the machine's name in the log */
	int fd;
	uint32_t gen;			/* connection number, for queued events */
	struct loop_io io;
	bool connecting;
	struct lb_addr local;
	struct lb_addr ll;		/* link-local next hop beside the IPv6 one */
	uint8_t rbuf[2 * BGP_MAX_LEN];
	size_t rlen;
	uint8_t *w;
	size_t wn, woff, wcap;
	struct bgp_error err;		/* the decoder's, for BGP_A_SEND_NOTIF_ERR */
	struct bgp_open theirs;
	struct bgp_ctx ctx;
	bool ipv4, ipv6;		/* negotiated families */
	struct loop_timer crt, hold, ka, defer;
	enum bgp_event defer_ev;
	uint32_t defer_gen;
	bool defer_set;
};

struct bgp_session {
	struct loop *loop;
	struct lb_peer peer;		/* copy; name and password owned, no selectors */
	struct bgp_session_opts o;
	char name[200], label[64];
	bgp_session_state_fn fn;
	void *arg;
	struct bgp_open ours;
	/* ours connects out; in is the peer's, from the listener */
	struct bgp_conn out, in;
	enum bgp_state state;		/* the session's: the further of the two */
	struct loop_timer idle;
	uint32_t idle_ms;
	bool stopping;
	/* routes */
	struct bgp_rib want, sent;
	/* for status */
	uint64_t since_ms, updates_sent, notifs_sent, notifs_received, collisions;
	char last_error[160];
};

/* Established at least this long before a new connection from a
 * graceful-restart peer is taken for its restart. */
#define RESTART_GUARD_MS 3000

static void fsm_event(struct bgp_conn *c, enum bgp_event ev);

/* For `ferry status`: the last thing that went wrong, "what: detail". */
static void set_error(struct bgp_session *s, const char *what, const char *detail)
{
	snprintf(s->last_error, sizeof(s->last_error), "%s%s%s", what, *detail ? ": " : "", detail);
}

/* The connection in Established, if any. */
static struct bgp_conn *established(struct bgp_session *s)
{
	return s->out.fsm.state == BGP_ST_ESTABLISHED ? &s->out :
	       s->in.fsm.state == BGP_ST_ESTABLISHED ? &s->in : NULL;
}

/* ---- output ---- */

static void defer(struct bgp_conn *c, enum bgp_event ev)
{
	if (c->defer_set)
		return;
	c->defer_set = true;
	c->defer_ev = ev;
	c->defer_gen = c->gen;
	loop_timer_arm(c->s->loop, &c->defer, 0);
}

static void on_defer(struct loop_timer *t)
{
	struct bgp_conn *c = t->arg;

	c->defer_set = false;
	if (c->defer_gen == c->gen)
		fsm_event(c, c->defer_ev);
}

static void flush(struct bgp_conn *c)
{
	while (c->fd >= 0 && c->woff < c->wn) {
		ssize_t n = send(c->fd, c->w + c->woff, c->wn - c->woff, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			loop_io_mod(c->s->loop, &c->io, EPOLLIN | EPOLLOUT);
			return;
		}
		if (n <= 0) {
			set_error(c->s, "write", strerror(errno));
			c->woff = c->wn;
			defer(c, BGP_EV_TCP_FAILS);
			return;
		}
		c->woff += (size_t)n;
	}
	c->woff = c->wn = 0;
	if (c->fd >= 0 && !c->connecting)
		loop_io_mod(c->s->loop, &c->io, EPOLLIN);
}

static void queue(struct bgp_conn *c, const uint8_t *b, size_t n)
{
	if (c->fd < 0)
		return;
	if (c->wn + n > c->wcap) {
		size_t cap = c->wcap ? c->wcap : 8192;
		uint8_t *w;

		while (cap < c->wn + n)
			cap *= 2;
		if (!(w = realloc(c->w, cap))) {
			set_error(c->s, "out of memory", "");
			defer(c, BGP_EV_TCP_FAILS);
			return;
		}
		c->w = w;
		c->wcap = cap;
	}
	memcpy(c->w + c->wn, b, n);
	c->wn += n;
}

static void send_notif(struct bgp_conn *c, uint8_t code, uint8_t sub, const uint8_t *data,
		       size_t len)
{
	struct bgp_session *s = c->s;
	uint8_t buf[BGP_MAX_LEN];
	int n = bgp_encode_notification(code, sub, data, len, buf, sizeof(buf));

	if (n < 0)
		return;
	queue(c, buf, (size_t)n);
	s->notifs_sent++;
	snprintf(s->last_error, sizeof(s->last_error), "sent NOTIFICATION %u/%u", code, sub);
	log_info("bgp", "NOTIFICATION sent", "peer=%s code=%u subcode=%u", log_q(c->name), code, sub);
}

static bool is_link_local(const struct lb_addr *a)
{
	return a->family == 6 && a->b[0] == 0xfe && (a->b[1] & 0xc0) == 0x80;
}

/* The link-local address to send beside our IPv6 next hop (RFC 2545 3:
 * when the peer shares the link): that of the interface holding the
 * connection's local address, when the peer is on that interface's
 * subnet. A router may route via it where the global is not on-link. */
static void find_link_local(const struct lb_addr *local, const struct lb_addr *peer,
			    struct lb_addr *ll)
{
	struct ifaddrs *ifa, *i;
	const char *ifname = NULL;

	memset(ll, 0, sizeof(*ll));
	if (!local->family || local->family != peer->family || getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i; i = i->ifa_next) {
		struct lb_addr a, m;
		bool on_link = true;

		lb_addr_from_sockaddr(i->ifa_addr, &a);
		lb_addr_from_sockaddr(i->ifa_netmask, &m);
		if (!a.family || lb_addr_cmp(&a, local) || m.family != a.family)
			continue;
		for (int k = 0; k < (a.family == 4 ? 4 : 16); k++)
			on_link = on_link && !((a.b[k] ^ peer->b[k]) & m.b[k]);
		if (on_link)
			ifname = i->ifa_name;
		break;
	}
	for (i = ifa; ifname && i; i = i->ifa_next) {
		struct lb_addr a;

		lb_addr_from_sockaddr(i->ifa_addr, &a);
		if (i->ifa_name && !strcmp(i->ifa_name, ifname) && is_link_local(&a)) {
			*ll = a;
			break;
		}
	}
	freeifaddrs(ifa);
}

static struct bgp_out_params out_params(const struct bgp_conn *c)
{
	const struct bgp_session *s = c->s;
	struct bgp_out_params o = { .ctx = c->ctx, .local_as = s->peer.my_asn, .ipv4 = c->ipv4,
				    .ipv6 = c->ipv6, .nh4 = s->o.nh4, .nh6 = s->o.nh6 };

	if (c->local.family == 4) {
		o.nh4 = c->local;
	} else if (c->local.family == 6 && is_link_local(&c->local)) {
		/* over a link-local: a global beside it if the node has one */
		if (s->o.nh6.family)
			o.nh6_ll = c->local;
		else
			o.nh6 = c->local;
		return o;
	} else if (c->local.family == 6) {
		o.nh6 = c->local;
	}
	o.nh6_ll = c->ll;
	return o;
}

/* Send what changes `sent` into `want` on the Established connection c;
 * with eor, End-of-RIB after it. */
static void send_diff(struct bgp_conn *c, bool eor)
{
	struct bgp_session *s = c->s;
	struct bgp_out_params o;
	struct bgp_wire_list wl = { 0 };
	struct bgp_rib_diff d;
	int rc;

	/* looked up until found (an interface just up has none yet); once
	 * found it is a new next hop: every route again */
	if (c->ipv6 && !c->ll.family) {
		find_link_local(&c->local, &s->peer.peer_address, &c->ll);
		if (c->ll.family)
			bgp_rib_free(&s->sent);
	}
	o = out_params(c);
	if ((rc = bgp_rib_diff(&s->sent, &s->want, &d)) == 0) {
		rc = bgp_rib_updates(&d, &o, &wl);
		if (!rc && eor)
			rc = bgp_rib_eor(&o, &wl);
		bgp_rib_diff_free(&d);
	}
	if (!rc)
		rc = bgp_rib_copy(&s->sent, &s->want);
	if (rc) {
		/* the peer would keep routes we no longer know we sent */
		log_err("bgp", "cannot build UPDATEs, resetting the session", "peer=%s err=%s",
			log_q(s->name), log_q(strerror(-rc)));
		bgp_wire_list_free(&wl);
		defer(c, BGP_EV_TCP_FAILS);
		return;
	}
	for (size_t i = 0; i < wl.n; i++)
		queue(c, wl.m[i].b, wl.m[i].len);
	s->updates_sent += wl.n;
	if (wl.n_prefixes || wl.n_withdrawn)
		log_v(1, "bgp", "routes sent", "peer=%s announced=%zu withdrawn=%zu messages=%zu",
		      log_q(c->name), wl.n_prefixes, wl.n_withdrawn, wl.n);
	if (c->ipv6 && !o.nh6.family && s->want.n && s->want.r[s->want.n - 1].pfx.addr.family == 6)
		log_v(1, "bgp", "IPv6 routes not sent: no IPv6 next hop for this session", "peer=%s",
		      log_q(s->name));
	bgp_wire_list_free(&wl);
	flush(c);
}

/* ---- the connection ---- */

static void tcp_close(struct bgp_conn *c)
{
	char junk[512];

	if (c->fd < 0)
		return;
	flush(c);
	/* unread input would turn close() into a reset that can overtake
	 * the NOTIFICATION just written */
	shutdown(c->fd, SHUT_WR);
	while (recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	loop_io_del(c->s->loop, &c->io);
	close(c->fd);
	c->fd = -1;
	c->gen++;
	c->connecting = false;
	c->rlen = c->wn = c->woff = 0;
	memset(&c->local, 0, sizeof(c->local));
	memset(&c->ll, 0, sizeof(c->ll));
}

/* TCP_NODELAY and the TTL, on our socket and on an accepted one alike. */
static int peer_sockopts(int fd, int fam, const struct lb_peer *p)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* eBGP: one hop unless ebgp-multihop (RFC 4271 leaves it to the
	 * operator; directly connected is the usual default) */
	if (p->peer_asn != p->my_asn) {
		int ttl = p->ebgp_multihop ? 255 : 1;

		if (setsockopt(fd, fam == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
			       fam == AF_INET ? IP_TTL : IPV6_UNICAST_HOPS, &ttl, sizeof(ttl)) < 0)
			return -errno;
	}
	return 0;
}

static void on_io(struct loop_io *io, uint32_t events);

static int tcp_connect(struct bgp_conn *c)
{
	const struct lb_peer *p = &c->s->peer;
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = p->peer_address.family == 4 ? AF_INET : AF_INET6, fd, rc;

	fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (p->source_address.family) {
		if (p->source_address.family != p->peer_address.family) {
			close(fd);
			return -EAFNOSUPPORT;
		}
		len = lb_addr_to_sockaddr(&p->source_address, 0, &ss);
		if (bind(fd, (struct sockaddr *)&ss, len) < 0)
			goto fail;
	}
	if ((rc = peer_sockopts(fd, fam, p)) < 0) {
		close(fd);
		return rc;
	}
	if (p->password && *p->password) {
		struct tcp_md5sig md5 = { 0 };
		size_t kl = strlen(p->password);

		if (kl > TCP_MD5SIG_MAXKEYLEN) {
			close(fd);
			return -EINVAL;
		}
		len = lb_addr_to_sockaddr(&p->peer_address, 0, &md5.tcpm_addr);
		md5.tcpm_keylen = (uint16_t)kl;
		memcpy(md5.tcpm_key, p->password, kl);
		if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof(md5)) < 0)
			goto fail;
	}
	len = lb_addr_to_sockaddr(&p->peer_address, p->peer_port ? p->peer_port : BGP_PORT, &ss);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
		goto fail;
	c->fd = fd;
	c->gen++;
	c->connecting = true;
	if (loop_io_add(c->s->loop, &c->io, fd, EPOLLOUT, on_io, c) < 0) {
		c->fd = -1;
		close(fd);
		return -ENOMEM;
	}
	return 0;
fail:
	{
		int e = errno;

		close(fd);
		return -e;
	}
}

/* ---- the actions of the table, in their bit order ---- */

static void arm(struct bgp_conn *c, struct loop_timer *t, uint32_t on, uint32_t off,
		uint32_t act, uint16_t secs)
{
	if (act & off)
		loop_timer_cancel(c->s->loop, t);
	if (act & on)
		loop_timer_arm(c->s->loop, t, (uint64_t)secs * 1000);
}

static void perform(struct bgp_conn *c, const struct bgp_fsm_out *out)
{
	struct bgp_session *s = c->s;
	uint32_t a = out->actions;
	uint8_t buf[BGP_MAX_LEN];
	int n;

	if (a & BGP_A_SEND_NOTIF)
		send_notif(c, out->code, out->subcode, NULL, 0);
	if (a & BGP_A_SEND_NOTIF_ERR)
		send_notif(c, c->err.n.code, c->err.n.subcode, c->err.n.data, c->err.n.len);
	if (a & BGP_A_SEND_OPEN) {
		struct bgp_msg m = { .type = BGP_OPEN, .open = s->ours };

		if ((n = bgp_msg_encode(&m, NULL, buf, sizeof(buf))) > 0)
			queue(c, buf, (size_t)n);
	}
	if (a & BGP_A_SEND_KEEPALIVE) {
		if ((n = bgp_encode_keepalive(buf, sizeof(buf))) > 0)
			queue(c, buf, (size_t)n);
	}
	if (a & (BGP_A_SEND_NOTIF | BGP_A_SEND_NOTIF_ERR | BGP_A_SEND_OPEN | BGP_A_SEND_KEEPALIVE))
		flush(c);
	if (a & BGP_A_TCP_DROP)
		tcp_close(c);
	/* an accepted connection's machine never connects out (fsm_event
	 * stops it instead) */
	if ((a & BGP_A_TCP_CONNECT) && !c->incoming) {
		tcp_close(c);
		if ((n = tcp_connect(c)) < 0) {
			set_error(s, "connect", strerror(-n));
			log_warn("bgp", "cannot connect", "peer=%s err=%s", log_q(s->name),
				 log_q(strerror(-n)));
			c->fd = -1;
			/* into the table on the next turn, as a failed connection */
			c->defer_set = true;
			c->defer_ev = BGP_EV_TCP_FAILS;
			c->defer_gen = c->gen;
			loop_timer_arm(s->loop, &c->defer, 0);
		}
	}
	if (a & BGP_A_RELEASE) {
		/* the routes the peer has from us went with the session that
		 * carried them, not with a connection that lost a collision */
		if (out->from == BGP_ST_ESTABLISHED)
			bgp_rib_free(&s->sent);
		memset(&c->theirs, 0, sizeof(c->theirs));
	}
	arm(c, &c->crt, BGP_A_CRT_START, BGP_A_CRT_STOP, a, out->connect_retry_s);
	arm(c, &c->hold, BGP_A_HOLD_START, BGP_A_HOLD_STOP, a, out->hold_s);
	arm(c, &c->ka, BGP_A_KA_START, BGP_A_KA_STOP, a, out->keepalive_s);
	/* BGP_A_PROCESS_UPDATE: we install nothing the peer sends */
	if (a & BGP_A_ANNOUNCE) {
		bgp_rib_free(&s->sent);
		s->idle_ms = s->o.idle_min_ms;
		/* the R bit is for the first session after our restart only */
		s->ours.gr_flags &= (uint8_t)~BGP_GR_RESTARTING;
		send_diff(c, true);
	}
}

/* The peer's connection carried its OPEN: ours would only collide. A
 * connection that never sends one does not hold ours back. */
static bool peer_conn_up(const struct bgp_session *s)
{
	return s->in.fsm.state >= BGP_ST_OPENCONFIRM;
}

/* AutomaticStart with backoff after our connection went down: a peer
 * that refuses us is not hammered, one that flapped once is back at once.
 * Not while the peer's own connection is up (its fall re-arms this). */
static void maybe_restart(struct bgp_session *s)
{
	if (s->stopping || s->out.fsm.state != BGP_ST_IDLE || peer_conn_up(s) ||
	    loop_timer_armed(&s->idle))
		return;
	loop_timer_arm(s->loop, &s->idle, s->idle_ms);
	s->idle_ms = s->idle_ms * 2 > s->o.idle_max_ms ? s->o.idle_max_ms : s->idle_ms * 2;
}

static void fsm_event(struct bgp_conn *c, enum bgp_event ev)
{
	struct bgp_session *s = c->s;
	struct bgp_fsm_out out = bgp_fsm_event(&c->fsm, ev);
	enum bgp_state st;

	perform(c, &out);
	if (out.from == out.to)
		return;
	/* an accepted connection that lost its TCP has nothing to wait for */
	if (c->incoming && (out.to == BGP_ST_ACTIVE || out.to == BGP_ST_CONNECT) &&
	    ev != BGP_EV_AUTOMATIC_START_PASSIVE) {
		fsm_event(c, BGP_EV_MANUAL_STOP);
		return;
	}
	if (out.to == BGP_ST_IDLE)
		maybe_restart(s);
	st = s->out.fsm.state > s->in.fsm.state ? s->out.fsm.state : s->in.fsm.state;
	if (st != s->state) {
		enum bgp_state from = s->state;

		s->state = st;
		s->since_ms = loop_now_ms();
		if (s->fn)
			s->fn(s->arg, s, from, st);
	}
}

/* ---- collisions (RFC 4271 6.8) ---- */

/* Was c opened by the side with the higher BGP Identifier (equal ones:
 * the higher AS, RFC 6286 2.3)? That connection survives. */
static bool higher_side_opened(const struct bgp_conn *c)
{
	const struct bgp_session *s = c->s;
	uint32_t me = s->ours.id, them = c->theirs.id;
	bool we_higher = me != them ? me > them : s->peer.my_asn > s->peer.peer_asn;

	return c->incoming ? !we_higher : we_higher;
}

/* The peer's OPEN arrived on c. As BIRD does: with the other connection
 * in OpenConfirm one of the two goes (Cease 6/7, through its machine);
 * against an Established one the new one goes; in OpenSent both go on
 * and the second OPEN decides. true: c was dumped. */
static bool collision(struct bgp_conn *c)
{
	struct bgp_session *s = c->s;
	struct bgp_conn *o = c == &s->out ? &s->in : &s->out;
	struct bgp_conn *loser;
	char me[46], them[46];
	struct lb_addr a = { .family = 4 };

	switch (o->fsm.state) {
	case BGP_ST_CONNECT:
	case BGP_ST_ACTIVE:
		/* our own attempt is moot now */
		fsm_event(o, BGP_EV_MANUAL_STOP);
		return false;
	case BGP_ST_OPENCONFIRM:
		loser = higher_side_opened(c) ? o : c;
		break;
	case BGP_ST_ESTABLISHED:
		loser = c;
		break;
	default:
		return false;
	}
	s->collisions++;
	for (int i = 0; i < 4; i++)
		a.b[i] = (uint8_t)(s->ours.id >> (24 - 8 * i));
	lb_addr_format(&a, me, sizeof(me));
	for (int i = 0; i < 4; i++)
		a.b[i] = (uint8_t)(c->theirs.id >> (24 - 8 * i));
	lb_addr_format(&a, them, sizeof(them));
	log_info("bgp", "connection collision, closing one (RFC 4271 6.8)",
		 "peer=%s our_id=%s peer_id=%s other=%s closed=%s", log_q(s->name), me, them,
		 bgp_state_name(o->fsm.state), loser->incoming ? "incoming" : "outgoing");
	fsm_event(loser, BGP_EV_OPEN_COLLISION_DUMP);
	return loser == c;
}

/* ---- input ---- */

static enum bgp_event err_event(uint8_t type)
{
	return type == BGP_OPEN ? BGP_EV_OPEN_ERR : type == BGP_UPDATE ? BGP_EV_UPDATE_ERR :
	       BGP_EV_HEADER_ERR;
}

static void handle(struct bgp_conn *c, const uint8_t *b, size_t len)
{
	struct bgp_session *s = c->s;
	struct bgp_msg m;
	uint8_t type = b[18];
	uint16_t hold;
	int rc;

	memset(&c->err, 0, sizeof(c->err));
	rc = bgp_msg_decode(b, len, &c->ctx, &m, &c->err);
	if (rc < 0) {
		snprintf(s->last_error, sizeof(s->last_error), "received bad %s: %s (%u/%u)",
			 bgp_type_name(type), c->err.why ? c->err.why : "?", c->err.n.code,
			 c->err.n.subcode);
		log_warn("bgp", "malformed message", "peer=%s type=%s why=%s code=%u subcode=%u",
			 log_q(c->name), bgp_type_name(type), log_q(c->err.why ? c->err.why : ""),
			 c->err.n.code, c->err.n.subcode);
		bgp_msg_free(&m);
		if (rc == -EBADMSG)
			fsm_event(c, err_event(type));
		else
			fsm_event(c, BGP_EV_TCP_FAILS);
		return;
	}
	switch (m.type) {
	case BGP_OPEN:
		c->theirs = m.open;
		if (bgp_open_negotiate(&s->ours, &c->theirs, &c->ctx, &hold, &c->err) < 0) {
			set_error(s, "OPEN", c->err.why ? c->err.why : "no common address family");
			fsm_event(c, BGP_EV_OPEN_ERR);
			break;
		}
		c->ipv6 = c->theirs.mp_ipv6;
		c->ipv4 = c->theirs.mp_ipv4 || !c->theirs.mp_ipv6;
		if (c->fsm.state == BGP_ST_OPENSENT && collision(c))
			break;
		bgp_fsm_open(&c->fsm, c->theirs.hold_time, s->ours.gr && c->theirs.gr);
		fsm_event(c, BGP_EV_OPEN);
		break;
	case BGP_KEEPALIVE:
		fsm_event(c, BGP_EV_KEEPALIVE);
		break;
	case BGP_UPDATE:
		if (c->err.action != BGP_ERR_NONE)
			log_v(1, "bgp", "UPDATE error handled as RFC 7606 says", "peer=%s why=%s action=%s",
			      log_q(c->name), log_q(c->err.why ? c->err.why : ""),
			      c->err.action == BGP_ERR_WITHDRAW ? "treat-as-withdraw" : "attribute-discard");
		fsm_event(c, BGP_EV_UPDATE);
		break;
	case BGP_NOTIFICATION:
		s->notifs_received++;
		snprintf(s->last_error, sizeof(s->last_error), "received NOTIFICATION %u/%u",
			 m.notif.code, m.notif.subcode);
		log_warn("bgp", "NOTIFICATION received", "peer=%s code=%u subcode=%u", log_q(c->name),
			 m.notif.code, m.notif.subcode);
		fsm_event(c, m.notif.code == BGP_ERR_OPEN && m.notif.subcode == BGP_OPEN_BAD_VERSION ?
			     BGP_EV_NOTIF_VERSION_ERR : BGP_EV_NOTIF);
		break;
	case BGP_ROUTE_REFRESH:
		/* RFC 2918: send the Adj-RIB-Out again */
		if (c->fsm.state == BGP_ST_ESTABLISHED) {
			log_info("bgp", "route refresh asked, sending every route again", "peer=%s",
				 log_q(c->name));
			bgp_rib_free(&s->sent);
			send_diff(c, false);
		}
		break;
	}
	bgp_msg_free(&m);
}

static void read_input(struct bgp_conn *c)
{
	uint32_t gen = c->gen;

	for (;;) {
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
		size_t off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			set_error(c->s, n == 0 ? "connection closed by the peer" : "read",
				  n == 0 ? "" : strerror(errno));
			fsm_event(c, BGP_EV_TCP_FAILS);
			return;
		}
		c->rlen += (size_t)n;
		while (c->gen == gen && c->fd >= 0) {
			int len = bgp_msg_frame(c->rbuf + off, c->rlen - off, &c->err);

			if (len == 0)
				break;
			if (len < 0) {
				set_error(c->s, "bad message header from the peer",
					  c->err.why ? c->err.why : "");
				fsm_event(c, BGP_EV_HEADER_ERR);
				return;
			}
			handle(c, c->rbuf + off, (size_t)len);
			off += (size_t)len;
		}
		if (c->gen != gen || c->fd < 0)
			return;
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
}

static bool sock_local(int fd, struct lb_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(a, 0, sizeof(*a));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	lb_addr_from_sockaddr((struct sockaddr *)&ss, a);
	return a->family != 0;
}

static void on_io(struct loop_io *io, uint32_t events)
{
	struct bgp_conn *c = io->arg;

	if (c->connecting) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		c->connecting = false;
		if (err) {
			set_error(c->s, "connect", strerror(err));
			log_v(1, "bgp", "connection failed", "peer=%s err=%s", log_q(c->name),
			      log_q(strerror(err)));
			fsm_event(c, BGP_EV_TCP_FAILS);
			return;
		}
		sock_local(c->fd, &c->local);
		loop_io_mod(c->s->loop, &c->io, EPOLLIN);
		fsm_event(c, BGP_EV_TCP_CR_ACKED);
		return;
	}
	if (events & EPOLLOUT)
		flush(c);
	if (c->fd >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		read_input(c);
}

/* ---- timers ---- */

static void on_crt(struct loop_timer *t) { fsm_event(t->arg, BGP_EV_CONNECT_RETRY_EXPIRES); }
static void on_hold(struct loop_timer *t)
{
	struct bgp_conn *c = t->arg;

	set_error(c->s, "hold timer expired", "");
	fsm_event(c, BGP_EV_HOLD_EXPIRES);
}
static void on_ka(struct loop_timer *t) { fsm_event(t->arg, BGP_EV_KEEPALIVE_EXPIRES); }
static void on_idle(struct loop_timer *t)
{
	struct bgp_session *s = t->arg;

	/* the peer's connection came up meanwhile: no second one from us */
	if (!peer_conn_up(s))
		fsm_event(&s->out, BGP_EV_AUTOMATIC_START);
}

/* ---- the interface ---- */

static void conn_init(struct bgp_session *s, struct bgp_conn *c, bool incoming)
{
	c->s = s;
	c->incoming = incoming;
	c->fd = -1;
	snprintf(c->name, sizeof(c->name), "%s%s", s->name, incoming ? " (incoming)" : "");
	c->ctx = (struct bgp_ctx){ .local_as = s->peer.my_asn, .peer_as = s->peer.peer_asn,
				   .local_id = s->ours.id, .ibgp = s->peer.my_asn == s->peer.peer_asn };
	loop_timer_init(&c->crt, on_crt, c);
	loop_timer_init(&c->hold, on_hold, c);
	loop_timer_init(&c->ka, on_ka, c);
	loop_timer_init(&c->defer, on_defer, c);
	bgp_fsm_init(&c->fsm, c->name, (uint16_t)(s->peer.hold_time_s ? s->peer.hold_time_s : 90),
		     (uint16_t)s->peer.keepalive_time_s, s->o.connect_retry_s);
}

static void conn_free(struct bgp_conn *c)
{
	struct loop *l = c->s->loop;

	tcp_close(c);
	loop_timer_cancel(l, &c->crt);
	loop_timer_cancel(l, &c->hold);
	loop_timer_cancel(l, &c->ka);
	loop_timer_cancel(l, &c->defer);
	free(c->w);
	c->w = NULL;
}

struct bgp_session *bgp_session_new(struct loop *l, const struct lb_peer *p,
				    const struct bgp_session_opts *o, bgp_session_state_fn fn,
				    void *arg)
{
	struct bgp_session *s = calloc(1, sizeof(*s));
	char addr[64];
	int rc;

	if (!s)
		return NULL;
	s->loop = l;
	s->peer = *p;
	s->peer.name = s->peer.password = s->peer.bfd_profile = NULL;
	s->peer.node_selectors = NULL;
	s->peer.n_node_selectors = 0;
	if ((p->name && !(s->peer.name = strdup(p->name))) ||
	    (p->password && !(s->peer.password = strdup(p->password)))) {
		free(s->peer.name);
		free(s);
		return NULL;
	}
	s->o = *o;
	if (!s->o.connect_retry_s)
		s->o.connect_retry_s = 5;
	if (!s->o.idle_min_ms)
		s->o.idle_min_ms = 1000;
	if (!s->o.idle_max_ms)
		s->o.idle_max_ms = 30000;
	s->idle_ms = s->o.idle_min_ms;
	lb_addr_format(&p->peer_address, addr, sizeof(addr));
	snprintf(s->label, sizeof(s->label), p->peer_address.family == 6 ? "[%s]:%u" : "%s:%u", addr,
		 p->peer_port ? p->peer_port : BGP_PORT);
	snprintf(s->name, sizeof(s->name), "%s", p->name ? p->name : s->label);
	s->fn = fn;
	s->arg = arg;
	if ((rc = bgp_open_from_peer(p, o->fallback_id, &s->ours)) < 0) {
		log_err("bgp", "cannot build the OPEN for this peer (hold time 1 or 2, an IPv6 "
			"router-id, or no identifier)", "peer=%s err=%s", log_q(s->name),
			log_q(strerror(-rc)));
		free(s->peer.name);
		free(s->peer.password);
		free(s);
		return NULL;
	}
	/* our forwarding survives an agent restart (nftables stays): F bit */
	for (size_t i = 0; i < s->ours.n_gr_af; i++)
		s->ours.gr_af[i].flags |= BGP_GR_FORWARDING;
	if (s->ours.gr && o->restarted)
		s->ours.gr_flags |= BGP_GR_RESTARTING;
	conn_init(s, &s->out, false);
	conn_init(s, &s->in, true);
	loop_timer_init(&s->idle, on_idle, s);
	s->since_ms = loop_now_ms();
	log_info("bgp", "session configured", "peer=%s address=%s my_asn=%u peer_asn=%u md5=%s "
		 "multihop=%s graceful_restart=%s", log_q(s->name), s->label, p->my_asn, p->peer_asn,
		 p->password && *p->password ? "yes" : "no", p->ebgp_multihop ? "yes" : "no",
		 p->graceful_restart ? "yes" : "no");
	fsm_event(&s->out, BGP_EV_MANUAL_START);
	return s;
}

bool bgp_session_accept(struct bgp_session *s, int fd)
{
	struct bgp_conn *c = &s->in, *e = established(s);
	struct lb_addr local;
	const char *why = NULL;
	char la[64];
	int rc;

	if (s->stopping)
		why = "the session is stopping";
	else if (!sock_local(fd, &local))
		why = "no local address";
	else if (s->peer.source_address.family && lb_addr_cmp(&local, &s->peer.source_address))
		why = "not to the configured source address";
	else if ((rc = peer_sockopts(fd, local.family == 4 ? AF_INET : AF_INET6, &s->peer)) < 0)
		why = strerror(-rc);
	/* RFC 4724 4.2, as BIRD does: with graceful restart negotiated, a new
	 * connection while Established means the peer restarted and the old
	 * connection is dead (it rebooted without a FIN): drop that one now
	 * rather than at its hold time, and take the new one. Not in the
	 * first seconds: that is the peer's own late attempt from the start
	 * (its SYN crossed our KEEPALIVE), a collision, no restart. */
	if (!why && e && e->fsm.gr && loop_now_ms() - s->since_ms >= RESTART_GUARD_MS) {
		log_info("bgp", "new connection from a graceful-restart peer while Established: "
			 "the peer restarted, closing the old connection", "peer=%s", log_q(e->name));
		set_error(s, "peer restarted", "new connection while Established");
		fsm_event(e, BGP_EV_TCP_FAILS);
	}
	if (!why && peer_conn_up(s))
		why = "the peer's connection is already up";
	if (!why) {
		/* the peer gave up on its previous connection before its OPEN
		 * came (or we never saw it): the new one replaces it */
		if (c->fsm.state != BGP_ST_IDLE)
			fsm_event(c, BGP_EV_MANUAL_STOP);
		if (loop_io_add(s->loop, &c->io, fd, EPOLLIN, on_io, c) < 0)
			why = "out of memory";
	}
	if (why) {
		log_info("bgp", "incoming connection refused", "peer=%s why=%s", log_q(s->name),
			 log_q(why));
		close(fd);
		return false;
	}
	lb_addr_format(&local, la, sizeof(la));
	log_v(1, "bgp", "incoming connection", "peer=%s local=%s", log_q(s->name), la);
	c->fd = fd;
	c->gen++;
	c->connecting = false;
	c->local = local;
	c->rlen = c->wn = c->woff = 0;
	fsm_event(c, BGP_EV_AUTOMATIC_START_PASSIVE);
	fsm_event(c, BGP_EV_TCP_CONFIRMED);
	return true;
}

const struct lb_peer *bgp_session_peer(const struct bgp_session *s)
{
	return &s->peer;
}

static bool streq(const char *a, const char *b)
{
	return (!a || !*a) ? (!b || !*b) : (b && !strcmp(a, b));
}

bool bgp_session_same_peer(const struct bgp_session *s, const struct lb_peer *p)
{
	const struct lb_peer *q = &s->peer;

	return streq(q->name, p->name) && !lb_addr_cmp(&q->peer_address, &p->peer_address) &&
	       q->source_address.family == p->source_address.family &&
	       (!q->source_address.family || !lb_addr_cmp(&q->source_address, &p->source_address)) &&
	       q->peer_asn == p->peer_asn && q->my_asn == p->my_asn && q->peer_port == p->peer_port &&
	       q->router_id.family == p->router_id.family &&
	       (!q->router_id.family || !lb_addr_cmp(&q->router_id, &p->router_id)) &&
	       q->hold_time_s == p->hold_time_s && q->keepalive_time_s == p->keepalive_time_s &&
	       streq(q->password, p->password) && q->ebgp_multihop == p->ebgp_multihop &&
	       q->graceful_restart == p->graceful_restart;
}

int bgp_session_set_rib(struct bgp_session *s, const struct bgp_rib *rib)
{
	struct bgp_conn *c;
	int rc = bgp_rib_copy(&s->want, rib);

	if (rc)
		return rc;
	if ((c = established(s)))
		send_diff(c, false);
	return 0;
}

void bgp_session_set_nexthops(struct bgp_session *s, const struct lb_addr *nh4,
			      const struct lb_addr *nh6)
{
	bool changed = memcmp(&s->o.nh4, nh4, sizeof(*nh4)) || memcmp(&s->o.nh6, nh6, sizeof(*nh6));
	struct bgp_conn *c;

	s->o.nh4 = *nh4;
	s->o.nh6 = *nh6;
	/* a new next hop is new attributes: send every route again */
	if (changed && (c = established(s))) {
		bgp_rib_free(&s->sent);
		send_diff(c, false);
	}
}

void bgp_session_info(const struct bgp_session *s, struct bgp_session_info *out)
{
	const struct bgp_conn *c = established((struct bgp_session *)s);

	*out = (struct bgp_session_info){
		.name = s->name, .label = s->label, .state = s->state, .since_ms = s->since_ms,
		.prefixes = c ? s->sent.n : 0,
		.updates_sent = s->updates_sent, .notifs_sent = s->notifs_sent,
		.notifs_received = s->notifs_received,
		.established = s->out.fsm.established_count + s->in.fsm.established_count,
		.collisions = s->collisions, .gr = c && c->fsm.gr, .incoming = c && c->incoming,
	};
	snprintf(out->last_error, sizeof(out->last_error), "%s", s->last_error);
}

void bgp_session_free(struct bgp_session *s, bool graceful)
{
	struct bgp_conn *c;

	if (!s)
		return;
	s->stopping = true;
	if ((c = established(s)) && graceful && c->fsm.gr)
		log_info("bgp", "graceful stop: closing without NOTIFICATION, the peer keeps our "
			 "routes for the restart time", "peer=%s restart_time_s=%u", log_q(s->name),
			 s->ours.gr_time);
	if (s->in.fsm.state != BGP_ST_IDLE)
		fsm_event(&s->in, graceful ? BGP_EV_GRACEFUL_STOP : BGP_EV_MANUAL_STOP);
	fsm_event(&s->out, graceful ? BGP_EV_GRACEFUL_STOP : BGP_EV_MANUAL_STOP);
	conn_free(&s->out);
	conn_free(&s->in);
	loop_timer_cancel(s->loop, &s->idle);
	bgp_rib_free(&s->want);
	bgp_rib_free(&s->sent);
	free(s->peer.name);
	free(s->peer.password);
	free(s);
}
