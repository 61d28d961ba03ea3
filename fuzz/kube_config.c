/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the kubeconfig parser (libyaml document + our walk over it). */
#include "kube/config.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_config c;
	char err[256];

	if (kube_config_parse(&c, (const char *)data, size, "/nonexistent", NULL, err, sizeof(err)) == 0)
		kube_config_free(&c);
	return 0;
}
