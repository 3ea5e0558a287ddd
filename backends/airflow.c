/* airflow.c: the Airflow 2/3 REST client (see airflow.h for how the API is found). */
#include "airflow.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json_util.h"
#include "util.h"

/* --- parsers --- */

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static json_t *load(const char *body, size_t len, const char *what, struct err *err)
{
	char eb[160];
	json_t *root = json_load_body(body, len, eb, sizeof(eb));
	if (!root) {
		err_set(err, ERR_MALFORMED, 0,
		        "airflow: malformed answer to %s: %s (is url the Airflow API?)", what, eb);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		err_set(err, ERR_MALFORMED, 0, "airflow: malformed answer to %s: not an object",
		        what);
		return NULL;
	}
	return root;
}

bool airflow_parse_version(const char *body, size_t len, int *major, struct err *err)
{
	json_t *root = load(body, len, "version", err);
	if (!root) {
		return false;
	}
	const char *v = json_str(root, "version");
	int m = v ? atoi(v) : 0;
	json_decref(root);
	if (m <= 0) {
		return err_set(err, ERR_MALFORMED, 0, "airflow: the version answer has no version");
	}
	*major = m;
	return true;
}

bool airflow_parse_token(const char *body, size_t len, char **token, struct err *err)
{
	json_t *root = load(body, len, "/auth/token", err);
	if (!root) {
		return false;
	}
	const char *t = json_str(root, "access_token");
	if (!t || !*t) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "airflow: /auth/token gave no access_token");
	}
	*token = xstrdup(t);
	json_decref(root);
	return true;
}

void airflow_dag_finish(struct airflow_dag *d)
{
	free(d->dag_id);
	free(d->last_run_state);
	free(d->last_run_id);
	free(d->last_run_start);
	d->dag_id = d->last_run_state = d->last_run_id = d->last_run_start = NULL;
}

void airflow_dags_finish(struct airflow_dags *d)
{
	for (size_t i = 0; i < d->len; i++) {
		airflow_dag_finish(&d->items[i]);
	}
	free(d->items);
	d->items = NULL;
	d->len = 0;
}

static bool dag_from(json_t *o, struct airflow_dag *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	const char *id = json_str(o, "dag_id");
	json_t *p = json_object_get(o, "is_paused");
	if (!id || !(json_is_boolean(p) || json_is_null(p))) {
		return err_set(err, ERR_MALFORMED, 0, "airflow: a DAG without dag_id or is_paused");
	}
	out->dag_id = xstrdup(id);
	out->paused = json_is_true(p);
	return true;
}

bool airflow_parse_dags(const char *body, size_t len, struct airflow_dags *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load(body, len, "the DAG list", err);
	if (!root) {
		return false;
	}
	json_t *dags = json_object_get(root, "dags");
	if (!json_is_array(dags)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "airflow: the DAG list has no \"dags\"");
	}
	size_t n = json_array_size(dags);
	out->items = xcalloc(n ? n : 1, sizeof(*out->items));
	for (size_t i = 0; i < n; i++) {
		if (!dag_from(json_array_get(dags, i), &out->items[i], err)) {
			airflow_dags_finish(out);
			json_decref(root);
			return false;
		}
		out->len++;
	}
	json_decref(root);
	return true;
}

bool airflow_parse_dag(const char *body, size_t len, struct airflow_dag *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load(body, len, "a DAG", err);
	if (!root) {
		return false;
	}
	bool ok = dag_from(root, out, err);
	json_decref(root);
	return ok;
}

bool airflow_parse_last_run(const char *body, size_t len, char **state, char **run_id, char **start,
                            struct err *err)
{
	*state = *run_id = *start = NULL;
	json_t *root = load(body, len, "the DAG run list", err);
	if (!root) {
		return false;
	}
	json_t *runs = json_object_get(root, "dag_runs");
	if (!json_is_array(runs)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "airflow: the run list has no \"dag_runs\"");
	}
	if (json_array_size(runs) > 0) {
		json_t *r = json_array_get(runs, 0);
		*state = dup_or_null(json_str(r, "state"));
		*run_id = dup_or_null(json_str(r, "dag_run_id"));
		const char *when = json_str(r, "start_date");
		if (!when) {
			when = json_str(r, "queued_at");
		}
		if (!when) {
			when = json_str(r, "logical_date");
		}
		*start = dup_or_null(when);
	}
	json_decref(root);
	return true;
}

bool airflow_parse_last_state(const char *body, size_t len, char **state, struct err *err)
{
	char *run_id = NULL, *start = NULL;
	bool ok = airflow_parse_last_run(body, len, state, &run_id, &start, err);
	free(run_id);
	free(start);
	return ok;
}

void airflow_run_finish(struct airflow_run *r)
{
	free(r->dag_id);
	free(r->run_id);
	free(r->state);
	r->dag_id = r->run_id = r->state = NULL;
}

bool airflow_parse_run(const char *body, size_t len, struct airflow_run *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load(body, len, "a DAG run", err);
	if (!root) {
		return false;
	}
	const char *id = json_str(root, "dag_run_id");
	const char *state = json_str(root, "state");
	if (!id || !state) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0,
		               "airflow: a DAG run without dag_run_id or state");
	}
	out->dag_id = dup_or_null(json_str(root, "dag_id"));
	out->run_id = xstrdup(id);
	out->state = xstrdup(state);
	json_decref(root);
	return true;
}

void airflow_tasks_finish(struct airflow_tasks *t)
{
	for (size_t i = 0; i < t->len; i++) {
		free(t->items[i].task_id);
		free(t->items[i].state);
	}
	free(t->items);
	t->items = NULL;
	t->len = 0;
}

bool airflow_parse_tasks(const char *body, size_t len, struct airflow_tasks *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load(body, len, "the task instances", err);
	if (!root) {
		return false;
	}
	json_t *tis = json_object_get(root, "task_instances");
	if (!json_is_array(tis)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0,
		               "airflow: the task list has no \"task_instances\"");
	}
	size_t n = json_array_size(tis);
	out->items = xcalloc(n ? n : 1, sizeof(*out->items));
	for (size_t i = 0; i < n; i++) {
		json_t *ti = json_array_get(tis, i);
		const char *id = json_str(ti, "task_id");
		if (!id) {
			airflow_tasks_finish(out);
			json_decref(root);
			return err_set(err, ERR_MALFORMED, 0,
			               "airflow: a task instance without task_id");
		}
		out->items[out->len].task_id = xstrdup(id);
		out->items[out->len].state = dup_or_null(json_str(ti, "state"));
		out->len++;
	}
	json_decref(root);
	return true;
}

void airflow_error_detail(const char *body, size_t len, char *out, size_t out_size)
{
	out[0] = '\0';
	char eb[160];
	json_t *root = len ? json_load_body(body, len, eb, sizeof(eb)) : NULL;
	if (!json_is_object(root)) {
		json_decref(root);
		return;
	}
	json_t *d = json_object_get(root, "detail");
	if (json_is_string(d)) {
		snprintf(out, out_size, "%s", json_string_value(d));
	} else if (json_is_array(d)) {
		size_t used = 0;
		for (size_t i = 0; i < json_array_size(d) && used + 1 < out_size; i++) {
			json_t *e = json_array_get(d, i);
			char loc[128] = "";
			size_t ll = 0;
			json_t *l = json_object_get(e, "loc");
			for (size_t k = 0; k < json_array_size(l) && ll + 1 < sizeof(loc); k++) {
				json_t *p = json_array_get(l, k);
				int w = json_is_string(p)
				                ? snprintf(loc + ll, sizeof(loc) - ll, "%s%s",
				                           k ? "." : "", json_string_value(p))
				        : json_is_integer(p)
				                ? snprintf(loc + ll, sizeof(loc) - ll, "[%lld]",
				                           (long long)json_integer_value(p))
				                : 0;
				ll += w > 0 ? (size_t)w : 0;
				if (ll >= sizeof(loc)) {
					ll = sizeof(loc) - 1;
				}
			}
			const char *msg = json_str(e, "msg");
			int w = snprintf(out + used, out_size - used, "%s%s%s%s", i ? "; " : "",
			                 loc, loc[0] ? ": " : "", msg ? msg : "invalid");
			used += w > 0 ? (size_t)w : 0;
		}
	} else if (json_is_object(d)) {
		const char *m = json_str(d, "message");
		const char *r = json_str(d, "reason");
		snprintf(out, out_size, "%s%s%s", r ? r : "", r && m ? ": " : "", m ? m : "");
	}
	if (!out[0] && json_str(root, "title")) {
		snprintf(out, out_size, "%s", json_str(root, "title"));
	}
	json_decref(root);
}

bool airflow_run_state_done(const char *state)
{
	return str_eq(state, "success") || str_eq(state, "failed");
}

char *airflow_trigger_body(enum airflow_api api, const char *conf_json, struct err *err)
{
	json_t *conf;
	if (conf_json) {
		json_error_t je;
		conf = json_loads(conf_json, JSON_DECODE_ANY, &je);
		if (!json_is_object(conf)) {
			json_decref(conf);
			err_set(err, ERR_USAGE, 0,
			        "--conf wants a JSON object, like '{\"full\": true}'%s%s",
			        conf ? "" : ": ", conf ? "" : je.text);
			return NULL;
		}
	} else {
		conf = json_object();
	}
	json_t *body = json_object();
	json_object_set_new(body, "conf", conf);
	if (api == AIRFLOW_API_V2) {
		json_object_set_new(body, "logical_date", json_null());
	}
	char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(body);
	char *out = xstrdup(text);
	free(text);
	return out;
}

char *airflow_basic_header(const char *user, const char *password)
{
	char *plain = xasprintf("%s:%s", user ? user : "", password ? password : "");
	size_t n = strlen(plain);
	unsigned char *enc = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock(enc, (const unsigned char *)plain, (int)n);
	err_secret_add((const char *)enc);
	char *h = xasprintf("Authorization: Basic %s", enc);
	explicit_bzero(plain, n);
	free(plain);
	free(enc);
	return h;
}

/* --- the client --- */

enum call_kind { C_DAGS, C_LAST, C_DAG, C_RUN, C_TASKS };

struct call {
	struct airflow *a;
	enum call_kind kind;
	char *method, *path, *body, *what;
	bool renewed;
	char *conf;       /* a trigger: its conf, the body is built once the API is known */
	bool pause_patch; /* a PATCH of is_paused: /api/v1 wants ?update_mask=is_paused */
	struct http_request *req;
	struct call *next_wait;   /* in a->waiting */
	struct call *prev, *next; /* in a->calls */
	airflow_dags_fn dags_cb;
	airflow_dag_fn dag_cb;
	airflow_run_fn run_cb;
	airflow_tasks_fn tasks_cb;
	void *ud;
	/* C_DAGS: the list while the latest runs are read; C_LAST: its parent and index */
	struct airflow_dags dags;
	size_t pending;
	struct err first_err;
	bool failed;
	struct call *parent;
	size_t index;
};

struct airflow {
	struct event_base *base;
	struct http *http;
	const struct config_airflow *cfg;
	char *url; /* without a trailing slash */
	struct http_tls tls;
	enum airflow_api api;
	char *token_header;         /* "Authorization: Bearer ..." (Airflow 3) */
	char *basic_header;         /* Airflow 2 */
	struct http_request *probe; /* version probe or token fetch */
	bool probing_v1;
	struct call *waiting; /* calls waiting for the probe or the token */
	struct call *calls;   /* every call not finished */
};

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

struct airflow *airflow_create(struct event_base *base, struct http *h,
                               const struct config_airflow *cfg)
{
	struct airflow *a = xcalloc(1, sizeof(*a));
	a->base = base;
	a->http = h;
	a->cfg = cfg;
	a->url = xstrdup(cfg->url ? cfg->url : "");
	size_t n = strlen(a->url);
	while (n > 0 && a->url[n - 1] == '/') {
		a->url[--n] = '\0';
	}
	a->tls.ca_file = cfg->tls.ca_file;
	a->tls.fingerprint = cfg->tls.fingerprint;
	a->tls.insecure = cfg->tls.insecure;
	return a;
}

static void call_free(struct call *c)
{
	struct airflow *a = c->a;
	if (c->prev) {
		c->prev->next = c->next;
	} else if (a->calls == c) {
		a->calls = c->next;
	}
	if (c->next) {
		c->next->prev = c->prev;
	}
	http_cancel(c->req);
	airflow_dags_finish(&c->dags);
	free(c->method);
	free(c->path);
	free(c->body);
	free(c->what);
	free(c->conf);
	free(c);
}

void airflow_destroy(struct airflow *a)
{
	if (!a) {
		return;
	}
	http_cancel(a->probe);
	while (a->calls) {
		call_free(a->calls);
	}
	wipe_free(a->token_header);
	wipe_free(a->basic_header);
	free(a->url);
	free(a);
}

enum airflow_api airflow_api_in_use(const struct airflow *a)
{
	return a->api;
}

static void call_fail(struct call *c, const struct err *e);
static void call_send(struct call *c);
static void call_start(struct call *c);

static void fail_waiting(struct airflow *a, const struct err *e)
{
	struct call *w = a->waiting;
	a->waiting = NULL;
	while (w) {
		struct call *next = w->next_wait;
		call_fail(w, e);
		w = next;
	}
}

static void flush_waiting(struct airflow *a)
{
	struct call *w = a->waiting;
	a->waiting = NULL;
	while (w) {
		struct call *next = w->next_wait;
		call_send(w);
		w = next;
	}
}

/* An answer that is not 2xx, said the Airflow way. */
static void answer_error(struct airflow *a, struct err *out, const struct http_response *resp,
                         const struct err *err, const char *what)
{
	if (!http_failed_with_status(resp)) {
		*out = *err;
		return;
	}
	char detail[400];
	airflow_error_detail(resp->body, resp->len, detail, sizeof(detail));
	if (!detail[0]) {
		snprintf(detail, sizeof(detail), "%s", resp->reason ? resp->reason : "error");
	}
	long st = resp->status;
	if (st == 401) {
		err_set(out, ERR_AUTH, st,
		        "airflow: 401 %s: the username and password of [airflow] were refused (%s)",
		        detail, what);
	} else if (st == 403) {
		err_set(out, ERR_AUTH, st, "airflow: 403 %s: user '%s' may not do this (%s)",
		        detail, a->cfg->username ? a->cfg->username : "", what);
	} else {
		http_status_error(out, "airflow", st, detail);
		size_t n = strlen(out->msg);
		snprintf(out->msg + n, sizeof(out->msg) - n, " (%s)", what);
	}
	http_append_retry_after(out, resp);
}

static struct http_request *start(struct airflow *a, const char *method, const char *url,
                                  const char *auth, const char *body, http_done_fn done, void *ud)
{
	const char *headers[4] = {"Accept: application/json", NULL, NULL, NULL};
	int nh = 1;
	if (auth) {
		headers[nh++] = auth;
	}
	if (body) {
		headers[nh++] = "Content-Type: application/json";
	}
	struct http_request_opts o = {
	        .backend = "airflow",
	        .method = method,
	        .url = url,
	        .headers = headers,
	        .body = body,
	        .body_len = body ? strlen(body) : 0,
	        .tls = &a->tls,
	        .max_body = 8u << 20, /* a page of 100 DAGs or runs is well under 1 MiB */
	        .max_retries = -1,
	        .on_done = done,
	        .ud = ud,
	};
	return http_start(a->http, &o);
}

static void on_token(void *ud, struct http_response *resp, const struct err *err)
{
	struct airflow *a = ud;
	a->probe = NULL;
	struct err e;
	err_clear(&e);
	char *token = NULL;
	if (err) {
		answer_error(a, &e, resp, err, "POST /auth/token");
	} else if (airflow_parse_token(resp->body, resp->len, &token, &e)) {
		wipe_free(a->token_header);
		err_secret_add(token);
		a->token_header = xasprintf("Authorization: Bearer %s", token);
		wipe_free(token);
		flush_waiting(a);
		return;
	}
	fail_waiting(a, &e);
}

static void fetch_token(struct airflow *a)
{
	if (a->probe) {
		return; /* already on its way */
	}
	json_t *cred = json_pack("{s:s, s:s}", "username", a->cfg->username ? a->cfg->username : "",
	                         "password", a->cfg->password ? a->cfg->password : "");
	char *body = json_dumps(cred, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(cred);
	char *url = xasprintf("%s/auth/token", a->url);
	a->probe = start(a, "POST", url, NULL, body, on_token, a);
	free(url);
	wipe_free(body);
}

static void on_probe(void *ud, struct http_response *resp, const struct err *err)
{
	struct airflow *a = ud;
	a->probe = NULL;
	struct err e;
	err_clear(&e);
	int major = 0;
	if (!err && airflow_parse_version(resp->body, resp->len, &major, &e)) {
		int want = a->probing_v1 ? 2 : 3;
		if (major == want || (!a->probing_v1 && major > 3)) {
			a->api = a->probing_v1 ? AIRFLOW_API_V1 : AIRFLOW_API_V2;
			if (a->api == AIRFLOW_API_V1) {
				a->basic_header =
				        airflow_basic_header(a->cfg->username, a->cfg->password);
				flush_waiting(a);
			} else {
				fetch_token(a);
			}
			return;
		}
		err_set(&e, ERR_MALFORMED, 0, "airflow: /api/%s/version says Airflow %d",
		        a->probing_v1 ? "v1" : "v2", major);
	} else if (err && http_failed_with_status(resp) && !a->probing_v1) {
		/* not Airflow 3: try Airflow 2's API */
		a->probing_v1 = true;
		char *url = xasprintf("%s/api/v1/version", a->url);
		a->probe = start(a, NULL, url, NULL, NULL, on_probe, a);
		free(url);
		return;
	} else if (err && http_failed_with_status(resp) &&
	           (resp->status == 401 || resp->status == 403)) {
		err_set(&e, ERR_AUTH, resp->status,
		        "airflow: %ld %s: the server refused the request: check username and "
		        "password in [airflow] and that the user may read DAGs",
		        resp->status, resp->reason ? resp->reason : "");
	} else if (err && http_failed_with_status(resp) &&
	           (resp->status == 429 || resp->status >= 500)) {
		e = *err; /* a server that is there but failing: its own status says what */
	} else if (err && http_failed_with_status(resp)) {
		err_set(&e, ERR_MALFORMED, resp->status,
		        "airflow: %s is not an Airflow API (neither /api/v2/version nor "
		        "/api/v1/version answered: %ld)",
		        a->url, resp->status);
	} else if (err) {
		e = *err;
	}
	fail_waiting(a, &e);
}

static void call_start(struct call *c)
{
	struct airflow *a = c->a;
	if (a->api == AIRFLOW_API_UNKNOWN || (a->api == AIRFLOW_API_V2 && !a->token_header)) {
		c->next_wait = a->waiting;
		a->waiting = c;
		if (a->api == AIRFLOW_API_UNKNOWN && !a->probe) {
			a->probing_v1 = false;
			char *url = xasprintf("%s/api/v2/version", a->url);
			a->probe = start(a, NULL, url, NULL, NULL, on_probe, a);
			free(url);
		} else if (a->api == AIRFLOW_API_V2) {
			fetch_token(a);
		}
		return;
	}
	call_send(c);
}

static void on_call(void *ud, struct http_response *resp, const struct err *err);

static void call_send(struct call *c)
{
	struct airflow *a = c->a;
	const char *prefix = a->api == AIRFLOW_API_V2 ? "/api/v2" : "/api/v1";
	if (c->kind == C_RUN && c->method && !c->body) {
		struct err e;
		err_clear(&e);
		c->body = airflow_trigger_body(a->api, c->conf, &e);
		if (!c->body) {
			call_fail(c, &e);
			return;
		}
	}
	char *url = xasprintf("%s%s%s%s", a->url, prefix, c->path,
	                      c->pause_patch && a->api == AIRFLOW_API_V1 ? "?update_mask=is_paused"
	                                                                 : "");
	c->req = start(a, c->method, url,
	               a->api == AIRFLOW_API_V2 ? a->token_header : a->basic_header, c->body,
	               on_call, c);
	free(url);
}

static void dags_complete(struct call *p)
{
	if (p->failed) {
		p->dags_cb(p->ud, NULL, &p->first_err);
	} else {
		p->dags_cb(p->ud, &p->dags, NULL);
	}
	call_free(p);
}

static void call_fail(struct call *c, const struct err *e)
{
	switch (c->kind) {
	case C_DAGS:
		c->dags_cb(c->ud, NULL, e);
		break;
	case C_LAST: {
		struct call *p = c->parent;
		if (!p->failed) {
			p->failed = true;
			p->first_err = *e;
		}
		call_free(c);
		if (--p->pending == 0) {
			dags_complete(p);
		}
		return;
	}
	case C_DAG:
		c->dag_cb(c->ud, NULL, e);
		break;
	case C_RUN:
		c->run_cb(c->ud, NULL, e);
		break;
	case C_TASKS:
		c->tasks_cb(c->ud, NULL, e);
		break;
	}
	call_free(c);
}

static struct call *call_new(struct airflow *a, enum call_kind kind, const char *method, char *path,
                             char *body, const char *what, void *ud)
{
	struct call *c = xcalloc(1, sizeof(*c));
	c->a = a;
	c->kind = kind;
	c->method = method ? xstrdup(method) : NULL;
	c->path = path;
	c->body = body;
	c->what = xstrdup(what);
	c->ud = ud;
	c->next = a->calls;
	if (a->calls) {
		a->calls->prev = c;
	}
	a->calls = c;
	return c;
}

static void on_call(void *ud, struct http_response *resp, const struct err *err)
{
	struct call *c = ud;
	struct airflow *a = c->a;
	c->req = NULL;
	struct err e;
	err_clear(&e);
	if (err && resp->status == 401 && a->api == AIRFLOW_API_V2 && !c->renewed) {
		/* the token expired: fetch a new one, then send this once more */
		c->renewed = true;
		wipe_free(a->token_header);
		a->token_header = NULL;
		call_start(c);
		return;
	}
	if (err) {
		answer_error(a, &e, resp, err, c->what);
		call_fail(c, &e);
		return;
	}
	switch (c->kind) {
	case C_DAGS: {
		if (!airflow_parse_dags(resp->body, resp->len, &c->dags, &e)) {
			call_fail(c, &e);
			return;
		}
		if (c->dags.len == 0) {
			dags_complete(c);
			return;
		}
		c->pending = c->dags.len;
		for (size_t i = 0; i < c->dags.len; i++) {
			char *id = url_escape(c->dags.items[i].dag_id);
			char *path = xasprintf("/dags/%s/dagRuns?limit=1&order_by=-start_date", id);
			char *what = xasprintf("the runs of DAG %s", c->dags.items[i].dag_id);
			struct call *s = call_new(a, C_LAST, NULL, path, NULL, what, NULL);
			s->parent = c;
			s->index = i;
			free(what);
			free(id);
			call_send(s);
		}
		return;
	}
	case C_LAST: {
		struct call *p = c->parent;
		struct airflow_dag *d = &p->dags.items[c->index];
		if (!airflow_parse_last_run(resp->body, resp->len, &d->last_run_state,
		                            &d->last_run_id, &d->last_run_start, &e)) {
			call_fail(c, &e);
			return;
		}
		call_free(c);
		if (--p->pending == 0) {
			dags_complete(p);
		}
		return;
	}
	case C_DAG: {
		struct airflow_dag d;
		if (!airflow_parse_dag(resp->body, resp->len, &d, &e)) {
			call_fail(c, &e);
			return;
		}
		c->dag_cb(c->ud, &d, NULL);
		airflow_dag_finish(&d);
		break;
	}
	case C_RUN: {
		struct airflow_run r;
		if (!airflow_parse_run(resp->body, resp->len, &r, &e)) {
			call_fail(c, &e);
			return;
		}
		c->run_cb(c->ud, &r, NULL);
		airflow_run_finish(&r);
		break;
	}
	case C_TASKS: {
		struct airflow_tasks t;
		if (!airflow_parse_tasks(resp->body, resp->len, &t, &e)) {
			call_fail(c, &e);
			return;
		}
		c->tasks_cb(c->ud, &t, NULL);
		airflow_tasks_finish(&t);
		break;
	}
	}
	call_free(c);
}

void airflow_list_dags(struct airflow *a, airflow_dags_fn cb, void *ud)
{
	struct call *c =
	        call_new(a, C_DAGS, NULL, xstrdup("/dags?limit=100"), NULL, "list DAGs", ud);
	c->dags_cb = cb;
	call_start(c);
}

static char *dag_path(const char *dag_id, const char *run_id, const char *tail)
{
	char *d = url_escape(dag_id);
	char *r = run_id ? url_escape(run_id) : NULL;
	char *p = r ? xasprintf("/dags/%s/dagRuns/%s%s", d, r, tail)
	            : xasprintf("/dags/%s%s", d, tail);
	free(d);
	free(r);
	return p;
}

void airflow_get_dag(struct airflow *a, const char *dag_id, airflow_dag_fn cb, void *ud)
{
	char *what = xasprintf("DAG %s", dag_id);
	struct call *c = call_new(a, C_DAG, NULL, dag_path(dag_id, NULL, ""), NULL, what, ud);
	free(what);
	c->dag_cb = cb;
	call_start(c);
}

void airflow_trigger(struct airflow *a, const char *dag_id, const char *conf_json,
                     airflow_run_fn cb, void *ud)
{
	char *what = xasprintf("trigger DAG %s", dag_id);
	struct call *c =
	        call_new(a, C_RUN, "POST", dag_path(dag_id, NULL, "/dagRuns"), NULL, what, ud);
	free(what);
	c->run_cb = cb;
	/* The body depends on the API, known once the probe has answered: built when sent. */
	c->conf = conf_json ? xstrdup(conf_json) : NULL;
	c->body = NULL;
	call_start(c);
}

void airflow_set_paused(struct airflow *a, const char *dag_id, bool paused, airflow_dag_fn cb,
                        void *ud)
{
	char *what = xasprintf("%s DAG %s", paused ? "pause" : "unpause", dag_id);
	struct call *c = call_new(
	        a, C_DAG, "PATCH", dag_path(dag_id, NULL, ""),
	        xstrdup(paused ? "{\"is_paused\":true}" : "{\"is_paused\":false}"), what, ud);
	free(what);
	c->dag_cb = cb;
	c->pause_patch = true;
	call_start(c);
}

void airflow_get_run(struct airflow *a, const char *dag_id, const char *run_id, airflow_run_fn cb,
                     void *ud)
{
	char *what = xasprintf("run %s of DAG %s", run_id, dag_id);
	struct call *c = call_new(a, C_RUN, NULL, dag_path(dag_id, run_id, ""), NULL, what, ud);
	free(what);
	c->run_cb = cb;
	call_start(c);
}

void airflow_get_tasks(struct airflow *a, const char *dag_id, const char *run_id,
                       airflow_tasks_fn cb, void *ud)
{
	char *what = xasprintf("the tasks of run %s", run_id);
	struct call *c = call_new(a, C_TASKS, NULL, dag_path(dag_id, run_id, "/taskInstances"),
	                          NULL, what, ud);
	free(what);
	c->tasks_cb = cb;
	call_start(c);
}
