/* status_poller.c: see status_poller.h. Each backend is a `struct poll_src`: a timer, at most one
 * operation in flight, its health and the time of its last good data. A poll result replaces that
 * backend's rows wholesale (a failure keeps the old ones), appends one sample per node to the
 * histories, and starts the rrddata fetches that seed the history of Proxmox nodes not seen yet.
 */
#include "status_poller.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s.h"
#include "pve.h"
#include "pve_rrd.h"
#include "util.h"

#define DEFAULT_REFRESH_S 5
#define HIDDEN_FACTOR 4 /* polls are this much rarer while nothing shows the data */
#define SEED_TRIES 3    /* rrddata fetches per node before its history goes unseeded */

enum { SRC_PVE, SRC_K8S, SRC_COUNT };

/* One node's sparkline data; a sliding window, oldest first, so the arrays can be lent out as
 * they are. Heap-allocated on its own: an rrddata fetch holds a pointer to it. */
struct history {
	struct status_poller *p;
	char *name;
	enum node_source source;
	double cpu[STATUS_POLLER_HISTORY];
	double mem[STATUS_POLLER_HISTORY];
	size_t len;
	bool seeded; /* rrddata merged in */
	int seed_tries;
	struct pve_rrd_op *rrd; /* fetch in flight */
	bool present;           /* in the latest node list of its backend */
};

struct poll_src {
	struct status_poller *p;
	enum node_source source;
	bool configured;
	struct event *timer;
	bool armed;
	int64_t due_ms;     /* monotonic time the timer fires */
	int64_t started_ms; /* monotonic start of the last poll, -1 before the first */
	struct health health;
	double refreshed_at;
	struct err_list errors;
	unsigned polls;
	struct pve_op *pve_op;
	struct k8s_op *k8s_op;
};

struct status_poller {
	struct event_base *base;
	struct pve *pve;
	struct k8s *k8s;
	int refresh_s;
	void (*changed)(void *ud);
	void *ud;
	bool visible;
	uint64_t generation;
	struct poll_src src[SRC_COUNT];
	struct node_list pve_nodes;
	struct guest_list guests;
	struct node_list k8s_nodes;
	struct k8s_node_extra *k8s_extras; /* one per k8s_nodes row */
	bool k8s_metrics;
	struct node_list all; /* shallow copies of pve_nodes then k8s_nodes; only items is owned */
	struct history **hist;
	size_t n_hist, cap_hist;
};

static const struct err_list no_errors;

static const struct poll_src *csrc_of(const struct status_poller *p, enum node_source source)
{
	return &p->src[source == NODE_KUBERNETES ? SRC_K8S : SRC_PVE];
}

static int64_t interval_ms(const struct status_poller *p)
{
	return (int64_t)p->refresh_s * 1000 * (p->visible ? 1 : HIDDEN_FACTOR);
}

int status_poller_interval_s(const struct status_poller *p)
{
	return (int)(interval_ms(p) / 1000);
}

/* --- histories --- */

static struct history *history_find(const struct status_poller *p, const char *name,
                                    enum node_source source)
{
	for (size_t i = 0; i < p->n_hist; i++) {
		struct history *h = p->hist[i];
		if (h->source == source && str_eq(h->name, name)) {
			return h;
		}
	}
	return NULL;
}

static struct history *history_get(struct status_poller *p, const char *name,
                                   enum node_source source)
{
	struct history *h = history_find(p, name, source);
	if (h) {
		return h;
	}
	if (p->n_hist == p->cap_hist) {
		p->cap_hist = p->cap_hist ? p->cap_hist * 2 : 8;
		p->hist = xrealloc(p->hist, p->cap_hist * sizeof(*p->hist));
	}
	h = xcalloc(1, sizeof(*h));
	h->p = p;
	h->name = xstrdup(name);
	h->source = source;
	p->hist[p->n_hist++] = h;
	return h;
}

static void history_free(struct history *h)
{
	pve_rrd_cancel(h->rrd);
	free(h->name);
	free(h);
}

static void history_push(struct history *h, double cpu, double mem)
{
	if (h->len == STATUS_POLLER_HISTORY) {
		memmove(h->cpu, h->cpu + 1, (STATUS_POLLER_HISTORY - 1) * sizeof(double));
		memmove(h->mem, h->mem + 1, (STATUS_POLLER_HISTORY - 1) * sizeof(double));
		h->len--;
	}
	h->cpu[h->len] = cpu;
	h->mem[h->len] = mem;
	h->len++;
}

/* Puts the last STATUS_POLLER_SEED points of s before the samples polled so far. */
static void history_seed(struct history *h, const struct rrd_series *s)
{
	size_t take = s->len < STATUS_POLLER_SEED ? s->len : STATUS_POLLER_SEED;
	size_t keep = h->len;
	if (take + keep > STATUS_POLLER_HISTORY) {
		take = take > STATUS_POLLER_HISTORY - keep ? STATUS_POLLER_HISTORY - keep : take;
	}
	memmove(h->cpu + take, h->cpu, keep * sizeof(double));
	memmove(h->mem + take, h->mem, keep * sizeof(double));
	memcpy(h->cpu, s->cpu + (s->len - take), take * sizeof(double));
	memcpy(h->mem, s->mem + (s->len - take), take * sizeof(double));
	h->len = take + keep;
	h->seeded = true;
}

/* Drops the histories of `source` whose node was not in its latest list. */
static void history_prune(struct status_poller *p, enum node_source source)
{
	size_t w = 0;
	for (size_t i = 0; i < p->n_hist; i++) {
		struct history *h = p->hist[i];
		if (h->source == source && !h->present) {
			history_free(h);
		} else {
			p->hist[w++] = h;
		}
	}
	p->n_hist = w;
}

static double mem_fraction(const struct node_row *r)
{
	if (r->mem_used < 0 || r->mem_total <= 0) {
		return NAN;
	}
	return (double)r->mem_used / (double)r->mem_total;
}

/* One sample per node of the new list; histories of nodes that left are dropped. */
static void history_record(struct status_poller *p, const struct node_list *l,
                           enum node_source source)
{
	for (size_t i = 0; i < p->n_hist; i++) {
		if (p->hist[i]->source == source) {
			p->hist[i]->present = false;
		}
	}
	for (size_t i = 0; i < l->len; i++) {
		const struct node_row *r = &l->items[i];
		if (!r->name) {
			continue;
		}
		struct history *h = history_get(p, r->name, source);
		if (h->present) {
			continue; /* a name listed twice gets one sample */
		}
		h->present = true;
		history_push(h, r->cpu, mem_fraction(r));
	}
	history_prune(p, source);
}

static void notify(struct status_poller *p)
{
	p->generation++;
	if (p->changed) {
		p->changed(p->ud);
	}
}

static void on_rrd(void *ud, struct rrd_series *s, const struct err *err)
{
	struct history *h = ud;
	h->rrd = NULL;
	if (err) {
		return; /* tried again after the next good poll, up to SEED_TRIES times */
	}
	history_seed(h, s);
	rrd_series_finish(s);
	notify(h->p);
}

/* Starts the rrddata fetch of each online Proxmox node whose history is not seeded yet. */
static void seed_histories(struct status_poller *p)
{
	for (size_t i = 0; i < p->pve_nodes.len; i++) {
		const struct node_row *r = &p->pve_nodes.items[i];
		if (!r->name || !str_eq(r->status, "online")) {
			continue;
		}
		struct history *h = history_find(p, r->name, NODE_PROXMOX);
		if (!h || h->seeded || h->rrd || h->seed_tries >= SEED_TRIES) {
			continue;
		}
		h->seed_tries++;
		h->rrd = pve_fetch_rrd(p->pve, r->name, on_rrd, h);
	}
}

static void cancel_seeds(struct status_poller *p)
{
	for (size_t i = 0; i < p->n_hist; i++) {
		struct history *h = p->hist[i];
		if (h->rrd) {
			pve_rrd_cancel(h->rrd);
			h->rrd = NULL;
			h->seed_tries--; /* cancelled, not failed */
		}
	}
}

/* --- the combined node list --- */

static void rebuild_all(struct status_poller *p)
{
	free(p->all.items);
	size_t n = p->pve_nodes.len + p->k8s_nodes.len;
	p->all.items = xcalloc(n ? n : 1, sizeof(struct node_row));
	p->all.len = p->all.cap = n;
	if (p->pve_nodes.len) {
		memcpy(p->all.items, p->pve_nodes.items,
		       p->pve_nodes.len * sizeof(struct node_row));
	}
	if (p->k8s_nodes.len) {
		memcpy(p->all.items + p->pve_nodes.len, p->k8s_nodes.items,
		       p->k8s_nodes.len * sizeof(struct node_row));
	}
}

/* --- scheduling --- */

static void arm(struct poll_src *s, int64_t delay_ms)
{
	if (delay_ms < 0) {
		delay_ms = 0;
	}
	struct timeval tv = {(time_t)(delay_ms / 1000), (suseconds_t)(delay_ms % 1000) * 1000};
	evtimer_add(s->timer, &tv);
	s->armed = true;
	s->due_ms = now_mono_ms() + delay_ms;
	/* While failing, the status line says when the next try is. */
	s->health.retry_at =
	        s->health.state == HEALTH_FAILING ? now_wall() + (double)delay_ms / 1000.0 : 0;
}

static void disarm(struct poll_src *s)
{
	if (s->armed) {
		evtimer_del(s->timer);
		s->armed = false;
	}
}

static bool in_flight(const struct poll_src *s)
{
	return s->pve_op || s->k8s_op;
}

/* The regular next poll: one interval after the last one started, but never sooner than half an
 * interval after now, so a backend slower than the interval is not asked back to back. */
static void arm_regular(struct poll_src *s)
{
	int64_t iv = interval_ms(s->p);
	int64_t now = now_mono_ms();
	int64_t delay = s->started_ms < 0 ? 0 : s->started_ms + iv - now;
	if (delay < iv / 2) {
		delay = iv / 2;
	}
	arm(s, delay);
}

static void on_pve_status(void *ud, struct pve_status *st);
static void on_k8s_nodes(void *ud, struct k8s_nodes *r);

static void start_poll(struct poll_src *s)
{
	if (!s->configured || in_flight(s)) {
		return;
	}
	disarm(s);
	s->started_ms = now_mono_ms();
	if (s->source == NODE_PROXMOX) {
		s->pve_op = pve_fetch_status(s->p->pve, PVE_WANT_NODES | PVE_WANT_GUESTS,
		                             on_pve_status, s);
	} else {
		s->k8s_op = k8s_fetch_nodes(s->p->k8s, on_k8s_nodes, s);
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct poll_src *s = arg;
	s->armed = false;
	start_poll(s);
}

/* After a failed poll: the health takes the error, the old data stays, the retry backs off, and
 * never comes sooner than a Retry-After of the answer asked (health_retry_after_ms). */
static void poll_failed(struct poll_src *s, const struct err_list *errors)
{
	struct err e;
	if (errors->len > 0) {
		e = errors->items[0];
	} else {
		err_set(&e, ERR_NETWORK, 0, "%s: the poll failed",
		        s->source == NODE_PROXMOX ? "proxmox" : "kubernetes");
	}
	health_fail(&s->health, &e);
	int64_t delay = health_backoff_ms(&s->health);
	for (size_t i = 0; i < errors->len; i++) {
		int64_t asked = health_retry_after_ms(&errors->items[i]);
		if (asked > delay) {
			delay = asked;
		}
	}
	arm(s, delay);
}

static void poll_succeeded(struct poll_src *s, struct err_list *errors)
{
	double now = now_wall();
	health_ok(&s->health, now);
	s->refreshed_at = now;
	err_list_finish(&s->errors);
	s->errors = *errors;
	memset(errors, 0, sizeof(*errors));
	arm_regular(s);
}

static void on_pve_status(void *ud, struct pve_status *st)
{
	struct poll_src *s = ud;
	struct status_poller *p = s->p;
	s->pve_op = NULL;
	s->polls++;
	if (st->failed) {
		poll_failed(s, &st->errors);
	} else {
		node_list_finish(&p->pve_nodes);
		guest_list_finish(&p->guests);
		p->pve_nodes = st->nodes;
		p->guests = st->guests;
		memset(&st->nodes, 0, sizeof(st->nodes));
		memset(&st->guests, 0, sizeof(st->guests));
		history_record(p, &p->pve_nodes, NODE_PROXMOX);
		rebuild_all(p);
		poll_succeeded(s, &st->errors);
		seed_histories(p);
	}
	pve_status_finish(st);
	free(st);
	notify(p);
}

static void on_k8s_nodes(void *ud, struct k8s_nodes *r)
{
	struct poll_src *s = ud;
	struct status_poller *p = s->p;
	s->k8s_op = NULL;
	s->polls++;
	if (r->failed) {
		poll_failed(s, &r->errors);
	} else {
		node_list_finish(&p->k8s_nodes);
		free(p->k8s_extras);
		p->k8s_nodes = r->nodes;
		p->k8s_extras = r->extras;
		p->k8s_metrics = r->metrics;
		memset(&r->nodes, 0, sizeof(r->nodes));
		r->extras = NULL;
		history_record(p, &p->k8s_nodes, NODE_KUBERNETES);
		rebuild_all(p);
		poll_succeeded(s, &r->errors);
	}
	k8s_nodes_finish(r);
	free(r);
	notify(p);
}

/* --- the public face --- */

struct status_poller *status_poller_create(struct event_base *base, struct pve *pve,
                                           struct k8s *k8s, int refresh_s,
                                           void (*changed)(void *ud), void *ud)
{
	struct status_poller *p = xcalloc(1, sizeof(*p));
	p->base = base;
	p->pve = pve;
	p->k8s = k8s;
	p->refresh_s = refresh_s > 0 ? refresh_s : DEFAULT_REFRESH_S;
	p->changed = changed;
	p->ud = ud;
	p->visible = true; /* the console opens on the dashboard */
	p->all.items = xcalloc(1, sizeof(struct node_row));
	for (int i = 0; i < SRC_COUNT; i++) {
		struct poll_src *s = &p->src[i];
		s->p = p;
		s->source = i == SRC_PVE ? NODE_PROXMOX : NODE_KUBERNETES;
		s->configured = i == SRC_PVE ? pve != NULL : k8s != NULL;
		s->started_ms = -1;
		s->timer = evtimer_new(base, on_timer, s);
		health_init(&s->health);
		if (!s->configured) {
			s->health.state = HEALTH_UNCONFIGURED;
		}
		/* The first polls start from the loop, so the caller can finish setting up. */
		if (s->configured) {
			arm(s, 0);
		}
	}
	return p;
}

void status_poller_destroy(struct status_poller *p)
{
	if (!p) {
		return;
	}
	for (int i = 0; i < SRC_COUNT; i++) {
		struct poll_src *s = &p->src[i];
		disarm(s);
		event_free(s->timer);
		pve_op_cancel(s->pve_op);
		k8s_op_cancel(s->k8s_op);
		err_list_finish(&s->errors);
	}
	for (size_t i = 0; i < p->n_hist; i++) {
		history_free(p->hist[i]);
	}
	free(p->hist);
	node_list_finish(&p->pve_nodes);
	guest_list_finish(&p->guests);
	node_list_finish(&p->k8s_nodes);
	free(p->k8s_extras);
	free(p->all.items);
	free(p);
}

void status_poller_set_visible(struct status_poller *p, bool visible)
{
	if (p->visible == visible) {
		return;
	}
	p->visible = visible;
	for (int i = 0; i < SRC_COUNT; i++) {
		struct poll_src *s = &p->src[i];
		/* A backoff after a failure keeps its own pace. */
		if (!s->configured || in_flight(s) || s->health.state == HEALTH_FAILING) {
			continue;
		}
		disarm(s);
		int64_t due = s->started_ms < 0 ? 0 : s->started_ms + interval_ms(p);
		arm(s, due - now_mono_ms());
	}
}

void status_poller_refresh_now(struct status_poller *p)
{
	for (int i = 0; i < SRC_COUNT; i++) {
		start_poll(&p->src[i]);
	}
}

void status_poller_cancel(struct status_poller *p)
{
	bool any = false;
	for (int i = 0; i < SRC_COUNT; i++) {
		struct poll_src *s = &p->src[i];
		if (!in_flight(s)) {
			continue;
		}
		pve_op_cancel(s->pve_op);
		k8s_op_cancel(s->k8s_op);
		s->pve_op = NULL;
		s->k8s_op = NULL;
		arm(s, interval_ms(p));
		any = true;
	}
	for (size_t i = 0; i < p->n_hist; i++) {
		any = any || p->hist[i]->rrd;
	}
	cancel_seeds(p);
	if (any) {
		p->generation++;
	}
}

const struct node_list *status_poller_nodes(const struct status_poller *p)
{
	return &p->all;
}

const struct guest_list *status_poller_guests(const struct status_poller *p)
{
	return &p->guests;
}

const struct k8s_node_extra *status_poller_k8s_extra(const struct status_poller *p,
                                                     const char *name)
{
	for (size_t i = 0; p->k8s_extras && i < p->k8s_nodes.len; i++) {
		if (str_eq(p->k8s_nodes.items[i].name, name)) {
			return &p->k8s_extras[i];
		}
	}
	return NULL;
}

bool status_poller_k8s_metrics(const struct status_poller *p)
{
	return p->k8s_metrics;
}

const struct err_list *status_poller_errors(const struct status_poller *p, enum node_source source)
{
	const struct poll_src *s = csrc_of(p, source);
	return s->errors.len ? &s->errors : &no_errors;
}

bool status_poller_history(const struct status_poller *p, const char *name, enum node_source source,
                           const double **cpu, const double **mem, size_t *n)
{
	const struct history *h = history_find(p, name, source);
	if (!h || h->len == 0) {
		*cpu = NULL;
		*mem = NULL;
		*n = 0;
		return false;
	}
	*cpu = h->cpu;
	*mem = h->mem;
	*n = h->len;
	return true;
}

const struct health *status_poller_health(const struct status_poller *p, enum node_source source)
{
	return &csrc_of(p, source)->health;
}

double status_poller_refreshed_at(const struct status_poller *p, enum node_source source)
{
	return csrc_of(p, source)->refreshed_at;
}

bool status_poller_busy(const struct status_poller *p, enum node_source source)
{
	return in_flight(csrc_of(p, source));
}

int64_t status_poller_next_poll_ms(const struct status_poller *p, enum node_source source)
{
	const struct poll_src *s = csrc_of(p, source);
	if (!s->armed) {
		return -1;
	}
	int64_t left = s->due_ms - now_mono_ms();
	return left > 0 ? left : 0;
}

unsigned status_poller_polls(const struct status_poller *p, enum node_source source)
{
	return csrc_of(p, source)->polls;
}

uint64_t status_poller_generation(const struct status_poller *p)
{
	return p->generation;
}
