/* cli_status.c: `labdeck nodes`, `guests` and `pods`. Each starts its backends' fetches at once
 * on the shared loop, waits for all of them, then prints a table or one JSON object. A backend
 * that fails adds to "errors" and never hides the others' data. */
#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "format.h"
#include "http.h"
#include "k8s.h"
#include "pve.h"
#include "table.h"
#include "text.h"
#include "util.h"

/* --- which backends to ask --- */

static bool proxmox_usable(struct cli *c)
{
	const struct config_proxmox *p = &c->cfg.proxmox;
	if (!p->configured) {
		return false;
	}
	if (!p->token_secret) {
		struct err e;
		err_set(&e, ERR_CONFIG, 0,
		        "proxmox: token_secret is not set: add token_secret_env = VARIABLE or "
		        "token_secret_file = PATH to [proxmox] in %s",
		        c->cfg.path ? c->cfg.path : "the config");
		cli_add_error(c, "proxmox", &e);
		return false;
	}
	return true;
}

static bool kubernetes_usable(const struct cli *c)
{
	return k8s_available(&c->cfg.kubernetes);
}

static int nothing_configured(struct cli *c)
{
	struct err e;
	err_set(&e, ERR_CONFIG, 0,
	        "no backend is configured: add a [proxmox] section (url, token_id, "
	        "token_secret_env) "
	        "or a [kubernetes] section to %s, or set KUBECONFIG; see docs/configuration.md",
	        c->cfg.path ? c->cfg.path : "~/.config/labdeck/config.ini");
	cli_add_error(c, "config", &e);
	return 2;
}

/* --- waiting for the loop --- */

struct wait {
	int pending;
	struct pve_status *pve;
	struct k8s_nodes *knodes;
	struct k8s_pods *kpods;
};

static void on_pve(void *ud, struct pve_status *st)
{
	struct wait *w = ud;
	w->pve = st;
	w->pending--;
}

static void on_knodes(void *ud, struct k8s_nodes *r)
{
	struct wait *w = ud;
	w->knodes = r;
	w->pending--;
}

static void on_kpods(void *ud, struct k8s_pods *r)
{
	struct wait *w = ud;
	w->kpods = r;
	w->pending--;
}

static void run_until_done(struct cli *c, struct wait *w)
{
	while (w->pending > 0) {
		event_base_loop(c->base, EVLOOP_ONCE);
	}
}

static void collect(struct cli *c, const char *backend, const struct err_list *errors)
{
	for (size_t i = 0; i < errors->len; i++) {
		cli_add_error(c, backend, &errors->items[i]);
	}
}

/* --- JSON helpers --- */

static json_t *jnum_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static json_t *jint_or_null(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *jstr_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *errors_json(const struct cli *c)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < c->n_errors; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "backend", json_string(c->errors[i].backend));
		json_object_set_new(o, "message", json_string(c->errors[i].err.msg));
		json_object_set_new(o, "code", json_string(err_code_name(c->errors[i].err.code)));
		if (c->errors[i].err.http_status) {
			json_object_set_new(o, "http_status",
			                    json_integer(c->errors[i].err.http_status));
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

static void print_json(json_t *root)
{
	/* On a terminal, escape everything non-ASCII so no byte can act as a control sequence. */
	size_t flags = JSON_INDENT(isatty(STDOUT_FILENO) ? 2 : 0) | JSON_COMPACT;
	if (isatty(STDOUT_FILENO)) {
		flags |= JSON_ENSURE_ASCII;
	}
	{
		char *json = json_dumps(root, flags); /* C1 and bidi escaped (text_json_fputs) */
		text_json_fputs(json, stdout);
		free(json);
	}
	fputc('\n', stdout);
	json_decref(root);
}

static int finish(struct cli *c)
{
	cli_report_errors(c);
	fflush(stdout);
	return c->exit_status;
}

/* --- nodes --- */

static int cmp_node(const void *a, const void *b)
{
	const struct node_row *x = a, *y = b;
	if (x->source != y->source) {
		return (int)x->source - (int)y->source;
	}
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static void node_status_text(const struct node_row *n, char *out, size_t size)
{
	snprintf(out, size, "%s%s%s%s", n->status ? n->status : "-",
	         n->unschedulable ? ",SchedulingDisabled" : "", n->pressures ? "," : "",
	         n->pressures ? n->pressures : "");
}

int cli_nodes(struct cli *c)
{
	struct wait w = {0};
	struct pve *pve = NULL;
	struct k8s *k8s = NULL;
	bool use_pve = proxmox_usable(c), use_k8s = kubernetes_usable(c);
	if (!use_pve && !use_k8s && c->n_errors == 0) {
		nothing_configured(c);
		return finish(c);
	}
	if (use_pve) {
		pve = pve_create(c->http, &c->cfg.proxmox);
		w.pending++;
		pve_fetch_status(pve, PVE_WANT_NODES, on_pve, &w);
	}
	if (use_k8s) {
		k8s = k8s_create(c->base, c->http, &c->cfg.kubernetes);
		w.pending++;
		k8s_fetch_nodes(k8s, on_knodes, &w);
	}
	run_until_done(c, &w);

	struct node_list all = {0};
	if (w.pve) {
		collect(c, "proxmox", &w.pve->errors);
		for (size_t i = 0; i < w.pve->nodes.len; i++) {
			*node_list_push(&all) = w.pve->nodes.items[i];
		}
		free(w.pve->nodes.items);
		w.pve->nodes.items = NULL;
		w.pve->nodes.len = 0;
	}
	if (w.knodes) {
		collect(c, "kubernetes", &w.knodes->errors);
		for (size_t i = 0; i < w.knodes->nodes.len; i++) {
			*node_list_push(&all) = w.knodes->nodes.items[i];
		}
		free(w.knodes->nodes.items);
		w.knodes->nodes.items = NULL;
		w.knodes->nodes.len = 0;
	}
	if (all.len) {
		qsort(all.items, all.len, sizeof(*all.items), cmp_node);
	}

	if (c->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < all.len; i++) {
			const struct node_row *n = &all.items[i];
			json_t *o = json_object();
			json_object_set_new(o, "name", jstr_or_null(n->name));
			json_object_set_new(
			        o, "source",
			        json_string(n->source == NODE_PROXMOX ? "proxmox" : "kubernetes"));
			json_object_set_new(o, "status", jstr_or_null(n->status));
			json_object_set_new(o, "cpu", jnum_or_null(n->cpu));
			json_object_set_new(o, "mem_used", jint_or_null(n->mem_used));
			json_object_set_new(o, "mem_total", jint_or_null(n->mem_total));
			json_object_set_new(o, "uptime", jint_or_null(n->uptime));
			json_object_set_new(o, "cpus",
			                    n->cpus < 0 ? json_null() : json_integer(n->cpus));
			if (n->source == NODE_KUBERNETES) {
				json_object_set_new(o, "roles", jstr_or_null(n->roles));
				json_object_set_new(o, "pressures", jstr_or_null(n->pressures));
				json_object_set_new(o, "internal_ip", jstr_or_null(n->internal_ip));
				json_object_set_new(o, "unschedulable",
				                    json_boolean(n->unschedulable));
			}
			json_array_append_new(arr, o);
		}
		json_t *root = json_object();
		json_object_set_new(root, "nodes", arr);
		json_object_set_new(root, "errors", errors_json(c));
		print_json(root);
	} else if (all.len) {
		const char *hdr[] = {"NAME", "SOURCE",  "STATUS",  ">CPUS",
		                     ">CPU", ">MEMORY", ">UPTIME", "ROLES"};
		struct table *t = table_create(8, hdr);
		for (size_t i = 0; i < all.len; i++) {
			const struct node_row *n = &all.items[i];
			char status[160], cpus[16], cpu[16], mem[48], up[32];
			node_status_text(n, status, sizeof(status));
			snprintf(cpus, sizeof(cpus), "%d", n->cpus);
			format_percent(n->cpu, cpu, sizeof(cpu));
			format_usage(n->mem_used, n->mem_total, mem, sizeof(mem));
			format_duration(n->uptime, up, sizeof(up));
			const char *cells[] = {
			        n->name, n->source == NODE_PROXMOX ? "proxmox" : "kubernetes",
			        status,  n->cpus < 0 ? NULL : cpus,
			        cpu,     mem,
			        up,      n->roles};
			table_add_row(t, cells);
		}
		table_print(t, stdout);
		table_destroy(t);
	}
	node_list_finish(&all);
	if (w.pve) {
		pve_status_finish(w.pve);
		free(w.pve);
	}
	if (w.knodes) {
		k8s_nodes_finish(w.knodes);
		free(w.knodes);
	}
	pve_destroy(pve);
	k8s_destroy(k8s);
	return finish(c);
}

/* --- guests --- */

static int cmp_guest(const void *a, const void *b)
{
	const struct guest_row *x = a, *y = b;
	return x->vmid - y->vmid;
}

int cli_guests(struct cli *c)
{
	if (!proxmox_usable(c)) {
		if (c->n_errors == 0) {
			struct err e;
			err_set(&e, ERR_CONFIG, 0,
			        "proxmox is not configured: add [proxmox] with url, token_id and "
			        "token_secret_env to %s (see docs/configuration.md)",
			        c->cfg.path ? c->cfg.path : "~/.config/labdeck/config.ini");
			cli_add_error(c, "proxmox", &e);
		}
		if (c->json) {
			json_t *root = json_object();
			json_object_set_new(root, "guests", json_array());
			json_object_set_new(root, "errors", errors_json(c));
			print_json(root);
		}
		return finish(c);
	}
	struct wait w = {0};
	struct pve *pve = pve_create(c->http, &c->cfg.proxmox);
	w.pending = 1;
	pve_fetch_status(pve, PVE_WANT_GUESTS, on_pve, &w);
	run_until_done(c, &w);
	collect(c, "proxmox", &w.pve->errors);
	struct guest_list *gl = &w.pve->guests;
	if (gl->len) {
		qsort(gl->items, gl->len, sizeof(*gl->items), cmp_guest);
	}

	if (c->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < gl->len; i++) {
			const struct guest_row *g = &gl->items[i];
			if (c->node && !str_eq(g->node, c->node)) {
				continue;
			}
			json_t *o = json_object();
			json_object_set_new(o, "vmid", json_integer(g->vmid));
			json_object_set_new(o, "name", jstr_or_null(g->name));
			json_object_set_new(o, "type", jstr_or_null(g->type));
			json_object_set_new(o, "node", jstr_or_null(g->node));
			json_object_set_new(o, "status", jstr_or_null(g->status));
			json_object_set_new(o, "cpu", jnum_or_null(g->cpu));
			json_object_set_new(o, "mem_used", jint_or_null(g->mem_used));
			json_object_set_new(o, "mem_total", jint_or_null(g->mem_total));
			json_object_set_new(o, "uptime", jint_or_null(g->uptime));
			json_object_set_new(o, "cpus",
			                    g->cpus < 0 ? json_null() : json_integer(g->cpus));
			json_object_set_new(o, "template", json_boolean(g->template_));
			json_t *pt = json_array();
			for (size_t j = 0; j < g->n_passthrough; j++) {
				json_array_append_new(pt, json_string(g->passthrough[j]));
			}
			json_object_set_new(o, "passthrough", pt);
			json_array_append_new(arr, o);
		}
		json_t *root = json_object();
		json_object_set_new(root, "guests", arr);
		json_object_set_new(root, "errors", errors_json(c));
		print_json(root);
	} else if (gl->len) {
		const char *hdr[] = {">VMID", "NAME", "TYPE",    "NODE",    "STATUS",
		                     ">CPUS", ">CPU", ">MEMORY", ">UPTIME", "PASSTHROUGH"};
		struct table *t = table_create(10, hdr);
		for (size_t i = 0; i < gl->len; i++) {
			const struct guest_row *g = &gl->items[i];
			if (c->node && !str_eq(g->node, c->node)) {
				continue;
			}
			char vmid[16], cpus[16], cpu[16], mem[48], up[32];
			snprintf(vmid, sizeof(vmid), "%d", g->vmid);
			snprintf(cpus, sizeof(cpus), "%d", g->cpus);
			format_percent(g->cpu, cpu, sizeof(cpu));
			format_usage(g->mem_used, g->mem_total, mem, sizeof(mem));
			format_duration(str_eq(g->status, "running") ? g->uptime : -1, up,
			                sizeof(up));
			struct buf pt;
			buf_init(&pt);
			for (size_t j = 0; j < g->n_passthrough; j++) {
				buf_appendf(&pt, "%s%s", j ? "," : "", g->passthrough[j]);
			}
			const char *cells[] = {vmid,      g->name,
			                       g->type,   g->node,
			                       g->status, g->cpus < 0 ? NULL : cpus,
			                       cpu,       mem,
			                       up,        pt.len ? pt.data : NULL};
			table_add_row(t, cells);
			buf_finish(&pt);
		}
		table_print(t, stdout);
		table_destroy(t);
	}
	pve_status_finish(w.pve);
	free(w.pve);
	pve_destroy(pve);
	return finish(c);
}

/* --- pods --- */

int cli_pods(struct cli *c)
{
	if (!kubernetes_usable(c)) {
		struct err e;
		err_set(&e, ERR_CONFIG, 0,
		        "kubernetes is not configured: no [kubernetes] section, $KUBECONFIG is "
		        "unset "
		        "and ~/.kube/config does not exist");
		cli_add_error(c, "kubernetes", &e);
		if (c->json) {
			json_t *root = json_object();
			json_object_set_new(root, "pods", json_array());
			json_object_set_new(root, "errors", errors_json(c));
			print_json(root);
		}
		return finish(c);
	}
	struct wait w = {0};
	struct k8s *k8s = k8s_create(c->base, c->http, &c->cfg.kubernetes);
	w.pending = 1;
	k8s_fetch_pods(k8s, c->ns, on_kpods, &w);
	run_until_done(c, &w);
	collect(c, "kubernetes", &w.kpods->errors);
	const struct pod_list *pl = &w.kpods->pods;
	double now = now_wall();

	if (c->json) {
		/* Streamed row by row: 10,000 pods must not become a 10,000-node JSON tree. */
		bool tty = isatty(STDOUT_FILENO);
		size_t flags = JSON_COMPACT | (tty ? JSON_ENSURE_ASCII : 0);
		fputs("{\"pods\":[", stdout);
		for (size_t i = 0; i < pl->len; i++) {
			const struct pod_row *p = &pl->items[i];
			json_t *o = json_object();
			json_object_set_new(o, "namespace", jstr_or_null(p->namespace_));
			json_object_set_new(o, "name", jstr_or_null(p->name));
			json_object_set_new(o, "phase", jstr_or_null(p->phase));
			json_object_set_new(o, "ready", jstr_or_null(p->ready));
			json_object_set_new(o, "restarts", jint_or_null(p->restarts));
			json_object_set_new(o, "node", jstr_or_null(p->node));
			json_object_set_new(o, "age",
			                    isnan(p->created)
			                            ? json_null()
			                            : json_integer((json_int_t)(now - p->created)));
			json_object_set_new(o, "ip", jstr_or_null(p->ip));
			if (i) {
				fputc(',', stdout);
			}
			{
				char *json = json_dumps(
				        o, flags); /* C1 and bidi escaped (text_json_fputs) */
				text_json_fputs(json, stdout);
				free(json);
			}
			json_decref(o);
		}
		fputs("],\"errors\":", stdout);
		json_t *errs = errors_json(c);
		{
			char *json =
			        json_dumps(errs, flags); /* C1 and bidi escaped (text_json_fputs) */
			text_json_fputs(json, stdout);
			free(json);
		}
		json_decref(errs);
		fputs("}\n", stdout);
	} else if (pl->len) {
		const char *hdr[] = {"NAMESPACE", "NAME", "READY", "STATUS",
		                     ">RESTARTS", ">AGE", "IP",    "NODE"};
		struct table *t = table_create(8, hdr);
		for (size_t i = 0; i < pl->len; i++) {
			const struct pod_row *p = &pl->items[i];
			char restarts[24], age[32];
			snprintf(restarts, sizeof(restarts), "%lld", (long long)p->restarts);
			format_duration(isnan(p->created) ? -1 : (int64_t)(now - p->created), age,
			                sizeof(age));
			const char *cells[] = {p->namespace_,
			                       p->name,
			                       p->ready,
			                       p->phase,
			                       p->restarts < 0 ? NULL : restarts,
			                       age,
			                       p->ip,
			                       p->node};
			table_add_row(t, cells);
		}
		table_print(t, stdout);
		table_destroy(t);
	}
	k8s_pods_finish(w.kpods);
	free(w.kpods);
	k8s_destroy(k8s);
	return finish(c);
}
