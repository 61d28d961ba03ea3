/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ferry agent`: the node agent. Owns the event loop; the libraries plug
 * their sockets and timers into it.
 */
#include "core/httpd.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "src/agent_flags.h"
#include "src/bgpspeaker.h"
#include "src/cmd.h"
#include "src/ctsysctl.h"
#include "src/kpconfig_file.h"
#include "src/l2speaker.h"
#include "src/lbctl.h"
#include "src/presence.h"
#include "lbip/svc.h"
#include "src/proxier.h"
#include "proxy/healthcheck.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CONSUMERS 8
#define KUBE_COUNTERS 3

struct agent {
	struct loop *loop;
	const char *node_name;
	/* kube wiring */
	const char *kubeconfig, *master, *healthz_bind, *metrics_bind;
	struct httpd *metrics_httpd;
	double kube_qps;
	int kube_burst;
	struct kube_client *kube;
	struct kube_informer *inf[KUBE_KIND_COUNT];
	struct httpd *httpd;
	/* the consumers (consumers_list) and their flags */
	struct consumer_slot {
		const struct consumer_ops *ops;
		const void *opts;
	} slot[MAX_CONSUMERS];
	void *cons[MAX_CONSUMERS];
	bool synced[MAX_CONSUMERS], all_synced;
	size_t n_cons;
	struct proxier_opts popts;
	struct lbctl_opts lbopts;
	struct l2speaker_opts l2opts;
	struct bgpspeaker_opts bgpopts;
	struct metrics *metrics;	/* /metrics: every part's registry */
	/* the caches' own counters, read at each scrape */
	struct metrics *kube_reg;
	struct kube_counters {
		struct metric *m[KUBE_COUNTERS];	/* as kube_counter_defs */
		struct kube_informer_stats seen;
	} kc[KUBE_KIND_COUNT];
	struct metric *api_reachable;
	/* in-cluster config: the API through the `kubernetes` Service */
	struct loop_timer boot_check;
	bool in_cluster, api_seen;
	char cm_selector[300];
	const char *nodeport_addresses[8], *cluster_cidrs[4], *service_cidrs[4];
	const char *pod_bridge, *pod_prefix;	/* --pod-bridge-interface, --pod-interface-name-prefix */
	const char *config_path;
	bool l2_off;
	/* --proxy=false: no proxier (no nftables at all); /healthz and /livez
	 * then answer from this, which never has a sync pending */
	bool proxy_off;
	struct hc_health health;
};

/* The caches' counters on /metrics, one family after another (their HELP
 * and TYPE lines once each): a relist storm or a tenant's malformed objects
 * show there, not only in the log. */
static const struct kube_counter_def {
	const char *name, *help;
	size_t off;		/* in struct kube_informer_stats */
} kube_counter_defs[KUBE_COUNTERS] = {
	{ "ferry_kube_relists_total", "Full lists after the first, by kind (a 410, or failed resumes)",
	  offsetof(struct kube_informer_stats, relists) },
	{ "ferry_kube_watch_errors_total", "Watches that broke (not the server's normal end), by kind",
	  offsetof(struct kube_informer_stats, watch_errors) },
	{ "ferry_kube_bad_objects_total", "Objects the agent could not read and left out, by kind",
	  offsetof(struct kube_informer_stats, bad_objects) },
};

static unsigned stat_at(const struct kube_informer_stats *st, size_t off)
{
	return *(const unsigned *)((const char *)st + off);
}

static void kube_scrape(void *arg)
{
	struct agent *a = arg;

	metric_set(a->api_reachable, a->kube && kube_client_reachable(a->kube));
	for (int k = 0; k < KUBE_KIND_COUNT; k++) {
		struct kube_counters *c = &a->kc[k];
		struct kube_informer_stats st;

		if (!a->inf[k] || !c->m[0])
			continue;
		kube_informer_stats(a->inf[k], &st);
		for (int i = 0; i < KUBE_COUNTERS; i++)
			metric_add(c->m[i], stat_at(&st, kube_counter_defs[i].off) -
					    stat_at(&c->seen, kube_counter_defs[i].off));
		c->seen = st;
	}
}

static int kube_metrics(struct agent *a)
{
	if (!(a->kube_reg = metrics_new()) ||
	    !(a->api_reachable = metrics_gauge(a->kube_reg, "ferry_kube_api_reachable", NULL,
					       "1 when the API server answers the agent, else 0")))
		return -1;
	for (int i = 0; i < KUBE_COUNTERS; i++)
		for (int k = 0; k < KUBE_KIND_COUNT; k++) {
			const struct kube_counter_def *d = &kube_counter_defs[i];
			char l[96];

			if (!a->inf[k])
				continue;
			snprintf(l, sizeof(l), "kind=\"%s\"", kube_kind_name(k));
			if (!(a->kc[k].m[i] = metrics_counter(a->kube_reg, d->name, l, d->help)))
				return -1;
		}
	metrics_on_scrape(a->kube_reg, kube_scrape, a);
	return metrics_include(a->metrics, a->kube_reg);
}

/* Durations as kube-proxy's flags take them ("30s", "1m0s", "250ms"):
 * the --config parser's Go-duration reader, negative ones refused. */
static int parse_duration_ms(const char *s, uint64_t *out)
{
	int64_t ns;

	if (kp_parse_duration(s, &ns) < 0 || ns < 0)
		return -1;
	*out = (uint64_t)(ns / 1000000);
	return 0;
}

/* Comma-separated list into a fixed array; returns the count or -1. */
static int split_list(char *s, const char **out, int max)
{
	int n = 0;

	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		if (n == max)
			return -1;
		out[n++] = tok;
	}
	return n;
}

/* ---- kube: informers, consumers and /healthz ---- */

/* kube-proxy's selector: the slices of headless Services and of those
 * another proxy owns serve no consumer. */
#define PROXY_SELECTOR "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name"

/* Every part of the agent that reads the caches, started in this order,
 * stopped in the reverse one. A new one is one line here. */
static size_t consumers_list(struct agent *a, struct consumer_slot *out)
{
	const struct consumer_slot list[] = {
		{ &proxier_consumer, &a->popts },
		{ &lbctl_consumer, &a->lbopts },
		{ &l2speaker_consumer, &a->l2opts },
		{ &bgpspeaker_consumer, &a->bgpopts },
	};

	size_t n = 0;

	_Static_assert(sizeof(list) / sizeof(list[0]) <= MAX_CONSUMERS, "raise MAX_CONSUMERS");
	for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++)
		if (list[i].ops != &proxier_consumer || !a->proxy_off)
			out[n++] = list[i];
	return n;
}

static bool kinds_synced(const struct agent *a, uint32_t kinds)
{
	for (int k = 0; k < KUBE_KIND_COUNT; k++)
		if ((kinds & 1u << k) && a->inf[k] && !kube_informer_synced(a->inf[k]))
			return false;
	return true;
}

/* Called by each informer after its first full list: every part whose
 * caches are now all complete may act (a partial view would delete rules
 * that still serve traffic). */
static void on_synced(void *arg)
{
	struct agent *a = arg;

	for (size_t i = 0; i < a->n_cons; i++) {
		if (!a->cons[i] || a->synced[i] || !kinds_synced(a, a->slot[i].ops->kinds))
			continue;
		a->synced[i] = true;
		log_info("agent", "caches synced", "part=%s nodes=%zu services=%zu endpointslices=%zu",
			 a->slot[i].ops->name, kube_informer_count(a->inf[KUBE_NODE]),
			 kube_informer_count(a->inf[KUBE_SERVICE]),
			 kube_informer_count(a->inf[KUBE_ENDPOINTSLICE]));
		a->slot[i].ops->synced(a->cons[i]);
	}
	if (!a->all_synced && kinds_synced(a, ~0u)) {
		a->all_synced = true;
		log_info("agent", "all informers synced", "");
	}
}

static void changed(struct agent *a, enum kube_kind kind, const struct kube_object *old,
		    const struct kube_object *obj)
{
	for (size_t i = 0; i < a->n_cons; i++)
		if (a->cons[i])
			a->slot[i].ops->changed(a->cons[i], kind, old, obj);
}

static void on_add(void *arg, const struct kube_object *o)
{
	changed(arg, o->kind, NULL, o);
}

static void on_update(void *arg, const struct kube_object *old, const struct kube_object *o)
{
	changed(arg, o->kind, old, o);
}

static void on_del(void *arg, const struct kube_object *o)
{
	changed(arg, o->kind, o, NULL);
	/* the Events' correlation state of a deleted object is dead */
	kube_events_forget(o->uid);
}

/* /healthz also says whether the API answers and every informer synced
 * (extra fields after kube-proxy's own); either false makes it 503. */
static bool healthz_extra(void *arg, struct httpd_resp *r)
{
	struct agent *a = arg;
	/* kube-proxy's semantics: the API being away says nothing about the
	 * data plane, which forwards on; a load balancer probing 10256 must
	 * not drain every node during a control-plane outage. Reachability is
	 * reported here and on /metrics (ferry_kube_api_reachable). Until its
	 * forwarding caches were listed once the node is not healthy. */
	bool api = a->kube && kube_client_reachable(a->kube), ok = true;
	int n = 0;

	httpd_printf(r, ",\"apiReachable\":%s,\"synced\":{", api ? "true" : "false");
	for (int k = 0; k < KUBE_KIND_COUNT; k++) {
		bool s = a->inf[k] && kube_informer_synced(a->inf[k]);

		if (!a->inf[k])
			continue;
		/* forwarding's caches decide; the allocator's are listed only */
		if (k == KUBE_SERVICE || k == KUBE_ENDPOINTSLICE || k == KUBE_NODE)
			ok = ok && s;
		httpd_printf(r, "%s\"%s\":%s", n++ ? "," : "", kube_kind_info(k)->plural,
			     s ? "true" : "false");
	}
	httpd_printf(r, "}");
	return ok;
}

static void status_http(void *arg, const struct httpd_req *req, struct httpd_resp *r)
{
	struct agent *a = arg;

	for (size_t i = 0; i < a->n_cons; i++)
		if (a->cons[i] && a->slot[i].ops->status)
			a->slot[i].ops->status(a->cons[i], r);
}

/* An HTTP server on `bind` ("" or NULL: none, *out stays NULL). */
static int open_http(struct agent *a, const char *bind, const char *what, struct httpd **out)
{
	int rc;

	if (!bind || !*bind)
		return 0;
	if (!(*out = httpd_new(a->loop, bind, &rc))) {
		log_err("agent", "cannot listen", "for=%s bind=%s err=%s", what, log_q(bind),
			log_q(strerror(-rc)));
		return -1;
	}
	log_info("agent", "listening", "for=%s bind=%s port=%d", what, log_q(bind), httpd_port(*out));
	return 0;
}

/* A node that boots with an empty ruleset reaches no Service address, and
 * the in-cluster address is one: say so instead of retrying in silence.
 * Checked until the API answers once. */
#define BOOT_CHECK_MS 15000
static void boot_check(struct loop_timer *t)
{
	struct agent *a = t->arg;

	if (kube_client_reachable(a->kube)) {
		a->api_seen = true;
		return;
	}
	if (!a->api_seen)
		log_err("agent", "the API server is unreachable through the kubernetes Service address",
			"server=%s why=%s", kube_client_server(a->kube),
			log_q("KUBERNETES_SERVICE_HOST is the kubernetes Service, which exists only once a "
			      "proxy has programmed it; on a node booting with an empty ruleset give ferry "
			      "the control plane's own address (ConfigMap ferry-system/ferry-api-server, "
			      "manifests/ferry.yaml)"));
	loop_timer_arm(a->loop, t, 4 * BOOT_CHECK_MS);
}

static int kube_start(struct agent *a)
{
	struct kube_config cfg;
	struct kube_client_opts co = { .qps = a->kube_qps, .burst = a->kube_burst,
				       .probe_ms = 10000 };
	struct kube_handlers h = { .add = on_add, .update = on_update, .del = on_del,
				   .synced = on_synced };
	/* every Service (each consumer filters its own: the proxier with
	 * proxy_service_ours); slices with kube-proxy's selector */
	struct kube_informer_opts proxied = { .label_selector = PROXY_SELECTOR };
	struct consumer_env env;
	char err[512];

	if (kube_config_resolve(&cfg, a->kubeconfig, a->master, err, sizeof(err)) < 0) {
		log_err("agent", "no usable Kubernetes configuration", "err=%s", log_q(err));
		return -1;
	}
	a->in_cluster = cfg.source && !strcmp(cfg.source, "in-cluster");
	a->kube = kube_client_new(a->loop, &cfg, &co);
	kube_config_free(&cfg);
	if (!a->kube)
		return -1;
	if (a->in_cluster) {
		loop_timer_init(&a->boot_check, boot_check, a);
		loop_timer_arm(a->loop, &a->boot_check, BOOT_CHECK_MS);
	}
	a->inf[KUBE_NODE] = kube_informer_new(a->kube, KUBE_NODE, NULL, &h, a);
	a->inf[KUBE_SERVICE] = kube_informer_new(a->kube, KUBE_SERVICE, NULL, &h, a);
	a->inf[KUBE_ENDPOINTSLICE] = kube_informer_new(a->kube, KUBE_ENDPOINTSLICE, &proxied, &h, a);
	/* the Service CIDRs, as kube-proxy reads them: an API server without
	 * the kind (404) or a ClusterRole from before it (403) reads as none */
	struct kube_informer_opts scidr = { .forbidden_is_empty = true };
	a->inf[KUBE_SERVICECIDR] = kube_informer_new(a->kube, KUBE_SERVICECIDR, &scidr, &h, a);
	if (!a->inf[KUBE_NODE] || !a->inf[KUBE_SERVICE] || !a->inf[KUBE_ENDPOINTSLICE] ||
	    !a->inf[KUBE_SERVICECIDR])
		return -1;
	/* the allocator's inputs: MetalLB's configuration (one ConfigMap, the
	 * metallb.io resources, cluster-wide as MetalLB reads them) and the
	 * Namespaces its pools may select */
	if (!a->lbopts.disabled || !a->l2opts.disabled || !a->bgpopts.disabled) {
		/* the manifest grants this ConfigMap in a separate file (it must not
		 * own metallb-system): not granted reads as no ConfigMap */
		struct kube_informer_opts cm = { .namespace = a->lbopts.config_namespace,
						 .field_selector = a->cm_selector,
						 .forbidden_is_empty = true };

		snprintf(a->cm_selector, sizeof(a->cm_selector), "metadata.name=%s",
			 a->lbopts.config_name);
		a->inf[KUBE_NAMESPACE] = kube_informer_new(a->kube, KUBE_NAMESPACE, NULL, &h, a);
		a->inf[KUBE_CONFIGMAP] = kube_informer_new(a->kube, KUBE_CONFIGMAP, &cm, &h, a);
		for (int k = KUBE_CUSTOM_FIRST; k < KUBE_KIND_COUNT; k++)
			a->inf[k] = kube_informer_new(a->kube, k, NULL, &h, a);
		for (int k = KUBE_NAMESPACE; k < KUBE_KIND_COUNT; k++)
			if (!a->inf[k])
				return -1;
	}
	if (open_http(a, a->healthz_bind, "/healthz", &a->httpd) < 0 ||
	    open_http(a, a->metrics_bind, "/metrics", &a->metrics_httpd) < 0)
		return -1;
	if (!(a->metrics = metrics_new()) || kube_metrics(a) < 0)
		return -1;
	if (a->metrics_httpd)
		httpd_route(a->metrics_httpd, "/metrics", metrics_http, a->metrics);
	a->popts.cfg.node_name = a->node_name;
	env = (struct consumer_env){
		.loop = a->loop, .node_name = a->node_name, .inf = a->inf,
		.kube = a->kube, .metrics = a->metrics,
		.healthz_httpd = a->httpd, .metrics_httpd = a->metrics_httpd,
		.healthz_extra = healthz_extra, .healthz_extra_arg = a,
	};
	a->n_cons = consumers_list(a, a->slot);
	for (size_t i = 0; i < a->n_cons; i++) {
		if (!(a->cons[i] = a->slot[i].ops->start(&env, a->slot[i].opts))) {
			log_err("agent", "cannot start", "part=%s", a->slot[i].ops->name);
			return -1;
		}
		log_v(2, "agent", "started", "part=%s", a->slot[i].ops->name);
	}
	if (a->proxy_off) {
		log_info("agent", "Service forwarding is off (--proxy=false): no nftables", "");
		hc_health_init(&a->health, 2 * a->popts.sync_period_ms);
		a->health.extra = healthz_extra;
		a->health.extra_arg = a;
		for (int k = 0; k < 2; k++) {
			struct httpd *s = k ? a->metrics_httpd : a->httpd;
			if (s) {
				httpd_route(s, "/healthz", hc_healthz_http, &a->health);
				httpd_route(s, "/livez", hc_livez_http, &a->health);
			}
		}
	}
	if (a->metrics_httpd)
		httpd_route(a->metrics_httpd, "/status", status_http, a);
	for (int k = 0; k < KUBE_KIND_COUNT; k++)
		if (a->inf[k] && kube_informer_start(a->inf[k]) < 0)
			return -1;
	return 0;
}

static void kube_stop(struct agent *a)
{
	if (a->in_cluster)
		loop_timer_cancel(a->loop, &a->boot_check);
	httpd_free(a->metrics_httpd);
	httpd_free(a->httpd);
	for (size_t i = a->n_cons; i-- > 0;)
		if (a->cons[i])
			a->slot[i].ops->stop(a->cons[i]);
	for (int k = 0; k < KUBE_KIND_COUNT; k++)
		kube_informer_free(a->inf[k]);
	kube_client_free(a->kube);
	metrics_free(a->metrics);
	metrics_free(a->kube_reg);
}

/*
 * kube-proxy's --config (KubeProxyConfiguration v1alpha1), so its users move
 * their settings over. What the file gives applies unless the same setting
 * was also given as a flag (flags win). Fields with no meaning for ferry and
 * unknown fields are logged by the parser, by name.
 */
static int apply_config(struct agent *a, const char *path, uint32_t flags, struct kp_config *kc)
{
	char err[512];
	uint32_t use;

	if (kp_config_load(path, false, kc, err, sizeof(err)) < 0) {
		fprintf(stderr, "ferry agent: --config %s: %s\n", path, err);
		return -1;
	}
	/* only fields a flag stands for apply: the reference says so of the rest */
	use = kc->set & agent_flags_kpc() & ~flags;
	if (use & KPC_HOSTNAME_OVERRIDE)
		a->node_name = kc->hostname_override;
	if (use & KPC_KUBECONFIG)
		a->kubeconfig = kc->kubeconfig;
	if (use & KPC_QPS)
		a->kube_qps = kc->qps;
	if (use & KPC_BURST)
		a->kube_burst = kc->burst;
	if (use & KPC_HEALTHZ_BIND_ADDRESS)
		a->healthz_bind = kc->healthz_bind_address;
	if (use & KPC_METRICS_BIND_ADDRESS)
		a->metrics_bind = kc->metrics_bind_address;
	if (use & KPC_SYNC_PERIOD)
		a->popts.sync_period_ms = kc->sync_period_ns / 1000000;
	if (use & KPC_MIN_SYNC_PERIOD)
		a->popts.min_sync_period_ms = kc->min_sync_period_ns / 1000000;
	if (use & KPC_MASQUERADE_ALL)
		a->popts.cfg.masquerade_all = kc->masquerade_all;
	if (use & KPC_MASQUERADE_BIT)	/* validated 0..31 by the parser */
		a->popts.cfg.masq_mark = 1u << kc->masquerade_bit;
	if (use & KPC_NODE_PORT_ADDRESSES) {
		a->popts.cfg.nodeport_addresses = (const char *const *)kc->node_port_addresses;
		a->popts.cfg.n_nodeport_addresses = kc->n_node_port_addresses;
	}
	if ((use & KPC_CLUSTER_CIDR) && kc->cluster_cidr && *kc->cluster_cidr) {
		int n = split_list(kc->cluster_cidr, a->cluster_cidrs, 4);
		if (n < 0) {
			fprintf(stderr, "ferry agent: --config %s: too many clusterCIDR entries\n", path);
			return -1;
		}
		a->popts.cfg.cluster_cidrs = a->cluster_cidrs;
		a->popts.cfg.n_cluster_cidrs = n;
	}
	if (use & KPC_DETECT_LOCAL_MODE)	/* validated by the parser */
		a->popts.cfg.local_mode = proxy_local_mode_parse(kc->detect_local_mode);
	if (use & KPC_DETECT_LOCAL_BRIDGE)
		a->pod_bridge = kc->detect_local_bridge_interface;
	if (use & KPC_DETECT_LOCAL_PREFIX)
		a->pod_prefix = kc->detect_local_interface_name_prefix;
	/* what the file says and ferry does not do is said, never silent */
	char unused[32][64];
	size_t n_unused = agent_flags_unused(kc->set, unused, 32);

	for (size_t i = 0; i < n_unused && i < 32; i++)
		log_warn("agent", "configuration field has no effect in ferry", "path=%s field=%s",
			 log_q(path), unused[i]);
	/* -v and the file: the higher verbosity, whichever gave it */
	if ((kc->set & KPC_LOG_VERBOSITY) && kc->log_verbosity > log_verbosity())
		log_set_verbosity(kc->log_verbosity);
	log_info("agent", "configuration file read", "path=%s fields=0x%x overridden_by_flags=0x%x warnings=%zu",
		 log_q(path), kc->set, kc->set & flags, kc->n_warnings);
	return 0;
}

static void on_stop_signal(struct loop *l, int signo, void *arg)
{
	log_info("agent", "stopping", "signal=%s", signo == SIGTERM ? "SIGTERM" : "SIGINT");
	loop_stop(l);
}

/* One flag's value into the agent, as given or as its table default: 0, or
 * 2 (the exit code) with the complaint printed. */
static int set_flag(struct agent *a, int id, const char *arg)
{
	uint64_t ms;
	char *end;
	int n, v;

	switch (id) {
	case AF_V:
		if ((v = parse_verbosity(arg)) < 0) {
			fprintf(stderr, "ferry agent: bad verbosity \"%s\"\n", arg);
			return 2;
		}
		log_set_verbosity(v);
		break;
	case AF_NODE_NAME:
	case AF_HOSTNAME_OVERRIDE:
		a->node_name = arg;
		break;
	case AF_KUBECONFIG:
		a->kubeconfig = arg;
		break;
	case AF_MASTER:
		a->master = arg;
		break;
	case AF_KUBE_API_QPS:
		a->kube_qps = strtod(arg, &end);
		if (*end || a->kube_qps <= 0) {
			fprintf(stderr, "ferry agent: bad --kube-api-qps \"%s\"\n", arg);
			return 2;
		}
		break;
	case AF_KUBE_API_BURST:
		a->kube_burst = (int)strtol(arg, &end, 10);
		if (*end || a->kube_burst <= 0) {
			fprintf(stderr, "ferry agent: bad --kube-api-burst \"%s\"\n", arg);
			return 2;
		}
		break;
	case AF_HEALTHZ_BIND_ADDRESS:
		a->healthz_bind = arg;
		break;
	case AF_METRICS_BIND_ADDRESS:
		a->metrics_bind = arg;
		break;
	case AF_SYNC_PERIOD:
	case AF_MIN_SYNC_PERIOD:
		if (parse_duration_ms(arg, id == AF_SYNC_PERIOD ? &a->popts.sync_period_ms :
				      &a->popts.min_sync_period_ms) < 0) {
			fprintf(stderr, "ferry agent: bad duration \"%s\" (like 30s, 1m0s, 250ms)\n", arg);
			return 2;
		}
		break;
	case AF_NODEPORT_ADDRESSES:
		/* strtok writes into argv's own string */
		if ((n = split_list((char *)arg, a->nodeport_addresses, 8)) < 0) {
			fprintf(stderr, "ferry agent: at most 8 --nodeport-addresses\n");
			return 2;
		}
		a->popts.cfg.nodeport_addresses = a->nodeport_addresses;
		a->popts.cfg.n_nodeport_addresses = n;
		break;
	case AF_CLUSTER_CIDR:
		if ((n = split_list((char *)arg, a->cluster_cidrs, 4)) < 0) {
			fprintf(stderr, "ferry agent: at most 4 --cluster-cidr\n");
			return 2;
		}
		a->popts.cfg.cluster_cidrs = a->cluster_cidrs;
		a->popts.cfg.n_cluster_cidrs = n;
		break;
	case AF_DETECT_LOCAL_MODE:
		if ((v = proxy_local_mode_parse(arg)) < 0) {
			fprintf(stderr, "ferry agent: bad --detect-local-mode \"%s\" (ClusterCIDR, NodeCIDR, "
				"BridgeInterface or InterfaceNamePrefix)\n", arg);
			return 2;
		}
		a->popts.cfg.local_mode = v;
		break;
	case AF_POD_BRIDGE_INTERFACE:
	case AF_POD_INTERFACE_NAME_PREFIX:
		if (strlen(arg) > 15) {
			fprintf(stderr, "ferry agent: --%s \"%s\": longer than an interface name (15)\n",
				agent_flags[id].name, arg);
			return 2;
		}
		*(id == AF_POD_BRIDGE_INTERFACE ? &a->pod_bridge : &a->pod_prefix) = arg;
		break;
	case AF_MASQUERADE_ALL:
		a->popts.cfg.masquerade_all = true;
		break;
	case AF_MASQUERADE_BIT:
		v = (int)strtol(arg, &end, 10);
		if (!*arg || *end || v < 0 || v > 31) {
			fprintf(stderr, "ferry agent: bad --iptables-masquerade-bit \"%s\" (0 to 31)\n", arg);
			return 2;
		}
		a->popts.cfg.masq_mark = 1u << v;
		break;
	case AF_SERVICE_CIDR:
		if ((n = split_list((char *)arg, a->service_cidrs, 4)) < 0) {
			fprintf(stderr, "ferry agent: at most 4 --service-cluster-ip-range\n");
			return 2;
		}
		for (int i = 0; i < n; i++) {
			struct faddr cidr;
			if (faddr_parse(&cidr, a->service_cidrs[i]) < 0) {
				fprintf(stderr, "ferry agent: bad --service-cluster-ip-range CIDR \"%s\"\n",
					a->service_cidrs[i]);
				return 2;
			}
		}
		a->popts.cfg.service_cidrs = a->service_cidrs;
		a->popts.cfg.n_service_cidrs = n;
		break;
	case AF_CONFIG:
		a->config_path = arg;
		break;
	case AF_CLEANUP_KUBE_PROXY:
	case AF_PROXY:
	case AF_LB_ALLOCATOR:
	case AF_L2:
	case AF_BGP: {
		bool off = !strcmp(arg, "false");

		if (strcmp(arg, "true") && !off) {
			fprintf(stderr, "ferry agent: --%s takes true or false\n", agent_flags[id].name);
			return 2;
		}
		if (id == AF_CLEANUP_KUBE_PROXY)
			a->popts.keep_kube_proxy = off;
		else if (id == AF_PROXY)
			a->proxy_off = off;
		else if (id == AF_LB_ALLOCATOR)
			a->lbopts.disabled = off;
		else if (id == AF_L2)
			a->l2_off = off;
		else
			a->bgpopts.disabled = off;
		break;
	}
	case AF_LB_CLASS: a->lbopts.lb_class = arg; break;
	case AF_LB_CONFIG_NAMESPACE: a->lbopts.config_namespace = arg; break;
	case AF_LB_CONFIG_NAME: a->lbopts.config_name = arg; break;
	case AF_LB_LEASE_NAMESPACE: a->lbopts.lease_namespace = arg; break;
	case AF_LB_LEASE_NAME: a->lbopts.lease_name = arg; break;
	case AF_LB_LEASE_DURATION:
	case AF_LB_RENEW_DEADLINE:
	case AF_LB_RETRY_PERIOD:
		if (parse_duration_ms(arg, &ms) < 0 || ms == 0 || ms > 3600000) {
			fprintf(stderr, "ferry agent: bad duration \"%s\" (like 15s)\n", arg);
			return 2;
		}
		if (id == AF_LB_LEASE_DURATION)
			a->lbopts.lease_duration_s = (int)((ms + 999) / 1000);
		else if (id == AF_LB_RENEW_DEADLINE)
			a->lbopts.renew_deadline_ms = (int)ms;
		else
			a->lbopts.retry_ms = (int)ms;
		break;
	case AF_L2_KEY_FILE: a->l2opts.key_file = arg; break;
	case AF_L2_INTERFACES:
		if ((n = split_list((char *)arg, a->l2opts.interfaces, L2_MAX_IFACE_FLAGS)) < 0) {
			fprintf(stderr, "ferry agent: at most %d --l2-interfaces\n", L2_MAX_IFACE_FLAGS);
			return 2;
		}
		a->l2opts.n_interfaces = (size_t)n;
		break;
	case AF_BGP_LISTEN_PORT: {
		unsigned long port = strtoul(arg, &end, 10);

		if (!*arg || *end || port > 65535) {
			fprintf(stderr, "ferry agent: --bgp-listen-port takes 0..65535\n");
			return 2;
		}
		a->bgpopts.listen_port = port ? (int)port : -1;
		break;
	}
	case AF_L2_BEAT_INTERVAL:
		if (parse_duration_ms(arg, &ms) < 0 || ms < 20 || ms > 10000) {
			fprintf(stderr, "ferry agent: --l2-beat-interval between 20ms and 10s\n");
			return 2;
		}
		a->l2opts.interval_ms = (uint32_t)ms;
		break;
	default:
		/* a flag in the table with no case here */
		fprintf(stderr, "ferry agent: --%s is not handled\n",
			id >= 0 && id < AF_COUNT ? agent_flags[id].name : "?");
		return 2;
	}
	return 0;
}

/* --detect-local-mode with the interface flag its mode names, as
 * kube-proxy validates them (a mode without its interface is refused). */
static int set_local_detection(struct agent *a)
{
	struct proxy_config *cfg = &a->popts.cfg;

	if (cfg->local_mode == PROXY_LOCAL_BRIDGE || cfg->local_mode == PROXY_LOCAL_IFACE_PREFIX) {
		bool bridge = cfg->local_mode == PROXY_LOCAL_BRIDGE;

		cfg->local_iface = bridge ? a->pod_bridge : a->pod_prefix;
		if (!cfg->local_iface || !*cfg->local_iface) {
			fprintf(stderr, "ferry agent: --detect-local-mode %s needs --%s\n",
				bridge ? "BridgeInterface" : "InterfaceNamePrefix",
				bridge ? "pod-bridge-interface" : "pod-interface-name-prefix");
			return -1;
		}
	} else if (cfg->local_mode == PROXY_LOCAL_CLUSTER_CIDR && !cfg->n_cluster_cidrs) {
		log_warn("agent", "detect-local-mode ClusterCIDR without --cluster-cidr: no traffic "
			 "counts as the pods'", "");
	}
	return 0;
}

int cmd_agent(int argc, char **argv)
{
	struct option opts[AF_COUNT + 1];
	char shortopts[16];
	struct agent a = { 0 };
	uint32_t flags_set = 0;		/* KPC_* bits given on the command line */
	struct kp_config kc = { 0 };
	char host[256] = "";
	int c, id, rc;

	if (agent_flags_getopt(opts, shortopts, sizeof(shortopts)) < 0) {
		fprintf(stderr, "ferry agent: broken flag table\n");
		return 1;
	}
	/* the defaults the table shows are the ones that apply */
	for (id = 0; id < AF_COUNT; id++)
		if (agent_flags[id].def && set_flag(&a, id, agent_flags[id].def))
			return 1;
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if ((id = agent_flags_id(c)) == AF_HELP) {
			agent_flags_usage(stdout);
			return 0;
		}
		if (id < 0) {
			agent_flags_usage(stderr);
			return 2;
		}
		if ((rc = set_flag(&a, id, optarg)))
			return rc;
		flags_set |= agent_flags[id].kpc;
	}
	if (a.config_path && apply_config(&a, a.config_path, flags_set, &kc) < 0)
		return 2;
	if (set_local_detection(&a) < 0)
		return 2;
	/* the file's conntrack.*: kube-proxy writes these sysctls itself; in
	 * the DaemonSet /proc/sys is read-only and each one is a warning */
	if (a.config_path && (kc.set & KPC_CONNTRACK) && !a.proxy_off) {
		struct kp_sysctl sc[KP_SYSCTL_MAX];
		ct_sysctl_apply("", sc, kp_conntrack_sysctls(&kc, sysconf(_SC_NPROCESSORS_ONLN), sc));
	}
	/* fencing needs the deadline well inside what the others wait */
	if (a.lbopts.renew_deadline_ms >= a.lbopts.lease_duration_s * 1000 ||
	    a.lbopts.retry_ms >= a.lbopts.renew_deadline_ms) {
		fprintf(stderr, "ferry agent: need --lb-retry-period < --lb-renew-deadline < --lb-lease-duration\n");
		return 2;
	}
	if (!a.node_name || !*a.node_name) {
		gethostname(host, sizeof(host) - 1);
		a.node_name = host;
	}
	/* layer 2 shares the allocator's view of MetalLB's configuration; it
	 * needs the heartbeat key, without which it cannot be safe */
	a.l2opts.lb_class = a.lbopts.lb_class;
	a.l2opts.config_namespace = a.lbopts.config_namespace;
	a.l2opts.config_name = a.lbopts.config_name;
	a.l2opts.disabled = a.l2_off || !a.l2opts.key_file;
	a.bgpopts.lb_class = a.lbopts.lb_class;
	a.bgpopts.config_namespace = a.lbopts.config_namespace;
	a.bgpopts.config_name = a.lbopts.config_name;

	a.loop = loop_new();
	if (!a.loop) {
		log_err("agent", "cannot create event loop", "err=%s", log_q(strerror(errno)));
		return 1;
	}
	loop_signal(a.loop, SIGTERM, on_stop_signal, &a);
	loop_signal(a.loop, SIGINT, on_stop_signal, &a);
	log_info("agent", "started", "version=%s node=%s pid=%d", FERRY_VERSION,
		 log_q(a.node_name), (int)getpid());
	if (a.l2_off)
		log_info("agent", "layer-2 announcement off (--l2=false)", "");
	else if (!a.l2opts.key_file)
		log_info("agent", "layer-2 announcement off: no --l2-key-file (the heartbeat between "
			 "agents needs a shared key)", "");
	/* held until exit: `ferry cleanup` will not delete live tables. Two
	 * agents on one node would fight over the same tables: say so. */
	int presence = presence_claim();

	if (presence == -EADDRINUSE)
		log_err("agent", "another ferry agent runs on this node (network namespace)", "");
	else if (presence < 0)
		log_warn("agent", "cannot mark this agent as running", "err=%s", log_q(strerror(-presence)));
	if (kube_start(&a) < 0) {
		kube_stop(&a);
		loop_free(a.loop);
		kp_config_free(&kc);
		return 1;
	}
	rc = loop_run(a.loop);
	kube_stop(&a);
	loop_free(a.loop);
	kp_config_free(&kc);
	log_info("agent", "stopped", "rc=%d", rc);
	return rc ? 1 : 0;
}
