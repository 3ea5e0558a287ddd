/* github.c: see github.h. */
#include "github.h"

#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_util.h"
#include "util.h"

#define RATE_WAIT_MAX_S 60.0

struct github_call;

struct github {
	struct http *http;
	struct event_base *base;
	const struct config_github *cfg;
	char *auth_header;
	struct http_tls tls;
	struct github_call *calls; /* in flight, for destroy */
	int pending;
};

struct github_call {
	struct github *g;
	struct github_call *next, *prev;
	char *method, *url, *body, *what, *ref;
	github_done_fn done;
	void *ud;
	struct http_request *req;
	struct event *timer;
	int rate_waits;
};

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* --- parsers --- */

void github_workflow_list_finish(struct github_workflow_list *l)
{
	for (size_t i = 0; i < l->len; i++) {
		free(l->items[i].name);
		free(l->items[i].path);
		free(l->items[i].state);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

void github_run_finish(struct github_run *r)
{
	free(r->name);
	free(r->status);
	free(r->conclusion);
	free(r->head_branch);
	free(r->event);
	free(r->path);
	free(r->html_url);
	free(r->created_at);
	memset(r, 0, sizeof(*r));
}

void github_run_list_finish(struct github_run_list *l)
{
	for (size_t i = 0; i < l->len; i++) {
		github_run_finish(&l->items[i]);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

void github_job_list_finish(struct github_job_list *l)
{
	for (size_t i = 0; i < l->len; i++) {
		struct github_job *j = &l->items[i];
		for (size_t k = 0; k < j->n_steps; k++) {
			free(j->steps[k].name);
			free(j->steps[k].status);
			free(j->steps[k].conclusion);
		}
		free(j->steps);
		free(j->name);
		free(j->status);
		free(j->conclusion);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

static json_t *load(const char *body, size_t len, struct err *err)
{
	char eb[160];
	json_t *root = json_load_body(body, len, eb, sizeof(eb));
	if (!root) {
		err_set(err, ERR_MALFORMED, 0, "not JSON: %s", eb);
	}
	return root;
}

bool github_parse_workflows(const char *body, size_t len, struct github_workflow_list *out,
                            struct err *err)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load(body, len, err);
	if (!root) {
		return false;
	}
	json_t *arr = json_object_get(root, "workflows");
	if (!json_is_array(arr)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "no workflows list");
	}
	size_t n = json_array_size(arr);
	out->items = xcalloc(n ? n : 1, sizeof(*out->items));
	for (size_t i = 0; i < n; i++) {
		json_t *w = json_array_get(arr, i);
		int64_t id = 0;
		const char *path = json_str(w, "path");
		if (!json_int(w, "id", &id) || !path) {
			github_workflow_list_finish(out);
			json_decref(root);
			return err_set(err, ERR_MALFORMED, 0, "a workflow without id or path");
		}
		struct github_workflow *o = &out->items[out->len++];
		o->id = id;
		o->path = xstrdup(path);
		o->name = xstrdup(json_str(w, "name") ? json_str(w, "name") : path);
		o->state = dup_or_null(json_str(w, "state"));
	}
	json_decref(root);
	return true;
}

static bool run_from_json(const json_t *o, struct github_run *r, struct err *err)
{
	memset(r, 0, sizeof(*r));
	if (!json_is_object(o) || !json_int(o, "id", &r->id) || !json_str(o, "status")) {
		return err_set(err, ERR_MALFORMED, 0, "a workflow run without id or status");
	}
	json_int(o, "workflow_id", &r->workflow_id);
	r->name = dup_or_null(json_str(o, "name"));
	r->status = xstrdup(json_str(o, "status"));
	r->conclusion = dup_or_null(json_str(o, "conclusion"));
	r->head_branch = dup_or_null(json_str(o, "head_branch"));
	r->event = dup_or_null(json_str(o, "event"));
	r->path = dup_or_null(json_str(o, "path"));
	r->html_url = dup_or_null(json_str(o, "html_url"));
	r->created_at = dup_or_null(json_str(o, "created_at"));
	if (!r->created_at || !rfc3339_parse(r->created_at, &r->created)) {
		r->created = 0;
	}
	return true;
}

bool github_parse_run(const char *body, size_t len, struct github_run *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load(body, len, err);
	if (!root) {
		return false;
	}
	bool ok = run_from_json(root, out, err);
	if (!ok) {
		github_run_finish(out);
	}
	json_decref(root);
	return ok;
}

bool github_parse_runs(const char *body, size_t len, struct github_run_list *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load(body, len, err);
	if (!root) {
		return false;
	}
	json_t *arr = json_object_get(root, "workflow_runs");
	if (!json_is_array(arr)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "no workflow_runs list");
	}
	size_t n = json_array_size(arr);
	out->items = xcalloc(n ? n : 1, sizeof(*out->items));
	for (size_t i = 0; i < n; i++) {
		if (!run_from_json(json_array_get(arr, i), &out->items[out->len], err)) {
			github_run_finish(&out->items[out->len]);
			github_run_list_finish(out);
			json_decref(root);
			return false;
		}
		out->len++;
	}
	json_decref(root);
	return true;
}

bool github_parse_jobs(const char *body, size_t len, struct github_job_list *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load(body, len, err);
	if (!root) {
		return false;
	}
	json_t *arr = json_object_get(root, "jobs");
	if (!json_is_array(arr)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "no jobs list");
	}
	size_t n = json_array_size(arr);
	out->items = xcalloc(n ? n : 1, sizeof(*out->items));
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_array_get(arr, i);
		struct github_job *o = &out->items[out->len];
		if (!json_int(j, "id", &o->id) || !json_str(j, "status")) {
			github_job_list_finish(out);
			json_decref(root);
			return err_set(err, ERR_MALFORMED, 0, "a job without id or status");
		}
		out->len++;
		o->name = xstrdup(json_str(j, "name") ? json_str(j, "name") : "?");
		o->status = xstrdup(json_str(j, "status"));
		o->conclusion = dup_or_null(json_str(j, "conclusion"));
		json_t *steps = json_object_get(j, "steps");
		size_t ns = json_is_array(steps) ? json_array_size(steps) : 0;
		o->steps = xcalloc(ns ? ns : 1, sizeof(*o->steps));
		for (size_t k = 0; k < ns; k++) {
			json_t *s = json_array_get(steps, k);
			struct github_step *st = &o->steps[o->n_steps++];
			int64_t num = (int64_t)k + 1;
			json_int(s, "number", &num);
			st->number = (int)num;
			st->name = xstrdup(json_str(s, "name") ? json_str(s, "name") : "?");
			st->status = xstrdup(json_str(s, "status") ? json_str(s, "status") : "?");
			st->conclusion = dup_or_null(json_str(s, "conclusion"));
		}
	}
	json_decref(root);
	return true;
}

bool github_parse_dispatch(const char *body, size_t len, int64_t *run_id, struct err *err)
{
	*run_id = 0;
	size_t i = 0;
	while (i < len &&
	       (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t')) {
		i++;
	}
	if (i == len) {
		return true; /* 204 No Content */
	}
	json_t *root = load(body, len, err);
	if (!root) {
		return false;
	}
	bool ok = json_is_object(root);
	if (ok) {
		json_int(root, "workflow_run_id", run_id);
	}
	json_decref(root);
	return ok ? true
	          : err_set(err, ERR_MALFORMED, 0, "a dispatch answer that is not an object");
}

char *github_error_text(const char *body, size_t len)
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
	char *out = m && *m ? xstrdup(m) : NULL;
	json_decref(root);
	return out;
}

char *github_dispatch_body(const char *ref, const char *const *keys, const char *const *values,
                           size_t n)
{
	json_t *o = json_object();
	json_object_set_new(o, "ref", json_string(ref));
	json_t *in = json_object();
	for (size_t i = 0; i < n; i++) {
		json_object_set_new(in, keys[i], json_string(values[i]));
	}
	json_object_set_new(o, "inputs", in);
	json_object_set_new(o, "return_run_details", json_true());
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	char *out = xstrdup(s);
	free(s);
	return out;
}

/* next_word splits one shell-like word off *p into a heap string; NULL at the end of the line,
 * or (with *bad set) at an unterminated quote. */
static char *next_word(const char **p, bool *bad)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t') {
		s++;
	}
	if (!*s) {
		*p = s;
		return NULL;
	}
	struct buf w;
	buf_init(&w);
	char quote = 0;
	for (; *s; s++) {
		if (quote == '\'') {
			if (*s == '\'') {
				quote = 0;
			} else {
				buf_append(&w, s, 1);
			}
		} else if (*s == '\\' && s[1] && quote != '\'') {
			s++;
			buf_append(&w, s, 1);
		} else if (quote == '"') {
			if (*s == '"') {
				quote = 0;
			} else {
				buf_append(&w, s, 1);
			}
		} else if (*s == '\'' || *s == '"') {
			quote = *s;
		} else if (*s == ' ' || *s == '\t') {
			break;
		} else {
			buf_append(&w, s, 1);
		}
	}
	*p = s;
	if (quote) {
		*bad = true;
		buf_finish(&w);
		return NULL;
	}
	buf_append(&w, "", 1); /* the NUL */
	return w.data;
}

static void run_request_input(struct github_run_request *r, const char *kv, const char *eq)
{
	char *key = xstrndup(kv, (size_t)(eq - kv));
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->keys[i], key) == 0) {
			free(key);
			free(r->values[i]);
			r->values[i] = xstrdup(eq + 1);
			return;
		}
	}
	r->keys = xrealloc(r->keys, (r->n + 1) * sizeof(*r->keys));
	r->values = xrealloc(r->values, (r->n + 1) * sizeof(*r->values));
	r->keys[r->n] = key;
	r->values[r->n++] = xstrdup(eq + 1);
}

bool github_parse_run_line(const char *line, const char *default_ref,
                           struct github_run_request *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	out->ref = xstrdup(default_ref);
	bool bad = false, ok = true;
	const char *p = line;
	char *w;
	enum { WANT_ANY, WANT_REF, WANT_INPUT } want = WANT_ANY;
	while (ok && (w = next_word(&p, &bad))) {
		const char *kv = w;
		if (want == WANT_REF || str_has_prefix(w, "--ref=")) {
			const char *ref = want == WANT_REF ? w : w + 6;
			if (!*ref) {
				ok = err_set(err, ERR_USAGE, 0, "--ref wants a branch or tag name");
			} else {
				free(out->ref);
				out->ref = xstrdup(ref);
			}
			want = WANT_ANY;
			free(w);
			continue;
		}
		if (want == WANT_ANY && strcmp(w, "--ref") == 0) {
			want = WANT_REF;
			free(w);
			continue;
		}
		if (want == WANT_ANY && strcmp(w, "--input") == 0) {
			want = WANT_INPUT;
			free(w);
			continue;
		}
		if (want == WANT_ANY && str_has_prefix(w, "--input=")) {
			kv = w + 8;
		}
		const char *eq = strchr(kv, '=');
		if (!eq || eq == kv) {
			ok = err_set(
			        err, ERR_USAGE, 0,
			        "'%s' is not an input: give KEY=VALUE (quote a value with spaces) "
			        "or --ref REF",
			        w);
		} else {
			run_request_input(out, kv, eq);
		}
		want = WANT_ANY;
		free(w);
	}
	if (ok && bad) {
		ok = err_set(err, ERR_USAGE, 0, "a quote is not closed: %s", line);
	} else if (ok && want != WANT_ANY) {
		ok = err_set(err, ERR_USAGE, 0, "%s wants a value after it",
		             want == WANT_REF ? "--ref" : "--input");
	}
	return ok;
}

void github_run_request_finish(struct github_run_request *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->keys[i]);
		free(r->values[i]);
	}
	free(r->keys);
	free(r->values);
	free(r->ref);
	memset(r, 0, sizeof(*r));
}

static bool run_is_workflow(const struct github_run *r, const char *workflow)
{
	char *end;
	long long id = strtoll(workflow, &end, 10);
	if (*workflow && !*end) {
		return r->workflow_id == id;
	}
	if (!r->path) {
		return false;
	}
	const char *base = strrchr(r->path, '/');
	base = base ? base + 1 : r->path;
	const char *wbase = strrchr(workflow, '/');
	wbase = wbase ? wbase + 1 : workflow;
	return strcmp(base, wbase) == 0;
}

long github_pick_run(const struct github_run_list *runs, const char *workflow, const char *ref,
                     double since, const int64_t *skip, size_t n_skip)
{
	long best = -1;
	double from = floor(since);
	for (size_t i = 0; i < runs->len; i++) {
		const struct github_run *r = &runs->items[i];
		bool skipped = false;
		for (size_t k = 0; k < n_skip; k++) {
			skipped = skipped || skip[k] == r->id;
		}
		if (skipped || (r->event && strcmp(r->event, "workflow_dispatch") != 0) ||
		    (ref && r->head_branch && strcmp(r->head_branch, ref) != 0) ||
		    !run_is_workflow(r, workflow) || r->created < from) {
			continue;
		}
		if (best < 0 || r->created < runs->items[best].created ||
		    (r->created == runs->items[best].created && r->id < runs->items[best].id)) {
			best = (long)i;
		}
	}
	return best;
}

bool github_run_done(const struct github_run *r)
{
	return r->status && strcmp(r->status, "completed") == 0;
}

bool github_run_ok(const struct github_run *r)
{
	return github_run_done(r) && r->conclusion &&
	       (strcmp(r->conclusion, "success") == 0 || strcmp(r->conclusion, "neutral") == 0 ||
	        strcmp(r->conclusion, "skipped") == 0);
}

bool github_is_rate_limited(long status, const char *message)
{
	if (status == 429) {
		return true;
	}
	return status == 403 && message &&
	       (strcasestr(message, "rate limit") || strcasestr(message, "abuse detection"));
}

/* rate_exhausted: a 403/429 whose X-RateLimit-Remaining is 0 and that says when the limit
 * resets (GitHub's primary rate limit, which sends no Retry-After). */
static bool github_rate_exhausted(const struct http_response *resp)
{
	return (resp->status == 403 || resp->status == 429) && resp->ratelimit_remaining == 0 &&
	       resp->ratelimit_reset >= 0;
}

/* rate_wait: seconds to wait before asking again after a rate-limited answer at now (epoch
 * seconds): its Retry-After, else until X-RateLimit-Reset plus one second (the header has whole
 * seconds; at least 1 s); -1 when the answer says neither. */
static double github_rate_wait(const struct http_response *resp, double now)
{
	if (resp->retry_after >= 0) {
		return resp->retry_after;
	}
	if (!github_rate_exhausted(resp)) {
		return -1;
	}
	/* X-RateLimit-Reset has whole seconds: one more makes sure the window has turned. */
	double s = resp->ratelimit_reset - now + 1;
	return s < 1 ? 1 : s;
}

/* reset_text: when the limit resets, as a person reads it: "at 14:03:12 (in 42 s)" (local
 * time; minutes, rounded up, from 2 min on). */
static void github_reset_text(double reset, double now, char *out, size_t size)
{
	time_t t = (time_t)reset;
	struct tm tm;
	localtime_r(&t, &tm);
	char clock[16];
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	double in = reset - now;
	if (in < 0) {
		in = 0;
	}
	if (in < 120) {
		snprintf(out, size, "at %s (in %.0f s)", clock, in);
	} else {
		snprintf(out, size, "at %s (in %.0f min)", clock, ceil(in / 60));
	}
}

void github_error_from_response(struct err *out, const struct http_response *resp,
                                const struct err *err, const char *what, const char *ref)
{
	if (!http_failed_with_status(resp)) {
		*out = *err;
		if (!str_has_prefix(out->msg, "github")) {
			char msg[sizeof(out->msg)];
			snprintf(msg, sizeof(msg), "github: %s: %s", what, out->msg);
			memcpy(out->msg, msg, sizeof(msg));
		}
		return;
	}
	long status = resp->status;
	char *detail = github_error_text(resp->body, resp->len);
	const char *reason = detail ? detail : (resp->reason ? resp->reason : "error");
	if (status == 401) {
		err_set(out, ERR_AUTH, status,
		        "github: %s: 401 %s: the token in [github] was refused (a fine-grained "
		        "token "
		        "needs Actions read/write)",
		        what, reason);
	} else if (github_is_rate_limited(status, reason)) {
		err_set(out, ERR_RATE_LIMIT, status, "github: %s: %ld %s", what, status, reason);
	} else if (status == 403) {
		err_set(out, ERR_AUTH, status, "github: %s: 403 %s", what, reason);
	} else if (status == 404) {
		err_set(out, ERR_NOT_FOUND, status,
		        "github: %s: 404 %s (no such workflow or repository, or the token cannot "
		        "see "
		        "it)",
		        what, reason);
	} else if (status == 422 && strstr(reason, "workflow_dispatch")) {
		err_set(out, ERR_REJECTED, status,
		        "github: %s: 422 %s: it cannot be dispatched on %s (often the workflow "
		        "file "
		        "is not on that ref, or it has no 'on: workflow_dispatch')",
		        what, reason, ref ? ref : "that ref");
	} else {
		http_status_error(out, "github", status, reason);
		size_t n = strlen(out->msg);
		snprintf(out->msg + n, sizeof(out->msg) - n, " (%s)", what);
	}
	if (resp->retry_after >= 0 && github_is_rate_limited(status, reason)) {
		size_t n = strlen(out->msg);
		snprintf(out->msg + n, sizeof(out->msg) - n, "; retry after %.0f s",
		         resp->retry_after);
	} else if (github_rate_exhausted(resp)) {
		char when[80];
		github_reset_text(resp->ratelimit_reset, now_wall(), when, sizeof(when));
		size_t n = strlen(out->msg);
		snprintf(out->msg + n, sizeof(out->msg) - n, "; the rate limit resets %s", when);
	}
	free(detail);
}

/* --- the client --- */

struct github *github_create(struct http *h, struct event_base *base,
                             const struct config_github *cfg)
{
	struct github *g = xcalloc(1, sizeof(*g));
	g->http = h;
	g->base = base;
	g->cfg = cfg;
	if (cfg->token) {
		g->auth_header = xasprintf("Authorization: Bearer %s", cfg->token);
	}
	g->tls.ca_file = cfg->tls.ca_file;
	g->tls.fingerprint = cfg->tls.fingerprint;
	g->tls.insecure = cfg->tls.insecure;
	return g;
}

static void call_free(struct github_call *c)
{
	struct github *g = c->g;
	if (c->prev) {
		c->prev->next = c->next;
	} else {
		g->calls = c->next;
	}
	if (c->next) {
		c->next->prev = c->prev;
	}
	g->pending--;
	if (c->timer) {
		event_free(c->timer);
	}
	free(c->method);
	free(c->url);
	free(c->body);
	free(c->what);
	free(c->ref);
	free(c);
}

void github_destroy(struct github *g)
{
	if (!g) {
		return;
	}
	while (g->calls) {
		if (g->calls->req) {
			http_cancel(g->calls->req);
		}
		call_free(g->calls);
	}
	if (g->auth_header) {
		explicit_bzero(g->auth_header, strlen(g->auth_header));
		free(g->auth_header);
	}
	free(g);
}

int github_pending(const struct github *g)
{
	return g->pending;
}

static void call_start(struct github_call *c);

static void on_timer(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	call_start(ud);
}

static void on_http_done(void *ud, struct http_response *resp, const struct err *err)
{
	struct github_call *c = ud;
	c->req = NULL;
	if (err) {
		char *detail = github_error_text(resp->body, resp->len);
		bool limited =
		        github_is_rate_limited(resp->status, detail) || github_rate_exhausted(resp);
		free(detail);
		bool is_get = strcmp(c->method, "GET") == 0;
		/* Retry-After when given, else (the primary limit) until X-RateLimit-Reset; a POST
		 * is never asked again. */
		double wait = limited ? github_rate_wait(resp, now_wall()) : -1;
		if (resp->retry_after >= 0 && resp->attempts > 1) {
			wait = -1; /* http.c already waited out this Retry-After (a 429 or 503) */
		}
		/* No longer than a request may take (--timeout), so a long wait is reported rather
		 * than sat out. */
		double max_wait = (double)http_default_timeout(c->g->http) / 1000.0;
		if (max_wait > RATE_WAIT_MAX_S) {
			max_wait = RATE_WAIT_MAX_S;
		}
		if (is_get && wait >= 0 && wait <= max_wait && c->rate_waits < 3) {
			c->rate_waits++;
			struct timeval tv = {(time_t)wait, (suseconds_t)(fmod(wait, 1.0) * 1e6)};
			if (!c->timer) {
				c->timer = evtimer_new(c->g->base, on_timer, c);
			}
			evtimer_add(c->timer, &tv);
			return;
		}
		struct err e;
		github_error_from_response(&e, resp, err, c->what, c->ref);
		c->done(c->ud, resp->body, resp->len, &e);
	} else {
		c->done(c->ud, resp->body, resp->len, NULL);
	}
	call_free(c);
}

static void call_start(struct github_call *c)
{
	const char *headers[6];
	size_t nh = 0;
	headers[nh++] = "Accept: application/vnd.github+json";
	headers[nh++] = "X-GitHub-Api-Version: 2022-11-28";
	headers[nh++] = "User-Agent: labdeck/" LABDECK_VERSION;
	if (c->body) {
		headers[nh++] = "Content-Type: application/json";
	}
	if (c->g->auth_header) {
		headers[nh++] = c->g->auth_header;
	}
	headers[nh] = NULL;
	bool changes = strcmp(c->method, "GET") != 0;
	struct http_request_opts o = {
	        .backend = "github",
	        .method = c->method,
	        .url = c->url,
	        .headers = headers,
	        .body = c->body,
	        .body_len = c->body ? strlen(c->body) : 0,
	        .tls = &c->g->tls,
	        .max_body = 8u << 20, /* 100 workflows or runs a page: well under 1 MiB */
	        .max_retries = changes ? 0 : -1,
	        .on_done = on_http_done,
	        .ud = c,
	};
	c->req = http_start(c->g->http, &o);
}

static void call(struct github *g, const char *method, char *url, const char *body, char *what,
                 const char *ref, github_done_fn done, void *ud)
{
	struct github_call *c = xcalloc(1, sizeof(*c));
	c->g = g;
	c->method = xstrdup(method);
	c->url = url;
	c->body = body ? xstrdup(body) : NULL;
	c->what = what;
	c->ref = ref ? xstrdup(ref) : NULL;
	c->done = done;
	c->ud = ud;
	c->next = g->calls;
	if (g->calls) {
		g->calls->prev = c;
	}
	g->calls = c;
	g->pending++;
	call_start(c);
}

static char *base_url(const struct github *g)
{
	const char *b = g->cfg->url ? g->cfg->url : "https://api.github.com";
	size_t n = strlen(b);
	return xstrndup(b, n && b[n - 1] == '/' ? n - 1 : n);
}

void github_get(struct github *g, const char *path, github_done_fn done, void *ud)
{
	char *b = base_url(g);
	char *url = xasprintf("%s/repos/%s%s", b, g->cfg->repo ? g->cfg->repo : "", path);
	free(b);
	call(g, "GET", url, NULL, xasprintf("GET %s", path), NULL, done, ud);
}

void github_dispatch(struct github *g, const char *workflow, const char *ref, const char *body,
                     github_done_fn done, void *ud)
{
	char *b = base_url(g);
	char *e = url_escape(workflow);
	char *url = xasprintf("%s/repos/%s/actions/workflows/%s/dispatches", b,
	                      g->cfg->repo ? g->cfg->repo : "", e);
	free(e);
	free(b);
	call(g, "POST", url, body, xasprintf("dispatch %s", workflow), ref, done, ud);
}
