/* test_ndjson.c: the stream line splitter, fed every way the network may cut a stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ndjson.h"
#include "util.h"

#define MAX_LINES 64

/* What the callbacks saw. */
struct seen {
	char *lines[MAX_LINES];
	size_t len[MAX_LINES];
	size_t n;
	int errors;
	enum err_code last_err;
	size_t stop_after; /* on_line returns false on this line (1-based); 0 never */
};

static bool on_line(void *ud, const char *line, size_t len)
{
	struct seen *s = ud;
	assert_true(s->n < MAX_LINES);
	s->lines[s->n] = xstrndup(line, len);
	s->len[s->n] = len;
	s->n++;
	return s->n != s->stop_after;
}

static void on_error(void *ud, const struct err *err)
{
	struct seen *s = ud;
	s->errors++;
	s->last_err = err->code;
}

static void seen_reset(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->lines[i]);
	}
	memset(s, 0, sizeof(*s));
}

static void assert_lines(const struct seen *s, const char *const *want, size_t n_want)
{
	if (s->n != n_want) {
		fail_msg("got %zu lines, want %zu", s->n, n_want);
	}
	for (size_t i = 0; i < n_want; i++) {
		if (s->len[i] != strlen(want[i]) || memcmp(s->lines[i], want[i], s->len[i]) != 0) {
			fail_msg("line %zu: got '%s', want '%s'", i, s->lines[i], want[i]);
		}
	}
}

/* A watch stream as a server sends it: NDJSON with multibyte UTF-8 (Hangul, an emoji), a "\r\n"
 * line end, an empty line, and a last line without its newline. */
static const char stream[] =
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"웹-서버\"}}}\n"
        "{\"type\":\"MODIFIED\",\"msg\":\"🚀 déployé\"}\r\n"
        "\n"
        "{\"type\":\"BOOKMARK\",\"rv\":\"446800\"}\n"
        "로그 마지막 줄";
static const char *const stream_lines[] = {
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"웹-서버\"}}}",
        "{\"type\":\"MODIFIED\",\"msg\":\"🚀 déployé\"}",
        "",
        "{\"type\":\"BOOKMARK\",\"rv\":\"446800\"}",
        "로그 마지막 줄",
};
#define N_STREAM_LINES (sizeof(stream_lines) / sizeof(stream_lines[0]))
#define STREAM_LEN (sizeof(stream) - 1)

/* feed_cuts feeds stream cut at the given offsets (ascending), then finishes. */
static void feed_cuts(struct seen *s, const size_t *cuts, size_t n_cuts)
{
	struct ndjson sp;
	ndjson_init(&sp, 0, on_line, on_error, s);
	size_t at = 0;
	for (size_t i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : STREAM_LEN;
		/* A copy of exactly this piece, so ASan sees any read past it. */
		char *piece = xmalloc(end - at + 1);
		memcpy(piece, stream + at, end - at);
		assert_true(ndjson_feed(&sp, piece, end - at));
		free(piece);
		at = end;
	}
	assert_true(ndjson_finish(&sp));
	ndjson_destroy(&sp);
}

static void test_one_piece(void **state)
{
	(void)state;
	struct seen s = {0};
	feed_cuts(&s, NULL, 0);
	assert_lines(&s, stream_lines, N_STREAM_LINES);
	assert_int_equal(s.errors, 0);
	seen_reset(&s);
}

/* Every single cut point, including those inside a multibyte character. */
static void test_every_split_point(void **state)
{
	(void)state;
	for (size_t i = 0; i <= STREAM_LEN; i++) {
		struct seen s = {0};
		feed_cuts(&s, &i, 1);
		assert_lines(&s, stream_lines, N_STREAM_LINES);
		seen_reset(&s);
	}
}

/* Every pair of cut points: three pieces, any of them empty. */
static void test_every_pair_of_split_points(void **state)
{
	(void)state;
	for (size_t i = 0; i <= STREAM_LEN; i++) {
		for (size_t j = i; j <= STREAM_LEN; j++) {
			size_t cuts[2] = {i, j};
			struct seen s = {0};
			feed_cuts(&s, cuts, 2);
			assert_lines(&s, stream_lines, N_STREAM_LINES);
			seen_reset(&s);
		}
	}
}

static void test_byte_by_byte(void **state)
{
	(void)state;
	size_t cuts[STREAM_LEN];
	for (size_t i = 0; i < STREAM_LEN; i++) {
		cuts[i] = i + 1;
	}
	struct seen s = {0};
	feed_cuts(&s, cuts, STREAM_LEN - 1);
	assert_lines(&s, stream_lines, N_STREAM_LINES);
	seen_reset(&s);
}

/* A line longer than the cap is dropped (reported once), whatever the pieces, and the next line
 * comes through; a line exactly at the cap is kept. */
static void test_long_line_dropped(void **state)
{
	(void)state;
	const char text[] = "0123456789abcdef\n"  /* 16 bytes: at the cap, kept */
	                    "0123456789abcdefX\n" /* 17: dropped */
	                    "after\n"
	                    "0123456789abcdefXYZ"; /* unfinished and too long: dropped */
	const char *const want[] = {"0123456789abcdef", "after"};
	size_t len = sizeof(text) - 1;
	for (size_t piece = 1; piece <= len; piece++) {
		struct seen s = {0};
		struct ndjson sp;
		ndjson_init(&sp, 16, on_line, on_error, &s);
		for (size_t at = 0; at < len; at += piece) {
			size_t n = len - at < piece ? len - at : piece;
			assert_true(ndjson_feed(&sp, text + at, n));
		}
		assert_true(ndjson_finish(&sp));
		assert_lines(&s, want, 2);
		assert_int_equal(s.errors, 2);
		assert_int_equal(s.last_err, ERR_TOO_LARGE);
		assert_int_equal(sp.dropped, 2);
		ndjson_destroy(&sp);
		seen_reset(&s);
	}
}

/* A 1 MiB line with a 4 KiB cap never costs more than the cap in memory. */
static void test_memory_bounded(void **state)
{
	(void)state;
	struct seen s = {0};
	struct ndjson sp;
	ndjson_init(&sp, 4096, on_line, on_error, &s);
	char piece[1000];
	memset(piece, 'x', sizeof(piece));
	size_t max_cap = 0;
	for (int i = 0; i < 1049; i++) {
		assert_true(ndjson_feed(&sp, piece, sizeof(piece)));
		if (sp.pending.cap > max_cap) {
			max_cap = sp.pending.cap;
		}
	}
	assert_true(ndjson_feed(&sp, "\nok\n", 4));
	assert_true(max_cap <= 2 * 4096);
	const char *const want[] = {"ok"};
	assert_lines(&s, want, 1);
	assert_int_equal(s.errors, 1);
	ndjson_destroy(&sp);
	seen_reset(&s);
}

/* on_line returning false stops at once; the splitter is then ready for a new stream. */
static void test_stop(void **state)
{
	(void)state;
	struct seen s = {0};
	s.stop_after = 2;
	struct ndjson sp;
	ndjson_init(&sp, 0, on_line, NULL, &s);
	assert_false(ndjson_feed(&sp, "one\ntwo\nthree\nfour", 18));
	const char *const want[] = {"one", "two"};
	assert_lines(&s, want, 2);
	/* Nothing of the stopped stream leaks into the next one. */
	s.stop_after = 0;
	assert_true(ndjson_feed(&sp, "new\n", 4));
	assert_true(ndjson_finish(&sp));
	const char *const want2[] = {"one", "two", "new"};
	assert_lines(&s, want2, 3);
	ndjson_destroy(&sp);
	seen_reset(&s);
}

/* ndjson_reset forgets a partial line (a stream that broke off and was started again). */
static void test_reset_forgets_partial_line(void **state)
{
	(void)state;
	struct seen s = {0};
	struct ndjson sp;
	ndjson_init(&sp, 0, on_line, NULL, &s);
	assert_true(ndjson_feed(&sp, "{\"type\":\"ADD", 12));
	ndjson_reset(&sp);
	assert_true(ndjson_feed(&sp, "{\"b\":2}\n", 8));
	assert_true(ndjson_finish(&sp));
	assert_true(ndjson_finish(&sp)); /* twice: nothing more */
	const char *const want[] = {"{\"b\":2}"};
	assert_lines(&s, want, 1);
	assert_int_equal(sp.lines, 1);
	ndjson_destroy(&sp);
	seen_reset(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_one_piece),
	        cmocka_unit_test(test_every_split_point),
	        cmocka_unit_test(test_every_pair_of_split_points),
	        cmocka_unit_test(test_byte_by_byte),
	        cmocka_unit_test(test_long_line_dropped),
	        cmocka_unit_test(test_memory_bounded),
	        cmocka_unit_test(test_stop),
	        cmocka_unit_test(test_reset_forgets_partial_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
