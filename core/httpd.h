/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A minimal HTTP/1.1 server on the core loop, for /healthz, /livez,
 * /metrics and health-check node ports: GET and HEAD only, request heads up
 * to 8 KiB parsed strictly (core/httphead.h), no bodies, keep-alive, and
 * deadlines and connection limits that keep it answering while strangers
 * hold connections open (struct httpd_limits). Handlers answer at once (no
 * asynchronous responses).
 */
#ifndef FERRY_CORE_HTTPD_H
#define FERRY_CORE_HTTPD_H

#include <stddef.h>

struct loop;
struct httpd;

struct httpd_req {
	const char *method;	/* "GET" or "HEAD" */
	const char *path;	/* without the query */
	const char *query;	/* after '?', "" when none */
};

struct httpd_resp {
	int status;		/* 200 unless the handler sets it */
	const char *content_type;	/* default text/plain; charset=utf-8 */
	char *body;		/* owned by the response; use httpd_printf */
	size_t len, cap;
	/* extra header lines, each ending in "\r\n" (health-check ports
	 * send X-Content-Type-Options and X-Load-Balancing-Endpoint-Weight) */
	char headers[256];
};

/* Append to the response body. */
void httpd_printf(struct httpd_resp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef void (*httpd_fn)(void *arg, const struct httpd_req *req, struct httpd_resp *resp);

/* Listen on "ADDR:PORT" ("0.0.0.0:10256", "[::]:10256", "127.0.0.1:0").
 * NULL with *err a negative errno on failure. */
struct httpd *httpd_new(struct loop *l, const char *bind, int *err);
/* Exact path match; the first route added wins. Unknown paths get 404.
 * The path "*" matches every path (health-check ports answer on any). */
int httpd_route(struct httpd *h, const char *path, httpd_fn fn, void *arg);
int httpd_port(const struct httpd *h);

struct httpd_limits {
	int max_conns;		/* 128: then the oldest waiting one makes room */
	int per_source;		/* 16 connections from one address */
	int head_ms;		/* 5 s for a whole request head, from accept */
	int keepalive_ms;	/* 5 s for the next request on a kept-alive one */
	int write_ms;		/* 10 s for the client to read a response */
};
void httpd_set_limits(struct httpd *h, const struct httpd_limits *lim);
void httpd_free(struct httpd *h);

#endif
