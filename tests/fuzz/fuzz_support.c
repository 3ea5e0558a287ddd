/* fuzz_support.c: see fuzz_support.h. */
#include "fuzz_support.h"

#include <string.h>

#include "util.h"

char *fuzz_support_cstr(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);
	if (size > 0) {
		memcpy(s, data, size);
	}
	s[size] = '\0';
	return s;
}

void fuzz_support_chunker_init(struct fuzz_support_chunker *c, const uint8_t *data, size_t size,
                               const char **stream, size_t *stream_len)
{
	static const size_t maxes[4] = {1, 4, 64, 4096};
	uint8_t choice = size > 0 ? data[0] : 0;
	c->data = size > 0 ? (const char *)data + 1 : "";
	c->size = size > 0 ? size - 1 : 0;
	c->pos = 0;
	c->state = 0x9e3779b9u ^ (uint32_t)(choice >> 2);
	c->max = maxes[choice & 3];
	*stream = c->data;
	*stream_len = c->size;
}

bool fuzz_support_chunker_next(struct fuzz_support_chunker *c, const char **piece, size_t *len)
{
	if (c->pos >= c->size) {
		return false;
	}
	/* xorshift32: cheap, and the same sizes for the same first byte. */
	c->state ^= c->state << 13;
	c->state ^= c->state >> 17;
	c->state ^= c->state << 5;
	size_t n = 1 + c->state % c->max;
	if (n > c->size - c->pos) {
		n = c->size - c->pos;
	}
	*piece = c->data + c->pos;
	*len = n;
	c->pos += n;
	return true;
}
