/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The layer-2 speaker (see l2speaker.h, docs/l2.md). Touches the world for
 * lbip/l2owner and lbip/l2beat: reads the caches, keeps the heartbeat, and
 * tells src/l2io what to answer for on which interface.
 *
 * One pass (run) decides everything from the present: the caches, the
 * liveness view and the interfaces. Every address of ours is in one state,
 * changed only by set_state (logged):
 *
 *	idle --owner is us--> waiting --l2live_may_take--> announced
 *	waiting|announced --owner is not us (or config, link, stop)--> idle
 *
 * Withdrawing takes effect inside the pass (l2io_set drops the answers
 * before it returns) and the pass runs before every beat we send, so a beat
 * that tells the others our new view never precedes the withdrawal.
 */
#include "src/l2speaker.h"

#include "core/file.h"
#include "core/hash.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/vec.h"
#include "kube/events.h"
#include "lbip/l2beat.h"
#include "lbip/l2owner.h"
#include "lbip/range.h"
#include "src/l2io.h"
#include "src/lbconfig.h"
#include "src/lbpass.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

enum addr_state { A_IDLE, A_WAITING, A_ANNOUNCED };
static const char *const state_name[] = { "idle", "waiting", "announced" };

/* One LoadBalancer address of ours (any owner). */
struct l2addr {
	struct hnode node;
	struct lb_addr ip;
	char svc[320];			/* "namespace/name" */
	char svc_uid[64];
	char pool[128];
	char owner[L2BEAT_NAME_MAX + 1];	/* computed owner, "" nobody */
	char why[96];			/* why that owner, or why nobody */
	enum addr_state state;
	uint64_t since;			/* entered its state (monotonic ms) */
	bool seen;
	struct metric *m_announced;
};

/* A Service with addresses, during one pass. */
struct psvc {
	struct lb_svc_entry e;		/* first: the index frees it */
	const char *pool;
	struct l2_svc l2;
	VEC(const char *) ep_nodes;
	int owner, prev;		/* indexes in the pass's nodes, -1 nobody */
	const char *why;
};
_Static_assert(offsetof(struct psvc, e) == 0, "lb_svc_index_free frees the entry");

struct l2speaker {
	struct consumer_env env;
	struct l2speaker_opts o;
	struct l2beat_keys keys;	/* [0] signs, all verify */
	char key_why[160];		/* why there is no (new) key, "" when fine */
	struct loop_timer key_timer;	/* watches --l2-key-file */
	struct metric *m_key_loaded;
	struct l2io *io;		/* NULL until a key is loaded */
	struct l2live *live;
	struct kube_recorder *rec;
	struct lb_config *cfg;
	bool synced, cfg_dirty, pending, stopping, beating;
	struct htab addrs;		/* struct l2addr by ip */
	struct loop_timer pass_timer, beat_timer;
	uint64_t last_view, last_beat_ms;
	struct metric *m_takes, *m_withdraws, *m_failovers, *m_beats_sent, *m_beats_ok,
		*m_answers_arp, *m_answers_ndp, *m_garp, *m_una, *m_bad_frames;
	struct metric *m_refused[6];
	struct metric *m_peers[L2P_N];
	struct metric *m_dead_ready;
	VEC(char *) warned;		/* peers warned about (dead but Ready) */
};

static const char *const refused_name[] = { "malformed", "bad_mac", "replay", "clock", "self",
					     "too_many_peers" };

/* ---- the one transition function ---- */

static void set_state(struct l2speaker *s, struct l2addr *a, enum addr_state to, const char *why)
{
	char ip[64];

	if (a->state == to)
		return;
	lb_addr_format(&a->ip, ip, sizeof(ip));
	log_info("l2", "address state", "ip=%s service=%s from=%s to=%s why=%s", ip, log_q(a->svc),
		 state_name[a->state], state_name[to], log_q(why));
	if (to == A_ANNOUNCED) {
		metric_inc(s->m_takes);
		if (s->env.metrics && !a->m_announced) {
			char labels[600];

			snprintf(labels, sizeof(labels),
				 "ip=\"%s\",node=\"%s\",protocol=\"layer2\",service=\"%s\"", ip,
				 s->env.node_name, a->svc);
			a->m_announced = metrics_gauge(s->env.metrics, "metallb_speaker_announced", labels,
						       "The service is announced from this node");
			metric_set(a->m_announced, 1);
		}
	} else if (a->state == A_ANNOUNCED) {
		metric_inc(s->m_withdraws);
		if (a->m_announced)
			metrics_remove(s->env.metrics, a->m_announced);
		a->m_announced = NULL;
	}
	a->state = to;
	a->since = loop_now_ms();
}

/* ---- the addresses ---- */

static uint64_t ip_hash(const struct lb_addr *ip)
{
	return hash_bytes(ip->b, 16, HASH_SEED + ip->family);
}

static struct l2addr *addr_find(struct l2speaker *s, const struct lb_addr *ip, bool create)
{
	uint64_t h = ip_hash(ip);
	struct l2addr *a;

	for (struct hnode *n = htab_first(&s->addrs, h); n; n = htab_next(n, h)) {
		a = container_of(n, struct l2addr, node);
		if (!lb_addr_cmp(&a->ip, ip))
			return a;
	}
	if (!create || !(a = calloc(1, sizeof(*a))))
		return NULL;
	a->ip = *ip;
	if (htab_add(&s->addrs, &a->node, h) < 0) {
		free(a);
		return NULL;
	}
	return a;
}

static void addr_forget(struct l2speaker *s, struct l2addr *a)
{
	set_state(s, a, A_IDLE, "gone");
	htab_del(&s->addrs, &a->node);
	free(a);
}

/* The range of a prefix. */
static void pfx_range(const struct l2io_pfx *p, struct lb_range *r)
{
	int bits = p->addr.family == 4 ? 32 : 128;

	r->lo = r->hi = p->addr;
	for (int i = p->plen; i < bits; i++) {
		r->lo.b[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
		r->hi.b[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	}
}

static bool if_has_subnet_of(const struct l2io_if *f, const struct lb_range *want)
{
	for (size_t i = 0; i < f->n_pfx; i++) {
		struct lb_range r;

		if (f->pfx[i].addr.family != want->lo.family)
			continue;
		pfx_range(&f->pfx[i], &r);
		if (lb_range_overlap(&r, want))
			return true;
	}
	return false;
}

static bool adv_names_if(const struct lb_config *cfg, const char *ifname)
{
	for (size_t i = 0; cfg && i < cfg->n_l2_advs; i++)
		for (size_t j = 0; j < cfg->l2_advs[i].n_interfaces; j++)
			if (!strcmp(cfg->l2_advs[i].interfaces[j], ifname))
				return true;
	return false;
}

/* The interface rule (docs/l2.md): the L2Advertisements' interfaces when
 * they name some; else, with --l2-interfaces, those (l2io uses no others);
 * else every usable interface with an address in the address's subnet. */
static bool if_allowed(struct l2speaker *s, const struct l2io_if *f, const char *pool,
		       const struct l2_node *self, const struct lb_addr *ip)
{
	struct lb_range one = { *ip, *ip };

	if (!f->usable || !l2_interface_allowed(s->cfg, pool, self, f->name))
		return false;
	return s->o.n_interfaces || adv_names_if(s->cfg, f->name) || if_has_subnet_of(f, &one);
}

/* Beat on the interfaces that may carry some announcement. */
static void beat_ifs(struct l2speaker *s, uint64_t now)
{
	const struct l2io_if *ifs;
	size_t n = l2io_ifs(s->io, &ifs);
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		bool beat = ifs[i].usable && (s->o.n_interfaces || adv_names_if(s->cfg, ifs[i].name));

		for (size_t p = 0; s->cfg && !beat && p < s->cfg->n_pools; p++)
			for (size_t r = 0; !beat && r < s->cfg->pools[p].n_ranges; r++)
				beat = ifs[i].usable && if_has_subnet_of(&ifs[i], &s->cfg->pools[p].ranges[r]);
		l2io_set_beat(s->io, ifs[i].ifindex, beat);
		any = any || beat;
	}
	if (any != s->beating) {
		log_info("l2", any ? "heartbeat on" : "heartbeat off: no interface on an address pool's subnet",
			 "");
		/* we were not heard until now: listen before claiming */
		if (any)
			l2live_relisten(s->live, now);
	}
	s->beating = any;
}

/* ---- one pass ---- */

struct pass {
	struct l2speaker *s;
	VEC(struct l2_node) nodes;
	VEC(struct lb_label *) label_bufs;
	struct lb_svc_index svcs;	/* struct psvc */
	int self;
	int err;
	uint64_t now;
};

static int collect_node(void *arg, const struct kube_object *o)
{
	struct pass *p = arg;
	const struct kube_node *nd = kube_node(o);
	struct lb_label *l = calloc(o->n_labels ? o->n_labels : 1, sizeof(*l));
	struct l2_node x = { .name = o->name, .n_labels = o->n_labels, .ready = nd->ready == 1 };

	if (!l || vec_push(&p->label_bufs, l) < 0) {
		free(l);
		p->err = -ENOMEM;
		return 1;
	}
	for (size_t i = 0; i < o->n_labels; i++)
		l[i] = (struct lb_label){ o->labels[i].key, o->labels[i].value };
	x.labels = l;
	x.alive = l2live_counts(p->s->live, o->name, p->now);
	if (!strcmp(o->name, p->s->env.node_name))
		p->self = (int)p->nodes.n;
	if (vec_push(&p->nodes, x) < 0) {
		p->err = -ENOMEM;
		return 1;
	}
	return 0;
}

static void on_endpoint(void *arg, struct lb_svc_entry *e, const struct kube_endpoint *ep)
{
	struct pass *p = arg;
	struct psvc *v = container_of(e, struct psvc, e);

	v->l2.serving = true;
	if (ep->node_name && vec_push(&v->ep_nodes, ep->node_name) < 0)
		p->err = -ENOMEM;
}

static void pass_free(struct pass *p)
{
	for (size_t i = 0; i < p->svcs.list.n; i++)
		vec_free(&container_of(p->svcs.list.v[i], struct psvc, e)->ep_nodes);
	lb_svc_index_free(&p->svcs);
	for (size_t i = 0; i < p->label_bufs.n; i++)
		free(p->label_bufs.v[i]);
	vec_free(&p->label_bufs);
	vec_free(&p->nodes);
}

static void post_assigned(struct l2speaker *s, const struct l2addr *a)
{
	char ns[320];
	const char *slash = strchr(a->svc, '/');
	struct kube_ref ref;

	/* once per Service: only when no other address of it is announced */
	HTAB_WALK(&s->addrs, n) {
		const struct l2addr *b = container_of(n, struct l2addr, node);

		if (b != a && b->state == A_ANNOUNCED && !strcmp(b->svc, a->svc))
			return;
	}
	if (!slash || !s->rec)
		return;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - a->svc), a->svc);
	ref = (struct kube_ref){ "Service", "v1", ns, slash + 1, a->svc_uid };
	kube_event(s->rec, &ref, "Normal", "nodeAssigned", "announcing from node \"%s\" with protocol \"layer2\"",
		   s->env.node_name);
}

/*
 * A move the API decided (an endpoint moved, a label, the configuration)
 * reaches each agent at its own watch latency: the new owner may see it
 * before the old one has. So taking from a live `prev` also waits until
 * prev's last beat announces exactly what our view gives it (the owned
 * digest): then it has let go of this address. After HANDOVER_WAIT_MS
 * without that (prev's view of some other address differs, or its API
 * connection is stuck) we take anyway: an address nobody answers for is
 * the worse failure. A failover (prev dead) never waits here.
 */
#define HANDOVER_WAIT_MS 2000

static bool let_go(struct l2speaker *s, const char *node, uint64_t expect, uint64_t now)
{
	struct l2peer_info pi;

	if (!node || !strcmp(node, s->env.node_name) || !l2live_counts(s->live, node, now))
		return true;
	return l2live_peer(s->live, node, &pi) && pi.owned == expect;
}

/* Both prev (who would own it without us) and the owner our last pass
 * computed (who announced it, when our own view says nobody else may: its
 * view may lag ours) must have let go. */
static bool prev_let_go(struct l2speaker *s, const struct l2addr *a, const struct pass *p, int prev,
			const uint64_t *expect)
{
	int last = -1;

	for (size_t i = 0; a->owner[0] && i < p->nodes.n && last < 0; i++)
		if (!strcmp(p->nodes.v[i].name, a->owner))
			last = (int)i;
	if (let_go(s, prev >= 0 ? p->nodes.v[prev].name : NULL, prev >= 0 ? expect[prev] : 0, p->now) &&
	    let_go(s, last >= 0 ? p->nodes.v[last].name : NULL, last >= 0 ? expect[last] : 0, p->now))
		return true;
	return a->state == A_WAITING && p->now >= a->since + HANDOVER_WAIT_MS;
}

static void run(struct loop_timer *t)
{
	struct l2speaker *s = t->arg;
	struct pass p = { .s = s, .self = -1, .now = loop_now_ms() };
	VEC(struct l2io_ann) anns = { 0 };
	uint64_t *expect;		/* per node: digest of the addresses it should announce */
	const struct l2io_if *ifs;
	size_t n_ifs;
	int err;

	if (!s->synced)
		return;
	lb_config_reload(s->env.inf, s->o.config_namespace, s->o.config_name, &s->cfg_dirty,
			 &s->cfg, "l2");
	beat_ifs(s, p.now);
	s->pending = false;
	HTAB_WALK(&s->addrs, n)
		container_of(n, struct l2addr, node)->seen = false;
	if (s->env.inf[KUBE_NODE])
		kube_informer_foreach(s->env.inf[KUBE_NODE], collect_node, &p);
	if ((err = lbpass_services(&p.svcs, s->env.inf[KUBE_SERVICE], s->o.lb_class,
				   sizeof(struct psvc))) < 0)
		p.err = err;
	for (size_t i = 0; i < p.svcs.list.n; i++) {
		struct psvc *v = container_of(p.svcs.list.v[i], struct psvc, e);
		/* the pool of the first address (the key): a dual-stack
		 * Service lands on one node */
		const struct lb_pool *pool = lb_pool_of(s->cfg, &v->e.ips[0]);

		v->l2.local = v->e.svc->external_traffic_policy == KUBE_POLICY_LOCAL;
		v->pool = pool ? pool->name : NULL;
	}
	lbpass_endpoints(&p.svcs, s->env.inf[KUBE_ENDPOINTSLICE], on_endpoint, &p);
	if (p.err) {
		/* out of memory: announce nothing rather than something wrong */
		log_err("l2", "pass failed, withdrawing everything", "err=%s", log_q(strerror(-p.err)));
		HTAB_WALK(&s->addrs, n)
			set_state(s, container_of(n, struct l2addr, node), A_IDLE, "out of memory");
		l2io_set(s->io, NULL, 0);
		pass_free(&p);
		loop_timer_arm(s->env.loop, &s->pass_timer, 1000);
		return;
	}
	n_ifs = l2io_ifs(s->io, &ifs);
	/* first every owner, and what each node should announce by our view */
	if (!(expect = calloc(p.nodes.n + 1, sizeof(*expect)))) {
		pass_free(&p);
		loop_timer_arm(s->env.loop, &s->pass_timer, 1000);
		return;
	}
	for (size_t i = 0; i < p.svcs.list.n; i++) {
		struct psvc *v = container_of(p.svcs.list.v[i], struct psvc, e);
		struct l2_ip key;
		int owner = -1, prev = -1;
		const char *why;

		v->l2.endpoint_nodes = v->ep_nodes.v;
		v->l2.n_endpoint_nodes = v->ep_nodes.n;
		key = (struct l2_ip){ v->e.ips[0], v->pool, &v->l2 };
		if (!s->cfg || !v->pool)
			why = "in no address pool";
		else if (!v->l2.serving)
			why = "no ready or serving endpoint";
		else if ((owner = l2_owner(s->cfg, v->pool, &key.ip, &v->l2, p.nodes.v, p.nodes.n)) < 0)
			why = v->l2.local ? "no eligible live node with a local endpoint" :
					    "no eligible live node";
		else
			why = "smallest sha256(node#ip) among eligible live nodes";
		if (owner >= 0 && owner == p.self) {
			/* who would own it without us: may we take it from them? */
			p.nodes.v[p.self].alive = false;
			prev = l2_owner(s->cfg, v->pool, &key.ip, &v->l2, p.nodes.v, p.nodes.n);
			p.nodes.v[p.self].alive = true;
		}
		v->owner = owner;
		v->prev = prev;
		v->why = why;
		for (size_t k = 0; owner >= 0 && k < v->e.n_ips; k++)
			expect[owner] = l2beat_digest_add(expect[owner], v->e.ips[k].b, sizeof(v->e.ips[k].b));
	}
	for (size_t i = 0; i < p.svcs.list.n; i++) {
		struct psvc *v = container_of(p.svcs.list.v[i], struct psvc, e);
		int owner = v->owner, prev = v->prev;
		const char *why = v->why;

		for (size_t k = 0; k < v->e.n_ips; k++) {
			struct l2addr *a = addr_find(s, &v->e.ips[k], true);
			bool ours = owner >= 0 && owner == p.self;

			if (!a)
				continue;
			a->seen = true;
			snprintf(a->svc, sizeof(a->svc), "%s", v->e.key);
			snprintf(a->svc_uid, sizeof(a->svc_uid), "%s", v->e.svc->obj.uid ? v->e.svc->obj.uid : "");
			snprintf(a->pool, sizeof(a->pool), "%s", v->pool ? v->pool : "");
			snprintf(a->why, sizeof(a->why), "%s", why);
			if (!ours) {
				set_state(s, a, A_IDLE, owner >= 0 ? "another node owns it" : why);
			} else if (a->state != A_ANNOUNCED) {
				const char *pn = prev >= 0 ? p.nodes.v[prev].name : NULL;

				if (l2live_may_take(s->live, p.now, pn) &&
				    prev_let_go(s, a, &p, prev, expect)) {
					bool failover = a->owner[0] && strcmp(a->owner, s->env.node_name);

					set_state(s, a, A_ANNOUNCED, failover ? "taken over" : "owner");
					if (failover)
						metric_inc(s->m_failovers);
					post_assigned(s, a);
				} else {
					set_state(s, a, A_WAITING, "owner, waiting for the peers to agree");
					s->pending = true;
				}
			}
			snprintf(a->owner, sizeof(a->owner), "%s", owner >= 0 ? p.nodes.v[owner].name : "");
			if (a->state != A_ANNOUNCED)
				continue;
			for (size_t f = 0; f < n_ifs; f++) {
				struct l2io_ann x = { a->ip, ifs[f].ifindex };

				if (if_allowed(s, &ifs[f], v->pool, &p.nodes.v[p.self], &a->ip) &&
				    vec_push(&anns, x) < 0)
					p.err = -ENOMEM;
			}
		}
	}
	HTAB_WALK(&s->addrs, n) {
		struct l2addr *a = container_of(n, struct l2addr, node);

		if (!a->seen)
			addr_forget(s, a);
	}
	if (p.err || l2io_set(s->io, anns.v, anns.n) < 0) {
		l2io_set(s->io, NULL, 0);
		HTAB_WALK(&s->addrs, n)
			set_state(s, container_of(n, struct l2addr, node), A_IDLE, "out of memory");
		loop_timer_arm(s->env.loop, &s->pass_timer, 1000);
	}
	vec_free(&anns);
	free(expect);
	pass_free(&p);
	s->last_view = l2live_view(s->live, loop_now_ms());
}

static void kick(struct l2speaker *s)
{
	if (s->synced && !loop_timer_armed(&s->pass_timer))
		loop_timer_arm(s->env.loop, &s->pass_timer, 0);
}

/* ---- the heartbeat ---- */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_beat(struct l2speaker *s, bool leaving)
{
	struct l2beat b;
	uint8_t buf[L2BEAT_MAX];
	uint64_t owned = 0;
	uint32_t n_owned = 0;
	int len;

	HTAB_WALK(&s->addrs, n) {
		const struct l2addr *a = container_of(n, struct l2addr, node);

		if (a->state == A_ANNOUNCED && !leaving) {
			owned = l2beat_digest_add(owned, a->ip.b, sizeof(a->ip.b));
			n_owned++;
		}
	}
	l2live_own_beat(s->live, loop_now_ms(), &b);
	b.time_ms = wall_ms();
	b.owned = owned;
	b.n_owned = n_owned;
	if (leaving)
		b.flags = (uint8_t)((b.flags & ~L2BEAT_READY) | L2BEAT_LEAVING);
	if ((len = l2beat_encode(&b, s->keys.k[0], s->keys.len[0], buf, sizeof(buf))) < 0)
		return;
	if (l2io_send_beat(s->io, buf, (size_t)len) > 0)
		metric_inc(s->m_beats_sent);
}

struct peer_walk {
	struct l2speaker *s;
	uint64_t now;
	int by[L2P_N];
	int dead_ready;
};

static bool warned(struct l2speaker *s, const char *node)
{
	for (size_t i = 0; i < s->warned.n; i++)
		if (!strcmp(s->warned.v[i], node))
			return true;
	return false;
}

/* A peer the heartbeat calls DEAD while the API says its Node is Ready,
 * for longer than the API takes to notice a dead node (node-monitor grace
 * period, 40 s by default): the heartbeat is cut (a firewall, a partition)
 * while the API still hears it, and ARP may flow too, so two nodes may
 * answer (docs/l2.md). Said once per episode. */
#define DEAD_READY_WARN_MS 60000
static void peers_check(void *arg, const struct l2peer_info *pi)
{
	struct peer_walk *w = arg;
	struct l2speaker *s = w->s;
	const struct kube_node *nd = s->env.inf[KUBE_NODE] ?
		kube_node(kube_informer_get(s->env.inf[KUBE_NODE], "", pi->node)) : NULL;
	bool bad = pi->state == L2P_DEAD && nd && nd->ready == 1 &&
		   w->now > pi->last_ms + DEAD_READY_WARN_MS;
	char *name;

	w->by[pi->state]++;
	w->dead_ready += bad;
	if (bad && !warned(s, pi->node) && (name = strdup(pi->node))) {
		if (vec_push(&s->warned, name) < 0) {
			free(name);
			return;
		}
		log_warn("l2", "peer silent on the heartbeat but its Node is Ready: is the heartbeat "
			 "blocked between the nodes? both may answer for its addresses", "node=%s",
			 pi->node);
	} else if (!bad && pi->state != L2P_DEAD) {
		for (size_t i = 0; i < s->warned.n; i++)
			if (!strcmp(s->warned.v[i], pi->node)) {
				free(s->warned.v[i]);
				s->warned.v[i] = s->warned.v[--s->warned.n];
				break;
			}
	}
}

static void beat_run(struct loop_timer *t)
{
	struct l2speaker *s = t->arg;
	uint64_t now = loop_now_ms(), next;
	struct peer_walk pw = { .s = s, .now = now };

	/* the passing of time first, then the pass, then the beat: a beat
	 * never tells a view before the withdrawals it implies */
	if (l2live_tick(s->live, now) > 0 || s->pending ||
	    l2live_view(s->live, now) != s->last_view) {
		if (loop_timer_armed(&s->pass_timer))
			loop_timer_cancel(s->env.loop, &s->pass_timer);
		run(&s->pass_timer);
	}
	/* the timer also runs for state deadlines between beats */
	if (s->beating && now >= s->last_beat_ms + s->o.interval_ms) {
		send_beat(s, false);
		s->last_beat_ms = now;
	}
	l2live_walk(s->live, peers_check, &pw);
	for (int i = 0; i < L2P_N; i++)
		metric_set(s->m_peers[i], pw.by[i]);
	metric_set(s->m_dead_ready, pw.dead_ready);
	next = l2live_next_ms(s->live, now);
	next = next > now ? next - now : 0;
	if (s->beating && next > s->last_beat_ms + s->o.interval_ms - now)
		next = s->last_beat_ms + s->o.interval_ms - now;
	if (next > s->o.interval_ms)
		next = s->o.interval_ms;
	loop_timer_arm(s->env.loop, &s->beat_timer, next);
}

static void on_beat(void *arg, int ifindex, const uint8_t *p, size_t n)
{
	struct l2speaker *s = arg;
	struct l2beat b;
	const char *why = NULL;
	uint64_t now = loop_now_ms();
	int rc, r = -1;

	if (s->stopping)
		return;
	/* the signing key first, then the other one (rotation) */
	rc = -EACCES;
	for (size_t k = 0; k < s->keys.n && rc == -EACCES; k++)
		rc = l2beat_decode(p, n, s->keys.k[k], s->keys.len[k], &b, &why);
	if (rc == 0) {
		enum l2peer_state before = l2live_state(s->live, b.node);

		rc = l2live_beat(s->live, &b, now, wall_ms());
		if (rc == 0) {
			metric_inc(s->m_beats_ok);
			/* recompute when something may have moved: a state,
			 * our view, a view not yet agreed, a take waiting */
			if (s->pending || before != l2live_state(s->live, b.node) ||
			    l2live_view(s->live, now) != s->last_view || b.view != s->last_view)
				kick(s);
			return;
		}
	}
	switch (rc) {
	case -EBADMSG: r = 0; break;
	case -EACCES: r = 1; break;
	case -EALREADY: r = 2; break;
	case -ETIME: r = 3; break;
	case -EEXIST: r = 4; break;
	case -ENOSPC: r = 5; break;
	default: return;
	}
	metric_inc(s->m_refused[r]);
	/* the same beat through two interfaces on one LAN, and our own, are normal */
	log_v(r == 2 || r == 4 ? 3 : 1, "l2", "heartbeat refused", "ifindex=%d reason=%s why=%s",
	      ifindex, refused_name[r], log_q(why ? why : ""));
}

static void on_links(void *arg, bool went_down, bool came_up)
{
	struct l2speaker *s = arg;

	/* a cut link: what we believed may be stale; listen before claiming */
	if (went_down || came_up)
		l2live_relisten(s->live, loop_now_ms());
	/* !io: l2io_new's first dump, from speaker_begin; it passes next */
	if (!s->synced || !s->io)
		return;
	/* now, not at the next turn of the loop: see l2io_ops.links */
	if (loop_timer_armed(&s->pass_timer))
		loop_timer_cancel(s->env.loop, &s->pass_timer);
	run(&s->pass_timer);
}

static void on_count(void *arg, const char *what, const char *why)
{
	struct l2speaker *s = arg;

	if (!strcmp(what, "arp"))
		metric_inc(s->m_answers_arp);
	else if (!strcmp(what, "ndp"))
		metric_inc(s->m_answers_ndp);
	else if (!strcmp(what, "garp"))
		metric_inc(s->m_garp);
	else if (!strcmp(what, "una"))
		metric_inc(s->m_una);
	else if (!strcmp(what, "bad"))
		metric_inc(s->m_bad_frames);
	(void)why;
}

static const struct l2io_ops io_ops = { .beat = on_beat, .links = on_links, .count = on_count };

/* ---- the consumer ---- */

static const char answers_help[] = "ARP replies and Neighbor Advertisements sent";
static const char gratuitous_help[] = "Gratuitous ARP and unsolicited Neighbor Advertisements sent";

/* One counter of a family split by protocol="arp"|"ndp". */
static struct metric *by_protocol(struct metrics *m, const char *name, const char *proto,
				  const char *help)
{
	char labels[32];

	snprintf(labels, sizeof(labels), "protocol=\"%s\"", proto);
	return metrics_counter(m, name, labels, help);
}

static void metrics_init(struct l2speaker *s)
{
	struct metrics *m = s->env.metrics;
	char labels[64];

	if (!m)
		return;
	s->m_takes = metrics_counter(m, "ferry_l2_announce_total", NULL,
				     "Addresses this node started to announce");
	s->m_withdraws = metrics_counter(m, "ferry_l2_withdraw_total", NULL,
					 "Addresses this node stopped announcing");
	s->m_failovers = metrics_counter(m, "ferry_l2_failover_total", NULL,
					 "Addresses taken over from another node");
	s->m_beats_sent = metrics_counter(m, "ferry_l2_beats_sent_total", NULL, "Heartbeats sent");
	s->m_beats_ok = metrics_counter(m, "ferry_l2_beats_received_total", NULL,
					"Heartbeats accepted");
	for (int i = 0; i < 6; i++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"", refused_name[i]);
		s->m_refused[i] = metrics_counter(m, "ferry_l2_beats_refused_total", labels,
						  "Heartbeats refused, by reason");
	}
	for (int i = 0; i < L2P_N; i++) {
		snprintf(labels, sizeof(labels), "state=\"%s\"", l2live_state_name(i));
		s->m_peers[i] = metrics_gauge(m, "ferry_l2_peers", labels, "Heartbeat peers, by state");
	}
	s->m_answers_arp = by_protocol(m, "ferry_l2_answers_total", "arp", answers_help);
	s->m_answers_ndp = by_protocol(m, "ferry_l2_answers_total", "ndp", answers_help);
	s->m_garp = by_protocol(m, "ferry_l2_gratuitous_total", "arp", gratuitous_help);
	s->m_una = by_protocol(m, "ferry_l2_gratuitous_total", "ndp", gratuitous_help);
	s->m_bad_frames = metrics_counter(m, "ferry_l2_bad_frames_total", NULL,
					  "Malformed ARP/NDP frames ignored");
	s->m_dead_ready = metrics_gauge(m, "ferry_l2_peers_dead_but_ready", NULL,
					"Peers silent on the heartbeat whose Node is Ready");
	s->m_key_loaded = metrics_gauge(m, "ferry_l2_key_loaded", NULL,
					"1 when the heartbeat key is loaded (layer 2 runs), 0 while waiting for it");
}

/* The key file: 0 and the keys, or -1 and why (for the log and status). */
static int key_load(const char *path, struct l2beat_keys *keys, char *why, size_t n)
{
	const char *w = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if ((rc = file_read(path, 4096, &text, &len)) < 0) {
		snprintf(why, n, "%s", strerror(-rc));
		return -1;
	}
	rc = l2beat_keys_parse(text, len, keys, &w);
	explicit_bzero(text, len);
	free(text);
	if (rc < 0) {
		snprintf(why, n, "%s (one key per line, 16 to 256 bytes, at most two)", w ? w : "bad key");
		return -1;
	}
	return 0;
}

static bool keys_equal(const struct l2beat_keys *a, const struct l2beat_keys *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->len[i] != b->len[i] || memcmp(a->k[i], b->k[i], a->len[i]))
			return false;
	return true;
}

/* Everything but the key: the heartbeat, the I/O, the first pass. */
static int speaker_begin(struct l2speaker *s)
{
	struct l2live_params lp = L2LIVE_DEFAULTS;
	uint64_t boot;
	int rc;

	lp.interval_ms = s->o.interval_ms;
	if (getrandom(&boot, sizeof(boot), 0) != sizeof(boot))
		boot = loop_now_us() ^ ((uint64_t)wall_ms() << 20);
	if (!(s->live = l2live_new(s->env.node_name, boot, &lp, loop_now_ms())) ||
	    !(s->rec = kube_recorder_new(s->env.kube, "ferry-l2-speaker", s->env.node_name))) {
		log_err("l2", "cannot start the layer-2 speaker", "err=%s", log_q(strerror(ENOMEM)));
		goto fail;
	}
	if (!(s->io = l2io_new(s->env.loop, s->o.interfaces, s->o.n_interfaces, &io_ops, s, &rc))) {
		log_err("l2", "cannot start the layer-2 I/O (needs CAP_NET_RAW)", "err=%s",
			log_q(strerror(-rc)));
		goto fail;
	}
	s->cfg_dirty = true;
	loop_timer_arm(s->env.loop, &s->beat_timer, 0);
	metric_set(s->m_key_loaded, 1);
	log_info("l2", "layer-2 speaker ready", "interval_ms=%u interfaces=%s keys=%zu",
		 s->o.interval_ms, s->o.n_interfaces ? "flag" : "by subnet", s->keys.n);
	kick(s);
	return 0;
fail:
	l2live_free(s->live);
	kube_recorder_free(s->rec);
	s->live = NULL;
	s->rec = NULL;
	return -1;
}

/*
 * The key file is watched, not read once: an operator creates the Secret
 * after installing, or rotates it, and the kubelet updates the mounted file
 * in place. Until a good key is there the speaker stays off (it cannot be
 * safe without the heartbeat), says so once per distinct reason, and shows
 * it in status and ferry_l2_key_loaded. Once running, a changed good key
 * replaces the old one (rotation without a restart); a file that turns bad
 * or vanishes keeps the last good key (a Secret update in flight must not
 * take every address down).
 */
static void key_poll(struct loop_timer *t)
{
	struct l2speaker *s = t->arg;
	struct l2beat_keys keys;
	char why[sizeof(s->key_why)];

	loop_timer_arm(s->env.loop, &s->key_timer, s->o.key_poll_ms);
	if (key_load(s->o.key_file, &keys, why, sizeof(why)) < 0) {
		if (strcmp(why, s->key_why)) {
			if (s->io)
				log_warn("l2", "cannot read the heartbeat key: keeping the last good one",
					 "path=%s err=%s", log_q(s->o.key_file), log_q(why));
			else
				log_warn("l2", "layer-2 announcement waits for the heartbeat key",
					 "path=%s err=%s", log_q(s->o.key_file), log_q(why));
			snprintf(s->key_why, sizeof(s->key_why), "%s", why);
		}
		return;
	}
	s->key_why[0] = 0;
	if (s->io) {
		if (!keys_equal(&keys, &s->keys)) {
			s->keys = keys;
			log_info("l2", "heartbeat key changed", "path=%s keys=%zu", log_q(s->o.key_file),
				 keys.n);
		}
		explicit_bzero(&keys, sizeof(keys));
		return;
	}
	s->keys = keys;
	explicit_bzero(&keys, sizeof(keys));
	log_info("l2", "heartbeat key loaded", "path=%s keys=%zu", log_q(s->o.key_file), s->keys.n);
	if (speaker_begin(s) < 0) {
		/* logged by speaker_begin; not again every poll */
		snprintf(s->key_why, sizeof(s->key_why), "the speaker did not start (see the log)");
		loop_timer_arm(s->env.loop, &s->key_timer, 30000);
	}
}

static void *l2_start(const struct consumer_env *env, const void *opts)
{
	const struct l2speaker_opts *o = opts;
	struct l2speaker *s;

	if (o->disabled)
		return calloc(1, sizeof(struct l2speaker));	/* inert */
	if (!(s = calloc(1, sizeof(*s))))
		return NULL;
	s->env = *env;
	s->o = *o;
	if (!s->o.interval_ms)
		s->o.interval_ms = 200;
	if (!s->o.key_poll_ms)
		s->o.key_poll_ms = 2000;
	loop_timer_init(&s->pass_timer, run, s);
	loop_timer_init(&s->beat_timer, beat_run, s);
	loop_timer_init(&s->key_timer, key_poll, s);
	metrics_init(s);
	if (key_load(o->key_file, &s->keys, s->key_why, sizeof(s->key_why)) < 0) {
		log_warn("l2", "layer-2 announcement waits for the heartbeat key (this node answers "
			 "for no address until it is there)", "path=%s err=%s", log_q(o->key_file),
			 log_q(s->key_why));
	} else if (speaker_begin(s) < 0) {
		/* a good key and still no start: the agent cannot do what it was asked */
		free(s);
		return NULL;
	}
	loop_timer_arm(env->loop, &s->key_timer, s->o.key_poll_ms);
	return s;
}

static void l2_changed(void *arg, enum kube_kind kind, const struct kube_object *old,
		       const struct kube_object *obj)
{
	struct l2speaker *s = arg;

	if (!s->io)
		return;
	if (kind == KUBE_CONFIGMAP || kube_kind_is_custom(kind))
		s->cfg_dirty = true;
	if (kind == KUBE_NODE && !obj && old)
		l2live_forget(s->live, old->name);
	if (kind == KUBE_SERVICE || kind == KUBE_ENDPOINTSLICE || kind == KUBE_NODE ||
	    kind == KUBE_CONFIGMAP || kube_kind_is_custom(kind))
		kick(s);
}

static void l2_synced(void *arg)
{
	struct l2speaker *s = arg;

	if (!s->env.loop)
		return;
	s->synced = true;	/* also while waiting for the key: speaker_begin kicks */
	if (s->io)
		kick(s);
}

struct status_ctx {
	struct httpd_resp *r;
	uint64_t now;
};

static void status_peer(void *arg, const struct l2peer_info *pi)
{
	struct status_ctx *x = arg;

	httpd_printf(x->r, "  %-30s %-8s last beat %llu ms ago, announces %u%s\n", pi->node,
		     l2live_state_name(pi->state), (unsigned long long)(x->now - pi->last_ms),
		     pi->n_owned, pi->flags & L2BEAT_READY ? "" : " (listening)");
}

static void l2_status(void *arg, struct httpd_resp *r)
{
	struct l2speaker *s = arg;
	struct status_ctx x = { r, loop_now_ms() };
	const struct l2io_if *ifs;
	size_t n;

	if (!s->env.loop) {
		httpd_printf(r, "\nLayer-2 announcement: off on this agent\n");
		return;
	}
	if (!s->io) {
		httpd_printf(r, "\nLayer-2 announcement: off, waiting for the heartbeat key (%s: %s)\n",
			     s->o.key_file, s->key_why);
		return;
	}
	httpd_printf(r, "\nLayer-2 announcement: %s, heartbeat %s\n",
		     l2live_ready(s->live, x.now) ? "ready" : "listening before claiming",
		     s->beating ? "on" : "off (no interface on a pool's subnet)");
	if (s->key_why[0])
		httpd_printf(r, "heartbeat key file %s: %s (the last good key is in use)\n",
			     s->o.key_file, s->key_why);
	n = l2io_ifs(s->io, &ifs);
	httpd_printf(r, "interfaces:");
	for (size_t i = 0; i < n; i++)
		if (ifs[i].usable)
			httpd_printf(r, " %s", ifs[i].name);
	httpd_printf(r, "\npeers:\n");
	l2live_walk(s->live, status_peer, &x);
	httpd_printf(r, "addresses:\n");
	HTAB_WALK(&s->addrs, hn) {
		const struct l2addr *a = container_of(hn, struct l2addr, node);
		char ip[64];

		lb_addr_format(&a->ip, ip, sizeof(ip));
		httpd_printf(r, "  %-40s %s pool=%s owner=%s state=%s (%s)\n", ip, a->svc,
			     a->pool[0] ? a->pool : "-", a->owner[0] ? a->owner : "none",
			     state_name[a->state], a->why);
	}
}

static void l2_stop(void *arg)
{
	struct l2speaker *s = arg;

	if (s->env.loop)
		loop_timer_cancel(s->env.loop, &s->key_timer);
	if (s->env.loop && s->io) {
		s->stopping = true;
		/* graceful handover: stop answering, then tell the others at
		 * once (twice, against one lost frame) */
		l2io_set(s->io, NULL, 0);
		HTAB_WALK(&s->addrs, n)
			addr_forget(s, container_of(n, struct l2addr, node));
		htab_free(&s->addrs);
		if (s->beating) {
			send_beat(s, true);
			send_beat(s, true);
			log_info("l2", "withdrawn everything and said so (leaving)", "");
		}
		loop_timer_cancel(s->env.loop, &s->pass_timer);
		loop_timer_cancel(s->env.loop, &s->beat_timer);
		l2io_free(s->io);
		l2live_free(s->live);
		lb_config_free(s->cfg);
		kube_recorder_free(s->rec);
		for (size_t i = 0; i < s->warned.n; i++)
			free(s->warned.v[i]);
		vec_free(&s->warned);
	}
	explicit_bzero(&s->keys, sizeof(s->keys));
	free(s);
}

const struct consumer_ops l2speaker_consumer = {
	.name = "l2-speaker",
	.kinds = 1u << KUBE_SERVICE | 1u << KUBE_ENDPOINTSLICE | 1u << KUBE_NODE |
		 1u << KUBE_CONFIGMAP | 1u << KUBE_IPADDRESSPOOL | 1u << KUBE_L2ADVERTISEMENT,
	.start = l2_start,
	.changed = l2_changed,
	.synced = l2_synced,
	.status = l2_status,
	.stop = l2_stop,
};
