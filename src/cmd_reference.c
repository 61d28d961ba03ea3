/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ferry reference`: docs/config-reference.md, made from the tables the code
 * parses with (the agent's flags, the KubeProxyConfiguration fields, MetalLB's
 * kinds and keys), so the page cannot drift from what ferry accepts. A ctest
 * diffs the committed page against this output.
 */
#include "lbip/configparse.h"
#include "proxy/kpconfig.h"
#include "src/agent_flags.h"
#include "src/cmd.h"

#include <stdio.h>
#include <string.h>

#define MAX_KP_FIELDS 128

struct kp_fields {
	struct kp_field_info v[MAX_KP_FIELDS];
	char paths[MAX_KP_FIELDS][128];
	size_t n;
	bool overflow;
};

static void collect(void *arg, const struct kp_field_info *f)
{
	struct kp_fields *k = arg;

	if (k->n == MAX_KP_FIELDS) {
		k->overflow = true;
		return;
	}
	k->v[k->n] = *f;
	snprintf(k->paths[k->n], sizeof(k->paths[0]), "%s", f->path);
	k->v[k->n].path = k->paths[k->n];
	k->n++;
}

/* Text for a table cell: a `|` would end the cell. */
static void cell(const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			putchar('\\');
		putchar(*s);
	}
}

/* "`a`, `b`" of a NULL-terminated list */
static void code_list(const char *const *v)
{
	for (size_t i = 0; v && v[i]; i++)
		printf("%s`%s`", i ? ", " : "", v[i]);
}

static void flags_for_bit(uint32_t bit)
{
	int n = 0;

	for (int i = 0; i < AF_COUNT; i++)
		if (agent_flags[i].kpc & bit)
			printf("%s`--%s`", n++ ? ", " : "", agent_flags[i].name);
}

static void print_flags(const struct kp_fields *kp)
{
	printf("## `ferry agent` flags\n\n"
	       "A flag given wins over the same setting in the `--config` file. `DURATION` is\n"
	       "Go's form, as kube-proxy takes it: `30s`, `1m0s`, `250ms`.\n");
	for (int g = 0; g < AFG_COUNT; g++) {
		printf("\n### %s\n\n| flag | default | `--config` field | what it does |\n|---|---|---|---|\n",
		       agent_flag_groups[g]);
		for (int i = 0; i < AF_COUNT; i++) {
			const struct agent_flag *f = &agent_flags[i];
			char sp[96];
			int n = 0;

			if (f->group != (enum agent_flag_group)g)
				continue;
			agent_flag_spelling(f, sp, sizeof(sp));
			printf("| `");
			if (f->short_name)
				printf("-%c`, `", f->short_name);
			cell(sp);
			printf("` | ");
			if (f->def) {
				printf("`");
				cell(*f->def ? f->def : "\"\"");
				printf("`");
			} else if (f->def_note) {
				cell(f->def_note);
			}
			printf(" | ");
			for (size_t j = 0; j < kp->n; j++)
				if (f->kpc && (kp->v[j].bit & f->kpc))
					printf("%s`%s`", n++ ? ", " : "", kp->v[j].path);
			printf(" | ");
			cell(f->help);
			printf(" |\n");
		}
	}
}

static void print_kpconfig(const struct kp_fields *kp)
{
	uint32_t applied = agent_flags_kpc();

	printf("\n## kube-proxy's configuration file (`--config`)\n\n"
	       "`apiVersion: kubeproxy.config.k8s.io/v1alpha1`, `kind: KubeProxyConfiguration`, YAML\n"
	       "or JSON, with kube-proxy's defaulting and validation. A field applies only where a\n"
	       "flag stands for it, and only when that flag was not given. The rest are read and\n"
	       "validated as kube-proxy does, or accepted and ignored with a log line. An unknown\n"
	       "field is a warning naming its path.\n\n"
	       "| field | type | in ferry |\n|---|---|---|\n");
	for (size_t i = 0; i < kp->n; i++) {
		const struct kp_field_info *f = &kp->v[i];

		printf("| `%s` | %s | ", f->path, f->type);
		if (f->typemeta) {
			printf("required");
		} else if (f->ignored) {
			printf("accepted and ignored: ");
			cell(f->note);
		} else if (!strcmp(f->type, "object")) {
			printf("its fields below");
		} else if (f->agent_applies) {
			printf("applied: ");
			cell(f->note);
		} else if (f->bit & applied) {
			printf("applied, as ");
			flags_for_bit(f->bit);
			if (f->note) {
				printf("; ");
				cell(f->note);
			}
		} else {
			printf("validated, no effect");
			if (f->note) {
				printf(": ");
				cell(f->note);
			}
		}
		printf(" |\n");
	}
}

static void print_metallb(void)
{
	printf("\n## MetalLB's configuration\n\n"
	       "Read as MetalLB reads it: the `metallb.io` resources in any namespace, or MetalLB's\n"
	       "legacy ConfigMap (`--lb-config-namespace`/`--lb-config-name`, its key `config`).\n"
	       "When both are given the resources win and the ConfigMap is ignored with a warning.\n"
	       "An unknown field is an error, as in MetalLB's strict decoding; a field of MetalLB's\n"
	       "that ferry does not implement is a warning. `ferry check-config FILE...` checks\n"
	       "files offline.\n\n"
	       "### Kinds\n\n| kind | apiVersion | what |\n|---|---|---|\n");
	for (const struct lb_config_kind *k = lb_config_kinds; k->kind; k++)
		printf("| `%s` | `metallb.io/v1beta1`%s | %s |\n", k->kind,
		       k->v1beta2 ? ", `metallb.io/v1beta2`" : "", k->what);
	printf("\n### Fields\n\n"
	       "`ConfigMap` is the legacy ConfigMap's `config` value; `*` is an object found in\n"
	       "several kinds.\n\n"
	       "| in | object | fields | warned about and ignored | what |\n|---|---|---|---|---|\n");
	for (const struct lb_config_object *o = lb_config_objects; o->kind; o++) {
		printf("| `%s` | `%s` | ", o->kind, o->path);
		code_list(o->keys);
		printf(" | ");
		code_list(o->ignored);
		printf(" | ");
		cell(o->what ? o->what : "");
		printf(" |\n");
	}
}

int cmd_reference(int argc, char **argv)
{
	struct kp_fields kp = { .n = 0 };

	if (argc > 1) {
		fprintf(stderr, "usage: ferry reference > docs/config-reference.md\n");
		return 2;
	}
	kp_config_fields(collect, &kp);
	if (kp.overflow) {
		fprintf(stderr, "ferry reference: more than %d KubeProxyConfiguration fields\n", MAX_KP_FIELDS);
		return 1;
	}
	for (int i = 0; i < AF_COUNT; i++)
		if (!agent_flags[i].name) {
			fprintf(stderr, "ferry reference: flag %d has no table entry\n", i);
			return 1;
		}
	printf("<!-- Made by `ferry reference` from the code's own tables; do not edit.\n"
	       "     Regenerate: build/src/ferry reference > docs/config-reference.md -->\n"
	       "# Configuration reference\n\n"
	       "Every flag of `ferry agent`, every field of kube-proxy's configuration file that\n"
	       "ferry reads, and every field of MetalLB's configuration that ferry reads. The\n"
	       "page is printed by `ferry reference` from the tables the code parses with; the\n"
	       "ctest `config_reference` fails when it differs from the binary's output.\n\n");
	print_flags(&kp);
	print_kpconfig(&kp);
	print_metallb();
	return 0;
}
