/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "kube/config.h"
#include "core/file.h"
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_FILE (4 << 20)	/* kubeconfigs, tokens and CAs are small */

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Whole small file, NUL-terminated; NULL with errno set. */
static char *read_file(const char *path, size_t *len)
{
	char *buf;
	int rc = file_read(path, MAX_FILE, &buf, len);

	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	return buf;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+' || c == '-') return 62;
	if (c == '/' || c == '_') return 63;
	return -1;
}

/* Base64 (whitespace and padding tolerated), as the *-data fields hold. */
static int b64_decode(const char *s, struct kube_blob *out)
{
	size_t n = strlen(s), o = 0;
	unsigned acc = 0;
	int bits = 0;
	char *buf = malloc(n / 4 * 3 + 4);

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int v;

		if (s[i] == '=' || s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')
			continue;
		if ((v = b64val((unsigned char)s[i])) < 0) {
			free(buf);
			return -EINVAL;
		}
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	buf[o] = 0;
	out->data = buf;
	out->len = o;
	return 0;
}

/* ---- a few helpers over libyaml's document tree ---- */

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

static const char *map_str(yaml_document_t *d, yaml_node_t *m, const char *key)
{
	const char *s = scalar(map_get(d, m, key));

	/* "" is as good as absent, as client-go treats it */
	return s && *s ? s : NULL;
}

/* Find {name: NAME, <field>: {...}} in a named list (clusters, users, contexts). */
static yaml_node_t *named(yaml_document_t *d, yaml_node_t *root, const char *list,
			  const char *name, const char *field)
{
	yaml_node_t *seq = map_get(d, root, list);

	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++) {
		yaml_node_t *e = yaml_document_get_node(d, *i);
		const char *n = map_str(d, e, "name");

		if (n && !strcmp(n, name))
			return map_get(d, e, field);
	}
	return NULL;
}

static char *path_in(const char *dir, const char *p)
{
	char *s;

	if (p[0] == '/' || !dir || !*dir)
		return strdup(p);
	if (asprintf(&s, "%s/%s", dir, p) < 0)
		return NULL;
	return s;
}

static bool truthy(const char *s)
{
	return s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") ||
		     !strcmp(s, "yes") || !strcmp(s, "on"));
}

static int parse_doc(struct kube_config *cfg, yaml_document_t *d, const char *dir,
		     const char *context, char *err, size_t errlen)
{
	yaml_node_t *root = yaml_document_get_root_node(d), *ctx, *cl, *user;
	const char *cname, *clname, *uname, *s;
	static const char *const unsupported_user[] = {
		"exec", "auth-provider", "username", "password", "as", "as-groups",
		"impersonate", "impersonate-groups",
	};
	/* tls-server-name: libcurl has no SNI/verify-name override */
	static const char *const unsupported_cluster[] = { "proxy-url", "tls-server-name" };

	if (!root || root->type != YAML_MAPPING_NODE)
		return fail(err, errlen, "kubeconfig is not a YAML mapping");
	cname = context ? context : map_str(d, root, "current-context");
	if (!cname)
		return fail(err, errlen, "kubeconfig has no current-context");
	ctx = named(d, root, "contexts", cname, "context");
	if (!ctx)
		return fail(err, errlen, "context \"%s\" not found in kubeconfig", cname);
	clname = map_str(d, ctx, "cluster");
	uname = map_str(d, ctx, "user");
	if (!clname)
		return fail(err, errlen, "context \"%s\" names no cluster", cname);
	cl = named(d, root, "clusters", clname, "cluster");
	if (!cl)
		return fail(err, errlen, "cluster \"%s\" not found in kubeconfig", clname);
	for (size_t i = 0; i < sizeof(unsupported_cluster) / sizeof(*unsupported_cluster); i++)
		if (map_get(d, cl, unsupported_cluster[i]))
			return fail(err, errlen, "cluster \"%s\": %s is not supported by ferry",
				    clname, unsupported_cluster[i]);
	s = map_str(d, cl, "server");
	if (!s)
		return fail(err, errlen, "cluster \"%s\" has no server", clname);
	cfg->server = strdup(s);
	/* a trailing slash would double in every path */
	while (cfg->server && strlen(cfg->server) > 1 && cfg->server[strlen(cfg->server) - 1] == '/')
		cfg->server[strlen(cfg->server) - 1] = 0;
	cfg->insecure = truthy(scalar(map_get(d, cl, "insecure-skip-tls-verify")));
	if ((s = map_str(d, cl, "certificate-authority-data"))) {
		if (b64_decode(s, &cfg->ca_data) < 0)
			return fail(err, errlen, "cluster \"%s\": certificate-authority-data is not base64", clname);
	} else if ((s = map_str(d, cl, "certificate-authority"))) {
		cfg->ca_file = path_in(dir, s);
	}

	user = uname ? named(d, root, "users", uname, "user") : NULL;
	if (uname && !user)
		return fail(err, errlen, "user \"%s\" not found in kubeconfig", uname);
	if (user) {
		for (size_t i = 0; i < sizeof(unsupported_user) / sizeof(*unsupported_user); i++)
			if (map_get(d, user, unsupported_user[i]))
				return fail(err, errlen, "user \"%s\": %s is not supported by ferry "
					    "(use a token, tokenFile or client certificate)",
					    uname, unsupported_user[i]);
		if ((s = map_str(d, user, "token")))
			cfg->token = strdup(s);
		if ((s = map_str(d, user, "tokenFile")))
			cfg->token_file = path_in(dir, s);
		if ((s = map_str(d, user, "client-certificate-data"))) {
			if (b64_decode(s, &cfg->cert_data) < 0)
				return fail(err, errlen, "user \"%s\": client-certificate-data is not base64", uname);
		} else if ((s = map_str(d, user, "client-certificate"))) {
			cfg->cert_file = path_in(dir, s);
		}
		if ((s = map_str(d, user, "client-key-data"))) {
			if (b64_decode(s, &cfg->key_data) < 0)
				return fail(err, errlen, "user \"%s\": client-key-data is not base64", uname);
		} else if ((s = map_str(d, user, "client-key"))) {
			cfg->key_file = path_in(dir, s);
		}
		if (!!(cfg->cert_file || cfg->cert_data.data) != !!(cfg->key_file || cfg->key_data.data))
			return fail(err, errlen, "user \"%s\": a client certificate needs both certificate and key", uname);
	}
	return 0;
}

int kube_config_parse(struct kube_config *cfg, const char *text, size_t len,
		      const char *dir, const char *context, char *err, size_t errlen)
{
	yaml_parser_t p;
	yaml_document_t d;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &d)) {
		rc = fail(err, errlen, "kubeconfig is not valid YAML: %s at line %zu",
			  p.problem ? p.problem : "error", p.problem_mark.line + 1);
		yaml_parser_delete(&p);
		return rc;
	}
	rc = parse_doc(cfg, &d, dir, context, err, errlen);
	yaml_document_delete(&d);
	yaml_parser_delete(&p);
	if (rc < 0)
		kube_config_free(cfg);
	return rc;
}

int kube_config_load_file(struct kube_config *cfg, const char *path, const char *context,
			  char *err, size_t errlen)
{
	size_t len;
	char *text = read_file(path, &len), *dir, *slash;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!text)
		return fail(err, errlen, "cannot read kubeconfig %s: %s", path, strerror(errno));
	dir = strdup(path);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash)
		*slash = 0;
	rc = kube_config_parse(cfg, text, len, slash ? dir : ".", context, err, errlen);
	free(dir);
	free(text);
	if (rc == 0)
		cfg->source = strdup(path);
	return rc;
}

int kube_config_in_cluster(struct kube_config *cfg, const char *sa_dir, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	char *p;

	memset(cfg, 0, sizeof(*cfg));
	if (!host || !*host || !port || !*port)
		return fail(err, errlen, "not in a cluster: KUBERNETES_SERVICE_HOST/PORT unset");
	if (!sa_dir)
		sa_dir = SA_DIR;
	/* an IPv6 service host needs brackets in the URL */
	if (asprintf(&cfg->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0)
		return -ENOMEM;
	if (asprintf(&cfg->token_file, "%s/token", sa_dir) < 0 ||
	    asprintf(&cfg->ca_file, "%s/ca.crt", sa_dir) < 0) {
		kube_config_free(cfg);
		return -ENOMEM;
	}
	if (access(cfg->token_file, R_OK) < 0) {
		int rc = fail(err, errlen, "in-cluster token %s: %s", cfg->token_file, strerror(errno));

		kube_config_free(cfg);
		return rc;
	}
	p = cfg->ca_file;
	if (access(p, R_OK) < 0) {
		int rc = fail(err, errlen, "in-cluster CA %s: %s", p, strerror(errno));

		kube_config_free(cfg);
		return rc;
	}
	cfg->source = strdup("in-cluster");
	return 0;
}

int kube_config_resolve(struct kube_config *cfg, const char *kubeconfig, const char *master,
			char *err, size_t errlen)
{
	const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
	char path[4096];
	int rc = -ENOENT;

	memset(cfg, 0, sizeof(*cfg));
	if (kubeconfig && *kubeconfig) {
		rc = kube_config_load_file(cfg, kubeconfig, NULL, err, errlen);
	} else if (env && *env) {
		/* a colon-separated list; ferry reads the first file that exists
		 * (client-go merges them: not supported, said in the docs) */
		char *list = strdup(env), *save = NULL;

		for (char *t = list ? strtok_r(list, ":", &save) : NULL; t; t = strtok_r(NULL, ":", &save))
			if (access(t, R_OK) == 0) {
				rc = kube_config_load_file(cfg, t, NULL, err, errlen);
				break;
			}
		free(list);
		if (rc == -ENOENT)
			rc = fail(err, errlen, "no readable file in KUBECONFIG=%s", env);
	} else if (getenv("KUBERNETES_SERVICE_HOST")) {
		rc = kube_config_in_cluster(cfg, NULL, err, errlen);
	} else if (home && snprintf(path, sizeof(path), "%s/.kube/config", home) < (int)sizeof(path) &&
		   access(path, R_OK) == 0) {
		rc = kube_config_load_file(cfg, path, NULL, err, errlen);
	} else if (master && *master) {
		/* --master alone: no credentials, plain or insecure endpoints */
		rc = 0;
		cfg->source = strdup("--master");
	} else {
		rc = fail(err, errlen, "no kubeconfig: use --kubeconfig, KUBECONFIG or run in a cluster");
	}
	if (rc == 0 && master && *master) {
		free(cfg->server);
		cfg->server = strdup(master);
	}
	/* a bearer token or a client key over plain HTTP crosses the network
	 * in clear, to whoever answers on that address: refuse */
	if (rc == 0 && cfg->server && !strncasecmp(cfg->server, "http://", 7) &&
	    (cfg->token || cfg->token_file || cfg->key_file || cfg->key_data.len)) {
		rc = fail(err, errlen, "%s is plain HTTP and the credentials of %s would cross the network "
			  "in clear: use https://", cfg->server, cfg->source ? cfg->source : "the kubeconfig");
		kube_config_free(cfg);
	}
	return rc;
}

static void blob_free(struct kube_blob *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

void kube_config_free(struct kube_config *cfg)
{
	free(cfg->server);
	free(cfg->source);
	free(cfg->ca_file);
	blob_free(&cfg->ca_data);
	free(cfg->cert_file);
	free(cfg->key_file);
	blob_free(&cfg->cert_data);
	blob_free(&cfg->key_data);
	free(cfg->token);
	free(cfg->token_file);
	free(cfg->file_token);
	memset(cfg, 0, sizeof(*cfg));
}

const char *kube_config_token(struct kube_config *cfg)
{
	struct stat st;
	char *t;
	size_t n;

	if (!cfg->token_file)
		return cfg->token;
	if (stat(cfg->token_file, &st) < 0) {
		log_warn("kube", "cannot stat token file, keeping the last token", "file=%s err=%s",
			 log_q(cfg->token_file), log_q(strerror(errno)));
		return cfg->file_token ? cfg->file_token : cfg->token;
	}
	if (cfg->file_token && st.st_dev == cfg->tok_dev && st.st_ino == cfg->tok_ino &&
	    st.st_size == cfg->tok_size && st.st_mtim.tv_sec == cfg->tok_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == cfg->tok_mtime.tv_nsec)
		return cfg->file_token;
	t = read_file(cfg->token_file, &n);
	while (t && n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
		t[--n] = 0;
	if (!t || !n) {
		log_warn("kube", "cannot read token file, keeping the last token", "file=%s err=%s",
			 log_q(cfg->token_file), log_q(t ? "empty" : strerror(errno)));
		free(t);
		return cfg->file_token ? cfg->file_token : cfg->token;
	}
	if (cfg->file_token)
		log_info("kube", "token file changed, using the new token", "file=%s", log_q(cfg->token_file));
	free(cfg->file_token);
	cfg->file_token = t;
	cfg->tok_dev = st.st_dev;
	cfg->tok_ino = st.st_ino;
	cfg->tok_size = st.st_size;
	cfg->tok_mtime = st.st_mtim;
	return t;
}
