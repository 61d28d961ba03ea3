/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "src/proxier.h"
#include "core/log.h"
#include "proxy/ctsync.h"
#include "nft/nft.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#define RETRY_MS 1000

struct proxier {
	struct loop *loop;
	struct proxier_opts o;
	struct kube_informer *svcs, *slices, *nodes;
	struct nft_sync *nft;
	struct loop_timer timer;	/* the next sync, coalesced */
	struct loop_timer periodic;
	bool started, dirty;
	uint64_t last_sync_ms;		/* monotonic */
	uint64_t coalesce_ms;		/* current wait after a sync (see schedule) */
	struct fstate want;		/* built by the last sync */
	struct fstate applied;		/* what the kernel holds */
	struct proxier_stats st;
	struct hc_health health;	/* /healthz, /livez */
	struct hc_servers *hc;		/* health-check node ports */
	struct kp_metrics metrics;
	uint32_t pending_svc, pending_eps;
	/* EndpointSlice changes since the last good sync: their trigger times
	 * (endpoints.kubernetes.io/last-change-trigger-time) and families */
	struct pending_trigger { char *when; int family; } *triggers;
	size_t n_triggers;
};

#define MAX_TRIGGERS 4096

static void each_cached(const void *cache, int (*fn)(void *, const struct kube_object *), void *arg)
{
	kube_informer_foreach(cache, fn, arg);
}

static uint64_t wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/*
 * When to sync after a change. An isolated change syncs at once: network
 * programming latency is the number users feel. Changes that keep coming
 * soon after a sync are gathered: the wait doubles from 10 ms up to
 * --min-sync-period (1 s by default, as kube-proxy's), so a burst of a
 * thousand changes costs a handful of syncs. The wait halves when changes
 * come further apart than it, and a gap of twice the wait ends the burst.
 */
#define FIRST_COALESCE_MS 10
#define QUIET_MS 100

static void schedule(struct proxier *p, uint64_t not_before_ms)
{
	uint64_t now = loop_now_ms(), since = now - p->last_sync_ms, at;

	/* An armed timer will pick this change up. */
	if (loop_timer_armed(&p->timer) && p->timer.due_ms >= not_before_ms)
		return;
	if (since > 2 * p->coalesce_ms + QUIET_MS)
		p->coalesce_ms = 0;		/* quiet: sync now */
	else if (since > p->coalesce_ms + QUIET_MS)
		p->coalesce_ms /= 2;		/* the burst is thinning out */
	else
		p->coalesce_ms = p->coalesce_ms ? 2 * p->coalesce_ms : FIRST_COALESCE_MS;
	if (p->coalesce_ms > p->o.min_sync_period_ms)
		p->coalesce_ms = p->o.min_sync_period_ms;
	at = p->last_sync_ms + p->coalesce_ms;
	if (at < not_before_ms)
		at = not_before_ms;
	loop_timer_arm(p->loop, &p->timer, at > now ? at - now : 0);
}

/* ---- health-check node ports ---- */

struct hc_collect {
	const struct proxier *p;
	struct hc_want *v;
	size_t n, cap;
};

static int collect_hc(void *arg, const struct kube_object *o)
{
	struct hc_collect *c = arg;
	const struct kube_service *s = kube_service(o);
	char prefix[FSVC_KEY_MAX + 2];
	const struct fstate *st = &c->p->want;
	uint32_t local = 0;

	if (!s || s->type != KUBE_SVC_LOAD_BALANCER || !s->health_check_node_port ||
	    s->external_traffic_policy != KUBE_POLICY_LOCAL)
		return 0;
	/* Local endpoints of any port of this Service, each address once. */
	int plen = snprintf(prefix, sizeof(prefix), "%s/%s:", o->namespace, o->name);
	struct faddr seen[64];
	size_t n_seen = 0;
	for (size_t i = 0; i < st->n_svcs; i++) {
		const struct fsvc *v = &st->svcs[i];
		if (strncmp(v->key, prefix, plen))
			continue;
		for (size_t j = 0; j < v->n_eps; j++) {
			const struct fendpoint *e = &v->eps[j];
			bool dup = false;
			if (!e->local || !e->ready)
				continue;
			for (size_t k = 0; k < n_seen && !dup; k++)
				dup = !memcmp(seen[k].a, e->addr.a, 16);
			if (!dup && n_seen < 64)
				seen[n_seen++] = e->addr;
			local += !dup;
		}
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 8;
		struct hc_want *nv = realloc(c->v, cap * sizeof(*nv));
		if (!nv)
			return 1;
		c->v = nv;
		c->cap = cap;
	}
	c->v[c->n++] = (struct hc_want){ o->namespace, o->name, s->health_check_node_port, local };
	return 0;
}

static void sync_health_ports(struct proxier *p)
{
	struct hc_collect c = { .p = p };

	if (!p->hc)
		return;
	kube_informer_foreach(p->svcs, collect_hc, &c);
	hc_sync(p->hc, c.v, c.n);
	free(c.v);
}

static void sync_now(struct proxier *p)
{
	struct proxy_input in = {
		.node = kube_node(kube_informer_get(p->nodes, "", p->o.cfg.node_name)),
		.foreach = each_cached, .services = p->svcs, .slices = p->slices,
	};
	struct proxy_stats ps;
	uint64_t t0 = loop_now_us();
	int err;

	p->dirty = false;
	p->last_sync_ms = loop_now_ms();
	if (!in.node)
		log_warn("proxy", "this node is not in the API yet; NodePorts wait for it",
			 "node=%s", log_q(p->o.cfg.node_name));
	err = proxy_build(&p->o.cfg, &in, &p->want, &ps);
	if (!err)
		err = fstate_check(&p->want);
	if (!err)
		err = nft_sync_apply(p->nft, &p->want);
	if (err) {
		struct kp_sync_result r = { .ok = false, .seconds = (loop_now_us() - t0) / 1e6 };
		kp_metrics_synced(&p->metrics, &r);
		p->st.sync_errors++;
		p->dirty = true;
		log_err("proxy", "sync failed; the previous ruleset stays, retrying",
			"err=%s retry_ms=%d", log_q(strerror(-err)), RETRY_MS);
		schedule(p, loop_now_ms() + RETRY_MS);
		return;
	}
	const struct nft_sync_stats *ns = nft_sync_last(p->nft);
	/* UDP has no teardown: flows still DNAT'ed to an endpoint that is gone
	 * (or to a Service that had none) would never recover. */
	proxy_ct_sync(&p->applied, &p->want, &p->metrics);
	sync_health_ports(p);
	/* the kernel now holds `want`: it becomes the base of the next diff */
	struct fstate tmp = p->applied;
	p->applied = p->want;
	p->want = tmp;
	hc_health_updated(&p->health, AF_INET);
	hc_health_updated(&p->health, AF_INET6);
	struct kp_sync_result r = { .ok = true, .full = ns->full, .messages = ns->messages,
				    .seconds = (loop_now_us() - t0) / 1e6 };
	kp_metrics_synced(&p->metrics, &r);
	p->pending_svc = p->pending_eps = 0;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	for (size_t i = 0; i < p->n_triggers; i++) {
		kp_metrics_netprog(&p->metrics, p->triggers[i].family, p->triggers[i].when, now);
		free(p->triggers[i].when);
	}
	p->n_triggers = 0;
	p->st.syncs++;
	p->st.last_sync_ms = (loop_now_us() - t0) / 1000.0;
	p->st.last_sync_unix_ms = wall_ms();
	p->st.services = ps.services;
	p->st.service_ports = ps.service_ports;
	p->st.endpoints = ps.endpoints;
	log_info("proxy", "synced", "services=%zu ports=%zu endpoints=%zu full=%s messages=%u "
		 "elements_added=%u elements_deleted=%u nft_ms=%.2f total_ms=%.2f",
		 ps.services, ps.service_ports, ps.endpoints, ns->full ? "yes" : "no",
		 ns->messages, ns->elements_added, ns->elements_deleted, ns->ms, p->st.last_sync_ms);
}

static void on_timer(struct loop_timer *t)
{
	struct proxier *p = t->arg;

	if (p->started)
		sync_now(p);
}

static void on_periodic(struct loop_timer *t)
{
	struct proxier *p = t->arg;

	loop_timer_arm(p->loop, &p->periodic, p->o.sync_period_ms);
	if (p->started) {
		log_v(2, "proxy", "periodic resync", "");
		schedule(p, 0);
	}
}

struct proxier *proxier_new(struct loop *l, const struct proxier_opts *o,
			    struct kube_informer *services, struct kube_informer *slices,
			    struct kube_informer *nodes)
{
	struct proxier *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->loop = l;
	p->o = *o;
	p->svcs = services;
	p->slices = slices;
	p->nodes = nodes;
	fstate_init(&p->want);
	fstate_init(&p->applied);
	hc_health_init(&p->health, 2 * (o->sync_period_ms ? o->sync_period_ms : 30000));
	if (kp_metrics_init(&p->metrics) < 0 ||
	    !(p->hc = hc_new(l, NULL, 0, &p->health))) {
		kp_metrics_free(&p->metrics);
		free(p);
		return NULL;
	}
	kp_metrics_bind_health(&p->metrics, &p->health);
	loop_timer_init(&p->timer, on_timer, p);
	loop_timer_init(&p->periodic, on_periodic, p);
	if (!(p->nft = nft_sync_new())) {
		hc_free(p->hc);
		kp_metrics_free(&p->metrics);
		free(p);
		return NULL;
	}
	return p;
}

void proxier_free(struct proxier *p)
{
	if (!p)
		return;
	loop_timer_cancel(p->loop, &p->timer);
	loop_timer_cancel(p->loop, &p->periodic);
	nft_sync_free(p->nft);
	hc_free(p->hc);
	kp_metrics_free(&p->metrics);
	fstate_free(&p->want);
	fstate_free(&p->applied);
	for (size_t i = 0; i < p->n_triggers; i++)
		free(p->triggers[i].when);
	free(p->triggers);
	free(p);
}

void proxier_start(struct proxier *p)
{
	if (p->started)
		return;
	p->started = true;
	log_info("proxy", "informers synced; programming the data plane", "");
	sync_now(p);
	if (p->o.sync_period_ms)
		loop_timer_arm(p->loop, &p->periodic, p->o.sync_period_ms);
}

void proxier_changed(struct proxier *p, enum kube_kind kind)
{
	if (kind == KUBE_SERVICE)
		p->st.service_changes++;
	else if (kind == KUBE_ENDPOINTSLICE)
		p->st.endpoint_changes++;
	kp_metrics_queued(&p->metrics, kind == KUBE_SERVICE, kind == KUBE_ENDPOINTSLICE);
	hc_health_queued(&p->health, AF_INET);
	hc_health_queued(&p->health, AF_INET6);
	p->dirty = true;
	if (p->started)
		schedule(p, 0);
}

const struct proxier_stats *proxier_stats(const struct proxier *p) { return &p->st; }
const struct fstate *proxier_applied(const struct proxier *p) { return &p->applied; }
struct hc_health *proxier_health(struct proxier *p) { return &p->health; }
struct metrics *proxier_metrics(struct proxier *p) { return p->metrics.reg; }

void proxier_slice_changed(struct proxier *p, const struct kube_object *o)
{
	const struct kube_endpointslice *s = kube_endpointslice(o);
	const char *when = kube_object_annotation(o, "endpoints.kubernetes.io/last-change-trigger-time");

	if (!s || !when || !p->started)
		return;
	if (!p->triggers && !(p->triggers = calloc(MAX_TRIGGERS, sizeof(*p->triggers))))
		return;
	if (p->n_triggers == MAX_TRIGGERS)
		return;		/* a burst this large: the first ones tell enough */
	char *copy = strdup(when);
	if (!copy)
		return;
	p->triggers[p->n_triggers++] = (struct pending_trigger){
		copy, s->address_type == KUBE_ADDR_IPV6 ? AF_INET6 : AF_INET };
}
