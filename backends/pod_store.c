/* pod_store.c: see pod_store.h. The rows live in one array sorted by (namespace, name); events
 * find their row by binary search, so an update costs O(log n) to find and at most one memmove to
 * insert or delete: 10,000 pods and a busy watch stay cheap. */
#include "pod_store.h"

#include <event2/event.h>
#include <math.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "ndjson.h"
#include "util.h"

#define WATCH_TIMEOUT_S 300
/* Bookmarks arrive about once a minute: a watch silent for longer is stalled. $LABDECK_WATCH_IDLE
 * (seconds) replaces it, for tests and for proxies that hold a stream's bytes back. */
#define WATCH_IDLE_MS 90000L
#define WATCH_IDLE_ENV "LABDECK_WATCH_IDLE"
/* A watch still open after this long (past the connect timeout) is taken as connected. */
#define WATCH_SETTLE_MS 6000L
/* A watch that ends normally sooner than this, having said nothing, is not resumed at once. */
#define WATCH_QUICK_MS 1000
#define QUICK_CAP_MS 30000L
#define MAX_ERROR_BODY ((size_t)1 << 20)

enum watch_stop {
	STOP_NONE,
	STOP_EXPIRED, /* a 410 ERROR event: list again */
	STOP_ERROR,   /* another ERROR event: fail, resume later */
	STOP_RESYNC,  /* a line we could not read: fail, list again later */
};

struct pod_store {
	struct event_base *base;
	struct k8s *k;
	char *ns; /* NULL: all */
	pod_store_changed_fn changed;
	void *ud;

	struct pod_list rows; /* sorted by (namespace, name) */
	uint64_t generation;
	struct health health;
	char *rv;       /* where the watch resumes */
	bool need_list; /* the next try must LIST (first time, 410, refresh, unreadable line) */
	bool want_resources; /* LIST with full objects, so every row has its requests */

	struct k8s_op *list_op;
	struct k8s_op *watch_op;
	struct ndjson split;
	int64_t watch_started_ms;
	size_t watch_lines; /* lines read on the current watch */
	bool watch_live;    /* the current watch proved to be connected */
	bool stalled;       /* the last watch stalled: the next proves itself by a line */
	long idle_ms;       /* a watch silent this long has stalled */
	double last_heard;  /* wall time of the last list or watch line */
	int quick_ends;     /* watches in a row that ended at once, empty */
	enum watch_stop stop;
	struct err stop_err;

	struct event *retry;  /* the backoff before the next try */
	struct event *settle; /* WATCH_SETTLE_MS after a watch started */
	struct event *notify; /* the deferred change callback */
	bool notify_pending;
};

static void start_list(struct pod_store *s);
static void start_watch(struct pod_store *s);

/* --- the change callback, deferred to the loop --- */

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct pod_store *s = arg;
	s->notify_pending = false;
	if (s->changed) {
		s->changed(s->ud); /* may destroy s: nothing after this */
	}
}

static void notify(struct pod_store *s)
{
	if (!s->notify_pending) {
		s->notify_pending = true;
		event_active(s->notify, EV_TIMEOUT, 0);
	}
}

static void data_changed(struct pod_store *s)
{
	s->generation++;
	notify(s);
}

static void mark_ok(struct pod_store *s)
{
	bool was = s->health.state == HEALTH_OK;
	health_ok(&s->health, now_wall());
	if (!was) {
		notify(s);
	}
}

/* --- the sorted set --- */

static const char *ns_of(const char *ns)
{
	return ns ? ns : "";
}

static int key_cmp(const char *ns_a, const char *name_a, const char *ns_b, const char *name_b)
{
	int c = strcmp(ns_of(ns_a), ns_of(ns_b));
	return c ? c : strcmp(name_a ? name_a : "", name_b ? name_b : "");
}

static int row_cmp(const void *a, const void *b)
{
	const struct pod_row *x = a, *y = b;
	return key_cmp(x->namespace_, x->name, y->namespace_, y->name);
}

/* find: the index of ns/name, or where it would go (*found false). */
static size_t find(const struct pod_list *l, const char *ns, const char *name, bool *found)
{
	size_t lo = 0, hi = l->len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(ns, name, l->items[mid].namespace_, l->items[mid].name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0) {
			hi = mid;
		} else {
			lo = mid + 1;
		}
	}
	*found = false;
	return lo;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool row_equal(const struct pod_row *a, const struct pod_row *b)
{
	bool created = a->created == b->created || (isnan(a->created) && isnan(b->created));
	return same_str(a->namespace_, b->namespace_) && same_str(a->name, b->name) &&
	       same_str(a->phase, b->phase) && same_str(a->ready, b->ready) &&
	       a->restarts == b->restarts && same_str(a->node, b->node) && created &&
	       same_str(a->ip, b->ip) && a->has_resources == b->has_resources &&
	       a->finished == b->finished && a->requests_cpu == b->requests_cpu &&
	       a->limits_cpu == b->limits_cpu && a->requests_mem == b->requests_mem &&
	       a->limits_mem == b->limits_mem && same_str(a->owner_kind, b->owner_kind) &&
	       same_str(a->owner_name, b->owner_name);
}

/* upsert takes row's strings (row is left empty); returns whether the set changed. */
static bool upsert(struct pod_list *l, struct pod_row *row)
{
	bool found;
	size_t i = find(l, row->namespace_, row->name, &found);
	if (found) {
		if (row_equal(&l->items[i], row)) {
			pod_row_finish(row);
			return false;
		}
		pod_row_finish(&l->items[i]);
		l->items[i] = *row;
	} else {
		pod_list_push(l);
		memmove(&l->items[i + 1], &l->items[i], (l->len - 1 - i) * sizeof(l->items[0]));
		l->items[i] = *row;
	}
	memset(row, 0, sizeof(*row));
	return true;
}

static bool erase(struct pod_list *l, const char *ns, const char *name)
{
	bool found;
	size_t i = find(l, ns, name, &found);
	if (!found) {
		return false;
	}
	pod_row_finish(&l->items[i]);
	memmove(&l->items[i], &l->items[i + 1], (l->len - 1 - i) * sizeof(l->items[0]));
	l->len--;
	return true;
}

/* replace_all installs a fresh list: sorted, one row per key (a server never sends two). */
static void replace_all(struct pod_store *s, struct pod_list *fresh)
{
	if (fresh->len > 1) {
		qsort(fresh->items, fresh->len, sizeof(fresh->items[0]), row_cmp);
		size_t w = 0;
		for (size_t r = 0; r < fresh->len; r++) {
			if (w > 0 && row_cmp(&fresh->items[w - 1], &fresh->items[r]) == 0) {
				pod_row_finish(&fresh->items[w - 1]);
				fresh->items[w - 1] = fresh->items[r];
			} else {
				fresh->items[w++] = fresh->items[r];
			}
		}
		fresh->len = w;
	}
	pod_list_finish(&s->rows);
	s->rows = *fresh;
	memset(fresh, 0, sizeof(*fresh));
}

/* --- retries --- */

static void cancel_all(struct pod_store *s)
{
	k8s_op_cancel(s->list_op);
	s->list_op = NULL;
	k8s_op_cancel(s->watch_op);
	s->watch_op = NULL;
	evtimer_del(s->retry);
	evtimer_del(s->settle);
	ndjson_reset(&s->split);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct pod_store *s = arg;
	if (s->need_list || !s->rv) {
		start_list(s);
	} else {
		start_watch(s);
	}
}

static void schedule_retry(struct pod_store *s, long delay_ms)
{
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
	evtimer_add(s->retry, &tv);
}

/* fail_and_retry: FAILING with e; the next try after the backoff, or after the Retry-After the
 * server asked when that is longer; the status line counts down to it ("failing, retry in 4s"). */
static void fail_and_retry(struct pod_store *s, const struct err *e)
{
	health_fail(&s->health, e);
	long delay = health_backoff_ms(&s->health);
	long asked = health_retry_after_ms(e);
	if (asked > delay) {
		delay = asked;
	}
	s->health.retry_at = now_wall() + (double)delay / 1000.0;
	schedule_retry(s, delay);
	notify(s);
}

/* --- LIST --- */

static void on_list(void *ud, struct k8s_pods *r)
{
	struct pod_store *s = ud;
	s->list_op = NULL;
	if (r->failed) {
		struct err e;
		if (r->errors.len > 0) {
			e = r->errors.items[0];
		} else {
			err_set(&e, ERR_NETWORK, 0, "kubernetes: the pod list failed");
		}
		fail_and_retry(s, &e);
	} else {
		replace_all(s, &r->pods);
		free(s->rv);
		s->rv = r->resource_version;
		r->resource_version = NULL;
		s->need_list = false;
		s->stalled = false;
		s->last_heard = now_wall();
		mark_ok(s);
		data_changed(s);
		start_watch(s);
	}
	k8s_pods_finish(r);
	free(r);
	/* A full list passes a lot of short-lived memory through malloc: hand what is free back
	 * to the system, so the steady size is the data's, not the list's peak. */
	malloc_trim(0);
}

static void start_list(struct pod_store *s)
{
	cancel_all(s);
	s->need_list = true;
	/* "" rather than NULL: all namespaces, whatever the config's default. */
	s->list_op = s->want_resources
	                     ? k8s_fetch_pods_with_resources(s->k, s->ns ? s->ns : "", on_list, s)
	                     : k8s_fetch_pods(s->k, s->ns ? s->ns : "", on_list, s);
}

/* --- WATCH --- */

static void apply_event(struct pod_store *s, struct k8s_watch_event *ev)
{
	bool changed = false;
	switch (ev->type) {
	case K8S_WATCH_ADDED:
	case K8S_WATCH_MODIFIED:
		changed = upsert(&s->rows, &ev->pod);
		break;
	case K8S_WATCH_DELETED:
		changed = erase(&s->rows, ev->pod.namespace_, ev->pod.name);
		break;
	default:
		break;
	}
	if (ev->resource_version) {
		free(s->rv);
		s->rv = ev->resource_version;
		ev->resource_version = NULL;
	}
	if (changed) {
		data_changed(s);
	}
}

static bool blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
			return false;
		}
	}
	return true;
}

static bool on_watch_line(void *ud, const char *line, size_t len)
{
	struct pod_store *s = ud;
	if (blank(line, len)) {
		return true;
	}
	s->watch_lines++;
	s->last_heard = now_wall();
	struct k8s_watch_event ev;
	struct err e;
	if (!k8s_parse_watch_event(line, len, &ev, &e)) {
		s->stop = STOP_RESYNC;
		err_set(&s->stop_err, ERR_MALFORMED, 0, "kubernetes: malformed pod watch event: %s",
		        e.msg);
		return false;
	}
	bool go = true;
	if (ev.type == K8S_WATCH_EXPIRED) {
		s->stop = STOP_EXPIRED;
		go = false;
	} else if (ev.type == K8S_WATCH_ERROR) {
		s->stop = STOP_ERROR;
		long code = ev.status.code;
		struct err *se = &s->stop_err;
		if (code >= 400) {
			http_status_error(se, "kubernetes", code,
			                  ev.status.message ? ev.status.message : ev.status.reason);
		} else {
			err_set(se, ERR_SERVER, 0, "kubernetes: the pod watch failed: %s",
			        ev.status.message  ? ev.status.message
			        : ev.status.reason ? ev.status.reason
			                           : "(no message)");
		}
		go = false;
	} else {
		apply_event(s, &ev);
		s->watch_live = true;
		s->stalled = false;
		mark_ok(s);
	}
	k8s_watch_event_finish(&ev);
	return go;
}

static void on_watch_too_long(void *ud, const struct err *err)
{
	struct pod_store *s = ud;
	if (s->stop == STOP_NONE) {
		s->stop = STOP_RESYNC;
		err_set(&s->stop_err, ERR_TOO_LARGE, 0, "kubernetes: pod watch: %s", err->msg);
	}
}

static bool on_watch_chunk(void *ud, const char *data, size_t len)
{
	struct pod_store *s = ud;
	return ndjson_feed(&s->split, data, len) && s->stop == STOP_NONE;
}

/* watch_stalled: the watch said nothing, not even a bookmark, for idle_ms, though its connection
 * stayed open. The rows are kept but may be out of date: the health says so (with the age of the
 * last thing heard), and the watch is resumed on the backoff. A stalling server can keep the next
 * connection open as well, so that one counts only once a line arrives. */
static void watch_stalled(struct pod_store *s)
{
	struct err e;
	err_set(&e, ERR_TIMEOUT, 0,
	        "kubernetes: the pod watch stalled: nothing from the API server for %ld s, not "
	        "even a bookmark; the pods shown may be out of date; reconnecting (r lists again)",
	        s->idle_ms / 1000 > 0 ? s->idle_ms / 1000 : 1);
	s->stalled = true;
	if (s->last_heard > 0 && s->health.last_ok > s->last_heard) {
		s->health.last_ok = s->last_heard; /* the rows are as old as the last line heard */
	}
	fail_and_retry(s, &e);
}

static void on_watch_done(void *ud, struct http_response *resp, const struct err *err)
{
	struct pod_store *s = ud;
	s->watch_op = NULL;
	evtimer_del(s->settle);
	if (s->stop == STOP_NONE && !err) {
		ndjson_finish(&s->split); /* a last event without its newline */
	}
	ndjson_reset(&s->split);
	s->watch_live = false;
	enum watch_stop stop = s->stop;
	s->stop = STOP_NONE;

	if (stop == STOP_EXPIRED || (err && resp->status == 410)) {
		start_list(s); /* the resourceVersion is too old: only a new list is consistent */
	} else if (stop == STOP_ERROR || stop == STOP_RESYNC) {
		s->need_list = stop == STOP_RESYNC;
		fail_and_retry(s, &s->stop_err);
	} else if (err && err->code == ERR_TIMEOUT &&
	           now_mono_ms() - s->watch_started_ms >= s->idle_ms - 100) {
		watch_stalled(s);
	} else if (err) {
		fail_and_retry(s, err);
	} else if (s->watch_lines == 0 && now_mono_ms() - s->watch_started_ms < WATCH_QUICK_MS) {
		/* Ended at once with nothing said: do not spin; back off a little. */
		long delay = 1000;
		for (int i = 1; i < s->quick_ends && delay < QUICK_CAP_MS; i++) {
			delay *= 2;
		}
		s->quick_ends++;
		schedule_retry(s, delay < QUICK_CAP_MS ? delay : QUICK_CAP_MS);
	} else {
		s->quick_ends = 0;
		start_watch(s); /* timeoutSeconds ran out: resume where we were */
	}
}

static void on_settle(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct pod_store *s = arg;
	if (s->watch_op && !s->stalled) {
		s->watch_live = true;
		mark_ok(s);
	}
}

static void start_watch(struct pod_store *s)
{
	cancel_all(s);
	s->stop = STOP_NONE;
	s->watch_lines = 0;
	/* Right after a good list or event the server is there: the watch counts as connected
	 * until it fails. After a failure it must prove itself (an event, or WATCH_SETTLE_MS). */
	s->watch_live = s->health.state == HEALTH_OK;
	s->watch_started_ms = now_mono_ms();
	struct buf path;
	buf_init(&path);
	if (s->ns) {
		char *ns = url_escape(s->ns);
		buf_appendf(&path, "/api/v1/namespaces/%s/pods", ns);
		free(ns);
	} else {
		buf_appendf(&path, "/api/v1/pods");
	}
	buf_appendf(&path, "?watch=1&allowWatchBookmarks=true");
	if (s->rv) {
		char *rv = url_escape(s->rv);
		buf_appendf(&path, "&resourceVersion=%s", rv);
		free(rv);
	}
	buf_appendf(&path, "&timeoutSeconds=%d", WATCH_TIMEOUT_S);
	struct k8s_request_opts o = {
	        .path = path.data,
	        .accept = "Accept: application/json",
	        .what = "watch pods",
	        .max_retries = 0,
	        .timeout_ms = -1,
	        .idle_timeout_ms = s->idle_ms,
	        .max_body = MAX_ERROR_BODY,
	        .on_chunk = on_watch_chunk,
	        .on_done = on_watch_done,
	        .ud = s,
	};
	s->watch_op = k8s_request(s->k, &o);
	buf_finish(&path);
	struct timeval tv = {WATCH_SETTLE_MS / 1000, (WATCH_SETTLE_MS % 1000) * 1000};
	evtimer_add(s->settle, &tv);
}

/* --- the public face --- */

/* watch_idle_ms: $LABDECK_WATCH_IDLE seconds (0.5 to 3600) when set and valid, else
 * WATCH_IDLE_MS. */
static long watch_idle_ms(void)
{
	const char *v = getenv(WATCH_IDLE_ENV);
	if (v && *v) {
		char *end;
		double sec = strtod(v, &end);
		if (!*end && sec >= 0.5 && sec <= 3600) {
			return (long)(sec * 1000);
		}
	}
	return WATCH_IDLE_MS;
}

struct pod_store *pod_store_create(struct event_base *base, struct k8s *k, const char *ns,
                                   pod_store_changed_fn changed, void *ud)
{
	struct pod_store *s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->k = k;
	s->ns = ns && *ns ? xstrdup(ns) : NULL;
	s->changed = changed;
	s->ud = ud;
	health_init(&s->health);
	s->idle_ms = watch_idle_ms();
	err_clear(&s->stop_err);
	ndjson_init(&s->split, NDJSON_MAX_LINE, on_watch_line, on_watch_too_long, s);
	s->retry = evtimer_new(base, on_retry, s);
	s->settle = evtimer_new(base, on_settle, s);
	s->notify = evtimer_new(base, on_notify, s);
	start_list(s);
	return s;
}

void pod_store_destroy(struct pod_store *s)
{
	if (!s) {
		return;
	}
	cancel_all(s);
	event_free(s->retry);
	event_free(s->settle);
	event_free(s->notify);
	ndjson_destroy(&s->split);
	pod_list_finish(&s->rows);
	free(s->rv);
	free(s->ns);
	free(s);
}

const struct pod_row *pod_store_pods(const struct pod_store *s, size_t *n)
{
	*n = s->rows.len;
	return s->rows.items;
}

const struct pod_row *pod_store_find(const struct pod_store *s, const char *ns, const char *name)
{
	bool found;
	size_t i = find(&s->rows, ns && *ns ? ns : NULL, name, &found);
	return found ? &s->rows.items[i] : NULL;
}

uint64_t pod_store_generation(const struct pod_store *s)
{
	return s->generation;
}

const struct health *pod_store_health(struct pod_store *s)
{
	if (s->health.state == HEALTH_OK && s->watch_op && s->watch_live) {
		s->health.last_ok = now_wall(); /* a connected watch is as fresh as it gets */
	}
	return &s->health;
}

const char *pod_store_resource_version(const struct pod_store *s)
{
	return s->rv;
}

const char *pod_store_namespace(const struct pod_store *s)
{
	return s->ns;
}

void pod_store_set_namespace(struct pod_store *s, const char *ns)
{
	cancel_all(s);
	free(s->ns);
	s->ns = ns && *ns ? xstrdup(ns) : NULL;
	free(s->rv);
	s->rv = NULL;
	if (s->rows.len > 0) {
		pod_list_finish(&s->rows);
		data_changed(s);
	}
	health_init(&s->health);
	s->quick_ends = 0;
	s->stalled = false;
	s->last_heard = 0;
	notify(s);
	start_list(s);
}

void pod_store_refresh(struct pod_store *s)
{
	start_list(s);
}

void pod_store_want_resources(struct pod_store *s)
{
	if (s->want_resources) {
		return;
	}
	s->want_resources = true;
	/* The rows listed so far are metadata only; watch events already carry whole pods. */
	start_list(s);
}

bool pod_store_has_resources(const struct pod_store *s)
{
	return s->want_resources && !s->need_list;
}
