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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct bgp_session {
	struct loop *loop;
	struct lb_peer peer;		/* copy; name and password owned, no selectors */
	struct bgp_session_opts o;
	char name[200], label[64];
	bgp_session_state_fn fn;
	void *arg;
	struct bgp_fsm fsm;
	struct bgp_open ours, theirs;
	struct bgp_ctx ctx;
	bool ipv4, ipv6;		/* negotiated families */
	/* the connection */
	int fd;
	uint32_t gen;			/* connection number, for queued events */
	struct loop_io io;
	bool connecting;
	struct lb_addr local;
	uint8_t rbuf[2 * BGP_MAX_LEN];
	size_t rlen;
	uint8_t *w;
	size_t wn, woff, wcap;
	struct bgp_error err;		/* the decoder's, for BGP_A_SEND_NOTIF_ERR */
	/* timers */
	struct loop_timer crt, hold, ka, idle, defer;
	uint32_t idle_ms;
	enum bgp_event defer_ev;
	uint32_t defer_gen;
	bool defer_set, stopping;
	/* routes */
	struct bgp_rib want, sent;
	/* for status */
	uint64_t since_ms, updates_sent, notifs_sent, notifs_received;
	char last_error[160];
};

static void fsm_event(struct bgp_session *s, enum bgp_event ev);

/* For `ferry status`: the last thing that went wrong, "what: detail". */
static void set_error(struct bgp_session *s, const char *what, const char *detail)
{
	snprintf(s->last_error, sizeof(s->last_error), "%s%s%s", what, *detail ? ": " : "", detail);
}

/* ---- output ---- */

static void defer(struct bgp_session *s, enum bgp_event ev)
{
	if (s->defer_set)
		return;
	s->defer_set = true;
	s->defer_ev = ev;
	s->defer_gen = s->gen;
	loop_timer_arm(s->loop, &s->defer, 0);
}

static void on_defer(struct loop_timer *t)
{
	struct bgp_session *s = t->arg;

	s->defer_set = false;
	if (s->defer_gen == s->gen)
		fsm_event(s, s->defer_ev);
}

static void flush(struct bgp_session *s)
{
	while (s->fd >= 0 && s->woff < s->wn) {
		ssize_t n = send(s->fd, s->w + s->woff, s->wn - s->woff, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			loop_io_mod(s->loop, &s->io, EPOLLIN | EPOLLOUT);
			return;
		}
		if (n <= 0) {
			set_error(s, "write", strerror(errno));
			s->woff = s->wn;
			defer(s, BGP_EV_TCP_FAILS);
			return;
		}
		s->woff += (size_t)n;
	}
	s->woff = s->wn = 0;
	if (s->fd >= 0 && !s->connecting)
		loop_io_mod(s->loop, &s->io, EPOLLIN);
}

static void queue(struct bgp_session *s, const uint8_t *b, size_t n)
{
	if (s->fd < 0)
		return;
	if (s->wn + n > s->wcap) {
		size_t cap = s->wcap ? s->wcap : 8192;
		uint8_t *w;

		while (cap < s->wn + n)
			cap *= 2;
		if (!(w = realloc(s->w, cap))) {
			set_error(s, "out of memory", "");
			defer(s, BGP_EV_TCP_FAILS);
			return;
		}
		s->w = w;
		s->wcap = cap;
	}
	memcpy(s->w + s->wn, b, n);
	s->wn += n;
}

static void send_notif(struct bgp_session *s, uint8_t code, uint8_t sub, const uint8_t *data,
		       size_t len)
{
	uint8_t buf[BGP_MAX_LEN];
	int n = bgp_encode_notification(code, sub, data, len, buf, sizeof(buf));

	if (n < 0)
		return;
	queue(s, buf, (size_t)n);
	s->notifs_sent++;
	snprintf(s->last_error, sizeof(s->last_error), "sent NOTIFICATION %u/%u", code, sub);
	log_info("bgp", "NOTIFICATION sent", "peer=%s code=%u subcode=%u", log_q(s->name), code, sub);
}

static struct bgp_out_params out_params(const struct bgp_session *s)
{
	struct bgp_out_params o = { .ctx = s->ctx, .local_as = s->peer.my_asn, .ipv4 = s->ipv4,
				    .ipv6 = s->ipv6, .nh4 = s->o.nh4, .nh6 = s->o.nh6 };

	if (s->local.family == 4)
		o.nh4 = s->local;
	else if (s->local.family == 6)
		o.nh6 = s->local;
	return o;
}

/* Send what changes `sent` into `want`; with eor, End-of-RIB after it. */
static void send_diff(struct bgp_session *s, bool eor)
{
	struct bgp_out_params o = out_params(s);
	struct bgp_wire_list wl = { 0 };
	struct bgp_rib_diff d;
	int rc;

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
		defer(s, BGP_EV_TCP_FAILS);
		return;
	}
	for (size_t i = 0; i < wl.n; i++)
		queue(s, wl.m[i].b, wl.m[i].len);
	s->updates_sent += wl.n;
	if (wl.n_prefixes || wl.n_withdrawn)
		log_v(1, "bgp", "routes sent", "peer=%s announced=%zu withdrawn=%zu messages=%zu",
		      log_q(s->name), wl.n_prefixes, wl.n_withdrawn, wl.n);
	if (s->ipv6 && !o.nh6.family && s->want.n && s->want.r[s->want.n - 1].pfx.addr.family == 6)
		log_v(1, "bgp", "IPv6 routes not sent: no IPv6 next hop for this session", "peer=%s",
		      log_q(s->name));
	bgp_wire_list_free(&wl);
	flush(s);
}

/* ---- the connection ---- */

static void to_sockaddr(const struct lb_addr *a, uint16_t port, struct sockaddr_storage *ss,
			socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, a->b, 4);
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, a->b, 16);
		*len = sizeof(*in6);
	}
}

static void tcp_close(struct bgp_session *s)
{
	char junk[512];

	if (s->fd < 0)
		return;
	flush(s);
	/* unread input would turn close() into a reset that can overtake
	 * the NOTIFICATION just written */
	shutdown(s->fd, SHUT_WR);
	while (recv(s->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	loop_io_del(s->loop, &s->io);
	close(s->fd);
	s->fd = -1;
	s->gen++;
	s->connecting = false;
	s->rlen = s->wn = s->woff = 0;
	memset(&s->local, 0, sizeof(s->local));
}

static void on_io(struct loop_io *io, uint32_t events);

static int tcp_connect(struct bgp_session *s)
{
	const struct lb_peer *p = &s->peer;
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = p->peer_address.family == 4 ? AF_INET : AF_INET6, fd, one = 1;

	fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (p->source_address.family) {
		if (p->source_address.family != p->peer_address.family) {
			close(fd);
			return -EAFNOSUPPORT;
		}
		to_sockaddr(&p->source_address, 0, &ss, &len);
		if (bind(fd, (struct sockaddr *)&ss, len) < 0)
			goto fail;
	}
	/* eBGP: one hop unless ebgp-multihop (RFC 4271 leaves it to the
	 * operator; directly connected is the usual default) */
	if (p->peer_asn != p->my_asn) {
		int ttl = p->ebgp_multihop ? 255 : 1;

		if (setsockopt(fd, fam == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
			       fam == AF_INET ? IP_TTL : IPV6_UNICAST_HOPS, &ttl, sizeof(ttl)) < 0)
			goto fail;
	}
	if (p->password && *p->password) {
		struct tcp_md5sig md5 = { 0 };
		size_t kl = strlen(p->password);

		if (kl > TCP_MD5SIG_MAXKEYLEN) {
			close(fd);
			return -EINVAL;
		}
		to_sockaddr(&p->peer_address, 0, &md5.tcpm_addr, &len);
		md5.tcpm_keylen = (uint16_t)kl;
		memcpy(md5.tcpm_key, p->password, kl);
		if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof(md5)) < 0)
			goto fail;
	}
	to_sockaddr(&p->peer_address, p->peer_port ? p->peer_port : BGP_PORT, &ss, &len);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
		goto fail;
	s->fd = fd;
	s->gen++;
	s->connecting = true;
	if (loop_io_add(s->loop, &s->io, fd, EPOLLOUT, on_io, s) < 0) {
		s->fd = -1;
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

static void arm(struct bgp_session *s, struct loop_timer *t, uint32_t on, uint32_t off,
		uint32_t act, uint16_t secs)
{
	if (act & off)
		loop_timer_cancel(s->loop, t);
	if (act & on)
		loop_timer_arm(s->loop, t, (uint64_t)secs * 1000);
}

static void perform(struct bgp_session *s, const struct bgp_fsm_out *out)
{
	uint32_t a = out->actions;
	uint8_t buf[BGP_MAX_LEN];
	int n;

	if (a & BGP_A_SEND_NOTIF)
		send_notif(s, out->code, out->subcode, NULL, 0);
	if (a & BGP_A_SEND_NOTIF_ERR)
		send_notif(s, s->err.n.code, s->err.n.subcode, s->err.n.data, s->err.n.len);
	if (a & BGP_A_SEND_OPEN) {
		struct bgp_msg m = { .type = BGP_OPEN, .open = s->ours };

		if ((n = bgp_msg_encode(&m, NULL, buf, sizeof(buf))) > 0)
			queue(s, buf, (size_t)n);
	}
	if (a & BGP_A_SEND_KEEPALIVE) {
		if ((n = bgp_encode_keepalive(buf, sizeof(buf))) > 0)
			queue(s, buf, (size_t)n);
	}
	if (a & (BGP_A_SEND_NOTIF | BGP_A_SEND_NOTIF_ERR | BGP_A_SEND_OPEN | BGP_A_SEND_KEEPALIVE))
		flush(s);
	if (a & BGP_A_TCP_DROP)
		tcp_close(s);
	if (a & BGP_A_TCP_CONNECT) {
		tcp_close(s);
		if ((n = tcp_connect(s)) < 0) {
			set_error(s, "connect", strerror(-n));
			log_warn("bgp", "cannot connect", "peer=%s err=%s", log_q(s->name),
				 log_q(strerror(-n)));
			s->fd = -1;
			/* into the table on the next turn, as a failed connection */
			s->defer_set = true;
			s->defer_ev = BGP_EV_TCP_FAILS;
			s->defer_gen = s->gen;
			loop_timer_arm(s->loop, &s->defer, 0);
		}
	}
	if (a & BGP_A_RELEASE) {
		bgp_rib_free(&s->sent);
		memset(&s->theirs, 0, sizeof(s->theirs));
	}
	arm(s, &s->crt, BGP_A_CRT_START, BGP_A_CRT_STOP, a, out->connect_retry_s);
	arm(s, &s->hold, BGP_A_HOLD_START, BGP_A_HOLD_STOP, a, out->hold_s);
	arm(s, &s->ka, BGP_A_KA_START, BGP_A_KA_STOP, a, out->keepalive_s);
	/* BGP_A_PROCESS_UPDATE: we install nothing the peer sends */
	if (a & BGP_A_ANNOUNCE) {
		bgp_rib_free(&s->sent);
		s->idle_ms = s->o.idle_min_ms;
		/* the R bit is for the first session after our restart only */
		s->ours.gr_flags &= (uint8_t)~BGP_GR_RESTARTING;
		send_diff(s, true);
	}
}

static void fsm_event(struct bgp_session *s, enum bgp_event ev)
{
	struct bgp_fsm_out out = bgp_fsm_event(&s->fsm, ev);

	perform(s, &out);
	if (out.from == out.to)
		return;
	s->since_ms = loop_now_ms();
	if (out.to == BGP_ST_IDLE && !s->stopping) {
		/* AutomaticStart with backoff: a peer that refuses us is not
		 * hammered, one that flapped once is back at once */
		loop_timer_arm(s->loop, &s->idle, s->idle_ms);
		s->idle_ms = s->idle_ms * 2 > s->o.idle_max_ms ? s->o.idle_max_ms : s->idle_ms * 2;
	}
	if (s->fn)
		s->fn(s->arg, s, out.from, out.to);
}

/* ---- input ---- */

static enum bgp_event err_event(uint8_t type)
{
	return type == BGP_OPEN ? BGP_EV_OPEN_ERR : type == BGP_UPDATE ? BGP_EV_UPDATE_ERR :
	       BGP_EV_HEADER_ERR;
}

static void handle(struct bgp_session *s, const uint8_t *b, size_t len)
{
	struct bgp_msg m;
	uint8_t type = b[18];
	uint16_t hold;
	int rc;

	memset(&s->err, 0, sizeof(s->err));
	rc = bgp_msg_decode(b, len, &s->ctx, &m, &s->err);
	if (rc < 0) {
		snprintf(s->last_error, sizeof(s->last_error), "received bad %s: %s (%u/%u)",
			 bgp_type_name(type), s->err.why ? s->err.why : "?", s->err.n.code,
			 s->err.n.subcode);
		log_warn("bgp", "malformed message", "peer=%s type=%s why=%s code=%u subcode=%u",
			 log_q(s->name), bgp_type_name(type), log_q(s->err.why ? s->err.why : ""),
			 s->err.n.code, s->err.n.subcode);
		bgp_msg_free(&m);
		if (rc == -EBADMSG)
			fsm_event(s, err_event(type));
		else
			fsm_event(s, BGP_EV_TCP_FAILS);
		return;
	}
	switch (m.type) {
	case BGP_OPEN:
		s->theirs = m.open;
		if (bgp_open_negotiate(&s->ours, &s->theirs, &s->ctx, &hold, &s->err) < 0) {
			set_error(s, "OPEN", s->err.why ? s->err.why : "no common address family");
			fsm_event(s, BGP_EV_OPEN_ERR);
			break;
		}
		s->ipv6 = s->theirs.mp_ipv6;
		s->ipv4 = s->theirs.mp_ipv4 || !s->theirs.mp_ipv6;
		bgp_fsm_open(&s->fsm, s->theirs.hold_time, s->ours.gr && s->theirs.gr);
		fsm_event(s, BGP_EV_OPEN);
		break;
	case BGP_KEEPALIVE:
		fsm_event(s, BGP_EV_KEEPALIVE);
		break;
	case BGP_UPDATE:
		if (s->err.action != BGP_ERR_NONE)
			log_v(1, "bgp", "UPDATE error handled as RFC 7606 says", "peer=%s why=%s action=%s",
			      log_q(s->name), log_q(s->err.why ? s->err.why : ""),
			      s->err.action == BGP_ERR_WITHDRAW ? "treat-as-withdraw" : "attribute-discard");
		fsm_event(s, BGP_EV_UPDATE);
		break;
	case BGP_NOTIFICATION:
		s->notifs_received++;
		snprintf(s->last_error, sizeof(s->last_error), "received NOTIFICATION %u/%u",
			 m.notif.code, m.notif.subcode);
		log_warn("bgp", "NOTIFICATION received", "peer=%s code=%u subcode=%u", log_q(s->name),
			 m.notif.code, m.notif.subcode);
		fsm_event(s, m.notif.code == BGP_ERR_OPEN && m.notif.subcode == BGP_OPEN_BAD_VERSION ?
			     BGP_EV_NOTIF_VERSION_ERR : BGP_EV_NOTIF);
		break;
	case BGP_ROUTE_REFRESH:
		/* RFC 2918: send the Adj-RIB-Out again */
		if (s->fsm.state == BGP_ST_ESTABLISHED) {
			log_info("bgp", "route refresh asked, sending every route again", "peer=%s",
				 log_q(s->name));
			bgp_rib_free(&s->sent);
			send_diff(s, false);
		}
		break;
	}
	bgp_msg_free(&m);
}

static void read_input(struct bgp_session *s)
{
	uint32_t gen = s->gen;

	for (;;) {
		ssize_t n = recv(s->fd, s->rbuf + s->rlen, sizeof(s->rbuf) - s->rlen, 0);
		size_t off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			set_error(s, n == 0 ? "connection closed by the peer" : "read", n == 0 ? "" : strerror(errno));
			fsm_event(s, BGP_EV_TCP_FAILS);
			return;
		}
		s->rlen += (size_t)n;
		while (s->gen == gen && s->fd >= 0) {
			int len = bgp_msg_frame(s->rbuf + off, s->rlen - off, &s->err);

			if (len == 0)
				break;
			if (len < 0) {
				set_error(s, "bad message header from the peer", s->err.why ? s->err.why : "");
				fsm_event(s, BGP_EV_HEADER_ERR);
				return;
			}
			handle(s, s->rbuf + off, (size_t)len);
			off += (size_t)len;
		}
		if (s->gen != gen || s->fd < 0)
			return;
		memmove(s->rbuf, s->rbuf + off, s->rlen - off);
		s->rlen -= off;
	}
}

static void on_io(struct loop_io *io, uint32_t events)
{
	struct bgp_session *s = io->arg;

	if (s->connecting) {
		int err = 0;
		socklen_t el = sizeof(err);
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		s->connecting = false;
		if (err) {
			set_error(s, "connect", strerror(err));
			log_v(1, "bgp", "connection failed", "peer=%s err=%s", log_q(s->name),
			      log_q(strerror(err)));
			fsm_event(s, BGP_EV_TCP_FAILS);
			return;
		}
		if (getsockname(s->fd, (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET) {
				s->local.family = 4;
				memcpy(s->local.b, &((struct sockaddr_in *)&ss)->sin_addr, 4);
			} else if (ss.ss_family == AF_INET6) {
				s->local.family = 6;
				memcpy(s->local.b, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
			}
		}
		loop_io_mod(s->loop, &s->io, EPOLLIN);
		fsm_event(s, BGP_EV_TCP_CR_ACKED);
		return;
	}
	if (events & EPOLLOUT)
		flush(s);
	if (s->fd >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		read_input(s);
}

/* ---- timers ---- */

static void on_crt(struct loop_timer *t) { fsm_event(t->arg, BGP_EV_CONNECT_RETRY_EXPIRES); }
static void on_hold(struct loop_timer *t)
{
	struct bgp_session *s = t->arg;

	set_error(s, "hold timer expired", "");
	fsm_event(s, BGP_EV_HOLD_EXPIRES);
}
static void on_ka(struct loop_timer *t) { fsm_event(t->arg, BGP_EV_KEEPALIVE_EXPIRES); }
static void on_idle(struct loop_timer *t) { fsm_event(t->arg, BGP_EV_AUTOMATIC_START); }

/* ---- the interface ---- */

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
	s->fd = -1;
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
	s->ctx = (struct bgp_ctx){ .local_as = p->my_asn, .peer_as = p->peer_asn,
				   .local_id = s->ours.id, .ibgp = p->my_asn == p->peer_asn };
	loop_timer_init(&s->crt, on_crt, s);
	loop_timer_init(&s->hold, on_hold, s);
	loop_timer_init(&s->ka, on_ka, s);
	loop_timer_init(&s->idle, on_idle, s);
	loop_timer_init(&s->defer, on_defer, s);
	bgp_fsm_init(&s->fsm, s->name, (uint16_t)(p->hold_time_s ? p->hold_time_s : 90),
		     (uint16_t)p->keepalive_time_s, s->o.connect_retry_s);
	s->since_ms = loop_now_ms();
	log_info("bgp", "session configured", "peer=%s address=%s my_asn=%u peer_asn=%u md5=%s "
		 "multihop=%s graceful_restart=%s", log_q(s->name), s->label, p->my_asn, p->peer_asn,
		 p->password && *p->password ? "yes" : "no", p->ebgp_multihop ? "yes" : "no",
		 p->graceful_restart ? "yes" : "no");
	fsm_event(s, BGP_EV_MANUAL_START);
	return s;
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
	int rc = bgp_rib_copy(&s->want, rib);

	if (rc)
		return rc;
	if (s->fsm.state == BGP_ST_ESTABLISHED)
		send_diff(s, false);
	return 0;
}

void bgp_session_set_nexthops(struct bgp_session *s, const struct lb_addr *nh4,
			      const struct lb_addr *nh6)
{
	bool changed = memcmp(&s->o.nh4, nh4, sizeof(*nh4)) || memcmp(&s->o.nh6, nh6, sizeof(*nh6));

	s->o.nh4 = *nh4;
	s->o.nh6 = *nh6;
	/* a new next hop is new attributes: send every route again */
	if (changed && s->fsm.state == BGP_ST_ESTABLISHED) {
		bgp_rib_free(&s->sent);
		send_diff(s, false);
	}
}

void bgp_session_info(const struct bgp_session *s, struct bgp_session_info *out)
{
	*out = (struct bgp_session_info){
		.name = s->name, .label = s->label, .state = s->fsm.state, .since_ms = s->since_ms,
		.prefixes = s->fsm.state == BGP_ST_ESTABLISHED ? s->sent.n : 0,
		.updates_sent = s->updates_sent, .notifs_sent = s->notifs_sent,
		.notifs_received = s->notifs_received, .established = s->fsm.established_count,
		.gr = s->fsm.gr,
	};
	snprintf(out->last_error, sizeof(out->last_error), "%s", s->last_error);
}

void bgp_session_free(struct bgp_session *s, bool graceful)
{
	if (!s)
		return;
	s->stopping = true;
	if (s->fsm.state == BGP_ST_ESTABLISHED && graceful && s->fsm.gr)
		log_info("bgp", "graceful stop: closing without NOTIFICATION, the peer keeps our "
			 "routes for the restart time", "peer=%s restart_time_s=%u", log_q(s->name),
			 s->ours.gr_time);
	fsm_event(s, graceful ? BGP_EV_GRACEFUL_STOP : BGP_EV_MANUAL_STOP);
	tcp_close(s);
	loop_timer_cancel(s->loop, &s->crt);
	loop_timer_cancel(s->loop, &s->hold);
	loop_timer_cancel(s->loop, &s->ka);
	loop_timer_cancel(s->loop, &s->idle);
	loop_timer_cancel(s->loop, &s->defer);
	bgp_rib_free(&s->want);
	bgp_rib_free(&s->sent);
	free(s->w);
	free(s->peer.name);
	free(s->peer.password);
	free(s);
}
