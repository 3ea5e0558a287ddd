/* view_nodes.c: view 1, the dashboard — "is my lab healthy?" at a glance: each Proxmox node with
 * CPU and memory gauges and their recent history, the guests (the one holding a PCI device
 * marked), the Kubernetes nodes with Ready, pressures and pods per node, and the pods' health. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "format.h"
#include "palette.h"
#include "pod_store.h"
#include "status_poller.h"
#include "text.h"
#include "util.h"

struct nodes_view {
	struct view base;
};

static enum theme_slot level_slot(double f)
{
	return isnan(f)    ? SLOT_DIM
	       : f >= 0.85 ? SLOT_GAUGE_HIGH
	       : f >= 0.6  ? SLOT_GAUGE_MID
	                   : SLOT_GAUGE_LOW;
}

/* Writes text at (y, x) within cols; returns the new x. */
static int put(WINDOW *w, int y, int x, int cols, enum theme_slot slot, const char *s)
{
	if (x >= cols) {
		return x;
	}
	char *safe = text_sanitize(s, false);
	int width = text_width(safe);
	wattrset(w, palette_attr(slot));
	if (x + width > cols) {
		char *fit = text_fit(safe, cols - x, false);
		mvwaddstr(w, y, x, fit);
		free(fit);
		x = cols;
	} else {
		mvwaddstr(w, y, x, safe);
		x += width;
	}
	free(safe);
	return x;
}

/* A bar of `width` cells with eighth-block precision, then the percentage as text. */
static int gauge(WINDOW *w, int y, int x, int cols, int width, double f)
{
	static const char *const eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
	char bar[128] = "";
	size_t used = 0;
	int cells = 0;
	if (!isnan(f)) {
		double v = f < 0 ? 0 : f > 1 ? 1 : f;
		int total = (int)lround(v * width * 8);
		for (; total >= 8 && cells < width; total -= 8, cells++) {
			used += (size_t)snprintf(bar + used, sizeof(bar) - used, "█");
		}
		if (total > 0 && cells < width) {
			used += (size_t)snprintf(bar + used, sizeof(bar) - used, "%s",
			                         eighths[total]);
			cells++;
		}
	}
	x = put(w, y, x, cols, level_slot(f), bar);
	char rest[128] = "";
	used = 0;
	for (; cells < width; cells++) {
		used += (size_t)snprintf(rest + used, sizeof(rest) - used, "░");
	}
	x = put(w, y, x, cols, SLOT_DIM, rest);
	char pct[16];
	format_percent(f, pct, sizeof(pct));
	char text[24];
	snprintf(text, sizeof(text), " %4s", pct);
	return put(w, y, x, cols, SLOT_NORMAL, text);
}

/* The last `width` samples as a sparkline. */
static int sparkline(WINDOW *w, int y, int x, int cols, int width, const double *v, size_t n)
{
	static const char *const ticks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
	size_t start = n > (size_t)width ? n - (size_t)width : 0;
	for (size_t i = start; i < n && x < cols; i++) {
		if (isnan(v[i])) {
			x = put(w, y, x, cols, SLOT_DIM, " ");
			continue;
		}
		double f = v[i] < 0 ? 0 : v[i] > 1 ? 1 : v[i];
		x = put(w, y, x, cols, level_slot(f), ticks[(int)lround(f * 7)]);
	}
	return x;
}

static int section(WINDOW *w, int y, int cols, const char *title, const char *note,
                   enum theme_slot note_slot)
{
	int x = put(w, y, 0, cols, SLOT_HEADER, title);
	if (note && *note) {
		put(w, y, x + 2, cols, note_slot, note);
	}
	return y + 1;
}

static size_t pods_on(const struct pod_row *pods, size_t n, const char *node, size_t *bad)
{
	size_t count = 0;
	*bad = 0;
	for (size_t i = 0; i < n; i++) {
		if (str_eq(pods[i].node, node)) {
			count++;
			if (!str_eq(pods[i].phase, "Running") &&
			    !str_eq(pods[i].phase, "Completed")) {
				(*bad)++;
			}
		}
	}
	return count;
}

static void age_note(struct status_poller *p, enum node_source src, char *out, size_t size)
{
	double at = status_poller_refreshed_at(p, src);
	if (at <= 0) {
		snprintf(out, size, "waiting for data…");
		return;
	}
	char age[32];
	format_duration((int64_t)(now_wall() - at), age, sizeof(age));
	snprintf(out, size, "data %s old", age);
}

/* The note beside a backend's heading: the age of its data or, while the backend fails, why, in
 * full as far as the width goes (the status line has room for the start only; what to do comes
 * after it). Returns the note's colour. */
static enum theme_slot source_note(struct app *a, enum node_source src, char *out, size_t size)
{
	struct status_poller *p = app_poller(a);
	const struct health *h = status_poller_health(p, src);
	const char *name = src == NODE_PROXMOX ? "proxmox: " : "kubernetes: ";
	if (src == NODE_KUBERNETES && app_pods(a)) {
		/* As on the status line: the worse of the node poll and the pod watch. */
		const struct health *hp = pod_store_health(app_pods(a));
		if (hp->state == HEALTH_FAILING) {
			h = hp;
		}
	}
	if (!h || h->state != HEALTH_FAILING) {
		age_note(p, src, out, size);
		return SLOT_DIM;
	}
	const char *why = h->last_err.msg;
	if (str_has_prefix(why, name)) {
		why += strlen(name);
	}
	snprintf(out, size, "✗ %s", why);
	return SLOT_ERROR;
}

static void draw(struct view *v, WINDOW *w, int y0, int h, int cols)
{
	struct app *a = v->app;
	struct status_poller *p = app_poller(a);
	const struct node_list *nodes = status_poller_nodes(p);
	const struct guest_list *guests = status_poller_guests(p);
	size_t n_pods = 0;
	const struct pod_row *pods = app_pods(a) ? pod_store_pods(app_pods(a), &n_pods) : NULL;
	int y = y0, bottom = y0 + h;
	int spark = cols >= 120 ? 30 : cols >= 100 ? 20 : 10;
	char note[600];

	/* Proxmox */
	enum theme_slot note_slot = source_note(a, NODE_PROXMOX, note, sizeof(note));
	if (!app_config(a)->proxmox.configured) {
		snprintf(note, sizeof(note),
		         "not configured: [proxmox] url, token_id, token_secret_env");
		note_slot = SLOT_DIM;
	}
	y = section(w, y, cols, "PROXMOX", note, note_slot);
	for (size_t i = 0; nodes && i < nodes->len && y + 1 < bottom; i++) {
		const struct node_row *n = &nodes->items[i];
		if (n->source != NODE_PROXMOX) {
			continue;
		}
		bool up = str_eq(n->status, "online");
		char head[160], up_s[32];
		format_duration(n->uptime, up_s, sizeof(up_s));
		int x = put(w, y, 1, cols, up ? SLOT_STATUS_OK : SLOT_STATUS_FAIL, up ? "●" : "✗");
		snprintf(head, sizeof(head), " %-10s %-8s", n->name ? n->name : "?",
		         n->status ? n->status : "?");
		x = put(w, y, x, cols, up ? SLOT_NORMAL : SLOT_ERROR, head);
		if (n->cpus > 0) {
			snprintf(head, sizeof(head), " %3d cpu", n->cpus);
			x = put(w, y, x, cols, SLOT_DIM, head);
		}
		if (up) {
			snprintf(head, sizeof(head), "  up %s", up_s);
			x = put(w, y, x, cols, SLOT_DIM, head);
		}
		y++;
		if (!up) {
			continue;
		}
		const double *hc = NULL, *hm = NULL;
		size_t hn = 0;
		status_poller_history(p, n->name, NODE_PROXMOX, &hc, &hm, &hn);
		x = put(w, y, 3, cols, SLOT_DIM, "CPU ");
		x = gauge(w, y, x, cols, 10, n->cpu);
		x = put(w, y, x, cols, SLOT_NORMAL, " ");
		x = sparkline(w, y, x, cols, spark, hc, hn);
		double mf = n->mem_total > 0 && n->mem_used >= 0
		                    ? (double)n->mem_used / (double)n->mem_total
		                    : NAN;
		x = put(w, y, x + 2, cols, SLOT_DIM, "MEM ");
		x = gauge(w, y, x, cols, 10, mf);
		char mem[48];
		format_usage(n->mem_used, n->mem_total, mem, sizeof(mem));
		x = put(w, y, x, cols, SLOT_DIM, " ");
		x = put(w, y, x, cols, SLOT_NORMAL, mem);
		x = put(w, y, x, cols, SLOT_NORMAL, " ");
		sparkline(w, y, x, cols, spark / 2, hm, hn);
		y++;
	}

	/* Guests */
	size_t running = 0, n_guests = guests ? guests->len : 0;
	for (size_t i = 0; i < n_guests; i++) {
		running += str_eq(guests->items[i].status, "running");
	}
	if (y + 1 < bottom) {
		snprintf(note, sizeof(note), "%zu, %zu running (2: all of them)", n_guests,
		         running);
		y = section(w, y, cols, "GUESTS", note, SLOT_DIM);
	}
	/* Keep room for the Kubernetes part below. */
	int k8s_rows = 2 + (nodes ? (int)nodes->len : 0);
	for (size_t i = 0; i < n_guests && y < bottom - k8s_rows; i++) {
		if (i + 1 < n_guests && y + 1 >= bottom - k8s_rows) {
			char more[64];
			snprintf(more, sizeof(more), "  … %zu more: press 2", n_guests - i);
			put(w, y++, 0, cols, SLOT_DIM, more);
			break;
		}
		const struct guest_row *g = &guests->items[i];
		bool run = str_eq(g->status, "running");
		char line[200], cpu[16], mem[48];
		format_percent(g->cpu, cpu, sizeof(cpu));
		format_usage(g->mem_used, g->mem_total, mem, sizeof(mem));
		int x = put(w, y, 1, cols, run ? SLOT_STATUS_OK : SLOT_DIM, run ? "▶" : "■");
		char *name = text_fit(g->name ? g->name : "", cols >= 100 ? 18 : 13, false);
		snprintf(line, sizeof(line), " %4d %s %-5s %-8s", g->vmid, name,
		         g->node ? g->node : "-", g->status ? g->status : "?");
		free(name);
		x = put(w, y, x, cols, run ? SLOT_NORMAL : SLOT_DIM, line);
		if (run) {
			snprintf(line, sizeof(line), " cpu %4s  mem %s", cpu, mem);
			x = put(w, y, x, cols, SLOT_NORMAL, line);
		}
		if (g->n_passthrough) {
			/* At 80 columns the domain goes: "◆ c5:00.0" still says which device. */
			const char *dev = g->passthrough[0];
			if (cols < 100 && str_has_prefix(dev, "0000:")) {
				dev += 5;
			}
			snprintf(line, sizeof(line), "  ◆ PCI %s%s", dev,
			         g->n_passthrough > 1 ? " +" : "");
			put(w, y, x, cols, SLOT_ACCENT, line);
		}
		y++;
	}

	/* Kubernetes */
	if (y < bottom) {
		note_slot = source_note(a, NODE_KUBERNETES, note, sizeof(note));
		if (!app_k8s(a)) {
			snprintf(note, sizeof(note), "not configured: no kubeconfig");
			note_slot = SLOT_DIM;
		} else if (note_slot == SLOT_DIM && !status_poller_k8s_metrics(p)) {
			size_t n = strlen(note);
			snprintf(note + n, sizeof(note) - n, ", no metrics-server: usage unknown");
		}
		y = section(w, y, cols, "KUBERNETES", note, note_slot);
	}
	for (size_t i = 0; nodes && i < nodes->len && y < bottom; i++) {
		const struct node_row *n = &nodes->items[i];
		if (n->source != NODE_KUBERNETES) {
			continue;
		}
		bool ready = str_eq(n->status, "Ready");
		int x = put(w, y, 1, cols,
		            ready && !n->pressures ? SLOT_STATUS_OK : SLOT_STATUS_FAIL,
		            ready && !n->pressures ? "✓" : "✗");
		char line[200];
		snprintf(line, sizeof(line), " %-12s %-6s%s%s%s", n->name ? n->name : "?",
		         n->status ? n->status : "?", n->unschedulable ? ",SchedulingDisabled" : "",
		         n->pressures ? "," : "", n->pressures ? n->pressures : "");
		x = put(w, y, x, cols, ready ? SLOT_NORMAL : SLOT_ERROR, line);
		size_t bad = 0, count = pods_on(pods, n_pods, n->name, &bad);
		snprintf(line, sizeof(line), " %-13.13s pods %-3zu", n->roles ? n->roles : "-",
		         count);
		x = put(w, y, x, cols, SLOT_DIM, line);
		if (bad) {
			snprintf(line, sizeof(line), "(%zu bad) ", bad);
			x = put(w, y, x, cols, SLOT_STATUS_WARN, line);
		}
		x = put(w, y, x, cols, SLOT_DIM, "  CPU ");
		x = gauge(w, y, x, cols, 6, n->cpu);
		double mf = n->mem_total > 0 && n->mem_used >= 0
		                    ? (double)n->mem_used / (double)n->mem_total
		                    : NAN;
		x = put(w, y, x, cols, SLOT_DIM, "  MEM ");
		gauge(w, y, x, cols, 6, mf);
		y++;
	}

	/* Pods summary */
	if (y < bottom && app_pods(a)) {
		size_t run = 0, pending = 0, other = 0;
		for (size_t i = 0; i < n_pods; i++) {
			if (str_eq(pods[i].phase, "Running") ||
			    str_eq(pods[i].phase, "Completed")) {
				run++;
			} else if (str_eq(pods[i].phase, "Pending")) {
				pending++;
			} else {
				other++;
			}
		}
		snprintf(note, sizeof(note), "%zu: %zu running, %zu pending, %zu failing (3: all)",
		         n_pods, run, pending, other);
		y = section(w, y, cols, "PODS", note, SLOT_DIM);
		/* The troubled ones by name, as long as there is room. */
		for (size_t i = 0; i < n_pods && y < bottom; i++) {
			if (str_eq(pods[i].phase, "Running") ||
			    str_eq(pods[i].phase, "Completed")) {
				continue;
			}
			char line[300];
			snprintf(line, sizeof(line), " ! %s/%s  %s  restarts %lld",
			         pods[i].namespace_ ? pods[i].namespace_ : "-",
			         pods[i].name ? pods[i].name : "?",
			         pods[i].phase ? pods[i].phase : "?", (long long)pods[i].restarts);
			put(w, y++, 1, cols,
			    str_eq(pods[i].phase, "Pending") ? SLOT_STATUS_WARN : SLOT_ERROR, line);
		}
	}
	wattrset(w, palette_attr(SLOT_NORMAL));
}

static void title(struct view *v, char *out, size_t size)
{
	(void)v;
	snprintf(out, size, "dashboard");
}

static void enter(struct view *v)
{
	status_poller_set_visible(app_poller(v->app), true);
}

static void leave(struct view *v)
{
	status_poller_set_visible(app_poller(v->app), false);
}

static void destroy(struct view *v)
{
	free(v);
}

static const struct view_ops ops = {
        .name = "nodes",
        .scope = SCOPE_GLOBAL,
        .draw = draw,
        .title = title,
        .enter = enter,
        .leave = leave,
        .destroy = destroy,
};

struct view *view_nodes_create(struct app *a)
{
	struct nodes_view *n = xcalloc(1, sizeof(*n));
	n->base.ops = &ops;
	n->base.app = a;
	return &n->base;
}
