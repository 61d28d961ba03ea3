/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One loop_io per connection, one timer each. A connection is only ever
 * freed from its own io callback (the loop may hold an event for it in the
 * batch it is dispatching); the timer just shuts the socket down, which
 * wakes that callback.
 *
 * Anyone on the node's network reaches these ports, and the kubelet's
 * liveness probe and the load balancers' health checks must get through
 * while strangers hold connections open (slowloris). So the timer is a
 * deadline, not an idle timeout: a request head must be complete within
 * head_ms of the connection waiting for it (bytes trickling in do not extend
 * it), a kept-alive connection waits keepalive_ms for the next request, a
 * response must be read within write_ms. When the table is full the oldest
 * connection waiting for a request makes room; one address holds at most
 * per_source connections.
 */
#include "core/httpd.h"
#include "core/httphead.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/vec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEAD 8192
#define MAX_ROUTES 16

static const struct httpd_limits default_limits = {
	.max_conns = 128, .per_source = 16,
	.head_ms = 5000, .keepalive_ms = 5000, .write_ms = 10000,
};

struct route {
	char *path;
	httpd_fn fn;
	void *arg;
};

struct conn {
	struct httpd *h;
	struct conn *prev, *next;	/* newest first */
	struct loop_io io;
	struct loop_timer deadline;
	struct sockaddr_in6 peer;	/* IPv4 as v4-mapped */
	uint64_t since_ms;		/* when it began waiting for a request */
	char in[MAX_HEAD];
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	bool close_after;
	bool evicted;			/* shut down to make room */
};

struct httpd {
	struct loop *loop;
	struct loop_io listen;
	int port;
	struct httpd_limits lim;
	struct route routes[MAX_ROUTES];
	int n_routes;
	struct conn *conns;
	int n_conns;
	/* refusals, logged at most once a minute */
	uint64_t refused_source, evicted, expired, last_log_ms;
};

void httpd_printf(struct httpd_resp *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = r->cap - r->len;

		va_start(ap, fmt);
		n = vsnprintf(r->body ? r->body + r->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			r->len += n;
			return;
		}
		if (vec_grow((void **)&r->body, &r->cap, r->len + (size_t)n + 1, 1))
			return;
	}
}

static void conn_free(struct conn *c)
{
	struct httpd *h = c->h;

	loop_io_del(h->loop, &c->io);
	loop_timer_cancel(h->loop, &c->deadline);
	close(c->io.fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->n_conns--;
	free(c->out);
	free(c);
}

static void report(struct httpd *h)
{
	uint64_t now = loop_now_ms();

	if (now - h->last_log_ms < 60000 || !(h->refused_source + h->evicted + h->expired))
		return;
	log_warn("httpd", "connections cut to keep the port serving",
		 "port=%d over_per_source=%llu evicted=%llu deadline=%llu", h->port,
		 (unsigned long long)h->refused_source, (unsigned long long)h->evicted,
		 (unsigned long long)h->expired);
	h->refused_source = h->evicted = h->expired = 0;
	h->last_log_ms = now;
}

static void deadline_fire(struct loop_timer *t)
{
	struct conn *c = t->arg;

	c->h->expired++;
	report(c->h);
	/* wakes conn_event with EOF; it frees the connection */
	shutdown(c->io.fd, SHUT_RDWR);
}

/* Waiting for a request: the head must be complete within `ms`. */
static void await_request(struct conn *c, int ms)
{
	c->since_ms = loop_now_ms();
	loop_timer_arm(c->h->loop, &c->deadline, ms);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 431: return "Request Header Fields Too Large";
	case 505: return "HTTP Version Not Supported";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

static void respond_h(struct conn *c, int status, const char *ctype, const char *extra,
		      const char *body, size_t len, bool head)
{
	char *out = NULL;
	int n = asprintf(&out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-cache\r\n%s%s\r\n",
			 status, reason(status), ctype, len, extra, c->close_after ? "Connection: close\r\n" : "");

	if (n < 0) {
		c->close_after = true;
		return;
	}
	if (!head && len) {
		char *o = realloc(out, n + len);

		if (!o) {
			free(out);
			c->close_after = true;
			return;
		}
		out = o;
		memcpy(out + n, body, len);
		n += len;
	}
	free(c->out);
	c->out = out;
	c->out_len = n;
	c->out_off = 0;
}

static void respond(struct conn *c, int status, const char *ctype, const char *body, size_t len, bool head)
{
	respond_h(c, status, ctype, "", body, len, head);
}

/* One complete request head in c->in[0..end): answer it. */
static void handle(struct conn *c, size_t end)
{
	struct http_head req;
	struct httpd_resp resp = { .status = 200 };
	int rc = http_head_parse(c->in, end, &req);

	if (rc) {
		static const char *const why[] = { [0] = "bad request\n", [1] = "method not allowed\n",
						   [2] = "no request bodies\n",
						   [3] = "HTTP/1.x only\n" };
		const char *w = why[rc == 405 ? 1 : rc == 413 ? 2 : rc == 505 ? 3 : 0];

		c->close_after = true;
		respond(c, rc, "text/plain", w, strlen(w), false);
		return;
	}
	c->close_after |= req.close;
	for (int i = 0; i < c->h->n_routes; i++)
		if (!strcmp(c->h->routes[i].path, req.path) || !strcmp(c->h->routes[i].path, "*")) {
			struct httpd_req r = { req.method, req.path, req.query };

			c->h->routes[i].fn(c->h->routes[i].arg, &r, &resp);
			resp.headers[sizeof(resp.headers) - 1] = 0;
			respond_h(c, resp.status, resp.content_type ? resp.content_type : "text/plain; charset=utf-8",
				  resp.headers, resp.body, resp.len, req.head_only);
			free(resp.body);
			return;
		}
	respond(c, 404, "text/plain", "not found\n", 10, req.head_only);
}

/* The end of the head: after the first empty line, CRLF or (to refuse it
 * rather than wait) a bare LF; 0 while incomplete. */
static size_t head_end(const char *in, size_t len)
{
	for (const char *p = memchr(in, '\n', len); p; p = memchr(p + 1, '\n', in + len - p - 1)) {
		size_t i = p - in;

		if (i + 1 < len && in[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && in[i + 1] == '\r' && in[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static void conn_event(struct loop_io *io, uint32_t events)
{
	struct conn *c = io->arg;

	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && c->in_len < sizeof(c->in) - 1) {
		ssize_t n = read(io->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_free(c);
			return;
		}
		if (n > 0)
			c->in_len += n;
		c->in[c->in_len] = 0;
	}
	/* answer one request at a time; pipelined ones wait in c->in */
	while (!c->out && c->in_len) {
		size_t end = head_end(c->in, c->in_len);

		if (!end) {
			if (c->in_len >= sizeof(c->in) - 1) {
				c->close_after = true;
				respond(c, 431, "text/plain", "request head too large\n", 23, false);
				c->in_len = 0;
			}
			break;
		}
		handle(c, end);
		memmove(c->in, c->in + end, c->in_len - end + 1);
		c->in_len -= end;
		if (c->out)
			loop_timer_arm(c->h->loop, &c->deadline, c->h->lim.write_ms);
	}
	if (c->out) {
		/* MSG_NOSIGNAL: a peer that reset must not kill the agent with SIGPIPE */
		ssize_t n = send(io->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_free(c);
			return;
		}
		if (n > 0)
			c->out_off += n;
		if (c->out_off == c->out_len) {
			free(c->out);
			c->out = NULL;
			if (c->close_after) {
				conn_free(c);
				return;
			}
			await_request(c, c->in_len ? c->h->lim.head_ms : c->h->lim.keepalive_ms);
			if (c->in_len && head_end(c->in, c->in_len)) {
				/* a pipelined request is complete: come back for it */
				loop_io_mod(c->h->loop, io, EPOLLIN | EPOLLOUT);
				return;
			}
		}
	}
	loop_io_mod(c->h->loop, io, c->out ? EPOLLOUT : EPOLLIN);
}

static bool same_peer(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b)
{
	return !memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr));
}

/* Room for one more from `peer`? Over the per-source limit: no. Table
 * full: shut down the oldest connection waiting for a request (it is freed
 * from its own callback; until then it still counts, hence the flag). */
static bool make_room(struct httpd *h, const struct sockaddr_in6 *peer)
{
	struct conn *oldest = NULL;
	int mine = 0, live = 0;

	for (struct conn *c = h->conns; c; c = c->next) {
		if (c->evicted)
			continue;
		live++;
		if (same_peer(&c->peer, peer))
			mine++;
		if (!c->out && (!oldest || c->since_ms <= oldest->since_ms))
			oldest = c;
	}
	if (mine >= h->lim.per_source) {
		h->refused_source++;
		return false;
	}
	if (live < h->lim.max_conns)
		return true;
	if (!oldest)
		return false;
	oldest->evicted = true;
	loop_timer_cancel(h->loop, &oldest->deadline);
	shutdown(oldest->io.fd, SHUT_RDWR);
	h->evicted++;
	return true;
}

static void to_v6(const struct sockaddr_storage *ss, struct sockaddr_in6 *out)
{
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	if (ss->ss_family == AF_INET6) {
		*out = *(const struct sockaddr_in6 *)ss;
	} else if (ss->ss_family == AF_INET) {
		out->sin6_addr.s6_addr[10] = out->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&out->sin6_addr.s6_addr[12], &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
}

static void accept_event(struct loop_io *io, uint32_t events)
{
	struct httpd *h = io->arg;

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct sockaddr_in6 peer;
		struct conn *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("httpd", "accept failed", "err=%s", log_q(strerror(errno)));
			return;
		}
		to_v6(&ss, &peer);
		/* the hard ceiling, whatever the evictions in flight */
		if (h->n_conns >= 2 * h->lim.max_conns || !make_room(h, &peer) ||
		    !(c = calloc(1, sizeof(*c)))) {
			report(h);
			close(fd);
			continue;
		}
		c->h = h;
		c->peer = peer;
		if (loop_io_add(h->loop, &c->io, fd, EPOLLIN, conn_event, c) < 0) {
			close(fd);
			free(c);
			continue;
		}
		loop_timer_init(&c->deadline, deadline_fire, c);
		await_request(c, h->lim.head_ms);
		c->next = h->conns;
		if (h->conns)
			h->conns->prev = c;
		h->conns = c;
		h->n_conns++;
	}
}

static int parse_bind(const char *bind, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(bind, ':');
	long port;
	char *end;

	if (!colon || (size_t)(colon - bind) >= sizeof(host))
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || colon[1] == 0)
		return -EINVAL;
	memcpy(host, bind, colon - bind);
	host[colon - bind] = 0;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		host[strlen(host) - 1] = 0;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -EINVAL;
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &s4->sin_addr) != 1)
			return -EINVAL;
		*len = sizeof(*s4);
	}
	return 0;
}

struct httpd *httpd_new(struct loop *l, const char *bind_addr, int *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct httpd *h;
	int fd, one = 1, rc;

	if ((rc = parse_bind(bind_addr, &ss, &len)) < 0) {
		*err = rc;
		return NULL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		*err = -errno;
		close(fd);
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		*err = -ENOMEM;
		close(fd);
		return NULL;
	}
	h->loop = l;
	h->lim = default_limits;
	h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						  : ((struct sockaddr_in *)&ss)->sin_port);
	if ((rc = loop_io_add(l, &h->listen, fd, EPOLLIN, accept_event, h)) < 0) {
		*err = rc;
		close(fd);
		free(h);
		return NULL;
	}
	return h;
}

int httpd_route(struct httpd *h, const char *path, httpd_fn fn, void *arg)
{
	if (h->n_routes == MAX_ROUTES)
		return -ENOSPC;
	h->routes[h->n_routes] = (struct route){ strdup(path), fn, arg };
	if (!h->routes[h->n_routes].path)
		return -ENOMEM;
	h->n_routes++;
	return 0;
}

int httpd_port(const struct httpd *h) { return h->port; }

void httpd_set_limits(struct httpd *h, const struct httpd_limits *lim)
{
	h->lim = *lim;
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	while (h->conns)
		conn_free(h->conns);
	loop_io_del(h->loop, &h->listen);
	close(h->listen.fd);
	for (int i = 0; i < h->n_routes; i++)
		free(h->routes[i].path);
	free(h);
}
