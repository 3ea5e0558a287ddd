/* support.c: see support.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

/* ---- fixtures ------------------------------------------------------------------------------ */

char *support_fixture_path(const char *dir, const char *rel)
{
	const char *root = getenv("FIXTURES");
	return xasprintf("%s/%s/%s", root ? root : "tests/fixtures", dir, rel);
}

char *support_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fail_msg("cannot open %s: %s", path, strerror(errno));
	}
	struct buf b;
	buf_init(&b);
	char chunk[4096];
	size_t got;
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		buf_append(&b, chunk, got);
	}
	bool failed = ferror(f);
	fclose(f);
	if (failed) {
		buf_finish(&b);
		fail_msg("cannot read %s", path);
	}
	if (len) {
		*len = b.len;
	}
	return buf_steal(&b);
}

char *support_fixture(const char *dir, const char *rel, size_t *len)
{
	char *path = support_fixture_path(dir, rel);
	char *text = support_read_file(path, len);
	free(path);
	return text;
}

char *support_fixture_exact(const char *dir, const char *rel, size_t *len)
{
	char *text = support_fixture(dir, rel, len);
	char *exact = xmalloc(*len);
	memcpy(exact, text, *len);
	free(text);
	return exact;
}

/* ---- the event loop ------------------------------------------------------------------------ */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

struct event_base *support_base_new(struct event **tick)
{
	struct event_base *base = event_base_new();
	assert_non_null(base);
	*tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	assert_non_null(*tick);
	struct timeval tv = {0, 20 * 1000};
	assert_int_equal(event_add(*tick, &tv), 0);
	return base;
}

void support_base_free(struct event_base *base, struct event *tick)
{
	event_free(tick);
	event_base_free(base);
}

bool support_turn(struct event_base *base, int64_t deadline_ms)
{
	if (now_mono_ms() >= deadline_ms) {
		return false;
	}
	event_base_loop(base, EVLOOP_ONCE);
	return true;
}

bool support_run_until(struct event_base *base, const bool *flag, int64_t max_ms)
{
	int64_t deadline = now_mono_ms() + max_ms;
	while (!*flag && support_turn(base, deadline)) {
	}
	return *flag;
}

void support_run_for(struct event_base *base, int64_t ms)
{
	bool never = false;
	support_run_until(base, &never, ms);
}

/* ---- the test server ----------------------------------------------------------------------- */

struct evhttp *support_server_new(struct event_base *base,
                                  void (*cb)(struct evhttp_request *req, void *arg), void *arg,
                                  int *port)
{
	struct evhttp *server = evhttp_new(base);
	assert_non_null(server);
	evhttp_set_gencb(server, cb, arg);
	struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(server, "127.0.0.1", 0);
	assert_non_null(bound);
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	assert_int_equal(
	        getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	assert_true(*port > 0);
	return server;
}

void support_reply(struct evhttp_request *req, int code, const char *reason,
                   const char *content_type, const void *body, size_t len)
{
	if (content_type) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		                  content_type);
	}
	struct evbuffer *b = evbuffer_new();
	if (len > 0) {
		evbuffer_add(b, body, len);
	}
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

void support_send_chunk(struct evhttp_request *req, const void *data, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, data, len);
	evhttp_send_reply_chunk(req, b);
	evbuffer_free(b);
}

char *support_kubeconfig_new(int port, const char *token)
{
	char *path = xstrdup("/tmp/labdeck-test-kubeconfig-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	char *text = xasprintf("apiVersion: v1\n"
	                       "kind: Config\n"
	                       "current-context: test\n"
	                       "clusters:\n"
	                       "- cluster:\n"
	                       "    server: http://127.0.0.1:%d\n"
	                       "  name: test\n"
	                       "contexts:\n"
	                       "- context:\n"
	                       "    cluster: test\n"
	                       "    user: test\n"
	                       "  name: test\n"
	                       "users:\n"
	                       "- name: test\n"
	                       "  user:\n"
	                       "    token: %s\n",
	                       port, token);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	free(text);
	return path;
}
