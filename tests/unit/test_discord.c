/* test_discord.c: the Discord webhook mirror against an evhttp server on the test's own loop:
 * one message per action (POST ?wait=true, its id kept), later states as edits of it (PATCH
 * .../messages/ID) coalesced to the newest, a 429 waited out as its retry_after says, a deleted
 * webhook (404 Unknown Webhook) stopping the posting with one warning, the webhook's secret
 * token never in a warning, and Discord Markdown made inert in network text. */
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
#include <jansson.h>

#include "discord.h"
#include "http.h"
#include "support.h"
#include "util.h"

#define TOKEN "s3cr3t-T0KEN-abcdefghijklmnopqrstuvwxyz"
#define MAX_REC 32

enum mode {
	MODE_OK,
	MODE_429_ONCE,   /* the first request: 429 retry_after 0.3 (Retry-After header: 2) */
	MODE_429_GLOBAL, /* the first PATCH: a global 429, retry_after 0.4 */
	MODE_404,        /* every request: 404 Unknown Webhook */
	MODE_500,        /* every request: 500 */
};

struct rec {
	char method[8];
	char uri[256];
	char *content; /* the body's "content" */
	bool no_mentions;
	int64_t at_ms;
};

struct fixture {
	struct event_base *base;
	struct event *tick;
	struct evhttp *server;
	int port;
	struct http *http;
	enum mode mode;
	struct rec recs[MAX_REC];
	int n;
	int warnings;
	char last_warning[600];
};

static void on_request(struct evhttp_request *req, void *arg)
{
	struct fixture *f = arg;
	assert_true(f->n < MAX_REC);
	struct rec *r = &f->recs[f->n++];
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	snprintf(r->method, sizeof(r->method), "%s",
	         cmd == EVHTTP_REQ_POST    ? "POST"
	         : cmd == EVHTTP_REQ_PATCH ? "PATCH"
	                                   : "OTHER");
	snprintf(r->uri, sizeof(r->uri), "%s", evhttp_request_get_uri(req));
	r->at_ms = now_mono_ms();
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char *body = xmalloc(len + 1);
	evbuffer_copyout(in, body, len);
	body[len] = '\0';
	json_t *o = json_loads(body, 0, NULL);
	free(body);
	assert_non_null(o);
	r->content = xstrdup(json_string_value(json_object_get(o, "content")));
	json_t *parse = json_object_get(json_object_get(o, "allowed_mentions"), "parse");
	r->no_mentions = json_is_array(parse) && json_array_size(parse) == 0;
	json_decref(o);

	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	if ((f->mode == MODE_429_ONCE && f->n == 1) ||
	    (f->mode == MODE_429_GLOBAL && strcmp(r->method, "PATCH") == 0 && f->n == 2)) {
		bool global = f->mode == MODE_429_GLOBAL;
		char b[160];
		snprintf(b, sizeof(b),
		         "{\"message\": \"You are being rate limited.\", \"retry_after\": %s, "
		         "\"global\": %s}",
		         global ? "0.4" : "0.3", global ? "true" : "false");
		evhttp_add_header(out, "Retry-After", "2");
		evhttp_add_header(out, "X-RateLimit-Scope", global ? "global" : "user");
		support_reply(req, 429, "Too Many Requests", "application/json", b, strlen(b));
		return;
	}
	if (f->mode == MODE_404) {
		const char *b = "{\"message\": \"Unknown Webhook\", \"code\": 10015}";
		support_reply(req, 404, "Not Found", "application/json", b, strlen(b));
		return;
	}
	if (f->mode == MODE_500) {
		const char *b = "{\"message\": \"500: Internal Server Error\", \"code\": 0}";
		support_reply(req, 500, "Internal Server Error", "application/json", b, strlen(b));
		return;
	}
	/* A Message object; each POST makes a new id. */
	char b[256];
	snprintf(b, sizeof(b), "{\"type\":0,\"id\":\"12355123456789012%02d\",\"content\":\"x\"}",
	         f->n);
	support_reply(req, 200, "OK", "application/json", b, strlen(b));
}

static void on_warn(void *ud, const char *msg)
{
	struct fixture *f = ud;
	f->warnings++;
	snprintf(f->last_warning, sizeof(f->last_warning), "%s", msg);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->base = support_base_new(&f->tick);
	f->server = support_server_new(f->base, on_request, f, &f->port);
	evhttp_set_allowed_methods(f->server, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PATCH);
	f->http = http_create(f->base);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	http_destroy(f->http);
	evhttp_free(f->server);
	support_base_free(f->base, f->tick);
	for (int i = 0; i < f->n; i++) {
		free(f->recs[i].content);
	}
	free(f);
	return 0;
}

static struct discord *mirror(struct fixture *f)
{
	char *url =
	        xasprintf("http://127.0.0.1:%d/api/webhooks/1223344556677889900/" TOKEN, f->port);
	struct discord *d = discord_new(f->base, f->http, url, on_warn, f);
	free(url);
	return d;
}

static void test_post_then_edit(void **state)
{
	struct fixture *f = *state;
	struct discord *d = mirror(f);
	struct discord_message *m = discord_post(d, "**session delete** lab: started");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d), 5000);
	assert_int_equal(f->n, 1);
	assert_string_equal(f->recs[0].method, "POST");
	assert_string_equal(f->recs[0].uri,
	                    "/api/webhooks/1223344556677889900/" TOKEN "?wait=true");
	assert_string_equal(f->recs[0].content, "**session delete** lab: started");
	assert_true(f->recs[0].no_mentions);
	assert_string_equal(discord_message_id(m), "1235512345678901201");

	discord_edit(m, "**session delete** lab: deleted");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d), 5000);
	assert_int_equal(f->n, 2);
	assert_string_equal(f->recs[1].method, "PATCH");
	assert_string_equal(f->recs[1].uri, "/api/webhooks/1223344556677889900/" TOKEN
	                                    "/messages/1235512345678901201");
	assert_string_equal(f->recs[1].content, "**session delete** lab: deleted");
	assert_true(f->recs[1].no_mentions);
	/* The same state again sends nothing. */
	discord_edit(m, "**session delete** lab: deleted");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d), 5000);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->warnings, 0);
	/* A second action is a second message. */
	struct discord_message *m2 = discord_post(d, "second");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d), 5000);
	assert_int_equal(f->n, 3);
	assert_string_equal(f->recs[2].method, "POST");
	assert_string_equal(discord_message_id(m2), "1235512345678901203");
	discord_free(d);
}

static void test_edits_coalesce(void **state)
{
	struct fixture *f = *state;
	struct discord *d = mirror(f);
	struct discord_message *m = discord_post(d, "state 1");
	/* While the POST is in flight, three states come: only the newest is sent after it. */
	discord_edit(m, "state 2");
	discord_edit(m, "state 3");
	discord_edit(m, "state 4");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d), 5000);
	assert_int_equal(f->n, 2);
	assert_string_equal(f->recs[0].content, "state 1");
	assert_string_equal(f->recs[1].method, "PATCH");
	assert_string_equal(f->recs[1].content, "state 4");
	/* One PATCH in flight at a time; the final state is the last one sent. */
	discord_edit(m, "state 5");
	discord_edit(m, "state 6");
	discord_edit(m, "done");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d), 5000);
	assert_int_equal(f->n, 4);
	assert_string_equal(f->recs[2].content, "state 5");
	assert_string_equal(f->recs[3].content, "done");
	assert_int_equal(discord_requests(d), 4);
	discord_free(d);
}

static void test_429_retry_after_honoured(void **state)
{
	struct fixture *f = *state;
	f->mode = MODE_429_ONCE;
	struct discord *d = mirror(f);
	struct discord_message *m = discord_post(d, "started");
	SUPPORT_WAIT_FOR(f->base, f->n == 1, 5000);
	/* During the wait a newer state comes: the repeated POST carries it. */
	support_run_for(f->base, 50);
	discord_edit(m, "running");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d), 5000);
	assert_int_equal(f->n, 2);
	assert_string_equal(f->recs[1].method, "POST");
	assert_string_equal(f->recs[1].content, "running");
	int64_t gap = f->recs[1].at_ms - f->recs[0].at_ms;
	/* The body's 0.3 s, not the header's rounded 2 s. */
	assert_true(gap >= 290);
	assert_true(gap < 1500);
	assert_non_null(discord_message_id(m));
	assert_int_equal(f->warnings, 0);
	discord_free(d);
}

static void test_429_global_holds_every_message(void **state)
{
	struct fixture *f = *state;
	f->mode = MODE_429_GLOBAL;
	struct discord *d = mirror(f);
	struct discord_message *a = discord_post(d, "a started");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d), 5000);
	discord_edit(a, "a running"); /* this PATCH gets the global 429 */
	SUPPORT_WAIT_FOR(f->base, f->n == 2, 5000);
	support_run_for(f->base, 30);
	struct discord_message *b = discord_post(d, "b started");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d), 5000);
	assert_int_equal(f->n, 4);
	assert_non_null(discord_message_id(b));
	/* Neither went before the 0.4 s were over. */
	for (int i = 2; i < 4; i++) {
		assert_true(f->recs[i].at_ms - f->recs[1].at_ms >= 390);
	}
	discord_free(d);
}

static void test_deleted_webhook_stops_with_one_warning(void **state)
{
	struct fixture *f = *state;
	f->mode = MODE_404;
	struct discord *d = mirror(f);
	struct discord_message *m = discord_post(d, "started");
	discord_edit(m, "running");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d), 5000);
	assert_true(discord_stopped(d));
	assert_int_equal(f->n, 1);
	assert_int_equal(f->warnings, 1);
	assert_non_null(strstr(f->last_warning, "deleted or is wrong"));
	assert_non_null(strstr(f->last_warning, "Unknown Webhook"));
	assert_non_null(strstr(f->last_warning, "10015"));
	assert_null(strstr(f->last_warning, TOKEN));
	/* Nothing more is sent, nothing more is said. */
	discord_edit(m, "done");
	struct discord_message *m2 = discord_post(d, "another action");
	support_run_for(f->base, 100);
	assert_true(discord_idle(d));
	assert_null(discord_message_id(m2));
	assert_int_equal(f->n, 1);
	assert_int_equal(f->warnings, 1);
	discord_free(d);
}

/* A console (discord_set_keep_trying): a deleted webhook stops posting only until the next
 * action, which tries again; a 429 wait is said once. */
static void test_keep_trying_for_a_console(void **state)
{
	struct fixture *f = *state;
	f->mode = MODE_404;
	struct discord *d = mirror(f);
	discord_set_keep_trying(d, true);
	struct discord_message *m = discord_post(d, "started");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d), 5000);
	assert_true(discord_stopped(d));
	assert_int_equal(f->warnings, 1);
	assert_non_null(strstr(f->last_warning, "check the webhook URL in [discord]"));
	assert_non_null(strstr(f->last_warning, "the next action tries again"));
	assert_null(strstr(f->last_warning, TOKEN));
	/* The action's later states are dropped... */
	discord_edit(m, "done");
	support_run_for(f->base, 100);
	assert_int_equal(f->n, 1);
	/* ... and the next action, once the webhook is back, is posted. */
	f->mode = MODE_OK;
	struct discord_message *m2 = discord_post(d, "another action");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d) && discord_message_id(m2), 5000);
	assert_false(discord_stopped(d));
	assert_int_equal(f->n, 2);
	assert_string_equal(f->recs[1].content, "another action");
	assert_int_equal(f->warnings, 1);
	/* A 429: said once, with the wait; the message goes out after it. */
	for (int i = 0; i < f->n; i++) {
		free(f->recs[i].content);
	}
	f->n = 0; /* MODE_429_ONCE answers the first request */
	f->mode = MODE_429_ONCE;
	struct discord_message *m3 = discord_post(d, "third");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d) && discord_message_id(m3), 5000);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->warnings, 2);
	assert_non_null(strstr(f->last_warning, "429 rate limited: Discord asks to wait 1 s"));
	discord_free(d);
}

static void test_failure_warns_without_the_secret(void **state)
{
	struct fixture *f = *state;
	f->mode = MODE_500;
	struct discord *d = mirror(f);
	struct discord_message *m = discord_post(d, "started");
	SUPPORT_WAIT_FOR(f->base, discord_idle(d), 5000);
	assert_int_equal(f->warnings, 1);
	assert_non_null(strstr(f->last_warning, "500"));
	assert_null(strstr(f->last_warning, TOKEN));
	/* A POST that failed is never sent again: later states of it are dropped. */
	discord_edit(m, "done");
	support_run_for(f->base, 100);
	assert_int_equal(f->n, 1);
	assert_false(discord_stopped(d));
	discord_free(d);

	/* Nobody listening: the transport error names the URL; the warning must not. */
	struct discord *gone = discord_new(
	        f->base, f->http, "http://127.0.0.1:1/api/webhooks/1223344556677889900/" TOKEN,
	        on_warn, f);
	discord_post(gone, "started");
	SUPPORT_WAIT_FOR(f->base, discord_idle(gone), 8000);
	assert_int_equal(f->warnings, 2);
	assert_null(strstr(f->last_warning, TOKEN));
	assert_null(strstr(f->last_warning, "api/webhooks"));
	assert_non_null(strstr(f->last_warning, "discord webhook"));
	discord_free(gone);
}

static void test_long_content_is_cut(void **state)
{
	struct fixture *f = *state;
	struct discord *d = mirror(f);
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < 2100; i++) {
		buf_append(&b, "\xEC\xBA\x90", 3); /* 캐: one character, three bytes */
	}
	buf_append(&b, "", 1);
	discord_post(d, b.data);
	buf_finish(&b);
	SUPPORT_WAIT_FOR(f->base, discord_idle(d), 5000);
	assert_int_equal(f->n, 1);
	size_t chars = 0;
	for (const char *p = f->recs[0].content; *p; p++) {
		chars += ((unsigned char)*p & 0xC0) != 0x80;
	}
	assert_int_equal(chars, 2000);
	assert_non_null(strstr(f->recs[0].content, "…"));
	discord_free(d);
}

static void test_escape(void **state)
{
	(void)state;
	char *s = discord_escape("@everyone **bold** <@123> [x](https://evil.example) `c` a_b "
	                         "\x1b]8;;https://x\x07link\x1b[31mred\n#h");
	assert_null(strstr(s, "@everyone"));
	assert_null(strstr(s, "<@1"));
	assert_non_null(strstr(s, "\\<@"));
	assert_null(strstr(s, "\x1b"));
	assert_null(strstr(s, "\n"));
	assert_null(strstr(s, "https://"));
	assert_non_null(strstr(s, "\\*\\*bold\\*\\*"));
	assert_non_null(strstr(s, "\\[x\\]\\(https:"));
	assert_non_null(strstr(s, "\\`c\\`"));
	assert_non_null(strstr(s, "a\\_b"));
	assert_non_null(strstr(s, "\\#h"));
	free(s);
	s = discord_escape("web-캐시");
	assert_string_equal(s, "web-캐시");
	free(s);
	s = discord_escape("back\\slash");
	assert_string_equal(s, "back\\\\slash");
	free(s);
}

static void test_parsers(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture("discord", "message.RECONSTRUCTED.json", &len);
	char *id = NULL;
	struct err e;
	assert_true(discord_parse_message(body, len, &id, &e));
	assert_string_equal(id, "1235512345678901234");
	free(id);
	free(body);
	assert_false(discord_parse_message("{\"type\":0}", 10, &id, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	assert_false(discord_parse_message("<html>", 6, &id, &e));
	assert_int_equal(e.code, ERR_MALFORMED);

	bool global = false;
	body = support_fixture("discord", "429-global.json", &len);
	assert_true(discord_parse_retry_after(body, len, 65, &global) == 64.57);
	assert_true(global);
	free(body);
	body = support_fixture("discord", "429-user.json", &len);
	assert_true(discord_parse_retry_after(body, len, 65, &global) == 64.57);
	assert_false(global);
	free(body);
	/* No JSON body: the header, else one second. */
	assert_true(discord_parse_retry_after("", 0, 3, &global) == 3.0);
	assert_true(discord_parse_retry_after("slow down", 9, -1, NULL) == 1.0);

	long code;
	char msg[100];
	body = support_fixture("discord", "unknown-webhook.json", &len);
	discord_parse_error(body, len, &code, msg, sizeof(msg));
	assert_int_equal(code, 10015);
	assert_string_equal(msg, "Unknown Webhook");
	free(body);
	discord_parse_error("", 0, &code, msg, sizeof(msg));
	assert_int_equal(code, 0);
	assert_string_equal(msg, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_post_then_edit, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_edits_coalesce, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_429_retry_after_honoured, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_429_global_holds_every_message, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_deleted_webhook_stops_with_one_warning, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_keep_trying_for_a_console, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_failure_warns_without_the_secret, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_long_content_is_cut, setup, teardown),
	        cmocka_unit_test(test_escape),
	        cmocka_unit_test(test_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
