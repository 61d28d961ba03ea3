// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The BGP speaker (bgpspeaker.h). Touches the world for lbip/bgp_rib: reads
 * the caches, keeps one src/bgpsession per peer, exports metrics with
 * MetalLB's names and a /status section.
 *
 * One pass (run) decides everything from the present: the configuration,
 * this Node, the Services' addresses and endpoints. Sessions are keyed by
 * peer name; a peer whose configuration changed is a new session (the old
 * one sends Cease). Each session gets its RIB and sends only the
 * difference (bgpsession.c).
 */
#include "src/bgpspeaker.h"

#include "core/httpd.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/vec.h"
#include "lbip/bgp_rib.h"
#include "src/bgplisten.h"
#include "src/bgpsession.h"
#include "src/lbconfig.h"
#include "src/lbpass.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_PEER_COUNTERS 5	/* peer_counters[] */

struct speer {
	char *name;
	struct bgp_session *s;
	bool seen;
	struct metric *m_up, *m_prefixes;
	struct metric *m_count[N_PEER_COUNTERS];
	uint64_t counted[N_PEER_COUNTERS];
};

struct bgpspeaker {
	struct consumer_env env;
	struct bgpspeaker_opts o;
	struct lb_config *cfg;
	bool synced, cfg_dirty, started_any;
	struct loop_timer pass_timer;
	/* peers may connect to us too, as BIRD, FRR and MetalLB's speaker
	 * allow; NULL: we only connect */
	struct bgp_listener *listener;
	struct loop_timer listen_timer;	/* the next try after a failed bind */
	uint64_t listen_tried_ms;
	VEC(struct speer *) peers;
};

/* ---- metrics ---- */

/* Counters kept by the session, exported as they grow: why a session
 * flaps shows here without reading the log. */
#define INFO_OFF(f) offsetof(struct bgp_session_info, f)
static const struct {
	const char *name, *help;
	size_t off;			/* a uint64_t in bgp_session_info */
} peer_counters[] = {
	{ "metallb_bgp_updates_total", "Number of BGP UPDATE messages sent", INFO_OFF(updates_sent) },
	{ "ferry_bgp_established_total", "Times the BGP session reached Established",
	  INFO_OFF(established) },
	{ "ferry_bgp_notifications_sent_total", "BGP NOTIFICATION messages sent to the peer",
	  INFO_OFF(notifs_sent) },
	{ "ferry_bgp_notifications_received_total", "BGP NOTIFICATION messages received from the peer",
	  INFO_OFF(notifs_received) },
	{ "ferry_bgp_collisions_total", "BGP connection collisions resolved (RFC 4271 6.8)",
	  INFO_OFF(collisions) },
};
_Static_assert(sizeof(peer_counters) / sizeof(peer_counters[0]) == N_PEER_COUNTERS,
	       "N_PEER_COUNTERS counts peer_counters[]");

static void peer_metrics(struct bgpspeaker *b, struct speer *p)
{
	struct bgp_session_info i;
	char labels[128];

	bgp_session_info(p->s, &i);
	if (b->env.metrics && !p->m_up) {
		snprintf(labels, sizeof(labels), "peer=\"%s\"", i.label);
		p->m_up = metrics_gauge(b->env.metrics, "metallb_bgp_session_up", labels,
					"BGP session state (1 is up, 0 is down)");
		p->m_prefixes = metrics_gauge(b->env.metrics, "metallb_bgp_announced_prefixes_total",
					      labels, "Number of prefixes currently being advertised on the BGP session");
		for (size_t k = 0; k < N_PEER_COUNTERS; k++)
			p->m_count[k] = metrics_counter(b->env.metrics, peer_counters[k].name, labels,
							peer_counters[k].help);
	}
	metric_set(p->m_up, i.state == BGP_ST_ESTABLISHED);
	metric_set(p->m_prefixes, (double)i.prefixes);
	for (size_t k = 0; k < N_PEER_COUNTERS; k++) {
		uint64_t v;

		memcpy(&v, (const char *)&i + peer_counters[k].off, sizeof(v));
		if (v > p->counted[k]) {
			metric_add(p->m_count[k], (double)(v - p->counted[k]));
			p->counted[k] = v;
		}
	}
}

static void on_state(void *arg, struct bgp_session *s, enum bgp_state from, enum bgp_state to)
{
	struct bgpspeaker *b = arg;

	for (size_t i = 0; i < b->peers.n; i++)
		if (b->peers.v[i]->s == s)
			peer_metrics(b, b->peers.v[i]);
	(void)from;
	(void)to;
}

static void peer_free(struct bgpspeaker *b, struct speer *p, bool graceful)
{
	struct bgp_session *s = p->s;

	p->s = NULL;
	bgp_listener_del(b->listener, s);
	bgp_session_free(s, graceful);
	if (b->env.metrics) {
		metrics_remove(b->env.metrics, p->m_up);
		metrics_remove(b->env.metrics, p->m_prefixes);
		for (size_t k = 0; k < N_PEER_COUNTERS; k++)
			metrics_remove(b->env.metrics, p->m_count[k]);
	}
	free(p->name);
	free(p);
}

/* ---- one pass ---- */

struct psvc {
	struct lb_svc_entry e;		/* first: the index frees it */
	struct bgp_svc v;
};
_Static_assert(offsetof(struct psvc, e) == 0, "lb_svc_index_free frees the entry");

struct pass {
	struct bgpspeaker *b;
	struct lb_svc_index svcs;
	int err;
};

static void on_endpoint(void *arg, struct lb_svc_entry *e, const struct kube_endpoint *ep)
{
	struct pass *p = arg;
	struct psvc *v = container_of(e, struct psvc, e);

	v->v.serving = true;
	if (ep->node_name && !strcmp(ep->node_name, p->b->env.node_name))
		v->v.local_serving = true;
}

static void pass_free(struct pass *p)
{
	lb_svc_index_free(&p->svcs);
}

/* This Node: its labels, and its first InternalIP of each family (the
 * BGP identifier fallback and the next hop for the other family). */
static void self_facts(struct bgpspeaker *b, struct lb_label **labels, size_t *n_labels,
		       struct lb_addr *a4, struct lb_addr *a6)
{
	const struct kube_object *o = b->env.inf[KUBE_NODE] ?
		kube_informer_get(b->env.inf[KUBE_NODE], "", b->env.node_name) : NULL;
	const struct kube_node *nd = kube_node(o);

	*labels = NULL;
	*n_labels = 0;
	memset(a4, 0, sizeof(*a4));
	memset(a6, 0, sizeof(*a6));
	if (!o)
		return;
	if (o->n_labels && (*labels = calloc(o->n_labels, sizeof(**labels)))) {
		for (size_t i = 0; i < o->n_labels; i++)
			(*labels)[i] = (struct lb_label){ o->labels[i].key, o->labels[i].value };
		*n_labels = o->n_labels;
	}
	for (size_t i = 0; nd && i < nd->n_addresses; i++) {
		struct lb_addr x;

		if (!nd->addresses[i].type || strcmp(nd->addresses[i].type, "InternalIP") ||
		    !nd->addresses[i].address || lb_addr_parse(nd->addresses[i].address, &x))
			continue;
		if (x.family == 4 && !a4->family)
			*a4 = x;
		else if (x.family == 6 && !a6->family)
			*a6 = x;
	}
}

static void kick(struct bgpspeaker *b);

/* Port 179 only while this node has peers: an agent without BGP peers
 * leaves it to whatever else wants it (Calico's BIRD, say). A port that
 * cannot be bound is tried again once a minute; we connect meanwhile. */
static void listener_update(struct bgpspeaker *b)
{
	uint64_t now = loop_now_ms();

	if (!b->peers.n && b->listener) {
		bgp_listener_free(b->listener);
		b->listener = NULL;
		log_info("bgp", "no peers for this node, not listening any more", "");
	}
	if (!b->peers.n || b->listener || b->o.listen_port < 0 ||
	    (b->listen_tried_ms && now - b->listen_tried_ms < 60000))
		return;
	b->listen_tried_ms = now;
	if (!(b->listener = bgp_listener_new(b->env.loop, NULL, (uint16_t)b->o.listen_port))) {
		loop_timer_arm(b->env.loop, &b->listen_timer, 60000);
		return;
	}
	b->listen_tried_ms = 0;	/* only failures wait */
	for (size_t i = 0; i < b->peers.n; i++)
		bgp_listener_add(b->listener, b->peers.v[i]->s);
}

static struct speer *peer_find(struct bgpspeaker *b, const char *name)
{
	for (size_t i = 0; i < b->peers.n; i++)
		if (!strcmp(b->peers.v[i]->name, name))
			return b->peers.v[i];
	return NULL;
}

static void run(struct loop_timer *t)
{
	struct bgpspeaker *b = t->arg;
	struct pass p = { .b = b };
	struct lb_label *labels;
	size_t n_labels;
	struct lb_addr a4, a6;
	struct bgp_node self;
	VEC(struct bgp_svc) svcs = { 0 };
	struct bgp_rib rib = { 0 };
	uint32_t fallback_id;

	if (!b->synced)
		return;
	lb_config_reload(b->env.inf, b->o.config_namespace, b->o.config_name, &b->cfg_dirty,
			 &b->cfg, "bgp");
	self_facts(b, &labels, &n_labels, &a4, &a6);
	self = (struct bgp_node){ b->env.node_name, labels, n_labels, false };
	fallback_id = a4.family ? (uint32_t)a4.b[0] << 24 | (uint32_t)a4.b[1] << 16 |
				  (uint32_t)a4.b[2] << 8 | a4.b[3] : 0;
	p.err = lbpass_services(&p.svcs, b->env.inf[KUBE_SERVICE], b->o.lb_class, sizeof(struct psvc));
	for (size_t i = 0; i < p.svcs.list.n; i++) {
		struct psvc *v = container_of(p.svcs.list.v[i], struct psvc, e);
		const struct kube_service *svc = v->e.svc;

		v->v = (struct bgp_svc){ v->e.ips, v->e.n_ips,
					 .local = svc->external_traffic_policy == KUBE_POLICY_LOCAL };
	}
	/* layer 2's endpoint rule (lbpass.c): ready unset means ready */
	lbpass_endpoints(&p.svcs, b->env.inf[KUBE_ENDPOINTSLICE], on_endpoint, &p);
	for (size_t i = 0; !p.err && i < p.svcs.list.n; i++)
		if (vec_push(&svcs, container_of(p.svcs.list.v[i], struct psvc, e)->v) < 0)
			p.err = -ENOMEM;
	if (p.err) {
		/* keep what the peers have: retry soon rather than withdraw */
		log_err("bgp", "pass failed, retrying", "err=%s", log_q(strerror(-p.err)));
		loop_timer_arm(b->env.loop, &b->pass_timer, 1000);
		goto out;
	}
	for (size_t i = 0; i < b->peers.n; i++)
		b->peers.v[i]->seen = false;
	for (size_t k = 0; b->cfg && k < b->cfg->n_peers; k++) {
		const struct lb_peer *lp = &b->cfg->peers[k];
		const char *name = lp->name ? lp->name : "peer";
		struct bgp_session_opts so = { .fallback_id = fallback_id, .nh4 = a4, .nh6 = a6,
					       .restarted = true };
		struct speer *sp;

		if (!bgp_peer_selects_node(lp, &self))
			continue;
		if ((sp = peer_find(b, name)) && !bgp_session_same_peer(sp->s, lp)) {
			log_info("bgp", "peer configuration changed, new session", "peer=%s", log_q(name));
			for (size_t i = 0; i < b->peers.n; i++)
				if (b->peers.v[i] == sp)
					b->peers.v[i] = b->peers.v[--b->peers.n];
			peer_free(b, sp, false);
			sp = NULL;
		}
		if (!sp) {
			if (!(sp = calloc(1, sizeof(*sp))) || !(sp->name = strdup(name)) ||
			    vec_push(&b->peers, sp) < 0) {
				if (sp)
					free(sp->name);
				free(sp);
				continue;
			}
			/* the R bit only on the first session after the agent started */
			so.restarted = !b->started_any;
			if (!(sp->s = bgp_session_new(b->env.loop, lp, &so, on_state, b))) {
				b->peers.n--;
				free(sp->name);
				free(sp);
				continue;
			}
			bgp_listener_add(b->listener, sp->s);
		}
		sp->seen = true;
		bgp_session_set_nexthops(sp->s, &a4, &a6);
		if (bgp_rib_compute(b->cfg, k, &self, svcs.v, svcs.n, &rib) == 0)
			bgp_session_set_rib(sp->s, &rib);
		peer_metrics(b, sp);
	}
	b->started_any = b->started_any || b->peers.n;
	for (size_t i = 0; i < b->peers.n;) {
		struct speer *sp = b->peers.v[i];

		if (sp->seen) {
			i++;
			continue;
		}
		log_info("bgp", "peer gone from the configuration (or no longer selects this node)",
			 "peer=%s", log_q(sp->name));
		b->peers.v[i] = b->peers.v[--b->peers.n];
		peer_free(b, sp, false);
	}
	listener_update(b);
out:
	bgp_rib_free(&rib);
	vec_free(&svcs);
	free(labels);
	pass_free(&p);
}

static void kick(struct bgpspeaker *b)
{
	if (b->synced && !loop_timer_armed(&b->pass_timer))
		loop_timer_arm(b->env.loop, &b->pass_timer, 0);
}

static void on_listen_timer(struct loop_timer *t)
{
	kick(t->arg);
}

/* ---- the consumer ---- */

static void *bgp_start(const struct consumer_env *env, const void *opts)
{
	const struct bgpspeaker_opts *o = opts;
	struct bgpspeaker *b = calloc(1, sizeof(*b));

	if (!b || o->disabled)
		return b;	/* inert when disabled: env.loop stays NULL */
	b->env = *env;
	b->o = *o;
	b->cfg_dirty = true;
	loop_timer_init(&b->pass_timer, run, b);
	loop_timer_init(&b->listen_timer, on_listen_timer, b);
	log_info("bgp", "BGP speaker ready (sessions come from the peers in MetalLB's configuration)",
		 "");
	return b;
}

static void bgp_changed(void *arg, enum kube_kind kind, const struct kube_object *old,
			const struct kube_object *obj)
{
	struct bgpspeaker *b = arg;

	(void)old;
	(void)obj;
	if (!b->env.loop)
		return;
	if (kind == KUBE_CONFIGMAP || kube_kind_is_custom(kind))
		b->cfg_dirty = true;
	if (kind == KUBE_SERVICE || kind == KUBE_ENDPOINTSLICE || kind == KUBE_NODE ||
	    kind == KUBE_CONFIGMAP || kube_kind_is_custom(kind))
		kick(b);
}

static void bgp_synced(void *arg)
{
	struct bgpspeaker *b = arg;

	if (!b->env.loop)
		return;
	b->synced = true;
	kick(b);
}

static void bgp_status(void *arg, struct httpd_resp *r)
{
	struct bgpspeaker *b = arg;
	uint64_t now = loop_now_ms();

	if (!b->env.loop) {
		httpd_printf(r, "\nBGP: off on this agent (--bgp=false)\n");
		return;
	}
	httpd_printf(r, "\nBGP sessions: %zu (listening: %s, connections from unknown addresses "
		     "refused: %llu)\n", b->peers.n, b->listener ? "yes" : "no",
		     (unsigned long long)bgp_listener_refused(b->listener));
	for (size_t i = 0; i < b->peers.n; i++) {
		struct bgp_session_info in;

		bgp_session_info(b->peers.v[i]->s, &in);
		httpd_printf(r, "  %-24s %-22s %-11s for %llus, prefixes %zu, updates %llu, "
			     "graceful restart %s%s%s%s\n", b->peers.v[i]->name, in.label,
			     bgp_state_name(in.state), (unsigned long long)((now - in.since_ms) / 1000),
			     in.prefixes, (unsigned long long)in.updates_sent, in.gr ? "yes" : "no",
			     in.incoming ? ", on the peer's connection" : "",
			     in.last_error[0] ? ", last error: " : "", in.last_error);
	}
}

static void bgp_stop(void *arg)
{
	struct bgpspeaker *b = arg;

	if (b->env.loop) {
		/* agent stop: with graceful restart the routes stay at the peer
		 * for the restart time, else Cease withdraws them now */
		for (size_t i = 0; i < b->peers.n; i++)
			peer_free(b, b->peers.v[i], true);
		vec_free(&b->peers);
		loop_timer_cancel(b->env.loop, &b->pass_timer);
		loop_timer_cancel(b->env.loop, &b->listen_timer);
		bgp_listener_free(b->listener);
		lb_config_free(b->cfg);
	}
	free(b);
}

const struct consumer_ops bgpspeaker_consumer = {
	.name = "bgp-speaker",
	.kinds = 1u << KUBE_SERVICE | 1u << KUBE_ENDPOINTSLICE | 1u << KUBE_NODE |
		 1u << KUBE_CONFIGMAP | 1u << KUBE_IPADDRESSPOOL | 1u << KUBE_BGPADVERTISEMENT |
		 1u << KUBE_COMMUNITY | 1u << KUBE_BGPPEER,
	.start = bgp_start,
	.changed = bgp_changed,
	.synced = bgp_synced,
	.status = bgp_status,
	.stop = bgp_stop,
};
