// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The BGP listener (bgplisten.h). Touches the world: listening sockets,
 * TCP_MD5SIG keys on them. Which session a connection belongs to is the
 * peer address; the session decides the rest (bgp_session_accept).
 */
#include "src/bgplisten.h"

#include "core/log.h"
#include "core/loop.h"
#include "core/vec.h"
#include "lbip/bgp_msg.h"
#include "src/bgpsession.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REFUSED_SLOTS 32
#define REFUSED_LOG_MS 60000

struct lsock {
	struct bgp_listener *ls;
	int fd, family;		/* 4 or 6 */
	struct loop_io io;
};

struct bgp_listener {
	struct loop *loop;
	struct lsock sk[2];
	VEC(struct bgp_session *) sessions;
	/* unknown addresses seen lately: logged once a minute each */
	struct { struct lb_addr a; uint64_t at; } refused[REFUSED_SLOTS];
	uint64_t n_refused;
};

static void refuse(struct bgp_listener *ls, int fd, const struct lb_addr *from)
{
	uint64_t now = loop_now_ms();
	size_t slot = 0;
	char a[64];

	close(fd);
	ls->n_refused++;
	for (size_t i = 0; i < REFUSED_SLOTS; i++) {
		if (ls->refused[i].a.family && !lb_addr_cmp(&ls->refused[i].a, from)) {
			slot = i;
			if (now - ls->refused[i].at < REFUSED_LOG_MS)
				return;
			break;
		}
		if (ls->refused[i].at < ls->refused[slot].at)
			slot = i;
	}
	ls->refused[slot].a = *from;
	ls->refused[slot].at = now;
	lb_addr_format(from, a, sizeof(a));
	log_warn("bgp", "connection from an address that is no configured peer, closed (logged "
		 "once a minute per address)", "from=%s refused_total=%llu", a,
		 (unsigned long long)ls->n_refused);
}

static void on_accept(struct loop_io *io, uint32_t events)
{
	struct lsock *k = io->arg;
	struct bgp_listener *ls = k->ls;

	(void)events;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct bgp_session *s = NULL;
		struct lb_addr from;
		int fd = accept4(k->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("bgp", "accept failed", "err=%s", log_q(strerror(errno)));
			return;
		}
		lb_addr_from_sockaddr((const struct sockaddr *)&ss, &from);
		/* several sessions to one address (other ports): one not
		 * Established if there is one */
		for (size_t i = 0; i < ls->sessions.n; i++) {
			struct bgp_session_info in;

			if (lb_addr_cmp(&bgp_session_peer(ls->sessions.v[i])->peer_address, &from))
				continue;
			bgp_session_info(ls->sessions.v[i], &in);
			if (!s || in.state != BGP_ST_ESTABLISHED)
				s = ls->sessions.v[i];
		}
		if (!s)
			refuse(ls, fd, &from);
		else
			bgp_session_accept(s, fd);
	}
}

static int lsock_open(struct bgp_listener *ls, struct lsock *k, const struct lb_addr *addr,
		      uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = lb_addr_to_sockaddr(addr, port, &ss);
	int one = 1, fd, e;

	k->ls = ls;
	k->family = addr->family;
	fd = socket(addr->family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* one socket per family: MD5 keys and addresses stay plain */
	if (addr->family == 6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 16) < 0)
		goto fail;
	if (loop_io_add(ls->loop, &k->io, fd, EPOLLIN, on_accept, k) < 0) {
		errno = ENOMEM;
		goto fail;
	}
	k->fd = fd;
	return 0;
fail:
	e = errno;
	close(fd);
	return -e;
}

struct bgp_listener *bgp_listener_new(struct loop *l, const struct lb_addr *addr, uint16_t port)
{
	struct bgp_listener *ls = calloc(1, sizeof(*ls));
	struct lb_addr any4 = { .family = 4 }, any6 = { .family = 6 };
	const struct lb_addr *want[2] = { &any4, &any6 };
	char a[64];
	int n = 0;

	if (!ls)
		return NULL;
	ls->loop = l;
	ls->sk[0].fd = ls->sk[1].fd = -1;
	if (!port)
		port = BGP_PORT;
	if (addr && addr->family) {
		want[0] = addr;
		want[1] = NULL;
	}
	for (int i = 0; i < 2 && want[i]; i++) {
		int rc = lsock_open(ls, &ls->sk[i], want[i], port);

		lb_addr_format(want[i], a, sizeof(a));
		if (rc < 0) {
			log_warn("bgp", "cannot listen for peers' connections (we still connect to them)",
				 "address=%s port=%u err=%s", a, port, log_q(strerror(-rc)));
			ls->sk[i].fd = -1;
			continue;
		}
		n++;
		log_info("bgp", "listening for peers' connections", "address=%s port=%u", a, port);
	}
	if (!n) {
		free(ls);
		return NULL;
	}
	return ls;
}

/* Set (key NULL: delete) the MD5 key for addr on the listening socket of
 * its family. */
static int md5_key(struct bgp_listener *ls, const struct lb_addr *addr, const char *key)
{
	struct tcp_md5sig md5 = { 0 };
	size_t kl = key ? strlen(key) : 0;

	if (kl > TCP_MD5SIG_MAXKEYLEN)
		return -EINVAL;
	lb_addr_to_sockaddr(addr, 0, &md5.tcpm_addr);
	md5.tcpm_keylen = (uint16_t)kl;
	memcpy(md5.tcpm_key, key ? key : "", kl);
	for (int i = 0; i < 2; i++)
		if (ls->sk[i].fd >= 0 && ls->sk[i].family == addr->family &&
		    setsockopt(ls->sk[i].fd, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof(md5)) < 0 &&
		    (key || errno != ENOENT))
			return -errno;
	return 0;
}

int bgp_listener_add(struct bgp_listener *ls, struct bgp_session *s)
{
	const struct lb_peer *p = bgp_session_peer(s);
	int rc = 0;

	if (!ls)
		return 0;
	if (vec_push(&ls->sessions, s) < 0)
		return -ENOMEM;
	if (p->password && *p->password && (rc = md5_key(ls, &p->peer_address, p->password)) < 0)
		log_warn("bgp", "cannot set the TCP MD5 key on the listening socket: the peer's "
			 "connections will fail", "peer=%s err=%s", log_q(p->name ? p->name : ""),
			 log_q(strerror(-rc)));
	return rc;
}

void bgp_listener_del(struct bgp_listener *ls, struct bgp_session *s)
{
	const struct lb_peer *p;
	bool keep = false;

	if (!ls)
		return;
	p = bgp_session_peer(s);
	for (size_t i = 0; i < ls->sessions.n;) {
		const struct lb_peer *q = bgp_session_peer(ls->sessions.v[i]);

		if (ls->sessions.v[i] == s) {
			ls->sessions.v[i] = ls->sessions.v[--ls->sessions.n];
			continue;
		}
		/* another session to the address keeps its key */
		if (!lb_addr_cmp(&q->peer_address, &p->peer_address) && q->password && *q->password)
			keep = true;
		i++;
	}
	if (p->password && *p->password && !keep)
		md5_key(ls, &p->peer_address, NULL);
}

uint64_t bgp_listener_refused(const struct bgp_listener *ls)
{
	return ls ? ls->n_refused : 0;
}

void bgp_listener_free(struct bgp_listener *ls)
{
	if (!ls)
		return;
	for (int i = 0; i < 2; i++)
		if (ls->sk[i].fd >= 0) {
			loop_io_del(ls->loop, &ls->sk[i].io);
			close(ls->sk[i].fd);
		}
	vec_free(&ls->sessions);
	free(ls);
}
