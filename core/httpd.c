/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One loop_io per connection, one idle timer each. A connection is only ever
 * freed from its own io callback (the loop may hold an event for it in the
 * batch it is dispatching); the idle timer just shuts the socket down, which
 * wakes that callback.
 */
#include "core/httpd.h"
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
#define MAX_CONNS 128
#define IDLE_MS 30000
#define MAX_ROUTES 16

struct route {
	char *path;
	httpd_fn fn;
	void *arg;
};

struct conn {
	struct httpd *h;
	struct conn *prev, *next;
	struct loop_io io;
	struct loop_timer idle;
	char in[MAX_HEAD];
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	bool close_after;
};

struct httpd {
	struct loop *loop;
	struct loop_io listen;
	int port;
	struct route routes[MAX_ROUTES];
	int n_routes;
	struct conn *conns;
	int n_conns;
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
	loop_timer_cancel(h->loop, &c->idle);
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

static void idle_fire(struct loop_timer *t)
{
	struct conn *c = t->arg;

	/* wakes conn_event with EOF; it frees the connection */
	shutdown(c->io.fd, SHUT_RDWR);
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

/* Find a header's value in the head (case-insensitive name). */
static bool header_is(const char *head, const char *name, const char *value)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		const char *l = p + 2;

		if (!strncasecmp(l, name, nl) && l[nl] == ':') {
			l += nl + 1;
			while (*l == ' ')
				l++;
			return !strncasecmp(l, value, strlen(value));
		}
	}
	return false;
}

static bool has_header(const char *head, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n"))
		if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':')
			return true;
	return false;
}

/* One complete request head in c->in[0..end): answer it. */
static void handle(struct conn *c, size_t end)
{
	char *head = c->in, *sp1, *sp2, *q;
	struct httpd_req req;
	struct httpd_resp resp = { .status = 200 };
	bool head_only;

	head[end - 2] = 0;	/* keep the last "\r\n" of the headers for header_is */
	sp1 = strchr(head, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7)) {
		c->close_after = true;
		respond(c, 400, "text/plain", "bad request\n", 12, false);
		return;
	}
	*sp1 = *sp2 = 0;
	req.method = head;
	req.path = sp1 + 1;
	q = strchr(sp1 + 1, '?');
	req.query = "";
	if (q) {
		*q = 0;
		req.query = q + 1;
	}
	if (sp2[8] == '0' || header_is(sp2 + 9, "Connection", "close"))
		c->close_after = true;
	head_only = !strcmp(req.method, "HEAD");
	if (strcmp(req.method, "GET") && !head_only) {
		c->close_after = true;
		respond(c, 405, "text/plain", "method not allowed\n", 19, false);
		return;
	}
	/* no bodies: a request with one would desynchronise keep-alive */
	if (has_header(sp2 + 9, "Transfer-Encoding") ||
	    (has_header(sp2 + 9, "Content-Length") && !header_is(sp2 + 9, "Content-Length", "0"))) {
		c->close_after = true;
		respond(c, 413, "text/plain", "no request bodies\n", 18, false);
		return;
	}
	for (int i = 0; i < c->h->n_routes; i++)
		if (!strcmp(c->h->routes[i].path, req.path) || !strcmp(c->h->routes[i].path, "*")) {
			c->h->routes[i].fn(c->h->routes[i].arg, &req, &resp);
			resp.headers[sizeof(resp.headers) - 1] = 0;
			respond_h(c, resp.status, resp.content_type ? resp.content_type : "text/plain; charset=utf-8",
				  resp.headers, resp.body, resp.len, head_only);
			free(resp.body);
			return;
		}
	respond(c, 404, "text/plain", "not found\n", 10, head_only);
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
		char *e = strstr(c->in, "\r\n\r\n");
		size_t end;

		if (!e) {
			if (c->in_len >= sizeof(c->in) - 1) {
				c->close_after = true;
				respond(c, 431, "text/plain", "request head too large\n", 23, false);
				c->in_len = 0;
			}
			break;
		}
		end = e - c->in + 4;
		handle(c, end);
		memmove(c->in, c->in + end, c->in_len - end + 1);
		c->in_len -= end;
	}
	if (c->out) {
		ssize_t n = write(io->fd, c->out + c->out_off, c->out_len - c->out_off);

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
			if (c->in_len && strstr(c->in, "\r\n\r\n")) {
				/* a pipelined request is complete: come back for it */
				loop_io_mod(c->h->loop, io, EPOLLIN | EPOLLOUT);
				return;
			}
		}
	}
	loop_io_mod(c->h->loop, io, c->out ? EPOLLOUT : EPOLLIN);
	loop_timer_arm(c->h->loop, &c->idle, IDLE_MS);
}

static void accept_event(struct loop_io *io, uint32_t events)
{
	struct httpd *h = io->arg;

	for (;;) {
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("httpd", "accept failed", "err=%s", log_q(strerror(errno)));
			return;
		}
		if (h->n_conns >= MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->h = h;
		if (loop_io_add(h->loop, &c->io, fd, EPOLLIN, conn_event, c) < 0) {
			close(fd);
			free(c);
			continue;
		}
		loop_timer_init(&c->idle, idle_fire, c);
		loop_timer_arm(h->loop, &c->idle, IDLE_MS);
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
