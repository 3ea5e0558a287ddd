/* cli_guest.c: `labdeck guest start|shutdown|stop|reboot VMID [--yes] [--wait] [--json]`. The
 * guest is looked up in /cluster/resources (its node, type and name), the action confirmed
 * (cli_action_gate: a y, or the guest's name typed for stop), POSTed once, and its task's UPID
 * printed; with --wait the task is followed to its end: exit 0 for OK, 1 for a failed task (its
 * last log lines are shown). Ctrl-C stops following, not the task (exit 130). */
#include <event2/event.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_action.h"
#include "pve_task.h"
#include "text.h"
#include "util.h"

#define LOG_LINES 10 /* the last lines of a failed task's log that are shown */

static void guest_usage(FILE *out)
{
	fputs("usage: labdeck guest start|shutdown|stop|reboot VMID [--yes] [--wait] [--json]\n"
	      "\n"
	      "Starts a Proxmox power action on a VM or container and prints its task id (UPID).\n"
	      "The guest's node and type come from the cluster; the action is confirmed first:\n"
	      "a y for start, shutdown and reboot, the guest's name typed for stop (it is pulling\n"
	      "the plug).\n"
	      "\n"
	      "  -y, --yes    do not ask (needed when stdin is not a terminal)\n"
	      "  -w, --wait   follow the task to its end: exit 0 when it ends OK, 1 when it\n"
	      "               fails (its last log lines are shown); Ctrl-C stops following,\n"
	      "               not the task (exit 130)\n"
	      "  --json       one object "
	      "{\"action\",\"target\",\"id\",\"state\",\"node\",\"name\"}\n"
	      "\n"
	      "The task's status is read every second ($LABDECK_POLL_INTERVAL seconds when set).\n"
	      "--readonly refuses every action (exit 2).\n",
	      out);
}

/* poll_interval_ms: $LABDECK_POLL_INTERVAL (seconds, for tests and slow links), else 1 s. */
static long poll_interval_ms(void)
{
	const char *v = getenv("LABDECK_POLL_INTERVAL");
	if (v && *v) {
		char *end;
		double s = strtod(v, &end);
		if (!*end && s >= 0.01 && s <= 3600) {
			return (long)(s * 1000);
		}
	}
	return 1000;
}

struct run {
	struct cli *c;
	enum pve_action action;
	int vmid;
	char target[16];
	/* the guest */
	bool located;
	char *name, *node, *type, *status;
	/* the task */
	bool started;
	char *upid;
	struct err err;
	bool failed; /* err holds why */
	/* following */
	struct pve_task_follow *follow;
	bool ended, interrupted;
	bool running_seen;
	bool ok;
	char *exitstatus;
	char *exitstatus_safe; /* for a terminal */
	json_t *log;           /* the failed task's last lines */
	int64_t t0;
	bool progress_line;            /* an in-place line is on stderr */
	struct cli_progress *progress; /* the Discord mirror while following */
};

static void on_located(void *ud, const struct guest_row *g, const struct err *err)
{
	struct run *r = ud;
	r->located = true;
	if (!g) {
		r->err = *err;
		r->failed = true;
		return;
	}
	r->name = xstrdup(g->name ? g->name : "");
	r->node = xstrdup(g->node ? g->node : "");
	r->type = xstrdup(g->type ? g->type : "qemu");
	r->status = xstrdup(g->status ? g->status : "unknown");
}

static void on_started(void *ud, const char *upid, const struct err *err)
{
	struct run *r = ud;
	r->started = true;
	if (!upid) {
		r->err = *err;
		r->failed = true;
		return;
	}
	r->upid = xstrdup(upid);
}

static void clear_progress(struct run *r)
{
	if (r->progress_line) {
		fputs("\r\033[K", stderr);
		r->progress_line = false;
	}
}

static void on_progress(void *ud, const struct pve_task_status *st)
{
	struct run *r = ud;
	if (!st->running) {
		return;
	}
	double secs = (double)(now_mono_ms() - r->t0) / 1000.0;
	if (isatty(STDERR_FILENO)) {
		/* one line, updated in place */
		fprintf(stderr, "\r\033[Klabdeck: %s guest %d on %s: running, %.0f s",
		        pve_action_name(r->action), r->vmid, r->node, secs);
		fflush(stderr);
		r->progress_line = true;
	} else if (!r->running_seen) {
		cli_say("%s guest %d on %s: running", pve_action_name(r->action), r->vmid, r->node);
	}
	if (!r->running_seen) {
		cli_action_progress_state(r->progress, "running");
	}
	r->running_seen = true;
}

static void on_end(void *ud, const struct pve_task_status *st, const struct pve_task_log *log,
                   const struct err *err)
{
	struct run *r = ud;
	r->ended = true;
	r->follow = NULL;
	clear_progress(r);
	if (!st) {
		r->err = *err;
		r->failed = true;
		return;
	}
	r->ok = pve_task_succeeded(st);
	r->exitstatus = xstrdup(st->exitstatus ? st->exitstatus : "unknown");
	r->exitstatus_safe = text_sanitize(r->exitstatus, false);
	if (log) {
		r->log = json_array();
		for (size_t i = 0; i < log->len; i++) {
			json_array_append_new(r->log, json_string(log->lines[i]));
		}
	}
}

static void on_sigint(evutil_socket_t fd, short what, void *ud)
{
	struct run *r = ud;
	r->interrupted = true;
	pve_task_follow_cancel(r->follow);
	r->follow = NULL;
}

static void wait_for(struct cli *c, const bool *flag, const bool *also)
{
	while (!*flag && !(also && *also)) {
		event_base_loop(c->base, EVLOOP_ONCE);
	}
}

static json_t *extra_of(const struct run *r)
{
	json_t *x = json_object();
	json_object_set_new(x, "vmid", json_integer(r->vmid));
	if (r->node) {
		json_object_set_new(x, "node", json_string(r->node));
		json_object_set_new(x, "name", json_string(r->name));
		json_object_set_new(x, "type", json_string(r->type));
	}
	if (r->exitstatus) {
		json_object_set_new(x, "exitstatus", json_string(r->exitstatus));
	}
	if (r->log) {
		json_object_set(x, "log", r->log);
	}
	return x;
}

/* fail reports r->err and returns its exit status; with --json the action's object says
 * "failed: ..." too, so a script always reads one object. */
static int fail(struct run *r)
{
	cli_add_error(r->c, "proxmox", &r->err);
	cli_report_errors(r->c);
	if (r->c->json) {
		char *state = xasprintf("failed: %s", r->err.msg);
		cli_action_print(r->c, pve_action_name(r->action), r->target, r->upid, state,
		                 extra_of(r));
		free(state);
	}
	return err_exit_status(r->err.code);
}

static int run_action(struct run *r, bool yes, bool wait)
{
	struct cli *c = r->c;
	struct pve_task_client *tc = pve_task_client_create(c->base, c->http, &c->cfg.proxmox);
	int rc = 0;

	pve_task_locate(tc, r->vmid, on_located, r);
	wait_for(c, &r->located, NULL);
	if (r->failed) {
		rc = fail(r);
		goto out;
	}
	if (c->node && !str_eq(c->node, r->node)) {
		err_set(&r->err, ERR_NOT_FOUND, 0, "proxmox: guest %d is on %s, not on %s", r->vmid,
		        r->node, c->node);
		rc = fail(r);
		goto out;
	}
	char *what = xasprintf("%s guest %d (%s) on %s", pve_action_name(r->action), r->vmid,
	                       r->name, r->node);
	rc = cli_action_gate(c, yes, what,
	                     r->action == PVE_ACTION_STOP && r->name[0] ? r->name : NULL);
	free(what);
	if (rc) {
		goto out;
	}

	pve_task_start(tc, r->node, r->type, r->vmid, r->action, on_started, r);
	wait_for(c, &r->started, NULL);
	if (r->failed) {
		rc = fail(r);
		goto out;
	}
	if (!wait) {
		cli_action_print(c, pve_action_name(r->action), r->target, r->upid, "running",
		                 extra_of(r));
		goto out;
	}
	cli_say("%s guest %d (%s) on %s: task %s", pve_action_name(r->action), r->vmid, r->name,
	        r->node, r->upid);

	/* From here every path ends the progress once: cli_action_print edits its message into
	 * the answer, or cli_action_progress_end says why there is none. */
	r->progress = cli_action_progress(c, pve_action_name(r->action), r->target);
	struct event *sigint = evsignal_new(c->base, SIGINT, on_sigint, r);
	event_add(sigint, NULL);
	r->t0 = now_mono_ms();
	r->follow =
	        pve_task_follow(tc, r->upid, poll_interval_ms(), LOG_LINES, on_progress, on_end, r);
	wait_for(c, &r->ended, &r->interrupted);
	event_free(sigint);
	clear_progress(r);
	if (r->interrupted && !r->ended) {
		cli_say("stopped following; the task goes on. Check it in the Proxmox web UI "
		        "(Tasks) "
		        "or with: pvesh get /nodes/%s/tasks/%s/status",
		        r->node, r->upid);
		cli_action_progress_end(r->progress, "stopped following; still running");
		cli_action_print(c, pve_action_name(r->action), r->target, r->upid, "running",
		                 extra_of(r));
		rc = 130;
		goto out;
	}
	if (r->failed) {
		/* following failed: the task itself may be fine */
		cli_say("could not follow the task (%s); it may still be running: pvesh get "
		        "/nodes/%s/tasks/%s/status",
		        r->err.msg, r->node, r->upid);
		r->c->exit_status = err_exit_status(r->err.code);
		char *why = xasprintf("could not follow the task: %s", r->err.msg);
		cli_action_progress_end(r->progress, why);
		free(why);
		cli_action_print(c, pve_action_name(r->action), r->target, r->upid, "running",
		                 extra_of(r));
		rc = err_exit_status(r->err.code);
		goto out;
	}
	if (r->ok) {
		cli_action_print(c, pve_action_name(r->action), r->target, r->upid,
		                 c->json ? r->exitstatus : r->exitstatus_safe, extra_of(r));
		goto out;
	}
	cli_say("%s guest %d (%s) on %s: the task failed: %s", pve_action_name(r->action), r->vmid,
	        r->name, r->node, r->exitstatus);
	if (r->log && json_array_size(r->log)) {
		fputs("labdeck: the end of the task log:\n", stderr);
		size_t i;
		json_t *v;
		json_array_foreach (r->log, i, v) {
			char *safe = text_sanitize(json_string_value(v), false);
			fprintf(stderr, "  %s\n", safe);
			free(safe);
		}
	}
	/* The one line is sanitised wherever it goes (a pipe read by a person too); JSON carries
	 * the text as Proxmox sent it. */
	char *state = c->json ? xasprintf("failed: %s", r->exitstatus)
	                      : xasprintf("failed: %s", r->exitstatus_safe);
	cli_action_print(c, pve_action_name(r->action), r->target, r->upid, state, extra_of(r));
	free(state);
	rc = 1;
out:
	pve_task_follow_cancel(r->follow);
	pve_task_client_destroy(tc);
	return rc;
}

enum { OPT_GUEST_JSON = 3000, OPT_GUEST_YES, OPT_GUEST_WAIT };

int cli_guest(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"json", no_argument, NULL, OPT_GUEST_JSON},
	        {"yes", no_argument, NULL, OPT_GUEST_YES},
	        {"wait", no_argument, NULL, OPT_GUEST_WAIT},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool yes = false, wait = false;
	optind = 0; /* a fresh scan (GNU getopt) */
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, ":hyw", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_GUEST_JSON:
			c->json = true;
			break;
		case OPT_GUEST_YES:
		case 'y':
			yes = true;
			break;
		case OPT_GUEST_WAIT:
		case 'w':
			wait = true;
			break;
		case 'h':
			guest_usage(stdout);
			return 0;
		default: {
			const char *bad = argv[optind - 1];
			return cli_usage_error("guest", "unknown option '%s'", bad ? bad : "?");
		}
		}
	}
	char **words = argv + optind;
	int n = argc - optind;
	struct run r = {.c = c};
	if (n < 1) {
		return cli_usage_error("guest", "give an action: start, shutdown, stop or reboot");
	}
	if (!pve_action_parse(words[0], &r.action)) {
		return cli_usage_error(
		        "guest", "unknown action '%s': start, shutdown, stop or reboot", words[0]);
	}
	if (n < 2) {
		return cli_usage_error("guest", "%s needs the VMID of a guest", words[0]);
	}
	if (n > 2) {
		return cli_usage_error("guest", "unexpected argument '%s'", words[2]);
	}
	char *end;
	long vmid = strtol(words[1], &end, 10);
	if (*end || end == words[1] || vmid < 100 || vmid > 999999999) {
		return cli_usage_error(
		        "guest", "'%s' is not a VMID (a number from 100 to 999999999)", words[1]);
	}
	r.vmid = (int)vmid;
	snprintf(r.target, sizeof(r.target), "%d", r.vmid);

	const struct config_proxmox *p = &c->cfg.proxmox;
	if (!p->configured || !p->token_id || !p->token_secret) {
		cli_say("proxmox is not configured: add [proxmox] url, token_id and "
		        "token_secret_env "
		        "(or token_secret_file) to %s; see docs/configuration.md",
		        c->cfg.path ? c->cfg.path : "~/.config/labdeck/config.ini");
		return 2;
	}
	/* Read-only, or no terminal and no --yes: refused before anything is sent. The question
	 * itself waits until the guest's name and node are known. */
	char *what = xasprintf("%s guest %d", pve_action_name(r.action), r.vmid);
	int rc = cli_action_gate(c, yes || isatty(STDIN_FILENO), what, NULL);
	free(what);
	if (rc) {
		return rc;
	}
	rc = run_action(&r, yes, wait);
	free(r.name);
	free(r.node);
	free(r.type);
	free(r.status);
	free(r.upid);
	free(r.exitstatus);
	free(r.exitstatus_safe);
	json_decref(r.log);
	return rc;
}
