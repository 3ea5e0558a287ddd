/* sse.c: see sse.h. Bytes go into the current line until a line end; each complete line is
 * interpreted as an SSE field at once, so only the unfinished line and the event being built are
 * ever held, both under max_event bytes. */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

/* A buffer grown past this by a large event is given back once that event is done. */
#define KEEP_CAP ((size_t)64 << 10)

static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

static void buf_clear(struct buf *b)
{
	if (b->cap > KEEP_CAP) {
		buf_finish(b);
	} else {
		b->len = 0;
		if (b->data) {
			b->data[0] = '\0';
		}
	}
}

static void clear_event(struct sse *s)
{
	buf_clear(&s->data);
	buf_clear(&s->type);
	buf_clear(&s->other);
	s->has_data = false;
	s->retry_ms = -1;
	s->event_bytes = 0;
}

void sse_init(struct sse *s, size_t max_event, sse_event_fn on_event, sse_error_fn on_error,
              void *ud)
{
	memset(s, 0, sizeof(*s));
	buf_init(&s->line);
	buf_init(&s->data);
	buf_init(&s->type);
	buf_init(&s->id);
	buf_init(&s->other);
	s->retry_ms = -1;
	s->max_event = max_event ? max_event : SSE_MAX_EVENT;
	s->on_event = on_event;
	s->on_error = on_error;
	s->ud = ud;
}

void sse_reset(struct sse *s)
{
	buf_clear(&s->line);
	buf_clear(&s->id);
	clear_event(s);
	s->dropping = false;
	s->skipped = 0;
	s->after_cr = false;
	s->started = false;
	s->bom_seen = 0;
}

void sse_destroy(struct sse *s)
{
	if (!s) {
		return;
	}
	buf_finish(&s->line);
	buf_finish(&s->data);
	buf_finish(&s->type);
	buf_finish(&s->id);
	buf_finish(&s->other);
	s->dropping = false;
}

/* drop_event forgets the event being built and skips the rest of it. */
static void drop_event(struct sse *s)
{
	clear_event(s);
	buf_clear(&s->line);
	s->dropping = true;
	s->dropped++;
	if (s->on_error) {
		struct err e;
		err_set(&e, ERR_TOO_LARGE, 0, "an event larger than %zu bytes was dropped",
		        s->max_event);
		s->on_error(s->ud, &e);
	}
}

static const char *text_of(const struct buf *b)
{
	return b->data ? b->data : "";
}

/* dispatch delivers the event built so far (if it has anything to deliver) and starts a new
 * one. */
static bool dispatch(struct sse *s)
{
	if (!s->has_data && s->other.len == 0) {
		clear_event(s);
		return true;
	}
	struct sse_event ev = {
	        .type = text_of(&s->type),
	        .data = text_of(&s->data),
	        .data_len = s->data.len,
	        .has_data = s->has_data,
	        .id = text_of(&s->id),
	        .other = text_of(&s->other),
	        .other_len = s->other.len,
	        .retry_ms = s->retry_ms,
	};
	s->events++;
	bool go = s->on_event(s->ud, &ev);
	clear_event(s);
	if (!go) {
		sse_reset(s);
	}
	return go;
}

static bool field_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(name, want, n) == 0;
}

/* take_line interprets one complete line (without its line end). */
static bool take_line(struct sse *s, const char *line, size_t n)
{
	if (n == 0) {
		return dispatch(s);
	}
	if (line[0] == ':') {
		return true; /* a comment (keep-alive) */
	}
	const char *colon = memchr(line, ':', n);
	size_t name_len = colon ? (size_t)(colon - line) : n;
	const char *value = colon ? colon + 1 : line + n;
	size_t value_len = (size_t)(line + n - value);
	if (value_len > 0 && value[0] == ' ') {
		value++;
		value_len--;
	}
	if (field_is(line, name_len, "data")) {
		if (s->has_data) {
			buf_append(&s->data, "\n", 1);
		}
		buf_append(&s->data, value, value_len);
		s->has_data = true;
	} else if (field_is(line, name_len, "event")) {
		buf_clear(&s->type);
		buf_append(&s->type, value, value_len);
	} else if (field_is(line, name_len, "id")) {
		if (!memchr(value, '\0', value_len)) {
			buf_clear(&s->id);
			buf_append(&s->id, value, value_len);
		}
	} else if (field_is(line, name_len, "retry")) {
		long ms = 0;
		size_t i = 0;
		while (i < value_len && value[i] >= '0' && value[i] <= '9' && ms < 100000000L) {
			ms = ms * 10 + (value[i] - '0');
			i++;
		}
		if (i == value_len && value_len > 0) {
			s->retry_ms = ms;
		}
	} else {
		/* Not an SSE field: kept verbatim (Gemini's bare JSON error object). */
		if (s->other.len > 0) {
			buf_append(&s->other, "\n", 1);
		}
		buf_append(&s->other, line, n);
	}
	return true;
}

/* end_line handles a line end: the line held (or skipped) so far is complete. */
static bool end_line(struct sse *s)
{
	if (s->dropping) {
		bool blank = s->skipped == 0 && s->line.len == 0;
		s->skipped = 0;
		buf_clear(&s->line);
		if (blank) {
			s->dropping = false; /* the dropped event ended */
		}
		return true;
	}
	s->event_bytes += s->line.len; /* add_bytes kept this within max_event */
	bool go = take_line(s, text_of(&s->line), s->line.len);
	if (go) {
		buf_clear(&s->line);
	}
	return go;
}

/* add_bytes appends part of a line, within the cap. */
static void add_bytes(struct sse *s, const char *p, size_t n)
{
	if (n == 0) {
		return;
	}
	if (s->dropping) {
		s->skipped += n;
		return;
	}
	if (s->event_bytes + s->line.len + n > s->max_event) {
		drop_event(s);
		s->skipped = n;
		return;
	}
	buf_append(&s->line, p, n);
}

bool sse_feed(struct sse *s, const char *data, size_t len)
{
	/* A UTF-8 byte order mark at the very start of the stream is not part of it. */
	while (!s->started && len > 0) {
		if ((unsigned char)data[0] == utf8_bom[s->bom_seen]) {
			s->bom_seen++;
			data++;
			len--;
			if (s->bom_seen == sizeof(utf8_bom)) {
				s->started = true;
			}
		} else {
			s->started = true;
			add_bytes(s, (const char *)utf8_bom, s->bom_seen);
		}
	}
	while (len > 0) {
		if (s->after_cr) {
			s->after_cr = false;
			if (data[0] == '\n') {
				data++;
				len--;
				continue;
			}
		}
		size_t part = 0;
		while (part < len && data[part] != '\n' && data[part] != '\r') {
			part++;
		}
		add_bytes(s, data, part);
		if (part == len) {
			break;
		}
		s->after_cr = data[part] == '\r';
		data += part + 1;
		len -= part + 1;
		if (!end_line(s)) {
			return false;
		}
	}
	return true;
}

bool sse_finish(struct sse *s)
{
	bool go = true;
	if (!s->started && s->bom_seen > 0) {
		s->started = true;
		add_bytes(s, (const char *)utf8_bom, s->bom_seen);
	}
	if (s->line.len > 0 || s->skipped > 0) {
		go = end_line(s);
	}
	if (go && !s->dropping) {
		go = dispatch(s);
	}
	sse_reset(s);
	return go;
}
