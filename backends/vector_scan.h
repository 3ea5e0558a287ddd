/* vector_scan.h: the local RAG index file read as a stream, in constant memory. A query only
 * ever needs the k nearest chunks, so a reader (`rag query`, `chat --rag`, the chat view) never
 * holds the whole index: opening checks the file end to end (its SHA-256, its structure, every
 * vector finite) keeping only the header and the file table, and each query reads the chunks
 * once more through a small buffer, keeping the k best. The file stays open between the two, so
 * a writer renaming a new index into place does not change what this reader sees.
 *
 * The format (written by vector_store.c): "LDRAGIX1", u32 version, u32 dim, u64 next id,
 * u32 files, u32 chunks, files (source, hash, model: u32 length + bytes each), chunks (u64 id,
 * u32 file, u32 index, title, text, dim little-endian float32), then the SHA-256 of everything
 * before it. */
#ifndef LABDECK_VECTOR_SCAN_H
#define LABDECK_VECTOR_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "vector_store.h"

#define VECTOR_SCAN_MAGIC "LDRAGIX1"
#define VECTOR_SCAN_VERSION 1
#define VECTOR_SCAN_MAX_DIM 65536

struct vector_scan_file {
	char *source, *hash, *model;
};

struct vector_scan {
	FILE *f; /* NULL: no index file (an empty index) */
	char *path;
	size_t size;
	uint32_t dim, n_chunks;
	int64_t next_id;
	struct vector_scan_file *files;
	uint32_t n_files;
	size_t *counts; /* chunks per file */
	long chunks_at; /* offset of the first chunk */
};

/* vector_scan_open opens and checks the index at path. A missing file is an empty index (true,
 * s->f NULL). A damaged one fails with ERR_MALFORMED: "rag: the local index PATH is damaged
 * (WHY): move it away and ingest again", WHY saying what is wrong (its checksum first). */
bool vector_scan_open(struct vector_scan *s, const char *path, struct err *err);

/* vector_scan_query puts the k chunks of model (NULL: any) nearest to q by cosine distance into
 * out, nearest first (a zero vector's distance is NAN and sorts last; equal distances by id). */
bool vector_scan_query(struct vector_scan *s, const float *q, size_t dim, const char *model,
                       size_t k, struct vector_store_hits *out, struct err *err);

/* vector_scan_lookup fills out with what is stored for source (hash NULL when nothing). */
void vector_scan_lookup(const struct vector_scan *s, const char *source,
                        struct vector_store_file *out);

/* vector_scan_close closes the file and frees what open kept. NULL-safe fields. */
void vector_scan_close(struct vector_scan *s);

#endif
