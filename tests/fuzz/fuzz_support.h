/* fuzz_support.h: what the libFuzzer targets in tests/fuzz share: the input as a C string, and a
 * chunking of the input chosen by its first byte (for the stream splitters, which must give the
 * same result whatever pieces the network delivers). */
#ifndef LABDECK_FUZZ_SUPPORT_H
#define LABDECK_FUZZ_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The entry point every target defines (libFuzzer calls it once per input). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_support_cstr returns a heap copy of the size bytes of data with a NUL after them (bytes
 * NUL inside stay: C-string parsers then see a prefix). Free it. */
char *fuzz_support_cstr(const uint8_t *data, size_t size);

/* A chunker cuts a byte string into pieces of pseudo-random sizes. */
struct fuzz_support_chunker {
	const char *data;
	size_t size;
	size_t pos;
	uint32_t state; /* the generator of the sizes */
	size_t max;     /* largest piece */
};

/* fuzz_support_chunker_init takes the first byte of data (when there is one) as the choice of
 * chunking — its low two bits the largest piece (1, 4, 64 or 4096 bytes), the rest the seed of
 * the sizes — and leaves the rest as the stream, in *stream and *stream_len. */
void fuzz_support_chunker_init(struct fuzz_support_chunker *c, const uint8_t *data, size_t size,
                               const char **stream, size_t *stream_len);

/* fuzz_support_chunker_next hands out the next piece (1 to max bytes); false at the end. */
bool fuzz_support_chunker_next(struct fuzz_support_chunker *c, const char **piece, size_t *len);

#endif
