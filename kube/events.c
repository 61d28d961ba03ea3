/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "kube/events.h"
#include "kube/lease.h"
#include "kube/write.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/vec.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_SIZE 4096		/* client-go's maxLruCacheEntries */
#define SPAM_BURST 25
#define SPAM_REFILL_MS (300 * 1000)
#define AGG_MAX 10
#define AGG_WINDOW_MS (600 * 1000)

/* One small LRU-ish table per correlation step: entries keyed by a string,
 * oldest replaced when full. */
struct entry {
	struct hnode node;	/* in table.idx, by key */
	char *key;
	uint64_t used_ms;
	uint64_t uid_h;		/* the object's uid, hashed: kube_events_forget */
	/* spam: tokens; aggregate: distinct messages and window start;
	 * dedup: the event's name, namespace, count and first timestamp */
	double tokens;
	uint64_t since_ms;
	char **msgs;
	size_t n_msgs, cap_msgs;
	char *ev_name, *ev_ns, *first_ts;
	int count;
};

struct table {
	struct entry *e;	/* CACHE_SIZE slots, allocated on first use */
	int n;
	struct htab idx;
};

struct pending;

struct kube_recorder {
	struct kube_recorder *next;	/* every live recorder: kube_events_forget */
	struct kube_client *c;
	char *component, *host;
	struct table spam, agg, dedup;
	struct kube_recorder_stats st;
	/* one write at a time, in order, as client-go's broadcaster: a patch
	 * must not overtake the create of its event */
	struct pending *head, *tail;
	struct kube_req *inflight;
	int queued;
};

#define MAX_QUEUED 1000

/* A create or patch waiting for its turn. */
struct pending {
	struct pending *next;
	char *path;
	char *payload;		/* the Event (create) or the patch */
	char *event;		/* the full Event, to recreate an expired one */
	char *ns;
	bool patch;
};

static void pending_free(struct pending *p)
{
	free(p->path);
	free(p->payload);
	free(p->event);
	free(p->ns);
	free(p);
}


static void entry_clear(struct entry *e)
{
	free(e->key);
	for (size_t i = 0; i < e->n_msgs; i++)
		free(e->msgs[i]);
	free(e->msgs);
	free(e->ev_name);
	free(e->ev_ns);
	free(e->first_ts);
	memset(e, 0, sizeof(*e));
}

/* Find `key`, or make room for it (fresh entry, *fresh = true). */
static struct entry *lookup(struct table *t, const char *key, bool *fresh)
{
	uint64_t h = hash_str(key, HASH_SEED);
	struct entry *e = NULL;

	*fresh = false;
	if (!t->e && !(t->e = calloc(CACHE_SIZE, sizeof(*t->e))))
		return NULL;
	for (struct hnode *n = htab_first(&t->idx, h); n; n = htab_next(n, h)) {
		e = container_of(n, struct entry, node);
		if (!strcmp(e->key, key)) {
			e->used_ms = loop_now_ms();
			return e;
		}
	}
	if (t->n < CACHE_SIZE) {
		e = &t->e[t->n++];
	} else {
		/* full: replace the least recently used (a scan, only when full) */
		e = &t->e[0];
		for (int i = 1; i < t->n; i++)
			if (t->e[i].used_ms < e->used_ms)
				e = &t->e[i];
		if (e->key)	/* else a slot a failed insert left unindexed */
			htab_del(&t->idx, &e->node);
		entry_clear(e);
	}
	if (!(e->key = strdup(key)) || htab_add(&t->idx, &e->node, h) < 0) {
		free(e->key);
		e->key = NULL;	/* an unindexed slot, reused first (used_ms 0) */
		e->used_ms = 0;
		return NULL;
	}
	e->used_ms = loop_now_ms();
	*fresh = true;
	return e;
}

/* The live recorders (one loop, no threads). */
static struct kube_recorder *recorders;

/* A deleted object's correlation state can never match again (a new
 * object gets a new uid): free it now instead of when the table fills,
 * so the tables hold what live objects need (client-go keeps them until
 * its LRU evicts them: 4096 per table, megabytes under churn). */
static void table_forget(struct table *t, uint64_t uid_h)
{
	for (int i = 0; i < t->n; i++) {
		struct entry *e = &t->e[i];

		if (!e->key || e->uid_h != uid_h)
			continue;
		htab_del(&t->idx, &e->node);
		entry_clear(e);		/* used_ms 0: the first slot reused when full */
	}
}

void kube_events_forget(const char *uid)
{
	if (!uid || !*uid)
		return;
	uint64_t h = hash_str(uid, HASH_SEED);

	for (struct kube_recorder *r = recorders; r; r = r->next) {
		table_forget(&r->spam, h);
		table_forget(&r->agg, h);
		table_forget(&r->dedup, h);
	}
}

static void table_free(struct table *t)
{
	for (int i = 0; i < t->n; i++)
		entry_clear(&t->e[i]);
	free(t->e);
	htab_free(&t->idx);
}

struct kube_recorder *kube_recorder_new(struct kube_client *c, const char *component, const char *host)
{
	struct kube_recorder *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->c = c;
	r->component = strdup(component);
	r->host = strdup(host ? host : "");
	r->next = recorders;
	recorders = r;
	if (!r->component || !r->host) {
		kube_recorder_free(r);
		return NULL;
	}
	return r;
}

void kube_recorder_free(struct kube_recorder *r)
{
	if (!r)
		return;
	for (struct kube_recorder **pp = &recorders; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	kube_request_cancel(r->inflight);
	while (r->head) {
		struct pending *p = r->head;

		r->head = p->next;
		pending_free(p);
	}
	table_free(&r->spam);
	table_free(&r->agg);
	table_free(&r->dedup);
	free(r->component);
	free(r->host);
	free(r);
}

void kube_recorder_stats(const struct kube_recorder *r, struct kube_recorder_stats *s) { *s = r->st; }

static void send_next(struct kube_recorder *r);

static void sent(void *arg, const struct kube_result *res)
{
	struct kube_recorder *r = arg;
	struct pending *p = r->head;

	r->inflight = NULL;
	r->head = p->next;
	if (!r->head)
		r->tail = NULL;
	r->queued--;
	if (p->patch && res->status == 404) {
		/* the API expired the event (1 h TTL): record it anew, first in line */
		char *path = NULL;

		if (asprintf(&path, "/api/v1/namespaces/%s/events", p->ns) >= 0) {
			free(p->path);
			free(p->payload);
			p->path = path;
			p->payload = p->event;
			p->event = NULL;
			p->patch = false;
			p->next = r->head;
			r->head = p;
			if (!r->tail)
				r->tail = p;
			r->queued++;
			send_next(r);
			return;
		}
	}
	if ((res->status < 200 || res->status >= 300) && res->status != 409) {
		r->st.failed++;
		log_warn("kube", "cannot record an event", "status=%d err=%s", res->status,
			 log_q(res->status ? (kube_status_message(res->body) ?: "-") : (res->msg ? res->msg : "-")));
	}
	pending_free(p);
	send_next(r);
}

static void send_next(struct kube_recorder *r)
{
	while (r->head && !r->inflight) {
		struct pending *p = r->head;

		r->inflight = p->patch ? kube_patch(r->c, p->path, KUBE_PATCH_MERGE, p->payload, sent, r)
				       : kube_create(r->c, p->path, p->payload, sent, r);
		if (!r->inflight) {
			r->head = p->next;
			if (!r->head)
				r->tail = NULL;
			r->queued--;
			r->st.failed++;
			pending_free(p);
		}
	}
}

static int enqueue(struct kube_recorder *r, struct pending *p)
{
	if (r->queued >= MAX_QUEUED) {
		r->st.dropped++;
		pending_free(p);
		return 1;
	}
	p->next = NULL;
	if (r->tail)
		r->tail->next = p;
	else
		r->head = p;
	r->tail = p;
	r->queued++;
	send_next(r);
	return 0;
}

static char *key_of(const struct kube_recorder *r, const struct kube_ref *o, const char *type,
		    const char *reason, const char *msg)
{
	char *k = NULL;

	if (asprintf(&k, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", r->component, r->host,
		     o->kind ?: "", o->namespace ?: "", o->name ?: "", o->uid ?: "", o->api_version ?: "",
		     type, reason, msg ? msg : "") < 0)
		return NULL;
	return k;
}

int kube_event(struct kube_recorder *r, const struct kube_ref *o, const char *type,
	       const char *reason, const char *fmt, ...)
{
	char msg[1024], combined[1100], now[32], *key;
	const char *ns = o->namespace && *o->namespace ? o->namespace : "default";
	const char *message = msg;
	struct entry *e;
	bool fresh;
	va_list ap;
	uint64_t t = loop_now_ms();
	uint64_t uid_h = o->uid && *o->uid ? hash_str(o->uid, HASH_SEED) : 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	/* 1. spam filter */
	if (!(key = key_of(r, o, type, reason, msg)) || !(e = lookup(&r->spam, key, &fresh))) {
		free(key);
		return -ENOMEM;
	}
	free(key);
	e->uid_h = uid_h;
	if (fresh) {
		e->tokens = SPAM_BURST;
		e->since_ms = t;
	}
	e->tokens += (double)(t - e->since_ms) / SPAM_REFILL_MS;
	if (e->tokens > SPAM_BURST)
		e->tokens = SPAM_BURST;
	e->since_ms = t;
	if (e->tokens < 1) {
		r->st.dropped++;
		log_v(3, "kube", "event dropped by the spam filter", "reason=%s object=%s", log_q(reason), log_q(o->name));
		return 1;
	}
	e->tokens -= 1;

	/* 2. aggregation by everything but the message */
	if (!(key = key_of(r, o, type, reason, NULL)) || !(e = lookup(&r->agg, key, &fresh))) {
		free(key);
		return -ENOMEM;
	}
	free(key);
	e->uid_h = uid_h;
	if (fresh || t - e->since_ms > AGG_WINDOW_MS) {
		for (size_t i = 0; i < e->n_msgs; i++)
			free(e->msgs[i]);
		e->n_msgs = 0;
		e->since_ms = t;
	}
	bool known = false;
	for (size_t i = 0; i < e->n_msgs; i++)
		known |= !strcmp(e->msgs[i], msg);
	if (!known) {
		if (e->n_msgs < AGG_MAX) {
			char *m = strdup(msg);

			if (!m || vec_grow((void **)&e->msgs, &e->cap_msgs, e->n_msgs + 1, sizeof(*e->msgs))) {
				free(m);
				return -ENOMEM;
			}
			e->msgs[e->n_msgs++] = m;
		} else {
			/* the 11th distinct message and beyond: one combined event */
			snprintf(combined, sizeof(combined), "(combined from similar events): %s", msg);
			message = combined;
			r->st.aggregated++;
		}
	}

	/* 3. deduplication: same event again = a patch of its count. A
	 * combined event is keyed without its message, so the flapping
	 * condition keeps patching one object. */
	key = key_of(r, o, type, reason, message == combined ? "(combined)" : msg);
	if (!key || !(e = lookup(&r->dedup, key, &fresh))) {
		free(key);
		return -ENOMEM;
	}
	free(key);
	e->uid_h = uid_h;
	kube_micro_time(now);
	now[19] = 'Z';	/* Event timestamps are seconds: "2026-11-26T13:20:01Z" */
	now[20] = 0;

	struct json_object *ev = json_object_new_object(), *md, *io, *src;
	struct pending *p = calloc(1, sizeof(*p));
	int rc = 0;

	if (!p || !ev) {
		free(p);
		json_object_put(ev);
		return -ENOMEM;
	}
	if (fresh) {
		char name[300];
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		/* client-go's naming: object name + a hex timestamp */
		snprintf(name, sizeof(name), "%s.%llx", o->name ? o->name : "ferry",
			 (unsigned long long)ts.tv_sec * 1000000000ull + ts.tv_nsec);
		free(e->ev_name);
		free(e->ev_ns);
		free(e->first_ts);
		e->ev_name = strdup(name);
		e->ev_ns = strdup(ns);
		e->first_ts = strdup(now);
		e->count = 0;
		if (!e->ev_name || !e->ev_ns || !e->first_ts) {
			/* retried as fresh next time */
			htab_del(&r->dedup.idx, &e->node);
			entry_clear(e);
			free(p);
			json_object_put(ev);
			return -ENOMEM;
		}
	}
	e->count++;
	md = json_object_new_object();
	io = json_object_new_object();
	src = json_object_new_object();
	if (!md || !io || !src) {
		json_object_put(md);
		json_object_put(io);
		json_object_put(src);
		json_object_put(ev);
		free(p);
		return -ENOMEM;
	}
	json_object_object_add(md, "name", json_object_new_string(e->ev_name ? e->ev_name : "ferry"));
	json_object_object_add(md, "namespace", json_object_new_string(ns));
	if (o->kind)
		json_object_object_add(io, "kind", json_object_new_string(o->kind));
	if (o->api_version)
		json_object_object_add(io, "apiVersion", json_object_new_string(o->api_version));
	if (o->namespace && *o->namespace)
		json_object_object_add(io, "namespace", json_object_new_string(o->namespace));
	if (o->name)
		json_object_object_add(io, "name", json_object_new_string(o->name));
	if (o->uid)
		json_object_object_add(io, "uid", json_object_new_string(o->uid));
	json_object_object_add(src, "component", json_object_new_string(r->component));
	if (*r->host)
		json_object_object_add(src, "host", json_object_new_string(r->host));
	json_object_object_add(ev, "apiVersion", json_object_new_string("v1"));
	json_object_object_add(ev, "kind", json_object_new_string("Event"));
	json_object_object_add(ev, "metadata", md);
	json_object_object_add(ev, "involvedObject", io);
	json_object_object_add(ev, "reason", json_object_new_string(reason));
	json_object_object_add(ev, "message", json_object_new_string(message));
	json_object_object_add(ev, "type", json_object_new_string(type));
	json_object_object_add(ev, "source", src);
	json_object_object_add(ev, "firstTimestamp", json_object_new_string(e->first_ts ? e->first_ts : now));
	json_object_object_add(ev, "lastTimestamp", json_object_new_string(now));
	json_object_object_add(ev, "count", json_object_new_int(e->count));
	json_object_object_add(ev, "reportingComponent", json_object_new_string(r->component));
	json_object_object_add(ev, "reportingInstance", json_object_new_string(*r->host ? r->host : r->component));
	const char *text = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN);

	p->event = text ? strdup(text) : NULL;
	p->ns = strdup(ns);
	json_object_put(ev);
	if (e->count == 1) {
		p->payload = p->event ? strdup(p->event) : NULL;
		if (asprintf(&p->path, "/api/v1/namespaces/%s/events", ns) < 0)
			p->path = NULL;
	} else {
		struct json_object *patch = json_object_new_object();

		text = NULL;
		if (patch) {
			json_object_object_add(patch, "count", json_object_new_int(e->count));
			json_object_object_add(patch, "lastTimestamp", json_object_new_string(now));
			json_object_object_add(patch, "message", json_object_new_string(message));
			text = json_object_to_json_string_ext(patch, JSON_C_TO_STRING_PLAIN);
		}
		p->payload = text ? strdup(text) : NULL;
		json_object_put(patch);
		p->patch = true;
		if (asprintf(&p->path, "/api/v1/namespaces/%s/events/%s", ns, e->ev_name) < 0)
			p->path = NULL;
	}
	if (!p->event || !p->ns || !p->payload || !p->path) {
		pending_free(p);
		return -ENOMEM;
	}
	if (p->patch)
		r->st.patched++;
	else
		r->st.created++;
	rc = enqueue(r, p);
	return rc;
}
