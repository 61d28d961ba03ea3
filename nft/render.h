/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Model -> the per-Service part of the ruleset: set and map elements only.
 * Pure computation (no netlink), so unit tests can run it without root.
 * The shape of the tables and every chain is described in docs/nft.md and in
 * sync.c, next to the code that builds them.
 */
#ifndef FERRY_NFT_RENDER_H
#define FERRY_NFT_RENDER_H

#include "nft/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Per family: index 0 is the `ip` table, 1 the `ip6` table. */
#define RFAM_N 2
static inline int rfam_af(int f) { return f ? 10 /* AF_INET6 */ : 2 /* AF_INET */; }
static inline int rfam_alen(int f) { return f ? 16 : 4; }

/* The sets and maps of one ferry table. Keep in step with rset_name(). */
enum rset {
	RS_POD_CIDRS, RS_NODEPORT_ADDRS,
	RS_SERVICE_IPS, RS_SERVICE_NODEPORTS,
	RS_PICK_IPS_INTERNAL, RS_PICK_IPS_EXTERNAL,
	RS_PICK_NP_INTERNAL, RS_PICK_NP_EXTERNAL,
	RS_DNAT_IPS, RS_DNAT_NODEPORTS,
	RS_AFFINITY,			/* dynamic: client . Service port -> endpoint id */
	RS_AFFINITY_IDS, RS_AFFINITY_NP_IDS,	/* endpoint index -> endpoint id */
	RS_HAIRPIN,
	RS_FIREWALL_IPS, RS_FIREWALL_ALLOW,
	RS_NOEP_IPS, RS_NOEP_NODEPORTS,
	RS_CLUSTER_IPS,			/* shared: counted in installed.c */
	RS_SERVICE_CIDRS,		/* the node's settings */
	RS_MARK_SAVE,			/* dynamic: the packet's own mark, per ct id */
	RS_KINDS, RS_PICK_CHAINS,	/* small verdict maps, filled by sync.c */
	RS_COUNT
};
const char *rset_name(int set);

/* Endpoint indexes of the node-local endpoint list start here in the DNAT
 * maps, so one map holds both the cluster-wide and the local choice. */
#define RLOCAL_BASE 0x10000u

/* ClientIP affinity remembers an endpoint by an id of its own, not by its
 * index, which moves when the list changes. An id is
 *   bit 31 set (never an index, < 0x20000, in the DNAT maps)
 *   bits 30-15 the Service port (its key hashed): RAFF_PORT_MASK of an id
 *     is the port's "base", the client's key in @affinity
 *   bits 14-1 the endpoint's slot among the port's endpoints (its address
 *     and port hashed, collisions probed in address order)
 *   bit 0 the node-local list (a remembered remote endpoint never passes
 *     a Local policy's check).
 * @affinity-ids maps ENTRY . index to the id, ENTRY . RAFF_BASE_IDX to the
 * base. */
#define RAFF_ID 0x80000000u
#define RAFF_PORT_MASK 0xffff8000u
#define RAFF_SLOTS 16384u
#define RAFF_BASE_IDX 0x7fffffffu
uint32_t raff_base(const struct fsvc *v);
/* The ids of v's endpoints of family fam (cluster-wide flavour), in v->eps
 * order; ids of other families are left 0. out has v->n_eps entries; 0 or
 * -ENOMEM. */
int raff_ids(const struct fsvc *v, int fam, uint32_t *out);

#define RKEY_MAX 40
#define RCHAIN_MAX 40

/* What a map element leads to: nothing (a plain set or a data map), a
 * chain (by its number, see sync.c), or drop. */
enum rverdict { RV_NONE, RV_GOTO, RV_DROP };

struct relem {
	uint8_t fam, set, klen, dlen;
	uint8_t key[RKEY_MAX];
	uint8_t key_end[RKEY_MAX];	/* firewall-allow only (a range of sources) */
	uint8_t data[20];
	uint32_t verdict;		/* enum rverdict */
	char chain[RCHAIN_MAX];		/* RV_GOTO target */
};

struct relem_vec {
	struct relem *v;
	size_t n, cap;
};

/* A "pick" chain chooses one of k endpoints (see sync.c). */
struct rpick {
	bool nodeport, local;
	uint32_t k, affinity;
};
void rpick_name(const struct rpick *p, char *buf, size_t len);
bool rpick_parse(const char *name, struct rpick *p);

/* Appends the elements of service port `v` for family `fam` (unsorted, may
 * repeat an element: relem_vec_sort sorts and drops duplicates). Returns 0
 * or -ENOMEM. */
int render_svc(const struct fsvc *v, int fam, struct relem_vec *out);
void relem_vec_sort(struct relem_vec *vec);	/* by identity, duplicates dropped */
void relem_vec_free(struct relem_vec *vec);

/* Identity: family, set, key (and key end). */
int relem_cmp(const struct relem *a, const struct relem *b);
/* Identity and value. */
bool relem_equal(const struct relem *a, const struct relem *b);

#endif
