/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "kube/watch.h"
#include "kube/objects.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kube_watch_parser {
	struct json_tokener *tok;
	size_t max_event;
	size_t in_event;	/* bytes fed into the event being parsed */
	bool midway, broken;
	char err[160];
	kube_watch_event_fn fn;
	void *arg;
};

struct kube_watch_parser *kube_watch_parser_new(size_t max_event, kube_watch_event_fn fn, void *arg)
{
	struct kube_watch_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	/* as deep as the API server accepts (objects.h) */
	p->tok = json_tokener_new_ex(KUBE_JSON_DEPTH);
	if (!p->tok) {
		free(p);
		return NULL;
	}
	p->max_event = max_event;
	p->fn = fn;
	p->arg = arg;
	return p;
}

void kube_watch_parser_free(struct kube_watch_parser *p)
{
	if (!p)
		return;
	json_tokener_free(p->tok);
	free(p);
}

void kube_watch_parser_reset(struct kube_watch_parser *p)
{
	json_tokener_reset(p->tok);
	p->in_event = 0;
	p->midway = p->broken = false;
	p->err[0] = 0;
}

static const char *const type_names[] = { "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" };

const char *kube_watch_type_name(enum kube_watch_type t)
{
	return t <= KUBE_WATCH_ERROR ? type_names[t] : "?";
}

static int bad(struct kube_watch_parser *p, int rc, const char *why)
{
	snprintf(p->err, sizeof(p->err), "%s", why);
	p->broken = true;
	return rc;
}

static int deliver(struct kube_watch_parser *p, struct json_object *ev)
{
	struct json_object *t, *o;
	const char *ts;

	if (!json_object_is_type(ev, json_type_object) ||
	    !json_object_object_get_ex(ev, "type", &t) || !json_object_is_type(t, json_type_string) ||
	    !json_object_object_get_ex(ev, "object", &o) || !json_object_is_type(o, json_type_object))
		return bad(p, -EBADMSG, "watch event without type or object");
	ts = json_object_get_string(t);
	for (int i = 0; i <= KUBE_WATCH_ERROR; i++)
		if (!strcmp(ts, type_names[i]))
			return p->fn(p->arg, (enum kube_watch_type)i, o);
	return bad(p, -EBADMSG, "watch event of an unknown type");
}

static bool blank(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

int kube_watch_feed(struct kube_watch_parser *p, const char *buf, size_t len)
{
	size_t off = 0;

	if (p->broken)
		return -EBADMSG;
	while (off < len) {
		struct json_object *ev;
		enum json_tokener_error e;
		size_t used, n;
		int rc;

		/* whitespace between events must not count as a started event */
		if (!p->midway) {
			while (off < len && blank(buf[off]))
				off++;
			if (off == len)
				break;
		}
		n = len - off;
		/* never let one event grow past the bound, even inside a chunk */
		if (p->in_event + n > p->max_event)
			n = p->max_event - p->in_event + 1;
		if (n > INT32_MAX)
			n = INT32_MAX;
		ev = json_tokener_parse_ex(p->tok, buf + off, (int)n);
		e = json_tokener_get_error(p->tok);
		if (e == json_tokener_continue) {
			p->midway = true;
			p->in_event += n;
			off += n;
			if (p->in_event > p->max_event)
				return bad(p, -EMSGSIZE, "watch event larger than the limit");
			continue;
		}
		if (e != json_tokener_success) {
			snprintf(p->err, sizeof(p->err), "malformed JSON in the watch stream: %s",
				 json_tokener_error_desc(e));
			p->broken = true;
			return -EBADMSG;
		}
		used = json_tokener_get_parse_end(p->tok);
		off += used;
		p->in_event = 0;
		p->midway = false;
		json_tokener_reset(p->tok);
		if (!ev)	/* a bare "null": not an event */
			return bad(p, -EBADMSG, "watch event is null");
		rc = deliver(p, ev);
		json_object_put(ev);
		if (rc < 0) {
			p->broken = true;
			if (!p->err[0])
				snprintf(p->err, sizeof(p->err), "stopped by the receiver");
			return rc;
		}
	}
	return 0;
}

bool kube_watch_parser_midway(const struct kube_watch_parser *p) { return p->midway; }
const char *kube_watch_parser_error(const struct kube_watch_parser *p) { return p->err; }
