/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the heartbeat decoder: an accepted beat re-encodes to the same
 * bytes, and feeding it to a tracker never breaks it. */
#include "core/log.h"
#include "lbip/l2beat.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_KEY "ferry-fuzz-key-0123456789"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct l2live *t;
	static uint64_t now;
	uint8_t buf[L2BEAT_MAX];
	struct l2beat b;
	const char *why;
	int n;

	if (!t) {
		log_set_stream(fopen("/dev/null", "w") ?: stderr);
		t = l2live_new("fuzz-self", 1, NULL, 0);
		if (!t)
			abort();
	}
	if (l2beat_decode(data, size, FUZZ_KEY, sizeof(FUZZ_KEY) - 1, &b, &why) != 0)
		return 0;
	n = l2beat_encode(&b, FUZZ_KEY, sizeof(FUZZ_KEY) - 1, buf, sizeof(buf));
	if (n < 0 || (size_t)n != size || memcmp(buf, data, size))
		abort();
	now += 50;
	(void)l2live_beat(t, &b, now, b.time_ms);
	(void)l2live_tick(t, now);
	(void)l2live_may_take(t, now, b.node);
	(void)l2live_counts(t, b.node, now);
	return 0;
}
