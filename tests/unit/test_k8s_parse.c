/* test_k8s_parse.c: the Kubernetes API answers the node and pod views are built from. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s_parse.h"
#include "support.h"
#include "util.h"

#define NOW 1714557600.0 /* 2024-05-01T10:00:00Z */

static void assert_str_or_null(const char *got, const char *want)
{
	if (want == NULL) {
		if (got != NULL) {
			fail_msg("expected NULL, got \"%s\"", got);
		}
	} else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
}

/* ---- nodes ---- */

static void nodes_ok(const char *rel, struct node_list *l, struct k8s_node_extra **x)
{
	size_t len;
	char *body = support_fixture("k8s", rel, &len);
	struct err err = {0};
	if (!k8s_parse_nodes(body, len, NOW, l, x, &err)) {
		fail_msg("%s: %s", rel, err.msg);
	}
	free(body);
}

static void test_nodes_minikube(void **state)
{
	(void)state;
	struct node_list l = {0};
	struct k8s_node_extra *x = NULL;
	nodes_ok("nodelist.json", &l, &x);
	assert_int_equal(l.len, 1);
	struct node_row *r = &l.items[0];
	assert_string_equal(r->name, "minikube");
	assert_int_equal(r->source, NODE_KUBERNETES);
	assert_string_equal(r->status, "Ready");
	assert_null(r->pressures);
	assert_string_equal(r->roles, "master");
	assert_string_equal(r->internal_ip, "192.168.64.107");
	assert_int_equal(r->unschedulable, 0);
	assert_int_equal(r->cpus, 4);
	assert_int_equal(r->mem_total, 8165556LL * 1024);
	assert_int_equal(r->uptime,
	                 (int64_t)(NOW - 1566856326.0)); /* Ready since 2019-08-26T21:52:06Z */
	assert_true(isnan(r->cpu));                      /* from metrics, not from here */
	assert_int_equal(r->mem_used, -1);
	assert_int_equal(x[0].alloc_cpu_milli, 4000);
	assert_int_equal(x[0].alloc_mem, 8063156LL * 1024);
	assert_int_equal(x[0].capacity_cpu_milli, 4000);
	assert_int_equal(x[0].capacity_mem, 8165556LL * 1024);
	free(x);
	node_list_finish(&l);
}

static void test_nodes_lab(void **state)
{
	(void)state;
	struct node_list l = {0};
	struct k8s_node_extra *x = NULL;
	nodes_ok("nodelist_lab.json", &l, &x);
	assert_int_equal(l.len, 4);

	struct node_row *cp = &l.items[0];
	assert_string_equal(cp->name, "pve-cp1");
	assert_string_equal(cp->status, "Ready");
	assert_int_equal(cp->uptime, 7200); /* Ready since 08:00, now 10:00 */
	assert_string_equal(cp->roles, "control-plane,etcd,master");
	assert_int_equal(cp->unschedulable, 1); /* cordoned */
	assert_null(cp->pressures);
	assert_string_equal(cp->internal_ip, "10.0.0.10");
	assert_int_equal(cp->cpus, 4);
	assert_int_equal(cp->mem_total, 16314928LL * 1024);
	assert_int_equal(x[0].alloc_cpu_milli, 3900);
	assert_int_equal(x[0].alloc_mem, 16212528LL * 1024);
	assert_int_equal(x[0].capacity_cpu_milli, 4000);

	/* NotReady with two pressures True; DiskPressure False is not listed. */
	struct node_row *gw = &l.items[1];
	assert_string_equal(gw->name, "gpu-worker");
	assert_string_equal(gw->status, "NotReady");
	assert_string_equal(gw->pressures, "MemoryPressure,PIDPressure");
	assert_string_equal(gw->roles, "gpu,worker");
	assert_int_equal(gw->uptime, -1);
	assert_int_equal(gw->cpus, 16);
	assert_int_equal(gw->mem_total, 65536LL << 20);
	assert_int_equal(x[1].alloc_mem, 64LL << 30);
	assert_int_equal(x[1].alloc_cpu_milli, 16000);

	/* No conditions at all, no InternalIP, no roles, fractional cpu capacity. */
	struct node_row *edge = &l.items[2];
	assert_string_equal(edge->name, "edge-rpi");
	assert_string_equal(edge->status, "Unknown");
	assert_null(edge->pressures);
	assert_null(edge->roles);
	assert_null(edge->internal_ip);
	assert_int_equal(edge->uptime, -1);
	assert_int_equal(edge->cpus, 4); /* 3500m rounds up */
	assert_int_equal(edge->mem_total, 3758096384LL);
	assert_int_equal(x[2].alloc_cpu_milli, -1);
	assert_int_equal(x[2].alloc_mem, -1);
	assert_int_equal(x[2].capacity_cpu_milli, 3500);
	assert_int_equal(x[2].capacity_mem, 3758096384LL);

	/* The node controller marks every condition Unknown when the kubelet goes silent. */
	struct node_row *lost = &l.items[3];
	assert_string_equal(lost->status, "Unknown");
	assert_null(lost->pressures);
	assert_int_equal(lost->uptime, -1);
	assert_string_equal(lost->internal_ip, "10.0.0.12");
	free(x);
	node_list_finish(&l);

	/* extras is optional. */
	nodes_ok("nodelist_lab.json", &l, NULL);
	assert_int_equal(l.len, 4);
	node_list_finish(&l);
}

static void test_nodes_wrong_types(void **state)
{
	(void)state;
	struct node_list l = {0};
	struct k8s_node_extra *x = NULL;
	nodes_ok("nodelist_odd.json", &l, &x);
	/* Numbers, strings, null and arrays in items are dropped; objects are kept. */
	assert_int_equal(l.len, 3);
	struct node_row *r = &l.items[0];
	assert_string_equal(r->name, ""); /* name was a number */
	assert_string_equal(r->status, "Unknown");
	assert_int_equal(r->cpus, -1);
	assert_int_equal(r->mem_total, -1);
	assert_null(r->roles);
	assert_int_equal(x[0].alloc_cpu_milli, -1);

	r = &l.items[1];
	assert_string_equal(r->name, "weird");
	assert_string_equal(r->status, "Unknown");
	assert_string_equal(r->roles, "worker");
	assert_int_equal(r->unschedulable, 0); /* "true" as a string is not a boolean */
	assert_int_equal(r->cpus, 4);          /* a bare number is taken as a quantity */
	assert_int_equal(r->mem_total, -1);    /* "lots" */
	assert_string_equal(r->internal_ip, "192.0.2.9");
	assert_int_equal(x[1].alloc_cpu_milli, -1);

	r = &l.items[2];
	assert_string_equal(r->name, "");
	assert_string_equal(r->status, "Ready");
	assert_int_equal(r->uptime, -1); /* lastTransitionTime "garbage" */
	assert_string_equal(r->pressures, "DiskPressure");
	assert_int_equal(r->cpus, INT_MAX); /* "1e400" saturates */
	assert_int_equal(r->mem_total, -1); /* negative */
	free(x);
	node_list_finish(&l);

	static const char empty[] = "{\"kind\":\"NodeList\",\"items\":[]}";
	struct err err = {0};
	x = (struct k8s_node_extra *)&err; /* must be overwritten */
	assert_true(k8s_parse_nodes(empty, strlen(empty), NOW, &l, &x, &err));
	assert_int_equal(l.len, 0);
	assert_null(x);
	static const char nul[] = "{\"kind\":\"NodeList\",\"items\":null}";
	assert_true(k8s_parse_nodes(nul, strlen(nul), NOW, &l, &x, &err));
	assert_int_equal(l.len, 0);
	node_list_finish(&l);
}

static void nodes_err(const char *body, const char *want)
{
	size_t len = strlen(body);
	struct node_list l = {0};
	struct k8s_node_extra *x = (struct k8s_node_extra *)&l;
	struct err err = {0};
	assert_false(k8s_parse_nodes(body, len, NOW, &l, &x, &err));
	assert_int_equal(err.code, ERR_MALFORMED);
	assert_int_equal(l.len, 0);
	assert_null(x);
	if (!str_has_prefix(err.msg, want)) {
		fail_msg("got:  %s\nwant: %s...", err.msg, want);
	}
}

static void test_nodes_malformed(void **state)
{
	(void)state;
	nodes_err("", "node list: not JSON (");
	nodes_err("<html>502 Bad Gateway</html>", "node list: not JSON (");
	nodes_err("[]", "node list: not a JSON object");
	nodes_err("\"NodeList\"", "node list: not JSON ("); /* jansson wants [ or { on top */
	nodes_err("{\"kind\":\"NodeList\"}", "node list: no items array");
	nodes_err("{\"kind\":\"NodeList\",\"items\":{}}", "node list: items is not an array");
	size_t len;
	char *body = support_fixture("k8s", "status_403.json", &len);
	nodes_err(body, "node list: expected a NodeList, got a Status: pods is forbidden");
	free(body);
	/* A cut-off answer says where it stopped. */
	body = support_fixture("k8s", "nodelist.json", &len);
	struct node_list l = {0};
	struct err err = {0};
	assert_false(k8s_parse_nodes(body, 1000, NOW, &l, NULL, &err));
	assert_int_equal(err.code, ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "at byte"));
	free(body);
}

/* ---- metrics ---- */

static void test_node_metrics(void **state)
{
	(void)state;
	size_t len, n = 99;
	char *body = support_fixture("k8s", "metrics_nodes.json", &len);
	struct k8s_node_usage *u = NULL;
	struct err err = {0};
	assert_true(k8s_parse_node_metrics(body, len, &u, &n, &err));
	free(body);
	assert_int_equal(n, 1);
	assert_string_equal(u[0].name, "minikube");
	assert_int_equal(u[0].cpu_nano, 321069224);
	assert_int_equal(u[0].mem, 1597272LL * 1024);
	k8s_node_usage_free(u, n);

	body = support_fixture("k8s", "metrics_nodes_lab.json", &len);
	assert_true(k8s_parse_node_metrics(body, len, &u, &n, &err));
	free(body);
	assert_int_equal(n, 3);
	assert_string_equal(u[0].name, "pve-cp1");
	assert_int_equal(u[0].cpu_nano, 1875123456);
	assert_int_equal(u[0].mem, 9876543LL * 1024);
	assert_string_equal(u[1].name, "gpu-worker");
	assert_int_equal(u[1].cpu_nano, 15250000000LL); /* "15250m" */
	assert_int_equal(u[1].mem, 63LL << 30);
	assert_string_equal(u[2].name, "edge-rpi");
	assert_int_equal(u[2].cpu_nano, -1); /* no usage reported */
	assert_int_equal(u[2].mem, -1);
	k8s_node_usage_free(u, n);

	static const char odd[] = "{\"items\":[1,{\"usage\":{\"cpu\":\"x\",\"memory\":[]}},"
	                          "{\"metadata\":{\"name\":\"a\"},\"usage\":\"no\"}]}";
	assert_true(k8s_parse_node_metrics(odd, strlen(odd), &u, &n, &err));
	assert_int_equal(n, 2);
	assert_string_equal(u[0].name, "");
	assert_int_equal(u[0].cpu_nano, -1);
	assert_string_equal(u[1].name, "a");
	assert_int_equal(u[1].mem, -1);
	k8s_node_usage_free(u, n);

	static const char none[] = "{\"kind\":\"NodeMetricsList\",\"items\":[]}";
	assert_true(k8s_parse_node_metrics(none, strlen(none), &u, &n, &err));
	assert_int_equal(n, 0);
	assert_null(u);
	k8s_node_usage_free(u, n);

	body = support_fixture("k8s", "status_404.json", &len);
	n = 5;
	assert_false(k8s_parse_node_metrics(body, len, &u, &n, &err));
	assert_int_equal(err.code, ERR_MALFORMED);
	assert_string_equal(err.msg,
	                    "node metrics: expected a NodeMetricsList, got a Status: pods \"abc\" "
	                    "not found");
	assert_null(u);
	assert_int_equal(n, 0);
	free(body);
	assert_false(k8s_parse_node_metrics("{\"items\":5}", 11, &u, &n, &err));
	assert_string_equal(err.msg, "node metrics: items is not an array");
}

/* ---- pods ---- */

static void pods_ok(const char *rel, struct pod_list *l, char **cont)
{
	size_t len;
	char *body = support_fixture("k8s", rel, &len);
	struct err err = {0};
	if (!k8s_parse_pod_table(body, len, l, cont, &err)) {
		fail_msg("%s: %s", rel, err.msg);
	}
	free(body);
}

static void assert_pod(const struct pod_row *r, const char *ns, const char *name, const char *ready,
                       const char *phase, int64_t restarts, const char *ip, const char *node)
{
	assert_str_or_null(r->namespace_, ns);
	assert_string_equal(r->name, name);
	assert_str_or_null(r->ready, ready);
	assert_str_or_null(r->phase, phase);
	assert_int_equal(r->restarts, restarts);
	assert_str_or_null(r->ip, ip);
	assert_str_or_null(r->node, node);
}

static void test_table_old_server(void **state)
{
	(void)state;
	/* meta.k8s.io/v1beta1, Restarts as an integer, PartialObjectMetadata rows. */
	struct pod_list l = {0};
	char *cont = (char *)"stale";
	pods_ok("podlist_table.json", &l, &cont);
	assert_null(cont);
	assert_int_equal(l.len, 1);
	assert_pod(&l.items[0], "dockin", "dockin-test-test", "1/1", "Running", 0, "192.168.1.43",
	           "192-168-1-195");
	assert_true(l.items[0].created == 1564402303.0); /* 2019-07-29T12:11:43Z */
	pod_list_finish(&l);
}

static void test_table_lab(void **state)
{
	(void)state;
	struct pod_list l = {0};
	char *cont = NULL;
	pods_ok("podlist_table_lab.json", &l, &cont);
	assert_string_equal(cont,
	                    "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NDQ2Njc3LCJzdGFydCI6Im9wcy9iYW"
	                    "NrdXAtMjg1NzM5MjAtYWJjZGVcdTAwMDAifQ");
	free(cont);
	assert_int_equal(l.len, 4);
	assert_pod(&l.items[0], "kube-system", "coredns-7db6d8ff4d-x2x9q", "1/1", "Running", 0,
	           "10.42.0.5", "pve-cp1");
	assert_pod(&l.items[1], "ai", "ollama-0", "1/1", "Running", 3, "10.42.1.17", "gpu-worker");
	assert_pod(&l.items[2], "monitoring", "grafana-6b9f8c7d5-zp4lm", "0/1", "CrashLoopBackOff",
	           27, "10.42.1.23", "gpu-worker");
	assert_true(l.items[2].created == 1714376703.0); /* 2024-04-29T07:45:03Z */
	/* Not scheduled yet: kubectl's "<none>" is no node and no IP. */
	assert_pod(&l.items[3], "ops", "backup-28573920-abcde", "0/1", "Pending", 0, NULL, NULL);

	/* Pages append. */
	pods_ok("podlist_table.json", &l, NULL);
	assert_int_equal(l.len, 5);
	assert_string_equal(l.items[4].name, "dockin-test-test");
	assert_string_equal(l.items[0].name, "coredns-7db6d8ff4d-x2x9q");
	pod_list_finish(&l);
}

static void test_table_reordered(void **state)
{
	(void)state;
	/* Columns in another order (found by name), integer Restarts, null IP, full Pod objects. */
	struct pod_list l = {0};
	char *cont = NULL;
	pods_ok("podlist_table_reordered.json", &l, &cont);
	assert_null(cont);
	assert_int_equal(l.len, 2);
	assert_pod(&l.items[0], "default", "nginx", "1/1", "Running", 0, "172.17.0.6", "minikube");
	assert_pod(&l.items[1], "web", "nginx-2", "1/1", "Running", 5, NULL, "minikube");
	assert_true(l.items[1].created == 1565395200.0); /* 2019-08-10T00:00:00Z */
	pod_list_finish(&l);
}

static void test_table_empty(void **state)
{
	(void)state;
	struct pod_list l = {0};
	char *cont = (char *)"stale";
	pods_ok("podlist_table_null_rows.json", &l, &cont); /* rows: null, continue: "" */
	assert_int_equal(l.len, 0);
	assert_null(cont);
	pods_ok("podlist_table_v1_empty.json", &l, &cont); /* rows: [] */
	assert_int_equal(l.len, 0);
	assert_null(cont);
	pod_list_finish(&l);
}

static void test_podlist_fallback(void **state)
{
	(void)state;
	struct pod_list l = {0};
	char *cont = NULL;
	pods_ok("podlist_paginated.json", &l, &cont);
	assert_string_equal(cont, "ENCODED_CONTINUE_TOKEN");
	free(cont);
	assert_int_equal(l.len, 1);
	assert_pod(&l.items[0], "default", "nginx", "1/1", "Running", 0, "172.17.0.6", "minikube");
	assert_true(l.items[0].created == 1565327539.0); /* 2019-08-09T05:12:19Z */
	pod_list_finish(&l);

	/* What kubectl get pods prints for each of these. */
	pods_ok("podlist_fallback.json", &l, &cont);
	assert_null(cont);
	assert_int_equal(l.len, 8);
	assert_pod(&l.items[0], "ai", "ollama-0", "2/2", "Running", 3, "10.42.1.30", "gpu-worker");
	assert_pod(&l.items[1], "monitoring", "grafana-6b9f8c7d5-zp4lm", "0/1", "CrashLoopBackOff",
	           27, "10.42.1.30", "gpu-worker");
	assert_pod(&l.items[2], "web", "nginx-7d9c-old", "1/1", "Terminating", 0, "10.42.1.30",
	           "gpu-worker");
	assert_pod(&l.items[3], "ops", "migrate-db-x7k2p", "0/1", "Init:0/1", 4, NULL,
	           "gpu-worker");
	assert_pod(&l.items[4], "ops", "backup-28573920-abcde", "0/1", "Pending", 0, NULL, NULL);
	assert_pod(&l.items[5], "ops", "report-28573800-q1w2e", "0/1", "Completed", 0, "10.42.1.30",
	           "gpu-worker");
	assert_pod(&l.items[6], "web", "nginx-7d9c-evicted", "0/1", "Evicted", 0, NULL,
	           "gpu-worker");
	assert_pod(&l.items[7], "ops", "oom-job-zz9", "0/1", "ExitCode:137", 0, "10.42.1.30",
	           "gpu-worker");
	pod_list_finish(&l);
}

static void test_pod_init_states(void **state)
{
	(void)state;
	/* Init containers: failed with a reason, waiting with a reason, killed by a signal. */
	static const char body[] =
	        "{\"kind\":\"PodList\",\"items\":["
	        "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"initContainers\":[{},{}],"
	        "\"containers\":[{}]},"
	        "\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":["
	        "{\"restartCount\":0,\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":"
	        "\"Completed\"}}},"
	        "{\"restartCount\":2,\"state\":{\"terminated\":{\"exitCode\":1,\"reason\":"
	        "\"Error\"}}}]}},"
	        "{\"metadata\":{\"name\":\"b\"},\"spec\":{\"initContainers\":[{}],\"containers\":[{"
	        "}]},"
	        "\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":["
	        "{\"state\":{\"waiting\":{\"reason\":\"ImagePullBackOff\"}}}]}},"
	        "{\"metadata\":{\"name\":\"c\"},\"spec\":{\"initContainers\":[{}],\"containers\":[{"
	        "}]},"
	        "\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":["
	        "{\"state\":{\"terminated\":{\"exitCode\":137,\"signal\":9}}}]}},"
	        "{\"metadata\":{\"name\":\"d\",\"deletionTimestamp\":\"2024-05-01T09:00:00Z\"},"
	        "\"spec\":{\"containers\":[{}]},\"status\":{\"phase\":\"Running\",\"reason\":"
	        "\"NodeLost\"}},"
	        "{\"metadata\":{\"name\":\"e\"},\"spec\":{\"containers\":[{},{}]},\"status\":{"
	        "\"phase\":"
	        "\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}],"
	        "\"containerStatuses\":[{\"ready\":true,\"state\":{\"running\":{}}},"
	        "{\"ready\":false,\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":"
	        "\"Completed\"}}}]}}"
	        "]}";
	struct pod_list l = {0};
	struct err err = {0};
	assert_true(k8s_parse_pod_table(body, strlen(body), &l, NULL, &err));
	assert_int_equal(l.len, 5);
	assert_pod(&l.items[0], NULL, "a", "0/1", "Init:Error", 2, NULL, NULL);
	assert_pod(&l.items[1], NULL, "b", "0/1", "Init:ImagePullBackOff", 0, NULL, NULL);
	assert_pod(&l.items[2], NULL, "c", "0/1", "Init:Signal:9", 0, NULL, NULL);
	assert_pod(&l.items[3], NULL, "d", "0/1", "Unknown", 0, NULL, NULL);
	/* A completed container beside a running one reads NotReady when the pod is not Ready. */
	assert_pod(&l.items[4], NULL, "e", "1/2", "NotReady", 0, NULL, NULL);
	assert_true(isnan(l.items[4].created));
	pod_list_finish(&l);
}

static void test_table_wrong_types(void **state)
{
	(void)state;
	static const char body[] =
	        "{\"kind\":\"Table\",\"columnDefinitions\":[5,{\"name\":7},{\"name\":\"NAME\"},"
	        "{\"name\":\"restarts\"},{\"name\":\"Status\"},{\"name\":\"Ready\"},{\"name\":"
	        "\"IP\"},"
	        "{\"name\":\"Node\"}],"
	        "\"rows\":["
	        "7,"
	        "{\"cells\":\"nope\",\"object\":{\"metadata\":{\"name\":\"from-meta\","
	        "\"namespace\":5,\"creationTimestamp\":\"yesterday\"}}},"
	        "{\"cells\":[null,null,\"short\"]},"
	        "{\"cells\":[1,2,{\"x\":1},\"abc\",true,[1],\"\",\"<none>\"],\"object\":\"x\"},"
	        "{\"cells\":[1,2,\"n\",-3,1.5,\"1/"
	        "1\",\"10.0.0.1\",\"node-a\"],\"object\":{\"metadata\":"
	        "[]}},"
	        "{\"cells\":[1,2,\"m\",\"4 (1h ago)\",\"Running\",\"1/1\",\"10.0.0.2\",\"node-b\"],"
	        "\"object\":{\"metadata\":{\"namespace\":\"ns\",\"creationTimestamp\":"
	        "\"2024-05-01T10:00:00Z\"}}}"
	        "],\"metadata\":{\"continue\":5}}";
	struct pod_list l = {0};
	char *cont = (char *)"stale";
	struct err err = {0};
	assert_true(k8s_parse_pod_table(body, strlen(body), &l, &cont, &err));
	assert_null(cont);
	assert_int_equal(l.len, 5);
	assert_pod(&l.items[0], NULL, "from-meta", NULL, NULL, -1, NULL, NULL);
	assert_true(isnan(l.items[0].created));
	assert_pod(&l.items[1], NULL, "short", NULL, NULL, -1, NULL, NULL);
	assert_pod(&l.items[2], NULL, "", NULL, "true", -1, NULL, NULL); /* object cell: no name */
	assert_pod(&l.items[3], NULL, "n", "1/1", "1.5", -1, "10.0.0.1", "node-a");
	assert_pod(&l.items[4], "ns", "m", "1/1", "Running", 4, "10.0.0.2", "node-b");
	assert_true(l.items[4].created == NOW);
	pod_list_finish(&l);
}

static void pods_err(const char *body, const char *want)
{
	struct pod_list l = {0};
	pod_list_push(&l)->name = xstrdup("kept");
	char *cont = (char *)"stale";
	struct err err = {0};
	assert_false(k8s_parse_pod_table(body, strlen(body), &l, &cont, &err));
	assert_int_equal(err.code, ERR_MALFORMED);
	assert_null(cont);
	assert_int_equal(l.len, 1); /* nothing appended */
	if (!str_has_prefix(err.msg, want)) {
		fail_msg("for %s\ngot:  %s\nwant: %s...", body, err.msg, want);
	}
	pod_list_finish(&l);
}

static void test_pods_malformed(void **state)
{
	(void)state;
	pods_err("", "pod table: not JSON (");
	pods_err("{\"kind\":\"Table\",", "pod table: not JSON (");
	pods_err("null", "pod table: not JSON ("); /* jansson wants an array or object on top */
	pods_err("[{\"kind\":\"Table\"}]", "pod table: not a JSON object");
	pods_err("{\"kind\":\"Table\",\"rows\":[]}", "pod table: Table without columnDefinitions");
	pods_err("{\"kind\":\"Table\",\"columnDefinitions\":{},\"rows\":[]}",
	         "pod table: Table without columnDefinitions");
	pods_err("{\"kind\":\"Table\",\"columnDefinitions\":[],\"rows\":\"x\"}",
	         "pod table: rows is not an array");
	pods_err("{\"kind\":\"Table\",\"columnDefinitions\":[]}", "pod table: no rows array");
	pods_err("{\"kind\":\"PodList\",\"items\":5}", "pod list: items is not an array");
	pods_err("{\"kind\":\"Deployment\",\"items\":[]}",
	         "pod table: expected a Table or PodList, got kind 'Deployment'");
	pods_err("{}", "pod table: expected a Table or PodList, got no kind");
	pods_err("{\"kind\":\"Status\",\"reason\":\"Expired\",\"message\":\"too old\"}",
	         "pod table: expected a Table, got a Status: too old");
}

/* ---- Status ---- */

static void status_ok(const char *rel, const char *reason, long code, const char *msg_prefix)
{
	size_t len;
	char *body = support_fixture("k8s", rel, &len);
	struct k8s_status st;
	assert_true(k8s_parse_status(body, len, &st));
	free(body);
	assert_string_equal(st.reason, reason);
	assert_int_equal(st.code, code);
	assert_true(str_has_prefix(st.message, msg_prefix));
	k8s_status_finish(&st);
	assert_null(st.message);
}

static void test_status(void **state)
{
	(void)state;
	status_ok("status_401.json", "Unauthorized", 401, "Unauthorized");
	status_ok("status_403.json", "Forbidden", 403,
	          "pods is forbidden: User \"test-username\" cannot list resource \"pods\"");
	status_ok("status_404.json", "NotFound", 404, "pods \"abc\" not found");
	status_ok("status_410_expired_list.json", "Expired", 410,
	          "The provided continue parameter is too old");
	status_ok("status_410_watch_error.json", "Gone", 410, "too old resource version: 1");

	struct k8s_status st;
	static const char bare[] = "{\"kind\":\"Status\",\"code\":\"503\",\"reason\":\"\"}";
	assert_true(k8s_parse_status(bare, strlen(bare), &st));
	assert_null(st.reason);
	assert_null(st.message);
	assert_int_equal(st.code, 503);
	k8s_status_finish(&st);

	size_t len;
	char *body = support_fixture("k8s", "nodelist.json", &len);
	assert_false(k8s_parse_status(body, len, &st));
	assert_null(st.reason);
	free(body);
	assert_false(k8s_parse_status("", 0, &st));
	assert_false(k8s_parse_status("Unauthorized\n", 13, &st));
	assert_false(k8s_parse_status("[{\"kind\":\"Status\"}]", 19, &st));
	assert_false(k8s_parse_status("{\"type\":\"ERROR\",\"object\":5}", 27, &st));
	k8s_status_finish(&st);
}

static void test_restarts_cell(void **state)
{
	(void)state;
	assert_int_equal(k8s_restarts_cell("0"), 0);
	assert_int_equal(k8s_restarts_cell("3"), 3);
	assert_int_equal(k8s_restarts_cell("7 (3m ago)"), 7);
	assert_int_equal(k8s_restarts_cell("27 (2m14s ago)"), 27);
	assert_int_equal(k8s_restarts_cell(NULL), -1);
	assert_int_equal(k8s_restarts_cell(""), -1);
	assert_int_equal(k8s_restarts_cell("abc"), -1);
	assert_int_equal(k8s_restarts_cell("-1"), -1);
	assert_int_equal(k8s_restarts_cell("7x"), -1);
	assert_int_equal(k8s_restarts_cell("7 ("), -1);
	assert_int_equal(k8s_restarts_cell("7 "), -1);
	assert_int_equal(k8s_restarts_cell(" 7"), -1);
	assert_int_equal(k8s_restarts_cell("1234567890123456789012"), -1);
}

/* Every prefix of every fixture (strided for the big ones) through every parser: each either
 * succeeds or fails cleanly, without a crash or a leak (the ASan build checks). */
static void test_truncated_inputs(void **state)
{
	(void)state;
	static const char *const files[] = {
	        "nodelist.json",          "nodelist_lab.json",
	        "nodelist_odd.json",      "metrics_nodes_lab.json",
	        "podlist_table_lab.json", "podlist_fallback.json",
	        "status_403.json",        "podlist_table_reordered.json",
	};
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		size_t len;
		char *body = support_fixture("k8s", files[f], &len);
		size_t step = len / 200 + 1;
		for (size_t n = 0; n <= len; n += (n + step > len && n != len) ? len - n : step) {
			struct err err = {0};
			struct node_list nl = {0};
			struct k8s_node_extra *x = NULL;
			if (k8s_parse_nodes(body, n, NOW, &nl, &x, &err)) {
				free(x);
			} else {
				assert_int_equal(err.code, ERR_MALFORMED);
			}
			node_list_finish(&nl);
			struct k8s_node_usage *u = NULL;
			size_t nu = 0;
			if (k8s_parse_node_metrics(body, n, &u, &nu, &err)) {
				k8s_node_usage_free(u, nu);
			}
			struct pod_list pl = {0};
			char *cont = NULL;
			if (k8s_parse_pod_table(body, n, &pl, &cont, &err)) {
				free(cont);
			}
			pod_list_finish(&pl);
			struct k8s_status st;
			k8s_parse_status(body, n, &st);
			k8s_status_finish(&st);
			if (n == len) {
				break;
			}
		}
		free(body);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_nodes_minikube),    cmocka_unit_test(test_nodes_lab),
	        cmocka_unit_test(test_nodes_wrong_types), cmocka_unit_test(test_nodes_malformed),
	        cmocka_unit_test(test_node_metrics),      cmocka_unit_test(test_table_old_server),
	        cmocka_unit_test(test_table_lab),         cmocka_unit_test(test_table_reordered),
	        cmocka_unit_test(test_table_empty),       cmocka_unit_test(test_podlist_fallback),
	        cmocka_unit_test(test_pod_init_states),   cmocka_unit_test(test_table_wrong_types),
	        cmocka_unit_test(test_pods_malformed),    cmocka_unit_test(test_status),
	        cmocka_unit_test(test_restarts_cell),     cmocka_unit_test(test_truncated_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
