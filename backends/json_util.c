/* json_util.c: see json_util.h. */
#include "json_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *json_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

bool json_num(const json_t *obj, const char *key, double *out)
{
	json_t *v = json_object_get(obj, key);
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return isfinite(*out);
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		double d = strtod(s, &end);
		if (end != s && *end == '\0' && isfinite(d)) {
			*out = d;
			return true;
		}
	}
	return false;
}

bool json_int(const json_t *obj, const char *key, int64_t *out)
{
	double d;
	if (!json_num(obj, key, &d) || d > 9.2e18 || d < -9.2e18) {
		return false;
	}
	*out = (int64_t)d;
	return true;
}

json_t *json_path(const json_t *obj, ...)
{
	va_list ap;
	va_start(ap, obj);
	const json_t *cur = obj;
	const char *key;
	while (cur && (key = va_arg(ap, const char *)) != NULL) {
		cur = json_object_get(cur, key);
	}
	va_end(ap);
	return (json_t *)cur;
}

json_t *json_load_body(const char *body, size_t len, char *errbuf, size_t errbuf_size)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
	if (!root && errbuf) {
		snprintf(errbuf, errbuf_size, "%s at byte %d", jerr.text, jerr.position);
	}
	return root;
}

/* The arena: a list of chunks, bump-allocated, 16-byte aligned. */
struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

static struct arena_chunk *arena_head;
/* Chunks start small and double up to the cap: a page of 17 pods needs a few KiB, a page of
 * 500 a few MiB; a fixed 4 MiB chunk per parse was mmap'd (and, under ASan, poisoned) for
 * every small answer. */
#define ARENA_FIRST_CHUNK ((size_t)64 << 10)
#define ARENA_MAX_CHUNK ((size_t)4 << 20)
static size_t arena_next_chunk = ARENA_FIRST_CHUNK;

static void *arena_malloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct arena_chunk *c = arena_head;
	if (!c || c->size - c->used < n) {
		size_t size = n > arena_next_chunk ? n : arena_next_chunk;
		if (arena_next_chunk < ARENA_MAX_CHUNK) {
			arena_next_chunk *= 2;
		}
		c = xmalloc(sizeof(*c) + size);
		c->size = size;
		c->used = 0;
		c->next = arena_head;
		arena_head = c;
	}
	void *p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

static void arena_free(void *p)
{
	(void)p; /* released with the whole arena */
}

void json_arena_begin(void)
{
	json_set_alloc_funcs(arena_malloc, arena_free);
}

void json_arena_end(void)
{
	json_set_alloc_funcs(malloc, free);
	arena_next_chunk = ARENA_FIRST_CHUNK;
	while (arena_head) {
		struct arena_chunk *next = arena_head->next;
		free(arena_head);
		arena_head = next;
	}
}

/* Index just past the JSON string starting at buf[i] == '"', or len when unterminated. */
static size_t skip_string(const char *buf, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (buf[i] == '\\') {
			i++;
		} else if (buf[i] == '"') {
			return i + 1;
		}
	}
	return len;
}

static size_t skip_space(const char *buf, size_t len, size_t i)
{
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r')) {
		i++;
	}
	return i;
}

/* Index just past the JSON value starting at buf[i]. */
static size_t skip_value(const char *buf, size_t len, size_t i)
{
	if (i >= len) {
		return len;
	}
	if (buf[i] == '"') {
		return skip_string(buf, len, i);
	}
	if (buf[i] == '{' || buf[i] == '[') {
		int depth = 0;
		while (i < len) {
			char c = buf[i];
			if (c == '"') {
				i = skip_string(buf, len, i);
				continue;
			}
			if (c == '{' || c == '[') {
				depth++;
			} else if (c == '}' || c == ']') {
				depth--;
				if (depth == 0) {
					return i + 1;
				}
			}
			i++;
		}
		return len;
	}
	/* number, true, false, null */
	while (i < len && buf[i] != ',' && buf[i] != '}' && buf[i] != ']' && buf[i] != ' ' &&
	       buf[i] != '\n' && buf[i] != '\r' && buf[i] != '\t') {
		i++;
	}
	return i;
}

size_t json_strip_key(char *buf, size_t len, const char *key)
{
	size_t klen = strlen(key);
	size_t in = 0, out = 0;
	/* Whether the last significant byte written opens an object/array or is a comma: then a
	 * removed member takes the comma after it; otherwise it takes the comma before it. */
	while (in < len) {
		char c = buf[in];
		if (c != '"') {
			buf[out++] = c;
			in++;
			continue;
		}
		size_t end = skip_string(buf, len, in);
		size_t colon = skip_space(buf, len, end);
		bool is_key = colon < len && buf[colon] == ':';
		if (!is_key || end - in != klen + 2 || memcmp(buf + in + 1, key, klen) != 0) {
			memmove(buf + out, buf + in, end - in);
			out += end - in;
			in = end;
			continue;
		}
		size_t vstart = skip_space(buf, len, colon + 1);
		size_t vend = skip_space(buf, len, skip_value(buf, len, vstart));
		/* Find the last significant byte already written. */
		size_t back = out;
		while (back > 0 && (buf[back - 1] == ' ' || buf[back - 1] == '\n' ||
		                    buf[back - 1] == '\r' || buf[back - 1] == '\t')) {
			back--;
		}
		if (vend < len && buf[vend] == ',') {
			vend++; /* "k":v, → drop the comma after */
		} else if (back > 0 && buf[back - 1] == ',') {
			back--; /* ,"k":v} → drop the comma before */
		}
		out = back;
		in = vend;
	}
	return out;
}
