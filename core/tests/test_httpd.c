/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/httpd.h"
#include "core/loop.h"
#include "core/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
	test_requests();
	test_bad();
	CHECK(calls >= 4);
	httpd_free(h);
	loop_free(L);
	return test_done("test_core_httpd");
}
