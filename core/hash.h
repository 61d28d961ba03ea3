/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One hash function and one hash table for the whole code base.
 *
 * hash_bytes/hash_str: 64-bit FNV-1a. Chain calls to hash several fields
 * (pass the previous result as the seed). Not for hostile-collision
 * resistance: keys that tenants choose are also bounded in number by the API.
 *
 * struct htab: an intrusive chained table in the spirit of BIRD's lib/hash.h.
 * The user embeds a struct hnode in its object, computes the hash, and
 * compares keys itself while walking a chain (htab_first/htab_next), so
 * the table needs no callbacks and never allocates per entry. It doubles its
 * buckets when it holds more entries than buckets; it never shrinks.
 */
#ifndef FERRY_CORE_HASH_H
#define FERRY_CORE_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HASH_SEED 0xcbf29ce484222325ULL

static inline uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static inline uint64_t hash_str(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#endif

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htab {
	struct hnode **b;
	size_t n_buckets;		/* 0 or a power of two */
	size_t count;
};

/* An empty table needs no init: { 0 } is valid. */
void htab_free(struct htab *t);		/* the bucket array; entries are the user's */
/* Add n (not checked for duplicates). -ENOMEM only when the first bucket
 * array cannot be had; a failed growth keeps the table working, just longer
 * chains. */
int htab_add(struct htab *t, struct hnode *n, uint64_t hash);
void htab_del(struct htab *t, struct hnode *n);
/* The first entry with this hash, then the next one with the same hash.
 *	for (n = htab_first(t, h); n; n = htab_next(n, h))
 *		if (key_equal(container_of(n, struct x, node), key)) break; */
struct hnode *htab_first(const struct htab *t, uint64_t hash);
struct hnode *htab_next(const struct hnode *n, uint64_t hash);

/* Every entry; safe to htab_del the current one. */
#define HTAB_WALK(t, n) \
	for (size_t _hw_i = 0; _hw_i < (t)->n_buckets; _hw_i++) \
		for (struct hnode *n = (t)->b[_hw_i], *_hw_nx; \
		     n && ((_hw_nx = n->next), 1); n = _hw_nx)

#endif
