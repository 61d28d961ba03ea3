/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "kube/config.h"
#include "core/test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* base64 of "-----BEGIN CERTIFICATE-----\nTEST\n" */
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClRFU1QK"

static const char full[] =
	"apiVersion: v1\n"
	"kind: Config\n"
	"current-context: prod\n"
	"clusters:\n"
	"- name: dev\n"
	"  cluster:\n"
	"    server: https://192.0.2.99:6443\n"
	"    insecure-skip-tls-verify: true\n"
	"- name: prod\n"
	"  cluster:\n"
	"    server: https://192.0.2.3:6443/\n"
	"    certificate-authority-data: " CA_B64 "\n"
	"contexts:\n"
	"- name: dev\n"
	"  context: {cluster: dev, user: dev-user}\n"
	"- name: prod\n"
	"  context:\n"
	"    cluster: prod\n"
	"    user: ferry\n"
	"    namespace: kube-system\n"
	"users:\n"
	"- name: ferry\n"
	"  user:\n"
	"    tokenFile: secrets/token\n"
	"    client-certificate: /etc/ferry/client.crt\n"
	"    client-key: client.key\n"
	"- name: dev-user\n"
	"  user:\n"
	"    token: abc.def\n";

static void test_full(void)
{
	struct kube_config c;
	char err[256] = "";

	CHECK_EQ_INT(kube_config_parse(&c, full, strlen(full), "/home/u/.kube", NULL, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.server, "https://192.0.2.3:6443");
	CHECK(!c.insecure);
	CHECK_EQ_INT(c.ca_data.len, 33);
	CHECK(c.ca_data.data && !memcmp(c.ca_data.data, "-----BEGIN CERTIFICATE-----\nTEST\n", 33));
	CHECK_EQ_STR(c.token_file, "/home/u/.kube/secrets/token");
	CHECK_EQ_STR(c.cert_file, "/etc/ferry/client.crt");
	CHECK_EQ_STR(c.key_file, "/home/u/.kube/client.key");
	CHECK(!c.token);
	kube_config_free(&c);

	CHECK_EQ_INT(kube_config_parse(&c, full, strlen(full), "/x", "dev", err, sizeof(err)), 0);
	CHECK_EQ_STR(c.server, "https://192.0.2.99:6443");
	CHECK(c.insecure);
	CHECK_EQ_STR(c.token, "abc.def");
	CHECK_EQ_STR(kube_config_token(&c), "abc.def");
	kube_config_free(&c);
}

/* Each bad kubeconfig fails with a message naming the problem. */
static void test_errors(void)
{
	static const struct { const char *text, *want; } rows[] = {
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://192.0.2.1'}\n"
		  "users:\n- name: u\n  user:\n    exec:\n      command: aws\n", "exec is not supported" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://192.0.2.1'}\n"
		  "users:\n- name: u\n  user:\n    auth-provider: {name: gcp}\n", "auth-provider is not supported" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://192.0.2.1'}\n"
		  "users:\n- name: u\n  user: {username: x, password: y}\n", "username is not supported" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://192.0.2.1', proxy-url: 'http://p'}\n",
		  "proxy-url is not supported" },
		{ "current-context: missing\ncontexts: []\n", "context \"missing\" not found" },
		{ "contexts: []\n", "no current-context" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: nope}\n", "cluster \"nope\" not found" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {}\n",
		  "has no server" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://192.0.2.1'}\n"
		  "users:\n- name: u\n  user: {client-certificate: a.crt}\n", "needs both certificate and key" },
		{ "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://192.0.2.1', certificate-authority-data: '!!!'}\n",
		  "not base64" },
		{ "clusters: [\n  - {", "not valid YAML" },
		{ "- just\n- a list\n", "not a YAML mapping" },
		{ "", "not a YAML mapping" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct kube_config c;
		char err[256] = "";

		CHECK_EQ_INT(kube_config_parse(&c, rows[i].text, strlen(rows[i].text), ".", NULL, err, sizeof(err)),
			     -22);
		if (!strstr(err, rows[i].want))
			fprintf(stderr, "row %zu: err \"%s\" lacks \"%s\"\n", i, err, rows[i].want);
		CHECK(strstr(err, rows[i].want) != NULL);
		CHECK(c.server == NULL);
	}
}

/* In-cluster config, and a token file re-read when it rotates (a symlink
 * swap, as kubelet does). */
static void test_in_cluster_and_rotation(void)
{
	char dir[] = "/tmp/ferry-kube-test-XXXXXX", p[512], q[512], err[256] = "";
	struct kube_config c;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(p, sizeof(p), "%s/ca.crt", dir);
	f = fopen(p, "w");
	fputs("-----BEGIN CERTIFICATE-----\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/token1", dir);
	f = fopen(p, "w");
	fputs("first-token\n", f);
	fclose(f);
	snprintf(q, sizeof(q), "%s/token", dir);
	CHECK(symlink("token1", q) == 0);

	unsetenv("KUBERNETES_SERVICE_HOST");
	CHECK(kube_config_in_cluster(&c, dir, err, sizeof(err)) < 0);
	CHECK(strstr(err, "KUBERNETES_SERVICE_HOST") != NULL);
	setenv("KUBERNETES_SERVICE_HOST", "2001:db8::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	CHECK_EQ_INT(kube_config_in_cluster(&c, dir, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.server, "https://[2001:db8::1]:443");
	CHECK_EQ_STR(kube_config_token(&c), "first-token");
	CHECK_EQ_STR(kube_config_token(&c), "first-token");

	snprintf(p, sizeof(p), "%s/token2", dir);
	f = fopen(p, "w");
	fputs("second-token", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/token.tmp", dir);
	CHECK(symlink("token2", p) == 0);
	CHECK(rename(p, q) == 0);
	CHECK_EQ_STR(kube_config_token(&c), "second-token");

	/* a vanished token file keeps the last good token */
	unlink(q);
	CHECK_EQ_STR(kube_config_token(&c), "second-token");
	kube_config_free(&c);

	/* kube_config_resolve: --kubeconfig wins, --master overrides the server */
	snprintf(p, sizeof(p), "%s/kubeconfig", dir);
	f = fopen(p, "w");
	fputs(full, f);
	fclose(f);
	CHECK_EQ_INT(kube_config_resolve(&c, p, "https://192.0.2.50:6443", err, sizeof(err)), 0);
	CHECK_EQ_STR(c.server, "https://192.0.2.50:6443");
	CHECK_EQ_STR(c.source, p);
	CHECK(strstr(c.token_file, dir) == c.token_file);
	kube_config_free(&c);
	/* a token over plain HTTP: refused, saying why */
	CHECK(kube_config_resolve(&c, p, "http://192.0.2.50:8080", err, sizeof(err)) < 0);
	CHECK(strstr(err, "plain HTTP") != NULL);
	CHECK(c.server == NULL);
	/* --master alone (no credentials) may be plain HTTP */
	unsetenv("KUBECONFIG");
	unsetenv("KUBERNETES_SERVICE_HOST");
	setenv("HOME", "/nonexistent", 1);
	CHECK_EQ_INT(kube_config_resolve(&c, NULL, "http://192.0.2.50:8080", err, sizeof(err)), 0);
	kube_config_free(&c);
	CHECK(kube_config_resolve(&c, "/nonexistent/kubeconfig", NULL, err, sizeof(err)) < 0);
	CHECK(strstr(err, "/nonexistent/kubeconfig") != NULL);

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	test_full();
	test_errors();
	test_in_cluster_and_rotation();
	return test_done("test_kube_config");
}
