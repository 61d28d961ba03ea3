/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent's parts: every user of the kube caches (the proxier, the
 * LoadBalancer allocator next) is one struct consumer_ops, in the spirit of
 * BIRD's protocol table (nest/proto.c). src/agent.c knows only this table:
 * it starts each consumer in list order, hands every informer event and the
 * "all synced" moment to each, asks each for its /status text, and stops
 * them in reverse order. A consumer filters what it reads itself (the
 * informers watch everything of a kind) and arms its own loop timers.
 *
 * The order of calls, for each consumer:
 *   start -> changed* (the first lists, then watch events) -> synced (once,
 *   when every informer holds a full list) -> changed* -> stop.
 */
#ifndef FERRY_SRC_CONSUMER_H
#define FERRY_SRC_CONSUMER_H

#include "kube/informer.h"
#include "kube/objects.h"

#include <stdbool.h>
#include <stdint.h>

struct httpd;
struct httpd_resp;
struct loop;
struct metrics;

/* What the agent gives every consumer at start; valid until stop. */
struct consumer_env {
	struct loop *loop;
	const char *node_name;
	/* the caches, one per kind (read them, never change them) */
	struct kube_informer *const *inf;	/* [KUBE_KIND_COUNT]; NULL: not watched */
	struct kube_client *kube;		/* for the parts that write */
	/* the agent's /metrics registry: register here, or metrics_include
	 * a registry of your own */
	struct metrics *metrics;
	/* the agent's HTTP servers, NULL when disabled: a consumer may add
	 * routes (the proxier serves /healthz, /livez and /metrics) */
	struct httpd *healthz_httpd, *metrics_httpd;
	/* the agent's own /healthz conditions (API reachable, informers
	 * synced): appends ,"key":value fields, false means unhealthy */
	bool (*healthz_extra)(void *arg, struct httpd_resp *r);
	void *healthz_extra_arg;
};

struct consumer_ops {
	const char *name;		/* for the log: "proxy" */
	/* the caches it reads, bit (1u << kind) each: its synced waits for
	 * these alone, so one part's missing cache never holds up another */
	uint32_t kinds;
	/* Make the consumer; `opts` is the list entry's (the agent's flags
	 * for it). NULL on failure, logged: the agent stops. */
	void *(*start)(const struct consumer_env *env, const void *opts);
	/*
	 * One informer event: an add (old NULL), an update (both), or a
	 * delete (obj NULL, old the last state). Every kind, every object,
	 * also before synced; the caches already hold the change.
	 */
	void (*changed)(void *c, enum kube_kind kind, const struct kube_object *old,
			const struct kube_object *obj);
	/* Every cache holds a full list: act on the world from now on (a
	 * partial view would delete what still serves). Once. */
	void (*synced)(void *c);
	/* Optional: text for people, appended to GET /status. */
	void (*status)(void *c, struct httpd_resp *r);
	/* Undo start (NULL is never passed). */
	void (*stop)(void *c);
};

#endif
