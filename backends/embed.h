/* embed.h: text embeddings from Ollama's POST /api/embed, batched, through http.h.
 *
 * Request: {"model":M,"input":["a","b",...],"truncate":true[,"keep_alive":K]}; answer:
 * {"model":M,"embeddings":[[...],[...]],"prompt_eval_count":N,...} (always an array of arrays,
 * one per input, in order). Errors come as {"error":"..."} with a 4xx/5xx status. */
#ifndef LABDECK_EMBED_H
#define LABDECK_EMBED_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct http;
struct embed_request;

#define EMBED_BATCH 16
#define EMBED_TIMEOUT_MS 120000

struct embed_opts {
	const char *url;        /* Ollama's base URL, "http://127.0.0.1:11434" */
	const char *model;      /* "bge-m3" */
	const char *keep_alive; /* sent when not NULL */
	size_t batch;           /* texts per request; 0: EMBED_BATCH */
	long timeout_ms;        /* per request; 0: EMBED_TIMEOUT_MS */
};

/* n vectors of dim floats each, row-major, in the order of the texts. */
struct embed_result {
	float *vectors;
	size_t n, dim;
	long prompt_tokens; /* sum of prompt_eval_count over the batches, -1 when none said */
};

/* Called once when every batch is in (err NULL, res owned by the callback: embed_result_destroy)
 * or at the first failure (res NULL, err says what failed, as "ollama: ..."). Not called after
 * embed_cancel. */
typedef void (*embed_done_fn)(void *ud, struct embed_result *res, const struct err *err);

/* embed_start embeds n texts (copied; n at least 1) in batches of opts->batch, one request at a
 * time. The strings in opts are copied. */
struct embed_request *embed_start(struct http *h, const struct embed_opts *opts,
                                  const char *const *texts, size_t n, embed_done_fn done, void *ud);

/* embed_cancel stops a running embedding; its callback is not called. NULL-safe. */
void embed_cancel(struct embed_request *r);

/* embed_result_destroy frees a result; NULL-safe. */
void embed_result_destroy(struct embed_result *r);

/* embed_request_body returns the JSON body of one /api/embed request (heap). */
char *embed_request_body(const char *model, const char *const *texts, size_t n,
                         const char *keep_alive);

/* embed_parse reads one /api/embed answer of len bytes that must hold want vectors, all of the
 * same dimension, and appends them to out (an empty result or one of the same dimension). On a
 * malformed answer, a count or dimension that does not match, or an "error" member, it returns
 * false with err set (ERR_MALFORMED, or ERR_SERVER for an error member). */
bool embed_parse(const char *body, size_t len, size_t want, struct embed_result *out,
                 struct err *err);

/* embed_error fills err for a failed /api/embed call: the API's own message for an HTTP error
 * ("ollama: 404 model "x" not found, try pulling it first"), with a hint to pull the model when
 * it is missing; a transport error as it came. */
void embed_error(struct err *out, const char *model, long status, const char *body, size_t len,
                 const struct err *transport);

#endif
