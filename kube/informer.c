/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Informer state machine, every transition through set_state() so the log
 * (-v 3) reads as a trace:
 *
 *   LISTING --last page--> WATCHING --stream ends--> WATCHING (resume at rv)
 *      ^                      |  410 / ERROR 410 / 3 failed resumes
 *      |                      v
 *      +------ BACKOFF <-- any error
 */
#include "kube/informer.h"
#include "kube/watch.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/loop.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 800
#define BACKOFF_MAX_MS 30000
#define MAX_EVENT (16u << 20)	/* the API server's own object limit is ~1.5 MiB */
#define MAX_RESUME_FAILURES 3
/* a watch that stayed up this long proves the server healthy: only then
 * does the backoff start again from nothing (a server that lists fine and
 * answers every watch 410 would otherwise be relisted in a tight loop) */
#define STABLE_MS 10000

enum state { ST_IDLE, ST_LISTING, ST_WATCHING, ST_BACKOFF };
static const char *const state_names[] = { "idle", "listing", "watching", "backoff" };

struct kube_informer {
	struct kube_client *c;
	enum kube_kind kind;
	char *base;		/* /api/v1/services */
	char *selectors;	/* "&labelSelector=..&fieldSelector=.." or "" */
	unsigned page_size, watch_timeout_s, missing_retry_ms;
	struct kube_handlers h;
	void *arg;

	struct htab cache;	/* of kube_object.hnode, keyed by namespace/name */
	size_t bytes;

	enum state state;
	struct kube_req *req;
	char *rv;
	char *cont;		/* list continue token */
	uint32_t epoch;
	bool synced, relist, stream_events;
	bool missing;		/* the last list got 404 (or a 403 that may be empty) */
	bool forbidden_is_empty;
	bool granted;		/* a list was answered 200 once */
	struct kube_watch_parser *wp;
	struct loop_timer retry;
	unsigned backoff_ms;
	uint64_t watch_start_ms;
	int resume_failures;
	struct kube_informer_stats st;
};

static const char *kname(const struct kube_informer *inf) { return kube_kind_name(inf->kind); }

static void set_state(struct kube_informer *inf, enum state s, const char *why)
{
	if (inf->state != s)
		log_v(3, "kube", "informer state", "kind=%s from=%s to=%s why=%s", kname(inf),
		      state_names[inf->state], state_names[s], log_q(why));
	inf->state = s;
}

/* ---- the cache ---- */

static uint64_t key_hash(const char *ns, const char *name)
{
	return hash_str(name, hash_str("/", hash_str(ns, HASH_SEED)));
}

static struct kube_object *lookup(const struct kube_informer *inf, const char *ns, const char *name)
{
	uint64_t h = key_hash(ns, name);

	for (struct hnode *n = htab_first(&inf->cache, h); n; n = htab_next(n, h)) {
		struct kube_object *o = container_of(n, struct kube_object, hnode);

		if (!strcmp(o->name, name) && !strcmp(o->namespace, ns))
			return o;
	}
	return NULL;
}

const struct kube_object *kube_informer_get(const struct kube_informer *inf, const char *ns,
					    const char *name)
{
	return lookup(inf, ns ? ns : "", name);
}

static void log_change(struct kube_informer *inf, const char *what, const struct kube_object *o)
{
	char sum[256];

	if (log_verbosity() < 2)
		return;
	kube_object_summary(o, sum, sizeof(sum));
	log_v(2, "kube", what, "kind=%s ns=%s name=%s rv=%s %s", kname(inf), log_q(o->namespace),
	      log_q(o->name), o->resource_version ? o->resource_version : "-", sum);
}

/* Insert or replace, telling the owner only about a real change. */
static void upsert(struct kube_informer *inf, struct kube_object *o)
{
	struct kube_object *old = lookup(inf, o->namespace, o->name);

	o->seen = inf->epoch;
	if (!old) {
		if (htab_add(&inf->cache, &o->hnode, key_hash(o->namespace, o->name)) < 0) {
			log_err("kube", "out of memory, object not cached", "kind=%s ns=%s name=%s err=%d",
				kname(inf), log_q(o->namespace), log_q(o->name), -ENOMEM);
			kube_object_free(o);
			return;
		}
		inf->bytes += o->size;
		log_change(inf, "add", o);
		if (inf->h.add)
			inf->h.add(inf->arg, o);
		return;
	}
	htab_del(&inf->cache, &old->hnode);
	/* cannot fail: the table already has its buckets */
	htab_add(&inf->cache, &o->hnode, old->hnode.hash);
	inf->bytes += o->size - old->size;
	if (old->hash != o->hash) {
		log_change(inf, "update", o);
		if (inf->h.update)
			inf->h.update(inf->arg, old, o);
	}
	kube_object_free(old);
}

static void remove_obj(struct kube_informer *inf, struct kube_object *old)
{
	htab_del(&inf->cache, &old->hnode);
	inf->bytes -= old->size;
	log_v(2, "kube", "delete", "kind=%s ns=%s name=%s", kname(inf), log_q(old->namespace),
	      log_q(old->name));
	if (inf->h.del)
		inf->h.del(inf->arg, old);
	kube_object_free(old);
}

/* After a full list: whatever it did not contain is gone. */
static void drop_unseen(struct kube_informer *inf)
{
	HTAB_WALK(&inf->cache, n) {
		struct kube_object *o = container_of(n, struct kube_object, hnode);

		if (o->seen != inf->epoch)
			remove_obj(inf, o);
	}
}

/* ---- list and watch ---- */

static void list_page(struct kube_informer *inf);
static void watch(struct kube_informer *inf);

static void set_rv(struct kube_informer *inf, const char *rv)
{
	if (!rv || !*rv)
		return;
	if (inf->rv && !strcmp(inf->rv, rv))
		return;
	free(inf->rv);
	inf->rv = strdup(rv);
}

static void backoff(struct kube_informer *inf, const char *why)
{
	unsigned d = inf->backoff_ms ? inf->backoff_ms : BACKOFF_MIN_MS;
	/* half fixed, half random: many agents restarted together spread out */
	unsigned delay = d / 2 + (unsigned)(random() % (d + 1));

	inf->backoff_ms = d * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d * 2;
	set_state(inf, ST_BACKOFF, why);
	log_v(1, "kube", "retrying later", "kind=%s in_ms=%u why=%s", kname(inf), delay, log_q(why));
	loop_timer_arm(kube_client_loop(inf->c), &inf->retry, delay);
}

static void start_list(struct kube_informer *inf, const char *why)
{
	inf->epoch++;
	free(inf->cont);
	inf->cont = NULL;
	if (inf->synced && inf->missing) {
		log_v(1, "kube", "listing a resource not served before", "kind=%s", kname(inf));
	} else if (inf->synced) {
		inf->st.relists++;
		log_info("kube", "relisting", "kind=%s why=%s", kname(inf), log_q(why));
	}
	set_state(inf, ST_LISTING, why);
	list_page(inf);
}

static void retry_fire(struct loop_timer *t)
{
	struct kube_informer *inf = t->arg;

	if (inf->relist || !inf->rv || !inf->synced)
		start_list(inf, inf->missing ? "resource not served" :
				inf->relist ? "resource version too old" : "retry");
	else
		watch(inf);
}

/* Status objects carry the reason of a failure; log it. */
static void log_status(struct kube_informer *inf, const char *what, int status, const char *body)
{
	struct json_object *j = body ? json_tokener_parse(body) : NULL, *m;
	const char *msg = j && json_object_object_get_ex(j, "message", &m) ? json_object_get_string(m) : NULL;

	log_warn("kube", what, "kind=%s status=%d message=%s", kname(inf), status,
		 log_q(msg ? msg : "-"));
	json_object_put(j);
}

/* A malformed item of a list must not delete its last good cached copy. */
static void keep_cached(struct kube_informer *inf, struct json_object *item)
{
	struct json_object *md, *nm, *ns = NULL;
	struct kube_object *o;

	if (!json_object_object_get_ex(item, "metadata", &md) ||
	    !json_object_object_get_ex(md, "name", &nm) || !json_object_is_type(nm, json_type_string))
		return;
	json_object_object_get_ex(md, "namespace", &ns);
	o = lookup(inf, ns && json_object_is_type(ns, json_type_string) ? json_object_get_string(ns) : "",
		   json_object_get_string(nm));
	if (o)
		o->seen = inf->epoch;
}

static void report_synced(struct kube_informer *inf)
{
	if (inf->synced)
		return;
	inf->synced = true;
	log_info("kube", "informer synced", "kind=%s objects=%zu", kname(inf), inf->cache.count);
	if (inf->h.synced)
		inf->h.synced(inf->arg);
}

/*
 * 404 on a list: the resource is not served (a CRD not installed, or
 * removed). It counts as an empty, synced list (cached objects are deleted),
 * so an agent waiting for every informer still starts; logged once per
 * disappearance, then listed again every BACKOFF_MAX_MS until it appears.
 */
static void missing_resource(struct kube_informer *inf, int status)
{
	if (!inf->missing)
		log_warn("kube", status == 403 ? "resource not granted, treating it as empty" :
			 "resource not served, treating it as empty", "kind=%s path=%s status=%d retry_ms=%u",
			 kname(inf), inf->base, status, inf->missing_retry_ms);
	inf->missing = true;
	inf->st.missing++;
	free(inf->cont);
	inf->cont = NULL;
	free(inf->rv);
	inf->rv = NULL;
	drop_unseen(inf);	/* nothing was seen in this epoch */
	report_synced(inf);
	inf->relist = true;
	inf->backoff_ms = 0;	/* a plain retry period, no jitter needed: one list */
	set_state(inf, ST_BACKOFF, "resource not served");
	loop_timer_arm(kube_client_loop(inf->c), &inf->retry, inf->missing_retry_ms);
}

static void list_done(void *arg, const struct kube_result *r)
{
	struct kube_informer *inf = arg;
	struct json_object *j, *items, *md, *v;
	size_t n, bad = 0;

	inf->req = NULL;
	if (r->status == 410 && inf->cont) {
		/* the continue token expired: a fresh list (same epoch would be
		 * fine too; a new one is simpler to reason about) */
		start_list(inf, "list continue token expired");
		return;
	}
	/* 403 reads as empty only while the grant has never been seen: once a
	 * list succeeded, a 403 is an apiserver whose authorizer is not ready
	 * yet (a restart answers 403 to everyone for a moment) or a grant
	 * being changed; dropping the cache then would withdraw every address
	 * of the configuration. Keep it and retry as for any failed list. */
	if (r->status == 404 || (r->status == 403 && inf->forbidden_is_empty && !inf->granted)) {
		missing_resource(inf, r->status);
		return;
	}
	if (r->status != 200) {
		if (r->status)
			log_status(inf, "list failed", r->status, r->body);
		else
			log_warn("kube", "list failed", "kind=%s err=%s", kname(inf), log_q(r->msg ? r->msg : "?"));
		inf->relist = true;
		backoff(inf, "list failed");
		return;
	}
	j = kube_json_parse(r->body, r->len);
	if (!j || !json_object_object_get_ex(j, "items", &items) ||
	    !json_object_is_type(items, json_type_array)) {
		log_warn("kube", "list answer is not a list, keeping the cache", "kind=%s bytes=%zu",
			 kname(inf), r->len);
		json_object_put(j);
		inf->relist = true;
		backoff(inf, "malformed list");
		return;
	}
	n = json_object_array_length(items);
	for (size_t i = 0; i < n; i++) {
		const char *err;
		struct kube_object *o = kube_object_from_json(inf->kind, json_object_array_get_idx(items, i), &err);

		if (!o) {
			bad++;
			keep_cached(inf, json_object_array_get_idx(items, i));
			continue;
		}
		upsert(inf, o);
	}
	if (bad) {
		inf->st.bad_objects += bad;
		log_warn("kube", "skipped malformed objects in a list", "kind=%s count=%zu", kname(inf), bad);
	}
	inf->st.lists++;
	md = NULL;
	json_object_object_get_ex(j, "metadata", &md);
	free(inf->cont);
	inf->cont = NULL;
	if (md && json_object_object_get_ex(md, "continue", &v) && json_object_is_type(v, json_type_string) &&
	    *json_object_get_string(v) && !(inf->cont = strdup(json_object_get_string(v)))) {
		/* ending here would delete every object of the pages not read */
		json_object_put(j);
		inf->relist = true;
		backoff(inf, "out of memory");
		return;
	}
	if (md && json_object_object_get_ex(md, "resourceVersion", &v) && json_object_is_type(v, json_type_string))
		set_rv(inf, json_object_get_string(v));
	json_object_put(j);
	if (inf->cont) {
		list_page(inf);
		return;
	}
	drop_unseen(inf);
	inf->relist = false;
	inf->resume_failures = 0;
	if (inf->missing)
		log_info("kube", "resource served again", "kind=%s path=%s", kname(inf), inf->base);
	inf->missing = false;
	inf->granted = true;
	log_v(1, "kube", "listed", "kind=%s objects=%zu rv=%s", kname(inf), inf->cache.count, inf->rv ? inf->rv : "-");
	report_synced(inf);
	watch(inf);
}

static void list_page(struct kube_informer *inf)
{
	char *path = NULL, *cont = inf->cont ? kube_escape(inf->cont) : NULL;

	if (asprintf(&path, "%s?limit=%u%s%s%s", inf->base, inf->page_size, inf->selectors,
		     cont ? "&continue=" : "", cont ? cont : "") < 0)
		path = NULL;
	free(cont);
	/* the pages of one list pay the rate limiter once */
	inf->req = path ? kube_request(inf->c, path, &(struct kube_req_opts){ .no_rate_limit = inf->cont != NULL },
				       list_done, inf) : NULL;
	free(path);
	if (!inf->req)
		backoff(inf, "out of memory");
}

static int on_event(void *arg, enum kube_watch_type type, struct json_object *obj)
{
	struct kube_informer *inf = arg;
	struct json_object *md = NULL, *v;
	const char *err, *rv = NULL;

	inf->stream_events = true;
	if (json_object_object_get_ex(obj, "metadata", &md) &&
	    json_object_object_get_ex(md, "resourceVersion", &v) && json_object_is_type(v, json_type_string))
		rv = json_object_get_string(v);
	switch (type) {
	case KUBE_WATCH_ADDED:
	case KUBE_WATCH_MODIFIED: {
		struct kube_object *o = kube_object_from_json(inf->kind, obj, &err);

		if (!o) {
			inf->st.bad_objects++;
			log_warn("kube", "skipped a malformed object", "kind=%s event=%s err=%s", kname(inf),
				 kube_watch_type_name(type), log_q(err));
		} else {
			upsert(inf, o);
		}
		break;
	}
	case KUBE_WATCH_DELETED: {
		struct json_object *nm = NULL, *ns = NULL;
		struct kube_object *o;

		json_object_object_get_ex(md, "name", &nm);
		json_object_object_get_ex(md, "namespace", &ns);
		if (!nm || !json_object_is_type(nm, json_type_string)) {
			inf->st.bad_objects++;
			log_warn("kube", "skipped a malformed delete", "kind=%s", kname(inf));
			break;
		}
		o = lookup(inf, ns && json_object_is_type(ns, json_type_string) ? json_object_get_string(ns) : "",
			   json_object_get_string(nm));
		if (o)
			remove_obj(inf, o);
		break;
	}
	case KUBE_WATCH_BOOKMARK:
		log_v(4, "kube", "bookmark", "kind=%s rv=%s", kname(inf), rv ? rv : "-");
		break;
	case KUBE_WATCH_ERROR: {
		struct json_object *code = NULL, *msg = NULL;
		int c;

		json_object_object_get_ex(obj, "code", &code);
		json_object_object_get_ex(obj, "message", &msg);
		c = code ? json_object_get_int(code) : 0;
		log_warn("kube", "watch error event", "kind=%s code=%d message=%s", kname(inf), c,
			 log_q(msg ? json_object_get_string(msg) : "-"));
		if (c == 410) {
			inf->st.gone++;
			inf->relist = true;
		}
		return -EPROTO;	/* the server ends the watch after an ERROR anyway */
	}
	}
	set_rv(inf, rv);
	return 0;
}

static int on_watch_data(void *arg, const char *buf, size_t len)
{
	struct kube_informer *inf = arg;
	int rc = kube_watch_feed(inf->wp, buf, len);

	if (rc < 0 && rc != -EPROTO)
		log_warn("kube", "bad watch stream, resuming", "kind=%s err=%s", kname(inf),
			 log_q(kube_watch_parser_error(inf->wp)));
	return rc;
}

static void watch_done(void *arg, const struct kube_result *r)
{
	struct kube_informer *inf = arg;
	bool midway = kube_watch_parser_midway(inf->wp);

	inf->req = NULL;
	if (loop_now_ms() - inf->watch_start_ms >= STABLE_MS)
		inf->backoff_ms = 0;
	if (r->status == 410 || inf->relist) {
		inf->st.gone += r->status == 410;
		inf->relist = true;
		if (inf->backoff_ms == 0) {
			/* the expected way out of a compacted history: at once */
			start_list(inf, "resource version too old");
			inf->backoff_ms = BACKOFF_MIN_MS;
		} else {
			backoff(inf, "resource version too old");
		}
		return;
	}
	if (r->status == 200 && !r->err && !midway) {
		/* the server's timeoutSeconds: the normal end of a watch */
		log_v(3, "kube", "watch ended, resuming", "kind=%s rv=%s", kname(inf), inf->rv ? inf->rv : "-");
		inf->resume_failures = 0;
		watch(inf);
		return;
	}
	inf->st.watch_errors++;
	if (r->status && r->status != 200)
		log_status(inf, "watch failed", r->status, r->body);
	else
		log_warn("kube", midway ? "watch stream truncated" : "watch stream broken",
			 "kind=%s err=%s rv=%s", kname(inf), log_q(r->msg ? r->msg : "eof"),
			 inf->rv ? inf->rv : "-");
	if (inf->stream_events) {
		/* it worked for a while: resume quickly */
		inf->backoff_ms = 0;
		inf->resume_failures = 0;
	}
	if (++inf->resume_failures >= MAX_RESUME_FAILURES)
		inf->relist = true;
	backoff(inf, "watch failed");
}

static void watch(struct kube_informer *inf)
{
	struct kube_req_opts o = { .data = on_watch_data, .no_rate_limit = true };
	unsigned timeout = inf->watch_timeout_s ? inf->watch_timeout_s : 300 + (unsigned)(random() % 300);
	char *path = NULL;

	kube_watch_parser_reset(inf->wp);
	inf->stream_events = false;
	inf->watch_start_ms = loop_now_ms();
	/* a silent dead stream ends at the latest a minute after the server's own timeout */
	o.timeout_ms = (long)(timeout + 60) * 1000;
	if (asprintf(&path, "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u%s",
		     inf->base, inf->rv ? inf->rv : "", timeout, inf->selectors) < 0)
		path = NULL;
	inf->req = path ? kube_request(inf->c, path, &o, watch_done, inf) : NULL;
	free(path);
	if (!inf->req) {
		backoff(inf, "out of memory");
		return;
	}
	inf->st.watches++;
	set_state(inf, ST_WATCHING, "listed or resumed");
}

/* ---- life cycle ---- */

struct kube_informer *kube_informer_new(struct kube_client *c, enum kube_kind kind,
					const struct kube_informer_opts *o,
					const struct kube_handlers *h, void *arg)
{
	struct kube_informer *inf;
	char *ls = NULL, *fs = NULL;

	if (kind >= KUBE_KIND_COUNT || !(inf = calloc(1, sizeof(*inf))))
		return NULL;
	inf->c = c;
	inf->kind = kind;
	inf->base = kube_kind_path(kind, o ? o->namespace : NULL);
	if (o && o->label_selector && *o->label_selector)
		ls = kube_escape(o->label_selector);
	if (o && o->field_selector && *o->field_selector)
		fs = kube_escape(o->field_selector);
	if (asprintf(&inf->selectors, "%s%s%s%s", ls ? "&labelSelector=" : "", ls ? ls : "",
		     fs ? "&fieldSelector=" : "", fs ? fs : "") < 0)
		inf->selectors = NULL;
	free(ls);
	free(fs);
	inf->page_size = o && o->page_size ? o->page_size : 100;
	inf->watch_timeout_s = o ? o->watch_timeout_s : 0;
	inf->missing_retry_ms = o && o->missing_retry_ms ? o->missing_retry_ms : BACKOFF_MAX_MS;
	inf->forbidden_is_empty = o && o->forbidden_is_empty;
	if (h)
		inf->h = *h;
	inf->arg = arg;
	inf->wp = kube_watch_parser_new(MAX_EVENT, on_event, inf);
	loop_timer_init(&inf->retry, retry_fire, inf);
	if (!inf->base || !inf->selectors || !inf->wp) {
		kube_informer_free(inf);
		return NULL;
	}
	return inf;
}

int kube_informer_start(struct kube_informer *inf)
{
	if (inf->state != ST_IDLE)
		return -EALREADY;
	start_list(inf, "start");
	return 0;
}

void kube_informer_free(struct kube_informer *inf)
{
	if (!inf)
		return;
	kube_request_cancel(inf->req);
	loop_timer_cancel(kube_client_loop(inf->c), &inf->retry);
	HTAB_WALK(&inf->cache, n)
		kube_object_free(container_of(n, struct kube_object, hnode));
	htab_free(&inf->cache);
	kube_watch_parser_free(inf->wp);
	free(inf->base);
	free(inf->selectors);
	free(inf->rv);
	free(inf->cont);
	free(inf);
}

bool kube_informer_synced(const struct kube_informer *inf) { return inf->synced; }
size_t kube_informer_count(const struct kube_informer *inf) { return inf->cache.count; }
size_t kube_informer_bytes(const struct kube_informer *inf) { return inf->bytes; }
const char *kube_informer_resource_version(const struct kube_informer *inf) { return inf->rv; }

void kube_informer_foreach(const struct kube_informer *inf,
			   int (*fn)(void *arg, const struct kube_object *o), void *arg)
{
	HTAB_WALK(&inf->cache, n)
		if (fn(arg, container_of(n, struct kube_object, hnode)))
			return;
}

void kube_informer_stats(const struct kube_informer *inf, struct kube_informer_stats *s)
{
	*s = inf->st;
}
