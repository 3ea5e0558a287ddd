/* ini_reader.c: see ini_reader.h. */
#include "ini_reader.h"

#include <stdio.h>
#include <string.h>

void ini_reader_init(struct ini_reader *r, const char *text, size_t len, bool skip_bad,
                     ini_reader_section_fn on_section, ini_reader_problem_fn on_problem, void *ud)
{
	*r = (struct ini_reader){
	        .text = text,
	        .len = text ? len : 0,
	        .skip_bad = skip_bad,
	        .on_section = on_section,
	        .on_problem = on_problem,
	        .ud = ud,
	};
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The length of s (n bytes) without the inline comment inih would cut (';' after a blank) and
 * without the blanks before it or at the end. */
static size_t cut_inline_comment(const char *s, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		if (s[i] == ';' && is_blank(s[i - 1])) {
			n = i;
			break;
		}
	}
	while (n > 0 && (is_blank(s[n - 1]) || s[n - 1] == '\r')) {
		n--;
	}
	return n;
}

/* The index of the ']' closing the section name in s (n bytes, s[0] == '['), or n. As in inih,
 * the name runs to the first ']' unless an inline comment starts first. */
static size_t section_close(const char *s, size_t n)
{
	size_t close = 1;
	while (close < n && s[close] != ']' && !(s[close] == ';' && is_blank(s[close - 1]))) {
		close++;
	}
	return close < n && s[close] == ']' ? close : n;
}

/* Whether s (n bytes, comment cut) is "name = value" or "name: value" with a name. */
static bool is_key_line(const char *s, size_t n)
{
	size_t delim = 0;
	while (delim < n && s[delim] != '=' && s[delim] != ':') {
		delim++;
	}
	size_t name_end = delim;
	while (name_end > 0 && is_blank(s[name_end - 1])) {
		name_end--;
	}
	return delim < n && name_end > 0;
}

static char *blank_line(char *str, int num)
{
	snprintf(str, (size_t)num, "\n");
	return str;
}

char *ini_reader_read(char *str, int num, void *stream)
{
	struct ini_reader *r = stream;
	if (r->pos >= r->len) {
		return NULL;
	}
	const char *s = r->text + r->pos;
	size_t avail = r->len - r->pos;
	const char *nl = memchr(s, '\n', avail);
	size_t n = nl ? (size_t)(nl - s) : avail;
	r->pos += n + (nl ? 1 : 0);
	r->line++;

	if (r->line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
		s += 3;
		n -= 3;
	}
	if (memchr(s, '\0', n)) {
		r->on_problem(r->ud, r->line, INI_READER_NUL,
		              "the line holds a NUL byte; is this a text file?");
		return blank_line(str, num);
	}
	while (n > 0 && is_blank(*s)) {
		s++;
		n--;
	}
	if (n > 0 && s[n - 1] == '\r') {
		n--; /* a CRLF file's blank line is blank */
	}
	if (n == 0 || *s == ';' || *s == '#') {
		return blank_line(str, num); /* inih skips comments: nothing changes */
	}
	if (r->skip_bad || n + 2 > (size_t)num) {
		n = cut_inline_comment(s, n);
	}
	if (*s == '[') {
		size_t close = section_close(s, n);
		if (close < n) {
			r->on_section(r->ud, s + 1, close - 1);
			if (r->skip_bad) {
				n = close + 1; /* inih ignores what follows the ']' */
			}
		} else {
			r->on_problem(r->ud, r->line, INI_READER_UNCLOSED,
			              "'[' without a closing ']'");
			if (r->skip_bad) {
				return blank_line(str, num);
			}
		}
	} else if (r->skip_bad && !is_key_line(s, n)) {
		r->on_problem(r->ud, r->line, INI_READER_NOT_KEY,
		              "expected 'key = value' or '[section]'");
		return blank_line(str, num);
	}
	if (n + 2 > (size_t)num) {
		char msg[80];
		snprintf(msg, sizeof(msg), "the line is too long (at most %d characters)", num - 2);
		r->on_problem(r->ud, r->line, INI_READER_TOO_LONG, msg);
		return blank_line(str, num);
	}
	memcpy(str, s, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}
