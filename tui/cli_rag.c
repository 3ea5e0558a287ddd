/* cli_rag.c: `labdeck rag ingest FILE...` and `labdeck rag query TEXT`. Ingest chunks each file
 * (backends/chunker.h), embeds the chunks with [ollama] embed_model (backends/embed.h) and
 * stores them (backends/vector_store.h: PostgreSQL + pgvector from [rag] postgres, else the
 * local index file); a file whose content and model are already stored is skipped. Query embeds
 * the text and prints the [rag] top_k nearest chunks. */
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
	json_dumpf(root, stdout, flags);
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
static bool ingest_one(struct cli *c, struct vector_store *vs, const char *path,
                       struct ingested *out)
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
		w = (struct wait){0};
		start_embed(c, (const char *const *)texts, chunks.len, &w);
		wait_for(c, &w);
		if (w.failed) {
			cli_add_error(c, "ollama", &w.err);
			goto out;
		}
		dim = w.emb->dim;
		vc = xcalloc(chunks.len, sizeof(*vc));
		for (size_t i = 0; i < chunks.len; i++) {
			vc[i].title = chunks.items[i].title;
			vc[i].text = chunks.items[i].text;
			vc[i].embedding = w.emb->vectors + i * dim;
		}
	}
	struct embed_result *emb = w.emb;
	w = (struct wait){0};
	vector_store_replace(vs, source, hash, model, vc, chunks.len, dim, on_store, &w);
	wait_for(c, &w);
	embed_result_destroy(emb);
	if (w.failed) {
		cli_add_error(c, "rag", &w.err);
		goto out;
	}
	out->chunks = chunks.len;
	out->status = !chunks.len ? "empty" : stored.hash ? "replaced" : "added";
	go_on = true;
out:
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
	struct wait w = {0};
	struct vector_store *vs = open_store(c, true, &w);
	wait_for(c, &w);
	struct ingested *files = xcalloc((size_t)argc, sizeof(*files));
	size_t n_files = 0;
	if (w.failed) {
		cli_add_error(c, "rag", &w.err);
	} else {
		for (int i = 0; i < argc; i++) {
			bool go_on = ingest_one(c, vs, argv[i], &files[n_files++]);
			if (!go_on) {
				break;
			}
		}
	}
	vector_store_close(vs);

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
	size_t k = c->cfg.rag.top_k > 0 ? (size_t)c->cfg.rag.top_k : 5;

	/* Embedding and connecting go on at the same time. */
	struct wait ws = {0}, we = {0};
	struct vector_store *vs = open_store(c, false, &ws);
	const char *texts[] = {trimmed};
	start_embed(c, texts, 1, &we);
	wait_for(c, &ws);
	if (ws.failed) {
		cli_add_error(c, "rag", &ws.err);
	}
	wait_for(c, &we);
	if (we.failed) {
		cli_add_error(c, "ollama", &we.err);
	}
	struct vector_store_hits hits = {0};
	if (!ws.failed && !we.failed) {
		struct wait wq = {0};
		vector_store_query(vs, we.emb->vectors, we.emb->dim, model, k, &hits, on_store,
		                   &wq);
		wait_for(c, &wq);
		if (wq.failed) {
			cli_add_error(c, "rag", &wq.err);
		} else if (!hits.len) {
			char *where = text_sanitize(vector_store_describe(vs), false);
			fprintf(stderr,
			        "labdeck: rag: nothing is stored in %s for %s yet: run 'labdeck "
			        "rag "
			        "ingest FILE...'\n",
			        where, model);
			free(where);
		}
	}
	vector_store_close(vs);
	embed_result_destroy(we.emb);

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
	vector_store_hits_finish(&hits);
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

bool cli_rag_retrieve(struct cli *c, const char *question, struct vector_store_hits *hits)
{
	memset(hits, 0, sizeof(*hits));
	const char *model = c->cfg.ollama.embed_model;
	size_t k = c->cfg.rag.top_k > 0 ? (size_t)c->cfg.rag.top_k : 5;
	struct wait ws = {0}, we = {0};
	struct vector_store *vs = open_store(c, false, &ws);
	const char *texts[] = {question};
	start_embed(c, texts, 1, &we);
	wait_for(c, &ws);
	wait_for(c, &we);
	bool ok = !ws.failed && !we.failed;
	if (ws.failed) {
		cli_add_error(c, "rag", &ws.err);
	}
	if (we.failed) {
		cli_add_error(c, "ollama", &we.err);
	}
	if (ok) {
		struct wait wq = {0};
		vector_store_query(vs, we.emb->vectors, we.emb->dim, model, k, hits, on_store, &wq);
		wait_for(c, &wq);
		if (wq.failed) {
			cli_add_error(c, "rag", &wq.err);
			ok = false;
		}
	}
	vector_store_close(vs);
	embed_result_destroy(we.emb);
	return ok;
}
