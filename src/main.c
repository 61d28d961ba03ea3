/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ferry: kube-proxy and MetalLB in one node agent.
 *
 * Sub-commands are a table; each handler parses its own arguments and prints
 * its own usage on bad input (as iproute2 does).
 */
#include "core/log.h"
#include "src/cmd.h"
#include "src/cmd_nft.h"

#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>

static int cmd_version(int argc, char **argv)
{
	printf("ferry %s\n", FERRY_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv);
int cmd_check_config(int argc, char **argv);	/* src/cmd_check_config.c */

static const struct command commands[] = {
	{ "agent", cmd_agent, "run the node agent (Services and LoadBalancer IPs)" },
	{ "cleanup", cmd_cleanup, "remove kube-proxy's leftovers and ferry's tables (--kube-proxy-only: only the former)" },
	{ "dump", cmd_dump, "print a desired forwarding state (normalised JSON)" },
	{ "apply-state", cmd_apply_state, "apply forwarding state files without Kubernetes" },
	{ "check-config", cmd_check_config, "validate MetalLB configuration files offline" },
	{ "status", cmd_status, "what the running agent programs, per Service port, and its LoadBalancer pools" },
	{ "explain", cmd_explain, "one Service's path through the kernel's ferry tables (NAMESPACE/NAME)" },
	{ "reference", cmd_reference, "print the configuration reference (docs/config-reference.md)" },
	{ "version", cmd_version, "print the version" },
	{ "help", cmd_help, "list the sub-commands" },
};

static int cmd_help(int argc, char **argv)
{
	printf("usage: ferry COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-10s %s\n", commands[i].name, commands[i].summary);
	return 0;
}

int parse_verbosity(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == 0 || *end || v < 0 || v > 10)
		return -1;
	return (int)v;
}

int main(int argc, char **argv)
{
	/* a peer that went away is an error return (EPIPE), never the end of
	 * the agent: every socket write copes with it */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		cmd_help(0, NULL);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
		return cmd_version(0, NULL);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(0, NULL);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "ferry: unknown command \"%s\"; try \"ferry help\"\n", argv[1]);
	return 2;
}
