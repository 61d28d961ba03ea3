/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes, read-modify-write with 409 retries, the rate limiter, Leases and
 * Events against tests/fake_apiserver.py's object store.
 */
#include "kube/events.h"
#include "kube/lease.h"
#include "kube/write.h"
#include "core/log.h"
#include "core/test.h"
#include "kube/tests/fake_server.h"

#include <json-c/json.h>

static struct kube_client *C;

static int n_done, last_status;
static char last_body[1 << 20];
static void done(void *arg, const struct kube_result *r)
{
	n_done++;
	last_status = r->status;
	snprintf(last_body, sizeof(last_body), "%s", r->body ? r->body : "");
}
static int want_done;
static bool enough(void) { return n_done >= want_done; }

/* Issue one request and wait for it. */
#define SYNC(call) do { want_done = n_done + 1; CHECK((call) != NULL); CHECK(run_until(enough, 5000)); } while (0)

static struct json_object *get_json(const char *path)
{
	SYNC(kube_get(C, path, done, NULL));
	return last_status == 200 ? json_tokener_parse(last_body) : NULL;
}

static const char *jpath(struct json_object *j, const char *a, const char *b, const char *c)
{
	struct json_object *v = j;
	const char *ks[3] = { a, b, c };

	for (int i = 0; i < 3 && ks[i]; i++)
		if (!json_object_object_get_ex(v, ks[i], &v))
			return NULL;
	return json_object_get_string(v);
}

static int count_writes(const char *method, const char *path)
{
	struct json_object *log = get_json("/control/log");
	int n = 0;

	for (size_t i = 0; log && i < json_object_array_length(log); i++) {
		struct json_object *w = json_object_array_get_idx(log, i);

		if (!strcmp(json_object_get_string(json_object_array_get_idx(w, 0)), method) &&
		    (!path || !strcmp(json_object_get_string(json_object_array_get_idx(w, 1)), path)))
			n++;
	}
	json_object_put(log);
	return n;
}

static void ctl(const char *cmd)
{
	struct kube_req_opts o = { .method = "POST", .body = cmd, .body_len = strlen(cmd) };

	SYNC(kube_request(C, "/control", &o, done, NULL));
}

#define SVC "/api/v1/namespaces/shop/services/web"

static void test_writes(void)
{
	struct json_object *j;

	SYNC(kube_create(C, "/api/v1/namespaces/shop/services",
			 "{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},\"spec\":{\"type\":\"LoadBalancer\"}}",
			 done, NULL));
	CHECK_EQ_INT(last_status, 201);
	SYNC(kube_create(C, "/api/v1/namespaces/shop/services", "{\"metadata\":{\"name\":\"web\"}}", done, NULL));
	CHECK_EQ_INT(last_status, 409);
	CHECK(kube_status_message(last_body) && strstr(kube_status_message(last_body), "already exists"));

	SYNC(kube_patch(C, SVC "/status", KUBE_PATCH_MERGE,
			"{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"203.0.113.10\"}]}}}", done, NULL));
	CHECK_EQ_INT(last_status, 200);
	SYNC(kube_patch(C, SVC, KUBE_PATCH_JSON,
			"[{\"op\":\"add\",\"path\":\"/metadata/labels\",\"value\":{\"a\":\"b\"}}]", done, NULL));
	CHECK_EQ_INT(last_status, 200);
	SYNC(kube_patch(C, SVC, KUBE_PATCH_JSON, "[{\"op\":\"test\",\"path\":\"/metadata/labels/a\",\"value\":\"x\"}]",
			done, NULL));
	CHECK_EQ_INT(last_status, 422);
	j = get_json(SVC);
	CHECK(j && !strcmp(jpath(j, "metadata", "labels", "a"), "b"));
	CHECK(j && strstr(json_object_to_json_string(j), "203.0.113.10") != NULL);
	json_object_put(j);

	/* the patch content types reached the server */
	struct json_object *log = get_json("/control/log");
	const char *s = json_object_to_json_string(log);
	CHECK(strstr(s, "application\\/merge-patch+json") != NULL);
	CHECK(strstr(s, "application\\/json-patch+json") != NULL);
	json_object_put(log);

	SYNC(kube_delete(C, SVC, done, NULL));
	CHECK_EQ_INT(last_status, 200);
	SYNC(kube_get(C, SVC, done, NULL));
	CHECK_EQ_INT(last_status, 404);
}

/* The allocator's write: the full ingress list, with and without a
 * resourceVersion precondition. */
static void test_service_ingress(void)
{
	static const char *const two[] = { "203.0.113.10", "2001:db8::10" };
	struct json_object *j, *ing;
	char rv[32];

	SYNC(kube_create(C, "/api/v1/namespaces/shop/services",
			 "{\"metadata\":{\"name\":\"lb\",\"namespace\":\"shop\"},\"spec\":{\"type\":\"LoadBalancer\"}}",
			 done, NULL));
	CHECK_EQ_INT(last_status, 201);
	j = get_json("/api/v1/namespaces/shop/services/lb");
	snprintf(rv, sizeof(rv), "%s", j ? jpath(j, "metadata", "resourceVersion", NULL) : "");
	json_object_put(j);

	SYNC(kube_service_set_ingress(C, "shop", "lb", rv, two, 2, done, NULL));
	CHECK_EQ_INT(last_status, 200);
	j = get_json("/api/v1/namespaces/shop/services/lb");
	CHECK(j && json_object_object_get_ex(json_object_object_get(json_object_object_get(j, "status"),
			"loadBalancer"), "ingress", &ing));
	CHECK(j && json_object_array_length(ing) == 2);
	CHECK(j && !strcmp(jpath(json_object_array_get_idx(ing, 1), "ip", NULL, NULL), "2001:db8::10"));
	CHECK(j && !strcmp(jpath(j, "spec", "type", NULL), "LoadBalancer"));	/* the rest untouched */
	json_object_put(j);
	CHECK(count_writes("PATCH", "/api/v1/namespaces/shop/services/lb/status") == 1);

	/* a stale resourceVersion: 409, nothing written */
	SYNC(kube_service_set_ingress(C, "shop", "lb", rv, two, 1, done, NULL));
	CHECK_EQ_INT(last_status, 409);
	/* none: last writer wins; n 0 clears the list */
	SYNC(kube_service_set_ingress(C, "shop", "lb", NULL, NULL, 0, done, NULL));
	CHECK_EQ_INT(last_status, 200);
	j = get_json("/api/v1/namespaces/shop/services/lb");
	CHECK(j && json_object_object_get_ex(json_object_object_get(json_object_object_get(j, "status"),
			"loadBalancer"), "ingress", &ing) && json_object_array_length(ing) == 0);
	json_object_put(j);
	SYNC(kube_service_set_ingress(C, "shop", "gone", NULL, two, 1, done, NULL));
	CHECK_EQ_INT(last_status, 404);
}

static int mutations;
static char *add_label(void *arg, struct json_object *cur)
{
	struct json_object *md;
	char *out;

	mutations++;
	if (!cur)
		return strdup("{\"metadata\":{\"name\":\"cm\"},\"data\":{\"n\":\"1\"}}");
	json_object_object_get_ex(cur, "metadata", &md);
	json_object_object_add(md, "labels", json_object_new_string("x"));
	json_object_object_add(md, "labels", json_object_new_object());
	json_object_object_add(json_object_object_get(md, "labels"), "updated", json_object_new_string("yes"));
	out = strdup(json_object_to_json_string(cur));
	return out;
}

static void test_update_conflicts(void)
{
	const char *path = "/api/v1/namespaces/shop/configmaps/cm", *coll = "/api/v1/namespaces/shop/configmaps";
	int puts0;

	/* absent: created through create_path */
	mutations = 0;
	SYNC(kube_update(C, path, coll, 0, add_label, done, NULL));
	CHECK_EQ_INT(last_status, 201);
	/* two conflicts, then success on the third try */
	ctl("{\"op\":\"conflicts\",\"count\":2}");
	puts0 = count_writes("PUT", path);
	mutations = 0;
	SYNC(kube_update(C, path, coll, 0, add_label, done, NULL));
	CHECK_EQ_INT(last_status, 200);
	CHECK_EQ_INT(mutations, 3);
	CHECK(strstr(last_body, "\"updated\"") != NULL);
	CHECK_EQ_INT(count_writes("PUT", path) - puts0, 3);
	/* always conflicting: gives up after max_tries with the 409 */
	ctl("{\"op\":\"conflicts\",\"count\":9}");
	mutations = 0;
	SYNC(kube_update(C, path, coll, 4, add_label, done, NULL));
	CHECK_EQ_INT(last_status, 409);
	CHECK_EQ_INT(mutations, 4);
	ctl("{\"op\":\"conflicts\",\"count\":0}");
}

static int lease_changes[2];
static void lease_changed(void *arg, bool held) { lease_changes[(long)arg]++; }
static struct kube_lease *LA, *LB;
static bool a_held(void) { return kube_lease_held(LA); }
static bool b_held(void) { return kube_lease_held(LB); }
static bool a_lost(void) { return !kube_lease_held(LA); }

static void test_leases(void)
{
	struct kube_lease_opts oa = { "kube-system", "ferry-test", "node-a", 1, 600, 100 };
	struct kube_lease_opts ob = { "kube-system", "ferry-test", "node-b", 1, 600, 100 };
	struct json_object *j;
	uint64_t t0;

	LA = kube_lease_new(C, &oa, lease_changed, (void *)0L);
	LB = kube_lease_new(C, &ob, lease_changed, (void *)1L);
	CHECK(!kube_lease_valid(LA));
	CHECK_EQ_INT((int)kube_lease_renew_age_ms(LA), -1);
	kube_lease_start(LA);
	CHECK(run_until(a_held, 3000));
	CHECK(kube_lease_valid(LA));
	CHECK(kube_lease_renew_age_ms(LA) >= 0 && kube_lease_renew_age_ms(LA) < 600);
	CHECK_EQ_INT((int)kube_lease_transitions(LA), 0);
	kube_lease_start(LB);
	run_for(2000);	/* A renews every 100 ms: B never gets it */
	CHECK(kube_lease_held(LA));
	CHECK(!kube_lease_held(LB));
	CHECK_EQ_STR(kube_lease_holder(LB), "node-a");
	j = get_json("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/ferry-test");
	CHECK(j && !strcmp(jpath(j, "spec", "holderIdentity", NULL), "node-a"));
	CHECK(j && !strcmp(jpath(j, "spec", "leaseTransitions", NULL), "0"));
	CHECK(j && jpath(j, "spec", "renewTime", NULL) && strlen(jpath(j, "spec", "renewTime", NULL)) == 27);
	json_object_put(j);

	/* A releases: B takes over at once */
	kube_lease_release(LA);
	t0 = loop_now_ms();
	CHECK(run_until(b_held, 3000));
	CHECK(loop_now_ms() - t0 < 1000);
	CHECK(!kube_lease_held(LA));
	j = get_json("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/ferry-test");
	CHECK(j && !strcmp(jpath(j, "spec", "holderIdentity", NULL), "node-b"));
	CHECK(j && !strcmp(jpath(j, "spec", "leaseTransitions", NULL), "1"));
	json_object_put(j);
	CHECK(kube_lease_valid(LB) && !kube_lease_valid(LA));
	CHECK_EQ_INT((int)kube_lease_transitions(LB), 1);

	/* fencing: the server stops answering B's renewals (every write a
	 * 409); without waiting for the timer, valid turns false at the deadline */
	ctl("{\"op\":\"conflicts\",\"count\":1000000}");
	t0 = loop_now_ms();
	while (kube_lease_valid(LB) && loop_now_ms() - t0 < 3000)
		loop_run_once(L, 10);
	CHECK(!kube_lease_valid(LB));
	CHECK(loop_now_ms() - t0 <= 700);	/* within the 600 ms renew deadline */
	run_for(300);
	CHECK(!kube_lease_held(LB));	/* and the callback said so */
	CHECK_EQ_INT(lease_changes[1], 2);
	ctl("{\"op\":\"conflicts\",\"count\":0}");
	lease_changes[1] = 1;

	/* B vanishes without releasing: A takes it after the duration */
	kube_lease_free(LB);
	LB = NULL;
	t0 = loop_now_ms();
	kube_lease_start(LA);
	CHECK(run_until(a_held, 5000));
	CHECK(loop_now_ms() - t0 >= 1000);
	j = get_json("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/ferry-test");
	CHECK(j && !strcmp(jpath(j, "spec", "holderIdentity", NULL), "node-a"));
	CHECK(j && !strcmp(jpath(j, "spec", "leaseTransitions", NULL), "2"));
	json_object_put(j);

	/* the lease object disappears and renewals fail: lost after the deadline */
	SYNC(kube_delete(C, "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/ferry-test", done, NULL));
	/* deleted leases are simply re-created by the holder: still held */
	run_for(500);
	CHECK(kube_lease_held(LA));
	kube_lease_free(LA);
	CHECK(lease_changes[0] >= 3);
	CHECK_EQ_INT(lease_changes[1], 1);	/* acquired; freed without a callback */
	(void)a_lost;
}

static void test_events(void)
{
	struct kube_recorder *r = kube_recorder_new(C, "ferry", "node-a");
	struct kube_ref svc = { "Service", "v1", "shop", "web", "6f1c3c1e" };
	struct kube_recorder_stats st;
	int creates0 = count_writes("POST", "/api/v1/namespaces/shop/events");

	/* the same event 30 times: 1 create, patches, and the spam filter stops at 25 */
	for (int i = 0; i < 30; i++)
		kube_event(r, &svc, "Warning", "AllocationFailed", "no available IPs in pool %s", "public");
	want_done = 0;
	run_for(1500);
	kube_recorder_stats(r, &st);
	CHECK_EQ_INT(st.created, 1);
	CHECK_EQ_INT(st.patched, 24);
	CHECK_EQ_INT(st.dropped, 5);
	CHECK_EQ_INT(st.failed, 0);
	CHECK_EQ_INT(count_writes("POST", "/api/v1/namespaces/shop/events") - creates0, 1);
	/* the stored event names the Service and has count 25 */
	struct json_object *store = get_json("/control/store?prefix=/api/v1/namespaces/shop/events/web."), *ev = NULL;
	CHECK(store && json_object_object_length(store) == 1);
	if (store) {
		json_object_object_foreach(store, k, v) {
			(void)k;
			ev = v;
		}
	}
	CHECK(ev && !strcmp(jpath(ev, "involvedObject", "kind", NULL), "Service"));
	CHECK(ev && !strcmp(jpath(ev, "involvedObject", "apiVersion", NULL), "v1"));
	CHECK(ev && !strcmp(jpath(ev, "involvedObject", "namespace", NULL), "shop"));
	CHECK(ev && !strcmp(jpath(ev, "involvedObject", "name", NULL), "web"));
	CHECK(ev && !strcmp(jpath(ev, "involvedObject", "uid", NULL), "6f1c3c1e"));
	CHECK(ev && !strcmp(jpath(ev, "type", NULL, NULL), "Warning"));
	CHECK(ev && !strcmp(jpath(ev, "reason", NULL, NULL), "AllocationFailed"));
	CHECK(ev && !strcmp(jpath(ev, "message", NULL, NULL), "no available IPs in pool public"));
	CHECK(ev && !strcmp(jpath(ev, "count", NULL, NULL), "25"));
	json_object_put(store);

	/* 12 different messages with one reason: 10 events, then one combined
	 * event that the rest patch */
	for (int i = 0; i < 12; i++)
		kube_event(r, &svc, "Normal", "IPAllocated", "assigned IP 203.0.113.%d", i);
	run_for(1500);
	kube_recorder_stats(r, &st);
	CHECK_EQ_INT(st.created, 1 + 11);
	CHECK_EQ_INT(st.aggregated, 2);
	CHECK_EQ_INT(st.patched, 24 + 1);

	/* the API expired the events: the next repeat is created again */
	ctl("{\"op\":\"forget\",\"prefix\":\"/api/v1/namespaces/shop/events\"}");
	int before = count_writes("POST", "/api/v1/namespaces/shop/events");
	kube_event(r, &svc, "Normal", "IPAllocated", "assigned IP 203.0.113.%d", 1);
	run_for(800);
	CHECK_EQ_INT(count_writes("POST", "/api/v1/namespaces/shop/events") - before, 1);
	kube_recorder_stats(r, &st);
	CHECK_EQ_INT(st.failed, 0);

	/* the Service is deleted: its correlation state goes with it (a new
	 * object has a new uid; under churn the tables would otherwise fill
	 * to 4096 entries each). The spam filter had stopped AllocationFailed;
	 * after the forget the same event starts afresh: created, not dropped */
	unsigned dropped = st.dropped;
	kube_event(r, &svc, "Warning", "AllocationFailed", "no available IPs in pool %s", "public");
	kube_recorder_stats(r, &st);
	CHECK_EQ_INT(st.dropped, dropped + 1);
	kube_events_forget("someone-else");	/* another uid: nothing changes */
	kube_event(r, &svc, "Warning", "AllocationFailed", "no available IPs in pool %s", "public");
	kube_recorder_stats(r, &st);
	CHECK_EQ_INT(st.dropped, dropped + 2);
	kube_events_forget("6f1c3c1e");
	before = count_writes("POST", "/api/v1/namespaces/shop/events");
	kube_event(r, &svc, "Warning", "AllocationFailed", "no available IPs in pool %s", "public");
	run_for(800);
	kube_recorder_stats(r, &st);
	CHECK_EQ_INT(st.dropped, dropped + 2);
	CHECK_EQ_INT(count_writes("POST", "/api/v1/namespaces/shop/events") - before, 1);
	kube_recorder_free(r);
	kube_events_forget("6f1c3c1e");	/* no recorder left: a no-op */
}

int main(int argc, char **argv)
{
	int port = fake_start(argc > 1 ? argv[1] : "kube/tests/fake_apiserver.py", "0");

	log_set_verbosity(argc > 2 ? atoi(argv[2]) : 0);
	L = loop_new();
	C = fake_client(L, port, 1000, 1000);
	test_writes();
	test_update_conflicts();
	test_service_ingress();
	test_leases();
	test_events();
	kube_client_free(C);

	/* the rate limiter: 12 requests at 10 QPS with a burst of 2 take about
	 * one second; never sooner than the bucket allows */
	C = fake_client(L, port, 10, 2);
	uint64_t t0 = loop_now_ms();
	n_done = 0;
	for (int i = 0; i < 12; i++)
		kube_get(C, "/nothing", done, NULL);
	want_done = 12;
	CHECK(run_until(enough, 5000));
	uint64_t took = loop_now_ms() - t0;
	fprintf(stderr, "12 requests at qps=10 burst=2 took %llu ms\n", (unsigned long long)took);
	CHECK(took >= 950 && took < 2000);
	kube_client_free(C);

	/* a rotated token file is used from the next request on */
	char dir[] = "/tmp/ferry-kube-tok-XXXXXX", tok[300], tmp[320];
	struct kube_config cfg = { 0 };
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(tok, sizeof(tok), "%s/token", dir);
	snprintf(tmp, sizeof(tmp), "%s/token.new", dir);
	f = fopen(tok, "w");
	fputs("old-token\n", f);
	fclose(f);
	if (asprintf(&cfg.server, "http://127.0.0.1:%d", port) < 0)
		return 2;
	cfg.token_file = strdup(tok);
	C = kube_client_new(L, &cfg, NULL);
	SYNC(kube_get(C, "/nothing-1", done, NULL));
	f = fopen(tmp, "w");
	fputs("new-token", f);
	fclose(f);
	CHECK(rename(tmp, tok) == 0);
	SYNC(kube_get(C, "/nothing-2", done, NULL));
	SYNC(kube_get(C, "/control/requests", done, NULL));
	CHECK(strstr(last_body, "[\"/nothing-1\", \"Bearer old-token\"]") != NULL);
	CHECK(strstr(last_body, "[\"/nothing-2\", \"Bearer new-token\"]") != NULL);
	kube_client_free(C);
	unlink(tok);
	rmdir(dir);
	fake_stop();
	loop_free(L);
	return test_done("test_kube_write");
}
