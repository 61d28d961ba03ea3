/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the legacy MetalLB ConfigMap value: libyaml, the strict field walk
 * and the whole-configuration checks. */
#include "lbip/configparse.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lb_config_builder *b = lb_config_builder_new();
	struct lb_errors e = { 0 };
	struct lb_config *c = NULL;
	char line[256];

	if (!b)
		return 0;
	lb_config_add_configmap_text(b, (const char *)data, size, &e);
	if (lb_config_finish(b, &c, &e) == 0) {
		lb_config_summary(c, line, sizeof(line));
		lb_config_free(c);
	}
	lb_errors_free(&e);
	lb_config_builder_free(b);
	return 0;
}
