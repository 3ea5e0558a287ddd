/* view_topology.c: view 8, the lab as one tree — hosts, their guests, the Kubernetes node in a
 * guest, its workloads, Ollama's models — each line with a bar of what is allocated (or used)
 * against what exists and the figures beside it; the warnings under the tree, each with its
 * level word. Enter folds or unfolds a line (nodes start folded so the tree fits 80x24). The
 * data is what the other views already keep: Proxmox and Kubernetes nodes and guests from the
 * status poller, pods from the pod store (asked, once, to carry their requests); the tree is
 * built again when they change. Of its own it asks only what nobody else does: a guest agent's
 * addresses once per running guest, and Ollama's models at most once per poll interval, when
 * the shared data moves. A source that fails is a line naming it; its last good data stays. */
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "format.h"
#include "k8s.h"
#include "llm.h"
#include "palette.h"
#include "pod_store.h"
#include "pve.h"
#include "status_poller.h"
#include "text.h"
#include "topology.h"
#include "topology_fetch.h"
#include "util.h"
#include "views.h"

/* How long a first tree waits for the pods' requests and the agents' addresses. */
#define FIRST_WAIT_S 3.0

enum line_kind { L_HOST, L_GUEST, L_NODE, L_WORKLOAD, L_MODEL, L_HEAD, L_WARNING, L_ERROR };

struct line {
	enum line_kind kind;
	int depth;
	char key[128];  /* for folding: "h:pve-a", "g:101", "n:k8s-node-a" */
	char jump[128]; /* what `o` opens: "g:101" (guests view), "p:FILTER" (pods view) */
	bool foldable, folded;
	char label[256];
	/* two figures: cpu and memory; alloc (or used) against cap; NAN / -1 unknown */
	double cpu_a, cpu_c;
	double mem_a, mem_c;
	char cpu_note[32], mem_note[32]; /* "used 1.2" */
	bool dim;
	enum theme_slot slot; /* for warnings and errors */
};

struct topo_view {
	struct view base;
	struct pve *pve; /* the guest agents are asked through it */
	struct llm *llm;
	struct topology_agents *agents;
	struct llm_call *ps_call, *tags_call;
	struct llm_models *loaded, *available; /* the last good answers */
	struct err models_err;                 /* the last failure, code 0: none */
	double models_at;                      /* monotonic seconds of the last ask, 0 never */
	char *ollama_host;
	double entered_at; /* monotonic seconds the view last came on screen */
	struct topology_input_buf buf;
	struct topology topo;
	bool built;
	bool visible;
	struct line *lines;
	size_t n_lines, cap_lines;
	size_t sel, top;
	char **toggled; /* keys whose fold differs from the default */
	size_t n_toggled;
};

/* --- folding --- */

static bool toggled(const struct topo_view *tv, const char *key)
{
	for (size_t i = 0; i < tv->n_toggled; i++) {
		if (strcmp(tv->toggled[i], key) == 0) {
			return true;
		}
	}
	return false;
}

static void toggle(struct topo_view *tv, const char *key)
{
	for (size_t i = 0; i < tv->n_toggled; i++) {
		if (strcmp(tv->toggled[i], key) == 0) {
			free(tv->toggled[i]);
			tv->toggled[i] = tv->toggled[--tv->n_toggled];
			return;
		}
	}
	tv->toggled = xrealloc(tv->toggled, (tv->n_toggled + 1) * sizeof(*tv->toggled));
	tv->toggled[tv->n_toggled++] = xstrdup(key);
}

/* --- the lines --- */

static struct line *add(struct topo_view *tv, enum line_kind kind, int depth)
{
	if (tv->n_lines == tv->cap_lines) {
		tv->cap_lines = tv->cap_lines ? tv->cap_lines * 2 : 64;
		tv->lines = xrealloc(tv->lines, tv->cap_lines * sizeof(*tv->lines));
	}
	struct line *l = &tv->lines[tv->n_lines++];
	memset(l, 0, sizeof(*l));
	l->kind = kind;
	l->depth = depth;
	l->cpu_a = l->cpu_c = l->mem_a = l->mem_c = NAN;
	l->slot = SLOT_NORMAL;
	return l;
}

static void foldable(struct topo_view *tv, struct line *l, const char *key, bool by_default)
{
	snprintf(l->key, sizeof(l->key), "%s", key);
	l->foldable = true;
	l->folded = by_default != toggled(tv, key);
}

static void node_lines(struct topo_view *tv, const struct topo_node *n, int depth)
{
	struct line *l = add(tv, L_NODE, depth);
	char key[160];
	snprintf(key, sizeof(key), "n:%s", n->in->name ? n->in->name : "");
	foldable(tv, l, key, true);
	snprintf(l->jump, sizeof(l->jump), "p:%s", n->in->name ? n->in->name : "");
	snprintf(l->label, sizeof(l->label), "node %s (%s)", n->in->name ? n->in->name : "-",
	         topology_match_name(n->match));
	l->cpu_a = n->requests_cpu;
	l->cpu_c = n->in->alloc_cpu;
	l->mem_a = (double)n->requests_mem;
	l->mem_c = n->in->alloc_mem >= 0 ? (double)n->in->alloc_mem : NAN;
	if (!isnan(n->in->usage_cpu)) {
		snprintf(l->cpu_note, sizeof(l->cpu_note), "used %.1f", n->in->usage_cpu);
	}
	if (n->in->usage_mem >= 0) {
		char b[32];
		format_bytes(n->in->usage_mem, b, sizeof(b));
		snprintf(l->mem_note, sizeof(l->mem_note), "used %s", b);
	}
	if (l->folded) {
		return;
	}
	for (size_t i = 0; i < n->n_workloads; i++) {
		const struct topo_workload *w = &n->workloads[i];
		struct line *wl = add(tv, L_WORKLOAD, depth + 1);
		snprintf(wl->jump, sizeof(wl->jump), "p:%s", w->name);
		snprintf(wl->label, sizeof(wl->label), "%s/%s %s×%d", w->namespace_, w->name,
		         w->kind, w->pods);
		wl->cpu_a = w->requests_cpu;
		wl->cpu_c = n->in->alloc_cpu;
		wl->mem_a = (double)w->requests_mem;
		wl->mem_c = n->in->alloc_mem >= 0 ? (double)n->in->alloc_mem : NAN;
	}
}

static void error_line(struct topo_view *tv, const char *backend, const char *msg)
{
	struct line *l = add(tv, L_ERROR, 0);
	l->slot = SLOT_ERROR;
	snprintf(l->label, sizeof(l->label), "✗ %s: %s (last good data kept)", backend, msg);
}

/* The failing sources, each once: the shared pollers' health, the agents', Ollama's. */
static void error_lines(struct topo_view *tv)
{
	struct app *a = tv->base.app;
	struct status_poller *p = app_poller(a);
	const struct health *h = p ? status_poller_health(p, NODE_PROXMOX) : NULL;
	if (h && h->state == HEALTH_FAILING) {
		error_line(tv, "proxmox", h->last_err.msg);
	}
	h = p ? status_poller_health(p, NODE_KUBERNETES) : NULL;
	bool k8s_failing = h && h->state == HEALTH_FAILING;
	if (k8s_failing) {
		error_line(tv, "kubernetes", h->last_err.msg);
	}
	h = app_pods(a) ? pod_store_health(app_pods(a)) : NULL;
	if (!k8s_failing && h && h->state == HEALTH_FAILING) {
		error_line(tv, "kubernetes", h->last_err.msg);
	}
	size_t n;
	const struct topology_fetch_error *e = topology_agents_errors(tv->agents, &n);
	for (size_t i = 0; i < n; i++) {
		error_line(tv, e[i].backend, e[i].err.msg);
	}
	if (tv->models_err.code) {
		error_line(tv, "ollama", tv->models_err.msg);
	}
}

static void build_lines(struct topo_view *tv)
{
	tv->n_lines = 0;
	error_lines(tv);
	if (!tv->built) {
		struct line *l = add(tv, L_HEAD, 0);
		snprintf(l->label, sizeof(l->label), "%s", "waiting for Proxmox and Kubernetes…");
		l->dim = true;
		return;
	}
	const struct topology *t = &tv->topo;
	for (size_t i = 0; i < t->n_hosts; i++) {
		const struct topo_host *h = &t->hosts[i];
		struct line *l = add(tv, L_HOST, 0);
		char key[160];
		snprintf(key, sizeof(key), "h:%s", h->in->name ? h->in->name : "");
		foldable(tv, l, key, false);
		snprintf(l->label, sizeof(l->label), "%s", h->in->name ? h->in->name : "-");
		l->cpu_a = h->alloc_cpus;
		l->cpu_c = h->in->cpus > 0 ? h->in->cpus : NAN;
		l->mem_a = (double)h->alloc_mem;
		l->mem_c = h->in->mem_total > 0 ? (double)h->in->mem_total : NAN;
		if (h->in->cpus > 0 && !isnan(h->in->cpu_used)) {
			snprintf(l->cpu_note, sizeof(l->cpu_note), "used %.1f",
			         h->in->cpu_used * h->in->cpus);
		}
		if (h->in->mem_used >= 0) {
			char b[32];
			format_bytes(h->in->mem_used, b, sizeof(b));
			snprintf(l->mem_note, sizeof(l->mem_note), "used %s", b);
		}
		if (l->folded) {
			continue;
		}
		for (size_t g = 0; g < h->n_guests; g++) {
			const struct topo_guest *tg = &h->guests[g];
			const struct topo_guest_in *gi = tg->in;
			struct line *gl = add(tv, L_GUEST, 1);
			snprintf(gl->jump, sizeof(gl->jump), "g:%d", gi->vmid);
			bool has_children = tg->node || tg->runs_ollama;
			bool running = gi->status && strcmp(gi->status, "running") == 0;
			snprintf(key, sizeof(key), "g:%d", gi->vmid);
			if (has_children) {
				foldable(tv, gl, key, false);
			}
			snprintf(gl->label, sizeof(gl->label), "%d %s %s%s", gi->vmid,
			         gi->name ? gi->name : "-", running ? "●" : "○",
			         gi->n_passthrough ? " ⚡PCI" : "");
			gl->dim = !running;
			gl->cpu_a = gi->cpus > 0 ? gi->cpus : NAN;
			gl->cpu_c = h->in->cpus > 0 ? h->in->cpus : NAN;
			gl->mem_a = gi->mem_used >= 0 && running ? (double)gi->mem_used : NAN;
			gl->mem_c = gi->mem_total > 0 ? (double)gi->mem_total : NAN;
			snprintf(gl->cpu_note, sizeof(gl->cpu_note), "%s",
			         running ? "vCPU" : "stopped");
			if (!has_children || gl->folded) {
				continue;
			}
			if (tg->node) {
				node_lines(tv, tg->node, 2);
			}
			if (tg->runs_ollama) {
				for (size_t m = 0; m < t->in->n_loaded; m++) {
					const struct topo_model_in *mi = &t->in->loaded[m];
					struct line *ml = add(tv, L_MODEL, 2);
					snprintf(ml->label, sizeof(ml->label), "model %s",
					         mi->name ? mi->name : "-");
					ml->mem_a = mi->size >= 0 ? (double)mi->size : NAN;
					ml->mem_c = gi->mem_total > 0 ? (double)gi->mem_total : NAN;
					if (mi->size_vram >= 0) {
						char b[32];
						format_bytes(mi->size_vram, b, sizeof(b));
						snprintf(ml->mem_note, sizeof(ml->mem_note),
						         "VRAM %s", b);
					}
				}
			}
		}
	}
	if (t->n_unmatched) {
		struct line *l = add(tv, L_HEAD, 0);
		snprintf(l->label, sizeof(l->label),
		         "Kubernetes nodes in no guest (add node = VMID to [topology]):");
		for (size_t i = 0; i < t->n_nodes; i++) {
			for (size_t u = 0; u < t->n_unmatched; u++) {
				if (t->unmatched[u] == t->nodes[i].in->name) {
					node_lines(tv, &t->nodes[i], 1);
				}
			}
		}
	}
	struct line *l = add(tv, L_HEAD, 0);
	snprintf(l->label, sizeof(l->label), "%s",
	         t->n_warnings ? "Warnings:" : "No warnings: nothing over budget.");
	for (size_t i = 0; i < t->n_warnings; i++) {
		const struct topo_warning *w = &t->warnings[i];
		struct line *wl = add(tv, L_WARNING, 1);
		wl->slot = w->level == TOPO_CRIT ? SLOT_GAUGE_HIGH : SLOT_GAUGE_MID;
		snprintf(wl->label, sizeof(wl->label), "%s %s: %s",
		         w->level == TOPO_CRIT ? "CRIT" : "WARN", w->subject, w->message);
	}
	if (tv->sel >= tv->n_lines) {
		tv->sel = tv->n_lines ? tv->n_lines - 1 : 0;
	}
}

/* --- data --- */

static const struct k8s_node_extra *extra_by_name(const void *ctx, size_t index,
                                                  const struct node_row *row)
{
	(void)index;
	return status_poller_k8s_extra(ctx, row->name);
}

/* rebuild lays the tree out again from the shared data as it is now. */
static void rebuild(struct topo_view *tv)
{
	struct app *a = tv->base.app;
	struct status_poller *p = app_poller(a);
	struct pod_store *ps = app_pods(a);
	if (tv->built) {
		topology_finish(&tv->topo);
		tv->built = false;
	}
	if (p) {
		const struct guest_list *gl = status_poller_guests(p);
		topology_agents_update(tv->agents, gl);
		size_t n_pods = 0;
		const struct pod_row *pods = ps ? pod_store_pods(ps, &n_pods) : NULL;
		struct topology_parts parts = {
		        .pve_nodes = status_poller_nodes(p),
		        .guests = gl,
		        .agents = tv->agents,
		        .k8s_nodes = status_poller_nodes(p),
		        .k8s_extra = extra_by_name,
		        .k8s_extra_ctx = p,
		        .k8s_metrics = status_poller_k8s_metrics(p),
		        .pods = pods,
		        .n_pods = n_pods,
		        .loaded = tv->loaded,
		        .available = tv->available,
		        .ollama_host = tv->ollama_host,
		};
		topology_input_fill(&tv->buf, &parts, app_config(a));
		/* Nothing to draw before the first poll answered, nor (for a few seconds) before
		 * the pods' requests and the agents' addresses are in: a tree that says "0
		 * requested" or "matched by name" and changes a moment later would mislead. */
		bool pods_in = !ps || pod_store_has_resources(ps) ||
		               pod_store_health(ps)->state == HEALTH_FAILING;
		bool agents_in = topology_agents_pending(tv->agents) == 0;
		bool waited = (double)now_mono_ms() / 1000.0 - tv->entered_at > FIRST_WAIT_S;
		if ((parts.pve_nodes->len || gl->len) && ((pods_in && agents_in) || waited)) {
			topology_build(&tv->buf.in, &tv->topo);
			tv->built = true;
		}
	}
	build_lines(tv);
	app_dirty(a);
}

static void on_agents_changed(void *ud)
{
	rebuild(ud);
}

static void on_models(struct topo_view *tv, struct llm_models **slot, struct llm_models *models,
                      const struct err *err)
{
	if (err) {
		tv->models_err = *err;
		llm_models_free(models);
	} else {
		llm_models_free(*slot);
		*slot = models;
		if (!tv->ps_call && !tv->tags_call) {
			err_clear(&tv->models_err);
		}
	}
	rebuild(tv);
}

static void on_ps(void *ud, struct llm_models *models, const struct err *err)
{
	struct topo_view *tv = ud;
	tv->ps_call = NULL;
	on_models(tv, &tv->loaded, models, err);
}

static void on_tags(void *ud, struct llm_models *models, const struct err *err)
{
	struct topo_view *tv = ud;
	tv->tags_call = NULL;
	on_models(tv, &tv->available, models, err);
}

/* ask_models asks Ollama what is loaded and installed, unless it did within the poll interval
 * (force: now, for `r`). */
static void ask_models(struct topo_view *tv, bool force)
{
	if (!tv->llm || tv->ps_call || tv->tags_call) {
		return;
	}
	struct status_poller *p = app_poller(tv->base.app);
	int every = p ? status_poller_interval_s(p) : app_refresh_s(tv->base.app);
	double now = (double)now_mono_ms() / 1000.0;
	if (!force && tv->models_at > 0 && now - tv->models_at < (double)(every > 0 ? every : 5)) {
		return;
	}
	tv->models_at = now;
	tv->ps_call = llm_ollama_ps(tv->llm, on_ps, tv);
	tv->tags_call = llm_ollama_tags(tv->llm, on_tags, tv);
}

static void cancel_models(struct topo_view *tv)
{
	if (tv->ps_call) {
		(void)llm_cancel(tv->ps_call);
		tv->ps_call = NULL;
	}
	if (tv->tags_call) {
		(void)llm_cancel(tv->tags_call);
		tv->tags_call = NULL;
	}
}

/* The shared data changed (a poll, a pod event): the tree follows. */
static void data_changed(struct topo_view *tv)
{
	if (!tv->visible) {
		return;
	}
	ask_models(tv, false);
	rebuild(tv);
}

/* --- drawing --- */

static int put(WINDOW *w, int y, int x, int cols, enum theme_slot slot, const char *s, int width)
{
	if (x >= cols || width <= 0) {
		return x;
	}
	if (width > cols - x) {
		width = cols - x;
	}
	char *safe = text_sanitize(s, false);
	char *fit = text_fit(safe, width, false);
	wattrset(w, palette_attr(slot));
	mvwaddstr(w, y, x, fit);
	free(fit);
	free(safe);
	return x + width;
}

static enum theme_slot level_slot(double f)
{
	return isnan(f)   ? SLOT_DIM
	       : f >= 0.9 ? SLOT_GAUGE_HIGH
	       : f >= 0.7 ? SLOT_GAUGE_MID
	                  : SLOT_GAUGE_LOW;
}

/* A bar of width cells for a/c; then "A/C" (and "!" at 90%, "!!" over) in text_w cells. */
static int figure(WINDOW *w, int y, int x, int cols, int bar_w, int text_w, double a, double c,
                  bool is_bytes, const char *note)
{
	double f = isnan(a) || isnan(c) || c <= 0 ? NAN : a / c;
	char bar[64] = "";
	size_t used = 0;
	int full = isnan(f) ? 0 : (int)lround((f > 1 ? 1 : f) * bar_w);
	for (int i = 0; i < full; i++) {
		used += (size_t)snprintf(bar + used, sizeof(bar) - used, "█");
	}
	x = put(w, y, x, cols, level_slot(f), bar, full);
	bar[0] = '\0';
	used = 0;
	for (int i = full; i < bar_w; i++) {
		used += (size_t)snprintf(bar + used, sizeof(bar) - used, "░");
	}
	x = put(w, y, x, cols, SLOT_DIM, bar, bar_w - full);
	char as[24], cs[24], text[96];
	if (is_bytes) {
		if (isnan(a)) {
			snprintf(as, sizeof(as), "-");
		} else {
			format_bytes((int64_t)a, as, sizeof(as));
		}
		if (isnan(c)) {
			snprintf(cs, sizeof(cs), "-");
		} else {
			format_bytes((int64_t)c, cs, sizeof(cs));
		}
	} else {
		snprintf(as, sizeof(as), isnan(a) ? "-" : "%.1f", a);
		snprintf(cs, sizeof(cs), isnan(c) ? "-" : c == floor(c) ? "%.0f" : "%.1f", c);
	}
	snprintf(text, sizeof(text), " %s/%s%s%s%s", as, cs,
	         isnan(f)   ? ""
	         : f > 1    ? "!!"
	         : f >= 0.9 ? "!"
	                    : "",
	         note && *note ? " " : "", note ? note : "");
	return put(w, y, x, cols, SLOT_NORMAL, text, text_w);
}

static void draw(struct view *v, WINDOW *w, int y, int h, int cols)
{
	struct topo_view *tv = (struct topo_view *)v;
	if (h <= 0) {
		return;
	}
	/* header: what the columns are */
	bool wide = cols >= 120;
	int bar_w = wide ? 10 : 5;
	int cpu_w = wide ? 26 : 9, mem_w = wide ? 30 : 15; /* "17.5Gi/31.1Gi!!" */
	int fig_w = 2 * bar_w + cpu_w + mem_w + 1;
	int label_w = cols - fig_w - 1;
	if (label_w < 20) {
		label_w = cols; /* too narrow for figures: labels only */
	}
	wattrset(w, palette_attr(SLOT_HEADER));
	mvwhline(w, y, 0, ' ', cols);
	put(w, y, 0, cols, SLOT_HEADER, "HOST / GUEST / NODE / WORKLOAD", label_w);
	if (label_w < cols) {
		put(w, y, label_w + 1, cols, SLOT_HEADER,
		    wide ? "CPU allocated/capacity" : "CPU alloc/cap", bar_w + cpu_w);
		put(w, y, label_w + 1 + bar_w + cpu_w + 1, cols, SLOT_HEADER,
		    wide ? "MEMORY allocated/capacity" : "MEM alloc/cap", bar_w + mem_w);
	}
	y++;
	h--;
	if (tv->sel < tv->top) {
		tv->top = tv->sel;
	}
	if (h > 0 && tv->sel >= tv->top + (size_t)h) {
		tv->top = tv->sel - (size_t)h + 1;
	}
	for (int r = 0; r < h; r++) {
		size_t i = tv->top + (size_t)r;
		wattrset(w, palette_attr(SLOT_NORMAL));
		mvwhline(w, y + r, 0, ' ', cols);
		if (i >= tv->n_lines) {
			continue;
		}
		const struct line *l = &tv->lines[i];
		bool sel = i == tv->sel;
		enum theme_slot slot = sel ? SLOT_SELECTED : l->dim ? SLOT_DIM : l->slot;
		if (sel) {
			wattrset(w, palette_attr(SLOT_SELECTED));
			mvwhline(w, y + r, 0, ' ', cols);
		}
		char text[400];
		snprintf(text, sizeof(text), "%*s%s%s", l->depth * 2, "",
		         l->foldable ? (l->folded ? "▸ " : "▾ ") : "  ", l->label);
		bool figures = label_w < cols &&
		               (l->kind == L_HOST || l->kind == L_GUEST || l->kind == L_NODE ||
		                l->kind == L_WORKLOAD || l->kind == L_MODEL);
		put(w, y + r, 0, cols, slot, text, figures ? label_w : cols);
		if (!figures) {
			continue;
		}
		int x = label_w + 1;
		if (l->kind == L_MODEL) {
			x += bar_w + cpu_w + 1;
		} else {
			x = figure(w, y + r, x, cols, bar_w, cpu_w, l->cpu_a, l->cpu_c, false,
			           wide ? l->cpu_note : NULL);
			x++;
		}
		figure(w, y + r, x, cols, bar_w, mem_w, l->mem_a, l->mem_c, true,
		       wide ? l->mem_note : NULL);
	}
	wattrset(w, palette_attr(SLOT_NORMAL));
}

/* --- the view --- */

static bool handle(struct view *v, enum action a, int key)
{
	struct topo_view *tv = (struct topo_view *)v;
	size_t n = tv->n_lines;
	switch (a) {
	case ACT_DOWN:
		if (tv->sel + 1 < n) {
			tv->sel++;
		}
		return true;
	case ACT_UP:
		if (tv->sel > 0) {
			tv->sel--;
		}
		return true;
	case ACT_TOP:
		tv->sel = 0;
		return true;
	case ACT_BOTTOM:
		tv->sel = n ? n - 1 : 0;
		return true;
	case ACT_PAGE_DOWN:
		tv->sel = tv->sel + 10 < n ? tv->sel + 10 : (n ? n - 1 : 0);
		return true;
	case ACT_PAGE_UP:
		tv->sel = tv->sel > 10 ? tv->sel - 10 : 0;
		return true;
	case ACT_ENTER:
	case ACT_TOPO_FOLD:
		if (tv->sel < n && tv->lines[tv->sel].foldable) {
			toggle(tv, tv->lines[tv->sel].key);
			build_lines(tv);
		}
		return true;
	case ACT_TOPO_OPEN:
		/* A guest opens in the guests view, a node or workload as the pods view filtered
		 * to it. */
		if (tv->sel < n && tv->lines[tv->sel].jump[0]) {
			const char *j = tv->lines[tv->sel].jump;
			if (j[0] == 'g') {
				app_show(v->app, 2, j + 2, NULL);
			} else {
				app_show(v->app, 3, NULL, j + 2);
			}
		} else {
			app_message(v->app, false,
			            "o opens a guest, node or workload line in its view");
		}
		return true;
	case ACT_REFRESH:
		if (app_poller(v->app)) {
			status_poller_refresh_now(app_poller(v->app));
		}
		if (app_pods(v->app)) {
			pod_store_refresh(app_pods(v->app));
		}
		ask_models(tv, true);
		app_message(v->app, false, "asking Proxmox, Kubernetes and Ollama again…");
		return true;
	case ACT_NONE:
		if (key == -1) {
			data_changed(tv);
		}
		return false;
	default:
		return false;
	}
}

static void title(struct view *v, char *out, size_t size)
{
	struct topo_view *tv = (struct topo_view *)v;
	size_t warn = tv->built ? tv->topo.n_warnings : 0;
	char w[32] = "";
	if (warn) {
		snprintf(w, sizeof(w), " %zu warning%s", warn, warn == 1 ? "" : "s");
	}
	snprintf(out, size, "topology%s", w);
}

static void enter(struct view *v)
{
	struct topo_view *tv = (struct topo_view *)v;
	tv->visible = true;
	tv->entered_at = (double)now_mono_ms() / 1000.0;
	/* The data on screen: the poller at its on-screen pace, pods with their requests. */
	if (app_poller(v->app)) {
		status_poller_set_visible(app_poller(v->app), true);
	}
	if (app_pods(v->app)) {
		pod_store_want_resources(app_pods(v->app));
	}
	ask_models(tv, false);
	rebuild(tv);
}

static void leave(struct view *v)
{
	struct topo_view *tv = (struct topo_view *)v;
	tv->visible = false;
	if (app_poller(v->app)) {
		status_poller_set_visible(app_poller(v->app), false);
	}
	cancel_models(tv);
}

static bool cancel(struct view *v)
{
	struct topo_view *tv = (struct topo_view *)v;
	if (!tv->ps_call && !tv->tags_call) {
		return false;
	}
	cancel_models(tv);
	return true;
}

static void destroy(struct view *v)
{
	struct topo_view *tv = (struct topo_view *)v;
	cancel_models(tv);
	topology_agents_destroy(tv->agents);
	if (tv->built) {
		topology_finish(&tv->topo);
	}
	topology_input_buf_finish(&tv->buf);
	llm_models_free(tv->loaded);
	llm_models_free(tv->available);
	free(tv->ollama_host);
	llm_destroy(tv->llm);
	pve_destroy(tv->pve);
	for (size_t i = 0; i < tv->n_toggled; i++) {
		free(tv->toggled[i]);
	}
	free(tv->toggled);
	free(tv->lines);
	free(tv);
}

static const struct view_ops ops = {
        .name = "topology",
        .scope = SCOPE_TOPOLOGY,
        .draw = draw,
        .handle = handle,
        .title = title,
        .enter = enter,
        .leave = leave,
        .cancel = cancel,
        .destroy = destroy,
};

struct view *view_topology_create(struct app *a)
{
	struct topo_view *tv = xcalloc(1, sizeof(*tv));
	tv->base.ops = &ops;
	tv->base.app = a;
	const struct config *cfg = app_config(a);
	if (cfg->proxmox.configured && cfg->proxmox.token_secret) {
		tv->pve = pve_create(app_http(a), &cfg->proxmox);
	}
	if (cfg->ollama.configured) {
		tv->llm = llm_create(app_http(a), cfg);
		tv->ollama_host = topology_fetch_url_host(cfg->ollama.url);
	}
	tv->agents = topology_agents_create(tv->pve, on_agents_changed, tv);
	err_clear(&tv->models_err);
	build_lines(tv);
	return &tv->base;
}
