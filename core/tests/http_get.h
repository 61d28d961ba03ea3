/* SPDX-License-Identifier: GPL-2.0-or-later */
/* For tests of HTTP servers on the loop: one GET to 127.0.0.1:port while
 * running the loop (at most 200 turns of 10 ms). Returns the status, -1 when
 * the connection is refused, -2 without a status line; the whole response
 * (NUL-terminated, cut at len - 1) in out. */
#ifndef FERRY_CORE_TESTS_HTTP_GET_H
#define FERRY_CORE_TESTS_HTTP_GET_H

#include "core/loop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int test_http_get(struct loop *l, int port, const char *path, char *out, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t got = 0;
	char req[256];

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
	if (write(fd, req, strlen(req)) < 0) {
		close(fd);
		return -1;
	}
	for (int i = 0; i < 200 && got < len - 1; i++) {
		ssize_t n;

		loop_run_once(l, 10);
		n = recv(fd, out + got, len - 1 - got, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			got += n;
	}
	close(fd);
	out[got] = 0;
	return got > 12 ? atoi(out + 9) : -2;
}

#endif
