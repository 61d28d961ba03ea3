/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The layer-2 heartbeat: agents on one LAN tell each other, several times a
 * second in raw Ethernet frames (src/l2io.c), that they are alive, what
 * they believe (who counts) and what they announce; and the pure tracker that turns received beats and
 * the passing of time into "who is alive". The socket and the timer live in
 * src/; everything here is driven by unit tests with synthetic time.
 *
 * Wire format (version 1), all integers big-endian:
 *
 *	 0  magic "FRL2"           4
 *	 4  version = 1            1
 *	 5  flags                  1   L2BEAT_READY, L2BEAT_LEAVING
 *	 6  name length            1   1..253
 *	 7  reserved = 0           1
 *	 8  boot id                8   random per agent start
 *	16  sequence               8   +1 per beat within a boot
 *	24  time, ms               8   sender's wall clock (CLOCK_REALTIME)
 *	32  interval, ms           4   the sender's beat interval
 *	36  view digest            8   l2beat_digest of the nodes it counts
 *	44  owned digest           8   l2beat_digest of the addresses it announces
 *	52  owned count            4
 *	56  node name              name length bytes ([a-z0-9.-], as Node names)
 *	 .  HMAC-SHA256            32  over every byte before it, shared key
 *
 * Why wall-clock time and not a monotonic one: monotonic clocks of two hosts
 * cannot be compared, and a captured beat of an earlier boot must be refused
 * too; sequence numbers stop replays within a boot, the time window
 * (l2live_params.window_ms; Kubernetes nodes run NTP for TLS anyway) stops
 * them across boots.
 */
#ifndef FERRY_LBIP_L2BEAT_H
#define FERRY_LBIP_L2BEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lbip/sha256.h"

#define L2BEAT_VERSION 1
#define L2BEAT_NAME_MAX 253
#define L2BEAT_HDR 56
#define L2BEAT_MAX (L2BEAT_HDR + L2BEAT_NAME_MAX + SHA256_LEN)
#define L2BEAT_KEY_MIN 16		/* bytes; shorter keys are refused */

#define L2BEAT_READY 0x01		/* listened long enough: may announce */
#define L2BEAT_LEAVING 0x02		/* graceful stop: count me out now */

struct l2beat {
	char node[L2BEAT_NAME_MAX + 1];
	uint8_t flags;
	uint64_t boot_id, seq;
	int64_t time_ms;
	uint32_t interval_ms;
	uint64_t view, owned;
	uint32_t n_owned;
};

/* Encode b, authenticated with key. Length written, or -EINVAL (bad name,
 * key shorter than L2BEAT_KEY_MIN, len < the result). */
int l2beat_encode(const struct l2beat *b, const void *key, size_t klen, uint8_t *buf, size_t len);

/* Decode and authenticate one datagram. 0 with *b filled; -EBADMSG when it
 * is no version-1 beat (why says what); -EACCES when the MAC is wrong (other
 * key, or a changed byte); -EINVAL for a short key. Nothing of *b is to be
 * trusted unless 0. */
int l2beat_decode(const uint8_t *p, size_t n, const void *key, size_t klen, struct l2beat *b,
		  const char **why);

/* The shared key file: one key per line, 16 to 256 bytes each (no NUL);
 * a trailing CR and blank lines are ignored. The first key signs, every key
 * verifies, so a key rotates without a moment two agents cannot hear each
 * other: "old\nnew" everywhere, then "new\nold", then "new". 0, or -EINVAL
 * with *why (no key, more than L2BEAT_KEYS, a bad length or a NUL). */
#define L2BEAT_KEY_MAX 256
#define L2BEAT_KEYS 2
struct l2beat_keys {
	uint8_t k[L2BEAT_KEYS][L2BEAT_KEY_MAX];
	size_t len[L2BEAT_KEYS];
	size_t n;
};
int l2beat_keys_parse(const char *text, size_t n, struct l2beat_keys *out, const char **why);

/* Order-independent digest of a set: start from 0, add each member's bytes
 * (a node name, an address's struct lb_addr b[]); equal sets, equal sums. */
uint64_t l2beat_digest_add(uint64_t d, const void *p, size_t n);

/* ---- liveness ---- */

/*
 * One state per peer, changed only by l2live's transition table:
 *
 *	            beat         leaving-beat   quiet>suspect   quiet>dead
 *	UNKNOWN     ALIVE        LEAVING        UNKNOWN         DEAD
 *	ALIVE       ALIVE        LEAVING        SUSPECT         DEAD
 *	SUSPECT     ALIVE        LEAVING        SUSPECT         DEAD
 *	DEAD        ALIVE        LEAVING        DEAD            DEAD
 *	LEAVING     ALIVE        LEAVING        LEAVING         DEAD
 *
 * A peer counts (l2live_counts: may own addresses) when ALIVE or SUSPECT
 * and its last beat carried READY. Suspect exists for the log and metrics:
 * one lost beat does not move addresses.
 */
enum l2peer_state { L2P_UNKNOWN, L2P_ALIVE, L2P_SUSPECT, L2P_DEAD, L2P_LEAVING };
#define L2P_N 5

struct l2live_params {
	uint32_t interval_ms;		/* beat every; default 200 */
	uint32_t dead_after;		/* missed intervals; default 3 */
	uint32_t jitter_ms;		/* slack on top; default 100 */
	int64_t window_ms;		/* accepted clock difference; default 10000 */
};
#define L2LIVE_DEFAULTS { 200, 3, 100, 10000 }

struct l2live;

/* self: this node's name; boot_id: random, new at every start. Times are
 * the caller's monotonic clock, in ms. NULL on -ENOMEM or a bad name. */
struct l2live *l2live_new(const char *self, uint64_t boot_id, const struct l2live_params *p,
			  uint64_t now_ms);
void l2live_free(struct l2live *t);

/* A decoded beat arrived at now_ms (monotonic); wall_ms is our wall clock.
 * 0: accepted; -EALREADY: replayed or reordered (sequence not above the
 * last one of this boot, or an older boot); -ETIME: outside the time
 * window; -EEXIST: it carries our own name; -ENOSPC: too many peers;
 * -ENOMEM. Only accepted beats change anything. */
int l2live_beat(struct l2live *t, const struct l2beat *b, uint64_t now_ms, int64_t wall_ms);

/* Apply the passing of time (quiet peers become SUSPECT, then DEAD). Call
 * it at l2live_next_ms at the latest. Returns how many states changed. */
int l2live_tick(struct l2live *t, uint64_t now_ms);
uint64_t l2live_next_ms(const struct l2live *t, uint64_t now_ms);

/* Forget a peer (its Node object was deleted). */
void l2live_forget(struct l2live *t, const char *node);

/* Listen before claiming: from now on this node announces nothing until it
 * has heard the LAN for a detection time plus one interval. Called by
 * l2live_new, and by the driver when the link comes back up. */
void l2live_relisten(struct l2live *t, uint64_t now_ms);
bool l2live_ready(const struct l2live *t, uint64_t now_ms);

/* Does node count as alive for ownership (struct l2_node.alive)? For self:
 * l2live_ready. Unknown nodes do not. */
bool l2live_counts(const struct l2live *t, const char *node, uint64_t now_ms);
enum l2peer_state l2live_state(const struct l2live *t, const char *node);
const char *l2live_state_name(enum l2peer_state s);

/* Digest of the nodes that count, self included when ready. */
uint64_t l2live_view(const struct l2live *t, uint64_t now_ms);

/* May this node start announcing an address it did not announce before?
 * prev: the address's owner without us (l2_owner with our own alive =
 * false), NULL when nobody. Yes when ready and either
 *  - every peer that counts carried our view in its last beat: it has
 *    recomputed the owners with the same members, and the driver withdraws
 *    before it beats, so prev has stopped answering; and no live peer is
 *    still listening (it will count soon, and two nodes becoming ready
 *    together must first see each other); or
 *  - the views have differed for a detection time and prev does not count
 *    (dead, leaving, or nobody): a peer that cannot hear us must not block
 *    failover for ever, but an owner we still hear is never overrun.
 * Withdrawing is always allowed at once. */
bool l2live_may_take(struct l2live *t, uint64_t now_ms, const char *prev);
/* The first condition above alone (no fallback). */
bool l2live_agreed(struct l2live *t, uint64_t now_ms);

/* Our next beat: name, boot id, next sequence, READY when ready, the view;
 * the caller sets time_ms, owned, n_owned and LEAVING. */
void l2live_own_beat(struct l2live *t, uint64_t now_ms, struct l2beat *b);

/* Every peer, for status and metrics (order unspecified). */
struct l2peer_info {
	const char *node;
	enum l2peer_state state;
	uint64_t last_ms;		/* when its last beat arrived (monotonic) */
	uint64_t boot_id, seq;
	uint8_t flags;
	uint32_t n_owned;
	uint64_t owned;			/* the owned digest of its last beat */
};
void l2live_walk(const struct l2live *t, void (*fn)(void *ctx, const struct l2peer_info *p), void *ctx);
/* One peer; false when unknown. */
bool l2live_peer(const struct l2live *t, const char *node, struct l2peer_info *out);

#endif
