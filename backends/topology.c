/* topology.c: building the lab's tree and its warnings (see topology.h). */
#include "topology.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "format.h"
#include "quantity.h"
#include "util.h"

/* Thresholds, in one place: a level at or above WARN_SHARE of what it has is warned about. */
#define WARN_SHARE 0.90
#define CRIT_SHARE 0.95
/* vCPUs per host thread above which the CPU overcommit is worth a warning (Proxmox guests idle
 * most of the time; 4:1 is a common ceiling for a home lab). */
#define VCPU_RATIO_WARN 4.0

const char *topology_match_name(enum topo_match m)
{
	return m == TOPO_MATCH_CONFIG ? "config" : m == TOPO_MATCH_ADDRESS ? "address" : "name";
}

__attribute__((format(printf, 4, 5))) static void warn(struct topology *t, enum topo_level level,
                                                       const char *subject, const char *fmt, ...)
{
	t->warnings = xrealloc(t->warnings, (t->n_warnings + 1) * sizeof(*t->warnings));
	struct topo_warning *w = &t->warnings[t->n_warnings++];
	w->level = level;
	w->subject = xstrdup(subject);
	va_list ap;
	va_start(ap, fmt);
	w->message = xvasprintf(fmt, ap);
	va_end(ap);
}

static bool running(const struct topo_guest_in *g)
{
	return g->status && strcmp(g->status, "running") == 0;
}

static const struct topo_guest_in *guest_by_vmid(const struct topology_input *in, int vmid)
{
	for (size_t i = 0; i < in->n_guests; i++) {
		if (in->guests[i].vmid == vmid) {
			return &in->guests[i];
		}
	}
	return NULL;
}

static bool has_address(const struct topo_guest_in *g, const char *addr)
{
	for (size_t i = 0; addr && i < g->n_addresses; i++) {
		if (g->addresses[i] && strcmp(g->addresses[i], addr) == 0) {
			return true;
		}
	}
	return false;
}

/* match_node finds the guest a Kubernetes node runs in, and how. */
static const struct topo_guest_in *match_node(const struct topology_input *in,
                                              const struct topo_node_in *n, enum topo_match *how)
{
	for (size_t i = 0; i < in->n_map; i++) {
		if (in->map[i].node && strcmp(in->map[i].node, n->name) == 0) {
			*how = TOPO_MATCH_CONFIG;
			return guest_by_vmid(in,
			                     in->map[i].vmid); /* a map to no guest: unmatched */
		}
	}
	if (n->internal_ip) {
		for (size_t i = 0; i < in->n_guests; i++) {
			if (has_address(&in->guests[i], n->internal_ip)) {
				*how = TOPO_MATCH_ADDRESS;
				return &in->guests[i];
			}
		}
	}
	for (size_t i = 0; i < in->n_guests; i++) {
		if (in->guests[i].name && strcasecmp(in->guests[i].name, n->name) == 0) {
			*how = TOPO_MATCH_NAME;
			return &in->guests[i];
		}
	}
	return NULL;
}

static const struct topo_guest_in *ollama_guest(const struct topology_input *in)
{
	if (in->ollama_vmid >= 0) {
		return guest_by_vmid(in, in->ollama_vmid);
	}
	if (!in->ollama_host) {
		return NULL;
	}
	for (size_t i = 0; i < in->n_guests; i++) {
		if (has_address(&in->guests[i], in->ollama_host)) {
			return &in->guests[i];
		}
	}
	for (size_t i = 0; i < in->n_guests; i++) {
		if (in->guests[i].name && strcasecmp(in->guests[i].name, in->ollama_host) == 0) {
			return &in->guests[i];
		}
	}
	return NULL;
}

static int workload_cmp(const void *a, const void *b)
{
	const struct topo_workload *x = a, *y = b;
	int c = strcmp(x->namespace_, y->namespace_);
	return c ? c : strcmp(x->name, y->name);
}

/* add_pod counts a pod against its node and its workload there. */
static void add_pod(struct topo_node *n, const struct topo_pod_in *p)
{
	n->requests_cpu += p->requests_cpu;
	n->limits_cpu += p->limits_cpu;
	n->requests_mem = quantity_add(n->requests_mem, p->requests_mem);
	n->limits_mem = quantity_add(n->limits_mem, p->limits_mem);
	const char *name = p->workload ? p->workload : p->name;
	const char *kind = p->workload && p->kind ? p->kind : "Pod";
	struct topo_workload *w = NULL;
	for (size_t i = 0; i < n->n_workloads; i++) {
		struct topo_workload *c = &n->workloads[i];
		if (strcmp(c->namespace_, p->namespace_) == 0 && strcmp(c->name, name) == 0 &&
		    strcmp(c->kind, kind) == 0) {
			w = c;
			break;
		}
	}
	if (!w) {
		n->workloads = xrealloc(n->workloads, (n->n_workloads + 1) * sizeof(*n->workloads));
		w = &n->workloads[n->n_workloads++];
		memset(w, 0, sizeof(*w));
		w->namespace_ = xstrdup(p->namespace_);
		w->name = xstrdup(name);
		w->kind = xstrdup(kind);
	}
	w->pods++;
	w->requests_cpu += p->requests_cpu;
	w->requests_mem = quantity_add(w->requests_mem, p->requests_mem);
}

static void bytes(int64_t v, char *out, size_t size)
{
	format_bytes(v, out, size);
}

/* share_warn warns when used reaches WARN_SHARE of have (CRIT past all of it, or CRIT_SHARE
 * when at_crit_share). */
static void share_warn(struct topology *t, const char *subject, const char *what, double used,
                       double have, bool is_bytes, bool crit_at_share)
{
	if (!(have > 0) || isnan(used) || used < WARN_SHARE * have) {
		return;
	}
	enum topo_level level =
	        used > have || (crit_at_share && used >= CRIT_SHARE * have) ? TOPO_CRIT : TOPO_WARN;
	char u[32], h[32];
	if (is_bytes) {
		bytes((int64_t)used, u, sizeof(u));
		bytes((int64_t)have, h, sizeof(h));
	} else {
		snprintf(u, sizeof(u), "%.2f cores", used);
		snprintf(h, sizeof(h), "%.2f", have);
	}
	warn(t, level, subject, "%s %s %s %s (%.0f%%)", what, u, used > have ? ">" : "of", h,
	     100.0 * used / have);
}

static void host_warnings(struct topology *t, const struct topo_host *h)
{
	const struct topo_host_in *in = h->in;
	char a[32], b[32];
	if (in->mem_total > 0 && h->alloc_mem > in->mem_total) {
		bytes(h->alloc_mem, a, sizeof(a));
		bytes(in->mem_total, b, sizeof(b));
		warn(t, TOPO_WARN, in->name,
		     "memory given to running guests %s > the host's %s (%.2f×): they cannot all "
		     "use "
		     "it at once",
		     a, b, (double)h->alloc_mem / (double)in->mem_total);
	}
	if (in->mem_total > 0 && in->mem_used >= 0) {
		share_warn(t, in->name, "memory used", (double)in->mem_used, (double)in->mem_total,
		           true, true);
	}
	if (in->cpus > 0 && (double)h->alloc_cpus / in->cpus > VCPU_RATIO_WARN) {
		warn(t, TOPO_WARN, in->name,
		     "%d vCPUs given to running guests on %d threads (%.1f×)", h->alloc_cpus,
		     in->cpus, (double)h->alloc_cpus / in->cpus);
	}
}

static void node_warnings(struct topology *t, const struct topo_node *n)
{
	char subject[200];
	snprintf(subject, sizeof(subject), "node %s", n->in->name);
	const struct topo_node_in *in = n->in;
	share_warn(t, subject, "CPU requests", n->requests_cpu, in->alloc_cpu, false, false);
	share_warn(t, subject, "memory requests", (double)n->requests_mem, (double)in->alloc_mem,
	           true, false);
	if (in->alloc_mem > 0 && n->limits_mem > in->alloc_mem) {
		char a[32], b[32];
		bytes(n->limits_mem, a, sizeof(a));
		bytes(in->alloc_mem, b, sizeof(b));
		warn(t, TOPO_WARN, subject,
		     "memory limits %s > allocatable %s: pods that reach their limits together run "
		     "the node out of memory",
		     a, b);
	}
	if (in->usage_mem >= 0) {
		share_warn(t, subject, "memory in use", (double)in->usage_mem,
		           (double)in->alloc_mem, true, true);
	}
}

static void model_warnings(struct topology *t, const struct topo_guest_in *g)
{
	const struct topology_input *in = t->in;
	int64_t loaded = 0;
	for (size_t i = 0; i < in->n_loaded; i++) {
		loaded = quantity_add(loaded, in->loaded[i].size);
	}
	char a[32], b[32], c[32];
	char subject[200];
	snprintf(subject, sizeof(subject), "%d %s", g->vmid, g->name ? g->name : "");
	if (g->mem_total > 0 && loaded > g->mem_total) {
		bytes(loaded, a, sizeof(a));
		bytes(g->mem_total, b, sizeof(b));
		warn(t, TOPO_CRIT, subject, "loaded models %s > the guest's memory %s", a, b);
	}
	if (g->mem_total <= 0 || g->mem_used < 0) {
		return;
	}
	int64_t free_mem = g->mem_total - g->mem_used;
	for (size_t i = 0; i < in->n_available; i++) {
		const struct topo_model_in *m = &in->available[i];
		bool is_loaded = false;
		for (size_t j = 0; j < in->n_loaded; j++) {
			/* /api/ps names "bge-m3:latest" where /api/tags may too: compare whole. */
			is_loaded |= m->name && in->loaded[j].name &&
			             strcmp(m->name, in->loaded[j].name) == 0;
		}
		if (is_loaded || m->size <= free_mem) {
			continue;
		}
		char ms[200];
		snprintf(ms, sizeof(ms), "model %s", m->name ? m->name : "?");
		bytes(m->size, a, sizeof(a));
		bytes(free_mem < 0 ? 0 : free_mem, b, sizeof(b));
		bytes(g->mem_total, c, sizeof(c));
		warn(t, TOPO_WARN, ms,
		     "loading it (%s) would not fit on %d %s: %s free of %s (Ollama would unload "
		     "others first)",
		     a, g->vmid, g->name ? g->name : "", b, c);
	}
}

static int guest_cmp(const void *a, const void *b)
{
	const struct topo_guest *x = a, *y = b;
	return (x->in->vmid > y->in->vmid) - (x->in->vmid < y->in->vmid);
}

void topology_build(const struct topology_input *in, struct topology *out)
{
	memset(out, 0, sizeof(*out));
	out->in = in;
	/* Nodes: match each, count the pods on it. */
	out->nodes = xcalloc(in->n_nodes ? in->n_nodes : 1, sizeof(*out->nodes));
	out->n_nodes = in->n_nodes;
	const struct topo_guest_in **node_guest =
	        xcalloc(in->n_nodes ? in->n_nodes : 1, sizeof(*node_guest));
	out->unmatched = xcalloc(in->n_nodes ? in->n_nodes : 1, sizeof(*out->unmatched));
	for (size_t i = 0; i < in->n_nodes; i++) {
		struct topo_node *n = &out->nodes[i];
		n->in = &in->nodes[i];
		node_guest[i] = match_node(in, n->in, &n->match);
		if (!node_guest[i]) {
			out->unmatched[out->n_unmatched++] = n->in->name;
		}
		for (size_t p = 0; p < in->n_pods; p++) {
			const struct topo_pod_in *pod = &in->pods[p];
			if (!pod->finished && pod->node && strcmp(pod->node, n->in->name) == 0) {
				add_pod(n, pod);
			}
		}
		if (n->n_workloads > 1) {
			qsort(n->workloads, n->n_workloads, sizeof(*n->workloads), workload_cmp);
		}
	}
	/* Hosts and their guests. */
	const struct topo_guest_in *inference = ollama_guest(in);
	out->hosts = xcalloc(in->n_hosts ? in->n_hosts : 1, sizeof(*out->hosts));
	out->n_hosts = in->n_hosts;
	for (size_t i = 0; i < in->n_hosts; i++) {
		struct topo_host *h = &out->hosts[i];
		h->in = &in->hosts[i];
		for (size_t g = 0; g < in->n_guests; g++) {
			const struct topo_guest_in *gi = &in->guests[g];
			if (!gi->host || strcmp(gi->host, h->in->name) != 0) {
				continue;
			}
			h->guests = xrealloc(h->guests, (h->n_guests + 1) * sizeof(*h->guests));
			struct topo_guest *tg = &h->guests[h->n_guests++];
			memset(tg, 0, sizeof(*tg));
			tg->in = gi;
			tg->runs_ollama = gi == inference;
			for (size_t n = 0; n < in->n_nodes; n++) {
				if (node_guest[n] == gi && !tg->node) {
					tg->node = &out->nodes[n];
				}
			}
			if (running(gi)) {
				if (gi->cpus > 0) {
					h->alloc_cpus = h->alloc_cpus > INT_MAX - gi->cpus
					                        ? INT_MAX
					                        : h->alloc_cpus + gi->cpus;
				}
				if (gi->mem_total > 0) {
					h->alloc_mem = quantity_add(h->alloc_mem, gi->mem_total);
				}
			}
		}
		if (h->n_guests > 1) {
			qsort(h->guests, h->n_guests, sizeof(*h->guests), guest_cmp);
		}
	}
	/* Warnings, host by host, top to bottom. */
	for (size_t i = 0; i < out->n_hosts; i++) {
		struct topo_host *h = &out->hosts[i];
		host_warnings(out, h);
		for (size_t g = 0; g < h->n_guests; g++) {
			const struct topo_guest *tg = &h->guests[g];
			const struct topo_guest_in *gi = tg->in;
			if (running(gi) && gi->mem_total > 0 && gi->mem_used >= 0) {
				char subject[200];
				snprintf(subject, sizeof(subject), "%d %s", gi->vmid,
				         gi->name ? gi->name : "");
				share_warn(out, subject, "memory used", (double)gi->mem_used,
				           (double)gi->mem_total, true, true);
			}
			if (tg->node) {
				node_warnings(out, tg->node);
			}
			if (tg->runs_ollama) {
				model_warnings(out, gi);
			}
		}
	}
	for (size_t i = 0; i < out->n_nodes; i++) {
		if (!node_guest[i]) {
			node_warnings(out, &out->nodes[i]);
		}
	}
	free(node_guest);
}

void topology_finish(struct topology *t)
{
	for (size_t i = 0; i < t->n_nodes; i++) {
		for (size_t w = 0; w < t->nodes[i].n_workloads; w++) {
			free(t->nodes[i].workloads[w].namespace_);
			free(t->nodes[i].workloads[w].name);
			free(t->nodes[i].workloads[w].kind);
		}
		free(t->nodes[i].workloads);
	}
	free(t->nodes);
	for (size_t i = 0; i < t->n_hosts; i++) {
		free(t->hosts[i].guests);
	}
	free(t->hosts);
	free(t->unmatched);
	for (size_t i = 0; i < t->n_warnings; i++) {
		free(t->warnings[i].subject);
		free(t->warnings[i].message);
	}
	free(t->warnings);
	memset(t, 0, sizeof(*t));
}

/* --- JSON --- */

static json_t *jnum(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static json_t *jbytes(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *jint(int v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *jstr(const char *s)
{
	json_t *v = s ? json_string(s) : NULL;
	return v ? v : json_null(); /* json_string refuses invalid UTF-8: null, never a crash */
}

static json_t *node_json(const struct topo_node *n)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", jstr(n->in->name));
	json_object_set_new(o, "match", json_string(topology_match_name(n->match)));
	json_object_set_new(o, "alloc_cpu", jnum(n->in->alloc_cpu));
	json_object_set_new(o, "alloc_mem", jbytes(n->in->alloc_mem));
	json_object_set_new(o, "requests_cpu", json_real(n->requests_cpu));
	json_object_set_new(o, "requests_mem", json_integer(n->requests_mem));
	json_object_set_new(o, "limits_cpu", json_real(n->limits_cpu));
	json_object_set_new(o, "limits_mem", json_integer(n->limits_mem));
	json_object_set_new(o, "usage_cpu", jnum(n->in->usage_cpu));
	json_object_set_new(o, "usage_mem", jbytes(n->in->usage_mem));
	json_t *ws = json_array();
	for (size_t i = 0; i < n->n_workloads; i++) {
		const struct topo_workload *w = &n->workloads[i];
		json_t *wo = json_object();
		json_object_set_new(wo, "namespace", jstr(w->namespace_));
		json_object_set_new(wo, "name", jstr(w->name));
		json_object_set_new(wo, "kind", jstr(w->kind));
		json_object_set_new(wo, "pods", json_integer(w->pods));
		json_object_set_new(wo, "requests_cpu", json_real(w->requests_cpu));
		json_object_set_new(wo, "requests_mem", json_integer(w->requests_mem));
		json_array_append_new(ws, wo);
	}
	json_object_set_new(o, "workloads", ws);
	return o;
}

static json_t *models_json(const struct topology_input *in)
{
	json_t *a = json_array();
	for (size_t i = 0; i < in->n_loaded; i++) {
		const struct topo_model_in *m = &in->loaded[i];
		json_t *o = json_object();
		json_object_set_new(o, "name", jstr(m->name));
		json_object_set_new(o, "size", jbytes(m->size));
		json_object_set_new(o, "size_vram", jbytes(m->size_vram));
		json_object_set_new(o, "expires_at", jstr(m->expires_at));
		json_array_append_new(a, o);
	}
	return a;
}

json_t *topology_to_json(const struct topology *t)
{
	json_t *root = json_object();
	json_t *hosts = json_array();
	for (size_t i = 0; i < t->n_hosts; i++) {
		const struct topo_host *h = &t->hosts[i];
		json_t *ho = json_object();
		json_object_set_new(ho, "name", jstr(h->in->name));
		json_object_set_new(ho, "cpus", jint(h->in->cpus));
		json_object_set_new(ho, "mem_total", jbytes(h->in->mem_total));
		/* cores, as everywhere in the topology */
		json_object_set_new(ho, "cpu_used",
		                    h->in->cpus > 0 ? jnum(h->in->cpu_used * h->in->cpus)
		                                    : json_null());
		json_object_set_new(ho, "mem_used", jbytes(h->in->mem_used));
		json_object_set_new(ho, "alloc_cpus", json_integer(h->alloc_cpus));
		json_object_set_new(ho, "alloc_mem", json_integer(h->alloc_mem));
		json_t *gs = json_array();
		for (size_t g = 0; g < h->n_guests; g++) {
			const struct topo_guest *tg = &h->guests[g];
			const struct topo_guest_in *gi = tg->in;
			json_t *go = json_object();
			json_object_set_new(go, "vmid", json_integer(gi->vmid));
			json_object_set_new(go, "name", jstr(gi->name));
			json_object_set_new(go, "status", jstr(gi->status));
			json_object_set_new(go, "cpus", jint(gi->cpus));
			json_object_set_new(go, "mem_total", jbytes(gi->mem_total));
			json_object_set_new(go, "mem_used", jbytes(gi->mem_used));
			json_t *pt = json_array();
			for (size_t p = 0; p < gi->n_passthrough; p++) {
				json_array_append_new(pt, jstr(gi->passthrough[p]));
			}
			json_object_set_new(go, "passthrough", pt);
			json_object_set_new(go, "k8s_node",
			                    tg->node ? node_json(tg->node) : json_null());
			json_object_set_new(go, "models",
			                    tg->runs_ollama ? models_json(t->in) : json_array());
			json_array_append_new(gs, go);
		}
		json_object_set_new(ho, "guests", gs);
		json_array_append_new(hosts, ho);
	}
	json_object_set_new(root, "hosts", hosts);
	json_t *un = json_array();
	for (size_t i = 0; i < t->n_unmatched; i++) {
		json_array_append_new(un, jstr(t->unmatched[i]));
	}
	json_object_set_new(root, "unmatched_nodes", un);
	json_t *ws = json_array();
	for (size_t i = 0; i < t->n_warnings; i++) {
		const struct topo_warning *w = &t->warnings[i];
		json_t *wo = json_object();
		json_object_set_new(wo, "level",
		                    json_string(w->level == TOPO_CRIT ? "crit" : "warn"));
		json_object_set_new(wo, "subject", jstr(w->subject));
		json_object_set_new(wo, "message", jstr(w->message));
		json_array_append_new(ws, wo);
	}
	json_object_set_new(root, "warnings", ws);
	return root;
}
