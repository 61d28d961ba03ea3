/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What this node programs, per Service port, for people: served by the agent
 * on its metrics address (GET /status) and printed by `ferry status`.
 *
 *   default/myapp-svc:80/tcp  port 80  nodePort 31714  external Local  internal Cluster
 *     cluster IPs   198.19.0.10
 *     LB IPs        192.0.2.209
 *     endpoints     198.18.0.2:80 (local)  198.18.1.2:80  198.18.1.3:80 (terminating)
 *     left out      203.0.113.7:80/tcp of externalIPs is claimed first by shop/cart
 */
#include "core/httpd.h"
#include "nft/model.h"
#include "src/cmd.h"
#include "src/status.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void addrs(struct httpd_resp *r, const char *label, const struct faddr *l, size_t n)
{
	char buf[64];

	if (!n)
		return;
	httpd_printf(r, "    %-13s", label);
	for (size_t i = 0; i < n; i++)
		httpd_printf(r, " %s", faddr_str(&l[i], buf, sizeof(buf)));
	httpd_printf(r, "\n");
}

/* the unspecified addresses alone: proxy/ failed closed (no valid range) */
static bool denies_all(const struct fsvc *v)
{
	for (size_t i = 0; i < v->n_source_ranges; i++) {
		const struct faddr *a = &v->source_ranges[i];

		for (size_t j = 0; j < sizeof(a->a); j++)
			if (a->a[j] || a->plen != (a->family == AF_INET ? 32 : 128))
				return false;
	}
	return v->n_source_ranges > 0;
}

void status_text(const struct fstate *s, struct httpd_resp *r,
		 void (*note)(void *arg, const struct fsvc *v, struct httpd_resp *r), void *arg)
{
	char buf[64];

	httpd_printf(r, "%zu service ports\n", s->n_svcs);
	for (size_t i = 0; i < s->n_svcs; i++) {
		const struct fsvc *v = &s->svcs[i];

		httpd_printf(r, "\n%s  port %u", v->key, v->port);
		if (v->node_port)
			httpd_printf(r, "  nodePort %u", v->node_port);
		httpd_printf(r, "  external %s  internal %s",
			     v->external_policy == FPOLICY_LOCAL ? "Local" : "Cluster",
			     v->internal_policy == FPOLICY_LOCAL ? "Local" : "Cluster");
		if (v->affinity_timeout)
			httpd_printf(r, "  affinity ClientIP %us", v->affinity_timeout);
		httpd_printf(r, "\n");
		addrs(r, "cluster IPs", v->cluster_ips, v->n_cluster_ips);
		addrs(r, "external IPs", v->external_ips, v->n_external_ips);
		addrs(r, "LB IPs", v->lb_ips, v->n_lb_ips);
		if (denies_all(v))
			httpd_printf(r, "    %-13s none valid: no client allowed\n", "source ranges");
		else
			addrs(r, "source ranges", v->source_ranges, v->n_source_ranges);
		if (note)
			note(arg, v, r);
		httpd_printf(r, "    %-13s", "endpoints");
		if (!v->n_eps)
			httpd_printf(r, " none (connections are rejected)");
		for (size_t j = 0; j < v->n_eps; j++) {
			const struct fendpoint *e = &v->eps[j];
			const char *f = e->addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u";

			httpd_printf(r, " ");
			httpd_printf(r, f, faddr_str(&e->addr, buf, sizeof(buf)), e->port);
			if (e->local || !e->ready || e->terminating)
				httpd_printf(r, " (%s%s%s)", e->local ? "local" : "",
					     e->local && (!e->ready || e->terminating) ? ", " : "",
					     e->terminating ? (e->serving ? "terminating" : "terminating, not serving") :
					     !e->ready ? "not ready" : "");
		}
		httpd_printf(r, "\n");
	}
}

static size_t to_stdout(char *p, size_t size, size_t n, void *arg)
{
	return fwrite(p, size, n, stdout);
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "metrics-bind-address", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *addr = "127.0.0.1:10249";
	char url[256];
	long code = 0;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'm') {
			addr = optarg;
		} else {
			fprintf(c == 'h' ? stdout : stderr,
				"usage: ferry status [--metrics-bind-address ADDR:PORT (127.0.0.1:10249)]\n"
				"Asks the running agent what it programs, per Service port.\n");
			return c == 'h' ? 0 : 2;
		}
	}
	snprintf(url, sizeof(url), "http://%s/status", addr);
	CURL *h = curl_easy_init();
	if (!h)
		return 1;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_stdout);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK || code != 200) {
		fprintf(stderr, "ferry status: no agent answers at %s (%s)\n", url,
			rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP error");
		return 1;
	}
	return 0;
}
