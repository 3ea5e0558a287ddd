/* pve_task.c: see pve_task.h. */
#include "pve_task.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "pve.h"
#include "pve_parse.h"
#include "util.h"

static const char *const action_names[] = {
        [PVE_ACTION_START] = "start",
        [PVE_ACTION_SHUTDOWN] = "shutdown",
        [PVE_ACTION_STOP] = "stop",
        [PVE_ACTION_REBOOT] = "reboot",
};

bool pve_action_parse(const char *name, enum pve_action *out)
{
	for (size_t i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++) {
		if (str_eq(name, action_names[i])) {
			*out = (enum pve_action)i;
			return true;
		}
	}
	return false;
}

const char *pve_action_name(enum pve_action a)
{
	return action_names[a];
}

/* --- UPID --- */

/* parse_hex reads a field of hex digits (min..max of them) into *out. */
static bool parse_hex(const char *s, size_t len, size_t min, size_t max, uint64_t *out)
{
	if (len < min || len > max) {
		return false;
	}
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		int d = hex_digit((unsigned char)s[i]);
		if (d < 0) {
			return false;
		}
		v = v * 16 + (uint64_t)d;
	}
	*out = v;
	return true;
}

void pve_upid_finish(struct pve_upid *u)
{
	free(u->node);
	free(u->type);
	free(u->id);
	free(u->user);
	memset(u, 0, sizeof(*u));
}

bool pve_upid_parse(const char *s, struct pve_upid *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	if (!s || !str_has_prefix(s, "UPID:")) {
		return err_set(err, ERR_MALFORMED, 0, "not a Proxmox task id (UPID:...): '%.80s'",
		               s ? s : "");
	}
	/* Seven fields after "UPID:"; the user ends with ':' (PVE 7's LXC answers leave it out).
	 * No field holds a ':' (node names and user@realm!token cannot). */
	const char *f[7];
	size_t flen[7];
	size_t n = 0;
	const char *p = s + 5;
	size_t rest = strlen(p);
	if (rest && p[rest - 1] == ':') {
		rest--;
	}
	const char *end = p + rest;
	while (n < 7) {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		f[n] = p;
		flen[n] = colon ? (size_t)(colon - p) : (size_t)(end - p);
		n++;
		if (!colon) {
			break;
		}
		p = colon + 1;
		if (n == 7) {
			n = 8; /* a field too many */
		}
	}
	uint64_t pid, pstart, start;
	if (n != 7 || flen[0] == 0 || !parse_hex(f[1], flen[1], 8, 8, &pid) ||
	    !parse_hex(f[2], flen[2], 8, 9, &pstart) || !parse_hex(f[3], flen[3], 8, 8, &start) ||
	    flen[4] == 0 || flen[6] == 0) {
		return err_set(err, ERR_MALFORMED, 0,
		               "not a Proxmox task id: '%.80s' (want "
		               "UPID:node:pid:pstart:starttime:type:id:user:)",
		               s);
	}
	out->node = xstrndup(f[0], flen[0]);
	out->pid = (uint32_t)pid;
	out->pstart = pstart;
	out->starttime = (int64_t)start;
	out->type = xstrndup(f[4], flen[4]);
	out->id = xstrndup(f[5], flen[5]);
	out->user = xstrndup(f[6], flen[6]);
	return true;
}

/* --- answers --- */

static json_t *load_data(const char *body, size_t len, const char *what, struct err *err)
{
	char eb[160];
	json_t *root = json_load_body(body, len, eb, sizeof(eb));
	if (!root) {
		err_set(err, ERR_MALFORMED, 0, "proxmox: malformed answer to %s: %s", what, eb);
		return NULL;
	}
	if (!json_is_object(root) || !json_object_get(root, "data")) {
		json_decref(root);
		err_set(err, ERR_MALFORMED, 0, "proxmox: malformed answer to %s: no \"data\"",
		        what);
		return NULL;
	}
	return root;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

bool pve_task_parse_status(const char *body, size_t len, struct pve_task_status *out,
                           struct err *err)
{
	memset(out, 0, sizeof(*out));
	out->starttime = out->endtime = -1;
	json_t *root = load_data(body, len, "task status", err);
	if (!root) {
		return false;
	}
	json_t *d = json_object_get(root, "data");
	const char *status = json_is_object(d) ? json_str(d, "status") : NULL;
	if (!status || (!str_eq(status, "running") && !str_eq(status, "stopped"))) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0,
		               "proxmox: malformed answer to task status: status is not "
		               "running or stopped");
	}
	out->running = str_eq(status, "running");
	if (!out->running) {
		const char *ex = json_str(d, "exitstatus");
		/* A stopped task always has one; an old server that left it out failed. */
		out->exitstatus = xstrdup(ex ? ex : "unknown");
	}
	out->type = dup_or_null(json_str(d, "type"));
	out->id = dup_or_null(json_str(d, "id"));
	out->node = dup_or_null(json_str(d, "node"));
	out->upid = dup_or_null(json_str(d, "upid"));
	json_int(d, "starttime", &out->starttime);
	json_int(d, "endtime", &out->endtime);
	json_decref(root);
	return true;
}

void pve_task_status_finish(struct pve_task_status *st)
{
	free(st->exitstatus);
	free(st->type);
	free(st->id);
	free(st->node);
	free(st->upid);
	memset(st, 0, sizeof(*st));
}

bool pve_task_succeeded(const struct pve_task_status *st)
{
	return !st->running && st->exitstatus &&
	       (str_eq(st->exitstatus, "OK") || str_has_prefix(st->exitstatus, "WARNINGS"));
}

bool pve_task_parse_log(const char *body, size_t len, struct pve_task_log *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	out->total = -1;
	json_t *root = load_data(body, len, "task log", err);
	if (!root) {
		return false;
	}
	json_t *d = json_object_get(root, "data");
	if (!json_is_array(d)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0,
		               "proxmox: malformed answer to task log: data is not a list");
	}
	out->lines = xcalloc(json_array_size(d) + 1, sizeof(*out->lines));
	size_t i;
	json_t *v;
	json_array_foreach (d, i, v) {
		const char *t = json_is_object(v) ? json_str(v, "t") : NULL;
		out->lines[out->len++] = xstrdup(t ? t : "");
	}
	json_int(root, "total", &out->total);
	json_decref(root);
	return true;
}

void pve_task_log_finish(struct pve_task_log *log)
{
	for (size_t i = 0; i < log->len; i++) {
		free(log->lines[i]);
	}
	free(log->lines);
	memset(log, 0, sizeof(*log));
}

bool pve_task_parse_started(const char *body, size_t len, char **upid, struct err *err)
{
	*upid = NULL;
	json_t *root = load_data(body, len, "the action", err);
	if (!root) {
		return false;
	}
	const char *s = json_str(root, "data");
	struct pve_upid u;
	struct err e;
	if (!s || !pve_upid_parse(s, &u, &e)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0,
		               "proxmox: malformed answer to the action: data is not a task id "
		               "(UPID:...)");
	}
	pve_upid_finish(&u);
	*upid = xstrdup(s);
	json_decref(root);
	return true;
}

const struct guest_row *pve_task_find_guest(const struct guest_list *guests, int vmid)
{
	for (size_t i = 0; i < guests->len; i++) {
		if (guests->items[i].vmid == vmid) {
			return &guests->items[i];
		}
	}
	return NULL;
}

void pve_task_error(struct err *out, const struct http_response *resp, const struct err *err,
                    const char *what)
{
	if (!http_failed_with_status(resp)) {
		pve_error_from_response(out, resp, err, what);
		return;
	}
	long status = resp->status;
	char *detail = resp->len ? pve_error_message(resp->body, resp->len) : NULL;
	const char *reason = detail ? detail : (resp->reason ? resp->reason : NULL);
	if (status == 500 && reason) {
		err_set(out, ERR_REJECTED, status, "proxmox: %s: %s", what, reason);
	} else if (status == 403) {
		err_set(out, ERR_AUTH, status,
		        "proxmox: %s: 403 %s: the token lacks VM.PowerMgmt on the guest (give it "
		        "the PVEVMUser role on /vms/VMID, or turn off its privilege separation)",
		        what, reason ? reason : "Permission check failed");
	} else {
		pve_error_from_response(out, resp, err, what);
	}
	/* PVE ends its messages with a newline; one line is what a person reads. */
	out->msg[strcspn(out->msg, "\n")] = '\0';
	free(detail);
}

/* --- the client --- */

struct pve_task_client {
	struct event_base *base;
	struct pve *pve; /* the token, TLS settings and requests of pve.c */
};

struct pve_task_client *pve_task_client_create(struct event_base *base, struct http *h,
                                               const struct config_proxmox *cfg)
{
	struct pve_task_client *tc = xcalloc(1, sizeof(*tc));
	tc->base = base;
	tc->pve = pve_create(h, cfg);
	return tc;
}

void pve_task_client_destroy(struct pve_task_client *tc)
{
	if (!tc) {
		return;
	}
	pve_destroy(tc->pve);
	free(tc);
}

static struct http_request *call(struct pve_task_client *tc, const char *method, const char *path,
                                 http_done_fn done, void *ud)
{
	return method ? pve_http_post(tc->pve, path, done, ud)
	              : pve_http_get(tc->pve, path, done, ud);
}

/* locate */

struct locate {
	int vmid;
	pve_task_guest_fn cb;
	void *ud;
};

static void on_located(void *ud, struct http_response *resp, const struct err *err)
{
	struct locate *l = ud;
	struct err e;
	err_clear(&e);
	struct guest_list guests = {0};
	const struct guest_row *g = NULL;
	if (err) {
		pve_error_from_response(&e, resp, err, "cluster resources");
	} else if (!pve_parse_cluster_resources(resp->body, resp->len, NULL, &guests, &e)) {
		char msg[sizeof(e.msg)];
		snprintf(msg, sizeof(msg), "proxmox: malformed answer to /cluster/resources: %s",
		         e.msg);
		memcpy(e.msg, msg, sizeof(msg));
		e.code = ERR_MALFORMED;
	} else if (!(g = pve_task_find_guest(&guests, l->vmid))) {
		err_set(&e, ERR_NOT_FOUND, 0,
		        "proxmox: there is no guest %d in the cluster (see 'labdeck guests')",
		        l->vmid);
	}
	l->cb(l->ud, g, g ? NULL : &e);
	guest_list_finish(&guests);
	free(l);
}

struct http_request *pve_task_locate(struct pve_task_client *tc, int vmid, pve_task_guest_fn cb,
                                     void *ud)
{
	struct locate *l = xcalloc(1, sizeof(*l));
	l->vmid = vmid;
	l->cb = cb;
	l->ud = ud;
	return call(tc, NULL, "/cluster/resources?type=vm", on_located, l);
}

/* start */

struct start {
	char what[96];
	pve_task_started_fn cb;
	void *ud;
};

static void on_started(void *ud, struct http_response *resp, const struct err *err)
{
	struct start *s = ud;
	struct err e;
	err_clear(&e);
	char *upid = NULL;
	if (err) {
		pve_task_error(&e, resp, err, s->what);
	} else {
		pve_task_parse_started(resp->body, resp->len, &upid, &e);
	}
	s->cb(s->ud, upid, upid ? NULL : &e);
	free(upid);
	free(s);
}

struct http_request *pve_task_start(struct pve_task_client *tc, const char *node, const char *type,
                                    int vmid, enum pve_action action, pve_task_started_fn cb,
                                    void *ud)
{
	struct start *s = xcalloc(1, sizeof(*s));
	snprintf(s->what, sizeof(s->what), "%s guest %d", pve_action_name(action), vmid);
	s->cb = cb;
	s->ud = ud;
	char *n = url_escape(node);
	char *path = xasprintf("/nodes/%s/%s/%d/status/%s", n, str_eq(type, "lxc") ? "lxc" : "qemu",
	                       vmid, pve_action_name(action));
	struct http_request *req = call(tc, "POST", path, on_started, s);
	free(path);
	free(n);
	return req;
}

/* follow */

struct pve_task_follow {
	struct pve_task_client *tc;
	char *status_path;
	char *log_path;
	long interval_ms;
	size_t log_lines;
	pve_task_progress_fn progress;
	pve_task_end_fn end;
	void *ud;
	struct event *timer;
	struct http_request *req;
	struct pve_task_status last;
};

static void follow_free(struct pve_task_follow *f)
{
	if (f->timer) {
		event_free(f->timer);
	}
	pve_task_status_finish(&f->last);
	free(f->status_path);
	free(f->log_path);
	free(f);
}

static void poll_status(evutil_socket_t fd, short what, void *ud);

static void on_log(void *ud, struct http_response *resp, const struct err *err)
{
	struct pve_task_follow *f = ud;
	f->req = NULL;
	struct pve_task_log log;
	struct err e;
	bool ok = !err && pve_task_parse_log(resp->body, resp->len, &log, &e);
	if (ok && log.len > f->log_lines) {
		/* keep the last log_lines lines */
		size_t drop = log.len - f->log_lines;
		for (size_t i = 0; i < drop; i++) {
			free(log.lines[i]);
		}
		memmove(log.lines, log.lines + drop, f->log_lines * sizeof(*log.lines));
		log.len = f->log_lines;
	}
	f->end(f->ud, &f->last, ok ? &log : NULL, NULL);
	if (ok) {
		pve_task_log_finish(&log);
	}
	follow_free(f);
}

static void on_status(void *ud, struct http_response *resp, const struct err *err)
{
	struct pve_task_follow *f = ud;
	f->req = NULL;
	struct err e;
	err_clear(&e);
	struct pve_task_status st;
	if (err) {
		pve_task_error(&e, resp, err, "task status");
	} else if (pve_task_parse_status(resp->body, resp->len, &st, &e)) {
		pve_task_status_finish(&f->last);
		f->last = st;
		if (f->progress) {
			f->progress(f->ud, &f->last);
		}
		if (f->last.running) {
			struct timeval tv = {f->interval_ms / 1000, (f->interval_ms % 1000) * 1000};
			evtimer_add(f->timer, &tv);
			return;
		}
		if (pve_task_succeeded(&f->last) || f->log_lines == 0) {
			f->end(f->ud, &f->last, NULL, NULL);
			follow_free(f);
			return;
		}
		/* A failed task: its log says why. All of it, up to a bound: the end matters. */
		f->req = call(f->tc, NULL, f->log_path, on_log, f);
		return;
	}
	f->end(f->ud, NULL, NULL, &e);
	follow_free(f);
}

static void poll_status(evutil_socket_t fd, short what, void *ud)
{
	struct pve_task_follow *f = ud;
	f->req = call(f->tc, NULL, f->status_path, on_status, f);
}

struct pve_task_follow *pve_task_follow(struct pve_task_client *tc, const char *upid,
                                        long interval_ms, size_t log_lines,
                                        pve_task_progress_fn progress, pve_task_end_fn end,
                                        void *ud)
{
	struct pve_task_follow *f = xcalloc(1, sizeof(*f));
	f->tc = tc;
	f->interval_ms = interval_ms > 0 ? interval_ms : 1000;
	f->log_lines = log_lines;
	f->progress = progress;
	f->end = end;
	f->ud = ud;
	struct pve_upid u;
	struct err e;
	const char *node = "localhost";
	bool parsed = pve_upid_parse(upid, &u, &e);
	if (parsed) {
		node = u.node;
	}
	char *n = url_escape(node);
	char *id = url_escape(upid);
	f->status_path = xasprintf("/nodes/%s/tasks/%s/status", n, id);
	f->log_path = xasprintf("/nodes/%s/tasks/%s/log?start=0&limit=5000", n, id);
	free(n);
	free(id);
	if (parsed) {
		pve_upid_finish(&u);
	}
	f->timer = evtimer_new(tc->base, poll_status, f);
	/* The first read right away: a quick task may be done already. */
	struct timeval now = {0, 0};
	evtimer_add(f->timer, &now);
	return f;
}

void pve_task_follow_cancel(struct pve_task_follow *f)
{
	if (!f) {
		return;
	}
	http_cancel(f->req);
	follow_free(f);
}
