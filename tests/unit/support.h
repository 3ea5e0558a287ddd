/* support.h: what the unit tests share: reading fixtures, turning a libevent loop against a
 * deadline, an evhttp test server on 127.0.0.1 and a kubeconfig that points at it. Every unit
 * test executable is built from its own file plus support.c.
 *
 * The helpers end the running test through cmocka (fail_msg, assert_*) when something they
 * need is missing, so they return only what works; a test file includes <cmocka.h> (after
 * <setjmp.h>, <stdarg.h>, <stddef.h> and <stdint.h>) before this header. */
#ifndef LABDECK_TEST_SUPPORT_H
#define LABDECK_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct event;
struct event_base;
struct evhttp;
struct evhttp_request;

/* ---- fixtures ------------------------------------------------------------------------------ */

/* support_fixture_path returns "$FIXTURES/dir/rel" (heap); with $FIXTURES unset,
 * "tests/fixtures/dir/rel", which is right from the repository root, where the tests run. */
char *support_fixture_path(const char *dir, const char *rel);

/* support_read_file reads the whole file at path into a heap buffer with a NUL after the last
 * byte (the file may hold NULs of its own); *len, when len is not NULL, is the file's length.
 * Fails the test when the file cannot be read. */
char *support_read_file(const char *path, size_t *len);

/* support_fixture reads $FIXTURES/dir/rel as support_read_file does. */
char *support_fixture(const char *dir, const char *rel, size_t *len);

/* support_fixture_exact reads $FIXTURES/dir/rel into a heap buffer of exactly *len bytes with
 * no terminator, so ASan catches a parser that reads past len. */
char *support_fixture_exact(const char *dir, const char *rel, size_t *len);

/* ---- the event loop ------------------------------------------------------------------------ */

/* support_base_new returns a new event base with a steady 20 ms timer that does nothing
 * (*tick), so event_base_loop(base, EVLOOP_ONCE) always comes back and deadlines are checked
 * even when nothing else happens. */
struct event_base *support_base_new(struct event **tick);

/* support_base_free frees tick, then base. */
void support_base_free(struct event_base *base, struct event *tick);

/* support_turn turns base once (EVLOOP_ONCE) unless now_mono_ms() has reached deadline_ms;
 * returns whether it turned. For loops like
 *     while (!done && support_turn(base, deadline)) { } */
bool support_turn(struct event_base *base, int64_t deadline_ms);

/* support_run_until turns base until *flag is true or max_ms milliseconds have passed;
 * returns *flag. */
bool support_run_until(struct event_base *base, const bool *flag, int64_t max_ms);

/* support_run_for turns base for ms milliseconds, whatever happens. */
void support_run_for(struct event_base *base, int64_t ms);

/* SUPPORT_WAIT_FOR turns base until cond (an expression, evaluated again after every turn)
 * holds; when it does not within ms milliseconds, the test fails naming the line and cond. */
#define SUPPORT_WAIT_FOR(base, cond, ms)                                                           \
	do {                                                                                       \
		int64_t support_deadline_ = now_mono_ms() + (ms);                                  \
		while (!(cond) && support_turn((base), support_deadline_)) {                       \
		}                                                                                  \
		if (!(cond)) {                                                                     \
			fail_msg("line %d: not within %d ms: %s", __LINE__, (int)(ms), #cond);     \
		}                                                                                  \
	} while (0)

/* ---- the test server ----------------------------------------------------------------------- */

/* support_server_new starts an evhttp server on base, listening on 127.0.0.1 on a port the
 * system picks (*port), that hands every request to cb(req, arg). evhttp_free stops it. */
struct evhttp *support_server_new(struct event_base *base,
                                  void (*cb)(struct evhttp_request *req, void *arg), void *arg,
                                  int *port);

/* support_reply answers req: code and reason, then len bytes of body (which may hold NULs) and,
 * unless content_type is NULL, that Content-Type. */
void support_reply(struct evhttp_request *req, int code, const char *reason,
                   const char *content_type, const void *body, size_t len);

/* support_send_chunk sends len bytes of data as one chunk of a reply begun with
 * evhttp_send_reply_start. */
void support_send_chunk(struct evhttp_request *req, const void *data, size_t len);

/* support_kubeconfig_new writes a kubeconfig to a new temporary file (mode 0600): its one
 * context, "test", reaches the apiserver at http://127.0.0.1:port with the bearer token.
 * Returns the file's path (heap; the caller unlinks and frees it). */
char *support_kubeconfig_new(int port, const char *token);

#endif
