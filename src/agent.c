/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ferry agent`: the node agent. Owns the event loop; the libraries plug
 * their sockets and timers into it.
 */
#include "core/log.h"
#include "core/loop.h"
#include "src/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct agent {
	struct loop *loop;
	const char *node_name;
};

static void on_stop_signal(struct loop *l, int signo, void *arg)
{
	log_info("agent", "stopping", "signal=%s", signo == SIGTERM ? "SIGTERM" : "SIGINT");
	loop_stop(l);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ferry agent [-v N] [--node-name NAME] [--hostname-override NAME]\n");
}

int cmd_agent(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "v", required_argument, NULL, 'v' },
		{ "node-name", required_argument, NULL, 'n' },
		{ "hostname-override", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct agent a = { 0 };
	char host[256] = "";
	int c, v;

	while ((c = getopt_long(argc, argv, "v:h", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			if ((v = parse_verbosity(optarg)) < 0) {
				fprintf(stderr, "ferry agent: bad verbosity \"%s\"\n", optarg);
				return 2;
			}
			log_set_verbosity(v);
			break;
		case 'n':
			a.node_name = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!a.node_name) {
		gethostname(host, sizeof(host) - 1);
		a.node_name = host;
	}

	a.loop = loop_new();
	if (!a.loop) {
		log_err("agent", "cannot create event loop", "err=%s", log_q(strerror(errno)));
		return 1;
	}
	loop_signal(a.loop, SIGTERM, on_stop_signal, &a);
	loop_signal(a.loop, SIGINT, on_stop_signal, &a);
	log_info("agent", "started", "version=%s node=%s pid=%d", FERRY_VERSION,
		 log_q(a.node_name), (int)getpid());
	int rc = loop_run(a.loop);
	loop_free(a.loop);
	log_info("agent", "stopped", "rc=%d", rc);
	return rc ? 1 : 0;
}
