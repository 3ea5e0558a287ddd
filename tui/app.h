/* app.h: the console — one libevent loop drives keys, timers, signals, the network and redraws;
 * a stack of views; the status line, filter prompt and command line around them. */
#ifndef LABDECK_APP_H
#define LABDECK_APP_H

#include <curses.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "keys.h"
#include "listview.h"

struct app;
struct view;
struct health;
struct session_store;

struct view_ops {
	const char *name; /* "pods": also its `:` command */
	enum key_scope scope;
	/* draw the view's body into rows [y, y+h) of the screen */
	void (*draw)(struct view *v, WINDOW *w, int y, int h, int cols);
	/* handle an action (or a raw key); true when consumed */
	bool (*handle)(struct view *v, enum action a, int key);
	/* title shown in the top bar, e.g. "pods (all namespaces) 17" */
	void (*title)(struct view *v, char *out, size_t size);
	/* the view's list, for / filtering and movement; NULL if it has none */
	struct listview *(*list)(struct view *v);
	/* called when it comes on screen / goes off it */
	void (*enter)(struct view *v);
	void (*leave)(struct view *v);
	/* Esc in the view: true when it had something to cancel (a request, a search) */
	bool (*cancel)(struct view *v);
	void (*destroy)(struct view *v);
	/* true while the view runs a prompt of its own: keys go to handle() as text */
	bool (*wants_raw)(struct view *v);
	/* catch up with the data stores before a key is handled (rows may have been replaced) */
	void (*sync)(struct view *v);
};

struct view {
	const struct view_ops *ops;
	struct app *app;
};

/* app_run opens the console and returns the exit status when it closes. timeout_ms > 0 is the
 * total timeout of each request (--timeout), else the HTTP client's default (30 s). */
int app_run(struct config *cfg, bool readonly, long timeout_ms);
/* app_timeout_ms: the --timeout the console was started with, in ms; 0 when none was given. */
long app_timeout_ms(struct app *a);

/* app_dirty asks for a redraw at the end of this loop pass. */
void app_dirty(struct app *a);
/* app_message shows a one-line message at the bottom (an error in the error colour). */
void app_message(struct app *a, bool error, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* app_confirm asks before a changing action, on the bottom line: "QUESTION? y confirms, any
 * other key does nothing", or with type_name "QUESTION: type NAME and Enter to confirm" (for what
 * cannot be undone). fn(ud, yes) runs once with the answer; the keys go to the question until
 * then. In a read-only console it is refused at once (a message, fn(ud, false)). */
typedef void (*app_confirm_fn)(void *ud, bool yes);
void app_confirm(struct app *a, const char *question, const char *type_name, app_confirm_fn fn,
                 void *ud);
/* app_ask asks for a line of text before a changing action (a workflow's inputs, a DAG run's
 * conf), on the bottom line: "QUESTION (Enter: go on, Esc: cancel): TEXT", the text starting as
 * initial and edited with Backspace and ^U. fn(ud, text) runs once: with the line on Enter, with
 * NULL on Esc (or when another question replaces this one). Refused at once in a read-only
 * console, as app_confirm is. */
typedef void (*app_ask_fn)(void *ud, const char *text);
void app_ask(struct app *a, const char *question, const char *initial, app_ask_fn fn, void *ud);
/* app_show switches to top-level view (1-8) with its list filtered to filter (NULL: none) and
 * the row whose key is select_key selected (NULL: as it was). */
void app_show(struct app *a, int view, const char *select_key, const char *filter);
/* app_readonly: --readonly or [ui] readonly: every changing action is refused. */
bool app_readonly(struct app *a);
/* app_push puts a view on top (it is destroyed when popped). */
void app_push(struct app *a, struct view *v);
/* app_pop removes the top view if it is not a top-level one. */
void app_pop(struct app *a);

/* Shared state the views reach through the app. */
struct http *app_http(struct app *a);
struct ops *app_ops(struct app *a);
struct guest_actions *app_guest_actions(struct app *a);
struct event_base *app_base(struct app *a);
struct k8s *app_k8s(struct app *a);
struct status_poller *app_poller(struct app *a);
struct pod_store *app_pods(struct app *a);
const struct config *app_config(struct app *a);
int app_refresh_s(struct app *a);

/* The views (view_*.c). */
struct view *view_nodes_create(struct app *a);
struct view *view_guests_create(struct app *a);
struct view *view_pods_create(struct app *a);
struct view *view_pod_detail_create(struct app *a, const char *ns, const char *name);
struct view *view_logs_create(struct app *a, const char *ns, const char *pod);
struct view *view_chat_create(struct app *a);

/* Chat view: switch provider by name ("ollama", "gemini", "openai"); a provider not configured
 * is reported in the view. */
void view_chat_set_provider(struct view *v, const char *name);
/* Chat view: the token and cost meter ("cloud 1.2k tok $0.004 · local 3.4k tok"); false until
 * an answer reported its token counts. */
bool view_chat_meter(struct view *v, char *out, size_t size);

/* Chat view: the `:` commands it takes — session NAME (resume or name the conversation), new,
 * model [NAME], rag [on|off], system [TEXT]; false for any other. */
bool view_chat_command(struct view *v, const char *cmd, const char *arg);
/* Chat view: the health of its Redis connection, NULL when [redis] is not configured. */
const struct health *view_chat_redis_health(struct view *v);
/* Chat view and the sessions list: the store the conversations are kept in; resume (or name
 * the conversation on screen as) a session; start a new unsaved one; the current session's
 * name (NULL: unsaved); tell the chat a session was renamed or deleted. */
struct session_store *view_chat_store(struct view *v);
void view_chat_open_session(struct view *v, const char *name);
void view_chat_new_session(struct view *v);
const char *view_chat_session_name(struct view *v);
void view_chat_session_renamed(struct view *v, const char *from, const char *to);
void view_chat_session_deleted(struct view *v, const char *name);
/* The action log (A, :actions): every changing action of this run, newest first. */
struct view *view_actions_create(struct app *a);
/* The sessions list (S in the chat view), acting on the chat view chat. */
struct view *view_sessions_create(struct app *a, struct view *chat);

/* Pods view: switch namespace (NULL: all). */
void view_pods_set_namespace(struct view *v, const char *ns);

/* Pods view: the namespaces seen (for :ns completion); pointers valid until the next change. */
size_t view_pods_namespaces(struct view *v, const char **out, size_t max);

/* help.c: draws the help overlay generated from the key table. */
void help_draw(WINDOW *w, int y, int h, int cols, enum key_scope scope, int scroll);
/* help_print_markdown writes the key table as Markdown (labdeck --keys, docs/keys.md). */
void help_print_markdown(FILE *out);

#endif
