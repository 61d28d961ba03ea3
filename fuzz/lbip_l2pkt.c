/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the ARP/NDP frame parser; whatever parses as a request must give a
 * reply that parses again as the matching answer. */
#include "lbip/l2pkt.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[L2_ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x01 };
	uint8_t buf[L2_FRAME_MAX];
	struct l2_msg m, r;
	const char *why;
	int n;

	if (l2_parse(data, size, &m, &why) != 0)
		return 0;
	if (m.kind != L2_ARP_REQUEST && m.kind != L2_NDP_NS)
		return 0;
	n = l2_build_reply(&m, mac, buf, sizeof(buf));
	if (n < 0 || l2_parse(buf, (size_t)n, &r, &why) != 0)
		abort();
	/* the answer speaks for the asked address: ARP as its sender, NDP as target */
	if (m.kind == L2_ARP_REQUEST && (r.kind != L2_ARP_REPLY || lb_addr_cmp(&r.sender, &m.target)))
		abort();
	if (m.kind == L2_NDP_NS && (r.kind != L2_NDP_NA || lb_addr_cmp(&r.target, &m.target) ||
				    !(r.na_flags & L2_NA_OVERRIDE)))
		abort();
	return 0;
}
