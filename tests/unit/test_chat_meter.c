/* test_chat_meter.c: what a conversation cost, as the status line shows it: cloud tokens and
 * their price, local tokens, a cached answer that costs nothing, and the share of cloud prompt
 * tokens the local-first pipeline saved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>

#include "chat_meter.h"
#include "chat_turn.h"
#include "llm_parse.h"
#include "util.h"

/* A turn's result as chat_turn gives it: the answer from provider p with these counts (prompt
 * < 0: none reported), local tokens, and the "direct" estimate. */
static struct chat_turn_result *turn(enum llm_provider p, int64_t prompt, int64_t out,
                                     int64_t local, int64_t direct, bool cached)
{
	struct chat_turn_result *r = xcalloc(1, sizeof(*r));
	r->answer = llm_result_new(p, p == LLM_GEMINI ? "gemini-2.5-pro" : "qwen2.5:14b");
	r->answer->ok = true;
	r->answer->usage.known = prompt >= 0;
	r->answer->usage.prompt_tokens = prompt >= 0 ? prompt : 0;
	r->answer->usage.completion_tokens = prompt >= 0 ? out : 0;
	r->cached = cached;
	r->local_tokens = local;
	r->prompt_tokens = prompt;
	r->direct_prompt_tokens = direct;
	if (!cached && prompt >= 0) {
		if (llm_provider_is_cloud(p)) {
			r->cloud_tokens = prompt + out;
		} else {
			r->local_tokens += prompt + out;
		}
	}
	return r;
}

static void add(struct chat_meter *m, struct chat_turn_result *r)
{
	chat_meter_add(m, r);
	chat_turn_result_free(r);
}

static void assert_format(const struct chat_meter *m, const char *want)
{
	char out[128];
	assert_true(chat_meter_format(m, out, sizeof(out)));
	assert_string_equal(out, want);
}

static void test_empty(void **state)
{
	(void)state;
	struct chat_meter m;
	chat_meter_init(&m, 1.25, 10);
	char out[64] = "untouched";
	assert_false(chat_meter_format(&m, out, sizeof(out)));
	assert_true(chat_meter_saved_pct(&m) < 0);
	assert_int_equal(m.turns, 0);
	assert_true(m.cost == 0);
}

static void test_cloud_local_cached(void **state)
{
	(void)state;
	struct chat_meter m;
	chat_meter_init(&m, 1.25, 10);

	/* A condensed RAG turn to Gemini: 1000 prompt tokens at $1.25/M and 500 out at $10/M;
	   "direct" would have sent 7700; embedding and condensing took 200 local tokens. */
	add(&m, turn(LLM_GEMINI, 1000, 500, 200, 7700, false));
	assert_int_equal(m.turns, 1);
	assert_int_equal(m.cloud_in, 1000);
	assert_int_equal(m.cloud_out, 500);
	assert_int_equal(m.local, 200);
	assert_int_equal(m.saved_in, 6700);
	assert_true(fabs(m.cost - 0.00625) < 1e-12);
	assert_true(fabs(chat_meter_saved_pct(&m) - 100.0 * 6700 / 7700) < 1e-9);
	assert_format(&m, "cloud 1.5k tok $0.006 · local 200 tok · saved 87%");

	/* The same question again, answered from the cache: a turn that cost nothing. */
	add(&m, turn(LLM_GEMINI, 1000, 500, 0, -1, true));
	assert_int_equal(m.turns, 2);
	assert_int_equal(m.cached, 1);
	assert_int_equal(m.cloud_in, 1000);
	assert_int_equal(m.cloud_out, 500);
	assert_true(fabs(m.cost - 0.00625) < 1e-12);
	assert_int_equal(m.saved_in, 6700);
	assert_format(&m, "cloud 1.5k tok $0.006 · local 200 tok · saved 87%");

	/* A local answer: its tokens are local, it costs nothing and saves no cloud tokens. */
	add(&m, turn(LLM_OLLAMA, 300, 50, 0, 300, false));
	assert_int_equal(m.turns, 3);
	assert_int_equal(m.local, 550);
	assert_int_equal(m.cloud_in, 1000);
	assert_true(fabs(m.cost - 0.00625) < 1e-12);
	assert_format(&m, "cloud 1.5k tok $0.006 · local 550 tok · saved 87%");

	/* A cloud answer whose counts never came (the stream broke): counted, adds nothing. */
	add(&m, turn(LLM_GEMINI, -1, 0, 0, -1, false));
	assert_int_equal(m.turns, 4);
	assert_int_equal(m.cloud_in, 1000);
	assert_true(fabs(m.cost - 0.00625) < 1e-12);

	/* A "direct" turn: nothing saved, the share falls: 6700 of 6700 + 1000 + 8000. */
	add(&m, turn(LLM_GEMINI, 8000, 1000, 0, 8000, false));
	assert_int_equal(m.cloud_in, 9000);
	assert_int_equal(m.cloud_out, 1500);
	assert_int_equal(m.saved_in, 6700);
	/* 0.00625 + 8000 * 1.25e-6 + 1000 * 1e-5 */
	assert_true(fabs(m.cost - 0.02625) < 1e-12);
	assert_format(&m, "cloud 10.5k tok $0.026 · local 550 tok · saved 43%");
}

static void test_nothing_saved(void **state)
{
	(void)state;
	struct chat_meter m;
	chat_meter_init(&m, 1.25, 10);
	/* Without RAG "direct" is what was sent: no "saved" part. */
	add(&m, turn(LLM_GEMINI, 1000, 500, 0, 1000, false));
	assert_true(chat_meter_saved_pct(&m) < 0);
	assert_format(&m, "cloud 1.5k tok $0.006 · local 0 tok");
	/* An estimate below the measured prompt (condensing came back longer) saves nothing. */
	add(&m, turn(LLM_GEMINI, 2000, 0, 0, 1900, false));
	assert_int_equal(m.saved_in, 0);
	assert_format(&m, "cloud 3.5k tok $0.009 · local 0 tok");

	/* Local only: nothing to price. */
	chat_meter_init(&m, 1.25, 10);
	add(&m, turn(LLM_OLLAMA, 1200, 34, 7, 1200, false));
	assert_format(&m, "cloud 0 tok $0.000 · local 1.2k tok");
	assert_true(m.cost == 0);

	/* Other prices: 2M in at $0.30/M, 1M out at $2.50/M. */
	chat_meter_init(&m, 0.30, 2.50);
	add(&m, turn(LLM_GEMINI, 2000000, 1000000, 0, -1, false));
	assert_true(fabs(m.cost - 3.10) < 1e-9);
	assert_format(&m, "cloud 3.0M tok $3.100 · local 0 tok");
}

static void test_format_small_buffer(void **state)
{
	(void)state;
	struct chat_meter m;
	chat_meter_init(&m, 1.25, 10);
	add(&m, turn(LLM_GEMINI, 1000, 500, 200, 7700, false));
	char out[12];
	memset(out, 'x', sizeof(out));
	assert_true(chat_meter_format(&m, out, sizeof(out)));
	assert_string_equal(out, "cloud 1.5k ");
	/* Too short for the saved part: it is left out whole, never cut inside the "·". */
	const char *base = "cloud 1.5k tok $0.006 · local 200 tok";
	char big[64];
	for (size_t n = strlen(base) + 1; n < strlen(base) + strlen(" · saved 87%") + 1; n++) {
		memset(big, 'x', sizeof(big));
		assert_true(chat_meter_format(&m, big, n));
		assert_string_equal(big, base);
	}
	assert_true(chat_meter_format(&m, big, sizeof(big)));
	assert_string_equal(big, "cloud 1.5k tok $0.006 · local 200 tok · saved 87%");
}

static void fmt(int64_t n, const char *want)
{
	char out[32];
	chat_meter_fmt_tokens(n, out, sizeof(out));
	if (strcmp(out, want) != 0) {
		fail_msg("%lld: \"%s\", want \"%s\"", (long long)n, out, want);
	}
}

static void test_fmt_tokens(void **state)
{
	(void)state;
	fmt(0, "0");
	fmt(7, "7");
	fmt(999, "999");
	fmt(1000, "1.0k");
	fmt(1049, "1.0k");
	fmt(1051, "1.1k");
	fmt(1500, "1.5k");
	fmt(12345, "12.3k");
	fmt(999949, "999.9k");
	/* Never "1000.0k": from there it is millions. */
	fmt(999950, "1.0M");
	fmt(999999, "1.0M");
	fmt(1000000, "1.0M");
	fmt(3400000, "3.4M");
	fmt(123456789, "123.5M");
	char tiny[4];
	chat_meter_fmt_tokens(123456, tiny, sizeof(tiny));
	assert_string_equal(tiny, "123");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_empty),         cmocka_unit_test(test_cloud_local_cached),
	        cmocka_unit_test(test_nothing_saved), cmocka_unit_test(test_format_small_buffer),
	        cmocka_unit_test(test_fmt_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
