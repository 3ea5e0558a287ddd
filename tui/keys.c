/* keys.c: see keys.h. */
#include "keys.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define FN(k) ((k) + KEYS_FN_BASE)
#define MAX_BINDINGS 96

static const struct {
	enum action a;
	const char *name, *help;
} actions[] = {
#define X(e, n, h) {e, n, h},
        ACTIONS(X)
#undef X
};

static struct binding bindings[MAX_BINDINGS] = {
        {SCOPE_GLOBAL, 'q', ACT_QUIT},
        {SCOPE_GLOBAL, '?', ACT_HELP},
        {SCOPE_GLOBAL, '1', ACT_VIEW_NODES},
        {SCOPE_GLOBAL, '2', ACT_VIEW_GUESTS},
        {SCOPE_GLOBAL, '3', ACT_VIEW_PODS},
        {SCOPE_GLOBAL, '4', ACT_VIEW_CHAT},
        {SCOPE_GLOBAL, '5', ACT_VIEW_DEPLOY},
        {SCOPE_GLOBAL, '6', ACT_VIEW_JOBS},
        {SCOPE_GLOBAL, '7', ACT_VIEW_HOSTS},
        {SCOPE_GLOBAL, '8', ACT_VIEW_TOPOLOGY},
        {SCOPE_GLOBAL, ':', ACT_COMMAND},
        {SCOPE_GLOBAL, 27, ACT_BACK},
        {SCOPE_GLOBAL, 'r', ACT_REFRESH},
        {SCOPE_GLOBAL, 't', ACT_THEME},
        {SCOPE_GLOBAL, 'A', ACT_ACTIONS},
        {SCOPE_GLOBAL, KEYS_CTRL('l'), ACT_REDRAW},
        {SCOPE_LIST, '/', ACT_FILTER},
        {SCOPE_LIST, 'j', ACT_DOWN},
        {SCOPE_LIST, FN(KEY_DOWN), ACT_DOWN},
        {SCOPE_LIST, 'k', ACT_UP},
        {SCOPE_LIST, FN(KEY_UP), ACT_UP},
        {SCOPE_LIST, 'g', ACT_TOP},
        {SCOPE_LIST, FN(KEY_HOME), ACT_TOP},
        {SCOPE_LIST, 'G', ACT_BOTTOM},
        {SCOPE_LIST, FN(KEY_END), ACT_BOTTOM},
        {SCOPE_LIST, FN(KEY_NPAGE), ACT_PAGE_DOWN},
        {SCOPE_LIST, KEYS_CTRL('f'), ACT_PAGE_DOWN},
        {SCOPE_LIST, FN(KEY_PPAGE), ACT_PAGE_UP},
        {SCOPE_LIST, KEYS_CTRL('b'), ACT_PAGE_UP},
        {SCOPE_LIST, '\n', ACT_ENTER},
        {SCOPE_LIST, '\r', ACT_ENTER},
        {SCOPE_LIST, FN(KEY_ENTER), ACT_ENTER},
        {SCOPE_LIST, 's', ACT_SORT},
        {SCOPE_PODS, 'l', ACT_LOGS},
        {SCOPE_PODS, 'n', ACT_NAMESPACE},
        {SCOPE_DETAIL, 'l', ACT_LOGS},
        {SCOPE_LOGS, 'p', ACT_PAUSE},
        {SCOPE_LOGS, ' ', ACT_PAUSE},
        {SCOPE_LOGS, '/', ACT_SEARCH},
        {SCOPE_LOGS, 'n', ACT_NEXT_MATCH},
        {SCOPE_LOGS, 'N', ACT_PREV_MATCH},
        {SCOPE_LOGS, 'f', ACT_BOTTOM},
        {SCOPE_CHAT, '\r', ACT_CHAT_INPUT},
        {SCOPE_CHAT, 'i', ACT_CHAT_INPUT},
        {SCOPE_CHAT, 'y', ACT_COPY},
        {SCOPE_CHAT, 'Y', ACT_COPY_CODE},
        {SCOPE_CHAT, 'p', ACT_PROVIDER},
        {SCOPE_CHAT, 'm', ACT_MODEL},
        {SCOPE_CHAT, 'R', ACT_RAG},
        {SCOPE_CHAT, 'S', ACT_SESSIONS},
        {SCOPE_SESSIONS, 'R', ACT_RENAME},
        {SCOPE_SESSIONS, 'd', ACT_DELETE},
        {SCOPE_SESSIONS, 'n', ACT_NEW},
        {SCOPE_GUESTS, 'U', ACT_GUEST_START},
        {SCOPE_GUESTS, 'D', ACT_GUEST_SHUTDOWN},
        {SCOPE_GUESTS, 'X', ACT_GUEST_STOP},
        {SCOPE_GUESTS, 'B', ACT_GUEST_REBOOT},
        {SCOPE_JOBS, 'T', ACT_JOBS_TRIGGER},
        {SCOPE_JOBS, 'C', ACT_JOBS_TRIGGER_CONF},
        {SCOPE_JOBS, 'P', ACT_JOBS_PAUSE},
        {SCOPE_HOSTS, 'c', ACT_HOST_COMMAND},
        {SCOPE_HOSTS, 'o', ACT_HOST_OUTPUT},
        {SCOPE_HOSTS, 'w', ACT_WRAP},
        {SCOPE_DEPLOY, '\t', ACT_DEPLOY_SECTION},
        {SCOPE_DEPLOY, 'S', ACT_DEPLOY_SYNC},
        {SCOPE_DEPLOY, 'P', ACT_DEPLOY_PRUNE},
        {SCOPE_DEPLOY, 'D', ACT_DEPLOY_DRY_RUN},
        {SCOPE_DEPLOY, 'W', ACT_DEPLOY_DISPATCH},
        {SCOPE_DEPLOY, 'I', ACT_DEPLOY_DISPATCH_INPUTS},
        {SCOPE_TOPOLOGY, '\n', ACT_TOPO_FOLD},
        {SCOPE_TOPOLOGY, 'o', ACT_TOPO_OPEN},
        {SCOPE_TOPOLOGY, '\r', ACT_TOPO_FOLD},
        {SCOPE_TOPOLOGY, FN(KEY_ENTER), ACT_TOPO_FOLD},
        {SCOPE_TOPOLOGY, ' ', ACT_TOPO_FOLD},
};

static size_t n_bindings(void)
{
	size_t n = 0;
	while (n < MAX_BINDINGS && bindings[n].action != ACT_NONE) {
		n++;
	}
	return n;
}

const char *action_name(enum action a)
{
	return a < ACT_COUNT ? actions[a].name : "?";
}

const char *action_help(enum action a)
{
	return a < ACT_COUNT ? actions[a].help : "";
}

enum action action_by_name(const char *name)
{
	for (size_t i = 1; i < ACT_COUNT; i++) {
		if (strcmp(actions[i].name, name) == 0) {
			return actions[i].a;
		}
	}
	return ACT_NONE;
}

static enum action find(enum key_scope scope, int key)
{
	size_t n = n_bindings();
	for (size_t i = 0; i < n; i++) {
		if (bindings[i].scope == scope && bindings[i].key == key) {
			return bindings[i].action;
		}
	}
	return ACT_NONE;
}

enum action keys_lookup(enum key_scope scope, bool is_list, int key)
{
	enum action a = find(scope, key);
	if (a == ACT_NONE && is_list && scope != SCOPE_LIST) {
		a = find(SCOPE_LIST, key);
	}
	if (a == ACT_NONE) {
		a = find(SCOPE_GLOBAL, key);
	}
	return a;
}

void keys_name(int key, char *out, size_t size)
{
	if (key >= KEYS_FN_BASE) {
		int k = key - KEYS_FN_BASE;
		const char *n = k == KEY_DOWN    ? "Down"
		                : k == KEY_UP    ? "Up"
		                : k == KEY_HOME  ? "Home"
		                : k == KEY_END   ? "End"
		                : k == KEY_NPAGE ? "PgDn"
		                : k == KEY_PPAGE ? "PgUp"
		                : k == KEY_ENTER ? "Enter"
		                                 : NULL;
		snprintf(out, size, "%s", n ? n : "key");
	} else if (key == 27) {
		snprintf(out, size, "Esc");
	} else if (key == '\n' || key == '\r') {
		snprintf(out, size, "Enter");
	} else if (key == ' ') {
		snprintf(out, size, "Space");
	} else if (key == '\t') {
		snprintf(out, size, "Tab");
	} else if (key < 32) {
		snprintf(out, size, "^%c", key + 64);
	} else {
		/* A printable character, as UTF-8. */
		mbstate_t st = {0};
		char mb[8] = {0};
		size_t n = wcrtomb(mb, (wchar_t)key, &st);
		snprintf(out, size, "%s", n == (size_t)-1 ? "?" : mb);
	}
}

const struct binding *keys_bindings(size_t *n)
{
	*n = n_bindings();
	return bindings;
}

static const char *const scope_names[SCOPE_COUNT] = {"global", "list",   "pods",     "logs",
                                                     "detail", "chat",   "sessions", "guests",
                                                     "hosts",  "deploy", "jobs",     "topology"};

const char *keys_scope_name(enum key_scope s)
{
	return s < SCOPE_COUNT ? scope_names[s] : "?";
}

/* Parses "x", "Esc", "Enter", "Space", "^L", "PgDn"... into a key code; -1 if unknown. */
static int parse_key(const char *s)
{
	static const struct {
		const char *name;
		int key;
	} named[] = {
	        {"Esc", 27},
	        {"Enter", '\n'},
	        {"Space", ' '},
	        {"Tab", '\t'},
	        {"Down", FN(KEY_DOWN)},
	        {"Up", FN(KEY_UP)},
	        {"Home", FN(KEY_HOME)},
	        {"End", FN(KEY_END)},
	        {"PgDn", FN(KEY_NPAGE)},
	        {"PgUp", FN(KEY_PPAGE)},
	};
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (strcasecmp(s, named[i].name) == 0) {
			return named[i].key;
		}
	}
	if (s[0] == '^' && s[1] && !s[2]) {
		return KEYS_CTRL(s[1]);
	}
	mbstate_t st = {0};
	wchar_t wc;
	size_t n = mbrtowc(&wc, s, strlen(s), &st);
	if (n == strlen(s) && n > 0) {
		return (int)wc;
	}
	return -1;
}

bool keys_override(const char *view, const char *key, const char *action, char *why, size_t size)
{
	enum key_scope scope = SCOPE_COUNT;
	for (int i = 0; i < SCOPE_COUNT; i++) {
		if (strcmp(view, scope_names[i]) == 0) {
			scope = (enum key_scope)i;
		}
	}
	if (scope == SCOPE_COUNT) {
		snprintf(why, size, "unknown view '%s' (global, list, pods, logs, detail, chat)",
		         view);
		return false;
	}
	int k = parse_key(key);
	if (k < 0) {
		snprintf(why, size, "unknown key '%s'", key);
		return false;
	}
	enum action a = action_by_name(action);
	if (a == ACT_NONE && strcmp(action, "none") != 0) {
		snprintf(why, size, "unknown action '%s'", action);
		return false;
	}
	size_t n = n_bindings();
	for (size_t i = 0; i < n; i++) {
		if (bindings[i].scope == scope && bindings[i].key == k) {
			bindings[i].action = a == ACT_NONE ? ACT_BACK : a;
			if (a == ACT_NONE) {
				/* Unbinding: move the last binding here. */
				bindings[i] = bindings[n - 1];
				bindings[n - 1].action = ACT_NONE;
			}
			return true;
		}
	}
	if (n + 1 >= MAX_BINDINGS) {
		snprintf(why, size, "too many key bindings");
		return false;
	}
	if (a != ACT_NONE) {
		bindings[n] = (struct binding){scope, k, a};
	}
	return true;
}
