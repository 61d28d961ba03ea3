/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The file is loaded as a libyaml document (JSON is YAML too) and walked
 * with tables of known fields, one per object. kube-proxy decodes YAML into
 * JSON types, so the checks here are JSON's: a duration is a string, a
 * number must not be quoted, null leaves the default.
 *
 * The walk only descends into known objects, so an alias-heavy document
 * cannot make it explode.
 */
#include "proxy/kpconfig.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define SEC 1000000000LL

/* ---- Go durations ---- */

int kp_parse_duration(const char *s, int64_t *ns)
{
	static const struct { const char *u; int64_t ns; } units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "\xce\xbcs", 1000 },
		{ "ms", 1000000 }, { "s", SEC }, { "m", 60 * SEC }, { "h", 3600 * SEC },
	};
	bool neg = false;
	long double total = 0;

	if (!s || !*s)
		return -EINVAL;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (!strcmp(s, "0")) {
		*ns = 0;
		return 0;
	}
	if (!*s)
		return -EINVAL;
	while (*s) {
		long double v = 0, scale = 1;
		bool digits = false;
		size_t i, ul;

		for (; *s >= '0' && *s <= '9'; s++, digits = true)
			v = v * 10 + (*s - '0');
		if (*s == '.') {
			for (s++; *s >= '0' && *s <= '9'; s++, digits = true) {
				scale /= 10;
				v += (*s - '0') * scale;
			}
		}
		if (!digits)
			return -EINVAL;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			ul = strlen(units[i].u);
			/* "m" must not eat the "m" of "ms" */
			if (!strncmp(s, units[i].u, ul) && !(ul == 1 && *s == 'm' && s[1] == 's'))
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -EINVAL;	/* missing or unknown unit */
		s += ul;
		total += v * units[i].ns;
		if (total > (long double)INT64_MAX)
			return -EINVAL;
	}
	*ns = (int64_t)(neg ? -total : total);
	return 0;
}

/* ---- the walk ---- */

struct ctx {
	yaml_document_t *doc;
	struct kp_config *c;
	bool strict;
	char *err;
	size_t errlen;
	bool failed;
	bool nft_sync, nft_min_sync;	/* nftables.* wins over iptables.* */
};

static void fail(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct ctx *x, const char *fmt, ...)
{
	va_list ap;

	if (x->failed)
		return;
	x->failed = true;
	va_start(ap, fmt);
	vsnprintf(x->err, x->errlen, fmt, ap);
	va_end(ap);
}

static void warn(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct ctx *x, const char *fmt, ...)
{
	char msg[512], **w;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w = realloc(x->c->warnings, (x->c->n_warnings + 1) * sizeof(*w));
	if (!w || !(w[x->c->n_warnings] = strdup(msg))) {
		if (w)
			x->c->warnings = w;
		fail(x, "out of memory");
		return;
	}
	x->c->warnings = w;
	x->c->n_warnings++;
}

enum ftype { F_STR, F_BOOL, F_I32, F_F64, F_DUR, F_STRLIST, F_GATES, F_OBJ, F_NOTE, F_TYPEMETA };

struct field {
	const char *key;
	enum ftype type;
	size_t off;			/* into struct kp_config */
	uint32_t bit;			/* KPC_* */
	const struct field *sub;	/* F_OBJ */
	const char *note;		/* F_NOTE: why it does not apply; else
					 * for the reference, what ferry makes of it */
};

#define OFF(f) offsetof(struct kp_config, f)
#define FLD(k, t, f, b) { .key = k, .type = t, .off = OFF(f), .bit = b }
#define FLDN(k, t, f, b, n) { .key = k, .type = t, .off = OFF(f), .bit = b, .note = n }
#define OBJ(k, s) { .key = k, .type = F_OBJ, .sub = s }
#define NOTE(k, why) { .key = k, .type = F_NOTE, .note = why }
#define META(k) { .key = k, .type = F_TYPEMETA }
#define END { .key = NULL }

static const char *const mode_note = "ferry always programs nftables";
static const char *const conntrack_note =
	"written to its net.netfilter.nf_conntrack_* sysctl at start when /proc/sys is writable; "
	"else (the DaemonSet) a warning names the sysctl to set on the node";

static const struct field client_fields[] = {
	FLD("kubeconfig", F_STR, kubeconfig, KPC_KUBECONFIG),
	FLD("acceptContentTypes", F_STR, accept_content_types, 0),
	FLD("contentType", F_STR, content_type, 0),
	FLD("qps", F_F64, qps, KPC_QPS),
	FLD("burst", F_I32, burst, KPC_BURST),
	END,
};

static const struct field logging_fields[] = {
	FLD("format", F_STR, log_format, 0),
	FLD("verbosity", F_I32, log_verbosity, KPC_LOG_VERBOSITY),
	NOTE("flushFrequency", "ferry writes log lines unbuffered"),
	NOTE("vmodule", "ferry has one verbosity for all files"),
	NOTE("options", "ferry's log format is fixed"),
	END,
};

/* iptables.* and nftables.*: same shape; the sync periods are taken from
 * iptables only when nftables does not give them (see walk_obj) */
static const struct field iptables_fields[] = {
	FLD("masqueradeBit", F_I32, masquerade_bit, KPC_MASQUERADE_BIT),
	FLD("masqueradeAll", F_BOOL, masquerade_all, KPC_MASQUERADE_ALL),
	FLD("syncPeriod", F_DUR, sync_period_ns, KPC_SYNC_PERIOD),
	FLD("minSyncPeriod", F_DUR, min_sync_period_ns, KPC_MIN_SYNC_PERIOD),
	NOTE("localhostNodePorts", "ferry never serves NodePorts on localhost"),
	END,
};

static const struct field nftables_fields[] = {
	FLD("masqueradeBit", F_I32, masquerade_bit, KPC_MASQUERADE_BIT),
	FLD("masqueradeAll", F_BOOL, masquerade_all, KPC_MASQUERADE_ALL),
	FLD("syncPeriod", F_DUR, sync_period_ns, KPC_SYNC_PERIOD),
	FLD("minSyncPeriod", F_DUR, min_sync_period_ns, KPC_MIN_SYNC_PERIOD),
	END,
};

static const struct field detect_local_fields[] = {
	FLD("bridgeInterface", F_STR, detect_local_bridge_interface, KPC_DETECT_LOCAL_BRIDGE),
	FLD("interfaceNamePrefix", F_STR, detect_local_interface_name_prefix, KPC_DETECT_LOCAL_PREFIX),
	END,
};

static const struct field conntrack_fields[] = {
	FLDN("maxPerCore", F_I32, conntrack.max_per_core, KPC_CONNTRACK, conntrack_note),
	FLDN("min", F_I32, conntrack.min, KPC_CONNTRACK, conntrack_note),
	FLDN("tcpEstablishedTimeout", F_DUR, conntrack.tcp_established_timeout_ns, KPC_CONNTRACK, conntrack_note),
	FLDN("tcpCloseWaitTimeout", F_DUR, conntrack.tcp_close_wait_timeout_ns, KPC_CONNTRACK, conntrack_note),
	FLDN("tcpBeLiberal", F_BOOL, conntrack.tcp_be_liberal, KPC_CONNTRACK, conntrack_note),
	FLDN("udpTimeout", F_DUR, conntrack.udp_timeout_ns, KPC_CONNTRACK, conntrack_note),
	FLDN("udpStreamTimeout", F_DUR, conntrack.udp_stream_timeout_ns, KPC_CONNTRACK, conntrack_note),
	END,
};

static const struct field top_fields[] = {
	META("apiVersion"),
	META("kind"),
	{ .key = "featureGates", .type = F_GATES, .bit = KPC_FEATURE_GATES },
	OBJ("clientConnection", client_fields),
	OBJ("logging", logging_fields),
	FLD("hostnameOverride", F_STR, hostname_override, KPC_HOSTNAME_OVERRIDE),
	FLD("bindAddress", F_STR, bind_address, KPC_BIND_ADDRESS),
	FLD("healthzBindAddress", F_STR, healthz_bind_address, KPC_HEALTHZ_BIND_ADDRESS),
	FLD("metricsBindAddress", F_STR, metrics_bind_address, KPC_METRICS_BIND_ADDRESS),
	FLD("bindAddressHardFail", F_BOOL, bind_address_hard_fail, 0),
	NOTE("enableProfiling", "ferry has no pprof handlers"),
	NOTE("showHiddenMetricsForVersion", "ferry hides no metrics"),
	FLDN("mode", F_STR, mode, KPC_MODE,
	     "ferry always programs nftables; iptables and ipvs are warned about, others refused"),
	OBJ("iptables", iptables_fields),
	NOTE("ipvs", mode_note),
	OBJ("nftables", nftables_fields),
	NOTE("winkernel", "Windows only"),
	FLD("detectLocalMode", F_STR, detect_local_mode, KPC_DETECT_LOCAL_MODE),
	OBJ("detectLocal", detect_local_fields),
	FLD("clusterCIDR", F_STR, cluster_cidr, KPC_CLUSTER_CIDR),
	FLD("nodePortAddresses", F_STRLIST, node_port_addresses, KPC_NODE_PORT_ADDRESSES),
	FLD("oomScoreAdj", F_I32, oom_score_adj, KPC_OOM_SCORE_ADJ),
	OBJ("conntrack", conntrack_fields),
	FLD("configSyncPeriod", F_DUR, config_sync_period_ns, KPC_CONFIG_SYNC_PERIOD),
	NOTE("portRange", "unused since the userspace proxy"),
	NOTE("windowsRunAsService", "Windows only"),
	END,
};

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool plain(yaml_node_t *n)
{
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* YAML's null: empty, ~ or null, unquoted */
static bool is_null(yaml_node_t *n)
{
	const char *s = scalar(n);

	return s && plain(n) && (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
				 !strcmp(s, "NULL"));
}

/* null, "", {} or []: a default value kube-proxy writes out; nothing to note */
static bool is_empty(yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return n->data.mapping.pairs.top == n->data.mapping.pairs.start;
	if (n->type == YAML_SEQUENCE_NODE)
		return n->data.sequence.items.top == n->data.sequence.items.start;
	return is_null(n) || !*scalar(n);
}

static const char *type_name(yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE ? "an object" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

static int parse_bool(yaml_node_t *n, bool *b)
{
	/* what YAML 1.1 (sigs.k8s.io/yaml) reads as booleans */
	static const char *const t[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y" };
	static const char *const f[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N" };
	const char *s = scalar(n);

	if (!s || !plain(n))
		return -1;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(s, t[i]) || !strcmp(s, f[i])) {
			*b = !strcmp(s, t[i]);
			return 0;
		}
	return -1;
}

static int parse_i32(yaml_node_t *n, int32_t *v)
{
	const char *s = scalar(n);
	char *end;
	long long l;

	if (!s || !plain(n) || !*s)
		return -1;
	errno = 0;
	l = strtoll(s, &end, 10);
	if (*end || errno || l < INT32_MIN || l > INT32_MAX)
		return -1;
	*v = (int32_t)l;
	return 0;
}

static int parse_f64(yaml_node_t *n, double *v)
{
	const char *s = scalar(n);
	char *end;

	if (!s || !plain(n) || !*s)
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	return *end || errno || !isfinite(*v) ? -1 : 0;
}

static void set_str(struct ctx *x, char **dst, const char *s)
{
	char *d = strdup(s);

	if (!d) {
		fail(x, "out of memory");
		return;
	}
	free(*dst);
	*dst = d;
}

static void walk_obj(struct ctx *x, yaml_node_t *map, const struct field *fields, const char *prefix);

static void do_field(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path, const char *prefix)
{
	void *p = (char *)x->c + f->off;
	const char *s = scalar(v);

	if (f->type == F_TYPEMETA || f->type == F_NOTE) {
		if (f->type == F_NOTE && !is_empty(v)) {
			warn(x, "field \"%s\" accepted and ignored: %s", path, f->note);
			log_warn("kpconfig", "field does not apply", "field=%s why=%s", path, log_q(f->note));
		}
		return;
	}
	if (is_null(v) && f->type != F_STR)
		return;
	/* no flag and no part of ferry reads it: said, never silent */
	if (!f->bit && f->type != F_OBJ && !(f->type == F_STR && (is_null(v) || (s && !*s)))) {
		warn(x, "field \"%s\" has no effect in ferry", path);
		log_warn("kpconfig", "field has no effect in ferry", "field=%s", path);
	}
	switch (f->type) {
	case F_STR:
		if (is_null(v))
			return;
		if (!s) {
			fail(x, "field \"%s\": want a string, got %s", path, type_name(v));
			return;
		}
		/* Go cannot tell "" from absent: hostnameOverride: "" means the
		 * hostname, so the field stays unset (and its default) */
		if (!*s)
			return;
		set_str(x, p, s);
		break;
	case F_BOOL:
		if (parse_bool(v, p) < 0) {
			fail(x, "field \"%s\": want true or false, got %s", path, s ? log_q(s) : type_name(v));
			return;
		}
		break;
	case F_I32:
		if (parse_i32(v, p) < 0) {
			fail(x, "field \"%s\": want an integer, got %s", path, s ? log_q(s) : type_name(v));
			return;
		}
		break;
	case F_F64:
		if (parse_f64(v, p) < 0) {
			fail(x, "field \"%s\": want a number, got %s", path, s ? log_q(s) : type_name(v));
			return;
		}
		break;
	case F_DUR: {
		int64_t ns;

		/* metav1.Duration is a JSON string: a bare 30 is refused */
		if (!s || (plain(v) && strspn(s, "0123456789.-+") == strlen(s) && strcmp(s, "0")) ||
		    kp_parse_duration(s, &ns) < 0) {
			fail(x, "field \"%s\": want a duration like \"30s\", \"1m0s\" or \"500ms\", got %s", path,
			     s ? log_q(s) : type_name(v));
			return;
		}
		/* nftables' periods win over iptables' whatever their order */
		if (!strcmp(prefix, "nftables")) {
			if (f->off == OFF(sync_period_ns))
				x->nft_sync = true;
			if (f->off == OFF(min_sync_period_ns))
				x->nft_min_sync = true;
		} else if (!strcmp(prefix, "iptables") &&
			   ((f->off == OFF(sync_period_ns) && x->nft_sync) ||
			    (f->off == OFF(min_sync_period_ns) && x->nft_min_sync))) {
			return;
		}
		*(int64_t *)p = ns;
		break;
	}
	case F_STRLIST: {
		char ***list = p;
		size_t *n = (size_t *)((char *)x->c + OFF(n_node_port_addresses));
		size_t cnt;

		if (v->type != YAML_SEQUENCE_NODE) {
			fail(x, "field \"%s\": want a list, got %s", path, type_name(v));
			return;
		}
		cnt = v->data.sequence.items.top - v->data.sequence.items.start;
		for (size_t i = 0; i < *n; i++)
			free((*list)[i]);
		free(*list);
		*list = calloc(cnt ? cnt : 1, sizeof(char *));
		*n = 0;
		if (!*list) {
			fail(x, "out of memory");
			return;
		}
		for (size_t i = 0; i < cnt; i++) {
			yaml_node_t *it = yaml_document_get_node(x->doc, v->data.sequence.items.start[i]);
			const char *is = scalar(it);

			if (!is || is_null(it)) {
				fail(x, "field \"%s[%zu]\": want a string", path, i);
				return;
			}
			if (!((*list)[i] = strdup(is))) {
				fail(x, "out of memory");
				return;
			}
			*n = i + 1;
		}
		if (!cnt)
			return;		/* [] is Go's nil: the default */
		break;
	}
	case F_GATES: {
		if (v->type != YAML_MAPPING_NODE) {
			fail(x, "field \"%s\": want a map of feature names to booleans, got %s", path, type_name(v));
			return;
		}
		for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(x->doc, pr->key);
			yaml_node_t *gv = yaml_document_get_node(x->doc, pr->value);
			struct kp_feature_gate *g;
			bool b;

			if (!scalar(k) || parse_bool(gv, &b) < 0) {
				fail(x, "field \"%s.%s\": want true or false", path, scalar(k) ? scalar(k) : "?");
				return;
			}
			g = realloc(x->c->feature_gates, (x->c->n_feature_gates + 1) * sizeof(*g));
			if (!g) {
				fail(x, "out of memory");
				return;
			}
			x->c->feature_gates = g;
			g += x->c->n_feature_gates;
			if (!(g->name = strdup(scalar(k)))) {
				fail(x, "out of memory");
				return;
			}
			g->enabled = b;
			x->c->n_feature_gates++;
		}
		break;
	}
	case F_OBJ:
		if (v->type != YAML_MAPPING_NODE) {
			fail(x, "field \"%s\": want an object, got %s", path, type_name(v));
			return;
		}
		walk_obj(x, v, f->sub, path);
		return;
	default:
		return;
	}
	x->c->set |= f->bit;
}

static void walk_obj(struct ctx *x, yaml_node_t *map, const struct field *fields, const char *prefix)
{
	yaml_node_pair_t *pr;

	for (pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top && !x->failed; pr++) {
		yaml_node_t *k = yaml_document_get_node(x->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(x->doc, pr->value);
		const char *key = scalar(k);
		const struct field *f;
		char path[256];

		if (!key || !v) {
			fail(x, "%s%sa key that is not a string", prefix, *prefix ? ": " : "");
			return;
		}
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pr; q++) {
			const char *qk = scalar(yaml_document_get_node(x->doc, q->key));

			if (qk && !strcmp(qk, key)) {
				fail(x, "duplicate field \"%s\"", path);
				return;
			}
		}
		for (f = fields; f->key && strcmp(f->key, key); f++)
			;
		if (!f->key) {
			if (x->strict) {
				fail(x, "unknown field \"%s\"", path);
				return;
			}
			warn(x, "unknown field \"%s\"", path);
			log_warn("kpconfig", "unknown field", "field=%s", log_q(path));
			continue;
		}
		do_field(x, f, v, path, prefix);
	}
}

/* ---- validation, as kube-proxy's validation.go for what ferry uses ---- */

static bool valid_ip(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static bool valid_cidr(const char *s)
{
	char ip[64], *slash, *end;
	long bits;
	unsigned char b[16];
	int fam;

	if (strlen(s) >= sizeof(ip) || !(slash = strchr(strcpy(ip, s), '/')))
		return false;
	*slash = 0;
	fam = inet_pton(AF_INET, ip, b) == 1 ? 4 : inet_pton(AF_INET6, ip, b) == 1 ? 6 : 0;
	bits = strtol(slash + 1, &end, 10);
	return fam && slash[1] && !*end && bits >= 0 && bits <= (fam == 4 ? 32 : 128);
}

static bool valid_hostport(const char *s)
{
	char host[80];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return false;
	memcpy(host, s, colon - s);
	host[colon - s] = 0;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 0 || port > 65535)
		return false;
	if (host[0] == '[') {
		size_t l = strlen(host);

		if (l < 2 || host[l - 1] != ']')
			return false;
		host[l - 1] = 0;
		return strchr(host + 1, ':') && valid_ip(host + 1);
	}
	return !strchr(host, ':') && valid_ip(host);
}

/* kube-proxy appends its default port to a bare address */
static int with_port(char **addr, const char *port)
{
	char *n;

	if (!**addr || valid_hostport(*addr) || !valid_ip(*addr))
		return 0;
	if (asprintf(&n, strchr(*addr, ':') ? "[%s]:%s" : "%s:%s", *addr, port) < 0)
		return -ENOMEM;
	free(*addr);
	*addr = n;
	return 0;
}

#define FAIL_RET(...) do { fail(x, __VA_ARGS__); return; } while (0)

static void validate(struct ctx *x)
{
	struct kp_config *c = x->c;

	if (x->failed)
		return;
	/* v1alpha1 defaulting (SetDefaults_KubeProxyConfiguration): zero means
	 * the default, so "minSyncPeriod: 0s" is 1s in kube-proxy too */
	/* a defaulted field counts as not given (flags and ferry's own
	 * defaults then apply) */
	if (!c->sync_period_ns) {
		c->sync_period_ns = 30 * SEC;
		c->set &= ~KPC_SYNC_PERIOD;
	}
	if (!c->min_sync_period_ns) {
		if (c->set & KPC_MIN_SYNC_PERIOD)
			warn(x, "field \"minSyncPeriod\": 0 means the default, 1s, as in kube-proxy");
		c->min_sync_period_ns = 1 * SEC;
		c->set &= ~KPC_MIN_SYNC_PERIOD;
	}
	if (!c->config_sync_period_ns) {
		c->config_sync_period_ns = 15 * 60 * SEC;
		c->set &= ~KPC_CONFIG_SYNC_PERIOD;
	}
	if (c->qps == 0) {
		c->qps = 5;
		c->set &= ~KPC_QPS;
	}
	if (!c->burst) {
		c->burst = 10;
		c->set &= ~KPC_BURST;
	}
	if (c->sync_period_ns <= 0)
		FAIL_RET("field \"nftables.syncPeriod\": must be greater than 0");
	if (c->min_sync_period_ns < 0)
		FAIL_RET("field \"nftables.minSyncPeriod\": must be greater than or equal to 0");
	if (c->min_sync_period_ns > c->sync_period_ns)
		FAIL_RET("field \"nftables.minSyncPeriod\": must be less than or equal to syncPeriod");
	if (c->config_sync_period_ns <= 0)
		FAIL_RET("field \"configSyncPeriod\": must be greater than 0");
	if (*c->bind_address && !valid_ip(c->bind_address))
		FAIL_RET("field \"bindAddress\": not a valid IP address: %s", log_q(c->bind_address));
	if (with_port(&c->healthz_bind_address, "10256") < 0 || with_port(&c->metrics_bind_address, "10249") < 0)
		FAIL_RET("out of memory");
	if (*c->healthz_bind_address && !valid_hostport(c->healthz_bind_address))
		FAIL_RET("field \"healthzBindAddress\": want IP:port, got %s", log_q(c->healthz_bind_address));
	if (*c->metrics_bind_address && !valid_hostport(c->metrics_bind_address))
		FAIL_RET("field \"metricsBindAddress\": want IP:port, got %s", log_q(c->metrics_bind_address));
	if (c->qps < 0)
		FAIL_RET("field \"clientConnection.qps\": must be greater than or equal to 0");
	if (c->burst < 0)
		FAIL_RET("field \"clientConnection.burst\": must be greater than or equal to 0");
	if (c->masquerade_bit < 0 || c->masquerade_bit > 31)
		FAIL_RET("field \"nftables.masqueradeBit\": must be within the range [0, 31]");
	if (c->oom_score_adj < -1000 || c->oom_score_adj > 1000)
		FAIL_RET("field \"oomScoreAdj\": must be within the range [-1000, 1000]");
	if (c->log_verbosity < 0)
		FAIL_RET("field \"logging.verbosity\": must be greater than or equal to 0");
	if (*c->cluster_cidr) {
		char *dup = strdup(c->cluster_cidr), *save = NULL, *tok;
		int n = 0;

		if (!dup)
			FAIL_RET("out of memory");
		for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++)
			if (!valid_cidr(tok)) {
				fail(x, "field \"clusterCIDR\": not a CIDR: %s", log_q(tok));
				break;
			}
		free(dup);
		if (x->failed)
			return;
		if (n > 2 || (n == 2 && (strchr(c->cluster_cidr, ':') == NULL ||
					 strchr(c->cluster_cidr, '.') == NULL)))
			FAIL_RET("field \"clusterCIDR\": at most one IPv4 and one IPv6 CIDR");
	}
	for (size_t i = 0; i < c->n_node_port_addresses; i++) {
		const char *a = c->node_port_addresses[i];

		if (strcmp(a, "primary") && strcmp(a, "all") && strcmp(a, "localhost") && !valid_cidr(a))
			FAIL_RET("field \"nodePortAddresses[%zu]\": want a CIDR, \"primary\" or \"all\", got %s",
				    i, log_q(a));
		for (size_t j = 0; j < i; j++)
			if (!strcmp(a, c->node_port_addresses[j]) && !strchr(a, '/'))
				FAIL_RET("field \"nodePortAddresses[%zu]\": duplicate value %s", i, log_q(a));
		if (!strcmp(a, "localhost"))
			warn(x, "field \"nodePortAddresses[%zu]\": ferry never serves NodePorts on localhost", i);
	}
	/* kube-proxy's defaulting: empty means the default */
	if (!*c->detect_local_mode)
		set_str(x, &c->detect_local_mode, "ClusterCIDR");
	/* an IPv6 bindAddress moves the default listeners to IPv6 */
	bool v6 = *c->bind_address && strchr(c->bind_address, ':');

	if (!*c->healthz_bind_address)
		set_str(x, &c->healthz_bind_address, v6 ? "[::]:10256" : "0.0.0.0:10256");
	if (!*c->metrics_bind_address)
		set_str(x, &c->metrics_bind_address, v6 ? "[::1]:10249" : "127.0.0.1:10249");
	if (x->failed)
		return;
	if (strcmp(c->detect_local_mode, "ClusterCIDR") && strcmp(c->detect_local_mode, "NodeCIDR") &&
	    strcmp(c->detect_local_mode, "BridgeInterface") && strcmp(c->detect_local_mode, "InterfaceNamePrefix"))
		FAIL_RET("field \"detectLocalMode\": want ClusterCIDR, NodeCIDR, BridgeInterface or "
			    "InterfaceNamePrefix, got %s", log_q(c->detect_local_mode));
	/* an interface name is at most 15 bytes (IFNAMSIZ) */
	if (strlen(c->detect_local_bridge_interface) > 15)
		FAIL_RET("field \"detectLocal.bridgeInterface\": longer than 15 characters");
	if (strlen(c->detect_local_interface_name_prefix) > 15)
		FAIL_RET("field \"detectLocal.interfaceNamePrefix\": longer than 15 characters");
	if (!strcmp(c->detect_local_mode, "BridgeInterface") && !*c->detect_local_bridge_interface)
		FAIL_RET("field \"detectLocal.bridgeInterface\": required with detectLocalMode BridgeInterface");
	if (!strcmp(c->detect_local_mode, "InterfaceNamePrefix") && !*c->detect_local_interface_name_prefix)
		FAIL_RET("field \"detectLocal.interfaceNamePrefix\": required with detectLocalMode "
			    "InterfaceNamePrefix");
	if (!*c->mode || !strcmp(c->mode, "nftables")) {
		set_str(x, &c->mode, "nftables");
	} else if (!strcmp(c->mode, "iptables") || !strcmp(c->mode, "ipvs")) {
		warn(x, "field \"mode\": %s: %s", c->mode, mode_note);
		log_warn("kpconfig", "proxy mode ignored", "mode=%s why=%s", log_q(c->mode), log_q(mode_note));
		set_str(x, &c->mode, "nftables");
	} else {
		FAIL_RET("field \"mode\": unknown proxy mode %s", log_q(c->mode));
	}
}

size_t kp_conntrack_sysctls(const struct kp_config *c, long ncpu, struct kp_sysctl out[KP_SYSCTL_MAX])
{
#define NF "proc/sys/net/netfilter/nf_conntrack_"
	size_t n = 0;

	if (c->conntrack.max_per_core > 0) {
		/* v1.37.2's getConntrackMax: scaled, capped at 1M, floored at min */
		int64_t max = (int64_t)c->conntrack.max_per_core * (ncpu > 0 ? ncpu : 1);
		if (max > 1048576)
			max = 1048576;
		else if (max <= c->conntrack.min)
			max = c->conntrack.min;
		if (max > 0) {
			out[n++] = (struct kp_sysctl){ "conntrack.maxPerCore", NF "max",
						       "net.netfilter.nf_conntrack_max", max, true };
			out[n++] = (struct kp_sysctl){ "conntrack.maxPerCore",
						       "sys/module/nf_conntrack/parameters/hashsize",
						       "the nf_conntrack module parameter hashsize", max / 4, true };
		}
	}
	if (c->conntrack.tcp_be_liberal)
		out[n++] = (struct kp_sysctl){ "conntrack.tcpBeLiberal", NF "tcp_be_liberal",
					       "net.netfilter.nf_conntrack_tcp_be_liberal", 1, false };
	static const struct { const char *field, *path, *name; size_t off; } t[] = {
		{ "conntrack.tcpEstablishedTimeout", NF "tcp_timeout_established",
		  "net.netfilter.nf_conntrack_tcp_timeout_established",
		  offsetof(struct kp_config, conntrack.tcp_established_timeout_ns) },
		{ "conntrack.tcpCloseWaitTimeout", NF "tcp_timeout_close_wait",
		  "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
		  offsetof(struct kp_config, conntrack.tcp_close_wait_timeout_ns) },
		{ "conntrack.udpTimeout", NF "udp_timeout", "net.netfilter.nf_conntrack_udp_timeout",
		  offsetof(struct kp_config, conntrack.udp_timeout_ns) },
		{ "conntrack.udpStreamTimeout", NF "udp_timeout_stream",
		  "net.netfilter.nf_conntrack_udp_timeout_stream",
		  offsetof(struct kp_config, conntrack.udp_stream_timeout_ns) },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t ns = *(const int64_t *)((const char *)c + t[i].off);
		if (ns / SEC <= 0)
			continue;
		out[n++] = (struct kp_sysctl){ t[i].field, t[i].path, t[i].name, ns / SEC, false };
	}
	return n;
#undef NF
}

/* ---- the tables, for the reference ---- */

static void each_field(const struct field *fields, const char *prefix,
		       void (*fn)(void *arg, const struct kp_field_info *f), void *arg)
{
	static const char *const names[] = {
		[F_STR] = "string", [F_BOOL] = "bool", [F_I32] = "int32", [F_F64] = "float",
		[F_DUR] = "duration", [F_STRLIST] = "[]string", [F_GATES] = "map[string]bool",
		[F_OBJ] = "object", [F_NOTE] = "any", [F_TYPEMETA] = "string",
	};

	for (const struct field *f = fields; f->key; f++) {
		char path[128];
		struct kp_field_info i = { .path = path, .type = names[f->type], .bit = f->bit,
					   .note = f->note, .ignored = f->type == F_NOTE,
					   .typemeta = f->type == F_TYPEMETA,
					   .agent_applies = f->bit == KPC_CONNTRACK };

		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", f->key);
		fn(arg, &i);
		if (f->type == F_OBJ)
			each_field(f->sub, path, fn, arg);
	}
}

void kp_config_fields(void (*fn)(void *arg, const struct kp_field_info *f), void *arg)
{
	each_field(top_fields, "", fn, arg);
}

/* ---- entry points ---- */

int kp_config_defaults(struct kp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->sync_period_ns = 30 * SEC;
	c->min_sync_period_ns = 1 * SEC;
	c->config_sync_period_ns = 15 * 60 * SEC;
	c->qps = 5;
	c->burst = 10;
	c->masquerade_bit = 14;
	c->oom_score_adj = -999;
	c->conntrack.max_per_core = 32768;
	c->conntrack.min = 131072;
	c->conntrack.tcp_established_timeout_ns = 24 * 3600 * SEC;
	c->conntrack.tcp_close_wait_timeout_ns = 3600 * SEC;
	if (!(c->hostname_override = strdup("")) || !(c->bind_address = strdup("")) ||
	    !(c->healthz_bind_address = strdup("0.0.0.0:10256")) ||
	    !(c->metrics_bind_address = strdup("127.0.0.1:10249")) || !(c->cluster_cidr = strdup("")) ||
	    !(c->mode = strdup("nftables")) || !(c->kubeconfig = strdup("")) ||
	    !(c->content_type = strdup("application/vnd.kubernetes.protobuf")) ||
	    !(c->accept_content_types = strdup("")) || !(c->detect_local_mode = strdup("ClusterCIDR")) ||
	    !(c->detect_local_bridge_interface = strdup("")) ||
	    !(c->detect_local_interface_name_prefix = strdup("")) || !(c->log_format = strdup("text"))) {
		kp_config_free(c);
		return -ENOMEM;
	}
	return 0;
}

void kp_config_free(struct kp_config *c)
{
	char **strs[] = { &c->hostname_override, &c->bind_address, &c->healthz_bind_address,
			  &c->metrics_bind_address, &c->cluster_cidr, &c->mode, &c->kubeconfig,
			  &c->content_type, &c->accept_content_types, &c->detect_local_mode,
			  &c->detect_local_bridge_interface, &c->detect_local_interface_name_prefix,
			  &c->log_format };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	for (size_t i = 0; i < c->n_node_port_addresses; i++)
		free(c->node_port_addresses[i]);
	free(c->node_port_addresses);
	for (size_t i = 0; i < c->n_feature_gates; i++)
		free(c->feature_gates[i].name);
	free(c->feature_gates);
	for (size_t i = 0; i < c->n_warnings; i++)
		free(c->warnings[i]);
	free(c->warnings);
	memset(c, 0, sizeof(*c));
}

static void check_typemeta(struct ctx *x, yaml_node_t *root)
{
	const char *api = NULL, *kind = NULL;

	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
		const char *k = scalar(yaml_document_get_node(x->doc, pr->key));
		const char *v = scalar(yaml_document_get_node(x->doc, pr->value));

		if (k && !strcmp(k, "apiVersion"))
			api = v ? v : "";
		if (k && !strcmp(k, "kind"))
			kind = v ? v : "";
	}
	if (!api || !kind)
		FAIL_RET("not a KubeProxyConfiguration: apiVersion and kind are required");
	if (strcmp(api, "kubeproxy.config.k8s.io/v1alpha1"))
		FAIL_RET("unsupported apiVersion %s (want kubeproxy.config.k8s.io/v1alpha1)", log_q(api));
	if (strcmp(kind, "KubeProxyConfiguration"))
		FAIL_RET("unsupported kind %s (want KubeProxyConfiguration)", log_q(kind));
}

int kp_config_parse(const char *text, size_t len, bool strict, struct kp_config *out, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct kp_config c;
	char dummy[8];
	struct ctx x = { .doc = &doc, .c = &c, .strict = strict, .err = err ? err : dummy,
			 .errlen = err ? errlen : sizeof(dummy) };
	yaml_node_t *root;

	if (x.errlen)
		x.err[0] = 0;
	if (kp_config_defaults(&c) < 0)
		return -ENOMEM;
	/* filled in after the walk: their defaults depend on bindAddress */
	c.healthz_bind_address[0] = c.metrics_bind_address[0] = 0;
	if (!yaml_parser_initialize(&parser)) {
		kp_config_free(&c);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		fail(&x, "YAML error at line %zu column %zu: %s", parser.problem_mark.line + 1,
		     parser.problem_mark.column + 1, parser.problem ? parser.problem : "unknown");
		yaml_parser_delete(&parser);
		goto out;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		fail(&x, "empty configuration file");
	} else if (root->type != YAML_MAPPING_NODE) {
		fail(&x, "want a KubeProxyConfiguration object, got %s", type_name(root));
	} else {
		yaml_document_t next;

		check_typemeta(&x, root);
		walk_obj(&x, root, top_fields, "");
		validate(&x);
		/* a second document would be silently dropped by kube-proxy's decoder; say so */
		if (!x.failed && yaml_parser_load(&parser, &next)) {
			if (yaml_document_get_root_node(&next))
				fail(&x, "more than one YAML document");
			yaml_document_delete(&next);
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
out:
	if (x.failed) {
		log_err("kpconfig", "bad kube-proxy configuration", "err=%s", log_q(x.err));
		kp_config_free(&c);
		return -EINVAL;
	}
	*out = c;
	return 0;
}
