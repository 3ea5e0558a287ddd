/* rag_retrieve.c: the retrieval step of RAG. Three things can be in flight at once: the store
 * opening (then the query), the question's vector (a cache lookup, then Ollama on a miss) and
 * storing a fresh vector in the cache. The result is delivered when the query is done (or the
 * first failure came) and the cache store has ended, so a caller may destroy the cache as soon
 * as its callback runs without losing the entry. */
#include "rag_retrieve.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "embed.h"
#include "llm_cache.h"
#include "util.h"

#define DEFAULT_TOP_K 5

struct rag_retrieval {
	struct http *http;
	struct llm_cache *cache;
	char *question;
	char *url, *model, *keep_alive;
	size_t k;
	long timeout_ms;
	rag_retrieve_fn fn;
	void *ud;

	struct vector_store *vs;
	bool store_ready;
	bool querying;
	bool decided; /* the query is done, or something failed */

	struct llm_cache_op *cache_get;
	struct llm_cache_op *cache_put;
	struct embed_request *embed;
	float *vec;
	size_t dim;

	struct rag_retrieve_result *res;
};

void rag_retrieve_result_free(struct rag_retrieve_result *r)
{
	if (!r) {
		return;
	}
	vector_store_hits_finish(&r->hits);
	free(r->store);
	free(r);
}

/* Stops everything still running and frees the retrieval (not its result). */
static void retrieval_free(struct rag_retrieval *r)
{
	embed_cancel(r->embed);
	llm_cache_cancel(r->cache_get);
	llm_cache_cancel(r->cache_put);
	vector_store_close(r->vs);
	free(r->vec);
	free(r->question);
	free(r->url);
	free(r->model);
	free(r->keep_alive);
	free(r);
}

static void maybe_deliver(struct rag_retrieval *r)
{
	if (!r->decided || r->cache_put) {
		return;
	}
	rag_retrieve_fn fn = r->fn;
	void *ud = r->ud;
	struct rag_retrieve_result *res = r->res;
	r->res = NULL;
	retrieval_free(r);
	fn(ud, res);
}

/* The first failure decides; what still runs for the retrieval is stopped (but not a cache
 * store, which is waited for). */
static void fail(struct rag_retrieval *r, const char *backend, const struct err *err)
{
	if (r->decided) {
		return;
	}
	r->decided = true;
	r->res->ok = false;
	r->res->backend = backend;
	r->res->err = *err;
	vector_store_hits_finish(&r->res->hits);
	embed_cancel(r->embed);
	r->embed = NULL;
	llm_cache_cancel(r->cache_get);
	r->cache_get = NULL;
	vector_store_close(r->vs);
	r->vs = NULL;
	maybe_deliver(r);
}

static void on_query(void *ud, const struct err *err)
{
	struct rag_retrieval *r = ud;
	r->querying = false;
	if (err) {
		fail(r, "rag", err);
		return;
	}
	r->decided = true;
	r->res->ok = true;
	vector_store_close(r->vs);
	r->vs = NULL;
	maybe_deliver(r);
}

static void maybe_query(struct rag_retrieval *r)
{
	if (r->decided || r->querying || !r->store_ready || !r->vec) {
		return;
	}
	r->querying = true;
	vector_store_query(r->vs, r->vec, r->dim, r->model, r->k, &r->res->hits, on_query, r);
}

static void on_store_open(void *ud, const struct err *err)
{
	struct rag_retrieval *r = ud;
	if (err) {
		fail(r, "rag", err);
		return;
	}
	r->store_ready = true;
	maybe_query(r);
}

static void on_cache_put(void *ud, bool stored)
{
	(void)stored; /* not stored: the next retrieval embeds again, that is all */
	struct rag_retrieval *r = ud;
	r->cache_put = NULL;
	maybe_deliver(r);
}

static void on_embed(void *ud, struct embed_result *res, const struct err *err)
{
	struct rag_retrieval *r = ud;
	r->embed = NULL;
	if (err) {
		fail(r, "ollama", err);
		return;
	}
	r->res->embed_tokens = res->prompt_tokens > 0 ? res->prompt_tokens : 0;
	r->dim = res->dim;
	r->vec = xmalloc((res->dim ? res->dim : 1) * sizeof(float));
	memcpy(r->vec, res->vectors, res->dim * sizeof(float));
	embed_result_destroy(res);
	if (r->cache && llm_cache_enabled(r->cache) && r->dim) {
		const char *texts[] = {r->question};
		const float *vecs[] = {r->vec};
		size_t dims[] = {r->dim};
		r->cache_put = llm_cache_put_embeddings(r->cache, r->model, texts, vecs, dims, 1,
		                                        on_cache_put, r);
	}
	maybe_query(r);
}

static void start_embed(struct rag_retrieval *r)
{
	struct embed_opts o = {
	        .url = r->url,
	        .model = r->model,
	        .keep_alive = r->keep_alive,
	        .timeout_ms = r->timeout_ms,
	};
	const char *texts[] = {r->question};
	r->embed = embed_start(r->http, &o, texts, 1, on_embed, r);
}

static void on_cache_get(void *ud, struct llm_cache_vectors *found)
{
	struct rag_retrieval *r = ud;
	r->cache_get = NULL;
	if (found && found->n == 1 && found->vectors[0] && found->dims[0]) {
		r->vec = found->vectors[0];
		r->dim = found->dims[0];
		found->vectors[0] = NULL;
		r->res->embedding_cached = true;
		llm_cache_vectors_free(found);
		maybe_query(r);
		return;
	}
	llm_cache_vectors_free(found);
	start_embed(r);
}

struct rag_retrieval *rag_retrieve_start(const struct rag_retrieve_opts *opts, const char *question,
                                         rag_retrieve_fn fn, void *ud)
{
	const struct config *cfg = opts->cfg;
	struct rag_retrieval *r = xcalloc(1, sizeof(*r));
	r->http = opts->http;
	r->cache = opts->cache;
	r->question = xstrdup(question ? question : "");
	r->url = cfg->ollama.url ? xstrdup(cfg->ollama.url) : NULL;
	r->model = xstrdup(cfg->ollama.embed_model ? cfg->ollama.embed_model : "bge-m3");
	r->keep_alive = cfg->ollama.keep_alive ? xstrdup(cfg->ollama.keep_alive) : NULL;
	r->k = opts->k ? opts->k : cfg->rag.top_k > 0 ? (size_t)cfg->rag.top_k : DEFAULT_TOP_K;
	r->timeout_ms = opts->timeout_ms;
	r->fn = fn;
	r->ud = ud;
	r->res = xcalloc(1, sizeof(*r->res));

	struct vector_store_opts so = {
	        .base = opts->base,
	        .conninfo = cfg->rag.postgres,
	        .table = cfg->rag.table,
	        .write = false,
	        .timeout_ms = opts->timeout_ms,
	};
	r->vs = vector_store_open(&so, on_store_open, r);
	r->res->store = xstrdup(vector_store_describe(r->vs));
	if (r->cache && llm_cache_enabled(r->cache)) {
		const char *texts[] = {r->question};
		r->cache_get =
		        llm_cache_get_embeddings(r->cache, r->model, texts, 1, on_cache_get, r);
	} else {
		/* embed_start calls back from the loop only (http.h), never from inside. */
		start_embed(r);
	}
	return r;
}

void rag_retrieve_cancel(struct rag_retrieval *r)
{
	if (!r) {
		return;
	}
	rag_retrieve_result_free(r->res);
	retrieval_free(r);
}
