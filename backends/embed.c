/* embed.c: see embed.h. One batch in flight at a time; the vectors of each answer are appended
 * to one result that goes to the callback when the last batch is in. */
#include "embed.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"
#include "http.h"
#include "json_util.h"
#include "util.h"

struct embed_request {
	struct http *http;
	char *url, *model, *keep_alive;
	char **texts;
	size_t n, next, batch;
	long timeout_ms;
	char *body;
	struct http_request *req;
	struct embed_result *res;
	embed_done_fn done;
	void *ud;
};

void embed_result_destroy(struct embed_result *r)
{
	if (!r) {
		return;
	}
	free(r->vectors);
	free(r);
}

char *embed_request_body(const char *model, const char *const *texts, size_t n,
                         const char *keep_alive)
{
	json_t *root = json_object();
	json_object_set_new(root, "model", json_string(model ? model : ""));
	json_t *input = json_array();
	for (size_t i = 0; i < n; i++) {
		/* Invalid UTF-8 would make jansson refuse the string: send it with U+FFFD instead.
		 */
		json_t *s = json_string(texts[i]);
		if (!s) {
			char *fixed = chunker_fix_utf8(texts[i], strlen(texts[i]));
			s = json_string(fixed);
			free(fixed);
		}
		json_array_append_new(input, s);
	}
	json_object_set_new(root, "input", input);
	json_object_set_new(root, "truncate", json_true());
	if (keep_alive) {
		json_object_set_new(root, "keep_alive", json_string(keep_alive));
	}
	char *out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	char *copy = xstrdup(out);
	free(out);
	return copy;
}

bool embed_parse(const char *body, size_t len, size_t want, struct embed_result *out,
                 struct err *err)
{
	char jerr[160];
	json_t *root = json_load_body(body, len, jerr, sizeof(jerr));
	if (!root) {
		return err_set(err, ERR_MALFORMED, 0, "ollama: /api/embed answer is not JSON: %s",
		               jerr);
	}
	bool ok = false;
	const char *emsg = json_str(root, "error");
	json_t *embs = json_object_get(root, "embeddings");
	if (emsg) {
		err_set(err, ERR_SERVER, 0, "ollama: %s", emsg);
		goto out;
	}
	if (!json_is_array(embs)) {
		err_set(err, ERR_MALFORMED, 0,
		        "ollama: /api/embed answer has no \"embeddings\" list");
		goto out;
	}
	if (json_array_size(embs) != want) {
		err_set(err, ERR_MALFORMED, 0,
		        "ollama: /api/embed gave %zu embeddings for %zu texts",
		        json_array_size(embs), want);
		goto out;
	}
	size_t dim = out->n ? out->dim : 0;
	for (size_t i = 0; i < want; i++) {
		json_t *v = json_array_get(embs, i);
		size_t d = json_is_array(v) ? json_array_size(v) : 0;
		if (d == 0) {
			err_set(err, ERR_MALFORMED, 0,
			        "ollama: embedding %zu is not a list of numbers", i);
			goto out;
		}
		if (dim && d != dim) {
			err_set(err, ERR_MALFORMED, 0,
			        "ollama: embeddings of different sizes (%zu and %zu numbers)", dim,
			        d);
			goto out;
		}
		dim = d;
	}
	out->vectors = xrealloc(out->vectors, (out->n + want) * dim * sizeof(float));
	for (size_t i = 0; i < want; i++) {
		json_t *v = json_array_get(embs, i);
		float *row = out->vectors + (out->n + i) * dim;
		for (size_t j = 0; j < dim; j++) {
			json_t *x = json_array_get(v, j);
			if (!json_is_number(x) || !isfinite(json_number_value(x))) {
				err_set(err, ERR_MALFORMED, 0,
				        "ollama: embedding %zu holds something not a number at %zu",
				        i, j);
				goto out;
			}
			row[j] = (float)json_number_value(x);
		}
	}
	out->n += want;
	out->dim = dim;
	int64_t tokens;
	if (json_int(root, "prompt_eval_count", &tokens)) {
		out->prompt_tokens =
		        (out->prompt_tokens < 0 ? 0 : out->prompt_tokens) + (long)tokens;
	}
	ok = true;
out:
	json_decref(root);
	return ok;
}

void embed_error(struct err *out, const char *model, long status, const char *body, size_t len,
                 const struct err *transport)
{
	if (status <= 0 || (status >= 200 && status < 300)) {
		*out = *transport;
		return;
	}
	char *detail = NULL;
	json_t *root = len ? json_loadb(body, len, 0, NULL) : NULL;
	if (root && json_str(root, "error")) {
		detail = xstrdup(json_str(root, "error"));
	}
	json_decref(root);
	http_status_error(out, "ollama", status, detail);
	if (status == 404 && model) {
		size_t n = strlen(out->msg);
		snprintf(out->msg + n, sizeof(out->msg) - n,
		         " (pull it with 'ollama pull %s', or set [ollama] embed_model)", model);
	}
	free(detail);
}

static void start_batch(struct embed_request *r);

static void finish(struct embed_request *r, const struct err *err)
{
	struct embed_result *res = err ? NULL : r->res;
	if (err) {
		embed_result_destroy(r->res);
	}
	r->res = NULL;
	r->req = NULL;
	embed_done_fn done = r->done;
	void *ud = r->ud;
	r->done = NULL;
	embed_cancel(r);
	done(ud, res, err);
}

static void on_done(void *ud, struct http_response *resp, const struct err *err)
{
	struct embed_request *r = ud;
	r->req = NULL;
	size_t count = r->n - r->next < r->batch ? r->n - r->next : r->batch;
	struct err e;
	err_clear(&e);
	if (err) {
		embed_error(&e, r->model, resp->status, resp->body, resp->len, err);
		finish(r, &e);
		return;
	}
	if (!embed_parse(resp->body, resp->len, count, r->res, &e)) {
		finish(r, &e);
		return;
	}
	r->next += count;
	if (r->next >= r->n) {
		finish(r, NULL);
		return;
	}
	start_batch(r);
}

static void start_batch(struct embed_request *r)
{
	size_t count = r->n - r->next < r->batch ? r->n - r->next : r->batch;
	free(r->body);
	r->body = embed_request_body(r->model, (const char *const *)r->texts + r->next, count,
	                             r->keep_alive);
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	struct http_request_opts o = {
	        .backend = "ollama",
	        .method = "POST",
	        .url = r->url,
	        .headers = headers,
	        .body = r->body,
	        .body_len = strlen(r->body),
	        .timeout_ms = r->timeout_ms,
	        .max_retries = 0,
	        .on_done = on_done,
	        .ud = r,
	};
	r->req = http_start(r->http, &o);
}

struct embed_request *embed_start(struct http *h, const struct embed_opts *opts,
                                  const char *const *texts, size_t n, embed_done_fn done, void *ud)
{
	struct embed_request *r = xcalloc(1, sizeof(*r));
	r->http = h;
	const char *base = opts->url ? opts->url : "http://127.0.0.1:11434";
	size_t blen = strlen(base);
	while (blen && base[blen - 1] == '/') {
		blen--;
	}
	r->url = xasprintf("%.*s/api/embed", (int)blen, base);
	r->model = xstrdup(opts->model ? opts->model : "bge-m3");
	r->keep_alive = opts->keep_alive ? xstrdup(opts->keep_alive) : NULL;
	r->batch = opts->batch ? opts->batch : EMBED_BATCH;
	r->timeout_ms = opts->timeout_ms ? opts->timeout_ms : EMBED_TIMEOUT_MS;
	r->texts = xcalloc(n ? n : 1, sizeof(*r->texts));
	for (size_t i = 0; i < n; i++) {
		r->texts[i] = xstrdup(texts[i]);
	}
	r->n = n;
	r->res = xcalloc(1, sizeof(*r->res));
	r->res->prompt_tokens = -1;
	r->done = done;
	r->ud = ud;
	start_batch(r);
	return r;
}

void embed_cancel(struct embed_request *r)
{
	if (!r) {
		return;
	}
	if (r->req) {
		http_cancel(r->req);
	}
	for (size_t i = 0; i < r->n; i++) {
		free(r->texts[i]);
	}
	free(r->texts);
	free(r->url);
	free(r->model);
	free(r->keep_alive);
	free(r->body);
	embed_result_destroy(r->res);
	free(r);
}
