/* view_actions.c: the action log (`A`, `:actions`): every changing action started from this
 * console — what, on what, when, its state now and how it ended — newest first, live while an
 * action runs. Enter shows the selected action's history of states on the bottom line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "format.h"
#include "ops.h"
#include "palette.h"
#include "util.h"

struct actions_view {
	struct view base;
	struct listview lv;
	size_t seen_count;
	int64_t seen_updated;
};

enum { C_WHEN, C_WHAT, C_TARGET, C_STATE, C_TOOK, C_DETAIL, C_N };

static const struct list_column columns[C_N] = {
        [C_WHEN] = {.title = "WHEN", .right = true, .numeric = true},
        [C_WHAT] = {.title = "ACTION"},
        [C_TARGET] = {.title = "TARGET", .max_width = 32, .flexible = true},
        [C_STATE] = {.title = "STATE", .max_width = 28, .keep = 10},
        [C_TOOK] = {.title = "TOOK", .right = true, .numeric = true, .optional = true},
        [C_DETAIL] = {.title = "DETAIL", .max_width = 60, .optional = true},
};

static const struct action_log *log_of(const struct actions_view *v)
{
	return ops_log(app_ops(v->base.app));
}

/* Row 0 is the newest entry. */
static const struct action_entry *entry(const struct actions_view *v, size_t row)
{
	const struct action_log *l = log_of(v);
	size_t n = action_log_count(l);
	return row < n ? action_log_at(l, n - 1 - row) : NULL;
}

static size_t count(void *ud)
{
	return action_log_count(log_of(ud));
}

static void cell(void *ud, size_t row, size_t col, char *buf, size_t size)
{
	const struct action_entry *e = entry(ud, row);
	buf[0] = '\0';
	if (!e) {
		return;
	}
	int64_t now_ms = (int64_t)(now_wall() * 1000.0);
	switch (col) {
	case C_WHEN: {
		char age[32];
		format_duration((now_ms - e->started_ms) / 1000, age, sizeof(age));
		snprintf(buf, size, "%s ago", age);
		break;
	}
	case C_WHAT:
		snprintf(buf, size, "%s", e->what);
		break;
	case C_TARGET:
		snprintf(buf, size, "%s", e->target);
		break;
	case C_STATE: {
		/* A symbol with the word: colour is never the only sign. */
		const char *sym = e->phase == ACTION_DONE        ? "✓"
		                  : e->phase == ACTION_FAILED    ? "✗"
		                  : e->phase == ACTION_CANCELLED ? "■"
		                                                 : "⟳";
		snprintf(buf, size, "%s %s", sym,
		         e->state ? e->state : action_phase_name(e->phase));
		break;
	}
	case C_TOOK: {
		int64_t end = e->ended_ms ? e->ended_ms : now_ms;
		format_duration((end - e->started_ms) / 1000, buf, size);
		break;
	}
	case C_DETAIL:
		snprintf(buf, size, "%s", e->detail ? e->detail : "");
		break;
	}
}

static double number(void *ud, size_t row, size_t col)
{
	const struct action_entry *e = entry(ud, row);
	if (!e) {
		return 0;
	}
	if (col == C_WHEN) {
		return (double)-e->started_ms; /* newest first when ascending */
	}
	return (double)((e->ended_ms ? e->ended_ms : (int64_t)(now_wall() * 1000)) - e->started_ms);
}

static enum theme_slot slot(void *ud, size_t row)
{
	const struct action_entry *e = entry(ud, row);
	return !e                           ? SLOT_NORMAL
	       : e->phase == ACTION_FAILED  ? SLOT_STATUS_FAIL
	       : e->phase == ACTION_RUNNING ? SLOT_STATUS_WARN
	                                    : SLOT_NORMAL;
}

static void key(void *ud, size_t row, char *buf, size_t size)
{
	const struct action_entry *e = entry(ud, row);
	snprintf(buf, size, "%lu", e ? e->id : 0);
}

/* sync: the log changed (a new action, or a state) since the rows were read. */
static void sync_rows(struct actions_view *v)
{
	const struct action_log *l = log_of(v);
	size_t n = action_log_count(l);
	int64_t updated = 0;
	for (size_t i = 0; i < n; i++) {
		const struct action_entry *e = action_log_at(l, i);
		updated = e->updated_ms > updated ? e->updated_ms : updated;
	}
	if (n != v->seen_count || updated != v->seen_updated) {
		v->seen_count = n;
		v->seen_updated = updated;
		listview_data_changed(&v->lv);
	}
}

static void draw(struct view *vv, WINDOW *w, int y, int h, int cols)
{
	struct actions_view *v = (struct actions_view *)vv;
	sync_rows(v);
	if (v->seen_count == 0) {
		wattrset(w, palette_attr(SLOT_DIM));
		mvwaddnstr(w, y + 1, 2,
		           "no actions yet: start, stop or reboot a guest in view 2 (U D X B); "
		           "each one is listed here with how it ended",
		           cols - 4);
		return;
	}
	listview_draw(&v->lv, w, y, 0, h, cols);
}

static bool handle(struct view *vv, enum action a, int k)
{
	struct actions_view *v = (struct actions_view *)vv;
	(void)k;
	sync_rows(v);
	if (a != ACT_ENTER) {
		return false;
	}
	size_t row = listview_selected(&v->lv);
	const struct action_entry *e = row == (size_t)-1 ? NULL : entry(v, row);
	if (!e) {
		return true;
	}
	struct buf b;
	buf_init(&b);
	buf_appendf(&b, "%s %s:", e->what, e->target);
	for (size_t i = 0; i < e->n_history; i++) {
		char at[32];
		format_duration((e->history[i].at_ms - e->started_ms) / 1000, at, sizeof(at));
		buf_appendf(&b, "%s +%s %s", i ? " →" : "", at, e->history[i].state);
	}
	if (e->detail) {
		buf_appendf(&b, " — %s", e->detail);
	}
	app_message(vv->app, e->phase == ACTION_FAILED, "%s", b.data);
	buf_finish(&b);
	return true;
}

static void title(struct view *vv, char *out, size_t size)
{
	struct actions_view *v = (struct actions_view *)vv;
	sync_rows(v);
	snprintf(out, size, "actions %zu (%zu running)", v->seen_count,
	         action_log_running(log_of(v)));
}

static struct listview *list(struct view *vv)
{
	return &((struct actions_view *)vv)->lv;
}

static void sync(struct view *vv)
{
	sync_rows((struct actions_view *)vv);
}

static void destroy(struct view *vv)
{
	struct actions_view *v = (struct actions_view *)vv;
	listview_finish(&v->lv);
	free(v);
}

static const struct view_ops ops = {
        .name = "actions",
        .scope = SCOPE_LIST,
        .draw = draw,
        .handle = handle,
        .title = title,
        .list = list,
        .destroy = destroy,
        .sync = sync,
};

struct view *view_actions_create(struct app *a)
{
	struct actions_view *v = xcalloc(1, sizeof(*v));
	v->base.ops = &ops;
	v->base.app = a;
	struct list_source src = {
	        .cols = columns,
	        .ncols = C_N,
	        .count = count,
	        .cell = cell,
	        .number = number,
	        .slot = slot,
	        .key = key,
	        .ud = v,
	};
	listview_init(&v->lv, &src);
	return &v->base;
}
