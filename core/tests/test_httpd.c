/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/httpd.h"
#include "core/httphead.h"
#include "core/loop.h"
#include "core/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct loop *L;
static int port, calls;

static void healthz(void *arg, const struct httpd_req *req, struct httpd_resp *r)
{
	calls++;
	if (!strcmp(req->query, "fail")) {
		r->status = 503;
		httpd_printf(r, "not synced\n");
		return;
	}
	httpd_printf(r, "ok %s\n", (const char *)arg);
}

static int connect_to(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Send, then run the loop until `want` bytes came back or EOF. */
static char *exchange(int fd, const char *req, size_t want, bool *eof)
{
	static char buf[65536];
	size_t n = 0;
	uint64_t end = loop_now_ms() + 2000;

	*eof = false;
	if (req && write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		return NULL;
	while (loop_now_ms() < end && n < want && !*eof) {
		ssize_t r;

		loop_run_once(L, 20);
		while ((r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
			n += r;
		if (r == 0)
			*eof = true;
	}
	buf[n] = 0;
	return buf;
}

static void test_requests(void)
{
	bool eof;
	int fd = connect_to();
	char *r;

	CHECK(fd >= 0);
	r = exchange(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 1, &eof);
	CHECK(strstr(r, "HTTP/1.1 200 OK\r\n") == r);
	CHECK(strstr(r, "Content-Length: 7\r\n") != NULL);
	CHECK(strstr(r, "\r\n\r\nok yes\n") != NULL);
	/* keep-alive: a second request on the same connection, with a query */
	r = exchange(fd, "GET /healthz?fail HTTP/1.1\r\nHost: x\r\n\r\n", 1, &eof);
	CHECK(strstr(r, "HTTP/1.1 503 Service Unavailable\r\n") == r);
	CHECK(strstr(r, "not synced\n") != NULL);
	CHECK(!eof);
	/* two pipelined requests in one write: two answers, in order */
	r = exchange(fd, "GET /nope HTTP/1.1\r\n\r\nHEAD /healthz HTTP/1.1\r\n\r\n", 200, &eof);
	CHECK(strstr(r, "HTTP/1.1 404") == r);
	CHECK(strstr(r, "not found\n") != NULL);
	char *second = strstr(r, "not found\n");
	CHECK(second && strstr(second, "HTTP/1.1 200 OK\r\n") != NULL);
	CHECK(second && strstr(second, "ok yes") == NULL);	/* HEAD: no body */
	/* Connection: close is honoured */
	r = exchange(fd, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", 1 << 16, &eof);
	CHECK(eof);
	CHECK(strstr(r, "Connection: close\r\n") != NULL);
	close(fd);
}

static void test_bad(void)
{
	static const struct { const char *req; const char *want; } rows[] = {
		{ "POST /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", "HTTP/1.1 405" },
		{ "GET /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", "HTTP/1.1 413" },
		{ "GET /healthz HTTP/1.1\nHost: x\n\n", "HTTP/1.1 400" },
		{ "GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400" },
		{ "GET /healthz HTTP/2.0\r\n\r\n", "HTTP/1.1 505" },
		{ "garbage\r\n\r\n", "HTTP/1.1 400" },
		{ "GET /healthz SPDY/3\r\n\r\n", "HTTP/1.1 400" },
		{ "GET /healthz HTTP/1.0\r\n\r\n", "HTTP/1.1 200" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int fd = connect_to();
		bool eof;
		char *r = exchange(fd, rows[i].req, 1 << 16, &eof);

		CHECK(strstr(r, rows[i].want) == r);
		CHECK(eof);	/* all of these close */
		close(fd);
	}
	/* a request head that never ends: 431 then close */
	int fd = connect_to();
	char big[10000];
	bool eof;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	memcpy(big, "GET /", 5);
	char *r = exchange(fd, big, 1 << 16, &eof);
	CHECK(strstr(r, "HTTP/1.1 431") == r);
	CHECK(eof);
	close(fd);
	/* a client that vanishes mid-request is cleaned up (ASan checks leaks) */
	fd = connect_to();
	exchange(fd, "GET /hea", 0, &eof);
	close(fd);
	exchange(-1, NULL, 0, &eof);
}

/* The parser on its own: what passes, and the status of what does not. */
static void test_parse(void)
{
	static const struct { const char *head; int rc; const char *path, *query; bool close; } rows[] = {
		{ "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 0, "/healthz", "", false },
		{ "HEAD /a?b=c HTTP/1.1\r\n\r\n", 0, "/a", "b=c", false },
		{ "GET / HTTP/1.0\r\n\r\n", 0, "/", "", true },
		{ "GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n", 0, "/", "", true },
		{ "GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", 0, "/", "", false },
		{ "GET / HTTP/1.1\r\nContent-Length: 000\r\n\r\n", 0, "/", "", false },
		{ "GET / HTTP/1.1\r\nX-Empty:\r\n\r\n", 0, "/", "", false },
		/* bodies and framing a proxy could read differently */
		{ "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 413, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\nContent-Length: +0\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\nContent-Length: 0, 0\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\nContent-Length : 0\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\nX: a\rY: b\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\n: v\r\n\r\n", 400, NULL, NULL, false },
		/* request lines */
		{ "GET  / HTTP/1.1\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.1 \r\n\r\n", 400, NULL, NULL, false },
		{ "GET http://x/ HTTP/1.1\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/1.12\r\n\r\n", 400, NULL, NULL, false },
		{ "G(T / HTTP/1.1\r\n\r\n", 400, NULL, NULL, false },
		{ "GET / HTTP/3.0\r\n\r\n", 505, NULL, NULL, false },
		{ "POST / HTTP/1.1\r\n\r\n", 405, NULL, NULL, false },
		{ "GET / HTTP/1.1\r\n", 400, NULL, NULL, false },
	};
	struct http_head h;
	char buf[512];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = strlen(rows[i].head);

		memcpy(buf, rows[i].head, n + 1);
		int rc = http_head_parse(buf, n, &h);

		if (rc != rows[i].rc)
			fprintf(stderr, "row %zu: %d, want %d\n", i, rc, rows[i].rc);
		CHECK_EQ_INT(rc, rows[i].rc);
		if (rc || rows[i].rc)
			continue;
		CHECK_EQ_STR(h.path, rows[i].path);
		CHECK_EQ_STR(h.query, rows[i].query);
		CHECK(h.close == rows[i].close);
	}
	/* a NUL byte inside the head */
	memcpy(buf, "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 27);
	CHECK_EQ_INT(http_head_parse(buf, 27, &h), 400);
}

/* Run the loop for ms milliseconds. */
static void spin(int ms)
{
	uint64_t end = loop_now_ms() + ms;

	while (loop_now_ms() < end)
		loop_run_once(L, 10);
}

static bool closed_by_server(int fd)
{
	char b[4096];
	ssize_t n;

	while ((n = read(fd, b, sizeof(b))) > 0)
		;
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

/*
 * Slowloris: strangers holding every connection slot, or trickling a head
 * one byte at a time, must not keep a probe out. Short limits keep the
 * test fast; the rule is the same at the defaults.
 */
static void test_slowloris(struct httpd *h)
{
	struct httpd_limits lim = { .max_conns = 8, .per_source = 100, .head_ms = 300,
				    .keepalive_ms = 200, .write_ms = 1000 };
	int idle[8], trickle;
	bool eof;
	char *r;

	httpd_set_limits(h, &lim);
	/* the table full of silent connections: a probe still gets an answer,
	 * and the oldest silent one is what made room */
	for (int i = 0; i < 8; i++) {
		idle[i] = connect_to();
		spin(5);
	}
	int probe = connect_to();

	r = exchange(probe, "GET /healthz HTTP/1.1\r\n\r\n", 1, &eof);
	CHECK(strstr(r, "HTTP/1.1 200 OK\r\n") == r);
	close(probe);
	CHECK(closed_by_server(idle[0]));
	CHECK(!closed_by_server(idle[7]));
	/* a head trickled a byte at a time past the deadline is cut */
	trickle = connect_to();
	for (int i = 0; i < 40 && send(trickle, "G", 1, MSG_NOSIGNAL) == 1; i++)
		spin(10);
	spin(200);
	CHECK(closed_by_server(trickle));
	close(trickle);
	/* silent ones expire too */
	for (int i = 1; i < 8; i++) {
		CHECK(closed_by_server(idle[i]));
		close(idle[i]);
	}
	close(idle[0]);
	/* kept alive: a second request in time is served, then it expires */
	probe = connect_to();
	r = exchange(probe, "GET /healthz HTTP/1.1\r\n\r\n", 1, &eof);
	CHECK(strstr(r, "HTTP/1.1 200 OK\r\n") == r);
	spin(100);
	r = exchange(probe, "GET /healthz HTTP/1.1\r\n\r\n", 1, &eof);
	CHECK(strstr(r, "HTTP/1.1 200 OK\r\n") == r);
	spin(300);
	CHECK(closed_by_server(probe));
	close(probe);
	/* one address may hold only per_source connections */
	lim.per_source = 2;
	httpd_set_limits(h, &lim);
	int a = connect_to(), b = connect_to(), c = connect_to();

	spin(50);
	CHECK(!closed_by_server(a));
	CHECK(!closed_by_server(b));
	CHECK(closed_by_server(c));
	close(a);
	close(b);
	close(c);
	spin(20);
}

int main(void)
{
	int err = 0;
	struct httpd *h;

	L = loop_new();
	CHECK(httpd_new(L, "nonsense", &err) == NULL && err == -EINVAL);
	CHECK(httpd_new(L, "192.0.2.1:99999", &err) == NULL && err == -EINVAL);
	h = httpd_new(L, "127.0.0.1:0", &err);
	CHECK(h != NULL);
	if (!h)
		return test_done("test_core_httpd");
	port = httpd_port(h);
	CHECK(port > 0);
	CHECK_EQ_INT(httpd_route(h, "/healthz", healthz, "yes"), 0);
	test_parse();
	test_requests();
	test_bad();
	test_slowloris(h);
	CHECK(calls >= 4);
	httpd_free(h);
	loop_free(L);
	return test_done("test_core_httpd");
}
