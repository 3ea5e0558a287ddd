/* fuzz_k8s_table.c: a page of pods as the Table API (or a plain PodList) sends it
 * (k8s_parse_pod_page, with managedFields cut out first and the tree in the JSON arena), and the
 * RESTARTS cell of such a table. */
#include <stdlib.h>

#include "fuzz_support.h"
#include "k8s_parse.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct err err;

	struct pod_list pods = {0};
	char *cont = NULL, *rv = NULL;
	k8s_parse_pod_page(body, size, &pods, &cont, &rv, &err);
	pod_list_finish(&pods);
	free(cont);
	free(rv);

	/* A second page appends to what the first gave. */
	struct pod_list twice = {0};
	k8s_parse_pod_table(body, size, &twice, NULL, &err);
	k8s_parse_pod_table(body, size, &twice, &cont, &err);
	pod_list_finish(&twice);
	free(cont);

	char *cell = fuzz_support_cstr(data, size);
	k8s_restarts_cell(cell);
	free(cell);
	return 0;
}
