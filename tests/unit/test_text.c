/* test_text.c: the display-text boundary. Network text must never reach the terminal with a
 * control sequence in it, and the column arithmetic must match what gets drawn. */
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

#define FFFD "\xef\xbf\xbd"

static void expect_sanitized(const char *in, bool keep_newlines, const char *want)
{
	char *out = text_sanitize(in, keep_newlines);
	assert_string_equal(out, want);
	free(out);
}

/* A strict UTF-8 check, independent of the code under test. */
static bool valid_utf8(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s;
		size_t n;
		uint32_t cp;
		if (c < 0x80) {
			s++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 1;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xC0) != 0x80) {
				return false;
			}
			cp = (cp << 6) | (s[i] & 0x3F);
		}
		static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
		if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
			return false;
		}
		s += n + 1;
	}
	return true;
}

/* What may never appear in sanitised output: C0 (but \n when allowed), DEL, C1 as code points,
 * bidi controls. */
static void assert_terminal_safe(const char *out, bool keep_newlines)
{
	const unsigned char *p = (const unsigned char *)out;
	assert_true(valid_utf8(p));
	for (size_t i = 0; p[i]; i++) {
		if (p[i] == '\n') {
			assert_true(keep_newlines);
			continue;
		}
		assert_true(p[i] >= 0x20);
		assert_true(p[i] != 0x7F);
		if (p[i] == 0xC2) {
			assert_false(p[i + 1] >= 0x80 && p[i + 1] <= 0x9F);
		}
		if (p[i] == 0xE2 && p[i + 1] == 0x80) {
			assert_false(p[i + 2] >= 0xAA && p[i + 2] <= 0xAE); /* U+202A..E */
			assert_false(p[i + 2] == 0x8E || p[i + 2] == 0x8F); /* U+200E/F */
		}
		if (p[i] == 0xE2 && p[i + 1] == 0x81) {
			assert_false(p[i + 2] >= 0xA6 && p[i + 2] <= 0xA9); /* U+2066..9 */
		}
		if (p[i] == 0xD8) {
			assert_false(p[i + 1] == 0x9C); /* U+061C */
		}
	}
}

static void test_sanitize_csi_sgr(void **state)
{
	(void)state;
	expect_sanitized("\x1b[31mred\x1b[0m", false, "?[31mred?[0m");
	expect_sanitized("\x1b[2J\x1b[H", false, "?[2J?[H");
}

static void test_sanitize_osc_title_and_clipboard(void **state)
{
	(void)state;
	expect_sanitized("\x1b]0;pwned\x07", false, "?]0;pwned?");
	expect_sanitized("\x1b]2;pwned\x1b\\", false, "?]2;pwned?\\");
	expect_sanitized("\x1b]52;c;cm0gLXJmIH4=\x07", false, "?]52;c;cm0gLXJmIH4=?");
	expect_sanitized("\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\", false,
	                 "?]8;;http://evil/?\\link?]8;;?\\");
}

static void test_sanitize_dcs(void **state)
{
	(void)state;
	expect_sanitized("\x1bPtmux;\x1b\x1b]0;x\x07\x1b\\", false, "?Ptmux;??]0;x??\\");
}

static void test_sanitize_c1_as_code_points(void **state)
{
	(void)state;
	/* U+009B is the 8-bit CSI, U+009D OSC, U+0090 DCS, U+0085 NEL */
	expect_sanitized("\xc2\x9b"
	                 "31m",
	                 false, "?31m");
	expect_sanitized("\xc2\x9d"
	                 "0;t\xc2\x9c",
	                 false, "?0;t?");
	expect_sanitized("\xc2\x90q\xc2\x85", false, "?q?");
	/* the raw byte 0x9B alone is not UTF-8 at all */
	expect_sanitized("\x9b"
	                 "31m",
	                 false, FFFD "31m");
	/* U+00A0 and above are ordinary text */
	expect_sanitized("\xc2\xa0\xc3\xa9", false, "\xc2\xa0\xc3\xa9");
}

static void test_sanitize_c0_del_cr_tab_newline(void **state)
{
	(void)state;
	expect_sanitized("ok\rFAKE PROMPT", false, "ok?FAKE PROMPT");
	expect_sanitized("a\x01\x08\x7f"
	                 "b",
	                 false, "a???b");
	expect_sanitized("a\tb", false, "a b");
	expect_sanitized("line1\nline2", false, "line1?line2");
	expect_sanitized("line1\nline2", true, "line1\nline2");
	expect_sanitized("line1\r\nline2", true, "line1?\nline2");
	expect_sanitized(NULL, false, "");
	expect_sanitized("", true, "");
}

static void test_sanitize_bidi(void **state)
{
	(void)state;
	/* "evil\u202Etxt.exe" would display reversed */
	expect_sanitized("evil\xe2\x80\xaetxt.exe", false, "evil?txt.exe");
	expect_sanitized("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", false, "????");
	expect_sanitized("\xe2\x81\xa6x\xe2\x81\xa7y\xe2\x81\xa8z\xe2\x81\xa9", false, "?x?y?z?");
	expect_sanitized("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", false, "???");
	/* line and paragraph separators would break a line */
	expect_sanitized("a\xe2\x80\xa8"
	                 "b\xe2\x80\xa9",
	                 false, "a?b?");
}

static void test_sanitize_invalid_utf8(void **state)
{
	(void)state;
	expect_sanitized("\xff", false, FFFD);
	expect_sanitized("a\xfe\xff"
	                 "b",
	                 false, "a" FFFD FFFD "b");
	/* overlong '/' (C0 AF) and overlong 3-byte NUL: each bad byte is one U+FFFD */
	expect_sanitized("\xc0\xaf", false, FFFD FFFD);
	expect_sanitized("\xe0\x80\xaf", false, FFFD FFFD FFFD);
	expect_sanitized("\xf0\x80\x80\xaf", false, FFFD FFFD FFFD FFFD);
	/* overlong ESC must not sneak an ESC through */
	expect_sanitized("\xc0\x9b[31m", false, FFFD FFFD "[31m");
	/* surrogate U+D800 and U+110000 */
	expect_sanitized("\xed\xa0\x80", false, FFFD FFFD FFFD);
	expect_sanitized("\xf4\x90\x80\x80", false, FFFD FFFD FFFD FFFD);
	/* truncated sequences: at the end, and followed by ASCII */
	expect_sanitized("ab\xe2\x82", false, "ab" FFFD FFFD);
	expect_sanitized("\xe2\x82"
	                 "A",
	                 false, FFFD FFFD "A");
	/* valid multi-byte text is unchanged: Hangul, combining accent, emoji, U+10FFFF */
	expect_sanitized("노드 e\xcc\x81 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", false,
	                 "노드 e\xcc\x81 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
}

/* Deterministic random strings built from the bytes that matter; every output is safe,
 * sanitising is idempotent, and it does not change the measured width. */
static void test_sanitize_random_inputs(void **state)
{
	(void)state;
	static const unsigned char pool[] = {
	        0x1b, '[',  ']',  'P',  '\\', 0x07, '\r', '\n', '\t', 0x7f, 'a',  ';',  0x80,
	        0x9b, 0xbf, 0xc0, 0xc1, 0xc2, 0xd8, 0x9c, 0xe0, 0xe2, 0xed, 0xa0, 0xaa, 0xae,
	        0x81, 0xa6, 0xef, 0xf0, 0xf4, 0x8f, 0x90, 0xf5, 0xff, 0x01, 0x85, 0x8e};
	uint32_t seed = 12345;
	for (int iter = 0; iter < 20000; iter++) {
		unsigned char in[24];
		seed = seed * 1103515245u + 12345u;
		size_t len = (seed >> 16) % (sizeof(in) - 1);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = pool[(seed >> 16) % sizeof(pool)];
		}
		in[len] = '\0';
		bool keep = iter & 1;
		char *out = text_sanitize((const char *)in, keep);
		assert_terminal_safe(out, keep);
		char *again = text_sanitize(out, keep);
		assert_string_equal(again, out);
		if (!keep) {
			assert_int_equal(text_width(out), text_width((const char *)in));
		}
		free(again);
		free(out);
	}
}

static void test_width(void **state)
{
	(void)state;
	assert_int_equal(text_width(""), 0);
	assert_int_equal(text_width(NULL), 0);
	assert_int_equal(text_width("pve1 online"), 11);
	assert_int_equal(text_width("노드"), 4);
	assert_int_equal(text_width("e\xcc\x81"), 1);
	assert_int_equal(text_width("caf\xc3\xa9 노드"), 9);
	assert_int_equal(text_width("\xe2\x80\xa6"), 1);
	/* unsanitised input is measured as it will be drawn: ESC as '?', bad byte as U+FFFD */
	assert_int_equal(text_width("\x1b[0m"), 4);
	assert_int_equal(text_width("\xff"), 1);
}

static void expect_fit(const char *in, int cols, bool right, const char *want)
{
	char *out = text_fit(in, cols, right);
	assert_string_equal(out, want);
	if (cols > 0) {
		assert_int_equal(text_width(out), cols);
	}
	free(out);
}

static void test_fit_pad_and_align(void **state)
{
	(void)state;
	expect_fit("ab", 5, false, "ab   ");
	expect_fit("ab", 5, true, "   ab");
	expect_fit("abc", 3, false, "abc");
	expect_fit("노드", 6, true, "  노드");
	expect_fit("e\xcc\x81", 3, false, "e\xcc\x81  ");
	expect_fit("", 2, false, "  ");
	expect_fit(NULL, 2, true, "  ");
	expect_fit("abc", 0, false, "");
	expect_fit("abc", -4, true, "");
}

static void test_fit_truncate(void **state)
{
	(void)state;
	expect_fit("kubernetes", 5, false, "kube…");
	expect_fit("kubernetes", 5, true, "kube…");
	expect_fit("abc", 1, false, "…");
	expect_fit("abc", 2, false, "a…");
	/* Hangul at odd and even widths: a wide character never straddles the edge */
	expect_fit("노드노드", 5, false, "노드…");
	expect_fit("노드노드", 4, false, "노 …");
	expect_fit("노드노드", 3, false, "노…");
	expect_fit("노드노드", 2, false, " …");
	expect_fit("a노드", 3, false, "a …");
	/* a combining mark stays with its base */
	expect_fit("e\xcc\x81"
	           "e\xcc\x81"
	           "e\xcc\x81",
	           2, false, "e\xcc\x81…");
	/* controls are neutralised here too */
	expect_fit("\x1b]0;pwned\x07", 6, false, "?]0;p…");
	expect_fit("\x1b[2J", 6, false, "?[2J  ");
}

/* For every width, the result is exactly that wide. */
static void test_fit_always_exact(void **state)
{
	(void)state;
	static const char *samples[] = {
	        "pve1",
	        "노드-gpu-노드",
	        "e\xcc\x81t\xc3\xa9 x\xcc\x81\xcc\x82y",
	        "\x1b[31mred\xc2\x9b\xff\t노\n",
	        "\xf0\x9f\x98\x80 emoji \xf0\x9f\x98\x80",
	        "",
	};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		for (int cols = 1; cols <= 24; cols++) {
			for (int right = 0; right < 2; right++) {
				char *out = text_fit(samples[i], cols, right);
				assert_int_equal(text_width(out), cols);
				assert_terminal_safe(out, false);
				free(out);
			}
		}
	}
}

static void test_fit_middle_keeps_the_end(void **state)
{
	(void)state;
	char *s = text_fit_middle("backend-8bb7cf9b74-2xk9p", 16);
	assert_int_equal(text_width(s), 16);
	assert_non_null(strstr(s, "…"));
	/* The random suffix that tells pods apart survives. */
	assert_non_null(strstr(s, "2xk9p"));
	assert_true(strncmp(s, "backend", 7) == 0);
	free(s);
	/* Short enough: unchanged, padded. */
	s = text_fit_middle("etcd-a", 10);
	assert_string_equal(s, "etcd-a    ");
	free(s);
	/* Wide characters: exact width for every size, never a split character. */
	for (int cols = 5; cols < 24; cols++) {
		s = text_fit_middle("백업-서버-노드-캐시-모델-요약", cols);
		assert_int_equal(text_width(s), cols);
		free(s);
	}
	/* Control sequences are sanitised on the way. */
	s = text_fit_middle("evil\x1b[31mRED-and-a-long-tail", 12);
	assert_null(strchr(s, '\x1b'));
	free(s);
}

/* Found by fuzz_text: under LANG=C, text_fit_middle measured the kept tail with mbrtowc (each byte
 * of a multibyte character a column) while text_width decodes UTF-8 itself, so a cut name with
 * "é" or U+FFFD near its end came out 2 columns short and the table columns slid. */
static void test_fit_middle_exact_in_the_c_locale(void **state)
{
	(void)state;
	char *saved = strdup(setlocale(LC_ALL, NULL));
	setlocale(LC_ALL, "C");
	const char *names[] = {"evil\x1b]0;pwned\x07title\x1b[2J\x1b[31mred\x9bm",
	                       "caf\xc3\xa9-backend-8bb7cf9b74-r\xc3\xa9sum\xc3\xa9",
	                       "db-" FFFD FFFD "-\xe2\x80\xa6-tail-\xc3\xa9\xc3\xa9"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (int cols = 1; cols < 40; cols++) {
			char *s = text_fit_middle(names[i], cols);
			assert_int_equal(text_width(s), cols);
			free(s);
		}
	}
	setlocale(LC_ALL, saved);
	free(saved);
}

int main(void)
{
	/* The program sets a UTF-8 locale at start; so do the tests (the test env has C.UTF-8). */
	if (!setlocale(LC_ALL, "")) {
		setlocale(LC_ALL, "C.UTF-8");
	}
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sanitize_csi_sgr),
	        cmocka_unit_test(test_sanitize_osc_title_and_clipboard),
	        cmocka_unit_test(test_sanitize_dcs),
	        cmocka_unit_test(test_sanitize_c1_as_code_points),
	        cmocka_unit_test(test_sanitize_c0_del_cr_tab_newline),
	        cmocka_unit_test(test_sanitize_bidi),
	        cmocka_unit_test(test_sanitize_invalid_utf8),
	        cmocka_unit_test(test_sanitize_random_inputs),
	        cmocka_unit_test(test_width),
	        cmocka_unit_test(test_fit_pad_and_align),
	        cmocka_unit_test(test_fit_truncate),
	        cmocka_unit_test(test_fit_always_exact),
	        cmocka_unit_test(test_fit_middle_keeps_the_end),
	        cmocka_unit_test(test_fit_middle_exact_in_the_c_locale),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
