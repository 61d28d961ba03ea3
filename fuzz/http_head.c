/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the HTTP request-head parser of /healthz, /livez, /metrics and the
 * health-check node ports: anyone on the node's network sends these. */
#include "core/httphead.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void one(char *buf, size_t len)
{
	struct http_head h;
	int rc = http_head_parse(buf, len, &h);

	if (rc == 0 && (h.path[0] != '/' || (strcmp(h.method, "GET") && strcmp(h.method, "HEAD")) ||
			!h.query || strchr(h.path, ' ')))
		abort();
	if (rc && rc != 400 && rc != 405 && rc != 413 && rc != 505)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 5);

	if (!buf)
		return 0;
	/* as it came, and completed with the empty line the server waits for */
	memcpy(buf, data, size);
	buf[size] = 0;
	one(buf, size);
	memcpy(buf, data, size);
	memcpy(buf + size, "\r\n\r\n", 5);
	one(buf, size + 4);
	free(buf);
	return 0;
}
