/* kubeconfig.h: the parts of a kubeconfig (YAML, read with libyaml) that reach a cluster. */
#ifndef LABDECK_KUBECONFIG_H
#define LABDECK_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct kube_exec {
	char *command;
	char **args; /* NULL-terminated */
	char **env;  /* NULL-terminated "NAME=value" */
	char *api_version;
	char *interactive_mode; /* Never/IfAvailable/Always or NULL */
};

/* What one context resolves to. PEM fields hold PEM text (decoded from *-data, or read from the
 * file path, relative paths resolved against the kubeconfig's directory). */
struct kube_target {
	char *context;
	char *cluster_name;
	char *server; /* https://host:port, no trailing slash */
	char *ca_pem;
	bool insecure;
	char *tls_server_name;
	char *client_cert_pem;
	char *client_key_pem;
	char *token;            /* bearer token (from token or tokenFile) */
	char *token_file;       /* kept so the token can be re-read */
	struct kube_exec *exec; /* NULL when no exec plugin */
	char *namespace_;       /* the context's namespace or NULL */
	char *path;             /* the file it came from */
};

/* kubeconfig_load reads the file list (a ':'-joined $KUBECONFIG-style string of paths; the first
 * file that names a map entry wins, as kubectl merges), picks `context` (NULL: current-context)
 * and resolves it. Errors name the file and what is missing (ERR_CONFIG). */
bool kubeconfig_load(const char *paths, const char *context, struct kube_target *out,
                     struct err *err);

/* kubeconfig_load_string parses one YAML document given as text; base_dir resolves relative
 * paths (for tests and fuzzers). */
bool kubeconfig_load_string(const char *text, size_t len, const char *name, const char *base_dir,
                            const char *context, struct kube_target *out, struct err *err);

void kube_target_finish(struct kube_target *t);

/* kube_exec_parse_credential reads an ExecCredential JSON (client.authentication.k8s.io/v1 or
 * v1beta1): status.token, status.clientCertificateData/clientKeyData and
 * status.expirationTimestamp (epoch seconds into *expiry, 0 when absent). */
bool kube_exec_parse_credential(const char *body, size_t len, char **token, char **cert_pem,
                                char **key_pem, double *expiry, struct err *err);

#endif
