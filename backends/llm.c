/* llm.c: see llm.h. A chat is one POST whose body streams back; the stream goes through the
 * NDJSON splitter (Ollama) or the SSE splitter (Gemini, OpenAI), which hand llm_parse.c whole
 * lines or events only, so a JSON object or a UTF-8 character split between two reads is never
 * seen in pieces. */
#include "llm.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "ndjson.h"
#include "sse.h"
#include "util.h"

#define DEFAULT_IDLE_MS 120000L

struct llm {
	struct http *http;
	const struct config *cfg;
	long idle_timeout_ms;
	struct llm_call *calls; /* every call still running */
};

enum call_kind { CALL_CHAT, CALL_MODELS };

struct llm_call {
	struct llm *l;
	struct llm_call *prev, *next;
	enum call_kind kind;
	enum llm_provider provider;
	char *model;
	struct http_request *req; /* NULL between requests and after the last one ended */
	/* chat */
	struct llm_callbacks cb;
	struct llm_stream st;
	struct ndjson nd;
	struct sse sse;
	bool in_feed;  /* inside a splitter, where the user's on_token runs */
	bool detached; /* cancelled from inside the feed: freed once the request stops */
	/* model lists */
	llm_models_fn models_cb;
	void *ud;
};

const char *llm_role_name(enum llm_role r)
{
	switch (r) {
	case LLM_ROLE_SYSTEM:
		return "system";
	case LLM_ROLE_ASSISTANT:
		return "assistant";
	case LLM_ROLE_USER:
	default:
		return "user";
	}
}

void llm_request_init(struct llm_request *r, enum llm_provider p)
{
	memset(r, 0, sizeof(*r));
	r->provider = p;
	r->temperature = NAN;
}

struct llm *llm_create(struct http *http, const struct config *cfg)
{
	struct llm *l = xcalloc(1, sizeof(*l));
	l->http = http;
	l->cfg = cfg;
	l->idle_timeout_ms = DEFAULT_IDLE_MS;
	return l;
}

void llm_set_idle_timeout(struct llm *l, long ms)
{
	l->idle_timeout_ms = ms > 0 ? ms : DEFAULT_IDLE_MS;
}

static void call_free(struct llm_call *call)
{
	struct llm *l = call->l;
	if (call->prev) {
		call->prev->next = call->next;
	} else if (l->calls == call) {
		l->calls = call->next;
	}
	if (call->next) {
		call->next->prev = call->prev;
	}
	ndjson_destroy(&call->nd);
	sse_destroy(&call->sse);
	llm_stream_finish(&call->st);
	free(call->model);
	free(call);
}

void llm_destroy(struct llm *l)
{
	if (!l) {
		return;
	}
	while (l->calls) {
		struct llm_call *call = l->calls;
		if (call->req) {
			http_cancel(call->req);
		}
		call_free(call);
	}
	free(l);
}

static struct llm_call *call_new(struct llm *l, enum call_kind kind, enum llm_provider p)
{
	struct llm_call *call = xcalloc(1, sizeof(*call));
	call->l = l;
	call->kind = kind;
	call->provider = p;
	llm_stream_init(&call->st, p, NULL, NULL);
	call->next = l->calls;
	if (l->calls) {
		l->calls->prev = call;
	}
	l->calls = call;
	return call;
}

/* ---- configuration ------------------------------------------------------------------------ */

const char *llm_default_model(const struct config *cfg, enum llm_provider p)
{
	const char *m = NULL;
	switch (p) {
	case LLM_OLLAMA:
		m = cfg->ollama.chat_model;
		break;
	case LLM_GEMINI:
		m = cfg->gemini.model;
		break;
	case LLM_OPENAI:
		m = cfg->openai.model;
		break;
	}
	return m && *m ? m : NULL;
}

static const char *config_name(const struct config *cfg)
{
	return cfg->path ? cfg->path : "~/.config/labdeck/config.ini";
}

bool llm_ready(const struct config *cfg, enum llm_provider p, const char *model, struct err *err)
{
	if (!model || !*model) {
		model = llm_default_model(cfg, p);
	}
	switch (p) {
	case LLM_OLLAMA:
		if (!cfg->ollama.url) {
			return err_set(
			        err, ERR_CONFIG, 0,
			        "ollama: no address: add url = http://HOST:11434 to [ollama] "
			        "in %s, or set OLLAMA_HOST",
			        config_name(cfg));
		}
		if (!model) {
			return err_set(err, ERR_CONFIG, 0,
			               "ollama: no model: add chat_model = NAME to [ollama] in %s",
			               config_name(cfg));
		}
		return true;
	case LLM_GEMINI:
		if (!cfg->gemini.configured) {
			return err_set(
			        err, ERR_CONFIG, 0,
			        "gemini: not configured: add a [gemini] section with "
			        "api_key_env = GEMINI_API_KEY (the environment variable that "
			        "holds your key) to %s",
			        config_name(cfg));
		}
		if (!cfg->gemini.api_key || !*cfg->gemini.api_key) {
			return err_set(
			        err, ERR_CONFIG, 0,
			        "gemini: the API key is not set: add api_key_env = VARIABLE "
			        "(or api_key_file = PATH) to [gemini] in %s and make sure that "
			        "variable is set",
			        config_name(cfg));
		}
		if (!model) {
			return err_set(err, ERR_CONFIG, 0,
			               "gemini: no model: add model = NAME to [gemini] in %s",
			               config_name(cfg));
		}
		return true;
	case LLM_OPENAI:
		if (!cfg->openai.configured || !cfg->openai.url) {
			return err_set(err, ERR_CONFIG, 0,
			               "openai: not configured: add an [openai] section with url = "
			               "http://HOST:PORT/v1 and model = NAME to %s",
			               config_name(cfg));
		}
		if (!model) {
			return err_set(
			        err, ERR_CONFIG, 0,
			        "openai: no model: add model = NAME to [openai] in %s, or name "
			        "one with --model",
			        config_name(cfg));
		}
		return true;
	}
	return err_set(err, ERR_CONFIG, 0, "unknown provider");
}

/* ---- request building --------------------------------------------------------------------- */

/* utf8_fixed copies s with every invalid UTF-8 sequence replaced by U+FFFD (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
static char *utf8_fixed(const char *s)
{
	struct buf b;
	buf_init(&b);
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = p[0];
		size_t extra = 0;
		unsigned lo = 0x80, hi = 0xBF;
		if (c < 0x80) {
			buf_append(&b, p, 1);
			p++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF) {
			extra = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			extra = 2;
			lo = c == 0xE0 ? 0xA0 : 0x80;
			hi = c == 0xED ? 0x9F : 0xBF;
		} else if (c >= 0xF0 && c <= 0xF4) {
			extra = 3;
			lo = c == 0xF0 ? 0x90 : 0x80;
			hi = c == 0xF4 ? 0x8F : 0xBF;
		}
		bool valid = extra > 0 && p[1] >= lo && p[1] <= hi;
		for (size_t i = 2; valid && i <= extra; i++) {
			valid = p[i] >= 0x80 && p[i] <= 0xBF;
		}
		if (valid) {
			buf_append(&b, p, extra + 1);
			p += extra + 1;
		} else {
			buf_append(&b, "\xEF\xBF\xBD", 3);
			p++;
		}
	}
	return buf_steal(&b);
}

/* jtext makes a JSON string of s, mending invalid UTF-8 (jansson refuses it). */
static json_t *jtext(const char *s)
{
	json_t *v = json_string(s ? s : "");
	if (!v) {
		char *fixed = utf8_fixed(s);
		v = json_string(fixed);
		free(fixed);
	}
	return v;
}

static char *trimmed_url(const char *url)
{
	char *u = xstrdup(url ? url : "");
	size_t n = strlen(u);
	while (n > 0 && u[n - 1] == '/') {
		u[--n] = '\0';
	}
	return u;
}

char *llm_request_url(const struct config *cfg, const struct llm_request *req, const char *model)
{
	char *base;
	char *url = NULL;
	switch (req->provider) {
	case LLM_GEMINI: {
		base = trimmed_url(cfg->gemini.url);
		const char *m = model ? model : "";
		if (str_has_prefix(m, "models/")) {
			m += strlen("models/");
		}
		char *esc = url_escape(m);
		url = xasprintf("%s/v1beta/models/%s:streamGenerateContent?alt=sse", base, esc);
		free(esc);
		break;
	}
	case LLM_OPENAI:
		base = trimmed_url(cfg->openai.url);
		url = xasprintf("%s/chat/completions", base);
		break;
	case LLM_OLLAMA:
	default:
		base = trimmed_url(cfg->ollama.url);
		url = xasprintf("%s/api/chat", base);
		break;
	}
	free(base);
	return url;
}

/* keep_alive_value: "-1" and "3600" go as numbers, "5m" as a string (Ollama takes both). */
static json_t *keep_alive_value(const char *s)
{
	char *end;
	long long n = strtoll(s, &end, 10);
	if (end != s && *end == '\0') {
		return json_integer(n);
	}
	return jtext(s);
}

/* system_text joins req->system and the system messages (Gemini has one system instruction). */
static char *system_text(const struct llm_request *req)
{
	struct buf b;
	buf_init(&b);
	if (req->system && *req->system) {
		buf_append(&b, req->system, strlen(req->system));
	}
	for (size_t i = 0; i < req->n_messages; i++) {
		const struct llm_message *m = &req->messages[i];
		if (m->role == LLM_ROLE_SYSTEM && m->content && *m->content) {
			if (b.len > 0) {
				buf_append(&b, "\n\n", 2);
			}
			buf_append(&b, m->content, strlen(m->content));
		}
	}
	if (b.len == 0) {
		buf_finish(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/* chat_messages: [{role, content}] with req->system first (Ollama and OpenAI). */
static json_t *chat_messages(const struct llm_request *req)
{
	json_t *msgs = json_array();
	if (req->system && *req->system) {
		json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "system", "content",
		                                      jtext(req->system)));
	}
	for (size_t i = 0; i < req->n_messages; i++) {
		const struct llm_message *m = &req->messages[i];
		json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", llm_role_name(m->role),
		                                      "content", jtext(m->content)));
	}
	return msgs;
}

static json_t *gemini_body(const struct llm_request *req)
{
	json_t *root = json_object();
	json_t *contents = json_array();
	for (size_t i = 0; i < req->n_messages; i++) {
		const struct llm_message *m = &req->messages[i];
		if (m->role == LLM_ROLE_SYSTEM) {
			continue;
		}
		const char *role = m->role == LLM_ROLE_ASSISTANT ? "model" : "user";
		json_array_append_new(contents, json_pack("{s:s, s:[{s:o}]}", "role", role, "parts",
		                                          "text", jtext(m->content)));
	}
	json_object_set_new(root, "contents", contents);
	char *sys = system_text(req);
	if (sys) {
		json_object_set_new(root, "systemInstruction",
		                    json_pack("{s:[{s:o}]}", "parts", "text", jtext(sys)));
		free(sys);
	}
	json_t *gen = json_object();
	if (!isnan(req->temperature)) {
		json_object_set_new(gen, "temperature", json_real(req->temperature));
	}
	if (req->max_tokens > 0) {
		json_object_set_new(gen, "maxOutputTokens", json_integer(req->max_tokens));
	}
	if (req->include_thoughts) {
		json_object_set_new(gen, "thinkingConfig",
		                    json_pack("{s:b}", "includeThoughts", 1));
	}
	if (json_object_size(gen) > 0) {
		json_object_set_new(root, "generationConfig", gen);
	} else {
		json_decref(gen);
	}
	return root;
}

static json_t *ollama_body(const struct config *cfg, const struct llm_request *req,
                           const char *model)
{
	json_t *root = json_object();
	json_object_set_new(root, "model", jtext(model));
	json_object_set_new(root, "messages", chat_messages(req));
	json_object_set_new(root, "stream", json_true());
	json_t *opts = json_object();
	int num_ctx = req->num_ctx > 0 ? req->num_ctx : cfg->ollama.num_ctx;
	if (num_ctx <= 0) {
		num_ctx = 8192;
	}
	json_object_set_new(opts, "num_ctx", json_integer(num_ctx));
	double t = !isnan(req->temperature) ? req->temperature : cfg->ollama.temperature;
	if (!isnan(t)) {
		json_object_set_new(opts, "temperature", json_real(t));
	}
	if (req->max_tokens > 0) {
		json_object_set_new(opts, "num_predict", json_integer(req->max_tokens));
	}
	json_object_set_new(root, "options", opts);
	const char *ka = req->keep_alive ? req->keep_alive : cfg->ollama.keep_alive;
	if (ka && *ka) {
		json_object_set_new(root, "keep_alive", keep_alive_value(ka));
	}
	return root;
}

static json_t *openai_body(const struct llm_request *req, const char *model)
{
	json_t *root = json_object();
	json_object_set_new(root, "model", jtext(model));
	json_object_set_new(root, "messages", chat_messages(req));
	json_object_set_new(root, "stream", json_true());
	json_object_set_new(root, "stream_options", json_pack("{s:b}", "include_usage", 1));
	if (!isnan(req->temperature)) {
		json_object_set_new(root, "temperature", json_real(req->temperature));
	}
	if (req->max_tokens > 0) {
		json_object_set_new(root, "max_tokens", json_integer(req->max_tokens));
	}
	return root;
}

static char *dump(json_t *root)
{
	char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(root);
	if (!s) {
		abort(); /* only on allocation failure */
	}
	char *out = xstrdup(s);
	free(s);
	return out;
}

char *llm_request_body(const struct config *cfg, const struct llm_request *req, const char *model)
{
	switch (req->provider) {
	case LLM_GEMINI:
		return dump(gemini_body(req));
	case LLM_OPENAI:
		return dump(openai_body(req, model ? model : ""));
	case LLM_OLLAMA:
	default:
		return dump(ollama_body(cfg, req, model ? model : ""));
	}
}

/* ---- the chat stream ---------------------------------------------------------------------- */

static void on_stream_token(void *ud, const char *text, size_t len, bool thinking)
{
	struct llm_call *call = ud;
	if (!call->detached && call->cb.on_token) {
		call->cb.on_token(call->cb.ud, text, len, thinking);
	}
}

static bool on_ndjson_line(void *ud, const char *line, size_t len)
{
	struct llm_call *call = ud;
	return llm_stream_unit(&call->st, line, len) && !call->detached;
}

static bool looks_like_json(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '{' || s[i] == '[') {
			return true;
		}
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n') {
			return false;
		}
	}
	return false;
}

static bool on_sse_event(void *ud, const struct sse_event *ev)
{
	struct llm_call *call = ud;
	if (ev->has_data && !llm_stream_unit(&call->st, ev->data, ev->data_len)) {
		return false;
	}
	/* Gemini may end a stream with a bare JSON error object, outside any data: line. */
	if (ev->other_len > 0 && looks_like_json(ev->other, ev->other_len) &&
	    !llm_stream_unit(&call->st, ev->other, ev->other_len)) {
		return false;
	}
	return !call->detached;
}

static void on_split_error(void *ud, const struct err *e)
{
	struct llm_call *call = ud;
	if (!call->st.failed) {
		call->st.failed = true;
		err_set(&call->st.err, ERR_TOO_LARGE, 0,
		        "%s: %s: not a chat stream; is url in [%s] the right service?",
		        llm_provider_name(call->provider), e->msg,
		        llm_provider_name(call->provider));
	}
}

static bool on_chat_chunk(void *ud, const char *data, size_t len)
{
	struct llm_call *call = ud;
	call->in_feed = true;
	bool go = call->provider == LLM_OLLAMA ? ndjson_feed(&call->nd, data, len)
	                                       : sse_feed(&call->sse, data, len);
	call->in_feed = false;
	return go && !call->detached && !call->st.failed;
}

/* key_hint_fix makes the hint of a refused key (llm_parse_error: "(api_key_env in [P])") name
 * the key the config actually read it from: api_key, api_key_env or api_key_file, or say that
 * no key is set. */
static void key_hint_fix(const struct config *cfg, enum llm_provider p, struct err *e)
{
	if (p != LLM_GEMINI && p != LLM_OPENAI) {
		return;
	}
	enum config_source src =
	        p == LLM_GEMINI ? cfg->gemini.api_key_source : cfg->openai.api_key_source;
	if (src == CONFIG_SOURCE_ENV) {
		return;
	}
	const char *name = llm_provider_name(p);
	char *from = xasprintf("(api_key_env in [%s])", name);
	char *hit = strstr(e->msg, from);
	if (hit) {
		char *to =
		        src == CONFIG_SOURCE_NONE
		                ? xasprintf("(no key is set: add api_key_env = VARIABLE or "
		                            "api_key_file = PATH to [%s])",
		                            name)
		                : xasprintf("(api_key%s in [%s])", config_source_suffix(src), name);
		char *tail = xstrdup(hit + strlen(from));
		int head = (int)(hit - e->msg);
		int room = (int)sizeof(e->msg) - 1 - (int)strlen(to) - (int)strlen(tail);
		if (head > room) {
			head = room > 0 ? room : 0; /* the API's message is cut, never the hint */
		}
		char buf[sizeof(e->msg)];
		snprintf(buf, sizeof(buf), "%.*s%s%s", head, e->msg, to, tail);
		memcpy(e->msg, buf, sizeof(buf));
		free(tail);
		free(to);
	}
	free(from);
}

static void on_chat_done(void *ud, struct http_response *resp, const struct err *err)
{
	struct llm_call *call = ud;
	call->req = NULL;
	if (call->detached) {
		call_free(call);
		return;
	}
	if (!err) {
		bool failed_before = call->st.failed;
		call->in_feed = true;
		if (call->provider == LLM_OLLAMA) {
			ndjson_finish(&call->nd);
		} else {
			sse_finish(&call->sse);
		}
		call->in_feed = false;
		if (call->detached) {
			call_free(call);
			return;
		}
		if (!failed_before && call->st.failed && call->st.err.code == ERR_MALFORMED &&
		    !call->st.done) {
			/* The last piece broke off in the middle: the stream was cut short, which
			 * llm_stream_end says better than "malformed". */
			call->st.failed = false;
			err_clear(&call->st.err);
			if (call->st.units == 1 && call->st.text.len == 0 &&
			    call->st.thinking.len == 0) {
				/* ... unless that piece was all there was: then it never was a
				 * chat stream (an HTML page, a broken document), and
				 * llm_stream_end says so. */
				call->st.units = 0;
			}
		}
		llm_stream_end(&call->st);
	} else if (call->st.failed) {
		/* We stopped the stream ourselves: an error came inside it. */
	} else if (http_failed_with_status(resp)) {
		double delay = -1;
		llm_parse_error(call->provider, resp->status, resp->body, resp->len,
		                resp->retry_after, &call->st.err, &delay);
		call->st.failed = true;
		call->st.retry_after = delay;
	} else {
		call->st.failed = true;
		call->st.err = *err;
	}
	if (call->st.failed) {
		key_hint_fix(call->l->cfg, call->provider, &call->st.err);
	}
	struct llm_result *res = llm_stream_result(&call->st, call->model);
	struct llm_callbacks cb = call->cb;
	call_free(call);
	cb.on_done(cb.ud, res);
}

/* start_request sends method url with body; the key header, if any, is wiped after. */
static struct http_request *start_request(struct llm_call *call, const char *method,
                                          const char *url, const char *body, const char *accept,
                                          http_chunk_fn on_chunk, http_done_fn on_done,
                                          long timeout_ms)
{
	const struct config *cfg = call->l->cfg;
	char *key_header = NULL;
	if (call->provider == LLM_GEMINI) {
		key_header = xasprintf("x-goog-api-key: %s", cfg->gemini.api_key);
	} else if (call->provider == LLM_OPENAI && cfg->openai.api_key && *cfg->openai.api_key) {
		key_header = xasprintf("Authorization: Bearer %s", cfg->openai.api_key);
	}
	char *accept_header = xasprintf("Accept: %s", accept);
	const char *headers[4];
	size_t nh = 0;
	headers[nh++] = accept_header;
	if (body) {
		headers[nh++] = "Content-Type: application/json";
	}
	if (key_header) {
		headers[nh++] = key_header;
	}
	headers[nh] = NULL;
	struct http_request_opts o = {
	        .backend = llm_provider_name(call->provider),
	        .method = method,
	        .url = url,
	        .headers = headers,
	        .body = body,
	        .body_len = body ? strlen(body) : 0,
	        .timeout_ms = timeout_ms,
	        .idle_timeout_ms = timeout_ms < 0 ? call->l->idle_timeout_ms : 0,
	        /* A model list or a whole answer is well under 1 MiB; a stream is not kept. */
	        .max_body = (size_t)8 << 20,
	        .max_retries = body ? 0 : -1,
	        .on_chunk = on_chunk,
	        .on_done = on_done,
	        .ud = call,
	};
	struct http_request *req = http_start(call->l->http, &o);
	if (key_header) {
		explicit_bzero(key_header, strlen(key_header));
		free(key_header);
	}
	free(accept_header);
	return req;
}

struct llm_call *llm_chat(struct llm *l, const struct llm_request *req,
                          const struct llm_callbacks *cb, struct err *err)
{
	const char *model =
	        req->model && *req->model ? req->model : llm_default_model(l->cfg, req->provider);
	if (!llm_ready(l->cfg, req->provider, model, err)) {
		return NULL;
	}
	struct llm_call *call = call_new(l, CALL_CHAT, req->provider);
	call->model = xstrdup(model);
	call->cb = *cb;
	llm_stream_init(&call->st, req->provider, on_stream_token, call);
	ndjson_init(&call->nd, 0, on_ndjson_line, on_split_error, call);
	sse_init(&call->sse, 0, on_sse_event, on_split_error, call);
	char *url = llm_request_url(l->cfg, req, model);
	char *body = llm_request_body(l->cfg, req, model);
	const char *accept =
	        req->provider == LLM_OLLAMA ? "application/x-ndjson" : "text/event-stream";
	call->req = start_request(call, "POST", url, body, accept, on_chat_chunk, on_chat_done, -1);
	free(url);
	free(body);
	return call;
}

struct llm_result *llm_cancel(struct llm_call *call)
{
	if (!call) {
		return NULL;
	}
	struct llm_result *res = NULL;
	if (call->kind == CALL_CHAT && !call->detached) {
		res = llm_stream_result(&call->st, call->model);
		res->cancelled = true;
		res->truncated = true;
		res->ok = false;
		err_set(&res->err, ERR_CANCELLED, 0, "%s: cancelled",
		        llm_provider_name(call->provider));
	}
	if (call->in_feed) {
		/* Inside our own stream callback: the request stops when the feed returns. */
		call->detached = true;
		return res;
	}
	if (call->req) {
		http_cancel(call->req);
		call->req = NULL;
	}
	call_free(call);
	return res;
}

/* ---- Ollama's other calls ----------------------------------------------------------------- */

/* fail_from_http fills e for a finished request that failed. */
static void fail_from_http(struct llm_call *call, struct http_response *resp, const struct err *err,
                           struct err *e)
{
	if (http_failed_with_status(resp)) {
		llm_parse_error(call->provider, resp->status, resp->body, resp->len,
		                resp->retry_after, e, NULL);
		key_hint_fix(call->l->cfg, call->provider, e);
	} else {
		*e = *err;
	}
}

static void on_models_done(void *ud, struct http_response *resp, const struct err *err)
{
	struct llm_call *call = ud;
	call->req = NULL;
	llm_models_fn cb = call->models_cb;
	void *cb_ud = call->ud;
	struct err e;
	err_clear(&e);
	if (err) {
		fail_from_http(call, resp, err, &e);
	}
	call_free(call);
	if (err) {
		cb(cb_ud, NULL, &e);
		return;
	}
	struct llm_models *models = xcalloc(1, sizeof(*models));
	if (!llm_parse_models(resp->body, resp->len, models, &e)) {
		llm_models_free(models);
		cb(cb_ud, NULL, &e);
		return;
	}
	cb(cb_ud, models, NULL);
}

static struct llm_call *models_call(struct llm *l, const char *path, llm_models_fn cb, void *ud)
{
	struct llm_call *call = call_new(l, CALL_MODELS, LLM_OLLAMA);
	call->models_cb = cb;
	call->ud = ud;
	char *base = trimmed_url(l->cfg->ollama.url);
	char *url = xasprintf("%s%s", base, path);
	call->req =
	        start_request(call, "GET", url, NULL, "application/json", NULL, on_models_done, 0);
	free(url);
	free(base);
	return call;
}

struct llm_call *llm_ollama_tags(struct llm *l, llm_models_fn cb, void *ud)
{
	return models_call(l, "/api/tags", cb, ud);
}

struct llm_call *llm_ollama_ps(struct llm *l, llm_models_fn cb, void *ud)
{
	return models_call(l, "/api/ps", cb, ud);
}
