/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/httpd.h"
#include "core/metrics.h"
#include "core/test.h"

#include <math.h>
#include <stdlib.h>

static void test_fmt(void)
{
	/* what Go's strconv.FormatFloat(v, 'g', -1, 64) prints */
	static const struct { double v; const char *s; } rows[] = {
		{ 0, "0" }, { 1, "1" }, { 100, "100" }, { 0.001, "0.001" }, { 0.25, "0.25" },
		{ 16.384, "16.384" }, { 123456, "123456" }, { 1234567, "1.234567e+06" },
		{ 1e6, "1e+06" }, { 1764165001.5, "1.7641650015e+09" }, { 0.0001, "0.0001" },
		{ 0.00001, "1e-05" }, { -2.5, "-2.5" }, { 0.1 + 0.2, "0.30000000000000004" },
		{ INFINITY, "+Inf" }, { -INFINITY, "-Inf" }, { NAN, "NaN" },
	};
	char b[40];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		metrics_fmt(b, sizeof(b), rows[i].v);
		CHECK_EQ_STR(b, rows[i].s);
	}
}

static void test_text(void)
{
	struct metrics *m = metrics_new();
	double bounds[3];
	struct metric *c, *g, *h, *l1, *l2;
	char *t;

	metrics_exp_buckets(bounds, 0.001, 2, 3);
	c = metrics_counter(m, "a_total", NULL, "Things.\nWith \\ and newline");
	g = metrics_gauge(m, "b", NULL, "A gauge");
	h = metrics_histogram(m, "c_seconds", NULL, "Durations", bounds, 3);
	l1 = metrics_counter(m, "d_total", "code=\"200\"", "Codes");
	l2 = metrics_counter(m, "d_total", "code=\"503\"", "Codes");
	CHECK(c && g && h && l1 && l2);
	CHECK(metrics_counter(m, "a_total", NULL, "again") == NULL);
	CHECK(metrics_gauge(m, "d_total", "code=\"404\"", "other type") == NULL);
	CHECK(metrics_gauge(m, "bad-name", NULL, "") == NULL);
	CHECK(metrics_gauge(m, "9x", NULL, "") == NULL);
	double bad[] = { 1, 1 };
	CHECK(metrics_histogram(m, "e", NULL, "", bad, 2) == NULL);

	metric_inc(c);
	metric_add(c, 2.5);
	metric_add(c, -1);	/* counters never go down */
	metric_set(g, -3);
	metric_observe(h, 0.001);	/* le is inclusive */
	metric_observe(h, 0.003);
	metric_observe(h, 10);
	metric_inc(l2);
	CHECK(metric_value(c) == 3.5);
	CHECK(metric_value(h) == 3);
	t = metrics_text(m);
	CHECK_EQ_STR(t,
		"# HELP a_total Things.\\nWith \\\\ and newline\n# TYPE a_total counter\na_total 3.5\n"
		"# HELP b A gauge\n# TYPE b gauge\nb -3\n"
		"# HELP c_seconds Durations\n# TYPE c_seconds histogram\n"
		"c_seconds_bucket{le=\"0.001\"} 1\nc_seconds_bucket{le=\"0.002\"} 1\n"
		"c_seconds_bucket{le=\"0.004\"} 2\nc_seconds_bucket{le=\"+Inf\"} 3\n"
		"c_seconds_sum 10.004\nc_seconds_count 3\n"
		"# HELP d_total Codes\n# TYPE d_total counter\nd_total{code=\"200\"} 0\nd_total{code=\"503\"} 1\n");
	free(t);

	struct httpd_resp r = { .status = 200 };
	metrics_http(m, NULL, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
	CHECK(r.body && !strncmp(r.body, "# HELP a_total", 14));
	free(r.body);
	metrics_free(m);

	/* labelled histograms put le last */
	m = metrics_new();
	h = metrics_histogram(m, "h", "x=\"1\"", "", bounds, 1);
	metric_observe(h, 5);
	t = metrics_text(m);
	CHECK_EQ_STR(t, "# HELP h \n# TYPE h histogram\nh_bucket{x=\"1\",le=\"0.001\"} 0\n"
		     "h_bucket{x=\"1\",le=\"+Inf\"} 1\nh_sum{x=\"1\"} 5\nh_count{x=\"1\"} 1\n");
	free(t);
	metrics_free(m);
}

static void test_process(void)
{
	struct metrics *m = metrics_new();
	char *t;
	double rss = 0, cpu = -1, start = 0, fds = 0;

	CHECK_EQ_INT(metrics_add_process(m), 0);
	t = metrics_text(m);
	CHECK(strstr(t, "# TYPE process_cpu_seconds_total counter\n") != NULL);
	CHECK(strstr(t, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n") != NULL);
	for (char *l = t; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		sscanf(l, "process_resident_memory_bytes %lf", &rss);
		sscanf(l, "process_cpu_seconds_total %lf", &cpu);
		sscanf(l, "process_start_time_seconds %lf", &start);
		sscanf(l, "process_open_fds %lf", &fds);
	}
	CHECK(rss > 100000);
	CHECK(cpu >= 0);
	CHECK(start > 1.7e9);
	CHECK(fds >= 3);
	free(t);
	metrics_free(m);
}

/* Label sets of one name registered apart still print as one family;
 * a removed one is gone; an included registry follows. */
static void test_families(void)
{
	struct metrics *m = metrics_new(), *child = metrics_new();
	struct metric *a1 = metrics_gauge(m, "pool_total", "pool=\"a\"", "Total.");
	struct metric *u1 = metrics_gauge(m, "pool_used", "pool=\"a\"", "Used.");
	struct metric *a2 = metrics_gauge(m, "pool_total", "pool=\"b\"", "Total.");
	char *t;

	metrics_counter(child, "child_total", NULL, "From another part.");
	CHECK(a1 && u1 && a2);
	metric_set(a2, 7);
	CHECK_EQ_INT(metrics_include(m, child), 0);
	t = metrics_text(m);
	CHECK(t && strstr(t, "pool_total{pool=\"a\"} 0\npool_total{pool=\"b\"} 7\n# HELP pool_used"));
	CHECK(t && strstr(t, "# TYPE child_total counter\nchild_total 0\n"));
	free(t);
	metrics_remove(m, a1);
	metrics_remove(m, a2);
	metrics_remove(m, NULL);
	t = metrics_text(m);
	CHECK(t && !strstr(t, "pool_total"));
	CHECK(t && strstr(t, "pool_used{pool=\"a\"} 0"));
	free(t);
	/* the tail moved back: a new metric after removing the last one works */
	metrics_remove(m, u1);
	CHECK(metrics_gauge(m, "late", NULL, "Late.") != NULL);
	t = metrics_text(m);
	CHECK(t && strstr(t, "late 0") && !strstr(t, "pool_used"));
	free(t);
	metrics_free(m);
	metrics_free(child);
}

int main(void)
{
	test_families();
	test_fmt();
	test_text();
	test_process();
	return test_done("core_metrics");
}
