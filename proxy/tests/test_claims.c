/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/claims.h step by step, as the proxier drives it: a tenant's
 * externalIP on cluster DNS's ClusterIP and port. The loss is told once
 * (not at every resync), a change that frees the address rebuilds the
 * tenant with it, and one that takes it back is told again.
 */
#include "core/test.h"
#include "proxy/claims.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OBJS 8
#include "proxy/tests/objs.h"

static struct objs svcs, slices;

static struct kube_object *service(const char *ns, const char *name, const char *created,
				   const char *cip, const char *ext)
{
	char buf[1024];
	const char *err = NULL;
	struct json_object *j;
	struct kube_object *o;

	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\",\"uid\":\"u\","
		 "\"resourceVersion\":\"1\",\"creationTimestamp\":\"%s\"},"
		 "\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"%s\",\"clusterIPs\":[\"%s\"],"
		 "\"externalIPs\":[%s],\"ports\":[{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"}]}}",
		 ns, name, created, cip, cip, ext);
	j = json_tokener_parse(buf);
	o = j ? kube_object_from_json(KUBE_SERVICE, j, &err) : NULL;
	json_object_put(j);
	if (!o)
		abort();
	return o;
}

static void set(const char *ns, const char *name, struct kube_object *o)
{
	for (size_t i = 0; i < svcs.n; i++)
		if (!strcmp(svcs.v[i]->namespace, ns) && !strcmp(svcs.v[i]->name, name)) {
			kube_object_free(svcs.v[i]);
			if (o)
				svcs.v[i] = o;
			else
				svcs.v[i] = svcs.v[--svcs.n];
			return;
		}
	if (o)
		svcs.v[svcs.n++] = o;
}

static int told;
static char last[256];

static void on_lost(void *arg, const struct claim_loss *l)
{
	char a[64];

	(void)arg;
	told++;
	snprintf(last, sizeof(last), "%s %s %s:%u %s %d", l->svc, l->field,
		 faddr_str(l->addr, a, sizeof(a)), l->port, l->winner, l->winner_cluster);
}

static const struct proxy_config cfg = { .node_name = "node1" };
static struct proxy_input in = { .foreach = each, .services = &svcs, .slices = &slices, .get = get };

/* One sync: `only` NULL for everything. Returns the ports built; *covered
 * says which Services they are. */
static void sync(struct claims *c, const char *only, struct fstate *out, struct claim_set *cov)
{
	const char *list[1] = { only };

	in.only = only ? list : NULL;
	in.n_only = only ? 1 : 0;
	CHECK_EQ_INT(claims_build(c, &cfg, &in, out, NULL, cov, on_lost, NULL), 0);
}

static size_t n_external(const struct fstate *s, const char *key)
{
	const struct fsvc *v = fstate_find(s, key);

	return v ? v->n_external_ips : 99;
}

static void count_lost(void *arg, const struct claim_loss *l)
{
	(void)l;
	++*(int *)arg;
}

int main(void)
{
	struct claims *c = claims_new();
	struct fstate st;
	struct claim_set cov;
	int n = 0;

	fstate_init(&st);
	/* the tenant is older: the ClusterIP still wins */
	set("kube-system", "dns", service("kube-system", "dns", "2026-06-01T00:00:00Z",
					  "198.19.0.10", ""));
	set("t", "evil", service("t", "evil", "2026-01-01T00:00:00Z", "198.19.0.77",
				 "\"198.19.0.10\",\"203.0.113.9\""));
	sync(c, NULL, &st, &cov);
	CHECK_EQ_INT(told, 1);
	CHECK_EQ_STR(last, "t/evil externalIPs 198.19.0.10:53 kube-system/dns 1");
	CHECK_EQ_INT(n_external(&st, "t/evil:dns/udp"), 1);	/* keeps 203.0.113.9 */
	CHECK_EQ_INT((int)claims_conflicts(c), 1);
	claims_lost_of(c, "t/evil", 17, 53, count_lost, &n);
	CHECK_EQ_INT(n, 1);
	claims_lost_of(c, "kube-system/dns", 17, 53, count_lost, &n);
	CHECK_EQ_INT(n, 1);				/* the winner lost nothing */
	claim_set_free(&cov);

	/* the periodic resync and a change of the tenant: told once only */
	sync(c, NULL, &st, &cov);
	claim_set_free(&cov);
	sync(c, "t/evil", &st, &cov);
	CHECK_EQ_INT((int)cov.n, 1);
	CHECK_EQ_INT(n_external(&st, "t/evil:dns/udp"), 1);
	CHECK_EQ_INT(told, 1);
	claim_set_free(&cov);

	/* cluster DNS goes: a sync of that change rebuilds the tenant too */
	set("kube-system", "dns", NULL);
	sync(c, "kube-system/dns", &st, &cov);
	CHECK_EQ_INT((int)cov.n, 2);
	CHECK(cov.n == 2 && !strcmp(cov.v[0], "kube-system/dns") && !strcmp(cov.v[1], "t/evil"));
	CHECK_EQ_INT(n_external(&st, "t/evil:dns/udp"), 2);
	CHECK_EQ_INT((int)claims_conflicts(c), 0);
	claim_set_free(&cov);

	/* and comes back: the tenant loses the address again, told again */
	set("kube-system", "dns", service("kube-system", "dns", "2026-07-01T00:00:00Z",
					  "198.19.0.10", ""));
	sync(c, "kube-system/dns", &st, &cov);
	CHECK_EQ_INT((int)cov.n, 2);
	CHECK_EQ_INT(n_external(&st, "t/evil:dns/udp"), 1);
	CHECK_EQ_INT(told, 2);
	CHECK_EQ_INT((int)claims_conflicts(c), 1);
	claim_set_free(&cov);

	/* an unrelated Service: built alone */
	set("a", "web", service("a", "web", "2026-01-01T00:00:00Z", "198.19.0.20", ""));
	sync(c, "a/web", &st, &cov);
	CHECK_EQ_INT((int)cov.n, 1);
	claim_set_free(&cov);

	fstate_free(&st);
	claims_free(c);
	for (size_t i = 0; i < svcs.n; i++)
		kube_object_free(svcs.v[i]);
	return test_done("test_proxy_claims");
}
