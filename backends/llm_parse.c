/* llm_parse.c: see llm_parse.h. One jansson parse per unit; the wire formats are in
 * /work/shared/research/anchors-llm.md (b), and every shape here has a fixture under
 * tests/fixtures/llm/. */
#include "llm_parse.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_util.h"

static const char *const provider_names[LLM_N_PROVIDERS] = {"ollama", "gemini", "openai"};

const char *llm_provider_name(enum llm_provider p)
{
	return (unsigned)p < LLM_N_PROVIDERS ? provider_names[p] : "llm";
}

bool llm_provider_from_name(const char *name, enum llm_provider *out)
{
	for (int i = 0; i < LLM_N_PROVIDERS; i++) {
		if (name && strcmp(name, provider_names[i]) == 0) {
			*out = (enum llm_provider)i;
			return true;
		}
	}
	return false;
}

bool llm_provider_is_cloud(enum llm_provider p)
{
	return p == LLM_GEMINI;
}

/* ---- results ------------------------------------------------------------------------------ */

struct llm_result *llm_result_new(enum llm_provider p, const char *model)
{
	struct llm_result *r = xcalloc(1, sizeof(*r));
	r->provider = p;
	r->model = xstrdup(model ? model : "");
	r->text = xstrdup("");
	r->thinking = xstrdup("");
	r->retry_after = -1;
	r->ok = true;
	err_clear(&r->err);
	return r;
}

void llm_result_free(struct llm_result *r)
{
	if (!r) {
		return;
	}
	free(r->model);
	free(r->text);
	free(r->thinking);
	free(r->finish_reason);
	free(r->block_reason);
	free(r);
}

/* ---- the stream --------------------------------------------------------------------------- */

void llm_stream_init(struct llm_stream *s, enum llm_provider p, llm_token_fn on_token, void *ud)
{
	memset(s, 0, sizeof(*s));
	s->provider = p;
	buf_init(&s->text);
	buf_init(&s->thinking);
	err_clear(&s->err);
	s->retry_after = -1;
	s->on_token = on_token;
	s->ud = ud;
}

void llm_stream_finish(struct llm_stream *s)
{
	if (!s) {
		return;
	}
	buf_finish(&s->text);
	buf_finish(&s->thinking);
	free(s->finish_reason);
	free(s->block_reason);
	free(s->block_message);
	s->finish_reason = s->block_reason = s->block_message = NULL;
}

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v ? xstrdup(v) : NULL;
}

static void emit(struct llm_stream *s, const char *text, size_t len, bool thinking)
{
	if (len == 0) {
		return; /* Ollama sends "content":"" while it thinks; nothing to show */
	}
	buf_append(thinking ? &s->thinking : &s->text, text, len);
	if (s->on_token) {
		s->on_token(s->ud, text, len, thinking);
	}
}

static void emit_json(struct llm_stream *s, const json_t *v, bool thinking)
{
	if (json_is_string(v)) {
		emit(s, json_string_value(v), json_string_length(v), thinking);
	}
}

static bool stream_fail(struct llm_stream *s, enum err_code code, long status, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static bool stream_fail(struct llm_stream *s, enum err_code code, long status, const char *fmt, ...)
{
	char msg[sizeof(s->err.msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->failed = true;
	err_set(&s->err, code, status, "%s: %s", llm_provider_name(s->provider), msg);
	return false;
}

/* The code for an error that arrives inside a stream (after HTTP 200): the provider broke off,
 * which is a server fault unless its status says otherwise. */
static enum err_code midstream_code(long status)
{
	if (status == 401 || status == 403) {
		return ERR_AUTH;
	}
	if (status == 429) {
		return ERR_RATE_LIMIT;
	}
	return ERR_SERVER;
}

/* error_message finds the human text of an error value: a string, or an object's "message". */
static const char *error_message(const json_t *e)
{
	if (json_is_string(e)) {
		return json_string_value(e);
	}
	const char *m = json_str(e, "message");
	return m ? m : "";
}

static bool get_count(const json_t *obj, const char *key, int64_t *out)
{
	int64_t v;
	if (json_int(obj, key, &v) && v >= 0) {
		*out = v;
		return true;
	}
	return false;
}

/* Ollama: {"message":{"content","thinking"},"done",...} per line; /api/generate lines carry
 * "response" and "thinking" at the top level instead. */
static bool ollama_unit(struct llm_stream *s, json_t *root)
{
	json_t *e = json_object_get(root, "error");
	if (e && !json_is_null(e)) {
		return stream_fail(s, ERR_SERVER, 0, "error in the answer: %s", error_message(e));
	}
	json_t *msg = json_object_get(root, "message");
	if (json_is_object(msg)) {
		emit_json(s, json_object_get(msg, "thinking"), true);
		emit_json(s, json_object_get(msg, "content"), false);
	}
	emit_json(s, json_object_get(root, "thinking"), true);
	emit_json(s, json_object_get(root, "response"), false);
	if (json_is_true(json_object_get(root, "done"))) {
		s->done = true;
		const char *reason = json_str(root, "done_reason");
		set_str(&s->finish_reason, reason ? reason : "stop");
		int64_t n;
		if (get_count(root, "prompt_eval_count", &n)) {
			s->usage.prompt_tokens = n;
			s->usage.known = true;
		}
		if (get_count(root, "eval_count", &n)) {
			s->usage.completion_tokens = n;
			s->usage.known = true;
		}
	}
	return true;
}

/* Gemini's {"error":{"code","message","status"}} (also as [{"error":...}]). */
static bool gemini_error(struct llm_stream *s, const json_t *e)
{
	int64_t code = 0;
	json_int(e, "code", &code);
	const char *status = json_str(e, "status");
	return stream_fail(s, midstream_code((long)code), (long)code,
	                   "error in the answer: %s%s%s%s", error_message(e), status ? " (" : "",
	                   status ? status : "", status ? ")" : "");
}

static bool gemini_object(struct llm_stream *s, const json_t *root)
{
	json_t *e = json_object_get(root, "error");
	if (json_is_object(e) || json_is_string(e)) {
		return gemini_error(s, e);
	}
	json_t *fb = json_object_get(root, "promptFeedback");
	const char *block = json_str(fb, "blockReason");
	if (block) {
		set_str(&s->block_reason, block);
		set_str(&s->block_message, json_str(fb, "blockReasonMessage"));
		s->done = true;
	}
	json_t *cands = json_object_get(root, "candidates");
	json_t *cand = json_is_array(cands) ? json_array_get(cands, 0) : NULL;
	if (json_is_object(cand)) {
		json_t *parts = json_path(cand, "content", "parts", NULL);
		size_t i;
		json_t *part;
		json_array_foreach (parts, i, part) {
			emit_json(s, json_object_get(part, "text"),
			          json_is_true(json_object_get(part, "thought")));
		}
		const char *finish = json_str(cand, "finishReason");
		if (finish) {
			set_str(&s->finish_reason, finish);
			s->done = true;
		}
	}
	json_t *um = json_object_get(root, "usageMetadata");
	if (json_is_object(um)) {
		/* Cumulative: each event repeats the counts so far, so the last one wins. */
		int64_t prompt = 0, cand_n = 0, thoughts = 0;
		get_count(um, "promptTokenCount", &prompt);
		get_count(um, "candidatesTokenCount", &cand_n);
		get_count(um, "thoughtsTokenCount", &thoughts);
		s->usage.known = true;
		s->usage.prompt_tokens = prompt;
		s->usage.completion_tokens = cand_n + thoughts; /* thinking is billed as output */
		s->usage.thinking_tokens = thoughts;
	}
	return true;
}

static bool gemini_unit(struct llm_stream *s, json_t *root)
{
	if (json_is_array(root)) {
		size_t i;
		json_t *el;
		json_array_foreach (root, i, el) {
			if (json_is_object(el) && !gemini_object(s, el)) {
				return false;
			}
		}
		return true;
	}
	return gemini_object(s, root);
}

/* OpenAI-compatible: {"choices":[{"delta":{"content","reasoning_content"},"finish_reason"}],
 * "usage"} per event; llama.cpp adds "timings". */
static bool openai_unit(struct llm_stream *s, json_t *root)
{
	json_t *e = json_object_get(root, "error");
	if (e && !json_is_null(e)) {
		int64_t code = 0;
		json_int(e, "code", &code);
		return stream_fail(s, midstream_code((long)code), 0, "error in the answer: %s",
		                   error_message(e));
	}
	if (str_eq(json_str(root, "object"), "error")) { /* vLLM */
		int64_t code = 0;
		json_int(root, "code", &code);
		return stream_fail(s, midstream_code((long)code), 0, "error in the answer: %s",
		                   error_message(root));
	}
	json_t *choices = json_object_get(root, "choices");
	json_t *choice = json_is_array(choices) ? json_array_get(choices, 0) : NULL;
	if (json_is_object(choice)) {
		json_t *delta = json_object_get(choice, "delta");
		if (!json_is_object(delta)) {
			delta = json_object_get(choice, "message"); /* a non-streamed answer */
		}
		if (json_is_object(delta)) {
			emit_json(s, json_object_get(delta, "reasoning_content"), true);
			emit_json(s, json_object_get(delta, "reasoning"), true);
			emit_json(s, json_object_get(delta, "content"), false);
		}
		const char *finish = json_str(choice, "finish_reason");
		if (finish) {
			set_str(&s->finish_reason, finish);
		}
	}
	json_t *usage = json_object_get(root, "usage");
	if (json_is_object(usage)) {
		int64_t n;
		s->usage.known = true;
		if (get_count(usage, "prompt_tokens", &n)) {
			s->usage.prompt_tokens = n;
		}
		if (get_count(usage, "completion_tokens", &n)) {
			s->usage.completion_tokens = n;
		}
		json_t *details = json_object_get(usage, "completion_tokens_details");
		if (get_count(details, "reasoning_tokens", &n)) {
			s->usage.thinking_tokens = n;
		}
	} else {
		json_t *timings = json_object_get(root, "timings");
		int64_t prompt, predicted;
		if (json_is_object(timings) && !s->usage.known &&
		    get_count(timings, "prompt_n", &prompt) &&
		    get_count(timings, "predicted_n", &predicted)) {
			/* llama.cpp without include_usage: its own counters (a usage chunk that
			 * follows still wins). */
			s->usage.known = true;
			s->usage.prompt_tokens = prompt;
			s->usage.completion_tokens = predicted;
		}
	}
	return true;
}

static bool only_space(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!isspace((unsigned char)p[i])) {
			return false;
		}
	}
	return true;
}

bool llm_stream_unit(struct llm_stream *s, const char *unit, size_t len)
{
	if (s->failed) {
		return false;
	}
	if (only_space(unit, len)) {
		return true;
	}
	s->units++;
	if (s->provider == LLM_OPENAI) {
		size_t a = 0, b = len;
		while (a < b && isspace((unsigned char)unit[a])) {
			a++;
		}
		while (b > a && isspace((unsigned char)unit[b - 1])) {
			b--;
		}
		if (b - a == 6 && memcmp(unit + a, "[DONE]", 6) == 0) {
			s->done = true;
			return true;
		}
	}
	char jerr[160];
	json_t *root = json_load_body(unit, len, jerr, sizeof(jerr));
	if (!root && s->provider != LLM_OLLAMA && memchr(unit, '\n', len)) {
		/* Several data lines that are not one JSON value: events separated by a single
		 * newline (llama.cpp's test stub does that). Each line is one unit then. */
		s->units--;
		while (len > 0 && !s->failed) {
			const char *nl = memchr(unit, '\n', len);
			size_t n = nl ? (size_t)(nl - unit) : len;
			llm_stream_unit(s, unit, n);
			unit += nl ? n + 1 : n;
			len -= nl ? n + 1 : n;
		}
		return !s->failed;
	}
	if (!root) {
		return stream_fail(s, ERR_MALFORMED, 0,
		                   "a malformed piece of the answer stream: %s", jerr);
	}
	bool ok;
	switch (s->provider) {
	case LLM_OLLAMA:
		ok = json_is_object(root)
		             ? ollama_unit(s, root)
		             : stream_fail(s, ERR_MALFORMED, 0,
		                           "a line of the answer stream is not an object");
		break;
	case LLM_GEMINI:
		ok = gemini_unit(s, root);
		break;
	case LLM_OPENAI:
	default:
		ok = json_is_object(root)
		             ? openai_unit(s, root)
		             : stream_fail(s, ERR_MALFORMED, 0,
		                           "an event of the answer stream is not an object");
		break;
	}
	json_decref(root);
	return ok;
}

/* Gemini finish reasons that end a whole answer; every other one stopped it. */
static bool gemini_finish_ok(const char *r)
{
	return strcmp(r, "STOP") == 0 || strcmp(r, "MAX_TOKENS") == 0 ||
	       strcmp(r, "FINISH_REASON_UNSPECIFIED") == 0;
}

static const char *reason_words(const char *r)
{
	if (strcmp(r, "SAFETY") == 0 || strcmp(r, "IMAGE_SAFETY") == 0) {
		return "by the safety filter";
	}
	if (strcmp(r, "RECITATION") == 0) {
		return "for reciting a source";
	}
	if (strcmp(r, "BLOCKLIST") == 0 || strcmp(r, "PROHIBITED_CONTENT") == 0 ||
	    strcmp(r, "SPII") == 0) {
		return "by a content filter";
	}
	if (strcmp(r, "content_filter") == 0) {
		return "by the server's content filter";
	}
	return "by the provider";
}

static bool is_length_cut(const char *r)
{
	return r && (strcmp(r, "MAX_TOKENS") == 0 || strcmp(r, "length") == 0);
}

bool llm_stream_end(struct llm_stream *s)
{
	if (s->failed) {
		return false;
	}
	if (s->block_reason) {
		return stream_fail(s, ERR_REJECTED, 0, "the prompt was blocked (%s)%s%s",
		                   s->block_reason, s->block_message ? ": " : "",
		                   s->block_message ? s->block_message : "");
	}
	const char *r = s->finish_reason;
	switch (s->provider) {
	case LLM_GEMINI:
		if (!r) {
			break;
		}
		if (!gemini_finish_ok(r)) {
			return stream_fail(s, ERR_REJECTED, 0, "the answer was stopped %s (%s)",
			                   reason_words(r), r);
		}
		return true;
	case LLM_OPENAI:
		if (r && strcmp(r, "content_filter") == 0) {
			return stream_fail(s, ERR_REJECTED, 0, "the answer was stopped %s (%s)",
			                   reason_words(r), r);
		}
		if (r || s->done) {
			return true;
		}
		break;
	case LLM_OLLAMA:
	default:
		if (s->done) {
			return true;
		}
		break;
	}
	if (s->units == 0 && s->text.len == 0 && s->thinking.len == 0) {
		/* Not one event parsed: an HTML page, a JSON document, garbage, or nothing. */
		return stream_fail(
		        s, ERR_MALFORMED, 0,
		        "the answer is not a chat stream (no event in it could be read): "
		        "is url in [%s] the %s API?",
		        llm_provider_name(s->provider),
		        s->provider == LLM_GEMINI   ? "Gemini"
		        : s->provider == LLM_OPENAI ? "OpenAI-compatible"
		                                    : "Ollama");
	}
	return stream_fail(s, ERR_NETWORK, 0,
	                   "the answer was cut short: the stream ended before the model finished "
	                   "(%zu bytes of text came); try again",
	                   s->text.len);
}

struct llm_result *llm_stream_result(struct llm_stream *s, const char *model)
{
	struct llm_result *r = llm_result_new(s->provider, model);
	free(r->text);
	free(r->thinking);
	r->text_len = s->text.len;
	r->text = buf_steal(&s->text);
	r->thinking_len = s->thinking.len;
	r->thinking = buf_steal(&s->thinking);
	r->usage = s->usage;
	r->finish_reason = s->finish_reason;
	r->block_reason = s->block_reason;
	s->finish_reason = s->block_reason = NULL;
	r->ok = !s->failed;
	r->err = s->err;
	r->retry_after = s->retry_after;
	r->truncated = is_length_cut(r->finish_reason) || (s->failed && r->text_len > 0) ||
	               (r->finish_reason && s->provider == LLM_GEMINI &&
	                !gemini_finish_ok(r->finish_reason));
	free(s->block_message);
	s->block_message = NULL;
	s->failed = false;
	s->done = false;
	err_clear(&s->err);
	s->retry_after = -1;
	memset(&s->usage, 0, sizeof(s->usage));
	return r;
}

/* ---- error answers ------------------------------------------------------------------------ */

/* parse_delay reads "26s", "20.04s", "1.5" as seconds; -1 when it is none of those. */
static double parse_delay(const char *s)
{
	if (!s) {
		return -1;
	}
	char *end;
	double d = strtod(s, &end);
	if (end == s || !isfinite(d) || d < 0) {
		return -1;
	}
	return d;
}

/* retry_in_message finds "retry in 20.04s" (case-insensitive) in a message. */
static double retry_in_message(const char *m)
{
	for (const char *p = m; p && *p; p++) {
		if (strncasecmp(p, "retry in ", 9) == 0) {
			return parse_delay(p + 9);
		}
	}
	return -1;
}

struct error_info {
	const char *message;
	const char *status; /* "RESOURCE_EXHAUSTED", or OpenAI's "type" */
	const char *reason; /* ErrorInfo.reason ("API_KEY_INVALID") */
	double retry_delay; /* RetryInfo.retryDelay, -1 */
	bool daily;         /* a per-day quota was hit */
};

static void read_details(const json_t *details, struct error_info *info)
{
	size_t i;
	json_t *d;
	json_array_foreach (details, i, d) {
		const char *type = json_str(d, "@type");
		if (!type) {
			continue;
		}
		if (strstr(type, "RetryInfo")) {
			info->retry_delay = parse_delay(json_str(d, "retryDelay"));
		} else if (strstr(type, "ErrorInfo")) {
			info->reason = json_str(d, "reason");
			const char *limit = json_str(json_object_get(d, "metadata"), "quota_limit");
			if (limit && strstr(limit, "PerDay")) {
				info->daily = true;
			}
		} else if (strstr(type, "QuotaFailure")) {
			size_t j;
			json_t *v;
			json_array_foreach (json_object_get(d, "violations"), j, v) {
				const char *id = json_str(v, "quotaId");
				if (id && strstr(id, "PerDay")) {
					info->daily = true;
				}
			}
		}
	}
}

/* read_error_object understands {"error":{...}}, {"error":"..."}, and vLLM's
 * {"object":"error","message":...}. */
static bool read_error_object(const json_t *root, struct error_info *info)
{
	if (json_is_array(root)) {
		root = json_array_get(root, 0); /* Gemini sometimes wraps it: [{"error":...}] */
	}
	if (!json_is_object(root)) {
		return false;
	}
	json_t *e = json_object_get(root, "error");
	if (json_is_string(e)) {
		info->message = json_string_value(e);
		return true;
	}
	if (json_is_object(e)) {
		info->message = json_str(e, "message");
		info->status = json_str(e, "status");
		if (!info->status) {
			info->status = json_str(e, "type");
		}
		read_details(json_object_get(e, "details"), info);
		return info->message != NULL;
	}
	if (str_eq(json_str(root, "object"), "error")) {
		info->message = json_str(root, "message");
		info->status = json_str(root, "type");
		return info->message != NULL;
	}
	return false;
}

void llm_parse_error(enum llm_provider p, long status, const char *body, size_t len,
                     double header_retry_after, struct err *err, double *retry_after)
{
	struct error_info info = {.retry_delay = -1};
	json_t *root = len > 0 ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
	char first_line[200] = "";
	if (!root || !read_error_object(root, &info)) {
		/* Not JSON (a proxy's HTML page, a plain text error): its first line. */
		size_t n = 0;
		while (n < len && n < sizeof(first_line) - 1 && body[n] != '\n' &&
		       body[n] != '\r') {
			n++;
		}
		memcpy(first_line, body ? body : "", n);
		first_line[n] = '\0';
		str_trim(first_line);
		info = (struct error_info){.message = first_line, .retry_delay = -1};
	}
	const char *message = info.message && *info.message ? info.message : "error";

	enum err_code code = status == 400 && str_eq(info.reason, "API_KEY_INVALID")
	                             ? ERR_AUTH
	                             : err_code_for_status(status);
	const char *hint = "";
	if (code == ERR_AUTH) {
		hint = p == LLM_GEMINI ? ": check the key (api_key_env in [gemini])"
		       : p == LLM_OPENAI
		               ? ": check the key (api_key_env in [openai])"
		               : ": Ollama has no login; check what answers at [ollama] url";
	} else if (code == ERR_NOT_FOUND) {
		hint = p == LLM_GEMINI   ? ": check model in [gemini]"
		       : p == LLM_OPENAI ? ": check url and model in [openai]"
		                         : ": check chat_model in [ollama] ('ollama pull' it?)";
	} else if (code == ERR_RATE_LIMIT) {
		hint = ": rate limited; wait and try again";
	} else if (code == ERR_SERVER) {
		hint = ": the server failed; try again later";
	}

	double delay = info.retry_delay;
	if (delay < 0) {
		delay = retry_in_message(message);
	}
	if (delay < 0 && (status == 429 || status == 503)) {
		delay = header_retry_after;
	}
	char tail[96] = "";
	if (info.daily) {
		snprintf(tail, sizeof(tail), "; the daily quota is used up");
	} else if (delay >= 0) {
		snprintf(tail, sizeof(tail), "; retry after %.0f s", ceil(delay));
	}
	if (retry_after) {
		*retry_after = delay;
	}
	/* The API's message may be long (403's is 400 characters): cut it, never the tail. */
	char head[64];
	snprintf(head, sizeof(head), "%s: %ld ", llm_provider_name(p), status);
	int room = (int)sizeof(err->msg) - 1 - (int)strlen(head) - (int)strlen(hint) -
	           (int)strlen(tail);
	if (room < 16) {
		room = 16;
	}
	err_set(err, code, status, "%s%.*s%s%s", head, room, message, hint, tail);
	json_decref(root);
}

/* ---- model lists and embeddings ----------------------------------------------------------- */

static char *dup_str(const json_t *obj, const char *key)
{
	const char *v = json_str(obj, key);
	return v ? xstrdup(v) : NULL;
}

static void model_info_finish(struct llm_model_info *m)
{
	free(m->name);
	free(m->family);
	free(m->parameter_size);
	free(m->quantization);
	free(m->modified_at);
	free(m->expires_at);
}

void llm_models_free(struct llm_models *m)
{
	if (!m) {
		return;
	}
	for (size_t i = 0; i < m->len; i++) {
		model_info_finish(&m->items[i]);
	}
	free(m->items);
	free(m);
}

bool llm_parse_models(const char *body, size_t len, struct llm_models *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	char jerr[160];
	json_t *root = json_load_body(body, len, jerr, sizeof(jerr));
	if (!root) {
		return err_set(err, ERR_MALFORMED, 0, "ollama: the model list is not JSON: %s",
		               jerr);
	}
	json_t *models = json_object_get(root, "models");
	if (!json_is_array(models)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "ollama: the model list has no \"models\"");
	}
	out->items = xcalloc(json_array_size(models) + 1, sizeof(*out->items));
	size_t i;
	json_t *m;
	json_array_foreach (models, i, m) {
		const char *name = json_str(m, "name");
		if (!name) {
			name = json_str(m, "model");
		}
		if (!name) {
			continue;
		}
		struct llm_model_info *info = &out->items[out->len++];
		info->name = xstrdup(name);
		get_count(m, "size", &info->size);
		get_count(m, "size_vram", &info->size_vram);
		get_count(m, "context_length", &info->context_length);
		info->modified_at = dup_str(m, "modified_at");
		info->expires_at = dup_str(m, "expires_at");
		json_t *d = json_object_get(m, "details");
		info->family = dup_str(d, "family");
		info->parameter_size = dup_str(d, "parameter_size");
		info->quantization = dup_str(d, "quantization_level");
	}
	json_decref(root);
	return true;
}

double llm_model_vram_share(const struct llm_model_info *m)
{
	if (!m || m->size <= 0) {
		return -1;
	}
	double share = (double)m->size_vram / (double)m->size;
	return share > 1 ? 1 : share < 0 ? 0 : share;
}

void llm_embeddings_free(struct llm_embeddings *e)
{
	if (!e) {
		return;
	}
	free(e->model);
	free(e->vectors);
	free(e);
}

bool llm_parse_embed(const char *body, size_t len, struct llm_embeddings *acc, struct err *err)
{
	char jerr[160];
	json_t *root = json_load_body(body, len, jerr, sizeof(jerr));
	if (!root) {
		return err_set(err, ERR_MALFORMED, 0, "ollama: the embeddings are not JSON: %s",
		               jerr);
	}
	json_t *rows = json_object_get(root, "embeddings");
	if (!json_is_array(rows)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "ollama: the answer has no \"embeddings\"");
	}
	size_t n = json_array_size(rows);
	size_t dim = acc->dim;
	if (n > 0 && dim == 0) {
		dim = json_array_size(json_array_get(rows, 0));
	}
	size_t i;
	json_t *row;
	json_array_foreach (rows, i, row) {
		size_t got = json_array_size(row); /* 0 for a row that is no array */
		if (got != dim || dim == 0) {
			json_decref(root);
			return err_set(err, ERR_MALFORMED, 0,
			               "ollama: embedding %zu has %zu numbers, expected %zu",
			               acc->n + i, got, dim);
		}
		size_t j;
		json_t *v;
		json_array_foreach (row, j, v) {
			if (!json_is_number(v)) {
				json_decref(root);
				return err_set(err, ERR_MALFORMED, 0,
				               "ollama: embedding %zu holds a value that is not a "
				               "number",
				               acc->n + i);
			}
		}
	}
	acc->vectors = xrealloc(acc->vectors, (acc->n + n) * dim * sizeof(float) + 1);
	json_array_foreach (rows, i, row) {
		size_t j;
		json_t *v;
		json_array_foreach (row, j, v) {
			acc->vectors[(acc->n + i) * dim + j] = (float)json_number_value(v);
		}
	}
	acc->n += n;
	acc->dim = dim;
	int64_t tokens;
	if (get_count(root, "prompt_eval_count", &tokens)) {
		acc->prompt_tokens += tokens;
	}
	if (!acc->model) {
		acc->model = dup_str(root, "model");
	}
	json_decref(root);
	return true;
}
