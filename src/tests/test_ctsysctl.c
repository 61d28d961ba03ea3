/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ct_sysctl_apply in a throw-away network namespace (ctest runs this under
 * `unshare -n`): the conntrack timeouts and tcp_be_liberal are per
 * namespace, so the test writes and reads them back for real;
 * nf_conntrack_max is read-only outside the host's namespace; a read-only
 * bind of /proc/sys in a mount namespace is the DaemonSet's. Exit 77 when
 * not root or conntrack is not there.
 */
#include "core/test.h"
#include "proxy/kpconfig.h"
#include "src/ctsysctl.h"

#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#define NF "/proc/sys/net/netfilter/nf_conntrack_"

static long get(const char *leaf)
{
	char path[128];
	long v = -1;
	snprintf(path, sizeof(path), NF "%s", leaf);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static size_t sysctls(const char *yaml, struct kp_config *c, struct kp_sysctl *out)
{
	char err[256];
	int r = kp_config_parse(yaml, strlen(yaml), true, c, err, sizeof(err));
	CHECK(r == 0);
	return r ? 0 : kp_conntrack_sysctls(c, sysconf(_SC_NPROCESSORS_ONLN), out);
}

int main(void)
{
	struct if_nameindex *ifs = if_nameindex();
	bool fresh = ifs && ifs[0].if_name && !strcmp(ifs[0].if_name, "lo") && !ifs[1].if_name;

	if_freenameindex(ifs);
	if (geteuid() != 0 || access(NF "tcp_timeout_close_wait", W_OK) != 0) {
		printf("needs root and nf_conntrack (skipped)\n");
		return 77;
	}
	if (!fresh) {	/* never write the sysctls of a real node */
		fprintf(stderr, "not in a throw-away network namespace\n");
		return 2;
	}

	struct kp_config c;
	struct kp_sysctl sc[KP_SYSCTL_MAX];
	size_t n = sysctls("apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
			   "kind: KubeProxyConfiguration\n"
			   "conntrack:\n"
			   "  maxPerCore: 0\n"
			   "  tcpEstablishedTimeout: 12h\n"
			   "  tcpCloseWaitTimeout: 2h0m0s\n"
			   "  tcpBeLiberal: true\n"
			   "  udpTimeout: 45s\n"
			   "  udpStreamTimeout: 3m\n", &c, sc);
	CHECK_EQ_INT(n, 5);
	CHECK_EQ_INT(ct_sysctl_apply("", sc, n), 0);
	CHECK_EQ_INT(get("tcp_timeout_established"), 43200);
	CHECK_EQ_INT(get("tcp_timeout_close_wait"), 7200);
	CHECK_EQ_INT(get("tcp_be_liberal"), 1);
	CHECK_EQ_INT(get("udp_timeout"), 45);
	CHECK_EQ_INT(get("udp_timeout_stream"), 180);
	/* in place already: nothing to write, nothing fails */
	CHECK_EQ_INT(ct_sysctl_apply("", sc, n), 0);
	kp_config_free(&c);

	/* nf_conntrack_max is only raised, and read-only here: a max above the
	 * current one is reported, not fatal. The hash size is the host's (not
	 * per namespace): the test only runs where it needs no raise. */
	n = sysctls("apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
		    "kind: KubeProxyConfiguration\n"
		    "conntrack:\n"
		    "  maxPerCore: 1\n"
		    "  min: 1\n"
		    "  tcpEstablishedTimeout: 0s\n"
		    "  tcpCloseWaitTimeout: 0s\n", &c, sc);
	CHECK_EQ_INT(n, 2);
	CHECK(n == 2 && sc[0].raise_only && !strcmp(sc[0].name, "net.netfilter.nf_conntrack_max"));
	/* ncpu is below the current max: nothing to raise, nothing fails */
	if (n == 2 && get("max") > sc[0].value)
		CHECK_EQ_INT(ct_sysctl_apply("", sc, n), 0);
	kp_config_free(&c);
	/* above it: the write is refused in this namespace and reported */
	long cur = get("max");
	char yaml[512];
	snprintf(yaml, sizeof(yaml), "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
		 "kind: KubeProxyConfiguration\n"
		 "conntrack:\n  maxPerCore: 1\n  min: %ld\n  tcpEstablishedTimeout: 0s\n"
		 "  tcpCloseWaitTimeout: 0s\n", cur + 1);
	n = sysctls(yaml, &c, sc);
	CHECK_EQ_INT(n, 2);
	/* only with a hash size that needs no raise: it is the host's */
	FILE *hf = fopen("/sys/module/nf_conntrack/parameters/hashsize", "r");
	long hs = 0;
	if (hf) {
		if (fscanf(hf, "%ld", &hs) != 1)
			hs = 0;
		fclose(hf);
	}
	if (n == 2 && cur > 0 && hs >= sc[1].value)
		CHECK_EQ_INT(ct_sysctl_apply("", sc, n), 1);
	kp_config_free(&c);

	/* the DaemonSet: /proc/sys read-only. Each setting that differs is
	 * reported (and nothing is written); one already in place is not. */
	if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	    mount("/proc/sys", "/proc/sys", NULL, MS_BIND, NULL) == 0 &&
	    mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0) {
		n = sysctls("apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
			    "kind: KubeProxyConfiguration\n"
			    "conntrack:\n"
			    "  maxPerCore: 0\n"
			    "  tcpEstablishedTimeout: 12h\n"	/* in place from above */
			    "  tcpCloseWaitTimeout: 3h\n"
			    "  udpTimeout: 50s\n", &c, sc);
		CHECK_EQ_INT(n, 3);
		CHECK_EQ_INT(ct_sysctl_apply("", sc, n), 2);
		CHECK_EQ_INT(get("tcp_timeout_close_wait"), 7200);
		CHECK_EQ_INT(get("udp_timeout"), 45);
		kp_config_free(&c);
	} else {
		printf("no read-only /proc/sys in a mount namespace here: that part skipped\n");
	}
	return test_done("src_ctsysctl");
}
