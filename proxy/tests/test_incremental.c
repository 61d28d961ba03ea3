/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A sync of what changed equals a rebuild from the whole cache: random
 * Services and EndpointSlices change a few at a time (a slice may move to
 * another Service; names like "s" and "s-1" whose key ranges interleave);
 * after each step the changed Services are rebuilt with `only`, spliced in
 * with fstate_dropped_keys + fstate_replace_services, exactly as the
 * proxier does (their slices found through the slice index), and compared
 * port by port with proxy_build of everything.
 *
 * Services share a few ClusterIPs, externalIPs and LoadBalancer IPs, with a
 * few creation times, so addresses have several claimants (proxy/claims.h):
 * the index kept across the change syncs must give what a fresh one gives
 * after a rebuild of everything (an agent restart).
 */
#include "core/test.h"
#include "proxy/claims.h"
#include "proxy/proxy.h"
#include "proxy/sliceindex.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OBJS 64

#include "proxy/tests/objs.h"

static struct objs svcs, slices;
static struct slice_index *IDX;
static unsigned seed = 12345;

static unsigned rnd(unsigned n)
{
	seed = seed * 1103515245 + 12345;
	return (seed >> 16) % n;
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

/* A random Service `ns/name`: 0-3 ports, sometimes headless, NodePort or
 * LoadBalancer; its addresses from small pools, so that they collide. */
static struct kube_object *random_service(const char *ns, const char *name)
{
	static const char *const pnames[] = { "", "http", "dns" };
	static const char *const protos[] = { "TCP", "UDP" };
	static const char *const cips[] = { "198.19.0.10", "198.19.0.11", "198.19.0.12" };
	static const char *const eips[] = { "198.19.0.10", "198.19.0.11", "203.0.113.1",
					    "203.0.113.2" };
	static const char *const created[] = {
		"", ",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"",
		",\"creationTimestamp\":\"2026-01-01T00:00:01Z\"",
		",\"creationTimestamp\":\"2026-02-01T00:00:00Z\"",
	};
	char buf[4096], ports[1024] = "", ext[256] = "", status[256] = "";
	unsigned np = rnd(4), headless = rnd(8) == 0, kind = rnd(6), ne = rnd(4) ? 0 : 1 + rnd(2);
	bool np_type = kind < 2, lb = kind == 0;
	const char *cip = headless ? "None" : cips[rnd(3)];
	size_t off = 0;

	for (unsigned i = 0; i < np; i++)
		off += snprintf(ports + off, sizeof(ports) - off,
				"%s{\"name\":\"%s\",\"port\":%u,\"protocol\":\"%s\"%s}", i ? "," : "",
				pnames[i], 80 + rnd(3), protos[rnd(2)],
				np_type ? ",\"nodePort\":30080" : "");
	off = 0;
	for (unsigned i = 0; i < ne; i++)
		off += snprintf(ext + off, sizeof(ext) - off, "%s\"%s\"", i ? "," : "", eips[rnd(4)]);
	if (lb && rnd(2))
		snprintf(status, sizeof(status), ",\"status\":{\"loadBalancer\":{\"ingress\":"
			 "[{\"ip\":\"%s\"}]}}", eips[rnd(4)]);
	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\",\"uid\":\"u\",\"resourceVersion\":\"%u\"%s},"
		 "\"spec\":{\"type\":\"%s\",\"clusterIP\":\"%s\",\"clusterIPs\":[\"%s\"],"
		 "\"externalIPs\":[%s],\"externalTrafficPolicy\":\"%s\",\"ports\":[%s]}%s}",
		 ns, name, rnd(1000), created[rnd(4)],
		 lb ? "LoadBalancer" : np_type ? "NodePort" : "ClusterIP", cip, cip, ext,
		 rnd(2) ? "Local" : "Cluster", ports, status);
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

static size_t losses;

static void on_lost(void *arg, const struct claim_loss *l)
{
	(void)arg;
	CHECK(strcmp(l->svc, l->winner) != 0);
	losses++;
}

/* A rebuild of everything, with the agent's own index or a fresh one. */
static void build_all(struct proxy_input *in, struct claims *c, struct fstate *out)
{
	struct claim_set covered;

	in->only = NULL;
	in->n_only = 0;
	CHECK(claims_build(c, &cfg, in, out, NULL, &covered, NULL, NULL) == 0);
	CHECK(covered.n == 0);
	claim_set_free(&covered);
}

int main(void)
{
	struct proxy_input in = { .foreach = each, .services = &svcs, .slices = &slices, .get = get,
				  .slices_of = slices_of };
	struct fstate applied, want, full, old;
	size_t rounds_with_drops = 0, ports_seen = 0, in_place = 0, conflicts = 0, widened = 0;
	struct claims *claims = claims_new();

	IDX = slice_index_new();
	in.slices_of_arg = IDX;
	fstate_init(&applied);
	fstate_init(&want);
	fstate_init(&full);
	fstate_init(&old);
	build_all(&in, claims, &applied);
	for (int round = 0; round < 2000; round++) {
		const char **gone = NULL;
		size_t n_gone = 0, n = 0;
		struct claim_set covered;

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
		CHECK(claims_build(claims, &cfg, &in, &want, NULL, &covered, on_lost, NULL) == 0);
		widened += covered.n > n;
		CHECK(fstate_dropped_keys(&applied, covered.v, covered.n, &want, &gone, &n_gone) == 0);
		/* every dropped key is a port of a changed Service that is not built now */
		for (size_t i = 0; i < n_gone; i++)
			CHECK(!fstate_find(&want, gone[i]));
		rounds_with_drops += n_gone > 0;
		free(gone);
		const struct fsvc *before = applied.svcs;
		CHECK(fstate_replace_services(&applied, covered.v, covered.n, &want, &old) == 0);
		in_place += applied.svcs == before && before;
		CHECK(want.n_svcs == 0);
		claim_set_free(&covered);

		/* an agent restart: everything, with an index built from nothing */
		struct claims *fresh = claims_new();
		build_all(&in, fresh, &full);
		check_same(&applied, &full, round);
		CHECK_EQ_INT(claims_conflicts(claims), claims_conflicts(fresh));
		conflicts += claims_conflicts(fresh);
		claims_free(fresh);
		if (round % 97 == 0) {
			/* the periodic resync: everything, with the kept index */
			build_all(&in, claims, &full);
			check_same(&applied, &full, round);
		}
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
	CHECK(conflicts > 2000);	/* addresses with several claimants */
	CHECK(widened > 50);		/* a change moved another Service's winning */
	CHECK(losses > 100);
	fprintf(stderr, "conflicts=%zu widened=%zu losses=%zu\n", conflicts, widened, losses);
	claims_free(claims);
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
