/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Incremental parser of a watch stream: a sequence of JSON event objects
 * {"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": {...}} arriving
 * in arbitrary chunks (one event split over many chunks, many events in one
 * chunk). json-c's tokener keeps the partial state between chunks, so no
 * text is buffered; one event may not exceed `max_event` bytes.
 */
#ifndef FERRY_KUBE_WATCH_H
#define FERRY_KUBE_WATCH_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

enum kube_watch_type {
	KUBE_WATCH_ADDED, KUBE_WATCH_MODIFIED, KUBE_WATCH_DELETED,
	KUBE_WATCH_BOOKMARK, KUBE_WATCH_ERROR,
};

/* `object` is borrowed for the call. Return negative to stop parsing (the
 * value comes back from kube_watch_feed). */
typedef int (*kube_watch_event_fn)(void *arg, enum kube_watch_type type,
				   struct json_object *object);

struct kube_watch_parser;

struct kube_watch_parser *kube_watch_parser_new(size_t max_event, kube_watch_event_fn fn, void *arg);
void kube_watch_parser_free(struct kube_watch_parser *p);
/* Start over (a new stream). */
void kube_watch_parser_reset(struct kube_watch_parser *p);

/* 0, -EBADMSG on malformed JSON or a malformed event (reason in
 * kube_watch_parser_error), -EMSGSIZE when one event is too large, or the
 * callback's negative value. After an error the stream is unusable until
 * reset. */
int kube_watch_feed(struct kube_watch_parser *p, const char *buf, size_t len);
/* The stream ended inside an event (a truncated stream). */
bool kube_watch_parser_midway(const struct kube_watch_parser *p);
const char *kube_watch_parser_error(const struct kube_watch_parser *p);
const char *kube_watch_type_name(enum kube_watch_type t);

#endif
