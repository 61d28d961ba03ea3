/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the pool address syntax (CIDR / first-last), the summary used for
 * aggregation lengths, and Go durations. */
#include "lbip/configparse.h"
#include "lbip/range.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[160], buf[100];
	struct lb_range r;
	uint64_t sec;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (lb_range_parse(s, &r, err, sizeof(err)) == 0) {
		int p = lb_range_min_prefix(&r);

		if (p < 0 || p > (r.lo.family == 4 ? 32 : 128) || lb_addr_cmp(&r.lo, &r.hi) > 0)
			abort();
		lb_range_format(&r, buf, sizeof(buf));
		(void)lb_range_size(&r);
		if (!lb_range_overlap(&r, &r))
			abort();
	}
	(void)lb_parse_duration(s, &sec);
	free(s);
	return 0;
}
