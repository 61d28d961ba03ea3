/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ferry cleanup | dump | apply-state | explain: the nft/ data plane without
 * Kubernetes.
 * apply-state applies each state file in turn in one process, the first as a
 * cold sync and the others incrementally, and prints one JSON line of
 * statistics per file: that is what tests and benchmarks drive.
 */
#include "src/cmd_nft.h"
#include "src/cmd.h"
#include "core/file.h"
#include "core/log.h"
#include "nft/model.h"
#include "nft/kpcleanup.h"
#include "src/presence.h"
#include "nft/nft.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* a state file ("-": stdin); far beyond any real one */
#define STATE_MAX ((size_t)1 << 30)

static char *read_file(const char *path, size_t *len)
{
	char *buf;
	int rc = file_read(path, STATE_MAX, &buf, len);

	if (rc < 0) {
		fprintf(stderr, "ferry: %s: %s\n", path, strerror(-rc));
		return NULL;
	}
	return buf;
}

static int load(const char *path, struct fstate *st)
{
	size_t len;
	char *text = read_file(path, &len);
	if (!text)
		return -1;
	int r = fstate_from_json(st, text, len);
	free(text);
	if (r)
		fprintf(stderr, "ferry: %s: not a valid state (see the log line above)\n", path);
	return r;
}

static bool step_mode, via_update;

static int take_verbosity(int *argc, char **argv)
{
	int o = 1;
	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--step")) {
			step_mode = true;
			continue;
		}
		if (!strcmp(argv[i], "--via-update")) {
			via_update = true;
			continue;
		}
		if (!strcmp(argv[i], "-v") && i + 1 < *argc) {
			int v = parse_verbosity(argv[++i]);
			if (v < 0)
				return -1;
			log_set_verbosity(v);
			continue;
		}
		argv[o++] = argv[i];
	}
	*argc = o;
	return 0;
}

/*
 * Two jobs. `--kube-proxy-only` removes what kube-proxy left behind and
 * nothing of ferry's: safe while ferry runs (the install steps use it).
 * Without it, ferry's own tables go too, which cuts every Service on the
 * node: refused while an agent runs here, unless --force.
 */
int cmd_cleanup(int argc, char **argv)
{
	bool kp_only = false, force = false;
	int o = 1, r;

	if (take_verbosity(&argc, argv))
		goto usage;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--kube-proxy-only"))
			kp_only = true;
		else if (!strcmp(argv[i], "--force"))
			force = true;
		else
			argv[o++] = argv[i];
	}
	if (o != 1)
		goto usage;
	if (!kp_only) {
		if (presence_held() && !force) {
			fprintf(stderr, "ferry: an agent runs on this node: deleting its tables would cut "
				"every Service here.\n  kube-proxy's leftovers only: ferry cleanup "
				"--kube-proxy-only\n  ferry's tables anyway: ferry cleanup --force\n");
			return 1;
		}
		r = nft_cleanup();
		if (r) {
			fprintf(stderr, "ferry: cleanup failed: %s\n", strerror(r < 0 ? -r : r));
			return 1;
		}
	}
	/* Migration: what kube-proxy left behind goes too. */
	r = kp_cleanup();
	if (r < 0) {
		fprintf(stderr, "ferry: removing kube-proxy's leftovers failed: %s\n", strerror(-r));
		return 1;
	}
	if (r > 0)
		log_info("cleanup", "removed kube-proxy's leftovers", "objects=%d", r);
	return 0;
usage:
	fprintf(stderr, "usage: ferry cleanup [--kube-proxy-only] [--force] [-v N]\n");
	return 2;
}

/* ferry explain NAMESPACE/NAME[:PORT/PROTO]: one Service's path through the
 * kernel's ferry tables (nft/explain.c), read over netlink. */
int cmd_explain(int argc, char **argv)
{
	if (take_verbosity(&argc, argv) || argc != 2 || !strchr(argv[1], '/')) {
		fprintf(stderr, "usage: ferry explain NAMESPACE/NAME[:PORT/PROTO]   (a Service's path through the kernel's ferry tables)\n");
		return 2;
	}
	int r = nft_explain(argv[1], stdout);
	if (r < 0) {
		fprintf(stderr, "ferry: reading the ferry tables: %s\n", strerror(-r));
		return 1;
	}
	if (r == 0) {
		/* a port the agent left out has no element: its log and ferry status say why */
		fprintf(stderr, "ferry: no element of ip ferry or ip6 ferry names %s "
			"(a Service port left out has none: see `ferry status` and the agent's log)\n", argv[1]);
		return 1;
	}
	return 0;
}

int cmd_dump(int argc, char **argv)
{
	struct fstate st;

	if (take_verbosity(&argc, argv) || argc != 2) {
		fprintf(stderr, "usage: ferry dump STATE.json   (prints the desired state, normalised)\n");
		return 2;
	}
	if (load(argv[1], &st))
		return 1;
	char *out = fstate_to_json(&st);
	printf("%s\n", out ? out : "");
	free(out);
	fstate_free(&st);
	return 0;
}

/* nft_sync_update with the difference of two sorted states (tests). */
static int apply_changes(struct nft_sync *s, const struct fstate *a, const struct fstate *b)
{
	struct fsvc *up = calloc(b->n_svcs + 1, sizeof(*up));
	const char **rm = calloc(a->n_svcs + 1, sizeof(*rm));
	size_t nu = 0, nr = 0, i = 0, j = 0;
	int r;

	if (!up || !rm) {
		free(up);
		free(rm);
		return -ENOMEM;
	}
	while (i < a->n_svcs || j < b->n_svcs) {
		int c = i == a->n_svcs ? 1 : j == b->n_svcs ? -1 : strcmp(a->svcs[i].key, b->svcs[j].key);
		if (c < 0)
			rm[nr++] = a->svcs[i++].key;
		else if (c > 0)
			up[nu++] = b->svcs[j++];	/* shallow: read only */
		else {
			if (!fsvc_equal(&a->svcs[i], &b->svcs[j]))
				up[nu++] = b->svcs[j];
			i++;
			j++;
		}
	}
	r = nft_sync_update(s, &b->node, up, nu, rm, nr);
	free(up);
	free(rm);
	return r;
}

int cmd_apply_state(int argc, char **argv)
{
	if (take_verbosity(&argc, argv) || argc < 2) {
		fprintf(stderr, "usage: ferry apply-state [-v N] [--step] [--via-update] STATE.json [STATE2.json ...]\n"
				"  applies each state in turn (the first cold, then incrementally);\n"
				"  prints one JSON line of statistics per state; --step waits for a\n"
				"  line on stdin before each state after the first (tests);\n"
				"  --via-update sends each next state as a change list (nft_sync_update)\n");
		return 2;
	}
	struct nft_sync *s = nft_sync_new();
	struct fstate prev;
	bool have_prev = false;
	int ret = 0;
	fstate_init(&prev);
	if (!s)
		return 1;
	for (int i = 1; i < argc; i++) {
		struct fstate st;
		char line[64];
		if (step_mode && i > 1 && !fgets(line, sizeof(line), stdin))
			break;
		if (load(argv[i], &st)) {
			printf("{\"file\":\"%s\",\"ok\":false,\"error\":\"bad state\"}\n", argv[i]);
			fflush(stdout);
			ret = 1;
			continue;	/* bad input: what is applied stays */
		}
		int r = via_update && have_prev ? apply_changes(s, &prev, &st) : nft_sync_apply(s, &st);
		const struct nft_sync_stats *t = nft_sync_last(s);
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		printf("{\"file\":\"%s\",\"ok\":%s,\"full\":%s,\"services\":%zu,\"messages\":%u,"
		       "\"added\":%u,\"deleted\":%u,\"ms\":%.3f,\"kernel_ms\":%.3f,\"maxrss_kib\":%ld}\n",
		       argv[i], r ? "false" : "true", t->full ? "true" : "false", st.n_svcs,
		       t->messages, t->elements_added, t->elements_deleted, t->ms, t->kernel_ms, ru.ru_maxrss);
		fflush(stdout);
		if (r)
			ret = 1;
		fstate_free(&prev);
		prev = st;	/* what the next change list is computed against */
		have_prev = true;
	}
	fstate_free(&prev);
	nft_sync_free(s);
	return ret;
}
