/* help.c: the `?` overlay, generated from the key table (keys.c) so it never lies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "palette.h"
#include "text.h"

/* first_of_action: whether binding i is the first of its action in scope s (the line is drawn
 * once per action). */
static bool first_of_action(const struct binding *b, size_t i, enum key_scope s)
{
	for (size_t j = 0; j < i; j++) {
		if (b[j].scope == s && b[j].action == b[i].action) {
			return false;
		}
	}
	return true;
}

/* action_keys: every key bound to binding i's action in scope s, each name once (Enter arrives
 * as three codes), each between quote and quote ("" or "`"), separated by spaces. */
static void action_keys(const struct binding *b, size_t n, size_t i, enum key_scope s,
                        const char *quote, char *out, size_t size)
{
	char seen[8][16];
	size_t n_seen = 0, used = 0;
	out[0] = '\0';
	for (size_t j = i; j < n && used < size; j++) {
		if (b[j].scope != s || b[j].action != b[i].action) {
			continue;
		}
		char k[16];
		keys_name(b[j].key, k, sizeof(k));
		bool dup = false;
		for (size_t x = 0; x < n_seen; x++) {
			dup |= strcmp(seen[x], k) == 0;
		}
		if (dup || n_seen == sizeof(seen) / sizeof(seen[0])) {
			continue;
		}
		snprintf(seen[n_seen++], sizeof(seen[0]), "%s", k);
		used += (size_t)snprintf(out + used, size - used, "%s%s%s%s", used ? " " : "",
		                         quote, k, quote);
	}
}

/* Draws one scope's bindings; returns the next line index. */
static int draw_scope(WINDOW *w, int line, int y, int h, int cols, int scroll, enum key_scope s,
                      const char *heading)
{
	size_t n;
	const struct binding *b = keys_bindings(&n);
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		if (b[i].scope == s) {
			any = true;
		}
	}
	if (!any) {
		return line;
	}
	if (line - scroll >= 0 && line - scroll < h) {
		wattrset(w, palette_attr(SLOT_HEADER));
		mvwaddnstr(w, y + line - scroll, 1, heading, cols - 2);
	}
	line++;
	for (size_t i = 0; i < n; i++) {
		if (b[i].scope != s) {
			continue;
		}
		if (!first_of_action(b, i, s)) {
			continue;
		}
		char keys[64];
		action_keys(b, n, i, s, "", keys, sizeof(keys));
		if (line - scroll >= 0 && line - scroll < h) {
			int yy = y + line - scroll;
			char *fit = text_fit(keys, 14, false);
			wattrset(w, palette_attr(SLOT_HELP_KEY));
			mvwaddstr(w, yy, 3, fit);
			free(fit);
			char text[200];
			snprintf(text, sizeof(text), "%-12s %s", action_name(b[i].action),
			         action_help(b[i].action));
			char *fit2 = text_fit(text, cols - 20 > 10 ? cols - 20 : 10, false);
			wattrset(w, palette_attr(SLOT_HELP_TEXT));
			mvwaddstr(w, yy, 19, fit2);
			free(fit2);
		}
		line++;
	}
	return line + 1;
}

void help_draw(WINDOW *w, int y, int h, int cols, enum key_scope scope, int scroll)
{
	int line = 0;
	if (scope != SCOPE_GLOBAL && scope != SCOPE_LIST) {
		char heading[64];
		snprintf(heading, sizeof(heading), "Keys in this view (%s)",
		         keys_scope_name(scope));
		line = draw_scope(w, line, y, h, cols, scroll, scope, heading);
	}
	line = draw_scope(w, line, y, h, cols, scroll, SCOPE_LIST, "Lists");
	line = draw_scope(w, line, y, h, cols, scroll, SCOPE_GLOBAL, "Everywhere");
	if (line - scroll >= 0 && line - scroll < h) {
		wattrset(w, palette_attr(SLOT_DIM));
		mvwaddnstr(
		        w, y + line - scroll, 1,
		        "Commands: :nodes :guests :pods [NS] :ns NAME|all :theme NAME :refresh :q"
		        " · chat: :session NAME :sessions :new :model NAME :rag on|off :system TEXT"
		        "   (j/k scroll, Esc or ? closes)",
		        cols - 2);
	}
	wattrset(w, palette_attr(SLOT_NORMAL));
}

void help_print_markdown(FILE *out)
{
	static const enum key_scope order[] = {SCOPE_GLOBAL,   SCOPE_LIST,   SCOPE_PODS,
	                                       SCOPE_DETAIL,   SCOPE_LOGS,   SCOPE_CHAT,
	                                       SCOPE_SESSIONS, SCOPE_GUESTS, SCOPE_HOSTS,
	                                       SCOPE_DEPLOY,   SCOPE_JOBS,   SCOPE_TOPOLOGY};
	_Static_assert(sizeof(order) / sizeof(order[0]) == SCOPE_COUNT,
	               "every scope has a section in docs/keys.md");
	static const char *const titles[] = {"Everywhere",
	                                     "In lists (guests, pods)",
	                                     "Pods view",
	                                     "Pod details",
	                                     "Log view",
	                                     "Chat view",
	                                     "Sessions list (S in the chat)",
	                                     "Guests view",
	                                     "Hosts view (SSH)",
	                                     "Deploy view (ArgoCD, GitHub Actions)",
	                                     "Jobs view (Airflow DAGs, CronJobs)",
	                                     "Topology view"};
	size_t n;
	const struct binding *b = keys_bindings(&n);
	for (size_t s = 0; s < sizeof(order) / sizeof(order[0]); s++) {
		fprintf(out, "## %s\n\n| key | action | what it does |\n| --- | --- | --- |\n",
		        titles[s]);
		for (size_t i = 0; i < n; i++) {
			if (b[i].scope != order[s]) {
				continue;
			}
			if (!first_of_action(b, i, order[s])) {
				continue;
			}
			char keys[96];
			action_keys(b, n, i, order[s], "`", keys, sizeof(keys));
			fprintf(out, "| %s", keys);
			fprintf(out, " | %s | %s |\n", action_name(b[i].action),
			        action_help(b[i].action));
		}
		fputs("\n", out);
	}
}
