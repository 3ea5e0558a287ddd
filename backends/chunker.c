/* chunker.c: see chunker.h. Lines become paragraphs, paragraphs become units no longer than a
 * chunk can take after its overlap, and units are packed into chunks per section. */
#include "chunker.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A piece of a section's text, and how it joins the piece before it. */
struct unit {
	char *text;
	size_t len, chars;
	const char *glue; /* "\n\n" between paragraphs, " " or "" inside a cut paragraph */
};

struct section {
	struct unit *units;
	size_t len, cap;
};

struct splitter {
	size_t max_chars, overlap, unit_max;
	const char *default_title;
	char *heads[6];
	struct section sec;
	struct buf para;
	struct chunker_list *out;
};

static bool is_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

size_t chunker_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (!is_cont((unsigned char)s[i])) {
			n++;
		}
	}
	return n;
}

/* Byte offset just past the first `chars` characters of s (len bytes), or len. */
static size_t offset_of_char(const char *s, size_t len, size_t chars)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (!is_cont((unsigned char)s[i])) {
			if (n == chars) {
				return i;
			}
			n++;
		}
	}
	return len;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **s, size_t *len)
{
	while (*len && is_space(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_space((*s)[*len - 1])) {
		(*len)--;
	}
}

/* --- sections and units --- */

static void add_unit(struct splitter *sp, const char *text, size_t len, const char *glue)
{
	struct section *sec = &sp->sec;
	if (sec->len == sec->cap) {
		sec->cap = sec->cap ? sec->cap * 2 : 16;
		sec->units = xrealloc(sec->units, sec->cap * sizeof(*sec->units));
	}
	struct unit *u = &sec->units[sec->len++];
	u->text = xstrndup(text, len);
	u->len = len;
	u->chars = chunker_chars(text, len);
	u->glue = glue;
}

/* Where to cut s (len bytes, more than limit characters) so the first part has at most limit
 * characters: at a newline, then a sentence end, then a space, within the last half of the
 * window; else exactly at the limit, which is a character boundary. */
static size_t cut_point(const char *s, size_t len, size_t limit, bool *soft)
{
	size_t end = offset_of_char(s, len, limit);
	size_t floor = offset_of_char(s, len, limit / 2);
	*soft = true;
	for (size_t i = end; i > floor; i--) {
		if (s[i - 1] == '\n') {
			return i;
		}
	}
	for (size_t i = end; i > floor + 1; i--) {
		char c = s[i - 2];
		if ((c == '.' || c == '!' || c == '?') && is_space(s[i - 1])) {
			return i;
		}
		/* U+3002 IDEOGRAPHIC FULL STOP ends a sentence with no space after it. */
		if (i >= floor + 3 && (unsigned char)s[i - 3] == 0xE3 &&
		    (unsigned char)s[i - 2] == 0x80 && (unsigned char)s[i - 1] == 0x82) {
			return i;
		}
	}
	for (size_t i = end; i > floor; i--) {
		if (is_space(s[i - 1])) {
			return i;
		}
	}
	*soft = false;
	return end;
}

/* A paragraph becomes one unit, or several when it is longer than a unit may be. */
static void add_paragraph(struct splitter *sp, const char *s, size_t len)
{
	trim(&s, &len);
	if (!len) {
		return;
	}
	const char *glue = "\n\n";
	while (chunker_chars(s, len) > sp->unit_max) {
		bool soft;
		size_t cut = cut_point(s, len, sp->unit_max, &soft);
		const char *piece = s;
		size_t plen = cut;
		trim(&piece, &plen);
		add_unit(sp, piece, plen, glue);
		glue = soft ? " " : "";
		s += cut;
		len -= cut;
		if (soft) {
			trim(&s, &len);
		}
	}
	if (len) {
		add_unit(sp, s, len, glue);
	}
}

static void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data) {
		b->data[0] = '\0';
	}
}

static void flush_paragraph(struct splitter *sp)
{
	add_paragraph(sp, sp->para.data, sp->para.len);
	buf_reset(&sp->para);
}

/* --- packing units into chunks --- */

static char *section_title(const struct splitter *sp)
{
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < 6; i++) {
		if (sp->heads[i] && *sp->heads[i]) {
			if (b.len) {
				buf_append(&b, " > ", 3);
			}
			buf_append(&b, sp->heads[i], strlen(sp->heads[i]));
		}
	}
	if (!b.len && sp->default_title) {
		buf_append(&b, sp->default_title, strlen(sp->default_title));
	}
	return buf_steal(&b);
}

static void emit(struct splitter *sp, const char *title, const struct buf *cur)
{
	const char *s = cur->data;
	size_t len = cur->len;
	trim(&s, &len);
	if (!len) {
		return;
	}
	struct chunker_list *out = sp->out;
	out->items = xrealloc(out->items, (out->len + 1) * sizeof(*out->items));
	out->items[out->len].title = xstrdup(title);
	out->items[out->len].text = xstrndup(s, len);
	out->len++;
}

/* The last ~overlap characters of cur, starting after a space when one is in reach. */
static void overlap_tail(const struct splitter *sp, const struct buf *cur, struct buf *tail)
{
	buf_reset(tail);
	if (!sp->overlap || !cur->len) {
		return;
	}
	size_t chars = chunker_chars(cur->data, cur->len);
	size_t start = 0;
	if (chars > sp->overlap) {
		start = offset_of_char(cur->data, cur->len, chars - sp->overlap);
		for (size_t i = start; i < cur->len; i++) {
			if (is_space(cur->data[i])) {
				start = i + 1;
				break;
			}
		}
	}
	const char *s = cur->data + start;
	size_t len = cur->len - start;
	trim(&s, &len);
	buf_append(tail, s, len);
}

static void flush_section(struct splitter *sp)
{
	flush_paragraph(sp);
	struct section *sec = &sp->sec;
	if (!sec->len) {
		return;
	}
	char *title = section_title(sp);
	struct buf cur, tail;
	buf_init(&cur);
	buf_init(&tail);
	size_t cur_chars = 0;
	bool fresh = false; /* cur holds more than the overlap it started with */
	for (size_t i = 0; i < sec->len; i++) {
		const struct unit *u = &sec->units[i];
		const char *glue = cur.len ? u->glue : "";
		if (cur.len && cur_chars + strlen(glue) + u->chars > sp->max_chars) {
			if (fresh) {
				emit(sp, title, &cur);
			}
			overlap_tail(sp, &cur, &tail);
			buf_reset(&cur);
			buf_append(&cur, tail.data, tail.len);
			cur_chars = chunker_chars(cur.data, cur.len);
			fresh = false;
			/* After an overlap, a paragraph still starts a paragraph; a cut piece goes
			 * on from where the overlap ends, as in the text. */
			glue = cur.len ? u->glue : "";
		}
		buf_append(&cur, glue, strlen(glue));
		buf_append(&cur, u->text, u->len);
		cur_chars += strlen(glue) + u->chars;
		fresh = true;
	}
	if (fresh) {
		emit(sp, title, &cur);
	}
	buf_finish(&cur);
	buf_finish(&tail);
	free(title);
	for (size_t i = 0; i < sec->len; i++) {
		free(sec->units[i].text);
	}
	sec->len = 0;
}

/* --- lines --- */

/* An ATX heading: up to three spaces, 1-6 '#', then a space or the end of the line. */
static bool parse_heading(const char *s, size_t len, int *level, const char **title, size_t *tlen)
{
	size_t i = 0;
	while (i < len && i < 3 && s[i] == ' ') {
		i++;
	}
	size_t hashes = 0;
	while (i + hashes < len && s[i + hashes] == '#') {
		hashes++;
	}
	if (hashes < 1 || hashes > 6) {
		return false;
	}
	i += hashes;
	if (i < len && s[i] != ' ' && s[i] != '\t') {
		return false;
	}
	const char *t = s + i;
	size_t n = len - i;
	trim(&t, &n);
	/* A closing sequence of '#' preceded by a space is not part of the title. */
	size_t j = n;
	while (j && t[j - 1] == '#') {
		j--;
	}
	if (j < n && (j == 0 || t[j - 1] == ' ' || t[j - 1] == '\t')) {
		n = j;
		trim(&t, &n);
	}
	*level = (int)hashes;
	*title = t;
	*tlen = n;
	return true;
}

/* A fence: up to three spaces, then at least three '`' or '~'. */
static bool is_fence(const char *s, size_t len, char *ch, size_t *count)
{
	size_t i = 0;
	while (i < len && i < 3 && s[i] == ' ') {
		i++;
	}
	if (i >= len || (s[i] != '`' && s[i] != '~')) {
		return false;
	}
	size_t n = 0;
	while (i + n < len && s[i + n] == s[i]) {
		n++;
	}
	if (n < 3) {
		return false;
	}
	*ch = s[i];
	*count = n;
	return true;
}

static bool is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!is_space(s[i])) {
			return false;
		}
	}
	return true;
}

void chunker_split(const char *text, size_t len, const char *default_title,
                   const struct chunker_opts *opts, struct chunker_list *out)
{
	struct splitter sp = {.out = out, .default_title = default_title};
	sp.max_chars = opts && opts->max_chars ? opts->max_chars : CHUNKER_MAX_CHARS;
	if (sp.max_chars < 16) {
		sp.max_chars = 16;
	}
	sp.overlap = opts ? opts->overlap : CHUNKER_OVERLAP;
	if (sp.overlap > sp.max_chars / 4) {
		sp.overlap = sp.max_chars / 4;
	}
	/* A unit always fits after an overlap and a paragraph break. */
	sp.unit_max = sp.max_chars - sp.overlap - 2;
	buf_init(&sp.para);

	bool in_fence = false;
	char fence_ch = 0;
	size_t fence_n = 0;
	size_t pos = 0;
	while (text && pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *line = text + pos;
		size_t llen = end - pos;
		pos = nl ? end + 1 : len;
		if (llen && line[llen - 1] == '\r') {
			llen--;
		}
		char ch;
		size_t n;
		int level;
		const char *title;
		size_t tlen;
		if (in_fence) {
			if (is_fence(line, llen, &ch, &n) && ch == fence_ch && n >= fence_n) {
				in_fence = false;
			}
		} else if (is_fence(line, llen, &ch, &n)) {
			in_fence = true;
			fence_ch = ch;
			fence_n = n;
		} else if (parse_heading(line, llen, &level, &title, &tlen)) {
			flush_section(&sp);
			free(sp.heads[level - 1]);
			sp.heads[level - 1] = xstrndup(title, tlen);
			for (int i = level; i < 6; i++) {
				free(sp.heads[i]);
				sp.heads[i] = NULL;
			}
			continue;
		} else if (is_blank(line, llen)) {
			flush_paragraph(&sp);
			continue;
		}
		buf_append(&sp.para, line, llen);
		buf_append(&sp.para, "\n", 1);
	}
	flush_section(&sp);
	for (int i = 0; i < 6; i++) {
		free(sp.heads[i]);
	}
	free(sp.sec.units);
	buf_finish(&sp.para);
}

/* Length of the well-formed UTF-8 character at s (at most len bytes), 0 when there is none. */
static size_t utf8_char_len(const unsigned char *s, size_t len)
{
	unsigned c = s[0];
	size_t n;
	unsigned min, cp;
	if (c >= 0x01 && c < 0x80) {
		return 1;
	} else if ((c & 0xE0) == 0xC0) {
		n = 2, min = 0x80, cp = c & 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		n = 3, min = 0x800, cp = c & 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		n = 4, min = 0x10000, cp = c & 0x07;
	} else {
		return 0;
	}
	if (n > len) {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if (!is_cont(s[i])) {
			return 0;
		}
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
		return 0;
	}
	return n;
}

char *chunker_fix_utf8(const char *s, size_t len)
{
	struct buf b;
	buf_init(&b);
	buf_append(&b, "", 0);
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_char_len((const unsigned char *)s + i, len - i);
		if (n) {
			buf_append(&b, s + i, n);
			i += n;
		} else {
			buf_append(&b, "\xEF\xBF\xBD", 3);
			i++;
		}
	}
	return buf_steal(&b);
}

void chunker_list_finish(struct chunker_list *l)
{
	if (!l) {
		return;
	}
	for (size_t i = 0; i < l->len; i++) {
		free(l->items[i].title);
		free(l->items[i].text);
	}
	free(l->items);
	l->items = NULL;
	l->len = 0;
}
