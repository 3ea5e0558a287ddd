/* sse.h: an incremental Server-Sent-Events splitter (the WHATWG EventSource rules), for the
 * streamed answers of Gemini (alt=sse) and OpenAI-compatible servers. Feed it the body as it
 * arrives, in pieces of any size; it calls back once per complete event.
 *
 * Lines end at "\r\n", "\n" or "\r" (a "\r\n" split between two pieces is one line end); an
 * event ends at a blank line, and a last event without one is delivered when the stream ends.
 * "data:" lines are joined with "\n"; one space after the colon is dropped ("data:x" and
 * "data: x" are the same); "event:", "id:" and "retry:" are kept; lines starting with ':' are
 * comments. A line that is no SSE field at all (a bare JSON error object that Gemini sends after
 * its events) is kept verbatim in the event's `other` text, so the caller can still read it. A
 * UTF-8 character split between two pieces comes out whole, since only line ends split. Memory
 * is bounded: an event larger than max_event bytes is dropped (reported through on_error) and
 * the splitter resumes at the next event. */
#ifndef LABDECK_SSE_H
#define LABDECK_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "util.h"

/* The default cap on one event: 4 MiB. */
#define SSE_MAX_EVENT ((size_t)4 << 20)

/* One event. Every string is NUL-terminated and valid only during the callback. */
struct sse_event {
	const char *type; /* the "event:" field, "" when none was given */
	const char *data; /* the "data:" lines joined with "\n" ("" when none) */
	size_t data_len;
	bool has_data;     /* at least one "data:" line (data may still be "") */
	const char *id;    /* the last "id:" seen in the stream so far, "" when none */
	const char *other; /* lines that are no SSE field, joined with "\n" ("" when none) */
	size_t other_len;
	long retry_ms; /* the "retry:" field of this event, -1 when absent */
};

/* Called with each complete event that has data or other text (an event of only comments, or
 * only "id:"/"event:" fields, is not delivered, as EventSource does). Return false to stop: the
 * rest of the piece being fed is dropped. The splitter must not be fed, reset or finished from
 * inside the callback. */
typedef bool (*sse_event_fn)(void *ud, const struct sse_event *ev);
/* Called when an event is dropped for being larger than max_event (ERR_TOO_LARGE). */
typedef void (*sse_error_fn)(void *ud, const struct err *err);

struct sse {
	struct buf line; /* the line not yet complete */
	struct buf data; /* the event being built */
	struct buf type;
	struct buf id; /* persists from event to event */
	struct buf other;
	bool has_data;
	long retry_ms;
	size_t event_bytes; /* size of the event being built, for the cap */
	size_t max_event;
	bool dropping;   /* inside an over-large event: skip to the next blank line */
	size_t skipped;  /* bytes of the current line skipped while dropping */
	bool after_cr;   /* the last byte fed was '\r': a '\n' right after it is not a new line */
	bool started;    /* past the first bytes (where a UTF-8 BOM is dropped) */
	size_t bom_seen; /* bytes of a leading BOM matched so far */
	size_t events;   /* events delivered, in total */
	size_t dropped;  /* events dropped for size, in total */
	sse_event_fn on_event;
	sse_error_fn on_error; /* may be NULL */
	void *ud;
};

/* sse_init prepares s; max_event 0 means SSE_MAX_EVENT. */
void sse_init(struct sse *s, size_t max_event, sse_event_fn on_event, sse_error_fn on_error,
              void *ud);
/* sse_feed splits len bytes of data; returns false when on_event asked to stop (the splitter is
 * then reset, ready for a new stream). */
bool sse_feed(struct sse *s, const char *data, size_t len);
/* sse_finish ends the stream: a last line without its line end completes, and an event without
 * its blank line is delivered; then the splitter is reset. Returns false when on_event asked to
 * stop. */
bool sse_finish(struct sse *s);
/* sse_reset forgets a partial event and the last id (for a new stream); counters are kept. */
void sse_reset(struct sse *s);
/* sse_destroy releases the buffers (s itself is the caller's). NULL-safe. */
void sse_destroy(struct sse *s);

#endif
