/* view_chat.c: the chat view (`4`): a conversation with a local model, Gemini or an
 * OpenAI-compatible server, through the same pipeline as `labdeck chat` (chat_turn.h: retrieval
 * with `R`, condensing, the Redis cache, the streamed answer). The scrollback is laid out by
 * chat_text.h, each entry once per width and length, so a long conversation costs nothing to
 * redraw while an answer streams. The input line at the bottom takes raw keys while typing
 * (UTF-8, Ctrl-A/E/W/U, Left/Right, Up/Down history, Enter sends, Alt-Enter or Ctrl-J a new
 * line); Esc stops a running answer and keeps what came. Answers list their sources and say
 * when they came from the cache.
 *
 * A conversation is kept under a name once it has one (`:session NAME`, or picked in the
 * sessions list `S`): in Redis when [redis] is configured, else in files. A save that fails
 * (Redis went away) leaves the conversation in memory and is tried again after the next
 * answer. Redis is PINGed once per refresh interval, and while it is down no sooner than the
 * client's backoff allows (1 s doubling to 30 s): meanwhile the status line shows it failing,
 * two rows above the input say why, what to do and when the next try is, and the chat goes on
 * without the cache. The first PING answered after that saves the named conversation whole
 * (a restarted Redis may have come back empty). The header names the models Ollama has
 * loaded and their VRAM share; the meter (chat_meter.h) counts cloud and local tokens, the cost
 * at [gemini] prices and what the local-first pipeline saved. `y` / `Y` copy the last answer /
 * its last code block with OSC 52. */
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "app.h"
#include "chat_meter.h"
#include "chat_text.h"
#include "chat_turn.h"
#include "http.h"
#include "llm.h"
#include "llm_cache.h"
#include "palette.h"
#include "redis_client.h"
#include "session.h"
#include "text.h"
#include "util.h"

#define MAX_INPUT 8192
#define MAX_HISTORY 100
#define MAX_INPUT_ROWS 5
#define ESC_WAIT_MS 40 /* an Esc followed this fast by Enter is Alt-Enter */

enum entry_kind { ENTRY_USER, ENTRY_ASSISTANT, ENTRY_ERROR, ENTRY_INFO, ENTRY_SOURCES };

struct entry {
	enum entry_kind kind;
	struct buf text; /* as it came (sanitised when laid out) */
	bool stopped;    /* the answer was stopped with Esc */
	/* its screen lines, laid out for this width, text length and state */
	struct chat_text_lines lines;
	int lines_cols;
	size_t lines_len;
	bool lines_valid, lines_stopped, lines_pending;
};

struct chat_view {
	struct view base;
	struct http *http;
	struct llm *llm;
	enum llm_provider provider;
	char *model;
	struct entry *entries;
	size_t n_entries, cap_entries;
	/* the conversation: its messages and, once named, where it is kept */
	struct session conv;
	bool named;       /* conv has a name: saved after each answer */
	bool save_failed; /* the last save failed: the next answer saves again */
	struct session_store *store;
	struct session_op *save_op, *load_op;
	struct redis_client *redis;    /* when [redis] is configured */
	struct redis_client_cmd *ping; /* the health check in flight */
	struct event *ping_ev;         /* the next health check */
	int64_t next_ping_ms;          /* when ping_ev fires (monotonic) */
	bool redis_down;               /* the last PING got no answer */
	struct llm_cache *cache;       /* on redis, when cache_ttl > 0 */
	bool rag;                      /* answer from the documents */
	struct chat_turn *turn;        /* the question being answered, or NULL */
	enum chat_turn_stage stage;
	size_t answer;             /* entry the answer goes to */
	struct llm_call *ps;       /* /api/ps in flight */
	bool ps_pending;           /* set before the call starts, cleared by its callback */
	struct llm_models *loaded; /* last /api/ps answer */
	char ps_error[256];
	struct llm_call *tags; /* /api/tags in flight (m: next model) */
	bool tags_pending;
	bool typing;
	char input[MAX_INPUT];
	size_t input_len, cursor; /* bytes */
	char *history[MAX_HISTORY];
	size_t n_history;
	long hist_pos; /* -1: not browsing */
	bool esc_pending;
	struct event *esc_ev;
	size_t scroll; /* lines from the bottom */
	struct chat_meter meter;
};

/* --- small helpers --- */

static struct entry *add_entry(struct chat_view *c, enum entry_kind kind, const char *text)
{
	if (c->n_entries == c->cap_entries) {
		c->cap_entries = c->cap_entries ? c->cap_entries * 2 : 16;
		c->entries = xrealloc(c->entries, c->cap_entries * sizeof(*c->entries));
	}
	struct entry *e = &c->entries[c->n_entries++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	buf_init(&e->text);
	if (text) {
		buf_append(&e->text, text, strlen(text));
	}
	c->scroll = 0;
	return e;
}

static void clear_entries(struct chat_view *c)
{
	for (size_t i = 0; i < c->n_entries; i++) {
		buf_finish(&c->entries[i].text);
		chat_text_free(&c->entries[i].lines);
	}
	c->n_entries = 0;
	c->scroll = 0;
}

static const char *entry_text(const struct entry *e)
{
	return e->text.data ? e->text.data : "";
}

static const char *model_of(const struct chat_view *c)
{
	if (c->model) {
		return c->model;
	}
	const char *m = llm_default_model(app_config(c->base.app), c->provider);
	return m ? m : "(no model)";
}

bool view_chat_meter(struct view *v, char *out, size_t size)
{
	struct chat_view *c = (struct chat_view *)v;
	return c && chat_meter_format(&c->meter, out, size);
}

const struct health *view_chat_redis_health(struct view *v)
{
	struct chat_view *c = (struct chat_view *)v;
	return c && c->redis ? redis_client_health(c->redis) : NULL;
}

static void save_conversation(struct chat_view *c);

/* --- Redis's health --- */

/* The next PING: one refresh interval from now, or when the backoff after failed connects
 * ends if that is later, so a dead server is tried at most once per refresh and ever less
 * often (the PING is what reconnects when nothing else asks Redis for anything). */
static void schedule_ping(struct chat_view *c)
{
	long ms = app_refresh_s(c->base.app) * 1000L;
	long backoff = redis_client_retry_in_ms(c->redis);
	if (backoff + 5 > ms) {
		ms = backoff + 5; /* just past its end: the PING then connects */
	}
	c->next_ping_ms = now_mono_ms() + ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_add(c->ping_ev, &tv);
}

/* The status line shows Redis as it is, not as it was at the last save: the PING keeps its
 * health current, and the first answer after it was down saves the conversation again. */
static void on_pong(void *ud, const struct redis_client_reply *reply, const struct err *err)
{
	(void)reply;
	struct chat_view *c = ud;
	c->ping = NULL;
	if (err && !reply) {
		c->redis_down = true;
	} else if (c->redis_down || c->save_failed) {
		if (c->redis_down) {
			app_message(c->base.app, false, "redis is back at %s",
			            redis_client_where(c->redis));
		}
		c->redis_down = false;
		/* Keep what was said meanwhile; a Redis restarted without persistence lost the
		 * rest, so the whole conversation goes again. */
		if (!c->save_op) {
			save_conversation(c);
		}
	}
	schedule_ping(c);
	app_dirty(c->base.app);
}

static void on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct chat_view *c = arg;
	if (!c->ping) {
		static const char *const argv[] = {"PING"};
		c->ping = redis_client_command(c->redis, 1, argv, NULL, on_pong, c);
	}
}

/* The two rows shown while Redis is failing: what is wrong and when it is tried next, then
 * what to do and what happens to the conversation meanwhile. false when Redis is fine. */
static bool redis_notice(const struct chat_view *c, char *what, size_t what_size, char *todo,
                         size_t todo_size)
{
	if (!c->redis) {
		return false;
	}
	const struct health *h = redis_client_health(c->redis);
	if (h->state != HEALTH_FAILING) {
		return false;
	}
	const char *why = h->last_err.msg;
	if (str_has_prefix(why, "redis: ")) {
		why = why + strlen("redis: ");
	}
	char when[64];
	int64_t left = c->next_ping_ms - now_mono_ms();
	if (c->ping || left <= 0) {
		snprintf(when, sizeof(when), "trying again now");
	} else {
		snprintf(when, sizeof(when), "next try in %lld s",
		         (long long)((left + 999) / 1000));
	}
	snprintf(what, what_size, "✗ redis is down: %s · %s", why, when);
	const char *fix = h->last_err.code == ERR_AUTH || h->last_err.code == ERR_CONFIG
	                          ? "fix [redis] in the config"
	                          : "start redis-server or fix [redis] url";
	if (c->named) {
		snprintf(todo, todo_size, "  %s · session %s is kept in memory", fix, c->conv.name);
	} else {
		snprintf(todo, todo_size, "  %s · answers are not cached meanwhile", fix);
	}
	return true;
}

/* --- /api/ps and /api/tags --- */

static void on_ps(void *ud, struct llm_models *models, const struct err *err)
{
	struct chat_view *c = ud;
	c->ps = NULL;
	c->ps_pending = false;
	if (models) {
		llm_models_free(c->loaded);
		c->loaded = models;
		c->ps_error[0] = '\0';
	} else {
		snprintf(c->ps_error, sizeof(c->ps_error), "%s", err ? err->msg : "no answer");
	}
	app_dirty(c->base.app);
}

static void fetch_ps(struct chat_view *c)
{
	const struct config *cfg = app_config(c->base.app);
	if (c->ps_pending || !cfg->ollama.url) {
		return;
	}
	c->ps_pending = true;
	struct llm_call *call = llm_ollama_ps(c->llm, on_ps, c);
	if (c->ps_pending) {
		c->ps = call;
	}
}

static void use_model(struct chat_view *c, const char *model);

/* m: the model after the current one among those Ollama has. */
static void on_tags(void *ud, struct llm_models *models, const struct err *err)
{
	struct chat_view *c = ud;
	c->tags = NULL;
	c->tags_pending = false;
	if (!models) {
		app_message(c->base.app, true, "%s", err ? err->msg : "ollama: no model list");
		return;
	}
	if (models->len == 0) {
		app_message(c->base.app, false, "ollama has no models (ollama pull NAME)");
	} else {
		const char *cur = model_of(c);
		size_t next = 0;
		for (size_t i = 0; i < models->len; i++) {
			if (models->items[i].name && strcmp(models->items[i].name, cur) == 0) {
				next = (i + 1) % models->len;
			}
		}
		if (models->items[next].name) {
			use_model(c, models->items[next].name);
		}
	}
	llm_models_free(models);
	app_dirty(c->base.app);
}

static void next_model(struct chat_view *c)
{
	if (c->provider != LLM_OLLAMA) {
		app_message(c->base.app, false, "%s answers with %s; :model NAME asks another",
		            llm_provider_name(c->provider), model_of(c));
		return;
	}
	if (c->tags_pending || !app_config(c->base.app)->ollama.url) {
		return;
	}
	c->tags_pending = true;
	struct llm_call *call = llm_ollama_tags(c->llm, on_tags, c);
	if (c->tags_pending) {
		c->tags = call;
	}
}

/* --- the conversation's store --- */

static void on_saved(void *ud, const struct err *err)
{
	struct chat_view *c = ud;
	c->save_op = NULL;
	if (err) {
		app_message(c->base.app, true, "%s", err->msg);
	} else if (c->save_failed) {
		app_message(c->base.app, false, "session %s saved", c->conv.name);
	}
	c->save_failed = err != NULL;
	app_dirty(c->base.app);
}

static void save_conversation(struct chat_view *c)
{
	if (!c->named || !c->store) {
		return;
	}
	session_cancel(c->save_op); /* the newer save has everything the older one had */
	session_set_meta(&c->conv, llm_provider_name(c->provider), c->model ? c->model : "", NULL);
	c->save_op = session_save(c->store, &c->conv, on_saved, c);
}

/* Shows a stored conversation: its messages become entries again. */
static void show_conversation(struct chat_view *c)
{
	clear_entries(c);
	for (size_t i = 0; i < c->conv.len; i++) {
		const struct session_message *m = &c->conv.messages[i];
		if (str_eq(m->role, "user")) {
			add_entry(c, ENTRY_USER, m->content);
		} else if (str_eq(m->role, "assistant")) {
			add_entry(c, ENTRY_ASSISTANT, m->content);
		}
	}
	char note[200];
	snprintf(note, sizeof(note), "— session %s: %zu messages (%s) —", c->conv.name, c->conv.len,
	         session_store_describe(c->store));
	add_entry(c, ENTRY_INFO, note);
}

static void on_loaded(void *ud, struct session *s, const struct err *err)
{
	struct chat_view *c = ud;
	c->load_op = NULL;
	if (err) {
		app_message(c->base.app, true, "%s", err->msg);
		return;
	}
	if (s->is_new && !c->named && c->conv.len) {
		/* Naming the conversation on screen: it is kept under the new name. */
		free(c->conv.name);
		c->conv.name = xstrdup(s->name);
		session_destroy(s);
		c->named = true;
		save_conversation(c);
		app_message(c->base.app, false, "this conversation is now session %s",
		            c->conv.name);
		app_dirty(c->base.app);
		return;
	}
	session_finish(&c->conv);
	c->conv = *s;
	free(s);
	c->named = true;
	c->save_failed = false;
	enum llm_provider p;
	if (c->conv.provider && llm_provider_from_name(c->conv.provider, &p) &&
	    llm_ready(app_config(c->base.app), p, NULL, NULL)) {
		c->provider = p;
	}
	free(c->model);
	c->model = c->conv.model && *c->conv.model ? xstrdup(c->conv.model) : NULL;
	if (c->conv.is_new) {
		clear_entries(c);
		char note[200];
		snprintf(note, sizeof(note), "— new session %s, kept in %s —", c->conv.name,
		         session_store_describe(c->store));
		add_entry(c, ENTRY_INFO, note);
	} else {
		show_conversation(c);
	}
	app_dirty(c->base.app);
}

void view_chat_open_session(struct view *v, const char *name)
{
	struct chat_view *c = (struct chat_view *)v;
	struct err err;
	if (!session_name_valid(name, &err)) {
		app_message(c->base.app, true, "%s", err.msg);
		return;
	}
	if (c->turn) {
		app_message(c->base.app, false, "an answer is still coming (Esc stops it)");
		return;
	}
	if (c->named && strcmp(c->conv.name, name) == 0) {
		return;
	}
	session_cancel(c->load_op);
	c->load_op = session_load(c->store, name, on_loaded, c);
}

void view_chat_new_session(struct view *v)
{
	struct chat_view *c = (struct chat_view *)v;
	if (c->turn) {
		app_message(c->base.app, false, "an answer is still coming (Esc stops it)");
		return;
	}
	session_finish(&c->conv);
	session_init(&c->conv, "unsaved");
	c->named = false;
	clear_entries(c);
	app_dirty(c->base.app);
}

const char *view_chat_session_name(struct view *v)
{
	struct chat_view *c = (struct chat_view *)v;
	return c->named ? c->conv.name : NULL;
}

void view_chat_session_renamed(struct view *v, const char *from, const char *to)
{
	struct chat_view *c = (struct chat_view *)v;
	if (c->named && strcmp(c->conv.name, from) == 0) {
		free(c->conv.name);
		c->conv.name = xstrdup(to);
	}
}

void view_chat_session_deleted(struct view *v, const char *name)
{
	struct chat_view *c = (struct chat_view *)v;
	if (c->named && strcmp(c->conv.name, name) == 0) {
		/* What is on screen stays, unsaved, until it is named again. */
		c->named = false;
	}
}

struct session_store *view_chat_store(struct view *v)
{
	return ((struct chat_view *)v)->store;
}

/* --- the chat --- */

static void on_stage(void *ud, enum chat_turn_stage stage)
{
	struct chat_view *c = ud;
	c->stage = stage;
	app_dirty(c->base.app);
}

static void on_warning(void *ud, const char *backend, const struct err *err)
{
	(void)backend;
	struct chat_view *c = ud;
	add_entry(c, ENTRY_INFO, err->msg);
	app_dirty(c->base.app);
}

static void on_token(void *ud, const char *text, size_t len, bool is_thinking)
{
	struct chat_view *c = ud;
	if (is_thinking) {
		return; /* thinking is kept apart from the answer and not shown here */
	}
	buf_append(&c->entries[c->answer].text, text, len);
	app_dirty(c->base.app);
}

/* The sources line under an answer: "sources: 1 Title (0.12) · 2 ..." and what it cost. */
static void add_sources(struct chat_view *c, const struct chat_turn_result *r)
{
	struct buf b;
	buf_init(&b);
	if (r->cached) {
		buf_appendf(&b, "[answered from the cache] ");
	}
	if (r->sources.len) {
		buf_appendf(&b, "sources:");
		for (size_t i = 0; i < r->sources.len; i++) {
			const struct vector_store_hit *h = &r->sources.items[i];
			buf_appendf(&b, "%s %zu %s (%.2f)", i ? " ·" : "", i + 1, h->title,
			            h->distance);
		}
	}
	if (r->pipeline && strcmp(r->pipeline, "condense") == 0 && r->direct_chars) {
		buf_appendf(&b, " · condensed %zu→%zu chars", r->direct_chars, r->context_chars);
	}
	if (b.len) {
		add_entry(c, ENTRY_SOURCES, b.data);
	}
	buf_finish(&b);
}

/* Settles the conversation once an answer ended: the question and an answer with text are
 * kept (and saved when the conversation has a name); the answer on screen is what came. */
static void finish_answer(struct chat_view *c, struct chat_turn_result *r, const char *question)
{
	struct llm_result *res = r->answer;
	struct entry *e = &c->entries[c->answer];
	buf_consume(&e->text, e->text.len);
	buf_append(&e->text, res->text, res->text_len);
	e->lines_valid = false;
	if (res->text_len) {
		session_add(&c->conv, "user", question);
		session_add(&c->conv, "assistant", res->text);
		save_conversation(c);
	}
	add_sources(c, r);
	chat_meter_add(&c->meter, r);
}

/* The question of the turn in flight: the user entry before the answer. */
static const char *turn_question(const struct chat_view *c)
{
	return c->answer > 0 ? entry_text(&c->entries[c->answer - 1]) : "";
}

static void on_done(void *ud, struct chat_turn_result *r)
{
	struct chat_view *c = ud;
	c->turn = NULL;
	char *question = xstrdup(turn_question(c));
	finish_answer(c, r, question);
	free(question);
	const struct llm_result *res = r->answer;
	if (!res->ok) {
		add_entry(c, ENTRY_ERROR, res->err.msg);
	} else if (res->truncated) {
		char note[160];
		snprintf(note, sizeof(note), "[cut short: %s]",
		         res->finish_reason ? res->finish_reason : "the token limit");
		add_entry(c, ENTRY_INFO, note);
	}
	chat_turn_result_free(r);
	fetch_ps(c);
	app_dirty(c->base.app);
}

static void stop(struct chat_view *c)
{
	struct chat_turn_result *r = chat_turn_cancel(c->turn);
	c->turn = NULL;
	c->entries[c->answer].stopped = true;
	if (r) {
		char *question = xstrdup(turn_question(c));
		finish_answer(c, r, question);
		free(question);
		chat_turn_result_free(r);
	}
	fetch_ps(c);
}

static void history_push(struct chat_view *c, const char *s)
{
	if (c->n_history && strcmp(c->history[c->n_history - 1], s) == 0) {
		return;
	}
	if (c->n_history == MAX_HISTORY) {
		free(c->history[0]);
		memmove(c->history, c->history + 1, (MAX_HISTORY - 1) * sizeof(char *));
		c->n_history--;
	}
	c->history[c->n_history++] = xstrdup(s);
}

static void set_input(struct chat_view *c, const char *s)
{
	snprintf(c->input, sizeof(c->input), "%s", s);
	c->input_len = c->cursor = strlen(c->input);
}

static enum llm_role role_of(const char *s)
{
	return str_eq(s, "system")      ? LLM_ROLE_SYSTEM
	       : str_eq(s, "assistant") ? LLM_ROLE_ASSISTANT
	                                : LLM_ROLE_USER;
}

static void send_input(struct chat_view *c)
{
	if (c->turn) {
		app_message(c->base.app, false, "an answer is still coming (Esc stops it)");
		return;
	}
	const char *p = c->input;
	while (*p == ' ' || *p == '\n') {
		p++;
	}
	if (!*p) {
		return;
	}
	history_push(c, c->input);
	c->hist_pos = -1;
	add_entry(c, ENTRY_USER, c->input);
	struct llm_message *hist = xcalloc(c->conv.len ? c->conv.len : 1, sizeof(*hist));
	for (size_t i = 0; i < c->conv.len; i++) {
		hist[i].role = role_of(c->conv.messages[i].role);
		hist[i].content = c->conv.messages[i].content;
	}
	struct chat_turn_opts o = {
	        .base = app_base(c->base.app),
	        .http = c->http,
	        .llm = c->llm,
	        .cfg = app_config(c->base.app),
	        .cache = c->cache,
	        .provider = c->provider,
	        .model = c->model,
	        .system = c->conv.system,
	        .history = hist,
	        .n_history = c->conv.len,
	        .rag = c->rag,
	        .timeout_ms = app_timeout_ms(c->base.app),
	};
	add_entry(c, ENTRY_ASSISTANT, NULL);
	c->answer = c->n_entries - 1;
	c->stage = c->rag ? CHAT_TURN_RETRIEVING : CHAT_TURN_ASKING;
	struct chat_turn_callbacks cb = {on_stage, on_warning, on_token, on_done, c};
	c->turn = chat_turn_start(&o, c->input, &cb);
	free(hist);
	set_input(c, "");
}

/* --- providers --- */

static bool provider_ready(struct chat_view *c, enum llm_provider p, struct err *err)
{
	return llm_ready(app_config(c->base.app), p, NULL, err);
}

static void switch_provider(struct chat_view *c, enum llm_provider p)
{
	c->provider = p;
	free(c->model);
	c->model = NULL;
	char note[200];
	snprintf(note, sizeof(note), "— now %s %s —", llm_provider_name(p), model_of(c));
	add_entry(c, ENTRY_INFO, note);
}

void view_chat_set_provider(struct view *v, const char *name)
{
	struct chat_view *c = (struct chat_view *)v;
	enum llm_provider p;
	if (!llm_provider_from_name(name, &p)) {
		char *safe = text_sanitize(name, false);
		app_message(c->base.app, true,
		            "chat: the provider is ollama, gemini or openai, not '%s'", safe);
		free(safe);
		return;
	}
	struct err err;
	err_clear(&err);
	if (!provider_ready(c, p, &err)) {
		add_entry(c, ENTRY_ERROR, err.msg);
		app_dirty(c->base.app);
		return;
	}
	switch_provider(c, p);
	app_dirty(c->base.app);
}

static void use_model(struct chat_view *c, const char *model)
{
	free(c->model);
	c->model = xstrdup(model);
	char note[200];
	snprintf(note, sizeof(note), "— now %s %s —", llm_provider_name(c->provider), model);
	add_entry(c, ENTRY_INFO, note);
	app_dirty(c->base.app);
}

static void toggle_rag(struct chat_view *c)
{
	c->rag = !c->rag;
	const struct config *cfg = app_config(c->base.app);
	if (c->rag) {
		app_message(
		        c->base.app, false,
		        "answers now come from your documents (%s, pipeline %s); R turns it off",
		        cfg->rag.postgres ? "pgvector" : "local index",
		        cfg->rag.pipeline ? cfg->rag.pipeline : "condense");
	} else {
		app_message(c->base.app, false, "answers no longer use your documents");
	}
}

bool view_chat_command(struct view *v, const char *cmd, const char *arg)
{
	struct chat_view *c = (struct chat_view *)v;
	bool has_arg = arg && *arg;
	if (strcmp(cmd, "session") == 0) {
		if (has_arg) {
			view_chat_open_session(v, arg);
		} else {
			app_message(c->base.app, false,
			            "session %s; :session NAME resumes or names one",
			            c->named ? c->conv.name : "unsaved");
		}
	} else if (strcmp(cmd, "new") == 0) {
		view_chat_new_session(v);
	} else if (strcmp(cmd, "model") == 0) {
		if (has_arg) {
			use_model(c, arg);
		} else {
			next_model(c);
		}
	} else if (strcmp(cmd, "rag") == 0) {
		bool want = !has_arg || strcmp(arg, "on") == 0;
		if (has_arg && strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0) {
			app_message(c->base.app, true, ":rag on or :rag off");
		} else if (want != c->rag) {
			toggle_rag(c);
		}
	} else if (strcmp(cmd, "system") == 0) {
		session_set_meta(&c->conv, NULL, NULL, has_arg ? arg : "");
		app_message(c->base.app, false,
		            has_arg ? "system prompt set" : "system prompt cleared");
		save_conversation(c);
	} else {
		return false;
	}
	app_dirty(c->base.app);
	return true;
}

static void cycle_provider(struct chat_view *c)
{
	for (int i = 1; i <= LLM_N_PROVIDERS; i++) {
		enum llm_provider p = (enum llm_provider)(((int)c->provider + i) % LLM_N_PROVIDERS);
		struct err err;
		err_clear(&err);
		if (provider_ready(c, p, &err)) {
			if (p != c->provider) {
				switch_provider(c, p);
			} else {
				app_message(c->base.app, false, "no other provider is configured");
			}
			return;
		}
	}
}

/* --- OSC 52 --- */

static char *base64(const char *s, size_t n)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n) {
			v |= (uint32_t)p[i + 1] << 8;
		}
		if (i + 2 < n) {
			v |= p[i + 2];
		}
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* The last fenced code block of s, or NULL. */
static char *last_code_block(const char *s)
{
	char *found = NULL;
	const char *p = s;
	while ((p = strstr(p, "```"))) {
		if (p != s && p[-1] != '\n') {
			p += 3;
			continue;
		}
		const char *body = strchr(p, '\n');
		if (!body) {
			break;
		}
		body++;
		const char *end = body;
		while ((end = strstr(end, "```")) && end != body && end[-1] != '\n') {
			end += 3;
		}
		free(found);
		found = xstrndup(body, end ? (size_t)(end - body) : strlen(body));
		if (!end) {
			break;
		}
		p = end + 3;
	}
	return found;
}

static void copy(struct chat_view *c, bool code)
{
	const struct entry *e = NULL;
	for (size_t i = c->n_entries; i-- > 0;) {
		if (c->entries[i].kind == ENTRY_ASSISTANT && c->entries[i].text.len) {
			e = &c->entries[i];
			break;
		}
	}
	if (!e) {
		app_message(c->base.app, false, "nothing to copy yet");
		return;
	}
	char *text = code ? last_code_block(entry_text(e)) : xstrdup(entry_text(e));
	if (!text) {
		app_message(c->base.app, false, "the last answer has no code block");
		return;
	}
	/* The one escape sequence labdeck emits on purpose: base64 keeps the model's text inert. */
	char *b64 = base64(text, strlen(text));
	char *seq = xasprintf("\033]52;c;%s\a", b64);
	size_t len = strlen(seq), off = 0;
	while (off < len) {
		ssize_t n = write(STDOUT_FILENO, seq + off, len - off);
		if (n <= 0) {
			break;
		}
		off += (size_t)n;
	}
	app_message(c->base.app, false, "copied %s (%zu bytes) to the clipboard (OSC 52)",
	            code ? "the code block" : "the answer", strlen(text));
	free(seq);
	free(b64);
	free(text);
}

static void lay_out(const struct entry *e, bool pending, int cols, struct chat_text_lines *ls)
{
	switch (e->kind) {
	case ENTRY_USER: {
		char *safe = text_sanitize(entry_text(e), true);
		bool first = true;
		for (char *line = safe, *next; line; line = next) {
			char *nl = strchr(line, '\n');
			next = nl ? nl + 1 : NULL;
			if (nl) {
				*nl = '\0';
			}
			char *row = xasprintf("%s%s", first ? "› " : "  ", line);
			chat_text_wrap(ls, row, cols, 0, 2, SLOT_ACCENT, false, true);
			free(row);
			first = false;
		}
		free(safe);
		return; /* the answer follows without a gap */
	}
	case ENTRY_ASSISTANT:
		if (e->text.len) {
			chat_text_markdown(ls, entry_text(e), cols);
		} else if (pending) {
			chat_text_wrap(ls, "…", cols, 0, 0, SLOT_DIM, false, true);
		}
		if (e->stopped) {
			chat_text_wrap(ls, "[stopped]", cols, 0, 0, SLOT_STATUS_WARN, false, true);
		}
		break;
	case ENTRY_ERROR:
	case ENTRY_INFO:
	case ENTRY_SOURCES: {
		char *safe = text_sanitize(entry_text(e), false);
		enum theme_slot slot = e->kind == ENTRY_ERROR ? SLOT_ERROR : SLOT_DIM;
		chat_text_wrap(ls, safe, cols, 0, 2, slot, false, true);
		free(safe);
		break;
	}
	}
	chat_text_add(ls, "", 0, 0, SLOT_NORMAL, false);
}

/* entry_lines: entry i laid out for cols, again only when its text, state or the width
 * changed (while an answer streams, only that answer is laid out again). */
static const struct chat_text_lines *entry_lines(struct chat_view *c, size_t i, int cols)
{
	struct entry *e = &c->entries[i];
	bool pending = c->turn && i == c->answer;
	if (!e->lines_valid || e->lines_cols != cols || e->lines_len != e->text.len ||
	    e->lines_stopped != e->stopped || e->lines_pending != pending) {
		chat_text_free(&e->lines);
		lay_out(e, pending, cols, &e->lines);
		e->lines_valid = true;
		e->lines_cols = cols;
		e->lines_len = e->text.len;
		e->lines_stopped = e->stopped;
		e->lines_pending = pending;
	}
	return &e->lines;
}

/* draw_body draws the scrollback's last h lines above c->scroll into rows [y, y+h). */
static void draw_body(struct chat_view *c, WINDOW *w, int y, int h, int cols)
{
	size_t total = 0;
	for (size_t i = 0; i < c->n_entries; i++) {
		total += entry_lines(c, i, cols)->len;
	}
	size_t max_scroll = total > (size_t)h ? total - (size_t)h : 0;
	if (c->scroll > max_scroll) {
		c->scroll = max_scroll;
	}
	size_t end = total - c->scroll; /* one past the last line shown */
	size_t from = end > (size_t)h ? end - (size_t)h : 0;
	size_t at = 0;
	for (size_t i = 0; i < c->n_entries && at < end; i++) {
		const struct chat_text_lines *ls = &c->entries[i].lines;
		for (size_t j = 0; j < ls->len && at < end; j++, at++) {
			if (at >= from) {
				chat_text_draw_line(w, y + (int)(at - from), &ls->items[j]);
			}
		}
	}
}

/* --- the input area --- */

struct input_row {
	size_t from, to; /* bytes of c->input */
	bool first;      /* starts a logical line */
};

static size_t input_rows(const struct chat_view *c, int cols, struct input_row *rows, size_t max,
                         int *cur_row, int *cur_col)
{
	size_t n = 0;
	int room = cols - 2;
	size_t i = 0, start = 0;
	int w = 0;
	*cur_row = 0;
	*cur_col = 2;
	bool first = true;
	for (;;) {
		if (i == c->cursor) {
			*cur_row = (int)n;
			*cur_col = 2 + w;
		}
		if (i == c->input_len || c->input[i] == '\n') {
			if (n < max) {
				rows[n] = (struct input_row){start, i, first};
			}
			n++;
			if (i == c->input_len) {
				break;
			}
			i++;
			start = i;
			w = 0;
			first = true;
			continue;
		}
		int cw;
		size_t len = chat_text_char(c->input + i, &cw);
		if (w + cw > room) {
			if (n < max) {
				rows[n] = (struct input_row){start, i, first};
			}
			n++;
			start = i;
			w = 0;
			first = false;
			if (i == c->cursor) {
				*cur_row = (int)n;
				*cur_col = 2;
			}
		}
		w += cw;
		i += len;
	}
	return n;
}

static void draw_header(struct chat_view *c, WINDOW *w, int y, int cols)
{
	struct buf b;
	buf_init(&b);
	if (c->ps_error[0] && !c->loaded) {
		const char *why = c->ps_error;
		buf_appendf(&b, "ollama ✗ %s",
		            str_has_prefix(why, "ollama: ") ? why + strlen("ollama: ") : why);
	} else if (c->loaded) {
		/* A list from before a failed look says so (why is in the answer's error line). */
		buf_appendf(&b, "ollama loaded%s: ", c->ps_error[0] ? " (last look failed)" : "");
		if (c->loaded->len == 0) {
			buf_appendf(&b, "none");
		}
		for (size_t i = 0; i < c->loaded->len; i++) {
			const struct llm_model_info *m = &c->loaded->items[i];
			double share = llm_model_vram_share(m);
			buf_appendf(&b, "%s%s %.1f GB", i ? " · " : "", m->name ? m->name : "?",
			            (double)m->size / 1e9);
			if (share >= 0) {
				buf_appendf(&b, " %.0f%% VRAM", share * 100.0);
			}
		}
	} else if (c->ps_pending) {
		buf_appendf(&b, "ollama: asking which models are loaded…");
	} else {
		buf_appendf(&b, "ollama: not configured");
	}
	char *safe = text_sanitize(b.data ? b.data : "", false);
	char *fit = text_fit(safe, cols, false);
	wattrset(w, palette_attr(SLOT_HEADER));
	mvwaddstr(w, y, 0, fit);
	free(fit);
	free(safe);
	buf_finish(&b);
}

static void draw(struct view *v, WINDOW *w, int y, int h, int cols)
{
	struct chat_view *c = (struct chat_view *)v;
	draw_header(c, w, y, cols);
	struct input_row rows[64];
	int cur_row = 0, cur_col = 2;
	size_t n_rows = 1;
	if (c->typing) {
		n_rows = input_rows(c, cols, rows, 64, &cur_row, &cur_col);
	}
	size_t shown = n_rows < MAX_INPUT_ROWS ? n_rows : MAX_INPUT_ROWS;
	size_t first_row = 0;
	if (n_rows > shown) {
		first_row = (size_t)cur_row >= shown ? (size_t)cur_row - shown + 1 : 0;
		if (first_row + shown > n_rows) {
			first_row = n_rows - shown;
		}
	}
	int body_y = y + 1;
	int body_h = h - 2 - (int)shown; /* header, rule, input rows */
	char redis_what[400], redis_todo[300];
	bool redis_rows =
	        redis_notice(c, redis_what, sizeof(redis_what), redis_todo, sizeof(redis_todo)) &&
	        body_h > 4;
	if (redis_rows) {
		body_h -= 2;
	}
	if (body_h < 1) {
		body_h = 1;
	}
	draw_body(c, w, body_y, body_h, cols);
	if (redis_rows) {
		const char *rows_text[2] = {redis_what, redis_todo};
		for (int i = 0; i < 2; i++) {
			char *safe = text_sanitize(rows_text[i], false);
			char *fit = text_fit(safe, cols, false);
			wattrset(w, palette_attr(i == 0 ? SLOT_ERROR : SLOT_STATUS_WARN));
			wmove(w, body_y + body_h + i, 0);
			wclrtoeol(w);
			mvwaddstr(w, body_y + body_h + i, 0, fit);
			free(fit);
			free(safe);
		}
	}
	if (c->n_entries == 0) {
		wattrset(w, palette_attr(SLOT_DIM));
		char intro[200];
		snprintf(intro, sizeof(intro), "Ask %s %s anything: type and press Enter.",
		         llm_provider_name(c->provider), model_of(c));
		char *safe = text_sanitize(intro, false);
		char *fit = text_fit(safe, cols, false);
		mvwaddstr(w, body_y, 0, fit);
		free(fit);
		free(safe);
	}
	/* The rule with the keys, then the input. */
	int rule_y = y + h - 1 - (int)shown;
	char rule[300];
	if (c->scroll) {
		snprintf(rule, sizeof(rule), "── %zu more below (PgDn) ", c->scroll);
	} else if (c->turn) {
		const char *what = c->stage == CHAT_TURN_RETRIEVING
		                           ? "retrieving from your documents"
		                   : c->stage == CHAT_TURN_CONDENSING ? "condensing them locally"
		                   : c->stage == CHAT_TURN_ASKING     ? "asking"
		                                                      : "generating";
		snprintf(rule, sizeof(rule), "── %s… Esc stops ", what);
	} else if (c->typing) {
		snprintf(rule, sizeof(rule),
		         "── Enter sends · Alt-Enter/^J new line · Esc leaves the input ");
	} else {
		snprintf(rule, sizeof(rule),
		         "── Enter types · S sessions · R documents %s · p provider · m model · y "
		         "copy ",
		         c->rag ? "on" : "off");
	}
	struct buf rb;
	buf_init(&rb);
	buf_appendf(&rb, "%s", rule);
	for (int i = text_width(rule); i < cols; i++) {
		buf_appendf(&rb, "─");
	}
	char *fit = text_fit(rb.data, cols, false);
	wattrset(w, palette_attr(SLOT_BORDER));
	mvwaddstr(w, rule_y, 0, fit);
	free(fit);
	buf_finish(&rb);
	if (!c->typing) {
		wattrset(w, palette_attr(SLOT_DIM));
		mvwaddstr(w, rule_y + 1, 0, "> ");
		return;
	}
	wattrset(w, palette_attr(SLOT_PROMPT));
	for (size_t r = 0; r < shown; r++) {
		const struct input_row *ir = &rows[first_row + r];
		char *raw = xstrndup(c->input + ir->from, ir->to - ir->from);
		char *safe = text_sanitize(raw, false);
		mvwaddstr(w, rule_y + 1 + (int)r, 0,
		          ir->first ? (first_row + r == 0 ? "> " : "│ ") : "  ");
		mvwaddstr(w, rule_y + 1 + (int)r, 2, safe);
		free(safe);
		free(raw);
	}
	/* The cursor is a reverse-video cell (the terminal's own is the command line's). */
	int cy = rule_y + 1 + cur_row - (int)first_row;
	attr_t pa = palette_attr(SLOT_PROMPT);
	mvwchgat(w, cy, cur_col < cols ? cur_col : cols - 1, 1, (pa & ~A_COLOR) | A_REVERSE,
	         (short)PAIR_NUMBER(pa), NULL);
}

/* --- keys --- */

static void insert(struct chat_view *c, const char *s, size_t n)
{
	if (c->input_len + n >= sizeof(c->input)) {
		return;
	}
	memmove(c->input + c->cursor + n, c->input + c->cursor, c->input_len - c->cursor + 1);
	memcpy(c->input + c->cursor, s, n);
	c->input_len += n;
	c->cursor += n;
}

static size_t prev_char(const struct chat_view *c, size_t i)
{
	if (i == 0) {
		return 0;
	}
	do {
		i--;
	} while (i > 0 && (c->input[i] & 0xC0) == 0x80);
	return i;
}

static void delete_range(struct chat_view *c, size_t from, size_t to)
{
	memmove(c->input + from, c->input + to, c->input_len - to + 1);
	c->input_len -= to - from;
	c->cursor = from;
}

static void history_move(struct chat_view *c, int dir)
{
	if (!c->n_history) {
		return;
	}
	long pos = c->hist_pos < 0 ? (long)c->n_history : c->hist_pos;
	pos += dir;
	if (pos < 0) {
		pos = 0;
	}
	if (pos >= (long)c->n_history) {
		c->hist_pos = -1;
		set_input(c, "");
		return;
	}
	c->hist_pos = pos;
	set_input(c, c->history[pos]);
}

static int page(void)
{
	return LINES - 8 > 1 ? LINES - 8 : 1;
}

static void esc_action(struct chat_view *c)
{
	c->esc_pending = false;
	if (c->turn) {
		stop(c);
		app_message(c->base.app, false, "stopped; the answer so far is kept");
	} else {
		c->typing = false;
	}
	app_dirty(c->base.app);
}

static void on_esc_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct chat_view *c = arg;
	if (c->esc_pending) {
		esc_action(c);
	}
}

static void typing_key(struct chat_view *c, int key)
{
	bool enter = key == '\r' || key == KEY_ENTER + KEYS_FN_BASE;
	if (c->esc_pending) {
		event_del(c->esc_ev);
		if (enter || key == '\n') {
			c->esc_pending = false;
			insert(c, "\n", 1); /* Alt-Enter */
			return;
		}
		esc_action(c);
		if (!c->typing) {
			return;
		}
	}
	if (key == 27) {
		c->esc_pending = true;
		struct timeval tv = {0, ESC_WAIT_MS * 1000};
		event_add(c->esc_ev, &tv);
	} else if (enter) {
		send_input(c);
	} else if (key == '\n') {
		insert(c, "\n", 1);
	} else if (key == 127 || key == 8 || key == KEY_BACKSPACE + KEYS_FN_BASE) {
		delete_range(c, prev_char(c, c->cursor), c->cursor);
	} else if (key == KEY_DC + KEYS_FN_BASE) {
		if (c->cursor < c->input_len) {
			size_t save = c->cursor;
			int cw;
			size_t n = chat_text_char(c->input + c->cursor, &cw);
			delete_range(c, save, save + n);
		}
	} else if (key == KEYS_CTRL('a') || key == KEY_HOME + KEYS_FN_BASE) {
		while (c->cursor > 0 && c->input[c->cursor - 1] != '\n') {
			c->cursor--;
		}
	} else if (key == KEYS_CTRL('e') || key == KEY_END + KEYS_FN_BASE) {
		while (c->cursor < c->input_len && c->input[c->cursor] != '\n') {
			c->cursor++;
		}
	} else if (key == KEYS_CTRL('u')) {
		size_t from = c->cursor;
		while (from > 0 && c->input[from - 1] != '\n') {
			from--;
		}
		delete_range(c, from, c->cursor);
	} else if (key == KEYS_CTRL('w')) {
		size_t from = c->cursor;
		while (from > 0 && c->input[from - 1] == ' ') {
			from--;
		}
		while (from > 0 && c->input[from - 1] != ' ' && c->input[from - 1] != '\n') {
			from--;
		}
		delete_range(c, from, c->cursor);
	} else if (key == KEY_LEFT + KEYS_FN_BASE) {
		c->cursor = prev_char(c, c->cursor);
	} else if (key == KEY_RIGHT + KEYS_FN_BASE) {
		if (c->cursor < c->input_len) {
			int cw;
			c->cursor += chat_text_char(c->input + c->cursor, &cw);
		}
	} else if (key == KEY_UP + KEYS_FN_BASE) {
		history_move(c, -1);
	} else if (key == KEY_DOWN + KEYS_FN_BASE) {
		history_move(c, 1);
	} else if (key == KEY_PPAGE + KEYS_FN_BASE) {
		c->scroll += (size_t)page();
	} else if (key == KEY_NPAGE + KEYS_FN_BASE) {
		c->scroll = c->scroll > (size_t)page() ? c->scroll - (size_t)page() : 0;
	} else if (key >= 32 && key != 127 && key < KEYS_FN_BASE) {
		char mb[8];
		mbstate_t st = {0};
		size_t n = wcrtomb(mb, (wchar_t)key, &st);
		if (n != (size_t)-1) {
			insert(c, mb, n);
		}
	}
}

static bool handle(struct view *v, enum action a, int key)
{
	struct chat_view *c = (struct chat_view *)v;
	if (c->typing) {
		if (key >= 0) {
			typing_key(c, key);
		}
		return true;
	}
	switch (a) {
	case ACT_CHAT_INPUT:
		c->typing = true;
		return true;
	case ACT_COPY:
		copy(c, false);
		return true;
	case ACT_COPY_CODE:
		copy(c, true);
		return true;
	case ACT_PROVIDER:
		cycle_provider(c);
		return true;
	case ACT_MODEL:
		next_model(c);
		return true;
	case ACT_RAG:
		toggle_rag(c);
		return true;
	case ACT_SESSIONS:
		app_push(c->base.app, view_sessions_create(c->base.app, &c->base));
		return true;
	case ACT_UP:
		c->scroll++;
		return true;
	case ACT_DOWN:
		c->scroll = c->scroll ? c->scroll - 1 : 0;
		return true;
	case ACT_PAGE_UP:
		c->scroll += (size_t)page();
		return true;
	case ACT_PAGE_DOWN:
		c->scroll = c->scroll > (size_t)page() ? c->scroll - (size_t)page() : 0;
		return true;
	case ACT_TOP:
		c->scroll = (size_t)1 << 30; /* clamped when drawn */
		return true;
	case ACT_BOTTOM:
		c->scroll = 0;
		return true;
	case ACT_REFRESH:
		fetch_ps(c);
		return true;
	default:
		return false;
	}
}

static bool wants_raw(struct view *v)
{
	return ((struct chat_view *)v)->typing;
}

static bool cancel(struct view *v)
{
	struct chat_view *c = (struct chat_view *)v;
	if (c->turn) {
		stop(c);
		return true;
	}
	return false;
}

static void title(struct view *v, char *out, size_t size)
{
	struct chat_view *c = (struct chat_view *)v;
	/* Short enough for 80 columns beside the view tabs: the model names its provider. */
	snprintf(out, size, "%s · %s%s%s%s", model_of(c), c->named ? c->conv.name : "unsaved",
	         c->save_failed ? " (unsaved)" : "", c->rag ? " · docs" : "",
	         c->turn ? " · generating…" : "");
}

static void enter(struct view *v)
{
	struct chat_view *c = (struct chat_view *)v;
	c->typing = true;
	fetch_ps(c);
}

static void leave(struct view *v)
{
	struct chat_view *c = (struct chat_view *)v;
	if (c->esc_pending) {
		event_del(c->esc_ev);
		c->esc_pending = false;
	}
	curs_set(0);
}

static void destroy(struct view *v)
{
	struct chat_view *c = (struct chat_view *)v;
	chat_turn_result_free(chat_turn_cancel(c->turn));
	session_cancel(c->save_op);
	session_cancel(c->load_op);
	redis_client_cancel(c->ping);
	if (c->ping_ev) {
		event_free(c->ping_ev);
	}
	llm_destroy(c->llm); /* cancels /api/ps and /api/tags without callbacks */
	llm_cache_destroy(c->cache);
	session_store_destroy(c->store);
	redis_client_destroy(c->redis);
	session_finish(&c->conv);
	http_destroy(c->http);
	event_free(c->esc_ev);
	llm_models_free(c->loaded);
	clear_entries(c);
	free(c->entries);
	for (size_t i = 0; i < c->n_history; i++) {
		free(c->history[i]);
	}
	free(c->model);
	free(c);
}

static const struct view_ops ops = {
        .name = "chat",
        .scope = SCOPE_CHAT,
        .draw = draw,
        .handle = handle,
        .title = title,
        .enter = enter,
        .leave = leave,
        .cancel = cancel,
        .destroy = destroy,
        .wants_raw = wants_raw,
};

struct view *view_chat_create(struct app *a)
{
	struct chat_view *c = xcalloc(1, sizeof(*c));
	c->base.ops = &ops;
	c->base.app = a;
	c->http = http_create(app_base(a));
	c->llm = llm_create(c->http, app_config(a));
	if (app_timeout_ms(a) > 0) {
		/* --timeout: for each request, and for the silence inside a streamed answer. */
		http_set_default_timeout(c->http, app_timeout_ms(a));
		llm_set_idle_timeout(c->llm, app_timeout_ms(a));
	}
	c->provider = LLM_OLLAMA;
	c->hist_pos = -1;
	c->esc_ev = evtimer_new(app_base(a), on_esc_timer, c);
	const struct config *cfg = app_config(a);
	if (cfg->redis.configured) {
		struct err err;
		c->redis =
		        redis_client_create(app_base(a), cfg->redis.url, cfg->redis.password, &err);
		if (!c->redis) {
			app_message(a, true, "%s", err.msg);
		} else {
			if (cfg->redis.cache_ttl > 0) {
				c->cache = llm_cache_create(app_base(a), c->redis,
				                            cfg->redis.cache_ttl);
			}
			c->ping_ev = evtimer_new(app_base(a), on_ping_timer, c);
			on_ping_timer(-1, 0, c);
		}
	}
	c->store = session_store_create(app_base(a), c->redis, NULL);
	session_init(&c->conv, "unsaved");
	chat_meter_init(&c->meter, cfg->gemini.price_in, cfg->gemini.price_out);
	return &c->base;
}
