/* test_llm_parse.c: the model providers. First the pure half (llm_parse.c) on the fixtures in
 * tests/fixtures/llm/ — every stream fed through its splitter whole, byte by byte and in odd
 * pieces (so UTF-8 characters are cut between reads), every error body, the model lists and the
 * embeddings. Then the request each provider gets (llm_request_body, llm_request_url), the
 * "not configured" errors, and finally llm.c end to end against an evhttp server on 127.0.0.1
 * that streams the fixtures in small pieces: the Gemini key only in its header, num_ctx sent to
 * Ollama, a 429 not retried, a mid-stream error keeping the text, cancel, stall, the model
 * lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "json_util.h"
#include "llm.h"
#include "llm_parse.h"
#include "ndjson.h"
#include "sse.h"
#include "support.h"
#include "util.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* utf8_whole: len bytes are complete, valid UTF-8 characters (no sequence cut at either end). */
static bool utf8_whole(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		unsigned c = p[i];
		size_t extra;
		if (c < 0x80) {
			extra = 0;
		} else if (c >= 0xC2 && c <= 0xDF) {
			extra = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			extra = 2;
		} else if (c >= 0xF0 && c <= 0xF4) {
			extra = 3;
		} else {
			return false;
		}
		if (i + extra >= len) {
			return false;
		}
		for (size_t k = 1; k <= extra; k++) {
			if ((p[i + k] & 0xC0) != 0x80) {
				return false;
			}
		}
		i += extra + 1;
	}
	return true;
}

/* What on_token saw. */
struct tokens {
	struct buf text, thinking;
	int calls, thinking_calls;
	int broken; /* tokens that were not whole UTF-8 */
};

static void tokens_init(struct tokens *t)
{
	memset(t, 0, sizeof(*t));
	buf_init(&t->text);
	buf_init(&t->thinking);
}

static void tokens_finish(struct tokens *t)
{
	buf_finish(&t->text);
	buf_finish(&t->thinking);
}

static void on_token(void *ud, const char *text, size_t len, bool thinking)
{
	struct tokens *t = ud;
	assert_true(len > 0);
	if (!utf8_whole(text, len)) {
		t->broken++;
	}
	buf_append(thinking ? &t->thinking : &t->text, text, len);
	if (thinking) {
		t->thinking_calls++;
	} else {
		t->calls++;
	}
}

static bool feed_line(void *ud, const char *line, size_t len)
{
	return llm_stream_unit(ud, line, len);
}

static bool feed_event(void *ud, const struct sse_event *ev)
{
	struct llm_stream *st = ud;
	if (ev->has_data && !llm_stream_unit(st, ev->data, ev->data_len)) {
		return false;
	}
	if (ev->other_len > 0 && ev->other[0] == '{') {
		return llm_stream_unit(st, ev->other, ev->other_len);
	}
	return true;
}

/* run_stream feeds the fixture (dir/name) for provider p through its splitter in pieces of
 * `piece` bytes (0: whole) into st, which reports tokens to t. */
static void run_stream(enum llm_provider p, const char *name, size_t piece, struct llm_stream *st,
                       struct tokens *t)
{
	size_t len;
	char *text = support_fixture("llm", name, &len);
	llm_stream_init(st, p, on_token, t);
	struct ndjson nd;
	struct sse sse;
	ndjson_init(&nd, 0, feed_line, NULL, st);
	sse_init(&sse, 0, feed_event, NULL, st);
	size_t step = piece ? piece : len;
	for (size_t at = 0; at < len; at += step) {
		size_t n = len - at < step ? len - at : step;
		char *copy = xmalloc(n);
		memcpy(copy, text + at, n);
		if (p == LLM_OLLAMA) {
			ndjson_feed(&nd, copy, n);
		} else {
			sse_feed(&sse, copy, n);
		}
		free(copy);
	}
	if (p == LLM_OLLAMA) {
		ndjson_finish(&nd);
	} else {
		sse_finish(&sse);
	}
	ndjson_destroy(&nd);
	sse_destroy(&sse);
	free(text);
}

/* parse_whole runs a fixture whole and judges it; the result is the caller's. */
static struct llm_result *parse_whole(enum llm_provider p, const char *name, struct tokens *t)
{
	struct llm_stream st;
	run_stream(p, name, 0, &st, t);
	llm_stream_end(&st);
	struct llm_result *r = llm_stream_result(&st, "m");
	llm_stream_finish(&st);
	return r;
}

/* The same text and usage whatever the pieces: byte by byte, and odd sizes. */
static void check_any_pieces(enum llm_provider p, const char *name, const char *want_text)
{
	static const size_t pieces[] = {1, 2, 3, 4, 5, 7, 11, 64};
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		struct tokens t;
		tokens_init(&t);
		struct llm_stream st;
		run_stream(p, name, pieces[i], &st, &t);
		assert_false(st.failed);
		if (!t.text.data || strcmp(t.text.data, want_text) != 0) {
			fail_msg("%s in pieces of %zu: text '%s'", name, pieces[i],
			         t.text.data ? t.text.data : "(none)");
		}
		assert_int_equal(t.broken, 0);
		assert_string_equal(st.text.data, want_text);
		llm_stream_finish(&st);
		tokens_finish(&t);
	}
}

/* ---- Ollama streams ----------------------------------------------------------------------- */

static void test_ollama_chat_stream(void **state)
{
	(void)state;
	struct tokens t;
	tokens_init(&t);
	struct llm_result *r = parse_whole(LLM_OLLAMA, "ollama/chat_stream.ndjson", &t);
	assert_true(r->ok);
	assert_false(r->truncated);
	assert_string_equal(r->text, "The");
	assert_string_equal(t.text.data, "The");
	assert_string_equal(r->finish_reason, "stop");
	assert_true(r->usage.known);
	assert_int_equal(r->usage.prompt_tokens, 26);
	assert_int_equal(r->usage.completion_tokens, 282);
	/* The final "content":"" gives no token. */
	assert_int_equal(t.calls, 1);
	llm_result_free(r);
	tokens_finish(&t);
}

static void test_ollama_thinking_apart(void **state)
{
	(void)state;
	struct tokens t;
	tokens_init(&t);
	struct llm_result *r = parse_whole(LLM_OLLAMA, "ollama/chat_stream_thinking.ndjson", &t);
	assert_true(r->ok);
	assert_string_equal(r->text, "391");
	assert_string_equal(r->thinking, "The user asks 17*23.");
	assert_int_equal(r->thinking_len, strlen("The user asks 17*23."));
	assert_int_equal(t.thinking_calls, 2);
	assert_int_equal(t.calls, 1);
	assert_string_equal(t.thinking.data, "The user asks 17*23.");
	assert_int_equal(r->usage.prompt_tokens, 18);
	assert_int_equal(r->usage.completion_tokens, 4);
	llm_result_free(r);
	tokens_finish(&t);
}

/* Hangul tokens of 3-byte syllables, cut at every piece size: every token whole. */
static void test_ollama_korean_split_reads(void **state)
{
	(void)state;
	check_any_pieces(LLM_OLLAMA, "ollama/chat_stream_korean.ndjson",
	                 "안녕하세요! 노드 pve-b는 정상입니다.");
	check_any_pieces(LLM_OLLAMA, "ollama/generate_stream_cjk_head.ndjson", " 你好！");
}

static void test_ollama_midstream_error(void **state)
{
	(void)state;
	struct tokens t;
	tokens_init(&t);
	struct llm_result *r =
	        parse_whole(LLM_OLLAMA, "ollama/chat_stream_midstream_error.ndjson", &t);
	assert_false(r->ok);
	assert_true(r->truncated);
	assert_int_equal(r->err.code, ERR_SERVER);
	assert_string_equal(r->err.msg, "ollama: error in the answer: an error was encountered "
	                                "while running the model");
	/* What came before the error is kept. */
	assert_string_equal(r->text, "The node pve-a is");
	llm_result_free(r);
	tokens_finish(&t);

	tokens_init(&t);
	r = parse_whole(LLM_OLLAMA, "ollama/generate_stream_midstream_error.ndjson", &t);
	assert_false(r->ok);
	assert_string_equal(r->text, " Yes.Ican");
	assert_int_equal(err_exit_status(r->err.code), 3);
	llm_result_free(r);
	tokens_finish(&t);
}

static void test_ollama_cut_short_and_length(void **state)
{
	(void)state;
	/* The complete lines of a stream that stopped without done:true. */
	struct llm_stream st;
	struct tokens t;
	tokens_init(&t);
	llm_stream_init(&st, LLM_OLLAMA, on_token, &t);
	size_t len;
	char *text = support_fixture("llm", "ollama/chat_stream_truncated.ndjson", &len);
	char *line = strtok(text, "\n");
	int lines = 0;
	while (line) {
		if (strchr(line, '}') && lines < 2) {
			assert_true(llm_stream_unit(&st, line, strlen(line)));
		}
		lines++;
		line = strtok(NULL, "\n");
	}
	free(text);
	assert_false(llm_stream_end(&st));
	assert_int_equal(st.err.code, ERR_NETWORK);
	assert_non_null(strstr(st.err.msg, "ollama: the answer was cut short"));
	struct llm_result *r = llm_stream_result(&st, "qwen2.5:14b");
	assert_false(r->ok);
	assert_true(r->truncated);
	assert_string_equal(r->text, "Partial answer");
	assert_string_equal(r->model, "qwen2.5:14b");
	llm_result_free(r);
	llm_stream_finish(&st);
	tokens_finish(&t);

	/* num_predict reached: a whole answer, marked as cut at the limit. */
	tokens_init(&t);
	r = parse_whole(LLM_OLLAMA, "ollama/chat_stream_length.ndjson", &t);
	assert_true(r->ok);
	assert_true(r->truncated);
	assert_string_equal(r->finish_reason, "length");
	assert_string_equal(r->text, "One, two,");
	llm_result_free(r);
	tokens_finish(&t);

	/* A tool call only: no text, still a whole answer. */
	tokens_init(&t);
	r = parse_whole(LLM_OLLAMA, "ollama/chat_stream_tools.ndjson", &t);
	assert_true(r->ok);
	assert_string_equal(r->text, "");
	assert_int_equal(r->usage.completion_tokens, 15);
	llm_result_free(r);
	tokens_finish(&t);
}

static void test_malformed_line(void **state)
{
	(void)state;
	struct llm_stream st;
	llm_stream_init(&st, LLM_OLLAMA, NULL, NULL);
	assert_true(llm_stream_unit(&st, "", 0)); /* blank lines are skipped */
	assert_false(llm_stream_unit(&st, "{\"message\":", 11));
	assert_true(st.failed);
	assert_int_equal(st.err.code, ERR_MALFORMED);
	assert_true(str_has_prefix(st.err.msg, "ollama: a malformed piece of the answer stream"));
	/* After a failure nothing more is taken. */
	assert_false(llm_stream_unit(&st, "{\"message\":{\"content\":\"x\"}}", 27));
	assert_int_equal(st.text.len, 0);
	llm_stream_finish(&st);
	llm_stream_finish(NULL);
}

/* ---- Gemini streams ----------------------------------------------------------------------- */

static void test_gemini_stream(void **state)
{
	(void)state;
	struct tokens t;
	tokens_init(&t);
	struct llm_result *r = parse_whole(LLM_GEMINI, "gemini/stream_generate.sse", &t);
	assert_true(r->ok);
	assert_string_equal(r->text, "The capital of Wyoming is **Cheyenne**.\n");
	assert_string_equal(r->finish_reason, "STOP");
	assert_int_equal(t.calls, 3);
	/* usageMetadata is cumulative: the last event's counts. */
	assert_int_equal(r->usage.prompt_tokens, 7);
	assert_int_equal(r->usage.completion_tokens, 10);
	assert_int_equal(r->usage.thinking_tokens, 0);
	llm_result_free(r);
	tokens_finish(&t);
	check_any_pieces(LLM_GEMINI, "gemini/stream_generate.sse",
	                 "The capital of Wyoming is **Cheyenne**.\n");

	tokens_init(&t);
	r = parse_whole(LLM_GEMINI, "gemini/stream_generate_long.sse", &t);
	assert_true(r->ok);
	assert_int_equal(r->text_len, 8845);
	assert_true(str_has_prefix(r->text, "Okay, let's dive into the world of cats "));
	assert_int_equal(r->usage.prompt_tokens, 10);
	assert_int_equal(r->usage.completion_tokens, 1996);
	llm_result_free(r);
	tokens_finish(&t);
}

static void test_gemini_thinking(void **state)
{
	(void)state;
	struct tokens t;
	tokens_init(&t);
	struct llm_result *r = parse_whole(LLM_GEMINI, "gemini/stream_generate_thinking.sse", &t);
	assert_true(r->ok);
	assert_string_equal(r->text,
	                    "The sky is blue because tiny gas molecules in Earth's atmosphere "
	                    "scatter blue light from the sun more efficiently than other colors. "
	                    "Blue light has shorter, smaller wavelengths, causing it to be "
	                    "scattered in all directions, making the sky appear blue to our eyes.");
	assert_true(str_has_prefix(r->thinking, "**Exploring Sky Color**"));
	assert_non_null(strstr(r->thinking, "**Constructing a Concise Answer**"));
	assert_null(strstr(r->text, "Exploring"));
	assert_int_equal(t.thinking_calls, 3);
	assert_int_equal(t.calls, 2);
	/* Thinking is billed as output: 48 candidates + 540 thoughts. */
	assert_int_equal(r->usage.prompt_tokens, 10);
	assert_int_equal(r->usage.completion_tokens, 588);
	assert_int_equal(r->usage.thinking_tokens, 540);
	llm_result_free(r);
	tokens_finish(&t);

	tokens_init(&t);
	r = parse_whole(LLM_GEMINI, "gemini/stream_generate_25flash.sse", &t);
	assert_string_equal(r->text, "1, 2, 3");
	assert_int_equal(r->usage.prompt_tokens, 8);
	assert_int_equal(r->usage.completion_tokens, 30);
	assert_int_equal(r->usage.thinking_tokens, 23);
	llm_result_free(r);
	tokens_finish(&t);
}

static void test_gemini_cjk(void **state)
{
	(void)state;
	struct tokens t;
	tokens_init(&t);
	struct llm_result *r = parse_whole(LLM_GEMINI, "gemini/stream_utf8_cjk_vertex.sse", &t);
	assert_true(r->ok);
	assert_int_equal(r->text_len, 633);
	assert_true(str_has_prefix(r->text, "秋风瑟瑟，叶落纷纷，\n西风残照"));
	char *want = xstrdup(r->text);
	llm_result_free(r);
	tokens_finish(&t);
	check_any_pieces(LLM_GEMINI, "gemini/stream_utf8_cjk_vertex.sse", want);
	free(want);
}

static void test_gemini_prompt_blocked(void **state)
{
	(void)state;
	struct tokens t;
	tokens_init(&t);
	struct llm_result *r = parse_whole(LLM_GEMINI, "gemini/stream_prompt_blocked.sse", &t);
	assert_false(r->ok);
	assert_false(r->truncated);
	assert_int_equal(r->err.code, ERR_REJECTED);
	assert_int_equal(err_exit_status(r->err.code), 1);
	assert_string_equal(r->err.msg, "gemini: the prompt was blocked (SAFETY)");
	assert_string_equal(r->block_reason, "SAFETY");
	assert_string_equal(r->text, "");
	llm_result_free(r);
	tokens_finish(&t);

	/* With the API's explanation. */
	struct llm_stream st;
	llm_stream_init(&st, LLM_GEMINI, NULL, NULL);
	const char *ev = "{\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\","
	                 "\"blockReasonMessage\":\"Reasons\"}}";
	assert_true(llm_stream_unit(&st, ev, strlen(ev)));
	assert_false(llm_stream_end(&st));
	assert_string_equal(st.err.msg, "gemini: the prompt was blocked (PROHIBITED_CONTENT): "
	                                "Reasons");
	llm_stream_finish(&st);
}

static void test_gemini_stopped_answers(void **state)
{
	(void)state;
	struct tokens t;
	tokens_init(&t);
	struct llm_result *r = parse_whole(LLM_GEMINI, "gemini/stream_recitation.sse", &t);
	assert_false(r->ok);
	assert_true(r->truncated);
	assert_int_equal(r->err.code, ERR_REJECTED);
	assert_string_equal(r->err.msg,
	                    "gemini: the answer was stopped for reciting a source (RECITATION)");
	assert_string_equal(r->finish_reason, "RECITATION");
	assert_string_equal(r->text, "text1text2text3text4text5text6text7text8");
	assert_int_equal(r->usage.completion_tokens, 261);
	llm_result_free(r);
	tokens_finish(&t);

	tokens_init(&t);
	r = parse_whole(LLM_GEMINI, "gemini/stream_finish_safety.sse", &t);
	assert_false(r->ok);
	assert_string_equal(r->err.msg,
	                    "gemini: the answer was stopped by the safety filter (SAFETY)");
	assert_string_equal(r->text, "Safety error incoming in 5, 4, 3, 2...");
	llm_result_free(r);
	tokens_finish(&t);

	tokens_init(&t);
	r = parse_whole(LLM_GEMINI, "gemini/stream_max_tokens.sse", &t);
	assert_true(r->ok);
	assert_true(r->truncated);
	assert_string_equal(r->finish_reason, "MAX_TOKENS");
	assert_string_equal(r->text, "Once upon a time there was a");
	assert_int_equal(r->usage.prompt_tokens, 5);
	assert_int_equal(r->usage.completion_tokens, 8);
	llm_result_free(r);
	tokens_finish(&t);
}

/* Vertex's mid-stream failure: a bare JSON error object after two events. */
static void test_gemini_midstream_error(void **state)
{
	(void)state;
	struct tokens t;
	tokens_init(&t);
	struct llm_result *r =
	        parse_whole(LLM_GEMINI, "gemini/stream_error_midstream_vertex.sse", &t);
	assert_false(r->ok);
	assert_true(r->truncated);
	assert_int_equal(r->err.code, ERR_SERVER);
	assert_int_equal(r->err.http_status, 499);
	assert_string_equal(
	        r->err.msg,
	        "gemini: error in the answer: The operation was cancelled. (CANCELLED)");
	assert_string_equal(r->text, "First Second ");
	llm_result_free(r);
	tokens_finish(&t);

	/* A stream cut inside its last event, with no finish reason. */
	tokens_init(&t);
	struct llm_stream st;
	run_stream(LLM_GEMINI, "gemini/stream_truncated.sse", 0, &st, &t);
	assert_true(st.failed); /* the cut event is not JSON */
	assert_string_equal(st.text.data, "The capital of Wyoming");
	llm_stream_finish(&st);
	tokens_finish(&t);
}

/* ---- OpenAI-compatible streams ------------------------------------------------------------ */

static void test_openai_streams(void **state)
{
	(void)state;
	struct tokens t;
	tokens_init(&t);
	struct llm_result *r =
	        parse_whole(LLM_OPENAI, "openai/chat_stream_openai_gpt4omini.sse", &t);
	assert_true(r->ok);
	assert_string_equal(r->text, "1, 2, 3.");
	assert_string_equal(r->finish_reason, "stop");
	assert_false(r->usage.known);
	llm_result_free(r);
	tokens_finish(&t);

	tokens_init(&t);
	r = parse_whole(LLM_OPENAI, "openai/chat_stream_ollama_v1_usage.sse", &t);
	assert_true(r->ok);
	assert_string_equal(r->text, "Hello, 세계!");
	assert_true(r->usage.known);
	assert_int_equal(r->usage.prompt_tokens, 24);
	assert_int_equal(r->usage.completion_tokens, 4);
	llm_result_free(r);
	tokens_finish(&t);
	check_any_pieces(LLM_OPENAI, "openai/chat_stream_ollama_v1_usage.sse", "Hello, 세계!");
	check_any_pieces(LLM_OPENAI, "openai/chat_stream_vllm_korean.sse", "가요?");

	/* llama.cpp's stub: single newlines, a ':' comment, counts in "timings". */
	tokens_init(&t);
	r = parse_whole(LLM_OPENAI, "openai/chat_stream_llamacpp_min.sse", &t);
	assert_true(r->ok);
	assert_string_equal(r->text, "Hello");
	assert_int_equal(r->usage.prompt_tokens, 5);
	assert_int_equal(r->usage.completion_tokens, 2);
	llm_result_free(r);
	tokens_finish(&t);

	/* reasoning_content is thinking. */
	tokens_init(&t);
	r = parse_whole(LLM_OPENAI, "openai/chat_stream_reasoning_llamacpp.sse", &t);
	assert_true(r->ok);
	assert_string_equal(r->text, "391");
	assert_string_equal(r->thinking, "Think: 17*23 = 391.");
	assert_int_equal(r->usage.thinking_tokens, 7);
	assert_int_equal(r->usage.completion_tokens, 9);
	llm_result_free(r);
	tokens_finish(&t);
}

static void test_openai_failures(void **state)
{
	(void)state;
	struct tokens t;
	tokens_init(&t);
	struct llm_result *r =
	        parse_whole(LLM_OPENAI, "openai/chat_stream_error_midstream.sse", &t);
	assert_false(r->ok);
	assert_int_equal(r->err.code, ERR_SERVER);
	assert_string_equal(r->err.msg, "openai: error in the answer: an error was encountered "
	                                "while running the model");
	assert_string_equal(r->text, "Partial");
	llm_result_free(r);
	tokens_finish(&t);

	/* vLLM 0.9.0 without finish_reason, and the stream ends: cut short. */
	tokens_init(&t);
	r = parse_whole(LLM_OPENAI, "openai/chat_stream_vllm_v090_missing_finish_reason.sse", &t);
	assert_false(r->ok);
	assert_int_equal(r->err.code, ERR_NETWORK);
	assert_string_equal(r->text, "안녕");
	llm_result_free(r);
	tokens_finish(&t);

	tokens_init(&t);
	r = parse_whole(LLM_OPENAI, "openai/chat_stream_content_filter.sse", &t);
	assert_false(r->ok);
	assert_int_equal(r->err.code, ERR_REJECTED);
	assert_non_null(strstr(r->err.msg, "content_filter"));
	assert_string_equal(r->text, "I can");
	llm_result_free(r);
	tokens_finish(&t);
}

/* ---- error answers ------------------------------------------------------------------------ */

struct error_case {
	enum llm_provider p;
	long status;
	const char *file;
	double header_retry;
	enum err_code code;
	const char *msg; /* the whole message, or its start when it ends with "..." */
	double retry;
};

static void check_error_case(const struct error_case *c)
{
	size_t len = 0;
	char *body = c->file[0] == '<' ? xstrdup(c->file) : support_fixture("llm", c->file, &len);
	if (c->file[0] == '<') {
		len = strlen(body);
	}
	struct err e;
	double retry = -5;
	llm_parse_error(c->p, c->status, body, len, c->header_retry, &e, &retry);
	if (e.code != c->code) {
		fail_msg("%s: code %s, want %s (%s)", c->file, err_code_name(e.code),
		         err_code_name(c->code), e.msg);
	}
	assert_int_equal(e.http_status, c->status);
	size_t n = strlen(c->msg);
	if (n > 3 && strcmp(c->msg + n - 3, "...") == 0) {
		if (strncmp(e.msg, c->msg, n - 3) != 0) {
			fail_msg("%s: message '%s'", c->file, e.msg);
		}
	} else if (strcmp(e.msg, c->msg) != 0) {
		fail_msg("%s: message '%s'", c->file, e.msg);
	}
	if (fabs(retry - c->retry) > 1e-9) {
		fail_msg("%s: retry %.2f, want %.2f", c->file, retry, c->retry);
	}
	free(body);
}

/* A 200 whose body held no event at all (an HTML page, a JSON document, nothing) is malformed,
 * not an answer cut short, and says which url to check. */
static void test_stream_nothing_readable(void **state)
{
	(void)state;
	static const struct {
		enum llm_provider p;
		const char *want;
	} cases[] = {
	        {LLM_OLLAMA,
	         "ollama: the answer is not a chat stream (no event in it could be read): "
	         "is url in [ollama] the Ollama API?"},
	        {LLM_GEMINI,
	         "gemini: the answer is not a chat stream (no event in it could be read): "
	         "is url in [gemini] the Gemini API?"},
	        {LLM_OPENAI,
	         "openai: the answer is not a chat stream (no event in it could be read): "
	         "is url in [openai] the OpenAI-compatible API?"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct llm_stream st;
		llm_stream_init(&st, cases[i].p, NULL, NULL);
		assert_true(llm_stream_unit(&st, " \n", 2)); /* blank: not an event */
		assert_false(llm_stream_end(&st));
		assert_int_equal(st.err.code, ERR_MALFORMED);
		assert_int_equal(err_exit_status(st.err.code), 3);
		assert_string_equal(st.err.msg, cases[i].want);
		llm_stream_finish(&st);
	}
}

static void test_error_bodies(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
	        {LLM_GEMINI, 400, "gemini/error_400_invalid_api_key.json", -1, ERR_AUTH,
	         "gemini: 400 API key not valid. Please pass a valid API key.: check the key "
	         "(api_key_env in [gemini])",
	         -1},
	        {LLM_GEMINI, 403, "gemini/error_403_service_disabled.json", -1, ERR_AUTH,
	         "gemini: 403 Generative Language API has not been used in project 12345678...",
	         -1},
	        {LLM_GEMINI, 404, "gemini/error_404_unknown_model.json", -1, ERR_NOT_FOUND,
	         "gemini: 404 models/gemini-5.0-flash is not found for API version v1, or is not "
	         "supported for generateContent. Call ListModels to see the list of available "
	         "models and their supported methods.: check model in [gemini]",
	         -1},
	        {LLM_GEMINI, 429, "gemini/error_429.json", -1, ERR_RATE_LIMIT,
	         "gemini: 429 You exceeded your current quota, please check your plan and "
	         "billing details. For more information on this error, head to: "
	         "https://ai.google.dev/gemini-api/docs/rate-limits.: rate limited; wait and "
	         "try again; retry after 26 s",
	         26},
	        /* RetryInfo wins over the header. */
	        {LLM_GEMINI, 429, "gemini/error_429_array.json", 60, ERR_RATE_LIMIT,
	         "gemini: 429 Resource has been exhausted (e.g. check quota).: rate limited; wait "
	         "and try again; retry after 7 s",
	         7},
	        {LLM_GEMINI, 429, "gemini/error_429_retry_in_message.json", -1, ERR_RATE_LIMIT,
	         "gemini: 429 You exceeded your current quota, please check your plan and "
	         "billing details. Please retry in 20.04s.: rate limited; wait and try again; "
	         "retry after 21 s",
	         20.04},
	        {LLM_GEMINI, 429, "gemini/error_429_per_day.json", -1, ERR_RATE_LIMIT,
	         "gemini: 429 You exceeded your current quota, please check your plan and "
	         "billing details.: rate limited; wait and try again; the daily quota is used "
	         "up",
	         43},
	        /* No delay in the body: the Retry-After header's. */
	        {LLM_GEMINI, 429, "gemini/error_429_vertex_quota.json", 12, ERR_RATE_LIMIT,
	         "gemini: 429 Quota exceeded for quota metric 'Generate Content API requests per "
	         "minute' and limit 'GenerateContent request limit per minute for a region' of "
	         "service 'generativelanguage.googleapis.com' for consumer "
	         "'project_number:348715329010'.: rate limited; wait and try again; retry after "
	         "12 s",
	         12},
	        {LLM_GEMINI, 500, "gemini/error_500_internal.json", -1, ERR_SERVER,
	         "gemini: 500 An internal error has occurred. Please retry or report in "
	         "https://developers.generativeai.google/guide/troubleshooting: the server "
	         "failed; try again later",
	         -1},
	        {LLM_GEMINI, 503, "gemini/error_503_overloaded.json", -1, ERR_SERVER,
	         "gemini: 503 The model is overloaded. Please try again later.: the server "
	         "failed; try again later",
	         -1},
	        {LLM_OLLAMA, 404, "ollama/error_404_model_not_found.json", -1, ERR_NOT_FOUND,
	         "ollama: 404 model 'qwen2.5:14b' not found: check chat_model in [ollama] "
	         "('ollama pull' it?)",
	         -1},
	        {LLM_OLLAMA, 404, "ollama/error_404_model_not_found_pull.json", -1, ERR_NOT_FOUND,
	         "ollama: 404 model \"qwen2.5:14b\" not found, try pulling it first: check "
	         "chat_model in [ollama] ('ollama pull' it?)",
	         -1},
	        {LLM_OLLAMA, 500, "ollama/error.json", -1, ERR_SERVER,
	         "ollama: 500 the model failed to generate a response: the server failed; try "
	         "again later",
	         -1},
	        {LLM_OPENAI, 404, "openai/error_openai_404.json", -1, ERR_NOT_FOUND,
	         "openai: 404 The model `gpt-5-nano` does not exist or you do not have access to "
	         "it.: check url and model in [openai]",
	         -1},
	        {LLM_OPENAI, 401, "openai/error_openai_401.json", -1, ERR_AUTH,
	         "openai: 401 Incorrect API key provided: sk-test. You can find your API key at "
	         "https://platform.openai.com/account/api-keys.: check the key (api_key_env in "
	         "[openai])",
	         -1},
	        {LLM_OPENAI, 404, "openai/error_vllm_404.json", -1, ERR_NOT_FOUND,
	         "openai: 404 The model `qwen3-32b` does not exist.: check url and model in "
	         "[openai]",
	         -1},
	        {LLM_OPENAI, 503, "openai/error_llamacpp_503.json", 3, ERR_SERVER,
	         "openai: 503 Loading model: the server failed; try again later; retry after 3 s",
	         3},
	        /* Not JSON: a proxy's page, by its first line. */
	        {LLM_OPENAI, 502, "<html><title>502 Bad Gateway</title>\n<body>nginx</body>", -1,
	         ERR_SERVER,
	         "openai: 502 <html><title>502 Bad Gateway</title>: the server failed; try again "
	         "later",
	         -1},
	        {LLM_OLLAMA, 400, "<", -1, ERR_REJECTED, "ollama: 400 <", -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_error_case(&cases[i]);
	}
	/* An empty body still says something, and the 403's long message never pushes the hint
	 * out of the 512 bytes. */
	struct err e;
	llm_parse_error(LLM_OPENAI, 500, "", 0, -1, &e, NULL);
	assert_string_equal(e.msg, "openai: 500 error: the server failed; try again later");
	size_t len;
	char *body = support_fixture("llm", "gemini/error_403_service_disabled.json", &len);
	llm_parse_error(LLM_GEMINI, 403, body, len, -1, &e, NULL);
	assert_true(strlen(e.msg) < sizeof(e.msg));
	const char *hint = ": check the key (api_key_env in [gemini])";
	assert_string_equal(e.msg + strlen(e.msg) - strlen(hint), hint);
	free(body);
}

/* ---- model lists and embeddings ----------------------------------------------------------- */

static void test_models(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture("llm", "ollama/tags.json", &len);
	struct llm_models *heap = xcalloc(1, sizeof(*heap));
	struct llm_models m;
	struct err e;
	assert_true(llm_parse_models(body, len, heap, &e));
	assert_int_equal(heap->len, 2);
	assert_string_equal(heap->items[0].name, "deepseek-r1:latest");
	assert_int_equal(heap->items[0].size, 4683075271);
	assert_string_equal(heap->items[0].family, "qwen2");
	assert_string_equal(heap->items[0].parameter_size, "7.6B");
	assert_string_equal(heap->items[0].quantization, "Q4_K_M");
	assert_string_equal(heap->items[0].modified_at, "2025-05-10T08:06:48.639712648-07:00");
	assert_string_equal(heap->items[1].name, "llama3.2:latest");
	assert_null(heap->items[1].expires_at);
	llm_models_free(heap);
	free(body);

	body = support_fixture("llm", "ollama/ps.json", &len);
	heap = xcalloc(1, sizeof(*heap));
	assert_true(llm_parse_models(body, len, heap, &e));
	assert_int_equal(heap->len, 1);
	assert_string_equal(heap->items[0].name, "mistral:latest");
	assert_int_equal(heap->items[0].size_vram, 5137025024);
	assert_string_equal(heap->items[0].expires_at, "2024-06-04T14:38:31.83753-07:00");
	assert_true(llm_model_vram_share(&heap->items[0]) == 1.0);
	heap->items[0].size_vram = heap->items[0].size / 4;
	assert_true(fabs(llm_model_vram_share(&heap->items[0]) - 0.25) < 1e-6);
	heap->items[0].size = 0;
	assert_true(llm_model_vram_share(&heap->items[0]) < 0);
	llm_models_free(heap);
	free(body);

	assert_false(llm_parse_models("{\"nope\":1}", 10, &m, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	assert_false(llm_parse_models("<html>", 6, &m, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	llm_models_free(NULL);
}

static void test_embeddings(void **state)
{
	(void)state;
	size_t len;
	char *one = support_fixture("llm", "ollama/embed.json", &len);
	struct llm_embeddings *acc = xcalloc(1, sizeof(*acc));
	struct err e;
	assert_true(llm_parse_embed(one, len, acc, &e));
	assert_int_equal(acc->n, 1);
	assert_int_equal(acc->dim, 10);
	assert_true(fabsf(acc->vectors[0] - 0.010071029f) < 1e-7f);
	assert_true(fabsf(acc->vectors[9] - 0.031952348f) < 1e-7f);
	assert_int_equal(acc->prompt_tokens, 8);
	assert_string_equal(acc->model, "all-minilm");
	free(one);
	/* A second batch appends, in order. */
	char *two = support_fixture("llm", "ollama/embed_multi.json", &len);
	assert_true(llm_parse_embed(two, len, acc, &e));
	assert_int_equal(acc->n, 3);
	assert_true(fabsf(acc->vectors[2 * 10 + 0] - -0.0098027075f) < 1e-7f);
	free(two);
	/* A vector of another dimension is refused and changes nothing. */
	const char *odd = "{\"embeddings\":[[1,2,3]]}";
	assert_false(llm_parse_embed(odd, strlen(odd), acc, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	assert_string_equal(e.msg, "ollama: embedding 3 has 3 numbers, expected 10");
	assert_int_equal(acc->n, 3);
	const char *bad = "{\"embeddings\":[[1,2,3,4,5,6,7,8,9,\"x\"]]}";
	assert_false(llm_parse_embed(bad, strlen(bad), acc, &e));
	assert_int_equal(acc->n, 3);
	llm_embeddings_free(acc);
	llm_embeddings_free(NULL);
}

/* ---- what each provider is sent ----------------------------------------------------------- */

/* The config every wire test uses: all three providers on the test server's port. */
#define TEST_INI                                                                                   \
	"[ollama]\n"                                                                               \
	"url = http://127.0.0.1:%d/\n"                                                             \
	"chat_model = qwen2.5:14b\n"                                                               \
	"num_ctx = 16384\n"                                                                        \
	"keep_alive = 10m\n"                                                                       \
	"[gemini]\n"                                                                               \
	"url = http://127.0.0.1:%d\n"                                                              \
	"api_key = test-gemini-key-4711\n"                                                         \
	"model = gemini-test\n"                                                                    \
	"[openai]\n"                                                                               \
	"url = http://127.0.0.1:%d/v1\n"                                                           \
	"model = local\n"                                                                          \
	"api_key = sk-test-openai\n"

static void load_config(struct config *cfg, int port)
{
	char *text = xasprintf(TEST_INI, port, port, port);
	struct err e;
	if (!config_load_string(cfg, "test.ini", text, &e)) {
		fail_msg("config: %s", e.msg);
	}
	free(text);
}

static json_t *body_json(const struct config *cfg, const struct llm_request *req, const char *model)
{
	char *body = llm_request_body(cfg, req, model);
	json_error_t je;
	json_t *root = json_loads(body, 0, &je);
	if (!root) {
		fail_msg("body is not JSON: %s: %s", je.text, body);
	}
	free(body);
	return root;
}

static void test_request_bodies(void **state)
{
	(void)state;
	struct config cfg;
	load_config(&cfg, 1);
	struct llm_message msgs[] = {
	        {LLM_ROLE_SYSTEM, "Answer briefly."},
	        {LLM_ROLE_USER, "How is pve-b?"},
	        {LLM_ROLE_ASSISTANT, "Fine."},
	        {LLM_ROLE_USER, "And \xff the GPU?"}, /* a stray byte: sent as U+FFFD */
	};
	struct llm_request req;
	llm_request_init(&req, LLM_OLLAMA);
	assert_true(isnan(req.temperature));
	req.messages = msgs;
	req.n_messages = 4;
	req.system = "You run a home lab.";

	/* Ollama: num_ctx always, from the config; keep_alive from the config; no temperature. */
	json_t *b = body_json(&cfg, &req, "qwen2.5:14b");
	assert_string_equal(json_string_value(json_object_get(b, "model")), "qwen2.5:14b");
	assert_true(json_is_true(json_object_get(b, "stream")));
	assert_int_equal(json_integer_value(json_path(b, "options", "num_ctx", NULL)), 16384);
	assert_null(json_path(b, "options", "temperature", NULL));
	assert_string_equal(json_string_value(json_object_get(b, "keep_alive")), "10m");
	json_t *m = json_object_get(b, "messages");
	assert_int_equal(json_array_size(m), 5);
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "role")),
	                    "system");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "content")),
	                    "You run a home lab.");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 3), "role")),
	                    "assistant");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 4), "content")),
	                    "And \xef\xbf\xbd the GPU?");
	json_decref(b);
	/* Per request: num_ctx, temperature, a numeric keep_alive, max tokens. */
	req.num_ctx = 32768;
	req.temperature = 0.2;
	req.keep_alive = "-1";
	req.max_tokens = 256;
	b = body_json(&cfg, &req, "qwen2.5:14b");
	assert_int_equal(json_integer_value(json_path(b, "options", "num_ctx", NULL)), 32768);
	assert_true(fabs(json_real_value(json_path(b, "options", "temperature", NULL)) - 0.2) <
	            1e-12);
	assert_int_equal(json_integer_value(json_path(b, "options", "num_predict", NULL)), 256);
	assert_int_equal(json_integer_value(json_object_get(b, "keep_alive")), -1);
	json_decref(b);
	char *url = llm_request_url(&cfg, &req, "qwen2.5:14b");
	assert_string_equal(url, "http://127.0.0.1:1/api/chat"); /* the trailing '/' is gone */
	free(url);

	/* Gemini: user/model roles, one systemInstruction, the key nowhere in the URL. */
	req.provider = LLM_GEMINI;
	b = body_json(&cfg, &req, "gemini-test");
	json_t *c = json_object_get(b, "contents");
	assert_int_equal(json_array_size(c), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "role")),
	                    "user");
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 1), "role")),
	                    "model");
	json_t *part0 = json_array_get(json_object_get(json_array_get(c, 0), "parts"), 0);
	assert_string_equal(json_string_value(json_object_get(part0, "text")), "How is pve-b?");
	json_t *sys = json_array_get(json_path(b, "systemInstruction", "parts", NULL), 0);
	assert_string_equal(json_string_value(json_object_get(sys, "text")),
	                    "You run a home lab.\n\nAnswer briefly.");
	assert_int_equal(
	        json_integer_value(json_path(b, "generationConfig", "maxOutputTokens", NULL)), 256);
	assert_null(json_object_get(b, "model"));
	json_decref(b);
	url = llm_request_url(&cfg, &req, "models/gemini-test");
	assert_string_equal(
	        url, "http://127.0.0.1:1/v1beta/models/gemini-test:streamGenerateContent?alt=sse");
	assert_null(strstr(url, "4711"));
	free(url);

	/* OpenAI: usage asked for in the stream. */
	req.provider = LLM_OPENAI;
	req.temperature = NAN;
	b = body_json(&cfg, &req, "local");
	assert_true(json_is_true(json_path(b, "stream_options", "include_usage", NULL)));
	assert_int_equal(json_integer_value(json_object_get(b, "max_tokens")), 256);
	assert_null(json_object_get(b, "temperature"));
	assert_null(json_object_get(b, "options"));
	assert_int_equal(json_array_size(json_object_get(b, "messages")), 5);
	json_decref(b);
	url = llm_request_url(&cfg, &req, "local");
	assert_string_equal(url, "http://127.0.0.1:1/v1/chat/completions");
	free(url);
	config_finish(&cfg);
}

static void test_not_configured(void **state)
{
	(void)state;
	struct config cfg;
	struct err e;
	assert_true(config_load_string(&cfg, "empty.ini", "[ui]\nrefresh = 5\n", &e));
	/* Ollama has defaults: its URL and chat_model. */
	assert_true(llm_ready(&cfg, LLM_OLLAMA, NULL, &e));
	assert_string_equal(llm_default_model(&cfg, LLM_OLLAMA), "qwen2.5:14b");
	assert_false(llm_ready(&cfg, LLM_GEMINI, NULL, &e));
	assert_int_equal(e.code, ERR_CONFIG);
	assert_int_equal(err_exit_status(e.code), 2);
	assert_non_null(strstr(e.msg, "[gemini]"));
	assert_non_null(strstr(e.msg, "api_key_env"));
	assert_non_null(strstr(e.msg, "empty.ini"));
	assert_false(llm_ready(&cfg, LLM_OPENAI, NULL, &e));
	assert_non_null(strstr(e.msg, "[openai]"));
	assert_non_null(strstr(e.msg, "url ="));
	config_finish(&cfg);

	/* A [gemini] section whose key variable is not set. */
	unsetenv("LABDECK_TEST_NO_SUCH_KEY");
	assert_true(config_load_string(&cfg, "g.ini",
	                               "[gemini]\napi_key_env = LABDECK_TEST_NO_SUCH_KEY\n"
	                               "[openai]\nurl = http://127.0.0.1:1/v1\n",
	                               &e));
	assert_false(llm_ready(&cfg, LLM_GEMINI, NULL, &e));
	assert_int_equal(e.code, ERR_CONFIG);
	assert_true(str_has_prefix(e.msg, "gemini: the API key is not set"));
	assert_non_null(strstr(e.msg, "api_key_env"));
	/* [openai] without a model: --model fills in. */
	assert_false(llm_ready(&cfg, LLM_OPENAI, NULL, &e));
	assert_non_null(strstr(e.msg, "model = NAME"));
	assert_true(llm_ready(&cfg, LLM_OPENAI, "local", &e));
	config_finish(&cfg);

	enum llm_provider p;
	assert_true(llm_provider_from_name("gemini", &p));
	assert_int_equal(p, LLM_GEMINI);
	assert_false(llm_provider_from_name("claude", &p));
	assert_string_equal(llm_provider_name(LLM_OPENAI), "openai");
	assert_true(llm_provider_is_cloud(LLM_GEMINI));
	assert_false(llm_provider_is_cloud(LLM_OLLAMA));
}

/* ---- llm.c against a server --------------------------------------------------------------- */

/* The server: answers every request with the configured status and body, streamed in pieces of
 * `piece` bytes every `gap_ms`, and records what it got. */
struct server {
	struct event_base *base;
	struct event *tick;
	struct evhttp *http;
	int port;
	/* the answer */
	int status;
	const char *file; /* fixture to send, or NULL: `body` */
	const char *body;
	const char *retry_after; /* a Retry-After header, or NULL */
	size_t piece;
	int gap_ms;
	size_t stall_after; /* stop sending (but keep the connection) after this many bytes */
	/* what came */
	int hits;
	char method[8];
	char uri[512];
	char goog_key[128];
	char authorization[128];
	char accept[64];
	struct buf req_body;
	/* the reply being streamed */
	struct evhttp_request *streaming;
	struct event *timer;
	char *out;
	size_t out_len, sent;
	bool ended;
};

static void header_copy(struct evkeyvalq *h, const char *name, char *out, size_t n)
{
	const char *v = evhttp_find_header(h, name);
	snprintf(out, n, "%s", v ? v : "");
}

static void on_stream_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct server *s = arg;
	if (s->sent < s->out_len && (!s->stall_after || s->sent < s->stall_after)) {
		size_t n = s->out_len - s->sent < s->piece ? s->out_len - s->sent : s->piece;
		if (s->stall_after && n > s->stall_after - s->sent) {
			n = s->stall_after - s->sent;
		}
		support_send_chunk(s->streaming, s->out + s->sent, n);
		s->sent += n;
		struct timeval gap = {0, s->gap_ms * 1000};
		evtimer_add(s->timer, &gap);
		return;
	}
	if (s->stall_after) {
		return; /* hold the connection open, send nothing more */
	}
	evhttp_send_reply_end(s->streaming);
	s->streaming = NULL;
	s->ended = true;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;
	s->hits++;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	snprintf(s->method, sizeof(s->method), "%s", cmd == EVHTTP_REQ_POST ? "POST" : "GET");
	snprintf(s->uri, sizeof(s->uri), "%s", evhttp_request_get_uri(req));
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	header_copy(in, "x-goog-api-key", s->goog_key, sizeof(s->goog_key));
	header_copy(in, "Authorization", s->authorization, sizeof(s->authorization));
	header_copy(in, "Accept", s->accept, sizeof(s->accept));
	struct evbuffer *b = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(b);
	buf_finish(&s->req_body);
	buf_init(&s->req_body);
	char *copy = xmalloc(n + 1);
	evbuffer_copyout(b, copy, n);
	buf_append(&s->req_body, copy, n);
	free(copy);

	free(s->out);
	if (s->file) {
		s->out = support_fixture("llm", s->file, &s->out_len);
	} else {
		s->out = xstrdup(s->body ? s->body : "");
		s->out_len = strlen(s->out);
	}
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	if (s->retry_after) {
		evhttp_add_header(out, "Retry-After", s->retry_after);
	}
	if (s->status != 200) {
		support_reply(req, s->status, "Error", "application/json", s->out, s->out_len);
		return;
	}
	evhttp_add_header(out, "Content-Type", "text/event-stream");
	assert_null(s->streaming); /* one streamed answer at a time */
	evhttp_send_reply_start(req, 200, "OK");
	s->streaming = req;
	s->sent = 0;
	s->ended = false;
	if (!s->timer) {
		s->timer = evtimer_new(s->base, on_stream_timer, s);
	}
	struct timeval now = {0, 0};
	evtimer_add(s->timer, &now);
}

struct client {
	struct server srv;
	struct http *http;
	struct config cfg;
	struct llm *llm;
	/* one chat */
	struct tokens t;
	struct llm_result *res;
	int done_calls;
	int tokens_after_done;
	struct llm_call *call;
	int cancel_at_token; /* llm_cancel from inside on_token at this token (1-based); 0: no */
	struct llm_result *cancelled;
	/* other calls */
	struct llm_models *models;
	struct err err;
	bool other_done;
};

static int setup(void **state)
{
	struct client *c = xcalloc(1, sizeof(*c));
	c->srv.base = support_base_new(&c->srv.tick);
	c->srv.http = support_server_new(c->srv.base, on_request, &c->srv, &c->srv.port);
	evhttp_set_allowed_methods(c->srv.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	buf_init(&c->srv.req_body);
	c->srv.status = 200;
	c->srv.piece = 7;
	c->srv.gap_ms = 1;
	c->http = http_create(c->srv.base);
	load_config(&c->cfg, c->srv.port);
	c->llm = llm_create(c->http, &c->cfg);
	tokens_init(&c->t);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct client *c = *state;
	llm_destroy(c->llm);
	http_destroy(c->http);
	if (c->srv.streaming) {
		evhttp_send_reply_end(c->srv.streaming);
	}
	if (c->srv.timer) {
		event_free(c->srv.timer);
	}
	evhttp_free(c->srv.http);
	support_base_free(c->srv.base, c->srv.tick);
	buf_finish(&c->srv.req_body);
	free(c->srv.out);
	config_finish(&c->cfg);
	tokens_finish(&c->t);
	llm_result_free(c->res);
	llm_result_free(c->cancelled);
	llm_models_free(c->models);
	free(c);
	return 0;
}

static void client_token(void *ud, const char *text, size_t len, bool thinking)
{
	struct client *c = ud;
	if (c->done_calls) {
		c->tokens_after_done++;
	}
	on_token(&c->t, text, len, thinking);
	if (c->cancel_at_token && c->t.calls + c->t.thinking_calls == c->cancel_at_token) {
		c->cancelled = llm_cancel(c->call);
		c->call = NULL;
	}
}

static void client_done(void *ud, struct llm_result *res)
{
	struct client *c = ud;
	c->done_calls++;
	c->res = res;
	c->call = NULL;
}

static void chat(struct client *c, enum llm_provider p, const char *text)
{
	struct llm_message msg = {LLM_ROLE_USER, text};
	struct llm_request req;
	llm_request_init(&req, p);
	req.messages = &msg;
	req.n_messages = 1;
	struct llm_callbacks cb = {client_token, client_done, c};
	struct err e;
	c->call = llm_chat(c->llm, &req, &cb, &e);
	if (!c->call) {
		fail_msg("llm_chat: %s", e.msg);
	}
}

static json_t *request_json(struct client *c)
{
	json_t *root = json_loadb(c->srv.req_body.data, c->srv.req_body.len, 0, NULL);
	assert_non_null(root);
	return root;
}

static void test_wire_ollama_korean(void **state)
{
	struct client *c = *state;
	c->srv.file = "ollama/chat_stream_korean.ndjson";
	c->srv.piece = 2; /* every Hangul syllable (3 bytes) is cut between two reads */
	chat(c, LLM_OLLAMA, "pve-b 상태는?");
	SUPPORT_WAIT_FOR(c->srv.base, c->done_calls == 1, 10000);
	assert_true(c->res->ok);
	assert_string_equal(c->res->text, "안녕하세요! 노드 pve-b는 정상입니다.");
	assert_string_equal(c->t.text.data, c->res->text);
	assert_int_equal(c->t.broken, 0);
	assert_int_equal(c->t.calls, 7);
	assert_int_equal(c->res->usage.prompt_tokens, 31);
	assert_int_equal(c->res->usage.completion_tokens, 7);
	assert_string_equal(c->res->model, "qwen2.5:14b");
	/* The request: POST /api/chat, the configured model, num_ctx always sent. */
	assert_string_equal(c->srv.method, "POST");
	assert_string_equal(c->srv.uri, "/api/chat");
	assert_string_equal(c->srv.accept, "application/x-ndjson");
	json_t *b = request_json(c);
	assert_string_equal(json_string_value(json_object_get(b, "model")), "qwen2.5:14b");
	assert_int_equal(json_integer_value(json_path(b, "options", "num_ctx", NULL)), 16384);
	json_t *m0 = json_array_get(json_object_get(b, "messages"), 0);
	assert_string_equal(json_string_value(json_object_get(m0, "content")), "pve-b 상태는?");
	json_decref(b);
	assert_int_equal(c->srv.hits, 1);
	assert_int_equal(http_pending(c->http), 0);
}

static void test_wire_gemini_key_in_header_only(void **state)
{
	struct client *c = *state;
	c->srv.file = "gemini/stream_generate_thinking.sse";
	c->srv.piece = 64;
	chat(c, LLM_GEMINI, "Why is the sky blue?");
	SUPPORT_WAIT_FOR(c->srv.base, c->done_calls == 1, 10000);
	assert_true(c->res->ok);
	assert_string_equal(c->srv.goog_key, "test-gemini-key-4711");
	assert_string_equal(c->srv.uri, "/v1beta/models/gemini-test:streamGenerateContent?alt=sse");
	assert_null(strstr(c->srv.uri, "4711"));
	assert_null(strstr(c->srv.req_body.data, "4711"));
	assert_string_equal(c->srv.authorization, "");
	assert_string_equal(c->srv.accept, "text/event-stream");
	assert_true(str_has_prefix(c->res->text, "The sky is blue because"));
	assert_true(str_has_prefix(c->res->thinking, "**Exploring Sky Color**"));
	assert_int_equal(c->res->usage.completion_tokens, 588);
	assert_int_equal(c->res->usage.thinking_tokens, 540);
	assert_true(c->t.thinking_calls > 0);
}

static void test_wire_gemini_429_not_retried(void **state)
{
	struct client *c = *state;
	c->srv.status = 429;
	c->srv.file = "gemini/error_429.json";
	c->srv.retry_after = "3";
	chat(c, LLM_GEMINI, "hello");
	SUPPORT_WAIT_FOR(c->srv.base, c->done_calls == 1, 10000);
	assert_false(c->res->ok);
	assert_int_equal(c->res->err.code, ERR_RATE_LIMIT);
	assert_int_equal(c->res->err.http_status, 429);
	/* The body's RetryInfo (26s) wins over the header's 3. */
	assert_true(c->res->retry_after == 26);
	assert_non_null(strstr(c->res->err.msg, "; retry after 26 s"));
	assert_true(str_has_prefix(c->res->err.msg, "gemini: 429 You exceeded your current quota"));
	/* A chat is a POST: never sent twice, even for a 429 with Retry-After. */
	support_run_for(c->srv.base, 300);
	assert_int_equal(c->srv.hits, 1);
	assert_int_equal(c->done_calls, 1);
}

static void test_wire_ollama_errors(void **state)
{
	struct client *c = *state;
	c->srv.file = "ollama/chat_stream_midstream_error.ndjson";
	chat(c, LLM_OLLAMA, "hello");
	SUPPORT_WAIT_FOR(c->srv.base, c->done_calls == 1, 10000);
	assert_false(c->res->ok);
	assert_int_equal(c->res->err.code, ERR_SERVER);
	assert_non_null(
	        strstr(c->res->err.msg, "an error was encountered while running the model"));
	assert_string_equal(c->res->text, "The node pve-a is");
	assert_string_equal(c->t.text.data, "The node pve-a is");
	llm_result_free(c->res);
	c->res = NULL;
	/* The server writes the rest into the closed connection before the next request. */
	SUPPORT_WAIT_FOR(c->srv.base, c->srv.ended, 5000);

	c->done_calls = 0;
	c->srv.status = 404;
	c->srv.file = "ollama/error_404_model_not_found.json";
	chat(c, LLM_OLLAMA, "hello");
	SUPPORT_WAIT_FOR(c->srv.base, c->done_calls == 1, 10000);
	assert_false(c->res->ok);
	assert_int_equal(c->res->err.code, ERR_NOT_FOUND);
	assert_int_equal(err_exit_status(c->res->err.code), 1);
	assert_string_equal(c->res->err.msg, "ollama: 404 model 'qwen2.5:14b' not found: check "
	                                     "chat_model in [ollama] ('ollama pull' it?)");
	llm_result_free(c->res);
	c->res = NULL;

	/* A stream that ends in the middle of a line, without done:true: cut short, text kept. */
	c->done_calls = 0;
	c->srv.status = 200;
	c->srv.file = "ollama/chat_stream_truncated.ndjson";
	chat(c, LLM_OLLAMA, "hello");
	SUPPORT_WAIT_FOR(c->srv.base, c->done_calls == 1, 10000);
	assert_false(c->res->ok);
	assert_int_equal(c->res->err.code, ERR_NETWORK);
	assert_true(str_has_prefix(c->res->err.msg, "ollama: the answer was cut short"));
	assert_string_equal(c->res->text, "Partial answer");
}

static void test_wire_openai(void **state)
{
	struct client *c = *state;
	c->srv.file = "openai/chat_stream_ollama_v1_usage.sse";
	chat(c, LLM_OPENAI, "hello");
	SUPPORT_WAIT_FOR(c->srv.base, c->done_calls == 1, 10000);
	assert_true(c->res->ok);
	assert_string_equal(c->srv.uri, "/v1/chat/completions");
	assert_string_equal(c->srv.authorization, "Bearer sk-test-openai");
	assert_string_equal(c->srv.goog_key, "");
	json_t *b = request_json(c);
	assert_string_equal(json_string_value(json_object_get(b, "model")), "local");
	assert_true(json_is_true(json_path(b, "stream_options", "include_usage", NULL)));
	json_decref(b);
	assert_string_equal(c->res->text, "Hello, 세계!");
	assert_int_equal(c->res->usage.prompt_tokens, 24);
	assert_int_equal(c->res->usage.completion_tokens, 4);
}

/* Esc: the stream stops, what came is kept, nothing is called afterwards. */
static void test_wire_cancel(void **state)
{
	struct client *c = *state;
	c->srv.file = "ollama/chat_stream_korean.ndjson";
	c->srv.piece = 40;
	c->srv.gap_ms = 40;
	chat(c, LLM_OLLAMA, "hello");
	SUPPORT_WAIT_FOR(c->srv.base, c->t.calls >= 1, 10000);
	int calls = c->t.calls;
	struct llm_result *r = llm_cancel(c->call);
	c->call = NULL;
	assert_non_null(r);
	assert_true(r->cancelled);
	assert_true(r->truncated);
	assert_false(r->ok);
	assert_int_equal(r->err.code, ERR_CANCELLED);
	assert_string_equal(r->text, c->t.text.data);
	assert_true(r->text_len > 0);
	llm_result_free(r);
	support_run_for(c->srv.base, 400);
	assert_int_equal(c->done_calls, 0);
	assert_int_equal(c->t.calls, calls);
	assert_int_equal(http_pending(c->http), 0);
	assert_null(llm_cancel(NULL));
}

static void test_wire_cancel_from_on_token(void **state)
{
	struct client *c = *state;
	c->srv.file = "gemini/stream_generate_long.sse";
	c->srv.piece = 300;
	c->cancel_at_token = 3;
	chat(c, LLM_GEMINI, "cats and dogs");
	SUPPORT_WAIT_FOR(c->srv.base, c->cancelled != NULL, 10000);
	assert_true(c->cancelled->cancelled);
	assert_string_equal(c->cancelled->text, "Okay, let's dive into the world of cats and "
	                                        "dogs! This is a broad topic, so I'");
	support_run_for(c->srv.base, 300);
	assert_int_equal(c->done_calls, 0);
	assert_int_equal(c->t.calls, 3);
	assert_int_equal(http_pending(c->http), 0);
}

/* A server that stops sending: the idle timeout ends the chat, the text is kept. */
static void test_wire_stall(void **state)
{
	struct client *c = *state;
	c->srv.file = "ollama/chat_stream_korean.ndjson";
	c->srv.piece = 1000;
	c->srv.stall_after = 200;
	llm_set_idle_timeout(c->llm, 1000);
	int64_t t0 = now_mono_ms();
	chat(c, LLM_OLLAMA, "hello");
	SUPPORT_WAIT_FOR(c->srv.base, c->done_calls == 1, 8000);
	assert_true(now_mono_ms() - t0 >= 900);
	assert_false(c->res->ok);
	assert_int_equal(c->res->err.code, ERR_TIMEOUT);
	assert_non_null(strstr(c->res->err.msg, "stalled"));
	assert_string_equal(c->res->text, "안녕");
}

static void on_models(void *ud, struct llm_models *m, const struct err *err)
{
	struct client *c = ud;
	c->models = m;
	if (err) {
		c->err = *err;
	}
	c->other_done = true;
}

/* A refused key: the hint names the key the config read it from (api_key, api_key_env,
 * api_key_file), or says none is set. */
static void key_hint_case(struct client *c, enum llm_provider p, const char *ini_key,
                          const char *want)
{
	char dir[] = "/tmp/labdeck-keyhint-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/key", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("sk-from-a-file\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
	setenv("LABDECK_TEST_KEY_HINT", "sk-from-the-env", 1);
	const char *sec = p == LLM_GEMINI ? "gemini" : "openai";
	const char *value = str_eq(ini_key, "api_key_file")  ? path
	                    : str_eq(ini_key, "api_key_env") ? "LABDECK_TEST_KEY_HINT"
	                                                     : "sk-plain";
	char *text = ini_key[0]
	                     ? xasprintf("[%s]\nurl = http://127.0.0.1:%d/v1\nmodel = m\n%s = %s\n",
	                                 sec, c->srv.port, ini_key, value)
	                     : xasprintf("[%s]\nurl = http://127.0.0.1:%d/v1\nmodel = m\n", sec,
	                                 c->srv.port);
	config_finish(&c->cfg);
	struct err e;
	if (!config_load_string(&c->cfg, "test.ini", text, &e)) {
		fail_msg("config: %s", e.msg);
	}
	llm_result_free(c->res);
	c->res = NULL;
	c->done_calls = 0;
	c->srv.status = p == LLM_GEMINI ? 400 : 401;
	c->srv.file = p == LLM_GEMINI ? "gemini/error_400_invalid_api_key.json"
	                              : "openai/error_openai_401.json";
	chat(c, p, "hello");
	SUPPORT_WAIT_FOR(c->srv.base, c->done_calls == 1, 10000);
	assert_false(c->res->ok);
	assert_int_equal(c->res->err.code, ERR_AUTH);
	if (!strstr(c->res->err.msg, want)) {
		fail_msg("%s with %s: %s lacks %s", sec, ini_key, c->res->err.msg, want);
	}
	assert_null(strstr(c->res->err.msg, value)); /* never the key, nor where it is */
	unlink(path);
	rmdir(dir);
	free(path);
	free(text);
	unsetenv("LABDECK_TEST_KEY_HINT");
}

static void test_wire_key_hint_names_the_key_used(void **state)
{
	struct client *c = *state;
	key_hint_case(c, LLM_OPENAI, "api_key_file", ": check the key (api_key_file in [openai])");
	key_hint_case(c, LLM_OPENAI, "api_key_env", ": check the key (api_key_env in [openai])");
	key_hint_case(c, LLM_OPENAI, "api_key", ": check the key (api_key in [openai])");
	key_hint_case(c, LLM_OPENAI, "",
	              ": check the key (no key is set: add api_key_env = VARIABLE or "
	              "api_key_file = PATH to [openai])");
	key_hint_case(c, LLM_GEMINI, "api_key_file", ": check the key (api_key_file in [gemini])");
	key_hint_case(c, LLM_GEMINI, "api_key_env", ": check the key (api_key_env in [gemini])");
}

static void test_wire_tags_ps(void **state)
{
	struct client *c = *state;
	c->srv.status = 200;
	/* Model lists are plain (not streamed) answers: send them as an error-free body. */
	c->srv.file = "ollama/ps.json";
	c->srv.piece = 4096;
	llm_ollama_ps(c->llm, on_models, c);
	SUPPORT_WAIT_FOR(c->srv.base, c->other_done, 10000);
	assert_string_equal(c->srv.method, "GET");
	assert_string_equal(c->srv.uri, "/api/ps");
	assert_non_null(c->models);
	assert_int_equal(c->models->len, 1);
	assert_true(llm_model_vram_share(&c->models->items[0]) == 1.0);
	llm_models_free(c->models);
	c->models = NULL;

	c->other_done = false;
	c->srv.file = "ollama/tags.json";
	llm_ollama_tags(c->llm, on_models, c);
	SUPPORT_WAIT_FOR(c->srv.base, c->other_done, 10000);
	assert_string_equal(c->srv.uri, "/api/tags");
	assert_int_equal(c->models->len, 2);
}

static void test_wire_not_configured(void **state)
{
	struct client *c = *state;
	struct config empty;
	struct err e;
	assert_true(config_load_string(&empty, "none.ini", "", &e));
	struct llm *l = llm_create(c->http, &empty);
	struct llm_message msg = {LLM_ROLE_USER, "hi"};
	struct llm_request req;
	llm_request_init(&req, LLM_GEMINI);
	req.messages = &msg;
	req.n_messages = 1;
	struct llm_callbacks cb = {client_token, client_done, c};
	assert_null(llm_chat(l, &req, &cb, &e));
	assert_int_equal(e.code, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "[gemini]"));
	support_run_for(c->srv.base, 50);
	assert_int_equal(c->done_calls, 0);
	assert_int_equal(c->srv.hits, 0);
	/* Destroying with a chat still running calls nothing. */
	chat(c, LLM_OLLAMA, "x");
	llm_destroy(l);
	config_finish(&empty);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ollama_chat_stream),
	        cmocka_unit_test(test_ollama_thinking_apart),
	        cmocka_unit_test(test_ollama_korean_split_reads),
	        cmocka_unit_test(test_ollama_midstream_error),
	        cmocka_unit_test(test_ollama_cut_short_and_length),
	        cmocka_unit_test(test_malformed_line),
	        cmocka_unit_test(test_gemini_stream),
	        cmocka_unit_test(test_gemini_thinking),
	        cmocka_unit_test(test_gemini_cjk),
	        cmocka_unit_test(test_gemini_prompt_blocked),
	        cmocka_unit_test(test_gemini_stopped_answers),
	        cmocka_unit_test(test_gemini_midstream_error),
	        cmocka_unit_test(test_openai_streams),
	        cmocka_unit_test(test_openai_failures),
	        cmocka_unit_test(test_error_bodies),
	        cmocka_unit_test(test_stream_nothing_readable),
	        cmocka_unit_test(test_models),
	        cmocka_unit_test(test_embeddings),
	        cmocka_unit_test(test_request_bodies),
	        cmocka_unit_test(test_not_configured),
	        cmocka_unit_test_setup_teardown(test_wire_ollama_korean, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wire_gemini_key_in_header_only, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_wire_gemini_429_not_retried, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wire_ollama_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wire_openai, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wire_cancel, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wire_cancel_from_on_token, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wire_stall, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wire_key_hint_names_the_key_used, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_wire_tags_ps, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wire_not_configured, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
