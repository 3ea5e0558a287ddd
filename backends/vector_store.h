/* vector_store.h: where RAG chunks and their embeddings live, behind one interface with two
 * implementations:
 *
 * - PostgreSQL + pgvector ([rag] postgres set), through libpq's asynchronous calls on the
 *   libevent loop (PQconnectStart/PQconnectPoll, PQsendQueryParams, PQconsumeInput/PQisBusy,
 *   watched on PQsocket). The table ([rag] table, default rag_chunks) is created when missing,
 *   with vector(D) taken from the first embedding stored and an HNSW cosine index:
 *     id bigserial, source text, file_hash text, embed_model text, chunk_index int, title text,
 *     text text, embedding vector(D)
 * - a local index file (no [rag] postgres): everything in memory, exact search, saved whole by
 *   writing a new file and renaming it over the old, so a reader never sees half a file. A
 *   writer holds an exclusive lock (PATH.lock) from open to close, and saves at most every 5 s
 *   while it replaces files (vector_store_flush, or closing, saves the rest): rewriting the
 *   whole file after each of many files wrote gigabytes.
 *
 * Both keep the same promises: a file (by source path) is stored with its content hash and the
 * embedding model; replacing it swaps all its chunks at once (one transaction); a query gives the
 * k chunks of that model nearest the query vector by cosine distance, nearest first.
 *
 * Every call is asynchronous: its callback runs from the loop, never from inside the call. One
 * call at a time per store. */
#ifndef LABDECK_VECTOR_STORE_H
#define LABDECK_VECTOR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct event_base;
struct vector_store;

#define VECTOR_STORE_TABLE "rag_chunks"

struct vector_store_opts {
	struct event_base *base;
	const char *conninfo;   /* libpq conninfo or URI; NULL: the local index */
	const char *table;      /* NULL: VECTOR_STORE_TABLE; letters, digits and '_' only */
	const char *local_path; /* NULL: vector_store_default_path() */
	bool write;             /* local index: lock it for writing (ingest) */
	long timeout_ms;        /* connecting, and each statement; 0: 30 s */
};

/* One chunk to store; embedding holds the store call's dim floats. */
struct vector_store_chunk {
	const char *title;
	const char *text;
	const float *embedding;
};

/* What is stored for a source path. */
struct vector_store_file {
	char *hash;   /* NULL when the file is not stored */
	char *model;  /* the embedding model its chunks came from */
	size_t count; /* its chunks */
};

struct vector_store_hit {
	int64_t id;
	char *source, *title, *text;
	double distance; /* cosine distance, 0 (same direction) to 2; NAN for a zero vector */
};

struct vector_store_hits {
	struct vector_store_hit *items;
	size_t len;
};

/* Called when a call ends: err NULL on success. */
typedef void (*vector_store_done_fn)(void *ud, const struct err *err);

/* vector_store_open connects (PostgreSQL: then makes sure pgvector is there and looks at the
 * table) or loads the local index (a missing file is an empty index), then calls done. The
 * handle is returned at once and must be closed with vector_store_close even when done reports
 * an error: PostgreSQL unreachable (ERR_UNREACHABLE, naming host and port, never the password),
 * refused login (ERR_AUTH), a damaged index file (ERR_MALFORMED), the index locked by another
 * writer (ERR_REJECTED), a bad table name (ERR_CONFIG). */
struct vector_store *vector_store_open(const struct vector_store_opts *opts,
                                       vector_store_done_fn done, void *ud);

/* vector_store_flush makes what was replaced durable: the local index saves what its last
 * checkpoint left out (an error says so); PostgreSQL has nothing waiting (each replace is its
 * own transaction). */
void vector_store_flush(struct vector_store *vs, vector_store_done_fn done, void *ud);

/* vector_store_close ends the connection or releases the index (a pending call's callback is
 * not called; a local index with unsaved changes is saved, as vector_store_flush would, with no
 * one to tell if that fails). NULL-safe. */
void vector_store_close(struct vector_store *vs);

/* vector_store_is_local: the local index file, not PostgreSQL. */
bool vector_store_is_local(const struct vector_store *vs);

/* vector_store_describe: "PostgreSQL at 127.0.0.1:5432, table rag_chunks" or "local index
 * PATH", for messages. */
const char *vector_store_describe(const struct vector_store *vs);

/* vector_store_dim: the embedding dimension the store holds, 0 before anything was stored. */
size_t vector_store_dim(const struct vector_store *vs);

/* vector_store_lookup fills out with what is stored for source (out->hash NULL: nothing). */
void vector_store_lookup(struct vector_store *vs, const char *source, struct vector_store_file *out,
                         vector_store_done_fn done, void *ud);

/* vector_store_replace drops every chunk of source and stores the n given (n may be 0: the file
 * is then forgotten), all at once, with its content hash and embedding model. The first store
 * fixes the dimension; a different dim later fails with ERR_CONFIG naming both. */
void vector_store_replace(struct vector_store *vs, const char *source, const char *hash,
                          const char *model, const struct vector_store_chunk *chunks, size_t n,
                          size_t dim, vector_store_done_fn done, void *ud);

/* vector_store_query fills out with the k chunks embedded by model nearest vec (dim floats), by
 * cosine distance, nearest first (the local index breaks ties by id). An empty store gives no hits;
 * a dim different from the store's fails with ERR_CONFIG. */
void vector_store_query(struct vector_store *vs, const float *vec, size_t dim, const char *model,
                        size_t k, struct vector_store_hits *out, vector_store_done_fn done,
                        void *ud);

void vector_store_file_finish(struct vector_store_file *f);
void vector_store_hits_finish(struct vector_store_hits *h);
/* vector_store_hits_add appends a hit (the strings are copied; NULL counts as ""). */
void vector_store_hits_add(struct vector_store_hits *h, int64_t id, const char *source,
                           const char *title, const char *text, double distance);

/* vector_store_default_path: $XDG_STATE_HOME/labdeck/rag-index.bin, else
 * ~/.local/state/labdeck/rag-index.bin (heap). */
char *vector_store_default_path(void);

/* vector_store_content_hash: "sha256:" and the hex SHA-256 of len bytes (heap), the hash a file
 * is stored with. */
char *vector_store_content_hash(const void *data, size_t len);

/* vector_store_vector_text formats dim floats as pgvector's text form "[1,0.5,-2]",
 * independent of the locale (heap). */
char *vector_store_vector_text(const float *v, size_t dim);

#endif
