/* test_chat_turn.c: one question through retrieval, condensing and the answering model, against
 * an evhttp server on 127.0.0.1 that plays Ollama (/api/embed, /api/chat as NDJSON for the chat
 * model and the summary model) and Gemini (:streamGenerateContent?alt=sse, with a
 * promptTokenCount proportional to the request's size, so that what condensing saves shows in
 * the counts). The local index lives in a temporary $XDG_STATE_HOME. The server records every
 * request, so the tests can check what went where: the condensed text and not the raw chunks to
 * the cloud, the chunks as they are with "direct" or when condensing fails. With
 * LABDECK_TEST_REDIS_URL naming a redis-server, a repeated question is answered without asking
 * any model (skipped otherwise). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <signal.h>

#include "chat_turn.h"
#include "config.h"
#include "http.h"
#include "json_util.h"
#include "llm.h"
#include "llm_cache.h"
#include "redis_client.h"
#include "support.h"
#include "util.h"
#include "vector_store.h"

#define WAIT_MS 10000
#define DIM 4
#define MAX_SEEN 16
#define MAX_REPLIES 16
#define MAX_HELD 4
#define TEST_DB 11 /* the Redis database the cache test flushes */

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle))) {                                                    \
			fail_msg("line %d: \"%s\" does not contain \"%s\"", __LINE__, (hay),       \
			         (needle));                                                        \
		}                                                                                  \
	} while (0)

#define assert_not_contains(hay, needle)                                                           \
	do {                                                                                       \
		if (strstr((hay), (needle))) {                                                     \
			fail_msg("line %d: \"%s\" contains \"%s\"", __LINE__, (hay), (needle));    \
		}                                                                                  \
	} while (0)

/* What the models answer. */
static const char *const ANSWER_PIECES[] = {"Backups run", " nightly", " at 02:00."};
#define ANSWER_TEXT "Backups run nightly at 02:00."
#define N_ANSWER_PIECES 3
#define ANSWER_PROMPT_TOKENS 42 /* the Ollama chat model's counts */
#define ANSWER_EVAL_TOKENS 7
#define GEMINI_OUT_TOKENS 9
#define SUMMARY_TEXT "Backups: nightly 02:00 on pve-b, kept 14 days on the NAS."
#define SUMMARY_PROMPT_TOKENS 120
#define SUMMARY_EVAL_TOKENS 15
#define EMBED_TOKENS 7

#define QUESTION "When do the backups run?"

/* The index: the question's vector is nearest C1, then C2; C3 is not among the top 2. */
#define C1_TITLE "Backups > schedule"
#define C1_TEXT                                                                                    \
	"Backups of every guest run nightly at 02:00 on pve-b with vzdump in snapshot mode and "   \
	"are kept for 14 days on the NAS share backup-nas; the weekly full copy goes to the "      \
	"offsite disk on Sundays."
#define C2_TITLE "GPU > passthrough"
#define C2_TEXT                                                                                    \
	"The RTX 3090 in pve-b is passed through to VM 201 (ollama) with the vfio-pci driver; "    \
	"the host boots with intel_iommu=on and the card's audio function goes along."
#define C3_TITLE "Network > VLANs"
#define C3_TEXT "VLAN 20 carries storage traffic between the nodes; VLAN 30 is for guests."
static const float E1[DIM] = {1, 0, 0, 0}, E2[DIM] = {0, 1, 0, 0}, E3[DIM] = {0, 0, 1, 0};
/* What /api/embed answers for the question. */
#define QUESTION_VECTOR "[0.9,0.2,0,0]"

#define TEST_INI                                                                                   \
	"[ollama]\n"                                                                               \
	"url = http://127.0.0.1:%d\n"                                                              \
	"chat_model = chat-model\n"                                                                \
	"summary_model = summ-model\n"                                                             \
	"embed_model = bge-m3\n"                                                                   \
	"[gemini]\n"                                                                               \
	"url = http://127.0.0.1:%d\n"                                                              \
	"model = gemini-test\n"                                                                    \
	"%s"                                                                                       \
	"[rag]\n"                                                                                  \
	"top_k = 2\n"                                                                              \
	"pipeline = %s\n"

/* A request the server got. */
struct seen {
	char uri[256];
	char model[64]; /* the body's "model", "" when none */
	char *body;
	size_t body_len;
};

/* A streamed reply: units (NDJSON lines, SSE events) sent one per gap; with hold_after, only
 * that many, and the connection is then held open. */
struct reply {
	struct fx *f;
	struct evhttp_request *req;
	struct event *timer;
	char **units;
	size_t n_units, sent, hold_after;
	bool ended;
};

struct fx {
	struct event_base *base;
	struct event *tick;
	struct evhttp *server;
	int port;
	struct http *http;
	struct config cfg;
	bool cfg_loaded;
	struct llm *llm;
	struct redis_client *redis;
	struct llm_cache *cache; /* NULL: no cache */
	char dir[64];
	char *index_path;
	/* how the server answers */
	int embed_status; /* 200, or an error status */
	bool embed_hold;  /* keep /api/embed unanswered */
	int summary_status;
	bool summary_hold;
	size_t answer_hold_after; /* the answering model stops after this many units; 0: never */
	/* what it got */
	struct seen seen[MAX_SEEN];
	int n_seen;
	struct reply *replies[MAX_REPLIES];
	int n_replies;
	struct evhttp_request *held[MAX_HELD];
	int n_held;
	/* the turn */
	struct chat_turn *turn;
	bool in_start;
	int stages[16];
	int n_stages;
	char warn_backend[4][16];
	struct err warn_err[4];
	int n_warnings;
	struct buf text;
	int tokens, tokens_after_done;
	int done_calls;
	struct chat_turn_result *res;
};

/* ---- the server ----------------------------------------------------------------------------- */

static void on_reply_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct reply *r = arg;
	if (r->sent < r->n_units && (!r->hold_after || r->sent < r->hold_after)) {
		support_send_chunk(r->req, r->units[r->sent], strlen(r->units[r->sent]));
		r->sent++;
		struct timeval gap = {0, 5000};
		evtimer_add(r->timer, &gap);
		return;
	}
	if (r->hold_after) {
		return; /* nothing more, the connection stays open */
	}
	evhttp_send_reply_end(r->req);
	r->ended = true;
}

/* stream starts a streamed reply of the n units (taken over). */
static void stream(struct fx *f, struct evhttp_request *req, const char *content_type, char **units,
                   size_t n, size_t hold_after)
{
	assert_true(f->n_replies < MAX_REPLIES);
	struct reply *r = xcalloc(1, sizeof(*r));
	r->f = f;
	r->req = req;
	r->units = units;
	r->n_units = n;
	r->hold_after = hold_after;
	r->timer = evtimer_new(f->base, on_reply_timer, r);
	f->replies[f->n_replies++] = r;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
	evhttp_send_reply_start(req, 200, "OK");
	struct timeval now = {0, 0};
	evtimer_add(r->timer, &now);
}

static void ollama_chat(struct fx *f, struct evhttp_request *req, const char *model,
                        const char *const *pieces, size_t n, int prompt_tokens, int eval_tokens,
                        size_t hold_after)
{
	char **units = xcalloc(n + 1, sizeof(*units));
	for (size_t i = 0; i < n; i++) {
		units[i] = xasprintf("{\"model\":\"%s\",\"created_at\":\"2025-01-01T00:00:00Z\","
		                     "\"message\":{\"role\":\"assistant\",\"content\":\"%s\"},"
		                     "\"done\":false}\n",
		                     model, pieces[i]);
	}
	units[n] = xasprintf("{\"model\":\"%s\",\"created_at\":\"2025-01-01T00:00:01Z\","
	                     "\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
	                     "\"done_reason\":\"stop\",\"prompt_eval_count\":%d,\"eval_count\":%d}"
	                     "\n",
	                     model, prompt_tokens, eval_tokens);
	stream(f, req, "application/x-ndjson", units, n + 1, hold_after);
}

/* parts_chars adds up the bytes of the "text" of every part in parts. */
static size_t parts_chars(json_t *parts)
{
	size_t n = 0;
	size_t i;
	json_t *p;
	json_array_foreach (parts, i, p) {
		const char *t = json_string_value(json_object_get(p, "text"));
		n += t ? strlen(t) : 0;
	}
	return n;
}

/* Gemini's prompt tokens: one per 4 bytes of the text the request carries (the system
 * instruction and every message), as a tokenizer would count, not the JSON around it. */
static int gemini_prompt_tokens(const char *body)
{
	json_t *root = json_loads(body, 0, NULL);
	assert_non_null(root);
	size_t n = parts_chars(json_path(root, "systemInstruction", "parts", NULL));
	size_t i;
	json_t *c;
	json_array_foreach (json_object_get(root, "contents"), i, c) {
		n += parts_chars(json_object_get(c, "parts"));
	}
	json_decref(root);
	return (int)(n / 4);
}

static void gemini_chat(struct fx *f, struct evhttp_request *req, const char *body)
{
	int prompt = gemini_prompt_tokens(body);
	char **units = xcalloc(N_ANSWER_PIECES, sizeof(*units));
	for (size_t i = 0; i < N_ANSWER_PIECES; i++) {
		bool last = i + 1 == N_ANSWER_PIECES;
		char usage[128];
		if (last) {
			snprintf(usage, sizeof(usage),
			         "\"promptTokenCount\":%d,\"candidatesTokenCount\":%d,"
			         "\"totalTokenCount\":%d",
			         prompt, GEMINI_OUT_TOKENS, prompt + GEMINI_OUT_TOKENS);
		} else {
			snprintf(usage, sizeof(usage),
			         "\"promptTokenCount\":%d,\"totalTokenCount\":%d", prompt, prompt);
		}
		units[i] = xasprintf("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":"
		                     "\"%s\"}],\"role\":\"model\"}%s}],\"usageMetadata\":{%s},"
		                     "\"modelVersion\":\"gemini-test\"}\n\n",
		                     ANSWER_PIECES[i], last ? ",\"finishReason\":\"STOP\"" : "",
		                     usage);
	}
	stream(f, req, "text/event-stream", units, N_ANSWER_PIECES, f->answer_hold_after);
}

static void hold(struct fx *f, struct evhttp_request *req)
{
	assert_true(f->n_held < MAX_HELD);
	f->held[f->n_held++] = req;
}

static void json_reply(struct evhttp_request *req, int status, const char *body)
{
	support_reply(req, status, status == 200 ? "OK" : "Error", "application/json", body,
	              strlen(body));
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct fx *f = arg;
	assert_true(f->n_seen < MAX_SEEN);
	struct seen *s = &f->seen[f->n_seen++];
	snprintf(s->uri, sizeof(s->uri), "%s", evhttp_request_get_uri(req));
	struct evbuffer *b = evhttp_request_get_input_buffer(req);
	s->body_len = evbuffer_get_length(b);
	s->body = xmalloc(s->body_len + 1);
	evbuffer_copyout(b, s->body, s->body_len);
	s->body[s->body_len] = '\0';
	json_t *root = json_loadb(s->body, s->body_len, 0, NULL);
	const char *model = root ? json_string_value(json_object_get(root, "model")) : NULL;
	snprintf(s->model, sizeof(s->model), "%s", model ? model : "");
	json_decref(root);

	if (strcmp(s->uri, "/api/embed") == 0) {
		if (f->embed_hold) {
			hold(f, req);
		} else if (f->embed_status != 200) {
			json_reply(req, f->embed_status, "{\"error\":\"embedding model crashed\"}");
		} else {
			json_reply(req, 200,
			           "{\"model\":\"bge-m3\",\"embeddings\":[" QUESTION_VECTOR "],"
			           "\"prompt_eval_count\":7}");
		}
		return;
	}
	if (strcmp(s->uri, "/api/chat") == 0 && strcmp(s->model, "summ-model") == 0) {
		if (f->summary_hold) {
			hold(f, req);
		} else if (f->summary_status != 200) {
			json_reply(req, f->summary_status,
			           "{\"error\":\"model \\\"summ-model\\\" not found\"}");
		} else {
			const char *pieces[] = {SUMMARY_TEXT};
			ollama_chat(f, req, "summ-model", pieces, 1, SUMMARY_PROMPT_TOKENS,
			            SUMMARY_EVAL_TOKENS, 0);
		}
		return;
	}
	if (strcmp(s->uri, "/api/chat") == 0) {
		ollama_chat(f, req, s->model, ANSWER_PIECES, N_ANSWER_PIECES, ANSWER_PROMPT_TOKENS,
		            ANSWER_EVAL_TOKENS, f->answer_hold_after);
		return;
	}
	if (strstr(s->uri, ":streamGenerateContent")) {
		gemini_chat(f, req, s->body);
		return;
	}
	json_reply(req, 404, "{\"error\":\"no such path\"}");
}

/* The requests that went to uri (and model, when not NULL), counted; *last gets the last. */
static int requests_to(struct fx *f, const char *uri_part, const char *model,
                       const struct seen **last)
{
	int n = 0;
	for (int i = 0; i < f->n_seen; i++) {
		if (strstr(f->seen[i].uri, uri_part) &&
		    (!model || strcmp(f->seen[i].model, model) == 0)) {
			n++;
			if (last) {
				*last = &f->seen[i];
			}
		}
	}
	return n;
}

/* The body of the one Gemini request. */
static const struct seen *gemini_request(struct fx *f)
{
	const struct seen *s = NULL;
	assert_int_equal(requests_to(f, ":streamGenerateContent", NULL, &s), 1);
	return s;
}

/* ---- the index and the config --------------------------------------------------------------- */

struct store_wait {
	int calls;
};

static void on_store(void *ud, const struct err *err)
{
	struct store_wait *w = ud;
	w->calls++;
	if (err) {
		fail_msg("vector store: %s", err->msg);
	}
}

static void write_index(struct fx *f)
{
	struct vector_store_opts o = {.base = f->base, .local_path = f->index_path, .write = true};
	struct store_wait w = {0};
	struct vector_store *vs = vector_store_open(&o, on_store, &w);
	SUPPORT_WAIT_FOR(f->base, w.calls == 1, WAIT_MS);
	const struct vector_store_chunk a[] = {
	        {C1_TITLE, C1_TEXT, E1},
	        {C2_TITLE, C2_TEXT, E2},
	};
	const struct vector_store_chunk b[] = {{C3_TITLE, C3_TEXT, E3}};
	vector_store_replace(vs, "/docs/lab.md", "sha256:a", "bge-m3", a, 2, DIM, on_store, &w);
	SUPPORT_WAIT_FOR(f->base, w.calls == 2, WAIT_MS);
	vector_store_replace(vs, "/docs/net.md", "sha256:b", "bge-m3", b, 1, DIM, on_store, &w);
	SUPPORT_WAIT_FOR(f->base, w.calls == 3, WAIT_MS);
	vector_store_close(vs);
}

/* load_config (re)loads the config with the pipeline and, when with_key, the Gemini key; the
 * model client is made again over it. */
static void load_config(struct fx *f, const char *pipeline, bool with_key)
{
	llm_destroy(f->llm);
	if (f->cfg_loaded) {
		config_finish(&f->cfg);
	}
	char *text = xasprintf(TEST_INI, f->port, f->port,
	                       with_key ? "api_key = test-gemini-key-4711\n" : "", pipeline);
	struct err e;
	if (!config_load_string(&f->cfg, "test.ini", text, &e)) {
		fail_msg("config: %s", e.msg);
	}
	free(text);
	f->cfg_loaded = true;
	f->llm = llm_create(f->http, &f->cfg);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	f->base = support_base_new(&f->tick);
	f->server = support_server_new(f->base, on_request, f, &f->port);
	evhttp_set_allowed_methods(f->server, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	f->http = http_create(f->base);
	strcpy(f->dir, "/tmp/labdeck-ct-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	setenv("XDG_STATE_HOME", f->dir, 1);
	unsetenv("GEMINI_API_KEY");
	f->index_path = vector_store_default_path();
	assert_non_null(strstr(f->index_path, f->dir));
	f->embed_status = 200;
	f->summary_status = 200;
	buf_init(&f->text);
	load_config(f, "condense", true);
	write_index(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	chat_turn_result_free(f->res);
	llm_cache_destroy(f->cache);
	redis_client_destroy(f->redis);
	llm_destroy(f->llm);
	http_destroy(f->http);
	for (int i = 0; i < f->n_replies; i++) {
		struct reply *r = f->replies[i];
		if (!r->ended) {
			evhttp_send_reply_end(r->req);
		}
		event_free(r->timer);
		for (size_t k = 0; k < r->n_units; k++) {
			free(r->units[k]);
		}
		free(r->units);
		free(r);
	}
	for (int i = 0; i < f->n_held; i++) {
		evhttp_send_reply(f->held[i], 503, "Gone", NULL);
	}
	evhttp_free(f->server);
	support_base_free(f->base, f->tick);
	for (int i = 0; i < f->n_seen; i++) {
		free(f->seen[i].body);
	}
	config_finish(&f->cfg);
	buf_finish(&f->text);
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	unsetenv("XDG_STATE_HOME");
	free(f->index_path);
	free(f);
	return 0;
}

/* ---- the turn ------------------------------------------------------------------------------- */

static void on_stage(void *ud, enum chat_turn_stage s)
{
	struct fx *f = ud;
	assert_false(f->in_start);
	assert_int_equal(f->done_calls, 0);
	assert_true(f->n_stages < 16);
	f->stages[f->n_stages++] = (int)s;
}

static void on_warning(void *ud, const char *backend, const struct err *err)
{
	struct fx *f = ud;
	assert_int_equal(f->done_calls, 0);
	assert_true(f->n_warnings < 4);
	snprintf(f->warn_backend[f->n_warnings], sizeof(f->warn_backend[0]), "%s", backend);
	f->warn_err[f->n_warnings++] = *err;
}

static void on_token(void *ud, const char *text, size_t len, bool thinking)
{
	struct fx *f = ud;
	assert_false(f->in_start);
	assert_false(thinking);
	if (f->done_calls) {
		f->tokens_after_done++;
	}
	buf_append(&f->text, text, len);
	f->tokens++;
}

static void on_done(void *ud, struct chat_turn_result *res)
{
	struct fx *f = ud;
	assert_false(f->in_start);
	f->done_calls++;
	f->res = res;
	f->turn = NULL;
}

static void start_opts(struct fx *f, const struct chat_turn_opts *o, const char *question)
{
	struct chat_turn_callbacks cb = {on_stage, on_warning, on_token, on_done, f};
	int seen = f->n_seen;
	f->in_start = true;
	f->turn = chat_turn_start(o, question, &cb);
	f->in_start = false;
	assert_non_null(f->turn);
	/* Nothing happens before the loop turns. */
	assert_int_equal(f->done_calls, 0);
	assert_int_equal(f->n_stages, 0);
	assert_int_equal(f->n_seen, seen);
}

static void start(struct fx *f, enum llm_provider p, bool rag)
{
	struct chat_turn_opts o = {
	        .base = f->base,
	        .http = f->http,
	        .llm = f->llm,
	        .cfg = &f->cfg,
	        .cache = f->cache,
	        .provider = p,
	        .rag = rag,
	        .timeout_ms = 5000,
	};
	start_opts(f, &o, QUESTION);
}

static void run_turn(struct fx *f, enum llm_provider p, bool rag)
{
	start(f, p, rag);
	SUPPORT_WAIT_FOR(f->base, f->done_calls == 1, WAIT_MS);
	/* Nothing after done. */
	support_run_for(f->base, 50);
	assert_int_equal(f->done_calls, 1);
	assert_int_equal(f->tokens_after_done, 0);
}

static void assert_stages(struct fx *f, const int *want, int n)
{
	char got[128] = "";
	for (int i = 0; i < f->n_stages; i++) {
		size_t l = strlen(got);
		snprintf(got + l, sizeof(got) - l, "%s ",
		         chat_turn_stage_name((enum chat_turn_stage)f->stages[i]));
	}
	if (f->n_stages != n) {
		fail_msg("stages: %s(want %d)", got, n);
	}
	for (int i = 0; i < n; i++) {
		if (f->stages[i] != want[i]) {
			fail_msg("stages: %s", got);
		}
	}
}

/* The answer arrived whole and is what was streamed. */
static void assert_answer(struct fx *f)
{
	assert_non_null(f->res);
	assert_non_null(f->res->answer);
	if (!f->res->answer->ok) {
		fail_msg("answer failed: %s", f->res->answer->err.msg);
	}
	assert_false(f->res->cached);
	assert_string_equal(f->res->answer->text, ANSWER_TEXT);
	assert_string_equal(f->text.data, ANSWER_TEXT);
	assert_int_equal(f->tokens, N_ANSWER_PIECES);
}

static void assert_sources(struct fx *f)
{
	const struct vector_store_hits *h = &f->res->sources;
	assert_int_equal(h->len, 2);
	assert_string_equal(h->items[0].title, C1_TITLE);
	assert_string_equal(h->items[0].text, C1_TEXT);
	assert_string_equal(h->items[1].title, C2_TITLE);
	assert_true(h->items[0].distance < h->items[1].distance);
}

/* The chunks as "direct" sends them. */
static size_t direct_len(void)
{
	char *d = xasprintf("## %s\n%s\n\n## %s\n%s\n\n", C1_TITLE, C1_TEXT, C2_TITLE, C2_TEXT);
	size_t n = strlen(d);
	free(d);
	return n;
}

/* ---- no retrieval -----------------------------------------------------------------------------
 */

static void test_plain_ollama(void **state)
{
	struct fx *f = *state;
	const struct llm_message history[] = {
	        {LLM_ROLE_USER, "Which node has the GPU?"},
	        {LLM_ROLE_ASSISTANT, "pve-b."},
	};
	char question[64];
	snprintf(question, sizeof(question), "%s", "And its driver?");
	char system[64];
	snprintf(system, sizeof(system), "%s", "You run a home lab.");
	struct chat_turn_opts o = {
	        .base = f->base,
	        .http = f->http,
	        .llm = f->llm,
	        .cfg = &f->cfg,
	        .provider = LLM_OLLAMA,
	        .system = system,
	        .history = history,
	        .n_history = 2,
	};
	start_opts(f, &o, question);
	/* The turn keeps its own copies. */
	memset(question, 'x', sizeof(question) - 1);
	memset(system, 'x', sizeof(system) - 1);
	SUPPORT_WAIT_FOR(f->base, f->done_calls == 1, WAIT_MS);
	support_run_for(f->base, 50);
	assert_int_equal(f->done_calls, 1);
	assert_int_equal(f->tokens_after_done, 0);

	assert_answer(f);
	const int want[] = {CHAT_TURN_ASKING, CHAT_TURN_STREAMING};
	assert_stages(f, want, 2);
	assert_int_equal(f->n_warnings, 0);
	assert_null(f->res->pipeline);
	assert_int_equal(f->res->sources.len, 0);
	assert_int_equal(f->res->context_chars, 0);
	assert_int_equal(f->res->cloud_tokens, 0);
	assert_int_equal(f->res->local_tokens, ANSWER_PROMPT_TOKENS + ANSWER_EVAL_TOKENS);
	assert_int_equal(f->res->prompt_tokens, ANSWER_PROMPT_TOKENS);
	assert_int_equal(f->res->direct_prompt_tokens, ANSWER_PROMPT_TOKENS);
	assert_string_equal(f->res->answer->model, "chat-model");

	/* One request, to the chat model: the system prompt, the history, then the question. */
	assert_int_equal(f->n_seen, 1);
	assert_string_equal(f->seen[0].uri, "/api/chat");
	assert_string_equal(f->seen[0].model, "chat-model");
	json_t *b = json_loads(f->seen[0].body, 0, NULL);
	assert_non_null(b);
	json_t *m = json_object_get(b, "messages");
	assert_int_equal(json_array_size(m), 4);
	const char *want_content[] = {"You run a home lab.", "Which node has the GPU?", "pve-b.",
	                              "And its driver?"};
	const char *want_role[] = {"system", "user", "assistant", "user"};
	for (size_t i = 0; i < 4; i++) {
		json_t *mi = json_array_get(m, i);
		assert_string_equal(json_string_value(json_object_get(mi, "role")), want_role[i]);
		assert_string_equal(json_string_value(json_object_get(mi, "content")),
		                    want_content[i]);
	}
	json_decref(b);
}

static void test_plain_gemini(void **state)
{
	struct fx *f = *state;
	run_turn(f, LLM_GEMINI, false);
	assert_answer(f);
	const int want[] = {CHAT_TURN_ASKING, CHAT_TURN_STREAMING};
	assert_stages(f, want, 2);
	const struct seen *g = gemini_request(f);
	assert_string_equal(g->uri, "/v1beta/models/gemini-test:streamGenerateContent?alt=sse");
	assert_contains(g->body, QUESTION);
	assert_not_contains(g->body, "Context:");
	int prompt = gemini_prompt_tokens(g->body);
	assert_int_equal(f->res->cloud_tokens, prompt + GEMINI_OUT_TOKENS);
	assert_int_equal(f->res->local_tokens, 0);
	assert_int_equal(f->res->prompt_tokens, prompt);
	assert_int_equal(f->res->direct_prompt_tokens, prompt);
	assert_int_equal(f->n_seen, 1); /* no retrieval asked for: nothing embedded */
}

/* ---- with retrieval ------------------------------------------------------------------------- */

static void test_rag_condense(void **state)
{
	struct fx *f = *state;
	run_turn(f, LLM_GEMINI, true);
	assert_answer(f);
	const int want[] = {CHAT_TURN_RETRIEVING, CHAT_TURN_CONDENSING, CHAT_TURN_ASKING,
	                    CHAT_TURN_STREAMING};
	assert_stages(f, want, 4);
	assert_int_equal(f->n_warnings, 0);
	assert_sources(f);
	assert_string_equal(f->res->pipeline, "condense");
	assert_int_equal(f->res->direct_chars, direct_len());
	assert_int_equal(f->res->context_chars, strlen(SUMMARY_TEXT));
	assert_true(f->res->context_chars < f->res->direct_chars);

	/* The summary model got the question and the chunks, not the conversation. */
	const struct seen *s = NULL;
	assert_int_equal(requests_to(f, "/api/chat", "summ-model", &s), 1);
	assert_contains(s->body, QUESTION);
	assert_contains(s->body, C1_TEXT);
	assert_contains(s->body, C2_TEXT);
	assert_not_contains(s->body, C3_TEXT);
	/* The cloud got the condensed text, not the raw chunks. */
	const struct seen *g = gemini_request(f);
	assert_contains(g->body, SUMMARY_TEXT);
	assert_contains(g->body, QUESTION);
	assert_not_contains(g->body, "vzdump in snapshot mode");
	assert_not_contains(g->body, "vfio-pci");
	assert_int_equal(requests_to(f, "/api/chat", "chat-model", NULL), 0);

	int prompt = gemini_prompt_tokens(g->body);
	assert_int_equal(f->res->prompt_tokens, prompt);
	assert_int_equal(f->res->cloud_tokens, prompt + GEMINI_OUT_TOKENS);
	/* Local: the question's embedding and the condensing call. */
	assert_int_equal(f->res->local_tokens,
	                 EMBED_TOKENS + SUMMARY_PROMPT_TOKENS + SUMMARY_EVAL_TOKENS);
	assert_true(f->res->direct_prompt_tokens > f->res->prompt_tokens);
	int64_t estimate = f->res->direct_prompt_tokens;

	/* The estimate is close to what "direct" really sends. */
	chat_turn_result_free(f->res);
	f->res = NULL;
	f->done_calls = 0;
	f->n_stages = 0;
	f->tokens = 0;
	buf_finish(&f->text);
	buf_init(&f->text);
	for (int i = 0; i < f->n_seen; i++) {
		free(f->seen[i].body);
	}
	f->n_seen = 0;
	load_config(f, "direct", true);
	run_turn(f, LLM_GEMINI, true);
	assert_answer(f);
	int64_t measured = f->res->prompt_tokens;
	if (estimate < measured - 2 || estimate > measured + 2) {
		fail_msg("direct estimated %lld, measured %lld", (long long)estimate,
		         (long long)measured);
	}
}

static void test_rag_direct(void **state)
{
	struct fx *f = *state;
	load_config(f, "direct", true);
	run_turn(f, LLM_GEMINI, true);
	assert_answer(f);
	const int want[] = {CHAT_TURN_RETRIEVING, CHAT_TURN_ASKING, CHAT_TURN_STREAMING};
	assert_stages(f, want, 3);
	assert_int_equal(f->n_warnings, 0);
	assert_sources(f);
	assert_string_equal(f->res->pipeline, "direct");
	assert_int_equal(f->res->direct_chars, direct_len());
	assert_int_equal(f->res->context_chars, direct_len());
	assert_int_equal(requests_to(f, "/api/chat", NULL, NULL), 0); /* no condensing */
	const struct seen *g = gemini_request(f);
	assert_contains(g->body, C1_TITLE);
	assert_contains(g->body, "vzdump in snapshot mode");
	assert_contains(g->body, "vfio-pci");
	assert_not_contains(g->body, "VLAN 20");
	int prompt = gemini_prompt_tokens(g->body);
	assert_int_equal(f->res->prompt_tokens, prompt);
	assert_int_equal(f->res->direct_prompt_tokens, prompt);
	assert_int_equal(f->res->local_tokens, EMBED_TOKENS);
	assert_int_equal(f->res->cloud_tokens, prompt + GEMINI_OUT_TOKENS);
}

static void test_condense_fails(void **state)
{
	struct fx *f = *state;
	f->summary_status = 404;
	run_turn(f, LLM_GEMINI, true);
	assert_answer(f);
	assert_int_equal(f->n_warnings, 1);
	assert_string_equal(f->warn_backend[0], "ollama");
	assert_contains(f->warn_err[0].msg, "summ-model");
	assert_contains(f->warn_err[0].msg, "not found");
	assert_contains(f->warn_err[0].msg, "sending the chunks as they are");
	assert_int_equal(f->warn_err[0].code, ERR_NOT_FOUND);
	assert_sources(f);
	assert_string_equal(f->res->pipeline, "condense-skipped");
	assert_int_equal(f->res->context_chars, f->res->direct_chars);
	const struct seen *g = gemini_request(f);
	assert_contains(g->body, "vzdump in snapshot mode");
	assert_contains(g->body, "vfio-pci");
	assert_int_equal(f->res->local_tokens, EMBED_TOKENS);
	assert_int_equal(f->res->direct_prompt_tokens, f->res->prompt_tokens);
}

static void test_retrieval_fails_embed(void **state)
{
	struct fx *f = *state;
	f->embed_status = 500;
	run_turn(f, LLM_GEMINI, true);
	assert_answer(f);
	const int want[] = {CHAT_TURN_RETRIEVING, CHAT_TURN_ASKING, CHAT_TURN_STREAMING};
	assert_stages(f, want, 3);
	assert_int_equal(f->n_warnings, 1);
	assert_string_equal(f->warn_backend[0], "ollama");
	assert_contains(f->warn_err[0].msg, "500");
	assert_contains(f->warn_err[0].msg, "embedding model crashed");
	assert_contains(f->warn_err[0].msg, "answering without retrieved context");
	assert_int_equal(f->warn_err[0].code, ERR_SERVER);
	assert_int_equal(f->res->sources.len, 0);
	assert_null(f->res->pipeline);
	assert_int_equal(f->res->context_chars, 0);
	assert_int_equal(requests_to(f, "summ-model", NULL, NULL), 0);
	assert_int_equal(requests_to(f, "/api/chat", NULL, NULL), 0);
	const struct seen *g = gemini_request(f);
	assert_not_contains(g->body, "Context:");
	assert_int_equal(f->res->local_tokens, 0);
}

static void test_retrieval_fails_index(void **state)
{
	struct fx *f = *state;
	FILE *fp = fopen(f->index_path, "w");
	assert_non_null(fp);
	fputs("this is not an index\n", fp);
	fclose(fp);
	run_turn(f, LLM_OLLAMA, true);
	assert_answer(f);
	assert_int_equal(f->n_warnings, 1);
	assert_string_equal(f->warn_backend[0], "rag");
	assert_int_equal(f->warn_err[0].code, ERR_MALFORMED);
	assert_contains(f->warn_err[0].msg, "answering without retrieved context");
	assert_int_equal(f->res->sources.len, 0);
	assert_null(f->res->pipeline);
	const struct seen *s = NULL;
	assert_int_equal(requests_to(f, "/api/chat", NULL, &s), 1);
	assert_string_equal(s->model, "chat-model");
	assert_not_contains(s->body, "Context:");
	assert_int_equal(f->res->local_tokens, ANSWER_PROMPT_TOKENS + ANSWER_EVAL_TOKENS);
	assert_int_equal(f->res->cloud_tokens, 0);
}

/* ---- errors and cancelling ------------------------------------------------------------------ */

static void test_unconfigured_provider(void **state)
{
	struct fx *f = *state;
	load_config(f, "condense", false);
	run_turn(f, LLM_GEMINI, false);
	assert_non_null(f->res);
	assert_false(f->res->answer->ok);
	assert_int_equal(f->res->answer->err.code, ERR_CONFIG);
	assert_contains(f->res->answer->err.msg, "[gemini]");
	assert_contains(f->res->answer->err.msg, "test.ini");
	assert_int_equal(f->tokens, 0);
	assert_int_equal(f->n_seen, 0);
	assert_int_equal(f->res->cloud_tokens, 0);
	assert_int_equal(f->res->prompt_tokens, -1);
}

static void test_cancel_streaming(void **state)
{
	struct fx *f = *state;
	load_config(f, "direct", true);
	f->answer_hold_after = 2;
	start(f, LLM_GEMINI, true);
	SUPPORT_WAIT_FOR(f->base, f->tokens == 2, WAIT_MS);
	int stages = f->n_stages;
	struct chat_turn_result *r = chat_turn_cancel(f->turn);
	f->turn = NULL;
	assert_non_null(r);
	assert_non_null(r->answer);
	assert_true(r->answer->cancelled);
	assert_true(r->answer->truncated);
	assert_false(r->answer->ok);
	assert_int_equal(r->answer->err.code, ERR_CANCELLED);
	assert_string_equal(r->answer->text, "Backups run nightly");
	assert_string_equal(r->answer->text, f->text.data);
	assert_string_equal(r->pipeline, "direct");
	assert_int_equal(r->sources.len, 2);
	assert_string_equal(r->sources.items[0].title, C1_TITLE);
	chat_turn_result_free(r);
	support_run_for(f->base, 300);
	assert_int_equal(f->done_calls, 0);
	assert_int_equal(f->tokens, 2);
	assert_int_equal(f->n_stages, stages);
	assert_int_equal(f->n_warnings, 0);
	assert_int_equal(http_pending(f->http), 0);
}

static void test_cancel_retrieving(void **state)
{
	struct fx *f = *state;
	f->embed_hold = true;
	start(f, LLM_GEMINI, true);
	SUPPORT_WAIT_FOR(f->base, f->n_held == 1, WAIT_MS);
	assert_int_equal(f->n_stages, 1);
	assert_int_equal(f->stages[0], CHAT_TURN_RETRIEVING);
	assert_null(chat_turn_cancel(f->turn));
	f->turn = NULL;
	support_run_for(f->base, 300);
	assert_int_equal(f->done_calls, 0);
	assert_int_equal(f->n_stages, 1);
	assert_int_equal(f->n_warnings, 0);
	assert_int_equal(requests_to(f, "/api/chat", NULL, NULL), 0);
	assert_int_equal(requests_to(f, ":streamGenerateContent", NULL, NULL), 0);
	assert_int_equal(http_pending(f->http), 0);

	/* While condensing: nothing is being answered yet either. */
	f->n_stages = 0;
	f->summary_hold = true;
	f->embed_hold = false;
	start(f, LLM_GEMINI, true);
	SUPPORT_WAIT_FOR(f->base, f->n_held == 2, WAIT_MS);
	assert_int_equal(f->stages[f->n_stages - 1], CHAT_TURN_CONDENSING);
	assert_null(chat_turn_cancel(f->turn));
	f->turn = NULL;
	support_run_for(f->base, 300);
	assert_int_equal(f->done_calls, 0);
	assert_int_equal(f->stages[f->n_stages - 1], CHAT_TURN_CONDENSING);
	assert_int_equal(requests_to(f, ":streamGenerateContent", NULL, NULL), 0);

	/* Before the loop turned at all, and NULL. */
	f->n_stages = 0;
	int seen = f->n_seen;
	start(f, LLM_GEMINI, true);
	assert_null(chat_turn_cancel(f->turn));
	f->turn = NULL;
	support_run_for(f->base, 100);
	assert_int_equal(f->n_stages, 0);
	assert_int_equal(f->n_seen, seen);
	assert_null(chat_turn_cancel(NULL));
}

/* ---- the cache (with LABDECK_TEST_REDIS_URL) ------------------------------------------------ */

struct flushed {
	bool done, failed;
};

static void on_flush(void *ud, const struct redis_client_reply *reply, const struct err *err)
{
	(void)reply;
	struct flushed *fl = ud;
	fl->done = true;
	fl->failed = err != NULL;
}

/* The same question twice: the second time neither the embedding, the condensing nor the answer
 * costs a model call, and the answer arrives whole as one token. */
static void test_cached_repeat(void **state)
{
	struct fx *f = *state;
	const char *env = getenv("LABDECK_TEST_REDIS_URL");
	if (!env || !*env) {
		skip();
	}
	struct redis_client_url u;
	struct err e;
	assert_true(redis_client_parse_url(env, &u, &e));
	char *url = xasprintf("redis://%s:%d/%d", u.host, u.port, TEST_DB);
	redis_client_url_finish(&u);
	f->redis = redis_client_create(f->base, url, NULL, &e);
	free(url);
	assert_non_null(f->redis);
	struct flushed fl = {0};
	redis_client_command(f->redis, 1, (const char *const[]){"FLUSHDB"}, NULL, on_flush, &fl);
	SUPPORT_WAIT_FOR(f->base, fl.done, WAIT_MS);
	assert_false(fl.failed);
	f->cache = llm_cache_create(f->base, f->redis, 3600);

	run_turn(f, LLM_GEMINI, true);
	assert_answer(f);
	assert_string_equal(f->res->pipeline, "condense");
	int64_t cloud = f->res->cloud_tokens;
	assert_true(cloud > 0);
	assert_int_equal(requests_to(f, "/api/embed", NULL, NULL), 1);
	assert_int_equal(requests_to(f, "/api/chat", "summ-model", NULL), 1);
	assert_int_equal(requests_to(f, ":streamGenerateContent", NULL, NULL), 1);

	chat_turn_result_free(f->res);
	f->res = NULL;
	f->done_calls = 0;
	f->n_stages = 0;
	f->tokens = 0;
	buf_finish(&f->text);
	buf_init(&f->text);
	run_turn(f, LLM_GEMINI, true);
	assert_true(f->res->answer->ok);
	assert_true(f->res->cached);
	assert_string_equal(f->res->answer->text, ANSWER_TEXT);
	assert_string_equal(f->text.data, ANSWER_TEXT);
	assert_int_equal(f->tokens, 1);
	assert_string_equal(f->res->pipeline, "condense");
	assert_sources(f);
	/* No model was asked again. */
	assert_int_equal(requests_to(f, "/api/embed", NULL, NULL), 1);
	assert_int_equal(requests_to(f, "/api/chat", "summ-model", NULL), 1);
	assert_int_equal(requests_to(f, ":streamGenerateContent", NULL, NULL), 1);
	assert_int_equal(f->res->cloud_tokens, 0);
	assert_int_equal(f->res->local_tokens, 0);
	assert_int_equal(f->n_warnings, 0);
}

/* ---- the pure parts ------------------------------------------------------------------------- */

static void test_direct_estimate(void **state)
{
	(void)state;
	/* 1000 characters sent, 400 of them context, measured 100 tokens: with 1600 characters of
	   context instead, 2200 characters, 220 tokens. */
	assert_int_equal(chat_turn_direct_estimate(100, 1000, 400, 1600), 220);
	/* Same context: the measured count. */
	assert_int_equal(chat_turn_direct_estimate(321, 1000, 400, 400), 321);
	/* Rounded to the nearest: 10 * 4 / 3 = 13.3, 10 * 5 / 3 = 16.7. */
	assert_int_equal(chat_turn_direct_estimate(10, 3, 1, 2), 13);
	assert_int_equal(chat_turn_direct_estimate(10, 3, 1, 3), 17);
	/* No context at all sent (the condensed text was empty): the chunks are added. */
	assert_int_equal(chat_turn_direct_estimate(50, 500, 0, 500), 100);
	/* Unknown. */
	assert_int_equal(chat_turn_direct_estimate(-1, 1000, 400, 1600), -1);
	assert_int_equal(chat_turn_direct_estimate(100, 0, 0, 1600), -1);
	assert_int_equal(chat_turn_direct_estimate(100, 10, 20, 1600), -1);
}

static void test_prompt(void **state)
{
	(void)state;
	char *p = chat_turn_prompt("How old is the backup?", NULL);
	assert_string_equal(p, "How old is the backup?");
	free(p);
	p = chat_turn_prompt("How old is the backup?", "## Backups\nnightly\n\n");
	assert_string_equal(p, "Answer from the context when it helps.\n\nContext:\n## Backups\n"
	                       "nightly\n\n\nQuestion: How old is the backup?");
	free(p);

	assert_string_equal(chat_turn_stage_name(CHAT_TURN_RETRIEVING), "retrieving");
	assert_string_equal(chat_turn_stage_name(CHAT_TURN_CONDENSING), "condensing");
	assert_string_equal(chat_turn_stage_name(CHAT_TURN_ASKING), "asking");
	assert_string_equal(chat_turn_stage_name(CHAT_TURN_STREAMING), "streaming");
	chat_turn_result_free(NULL);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_direct_estimate),
	        cmocka_unit_test(test_prompt),
	        cmocka_unit_test_setup_teardown(test_plain_ollama, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_plain_gemini, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rag_condense, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rag_direct, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_condense_fails, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_retrieval_fails_embed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_retrieval_fails_index, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unconfigured_provider, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel_streaming, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel_retrieving, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cached_repeat, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
