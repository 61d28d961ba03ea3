/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The layer-2 speaker's heartbeat key file (docs/l2.md, "The key"): an
 * absent or bad --l2-key-file no longer stops the agent; the speaker waits
 * (ferry_l2_key_loaded 0), starts when a good key appears, takes a changed
 * key without a restart, and keeps the last good key when the file turns
 * bad or vanishes. Needs CAP_NET_RAW for l2io (ctest runs it as root under
 * `unshare -n`); exit 77 (skipped) otherwise.
 */
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/test.h"
#include "src/l2speaker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct loop *L;
static struct metrics *M;
static char path[256];

static void spin(int ms)
{
	uint64_t end = loop_now_ms() + (uint64_t)ms;

	while (loop_now_ms() < end)
		loop_run_once(L, 10);
}

static int loaded(void)
{
	char *t = metrics_text(M);
	const char *p = t ? strstr(t, "\nferry_l2_key_loaded ") : NULL;
	int v = p ? atoi(p + strlen("\nferry_l2_key_loaded ")) : -1;

	free(t);
	return v;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void put(const char *text)
{
	char tmp[300];
	FILE *f;

	/* as the kubelet does: a new file renamed over the old */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
	CHECK(rename(tmp, path) == 0);
}

int main(void)
{
	struct kube_informer *inf[KUBE_KIND_COUNT] = { 0 };
	struct l2speaker_opts o = { .key_poll_ms = 20 };
	struct consumer_env env = { 0 };
	char dir[] = "/tmp/ferry-l2key-XXXXXX";
	char *logbuf = NULL;
	size_t loglen = 0;
	FILE *logf;
	void *s;

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root (AF_PACKET) in a throw-away namespace\n");
		return 77;
	}
	CHECK((logf = open_memstream(&logbuf, &loglen)) != NULL);
	log_set_stream(logf);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/key", dir);
	L = loop_new();
	M = metrics_new();
	env = (struct consumer_env){ .loop = L, .node_name = "node1", .inf = inf, .metrics = M };
	o.key_file = path;

	/* no file: the agent goes on, layer 2 waits; the caches sync while
	 * it waits (the key comes later than the first lists) */
	s = l2speaker_consumer.start(&env, &o);
	CHECK(s != NULL);
	CHECK_EQ_INT(loaded(), 0);
	l2speaker_consumer.synced(s);
	spin(60);
	CHECK_EQ_INT(loaded(), 0);
	/* a bad key (too short) changes nothing; each reason is said once */
	put("short\n");
	spin(60);
	CHECK_EQ_INT(loaded(), 0);
	fflush(logf);
	CHECK_EQ_INT(count(logbuf, "waits for the heartbeat key"), 2);
	/* a good one starts the speaker, without a restart */
	put("0123456789abcdef0123456789abcdef\n");
	spin(60);
	CHECK_EQ_INT(loaded(), 1);
	/* rotation: a second key, then the file gone; the speaker stays */
	put("fedcba9876543210fedcba9876543210\n0123456789abcdef0123456789abcdef\n");
	spin(60);
	CHECK_EQ_INT(loaded(), 1);
	CHECK(unlink(path) == 0);
	spin(60);
	CHECK_EQ_INT(loaded(), 1);
	fflush(logf);
	CHECK_EQ_INT(count(logbuf, "heartbeat key loaded"), 1);
	CHECK_EQ_INT(count(logbuf, "heartbeat key changed"), 1);
	CHECK_EQ_INT(count(logbuf, "keeping the last good one"), 1);
	l2speaker_consumer.stop(s);
	metrics_free(M);

	/* a good key at start: running at once */
	M = metrics_new();
	env.metrics = M;
	put("0123456789abcdef0123456789abcdef\n");
	s = l2speaker_consumer.start(&env, &o);
	CHECK(s != NULL);
	CHECK_EQ_INT(loaded(), 1);
	l2speaker_consumer.stop(s);
	metrics_free(M);

	/* --l2=false: inert */
	o.disabled = true;
	s = l2speaker_consumer.start(&env, &o);
	CHECK(s != NULL);
	l2speaker_consumer.stop(s);

	unlink(path);
	rmdir(dir);
	loop_free(L);
	log_set_stream(stderr);
	fclose(logf);
	free(logbuf);
	return test_done("src_l2key");
}
