/* llm_parse.h: the pure half of the model providers: what Ollama, Gemini and OpenAI-compatible
 * servers send, turned into text, thinking, usage, finish reasons and errors. No I/O here: llm.c
 * feeds these functions one NDJSON line or one SSE event at a time, and unit tests and fuzzers
 * feed them fixtures. Every string kept is stored as the API sent it (decoded from JSON);
 * sanitising for a terminal happens where it is shown. */
#ifndef LABDECK_LLM_PARSE_H
#define LABDECK_LLM_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "util.h"

enum llm_provider {
	LLM_OLLAMA, /* Ollama's native API: /api/chat, NDJSON */
	LLM_GEMINI, /* Gemini API: :streamGenerateContent?alt=sse */
	LLM_OPENAI, /* any OpenAI-compatible server: /chat/completions, SSE */
};
#define LLM_N_PROVIDERS 3

/* llm_provider_name: "ollama", "gemini" or "openai" (the config section and --provider word). */
const char *llm_provider_name(enum llm_provider p);
/* llm_provider_from_name parses those words; false for anything else. */
bool llm_provider_from_name(const char *name, enum llm_provider *out);
/* llm_provider_is_cloud: whether tokens sent there are paid cloud tokens (Gemini). */
bool llm_provider_is_cloud(enum llm_provider p);

/* Token counts as the provider reported them. Gemini's usageMetadata is cumulative, so the last
 * event's counts are kept. */
struct llm_usage {
	bool known;                /* the provider reported counts */
	int64_t prompt_tokens;     /* tokens read (Ollama prompt_eval_count, promptTokenCount) */
	int64_t completion_tokens; /* tokens written and billed as output, thinking included */
	int64_t thinking_tokens;   /* the part of completion_tokens spent thinking (0: not said) */
};

/* A finished (or cut short) answer. */
struct llm_result {
	enum llm_provider provider;
	char *model; /* the model asked for */
	char *text;  /* the answer, never NULL */
	size_t text_len;
	char *thinking; /* thinking text kept apart from the answer, never NULL ("" when none) */
	size_t thinking_len;
	struct llm_usage usage;
	char *finish_reason; /* as the API said it ("stop", "length", "STOP", "MAX_TOKENS",
	                      * "SAFETY", "RECITATION"...), NULL when none came */
	char *block_reason;  /* Gemini refused the prompt itself (promptFeedback.blockReason) */
	bool ok;             /* the answer arrived whole; err says why not otherwise */
	bool truncated;      /* the text is not the whole answer: cut at the token limit (ok stays
	                      * true), stopped by a filter, cancelled or broken off */
	bool cancelled;      /* stopped by llm_cancel */
	struct err err;      /* when !ok: the API's own message, with the exit status in err.code */
	double retry_after;  /* seconds the API asked to wait (429/503), -1 when it did not say */
};

/* llm_result_new returns an empty result (text and thinking ""; retry_after -1). */
struct llm_result *llm_result_new(enum llm_provider p, const char *model);
/* llm_result_free frees r and everything it holds. NULL-safe. */
void llm_result_free(struct llm_result *r);

/* Called as text arrives: len bytes of whole UTF-8 characters (not NUL-terminated), answer text
 * or, with is_thinking, thinking text. */
typedef void (*llm_token_fn)(void *ud, const char *text, size_t len, bool is_thinking);

/* The state of one streamed answer, fed one unit (an NDJSON line, an SSE event) at a time. */
struct llm_stream {
	enum llm_provider provider;
	struct buf text, thinking;
	struct llm_usage usage;
	char *finish_reason, *block_reason, *block_message;
	bool done;   /* the stream said it is complete (done:true, [DONE], a finish reason) */
	bool failed; /* an error came inside the stream (or a unit was malformed): see err */
	struct err err;
	double retry_after;    /* from an error inside the stream, -1 */
	size_t units;          /* units parsed */
	llm_token_fn on_token; /* may be NULL */
	void *ud;
};

/* llm_stream_init prepares s for one answer from provider p. */
void llm_stream_init(struct llm_stream *s, enum llm_provider p, llm_token_fn on_token, void *ud);
/* llm_stream_finish frees what s holds. NULL-safe. */
void llm_stream_finish(struct llm_stream *s);

/* llm_stream_unit parses one unit of the stream: for Ollama an NDJSON line of /api/chat (or
 * /api/generate), for Gemini and OpenAI the data of one SSE event (or, for Gemini, a bare JSON
 * error object that came outside any "data:" line). Text and thinking are appended and handed to
 * on_token. Returns false when the unit is malformed or is an error (Ollama's {"error":...}
 * under HTTP 200, Gemini's mid-stream error object, an OpenAI error object): s->failed is then
 * set and s->err says what the API said. Units after a failure are ignored. */
bool llm_stream_unit(struct llm_stream *s, const char *unit, size_t len);

/* llm_stream_end judges the stream once the transport has ended without error: false, with
 * s->failed and s->err set, when the answer is not acceptable — an error came, the prompt was
 * blocked (ERR_REJECTED, "the prompt was blocked (SAFETY)"), the answer was stopped by a filter
 * (ERR_REJECTED, "stopped (RECITATION)"), or the stream ended before the provider said it was
 * complete (ERR_NETWORK, "cut short"). A cut at the token limit is acceptable. */
bool llm_stream_end(struct llm_stream *s);

/* llm_stream_result moves what s gathered into a new result for model (s is left empty but
 * initialised). ok mirrors !s->failed; truncated is set for a token-limit cut, a filter stop,
 * or a failure after some text. */
struct llm_result *llm_stream_result(struct llm_stream *s, const char *model);

/* llm_parse_error fills err from a non-2xx answer of provider p: the API's own message
 * (Gemini's and OpenAI's {"error":{"message"}}, also inside a JSON array; Ollama's
 * {"error":"..."}; vLLM's {"object":"error","message"}; else the body's first line) as
 * "PROVIDER: STATUS MESSAGE". The code follows the status (401/403 and Gemini's 400
 * API_KEY_INVALID → ERR_AUTH, 404 → ERR_NOT_FOUND, 429 → ERR_RATE_LIMIT, 5xx → ERR_SERVER, other
 * 4xx → ERR_REJECTED). *retry_after gets the delay the API asked for — Gemini's
 * RetryInfo.retryDelay, a "Please retry in N s" in the message, else header_retry_after (the
 * Retry-After header, -1 when absent) — and the message ends with "; retry after N s"; a
 * daily quota is named as such. retry_after may be NULL. */
void llm_parse_error(enum llm_provider p, long status, const char *body, size_t len,
                     double header_retry_after, struct err *err, double *retry_after);

/* A model as Ollama lists it: /api/tags (installed) or /api/ps (loaded). */
struct llm_model_info {
	char *name;
	int64_t size;      /* bytes (for /api/ps: memory the loaded model takes) */
	int64_t size_vram; /* bytes of it in GPU memory (/api/ps), 0 otherwise */
	char *family, *parameter_size, *quantization; /* from details; NULL when absent */
	char *modified_at;                            /* /api/tags, RFC 3339, or NULL */
	char *expires_at;       /* /api/ps: when it will be unloaded, RFC 3339, or NULL */
	int64_t context_length; /* /api/ps (newer servers), 0 when not said */
};

struct llm_models {
	struct llm_model_info *items;
	size_t len;
};

/* llm_parse_models parses the answer of /api/tags or /api/ps ({"models":[...]}). */
bool llm_parse_models(const char *body, size_t len, struct llm_models *out, struct err *err);
/* llm_models_free frees m and its models. NULL-safe. */
void llm_models_free(struct llm_models *m);
/* llm_model_vram_share: the fraction of a loaded model held in GPU memory (size_vram / size,
 * 0.0-1.0), -1 when the size is unknown. */
double llm_model_vram_share(const struct llm_model_info *m);

/* Embeddings: n vectors of dim floats each, row after row. */
struct llm_embeddings {
	char *model;
	float *vectors;
	size_t n, dim;
	int64_t prompt_tokens; /* summed over the batches */
};

/* llm_parse_embed appends the vectors of one /api/embed answer ({"embeddings":[[...],...]}) to
 * acc (zeroed for the first batch). Every vector must have the dimension of the first; false,
 * with acc unchanged, otherwise or when the answer is malformed. */
bool llm_parse_embed(const char *body, size_t len, struct llm_embeddings *acc, struct err *err);
/* llm_embeddings_free frees e and its vectors. NULL-safe. */
void llm_embeddings_free(struct llm_embeddings *e);

#endif
