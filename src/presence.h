/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "An agent runs on this node": an abstract unix socket the agent binds
 * for its lifetime. Abstract names live in the network namespace, the
 * node's for a hostNetwork pod, and vanish with the process (no stale file
 * after a crash). `ferry cleanup` asks before deleting live tables.
 */
#ifndef FERRY_SRC_PRESENCE_H
#define FERRY_SRC_PRESENCE_H

#include <stdbool.h>

/* Bind the name; the fd (kept open until exit), or a negative errno
 * (-EADDRINUSE: another agent holds it). */
int presence_claim(void);
/* Does an agent hold the name in this network namespace? */
bool presence_held(void);

#endif
