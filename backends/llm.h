/* llm.h: the model providers — Ollama (native API), Gemini and any OpenAI-compatible server —
 * on the shared loop. A chat streams token by token through callbacks and can be cancelled at
 * any moment, keeping what came; the Ollama calls the console needs (model list, loaded models)
 * live here too (embeddings go through embed.h). Parsing is in llm_parse.h.
 *
 * Nothing here retries a POST (http.c never does), so a chat is never sent twice. The Gemini key
 * travels only in the x-goog-api-key header, never in a URL (URLs end up in messages and logs). */
#ifndef LABDECK_LLM_H
#define LABDECK_LLM_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"
#include "llm_parse.h"

struct http;
struct llm;
struct llm_call;

enum llm_role {
	LLM_ROLE_SYSTEM,
	LLM_ROLE_USER,
	LLM_ROLE_ASSISTANT,
};

/* llm_role_name: "system", "user" or "assistant". */
const char *llm_role_name(enum llm_role r);

struct llm_message {
	enum llm_role role;
	const char *content; /* UTF-8; invalid bytes are sent as U+FFFD */
};

/* What to ask. Strings are copied when the call starts. Prepare with llm_request_init. */
struct llm_request {
	enum llm_provider provider;
	const char *model; /* NULL: the provider's model from the config */
	const struct llm_message *messages;
	size_t n_messages;
	const char *system; /* system instruction, NULL: none. System messages in the list are
	                     * added to it (Gemini has no system role). */
	double temperature; /* NAN: not sent (for Ollama then [ollama] temperature, if set) */
	int max_tokens;     /* 0: not sent */
	int num_ctx;        /* Ollama: 0 means [ollama] num_ctx; always sent (a silent 4k default
	                     * truncates RAG context) */
	const char *keep_alive; /* Ollama: NULL means [ollama] keep_alive, not sent when unset */
	bool include_thoughts;  /* Gemini: ask for thought summaries (thinking models only) */
};

/* llm_request_init zeroes r for provider p with temperature NAN. */
void llm_request_init(struct llm_request *r, enum llm_provider p);

/* Called once when a chat ends (not after llm_cancel). res is the callee's: llm_result_free
 * it. res->ok false means an error (res->err, res->retry_after); text that came before it is
 * kept in res->text. */
typedef void (*llm_done_fn)(void *ud, struct llm_result *res);

struct llm_callbacks {
	llm_token_fn on_token; /* text as it arrives; may be NULL */
	llm_done_fn on_done;
	void *ud;
};

/* llm_create makes a client over http for the providers cfg configures; both must outlive it.
 */
struct llm *llm_create(struct http *http, const struct config *cfg);
/* llm_destroy cancels every call still running (no callbacks) and frees l. Call it before
 * http_destroy. NULL-safe. */
void llm_destroy(struct llm *l);
/* llm_set_idle_timeout: a stream that sends nothing for this long fails as stalled (default
 * 120 s, which leaves room for Ollama to load a large model before the first token). */
void llm_set_idle_timeout(struct llm *l, long ms);

/* llm_default_model: the model the config names for p ([ollama] chat_model, [gemini] model,
 * [openai] model), or NULL. */
const char *llm_default_model(const struct config *cfg, enum llm_provider p);

/* llm_ready checks that p can be asked: false with ERR_CONFIG and a message naming the section
 * and key to add ([gemini] api_key_env when the key is missing, [openai] url or model) when
 * not. model NULL means the configured one. */
bool llm_ready(const struct config *cfg, enum llm_provider p, const char *model, struct err *err);

/* llm_chat starts a streamed chat. Returns its handle, valid until on_done runs or llm_cancel
 * is called; or NULL with err set (nothing started, no callback) when the provider is not
 * configured (see llm_ready). Errors of the exchange itself come through on_done. */
struct llm_call *llm_chat(struct llm *l, const struct llm_request *req,
                          const struct llm_callbacks *cb, struct err *err);

/* llm_cancel stops a call. For a chat it returns what had arrived (text, thinking, usage so
 * far), marked cancelled and truncated, with err ERR_CANCELLED; the caller frees it. For the
 * other calls it returns NULL. No callback of the call runs afterwards. It may be called from
 * inside on_token. NULL-safe (returns NULL). */
struct llm_result *llm_cancel(struct llm_call *call);

/* llm_request_url returns the URL a chat of req goes to ({url}/api/chat,
 * {url}/v1beta/models/{model}:streamGenerateContent?alt=sse, {url}/chat/completions). */
char *llm_request_url(const struct config *cfg, const struct llm_request *req, const char *model);

/* llm_request_body returns the JSON body of a chat of req with model, for req->provider:
 * Ollama {model, messages, stream, options{num_ctx, temperature?, num_predict?}, keep_alive?};
 * Gemini {contents[{role user|model, parts}], systemInstruction?, generationConfig?};
 * OpenAI {model, messages, stream, stream_options{include_usage}, temperature?, max_tokens?}. */
char *llm_request_body(const struct config *cfg, const struct llm_request *req, const char *model);

/* ---- Ollama's other calls ---------------------------------------------------------------- */

/* Called once with the list (the callee's: llm_models_free it), or NULL and err. */
typedef void (*llm_models_fn)(void *ud, struct llm_models *models, const struct err *err);

/* llm_ollama_tags lists the installed models (GET /api/tags). */
struct llm_call *llm_ollama_tags(struct llm *l, llm_models_fn cb, void *ud);
/* llm_ollama_ps lists the loaded models with their memory and VRAM share (GET /api/ps). */
struct llm_call *llm_ollama_ps(struct llm *l, llm_models_fn cb, void *ud);

#endif
