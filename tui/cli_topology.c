/* cli_topology.c: `labdeck topology [--json]`: every source asked at once (topology_fetch), the
 * tree built (topology_build) and printed as an indented text tree or SPEC.md §3's JSON. A
 * source that fails goes into "errors" (and stderr) and the rest is still shown. */
#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "format.h"
#include "http.h"
#include "k8s.h"
#include "llm.h"
#include "pve.h"
#include "text.h"
#include "topology.h"
#include "topology_fetch.h"
#include "util.h"

struct wait {
	bool done;
	struct topology_data *d;
};

static void on_data(void *ud, struct topology_data *d)
{
	struct wait *w = ud;
	w->d = d;
	w->done = true;
}

/* A name from the network, made safe for the terminal (the caller frees it). */
static char *safe(const char *s)
{
	return text_sanitize(s ? s : "-", false);
}

static void cores(double v, char *out, size_t size)
{
	if (isnan(v)) {
		snprintf(out, size, "-");
	} else {
		snprintf(out, size, "%.1f", v);
	}
}

static void bytes(int64_t v, char *out, size_t size)
{
	if (v < 0) {
		snprintf(out, size, "-");
	} else {
		format_bytes(v, out, size);
	}
}

static void print_node(const struct topo_node *n, const char *indent)
{
	char *name = safe(n->in->name);
	char rc[16], ac[16], uc[16], lc[16], rm[32], am[32], um[32], lm[32];
	cores(n->requests_cpu, rc, sizeof(rc));
	cores(n->in->alloc_cpu, ac, sizeof(ac));
	cores(n->in->usage_cpu, uc, sizeof(uc));
	cores(n->limits_cpu, lc, sizeof(lc));
	bytes(n->requests_mem, rm, sizeof(rm));
	bytes(n->in->alloc_mem, am, sizeof(am));
	bytes(n->in->usage_mem, um, sizeof(um));
	bytes(n->limits_mem, lm, sizeof(lm));
	printf("%snode %s (matched by %s)\n", indent, name, topology_match_name(n->match));
	printf("%s  cpu requests %s / %s allocatable, limits %s, used %s\n", indent, rc, ac, lc,
	       uc);
	printf("%s  memory requests %s / %s allocatable, limits %s, used %s\n", indent, rm, am, lm,
	       um);
	free(name);
	for (size_t i = 0; i < n->n_workloads; i++) {
		const struct topo_workload *w = &n->workloads[i];
		char *ns = safe(w->namespace_), *wn = safe(w->name), *kind = safe(w->kind);
		char c[16], m[32];
		cores(w->requests_cpu, c, sizeof(c));
		bytes(w->requests_mem, m, sizeof(m));
		printf("%s  %s/%s %s, %d pod%s, requests cpu %s memory %s\n", indent, ns, wn, kind,
		       w->pods, w->pods == 1 ? "" : "s", c, m);
		free(ns);
		free(wn);
		free(kind);
	}
}

static void print_models(const struct topology_input *in, const char *indent)
{
	for (size_t i = 0; i < in->n_loaded; i++) {
		const struct topo_model_in *m = &in->loaded[i];
		char *name = safe(m->name);
		char sz[32], vr[32];
		bytes(m->size, sz, sizeof(sz));
		bytes(m->size_vram, vr, sizeof(vr));
		printf("%smodel %s loaded, %s (%s in VRAM)\n", indent, name, sz, vr);
		free(name);
	}
}

static void print_text(const struct topology *t)
{
	for (size_t i = 0; i < t->n_hosts; i++) {
		const struct topo_host *h = &t->hosts[i];
		char *name = safe(h->in->name);
		char used[16], mt[32], mu[32], ma[32];
		cores(h->in->cpus > 0 && !isnan(h->in->cpu_used) ? h->in->cpu_used * h->in->cpus
		                                                 : NAN,
		      used, sizeof(used));
		bytes(h->in->mem_total, mt, sizeof(mt));
		bytes(h->in->mem_used, mu, sizeof(mu));
		bytes(h->alloc_mem, ma, sizeof(ma));
		printf("host %s\n", name);
		printf("  cpu %d vCPUs given to running guests / %d logical CPUs, used %s\n",
		       h->alloc_cpus, h->in->cpus, used);
		printf("  memory %s given to running guests / %s, used %s\n", ma, mt, mu);
		free(name);
		for (size_t g = 0; g < h->n_guests; g++) {
			const struct topo_guest *tg = &h->guests[g];
			const struct topo_guest_in *gi = tg->in;
			char *gn = safe(gi->name), *st = safe(gi->status);
			char gm[32], gu[32];
			bytes(gi->mem_total, gm, sizeof(gm));
			bytes(gi->mem_used, gu, sizeof(gu));
			printf("  guest %d %s [%s] %d vCPUs, memory %s / %s", gi->vmid, gn, st,
			       gi->cpus, gu, gm);
			for (size_t p = 0; p < gi->n_passthrough; p++) {
				char *pci = safe(gi->passthrough[p]);
				printf("%s%s", p == 0 ? ", passthrough " : " ", pci);
				free(pci);
			}
			printf("\n");
			free(gn);
			free(st);
			if (tg->node) {
				print_node(tg->node, "    ");
			}
			if (tg->runs_ollama) {
				print_models(t->in, "    ");
			}
		}
	}
	if (t->n_unmatched) {
		printf("Kubernetes nodes in no guest (add node = VMID to [topology]):\n");
		for (size_t i = 0; i < t->n_nodes; i++) {
			bool unmatched = false;
			for (size_t u = 0; u < t->n_unmatched; u++) {
				unmatched |= t->unmatched[u] == t->nodes[i].in->name;
			}
			if (unmatched) {
				print_node(&t->nodes[i], "  ");
			}
		}
	}
	if (t->n_warnings) {
		printf("Warnings:\n");
		for (size_t i = 0; i < t->n_warnings; i++) {
			const struct topo_warning *w = &t->warnings[i];
			char *s = safe(w->subject), *m = safe(w->message);
			printf("  %s %s: %s\n", w->level == TOPO_CRIT ? "CRIT" : "WARN", s, m);
			free(s);
			free(m);
		}
	} else {
		printf("No warnings.\n");
	}
}

static json_t *errors_json(const struct cli *c)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < c->n_errors; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "backend", json_string(c->errors[i].backend));
		json_t *msg = json_string(c->errors[i].err.msg);
		json_object_set_new(o, "message", msg ? msg : json_string("(not UTF-8)"));
		json_object_set_new(o, "code", json_string(err_code_name(c->errors[i].err.code)));
		if (c->errors[i].err.http_status) {
			json_object_set_new(o, "http_status",
			                    json_integer(c->errors[i].err.http_status));
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

int cli_topology(struct cli *c)
{
	struct topology_fetch_sources src = {.cfg = &c->cfg};
	struct pve *pve = NULL;
	struct k8s *k8s = NULL;
	struct llm *llm = NULL;
	if (c->cfg.proxmox.configured) {
		if (c->cfg.proxmox.token_secret) {
			pve = pve_create(c->http, &c->cfg.proxmox);
		} else {
			struct err e;
			err_set(&e, ERR_CONFIG, 0,
			        "proxmox: token_secret is not set: add token_secret_env = VARIABLE "
			        "or "
			        "token_secret_file = PATH to [proxmox] in %s",
			        c->cfg.path ? c->cfg.path : "the config");
			cli_add_error(c, "proxmox", &e);
		}
	}
	if (k8s_available(&c->cfg.kubernetes)) {
		k8s = k8s_create(c->base, c->http, &c->cfg.kubernetes);
	}
	if (c->cfg.ollama.configured) {
		llm = llm_create(c->http, &c->cfg);
		src.ollama_url = c->cfg.ollama.url;
	}
	if (!pve && !k8s && c->n_errors == 0) {
		struct err e;
		err_set(&e, ERR_CONFIG, 0,
		        "no backend is configured: add a [proxmox] section (url, token_id, "
		        "token_secret_env) or a [kubernetes] section to %s, or set KUBECONFIG; see "
		        "docs/configuration.md",
		        c->cfg.path ? c->cfg.path : "~/.config/labdeck/config.ini");
		cli_add_error(c, "config", &e);
	}
	src.pve = pve;
	src.k8s = k8s;
	src.llm = llm;
	struct wait w = {0};
	if (pve || k8s) {
		topology_fetch_start(&src, on_data, &w);
		while (!w.done) {
			event_base_loop(c->base, EVLOOP_ONCE);
		}
	}
	struct topology t;
	memset(&t, 0, sizeof(t));
	if (w.d) {
		for (size_t i = 0; i < w.d->n_errors; i++) {
			cli_add_error(c, w.d->errors[i].backend, &w.d->errors[i].err);
		}
		topology_build(&w.d->buf.in, &t);
	}
	if (c->json) {
		json_t *root = w.d ? topology_to_json(&t) : json_object();
		if (!w.d) {
			json_object_set_new(root, "hosts", json_array());
			json_object_set_new(root, "unmatched_nodes", json_array());
			json_object_set_new(root, "warnings", json_array());
		}
		json_object_set_new(root, "errors", errors_json(c));
		size_t flags = JSON_COMPACT;
		if (isatty(STDOUT_FILENO)) {
			flags |= JSON_INDENT(2) | JSON_ENSURE_ASCII;
		}
		{
			char *json =
			        json_dumps(root, flags); /* C1 and bidi escaped (text_json_fputs) */
			text_json_fputs(json, stdout);
			free(json);
		}
		fputc('\n', stdout);
		json_decref(root);
	} else if (w.d) {
		print_text(&t);
	}
	if (w.d) {
		topology_finish(&t);
		topology_data_free(w.d);
	}
	llm_destroy(llm);
	pve_destroy(pve);
	k8s_destroy(k8s);
	cli_report_errors(c);
	fflush(stdout);
	return c->exit_status;
}
