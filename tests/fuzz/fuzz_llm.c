/* fuzz_llm.c: see fuzz_llm.h. */
#include "fuzz_llm.h"

#include <stdbool.h>

#include "fuzz_support.h"
#include "ndjson.h"
#include "sse.h"
#include "util.h"

static void on_token(void *ud, const char *text, size_t len, bool is_thinking)
{
	size_t *total = ud;
	*total += len;
	(void)text;
	(void)is_thinking;
}

static bool on_line(void *ud, const char *line, size_t len)
{
	return llm_stream_unit(ud, line, len);
}

/* As llm.c's on_sse_event: the data, and a bare JSON object outside any data: line. */
static bool on_event(void *ud, const struct sse_event *ev)
{
	if (ev->has_data && !llm_stream_unit(ud, ev->data, ev->data_len)) {
		return false;
	}
	for (size_t i = 0; i < ev->other_len; i++) {
		char c = ev->other[i];
		if (c == '{' || c == '[') {
			return llm_stream_unit(ud, ev->other, ev->other_len);
		}
		if (c != ' ' && c != '\t' && c != '\n') {
			break;
		}
	}
	return true;
}

static void on_split_error(void *ud, const struct err *e)
{
	struct llm_stream *st = ud;
	st->failed = true;
	st->err = *e;
}

void fuzz_llm_run(enum llm_provider p, const uint8_t *data, size_t size)
{
	static const long statuses[8] = {400, 401, 403, 404, 429, 500, 503, 200};
	struct fuzz_support_chunker ch;
	const char *body;
	size_t len;
	fuzz_support_chunker_init(&ch, data, size, &body, &len);

	size_t total = 0;
	struct llm_stream st;
	llm_stream_init(&st, p, on_token, &total);
	struct ndjson nd;
	struct sse sse;
	/* A small cap on a line or event, so the drop path is reached too. */
	size_t cap = size > 0 && (data[0] & 0x80) ? 256 : 0;
	ndjson_init(&nd, cap, on_line, on_split_error, &st);
	sse_init(&sse, cap, on_event, on_split_error, &st);
	const char *piece;
	size_t n;
	bool go = true;
	while (go && fuzz_support_chunker_next(&ch, &piece, &n)) {
		go = p == LLM_OLLAMA ? ndjson_feed(&nd, piece, n) : sse_feed(&sse, piece, n);
	}
	if (go) {
		if (p == LLM_OLLAMA) {
			ndjson_finish(&nd);
		} else {
			sse_finish(&sse);
		}
	}
	ndjson_destroy(&nd);
	sse_destroy(&sse);
	llm_stream_end(&st);
	llm_result_free(llm_stream_result(&st, "qwen3:8b"));
	llm_stream_finish(&st);

	struct err err;
	double retry = 0;
	long status = statuses[size > 0 ? data[0] % 8 : 0];
	llm_parse_error(p, status, body, len, size > 0 && (data[0] & 0x40) ? 30 : -1, &err, &retry);

	if (p == LLM_OLLAMA) {
		/* Both free functions free the struct too: it is on the heap, as in llm.c. */
		struct llm_models *models = xcalloc(1, sizeof(*models));
		llm_parse_models(body, len, models, &err);
		for (size_t i = 0; i < models->len; i++) {
			llm_model_vram_share(&models->items[i]);
		}
		llm_models_free(models);
		/* Two batches: the second must match the first's dimension. */
		struct llm_embeddings *emb = xcalloc(1, sizeof(*emb));
		llm_parse_embed(body, len, emb, &err);
		llm_parse_embed(body, len, emb, &err);
		llm_embeddings_free(emb);
	}
}
