/* k8s_detail.c: see k8s_detail.h. As in k8s_parse.c, a body that is not a Pod (or EventList)
 * fails as a whole; inside it every field is optional and type-checked. */
#include "k8s_detail.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_util.h"
#include "k8s_parse.h"
#include "util.h"

#define MAX_DETAIL_BODY ((size_t)16 << 20)

/* ---- helpers ---- */

static const char *nonempty(const json_t *obj, const char *key)
{
	const char *s = json_str(obj, key);
	return s && *s ? s : NULL;
}

static char *dup_nonempty(const json_t *obj, const char *key)
{
	const char *s = nonempty(obj, key);
	return s ? xstrdup(s) : NULL;
}

static double time_at(const json_t *obj, const char *key)
{
	double t;
	return rfc3339_parse(json_str(obj, key), &t) ? t : NAN;
}

static void time_text(double t, char *out, size_t size)
{
	time_t secs = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&secs, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		snprintf(out, size, "?");
	}
}

/* load: body as a JSON object that is not a Status (whose message is then the error). */
static json_t *load(const char *what, const char *body, size_t len, struct err *err)
{
	char jerr[160];
	json_t *root = json_load_body(body, len, jerr, sizeof(jerr));
	if (!root) {
		err_set(err, ERR_MALFORMED, 0, "%s: not JSON (%s)", what, jerr);
		return NULL;
	}
	if (!json_is_object(root)) {
		err_set(err, ERR_MALFORMED, 0, "%s: not a JSON object", what);
	} else if (str_eq(json_str(root, "kind"), "Status")) {
		const char *msg = json_str(root, "message");
		err_set(err, ERR_MALFORMED, 0, "%s: got a Status: %.300s", what,
		        msg ? msg : "(no message)");
	} else {
		return root;
	}
	json_decref(root);
	return NULL;
}

/* ---- the pod ---- */

static void state_text(struct pod_container_state *s)
{
	char when[40];
	switch (s->kind) {
	case POD_STATE_NONE:
		s->text = NULL;
		return;
	case POD_STATE_RUNNING:
		if (isnan(s->started)) {
			s->text = xstrdup("running");
		} else {
			time_text(s->started, when, sizeof(when));
			s->text = xasprintf("running since %s", when);
		}
		return;
	case POD_STATE_WAITING:
		s->text = s->reason ? xasprintf("waiting: %s", s->reason) : xstrdup("waiting");
		return;
	case POD_STATE_TERMINATED:
		break;
	}
	struct buf b;
	buf_init(&b);
	buf_appendf(&b, "terminated");
	if (s->reason) {
		buf_appendf(&b, ": %s", s->reason);
	}
	if (s->exit_code >= 0) {
		buf_appendf(&b, " (exit %" PRId64, s->exit_code);
		if (s->signal > 0) {
			buf_appendf(&b, ", signal %" PRId64, s->signal);
		}
		buf_appendf(&b, ")");
	} else if (s->signal > 0) {
		buf_appendf(&b, " (signal %" PRId64 ")", s->signal);
	}
	s->text = buf_steal(&b);
}

static void parse_state(const json_t *st, struct pod_container_state *out)
{
	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	out->started = out->finished = NAN;
	json_t *running = json_object_get(st, "running");
	json_t *waiting = json_object_get(st, "waiting");
	json_t *term = json_object_get(st, "terminated");
	if (json_is_object(running)) {
		out->kind = POD_STATE_RUNNING;
		out->started = time_at(running, "startedAt");
	} else if (json_is_object(waiting)) {
		out->kind = POD_STATE_WAITING;
		out->reason = dup_nonempty(waiting, "reason");
		out->message = dup_nonempty(waiting, "message");
	} else if (json_is_object(term)) {
		out->kind = POD_STATE_TERMINATED;
		out->reason = dup_nonempty(term, "reason");
		out->message = dup_nonempty(term, "message");
		int64_t v;
		if (json_int(term, "exitCode", &v)) {
			out->exit_code = v;
		}
		if (json_int(term, "signal", &v) && v > 0) {
			out->signal = v;
		}
		out->started = time_at(term, "startedAt");
		out->finished = time_at(term, "finishedAt");
	}
	state_text(out);
}

static void state_finish(struct pod_container_state *s)
{
	free(s->reason);
	free(s->message);
	free(s->text);
}

static const json_t *status_named(const json_t *statuses, const char *name)
{
	size_t i;
	json_t *c;
	json_array_foreach (statuses, i, c) {
		if (name && str_eq(json_str(c, "name"), name)) {
			return c;
		}
	}
	return NULL;
}

static void parse_container(const json_t *spec_c, const json_t *st, bool init,
                            struct pod_container *out)
{
	const char *name = nonempty(spec_c, "name");
	if (!name) {
		name = nonempty(st, "name");
	}
	out->name = xstrdup(name ? name : "");
	const char *image = nonempty(spec_c, "image");
	if (!image) {
		image = nonempty(st, "image");
	}
	out->image = image ? xstrdup(image) : NULL;
	out->init = init;
	out->ready = json_is_true(json_object_get(st, "ready"));
	int64_t rc;
	out->restart_count = json_int(st, "restartCount", &rc) && rc >= 0 ? rc : -1;
	parse_state(json_object_get(st, "state"), &out->state);
	parse_state(json_object_get(st, "lastState"), &out->last_state);
}

/* add_containers appends the containers of spec[key] (with their statuses), or of the statuses
 * alone when the spec does not list them. */
static void add_containers(const json_t *spec, const json_t *status, const char *spec_key,
                           const char *status_key, bool init, struct pod_detail *out)
{
	json_t *specs = json_object_get(spec, spec_key);
	json_t *statuses = json_object_get(status, status_key);
	const json_t *list = json_array_size(specs) > 0 ? specs : statuses;
	size_t n = json_array_size(list);
	if (n == 0) {
		return;
	}
	out->containers =
	        xrealloc(out->containers, (out->n_containers + n) * sizeof(*out->containers));
	size_t i;
	json_t *c;
	json_array_foreach (list, i, c) {
		if (!json_is_object(c)) {
			continue;
		}
		struct pod_container *pc = &out->containers[out->n_containers++];
		memset(pc, 0, sizeof(*pc));
		const json_t *st = list == specs ? status_named(statuses, json_str(c, "name")) : c;
		parse_container(list == specs ? c : NULL, st, init, pc);
	}
}

static void parse_conditions(const json_t *status, struct pod_detail *out)
{
	json_t *conds = json_object_get(status, "conditions");
	size_t n = json_array_size(conds);
	if (n == 0) {
		return;
	}
	out->conditions = xcalloc(n, sizeof(*out->conditions));
	size_t i;
	json_t *c;
	json_array_foreach (conds, i, c) {
		const char *type = nonempty(c, "type");
		if (!type) {
			continue;
		}
		struct pod_condition *pc = &out->conditions[out->n_conditions++];
		pc->type = xstrdup(type);
		const char *st = nonempty(c, "status");
		pc->status = xstrdup(st ? st : "Unknown");
		pc->reason = dup_nonempty(c, "reason");
		pc->message = dup_nonempty(c, "message");
		pc->last_transition = time_at(c, "lastTransitionTime");
	}
}

bool k8s_parse_pod_detail(const char *body, size_t len, struct pod_detail *out, struct err *err)
{
	json_t *root = load("pod", body, len, err);
	if (!root) {
		return false;
	}
	const char *kind = json_str(root, "kind");
	if (kind && strcmp(kind, "Pod") != 0) {
		err_set(err, ERR_MALFORMED, 0, "pod: expected a Pod, got kind '%.80s'", kind);
		json_decref(root);
		return false;
	}
	/* The row as the pod list shows it, by the same derivation (a second, small parse). */
	if (!k8s_parse_pod(body, len, &out->row, err)) {
		json_decref(root);
		return false;
	}
	json_t *meta = json_object_get(root, "metadata");
	json_t *spec = json_object_get(root, "spec");
	json_t *status = json_object_get(root, "status");
	out->uid = dup_nonempty(meta, "uid");
	out->phase = dup_nonempty(status, "phase");
	out->reason = dup_nonempty(status, "reason");
	out->message = dup_nonempty(status, "message");
	out->host_ip = dup_nonempty(status, "hostIP");
	out->start_time = time_at(status, "startTime");
	out->qos = dup_nonempty(status, "qosClass");
	parse_conditions(status, out);
	add_containers(spec, status, "initContainers", "initContainerStatuses", true, out);
	add_containers(spec, status, "containers", "containerStatuses", false, out);
	json_decref(root);
	return true;
}

/* ---- events ---- */

static double event_last(const json_t *e)
{
	double t = time_at(e, "lastTimestamp");
	if (isnan(t)) {
		t = time_at(json_object_get(e, "series"), "lastObservedTime");
	}
	if (isnan(t)) {
		t = time_at(e, "eventTime");
	}
	if (isnan(t)) {
		t = time_at(e, "firstTimestamp");
	}
	if (isnan(t)) {
		t = time_at(json_object_get(e, "metadata"), "creationTimestamp");
	}
	return t;
}

/* event_source: kubectl's "From": component (source.component or reportingComponent), then
 * ", host" (source.host or reportingInstance) when there is one. */
static char *event_source(const json_t *e)
{
	json_t *src = json_object_get(e, "source");
	const char *comp = nonempty(src, "component");
	if (!comp) {
		comp = nonempty(e, "reportingComponent");
	}
	const char *host = nonempty(src, "host");
	if (!host) {
		host = nonempty(e, "reportingInstance");
	}
	if (comp && host) {
		return xasprintf("%s, %s", comp, host);
	}
	return comp ? xstrdup(comp) : host ? xstrdup(host) : NULL;
}

struct sortable_event {
	struct pod_event ev;
	size_t order;
};

static int event_cmp(const void *a, const void *b)
{
	const struct sortable_event *x = a, *y = b;
	double tx = x->ev.last_timestamp, ty = y->ev.last_timestamp;
	/* Unknown times first, then oldest first; ties keep the server's order. */
	bool nx = isnan(tx), ny = isnan(ty);
	if (nx != ny) {
		return nx ? -1 : 1;
	}
	if (!nx && tx != ty) {
		return tx < ty ? -1 : 1;
	}
	return x->order < y->order ? -1 : x->order > y->order;
}

bool k8s_parse_events(const char *body, size_t len, struct pod_event **events, size_t *n,
                      struct err *err)
{
	*events = NULL;
	*n = 0;
	json_t *root = load("event list", body, len, err);
	if (!root) {
		return false;
	}
	json_t *items = json_object_get(root, "items");
	if (!items || (!json_is_array(items) && !json_is_null(items))) {
		err_set(err, ERR_MALFORMED, 0, "event list: no items array");
		json_decref(root);
		return false;
	}
	size_t count = json_array_size(items);
	struct sortable_event *tmp = count ? xcalloc(count, sizeof(*tmp)) : NULL;
	size_t used = 0;
	size_t i;
	json_t *e;
	json_array_foreach (items, i, e) {
		if (!json_is_object(e)) {
			continue;
		}
		struct pod_event *pe = &tmp[used].ev;
		tmp[used].order = used;
		used++;
		const char *type = nonempty(e, "type");
		pe->type = xstrdup(type ? type : "Normal");
		const char *reason = nonempty(e, "reason");
		pe->reason = xstrdup(reason ? reason : "");
		pe->message = dup_nonempty(e, "message");
		int64_t c;
		if (json_int(e, "count", &c) && c > 0) {
			pe->count = c;
		} else if (json_int(json_object_get(e, "series"), "count", &c) && c > 0) {
			pe->count = c;
		} else {
			pe->count = 1;
		}
		pe->first_timestamp = time_at(e, "firstTimestamp");
		if (isnan(pe->first_timestamp)) {
			pe->first_timestamp = time_at(e, "eventTime");
		}
		pe->last_timestamp = event_last(e);
		pe->source = event_source(e);
		pe->involved_uid = dup_nonempty(json_object_get(e, "involvedObject"), "uid");
	}
	json_decref(root);
	if (used > 1) {
		qsort(tmp, used, sizeof(*tmp), event_cmp);
	}
	if (used > 0) {
		*events = xcalloc(used, sizeof(**events));
		for (size_t k = 0; k < used; k++) {
			(*events)[k] = tmp[k].ev;
		}
		*n = used;
	}
	free(tmp);
	return true;
}

static void event_finish(struct pod_event *e)
{
	free(e->type);
	free(e->reason);
	free(e->message);
	free(e->source);
	free(e->involved_uid);
}

void pod_events_free(struct pod_event *events, size_t n)
{
	for (size_t i = 0; events && i < n; i++) {
		event_finish(&events[i]);
	}
	free(events);
}

void pod_detail_finish(struct pod_detail *d)
{
	if (!d) {
		return;
	}
	pod_row_finish(&d->row);
	free(d->uid);
	free(d->phase);
	free(d->reason);
	free(d->message);
	free(d->host_ip);
	free(d->qos);
	for (size_t i = 0; i < d->n_conditions; i++) {
		free(d->conditions[i].type);
		free(d->conditions[i].status);
		free(d->conditions[i].reason);
		free(d->conditions[i].message);
	}
	free(d->conditions);
	for (size_t i = 0; i < d->n_containers; i++) {
		free(d->containers[i].name);
		free(d->containers[i].image);
		state_finish(&d->containers[i].state);
		state_finish(&d->containers[i].last_state);
	}
	free(d->containers);
	pod_events_free(d->events, d->n_events);
	memset(d, 0, sizeof(*d));
	d->row.restarts = -1;
	d->row.created = NAN;
	d->start_time = NAN;
}

void pod_detail_free(struct pod_detail *d)
{
	if (d) {
		pod_detail_finish(d);
		free(d);
	}
}

/* ---- fetching ---- */

struct k8s_detail {
	struct k8s_op *pod_op, *events_op;
	int pending;
	struct pod_detail *d;
	k8s_pod_detail_fn cb;
	void *ud;
};

static void detail_complete(struct k8s_detail *h)
{
	if (h->pending > 0) {
		return;
	}
	struct pod_detail *d = h->d;
	/* Events of an earlier pod that had the same name are not this pod's. */
	if (d->uid && d->n_events > 0) {
		size_t w = 0;
		for (size_t i = 0; i < d->n_events; i++) {
			struct pod_event *e = &d->events[i];
			if (e->involved_uid && strcmp(e->involved_uid, d->uid) != 0) {
				event_finish(e);
				continue;
			}
			d->events[w++] = *e;
		}
		d->n_events = w;
	}
	k8s_pod_detail_fn cb = h->cb;
	void *ud = h->ud;
	free(h);
	cb(ud, d);
}

static void on_pod(void *ud, struct http_response *resp, const struct err *err)
{
	struct k8s_detail *h = ud;
	h->pod_op = NULL;
	h->pending--;
	struct err e;
	if (err) {
		h->d->failed = true;
		h->d->err = *err;
	} else if (!k8s_parse_pod_detail(resp->body, resp->len, h->d, &e)) {
		h->d->failed = true;
		err_set(&h->d->err, ERR_MALFORMED, 0, "kubernetes: malformed answer to get pod: %s",
		        e.msg);
	}
	detail_complete(h);
}

static void on_events(void *ud, struct http_response *resp, const struct err *err)
{
	struct k8s_detail *h = ud;
	h->events_op = NULL;
	h->pending--;
	struct err e;
	if (err) {
		h->d->events_failed = true;
		h->d->events_err = *err;
	} else if (!k8s_parse_events(resp->body, resp->len, &h->d->events, &h->d->n_events, &e)) {
		h->d->events_failed = true;
		err_set(&h->d->events_err, ERR_MALFORMED, 0,
		        "kubernetes: malformed answer to list events: %s", e.msg);
	}
	detail_complete(h);
}

struct k8s_detail *k8s_fetch_pod_detail(struct k8s *k, const char *ns, const char *name,
                                        k8s_pod_detail_fn cb, void *ud)
{
	struct k8s_detail *h = xcalloc(1, sizeof(*h));
	h->cb = cb;
	h->ud = ud;
	h->d = xcalloc(1, sizeof(*h->d));
	pod_detail_finish(h->d); /* the "unknown" values */
	char *ens = url_escape(ns ? ns : "default");
	char *ename = url_escape(name ? name : "");
	char *selector = xasprintf("involvedObject.name=%s,involvedObject.kind=Pod", name);
	char *esel = url_escape(selector);
	char *pod_path = xasprintf("/api/v1/namespaces/%s/pods/%s", ens, ename);
	char *events_path = xasprintf("/api/v1/namespaces/%s/events?fieldSelector=%s", ens, esel);
	h->pending = 2;
	struct k8s_request_opts o = {
	        .path = pod_path,
	        .what = "get pod",
	        .max_retries = -1,
	        .max_body = MAX_DETAIL_BODY,
	        .on_done = on_pod,
	        .ud = h,
	};
	h->pod_op = k8s_request(k, &o);
	o.path = events_path;
	o.what = "list events";
	o.on_done = on_events;
	h->events_op = k8s_request(k, &o);
	free(ens);
	free(ename);
	free(selector);
	free(esel);
	free(pod_path);
	free(events_path);
	return h;
}

void k8s_detail_cancel(struct k8s_detail *h)
{
	if (!h) {
		return;
	}
	k8s_op_cancel(h->pod_op);
	k8s_op_cancel(h->events_op);
	pod_detail_free(h->d);
	free(h);
}
