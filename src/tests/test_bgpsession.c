/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * src/bgpsession against a scripted peer on 127.0.0.1:179 in a throw-away
 * network namespace (ctest runs it under `unshare -n`): the test is the
 * router, byte by byte, to reach the paths a well-behaved BIRD never takes.
 *  - our OPEN: 4-octet AS, MP IPv4+IPv6, route refresh, graceful restart
 *    with the F bit for both families and the R bit on the first session;
 *  - an OPEN with version 3 -> NOTIFICATION 2/1 with data 00 04, close;
 *  - the session comes back by itself (idle backoff), a good OPEN and
 *    KEEPALIVE -> Established, the RIB then End-of-RIB for both families,
 *    the R bit gone;
 *  - ROUTE-REFRESH -> the RIB again;
 *  - an UPDATE whose withdrawn length runs past the message -> 3/1;
 *  - silence past the negotiated hold time -> 4/0;
 *  - the listener (src/bgplisten, port 1179 here): a connection from an
 *    address that is no peer is closed at once;
 *  - a collision (RFC 4271 6.8): we connect and the peer connects to us,
 *    OPENs both ways. Our identifier higher: the peer's connection gets
 *    Cease 6/7 and ours becomes Established; without graceful restart a
 *    third connection while Established gets 6/7 too. The peer's
 *    identifier higher (its OPEN on its connection first, then on ours):
 *    ours gets 6/7, the session is Established on the peer's connection,
 *    and we do not connect while it is up. With graceful restart a new
 *    connection from the peer then is its restart (RFC 4724 4.2): the old
 *    one closes without NOTIFICATION, the new one gets the RIB; when that
 *    one goes, we connect again;
 *  - a peer connection that sends no OPEN is replaced by the peer's next
 *    one (Cease 6/2) and does not hold ours back; our connection getting
 *    its OPEN while the peer's is Established gets 6/7.
 * Exit 77 (skipped) when not root.
 */
#include "core/log.h"
#include "core/loop.h"
#include "core/test.h"
#include "lbip/bgp_msg.h"
#include "lbip/bgp_rib.h"
#include "src/bgplisten.h"
#include "src/bgpsession.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct loop *L;

struct conn {
	int fd;
	uint8_t buf[4 * BGP_MAX_LEN];
	size_t n;
	bool closed;
};

static int accept_one(int lfd, int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;

	while (loop_now_ms() < end) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);

		if (fd >= 0)
			return fd;
		loop_run_once(L, 10);
	}
	return -1;
}

/* The next message from the session, decoded into m (type 0: none in time
 * or the connection closed, c->closed then). */
static int next_msg(struct conn *c, struct bgp_msg *m, int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;
	struct bgp_ctx ctx = { .as4 = true, .local_as = 64512, .peer_as = 64513 };
	struct bgp_error e;

	memset(m, 0, sizeof(*m));
	while (loop_now_ms() < end) {
		int len = bgp_msg_frame(c->buf, c->n, &e);
		ssize_t r;

		if (len > 0) {
			int rc = bgp_msg_decode(c->buf, (size_t)len, &ctx, m, &e);

			memmove(c->buf, c->buf + len, c->n - (size_t)len);
			c->n -= (size_t)len;
			return rc;
		}
		if (len < 0)
			return len;
		r = recv(c->fd, c->buf + c->n, sizeof(c->buf) - c->n, MSG_DONTWAIT);
		if (r == 0) {
			c->closed = true;
			return -EPIPE;
		}
		if (r > 0)
			c->n += (size_t)r;
		else
			loop_run_once(L, 10);
	}
	return -ETIMEDOUT;
}

static void put(struct conn *c, const struct bgp_msg *m)
{
	uint8_t b[BGP_MAX_LEN];
	int n = bgp_msg_encode(m, NULL, b, sizeof(b));

	if (n > 0 && send(c->fd, b, (size_t)n, MSG_NOSIGNAL) != n)
		fprintf(stderr, "short send\n");
}

static void put_raw(struct conn *c, const uint8_t *b, size_t n)
{
	if (send(c->fd, b, n, MSG_NOSIGNAL) != (ssize_t)n)
		fprintf(stderr, "short send\n");
}

static struct bgp_open router_open(uint16_t hold)
{
	return (struct bgp_open){ .version = 4, .as = 64512, .hold_time = hold, .id = 0xc0000201,
				  .mp_ipv4 = true, .mp_ipv6 = true, .as4 = true,
				  .route_refresh = true, .gr = true, .gr_time = 120 };
}

/* Read until a NOTIFICATION; its code/subcode, -1 when none came. */
static int notif(struct conn *c, int ms, struct bgp_notification *out)
{
	struct bgp_msg m;
	uint64_t end = loop_now_ms() + (uint64_t)ms;

	while (loop_now_ms() < end) {
		int rc = next_msg(c, &m, (int)(end - loop_now_ms()));

		if (rc == 0 && m.type == BGP_NOTIFICATION) {
			if (out)
				*out = m.notif;
			bgp_msg_free(&m);
			return m.notif.code << 8 | m.notif.subcode;
		}
		bgp_msg_free(&m);
		if (rc == -EPIPE || rc == -ETIMEDOUT)
			return -1;
	}
	return -1;
}

/* Count UPDATE prefixes and End-of-RIBs until `eors` End-of-RIBs. */
static void read_table(struct conn *c, size_t *prefixes, int *eors, int want_eors)
{
	struct bgp_msg m;

	*prefixes = 0;
	*eors = 0;
	while (*eors < want_eors && next_msg(c, &m, 3000) == 0) {
		uint16_t afi;

		if (m.type == BGP_UPDATE) {
			if (bgp_update_is_eor(&m.update, &afi))
				(*eors)++;
			*prefixes += m.update.n_nlri + m.update.n_mp_reach;
		}
		bgp_msg_free(&m);
	}
}

/* The scripted peer connects to our listener, from src. */
static int dial(uint16_t port, const char *src)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in from = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	inet_pton(AF_INET, src, &from.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
	    (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)) {
		perror("dial");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static struct lb_addr A(const char *s)
{
	struct lb_addr a = { 0 };

	if (lb_addr_parse(s, &a))
		abort();
	return a;
}

int main(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(179),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct lb_peer p = { .name = "script", .peer_address = A("127.0.0.1"), .peer_asn = 64512,
			     .my_asn = 64513, .hold_time_s = 90, .graceful_restart = true,
			     .ebgp_multihop = true };
	struct bgp_session_opts o = { .fallback_id = 0xc0000202, .nh6 = A("2001:db8::1"),
				      .idle_min_ms = 100, .idle_max_ms = 200, .restarted = true };
	struct bgp_route routes[2] = {
		{ { A("198.51.100.10"), 32 }, 0, NULL, 0 },
		{ { A("2001:db8:5::10"), 128 }, 0, NULL, 0 },
	};
	struct bgp_rib rib = { routes, 2, 2 };
	static struct conn c;
	struct bgp_notification n;
	struct bgp_session *s;
	struct bgp_msg m, k = { .type = BGP_KEEPALIVE };
	size_t prefixes;
	int lfd, one = 1, eors;

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root (port 179, a namespace)\n");
		return 77;
	}
	if (system("ip link set lo up") != 0)
		return 77;
	L = loop_new();
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0) {
		perror("listen");
		return 1;
	}
	s = bgp_session_new(L, &p, &o, NULL, NULL);
	CHECK(s && bgp_session_set_rib(s, &rib) == 0);

	/* ---- our OPEN; a bad version back ---- */
	c.fd = accept_one(lfd, 3000);
	CHECK(c.fd >= 0);
	CHECK_EQ_INT(next_msg(&c, &m, 2000), 0);
	CHECK_EQ_INT(m.type, BGP_OPEN);
	CHECK(m.open.as == 64513 && m.open.as4 && m.open.mp_ipv4 && m.open.mp_ipv6 &&
	      m.open.route_refresh && m.open.gr && m.open.hold_time == 90);
	CHECK(m.open.gr_flags & BGP_GR_RESTARTING);
	CHECK(m.open.n_gr_af == 2 && (m.open.gr_af[0].flags & BGP_GR_FORWARDING) &&
	      (m.open.gr_af[1].flags & BGP_GR_FORWARDING));
	CHECK_EQ_INT(m.open.id, 0xc0000202);
	bgp_msg_free(&m);
	{
		struct bgp_msg om = { .type = BGP_OPEN, .open = router_open(90) };
		uint8_t b[BGP_MAX_LEN];
		int len = bgp_msg_encode(&om, NULL, b, sizeof(b));

		CHECK(len > 29);
		b[19] = 3;	/* version */
		put_raw(&c, b, (size_t)len);
	}
	CHECK_EQ_INT(notif(&c, 2000, &n), 2 << 8 | 1);
	CHECK(n.len == 2 && n.data[0] == 0 && n.data[1] == 4);
	close(c.fd);

	/* ---- back by itself; Established; the table, End-of-RIB ---- */
	memset(&c, 0, sizeof(c));
	c.fd = accept_one(lfd, 3000);
	CHECK(c.fd >= 0);
	CHECK_EQ_INT(next_msg(&c, &m, 2000), 0);
	CHECK_EQ_INT(m.type, BGP_OPEN);
	bgp_msg_free(&m);
	m = (struct bgp_msg){ .type = BGP_OPEN, .open = router_open(3) };
	put(&c, &m);
	put(&c, &k);
	CHECK_EQ_INT(next_msg(&c, &m, 2000), 0);
	CHECK_EQ_INT(m.type, BGP_KEEPALIVE);
	read_table(&c, &prefixes, &eors, 2);
	CHECK_EQ_INT(prefixes, 2);
	CHECK_EQ_INT(eors, 2);
	{
		struct bgp_session_info i;

		bgp_session_info(s, &i);
		CHECK_EQ_INT(i.state, BGP_ST_ESTABLISHED);
		CHECK(i.gr);
		CHECK_EQ_INT(i.prefixes, 2);
	}

	/* ---- route refresh: the table again ---- */
	m = (struct bgp_msg){ .type = BGP_ROUTE_REFRESH, .rr = { BGP_AFI_IPV4, BGP_SAFI_UNICAST } };
	put(&c, &m);
	{
		size_t got = 0;
		uint64_t end = loop_now_ms() + 2000;

		while (got < 2 && loop_now_ms() < end && next_msg(&c, &m, 500) == 0) {
			if (m.type == BGP_UPDATE)
				got += m.update.n_nlri + m.update.n_mp_reach;
			bgp_msg_free(&m);
		}
		CHECK_EQ_INT(got, 2);
	}

	/* ---- a malformed UPDATE: withdrawn length past the message ---- */
	{
		uint8_t b[23];

		memset(b, 0xff, 16);
		b[16] = 0;
		b[17] = 23;
		b[18] = BGP_UPDATE;
		b[19] = 0;
		b[20] = 200;	/* withdrawn routes length */
		b[21] = b[22] = 0;
		put_raw(&c, b, sizeof(b));
	}
	CHECK_EQ_INT(notif(&c, 2000, NULL), 3 << 8 | 1);
	close(c.fd);

	/* ---- the hold timer: 3 s of silence -> 4/0 ---- */
	memset(&c, 0, sizeof(c));
	c.fd = accept_one(lfd, 3000);
	CHECK(c.fd >= 0);
	CHECK_EQ_INT(next_msg(&c, &m, 2000), 0);
	CHECK_EQ_INT(m.type, BGP_OPEN);
	CHECK(!(m.open.gr_flags & BGP_GR_RESTARTING));	/* only the first session */
	bgp_msg_free(&m);
	m = (struct bgp_msg){ .type = BGP_OPEN, .open = router_open(3) };
	put(&c, &m);
	put(&c, &k);
	CHECK_EQ_INT(notif(&c, 6000, NULL), 4 << 8 | 0);
	close(c.fd);

	bgp_session_free(s, false);

	/* ---- the listener: an address that is no peer ---- */
	{
		struct bgp_listener *ls = bgp_listener_new(L, NULL, 1179);
		static struct conn oc, ic, ic2;
		struct bgp_session_info info;

		CHECK(ls != NULL);
		if (!ls)
			return test_done("src_bgpsession");
		memset(&c, 0, sizeof(c));
		c.fd = dial(1179, "127.0.0.2");
		CHECK_EQ_INT(next_msg(&c, &m, 2000), -EPIPE);
		close(c.fd);
		CHECK_EQ_INT(bgp_listener_refused(ls), 1);

		/* ---- collision, our identifier higher: ours stays (no graceful
		 * restart: a new connection while Established is a collision) ---- */
		oc.fd = -1;
		oc.n = 0;
		oc.closed = false;
		p.graceful_restart = false;
		s = bgp_session_new(L, &p, &o, NULL, NULL);
		p.graceful_restart = true;
		CHECK(s && bgp_session_set_rib(s, &rib) == 0);
		bgp_listener_add(ls, s);
		oc.fd = accept_one(lfd, 3000);
		CHECK(oc.fd >= 0);
		CHECK_EQ_INT(next_msg(&oc, &m, 2000), 0);
		CHECK_EQ_INT(m.type, BGP_OPEN);
		bgp_msg_free(&m);
		ic.fd = dial(1179, "127.0.0.1");
		CHECK_EQ_INT(next_msg(&ic, &m, 2000), 0);
		CHECK_EQ_INT(m.type, BGP_OPEN);	/* the accepted connection's machine */
		bgp_msg_free(&m);
		m = (struct bgp_msg){ .type = BGP_OPEN, .open = router_open(90) };
		put(&oc, &m);
		CHECK_EQ_INT(next_msg(&oc, &m, 2000), 0);
		CHECK_EQ_INT(m.type, BGP_KEEPALIVE);	/* ours in OpenConfirm */
		m = (struct bgp_msg){ .type = BGP_OPEN, .open = router_open(90) };
		put(&ic, &m);
		CHECK_EQ_INT(notif(&ic, 2000, NULL), 6 << 8 | 7);
		close(ic.fd);
		put(&oc, &k);
		read_table(&oc, &prefixes, &eors, 2);
		CHECK_EQ_INT(prefixes, 2);
		CHECK_EQ_INT(eors, 2);
		bgp_session_info(s, &info);
		CHECK_EQ_INT(info.state, BGP_ST_ESTABLISHED);
		CHECK(!info.incoming);
		CHECK_EQ_INT(info.collisions, 1);
		/* a new connection from the peer while Established: 6/7 */
		ic2.fd = dial(1179, "127.0.0.1");
		CHECK_EQ_INT(next_msg(&ic2, &m, 2000), 0);
		CHECK_EQ_INT(m.type, BGP_OPEN);
		bgp_msg_free(&m);
		m = (struct bgp_msg){ .type = BGP_OPEN, .open = router_open(90) };
		put(&ic2, &m);
		CHECK_EQ_INT(notif(&ic2, 2000, NULL), 6 << 8 | 7);
		close(ic2.fd);
		bgp_session_info(s, &info);
		CHECK_EQ_INT(info.state, BGP_ST_ESTABLISHED);
		CHECK_EQ_INT(info.collisions, 2);
		CHECK_EQ_INT(info.established, 1);
		bgp_listener_del(ls, s);
		bgp_session_free(s, false);
		CHECK_EQ_INT(notif(&oc, 2000, NULL), 6 << 8 | 2);
		close(oc.fd);

		/* ---- collision, the peer's identifier higher: its connection stays ---- */
		memset(&oc, 0, sizeof(oc));
		memset(&ic, 0, sizeof(ic));
		s = bgp_session_new(L, &p, &o, NULL, NULL);
		CHECK(s && bgp_session_set_rib(s, &rib) == 0);
		bgp_listener_add(ls, s);
		oc.fd = accept_one(lfd, 3000);
		CHECK(oc.fd >= 0);
		CHECK_EQ_INT(next_msg(&oc, &m, 2000), 0);
		CHECK_EQ_INT(m.type, BGP_OPEN);
		bgp_msg_free(&m);
		ic.fd = dial(1179, "127.0.0.1");
		CHECK_EQ_INT(next_msg(&ic, &m, 2000), 0);
		CHECK_EQ_INT(m.type, BGP_OPEN);
		bgp_msg_free(&m);
		m = (struct bgp_msg){ .type = BGP_OPEN, .open = router_open(90) };
		m.open.id = 0xc0000203;
		put(&ic, &m);
		CHECK_EQ_INT(next_msg(&ic, &m, 2000), 0);
		CHECK_EQ_INT(m.type, BGP_KEEPALIVE);	/* the peer's in OpenConfirm */
		m = (struct bgp_msg){ .type = BGP_OPEN, .open = router_open(90) };
		m.open.id = 0xc0000203;
		put(&oc, &m);
		CHECK_EQ_INT(notif(&oc, 2000, NULL), 6 << 8 | 7);
		close(oc.fd);
		put(&ic, &k);
		read_table(&ic, &prefixes, &eors, 2);
		CHECK_EQ_INT(prefixes, 2);
		CHECK_EQ_INT(eors, 2);
		bgp_session_info(s, &info);
		CHECK_EQ_INT(info.state, BGP_ST_ESTABLISHED);
		CHECK(info.incoming);
		CHECK_EQ_INT(info.collisions, 1);
		/* no connection of ours while the peer's is up (backoff is 100 ms) */
		CHECK_EQ_INT(accept_one(lfd, 1000), -1);
		/* graceful restart negotiated: a new connection from the peer
		 * while Established is the peer restarted (RFC 4724 4.2). The
		 * old one closes without a NOTIFICATION, the new one gets
		 * everything again. */
		{
			static struct conn ic3;

			CHECK(info.gr);
			/* within 3 s of Established it is a late collision: refused
			 * (the peer's connection is up), the session stays */
			memset(&ic3, 0, sizeof(ic3));
			ic3.fd = dial(1179, "127.0.0.1");
			CHECK_EQ_INT(next_msg(&ic3, &m, 2000), -EPIPE);
			close(ic3.fd);
			memset(&ic3, 0, sizeof(ic3));
			bgp_session_info(s, &info);
			CHECK(info.state == BGP_ST_ESTABLISHED && info.incoming);
			{
				uint64_t end = loop_now_ms() + 2500;

				while (loop_now_ms() < end)
					loop_run_once(L, 10);
			}
			ic3.fd = dial(1179, "127.0.0.1");
			CHECK_EQ_INT(notif(&ic, 2000, NULL), -1);
			CHECK(ic.closed);
			close(ic.fd);
			CHECK_EQ_INT(next_msg(&ic3, &m, 2000), 0);
			CHECK_EQ_INT(m.type, BGP_OPEN);
			bgp_msg_free(&m);
			m = (struct bgp_msg){ .type = BGP_OPEN, .open = router_open(90) };
			m.open.id = 0xc0000203;
			put(&ic3, &m);
			CHECK_EQ_INT(next_msg(&ic3, &m, 2000), 0);
			CHECK_EQ_INT(m.type, BGP_KEEPALIVE);
			put(&ic3, &k);
			read_table(&ic3, &prefixes, &eors, 2);
			CHECK_EQ_INT(prefixes, 2);
			CHECK_EQ_INT(eors, 2);
			bgp_session_info(s, &info);
			CHECK(info.state == BGP_ST_ESTABLISHED && info.incoming);
			CHECK_EQ_INT(info.established, 2);
			ic.fd = ic3.fd;
		}
		/* the peer's connection gone: we connect again (or did while
		 * the restarted peer's was in OpenSent) */
		close(ic.fd);
		oc.fd = accept_one(lfd, 3000);
		CHECK(oc.fd >= 0);
		bgp_session_info(s, &info);
		CHECK(info.state != BGP_ST_ESTABLISHED);
		CHECK_EQ_INT(next_msg(&oc, &m, 2000), 0);
		CHECK_EQ_INT(m.type, BGP_OPEN);
		bgp_msg_free(&m);

		/* ---- a peer connection without an OPEN is replaced by the next ---- */
		memset(&ic, 0, sizeof(ic));
		memset(&ic2, 0, sizeof(ic2));
		ic.fd = dial(1179, "127.0.0.1");
		CHECK_EQ_INT(next_msg(&ic, &m, 2000), 0);
		CHECK_EQ_INT(m.type, BGP_OPEN);
		bgp_msg_free(&m);
		ic2.fd = dial(1179, "127.0.0.1");
		CHECK_EQ_INT(next_msg(&ic2, &m, 2000), 0);
		CHECK_EQ_INT(m.type, BGP_OPEN);
		bgp_msg_free(&m);
		CHECK_EQ_INT(notif(&ic, 2000, NULL), 6 << 8 | 2);
		close(ic.fd);
		m = (struct bgp_msg){ .type = BGP_OPEN, .open = router_open(90) };
		m.open.id = 0xc0000203;
		put(&ic2, &m);
		CHECK_EQ_INT(next_msg(&ic2, &m, 2000), 0);
		CHECK_EQ_INT(m.type, BGP_KEEPALIVE);
		put(&ic2, &k);
		read_table(&ic2, &prefixes, &eors, 2);
		CHECK_EQ_INT(eors, 2);
		bgp_session_info(s, &info);
		CHECK(info.state == BGP_ST_ESTABLISHED && info.incoming);
		/* our connection, still in OpenSent, gets its OPEN: the
		 * Established one stays, ours goes with 6/7 */
		m = (struct bgp_msg){ .type = BGP_OPEN, .open = router_open(90) };
		m.open.id = 0xc0000203;
		put(&oc, &m);
		CHECK_EQ_INT(notif(&oc, 2000, NULL), 6 << 8 | 7);
		bgp_session_info(s, &info);
		CHECK(info.state == BGP_ST_ESTABLISHED && info.incoming);
		bgp_listener_del(ls, s);
		bgp_session_free(s, false);
		CHECK_EQ_INT(notif(&ic2, 2000, NULL), 6 << 8 | 2);
		close(ic2.fd);
		close(oc.fd);
		bgp_listener_free(ls);
	}
	close(lfd);
	loop_free(L);
	return test_done("src_bgpsession");
}
