/* action_log.h: the record of changing actions (guest start/stop, deploy sync, jobs trigger,
 * session delete...) for the console's action log view and its status line. In memory and
 * bounded: the newest ACTION_LOG_DEFAULT_CAPACITY entries are kept (ended ones are dropped
 * first). Each entry keeps its times and the last ACTION_LOG_HISTORY state changes. Listeners
 * hear of every new entry and every change, so the console can redraw and announce an end.
 * Pure: no I/O; the clock can be replaced for tests. */
#ifndef LABDECK_ACTION_LOG_H
#define LABDECK_ACTION_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACTION_LOG_DEFAULT_CAPACITY 500
#define ACTION_LOG_HISTORY 16

enum action_phase {
	ACTION_RUNNING,
	ACTION_DONE,
	ACTION_FAILED,
	ACTION_CANCELLED,
};

/* One state change: when, the state text as the service said it, and the phase. */
struct action_state {
	int64_t at_ms;
	char *state;
	enum action_phase phase;
};

struct action_entry {
	unsigned long id; /* 1, 2, ... in the order actions began; never reused */
	char *what;       /* "stop guest", "deploy sync" */
	char *target;     /* "101 (web) on pve-a", "root-app" */
	char *state;      /* the newest state text ("running", "OK", "Succeeded") */
	char *detail;     /* the newest detail (UPID, run URL, error) or NULL */
	enum action_phase phase;
	int64_t started_ms, updated_ms;
	int64_t ended_ms; /* 0 while running */
	/* The last ACTION_LOG_HISTORY state changes, oldest first (the first one is the begin). */
	struct action_state history[ACTION_LOG_HISTORY];
	size_t n_history;
};

/* Called after an entry began (ended false) or changed; ended is true once, on the change that
 * ended it. The entry is valid only during the call. */
typedef void (*action_log_fn)(void *ud, const struct action_entry *e, bool ended);

struct action_log;

/* action_log_new makes an empty log keeping at most capacity entries (0: the default). */
struct action_log *action_log_new(size_t capacity);
/* action_log_free frees the log and its entries. NULL-safe. */
void action_log_free(struct action_log *log);

/* action_log_set_clock replaces the clock (wall-clock milliseconds by default); for tests. */
void action_log_set_clock(struct action_log *log, int64_t (*now_ms)(void *ud), void *ud);

/* action_log_begin records a new running action with state "started" and returns its id. When
 * the log is full, the oldest ended entry is dropped (the oldest entry when none has ended). */
unsigned long action_log_begin(struct action_log *log, const char *what, const char *target);

/* action_log_update records a change of the action id: its state text (NULL keeps it), phase
 * and detail (NULL keeps it). A new state text or phase adds to the history; DONE, FAILED and
 * CANCELLED end the action (ended_ms is set). An ended action does not change any more. Returns
 * false when id is unknown (never begun, or dropped) or already ended. */
bool action_log_update(struct action_log *log, unsigned long id, const char *state,
                       enum action_phase phase, const char *detail);

/* action_log_count is the number of entries kept. */
size_t action_log_count(const struct action_log *log);
/* action_log_at returns entry i, 0 being the oldest kept; NULL past the end. */
const struct action_entry *action_log_at(const struct action_log *log, size_t i);
/* action_log_find returns the entry of id, or NULL when unknown or dropped. */
const struct action_entry *action_log_find(const struct action_log *log, unsigned long id);
/* action_log_running counts the entries still running (for the status line). */
size_t action_log_running(const struct action_log *log);

/* action_log_listen adds a listener and returns its handle (> 0) for action_log_unlisten. */
int action_log_listen(struct action_log *log, action_log_fn fn, void *ud);
/* action_log_unlisten removes a listener; unknown handles are ignored. */
void action_log_unlisten(struct action_log *log, int handle);

/* action_phase_name: "running", "done", "failed", "cancelled". */
const char *action_phase_name(enum action_phase phase);
/* action_phase_ended: DONE, FAILED or CANCELLED. */
bool action_phase_ended(enum action_phase phase);

#endif
