/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The proxier's health and kube-proxy's health-check bodies. Pure: the
 * listeners are src/hcserver.c's.
 */
#include "proxy/healthcheck.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "nft/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- proxier health ---- */

static int fam_idx(int family) { return family == AF_INET6 ? 1 : 0; }

void hc_health_init(struct hc_health *h, uint64_t timeout_ms)
{
	memset(h, 0, sizeof(*h));
	h->timeout_ms = timeout_ms;
	/* kube-proxy waits for its Node before serving, so it never answers
	 * with the Node unknown; ferry answers eligible until told otherwise */
	h->node_eligible = true;
}

void hc_health_queued(struct hc_health *h, int family)
{
	int i = fam_idx(family);

	if (!h->queued[i]) {
		h->queued[i] = true;
		h->queued_ms[i] = loop_now_ms();
	}
}

void hc_health_updated(struct hc_health *h, int family)
{
	int i = fam_idx(family);

	h->queued[i] = false;
	h->updated[i] = true;
	clock_gettime(CLOCK_REALTIME, &h->last_updated[i]);
}

void hc_health_node_eligible(struct hc_health *h, bool eligible)
{
	if (h->node_eligible != eligible)
		log_info("healthcheck", "node eligibility changed", "eligible=%d", eligible);
	h->node_eligible = eligible;
}

/* kube-proxy's Health(): only families that have synced once count; one
 * with an update pending for the timeout or longer is unhealthy. */
static bool family_healthy(const struct hc_health *h, int i, uint64_t now_ms)
{
	return !h->queued[i] || now_ms - h->queued_ms[i] < h->timeout_ms;
}

static bool hc_health_healthy_at(const struct hc_health *h, uint64_t now_ms)
{
	for (int i = 0; i < 2; i++)
		if (h->updated[i] && !family_healthy(h, i, now_ms))
			return false;
	return true;
}

bool hc_health_healthy(const struct hc_health *h)
{
	return hc_health_healthy_at(h, loop_now_ms());
}

void hc_rfc3339nano(char *buf, size_t len, struct timespec t)
{
	struct tm tm;
	char frac[16] = "";
	size_t n;

	if (!t.tv_sec && !t.tv_nsec) {
		snprintf(buf, len, "0001-01-01T00:00:00Z");	/* Go's zero time.Time */
		return;
	}
	gmtime_r(&t.tv_sec, &tm);
	/* Go drops trailing zeros of the nanoseconds, and the dot with them */
	if (t.tv_nsec > 0 && t.tv_nsec < 1000000000) {
		long ns = t.tv_nsec;
		int digits = 9;

		for (; ns % 10 == 0; ns /= 10)
			digits--;
		snprintf(frac, sizeof(frac), ".%0*ld", digits, ns);
	}
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, "%sZ", frac);
}

static bool ts_after(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

void hc_health_body(const struct hc_health *h, bool healthz, struct timespec now, uint64_t now_ms,
		    struct httpd_resp *r)
{
	static const char *const fam[] = { "IPv4", "IPv6" };
	struct timespec last = { 0, 0 };
	bool healthy = true, any = false;
	char t[48];

	for (int i = 0; i < 2; i++) {
		if (!h->updated[i])
			continue;
		if (ts_after(h->last_updated[i], last))
			last = h->last_updated[i];
		healthy = healthy && family_healthy(h, i, now_ms);
	}
	/* /healthz also fails a node being deleted; /livez does not */
	if (healthz)
		healthy = healthy && h->node_eligible;
	/* the agent's conditions: fields go into a side buffer, then last */
	struct httpd_resp extra = { .status = 200 };
	bool extra_ok = !healthz || !h->extra || h->extra(h->extra_arg, &extra);

	healthy = healthy && extra_ok;
	r->content_type = "application/json";
	snprintf(r->headers, sizeof(r->headers), "X-Content-Type-Options: nosniff\r\n");
	r->status = healthy ? 200 : 503;
	if (h->counters[healthz ? 0 : 1][healthy ? 0 : 1])
		metric_inc(h->counters[healthz ? 0 : 1][healthy ? 0 : 1]);
	/* kube-proxy reports "now" as lastUpdated while healthy, for old clients */
	hc_rfc3339nano(t, sizeof(t), healthy ? now : last);
	httpd_printf(r, "{\"lastUpdated\":\"%s\",", t);
	hc_rfc3339nano(t, sizeof(t), now);
	httpd_printf(r, "\"currentTime\":\"%s\",", t);
	if (healthz)
		httpd_printf(r, "\"nodeEligible\":%s,", h->node_eligible ? "true" : "false");
	/* Health().Healthy: the proxiers only, whatever the node */
	httpd_printf(r, "\"healthy\":%s", hc_health_healthy_at(h, now_ms) && extra_ok ? "true" : "false");
	for (int i = 0; i < 2; i++) {
		if (!h->updated[i])
			continue;
		hc_rfc3339nano(t, sizeof(t), h->last_updated[i]);
		httpd_printf(r, "%s\"%s\":{\"lastUpdated\":\"%s\",\"healthy\":%s}", any ? "," : ",\"status\":{",
			     fam[i], t, family_healthy(h, i, now_ms) ? "true" : "false");
		any = true;
	}
	httpd_printf(r, "%s%.*s}", any ? "}" : "", (int)extra.len, extra.body ? extra.body : "");
	free(extra.body);
}

static void health_http(struct hc_health *h, bool healthz, struct httpd_resp *r)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	hc_health_body(h, healthz, now, loop_now_ms(), r);
}

void hc_healthz_http(void *arg, const struct httpd_req *req, struct httpd_resp *r)
{
	health_http(arg, true, r);
}

void hc_livez_http(void *arg, const struct httpd_req *req, struct httpd_resp *r)
{
	health_http(arg, false, r);
}

/* ---- Service health-check node ports: the bodies ---- */

static void json_str(char **p, size_t *left, const char *s)
{
	for (; *s && *left > 8; s++) {
		unsigned char c = *s;
		int w;

		if (c == '"' || c == '\\')
			w = snprintf(*p, *left, "\\%c", c);
		else if (c < 0x20)
			w = snprintf(*p, *left, "\\u%04x", c);
		else
			w = snprintf(*p, *left, "%c", c);
		*p += w;
		*left -= w;
	}
}

char *hc_service_body(const char *namespace, const char *name, uint32_t eps, bool healthy)
{
	size_t cap = 160 + 6 * (strlen(namespace) + strlen(name)), left = cap;
	char *out = malloc(cap), *p = out;
	int w;

	if (!out)
		return NULL;
	/* kube-proxy's text: tab-indented, no trailing newline */
	w = snprintf(p, left, "{\n\t\"service\": {\n\t\t\"namespace\": \"");
	p += w, left -= w;
	json_str(&p, &left, namespace);
	w = snprintf(p, left, "\",\n\t\t\"name\": \"");
	p += w, left -= w;
	json_str(&p, &left, name);
	snprintf(p, left, "\"\n\t},\n\t\"localEndpoints\": %u,\n\t\"serviceProxyHealthy\": %s\n}",
		 eps, healthy ? "true" : "false");
	return out;
}

static bool faddr_in(const struct faddr *a, const struct faddr *cidr)
{
	if (a->family != cidr->family)
		return false;
	for (unsigned b = 0; b < cidr->plen; b++)
		if ((a->a[b / 8] ^ cidr->a[b / 8]) & (0x80 >> (b % 8)))
			return false;
	return true;
}

int hc_bind_addrs(const struct fnode *node, const struct faddr *local, size_t n_local, size_t *out)
{
	bool all[2] = { false, false };
	size_t n = 0;

	for (size_t i = 0; i < node->n_nodeport_cidrs; i++)
		if (!node->nodeport_cidrs[i].plen)
			all[node->nodeport_cidrs[i].family == AF_INET6] = true;
	if (!node->n_nodeport_cidrs || (all[0] && all[1]))
		return -1;
	/* one family's wildcard would take the other's addresses too ("::"
	 * is dual-stack): list that family's addresses instead */
	for (size_t i = 0; i < n_local; i++)
		for (size_t c = 0; c < node->n_nodeport_cidrs; c++)
			if (faddr_in(&local[i], &node->nodeport_cidrs[c])) {
				out[n++] = i;
				break;
			}
	return (int)n;
}
