/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Address ranges as MetalLB pools write them: "192.0.2.0/24" or
 * "192.0.2.10-192.0.2.20" (IPv4 or IPv6). Self-contained (inet_pton), so
 * the configuration parser does not depend on the allocator's helpers.
 */
#ifndef FERRY_LBIP_RANGE_H
#define FERRY_LBIP_RANGE_H

#include "lbip/config.h"

/* "a/n" or "a-b" (spaces around '-' allowed, as MetalLB trims them).
 * 0, or -EINVAL with a reason in err (without the input text). A CIDR with
 * host bits set is refused (MetalLB would mask them; see docs/lbip-config.md). */
int lb_range_parse(const char *s, struct lb_range *out, char *err, size_t errlen);

/* The shortest prefix length among the CIDRs that exactly cover r (for a
 * CIDR its own length), as MetalLB's aggregation-length check uses. */
int lb_range_min_prefix(const struct lb_range *r);

/* Same family and sharing at least one address. */
bool lb_range_overlap(const struct lb_range *a, const struct lb_range *b);

/* "lo-hi", or "net/len" when the range is exactly one CIDR. len >= 100. */
void lb_range_format(const struct lb_range *r, char *buf, size_t len);

/* The pool whose ranges hold ip (the first such); NULL for none or no cfg. */
const struct lb_pool *lb_pool_of(const struct lb_config *cfg, const struct lb_addr *ip);

/* Number of addresses, saturated at UINT64_MAX. */
uint64_t lb_range_size(const struct lb_range *r);

#endif
