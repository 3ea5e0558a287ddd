/* llm_cache.h: answers and embeddings kept in Redis so that an identical request is not paid for
 * twice. An answer is keyed by the SHA-256 of a canonical JSON of (provider, model, messages,
 * parameters); an embedding by (model, text). Both expire after [redis] cache_ttl seconds.
 *
 * The cache is an optimisation, never a failure: without Redis, with cache_ttl = 0, or when Redis
 * fails or holds something unreadable, a lookup is a miss and a store does nothing. Lookups and
 * stores are asynchronous and call back from the loop, never before they return. */
#ifndef LABDECK_LLM_CACHE_H
#define LABDECK_LLM_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct redis_client;
struct llm_cache;
struct llm_cache_op;

/* One message of a request (a system prompt is a message with role "system"). */
struct llm_cache_message {
	const char *role;
	const char *content;
};

/* What makes two requests identical. Every field takes part in the key. */
struct llm_cache_request {
	const char *provider; /* "ollama", "gemini", "openai" */
	const char *model;
	const struct llm_cache_message *messages;
	size_t n_messages;
	const json_t *params; /* options that change the answer (temperature, num_ctx, RAG
	                         pipeline...), or NULL; key order does not matter */
};

/* A cached answer. */
struct llm_cache_answer {
	char *text;
	char *thinking;         /* or NULL */
	long prompt_tokens;     /* -1: unknown */
	long completion_tokens; /* -1: unknown */
	double created;         /* when it was stored (seconds since the epoch) */
	bool cached;            /* true when it came from the cache: the CLI marks the answer */
};

/* llm_cache_answer_free frees a heap answer as a lookup hands over. NULL-safe. */
void llm_cache_answer_free(struct llm_cache_answer *a);

/* llm_cache_create: a cache on redis (shared, not owned) whose entries live ttl_s seconds; with
 * redis NULL or ttl_s <= 0 the cache is off (every lookup misses). */
struct llm_cache *llm_cache_create(struct event_base *base, struct redis_client *redis, int ttl_s);
/* llm_cache_destroy cancels pending lookups and stores (no callbacks). NULL-safe. */
void llm_cache_destroy(struct llm_cache *c);
/* llm_cache_enabled: whether lookups can hit at all. */
bool llm_cache_enabled(const struct llm_cache *c);

/* llm_cache_key returns "labdeck:cache:chat:" and the hex SHA-256 of the request's canonical JSON
 * (heap). Requests that differ in any field (a message, its role, a parameter) get different keys;
 * the order of keys inside params does not matter. Invalid UTF-8 counts as U+FFFD. */
char *llm_cache_key(const struct llm_cache_request *req);

/* llm_cache_embedding_key: "labdeck:cache:embed:" and the hex SHA-256 of (model, text) (heap). */
char *llm_cache_embedding_key(const char *model, const char *text);

/* Counters, for the status line and tests. */
struct llm_cache_stats {
	long hits, misses, stores, errors; /* errors: Redis failures taken as misses */
};
const struct llm_cache_stats *llm_cache_stats(const struct llm_cache *c);

/* Called once per lookup: hit is the cached answer (owned by the callee, hit->cached true) or
 * NULL on a miss. */
typedef void (*llm_cache_get_fn)(void *ud, struct llm_cache_answer *hit);
/* Called once per store: whether it was stored. */
typedef void (*llm_cache_put_fn)(void *ud, bool stored);

/* llm_cache_get looks the request up. */
struct llm_cache_op *llm_cache_get(struct llm_cache *c, const struct llm_cache_request *req,
                                   llm_cache_get_fn fn, void *ud);

/* llm_cache_put stores an answer for the request (text, thinking and token counts are copied at
 * once; created is set to now). fn may be NULL. */
struct llm_cache_op *llm_cache_put(struct llm_cache *c, const struct llm_cache_request *req,
                                   const struct llm_cache_answer *answer, llm_cache_put_fn fn,
                                   void *ud);

/* Embeddings found for a batch of texts: vectors[i] is NULL for a miss, else dims[i] floats.
 * Owned by the callee (llm_cache_vectors_free). */
struct llm_cache_vectors {
	float **vectors;
	size_t *dims;
	size_t n;
	size_t hits;
};
void llm_cache_vectors_free(struct llm_cache_vectors *v);

typedef void (*llm_cache_vectors_fn)(void *ud, struct llm_cache_vectors *found);

/* llm_cache_get_embeddings looks up n texts embedded by model, in one round trip. found->n is
 * always n; on a miss of all (or a cache that is off) every vector is NULL. */
struct llm_cache_op *llm_cache_get_embeddings(struct llm_cache *c, const char *model,
                                              const char *const *texts, size_t n,
                                              llm_cache_vectors_fn fn, void *ud);

/* llm_cache_put_embeddings stores n vectors (vectors[i] has dims[i] floats; a NULL vector is
 * skipped), packed as little-endian 32-bit floats. fn may be NULL; stored is true when all were
 * stored. */
struct llm_cache_op *llm_cache_put_embeddings(struct llm_cache *c, const char *model,
                                              const char *const *texts, const float *const *vectors,
                                              const size_t *dims, size_t n, llm_cache_put_fn fn,
                                              void *ud);

/* llm_cache_cancel forgets a pending lookup or store: its callback is not called. */
void llm_cache_cancel(struct llm_cache_op *op);

/* llm_cache_pack_floats packs n floats as little-endian IEEE 754 binary32 into out (4n bytes);
 * llm_cache_unpack_floats does the reverse (len must be a multiple of 4) and returns a heap array
 * of len/4 floats, or NULL when len is not. */
void llm_cache_pack_floats(const float *v, size_t n, unsigned char *out);
float *llm_cache_unpack_floats(const unsigned char *in, size_t len);

#endif
