/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "kube/lease.h"
#include "kube/write.h"
#include "core/log.h"
#include "core/loop.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct kube_lease {
	struct kube_client *c;
	char *ns, *name, *identity, *path, *create_path;
	int duration_s, renew_deadline_ms, retry_ms;
	void (*changed)(void *arg, bool held);
	void *arg;
	struct loop_timer tick;
	struct kube_update *op;
	bool held, releasing, stopped;
	/* when the renewTime of the last successful write was taken (not when
	 * the answer came: the others count from the renewTime) */
	uint64_t last_renew_ms, writing_ms;
	int64_t transitions;	/* leaseTransitions as last read or written */
	/* the other holder's record as last seen, and when it last changed */
	char *seen_holder, *seen_renew;
	uint64_t seen_at_ms;
};

void kube_micro_time(char buf[32])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);

	snprintf(buf + n, 32 - n, ".%06ldZ", ts.tv_nsec / 1000 % 1000000);
}

static struct loop *lp(struct kube_lease *l) { return kube_client_loop(l->c); }

static void set_held(struct kube_lease *l, bool held, const char *why)
{
	if (l->held == held)
		return;
	l->held = held;
	log_info("kube", held ? "lease acquired" : "lease lost", "lease=%s/%s identity=%s why=%s",
		 l->ns, l->name, log_q(l->identity), log_q(why));
	if (l->changed)
		l->changed(l->arg, held);
}

static const char *spec_str(struct json_object *spec, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(spec, k, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

static void seen(struct kube_lease *l, const char *holder, const char *renew)
{
	if (l->seen_holder && l->seen_renew && holder && renew && !strcmp(l->seen_holder, holder) &&
	    !strcmp(l->seen_renew, renew))
		return;
	free(l->seen_holder);
	free(l->seen_renew);
	l->seen_holder = holder ? strdup(holder) : NULL;
	l->seen_renew = renew ? strdup(renew) : NULL;
	l->seen_at_ms = loop_now_ms();
}

/* The whole Lease to write, from the current one (NULL: create). */
static char *mutate(void *arg, struct json_object *cur)
{
	struct kube_lease *l = arg;
	struct json_object *o, *spec, *md = NULL, *v;
	const char *holder = NULL;
	int64_t transitions = 0;
	int duration = l->duration_s;
	char now[32];
	char *out;

	kube_micro_time(now);
	l->writing_ms = loop_now_ms();
	if (cur) {
		o = json_object_get(cur);
		if (!json_object_object_get_ex(o, "spec", &spec) || !json_object_is_type(spec, json_type_object)) {
			if (!(spec = json_object_new_object())) {
				json_object_put(o);
				return NULL;
			}
			json_object_object_add(o, "spec", spec);
		}
		holder = spec_str(spec, "holderIdentity");
		if (json_object_object_get_ex(spec, "leaseTransitions", &v))
			transitions = json_object_get_int64(v);
		l->transitions = transitions;
		if (json_object_object_get_ex(spec, "leaseDurationSeconds", &v) && json_object_get_int(v) > 0)
			duration = json_object_get_int(v);
		seen(l, holder, spec_str(spec, "renewTime"));
	} else {
		/* out of memory writes nothing: seen as not acquired, the safe side */
		if (!(o = json_object_new_object()) || !(md = json_object_new_object()) ||
		    !(spec = json_object_new_object())) {
			json_object_put(o);
			json_object_put(md);
			return NULL;
		}
		json_object_object_add(o, "apiVersion", json_object_new_string("coordination.k8s.io/v1"));
		json_object_object_add(o, "kind", json_object_new_string("Lease"));
		json_object_object_add(md, "name", json_object_new_string(l->name));
		json_object_object_add(md, "namespace", json_object_new_string(l->ns));
		json_object_object_add(o, "metadata", md);
		json_object_object_add(o, "spec", spec);
	}
	if (l->releasing) {
		if (!holder || strcmp(holder, l->identity)) {
			json_object_put(o);
			return NULL;	/* not ours (any more): nothing to release */
		}
		json_object_object_add(spec, "holderIdentity", json_object_new_string(""));
		json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(1));
		json_object_object_add(spec, "renewTime", json_object_new_string(now));
	} else if (holder && !strcmp(holder, l->identity)) {
		json_object_object_add(spec, "renewTime", json_object_new_string(now));
		json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(l->duration_s));
	} else {
		/* someone else's, still fresh as we observe it: leave it */
		if (holder && *holder && loop_now_ms() < l->seen_at_ms + (uint64_t)duration * 1000) {
			json_object_put(o);
			return NULL;
		}
		json_object_object_add(spec, "holderIdentity", json_object_new_string(l->identity));
		json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(l->duration_s));
		json_object_object_add(spec, "acquireTime", json_object_new_string(now));
		json_object_object_add(spec, "renewTime", json_object_new_string(now));
		/* as client-go: a new holder is a transition, even after a release */
		l->transitions = cur ? transitions + 1 : 0;
		json_object_object_add(spec, "leaseTransitions", json_object_new_int64(l->transitions));
	}
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	out = text ? strdup(text) : NULL;
	json_object_put(o);
	return out;
}

static void attempt(struct kube_lease *l);

static void written(void *arg, const struct kube_result *r)
{
	struct kube_lease *l = arg;

	l->op = NULL;
	if (l->releasing) {
		if (r->status == 200)
			log_info("kube", "lease released", "lease=%s/%s", l->ns, l->name);
		l->releasing = false;
		l->stopped = true;
		set_held(l, false, "released");
		return;
	}
	if (r->status == 200 || r->status == 201) {
		l->last_renew_ms = l->writing_ms;
		set_held(l, true, "acquired");
	} else if (r->status == 0 && r->err == 0) {
		set_held(l, false, "held by another");
	} else {
		log_warn("kube", "lease update failed", "lease=%s/%s status=%d err=%s", l->ns, l->name, r->status,
			 log_q(r->status ? (kube_status_message(r->body) ?: "-") : (r->msg ? r->msg : "-")));
		if (l->held && loop_now_ms() - l->last_renew_ms >= (uint64_t)l->renew_deadline_ms)
			set_held(l, false, "renew deadline passed");
	}
	if (!l->stopped)
		loop_timer_arm(lp(l), &l->tick, l->retry_ms);
}

static void attempt(struct kube_lease *l)
{
	if (l->op)
		return;
	/* a renewal that cannot finish in time is a lost lease, whatever the API says later */
	if (l->held && loop_now_ms() - l->last_renew_ms >= (uint64_t)l->renew_deadline_ms)
		set_held(l, false, "renew deadline passed");
	l->op = kube_update(l->c, l->path, l->create_path, 1, mutate, written, l);
	if (!l->op && !l->stopped)
		loop_timer_arm(lp(l), &l->tick, l->retry_ms);
}

static void tick(struct loop_timer *t)
{
	struct kube_lease *l = t->arg;

	if (l->op) {	/* the previous attempt still runs: check the deadline again soon */
		if (l->held && loop_now_ms() - l->last_renew_ms >= (uint64_t)l->renew_deadline_ms)
			set_held(l, false, "renew deadline passed");
		loop_timer_arm(lp(l), &l->tick, l->retry_ms);
		return;
	}
	attempt(l);
}

struct kube_lease *kube_lease_new(struct kube_client *c, const struct kube_lease_opts *o,
				  void (*changed)(void *arg, bool held), void *arg)
{
	struct kube_lease *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->c = c;
	l->ns = strdup(o->namespace);
	l->name = strdup(o->name);
	l->identity = strdup(o->identity);
	l->duration_s = o->duration_s > 0 ? o->duration_s : 15;
	l->renew_deadline_ms = o->renew_deadline_ms > 0 ? o->renew_deadline_ms : 10000;
	l->retry_ms = o->retry_ms > 0 ? o->retry_ms : 2000;
	l->changed = changed;
	l->arg = arg;
	loop_timer_init(&l->tick, tick, l);
	if (asprintf(&l->create_path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases", o->namespace) < 0)
		l->create_path = NULL;
	if (asprintf(&l->path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", o->namespace, o->name) < 0)
		l->path = NULL;
	if (!l->ns || !l->name || !l->identity || !l->path || !l->create_path) {
		kube_lease_free(l);
		return NULL;
	}
	return l;
}

void kube_lease_start(struct kube_lease *l)
{
	l->stopped = false;
	attempt(l);
}

void kube_lease_release(struct kube_lease *l)
{
	loop_timer_cancel(lp(l), &l->tick);
	kube_update_cancel(l->op);
	l->op = NULL;
	if (!l->held) {
		l->stopped = true;
		return;
	}
	l->releasing = true;
	l->op = kube_update(l->c, l->path, NULL, 3, mutate, written, l);
	if (!l->op) {
		l->releasing = false;
		l->stopped = true;
		set_held(l, false, "released");
	}
}

bool kube_lease_held(const struct kube_lease *l) { return l->held; }

bool kube_lease_valid(const struct kube_lease *l)
{
	return l->held && loop_now_ms() - l->last_renew_ms < (uint64_t)l->renew_deadline_ms;
}

int64_t kube_lease_renew_age_ms(const struct kube_lease *l)
{
	return l->held ? (int64_t)(loop_now_ms() - l->last_renew_ms) : -1;
}

int64_t kube_lease_transitions(const struct kube_lease *l) { return l->transitions; }
const char *kube_lease_holder(const struct kube_lease *l) { return l->held ? l->identity : l->seen_holder; }

void kube_lease_free(struct kube_lease *l)
{
	if (!l)
		return;
	if (l->c)
		loop_timer_cancel(lp(l), &l->tick);
	kube_update_cancel(l->op);
	free(l->ns);
	free(l->name);
	free(l->identity);
	free(l->path);
	free(l->create_path);
	free(l->seen_holder);
	free(l->seen_renew);
	free(l);
}
