/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "kube/watch.h"
#include "core/test.h"
#include "kube/tests/util.h"

#include <errno.h>
#include <json-c/json.h>

static char got[64][64];
static int n_got;

static int record(void *arg, enum kube_watch_type t, struct json_object *o)
{
	struct json_object *md, *rv;
	const char *r = "-";

	if (json_object_object_get_ex(o, "metadata", &md) && json_object_object_get_ex(md, "resourceVersion", &rv))
		r = json_object_get_string(rv);
	if (n_got < 64)
		snprintf(got[n_got++], 64, "%s %s", kube_watch_type_name(t), r);
	return 0;
}

static const char *const want_services[] = {
	"ADDED 48213", "MODIFIED 48300", "ADDED 48250", "BOOKMARK 48400", "DELETED 48500",
};

/* The same stream, cut into chunks of every size from 1 byte up, gives the
 * same events. */
static void test_chunks(void)
{
	size_t len;
	char *s = slurp("watch-services.jsonl", &len);

	for (size_t chunk = 1; chunk <= len; chunk = chunk < 64 ? chunk + 1 : chunk * 2) {
		struct kube_watch_parser *p = kube_watch_parser_new(1 << 20, record, NULL);
		int rc = 0;

		n_got = 0;
		for (size_t off = 0; off < len && rc == 0; off += chunk)
			rc = kube_watch_feed(p, s + off, off + chunk > len ? len - off : chunk);
		CHECK_EQ_INT(rc, 0);
		CHECK_EQ_INT(n_got, 5);
		for (int i = 0; i < 5 && i < n_got; i++)
			CHECK_EQ_STR(got[i], want_services[i]);
		CHECK(!kube_watch_parser_midway(p));
		kube_watch_parser_free(p);
	}
	free(s);
}

static void test_truncated(void)
{
	size_t len;
	char *s = slurp("watch-services.jsonl", &len);
	struct kube_watch_parser *p = kube_watch_parser_new(1 << 20, record, NULL);

	n_got = 0;
	CHECK_EQ_INT(kube_watch_feed(p, s, len - 100), 0);
	CHECK_EQ_INT(n_got, 4);
	CHECK(kube_watch_parser_midway(p));
	kube_watch_parser_reset(p);
	CHECK(!kube_watch_parser_midway(p));
	n_got = 0;
	CHECK_EQ_INT(kube_watch_feed(p, s, len), 0);
	CHECK_EQ_INT(n_got, 5);
	kube_watch_parser_free(p);
	free(s);
}

static void test_error_event(void)
{
	size_t len;
	char *s = slurp("watch-error-410.jsonl", &len);
	struct kube_watch_parser *p = kube_watch_parser_new(1 << 20, record, NULL);

	n_got = 0;
	CHECK_EQ_INT(kube_watch_feed(p, s, len), 0);
	CHECK_EQ_INT(n_got, 2);
	CHECK_EQ_STR(got[1], "ERROR -");
	kube_watch_parser_free(p);
	free(s);
}

static int stop_at_first(void *arg, enum kube_watch_type t, struct json_object *o)
{
	n_got++;
	return -EPROTO;
}

static void test_bad(void)
{
	static const struct { const char *in; int rc; int events; } rows[] = {
		{ "{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"NOPE\",\"object\":{}}", -EBADMSG, 1 },
		{ "{\"type\":\"ADDED\"}", -EBADMSG, 0 },
		{ "{\"type\":1,\"object\":{}}", -EBADMSG, 0 },
		{ "{\"type\":\"ADDED\",\"object\":[]}", -EBADMSG, 0 },
		{ "{\"type\":\"ADDED\",\"object\":{}} ]", -EBADMSG, 1 },
		{ "{\"type\":\"ADDED\",\"object\":{\"a\":tru}}", -EBADMSG, 0 },
		{ "null\n", -EBADMSG, 0 },
		{ "[{\"type\":\"ADDED\",\"object\":{}}]", -EBADMSG, 0 },
		{ "\n\n  \r\n", 0, 0 },
		{ "{\"type\":\"ADDED\",\"object\":{\"x\":\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"}}", -EMSGSIZE, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct kube_watch_parser *p = kube_watch_parser_new(64, record, NULL);
		int rc;

		n_got = 0;
		rc = kube_watch_feed(p, rows[i].in, strlen(rows[i].in));
		if (rc != rows[i].rc)
			fprintf(stderr, "row %zu: rc %d err %s\n", i, rc, kube_watch_parser_error(p));
		CHECK_EQ_INT(rc, rows[i].rc);
		CHECK_EQ_INT(n_got, rows[i].events);
		if (rc < 0) {
			CHECK(kube_watch_parser_error(p)[0] != 0);
			/* broken until reset */
			CHECK_EQ_INT(kube_watch_feed(p, "{}", 2), -EBADMSG);
		}
		kube_watch_parser_free(p);
	}
	/* the size limit also holds when the big event comes 1 byte at a time */
	struct kube_watch_parser *p = kube_watch_parser_new(64, record, NULL);
	const char *big = rows[9].in;
	int rc = 0;

	for (size_t i = 0; big[i] && rc == 0; i++)
		rc = kube_watch_feed(p, big + i, 1);
	CHECK_EQ_INT(rc, -EMSGSIZE);
	kube_watch_parser_free(p);

	/* a receiver's refusal stops the stream and comes back */
	p = kube_watch_parser_new(1 << 20, stop_at_first, NULL);
	n_got = 0;
	CHECK_EQ_INT(kube_watch_feed(p, "{\"type\":\"ERROR\",\"object\":{}}{\"type\":\"ADDED\",\"object\":{}}", 56), -EPROTO);
	CHECK_EQ_INT(n_got, 1);
	kube_watch_parser_free(p);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		data_dir = argv[1];
	test_chunks();
	test_truncated();
	test_error_event();
	test_bad();
	return test_done("test_kube_watch");
}
