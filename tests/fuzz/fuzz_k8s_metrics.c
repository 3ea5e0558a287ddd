/* fuzz_k8s_metrics.c: metrics.k8s.io's NodeMetricsList (k8s_parse_node_metrics). */
#include "fuzz_support.h"
#include "k8s_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8s_node_usage *usage = NULL;
	size_t n = 0;
	struct err err;
	k8s_parse_node_metrics((const char *)data, size, &usage, &n, &err);
	k8s_node_usage_free(usage, n);
	return 0;
}
