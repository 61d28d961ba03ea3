/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the heartbeat key file parser: whatever it accepts is 1 or 2 keys of
 * 16 to 256 bytes with no NUL and no newline. */
#include "lbip/l2beat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l2beat_keys k;
	const char *why = NULL;

	if (l2beat_keys_parse((const char *)data, size, &k, &why) != 0) {
		if (!why)
			abort();
		return 0;
	}
	if (k.n < 1 || k.n > L2BEAT_KEYS)
		abort();
	for (size_t i = 0; i < k.n; i++)
		if (k.len[i] < L2BEAT_KEY_MIN || k.len[i] > L2BEAT_KEY_MAX || memchr(k.k[i], '\n', k.len[i]) ||
		    memchr(k.k[i], '\0', k.len[i]))
			abort();
	return 0;
}
