/* view_deploy.c: view 5 — ArgoCD applications (the app-of-apps root with its children indented
 * under it) above the GitHub Actions workflows of [github] repo, Tab moving between the two.
 * S syncs the selected application (P with prune, which wants its name typed; D as a dry run), W
 * dispatches the selected workflow on [github] ref; each is asked first, sent once, recorded with
 * ops_begin/ops_update and followed in the background (operationState; the run, its jobs and
 * steps) while the user moves on. ArgoCD refusing a sync because an operation runs is offered
 * as a choice in the view: w waits for it and syncs after, t terminates it. Enter shows the
 * application's resources and last operation, or the jobs and steps of the workflow's latest
 * run, followed while shown. Lists are refreshed only while the view is on screen. */
#include <event2/event.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "argocd.h"
#include "format.h"
#include "github.h"
#include "json_util.h"
#include "ops.h"
#include "palette.h"
#include "text.h"
#include "util.h"
#include "views.h"

#define FOLLOW_MS 1000
#define FIND_RUN_TRIES 30
#define PENDING_TRIES 30
#define FAILED_POLLS 5
#define GH_MIN_REFRESH_S 10

enum section { SEC_APPS, SEC_WORKFLOWS };

struct deploy_view;

/* One sync: asked, sent, perhaps waiting on the operation before it, then followed. */
enum sync_state { SYNC_ASKING, SYNC_SENDING, SYNC_BUSY, SYNC_WAITING, SYNC_FOLLOWING };

struct sync_run {
	struct deploy_view *dv;
	struct sync_run *next;
	char *name;
	bool prune, dry, retried, terminating;
	enum sync_state state;
	unsigned long id;
	char since[32];
	struct http_request *req;
	struct event *timer;
	int pending, failures;
	char *last; /* the last state reported, to report changes only */
};

/* One workflow dispatch: asked, sent, its run found, then followed. Each has its own client, so
 * ending one cancels nothing else. */
enum dispatch_state { DISPATCH_ASKING, DISPATCH_SENDING, DISPATCH_FINDING, DISPATCH_FOLLOWING };

struct dispatch_run {
	struct deploy_view *dv;
	struct dispatch_run *next;
	char *workflow, *ref;
	struct github_run_request inputs; /* typed before the question (I), or none */
	enum dispatch_state state;
	unsigned long id;
	struct github *gh;
	struct event *timer;
	double since;
	int64_t run_id;
	int tries, failures;
	bool finished; /* freed by the reaper, outside its client's callbacks */
	struct github_run run;
	char *last;
};

struct app_row {
	size_t idx;
	bool child;
};

struct deploy_view {
	struct view base;
	struct argocd *argo; /* NULL: [argocd] not configured */
	struct github *gh;   /* the lists' client, NULL: [github] not configured */
	struct listview apps_lv, wf_lv;
	enum section focus;
	struct argocd_app_list apps;
	struct app_row *rows;
	size_t n_rows;
	struct github_workflow_list wfs;
	struct github_run_list runs;
	struct http_request *apps_req;
	int gh_busy;
	bool gh_again; /* r came while GitHub's lists were being read: read them again after */
	double gh_last;
	bool apps_loaded, wfs_loaded, visible;
	char apps_error[512], gh_error[512];
	struct event *timer, *reaper;
	struct sync_run *syncs;
	struct dispatch_run *dispatches;
};

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

static void iso_time(double t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void arm(struct event *ev, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(ev, &tv);
}

static const char *file_of(const char *path)
{
	const char *p = path ? strrchr(path, '/') : NULL;
	return p ? p + 1 : or_dash(path);
}

/* --- the applications list --- */

enum { A_NAME, A_SYNC, A_HEALTH, A_REV, A_OP, A_N };

static const struct list_column app_columns[A_N] = {
        [A_NAME] = {.title = "APPLICATION", .max_width = 24},
        [A_SYNC] = {.title = "SYNC", .keep = 11},
        [A_HEALTH] = {.title = "HEALTH", .keep = 13},
        [A_REV] = {.title = "REVISION", .max_width = 8, .optional = true},
        [A_OP] = {.title = "LAST OPERATION", .flexible = true},
};

static const char *sync_symbol(const char *s)
{
	return str_eq(s, "Synced") ? "✓" : str_eq(s, "OutOfSync") ? "≠" : "?";
}

static const char *health_symbol(const char *s)
{
	return str_eq(s, "Healthy")       ? "✓"
	       : str_eq(s, "Progressing") ? "◷"
	       : str_eq(s, "Degraded")    ? "✗"
	       : str_eq(s, "Suspended")   ? "‖"
	       : str_eq(s, "Missing")     ? "∅"
	                                  : "?";
}

static size_t a_count(void *ud)
{
	return ((struct deploy_view *)ud)->n_rows;
}

static void a_cell(void *ud, size_t row, size_t col, char *buf, size_t size)
{
	struct deploy_view *dv = ud;
	const struct app_row *r = &dv->rows[row];
	const struct argocd_app *x = &dv->apps.items[r->idx];
	switch (col) {
	case A_NAME:
		snprintf(buf, size, "%s%s", r->child ? "  └ " : "", x->name);
		break;
	case A_SYNC:
		snprintf(buf, size, "%s %s", sync_symbol(x->sync), x->sync ? x->sync : "Unknown");
		break;
	case A_HEALTH:
		snprintf(buf, size, "%s %s", health_symbol(x->health),
		         x->health ? x->health : "Unknown");
		break;
	case A_REV:
		snprintf(buf, size, "%.7s", or_dash(x->revision));
		break;
	default:
		snprintf(buf, size, "%s%s%s", or_dash(x->phase),
		         x->op_message && *x->op_message ? ": " : "",
		         x->op_message ? x->op_message : "");
		break;
	}
}

static enum theme_slot a_slot(void *ud, size_t row)
{
	struct deploy_view *dv = ud;
	const struct argocd_app *x = &dv->apps.items[dv->rows[row].idx];
	bool bad = str_eq(x->health, "Degraded") || str_eq(x->health, "Missing") ||
	           str_eq(x->phase, "Failed") || str_eq(x->phase, "Error");
	return bad ? SLOT_ERROR : SLOT_NORMAL;
}

static void a_key(void *ud, size_t row, char *buf, size_t size)
{
	struct deploy_view *dv = ud;
	snprintf(buf, size, "%s", dv->apps.items[dv->rows[row].idx].name);
}

/* build_rows orders the applications: each root, then the apps its app-of-apps made. */
static void build_rows(struct deploy_view *dv)
{
	const struct argocd_app_list *l = &dv->apps;
	free(dv->rows);
	dv->rows = xcalloc(l->len + 1, sizeof(*dv->rows));
	dv->n_rows = 0;
	bool *placed = xcalloc(l->len + 1, sizeof(*placed));
	for (size_t i = 0; i < l->len; i++) {
		bool has_parent = false;
		for (size_t k = 0; l->items[i].parent && k < l->len; k++) {
			has_parent = has_parent ||
			             (k != i && str_eq(l->items[k].name, l->items[i].parent));
		}
		if (has_parent) {
			continue;
		}
		dv->rows[dv->n_rows++] = (struct app_row){i, false};
		placed[i] = true;
		for (size_t k = 0; k < l->len; k++) {
			if (k != i && !placed[k] && str_eq(l->items[k].parent, l->items[i].name)) {
				dv->rows[dv->n_rows++] = (struct app_row){k, true};
				placed[k] = true;
			}
		}
	}
	for (size_t i = 0; i < l->len; i++) {
		if (!placed[i]) { /* a cycle of parents: shown all the same */
			dv->rows[dv->n_rows++] = (struct app_row){i, false};
		}
	}
	free(placed);
}

/* --- the workflows list --- */

enum { W_FILE, W_NAME, W_STATE, W_LAST, W_RESULT, W_N };

static const struct list_column wf_columns[W_N] = {
        [W_FILE] = {.title = "WORKFLOW", .max_width = 28},
        [W_NAME] = {.title = "NAME", .max_width = 24, .optional = true},
        [W_STATE] = {.title = "STATE", .max_width = 12},
        [W_LAST] = {.title = "LAST RUN", .flexible = true},
        [W_RESULT] = {.title = "RESULT", .keep = 11},
};

/* last_run: the newest run of workflow wf among the recent runs, or NULL. */
static const struct github_run *last_run(const struct deploy_view *dv,
                                         const struct github_workflow *wf)
{
	const struct github_run *best = NULL;
	for (size_t i = 0; i < dv->runs.len; i++) {
		const struct github_run *r = &dv->runs.items[i];
		if (r->workflow_id == wf->id && (!best || r->id > best->id)) {
			best = r;
		}
	}
	return best;
}

static void result_text(const struct github_run *r, char *buf, size_t size)
{
	if (!r) {
		snprintf(buf, size, "-");
	} else if (!github_run_done(r)) {
		snprintf(buf, size, "◷ %s", or_dash(r->status));
	} else {
		snprintf(buf, size, "%s %s", github_run_ok(r) ? "✓" : "✗", or_dash(r->conclusion));
	}
}

static size_t w_count(void *ud)
{
	return ((struct deploy_view *)ud)->wfs.len;
}

static void w_cell(void *ud, size_t row, size_t col, char *buf, size_t size)
{
	struct deploy_view *dv = ud;
	const struct github_workflow *wf = &dv->wfs.items[row];
	const struct github_run *r = last_run(dv, wf);
	switch (col) {
	case W_FILE:
		snprintf(buf, size, "%s", file_of(wf->path));
		break;
	case W_NAME:
		snprintf(buf, size, "%s", or_dash(wf->name));
		break;
	case W_STATE:
		snprintf(buf, size, "%s", or_dash(wf->state));
		break;
	case W_LAST:
		if (!r) {
			snprintf(buf, size, "never");
		} else {
			char age[32] = "?";
			if (r->created > 0) {
				format_duration((int64_t)(now_wall() - r->created), age,
				                sizeof(age));
			}
			snprintf(buf, size, "%s ago on %s (%s)", age, or_dash(r->head_branch),
			         or_dash(r->event));
		}
		break;
	default:
		result_text(r, buf, size);
		break;
	}
}

static enum theme_slot w_slot(void *ud, size_t row)
{
	struct deploy_view *dv = ud;
	const struct github_run *r = last_run(dv, &dv->wfs.items[row]);
	if (r && github_run_done(r) && !github_run_ok(r)) {
		return SLOT_ERROR;
	}
	return str_eq(dv->wfs.items[row].state, "active") ? SLOT_NORMAL : SLOT_DIM;
}

static void w_key(void *ud, size_t row, char *buf, size_t size)
{
	struct deploy_view *dv = ud;
	snprintf(buf, size, "%lld", (long long)dv->wfs.items[row].id);
}

/* --- refreshing the lists --- */

static void gh_settled(struct deploy_view *dv);

static void on_apps(void *ud, const char *body, size_t len, const struct err *err)
{
	struct deploy_view *dv = ud;
	dv->apps_req = NULL;
	struct argocd_app_list l;
	struct err e;
	if (err) {
		snprintf(dv->apps_error, sizeof(dv->apps_error), "%s", err->msg);
	} else if (!argocd_parse_list(body, len, &l, &e)) {
		snprintf(
		        dv->apps_error, sizeof(dv->apps_error),
		        "argocd: malformed answer to GET /api/v1/applications: %s (is [argocd] url "
		        "the Argo CD server?)",
		        e.msg);
	} else {
		dv->apps_error[0] = '\0';
		argocd_app_list_finish(&dv->apps);
		dv->apps = l;
		dv->apps_loaded = true;
		build_rows(dv);
		listview_data_changed(&dv->apps_lv);
	}
	app_dirty(dv->base.app);
}

static void on_workflows(void *ud, const char *body, size_t len, const struct err *err)
{
	struct deploy_view *dv = ud;
	dv->gh_busy--;
	struct github_workflow_list l;
	struct err e;
	if (err) {
		snprintf(dv->gh_error, sizeof(dv->gh_error), "%s", err->msg);
	} else if (!github_parse_workflows(body, len, &l, &e)) {
		snprintf(dv->gh_error, sizeof(dv->gh_error),
		         "github: malformed answer to GET .../actions/workflows: %s (is [github] "
		         "url "
		         "the GitHub API?)",
		         e.msg);
	} else {
		dv->gh_error[0] = '\0';
		github_workflow_list_finish(&dv->wfs);
		dv->wfs = l;
		dv->wfs_loaded = true;
		listview_data_changed(&dv->wf_lv);
	}
	app_dirty(dv->base.app);
	gh_settled(dv);
}

static void on_runs(void *ud, const char *body, size_t len, const struct err *err)
{
	struct deploy_view *dv = ud;
	dv->gh_busy--;
	struct github_run_list l;
	struct err e;
	if (err) {
		snprintf(dv->gh_error, sizeof(dv->gh_error), "%s", err->msg);
	} else if (github_parse_runs(body, len, &l, &e)) {
		github_run_list_finish(&dv->runs);
		dv->runs = l;
		listview_data_changed(&dv->wf_lv);
	}
	app_dirty(dv->base.app);
	gh_settled(dv);
}

static void lists_refresh(struct deploy_view *dv, bool force);

/* Once both GitHub lists are in, an r pressed meanwhile reads them again (the answers in flight
 * may be from before the service came back). */
static void gh_settled(struct deploy_view *dv)
{
	if (dv->gh_busy == 0 && dv->gh_again) {
		dv->gh_again = false;
		lists_refresh(dv, true);
	}
}

static void lists_refresh(struct deploy_view *dv, bool force)
{
	if (dv->argo && !dv->apps_req) {
		dv->apps_req = argocd_list(dv->argo, on_apps, dv);
	}
	int every = app_refresh_s(dv->base.app);
	every = every > GH_MIN_REFRESH_S ? every : GH_MIN_REFRESH_S;
	if (dv->gh && dv->gh_busy > 0 && force) {
		dv->gh_again = true;
	}
	if (dv->gh && dv->gh_busy == 0 && (force || now_wall() - dv->gh_last >= every)) {
		dv->gh_last = now_wall();
		dv->gh_busy = 2;
		github_get(dv->gh, "/actions/workflows?per_page=100", on_workflows, dv);
		github_get(dv->gh, "/actions/runs?per_page=50", on_runs, dv);
	}
}

static void on_timer(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	struct deploy_view *dv = ud;
	if (dv->visible) {
		lists_refresh(dv, false);
		int s = app_refresh_s(dv->base.app);
		arm(dv->timer, (s > 0 ? s : 5) * 1000);
	}
}

/* --- sync --- */

static void sync_free(struct sync_run *s)
{
	struct sync_run **p = &s->dv->syncs;
	while (*p && *p != s) {
		p = &(*p)->next;
	}
	if (*p) {
		*p = s->next;
	}
	argocd_cancel(s->dv->argo, s->req);
	if (s->timer) {
		event_free(s->timer);
	}
	free(s->name);
	free(s->last);
	free(s);
}

static struct sync_run *asking_sync(const struct deploy_view *dv)
{
	for (struct sync_run *s = dv->syncs; s; s = s->next) {
		if (s->state == SYNC_BUSY) {
			return s;
		}
	}
	return NULL;
}

/* report records a running state when it differs from the last one reported. */
static void sync_report(struct sync_run *s, const char *state, const char *detail)
{
	char *line = xasprintf("%s|%s", state, detail ? detail : "");
	if (!s->last || strcmp(s->last, line) != 0) {
		ops_update(app_ops(s->dv->base.app), s->id, state, ACTION_RUNNING, detail);
	}
	free(s->last);
	s->last = line;
}

static void sync_end(struct sync_run *s, const char *state, enum action_phase phase,
                     const char *detail)
{
	ops_update(app_ops(s->dv->base.app), s->id, state, phase, detail);
	lists_refresh(s->dv, true);
	sync_free(s);
}

static void sync_send(struct sync_run *s);

static void on_sync_poll(void *ud, const char *body, size_t len, const struct err *err)
{
	struct sync_run *s = ud;
	s->req = NULL;
	struct argocd_app app;
	struct err e;
	if (err || !argocd_parse_app(body, len, &app, &e)) {
		if (++s->failures >= FAILED_POLLS) {
			sync_end(s, "following failed", ACTION_FAILED, err ? err->msg : e.msg);
			return;
		}
		arm(s->timer, FOLLOW_MS);
		return;
	}
	s->failures = 0;
	bool waiting = s->state == SYNC_WAITING;
	enum argocd_op_state st = argocd_op_state_of(&app, waiting ? NULL : s->since);
	if (waiting) {
		if (st == ARGOCD_OP_RUNNING) {
			sync_report(s,
			            s->terminating ? "terminating the running operation"
			                           : "waiting for the running operation",
			            app.op_message);
		} else {
			argocd_app_finish(&app);
			sync_send(s); /* the way is clear: the sync asked for */
			return;
		}
	} else if (st == ARGOCD_OP_PENDING) {
		if (++s->pending > PENDING_TRIES) {
			argocd_app_finish(&app);
			sync_end(s, "not seen", ACTION_FAILED,
			         "the operation did not show up in operationState");
			return;
		}
	} else if (st == ARGOCD_OP_RUNNING) {
		sync_report(s, or_dash(app.phase), app.op_message);
	} else {
		char *phase = xstrdup(or_dash(app.phase));
		char *msg = app.op_message ? xstrdup(app.op_message) : NULL;
		argocd_app_finish(&app);
		sync_end(s, phase, st == ARGOCD_OP_SUCCEEDED ? ACTION_DONE : ACTION_FAILED, msg);
		free(phase);
		free(msg);
		return;
	}
	argocd_app_finish(&app);
	arm(s->timer, FOLLOW_MS);
}

static void on_sync_timer(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	struct sync_run *s = ud;
	s->req = argocd_get(s->dv->argo, s->name, on_sync_poll, s);
}

static void on_sync_sent(void *ud, const char *body, size_t len, const struct err *err)
{
	(void)body;
	(void)len;
	struct sync_run *s = ud;
	struct deploy_view *dv = s->dv;
	s->req = NULL;
	if (err && argocd_is_busy(err) && !s->retried) {
		/* ArgoCD does not queue syncs: the user chooses, in the view. */
		s->state = SYNC_BUSY;
		sync_report(s, "another operation is in progress",
		            "w waits for it, t terminates it (deploy view)");
		app_message(dv->base.app, true,
		            "%s: another operation is already in progress — in the deploy view: w "
		            "waits for it, t terminates it, any other key cancels",
		            s->name);
		return;
	}
	if (err) {
		sync_end(s, "refused", ACTION_FAILED, err->msg);
		return;
	}
	s->state = SYNC_FOLLOWING;
	sync_report(s, "Running", NULL);
	arm(s->timer, FOLLOW_MS);
	lists_refresh(dv, false);
}

static void sync_send(struct sync_run *s)
{
	s->retried = s->state == SYNC_WAITING || s->retried;
	s->state = SYNC_SENDING;
	s->pending = 0;
	iso_time(now_wall() - 1, s->since, sizeof(s->since));
	s->req = argocd_sync(s->dv->argo, s->name, NULL, s->prune, s->dry, on_sync_sent, s);
}

static void on_terminated(void *ud, const char *body, size_t len, const struct err *err)
{
	(void)body;
	(void)len;
	struct sync_run *s = ud;
	s->req = NULL;
	if (err) {
		sync_end(s, "terminate refused", ACTION_FAILED, err->msg);
		return;
	}
	s->state = SYNC_WAITING;
	s->terminating = true;
	sync_report(s, "terminating the running operation", NULL);
	arm(s->timer, FOLLOW_MS);
}

/* busy_choice takes the answer to the busy question: w, t, or anything else (cancel). */
static void busy_choice(struct sync_run *s, int key)
{
	struct app *a = s->dv->base.app;
	if (key == 'w' || key == 'W') {
		s->state = SYNC_WAITING;
		sync_report(s, "waiting for the running operation", NULL);
		app_message(a, false, "waiting for the running operation on %s, then syncing",
		            s->name);
		arm(s->timer, FOLLOW_MS);
	} else if (key == 't' || key == 'T') {
		s->state = SYNC_WAITING;
		s->req = argocd_terminate(s->dv->argo, s->name, on_terminated, s);
		app_message(a, false, "terminating the running operation on %s, then syncing",
		            s->name);
	} else {
		sync_end(s, "not synced", ACTION_CANCELLED,
		         "another operation was in progress; nothing done");
	}
}

static const char *sync_what(const struct sync_run *s)
{
	return s->prune ? "sync with prune" : s->dry ? "dry-run sync" : "sync";
}

static void on_sync_answer(void *ud, bool yes)
{
	struct sync_run *s = ud;
	if (!yes) {
		sync_free(s);
		return;
	}
	s->id = ops_begin(app_ops(s->dv->base.app), sync_what(s), s->name);
	sync_send(s);
}

static void request_sync(struct deploy_view *dv, const char *name, bool prune, bool dry)
{
	struct app *a = dv->base.app;
	if (!dv->argo) {
		app_message(a, true, "ArgoCD is not configured: add [argocd] url and token");
		return;
	}
	for (struct sync_run *s = dv->syncs; s; s = s->next) {
		if (str_eq(s->name, name) && s->state != SYNC_ASKING) {
			app_message(a, true, "a sync of %s is already on its way (A shows it)",
			            name);
			return;
		}
	}
	struct sync_run *s = xcalloc(1, sizeof(*s));
	s->dv = dv;
	s->name = xstrdup(name);
	s->prune = prune;
	s->dry = dry && !prune;
	s->state = SYNC_ASKING;
	s->timer = evtimer_new(app_base(a), on_sync_timer, s);
	s->next = dv->syncs;
	dv->syncs = s;
	char *q = prune    ? xasprintf("sync %s with prune (deletes what git no longer has)", name)
	          : s->dry ? xasprintf("dry-run sync of %s (changes nothing)", name)
	                   : xasprintf("sync %s", name);
	/* Prune deletes resources: the name typed, as for anything that cannot be undone. */
	app_confirm(a, q, prune ? s->name : NULL, on_sync_answer, s);
	free(q);
}

/* --- dispatch --- */

static void on_reap(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	struct deploy_view *dv = ud;
	struct dispatch_run **p = &dv->dispatches;
	while (*p) {
		struct dispatch_run *d = *p;
		if (!d->finished) {
			p = &d->next;
			continue;
		}
		*p = d->next;
		github_destroy(d->gh);
		event_free(d->timer);
		github_run_finish(&d->run);
		free(d->workflow);
		free(d->ref);
		github_run_request_finish(&d->inputs);
		free(d->last);
		free(d);
	}
}

static void dispatch_finish(struct dispatch_run *d)
{
	d->finished = true;
	evtimer_del(d->timer);
	arm(d->dv->reaper, 0);
}

static void dispatch_end(struct dispatch_run *d, const char *state, enum action_phase phase,
                         const char *detail)
{
	ops_update(app_ops(d->dv->base.app), d->id, state, phase, detail);
	lists_refresh(d->dv, true);
	dispatch_finish(d);
}

static void dispatch_report(struct dispatch_run *d, const char *state, const char *detail)
{
	char *line = xasprintf("%s|%s", state, detail ? detail : "");
	if (!d->last || strcmp(d->last, line) != 0) {
		ops_update(app_ops(d->dv->base.app), d->id, state, ACTION_RUNNING, detail);
	}
	free(d->last);
	d->last = line;
}

/* steps_text: "deploy: Build image" — each job and its step running or failed. Heap. */
static char *steps_text(const struct github_job_list *jobs)
{
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < jobs->len; i++) {
		const struct github_job *j = &jobs->items[i];
		const char *cur = NULL;
		for (size_t k = 0; k < j->n_steps; k++) {
			if (str_eq(j->steps[k].status, "in_progress") ||
			    str_eq(j->steps[k].conclusion, "failure")) {
				cur = j->steps[k].name;
			}
		}
		buf_appendf(&b, "%s%s %s%s%s", i ? "; " : "", or_dash(j->name),
		            j->conclusion ? j->conclusion : or_dash(j->status), cur ? ": " : "",
		            cur ? cur : "");
	}
	buf_append(&b, "", 1);
	return buf_steal(&b);
}

static void on_jobs(void *ud, const char *body, size_t len, const struct err *err)
{
	struct dispatch_run *d = ud;
	struct github_job_list jobs = {0};
	struct err e;
	if (err || !github_parse_jobs(body, len, &jobs, &e)) {
		memset(&jobs, 0, sizeof(jobs));
	}
	char *steps = steps_text(&jobs);
	github_job_list_finish(&jobs);
	if (github_run_done(&d->run)) {
		char *detail = xasprintf("%s%s%s", steps, *steps && d->run.html_url ? " — " : "",
		                         d->run.html_url ? d->run.html_url : "");
		dispatch_end(d, or_dash(d->run.conclusion),
		             github_run_ok(&d->run) ? ACTION_DONE : ACTION_FAILED, detail);
		free(detail);
	} else {
		dispatch_report(d, or_dash(d->run.status), *steps ? steps : NULL);
		arm(d->timer, FOLLOW_MS);
	}
	free(steps);
}

static void on_run(void *ud, const char *body, size_t len, const struct err *err)
{
	struct dispatch_run *d = ud;
	struct err e;
	github_run_finish(&d->run);
	memset(&d->run, 0, sizeof(d->run));
	if (err || !github_parse_run(body, len, &d->run, &e)) {
		memset(&d->run, 0, sizeof(d->run));
		if (++d->failures >= FAILED_POLLS) {
			dispatch_end(d, "following failed", ACTION_FAILED, err ? err->msg : e.msg);
		} else {
			arm(d->timer, FOLLOW_MS);
		}
		return;
	}
	d->failures = 0;
	char *p = xasprintf("/actions/runs/%lld/jobs", (long long)d->run_id);
	github_get(d->gh, p, on_jobs, d);
	free(p);
}

static void on_found(void *ud, const char *body, size_t len, const struct err *err)
{
	struct dispatch_run *d = ud;
	struct github_run_list runs;
	struct err e;
	if (!err && github_parse_runs(body, len, &runs, &e)) {
		long i = github_pick_run(&runs, d->workflow, d->ref, d->since, NULL, 0);
		if (i >= 0) {
			d->run_id = runs.items[i].id;
		}
		github_run_list_finish(&runs);
	}
	if (d->run_id) {
		d->state = DISPATCH_FOLLOWING;
		char id[32];
		snprintf(id, sizeof(id), "run %lld", (long long)d->run_id);
		dispatch_report(d, "queued", id);
		arm(d->timer, 0);
	} else if (++d->tries >= FIND_RUN_TRIES) {
		dispatch_end(d, "dispatched", ACTION_DONE,
		             "its run did not show up here; look on GitHub");
	} else {
		arm(d->timer, FOLLOW_MS);
	}
}

static void on_dispatch_timer(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	struct dispatch_run *d = ud;
	if (d->state == DISPATCH_FINDING) {
		char t[32];
		iso_time(d->since, t, sizeof(t));
		char *w = url_escape(d->workflow);
		char *r = url_escape(d->ref);
		char *q = xasprintf("/actions/workflows/%s/"
		                    "runs?event=workflow_dispatch&branch=%s&created=%%3E%%3D%s&per_"
		                    "page=20",
		                    w, r, t);
		github_get(d->gh, q, on_found, d);
		free(q);
		free(w);
		free(r);
	} else {
		char *p = xasprintf("/actions/runs/%lld", (long long)d->run_id);
		github_get(d->gh, p, on_run, d);
		free(p);
	}
}

static void on_dispatched(void *ud, const char *body, size_t len, const struct err *err)
{
	struct dispatch_run *d = ud;
	if (err) {
		dispatch_end(d, "refused", ACTION_FAILED, err->msg);
		return;
	}
	struct err e;
	if (!github_parse_dispatch(body, len, &d->run_id, &e)) {
		d->run_id = 0; /* dispatched all the same: look for its run */
	}
	d->state = d->run_id ? DISPATCH_FOLLOWING : DISPATCH_FINDING;
	dispatch_report(d, "dispatched", NULL);
	arm(d->timer, d->run_id ? 0 : FOLLOW_MS);
}

static void on_dispatch_answer(void *ud, bool yes)
{
	struct dispatch_run *d = ud;
	struct deploy_view *dv = d->dv;
	if (!yes) {
		dispatch_finish(d);
		return;
	}
	char *target = xasprintf("%s on %s", d->workflow, d->ref);
	d->id = ops_begin(app_ops(dv->base.app), "run workflow", target);
	free(target);
	d->state = DISPATCH_SENDING;
	char *body = github_dispatch_body(d->ref, (const char *const *)d->inputs.keys,
	                                  (const char *const *)d->inputs.values, d->inputs.n);
	d->since = now_wall();
	github_dispatch(d->gh, d->workflow, d->ref, body, on_dispatched, d);
	free(body);
}

/* ask_dispatch: the last question before a dispatch, with what it will send. */
static void ask_dispatch(struct dispatch_run *d)
{
	struct buf q;
	buf_init(&q);
	buf_appendf(&q, "run workflow %s on %s", d->workflow, d->ref);
	for (size_t i = 0; i < d->inputs.n; i++) {
		buf_appendf(&q, "%s%s=%s", i == 0 ? " with " : ", ", d->inputs.keys[i],
		            d->inputs.values[i]);
	}
	buf_append(&q, "", 1);
	app_confirm(d->dv->base.app, q.data, NULL, on_dispatch_answer, d);
	buf_finish(&q);
}

/* on_inputs: the line typed after I; read as the CLI reads --ref and --input, then asked. */
static void on_inputs(void *ud, const char *text)
{
	struct dispatch_run *d = ud;
	if (!text) {
		dispatch_finish(d);
		return;
	}
	struct err e;
	err_clear(&e);
	if (!github_parse_run_line(text, d->ref, &d->inputs, &e)) {
		app_message(d->dv->base.app, true, "%s: nothing run", e.msg);
		dispatch_finish(d);
		return;
	}
	free(d->ref);
	d->ref = xstrdup(d->inputs.ref);
	ask_dispatch(d);
}

/* request_dispatch asks before running workflow on [github] ref; with_inputs first asks for the
 * line of --ref and KEY=VALUE inputs (I). */
static void request_dispatch(struct deploy_view *dv, const char *workflow, bool with_inputs)
{
	struct app *a = dv->base.app;
	const struct config *cfg = app_config(a);
	if (!cfg->github.configured) {
		app_message(a, true, "GitHub is not configured: add [github] repo and token");
		return;
	}
	struct dispatch_run *d = xcalloc(1, sizeof(*d));
	d->dv = dv;
	d->workflow = xstrdup(workflow);
	d->ref = xstrdup(cfg->github.ref && *cfg->github.ref ? cfg->github.ref : "main");
	d->gh = github_create(app_http(a), app_base(a), &cfg->github);
	d->timer = evtimer_new(app_base(a), on_dispatch_timer, d);
	d->next = dv->dispatches;
	dv->dispatches = d;
	if (!with_inputs) {
		ask_dispatch(d);
		return;
	}
	char *q = xasprintf("run workflow %s: --ref REF and inputs KEY=VALUE", d->workflow);
	char *initial = xasprintf("--ref %s ", d->ref);
	app_ask(a, q, initial, on_inputs, d);
	free(initial);
	free(q);
}

/* --- details (Enter): an application, or the latest run of a workflow --- */

struct detail_view {
	struct view base;
	struct deploy_view *dv;
	char *app;      /* the application shown, or NULL */
	char *workflow; /* the workflow file, for W and the title */
	int64_t run_id;
	struct github *gh; /* its own client: leaving cancels its calls */
	struct http_request *req;
	struct event *timer;
	char **lines;
	size_t n_lines;
	int scroll;
	char error[512];
	bool loaded, done;
	struct github_run run; /* the run, while its jobs are asked */
};

static void lines_clear(struct detail_view *d)
{
	for (size_t i = 0; i < d->n_lines; i++) {
		free(d->lines[i]);
	}
	free(d->lines);
	d->lines = NULL;
	d->n_lines = 0;
}

__attribute__((format(printf, 2, 3))) static void add_line(struct detail_view *d, const char *fmt,
                                                           ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	d->lines = xrealloc(d->lines, (d->n_lines + 1) * sizeof(*d->lines));
	d->lines[d->n_lines++] = s;
}

static const char *js(const json_t *o, const char *key)
{
	return or_dash(json_str(o, key));
}

static void app_lines(struct detail_view *d, json_t *root)
{
	lines_clear(d);
	json_t *st = json_object_get(root, "status");
	json_t *src = json_path(root, "spec", "source", NULL);
	json_t *dst = json_path(root, "spec", "destination", NULL);
	add_line(d, "%s   sync %s · health %s · revision %.7s", d->app,
	         js(json_object_get(st, "sync"), "status"),
	         js(json_object_get(st, "health"), "status"),
	         js(json_object_get(st, "sync"), "revision"));
	add_line(d, "source %s path %s at %s → namespace %s", js(src, "repoURL"), js(src, "path"),
	         js(src, "targetRevision"), js(dst, "namespace"));
	add_line(d, "%s", "");
	json_t *op = json_object_get(st, "operationState");
	if (op) {
		add_line(d, "LAST OPERATION  %s (started %s, finished %s)", js(op, "phase"),
		         js(op, "startedAt"), js(op, "finishedAt"));
		if (json_str(op, "message") && *json_str(op, "message")) {
			add_line(d, "  %s", json_str(op, "message"));
		}
		json_t *res = json_path(op, "syncResult", "resources", NULL);
		size_t i;
		json_t *r;
		json_array_foreach (res, i, r) {
			const char *status = json_str(r, "status");
			add_line(d, "  %s %s %s/%s: %s — %s", str_eq(status, "Synced") ? "✓" : "✗",
			         js(r, "kind"), js(r, "namespace"), js(r, "name"), or_dash(status),
			         js(r, "message"));
		}
	} else {
		add_line(d, "LAST OPERATION  none");
	}
	add_line(d, "%s", "");
	json_t *res = json_object_get(st, "resources");
	add_line(d, "RESOURCES (%zu)", json_array_size(res));
	size_t i;
	json_t *r;
	json_array_foreach (res, i, r) {
		const char *sync = json_str(r, "status");
		const char *health = json_str(json_object_get(r, "health"), "status");
		add_line(d, "  %s %s %s/%s  %s%s%s", sync_symbol(sync), js(r, "kind"),
		         js(r, "namespace"), js(r, "name"), or_dash(sync), health ? " · " : "",
		         health ? health : "");
	}
}

static void detail_arm(struct detail_view *d)
{
	if (!d->done) {
		arm(d->timer, FOLLOW_MS);
	}
}

static void on_detail_app(void *ud, const char *body, size_t len, const struct err *err)
{
	struct detail_view *d = ud;
	d->req = NULL;
	char jerr[160];
	json_t *root = err ? NULL : json_load_body(body, len, jerr, sizeof(jerr));
	if (err) {
		snprintf(d->error, sizeof(d->error), "%s", err->msg);
	} else if (!root || !json_is_object(json_object_get(root, "status"))) {
		snprintf(d->error, sizeof(d->error), "argocd: malformed application %s: %s", d->app,
		         root ? "no status" : jerr);
	} else {
		d->error[0] = '\0';
		d->loaded = true;
		app_lines(d, root);
	}
	json_decref(root);
	detail_arm(d);
	app_dirty(d->base.app);
}

static const char *step_symbol(const char *status, const char *conclusion)
{
	if (!str_eq(status, "completed")) {
		return str_eq(status, "in_progress") ? "◷" : "·";
	}
	return str_eq(conclusion, "success") ? "✓" : str_eq(conclusion, "skipped") ? "-" : "✗";
}

static void on_detail_jobs(void *ud, const char *body, size_t len, const struct err *err)
{
	struct detail_view *d = ud;
	struct github_job_list jobs;
	struct err e;
	if (err) {
		snprintf(d->error, sizeof(d->error), "%s", err->msg);
	} else if (!github_parse_jobs(body, len, &jobs, &e)) {
		snprintf(d->error, sizeof(d->error), "github: malformed jobs of run %lld: %s",
		         (long long)d->run_id, e.msg);
	} else {
		d->error[0] = '\0';
		d->loaded = true;
		lines_clear(d);
		const struct github_run *r = &d->run;
		char age[32] = "?";
		if (r->created > 0) {
			format_duration((int64_t)(now_wall() - r->created), age, sizeof(age));
		}
		add_line(d, "run %lld of %s   %s %s%s%s", (long long)r->id, d->workflow,
		         step_symbol(r->status, r->conclusion), or_dash(r->status),
		         r->conclusion ? " " : "", r->conclusion ? r->conclusion : "");
		add_line(d, "on %s by %s, %s ago · %s", or_dash(r->head_branch), or_dash(r->event),
		         age, or_dash(r->html_url));
		for (size_t i = 0; i < jobs.len; i++) {
			const struct github_job *j = &jobs.items[i];
			add_line(d, "%s", "");
			add_line(d, "JOB %s   %s %s%s%s", or_dash(j->name),
			         step_symbol(j->status, j->conclusion), or_dash(j->status),
			         j->conclusion ? " " : "", j->conclusion ? j->conclusion : "");
			for (size_t k = 0; k < j->n_steps; k++) {
				const struct github_step *s = &j->steps[k];
				add_line(d, "  %s %d %s  %s%s%s",
				         step_symbol(s->status, s->conclusion), s->number,
				         or_dash(s->name), or_dash(s->status),
				         s->conclusion ? " " : "",
				         s->conclusion ? s->conclusion : "");
			}
		}
		d->done = github_run_done(r);
		github_job_list_finish(&jobs);
	}
	detail_arm(d);
	app_dirty(d->base.app);
}

static void on_detail_run(void *ud, const char *body, size_t len, const struct err *err)
{
	struct detail_view *d = ud;
	struct err e;
	github_run_finish(&d->run);
	memset(&d->run, 0, sizeof(d->run));
	if (err || !github_parse_run(body, len, &d->run, &e)) {
		memset(&d->run, 0, sizeof(d->run));
		snprintf(d->error, sizeof(d->error), "%s",
		         err ? err->msg : "github: malformed workflow run");
		detail_arm(d);
		app_dirty(d->base.app);
		return;
	}
	char *p = xasprintf("/actions/runs/%lld/jobs", (long long)d->run_id);
	github_get(d->gh, p, on_detail_jobs, d);
	free(p);
}

static void detail_load(struct detail_view *d)
{
	if (d->app) {
		if (!d->req) {
			d->req = argocd_get(d->dv->argo, d->app, on_detail_app, d);
		}
	} else if (github_pending(d->gh) == 0) {
		char *p = xasprintf("/actions/runs/%lld", (long long)d->run_id);
		github_get(d->gh, p, on_detail_run, d);
		free(p);
	}
}

static void on_detail_timer(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	detail_load(ud);
}

static void detail_draw(struct view *v, WINDOW *w, int y, int h, int cols)
{
	struct detail_view *d = (struct detail_view *)v;
	int row = 0;
	if (d->error[0]) {
		char *t = text_sanitize(d->error, false);
		char *f = text_fit(t, cols - 2, false);
		wattrset(w, palette_attr(SLOT_ERROR));
		mvwprintw(w, y + row++, 1, "✗ %s", f);
		free(f);
		free(t);
	}
	if (!d->loaded) {
		wattrset(w, palette_attr(SLOT_DIM));
		mvwaddnstr(w, y + row, 1, "loading… (Esc goes back)", cols - 2);
		wattrset(w, palette_attr(SLOT_NORMAL));
		return;
	}
	int rows = h - row;
	if (d->scroll > (int)d->n_lines - rows) {
		d->scroll = (int)d->n_lines - rows;
	}
	if (d->scroll < 0) {
		d->scroll = 0;
	}
	for (int i = 0; i < rows && (size_t)(d->scroll + i) < d->n_lines; i++) {
		const char *l = d->lines[d->scroll + i];
		bool heading = strncmp(l, "LAST OPERATION", 14) == 0 ||
		               strncmp(l, "RESOURCES", 9) == 0 || strncmp(l, "JOB ", 4) == 0;
		wattrset(w, palette_attr(heading ? SLOT_HEADER : SLOT_NORMAL));
		char *t = text_sanitize(l, false);
		char *f = text_fit(t, cols - 2, false);
		mvwaddstr(w, y + row + i, 1, f);
		free(f);
		free(t);
	}
	wattrset(w, palette_attr(SLOT_NORMAL));
}

static bool detail_handle(struct view *v, enum action a, int key)
{
	(void)key;
	struct detail_view *d = (struct detail_view *)v;
	switch (a) {
	case ACT_DOWN:
		d->scroll++;
		return true;
	case ACT_UP:
		d->scroll -= d->scroll > 0;
		return true;
	case ACT_PAGE_DOWN:
		d->scroll += 10;
		return true;
	case ACT_PAGE_UP:
		d->scroll = d->scroll > 10 ? d->scroll - 10 : 0;
		return true;
	case ACT_TOP:
		d->scroll = 0;
		return true;
	case ACT_BOTTOM:
		d->scroll = (int)d->n_lines;
		return true;
	case ACT_REFRESH:
		d->done = false;
		detail_load(d);
		return true;
	case ACT_DEPLOY_SYNC:
	case ACT_DEPLOY_PRUNE:
	case ACT_DEPLOY_DRY_RUN:
		if (d->app) {
			request_sync(d->dv, d->app, a == ACT_DEPLOY_PRUNE, a == ACT_DEPLOY_DRY_RUN);
		}
		return true;
	case ACT_DEPLOY_DISPATCH:
	case ACT_DEPLOY_DISPATCH_INPUTS:
		if (d->workflow) {
			request_dispatch(d->dv, d->workflow, a == ACT_DEPLOY_DISPATCH_INPUTS);
		}
		return true;
	default:
		return false;
	}
}

static void detail_title(struct view *v, char *out, size_t size)
{
	struct detail_view *d = (struct detail_view *)v;
	char *name = text_sanitize(d->app ? d->app : d->workflow, false);
	if (d->app) {
		snprintf(out, size, "deploy › application %s", name);
	} else {
		snprintf(out, size, "deploy › %s run %lld", name, (long long)d->run_id);
	}
	free(name);
}

static void detail_destroy(struct view *v)
{
	struct detail_view *d = (struct detail_view *)v;
	argocd_cancel(d->dv->argo, d->req);
	github_destroy(d->gh);
	event_free(d->timer);
	lines_clear(d);
	github_run_finish(&d->run);
	free(d->app);
	free(d->workflow);
	free(d);
}

static const struct view_ops detail_ops = {
        .name = "deploy",
        .scope = SCOPE_DEPLOY,
        .draw = detail_draw,
        .handle = detail_handle,
        .title = detail_title,
        .destroy = detail_destroy,
};

static void open_detail(struct deploy_view *dv, const char *app, const char *workflow,
                        int64_t run_id)
{
	struct app *a = dv->base.app;
	struct detail_view *d = xcalloc(1, sizeof(*d));
	d->base.ops = &detail_ops;
	d->base.app = a;
	d->dv = dv;
	d->app = app ? xstrdup(app) : NULL;
	d->workflow = workflow ? xstrdup(workflow) : NULL;
	d->run_id = run_id;
	if (!app) {
		d->gh = github_create(app_http(a), app_base(a), &app_config(a)->github);
	}
	d->timer = evtimer_new(app_base(a), on_detail_timer, d);
	detail_load(d);
	app_push(a, &d->base);
}

/* --- the view --- */

static bool has(const struct deploy_view *dv, enum section s)
{
	return s == SEC_APPS ? dv->argo != NULL : dv->gh != NULL;
}

static struct listview *focused(struct deploy_view *dv)
{
	return dv->focus == SEC_APPS ? &dv->apps_lv : &dv->wf_lv;
}

/* draw_section draws one section in rows [y, y+h): its title, its error, its list. */
static void draw_section(struct deploy_view *dv, WINDOW *w, int y, int h, int cols,
                         enum section sec)
{
	bool focus = dv->focus == sec;
	bool apps = sec == SEC_APPS;
	struct listview *lv = apps ? &dv->apps_lv : &dv->wf_lv;
	const char *error = apps ? dv->apps_error : dv->gh_error;
	bool loaded = apps ? dv->apps_loaded : dv->wfs_loaded;
	char title[256];
	if (apps) {
		size_t out_of_sync = 0;
		for (size_t i = 0; i < dv->apps.len; i++) {
			out_of_sync += !str_eq(dv->apps.items[i].sync, "Synced");
		}
		snprintf(title, sizeof(title), "%s ArgoCD apps %zu, %zu not synced%s",
		         focus ? "▸" : " ", dv->apps.len, out_of_sync,
		         focus ? " · S sync  P prune  D dry run  Enter details" : " · Tab");
	} else {
		const struct config *cfg = app_config(dv->base.app);
		snprintf(title, sizeof(title), "%s GitHub workflows of %s %zu%s", focus ? "▸" : " ",
		         or_dash(cfg->github.repo), dv->wfs.len,
		         focus ? " · W run  Enter latest run" : " · Tab");
	}
	char *t = text_sanitize(title, false);
	char *f = text_fit(t, cols, false);
	wattrset(w, palette_attr(focus ? SLOT_ACCENT : SLOT_DIM));
	mvwaddstr(w, y, 0, f);
	free(f);
	free(t);
	int row = 1;
	if (error[0] && row < h) {
		char *e = xasprintf("✗ %s%s", error,
		                    loaded ? " (showing the last good data; r retries)" : "");
		char *es = text_sanitize(e, false);
		char *ef = text_fit(es, cols - 1, false);
		wattrset(w, palette_attr(SLOT_ERROR));
		mvwaddstr(w, y + row++, 1, ef);
		free(ef);
		free(es);
		free(e);
	}
	if (!loaded) {
		if (!error[0] && row < h) {
			wattrset(w, palette_attr(SLOT_DIM));
			mvwaddnstr(w, y + row, 1, "loading…", cols - 1);
		}
		wattrset(w, palette_attr(SLOT_NORMAL));
		return;
	}
	if (h - row >= 2) {
		listview_draw(lv, w, y + row, 0, h - row, cols);
		if (!focus && lv->n_order && lv->selected >= lv->top &&
		    lv->selected - lv->top < (size_t)(h - row - 1)) {
			/* The cursor of the section without focus, in its own style. */
			attr_t at = palette_attr(SLOT_SELECTED_INACTIVE);
			mvwchgat(w, y + row + 1 + (int)(lv->selected - lv->top), 0, cols,
			         at & ~A_COLOR, (short)PAIR_NUMBER(at), NULL);
		}
	}
	wattrset(w, palette_attr(SLOT_NORMAL));
}

static int section_need(const struct deploy_view *dv, enum section s)
{
	bool apps = s == SEC_APPS;
	int n = (int)(apps ? dv->n_rows : dv->wfs.len);
	return 2 + ((apps ? dv->apps_error : dv->gh_error)[0] != '\0') + (n ? n : 1);
}

static void draw(struct view *v, WINDOW *w, int y, int h, int cols)
{
	struct deploy_view *dv = (struct deploy_view *)v;
	if (!dv->argo && !dv->gh) {
		wattrset(w, palette_attr(SLOT_DIM));
		mvwaddnstr(
		        w, y + 1, 2,
		        "neither [argocd] nor [github] is configured: add [argocd] url and token, "
		        "or [github] repo and token (docs/configuration.md)",
		        cols - 4);
		return;
	}
	struct sync_run *ask = asking_sync(dv);
	int avail = h - (ask ? 1 : 0);
	if (ask) {
		char *q = xasprintf("%s: another operation is already in progress — w waits for it "
		                    "and syncs after, t terminates it, any other key cancels",
		                    ask->name);
		char *qs = text_sanitize(q, false);
		char *qf = text_fit(qs, cols, false);
		wattrset(w, palette_attr(SLOT_PROMPT));
		mvwaddstr(w, y + h - 1, 0, qf);
		free(qf);
		free(qs);
		free(q);
	}
	if (!dv->argo || !dv->gh) {
		draw_section(dv, w, y, avail, cols, dv->argo ? SEC_APPS : SEC_WORKFLOWS);
		return;
	}
	int need_a = section_need(dv, SEC_APPS), need_w = section_need(dv, SEC_WORKFLOWS);
	int ha = need_a + 1 + need_w <= avail ? need_a : avail / 2;
	if (ha > need_a) {
		ha = need_a;
	}
	draw_section(dv, w, y, ha, cols, SEC_APPS);
	int gap = need_a + 1 + need_w <= avail ? 1 : 0;
	draw_section(dv, w, y + ha + gap, avail - ha - gap, cols, SEC_WORKFLOWS);
}

static bool handle(struct view *v, enum action a, int key)
{
	struct deploy_view *dv = (struct deploy_view *)v;
	if (a == ACT_NONE && key == -1) {
		return false; /* the status poller's data: nothing of ours */
	}
	struct sync_run *ask = asking_sync(dv);
	if (ask && a == ACT_NONE) {
		busy_choice(ask, key);
		return true;
	}
	switch (a) {
	case ACT_DEPLOY_SECTION: {
		enum section other = dv->focus == SEC_APPS ? SEC_WORKFLOWS : SEC_APPS;
		if (has(dv, other)) {
			dv->focus = other;
		} else {
			app_message(v->app, false, "%s is not configured",
			            other == SEC_APPS ? "[argocd]" : "[github]");
		}
		return true;
	}
	case ACT_REFRESH:
		lists_refresh(dv, true);
		app_message(v->app, false, "refreshing…");
		return true;
	case ACT_ENTER:
	case ACT_DEPLOY_SYNC:
	case ACT_DEPLOY_PRUNE:
	case ACT_DEPLOY_DRY_RUN:
	case ACT_DEPLOY_DISPATCH:
	case ACT_DEPLOY_DISPATCH_INPUTS:
		break;
	default:
		return false;
	}
	size_t row = listview_selected(focused(dv));
	if (dv->focus == SEC_APPS) {
		if (a == ACT_DEPLOY_DISPATCH || a == ACT_DEPLOY_DISPATCH_INPUTS) {
			app_message(v->app, true, "%s runs a GitHub workflow: Tab to the workflows",
			            a == ACT_DEPLOY_DISPATCH ? "W" : "I");
			return true;
		}
		if (row == (size_t)-1 || !dv->argo) {
			return true;
		}
		const char *name = dv->apps.items[dv->rows[row].idx].name;
		if (a == ACT_ENTER) {
			open_detail(dv, name, NULL, 0);
		} else {
			request_sync(dv, name, a == ACT_DEPLOY_PRUNE, a == ACT_DEPLOY_DRY_RUN);
		}
		return true;
	}
	if (a != ACT_ENTER && a != ACT_DEPLOY_DISPATCH && a != ACT_DEPLOY_DISPATCH_INPUTS) {
		app_message(v->app, true, "%s syncs an ArgoCD application: Tab to the applications",
		            a == ACT_DEPLOY_SYNC    ? "S"
		            : a == ACT_DEPLOY_PRUNE ? "P"
		                                    : "D");
		return true;
	}
	if (row == (size_t)-1 || !dv->gh) {
		return true;
	}
	const struct github_workflow *wf = &dv->wfs.items[row];
	if (a == ACT_DEPLOY_DISPATCH || a == ACT_DEPLOY_DISPATCH_INPUTS) {
		request_dispatch(dv, file_of(wf->path), a == ACT_DEPLOY_DISPATCH_INPUTS);
		return true;
	}
	const struct github_run *r = last_run(dv, wf);
	if (!r) {
		app_message(v->app, false, "%s has no recent run (W runs it)", file_of(wf->path));
		return true;
	}
	open_detail(dv, NULL, file_of(wf->path), r->id);
	return true;
}

static void title(struct view *v, char *out, size_t size)
{
	struct deploy_view *dv = (struct deploy_view *)v;
	size_t running = 0;
	for (struct sync_run *s = dv->syncs; s; s = s->next) {
		running += s->state != SYNC_ASKING;
	}
	for (struct dispatch_run *d = dv->dispatches; d; d = d->next) {
		running += d->state != DISPATCH_ASKING && !d->finished;
	}
	snprintf(out, size, "deploy %zu apps, %zu workflows%s", dv->apps.len, dv->wfs.len,
	         running ? " (actions running)" : "");
}

static struct listview *list(struct view *v)
{
	struct deploy_view *dv = (struct deploy_view *)v;
	return has(dv, dv->focus) ? focused(dv) : NULL;
}

static void enter(struct view *v)
{
	struct deploy_view *dv = (struct deploy_view *)v;
	dv->visible = true;
	lists_refresh(dv, false);
	int s = app_refresh_s(v->app);
	arm(dv->timer, (s > 0 ? s : 5) * 1000);
}

static void leave(struct view *v)
{
	struct deploy_view *dv = (struct deploy_view *)v;
	dv->visible = false;
	evtimer_del(dv->timer);
}

static bool cancel(struct view *v)
{
	struct deploy_view *dv = (struct deploy_view *)v;
	bool any = dv->apps_req || dv->gh_busy;
	argocd_cancel(dv->argo, dv->apps_req);
	dv->apps_req = NULL;
	if (dv->gh_busy) {
		github_destroy(dv->gh);
		dv->gh = github_create(app_http(v->app), app_base(v->app),
		                       &app_config(v->app)->github);
		dv->gh_busy = 0;
		dv->gh_again = false;
	}
	return any;
}

static bool wants_raw(struct view *v)
{
	return asking_sync((struct deploy_view *)v) != NULL;
}

static void destroy(struct view *v)
{
	struct deploy_view *dv = (struct deploy_view *)v;
	while (dv->syncs) {
		sync_free(dv->syncs);
	}
	for (struct dispatch_run *d = dv->dispatches; d; d = d->next) {
		d->finished = true;
	}
	on_reap(-1, 0, dv);
	argocd_destroy(dv->argo);
	github_destroy(dv->gh);
	event_free(dv->timer);
	event_free(dv->reaper);
	listview_finish(&dv->apps_lv);
	listview_finish(&dv->wf_lv);
	argocd_app_list_finish(&dv->apps);
	github_workflow_list_finish(&dv->wfs);
	github_run_list_finish(&dv->runs);
	free(dv->rows);
	free(dv);
}

static const struct view_ops ops = {
        .name = "deploy",
        .scope = SCOPE_DEPLOY,
        .draw = draw,
        .handle = handle,
        .title = title,
        .list = list,
        .enter = enter,
        .leave = leave,
        .cancel = cancel,
        .destroy = destroy,
        .wants_raw = wants_raw,
};

struct view *view_deploy_create(struct app *a)
{
	struct deploy_view *dv = xcalloc(1, sizeof(*dv));
	dv->base.ops = &ops;
	dv->base.app = a;
	const struct config *cfg = app_config(a);
	if (cfg->argocd.configured) {
		dv->argo = argocd_create(app_http(a), &cfg->argocd);
	}
	if (cfg->github.configured) {
		dv->gh = github_create(app_http(a), app_base(a), &cfg->github);
	}
	dv->focus = dv->argo ? SEC_APPS : SEC_WORKFLOWS;
	dv->timer = evtimer_new(app_base(a), on_timer, dv);
	dv->reaper = evtimer_new(app_base(a), on_reap, dv);
	struct list_source as = {
	        .cols = app_columns,
	        .ncols = A_N,
	        .count = a_count,
	        .cell = a_cell,
	        .slot = a_slot,
	        .key = a_key,
	        .ud = dv,
	};
	listview_init(&dv->apps_lv, &as);
	struct list_source ws = {
	        .cols = wf_columns,
	        .ncols = W_N,
	        .count = w_count,
	        .cell = w_cell,
	        .slot = w_slot,
	        .key = w_key,
	        .ud = dv,
	};
	listview_init(&dv->wf_lv, &ws);
	return &dv->base;
}
