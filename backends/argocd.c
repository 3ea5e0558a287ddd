/* argocd.c: see argocd.h. */
#include "argocd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "util.h"

struct argocd {
	struct http *http;
	const struct config_argocd *cfg;
	char *auth_header;
	struct http_tls tls;
	struct argocd_call *calls; /* in flight, for argocd_cancel and argocd_destroy */
};

/* One call in flight. */
struct argocd_call {
	argocd_done_fn done;
	void *ud;
	char *what;
	struct argocd *owner;
	struct http_request *req;
	struct argocd_call *next;
};

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void argocd_app_finish(struct argocd_app *a)
{
	free(a->name);
	free(a->sync);
	free(a->health);
	free(a->revision);
	free(a->parent);
	free(a->phase);
	free(a->op_message);
	free(a->op_started);
	free(a->op_finished);
	memset(a, 0, sizeof(*a));
}

void argocd_app_list_finish(struct argocd_app_list *l)
{
	for (size_t i = 0; i < l->len; i++) {
		argocd_app_finish(&l->items[i]);
	}
	free(l->items);
	l->items = NULL;
	l->len = 0;
}

static bool app_from_json(const json_t *o, struct argocd_app *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	const char *name = json_str(json_object_get(o, "metadata"), "name");
	if (!json_is_object(o) || !name) {
		return err_set(err, ERR_MALFORMED, 0, "an application without metadata.name");
	}
	out->name = xstrdup(name);
	json_t *st = json_object_get(o, "status");
	out->sync = dup_or_null(json_str(json_object_get(st, "sync"), "status"));
	out->health = dup_or_null(json_str(json_object_get(st, "health"), "status"));
	out->revision = dup_or_null(json_str(json_object_get(st, "sync"), "revision"));
	if (!out->revision) {
		json_t *revs = json_path(st, "sync", "revisions", NULL);
		if (json_is_array(revs) && json_array_size(revs) > 0 &&
		    json_is_string(json_array_get(revs, 0))) {
			out->revision = xstrdup(json_string_value(json_array_get(revs, 0)));
		}
	}
	out->parent = dup_or_null(
	        json_str(json_path(o, "metadata", "labels", NULL), "app.kubernetes.io/instance"));
	if (out->parent && strcmp(out->parent, out->name) == 0) {
		free(out->parent);
		out->parent = NULL;
	}
	json_t *op = json_object_get(st, "operationState");
	out->phase = dup_or_null(json_str(op, "phase"));
	out->op_message = dup_or_null(json_str(op, "message"));
	out->op_started = dup_or_null(json_str(op, "startedAt"));
	out->op_finished = dup_or_null(json_str(op, "finishedAt"));
	return true;
}

bool argocd_parse_app(const char *body, size_t len, struct argocd_app *out, struct err *err)
{
	char eb[160];
	json_t *root = json_load_body(body, len, eb, sizeof(eb));
	memset(out, 0, sizeof(*out));
	if (!root) {
		return err_set(err, ERR_MALFORMED, 0, "not JSON: %s", eb);
	}
	bool ok = app_from_json(root, out, err);
	json_decref(root);
	return ok;
}

bool argocd_parse_list(const char *body, size_t len, struct argocd_app_list *out, struct err *err)
{
	char eb[160];
	memset(out, 0, sizeof(*out));
	json_t *root = json_load_body(body, len, eb, sizeof(eb));
	if (!root) {
		return err_set(err, ERR_MALFORMED, 0, "not JSON: %s", eb);
	}
	json_t *items = json_object_get(root, "items");
	if (!json_is_object(root) || (!json_is_array(items) && !json_is_null(items) && items)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "not an ApplicationList (no items)");
	}
	size_t n = json_is_array(items) ? json_array_size(items) : 0;
	out->items = xcalloc(n ? n : 1, sizeof(*out->items));
	for (size_t i = 0; i < n; i++) {
		if (!app_from_json(json_array_get(items, i), &out->items[out->len], err)) {
			argocd_app_finish(&out->items[out->len]);
			argocd_app_list_finish(out);
			json_decref(root);
			return false;
		}
		out->len++;
	}
	json_decref(root);
	return true;
}

char *argocd_error_text(const char *body, size_t len)
{
	if (!body || len == 0) {
		return NULL;
	}
	char eb[160];
	json_t *root = json_load_body(body, len, eb, sizeof(eb));
	if (!root) {
		return NULL;
	}
	const char *m = json_str(root, "message");
	if (!m || !*m) {
		m = json_str(root, "error");
	}
	char *out = m && *m ? xstrdup(m) : NULL;
	json_decref(root);
	return out;
}

char *argocd_sync_body(const char *revision, bool prune, bool dry_run)
{
	json_t *o = json_object();
	if (revision) {
		json_object_set_new(o, "revision", json_string(revision));
	}
	json_object_set_new(o, "prune", json_boolean(prune));
	json_object_set_new(o, "dryRun", json_boolean(dry_run));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	char *out = xstrdup(s);
	free(s);
	return out;
}

enum argocd_op_state argocd_op_state_of(const struct argocd_app *app, const char *since)
{
	if (!app->phase) {
		return ARGOCD_OP_PENDING;
	}
	bool running = strcmp(app->phase, "Running") == 0 || strcmp(app->phase, "Terminating") == 0;
	if (!running && since && app->op_started) {
		double s, t;
		if (rfc3339_parse(since, &s) && rfc3339_parse(app->op_started, &t) && t < s) {
			return ARGOCD_OP_PENDING;
		}
	}
	if (running) {
		return ARGOCD_OP_RUNNING;
	}
	if (strcmp(app->phase, "Succeeded") == 0) {
		return ARGOCD_OP_SUCCEEDED;
	}
	return ARGOCD_OP_FAILED;
}

bool argocd_is_busy(const struct err *err)
{
	return err && err->http_status == 400 && strstr(err->msg, "another operation is already");
}

void argocd_error_from_response(struct err *out, const struct http_response *resp,
                                const struct err *err, const char *what)
{
	if (!http_failed_with_status(resp)) {
		*out = *err;
		size_t n = strlen(out->msg);
		if (!str_has_prefix(out->msg, "argocd")) {
			char msg[sizeof(out->msg)];
			snprintf(msg, sizeof(msg), "argocd: %s: %s", what, out->msg);
			memcpy(out->msg, msg, sizeof(msg));
		}
		(void)n;
		return;
	}
	long status = resp->status;
	char *detail = argocd_error_text(resp->body, resp->len);
	const char *reason = detail ? detail : (resp->reason ? resp->reason : "error");
	if (status == 401) {
		err_set(out, ERR_AUTH, status,
		        "argocd: %s: 401 %s: the token in [argocd] was refused (make a new one "
		        "with "
		        "'argocd account generate-token')",
		        what, reason);
	} else if (status == 403) {
		err_set(out, ERR_AUTH, status,
		        "argocd: %s: 403 %s (ArgoCD also answers 403 for an app that does not "
		        "exist)",
		        what, reason);
	} else if (status == 400 && strstr(reason, "another operation is already")) {
		err_set(out, ERR_REJECTED, status, "argocd: %s: %s", what, reason);
	} else {
		http_status_error(out, "argocd", status, reason);
		size_t n = strlen(out->msg);
		snprintf(out->msg + n, sizeof(out->msg) - n, " (%s)", what);
	}
	http_append_retry_after(out, resp);
	free(detail);
}

struct argocd *argocd_create(struct http *h, const struct config_argocd *cfg)
{
	struct argocd *a = xcalloc(1, sizeof(*a));
	a->http = h;
	a->cfg = cfg;
	if (cfg->token) {
		a->auth_header = xasprintf("Authorization: Bearer %s", cfg->token);
	}
	a->tls.ca_file = cfg->tls.ca_file;
	a->tls.fingerprint = cfg->tls.fingerprint;
	a->tls.insecure = cfg->tls.insecure;
	return a;
}

static void call_unlink(struct argocd_call *call)
{
	struct argocd_call **p = &call->owner->calls;
	while (*p && *p != call) {
		p = &(*p)->next;
	}
	if (*p) {
		*p = call->next;
	}
}

void argocd_cancel(struct argocd *a, struct http_request *req)
{
	for (struct argocd_call *c = a && req ? a->calls : NULL; c; c = c->next) {
		if (c->req == req) {
			http_cancel(req);
			call_unlink(c);
			free(c->what);
			free(c);
			return;
		}
	}
}

void argocd_destroy(struct argocd *a)
{
	if (!a) {
		return;
	}
	while (a->calls) {
		argocd_cancel(a, a->calls->req);
	}
	if (a->auth_header) {
		explicit_bzero(a->auth_header, strlen(a->auth_header));
		free(a->auth_header);
	}
	free(a);
}

static void on_done(void *ud, struct http_response *resp, const struct err *err)
{
	struct argocd_call *call = ud;
	call_unlink(call); /* first: done may destroy the client */
	if (err) {
		struct err e;
		argocd_error_from_response(&e, resp, err, call->what);
		call->done(call->ud, resp->body, resp->len, &e);
	} else {
		call->done(call->ud, resp->body, resp->len, NULL);
	}
	free(call->what);
	free(call);
}

static struct http_request *start(struct argocd *a, const char *method, char *path,
                                  const char *body, char *what, argocd_done_fn done, void *ud)
{
	struct argocd_call *call = xcalloc(1, sizeof(*call));
	call->done = done;
	call->ud = ud;
	call->what = what;
	call->owner = a;
	const char *base = a->cfg->url ? a->cfg->url : "";
	size_t bl = strlen(base);
	char *url = xasprintf("%.*s/api/v1%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl), base,
	                      path);
	const char *headers[4];
	size_t nh = 0;
	headers[nh++] = "Accept: application/json";
	if (body) {
		headers[nh++] = "Content-Type: application/json";
	}
	if (a->auth_header) {
		headers[nh++] = a->auth_header;
	}
	headers[nh] = NULL;
	bool changes = method && strcmp(method, "GET") != 0;
	struct http_request_opts o = {
	        .backend = "argocd",
	        .method = method,
	        .url = url,
	        .headers = headers,
	        .body = body,
	        .body_len = body ? strlen(body) : 0,
	        .tls = &a->tls,
	        .max_body = 16u << 20, /* a lab's application list is well under 1 MiB */
	        .max_retries = changes ? 0 : -1,
	        .on_done = on_done,
	        .ud = call,
	};
	struct http_request *r = http_start(a->http, &o);
	call->req = r;
	call->next = a->calls;
	a->calls = call;
	free(url);
	free(path);
	return r;
}

struct http_request *argocd_list(struct argocd *a, argocd_done_fn done, void *ud)
{
	return start(a, "GET", xstrdup("/applications"), NULL, xstrdup("list applications"), done,
	             ud);
}

struct http_request *argocd_get(struct argocd *a, const char *name, argocd_done_fn done, void *ud)
{
	char *e = url_escape(name);
	struct http_request *r = start(a, "GET", xasprintf("/applications/%s", e), NULL,
	                               xasprintf("application %s", name), done, ud);
	free(e);
	return r;
}

struct http_request *argocd_sync(struct argocd *a, const char *name, const char *revision,
                                 bool prune, bool dry_run, argocd_done_fn done, void *ud)
{
	char *e = url_escape(name);
	char *body = argocd_sync_body(revision, prune, dry_run);
	struct http_request *r = start(a, "POST", xasprintf("/applications/%s/sync", e), body,
	                               xasprintf("sync %s", name), done, ud);
	free(body);
	free(e);
	return r;
}

struct http_request *argocd_terminate(struct argocd *a, const char *name, argocd_done_fn done,
                                      void *ud)
{
	char *e = url_escape(name);
	struct http_request *r =
	        start(a, "DELETE", xasprintf("/applications/%s/operation", e), NULL,
	              xasprintf("terminate the operation on %s", name), done, ud);
	free(e);
	return r;
}
