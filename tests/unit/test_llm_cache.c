/* test_llm_cache.c: the answer and embedding cache. Keys and the float packing are pure; the
 * cache turned off, or with Redis unreachable, must behave as a miss; with LABDECK_TEST_REDIS_URL
 * naming a real redis-server (tests/integration/test_sessions.py starts one), answers and
 * embeddings go in with their TTL and come back exactly. Those tests skip without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "llm_cache.h"
#include "redis_client.h"
#include "support.h"
#include "util.h"

#define WAIT_MS 5000
#define TEST_DB 10

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle))) {                                                    \
			fail_msg("line %d: \"%s\" does not contain \"%s\"", __LINE__, (hay),       \
			         (needle));                                                        \
		}                                                                                  \
	} while (0)

static const struct llm_cache_message chat[] = {
        {"system", "You are terse."},
        {"user", "GPU 메모리는?"},
        {"assistant", "12 GiB free."},
        {"user", "And on node-b?"},
};

static struct llm_cache_request request(json_t *params)
{
	struct llm_cache_request r = {
	        .provider = "ollama",
	        .model = "qwen2.5:7b",
	        .messages = chat,
	        .n_messages = sizeof(chat) / sizeof(chat[0]),
	        .params = params,
	};
	return r;
}

/* ---- keys ---------------------------------------------------------------------------------- */

static void keys(void **state)
{
	json_t *p1 = json_pack("{s:f, s:i}", "temperature", 0.2, "num_ctx", 8192);
	json_t *p2 = json_pack("{s:i, s:f}", "num_ctx", 8192, "temperature", 0.2); /* other order */
	json_t *p3 = json_pack("{s:f, s:i}", "temperature", 0.3, "num_ctx", 8192);
	struct llm_cache_request r = request(p1);
	char *k1 = llm_cache_key(&r);
	assert_int_equal(strlen(k1), strlen("labdeck:cache:chat:") + 64);
	assert_true(str_has_prefix(k1, "labdeck:cache:chat:"));
	for (const char *c = k1 + strlen("labdeck:cache:chat:"); *c; c++) {
		assert_non_null(strchr("0123456789abcdef", *c));
	}
	char *again = llm_cache_key(&r);
	assert_string_equal(k1, again); /* deterministic */
	free(again);
	r.params = p2;
	char *k2 = llm_cache_key(&r);
	assert_string_equal(k1, k2); /* parameter order does not matter */
	free(k2);

	/* Anything else that differs makes another key. */
	char *other[8];
	size_t n = 0;
	r = request(p3);
	other[n++] = llm_cache_key(&r);
	r = request(p1);
	r.provider = "openai";
	other[n++] = llm_cache_key(&r);
	r = request(p1);
	r.model = "qwen2.5:14b";
	other[n++] = llm_cache_key(&r);
	r = request(p1);
	r.n_messages = 3;
	other[n++] = llm_cache_key(&r);
	struct llm_cache_message swapped[4];
	memcpy(swapped, chat, sizeof(chat));
	swapped[2].role = "user";
	r = request(p1);
	r.messages = swapped;
	other[n++] = llm_cache_key(&r);
	r = request(NULL);
	other[n++] = llm_cache_key(&r);
	/* Fields do not run into each other: ("ab", "c") is not ("a", "bc"). */
	r = request(NULL);
	r.provider = "ab";
	r.model = "c";
	other[n++] = llm_cache_key(&r);
	r.provider = "a";
	r.model = "bc";
	other[n++] = llm_cache_key(&r);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(other[i], k1) == 0) {
			fail_msg("variant %zu has the same key", i);
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(other[i], other[j]) == 0) {
				fail_msg("variants %zu and %zu have the same key", i, j);
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(other[i]);
	}

	/* No parameters and empty parameters are the same request. */
	json_t *empty = json_object();
	r = request(NULL);
	char *a = llm_cache_key(&r);
	r.params = empty;
	char *b = llm_cache_key(&r);
	assert_string_equal(a, b);
	free(a);
	free(b);

	/* Bytes that are not UTF-8 count as U+FFFD (and do not break the key). */
	struct llm_cache_message bad[] = {{"user", "cut \xea\xb0"}};
	struct llm_cache_message fixed[] = {{"user", "cut \xef\xbf\xbd\xef\xbf\xbd"}};
	r = request(NULL);
	r.messages = bad;
	r.n_messages = 1;
	a = llm_cache_key(&r);
	r.messages = fixed;
	b = llm_cache_key(&r);
	assert_string_equal(a, b);
	free(a);
	free(b);

	json_decref(empty);
	json_decref(p1);
	json_decref(p2);
	json_decref(p3);
	free(k1);
}

static void embedding_keys(void **state)
{
	/* The canonical text is {"model":...,"text":...,"v":1}: pinned, since changing it throws
	 * the whole cache away. sha256('{"model":"bge-m3","text":"hello","v":1}'). */
	char *k = llm_cache_embedding_key("bge-m3", "hello");
	assert_string_equal(k, "labdeck:cache:embed:"
	                       "654c6d7210c8ee202ffbea7e4ac21a9617eec41b349b4e6be6cd2b31bd0f47d1");
	free(k);
	char *a = llm_cache_embedding_key("bge-m3", "안녕하세요");
	char *b = llm_cache_embedding_key("nomic-embed-text", "안녕하세요");
	char *c = llm_cache_embedding_key("bge-m3", "안녕하세요 ");
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	free(a);
	free(b);
	free(c);
}

static void floats(void **state)
{
	const float v[] = {1.0f, -2.5f, 0.0f, -0.0f, 3.4028235e38f, 1.17549435e-38f, 0.1f};
	size_t n = sizeof(v) / sizeof(v[0]);
	unsigned char packed[sizeof(v)];
	llm_cache_pack_floats(v, n, packed);
	/* little-endian binary32, whatever the host */
	const unsigned char one[] = {0x00, 0x00, 0x80, 0x3f};
	const unsigned char minus_two_and_half[] = {0x00, 0x00, 0x20, 0xc0};
	assert_memory_equal(packed, one, 4);
	assert_memory_equal(packed + 4, minus_two_and_half, 4);
	float *back = llm_cache_unpack_floats(packed, sizeof(packed));
	assert_non_null(back);
	assert_memory_equal(back, v, sizeof(v)); /* bit for bit, -0.0 included */
	free(back);
	assert_null(llm_cache_unpack_floats(packed, 7));
}

/* ---- callbacks ----------------------------------------------------------------------------- */

struct got {
	bool done;
	struct llm_cache_answer *hit;
	bool stored;
	struct llm_cache_vectors *vectors;
};

static void got_reset(struct got *g)
{
	llm_cache_answer_free(g->hit);
	llm_cache_vectors_free(g->vectors);
	memset(g, 0, sizeof(*g));
}

static void on_get(void *ud, struct llm_cache_answer *hit)
{
	struct got *g = ud;
	assert_false(g->done);
	g->done = true;
	g->hit = hit;
}

static void on_put(void *ud, bool stored)
{
	struct got *g = ud;
	assert_false(g->done);
	g->done = true;
	g->stored = stored;
}

static void on_vectors(void *ud, struct llm_cache_vectors *v)
{
	struct got *g = ud;
	assert_false(g->done);
	g->done = true;
	g->vectors = v;
}

struct fx {
	struct event_base *base;
	struct event *tick;
	struct redis_client *redis;
	struct llm_cache *cache;
};

static void fx_finish(struct fx *f)
{
	llm_cache_destroy(f->cache);
	redis_client_destroy(f->redis);
	support_base_free(f->base, f->tick);
}

static void get(struct fx *f, const struct llm_cache_request *r, struct got *g)
{
	got_reset(g);
	llm_cache_get(f->cache, r, on_get, g);
	assert_false(g->done); /* never before it returns */
	SUPPORT_WAIT_FOR(f->base, g->done, WAIT_MS);
}

static void put(struct fx *f, const struct llm_cache_request *r, const struct llm_cache_answer *a,
                struct got *g)
{
	got_reset(g);
	llm_cache_put(f->cache, r, a, on_put, g);
	assert_false(g->done);
	SUPPORT_WAIT_FOR(f->base, g->done, WAIT_MS);
}

static void get_vectors(struct fx *f, const char *model, const char *const *texts, size_t n,
                        struct got *g)
{
	got_reset(g);
	llm_cache_get_embeddings(f->cache, model, texts, n, on_vectors, g);
	assert_false(g->done);
	SUPPORT_WAIT_FOR(f->base, g->done, WAIT_MS);
}

static void put_vectors(struct fx *f, const char *model, const char *const *texts,
                        const float *const *vectors, const size_t *dims, size_t n, struct got *g)
{
	got_reset(g);
	llm_cache_put_embeddings(f->cache, model, texts, vectors, dims, n, on_put, g);
	assert_false(g->done);
	SUPPORT_WAIT_FOR(f->base, g->done, WAIT_MS);
}

static const struct llm_cache_answer answer = {
        .text = "node-b has 40 GiB free.",
        .thinking = "The user asks about node-b.",
        .prompt_tokens = 41,
        .completion_tokens = 9,
};

/* ---- no cache ------------------------------------------------------------------------------ */

static void off(void **state)
{
	struct fx f = {0};
	f.base = support_base_new(&f.tick);
	struct got g = {0};
	struct llm_cache_request r = request(NULL);
	const char *texts[] = {"a", "b"};
	const float va[] = {1, 2}, vb[] = {3, 4};
	const float *const vecs[] = {va, vb};
	const size_t dims[] = {2, 2};

	/* Without Redis. */
	f.cache = llm_cache_create(f.base, NULL, 86400);
	assert_false(llm_cache_enabled(f.cache));
	put(&f, &r, &answer, &g);
	assert_false(g.stored);
	get(&f, &r, &g);
	assert_null(g.hit);
	put_vectors(&f, "bge-m3", texts, vecs, dims, 2, &g);
	assert_false(g.stored);
	get_vectors(&f, "bge-m3", texts, 2, &g);
	assert_int_equal(g.vectors->n, 2);
	assert_int_equal(g.vectors->hits, 0);
	assert_null(g.vectors->vectors[0]);
	assert_null(g.vectors->vectors[1]);
	llm_cache_destroy(f.cache);

	/* With Redis configured but cache_ttl = 0: nothing is even asked. */
	struct err err;
	f.redis = redis_client_create(f.base, "redis://127.0.0.1:1/0", NULL, &err);
	f.cache = llm_cache_create(f.base, f.redis, 0);
	assert_false(llm_cache_enabled(f.cache));
	get(&f, &r, &g);
	assert_null(g.hit);
	assert_int_equal(redis_client_health(f.redis)->state, HEALTH_CONNECTING); /* untouched */
	assert_int_equal(llm_cache_stats(f.cache)->errors, 0);

	/* Cancelled, or pending when the cache goes: no callback. */
	got_reset(&g);
	struct llm_cache_op *op = llm_cache_get(f.cache, &r, on_get, &g);
	llm_cache_cancel(op);
	llm_cache_get(f.cache, &r, on_get, &g);
	llm_cache_destroy(f.cache);
	f.cache = NULL;
	support_run_for(f.base, 50);
	assert_false(g.done);

	got_reset(&g);
	fx_finish(&f);
}

static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t len = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	return ntohs(sa.sin_port);
}

static void unreachable(void **state)
{
	/* Redis down: a miss and "not stored", counted as errors, never a failure of the chat. */
	struct fx f = {0};
	f.base = support_base_new(&f.tick);
	char *url = xasprintf("redis://127.0.0.1:%d/0", closed_port());
	struct err err;
	f.redis = redis_client_create(f.base, url, NULL, &err);
	f.cache = llm_cache_create(f.base, f.redis, 3600);
	assert_true(llm_cache_enabled(f.cache));
	struct got g = {0};
	struct llm_cache_request r = request(NULL);
	get(&f, &r, &g);
	assert_null(g.hit);
	put(&f, &r, &answer, &g);
	assert_false(g.stored);
	const char *texts[] = {"a"};
	get_vectors(&f, "bge-m3", texts, 1, &g);
	assert_int_equal(g.vectors->n, 1);
	assert_null(g.vectors->vectors[0]);
	const struct llm_cache_stats *st = llm_cache_stats(f.cache);
	assert_int_equal(st->errors, 3);
	assert_int_equal(st->hits, 0);
	assert_int_equal(st->stores, 0);
	assert_int_equal(redis_client_health(f.redis)->state, HEALTH_FAILING);
	got_reset(&g);
	free(url);
	fx_finish(&f);
}

/* ---- against a real redis-server ----------------------------------------------------------- */

struct raw {
	bool done, failed;
	enum redis_client_type type;
	long long integer;
	char *str;
	size_t len;
};

static void on_raw(void *ud, const struct redis_client_reply *reply, const struct err *err)
{
	struct raw *r = ud;
	r->done = true;
	r->failed = err != NULL;
	if (reply) {
		r->type = reply->type;
		r->integer = reply->integer;
		r->len = reply->len;
		r->str = reply->str ? xstrndup(reply->str, reply->len) : NULL;
	}
}

static void raw(struct fx *f, struct raw *r, int argc, const char *const *argv)
{
	free(r->str);
	memset(r, 0, sizeof(*r));
	redis_client_command(f->redis, argc, argv, NULL, on_raw, r);
	SUPPORT_WAIT_FOR(f->base, r->done, WAIT_MS);
	assert_false(r->failed);
}

#define RAW(f, r, ...)                                                                             \
	raw((f), (r), (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)),               \
	    (const char *const[]){__VA_ARGS__})

static void fx_redis(struct fx *f, int ttl)
{
	const char *env = getenv("LABDECK_TEST_REDIS_URL");
	if (!env || !*env) {
		skip();
	}
	memset(f, 0, sizeof(*f));
	struct redis_client_url u;
	struct err err;
	assert_true(redis_client_parse_url(env, &u, &err));
	char *url = xasprintf("redis://%s:%d/%d", u.host, u.port, TEST_DB);
	redis_client_url_finish(&u);
	f->base = support_base_new(&f->tick);
	f->redis = redis_client_create(f->base, url, NULL, &err);
	free(url);
	f->cache = llm_cache_create(f->base, f->redis, ttl);
	struct raw r = {0};
	RAW(f, &r, "FLUSHDB");
	free(r.str);
}

static void redis_answers(void **state)
{
	struct fx f;
	fx_redis(&f, 3600);
	struct got g = {0};
	struct raw r = {0};
	json_t *params = json_pack("{s:f, s:i}", "temperature", 0.2, "num_ctx", 8192);
	struct llm_cache_request req = request(params);

	get(&f, &req, &g);
	assert_null(g.hit); /* nothing yet */
	double before = now_wall();
	put(&f, &req, &answer, &g);
	assert_true(g.stored);

	/* The same request: a hit, marked cached, with everything that was stored. */
	get(&f, &req, &g);
	assert_non_null(g.hit);
	assert_true(g.hit->cached);
	assert_string_equal(g.hit->text, answer.text);
	assert_string_equal(g.hit->thinking, answer.thinking);
	assert_int_equal(g.hit->prompt_tokens, 41);
	assert_int_equal(g.hit->completion_tokens, 9);
	assert_true(g.hit->created >= before - 1 && g.hit->created <= now_wall() + 1);

	/* It expires after cache_ttl seconds. */
	char *key = llm_cache_key(&req);
	RAW(&f, &r, "TTL", key);
	assert_true(r.integer > 3590 && r.integer <= 3600);

	/* Another temperature is another request. */
	json_t *hot = json_pack("{s:f, s:i}", "temperature", 0.9, "num_ctx", 8192);
	struct llm_cache_request other = request(hot);
	get(&f, &other, &g);
	assert_null(g.hit);

	/* Unknown token counts stay unknown; an answer without thinking has none. */
	struct llm_cache_answer plain = {
	        .text = "ok", .prompt_tokens = -1, .completion_tokens = -1};
	put(&f, &other, &plain, &g);
	assert_true(g.stored);
	get(&f, &other, &g);
	assert_non_null(g.hit);
	assert_null(g.hit->thinking);
	assert_int_equal(g.hit->prompt_tokens, -1);

	/* Something unreadable under the key is a miss, not a crash. */
	RAW(&f, &r, "SET", key, "{\"v\":1,\"text\":");
	get(&f, &req, &g);
	assert_null(g.hit);

	const struct llm_cache_stats *st = llm_cache_stats(f.cache);
	assert_int_equal(st->hits, 2);
	assert_int_equal(st->misses, 3);
	assert_int_equal(st->stores, 2);
	assert_int_equal(st->errors, 0);

	/* cache_ttl = 0 on the same Redis: nothing read, nothing written. */
	llm_cache_destroy(f.cache);
	f.cache = llm_cache_create(f.base, f.redis, 0);
	get(&f, &other, &g);
	assert_null(g.hit);
	json_t *cold = json_pack("{s:f}", "temperature", 0.0);
	struct llm_cache_request third = request(cold);
	put(&f, &third, &answer, &g);
	assert_false(g.stored);
	char *key3 = llm_cache_key(&third);
	RAW(&f, &r, "EXISTS", key3);
	assert_int_equal(r.integer, 0);

	free(key3);
	free(key);
	free(r.str);
	got_reset(&g);
	json_decref(params);
	json_decref(hot);
	json_decref(cold);
	fx_finish(&f);
}

static void redis_embeddings(void **state)
{
	struct fx f;
	fx_redis(&f, 600);
	struct got g = {0};
	struct raw r = {0};
	enum { DIM = 1024 };
	float *va = xmalloc(DIM * sizeof(float));
	float *vb = xmalloc(DIM * sizeof(float));
	for (int i = 0; i < DIM; i++) {
		va[i] = sinf((float)i) / 3.0f;
		vb[i] = -1.0f / (float)(i + 1);
	}
	const char *texts[] = {"## GPU passthrough\nThe iGPU goes to VM 101.", "쿠버네티스 노드"};
	const float *const vecs[] = {va, vb};
	const size_t dims[] = {DIM, DIM};
	put_vectors(&f, "bge-m3", texts, vecs, dims, 2, &g);
	assert_true(g.stored);

	/* One round trip for a batch; the vectors come back bit for bit, misses as NULL. */
	const char *ask[] = {texts[1], "never embedded", texts[0]};
	get_vectors(&f, "bge-m3", ask, 3, &g);
	assert_int_equal(g.vectors->n, 3);
	assert_int_equal(g.vectors->hits, 2);
	assert_int_equal(g.vectors->dims[0], DIM);
	assert_memory_equal(g.vectors->vectors[0], vb, DIM * sizeof(float));
	assert_null(g.vectors->vectors[1]);
	assert_int_equal(g.vectors->dims[1], 0);
	assert_memory_equal(g.vectors->vectors[2], va, DIM * sizeof(float));

	/* Another model's embedding of the same text is another entry. */
	get_vectors(&f, "nomic-embed-text", texts, 2, &g);
	assert_int_equal(g.vectors->hits, 0);

	/* Stored as 4 bytes per float, with the TTL. */
	char *key = llm_cache_embedding_key("bge-m3", texts[0]);
	RAW(&f, &r, "STRLEN", key);
	assert_int_equal(r.integer, DIM * 4);
	RAW(&f, &r, "TTL", key);
	assert_true(r.integer > 590 && r.integer <= 600);

	free(key);
	free(r.str);
	free(va);
	free(vb);
	got_reset(&g);
	fx_finish(&f);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const char *filter = getenv("LABDECK_TEST_FILTER");
	if (filter && *filter) {
		cmocka_set_test_filter(filter);
	}
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(keys),
	        cmocka_unit_test(embedding_keys),
	        cmocka_unit_test(floats),
	        cmocka_unit_test(off),
	        cmocka_unit_test(unreachable),
	        cmocka_unit_test(redis_answers),
	        cmocka_unit_test(redis_embeddings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
