/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The transport and the informer against tests/fake_apiserver.py: paged
 * list, watch events, a compaction (ERROR 410) with missed changes that the
 * relist must deliver as exactly the real differences, a cut stream, a
 * malformed object, injected list failures with backoff.
 */
#include "kube/informer.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/test.h"
#include "kube/tests/fake_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct kube_client *C;
static int adds, updates, deletes, synced;
static char last[128];

static void on_add(void *arg, const struct kube_object *o) { adds++; snprintf(last, sizeof(last), "add %s", o->name); }
static void on_update(void *arg, const struct kube_object *old, const struct kube_object *o)
{
	updates++;
	snprintf(last, sizeof(last), "update %s", o->name);
	CHECK(!strcmp(old->name, o->name) && old->hash != o->hash);
}
static void on_del(void *arg, const struct kube_object *o) { deletes++; snprintf(last, sizeof(last), "delete %s", o->name); }
static void on_synced(void *arg) { synced++; }

static int ctl_done_flag, ctl_status;
static char ctl_body[512];
static void ctl_done(void *arg, const struct kube_result *r)
{
	ctl_done_flag = 1;
	ctl_status = r->status;
	snprintf(ctl_body, sizeof(ctl_body), "%s", r->body ? r->body : "");
}
static bool ctl_finished(void) { return ctl_done_flag; }

static int ctl(const char *json)
{
	struct kube_req_opts o = { .method = "POST", .body = json, .body_len = strlen(json) };

	ctl_done_flag = 0;
	CHECK(kube_request(C, "/control", &o, ctl_done, NULL) != NULL);
	CHECK(run_until(ctl_finished, 5000));
	return ctl_status;
}

static const char *svc(int i, int port, const char *app)
{
	static char buf[512];

	snprintf(buf, sizeof(buf),
		 "{\"op\":\"%%s\",\"object\":{\"metadata\":{\"name\":\"svc-%d\",\"uid\":\"uid-%d\",\"namespace\":\"ns-%d\",\"annotations\":{\"note\":\"%s\"}},"
		 "\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"198.18.%d.%d\",\"ports\":[{\"name\":\"http\",\"port\":%d,"
		 "\"protocol\":\"TCP\",\"targetPort\":8080}]}}}",
		 i, i, i % 7, app, i / 250, i % 250 + 1, port);
	return buf;
}

static int put(const char *op, int i, int port, const char *app)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), svc(i, port, app), op);
	return ctl(cmd);
}

static struct kube_informer *INF;
static int want_adds, want_updates, want_deletes;
static bool counts_reached(void) { return adds >= want_adds && updates >= want_updates && deletes >= want_deletes; }
static bool is_synced(void) { return synced > 0; }
static unsigned relists_before;
static bool relisted(void)
{
	struct kube_informer_stats s;

	kube_informer_stats(INF, &s);
	return s.relists > relists_before && s.lists > 0 && counts_reached();
}

static void expect(int a, int u, int d, int ms)
{
	want_adds = a;
	want_updates = u;
	want_deletes = d;
	run_until(counts_reached, ms);
	/* and nothing more arrives */
	uint64_t end = loop_now_ms() + 300;
	while (loop_now_ms() < end)
		loop_run_once(L, 50);
	CHECK_EQ_INT(adds, a);
	CHECK_EQ_INT(updates, u);
	CHECK_EQ_INT(deletes, d);
}

static const struct kube_service *get(int i)
{
	char ns[16], name[16];

	snprintf(ns, sizeof(ns), "ns-%d", i % 7);
	snprintf(name, sizeof(name), "svc-%d", i);
	return kube_service(kube_informer_get(INF, ns, name));
}

static char body[1 << 20];
static int req_done, req_status, req_err;
static void body_done(void *arg, const struct kube_result *r)
{
	req_done = 1;
	snprintf(body, sizeof(body), "%s", r->body ? r->body : "");
}
static void plain_done(void *arg, const struct kube_result *r) { req_done = 1; req_status = r->status; req_err = r->err; }
static bool plain_finished(void) { return req_done; }
static bool probe_reachable(void) { return kube_client_reachable(C); }
static bool probe_unreachable(void) { return !kube_client_reachable(C); }

int main(int argc, char **argv)
{
	struct kube_handlers h = { on_add, on_update, on_del, on_synced };
	struct kube_informer_opts io = { .page_size = 500, .watch_timeout_s = 30 };
	int port = fake_start(argc > 1 ? argv[1] : "kube/tests/fake_apiserver.py", "1200");

	log_set_verbosity(argc > 2 ? atoi(argv[2]) : 0);
	L = loop_new();
	C = fake_client(L, port, 1000, 1000);
	CHECK(C != NULL);

	/* a plain 404 comes back as a status, and proves reachability */
	CHECK(kube_request(C, "/nope", NULL, plain_done, NULL) != NULL);
	CHECK(run_until(plain_finished, 5000));
	CHECK_EQ_INT(req_status, 404);
	CHECK(kube_client_reachable(C));

	/* 1. paged initial list: 1200 adds, then synced */
	INF = kube_informer_new(C, KUBE_SERVICE, &io, &h, NULL);
	CHECK_EQ_INT(kube_informer_start(INF), 0);
	CHECK(run_until(is_synced, 10000));
	CHECK_EQ_INT(kube_informer_count(INF), 1200);
	CHECK_EQ_INT(adds, 1200);
	CHECK_EQ_INT(updates + deletes, 0);
	CHECK(get(5) && get(5)->ports[0].port == 80);
	fprintf(stderr, "cache: %zu objects, %zu bytes, %.0f bytes/Service\n", kube_informer_count(INF),
		kube_informer_bytes(INF), (double)kube_informer_bytes(INF) / kube_informer_count(INF));

	/* 2. watch events: a real change, an irrelevant one, a delete, an add */
	put("put", 1, 81, "a1");
	expect(1200, 1, 0, 5000);
	CHECK(get(1) && get(1)->ports[0].port == 81);
	put("put", 1, 81, "other-label");	/* only an unkept annotation: no callback */
	ctl("{\"op\":\"delete\",\"name\":\"ns-2/svc-2\"}");
	put("put", 5000, 80, "new");
	expect(1201, 1, 1, 5000);
	CHECK(get(2) == NULL);
	CHECK(get(5000) != NULL);

	/* 3. missed changes, then a compaction: the relist delivers exactly them */
	put("quiet_put", 3, 90, "a3");
	ctl("{\"op\":\"quiet_delete\",\"name\":\"ns-4/svc-4\"}");
	put("quiet_put", 6000, 80, "x");
	put("quiet_put", 7, 80, "relabelled");	/* irrelevant: no update */
	relists_before = 0;
	want_adds = 1202;
	want_updates = 2;
	want_deletes = 2;
	ctl("{\"op\":\"compact\"}");
	CHECK(run_until(relisted, 10000));
	expect(1202, 2, 2, 1000);
	CHECK(get(3) && get(3)->ports[0].port == 90);
	CHECK(get(4) == NULL);
	CHECK(get(6000) != NULL);
	CHECK_EQ_INT(kube_informer_count(INF), 1200);
	struct kube_informer_stats st;
	kube_informer_stats(INF, &st);
	CHECK(st.gone >= 1);
	CHECK_EQ_INT(st.relists, 1);

	/* 4. a stream cut mid-event: resume from the last rv, lose nothing */
	ctl("{\"op\":\"cut\"}");
	put("put", 8, 88, "a8");
	expect(1202, 3, 2, 8000);
	CHECK(get(8) && get(8)->ports[0].port == 88);
	kube_informer_stats(INF, &st);
	CHECK(st.watch_errors >= 1);
	CHECK_EQ_INT(st.relists, 1);	/* resumed, not relisted */

	/* 5. a malformed object and a bookmark in the stream: skipped, cache intact */
	ctl("{\"op\":\"raw\",\"data\":\"{\\\"type\\\":\\\"ADDED\\\",\\\"object\\\":{\\\"metadata\\\":{}}}\\n\"}");
	ctl("{\"op\":\"raw\",\"data\":\"{\\\"type\\\":\\\"DELETED\\\",\\\"object\\\":{}}\\n\"}");
	ctl("{\"op\":\"bookmark\"}");
	put("put", 9, 99, "a9");
	expect(1202, 4, 2, 5000);
	kube_informer_stats(INF, &st);
	CHECK_EQ_INT(st.bad_objects, 2);
	CHECK_EQ_INT(kube_informer_count(INF), 1200);

	/* 6. malformed JSON breaks the stream: resume, still consistent */
	ctl("{\"op\":\"raw\",\"data\":\"{\\\"type\\\":]\\n\"}");
	put("put", 10, 100, "a10");
	expect(1202, 5, 2, 8000);

	/* 7. lists failing twice after a compaction: backoff, then the relist */
	put("quiet_put", 11, 111, "a11");
	ctl("{\"op\":\"fail_lists\",\"count\":2}");
	relists_before = 1;
	want_updates = 6;
	uint64_t t0 = loop_now_ms();
	ctl("{\"op\":\"compact\"}");
	CHECK(run_until(relisted, 15000));
	expect(1202, 6, 2, 1000);
	CHECK(loop_now_ms() - t0 >= 400);	/* it waited: at least the first backoff */
	CHECK(get(11) && get(11)->ports[0].port == 111);
	fprintf(stderr, "relist after 2 failed lists took %llu ms\n", (unsigned long long)(loop_now_ms() - t0));

	/* 8. the cache matches the server's list */
	ctl("{\"op\":\"stats\"}");
	CHECK(strstr(ctl_body, "\"objects\": 1200") != NULL);

	/* 9. a bookmark moves the resourceVersion the watch resumes from */
	ctl("{\"op\":\"quiet_put\",\"object\":{\"metadata\":{\"name\":\"bm\",\"namespace\":\"x\"}}}");
	ctl("{\"op\":\"bookmark\"}");
	ctl("{\"op\":\"stats\"}");
	{
		char want_rv[32];
		const char *p = strstr(ctl_body, "\"rv\": ");

		snprintf(want_rv, sizeof(want_rv), "%d", p ? atoi(p + 6) : -1);
		uint64_t end = loop_now_ms() + 3000;
		while (loop_now_ms() < end && strcmp(kube_informer_resource_version(INF) ?: "", want_rv))
			loop_run_once(L, 20);
		CHECK_EQ_STR(kube_informer_resource_version(INF), want_rv);
	}

	/* 9b. a server that lists fine and answers every watch 410: the relists
	 * back off instead of storming it (a list used to reset the backoff) */
	{
		struct kube_informer_stats s0, s1;

		/* a fresh informer: no backoff left from the faults above */
		kube_informer_free(INF);
		synced = 0;
		INF = kube_informer_new(C, KUBE_SERVICE, NULL, &h, NULL);
		kube_informer_start(INF);
		CHECK(run_until(is_synced, 10000));
		run_for(300);
		kube_informer_stats(INF, &s0);
		ctl("{\"op\":\"gone_watches\",\"count\":1000}");
		ctl("{\"op\":\"compact\"}");
		run_for(3000);
		ctl("{\"op\":\"gone_watches\",\"count\":0}");
		kube_informer_stats(INF, &s1);
		fprintf(stderr, "relists in 3 s of watches answered 410: %u\n", s1.relists - s0.relists);
		CHECK(s1.relists - s0.relists >= 2);
		CHECK(s1.relists - s0.relists <= 4);
		/* and it heals once the watches work again */
		put("put", 13, 113, "a13");
		uint64_t end = loop_now_ms() + 15000;
		while (loop_now_ms() < end && !(get(13) && get(13)->ports[0].port == 113))
			loop_run_once(L, 20);
		CHECK(get(13) && get(13)->ports[0].port == 113);
	}

	/* 9c. an object nested deeper than json-c's default 32 levels, in a list
	 * and in a watch: it is read, and so is everything around it */
	{
		char deep[602], cmd[1024];

		memset(deep, '[', 300);
		memset(deep + 300, ']', 300);
		deep[600] = 0;
		snprintf(cmd, sizeof(cmd), "{\"op\":\"quiet_put\",\"object\":{\"metadata\":{\"name\":\"deep\","
			 "\"namespace\":\"ns-d\"},\"spec\":{\"ports\":[{\"port\":80}],\"x\":%s}}}", deep);
		ctl(cmd);
		kube_informer_free(INF);
		synced = 0;
		INF = kube_informer_new(C, KUBE_SERVICE, NULL, &h, NULL);
		kube_informer_start(INF);
		CHECK(run_until(is_synced, 10000));
		CHECK(kube_informer_get(INF, "ns-d", "deep") != NULL);
		CHECK(get(13) != NULL);
		snprintf(cmd, sizeof(cmd), "{\"op\":\"put\",\"object\":{\"metadata\":{\"name\":\"deep2\","
			 "\"namespace\":\"ns-d\"},\"spec\":{\"ports\":[{\"port\":80}],\"x\":%s}}}", deep);
		ctl(cmd);
		uint64_t end = loop_now_ms() + 5000;
		while (loop_now_ms() < end && !kube_informer_get(INF, "ns-d", "deep2"))
			loop_run_once(L, 20);
		CHECK(kube_informer_get(INF, "ns-d", "deep2") != NULL);
	}

	kube_informer_free(INF);

	/* 10. selectors are escaped into the list and watch, with bookmarks and
	 * the list's resourceVersion, and the token goes along */
	struct kube_informer_opts sel = { .label_selector = "!service.kubernetes.io/headless,app in (a,b)",
					  .field_selector = "metadata.namespace!=kube-system" };
	synced = 0;
	INF = kube_informer_new(C, KUBE_SERVICE, &sel, &h, NULL);
	kube_informer_start(INF);
	CHECK(run_until(is_synced, 10000));
	run_for(300);
	req_done = 0;
	kube_request(C, "/control/requests", NULL, body_done, NULL);
	CHECK(run_until(plain_finished, 5000));
	CHECK(strstr(body, "limit=100&labelSelector=%21service.kubernetes.io%2Fheadless%2Capp%20in%20%28a%2Cb%29"
		      "&fieldSelector=metadata.namespace%21%3Dkube-system") != NULL);
	CHECK(strstr(body, "watch=1&allowWatchBookmarks=true&resourceVersion=") != NULL);
	CHECK(strstr(body, "Bearer test-token") != NULL);
	kube_informer_free(INF);
	kube_client_free(C);

	/* 11. an unreachable server: a transport error, not reachable */
	struct kube_config bad = { 0 };
	bad.server = strdup("http://127.0.0.1:1");
	C = kube_client_new(L, &bad, NULL);
	req_done = 0;
	kube_request(C, "/api/v1/nodes", NULL, plain_done, NULL);
	CHECK(run_until(plain_finished, 5000));
	CHECK_EQ_INT(req_status, 0);
	CHECK(req_err < 0);
	CHECK(!kube_client_reachable(C));
	kube_client_free(C);

	/* 12. a server that answers once, then goes silent on the open
	 * connection (packets dropped on the way): the probe says unreachable
	 * long before TCP would give up */
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	CHECK(ls >= 0 && bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(ls, 4) == 0 &&
	      getsockname(ls, (struct sockaddr *)&sa, &sl) == 0);
	pid_t silent = fork();
	if (silent == 0) {
		static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
		char buf[4096];
		int cs = accept(ls, NULL, NULL);
		if (cs < 0 || read(cs, buf, sizeof(buf)) <= 0 || write(cs, ok, sizeof(ok) - 1) < 0)
			_exit(1);
		pause();	/* holds the connection, never answers again */
		_exit(0);
	}
	close(ls);
	struct kube_config one = { 0 };
	CHECK(asprintf(&one.server, "http://127.0.0.1:%d", ntohs(sa.sin_port)) > 0);
	C = kube_client_new(L, &one, &(struct kube_client_opts){ .probe_ms = 300 });
	CHECK(run_until(probe_reachable, 3000));
	CHECK(run_until(probe_unreachable, 3000));
	kube_client_free(C);
	kill(silent, SIGKILL);
	waitpid(silent, NULL, 0);
	fake_stop();
	loop_free(L);
	return test_done("test_kube_informer");
}
