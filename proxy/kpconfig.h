/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kube-proxy's configuration file (`--config`): apiVersion
 * kubeproxy.config.k8s.io/v1alpha1, kind KubeProxyConfiguration, so a
 * kube-proxy user moves their settings over as they are.
 *
 * Fields ferry uses are parsed into struct kp_config with kube-proxy's
 * defaults (nftables mode); the conntrack ones become sysctls for the
 * agent to write (kp_conntrack_sysctls); fields that do not apply (ipvs,
 * winkernel, ...) are accepted and noted in the log. Unknown fields
 * are reported by path (`unknown field "nftables.foo"`) as warnings, as
 * kube-proxy's lenient decoding does, or as errors with `strict`. A bad value
 * is an error naming the field; the output is then left untouched so the
 * caller keeps its previous config.
 */
#ifndef FERRY_PROXY_KPCONFIG_H
#define FERRY_PROXY_KPCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kp_feature_gate {
	char *name;
	bool enabled;
};

/* Bits of kp_config.set: the fields the file gave (the rest are defaults),
 * so command-line flags can be merged in either order. As in kube-proxy,
 * an empty string or list and a zero period/qps/burst count as not given. */
enum {
	KPC_HOSTNAME_OVERRIDE = 1u << 0,
	KPC_BIND_ADDRESS = 1u << 1,
	KPC_HEALTHZ_BIND_ADDRESS = 1u << 2,
	KPC_METRICS_BIND_ADDRESS = 1u << 3,
	KPC_CLUSTER_CIDR = 1u << 4,
	KPC_MODE = 1u << 5,
	KPC_NODE_PORT_ADDRESSES = 1u << 6,
	KPC_SYNC_PERIOD = 1u << 7,
	KPC_MIN_SYNC_PERIOD = 1u << 8,
	KPC_KUBECONFIG = 1u << 9,
	KPC_QPS = 1u << 10,
	KPC_BURST = 1u << 11,
	KPC_MASQUERADE_ALL = 1u << 12,
	KPC_MASQUERADE_BIT = 1u << 13,
	KPC_DETECT_LOCAL_MODE = 1u << 14,
	KPC_FEATURE_GATES = 1u << 15,
	KPC_LOG_VERBOSITY = 1u << 16,
	KPC_CONFIG_SYNC_PERIOD = 1u << 17,
	KPC_OOM_SCORE_ADJ = 1u << 18,
	KPC_CONNTRACK = 1u << 19,
	KPC_DETECT_LOCAL_BRIDGE = 1u << 20,
	KPC_DETECT_LOCAL_PREFIX = 1u << 21,
};

struct kp_config {
	uint32_t set;			/* KPC_* bits */
	char *hostname_override;	/* "" = the hostname */
	char *bind_address;		/* node's primary IP override, "" unset */
	char *healthz_bind_address;	/* "0.0.0.0:10256" ("" in the file: the default) */
	char *metrics_bind_address;	/* "127.0.0.1:10249" */
	bool bind_address_hard_fail;
	char *cluster_cidr;		/* "" or "10.0.0.0/8[,fd00::/48]" */
	char *mode;			/* "nftables" (others were warned about) */
	char **node_port_addresses;	/* CIDRs and keywords primary/all/localhost */
	size_t n_node_port_addresses;
	int64_t sync_period_ns;		/* 30s; nftables.syncPeriod, else iptables.syncPeriod */
	int64_t min_sync_period_ns;	/* 1s */
	int64_t config_sync_period_ns;	/* 15m */
	char *kubeconfig;
	char *content_type, *accept_content_types;
	double qps;			/* 5 */
	int32_t burst;			/* 10 */
	bool masquerade_all;
	int32_t masquerade_bit;		/* 14 */
	char *detect_local_mode;	/* "ClusterCIDR" */
	char *detect_local_bridge_interface, *detect_local_interface_name_prefix;
	struct kp_feature_gate *feature_gates;
	size_t n_feature_gates;
	int32_t log_verbosity;
	char *log_format;		/* "text" */
	int32_t oom_score_adj;		/* -999 */
	struct {
		int32_t max_per_core, min;	/* 32768, 131072 */
		int64_t tcp_established_timeout_ns, tcp_close_wait_timeout_ns;	/* 24h, 1h */
		int64_t udp_timeout_ns, udp_stream_timeout_ns;	/* 0: leave the kernel's */
		bool tcp_be_liberal;
	} conntrack;
	/* unknown or not-applicable fields, as logged: "unknown field \"foo.bar\"" */
	char **warnings;
	size_t n_warnings;
};

/* kube-proxy v1alpha1 defaults for nftables mode. 0, or -ENOMEM. */
int kp_config_defaults(struct kp_config *c);
void kp_config_free(struct kp_config *c);

/*
 * Parse a KubeProxyConfiguration. On success *out (freed by the caller with
 * kp_config_free) holds defaults overlaid with the file; returns 0. On a bad
 * file returns -EINVAL with a message naming the field in err[errlen]
 * (also logged) and leaves *out untouched. `strict`: unknown fields are
 * errors too.
 */
int kp_config_parse(const char *text, size_t len, bool strict, struct kp_config *out, char *err,
		    size_t errlen);
/* src/kpconfig_file.h reads it from a file. */

/* One field of the file as the parser's tables know it, so the reference
 * (`ferry reference`) lists exactly what is read. */
struct kp_field_info {
	const char *path;		/* "clientConnection.qps" */
	const char *type;		/* "string", "duration", "object", ... */
	uint32_t bit;			/* KPC_* set when the file gives it, or 0 */
	const char *note;		/* what ferry makes of it, when not plain */
	bool ignored;			/* accepted and ignored (note says why) */
	bool typemeta;			/* apiVersion, kind */
	bool agent_applies;		/* applied by the agent itself (no flag stands for it) */
};
/* fn for every field, in the tables' order, an object before its fields. */
void kp_config_fields(void (*fn)(void *arg, const struct kp_field_info *f), void *arg);

/*
 * The node settings the conntrack fields stand for, as kube-proxy v1.37
 * applies them (cmd/kube-proxy/app/server_linux.go, pkg/proxy/conntrack/
 * sysctls.go): when maxPerCore > 0, nf_conntrack_max raised to maxPerCore x
 * CPUs (at most 1,048,576, at least min) and the hash size to a quarter of
 * it; the TCP and UDP timeouts in seconds when > 0; tcp_be_liberal = 1 when
 * true. A write is only needed when the current value differs (raise_only:
 * is lower).
 */
struct kp_sysctl {
	const char *field;	/* "conntrack.tcpCloseWaitTimeout" */
	const char *path;	/* under /: "proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait" */
	const char *name;	/* for the operator: "net.netfilter.nf_conntrack_tcp_timeout_close_wait" */
	int64_t value;
	bool raise_only;
};
#define KP_SYSCTL_MAX 7
size_t kp_conntrack_sysctls(const struct kp_config *c, long ncpu, struct kp_sysctl out[KP_SYSCTL_MAX]);

/* Go's time.ParseDuration ("1m0s", "500ms", "-1.5h", "0"): 0 or -EINVAL. */
int kp_parse_duration(const char *s, int64_t *ns);

#endif
