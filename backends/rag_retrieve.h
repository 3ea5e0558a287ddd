/* rag_retrieve.h: the retrieval step of RAG, asynchronous, for `rag query`, `chat --rag` and the
 * console's chat view alike: embed the question with [ollama] embed_model (through the
 * embedding cache when one is given), then ask the vector store ([rag] postgres, else the local
 * index) for the top-k chunks of that model by cosine distance.
 *
 * The store is opened and the question embedded at the same time; the query runs when both are
 * in. The callback runs once, from the loop (never from inside rag_retrieve_start), unless the
 * retrieval is cancelled first. */
#ifndef LABDECK_RAG_RETRIEVE_H
#define LABDECK_RAG_RETRIEVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "vector_store.h"

struct event_base;
struct http;
struct config;
struct llm_cache;
struct rag_retrieval;

struct rag_retrieve_opts {
	struct event_base *base;
	struct http *http;
	const struct config *cfg; /* [ollama] url, embed_model, keep_alive; [rag] postgres, table,
	                             top_k */
	struct llm_cache *cache;  /* embeddings cached by (model, text); NULL: no cache */
	size_t k;                 /* 0: [rag] top_k (default 5) */
	long timeout_ms;          /* per request and statement; 0: the modules' defaults */
};

/* What a retrieval found. hits are nearest first; on failure err says what failed and where
 * ("rag: ..." for the store, "ollama: ..." for the embedding), with backend naming which side
 * ("rag" or "ollama") for error lists. */
struct rag_retrieve_result {
	struct vector_store_hits hits;
	bool ok;
	struct err err;
	const char *backend;   /* "rag" or "ollama" when !ok, else NULL (static string) */
	bool embedding_cached; /* the question's vector came from the cache */
	int64_t embed_tokens;  /* tokens the embedding model read (0 when cached or unknown) */
	char *store;           /* vector_store_describe() of the store used (heap) */
};

/* Called once with the result, which the callee owns (rag_retrieve_result_free). */
typedef void (*rag_retrieve_fn)(void *ud, struct rag_retrieve_result *r);

/* rag_retrieve_start retrieves for question (copied). Never fails at once: every failure comes
 * through fn. */
struct rag_retrieval *rag_retrieve_start(const struct rag_retrieve_opts *opts, const char *question,
                                         rag_retrieve_fn fn, void *ud);

/* rag_retrieve_cancel stops a retrieval; its callback is not called. NULL-safe. */
void rag_retrieve_cancel(struct rag_retrieval *r);

/* rag_retrieve_result_free frees a result. NULL-safe. */
void rag_retrieve_result_free(struct rag_retrieve_result *r);

#endif
