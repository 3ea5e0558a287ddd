/* chat_text.c: the chat's text as screen lines (see chat_text.h). */
#include "chat_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "palette.h"
#include "text.h"
#include "util.h"

void chat_text_add(struct chat_text_lines *ls, const char *s, size_t n, int indent,
                   enum theme_slot slot, bool bold)
{
	if (ls->len == ls->cap) {
		ls->cap = ls->cap ? ls->cap * 2 : 64;
		ls->items = xrealloc(ls->items, ls->cap * sizeof(*ls->items));
	}
	ls->items[ls->len++] = (struct chat_text_line){xstrndup(s, n), indent, slot, bold};
}

void chat_text_free(struct chat_text_lines *ls)
{
	for (size_t i = 0; i < ls->len; i++) {
		free(ls->items[i].text);
	}
	free(ls->items);
	ls->items = NULL;
	ls->len = ls->cap = 0;
}

size_t chat_text_char(const char *p, int *cols)
{
	mbstate_t st = {0};
	wchar_t wc;
	size_t n = mbrtowc(&wc, p, strlen(p) < 8 ? strlen(p) : 8, &st);
	if (n == 0 || n == (size_t)-1 || n == (size_t)-2) {
		*cols = 1;
		return 1;
	}
	int w = wcwidth(wc);
	*cols = w < 0 ? 1 : w;
	return n;
}

static int seg_width(const char *s, const char *end)
{
	int w = 0;
	while (s < end) {
		if (*s == CHAT_TEXT_BOLD) {
			s++;
			continue;
		}
		int cw;
		s += chat_text_char(s, &cw);
		w += cw;
	}
	return w;
}

static bool toggles(const char *s, const char *end, bool bold)
{
	for (; s < end; s++) {
		if (*s == CHAT_TEXT_BOLD) {
			bold = !bold;
		}
	}
	return bold;
}

void chat_text_wrap(struct chat_text_lines *ls, const char *s, int cols, int indent, int hang,
                    enum theme_slot slot, bool bold, bool words)
{
	const char *start = s, *p = s, *space = NULL;
	int w = 0, ind = indent;
	bool any = false;
	while (*p) {
		if (*p == CHAT_TEXT_BOLD) {
			p++;
			continue;
		}
		int cw;
		size_t n = chat_text_char(p, &cw);
		int room = cols - ind;
		if (room < 1) {
			room = 1;
		}
		if (w > 0 && w + cw > room) {
			const char *cut = p, *next = p;
			if (words && space && space > start) {
				cut = space;
				next = space + 1;
			}
			chat_text_add(ls, start, (size_t)(cut - start), ind, slot, bold);
			any = true;
			bold = toggles(start, next, bold);
			start = next;
			ind = hang;
			space = NULL;
			w = seg_width(start, p);
			continue;
		}
		if (*p == ' ') {
			space = p;
		}
		w += cw;
		p += n;
	}
	if (p > start || !any) {
		chat_text_add(ls, start, (size_t)(p - start), ind, slot, bold);
	}
}

/* "**" becomes CHAT_TEXT_BOLD. */
static char *mark_emphasis(const char *s)
{
	char *out = xstrdup(s);
	char *o = out;
	for (const char *p = s; *p;) {
		if (p[0] == '*' && p[1] == '*') {
			*o++ = CHAT_TEXT_BOLD;
			p += 2;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

void chat_text_markdown(struct chat_text_lines *ls, const char *text, int cols)
{
	char *safe = text_sanitize(text, true);
	bool code = false;
	char *save = NULL;
	/* strtok_r would drop empty lines: split by hand. */
	for (char *line = safe; line; line = save) {
		char *nl = strchr(line, '\n');
		save = nl ? nl + 1 : NULL;
		if (nl) {
			*nl = '\0';
		}
		if (strncmp(line, "```", 3) == 0) {
			code = !code;
			if (code) {
				char label[80];
				snprintf(label, sizeof(label), "╭─ %.60s",
				         line[3] ? line + 3 : "code");
				chat_text_wrap(ls, label, cols, 2, 2, SLOT_DIM, false, false);
			} else {
				chat_text_wrap(ls, "╰─", cols, 2, 2, SLOT_DIM, false, false);
			}
			continue;
		}
		if (code) {
			char *row = xasprintf("│ %s", line);
			chat_text_wrap(ls, row, cols, 2, 4, SLOT_DIM, false, false);
			free(row);
			continue;
		}
		char *marked = mark_emphasis(line);
		const char *p = marked;
		size_t hashes = strspn(p, "#");
		const char *lead = p + strspn(p, " ");
		if (hashes >= 1 && hashes <= 6 && p[hashes] == ' ') {
			char *h = xstrdup(p + hashes + 1);
			for (char *q = h; *q; q++) {
				if (*q == CHAT_TEXT_BOLD) {
					*q = ' ';
				}
			}
			chat_text_wrap(ls, h, cols, 0, 0, SLOT_NORMAL, true, true);
			free(h);
		} else if ((lead[0] == '-' || lead[0] == '*' || lead[0] == '+') && lead[1] == ' ') {
			int depth = (int)(lead - p) / 2;
			char *item = xasprintf("• %s", lead + 2);
			chat_text_wrap(ls, item, cols, 2 + 2 * depth, 4 + 2 * depth, SLOT_NORMAL,
			               false, true);
			free(item);
		} else {
			chat_text_wrap(ls, p, cols, 0, 0, SLOT_NORMAL, false, true);
		}
		free(marked);
	}
	free(safe);
}

void chat_text_draw_line(WINDOW *w, int y, const struct chat_text_line *l)
{
	attr_t base = palette_attr(l->slot);
	bool bold = l->bold;
	wattrset(w, base | (bold ? A_BOLD : 0));
	wmove(w, y, l->indent);
	const char *p = l->text;
	while (*p) {
		if (*p == CHAT_TEXT_BOLD) {
			bold = !bold;
			wattrset(w, base | (bold ? A_BOLD : 0));
			p++;
			continue;
		}
		int cw;
		size_t n = chat_text_char(p, &cw);
		waddnstr(w, p, (int)n);
		p += n;
	}
}
