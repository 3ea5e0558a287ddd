/* json_util.c: see json_util.h. */
#include "json_util.h"

#include <math.h>
#include <stdarg.h>
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
#define ARENA_CHUNK ((size_t)4 << 20)

static void *arena_malloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct arena_chunk *c = arena_head;
	if (!c || c->size - c->used < n) {
		size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
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
	while (arena_head) {
		struct arena_chunk *next = arena_head->next;
		free(arena_head);
		arena_head = next;
	}
}
