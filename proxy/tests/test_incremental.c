/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A sync of what changed equals a rebuild from the whole cache: random
 * Services and EndpointSlices change a few at a time (a slice may move to
 * another Service; names like "s" and "s-1" whose key ranges interleave);
 * after each step the changed Services are rebuilt with `only`, spliced in
 * with fstate_dropped_keys + fstate_replace_services, exactly as the
 * proxier does (their slices found through the slice index), and compared
 * port by port with proxy_build of everything.
 */
#include "core/test.h"
#include "proxy/proxy.h"
#include "proxy/sliceindex.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OBJS 64

struct objs {
	struct kube_object *v[MAX_OBJS];
	size_t n;
};

static struct objs svcs, slices;
static struct slice_index *IDX;
static unsigned seed = 12345;

static unsigned rnd(unsigned n)
{
	seed = seed * 1103515245 + 12345;
	return (seed >> 16) % n;
}

static void each(const void *cache, int (*fn)(void *, const struct kube_object *), void *arg)
{
	const struct objs *o = cache;
	for (size_t i = 0; i < o->n; i++)
		if (fn(arg, o->v[i]))
			return;
}

static const struct kube_object *get(const void *cache, const char *ns, const char *name)
{
	const struct objs *o = cache;
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->v[i]->namespace, ns) && !strcmp(o->v[i]->name, name))
			return o->v[i];
	return NULL;
}

static struct kube_object *obj(enum kube_kind k, const char *json)
{
	const char *err = NULL;
	struct json_object *j = json_tokener_parse(json);
	struct kube_object *o = j ? kube_object_from_json(k, j, &err) : NULL;

	json_object_put(j);
	if (!o) {
		fprintf(stderr, "bad test object: %s\n", json);
		abort();
	}
	return o;
}

static const char *const namespaces[] = { "a", "b" };
static const char *const names[] = { "s", "s-1", "s-1-x", "s-2", "t", "s.x" };
#define N_NAMES (sizeof(names) / sizeof(names[0]))

/* A random Service `ns/name`: 0-3 ports, sometimes headless or NodePort. */
static struct kube_object *random_service(const char *ns, const char *name)
{
	static const char *const pnames[] = { "", "http", "dns" };
	static const char *const protos[] = { "TCP", "UDP" };
	char buf[4096], ports[1024] = "";
	unsigned np = rnd(4), headless = rnd(8) == 0, np_type = rnd(3) == 0;
	size_t off = 0;

	for (unsigned i = 0; i < np; i++)
		off += snprintf(ports + off, sizeof(ports) - off,
				"%s{\"name\":\"%s\",\"port\":%u,\"protocol\":\"%s\"%s}", i ? "," : "",
				pnames[i], 80 + rnd(3), protos[rnd(2)],
				np_type ? ",\"nodePort\":30080" : "");
	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\",\"uid\":\"u\",\"resourceVersion\":\"%u\"},"
		 "\"spec\":{\"type\":\"%s\",\"clusterIP\":\"%s\",\"clusterIPs\":[\"%s\"],"
		 "\"externalTrafficPolicy\":\"%s\",\"ports\":[%s]}}",
		 ns, name, rnd(1000), np_type ? "NodePort" : "ClusterIP",
		 headless ? "None" : "198.19.0.10", headless ? "None" : "198.19.0.10",
		 rnd(2) ? "Local" : "Cluster", ports);
	return obj(KUBE_SERVICE, buf);
}

/* A random slice `ns/sname` of Service `svc` with 0-3 endpoints. */
static struct kube_object *random_slice(const char *ns, const char *sname, const char *svc)
{
	static const char *const pnames[] = { "", "http", "dns" };
	char buf[4096], eps[2048] = "";
	unsigned ne = rnd(4);
	size_t off = 0;

	for (unsigned i = 0; i < ne; i++)
		off += snprintf(eps + off, sizeof(eps) - off,
				"%s{\"addresses\":[\"198.18.0.%u\"],\"nodeName\":\"node%u\","
				"\"conditions\":{\"ready\":%s}}", i ? "," : "", 1 + rnd(6), 1 + rnd(2),
				rnd(4) ? "true" : "false");
	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\",\"uid\":\"u\",\"resourceVersion\":\"1\","
		 "\"labels\":{\"kubernetes.io/service-name\":\"%s\"}},\"addressType\":\"IPv4\","
		 "\"ports\":[{\"name\":\"%s\",\"port\":%u,\"protocol\":\"%s\"}],\"endpoints\":[%s]}",
		 ns, sname, svc, pnames[rnd(3)], 8080 + rnd(2), rnd(2) ? "TCP" : "UDP", eps);
	return obj(KUBE_ENDPOINTSLICE, buf);
}

struct visit {
	const char *ns;
	int (*fn)(void *, const struct kube_object *);
	void *arg;
};

static void visit_one(void *arg, const char *slice)
{
	struct visit *v = arg;
	const struct kube_object *o = get(&slices, v->ns, slice);

	CHECK(o != NULL);	/* the index names only cached slices */
	if (o)
		v->fn(v->arg, o);
}

static void slices_of(const void *arg, const char *ns, const char *name,
		      int (*fn)(void *, const struct kube_object *), void *fn_arg)
{
	struct visit v = { ns, fn, fn_arg };

	slice_index_foreach(arg, ns, name, visit_one, &v);
}

/* The changed Services, as the agent records them. */
static char *changed[4 * MAX_OBJS];
static size_t n_changed;

static void mark(const struct kube_object *o)
{
	const struct kube_endpointslice *s = kube_endpointslice(o);
	const char *name = s ? s->service_name : o->name;

	if (name && asprintf(&changed[n_changed], "%s/%s", o->namespace, name) > 0)
		n_changed++;
}

/* Replaces (or adds, or with `fresh` NULL deletes) the object ns/name. */
static void put(struct objs *c, const char *ns, const char *name, struct kube_object *fresh)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->v[i]->namespace, ns) || strcmp(c->v[i]->name, name))
			continue;
		mark(c->v[i]);
		if (c == &slices)
			CHECK(slice_index_update(IDX, c->v[i], fresh) == 0);
		kube_object_free(c->v[i]);
		if (fresh)
			c->v[i] = fresh;
		else
			c->v[i] = c->v[--c->n];
		if (fresh)
			mark(fresh);
		return;
	}
	if (fresh && c->n < MAX_OBJS) {
		c->v[c->n++] = fresh;
		mark(fresh);
		if (c == &slices)
			CHECK(slice_index_update(IDX, NULL, fresh) == 0);
	} else {
		kube_object_free(fresh);
	}
}

static void step(void)
{
	for (unsigned k = 1 + rnd(3); k--;) {
		const char *ns = namespaces[rnd(2)];
		char sname[64];

		if (rnd(2)) {
			const char *name = names[rnd(N_NAMES)];
			put(&svcs, ns, name, rnd(5) ? random_service(ns, name) : NULL);
		} else {
			snprintf(sname, sizeof(sname), "slice-%u", rnd(8));
			put(&slices, ns, sname, rnd(5) ? random_slice(ns, sname, names[rnd(N_NAMES)]) : NULL);
		}
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const struct proxy_config cfg = { .node_name = "node1" };

static void check_same(const struct fstate *inc, const struct fstate *full, int round)
{
	bool same = inc->n_svcs == full->n_svcs;

	for (size_t i = 0; same && i < inc->n_svcs; i++)
		same = !strcmp(inc->svcs[i].key, full->svcs[i].key) &&
		       fsvc_equal(&inc->svcs[i], &full->svcs[i]);
	static int reported;
	if (!same && !reported++) {
		fprintf(stderr, "round %d: incremental (%zu ports) != full (%zu ports)\n", round,
			inc->n_svcs, full->n_svcs);
		for (size_t i = 0; i < inc->n_svcs; i++)
			fprintf(stderr, "  inc  %s eps=%zu\n", inc->svcs[i].key, inc->svcs[i].n_eps);
		for (size_t i = 0; i < full->n_svcs; i++)
			fprintf(stderr, "  full %s eps=%zu\n", full->svcs[i].key, full->svcs[i].n_eps);
	}
	CHECK(same);
}

int main(void)
{
	struct proxy_input in = { .foreach = each, .services = &svcs, .slices = &slices, .get = get,
				  .slices_of = slices_of };
	struct fstate applied, want, full, old;
	size_t rounds_with_drops = 0, ports_seen = 0, in_place = 0;

	IDX = slice_index_new();
	in.slices_of_arg = IDX;
	fstate_init(&applied);
	fstate_init(&want);
	fstate_init(&full);
	fstate_init(&old);
	CHECK(proxy_build(&cfg, &in, &applied, NULL) == 0);
	for (int round = 0; round < 2000; round++) {
		const char **gone = NULL;
		size_t n_gone = 0, n = 0;

		n_changed = 0;
		step();
		qsort(changed, n_changed, sizeof(*changed), cmp_str);
		for (size_t i = 0; i < n_changed; i++) {
			if (n && !strcmp(changed[n - 1], changed[i]))
				free(changed[i]);
			else
				changed[n++] = changed[i];
		}
		in.only = (const char *const *)changed;
		in.n_only = n;
		CHECK(proxy_build(&cfg, &in, &want, NULL) == 0);
		CHECK(fstate_dropped_keys(&applied, in.only, n, &want, &gone, &n_gone) == 0);
		/* every dropped key is a port of a changed Service that is not built now */
		for (size_t i = 0; i < n_gone; i++)
			CHECK(!fstate_find(&want, gone[i]));
		rounds_with_drops += n_gone > 0;
		free(gone);
		const struct fsvc *before = applied.svcs;
		CHECK(fstate_replace_services(&applied, in.only, n, &want, &old) == 0);
		in_place += applied.svcs == before && before;
		CHECK(want.n_svcs == 0);

		in.only = NULL;
		in.n_only = 0;
		CHECK(proxy_build(&cfg, &in, &full, NULL) == 0);
		check_same(&applied, &full, round);
		ports_seen += full.n_svcs;
		CHECK_EQ_INT(slice_index_count(IDX), slices.n);
		for (size_t i = 0; i < n; i++)
			free(changed[i]);
		fstate_free(&want);
	}
	/* the walk went through states worth comparing */
	CHECK(rounds_with_drops > 100);
	CHECK(in_place > 100);		/* the swap without a merge */
	CHECK(ports_seen > 2000);
	fstate_free(&applied);
	fstate_free(&full);
	fstate_free(&old);
	slice_index_free(IDX);
	for (size_t i = 0; i < svcs.n; i++)
		kube_object_free(svcs.v[i]);
	for (size_t i = 0; i < slices.n; i++)
		kube_object_free(slices.v[i]);
	return test_done("test_proxy_incremental");
}
