/* test_topology.c: matching Kubernetes nodes to guests, allocation sums, warnings and the JSON
 * of the lab's tree, on the seed's lab shape: pve-a runs the control-plane/apps guest, pve-b the
 * inference guest with the iGPU and Ollama. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "topology.h"

#define GiB ((int64_t)1 << 30)

static const char *const pci[] = {"0000:c5:00.0"};
static const char *const addr_a[] = {"127.0.0.1", "10.0.0.11", "fe80::1"};
static const char *const addr_b[] = {"10.0.0.12"};

struct lab {
	struct topo_host_in hosts[2];
	struct topo_guest_in guests[4];
	struct topo_node_in nodes[3];
	struct topo_pod_in pods[6];
	struct topo_model_in loaded[2];
	struct topo_model_in available[4];
	struct topo_map_in map[1];
	struct topology_input in;
};

static void lab_init(struct lab *l)
{
	memset(l, 0, sizeof(*l));
	l->hosts[0] = (struct topo_host_in){"pve-a", 12, 32 * GiB, 0.25, 14 * GiB};
	l->hosts[1] = (struct topo_host_in){"pve-b", 16, 64 * GiB, 0.10, 50 * GiB};
	l->guests[0] = (struct topo_guest_in){.vmid = 101,
	                                      .name = "k8s-node-a",
	                                      .host = "pve-a",
	                                      .status = "running",
	                                      .cpus = 8,
	                                      .mem_total = 16 * GiB,
	                                      .mem_used = 11 * GiB,
	                                      .addresses = addr_a,
	                                      .n_addresses = 3};
	l->guests[1] = (struct topo_guest_in){.vmid = 102,
	                                      .name = "k8s-node-b",
	                                      .host = "pve-b",
	                                      .status = "running",
	                                      .cpus = 12,
	                                      .mem_total = 48 * GiB,
	                                      .mem_used = 30 * GiB,
	                                      .passthrough = pci,
	                                      .n_passthrough = 1,
	                                      .addresses = addr_b,
	                                      .n_addresses = 1};
	l->guests[2] = (struct topo_guest_in){.vmid = 103,
	                                      .name = "win11",
	                                      .host = "pve-a",
	                                      .status = "stopped",
	                                      .cpus = 4,
	                                      .mem_total = 8 * GiB,
	                                      .mem_used = -1};
	l->guests[3] = (struct topo_guest_in){.vmid = 110,
	                                      .name = "dns",
	                                      .host = "pve-a",
	                                      .status = "running",
	                                      .cpus = 1,
	                                      .mem_total = GiB / 2,
	                                      .mem_used = GiB / 4};
	/* a: by address (its InternalIP is one of 101's agent addresses); b: by name; c: none */
	l->nodes[0] = (struct topo_node_in){"k8s-node-a", "10.0.0.11", 7.5, 15 * GiB, 1.5, 9 * GiB};
	l->nodes[1] = (struct topo_node_in){"K8S-NODE-B", "192.168.9.9", 11.5, 46 * GiB, NAN, -1};
	l->nodes[2] = (struct topo_node_in){"edge-pi", "10.0.0.50", 4, 8 * GiB, NAN, -1};
	l->pods[0] = (struct topo_pod_in){"lab", "web-1", "k8s-node-a", "Deployment", "web",
	                                  0.5,   1.0,     GiB,          2 * GiB,      false};
	l->pods[1] = (struct topo_pod_in){"lab", "web-2", "k8s-node-a", "Deployment", "web",
	                                  0.5,   1.0,     GiB,          2 * GiB,      false};
	l->pods[2] = (struct topo_pod_in){"lab",   "job-x", "k8s-node-a", "Job", "job", 2.0, 0,
	                                  4 * GiB, 0,       true}; /* finished: counts nothing */
	l->pods[3] =
	        (struct topo_pod_in){"models", "ollama-0", "K8S-NODE-B", "StatefulSet", "ollama",
	                             4.0,      8.0,        20 * GiB,     40 * GiB,      false};
	l->pods[4] = (struct topo_pod_in){"kube-system", "etcd-a", "k8s-node-a", NULL, NULL,
	                                  0.1,           0,        GiB / 10,     0,    false};
	l->pods[5] = (struct topo_pod_in){"lab", "pending", NULL, "Deployment", "web",
	                                  0.5,   1.0,       GiB,  2 * GiB,      false};
	l->loaded[0] =
	        (struct topo_model_in){"qwen2.5:14b", 9 * GiB, 6 * GiB, "2026-11-28T00:00:00Z"};
	l->loaded[1] = (struct topo_model_in){"bge-m3:latest", 1 * GiB, GiB, NULL};
	l->available[0] = (struct topo_model_in){"qwen2.5:14b", 9 * GiB, -1, NULL};
	l->available[1] = (struct topo_model_in){"exaone3.5:7.8b", 5 * GiB, -1, NULL};
	l->available[2] = (struct topo_model_in){"llama3.1:70b", 40 * GiB, -1, NULL};
	l->available[3] = (struct topo_model_in){"bge-m3:latest", 1 * GiB, -1, NULL};
	l->in = (struct topology_input){
	        .hosts = l->hosts,
	        .n_hosts = 2,
	        .guests = l->guests,
	        .n_guests = 4,
	        .nodes = l->nodes,
	        .n_nodes = 3,
	        .pods = l->pods,
	        .n_pods = 6,
	        .loaded = l->loaded,
	        .n_loaded = 2,
	        .available = l->available,
	        .n_available = 4,
	        .ollama_vmid = -1,
	        .ollama_host = "10.0.0.12",
	};
}

static const struct topo_guest *guest(const struct topology *t, int vmid)
{
	for (size_t h = 0; h < t->n_hosts; h++) {
		for (size_t g = 0; g < t->hosts[h].n_guests; g++) {
			if (t->hosts[h].guests[g].in->vmid == vmid) {
				return &t->hosts[h].guests[g];
			}
		}
	}
	return NULL;
}

static const struct topo_warning *warning_about(const struct topology *t, const char *subject,
                                                const char *part)
{
	for (size_t i = 0; i < t->n_warnings; i++) {
		if (strcmp(t->warnings[i].subject, subject) == 0 &&
		    strstr(t->warnings[i].message, part)) {
			return &t->warnings[i];
		}
	}
	return NULL;
}

static void test_matching_rules(void **state)
{
	(void)state;
	struct lab l;
	lab_init(&l);
	struct topology t;
	topology_build(&l.in, &t);
	const struct topo_guest *a = guest(&t, 101), *b = guest(&t, 102);
	assert_non_null(a->node);
	assert_string_equal(a->node->in->name, "k8s-node-a");
	assert_int_equal(a->node->match, TOPO_MATCH_ADDRESS);
	assert_non_null(b->node);
	assert_int_equal(b->node->match, TOPO_MATCH_NAME); /* names compared without case */
	assert_null(guest(&t, 103)->node);
	assert_int_equal(t.n_unmatched, 1);
	assert_string_equal(t.unmatched[0], "edge-pi");
	topology_finish(&t);

	/* The [topology] map wins over the address, and a map to no guest leaves it unmatched. */
	struct topo_map_in map[] = {{"k8s-node-a", 110}, {"edge-pi", 999}};
	l.in.map = map;
	l.in.n_map = 2;
	topology_build(&l.in, &t);
	assert_null(guest(&t, 101)->node);
	assert_non_null(guest(&t, 110)->node);
	assert_int_equal(guest(&t, 110)->node->match, TOPO_MATCH_CONFIG);
	assert_int_equal(t.n_unmatched, 1);
	assert_string_equal(t.unmatched[0], "edge-pi"); /* never guessed by name or address */
	topology_finish(&t);
}

static void test_sums_and_workloads(void **state)
{
	(void)state;
	struct lab l;
	lab_init(&l);
	struct topology t;
	topology_build(&l.in, &t);
	/* pve-a: running 101 (8 vCPU, 16 GiB) and 110 (1, 0.5 GiB); stopped 103 not counted */
	assert_string_equal(t.hosts[0].in->name, "pve-a");
	assert_int_equal(t.hosts[0].alloc_cpus, 9);
	assert_int_equal(t.hosts[0].alloc_mem, 16 * GiB + GiB / 2);
	assert_int_equal(t.hosts[0].n_guests, 3);
	assert_int_equal(t.hosts[0].guests[0].in->vmid, 101); /* by vmid */
	const struct topo_node *n = guest(&t, 101)->node;
	/* web-1 + web-2 + etcd; the finished job and the unscheduled pod count nothing */
	assert_true(fabs(n->requests_cpu - 1.1) < 1e-9);
	assert_int_equal(n->requests_mem, 2 * GiB + GiB / 10);
	assert_int_equal(n->limits_mem, 4 * GiB);
	assert_int_equal(n->n_workloads, 2);
	assert_string_equal(n->workloads[0].namespace_, "kube-system");
	assert_string_equal(n->workloads[0].kind, "Pod"); /* a pod on its own */
	assert_string_equal(n->workloads[1].name, "web");
	assert_int_equal(n->workloads[1].pods, 2);
	assert_true(guest(&t, 102)->runs_ollama); /* [ollama] url's host is 102's address */
	assert_false(guest(&t, 101)->runs_ollama);
	topology_finish(&t);
}

static void test_warnings(void **state)
{
	(void)state;
	struct lab l;
	lab_init(&l);
	struct topology t;
	topology_build(&l.in, &t);
	/* The healthy seed: only the model that cannot fit on the inference guest is warned of. */
	const struct topo_warning *w = warning_about(&t, "model llama3.1:70b", "would not fit");
	assert_non_null(w);
	assert_int_equal(w->level, TOPO_WARN);
	assert_non_null(strstr(w->message, "18Gi free of 48Gi"));
	assert_null(warning_about(&t, "model exaone3.5:7.8b", "")); /* 5 GiB fits in 18 */
	assert_null(warning_about(&t, "model qwen2.5:14b", ""));    /* already loaded */
	assert_int_equal(t.n_warnings, 1);
	topology_finish(&t);

	/* Overcommit the host and overfill the nodes. */
	l.guests[2].status = "running";    /* win11 up: 16.5 + 8 GiB on 32: fine */
	l.guests[2].mem_total = 20 * GiB;  /* 36.5 GiB given on 32: overcommitted */
	l.hosts[0].mem_used = 31 * GiB;    /* 97 % used: critical */
	l.hosts[0].cpus = 2;               /* 9+4 vCPUs on 2 threads */
	l.pods[3].requests_mem = 47 * GiB; /* over 46 GiB allocatable: critical */
	l.pods[0].requests_cpu = 6.0;      /* 6.6 of 7.5 cores: 88 %: nothing yet */
	l.pods[1].requests_cpu = 0.8;      /* 6.9 of 7.5: 92 %: a warning */
	topology_build(&l.in, &t);
	w = warning_about(&t, "pve-a", "memory given to running guests");
	assert_non_null(w);
	assert_int_equal(w->level, TOPO_WARN);
	assert_non_null(strstr(w->message, "36.5Gi > the host's 32Gi (1.14×)"));
	w = warning_about(&t, "pve-a", "memory used");
	assert_non_null(w);
	assert_int_equal(w->level, TOPO_CRIT);
	assert_non_null(warning_about(&t, "pve-a", "vCPUs given to running guests on 2 threads"));
	w = warning_about(&t, "node K8S-NODE-B", "memory requests");
	assert_non_null(w);
	assert_int_equal(w->level, TOPO_CRIT);
	assert_non_null(strstr(w->message, "47Gi > 46Gi"));
	w = warning_about(&t, "node k8s-node-a", "CPU requests");
	assert_non_null(w);
	assert_int_equal(w->level, TOPO_WARN);
	assert_non_null(strstr(w->message, "6.90 cores of 7.50 (92%)"));
	topology_finish(&t);
}

static void test_json_shape(void **state)
{
	(void)state;
	struct lab l;
	lab_init(&l);
	struct topology t;
	topology_build(&l.in, &t);
	json_t *j = topology_to_json(&t);
	json_t *hosts = json_object_get(j, "hosts");
	assert_int_equal(json_array_size(hosts), 2);
	json_t *b = json_array_get(hosts, 1);
	assert_string_equal(json_string_value(json_object_get(b, "name")), "pve-b");
	assert_int_equal(json_integer_value(json_object_get(b, "cpus")), 16);
	assert_true(fabs(json_real_value(json_object_get(b, "cpu_used")) - 1.6) < 1e-9); /* cores */
	assert_int_equal(json_integer_value(json_object_get(b, "alloc_cpus")), 12);
	json_t *g = json_array_get(json_object_get(b, "guests"), 0);
	assert_int_equal(json_integer_value(json_object_get(g, "vmid")), 102);
	assert_string_equal(json_string_value(json_array_get(json_object_get(g, "passthrough"), 0)),
	                    "0000:c5:00.0");
	json_t *node = json_object_get(g, "k8s_node");
	assert_string_equal(json_string_value(json_object_get(node, "match")), "name");
	assert_true(json_is_null(json_object_get(node, "usage_cpu"))); /* no metrics: null */
	assert_int_equal(json_integer_value(json_object_get(node, "requests_mem")), 20 * GiB);
	json_t *wl = json_array_get(json_object_get(node, "workloads"), 0);
	assert_string_equal(json_string_value(json_object_get(wl, "kind")), "StatefulSet");
	json_t *models = json_object_get(g, "models");
	assert_int_equal(json_array_size(models), 2);
	assert_int_equal(
	        json_integer_value(json_object_get(json_array_get(models, 0), "size_vram")),
	        6 * GiB);
	json_t *a101 = json_array_get(json_object_get(json_array_get(hosts, 0), "guests"), 0);
	assert_int_equal(json_array_size(json_object_get(a101, "models")), 0);
	json_t *stopped = json_array_get(json_object_get(json_array_get(hosts, 0), "guests"), 1);
	assert_true(json_is_null(json_object_get(stopped, "k8s_node")));
	assert_true(json_is_null(json_object_get(stopped, "mem_used")));
	json_t *un = json_object_get(j, "unmatched_nodes");
	assert_string_equal(json_string_value(json_array_get(un, 0)), "edge-pi");
	json_t *w = json_array_get(json_object_get(j, "warnings"), 0);
	assert_string_equal(json_string_value(json_object_get(w, "level")), "warn");
	assert_string_equal(json_string_value(json_object_get(w, "subject")), "model llama3.1:70b");
	json_decref(j);
	topology_finish(&t);
}

static void test_empty_and_hostile(void **state)
{
	(void)state;
	struct topology_input in = {.ollama_vmid = -1};
	struct topology t;
	topology_build(&in, &t);
	json_t *j = topology_to_json(&t);
	assert_int_equal(json_array_size(json_object_get(j, "hosts")), 0);
	json_decref(j);
	topology_finish(&t);
	/* A name that is not UTF-8 becomes null in JSON, never a crash or a broken document. */
	struct topo_host_in h = {"pve-\xff", -1, -1, NAN, -1};
	in.hosts = &h;
	in.n_hosts = 1;
	topology_build(&in, &t);
	j = topology_to_json(&t);
	assert_true(json_is_null(
	        json_object_get(json_array_get(json_object_get(j, "hosts"), 0), "name")));
	json_decref(j);
	topology_finish(&t);
}

/* Found by fuzz_k8s_watch: requests near INT64_MAX summed over containers, pods and guests
 * saturate instead of overflowing (undefined behaviour, and a negative "requested"). */
static void test_huge_sums(void **state)
{
	(void)state;
	struct lab l;
	lab_init(&l);
	l.pods[0].requests_mem = INT64_MAX;
	l.pods[0].limits_mem = INT64_MAX - 1;
	l.pods[1].requests_mem = INT64_MAX / 2 + 7;
	l.pods[1].limits_mem = INT64_MAX;
	l.guests[0].cpus = INT_MAX;
	l.guests[0].mem_total = INT64_MAX;
	l.loaded[0].size = INT64_MAX;
	struct topology t;
	topology_build(&l.in, &t);
	assert_int_equal(t.hosts[0].alloc_cpus, INT_MAX);
	assert_int_equal(t.hosts[0].alloc_mem, INT64_MAX);
	const struct topo_node *n = guest(&t, 101)->node;
	assert_int_equal(n->requests_mem, INT64_MAX);
	assert_int_equal(n->limits_mem, INT64_MAX);
	assert_int_equal(n->workloads[1].requests_mem, INT64_MAX);
	topology_finish(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_matching_rules),    cmocka_unit_test(test_sums_and_workloads),
	        cmocka_unit_test(test_warnings),          cmocka_unit_test(test_json_shape),
	        cmocka_unit_test(test_empty_and_hostile), cmocka_unit_test(test_huge_sums),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
