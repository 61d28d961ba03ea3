/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "src/proxier.h"
#include "core/hash.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/vec.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "nft/kpcleanup.h"
#include "nft/nft.h"
#include "proxy/claims.h"
#include "proxy/kpmetrics.h"
#include "proxy/sliceindex.h"
#include "src/ctclean.h"
#include "src/hcserver.h"
#include "src/status.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

/* a failed sync is retried after 1 s, doubling up to 30 s: a kernel that
 * keeps refusing must not starve the loop (probes, other parts) */
#define RETRY_MS 1000
#define RETRY_MAX_MS 30000
/* `ferry cleanup`, an operator's `nft flush ruleset`, another agent: our
 * tables are checked this often (one generation read when nothing moved),
 * so a deleted table is rebuilt in about a second, not at the next
 * periodic resync */
#define WATCH_MS 1000

/*
 * Where the proxier is between the caches and the kernel; every change of
 * state goes through set_state(), so the log (-v 3) reads as a trace:
 *
 *   WAITING  --informers synced------------------------------> FULL
 *   IDLE     --a Service's or slice's change-----------------> PENDING
 *   IDLE     --periodic resync-------------------------------> CHECK
 *   IDLE, PENDING --Node change, out of memory---------------> FULL
 *   IDLE     --someone else changed our tables (watch, 1 s)--> FULL
 *   PENDING, CHECK --periodic resync; CHECK --any change-----> FULL
 *   any but WAITING --sync fails-----------------------------> RETRY
 *   any but WAITING --sync succeeds--------------------------> IDLE
 *
 * FULL, CHECK and RETRY rebuild from the whole cache (PENDING too when
 * many Services changed). CHECK is the periodic self-check with nothing
 * changed: differences it finds are bugs of the change syncs. RETRY waits
 * out a failed sync and absorbs every change until a sync succeeds.
 */
enum px_state { PX_WAITING, PX_IDLE, PX_PENDING, PX_FULL, PX_CHECK, PX_RETRY };

struct proxier {
	struct loop *loop;
	struct proxier_opts o;
	struct kube_informer *svcs, *slices, *nodes, *svccidrs;
	struct nft_sync *nft;
	struct loop_timer timer;	/* the next sync, coalesced */
	struct loop_timer tail;		/* a burst's end: QUIET_MS after its last change */
	struct loop_timer periodic;
	struct loop_timer watch;	/* our tables, checked every WATCH_MS */
	bool kp_checked;		/* kube-proxy's leftovers looked for, once */
	enum px_state state;		/* only through set_state() */
	/* PX_PENDING: Services ("namespace/name") whose Service or
	 * EndpointSlices changed since the last good sync: the next sync
	 * rebuilds only them. */
	VEC(char *) changed;
	uint64_t last_sync_ms;		/* monotonic */
	uint64_t last_event_ms;		/* the last change seen */
	uint64_t coalesce_ms;		/* current wait after a sync (see schedule) */
	struct slice_index *by_service;	/* EndpointSlices per Service */
	/* an index update failed: syncs walk the whole cache from then on
	 * (a mode of the index, whatever the sync state) */
	bool index_broken;
	struct proxy_stats counts;	/* of `applied` */
	/* who owns each (address, proto, port) claimed by several Services;
	 * kept across syncs, brought to everything by every full one */
	struct claims *claims;
	struct metric *m_claim_conflicts;
	struct kube_recorder *rec;	/* Events on Services; NULL without an API */
	struct htab told;		/* struct told: problems sent as Events */
	struct fstate want;		/* scratch: what a sync builds */
	struct fstate applied;		/* what the kernel holds, sorted */
	struct proxier_stats st;
	const char *node_name;		/* for /status */
	struct hc_health health;	/* /healthz, /livez */
	struct hc_servers *hc;		/* health-check node ports */
	struct kp_metrics metrics;
	uint32_t pending_svc, pending_eps;
	int retry_ms;			/* the wait after the last failed sync */
	/* EndpointSlice changes since the last good sync: their trigger times
	 * (endpoints.kubernetes.io/last-change-trigger-time) and families */
	struct pending_trigger { char *when; int family; } *triggers;
	size_t n_triggers;
};

#define MAX_TRIGGERS 4096

static const char *const px_state_names[] = {
	"waiting", "idle", "pending", "full", "check", "retry",
};

static void set_state(struct proxier *p, enum px_state s, const char *why)
{
	if (p->state != s)
		log_v(3, "proxy", "proxier state", "from=%s to=%s why=%s",
		      px_state_names[p->state], px_state_names[s], log_q(why));
	p->state = s;
}

static bool started(const struct proxier *p) { return p->state != PX_WAITING; }
/* the next sync rebuilds from the whole cache */
static bool full_pending(const struct proxier *p)
{
	return p->state == PX_FULL || p->state == PX_CHECK || p->state == PX_RETRY;
}

static void each_cached(const void *cache, int (*fn)(void *, const struct kube_object *), void *arg)
{
	kube_informer_foreach(cache, fn, arg);
}

static const struct kube_object *get_cached(const void *cache, const char *ns, const char *name)
{
	return kube_informer_get(cache, ns, name);
}

struct visit {
	const struct proxier *p;
	const char *ns;
	int (*fn)(void *, const struct kube_object *);
	void *arg;
};

static void visit_slice(void *arg, const char *name)
{
	struct visit *v = arg;
	const struct kube_object *o = kube_informer_get(v->p->slices, v->ns, name);

	if (o)
		v->fn(v->arg, o);
}

static void slices_of(const void *arg, const char *ns, const char *name,
		      int (*fn)(void *, const struct kube_object *), void *fn_arg)
{
	const struct proxier *p = arg;
	struct visit v = { p, ns, fn, fn_arg };

	slice_index_foreach(p->by_service, ns, name, visit_slice, &v);
}

static uint64_t wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/*
 * When to sync after a change. An isolated change syncs at once: network
 * programming latency is the number users feel. A change is isolated when
 * none came in the QUIET_MS before it, even right after a burst (and the
 * burst's wait is kept for the changes after it). Changes
 * that keep coming are gathered: the wait after a sync doubles from 10 ms
 * up to --min-sync-period (1 s by default, as kube-proxy's), so a burst of
 * a thousand changes costs a handful of syncs. The wait halves when syncs
 * come further apart than it, and a gap of twice the wait ends the burst.
 * When the changes stop for QUIET_MS, the burst is over and nothing is
 * gained by waiting out the rest: its last changes sync then (on_tail).
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
	VEC(struct hc_want) want;
};

static int collect_hc(void *arg, const struct kube_object *o)
{
	struct hc_collect *c = arg;
	const struct kube_service *s = kube_service(o);
	const struct fstate *st = &c->p->applied;
	char svc[FSVC_KEY_MAX + 2];
	uint32_t local = 0;
	size_t lo, hi;

	if (!s || !proxy_service_ours(o) || s->type != KUBE_SVC_LOAD_BALANCER ||
	    !s->health_check_node_port ||
	    s->external_traffic_policy != KUBE_POLICY_LOCAL)
		return 0;
	/* Local endpoints of any port of this Service, each address once. */
	snprintf(svc, sizeof(svc), "%s/%s", o->namespace, o->name);
	fstate_service_range(st, svc, &lo, &hi);
	struct faddr seen[64];
	size_t n_seen = 0;
	for (size_t i = lo; i < hi; i++) {
		const struct fsvc *v = &st->svcs[i];
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
	return vec_push(&c->want, ((struct hc_want){ o->namespace, o->name,
						     s->health_check_node_port, local })) ? 1 : 0;
}

/* A changed Service has, or had, a health-check node port: the set of
 * ports to serve is collected again (a walk over all Services). */
static bool health_ports_touched(const struct proxier *p)
{
	for (size_t i = 0; i < p->changed.n; i++) {
		char ns[256];

		if (!proxy_split_key(p->changed.v[i], ns, sizeof(ns)))
			continue;
		const char *name = p->changed.v[i] + strlen(ns) + 1;
		const struct kube_service *s = kube_service(kube_informer_get(p->svcs, ns, name));
		if ((p->hc && hc_port(p->hc, ns, name) >= 0) ||
		    (s && proxy_service_ours(&s->obj) && s->type == KUBE_SVC_LOAD_BALANCER &&
		     s->health_check_node_port))
			return true;
	}
	return false;
}

/* The health-check ports listen where the NodePorts are served (kube-proxy:
 * the node's addresses inside nodePortAddresses, per family), read from the
 * interfaces at each sync that touches them. */
/* at most this many node addresses are looked at */
#define HC_MAX_BINDS 256

static void health_port_binds(struct proxier *p)
{
	struct faddr local[HC_MAX_BINDS];
	char buf[HC_MAX_BINDS][INET6_ADDRSTRLEN];
	const char *binds[HC_MAX_BINDS];
	size_t n_local = 0, idx[HC_MAX_BINDS];
	struct ifaddrs *ifs, *i;
	int n;

	if (getifaddrs(&ifs) < 0) {
		log_warn("healthcheck", "cannot list the node's addresses; health-check ports stay where they are",
			 "err=%s", log_q(strerror(errno)));
		return;
	}
	for (i = ifs; i; i = i->ifa_next) {
		struct faddr *a = &local[n_local];

		if (n_local == HC_MAX_BINDS) {
			log_warn("healthcheck", "more node addresses than health-check ports listen on",
				 "max=%d", HC_MAX_BINDS);
			break;
		}
		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		memset(a, 0, sizeof(*a));
		a->family = i->ifa_addr->sa_family;
		a->plen = a->family == AF_INET ? 32 : 128;
		if (a->family == AF_INET)
			memcpy(a->a, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		else if (IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr))
			continue;	/* a zone would be needed to bind it */
		else
			memcpy(a->a, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
		n_local++;
	}
	freeifaddrs(ifs);
	n = hc_bind_addrs(&p->applied.node, local, n_local, idx);
	for (int k = 0; k < n; k++)
		binds[k] = faddr_str(&local[idx[k]], buf[k], sizeof(buf[k]));
	if (hc_set_binds(p->hc, binds, n < 0 ? 0 : (size_t)n, n < 0) < 0)
		log_warn("healthcheck", "out of memory moving the health-check ports", "");
}

static void sync_health_ports(struct proxier *p)
{
	struct hc_collect c = { .p = p };

	if (!p->hc)
		return;
	health_port_binds(p);
	kube_informer_foreach(p->svcs, collect_hc, &c);
	hc_sync(p->hc, c.want.v, c.want.n);
	vec_free(&c.want);
}

/* ---- what Service owners are told (Events) ---- */

/* A Service's problems already told, until the Service changes: every
 * periodic resync builds it again and must not repeat them. */
struct told {
	struct hnode node;
	char *name;			/* "namespace/name" */
	uint64_t obj_hash;		/* of the Service told about */
	unsigned reasons;		/* bits of told_reasons[] */
};

static const char *const told_reasons[] = { "TooManyElements", "InvalidSourceRanges" };

static struct told *told_find(const struct proxier *p, const char *name)
{
	uint64_t h = hash_str(name, HASH_SEED);

	for (struct hnode *n = htab_first(&p->told, h); n; n = htab_next(n, h))
		if (!strcmp(container_of(n, struct told, node)->name, name))
			return container_of(n, struct told, node);
	return NULL;
}

static void told_forget(struct proxier *p, const char *ns, const char *name)
{
	char key[512];
	struct told *t;

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if ((t = told_find(p, key))) {
		htab_del(&p->told, &t->node);
		free(t->name);
		free(t);
	}
}

static void event(struct proxier *p, const char *ns, const char *name, const char *reason,
		  const char *msg)
{
	const struct kube_object *o = kube_informer_get(p->svcs, ns, name);
	struct kube_ref ref = { "Service", "v1", ns, name, o ? o->uid : NULL };

	if (p->rec)
		kube_event(p->rec, &ref, "Warning", reason, "%s", msg);
}

/* proxy_build's problems: a log line there, an Event here, once per
 * version of the Service */
static void on_problem(void *arg, const struct kube_object *o, const char *reason, const char *msg)
{
	struct proxier *p = arg;
	char key[512];
	struct told *t;
	unsigned bit = 0;

	for (unsigned i = 0; i < sizeof(told_reasons) / sizeof(*told_reasons); i++)
		if (!strcmp(reason, told_reasons[i]))
			bit = 1u << i;
	snprintf(key, sizeof(key), "%s/%s", o->namespace, o->name);
	if (!(t = told_find(p, key))) {
		if (!(t = calloc(1, sizeof(*t))) || !(t->name = strdup(key)) ||
		    htab_add(&p->told, &t->node, hash_str(key, HASH_SEED)) < 0) {
			if (t)
				free(t->name);
			free(t);
			return;
		}
	}
	if (t->obj_hash != o->hash) {
		t->obj_hash = o->hash;
		t->reasons = 0;
	}
	if (bit && (t->reasons & bit))
		return;
	t->reasons |= bit;
	event(p, o->namespace, o->name, reason, msg);
}

static void loss_text(char *buf, size_t len, const struct claim_loss *l)
{
	char a[64];
	const char *f = l->addr->family == AF_INET6 ? "[%s]:%u/%s" : "%s:%u/%s";
	int n = snprintf(buf, len, f, faddr_str(l->addr, a, sizeof(a)), l->port,
			 fproto_name(l->proto));

	if (n > 0 && (size_t)n < len)
		snprintf(buf + n, len - n, " of %s is %s %s", l->field,
			 l->winner_cluster ? "the ClusterIP of" : "claimed first by", l->winner);
}

/* a Service port lost an address to another Service (proxy/claims.h):
 * told once per loss, and again only after it was won back */
static void on_lost(void *arg, const struct claim_loss *l)
{
	struct proxier *p = arg;
	char what[256], msg[384], ns[256];

	loss_text(what, sizeof(what), l);
	log_warn("proxy", "address left out: another Service holds it", "service=%s lost=%s",
		 l->svc, log_q(what));
	snprintf(msg, sizeof(msg), "%s; left out of this node's data plane", what);
	if (proxy_split_key(l->svc, ns, sizeof(ns)))
		event(p, ns, l->svc + strlen(ns) + 1, "AddressConflict", msg);
}

/* ---- syncs ---- */

static void changed_clear(struct proxier *p)
{
	for (size_t i = 0; i < p->changed.n; i++)
		free(p->changed.v[i]);
	p->changed.n = 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What a state holds, for the log and `ferry status`. */
static void count_state(const struct fstate *st, struct proxy_stats *ps)
{
	const char *prev = NULL;
	size_t prev_len = 0;

	memset(ps, 0, sizeof(*ps));
	ps->service_ports = st->n_svcs;
	for (size_t i = 0; i < st->n_svcs; i++) {
		const char *k = st->svcs[i].key, *colon = strchr(k, ':');
		size_t len = colon ? (size_t)(colon - k) : strlen(k);

		if (!prev || len != prev_len || strncmp(prev, k, len))
			ps->services++;
		prev = k;
		prev_len = len;
		ps->endpoints += st->svcs[i].n_eps;
	}
}

/* counts += what `cur` holds - what `old` held */
static void count_delta(struct proxy_stats *counts, const struct fstate *old,
			const struct fstate *cur)
{
	struct proxy_stats a, b;

	count_state(old, &a);
	count_state(cur, &b);
	counts->services += b.services - a.services;
	counts->service_ports += b.service_ports - a.service_ports;
	counts->endpoints += b.endpoints - a.endpoints;
}

/* Everything from the whole cache, compared with what the kernel holds. */
static int sync_full(struct proxier *p, struct proxy_input *in, struct proxy_stats *ps)
{
	struct claim_set none;
	int err = claims_build(p->claims, &p->o.cfg, in, &p->want, ps, &none, on_lost, p);

	claim_set_free(&none);
	if (!err)
		err = fstate_check(&p->want);
	if (!err)
		err = nft_sync_apply(p->nft, &p->want);
	if (err)
		return err;
	/* UDP has no teardown: flows still DNAT'ed to an endpoint that is gone
	 * (or to a Service that had none) would never recover. */
	ct_clean(&p->applied, &p->want, &p->metrics);
	/* the kernel now holds `want`: it becomes the base of the next sync */
	fstate_free(&p->applied);
	p->applied = p->want;
	fstate_init(&p->want);
	count_state(&p->applied, &p->counts);
	return 0;
}

/*
 * Only the Services that changed: their ports are built anew, sent as one
 * nft_sync_update (O(changes)), then spliced into `applied`.
 */
static int sync_some(struct proxier *p, struct proxy_input *in)
{
	const char *const *svcs;
	const char **gone = NULL;
	struct fstate old;
	struct claim_set covered = { 0 };
	size_t n = 0, n_gone;
	int err;

	vec_sort(p->changed.v, p->changed.n, sizeof(*p->changed.v), str_cmp);
	for (size_t i = 0; i < p->changed.n; i++) {
		if (n && !strcmp(p->changed.v[n - 1], p->changed.v[i]))
			free(p->changed.v[i]);
		else
			p->changed.v[n++] = p->changed.v[i];
	}
	p->changed.n = n;
	in->only = (const char *const *)p->changed.v;
	in->n_only = n;
	fstate_init(&old);
	/* the changed Services, and those whose claims they moved */
	if ((err = claims_build(p->claims, &p->o.cfg, in, &p->want, NULL, &covered, on_lost, p)))
		goto out;
	svcs = covered.v;
	n = covered.n;
	if ((err = fstate_check(&p->want)) ||
	    (err = fstate_dropped_keys(&p->applied, svcs, n, &p->want, &gone, &n_gone)))
		goto out;
	err = nft_sync_update(p->nft, &p->applied.node, p->want.svcs, p->want.n_svcs, gone, n_gone);
	free(gone);		/* pointed into `applied`, about to change */
	if (err)
		goto out;
	/* `want` moves into `applied`, keeping a view of it for conntrack */
	struct fstate cur = { .node = p->applied.node };
	struct fsvc *cur_v = calloc(p->want.n_svcs + 1, sizeof(*cur_v));
	if (cur_v && p->want.n_svcs)	/* none: svcs is NULL, not for memcpy */
		memcpy(cur_v, p->want.svcs, p->want.n_svcs * sizeof(*cur_v));
	cur.svcs = cur_v;
	cur.n_svcs = cur_v ? p->want.n_svcs : 0;
	/* on failure the kernel is ahead of `applied`: the error makes the
	 * next sync a full one, which compares with nft/'s own copy */
	if ((err = fstate_replace_services(&p->applied, svcs, n, &p->want, &old))) {
		free(cur_v);
		goto out;
	}
	if (cur_v) {
		struct fstate was = { .node = p->applied.node, .svcs = old.svcs, .n_svcs = old.n_svcs };

		ct_clean(&was, &cur, &p->metrics);
		count_delta(&p->counts, &was, &cur);
	} else {
		count_state(&p->applied, &p->counts);
	}
	free(cur_v);
out:
	claim_set_free(&covered);
	fstate_free(&old);
	fstate_free(&p->want);
	return err;
}

/* Service ports with a Local policy and no local endpoint, per family, as
 * kubeproxy_sync_proxy_rules_no_local_endpoints_total counts them: their
 * traffic of that kind is dropped on this node. */
static void count_no_local(const struct fstate *st, struct kp_sync_result *r)
{
	for (size_t i = 0; i < st->n_svcs; i++) {
		const struct fsvc *v = &st->svcs[i];

		for (int f = 0; f < 2; f++) {
			int af = f ? AF_INET6 : AF_INET;
			bool has_ip = false, local = false;

			for (size_t k = 0; k < v->n_cluster_ips && !has_ip; k++)
				has_ip = v->cluster_ips[k].family == af;
			for (size_t k = 0; k < v->n_eps && !local; k++)
				local = v->eps[k].local && v->eps[k].addr.family == af &&
					(v->eps[k].ready || v->eps[k].serving);
			if (!has_ip || local)
				continue;
			r->no_local_internal[f] += v->internal_policy == FPOLICY_LOCAL;
			r->no_local_external[f] += v->external_policy == FPOLICY_LOCAL;
		}
	}
}

/* A rebuild from the whole cache beats many small ones past this share. */
#define SOME_MAX_SHARE 4

/* Once, right after ferry's first complete sync: every Service is served
 * by ferry's tables before kube-proxy's go, so a node moving over loses no
 * connection (established ones keep their conntrack entries). kube-proxy
 * cannot be running here: it would hold the health port ferry bound. */
static void cleanup_kube_proxy(struct proxier *p)
{
	int n = kp_cleanup();

	p->kp_checked = true;
	if (n > 0)
		log_info("proxy", "removed kube-proxy's leftovers", "objects=%d", n);
	else if (n < 0)
		log_warn("proxy", "kube-proxy's leftovers stay; `ferry cleanup --kube-proxy-only` removes them",
			 "err=%s", log_q(strerror(-n)));
}

static void sync_now(struct proxier *p)
{
	struct proxy_input in = {
		.node = kube_node(kube_informer_get(p->nodes, "", p->o.cfg.node_name)),
		.foreach = each_cached, .services = p->svcs, .slices = p->slices,
		.service_cidrs = p->svccidrs,
		.get = get_cached,
		.slices_of = p->index_broken ? NULL : slices_of, .slices_of_arg = p,
		.problem = on_problem, .problem_arg = p,
	};
	struct proxy_stats ps;
	uint64_t t0 = loop_now_us();
	bool full = full_pending(p) || p->changed.n * SOME_MAX_SHARE > p->applied.n_svcs + 64;
	int err;

	p->last_sync_ms = loop_now_ms();
	if (proxy_nodeports_wait(&p->o.cfg, in.node))
		log_warn("proxy", "this node is not in the API yet; NodePorts wait for it",
			 "node=%s", log_q(p->o.cfg.node_name));
	bool hc = full || health_ports_touched(p);
	err = full ? sync_full(p, &in, &ps) : sync_some(p, &in);
	if (err) {
		struct kp_sync_result r = { .ok = false, .seconds = (loop_now_us() - t0) / 1e6 };
		kp_metrics_synced(&p->metrics, &r);
		p->st.sync_errors++;
		changed_clear(p);
		p->retry_ms = p->retry_ms ? p->retry_ms * 2 : RETRY_MS;
		if (p->retry_ms > RETRY_MAX_MS)
			p->retry_ms = RETRY_MAX_MS;
		log_err("proxy", "sync failed; the previous ruleset stays, retrying",
			"err=%s retry_ms=%d", log_q(strerror(-err)), p->retry_ms);
		set_state(p, PX_RETRY, "sync failed");
		schedule(p, loop_now_ms() + p->retry_ms);
		return;
	}
	bool check = p->state == PX_CHECK;

	p->retry_ms = 0;
	set_state(p, PX_IDLE, "synced");
	if (p->m_claim_conflicts)
		metric_set(p->m_claim_conflicts, (double)claims_conflicts(p->claims));
	changed_clear(p);
	const struct nft_sync_stats *ns = nft_sync_last(p->nft);
	/* Syncs of what changed must add up to a rebuild of everything: a
	 * difference here (not someone else's edit: that is a full rebuild)
	 * is a bug in them, repaired by this sync. */
	if (check && !ns->full && (ns->elements_added || ns->elements_deleted))
		log_warn("proxy", "the periodic resync found differences the syncs of changes missed",
			 "elements_added=%u elements_deleted=%u", ns->elements_added,
			 ns->elements_deleted);
	ps = p->counts;
	if (hc)
		sync_health_ports(p);
	hc_health_updated(&p->health, AF_INET);
	hc_health_updated(&p->health, AF_INET6);
	struct kp_sync_result r = { .ok = true, .full = ns->full, .messages = ns->messages,
				    .seconds = (loop_now_us() - t0) / 1e6, .objects = ns->objects };

	count_no_local(&p->applied, &r);
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
	if (!p->kp_checked && ns->full && !p->o.keep_kube_proxy)
		cleanup_kube_proxy(p);
	log_info("proxy", "synced", "services=%zu ports=%zu endpoints=%zu rebuilt=%s full=%s "
		 "messages=%u elements_added=%u elements_deleted=%u nft_ms=%.2f total_ms=%.2f",
		 ps.services, ps.service_ports, ps.endpoints, full ? "all" : "changed",
		 ns->full ? "yes" : "no", ns->messages, ns->elements_added, ns->elements_deleted,
		 ns->ms, p->st.last_sync_ms);
}

static void on_timer(struct loop_timer *t)
{
	struct proxier *p = t->arg;

	if (started(p))
		sync_now(p);
}

static void on_tail(struct loop_timer *t)
{
	struct proxier *p = t->arg;
	uint64_t quiet = loop_now_ms() - p->last_event_ms;

	if (quiet < QUIET_MS) {		/* the burst went on: look again then */
		loop_timer_arm(p->loop, t, QUIET_MS - quiet);
		return;
	}
	/* a failed sync keeps its back-off */
	if (started(p) && p->state != PX_RETRY && loop_timer_armed(&p->timer))
		loop_timer_arm(p->loop, &p->timer, 0);
}

static void on_watch(struct loop_timer *t)
{
	struct proxier *p = t->arg;

	loop_timer_arm(p->loop, &p->watch, WATCH_MS);
	if (p->state != PX_IDLE || nft_sync_verify(p->nft) != 1)
		return;
	set_state(p, PX_FULL, "tables changed by someone else");
	schedule(p, 0);
}

static void on_periodic(struct loop_timer *t)
{
	struct proxier *p = t->arg;

	loop_timer_arm(p->loop, &p->periodic, p->o.sync_period_ms);
	if (started(p)) {
		log_v(2, "proxy", "periodic resync", "");
		/* with nothing changed it checks the change syncs; otherwise it
		 * rebuilds all (RETRY stays: it already does) */
		if (p->state == PX_IDLE)
			set_state(p, PX_CHECK, "periodic resync");
		else if (p->state != PX_RETRY)
			set_state(p, PX_FULL, "periodic resync");
		schedule(p, 0);
	}
}

static struct proxier *proxier_new(struct loop *l, const struct proxier_opts *o,
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
	if (!(p->by_service = slice_index_new()) || !(p->claims = claims_new())) {
		slice_index_free(p->by_service);
		free(p);
		return NULL;
	}
	hc_health_init(&p->health, 2 * (o->sync_period_ms ? o->sync_period_ms : 30000));
	if (kp_metrics_init(&p->metrics) < 0 ||
	    !(p->hc = hc_new(l, NULL, 0, &p->health))) {
		kp_metrics_free(&p->metrics);
		free(p);
		return NULL;
	}
	kp_metrics_bind_health(&p->metrics, &p->health);
	p->m_claim_conflicts = metrics_gauge(p->metrics.reg, "ferry_proxy_claim_conflicts", NULL,
					     "Addresses (IP, protocol, port) of Service ports left out "
					     "because another Service holds them (a ClusterIP, or an "
					     "older Service)");
	loop_timer_init(&p->timer, on_timer, p);
	loop_timer_init(&p->tail, on_tail, p);
	loop_timer_init(&p->periodic, on_periodic, p);
	loop_timer_init(&p->watch, on_watch, p);
	if (!(p->nft = nft_sync_new())) {
		hc_free(p->hc);
		kp_metrics_free(&p->metrics);
		free(p);
		return NULL;
	}
	return p;
}

static void proxier_free(struct proxier *p)
{
	if (!p)
		return;
	loop_timer_cancel(p->loop, &p->timer);
	loop_timer_cancel(p->loop, &p->tail);
	loop_timer_cancel(p->loop, &p->periodic);
	loop_timer_cancel(p->loop, &p->watch);
	nft_sync_free(p->nft);
	hc_free(p->hc);
	kp_metrics_free(&p->metrics);
	fstate_free(&p->want);
	fstate_free(&p->applied);
	slice_index_free(p->by_service);
	claims_free(p->claims);
	kube_recorder_free(p->rec);
	HTAB_WALK(&p->told, n) {
		struct told *t = container_of(n, struct told, node);

		htab_del(&p->told, n);
		free(t->name);
		free(t);
	}
	htab_free(&p->told);
	changed_clear(p);
	vec_free(&p->changed);
	for (size_t i = 0; i < p->n_triggers; i++)
		free(p->triggers[i].when);
	free(p->triggers);
	free(p);
}

static void proxier_start(struct proxier *p)
{
	if (started(p))
		return;
	set_state(p, PX_FULL, "informers synced");
	log_info("proxy", "informers synced; programming the data plane", "");
	sync_now(p);
	if (p->o.sync_period_ms)
		loop_timer_arm(p->loop, &p->periodic, p->o.sync_period_ms);
	loop_timer_arm(p->loop, &p->watch, WATCH_MS);
}

static void queued(struct proxier *p, enum kube_kind kind)
{
	uint64_t now = loop_now_ms();
	/* the first change after a quiet spell: not part of a burst */
	bool isolated = now - p->last_event_ms > QUIET_MS && started(p) && p->state != PX_RETRY;

	p->last_event_ms = now;
	/* a change: a pending self-check becomes a plain rebuild */
	if (p->state == PX_CHECK)
		set_state(p, PX_FULL, "changed during a check");
	if (kind == KUBE_SERVICE)
		p->st.service_changes++;
	else if (kind == KUBE_ENDPOINTSLICE)
		p->st.endpoint_changes++;
	kp_metrics_queued(&p->metrics, kind == KUBE_SERVICE, kind == KUBE_ENDPOINTSLICE);
	hc_health_queued(&p->health, AF_INET);
	hc_health_queued(&p->health, AF_INET6);
	if (!started(p))
		return;
	if (isolated) {
		/* programmed at once; a burst that pauses for a moment keeps the
		 * wait it built up, or every pause would restart the ramp */
		if (now - p->last_sync_ms > 2 * p->coalesce_ms + QUIET_MS)
			p->coalesce_ms = 0;
		loop_timer_arm(p->loop, &p->timer, 0);
		return;
	}
	schedule(p, 0);
	if (!loop_timer_armed(&p->tail))
		loop_timer_arm(p->loop, &p->tail, QUIET_MS);
}

static void proxier_changed(struct proxier *p, enum kube_kind kind)
{
	/* before the first sync everything is rebuilt anyway */
	if (p->state == PX_IDLE || p->state == PX_PENDING)
		set_state(p, PX_FULL, kind == KUBE_NODE ? "node changed" : "changed");
	queued(p, kind);
}

static void proxier_service_changed(struct proxier *p, enum kube_kind kind, const char *ns,
				    const char *name)
{
	char *key = NULL;

	if (!started(p)) {
		queued(p, kind);	/* the first sync builds everything */
		return;
	}
	if (!full_pending(p)) {
		if (asprintf(&key, "%s/%s", ns, name) < 0)
			key = NULL;
		if (!key || vec_push(&p->changed, key) < 0) {
			free(key);
			set_state(p, PX_FULL, "out of memory");	/* rebuild everything */
		} else {
			set_state(p, PX_PENDING, "service changed");
		}
	}
	queued(p, kind);
}


static void proxier_slice_event(struct proxier *p, const struct kube_object *old,
			 const struct kube_object *obj)
{
	if (slice_index_update(p->by_service, old, obj) < 0 && !p->index_broken) {
		log_err("proxy", "out of memory indexing EndpointSlices; syncs walk them all", "");
		p->index_broken = true;
	}
}

static void proxier_slice_changed(struct proxier *p, const struct kube_object *o)
{
	const struct kube_endpointslice *s = kube_endpointslice(o);
	const char *when = kube_object_annotation(o, "endpoints.kubernetes.io/last-change-trigger-time");

	if (!s || !when || !started(p))
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

/* ---- the agent's consumer ---- */

static void *px_start(const struct consumer_env *env, const void *opts)
{
	const struct proxier_opts *o = opts;
	struct proxier *p = proxier_new(env->loop, o, env->inf[KUBE_SERVICE],
					env->inf[KUBE_ENDPOINTSLICE], env->inf[KUBE_NODE]);

	if (!p) {
		log_err("agent", "cannot open the nftables netlink socket", "");
		return NULL;
	}
	p->node_name = env->node_name;
	p->svccidrs = env->inf[KUBE_SERVICECIDR];
	/* a Service's owner learns why it is not (fully) forwarded */
	if (env->kube && !(p->rec = kube_recorder_new(env->kube, "ferry-proxy", env->node_name)))
		log_warn("proxy", "no Event recorder; problems are logged only", "");
	p->health.extra = env->healthz_extra;
	p->health.extra_arg = env->healthz_extra_arg;
	/* kube-proxy's bodies and codes: load balancers and probes written
	 * for kube-proxy read them unchanged */
	if (env->healthz_httpd) {
		httpd_route(env->healthz_httpd, "/healthz", hc_healthz_http, &p->health);
		httpd_route(env->healthz_httpd, "/livez", hc_livez_http, &p->health);
	}
	if (env->metrics && metrics_include(env->metrics, p->metrics.reg) < 0) {
		proxier_free(p);
		return NULL;
	}
	if (env->metrics_httpd) {
		httpd_route(env->metrics_httpd, "/healthz", hc_healthz_http, &p->health);
		/* kube-proxy's mode page: tools and the upstream e2e read it */
		httpd_route(env->metrics_httpd, "/proxyMode", kp_metrics_proxy_mode, NULL);
		/* the liveness probe's door: loopback only by default, so
		 * strangers holding 10256's connections cannot get the agent
		 * restarted (the manifest probes 127.0.0.1:10249/livez) */
		httpd_route(env->metrics_httpd, "/livez", hc_livez_http, &p->health);
	}
	return p;
}

/* What a change means to forwarding: this Node's touches every Service,
 * a Service's or an EndpointSlice's only its own Service. */
static void px_changed(void *arg, enum kube_kind kind, const struct kube_object *old,
		       const struct kube_object *obj)
{
	struct proxier *p = arg;
	const struct kube_object *o = obj ? obj : old;
	const struct kube_endpointslice *s;

	if (obj)
		proxier_slice_changed(p, obj);
	switch (kind) {
	case KUBE_NODE:
		/* Only this node's Node object matters to forwarding. */
		if (strcmp(o->name, p->o.cfg.node_name))
			return;
		if (!obj) {
			/* our Node was deleted: the node is leaving the cluster
			 * (kube-proxy exits here); load balancers drain it, and
			 * forwarding carries on for what is still in flight */
			hc_health_node_eligible(&p->health, false);
			proxier_changed(p, kind);
			return;
		}
		/* kube-proxy's rule: load balancers probing /healthz drain a node
		 * that is going away */
		hc_health_node_eligible(&p->health,
					!kube_node(obj)->deleting && !kube_node(obj)->to_be_deleted);
		if (!old || !proxy_node_same(kube_node(old), kube_node(obj)))
			proxier_changed(p, kind);
		break;
	case KUBE_SERVICECIDR:
		/* the Service CIDRs are node settings: everything is rebuilt
		 * (their spec is immutable: only creation and deletion count) */
		if (!old || !obj)
			proxier_changed(p, kind);
		break;
	case KUBE_SERVICE:
		/* Services that are not ours were never seen (kube-proxy's label
		 * selector); one that stops being ours is deleted, one that
		 * becomes ours added */
		if (!obj)
			told_forget(p, old->namespace, old->name);
		if (!proxy_service_ours(old) && !proxy_service_ours(obj))
			return;
		proxier_service_changed(p, kind, o->namespace, o->name);
		break;
	case KUBE_ENDPOINTSLICE:
		proxier_slice_event(p, old, obj);
		/* a slice may move to another Service: both change */
		if (old && (s = kube_endpointslice(old)) && s->service_name)
			proxier_service_changed(p, kind, old->namespace, s->service_name);
		if (obj && (s = kube_endpointslice(obj)) && s->service_name)
			proxier_service_changed(p, kind, obj->namespace, s->service_name);
		break;
	default:
		break;
	}
}

static void px_synced(void *arg)
{
	proxier_start(arg);
}

static void note_loss(void *arg, const struct claim_loss *l)
{
	char what[256];

	loss_text(what, sizeof(what), l);
	httpd_printf(arg, "    %-13s %s\n", "left out", what);
}

/* `ferry status`: the addresses a port lost to another Service */
static void status_note(void *arg, const struct fsvc *v, struct httpd_resp *r)
{
	struct proxier *p = arg;
	char svc[FSVC_KEY_MAX + 2];

	snprintf(svc, sizeof(svc), "%.*s", (int)strcspn(v->key, ":"), v->key);
	claims_lost_of(p->claims, svc, v->proto, v->port, note_loss, r);
}

static void px_status(void *arg, struct httpd_resp *r)
{
	struct proxier *p = arg;

	httpd_printf(r, "node %s: %llu syncs, %llu failed, last took %.2f ms\n", p->node_name,
		     (unsigned long long)p->st.syncs, (unsigned long long)p->st.sync_errors,
		     p->st.last_sync_ms);
	status_text(&p->applied, r, status_note, p);
}

static void px_stop(void *arg)
{
	proxier_free(arg);
}

const struct consumer_ops proxier_consumer = {
	.name = "proxy",
	.kinds = 1u << KUBE_SERVICE | 1u << KUBE_ENDPOINTSLICE | 1u << KUBE_NODE | 1u << KUBE_SERVICECIDR,
	.start = px_start,
	.changed = px_changed,
	.synced = px_synced,
	.status = px_status,
	.stop = px_stop,
};
