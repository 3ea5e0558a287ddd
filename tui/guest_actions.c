/* guest_actions.c: Proxmox power actions from the console (see guest_actions.h). */
#include "guest_actions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "model.h"
#include "ops.h"
#include "status_poller.h"
#include "util.h"

#define FOLLOW_INTERVAL_MS 1000
#define LOG_LINES 5

struct guest_actions;

/* One action: asked, then started, then followed. */
struct run {
	struct guest_actions *ga;
	struct run *next;
	enum pve_action action;
	int vmid;
	char *name, *node, *type;
	unsigned long id; /* in the action log, once confirmed */
	struct http_request *start;
	struct pve_task_follow *follow;
	bool asking;
};

struct guest_actions {
	struct app *app;
	struct pve_task_client *client;
	struct run *runs;
};

static const char *verb(enum pve_action a)
{
	return a == PVE_ACTION_START      ? "start"
	       : a == PVE_ACTION_SHUTDOWN ? "shut down"
	       : a == PVE_ACTION_STOP     ? "stop (power off)"
	                                  : "reboot";
}

static void run_free(struct run *r)
{
	struct run **p = &r->ga->runs;
	while (*p && *p != r) {
		p = &(*p)->next;
	}
	if (*p) {
		*p = r->next;
	}
	free(r->name);
	free(r->node);
	free(r->type);
	free(r);
}

static char *target_of(const struct run *r)
{
	return xasprintf("%d (%s) on %s", r->vmid, r->name, r->node);
}

static void on_progress(void *ud, const struct pve_task_status *st)
{
	struct run *r = ud;
	ops_update(app_ops(r->ga->app), r->id, st->running ? "running" : "stopped", ACTION_RUNNING,
	           NULL);
}

static void on_end(void *ud, const struct pve_task_status *st, const struct pve_task_log *log,
                   const struct err *err)
{
	struct run *r = ud;
	r->follow = NULL;
	struct ops *o = app_ops(r->ga->app);
	if (!st) {
		ops_update(o, r->id, "following failed", ACTION_FAILED, err ? err->msg : NULL);
	} else if (pve_task_succeeded(st)) {
		ops_update(o, r->id, st->exitstatus ? st->exitstatus : "OK", ACTION_DONE, NULL);
	} else {
		/* The task's own words: its exit status and the last log line that is not the
		 * "TASK ERROR: ..." line repeating it. */
		const char *last = NULL;
		for (size_t i = log ? log->len : 0; i-- > 0 && !last;) {
			if (strncmp(log->lines[i], "TASK ", 5) != 0) {
				last = log->lines[i];
			}
		}
		ops_update(o, r->id, st->exitstatus ? st->exitstatus : "failed", ACTION_FAILED,
		           last);
	}
	status_poller_refresh_now(app_poller(r->ga->app)); /* the guest's new state, now */
	run_free(r);
}

static void on_started(void *ud, const char *upid, const struct err *err)
{
	struct run *r = ud;
	r->start = NULL;
	struct ops *o = app_ops(r->ga->app);
	if (!upid) {
		ops_update(o, r->id, "refused", ACTION_FAILED, err ? err->msg : NULL);
		run_free(r);
		return;
	}
	ops_update(o, r->id, "running", ACTION_RUNNING, upid);
	r->follow = pve_task_follow(r->ga->client, upid, FOLLOW_INTERVAL_MS, LOG_LINES, on_progress,
	                            on_end, r);
}

static void on_answer(void *ud, bool yes)
{
	struct run *r = ud;
	r->asking = false;
	if (!yes) {
		run_free(r);
		return;
	}
	char *target = target_of(r);
	char *what = xasprintf("%s guest", pve_action_name(r->action));
	r->id = ops_begin(app_ops(r->ga->app), what, target);
	free(what);
	free(target);
	r->start =
	        pve_task_start(r->ga->client, r->node, r->type, r->vmid, r->action, on_started, r);
}

struct guest_actions *guest_actions_create(struct app *a)
{
	struct guest_actions *ga = xcalloc(1, sizeof(*ga));
	ga->app = a;
	const struct config *cfg = app_config(a);
	if (cfg->proxmox.configured) {
		ga->client = pve_task_client_create(app_base(a), app_http(a), &cfg->proxmox);
	}
	return ga;
}

void guest_actions_destroy(struct guest_actions *ga)
{
	if (!ga) {
		return;
	}
	while (ga->runs) {
		struct run *r = ga->runs;
		http_cancel(r->start);
		pve_task_follow_cancel(r->follow);
		run_free(r);
	}
	pve_task_client_destroy(ga->client);
	free(ga);
}

void guest_actions_request(struct guest_actions *ga, const struct guest_row *g,
                           enum pve_action action)
{
	if (!ga->client) {
		app_message(ga->app, true, "Proxmox is not configured: no guest actions");
		return;
	}
	if (!g->node || !g->type) {
		app_message(ga->app, true, "guest %d: its node or type is unknown; refresh (r)",
		            g->vmid);
		return;
	}
	if (g->template_) {
		app_message(ga->app, true, "%d is a template: it cannot be started or stopped",
		            g->vmid);
		return;
	}
	struct run *r = xcalloc(1, sizeof(*r));
	r->ga = ga;
	r->action = action;
	r->vmid = g->vmid;
	r->name = xstrdup(g->name ? g->name : "");
	r->node = xstrdup(g->node);
	r->type = xstrdup(g->type);
	r->asking = true;
	r->next = ga->runs;
	ga->runs = r;
	char *q = xasprintf("%s %s %d (%s) on %s", verb(action),
	                    str_eq(r->type, "lxc") ? "container" : "VM", r->vmid, r->name, r->node);
	/* Stop cuts the power: the name typed, as for anything that cannot be undone. */
	app_confirm(ga->app, q, action == PVE_ACTION_STOP && r->name[0] ? r->name : NULL, on_answer,
	            r);
	free(q);
}
