/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_SRC_CMD_H
#define FERRY_SRC_CMD_H

/* A sub-command: parses its own arguments, returns the process exit code. */
struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

int cmd_agent(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_reference(int argc, char **argv);

/* Shared by the handlers: parse "-v N" / "--v=N" style verbosity. */
int parse_verbosity(const char *s);

#endif
