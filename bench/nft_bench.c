/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_bench N E [REPS]: ferry's sync at N Services x E endpoints, the state
 * built in memory (no JSON) so that only the sync is measured. Run it as root
 * in a throw-away network namespace (bench/nft_bench.sh does). Prints one
 * JSON line: cold sync ms, median one-change sync ms (add a Service, change
 * one endpoint) through nft_sync_update (O(changes), what proxy/ on an event
 * would call) and through nft_sync_apply (the whole state, O(Services) in
 * user space), peak RSS before and after the cold sync.
 */
#include "nft/model.h"
#include "nft/nft.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long vm_hwm_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			v = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static void v4(struct faddr *a, uint32_t host)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->plen = 32;
	uint32_t n = htonl(host);
	memcpy(a->a, &n, 4);
}

static void add_svc(struct fstate *s, int i, int e)
{
	char key[64];
	struct faddr a;
	snprintf(key, sizeof(key), "ns%d/svc%d:http/tcp", i % 50, i);
	struct fsvc *v = fstate_add_svc(s, key);
	v->proto = IPPROTO_TCP;
	v->port = 80;
	v->version = 1;	/* the change hint proxy/ gives (see model.h) */
	v4(&a, 0xc6130000u + (uint32_t)i + 1);		/* 198.19.0.0/16 */
	fsvc_add_addr(&v->cluster_ips, &v->n_cluster_ips, &a);
	for (int k = 0; k < e; k++) {
		struct fendpoint *ep = fsvc_add_ep(v);
		v4(&ep->addr, 0xc6120000u + (uint32_t)((i * e + k) % 60000) + 1);	/* 198.18.0.0/15 */
		ep->port = 8080;
		ep->ready = ep->serving = true;
	}
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: nft_bench N_SERVICES N_ENDPOINTS [REPS]\n");
		return 2;
	}
	int n = atoi(argv[1]), e = atoi(argv[2]), reps = argc > 3 ? atoi(argv[3]) : 20;
	struct fstate st;
	fstate_init(&st);
	for (int i = 0; i < n; i++)
		add_svc(&st, i, e);
	fstate_sort(&st);
	if (fstate_check(&st))
		return 1;
	struct nft_sync *s = nft_sync_new();
	if (!s)
		return 1;
	long rss_before = vm_hwm_kib();
	if (nft_sync_apply(s, &st))
		return 1;
	double cold = nft_sync_last(s)->ms, cold_k = nft_sync_last(s)->kernel_ms;
	long rss_after = vm_hwm_kib();

	double *add = calloc((size_t)reps, sizeof(double)), *chg = calloc((size_t)reps, sizeof(double));
	double *addk = calloc((size_t)reps, sizeof(double)), *chgk = calloc((size_t)reps, sizeof(double));
	double *uadd = calloc((size_t)reps, sizeof(double)), *uchg = calloc((size_t)reps, sizeof(double));
	for (int r = 0; r < reps; r++) {
		/* nft_sync_update: add one Service, remove it, change one endpoint */
		struct fstate one;
		fstate_init(&one);
		add_svc(&one, n, e);
		if (nft_sync_update(s, &st.node, one.svcs, 1, NULL, 0))
			return 1;
		uadd[r] = nft_sync_last(s)->ms;
		const char *rm = one.svcs[0].key;
		if (nft_sync_update(s, &st.node, NULL, 0, &rm, 1))
			return 1;
		fstate_free(&one);
		struct fsvc *v = &st.svcs[(r * 7919) % st.n_svcs];
		v->eps[0].port = (uint16_t)(10000 + r);
		v->version++;
		if (nft_sync_update(s, &st.node, v, 1, NULL, 0))
			return 1;
		uchg[r] = nft_sync_last(s)->ms;
	}
	for (int r = 0; r < reps; r++) {
		/* add one Service, then take it away again */
		add_svc(&st, n, e);
		fstate_sort(&st);
		if (nft_sync_apply(s, &st))
			return 1;
		add[r] = nft_sync_last(s)->ms;
		addk[r] = nft_sync_last(s)->kernel_ms;
		/* remove it: it sorted somewhere; find it by key */
		char key[64];
		snprintf(key, sizeof(key), "ns%d/svc%d:http/tcp", n % 50, n);
		for (size_t i = 0; i < st.n_svcs; i++)
			if (!strcmp(st.svcs[i].key, key)) {
				fsvc_free(&st.svcs[i]);
				memmove(&st.svcs[i], &st.svcs[i + 1], (st.n_svcs - i - 1) * sizeof(st.svcs[0]));
				st.n_svcs--;
				break;
			}
		if (nft_sync_apply(s, &st))
			return 1;
		/* change one endpoint's port */
		st.svcs[r % st.n_svcs].eps[0].port = (uint16_t)(9000 + r);
		st.svcs[r % st.n_svcs].version++;
		if (nft_sync_apply(s, &st))
			return 1;
		chg[r] = nft_sync_last(s)->ms;
		chgk[r] = nft_sync_last(s)->kernel_ms;
	}
	printf("{\"services\":%d,\"endpoints\":%d,\"cold_ms\":%.1f,\"cold_kernel_ms\":%.1f,"
	       "\"add_one_ms\":%.3f,\"change_ep_ms\":%.3f,"
	       "\"apply_add_one_ms\":%.3f,\"apply_add_one_kernel_ms\":%.3f,\"apply_change_ep_ms\":%.3f,"
	       "\"apply_change_ep_kernel_ms\":%.3f,\"rss_before_kib\":%ld,\"rss_peak_kib\":%ld}\n",
	       n, e, cold, cold_k, median(uadd, reps), median(uchg, reps), median(add, reps),
	       median(addk, reps), median(chg, reps), median(chgk, reps), rss_before, rss_after);
	nft_sync_free(s);
	fstate_free(&st);
	free(add); free(chg); free(addk); free(chgk); free(uadd); free(uchg);
	return 0;
}
