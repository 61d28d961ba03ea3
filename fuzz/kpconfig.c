/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the KubeProxyConfiguration parser (libyaml document + the field walk
 * + validation), lenient and strict. */
#include "core/log.h"
#include "proxy/kpconfig.h"

#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct kp_config c;
	char err[256];

	if (!devnull && (devnull = fopen("/dev/null", "w")))
		log_set_stream(devnull);
	for (int strict = 0; strict < 2; strict++)
		if (kp_config_parse((const char *)data, size, strict, &c, err, sizeof(err)) == 0)
			kp_config_free(&c);
	return 0;
}
