/* test_ini_reader.c: the line reader config.c and theme.c hand to inih, on its own and under
 * inih's ini_parse_stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ini_reader.h"
#include "support.h"
#include "util.h"

/* What the callbacks saw, one entry a line: "S<line>:<name>" for a section, "P<line>:<what>:<msg>"
 * for a problem, "K<line>:<section>/<name>=<value>" for a key inih delivered. */
struct seen {
	struct ini_reader r;
	struct buf log;
};

static void on_section(void *ud, const char *name, size_t len)
{
	struct seen *s = ud;
	buf_appendf(&s->log, "S%d:%.*s|", s->r.line, (int)len, name);
}

static void on_problem(void *ud, int line, enum ini_reader_problem what, const char *msg)
{
	struct seen *s = ud;
	buf_appendf(&s->log, "P%d:%d:%s|", line, (int)what, msg);
}

static int on_key(void *ud, const char *section, const char *name, const char *value)
{
	struct seen *s = ud;
	buf_appendf(&s->log, "K%d:%s/%s=%s|", s->r.line, section, name, value);
	return 1;
}

/* read_all serves text through the reader with an inih buffer of num bytes and returns every
 * line it handed over, each followed by '|' (its "\n" dropped), then the callbacks' log. */
static char *read_all(const char *text, size_t len, bool skip_bad, int num)
{
	struct seen s;
	buf_init(&s.log);
	ini_reader_init(&s.r, text, len, skip_bad, on_section, on_problem, &s);
	struct buf lines;
	buf_init(&lines);
	char *str = xmalloc((size_t)num);
	int served = 0;
	while (ini_reader_read(str, num, &s.r)) {
		served++;
		size_t n = strlen(str);
		assert_true(n >= 1 && str[n - 1] == '\n');
		buf_append(&lines, str, n - 1);
		buf_append(&lines, "|", 1);
	}
	assert_int_equal(served, s.r.line);
	free(str);
	buf_appendf(&lines, "#%s", s.log.data ? s.log.data : "");
	buf_finish(&s.log);
	return buf_steal(&lines);
}

/* parse runs ini_parse_stream over text with the reader; returns the callbacks' log and sets
 * *rc to what inih returned. */
static char *parse(const char *text, bool skip_bad, int *rc)
{
	struct seen s;
	buf_init(&s.log);
	ini_reader_init(&s.r, text, strlen(text), skip_bad, on_section, on_problem, &s);
	*rc = ini_parse_stream(ini_reader_read, &s.r, on_key, &s);
	buf_appendf(&s.log, "#");
	return buf_steal(&s.log);
}

/* LIT(s): a string literal and its length, NULs inside included. */
#define LIT(s) s, sizeof(s) - 1

static void expect(char *got, const char *want)
{
	assert_string_equal(got, want);
	free(got);
}

static void test_lines_sections_and_comments(void **state)
{
	(void)state;
	static const char text[] = "\xEF\xBB\xBF[a]\n"
	                           "  key = v ; note\n"
	                           "; comment\n"
	                           "\t# comment\n"
	                           "\n"
	                           "[ b c ] trailing\n"
	                           "last = no newline";
	/* Without skip_bad a line reaches inih as written, less its indentation. */
	expect(read_all(LIT(text), false, 200),
	       "[a]|key = v ; note||||[ b c ] trailing|last = no newline|#S1:a|S6: b c |");
	/* With it the inline comment is cut and a section line ends at its ']'. */
	expect(read_all(LIT(text), true, 200),
	       "[a]|key = v||||[ b c ]|last = no newline|#S1:a|S6: b c |");
	/* A byte order mark counts only on line 1. */
	expect(read_all(LIT("k = 1\n\xEF\xBB\xBFk = 2\n"), false, 200),
	       "k = 1|\xEF\xBB\xBFk = 2|#");
	expect(read_all("", 0, false, 200), "#");
	expect(read_all(NULL, 0, true, 200), "#");
}

static void test_section_names(void **state)
{
	(void)state;
	/* As in inih: the name runs to the first ']', unless an inline comment comes first. */
	expect(read_all(LIT("[a ; b]\n[c;d]\n[ssh \"x\"] ; [y]\n[]\n"), false, 200),
	       "[a ; b]|[c;d]|[ssh \"x\"] ; [y]|[]|#P1:2:'[' without a closing ']'|S2:c;d|"
	       "S3:ssh \"x\"|S4:|");
	expect(read_all(LIT("[a ; b]\n[open\n[ok]\n"), true, 200),
	       "||[ok]|#P1:2:'[' without a closing ']'|P2:2:'[' without a closing ']'|S3:ok|");
}

static void test_bad_lines(void **state)
{
	(void)state;
	static const char nul[] = "a = 1\nb\0 = 2\nc = 3\n";
	expect(read_all(LIT(nul), false, 200),
	       "a = 1||c = 3|#P2:0:the line holds a NUL byte; is this a text file?|");
	/* Lines inih would reject: passed on without skip_bad, reported and blanked with it. */
	static const char odd[] = "just words\n = no name\nname ; = commented\nk: v\n";
	expect(read_all(LIT(odd), false, 200), "just words|= no name|name ; = commented|k: v|#");
	expect(read_all(LIT(odd), true, 200), "|||k: v|#P1:3:expected 'key = value' or '[section]'|"
	                                      "P2:3:expected 'key = value' or '[section]'|"
	                                      "P3:3:expected 'key = value' or '[section]'|");
}

static void test_long_lines(void **state)
{
	(void)state;
	/* An inih buffer of 16 bytes holds 14 characters, "\n" and the NUL. */
	static const char text[] = "k = 0123456789\n"
	                           "k = 01234567890\n"
	                           "k = 0 ; a comment that does not fit\n"
	                           "; a comment line that does not fit\n"
	                           "[section-too-long] ; x\n";
	expect(read_all(LIT(text), false, 16),
	       "k = 0123456789||k = 0|||#P2:1:the line is too long (at most 14 characters)|"
	       "S5:section-too-long|P5:1:the line is too long (at most 14 characters)|");
	expect(read_all(LIT(text), true, 16),
	       "k = 0123456789||k = 0|||#P2:1:the line is too long (at most 14 characters)|"
	       "S5:section-too-long|P5:1:the line is too long (at most 14 characters)|");
}

static void test_under_inih(void **state)
{
	(void)state;
	/* The handler reads the line number from the reader; CRLF and indentation are harmless. */
	int rc;
	expect(parse("[s]\r\n  a = 1 ; one\r\n\r\n\tb : two words\r\n", false, &rc),
	       "S1:s|K2:s/a=1|K4:s/b=two words|#");
	assert_int_equal(rc, 0);
	/* Without skip_bad inih reports the first bad line... */
	expect(parse("[s]\na = 1\nbad line\n[open\nb = 2\n", false, &rc),
	       "S1:s|K2:s/a=1|P4:2:'[' without a closing ']'|K5:s/b=2|#");
	assert_int_equal(rc, 3);
	/* ...with it every bad line is the reader's, and inih sees none. */
	expect(parse("[s]\na = 1\nbad line\n[open\nb = 2\n", true, &rc),
	       "S1:s|K2:s/a=1|P3:3:expected 'key = value' or '[section]'|"
	       "P4:2:'[' without a closing ']'|K5:s/b=2|#");
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_lines_sections_and_comments),
	        cmocka_unit_test(test_section_names),
	        cmocka_unit_test(test_bad_lines),
	        cmocka_unit_test(test_long_lines),
	        cmocka_unit_test(test_under_inih),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
