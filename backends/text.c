/* text.c: see text.h. One strict UTF-8 decoder and one mapping from code point to what may reach
 * the terminal; text_sanitize, text_width and text_fit all go through both, so a width measured
 * here is the width of what gets drawn. */
#include "text.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "util.h"

#define TEXT_REPLACEMENT 0xFFFDu
#define TEXT_ELLIPSIS "\xe2\x80\xa6" /* U+2026, one column */

/* Decodes one code point at *pp (never called at the terminating NUL) and advances *pp. Strict
 * RFC 3629: overlong forms, surrogates and values above U+10FFFF are invalid; an invalid or
 * truncated sequence consumes exactly one byte and yields U+FFFD. A NUL ends a truncated sequence
 * without being read past. */
static uint32_t text_decode(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	unsigned c = p[0];
	if (c < 0x80) {
		*pp = p + 1;
		return c;
	}
	int extra;
	uint32_t cp;
	unsigned lo = 0x80, hi = 0xBF; /* allowed range of the first continuation byte */
	if (c >= 0xC2 && c <= 0xDF) {
		extra = 1;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		extra = 2;
		cp = c & 0x0F;
		if (c == 0xE0) {
			lo = 0xA0; /* overlong below U+0800 */
		} else if (c == 0xED) {
			hi = 0x9F; /* surrogates U+D800..U+DFFF */
		}
	} else if (c >= 0xF0 && c <= 0xF4) {
		extra = 3;
		cp = c & 0x07;
		if (c == 0xF0) {
			lo = 0x90; /* overlong below U+10000 */
		} else if (c == 0xF4) {
			hi = 0x8F; /* above U+10FFFF */
		}
	} else {
		*pp = p + 1;
		return TEXT_REPLACEMENT;
	}
	for (int i = 1; i <= extra; i++) {
		unsigned b = p[i];
		if (b < lo || b > hi) {
			*pp = p + 1;
			return TEXT_REPLACEMENT;
		}
		lo = 0x80;
		hi = 0xBF;
		cp = (cp << 6) | (b & 0x3F);
	}
	*pp = p + extra + 1;
	return cp;
}

/* Bidirectional formatting characters: they can make text read differently from its bytes. */
static bool text_is_bidi(uint32_t cp)
{
	return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E ||
	       cp == 0x200F || cp == 0x061C;
}

/* What a code point becomes on screen: itself, a space for a tab, or '?' for anything that
 * would steer the terminal (C0, DEL, C1, bidi controls, line/paragraph separators). */
static uint32_t text_map(uint32_t cp, bool keep_newlines)
{
	if (cp == '\t') {
		return ' ';
	}
	if (cp == '\n') {
		return keep_newlines ? '\n' : '?';
	}
	if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
		return '?';
	}
	if (text_is_bidi(cp) || cp == 0x2028 || cp == 0x2029) {
		return '?';
	}
	return cp;
}

/* Columns of one mapped code point; what wcwidth cannot classify counts as one column. */
static int text_cp_width(uint32_t cp)
{
	int w = wcwidth((wchar_t)cp);
	return w < 0 ? 1 : w;
}

static void text_append_cp(struct buf *b, uint32_t cp)
{
	unsigned char out[4];
	size_t n;
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		out[0] = (unsigned char)(0xF0 | (cp >> 18));
		out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		out[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	buf_append(b, out, n);
}

static void text_append_spaces(struct buf *b, int n)
{
	for (int i = 0; i < n; i++) {
		buf_append(b, " ", 1);
	}
}

char *text_sanitize(const char *s, bool keep_newlines)
{
	struct buf b;
	buf_init(&b);
	if (s) {
		const unsigned char *p = (const unsigned char *)s;
		while (*p) {
			text_append_cp(&b, text_map(text_decode(&p), keep_newlines));
		}
	}
	return buf_steal(&b);
}

char *text_sanitize_file(const char *s)
{
	struct buf b;
	buf_init(&b);
	if (s) {
		const unsigned char *p = (const unsigned char *)s;
		while (*p) {
			uint32_t cp = text_decode(&p);
			text_append_cp(&b, cp == '\t' ? cp : text_map(cp, true));
		}
	}
	return buf_steal(&b);
}

char *text_json_safe(const char *json)
{
	struct buf b;
	buf_init(&b);
	if (json) {
		const unsigned char *p = (const unsigned char *)json;
		while (*p) {
			const unsigned char *start = p;
			uint32_t cp = text_decode(&p);
			if (cp >= 0x20 && text_map(cp, true) != cp) {
				char esc[8];
				snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
				buf_append(&b, esc, 6);
			} else if (cp == TEXT_REPLACEMENT) {
				text_append_cp(&b, cp);
			} else {
				buf_append(&b, start, (size_t)(p - start));
			}
		}
	}
	return buf_steal(&b);
}

void text_json_fputs(const char *json, FILE *out)
{
	if (!json) {
		return;
	}
	char *safe = text_json_safe(json);
	fputs(safe, out);
	free(safe);
}

int text_width(const char *s)
{
	if (!s) {
		return 0;
	}
	int total = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int w = text_cp_width(text_map(text_decode(&p), false));
		total = total > INT_MAX - w ? INT_MAX : total + w;
	}
	return total;
}

char *text_fit(const char *s, int cols, bool align_right)
{
	if (cols <= 0) {
		return xstrdup("");
	}
	if (!s) {
		s = "";
	}
	struct buf b;
	buf_init(&b);
	int total = text_width(s);
	if (total <= cols) {
		if (align_right) {
			text_append_spaces(&b, cols - total);
		}
		const unsigned char *p = (const unsigned char *)s;
		while (*p) {
			text_append_cp(&b, text_map(text_decode(&p), false));
		}
		if (!align_right) {
			text_append_spaces(&b, cols - total);
		}
		return buf_steal(&b);
	}
	/* Too wide: keep whole characters (a base with its zero-width marks) up to cols-1 columns,
	 * pad where a wide character would straddle the edge, end with the ellipsis. */
	int limit = cols - 1, used = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t cp = text_map(text_decode(&p), false);
		int w = text_cp_width(cp);
		if (w > 0 && used + w > limit) {
			break;
		}
		text_append_cp(&b, cp);
		used += w;
	}
	text_append_spaces(&b, limit - used);
	buf_append(&b, TEXT_ELLIPSIS, strlen(TEXT_ELLIPSIS));
	return buf_steal(&b);
}

char *text_fit_middle(const char *s, int cols)
{
	if (!s || cols <= 0) {
		return xstrdup("");
	}
	char *safe = text_sanitize(s, false);
	if (text_width(safe) <= cols || cols < 5) {
		char *out = text_fit(safe, cols, false);
		free(safe);
		return out;
	}
	/* Split into characters with their widths, then keep a head and a tail around "…". */
	size_t len = strlen(safe);
	size_t *off = xcalloc(len + 1, sizeof(size_t));
	int *w = xcalloc(len + 1, sizeof(int));
	size_t n = 0;
	/* The same decoder and widths as text_width (not mbrtowc, which follows the locale: under
	 * LANG=C it took each byte of "é" for a column and the result came out short). */
	const unsigned char *p = (const unsigned char *)safe;
	while (*p) {
		off[n] = (size_t)(p - (const unsigned char *)safe);
		w[n] = text_cp_width(text_decode(&p));
		n++;
	}
	off[n] = len;
	int budget = cols - 1; /* the ellipsis */
	int tail_budget = budget / 2, head_budget = budget - tail_budget;
	size_t head = 0;
	int used = 0;
	while (head < n && used + w[head] <= head_budget) {
		used += w[head++];
	}
	size_t tail = n;
	int tail_used = 0;
	while (tail > head && tail_used + w[tail - 1] <= budget - used) {
		tail_used += w[--tail];
	}
	/* A combining mark (width 0) belongs to the character before it: keep them together. */
	while (tail < n && w[tail] == 0) {
		tail++;
	}
	struct buf b;
	buf_init(&b);
	buf_append(&b, safe, off[head]);
	buf_append(&b, "…", strlen("…"));
	buf_append(&b, safe + off[tail], len - off[tail]);
	int total = used + 1 + tail_used;
	for (; total < cols; total++) {
		buf_append(&b, " ", 1);
	}
	free(off);
	free(w);
	free(safe);
	return buf_steal(&b);
}
