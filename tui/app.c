/* app.c: see app.h. Everything happens on one libevent loop: stdin is an event (keys drained with
 * wget_wch in nodelay mode), signals are events, the network lives in http/pod_store/poller, and
 * a redraw is one deferred event per loop pass that only runs when something is dirty. */
#include "app.h"
#include "guest_actions.h"
#include "ops.h"
#include "views.h"

#include <event2/event.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "crash.h"
#include "health.h"
#include "http.h"
#include "k8s.h"
#include "palette.h"
#include "pod_store.h"
#include "pve.h"
#include "status_poller.h"
#include "text.h"
#include "theme.h"
#include "util.h"

#define MIN_COLS 80
#define MIN_ROWS 24
#define MAX_STACK 8

enum mode { MODE_NORMAL, MODE_FILTER, MODE_COMMAND, MODE_HELP, MODE_CONFIRM };

struct app {
	struct event_base *base;
	struct http *http;
	struct config *cfg;
	bool readonly;
	long timeout_ms; /* --timeout, 0: the default */
	struct pve *pve;
	struct k8s *k8s;
	struct status_poller *poller;
	struct pod_store *pods;
	struct view *top[N_TOP]; /* views 1-8 (NULL: not in this build), live for the session */
	struct view *stack[MAX_STACK];
	int depth;
	enum mode mode;
	char input[1024]; /* the filter, the command line, or the answer being typed */
	size_t input_len;
	char completion_note[128];
	int help_scroll;
	char msg[256];
	bool msg_error;
	double msg_time;
	bool dirty, quit, full_redraw;
	struct event *draw_ev, *stdin_ev, *tick_ev;
	struct event *sig_ev[6];
	struct theme theme;
	struct theme_names themes;
	size_t theme_idx;
	int exit_status;
	struct ops *ops;                     /* changing actions: log, announcements */
	struct guest_actions *guest_actions; /* Proxmox power actions */
	/* a confirmation being asked (MODE_CONFIRM) */
	char confirm_q[256];
	char confirm_name[128]; /* "" for a y/N question */
	app_confirm_fn confirm_fn;
	app_ask_fn ask_fn; /* set instead of confirm_fn: a line of text is asked (app_ask) */
	void *confirm_ud;
};

/* --- small shared API --- */

struct http *app_http(struct app *a)
{
	return a->http;
}

long app_timeout_ms(struct app *a)
{
	return a->timeout_ms;
}

struct ops *app_ops(struct app *a)
{
	return a->ops;
}

struct guest_actions *app_guest_actions(struct app *a)
{
	return a->guest_actions;
}

/* decline_pending: the question on the bottom line (if any) is answered "no" (one question at a
 * time: a newer one replaces it). */
static void decline_pending(struct app *a)
{
	if (a->mode != MODE_CONFIRM) {
		return;
	}
	app_confirm_fn cfn = a->confirm_fn;
	app_ask_fn afn = a->ask_fn;
	a->confirm_fn = NULL;
	a->ask_fn = NULL;
	a->mode = MODE_NORMAL;
	if (cfn) {
		cfn(a->confirm_ud, false);
	} else if (afn) {
		afn(a->confirm_ud, NULL);
	}
}

/* refused_readonly: a changing action in a read-only console is refused with a message. */
static bool refused_readonly(struct app *a, const char *question)
{
	if (!app_readonly(a)) {
		return false;
	}
	app_message(a, true, "%s: refused, labdeck runs read-only (%s)", question,
	            a->readonly ? "--readonly" : "[ui] readonly = true");
	return true;
}

static void question_begin(struct app *a, const char *question, const char *initial)
{
	snprintf(a->confirm_q, sizeof(a->confirm_q), "%s", question);
	snprintf(a->input, sizeof(a->input), "%s", initial ? initial : "");
	a->input_len = strlen(a->input);
	a->mode = MODE_CONFIRM;
	app_dirty(a);
}

void app_confirm(struct app *a, const char *question, const char *type_name, app_confirm_fn fn,
                 void *ud)
{
	if (refused_readonly(a, question)) {
		fn(ud, false);
		return;
	}
	decline_pending(a);
	snprintf(a->confirm_name, sizeof(a->confirm_name), "%s", type_name ? type_name : "");
	a->confirm_fn = fn;
	a->confirm_ud = ud;
	question_begin(a, question, NULL);
}

void app_ask(struct app *a, const char *question, const char *initial, app_ask_fn fn, void *ud)
{
	if (refused_readonly(a, question)) {
		fn(ud, NULL);
		return;
	}
	decline_pending(a);
	a->confirm_name[0] = '\0';
	a->ask_fn = fn;
	a->confirm_ud = ud;
	question_begin(a, question, initial);
}

bool app_readonly(struct app *a)
{
	return a->readonly || a->cfg->ui.readonly;
}

/* input_edit applies an editing key to the line being typed: Backspace (one UTF-8 character),
 * ^U (all of it) or a character. False for any other key. */
static bool input_edit(struct app *a, int key)
{
	if (key == KEY_BACKSPACE + KEYS_FN_BASE || key == 127 || key == 8) {
		while (a->input_len > 0) {
			a->input_len--;
			if ((a->input[a->input_len] & 0xC0) != 0x80) {
				break;
			}
		}
		a->input[a->input_len] = '\0';
	} else if (key == KEYS_CTRL('u')) {
		a->input_len = 0;
		a->input[0] = '\0';
	} else if (key >= 32 && key < KEYS_FN_BASE) {
		char mb[8];
		mbstate_t st = {0};
		size_t n = wcrtomb(mb, (wchar_t)key, &st);
		if (n != (size_t)-1 && a->input_len + n < sizeof(a->input)) {
			memcpy(a->input + a->input_len, mb, n);
			a->input_len += n;
			a->input[a->input_len] = '\0';
		}
	} else {
		return false;
	}
	return true;
}

static bool is_enter(int key)
{
	return key == '\n' || key == '\r' || key == KEY_ENTER + KEYS_FN_BASE;
}

/* confirm_key: y (or the exact name then Enter) confirms; anything else declines. A line asked
 * for (app_ask) is edited until Enter gives it or Esc cancels. */
static void confirm_key(struct app *a, int key)
{
	bool decided = false, yes = false;
	if (a->ask_fn) {
		decided = key == 27 || is_enter(key);
		yes = is_enter(key);
		if (!decided) {
			input_edit(a, key);
		}
	} else if (!a->confirm_name[0]) {
		decided = true;
		yes = key == 'y' || key == 'Y';
	} else if (key == 27) {
		decided = true;
	} else if (is_enter(key)) {
		decided = true;
		yes = strcmp(a->input, a->confirm_name) == 0;
		if (!yes) {
			app_message(a, true, "the name did not match: nothing done");
		}
	} else {
		input_edit(a, key);
	}
	if (decided) {
		app_confirm_fn fn = a->confirm_fn;
		app_ask_fn ask = a->ask_fn;
		void *ud = a->confirm_ud;
		a->mode = MODE_NORMAL;
		a->confirm_fn = NULL;
		a->ask_fn = NULL;
		char *text = yes && ask ? xstrdup(a->input) : NULL;
		a->input[0] = '\0';
		a->input_len = 0;
		if (!yes && !a->confirm_name[0]) {
			app_message(a, false, "nothing done");
		}
		if (ask) {
			ask(ud, text);
		} else {
			fn(ud, yes);
		}
		free(text);
	}
	app_dirty(a);
}

struct event_base *app_base(struct app *a)
{
	return a->base;
}

struct k8s *app_k8s(struct app *a)
{
	return a->k8s;
}

struct status_poller *app_poller(struct app *a)
{
	return a->poller;
}

struct pod_store *app_pods(struct app *a)
{
	return a->pods;
}

const struct config *app_config(struct app *a)
{
	return a->cfg;
}

int app_refresh_s(struct app *a)
{
	return a->cfg->ui.refresh > 0 ? a->cfg->ui.refresh : 5;
}

void app_dirty(struct app *a)
{
	if (!a->dirty) {
		a->dirty = true;
		event_active(a->draw_ev, 0, 0);
	}
}

void app_message(struct app *a, bool error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
	va_end(ap);
	a->msg_error = error;
	a->msg_time = now_wall();
	app_dirty(a);
}

static struct view *current(struct app *a)
{
	return a->stack[a->depth - 1];
}

static bool is_top_level(struct app *a, struct view *v)
{
	for (int i = 0; i < N_TOP; i++) {
		if (a->top[i] == v) {
			return true;
		}
	}
	return false;
}

static void view_leave(struct view *v)
{
	if (v->ops->leave) {
		v->ops->leave(v);
	}
}

static void view_enter(struct view *v)
{
	if (v->ops->enter) {
		v->ops->enter(v);
	}
}

void app_push(struct app *a, struct view *v)
{
	if (a->depth == MAX_STACK) {
		app_pop(a);
	}
	view_leave(current(a));
	a->stack[a->depth++] = v;
	view_enter(v);
	app_dirty(a);
}

void app_pop(struct app *a)
{
	struct view *v = current(a);
	if (a->depth <= 1 || is_top_level(a, v)) {
		return;
	}
	view_leave(v);
	a->depth--;
	v->ops->destroy(v);
	view_enter(current(a));
	app_dirty(a);
}

/* Switching to a top-level view drops whatever was pushed above the current one. */
static void switch_to(struct app *a, int which)
{
	if (which < 0 || which >= N_TOP || !a->top[which]) {
		app_message(a, false, "%d %s: not in this version yet", which + 1,
		            which >= 0 && which < N_TOP ? top_views[which].name : "?");
		return;
	}
	while (a->depth > 1) {
		struct view *v = current(a);
		view_leave(v);
		a->depth--;
		if (!is_top_level(a, v)) {
			v->ops->destroy(v);
		}
	}
	if (a->stack[0] != a->top[which]) {
		view_leave(a->stack[0]);
		a->stack[0] = a->top[which];
	}
	view_enter(a->stack[0]);
	a->mode = MODE_NORMAL;
	app_dirty(a);
}

void app_show(struct app *a, int view, const char *select_key, const char *filter)
{
	switch_to(a, view - 1);
	struct view *v = current(a);
	struct listview *lv = v->ops->list ? v->ops->list(v) : NULL;
	if (!lv || v != a->top[view - 1]) {
		return;
	}
	if (v->ops->sync) {
		v->ops->sync(v);
	}
	listview_set_filter(lv, filter ? filter : "");
	if (select_key) {
		snprintf(lv->selected_key, sizeof(lv->selected_key), "%s", select_key);
		listview_data_changed(lv); /* finds the row by its key */
	}
	app_dirty(a);
}

/* --- themes --- */

static void apply_theme(struct app *a, const char *name, bool report)
{
	struct theme t;
	struct err err;
	err_clear(&err);
	if (!theme_load(&t, name, &err)) {
		app_message(a, true, "theme: %s", err.msg);
		return;
	}
	theme_finish(&a->theme);
	a->theme = t;
	palette_apply(&a->theme);
	for (size_t i = 0; i < a->themes.len; i++) {
		if (strcmp(a->themes.items[i], name) == 0) {
			a->theme_idx = i;
		}
	}
	if (report) {
		app_message(a, false, "theme %s (%s)", name, palette_mode_name());
	}
	a->full_redraw = true;
	app_dirty(a);
}

/* --- drawing --- */

static void fill_line(WINDOW *w, int y, int cols)
{
	wmove(w, y, 0);
	for (int i = 0; i < cols; i++) {
		waddch(w, ' ');
	}
}

/* Writes s (already safe) clipped to the columns left, returns the new x. */
static int put(WINDOW *w, int y, int x, int cols, const char *s)
{
	if (x >= cols) {
		return x;
	}
	int width = text_width(s);
	if (x + width > cols) {
		char *fit = text_fit(s, cols - x, false);
		mvwaddstr(w, y, x, fit);
		free(fit);
		return cols;
	}
	mvwaddstr(w, y, x, s);
	return x + width;
}

static void draw_title(struct app *a, int cols)
{
	wattrset(stdscr, palette_attr(SLOT_TITLE));
	fill_line(stdscr, 0, cols);
	int x = put(stdscr, 0, 0, cols, " labdeck ");
	/* Tabs: "[4 chat]" for the view on screen; the others by number and name when the
	 * terminal is wide, by number alone when it is not (80 columns keep room for the title). */
	bool wide = cols >= 120;
	for (int i = 0; i < N_TOP; i++) {
		if (!a->top[i]) {
			continue;
		}
		bool on = a->stack[0] == a->top[i];
		wattrset(stdscr, palette_attr(on ? SLOT_SELECTED : SLOT_TITLE));
		char label[32];
		if (on) {
			snprintf(label, sizeof(label), "[%d %s]", i + 1, top_views[i].name);
		} else if (wide) {
			snprintf(label, sizeof(label), " %d %s ", i + 1, top_views[i].name);
		} else {
			snprintf(label, sizeof(label), " %d", i + 1);
		}
		x = put(stdscr, 0, x, cols, label);
	}
	wattrset(stdscr, palette_attr(SLOT_TITLE));
	char title[200] = "";
	struct view *v = current(a);
	if (v->ops->title) {
		v->ops->title(v, title, sizeof(title));
	}
	char right[260];
	snprintf(right, sizeof(right), " %s%s ", title, a->readonly ? "  [readonly]" : "");
	char *safe = text_sanitize(right, false);
	int room = cols - x - 1;
	if (room > 4) {
		/* A title too long for the bar is cut with an ellipsis, never dropped. */
		int rw = text_width(safe);
		char *fit = text_fit(safe, rw < room ? rw : room, false);
		put(stdscr, 0, cols - text_width(fit), cols, fit);
		free(fit);
	}
	free(safe);
}

/* One backend on the status line: name, a symbol and a word, so colour is never the only sign. */
static int draw_backend(WINDOW *w, int y, int x, int cols, int share, const char *name,
                        const struct health *h, int refresh_s)
{
	double now = now_wall();
	char desc[200];
	health_describe(h, now, refresh_s, desc, sizeof(desc));
	enum theme_slot slot = SLOT_STATUS_OK;
	const char *sym = "✓";
	if (h->state == HEALTH_FAILING) {
		slot = SLOT_STATUS_FAIL;
		sym = "✗";
	} else if (h->state == HEALTH_CONNECTING) {
		slot = SLOT_STATUS_WARN;
		sym = "…";
	} else if (h->state == HEALTH_OK && h->last_ok > 0 && now - h->last_ok > 3.0 * refresh_s) {
		slot = SLOT_STATUS_STALE;
		sym = "◷";
	}
	char item[300];
	snprintf(item, sizeof(item), " %s %s %s ", name, sym, desc);
	char *safe = text_sanitize(item, false);
	wattrset(w, palette_attr(slot));
	/* Each backend keeps its share of the line, so a long error never hides the others. */
	int width = text_width(safe);
	char *fit = text_fit(safe, width < share - 1 ? width : share - 1, false);
	x = put(w, y, x, cols, fit);
	free(fit);
	free(safe);
	wattrset(w, palette_attr(SLOT_STATUSLINE));
	return put(w, y, x, cols, "│");
}

static void draw_statusline(struct app *a, int y, int cols)
{
	wattrset(stdscr, palette_attr(SLOT_STATUSLINE));
	fill_line(stdscr, y, cols);
	int x = 0;
	int refresh = app_refresh_s(a);
	/* The chat's token meter, once it has counted something, takes the right end; not while
	 * Redis is down: that needs the room more (the meter is back when Redis is). */
	const struct health *redis = view_chat_redis_health(a->top[3]);
	char meter[128];
	int meter_w = 0;
	if ((!redis || redis->state != HEALTH_FAILING) &&
	    view_chat_meter(a->top[3], meter, sizeof(meter))) {
		meter_w = text_width(meter) + 2;
		cols -= meter_w;
		wattrset(stdscr, palette_attr(SLOT_STATUSLINE));
		put(stdscr, y, cols, cols + meter_w, " ");
		put(stdscr, y, cols + 1, cols + meter_w, meter);
	}
	int share = cols / 2;
	/* The dashboard's data is polled 4 x slower while no view shows it: not stale then. */
	int polled = a->poller ? status_poller_interval_s(a->poller) : refresh;
	if (a->poller && a->pve) {
		x = draw_backend(stdscr, y, x, cols, share, "proxmox",
		                 status_poller_health(a->poller, NODE_PROXMOX), polled);
	} else {
		wattrset(stdscr, palette_attr(SLOT_DIM));
		x = put(stdscr, y, x, cols, " proxmox: not configured ([proxmox] url, token_id) │");
	}
	if (a->k8s) {
		/* Kubernetes is as healthy as the worse of its node poll and its pod watch. */
		const struct health *hn = status_poller_health(a->poller, NODE_KUBERNETES);
		const struct health *hp = pod_store_health(a->pods);
		const struct health *h = hp->state == HEALTH_FAILING ? hp : hn;
		x = draw_backend(stdscr, y, x, cols, share, "kubernetes", h, polled);
	} else {
		wattrset(stdscr, palette_attr(SLOT_DIM));
		x = put(stdscr, y, x, cols, " kubernetes: not configured (no kubeconfig) │");
	}
	/* An action running in the background says so until it ends. */
	char running[200];
	if (ops_status(a->ops, running, sizeof(running))) {
		wattrset(stdscr, palette_attr(SLOT_STATUS_WARN));
		char item[220];
		snprintf(item, sizeof(item), " %s │", running);
		char *safe = text_sanitize(item, false);
		x = put(stdscr, y, x, cols, safe);
		free(safe);
	}
	/* Redis, when configured: the chat's sessions and cache live there. */
	if (redis) {
		x = draw_backend(stdscr, y, x, cols, cols - x, "redis", redis, refresh);
	}
	(void)x;
}

/* ask_line: "QUESTION (Enter: go on, Esc: cancel): TEXT"; when that is wider than the screen, the
 * question gives way down to half the width, then the text's start gives way to "…", so that the
 * end being typed, and the cursor, stay in sight. */
static void ask_line(struct app *a, int cols, char *out, size_t size)
{
	char *head = xasprintf("%s (Enter: go on, Esc: cancel): ", a->confirm_q);
	int want =
	        cols - 1 - text_width(a->input); /* the whole question, if the text leaves room */
	if (want < cols / 2) {
		want = cols / 2;
	}
	if (text_width(head) > want) {
		char *cut = text_fit(head, want, false);
		free(head);
		head = cut;
	}
	const char *tail = a->input;
	int room = cols - 1 - text_width(head);
	if (text_width(tail) > room) {
		room -= 1; /* the "…" */
		while (*tail && text_width(tail) > room) {
			tail++;
			while ((*tail & 0xC0) == 0x80) {
				tail++;
			}
		}
		snprintf(out, size, "%s…%s", head, tail);
	} else {
		snprintf(out, size, "%s%s", head, tail);
	}
	free(head);
}

static void draw_bottom(struct app *a, int y, int cols)
{
	wattrset(stdscr, palette_attr(SLOT_NORMAL));
	fill_line(stdscr, y, cols);
	if (a->mode == MODE_FILTER || a->mode == MODE_COMMAND) {
		wattrset(stdscr, palette_attr(SLOT_PROMPT));
		char line[300];
		snprintf(line, sizeof(line), "%c%s", a->mode == MODE_FILTER ? '/' : ':', a->input);
		char *safe = text_sanitize(line, false);
		int x = put(stdscr, y, 0, cols, safe);
		free(safe);
		if (a->completion_note[0]) {
			wattrset(stdscr, palette_attr(SLOT_DIM));
			char note[160];
			snprintf(note, sizeof(note), "   %s", a->completion_note);
			put(stdscr, y, x, cols, note);
		}
		wmove(stdscr, y, x < cols ? x : cols - 1);
		curs_set(1);
		return;
	}
	if (a->mode == MODE_CONFIRM) {
		/* The question stands out: it is the one thing the next key decides. */
		wattrset(stdscr, palette_attr(SLOT_STATUS_WARN) | A_BOLD);
		char line[1600];
		if (a->ask_fn) {
			ask_line(a, cols, line, sizeof(line));
		} else if (a->confirm_name[0]) {
			snprintf(line, sizeof(line),
			         "%s: type %s and Enter to confirm (Esc: no): %s", a->confirm_q,
			         a->confirm_name, a->input);
		} else {
			snprintf(line, sizeof(line), "%s? y confirms, any other key does nothing",
			         a->confirm_q);
		}
		char *safe = text_sanitize(line, false);
		int x = put(stdscr, y, 0, cols, safe);
		free(safe);
		if (a->confirm_name[0] || a->ask_fn) {
			wmove(stdscr, y, x < cols ? x : cols - 1);
			curs_set(1);
		} else {
			curs_set(0);
		}
		return;
	}
	curs_set(0);
	if (a->msg[0] && now_wall() - a->msg_time < 8) {
		wattrset(stdscr, palette_attr(a->msg_error ? SLOT_ERROR : SLOT_NORMAL));
		char *safe = text_sanitize(a->msg, false);
		put(stdscr, y, 0, cols, safe);
		free(safe);
		return;
	}
	wattrset(stdscr, palette_attr(SLOT_DIM));
	struct listview *lv = current(a)->ops->list ? current(a)->ops->list(current(a)) : NULL;
	char hint[256];
	if (lv && lv->filter[0]) {
		snprintf(hint, sizeof(hint), "filter: %s  (%zu match%s, Esc clears)", lv->filter,
		         lv->n_order, lv->n_order == 1 ? "" : "es");
	} else {
		snprintf(hint, sizeof(hint),
		         "? help  / filter  : command  s sort  Enter details  r refresh  t theme  "
		         "q quit");
	}
	char *safe = text_sanitize(hint, false);
	put(stdscr, y, 0, cols, safe);
	free(safe);
}

static void draw(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct app *a = arg;
	a->dirty = false;
	int rows = LINES, cols = COLS;
	if (a->full_redraw) {
		clearok(curscr, TRUE);
		a->full_redraw = false;
	}
	wattrset(stdscr, palette_attr(SLOT_NORMAL));
	werase(stdscr);
	if (rows < MIN_ROWS || cols < MIN_COLS) {
		char msg[128];
		snprintf(msg, sizeof(msg), "terminal too small: %dx%d, labdeck needs %dx%d", cols,
		         rows, MIN_COLS, MIN_ROWS);
		mvwaddnstr(stdscr, rows / 2, 0, msg, cols);
		mvwaddnstr(stdscr, rows / 2 + 1, 0, "(resize, or q to quit)", cols);
		wnoutrefresh(stdscr);
		doupdate();
		return;
	}
	draw_title(a, cols);
	if (a->mode == MODE_HELP) {
		help_draw(stdscr, 1, rows - 3, cols, current(a)->ops->scope, a->help_scroll);
	} else {
		struct view *v = current(a);
		wattrset(stdscr, palette_attr(SLOT_NORMAL));
		v->ops->draw(v, stdscr, 1, rows - 3, cols);
	}
	draw_statusline(a, rows - 2, cols);
	draw_bottom(a, rows - 1, cols);
	wnoutrefresh(stdscr);
	doupdate();
}

/* --- the command line --- */

static const char *const commands[] = {
        "nodes", "guests", "pods",    "chat",   "ns",       "theme",   "help",
        "q",     "quit",   "refresh", "new",    "sessions", "session", "model",
        "rag",   "system", "actions", "deploy", "jobs",     "hosts",   "topology"};

/* Candidates for completing the word being typed. */
static size_t complete_candidates(struct app *a, const char *cmd, bool first_word, const char **out,
                                  size_t max)
{
	size_t n = 0;
	if (first_word) {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]) && n < max; i++) {
			out[n++] = commands[i];
		}
	} else if (strcmp(cmd, "theme") == 0) {
		for (size_t i = 0; i < a->themes.len && n < max; i++) {
			out[n++] = a->themes.items[i];
		}
	} else if (strcmp(cmd, "ns") == 0 && a->pods) {
		n = view_pods_namespaces(a->top[2], out, max);
		if (n < max) {
			out[n++] = "all";
		}
	}
	return n;
}

static void complete(struct app *a)
{
	char *space = strchr(a->input, ' ');
	bool first = space == NULL;
	char cmd[64] = "";
	if (!first) {
		snprintf(cmd, sizeof(cmd), "%.*s", (int)(space - a->input), a->input);
	}
	const char *word = first ? a->input : space + 1;
	const char *cands[256];
	size_t n = complete_candidates(a, cmd, first, cands, 256);
	const char *match = NULL;
	size_t n_match = 0, common = 0;
	struct buf list;
	buf_init(&list);
	for (size_t i = 0; i < n; i++) {
		if (!str_has_prefix(cands[i], word)) {
			continue;
		}
		if (!match) {
			match = cands[i];
			common = strlen(match);
		} else {
			size_t k = 0;
			while (k < common && match[k] == cands[i][k]) {
				k++;
			}
			common = k;
		}
		buf_appendf(&list, "%s%s", n_match ? " " : "", cands[i]);
		n_match++;
	}
	if (match && common > strlen(word)) {
		size_t prefix = (size_t)(word - a->input);
		snprintf(a->input + prefix, sizeof(a->input) - prefix, "%.*s%s", (int)common, match,
		         n_match == 1 ? " " : "");
		a->input_len = strlen(a->input);
	}
	snprintf(a->completion_note, sizeof(a->completion_note), "%s",
	         n_match > 1 ? list.data : "");
	buf_finish(&list);
}

static void run_command(struct app *a, const char *line)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", line);
	char *cmd = str_trim(buf);
	char *arg = strchr(cmd, ' ');
	if (arg) {
		*arg++ = '\0';
		arg = str_trim(arg);
	}
	if (!*cmd) {
		return;
	}
	if (strcmp(cmd, "q") == 0 || strcmp(cmd, "quit") == 0) {
		a->quit = true;
	} else if (strcmp(cmd, "nodes") == 0 || strcmp(cmd, "no") == 0) {
		switch_to(a, 0);
	} else if (strcmp(cmd, "guests") == 0 || strcmp(cmd, "vm") == 0) {
		switch_to(a, 1);
	} else if (strcmp(cmd, "pods") == 0 || strcmp(cmd, "po") == 0) {
		switch_to(a, 2);
		if (arg && *arg) {
			view_pods_set_namespace(a->top[2], strcmp(arg, "all") == 0 ? NULL : arg);
		}
	} else if (strcmp(cmd, "chat") == 0) {
		switch_to(a, 3);
		if (arg && *arg) {
			view_chat_set_provider(a->top[3], arg);
		}
	} else if (strcmp(cmd, "deploy") == 0 || strcmp(cmd, "jobs") == 0 ||
	           strcmp(cmd, "hosts") == 0 || strcmp(cmd, "topology") == 0) {
		for (int i = 4; i < N_TOP; i++) {
			if (strcmp(cmd, top_views[i].name) == 0) {
				switch_to(a, i);
			}
		}
	} else if (strcmp(cmd, "actions") == 0) {
		app_push(a, view_actions_create(a));
	} else if (strcmp(cmd, "sessions") == 0) {
		switch_to(a, 3);
		app_push(a, view_sessions_create(a, a->top[3]));
	} else if (strcmp(cmd, "session") == 0 || strcmp(cmd, "new") == 0 ||
	           strcmp(cmd, "model") == 0 || strcmp(cmd, "rag") == 0 ||
	           strcmp(cmd, "system") == 0) {
		switch_to(a, 3);
		view_chat_command(a->top[3], cmd, arg);
	} else if (strcmp(cmd, "ns") == 0) {
		switch_to(a, 2);
		view_pods_set_namespace(a->top[2],
		                        !arg || !*arg || strcmp(arg, "all") == 0 ? NULL : arg);
	} else if (strcmp(cmd, "theme") == 0) {
		if (!arg || !*arg) {
			app_message(a, false, "theme %s; :theme NAME (Tab lists them)",
			            a->themes.len ? a->themes.items[a->theme_idx] : "built-in");
		} else {
			apply_theme(a, arg, true);
		}
	} else if (strcmp(cmd, "help") == 0) {
		a->mode = MODE_HELP;
		a->help_scroll = 0;
	} else if (strcmp(cmd, "refresh") == 0) {
		status_poller_refresh_now(a->poller);
	} else {
		enum action act = action_by_name(cmd);
		if (act == ACT_NONE) {
			char *safe = text_sanitize(cmd, false);
			app_message(a, true,
			            "unknown command :%s (Tab completes; :help lists keys)", safe);
			free(safe);
		}
	}
	app_dirty(a);
}

/* --- keys --- */

static void do_action(struct app *a, enum action act, int key);

static void input_key(struct app *a, int key)
{
	struct view *v = current(a);
	struct listview *lv = v->ops->list ? v->ops->list(v) : NULL;
	if (key == 27) { /* Esc: leave the prompt; a filter is cleared */
		if (a->mode == MODE_FILTER && lv) {
			listview_set_filter(lv, "");
		}
		a->mode = MODE_NORMAL;
	} else if (key == '\n' || key == '\r' || key == KEY_ENTER + KEYS_FN_BASE) {
		if (a->mode == MODE_COMMAND) {
			a->mode = MODE_NORMAL;
			run_command(a, a->input);
		} else {
			a->mode = MODE_NORMAL; /* the filter stays */
		}
	} else if (key == '\t' && a->mode == MODE_COMMAND) {
		complete(a);
	} else if ((key == KEY_BACKSPACE + KEYS_FN_BASE || key == 127 || key == 8) &&
	           a->input_len == 0) {
		a->mode = MODE_NORMAL; /* Backspace on an empty line leaves it */
	} else if (input_edit(a, key)) {
		if (a->mode == MODE_FILTER && lv) {
			listview_set_filter(lv, a->input); /* incremental, as you type */
		}
		a->completion_note[0] = '\0';
	}
	app_dirty(a);
}

static void do_action(struct app *a, enum action act, int key)
{
	struct view *v = current(a);
	switch (act) {
	case ACT_QUIT:
		if (is_top_level(a, v)) {
			a->quit = true;
		} else {
			app_pop(a);
		}
		return;
	case ACT_HELP:
		a->mode = a->mode == MODE_HELP ? MODE_NORMAL : MODE_HELP;
		a->help_scroll = 0;
		app_dirty(a);
		return;
	case ACT_VIEW_NODES:
	case ACT_VIEW_GUESTS:
	case ACT_VIEW_PODS:
	case ACT_VIEW_CHAT:
	case ACT_VIEW_DEPLOY:
	case ACT_VIEW_JOBS:
	case ACT_VIEW_HOSTS:
	case ACT_VIEW_TOPOLOGY:
		switch_to(a, act - ACT_VIEW_NODES);
		return;
	case ACT_ACTIONS:
		if (strcmp(v->ops->name, "actions") != 0) {
			app_push(a, view_actions_create(a));
		}
		return;
	case ACT_COMMAND:
		a->mode = MODE_COMMAND;
		a->input[0] = '\0';
		a->input_len = 0;
		a->completion_note[0] = '\0';
		app_dirty(a);
		return;
	case ACT_FILTER:
		if (v->ops->list) {
			a->mode = MODE_FILTER;
			struct listview *lv = v->ops->list(v);
			snprintf(a->input, sizeof(a->input), "%s", lv->filter);
			a->input_len = strlen(a->input);
			app_dirty(a);
			return;
		}
		break;
	case ACT_BACK: {
		struct listview *lv = v->ops->list ? v->ops->list(v) : NULL;
		if (v->ops->cancel && v->ops->cancel(v)) {
			app_message(a, false, "cancelled");
		} else if (lv && lv->filter[0]) {
			listview_set_filter(lv, "");
		} else if (!is_top_level(a, v)) {
			app_pop(a);
		} else {
			/* Top level: Esc cancels what is in flight. */
			status_poller_cancel(a->poller);
			a->msg[0] = '\0';
		}
		app_dirty(a);
		return;
	}
	case ACT_REFRESH:
		if (v->ops->handle && v->ops->handle(v, act, key)) {
			app_dirty(a);
			return;
		}
		status_poller_refresh_now(a->poller);
		if (a->pods) {
			pod_store_refresh(a->pods);
		}
		app_message(a, false, "refreshing…");
		return;
	case ACT_THEME:
		if (a->themes.len) {
			apply_theme(a, a->themes.items[(a->theme_idx + 1) % a->themes.len], true);
		}
		return;
	case ACT_REDRAW:
		a->full_redraw = true;
		app_dirty(a);
		return;
	default:
		break;
	}
	if (v->ops->handle && v->ops->handle(v, act, key)) {
		app_dirty(a);
		return;
	}
	struct listview *lv = v->ops->list ? v->ops->list(v) : NULL;
	if (lv && listview_handle(lv, act)) {
		app_dirty(a);
	}
}

static void handle_key(struct app *a, int key)
{
	if (current(a)->ops->sync) {
		current(a)->ops->sync(current(a));
	}
	if (key == KEY_RESIZE + KEYS_FN_BASE) {
		app_dirty(a);
		return;
	}
	if (a->mode == MODE_CONFIRM) {
		confirm_key(a, key);
		return;
	}
	if (a->mode == MODE_FILTER || a->mode == MODE_COMMAND) {
		input_key(a, key);
		return;
	}
	if (a->mode == MODE_HELP) {
		if (key == 'j' || key == KEY_DOWN + KEYS_FN_BASE) {
			a->help_scroll++;
		} else if ((key == 'k' || key == KEY_UP + KEYS_FN_BASE) && a->help_scroll > 0) {
			a->help_scroll--;
		} else if (key == 'q' || key == 27 || key == '?') {
			a->mode = MODE_NORMAL;
		}
		app_dirty(a);
		return;
	}
	struct view *v = current(a);
	if (v->ops->wants_raw && v->ops->wants_raw(v)) {
		/* The view has a prompt of its own (log search): every key is text. */
		v->ops->handle(v, ACT_NONE, key);
		app_dirty(a);
		return;
	}
	enum action act = keys_lookup(v->ops->scope, true, key);
	if (act == ACT_NONE) {
		/* Views may take raw keys (the log search prompt). */
		if (v->ops->handle && v->ops->handle(v, ACT_NONE, key)) {
			app_dirty(a);
		}
		return;
	}
	do_action(a, act, key);
}

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct app *a = arg;
	wint_t ch;
	int rc;
	int n = 0;
	while ((rc = wget_wch(stdscr, &ch)) != ERR) {
		n++;
		handle_key(a, rc == KEY_CODE_YES ? (int)ch + KEYS_FN_BASE : (int)ch);
		if (a->quit) {
			break;
		}
	}
	if (n == 0) {
		/* Readable but no key: the terminal may be gone (a closed pty). */
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL))) {
			a->quit = true;
		}
	}
	if (a->quit) {
		event_base_loopbreak(a->base);
	}
}

/* --- signals, ticks --- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct app *a = arg;
	if (sig == SIGWINCH) {
		struct winsize ws;
		if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
			resizeterm(ws.ws_row, ws.ws_col);
		}
		a->full_redraw = true;
		app_dirty(a);
	} else if (sig == SIGCONT) {
		a->full_redraw = true;
		app_dirty(a);
	} else {
		/* SIGTERM, SIGHUP, SIGINT: a clean exit. */
		a->quit = true;
		a->exit_status = sig == SIGINT ? 130 : 0;
		event_base_loopbreak(a->base);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	/* Ages and staleness on screen move with time. */
	app_dirty(arg);
}

static void on_data_changed(void *ud)
{
	struct app *a = ud;
	for (int i = 0; i < N_TOP; i++) {
		if (a->top[i] && a->top[i]->ops->handle) {
			a->top[i]->ops->handle(a->top[i], ACT_NONE, -1); /* -1: data changed */
		}
	}
	app_dirty(a);
}

/* --- setup and teardown --- */

static void load_themes(struct app *a)
{
	theme_list(&a->themes);
	const char *want = a->cfg->ui.theme ? a->cfg->ui.theme : "default";
	struct err err;
	err_clear(&err);
	if (!theme_load(&a->theme, want, &err)) {
		app_message(a, true, "theme '%s': %s; using the default", want, err.msg);
		if (!theme_load(&a->theme, "default", &err)) {
			theme_init_builtin(&a->theme);
		}
	}
	for (size_t i = 0; i < a->themes.len; i++) {
		if (strcmp(a->themes.items[i], want) == 0) {
			a->theme_idx = i;
		}
	}
	palette_apply(&a->theme);
}

int app_run(struct config *cfg, bool readonly, long timeout_ms)
{
	struct app *a = xcalloc(1, sizeof(*a));
	a->cfg = cfg;
	a->readonly = readonly || cfg->ui.readonly;
	a->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
	a->base = event_base_new();
	a->http = http_create(a->base);
	if (a->timeout_ms) {
		http_set_default_timeout(a->http, a->timeout_ms);
	}
	a->draw_ev = event_new(a->base, -1, 0, draw, a);

	if (cfg->proxmox.configured && cfg->proxmox.token_secret) {
		a->pve = pve_create(a->http, &cfg->proxmox);
	}
	if (k8s_available(&cfg->kubernetes)) {
		a->k8s = k8s_create(a->base, a->http, &cfg->kubernetes);
	}

	/* The terminal. ESC must not wait a second to be an Esc. */
	set_escdelay(25);
	crash_install();
	if (!initscr()) {
		fputs("labdeck: cannot initialise the terminal (is TERM set?)\n", stderr);
		return 2;
	}
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	if (has_colors()) {
		start_color();
		use_default_colors();
	}
	load_themes(a);
	for (size_t i = 0; i < cfg->n_keys; i++) {
		char why[160];
		if (!keys_override(cfg->keys[i].view, cfg->keys[i].key, cfg->keys[i].action, why,
		                   sizeof(why))) {
			app_message(a, true, "[keys] %s.%s: %s", cfg->keys[i].view,
			            cfg->keys[i].key, why);
		}
	}
	if (cfg->n_warnings) {
		app_message(a, true, "config: %s%s", cfg->warnings[0],
		            cfg->n_warnings > 1 ? " (and more: run labdeck nodes to see all)" : "");
	}

	a->poller =
	        status_poller_create(a->base, a->pve, a->k8s, app_refresh_s(a), on_data_changed, a);
	if (a->k8s) {
		a->pods = pod_store_create(a->base, a->k8s, cfg->kubernetes.namespace_,
		                           on_data_changed, a);
	}
	a->ops = ops_create(a);
	a->guest_actions = guest_actions_create(a);
	for (int i = 0; i < N_TOP; i++) {
		a->top[i] = top_views[i].create ? top_views[i].create(a) : NULL;
	}
	a->stack[0] = a->top[0];
	a->depth = 1;
	view_enter(a->top[0]);

	a->stdin_ev = event_new(a->base, STDIN_FILENO, EV_READ | EV_PERSIST, on_stdin, a);
	event_add(a->stdin_ev, NULL);
	static const int sigs[] = {SIGWINCH, SIGCONT, SIGTERM, SIGHUP, SIGINT};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		a->sig_ev[i] = evsignal_new(a->base, sigs[i], on_signal, a);
		event_add(a->sig_ev[i], NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	a->tick_ev = event_new(a->base, -1, EV_PERSIST, on_tick, a);
	struct timeval one = {1, 0};
	event_add(a->tick_ev, &one);

	app_dirty(a);
	event_base_dispatch(a->base);

	crash_restore_terminal();
	int status = a->exit_status;
	while (a->depth > 1) {
		app_pop(a);
	}
	for (int i = 0; i < N_TOP; i++) {
		if (a->top[i]) {
			a->top[i]->ops->destroy(a->top[i]);
		}
	}
	guest_actions_destroy(a->guest_actions);
	ops_destroy(a->ops);
	pod_store_destroy(a->pods);
	status_poller_destroy(a->poller);
	for (size_t i = 0; i < sizeof(a->sig_ev) / sizeof(a->sig_ev[0]); i++) {
		if (a->sig_ev[i]) {
			event_free(a->sig_ev[i]);
		}
	}
	event_free(a->stdin_ev);
	event_free(a->tick_ev);
	event_free(a->draw_ev);
	pve_destroy(a->pve);
	k8s_destroy(a->k8s);
	http_destroy(a->http);
	event_base_free(a->base);
	theme_finish(&a->theme);
	theme_names_finish(&a->themes);
	free(a);
	return status;
}
