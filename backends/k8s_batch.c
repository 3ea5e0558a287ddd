/* k8s_batch.c: CronJobs and Jobs over k8s.c's requests. */
#include "k8s_batch.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_util.h"
#include "k8s.h"
#include "util.h"

void k8s_cronjob_finish(struct k8s_cronjob *c)
{
	free(c->ns);
	free(c->name);
	free(c->schedule);
	free(c->last_schedule);
	memset(c, 0, sizeof(*c));
}

void k8s_cronjobs_finish(struct k8s_cronjobs *l)
{
	for (size_t i = 0; i < l->len; i++) {
		k8s_cronjob_finish(&l->items[i]);
	}
	free(l->items);
	l->items = NULL;
	l->len = 0;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* cronjob_from_json reads one CronJob object (a list item or a whole answer) into c. */
static bool cronjob_from_json(const json_t *it, struct k8s_cronjob *c, struct err *err)
{
	memset(c, 0, sizeof(*c));
	const char *name = json_str(json_path(it, "metadata", NULL), "name");
	const char *sched = json_str(json_path(it, "spec", NULL), "schedule");
	if (!name || !sched) {
		return err_set(err, ERR_MALFORMED, 0,
		               "kubernetes: a CronJob without metadata.name or spec.schedule");
	}
	c->ns = dup_or_null(json_str(json_path(it, "metadata", NULL), "namespace"));
	c->name = xstrdup(name);
	c->schedule = xstrdup(sched);
	json_t *st = json_path(it, "status", NULL);
	c->last_schedule = dup_or_null(json_str(st, "lastScheduleTime"));
	c->suspend = json_is_true(json_path(it, "spec", "suspend", NULL));
	c->active = json_array_size(json_object_get(st, "active"));
	return true;
}

bool k8s_batch_parse_cronjob(const char *body, size_t len, struct k8s_cronjob *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	char eb[160];
	json_t *root = json_load_body(body, len, eb, sizeof(eb));
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "kubernetes: malformed CronJob: %s",
		               root ? "not an object" : eb);
	}
	bool ok = cronjob_from_json(root, out, err);
	json_decref(root);
	return ok;
}

bool k8s_batch_parse_cronjobs(const char *body, size_t len, struct k8s_cronjobs *out,
                              struct err *err)
{
	memset(out, 0, sizeof(*out));
	char eb[160];
	json_t *root = json_load_body(body, len, eb, sizeof(eb));
	if (!root) {
		return err_set(err, ERR_MALFORMED, 0, "kubernetes: malformed CronJob list: %s", eb);
	}
	json_t *items = json_object_get(root, "items");
	if (!json_is_array(items)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "kubernetes: CronJob list without items");
	}
	size_t n = json_array_size(items);
	out->items = xcalloc(n ? n : 1, sizeof(*out->items));
	for (size_t i = 0; i < n; i++) {
		if (!cronjob_from_json(json_array_get(items, i), &out->items[out->len], err)) {
			k8s_cronjobs_finish(out);
			json_decref(root);
			return false;
		}
		out->len++;
	}
	json_decref(root);
	return true;
}

void k8s_job_status_finish(struct k8s_job_status *st)
{
	free(st->reason);
	free(st->message);
	st->reason = st->message = NULL;
}

const char *k8s_job_state_name(enum k8s_job_state s)
{
	switch (s) {
	case K8S_JOB_PENDING:
		return "pending";
	case K8S_JOB_ACTIVE:
		return "active";
	case K8S_JOB_COMPLETE:
		return "complete";
	case K8S_JOB_FAILED:
		return "failed";
	}
	return "?";
}

bool k8s_batch_parse_job(const char *body, size_t len, struct k8s_job_status *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	char eb[160];
	json_t *root = json_load_body(body, len, eb, sizeof(eb));
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "kubernetes: malformed Job: %s",
		               root ? "not an object" : eb);
	}
	json_t *st = json_object_get(root, "status");
	int64_t v = 0;
	out->active = json_int(st, "active", &v) ? (long)v : 0;
	out->succeeded = json_int(st, "succeeded", &v) ? (long)v : 0;
	out->failed = json_int(st, "failed", &v) ? (long)v : 0;
	out->state =
	        out->active > 0 || json_str(st, "startTime") ? K8S_JOB_ACTIVE : K8S_JOB_PENDING;
	json_t *conds = json_object_get(st, "conditions");
	for (size_t i = 0; i < json_array_size(conds); i++) {
		json_t *c = json_array_get(conds, i);
		const char *type = json_str(c, "type");
		if (!str_eq(json_str(c, "status"), "True")) {
			continue;
		}
		if (str_eq(type, "Complete") || str_eq(type, "Failed")) {
			out->state = str_eq(type, "Complete") ? K8S_JOB_COMPLETE : K8S_JOB_FAILED;
			free(out->reason);
			free(out->message);
			out->reason = dup_or_null(json_str(c, "reason"));
			out->message = dup_or_null(json_str(c, "message"));
			break;
		}
	}
	json_decref(root);
	return true;
}

char *k8s_batch_manual_name(const char *cronjob, unsigned long seed)
{
	/* Kubernetes' utilrand alphabet: no vowels, no 0 1 3 (no words, no look-alikes). */
	static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
	char suffix[6];
	for (int i = 0; i < 5; i++) {
		suffix[i] = alnum[seed % (sizeof(alnum) - 1)];
		seed /= sizeof(alnum) - 1;
		seed ^= seed << 7; /* keep some bits coming when the seed is small */
	}
	suffix[5] = '\0';
	size_t room = 63 - strlen("-manual-") - 5;
	size_t n = strlen(cronjob);
	if (n > room) {
		n = room;
	}
	while (n > 0 && (cronjob[n - 1] == '-' || cronjob[n - 1] == '.')) {
		n--; /* a name must not have "--manual" from a cut at a dash */
	}
	return xasprintf("%.*s-manual-%s", (int)n, cronjob, suffix);
}

char *k8s_batch_job_from_cronjob(const char *body, size_t len, const char *job_name,
                                 struct err *err)
{
	char eb[160];
	json_t *cj = json_load_body(body, len, eb, sizeof(eb));
	if (!cj) {
		err_set(err, ERR_MALFORMED, 0, "kubernetes: malformed CronJob: %s", eb);
		return NULL;
	}
	json_t *md = json_object_get(cj, "metadata");
	const char *name = json_str(md, "name");
	const char *uid = json_str(md, "uid");
	json_t *jt = json_path(cj, "spec", "jobTemplate", NULL);
	json_t *spec = json_object_get(jt, "spec");
	if (!name || !uid || !json_is_object(spec)) {
		json_decref(cj);
		err_set(err, ERR_MALFORMED, 0, "kubernetes: the CronJob has no %s",
		        !name  ? "metadata.name"
		        : !uid ? "metadata.uid"
		               : "spec.jobTemplate.spec");
		return NULL;
	}
	json_t *jmd = json_object_get(jt, "metadata");
	json_t *labels = json_object_get(jmd, "labels");
	json_t *annotations = json_object();
	json_object_set_new(annotations, "cronjob.kubernetes.io/instantiate",
	                    json_string("manual"));
	json_t *tann = json_object_get(jmd, "annotations");
	if (json_is_object(tann)) {
		json_object_update(annotations, tann); /* the template's win, as in kubectl */
	}
	json_t *meta = json_object();
	json_object_set_new(meta, "name", json_string(job_name));
	if (json_str(md, "namespace")) {
		json_object_set_new(meta, "namespace", json_string(json_str(md, "namespace")));
	}
	if (json_is_object(labels)) {
		json_object_set_new(meta, "labels", json_deep_copy(labels));
	}
	json_object_set_new(meta, "annotations", annotations);
	json_t *owner = json_pack("{s:s, s:s, s:s, s:s, s:b}", "apiVersion", "batch/v1", "kind",
	                          "CronJob", "name", name, "uid", uid, "controller", 1);
	json_object_set_new(meta, "ownerReferences", json_pack("[o]", owner));
	json_t *job = json_pack("{s:s, s:s, s:o, s:O}", "kind", "Job", "apiVersion", "batch/v1",
	                        "metadata", meta, "spec", spec);
	char *text = json_dumps(job, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(job);
	json_decref(cj);
	char *out = xstrdup(text);
	free(text);
	return out;
}

/* --- requests --- */

enum op_kind { OP_LIST, OP_RUN_GET, OP_RUN_POST, OP_JOB, OP_SUSPEND };

struct k8s_batch_op {
	struct k8s *k;
	enum op_kind kind;
	struct k8s_op *req;
	char *ns, *name, *job_name;
	k8s_batch_list_fn list_cb;
	k8s_batch_run_fn run_cb;
	k8s_batch_job_fn job_cb;
	k8s_batch_suspend_fn suspend_cb;
	bool suspend; /* OP_SUSPEND: the value sent */
	void *ud;
};

static void op_free(struct k8s_batch_op *op)
{
	free(op->ns);
	free(op->name);
	free(op->job_name);
	free(op);
}

static void on_done(void *ud, struct http_response *resp, const struct err *err);

/* send starts op's request; a body goes as content_type (NULL: application/json). */
static void send(struct k8s_batch_op *op, const char *method, const char *path, const char *body,
                 const char *content_type, const char *what)
{
	struct k8s_request_opts o = {
	        .path = path,
	        .what = what,
	        .max_retries = -1,
	        .on_done = on_done,
	        .ud = op,
	        .method = method,
	        .body = body,
	        .content_type = content_type,
	};
	op->req = k8s_request(op->k, &o);
}

static void fail(struct k8s_batch_op *op, const struct err *e)
{
	if (op->kind == OP_LIST) {
		op->list_cb(op->ud, NULL, e);
	} else if (op->kind == OP_JOB) {
		op->job_cb(op->ud, NULL, e);
	} else if (op->kind == OP_SUSPEND) {
		op->suspend_cb(op->ud, NULL, e);
	} else {
		op->run_cb(op->ud, NULL, e);
	}
	op_free(op);
}

/* suspend_error says what a refused PATCH of a CronJob means and what to do: 404 the CronJob is
 * gone, 403 the RBAC verb is missing; any other failure as k8s.c said it (err). */
static void suspend_error(const struct k8s_batch_op *op, const struct http_response *resp,
                          const struct err *err, struct err *out)
{
	*out = *err;
	if (resp->status != 403 && resp->status != 404) {
		return;
	}
	struct k8s_status st = {0};
	bool has_status = resp->len && k8s_parse_status(resp->body, resp->len, &st);
	const char *msg = has_status && st.message ? st.message
	                  : resp->reason           ? resp->reason
	                                           : "error";
	if (resp->status == 404) {
		err_set(out, ERR_NOT_FOUND, 404,
		        "kubernetes: cronjob %s/%s is gone (404 %s): deleted since the list was "
		        "read? refresh the list",
		        op->ns, op->name, msg);
	} else {
		err_set(out, ERR_AUTH, 403,
		        "kubernetes: not allowed to %s cronjob %s/%s (403 %s): the user of context "
		        "'%s' needs the RBAC verb \"patch\" on cronjobs (API group batch) in "
		        "namespace %s",
		        op->suspend ? "suspend" : "resume", op->ns, op->name, msg,
		        k8s_context_name(op->k), op->ns);
	}
	k8s_status_finish(&st);
}

static void on_done(void *ud, struct http_response *resp, const struct err *err)
{
	struct k8s_batch_op *op = ud;
	op->req = NULL;
	struct err e;
	err_clear(&e);
	if (err && op->kind == OP_SUSPEND) {
		suspend_error(op, resp, err, &e);
		fail(op, &e);
		return;
	}
	if (err) {
		fail(op, err);
		return;
	}
	if (op->kind == OP_LIST) {
		struct k8s_cronjobs l;
		if (!k8s_batch_parse_cronjobs(resp->body, resp->len, &l, &e)) {
			fail(op, &e);
			return;
		}
		op->list_cb(op->ud, &l, NULL);
		k8s_cronjobs_finish(&l);
		op_free(op);
	} else if (op->kind == OP_JOB) {
		struct k8s_job_status st;
		if (!k8s_batch_parse_job(resp->body, resp->len, &st, &e)) {
			fail(op, &e);
			return;
		}
		op->job_cb(op->ud, &st, NULL);
		k8s_job_status_finish(&st);
		op_free(op);
	} else if (op->kind == OP_SUSPEND) {
		struct k8s_cronjob c;
		if (!k8s_batch_parse_cronjob(resp->body, resp->len, &c, &e)) {
			fail(op, &e);
			return;
		}
		op->suspend_cb(op->ud, &c, NULL);
		k8s_cronjob_finish(&c);
		op_free(op);
	} else if (op->kind == OP_RUN_GET) {
		op->job_name = k8s_batch_manual_name(
		        op->name, (unsigned long)now_mono_ms() ^ ((unsigned long)getpid() << 16));
		char *job = k8s_batch_job_from_cronjob(resp->body, resp->len, op->job_name, &e);
		if (!job) {
			fail(op, &e);
			return;
		}
		char *ns = url_escape(op->ns);
		char *path = xasprintf("/apis/batch/v1/namespaces/%s/"
		                       "jobs?fieldManager=labdeck&fieldValidation=Strict",
		                       ns);
		op->kind = OP_RUN_POST;
		char *what = xasprintf("create job %s/%s", op->ns, op->job_name);
		send(op, "POST", path, job, NULL, what);
		free(what);
		free(path);
		free(ns);
		free(job);
	} else {
		op->run_cb(op->ud, op->job_name, NULL);
		op_free(op);
	}
}

static struct k8s_batch_op *op_new(struct k8s *k, enum op_kind kind, const char *ns,
                                   const char *name, void *ud)
{
	struct k8s_batch_op *op = xcalloc(1, sizeof(*op));
	op->k = k;
	op->kind = kind;
	op->ns = dup_or_null(ns);
	op->name = dup_or_null(name);
	op->ud = ud;
	return op;
}

struct k8s_batch_op *k8s_batch_list(struct k8s *k, const char *ns, k8s_batch_list_fn cb, void *ud)
{
	struct k8s_batch_op *op = op_new(k, OP_LIST, ns, NULL, ud);
	op->list_cb = cb;
	char *path;
	if (ns) {
		char *e = url_escape(ns);
		path = xasprintf("/apis/batch/v1/namespaces/%s/cronjobs", e);
		free(e);
	} else {
		path = xstrdup("/apis/batch/v1/cronjobs");
	}
	send(op, NULL, path, NULL, NULL, "list cronjobs");
	free(path);
	return op;
}

/* get_named sends op's GET of the batch/v1 object resource/ns/name ("cronjobs", named
 * "cronjob ns/name" in errors). */
static void get_named(struct k8s_batch_op *op, const char *resource, const char *noun,
                      const char *ns, const char *name)
{
	char *ens = url_escape(ns);
	char *ename = url_escape(name);
	char *path = xasprintf("/apis/batch/v1/namespaces/%s/%s/%s", ens, resource, ename);
	char *what = xasprintf("%s %s/%s", noun, ns, name);
	send(op, NULL, path, NULL, NULL, what);
	free(what);
	free(path);
	free(ename);
	free(ens);
}

struct k8s_batch_op *k8s_batch_run_now(struct k8s *k, const char *ns, const char *name,
                                       k8s_batch_run_fn cb, void *ud)
{
	struct k8s_batch_op *op = op_new(k, OP_RUN_GET, ns, name, ud);
	op->run_cb = cb;
	get_named(op, "cronjobs", "cronjob", ns, name);
	return op;
}

struct k8s_batch_op *k8s_batch_get_job(struct k8s *k, const char *ns, const char *name,
                                       k8s_batch_job_fn cb, void *ud)
{
	struct k8s_batch_op *op = op_new(k, OP_JOB, ns, name, ud);
	op->job_cb = cb;
	get_named(op, "jobs", "job", ns, name);
	return op;
}

struct k8s_batch_op *k8s_batch_set_suspend(struct k8s *k, const char *ns, const char *name,
                                           bool suspend, k8s_batch_suspend_fn cb, void *ud)
{
	struct k8s_batch_op *op = op_new(k, OP_SUSPEND, ns, name, ud);
	op->suspend_cb = cb;
	op->suspend = suspend;
	char *ens = url_escape(ns);
	char *ename = url_escape(name);
	char *path = xasprintf("/apis/batch/v1/namespaces/%s/cronjobs/%s?fieldManager=labdeck", ens,
	                       ename);
	char *what = xasprintf("patch cronjob %s/%s", ns, name);
	send(op, "PATCH", path,
	     suspend ? "{\"spec\":{\"suspend\":true}}" : "{\"spec\":{\"suspend\":false}}",
	     "application/merge-patch+json", what);
	free(what);
	free(path);
	free(ename);
	free(ens);
	return op;
}

void k8s_batch_cancel(struct k8s_batch_op *op)
{
	if (!op) {
		return;
	}
	k8s_op_cancel(op->req);
	op_free(op);
}
