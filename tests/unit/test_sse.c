/* test_sse.c: the Server-Sent-Events splitter. Real provider streams (Gemini's "\r\n\r\n", the
 * OpenAI-compatible servers' "\n\n", llama.cpp's single "\n" and ':' comments, Vertex's bare
 * JSON error after its events) are fed whole, then cut at every position and byte by byte: the
 * events that come out must not depend on how the stream was cut. Then the rules of the
 * EventSource format one by one, the size cap, and stopping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sse.h"
#include "support.h"
#include "util.h"

#define MAX_EVENTS 64

/* What the splitter delivered, in order. */
struct seen {
	size_t n;
	char *data[MAX_EVENTS];
	char *type[MAX_EVENTS];
	char *id[MAX_EVENTS];
	char *other[MAX_EVENTS];
	bool has_data[MAX_EVENTS];
	long retry[MAX_EVENTS];
	int errors;
	struct err last_err;
	int stop_after; /* on_event returns false after this many events; 0: never */
};

static bool on_event(void *ud, const struct sse_event *ev)
{
	struct seen *s = ud;
	assert_true(s->n < MAX_EVENTS);
	/* Lengths and terminators agree, and a NUL cannot hide the rest. */
	assert_int_equal(strlen(ev->data), ev->data_len);
	assert_int_equal(strlen(ev->other), ev->other_len);
	s->data[s->n] = xstrdup(ev->data);
	s->type[s->n] = xstrdup(ev->type);
	s->id[s->n] = xstrdup(ev->id);
	s->other[s->n] = xstrdup(ev->other);
	s->has_data[s->n] = ev->has_data;
	s->retry[s->n] = ev->retry_ms;
	s->n++;
	return !(s->stop_after > 0 && (int)s->n >= s->stop_after);
}

static void on_error(void *ud, const struct err *e)
{
	struct seen *s = ud;
	s->errors++;
	s->last_err = *e;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->data[i]);
		free(s->type[i]);
		free(s->id[i]);
		free(s->other[i]);
	}
	memset(s, 0, sizeof(*s));
}

/* split feeds text cut into pieces of at most `piece` bytes (0: whole), then finishes. */
static void split(const char *text, size_t len, size_t piece, struct seen *out, size_t max_event)
{
	struct sse s;
	sse_init(&s, max_event, on_event, on_error, out);
	size_t step = piece ? piece : (len ? len : 1);
	for (size_t at = 0; at < len; at += step) {
		size_t n = len - at < step ? len - at : step;
		/* Each piece in its own exact-size buffer: ASan catches a read past it. */
		char *copy = xmalloc(n);
		memcpy(copy, text + at, n);
		sse_feed(&s, copy, n);
		free(copy);
	}
	sse_finish(&s);
	sse_destroy(&s);
}

/* split_at feeds text as two pieces cut at `cut`. */
static void split_at(const char *text, size_t len, size_t cut, struct seen *out)
{
	struct sse s;
	sse_init(&s, 0, on_event, on_error, out);
	char *a = xmalloc(cut ? cut : 1);
	char *b = xmalloc(len - cut ? len - cut : 1);
	memcpy(a, text, cut);
	memcpy(b, text + cut, len - cut);
	sse_feed(&s, a, cut);
	sse_feed(&s, b, len - cut);
	sse_finish(&s);
	sse_destroy(&s);
	free(a);
	free(b);
}

static void assert_same(const struct seen *want, const struct seen *got, const char *what)
{
	if (want->n != got->n) {
		fail_msg("%s: %zu events, want %zu", what, got->n, want->n);
	}
	for (size_t i = 0; i < want->n; i++) {
		if (strcmp(want->data[i], got->data[i]) != 0 ||
		    strcmp(want->other[i], got->other[i]) != 0 ||
		    strcmp(want->type[i], got->type[i]) != 0 ||
		    strcmp(want->id[i], got->id[i]) != 0) {
			fail_msg("%s: event %zu differs: data '%.60s' want '%.60s'", what, i,
			         got->data[i], want->data[i]);
		}
	}
	assert_int_equal(got->errors, 0);
}

/* Every way of cutting a fixture gives the events of the whole. */
static void check_every_cut(const char *dir, const char *name, size_t want_events)
{
	size_t len;
	char *text = support_fixture(dir, name, &len);
	struct seen whole = {0};
	split(text, len, 0, &whole, 0);
	if (want_events) {
		assert_int_equal(whole.n, want_events);
	}
	assert_int_equal(whole.errors, 0);
	/* Two pieces, cut at every byte (every 7th in the long fixtures, plus both ends). */
	size_t stride = len > 4096 ? 7 : 1;
	for (size_t cut = 0;; cut += stride) {
		if (cut > len) {
			cut = len;
		}
		struct seen got = {0};
		split_at(text, len, cut, &got);
		char what[128];
		snprintf(what, sizeof(what), "%s cut at %zu", name, cut);
		assert_same(&whole, &got, what);
		seen_free(&got);
		if (cut == len) {
			break;
		}
	}
	/* Byte by byte, and in odd-sized pieces. */
	static const size_t pieces[] = {1, 2, 3, 5, 13, 64, 1000};
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		struct seen got = {0};
		split(text, len, pieces[i], &got, 0);
		char what[128];
		snprintf(what, sizeof(what), "%s in pieces of %zu", name, pieces[i]);
		assert_same(&whole, &got, what);
		seen_free(&got);
	}
	seen_free(&whole);
	free(text);
}

/* ---- real streams ------------------------------------------------------------------------- */

static void test_gemini_crlf_events(void **state)
{
	(void)state;
	size_t len;
	char *text = support_fixture("llm", "gemini/stream_generate.sse", &len);
	struct seen got = {0};
	split(text, len, 0, &got, 0);
	assert_int_equal(got.n, 3);
	for (size_t i = 0; i < got.n; i++) {
		/* "data: " and the "\r\n" line ends are gone: the JSON alone. */
		assert_true(str_has_prefix(got.data[i], "{\"candidates\""));
		assert_null(strchr(got.data[i], '\r'));
		assert_null(strchr(got.data[i], '\n'));
		assert_string_equal(got.type[i], "");
		assert_string_equal(got.other[i], "");
		assert_true(got.has_data[i]);
		assert_int_equal(got.retry[i], -1);
	}
	assert_non_null(strstr(got.data[2], "Cheyenne"));
	seen_free(&got);
	free(text);
}

static void test_every_cut_gemini(void **state)
{
	(void)state;
	check_every_cut("llm", "gemini/stream_generate.sse", 3);
	check_every_cut("llm", "gemini/stream_generate_thinking.sse", 5);
	check_every_cut("llm", "gemini/stream_recitation.sse", 9);
	check_every_cut("llm", "gemini/stream_generate_long.sse", 36);
}

static void test_every_cut_openai(void **state)
{
	(void)state;
	check_every_cut("llm", "openai/chat_stream_openai_gpt4omini.sse", 11);
	check_every_cut("llm", "openai/chat_stream_vllm_korean.sse", 4);
	check_every_cut("llm", "openai/chat_stream_ollama_v1_usage.sse", 6);
}

/* The CJK stream, cut inside every 3-byte character: each event still holds the whole,
 * valid text of the capture. */
static void test_cjk_split_inside_characters(void **state)
{
	(void)state;
	check_every_cut("llm", "gemini/stream_utf8_cjk_vertex.sse", 4);
	size_t len;
	char *text = support_fixture("llm", "gemini/stream_utf8_cjk_vertex.sse", &len);
	/* The first byte of the first CJK character, 秋 (E7 A7 8B), and a cut right after it. */
	const char *cjk = strstr(text, "\xe7\xa7\x8b");
	assert_non_null(cjk);
	size_t cut = (size_t)(cjk - text) + 1;
	struct seen got = {0};
	split_at(text, len, cut, &got);
	assert_int_equal(got.n, 4);
	assert_non_null(strstr(got.data[0], "\xe7\xa7\x8b\xe9\xa3\x8e")); /* 秋风, whole */
	seen_free(&got);
	free(text);
}

/* llama.cpp: single "\n" between events is one event per blank line only, and ':' lines are
 * comments. Its stub has no blank lines at all: everything is one event whose data lines are
 * joined with "\n". */
static void test_llamacpp_comments_and_single_newlines(void **state)
{
	(void)state;
	check_every_cut("llm", "openai/chat_stream_llamacpp_min.sse", 1);
	size_t len;
	char *text = support_fixture("llm", "openai/chat_stream_llamacpp_min.sse", &len);
	struct seen got = {0};
	split(text, len, 0, &got, 0);
	assert_int_equal(got.n, 1);
	/* Three data lines, joined; the ':' keep-alive between them is not part of it. */
	assert_true(str_has_prefix(got.data[0],
	                           "{\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n"
	                           "{\"choices\""));
	assert_true(strlen(got.data[0]) > 6 &&
	            strcmp(got.data[0] + strlen(got.data[0]) - 7, "\n[DONE]") == 0);
	seen_free(&got);
	free(text);
}

/* Vertex's mid-stream failure: after two events, a bare JSON object with no "data:". It comes
 * out whole as the last event's `other` text. */
static void test_bare_json_after_events(void **state)
{
	(void)state;
	check_every_cut("llm", "gemini/stream_error_midstream_vertex.sse", 3);
	size_t len;
	char *text = support_fixture("llm", "gemini/stream_error_midstream_vertex.sse", &len);
	struct seen got = {0};
	split(text, len, 0, &got, 0);
	assert_int_equal(got.n, 3);
	assert_false(got.has_data[2]);
	assert_string_equal(got.data[2], "");
	assert_true(str_has_prefix(got.other[2], "{\n  \"error\": {\n    \"code\": 499,"));
	assert_true(strcmp(got.other[2] + strlen(got.other[2]) - 2, "\n}") == 0);
	seen_free(&got);
	free(text);
}

/* Gemini's blocked prompt: one event that ends with a single "\r\n" and then EOF. */
static void test_last_event_without_blank_line(void **state)
{
	(void)state;
	check_every_cut("llm", "gemini/stream_prompt_blocked.sse", 1);
	size_t len;
	char *text = support_fixture("llm", "gemini/stream_prompt_blocked.sse", &len);
	struct seen got = {0};
	split(text, len, 0, &got, 0);
	assert_int_equal(got.n, 1);
	assert_non_null(strstr(got.data[0], "\"blockReason\": \"SAFETY\""));
	seen_free(&got);
	/* No line end at all at EOF: still delivered. */
	const char *bare = "data: {\"a\":1}";
	split(bare, strlen(bare), 0, &got, 0);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.data[0], "{\"a\":1}");
	seen_free(&got);
	free(text);
}

/* ---- the format's rules ------------------------------------------------------------------- */

static void test_fields(void **state)
{
	(void)state;
	const char *text = ": a comment, then an event with every field\n"
	                   "event: delta\n"
	                   "id: 42\n"
	                   "retry: 1500\n"
	                   "data:first\n"    /* no space after the colon */
	                   "data:  second\n" /* only one space is dropped */
	                   "data\n"          /* a field name alone: an empty value */
	                   "\n"
	                   ": only a comment: not an event\n"
	                   "\n"
	                   "id: 43\n" /* only an id: not delivered, but remembered */
	                   "\n"
	                   "data: third\n"
	                   "\n"
	                   "event: only-a-type\n" /* a type without data: not delivered */
	                   "\n"
	                   "data:\n" /* one empty data line: delivered, data "" */
	                   "\n";
	struct seen got = {0};
	split(text, strlen(text), 0, &got, 0);
	assert_int_equal(got.n, 3);
	assert_string_equal(got.type[0], "delta");
	assert_string_equal(got.id[0], "42");
	assert_int_equal(got.retry[0], 1500);
	assert_string_equal(got.data[0], "first\n second\n");
	assert_string_equal(got.type[1], "");
	assert_string_equal(got.id[1], "43"); /* the id persists */
	assert_int_equal(got.retry[1], -1);
	assert_string_equal(got.data[1], "third");
	assert_true(got.has_data[2]);
	assert_string_equal(got.data[2], "");
	seen_free(&got);
}

/* "\r\n", "\n" and a lone "\r" all end lines; a "\r\n" cut between two pieces is one line end,
 * not a line end and a blank line. */
static void test_line_ends(void **state)
{
	(void)state;
	const char *text = "data: a\r\ndata: b\rdata: c\n\rdata: d\r\n\r\ndata: e\r\r";
	struct seen whole = {0};
	split(text, strlen(text), 0, &whole, 0);
	assert_int_equal(whole.n, 3);
	assert_string_equal(whole.data[0], "a\nb\nc");
	assert_string_equal(whole.data[1], "d");
	assert_string_equal(whole.data[2], "e");
	for (size_t cut = 0; cut <= strlen(text); cut++) {
		struct seen got = {0};
		split_at(text, strlen(text), cut, &got);
		char what[64];
		snprintf(what, sizeof(what), "line ends cut at %zu", cut);
		assert_same(&whole, &got, what);
		seen_free(&got);
	}
	seen_free(&whole);
	/* Between "\r" and "\n" in separate pieces: one event, not two. */
	struct sse s;
	struct seen got = {0};
	sse_init(&s, 0, on_event, on_error, &got);
	sse_feed(&s, "data: x\r", 8);
	sse_feed(&s, "\n", 1);
	sse_feed(&s, "data: y\r", 8);
	sse_feed(&s, "\n\r", 2);
	sse_feed(&s, "\n", 1);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.data[0], "x\ny");
	sse_destroy(&s);
	seen_free(&got);
}

/* A UTF-8 byte order mark at the very start is dropped, even cut in pieces; elsewhere it is
 * data. */
static void test_bom(void **state)
{
	(void)state;
	const char *text = "\xEF\xBB\xBF"
	                   "data: \xEF\xBB\xBFx\n\n";
	for (size_t piece = 0; piece <= 3; piece++) {
		struct seen got = {0};
		split(text, strlen(text), piece, &got, 0);
		assert_int_equal(got.n, 1);
		assert_string_equal(got.data[0], "\xEF\xBB\xBFx");
		seen_free(&got);
	}
	/* Two bytes of a BOM and then something else: those bytes are kept. */
	struct seen got = {0};
	const char *odd = "\xEF\xBB"
	                  "data: z\n\n";
	split(odd, strlen(odd), 1, &got, 0);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.other[0], "\xEF\xBB"
	                                  "data: z");
	seen_free(&got);
}

/* ---- bounds and stopping ------------------------------------------------------------------ */

static void test_event_too_large_is_dropped(void **state)
{
	(void)state;
	struct buf text;
	buf_init(&text);
	buf_appendf(&text, "data: small\n\n");
	buf_appendf(&text, "data: ");
	for (int i = 0; i < 100; i++) {
		buf_appendf(&text, "0123456789");
	}
	buf_appendf(&text, "\ndata: more of the big one\n\n");
	buf_appendf(&text, "data: after\n\n");
	for (size_t piece = 0; piece <= 7; piece += 7) {
		struct seen got = {0};
		split(text.data, text.len, piece, &got, 64);
		assert_int_equal(got.n, 2);
		assert_string_equal(got.data[0], "small");
		assert_string_equal(got.data[1], "after");
		assert_int_equal(got.errors, 1);
		assert_int_equal(got.last_err.code, ERR_TOO_LARGE);
		assert_non_null(strstr(got.last_err.msg, "64 bytes"));
		seen_free(&got);
	}
	buf_finish(&text);
}

/* A line that never ends does not grow memory past the cap. */
static void test_endless_line_is_bounded(void **state)
{
	(void)state;
	struct sse s;
	struct seen got = {0};
	sse_init(&s, 4096, on_event, on_error, &got);
	char chunk[1000];
	memset(chunk, 'x', sizeof(chunk));
	sse_feed(&s, "data: ", 6);
	for (int i = 0; i < 1000; i++) {
		sse_feed(&s, chunk, sizeof(chunk));
	}
	assert_true(s.line.cap <= 8192);
	assert_int_equal(got.errors, 1);
	sse_feed(&s, "\n\ndata: next\n\n", 14);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.data[0], "next");
	assert_int_equal(s.dropped, 1);
	sse_destroy(&s);
	seen_free(&got);
}

static void test_stop_and_reuse(void **state)
{
	(void)state;
	const char *text = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
	struct sse s;
	struct seen got = {.stop_after = 2};
	sse_init(&s, 0, on_event, on_error, &got);
	assert_false(sse_feed(&s, text, strlen(text)));
	assert_int_equal(got.n, 2);
	/* The splitter is ready for a new stream. */
	got.stop_after = 0;
	assert_true(sse_feed(&s, "data: new\n\n", 11));
	assert_int_equal(got.n, 3);
	assert_string_equal(got.data[2], "new");
	/* A partial event is forgotten by a reset. */
	sse_feed(&s, "data: half", 10);
	sse_reset(&s);
	assert_true(sse_finish(&s));
	assert_int_equal(got.n, 3);
	sse_destroy(&s);
	sse_destroy(NULL);
	seen_free(&got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_gemini_crlf_events),
	        cmocka_unit_test(test_every_cut_gemini),
	        cmocka_unit_test(test_every_cut_openai),
	        cmocka_unit_test(test_cjk_split_inside_characters),
	        cmocka_unit_test(test_llamacpp_comments_and_single_newlines),
	        cmocka_unit_test(test_bare_json_after_events),
	        cmocka_unit_test(test_last_event_without_blank_line),
	        cmocka_unit_test(test_fields),
	        cmocka_unit_test(test_line_ends),
	        cmocka_unit_test(test_bom),
	        cmocka_unit_test(test_event_too_large_is_dropped),
	        cmocka_unit_test(test_endless_line_is_bounded),
	        cmocka_unit_test(test_stop_and_reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
