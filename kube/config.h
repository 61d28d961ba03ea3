/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where the API server is and how to authenticate to it: a kubeconfig file
 * (parsed with libyaml) or the in-cluster service-account files.
 *
 * Supported, as client-go reads them: current-context (or an explicit one),
 * clusters[].cluster.{server, certificate-authority(-data),
 * insecure-skip-tls-verify}, users[].user.{token, tokenFile,
 * client-certificate(-data), client-key(-data)}. Anything that needs another
 * program or flow (exec, auth-provider, username/password, proxy-url,
 * tls-server-name) is
 * refused with an error naming it, never silently ignored.
 */
#ifndef FERRY_KUBE_CONFIG_H
#define FERRY_KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct kube_blob {
	char *data;
	size_t len;
};

struct kube_config {
	char *server;			/* https://host:port, no trailing slash */
	char *source;			/* "in-cluster" or the kubeconfig path */
	char *ca_file;			/* PEM file, or */
	struct kube_blob ca_data;	/* PEM bytes (decoded -data) */
	bool insecure;			/* insecure-skip-tls-verify */
	char *cert_file, *key_file;
	struct kube_blob cert_data, key_data;
	char *token;			/* static bearer token, or */
	char *token_file;		/* re-read whenever it changes */

	/* token_file cache: identity of the file the token came from */
	char *file_token;
	dev_t tok_dev;
	ino_t tok_ino;
	off_t tok_size;
	struct timespec tok_mtime;
};

/* Parse kubeconfig text. `dir` resolves relative file paths (the file's
 * directory); `context` NULL means current-context. 0 or -EINVAL, with the
 * reason in err. */
int kube_config_parse(struct kube_config *cfg, const char *text, size_t len,
		      const char *dir, const char *context, char *err, size_t errlen);
int kube_config_load_file(struct kube_config *cfg, const char *path,
			  const char *context, char *err, size_t errlen);
/* In-cluster: KUBERNETES_SERVICE_HOST/_PORT and the files under `sa_dir`
 * (NULL: /var/run/secrets/kubernetes.io/serviceaccount). */
int kube_config_in_cluster(struct kube_config *cfg, const char *sa_dir,
			   char *err, size_t errlen);
/* client-go's order: --kubeconfig, $KUBECONFIG (first existing entry),
 * in-cluster, ~/.kube/config. `master` (may be NULL) overrides the server. */
int kube_config_resolve(struct kube_config *cfg, const char *kubeconfig,
			const char *master, char *err, size_t errlen);
void kube_config_free(struct kube_config *cfg);

/* The bearer token for the next request, re-reading token_file when it
 * changed on disk (kubelet rotates projected tokens by swapping a symlink).
 * NULL when none; keeps the last good token when a re-read fails. */
const char *kube_config_token(struct kube_config *cfg);

#endif
