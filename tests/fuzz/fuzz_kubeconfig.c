/* fuzz_kubeconfig.c: a kubeconfig's YAML (kubeconfig_load_string), resolving its current context
 * and a named one, and an exec plugin's ExecCredential JSON (kube_exec_parse_credential), on the
 * same bytes. Relative file references resolve in a directory that does not exist. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fuzz_support.h"
#include "kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	static const char *const contexts[] = {NULL, "lab"};
	for (size_t i = 0; i < 2; i++) {
		struct kube_target t;
		memset(&t, 0, sizeof(t));
		struct err err;
		kubeconfig_load_string(text, size, "fuzz.yaml", "/nonexistent/labdeck-fuzz",
		                       contexts[i], &t, &err);
		kube_target_finish(&t);
	}

	char *token = NULL, *cert = NULL, *key = NULL;
	double expiry = 0;
	struct err err;
	kube_exec_parse_credential(text, size, &token, &cert, &key, &expiry, &err);
	free(token);
	free(cert);
	free(key);
	err_secret_clear(); /* tokens registered by this input (see fuzz_config.c) */
	return 0;
}
