/* ndjson.h: an incremental line splitter for streams (Kubernetes watch NDJSON, pod logs, and any
 * other newline-delimited stream). Feed it the body as it arrives, in pieces of any size; it calls
 * back once per complete line. Lines end at '\n' ("\r\n" loses its '\r'); a multibyte UTF-8
 * character split between two pieces comes out whole, since only '\n' splits. Memory is bounded:
 * a line longer than max_line bytes is dropped (reported through on_error) and the splitter
 * resumes at the next line. */
#ifndef LABDECK_NDJSON_H
#define LABDECK_NDJSON_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "util.h"

/* The default cap on one line: 4 MiB (a Pod object is a few KiB, a log line rarely more). */
#define NDJSON_MAX_LINE ((size_t)4 << 20)

/* Called with each complete line, without its line end, NOT NUL-terminated (len may be 0 for an
 * empty line). Return false to stop: the rest of the piece being fed is dropped. The splitter
 * must not be fed, reset or finished from inside the callback. */
typedef bool (*ndjson_line_fn)(void *ud, const char *line, size_t len);
/* Called when a line is dropped for being longer than max_line (ERR_TOO_LARGE). */
typedef void (*ndjson_error_fn)(void *ud, const struct err *err);

struct ndjson {
	struct buf pending; /* the start of the line not yet complete */
	size_t max_line;
	bool dropping;  /* inside an over-long line: skip to the next '\n' */
	size_t dropped; /* lines dropped for length, in total */
	size_t lines;   /* lines delivered, in total */
	ndjson_line_fn on_line;
	ndjson_error_fn on_error; /* may be NULL */
	void *ud;
};

/* ndjson_init prepares s; max_line 0 means NDJSON_MAX_LINE. */
void ndjson_init(struct ndjson *s, size_t max_line, ndjson_line_fn on_line,
                 ndjson_error_fn on_error, void *ud);
/* ndjson_feed splits len bytes of data; returns false when on_line asked to stop (the splitter is
 * then reset, ready for a new stream). */
bool ndjson_feed(struct ndjson *s, const char *data, size_t len);
/* ndjson_finish ends the stream: a last line without '\n' is delivered, then the splitter is
 * reset. Returns false when on_line asked to stop. */
bool ndjson_finish(struct ndjson *s);
/* ndjson_reset forgets a partial line (for a new stream); counters are kept. */
void ndjson_reset(struct ndjson *s);
/* ndjson_destroy releases the buffer (s itself is the caller's). NULL-safe. */
void ndjson_destroy(struct ndjson *s);

#endif
