/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ferry check-config FILE...: validate a MetalLB configuration offline.
 * Each file may hold a ConfigMap manifest (data.config), the bare config
 * value, or metallb.io resources, in any number of YAML documents; all
 * files together form one configuration, as in a cluster.
 */
#include "core/file.h"
#include "lbip/configparse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_CONFIG_MAX_FILE (16u << 20)

static void print_findings(const struct lb_errors *e, size_t from)
{
	for (size_t i = from; i < e->n; i++)
		fprintf(stderr, "%s: %s%s%s\n", e->v[i].warning ? "warning" : "error",
			e->v[i].path, *e->v[i].path ? ": " : "", e->v[i].msg ? e->v[i].msg : "?");
}

int cmd_check_config(int argc, char **argv)
{
	struct lb_config_builder *b;
	struct lb_errors e = { 0 };
	struct lb_config *c = NULL;
	bool failed = false;
	char line[256];

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fprintf(stderr, "usage: ferry check-config FILE... (\"-\" reads standard input)\n"
			"  FILE: a ConfigMap manifest, a MetalLB config value, or metallb.io resources\n");
		return argc < 2 ? 2 : 0;
	}
	b = lb_config_builder_new();
	if (!b) {
		fprintf(stderr, "ferry check-config: out of memory\n");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		char *text;
		size_t len;
		int r = file_read(argv[i], CHECK_CONFIG_MAX_FILE, &text, &len);

		if (r) {
			fprintf(stderr, "error: %s: %s\n", argv[i],
				r == -EFBIG ? "file too large" : strerror(-r));
			failed = true;
			continue;
		}
		if (memchr(text, 0, len)) {
			fprintf(stderr, "error: %s: binary file (NUL byte)\n", argv[i]);
			failed = true;
		} else if (lb_config_add_stream(b, argv[i], text, len, &e)) {
			failed = true;
		}
		free(text);
	}
	if (lb_config_finish(b, &c, &e))
		failed = true;
	failed |= e.n_errors > 0;
	print_findings(&e, 0);
	if (!failed && c) {
		lb_config_summary(c, line, sizeof(line));
		printf("valid: %s\n", line);
	} else {
		fprintf(stderr, "invalid: %zu error%s\n", e.n_errors, e.n_errors == 1 ? "" : "s");
	}
	lb_config_free(c);
	lb_errors_free(&e);
	lb_config_builder_free(b);
	return failed ? 1 : 0;
}
