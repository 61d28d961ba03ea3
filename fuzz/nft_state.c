/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the state JSON parser (ferry apply-state / dump) and what follows a
 * successful parse: rendering every Service for both families, printing the
 * state back and parsing that again, which must succeed and compare equal. */
#include "core/log.h"
#include "nft/model.h"
#include "nft/render.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct fstate s, t;

	if (!devnull) {
		devnull = fopen("/dev/null", "w");
		log_set_stream(devnull);	/* bad input logs a line each time */
	}
	if (fstate_from_json(&s, (const char *)data, size))
		return 0;
	struct relem_vec vec = { 0 };
	for (size_t i = 0; i < s.n_svcs; i++)
		for (int fam = 0; fam < RFAM_N; fam++)
			render_svc(&s.svcs[i], fam, &vec);
	relem_vec_free(&vec);
	char *text = fstate_to_json(&s);
	if (!text || fstate_from_json(&t, text, strlen(text)))
		abort();	/* what we print must parse */
	if (t.n_svcs != s.n_svcs || !fnode_equal(&s.node, &t.node))
		abort();
	for (size_t i = 0; i < s.n_svcs; i++)
		if (!fsvc_equal(&s.svcs[i], &t.svcs[i]))
			abort();
	free(text);
	fstate_free(&t);
	fstate_free(&s);
	return 0;
}
