/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Health-check node ports: one struct hc_svc per served Service, one httpd
 * per (Service, bind address). The handler reads the count from the hc_svc
 * at request time, so hc_sync updates counts without touching sockets.
 */
#include "proxy/healthcheck.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"

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
	if (t.tv_nsec) {
		snprintf(frac, sizeof(frac), ".%09ld", t.tv_nsec);
		for (size_t e = strlen(frac); frac[e - 1] == '0'; e--)
			frac[e - 1] = 0;
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

/* ---- Service health-check node ports ---- */

struct hc_svc {
	struct hc_servers *s;
	char *ns, *name;
	uint16_t port;
	uint32_t eps;
	bool keep;
	size_t n_h;
	struct httpd **h;
	struct hc_svc *next;
};

struct hc_servers {
	struct loop *loop;
	char **binds;
	size_t n_binds;
	const struct hc_health *health;
	struct hc_svc *svcs;
	size_t n_svcs;
};

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

static void svc_http(void *arg, const struct httpd_req *req, struct httpd_resp *r)
{
	struct hc_svc *v = arg;
	bool healthy = !v->s->health || hc_health_healthy(v->s->health);
	char *body = hc_service_body(v->ns, v->name, v->eps, healthy);

	r->content_type = "application/json";
	snprintf(r->headers, sizeof(r->headers),
		 "X-Content-Type-Options: nosniff\r\nX-Load-Balancing-Endpoint-Weight: %u\r\n", v->eps);
	r->status = v->eps && healthy ? 200 : 503;
	if (body)
		httpd_printf(r, "%s", body);
	free(body);
}

struct hc_servers *hc_new(struct loop *l, const char *const *binds, size_t n_binds,
			  const struct hc_health *health)
{
	struct hc_servers *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = l;
	s->health = health;
	if (n_binds && binds) {
		s->binds = calloc(n_binds, sizeof(*s->binds));
		if (!s->binds) {
			free(s);
			return NULL;
		}
		for (size_t i = 0; i < n_binds; i++)
			if (!(s->binds[i] = strdup(binds[i]))) {
				s->n_binds = i;
				hc_free(s);
				return NULL;
			}
		s->n_binds = n_binds;
	}
	return s;
}

static void svc_close(struct hc_svc *v)
{
	for (size_t i = 0; i < v->n_h; i++)
		httpd_free(v->h[i]);
	free(v->h);
	v->h = NULL;
	v->n_h = 0;
}

static void svc_free(struct hc_svc *v)
{
	svc_close(v);
	free(v->ns);
	free(v->name);
	free(v);
}

void hc_free(struct hc_servers *s)
{
	if (!s)
		return;
	while (s->svcs) {
		struct hc_svc *v = s->svcs;

		s->svcs = v->next;
		svc_free(v);
	}
	for (size_t i = 0; i < s->n_binds; i++)
		free(s->binds[i]);
	free(s->binds);
	free(s);
}

static struct httpd *listen_one(struct hc_servers *s, const char *addr, uint16_t port, int *err)
{
	char b[80];

	snprintf(b, sizeof(b), strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, port);
	return httpd_new(s->loop, b, err);
}

/* Opens every listener of v, or none (kube-proxy closes what it opened so
 * the next sync retries from scratch). */
static int svc_open(struct hc_servers *s, struct hc_svc *v)
{
	size_t n = s->n_binds ? s->n_binds : 1;
	int err = 0;

	v->h = calloc(n, sizeof(*v->h));
	if (!v->h)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct httpd *h;

		if (s->n_binds) {
			h = listen_one(s, s->binds[i], v->port, &err);
		} else {
			h = listen_one(s, "::", v->port, &err);
			if (!h && (err == -EAFNOSUPPORT || err == -EADDRNOTAVAIL))
				h = listen_one(s, "0.0.0.0", v->port, &err);
		}
		if (!h || httpd_route(h, "*", svc_http, v) < 0) {
			if (h) {
				httpd_free(h);
				err = -ENOMEM;
			}
			log_err("healthcheck", "cannot open health-check port",
				"service=%s/%s port=%u bind=%s err=%s", v->ns, v->name, v->port,
				log_q(s->n_binds ? s->binds[i] : "*"), log_q(strerror(-err)));
			svc_close(v);
			return err;
		}
		v->h[v->n_h++] = h;
	}
	log_v(2, "healthcheck", "opened health-check port", "service=%s/%s port=%u", v->ns, v->name,
	      v->port);
	return 0;
}

static struct hc_svc *find(struct hc_servers *s, const char *ns, const char *name)
{
	for (struct hc_svc *v = s->svcs; v; v = v->next)
		if (!strcmp(v->ns, ns) && !strcmp(v->name, name))
			return v;
	return NULL;
}

/* A per-call index of the served services by namespace/name: hc_sync runs
 * on every proxy sync, with up to thousands of services. */
struct idx {
	struct hc_svc **slot;
	size_t mask;
};

static size_t key_hash(const char *ns, const char *name)
{
	uint32_t h = 2166136261u;

	for (const char *p = ns; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

static int idx_build(struct idx *x, const struct hc_servers *s, size_t more)
{
	size_t size = 16;

	while (size < 2 * (s->n_svcs + more))
		size *= 2;
	free(x->slot);
	x->slot = calloc(size, sizeof(*x->slot));
	if (!x->slot)
		return -ENOMEM;
	x->mask = size - 1;
	for (struct hc_svc *v = s->svcs; v; v = v->next)
		for (size_t h = key_hash(v->ns, v->name) & x->mask;; h = (h + 1) & x->mask)
			if (!x->slot[h]) {
				x->slot[h] = v;
				break;
			}
	return 0;
}

static struct hc_svc *idx_find(const struct idx *x, const char *ns, const char *name)
{
	for (size_t h = key_hash(ns, name) & x->mask; x->slot[h]; h = (h + 1) & x->mask)
		if (!strcmp(x->slot[h]->ns, ns) && !strcmp(x->slot[h]->name, name))
			return x->slot[h];
	return NULL;
}

static void idx_put(struct idx *x, struct hc_svc *v)
{
	size_t h = key_hash(v->ns, v->name) & x->mask;

	while (x->slot[h])
		h = (h + 1) & x->mask;
	x->slot[h] = v;
}

int hc_sync(struct hc_servers *s, const struct hc_want *want, size_t n)
{
	struct idx x = { 0 };
	int first_err = 0;

	if (idx_build(&x, s, 0) < 0)
		return -ENOMEM;
	for (struct hc_svc *v = s->svcs; v; v = v->next)
		v->keep = false;
	for (size_t i = 0; i < n; i++) {
		struct hc_svc *v = idx_find(&x, want[i].namespace, want[i].name);

		if (v && v->port == want[i].port) {
			v->keep = true;
			v->eps = want[i].local_endpoints;
		}
	}
	/* close first: a port moving between two services must be free */
	for (struct hc_svc **pp = &s->svcs; *pp;) {
		struct hc_svc *v = *pp;

		if (v->keep) {
			pp = &v->next;
			continue;
		}
		log_v(2, "healthcheck", "closing health-check port", "service=%s/%s port=%u", v->ns,
		      v->name, v->port);
		*pp = v->next;
		s->n_svcs--;
		svc_free(v);
	}
	/* room for every want: the table never fills while opening */
	if (idx_build(&x, s, n) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct hc_svc *v = idx_find(&x, want[i].namespace, want[i].name);
		int rc;

		if (v)
			continue;	/* kept, or a duplicate of one opened just now */
		v = calloc(1, sizeof(*v));
		if (!v || !(v->ns = strdup(want[i].namespace)) || !(v->name = strdup(want[i].name))) {
			if (v)
				svc_free(v);
			free(x.slot);
			return -ENOMEM;
		}
		v->s = s;
		v->port = want[i].port;
		v->eps = want[i].local_endpoints;
		if ((rc = svc_open(s, v)) < 0) {
			svc_free(v);
			if (!first_err)
				first_err = rc;
			continue;
		}
		v->next = s->svcs;
		s->svcs = v;
		s->n_svcs++;
		idx_put(&x, v);
	}
	free(x.slot);
	return first_err;
}

size_t hc_count(const struct hc_servers *s) { return s->n_svcs; }

int hc_port(const struct hc_servers *s, const char *ns, const char *name)
{
	struct hc_svc *v = find((struct hc_servers *)s, ns, name);

	return v && v->n_h ? httpd_port(v->h[0]) : -1;
}
