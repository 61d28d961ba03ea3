// SPDX-License-Identifier: GPL-2.0-or-later
/* Layer-2 ownership (see l2owner.h for the rule and why). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lbip/l2owner.h"
#include "lbip/sha256.h"

static const struct lb_pool *find_pool(const struct lb_config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->n_pools; i++)
		if (cfg->pools[i].name && !strcmp(cfg->pools[i].name, name))
			return &cfg->pools[i];
	return NULL;
}

static bool adv_selects_pool(const struct lb_l2_adv *a, const struct lb_pool *p)
{
	return lb_adv_selects_pool(a->pools, a->n_pools, a->pool_selectors, a->n_pool_selectors, p);
}

static bool adv_selects_node(const struct lb_l2_adv *a, const struct l2_node *n)
{
	if (!a->n_node_selectors)
		return true;
	for (size_t i = 0; i < a->n_node_selectors; i++)
		if (lb_selector_matches(&a->node_selectors[i], n->labels, n->n_labels))
			return true;
	return false;
}

static bool has_label(const struct l2_node *n, const char *key)
{
	for (size_t i = 0; i < n->n_labels; i++)
		if (n->labels[i].key && !strcmp(n->labels[i].key, key))
			return true;
	return false;
}

/* Configuration and Node facts; not liveness, not endpoints. */
static bool eligible(const struct lb_config *cfg, const struct lb_pool *p, const struct l2_node *n)
{
	if (!p || !n->name || !n->ready || n->network_unavailable || has_label(n, L2_EXCLUDE_LABEL))
		return false;
	for (size_t i = 0; i < cfg->n_l2_advs; i++)
		if (adv_selects_pool(&cfg->l2_advs[i], p) && adv_selects_node(&cfg->l2_advs[i], n))
			return true;
	return false;
}

bool l2_node_eligible(const struct lb_config *cfg, const char *pool, const struct l2_node *node)
{
	return eligible(cfg, find_pool(cfg, pool), node);
}

static bool has_endpoint(const struct l2_svc *s, const char *node)
{
	for (size_t i = 0; i < s->n_endpoint_nodes; i++)
		if (s->endpoint_nodes[i] && !strcmp(s->endpoint_nodes[i], node))
			return true;
	return false;
}

/* The per-Service and liveness half of the candidate test. */
static bool candidate(const struct l2_svc *s, const struct l2_node *n)
{
	return n->alive && (!s->local || has_endpoint(s, n->name));
}

void l2_rank_key(const char *node, const struct lb_addr *ip, unsigned char out[32])
{
	char text[64];
	struct sha256 c;

	lb_addr_format(ip, text, sizeof(text));
	sha256_init(&c);
	sha256_update(&c, node, strlen(node));
	sha256_update(&c, "#", 1);
	sha256_update(&c, text, strlen(text));
	sha256_final(&c, out);
}

int l2_owner(const struct lb_config *cfg, const char *pool, const struct lb_addr *ip,
	     const struct l2_svc *svc, const struct l2_node *nodes, size_t n_nodes)
{
	const struct lb_pool *p = find_pool(cfg, pool);
	unsigned char best[32], k[32];
	int owner = -1;

	if (!svc->serving || !p)
		return -1;
	for (size_t i = 0; i < n_nodes; i++) {
		if (!candidate(svc, &nodes[i]) || !eligible(cfg, p, &nodes[i]))
			continue;
		l2_rank_key(nodes[i].name, ip, k);
		/* equal keys mean equal names; the name order keeps it total */
		if (owner < 0 || memcmp(k, best, 32) < 0) {
			memcpy(best, k, 32);
			owner = (int)i;
		}
	}
	return owner;
}

bool l2_interface_allowed(const struct lb_config *cfg, const char *pool, const struct l2_node *node,
			  const char *ifname)
{
	const struct lb_pool *p = find_pool(cfg, pool);

	if (!eligible(cfg, p, node))
		return false;
	for (size_t i = 0; i < cfg->n_l2_advs; i++) {
		const struct lb_l2_adv *a = &cfg->l2_advs[i];

		if (!adv_selects_pool(a, p) || !adv_selects_node(a, node))
			continue;
		if (!a->n_interfaces)
			return true;
		for (size_t j = 0; j < a->n_interfaces; j++)
			if (!strcmp(a->interfaces[j], ifname))
				return true;
	}
	return false;
}

/* Per pool: which nodes the configuration allows (computed on first use). */
struct pool_mask {
	const struct lb_pool *pool;
	bool *ok;			/* n_nodes */
};

int l2_owned(const struct lb_config *cfg, const struct l2_ip *ips, size_t n,
	     const struct l2_node *nodes, size_t n_nodes, const char *self, bool *owned)
{
	struct pool_mask *masks = calloc(cfg->n_pools + 1, sizeof(*masks));
	const struct l2_node *me = NULL;
	size_t me_i = 0;
	int ret = 0;

	memset(owned, 0, n * sizeof(*owned));
	if (!masks)
		return -ENOMEM;
	for (size_t i = 0; i < n_nodes; i++)
		if (nodes[i].name && !strcmp(nodes[i].name, self)) {
			me = &nodes[i];
			me_i = i;
		}
	for (size_t i = 0; me && i < n; i++) {
		const struct lb_pool *p = find_pool(cfg, ips[i].pool);
		const struct l2_svc *s = ips[i].svc;
		unsigned char mine[32], k[32];
		struct pool_mask *m;
		bool win = true;

		if (!p || !s->serving || !candidate(s, me))
			continue;
		m = &masks[p - cfg->pools];
		if (!m->ok) {
			if (!(m->ok = calloc(n_nodes ? n_nodes : 1, sizeof(bool)))) {
				ret = -ENOMEM;
				break;
			}
			for (size_t j = 0; j < n_nodes; j++)
				m->ok[j] = eligible(cfg, p, &nodes[j]);
		}
		if (!m->ok[me_i])
			continue;
		l2_rank_key(self, &ips[i].ip, mine);
		for (size_t j = 0; j < n_nodes && win; j++) {
			if (j == me_i || !m->ok[j] || !candidate(s, &nodes[j]))
				continue;
			l2_rank_key(nodes[j].name, &ips[i].ip, k);
			win = memcmp(k, mine, 32) > 0;
		}
		owned[i] = win;
	}
	for (size_t i = 0; i < cfg->n_pools; i++)
		free(masks[i].ok);
	free(masks);
	if (ret)
		memset(owned, 0, n * sizeof(*owned));
	return ret;
}
