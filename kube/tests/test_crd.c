/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Informers for the kinds MetalLB's logic needs, against
 * tests/fake_apiserver.py: a metallb.io CRD that is not installed (404:
 * synced and empty, no spinning, picked up once it appears), custom
 * resources through list and watch, a namespaced custom resource, and one
 * ConfigMap by namespace and field selector.
 */
#include "kube/informer.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/test.h"
#include "kube/tests/fake_server.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct kube_client *C;
static struct kube_informer *INF;
static int adds, updates, deletes, synced;

static void on_add(void *arg, const struct kube_object *o) { adds++; }
static void on_update(void *arg, const struct kube_object *old, const struct kube_object *o) { updates++; }
static void on_del(void *arg, const struct kube_object *o) { deletes++; }
static void on_synced(void *arg) { synced++; }
static const struct kube_handlers H = { on_add, on_update, on_del, on_synced };

static int done_flag, done_status;
static char body[1 << 16];
static void done(void *arg, const struct kube_result *r)
{
	done_flag = 1;
	done_status = r->status;
	snprintf(body, sizeof(body), "%s", r->body ? r->body : "");
}
static bool finished(void) { return done_flag; }

static int request(const char *method, const char *path, const char *json)
{
	struct kube_req_opts o = { .method = method, .body = json, .body_len = json ? strlen(json) : 0 };

	done_flag = 0;
	CHECK(kube_request(C, path, &o, done, NULL) != NULL);
	CHECK(run_until(finished, 5000));
	return done_status;
}

static void ctl(const char *json) { CHECK_EQ_INT(request("POST", "/control", json), 200); }

static void put(const char *kind, const char *ns, const char *name, const char *spec)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "{\"op\":\"put\",\"object\":{\"apiVersion\":\"metallb.io/v1beta2\",\"kind\":\"%s\","
		 "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"uid\":\"u-%s\",\"creationTimestamp\":"
		 "\"2026-11-20T09:00:01Z\",\"managedFields\":[{\"manager\":\"kubectl\"}]},%s}}", kind, name, ns, name, spec);
	ctl(cmd);
}

static int want;
static bool adds_reached(void) { return adds >= want; }
static bool updates_reached(void) { return updates >= want; }
static bool deletes_reached(void) { return deletes >= want; }
static bool is_synced(void) { return synced > 0; }

static struct kube_informer *start(enum kube_kind k, const struct kube_informer_opts *o)
{
	struct kube_informer *inf = kube_informer_new(C, k, o, &H, NULL);

	adds = updates = deletes = synced = 0;
	CHECK(inf != NULL);
	CHECK_EQ_INT(kube_informer_start(inf), 0);
	return inf;
}

static void test_missing_then_installed(void)
{
	struct kube_informer_opts o = { .missing_retry_ms = 400, .watch_timeout_s = 30 };
	struct kube_informer_stats st;

	INF = start(KUBE_BGPPEER, &o);
	CHECK(run_until(is_synced, 3000));	/* synced with nothing */
	CHECK_EQ_INT((int)kube_informer_count(INF), 0);
	run_for(1000);
	kube_informer_stats(INF, &st);
	/* a list every 400 ms, not a spin */
	CHECK(st.missing >= 2 && st.missing <= 4);
	CHECK_EQ_INT(synced, 1);

	/* the CRD gets installed */
	put("BGPPeer", "metallb-system", "peer1", "\"spec\":{\"peerAddress\":\"192.0.2.1\",\"peerASN\":64500}");
	ctl("{\"op\":\"serve\",\"path\":\"/apis/metallb.io/v1beta2/bgppeers\"}");
	want = 1;
	CHECK(run_until(adds_reached, 3000));
	const struct kube_object *obj = kube_informer_get(INF, "metallb-system", "peer1");
	const struct kube_custom *c = kube_custom(obj);
	CHECK(c != NULL);
	CHECK(c && obj->kind == KUBE_BGPPEER && !strcmp(c->kind_name, "BGPPeer"));
	CHECK(c && strstr(c->json, "\"peerAddress\":\"192.0.2.1\"") && !strstr(c->json, "managedFields"));
	CHECK(obj && obj->created == 1795165201);

	/* watch: a spec change is an update, a status change is not, delete */
	run_for(200);
	put("BGPPeer", "metallb-system", "peer1", "\"spec\":{\"peerAddress\":\"192.0.2.2\",\"peerASN\":64500}");
	want = 1;
	CHECK(run_until(updates_reached, 3000));
	c = kube_custom(kube_informer_get(INF, "metallb-system", "peer1"));
	CHECK(c && strstr(c->json, "192.0.2.2"));
	put("BGPPeer", "metallb-system", "peer1",
	    "\"spec\":{\"peerAddress\":\"192.0.2.2\",\"peerASN\":64500},\"status\":{\"x\":1}");
	run_for(500);
	CHECK_EQ_INT(updates, 1);
	CHECK(strstr(kube_custom(kube_informer_get(INF, "metallb-system", "peer1"))->json, "\"x\":1") != NULL);
	ctl("{\"op\":\"delete\",\"name\":\"metallb-system/peer1\"}");
	want = 1;
	CHECK(run_until(deletes_reached, 3000));
	CHECK_EQ_INT((int)kube_informer_count(INF), 0);
	kube_informer_stats(INF, &st);
	CHECK_EQ_INT(st.bad_objects, 0);
	kube_informer_free(INF);
}

static void test_namespaced(void)
{
	struct kube_informer_opts o = { .namespace = "metallb-system", .watch_timeout_s = 30 };

	ctl("{\"op\":\"serve\",\"path\":\"/apis/metallb.io/v1beta1/ipaddresspools\"}");
	put("IPAddressPool", "metallb-system", "pool-a", "\"spec\":{\"addresses\":[\"198.51.100.0/28\"]}");
	put("IPAddressPool", "elsewhere", "pool-b", "\"spec\":{\"addresses\":[\"198.51.100.16/28\"]}");
	INF = start(KUBE_IPADDRESSPOOL, &o);
	CHECK(run_until(is_synced, 3000));
	CHECK_EQ_INT((int)kube_informer_count(INF), 1);
	CHECK(kube_informer_get(INF, "metallb-system", "pool-a") != NULL);
	put("IPAddressPool", "elsewhere", "pool-c", "\"spec\":{}");
	put("IPAddressPool", "metallb-system", "pool-d", "\"spec\":{}");
	want = 2;
	CHECK(run_until(adds_reached, 3000));
	run_for(300);
	CHECK_EQ_INT(adds, 2);
	CHECK(kube_informer_get(INF, "elsewhere", "pool-c") == NULL);
	kube_informer_free(INF);
	ctl("{\"op\":\"delete\",\"name\":\"metallb-system/pool-a\"}");
	ctl("{\"op\":\"delete\",\"name\":\"metallb-system/pool-d\"}");
	ctl("{\"op\":\"delete\",\"name\":\"elsewhere/pool-b\"}");
	ctl("{\"op\":\"delete\",\"name\":\"elsewhere/pool-c\"}");
}

static void test_one_configmap(void)
{
	struct kube_informer_opts o = { .namespace = "metallb-system", .field_selector = "metadata.name=config",
					.watch_timeout_s = 30 };
	const struct kube_configmap *cm;

	ctl("{\"op\":\"serve\",\"path\":\"/api/v1/configmaps\"}");
	ctl("{\"op\":\"put\",\"object\":{\"metadata\":{\"name\":\"config\",\"namespace\":\"metallb-system\"},"
	    "\"data\":{\"config\":\"peers: []\\n\"}}}");
	ctl("{\"op\":\"put\",\"object\":{\"metadata\":{\"name\":\"other\",\"namespace\":\"metallb-system\"},\"data\":{}}}");
	ctl("{\"op\":\"put\",\"object\":{\"metadata\":{\"name\":\"config\",\"namespace\":\"default\"},\"data\":{}}}");
	INF = start(KUBE_CONFIGMAP, &o);
	CHECK(run_until(is_synced, 3000));
	CHECK_EQ_INT((int)kube_informer_count(INF), 1);
	cm = kube_configmap(kube_informer_get(INF, "metallb-system", "config"));
	CHECK(cm && cm->n_data == 1 && !strcmp(kube_kv_get(cm->data, cm->n_data, "config"), "peers: []\n"));
	ctl("{\"op\":\"put\",\"object\":{\"metadata\":{\"name\":\"config\",\"namespace\":\"metallb-system\"},"
	    "\"data\":{\"config\":\"peers: [x]\\n\"}}}");
	want = 1;
	CHECK(run_until(updates_reached, 3000));
	cm = kube_configmap(kube_informer_get(INF, "metallb-system", "config"));
	CHECK(cm && !strcmp(kube_kv_get(cm->data, cm->n_data, "config"), "peers: [x]\n"));
	CHECK_EQ_INT(request("GET", "/control/requests", NULL), 200);
	CHECK(strstr(body, "/api/v1/namespaces/metallb-system/configmaps?limit=100&fieldSelector=metadata.name%3Dconfig"));
	CHECK(strstr(body, "/api/v1/namespaces/metallb-system/configmaps?watch=1&"));
	kube_informer_free(INF);
}

/* The manifest does not grant the legacy ConfigMap (its namespace may not
 * exist): a 403 there means "no ConfigMap", synced and empty, and the grant
 * added later is picked up. Without the option a 403 stays an error. */
static void test_forbidden_configmap(void)
{
	struct kube_informer_opts o = { .namespace = "metallb-system", .field_selector = "metadata.name=config",
					.watch_timeout_s = 30, .missing_retry_ms = 300 };

	ctl("{\"op\":\"forbid\",\"path\":\"/api/v1/namespaces/metallb-system/configmaps\"}");
	INF = start(KUBE_CONFIGMAP, &o);
	run_for(1000);
	CHECK_EQ_INT(synced, 0);	/* a 403 is not "empty" unless asked */
	kube_informer_free(INF);

	o.forbidden_is_empty = true;
	INF = start(KUBE_CONFIGMAP, &o);
	CHECK(run_until(is_synced, 3000));
	CHECK_EQ_INT((int)kube_informer_count(INF), 0);
	ctl("{\"op\":\"permit\",\"path\":\"/api/v1/namespaces/metallb-system/configmaps\"}");
	want = 1;
	CHECK(run_until(adds_reached, 3000));
	CHECK(kube_informer_get(INF, "metallb-system", "config") != NULL);
	/* once granted, a 403 is an apiserver restarting (its authorizer
	 * answers 403 to everyone for a moment): the cache stays, or every
	 * address of the configuration would be withdrawn (the chaos test
	 * found it) */
	ctl("{\"op\":\"forbid\",\"path\":\"/api/v1/namespaces/metallb-system/configmaps\"}");
	ctl("{\"op\":\"compact\"}");
	run_for(1500);
	CHECK_EQ_INT(deletes, 0);
	CHECK(kube_informer_get(INF, "metallb-system", "config") != NULL);
	ctl("{\"op\":\"permit\",\"path\":\"/api/v1/namespaces/metallb-system/configmaps\"}");
	kube_informer_free(INF);
}

int main(int argc, char **argv)
{
	int port = fake_start(argc > 1 ? argv[1] : "kube/tests/fake_apiserver.py", "0");

	log_set_verbosity(argc > 2 ? atoi(argv[2]) : 0);
	L = loop_new();
	C = fake_client(L, port, 1000, 1000);
	CHECK(C != NULL);
	test_missing_then_installed();
	test_namespaced();
	test_one_configmap();
	test_forbidden_configmap();
	kube_client_free(C);
	fake_stop();
	loop_free(L);
	return test_done("test_kube_crd");
}
