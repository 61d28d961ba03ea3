/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/metrics.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/vec.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum mtype { M_COUNTER, M_GAUGE, M_HISTOGRAM };

struct metric {
	enum mtype type;
	char *name, *labels, *help;
	double value;			/* counter, gauge */
	double *bounds;			/* histogram */
	uint64_t *buckets;		/* per bound, not cumulative; [n] is +Inf */
	size_t n;
	double sum;
	uint64_t count;
	struct metric *next;
};

struct metrics {
	struct metric *head, **tail;
	void (*scrape)(void *arg);
	void *scrape_arg;
	struct proc_metrics *proc;
	struct metrics *children[8];	/* metrics_include: written after, not owned */
	size_t n_children;
};

struct proc_metrics {
	struct metric *cpu, *open_fds, *max_fds, *vsize, *vmax, *rss, *start;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m)
		m->tail = &m->head;
	return m;
}

static void metric_free(struct metric *x)
{
	free(x->name);
	free(x->labels);
	free(x->help);
	free(x->bounds);
	free(x->buckets);
	free(x);
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	free(m->proc);
	while (m->head) {
		struct metric *x = m->head;

		m->head = x->next;
		metric_free(x);
	}
	free(m);
}

static bool valid_name(const char *s)
{
	if (!s || !(isalpha((unsigned char)*s) || *s == '_' || *s == ':'))
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == ':'))
			return false;
	return true;
}

static struct metric *add(struct metrics *m, enum mtype t, const char *name, const char *labels,
			  const char *help)
{
	struct metric *x;

	if (!valid_name(name)) {
		log_err("metrics", "bad metric name", "name=%s", log_q(name ? name : "(null)"));
		return NULL;
	}
	for (x = m->head; x; x = x->next)
		if (!strcmp(x->name, name) && (x->type != t || !strcmp(x->labels, labels ? labels : ""))) {
			log_err("metrics", "metric registered twice", "name=%s", name);
			return NULL;
		}
	x = calloc(1, sizeof(*x));
	if (!x || !(x->name = strdup(name)) || !(x->labels = strdup(labels ? labels : "")) ||
	    !(x->help = strdup(help ? help : ""))) {
		if (x)
			metric_free(x);
		return NULL;
	}
	x->type = t;
	*m->tail = x;
	m->tail = &x->next;
	return x;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *labels, const char *help)
{
	return add(m, M_COUNTER, name, labels, help);
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *labels, const char *help)
{
	return add(m, M_GAUGE, name, labels, help);
}

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *labels,
				 const char *help, const double *bounds, size_t n)
{
	struct metric *x;

	for (size_t i = 1; i < n; i++)
		if (!(bounds[i] > bounds[i - 1])) {
			log_err("metrics", "histogram bounds not increasing", "name=%s", name);
			return NULL;
		}
	x = add(m, M_HISTOGRAM, name, labels, help);
	if (!x)
		return NULL;
	x->bounds = malloc((n ? n : 1) * sizeof(double));
	x->buckets = calloc(n + 1, sizeof(uint64_t));
	if (!x->bounds || !x->buckets) {
		/* unlink: it is the tail */
		struct metric **pp = &m->head;

		while (*pp != x)
			pp = &(*pp)->next;
		*pp = NULL;
		m->tail = pp;
		metric_free(x);
		return NULL;
	}
	if (n)
		memcpy(x->bounds, bounds, n * sizeof(double));
	x->n = n;
	return x;
}

void metric_inc(struct metric *c) { metric_add(c, 1); }

void metric_add(struct metric *c, double v)
{
	if (c && v >= 0)
		c->value += v;
}

void metric_set(struct metric *g, double v)
{
	if (g)
		g->value = v;
}

void metric_observe(struct metric *h, double v)
{
	size_t i;

	if (!h || h->type != M_HISTOGRAM)
		return;
	for (i = 0; i < h->n && v > h->bounds[i]; i++)
		;
	h->buckets[i]++;
	h->sum += v;
	h->count++;
}

double metric_value(const struct metric *c)
{
	return c->type == M_HISTOGRAM ? (double)c->count : c->value;
}

void metrics_exp_buckets(double *out, double start, double factor, size_t n)
{
	for (size_t i = 0; i < n; i++, start *= factor)
		out[i] = start;
}

void metrics_lin_buckets(double *out, double start, double width, size_t n)
{
	for (size_t i = 0; i < n; i++, start += width)
		out[i] = start;
}

void metrics_fmt(char *buf, size_t len, double v)
{
	char e[40];
	int p, exp;

	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) {
		snprintf(buf, len, signbit(v) ? "-0" : "0");
		return;
	}
	/* shortest digits that read back to v */
	for (p = 1; p < 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	snprintf(e, sizeof(e), "%.*e", p - 1, v);
	exp = atoi(strchr(e, 'e') + 1);
	/* Go's 'g' at shortest precision: %e when the exponent is < -4 or >= 6 */
	if (exp < -4 || exp >= 6) {
		snprintf(buf, len, "%s", e);
		return;
	}
	snprintf(buf, len, "%.*f", p - 1 - exp > 0 ? p - 1 - exp : 0, v);
}

struct out {
	char *s;
	size_t len, cap;
	bool oom;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->s ? o->s + o->len : NULL, o->s ? o->cap - o->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (o->s && (size_t)n < o->cap - o->len) {
			o->len += n;
			return;
		}
		if (vec_grow((void **)&o->s, &o->cap, o->len + (size_t)n + 1, 1)) {
			o->oom = true;
			return;
		}
	}
}

/* HELP text escapes backslash and newline */
static void put_help(struct out *o, const char *h)
{
	for (; *h; h++)
		if (*h == '\\')
			put(o, "\\\\");
		else if (*h == '\n')
			put(o, "\\n");
		else
			put(o, "%c", *h);
}

void metrics_on_scrape(struct metrics *m, void (*fn)(void *arg), void *arg)
{
	m->scrape = fn;
	m->scrape_arg = arg;
}

static void proc_read(void *arg)
{
	struct proc_metrics *p = arg;
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	char buf[1024], *s;
	FILE *f;
	DIR *d;

	if ((f = fopen("/proc/self/stat", "re"))) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);

		buf[n] = 0;
		fclose(f);
		/* after "pid (comm) ": state is field 3; comm may hold spaces */
		if ((s = strrchr(buf, ')'))) {
			unsigned long long ut, st, start, vsize;
			long long rss;

			if (sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
				   "%*d %*d %llu %llu %lld", &ut, &st, &start, &vsize, &rss) == 5 && tck > 0) {
				metric_set(p->cpu, (double)(ut + st) / tck);
				metric_set(p->vsize, (double)vsize);
				metric_set(p->rss, (double)rss * page);
				/* start is in ticks since boot */
				if ((f = fopen("/proc/stat", "re"))) {
					unsigned long long btime;

					while (fgets(buf, sizeof(buf), f))
						if (sscanf(buf, "btime %llu", &btime) == 1)
							metric_set(p->start, (double)btime + (double)start / tck);
					fclose(f);
				}
			}
		}
	}
	if ((d = opendir("/proc/self/fd"))) {
		struct dirent *e;
		int n = 0;

		while ((e = readdir(d)))
			n += e->d_name[0] != '.';
		closedir(d);
		metric_set(p->open_fds, n - 1);	/* not the directory's own fd */
	}
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		metric_set(p->max_fds, rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
	if (getrlimit(RLIMIT_AS, &rl) == 0)
		/* client_golang reports "unlimited" as 2^64-1 */
		metric_set(p->vmax, rl.rlim_cur == RLIM_INFINITY ? 18446744073709551615.0 : (double)rl.rlim_cur);
}

int metrics_add_process(struct metrics *m)
{
	struct proc_metrics *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	/* help texts as Prometheus' client_golang process collector */
	p->cpu = metrics_counter(m, "process_cpu_seconds_total", NULL, "Total user and system CPU time spent in seconds.");
	p->open_fds = metrics_gauge(m, "process_open_fds", NULL, "Number of open file descriptors.");
	p->max_fds = metrics_gauge(m, "process_max_fds", NULL, "Maximum number of open file descriptors.");
	p->vsize = metrics_gauge(m, "process_virtual_memory_bytes", NULL, "Virtual memory size in bytes.");
	p->vmax = metrics_gauge(m, "process_virtual_memory_max_bytes", NULL,
				"Maximum amount of virtual memory available in bytes.");
	p->rss = metrics_gauge(m, "process_resident_memory_bytes", NULL, "Resident memory size in bytes.");
	p->start = metrics_gauge(m, "process_start_time_seconds", NULL,
				 "Start time of the process since unix epoch in seconds.");
	if (!p->cpu || !p->open_fds || !p->max_fds || !p->vsize || !p->vmax || !p->rss || !p->start) {
		free(p);
		return -ENOMEM;
	}
	free(m->proc);
	m->proc = p;
	metrics_on_scrape(m, proc_read, p);
	return 0;
}

static void put_metric(struct out *o, const struct metric *x)
{
	const char *l = x->labels, *sep = *l ? "," : "";
	uint64_t cum = 0;
	char v[40];

	if (x->type != M_HISTOGRAM) {
		metrics_fmt(v, sizeof(v), x->value);
		put(o, *l ? "%s{%s} %s\n" : "%s%s %s\n", x->name, l, v);
		return;
	}
	for (size_t i = 0; i <= x->n; i++) {
		cum += x->buckets[i];
		if (i < x->n)
			metrics_fmt(v, sizeof(v), x->bounds[i]);
		else
			snprintf(v, sizeof(v), "+Inf");
		put(o, "%s_bucket{%s%sle=\"%s\"} %llu\n", x->name, l, sep, v, (unsigned long long)cum);
	}
	metrics_fmt(v, sizeof(v), x->sum);
	put(o, *l ? "%s_sum{%s} %s\n" : "%s_sum%s %s\n", x->name, l, v);
	put(o, *l ? "%s_count{%s} %llu\n" : "%s_count%s %llu\n", x->name, l,
	    (unsigned long long)x->count);
}

static void put_registry(struct out *o, const struct metrics *m)
{
	static const char *const tname[] = { "counter", "gauge", "histogram" };

	if (m->scrape)
		m->scrape(m->scrape_arg);
	for (const struct metric *x = m->head; x; x = x->next) {
		bool first = true;

		for (const struct metric *y = m->head; y != x && first; y = y->next)
			first = strcmp(y->name, x->name) != 0;
		if (!first)
			continue;	/* written with the first of its name */
		put(o, "# HELP %s ", x->name);
		put_help(o, x->help);
		put(o, "\n# TYPE %s %s\n", x->name, tname[x->type]);
		/* a family is one block, however its label sets were registered */
		for (const struct metric *y = x; y; y = y->next)
			if (!strcmp(y->name, x->name))
				put_metric(o, y);
	}
	for (size_t i = 0; i < m->n_children; i++)
		put_registry(o, m->children[i]);
}

char *metrics_text(const struct metrics *m)
{
	struct out o = { 0 };

	put(&o, "%s", "");
	put_registry(&o, m);
	if (o.oom) {
		free(o.s);
		return NULL;
	}
	return o.s;
}

void metrics_remove(struct metrics *m, struct metric *x)
{
	if (!x)
		return;
	for (struct metric **pp = &m->head; *pp; pp = &(*pp)->next) {
		if (*pp != x)
			continue;
		*pp = x->next;
		if (m->tail == &x->next)
			m->tail = pp;
		metric_free(x);
		return;
	}
}

int metrics_include(struct metrics *m, struct metrics *child)
{
	struct metrics **n;

	if (m->n_children == sizeof(m->children) / sizeof(m->children[0]))
		return -ENOSPC;
	n = &m->children[m->n_children++];
	*n = child;
	return 0;
}

void metrics_http(void *arg, const struct httpd_req *req, struct httpd_resp *r)
{
	char *t = metrics_text(arg);

	if (!t) {
		r->status = 500;
		httpd_printf(r, "out of memory\n");
		return;
	}
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
	httpd_printf(r, "%s", t);
	free(t);
}
