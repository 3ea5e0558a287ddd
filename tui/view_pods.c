/* view_pods.c: view 3 — pods, kept live by the pod store's LIST + WATCH. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "format.h"
#include "palette.h"
#include "pod_store.h"
#include "util.h"

struct pods_view {
	struct view base;
	struct listview lv;
	const struct pod_row *rows;
	size_t n_rows;
	uint64_t seen_gen;
	bool have_data;
	char ns[128]; /* "" = all namespaces */
	/* namespaces seen, for n and :ns completion */
	char **namespaces;
	size_t n_namespaces;
};

enum { C_NS, C_NAME, C_READY, C_STATUS, C_RESTARTS, C_AGE, C_IP, C_NODE, C_N };

static const struct list_column columns[C_N] = {
        [C_NS] = {"NAMESPACE", 20, false, false, false},
        [C_NAME] = {"NAME", 48, false, false, true, false, 0, true},
        [C_READY] = {"READY", 0, false, false, false},
        [C_STATUS] = {"STATUS", 24, false, false, false, false, 18},
        [C_RESTARTS] = {"RESTARTS", 0, true, true, false},
        [C_AGE] = {"AGE", 0, true, true, false},
        [C_IP] = {"IP", 15, false, false, false, true},
        [C_NODE] = {"NODE", 20, false, false, false, true},
};

static size_t p_count(void *ud)
{
	return ((struct pods_view *)ud)->n_rows;
}

static bool healthy(const struct pod_row *r)
{
	return str_eq(r->phase, "Running") || str_eq(r->phase, "Completed") ||
	       str_eq(r->phase, "Succeeded");
}

static void p_cell(void *ud, size_t row, size_t col, char *buf, size_t size)
{
	struct pods_view *p = ud;
	const struct pod_row *r = &p->rows[row];
	switch (col) {
	case C_NS:
		snprintf(buf, size, "%s", r->namespace_ ? r->namespace_ : "-");
		break;
	case C_NAME:
		snprintf(buf, size, "%s", r->name ? r->name : "");
		break;
	case C_READY:
		snprintf(buf, size, "%s", r->ready ? r->ready : "-");
		break;
	case C_STATUS:
		/* "!" marks a pod in trouble, in text as well as in colour. */
		snprintf(buf, size, "%s%s", healthy(r) ? "" : "! ", r->phase ? r->phase : "-");
		break;
	case C_RESTARTS:
		if (r->restarts < 0) {
			snprintf(buf, size, "-");
		} else {
			snprintf(buf, size, "%lld", (long long)r->restarts);
		}
		break;
	case C_AGE:
		format_duration(isnan(r->created) ? -1 : (int64_t)(now_wall() - r->created), buf,
		                size);
		break;
	case C_IP:
		snprintf(buf, size, "%s", r->ip ? r->ip : "-");
		break;
	case C_NODE:
		snprintf(buf, size, "%s", r->node ? r->node : "-");
		break;
	}
}

static double p_number(void *ud, size_t row, size_t col)
{
	const struct pod_row *r = &((struct pods_view *)ud)->rows[row];
	if (col == C_RESTARTS) {
		return (double)r->restarts;
	}
	if (col == C_AGE) {
		return isnan(r->created) ? 0 : -r->created; /* older first when ascending */
	}
	return 0;
}

static enum theme_slot p_slot(void *ud, size_t row)
{
	const struct pod_row *r = &((struct pods_view *)ud)->rows[row];
	if (healthy(r)) {
		return SLOT_NORMAL;
	}
	bool waiting = str_eq(r->phase, "Pending") || str_eq(r->phase, "ContainerCreating");
	return waiting ? SLOT_LOG_WARN : SLOT_ERROR;
}

static void p_key(void *ud, size_t row, char *buf, size_t size)
{
	const struct pod_row *r = &((struct pods_view *)ud)->rows[row];
	snprintf(buf, size, "%s/%s", r->namespace_ ? r->namespace_ : "", r->name ? r->name : "");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect_namespaces(struct pods_view *p)
{
	for (size_t i = 0; i < p->n_namespaces; i++) {
		free(p->namespaces[i]);
	}
	p->n_namespaces = 0;
	for (size_t i = 0; i < p->n_rows; i++) {
		const char *ns = p->rows[i].namespace_;
		if (!ns) {
			continue;
		}
		bool seen = false;
		for (size_t j = 0; j < p->n_namespaces && !seen; j++) {
			seen = strcmp(p->namespaces[j], ns) == 0;
		}
		if (!seen) {
			p->namespaces =
			        xrealloc(p->namespaces, (p->n_namespaces + 1) * sizeof(char *));
			p->namespaces[p->n_namespaces++] = xstrdup(ns);
		}
	}
	qsort(p->namespaces, p->n_namespaces, sizeof(char *), cmp_str);
}

static void sync_data(struct pods_view *p)
{
	struct pod_store *ps = app_pods(p->base.app);
	if (!ps) {
		return;
	}
	uint64_t gen = pod_store_generation(ps);
	if (gen == p->seen_gen && p->have_data) {
		return;
	}
	p->seen_gen = gen;
	p->have_data = true;
	p->rows = pod_store_pods(ps, &p->n_rows);
	if (!p->ns[0]) {
		collect_namespaces(p);
	}
	listview_data_changed(&p->lv);
}

static void draw(struct view *v, WINDOW *w, int y, int h, int cols)
{
	struct pods_view *p = (struct pods_view *)v;
	sync_data(p);
	if (!app_pods(v->app)) {
		wattrset(w, palette_attr(SLOT_DIM));
		mvwaddnstr(w, y + 1, 2,
		           "Kubernetes is not configured: no [kubernetes] section, KUBECONFIG is "
		           "unset "
		           "and ~/.kube/config does not exist",
		           cols - 4);
		return;
	}
	if (p->n_rows == 0) {
		wattrset(w, palette_attr(SLOT_DIM));
		mvwaddnstr(w, y + 1, 2, "no pods (yet): see the status line", cols - 4);
		return;
	}
	listview_draw(&p->lv, w, y, 0, h, cols);
}

void view_pods_set_namespace(struct view *v, const char *ns)
{
	struct pods_view *p = (struct pods_view *)v;
	snprintf(p->ns, sizeof(p->ns), "%s", ns ? ns : "");
	if (app_pods(v->app)) {
		pod_store_set_namespace(app_pods(v->app), ns);
	}
	p->have_data = false;
	p->lv.top = 0;
	p->lv.selected = 0;
	app_message(v->app, false, "namespace: %s", ns ? ns : "all");
}

size_t view_pods_namespaces(struct view *v, const char **out, size_t max)
{
	struct pods_view *p = (struct pods_view *)v;
	size_t n = 0;
	for (; n < p->n_namespaces && n < max; n++) {
		out[n] = p->namespaces[n];
	}
	return n;
}

/* n: all namespaces, then each one seen, then all again. */
static void next_namespace(struct pods_view *p)
{
	if (p->n_namespaces == 0) {
		return;
	}
	if (!p->ns[0]) {
		view_pods_set_namespace(&p->base, p->namespaces[0]);
		return;
	}
	for (size_t i = 0; i < p->n_namespaces; i++) {
		if (strcmp(p->namespaces[i], p->ns) == 0) {
			view_pods_set_namespace(
			        &p->base, i + 1 < p->n_namespaces ? p->namespaces[i + 1] : NULL);
			return;
		}
	}
	view_pods_set_namespace(&p->base, NULL);
}

static bool handle(struct view *v, enum action a, int key)
{
	struct pods_view *p = (struct pods_view *)v;
	if (a == ACT_NONE) {
		return false;
	}
	sync_data(p); /* the rows may have changed since the last draw */
	size_t row = listview_selected(&p->lv);
	const struct pod_row *r = row != (size_t)-1 ? &p->rows[row] : NULL;
	switch (a) {
	case ACT_ENTER:
		if (r) {
			app_push(v->app, view_pod_detail_create(v->app, r->namespace_, r->name));
		}
		return true;
	case ACT_LOGS:
		if (r) {
			app_push(v->app, view_logs_create(v->app, r->namespace_, r->name));
		}
		return true;
	case ACT_NAMESPACE:
		next_namespace(p);
		return true;
	default:
		return false;
	}
}

static void title(struct view *v, char *out, size_t size)
{
	struct pods_view *p = (struct pods_view *)v;
	sync_data(p);
	size_t bad = 0;
	for (size_t i = 0; i < p->n_rows; i++) {
		bad += !healthy(&p->rows[i]);
	}
	snprintf(out, size, "pods (%s) %zu%s", p->ns[0] ? p->ns : "all namespaces", p->n_rows,
	         bad ? "" : "");
	if (bad) {
		size_t n = strlen(out);
		snprintf(out + n, size - n, ", %zu not running", bad);
	}
}

static struct listview *list(struct view *v)
{
	return &((struct pods_view *)v)->lv;
}

static void destroy(struct view *v)
{
	struct pods_view *p = (struct pods_view *)v;
	for (size_t i = 0; i < p->n_namespaces; i++) {
		free(p->namespaces[i]);
	}
	free(p->namespaces);
	listview_finish(&p->lv);
	free(p);
}

static void sync(struct view *v)
{
	sync_data((struct pods_view *)v);
}

static const struct view_ops ops = {
        .name = "pods",
        .scope = SCOPE_PODS,
        .draw = draw,
        .handle = handle,
        .title = title,
        .list = list,
        .destroy = destroy,
        .sync = sync,
};

struct view *view_pods_create(struct app *a)
{
	struct pods_view *p = xcalloc(1, sizeof(*p));
	p->base.ops = &ops;
	p->base.app = a;
	const char *ns = app_config(a)->kubernetes.namespace_;
	snprintf(p->ns, sizeof(p->ns), "%s", ns ? ns : "");
	struct list_source src = {
	        .cols = columns,
	        .ncols = C_N,
	        .count = p_count,
	        .cell = p_cell,
	        .number = p_number,
	        .slot = p_slot,
	        .key = p_key,
	        .ud = p,
	};
	listview_init(&p->lv, &src);
	return &p->base;
}
