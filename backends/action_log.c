/* action_log.c: the bounded record of changing actions (see action_log.h). */
#include "action_log.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct listener {
	int handle; /* 0: a free slot */
	action_log_fn fn;
	void *ud;
};

struct action_log {
	struct action_entry **items; /* oldest first */
	size_t len, cap;
	unsigned long next_id;
	int64_t (*now_ms)(void *ud);
	void *clock_ud;
	struct listener *listeners;
	size_t n_listeners;
	int next_handle;
};

static int64_t wall_ms(void *ud)
{
	(void)ud;
	return (int64_t)(now_wall() * 1000.0);
}

struct action_log *action_log_new(size_t capacity)
{
	struct action_log *log = xcalloc(1, sizeof(*log));
	log->cap = capacity ? capacity : ACTION_LOG_DEFAULT_CAPACITY;
	log->items = xcalloc(log->cap, sizeof(*log->items));
	log->next_id = 1;
	log->now_ms = wall_ms;
	log->next_handle = 1;
	return log;
}

static void entry_free(struct action_entry *e)
{
	free(e->what);
	free(e->target);
	free(e->state);
	free(e->detail);
	for (size_t i = 0; i < e->n_history; i++) {
		free(e->history[i].state);
	}
	free(e);
}

void action_log_free(struct action_log *log)
{
	if (!log) {
		return;
	}
	for (size_t i = 0; i < log->len; i++) {
		entry_free(log->items[i]);
	}
	free(log->items);
	free(log->listeners);
	free(log);
}

void action_log_set_clock(struct action_log *log, int64_t (*now_ms)(void *ud), void *ud)
{
	log->now_ms = now_ms ? now_ms : wall_ms;
	log->clock_ud = ud;
}

const char *action_phase_name(enum action_phase phase)
{
	switch (phase) {
	case ACTION_RUNNING:
		return "running";
	case ACTION_DONE:
		return "done";
	case ACTION_FAILED:
		return "failed";
	case ACTION_CANCELLED:
		return "cancelled";
	}
	return "?";
}

bool action_phase_ended(enum action_phase phase)
{
	return phase == ACTION_DONE || phase == ACTION_FAILED || phase == ACTION_CANCELLED;
}

static void notify(struct action_log *log, const struct action_entry *e, bool ended)
{
	/* A listener may add or remove listeners: look at the array afresh each time. */
	for (size_t i = 0; i < log->n_listeners; i++) {
		struct listener l = log->listeners[i];
		if (l.handle && l.fn) {
			l.fn(l.ud, e, ended);
		}
	}
}

static void history_add(struct action_entry *e, int64_t at, const char *state,
                        enum action_phase phase)
{
	if (e->n_history == ACTION_LOG_HISTORY) {
		free(e->history[0].state);
		memmove(&e->history[0], &e->history[1],
		        (ACTION_LOG_HISTORY - 1) * sizeof(e->history[0]));
		e->n_history--;
	}
	e->history[e->n_history++] =
	        (struct action_state){.at_ms = at, .state = xstrdup(state), .phase = phase};
}

static void drop_one(struct action_log *log)
{
	size_t victim = 0;
	for (size_t i = 0; i < log->len; i++) {
		if (action_phase_ended(log->items[i]->phase)) {
			victim = i;
			break;
		}
	}
	entry_free(log->items[victim]);
	memmove(&log->items[victim], &log->items[victim + 1],
	        (log->len - victim - 1) * sizeof(log->items[0]));
	log->len--;
}

unsigned long action_log_begin(struct action_log *log, const char *what, const char *target)
{
	if (log->len == log->cap) {
		drop_one(log);
	}
	int64_t now = log->now_ms(log->clock_ud);
	struct action_entry *e = xcalloc(1, sizeof(*e));
	e->id = log->next_id++;
	e->what = xstrdup(what ? what : "");
	e->target = xstrdup(target ? target : "");
	e->state = xstrdup("started");
	e->phase = ACTION_RUNNING;
	e->started_ms = e->updated_ms = now;
	history_add(e, now, e->state, e->phase);
	log->items[log->len++] = e;
	notify(log, e, false);
	return e->id;
}

static struct action_entry *find(const struct action_log *log, unsigned long id)
{
	/* Ids grow with the position: a binary search. */
	size_t lo = 0, hi = log->len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (log->items[mid]->id < id) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo < log->len && log->items[lo]->id == id ? log->items[lo] : NULL;
}

bool action_log_update(struct action_log *log, unsigned long id, const char *state,
                       enum action_phase phase, const char *detail)
{
	struct action_entry *e = find(log, id);
	if (!e || action_phase_ended(e->phase)) {
		return false;
	}
	int64_t now = log->now_ms(log->clock_ud);
	bool changed = (state && strcmp(state, e->state) != 0) || phase != e->phase;
	if (state && strcmp(state, e->state) != 0) {
		free(e->state);
		e->state = xstrdup(state);
	}
	if (detail) {
		free(e->detail);
		e->detail = xstrdup(detail);
	}
	e->phase = phase;
	e->updated_ms = now;
	if (changed) {
		history_add(e, now, e->state, phase);
	}
	bool ended = action_phase_ended(phase);
	if (ended) {
		e->ended_ms = now;
	}
	notify(log, e, ended);
	return true;
}

size_t action_log_count(const struct action_log *log)
{
	return log->len;
}

const struct action_entry *action_log_at(const struct action_log *log, size_t i)
{
	return i < log->len ? log->items[i] : NULL;
}

const struct action_entry *action_log_find(const struct action_log *log, unsigned long id)
{
	return find(log, id);
}

size_t action_log_running(const struct action_log *log)
{
	size_t n = 0;
	for (size_t i = 0; i < log->len; i++) {
		n += log->items[i]->phase == ACTION_RUNNING;
	}
	return n;
}

int action_log_listen(struct action_log *log, action_log_fn fn, void *ud)
{
	int handle = log->next_handle++;
	for (size_t i = 0; i < log->n_listeners; i++) {
		if (!log->listeners[i].handle) {
			log->listeners[i] = (struct listener){handle, fn, ud};
			return handle;
		}
	}
	log->listeners = xrealloc(log->listeners, (log->n_listeners + 1) * sizeof(*log->listeners));
	log->listeners[log->n_listeners++] = (struct listener){handle, fn, ud};
	return handle;
}

void action_log_unlisten(struct action_log *log, int handle)
{
	for (size_t i = 0; i < log->n_listeners; i++) {
		if (handle > 0 && log->listeners[i].handle == handle) {
			log->listeners[i] = (struct listener){0};
		}
	}
}
