/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the ctnetlink dump parser (nft/conntrack.c): the kernel's answer to a
 * conntrack dump, read strictly. The first byte picks the family; the rest
 * is the reply, copied to an aligned buffer as recv() would give it. */
#include "nft/conntrack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ct_match m[3];
	int family, n;
	void *buf;

	if (size < 1)
		return 0;
	family = data[0] & 1 ? AF_INET6 : AF_INET;
	memset(m, 0, sizeof(m));
	if (family == AF_INET) {
		ct_match_service(&m[0], "198.19.0.10", 53);
		ct_match_endpoint(&m[1], "198.19.0.10", 53, "198.18.1.5", 53);
		ct_match_nodeport(&m[2], AF_INET, 30053, NULL, 0);
	} else {
		ct_match_service(&m[0], "2001:db8:5e::10", 53);
		ct_match_endpoint(&m[1], NULL, 0, "2001:db8:1::5", 53);
		ct_match_nodeport(&m[2], AF_INET6, 30053, NULL, 0);
	}
	if (!(buf = malloc(size)))
		return 0;
	memcpy(buf, data + 1, size - 1);
	n = ct_parse_dump(buf, size - 1, family, m, 3);
	/* an entry takes at least a header and nfgenmsg: 20 bytes */
	if (n > 0 && (size_t)n > (size - 1) / 20)
		abort();
	free(buf);
	return 0;
}
