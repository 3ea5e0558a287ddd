/* test_kubeconfig.c: resolving a context from kubeconfig files the way kubectl does, and reading
 * what an exec credential plugin prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kubeconfig.h"
#include "support.h"
#include "util.h"

#define CA_DATA_PEM                                                                                \
	"-----BEGIN CERTIFICATE-----\nTEFCREVDSy1URVNULUNBLWRhdGE=\n-----END CERTIFICATE-----\n"
#define CLIENT_DATA_PEM                                                                            \
	"-----BEGIN CERTIFICATE-----\nTEFCREVDSy1URVNULUNMSUVOVC1kYXRh\n-----END "                 \
	"CERTIFICATE-----\n"
#define KEY_DATA_PEM                                                                               \
	"-----BEGIN EC PRIVATE KEY-----\nTEFCREVDSy1URVNULUtFWS1kYXRh\n-----END EC PRIVATE "       \
	"KEY-----\n"
#define CI_TOKEN "eyJhbGciOiJSUzI1NiIsImtpZCI6ImxhYmRlY2stdGVzdCJ9.fake-ci-bot-token"

/* fx: a path under $FIXTURES (static buffers, rotated, so a few can be alive at once). */
static const char *fx(const char *rel)
{
	static char bufs[4][1024];
	static int next;
	const char *root = getenv("FIXTURES");
	assert_non_null(root);
	char *b = bufs[next++ % 4];
	snprintf(b, sizeof(bufs[0]), "%s/%s", root, rel);
	return b;
}

static void load_ok(const char *rel, const char *context, struct kube_target *t)
{
	struct err err = {0};
	if (!kubeconfig_load(fx(rel), context, t, &err)) {
		fail_msg("kubeconfig_load(%s, %s): %s", rel, context ? context : "(current)",
		         err.msg);
	}
}

/* load_err loads and expects ERR_CONFIG; returns the message; the target must come back empty. */
static const char *load_err(const char *paths, const char *context)
{
	static struct err err;
	struct kube_target t;
	memset(&err, 0, sizeof(err));
	assert_false(kubeconfig_load(paths, context, &t, &err));
	assert_int_equal(err.code, ERR_CONFIG);
	assert_null(t.server);
	assert_null(t.token);
	assert_null(t.exec);
	assert_null(strstr(err.msg, "fake-ci-bot-token"));
	assert_null(strstr(err.msg, "LS0tLS1"));
	return err.msg;
}

static void test_current_context_with_data(void **state)
{
	(void)state;
	struct kube_target t;
	load_ok("k8s/kubeconfig_lab.yaml", NULL, &t);
	assert_string_equal(t.context, "labsim");
	assert_string_equal(t.cluster_name, "labsim");
	assert_string_equal(t.server, "https://127.0.0.1:6443"); /* trailing slash gone */
	assert_string_equal(t.ca_pem, CA_DATA_PEM);
	assert_string_equal(t.tls_server_name, "kubernetes.default.svc");
	assert_false(t.insecure);
	assert_string_equal(t.client_cert_pem, CLIENT_DATA_PEM);
	assert_string_equal(t.client_key_pem, KEY_DATA_PEM);
	assert_null(t.token);
	assert_null(t.token_file);
	assert_null(t.exec);
	assert_string_equal(t.namespace_, "monitoring");
	assert_string_equal(t.path, fx("k8s/kubeconfig_lab.yaml"));
	kube_target_finish(&t);
	assert_null(t.server);
	kube_target_finish(&t); /* twice is harmless */
}

static void test_files_relative_to_kubeconfig(void **state)
{
	(void)state;
	struct kube_target t;
	load_ok("k8s/kubeconfig_lab.yaml", "lab-files", &t);
	assert_string_equal(t.server, "https://10.0.0.10:6443");
	char *ca = support_read_file(fx("k8s/pki/ca.pem"), NULL);
	char *crt = support_read_file(fx("k8s/pki/client.crt"), NULL);
	char *key = support_read_file(fx("k8s/pki/client.key"), NULL);
	assert_string_equal(t.ca_pem, ca);
	assert_string_equal(t.client_cert_pem, crt);
	assert_string_equal(t.client_key_pem, key);
	assert_null(t.namespace_);
	assert_null(t.tls_server_name);
	free(ca);
	free(crt);
	free(key);
	kube_target_finish(&t);
}

static void test_token_insecure(void **state)
{
	(void)state;
	struct kube_target t;
	load_ok("k8s/kubeconfig_lab.yaml", "lab-token", &t);
	assert_string_equal(t.context, "lab-token");
	assert_string_equal(t.cluster_name, "lab-insecure");
	assert_string_equal(t.server, "https://pve-k8s.lan:6443");
	assert_true(t.insecure);
	assert_null(t.ca_pem);
	/* An inline token wins over tokenFile; the file's path is kept, resolved. */
	assert_string_equal(t.token, CI_TOKEN);
	assert_string_equal(t.token_file, fx("k8s/pki/token"));
	assert_string_equal(t.namespace_, "ci");
	assert_null(t.client_cert_pem);
	kube_target_finish(&t);
}

static void test_token_file(void **state)
{
	(void)state;
	struct kube_target t;
	load_ok("k8s/kubeconfig_lab.yaml", "lab-tokenfile", &t);
	assert_string_equal(t.token,
	                    "sa-token-from-file.eyJhbGciOiJSUzI1NiJ9"); /* newline trimmed */
	assert_string_equal(t.token_file, fx("k8s/pki/token"));
	kube_target_finish(&t);
}

static void test_exec_plugin(void **state)
{
	(void)state;
	struct kube_target t;
	load_ok("k8s/kubeconfig_lab.yaml", "lab-exec", &t);
	assert_non_null(t.exec);
	assert_string_equal(t.exec->command, fx("k8s/./bin/kube-login"));
	assert_string_equal(t.exec->api_version, "client.authentication.k8s.io/v1");
	assert_string_equal(t.exec->interactive_mode, "Never");
	assert_string_equal(t.exec->args[0], "get-token");
	assert_string_equal(t.exec->args[1], "--oidc-issuer-url=https://sso.lab.example");
	assert_string_equal(t.exec->args[2], "--oidc-client-id=labdeck");
	assert_null(t.exec->args[3]);
	assert_string_equal(t.exec->env[0], "KUBE_LOGIN_CACHE=/tmp/kube-login");
	assert_string_equal(t.exec->env[1], "EMPTY_VAR=");
	assert_null(t.exec->env[2]);
	assert_null(t.token);
	assert_string_equal(t.ca_pem, CA_DATA_PEM);
	kube_target_finish(&t);

	load_ok("k8s/kubeconfig_exec_eks.yaml", NULL, &t);
	assert_string_equal(t.context, "some-aws:cluster/test-cluster");
	assert_string_equal(t.server, "https://3.3.3.3");
	assert_string_equal(t.ca_pem, "asdadasd");
	assert_string_equal(t.exec->command, "aws"); /* a bare name stays for $PATH */
	assert_string_equal(t.exec->api_version, "client.authentication.k8s.io/v1beta1");
	assert_string_equal(t.exec->interactive_mode, "IfAvailable");
	static const char *const args[] = {
	        "--region",       "us-east-1",    "eks",      "get-token",
	        "--cluster-name", "test-cluster", "--output", "json"};
	for (size_t i = 0; i < 8; i++) {
		assert_string_equal(t.exec->args[i], args[i]);
	}
	assert_null(t.exec->args[8]);
	assert_string_equal(t.exec->env[0], "AWS_PROFILE=default");
	assert_null(t.exec->env[1]);
	kube_target_finish(&t);
}

static void test_exec_without_args(void **state)
{
	(void)state;
	static const char yaml[] = "clusters: [{name: c, cluster: {server: 'https://c:6443'}}]\n"
	                           "users: [{name: u, user: {exec: {command: /usr/bin/cred}}}]\n"
	                           "contexts: [{name: x, context: {cluster: c, user: u}}]\n";
	struct kube_target t;
	struct err err = {0};
	assert_true(kubeconfig_load_string(yaml, strlen(yaml), "flow.yaml", "/etc", "x", &t, &err));
	assert_string_equal(t.exec->command, "/usr/bin/cred");
	assert_non_null(t.exec->args); /* empty, never NULL */
	assert_null(t.exec->args[0]);
	assert_null(t.exec->env[0]);
	assert_null(t.exec->api_version);
	assert_null(t.exec->interactive_mode);
	kube_target_finish(&t);
}

static void test_research_fixture(void **state)
{
	(void)state;
	struct kube_target t;
	load_ok("k8s/kubeconfig.yaml", NULL, &t);
	/* current-context fred uses cluster zorg and user fred. */
	assert_string_equal(t.context, "fred");
	assert_string_equal(t.cluster_name, "zorg");
	assert_string_equal(t.server, "https://localhost:3002");
	assert_true(t.insecure);
	assert_string_equal(t.client_cert_pem, "fred");
	assert_string_equal(t.client_key_pem, "fred");
	assert_null(t.namespace_);
	kube_target_finish(&t);

	load_ok("k8s/kubeconfig.yaml", "blee", &t);
	assert_string_equal(t.server, "https://localhost:3001");
	assert_string_equal(t.namespace_, "zorg");
	kube_target_finish(&t);

	char want[1200];
	snprintf(want, sizeof(want), "%s: context 'duh' names cluster 'duh' which is not defined",
	         fx("k8s/kubeconfig.yaml"));
	assert_string_equal(load_err(fx("k8s/kubeconfig.yaml"), "duh"), want);
}

static void test_context_errors(void **state)
{
	(void)state;
	const char *path = fx("k8s/kubeconfig_lab.yaml");
	char want[1200];
	snprintf(want, sizeof(want),
	         "%s: context 'nope' not found (have: labsim, lab-files, lab-token, lab-tokenfile, "
	         "lab-exec, anonymous, no-cluster-def, no-server, ghost-user)",
	         path);
	assert_string_equal(load_err(path, "nope"), want);
	snprintf(want, sizeof(want),
	         "%s: context 'no-cluster-def' names cluster 'ghost' which is "
	         "not defined",
	         path);
	assert_string_equal(load_err(path, "no-cluster-def"), want);
	snprintf(want, sizeof(want), "%s: cluster 'noserver' has no server", path);
	assert_string_equal(load_err(path, "no-server"), want);
	snprintf(want, sizeof(want),
	         "%s: context 'ghost-user' names user 'ghost' which is not defined", path);
	assert_string_equal(load_err(path, "ghost-user"), want);
}

static void test_anonymous_context(void **state)
{
	(void)state;
	struct kube_target t;
	load_ok("k8s/kubeconfig_lab.yaml", "anonymous", &t);
	assert_string_equal(t.server, "https://pve-k8s.lan:6443");
	assert_null(t.token);
	assert_null(t.client_cert_pem);
	assert_null(t.client_key_pem);
	assert_null(t.exec);
	kube_target_finish(&t);
}

static void test_merge_first_wins(void **state)
{
	(void)state;
	char paths[3200];
	/* A missing first file is skipped, as kubectl does. a.yaml sets no current-context, so the
	 * one from b.yaml counts; but the context, cluster and user named shared-* come from a. */
	snprintf(paths, sizeof(paths), "%s:%s:%s", fx("k8s/merge/missing.yaml"),
	         fx("k8s/merge/a.yaml"), fx("k8s/merge/sub/b.yaml"));
	struct kube_target t;
	struct err err = {0};
	assert_true(kubeconfig_load(paths, NULL, &t, &err));
	assert_string_equal(t.context, "shared-ctx");
	assert_string_equal(t.cluster_name, "shared");
	assert_string_equal(t.server, "https://a.example:6443");
	assert_string_equal(t.token, "token-from-a");
	assert_string_equal(t.namespace_, "a-ns");
	assert_string_equal(t.path, fx("k8s/merge/a.yaml"));
	kube_target_finish(&t);

	/* A context only b has: its relative CA path is resolved against b's directory. */
	assert_true(kubeconfig_load(paths, "b-ctx", &t, &err));
	assert_string_equal(t.server, "https://b-only.example:6443");
	assert_string_equal(t.token, "token-from-b-user");
	char *ca = support_read_file(fx("k8s/merge/sub/ca-b.pem"), NULL);
	assert_string_equal(t.ca_pem, ca);
	free(ca);
	assert_string_equal(t.path, fx("k8s/merge/sub/b.yaml"));
	kube_target_finish(&t);

	/* A context in b that names a cluster and user a defined first gets a's. */
	assert_true(kubeconfig_load(paths, "b-on-shared", &t, &err));
	assert_string_equal(t.server, "https://a.example:6443");
	assert_string_equal(t.token, "token-from-a");
	kube_target_finish(&t);

	/* Reversed: b is first now, so its current-context and shared-ctx win. */
	snprintf(paths, sizeof(paths), "%s::%s:%s", fx("k8s/merge/sub/b.yaml"),
	         fx("k8s/merge/c.yaml"), fx("k8s/merge/a.yaml"));
	assert_true(kubeconfig_load(paths, NULL, &t, &err));
	assert_string_equal(t.context, "shared-ctx");
	assert_string_equal(t.server, "https://b-only.example:6443");
	assert_string_equal(t.namespace_, "b-ns");
	kube_target_finish(&t);

	/* c sets current-context too, but a later file never overrides it. */
	snprintf(paths, sizeof(paths), "%s:%s", fx("k8s/merge/c.yaml"), fx("k8s/merge/sub/b.yaml"));
	assert_true(kubeconfig_load(paths, NULL, &t, &err));
	assert_string_equal(t.context, "c-ctx");
	assert_string_equal(t.server, "https://c.example");
	kube_target_finish(&t);

	/* The "have" list covers every file, each name once. */
	snprintf(paths, sizeof(paths), "%s:%s", fx("k8s/merge/a.yaml"), fx("k8s/merge/sub/b.yaml"));
	char want[3400];
	snprintf(want, sizeof(want),
	         "%s: context 'zzz' not found (have: shared-ctx, a-ctx, b-ctx, b-on-shared)",
	         paths);
	assert_string_equal(load_err(paths, "zzz"), want);
}

static void test_no_kubeconfig(void **state)
{
	(void)state;
	char paths[2200], want[2400];
	snprintf(paths, sizeof(paths), "%s:%s", fx("k8s/nope1.yaml"), fx("nodir/nope2.yaml"));
	snprintf(want, sizeof(want), "no kubeconfig found: tried %s, %s", fx("k8s/nope1.yaml"),
	         fx("nodir/nope2.yaml"));
	assert_string_equal(load_err(paths, NULL), want);
	assert_string_equal(load_err("", NULL), "no kubeconfig found: tried no path at all");
	assert_string_equal(load_err(NULL, NULL), "no kubeconfig found: tried no path at all");

	/* A path that exists but cannot be read is an error, not skipped. */
	snprintf(want, sizeof(want), "%s: cannot read: Is a directory", fx("k8s/pki"));
	assert_string_equal(load_err(fx("k8s/pki"), NULL), want);
}

static void string_err(const char *yaml, const char *context, const char *want)
{
	struct kube_target t;
	struct err err = {0};
	if (kubeconfig_load_string(yaml, strlen(yaml), "inline.yaml", "/nonexistent", context, &t,
	                           &err)) {
		kube_target_finish(&t);
		fail_msg("accepted: %s", yaml);
	}
	assert_int_equal(err.code, ERR_CONFIG);
	assert_null(t.server);
	if (strcmp(err.msg, want) != 0) {
		fail_msg("for:\n%s\ngot:  %s\nwant: %s", yaml, err.msg, want);
	}
}

static void test_bad_yaml(void **state)
{
	(void)state;
	string_err("clusters:\n- name: a\n  cluster: {server: x\n", NULL,
	           "inline.yaml:4:1: YAML syntax error: did not find expected ',' or '}' "
	           "(while parsing a flow mapping)");
	string_err("clusters:\n  - name: a\n   bad: indent\n", NULL,
	           "inline.yaml:3:4: YAML syntax error: did not find expected '-' indicator (while "
	           "parsing a block collection)");
	string_err("- just\n- a list\n", NULL,
	           "inline.yaml: not a kubeconfig (the top level is not a mapping)");
	string_err("clusters: 5\n", NULL, "inline.yaml: 'clusters' is not a list");
	string_err("contexts: {a: b}\n", NULL, "inline.yaml: 'contexts' is not a list");
	string_err("", NULL,
	           "inline.yaml: no current-context is set and no context was given "
	           "(have: none)");
	string_err("~\n", "x", "inline.yaml: context 'x' not found (have: none)");
	string_err("contexts: [{name: x, context: {user: u}}]\n", NULL,
	           "inline.yaml: no current-context is set and no context was given (have: x)");
	string_err("contexts: [{name: x, context: {user: u}}]\n", "x",
	           "inline.yaml: context 'x' names no cluster");
	/* Bad base64 and unreadable files name the field, never the data. */
	string_err(
	        "clusters: [{name: c, cluster: {server: 'https://c', certificate-authority-data: "
	        "'LS0t!!notbase64'}}]\n"
	        "contexts: [{name: x, context: {cluster: c}}]\n",
	        "x", "inline.yaml: cluster 'c': certificate-authority-data is not valid base64");
	string_err("clusters: [{name: c, cluster: {server: 'https://c'}}]\n"
	           "users: [{name: u, user: {client-key-data: 'c2VjcmV0?a2V5'}}]\n"
	           "contexts: [{name: x, context: {cluster: c, user: u}}]\n",
	           "x", "inline.yaml: user 'u': client-key-data is not valid base64");
	string_err(
	        "clusters: [{name: c, cluster: {server: 'https://c', certificate-authority: "
	        "ca.pem}}]\n"
	        "contexts: [{name: x, context: {cluster: c}}]\n",
	        "x",
	        "inline.yaml: cluster 'c': cannot read certificate-authority /nonexistent/ca.pem: "
	        "No such file or directory");
	string_err("clusters: [{name: c, cluster: {server: 'https://c'}}]\n"
	           "users: [{name: u, user: {tokenFile: /nonexistent/t}}]\n"
	           "contexts: [{name: x, context: {cluster: c, user: u}}]\n",
	           "x",
	           "inline.yaml: user 'u': cannot read tokenFile /nonexistent/t: No such file "
	           "or directory");
	string_err("clusters: [{name: c, cluster: {server: 'https://c'}}]\n"
	           "users: [{name: u, user: {exec: {args: [a]}}}]\n"
	           "contexts: [{name: x, context: {cluster: c, user: u}}]\n",
	           "x", "inline.yaml: user 'u': exec has no command");
}

/* Odd but legal YAML, wrong types and alias tricks: never a crash or a leak (ASan checks). */
static void test_odd_shapes(void **state)
{
	(void)state;
	static const char *const docs[] = {
	        "clusters: [5, 'x', {name: [1]}, {name: c, cluster: [1, 2]}]\n"
	        "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
	        "clusters: [{name: c, cluster: {server: [a, b]}}]\n"
	        "contexts: [{name: x, context: {cluster: c, user: {a: b}}}]\ncurrent-context: x\n",
	        "a: &a [*a, *a]\nclusters: &c [{name: c, cluster: {server: &s 'https://c/'}}]\n"
	        "contexts: [{name: x, context: &ctx {cluster: c, namespace: *s}}]\n"
	        "users: *c\ncurrent-context: [x]\n",
	        "clusters: [{name: c, cluster: {server: https://c}}]\n"
	        "users: [{name: u, user: {exec: 5, token: ''}}]\n"
	        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
	        "clusters: [{name: c, cluster: {server: https://c}}]\n"
	        "users: [{name: u, user: {exec: {command: x, args: [{a: 1}, ~, 3], env: [1, {name: "
	        "N}, {value: v}, {name: M, value: [1]}]}}}]\n"
	        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
	        "%YAML 1.1\n---\ncurrent-context: x\n...\n---\nsecond: doc\n",
	        "\xef\xbb\xbf"
	        "current-context: \"\\u00e9\"\n",
	        "key: \"\\0\"\n",
	        "\x01\x02",
	        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]"
	        "]]]]]]]]]"
	        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	        "!!binary x: !custom y\n? complex\n: key\n",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct kube_target t;
		struct err err = {0};
		bool ok = kubeconfig_load_string(docs[i], strlen(docs[i]), "odd.yaml", NULL, NULL,
		                                 &t, &err);
		if (ok) {
			assert_non_null(t.server);
			kube_target_finish(&t);
		} else {
			assert_int_equal(err.code, ERR_CONFIG);
			assert_true(str_has_prefix(err.msg, "odd.yaml"));
		}
	}
	/* The alias document resolves: users is an alias of clusters (no user named), the
	 * namespace an alias of the server string. */
	struct kube_target t;
	struct err err = {0};
	assert_true(
	        kubeconfig_load_string(docs[2], strlen(docs[2]), "odd.yaml", NULL, "x", &t, &err));
	assert_string_equal(t.server, "https://c");
	assert_string_equal(t.namespace_, "https://c/");
	kube_target_finish(&t);
}

static void cred_ok(const char *rel, char **token, char **cert, char **key, double *expiry)
{
	size_t len;
	char *body = support_read_file(fx(rel), &len);
	struct err err = {0};
	if (!kube_exec_parse_credential(body, len, token, cert, key, expiry, &err)) {
		fail_msg("%s: %s", rel, err.msg);
	}
	free(body);
}

static void test_exec_credential(void **state)
{
	(void)state;
	char *token, *cert, *key;
	double expiry;
	cred_ok("k8s/exec_credential.json", &token, &cert, &key, &expiry);
	assert_string_equal(token, "my-bearer-token");
	assert_null(cert);
	assert_null(key);
	assert_true(expiry == 1520299820.0); /* 2018-03-05T17:30:20-08:00 */
	free(token);

	cred_ok("k8s/exec_credential_cert.json", &token, &cert, &key, &expiry);
	assert_null(token);
	assert_string_equal(cert, "-----BEGIN CERTIFICATE-----\nTEFCREVDSy1FWEVDLUNFUlQ=\n-----END "
	                          "CERTIFICATE-----\n");
	assert_string_equal(key,
	                    "-----BEGIN EC PRIVATE KEY-----\nTEFCREVDSy1FWEVDLUtFWQ==\n-----END "
	                    "EC PRIVATE KEY-----\n");
	assert_true(expiry == 1714557600.0);
	free(cert);
	free(key);

	static const char no_expiry[] =
	        "{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}";
	struct err err = {0};
	assert_true(kube_exec_parse_credential(no_expiry, strlen(no_expiry), &token, &cert, &key,
	                                       &expiry, &err));
	assert_string_equal(token, "t");
	assert_true(expiry == 0);
	free(token);
}

static void cred_err(const char *body, enum err_code code, const char *want)
{
	char *token = (char *)"x", *cert = (char *)"x", *key = (char *)"x";
	double expiry = 5;
	struct err err = {0};
	assert_false(
	        kube_exec_parse_credential(body, strlen(body), &token, &cert, &key, &expiry, &err));
	assert_null(token);
	assert_null(cert);
	assert_null(key);
	assert_int_equal(err.code, code);
	if (!str_has_prefix(err.msg, want)) {
		fail_msg("for %s\ngot:  %s\nwant: %s...", body, err.msg, want);
	}
	assert_null(strstr(err.msg, "secret-token"));
}

static void test_exec_credential_errors(void **state)
{
	(void)state;
	size_t len;
	char *empty = support_read_file(fx("k8s/exec_credential_empty.json"), &len);
	cred_err(empty, ERR_AUTH, "exec plugin returned no token or client certificate");
	free(empty);
	cred_err("{}", ERR_AUTH, "exec plugin returned no token or client certificate");
	cred_err("{\"status\":{\"token\":5,\"clientCertificateData\":null}}", ERR_AUTH,
	         "exec plugin returned no token or client certificate");
	cred_err("{\"status\":{\"token\":\"\"}}", ERR_AUTH,
	         "exec plugin returned no token or client certificate");
	cred_err("{\"status\":{\"clientCertificateData\":\"C\"}}", ERR_AUTH,
	         "exec plugin returned a client certificate without its key");
	cred_err("", ERR_MALFORMED, "exec credential: not JSON (");
	cred_err("Error: token expired, run aws sso login\n", ERR_MALFORMED,
	         "exec credential: not JSON (");
	cred_err("[1]", ERR_MALFORMED, "exec credential: not a JSON object");
	cred_err("{\"kind\":\"Status\",\"status\":{\"token\":\"secret-token\"}}", ERR_MALFORMED,
	         "exec credential: kind is 'Status', not ExecCredential");
	cred_err("{\"status\":{\"token\":\"secret-token\",\"expirationTimestamp\":\"tomorrow\"}}",
	         ERR_MALFORMED,
	         "exec credential: expirationTimestamp 'tomorrow' is not an RFC 3339");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_current_context_with_data),
	        cmocka_unit_test(test_files_relative_to_kubeconfig),
	        cmocka_unit_test(test_token_insecure),
	        cmocka_unit_test(test_token_file),
	        cmocka_unit_test(test_exec_plugin),
	        cmocka_unit_test(test_exec_without_args),
	        cmocka_unit_test(test_research_fixture),
	        cmocka_unit_test(test_context_errors),
	        cmocka_unit_test(test_anonymous_context),
	        cmocka_unit_test(test_merge_first_wins),
	        cmocka_unit_test(test_no_kubeconfig),
	        cmocka_unit_test(test_bad_yaml),
	        cmocka_unit_test(test_odd_shapes),
	        cmocka_unit_test(test_exec_credential),
	        cmocka_unit_test(test_exec_credential_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
