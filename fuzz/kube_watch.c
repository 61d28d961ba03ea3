/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the watch-stream parser and the typed object builder: the input is
 * fed in chunks whose size comes from its first byte, and every event's
 * object is built as each kind. */
#include "kube/objects.h"
#include "kube/watch.h"

#include <stdint.h>
#include <stdlib.h>

static int on_event(void *arg, enum kube_watch_type t, struct json_object *o)
{
	for (int k = 0; k < KUBE_KIND_COUNT; k++) {
		const char *err;
		struct kube_object *obj = kube_object_from_json(k, o, &err);
		char buf[256];

		if (obj) {
			kube_object_summary(obj, buf, sizeof(buf));
			kube_object_free(obj);
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_watch_parser *p;
	size_t chunk;

	if (size < 1)
		return 0;
	chunk = data[0] % 64 + 1;
	data++;
	size--;
	p = kube_watch_parser_new(1 << 20, on_event, NULL);
	for (size_t off = 0; off < size; off += chunk)
		if (kube_watch_feed(p, (const char *)data + off, off + chunk > size ? size - off : chunk) < 0)
			break;
	kube_watch_parser_midway(p);
	kube_watch_parser_free(p);
	return 0;
}
