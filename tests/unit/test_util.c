/* test_util.c: the byte buffer and the small string/time/encoding helpers of backends/util.c. */
#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static void test_buf_append_and_terminator(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	assert_int_equal(b.len, 0);
	buf_append(&b, "abc", 3);
	buf_appendf(&b, "-%d-%s", 42, "x");
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "abc-42-x");
	/* binary data with a NUL inside keeps its length and still ends in a NUL */
	buf_append(&b, "\0z", 2);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data + 8, "\0z", 2);
	assert_int_equal(b.data[b.len], '\0');
	buf_append(&b, "", 0);
	assert_int_equal(b.len, 10);
	buf_finish(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	buf_finish(NULL);
}

static void test_buf_growth(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < 10000; i++) {
		buf_append(&b, "0123456789", 10);
	}
	assert_int_equal(b.len, 100000);
	assert_true(b.cap > b.len);
	for (size_t i = 0; i < b.len; i += 997) {
		assert_int_equal(b.data[i], '0' + (int)(i % 10));
	}
	assert_int_equal(b.data[b.len], '\0');
	buf_finish(&b);
}

static void test_buf_consume_and_steal(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	buf_consume(&b, 5); /* on an empty buffer: nothing happens */
	assert_int_equal(b.len, 0);

	char *empty = buf_steal(&b);
	assert_non_null(empty);
	assert_string_equal(empty, "");
	free(empty);

	buf_append(&b, "line1\nline2\n", 12);
	buf_consume(&b, 6);
	assert_int_equal(b.len, 6);
	assert_string_equal(b.data, "line2\n");
	buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");

	buf_append(&b, "kept", 4);
	char *s = buf_steal(&b);
	assert_string_equal(s, "kept");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(s);
}

static void test_strings(void **state)
{
	(void)state;
	char *d = xstrndup("abcdef", 3);
	assert_string_equal(d, "abc");
	free(d);
	d = xstrndup("ab", 10);
	assert_string_equal(d, "ab");
	free(d);
	d = xasprintf("%s=%d", "n", 7);
	assert_string_equal(d, "n=7");
	free(d);

	assert_true(str_eq("a", "a"));
	assert_false(str_eq("a", "b"));
	assert_false(str_eq(NULL, "a"));
	assert_false(str_eq(NULL, NULL));
	assert_true(str_has_prefix("hostpci10", "hostpci"));
	assert_false(str_has_prefix("host", "hostpci"));
	assert_false(str_has_prefix(NULL, "x"));

	char t[] = " \t value with space \r\n";
	assert_string_equal(str_trim(t), "value with space");
	char blank[] = " \n ";
	assert_string_equal(str_trim(blank), "");
}

static char *vformat(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *vformat(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

static void test_hex_digit_and_formats(void **state)
{
	(void)state;
	const char *digits = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		assert_int_equal(hex_digit(digits[i]), i);
		assert_int_equal(hex_digit(toupper((unsigned char)digits[i])), i);
	}
	const int not_hex[] = {'g', 'G', '/', ':', '@', '`', ' ', '\0', 0xc3, -1};
	for (size_t i = 0; i < sizeof(not_hex) / sizeof(not_hex[0]); i++) {
		assert_int_equal(hex_digit(not_hex[i]), -1);
	}

	char *s = vformat("%s:%d:%c", "t.ini", 12, 'x');
	assert_string_equal(s, "t.ini:12:x");
	free(s);
	/* buf_appendf keeps what follows a NUL a %c writes. */
	struct buf b;
	buf_init(&b);
	buf_appendf(&b, "a%cb", '\0');
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 3);
	buf_finish(&b);
}

static void test_path_expand(void **state)
{
	(void)state;
	const char *old = getenv("HOME");
	char *saved = old ? xstrdup(old) : NULL;
	setenv("HOME", "/home/lab", 1);

	static const struct {
		const char *in, *want;
	} cases[] = {
	        {"~/.config/labdeck/config.ini", "/home/lab/.config/labdeck/config.ini"},
	        {"~", "/home/lab"},
	        {"~other/x", "~other/x"},
	        {"/etc/labdeck.ini", "/etc/labdeck.ini"},
	        {"rel/~/x", "rel/~/x"},
	        {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = path_expand(cases[i].in);
		assert_string_equal(got, cases[i].want);
		free(got);
	}

	if (saved) {
		setenv("HOME", saved, 1);
		free(saved);
	} else {
		unsetenv("HOME");
	}
}

static void test_rfc3339_valid(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		double want;
	} cases[] = {
	        {"1970-01-01T00:00:00Z", 0},
	        {"2024-05-01T10:00:00Z", 1714557600},
	        {"2024-05-01T10:00:00z", 1714557600},
	        {"2000-02-29T23:59:59Z", 951868799},
	        /* offsets: local time minus the offset is UTC */
	        {"2024-05-01T12:00:00+02:00", 1714557600},
	        {"2024-05-01T04:30:00-05:30", 1714557600},
	        {"2024-05-01T10:00:00+00:00", 1714557600},
	        /* fractions, with and without an offset */
	        {"2024-05-01T10:00:00.5Z", 1714557600.5},
	        {"2024-05-01T10:00:00.123456789Z", 1714557600.123456789},
	        {"2024-05-01T12:00:00.25+02:00", 1714557600.25},
	        {"2024-05-01T10:00:00.000Z", 1714557600},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double got = -1;
		if (!rfc3339_parse(cases[i].in, &got)) {
			fail_msg("rfc3339_parse rejected %s", cases[i].in);
		}
		if (fabs(got - cases[i].want) > 1e-6) {
			fail_msg("%s: got %.6f, want %.6f", cases[i].in, got, cases[i].want);
		}
	}
}

static void test_rfc3339_invalid(void **state)
{
	(void)state;
	static const char *bad[] = {
	        "",
	        "2024-05-01",
	        "2024-05-01T10:00:00",      /* no zone */
	        "2024-05-01T10:00:00Zjunk", /* trailing text */
	        "2024-05-01T10:00:00+05",   /* short offset */
	        "2024-05-01T10:00:00+5:30", /* one-digit hour: was read past the end */
	        "2024-05-01T10:00:00+05:3", /* one-digit minute */
	        "2024-05-01T10:00:00+0530", /* no colon */
	        "2024-05-01T10:00:00+05:30x",
	        "2024-05-01T10:00:00+-5:30",
	        "2024-05-01T10:00:00+24:00",
	        "2024-05-01T10:00:00.Z",    /* dot without digits */
	        "2024-05-01T10:00:00.5e3Z", /* no exponents in a fraction */
	        "2024-05-01T10:00:00,5Z",
	        "not a time",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double got = -12345;
		if (rfc3339_parse(bad[i], &got)) {
			fail_msg("rfc3339_parse accepted \"%s\" as %f", bad[i], got);
		}
		assert_true(got == -12345); /* untouched */
	}
	double got;
	assert_false(rfc3339_parse(NULL, &got));

	/* an offset at the very end of an exactly sized heap string: ASan checks the bounds */
	const char *s = "2024-05-01T10:00:00+5:30";
	char *exact = xmalloc(strlen(s) + 1);
	memcpy(exact, s, strlen(s) + 1);
	assert_false(rfc3339_parse(exact, &got));
	free(exact);
}

static void test_url_escape(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
	        {"abcXYZ019-_.~", "abcXYZ019-_.~"},
	        {"a b/c?d=e&f", "a%20b%2Fc%3Fd%3De%26f"},
	        {"root@pam!labdeck", "root%40pam%21labdeck"},
	        {"UPID:pve1:000F1A2B:05A3C4D1:66F00123:qmstart:100:root@pam:",
	         "UPID%3Apve1%3A000F1A2B%3A05A3C4D1%3A66F00123%3Aqmstart%3A100%3Aroot%40pam%3A"},
	        {"caf\xc3\xa9", "caf%C3%A9"},
	        {"100%", "100%25"},
	        {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = url_escape(cases[i].in);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
}

static void expect_b64(const char *in, const void *want, size_t want_len)
{
	size_t len = 12345;
	unsigned char *got = base64_decode(in, &len);
	if (!got) {
		fail_msg("base64_decode rejected \"%s\"", in);
	}
	assert_int_equal(len, want_len);
	assert_memory_equal(got, want, want_len);
	assert_int_equal(got[len], '\0');
	free(got);
}

static void test_base64_decode(void **state)
{
	(void)state;
	expect_b64("aGVsbG8=", "hello", 5);
	expect_b64("aGVsbG8", "hello", 5); /* unpadded */
	expect_b64("aGVsbG8h", "hello!", 6);
	expect_b64("aGVs\n bG8=\r\n", "hello", 5);
	expect_b64("", "", 0);
	expect_b64("AAEC/w==", "\x00\x01\x02\xff", 4);
	expect_b64("AAEC_w", "\x00\x01\x02\xff", 4); /* URL-safe alphabet */
	/* a PEM body as it sits in kubeconfig certificate-authority-data */
	expect_b64("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==", "-----BEGIN CERTIFICATE-----\n", 28);

	static const char *bad[] = {
	        "aGVsbG8=x",         /* data after padding */
	        "aGV$bG8=",          /* not in the alphabet */
	        "aGVsbG8=\x01", "a", /* one dangling character is not a byte */
	        "aGVsb",        "aGVsbG8h\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = 0;
		unsigned char *got = base64_decode(bad[i], &len);
		if (got) {
			free(got);
			fail_msg("base64_decode accepted \"%s\"", bad[i]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_buf_append_and_terminator),
	        cmocka_unit_test(test_buf_growth),
	        cmocka_unit_test(test_buf_consume_and_steal),
	        cmocka_unit_test(test_strings),
	        cmocka_unit_test(test_hex_digit_and_formats),
	        cmocka_unit_test(test_path_expand),
	        cmocka_unit_test(test_rfc3339_valid),
	        cmocka_unit_test(test_rfc3339_invalid),
	        cmocka_unit_test(test_url_escape),
	        cmocka_unit_test(test_base64_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
