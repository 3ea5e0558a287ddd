/* test_topology_fetch.c: the parsers behind the topology's data — the guest agent's interfaces,
 * pods' requests and limits with their owning workload, Ollama's URL host — and the input laid
 * out for topology_build from Kubernetes nodes with allocatable figures. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s.h"
#include "k8s_parse.h"
#include "support.h"
#include "topology_fetch.h"

/* As Proxmox answers /nodes/pve-a/qemu/101/agent/network-get-interfaces (qemu-guest-agent's
 * guest-network-get-interfaces wrapped in data.result). */
static const char agent_body[] =
        "{\"data\":{\"result\":["
        "{\"name\":\"lo\",\"hardware-address\":\"00:00:00:00:00:00\",\"ip-addresses\":["
        "{\"ip-address\":\"127.0.0.1\",\"ip-address-type\":\"ipv4\",\"prefix\":8},"
        "{\"ip-address\":\"::1\",\"ip-address-type\":\"ipv6\",\"prefix\":128}],"
        "\"statistics\":{\"rx-bytes\":1}},"
        "{\"name\":\"eth0\",\"hardware-address\":\"bc:24:11:5a:0e:11\",\"ip-addresses\":["
        "{\"ip-address\":\"10.10.0.11\",\"ip-address-type\":\"ipv4\",\"prefix\":24},"
        "{\"ip-address\":\"fe80::be24:11ff:fe5a:e11\",\"ip-address-type\":\"ipv6\","
        "\"prefix\":64},"
        "{\"ip-address\":\"fd00::11\",\"ip-address-type\":\"ipv6\",\"prefix\":64}]},"
        "{\"name\":\"cni0\"}]}}";

static void test_agent_addresses(void **state)
{
	(void)state;
	char **a = NULL;
	struct err e;
	err_clear(&e);
	assert_true(topology_fetch_parse_agent(agent_body, strlen(agent_body), &a, &e));
	assert_non_null(a);
	assert_string_equal(a[0], "10.10.0.11");
	assert_string_equal(a[1], "fd00::11");
	assert_null(a[2]); /* loopback and link-local left out */
	topology_fetch_strv_free(a);

	const char *bad = "{\"data\":null}";
	assert_false(topology_fetch_parse_agent(bad, strlen(bad), &a, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	assert_null(a);

	const char *absent = "{\"data\":null,\"message\":\"QEMU guest agent is not running\\n\"}";
	assert_true(topology_fetch_agent_absent(absent, strlen(absent)));
	const char *other = "{\"data\":null,\"message\":\"VM 101 not running\\n\"}";
	assert_false(topology_fetch_agent_absent(other, strlen(other)));
}

static const char pods_body[] =
        "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":["
        /* a Deployment's pod: two containers, an init container larger in memory */
        "{\"metadata\":{\"name\":\"web-7d4b9c-x2x\",\"namespace\":\"lab\","
        "\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"7d4b9c\"},"
        "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
        "\"name\":\"web-7d4b9c\",\"uid\":\"u1\",\"controller\":true}]},"
        "\"spec\":{\"nodeName\":\"k8s-node-a\",\"containers\":["
        "{\"name\":\"app\",\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"512Mi\"},"
        "\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}},"
        "{\"name\":\"side\",\"resources\":{\"requests\":{\"cpu\":\"50m\",\"memory\":\"64Mi\"}}}],"
        "\"initContainers\":[{\"name\":\"init\",\"resources\":{\"requests\":"
        "{\"cpu\":\"100m\",\"memory\":\"2Gi\"}}}]},"
        "\"status\":{\"phase\":\"Running\"}},"
        /* a ReplicaSet whose name does not end in the hash stays a ReplicaSet */
        "{\"metadata\":{\"name\":\"rs-pod\",\"namespace\":\"lab\","
        "\"labels\":{\"pod-template-hash\":\"abc\"},"
        "\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"plain\",\"controller\":true}]},"
        "\"spec\":{\"containers\":[{\"name\":\"c\"}]},\"status\":{\"phase\":\"Pending\"}},"
        /* a StatefulSet's pod */
        "{\"metadata\":{\"name\":\"pg-0\",\"namespace\":\"db\","
        "\"ownerReferences\":[{\"kind\":\"StatefulSet\",\"name\":\"pg\",\"controller\":true}]},"
        "\"spec\":{\"nodeName\":\"k8s-node-b\",\"containers\":[{\"name\":\"pg\",\"resources\":"
        "{\"requests\":{\"cpu\":\"4\",\"memory\":\"16Gi\"}}}]},"
        "\"status\":{\"phase\":\"Running\"}},"
        /* a static pod (owned by its Node) stands alone; a finished Job pod */
        "{\"metadata\":{\"name\":\"kube-apiserver-k8s-node-a\",\"namespace\":\"kube-system\","
        "\"ownerReferences\":[{\"kind\":\"Node\",\"name\":\"k8s-node-a\",\"controller\":true}]},"
        "\"spec\":{\"nodeName\":\"k8s-node-a\",\"containers\":[{\"name\":\"a\",\"resources\":"
        "{\"requests\":{\"cpu\":\"250m\"}}}]},\"status\":{\"phase\":\"Running\"}},"
        "{\"metadata\":{\"name\":\"job-x\",\"namespace\":\"lab\","
        "\"ownerReferences\":[{\"kind\":\"Job\",\"name\":\"job\",\"controller\":true}]},"
        "\"spec\":{\"nodeName\":\"k8s-node-a\",\"containers\":[{\"name\":\"j\"}]},"
        "\"status\":{\"phase\":\"Succeeded\"}}]}";

#define MiB ((int64_t)1 << 20)

/* A PodList (and the same pods as Table rows with includeObject=Object, or watch events) gives
 * each row what the scheduler counts and its workload. */
static void test_pods(void **state)
{
	(void)state;
	struct pod_list l = {0};
	struct err e;
	err_clear(&e);
	assert_true(k8s_parse_pod_table(pods_body, strlen(pods_body), &l, NULL, &e));
	assert_int_equal(l.len, 5);
	const struct pod_row *p = l.items;
	assert_true(p[0].has_resources);
	assert_string_equal(p[0].namespace_, "lab");
	assert_string_equal(p[0].node, "k8s-node-a");
	assert_string_equal(p[0].owner_kind, "Deployment");
	assert_string_equal(p[0].owner_name, "web");
	assert_true(fabs(p[0].requests_cpu - 0.3) < 1e-9);
	assert_int_equal(p[0].requests_mem, 2048 * MiB); /* the init container's is larger */
	assert_true(fabs(p[0].limits_cpu - 1.0) < 1e-9);
	assert_int_equal(p[0].limits_mem, 1024 * MiB);
	assert_false(p[0].finished);

	assert_string_equal(p[1].owner_kind, "ReplicaSet");
	assert_string_equal(p[1].owner_name, "plain");
	assert_null(p[1].node);
	assert_true(p[1].requests_cpu == 0 && p[1].requests_mem == 0);

	assert_string_equal(p[2].owner_kind, "StatefulSet");
	assert_string_equal(p[2].owner_name, "pg");
	assert_int_equal(p[2].requests_mem, 16384 * MiB);

	assert_null(p[3].owner_kind);
	assert_null(p[3].owner_name);
	assert_true(p[4].finished);
	pod_list_finish(&l);
}

/* Two containers asking for 8Ei each: the pod's sum stops at INT64_MAX (fuzz_k8s_watch found
 * the signed overflow). */
static void test_pods_huge_requests(void **state)
{
	(void)state;
	static const char body[] =
	        "{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"big\",\"namespace\":"
	        "\"lab\"},\"spec\":{\"containers\":["
	        "{\"resources\":{\"requests\":{\"memory\":\"8Ei\"},\"limits\":{\"memory\":\"8Ei\"}}"
	        "},"
	        "{\"resources\":{\"requests\":{\"memory\":\"8Ei\"},\"limits\":{\"memory\":\"70Mi\"}"
	        "}}"
	        "]},\"status\":{\"phase\":\"Running\"}}]}";
	struct pod_list l = {0};
	struct err e;
	err_clear(&e);
	assert_true(k8s_parse_pod_table(body, strlen(body), &l, NULL, &e));
	assert_int_equal(l.len, 1);
	assert_int_equal(l.items[0].requests_mem, INT64_MAX);
	assert_int_equal(l.items[0].limits_mem, INT64_MAX);
	pod_list_finish(&l);
}

/* A Table row with only metadata (the default includeObject) has no requests: not counted. */
static void test_pods_metadata_only(void **state)
{
	(void)state;
	static const char table[] =
	        "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{},"
	        "\"columnDefinitions\":[{\"name\":\"Name\",\"type\":\"string\"}],"
	        "\"rows\":[{\"cells\":[\"web-1\"],\"object\":{\"kind\":\"PartialObjectMetadata\","
	        "\"metadata\":{\"name\":\"web-1\",\"namespace\":\"lab\"}}}]}";
	struct pod_list l = {0};
	struct err e;
	err_clear(&e);
	assert_true(k8s_parse_pod_table(table, strlen(table), &l, NULL, &e));
	assert_int_equal(l.len, 1);
	assert_false(l.items[0].has_resources);
	struct topology_parts parts = {.pods = l.items, .n_pods = l.len};
	struct topology_input_buf b;
	memset(&b, 0, sizeof(b));
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	topology_input_fill(&b, &parts, &cfg);
	assert_int_equal(b.in.n_pods, 0);
	topology_input_buf_finish(&b);
	pod_list_finish(&l);
}

static void test_url_host(void **state)
{
	(void)state;
	char *h = topology_fetch_url_host("http://10.10.0.12:11434");
	assert_string_equal(h, "10.10.0.12");
	free(h);
	h = topology_fetch_url_host("https://user:pw@ollama.lab/api");
	assert_string_equal(h, "ollama.lab");
	free(h);
	h = topology_fetch_url_host("http://[fd00::12]:11434/");
	assert_string_equal(h, "fd00::12");
	free(h);
	assert_null(topology_fetch_url_host(NULL));
}

/* Allocatable from the node list reaches the input, with addresses and the [topology] map, and
 * the build matches the node to its guest by the agent's address. */
static void test_input_from_nodes(void **state)
{
	(void)state;
	size_t len;
	char *path = support_fixture_path("k8s", "nodelist_lab.json");
	char *body = support_read_file(path, &len);
	free(path);
	struct topology_data *d = xcalloc(1, sizeof(*d));
	d->knodes = xcalloc(1, sizeof(*d->knodes));
	struct err e;
	err_clear(&e);
	assert_true(k8s_parse_nodes(body, len, 0, &d->knodes->nodes, &d->knodes->extras, &e));
	free(body);
	assert_true(d->knodes->nodes.len >= 1);
	const struct node_row *r = &d->knodes->nodes.items[0];
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.topology.ollama_vmid = -1;
	struct topology_parts parts;
	topology_data_parts(d, &parts);
	topology_input_fill(&d->buf, &parts, &cfg);
	const struct topology_input *in = &d->buf.in;
	assert_int_equal(in->n_nodes, d->knodes->nodes.len);
	assert_string_equal(in->nodes[0].name, r->name);
	assert_true(in->nodes[0].alloc_cpu > 0);
	assert_true(in->nodes[0].alloc_cpu * 1000 == (double)d->knodes->extras[0].alloc_cpu_milli);
	assert_true(in->nodes[0].alloc_mem > 0);
	assert_true(in->nodes[0].alloc_mem <= r->mem_total);
	assert_int_equal(in->n_hosts, 0);
	assert_int_equal(in->ollama_vmid, -1);
	topology_data_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_agent_addresses),
	        cmocka_unit_test(test_pods),
	        cmocka_unit_test(test_pods_metadata_only),
	        cmocka_unit_test(test_url_host),
	        cmocka_unit_test(test_input_from_nodes),
	        cmocka_unit_test(test_pods_huge_requests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
