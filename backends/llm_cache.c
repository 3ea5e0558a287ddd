/* llm_cache.c: the answer and embedding cache on Redis (SET key value EX ttl, GET, MGET). */
#include "llm_cache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "json_util.h"
#include "redis_client.h"
#include "session.h"
#include "util.h"

#define CHAT_PREFIX "labdeck:cache:chat:"
#define EMBED_PREFIX "labdeck:cache:embed:"
#define CACHE_VERSION 1

/* ---- keys ---------------------------------------------------------------------------------- */

static json_t *jstr(const char *s)
{
	char *r = session_utf8_repair(s ? s : "", s ? strlen(s) : 0);
	json_t *j = json_string(r);
	free(r);
	return j;
}

/* hashed_key: prefix + hex SHA-256 of the canonical (sorted, compact) text of root. */
static char *hashed_key(const char *prefix, json_t *root)
{
	char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_Digest(text, strlen(text), md, &md_len, EVP_sha256(), NULL);
	free(text);
	size_t plen = strlen(prefix);
	char *key = xmalloc(plen + 2 * md_len + 1);
	memcpy(key, prefix, plen);
	for (unsigned int i = 0; i < md_len; i++) {
		snprintf(key + plen + 2 * i, 3, "%02x", md[i]);
	}
	key[plen + 2 * md_len] = '\0';
	return key;
}

char *llm_cache_key(const struct llm_cache_request *req)
{
	json_t *root = json_object();
	json_object_set_new(root, "v", json_integer(CACHE_VERSION));
	json_object_set_new(root, "provider", jstr(req->provider));
	json_object_set_new(root, "model", jstr(req->model));
	json_t *msgs = json_array();
	for (size_t i = 0; i < req->n_messages; i++) {
		json_t *m = json_object();
		json_object_set_new(m, "role", jstr(req->messages[i].role));
		json_object_set_new(m, "content", jstr(req->messages[i].content));
		json_array_append_new(msgs, m);
	}
	json_object_set_new(root, "messages", msgs);
	json_object_set_new(root, "params",
	                    req->params ? json_deep_copy(req->params) : json_object());
	char *key = hashed_key(CHAT_PREFIX, root);
	json_decref(root);
	return key;
}

char *llm_cache_embedding_key(const char *model, const char *text)
{
	json_t *root = json_object();
	json_object_set_new(root, "v", json_integer(CACHE_VERSION));
	json_object_set_new(root, "model", jstr(model));
	json_object_set_new(root, "text", jstr(text));
	char *key = hashed_key(EMBED_PREFIX, root);
	json_decref(root);
	return key;
}

/* ---- values -------------------------------------------------------------------------------- */

void llm_cache_pack_floats(const float *v, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &v[i], sizeof(u));
		out[4 * i] = (unsigned char)(u & 0xff);
		out[4 * i + 1] = (unsigned char)((u >> 8) & 0xff);
		out[4 * i + 2] = (unsigned char)((u >> 16) & 0xff);
		out[4 * i + 3] = (unsigned char)(u >> 24);
	}
}

float *llm_cache_unpack_floats(const unsigned char *in, size_t len)
{
	if (len % 4 != 0) {
		return NULL;
	}
	size_t n = len / 4;
	float *v = xmalloc((n ? n : 1) * sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)in[4 * i] | (uint32_t)in[4 * i + 1] << 8 |
		             (uint32_t)in[4 * i + 2] << 16 | (uint32_t)in[4 * i + 3] << 24;
		memcpy(&v[i], &u, sizeof(u));
	}
	return v;
}

static json_t *tokens_json(long n)
{
	return n >= 0 ? json_integer(n) : json_null();
}

static char *answer_to_json(const struct llm_cache_answer *a)
{
	json_t *root = json_object();
	json_object_set_new(root, "v", json_integer(CACHE_VERSION));
	json_object_set_new(root, "text", jstr(a->text));
	json_object_set_new(root, "thinking", a->thinking ? jstr(a->thinking) : json_null());
	json_object_set_new(root, "prompt_tokens", tokens_json(a->prompt_tokens));
	json_object_set_new(root, "completion_tokens", tokens_json(a->completion_tokens));
	json_object_set_new(root, "created", json_real(now_wall()));
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	char *out = xstrdup(text);
	free(text);
	return out;
}

static struct llm_cache_answer *answer_from_json(const char *text, size_t len)
{
	char why[160];
	json_t *root = json_load_body(text, len, why, sizeof(why));
	const char *t = root ? json_str(root, "text") : NULL;
	if (!t) {
		json_decref(root);
		return NULL;
	}
	struct llm_cache_answer *a = xcalloc(1, sizeof(*a));
	a->text = xstrdup(t);
	const char *th = json_str(root, "thinking");
	a->thinking = th ? xstrdup(th) : NULL;
	int64_t v;
	a->prompt_tokens = json_int(root, "prompt_tokens", &v) ? (long)v : -1;
	a->completion_tokens = json_int(root, "completion_tokens", &v) ? (long)v : -1;
	json_num(root, "created", &a->created);
	a->cached = true;
	json_decref(root);
	return a;
}

void llm_cache_answer_free(struct llm_cache_answer *a)
{
	if (!a) {
		return;
	}
	free(a->text);
	free(a->thinking);
	free(a);
}

void llm_cache_vectors_free(struct llm_cache_vectors *v)
{
	if (!v) {
		return;
	}
	for (size_t i = 0; i < v->n; i++) {
		free(v->vectors[i]);
	}
	free(v->vectors);
	free(v->dims);
	free(v);
}

static struct llm_cache_vectors *vectors_new(size_t n)
{
	struct llm_cache_vectors *v = xcalloc(1, sizeof(*v));
	v->n = n;
	v->vectors = xcalloc(n ? n : 1, sizeof(*v->vectors));
	v->dims = xcalloc(n ? n : 1, sizeof(*v->dims));
	return v;
}

/* ---- the cache ----------------------------------------------------------------------------- */

enum op_kind { OP_GET, OP_PUT, OP_VGET, OP_VPUT };

struct slot {
	struct llm_cache_op *op;
	struct redis_client_cmd *cmd; /* NULL once answered */
};

struct llm_cache_op {
	struct llm_cache *c;
	struct llm_cache_op *prev, *next;
	enum op_kind kind;
	llm_cache_get_fn get_fn;
	llm_cache_put_fn put_fn;
	llm_cache_vectors_fn vec_fn;
	void *ud;
	struct slot *slots;
	size_t n_slots, pending;
	struct event *ev; /* delivers a result decided without Redis */
	/* the result */
	bool ok;
	struct llm_cache_answer *answer;
	struct llm_cache_vectors *vectors;
};

struct llm_cache {
	struct event_base *base;
	struct redis_client *redis;
	int ttl_s;
	struct llm_cache_stats stats;
	struct llm_cache_op *ops;
};

struct llm_cache *llm_cache_create(struct event_base *base, struct redis_client *redis, int ttl_s)
{
	struct llm_cache *c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->redis = redis;
	c->ttl_s = ttl_s;
	return c;
}

bool llm_cache_enabled(const struct llm_cache *c)
{
	return c && c->redis && c->ttl_s > 0;
}

const struct llm_cache_stats *llm_cache_stats(const struct llm_cache *c)
{
	return &c->stats;
}

static void op_free(struct llm_cache_op *op)
{
	if (op->prev) {
		op->prev->next = op->next;
	} else {
		op->c->ops = op->next;
	}
	if (op->next) {
		op->next->prev = op->prev;
	}
	for (size_t i = 0; i < op->n_slots; i++) {
		if (op->slots[i].cmd) {
			redis_client_cancel(op->slots[i].cmd);
		}
	}
	free(op->slots);
	if (op->ev) {
		event_free(op->ev);
	}
	llm_cache_answer_free(op->answer);
	llm_cache_vectors_free(op->vectors);
	free(op);
}

void llm_cache_destroy(struct llm_cache *c)
{
	if (!c) {
		return;
	}
	while (c->ops) {
		op_free(c->ops);
	}
	free(c);
}

void llm_cache_cancel(struct llm_cache_op *op)
{
	if (op) {
		op_free(op);
	}
}

static void op_deliver(struct llm_cache_op *op)
{
	enum op_kind kind = op->kind;
	llm_cache_get_fn get_fn = op->get_fn;
	llm_cache_put_fn put_fn = op->put_fn;
	llm_cache_vectors_fn vec_fn = op->vec_fn;
	void *ud = op->ud;
	bool ok = op->ok;
	struct llm_cache_answer *answer = op->answer;
	struct llm_cache_vectors *vectors = op->vectors;
	op->answer = NULL;
	op->vectors = NULL;
	op_free(op);
	switch (kind) {
	case OP_GET:
		if (get_fn) {
			get_fn(ud, answer);
		} else {
			llm_cache_answer_free(answer);
		}
		break;
	case OP_VGET:
		if (vec_fn) {
			vec_fn(ud, vectors);
		} else {
			llm_cache_vectors_free(vectors);
		}
		break;
	case OP_PUT:
	case OP_VPUT:
		if (put_fn) {
			put_fn(ud, ok);
		}
		break;
	}
}

static void on_op_event(evutil_socket_t fd, short what, void *arg)
{
	op_deliver(arg);
}

static struct llm_cache_op *op_new(struct llm_cache *c, enum op_kind kind, void *ud, size_t n_slots)
{
	struct llm_cache_op *op = xcalloc(1, sizeof(*op));
	op->c = c;
	op->kind = kind;
	op->ud = ud;
	op->n_slots = n_slots;
	op->slots = xcalloc(n_slots ? n_slots : 1, sizeof(*op->slots));
	for (size_t i = 0; i < n_slots; i++) {
		op->slots[i].op = op;
	}
	op->next = c->ops;
	if (c->ops) {
		c->ops->prev = op;
	}
	c->ops = op;
	return op;
}

/* op_later delivers the op's result (a miss, or not stored) from the loop. */
static struct llm_cache_op *op_later(struct llm_cache_op *op)
{
	op->ev = evtimer_new(op->c->base, on_op_event, op);
	event_active(op->ev, EV_TIMEOUT, 1);
	return op;
}

static void on_reply(void *ud, const struct redis_client_reply *reply, const struct err *err)
{
	struct slot *slot = ud;
	struct llm_cache_op *op = slot->op;
	struct llm_cache *c = op->c;
	slot->cmd = NULL;
	op->pending--;
	if (err) {
		c->stats.errors++;
	}
	switch (op->kind) {
	case OP_GET:
		if (!err && reply->type == REDIS_CLIENT_STRING) {
			op->answer = answer_from_json(reply->str, reply->len);
		}
		if (op->answer) {
			c->stats.hits++;
		} else {
			c->stats.misses++;
		}
		break;
	case OP_VGET: {
		struct llm_cache_vectors *v = op->vectors;
		for (size_t i = 0;
		     !err && reply->type == REDIS_CLIENT_ARRAY && i < reply->n && i < v->n; i++) {
			const struct redis_client_reply *e = &reply->elements[i];
			if (e->type == REDIS_CLIENT_STRING && e->len >= 4) {
				v->vectors[i] = llm_cache_unpack_floats(
				        (const unsigned char *)e->str, e->len);
				if (v->vectors[i]) {
					v->dims[i] = e->len / 4;
					v->hits++;
				}
			}
		}
		c->stats.hits += (long)v->hits;
		c->stats.misses += (long)(v->n - v->hits);
		break;
	}
	case OP_PUT:
	case OP_VPUT:
		if (err) {
			op->ok = false;
		} else {
			c->stats.stores++;
		}
		break;
	}
	if (op->pending == 0) {
		op_deliver(op);
	}
}

static void send_slot(struct llm_cache_op *op, size_t i, int argc, const char *const *argv,
                      const size_t *argvlen)
{
	op->pending++;
	op->slots[i].cmd =
	        redis_client_command(op->c->redis, argc, argv, argvlen, on_reply, &op->slots[i]);
}

struct llm_cache_op *llm_cache_get(struct llm_cache *c, const struct llm_cache_request *req,
                                   llm_cache_get_fn fn, void *ud)
{
	struct llm_cache_op *op = op_new(c, OP_GET, ud, 1);
	op->get_fn = fn;
	if (!llm_cache_enabled(c)) {
		return op_later(op);
	}
	char *key = llm_cache_key(req);
	send_slot(op, 0, 2, (const char *const[]){"GET", key}, NULL);
	free(key);
	return op;
}

struct llm_cache_op *llm_cache_put(struct llm_cache *c, const struct llm_cache_request *req,
                                   const struct llm_cache_answer *answer, llm_cache_put_fn fn,
                                   void *ud)
{
	struct llm_cache_op *op = op_new(c, OP_PUT, ud, 1);
	op->put_fn = fn;
	if (!llm_cache_enabled(c) || !answer || !answer->text) {
		return op_later(op);
	}
	op->ok = true;
	char *key = llm_cache_key(req);
	char *value = answer_to_json(answer);
	char ttl[24];
	snprintf(ttl, sizeof(ttl), "%d", c->ttl_s);
	send_slot(op, 0, 5, (const char *const[]){"SET", key, value, "EX", ttl}, NULL);
	free(value);
	free(key);
	return op;
}

struct llm_cache_op *llm_cache_get_embeddings(struct llm_cache *c, const char *model,
                                              const char *const *texts, size_t n,
                                              llm_cache_vectors_fn fn, void *ud)
{
	struct llm_cache_op *op = op_new(c, OP_VGET, ud, 1);
	op->vec_fn = fn;
	op->vectors = vectors_new(n);
	if (!llm_cache_enabled(c) || n == 0) {
		return op_later(op);
	}
	const char **argv = xcalloc(n + 1, sizeof(*argv));
	char **keys = xcalloc(n + 1, sizeof(*keys));
	argv[0] = "MGET";
	for (size_t i = 0; i < n; i++) {
		keys[i] = llm_cache_embedding_key(model, texts[i]);
		argv[i + 1] = keys[i];
	}
	send_slot(op, 0, (int)(n + 1), argv, NULL);
	for (size_t i = 0; i < n; i++) {
		free(keys[i]);
	}
	free(keys);
	free(argv);
	return op;
}

struct llm_cache_op *llm_cache_put_embeddings(struct llm_cache *c, const char *model,
                                              const char *const *texts, const float *const *vectors,
                                              const size_t *dims, size_t n, llm_cache_put_fn fn,
                                              void *ud)
{
	struct llm_cache_op *op = op_new(c, OP_VPUT, ud, n);
	op->put_fn = fn;
	if (!llm_cache_enabled(c)) {
		return op_later(op);
	}
	op->ok = true;
	char ttl[24];
	snprintf(ttl, sizeof(ttl), "%d", c->ttl_s);
	for (size_t i = 0; i < n; i++) {
		if (!vectors[i] || dims[i] == 0) {
			continue;
		}
		char *key = llm_cache_embedding_key(model, texts[i]);
		size_t bytes = dims[i] * 4;
		unsigned char *packed = xmalloc(bytes);
		llm_cache_pack_floats(vectors[i], dims[i], packed);
		const char *argv[] = {"SET", key, (const char *)packed, "EX", ttl};
		size_t argvlen[] = {3, strlen(key), bytes, 2, strlen(ttl)};
		send_slot(op, i, 5, argv, argvlen);
		free(packed);
		free(key);
	}
	if (op->pending == 0) {
		return op_later(op);
	}
	return op;
}
