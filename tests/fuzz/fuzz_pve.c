/* fuzz_pve.c: every Proxmox VE answer parser (pve_parse.c, pve_rrd.c, pve_task.c and the guest
 * agent's addresses in topology_fetch.c) on the same bytes: /cluster/resources, node status,
 * guest config, error bodies, RRD data, task status, task log, a power action's answer, a UPID. */
#include <stdlib.h>

#include "fuzz_support.h"
#include "model.h"
#include "pve_parse.h"
#include "pve_rrd.h"
#include "pve_task.h"
#include "topology_fetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct err err;

	struct node_list nodes = {0};
	struct guest_list guests = {0};
	pve_parse_cluster_resources(body, size, &nodes, &guests, &err);
	node_list_finish(&nodes);
	guest_list_finish(&guests);

	struct node_list one = {0};
	pve_parse_node_status(body, size, node_list_push(&one), &err);
	node_list_finish(&one);

	struct guest_list gl = {0};
	pve_parse_guest_config(body, size, guest_list_push(&gl), &err);
	guest_list_finish(&gl);

	free(pve_error_message(body, size));

	struct rrd_series rrd = {0};
	pve_parse_rrddata(body, size, &rrd, &err);
	rrd_series_finish(&rrd);

	struct pve_task_status st = {0};
	pve_task_parse_status(body, size, &st, &err);
	pve_task_status_finish(&st);

	struct pve_task_log log = {0};
	pve_task_parse_log(body, size, &log, &err);
	pve_task_log_finish(&log);

	char *upid = NULL;
	pve_task_parse_started(body, size, &upid, &err);
	free(upid);

	char *s = fuzz_support_cstr(data, size);
	struct pve_upid u = {0};
	pve_upid_parse(s, &u, &err);
	pve_upid_finish(&u);
	free(s);

	char **addrs = NULL;
	topology_fetch_parse_agent(body, size, &addrs, &err);
	topology_fetch_strv_free(addrs);
	topology_fetch_agent_absent(body, size);
	return 0;
}
