/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A Service's address request as tenants write it: spec.loadBalancerIP and
 * the loadBalancerIPs annotation (first line: the field, the rest: the
 * annotation), then the allocator's whole assign path on a small pool. */
#include "lbip/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *nl;
	struct lb_addr ips[2];
	size_t n = 0;
	char reason[LB_REASON_MAX];
	struct lb_range r = { { 4, { 192, 0, 2, 200 } }, { 4, { 192, 0, 2, 250 } } };
	struct lb_pool pool = { .name = "p", .ranges = &r, .n_ranges = 1, .auto_assign = true };
	struct lb_config cfg = { .source = LB_SRC_CONFIGMAP, .pools = &pool, .n_pools = 1 };
	struct lb_svc s = { .ns = "d", .name = "s" };
	struct lb_result res;
	struct lb_alloc *a;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	s.load_balancer_ip = text;
	if ((nl = strchr(text, '\n'))) {
		*nl = '\0';
		s.lb_ips_annotation = nl + 1;
	}
	if (lb_svc_requested(&s, ips, &n, reason, sizeof(reason)) == 0 && n > 2)
		abort();
	if ((a = lb_alloc_new())) {
		if (lb_alloc_set_config(a, &cfg) == 0)
			lb_alloc_assign(a, &s, &res);
		lb_alloc_free(a);
	}
	free(text);
	return 0;
}
