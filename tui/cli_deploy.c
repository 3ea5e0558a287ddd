/* cli_deploy.c: `labdeck deploy list|sync|run` (SPEC.md §3): ArgoCD applications and their sync,
 * GitHub Actions workflows and their dispatch, each followed to its end with --wait.
 *
 * Following polls every LABDECK_POLL_INTERVAL seconds (default 1; tests shorten it). A sync
 * or a dispatch is sent once: it is never retried on its own. Ctrl-C stops following, not the
 * remote operation (exit 130). */
#include <event2/event.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "argocd.h"
#include "cli.h"
#include "cli_action.h"
#include "github.h"
#include "text.h"
#include "util.h"

#define FIND_RUN_TRIES 30

/* One call's answer, waited for on the loop. */
struct answer {
	bool done, failed;
	char *body;
	size_t len;
	struct err err;
};

static bool interrupted;

static void on_sigint(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	(void)ud;
	interrupted = true;
}

static void answer_reset(struct answer *a)
{
	free(a->body);
	memset(a, 0, sizeof(*a));
}

static void on_answer(void *ud, const char *body, size_t len, const struct err *err)
{
	struct answer *a = ud;
	a->done = true;
	a->body = xmalloc(len + 1);
	if (len) {
		memcpy(a->body, body, len);
	}
	a->body[len] = '\0';
	a->len = len;
	if (err) {
		a->failed = true;
		a->err = *err;
	}
}

/* wait_answers turns the loop until every answer in as[] is done; false when interrupted. */
static bool wait_answers(struct cli *c, struct answer **as, size_t n)
{
	for (;;) {
		bool all = true;
		for (size_t i = 0; i < n; i++) {
			all = all && as[i]->done;
		}
		if (all) {
			return true;
		}
		if (interrupted) {
			return false;
		}
		event_base_loop(c->base, EVLOOP_ONCE);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	*(bool *)ud = true;
}

/* pause_follow waits one follow interval; false when interrupted. */
static bool pause_follow(struct cli *c)
{
	double s = 1.0;
	const char *env = getenv("LABDECK_POLL_INTERVAL");
	if (env && *env) {
		char *end;
		double v = strtod(env, &end);
		if (!*end && v >= 0 && v <= 60) {
			s = v;
		}
	}
	bool fired = false;
	struct event *t = evtimer_new(c->base, on_tick, &fired);
	struct timeval tv = {(time_t)s, (suseconds_t)(fmod(s, 1.0) * 1e6)};
	evtimer_add(t, &tv);
	while (!fired && !interrupted) {
		event_base_loop(c->base, EVLOOP_ONCE);
	}
	event_free(t);
	return !interrupted;
}

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

static int fail_with(struct cli *c, const char *backend, const struct err *e)
{
	cli_add_error(c, backend, e);
	cli_report_errors(c);
	return c->exit_status;
}

static int config_missing(struct cli *c, const char *section, const char *key)
{
	cli_say("[%s] is not configured: set %s in it (docs/configuration.md)", section, key);
	return 2;
}

/* --- deploy list --- */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static void print_app_row(const struct argocd_app *x, bool child)
{
	char *bare = xasprintf("%s%s", child ? "  └ " : "", x->name);
	int pad = 24 - text_width(bare);
	char *name = xasprintf("%s%*s", bare, pad > 0 ? pad : 0, "");
	free(bare);
	char rev[9];
	snprintf(rev, sizeof(rev), "%s", or_dash(x->revision));
	char *line =
	        xasprintf("%s %-10s %-12s %-8s %s%s%s", name, or_dash(x->sync), or_dash(x->health),
	                  rev, or_dash(x->phase), x->op_message && *x->op_message ? ": " : "",
	                  x->op_message ? x->op_message : "");
	char *safe = text_sanitize(line, false);
	puts(safe);
	free(safe);
	free(line);
	free(name);
}

/* print_apps prints the table: each root, then the apps of its app-of-apps indented under it. */
static void print_apps(const struct argocd_app_list *l)
{
	printf("%-24s %-10s %-12s %-8s %s\n", "APPLICATION", "SYNC", "HEALTH", "REVISION",
	       "LAST OPERATION");
	for (size_t i = 0; i < l->len; i++) {
		const struct argocd_app *a = &l->items[i];
		bool has_parent = false;
		for (size_t k = 0; a->parent && k < l->len; k++) {
			has_parent = has_parent || strcmp(l->items[k].name, a->parent) == 0;
		}
		if (has_parent) {
			continue;
		}
		print_app_row(a, false);
		for (size_t k = 0; k < l->len; k++) {
			if (l->items[k].parent && strcmp(l->items[k].parent, a->name) == 0) {
				print_app_row(&l->items[k], true);
			}
		}
	}
}

static int deploy_list(struct cli *c)
{
	bool use_argo = c->cfg.argocd.configured, use_gh = c->cfg.github.configured;
	if (!use_argo && !use_gh) {
		cli_say("neither [argocd] nor [github] is configured (docs/configuration.md)");
		return 2;
	}
	struct argocd *argo = use_argo ? argocd_create(c->http, &c->cfg.argocd) : NULL;
	struct github *gh = use_gh ? github_create(c->http, c->base, &c->cfg.github) : NULL;
	struct answer aa = {0}, ga = {0};
	struct answer *wait[2];
	size_t nw = 0;
	if (argo) {
		argocd_list(argo, on_answer, &aa);
		wait[nw++] = &aa;
	}
	if (gh) {
		github_get(gh, "/actions/workflows?per_page=100", on_answer, &ga);
		wait[nw++] = &ga;
	}
	struct event *sig = evsignal_new(c->base, SIGINT, on_sigint, NULL);
	event_add(sig, NULL);
	bool ok = wait_answers(c, wait, nw);
	event_free(sig);
	struct argocd_app_list apps = {0};
	struct github_workflow_list wfs = {0};
	bool have_apps = false, have_wfs = false;
	if (ok && argo) {
		struct err e;
		if (aa.failed) {
			cli_add_error(c, "argocd", &aa.err);
		} else if (!argocd_parse_list(aa.body, aa.len, &apps, &e)) {
			struct err m;
			err_set(&m, ERR_MALFORMED, 0,
			        "argocd: malformed answer to GET /api/v1/applications: %s (is url "
			        "the "
			        "Argo CD server?)",
			        e.msg);
			cli_add_error(c, "argocd", &m);
		} else {
			have_apps = true;
		}
	}
	if (ok && gh) {
		struct err e;
		if (ga.failed) {
			cli_add_error(c, "github", &ga.err);
		} else if (!github_parse_workflows(ga.body, ga.len, &wfs, &e)) {
			struct err m;
			err_set(&m, ERR_MALFORMED, 0,
			        "github: malformed answer to GET .../actions/workflows: %s (is url "
			        "the "
			        "GitHub API?)",
			        e.msg);
			cli_add_error(c, "github", &m);
		} else {
			have_wfs = true;
		}
	}
	if (!ok) {
		fputs("labdeck: interrupted\n", stderr);
		c->exit_status = 130;
	} else if (c->json) {
		json_t *root = json_object();
		json_t *ja = json_array(), *jw = json_array(), *je = json_array();
		for (size_t i = 0; i < apps.len; i++) {
			const struct argocd_app *a = &apps.items[i];
			json_t *o = json_object();
			json_object_set_new(o, "name", json_string(a->name));
			json_object_set_new(o, "sync", str_or_null(a->sync));
			json_object_set_new(o, "health", str_or_null(a->health));
			json_object_set_new(o, "revision", str_or_null(a->revision));
			json_object_set_new(o, "parent", str_or_null(a->parent));
			json_object_set_new(o, "operation", str_or_null(a->phase));
			json_array_append_new(ja, o);
		}
		for (size_t i = 0; i < wfs.len; i++) {
			json_t *o = json_object();
			json_object_set_new(o, "name", json_string(wfs.items[i].name));
			json_object_set_new(o, "path", json_string(wfs.items[i].path));
			json_object_set_new(o, "state", str_or_null(wfs.items[i].state));
			json_object_set_new(o, "id", json_integer(wfs.items[i].id));
			json_array_append_new(jw, o);
		}
		for (size_t i = 0; i < c->n_errors; i++) {
			json_t *o = json_object();
			json_object_set_new(o, "backend", json_string(c->errors[i].backend));
			json_object_set_new(o, "message", json_string(c->errors[i].err.msg));
			json_object_set_new(o, "code",
			                    json_string(err_code_name(c->errors[i].err.code)));
			json_array_append_new(je, o);
		}
		json_object_set_new(root, "applications", ja);
		json_object_set_new(root, "workflows", jw);
		json_object_set_new(root, "errors", je);
		{
			char *json = json_dumps(
			        root,
			        JSON_COMPACT |
			                (isatty(STDOUT_FILENO)
			                         ? JSON_INDENT(2)
			                         : 0)); /* C1 and bidi escaped (text_json_fputs) */
			text_json_fputs(json, stdout);
			free(json);
		}
		fputc('\n', stdout);
		json_decref(root);
	} else {
		if (have_apps) {
			print_apps(&apps);
		}
		if (have_apps && have_wfs) {
			putchar('\n');
		}
		if (have_wfs) {
			printf("%-26s %-24s %s\n", "WORKFLOW", "NAME", "STATE");
			for (size_t i = 0; i < wfs.len; i++) {
				const char *p = strrchr(wfs.items[i].path, '/');
				char *line =
				        xasprintf("%-26s %-24s %s", p ? p + 1 : wfs.items[i].path,
				                  wfs.items[i].name, or_dash(wfs.items[i].state));
				char *safe = text_sanitize(line, false);
				puts(safe);
				free(safe);
				free(line);
			}
		}
	}
	fflush(stdout);
	cli_report_errors(c);
	argocd_app_list_finish(&apps);
	github_workflow_list_finish(&wfs);
	answer_reset(&aa);
	answer_reset(&ga);
	argocd_destroy(argo);
	github_destroy(gh);
	return c->exit_status;
}

/* --- deploy sync --- */

/* follow_app polls the app until its operation started at or after since ends. Returns 0, 1
 * (failed), 130 (interrupted) or an error's exit status; *out keeps the last state. Each new state
 * goes to p's Discord message too (p may be NULL). */
static int follow_app(struct cli *c, struct argocd *argo, const char *name, const char *since,
                      struct argocd_app *out, struct cli_progress *p)
{
	char *last = NULL;
	int pending_polls = 0;
	for (;;) {
		struct answer a = {0};
		struct answer *w[1] = {&a};
		argocd_get(argo, name, on_answer, &a);
		if (!wait_answers(c, w, 1)) {
			answer_reset(&a);
			free(last);
			return 130;
		}
		if (a.failed) {
			int rc = fail_with(c, "argocd", &a.err);
			answer_reset(&a);
			free(last);
			return rc;
		}
		struct argocd_app app;
		struct err e;
		if (!argocd_parse_app(a.body, a.len, &app, &e)) {
			answer_reset(&a);
			free(last);
			struct err m;
			err_set(&m, ERR_MALFORMED, 0, "argocd: malformed application %s: %s", name,
			        e.msg);
			return fail_with(c, "argocd", &m);
		}
		answer_reset(&a);
		enum argocd_op_state st = argocd_op_state_of(&app, since);
		char *line = xasprintf("%s: %s%s%s (sync %s, health %s)", name,
		                       st == ARGOCD_OP_PENDING ? "Pending" : or_dash(app.phase),
		                       app.op_message && *app.op_message ? ": " : "",
		                       app.op_message ? app.op_message : "", or_dash(app.sync),
		                       or_dash(app.health));
		if (!last || strcmp(last, line) != 0) {
			cli_say("%s", line);
			cli_action_progress_state(p, line + strlen(name) + 2);
		}
		free(last);
		last = line;
		if (st == ARGOCD_OP_SUCCEEDED || st == ARGOCD_OP_FAILED) {
			argocd_app_finish(out);
			*out = app;
			free(last);
			return st == ARGOCD_OP_SUCCEEDED ? 0 : 1;
		}
		if (st == ARGOCD_OP_PENDING && ++pending_polls > FIND_RUN_TRIES) {
			argocd_app_finish(out);
			*out = app;
			free(last);
			cli_say("%s: the operation did not show up in operationState", name);
			return 1;
		}
		argocd_app_finish(&app);
		if (!pause_follow(c)) {
			free(last);
			return 130;
		}
	}
}

/* ask_busy offers, on a terminal, to wait for the running operation or terminate it: 'w', 't'
 * or 0 (cancel). */
static int ask_busy(const char *app)
{
	char *safe = text_sanitize(app, false);
	fprintf(stderr, "%s has an operation running: [w]ait for it, [t]erminate it, or [c]ancel? ",
	        safe);
	fflush(stderr);
	free(safe);
	char line[64];
	if (!fgets(line, sizeof(line), stdin)) {
		fputc('\n', stderr);
		return 0;
	}
	if (line[0] == 'w' || line[0] == 'W') {
		return 'w';
	}
	if (line[0] == 't' || line[0] == 'T') {
		return 't';
	}
	return 0;
}

static int deploy_sync(struct cli *c, const char *app, const char *revision, bool prune,
                       bool dry_run, bool yes, bool wait)
{
	if (!c->cfg.argocd.configured) {
		return config_missing(c, "argocd", "url");
	}
	char *what = xasprintf("sync %s%s%s%s", app, prune ? " with prune" : "",
	                       dry_run ? " (dry run)" : "", revision ? " to revision " : "");
	if (revision) {
		char *w2 = xasprintf("%s%s", what, revision);
		free(what);
		what = w2;
	}
	int rc = cli_action_gate(c, yes, what, prune && !dry_run ? app : NULL);
	free(what);
	if (rc != 0) {
		return rc;
	}
	struct argocd *argo = argocd_create(c->http, &c->cfg.argocd);
	struct event *sig = evsignal_new(c->base, SIGINT, on_sigint, NULL);
	event_add(sig, NULL);
	struct argocd_app last = {0};
	char since[32];
	for (int attempt = 0;; attempt++) {
		iso_time(now_wall() - 1, since, sizeof(since));
		struct answer a = {0};
		struct answer *w[1] = {&a};
		argocd_sync(argo, app, revision, prune, dry_run, on_answer, &a);
		if (!wait_answers(c, w, 1)) {
			/* The POST may have arrived: say so rather than guess. */
			cli_say("interrupted: the sync of %s may have started; check with 'labdeck "
			        "deploy "
			        "list'",
			        app);
			answer_reset(&a);
			rc = 130;
			goto out;
		}
		if (!a.failed) {
			answer_reset(&a);
			break;
		}
		if (!argocd_is_busy(&a.err) || attempt > 0) {
			rc = fail_with(c, "argocd", &a.err);
			if (argocd_is_busy(&a.err)) {
				cli_say("wait for it to end or terminate it (ArgoCD does not queue "
				        "syncs)");
			}
			answer_reset(&a);
			goto out;
		}
		int choice = isatty(STDIN_FILENO) && isatty(STDERR_FILENO) ? ask_busy(app) : 0;
		if (choice == 0) {
			rc = fail_with(c, "argocd", &a.err);
			cli_say("wait for it to end or terminate it (ArgoCD does not queue syncs)");
			answer_reset(&a);
			goto out;
		}
		answer_reset(&a);
		if (choice == 't') {
			struct answer t = {0};
			struct answer *tw[1] = {&t};
			argocd_terminate(argo, app, on_answer, &t);
			if (!wait_answers(c, tw, 1)) {
				answer_reset(&t);
				rc = 130;
				goto out;
			}
			if (t.failed) {
				rc = fail_with(c, "argocd", &t.err);
				answer_reset(&t);
				goto out;
			}
			answer_reset(&t);
			cli_say("terminating the running operation on %s", app);
		}
		int frc = follow_app(c, argo, app, NULL, &last, NULL);
		if (frc != 0 && frc != 1) {
			rc = frc;
			goto out;
		}
	}
	if (!wait) {
		cli_action_print(c, "sync", app, app, "Running", NULL);
		rc = 0;
		goto out;
	}
	/* From here every path ends the progress once: cli_action_print edits its message into
	 * the answer, or cli_action_progress_end says why there is none. */
	struct cli_progress *p = cli_action_progress(c, "sync", app);
	rc = follow_app(c, argo, app, since, &last, p);
	if (rc == 130) {
		cli_say("stopped following; the sync of %s goes on: check with 'labdeck deploy "
		        "list'",
		        app);
		cli_action_progress_end(p, "stopped following; still running");
	} else if (rc != 0 && rc != 1) {
		cli_action_progress_end(p, "could not follow the sync; it may still be running");
	} else {
		json_t *extra = json_object();
		json_object_set_new(extra, "message", str_or_null(last.op_message));
		json_object_set_new(extra, "revision", str_or_null(last.revision));
		json_object_set_new(extra, "sync", str_or_null(last.sync));
		json_object_set_new(extra, "health", str_or_null(last.health));
		cli_action_print(c, "sync", app, app, last.phase, extra);
		if (rc == 1) {
			cli_say("sync of %s failed: %s", app, or_dash(last.op_message));
		}
	}
out:
	argocd_app_finish(&last);
	event_free(sig);
	argocd_destroy(argo);
	return rc;
}

/* --- deploy run --- */

static char *runs_query(const char *workflow, const char *ref, double since)
{
	char t[32];
	iso_time(since, t, sizeof(t));
	char *w = url_escape(workflow);
	char *r = url_escape(ref);
	char *q = xasprintf("/actions/workflows/%s/"
	                    "runs?event=workflow_dispatch&branch=%s&created=%%3E%%3D%s&per_page=20",
	                    w, r, t);
	free(w);
	free(r);
	return q;
}

/* get_json runs one GET and waits; false (after recording the error) when it failed. */
static bool gh_get(struct cli *c, struct github *gh, const char *path, struct answer *a, int *rc)
{
	memset(a, 0, sizeof(*a));
	struct answer *w[1] = {a};
	github_get(gh, path, on_answer, a);
	if (!wait_answers(c, w, 1)) {
		*rc = 130;
		return false;
	}
	if (a->failed) {
		*rc = fail_with(c, "github", &a->err);
		return false;
	}
	return true;
}

static char *jobs_line(const struct github_job_list *jobs)
{
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < jobs->len; i++) {
		const struct github_job *j = &jobs->items[i];
		const char *cur = NULL;
		for (size_t k = 0; k < j->n_steps; k++) {
			if (strcmp(j->steps[k].status, "in_progress") == 0) {
				cur = j->steps[k].name;
			}
			if (j->steps[k].conclusion &&
			    strcmp(j->steps[k].conclusion, "failure") == 0) {
				cur = j->steps[k].name;
			}
		}
		buf_appendf(&b, "%s%s %s%s%s", i ? "; " : "", j->name,
		            j->conclusion ? j->conclusion : j->status, cur ? ": " : "",
		            cur ? cur : "");
	}
	buf_append(&b, "", 1);
	return buf_steal(&b);
}

static int deploy_run(struct cli *c, const char *workflow, const char *ref_opt, char **inputs,
                      size_t n_inputs, bool yes, bool wait)
{
	if (!c->cfg.github.configured) {
		return config_missing(c, "github", "repo");
	}
	const char *ref = ref_opt ? ref_opt : (c->cfg.github.ref ? c->cfg.github.ref : "main");
	const char **keys = xcalloc(n_inputs + 1, sizeof(*keys));
	const char **vals = xcalloc(n_inputs + 1, sizeof(*vals));
	struct buf desc;
	buf_init(&desc);
	buf_appendf(&desc, "run workflow %s on %s", workflow, ref);
	for (size_t i = 0; i < n_inputs; i++) {
		char *eq = strchr(inputs[i], '=');
		*eq = '\0';
		keys[i] = inputs[i];
		vals[i] = eq + 1;
		buf_appendf(&desc, "%s%s=%s", i ? ", " : " with ", keys[i], vals[i]);
	}
	buf_append(&desc, "", 1);
	char *what = buf_steal(&desc);
	int rc = cli_action_gate(c, yes, what, NULL);
	free(what);
	if (rc != 0) {
		free(keys);
		free(vals);
		return rc;
	}
	struct github *gh = github_create(c->http, c->base, &c->cfg.github);
	struct event *sig = evsignal_new(c->base, SIGINT, on_sigint, NULL);
	event_add(sig, NULL);
	char *body = github_dispatch_body(ref, keys, vals, n_inputs);
	free(keys);
	free(vals);
	double since = now_wall();
	struct answer a = {0};
	struct answer *w[1] = {&a};
	github_dispatch(gh, workflow, ref, body, on_answer, &a);
	free(body);
	struct github_run run = {0};
	int64_t run_id = 0;
	if (!wait_answers(c, w, 1)) {
		cli_say("interrupted: the workflow %s may have been dispatched; check with "
		        "'labdeck "
		        "deploy "
		        "list' or on GitHub",
		        workflow);
		rc = 130;
		goto out;
	}
	if (a.failed) {
		rc = fail_with(c, "github", &a.err);
		goto out;
	}
	struct err e;
	if (!github_parse_dispatch(a.body, a.len, &run_id, &e)) {
		run_id = 0; /* dispatched all the same: look for the run */
	}
	/* Followed: from here every path ends the progress once (cli_action_print edits its
	 * message into the answer, or cli_action_progress_end says why there is none). */
	struct cli_progress *p = wait ? cli_action_progress(c, "run", workflow) : NULL;
	/* Find the run the dispatch made, unless the answer said. */
	for (int tries = 0; run_id == 0; tries++) {
		if (tries >= FIND_RUN_TRIES) {
			cli_say("dispatched %s on %s, but its run did not show up; look on GitHub",
			        workflow, ref);
			cli_action_print(c, "run", workflow, NULL, "dispatched", NULL);
			rc = 0;
			goto out;
		}
		if (tries > 0 && !pause_follow(c)) {
			cli_say("stopped following; the workflow %s was dispatched on %s: look for "
			        "its run on GitHub",
			        workflow, ref);
			cli_action_progress_end(p, "stopped following; dispatched");
			rc = 130;
			goto out;
		}
		struct answer r;
		char *q = runs_query(workflow, ref, since);
		bool ok = gh_get(c, gh, q, &r, &rc);
		free(q);
		if (!ok) {
			if (rc == 130) {
				cli_say("stopped following; the workflow %s was dispatched on %s: "
				        "look "
				        "for its run on GitHub",
				        workflow, ref);
			}
			cli_action_progress_end(p, rc == 130
			                                   ? "stopped following; dispatched"
			                                   : "dispatched; could not find its run");
			answer_reset(&r);
			goto out;
		}
		struct github_run_list runs;
		if (github_parse_runs(r.body, r.len, &runs, &e)) {
			long i = github_pick_run(&runs, workflow, ref, since, NULL, 0);
			if (i >= 0) {
				run_id = runs.items[i].id;
			}
			github_run_list_finish(&runs);
		}
		answer_reset(&r);
	}
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)run_id);
	if (!wait) {
		cli_action_print(c, "run", workflow, id, "queued", NULL);
		rc = 0;
		goto out;
	}
	/* Follow the run, its jobs and steps. */
	char *last = NULL;
	struct github_job_list jobs = {0};
	bool answered = false;
	for (;;) {
		struct answer r;
		char *path = xasprintf("/actions/runs/%s", id);
		bool ok = gh_get(c, gh, path, &r, &rc);
		free(path);
		if (!ok) {
			answer_reset(&r);
			break;
		}
		github_run_finish(&run);
		if (!github_parse_run(r.body, r.len, &run, &e)) {
			answer_reset(&r);
			struct err m;
			err_set(&m, ERR_MALFORMED, 0, "github: malformed run %s: %s", id, e.msg);
			rc = fail_with(c, "github", &m);
			break;
		}
		answer_reset(&r);
		path = xasprintf("/actions/runs/%s/jobs", id);
		ok = gh_get(c, gh, path, &r, &rc);
		free(path);
		if (!ok) {
			answer_reset(&r);
			break;
		}
		github_job_list_finish(&jobs);
		if (!github_parse_jobs(r.body, r.len, &jobs, &e)) {
			memset(&jobs, 0, sizeof(jobs));
		}
		answer_reset(&r);
		char *steps = jobs_line(&jobs);
		char *line =
		        xasprintf("run %s: %s%s%s%s%s", id, run.status, run.conclusion ? " " : "",
		                  run.conclusion ? run.conclusion : "", *steps ? " — " : "", steps);
		free(steps);
		if (!last || strcmp(line, last) != 0) {
			cli_say("%s", line);
			cli_action_progress_state(p, line);
		}
		free(last);
		last = line;
		if (github_run_done(&run)) {
			json_t *extra = json_object();
			json_object_set_new(extra, "conclusion", str_or_null(run.conclusion));
			json_object_set_new(extra, "url", str_or_null(run.html_url));
			cli_action_print(c, "run", workflow, id, run.conclusion, extra);
			answered = true;
			rc = github_run_ok(&run) ? 0 : 1;
			if (rc) {
				cli_say("run %s ended %s; see %s", id, or_dash(run.conclusion),
				        or_dash(run.html_url));
			}
			break;
		}
		if (!pause_follow(c)) {
			rc = 130;
			break;
		}
	}
	if (rc == 130) {
		cli_say("stopped following; run %s goes on: see it on GitHub (%s)", id,
		        or_dash(run.html_url));
	}
	if (!answered) {
		/* no answer was printed: say why on Discord */
		cli_action_progress_end(p, rc == 130 ? "stopped following; still running"
		                                     : "could not follow the run; it goes on");
	}
	free(last);
	github_job_list_finish(&jobs);
out:
	github_run_finish(&run);
	answer_reset(&a);
	event_free(sig);
	github_destroy(gh);
	return rc;
}

/* --- the command line --- */

static int usage_err(const char *msg, const char *arg)
{
	char *safe = text_sanitize(arg ? arg : "", false);
	fprintf(stderr, "labdeck: %s%s%s\nTry 'labdeck --help'.\n", msg, arg ? " " : "", safe);
	free(safe);
	return 2;
}

int cli_deploy(struct cli *c, int argc, char **argv)
{
	enum { O_PRUNE = 1000, O_DRY, O_WAIT, O_REF, O_INPUT, O_REVISION };
	static const struct option opts[] = {
	        {"prune", no_argument, NULL, O_PRUNE},
	        {"dry-run", no_argument, NULL, O_DRY},
	        {"wait", no_argument, NULL, O_WAIT},
	        {"yes", no_argument, NULL, 'y'},
	        {"ref", required_argument, NULL, O_REF},
	        {"input", required_argument, NULL, O_INPUT},
	        {"revision", required_argument, NULL, O_REVISION},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool prune = false, dry = false, wait = false, yes = false;
	const char *ref = NULL, *revision = NULL;
	char **inputs = xcalloc((size_t)argc + 1, sizeof(*inputs));
	size_t n_inputs = 0;
	int opt, rc = 2;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hy", opts, NULL)) != -1) {
		switch (opt) {
		case O_PRUNE:
			prune = true;
			break;
		case O_DRY:
			dry = true;
			break;
		case O_WAIT:
			wait = true;
			break;
		case 'y':
			yes = true;
			break;
		case O_REF:
			ref = optarg;
			break;
		case O_REVISION:
			revision = optarg;
			break;
		case O_INPUT:
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				rc = usage_err("--input wants KEY=VALUE, not", optarg);
				goto done;
			}
			inputs[n_inputs++] = optarg;
			break;
		case 'h':
			puts("usage: labdeck deploy list [--json]\n"
			     "       labdeck deploy sync APP [--prune] [--dry-run] [--revision R] "
			     "[--yes] [--wait]\n"
			     "       labdeck deploy run WORKFLOW [--ref R] [--input K=V]... "
			     "[--yes] "
			     "[--wait]");
			rc = 0;
			goto done;
		default:
			rc = usage_err("deploy: unknown option or missing value:",
			               argv[optind - 1]);
			goto done;
		}
	}
	char **words = argv + optind;
	int n = argc - optind;
	if (n < 1) {
		rc = usage_err("deploy wants list, sync APP or run WORKFLOW", NULL);
	} else if (strcmp(words[0], "list") == 0 && n == 1) {
		rc = deploy_list(c);
	} else if (strcmp(words[0], "sync") == 0 && n == 2) {
		rc = deploy_sync(c, words[1], revision, prune, dry, yes, wait);
	} else if (strcmp(words[0], "run") == 0 && n == 2) {
		rc = deploy_run(c, words[1], ref, inputs, n_inputs, yes, wait);
	} else {
		rc = usage_err("deploy wants list, sync APP or run WORKFLOW, not", words[0]);
	}
done:
	free(inputs);
	return rc;
}
