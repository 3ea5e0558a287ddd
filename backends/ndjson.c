/* ndjson.c: see ndjson.h. A line that lies whole inside one piece is handed over in place; only
 * the unfinished tail of a piece is copied, and never more than max_line bytes of it. */
#include "ndjson.h"

#include <string.h>

/* A buffer grown past this by a long line is given back once that line is done. */
#define KEEP_CAP ((size_t)64 << 10)

void ndjson_init(struct ndjson *s, size_t max_line, ndjson_line_fn on_line,
                 ndjson_error_fn on_error, void *ud)
{
	memset(s, 0, sizeof(*s));
	buf_init(&s->pending);
	s->max_line = max_line ? max_line : NDJSON_MAX_LINE;
	s->on_line = on_line;
	s->on_error = on_error;
	s->ud = ud;
}

static void clear_pending(struct ndjson *s)
{
	if (s->pending.cap > KEEP_CAP) {
		buf_finish(&s->pending);
		buf_init(&s->pending);
	} else {
		s->pending.len = 0;
		if (s->pending.data) {
			s->pending.data[0] = '\0';
		}
	}
}

void ndjson_reset(struct ndjson *s)
{
	clear_pending(s);
	s->dropping = false;
}

void ndjson_destroy(struct ndjson *s)
{
	if (s) {
		buf_finish(&s->pending);
		s->dropping = false;
	}
}

static void drop_line(struct ndjson *s)
{
	s->dropped++;
	s->dropping = true;
	clear_pending(s);
	if (s->on_error) {
		struct err e;
		err_set(&e, ERR_TOO_LARGE, 0, "a line longer than %zu bytes was dropped",
		        s->max_line);
		s->on_error(s->ud, &e);
	}
}

static bool deliver(struct ndjson *s, const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\r') {
		len--;
	}
	s->lines++;
	if (!s->on_line(s->ud, line, len)) {
		ndjson_reset(s);
		return false;
	}
	return true;
}

bool ndjson_feed(struct ndjson *s, const char *data, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t part = nl ? (size_t)(nl - data) : len;
		if (s->dropping) {
			/* The rest of an over-long line: skip it. */
		} else if (s->pending.len + part > s->max_line) {
			drop_line(s);
		} else if (nl && s->pending.len == 0) {
			if (!deliver(s, data, part)) {
				return false;
			}
		} else {
			buf_append(&s->pending, data, part);
			if (nl) {
				bool go = deliver(s, s->pending.data, s->pending.len);
				clear_pending(s);
				if (!go) {
					return false;
				}
			}
		}
		if (!nl) {
			break;
		}
		s->dropping = false;
		data = nl + 1;
		len -= part + 1;
	}
	return true;
}

bool ndjson_finish(struct ndjson *s)
{
	bool go = true;
	if (!s->dropping && s->pending.len > 0) {
		go = deliver(s, s->pending.data, s->pending.len);
	}
	ndjson_reset(s);
	return go;
}
