/* topology_fetch.c: every source of the topology asked at once; the guest agents once the guest
 * list is known. Each answer is kept as it came; topology_fetch_input lays it out for
 * topology_build when the last one is in. */
#include "topology_fetch.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_util.h"
#include "k8s.h"
#include "llm.h"
#include "pve.h"
#include "quantity.h"
#include "util.h"

/* --- parsers --- */

void topology_fetch_strv_free(char **v)
{
	if (!v) {
		return;
	}
	for (size_t i = 0; v[i]; i++) {
		free(v[i]);
	}
	free(v);
}

static bool address_wanted(const char *a)
{
	if (strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0) {
		return false;
	}
	if (strncasecmp(a, "fe8", 3) == 0 || strncasecmp(a, "fe9", 3) == 0 ||
	    strncasecmp(a, "fea", 3) == 0 || strncasecmp(a, "feb", 3) == 0) {
		return false;
	}
	return true;
}

bool topology_fetch_parse_agent(const char *body, size_t len, char ***out, struct err *err)
{
	char eb[160];
	*out = NULL;
	json_t *root = json_load_body(body, len, eb, sizeof(eb));
	if (!root) {
		return err_set(err, ERR_MALFORMED, 0, "proxmox: guest agent interfaces: %s", eb);
	}
	json_t *data = json_object_get(root, "data");
	json_t *result = json_is_object(data) ? json_object_get(data, "result") : data;
	if (!json_is_array(result)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0,
		               "proxmox: guest agent interfaces: no data.result list");
	}
	size_t n = 0;
	char **v = xcalloc(1, sizeof(*v));
	size_t i;
	json_t *iface;
	json_array_foreach (result, i, iface) {
		json_t *addrs = json_object_get(iface, "ip-addresses");
		size_t j;
		json_t *a;
		json_array_foreach (addrs, j, a) {
			const char *ip = json_str(a, "ip-address");
			if (!ip || !address_wanted(ip)) {
				continue;
			}
			v = xrealloc(v, (n + 2) * sizeof(*v));
			v[n++] = xstrdup(ip);
			v[n] = NULL;
		}
	}
	json_decref(root);
	*out = v;
	return true;
}

bool topology_fetch_agent_absent(const char *body, size_t len)
{
	/* "QEMU guest agent is not running", "No QEMU guest agent configured" */
	char *copy = xmalloc(len + 1);
	memcpy(copy, body, len);
	copy[len] = '\0';
	bool absent = strstr(copy, "guest agent") != NULL;
	free(copy);
	return absent;
}

/* The resources of one container: adds its requests/limits to the four sums. */
static void container_resources(const json_t *c, double *rc, int64_t *rm, double *lc, int64_t *lm)
{
	json_t *res = json_object_get(c, "resources");
	const char *s;
	int64_t v;
	json_t *req = json_object_get(res, "requests");
	json_t *lim = json_object_get(res, "limits");
	if ((s = json_str(req, "cpu")) && quantity_parse_milli(s, &v)) {
		*rc += (double)v / 1000.0;
	}
	if ((s = json_str(req, "memory")) && quantity_parse_int(s, &v)) {
		*rm += v;
	}
	if ((s = json_str(lim, "cpu")) && quantity_parse_milli(s, &v)) {
		*lc += (double)v / 1000.0;
	}
	if ((s = json_str(lim, "memory")) && quantity_parse_int(s, &v)) {
		*lm += v;
	}
}

static void pod_owner(const json_t *md, struct topology_fetch_pod *p)
{
	json_t *refs = json_object_get(md, "ownerReferences");
	json_t *owner = NULL, *r;
	size_t i;
	json_array_foreach (refs, i, r) {
		if (json_is_true(json_object_get(r, "controller")) || !owner) {
			owner = r;
		}
	}
	const char *kind = json_str(owner, "kind");
	const char *name = json_str(owner, "name");
	if (!kind || !name || strcmp(kind, "Node") == 0) {
		return;
	}
	if (strcmp(kind, "ReplicaSet") == 0) {
		const char *hash = json_str(json_object_get(md, "labels"), "pod-template-hash");
		size_t nl = strlen(name), hl = hash ? strlen(hash) : 0;
		if (hash && hl > 0 && nl > hl + 1 && name[nl - hl - 1] == '-' &&
		    strcmp(name + nl - hl, hash) == 0) {
			p->kind = xstrdup("Deployment");
			p->workload = xstrndup(name, nl - hl - 1);
			return;
		}
	}
	p->kind = xstrdup(kind);
	p->workload = xstrdup(name);
}

bool topology_fetch_parse_pods(const char *body, size_t len, struct topology_fetch_pod **pods,
                               size_t *n, struct err *err)
{
	char eb[160];
	json_t *root = json_load_body(body, len, eb, sizeof(eb));
	if (!root) {
		return err_set(err, ERR_MALFORMED, 0, "kubernetes: pods: %s", eb);
	}
	json_t *items = json_object_get(root, "items");
	if (!json_is_array(items)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "kubernetes: pods: no items list");
	}
	size_t i;
	json_t *it;
	json_array_foreach (items, i, it) {
		json_t *md = json_object_get(it, "metadata");
		const char *name = json_str(md, "name");
		if (!name) {
			continue;
		}
		*pods = xrealloc(*pods, (*n + 1) * sizeof(**pods));
		struct topology_fetch_pod *p = &(*pods)[(*n)++];
		memset(p, 0, sizeof(*p));
		p->name = xstrdup(name);
		const char *ns = json_str(md, "namespace");
		p->namespace_ = xstrdup(ns ? ns : "");
		json_t *spec = json_object_get(it, "spec");
		const char *node = json_str(spec, "nodeName");
		p->node = node && *node ? xstrdup(node) : NULL;
		const char *phase = json_str(json_object_get(it, "status"), "phase");
		p->finished =
		        phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
		size_t j;
		json_t *c;
		json_array_foreach (json_object_get(spec, "containers"), j, c) {
			container_resources(c, &p->requests_cpu, &p->requests_mem, &p->limits_cpu,
			                    &p->limits_mem);
		}
		json_array_foreach (json_object_get(spec, "initContainers"), j, c) {
			double rc = 0, lc = 0;
			int64_t rm = 0, lm = 0;
			container_resources(c, &rc, &rm, &lc, &lm);
			p->requests_cpu = fmax(p->requests_cpu, rc);
			p->limits_cpu = fmax(p->limits_cpu, lc);
			p->requests_mem = rm > p->requests_mem ? rm : p->requests_mem;
			p->limits_mem = lm > p->limits_mem ? lm : p->limits_mem;
		}
		pod_owner(md, p);
	}
	json_decref(root);
	return true;
}

void topology_fetch_pods_free(struct topology_fetch_pod *pods, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(pods[i].namespace_);
		free(pods[i].name);
		free(pods[i].node);
		free(pods[i].kind);
		free(pods[i].workload);
	}
	free(pods);
}

char *topology_fetch_url_host(const char *url)
{
	if (!url) {
		return NULL;
	}
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	const char *at = strchr(p, '@');
	const char *slash = strchr(p, '/');
	if (at && (!slash || at < slash)) {
		p = at + 1;
	}
	if (*p == '[') {
		const char *end = strchr(p, ']');
		return end ? xstrndup(p + 1, (size_t)(end - p - 1)) : NULL;
	}
	size_t n = strcspn(p, ":/?#");
	return n ? xstrndup(p, n) : NULL;
}

/* --- the input for topology_build --- */

void topology_fetch_input(struct topology_data *d, const struct config *cfg)
{
	free(d->hosts);
	free(d->guests);
	free(d->nodes);
	free(d->pod_in);
	free(d->loaded_in);
	free(d->available_in);
	free(d->map);
	memset(&d->in, 0, sizeof(d->in));
	d->hosts = NULL;
	d->guests = NULL;
	d->nodes = NULL;
	if (d->pve) {
		const struct node_list *nl = &d->pve->nodes;
		d->hosts = xcalloc(nl->len + 1, sizeof(*d->hosts));
		for (size_t i = 0; i < nl->len; i++) {
			const struct node_row *r = &nl->items[i];
			d->hosts[i] = (struct topo_host_in){r->name, r->cpus, r->mem_total, r->cpu,
			                                    r->mem_used};
		}
		d->in.n_hosts = nl->len;
		const struct guest_list *gl = &d->pve->guests;
		d->guests = xcalloc(gl->len + 1, sizeof(*d->guests));
		size_t n = 0;
		for (size_t i = 0; i < gl->len; i++) {
			const struct guest_row *r = &gl->items[i];
			if (r->template_) {
				continue;
			}
			struct topo_guest_in *g = &d->guests[n++];
			*g = (struct topo_guest_in){.vmid = r->vmid,
			                            .name = r->name,
			                            .host = r->node,
			                            .status = r->status,
			                            .cpus = r->cpus,
			                            .mem_total = r->mem_total,
			                            .mem_used = r->mem_used,
			                            .passthrough =
			                                    (const char *const *)r->passthrough,
			                            .n_passthrough = r->n_passthrough};
			char **a = d->addresses ? d->addresses[i] : NULL;
			if (a) {
				size_t k = 0;
				while (a[k]) {
					k++;
				}
				g->addresses = (const char *const *)a;
				g->n_addresses = k;
			}
		}
		d->in.n_guests = n;
	}
	d->in.hosts = d->hosts;
	d->in.guests = d->guests;
	if (d->knodes) {
		const struct node_list *nl = &d->knodes->nodes;
		d->nodes = xcalloc(nl->len + 1, sizeof(*d->nodes));
		for (size_t i = 0; i < nl->len; i++) {
			const struct node_row *r = &nl->items[i];
			const struct k8s_node_extra *x =
			        d->knodes->extras ? &d->knodes->extras[i] : NULL;
			struct topo_node_in *n = &d->nodes[i];
			n->name = r->name;
			n->internal_ip = r->internal_ip;
			n->alloc_cpu = x && x->alloc_cpu_milli >= 0
			                       ? (double)x->alloc_cpu_milli / 1000.0
			                       : NAN;
			n->alloc_mem = x ? x->alloc_mem : -1;
			/* the row's cpu is the metrics' usage as a fraction of its capacity.cpu */
			n->usage_cpu = isnan(r->cpu) || r->cpus <= 0 ? NAN : r->cpu * r->cpus;
			n->usage_mem = d->knodes->metrics ? r->mem_used : -1;
		}
		d->in.n_nodes = nl->len;
	}
	d->in.nodes = d->nodes;
	d->pod_in = xcalloc(d->n_pods + 1, sizeof(*d->pod_in));
	for (size_t i = 0; i < d->n_pods; i++) {
		const struct topology_fetch_pod *p = &d->pods[i];
		d->pod_in[i] = (struct topo_pod_in){p->namespace_, p->name,         p->node,
		                                    p->kind,       p->workload,     p->requests_cpu,
		                                    p->limits_cpu, p->requests_mem, p->limits_mem,
		                                    p->finished};
	}
	d->in.pods = d->pod_in;
	d->in.n_pods = d->n_pods;
	const struct llm_models *ms[2] = {d->loaded, d->available};
	struct topo_model_in **outs[2] = {&d->loaded_in, &d->available_in};
	for (int k = 0; k < 2; k++) {
		size_t len = ms[k] ? ms[k]->len : 0;
		*outs[k] = xcalloc(len + 1, sizeof(**outs[k]));
		for (size_t i = 0; i < len; i++) {
			const struct llm_model_info *m = &ms[k]->items[i];
			(*outs[k])[i] = (struct topo_model_in){
			        m->name, m->size, k == 0 ? m->size_vram : -1, m->expires_at};
		}
	}
	d->in.loaded = d->loaded_in;
	d->in.n_loaded = d->loaded ? d->loaded->len : 0;
	d->in.available = d->available_in;
	d->in.n_available = d->available ? d->available->len : 0;
	const struct config_topology *ct = &cfg->topology;
	d->map = xcalloc(ct->n_map + 1, sizeof(*d->map));
	for (size_t i = 0; i < ct->n_map; i++) {
		d->map[i] = (struct topo_map_in){ct->map[i].node, ct->map[i].vmid};
	}
	d->in.map = d->map;
	d->in.n_map = ct->n_map;
	d->in.ollama_vmid = ct->ollama_vmid;
	d->in.ollama_host = d->ollama_host;
}

void topology_data_free(struct topology_data *d)
{
	if (!d) {
		return;
	}
	if (d->addresses && d->pve) {
		for (size_t i = 0; i < d->pve->guests.len; i++) {
			topology_fetch_strv_free(d->addresses[i]);
		}
	}
	free(d->addresses);
	if (d->pve) {
		pve_status_finish(d->pve);
		free(d->pve);
	}
	if (d->knodes) {
		k8s_nodes_finish(d->knodes);
		free(d->knodes);
	}
	topology_fetch_pods_free(d->pods, d->n_pods);
	llm_models_free(d->loaded);
	llm_models_free(d->available);
	for (size_t i = 0; i < d->n_errors; i++) {
		free(d->errors[i].backend);
	}
	free(d->errors);
	free(d->ollama_host);
	free(d->hosts);
	free(d->guests);
	free(d->nodes);
	free(d->pod_in);
	free(d->loaded_in);
	free(d->available_in);
	free(d->map);
	free(d);
}

/* --- the fetch --- */

struct agent_req {
	struct topology_fetch *f;
	size_t index; /* in pve->guests */
	struct http_request *req;
};

struct topology_fetch {
	struct topology_fetch_sources src;
	topology_fetch_fn cb;
	void *ud;
	struct topology_data *d;
	int pending;
	struct pve_op *pve_op;
	struct k8s_op *nodes_op, *pods_op;
	struct llm_call *ps_call, *tags_call;
	struct agent_req *agents;
	size_t n_agents;
};

static void add_error(struct topology_data *d, const char *backend, const struct err *e)
{
	d->errors = xrealloc(d->errors, (d->n_errors + 1) * sizeof(*d->errors));
	d->errors[d->n_errors].backend = xstrdup(backend);
	d->errors[d->n_errors].err = *e;
	d->n_errors++;
}

static void done_one(struct topology_fetch *f)
{
	if (--f->pending > 0) {
		return;
	}
	struct topology_data *d = f->d;
	f->d = NULL;
	topology_fetch_input(d, f->src.cfg);
	topology_fetch_fn cb = f->cb;
	void *ud = f->ud;
	free(f->agents);
	free(f);
	cb(ud, d);
}

static void on_agent(void *ud, struct http_response *resp, const struct err *err)
{
	struct agent_req *a = ud;
	struct topology_fetch *f = a->f;
	a->req = NULL;
	struct err e;
	err_clear(&e);
	const struct guest_row *g = &f->d->pve->guests.items[a->index];
	if (err) {
		if (!topology_fetch_agent_absent(resp->body ? resp->body : "", resp->len)) {
			char what[160];
			snprintf(what, sizeof(what), "guest %d agent addresses", g->vmid);
			pve_error_from_response(&e, resp, err, what);
			add_error(f->d, "proxmox", &e);
		}
	} else if (!topology_fetch_parse_agent(resp->body, resp->len, &f->d->addresses[a->index],
	                                       &e)) {
		add_error(f->d, "proxmox", &e);
	}
	done_one(f);
}

static void on_pve(void *ud, struct pve_status *st)
{
	struct topology_fetch *f = ud;
	f->pve_op = NULL;
	for (size_t i = 0; i < st->errors.len; i++) {
		add_error(f->d, "proxmox", &st->errors.items[i]);
	}
	if (st->failed) {
		pve_status_finish(st);
		free(st);
		done_one(f);
		return;
	}
	f->d->pve = st;
	f->d->addresses = xcalloc(st->guests.len + 1, sizeof(*f->d->addresses));
	f->agents = xcalloc(st->guests.len + 1, sizeof(*f->agents));
	for (size_t i = 0; i < st->guests.len; i++) {
		const struct guest_row *g = &st->guests.items[i];
		if (!g->type || strcmp(g->type, "qemu") != 0 || !g->status ||
		    strcmp(g->status, "running") != 0 || !g->node) {
			continue;
		}
		struct agent_req *a = &f->agents[f->n_agents++];
		a->f = f;
		a->index = i;
		char *path = xasprintf("/nodes/%s/qemu/%d/agent/network-get-interfaces", g->node,
		                       g->vmid);
		f->pending++;
		a->req = pve_http_get(f->src.pve, path, on_agent, a);
		free(path);
	}
	done_one(f);
}

static void on_knodes(void *ud, struct k8s_nodes *r)
{
	struct topology_fetch *f = ud;
	f->nodes_op = NULL;
	for (size_t i = 0; i < r->errors.len; i++) {
		add_error(f->d, "kubernetes", &r->errors.items[i]);
	}
	if (r->failed) {
		k8s_nodes_finish(r);
		free(r);
	} else {
		f->d->knodes = r;
	}
	done_one(f);
}

static void on_pods(void *ud, struct http_response *resp, const struct err *err)
{
	struct topology_fetch *f = ud;
	f->pods_op = NULL;
	struct err e;
	err_clear(&e);
	if (err) {
		add_error(f->d, "kubernetes", err);
	} else if (!topology_fetch_parse_pods(resp->body, resp->len, &f->d->pods, &f->d->n_pods,
	                                      &e)) {
		add_error(f->d, "kubernetes", &e);
	}
	done_one(f);
}

static void on_ps(void *ud, struct llm_models *models, const struct err *err)
{
	struct topology_fetch *f = ud;
	f->ps_call = NULL;
	if (err) {
		add_error(f->d, "ollama", err);
	}
	f->d->loaded = models;
	done_one(f);
}

static void on_tags(void *ud, struct llm_models *models, const struct err *err)
{
	struct topology_fetch *f = ud;
	f->tags_call = NULL;
	if (err) {
		add_error(f->d, "ollama", err);
	}
	f->d->available = models;
	done_one(f);
}

struct topology_fetch *topology_fetch_start(const struct topology_fetch_sources *src,
                                            topology_fetch_fn cb, void *ud)
{
	struct topology_fetch *f = xcalloc(1, sizeof(*f));
	f->src = *src;
	f->cb = cb;
	f->ud = ud;
	f->d = xcalloc(1, sizeof(*f->d));
	f->d->ollama_host = topology_fetch_url_host(src->ollama_url);
	f->pending = 1; /* held until every request is started */
	if (src->pve) {
		f->pending++;
		f->pve_op = pve_fetch_status(src->pve, PVE_WANT_NODES | PVE_WANT_GUESTS, on_pve, f);
	}
	if (src->k8s) {
		f->pending += 2;
		f->nodes_op = k8s_fetch_nodes(src->k8s, on_knodes, f);
		struct k8s_request_opts o = {
		        .path = "/api/v1/pods?fieldSelector=status.phase%21%3DSucceeded%2C"
		                "status.phase%21%3DFailed",
		        .what = "pods",
		        .max_retries = -1,
		        .on_done = on_pods,
		        .ud = f,
		};
		f->pods_op = k8s_request(src->k8s, &o);
	}
	if (src->llm) {
		f->pending += 2;
		f->ps_call = llm_ollama_ps(src->llm, on_ps, f);
		f->tags_call = llm_ollama_tags(src->llm, on_tags, f);
	}
	/* Every callback comes later, from the loop; the hold is released there too. */
	if (--f->pending == 0) {
		/* nothing to ask: answer at once (still from the caller's stack) */
		struct topology_data *d = f->d;
		topology_fetch_input(d, src->cfg);
		free(f);
		cb(ud, d);
		return NULL;
	}
	return f;
}

void topology_fetch_cancel(struct topology_fetch *f)
{
	if (!f) {
		return;
	}
	if (f->pve_op) {
		pve_op_cancel(f->pve_op);
	}
	if (f->nodes_op) {
		k8s_op_cancel(f->nodes_op);
	}
	if (f->pods_op) {
		k8s_op_cancel(f->pods_op);
	}
	if (f->ps_call) {
		(void)llm_cancel(f->ps_call); /* NULL for a list call */
	}
	if (f->tags_call) {
		(void)llm_cancel(f->tags_call);
	}
	for (size_t i = 0; i < f->n_agents; i++) {
		if (f->agents[i].req) {
			http_cancel(f->agents[i].req);
		}
	}
	free(f->agents);
	topology_data_free(f->d);
	free(f);
}
