/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The LoadBalancer allocator's driver (see lbctl.h). Decisions are lbip/'s
 * (configparse, alloc, svc); this file touches the world: the Lease, the
 * Service status writes and the Events.
 *
 * One timer does the work: every change marks what it touches (the
 * configuration, one Service, or everything) and arms it at 0 ms, so a
 * list page or a burst of events is one pass.
 *
 * Leadership:  follower --lease taken--> leader (restore every Service's
 * status into a fresh allocator, oldest first, then assign) --lease lost-->
 * follower (the allocator is dropped: the next leader rebuilds its view
 * from the statuses, which are the only truth).
 */
#include "src/lbctl.h"

#include "core/hash.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/vec.h"
#include "kube/events.h"
#include "kube/lease.h"
#include "kube/write.h"
#include "lbip/alloc.h"
#include "lbip/configparse.h"
#include "lbip/svc.h"
#include "src/lbconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What ferry knows of one Service it allocates for. */
struct lbsvc {
	struct hnode node;
	char *key;			/* "namespace/name" */
	bool dirty;
	struct kube_req *write;		/* a status write in flight */
	char reason[LB_REASON_MAX];	/* why it is pending; "" when not */
	bool orphan;			/* reported: its address left every pool */
};

struct pool_metrics {
	char *pool;
	struct metric *total, *in_use;
};

struct lbctl {
	struct consumer_env env;
	struct lbctl_opts o;
	struct kube_recorder *rec;
	struct kube_lease *lease;
	struct lb_alloc *alloc;		/* the leader's view; NULL on followers */
	struct lb_config *cfg;		/* the last good configuration */
	char cfg_summary[160];
	bool synced, leader, cfg_dirty, all_dirty;
	struct htab svcs;		/* struct lbsvc by key */
	struct loop_timer timer;
	VEC(struct pool_metrics) pm;
	struct metric *m_config_ok, *m_config_errors, *m_writes, *m_write_errors;
};

static const char *const custom_kinds_doc =
	"IPAddressPool, L2Advertisement, BGPAdvertisement, Community, BGPPeer, BFDProfile";

/* ---- the Services ferry tracks ---- */

static struct lbsvc *svc_find(struct lbctl *c, const char *key, bool create)
{
	uint64_t h = hash_str(key, HASH_SEED);
	struct lbsvc *s;

	for (struct hnode *n = htab_first(&c->svcs, h); n; n = htab_next(n, h)) {
		s = container_of(n, struct lbsvc, node);
		if (!strcmp(s->key, key))
			return s;
	}
	if (!create || !(s = calloc(1, sizeof(*s))))
		return NULL;
	if (!(s->key = strdup(key)) || htab_add(&c->svcs, &s->node, h) < 0) {
		free(s->key);
		free(s);
		return NULL;
	}
	return s;
}

static void svc_forget(struct lbctl *c, struct lbsvc *s)
{
	if (s->write)
		kube_request_cancel(s->write);
	htab_del(&c->svcs, &s->node);
	free(s->key);
	free(s);
}

static void kick(struct lbctl *c)
{
	if (!loop_timer_armed(&c->timer))
		loop_timer_arm(c->env.loop, &c->timer, 0);
}

static void mark(struct lbctl *c, const char *ns, const char *name)
{
	char key[512];
	struct lbsvc *s;

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if ((s = svc_find(c, key, true)))
		s->dirty = true;
	else
		c->all_dirty = true;	/* out of memory: the next pass looks at all */
	kick(c);
}

/* ---- configuration ---- */

/* An Event on every resource an error names ("Kind ns/name: ..."), or on
 * the ConfigMap when the error is the ConfigMap's. */
struct cr_event {
	struct lbctl *c;
	const struct lb_error *e;
	const char *kind;
	const char *api_version;
	bool hit;
};

static int emit_cr_event(void *arg, const struct kube_object *o)
{
	struct cr_event *x = arg;
	char prefix[400];
	struct kube_ref ref;

	snprintf(prefix, sizeof(prefix), "%s %s/%s:", x->kind, o->namespace, o->name);
	if (strncmp(x->e->path, prefix, strlen(prefix)))
		return 0;
	ref = (struct kube_ref){ x->kind, x->api_version, o->namespace, o->name, o->uid };
	kube_event(x->c->rec, &ref, "Warning", "InvalidConfig", "%s %s", x->e->path, x->e->msg);
	x->hit = true;
	return 1;
}

static void report_config_errors(struct lbctl *c, const struct kube_object *cm,
				 const struct lb_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++) {
		const struct lb_error *e = &errs->v[i];
		struct cr_event x = { c, e, NULL, NULL, false };

		if (e->warning) {
			log_warn("lb", "configuration", "path=%s msg=%s", log_q(e->path), log_q(e->msg));
			continue;
		}
		log_err("lb", "configuration refused, the last good one stays in force",
			"path=%s err=%s", log_q(e->path), log_q(e->msg));
		for (int k = KUBE_CUSTOM_FIRST; k < KUBE_KIND_COUNT && !x.hit; k++) {
			if (!c->env.inf[k])
				continue;
			x.kind = kube_kind_info(k)->kind;
			x.api_version = kube_kind_info(k)->group_version;
			kube_informer_foreach(c->env.inf[k], emit_cr_event, &x);
		}
		if (!x.hit && cm) {
			struct kube_ref ref = { "ConfigMap", "v1", cm->namespace, cm->name, cm->uid };
			kube_event(c->rec, &ref, "Warning", "InvalidConfig", "%s: %s", e->path, e->msg);
		}
	}
}

static void pool_metrics_update(struct lbctl *c);

/* Build the configuration from the caches; keep the last good one when the
 * new one is refused. */
static void load_config(struct lbctl *c)
{
	struct lb_errors errs = { 0 };
	struct lb_config *cfg = NULL;
	const struct kube_object *cm = NULL;
	int rc;

	c->cfg_dirty = false;
	rc = lb_config_from_caches(c->env.inf, c->o.config_namespace, c->o.config_name, &cfg, &cm,
				   &errs);
	if (rc == -ENOMEM && !errs.n) {
		c->cfg_dirty = true;	/* try again at the next pass */
	} else if (rc < 0) {
		report_config_errors(c, cm, &errs);
		metric_inc(c->m_config_errors);
		metric_set(c->m_config_ok, 0);
	} else {
		report_config_errors(c, cm, &errs);	/* warnings only */
		if (c->alloc && lb_alloc_set_config(c->alloc, cfg) < 0) {
			log_err("lb", "cannot apply the configuration", "err=%s", log_q(strerror(ENOMEM)));
			lb_config_free(cfg);
			c->cfg_dirty = true;
		} else {
			lb_config_free(c->cfg);
			c->cfg = cfg;
			lb_config_summary(cfg, c->cfg_summary, sizeof(c->cfg_summary));
			log_info("lb", "configuration in force", "%s", c->cfg_summary);
			metric_set(c->m_config_ok, 1);
			c->all_dirty = true;	/* every Service may fit otherwise now */
		}
	}
	lb_errors_free(&errs);
	pool_metrics_update(c);
}

/* ---- metrics: MetalLB's names, one pair of gauges per pool ---- */

static void pool_metrics_update(struct lbctl *c)
{
	size_t np = c->alloc ? lb_alloc_n_pools(c->alloc) : 0;
	struct lb_pool_stats st;
	char labels[320];

	if (!c->env.metrics)
		return;
	/* drop the pools that are gone (or all of them on a follower) */
	for (size_t i = 0; i < c->pm.n;) {
		bool keep = false;

		for (size_t p = 0; p < np && !keep; p++) {
			lb_alloc_pool_stats(c->alloc, p, &st);
			keep = !strcmp(st.name, c->pm.v[i].pool);
		}
		if (keep) {
			i++;
			continue;
		}
		metrics_remove(c->env.metrics, c->pm.v[i].total);
		metrics_remove(c->env.metrics, c->pm.v[i].in_use);
		free(c->pm.v[i].pool);
		c->pm.v[i] = c->pm.v[--c->pm.n];
	}
	for (size_t p = 0; p < np; p++) {
		struct pool_metrics *m = NULL;

		lb_alloc_pool_stats(c->alloc, p, &st);
		for (size_t i = 0; i < c->pm.n && !m; i++)
			if (!strcmp(c->pm.v[i].pool, st.name))
				m = &c->pm.v[i];
		if (!m) {
			struct pool_metrics nm = { strdup(st.name), NULL, NULL };

			snprintf(labels, sizeof(labels), "pool=\"%s\"", st.name);
			nm.total = metrics_gauge(c->env.metrics, "metallb_allocator_addresses_total",
						 labels, "Number of usable IP addresses, per pool");
			nm.in_use = metrics_gauge(c->env.metrics, "metallb_allocator_addresses_in_use_total",
						  labels, "Number of IP addresses in use, per pool");
			if (!nm.pool || !nm.total || !nm.in_use || vec_push(&c->pm, nm) < 0) {
				free(nm.pool);
				metrics_remove(c->env.metrics, nm.total);
				metrics_remove(c->env.metrics, nm.in_use);
				continue;
			}
			m = &c->pm.v[c->pm.n - 1];
		}
		/* a /64 reports UINT64_MAX: Prometheus gets a float anyway */
		metric_set(m->total, (double)st.size);
		metric_set(m->in_use, (double)st.in_use);
	}
}

/* ---- status writes ---- */

struct write_ctx {
	struct lbctl *c;
	char *key;
	char ips[2][64];
	size_t n;
	char pool[LB_NAME_MAX];
	char uid[64];
};

static void write_done(void *arg, const struct kube_result *r)
{
	struct write_ctx *w = arg;
	struct lbctl *c = w->c;
	struct lbsvc *s = svc_find(c, w->key, false);
	char *slash = strchr(w->key, '/');

	if (s)
		s->write = NULL;
	*slash = '\0';
	if (r->status >= 200 && r->status < 300) {
		metric_inc(c->m_writes);
		const struct kube_object *now = kube_informer_get(c->env.inf[KUBE_SERVICE], w->key,
								   slash + 1);
		/* deleted while the write was on its way: no Event for a
		 * Service that is gone (its Event state was already dropped,
		 * kube_events_forget, and would stay for good) */
		bool gone = !now || !now->uid || strcmp(now->uid, w->uid);

		if (w->n)
			log_info("lb", "IP allocated", "service=%s/%s ips=%s%s%s pool=%s", w->key,
				 slash + 1, w->ips[0], w->n > 1 ? "," : "", w->n > 1 ? w->ips[1] : "",
				 log_q(w->pool));
		if (w->n && !gone) {
			struct kube_ref ref = { "Service", "v1", w->key, slash + 1, w->uid };

			if (w->n > 1)
				kube_event(c->rec, &ref, "Normal", "IPAllocated",
					   "Assigned IP [\"%s\" \"%s\"]", w->ips[0], w->ips[1]);
			else
				kube_event(c->rec, &ref, "Normal", "IPAllocated", "Assigned IP [\"%s\"]",
					   w->ips[0]);
		}
	} else {
		metric_inc(c->m_write_errors);
		/* 409: the Service changed under us; the informer brings the
		 * new one and the next pass decides again. Other errors: retry. */
		log_v(r->status == 409 ? 2 : 0, "lb", "status write failed",
		      "service=%s/%s status=%d err=%s", w->key, slash + 1, r->status,
		      log_q(r->msg ? r->msg : ""));
		if (s) {
			s->dirty = true;
			if (!loop_timer_armed(&c->timer))
				loop_timer_arm(c->env.loop, &c->timer, r->status == 409 ? 0 : 1000);
		}
	}
	free(w->key);
	free(w);
}

static bool same_ips(const struct lb_svc *v, const struct lb_result *res)
{
	if (v->n_status_ips != res->n_ips)
		return false;
	for (size_t i = 0; i < res->n_ips; i++)
		if (lb_addr_cmp(&v->status_ips[i], &res->ips[i]))
			return false;
	return true;
}

static void write_status(struct lbctl *c, struct lbsvc *s, const struct kube_service *svc,
			 const struct lb_result *res)
{
	struct write_ctx *w;
	const char *ips[2];

	/* fencing: a deposed leader never writes */
	if (!kube_lease_valid(c->lease) || s->write)
		return;
	if (!(w = calloc(1, sizeof(*w))) || !(w->key = strdup(s->key))) {
		free(w);
		s->dirty = true;
		return;
	}
	w->c = c;
	w->n = res->n_ips;
	for (size_t i = 0; i < res->n_ips; i++) {
		lb_addr_format(&res->ips[i], w->ips[i], sizeof(w->ips[i]));
		ips[i] = w->ips[i];
	}
	snprintf(w->pool, sizeof(w->pool), "%s", res->pool);
	snprintf(w->uid, sizeof(w->uid), "%s", svc->obj.uid ? svc->obj.uid : "");
	s->write = kube_service_set_ingress(c->env.kube, svc->obj.namespace, svc->obj.name,
					    svc->obj.resource_version, ips, res->n_ips, write_done, w);
	if (!s->write) {
		free(w->key);
		free(w);
		s->dirty = true;
	}
}

/* ---- one Service ---- */

static const struct kube_namespace *ns_of(struct lbctl *c, const char *ns)
{
	return c->env.inf[KUBE_NAMESPACE] ?
		kube_namespace(kube_informer_get(c->env.inf[KUBE_NAMESPACE], "", ns)) : NULL;
}

static void reconcile(struct lbctl *c, struct lbsvc *s)
{
	char ns[256];
	const char *slash = strchr(s->key, '/');
	const struct kube_service *svc;
	struct lb_svc_view v;
	struct lb_result res;
	int rc;

	s->dirty = false;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - s->key), s->key);
	svc = kube_service(kube_informer_get(c->env.inf[KUBE_SERVICE], ns, slash + 1));
	if (!svc || !lb_svc_is_ours(svc, c->o.lb_class)) {
		bool had = c->alloc && lb_alloc_get(c->alloc, ns, slash + 1, &res);

		if (c->alloc)
			lb_alloc_release(c->alloc, ns, slash + 1);
		if (had && svc) {
			/* no longer ours (type or class changed): take our address back */
			if (svc->n_lb_ingress) {
				res.n_ips = 0;
				write_status(c, s, svc, &res);
			}
			if (s->write)
				return;
		}
		if (!s->write)
			svc_forget(c, s);
		return;
	}
	if (!c->alloc)
		return;		/* a follower: the leader decides */
	if (!c->cfg || c->cfg->source == LB_SRC_NONE) {
		snprintf(s->reason, sizeof(s->reason), "no MetalLB configuration (ConfigMap %s/%s or metallb.io resources)",
			 c->o.config_namespace, c->o.config_name);
		return;
	}
	if (lb_svc_view_init(&v, svc, ns_of(c, ns)) < 0) {
		s->dirty = true;
		return;
	}
	memset(&res, 0, sizeof(res));
	rc = lb_alloc_assign(c->alloc, &v.svc, &res);
	if (rc == 0) {
		s->reason[0] = '\0';
		if (res.orphan && !s->orphan) {
			struct kube_ref ref = { "Service", "v1", svc->obj.namespace, svc->obj.name,
						svc->obj.uid };

			/* a pool shrank under it: nothing is taken away until
			 * someone acts, but they must know */
			log_warn("lb", "address outside every pool, kept", "service=%s", log_q(s->key));
			kube_event(c->rec, &ref, "Warning", "AddressOutsidePools",
				   "The address of \"%s\" is in no pool of the configuration any more; "
				   "it stays until the Service changes", s->key);
		}
		s->orphan = res.orphan;
		if (!same_ips(&v.svc, &res))
			write_status(c, s, svc, &res);
	} else if (rc == -1) {
		struct kube_ref ref = { "Service", "v1", svc->obj.namespace, svc->obj.name, svc->obj.uid };

		if (strcmp(s->reason, res.reason)) {
			log_warn("lb", "allocation failed", "service=%s reason=%s", log_q(s->key),
				 log_q(res.reason));
			kube_event(c->rec, &ref, "Warning", "AllocationFailed",
				   "Failed to allocate IP for \"%s\": %s", s->key, res.reason);
		}
		snprintf(s->reason, sizeof(s->reason), "%s", res.reason);
		/* MetalLB's rule: a Service that cannot have what it asks for
		 * holds nothing (its old address may now be someone else's) */
		if (v.svc.n_status_ips) {
			res.n_ips = 0;
			write_status(c, s, svc, &res);
		}
	} else {
		s->dirty = true;
	}
	lb_svc_view_free(&v);
}

/* ---- leadership ---- */

struct restore_ctx {
	struct lbctl *c;
	VEC(struct lb_svc_view) views;
	int err;
};

static int collect(void *arg, const struct kube_object *o)
{
	struct restore_ctx *x = arg;
	const struct kube_service *svc = kube_service(o);
	struct lb_svc_view v;

	if (!lb_svc_is_ours(svc, x->c->o.lb_class) || !svc->n_lb_ingress)
		return 0;
	if (lb_svc_view_init(&v, svc, ns_of(x->c, o->namespace)) < 0 || vec_push(&x->views, v) < 0) {
		x->err = -ENOMEM;
		return 1;
	}
	return 0;
}

static int by_age(const void *a, const void *b)
{
	return lb_svc_cmp_age(&((const struct lb_svc_view *)a)->svc,
			      &((const struct lb_svc_view *)b)->svc);
}

/* A new leader's view: every address in a status, oldest Service first (of
 * two claiming one address, the older keeps it). */
static int restore(struct lbctl *c)
{
	struct restore_ctx x = { .c = c };
	size_t restored = 0;

	if (!(c->alloc = lb_alloc_new()))
		return -ENOMEM;
	if (c->cfg && lb_alloc_set_config(c->alloc, c->cfg) < 0)
		x.err = -ENOMEM;
	if (!x.err)
		kube_informer_foreach(c->env.inf[KUBE_SERVICE], collect, &x);
	if (!x.err)
		vec_sort(x.views.v, x.views.n, sizeof(*x.views.v), by_age);
	for (size_t i = 0; i < x.views.n; i++) {
		if (!x.err && lb_alloc_restore(c->alloc, &x.views.v[i].svc, NULL) == 0)
			restored++;
		lb_svc_view_free(&x.views.v[i]);
	}
	vec_free(&x.views);
	if (x.err) {
		lb_alloc_free(c->alloc);
		c->alloc = NULL;
		return x.err;
	}
	log_info("lb", "allocator view rebuilt from the Services' status", "services=%zu", restored);
	return 0;
}

static void set_leader(struct lbctl *c, bool leader, const char *why)
{
	if (c->leader == leader)
		return;
	log_info("lb", leader ? "leading: this agent allocates" : "following: another agent allocates",
		 "why=%s", log_q(why));
	c->leader = leader;
	if (!leader) {
		lb_alloc_free(c->alloc);
		c->alloc = NULL;
		pool_metrics_update(c);
	}
	c->all_dirty = true;
	kick(c);
}

static void on_lease(void *arg, bool held)
{
	set_leader(arg, held, held ? "lease acquired" : "lease lost");
}

/* ---- the pass ---- */

static int mark_all(void *arg, const struct kube_object *o)
{
	struct lbctl *c = arg;
	char key[512];
	struct lbsvc *s;

	if (!lb_svc_is_ours(kube_service(o), c->o.lb_class))
		return 0;
	snprintf(key, sizeof(key), "%s/%s", o->namespace, o->name);
	if ((s = svc_find(c, key, true)))
		s->dirty = true;
	return 0;
}

static void run(struct loop_timer *t)
{
	struct lbctl *c = t->arg;

	if (!c->synced)
		return;
	if (c->cfg_dirty)
		load_config(c);
	if (c->leader && !kube_lease_valid(c->lease)) {
		/* renewals are late: stop writing now, before anyone may take over */
		if (c->alloc) {
			lb_alloc_free(c->alloc);
			c->alloc = NULL;
		}
		loop_timer_arm(c->env.loop, &c->timer, 500);
		return;
	}
	if (c->leader && !c->alloc) {
		if (restore(c) < 0) {
			loop_timer_arm(c->env.loop, &c->timer, 1000);
			return;
		}
		c->all_dirty = true;
	}
	if (c->all_dirty) {
		c->all_dirty = false;
		kube_informer_foreach(c->env.inf[KUBE_SERVICE], mark_all, c);
	}
	HTAB_WALK(&c->svcs, n) {
		struct lbsvc *s = container_of(n, struct lbsvc, node);

		if (s->dirty && !s->write)
			reconcile(c, s);
	}
	pool_metrics_update(c);
}

/* ---- the consumer ---- */

static void *lbctl_start(const struct consumer_env *env, const void *opts)
{
	const struct lbctl_opts *o = opts;
	struct lbctl *c;
	struct kube_lease_opts lo;

	if (o->disabled) {
		log_info("lb", "LoadBalancer allocation is off (--lb-allocator=false)", "");
		return calloc(1, sizeof(struct lbctl));	/* an inert part */
	}
	if (!(c = calloc(1, sizeof(*c))))
		return NULL;
	c->env = *env;
	c->o = *o;
	loop_timer_init(&c->timer, run, c);
	c->rec = kube_recorder_new(env->kube, "ferry-lb-allocator", env->node_name);
	lo = (struct kube_lease_opts){ .namespace = o->lease_namespace, .name = o->lease_name,
				       .identity = env->node_name, .duration_s = o->lease_duration_s,
				       .renew_deadline_ms = o->renew_deadline_ms, .retry_ms = o->retry_ms };
	c->lease = kube_lease_new(env->kube, &lo, on_lease, c);
	if (env->metrics) {
		c->m_config_ok = metrics_gauge(env->metrics, "ferry_lb_config_loaded", NULL,
					       "1 when the last MetalLB configuration read was valid");
		c->m_config_errors = metrics_counter(env->metrics, "ferry_lb_config_errors_total", NULL,
						     "MetalLB configurations refused");
		c->m_writes = metrics_counter(env->metrics, "ferry_lb_status_writes_total", NULL,
					      "Service status writes by the allocator");
		c->m_write_errors = metrics_counter(env->metrics, "ferry_lb_status_write_errors_total", NULL,
						    "Service status writes that failed");
	}
	if (!c->rec || !c->lease) {
		kube_recorder_free(c->rec);
		kube_lease_free(c->lease);
		free(c);
		return NULL;
	}
	c->cfg_dirty = true;
	log_info("lb", "allocator ready", "class=%s configmap=%s/%s lease=%s/%s resources=%s",
		 log_q(o->lb_class ? o->lb_class : ""), o->config_namespace, o->config_name,
		 o->lease_namespace, o->lease_name, log_q(custom_kinds_doc));
	return c;
}

static void lbctl_changed(void *arg, enum kube_kind kind, const struct kube_object *old,
			  const struct kube_object *obj)
{
	struct lbctl *c = arg;
	const struct kube_object *o = obj ? obj : old;

	if (!c->env.loop)
		return;		/* inert */
	if (kind == KUBE_SERVICE) {
		/* ours now, or ours before (then it gives its address back) */
		if (lb_svc_is_ours(kube_service(obj), c->o.lb_class) ||
		    lb_svc_is_ours(kube_service(old), c->o.lb_class))
			mark(c, o->namespace, o->name);
	} else if (kind == KUBE_CONFIGMAP || kube_kind_is_custom(kind)) {
		c->cfg_dirty = true;
		kick(c);
	} else if (kind == KUBE_NAMESPACE) {
		/* namespaceSelectors: the Services there may now fit other pools */
		c->all_dirty = true;
		kick(c);
	}
}

static void lbctl_synced(void *arg)
{
	struct lbctl *c = arg;

	if (!c->env.loop)
		return;
	c->synced = true;
	kube_lease_start(c->lease);
	kick(c);
}

static void print_entry(void *arg, const struct lb_alloc_entry *e)
{
	struct httpd_resp *r = arg;
	char a[64];

	for (size_t i = 0; i < e->n_ips; i++) {
		lb_addr_format(&e->ips[i], a, sizeof(a));
		httpd_printf(r, "  %-40s %s/%s pool=%s%s\n", a, e->ns, e->name, e->pool ? e->pool : "-",
			     e->orphan ? " (outside every pool: kept until the Service changes)" : "");
	}
}

static void lbctl_status(void *arg, struct httpd_resp *r)
{
	struct lbctl *c = arg;
	struct lb_pool_stats st;
	bool pending = false;

	if (!c->env.loop) {
		httpd_printf(r, "\nLoadBalancer allocation: off on this agent\n");
		return;
	}
	httpd_printf(r, "\nLoadBalancer allocation: %s (lease %s/%s, holder %s)\n",
		     c->leader ? "leader" : "follower", c->o.lease_namespace, c->o.lease_name,
		     kube_lease_holder(c->lease) ? kube_lease_holder(c->lease) : "none");
	httpd_printf(r, "configuration: %s\n", c->cfg ? c->cfg_summary : "none valid yet");
	if (!c->alloc) {
		httpd_printf(r, "(pools and allocations: ask the leader's ferry status)\n");
		return;
	}
	for (size_t p = 0; p < lb_alloc_n_pools(c->alloc); p++) {
		lb_alloc_pool_stats(c->alloc, p, &st);
		if (st.size == UINT64_MAX)
			httpd_printf(r, "pool %s: 2^64 or more addresses, %llu in use\n", st.name,
				     (unsigned long long)st.in_use);
		else
			httpd_printf(r, "pool %s: %llu addresses, %llu in use\n", st.name,
				     (unsigned long long)st.size, (unsigned long long)st.in_use);
	}
	httpd_printf(r, "allocations:\n");
	lb_alloc_walk(c->alloc, print_entry, r);
	HTAB_WALK(&c->svcs, n) {
		struct lbsvc *s = container_of(n, struct lbsvc, node);

		if (!s->reason[0])
			continue;
		if (!pending)
			httpd_printf(r, "pending:\n");
		pending = true;
		httpd_printf(r, "  %s: %s\n", s->key, s->reason);
	}
}

static void lbctl_stop(void *arg)
{
	struct lbctl *c = arg;

	if (c->env.loop) {
		/* hand the lease over at once: the next leader need not wait */
		kube_lease_release(c->lease);
		loop_timer_cancel(c->env.loop, &c->timer);
		HTAB_WALK(&c->svcs, n)
			svc_forget(c, container_of(n, struct lbsvc, node));
		htab_free(&c->svcs);
		for (size_t i = 0; i < c->pm.n; i++)
			free(c->pm.v[i].pool);
		vec_free(&c->pm);
		lb_alloc_free(c->alloc);
		lb_config_free(c->cfg);
		kube_lease_free(c->lease);
		kube_recorder_free(c->rec);
	}
	free(c);
}

const struct consumer_ops lbctl_consumer = {
	.name = "lb-allocator",
	.kinds = 1u << KUBE_SERVICE | 1u << KUBE_NAMESPACE | 1u << KUBE_CONFIGMAP |
		 1u << KUBE_IPADDRESSPOOL | 1u << KUBE_L2ADVERTISEMENT | 1u << KUBE_BGPADVERTISEMENT |
		 1u << KUBE_COMMUNITY | 1u << KUBE_BGPPEER | 1u << KUBE_BFDPROFILE,
	.start = lbctl_start,
	.changed = lbctl_changed,
	.synced = lbctl_synced,
	.status = lbctl_status,
	.stop = lbctl_stop,
};
