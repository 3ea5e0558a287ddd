/* chat_turn.h: one question and its answer, through everything that stands between them — the
 * same pipeline for `labdeck chat` and the console's chat view:
 *
 *   1. retrieval (with rag): the question's top-k chunks (rag_retrieve.h);
 *   2. the cost-saving pipeline ([rag] pipeline): "condense" asks the local summary model
 *      ([ollama] summary_model) to shrink the chunks toward the question, so that only the
 *      condensed context goes to the answering model; "direct" sends the chunks as they are;
 *   3. the cache: an identical request (provider, model, messages, parameters) is answered from
 *      Redis; the condensing call goes through the cache too, so a repeated question costs no
 *      model at all;
 *   4. the answer, streamed token by token.
 *
 * A retrieval or condensing failure is a warning, never the end: the question is answered
 * without the context (or with the chunks as they are). Every turn accounts for its tokens: what
 * went to and came from a cloud model, what local models processed, and an estimate of what the
 * cloud prompt would have been with "direct", so the saving is a figure, not a claim.
 *
 * Sessions stay with the caller: it passes the history and keeps the answer. */
#ifndef LABDECK_CHAT_TURN_H
#define LABDECK_CHAT_TURN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "llm.h"
#include "vector_store.h"

struct event_base;
struct http;
struct llm_cache;
struct chat_turn;

struct chat_turn_opts {
	struct event_base *base;
	struct http *http;
	struct llm *llm; /* the condensing and answering calls go through it */
	const struct config *cfg;
	struct llm_cache *cache; /* NULL: no cache */
	enum llm_provider provider;
	const char *model;                 /* NULL: the provider's configured model */
	const char *system;                /* system prompt, or NULL */
	const struct llm_message *history; /* the turns before this one */
	size_t n_history;
	bool rag;        /* retrieve context from the documents */
	long timeout_ms; /* retrieval requests and statements; 0: their defaults */
};

/* Where a turn is, for a status display. */
enum chat_turn_stage {
	CHAT_TURN_RETRIEVING,
	CHAT_TURN_CONDENSING,
	CHAT_TURN_ASKING, /* looking in the cache, then asking the model */
	CHAT_TURN_STREAMING,
};

/* chat_turn_stage_name: "retrieving", "condensing", "asking", "streaming". */
const char *chat_turn_stage_name(enum chat_turn_stage s);

/* What a turn came to. The caller owns it (chat_turn_result_free). */
struct chat_turn_result {
	struct llm_result *answer;        /* never NULL; answer->ok false: the error */
	struct vector_store_hits sources; /* the chunks the answer was given, nearest first */
	bool cached;                      /* the answer came from the cache */
	const char *pipeline;             /* NULL: no context; "condense", "direct", or
	                                     "condense-skipped" (condensing failed or did not
	                                     shorten: the chunks went as they are) */
	size_t context_chars;             /* the context sent with the question */
	size_t direct_chars;              /* the chunks as they are ("direct" would send) */
	int64_t cloud_tokens;             /* sent to and received from a cloud model */
	int64_t local_tokens;             /* processed by local models (answer, condensing,
	                                     embedding) */
	int64_t prompt_tokens;            /* the answer's prompt tokens, -1 unknown */
	int64_t direct_prompt_tokens;     /* estimate of the prompt tokens with "direct": the
	                                     measured prompt scaled by its characters; -1 unknown */
};

/* chat_turn_result_free frees a result. NULL-safe. */
void chat_turn_result_free(struct chat_turn_result *r);

struct chat_turn_callbacks {
	/* the turn moved on to a stage; may be NULL */
	void (*stage)(void *ud, enum chat_turn_stage stage);
	/* something went wrong that the turn goes on without (retrieval, condensing); backend is
	   "rag", "ollama" or "redis"; may be NULL */
	void (*warning)(void *ud, const char *backend, const struct err *err);
	/* answer text as it arrives (also, whole, for a cached answer); may be NULL */
	llm_token_fn token;
	/* the end: called once, from the loop, never from inside chat_turn_start */
	void (*done)(void *ud, struct chat_turn_result *res);
	void *ud;
};

/* chat_turn_start asks question (copied, as are the options' strings and history) and returns
 * the turn's handle, valid until done runs or chat_turn_cancel is called. Never fails at once:
 * a provider that is not configured comes through done as an error. */
struct chat_turn *chat_turn_start(const struct chat_turn_opts *opts, const char *question,
                                  const struct chat_turn_callbacks *cb);

/* chat_turn_cancel stops the turn; no callback runs afterwards. Returns what came so far (the
 * answer's text marked cancelled, and the sources) or NULL when nothing was being answered yet.
 * NULL-safe. */
struct chat_turn_result *chat_turn_cancel(struct chat_turn *t);

/* chat_turn_prompt builds the user message sent for question with context (NULL: the question
 * itself). Heap string. */
char *chat_turn_prompt(const char *question, const char *context);

/* chat_turn_direct_estimate scales the measured prompt_tokens of a prompt of sent_chars
 * characters, context_chars of them context, to a prompt carrying direct_chars of context
 * instead: the tokens "direct" would have sent. -1 when prompt_tokens is unknown (< 0) or
 * sent_chars is 0. */
int64_t chat_turn_direct_estimate(int64_t prompt_tokens, size_t sent_chars, size_t context_chars,
                                  size_t direct_chars);

#endif
