/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy_service_ours: the agent's informer lists every Service, so the
 * proxier must drop exactly what kube-proxy's Service informer's selector
 * "!service.kubernetes.io/service-proxy-name" does: a Service carrying it
 * (any value) is not built, and one that gains it while served leaves the
 * state on the sync of it. `service.kubernetes.io/headless` filters
 * EndpointSlices only (v1.37.2): on a Service it changes nothing.
 */
#include "core/log.h"
#include "core/test.h"
#include "proxy/proxy.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct kube_object *obj(enum kube_kind k, const char *json)
{
	const char *err = NULL;
	struct json_object *j = json_tokener_parse(json);
	struct kube_object *o = j ? kube_object_from_json(k, j, &err) : NULL;

	json_object_put(j);
	if (!o) {
		fprintf(stderr, "bad test object (%s): %s\n", err ? err : "json", json);
		abort();
	}
	return o;
}

/* A ClusterIP Service default/NAME with `labels` (a JSON object body). */
static struct kube_object *svc(const char *name, const char *labels)
{
	char buf[1024];

	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"namespace\":\"default\",\"name\":\"%s\",\"uid\":\"u-%s\","
		 "\"resourceVersion\":\"1\",\"labels\":{%s}},\"spec\":{\"clusterIP\":\"198.19.0.10\","
		 "\"clusterIPs\":[\"198.19.0.10\"],\"ports\":[{\"port\":80}]}}", name, name, labels);
	return obj(KUBE_SERVICE, buf);
}

static void test_labels(void)
{
	static const struct {
		const char *labels;
		bool ours;
	} rows[] = {
		{ "", true },
		{ "\"app\":\"web\"", true },
		{ "\"service.kubernetes.io/headless\":\"\"", true },
		{ "\"service.kubernetes.io/headless\":\"true\"", true },
		{ "\"service.kubernetes.io/service-proxy-name\":\"other\"", false },
		{ "\"service.kubernetes.io/service-proxy-name\":\"\"", false },
		/* near misses stay ours */
		{ "\"service.kubernetes.io/headless-x\":\"\"", true },
		{ "\"example.com/service.kubernetes.io/service-proxy-name\":\"x\"", true },
		{ "\"service.kubernetes.io/topology-mode\":\"Auto\"", true },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct kube_object *o = svc("s", rows[i].labels);

		if (proxy_service_ours(o) != rows[i].ours)
			fprintf(stderr, "labels {%s}: want ours=%d\n", rows[i].labels, rows[i].ours);
		CHECK(proxy_service_ours(o) == rows[i].ours);
		kube_object_free(o);
	}
	CHECK(!proxy_service_ours(NULL));
	struct kube_object *n = obj(KUBE_NODE, "{\"metadata\":{\"name\":\"node1\",\"uid\":\"n\","
				     "\"resourceVersion\":\"1\"}}");
	CHECK(!proxy_service_ours(n));
	kube_object_free(n);
}

/* the cache: one Service at a time */
static struct kube_object *cached;

static void each(const void *cache, int (*fn)(void *, const struct kube_object *), void *arg)
{
	if (cache == &cached && cached)
		fn(arg, cached);
}

static const struct kube_object *get(const void *cache, const char *ns, const char *name)
{
	return cache == &cached && cached && !strcmp(cached->namespace, ns) &&
	       !strcmp(cached->name, name) ? cached : NULL;
}

static size_t ports_built(bool only)
{
	static const char *const keys[] = { "default/web" };
	struct proxy_config cfg = { .node_name = "node1" };
	struct proxy_input in = { .foreach = each, .services = &cached, .slices = NULL,
				  .get = get, .only = only ? keys : NULL, .n_only = only ? 1 : 0 };
	struct fstate st;
	struct proxy_stats ps;
	size_t n;

	fstate_init(&st);
	CHECK_EQ_INT(proxy_build(&cfg, &in, &st, &ps), 0);
	n = st.n_svcs;
	fstate_free(&st);
	return n;
}

/* an update that adds the label: the sync of that Service (and a full
 * rebuild) no longer holds its port, so the splice drops it */
static void test_gains_label(void)
{
	cached = svc("web", "\"app\":\"web\"");
	CHECK_EQ_INT(ports_built(false), 1);
	CHECK_EQ_INT(ports_built(true), 1);
	kube_object_free(cached);
	cached = svc("web", "\"app\":\"web\",\"service.kubernetes.io/service-proxy-name\":\"other\"");
	CHECK_EQ_INT(ports_built(false), 0);
	CHECK_EQ_INT(ports_built(true), 0);
	kube_object_free(cached);
	/* the headless label on a Service is not kube-proxy's business */
	cached = svc("web", "\"service.kubernetes.io/headless\":\"\"");
	CHECK_EQ_INT(ports_built(false), 1);
	CHECK_EQ_INT(ports_built(true), 1);
	kube_object_free(cached);
	/* and back */
	cached = svc("web", "");
	CHECK_EQ_INT(ports_built(true), 1);
	kube_object_free(cached);
	cached = NULL;
}

int main(void)
{
	log_set_stream(fopen("/dev/null", "w"));
	test_labels();
	test_gains_label();
	return test_done("proxy_ours");
}
