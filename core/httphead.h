/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The request-head parser of core/httpd, apart from its sockets so that a
 * fuzz target can drive it (fuzz/http_head.c). Anyone on the node's network
 * can send these bytes: the parser accepts exactly the requests a probe or a
 * load balancer's health check sends (GET or HEAD, no body) and refuses
 * anything a proxy in front could read differently (request smuggling):
 * bare LF, NUL, obsolete line folding, a space before a header's colon,
 * Transfer-Encoding, a malformed or repeated Content-Length.
 */
#ifndef FERRY_CORE_HTTPHEAD_H
#define FERRY_CORE_HTTPHEAD_H

#include <stdbool.h>
#include <stddef.h>

struct http_head {
	char *method, *path, *query;	/* pointers into the parsed buffer */
	bool close;			/* HTTP/1.0 or Connection: close */
	bool head_only;			/* HEAD */
};

/*
 * Parse buf[0..len), a complete head ending in "\r\n\r\n", in place (it
 * writes NULs). 0 when it is a request to answer; otherwise the HTTP status
 * to refuse it with (400, 405, 413, 505), after which the connection closes.
 */
int http_head_parse(char *buf, size_t len, struct http_head *h);

#endif
