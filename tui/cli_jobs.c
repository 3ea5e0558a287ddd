/* cli_jobs.c: `labdeck jobs list|trigger|pause|unpause` — Airflow DAGs and Kubernetes CronJobs
 * (SPEC.md §3). A trigger with --wait follows the run (or Job) to its end, polling every
 * LABDECK_POLL_INTERVAL seconds (default 1), each new state on stderr; Ctrl-C stops following
 * (not the run) with exit 130. */
#include <event2/event.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airflow.h"
#include "cli.h"
#include "cli_action.h"
#include "k8s.h"
#include "k8s_batch.h"
#include "table.h"
#include "text.h"
#include "util.h"

struct ctx {
	struct cli *c;
	struct airflow *af;
	struct k8s *k8s;
	bool done;
	bool failed;
	struct err err;
	bool interrupted;
	/* answers */
	struct airflow_dags dags;
	bool have_dags;
	struct k8s_cronjobs cjs;
	bool have_cjs;
	int pending;
	struct airflow_dag dag;
	char *run_id, *run_state, *job_name;
	struct airflow_tasks tasks;
	struct k8s_job_status job;
};

static void on_sigint(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	((struct ctx *)ud)->interrupted = true;
}

/* wait_for runs the loop until the callback said done (or Ctrl-C when interruptible). */
static void wait_for(struct ctx *x)
{
	while (!x->done && !x->interrupted) {
		event_base_loop(x->c->base, EVLOOP_ONCE);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	((struct ctx *)ud)->done = true;
}

/* pause_poll waits the poll interval; false when Ctrl-C came. */
static bool pause_poll(struct ctx *x)
{
	long ms = 1000;
	const char *env = getenv("LABDECK_POLL_INTERVAL"); /* seconds, as for guest --wait */
	if (env && *env) {
		double sec = strtod(env, NULL);
		ms = sec < 0.01 ? 10 : sec > 60 ? 60000 : (long)(sec * 1000);
	}
	x->done = false;
	struct event *t = evtimer_new(x->c->base, on_tick, x);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(t, &tv);
	wait_for(x);
	event_free(t);
	return !x->interrupted;
}

static void fail_with(struct ctx *x, const struct err *e)
{
	x->failed = true;
	x->err = *e;
	x->done = true;
}

/* --- list --- */

static void on_dags(void *ud, struct airflow_dags *d, const struct err *err)
{
	struct ctx *x = ud;
	if (err) {
		cli_add_error(x->c, "airflow", err);
	} else {
		x->dags = *d;
		memset(d, 0, sizeof(*d));
		x->have_dags = true;
	}
	x->done = --x->pending == 0;
}

static void on_cronjobs(void *ud, struct k8s_cronjobs *l, const struct err *err)
{
	struct ctx *x = ud;
	if (err) {
		cli_add_error(x->c, "kubernetes", err);
	} else {
		x->cjs = *l;
		memset(l, 0, sizeof(*l));
		x->have_cjs = true;
	}
	x->done = --x->pending == 0;
}

static json_t *errors_json(const struct cli *c)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < c->n_errors; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "backend", json_string(c->errors[i].backend));
		json_object_set_new(o, "message", json_string(c->errors[i].err.msg));
		json_object_set_new(o, "code", json_string(err_code_name(c->errors[i].err.code)));
		if (c->errors[i].err.http_status) {
			json_object_set_new(o, "http_status",
			                    json_integer(c->errors[i].err.http_status));
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static int cmd_list(struct ctx *x)
{
	struct cli *c = x->c;
	if (x->af) {
		x->pending++;
		airflow_list_dags(x->af, on_dags, x);
	}
	if (x->k8s) {
		x->pending++;
		k8s_batch_list(x->k8s, c->ns, on_cronjobs, x);
	}
	wait_for(x);
	if (c->json) {
		json_t *root = json_object();
		json_t *dags = json_array();
		for (size_t i = 0; i < x->dags.len; i++) {
			struct airflow_dag *d = &x->dags.items[i];
			json_array_append_new(dags,
			                      json_pack("{s:s, s:b, s:o}", "dag_id", d->dag_id,
			                                "paused", d->paused, "last_run_state",
			                                str_or_null(d->last_run_state)));
		}
		json_t *cjs = json_array();
		for (size_t i = 0; i < x->cjs.len; i++) {
			struct k8s_cronjob *j = &x->cjs.items[i];
			json_array_append_new(cjs,
			                      json_pack("{s:o, s:s, s:s, s:o}", "namespace",
			                                str_or_null(j->ns), "name", j->name,
			                                "schedule", j->schedule, "last_schedule",
			                                str_or_null(j->last_schedule)));
		}
		json_object_set_new(root, "dags", dags);
		json_object_set_new(root, "cronjobs", cjs);
		json_object_set_new(root, "errors", errors_json(c));
		char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
		text_json_fputs(s, stdout); /* C1 and bidi escaped */
		fputc('\n', stdout);
		free(s);
		json_decref(root);
	} else {
		if (x->have_dags) {
			const char *hdr[] = {"DAG", "PAUSED", "LAST RUN"};
			struct table *t = table_create(3, hdr);
			for (size_t i = 0; i < x->dags.len; i++) {
				struct airflow_dag *d = &x->dags.items[i];
				const char *row[] = {d->dag_id, d->paused ? "yes" : "no",
				                     d->last_run_state ? d->last_run_state : "-"};
				table_add_row(t, row);
			}
			table_print(t, stdout);
			table_destroy(t);
		}
		if (x->have_dags && x->have_cjs) {
			putchar('\n');
		}
		if (x->have_cjs) {
			const char *hdr[] = {"NAMESPACE", "CRONJOB", "SCHEDULE", "SUSPENDED",
			                     "LAST SCHEDULE"};
			struct table *t = table_create(5, hdr);
			for (size_t i = 0; i < x->cjs.len; i++) {
				struct k8s_cronjob *j = &x->cjs.items[i];
				const char *row[] = {j->ns, j->name, j->schedule,
				                     j->suspend ? "yes" : "no", j->last_schedule};
				table_add_row(t, row);
			}
			table_print(t, stdout);
			table_destroy(t);
		}
	}
	fflush(stdout);
	cli_report_errors(c); /* on stderr with --json too, as every command does */
	airflow_dags_finish(&x->dags);
	k8s_cronjobs_finish(&x->cjs);
	return c->exit_status;
}

/* --- Airflow: trigger, follow, pause --- */

static void on_dag(void *ud, const struct airflow_dag *d, const struct err *err)
{
	struct ctx *x = ud;
	if (err) {
		fail_with(x, err);
		return;
	}
	airflow_dag_finish(&x->dag);
	x->dag.dag_id = xstrdup(d->dag_id);
	x->dag.paused = d->paused;
	x->done = true;
}

static void on_run(void *ud, const struct airflow_run *r, const struct err *err)
{
	struct ctx *x = ud;
	if (err) {
		fail_with(x, err);
		return;
	}
	if (!x->run_id) {
		x->run_id = xstrdup(r->run_id);
	}
	free(x->run_state);
	x->run_state = xstrdup(r->state);
	x->done = true;
}

static void on_tasks(void *ud, const struct airflow_tasks *t, const struct err *err)
{
	struct ctx *x = ud;
	if (err) {
		fail_with(x, err);
		return;
	}
	/* each task whose state changed since the last poll: one line */
	for (size_t i = 0; i < t->len; i++) {
		const char *old = NULL;
		for (size_t k = 0; k < x->tasks.len; k++) {
			if (str_eq(x->tasks.items[k].task_id, t->items[i].task_id)) {
				old = x->tasks.items[k].state;
			}
		}
		const char *now = t->items[i].state;
		if (now && !str_eq(old, now)) {
			cli_say("  task %s: %s", t->items[i].task_id, now);
		}
	}
	airflow_tasks_finish(&x->tasks);
	x->tasks.items = xcalloc(t->len ? t->len : 1, sizeof(*x->tasks.items));
	for (size_t i = 0; i < t->len; i++) {
		x->tasks.items[i].task_id = xstrdup(t->items[i].task_id);
		x->tasks.items[i].state = t->items[i].state ? xstrdup(t->items[i].state) : NULL;
	}
	x->tasks.len = t->len;
	x->done = true;
}

static int af_failed(struct ctx *x, struct cli_progress *p)
{
	if (p) {
		char *m = xasprintf("failed: %s", x->err.msg);
		cli_action_progress_end(p, m);
		free(m);
	}
	cli_add_error(x->c, "airflow", &x->err);
	cli_report_errors(x->c);
	return x->c->exit_status;
}

static int trigger_dag(struct ctx *x, const char *dag_id, const char *conf, bool yes, bool wait)
{
	struct cli *c = x->c;
	struct err e;
	err_clear(&e);
	char *probe = airflow_trigger_body(AIRFLOW_API_V1, conf, &e); /* checks --conf early */
	if (!probe) {
		cli_say("%s", e.msg);
		return 2;
	}
	free(probe);
	char *what = xasprintf("trigger Airflow DAG %s with conf %s", dag_id, conf ? conf : "{}");
	int rc = cli_action_gate(c, yes, what, NULL);
	free(what);
	if (rc) {
		return rc;
	}
	x->done = false;
	airflow_get_dag(x->af, dag_id, on_dag, x);
	wait_for(x);
	if (x->failed) {
		return af_failed(x, NULL);
	}
	if (x->dag.paused) {
		cli_say("DAG %s is paused: its run stays queued until it is unpaused (labdeck jobs "
		        "unpause %s)",
		        dag_id, dag_id);
	}
	x->done = false;
	airflow_trigger(x->af, dag_id, conf, on_run, x);
	wait_for(x);
	if (x->failed) {
		return af_failed(x, NULL);
	}
	cli_say("DAG %s: run %s %s (Airflow %s)", dag_id, x->run_id, x->run_state,
	        airflow_api_in_use(x->af) == AIRFLOW_API_V2 ? "3, /api/v2" : "2, /api/v1");
	if (!wait) {
		cli_action_print(c, "jobs trigger", dag_id, x->run_id, x->run_state, NULL);
		return 0;
	}
	if (x->dag.paused) {
		cli_say("not waiting: the DAG is paused");
		cli_action_print(c, "jobs trigger", dag_id, x->run_id, x->run_state, NULL);
		return 1;
	}
	struct cli_progress *p = cli_action_progress(c, "jobs trigger", dag_id);
	struct event *sig = evsignal_new(c->base, SIGINT, on_sigint, x);
	event_add(sig, NULL);
	char *last = xstrdup(x->run_state);
	while (!airflow_run_state_done(x->run_state)) {
		if (!pause_poll(x)) {
			break;
		}
		x->done = false;
		airflow_get_run(x->af, dag_id, x->run_id, on_run, x);
		wait_for(x);
		if (x->failed || x->interrupted) {
			break;
		}
		x->done = false;
		airflow_get_tasks(x->af, dag_id, x->run_id, on_tasks, x);
		wait_for(x);
		if (x->failed || x->interrupted) {
			break;
		}
		if (!str_eq(last, x->run_state)) {
			cli_say("DAG %s run %s: %s", dag_id, x->run_id, x->run_state);
			cli_action_progress_state(p, x->run_state);
			free(last);
			last = xstrdup(x->run_state);
		}
	}
	event_free(sig);
	free(last);
	if (x->interrupted) {
		cli_say("stopped following; the run goes on. Check it later with: labdeck jobs "
		        "list");
		cli_action_progress_end(p, "stopped following; still running");
		return 130;
	}
	if (x->failed) {
		return af_failed(x, p);
	}
	cli_action_print(c, "jobs trigger", dag_id, x->run_id, x->run_state, NULL);
	return str_eq(x->run_state, "success") ? 0 : 1;
}

static int pause_dag(struct ctx *x, const char *dag_id, bool pause, bool yes)
{
	char *what = xasprintf("%s Airflow DAG %s", pause ? "pause" : "unpause", dag_id);
	int rc = cli_action_gate(x->c, yes, what, NULL);
	free(what);
	if (rc) {
		return rc;
	}
	x->done = false;
	airflow_set_paused(x->af, dag_id, pause, on_dag, x);
	wait_for(x);
	if (x->failed) {
		return af_failed(x, NULL);
	}
	cli_action_print(x->c, pause ? "jobs pause" : "jobs unpause", dag_id, dag_id,
	                 x->dag.paused ? "paused" : "unpaused", NULL);
	return x->dag.paused == pause ? 0 : 1;
}

/* --- Kubernetes: run a CronJob now, follow the Job --- */

static void on_job_created(void *ud, const char *job_name, const struct err *err)
{
	struct ctx *x = ud;
	if (err) {
		fail_with(x, err);
		return;
	}
	x->job_name = xstrdup(job_name);
	x->done = true;
}

static void on_job(void *ud, const struct k8s_job_status *st, const struct err *err)
{
	struct ctx *x = ud;
	if (err) {
		fail_with(x, err);
		return;
	}
	k8s_job_status_finish(&x->job);
	x->job = *st;
	x->job.reason = st->reason ? xstrdup(st->reason) : NULL;
	x->job.message = st->message ? xstrdup(st->message) : NULL;
	x->done = true;
}

static int k8s_failed(struct ctx *x, struct cli_progress *p)
{
	if (p) {
		char *m = xasprintf("failed: %s", x->err.msg);
		cli_action_progress_end(p, m);
		free(m);
	}
	cli_add_error(x->c, "kubernetes", &x->err);
	cli_report_errors(x->c);
	return x->c->exit_status;
}

static int trigger_cronjob(struct ctx *x, const char *name, bool yes, bool wait)
{
	struct cli *c = x->c;
	const char *ns = c->ns;
	if (!ns || !*ns) {
		/* find it: the one CronJob of that name in any namespace */
		x->done = false;
		x->pending = 1;
		k8s_batch_list(x->k8s, NULL, on_cronjobs, x);
		wait_for(x);
		if (c->n_errors) {
			cli_report_errors(c);
			return c->exit_status;
		}
		for (size_t i = 0; i < x->cjs.len; i++) {
			if (str_eq(x->cjs.items[i].name, name)) {
				if (ns) {
					cli_say("cronjob %s is in namespaces %s and %s: say which "
					        "with "
					        "-n",
					        name, ns, x->cjs.items[i].ns);
					k8s_cronjobs_finish(&x->cjs);
					return 2;
				}
				ns = x->cjs.items[i].ns;
			}
		}
		if (!ns) {
			cli_say("kubernetes: no cronjob named %s in any namespace", name);
			k8s_cronjobs_finish(&x->cjs);
			return 1;
		}
	}
	char *nsc = xstrdup(ns);
	k8s_cronjobs_finish(&x->cjs);
	char *target = xasprintf("cronjob/%s", name);
	char *what = xasprintf("run CronJob %s/%s now (a Job from its template)", nsc, name);
	int rc = cli_action_gate(c, yes, what, NULL);
	free(what);
	if (rc) {
		free(target);
		free(nsc);
		return rc;
	}
	x->done = false;
	k8s_batch_run_now(x->k8s, nsc, name, on_job_created, x);
	wait_for(x);
	if (x->failed) {
		free(target);
		free(nsc);
		return k8s_failed(x, NULL);
	}
	cli_say("cronjob %s/%s: job %s created", nsc, name, x->job_name);
	if (!wait) {
		cli_action_print(c, "jobs trigger", target, x->job_name, "created", NULL);
		free(target);
		free(nsc);
		return 0;
	}
	struct cli_progress *p = cli_action_progress(c, "jobs trigger", target);
	struct event *sig = evsignal_new(c->base, SIGINT, on_sigint, x);
	event_add(sig, NULL);
	enum k8s_job_state last = K8S_JOB_PENDING;
	x->job.state = K8S_JOB_PENDING;
	while (x->job.state != K8S_JOB_COMPLETE && x->job.state != K8S_JOB_FAILED) {
		if (!pause_poll(x)) {
			break;
		}
		x->done = false;
		k8s_batch_get_job(x->k8s, nsc, x->job_name, on_job, x);
		wait_for(x);
		if (x->failed || x->interrupted) {
			break;
		}
		if (x->job.state != last) {
			last = x->job.state;
			cli_say("job %s/%s: %s (active %ld, succeeded %ld, failed %ld)%s%s", nsc,
			        x->job_name, k8s_job_state_name(last), x->job.active,
			        x->job.succeeded, x->job.failed, x->job.message ? ": " : "",
			        x->job.message ? x->job.message : "");
			cli_action_progress_state(p, k8s_job_state_name(last));
		}
	}
	event_free(sig);
	if (x->interrupted) {
		cli_say("stopped following; the job goes on. Check it later with: kubectl -n %s "
		        "get "
		        "job "
		        "%s",
		        nsc, x->job_name);
		cli_action_progress_end(p, "stopped following; still running");
		free(target);
		free(nsc);
		return 130;
	}
	if (x->failed) {
		free(target);
		free(nsc);
		return k8s_failed(x, p);
	}
	cli_action_print(c, "jobs trigger", target, x->job_name, k8s_job_state_name(x->job.state),
	                 NULL);
	free(target);
	free(nsc);
	return x->job.state == K8S_JOB_COMPLETE ? 0 : 1;
}

/* --- the command --- */

static int usage(const char *msg)
{
	char *safe = text_sanitize(msg, false);
	fprintf(stderr,
	        "labdeck: %s\n"
	        "usage: labdeck jobs list [--json] [-n NS]\n"
	        "       labdeck jobs trigger DAG|cronjob/NAME [-n NS] [--conf JSON] [--yes] "
	        "[--wait]\n"
	        "       labdeck jobs pause|unpause DAG [--yes]\n",
	        safe);
	free(safe);
	return 2;
}

int cli_jobs(struct cli *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	const char *target = NULL, *conf = NULL;
	bool yes = false, wait = false;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (str_eq(a, "--yes") || str_eq(a, "-y")) {
			yes = true;
		} else if (str_eq(a, "--wait")) {
			wait = true;
		} else if (str_eq(a, "--conf") && i + 1 < argc) {
			conf = argv[++i];
		} else if (str_has_prefix(a, "--conf=")) {
			conf = a + 7;
		} else if ((str_eq(a, "-n") || str_eq(a, "--namespace")) && i + 1 < argc) {
			c->ns = argv[++i];
		} else if (a[0] == '-' && a[1]) {
			char *m = xasprintf("jobs: unknown option '%s'", a);
			int rc = usage(m);
			free(m);
			return rc;
		} else if (!target) {
			target = a;
		} else {
			char *m = xasprintf("jobs: unexpected argument '%s'", a);
			int rc = usage(m);
			free(m);
			return rc;
		}
	}
	if (!sub) {
		return usage("jobs: which? list, trigger, pause or unpause");
	}
	bool is_list = str_eq(sub, "list");
	bool is_trigger = str_eq(sub, "trigger");
	bool is_pause = str_eq(sub, "pause") || str_eq(sub, "unpause");
	if (!is_list && !is_trigger && !is_pause) {
		char *m = xasprintf("jobs: unknown subcommand '%s'", sub);
		int rc = usage(m);
		free(m);
		return rc;
	}
	if (is_list && (target || conf || wait)) {
		return usage("jobs list takes no argument but -n");
	}
	if (!is_list && (!target || !*target)) {
		return usage(is_trigger ? "jobs trigger: which DAG or cronjob/NAME?"
		                        : "jobs pause|unpause: which DAG?");
	}
	bool cronjob = target && str_has_prefix(target, "cronjob/");
	if (cronjob && (is_pause || conf)) {
		return usage(is_pause ? "jobs pause|unpause is for Airflow DAGs (suspend a CronJob "
		                        "with kubectl)"
		                      : "--conf is for Airflow DAGs");
	}
	if (cronjob && !target[8]) {
		return usage("jobs trigger: cronjob/ wants a name");
	}
	struct ctx x = {.c = c};
	bool af_ok = c->cfg.airflow.configured && c->cfg.airflow.url;
	bool k8s_ok = k8s_available(&c->cfg.kubernetes);
	if (is_list && !af_ok && !k8s_ok) {
		cli_say("jobs: nothing to list: configure [airflow] or [kubernetes]");
		return 2;
	}
	if (!is_list && !cronjob && !af_ok) {
		cli_say("jobs: [airflow] is not configured (url, username, password)");
		return 2;
	}
	if (cronjob && !k8s_ok) {
		cli_say("jobs: Kubernetes is not configured ([kubernetes] or a kubeconfig)");
		return 2;
	}
	if (af_ok && (is_list || !cronjob)) {
		x.af = airflow_create(c->base, c->http, &c->cfg.airflow);
	}
	if (k8s_ok && (is_list || cronjob)) {
		x.k8s = k8s_create(c->base, c->http, &c->cfg.kubernetes);
	}
	int rc;
	if (is_list) {
		rc = cmd_list(&x);
	} else if (is_trigger && cronjob) {
		rc = trigger_cronjob(&x, target + 8, yes, wait);
	} else if (is_trigger) {
		rc = trigger_dag(&x, target, conf, yes, wait);
	} else {
		rc = pause_dag(&x, target, str_eq(sub, "pause"), yes);
	}
	airflow_destroy(x.af);
	if (x.k8s) {
		k8s_destroy(x.k8s);
	}
	airflow_dag_finish(&x.dag);
	airflow_tasks_finish(&x.tasks);
	k8s_job_status_finish(&x.job);
	free(x.run_id);
	free(x.run_state);
	free(x.job_name);
	return rc;
}
