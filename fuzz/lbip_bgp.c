/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the BGP message decoder: the first byte picks the session context
 * (4-octet ASNs, iBGP, an expected peer AS), the rest is a byte stream cut
 * into messages as the driver would. What decodes must re-encode, decode
 * again without a session-reset error, and every error must make a valid
 * NOTIFICATION. */
#include "lbip/bgp_msg.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void one(const uint8_t *p, size_t n, const struct bgp_ctx *ctx)
{
	static uint8_t out[BGP_MAX_LEN], out2[BGP_MAX_LEN];
	struct bgp_msg m, m2;
	struct bgp_error err, err2;
	int r, k;

	r = bgp_msg_decode(p, n, ctx, &m, &err);
	if (r == 0) {
		if (err.action == BGP_ERR_RESET)
			abort();
		k = bgp_msg_encode(&m, ctx, out, sizeof(out));
		/* never longer than what was read: attributes only get dropped
		 * or lose an unneeded Extended Length bit */
		if (k < BGP_HDR_LEN || (size_t)k > n)
			abort();
		if (bgp_msg_decode(out, k, ctx, &m2, &err2) != 0 || m2.type != m.type)
			abort();
		bgp_msg_free(&m2);
	} else if (r == -EBADMSG) {
		if (err.action != BGP_ERR_RESET || !err.why)
			abort();
		k = bgp_encode_notification(err.n.code, err.n.subcode, err.n.data, err.n.len,
					    out2, sizeof(out2));
		if (k < 21 || bgp_msg_decode(out2, k, NULL, &m2, &err2) != 0)
			abort();
		bgp_msg_free(&m2);
	}
	bgp_msg_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bgp_ctx ctx = { 0 };
	struct bgp_error err;

	if (size < 1)
		return 0;
	ctx.as4 = data[0] & 1;
	ctx.ibgp = data[0] & 2;
	ctx.peer_as = data[0] & 4 ? 65001 : 0;
	ctx.local_as = 65001;
	ctx.local_id = 0xc0000201;
	data++;
	size--;
	while (size) {
		int ml = bgp_msg_frame(data, size, &err);

		if (ml <= 0) {
			if (ml < 0 && err.action != BGP_ERR_RESET)
				abort();
			/* the decoder must say the same of what framing rejects or
			 * of a truncated message */
			one(data, size, &ctx);
			break;
		}
		one(data, ml, &ctx);
		data += ml;
		size -= ml;
	}
	return 0;
}
