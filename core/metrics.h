/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tiny Prometheus registry: counters, gauges and histograms, written in
 * the text exposition format (version 0.0.4) that every scraper reads.
 * Metrics live as long as the registry; one thread (the loop) updates and
 * writes them, so there is no locking. Numbers print as Go's client does
 * (shortest round-trip, %e from 1e+06 up), so dashboards see the same text.
 */
#ifndef FERRY_CORE_METRICS_H
#define FERRY_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;
struct metric;
struct httpd_req;
struct httpd_resp;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/*
 * Register a metric. `labels` is NULL or a constant label set in the text
 * format ("code=\"200\""); several label sets of one name share the HELP
 * and TYPE lines (register them one after another). NULL on a bad name,
 * a name already used with another type, or ENOMEM (logged).
 */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *labels,
			       const char *help);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *labels,
			     const char *help);
/* `bounds`: n increasing upper bounds; +Inf is implied. */
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *labels,
				 const char *help, const double *bounds, size_t n);

void metric_inc(struct metric *c);
void metric_add(struct metric *c, double v);	/* counters: v >= 0 */
void metric_set(struct metric *g, double v);	/* gauges */
void metric_observe(struct metric *h, double v);	/* histograms */
double metric_value(const struct metric *c);	/* counter/gauge value; histogram count */

/* Prometheus' ExponentialBuckets / LinearBuckets into out[n]. */
void metrics_exp_buckets(double *out, double start, double factor, size_t n);
void metrics_lin_buckets(double *out, double start, double width, size_t n);

/* Called by metrics_text() before writing, to refresh gauges that are
 * read rather than counted (one hook per registry; NULL removes it). */
void metrics_on_scrape(struct metrics *m, void (*fn)(void *arg), void *arg);

/* The standard process_* metrics of Prometheus' process collector (CPU,
 * RSS, virtual memory, open and max fds, start time), read from /proc at
 * each scrape. Uses the scrape hook. 0, or -ENOMEM. */
int metrics_add_process(struct metrics *m);

/* Unregister and free one metric (NULL: nothing). A label set that is
 * gone (a deleted pool) disappears from the text. */
void metrics_remove(struct metrics *m, struct metric *x);
/* Write child's metrics after m's own (another part's registry on one
 * /metrics page). child must outlive m or be its last user. 0 or -ENOSPC. */
int metrics_include(struct metrics *m, struct metrics *child);
/* The text exposition; malloc'd, NULL on ENOMEM. */
char *metrics_text(const struct metrics *m);
/* httpd handler, arg = struct metrics *: serves metrics_text(). */
void metrics_http(void *arg, const struct httpd_req *req, struct httpd_resp *r);

/* Go's strconv.FormatFloat(v, 'g', -1, 64), as Prometheus prints values. */
void metrics_fmt(char *buf, size_t len, double v);

#endif
