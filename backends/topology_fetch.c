/* topology_fetch.c: see topology_fetch.h. The input for topology_build is laid out from
 * borrowed parts, so the console (data it already keeps) and the CLI (its own one-shot fetch) build
 * the same tree the same way. */
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

void topology_input_buf_finish(struct topology_input_buf *b)
{
	free(b->hosts);
	free(b->guests);
	free(b->nodes);
	free(b->pods);
	free(b->loaded);
	free(b->available);
	free(b->map);
	memset(b, 0, sizeof(*b));
}

static void fill_hosts_guests(struct topology_input_buf *b, const struct topology_parts *p)
{
	const struct node_list *nl = p->pve_nodes;
	size_t n_rows = nl ? nl->len : 0;
	b->hosts = xcalloc(n_rows + 1, sizeof(*b->hosts));
	size_t n = 0;
	for (size_t i = 0; i < n_rows; i++) {
		const struct node_row *r = &nl->items[i];
		if (r->source == NODE_PROXMOX) {
			b->hosts[n++] = (struct topo_host_in){r->name, r->cpus, r->mem_total,
			                                      r->cpu, r->mem_used};
		}
	}
	b->in.n_hosts = n;
	const struct guest_list *gl = p->guests;
	size_t n_guests = gl ? gl->len : 0;
	b->guests = xcalloc(n_guests + 1, sizeof(*b->guests));
	n = 0;
	for (size_t i = 0; i < n_guests; i++) {
		const struct guest_row *r = &gl->items[i];
		if (r->template_) {
			continue;
		}
		struct topo_guest_in *g = &b->guests[n++];
		*g = (struct topo_guest_in){.vmid = r->vmid,
		                            .name = r->name,
		                            .host = r->node,
		                            .status = r->status,
		                            .cpus = r->cpus,
		                            .mem_total = r->mem_total,
		                            .mem_used = r->mem_used,
		                            .passthrough = (const char *const *)r->passthrough,
		                            .n_passthrough = r->n_passthrough};
		const char *const *a = topology_agents_get(p->agents, r->vmid);
		if (a) {
			size_t k = 0;
			while (a[k]) {
				k++;
			}
			g->addresses = a;
			g->n_addresses = k;
		}
	}
	b->in.n_guests = n;
	b->in.hosts = b->hosts;
	b->in.guests = b->guests;
}

static void fill_nodes(struct topology_input_buf *b, const struct topology_parts *p)
{
	const struct node_list *nl = p->k8s_nodes;
	size_t n_rows = nl ? nl->len : 0;
	b->nodes = xcalloc(n_rows + 1, sizeof(*b->nodes));
	size_t n = 0;
	for (size_t i = 0; i < n_rows; i++) {
		const struct node_row *r = &nl->items[i];
		if (r->source != NODE_KUBERNETES) {
			continue;
		}
		const struct k8s_node_extra *x =
		        p->k8s_extra ? p->k8s_extra(p->k8s_extra_ctx, i, r) : NULL;
		struct topo_node_in *o = &b->nodes[n++];
		o->name = r->name;
		o->internal_ip = r->internal_ip;
		o->alloc_cpu =
		        x && x->alloc_cpu_milli >= 0 ? (double)x->alloc_cpu_milli / 1000.0 : NAN;
		o->alloc_mem = x ? x->alloc_mem : -1;
		/* the row's cpu is the metrics' usage as a fraction of its capacity.cpu */
		o->usage_cpu = isnan(r->cpu) || r->cpus <= 0 ? NAN : r->cpu * r->cpus;
		o->usage_mem = p->k8s_metrics ? r->mem_used : -1;
	}
	b->in.n_nodes = n;
	b->in.nodes = b->nodes;
}

static void fill_pods(struct topology_input_buf *b, const struct topology_parts *p)
{
	b->pods = xcalloc(p->n_pods + 1, sizeof(*b->pods));
	size_t n = 0;
	for (size_t i = 0; i < p->n_pods; i++) {
		const struct pod_row *r = &p->pods[i];
		if (!r->has_resources) {
			continue;
		}
		b->pods[n++] = (struct topo_pod_in){r->namespace_ ? r->namespace_ : "",
		                                    r->name,
		                                    r->node,
		                                    r->owner_kind,
		                                    r->owner_name,
		                                    r->requests_cpu,
		                                    r->limits_cpu,
		                                    r->requests_mem,
		                                    r->limits_mem,
		                                    r->finished};
	}
	b->in.pods = b->pods;
	b->in.n_pods = n;
}

void topology_input_fill(struct topology_input_buf *b, const struct topology_parts *p,
                         const struct config *cfg)
{
	topology_input_buf_finish(b);
	fill_hosts_guests(b, p);
	fill_nodes(b, p);
	fill_pods(b, p);
	const struct llm_models *ms[2] = {p->loaded, p->available};
	struct topo_model_in **outs[2] = {&b->loaded, &b->available};
	for (int k = 0; k < 2; k++) {
		size_t len = ms[k] ? ms[k]->len : 0;
		*outs[k] = xcalloc(len + 1, sizeof(**outs[k]));
		for (size_t i = 0; i < len; i++) {
			const struct llm_model_info *m = &ms[k]->items[i];
			(*outs[k])[i] = (struct topo_model_in){
			        m->name, m->size, k == 0 ? m->size_vram : -1, m->expires_at};
		}
	}
	b->in.loaded = b->loaded;
	b->in.n_loaded = p->loaded ? p->loaded->len : 0;
	b->in.available = b->available;
	b->in.n_available = p->available ? p->available->len : 0;
	const struct config_topology *ct = &cfg->topology;
	b->map = xcalloc(ct->n_map + 1, sizeof(*b->map));
	for (size_t i = 0; i < ct->n_map; i++) {
		b->map[i] = (struct topo_map_in){ct->map[i].node, ct->map[i].vmid};
	}
	b->in.map = b->map;
	b->in.n_map = ct->n_map;
	b->in.ollama_vmid = ct->ollama_vmid;
	b->in.ollama_host = p->ollama_host;
}

/* --- the guest agents --- */

struct agent_entry {
	struct topology_agents *owner;
	int vmid;
	char *node;    /* where it was asked */
	double uptime; /* the guest's uptime then: smaller now means it restarted */
	char **addresses;
	struct http_request *req;
	bool seen; /* still running at the last update */
};

struct topology_agents {
	struct pve *pve;
	void (*changed)(void *ud);
	void *ud;
	struct agent_entry **entries;
	size_t n_entries;
	struct topology_fetch_error *errors;
	size_t n_errors;
};

static void agents_add_error(struct topology_agents *a, const struct err *e)
{
	a->errors = xrealloc(a->errors, (a->n_errors + 1) * sizeof(*a->errors));
	a->errors[a->n_errors].backend = xstrdup("proxmox");
	a->errors[a->n_errors].err = *e;
	a->n_errors++;
}

static void agents_clear_errors(struct topology_agents *a)
{
	for (size_t i = 0; i < a->n_errors; i++) {
		free(a->errors[i].backend);
	}
	free(a->errors);
	a->errors = NULL;
	a->n_errors = 0;
}

struct topology_agents *topology_agents_create(struct pve *pve, void (*changed)(void *ud), void *ud)
{
	struct topology_agents *a = xcalloc(1, sizeof(*a));
	a->pve = pve;
	a->changed = changed;
	a->ud = ud;
	return a;
}

static void entry_free(struct agent_entry *e)
{
	if (e->req) {
		http_cancel(e->req);
	}
	topology_fetch_strv_free(e->addresses);
	free(e->node);
	free(e);
}

void topology_agents_destroy(struct topology_agents *a)
{
	if (!a) {
		return;
	}
	for (size_t i = 0; i < a->n_entries; i++) {
		entry_free(a->entries[i]);
	}
	free(a->entries);
	agents_clear_errors(a);
	free(a);
}

static void on_agent(void *ud, struct http_response *resp, const struct err *err)
{
	struct agent_entry *en = ud;
	struct topology_agents *a = en->owner;
	en->req = NULL;
	struct err e;
	err_clear(&e);
	if (err) {
		if (!topology_fetch_agent_absent(resp->body ? resp->body : "", resp->len)) {
			char what[160];
			snprintf(what, sizeof(what), "guest %d agent addresses", en->vmid);
			pve_error_from_response(&e, resp, err, what);
			agents_add_error(a, &e);
		}
	} else {
		char **addr = NULL;
		if (topology_fetch_parse_agent(resp->body, resp->len, &addr, &e)) {
			topology_fetch_strv_free(en->addresses);
			en->addresses = addr;
		} else {
			agents_add_error(a, &e);
		}
	}
	if (a->changed) {
		a->changed(a->ud);
	}
}

static struct agent_entry *agents_find(const struct topology_agents *a, int vmid)
{
	for (size_t i = 0; a && i < a->n_entries; i++) {
		if (a->entries[i]->vmid == vmid) {
			return a->entries[i];
		}
	}
	return NULL;
}

void topology_agents_update(struct topology_agents *a, const struct guest_list *gl)
{
	if (!a || !a->pve) {
		return;
	}
	for (size_t i = 0; i < a->n_entries; i++) {
		a->entries[i]->seen = false;
	}
	bool asked = false;
	for (size_t i = 0; gl && i < gl->len; i++) {
		const struct guest_row *g = &gl->items[i];
		if (!g->type || strcmp(g->type, "qemu") != 0 || !g->status ||
		    strcmp(g->status, "running") != 0 || !g->node) {
			continue;
		}
		struct agent_entry *en = agents_find(a, g->vmid);
		double up = g->uptime >= 0 ? (double)g->uptime : 0;
		if (en) {
			en->seen = true;
			bool moved = strcmp(en->node, g->node) != 0;
			bool restarted = g->uptime >= 0 && up < en->uptime;
			en->uptime = up;
			if (!moved && !restarted) {
				continue;
			}
			if (en->req) {
				http_cancel(en->req);
				en->req = NULL;
			}
			free(en->node);
		} else {
			en = xcalloc(1, sizeof(*en));
			en->owner = a;
			en->vmid = g->vmid;
			en->seen = true;
			en->uptime = up;
			a->entries = xrealloc(a->entries, (a->n_entries + 1) * sizeof(*a->entries));
			a->entries[a->n_entries++] = en;
		}
		en->node = xstrdup(g->node);
		if (!asked) {
			agents_clear_errors(a); /* a new round of answers */
			asked = true;
		}
		char *path = xasprintf("/nodes/%s/qemu/%d/agent/network-get-interfaces", g->node,
		                       g->vmid);
		en->req = pve_http_get(a->pve, path, on_agent, en);
		free(path);
	}
	size_t w = 0;
	for (size_t i = 0; i < a->n_entries; i++) {
		if (a->entries[i]->seen) {
			a->entries[w++] = a->entries[i];
		} else {
			entry_free(a->entries[i]);
		}
	}
	a->n_entries = w;
}

const char *const *topology_agents_get(const struct topology_agents *a, int vmid)
{
	const struct agent_entry *en = agents_find(a, vmid);
	return en ? (const char *const *)en->addresses : NULL;
}

size_t topology_agents_pending(const struct topology_agents *a)
{
	size_t n = 0;
	for (size_t i = 0; a && i < a->n_entries; i++) {
		n += a->entries[i]->req != NULL;
	}
	return n;
}

const struct topology_fetch_error *topology_agents_errors(const struct topology_agents *a,
                                                          size_t *n)
{
	*n = a ? a->n_errors : 0;
	return a ? a->errors : NULL;
}

/* --- the one-shot fetch --- */

static const struct k8s_node_extra *extra_by_index(const void *ctx, size_t index,
                                                   const struct node_row *row)
{
	(void)row;
	const struct k8s_nodes *kn = ctx;
	return kn->extras && index < kn->nodes.len ? &kn->extras[index] : NULL;
}

void topology_data_parts(const struct topology_data *d, struct topology_parts *out)
{
	*out = (struct topology_parts){
	        .pve_nodes = d->pve ? &d->pve->nodes : NULL,
	        .guests = d->pve ? &d->pve->guests : NULL,
	        .agents = d->agents,
	        .k8s_nodes = d->knodes ? &d->knodes->nodes : NULL,
	        .k8s_extra = extra_by_index,
	        .k8s_extra_ctx = d->knodes,
	        .k8s_metrics = d->knodes && d->knodes->metrics,
	        .pods = d->pods ? d->pods->pods.items : NULL,
	        .n_pods = d->pods ? d->pods->pods.len : 0,
	        .loaded = d->loaded,
	        .available = d->available,
	        .ollama_host = d->ollama_host,
	};
}

void topology_data_free(struct topology_data *d)
{
	if (!d) {
		return;
	}
	topology_agents_destroy(d->agents);
	if (d->pve) {
		pve_status_finish(d->pve);
		free(d->pve);
	}
	if (d->knodes) {
		k8s_nodes_finish(d->knodes);
		free(d->knodes);
	}
	if (d->pods) {
		k8s_pods_finish(d->pods);
		free(d->pods);
	}
	llm_models_free(d->loaded);
	llm_models_free(d->available);
	for (size_t i = 0; i < d->n_errors; i++) {
		free(d->errors[i].backend);
	}
	free(d->errors);
	free(d->ollama_host);
	topology_input_buf_finish(&d->buf);
	free(d);
}

struct topology_fetch {
	struct topology_fetch_sources src;
	topology_fetch_fn cb;
	void *ud;
	struct topology_data *d;
	int pending;
	bool agents_waiting; /* the agents' answers are still counted in pending */
	struct pve_op *pve_op;
	struct k8s_op *nodes_op, *pods_op;
	struct llm_call *ps_call, *tags_call;
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
	size_t n;
	const struct topology_fetch_error *ae = topology_agents_errors(d->agents, &n);
	for (size_t i = 0; i < n; i++) {
		add_error(d, ae[i].backend, &ae[i].err);
	}
	struct topology_parts parts;
	topology_data_parts(d, &parts);
	topology_input_fill(&d->buf, &parts, f->src.cfg);
	topology_fetch_fn cb = f->cb;
	void *ud = f->ud;
	free(f);
	cb(ud, d);
}

/* The agents' answers: the fetch is done once none is in flight. */
static void on_agents_changed(void *ud)
{
	struct topology_fetch *f = ud;
	if (f->agents_waiting && topology_agents_pending(f->d->agents) == 0) {
		f->agents_waiting = false;
		done_one(f);
	}
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
	f->d->agents = topology_agents_create(f->src.pve, on_agents_changed, f);
	topology_agents_update(f->d->agents, &st->guests);
	if (topology_agents_pending(f->d->agents) > 0) {
		f->agents_waiting = true;
		f->pending++;
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

static void on_pods(void *ud, struct k8s_pods *r)
{
	struct topology_fetch *f = ud;
	f->pods_op = NULL;
	for (size_t i = 0; i < r->errors.len; i++) {
		add_error(f->d, "kubernetes", &r->errors.items[i]);
	}
	if (r->failed) {
		k8s_pods_finish(r);
		free(r);
	} else {
		f->d->pods = r;
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
		/* "": every namespace, whatever the config's default */
		f->pods_op = k8s_fetch_pods_with_resources(src->k8s, "", on_pods, f);
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
		struct topology_parts parts;
		topology_data_parts(d, &parts);
		topology_input_fill(&d->buf, &parts, src->cfg);
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
	topology_data_free(f->d); /* the agents' requests with it */
	free(f);
}
