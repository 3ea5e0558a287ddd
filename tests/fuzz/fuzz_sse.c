/* fuzz_sse.c: the Server-Sent-Events splitter fed the stream in random pieces (the first byte
 * chooses them, see fuzz_support.h). The events delivered (type, data, id, other text, retry) and
 * the events dropped for size must be the same as when the stream comes in one piece. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "sse.h"
#include "util.h"

struct record {
	struct buf out; /* each event's fields, with their lengths */
	size_t errors;
};

static void field(struct buf *b, const char *s)
{
	buf_appendf(b, "%zu:%s;", strlen(s), s);
}

static bool on_event(void *ud, const struct sse_event *ev)
{
	struct record *r = ud;
	if (!ev->has_data && ev->other_len == 0) {
		abort(); /* an event with neither data nor other text is not delivered */
	}
	field(&r->out, ev->type);
	/* data may hold a NUL from the stream: compare its bytes, not as a C string */
	buf_appendf(&r->out, "%zu:", ev->data_len);
	buf_append(&r->out, ev->data, ev->data_len);
	if (ev->data[ev->data_len] != '\0' || ev->other[ev->other_len] != '\0') {
		abort(); /* NUL-terminated at their lengths, as sse.h says */
	}
	field(&r->out, ev->id);
	buf_appendf(&r->out, "%zu:", ev->other_len);
	buf_append(&r->out, ev->other, ev->other_len);
	buf_appendf(&r->out, "%d;%ld\n", ev->has_data, ev->retry_ms);
	return true;
}

static void on_error(void *ud, const struct err *err)
{
	struct record *r = ud;
	r->errors++;
	(void)err;
}

/* split runs the stream through a splitter capped at max_event, in the chunker's pieces when c
 * is not NULL, else in one piece. */
static void split(struct record *r, size_t max_event, struct fuzz_support_chunker *c,
                  const char *stream, size_t len)
{
	struct sse s;
	sse_init(&s, max_event, on_event, on_error, r);
	if (c) {
		const char *piece;
		size_t n;
		while (fuzz_support_chunker_next(c, &piece, &n)) {
			sse_feed(&s, piece, n);
		}
	} else {
		sse_feed(&s, stream, len);
	}
	sse_finish(&s);
	sse_destroy(&s);
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
	/* A small cap now and then, so that large events are dropped in every chunking. */
	size_t max_event = size > 0 && (data[0] & 0x80) ? 32 : SSE_MAX_EVENT;

	struct record chunked = {0}, whole = {0};
	buf_init(&chunked.out);
	buf_init(&whole.out);
	split(&chunked, max_event, &c, stream, len);
	split(&whole, max_event, NULL, stream, len);
	if (!same(&chunked, &whole)) {
		abort(); /* the pieces changed what came out */
	}
	buf_finish(&chunked.out);
	buf_finish(&whole.out);
	return 0;
}
