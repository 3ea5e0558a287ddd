/* test_rag_retrieve.c: the retrieval step against a local index written in a temporary
 * $XDG_STATE_HOME and a small evhttp server playing Ollama's /api/embed: the nearest chunk
 * first, Ollama down, a damaged index, and cancelling at every point of a retrieval. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "rag_retrieve.h"
#include "support.h"
#include "util.h"
#include "vector_store.h"

#define DIM 4
#define WAIT_MS 5000
#define MAX_HELD 64

struct fixture {
	struct event_base *base;
	struct event *tick;
	struct evhttp *server;
	int port;
	struct http *http;
	char dir[64];
	char *index_path;
	struct config cfg;
	char *url;

	/* the server */
	int embed_requests;
	char last_input[256];
	bool hold;                             /* keep requests unanswered */
	struct evhttp_request *held[MAX_HELD]; /* answered (with an error) at teardown */
	int n_held;
	float answer[DIM]; /* the vector every question gets */
};

struct outcome {
	int calls;
	struct rag_retrieve_result *res;
};

static void on_result(void *ud, struct rag_retrieve_result *r)
{
	struct outcome *o = ud;
	o->calls++;
	if (o->res) {
		rag_retrieve_result_free(o->res);
	}
	o->res = r;
}

/* --- the Ollama stand-in --- */

static void on_server_request(struct evhttp_request *req, void *arg)
{
	struct fixture *f = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (strcmp(path, "/api/embed") != 0) {
		support_reply(req, 404, "Not Found", "application/json", "{\"error\":\"no\"}", 14);
		return;
	}
	f->embed_requests++;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char *body = xmalloc(len + 1);
	evbuffer_copyout(in, body, len);
	body[len] = '\0';
	json_t *root = json_loads(body, 0, NULL);
	free(body);
	json_t *input = json_object_get(root, "input");
	const char *first = json_string_value(json_array_get(input, 0));
	snprintf(f->last_input, sizeof(f->last_input), "%s", first ? first : "");
	bool known = str_eq(json_string_value(json_object_get(root, "model")), "bge-m3");
	json_decref(root);
	if (!known) {
		static const char missing[] =
		        "{\"error\":\"model \\\"no-such-embedder\\\" not found, try pulling it "
		        "first\"}";
		support_reply(req, 404, "Not Found", "application/json", missing,
		              sizeof(missing) - 1);
		return;
	}
	if (f->hold) {
		assert_true(f->n_held < MAX_HELD);
		f->held[f->n_held++] = req;
		return;
	}
	char *answer = xasprintf("{\"model\":\"bge-m3\",\"embeddings\":[[%g,%g,%g,%g]],"
	                         "\"prompt_eval_count\":7}",
	                         f->answer[0], f->answer[1], f->answer[2], f->answer[3]);
	support_reply(req, 200, "OK", "application/json", answer, strlen(answer));
	free(answer);
}

/* --- the index --- */

static void on_store(void *ud, const struct err *err)
{
	struct outcome *o = ud;
	o->calls++;
	if (err) {
		fail_msg("vector store: %s", err->msg);
	}
}

static const float E1[DIM] = {1, 0, 0, 0}, E2[DIM] = {0, 1, 0, 0}, MIX[DIM] = {1, 1, 0, 0},
                   NEG[DIM] = {-1, 0, 0, 0};

/* Writes the index: four chunks of bge-m3 in two files, one of another model. */
static void write_index(struct fixture *f)
{
	struct vector_store_opts o = {.base = f->base, .local_path = f->index_path, .write = true};
	struct outcome w = {0};
	struct vector_store *vs = vector_store_open(&o, on_store, &w);
	SUPPORT_WAIT_FOR(f->base, w.calls == 1, WAIT_MS);
	const struct vector_store_chunk a[] = {
	        {"Compass > east", "east", E1},
	        {"Compass > north", "north", E2},
	        {"Compass > north-east", "north-east", MIX},
	};
	const struct vector_store_chunk b[] = {{"West", "west", NEG}};
	const struct vector_store_chunk other[] = {{"Other", "east, other model", E1}};
	vector_store_replace(vs, "/docs/a.md", "sha256:a", "bge-m3", a, 3, DIM, on_store, &w);
	SUPPORT_WAIT_FOR(f->base, w.calls == 2, WAIT_MS);
	vector_store_replace(vs, "/docs/b.md", "sha256:b", "bge-m3", b, 1, DIM, on_store, &w);
	SUPPORT_WAIT_FOR(f->base, w.calls == 3, WAIT_MS);
	vector_store_replace(vs, "/docs/c.md", "sha256:c", "other", other, 1, DIM, on_store, &w);
	SUPPORT_WAIT_FOR(f->base, w.calls == 4, WAIT_MS);
	vector_store_close(vs);
}

/* A loopback port nothing listens on. */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t len = sizeof(sa);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->base = support_base_new(&f->tick);
	f->server = support_server_new(f->base, on_server_request, f, &f->port);
	f->http = http_create(f->base);
	strcpy(f->dir, "/tmp/labdeck-rr-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	setenv("XDG_STATE_HOME", f->dir, 1);
	f->index_path = vector_store_default_path();
	assert_non_null(strstr(f->index_path, f->dir));
	f->url = xasprintf("http://127.0.0.1:%d", f->port);
	f->cfg.ollama.url = f->url;
	f->cfg.ollama.embed_model = "bge-m3";
	f->cfg.rag.top_k = 3;
	memcpy(f->answer, (const float[]){0.9f, 0.1f, 0, 0}, sizeof(f->answer));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	http_destroy(f->http);
	for (int i = 0; i < f->n_held; i++) {
		evhttp_send_reply(f->held[i], 503, "Gone", NULL);
	}
	evhttp_free(f->server);
	support_base_free(f->base, f->tick);
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	unsetenv("XDG_STATE_HOME");
	free(f->index_path);
	free(f->url);
	free(f);
	return 0;
}

static struct rag_retrieve_opts opts_of(struct fixture *f, size_t k)
{
	struct rag_retrieve_opts o = {
	        .base = f->base,
	        .http = f->http,
	        .cfg = &f->cfg,
	        .k = k,
	        .timeout_ms = 3000,
	};
	return o;
}

/* Retrieves for question and waits for the one result. */
static struct rag_retrieve_result *retrieve(struct fixture *f, size_t k, const char *question)
{
	struct rag_retrieve_opts o = opts_of(f, k);
	struct outcome out = {0};
	struct rag_retrieval *r = rag_retrieve_start(&o, question, on_result, &out);
	assert_non_null(r);
	assert_int_equal(out.calls, 0); /* never from inside the call */
	SUPPORT_WAIT_FOR(f->base, out.calls > 0, WAIT_MS);
	/* exactly once */
	support_run_for(f->base, 50);
	assert_int_equal(out.calls, 1);
	return out.res;
}

/* --- tests --- */

static void nearest_chunk_first(void **state)
{
	struct fixture *f = *state;
	write_index(f);
	/* Mostly east, a little north: east, then north-east, then north; never "west", never
	 * the other model's chunk. */
	struct rag_retrieve_result *r = retrieve(f, 0, "which way is east?");
	if (!r->ok) {
		fail_msg("retrieval failed: %s", r->err.msg);
	}
	assert_null(r->backend);
	assert_int_equal(f->embed_requests, 1);
	assert_string_equal(f->last_input, "which way is east?");
	assert_int_equal(r->hits.len, 3); /* [rag] top_k */
	assert_string_equal(r->hits.items[0].text, "east");
	assert_string_equal(r->hits.items[0].source, "/docs/a.md");
	assert_string_equal(r->hits.items[1].text, "north-east");
	assert_string_equal(r->hits.items[2].text, "north");
	assert_true(r->hits.items[0].distance < r->hits.items[1].distance);
	assert_true(r->hits.items[1].distance < r->hits.items[2].distance);
	assert_false(r->embedding_cached);
	assert_int_equal(r->embed_tokens, 7);
	assert_non_null(r->store);
	assert_non_null(strstr(r->store, f->index_path));
	rag_retrieve_result_free(r);

	/* k from the caller wins over [rag] top_k; west is the farthest of all */
	memcpy(f->answer, NEG, sizeof(f->answer));
	r = retrieve(f, 1, "west");
	assert_true(r->ok);
	assert_int_equal(r->hits.len, 1);
	assert_string_equal(r->hits.items[0].text, "west");
	rag_retrieve_result_free(r);

	/* an empty index: no hits, and that is no failure */
	assert_int_equal(unlink(f->index_path), 0);
	r = retrieve(f, 0, "anything");
	assert_true(r->ok);
	assert_int_equal(r->hits.len, 0);
	rag_retrieve_result_free(r);
	rag_retrieve_result_free(NULL);
}

static void ollama_down(void **state)
{
	struct fixture *f = *state;
	write_index(f);
	char *url = xasprintf("http://127.0.0.1:%d", closed_port());
	f->cfg.ollama.url = url;
	struct rag_retrieve_result *r = retrieve(f, 0, "east");
	assert_false(r->ok);
	assert_non_null(r->backend);
	assert_string_equal(r->backend, "ollama");
	assert_true(str_has_prefix(r->err.msg, "ollama: "));
	assert_true(r->err.code == ERR_UNREACHABLE || r->err.code == ERR_NETWORK);
	assert_int_equal(r->hits.len, 0);
	rag_retrieve_result_free(r);
	f->cfg.ollama.url = f->url;
	free(url);

	/* Ollama answering with an error of its own: its message */
	f->cfg.ollama.embed_model = "no-such-embedder";
	r = retrieve(f, 0, "east");
	assert_false(r->ok);
	assert_string_equal(r->backend, "ollama");
	assert_int_equal(r->err.code, ERR_NOT_FOUND);
	assert_non_null(strstr(r->err.msg, "no-such-embedder"));
	rag_retrieve_result_free(r);
}

static void index_damaged(void **state)
{
	struct fixture *f = *state;
	write_index(f);
	size_t len;
	char *good = support_read_file(f->index_path, &len);
	good[len / 2] ^= 0x20;
	FILE *out = fopen(f->index_path, "wb");
	assert_non_null(out);
	assert_int_equal(fwrite(good, 1, len, out), len);
	fclose(out);
	free(good);

	struct rag_retrieve_result *r = retrieve(f, 0, "east");
	assert_false(r->ok);
	assert_non_null(r->backend);
	assert_string_equal(r->backend, "rag");
	assert_int_equal(r->err.code, ERR_MALFORMED);
	assert_true(str_has_prefix(r->err.msg, "rag: "));
	assert_non_null(strstr(r->err.msg, "damaged"));
	assert_non_null(strstr(r->err.msg, f->index_path));
	assert_int_equal(r->hits.len, 0);
	assert_non_null(strstr(r->store, f->index_path));
	rag_retrieve_result_free(r);
}

static void cancel_while_embedding(void **state)
{
	struct fixture *f = *state;
	write_index(f);
	f->hold = true;
	struct rag_retrieve_opts o = opts_of(f, 0);
	struct outcome out = {0};
	struct rag_retrieval *r = rag_retrieve_start(&o, "east", on_result, &out);
	/* The index is open long before Ollama answers: the retrieval waits for the vector. */
	SUPPORT_WAIT_FOR(f->base, f->embed_requests == 1, WAIT_MS);
	support_run_for(f->base, 100);
	assert_int_equal(out.calls, 0);
	rag_retrieve_cancel(r);
	support_run_for(f->base, 100);
	assert_int_equal(out.calls, 0);
	assert_int_equal(http_pending(f->http), 0); /* the request was dropped */

	/* cancelled at once: the store still opening, the request not sent yet */
	r = rag_retrieve_start(&o, "east", on_result, &out);
	rag_retrieve_cancel(r);
	rag_retrieve_cancel(NULL);
	support_run_for(f->base, 100);
	assert_int_equal(out.calls, 0);
}

/* Cancelled after 1, 2, 3... turns of the loop, until a retrieval ends before its cancel: every
 * stage (opening, embedding, the query running) is cancelled once; ASan checks the rest. */
static void cancel_at_every_stage(void **state)
{
	struct fixture *f = *state;
	write_index(f);
	struct rag_retrieve_opts o = opts_of(f, 0);
	bool finished = false;
	int turns;
	for (turns = 0; turns < 200 && !finished; turns++) {
		struct outcome out = {0};
		struct rag_retrieval *r = rag_retrieve_start(&o, "east", on_result, &out);
		for (int i = 0; i < turns && !out.calls; i++) {
			event_base_loop(f->base, EVLOOP_ONCE);
		}
		if (out.calls) {
			finished = true;
			assert_true(out.res->ok);
			assert_string_equal(out.res->hits.items[0].text, "east");
			rag_retrieve_result_free(out.res);
			continue;
		}
		rag_retrieve_cancel(r);
		support_run_for(f->base, 30);
		assert_int_equal(out.calls, 0);
	}
	assert_true(finished);
	assert_true(turns > 2); /* there was something to cancel on the way */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(nearest_chunk_first, setup, teardown),
	        cmocka_unit_test_setup_teardown(ollama_down, setup, teardown),
	        cmocka_unit_test_setup_teardown(index_damaged, setup, teardown),
	        cmocka_unit_test_setup_teardown(cancel_while_embedding, setup, teardown),
	        cmocka_unit_test_setup_teardown(cancel_at_every_stage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
