/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/v1 Events, with client-go's correlation so a flapping condition does
 * not flood the API (tools/record/events_cache.go):
 *
 *  - spam filter: per (source, object, type, reason, message) a token
 *    bucket of 25 events refilled at one per 5 minutes; beyond it, events
 *    are dropped;
 *  - aggregation: more than 10 events with the same (source, object, type,
 *    reason) but different messages within 10 minutes become one event
 *    "(combined from similar events): MESSAGE";
 *  - deduplication: an event identical to one recorded before is a PATCH
 *    of that event's count and lastTimestamp, not a new object (if the API
 *    already expired it, it is created again).
 */
#ifndef FERRY_KUBE_EVENTS_H
#define FERRY_KUBE_EVENTS_H

#include "kube/client.h"

struct kube_recorder;

struct kube_ref {
	const char *kind, *api_version, *namespace, *name, *uid;
};

struct kube_recorder *kube_recorder_new(struct kube_client *c, const char *component, const char *host);
void kube_recorder_free(struct kube_recorder *r);

/* type: "Normal" or "Warning". Returns 0 when sent (or a patch is queued),
 * 1 when the spam filter dropped it, negative on error. */
int kube_event(struct kube_recorder *r, const struct kube_ref *obj, const char *type,
	       const char *reason, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

struct kube_recorder_stats {
	unsigned created, patched, dropped, aggregated, failed;
};
void kube_recorder_stats(const struct kube_recorder *r, struct kube_recorder_stats *s);

/* An object with this uid was deleted: every recorder drops the state it
 * kept to correlate the object's events. */
void kube_events_forget(const char *uid);

#endif
