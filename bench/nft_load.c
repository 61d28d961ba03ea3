/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_load: new-connection rate through the data plane.
 *   nft_load serve PORT            answer each TCP connection with one byte, close
 *   nft_load run HOST PORT SECONDS connect, read the byte, reset, again; prints
 *                                  {"conns": N, "per_s": R, "errors": E}
 * Every try is a new connection (a new conntrack entry, so the NAT chains
 * run each time): that is where the ruleset's per-packet cost shows. The
 * client closes with RST so no TIME_WAIT piles up. IPv4 only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int serve(int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 4096)) {
		perror("listen");
		return 1;
	}
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s };
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (epoll_wait(ep, &ev, 1, -1) < 1)
			continue;
		for (;;) {
			int c = accept4(s, NULL, NULL, SOCK_NONBLOCK);
			if (c < 0)
				break;
			(void)!write(c, "x", 1);
			close(c);
		}
	}
}

static int run(const char *host, int port, double secs)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct linger lg = { 1, 0 };
	long n = 0, errs = 0;
	char b;

	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return 2;
	double t0 = now(), end = t0 + secs;
	while (now() < end) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		struct timeval tv = { 1, 0 };
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (connect(c, (struct sockaddr *)&a, sizeof(a)) == 0 && read(c, &b, 1) == 1)
			n++;
		else
			errs++;
		close(c);
	}
	double dt = now() - t0;
	printf("{\"conns\":%ld,\"per_s\":%.0f,\"errors\":%ld}\n", n, (double)n / dt, errs);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]));
	if (argc == 5 && !strcmp(argv[1], "run"))
		return run(argv[2], atoi(argv[3]), atof(argv[4]));
	fprintf(stderr, "usage: nft_load serve PORT | nft_load run HOST PORT SECONDS\n");
	return 2;
}
