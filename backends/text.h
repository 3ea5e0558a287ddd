/* text.h: making network text safe and measuring it for display (no curses here). */
#ifndef LABDECK_TEXT_H
#define LABDECK_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* text_sanitize returns a new UTF-8 string with every C0/C1 control (ESC, CSI, OSC, DCS, \r,
 * DEL...) and bidi override/isolate removed or replaced by U+FFFD for invalid UTF-8 and '?' for
 * controls; '\t' becomes a space. Newlines are replaced unless keep_newlines. NULL gives "". */
char *text_sanitize(const char *s, bool keep_newlines);

/* text_sanitize_file is text_sanitize(s, true) that keeps tabs: for text written to a file or a
 * pipe (a tab steers nothing but the column; Makefiles and TSV need it). */
char *text_sanitize_file(const char *s);

/* text_json_safe returns a copy of a JSON text (as json_dumps writes it: valid UTF-8) in which
 * every code point that text_sanitize would replace and JSON allows raw inside a string (DEL, the
 * C1 controls U+0080-U+009F, bidi overrides/isolates, U+2028/U+2029) is written as a \uXXXX escape,
 * so the document means the same and none of them reaches a terminal. Invalid UTF-8 becomes U+FFFD.
 */
char *text_json_safe(const char *json);

/* text_json_fputs writes text_json_safe(json) to out (nothing for NULL). */
void text_json_fputs(const char *json, FILE *out);

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
