/* test_pve_parse.c: Proxmox answers (real shapes from tests/fixtures/proxmox) into rows. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "model.h"
#include "pve_parse.h"
#include "support.h"
#include "util.h"

/* cmocka 1.1 has no assert_double_equal */
#define assert_near(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

/* An inline body, likewise without a terminator. */
static char *body_of(const char *s, size_t *len)
{
	*len = strlen(s);
	char *exact = xmalloc(*len);
	memcpy(exact, s, *len);
	return exact;
}

static struct node_row *find_node(struct node_list *l, const char *name)
{
	for (size_t i = 0; i < l->len; i++) {
		if (str_eq(l->items[i].name, name)) {
			return &l->items[i];
		}
	}
	fail_msg("node %s not parsed", name);
	return NULL;
}

static struct guest_row *find_guest(struct guest_list *l, int vmid)
{
	for (size_t i = 0; i < l->len; i++) {
		if (l->items[i].vmid == vmid) {
			return &l->items[i];
		}
	}
	fail_msg("guest %d not parsed", vmid);
	return NULL;
}

static void test_cluster_resources_real(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("proxmox", "cluster_resources.json", &len);
	struct node_list nodes = {0};
	struct guest_list guests = {0};
	struct err err = {0};
	assert_true(pve_parse_cluster_resources(body, len, &nodes, &guests, &err));
	/* 4 nodes, 4 qemu guests; the 12 storage rows are skipped */
	assert_int_equal(nodes.len, 4);
	assert_int_equal(guests.len, 4);

	struct node_row *n = find_node(&nodes, "node3");
	assert_int_equal(n->source, NODE_PROXMOX);
	assert_string_equal(n->status, "online");
	assert_near(n->cpu, 0.0054917623564653, 1e-15);
	assert_int_equal(n->mem_used, 1681965056);
	assert_int_equal(n->mem_total, 16668827648);
	assert_int_equal(n->uptime, 872961);
	assert_int_equal(n->cpus, 4);
	assert_null(n->roles);
	assert_int_equal(find_node(&nodes, "node2")->cpus, 12);

	struct guest_row *g = find_guest(&guests, 100);
	assert_string_equal(g->name, "server1");
	assert_string_equal(g->type, "qemu");
	assert_string_equal(g->node, "node2");
	assert_string_equal(g->status, "running");
	assert_near(g->cpu, 0.0249060195469461, 1e-15);
	assert_int_equal(g->mem_used, 842551296);
	assert_int_equal(g->mem_total, 1073741824);
	assert_int_equal(g->uptime, 874350);
	assert_int_equal(g->cpus, 1);
	assert_int_equal(g->template_, 0);
	assert_int_equal(g->n_passthrough, 0);
	assert_non_null(g->passthrough);
	assert_null(g->passthrough[0]);

	g = find_guest(&guests, 101);
	assert_string_equal(g->name, "leap154");
	assert_string_equal(g->status, "stopped");
	assert_int_equal(g->template_, 1);
	assert_int_equal(g->mem_total, 16777216000);
	assert_string_equal(find_guest(&guests, 200)->name, "VM 200");

	node_list_finish(&nodes);
	guest_list_finish(&guests);
	free(body);
}

static void test_cluster_resources_homelab(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("proxmox", "cluster_resources_homelab.json", &len);
	struct node_list nodes = {0};
	struct guest_list guests = {0};
	struct err err = {0};
	assert_true(pve_parse_cluster_resources(body, len, &nodes, &guests, &err));
	/* pool, sdn, network and storage rows are not nodes or guests */
	assert_int_equal(nodes.len, 3);
	assert_int_equal(guests.len, 5);

	struct node_row *n = find_node(&nodes, "pve1");
	assert_string_equal(n->status, "online");
	assert_int_equal(n->cpus, 32);
	assert_int_equal(n->mem_total, 134850215936);

	/* offline: no cpu/mem/uptime/maxcpu in the answer, so all stay unknown */
	n = find_node(&nodes, "pve2");
	assert_string_equal(n->status, "offline");
	assert_true(isnan(n->cpu));
	assert_int_equal(n->mem_used, -1);
	assert_int_equal(n->mem_total, -1);
	assert_int_equal(n->uptime, -1);
	assert_int_equal(n->cpus, -1);

	/* no "node" field: the name comes from the id; no maxcpu: cpus unknown */
	n = find_node(&nodes, "pve3");
	assert_string_equal(n->status, "online");
	assert_near(n->cpu, 0.125, 1e-12);
	assert_int_equal(n->mem_used, 1698938880);
	assert_int_equal(n->uptime, 3600);
	assert_int_equal(n->cpus, -1);

	struct guest_row *g = find_guest(&guests, 105); /* "vmid": "105" */
	assert_string_equal(g->type, "lxc");
	assert_string_equal(g->name, "pihole");
	assert_string_equal(g->node, "pve1");
	assert_string_equal(g->status, "running");
	assert_int_equal(g->cpus, 2);
	assert_int_equal(g->mem_used, 34304000);

	g = find_guest(&guests, 106); /* no vmid at all, only "id": "lxc/106" */
	assert_string_equal(g->type, "lxc");
	assert_string_equal(g->name, "backup-agent");

	g = find_guest(&guests, 102); /* on the offline node */
	assert_string_equal(g->status, "unknown");
	assert_true(isnan(g->cpu));
	assert_int_equal(g->mem_used, -1);
	assert_int_equal(g->mem_total, -1);
	assert_int_equal(g->uptime, -1);
	assert_int_equal(g->cpus, -1);

	assert_int_equal(find_guest(&guests, 9000)->template_, 1);
	assert_int_equal(find_guest(&guests, 100)->template_, 0);

	/* the order is the server's: the caller sorts */
	assert_int_equal(guests.items[0].vmid, 100);
	assert_int_equal(guests.items[1].vmid, 9000);

	node_list_finish(&nodes);
	guest_list_finish(&guests);
	free(body);
}

static void test_cluster_resources_one_list(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("proxmox", "cluster_resources_homelab.json", &len);
	struct node_list nodes = {0};
	struct guest_list guests = {0};
	assert_true(pve_parse_cluster_resources(body, len, &nodes, NULL, NULL));
	assert_int_equal(nodes.len, 3);
	assert_true(pve_parse_cluster_resources(body, len, NULL, &guests, NULL));
	assert_int_equal(guests.len, 5);
	node_list_finish(&nodes);
	guest_list_finish(&guests);
	free(body);
}

/* Fields of the wrong type are treated as absent; rows that cannot be named are dropped. */
static void test_cluster_resources_wrong_field_types(void **state)
{
	(void)state;
	size_t len;
	char *body = body_of(
	        "{\"data\":["
	        "{\"type\":\"node\",\"node\":5},"
	        "{\"type\":\"node\",\"id\":\"node/x\",\"status\":7,\"cpu\":\"abc\",\"mem\":{},"
	        "\"maxmem\":-5,\"maxcpu\":1e300,\"uptime\":\"12\"},"
	        "{\"type\":\"qemu\",\"vmid\":\"abc\",\"name\":\"no-id\"},"
	        "{\"type\":\"qemu\",\"vmid\":-5},"
	        "{\"type\":\"qemu\",\"vmid\":1e300,\"id\":\"qemu/1e3\"},"
	        "{\"type\":\"lxc\",\"vmid\":\"200\",\"name\":[],\"node\":null,\"template\":\"1\"},"
	        "{\"type\":7},{\"id\":\"qemu/300\"}"
	        "]}",
	        &len);
	struct node_list nodes = {0};
	struct guest_list guests = {0};
	struct err err = {0};
	assert_true(pve_parse_cluster_resources(body, len, &nodes, &guests, &err));
	assert_int_equal(nodes.len, 1);
	struct node_row *n = &nodes.items[0];
	assert_string_equal(n->name, "x");
	assert_string_equal(n->status, "unknown");
	assert_true(isnan(n->cpu));
	assert_int_equal(n->mem_used, -1);
	assert_int_equal(n->mem_total, -1);
	assert_int_equal(n->cpus, -1);
	assert_int_equal(n->uptime, 12); /* numeric strings are numbers */

	assert_int_equal(guests.len, 1);
	struct guest_row *g = &guests.items[0];
	assert_int_equal(g->vmid, 200);
	assert_null(g->name);
	assert_null(g->node);
	assert_string_equal(g->status, "unknown");
	assert_int_equal(g->template_, 1);
	node_list_finish(&nodes);
	guest_list_finish(&guests);
	free(body);
}

static void test_node_status_fills_unknowns(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("proxmox", "node_status.json", &len);
	struct node_list nodes = {0};
	struct node_row *r = node_list_push(&nodes);
	struct err err = {0};
	assert_true(pve_parse_node_status(body, len, r, &err));
	assert_int_equal(r->cpus, 8); /* cpuinfo.cpus, not cores */
	assert_int_equal(r->mem_used, 8095399936);
	assert_int_equal(r->mem_total, 65919459328);
	assert_int_equal(r->uptime, 2501631);
	assert_near(r->cpu, 0.00260552371026576, 1e-15);

	/* what cluster/resources already said wins */
	struct node_row *k = node_list_push(&nodes);
	k->cpus = 32;
	k->mem_used = 1;
	k->mem_total = 2;
	k->uptime = 3;
	k->cpu = 0.5;
	assert_true(pve_parse_node_status(body, len, k, &err));
	assert_int_equal(k->cpus, 32);
	assert_int_equal(k->mem_used, 1);
	assert_int_equal(k->mem_total, 2);
	assert_int_equal(k->uptime, 3);
	assert_near(k->cpu, 0.5, 0);
	node_list_finish(&nodes);
	free(body);
}

static void test_node_status_cores_times_sockets(void **state)
{
	(void)state;
	size_t len;
	char *body = body_of("{\"data\":{\"cpuinfo\":{\"cores\":8,\"sockets\":\"2\"},"
	                     "\"memory\":{\"used\":\"100\"},\"loadavg\":[\"0.1\"]}}",
	                     &len);
	struct node_list nodes = {0};
	struct node_row *r = node_list_push(&nodes);
	assert_true(pve_parse_node_status(body, len, r, NULL));
	assert_int_equal(r->cpus, 16);
	assert_int_equal(r->mem_used, 100);
	assert_int_equal(r->mem_total, -1);
	assert_int_equal(r->uptime, -1);
	assert_true(isnan(r->cpu));
	node_list_finish(&nodes);
	free(body);
}

/* Parses `config` into a fresh guest row of the given type. */
static struct guest_row *parse_config(struct guest_list *l, const char *type, const char *config)
{
	size_t len;
	char *body = body_of(config, &len);
	struct guest_row *g = guest_list_push(l);
	g->type = xstrdup(type);
	struct err err = {0};
	assert_true(pve_parse_guest_config(body, len, g, &err));
	free(body);
	assert_non_null(g->passthrough);
	assert_null(g->passthrough[g->n_passthrough]);
	return g;
}

static void test_guest_config_hostpci_values(void **state)
{
	(void)state;
	static const struct {
		const char *value;
		const char *want[3];
	} cases[] = {
	        {"0000:c5:00.0,pcie=1", {"0000:c5:00.0"}},
	        {"c5:00.1", {"0000:c5:00.1"}},
	        {"host=0000:01:00.0;0000:01:00.1,x-vga=1", {"0000:01:00.0", "0000:01:00.1"}},
	        {"01:00,pcie=1", {"0000:01:00"}},
	        {"0000:01:00,pcie=1,x-vga=1", {"0000:01:00"}},
	        {"mapping=igpu,pcie=1", {"mapping:igpu"}},
	        {"mapping=gpu,pcie=1,x-vga=1,rombar=0,mdev=nvidia-123,romfile=gpu.rom",
	         {"mapping:gpu"}},
	        {"pcie=1,host=0A:00.0", {"0000:0a:00.0"}},
	        {"C5:00.0;zz:00.0;c5:00.1", {"0000:c5:00.0", "0000:c5:00.1"}},
	        {"nonsense,pcie=1", {NULL}},
	        {"host=,pcie=1", {NULL}},
	        {"mapping=,pcie=1", {NULL}},
	        {"", {NULL}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct guest_list l = {0};
		char *config = xasprintf("{\"data\":{\"hostpci0\":\"%s\"}}", cases[i].value);
		struct guest_row *g = parse_config(&l, "qemu", config);
		size_t want_n = 0;
		while (want_n < 3 && cases[i].want[want_n]) {
			want_n++;
		}
		if (g->n_passthrough != want_n) {
			fail_msg("%s: %zu devices, want %zu", cases[i].value, g->n_passthrough,
			         want_n);
		}
		for (size_t k = 0; k < want_n; k++) {
			assert_string_equal(g->passthrough[k], cases[i].want[k]);
		}
		free(config);
		guest_list_finish(&l);
	}
}

static void test_guest_config_fixture_order(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("proxmox", "qemu_config_gpu.json", &len);
	struct guest_list l = {0};
	struct guest_row *g = guest_list_push(&l);
	g->type = xstrdup("qemu");
	struct err err = {0};
	assert_true(pve_parse_guest_config(body, len, g, &err));
	/* hostpci0, 1, 2, then 10 although the object lists hostpci10 before hostpci2 */
	assert_int_equal(g->n_passthrough, 5);
	assert_string_equal(g->passthrough[0], "0000:c5:00.0");
	assert_string_equal(g->passthrough[1], "0000:c5:00.1");
	assert_string_equal(g->passthrough[2], "mapping:igpu");
	assert_string_equal(g->passthrough[3], "0000:01:00.0");
	assert_string_equal(g->passthrough[4], "0000:01:00.1");
	assert_null(g->passthrough[5]);
	assert_int_equal(g->cpus, 8); /* 4 cores x 2 sockets */
	guest_list_finish(&l);
	free(body);
}

static void test_guest_config_numeric_order(void **state)
{
	(void)state;
	struct guest_list l = {0};
	struct guest_row *g = parse_config(
	        &l, "qemu",
	        "{\"data\":{\"hostpci10\":\"0a:00.0\",\"hostpci11\":\"0b:00.0\","
	        "\"hostpci2\":\"02:00.0\",\"hostpci\":\"03:00.0\",\"hostpcix\":\"04:00.0\","
	        "\"hostpci1\":5,\"xhostpci0\":\"05:00.0\",\"hostpci99999999999\":\"06:00.0\"}}");
	assert_int_equal(g->n_passthrough, 3);
	assert_string_equal(g->passthrough[0], "0000:02:00.0");
	assert_string_equal(g->passthrough[1], "0000:0a:00.0");
	assert_string_equal(g->passthrough[2], "0000:0b:00.0");
	guest_list_finish(&l);
}

static void test_guest_config_cpus(void **state)
{
	(void)state;
	struct guest_list l = {0};
	size_t len;

	char *body =
	        support_fixture_exact("proxmox", "qemu_config.json", &len); /* cores 2, sockets 1 */
	struct guest_row *g = guest_list_push(&l);
	g->type = xstrdup("qemu");
	assert_true(pve_parse_guest_config(body, len, g, NULL));
	assert_int_equal(g->cpus, 2);
	assert_int_equal(g->n_passthrough, 0);
	free(body);

	/* a real single-device config; a second parse of another config appends */
	body = support_fixture_exact("proxmox", "qemu_config_hostpci.json", &len);
	assert_true(pve_parse_guest_config(body, len, g, NULL));
	assert_int_equal(g->n_passthrough, 1);
	assert_string_equal(g->passthrough[0], "0000:01:00.0");
	assert_null(g->passthrough[1]);
	free(body);

	/* cpus already known from cluster/resources: kept */
	g = guest_list_push(&l);
	g->type = xstrdup("qemu");
	g->cpus = 6;
	body = support_fixture_exact("proxmox", "qemu_config.json", &len);
	assert_true(pve_parse_guest_config(body, len, g, NULL));
	assert_int_equal(g->cpus, 6);
	free(body);

	body = support_fixture_exact("proxmox", "lxc_config.json", &len);
	g = guest_list_push(&l);
	g->type = xstrdup("lxc");
	assert_true(pve_parse_guest_config(body, len, g, NULL));
	assert_int_equal(g->cpus, 2);
	assert_int_equal(g->n_passthrough, 0);
	free(body);

	/* qemu defaults: cores=1, sockets=1 */
	assert_int_equal(parse_config(&l, "qemu", "{\"data\":{\"memory\":\"2048\"}}")->cpus, 1);
	assert_int_equal(parse_config(&l, "qemu", "{\"data\":{\"sockets\":2}}")->cpus, 2);
	assert_int_equal(parse_config(&l, "qemu", "{\"data\":{\"cores\":\"3\"}}")->cpus, 3);
	/* nothing to go by: stays unknown; an lxc without cores may use every host CPU */
	assert_int_equal(parse_config(&l, "qemu", "{\"data\":{\"name\":\"x\"}}")->cpus, -1);
	assert_int_equal(parse_config(&l, "lxc", "{\"data\":{\"memory\":512}}")->cpus, -1);
	/* out-of-range cores/sockets count as absent */
	assert_int_equal(parse_config(&l, "qemu", "{\"data\":{\"cores\":0,\"sockets\":-1}}")->cpus,
	                 -1);
	assert_int_equal(parse_config(&l, "qemu", "{\"data\":{\"memory\":1,\"cores\":1e9}}")->cpus,
	                 1);
	guest_list_finish(&l);
}

static void test_pci_normalize(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *want; /* NULL: rejected */
	} cases[] = {
	        {"0000:c5:00.0", "0000:c5:00.0"},
	        {"c5:00.0", "0000:c5:00.0"},
	        {"01:00", "0000:01:00"},
	        {"0000:01:00", "0000:01:00"},
	        {"0000:C5:1F.7", "0000:c5:1f.7"},
	        {"C5:00.1", "0000:c5:00.1"},
	        {"10000:e0:00.0", "10000:e0:00.0"},
	        {"", NULL},
	        {"c5", NULL},
	        {"c5:00.", NULL},
	        {"c5:00.8", NULL},
	        {"c5:20.0", NULL},
	        {"c5:0.0", NULL},
	        {"c:00.0", NULL},
	        {"c5:000.0", NULL},
	        {"000:c5:00.0", NULL},
	        {"0000:c5:00.0.1", NULL},
	        {"0000:0000:c5:00.0", NULL},
	        {"000000000:c5:00.0", NULL},
	        {"c5:00.0 ", NULL},
	        {" c5:00.0", NULL},
	        {"g5:00.0", NULL},
	        {"c5:00.0,pcie=1", NULL},
	        {"c5::00.0", NULL},
	        {":c5:00.0", NULL},
	        {"mapping=igpu", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[32];
		bool ok = pci_normalize(cases[i].in, out, sizeof(out));
		if (ok != (cases[i].want != NULL)) {
			fail_msg("pci_normalize(\"%s\") returned %d", cases[i].in, ok);
		}
		if (ok) {
			assert_string_equal(out, cases[i].want);
		}
	}
	char small[12];
	assert_false(pci_normalize("c5:00.0", small, sizeof(small)));
	char exact[13];
	assert_true(pci_normalize("c5:00.0", exact, sizeof(exact)));
	assert_string_equal(exact, "0000:c5:00.0");
	assert_false(pci_normalize(NULL, exact, sizeof(exact)));
}

static void expect_error_message(const char *body, const char *want)
{
	char *got = pve_error_message(body, body ? strlen(body) : 0);
	if (want) {
		assert_non_null(got);
		assert_string_equal(got, want);
	} else {
		assert_null(got);
	}
	free(got);
}

static void test_error_message(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("proxmox", "error_500_with_message.json", &len);
	char *msg = pve_error_message(body, len);
	assert_string_equal(msg, "VM 100 not running"); /* trailing "\n" trimmed */
	free(msg);
	free(body);

	body = support_fixture_exact("proxmox", "error_400_param_verification.json", &len);
	msg = pve_error_message(body, len);
	assert_string_equal(msg, "vmid: VM 200 already exists");
	free(msg);
	free(body);

	expect_error_message("{\"data\":null,\"errors\":{\"vmid\":\"invalid format\\n\","
	                     "\"node\":\"no such node\",\"x\":5}}",
	                     "vmid: invalid format; node: no such node");
	expect_error_message("{\"data\":null,\"message\":\"Parameter verification failed.\\n\","
	                     "\"errors\":{\"vmid\":\"VM 200 already exists\"}}",
	                     "Parameter verification failed. (vmid: VM 200 already exists)");
	expect_error_message("{\"data\":null}", NULL);
	expect_error_message("{\"data\":null,\"message\":5,\"errors\":[\"x\"]}", NULL);
	expect_error_message("{\"message\":\"  \\n\"}", NULL);
	expect_error_message("[\"message\"]", NULL);
	expect_error_message("", NULL);
	expect_error_message(NULL, NULL);
	expect_error_message("<html><body>502 Bad Gateway</body></html>", NULL);
	expect_error_message("{\"message\":\"unterminated", NULL);
}

/* Bodies no parser may accept: each returns ERR_MALFORMED with a message, leaves the caller's
 * data as it was and leaks nothing (the suite also runs under ASan). */
static void test_malformed(void **state)
{
	(void)state;
	static const char *always_bad[] = {
	        "",
	        "{",
	        "null",
	        "[]",
	        "\"data\"",
	        "{\"data\":null}",
	        "{\"errors\":{\"vmid\":\"bad\"},\"data\":null}",
	        "{\"data\":[{\"type\":\"node\",\"node\":\"a\"}",
	        "{\"data\":{\"a\":1}} trailing",
	        "{\"dat\":[]}",
	        "HTTP/1.1 401 authentication failure",
	};
	for (size_t i = 0; i < sizeof(always_bad) / sizeof(always_bad[0]); i++) {
		size_t len;
		char *body = body_of(always_bad[i], &len);
		struct node_list nodes = {0};
		struct guest_list guests = {0};
		struct err err = {0};
		assert_false(pve_parse_cluster_resources(body, len, &nodes, &guests, &err));
		assert_int_equal(err.code, ERR_MALFORMED);
		assert_true(err.msg[0] != '\0');
		assert_int_equal(nodes.len, 0);
		assert_int_equal(guests.len, 0);

		struct node_row *n = node_list_push(&nodes);
		err = (struct err){0};
		assert_false(pve_parse_node_status(body, len, n, &err));
		assert_int_equal(err.code, ERR_MALFORMED);
		assert_int_equal(n->cpus, -1);

		struct guest_row *g = guest_list_push(&guests);
		err = (struct err){0};
		assert_false(pve_parse_guest_config(body, len, g, &err));
		assert_int_equal(err.code, ERR_MALFORMED);
		assert_int_equal(g->n_passthrough, 0);
		assert_int_equal(g->cpus, -1);

		/* err may be NULL */
		assert_false(pve_parse_cluster_resources(body, len, NULL, NULL, NULL));
		node_list_finish(&nodes);
		guest_list_finish(&guests);
		free(body);
	}

	/* right envelope, wrong type of data */
	size_t len;
	char *body = body_of("{\"data\":{\"node\":\"pve1\"}}", &len);
	struct node_list nodes = {0};
	struct guest_list guests = {0};
	struct err err = {0};
	assert_false(pve_parse_cluster_resources(body, len, &nodes, &guests, &err));
	assert_int_equal(err.code, ERR_MALFORMED);
	free(body);

	/* one non-object row spoils the list, and nothing is appended */
	body = body_of("{\"data\":[{\"type\":\"node\",\"node\":\"a\"},42]}", &len);
	err = (struct err){0};
	assert_false(pve_parse_cluster_resources(body, len, &nodes, &guests, &err));
	assert_int_equal(err.code, ERR_MALFORMED);
	assert_int_equal(nodes.len, 0);
	free(body);

	body = body_of("{\"data\":[1,2]}", &len);
	struct node_row *n = node_list_push(&nodes);
	err = (struct err){0};
	assert_false(pve_parse_node_status(body, len, n, &err));
	assert_int_equal(err.code, ERR_MALFORMED);
	struct guest_row *g = guest_list_push(&guests);
	err = (struct err){0};
	assert_false(pve_parse_guest_config(body, len, g, &err));
	assert_int_equal(err.code, ERR_MALFORMED);
	free(body);

	/* an empty list is a valid answer */
	body = body_of("{\"data\":[]}", &len);
	node_list_finish(&nodes);
	assert_true(pve_parse_cluster_resources(body, len, &nodes, &guests, &err));
	assert_int_equal(nodes.len, 0);
	free(body);

	/* a real answer cut short */
	char *full = support_fixture_exact("proxmox", "cluster_resources.json", &len);
	err = (struct err){0};
	assert_false(pve_parse_cluster_resources(full, len / 2, &nodes, NULL, &err));
	assert_int_equal(err.code, ERR_MALFORMED);
	assert_int_equal(nodes.len, 0);
	free(full);

	node_list_finish(&nodes);
	guest_list_finish(&guests);
}

/* Every prefix of every fixture, fed to every parser: no crash, no leak, no read past len. */
static void test_truncated_fixtures(void **state)
{
	(void)state;
	static const char *names[] = {"cluster_resources_homelab.json", "node_status.json",
	                              "qemu_config_gpu.json", "error_400_param_verification.json",
	                              "error_500_with_message.json"};
	for (size_t f = 0; f < sizeof(names) / sizeof(names[0]); f++) {
		size_t len;
		char *full = support_fixture_exact("proxmox", names[f], &len);
		for (size_t cut = 0; cut <= len; cut += 7) {
			char *body = xmalloc(cut);
			memcpy(body, full, cut);
			struct node_list nodes = {0};
			struct guest_list guests = {0};
			pve_parse_cluster_resources(body, cut, &nodes, &guests, NULL);
			struct node_row *n = node_list_push(&nodes);
			pve_parse_node_status(body, cut, n, NULL);
			struct guest_row *g = guest_list_push(&guests);
			pve_parse_guest_config(body, cut, g, NULL);
			free(pve_error_message(body, cut));
			node_list_finish(&nodes);
			guest_list_finish(&guests);
			free(body);
		}
		free(full);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cluster_resources_real),
	        cmocka_unit_test(test_cluster_resources_homelab),
	        cmocka_unit_test(test_cluster_resources_one_list),
	        cmocka_unit_test(test_cluster_resources_wrong_field_types),
	        cmocka_unit_test(test_node_status_fills_unknowns),
	        cmocka_unit_test(test_node_status_cores_times_sockets),
	        cmocka_unit_test(test_guest_config_hostpci_values),
	        cmocka_unit_test(test_guest_config_fixture_order),
	        cmocka_unit_test(test_guest_config_numeric_order),
	        cmocka_unit_test(test_guest_config_cpus),
	        cmocka_unit_test(test_pci_normalize),
	        cmocka_unit_test(test_error_message),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_truncated_fixtures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
