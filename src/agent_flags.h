/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ferry agent`'s flags as one table: getopt's options, --help and
 * docs/config-reference.md (`ferry reference`) are all made from it, and the
 * defaults shown are the ones applied (agent.c parses each as if given), so
 * none can drift from another. What a value does is agent.c's.
 */
#ifndef FERRY_SRC_AGENT_FLAGS_H
#define FERRY_SRC_AGENT_FLAGS_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum agent_flag_group {
	AFG_AGENT,
	AFG_KUBE_PROXY,
	AFG_API,
	AFG_LB,
	AFG_L2,
	AFG_BGP,
	AFG_COUNT
};

/* Index into agent_flags[]; also the order within a group. */
enum agent_flag_id {
	AF_HELP,
	AF_NODE_NAME,
	AF_CLEANUP_KUBE_PROXY,
	AF_PROXY,
	AF_V,
	AF_HOSTNAME_OVERRIDE,
	AF_CONFIG,
	AF_HEALTHZ_BIND_ADDRESS,
	AF_METRICS_BIND_ADDRESS,
	AF_SYNC_PERIOD,
	AF_MIN_SYNC_PERIOD,
	AF_NODEPORT_ADDRESSES,
	AF_CLUSTER_CIDR,
	AF_DETECT_LOCAL_MODE,
	AF_POD_BRIDGE_INTERFACE,
	AF_POD_INTERFACE_NAME_PREFIX,
	AF_MASQUERADE_ALL,
	AF_MASQUERADE_BIT,
	AF_SERVICE_CIDR,
	AF_KUBECONFIG,
	AF_MASTER,
	AF_KUBE_API_QPS,
	AF_KUBE_API_BURST,
	AF_LB_ALLOCATOR,
	AF_LB_CLASS,
	AF_LB_CONFIG_NAMESPACE,
	AF_LB_CONFIG_NAME,
	AF_LB_LEASE_NAMESPACE,
	AF_LB_LEASE_NAME,
	AF_LB_LEASE_DURATION,
	AF_LB_RENEW_DEADLINE,
	AF_LB_RETRY_PERIOD,
	AF_L2,
	AF_L2_KEY_FILE,
	AF_L2_INTERFACES,
	AF_L2_BEAT_INTERVAL,
	AF_BGP,
	AF_BGP_LISTEN_PORT,
	AF_COUNT
};

struct agent_flag {
	const char *name;		/* --name */
	char short_name;		/* -x as well, or 0 */
	const char *arg;		/* the value's form; NULL: takes none */
	const char *def;		/* default, applied as if given; NULL: none */
	const char *def_note;		/* the default in words, when it is no value */
	enum agent_flag_group group;
	uint32_t kpc;			/* KPC_* of the --config field it overrides */
	const char *help;		/* one line */
};

extern const struct agent_flag agent_flags[AF_COUNT];
extern const char *const agent_flag_groups[AFG_COUNT];

/* getopt_long's val for a flag without a short name */
#define AGENT_FLAG_VAL(id) (0x100 + (id))

/* getopt_long's options (AF_COUNT + 1 slots, the last zeroed) and short
 * option string; -1 when a table entry is missing or shortopts too small. */
int agent_flags_getopt(struct option *opts, char *shortopts, size_t len);
/* The flag getopt_long returned c for, or -1. */
int agent_flags_id(int c);
/* Every --config field bit some flag stands for. */
uint32_t agent_flags_kpc(void);
/* The flag's spelling with its value: "--sync-period DURATION",
 * "--l2=true|false", "--masquerade-all". */
void agent_flag_spelling(const struct agent_flag *f, char *buf, size_t len);
void agent_flags_usage(FILE *f);

/* The paths of the --config fields given (KPC_* bits in `set`) that no
 * flag stands for and no part reads: the agent warns of each. Up to `max`
 * copied into paths; returns how many there are. */
size_t agent_flags_unused(uint32_t set, char (*paths)[64], size_t max);

#endif
