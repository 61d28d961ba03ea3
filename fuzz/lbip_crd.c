/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the metallb.io resource reader: the input is one object (as the
 * agent passes the API's JSON) and, again, a multi-document stream (as
 * check-config reads files, ConfigMap manifests included). */
#include "lbip/configparse.h"

#include <stdint.h>

static void one(const uint8_t *data, size_t size, int stream)
{
	struct lb_config_builder *b = lb_config_builder_new();
	struct lb_errors e = { 0 };
	struct lb_config *c = NULL;

	if (!b)
		return;
	if (stream)
		lb_config_add_stream(b, "fuzz", (const char *)data, size, &e);
	else
		lb_config_add_resource(b, (const char *)data, size, &e);
	if (lb_config_finish(b, &c, &e) == 0)
		lb_config_free(c);
	lb_errors_free(&e);
	lb_config_builder_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size, 0);
	one(data, size, 1);
	return 0;
}
