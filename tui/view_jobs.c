/* view_jobs.c: view 6 — Airflow DAGs and Kubernetes CronJobs in one list (a KIND column). T
 * triggers the selected DAG or runs the CronJob now, P pauses or unpauses a DAG, both asked first
 * and followed in the background (the run and its task instances, or the Job to Complete or
 * Failed) through the action log. Enter shows the latest run's task instances, or the state of
 * the Job started from here, in a pane under the list. The list is read again every refresh
 * interval while the view is on screen; Esc cancels what is being read. */
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airflow.h"
#include "app.h"
#include "format.h"
#include "k8s_batch.h"
#include "ops.h"
#include "palette.h"
#include "text.h"
#include "util.h"
#include "views.h"

#define FOLLOW_INTERVAL_MS 1000
#define FOLLOW_MAX_S 3600
#define DETAIL_MAX 64

struct jobs_view;

enum follow_kind { F_TRIGGER, F_PAUSE, F_RUN_NOW, F_SUSPEND };

/* One changing action: asked, then sent once, then followed. */
struct follow {
	struct jobs_view *jv;
	struct follow *next;
	enum follow_kind kind;
	bool pause; /* F_PAUSE: pause (true) or unpause; F_SUSPEND: suspend or resume */
	bool dag_paused;
	char *dag_id, *run_id, *ns, *name, *job;
	char *conf; /* F_TRIGGER: the conf typed (C), or NULL for {} */
	char *state;
	unsigned long id; /* in the action log, once confirmed */
	struct event *timer;
	struct k8s_batch_op *op;
	time_t started;
	bool in_flight; /* an Airflow call is out (it cannot be cancelled alone) */
};

/* A Job started from this console, per CronJob (for Enter). */
struct started_job {
	struct started_job *next;
	char *ns, *name, *job;
};

struct row {
	bool dag;
	size_t i; /* into dags or cjs */
};

struct detail_line {
	char *text;
	enum theme_slot slot;
};

struct jobs_view {
	struct view base;
	struct listview lv;
	struct airflow *af_list; /* the list and the details: destroyed to cancel */
	struct airflow *af_ops;  /* actions and their follows */
	bool af_on, k8s_on;
	/* Airflow */
	struct airflow_dags dags;
	bool have_dags, dags_loading, dags_failed;
	struct err dags_err;
	/* Kubernetes */
	struct k8s_cronjobs cjs;
	bool have_cjs;
	struct k8s_batch_op *cj_op;
	bool cjs_failed;
	struct err cjs_err;

	struct row *rows;
	size_t n_rows;
	struct event *timer;
	bool visible;
	struct follow *follows;
	struct started_job *started;
	/* the pane under the list (Enter) */
	bool detail_open;
	char detail_key[256];
	char *detail_title;
	struct detail_line lines[DETAIL_MAX];
	size_t n_lines;
	bool detail_loading;
	char detail_inflight[256]; /* the Airflow detail request out, by row key */
	struct k8s_batch_op *detail_op;
};

enum { C_KIND, C_NS, C_NAME, C_SCHED, C_STATE, C_LAST, C_ACTIVE, C_N };

static const struct list_column columns[C_N] = {
        [C_KIND] = {"KIND", 0, false, false, false},
        [C_NS] = {"NAMESPACE", 16, false, false, false, true},
        [C_NAME] = {"NAME", 40, false, false, true},
        [C_SCHED] = {"SCHEDULE", 16, false, false, false, true},
        [C_STATE] = {"STATE", 0, false, false, false},
        [C_LAST] = {"LAST RUN", 0, false, false, false, false, 16},
        [C_ACTIVE] = {"ACTIVE", 0, true, true, false, true},
};

/* --- helpers --- */

static const char *run_symbol(const char *state)
{
	if (!state) {
		return "·";
	}
	if (str_eq(state, "success")) {
		return "✓";
	}
	if (str_eq(state, "failed") || str_eq(state, "upstream_failed")) {
		return "✗";
	}
	if (str_eq(state, "running")) {
		return "⟳";
	}
	if (str_eq(state, "skipped")) {
		return "↷";
	}
	return "…"; /* queued, scheduled, up_for_retry... */
}

/* ago writes "5h ago" for an RFC 3339 time, "" when there is none. */
static void ago(const char *when, char *out, size_t size)
{
	double t;
	out[0] = '\0';
	if (!when || !rfc3339_parse(when, &t)) {
		return;
	}
	char d[32];
	double s = (double)time(NULL) - t;
	format_duration(s < 0 ? 0 : (int64_t)s, d, sizeof(d));
	snprintf(out, size, "%s ago", d);
}

static void row_key(const struct jobs_view *jv, size_t row, char *buf, size_t size)
{
	const struct row *r = &jv->rows[row];
	if (r->dag) {
		snprintf(buf, size, "dag/%s", jv->dags.items[r->i].dag_id);
	} else {
		const struct k8s_cronjob *c = &jv->cjs.items[r->i];
		snprintf(buf, size, "cronjob/%s/%s", c->ns ? c->ns : "", c->name);
	}
}

/* --- the list source --- */

static size_t j_count(void *ud)
{
	return ((struct jobs_view *)ud)->n_rows;
}

static void j_cell(void *ud, size_t row, size_t col, char *buf, size_t size)
{
	struct jobs_view *jv = ud;
	const struct row *r = &jv->rows[row];
	buf[0] = '\0';
	if (r->dag) {
		const struct airflow_dag *d = &jv->dags.items[r->i];
		switch (col) {
		case C_KIND:
			snprintf(buf, size, "DAG");
			break;
		case C_NS:
		case C_SCHED:
		case C_ACTIVE:
			snprintf(buf, size, "-");
			break;
		case C_NAME:
			snprintf(buf, size, "%s", d->dag_id);
			break;
		case C_STATE:
			snprintf(buf, size, "%s", d->paused ? "‖ paused" : "▶ active");
			break;
		case C_LAST: {
			char a[48];
			ago(d->last_run_start, a, sizeof(a));
			if (d->last_run_state) {
				snprintf(buf, size, "%s %s %s", run_symbol(d->last_run_state),
				         d->last_run_state, a);
			} else {
				snprintf(buf, size, "never");
			}
			break;
		}
		}
		return;
	}
	const struct k8s_cronjob *c = &jv->cjs.items[r->i];
	switch (col) {
	case C_KIND:
		snprintf(buf, size, "CronJob");
		break;
	case C_NS:
		snprintf(buf, size, "%s", c->ns ? c->ns : "-");
		break;
	case C_NAME:
		snprintf(buf, size, "%s", c->name);
		break;
	case C_SCHED:
		snprintf(buf, size, "%s", c->schedule ? c->schedule : "-");
		break;
	case C_STATE:
		snprintf(buf, size, "%s", c->suspend ? "‖ suspended" : "▶ active");
		break;
	case C_LAST: {
		char a[48];
		ago(c->last_schedule, a, sizeof(a));
		snprintf(buf, size, "%s", a[0] ? a : "never");
		break;
	}
	case C_ACTIVE:
		snprintf(buf, size, "%zu", c->active);
		break;
	}
}

static double j_number(void *ud, size_t row, size_t col)
{
	struct jobs_view *jv = ud;
	const struct row *r = &jv->rows[row];
	if (col == C_ACTIVE && !r->dag) {
		return (double)jv->cjs.items[r->i].active;
	}
	return -1;
}

static enum theme_slot j_slot(void *ud, size_t row)
{
	struct jobs_view *jv = ud;
	const struct row *r = &jv->rows[row];
	if (r->dag) {
		const struct airflow_dag *d = &jv->dags.items[r->i];
		if (d->paused) {
			return SLOT_DIM;
		}
		return str_eq(d->last_run_state, "failed") ? SLOT_ERROR : SLOT_NORMAL;
	}
	return jv->cjs.items[r->i].suspend ? SLOT_DIM : SLOT_NORMAL;
}

static void j_key(void *ud, size_t row, char *buf, size_t size)
{
	row_key(ud, row, buf, size);
}

static void rebuild(struct jobs_view *jv)
{
	free(jv->rows);
	jv->n_rows = jv->dags.len + jv->cjs.len;
	jv->rows = xcalloc(jv->n_rows ? jv->n_rows : 1, sizeof(*jv->rows));
	size_t n = 0;
	for (size_t i = 0; i < jv->dags.len; i++) {
		jv->rows[n++] = (struct row){true, i};
	}
	for (size_t i = 0; i < jv->cjs.len; i++) {
		jv->rows[n++] = (struct row){false, i};
	}
	listview_data_changed(&jv->lv);
	app_dirty(jv->base.app);
}

/* --- reading the lists --- */

static void on_dags(void *ud, struct airflow_dags *d, const struct err *err)
{
	struct jobs_view *jv = ud;
	jv->dags_loading = false;
	if (err) {
		jv->dags_failed = true;
		jv->dags_err = *err;
		app_dirty(jv->base.app);
		return;
	}
	jv->dags_failed = false;
	airflow_dags_finish(&jv->dags);
	jv->dags = *d;
	memset(d, 0, sizeof(*d));
	jv->have_dags = true;
	rebuild(jv);
}

static void on_cronjobs(void *ud, struct k8s_cronjobs *l, const struct err *err)
{
	struct jobs_view *jv = ud;
	jv->cj_op = NULL;
	if (err) {
		jv->cjs_failed = true;
		jv->cjs_err = *err;
		app_dirty(jv->base.app);
		return;
	}
	jv->cjs_failed = false;
	k8s_cronjobs_finish(&jv->cjs);
	jv->cjs = *l;
	memset(l, 0, sizeof(*l));
	jv->have_cjs = true;
	rebuild(jv);
}

static void refresh_detail(struct jobs_view *jv);

static void reload(struct jobs_view *jv)
{
	if (jv->af_on && !jv->dags_loading) {
		jv->dags_loading = true;
		airflow_list_dags(jv->af_list, on_dags, jv);
	}
	if (jv->k8s_on && !jv->cj_op) {
		jv->cj_op = k8s_batch_list(app_k8s(jv->base.app), NULL, on_cronjobs, jv);
	}
	if (jv->detail_open) {
		refresh_detail(jv);
	}
	app_dirty(jv->base.app);
}

static void on_timer(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	struct jobs_view *jv = ud;
	if (jv->visible) {
		reload(jv);
	}
}

/* --- the pane under the list --- */

static void detail_clear(struct jobs_view *jv)
{
	for (size_t i = 0; i < jv->n_lines; i++) {
		free(jv->lines[i].text);
	}
	jv->n_lines = 0;
}

static void detail_add(struct jobs_view *jv, enum theme_slot slot, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void detail_add(struct jobs_view *jv, enum theme_slot slot, const char *fmt, ...)
{
	if (jv->n_lines == DETAIL_MAX) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	jv->lines[jv->n_lines].text = xvasprintf(fmt, ap);
	va_end(ap);
	jv->lines[jv->n_lines++].slot = slot;
}

static void detail_title(struct jobs_view *jv, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void detail_title(struct jobs_view *jv, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(jv->detail_title);
	jv->detail_title = xvasprintf(fmt, ap);
	va_end(ap);
}

static const struct airflow_dag *find_dag(const struct jobs_view *jv, const char *id)
{
	for (size_t i = 0; i < jv->dags.len; i++) {
		if (str_eq(jv->dags.items[i].dag_id, id)) {
			return &jv->dags.items[i];
		}
	}
	return NULL;
}

static const struct k8s_cronjob *find_cj(const struct jobs_view *jv, const char *ns,
                                         const char *name)
{
	for (size_t i = 0; i < jv->cjs.len; i++) {
		const struct k8s_cronjob *c = &jv->cjs.items[i];
		if (str_eq(c->ns, ns) && str_eq(c->name, name)) {
			return c;
		}
	}
	return NULL;
}

static const struct started_job *find_started(const struct jobs_view *jv, const char *ns,
                                              const char *name)
{
	for (const struct started_job *s = jv->started; s; s = s->next) {
		if (str_eq(s->ns, ns) && str_eq(s->name, name)) {
			return s;
		}
	}
	return NULL;
}

/* cj_key_split reads "cronjob/NS/NAME": NS into ns, returns NAME (NULL when it is not one). */
static const char *cj_key_split(const char *key, char *ns, size_t size)
{
	if (strncmp(key, "cronjob/", 8) != 0) {
		return NULL;
	}
	const char *rest = key + 8;
	const char *slash = strchr(rest, '/');
	if (!slash) {
		return NULL;
	}
	snprintf(ns, size, "%.*s", (int)(slash - rest), rest);
	return slash + 1;
}

static void on_detail_tasks(void *ud, const struct airflow_tasks *t, const struct err *err)
{
	struct jobs_view *jv = ud;
	bool current = strcmp(jv->detail_inflight, jv->detail_key) == 0;
	jv->detail_inflight[0] = '\0';
	if (!jv->detail_open) {
		return;
	}
	if (!current) {
		refresh_detail(jv); /* the user moved on to another row meanwhile */
		return;
	}
	jv->detail_loading = false;
	const struct airflow_dag *d = find_dag(jv, jv->detail_key + 4);
	detail_clear(jv);
	if (err) {
		detail_add(jv, SLOT_ERROR, "✗ %s", err->msg);
	} else if (t->len == 0) {
		detail_add(jv, SLOT_DIM, "no task instances yet");
	} else {
		size_t done = 0;
		for (size_t i = 0; i < t->len; i++) {
			done += str_eq(t->items[i].state, "success");
		}
		detail_add(jv, SLOT_DIM, "%zu of %zu tasks succeeded", done, t->len);
		for (size_t i = 0; i < t->len; i++) {
			const char *st = t->items[i].state;
			detail_add(jv,
			           str_eq(st, "failed") || str_eq(st, "upstream_failed")
			                   ? SLOT_ERROR
			           : st ? SLOT_NORMAL
			                : SLOT_DIM,
			           "%s %-16s %s", run_symbol(st), st ? st : "not scheduled",
			           t->items[i].task_id);
		}
	}
	if (d) {
		char a[48];
		ago(d->last_run_start, a, sizeof(a));
		detail_title(jv, "DAG %s · run %s · %s %s%s%s", d->dag_id,
		             d->last_run_id ? d->last_run_id : "?", run_symbol(d->last_run_state),
		             d->last_run_state ? d->last_run_state : "?", a[0] ? " · started " : "",
		             a);
	}
	app_dirty(jv->base.app);
}

static void on_detail_job(void *ud, const struct k8s_job_status *st, const struct err *err)
{
	struct jobs_view *jv = ud;
	jv->detail_op = NULL;
	jv->detail_loading = false;
	/* keep the CronJob's lines (the first ones), replace the Job's */
	while (jv->n_lines > 3) {
		free(jv->lines[--jv->n_lines].text);
	}
	if (err) {
		detail_add(jv, SLOT_ERROR, "✗ %s", err->msg);
	} else {
		const char *name = k8s_job_state_name(st->state);
		const char *sym = st->state == K8S_JOB_COMPLETE ? "✓"
		                  : st->state == K8S_JOB_FAILED ? "✗"
		                  : st->state == K8S_JOB_ACTIVE ? "⟳"
		                                                : "…";
		char ns[128];
		const char *name_part = cj_key_split(jv->detail_key, ns, sizeof(ns));
		const struct started_job *s = name_part ? find_started(jv, ns, name_part) : NULL;
		detail_add(jv, st->state == K8S_JOB_FAILED ? SLOT_ERROR : SLOT_NORMAL,
		           "%s Job %s (started here): %s · active %ld, succeeded %ld, failed %ld",
		           sym, s ? s->job : "?", name, st->active, st->succeeded, st->failed);
		if (st->reason || st->message) {
			detail_add(jv, SLOT_DIM, "  %s%s%s", st->reason ? st->reason : "",
			           st->reason && st->message ? ": " : "",
			           st->message ? st->message : "");
		}
	}
	app_dirty(jv->base.app);
}

static void refresh_detail(struct jobs_view *jv)
{
	struct app *a = jv->base.app;
	if (strncmp(jv->detail_key, "dag/", 4) == 0) {
		const struct airflow_dag *d = find_dag(jv, jv->detail_key + 4);
		if (!d) {
			return;
		}
		if (!jv->n_lines || !jv->detail_title) {
			detail_title(jv, "DAG %s", d->dag_id);
		}
		if (!d->last_run_id) {
			detail_clear(jv);
			jv->detail_loading = false;
			detail_title(jv, "DAG %s", d->dag_id);
			detail_add(jv, SLOT_DIM, "it has never run · T triggers a run");
			app_dirty(a);
			return;
		}
		if (jv->detail_inflight[0]) {
			return; /* its answer asks again when it was for another row */
		}
		snprintf(jv->detail_inflight, sizeof(jv->detail_inflight), "%s", jv->detail_key);
		jv->detail_loading = true;
		airflow_get_tasks(jv->af_list, d->dag_id, d->last_run_id, on_detail_tasks, jv);
		return;
	}
	char ns[128];
	const char *cj_name = cj_key_split(jv->detail_key, ns, sizeof(ns));
	const struct k8s_cronjob *c = cj_name ? find_cj(jv, ns, cj_name) : NULL;
	if (!c) {
		return;
	}
	char a1[48];
	ago(c->last_schedule, a1, sizeof(a1));
	detail_title(jv, "CronJob %s/%s", ns, c->name);
	const struct started_job *s = find_started(jv, ns, c->name);
	/* Keep the Job's lines while its state is read again (no flicker). */
	size_t keep_job = s && jv->n_lines > 3 ? jv->n_lines - 3 : 0;
	struct detail_line saved[DETAIL_MAX];
	for (size_t i = 0; i < keep_job; i++) {
		saved[i] = jv->lines[3 + i];
	}
	for (size_t i = 0; i < jv->n_lines; i++) {
		if (i < 3 || !keep_job) {
			free(jv->lines[i].text);
		}
	}
	jv->n_lines = 0;
	detail_add(jv, SLOT_NORMAL, "schedule %s%s", c->schedule ? c->schedule : "-",
	           c->suspend ? " · ‖ suspended" : " · ▶ active");
	detail_add(jv, SLOT_NORMAL, "last scheduled %s%s%s", a1[0] ? a1 : "never",
	           c->last_schedule ? " · " : "", c->last_schedule ? c->last_schedule : "");
	detail_add(jv, SLOT_NORMAL, "%zu Job%s active now", c->active, c->active == 1 ? "" : "s");
	for (size_t i = 0; i < keep_job; i++) {
		jv->lines[jv->n_lines++] = saved[i];
	}
	if (!s) {
		detail_add(jv, SLOT_DIM, "no Job started from here · T runs one now");
		jv->detail_loading = false;
		app_dirty(a);
		return;
	}
	k8s_batch_cancel(jv->detail_op);
	jv->detail_loading = true;
	jv->detail_op = k8s_batch_get_job(app_k8s(a), s->ns, s->job, on_detail_job, jv);
	app_dirty(a);
}

static void open_detail(struct jobs_view *jv, size_t row)
{
	char key[256];
	row_key(jv, row, key, sizeof(key));
	if (strcmp(key, jv->detail_key) != 0) {
		detail_clear(jv);
		free(jv->detail_title);
		jv->detail_title = NULL;
		k8s_batch_cancel(jv->detail_op);
		jv->detail_op = NULL;
	}
	snprintf(jv->detail_key, sizeof(jv->detail_key), "%s", key);
	jv->detail_open = true;
	refresh_detail(jv);
}

static void close_detail(struct jobs_view *jv)
{
	jv->detail_open = false;
	jv->detail_loading = false;
	jv->detail_key[0] = '\0';
	k8s_batch_cancel(jv->detail_op);
	jv->detail_op = NULL;
	detail_clear(jv);
	free(jv->detail_title);
	jv->detail_title = NULL;
}

/* --- actions --- */

static void follow_free(struct follow *f)
{
	struct follow **p = &f->jv->follows;
	while (*p && *p != f) {
		p = &(*p)->next;
	}
	if (*p) {
		*p = f->next;
	}
	if (f->timer) {
		event_free(f->timer);
	}
	k8s_batch_cancel(f->op);
	free(f->dag_id);
	free(f->run_id);
	free(f->ns);
	free(f->name);
	free(f->job);
	free(f->conf);
	free(f->state);
	free(f);
}

static void follow_end(struct follow *f, const char *state, enum action_phase phase,
                       const char *detail)
{
	struct jobs_view *jv = f->jv;
	ops_update(app_ops(jv->base.app), f->id, state, phase, detail);
	follow_free(f);
	if (jv->visible) {
		reload(jv); /* the list shows the new state now */
	}
}

static void on_follow_tick(evutil_socket_t fd, short what, void *ud);

static void follow_later(struct follow *f)
{
	if (time(NULL) - f->started > FOLLOW_MAX_S) {
		follow_end(f, "still running", ACTION_CANCELLED,
		           "stopped following after an hour; it goes on (see the jobs view)");
		return;
	}
	if (!f->timer) {
		f->timer = evtimer_new(app_base(f->jv->base.app), on_follow_tick, f);
	}
	struct timeval tv = {FOLLOW_INTERVAL_MS / 1000, (FOLLOW_INTERVAL_MS % 1000) * 1000};
	evtimer_add(f->timer, &tv);
}

static void set_state(struct follow *f, const char *state, const char *detail)
{
	if (!str_eq(f->state, state) || detail) {
		free(f->state);
		f->state = xstrdup(state);
		ops_update(app_ops(f->jv->base.app), f->id, state, ACTION_RUNNING, detail);
	}
}

/* Airflow: the run's task instances after each poll of the run. */
static void on_follow_tasks(void *ud, const struct airflow_tasks *t, const struct err *err)
{
	struct follow *f = ud;
	f->in_flight = false;
	bool done = airflow_run_state_done(f->state);
	if (err) {
		if (done) {
			follow_end(f, f->state,
			           str_eq(f->state, "success") ? ACTION_DONE : ACTION_FAILED, NULL);
		} else {
			follow_later(f); /* a passing failure: the run is read again */
		}
		return;
	}
	size_t ok = 0;
	const char *running = NULL;
	char failed[200] = "";
	size_t used = 0;
	for (size_t i = 0; i < t->len; i++) {
		const char *st = t->items[i].state;
		ok += str_eq(st, "success");
		if (str_eq(st, "running") && !running) {
			running = t->items[i].task_id;
		}
		if ((str_eq(st, "failed") || str_eq(st, "upstream_failed")) &&
		    used < sizeof(failed)) {
			used += (size_t)snprintf(failed + used, sizeof(failed) - used, "%s%s",
			                         used ? ", " : "", t->items[i].task_id);
		}
	}
	char detail[300];
	if (done) {
		if (failed[0]) {
			snprintf(detail, sizeof(detail),
			         "run %s: task %s failed (%zu/%zu succeeded)", f->run_id, failed,
			         ok, t->len);
		} else {
			snprintf(detail, sizeof(detail), "run %s: %zu/%zu tasks succeeded",
			         f->run_id, ok, t->len);
		}
		follow_end(f, f->state, str_eq(f->state, "success") ? ACTION_DONE : ACTION_FAILED,
		           detail);
		return;
	}
	if (running) {
		snprintf(detail, sizeof(detail), "run %s: task %s running (%zu/%zu done)",
		         f->run_id, running, ok, t->len);
	} else {
		snprintf(detail, sizeof(detail), "run %s: %zu/%zu tasks done", f->run_id, ok,
		         t->len);
	}
	ops_update(app_ops(f->jv->base.app), f->id, f->state, ACTION_RUNNING, detail);
	follow_later(f);
}

static void on_follow_run(void *ud, const struct airflow_run *r, const struct err *err)
{
	struct follow *f = ud;
	if (err) {
		f->in_flight = false;
		follow_end(f, "following failed", ACTION_FAILED, err->msg);
		return;
	}
	set_state(f, r->state, NULL);
	airflow_get_tasks(f->jv->af_ops, f->dag_id, f->run_id, on_follow_tasks, f);
}

static void on_job(void *ud, const struct k8s_job_status *st, const struct err *err)
{
	struct follow *f = ud;
	f->op = NULL;
	if (err) {
		follow_end(f, "following failed", ACTION_FAILED, err->msg);
		return;
	}
	char detail[400];
	snprintf(detail, sizeof(detail), "Job %s: active %ld, succeeded %ld, failed %ld", f->job,
	         st->active, st->succeeded, st->failed);
	if (st->state == K8S_JOB_COMPLETE || st->state == K8S_JOB_FAILED) {
		if (st->reason || st->message) {
			snprintf(detail, sizeof(detail), "Job %s: %s%s%s", f->job,
			         st->reason ? st->reason : "",
			         st->reason && st->message ? ": " : "",
			         st->message ? st->message : "");
		}
		follow_end(f, k8s_job_state_name(st->state),
		           st->state == K8S_JOB_COMPLETE ? ACTION_DONE : ACTION_FAILED, detail);
		return;
	}
	set_state(f, k8s_job_state_name(st->state), detail);
	follow_later(f);
}

static void on_follow_tick(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	struct follow *f = ud;
	if (f->kind == F_TRIGGER) {
		f->in_flight = true;
		airflow_get_run(f->jv->af_ops, f->dag_id, f->run_id, on_follow_run, f);
	} else {
		f->op = k8s_batch_get_job(app_k8s(f->jv->base.app), f->ns, f->job, on_job, f);
	}
}

static void on_triggered(void *ud, const struct airflow_run *r, const struct err *err)
{
	struct follow *f = ud;
	f->in_flight = false;
	if (err) {
		follow_end(f, "refused", ACTION_FAILED, err->msg);
		return;
	}
	f->run_id = xstrdup(r->run_id);
	if (f->dag_paused) {
		char *d = xasprintf("run %s waits: the DAG is paused (P unpauses it)", r->run_id);
		follow_end(f, r->state, ACTION_DONE, d);
		free(d);
		return;
	}
	char *d = xasprintf("run %s", r->run_id);
	set_state(f, r->state, d);
	free(d);
	if (f->jv->visible) {
		reload(f->jv); /* the new run becomes the DAG's latest */
	}
	follow_later(f);
}

static void on_paused(void *ud, const struct airflow_dag *d, const struct err *err)
{
	struct follow *f = ud;
	f->in_flight = false;
	if (err) {
		follow_end(f, "refused", ACTION_FAILED, err->msg);
		return;
	}
	follow_end(f, d->paused ? "paused" : "unpaused",
	           d->paused == f->pause ? ACTION_DONE : ACTION_FAILED,
	           d->paused == f->pause ? NULL : "Airflow did not change it");
}

static void on_suspended(void *ud, const struct k8s_cronjob *c, const struct err *err)
{
	struct follow *f = ud;
	f->op = NULL;
	if (err) {
		follow_end(f, "refused", ACTION_FAILED, err->msg);
		return;
	}
	follow_end(f, c->suspend ? "suspended" : "resumed",
	           c->suspend == f->pause ? ACTION_DONE : ACTION_FAILED,
	           c->suspend == f->pause ? NULL : "Kubernetes did not change it");
}

static void on_run_now(void *ud, const char *job_name, const struct err *err)
{
	struct follow *f = ud;
	f->op = NULL;
	if (err) {
		follow_end(f, "refused", ACTION_FAILED, err->msg);
		return;
	}
	f->job = xstrdup(job_name);
	struct jobs_view *jv = f->jv;
	/* remember it for Enter on the CronJob */
	struct started_job *s = NULL;
	for (struct started_job *p = jv->started; p; p = p->next) {
		if (str_eq(p->ns, f->ns) && str_eq(p->name, f->name)) {
			s = p;
		}
	}
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->ns = xstrdup(f->ns);
		s->name = xstrdup(f->name);
		s->next = jv->started;
		jv->started = s;
	}
	free(s->job);
	s->job = xstrdup(job_name);
	char *d = xasprintf("Job %s", job_name);
	set_state(f, "created", d);
	free(d);
	follow_later(f);
}

static void on_answer(void *ud, bool yes)
{
	struct follow *f = ud;
	struct jobs_view *jv = f->jv;
	struct app *a = jv->base.app;
	if (!yes) {
		follow_free(f);
		return;
	}
	f->started = time(NULL);
	switch (f->kind) {
	case F_TRIGGER:
		f->id = ops_begin(app_ops(a), "trigger DAG", f->dag_id);
		f->in_flight = true;
		airflow_trigger(jv->af_ops, f->dag_id, f->conf, on_triggered, f);
		break;
	case F_PAUSE:
		f->id = ops_begin(app_ops(a), f->pause ? "pause DAG" : "unpause DAG", f->dag_id);
		f->in_flight = true;
		airflow_set_paused(jv->af_ops, f->dag_id, f->pause, on_paused, f);
		break;
	case F_RUN_NOW: {
		char *target = xasprintf("%s/%s", f->ns, f->name);
		f->id = ops_begin(app_ops(a), "run CronJob", target);
		free(target);
		f->op = k8s_batch_run_now(app_k8s(a), f->ns, f->name, on_run_now, f);
		break;
	}
	case F_SUSPEND: {
		char *target = xasprintf("%s/%s", f->ns, f->name);
		f->id = ops_begin(app_ops(a), f->pause ? "suspend CronJob" : "resume CronJob",
		                  target);
		free(target);
		f->op = k8s_batch_set_suspend(app_k8s(a), f->ns, f->name, f->pause, on_suspended,
		                              f);
		break;
	}
	}
}

static struct follow *follow_new(struct jobs_view *jv, enum follow_kind kind)
{
	struct follow *f = xcalloc(1, sizeof(*f));
	f->jv = jv;
	f->kind = kind;
	f->next = jv->follows;
	jv->follows = f;
	return f;
}

/* ask_trigger: the last question before a DAG run, with the conf it will send. */
static void ask_trigger(struct follow *f)
{
	char *q = xasprintf("trigger a run of DAG %s%s%s%s", f->dag_id,
	                    f->conf ? " with conf " : "", f->conf ? f->conf : "",
	                    f->dag_paused ? " (paused: the run waits until it is unpaused)" : "");
	app_confirm(f->jv->base.app, q, NULL, on_answer, f);
	free(q);
}

/* on_conf: the conf typed after C; it must be a JSON object (as --conf on the command line). */
static void on_conf(void *ud, const char *text)
{
	struct follow *f = ud;
	if (!text) {
		follow_free(f);
		return;
	}
	struct err e;
	err_clear(&e);
	char *body = airflow_trigger_body(AIRFLOW_API_V1, text, &e);
	if (!body) {
		app_message(f->jv->base.app, true, "%s: nothing triggered", e.msg);
		follow_free(f);
		return;
	}
	free(body);
	f->conf = xstrdup(text);
	ask_trigger(f);
}

/* request_trigger asks before a DAG run (with_conf: after the conf is typed, C) or before running
 * a CronJob now. */
static void request_trigger(struct jobs_view *jv, const struct row *r, bool with_conf)
{
	struct app *a = jv->base.app;
	if (r->dag) {
		const struct airflow_dag *d = &jv->dags.items[r->i];
		struct follow *f = follow_new(jv, F_TRIGGER);
		f->dag_id = xstrdup(d->dag_id);
		f->dag_paused = d->paused;
		if (!with_conf) {
			ask_trigger(f);
			return;
		}
		char *q = xasprintf("trigger DAG %s with conf (a JSON object)", d->dag_id);
		app_ask(a, q, "{}", on_conf, f);
		free(q);
		return;
	}
	if (with_conf) {
		app_message(a, true, "C passes a conf to an Airflow DAG; T runs a CronJob now");
		return;
	}
	const struct k8s_cronjob *c = &jv->cjs.items[r->i];
	struct follow *f = follow_new(jv, F_RUN_NOW);
	f->ns = xstrdup(c->ns ? c->ns : "default");
	f->name = xstrdup(c->name);
	char *q = xasprintf("run CronJob %s/%s now (creates a Job)", f->ns, f->name);
	app_confirm(a, q, NULL, on_answer, f);
	free(q);
}

static void request_pause(struct jobs_view *jv, const struct row *r)
{
	struct app *a = jv->base.app;
	if (!r->dag) {
		const struct k8s_cronjob *c = &jv->cjs.items[r->i];
		struct follow *f = follow_new(jv, F_SUSPEND);
		f->ns = xstrdup(c->ns ? c->ns : "default");
		f->name = xstrdup(c->name);
		f->pause = !c->suspend;
		char *q = xasprintf("%s CronJob %s/%s%s", f->pause ? "suspend" : "resume", f->ns,
		                    f->name, f->pause ? " (no new Jobs on its schedule)" : "");
		app_confirm(a, q, NULL, on_answer, f);
		free(q);
		return;
	}
	const struct airflow_dag *d = &jv->dags.items[r->i];
	struct follow *f = follow_new(jv, F_PAUSE);
	f->dag_id = xstrdup(d->dag_id);
	f->pause = !d->paused;
	char *q = xasprintf("%s DAG %s", f->pause ? "pause" : "unpause", d->dag_id);
	app_confirm(a, q, NULL, on_answer, f);
	free(q);
}

/* --- the view --- */

static void problem_line(WINDOW *w, int y, int cols, enum theme_slot slot, const char *text)
{
	char *safe = text_sanitize(text, false);
	char *fit = text_fit(safe, cols - 2, false);
	wattrset(w, palette_attr(slot));
	mvwaddstr(w, y, 1, fit);
	wattrset(w, palette_attr(SLOT_NORMAL));
	free(fit);
	free(safe);
}

static void backend_problem(char *out, size_t size, const char *backend, const struct err *e,
                            bool have, const char *fix)
{
	/* What is shown and what to do first: the reason can be long and is cut at the end. */
	size_t n = strlen(backend);
	const char *msg = e->msg;
	if (strncmp(msg, backend, n) == 0 && msg[n] == ':') {
		msg += n + 1 + (msg[n + 1] == ' ');
	}
	snprintf(out, size, "✗ %s failing, %s; r retries: %s", backend,
	         have ? "showing the last list read" : fix, msg);
}

static void draw(struct view *v, WINDOW *w, int y, int h, int cols)
{
	struct jobs_view *jv = (struct jobs_view *)v;
	int line = y;
	int end = y + h;
	char buf[700];
	if (!jv->af_on && !jv->k8s_on) {
		problem_line(w, line + 1, cols, SLOT_DIM,
		             "Neither Airflow nor Kubernetes is configured: add [airflow] url, "
		             "username and password_env, or a [kubernetes] section, to the config");
		return;
	}
	if (jv->dags_failed) {
		backend_problem(buf, sizeof(buf), "airflow", &jv->dags_err, jv->have_dags,
		                "check [airflow] url, username and password");
		problem_line(w, line++, cols, SLOT_ERROR, buf);
	} else if (!jv->af_on) {
		problem_line(w, line++, cols, SLOT_DIM,
		             "Airflow is not configured: no DAGs ([airflow] url in the config)");
	}
	if (jv->cjs_failed) {
		backend_problem(buf, sizeof(buf), "kubernetes", &jv->cjs_err, jv->have_cjs,
		                "check [kubernetes] and its credentials");
		problem_line(w, line++, cols, SLOT_ERROR, buf);
	} else if (!jv->k8s_on) {
		problem_line(w, line++, cols, SLOT_DIM,
		             "Kubernetes is not configured: no CronJobs");
	}
	int panel = 0;
	if (jv->detail_open) {
		panel = (int)jv->n_lines + 1 + (jv->n_lines == 0);
		int max = (end - line) / 2;
		if (panel > max) {
			panel = max;
		}
	}
	int list_h = end - line - panel;
	if (jv->n_rows == 0) {
		bool loading = jv->dags_loading || jv->cj_op;
		problem_line(w, line + 1, cols, SLOT_DIM,
		             loading ? "reading DAGs and CronJobs… (Esc cancels)"
		                     : "no DAGs and no CronJobs");
	} else if (list_h > 1) {
		listview_draw(&jv->lv, w, line, 0, list_h, cols);
	}
	if (panel > 0) {
		int py = end - panel;
		snprintf(buf, sizeof(buf), "── %s%s ",
		         jv->detail_title ? jv->detail_title : "details",
		         jv->detail_loading ? " · reading…" : "");
		char *safe = text_sanitize(buf, false);
		int wd = text_width(safe);
		char *rule = xstrdup(safe);
		for (int i = wd; i < cols; i++) {
			char *n = xasprintf("%s─", rule);
			free(rule);
			rule = n;
		}
		char *fit = text_fit(rule, cols, false);
		wattrset(w, palette_attr(SLOT_BORDER));
		mvwaddstr(w, py, 0, fit);
		free(fit);
		free(rule);
		free(safe);
		if (jv->n_lines == 0) {
			problem_line(w, py + 1, cols, SLOT_DIM, "reading…");
		}
		for (size_t i = 0; i < jv->n_lines && py + 1 + (int)i < end; i++) {
			char *t = xasprintf(" %s", jv->lines[i].text);
			problem_line(w, py + 1 + (int)i, cols, jv->lines[i].slot, t);
			free(t);
		}
	}
	wattrset(w, palette_attr(SLOT_NORMAL));
}

static bool handle(struct view *v, enum action a, int key)
{
	struct jobs_view *jv = (struct jobs_view *)v;
	(void)key;
	if (a == ACT_NONE) {
		return false;
	}
	if (a == ACT_REFRESH) {
		reload(jv);
		app_message(v->app, false, "refreshing DAGs and CronJobs…");
		return true;
	}
	size_t row = listview_selected(&jv->lv);
	const struct row *r = row != (size_t)-1 ? &jv->rows[row] : NULL;
	switch (a) {
	case ACT_ENTER:
		if (r) {
			open_detail(jv, row);
		}
		return true;
	case ACT_JOBS_TRIGGER:
	case ACT_JOBS_TRIGGER_CONF:
		if (r) {
			request_trigger(jv, r, a == ACT_JOBS_TRIGGER_CONF);
		}
		return true;
	case ACT_JOBS_PAUSE:
		if (r) {
			request_pause(jv, r);
		}
		return true;
	default:
		break;
	}
	if (listview_handle(&jv->lv, a)) {
		if (jv->detail_open && (row = listview_selected(&jv->lv)) != (size_t)-1) {
			char k[256];
			row_key(jv, row, k, sizeof(k));
			if (strcmp(k, jv->detail_key) != 0) {
				open_detail(jv, row); /* the pane follows the cursor */
			}
		}
		return true;
	}
	return false;
}

static void title(struct view *v, char *out, size_t size)
{
	struct jobs_view *jv = (struct jobs_view *)v;
	size_t running = 0;
	for (const struct follow *f = jv->follows; f; f = f->next) {
		running += f->id != 0;
	}
	size_t n = (size_t)snprintf(out, size, "jobs %zu DAG%s · %zu CronJob%s", jv->dags.len,
	                            jv->dags.len == 1 ? "" : "s", jv->cjs.len,
	                            jv->cjs.len == 1 ? "" : "s");
	enum airflow_api api = jv->af_list ? airflow_api_in_use(jv->af_list) : AIRFLOW_API_UNKNOWN;
	if (api != AIRFLOW_API_UNKNOWN && n < size) {
		n += (size_t)snprintf(out + n, size - n, " · Airflow %d",
		                      api == AIRFLOW_API_V2 ? 3 : 2);
	}
	if (running && n < size) {
		snprintf(out + n, size - n, " (%zu following)", running);
	}
}

static struct listview *list(struct view *v)
{
	return &((struct jobs_view *)v)->lv;
}

static void enter(struct view *v)
{
	struct jobs_view *jv = (struct jobs_view *)v;
	jv->visible = true;
	reload(jv);
	struct timeval tv = {app_refresh_s(v->app), 0};
	evtimer_add(jv->timer, &tv);
}

static void leave(struct view *v)
{
	struct jobs_view *jv = (struct jobs_view *)v;
	jv->visible = false;
	evtimer_del(jv->timer);
}

static bool cancel(struct view *v)
{
	struct jobs_view *jv = (struct jobs_view *)v;
	bool any = false;
	if (jv->dags_loading || jv->detail_inflight[0]) {
		/* Airflow calls cannot be cancelled one by one: the reading client goes. */
		airflow_destroy(jv->af_list);
		jv->af_list = airflow_create(app_base(v->app), app_http(v->app),
		                             &app_config(v->app)->airflow);
		jv->dags_loading = false;
		jv->detail_inflight[0] = '\0';
		any = true;
	}
	if (jv->cj_op) {
		k8s_batch_cancel(jv->cj_op);
		jv->cj_op = NULL;
		any = true;
	}
	if (jv->detail_open) {
		close_detail(jv);
		any = true;
	}
	return any;
}

static void destroy(struct view *v)
{
	struct jobs_view *jv = (struct jobs_view *)v;
	/* no callbacks after these */
	airflow_destroy(jv->af_list);
	airflow_destroy(jv->af_ops);
	k8s_batch_cancel(jv->cj_op);
	close_detail(jv);
	while (jv->follows) {
		follow_free(jv->follows);
	}
	while (jv->started) {
		struct started_job *s = jv->started;
		jv->started = s->next;
		free(s->ns);
		free(s->name);
		free(s->job);
		free(s);
	}
	event_free(jv->timer);
	airflow_dags_finish(&jv->dags);
	k8s_cronjobs_finish(&jv->cjs);
	listview_finish(&jv->lv);
	free(jv->rows);
	free(jv);
}

static const struct view_ops ops = {
        .name = "jobs",
        .scope = SCOPE_JOBS,
        .draw = draw,
        .handle = handle,
        .title = title,
        .list = list,
        .enter = enter,
        .leave = leave,
        .cancel = cancel,
        .destroy = destroy,
};

static void on_tick_persist(evutil_socket_t fd, short what, void *ud)
{
	on_timer(fd, what, ud);
}

struct view *view_jobs_create(struct app *a)
{
	struct jobs_view *jv = xcalloc(1, sizeof(*jv));
	jv->base.ops = &ops;
	jv->base.app = a;
	const struct config *cfg = app_config(a);
	jv->af_on = cfg->airflow.configured && cfg->airflow.url;
	jv->k8s_on = app_k8s(a) != NULL;
	if (jv->af_on) {
		jv->af_list = airflow_create(app_base(a), app_http(a), &cfg->airflow);
		jv->af_ops = airflow_create(app_base(a), app_http(a), &cfg->airflow);
	}
	jv->timer = event_new(app_base(a), -1, EV_PERSIST, on_tick_persist, jv);
	struct list_source src = {
	        .cols = columns,
	        .ncols = C_N,
	        .count = j_count,
	        .cell = j_cell,
	        .number = j_number,
	        .slot = j_slot,
	        .key = j_key,
	        .ud = jv,
	};
	listview_init(&jv->lv, &src);
	return &jv->base;
}
