/* test_session.c: chat sessions (names, JSON form, UTF-8 repair), the file store under a temporary
 * $XDG_STATE_HOME, the Redis client without a server (refused, silent server, bad URLs), and,
 * when LABDECK_TEST_REDIS_URL names a real redis-server, the Redis store, AUTH, SELECT and name
 * lookup. Those tests skip without it; tests/integration/test_sessions.py runs this binary with a
 * redis-server of its own, and with LABDECK_TEST_REDIS_CONTROL=1 the test that has the server
 * killed and restarted mid-session: it prints "@@ stop redis" or "@@ start redis" on stdout and
 * waits for a line on stdin once that is done. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "health.h"
#include "redis_client.h"
#include "session.h"
#include "support.h"
#include "util.h"

#define WAIT_MS 5000

/* ---- helpers ------------------------------------------------------------------------------- */

/* What a store operation handed back. */
struct got {
	bool done;
	bool failed;
	struct err err;
	struct session *s;
	struct session_list *list;
};

static void got_reset(struct got *g)
{
	session_destroy(g->s);
	session_list_destroy(g->list);
	memset(g, 0, sizeof(*g));
}

static void on_load(void *ud, struct session *s, const struct err *err)
{
	struct got *g = ud;
	assert_false(g->done); /* once */
	g->done = true;
	g->s = s;
	g->failed = err != NULL;
	if (err) {
		g->err = *err;
		assert_null(s);
	} else {
		assert_non_null(s);
	}
}

static void on_done(void *ud, const struct err *err)
{
	struct got *g = ud;
	assert_false(g->done);
	g->done = true;
	g->failed = err != NULL;
	if (err) {
		g->err = *err;
	}
}

static void on_list(void *ud, struct session_list *list, const struct err *err)
{
	struct got *g = ud;
	assert_false(g->done);
	g->done = true;
	g->list = list;
	g->failed = err != NULL;
	if (err) {
		g->err = *err;
	}
}

/* A test's loop and store. */
struct fx {
	struct event_base *base;
	struct event *tick;
	struct redis_client *redis;
	struct session_store *st;
	char *tmp; /* a temporary directory, removed at the end */
};

static void rm_rf(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) != 0) {
		return;
	}
	if (S_ISDIR(sb.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		while (d && (de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
				char *sub = xasprintf("%s/%s", path, de->d_name);
				rm_rf(sub);
				free(sub);
			}
		}
		if (d) {
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

static void fx_finish(struct fx *f)
{
	session_store_destroy(f->st);
	redis_client_destroy(f->redis);
	support_run_for(f->base, 30); /* let a name lookup in flight finish */
	support_base_free(f->base, f->tick);
	if (f->tmp) {
		rm_rf(f->tmp);
		free(f->tmp);
	}
	memset(f, 0, sizeof(*f));
}

/* fx_files: a file store under a fresh $XDG_STATE_HOME. */
static void fx_files(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->base = support_base_new(&f->tick);
	char tmpl[] = "/tmp/labdeck-session-test-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	f->tmp = xstrdup(tmpl);
	setenv("XDG_STATE_HOME", f->tmp, 1);
	f->st = session_store_create(f->base, NULL, NULL);
}

static void wait_got(struct fx *f, struct got *g)
{
	SUPPORT_WAIT_FOR(f->base, g->done, WAIT_MS);
}

static void load(struct fx *f, const char *name, struct got *g)
{
	got_reset(g);
	session_load(f->st, name, on_load, g);
	assert_false(g->done); /* never before it returns */
	wait_got(f, g);
}

static void save(struct fx *f, const struct session *s, struct got *g)
{
	got_reset(g);
	session_save(f->st, s, on_done, g);
	assert_false(g->done);
	wait_got(f, g);
}

static void list_all(struct fx *f, struct got *g)
{
	got_reset(g);
	session_list_all(f->st, on_list, g);
	assert_false(g->done);
	wait_got(f, g);
}

static void rename_(struct fx *f, const char *from, const char *to, struct got *g)
{
	got_reset(g);
	session_rename(f->st, from, to, on_done, g);
	assert_false(g->done);
	wait_got(f, g);
}

static void delete_(struct fx *f, const char *name, struct got *g)
{
	got_reset(g);
	session_delete(f->st, name, on_done, g);
	assert_false(g->done);
	wait_got(f, g);
}

#define assert_ok(g)                                                                               \
	do {                                                                                       \
		if ((g)->failed) {                                                                 \
			fail_msg("line %d: failed: %s", __LINE__, (g)->err.msg);                   \
		}                                                                                  \
	} while (0)

#define assert_failed(g, code_)                                                                    \
	do {                                                                                       \
		if (!(g)->failed) {                                                                \
			fail_msg("line %d: succeeded, want %s", __LINE__, err_code_name(code_));   \
		}                                                                                  \
		if ((g)->err.code != (code_)) {                                                    \
			fail_msg("line %d: %s (%s), want %s", __LINE__,                            \
			         err_code_name((g)->err.code), (g)->err.msg,                       \
			         err_code_name(code_));                                            \
		}                                                                                  \
	} while (0)

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle))) {                                                    \
			fail_msg("line %d: \"%s\" does not contain \"%s\"", __LINE__, (hay),       \
			         (needle));                                                        \
		}                                                                                  \
	} while (0)

/* A session as a chat leaves it: system prompt, Hangul, quotes, newlines, a terminal escape (kept
 * as data: sanitising is the screen's job) and a code block. */
static void sample(struct session *s, const char *name)
{
	session_init(s, name);
	session_set_meta(s, "ollama", "qwen2.5:7b", "You answer in Korean when asked in Korean.");
	session_add(s, "user", "GPU 메모리가 얼마나 남았나요?");
	session_add(s, "assistant",
	            "약 \"12 GiB\"가 남았습니다.\n\n```sh\nnvidia-smi\n```\n\x1b[31mred\x1b[0m");
	session_add(s, "user", "thanks\ttab");
}

static void assert_same_session(const struct session *want, const struct session *got)
{
	assert_string_equal(got->name, want->name);
	assert_string_equal(got->provider, want->provider);
	assert_string_equal(got->model, want->model);
	assert_string_equal(got->system, want->system);
	assert_int_equal(got->len, want->len);
	for (size_t i = 0; i < want->len; i++) {
		assert_string_equal(got->messages[i].role, want->messages[i].role);
		assert_string_equal(got->messages[i].content, want->messages[i].content);
	}
	assert_true(got->updated >= want->updated - 0.001 && got->updated <= want->updated + 0.001);
	assert_true(got->created >= want->created - 0.001 && got->created <= want->created + 0.001);
	assert_false(got->is_new);
}

/* ---- names, JSON, UTF-8 -------------------------------------------------------------------- */

static void names(void **state)
{
	const char *good[] = {"work", "a", "lab-notes_2024.05", "Q3.review",
	                      "0123456789012345678901234567890123456789012345678901234567890123"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct err err;
		if (!session_name_valid(good[i], &err)) {
			fail_msg("%s refused: %s", good[i], err.msg);
		}
	}
	const char *bad[] = {
	        "",      "../etc/passwd",
	        "a/b",   ".hidden",
	        "..",    "a b",
	        "메모",  "tab\there",
	        "x\n",   "semi;colon",
	        "star*", "01234567890123456789012345678901234567890123456789012345678901234"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err err;
		err_clear(&err);
		if (session_name_valid(bad[i], &err)) {
			fail_msg("\"%s\" accepted", bad[i]);
		}
		assert_int_equal(err.code, ERR_USAGE);
		assert_contains(err.msg, "letters, digits, '-', '_' or '.'");
	}
	struct err err;
	session_name_valid("a/b", &err);
	assert_contains(err.msg, "session name \"a/b\" is not valid");
	session_name_valid("tab\there", &err);
	assert_contains(err.msg, "\"tab?here\""); /* no control characters in messages */
	session_name_valid(bad[11], &err);
	assert_contains(err.msg, "too long (65 bytes)");
}

static void json_round_trip(void **state)
{
	struct session s;
	sample(&s, "gpu");
	char *text = session_to_json(&s);

	/* The stored shape. */
	json_error_t je;
	json_t *root = json_loads(text, 0, &je);
	assert_non_null(root);
	assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
	assert_string_equal(json_string_value(json_object_get(root, "provider")), "ollama");
	assert_string_equal(json_string_value(json_object_get(root, "model")), "qwen2.5:7b");
	assert_null(json_object_get(root, "name")); /* the key or file name is the name */
	json_t *msgs = json_object_get(root, "messages");
	assert_int_equal(json_array_size(msgs), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "role")),
	                    "user");
	json_decref(root);

	struct session back;
	struct err err;
	assert_true(session_from_json(text, strlen(text), "gpu", &back, &err));
	assert_same_session(&s, &back);
	session_finish(&back);
	free(text);

	/* An empty session, without provider, model or system prompt. */
	struct session empty;
	session_init(&empty, "blank");
	assert_true(empty.is_new);
	text = session_to_json(&empty);
	assert_true(session_from_json(text, strlen(text), "blank", &back, &err));
	assert_null(back.provider);
	assert_null(back.model);
	assert_null(back.system);
	assert_int_equal(back.len, 0);
	session_finish(&back);
	free(text);
	session_finish(&empty);

	/* set_meta: NULL keeps, "" clears. */
	session_set_meta(&s, NULL, "gemini-2.5-flash", "");
	assert_string_equal(s.provider, "ollama");
	assert_string_equal(s.model, "gemini-2.5-flash");
	assert_null(s.system);
	session_finish(&s);
}

static void json_bad(void **state)
{
	const char *bad[] = {
	        "not json",
	        "[1,2]",
	        "{\"messages\":{}}",
	        "{\"messages\":[{\"role\":\"user\"}]}",
	        "{\"messages\":[\"hello\"]}",
	        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct session s;
		struct err err;
		err_clear(&err);
		if (session_from_json(bad[i], strlen(bad[i]), "x", &s, &err)) {
			fail_msg("accepted: %s", bad[i]);
		}
		assert_int_equal(err.code, ERR_MALFORMED);
		assert_contains(err.msg, "session x");
	}
	/* No messages at all is an empty session; unknown keys are ignored. */
	const char *ok = "{\"version\":7,\"future\":[1],\"updated\":1714557600}";
	struct session s;
	assert_true(session_from_json(ok, strlen(ok), "x", &s, NULL));
	assert_int_equal(s.len, 0);
	assert_true(s.updated == 1714557600.0);
	session_finish(&s);
}

static void utf8(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
	        {"plain", 5, "plain"},
	        {"한국어 🚀", 14, "한국어 🚀"},
	        {"a\xff"
	         "b",
	         3,
	         "a\xef\xbf\xbd"
	         "b"},
	        /* an overlong '/', a surrogate, a code point above U+10FFFF */
	        {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},
	        {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	        {"\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	        /* a character cut at the end (as a stream may cut it), and a NUL */
	        {"ok\xea\xb0", 4, "ok\xef\xbf\xbd\xef\xbf\xbd"},
	        {"a\0b", 3,
	         "a\xef\xbf\xbd"
	         "b"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = session_utf8_repair(cases[i].in, cases[i].len);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
	/* What a session keeps is always valid JSON text, whatever arrived. */
	struct session s;
	session_init(&s, "bytes");
	session_add(&s, "assistant", "half a 가\xea\xb0");
	char *text = session_to_json(&s);
	struct session back;
	assert_true(session_from_json(text, strlen(text), "bytes", &back, NULL));
	assert_string_equal(back.messages[0].content, "half a 가\xef\xbf\xbd\xef\xbf\xbd");
	session_finish(&back);
	free(text);
	session_finish(&s);
}

static void default_dir(void **state)
{
	char *saved_xdg = getenv("XDG_STATE_HOME") ? xstrdup(getenv("XDG_STATE_HOME")) : NULL;
	char *saved_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
	setenv("HOME", "/home/owner", 1);
	setenv("XDG_STATE_HOME", "/srv/state", 1);
	char *d = session_default_dir();
	assert_string_equal(d, "/srv/state/labdeck/sessions");
	free(d);
	setenv("XDG_STATE_HOME", "relative/state", 1); /* ignored, as the XDG spec says */
	d = session_default_dir();
	assert_string_equal(d, "/home/owner/.local/state/labdeck/sessions");
	free(d);
	unsetenv("XDG_STATE_HOME");
	d = session_default_dir();
	assert_string_equal(d, "/home/owner/.local/state/labdeck/sessions");
	free(d);
	if (saved_xdg) {
		setenv("XDG_STATE_HOME", saved_xdg, 1);
	}
	if (saved_home) {
		setenv("HOME", saved_home, 1);
	} else {
		unsetenv("HOME");
	}
	free(saved_xdg);
	free(saved_home);
}

/* ---- the file store ------------------------------------------------------------------------ */

static void files_lifecycle(void **state)
{
	struct fx f;
	fx_files(&f);
	struct got g = {0};
	char *dir = xasprintf("%s/labdeck/sessions", f.tmp);
	assert_string_equal(session_store_describe(f.st), dir);

	/* Nothing yet: a new, empty session, and an empty list (the directory does not exist). */
	load(&f, "gpu", &g);
	assert_ok(&g);
	assert_true(g.s->is_new);
	assert_int_equal(g.s->len, 0);
	assert_string_equal(g.s->name, "gpu");
	list_all(&f, &g);
	assert_ok(&g);
	assert_int_equal(g.list->len, 0);

	/* Save: a private directory, a private file, no temporary file left behind. */
	struct session s;
	sample(&s, "gpu");
	save(&f, &s, &g);
	assert_ok(&g);
	struct stat sb;
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	char *path = xasprintf("%s/gpu.json", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	DIR *d = opendir(dir);
	struct dirent *de;
	int entries = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))) {
			entries++;
			assert_string_equal(de->d_name, "gpu.json");
		}
	}
	closedir(d);
	assert_int_equal(entries, 1);

	/* Load it back as it was. */
	load(&f, "gpu", &g);
	assert_ok(&g);
	assert_same_session(&s, g.s);

	/* Saving again replaces it; the caller's session is its own. */
	session_add(&s, "assistant", "you're welcome");
	save(&f, &s, &g);
	assert_ok(&g);
	load(&f, "gpu", &g);
	assert_ok(&g);
	assert_int_equal(g.s->len, 4);
	assert_string_equal(g.s->messages[3].content, "you're welcome");

	/* A second session, saved later: the list has both, most recent first. */
	struct session t;
	session_init(&t, "notes");
	session_add(&t, "user", "hello");
	t.updated = s.updated + 10;
	save(&f, &t, &g);
	assert_ok(&g);
	list_all(&f, &g);
	assert_ok(&g);
	assert_int_equal(g.list->len, 2);
	assert_string_equal(g.list->items[0].name, "notes");
	assert_int_equal(g.list->items[0].messages, 1);
	assert_string_equal(g.list->items[1].name, "gpu");
	assert_int_equal(g.list->items[1].messages, 4);
	assert_true(g.list->items[1].updated == s.updated);

	/* Rename: to a name in use is refused, from a missing one is not found, else it moves. */
	rename_(&f, "gpu", "notes", &g);
	assert_failed(&g, ERR_REJECTED);
	assert_contains(g.err.msg, "session notes already exists");
	rename_(&f, "nope", "other", &g);
	assert_failed(&g, ERR_NOT_FOUND);
	assert_contains(g.err.msg, "session nope not found");
	rename_(&f, "gpu", "gpu-2024", &g);
	assert_ok(&g);
	load(&f, "gpu", &g);
	assert_ok(&g);
	assert_true(g.s->is_new);
	load(&f, "gpu-2024", &g);
	assert_ok(&g);
	assert_false(g.s->is_new);
	assert_int_equal(g.s->len, 4);
	assert_string_equal(g.s->name, "gpu-2024");
	assert_string_equal(g.s->messages[0].content, "GPU 메모리가 얼마나 남았나요?");

	/* Delete: gone, and a second delete is not found. */
	delete_(&f, "notes", &g);
	assert_ok(&g);
	delete_(&f, "notes", &g);
	assert_failed(&g, ERR_NOT_FOUND);
	list_all(&f, &g);
	assert_int_equal(g.list->len, 1);
	assert_string_equal(g.list->items[0].name, "gpu-2024");

	got_reset(&g);
	session_finish(&s);
	session_finish(&t);
	free(path);
	free(dir);
	fx_finish(&f);
}

static void files_bad_input(void **state)
{
	struct fx f;
	fx_files(&f);
	struct got g = {0};

	/* Bad names fail through the callback, like every other error. */
	load(&f, "../escape", &g);
	assert_failed(&g, ERR_USAGE);
	rename_(&f, "ok", "not/ok", &g);
	assert_failed(&g, ERR_USAGE);
	delete_(&f, "", &g);
	assert_failed(&g, ERR_USAGE);
	struct session s;
	sample(&s, "bad name");
	save(&f, &s, &g);
	assert_failed(&g, ERR_USAGE);
	session_finish(&s);

	/* A file that is not a session: load says so (it is not silently a new session that the
	 * next save would overwrite), and the list leaves it out. */
	char *dir = xasprintf("%s/labdeck/sessions", f.tmp);
	sample(&s, "good");
	save(&f, &s, &g);
	assert_ok(&g);
	char *path = xasprintf("%s/broken.json", dir);
	FILE *fp = fopen(path, "w");
	fputs("{\"messages\": [ truncated", fp);
	fclose(fp);
	load(&f, "broken", &g);
	assert_failed(&g, ERR_MALFORMED);
	assert_contains(g.err.msg, "session broken is not valid JSON");
	list_all(&f, &g);
	assert_ok(&g);
	assert_int_equal(g.list->len, 1);
	assert_string_equal(g.list->items[0].name, "good");

	/* A store that cannot be written: the error says the session is still in memory. */
	char *blocker = xasprintf("%s/blocked", f.tmp);
	fp = fopen(blocker, "w");
	fclose(fp);
	struct session_store *st = session_store_create(f.base, NULL, blocker);
	got_reset(&g);
	session_save(st, &s, on_done, &g);
	SUPPORT_WAIT_FOR(f.base, g.done, WAIT_MS);
	assert_failed(&g, ERR_REJECTED);
	assert_contains(g.err.msg, "; session kept in memory");
	assert_int_equal(s.len, 3); /* untouched */
	session_store_destroy(st);

	got_reset(&g);
	session_finish(&s);
	free(blocker);
	free(path);
	free(dir);
	fx_finish(&f);
}

static int calls;
static void count_load(void *ud, struct session *s, const struct err *err)
{
	calls++;
	session_destroy(s);
}
static void count_done(void *ud, const struct err *err)
{
	calls++;
}

static void files_cancel(void **state)
{
	struct fx f;
	fx_files(&f);
	calls = 0;
	struct session_op *op = session_load(f.st, "gpu", count_load, NULL);
	session_cancel(op);
	struct session s;
	sample(&s, "gpu");
	/* pending at destroy: no callback either */
	session_save(f.st, &s, count_done, NULL);
	session_load(f.st, "gpu", count_load, NULL);
	support_run_for(f.base, 50);
	assert_int_equal(calls, 2);
	session_load(f.st, "gpu", count_load, NULL);
	session_store_destroy(f.st);
	f.st = NULL;
	support_run_for(f.base, 50);
	assert_int_equal(calls, 2);
	session_finish(&s);
	fx_finish(&f);
}

/* ---- the Redis client without a server ----------------------------------------------------- */

static void urls(void **state)
{
	struct redis_client_url u;
	struct err err;
	assert_true(redis_client_parse_url("redis://127.0.0.1:6379/0", &u, &err));
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 6379);
	assert_int_equal(u.db, 0);
	assert_null(u.password);
	redis_client_url_finish(&u);

	assert_true(redis_client_parse_url("redis://redis.lab", &u, &err));
	assert_string_equal(u.host, "redis.lab");
	assert_int_equal(u.port, 6379);
	assert_int_equal(u.db, 0);
	redis_client_url_finish(&u);

	assert_true(redis_client_parse_url("redis://:s%40cret%3A1@10.0.0.5:6380/3/", &u, &err));
	assert_string_equal(u.host, "10.0.0.5");
	assert_int_equal(u.port, 6380);
	assert_int_equal(u.db, 3);
	assert_null(u.username);
	assert_string_equal(u.password, "s@cret:1");
	redis_client_url_finish(&u);

	assert_true(redis_client_parse_url("redis://labdeck:pw@[::1]:7000/2", &u, &err));
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 7000);
	assert_int_equal(u.db, 2);
	assert_string_equal(u.username, "labdeck");
	assert_string_equal(u.password, "pw");
	redis_client_url_finish(&u);

	static const struct {
		const char *url, *why;
	} bad[] = {
	        {"rediss://127.0.0.1:6380/0", "TLS"},
	        {"http://127.0.0.1:6379", "must start with redis://"},
	        {"redis://", "no host"},
	        {"redis://127.0.0.1:0/0", "bad port"},
	        {"redis://127.0.0.1:70000/0", "bad port"},
	        {"redis://127.0.0.1:63a9/0", "bad port"},
	        {"redis://127.0.0.1:6379/db", "bad database"},
	        {"redis://127.0.0.1:6379/1/2", "bad database"},
	        {"redis://:%zz@127.0.0.1", "escape"},
	        {"redis://[::1/0", "IPv6"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&err);
		if (redis_client_parse_url(bad[i].url, &u, &err)) {
			fail_msg("accepted %s", bad[i].url);
		}
		assert_int_equal(err.code, ERR_CONFIG);
		assert_contains(err.msg, bad[i].why);
	}

	/* The client: a bad URL is an error at once; where names host:port. */
	struct event_base *base = event_base_new();
	assert_null(redis_client_create(base, "rediss://x:1/0", NULL, &err));
	assert_contains(err.msg, "rediss://");
	struct redis_client *c = redis_client_create(base, "redis://[::1]:7000/0", NULL, &err);
	assert_non_null(c);
	assert_string_equal(redis_client_where(c), "[::1]:7000");
	assert_int_equal(redis_client_health(c)->state, HEALTH_CONNECTING);
	assert_false(redis_client_connected(c));
	redis_client_destroy(c);
	event_base_free(base);
}

/* What a raw command got. */
struct raw {
	bool done;
	bool failed;
	struct err err;
	enum redis_client_type type;
	long long integer;
	char *str;
	size_t n;
};

static void on_raw(void *ud, const struct redis_client_reply *reply, const struct err *err)
{
	struct raw *r = ud;
	assert_false(r->done);
	r->done = true;
	r->failed = err != NULL;
	if (err) {
		r->err = *err;
	}
	if (reply) {
		r->type = reply->type;
		r->integer = reply->integer;
		r->str = reply->str ? xstrndup(reply->str, reply->len) : NULL;
		r->n = reply->n;
	} else {
		r->type = REDIS_CLIENT_NIL;
	}
}

static void raw_reset(struct raw *r)
{
	free(r->str);
	memset(r, 0, sizeof(*r));
}

/* raw runs one command to its end. */
static void raw_cmd(struct event_base *base, struct redis_client *c, struct raw *r, int argc,
                    const char *const *argv)
{
	raw_reset(r);
	redis_client_command(c, argc, argv, NULL, on_raw, r);
	assert_false(r->done);
	SUPPORT_WAIT_FOR(base, r->done, WAIT_MS + 1000);
}

#define RAW(base, c, r, ...)                                                                       \
	raw_cmd((base), (c), (r), (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)),   \
	        (const char *const[]){__VA_ARGS__})

static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t len = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd); /* nothing listens there now */
	return ntohs(sa.sin_port);
}

static void refused(void **state)
{
	struct fx f;
	memset(&f, 0, sizeof(f));
	f.base = support_base_new(&f.tick);
	int port = closed_port();
	char *url = xasprintf("redis://127.0.0.1:%d/0", port);
	char *why = xasprintf("redis: connection refused at 127.0.0.1:%d", port);
	struct err err;
	f.redis = redis_client_create(f.base, url, NULL, &err);
	assert_non_null(f.redis);
	f.st = session_store_create(f.base, f.redis, NULL);
	char *desc = xasprintf("redis 127.0.0.1:%d", port);
	assert_string_equal(session_store_describe(f.st), desc);

	/* Saving fails at once, saying where and why; the session in memory is untouched. */
	struct session s;
	sample(&s, "gpu");
	struct got g = {0};
	int64_t t0 = now_mono_ms();
	save(&f, &s, &g);
	assert_failed(&g, ERR_UNREACHABLE);
	char *want = xasprintf("%s; session kept in memory", why);
	assert_string_equal(g.err.msg, want);
	assert_int_equal(s.len, 3);
	assert_string_equal(s.messages[2].content, "thanks\ttab");
	const struct health *h = redis_client_health(f.redis);
	assert_int_equal(h->state, HEALTH_FAILING);
	assert_int_equal(h->failures, 1);
	assert_string_equal(h->last_err.msg, why);

	/* A load fails too (it is not a new, empty session), at once: the backoff is running. */
	load(&f, "gpu", &g);
	assert_failed(&g, ERR_UNREACHABLE);
	assert_string_equal(g.err.msg, why);
	list_all(&f, &g);
	assert_failed(&g, ERR_UNREACHABLE);
	assert_true(now_mono_ms() - t0 < 1000);
	assert_int_equal(h->failures, 1); /* no new connect inside the backoff */

	/* After the backoff, the next command tries again. */
	support_run_for(f.base, 1300);
	struct raw r = {0};
	RAW(f.base, f.redis, &r, "PING");
	assert_true(r.failed);
	assert_string_equal(r.err.msg, why);
	assert_int_equal(h->failures, 2);
	raw_reset(&r);

	got_reset(&g);
	session_finish(&s);
	free(want);
	free(desc);
	free(why);
	free(url);
	fx_finish(&f);
}

/* A server that accepts connections (the kernel does, from the backlog) and never answers. */
static int silent_server(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	socklen_t len = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void raw_count(void *ud, const struct redis_client_reply *reply, const struct err *err)
{
	calls++;
}

static void silent(void **state)
{
	struct fx f;
	memset(&f, 0, sizeof(f));
	f.base = support_base_new(&f.tick);
	int port;
	int lfd = silent_server(&port);
	char *url = xasprintf("redis://127.0.0.1:%d/0", port);
	struct err err;
	f.redis = redis_client_create(f.base, url, NULL, &err);
	redis_client_set_timeout(f.redis, 300);

	/* No answer: a timeout that says how long it waited, and the connection is dropped. */
	struct raw r = {0};
	int64_t t0 = now_mono_ms();
	RAW(f.base, f.redis, &r, "PING");
	int64_t took = now_mono_ms() - t0;
	assert_true(r.failed);
	assert_int_equal(r.err.code, ERR_TIMEOUT);
	char *want = xasprintf("redis: no answer from 127.0.0.1:%d in 300 ms", port);
	assert_string_equal(r.err.msg, want);
	assert_true(took >= 250 && took < 2000);
	assert_false(redis_client_connected(f.redis));
	assert_int_equal(redis_client_health(f.redis)->state, HEALTH_FAILING);
	raw_reset(&r);

	/* Commands pending when the client is destroyed, or cancelled: never called back. */
	support_run_for(f.base, 1300); /* past the backoff */
	calls = 0;
	redis_client_set_timeout(f.redis, 5000);
	struct redis_client_cmd *one = redis_client_command(
	        f.redis, 1, (const char *const[]){"PING"}, NULL, raw_count, NULL);
	redis_client_command(f.redis, 1, (const char *const[]){"PING"}, NULL, raw_count, NULL);
	redis_client_command(f.redis, 2, (const char *const[]){"GET", "k"}, NULL, raw_count, NULL);
	redis_client_cancel(one);
	support_run_for(f.base, 100);
	assert_true(redis_client_connected(f.redis));
	redis_client_destroy(f.redis);
	f.redis = NULL;
	support_run_for(f.base, 100);
	assert_int_equal(calls, 0);

	close(lfd);
	free(want);
	free(url);
	fx_finish(&f);
}

static void destroy_while_resolving(void **state)
{
	/* A name lookup in flight when the client goes: no callback, nothing left behind (ASan). */
	struct fx f;
	memset(&f, 0, sizeof(f));
	f.base = support_base_new(&f.tick);
	struct err err;
	f.redis = redis_client_create(f.base, "redis://cache.lab.invalid:6379/0", NULL, &err);
	calls = 0;
	redis_client_command(f.redis, 1, (const char *const[]){"PING"}, NULL, raw_count, NULL);
	redis_client_destroy(f.redis);
	f.redis = NULL;
	support_run_for(f.base, 100);
	assert_int_equal(calls, 0);
	fx_finish(&f);
}

/* ---- against a real redis-server ----------------------------------------------------------- */

#define TEST_DB 9

/* test_url: LABDECK_TEST_REDIS_URL with its host spelled as given and the test database; NULL
 * (and the test skipped) when the variable is not set. */
static char *test_url_db(const char *host, int db)
{
	const char *env = getenv("LABDECK_TEST_REDIS_URL");
	if (!env || !*env) {
		skip();
	}
	struct redis_client_url u;
	struct err err;
	if (!redis_client_parse_url(env, &u, &err)) {
		fail_msg("LABDECK_TEST_REDIS_URL: %s", err.msg);
	}
	char *url = xasprintf("redis://%s:%d/%d", host ? host : u.host, u.port, db);
	redis_client_url_finish(&u);
	return url;
}

static char *test_url(const char *host)
{
	return test_url_db(host, TEST_DB);
}

static void fx_redis(struct fx *f, const char *host)
{
	memset(f, 0, sizeof(f[0]));
	char *url = test_url(host);
	f->base = support_base_new(&f->tick);
	struct err err;
	f->redis = redis_client_create(f->base, url, NULL, &err);
	assert_non_null(f->redis);
	f->st = session_store_create(f->base, f->redis, NULL);
	free(url);
	struct raw r = {0};
	RAW(f->base, f->redis, &r, "FLUSHDB");
	if (r.failed) {
		fail_msg("FLUSHDB: %s", r.err.msg);
	}
	raw_reset(&r);
}

static void redis_lifecycle(void **state)
{
	struct fx f;
	fx_redis(&f, NULL);
	struct got g = {0};
	struct raw r = {0};
	assert_contains(session_store_describe(f.st), "redis 127.0.0.1:");

	load(&f, "gpu", &g);
	assert_ok(&g);
	assert_true(g.s->is_new);
	list_all(&f, &g);
	assert_ok(&g);
	assert_int_equal(g.list->len, 0);

	struct session s;
	sample(&s, "gpu");
	save(&f, &s, &g);
	assert_ok(&g);
	assert_int_equal(redis_client_health(f.redis)->state, HEALTH_OK);

	/* Where it went: one JSON value and a name in the set, in the configured database. */
	RAW(f.base, f.redis, &r, "GET", "labdeck:session:gpu");
	assert_int_equal(r.type, REDIS_CLIENT_STRING);
	json_t *root = json_loads(r.str, 0, NULL);
	assert_non_null(root);
	assert_int_equal(json_array_size(json_object_get(root, "messages")), 3);
	json_decref(root);
	RAW(f.base, f.redis, &r, "SISMEMBER", "labdeck:sessions", "gpu");
	assert_int_equal(r.integer, 1);
	{
		char *url0 = test_url_db(NULL, 0);
		struct err err;
		struct redis_client *db0 = redis_client_create(f.base, url0, NULL, &err);
		RAW(f.base, db0, &r, "EXISTS", "labdeck:session:gpu");
		assert_false(r.failed);
		assert_int_equal(r.integer, 0); /* SELECT 9 took effect */
		redis_client_destroy(db0);
		free(url0);
	}

	load(&f, "gpu", &g);
	assert_ok(&g);
	assert_same_session(&s, g.s);

	/* A second session; a name in the set whose value is gone; a value that is not a session.
	 */
	struct session t;
	session_init(&t, "notes");
	session_add(&t, "user", "hello");
	session_add(&t, "assistant", "hi");
	t.updated = s.updated + 10;
	save(&f, &t, &g);
	assert_ok(&g);
	RAW(f.base, f.redis, &r, "SADD", "labdeck:sessions", "ghost", "junk");
	RAW(f.base, f.redis, &r, "SET", "labdeck:session:junk", "not json");
	list_all(&f, &g);
	assert_ok(&g);
	assert_int_equal(g.list->len, 2);
	assert_string_equal(g.list->items[0].name, "notes");
	assert_int_equal(g.list->items[0].messages, 2);
	assert_string_equal(g.list->items[1].name, "gpu");
	assert_int_equal(g.list->items[1].messages, 3);
	load(&f, "junk", &g);
	assert_failed(&g, ERR_MALFORMED);

	/* Rename and delete, with the set kept in step. */
	rename_(&f, "gpu", "notes", &g);
	assert_failed(&g, ERR_REJECTED);
	assert_contains(g.err.msg, "session notes already exists");
	rename_(&f, "nope", "other", &g);
	assert_failed(&g, ERR_NOT_FOUND);
	rename_(&f, "gpu", "gpu-old", &g);
	assert_ok(&g);
	RAW(f.base, f.redis, &r, "SISMEMBER", "labdeck:sessions", "gpu");
	assert_int_equal(r.integer, 0);
	RAW(f.base, f.redis, &r, "SISMEMBER", "labdeck:sessions", "gpu-old");
	assert_int_equal(r.integer, 1);
	load(&f, "gpu-old", &g);
	assert_ok(&g);
	assert_int_equal(g.s->len, 3);
	assert_string_equal(g.s->name, "gpu-old");
	delete_(&f, "notes", &g);
	assert_ok(&g);
	delete_(&f, "notes", &g);
	assert_failed(&g, ERR_NOT_FOUND);
	delete_(&f, "ghost", &g); /* a stale name: not found, and gone from the set */
	assert_failed(&g, ERR_NOT_FOUND);
	RAW(f.base, f.redis, &r, "SISMEMBER", "labdeck:sessions", "ghost");
	assert_int_equal(r.integer, 0);
	list_all(&f, &g);
	assert_int_equal(g.list->len, 1);
	assert_string_equal(g.list->items[0].name, "gpu-old");

	/* Error replies reach the caller as errors with the server's words. */
	RAW(f.base, f.redis, &r, "NOSUCHCOMMAND");
	assert_true(r.failed);
	assert_int_equal(r.err.code, ERR_REJECTED);
	assert_int_equal(r.type, REDIS_CLIENT_ERROR);
	assert_contains(r.err.msg, "redis: ERR unknown command");

	raw_reset(&r);
	got_reset(&g);
	session_finish(&s);
	session_finish(&t);
	fx_finish(&f);
}

static void redis_by_name(void **state)
{
	/* "localhost" is looked up without blocking (evdns reads /etc/hosts). */
	struct fx f;
	fx_redis(&f, "localhost");
	struct raw r = {0};
	RAW(f.base, f.redis, &r, "PING");
	if (r.failed) {
		fail_msg("PING by name: %s", r.err.msg);
	}
	assert_string_equal(r.str, "PONG");
	assert_contains(redis_client_where(f.redis), "localhost:");
	raw_reset(&r);
	fx_finish(&f);

	/* A name that does not resolve fails with the name in the message. */
	memset(&f, 0, sizeof(f));
	f.base = support_base_new(&f.tick);
	struct err err;
	f.redis = redis_client_create(f.base, "redis://no-such-host.invalid:6379/0", NULL, &err);
	RAW(f.base, f.redis, &r, "PING");
	assert_true(r.failed);
	assert_contains(r.err.msg, "redis: cannot resolve no-such-host.invalid");
	raw_reset(&r);
	fx_finish(&f);
}

#define PASSWORD "s3cret pw"

static void redis_auth(void **state)
{
	struct fx f;
	fx_redis(&f, NULL);
	struct raw r = {0};
	RAW(f.base, f.redis, &r, "CONFIG", "SET", "requirepass", PASSWORD);
	assert_false(r.failed);
	char *url = test_url(NULL);
	struct err err;

	/* No password: the server's NOAUTH, as an authentication error with a hint. */
	struct redis_client *c = redis_client_create(f.base, url, NULL, &err);
	RAW(f.base, c, &r, "PING");
	assert_true(r.failed);
	assert_int_equal(r.err.code, ERR_AUTH);
	assert_contains(r.err.msg, "NOAUTH");
	assert_contains(r.err.msg, "[redis] password");
	redis_client_destroy(c);

	/* A wrong password: AUTH refused, and the command after it fails with that reason. */
	c = redis_client_create(f.base, url, "wrong", &err);
	RAW(f.base, c, &r, "PING");
	assert_true(r.failed);
	assert_int_equal(r.err.code, ERR_AUTH);
	assert_contains(r.err.msg, "redis: AUTH refused by 127.0.0.1:");
	assert_int_equal(redis_client_health(c)->state, HEALTH_FAILING);
	redis_client_destroy(c);

	/* The right one, given as [redis] password and in the URL. */
	c = redis_client_create(f.base, url, PASSWORD, &err);
	RAW(f.base, c, &r, "PING");
	if (r.failed) {
		fail_msg("with the password: %s", r.err.msg);
	}
	redis_client_destroy(c);
	struct redis_client_url u;
	assert_true(redis_client_parse_url(url, &u, &err));
	char *with = xasprintf("redis://:s3cret%%20pw@%s:%d/%d", u.host, u.port, TEST_DB);
	redis_client_url_finish(&u);
	c = redis_client_create(f.base, with, NULL, &err);
	RAW(f.base, c, &r, "PING");
	if (r.failed) {
		fail_msg("with the password in the url: %s", r.err.msg);
	}
	redis_client_destroy(c);

	raw_reset(&r);
	free(with);
	free(url);
	fx_finish(&f);
}

static void redis_bad_db(void **state)
{
	/* A database the server does not have: SELECT refused, said as such. */
	struct fx f;
	fx_redis(&f, NULL);
	char *url = test_url_db(NULL, 99);
	struct err err;
	struct redis_client *c = redis_client_create(f.base, url, NULL, &err);
	struct raw r = {0};
	RAW(f.base, c, &r, "PING");
	assert_true(r.failed);
	assert_int_equal(r.err.code, ERR_CONFIG);
	assert_contains(r.err.msg, "redis: SELECT refused by 127.0.0.1:");
	assert_contains(r.err.msg, "the database number in [redis] url");
	redis_client_destroy(c);
	raw_reset(&r);
	free(url);
	fx_finish(&f);
}

/* Whatever happened in redis_auth, the server has no password afterwards. */
static int redis_auth_teardown(void **state)
{
	const char *env = getenv("LABDECK_TEST_REDIS_URL");
	if (!env || !*env) {
		return 0;
	}
	struct event *tick;
	struct event_base *base = support_base_new(&tick);
	struct err err;
	struct redis_client *c = redis_client_create(base, env, PASSWORD, &err);
	struct raw r = {0};
	raw_reset(&r);
	redis_client_command(c, 4, (const char *const[]){"CONFIG", "SET", "requirepass", ""}, NULL,
	                     on_raw, &r);
	support_run_until(base, &r.done, WAIT_MS);
	bool failed = r.failed;
	raw_reset(&r);
	if (failed) {
		/* the test failed before setting it: nothing to undo */
		redis_client_destroy(c);
		c = redis_client_create(base, env, NULL, &err);
		redis_client_command(c, 1, (const char *const[]){"PING"}, NULL, on_raw, &r);
		support_run_until(base, &r.done, WAIT_MS);
		failed = r.failed;
		raw_reset(&r);
	}
	redis_client_destroy(c);
	support_base_free(base, tick);
	return failed ? -1 : 0;
}

/* handshake prints what the driving script must do and waits for it to be done. */
static void handshake(const char *what)
{
	printf("@@ %s\n", what);
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin)) {
		fail_msg("no answer on stdin after \"%s\"", what);
	}
}

static void redis_goes_away(void **state)
{
	const char *control = getenv("LABDECK_TEST_REDIS_CONTROL");
	if (!control || strcmp(control, "1") != 0) {
		skip();
	}
	struct fx f;
	fx_redis(&f, NULL);
	struct got g = {0};
	struct session s;
	sample(&s, "survivor");
	save(&f, &s, &g);
	assert_ok(&g);
	assert_true(redis_client_connected(f.redis));

	handshake("stop redis");

	/* The user goes on typing; saving fails, saying so, and the session is all still here. */
	session_add(&s, "assistant", "답변은 메모리에 남아 있습니다.");
	save(&f, &s, &g);
	assert_true(g.failed);
	assert_true(g.err.code == ERR_UNREACHABLE || g.err.code == ERR_NETWORK);
	assert_contains(g.err.msg, "redis: ");
	assert_contains(g.err.msg, redis_client_where(f.redis));
	assert_contains(g.err.msg, "; session kept in memory");
	assert_int_equal(s.len, 4);
	assert_string_equal(s.messages[3].content, "답변은 메모리에 남아 있습니다.");
	assert_int_equal(redis_client_health(f.redis)->state, HEALTH_FAILING);
	/* Trying again while it is down: refused now, whatever the first failure was. */
	int64_t deadline = now_mono_ms() + 10000;
	do {
		support_run_for(f.base, 200);
		save(&f, &s, &g);
	} while (g.failed && g.err.code != ERR_UNREACHABLE && now_mono_ms() < deadline);
	assert_failed(&g, ERR_UNREACHABLE);
	char *refused_msg = xasprintf("redis: connection refused at %s; session kept in memory",
	                              redis_client_where(f.redis));
	assert_string_equal(g.err.msg, refused_msg);
	load(&f, "survivor", &g);
	assert_true(g.failed); /* not an empty new session */

	handshake("start redis");

	/* Back: the next save after the backoff reconnects and stores everything. */
	deadline = now_mono_ms() + 15000;
	do {
		support_run_for(f.base, 200);
		save(&f, &s, &g);
	} while (g.failed && now_mono_ms() < deadline);
	assert_ok(&g);
	assert_int_equal(redis_client_health(f.redis)->state, HEALTH_OK);
	load(&f, "survivor", &g);
	assert_ok(&g);
	assert_same_session(&s, g.s);

	got_reset(&g);
	session_finish(&s);
	free(refused_msg);
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
	        cmocka_unit_test(names),
	        cmocka_unit_test(json_round_trip),
	        cmocka_unit_test(json_bad),
	        cmocka_unit_test(utf8),
	        cmocka_unit_test(default_dir),
	        cmocka_unit_test(files_lifecycle),
	        cmocka_unit_test(files_bad_input),
	        cmocka_unit_test(files_cancel),
	        cmocka_unit_test(urls),
	        cmocka_unit_test(refused),
	        cmocka_unit_test(silent),
	        cmocka_unit_test(destroy_while_resolving),
	        cmocka_unit_test(redis_lifecycle),
	        cmocka_unit_test(redis_by_name),
	        cmocka_unit_test(redis_bad_db),
	        cmocka_unit_test_teardown(redis_auth, redis_auth_teardown),
	        cmocka_unit_test(redis_goes_away),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
