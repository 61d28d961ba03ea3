// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Kubernetes label selector matching (apimachinery labels.Selector): every
 * requirement must hold; In needs the key with one of the values, NotIn
 * holds when the key is absent or its value is none of them, Exists and
 * DoesNotExist test the key only. No requirement matches everything; a NULL
 * selector matches nothing, as LabelSelectorAsSelector(nil) does.
 */
#include <stdlib.h>
#include <string.h>

#include "lbip/config.h"

static const char *label_get(const struct lb_label *l, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].key && !strcmp(l[i].key, key))
			return l[i].value ? l[i].value : "";
	return NULL;
}

static bool in_values(const struct lb_sel_req *r, const char *v)
{
	for (size_t i = 0; i < r->n_values; i++)
		if (r->values[i] && !strcmp(r->values[i], v))
			return true;
	return false;
}

bool lb_selector_matches(const struct lb_selector *s, const struct lb_label *labels, size_t n)
{
	if (!s)
		return false;
	for (size_t i = 0; i < s->n_reqs; i++) {
		const struct lb_sel_req *r = &s->reqs[i];
		const char *v = r->key ? label_get(labels, n, r->key) : NULL;
		bool ok;

		switch (r->op) {
		case LB_SEL_IN:
			ok = v && in_values(r, v);
			break;
		case LB_SEL_NOT_IN:
			ok = !v || !in_values(r, v);
			break;
		case LB_SEL_EXISTS:
			ok = v != NULL;
			break;
		case LB_SEL_DOES_NOT_EXIST:
			ok = v == NULL;
			break;
		default:
			ok = false;
		}
		if (!ok)
			return false;
	}
	return true;
}

void lb_selectors_free(struct lb_selector *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++) {
		for (size_t j = 0; j < s[i].n_reqs; j++) {
			free(s[i].reqs[j].key);
			for (size_t k = 0; k < s[i].reqs[j].n_values; k++)
				free(s[i].reqs[j].values[k]);
			free(s[i].reqs[j].values);
		}
		free(s[i].reqs);
	}
	free(s);
}

bool lb_adv_selects_pool(char *const *pools, size_t n_pools, const struct lb_selector *sel,
			 size_t n_sel, const struct lb_pool *p)
{
	if (!n_pools && !n_sel)
		return true;
	for (size_t i = 0; i < n_pools; i++)
		if (p->name && !strcmp(pools[i], p->name))
			return true;
	for (size_t i = 0; i < n_sel; i++)
		if (lb_selector_matches(&sel[i], p->labels, p->n_labels))
			return true;
	return false;
}
