/* view_pod_detail.c: a pod's details — status, conditions, containers, events — fetched when the
 * view opens (Esc while loading cancels), shown as scrollable text. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "format.h"
#include "k8s_detail.h"
#include "palette.h"
#include "text.h"
#include "util.h"

struct text_line {
	char *text; /* sanitised */
	enum theme_slot slot;
};

struct detail_view {
	struct view base;
	char *ns, *name;
	struct k8s_detail *req;
	struct text_line *lines;
	size_t n_lines;
	size_t scroll;
	char state[300];
};

static void add(struct detail_view *d, enum theme_slot slot, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void add(struct detail_view *d, enum theme_slot slot, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *raw = NULL;
	if (vasprintf(&raw, fmt, ap) < 0) {
		raw = NULL;
	}
	va_end(ap);
	d->lines = xrealloc(d->lines, (d->n_lines + 1) * sizeof(*d->lines));
	d->lines[d->n_lines].text = text_sanitize(raw ? raw : "", false);
	d->lines[d->n_lines].slot = slot;
	d->n_lines++;
	free(raw);
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

static void ago(double t, char *out, size_t size)
{
	if (isnan(t)) {
		snprintf(out, size, "-");
		return;
	}
	char d[32];
	format_duration((int64_t)(now_wall() - t), d, sizeof(d));
	snprintf(out, size, "%s ago", d);
}

static void build(struct detail_view *d, const struct pod_detail *p)
{
	char when[48];
	add(d, SLOT_HEADER, "POD %s/%s", d->ns, d->name);
	add(d, SLOT_NORMAL, "  status   %s (phase %s)%s%s", or_dash(p->row.phase),
	    or_dash(p->phase), p->reason ? "  reason " : "", p->reason ? p->reason : "");
	if (p->message) {
		add(d, SLOT_STATUS_WARN, "  message  %s", p->message);
	}
	ago(p->start_time, when, sizeof(when));
	add(d, SLOT_NORMAL, "  node     %s   pod IP %s   host IP %s", or_dash(p->row.node),
	    or_dash(p->row.ip), or_dash(p->host_ip));
	add(d, SLOT_NORMAL, "  ready    %s   restarts %lld   QoS %s   started %s",
	    or_dash(p->row.ready), (long long)p->row.restarts, or_dash(p->qos), when);
	add(d, SLOT_NORMAL, "%s", "");
	add(d, SLOT_HEADER, "CONDITIONS");
	for (size_t i = 0; i < p->n_conditions; i++) {
		const struct pod_condition *c = &p->conditions[i];
		bool good = str_eq(c->status, "True");
		ago(c->last_transition, when, sizeof(when));
		add(d, good ? SLOT_NORMAL : SLOT_STATUS_WARN, "  %s %-16s %-6s %s%s%s%s",
		    good ? "✓" : "✗", or_dash(c->type), or_dash(c->status), when,
		    c->reason ? "  " : "", c->reason ? c->reason : "",
		    c->message ? (c->reason ? ": " : "  ") : "");
		if (c->message) {
			add(d, SLOT_DIM, "      %s", c->message);
		}
	}
	add(d, SLOT_NORMAL, "%s", "");
	add(d, SLOT_HEADER, "CONTAINERS");
	for (size_t i = 0; i < p->n_containers; i++) {
		const struct pod_container *c = &p->containers[i];
		add(d, c->ready ? SLOT_NORMAL : SLOT_STATUS_FAIL, "  %s %s%s  %s  restarts %lld",
		    c->ready ? "✓" : "✗", or_dash(c->name), c->init ? " (init)" : "",
		    or_dash(c->image), (long long)c->restart_count);
		add(d, c->state.kind == POD_STATE_RUNNING ? SLOT_DIM : SLOT_STATUS_WARN,
		    "      now:  %s", or_dash(c->state.text));
		if (c->last_state.kind != POD_STATE_NONE) {
			add(d, SLOT_DIM, "      last: %s", or_dash(c->last_state.text));
		}
	}
	add(d, SLOT_NORMAL, "%s", "");
	add(d, SLOT_HEADER, "EVENTS");
	if (p->events_failed) {
		add(d, SLOT_ERROR, "  %s", p->events_err.msg);
	} else if (p->n_events == 0) {
		add(d, SLOT_DIM, "  (none in the last hour: Kubernetes keeps events briefly)");
	}
	for (size_t i = 0; i < p->n_events; i++) {
		const struct pod_event *e = &p->events[i];
		bool warn = str_eq(e->type, "Warning");
		ago(e->last_timestamp, when, sizeof(when));
		add(d, warn ? SLOT_STATUS_WARN : SLOT_NORMAL, "  %-8s %-10s %-16s x%-3lld %s",
		    or_dash(e->type), when, or_dash(e->reason), (long long)e->count,
		    or_dash(e->message));
	}
}

static void on_detail(void *ud, struct pod_detail *p)
{
	struct detail_view *d = ud;
	d->req = NULL;
	if (p->failed) {
		snprintf(d->state, sizeof(d->state), "%s", p->err.msg);
	} else {
		d->state[0] = '\0';
		build(d, p);
	}
	pod_detail_free(p);
	app_dirty(d->base.app);
}

static void fetch(struct detail_view *d)
{
	struct k8s *k = app_k8s(d->base.app);
	if (!k) {
		snprintf(d->state, sizeof(d->state), "Kubernetes is not configured");
		return;
	}
	snprintf(d->state, sizeof(d->state), "loading %s/%s… (Esc cancels)", d->ns, d->name);
	d->req = k8s_fetch_pod_detail(k, d->ns, d->name, on_detail, d);
}

static void draw(struct view *v, WINDOW *w, int y, int h, int cols)
{
	struct detail_view *d = (struct detail_view *)v;
	if (d->state[0]) {
		char *safe = text_sanitize(d->state, false);
		wattrset(w, palette_attr(d->req ? SLOT_DIM : SLOT_ERROR));
		char *fit = text_fit(safe, cols - 2, false);
		mvwaddstr(w, y + 1, 2, fit);
		free(fit);
		free(safe);
	}
	if (d->n_lines && d->scroll >= d->n_lines) {
		d->scroll = d->n_lines - 1;
	}
	int row = d->state[0] ? 3 : 0;
	for (size_t i = d->scroll; i < d->n_lines && row < h; i++, row++) {
		wattrset(w, palette_attr(d->lines[i].slot));
		char *fit = text_fit(d->lines[i].text, cols, false);
		mvwaddstr(w, y + row, 0, fit);
		free(fit);
	}
	wattrset(w, palette_attr(SLOT_NORMAL));
}

static bool handle(struct view *v, enum action a, int key)
{
	(void)key;
	struct detail_view *d = (struct detail_view *)v;
	int page = LINES - 5 > 1 ? LINES - 5 : 1;
	switch (a) {
	case ACT_DOWN:
		d->scroll = d->scroll + 1 < d->n_lines ? d->scroll + 1 : d->scroll;
		return true;
	case ACT_UP:
		d->scroll = d->scroll ? d->scroll - 1 : 0;
		return true;
	case ACT_PAGE_DOWN:
		d->scroll = d->scroll + (size_t)page < d->n_lines ? d->scroll + (size_t)page
		                                                  : d->scroll;
		return true;
	case ACT_PAGE_UP:
		d->scroll = d->scroll > (size_t)page ? d->scroll - (size_t)page : 0;
		return true;
	case ACT_TOP:
		d->scroll = 0;
		return true;
	case ACT_BOTTOM:
		d->scroll = d->n_lines > 1 ? d->n_lines - 1 : 0;
		return true;
	case ACT_LOGS:
		app_push(v->app, view_logs_create(v->app, d->ns, d->name));
		return true;
	case ACT_REFRESH:
		if (!d->req) {
			for (size_t i = 0; i < d->n_lines; i++) {
				free(d->lines[i].text);
			}
			d->n_lines = 0;
			fetch(d);
		}
		return true;
	default:
		return false;
	}
}

static bool cancel(struct view *v)
{
	struct detail_view *d = (struct detail_view *)v;
	if (!d->req) {
		return false;
	}
	k8s_detail_cancel(d->req);
	d->req = NULL;
	snprintf(d->state, sizeof(d->state), "cancelled (r retries)");
	return true;
}

static void title(struct view *v, char *out, size_t size)
{
	struct detail_view *d = (struct detail_view *)v;
	snprintf(out, size, "pod %s/%s", d->ns, d->name);
}

static void destroy(struct view *v)
{
	struct detail_view *d = (struct detail_view *)v;
	k8s_detail_cancel(d->req);
	for (size_t i = 0; i < d->n_lines; i++) {
		free(d->lines[i].text);
	}
	free(d->lines);
	free(d->ns);
	free(d->name);
	free(d);
}

static const struct view_ops ops = {
        .name = "pod",
        .scope = SCOPE_DETAIL,
        .draw = draw,
        .handle = handle,
        .title = title,
        .cancel = cancel,
        .destroy = destroy,
};

struct view *view_pod_detail_create(struct app *a, const char *ns, const char *name)
{
	struct detail_view *d = xcalloc(1, sizeof(*d));
	d->base.ops = &ops;
	d->base.app = a;
	d->ns = xstrdup(ns ? ns : "default");
	d->name = xstrdup(name ? name : "");
	fetch(d);
	return &d->base;
}
