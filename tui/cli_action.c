/* cli_action.c: the read-only refusal, the confirmation and the answer of changing commands (see
 * cli_action.h). */
#include "cli_action.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "discord.h"
#include "text.h"
#include "util.h"

struct cli_progress {
	const struct cli *c;
	char *action, *target;
	struct discord_message *m; /* NULL when [discord] is not configured */
};

/* The Discord mirror of this run: made when first needed, freed after each final wait. */
static struct {
	struct discord *d;
	struct cli_progress *open;         /* the progress not yet ended, or NULL */
	char *ended_action, *ended_target; /* the last progress that ended */
	int warnings;
} mirror;

/* read_answer reads one line from standard input without its line end; false at EOF. */
static bool read_answer(char *line, size_t size)
{
	if (!fgets(line, (int)size, stdin)) {
		fputc('\n', stderr);
		return false;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return true;
}

static bool is_yes(const char *s)
{
	char low[8];
	size_t n = strlen(s);
	if (n >= sizeof(low)) {
		return false;
	}
	for (size_t i = 0; i <= n; i++) {
		low[i] = (char)tolower((unsigned char)s[i]);
	}
	return strcmp(low, "y") == 0 || strcmp(low, "yes") == 0;
}

int cli_action_gate(const struct cli *c, bool yes, const char *what, const char *type_name)
{
	if (c->readonly || c->cfg.ui.readonly) {
		cli_say("%s: refused, labdeck runs read-only (%s)", what,
		        c->readonly ? "--readonly" : "[ui] readonly = true");
		return 2;
	}
	if (yes) {
		return 0;
	}
	if (!isatty(STDIN_FILENO)) {
		cli_say("%s needs a confirmation and standard input is not a terminal: add --yes%s",
		        what, "");
		return 2;
	}
	/* The question starts with a capital, as a question does. */
	char *safe = text_sanitize(what, false);
	if (safe[0]) {
		safe[0] = (char)toupper((unsigned char)safe[0]);
	}
	char line[256];
	bool ok;
	if (type_name) {
		char *name = text_sanitize(type_name, false);
		fprintf(stderr, "%s: type %s to confirm: ", safe, name);
		fflush(stderr);
		ok = read_answer(line, sizeof(line)) && strcmp(line, type_name) == 0;
		free(name);
	} else {
		fprintf(stderr, "%s? [y/N] ", safe);
		fflush(stderr);
		ok = read_answer(line, sizeof(line)) && is_yes(line);
	}
	free(safe);
	if (!ok) {
		fputs("labdeck: not done\n", stderr);
		return 1;
	}
	return 0;
}

/* ---- the Discord mirror ---------------------------------------------------------------- */

static void on_discord_warning(void *ud, const char *msg)
{
	(void)ud;
	mirror.warnings++;
	char *safe = text_sanitize(msg, false);
	fprintf(stderr, "labdeck: warning: %s\n", safe);
	free(safe);
}

static struct discord *mirror_get(const struct cli *c)
{
	if (!c->cfg.discord.configured || !c->cfg.discord.webhook_url ||
	    !c->cfg.discord.webhook_url[0] || !c->base || !c->http) {
		return NULL;
	}
	if (!mirror.d) {
		mirror.d = discord_new(c->base, c->http, c->cfg.discord.webhook_url,
		                       on_discord_warning, NULL);
	}
	return mirror.d;
}

static void on_deadline(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	*(bool *)ud = true;
}

/* mirror_finish waits until Discord took everything (or the deadline), then frees the mirror
 * unless a progress is still open. */
static void mirror_finish(const struct cli *c)
{
	if (!mirror.d) {
		return;
	}
	bool late = false;
	struct event *t = evtimer_new(c->base, on_deadline, &late);
	/* --timeout bounds this wait too: nothing outlasts what the user allowed. */
	long wait_ms = c->timeout_ms > 0 && c->timeout_ms < CLI_ACTION_DISCORD_WAIT_MS
	                       ? c->timeout_ms
	                       : CLI_ACTION_DISCORD_WAIT_MS;
	struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
	evtimer_add(t, &tv);
	while (!late && !discord_idle(mirror.d)) {
		event_base_loop(c->base, EVLOOP_ONCE);
	}
	event_free(t);
	if (!discord_idle(mirror.d)) {
		char msg[160];
		snprintf(
		        msg, sizeof(msg),
		        "discord: the message was not sent within %.1f s (Discord is rate limiting "
		        "or slow); giving up, the action itself is done",
		        wait_ms / 1000.0);
		on_discord_warning(NULL, msg);
	}
	if (!mirror.open) {
		discord_free(mirror.d);
		mirror.d = NULL;
	}
}

/* content is the message: "**ACTION** TARGET: STATE (ID)", network text escaped. */
static char *content(const char *action, const char *target, const char *id, const char *state)
{
	char *a = discord_escape(action ? action : "");
	char *t = discord_escape(target ? target : "");
	char *s = discord_escape(state ? state : "?");
	bool show_id = id && id[0] && (!target || strcmp(id, target) != 0);
	char *i = show_id ? discord_escape(id) : xstrdup("");
	char *out = xasprintf("**%s** %s: %s%s%s%s", a, t, s, show_id ? " (" : "", i,
	                      show_id ? ")" : "");
	free(a);
	free(t);
	free(s);
	free(i);
	return out;
}

static void progress_free(struct cli_progress *p)
{
	if (mirror.open == p) {
		mirror.open = NULL;
	}
	free(mirror.ended_action);
	free(mirror.ended_target);
	mirror.ended_action = p->action;
	mirror.ended_target = p->target;
	free(p);
}

/* mirror_answer sends the final answer of an action to Discord, as cli_action.h says. */
static void mirror_answer(const struct cli *c, const char *action, const char *target,
                          const char *id, const char *state)
{
	struct cli_progress *p = mirror.open;
	const char *t = target ? target : "";
	if (p && str_eq(p->action, action) && str_eq(p->target, t)) {
		if (p->m) {
			char *msg = content(action, target, id, state);
			discord_edit(p->m, msg);
			free(msg);
		}
		progress_free(p);
		mirror_finish(c);
		return;
	}
	if (mirror.ended_action && str_eq(mirror.ended_action, action) &&
	    str_eq(mirror.ended_target, t)) {
		return; /* its message already holds the end */
	}
	struct discord *d = mirror_get(c);
	if (!d) {
		return;
	}
	char *msg = content(action, target, id, state);
	discord_post(d, msg);
	free(msg);
	mirror_finish(c);
}

struct cli_progress *cli_action_progress(const struct cli *c, const char *action,
                                         const char *target)
{
	struct cli_progress *p = xcalloc(1, sizeof(*p));
	p->c = c;
	p->action = xstrdup(action ? action : "");
	p->target = xstrdup(target ? target : "");
	mirror.open = p;
	struct discord *d = mirror_get(c);
	if (d) {
		char *msg = content(action, target, NULL, "started");
		p->m = discord_post(d, msg);
		free(msg);
	}
	return p;
}

void cli_action_progress_state(struct cli_progress *p, const char *state)
{
	if (!p || !p->m) {
		return;
	}
	char *msg = content(p->action, p->target, NULL, state);
	discord_edit(p->m, msg);
	free(msg);
}

void cli_action_progress_end(struct cli_progress *p, const char *state)
{
	if (!p) {
		return;
	}
	const struct cli *c = p->c;
	cli_action_progress_state(p, state);
	progress_free(p);
	mirror_finish(c);
}

void cli_action_print(const struct cli *c, const char *action, const char *target, const char *id,
                      const char *state, json_t *extra)
{
	if (c->json) {
		json_t *root = json_object();
		json_object_set_new(root, "action", json_string(action));
		json_object_set_new(root, "target", target ? json_string(target) : json_null());
		json_object_set_new(root, "id", id ? json_string(id) : json_null());
		json_object_set_new(root, "state", state ? json_string(state) : json_null());
		if (extra) {
			json_object_update(root, extra);
			json_decref(extra);
		}
		bool tty = isatty(STDOUT_FILENO);
		size_t flags =
		        JSON_INDENT(tty ? 2 : 0) | JSON_COMPACT | (tty ? JSON_ENSURE_ASCII : 0);
		{
			char *json =
			        json_dumps(root, flags); /* C1 and bidi escaped (text_json_fputs) */
			text_json_fputs(json, stdout);
			free(json);
		}
		fputc('\n', stdout);
		fflush(stdout);
		json_decref(root);
		mirror_answer(c, action, target, id, state);
		return;
	}
	json_decref(extra);
	mirror_answer(c, action, target, id, state);
	char *line = xasprintf("%s %s: %s%s%s%s", action, target ? target : "", state ? state : "?",
	                       id && (!target || strcmp(id, target) != 0) ? " (" : "",
	                       id && (!target || strcmp(id, target) != 0) ? id : "",
	                       id && (!target || strcmp(id, target) != 0) ? ")" : "");
	char *safe = isatty(STDOUT_FILENO) ? text_sanitize(line, false) : xstrdup(line);
	puts(safe);
	fflush(stdout);
	free(safe);
	free(line);
}
