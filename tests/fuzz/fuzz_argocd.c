/* fuzz_argocd.c: Argo CD's answers on the same bytes: one Application, an ApplicationList, an
 * error body, and where an application's operation stands. */
#include <stdlib.h>

#include "argocd.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct err err;

	struct argocd_app app = {0};
	if (argocd_parse_app(body, size, &app, &err)) {
		argocd_op_state_of(&app, NULL);
		argocd_op_state_of(&app, "2025-01-01T00:00:00Z");
	}
	argocd_app_finish(&app);

	struct argocd_app_list list = {0};
	if (argocd_parse_list(body, size, &list, &err)) {
		for (size_t i = 0; i < list.len; i++) {
			argocd_op_state_of(&list.items[i], list.items[0].op_started);
		}
	}
	argocd_app_list_finish(&list);

	free(argocd_error_text(body, size));
	return 0;
}
