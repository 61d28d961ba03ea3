/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/test.h"
#include "proxy/kpconfig.h"
#include "src/agent_flags.h"

#include <string.h>

static bool has(char (*l)[64], size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i], path))
			return true;
	return false;
}

/* A --config field given that no flag stands for and no part reads is
 * named, so the agent warns of it; applied ones are not. */
static void test_unused(void)
{
	char l[32][64];
	size_t n;

	n = agent_flags_unused(KPC_OOM_SCORE_ADJ | KPC_CONFIG_SYNC_PERIOD | KPC_BIND_ADDRESS |
			       KPC_FEATURE_GATES, l, 32);
	CHECK_EQ_INT(n, 4);
	CHECK(has(l, n, "oomScoreAdj") && has(l, n, "configSyncPeriod") && has(l, n, "bindAddress") &&
	      has(l, n, "featureGates"));
	/* applied through a flag, by the agent itself, or the mode */
	CHECK_EQ_INT(agent_flags_unused(KPC_DETECT_LOCAL_MODE | KPC_DETECT_LOCAL_BRIDGE |
					KPC_DETECT_LOCAL_PREFIX | KPC_CLUSTER_CIDR | KPC_NODE_PORT_ADDRESSES |
					KPC_CONNTRACK | KPC_MODE | KPC_SYNC_PERIOD | KPC_LOG_VERBOSITY,
					l, 32), 0);
	CHECK_EQ_INT(agent_flags_unused(0, l, 32), 0);
}

/* kube-proxy's detect-local flags exist and stand for their fields */
static void test_detect_local_flags(void)
{
	CHECK_EQ_STR(agent_flags[AF_DETECT_LOCAL_MODE].name, "detect-local-mode");
	CHECK_EQ_INT(agent_flags[AF_DETECT_LOCAL_MODE].kpc, KPC_DETECT_LOCAL_MODE);
	CHECK_EQ_STR(agent_flags[AF_POD_BRIDGE_INTERFACE].name, "pod-bridge-interface");
	CHECK_EQ_INT(agent_flags[AF_POD_BRIDGE_INTERFACE].kpc, KPC_DETECT_LOCAL_BRIDGE);
	CHECK_EQ_STR(agent_flags[AF_POD_INTERFACE_NAME_PREFIX].name, "pod-interface-name-prefix");
	CHECK_EQ_INT(agent_flags[AF_POD_INTERFACE_NAME_PREFIX].kpc, KPC_DETECT_LOCAL_PREFIX);
}

int main(void)
{
	test_unused();
	test_detect_local_flags();
	return test_done("src_agent_flags");
}
