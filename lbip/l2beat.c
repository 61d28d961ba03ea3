// SPDX-License-Identifier: GPL-2.0-or-later
/* The layer-2 heartbeat codec and liveness tracker (see l2beat.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "lbip/l2beat.h"

static const uint8_t magic[4] = { 'F', 'R', 'L', '2' };

#define MAX_PEERS 10000

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* Node names are DNS subdomains; nothing else is let through to the log. */
static bool name_ok(const char *s, size_t n)
{
	if (n < 1 || n > L2BEAT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

int l2beat_encode(const struct l2beat *b, const void *key, size_t klen, uint8_t *buf, size_t len)
{
	size_t nl = strnlen(b->node, sizeof(b->node)), total = L2BEAT_HDR + nl + SHA256_LEN;

	if (klen < L2BEAT_KEY_MIN || !name_ok(b->node, nl) || len < total)
		return -EINVAL;
	memcpy(buf, magic, 4);
	buf[4] = L2BEAT_VERSION;
	buf[5] = b->flags & (L2BEAT_READY | L2BEAT_LEAVING);
	buf[6] = (uint8_t)nl;
	buf[7] = 0;
	put64(buf + 8, b->boot_id);
	put64(buf + 16, b->seq);
	put64(buf + 24, (uint64_t)b->time_ms);
	put32(buf + 32, b->interval_ms);
	put64(buf + 36, b->view);
	put64(buf + 44, b->owned);
	put32(buf + 52, b->n_owned);
	memcpy(buf + L2BEAT_HDR, b->node, nl);
	hmac_sha256(key, klen, buf, L2BEAT_HDR + nl, buf + L2BEAT_HDR + nl);
	return (int)total;
}

static int bad(const char **why, const char *what)
{
	if (why)
		*why = what;
	return -EBADMSG;
}

int l2beat_decode(const uint8_t *p, size_t n, const void *key, size_t klen, struct l2beat *b,
		  const char **why)
{
	uint8_t mac[SHA256_LEN];
	size_t nl;

	memset(b, 0, sizeof(*b));
	if (why)
		*why = "";
	if (klen < L2BEAT_KEY_MIN)
		return -EINVAL;
	if (n < L2BEAT_HDR + 1 + SHA256_LEN)
		return bad(why, "beat too short");
	if (memcmp(p, magic, 4))
		return bad(why, "beat magic");
	if (p[4] != L2BEAT_VERSION)
		return bad(why, "beat version");
	nl = p[6];
	if (n != L2BEAT_HDR + nl + SHA256_LEN)
		return bad(why, "beat length does not match its name length");
	/* authenticate before reading anything else */
	hmac_sha256(key, klen, p, L2BEAT_HDR + nl, mac);
	if (!sha256_ct_equal(mac, p + L2BEAT_HDR + nl, SHA256_LEN)) {
		if (why)
			*why = "beat authentication";
		return -EACCES;
	}
	if (p[5] & ~(L2BEAT_READY | L2BEAT_LEAVING) || p[7])
		return bad(why, "beat unknown flags");
	if (!name_ok((const char *)p + L2BEAT_HDR, nl))
		return bad(why, "beat node name");
	b->flags = p[5];
	b->boot_id = get64(p + 8);
	b->seq = get64(p + 16);
	b->time_ms = (int64_t)get64(p + 24);
	b->interval_ms = get32(p + 32);
	b->view = get64(p + 36);
	b->owned = get64(p + 44);
	b->n_owned = get32(p + 52);
	memcpy(b->node, p + L2BEAT_HDR, nl);
	b->node[nl] = 0;
	return 0;
}

uint64_t l2beat_digest_add(uint64_t d, const void *p, size_t n)
{
	/* a sum of FNV hashes: independent of the order members are added */
	return d + hash_bytes(p, n, HASH_SEED);
}

/* ---- liveness ---- */

enum l2peer_event { EV_BEAT, EV_LEAVING, EV_QUIET_SUSPECT, EV_QUIET_DEAD };
#define EV_N 4

static const char *const ev_names[EV_N] = { "beat", "leaving-beat", "quiet-suspect", "quiet-dead" };
static const char *const state_names[L2P_N] = { "unknown", "alive", "suspect", "dead", "leaving" };

static const enum l2peer_state next_state[L2P_N][EV_N] = {
	[L2P_UNKNOWN] = { L2P_ALIVE, L2P_LEAVING, L2P_UNKNOWN, L2P_DEAD },
	[L2P_ALIVE] = { L2P_ALIVE, L2P_LEAVING, L2P_SUSPECT, L2P_DEAD },
	[L2P_SUSPECT] = { L2P_ALIVE, L2P_LEAVING, L2P_SUSPECT, L2P_DEAD },
	[L2P_DEAD] = { L2P_ALIVE, L2P_LEAVING, L2P_DEAD, L2P_DEAD },
	[L2P_LEAVING] = { L2P_ALIVE, L2P_LEAVING, L2P_LEAVING, L2P_DEAD },
};

struct peer {
	struct hnode node;
	char name[L2BEAT_NAME_MAX + 1];
	enum l2peer_state state;
	uint64_t last_ms;		/* monotonic, ours */
	int64_t last_time_ms;		/* the sender's wall clock in its last beat */
	uint64_t boot_id, seq, view;
	uint8_t flags;
	uint32_t n_owned;
	uint64_t owned;
};

struct l2live {
	char self[L2BEAT_NAME_MAX + 1];
	struct l2live_params p;
	uint64_t boot_id, seq;
	uint64_t listen_ms;		/* when we (re)started listening */
	uint64_t disagree_ms;		/* since when views differ; 0 = they agree */
	struct htab peers;
};

const char *l2live_state_name(enum l2peer_state s)
{
	return (unsigned)s < L2P_N ? state_names[s] : "?";
}

static uint64_t dead_ms(const struct l2live *t)
{
	return (uint64_t)t->p.interval_ms * t->p.dead_after + t->p.jitter_ms;
}

static uint64_t suspect_ms(const struct l2live *t)
{
	return (uint64_t)t->p.interval_ms + t->p.jitter_ms;
}

/* The one place a peer changes state. */
static void transition(struct peer *pe, enum l2peer_event ev, uint64_t now_ms, int *changed)
{
	enum l2peer_state to = next_state[pe->state][ev];

	if (to == pe->state)
		return;
	log_info("l2", "peer state", "node=%s from=%s to=%s event=%s quiet_ms=%llu", pe->name,
		 state_names[pe->state], state_names[to], ev_names[ev],
		 (unsigned long long)(now_ms - pe->last_ms));
	pe->state = to;
	if (changed)
		(*changed)++;
}

static struct peer *find(const struct l2live *t, const char *name)
{
	uint64_t h = hash_str(name, HASH_SEED);

	for (struct hnode *n = htab_first(&t->peers, h); n; n = htab_next(n, h)) {
		struct peer *pe = container_of(n, struct peer, node);

		if (!strcmp(pe->name, name))
			return pe;
	}
	return NULL;
}

struct l2live *l2live_new(const char *self, uint64_t boot_id, const struct l2live_params *p,
			  uint64_t now_ms)
{
	static const struct l2live_params defaults = L2LIVE_DEFAULTS;
	struct l2live *t;

	if (!self || !name_ok(self, strlen(self)))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	snprintf(t->self, sizeof(t->self), "%s", self);
	t->p = p ? *p : defaults;
	if (!t->p.interval_ms)
		t->p.interval_ms = defaults.interval_ms;
	if (!t->p.dead_after)
		t->p.dead_after = defaults.dead_after;
	if (t->p.window_ms <= 0)
		t->p.window_ms = defaults.window_ms;
	t->boot_id = boot_id;
	l2live_relisten(t, now_ms);
	return t;
}

void l2live_free(struct l2live *t)
{
	if (!t)
		return;
	HTAB_WALK(&t->peers, n) {
		htab_del(&t->peers, n);
		free(container_of(n, struct peer, node));
	}
	htab_free(&t->peers);
	free(t);
}

void l2live_relisten(struct l2live *t, uint64_t now_ms)
{
	log_info("l2", "listening before claiming", "ms=%llu",
		 (unsigned long long)(dead_ms(t) + t->p.interval_ms));
	t->listen_ms = now_ms;
	t->disagree_ms = 0;
}

bool l2live_ready(const struct l2live *t, uint64_t now_ms)
{
	return now_ms - t->listen_ms >= dead_ms(t) + t->p.interval_ms;
}

static bool peer_counts(const struct peer *pe)
{
	return (pe->state == L2P_ALIVE || pe->state == L2P_SUSPECT) && (pe->flags & L2BEAT_READY);
}

bool l2live_counts(const struct l2live *t, const char *node, uint64_t now_ms)
{
	const struct peer *pe;

	if (!strcmp(node, t->self))
		return l2live_ready(t, now_ms);
	pe = find(t, node);
	return pe && peer_counts(pe);
}

enum l2peer_state l2live_state(const struct l2live *t, const char *node)
{
	const struct peer *pe = find(t, node);

	return pe ? pe->state : L2P_UNKNOWN;
}

uint64_t l2live_view(const struct l2live *t, uint64_t now_ms)
{
	uint64_t d = 0;

	if (l2live_ready(t, now_ms))
		d = l2beat_digest_add(d, t->self, strlen(t->self));
	HTAB_WALK(&t->peers, n) {
		struct peer *pe = container_of(n, struct peer, node);

		if (peer_counts(pe))
			d = l2beat_digest_add(d, pe->name, strlen(pe->name));
	}
	return d;
}

static void update_agree(struct l2live *t, uint64_t now_ms)
{
	uint64_t v = l2live_view(t, now_ms);
	bool agree = true;

	HTAB_WALK(&t->peers, n) {
		struct peer *pe = container_of(n, struct peer, node);

		/* a peer still listening will count soon: wait for it too */
		if ((pe->state == L2P_ALIVE || pe->state == L2P_SUSPECT) &&
		    (!(pe->flags & L2BEAT_READY) || pe->view != v))
			agree = false;
	}
	/* while we listen we take nothing: the fallback clock starts once ready */
	if (agree || !l2live_ready(t, now_ms))
		t->disagree_ms = 0;
	else if (!t->disagree_ms)
		t->disagree_ms = now_ms ? now_ms : 1;
}

bool l2live_agreed(struct l2live *t, uint64_t now_ms)
{
	update_agree(t, now_ms);
	return !t->disagree_ms;
}

bool l2live_may_take(struct l2live *t, uint64_t now_ms, const char *prev)
{
	if (!l2live_ready(t, now_ms))
		return false;
	if (l2live_agreed(t, now_ms))
		return true;
	return now_ms - t->disagree_ms >= dead_ms(t) && (!prev || !l2live_counts(t, prev, now_ms));
}

int l2live_beat(struct l2live *t, const struct l2beat *b, uint64_t now_ms, int64_t wall_ms)
{
	struct peer *pe;
	int64_t skew = wall_ms - b->time_ms;

	if (!strcmp(b->node, t->self))
		return -EEXIST;
	if (skew > t->p.window_ms || skew < -t->p.window_ms)
		return -ETIME;
	pe = find(t, b->node);
	if (pe) {
		if (b->boot_id == pe->boot_id ? b->seq <= pe->seq : b->time_ms <= pe->last_time_ms)
			return -EALREADY;
		if (b->boot_id != pe->boot_id)
			log_info("l2", "peer restarted", "node=%s", pe->name);
	} else {
		if (t->peers.count >= MAX_PEERS)
			return -ENOSPC;
		pe = calloc(1, sizeof(*pe));
		if (!pe)
			return -ENOMEM;
		snprintf(pe->name, sizeof(pe->name), "%s", b->node);
		pe->state = L2P_UNKNOWN;
		if (htab_add(&t->peers, &pe->node, hash_str(pe->name, HASH_SEED))) {
			free(pe);
			return -ENOMEM;
		}
	}
	pe->last_ms = now_ms;
	pe->last_time_ms = b->time_ms;
	pe->boot_id = b->boot_id;
	pe->seq = b->seq;
	pe->view = b->view;
	pe->flags = b->flags;
	pe->n_owned = b->n_owned;
	pe->owned = b->owned;
	transition(pe, (b->flags & L2BEAT_LEAVING) ? EV_LEAVING : EV_BEAT, now_ms, NULL);
	update_agree(t, now_ms);
	return 0;
}

int l2live_tick(struct l2live *t, uint64_t now_ms)
{
	int changed = 0;

	HTAB_WALK(&t->peers, n) {
		struct peer *pe = container_of(n, struct peer, node);
		uint64_t quiet = now_ms - pe->last_ms;

		if (quiet > dead_ms(t))
			transition(pe, EV_QUIET_DEAD, now_ms, &changed);
		else if (quiet > suspect_ms(t))
			transition(pe, EV_QUIET_SUSPECT, now_ms, &changed);
	}
	update_agree(t, now_ms);
	return changed;
}

uint64_t l2live_next_ms(const struct l2live *t, uint64_t now_ms)
{
	uint64_t next = now_ms + t->p.interval_ms;

	if (!l2live_ready(t, now_ms) && t->listen_ms + dead_ms(t) + t->p.interval_ms < next)
		next = t->listen_ms + dead_ms(t) + t->p.interval_ms;
	HTAB_WALK(&t->peers, n) {
		struct peer *pe = container_of(n, struct peer, node);
		uint64_t at = 0;

		/* just past the next threshold this peer has not crossed yet */
		if (pe->state == L2P_ALIVE)
			at = pe->last_ms + suspect_ms(t) + 1;
		else if (pe->state == L2P_SUSPECT || pe->state == L2P_LEAVING || pe->state == L2P_UNKNOWN)
			at = pe->last_ms + dead_ms(t) + 1;
		if (at && at < next)
			next = at > now_ms ? at : now_ms;
	}
	return next;
}

void l2live_forget(struct l2live *t, const char *node)
{
	struct peer *pe = find(t, node);

	if (!pe)
		return;
	htab_del(&t->peers, &pe->node);
	free(pe);
}

void l2live_own_beat(struct l2live *t, uint64_t now_ms, struct l2beat *b)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->node, sizeof(b->node), "%s", t->self);
	b->boot_id = t->boot_id;
	b->seq = ++t->seq;
	b->interval_ms = t->p.interval_ms;
	b->flags = l2live_ready(t, now_ms) ? L2BEAT_READY : 0;
	b->view = l2live_view(t, now_ms);
}

static void peer_info(const struct peer *pe, struct l2peer_info *i)
{
	*i = (struct l2peer_info){ pe->name, pe->state, pe->last_ms, pe->boot_id, pe->seq,
				   pe->flags, pe->n_owned, pe->owned };
}

void l2live_walk(const struct l2live *t, void (*fn)(void *ctx, const struct l2peer_info *p), void *ctx)
{
	HTAB_WALK(&t->peers, n) {
		struct l2peer_info i;

		peer_info(container_of(n, struct peer, node), &i);
		fn(ctx, &i);
	}
}

bool l2live_peer(const struct l2live *t, const char *node, struct l2peer_info *out)
{
	const struct peer *pe = find(t, node);

	if (!pe)
		return false;
	peer_info(pe, out);
	return true;
}

int l2beat_keys_parse(const char *text, size_t n, struct l2beat_keys *out, const char **why)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	while (i < n) {
		size_t j = i, len;

		while (j < n && text[j] != '\n')
			j++;
		len = j - i;
		if (len && text[i + len - 1] == '\r')
			len--;
		if (len) {
			if (memchr(text + i, '\0', len)) {
				*why = "a key holds a NUL byte";
				return -EINVAL;
			}
			if (len < L2BEAT_KEY_MIN || len > L2BEAT_KEY_MAX) {
				*why = "a key must be 16 to 256 bytes";
				return -EINVAL;
			}
			if (out->n == L2BEAT_KEYS) {
				*why = "more than two keys (the signing one and one more)";
				return -EINVAL;
			}
			memcpy(out->k[out->n], text + i, len);
			out->len[out->n++] = len;
		}
		i = j + 1;
	}
	if (!out->n) {
		*why = "no key";
		return -EINVAL;
	}
	return 0;
}
