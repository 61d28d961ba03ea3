// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lbip/l2beat.c: the heartbeat codec (round trip, wrong key, every byte
 * tampered, malformed) and the liveness tracker under synthetic time.
 */
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "core/test.h"
#include "lbip/l2beat.h"

static const char key[] = "0123456789abcdef-shared-key";
static const char key2[] = "0123456789abcdef-shared-kez";
#define KL (sizeof(key) - 1)

static struct l2beat beat(const char *node, uint64_t boot, uint64_t seq, int64_t t, uint8_t flags)
{
	struct l2beat b = { .flags = flags, .boot_id = boot, .seq = seq, .time_ms = t, .interval_ms = 200,
			    .view = 0x1122334455667788ULL, .owned = 0xa5a5a5a5deadbeefULL, .n_owned = 7 };

	snprintf(b.node, sizeof(b.node), "%s", node);
	return b;
}

static void test_codec(void)
{
	struct l2beat b = beat("node-a.example", 0x0102030405060708ULL, 42, 1700000000123LL, L2BEAT_READY), d;
	uint8_t buf[L2BEAT_MAX], t[L2BEAT_MAX];
	const char *why;
	int n;

	n = l2beat_encode(&b, key, KL, buf, sizeof(buf));
	CHECK_EQ_INT(n, L2BEAT_HDR + 14 + SHA256_LEN);
	/* fixed header bytes, by hand */
	CHECK(!memcmp(buf, "FRL2\x01\x01\x0e\x00", 8));
	CHECK(!memcmp(buf + 8, "\x01\x02\x03\x04\x05\x06\x07\x08", 8));
	CHECK(!memcmp(buf + 16, "\0\0\0\0\0\0\0\x2a", 8));
	CHECK(!memcmp(buf + 32, "\0\0\0\xc8", 4));
	CHECK(!memcmp(buf + 52, "\0\0\0\x07node-a.example", 18));
	CHECK_EQ_INT(l2beat_decode(buf, n, key, KL, &d, &why), 0);
	CHECK_EQ_STR(d.node, b.node);
	CHECK(d.boot_id == b.boot_id && d.seq == 42 && d.time_ms == b.time_ms && d.interval_ms == 200);
	CHECK(d.view == b.view && d.owned == b.owned && d.n_owned == 7 && d.flags == L2BEAT_READY);

	/* the MAC is HMAC-SHA256 over the bytes before it */
	uint8_t mac[SHA256_LEN];

	hmac_sha256(key, KL, buf, n - SHA256_LEN, mac);
	CHECK(!memcmp(mac, buf + n - SHA256_LEN, SHA256_LEN));

	CHECK_EQ_INT(l2beat_decode(buf, n, key2, KL, &d, &why), -EACCES);
	CHECK_EQ_STR(why, "beat authentication");
	CHECK_EQ_INT(l2beat_decode(buf, n, key, 8, &d, &why), -EINVAL);
	CHECK_EQ_INT(l2beat_encode(&b, key, 8, t, sizeof(t)), -EINVAL);
	CHECK_EQ_INT(l2beat_encode(&b, key, KL, t, (size_t)n - 1), -EINVAL);

	/* every single flipped bit anywhere is refused */
	int refused = 0;

	for (int i = 0; i < n; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(t, buf, n);
			t[i] ^= (uint8_t)(1 << bit);
			refused += l2beat_decode(t, n, key, KL, &d, NULL) < 0;
		}
	CHECK_EQ_INT(refused, n * 8);
	/* every truncation, and one byte more */
	for (int len = 0; len < n; len++)
		CHECK(l2beat_decode(buf, len, key, KL, &d, NULL) == -EBADMSG);
	memcpy(t, buf, n);
	t[n] = 0;
	CHECK_EQ_INT(l2beat_decode(t, n + 1, key, KL, &d, &why), -EBADMSG);

	/* names: Node-name characters only, 1..253 */
	static const char *const bad_names[] = { "", "Upper", "sp ace", "a/b", "x\n" };

	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		struct l2beat x = beat(bad_names[i], 1, 1, 1, 0);

		CHECK_EQ_INT(l2beat_encode(&x, key, KL, t, sizeof(t)), -EINVAL);
	}
	/* a well-authenticated beat with unknown flags or a bad name is still refused */
	memcpy(t, buf, n);
	t[5] = 0x80;
	hmac_sha256(key, KL, t, n - SHA256_LEN, t + n - SHA256_LEN);
	CHECK_EQ_INT(l2beat_decode(t, n, key, KL, &d, &why), -EBADMSG);
	memcpy(t, buf, n);
	t[L2BEAT_HDR] = 'N';
	hmac_sha256(key, KL, t, n - SHA256_LEN, t + n - SHA256_LEN);
	CHECK_EQ_INT(l2beat_decode(t, n, key, KL, &d, &why), -EBADMSG);
	CHECK_EQ_STR(why, "beat node name");

	/* digest: order-independent, set-sensitive */
	uint64_t x = 0, y = 0;

	x = l2beat_digest_add(l2beat_digest_add(x, "a", 1), "b", 1);
	y = l2beat_digest_add(l2beat_digest_add(y, "b", 1), "a", 1);
	CHECK(x == y && x != l2beat_digest_add(0, "a", 1));
}

/* ---- liveness, with a clock the test moves ---- */

#define WALL 1700000000000LL

static int feed(struct l2live *t, const char *node, uint64_t boot, uint64_t seq, uint64_t now, uint8_t flags,
		uint64_t view)
{
	struct l2beat b = beat(node, boot, seq, WALL + (int64_t)now, flags);

	b.view = view;
	return l2live_beat(t, &b, now, WALL + (int64_t)now);
}

static void test_replay(void)
{
	struct l2live *t = l2live_new("self", 99, NULL, 0);
	struct l2beat b;

	CHECK(t != NULL);
	CHECK_EQ_INT(feed(t, "b", 1, 5, 100, L2BEAT_READY, 0), 0);
	CHECK_EQ_INT(feed(t, "b", 1, 5, 110, L2BEAT_READY, 0), -EALREADY);	/* same seq */
	CHECK_EQ_INT(feed(t, "b", 1, 4, 120, L2BEAT_READY, 0), -EALREADY);	/* older */
	CHECK_EQ_INT(feed(t, "b", 1, 6, 130, L2BEAT_READY, 0), 0);
	/* a new boot is accepted only with a later time than the last beat */
	b = beat("b", 2, 1, WALL + 50, 0);
	CHECK_EQ_INT(l2live_beat(t, &b, 140, WALL + 140), -EALREADY);
	b = beat("b", 2, 1, WALL + 135, 0);
	CHECK_EQ_INT(l2live_beat(t, &b, 140, WALL + 140), 0);
	/* outside the clock window, either side */
	b = beat("b", 2, 2, WALL + 140 - 10001, 0);
	CHECK_EQ_INT(l2live_beat(t, &b, 140, WALL + 140), -ETIME);
	b = beat("b", 2, 2, WALL + 140 + 10001, 0);
	CHECK_EQ_INT(l2live_beat(t, &b, 140, WALL + 140), -ETIME);
	/* our own name */
	CHECK_EQ_INT(feed(t, "self", 1, 1, 150, 0, 0), -EEXIST);
	CHECK(l2live_state(t, "self") == L2P_UNKNOWN);
	/* own beats count up */
	l2live_own_beat(t, 160, &b);
	CHECK_EQ_STR(b.node, "self");
	CHECK(b.boot_id == 99 && b.seq == 1 && !(b.flags & L2BEAT_READY));
	l2live_own_beat(t, 2000, &b);
	CHECK(b.seq == 2 && (b.flags & L2BEAT_READY));
	l2live_free(t);
	CHECK(l2live_new("Bad Name", 1, NULL, 0) == NULL);
}

/* One row: at time `at`, optionally a beat from "b" (flags), then tick;
 * then b's state and whether it counts. */
static const struct {
	uint64_t at;
	int beat;			/* -1 none, else flags */
	enum l2peer_state want;
	bool counts;
} rows[] = {
	{ 0, -1, L2P_UNKNOWN, false },
	{ 100, 0, L2P_ALIVE, false },		/* alive but still listening: not READY */
	{ 300, L2BEAT_READY, L2P_ALIVE, true },
	{ 500, L2BEAT_READY, L2P_ALIVE, true },
	{ 800, -1, L2P_ALIVE, true },		/* 300 quiet: not > 200 + 100 yet */
	{ 801, -1, L2P_SUSPECT, true },
	{ 900, -1, L2P_SUSPECT, true },		/* 400 */
	{ 1100, -1, L2P_SUSPECT, true },	/* 600 quiet, not > 700 */
	{ 1201, -1, L2P_DEAD, false },		/* 701 > 3 * 200 + 100 */
	{ 1300, L2BEAT_READY, L2P_ALIVE, true },	/* back */
	{ 1400, L2BEAT_READY | L2BEAT_LEAVING, L2P_LEAVING, false },
	{ 1600, -1, L2P_LEAVING, false },
	{ 2101, -1, L2P_DEAD, false },
	{ 2200, 0, L2P_ALIVE, false },		/* restarted, listening */
};

static void test_liveness(void)
{
	struct l2live *t = l2live_new("self", 7, NULL, 0);
	uint64_t seq = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].beat >= 0)
			CHECK_EQ_INT(feed(t, "b", 1, ++seq, rows[i].at, (uint8_t)rows[i].beat, 0), 0);
		l2live_tick(t, rows[i].at);
		if (l2live_state(t, "b") != rows[i].want)
			fprintf(stderr, "row at=%llu: state %s\n", (unsigned long long)rows[i].at,
				l2live_state_name(l2live_state(t, "b")));
		CHECK_EQ_INT(l2live_state(t, "b"), rows[i].want);
		CHECK_EQ_INT(l2live_counts(t, "b", rows[i].at), rows[i].counts);
	}
	CHECK(!l2live_counts(t, "never-heard", 0));
	l2live_forget(t, "b");
	CHECK(l2live_state(t, "b") == L2P_UNKNOWN);
	l2live_free(t);
}

/* Listen before claim, the view, and the take rule. */
static void test_claim(void)
{
	struct l2live *t = l2live_new("self", 7, NULL, 1000);
	uint64_t v_self, v_both;

	/* detection 700 + one interval 200: ready at 1900 */
	CHECK(!l2live_ready(t, 1000) && !l2live_ready(t, 1899) && l2live_ready(t, 1900));
	CHECK(!l2live_counts(t, "self", 1899) && l2live_counts(t, "self", 1900));
	CHECK(!l2live_may_take(t, 1899, NULL));
	CHECK(l2live_next_ms(t, 1800) == 1900);
	v_self = l2beat_digest_add(0, "self", 4);
	v_both = l2beat_digest_add(v_self, "b", 1);
	CHECK(l2live_view(t, 1900) == v_self);

	/* b is ready and counts only self... */
	CHECK_EQ_INT(feed(t, "b", 1, 1, 1900, L2BEAT_READY, l2beat_digest_add(0, "b", 1)), 0);
	CHECK(l2live_view(t, 1900) == v_both);
	CHECK(!l2live_may_take(t, 1900, "b"));	/* b has not counted us yet */
	CHECK(!l2live_agreed(t, 1900));
	/* ...then b's beat shows the same view: go */
	CHECK_EQ_INT(feed(t, "b", 1, 2, 2100, L2BEAT_READY, v_both), 0);
	CHECK(l2live_may_take(t, 2100, "b") && l2live_agreed(t, 2100));
	/* a view that stays different blocks taking for a detection time only */
	CHECK_EQ_INT(feed(t, "b", 1, 3, 2300, L2BEAT_READY, 12345), 0);
	CHECK(!l2live_may_take(t, 2300, NULL));
	CHECK_EQ_INT(feed(t, "b", 1, 4, 2500, L2BEAT_READY, 12345), 0);
	CHECK_EQ_INT(feed(t, "b", 1, 5, 2700, L2BEAT_READY, 12345), 0);
	CHECK_EQ_INT(feed(t, "b", 1, 6, 2900, L2BEAT_READY, 12345), 0);
	CHECK(!l2live_may_take(t, 2999, NULL));
	CHECK(l2live_may_take(t, 3000, NULL));		/* nobody answered before */
	CHECK(l2live_may_take(t, 3000, "gone"));	/* the old owner is not heard */
	CHECK(!l2live_may_take(t, 3000, "b"));		/* b still answers: never overrun it */
	/* our link came back: listen again, take nothing */
	l2live_relisten(t, 3100);
	CHECK(!l2live_ready(t, 3500) && !l2live_may_take(t, 3500, NULL));
	CHECK(l2live_view(t, 3500) == l2beat_digest_add(0, "b", 1) || !l2live_counts(t, "b", 3500));
	l2live_free(t);
}

static void walk_count(void *ctx, const struct l2peer_info *p)
{
	(*(int *)ctx) += p->n_owned;
}

static void test_keys(void)
{
	struct l2beat_keys k;
	const char *why = NULL;
	static const char two[] = "0123456789abcdef-old\r\n\n0123456789abcdef-new\n";
	static const char nul[] = "0123456789abcdef\0xyz\n";

	CHECK_EQ_INT(l2beat_keys_parse(two, strlen(two), &k, &why), 0);
	CHECK(k.n == 2 && k.len[0] == 20 && !memcmp(k.k[0], "0123456789abcdef-old", 20));
	CHECK(k.len[1] == 20 && !memcmp(k.k[1], "0123456789abcdef-new", 20));
	/* no trailing newline, one key */
	CHECK_EQ_INT(l2beat_keys_parse("0123456789abcdef", 16, &k, &why), 0);
	CHECK(k.n == 1 && k.len[0] == 16);
	CHECK_EQ_INT(l2beat_keys_parse("short\n", 6, &k, &why), -EINVAL);
	CHECK_EQ_INT(l2beat_keys_parse("\n\r\n", 3, &k, &why), -EINVAL);
	CHECK_EQ_INT(l2beat_keys_parse("", 0, &k, &why), -EINVAL);
	CHECK_EQ_INT(l2beat_keys_parse(nul, sizeof(nul) - 1, &k, &why), -EINVAL);
	CHECK_EQ_INT(l2beat_keys_parse("0123456789abcdef\n0123456789abcdeg\n0123456789abcdeh\n", 51, &k,
					&why), -EINVAL);
	{
		char big[300];

		memset(big, 'a', sizeof(big));
		CHECK_EQ_INT(l2beat_keys_parse(big, 257, &k, &why), -EINVAL);
		CHECK_EQ_INT(l2beat_keys_parse(big, 256, &k, &why), 0);
	}
}

int main(void)
{
	log_set_stream(stdout);
	test_codec();
	test_replay();
	test_liveness();
	test_claim();
	test_keys();
	struct l2live *t = l2live_new("self", 1, NULL, 0);
	int n = 0;

	feed(t, "x", 1, 1, 10, 0, 0);
	feed(t, "y", 1, 1, 10, 0, 0);
	l2live_walk(t, walk_count, &n);
	CHECK_EQ_INT(n, 14);
	/* one peer's last beat: what it announces (the owned digest) */
	{
		struct l2peer_info pi;
		struct l2beat b = beat("x", 1, 2, WALL + 20, L2BEAT_READY);

		b.owned = 0x1234;
		b.n_owned = 3;
		CHECK_EQ_INT(l2live_beat(t, &b, 20, WALL + 20), 0);
		CHECK(l2live_peer(t, "x", &pi));
		CHECK(pi.owned == 0x1234 && pi.n_owned == 3 && pi.seq == 2 && !strcmp(pi.node, "x"));
		b.seq = 3;
		b.owned = 0x99;
		CHECK_EQ_INT(l2live_beat(t, &b, 30, WALL + 30), 0);
		CHECK(l2live_peer(t, "x", &pi) && pi.owned == 0x99);
		b.seq = 3;	/* a replay changes nothing */
		b.owned = 0x77;
		CHECK_EQ_INT(l2live_beat(t, &b, 40, WALL + 40), -EALREADY);
		CHECK(l2live_peer(t, "x", &pi) && pi.owned == 0x99);
		CHECK(!l2live_peer(t, "nobody", &pi));
	}
	l2live_free(t);
	return test_done("lbip_l2beat");
}
