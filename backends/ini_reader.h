/* ini_reader.h: the line reader config.c and theme.c hand to inih's ini_parse_stream. It serves
 * a text in memory one line at a time and does what Debian's inih cannot:
 *  - it counts lines (inih's handler has no line argument): the handler reads r->line;
 *  - it drops a UTF-8 byte order mark on line 1 and the indentation of every line (so inih's
 *    multi-line values never apply and git-style indented keys work);
 *  - it follows the "[section]" headers itself and reports each through on_section (inih
 *    truncates long names and never reports an empty section);
 *  - it reports through on_problem, with the line number, a line holding a NUL byte and a line
 *    longer than inih's buffer, and hands inih a blank line instead (inih would split the one
 *    and cut the other).
 * Comment lines (';' or '#' first) go to inih as blank lines. How bad lines are treated is the
 * caller's choice (skip_bad): config.c keeps inih's own syntax errors and makes problems fatal,
 * theme.c turns every line inih would reject into a warning and a blank line. */
#ifndef LABDECK_INI_READER_H
#define LABDECK_INI_READER_H

#include <stdbool.h>
#include <stddef.h>

/* What is wrong with a line. */
enum ini_reader_problem {
	INI_READER_NUL,      /* the line holds a NUL byte; inih gets a blank line */
	INI_READER_TOO_LONG, /* the line, its inline comment cut, does not fit inih's buffer;
	                        inih gets a blank line */
	INI_READER_UNCLOSED, /* '[' without a closing ']' (before any inline comment): without
	                        skip_bad the line goes to inih as it is, which then reports a
	                        syntax error; with skip_bad inih gets a blank line */
	INI_READER_NOT_KEY,  /* skip_bad only: neither "[section]" nor "key = value" (or
	                        "key: value"); inih gets a blank line */
};

/* Called for each "[name]" line with what sits between the brackets (len bytes, NOT
 * NUL-terminated, not trimmed), before inih sees that line. */
typedef void (*ini_reader_section_fn)(void *ud, const char *name, size_t len);
/* Called for a bad line: line is its number (1-based), msg a sentence describing the problem
 * in English without the file name or line number, e.g. "the line is too long (at most 198
 * characters)". */
typedef void (*ini_reader_problem_fn)(void *ud, int line, enum ini_reader_problem what,
                                      const char *msg);

struct ini_reader {
	const char *text; /* not owned; must outlive the parse */
	size_t len;
	size_t pos; /* where the next line starts */
	int line;   /* the number of the line inih is working on (0 before the first) */
	bool skip_bad;
	ini_reader_section_fn on_section;
	ini_reader_problem_fn on_problem;
	void *ud;
};

/* ini_reader_init prepares r to serve text (len bytes; lines end at '\n', "\r\n" works too).
 * With skip_bad, every line inih would reject (see enum ini_reader_problem) is reported and
 * replaced by a blank line, and a line's inline comment (';' after a blank) is cut before inih
 * sees it. Without skip_bad only NUL bytes and over-long lines are reported, syntax errors are
 * left to inih, and an inline comment is cut only when that makes the line fit. ud is passed
 * to both callbacks, which must not be NULL. */
void ini_reader_init(struct ini_reader *r, const char *text, size_t len, bool skip_bad,
                     ini_reader_section_fn on_section, ini_reader_problem_fn on_problem, void *ud);

/* ini_reader_read is the reader for ini_parse_stream(ini_reader_read, r, handler, user): it
 * writes the next line, then "\n", into str (num bytes) and returns str, or returns NULL after
 * the last line. */
char *ini_reader_read(char *str, int num, void *stream);

#endif
