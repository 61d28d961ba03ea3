/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "kube/write.h"
#include "core/log.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct kube_req *send(struct kube_client *c, const char *method, const char *path,
			     const char *ctype, const char *body, kube_done_fn done, void *arg)
{
	struct kube_req_opts o = {
		.method = method, .content_type = ctype, .body = body, .body_len = body ? strlen(body) : 0,
	};

	return kube_request(c, path, &o, done, arg);
}

struct kube_req *kube_get(struct kube_client *c, const char *path, kube_done_fn done, void *arg)
{
	return send(c, "GET", path, NULL, NULL, done, arg);
}

struct kube_req *kube_create(struct kube_client *c, const char *path, const char *json,
			     kube_done_fn done, void *arg)
{
	return send(c, "POST", path, "application/json", json, done, arg);
}

struct kube_req *kube_put(struct kube_client *c, const char *path, const char *json,
			  kube_done_fn done, void *arg)
{
	return send(c, "PUT", path, "application/json", json, done, arg);
}

struct kube_req *kube_patch(struct kube_client *c, const char *path, enum kube_patch_type t,
			    const char *patch, kube_done_fn done, void *arg)
{
	static const char *const types[] = {
		[KUBE_PATCH_MERGE] = "application/merge-patch+json",
		[KUBE_PATCH_JSON] = "application/json-patch+json",
		[KUBE_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
	};

	return send(c, "PATCH", path, types[t], patch, done, arg);
}

struct kube_req *kube_delete(struct kube_client *c, const char *path, kube_done_fn done, void *arg)
{
	return send(c, "DELETE", path, NULL, NULL, done, arg);
}

struct kube_req *kube_service_set_ingress(struct kube_client *c, const char *ns, const char *name,
					  const char *resource_version, const char *const *ips, size_t n,
					  kube_done_fn done, void *arg)
{
	/* {"metadata":{"resourceVersion":RV},"status":{"loadBalancer":{"ingress":[{"ip":IP}]}}} */
	struct json_object *patch = json_object_new_object(), *st = json_object_new_object(),
			   *lb = json_object_new_object(), *ing = json_object_new_array(), *md = NULL;
	struct kube_req *r = NULL;
	const char *text;
	char *path = NULL;
	bool ok = patch && st && lb && ing;

	for (size_t i = 0; ok && i < n; i++) {
		struct json_object *e = json_object_new_object(), *ip = json_object_new_string(ips[i]);

		ok = e && ip && !json_object_object_add(e, "ip", ip);
		if (!ok) {
			json_object_put(ip);
			json_object_put(e);
		} else if (json_object_array_add(ing, e) < 0) {
			json_object_put(e);
			ok = false;
		}
	}
	if (ok && resource_version) {
		struct json_object *rv = json_object_new_string(resource_version);

		md = json_object_new_object();
		ok = md && rv && !json_object_object_add(md, "resourceVersion", rv);
		if (!ok)
			json_object_put(rv);
		else if (json_object_object_add(patch, "metadata", md) < 0)
			ok = false;
		else
			md = NULL;
	}
	/* each add moves the reference: clear the pointer so cleanup skips it */
	if (ok && !json_object_object_add(lb, "ingress", ing)) {
		ing = NULL;
		if (!json_object_object_add(st, "loadBalancer", lb)) {
			lb = NULL;
			if (!json_object_object_add(patch, "status", st))
				st = NULL;
		}
	}
	ok = ok && !ing && !lb && !st;
	text = ok ? json_object_to_json_string_ext(patch, JSON_C_TO_STRING_PLAIN) : NULL;
	if (text && asprintf(&path, "/api/v1/namespaces/%s/services/%s/status", ns, name) >= 0)
		r = kube_patch(c, path, KUBE_PATCH_MERGE, text, done, arg);
	free(path);
	json_object_put(md);
	json_object_put(ing);
	json_object_put(lb);
	json_object_put(st);
	json_object_put(patch);
	return r;
}

const char *kube_status_message(const char *body)
{
	static char buf[512];
	struct json_object *j = body ? json_tokener_parse(body) : NULL, *m;
	const char *r = NULL;

	if (j && json_object_object_get_ex(j, "message", &m) && json_object_is_type(m, json_type_string)) {
		snprintf(buf, sizeof(buf), "%s", json_object_get_string(m));
		r = buf;
	}
	json_object_put(j);
	return r;
}

/* ---- read-modify-write ---- */

struct kube_update {
	struct kube_client *c;
	char *path, *create_path;
	int tries, max_tries;
	kube_mutate_fn mutate;
	kube_done_fn done;
	void *arg;
	struct kube_req *req;
};

static void update_get(struct kube_update *u);

static void update_end(struct kube_update *u, const struct kube_result *r)
{
	kube_done_fn done = u->done;
	void *arg = u->arg;

	free(u->path);
	free(u->create_path);
	free(u);
	done(arg, r);
}

static void update_written(void *arg, const struct kube_result *r)
{
	struct kube_update *u = arg;

	u->req = NULL;
	if (r->status == 409 && u->tries < u->max_tries) {
		log_v(2, "kube", "write conflict, retrying", "path=%s try=%d", log_q(u->path), u->tries);
		update_get(u);
		return;
	}
	update_end(u, r);
}

static void update_read(void *arg, const struct kube_result *r)
{
	struct kube_update *u = arg;
	struct json_object *cur = NULL;
	char *body;

	u->req = NULL;
	if (r->status == 200) {
		cur = json_tokener_parse(r->body);
		if (!cur) {
			struct kube_result bad = { .err = -EBADMSG, .msg = "unparsable object" };

			update_end(u, &bad);
			return;
		}
	} else if (!(r->status == 404 && u->create_path)) {
		update_end(u, r);
		return;
	}
	body = u->mutate(u->arg, cur);
	json_object_put(cur);
	if (!body) {
		struct kube_result none = { 0 };

		update_end(u, &none);
		return;
	}
	u->req = r->status == 200 ? kube_put(u->c, u->path, body, update_written, u)
				  : kube_create(u->c, u->create_path, body, update_written, u);
	free(body);
	if (!u->req) {
		struct kube_result oom = { .err = -ENOMEM, .msg = "out of memory" };

		update_end(u, &oom);
	}
}

static void update_get(struct kube_update *u)
{
	u->tries++;
	u->req = kube_get(u->c, u->path, update_read, u);
	if (!u->req) {
		struct kube_result oom = { .err = -ENOMEM, .msg = "out of memory" };

		update_end(u, &oom);
	}
}

struct kube_update *kube_update(struct kube_client *c, const char *path, const char *create_path,
				int max_tries, kube_mutate_fn mutate, kube_done_fn done, void *arg)
{
	struct kube_update *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->c = c;
	u->path = strdup(path);
	u->create_path = create_path ? strdup(create_path) : NULL;
	u->max_tries = max_tries > 0 ? max_tries : 5;
	u->mutate = mutate;
	u->done = done;
	u->arg = arg;
	if (!u->path || (create_path && !u->create_path)) {
		free(u->path);
		free(u->create_path);
		free(u);
		return NULL;
	}
	u->tries++;
	u->req = kube_get(c, path, update_read, u);
	if (!u->req) {
		free(u->path);
		free(u->create_path);
		free(u);
		return NULL;
	}
	return u;
}

void kube_update_cancel(struct kube_update *u)
{
	if (!u)
		return;
	kube_request_cancel(u->req);
	free(u->path);
	free(u->create_path);
	free(u);
}
