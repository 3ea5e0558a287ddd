/* fuzz_k8s_objects.c: the Kubernetes object parsers on the same bytes: NodeList, one Pod (as a
 * row and as the detail view reads it), EventList, Status, a CronJob and a CronJobList, a Job's
 * status, the Job built from a CronJob. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "k8s_batch.h"
#include "k8s_detail.h"
#include "k8s_parse.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct err err;

	struct node_list nodes = {0};
	struct k8s_node_extra *extras = NULL;
	k8s_parse_nodes(body, size, 1.7e9, &nodes, &extras, &err);
	node_list_finish(&nodes);
	free(extras);

	struct pod_row pod;
	k8s_parse_pod(body, size, &pod, &err);
	pod_row_finish(&pod);

	struct pod_detail detail;
	memset(&detail, 0, sizeof(detail));
	k8s_parse_pod_detail(body, size, &detail, &err);
	pod_detail_finish(&detail);

	struct pod_event *events = NULL;
	size_t n_events = 0;
	k8s_parse_events(body, size, &events, &n_events, &err);
	pod_events_free(events, n_events);

	struct k8s_status status = {0};
	k8s_parse_status(body, size, &status);
	k8s_status_finish(&status);

	struct k8s_cronjob cronjob = {0};
	k8s_batch_parse_cronjob(body, size, &cronjob, &err);
	k8s_cronjob_finish(&cronjob);

	struct k8s_cronjobs cronjobs = {0};
	k8s_batch_parse_cronjobs(body, size, &cronjobs, &err);
	k8s_cronjobs_finish(&cronjobs);

	struct k8s_job_status job = {0};
	k8s_batch_parse_job(body, size, &job, &err);
	k8s_job_status_finish(&job);

	free(k8s_batch_job_from_cronjob(body, size, "backup-manual-x7k2p", &err));
	return 0;
}
