/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy_build as a table: each directory of tests/cases holds input.json
 * (the proxy configuration and API objects as the apiserver sends them:
 * "config", "node", "services", "endpointSlices") and expected.json (what
 * the build saw, and the state as `ferry dump` prints it). Any difference
 * fails. After an intended change, regenerate and review the diff:
 *
 *   FERRY_REGEN=1 build/proxy/test_proxy_build proxy/tests/cases
 */
#include "core/file.h"
#include "core/log.h"
#include "core/test.h"
#include "proxy/claims.h"
#include "proxy/proxy.h"

#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OBJS 64
#define MAX_LIST 8

#include "proxy/tests/objs.h"

/* What the owners of Services are told (Events), one line each. */
static void on_problem(void *arg, const struct kube_object *o, const char *reason, const char *msg)
{
	char line[512];

	snprintf(line, sizeof(line), "%s/%s %s: %s", o->namespace, o->name, reason, msg);
	json_object_array_add(arg, json_object_new_string(line));
}

static void on_lost(void *arg, const struct claim_loss *l)
{
	char line[512], a[64];

	snprintf(line, sizeof(line), "%s %s %s:%u/%s lost to %s (%s)", l->svc, l->field,
		 faddr_str(l->addr, a, sizeof(a)), l->port, fproto_name(l->proto), l->winner,
		 l->winner_cluster ? "its ClusterIP" : "older");
	json_object_array_add(arg, json_object_new_string(line));
}

static struct kube_object *obj(enum kube_kind k, json_object *j, const char *where)
{
	const char *err = NULL;
	struct kube_object *o = kube_object_from_json(k, j, &err);

	if (!o)
		fprintf(stderr, "%s: object rejected: %s\n", where, err ? err : "?");
	return o;
}

/* `key` of `cfg`, an array of strings, into out[] (at most MAX_LIST). */
static size_t strings(json_object *cfg, const char *key, const char **out)
{
	json_object *a;
	size_t n = 0;

	if (!json_object_object_get_ex(cfg, key, &a))
		return 0;
	for (size_t i = 0; i < json_object_array_length(a) && n < MAX_LIST; i++)
		out[n++] = json_object_get_string(json_object_array_get_idx(a, i));
	return n;
}

static int load(json_object *in, const char *key, enum kube_kind k, struct objs *out,
		const char *where)
{
	json_object *a;

	if (!json_object_object_get_ex(in, key, &a))
		return 0;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		if (out->n == MAX_OBJS)
			return -1;
		if (!(out->v[out->n] = obj(k, json_object_array_get_idx(a, i), where)))
			return -1;
		out->n++;
	}
	return 0;
}

/* What the build of one case gives, as text; NULL when it cannot run. */
static char *run(const char *dir)
{
	char path[4096 + 16], *text, *dump, *out = NULL;
	size_t len;
	struct objs svcs = { 0 }, slices = { 0 }, scidrs = { 0 };
	struct kube_object *node = NULL;
	const char *np[MAX_LIST], *cc[MAX_LIST], *sc[MAX_LIST];
	struct proxy_config cfg = { 0 };
	struct proxy_input pin = { .foreach = each, .services = &svcs, .slices = &slices,
				   .service_cidrs = &scidrs, .get = get, .problem = on_problem };
	json_object *problems = json_object_new_array(), *losses = json_object_new_array();
	struct claims *claims = claims_new();
	struct claim_set covered;
	struct proxy_stats ps;
	struct fstate st;
	json_object *in, *c, *j, *res;

	snprintf(path, sizeof(path), "%s/input.json", dir);
	if (file_read(path, 1 << 20, &text, &len) < 0) {
		fprintf(stderr, "%s: cannot read\n", path);
		return NULL;
	}
	in = json_tokener_parse(text);
	free(text);
	if (!in) {
		fprintf(stderr, "%s: not JSON\n", path);
		return NULL;
	}
	if (json_object_object_get_ex(in, "config", &c)) {
		if (json_object_object_get_ex(c, "nodeName", &j))
			cfg.node_name = json_object_get_string(j);
		cfg.n_nodeport_addresses = strings(c, "nodePortAddresses", np);
		cfg.nodeport_addresses = np;
		cfg.n_cluster_cidrs = strings(c, "clusterCIDRs", cc);
		cfg.cluster_cidrs = cc;
		if (json_object_object_get_ex(c, "detectLocalMode", &j))
			cfg.local_mode = proxy_local_mode_parse(json_object_get_string(j));
		CHECK((int)cfg.local_mode >= 0);
		if (json_object_object_get_ex(c, "localInterface", &j))
			cfg.local_iface = json_object_get_string(j);
		cfg.masquerade_all = json_object_object_get_ex(c, "masqueradeAll", &j) &&
				     json_object_get_boolean(j);
		cfg.n_service_cidrs = strings(c, "serviceCIDRs", sc);
		cfg.service_cidrs = sc;
		if (json_object_object_get_ex(c, "masqueradeBit", &j))
			cfg.masq_mark = 1u << json_object_get_int(j);
	}
	fstate_init(&st);
	if ((json_object_object_get_ex(in, "node", &j) && !(node = obj(KUBE_NODE, j, path))) ||
	    load(in, "services", KUBE_SERVICE, &svcs, path) < 0 ||
	    load(in, "endpointSlices", KUBE_ENDPOINTSLICE, &slices, path) < 0 ||
	    load(in, "serviceCIDRs", KUBE_SERVICECIDR, &scidrs, path) < 0)
		goto out;
	pin.node = kube_node(node);
	pin.problem_arg = problems;
	/* as an agent after a restart: the claims from a fresh index */
	CHECK_EQ_INT(claims_build(claims, &cfg, &pin, &st, &ps, &covered, on_lost, losses), 0);
	claim_set_free(&covered);
	CHECK_EQ_INT(fstate_check(&st), 0);
	if (!(dump = fstate_to_json(&st)))
		goto out;
	res = json_object_new_object();
	c = json_object_new_object();
	json_object_object_add(c, "services", json_object_new_int64(ps.services));
	json_object_object_add(c, "servicePorts", json_object_new_int64(ps.service_ports));
	json_object_object_add(c, "endpoints", json_object_new_int64(ps.endpoints));
	json_object_object_add(c, "skippedServices", json_object_new_int64(ps.skipped_services));
	if (ps.over_budget)
		json_object_object_add(c, "overBudget", json_object_new_int64(ps.over_budget));
	if (claims_conflicts(claims))
		json_object_object_add(c, "claimConflicts",
				       json_object_new_int64((int64_t)claims_conflicts(claims)));
	json_object_object_add(res, "stats", c);
	if (json_object_array_length(problems))
		json_object_object_add(res, "events", json_object_get(problems));
	if (json_object_array_length(losses))
		json_object_object_add(res, "claimsLost", json_object_get(losses));
	json_object_object_add(res, "state", json_tokener_parse(dump));
	free(dump);
	out = strdup(json_object_to_json_string_ext(res, JSON_C_TO_STRING_PRETTY |
						    JSON_C_TO_STRING_SPACED |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(res);
out:
	json_object_put(problems);
	json_object_put(losses);
	claims_free(claims);
	fstate_free(&st);
	for (size_t i = 0; i < svcs.n; i++)
		kube_object_free(svcs.v[i]);
	for (size_t i = 0; i < slices.n; i++)
		kube_object_free(slices.v[i]);
	for (size_t i = 0; i < scidrs.n; i++)
		kube_object_free(scidrs.v[i]);
	kube_object_free(node);
	json_object_put(in);
	return out;
}

/* Says where got and want part, line by line. */
static void show_difference(const char *name, const char *got, const char *want)
{
	const char *g = got, *w = want;
	int line = 1;

	for (; *g && *g == *w; g++, w++)
		if (*g == '\n') {
			line++;
			got = g + 1;
			want = w + 1;
		}
	fprintf(stderr, "case %s: differs from expected.json at line %d:\n  got:  %.*s\n  want: %.*s\n"
		"(intended? FERRY_REGEN=1 test_proxy_build <source>/proxy/tests/cases, review the diff)\n",
		name, line, (int)strcspn(got, "\n"), got, (int)strcspn(want, "\n"), want);
}

static void test_case(const char *cases, const char *name, bool regen)
{
	char dir[2048], path[2048 + 16], *got, *want = NULL;
	size_t len;

	snprintf(dir, sizeof(dir), "%s/%s", cases, name);
	snprintf(path, sizeof(path), "%s/expected.json", dir);
	got = run(dir);
	CHECK(got != NULL);
	if (!got)
		return;
	if (regen) {
		FILE *f = fopen(path, "w");

		CHECK(f && fprintf(f, "%s\n", got) > 0);
		if (f)
			fclose(f);
		fprintf(stderr, "wrote %s\n", path);
	} else if (file_read(path, 1 << 20, &want, &len) < 0) {
		fprintf(stderr, "case %s: no expected.json\n", name);
		CHECK(0);
	} else {
		if (len && want[len - 1] == '\n')
			want[len - 1] = 0;
		if (strcmp(got, want))
			show_difference(name, got, want);
		CHECK(!strcmp(got, want));
	}
	free(want);
	free(got);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every case directory, in name order. */
static void test_cases(const char *cases)
{
	const char *regen = getenv("FERRY_REGEN");
	DIR *d = opendir(cases);
	struct dirent *e;
	char *names[256];
	size_t n = 0;

	CHECK(d != NULL);
	if (!d)
		return;
	while ((e = readdir(d)) && n < 256)
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	closedir(d);
	CHECK(n > 0);	/* an empty table proves nothing */
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		test_case(cases, names[i], regen && *regen == '1');
		free(names[i]);
	}
	fprintf(stderr, "%zu cases\n", n);
}

/* Not a build: whether a Node change touches forwarding. A status
 * heartbeat changes nothing proxy_build reads; an address, a podCIDR or
 * the zone does. */
static struct kube_object *node_obj(const char *zone, const char *cidr, const char *addr,
				    const char *ready)
{
	char buf[1024];
	json_object *j;
	struct kube_object *o;

	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"name\":\"node1\",\"resourceVersion\":\"2\","
		 "\"labels\":{\"topology.kubernetes.io/zone\":\"%s\"}},\"spec\":{\"podCIDRs\":[\"%s\"]},"
		 "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}],"
		 "\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"%s\"}]}}", zone, cidr, ready, addr);
	j = json_tokener_parse(buf);
	o = obj(KUBE_NODE, j, "node_obj");
	json_object_put(j);
	if (!o)
		abort();
	return o;
}

static void test_node_same(void)
{
	struct kube_object *a = node_obj("zone-a", "198.18.0.0/24", "192.0.2.11", "True");
	struct kube_object *b[] = {
		node_obj("zone-a", "198.18.0.0/24", "192.0.2.11", "False"),
		node_obj("zone-b", "198.18.0.0/24", "192.0.2.11", "True"),
		node_obj("zone-a", "198.18.1.0/24", "192.0.2.11", "True"),
		node_obj("zone-a", "198.18.0.0/24", "192.0.2.12", "True"),
	};

	CHECK(proxy_node_same(kube_node(a), kube_node(b[0])));
	for (int i = 1; i < 4; i++)
		CHECK(!proxy_node_same(kube_node(a), kube_node(b[i])));
	CHECK(!proxy_node_same(kube_node(a), NULL));
	kube_object_free(a);
	for (int i = 0; i < 4; i++)
		kube_object_free(b[i]);
}

int main(int argc, char **argv)
{
	/* the cases' bad values are logged: only failures matter here */
	log_set_stream(fopen("/dev/null", "w"));
	if (argc > 1)
		test_cases(argv[1]);
	else
		CHECK(!"want the path of proxy/tests/cases");
	test_node_same();
	return test_done("proxy_build");
}
