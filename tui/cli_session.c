/* cli_session.c: `labdeck session list|show|rename|delete`: the named chat sessions that
 * `labdeck chat --session NAME` keeps (backends/session.h), seen and tidied from the command
 * line. The store is Redis when [redis] url is set (and then only Redis: when it does not answer
 * the command fails naming host:port, it never falls back to files), else the files under
 * $XDG_STATE_HOME/labdeck/sessions. Everything from the store is sanitised before it reaches a
 * terminal; --json gives the content as stored. */
#include <event2/event.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_action.h"
#include "format.h"
#include "llm.h"
#include "redis_client.h"
#include "session.h"
#include "table.h"
#include "text.h"
#include "util.h"

static void session_usage(FILE *out)
{
	fputs("usage: labdeck session list [--json]\n"
	      "       labdeck session show NAME [--json]\n"
	      "       labdeck session rename OLD NEW [--json]\n"
	      "       labdeck session delete NAME [--yes] [--json]\n"
	      "\n"
	      "The named conversations 'labdeck chat --session NAME' keeps: in Redis when\n"
	      "[redis] url is set, else in files under $XDG_STATE_HOME/labdeck/sessions\n"
	      "(~/.local/state/labdeck/sessions).\n"
	      "\n"
	      "  list      NAME, MESSAGES and UPDATED (how long ago), most recent first\n"
	      "  show      the provider, model, system prompt and messages of one session\n"
	      "  rename    give a session a new name (refused when NEW already exists)\n"
	      "  delete    remove a session; asks first on a terminal unless --yes\n"
	      "\n"
	      "  -y, --yes   delete without asking (needed when stdin is not a terminal)\n"
	      "  --json      one JSON object instead of text\n"
	      "\n"
	      "Names are 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'.\n"
	      "--readonly refuses rename and delete (exit 2).\n",
	      out);
}

/* ---- the store and waiting on it ------------------------------------------------------------ */

struct ctx {
	struct cli *c;
	struct redis_client *redis;
	struct session_store *store;
};

static void wait_for(struct ctx *x, const struct cli_session_wait *w)
{
	cli_wait_until(x->c, &w->done);
}

/* open_store makes the store the configuration names; false (with the message said) when
 * [redis] url cannot be used: then the sessions are not looked for elsewhere. */
static bool open_store(struct ctx *x)
{
	struct cli *c = x->c;
	if (c->cfg.redis.configured) {
		struct err e;
		x->redis =
		        redis_client_create(c->base, c->cfg.redis.url, c->cfg.redis.password, &e);
		if (!x->redis) {
			cli_say("session: %s (sessions are kept in Redis when [redis] url is set)",
			        e.msg);
			c->exit_status = err_exit_status(e.code);
			return false;
		}
		if (c->timeout_ms > 0) {
			redis_client_set_timeout(x->redis, c->timeout_ms);
		}
	}
	x->store = session_store_create(c->base, x->redis, NULL);
	return true;
}

static void close_store(struct ctx *x)
{
	session_store_destroy(x->store);
	if (x->redis) {
		redis_client_destroy(x->redis);
		/* A name lookup still in flight ends on the loop. */
		event_base_loop(x->c->base, EVLOOP_NONBLOCK);
	}
}

static bool unreachable_code(enum err_code code)
{
	return code == ERR_NETWORK || code == ERR_TIMEOUT || code == ERR_UNREACHABLE ||
	       code == ERR_TLS || code == ERR_AUTH || code == ERR_SERVER;
}

/* store_failed says why the store failed and returns the exit status for it. A store that did not
 * answer is named (which Redis, or which directory) so nobody looks for the sessions elsewhere. */
static int store_failed(struct ctx *x, const char *name, const struct err *e)
{
	if (e->code == ERR_NOT_FOUND && name) {
		cli_say("session: no session called '%s' (labdeck session list shows them)", name);
	} else if (x->redis && unreachable_code(e->code)) {
		/* Say where the sessions are, once: the client's messages name host:port. */
		const char *where = redis_client_where(x->redis);
		const char *todo = e->code == ERR_AUTH ? "check [redis] password or the url"
		                                       : "start it or fix the url";
		if (strstr(e->msg, where)) {
			cli_say("session: %s (sessions are kept in Redis when [redis] url is set; "
			        "%s)",
			        e->msg, todo);
		} else {
			cli_say("session: %s (sessions are kept in Redis at %s, from [redis] url; "
			        "%s)",
			        e->msg, where, todo);
		}
	} else {
		cli_say("session: %s", e->msg);
	}
	return err_exit_status(e->code);
}

static void print_json(json_t *root)
{
	bool tty = isatty(STDOUT_FILENO);
	/* On a terminal, escape everything non-ASCII so no byte can act as a control sequence. */
	size_t flags = JSON_INDENT(tty ? 2 : 0) | JSON_COMPACT | (tty ? JSON_ENSURE_ASCII : 0);
	{
		char *json = json_dumps(root, flags); /* C1 and bidi escaped (text_json_fputs) */
		text_json_fputs(json, stdout);
		free(json);
	}
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(root);
}

/* jstr: a JSON string, or null; stored text is valid UTF-8 already, repaired if not. */
static json_t *jstr(const char *s)
{
	if (!s) {
		return json_null();
	}
	json_t *v = json_string(s);
	if (!v) {
		char *fixed = session_utf8_repair(s, strlen(s));
		v = json_string(fixed);
		free(fixed);
	}
	return v ? v : json_string("");
}

static void age(double when, char *out, size_t size)
{
	double d = now_wall() - when;
	format_duration(when <= 0 ? -1 : d < 0 ? 0 : (int64_t)d, out, size);
}

/* ---- list ----------------------------------------------------------------------------------- */

static int cmd_list(struct ctx *x)
{
	struct cli *c = x->c;
	struct cli_session_wait w = {0};
	session_list_all(x->store, cli_session_listed, &w);
	wait_for(x, &w);
	if (w.failed) {
		int rc = store_failed(x, NULL, &w.err);
		if (c->json) {
			json_t *root = json_object();
			json_object_set_new(root, "sessions", json_array());
			json_object_set_new(root, "store",
			                    json_string(session_store_describe(x->store)));
			json_t *errs = json_array();
			json_t *o = json_object();
			json_object_set_new(o, "backend",
			                    json_string(x->redis ? "redis" : "session"));
			json_object_set_new(o, "message", jstr(w.err.msg));
			json_object_set_new(o, "code", json_string(err_code_name(w.err.code)));
			json_array_append_new(errs, o);
			json_object_set_new(root, "errors", errs);
			print_json(root);
		}
		return rc;
	}
	struct session_list *l = w.list;
	if (c->json) {
		json_t *root = json_object();
		json_t *arr = json_array();
		for (size_t i = 0; i < l->len; i++) {
			json_t *o = json_object();
			json_object_set_new(o, "name", jstr(l->items[i].name));
			json_object_set_new(o, "messages",
			                    json_integer((json_int_t)l->items[i].messages));
			json_object_set_new(o, "updated", json_real(l->items[i].updated));
			json_array_append_new(arr, o);
		}
		json_object_set_new(root, "sessions", arr);
		json_object_set_new(root, "store", json_string(session_store_describe(x->store)));
		json_object_set_new(root, "errors", json_array());
		print_json(root);
	} else if (l->len) {
		static const char *const headers[] = {"NAME", ">MESSAGES", ">UPDATED"};
		struct table *t = table_create(3, headers);
		for (size_t i = 0; i < l->len; i++) {
			char n[32], upd[32];
			snprintf(n, sizeof(n), "%zu", l->items[i].messages);
			age(l->items[i].updated, upd, sizeof(upd));
			const char *cells[] = {l->items[i].name, n, upd};
			table_add_row(t, cells);
		}
		table_print(t, stdout);
		table_destroy(t);
	}
	if (!l->len && !c->json) {
		cli_say("session: no sessions yet in %s; labdeck chat --session NAME starts one",
		        session_store_describe(x->store));
	}
	session_list_destroy(l);
	return 0;
}

/* ---- show ----------------------------------------------------------------------------------- */

/* load_existing loads name; NULL (with the message said and *rc set) when it is not there or the
 * store failed. */
static struct session *load_existing(struct ctx *x, const char *name, int *rc)
{
	struct cli_session_wait w = {0};
	session_load(x->store, name, cli_session_loaded, &w);
	wait_for(x, &w);
	if (w.failed) {
		*rc = store_failed(x, name, &w.err);
		return NULL;
	}
	if (w.session->is_new) {
		session_destroy(w.session);
		struct err e;
		err_set(&e, ERR_NOT_FOUND, 0, "session %s not found", name);
		*rc = store_failed(x, name, &e);
		return NULL;
	}
	return w.session;
}

/* The provider and model a session's next turn would use. */
static const char *effective_provider(const struct session *s)
{
	return s->provider ? s->provider : "ollama"; /* chat's default */
}

static const char *effective_model(const struct cli *c, const struct session *s)
{
	if (s->model) {
		return s->model;
	}
	enum llm_provider p = LLM_OLLAMA;
	if (s->provider) {
		llm_provider_from_name(s->provider, &p);
	}
	return llm_default_model(&c->cfg, p);
}

static void print_field(const char *label, const char *value)
{
	char *safe = text_sanitize(value ? value : "-", false);
	printf("%-10s%s\n", label, safe);
	free(safe);
}

static void print_message(const char *who, const char *content)
{
	char *w = text_sanitize(who, false);
	char *safe = text_sanitize(content, true);
	size_t n = strlen(safe);
	printf("\n%s: %s%s", w, safe, n && safe[n - 1] == '\n' ? "" : "\n");
	free(safe);
	free(w);
}

static int cmd_show(struct ctx *x, const char *name)
{
	struct cli *c = x->c;
	int rc = 0;
	struct session *s = load_existing(x, name, &rc);
	if (!s) {
		return rc;
	}
	const char *model = effective_model(c, s);
	if (c->json) {
		json_t *root = json_object();
		json_object_set_new(root, "name", jstr(name));
		json_object_set_new(root, "provider", jstr(effective_provider(s)));
		json_object_set_new(root, "model", jstr(model));
		json_object_set_new(root, "system", jstr(s->system));
		json_object_set_new(root, "created", json_real(s->created));
		json_object_set_new(root, "updated", json_real(s->updated));
		json_t *arr = json_array();
		for (size_t i = 0; i < s->len; i++) {
			json_t *o = json_object();
			json_object_set_new(o, "role", jstr(s->messages[i].role));
			json_object_set_new(o, "content", jstr(s->messages[i].content));
			json_array_append_new(arr, o);
		}
		json_object_set_new(root, "messages", arr);
		json_object_set_new(root, "store", json_string(session_store_describe(x->store)));
		print_json(root);
		session_destroy(s);
		return 0;
	}
	char created[32], updated[32], count[32];
	age(s->created, created, sizeof(created));
	age(s->updated, updated, sizeof(updated));
	snprintf(count, sizeof(count), "%zu", s->len);
	char *created_s = xasprintf("%s ago", created);
	char *updated_s = xasprintf("%s ago", updated);
	char *model_s = s->model ? xstrdup(s->model)
	                : model  ? xasprintf("%s (the configured default)", model)
	                         : xstrdup("(the configured default, not set)");
	print_field("Session:", name);
	print_field("Store:", session_store_describe(x->store));
	print_field("Provider:", effective_provider(s));
	print_field("Model:", model_s);
	print_field("Created:", created_s);
	print_field("Updated:", updated_s);
	print_field("Messages:", count);
	if (s->system) {
		char *safe = text_sanitize(s->system, true);
		printf("%-10s%s\n", "System:", safe);
		free(safe);
	} else {
		print_field("System:", "(none)");
	}
	for (size_t i = 0; i < s->len; i++) {
		const char *role = s->messages[i].role;
		const char *who = str_eq(role, "user")        ? "you"
		                  : str_eq(role, "assistant") ? (model ? model : "assistant")
		                                              : role;
		print_message(who, s->messages[i].content);
	}
	fflush(stdout);
	free(created_s);
	free(updated_s);
	free(model_s);
	session_destroy(s);
	return 0;
}

/* ---- rename and delete ---------------------------------------------------------------------- */

static int cmd_rename(struct ctx *x, const char *from, const char *to)
{
	struct cli_session_wait w = {0};
	session_rename(x->store, from, to, cli_session_done, &w);
	wait_for(x, &w);
	if (w.failed) {
		if (w.err.code == ERR_REJECTED && strstr(w.err.msg, "already exists")) {
			cli_say("session: there is already a session called '%s'; pick another "
			        "name or delete "
			        "that one first (labdeck session delete %s)",
			        to, to);
			return 1;
		}
		return store_failed(x, from, &w.err);
	}
	/* One line, or the JSON answer; mirrored to Discord when [discord] is set. */
	cli_action_print(x->c, "session rename", from, to, "renamed", NULL);
	return 0;
}

static int cmd_delete(struct ctx *x, const char *name, bool yes)
{
	if (!yes) {
		int rc = 0;
		struct session *s = load_existing(x, name, &rc);
		if (!s) {
			return rc;
		}
		char *what = xasprintf("delete session '%s' (%zu message%s)", name, s->len,
		                       s->len == 1 ? "" : "s");
		session_destroy(s);
		int rc2 = cli_action_gate(x->c, false, what, NULL);
		free(what);
		if (rc2) {
			cli_say("session: session '%s' kept", name);
			return rc2;
		}
	}
	struct cli_session_wait w = {0};
	session_delete(x->store, name, cli_session_done, &w);
	wait_for(x, &w);
	if (w.failed) {
		return store_failed(x, name, &w.err);
	}
	cli_action_print(x->c, "session delete", name, name, "deleted", NULL);
	return 0;
}

/* ---- the command ---------------------------------------------------------------------------- */

enum { OPT_SESSION_JSON = 3000, OPT_YES };

static bool name_ok(const char *name)
{
	struct err e;
	if (session_name_valid(name, &e)) {
		return true;
	}
	cli_usage_error("session", "%s", e.msg);
	return false;
}

int cli_session(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"json", no_argument, NULL, OPT_SESSION_JSON},
	        {"yes", no_argument, NULL, OPT_YES},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool yes = false;
	optind = 0; /* a fresh scan (GNU getopt) */
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, ":hy", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_SESSION_JSON:
			c->json = true;
			break;
		case OPT_YES:
		case 'y':
			yes = true;
			break;
		case 'h':
			session_usage(stdout);
			return 0;
		default: {
			const char *bad = argv[optind - 1];
			return cli_usage_error("session", "unknown option '%s'", bad ? bad : "?");
		}
		}
	}
	/* argv[0] is "session"; the subcommand and its words are left from optind on. */
	char **words = argv + optind;
	int n = argc - optind;
	if (n < 1) {
		return cli_usage_error("session", "give a subcommand: list, show, rename or "
		                                  "delete");
	}
	const char *sub = words[0];
	int want = str_eq(sub, "list") ? 0 : str_eq(sub, "rename") ? 2 : 1;
	if (!str_eq(sub, "list") && !str_eq(sub, "show") && !str_eq(sub, "rename") &&
	    !str_eq(sub, "delete")) {
		return cli_usage_error(
		        "session", "unknown subcommand '%s': list, show, rename or delete", sub);
	}
	if (n - 1 < want) {
		return cli_usage_error("session",
		                       want == 2 ? "rename needs the OLD and the NEW name"
		                                 : "%s needs the NAME of a session",
		                       sub);
	}
	if (n - 1 > want) {
		return cli_usage_error("session", "unexpected argument '%s'", words[want + 1]);
	}
	for (int i = 1; i <= want; i++) {
		if (!name_ok(words[i])) {
			return 2;
		}
	}
	bool changes = str_eq(sub, "rename") || str_eq(sub, "delete");
	if (str_eq(sub, "rename") && str_eq(words[1], words[2])) {
		return cli_usage_error("session", "the new name is the old one ('%s')", words[1]);
	}
	if (yes && !str_eq(sub, "delete")) {
		return cli_usage_error("session", "--yes is for delete; %s asks nothing", sub);
	}
	if (changes) {
		/* Read-only refuses; a delete off a terminal without --yes is refused before the
		 * store is even opened. The question itself is asked once the session is read. */
		int rc = cli_action_gate(
		        c, yes || str_eq(sub, "rename") || isatty(STDIN_FILENO),
		        str_eq(sub, "rename") ? "rename a session" : "delete a session", NULL);
		if (rc) {
			return rc;
		}
	}

	struct ctx x = {.c = c};
	if (!open_store(&x)) {
		return c->exit_status;
	}
	int rc;
	if (str_eq(sub, "list")) {
		rc = cmd_list(&x);
	} else if (str_eq(sub, "show")) {
		rc = cmd_show(&x, words[1]);
	} else if (str_eq(sub, "rename")) {
		rc = cmd_rename(&x, words[1], words[2]);
	} else {
		rc = cmd_delete(&x, words[1], yes);
	}
	close_store(&x);
	return rc;
}
