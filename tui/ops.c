/* ops.c: the console's changing actions: log, announcements, Discord mirror (see ops.h). */
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "discord.h"
#include "util.h"

/* Which Discord message mirrors which action. */
struct mirror {
	unsigned long id;
	struct discord_message *msg;
};

struct ops {
	struct app *app;
	struct action_log *log;
	int listener;
	struct discord *discord;
	struct mirror *mirrors;
	size_t n_mirrors, cap_mirrors;
	char *last_end;     /* the last end announced, for a Discord warning coming after it */
	char *discord_note; /* a Discord warning that came while an action ran, or NULL */
};

/* A Discord warning goes on the bottom line once. The end of an action is said there too, so
 * neither hides the other: a warning while an action runs is said at once and again with its
 * end; one after the end is said with that end. */
static void on_discord_warning(void *ud, const char *msg)
{
	struct ops *o = ud;
	if (action_log_running(o->log) == 0 && o->last_end) {
		app_message(o->app, true, "%s · %s", o->last_end, msg);
		return;
	}
	app_message(o->app, true, "%s", msg);
	free(o->discord_note);
	o->discord_note = xstrdup(msg);
}

/* The Discord text of an entry: "**stop guest** 101 \(web\) on pve-a: OK — UPID:...". */
static char *discord_text(const struct action_entry *e)
{
	char *what = discord_escape(e->what);
	char *target = discord_escape(e->target);
	char *state = discord_escape(e->state ? e->state : "");
	char *detail = e->detail ? discord_escape(e->detail) : NULL;
	const char *mark = e->phase == ACTION_DONE        ? "✅"
	                   : e->phase == ACTION_FAILED    ? "❌"
	                   : e->phase == ACTION_CANCELLED ? "⏹"
	                                                  : "⏳";
	char *s = xasprintf("%s **%s** %s: %s%s%s", mark, what, target, state, detail ? " — " : "",
	                    detail ? detail : "");
	free(what);
	free(target);
	free(state);
	free(detail);
	return s;
}

static void mirror(struct ops *o, const struct action_entry *e)
{
	if (!o->discord) {
		return; /* a stopped mirror: the next post tries again, edits are dropped */
	}
	char *text = discord_text(e);
	for (size_t i = 0; i < o->n_mirrors; i++) {
		if (o->mirrors[i].id == e->id) {
			discord_edit(o->mirrors[i].msg, text);
			free(text);
			return;
		}
	}
	if (o->n_mirrors == o->cap_mirrors) {
		o->cap_mirrors = o->cap_mirrors ? o->cap_mirrors * 2 : 16;
		o->mirrors = xrealloc(o->mirrors, o->cap_mirrors * sizeof(*o->mirrors));
	}
	o->mirrors[o->n_mirrors++] = (struct mirror){e->id, discord_post(o->discord, text)};
	free(text);
}

static void on_change(void *ud, const struct action_entry *e, bool ended)
{
	struct ops *o = ud;
	mirror(o, e);
	if (ended) {
		free(o->last_end);
		o->last_end = xasprintf("%s %s: %s%s%s", e->what, e->target,
		                        e->state ? e->state : action_phase_name(e->phase),
		                        e->detail && e->phase != ACTION_DONE ? " — " : "",
		                        e->detail && e->phase != ACTION_DONE ? e->detail : "");
		if (o->discord_note && action_log_running(o->log) == 0) {
			app_message(o->app, true, "%s · %s", o->last_end, o->discord_note);
			free(o->discord_note);
			o->discord_note = NULL;
		} else {
			app_message(o->app, e->phase != ACTION_DONE, "%s", o->last_end);
		}
	}
	app_dirty(o->app);
}

struct ops *ops_create(struct app *a)
{
	struct ops *o = xcalloc(1, sizeof(*o));
	o->app = a;
	o->log = action_log_new(0);
	o->listener = action_log_listen(o->log, on_change, o);
	const struct config *cfg = app_config(a);
	if (cfg->discord.configured && cfg->discord.webhook_url) {
		o->discord = discord_new(app_base(a), app_http(a), cfg->discord.webhook_url,
		                         on_discord_warning, o);
		discord_set_keep_trying(o->discord, true); /* a console runs for hours */
	}
	return o;
}

void ops_destroy(struct ops *o)
{
	if (!o) {
		return;
	}
	discord_free(o->discord);
	free(o->mirrors);
	free(o->last_end);
	free(o->discord_note);
	action_log_free(o->log);
	free(o);
}

unsigned long ops_begin(struct ops *o, const char *what, const char *target)
{
	return action_log_begin(o->log, what, target);
}

void ops_update(struct ops *o, unsigned long id, const char *state, enum action_phase phase,
                const char *detail)
{
	action_log_update(o->log, id, state, phase, detail);
}

const struct action_log *ops_log(const struct ops *o)
{
	return o->log;
}

bool ops_status(const struct ops *o, char *out, size_t size)
{
	size_t running = action_log_running(o->log);
	if (running == 0) {
		return false;
	}
	if (running > 1) {
		snprintf(out, size, "⟳ %zu actions running", running);
		return true;
	}
	for (size_t i = action_log_count(o->log); i-- > 0;) {
		const struct action_entry *e = action_log_at(o->log, i);
		if (!action_phase_ended(e->phase)) {
			snprintf(out, size, "⟳ %s %s: %s", e->what, e->target,
			         e->state ? e->state : "running");
			return true;
		}
	}
	return false;
}
