/* cli_rag.c: `labdeck rag ingest FILE...` and `labdeck rag query TEXT`. Ingest chunks each file
 * (backends/chunker.h), embeds the chunks with [ollama] embed_model (backends/embed.h) and
 * stores them (backends/vector_store.h: PostgreSQL + pgvector from [rag] postgres, else the
 * local index file); a file whose content and model are already stored is skipped. Query embeds
 * the text and prints the [rag] top_k nearest chunks (backends/rag_retrieve.h).
 *
 * With [redis] configured and cache_ttl > 0, embeddings go through the cache of llm_cache.h,
 * keyed by (model, text): re-ingesting a changed file embeds only the chunks that are new, and a
 * repeated query does not ask Ollama again. The cache is an optimisation, never a failure: with
 * Redis down, everything is embedded as it would be without it. */
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunker.h"
#include "cli.h"
#include "embed.h"
#include "llm_cache.h"
#include "rag_retrieve.h"
#include "redis_client.h"
#include "text.h"
#include "util.h"
#include "vector_store.h"

#define EXCERPT_COLS 100

/* What one call on the loop left behind. */
struct wait {
	bool done;
	bool failed;
	struct err err;
	struct embed_result *emb;
};

static void on_store(void *ud, const struct err *err)
{
	struct wait *w = ud;
	w->done = true;
	w->failed = err != NULL;
	if (err) {
		w->err = *err;
	}
}

static void on_embed(void *ud, struct embed_result *res, const struct err *err)
{
	struct wait *w = ud;
	w->done = true;
	w->failed = err != NULL;
	w->emb = res;
	if (err) {
		w->err = *err;
	}
}

static void wait_for(struct cli *c, const struct wait *w)
{
	while (!w->done) {
		event_base_loop(c->base, EVLOOP_ONCE);
	}
}

static int usage(const char *msg)
{
	fprintf(stderr,
	        "labdeck: %s\n"
	        "usage: labdeck rag ingest FILE...   (FILE - reads standard input)\n"
	        "       labdeck rag query TEXT        (TEXT - reads standard input)\n",
	        msg);
	return 2;
}

static void print_json(json_t *root)
{
	bool tty = isatty(STDOUT_FILENO);
	size_t flags = JSON_INDENT(tty ? 2 : 0) | JSON_COMPACT | (tty ? JSON_ENSURE_ASCII : 0);
	{
		char *json = json_dumps(root, flags); /* C1 and bidi escaped (text_json_fputs) */
		text_json_fputs(json, stdout);
		free(json);
	}
	fputc('\n', stdout);
	json_decref(root);
}

static json_t *errors_json(const struct cli *c)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < c->n_errors; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "backend", json_string(c->errors[i].backend));
		json_object_set_new(o, "message", json_string(c->errors[i].err.msg));
		json_object_set_new(o, "code", json_string(err_code_name(c->errors[i].err.code)));
		json_array_append_new(arr, o);
	}
	return arr;
}

/* Reads a whole file, or standard input for "-". */
static bool read_all(const char *path, struct buf *out, struct err *err)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (!f) {
		char *safe = text_sanitize(path, false);
		err_set(err, ERR_USAGE, 0, "rag: cannot read %s: %s", safe, strerror(errno));
		free(safe);
		return false;
	}
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		buf_append(out, tmp, n);
	}
	bool ok = !ferror(f);
	if (!ok) {
		char *safe = text_sanitize(path, false);
		err_set(err, ERR_USAGE, 0, "rag: cannot read %s: %s", safe, strerror(errno));
		free(safe);
	}
	if (!is_stdin) {
		fclose(f);
	}
	if (!out->data) {
		buf_append(out, "", 0);
	}
	return ok;
}

static struct vector_store *open_store(struct cli *c, bool write, struct wait *w)
{
	const struct config_rag *rag = &c->cfg.rag;
	struct vector_store_opts o = {
	        .base = c->base,
	        .conninfo = rag->postgres,
	        .table = rag->table,
	        .write = write,
	        .timeout_ms = c->timeout_ms,
	};
	struct vector_store *vs = vector_store_open(&o, on_store, w);
	if (!rag->postgres) {
		char *safe = text_sanitize(vector_store_describe(vs), false);
		fprintf(stderr, "labdeck: rag: [rag] postgres is not set: using %s\n", safe);
		free(safe);
	}
	return vs;
}

static struct embed_request *start_embed(struct cli *c, const char *const *texts, size_t n,
                                         struct wait *w)
{
	const struct config_ollama *ol = &c->cfg.ollama;
	struct embed_opts o = {
	        .url = ol->url,
	        .model = ol->embed_model,
	        .keep_alive = ol->keep_alive,
	        .timeout_ms = c->timeout_ms,
	};
	return embed_start(c->http, &o, texts, n, on_embed, w);
}

/* --- the embedding cache --- */

/* The Redis connection and the cache on it; both NULL when there is no cache. */
struct cache_link {
	struct redis_client *redis;
	struct llm_cache *cache;
};

static void cache_open(struct cli *c, struct cache_link *l)
{
	memset(l, 0, sizeof(*l));
	const struct config_redis *rc = &c->cfg.redis;
	if (!rc->configured || rc->cache_ttl <= 0) {
		return;
	}
	struct err e;
	err_clear(&e);
	l->redis = redis_client_create(c->base, rc->url, rc->password, &e);
	if (!l->redis) {
		char *why = text_sanitize(e.msg, false);
		fprintf(stderr, "labdeck: warning: %s; embedding without the cache\n", why);
		free(why);
		return;
	}
	l->cache = llm_cache_create(c->base, l->redis, rc->cache_ttl);
}

static void cache_close(struct cache_link *l)
{
	llm_cache_destroy(l->cache);
	redis_client_destroy(l->redis);
	memset(l, 0, sizeof(*l));
}

struct cache_wait {
	bool done;
	struct llm_cache_vectors *found;
};

static void on_cache_found(void *ud, struct llm_cache_vectors *found)
{
	struct cache_wait *w = ud;
	w->done = true;
	w->found = found;
}

static void on_cache_stored(void *ud, bool stored)
{
	(void)stored; /* not stored: the next run embeds again, that is all */
	struct cache_wait *w = ud;
	w->done = true;
}

/* embed_fresh embeds n texts with Ollama: n rows of *dim floats (heap), or NULL with err set. */
static float *embed_fresh(struct cli *c, const char *const *texts, size_t n, size_t *dim,
                          struct err *err)
{
	struct wait w = {0};
	start_embed(c, texts, n, &w);
	wait_for(c, &w);
	if (w.failed) {
		*err = w.err;
		return NULL;
	}
	*dim = w.emb->dim;
	float *v = xmalloc(n * (*dim ? *dim : 1) * sizeof(float));
	memcpy(v, w.emb->vectors, n * *dim * sizeof(float));
	embed_result_destroy(w.emb);
	return v;
}

/* embed_texts embeds n texts (n >= 1): what the cache holds comes from it, the rest from Ollama
 * (then into the cache: *put is that store's wait, to be waited for before the cache goes).
 * Returns n rows of *dim floats (heap), or NULL with err set (an Ollama failure). */
static float *embed_texts(struct cli *c, struct llm_cache *cache, const char *const *texts,
                          size_t n, size_t *dim, struct cache_wait *put, struct err *err)
{
	const char *model = c->cfg.ollama.embed_model;
	*dim = 0;
	put->done = true;
	struct llm_cache_vectors *found = NULL;
	if (cache && llm_cache_enabled(cache)) {
		struct cache_wait g = {0};
		llm_cache_get_embeddings(cache, model, texts, n, on_cache_found, &g);
		while (!g.done) {
			event_base_loop(c->base, EVLOOP_ONCE);
		}
		found = g.found;
	}
	/* Cached vectors are used only when they all have one dimension. */
	size_t cached_dim = 0;
	bool usable = found && found->n == n && found->hits > 0;
	for (size_t i = 0; usable && i < n; i++) {
		if (found->vectors[i]) {
			if (cached_dim && found->dims[i] != cached_dim) {
				usable = false;
			}
			cached_dim = found->dims[i];
		}
	}
	size_t *todo = xcalloc(n, sizeof(*todo));
	size_t n_todo = 0;
	for (size_t i = 0; i < n; i++) {
		if (!usable || !found->vectors[i]) {
			todo[n_todo++] = i;
		}
	}
	float *out = NULL;
	float *fresh = NULL;
	const char **fresh_texts = NULL;
	if (n_todo) {
		fresh_texts = xcalloc(n_todo, sizeof(*fresh_texts));
		for (size_t j = 0; j < n_todo; j++) {
			fresh_texts[j] = texts[todo[j]];
		}
		fresh = embed_fresh(c, fresh_texts, n_todo, dim, err);
		if (!fresh) {
			goto out;
		}
		if (usable && cached_dim != *dim) {
			/* The model changed under the same name: embed them all again. */
			usable = false;
			free(fresh);
			free(fresh_texts);
			n_todo = n;
			fresh_texts = xcalloc(n, sizeof(*fresh_texts));
			for (size_t i = 0; i < n; i++) {
				todo[i] = i;
				fresh_texts[i] = texts[i];
			}
			fresh = embed_fresh(c, fresh_texts, n, dim, err);
			if (!fresh) {
				goto out;
			}
		}
	} else {
		*dim = cached_dim;
	}
	out = xmalloc(n * (*dim ? *dim : 1) * sizeof(float));
	for (size_t i = 0; usable && i < n; i++) {
		if (found->vectors[i]) {
			memcpy(out + i * *dim, found->vectors[i], *dim * sizeof(float));
		}
	}
	for (size_t j = 0; j < n_todo; j++) {
		memcpy(out + todo[j] * *dim, fresh + j * *dim, *dim * sizeof(float));
	}
	if (n_todo && cache && llm_cache_enabled(cache)) {
		const float **vecs = xcalloc(n_todo, sizeof(*vecs));
		size_t *dims = xcalloc(n_todo, sizeof(*dims));
		for (size_t j = 0; j < n_todo; j++) {
			vecs[j] = fresh + j * *dim;
			dims[j] = *dim;
		}
		put->done = false;
		/* The values are packed and sent at once: vecs and fresh may go now. */
		llm_cache_put_embeddings(cache, model, fresh_texts, vecs, dims, n_todo,
		                         on_cache_stored, put);
		free(vecs);
		free(dims);
	}
out:
	free(fresh);
	free(fresh_texts);
	free(todo);
	llm_cache_vectors_free(found);
	return out;
}

/* --- ingest --- */

struct ingested {
	char *path; /* as given */
	size_t chunks;
	const char *status; /* added, replaced, unchanged, empty, error */
};

/* The identity of a file in the store: its absolute path. */
static char *source_of(const char *path)
{
	if (strcmp(path, "-") == 0) {
		return xstrdup("(stdin)");
	}
	/* Stored as text (PostgreSQL wants UTF-8): a byte that is not becomes U+FFFD. */
	char *real = realpath(path, NULL);
	const char *name = real ? real : path;
	char *fixed = chunker_fix_utf8(name, strlen(name));
	free(real);
	return fixed;
}

static const char *base_name(const char *path)
{
	if (strcmp(path, "-") == 0) {
		return "stdin";
	}
	const char *slash = strrchr(path, '/');
	return slash && slash[1] ? slash + 1 : path;
}

/* Ingests one file; false when the run cannot go on (the store or Ollama failed). */
static bool ingest_one(struct cli *c, struct vector_store *vs, struct llm_cache *cache,
                       const char *path, struct ingested *out)
{
	const char *model = c->cfg.ollama.embed_model;
	out->path = chunker_fix_utf8(path, strlen(path));
	out->status = "error";
	struct err e;
	err_clear(&e);
	struct buf raw;
	buf_init(&raw);
	if (!read_all(path, &raw, &e)) {
		cli_add_error(c, "rag", &e);
		buf_finish(&raw);
		return true;
	}
	char *source = source_of(path);
	char *hash = vector_store_content_hash(raw.data, raw.len);
	bool go_on = false;
	struct vector_store_file stored = {0};
	struct chunker_list chunks = {0};
	char **texts = NULL;
	struct vector_store_chunk *vc = NULL;
	float *vectors = NULL;
	struct cache_wait put = {.done = true};
	struct wait w = {0};

	vector_store_lookup(vs, source, &stored, on_store, &w);
	wait_for(c, &w);
	if (w.failed) {
		cli_add_error(c, "rag", &w.err);
		goto out;
	}
	if (stored.hash && strcmp(stored.hash, hash) == 0 && str_eq(stored.model, model)) {
		out->status = "unchanged";
		out->chunks = stored.count;
		go_on = true;
		goto out;
	}
	char *text = chunker_fix_utf8(raw.data, raw.len);
	chunker_split(text, strlen(text), base_name(path), NULL, &chunks);
	free(text);
	texts = xcalloc(chunks.len ? chunks.len : 1, sizeof(*texts));
	for (size_t i = 0; i < chunks.len; i++) {
		/* The heading path goes with the text, so a chunk deep in a section still says
		 * what it is about. */
		texts[i] = xasprintf("%s\n\n%s", chunks.items[i].title, chunks.items[i].text);
	}
	size_t dim = 0;
	if (chunks.len) {
		vectors = embed_texts(c, cache, (const char *const *)texts, chunks.len, &dim, &put,
		                      &e);
		if (!vectors) {
			cli_add_error(c, "ollama", &e);
			goto out;
		}
		vc = xcalloc(chunks.len, sizeof(*vc));
		for (size_t i = 0; i < chunks.len; i++) {
			vc[i].title = chunks.items[i].title;
			vc[i].text = chunks.items[i].text;
			vc[i].embedding = vectors + i * dim;
		}
	}
	/* The cache store (if any) goes on while the store replaces the file. */
	w = (struct wait){0};
	vector_store_replace(vs, source, hash, model, vc, chunks.len, dim, on_store, &w);
	wait_for(c, &w);
	if (w.failed) {
		cli_add_error(c, "rag", &w.err);
		goto out;
	}
	out->chunks = chunks.len;
	out->status = !chunks.len ? "empty" : stored.hash ? "replaced" : "added";
	go_on = true;
out:
	while (!put.done) {
		event_base_loop(c->base, EVLOOP_ONCE);
	}
	free(vectors);
	if (texts) {
		for (size_t i = 0; i < chunks.len; i++) {
			free(texts[i]);
		}
		free(texts);
	}
	free(vc);
	chunker_list_finish(&chunks);
	vector_store_file_finish(&stored);
	free(hash);
	free(source);
	buf_finish(&raw);
	return go_on;
}

static int rag_ingest(struct cli *c, int argc, char **argv)
{
	if (argc < 1) {
		return usage("rag ingest needs at least one FILE");
	}
	struct cache_link link;
	cache_open(c, &link);
	struct wait w = {0};
	struct vector_store *vs = open_store(c, true, &w);
	wait_for(c, &w);
	struct ingested *files = xcalloc((size_t)argc, sizeof(*files));
	size_t n_files = 0;
	if (w.failed) {
		cli_add_error(c, "rag", &w.err);
	} else {
		for (int i = 0; i < argc; i++) {
			bool go_on = ingest_one(c, vs, link.cache, argv[i], &files[n_files++]);
			if (!go_on) {
				break;
			}
		}
		/* The local index saves at checkpoints: what came since the last one now. */
		w = (struct wait){0};
		vector_store_flush(vs, on_store, &w);
		wait_for(c, &w);
		if (w.failed) {
			cli_add_error(c, "rag", &w.err);
		}
	}
	vector_store_close(vs);
	cache_close(&link);

	if (c->json) {
		json_t *root = json_object();
		json_t *arr = json_array();
		for (size_t i = 0; i < n_files; i++) {
			json_t *o = json_object();
			json_object_set_new(o, "path", json_string(files[i].path));
			json_object_set_new(o, "chunks", json_integer((json_int_t)files[i].chunks));
			json_object_set_new(o, "status", json_string(files[i].status));
			json_array_append_new(arr, o);
		}
		json_object_set_new(root, "files", arr);
		json_object_set_new(root, "errors", errors_json(c));
		print_json(root);
	} else {
		for (size_t i = 0; i < n_files; i++) {
			if (strcmp(files[i].status, "error") == 0) {
				continue; /* its error goes to stderr */
			}
			char *safe = text_sanitize(files[i].path, false);
			printf("%s: %zu chunk%s, %s\n", safe, files[i].chunks,
			       files[i].chunks == 1 ? "" : "s", files[i].status);
			free(safe);
		}
	}
	for (size_t i = 0; i < n_files; i++) {
		free(files[i].path);
	}
	free(files);
	cli_report_errors(c);
	fflush(stdout);
	return c->exit_status;
}

/* --- query --- */

/* One line of at most cols columns from a chunk's text: whitespace runs become one space. */
static char *excerpt(const char *text, int cols)
{
	struct buf b;
	buf_init(&b);
	bool space = false;
	for (const char *p = text; *p; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			space = b.len > 0;
			continue;
		}
		if (space) {
			buf_append(&b, " ", 1);
			space = false;
		}
		buf_append(&b, p, 1);
	}
	char *safe = text_sanitize(b.data ? b.data : "", false);
	buf_finish(&b);
	if (text_width(safe) > cols) {
		char *cut = text_fit(safe, cols, false);
		free(safe);
		safe = cut;
	}
	return safe;
}

/* The query words joined by spaces, or standard input for "-". */
static char *query_text(int argc, char **argv, struct err *err)
{
	if (argc == 1 && strcmp(argv[0], "-") == 0) {
		struct buf b;
		buf_init(&b);
		if (!read_all("-", &b, err)) {
			buf_finish(&b);
			return NULL;
		}
		char *t = chunker_fix_utf8(b.data, b.len);
		buf_finish(&b);
		return t;
	}
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < argc; i++) {
		buf_appendf(&b, "%s%s", i ? " " : "", argv[i]);
	}
	char *t = chunker_fix_utf8(b.data ? b.data : "", b.len);
	buf_finish(&b);
	return t;
}

struct retrieved {
	struct rag_retrieve_result *res;
};

static void on_retrieved(void *ud, struct rag_retrieve_result *r)
{
	struct retrieved *got = ud;
	got->res = r;
}

static int rag_query(struct cli *c, int argc, char **argv)
{
	if (argc < 1) {
		return usage("rag query needs the TEXT to look for");
	}
	struct err e;
	err_clear(&e);
	char *text = query_text(argc, argv, &e);
	if (!text) {
		cli_add_error(c, "rag", &e);
		cli_report_errors(c);
		return c->exit_status;
	}
	char *trimmed = str_trim(text);
	if (!*trimmed) {
		free(text);
		return usage("rag query: the TEXT is empty");
	}
	const char *model = c->cfg.ollama.embed_model;
	struct cache_link link;
	cache_open(c, &link);
	struct retrieved got = {0};
	struct rag_retrieve_opts ro = {
	        .base = c->base,
	        .http = c->http,
	        .cfg = &c->cfg,
	        .cache = link.cache,
	        .timeout_ms = c->timeout_ms,
	};
	rag_retrieve_start(&ro, trimmed, on_retrieved, &got);
	while (!got.res) {
		event_base_loop(c->base, EVLOOP_ONCE);
	}
	cache_close(&link);
	struct rag_retrieve_result *res = got.res;
	if (!c->cfg.rag.postgres) {
		char *safe = text_sanitize(res->store ? res->store : "the local index", false);
		fprintf(stderr, "labdeck: rag: [rag] postgres is not set: using %s\n", safe);
		free(safe);
	}
	if (!res->ok) {
		cli_add_error(c, res->backend ? res->backend : "rag", &res->err);
	} else if (!res->hits.len) {
		char *where = text_sanitize(res->store ? res->store : "the store", false);
		fprintf(stderr,
		        "labdeck: rag: nothing is stored in %s for %s yet: run 'labdeck rag ingest "
		        "FILE...'\n",
		        where, model);
		free(where);
	}
	const struct vector_store_hits hits = res->hits;

	if (c->json) {
		json_t *root = json_object();
		json_t *arr = json_array();
		for (size_t i = 0; i < hits.len; i++) {
			const struct vector_store_hit *h = &hits.items[i];
			json_t *o = json_object();
			json_object_set_new(o, "id", json_integer((json_int_t)h->id));
			json_object_set_new(o, "title", json_string(h->title));
			json_object_set_new(o, "text", json_string(h->text));
			json_object_set_new(o, "distance",
			                    isfinite(h->distance) ? json_real(h->distance)
			                                          : json_null());
			json_object_set_new(o, "source", json_string(h->source));
			json_array_append_new(arr, o);
		}
		json_object_set_new(root, "chunks", arr);
		json_object_set_new(root, "model", json_string(model));
		json_object_set_new(root, "errors", errors_json(c));
		print_json(root);
	} else {
		for (size_t i = 0; i < hits.len; i++) {
			const struct vector_store_hit *h = &hits.items[i];
			char *title = text_sanitize(h->title, false);
			char *source = text_sanitize(h->source, false);
			char *ex = excerpt(h->text, EXCERPT_COLS);
			printf("%zu. %.4f  %s  [%s #%lld]\n   %s\n", i + 1, h->distance, title,
			       source, (long long)h->id, ex);
			free(title);
			free(source);
			free(ex);
		}
	}
	rag_retrieve_result_free(res);
	free(text);
	cli_report_errors(c);
	fflush(stdout);
	return c->exit_status;
}

int cli_rag(struct cli *c, int argc, char **argv)
{
	if (argc < 2) {
		return usage("rag needs a subcommand: ingest or query");
	}
	if (strcmp(argv[1], "ingest") == 0) {
		return rag_ingest(c, argc - 2, argv + 2);
	}
	if (strcmp(argv[1], "query") == 0) {
		return rag_query(c, argc - 2, argv + 2);
	}
	char *safe = text_sanitize(argv[1], false);
	char *msg = xasprintf("unknown rag subcommand '%s'", safe);
	int rc = usage(msg);
	free(msg);
	free(safe);
	return rc;
}
