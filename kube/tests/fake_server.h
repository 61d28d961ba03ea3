/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Start tests/fake_apiserver.py and a kube client talking to it. */
#ifndef FERRY_KUBE_TEST_FAKE_SERVER_H
#define FERRY_KUBE_TEST_FAKE_SERVER_H

#include "kube/client.h"
#include "core/loop.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct loop *L;

/* Run the loop until cond() holds or ms pass; the final cond(). */
static bool run_until(bool (*cond)(void), int ms)
{
	uint64_t end = loop_now_ms() + ms;

	while (!cond() && loop_now_ms() < end)
		loop_run_once(L, 20);
	return cond();
}

static void run_for(int ms)
{
	uint64_t end = loop_now_ms() + ms;

	while (loop_now_ms() < end)
		loop_run_once(L, 20);
}

static pid_t fake_pid;
static int fake_stdin = -1;

/* Returns the port, or exits. */
static int fake_start(const char *script, const char *n_services)
{
	int to_child[2], from_child[2];
	char port[16] = "";

	signal(SIGPIPE, SIG_IGN);
	if (pipe(to_child) < 0 || pipe(from_child) < 0)
		exit(2);
	fake_pid = fork();
	if (fake_pid == 0) {
		dup2(to_child[0], 0);
		dup2(from_child[1], 1);
		close(to_child[1]);
		close(from_child[0]);
		execlp("python3", "python3", script, n_services, (char *)NULL);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	/* up to the newline; the pipe stays open so the server never gets EPIPE */
	for (size_t n = 0; n < sizeof(port) - 1 && !strchr(port, '\n');) {
		ssize_t r = read(from_child[0], port + n, sizeof(port) - 1 - n);

		if (r <= 0) {
			fprintf(stderr, "fake apiserver did not start\n");
			exit(2);
		}
		n += r;
	}
	fake_stdin = to_child[1];
	return atoi(port);
}

static void fake_stop(void)
{
	close(fake_stdin);
	kill(fake_pid, SIGTERM);
	waitpid(fake_pid, NULL, 0);
}

static struct kube_client *fake_client(struct loop *l, int port, double qps, int burst)
{
	struct kube_config cfg = { 0 };
	struct kube_client_opts o = { .qps = qps, .burst = burst };

	if (asprintf(&cfg.server, "http://127.0.0.1:%d", port) < 0)
		exit(2);
	cfg.token = strdup("test-token");
	return kube_client_new(l, &cfg, &o);
}

#endif
