/* fuzz_ndjson.c: the NDJSON line splitter fed the stream in random pieces (the first byte
 * chooses them, see fuzz_support.h). The lines delivered, and the lines dropped for length, must
 * be the same as when the stream comes in one piece, and the same as a plain split at '\n'. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "ndjson.h"
#include "util.h"

struct record {
	struct buf out; /* each line as "<len>:<bytes>\n" */
	size_t errors;
};

static bool on_line(void *ud, const char *line, size_t len)
{
	struct record *r = ud;
	if (memchr(line, '\n', len)) {
		abort(); /* a line never holds its end */
	}
	buf_appendf(&r->out, "%zu:", len);
	buf_append(&r->out, line, len);
	buf_append(&r->out, "\n", 1);
	return true;
}

static void on_error(void *ud, const struct err *err)
{
	struct record *r = ud;
	r->errors++;
	(void)err;
}

/* split runs the stream through a splitter capped at max_line, in the chunker's pieces when c is
 * not NULL, else in one piece. */
static void split(struct record *r, size_t max_line, struct fuzz_support_chunker *c,
                  const char *stream, size_t len)
{
	struct ndjson nd;
	ndjson_init(&nd, max_line, on_line, on_error, r);
	if (c) {
		const char *piece;
		size_t n;
		while (fuzz_support_chunker_next(c, &piece, &n)) {
			ndjson_feed(&nd, piece, n);
		}
	} else {
		ndjson_feed(&nd, stream, len);
	}
	ndjson_finish(&nd);
	ndjson_destroy(&nd);
}

/* expected: the lines of a plain split (a '\r' before the line end is dropped; a last line
 * without '\n' counts when not empty), over-long ones (counted with their '\r') dropped. */
static void expected(struct record *r, size_t max_line, const char *s, size_t len)
{
	const char *end = s + len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
		size_t raw = n;
		if (n > 0 && s[n - 1] == '\r') {
			n--;
		}
		if (raw > max_line) {
			r->errors++;
		} else {
			on_line(r, s, n);
		}
		s += raw + (nl ? 1 : 0);
	}
}

/* same: whether two runs gave the same output and the same drops. */
static bool same(const struct record *a, const struct record *b)
{
	return a->errors == b->errors && a->out.len == b->out.len &&
	       (a->out.len == 0 || memcmp(a->out.data, b->out.data, a->out.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_support_chunker c;
	const char *stream;
	size_t len;
	fuzz_support_chunker_init(&c, data, size, &stream, &len);
	/* A small cap now and then, so that over-long lines are dropped in every chunking. */
	size_t max_line = size > 0 && (data[0] & 0x80) ? 16 : NDJSON_MAX_LINE;

	struct record chunked = {0}, whole = {0}, plain = {0};
	buf_init(&chunked.out);
	buf_init(&whole.out);
	buf_init(&plain.out);
	split(&chunked, max_line, &c, stream, len);
	split(&whole, max_line, NULL, stream, len);
	expected(&plain, max_line, stream, len);
	if (!same(&chunked, &whole)) {
		abort(); /* the pieces changed what came out */
	}
	if (!same(&plain, &whole)) {
		abort(); /* not the lines a plain split gives */
	}
	buf_finish(&chunked.out);
	buf_finish(&whole.out);
	buf_finish(&plain.out);
	return 0;
}
