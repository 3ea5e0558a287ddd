/* text.h: making network text safe and measuring it for display (no curses here). */
#ifndef LABDECK_TEXT_H
#define LABDECK_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* text_sanitize returns a new UTF-8 string with every C0/C1 control (ESC, CSI, OSC, DCS, \r,
 * DEL...) and bidi override/isolate removed or replaced by U+FFFD for invalid UTF-8 and '?' for
 * controls; '\t' becomes a space. Newlines are replaced unless keep_newlines. NULL gives "". */
char *text_sanitize(const char *s, bool keep_newlines);

/* text_width: display columns of a (sanitised) UTF-8 string, wide characters (Hangul) count 2 and
 * combining marks 0. */
int text_width(const char *s);

/* text_fit returns a new string of exactly `cols` columns: s truncated with "…" when too wide
 * (never splitting a wide character), padded with spaces otherwise (right-aligned when
 * align_right). */
char *text_fit(const char *s, int cols, bool align_right);

/* text_fit_middle is text_fit for names whose end tells them apart (pod names end in a random
 * suffix): the middle is cut, "backend-8bb7cf9b74-2xk9p" -> "backend-8bb…4-2xk9p". */
char *text_fit_middle(const char *s, int cols);

#endif
