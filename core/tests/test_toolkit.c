/* SPDX-License-Identifier: GPL-2.0-or-later */
/* core/hash.h, core/vec.h, core/file.h */
#include "core/file.h"
#include "core/hash.h"
#include "core/nlframe.h"
#include "core/test.h"
#include "core/vec.h"

#include <errno.h>
#include <limits.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct item {
	struct hnode node;
	char key[16];
	int value;
};

static struct item *find(struct htab *t, const char *key)
{
	uint64_t h = hash_str(key, HASH_SEED);

	for (struct hnode *n = htab_first(t, h); n; n = htab_next(n, h)) {
		struct item *it = container_of(n, struct item, node);
		if (!strcmp(it->key, key))
			return it;
	}
	return NULL;
}

static void test_hash(void)
{
	/* FNV-1a 64 reference values */
	CHECK(hash_str("", HASH_SEED) == 0xcbf29ce484222325ULL);
	CHECK(hash_str("a", HASH_SEED) == 0xaf63dc4c8601ec8cULL);
	CHECK(hash_str("foobar", HASH_SEED) == 0x85944171f73967e8ULL);
	CHECK(hash_bytes("foobar", 6, HASH_SEED) == hash_str("foobar", HASH_SEED));
	/* chaining equals hashing the concatenation */
	CHECK(hash_str("bar", hash_str("foo", HASH_SEED)) == hash_str("foobar", HASH_SEED));
}

static void test_htab(void)
{
	enum { N = 5000 };
	struct htab t = { 0 };
	struct item *items = calloc(N, sizeof(*items));
	int walked = 0;

	CHECK(find(&t, "x") == NULL);	/* empty table, no buckets */
	for (int i = 0; i < N; i++) {
		snprintf(items[i].key, sizeof(items[i].key), "k%d", i);
		items[i].value = i;
		CHECK_EQ_INT(htab_add(&t, &items[i].node, hash_str(items[i].key, HASH_SEED)), 0);
	}
	CHECK_EQ_INT(t.count, N);
	CHECK(t.n_buckets >= N);	/* grew */
	for (int i = 0; i < N; i += 97) {
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		CHECK(find(&t, k) && find(&t, k)->value == i);
	}
	CHECK(find(&t, "nope") == NULL);
	/* delete every even entry while walking */
	HTAB_WALK(&t, n) {
		struct item *it = container_of(n, struct item, node);
		walked++;
		if (it->value % 2 == 0)
			htab_del(&t, n);
	}
	CHECK_EQ_INT(walked, N);
	CHECK_EQ_INT(t.count, N / 2);
	CHECK(find(&t, "k2") == NULL);
	CHECK(find(&t, "k3") != NULL);
	/* colliding hashes: both found by key */
	struct item a = { .key = "a", .value = 1 }, b = { .key = "b", .value = 2 };
	struct htab c = { 0 };
	htab_add(&c, &a.node, 42);
	htab_add(&c, &b.node, 42);
	int seen = 0;
	for (struct hnode *n = htab_first(&c, 42); n; n = htab_next(n, 42))
		seen += container_of(n, struct item, node)->value;
	CHECK_EQ_INT(seen, 3);
	CHECK(htab_first(&c, 43) == NULL);
	htab_free(&c);
	htab_free(&t);
	free(items);
}

static void test_vec(void)
{
	VEC(int) v = { 0 };
	int *raw = NULL;
	size_t cap = 0;

	for (int i = 0; i < 1000; i++)
		CHECK_EQ_INT(vec_push(&v, i), 0);
	CHECK_EQ_INT(v.n, 1000);
	CHECK(v.cap >= 1000);
	CHECK_EQ_INT(v.v[999], 999);
	vec_free(&v);
	CHECK(v.v == NULL && v.n == 0);

	CHECK_EQ_INT(vec_grow((void **)&raw, &cap, 3, sizeof(*raw)), 0);
	CHECK_EQ_INT(cap, 8);
	CHECK_EQ_INT(vec_grow((void **)&raw, &cap, 8, sizeof(*raw)), 0);
	CHECK_EQ_INT(cap, 8);	/* enough already */
	CHECK_EQ_INT(vec_grow((void **)&raw, &cap, 9, sizeof(*raw)), 0);
	CHECK_EQ_INT(cap, 16);
	/* an impossible size fails and keeps the array */
	CHECK_EQ_INT(vec_grow((void **)&raw, &cap, SIZE_MAX / 2, 16), -ENOMEM);
	CHECK_EQ_INT(cap, 16);
	CHECK(raw != NULL);
	free(raw);
}

static void test_file(void)
{
	char path[] = "/tmp/ferry-test-file-XXXXXX";
	int fd = mkstemp(path);
	char *buf = NULL, big[10000];
	size_t len = 0;

	CHECK(fd >= 0);
	memset(big, 'x', sizeof(big));
	CHECK(write(fd, big, sizeof(big)) == (ssize_t)sizeof(big));
	close(fd);
	CHECK_EQ_INT(file_read(path, 1 << 20, &buf, &len), 0);
	CHECK_EQ_INT(len, sizeof(big));
	CHECK(buf && buf[len] == '\0' && buf[0] == 'x' && buf[len - 1] == 'x');
	free(buf);
	buf = NULL;
	CHECK_EQ_INT(file_read(path, 100, &buf, &len), -EFBIG);
	CHECK(buf == NULL);
	unlink(path);
	CHECK_EQ_INT(file_read(path, 100, &buf, &len), -ENOENT);
	/* an empty file is an empty string */
	strcpy(path, "/tmp/ferry-test-file-XXXXXX");
	fd = mkstemp(path);
	close(fd);
	CHECK_EQ_INT(file_read(path, 100, &buf, &len), 0);
	CHECK(buf && len == 0 && buf[0] == '\0');
	free(buf);
	unlink(path);
}

/* netlink frames as libmnl must never see them */
static void test_nlframe(void)
{
	struct nlmsghdr h[3];
	unsigned char buf[64];

	memset(h, 0, sizeof(h));
	h[0].nlmsg_len = sizeof(h[0]);
	h[1].nlmsg_len = sizeof(h[1]);
	CHECK(nl_frames_ok(h, 2 * sizeof(h[0])));
	CHECK(nl_frames_ok(h, 2 * sizeof(h[0]) + 3));	/* a short tail: libmnl stops there */
	CHECK(nl_frames_ok(h, 0));
	h[1].nlmsg_len = 0x9c000000;			/* negative as an int */
	CHECK(!nl_frames_ok(h, 2 * sizeof(h[0])));
	h[1].nlmsg_len = 3;				/* shorter than a header */
	CHECK(!nl_frames_ok(h, 2 * sizeof(h[0])));
	h[1].nlmsg_len = sizeof(h[1]) + 1;		/* past the end */
	CHECK(!nl_frames_ok(h, 2 * sizeof(h[0])));
	/* an unaligned start is copied, not dereferenced */
	memcpy(buf + 1, h, sizeof(h[0]));
	CHECK(nl_frames_ok(buf + 1, sizeof(h[0])));
	/* an NLMSG_ERROR's code lands in errno as sent */
	errno = INT_MIN;
	CHECK(nl_errno() == -EPROTO);
	errno = 0;
	CHECK(nl_errno() == -EPROTO);
	errno = ENOENT;
	CHECK(nl_errno() == -ENOENT);
}

int main(void)
{
	test_hash();
	test_htab();
	test_vec();
	test_file();
	test_nlframe();
	return test_done("core_toolkit");
}
