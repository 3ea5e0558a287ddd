/* chat_turn.c: one question through retrieval, condensing, the cache and the answering model
 * (see chat_turn.h). A turn is a small state machine on the loop; only one step (a retrieval, a
 * cache lookup or a model call) is in flight at a time, so cancelling means stopping that one. */
#include "chat_turn.h"

#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm_cache.h"
#include "rag_retrieve.h"
#include "util.h"

/* The steps that go to a model: the condensing call and the answer. */
enum call_kind { CALL_CONDENSE, CALL_ANSWER };

struct chat_turn {
	struct chat_turn_opts o; /* strings below are the turn's own copies */
	struct chat_turn_callbacks cb;
	char *model, *system, *question;
	struct llm_message *history;
	size_t n_history;
	struct event *start_ev;
	struct rag_retrieval *retrieval;
	/* the model call in flight (condensing or answering) */
	enum call_kind kind;
	struct llm_request req;
	struct llm_message *msgs; /* req.messages */
	char *prompt;             /* the last message's content */
	struct llm_cache_message *cmsgs;
	json_t *params;
	struct llm_cache_op *lookup;
	struct llm_cache_op *put; /* the answer going into the cache */
	struct llm_call *call;
	bool streaming;
	/* what the turn has gathered */
	struct chat_turn_result *res;
	char *direct;  /* the chunks as they are */
	char *context; /* what goes with the question */
};

const char *chat_turn_stage_name(enum chat_turn_stage s)
{
	switch (s) {
	case CHAT_TURN_RETRIEVING:
		return "retrieving";
	case CHAT_TURN_CONDENSING:
		return "condensing";
	case CHAT_TURN_ASKING:
		return "asking";
	case CHAT_TURN_STREAMING:
		return "streaming";
	}
	return "?";
}

void chat_turn_result_free(struct chat_turn_result *r)
{
	if (!r) {
		return;
	}
	llm_result_free(r->answer);
	vector_store_hits_finish(&r->sources);
	free(r);
}

char *chat_turn_prompt(const char *question, const char *context)
{
	if (!context) {
		return xstrdup(question);
	}
	return xasprintf("Answer from the context when it helps.\n\nContext:\n%s\nQuestion: %s",
	                 context, question);
}

int64_t chat_turn_direct_estimate(int64_t prompt_tokens, size_t sent_chars, size_t context_chars,
                                  size_t direct_chars)
{
	if (prompt_tokens < 0 || sent_chars == 0 || context_chars > sent_chars) {
		return -1;
	}
	double direct_chars_total = (double)(sent_chars - context_chars) + (double)direct_chars;
	return (int64_t)llround((double)prompt_tokens * direct_chars_total / (double)sent_chars);
}

/* --- steps --- */

static void stage(struct chat_turn *t, enum chat_turn_stage s)
{
	if (t->cb.stage) {
		t->cb.stage(t->cb.ud, s);
	}
}

static void warn(struct chat_turn *t, const char *backend, const struct err *e)
{
	if (t->cb.warning) {
		t->cb.warning(t->cb.ud, backend, e);
	}
}

static void clear_call(struct chat_turn *t)
{
	free(t->msgs);
	t->msgs = NULL;
	free(t->cmsgs);
	t->cmsgs = NULL;
	free(t->prompt);
	t->prompt = NULL;
	json_decref(t->params);
	t->params = NULL;
	t->lookup = NULL;
	t->call = NULL;
	t->streaming = false;
}

static void turn_free(struct chat_turn *t)
{
	clear_call(t);
	event_free(t->start_ev);
	chat_turn_result_free(t->res);
	for (size_t i = 0; i < t->n_history; i++) {
		free((char *)t->history[i].content);
	}
	free(t->history);
	free(t->model);
	free(t->system);
	free(t->question);
	free(t->direct);
	free(t->context);
	free(t);
}

/* finish hands the result over and ends the turn. */
static void finish(struct chat_turn *t)
{
	struct chat_turn_result *r = t->res;
	t->res = NULL;
	void (*done)(void *, struct chat_turn_result *) = t->cb.done;
	void *ud = t->cb.ud;
	turn_free(t);
	done(ud, r);
}

static void answer_done(struct chat_turn *t, struct llm_result *ans, bool cached);
static void condense_done(struct chat_turn *t, struct llm_result *ans, bool cached);

static void call_done(struct chat_turn *t, struct llm_result *ans, bool cached)
{
	if (t->kind == CALL_ANSWER) {
		answer_done(t, ans, cached);
	} else {
		condense_done(t, ans, cached);
	}
}

static void on_token(void *ud, const char *text, size_t len, bool thinking)
{
	struct chat_turn *t = ud;
	if (t->kind != CALL_ANSWER) {
		return;
	}
	if (!t->streaming) {
		t->streaming = true;
		stage(t, CHAT_TURN_STREAMING);
	}
	if (t->cb.token) {
		t->cb.token(t->cb.ud, text, len, thinking);
	}
}

static void on_llm_done(void *ud, struct llm_result *res)
{
	struct chat_turn *t = ud;
	t->call = NULL;
	call_done(t, res, false);
}

static void send_call(struct chat_turn *t)
{
	struct llm_callbacks cb = {on_token, on_llm_done, t};
	struct err e;
	err_clear(&e);
	t->call = llm_chat(t->o.llm, &t->req, &cb, &e);
	if (!t->call) {
		struct llm_result *r =
		        llm_result_new(t->req.provider, t->req.model ? t->req.model : "");
		r->ok = false;
		r->err = e;
		call_done(t, r, false);
	}
}

static void on_lookup(void *ud, struct llm_cache_answer *hit)
{
	struct chat_turn *t = ud;
	t->lookup = NULL;
	if (!hit) {
		send_call(t);
		return;
	}
	struct llm_result *r = llm_result_new(t->req.provider, t->req.model);
	free(r->text);
	r->text = xstrdup(hit->text);
	r->text_len = strlen(r->text);
	r->ok = true;
	r->usage.known = hit->prompt_tokens >= 0;
	r->usage.prompt_tokens = hit->prompt_tokens;
	r->usage.completion_tokens = hit->completion_tokens;
	llm_cache_answer_free(hit);
	if (t->kind == CALL_ANSWER && r->text_len) {
		on_token(t, r->text, r->text_len, false);
	}
	call_done(t, r, true);
}

static struct llm_cache_request cache_request(const struct chat_turn *t)
{
	struct llm_cache_request cr = {
	        .provider = llm_provider_name(t->req.provider),
	        .model = t->req.model,
	        .messages = t->cmsgs,
	        .n_messages = t->req.n_messages + (t->req.system ? 1 : 0),
	        .params = t->params,
	};
	return cr;
}

/* start_call asks model (NULL: the provider's) with the history (answer only) and prompt (taken
 * over), through the cache. */
static void start_call(struct chat_turn *t, enum call_kind kind, enum llm_provider p,
                       const char *model, char *prompt)
{
	clear_call(t);
	t->kind = kind;
	t->prompt = prompt;
	size_t n_hist = kind == CALL_ANSWER ? t->n_history : 0;
	size_t n = n_hist + 1;
	t->msgs = xcalloc(n, sizeof(*t->msgs));
	for (size_t i = 0; i < n_hist; i++) {
		t->msgs[i] = t->history[i];
	}
	t->msgs[n - 1].role = LLM_ROLE_USER;
	t->msgs[n - 1].content = prompt;
	llm_request_init(&t->req, p);
	t->req.model = model ? model : llm_default_model(t->o.cfg, p);
	t->req.messages = t->msgs;
	t->req.n_messages = n;
	t->req.system = kind == CALL_ANSWER ? t->system : NULL;

	/* The cache key: every message (the system prompt first) and what changes the answer. */
	t->cmsgs = xcalloc(n + 1, sizeof(*t->cmsgs));
	size_t j = 0;
	if (t->req.system) {
		t->cmsgs[j].role = "system";
		t->cmsgs[j++].content = t->req.system;
	}
	for (size_t i = 0; i < n; i++, j++) {
		t->cmsgs[j].role = llm_role_name(t->msgs[i].role);
		t->cmsgs[j].content = t->msgs[i].content;
	}
	t->params = json_object();
	if (p == LLM_OLLAMA) {
		json_object_set_new(t->params, "num_ctx", json_integer(t->o.cfg->ollama.num_ctx));
		if (!isnan(t->o.cfg->ollama.temperature)) {
			json_object_set_new(t->params, "temperature",
			                    json_real(t->o.cfg->ollama.temperature));
		}
	}
	if (!t->req.model) {
		send_call(t); /* not configured: llm_chat says what is missing */
		return;
	}
	if (t->o.cache && llm_cache_enabled(t->o.cache)) {
		struct llm_cache_request cr = cache_request(t);
		t->lookup = llm_cache_get(t->o.cache, &cr, on_lookup, t);
		return;
	}
	send_call(t);
}

/* --- the answer --- */

static size_t sent_chars(const struct chat_turn *t)
{
	size_t n = t->system ? strlen(t->system) : 0;
	for (size_t i = 0; i < t->req.n_messages; i++) {
		n += strlen(t->req.messages[i].content);
	}
	return n;
}

/* The answer is kept before the turn ends, so that a command that exits right after it finds
 * it in the cache next time. */
static void on_put(void *ud, bool stored)
{
	(void)stored;
	struct chat_turn *t = ud;
	t->put = NULL;
	finish(t);
}

static void answer_done(struct chat_turn *t, struct llm_result *ans, bool cached)
{
	struct chat_turn_result *r = t->res;
	r->answer = ans;
	r->cached = cached;
	if (!cached && ans->ok && !ans->truncated && t->o.cache) {
		struct llm_cache_request cr = cache_request(t);
		struct llm_cache_answer a = {
		        .text = ans->text,
		        .thinking = ans->thinking_len ? ans->thinking : NULL,
		        .prompt_tokens = ans->usage.known ? (long)ans->usage.prompt_tokens : -1,
		        .completion_tokens =
		                ans->usage.known ? (long)ans->usage.completion_tokens : -1,
		};
		t->put = llm_cache_put(t->o.cache, &cr, &a, on_put, t);
	}
	r->prompt_tokens = -1;
	r->direct_prompt_tokens = -1;
	if (!cached && ans->usage.known) {
		/* A cached answer cost nothing this time. */
		int64_t total = ans->usage.prompt_tokens + ans->usage.completion_tokens;
		if (llm_provider_is_cloud(ans->provider)) {
			r->cloud_tokens += total;
		} else {
			r->local_tokens += total;
		}
		r->prompt_tokens = ans->usage.prompt_tokens;
		r->direct_prompt_tokens =
		        r->pipeline
		                ? chat_turn_direct_estimate(ans->usage.prompt_tokens, sent_chars(t),
		                                            r->context_chars, r->direct_chars)
		                : ans->usage.prompt_tokens;
	}
	if (!t->put) {
		finish(t);
	}
}

static void ask(struct chat_turn *t)
{
	stage(t, CHAT_TURN_ASKING);
	start_call(t, CALL_ANSWER, t->o.provider, t->model,
	           chat_turn_prompt(t->question, t->context));
}

/* --- retrieval and condensing --- */

static char *join_chunks(const struct vector_store_hits *hits)
{
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < hits->len; i++) {
		buf_appendf(&b, "## %s\n%s\n\n", hits->items[i].title, hits->items[i].text);
	}
	return buf_steal(&b);
}

static void use_direct(struct chat_turn *t, const char *pipeline)
{
	t->res->pipeline = pipeline;
	t->context = t->direct;
	t->direct = NULL;
	t->res->context_chars = strlen(t->context);
}

static void condense_done(struct chat_turn *t, struct llm_result *ans, bool cached)
{
	struct chat_turn_result *r = t->res;
	if (!cached && ans->usage.known) {
		r->local_tokens += ans->usage.prompt_tokens + ans->usage.completion_tokens;
	}
	if (!cached && ans->ok && !ans->truncated && ans->text_len && t->o.cache) {
		/* Kept, so that the same question condenses from the cache next time. Nothing waits
		   for it: the answer's lookup follows it on the same Redis connection. */
		struct llm_cache_request cr = cache_request(t);
		struct llm_cache_answer a = {
		        .text = ans->text,
		        .prompt_tokens = ans->usage.known ? (long)ans->usage.prompt_tokens : -1,
		        .completion_tokens =
		                ans->usage.known ? (long)ans->usage.completion_tokens : -1,
		};
		llm_cache_put(t->o.cache, &cr, &a, NULL, NULL);
	}
	const char *model = t->o.cfg->ollama.summary_model;
	if (!ans->ok || ans->text_len == 0) {
		struct err e;
		err_set(&e, ans->ok ? ERR_MALFORMED : ans->err.code, 0,
		        "condensing with %s failed (%s); sending the chunks as they are",
		        model ? model : "the summary model",
		        ans->ok ? "an empty answer" : ans->err.msg);
		warn(t, "ollama", &e);
		use_direct(t, "condense-skipped");
	} else if (ans->text_len >= strlen(t->direct)) {
		/* Short chunks can come back longer: then they go as they are. */
		use_direct(t, "condense-skipped");
	} else {
		r->pipeline = "condense";
		t->context = xstrndup(ans->text, ans->text_len);
		r->context_chars = ans->text_len;
	}
	llm_result_free(ans);
	ask(t);
}

static void on_retrieved(void *ud, struct rag_retrieve_result *rr)
{
	struct chat_turn *t = ud;
	t->retrieval = NULL;
	struct chat_turn_result *r = t->res;
	if (!rr->ok) {
		struct err e;
		err_set(&e, rr->err.code, 0, "%s; answering without retrieved context",
		        rr->err.msg);
		warn(t, rr->backend ? rr->backend : "rag", &e);
	} else {
		r->local_tokens += rr->embed_tokens;
		r->sources = rr->hits;
		memset(&rr->hits, 0, sizeof(rr->hits));
	}
	rag_retrieve_result_free(rr);
	if (r->sources.len == 0) {
		ask(t);
		return;
	}
	t->direct = join_chunks(&r->sources);
	r->direct_chars = strlen(t->direct);
	const char *pipeline = t->o.cfg->rag.pipeline;
	if (pipeline && strcmp(pipeline, "direct") == 0) {
		use_direct(t, "direct");
		ask(t);
		return;
	}
	stage(t, CHAT_TURN_CONDENSING);
	char *prompt = xasprintf("Condense the context below to what answers the question. Keep "
	                         "each title line and the facts that matter; drop the rest.\n\n"
	                         "Question: %s\n\nContext:\n%s",
	                         t->question, t->direct);
	start_call(t, CALL_CONDENSE, LLM_OLLAMA, t->o.cfg->ollama.summary_model, prompt);
}

static void on_start(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct chat_turn *t = arg;
	if (!t->o.rag) {
		ask(t);
		return;
	}
	stage(t, CHAT_TURN_RETRIEVING);
	struct rag_retrieve_opts ro = {
	        .base = t->o.base,
	        .http = t->o.http,
	        .cfg = t->o.cfg,
	        .cache = t->o.cache,
	        .timeout_ms = t->o.timeout_ms,
	};
	t->retrieval = rag_retrieve_start(&ro, t->question, on_retrieved, t);
}

struct chat_turn *chat_turn_start(const struct chat_turn_opts *opts, const char *question,
                                  const struct chat_turn_callbacks *cb)
{
	struct chat_turn *t = xcalloc(1, sizeof(*t));
	t->o = *opts;
	t->cb = *cb;
	t->model = opts->model ? xstrdup(opts->model) : NULL;
	t->system = opts->system && *opts->system ? xstrdup(opts->system) : NULL;
	t->question = xstrdup(question);
	t->n_history = opts->n_history;
	t->history = xcalloc(t->n_history ? t->n_history : 1, sizeof(*t->history));
	for (size_t i = 0; i < t->n_history; i++) {
		t->history[i].role = opts->history[i].role;
		t->history[i].content = xstrdup(opts->history[i].content);
	}
	t->res = xcalloc(1, sizeof(*t->res));
	t->res->prompt_tokens = -1;
	t->res->direct_prompt_tokens = -1;
	t->start_ev = evtimer_new(opts->base, on_start, t);
	struct timeval now = {0, 0};
	event_add(t->start_ev, &now);
	return t;
}

struct chat_turn_result *chat_turn_cancel(struct chat_turn *t)
{
	if (!t) {
		return NULL;
	}
	rag_retrieve_cancel(t->retrieval);
	llm_cache_cancel(t->lookup);
	struct chat_turn_result *r = NULL;
	if (t->put) {
		/* The answer is whole; only its storing is given up. */
		llm_cache_cancel(t->put);
		t->put = NULL;
		r = t->res;
		t->res = NULL;
	}
	if (t->call) {
		struct llm_result *partial = llm_cancel(t->call);
		t->call = NULL;
		if (t->kind == CALL_ANSWER) {
			r = t->res;
			t->res = NULL;
			r->answer = partial;
		} else {
			llm_result_free(partial);
		}
	}
	turn_free(t);
	return r;
}
