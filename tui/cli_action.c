/* cli_action.c: the read-only refusal, the confirmation and the answer of changing commands (see
 * cli_action.h). */
#include "cli_action.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "text.h"
#include "util.h"

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char *safe = text_sanitize(msg, false);
	fprintf(stderr, "labdeck: %s\n", safe);
	free(safe);
}

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
		say("%s: refused, labdeck runs read-only (%s)", what,
		    c->readonly ? "--readonly" : "[ui] readonly = true");
		return 2;
	}
	if (yes) {
		return 0;
	}
	if (!isatty(STDIN_FILENO)) {
		say("%s needs a confirmation and standard input is not a terminal: add --yes%s",
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
		json_dumpf(root, stdout, flags);
		fputc('\n', stdout);
		fflush(stdout);
		json_decref(root);
		return;
	}
	json_decref(extra);
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
