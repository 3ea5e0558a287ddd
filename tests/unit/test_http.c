/* test_http.c: the I/O core against a real HTTP server. An evhttp server on 127.0.0.1 (ephemeral
 * port) runs on the same libevent loop as the client, so every request really crosses a socket
 * and the test needs no outside process. The server picks its behaviour from the request path and
 * logs, per path, how often it was asked, when, and with which method, headers and body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "support.h"
#include "util.h"

#define MAX_PATHS 32
#define MAX_HITS 8
#define MAX_HELD 8
#define BIG_LEN ((size_t)64 * 1024)
#define STREAM_GAP_MS 60

/* Has a NUL inside, so a length taken with strlen would be wrong. */
static const char ok_body[] = "{\"data\":[1,2,3]}\0after-the-nul";
#define OK_LEN (sizeof(ok_body) - 1)

static const char *const stream_parts[] = {
        "{\"n\":1}\n",
        "{\"n\":2,\"text\":\"two\"}\n",
        "{\"n\":3}\n",
        "{\"done\":true}\n",
};
#define N_PARTS (sizeof(stream_parts) / sizeof(stream_parts[0]))

/* What the server saw on one path. */
struct hit_log {
	char path[128];
	int count;
	char method[16];  /* of the last request */
	char header[128]; /* its X-Labdeck-Test header, "" when absent */
	char agent[128];  /* its User-Agent */
	struct buf body;  /* its body */
	int64_t at_ms[MAX_HITS];
};

/* A chunked answer the server sends piece by piece from a timer. */
struct stream_reply {
	struct evhttp_request *req; /* NULL when none is open */
	struct event *timer;
	size_t sent;
	bool ended;
	int64_t ended_at_ms;
	bool stall; /* send the first piece, then nothing more (the connection stays open) */
};

struct fixture {
	struct event_base *base;
	struct event *tick;
	struct evhttp *server;
	int port;
	struct http *http;
	struct hit_log hits[MAX_PATHS];
	size_t n_hits;
	struct evhttp_request *held[MAX_HELD]; /* requests the server never answers */
	size_t n_held;
	struct stream_reply stream;
};

/* What a request's callbacks saw. */
struct result {
	int done_calls;
	bool ok; /* on_done got err == NULL */
	struct err err;
	long status;
	char *reason, *body, *content_type;
	size_t len;
	double retry_after;
	long ratelimit_remaining;
	double ratelimit_reset;
	int attempts;
	int64_t started_ms, done_ms;
	/* streaming */
	bool stop_stream; /* on_chunk returns false */
	int chunk_calls;
	int chunks_after_done;
	int64_t first_chunk_ms;
	struct buf chunks;
};

/* --- the server --- */

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	default:
		return "OTHER";
	}
}

static struct hit_log *hits_for(struct fixture *f, const char *path)
{
	for (size_t i = 0; i < f->n_hits; i++) {
		if (strcmp(f->hits[i].path, path) == 0) {
			return &f->hits[i];
		}
	}
	assert_true(f->n_hits < MAX_PATHS);
	struct hit_log *h = &f->hits[f->n_hits++];
	snprintf(h->path, sizeof(h->path), "%s", path);
	buf_init(&h->body);
	return h;
}

/* hit_count: how many requests the server got on path (0 when none). */
static int hit_count(struct fixture *f, const char *path)
{
	for (size_t i = 0; i < f->n_hits; i++) {
		if (strcmp(f->hits[i].path, path) == 0) {
			return f->hits[i].count;
		}
	}
	return 0;
}

static void log_request(struct hit_log *h, struct evhttp_request *req)
{
	if (h->count < MAX_HITS) {
		h->at_ms[h->count] = now_mono_ms();
	}
	h->count++;
	snprintf(h->method, sizeof(h->method), "%s", method_name(evhttp_request_get_command(req)));
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *v = evhttp_find_header(in, "X-Labdeck-Test");
	snprintf(h->header, sizeof(h->header), "%s", v ? v : "");
	v = evhttp_find_header(in, "User-Agent");
	snprintf(h->agent, sizeof(h->agent), "%s", v ? v : "");
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(body);
	buf_finish(&h->body);
	buf_init(&h->body);
	if (n > 0) {
		char *copy = xmalloc(n);
		evbuffer_copyout(body, copy, n);
		buf_append(&h->body, copy, n);
		free(copy);
	}
}

static void on_stream_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct stream_reply *s = arg;
	if (s->sent < N_PARTS) {
		support_send_chunk(s->req, stream_parts[s->sent], strlen(stream_parts[s->sent]));
		s->sent++;
		if (s->stall) {
			return;
		}
		struct timeval gap = {0, STREAM_GAP_MS * 1000};
		evtimer_add(s->timer, &gap);
		return;
	}
	evhttp_send_reply_end(s->req);
	s->req = NULL;
	s->ended = true;
	s->ended_at_ms = now_mono_ms();
}

static void on_server_request(struct evhttp_request *req, void *arg)
{
	struct fixture *f = arg;
	char path[128];
	snprintf(path, sizeof(path), "%s", evhttp_request_get_uri(req));
	path[strcspn(path, "?")] = '\0';
	struct hit_log *h = hits_for(f, path);
	log_request(h, req);
	int n = h->count;
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);

	if (strcmp(path, "/ok") == 0) {
		support_reply(req, 200, "OK", "application/json; charset=utf-8", ok_body, OK_LEN);
	} else if (strcmp(path, "/always503") == 0 || str_has_prefix(path, "/write503/")) {
		support_reply(req, 503, "Service Unavailable", NULL, "busy", 4);
	} else if (strcmp(path, "/flaky503") == 0) {
		if (n == 1) {
			support_reply(req, 503, "Service Unavailable", NULL, "busy", 4);
		} else {
			support_reply(req, 200, "OK", NULL, "recovered", 9);
		}
	} else if (strcmp(path, "/wait1") == 0) {
		if (n == 1) {
			evhttp_add_header(out, "Retry-After", "1");
			support_reply(req, 429, "Too Many Requests", NULL, "slow down", 9);
		} else {
			support_reply(req, 200, "OK", NULL, "thanks", 6);
		}
	} else if (strcmp(path, "/wait3600") == 0) {
		evhttp_add_header(out, "Retry-After", "3600");
		support_reply(req, 429, "Too Many Requests", NULL, "quota used up", 13);
	} else if (strcmp(path, "/ratelimited") == 0) {
		/* GitHub's primary limit: a 403 that says when it resets, no Retry-After. */
		evhttp_add_header(out, "X-RateLimit-Limit", "5000");
		evhttp_add_header(out, "X-RateLimit-Remaining", "0");
		evhttp_add_header(out, "X-RateLimit-Reset", "1700000123");
		support_reply(req, 403, "Forbidden", NULL, "rate limit exceeded", 19);
	} else if (strcmp(path, "/ratelimit-left") == 0) {
		evhttp_add_header(out, "x-ratelimit-remaining", "4999");
		evhttp_add_header(out, "x-ratelimit-reset", "1700000456");
		support_reply(req, 200, "OK", NULL, "fine", 4);
	} else if (strcmp(path, "/ratelimit-garbled") == 0) {
		evhttp_add_header(out, "X-RateLimit-Remaining", "lots");
		evhttp_add_header(out, "X-RateLimit-Reset", "soon");
		support_reply(req, 200, "OK", NULL, "fine", 4);
	} else if (strcmp(path, "/status/401") == 0) {
		/* Proxmox's reason phrase for a bad ticket or token. */
		support_reply(req, 401, "authentication failure", NULL, "", 0);
	} else if (strcmp(path, "/status/404") == 0) {
		support_reply(req, 404, "Not Found", NULL, "no such vm", 10);
	} else if (strcmp(path, "/big") == 0) {
		char *big = xmalloc(BIG_LEN);
		memset(big, 'x', BIG_LEN);
		support_reply(req, 200, "OK", NULL, big, BIG_LEN);
		free(big);
	} else if (strcmp(path, "/hang") == 0) {
		assert_true(f->n_held < MAX_HELD);
		f->held[f->n_held++] = req;
	} else if (strcmp(path, "/stream") == 0 || strcmp(path, "/stall") == 0) {
		assert_null(f->stream.req);
		f->stream.stall = strcmp(path, "/stall") == 0;
		evhttp_add_header(out, "Content-Type", "application/x-ndjson");
		evhttp_send_reply_start(req, 200, "OK");
		f->stream.req = req;
		f->stream.timer = evtimer_new(f->base, on_stream_timer, &f->stream);
		struct timeval gap = {0, STREAM_GAP_MS * 1000};
		evtimer_add(f->stream.timer, &gap);
	} else {
		support_reply(req, 404, "Not Found", NULL, "", 0);
	}
}

/* --- the loop --- */

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->base = support_base_new(&f->tick);
	f->server = support_server_new(f->base, on_server_request, f, &f->port);
	evhttp_set_allowed_methods(f->server, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                              EVHTTP_REQ_PATCH);

	f->http = http_create(f->base);
	assert_non_null(f->http);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	http_destroy(f->http);
	/* Answer what the server still holds: a request whose client went away was handed over
	 * to us by evhttp, and answering it frees it. */
	for (size_t i = 0; i < f->n_held; i++) {
		evhttp_send_reply(f->held[i], 200, "OK", NULL);
	}
	if (f->stream.timer) {
		event_free(f->stream.timer);
	}
	if (f->stream.req) {
		evhttp_send_reply_end(f->stream.req);
	}
	evhttp_free(f->server);
	support_base_free(f->base, f->tick);
	for (size_t i = 0; i < f->n_hits; i++) {
		buf_finish(&f->hits[i].body);
	}
	free(f);
	return 0;
}

/* --- the client side --- */

static const char *url_for(struct fixture *f, const char *path)
{
	static char bufs[4][256];
	static int next;
	char *b = bufs[next++ % 4];
	snprintf(b, sizeof(bufs[0]), "http://127.0.0.1:%d%s", f->port, path);
	return b;
}

static void on_done(void *ud, struct http_response *resp, const struct err *err)
{
	struct result *r = ud;
	r->done_calls++;
	if (r->done_calls > 1) {
		return;
	}
	assert_non_null(resp);
	r->done_ms = now_mono_ms();
	r->ok = err == NULL;
	if (err) {
		r->err = *err;
	}
	r->status = resp->status;
	r->reason = resp->reason ? xstrdup(resp->reason) : NULL;
	r->content_type = resp->content_type ? xstrdup(resp->content_type) : NULL;
	assert_non_null(resp->body);
	r->body = xmalloc(resp->len + 1);
	memcpy(r->body, resp->body, resp->len + 1);
	r->len = resp->len;
	r->retry_after = resp->retry_after;
	r->ratelimit_remaining = resp->ratelimit_remaining;
	r->ratelimit_reset = resp->ratelimit_reset;
	r->attempts = resp->attempts;
}

static bool on_chunk(void *ud, const char *data, size_t len)
{
	struct result *r = ud;
	if (r->done_calls > 0) {
		r->chunks_after_done++;
	}
	if (r->chunk_calls++ == 0) {
		r->first_chunk_ms = now_mono_ms();
	}
	buf_append(&r->chunks, data, len);
	return !r->stop_stream;
}

static void result_init(struct result *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->chunks);
}

static void result_finish(struct result *r)
{
	free(r->reason);
	free(r->body);
	free(r->content_type);
	buf_finish(&r->chunks);
}

/* opts_for: GET path with on_done writing into r, backend "test", defaults elsewhere. */
static struct http_request_opts opts_for(struct fixture *f, const char *path, struct result *r)
{
	struct http_request_opts o = {0};
	o.backend = "test";
	o.url = url_for(f, path);
	o.max_retries = -1;
	o.on_done = on_done;
	o.ud = r;
	return o;
}

static struct http_request *start(struct fixture *f, const struct http_request_opts *o,
                                  struct result *r)
{
	r->started_ms = now_mono_ms();
	struct http_request *req = http_start(f->http, o);
	assert_non_null(req);
	return req;
}

static bool done_flag(const struct result *r)
{
	return r->done_calls > 0;
}

/* wait_done runs the loop until r's on_done ran (fails the test after max_ms). */
static void wait_done(struct fixture *f, struct result *r, int64_t max_ms)
{
	int64_t deadline = now_mono_ms() + max_ms;
	while (!done_flag(r) && support_turn(f->base, deadline)) {
	}
	if (!done_flag(r)) {
		fail_msg("on_done was not called within %lld ms", (long long)max_ms);
	}
}

static void assert_prefix(const char *s, const char *prefix)
{
	if (!str_has_prefix(s, prefix)) {
		fail_msg("'%s' does not start with '%s'", s, prefix);
	}
}

static void assert_contains(const char *s, const char *part)
{
	if (!strstr(s, part)) {
		fail_msg("'%s' does not contain '%s'", s, part);
	}
}

/* --- 1. a plain GET --- */

static void test_get_ok(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	const char *const headers[] = {"X-Labdeck-Test: token-less hello",
	                               "Accept: application/json", NULL};
	struct http_request_opts o = opts_for(f, "/ok", &r);
	o.headers = headers;
	start(f, &o, &r);
	assert_int_equal(http_pending(f->http), 1);
	wait_done(f, &r, 5000);

	assert_true(r.ok);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, OK_LEN);
	assert_memory_equal(r.body, ok_body, OK_LEN);
	assert_int_equal(r.body[r.len], '\0');
	assert_string_equal(r.content_type, "application/json; charset=utf-8");
	assert_string_equal(r.reason, "OK");
	assert_int_equal(r.attempts, 1);
	assert_true(r.retry_after < 0);
	assert_int_equal(r.ratelimit_remaining, -1);
	assert_true(r.ratelimit_reset < 0);
	assert_int_equal(http_pending(f->http), 0);

	assert_int_equal(hit_count(f, "/ok"), 1);
	struct hit_log *h = hits_for(f, "/ok");
	assert_string_equal(h->method, "GET");
	assert_string_equal(h->header, "token-less hello");
	assert_prefix(h->agent, "labdeck/");

	/* Exactly once: nothing more arrives later. */
	support_run_for(f->base, 100);
	assert_int_equal(r.done_calls, 1);
	result_finish(&r);
}

/* --- 2, 3. retries of an idempotent GET --- */

static void test_get_503_retried_then_fails(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	struct http_request_opts o = opts_for(f, "/always503", &r);
	o.max_retries = 2;
	start(f, &o, &r);
	wait_done(f, &r, 5000);

	assert_false(r.ok);
	assert_int_equal(r.err.code, ERR_SERVER);
	assert_int_equal(r.err.http_status, 503);
	assert_prefix(r.err.msg, "test: 503");
	assert_int_equal(r.status, 503);
	assert_int_equal(r.attempts, 3);
	assert_string_equal(r.body, "busy");
	assert_int_equal(hit_count(f, "/always503"), 3);
	/* The retries back off instead of hammering the server. */
	struct hit_log *h = hits_for(f, "/always503");
	assert_true(h->at_ms[1] - h->at_ms[0] >= 100);
	assert_true(h->at_ms[2] - h->at_ms[1] >= 100);
	assert_int_equal(http_pending(f->http), 0);
	support_run_for(f->base, 50);
	assert_int_equal(r.done_calls, 1);
	result_finish(&r);
}

static void test_get_503_once_then_ok(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	struct http_request_opts o = opts_for(f, "/flaky503", &r);
	start(f, &o, &r);
	wait_done(f, &r, 5000);

	assert_true(r.ok);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, 2);
	assert_string_equal(r.body, "recovered");
	assert_int_equal(r.len, 9);
	assert_int_equal(hit_count(f, "/flaky503"), 2);
	assert_int_equal(r.done_calls, 1);
	result_finish(&r);
}

/* --- 4. changing requests are never retried --- */

static void test_writes_not_retried(void **state)
{
	struct fixture *f = *state;
	static const char body[] = "{\"vmid\":101,\"name\":\"web 1\"}\n\0\x01tail";
	static const char *const methods[] = {"POST", "PUT", "PATCH", "DELETE"};
	static const char *const paths[] = {"/write503/post", "/write503/put", "/write503/patch",
	                                    "/write503/delete"};
	struct result r[4];
	for (size_t i = 0; i < 4; i++) {
		result_init(&r[i]);
		struct http_request_opts o = opts_for(f, paths[i], &r[i]);
		o.method = methods[i];
		o.max_retries = 3; /* asked for, and still not done for a change */
		if (strcmp(methods[i], "DELETE") != 0) {
			o.body = body;
			o.body_len = sizeof(body) - 1;
		}
		start(f, &o, &r[i]);
	}
	for (size_t i = 0; i < 4; i++) {
		wait_done(f, &r[i], 5000);
	}
	/* A retry would come within the backoff (at most 250 ms for the first one). */
	support_run_for(f->base, 400);
	for (size_t i = 0; i < 4; i++) {
		assert_false(r[i].ok);
		assert_int_equal(r[i].err.code, ERR_SERVER);
		assert_int_equal(r[i].status, 503);
		assert_int_equal(r[i].attempts, 1);
		assert_int_equal(r[i].done_calls, 1);
		assert_int_equal(hit_count(f, paths[i]), 1);
		struct hit_log *h = hits_for(f, paths[i]);
		assert_string_equal(h->method, methods[i]);
		if (strcmp(methods[i], "DELETE") != 0) {
			assert_int_equal(h->body.len, sizeof(body) - 1);
			assert_memory_equal(h->body.data, body, sizeof(body) - 1);
		}
		result_finish(&r[i]);
	}
	assert_int_equal(http_pending(f->http), 0);
}

/* --- 5. 429 and Retry-After --- */

static void test_retry_after_honoured(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	struct http_request_opts o = opts_for(f, "/wait1", &r);
	start(f, &o, &r);
	wait_done(f, &r, 5000);

	assert_true(r.ok);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, 2);
	assert_string_equal(r.body, "thanks");
	assert_int_equal(hit_count(f, "/wait1"), 2);
	struct hit_log *h = hits_for(f, "/wait1");
	int64_t gap = h->at_ms[1] - h->at_ms[0];
	if (gap < 900 || gap > 3000) {
		fail_msg("the retry came %lld ms after the 429 that asked for 1 s", (long long)gap);
	}
	result_finish(&r);
}

static void test_retry_after_too_long_reported(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	struct http_request_opts o = opts_for(f, "/wait3600", &r);
	start(f, &o, &r);
	wait_done(f, &r, 5000);

	assert_true(r.done_ms - r.started_ms < 1000);
	assert_false(r.ok);
	assert_int_equal(r.err.code, ERR_RATE_LIMIT);
	assert_int_equal(r.err.http_status, 429);
	assert_int_equal(r.status, 429);
	assert_true(r.retry_after == 3600.0);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(hit_count(f, "/wait3600"), 1);
	assert_string_equal(r.body, "quota used up");

	struct http_response resp = {.status = r.status, .retry_after = r.retry_after};
	assert_true(http_failed_with_status(&resp));
	http_append_retry_after(&r.err, &resp);
	assert_prefix(r.err.msg, "test: 429");
	assert_contains(r.err.msg, "retry after 3600 s");
	result_finish(&r);
}

/* The rate-limit headers are read from an error answer (a 403 is not retried: the caller decides
 * to wait for the reset) and from a success, in any case; a value that is not a number counts as
 * absent. */
static void test_ratelimit_headers(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	struct http_request_opts o = opts_for(f, "/ratelimited", &r);
	start(f, &o, &r);
	wait_done(f, &r, 5000);
	assert_false(r.ok);
	assert_int_equal(r.status, 403);
	assert_int_equal(r.err.code, ERR_AUTH);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(r.ratelimit_remaining, 0);
	assert_true(r.ratelimit_reset == 1700000123.0);
	assert_true(r.retry_after < 0);
	result_finish(&r);

	result_init(&r);
	o = opts_for(f, "/ratelimit-left", &r);
	start(f, &o, &r);
	wait_done(f, &r, 5000);
	assert_true(r.ok);
	assert_int_equal(r.ratelimit_remaining, 4999);
	assert_true(r.ratelimit_reset == 1700000456.0);
	result_finish(&r);

	result_init(&r);
	o = opts_for(f, "/ratelimit-garbled", &r);
	start(f, &o, &r);
	wait_done(f, &r, 5000);
	assert_true(r.ok);
	assert_int_equal(r.ratelimit_remaining, -1);
	assert_true(r.ratelimit_reset < 0);
	result_finish(&r);
}

/* --- 6. statuses to error codes --- */

static void test_status_error_mapping(void **state)
{
	(void)state;
	static const struct {
		long status;
		enum err_code code;
	} cases[] = {
	        {401, ERR_AUTH},       {403, ERR_AUTH},     {404, ERR_NOT_FOUND},
	        {429, ERR_RATE_LIMIT}, {500, ERR_SERVER},   {502, ERR_SERVER},
	        {503, ERR_SERVER},     {400, ERR_REJECTED}, {409, ERR_REJECTED},
	        {422, ERR_REJECTED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err e;
		err_clear(&e);
		http_status_error(&e, "proxmox", cases[i].status, "some detail");
		if (e.code != cases[i].code) {
			fail_msg("status %ld gave %s", cases[i].status, err_code_name(e.code));
		}
		assert_int_equal(e.http_status, cases[i].status);
		char want[64];
		snprintf(want, sizeof(want), "proxmox: %ld some detail", cases[i].status);
		assert_prefix(e.msg, want);
	}
	/* No detail still gives a readable message. */
	struct err e;
	http_status_error(&e, "k8s", 500, NULL);
	assert_prefix(e.msg, "k8s: 500 ");
	assert_true(strlen(e.msg) > strlen("k8s: 500 "));
}

static void test_status_over_the_wire(void **state)
{
	struct fixture *f = *state;
	struct result auth, missing;
	result_init(&auth);
	result_init(&missing);
	struct http_request_opts o = opts_for(f, "/status/401", &auth);
	start(f, &o, &auth);
	o = opts_for(f, "/status/404", &missing);
	start(f, &o, &missing);
	wait_done(f, &auth, 5000);
	wait_done(f, &missing, 5000);

	assert_int_equal(auth.err.code, ERR_AUTH);
	assert_int_equal(auth.status, 401);
	assert_string_equal(auth.reason, "authentication failure");
	assert_prefix(auth.err.msg, "test: 401 authentication failure");
	assert_int_equal(missing.err.code, ERR_NOT_FOUND);
	assert_int_equal(missing.status, 404);
	assert_string_equal(missing.body, "no such vm");
	/* Neither is worth asking again. */
	support_run_for(f->base, 300);
	assert_int_equal(hit_count(f, "/status/401"), 1);
	assert_int_equal(hit_count(f, "/status/404"), 1);
	result_finish(&auth);
	result_finish(&missing);
}

/* --- 7. the size cap --- */

static void test_size_cap(void **state)
{
	struct fixture *f = *state;
	struct result small, exact, roomy;
	result_init(&small);
	result_init(&exact);
	result_init(&roomy);
	struct http_request_opts o = opts_for(f, "/big", &small);
	o.max_body = 1024;
	start(f, &o, &small);
	o = opts_for(f, "/big", &exact);
	o.max_body = BIG_LEN;
	start(f, &o, &exact);
	o = opts_for(f, "/big", &roomy);
	o.max_body = 2 * BIG_LEN;
	start(f, &o, &roomy);
	wait_done(f, &small, 5000);
	wait_done(f, &exact, 5000);
	wait_done(f, &roomy, 5000);

	assert_false(small.ok);
	assert_int_equal(small.err.code, ERR_TOO_LARGE);
	assert_prefix(small.err.msg, "test: ");
	assert_contains(small.err.msg, "larger than 1 KiB");
	assert_true(small.len <= 1024);

	assert_true(exact.ok);
	assert_int_equal(exact.len, BIG_LEN);
	assert_true(roomy.ok);
	assert_int_equal(roomy.len, BIG_LEN);
	assert_int_equal(roomy.body[0], 'x');
	assert_int_equal(roomy.body[BIG_LEN - 1], 'x');
	assert_int_equal(http_pending(f->http), 0);
	result_finish(&small);
	result_finish(&exact);
	result_finish(&roomy);
}

/* --- 8. the total timeout --- */

static void test_timeout(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	struct http_request_opts o = opts_for(f, "/hang", &r);
	o.timeout_ms = 300;
	start(f, &o, &r);
	wait_done(f, &r, 5000);

	int64_t took = r.done_ms - r.started_ms;
	if (took < 250 || took > 2000) {
		fail_msg("a 300 ms timeout fired after %lld ms", (long long)took);
	}
	assert_false(r.ok);
	assert_int_equal(r.err.code, ERR_TIMEOUT);
	assert_prefix(r.err.msg, "test: ");
	assert_contains(r.err.msg, "did not answer within 0.3 s");
	assert_int_equal(r.status, 0);
	assert_int_equal(r.attempts, 1);
	/* Not retried: a slow server is not helped by a second copy of the request. */
	support_run_for(f->base, 400);
	assert_int_equal(hit_count(f, "/hang"), 1);
	assert_int_equal(r.done_calls, 1);
	result_finish(&r);
}

/* A stream that goes quiet ends after the idle time, measured from its last byte, not curl's
 * averaged low-speed check (which fired seconds late). */
static void test_stalled_stream(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	struct http_request_opts o = opts_for(f, "/stall", &r);
	o.timeout_ms = -1;
	o.idle_timeout_ms = 300;
	o.on_chunk = on_chunk;
	start(f, &o, &r);
	wait_done(f, &r, 5000);

	assert_false(r.ok);
	assert_int_equal(r.err.code, ERR_TIMEOUT);
	assert_contains(r.err.msg, "(stalled)");
	assert_int_equal(r.chunk_calls, 1); /* what came before the stall was handed over */
	int64_t quiet = r.done_ms - r.first_chunk_ms;
	if (quiet < 250 || quiet > 1200) {
		fail_msg("a 300 ms idle limit ended the stream %lld ms after its last byte",
		         (long long)quiet);
	}
	result_finish(&r);
}

/* --- 9. cancelling --- */

struct cancel_job {
	struct http *http;
	struct http_request *req;
	bool fired;
	int pending_after;
};

static void on_cancel_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct cancel_job *c = arg;
	http_cancel(c->req);
	c->pending_after = http_pending(c->http);
	c->fired = true;
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	struct http_request_opts o = opts_for(f, "/hang", &r);
	struct cancel_job c = {.http = f->http};
	c.req = start(f, &o, &r);
	struct event *t = evtimer_new(f->base, on_cancel_timer, &c);
	struct timeval tv = {0, 50 * 1000};
	evtimer_add(t, &tv);
	assert_true(support_run_until(f->base, &c.fired, 2000));
	event_free(t);
	assert_int_equal(c.pending_after, 0);
	assert_int_equal(http_pending(f->http), 0);
	support_run_for(f->base, 200);
	assert_int_equal(r.done_calls, 0);

	/* The loop goes on serving. */
	struct result next;
	result_init(&next);
	o = opts_for(f, "/ok", &next);
	start(f, &o, &next);
	wait_done(f, &next, 5000);
	assert_true(next.ok);
	assert_int_equal(next.len, OK_LEN);
	assert_int_equal(r.done_calls, 0);
	result_finish(&r);
	result_finish(&next);
}

static void test_cancel_while_waiting_to_retry(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	struct http_request_opts o = opts_for(f, "/always503", &r);
	o.max_retries = 3;
	struct http_request *req = start(f, &o, &r);
	/* Let the first 503 arrive and be taken in: the request now sits in its backoff. */
	int64_t deadline = now_mono_ms() + 2000;
	while (hit_count(f, "/always503") < 1 && support_turn(f->base, deadline)) {
	}
	assert_int_equal(hit_count(f, "/always503"), 1);
	support_run_for(f->base, 30);
	http_cancel(req);
	assert_int_equal(http_pending(f->http), 0);
	/* The retry timer is gone with it: no second request, no callback. */
	support_run_for(f->base, 700);
	assert_int_equal(hit_count(f, "/always503"), 1);
	assert_int_equal(r.done_calls, 0);
	result_finish(&r);
}

/* --- 10. streaming --- */

static void test_stream(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	struct http_request_opts o = opts_for(f, "/stream", &r);
	o.timeout_ms = -1;
	o.idle_timeout_ms = 5000;
	o.on_chunk = on_chunk;
	start(f, &o, &r);
	wait_done(f, &r, 5000);

	assert_true(r.ok);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/x-ndjson");
	if (r.chunk_calls < 2) {
		fail_msg("on_chunk ran %d times for %zu pieces sent apart", r.chunk_calls, N_PARTS);
	}
	assert_int_equal(r.chunks_after_done, 0);
	/* The first piece was handed over while the server was still sending. */
	assert_true(f->stream.ended);
	assert_true(r.first_chunk_ms < f->stream.ended_at_ms);
	struct buf want;
	buf_init(&want);
	for (size_t i = 0; i < N_PARTS; i++) {
		buf_append(&want, stream_parts[i], strlen(stream_parts[i]));
	}
	assert_int_equal(r.chunks.len, want.len);
	assert_memory_equal(r.chunks.data, want.data, want.len);
	buf_finish(&want);
	assert_int_equal(r.len, 0);
	assert_string_equal(r.body, "");
	support_run_for(f->base, 100);
	assert_int_equal(r.done_calls, 1);
	result_finish(&r);
}

static void test_stream_stopped_by_chunk(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	r.stop_stream = true;
	struct http_request_opts o = opts_for(f, "/stream", &r);
	o.timeout_ms = -1;
	o.on_chunk = on_chunk;
	start(f, &o, &r);
	wait_done(f, &r, 5000);

	assert_false(r.ok);
	assert_int_equal(r.err.code, ERR_CANCELLED);
	assert_prefix(r.err.msg, "test: ");
	assert_int_equal(r.chunk_calls, 1);
	assert_string_equal(r.chunks.data, stream_parts[0]);
	/* Let the server write the rest into the closed connection: nothing more comes. */
	assert_true(support_run_until(f->base, &f->stream.ended, 3000));
	support_run_for(f->base, 100);
	assert_int_equal(r.chunk_calls, 1);
	assert_int_equal(r.done_calls, 1);
	assert_int_equal(hit_count(f, "/stream"), 1);
	assert_int_equal(http_pending(f->http), 0);
	result_finish(&r);
}

/* --- 11. nothing listening --- */

static int unused_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void test_connection_refused(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api2/json/version", unused_port());
	struct http_request_opts o = opts_for(f, "/", &r);
	o.url = url;
	o.max_retries = 1;
	start(f, &o, &r);
	wait_done(f, &r, 5000);

	assert_true(r.done_ms - r.started_ms < 3000);
	assert_false(r.ok);
	assert_int_equal(r.err.code, ERR_NETWORK);
	assert_prefix(r.err.msg, "test: cannot connect to");
	assert_contains(r.err.msg, url);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.attempts, 2);
	struct http_response resp = {.status = r.status, .retry_after = -1};
	assert_false(http_failed_with_status(&resp));
	result_finish(&r);
}

/* --- 12. a start error is reported from the loop --- */

static void test_bad_scheme(void **state)
{
	struct fixture *f = *state;
	struct result r;
	result_init(&r);
	char url[64];
	snprintf(url, sizeof(url), "ftp://127.0.0.1:%d/file", f->port);
	struct http_request_opts o = opts_for(f, "/", &r);
	o.url = url;
	start(f, &o, &r);
	assert_int_equal(r.done_calls, 0); /* not from inside http_start */
	assert_int_equal(http_pending(f->http), 1);
	wait_done(f, &r, 2000);

	assert_false(r.ok);
	assert_int_equal(r.err.code, ERR_CONFIG);
	assert_prefix(r.err.msg, "test: url 'ftp://");
	assert_int_equal(r.status, 0);
	assert_int_equal(http_pending(f->http), 0);
	assert_int_equal(f->n_hits, 0);
	result_finish(&r);
}

/* --- 13. destroying the client with work in flight --- */

static void test_destroy_with_requests_running(void **state)
{
	struct fixture *f = *state;
	struct result hang, retrying, bad, stream;
	result_init(&hang);
	result_init(&retrying);
	result_init(&bad);
	result_init(&stream);
	struct http_request_opts o = opts_for(f, "/hang", &hang);
	start(f, &o, &hang);
	o = opts_for(f, "/always503", &retrying);
	o.max_retries = 3;
	start(f, &o, &retrying);
	o = opts_for(f, "/stream", &stream);
	o.timeout_ms = -1;
	o.on_chunk = on_chunk;
	start(f, &o, &stream);
	assert_int_equal(http_pending(f->http), 3);

	/* Wait until the stream is flowing and the 503 has put its request into backoff. */
	int64_t deadline = now_mono_ms() + 3000;
	while ((stream.chunk_calls < 1 || hit_count(f, "/always503") < 1) &&
	       support_turn(f->base, deadline)) {
	}
	assert_true(stream.chunk_calls >= 1);
	assert_int_equal(hit_count(f, "/hang"), 1);
	int chunks = stream.chunk_calls;
	assert_int_equal(http_pending(f->http), 3);
	/* And one whose start error is still waiting to be reported. */
	char url[64];
	snprintf(url, sizeof(url), "ftp://127.0.0.1:%d/file", f->port);
	o = opts_for(f, "/", &bad);
	o.url = url;
	start(f, &o, &bad);
	assert_int_equal(http_pending(f->http), 4);

	http_destroy(f->http);
	f->http = NULL;
	support_run_for(f->base, 500);
	assert_int_equal(hang.done_calls, 0);
	assert_int_equal(retrying.done_calls, 0);
	assert_int_equal(bad.done_calls, 0);
	assert_int_equal(stream.done_calls, 0);
	assert_int_equal(stream.chunk_calls, chunks);
	assert_int_equal(hit_count(f, "/always503"), 1);
	result_finish(&hang);
	result_finish(&retrying);
	result_finish(&bad);
	result_finish(&stream);
}

int main(void)
{
	/* The server may write into a connection the client has closed. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_get_ok, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_get_503_retried_then_fails, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_get_503_once_then_ok, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_writes_not_retried, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_retry_after_honoured, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_retry_after_too_long_reported, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_ratelimit_headers, setup, teardown),
	        cmocka_unit_test(test_status_error_mapping),
	        cmocka_unit_test_setup_teardown(test_status_over_the_wire, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_size_cap, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stalled_stream, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel_while_waiting_to_retry, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stream_stopped_by_chunk, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_scheme, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_destroy_with_requests_running, setup,
	                                        teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return failed;
}
