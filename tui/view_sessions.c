/* view_sessions.c: the saved conversations (`S` in the chat view): name, messages, last update,
 * most recent first, in the store the chat uses (Redis or files). Enter resumes one in the chat,
 * `R` renames it (a prompt at the bottom), `d` deletes it after a `y`, `n` starts a new
 * conversation. The list is read when the view opens and after each change; a store that is away
 * says so in the view, and nothing changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "format.h"
#include "palette.h"
#include "session.h"
#include "text.h"
#include "util.h"

enum prompt { PROMPT_NONE, PROMPT_RENAME, PROMPT_DELETE };

struct sessions_view {
	struct view base;
	struct view *chat;
	struct listview lv;
	struct session_list *list;
	struct session_op *op; /* a list, rename or delete in flight */
	char error[256];
	enum prompt prompt;
	char target[SESSION_NAME_MAX + 1]; /* the session the prompt is about */
	char name[SESSION_NAME_MAX + 1];   /* the new name being typed */
	size_t name_len;
};

static const struct list_column columns[] = {
        {.title = "NAME", .flexible = true},
        {.title = "MESSAGES", .right = true, .numeric = true},
        {.title = "UPDATED", .right = true, .numeric = true},
};

static size_t count(void *ud)
{
	struct sessions_view *s = ud;
	return s->list ? s->list->len : 0;
}

static void cell(void *ud, size_t row, size_t col, char *buf, size_t size)
{
	struct sessions_view *s = ud;
	const struct session_info *i = &s->list->items[row];
	if (col == 0) {
		snprintf(buf, size, "%s", i->name);
	} else if (col == 1) {
		snprintf(buf, size, "%zu", i->messages);
	} else {
		char age[32];
		format_duration((int64_t)(now_wall() - i->updated), age, sizeof(age));
		snprintf(buf, size, "%s ago", age);
	}
}

static double number(void *ud, size_t row, size_t col)
{
	struct sessions_view *s = ud;
	const struct session_info *i = &s->list->items[row];
	return col == 1 ? (double)i->messages : -i->updated; /* newest first when ascending */
}

static enum theme_slot slot(void *ud, size_t row)
{
	struct sessions_view *s = ud;
	const char *cur = view_chat_session_name(s->chat);
	return cur && strcmp(cur, s->list->items[row].name) == 0 ? SLOT_ACCENT : SLOT_NORMAL;
}

static void key(void *ud, size_t row, char *buf, size_t size)
{
	struct sessions_view *s = ud;
	snprintf(buf, size, "%s", s->list->items[row].name);
}

/* --- the store --- */

static void reload(struct sessions_view *s);

static void on_list(void *ud, struct session_list *list, const struct err *err)
{
	struct sessions_view *s = ud;
	s->op = NULL;
	if (err) {
		snprintf(s->error, sizeof(s->error), "%s", err->msg);
	} else {
		s->error[0] = '\0';
		session_list_destroy(s->list);
		s->list = list;
		listview_data_changed(&s->lv);
	}
	app_dirty(s->base.app);
}

static void reload(struct sessions_view *s)
{
	session_cancel(s->op);
	s->op = session_list_all(view_chat_store(s->chat), on_list, s);
}

static void on_renamed(void *ud, const struct err *err)
{
	struct sessions_view *s = ud;
	s->op = NULL;
	if (err) {
		app_message(s->base.app, true, "%s", err->msg);
	} else {
		view_chat_session_renamed(s->chat, s->target, s->name);
		app_message(s->base.app, false, "renamed %s to %s", s->target, s->name);
	}
	reload(s);
}

static void on_deleted(void *ud, const struct err *err)
{
	struct sessions_view *s = ud;
	s->op = NULL;
	if (err) {
		app_message(s->base.app, true, "%s", err->msg);
	} else {
		view_chat_session_deleted(s->chat, s->target);
		app_message(s->base.app, false, "deleted session %s", s->target);
	}
	reload(s);
}

/* --- keys --- */

static const struct session_info *selected(struct sessions_view *s)
{
	size_t row = listview_selected(&s->lv);
	return s->list && row != (size_t)-1 ? &s->list->items[row] : NULL;
}

static void prompt_key(struct sessions_view *s, int k)
{
	if (s->prompt == PROMPT_DELETE) {
		s->prompt = PROMPT_NONE;
		if (k == 'y' || k == 'Y') {
			session_cancel(s->op);
			s->op = session_delete(view_chat_store(s->chat), s->target, on_deleted, s);
		} else {
			app_message(s->base.app, false, "kept %s", s->target);
		}
		return;
	}
	if (k == 27) {
		s->prompt = PROMPT_NONE;
	} else if (k == '\r' || k == '\n' || k == KEY_ENTER + KEYS_FN_BASE) {
		struct err err;
		if (!session_name_valid(s->name, &err)) {
			app_message(s->base.app, true, "%s", err.msg);
			return;
		}
		s->prompt = PROMPT_NONE;
		if (strcmp(s->name, s->target) != 0) {
			session_cancel(s->op);
			s->op = session_rename(view_chat_store(s->chat), s->target, s->name,
			                       on_renamed, s);
		}
	} else if (k == 127 || k == 8 || k == KEY_BACKSPACE + KEYS_FN_BASE) {
		if (s->name_len) {
			s->name[--s->name_len] = '\0';
		}
	} else if (k == KEYS_CTRL('u')) {
		s->name_len = 0;
		s->name[0] = '\0';
	} else if (k > ' ' && k < 127 && s->name_len < SESSION_NAME_MAX) {
		/* Names are ASCII (session_name_valid says which); the rest is refused on Enter. */
		s->name[s->name_len++] = (char)k;
		s->name[s->name_len] = '\0';
	}
}

static bool handle(struct view *v, enum action a, int k)
{
	struct sessions_view *s = (struct sessions_view *)v;
	if (s->prompt != PROMPT_NONE) {
		if (k >= 0) {
			prompt_key(s, k);
		}
		return true;
	}
	const struct session_info *i = selected(s);
	switch (a) {
	case ACT_ENTER:
		if (i) {
			view_chat_open_session(s->chat, i->name);
			app_pop(v->app); /* frees s */
		}
		return true;
	case ACT_NEW:
		view_chat_new_session(s->chat);
		app_pop(v->app);
		return true;
	case ACT_RENAME:
		if (i) {
			snprintf(s->target, sizeof(s->target), "%s", i->name);
			snprintf(s->name, sizeof(s->name), "%s", i->name);
			s->name_len = strlen(s->name);
			s->prompt = PROMPT_RENAME;
		}
		return true;
	case ACT_DELETE:
		if (i) {
			snprintf(s->target, sizeof(s->target), "%s", i->name);
			s->prompt = PROMPT_DELETE;
		}
		return true;
	case ACT_REFRESH:
		reload(s);
		return true;
	default:
		return listview_handle(&s->lv, a);
	}
}

static bool wants_raw(struct view *v)
{
	return ((struct sessions_view *)v)->prompt != PROMPT_NONE;
}

static bool cancel(struct view *v)
{
	struct sessions_view *s = (struct sessions_view *)v;
	if (s->prompt != PROMPT_NONE) {
		s->prompt = PROMPT_NONE;
		return true;
	}
	return false;
}

/* --- drawing --- */

static void draw(struct view *v, WINDOW *w, int y, int h, int cols)
{
	struct sessions_view *s = (struct sessions_view *)v;
	int list_h = h - 1;
	if (s->error[0] || (s->list && s->list->len == 0) || (!s->list && s->op)) {
		const char *what = s->error[0] ? s->error
		                   : s->list   ? "no saved conversations yet: :session NAME in the "
		                                 "chat keeps the one on screen"
		                               : "reading the sessions…";
		char *safe = text_sanitize(what, false);
		char *fit = text_fit(safe, cols, false);
		wattrset(w, palette_attr(s->error[0] ? SLOT_ERROR : SLOT_DIM));
		mvwaddstr(w, y, 0, fit);
		free(fit);
		free(safe);
		y++;
		list_h--;
	}
	if (s->list && s->list->len) {
		listview_draw(&s->lv, w, y, 0, list_h, cols);
	}
	char line[300];
	if (s->prompt == PROMPT_RENAME) {
		snprintf(line, sizeof(line), "rename %s to: %s", s->target, s->name);
	} else if (s->prompt == PROMPT_DELETE) {
		size_t n = 0;
		for (size_t i = 0; s->list && i < s->list->len; i++) {
			if (strcmp(s->list->items[i].name, s->target) == 0) {
				n = s->list->items[i].messages;
			}
		}
		snprintf(line, sizeof(line),
		         "delete session %s (%zu messages)? y deletes, any other "
		         "key keeps it",
		         s->target, n);
	} else {
		snprintf(line, sizeof(line),
		         "Enter resumes · R renames · d deletes · n new conversation · kept in %s",
		         session_store_describe(view_chat_store(s->chat)));
	}
	char *safe = text_sanitize(line, false);
	char *fit = text_fit(safe, cols, false);
	wattrset(w, palette_attr(s->prompt == PROMPT_NONE ? SLOT_DIM : SLOT_PROMPT));
	mvwaddstr(w, y + list_h, 0, fit);
	free(fit);
	free(safe);
}

static void title(struct view *v, char *out, size_t size)
{
	struct sessions_view *s = (struct sessions_view *)v;
	snprintf(out, size, "sessions %zu%s", s->list ? s->list->len : 0,
	         s->op ? " · reading…" : "");
}

static struct listview *list(struct view *v)
{
	return &((struct sessions_view *)v)->lv;
}

static void destroy(struct view *v)
{
	struct sessions_view *s = (struct sessions_view *)v;
	session_cancel(s->op);
	listview_finish(&s->lv);
	session_list_destroy(s->list);
	free(s);
}

static const struct view_ops ops = {
        .name = "sessions",
        .scope = SCOPE_SESSIONS,
        .draw = draw,
        .handle = handle,
        .title = title,
        .list = list,
        .cancel = cancel,
        .destroy = destroy,
        .wants_raw = wants_raw,
};

struct view *view_sessions_create(struct app *a, struct view *chat)
{
	struct sessions_view *s = xcalloc(1, sizeof(*s));
	s->base.ops = &ops;
	s->base.app = a;
	s->chat = chat;
	struct list_source src = {
	        .cols = columns,
	        .ncols = sizeof(columns) / sizeof(columns[0]),
	        .count = count,
	        .cell = cell,
	        .number = number,
	        .slot = slot,
	        .key = key,
	        .ud = s,
	};
	listview_init(&s->lv, &src);
	reload(s);
	return &s->base;
}
