/* chat_text.h: the chat's text as screen lines — wrapped to the width with wide characters
 * counted as two columns and never split, with light Markdown (headings, **emphasis**, lists,
 * fenced code set apart and never joined). Text is sanitised before it is laid out, so a line
 * holds nothing a terminal would take as a control sequence. */
#ifndef LABDECK_CHAT_TEXT_H
#define LABDECK_CHAT_TEXT_H

#include <curses.h>
#include <stdbool.h>
#include <stddef.h>

#include "theme.h"

/* Stands for "**" in laid-out text: toggles bold. Never in sanitised text. */
#define CHAT_TEXT_BOLD '\x01'

/* One screen line. */
struct chat_text_line {
	char *text; /* sanitised; CHAT_TEXT_BOLD toggles bold */
	int indent;
	enum theme_slot slot;
	bool bold; /* bold at the line's start */
};

struct chat_text_lines {
	struct chat_text_line *items;
	size_t len, cap;
};

/* chat_text_add appends the n bytes at s as one line. */
void chat_text_add(struct chat_text_lines *ls, const char *s, size_t n, int indent,
                   enum theme_slot slot, bool bold);
/* chat_text_free frees the lines and empties ls. */
void chat_text_free(struct chat_text_lines *ls);

/* chat_text_char decodes one character of UTF-8 at p: its length in bytes and its columns
 * (*cols); a byte that does not start a valid character counts as one of one column. */
size_t chat_text_char(const char *p, int *cols);

/* chat_text_wrap lays out s (one logical line, sanitised) in cols columns: the first line at
 * indent, the others at hang. words: break at spaces when possible; else (code) at any
 * character. A character is never split. */
void chat_text_wrap(struct chat_text_lines *ls, const char *s, int cols, int indent, int hang,
                    enum theme_slot slot, bool bold, bool words);

/* chat_text_markdown sanitises text and lays it out as light Markdown. */
void chat_text_markdown(struct chat_text_lines *ls, const char *text, int cols);

/* chat_text_draw_line draws l at row y of w in its slot's colours. */
void chat_text_draw_line(WINDOW *w, int y, const struct chat_text_line *l);

#endif
