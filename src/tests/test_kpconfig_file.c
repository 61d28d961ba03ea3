/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kp_config_load: the file read in front of proxy/'s parser. */
#include "core/log.h"
#include "core/test.h"
#include "src/kpconfig_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HDR "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
#define S(x) ((int64_t)(x) * 1000000000LL)

static bool has_warning(const struct kp_config *c, const char *w)
{
	for (size_t i = 0; i < c->n_warnings; i++)
		if (strstr(c->warnings[i], w))
			return true;
	return false;
}

static void test_load(void)
{
	struct kp_config c;
	char err[256], path[] = "/tmp/test_kpconfig_XXXXXX";
	int fd = mkstemp(path);
	const char *y = HDR "hostnameOverride: from-file\n";

	CHECK(fd >= 0 && write(fd, y, strlen(y)) == (ssize_t)strlen(y));
	close(fd);
	CHECK_EQ_INT(kp_config_load(path, false, &c, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.hostname_override, "from-file");
	kp_config_free(&c);
	unlink(path);
	CHECK_EQ_INT(kp_config_load(path, false, &c, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "No such file") != NULL);
}

/* what `kube-proxy --write-config-to` writes (defaults spelled out) */
static void test_written_defaults(const char *path)
{
	struct kp_config c;
	char err[256];

	CHECK_EQ_INT(kp_config_load(path, false, &c, err, sizeof(err)), 0);
	CHECK_EQ_STR(err, "");
	CHECK_EQ_STR(c.healthz_bind_address, "0.0.0.0:10256");
	CHECK_EQ_STR(c.metrics_bind_address, "127.0.0.1:10249");
	CHECK_EQ_STR(c.detect_local_mode, "ClusterCIDR");
	CHECK_EQ_INT(c.sync_period_ns, S(30));
	CHECK_EQ_INT(c.min_sync_period_ns, S(1));
	CHECK_EQ_INT(c.conntrack.max_per_core, 32768);
	CHECK(!has_warning(&c, "unknown field"));
	kp_config_free(&c);
}

int main(int argc, char **argv)
{
	log_set_stream(fopen("/dev/null", "w"));
	test_load();
	if (argc > 1)
		test_written_defaults(argv[1]);
	else
		CHECK(!"want the path of fuzz/corpus/kpconfig/full.yaml");
	return test_done("src_kpconfig_file");
}
