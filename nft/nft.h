/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft/: the desired forwarding state (model.h) -> the `ip ferry` and
 * `ip6 ferry` tables, over netlink (libnftnl + libmnl), one atomic batch per
 * sync. The first sync (and any sync after a failure or after someone else
 * touched the tables) replaces both tables whole; later ones send only the
 * difference from the last applied state. Other tables are never touched.
 */
#ifndef FERRY_NFT_NFT_H
#define FERRY_NFT_NFT_H

#include "nft/model.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct nft_sync;

struct nft_sync_stats {
	bool full;		/* the whole tables were rebuilt */
	uint32_t messages;	/* netlink messages in the batch */
	uint32_t elements_added, elements_deleted;
	double ms;		/* wall time of the sync */
	double kernel_ms;	/* of which: sending the batch until the kernel's ack */
	uint32_t quarantined;	/* services left out after kernel errors */
	uint64_t objects;	/* rules and set/map elements in ferry's tables now */
};

/* Opens the netlink socket; NULL (with a log line) on failure. */
struct nft_sync *nft_sync_new(void);
void nft_sync_free(struct nft_sync *s);

/*
 * Makes the kernel match `state` (sorted and checked: fstate_from_json does
 * both, or call fstate_sort + fstate_check). Returns 0, or a negative errno
 * with the previous ruleset left intact; the next call retries. A Service
 * whose elements the kernel refused is named in the log and left out of the
 * next attempts until its content changes.
 */
int nft_sync_apply(struct nft_sync *s, const struct fstate *state);
/*
 * The same in O(changes): the wanted state is what the last successful sync
 * applied, with `upsert` Services added or replaced (matched by key) and the
 * `remove` keys gone. For a filler that knows what changed (proxy/ on an
 * informer event): a one-change sync then costs the same at 1,000 and at
 * 30,000 Services. Each key at most once per call. Mixing with
 * nft_sync_apply is fine.
 */
int nft_sync_update(struct nft_sync *s, const struct fnode *node,
		    const struct fsvc *upsert, size_t n_upsert,
		    const char *const *remove, size_t n_remove);
const struct nft_sync_stats *nft_sync_last(const struct nft_sync *s);
/* Forces the next apply to rebuild the tables completely. */
void nft_sync_invalidate(struct nft_sync *s);
/*
 * Cheap check between syncs: has someone else changed our tables since the
 * last sync? One generation read when nothing moved; when the ruleset's
 * generation moved, a count of our rules per chain (not the big maps).
 * 1: they changed (the next apply rebuilds), 0: intact, or a negative
 * errno when the kernel could not be asked.
 */
int nft_sync_verify(struct nft_sync *s);

/*
 * `ferry explain`: the path of Service `name` ("namespace/name", or one
 * port "namespace/name:port/proto") through the kernel's ferry tables, read
 * back by netlink dumps, written to `out` in nft syntax. Returns how many
 * Service ports (per table) were found, or a negative errno.
 */
int nft_explain(const char *name, FILE *out);

/* Deletes ferry's tables (both families) in one batch; 0 when none exist. */
int nft_cleanup(void);

#endif
