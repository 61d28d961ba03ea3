/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Address ranges of a pool: parse, compare, measure. Arithmetic is done on
 * unsigned __int128 so IPv4 and IPv6 share one path. */
#include "lbip/range.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

static int bits_of(const struct lb_addr *a)
{
	return a->family == 4 ? 32 : 128;
}

static u128 to_u128(const struct lb_addr *a)
{
	u128 v = 0;

	for (int i = 0; i < bits_of(a) / 8; i++)
		v = (v << 8) | a->b[i];
	return v;
}

static void from_u128(u128 v, int family, struct lb_addr *a)
{
	int n = family == 4 ? 4 : 16;

	memset(a, 0, sizeof(*a));
	a->family = family;
	for (int i = n - 1; i >= 0; i--) {
		a->b[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* Copy s[0..n) without surrounding blanks into buf; false if it does not fit. */
static bool trimmed(const char *s, size_t n, char *buf, size_t len)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= len)
		return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	return true;
}

static u128 mask_of(int bits, int plen)
{
	u128 all = bits == 32 ? (u128)0xffffffffu : ~(u128)0;

	if (plen == 0)
		return 0;
	return all & ~((((u128)1) << (bits - plen)) - 1);
}

int lb_range_parse(const char *s, struct lb_range *out, char *err, size_t errlen)
{
	const char *dash = strchr(s, '-');
	char a[64], b[64];

	memset(out, 0, sizeof(*out));
	if (!dash) {
		const char *slash = strchr(s, '/');
		char *end;
		long plen;

		if (!slash || (size_t)(slash - s) >= sizeof(a)) {
			snprintf(err, errlen, "not a CIDR (address/length) or a range (first-last)");
			return -EINVAL;
		}
		memcpy(a, s, slash - s);
		a[slash - s] = 0;
		if (lb_addr_parse(a, &out->lo)) {
			snprintf(err, errlen, "invalid address \"%s\"", a);
			return -EINVAL;
		}
		if (!isdigit((unsigned char)slash[1]) || strlen(slash + 1) > 3) {
			snprintf(err, errlen, "invalid prefix length \"%s\"", slash + 1);
			return -EINVAL;
		}
		errno = 0;
		plen = strtol(slash + 1, &end, 10);
		if (*end || plen > bits_of(&out->lo)) {
			snprintf(err, errlen, "invalid prefix length \"%s\"", slash + 1);
			return -EINVAL;
		}
		int bits = bits_of(&out->lo);
		u128 v = to_u128(&out->lo), m = mask_of(bits, (int)plen);
		u128 all = bits == 32 ? (u128)0xffffffffu : ~(u128)0;

		if (v & ~m & all) {
			snprintf(err, errlen, "is not a network (host bits set)");
			return -EINVAL;
		}
		from_u128(v | (~m & all), out->lo.family, &out->hi);
		return 0;
	}
	if (!trimmed(s, dash - s, a, sizeof(a)) || !trimmed(dash + 1, strlen(dash + 1), b, sizeof(b))) {
		snprintf(err, errlen, "invalid IP range");
		return -EINVAL;
	}
	if (lb_addr_parse(a, &out->lo)) {
		snprintf(err, errlen, "invalid start address \"%s\"", a);
		return -EINVAL;
	}
	if (lb_addr_parse(b, &out->hi)) {
		snprintf(err, errlen, "invalid end address \"%s\"", b);
		return -EINVAL;
	}
	if (out->lo.family != out->hi.family) {
		snprintf(err, errlen, "start and end are of different address families");
		return -EINVAL;
	}
	if (lb_addr_cmp(&out->lo, &out->hi) > 0) {
		snprintf(err, errlen, "start %s is after end %s", a, b);
		return -EINVAL;
	}
	return 0;
}

/* Last address of the 2^k block at s, false when it passes the end of the
 * address space. */
static bool block_last(u128 s, int k, int bits, u128 *last)
{
	u128 all = bits == 32 ? (u128)0xffffffffu : ~(u128)0;
	u128 span = k >= 128 ? all : (((u128)1) << k) - 1;

	if (k > bits || s > all - span)
		return false;
	*last = s + span;
	return true;
}

int lb_range_min_prefix(const struct lb_range *r)
{
	int bits = bits_of(&r->lo), best = bits;
	u128 s = to_u128(&r->lo), hi = to_u128(&r->hi), last = 0;

	/* Greedy summarisation: at s take the largest aligned block that
	 * stays within hi; remember the largest block's prefix length. */
	for (;;) {
		int k = 0;

		while (k < bits && !(s & (((u128)1) << k)) &&
		       block_last(s, k + 1, bits, &last) && last <= hi)
			k++;
		if (bits - k < best)
			best = bits - k;
		if (!block_last(s, k, bits, &last) || last >= hi)
			break;
		s = last + 1;
	}
	return best;
}

const struct lb_pool *lb_pool_of(const struct lb_config *cfg, const struct lb_addr *ip)
{
	for (size_t p = 0; cfg && p < cfg->n_pools; p++)
		for (size_t r = 0; r < cfg->pools[p].n_ranges; r++) {
			const struct lb_range *g = &cfg->pools[p].ranges[r];

			if (g->lo.family == ip->family && lb_addr_cmp(&g->lo, ip) <= 0 &&
			    lb_addr_cmp(ip, &g->hi) <= 0)
				return &cfg->pools[p];
		}
	return NULL;
}

bool lb_range_overlap(const struct lb_range *a, const struct lb_range *b)
{
	if (a->lo.family != b->lo.family)
		return false;
	return lb_addr_cmp(&a->lo, &b->hi) <= 0 && lb_addr_cmp(&b->lo, &a->hi) <= 0;
}

static void addr_str(const struct lb_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->b, buf, len))
		snprintf(buf, len, "?");
}

void lb_range_format(const struct lb_range *r, char *buf, size_t len)
{
	char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN];
	int bits = bits_of(&r->lo), p = lb_range_min_prefix(r);
	u128 all = bits == 32 ? (u128)0xffffffffu : ~(u128)0;
	u128 l = to_u128(&r->lo), h = to_u128(&r->hi);

	addr_str(&r->lo, lo, sizeof(lo));
	if ((l | (~mask_of(bits, p) & all)) == h && !(l & ~mask_of(bits, p) & all)) {
		snprintf(buf, len, "%s/%d", lo, p);
		return;
	}
	addr_str(&r->hi, hi, sizeof(hi));
	snprintf(buf, len, "%s-%s", lo, hi);
}

uint64_t lb_range_size(const struct lb_range *r)
{
	u128 d = to_u128(&r->hi) - to_u128(&r->lo);

	if (d >= UINT64_MAX)
		return UINT64_MAX;
	return (uint64_t)d + 1;
}
