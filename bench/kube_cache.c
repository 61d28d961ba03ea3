/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_kube_cache: load Services and EndpointSlices into informer caches
 * and report what it cost: time from the first list to synced, bytes held
 * per cached object, the process's RSS (current and peak) and CPU time.
 *
 *   bench_kube_cache --kubeconfig FILE [--master URL] [--watch-seconds N] [--page-size N] [--v N]
 *
 * With --watch-seconds it keeps watching after the sync (with --v 2 it logs
 * every change), which kube/tests/real_apiserver_faults.py uses.
 */
#include "kube/informer.h"
#include "core/log.h"
#include "core/loop.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static struct loop *L;
static struct kube_informer *svc, *eps;
static uint64_t t_start, t_synced;

static long status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = strtol(line + strlen(field) + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static void on_synced(void *arg)
{
	if (kube_informer_synced(svc) && kube_informer_synced(eps) && !t_synced) {
		t_synced = loop_now_ms();
		loop_stop(L);
	}
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void stop(struct loop_timer *t) { loop_stop(L); }

static uint64_t endpoints;
static int count_eps(void *arg, const struct kube_object *o)
{
	endpoints += kube_endpointslice(o)->n_endpoints;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kubeconfig", required_argument, NULL, 'k' },
		{ "master", required_argument, NULL, 'm' },
		{ "watch-seconds", required_argument, NULL, 'w' },
		{ "page-size", required_argument, NULL, 'p' },
		{ "v", required_argument, NULL, 'v' },
		{ 0 }
	};
	const char *kubeconfig = NULL, *master = NULL;
	int c, watch_s = 0, verbosity = 0;
	struct kube_informer_opts io = { 0 };
	struct kube_config cfg;
	struct kube_client *cl;
	struct kube_handlers h = { .synced = on_synced };
	char err[512];
	long rss0;
	double cpu0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'k')
			kubeconfig = optarg;
		else if (c == 'm')
			master = optarg;
		else if (c == 'w')
			watch_s = atoi(optarg);
		else if (c == 'p')
			io.page_size = (unsigned)atoi(optarg);
		else if (c == 'v')
			verbosity = atoi(optarg);
		else
			return 2;
	}
	log_set_verbosity(verbosity);
	if (kube_config_resolve(&cfg, kubeconfig, master, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_kube_cache: %s\n", err);
		return 1;
	}
	L = loop_new();
	cl = kube_client_new(L, &cfg, &(struct kube_client_opts){ .qps = 1000, .burst = 1000 });
	kube_config_free(&cfg);
	if (!cl)
		return 1;
	rss0 = status_kb("VmRSS:");
	cpu0 = cpu_s();
	svc = kube_informer_new(cl, KUBE_SERVICE, &io, &h, NULL);
	eps = kube_informer_new(cl, KUBE_ENDPOINTSLICE, &io, &h, NULL);
	t_start = loop_now_ms();
	kube_informer_start(svc);
	kube_informer_start(eps);
	loop_run(L);
	double cpu_sync = cpu_s() - cpu0;
	long rss_sync = status_kb("VmRSS:");

	if (watch_s > 0) {
		struct loop_timer t;

		loop_timer_init(&t, stop, NULL);
		loop_timer_arm(L, &t, (uint64_t)watch_s * 1000);
		loop_run(L);
	}
	size_t ns = kube_informer_count(svc), ne = kube_informer_count(eps);
	size_t bs = kube_informer_bytes(svc), be = kube_informer_bytes(eps);
	kube_informer_foreach(eps, count_eps, NULL);
	printf("services=%zu endpointslices=%zu endpoints=%llu\n", ns, ne, (unsigned long long)endpoints);
	printf("list_to_synced_ms=%llu cpu_to_synced_s=%.2f\n", (unsigned long long)(t_synced - t_start), cpu_sync);
	printf("cache_bytes_per_service=%.0f cache_bytes_per_endpointslice=%.0f cache_total_kib=%zu\n",
	       ns ? (double)bs / ns : 0, ne ? (double)be / ne : 0, (bs + be) / 1024);
	printf("rss_start_kib=%ld rss_synced_kib=%ld rss_end_kib=%ld rss_peak_kib=%ld cpu_total_s=%.2f\n", rss0,
	       rss_sync, status_kb("VmRSS:"), status_kb("VmHWM:"), cpu_s() - cpu0);
	kube_informer_free(svc);
	kube_informer_free(eps);
	kube_client_free(cl);
	loop_free(L);
	return 0;
}
