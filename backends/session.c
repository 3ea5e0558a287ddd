/* session.c: chat sessions, their JSON form, and the store on Redis or on files. */
#include "session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "json_util.h"
#include "redis_client.h"
#include "util.h"

#define SESSION_VERSION 1
#define KEY_PREFIX "labdeck:session:"
#define SET_KEY "labdeck:sessions"
#define MAX_FILE_BYTES (256L * 1024 * 1024)

/* ---- names --------------------------------------------------------------------------------- */

static bool name_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_' || ch == '.';
}

bool session_name_valid(const char *name, struct err *err)
{
	static const char rule[] =
	        "use 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'";
	if (!name || !*name) {
		return err_set(err, ERR_USAGE, 0, "session name is empty: %s", rule);
	}
	size_t n = strlen(name);
	bool ok = n <= SESSION_NAME_MAX && name[0] != '.';
	for (size_t i = 0; ok && i < n; i++) {
		ok = name_char_ok(name[i]);
	}
	if (ok) {
		return true;
	}
	/* Show the name as typed, but only printable ASCII of it, and not all of a long one. */
	char shown[72];
	size_t o = 0;
	for (size_t i = 0; i < n && o < sizeof(shown) - 4; i++) {
		unsigned char ch = (unsigned char)name[i];
		shown[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (o < n) {
		memcpy(shown + o, "...", 3);
		o += 3;
	}
	shown[o] = '\0';
	if (n > SESSION_NAME_MAX) {
		return err_set(err, ERR_USAGE, 0, "session name \"%s\" is too long (%zu bytes): %s",
		               shown, n, rule);
	}
	return err_set(err, ERR_USAGE, 0, "session name \"%s\" is not valid: %s", shown, rule);
}

/* ---- UTF-8 --------------------------------------------------------------------------------- */

/* utf8_len: the length of the well-formed character at s (n bytes left), 0 when there is none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c >= 0x01 && c <= 0x7f) {
		return 1;
	}
	size_t need;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0) {
			lo = 0xa0; /* overlong */
		} else if (c == 0xed) {
			hi = 0x9f; /* surrogates */
		}
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0) {
			lo = 0x90;
		} else if (c == 0xf4) {
			hi = 0x8f; /* above U+10FFFF */
		}
	} else {
		return 0;
	}
	if (n < need || s[1] < lo || s[1] > hi) {
		return 0;
	}
	for (size_t i = 2; i < need; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf) {
			return 0;
		}
	}
	return need;
}

char *session_utf8_repair(const char *s, size_t len)
{
	struct buf b;
	buf_init(&b);
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		size_t run = i;
		size_t k;
		while (run < len && (k = utf8_len(u + run, len - run)) > 0) {
			run += k;
		}
		if (run > i) {
			buf_append(&b, s + i, run - i);
			i = run;
		}
		if (i < len) {
			buf_append(&b, "\xef\xbf\xbd", 3);
			i++;
		}
	}
	return buf_steal(&b);
}

/* ---- sessions ------------------------------------------------------------------------------ */

void session_init(struct session *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name ? name : "");
	s->created = s->updated = now_wall();
	s->is_new = true;
}

void session_finish(struct session *s)
{
	if (!s) {
		return;
	}
	for (size_t i = 0; i < s->len; i++) {
		free(s->messages[i].role);
		free(s->messages[i].content);
	}
	free(s->messages);
	free(s->name);
	free(s->provider);
	free(s->model);
	free(s->system);
	memset(s, 0, sizeof(*s));
}

void session_destroy(struct session *s)
{
	session_finish(s);
	free(s);
}

static char *repaired(const char *s)
{
	return session_utf8_repair(s ? s : "", s ? strlen(s) : 0);
}

/* add_taken appends a message whose strings s now owns. */
static void add_taken(struct session *s, char *role, char *content)
{
	if (s->len == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->messages = xrealloc(s->messages, s->cap * sizeof(*s->messages));
	}
	s->messages[s->len].role = role;
	s->messages[s->len].content = content;
	s->len++;
}

void session_add(struct session *s, const char *role, const char *content)
{
	add_taken(s, repaired(role), repaired(content));
	s->updated = now_wall();
}

static void set_field(char **field, const char *value)
{
	if (!value) {
		return;
	}
	free(*field);
	*field = *value ? repaired(value) : NULL;
}

void session_set_meta(struct session *s, const char *provider, const char *model,
                      const char *system)
{
	set_field(&s->provider, provider);
	set_field(&s->model, model);
	set_field(&s->system, system);
}

static json_t *str_or_null(const char *s)
{
	if (!s) {
		return json_null();
	}
	char *r = repaired(s);
	json_t *j = json_string(r);
	free(r);
	return j;
}

char *session_to_json(const struct session *s)
{
	json_t *root = json_object();
	json_object_set_new(root, "version", json_integer(SESSION_VERSION));
	json_object_set_new(root, "provider", str_or_null(s->provider));
	json_object_set_new(root, "model", str_or_null(s->model));
	json_object_set_new(root, "system", str_or_null(s->system));
	json_object_set_new(root, "created", json_real(s->created));
	json_object_set_new(root, "updated", json_real(s->updated));
	json_t *msgs = json_array();
	for (size_t i = 0; i < s->len; i++) {
		json_t *m = json_object();
		json_object_set_new(m, "role", str_or_null(s->messages[i].role));
		json_object_set_new(m, "content", str_or_null(s->messages[i].content));
		json_array_append_new(msgs, m);
	}
	json_object_set_new(root, "messages", msgs);
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	char *out = xstrdup(text);
	free(text);
	return out;
}

static char *opt_string(const json_t *root, const char *key)
{
	const char *v = json_str(root, key);
	return v && *v ? xstrdup(v) : NULL;
}

bool session_from_json(const char *text, size_t len, const char *name, struct session *out,
                       struct err *err)
{
	memset(out, 0, sizeof(*out));
	char why[160];
	json_t *root = json_load_body(text, len, why, sizeof(why));
	if (!root) {
		return err_set(err, ERR_MALFORMED, 0, "session %s is not valid JSON: %s", name,
		               why);
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "session %s is not a JSON object", name);
	}
	json_t *msgs = json_object_get(root, "messages");
	if (msgs && !json_is_array(msgs) && !json_is_null(msgs)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0, "session %s: \"messages\" is not a list",
		               name);
	}
	out->name = xstrdup(name);
	out->provider = opt_string(root, "provider");
	out->model = opt_string(root, "model");
	out->system = opt_string(root, "system");
	json_num(root, "created", &out->created);
	if (!json_num(root, "updated", &out->updated)) {
		out->updated = out->created;
	}
	size_t i;
	json_t *m;
	json_array_foreach (msgs, i, m) {
		const char *role = json_str(m, "role");
		const char *content = json_str(m, "content");
		if (!role || !content) {
			session_finish(out);
			json_decref(root);
			return err_set(err, ERR_MALFORMED, 0,
			               "session %s: message %zu has no role or content", name,
			               i + 1);
		}
		add_taken(out, xstrdup(role), xstrdup(content));
	}
	json_decref(root);
	return true;
}

char *session_default_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	if (xdg && xdg[0] == '/') { /* the XDG spec ignores relative values */
		return xasprintf("%s/labdeck/sessions", xdg);
	}
	const char *home = getenv("HOME");
	return xasprintf("%s/.local/state/labdeck/sessions", home && *home ? home : ".");
}

void session_list_destroy(struct session_list *l)
{
	if (!l) {
		return;
	}
	for (size_t i = 0; i < l->len; i++) {
		free(l->items[i].name);
	}
	free(l->items);
	free(l);
}

static void list_add(struct session_list *l, const char *name, const struct session *s)
{
	l->items = xrealloc(l->items, (l->len + 1) * sizeof(*l->items));
	l->items[l->len].name = xstrdup(name);
	l->items[l->len].updated = s->updated;
	l->items[l->len].messages = s->len;
	l->len++;
}

static int info_cmp(const void *a, const void *b)
{
	const struct session_info *x = a, *y = b;
	if (x->updated != y->updated) {
		return x->updated > y->updated ? -1 : 1;
	}
	return strcmp(x->name, y->name);
}

/* ---- the store ----------------------------------------------------------------------------- */

enum op_kind { OP_LOAD, OP_SAVE, OP_LIST, OP_RENAME, OP_DELETE };

struct session_op {
	struct session_store *st;
	struct session_op *prev, *next;
	enum op_kind kind;
	session_load_fn load_fn;
	session_done_fn done_fn;
	session_list_fn list_fn;
	void *ud;
	char *name, *name2, *json;
	int step;
	struct redis_client_cmd *cmd; /* in flight */
	struct event *ev;             /* delivers a result decided without Redis */
	/* the result */
	bool failed;
	struct err err;
	struct session *session;
	struct session_list *list;
};

struct session_store {
	struct event_base *base;
	struct redis_client *redis;
	char *dir;
	char *describe;
	struct session_op *ops;
};

struct session_store *session_store_create(struct event_base *base, struct redis_client *redis,
                                           const char *dir)
{
	struct session_store *st = xcalloc(1, sizeof(*st));
	st->base = base;
	st->redis = redis;
	if (redis) {
		st->describe = xasprintf("redis %s", redis_client_where(redis));
	} else {
		st->dir = dir ? xstrdup(dir) : session_default_dir();
		st->describe = xstrdup(st->dir);
	}
	return st;
}

const char *session_store_describe(const struct session_store *st)
{
	return st->describe;
}

static void op_free(struct session_op *op)
{
	if (op->st) {
		if (op->prev) {
			op->prev->next = op->next;
		} else {
			op->st->ops = op->next;
		}
		if (op->next) {
			op->next->prev = op->prev;
		}
	}
	if (op->cmd) {
		redis_client_cancel(op->cmd);
	}
	if (op->ev) {
		event_free(op->ev);
	}
	session_destroy(op->session);
	session_list_destroy(op->list);
	free(op->name);
	free(op->name2);
	free(op->json);
	free(op);
}

void session_store_destroy(struct session_store *st)
{
	if (!st) {
		return;
	}
	while (st->ops) {
		op_free(st->ops);
	}
	free(st->dir);
	free(st->describe);
	free(st);
}

void session_cancel(struct session_op *op)
{
	if (op) {
		op_free(op);
	}
}

/* op_deliver calls the op's callback with its result and frees it. */
static void op_deliver(struct session_op *op)
{
	enum op_kind kind = op->kind;
	session_load_fn load_fn = op->load_fn;
	session_done_fn done_fn = op->done_fn;
	session_list_fn list_fn = op->list_fn;
	void *ud = op->ud;
	struct err err = op->err;
	bool failed = op->failed;
	struct session *s = op->session;
	struct session_list *list = op->list;
	op->session = NULL;
	op->list = NULL;
	op_free(op);
	const struct err *e = failed ? &err : NULL;
	if (failed) {
		session_destroy(s);
		session_list_destroy(list);
		s = NULL;
		list = NULL;
	}
	switch (kind) {
	case OP_LOAD:
		if (load_fn) {
			load_fn(ud, s, e);
		} else {
			session_destroy(s);
		}
		break;
	case OP_LIST:
		if (list_fn) {
			list_fn(ud, list, e);
		} else {
			session_list_destroy(list);
		}
		break;
	default:
		if (done_fn) {
			done_fn(ud, e);
		}
		break;
	}
}

static void on_op_event(evutil_socket_t fd, short what, void *arg)
{
	op_deliver(arg);
}

/* op_later delivers the op's result from the loop. */
static struct session_op *op_later(struct session_op *op)
{
	op->ev = evtimer_new(op->st->base, on_op_event, op);
	event_active(op->ev, EV_TIMEOUT, 1);
	return op;
}

static struct session_op *op_new(struct session_store *st, enum op_kind kind, void *ud)
{
	struct session_op *op = xcalloc(1, sizeof(*op));
	op->st = st;
	op->kind = kind;
	op->ud = ud;
	op->next = st->ops;
	if (st->ops) {
		st->ops->prev = op;
	}
	st->ops = op;
	return op;
}

static bool op_fail(struct session_op *op, const struct err *err)
{
	op->failed = true;
	op->err = *err;
	return false;
}

/* ---- files --------------------------------------------------------------------------------- */

static char *file_path(const struct session_store *st, const char *name)
{
	return xasprintf("%s/%s.json", st->dir, name);
}

/* mkdirs creates dir and its missing parents, each 0700. */
static bool mkdirs(const char *dir, struct err *err)
{
	if (!*dir) {
		return err_set(err, ERR_CONFIG, 0, "no directory for sessions");
	}
	char *p = xstrdup(dir);
	for (char *s = p + 1;; s++) {
		bool last = *s == '\0';
		if (*s == '/' || last) {
			*s = '\0';
			if (mkdir(p, 0700) != 0 && errno != EEXIST) {
				int e = errno;
				err_set(err, ERR_REJECTED, 0, "cannot create %s: %s", p,
				        strerror(e));
				free(p);
				return false;
			}
			if (last) {
				break;
			}
			*s = '/';
		}
	}
	free(p);
	struct stat sb;
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		return err_set(err, ERR_REJECTED, 0, "%s is not a directory", dir);
	}
	if ((sb.st_mode & 077) != 0) {
		chmod(dir, 0700); /* sessions are private, whoever made the directory */
	}
	return true;
}

/* read_file reads a whole file; *missing tells ENOENT apart from other failures. */
static char *read_file(const char *path, size_t *len, bool *missing, struct err *err)
{
	*missing = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*missing = errno == ENOENT;
		err_set(err, ERR_REJECTED, 0, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	struct buf b;
	buf_init(&b);
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			err_set(err, ERR_REJECTED, 0, "cannot read %s: %s", path, strerror(errno));
			close(fd);
			buf_finish(&b);
			return NULL;
		}
		if (n == 0) {
			break;
		}
		if (b.len + (size_t)n > (size_t)MAX_FILE_BYTES) {
			err_set(err, ERR_TOO_LARGE, 0, "%s is larger than %ld MiB", path,
			        MAX_FILE_BYTES >> 20);
			close(fd);
			buf_finish(&b);
			return NULL;
		}
		buf_append(&b, chunk, (size_t)n);
	}
	close(fd);
	*len = b.len;
	return buf_steal(&b);
}

static bool write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return false;
		}
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* file_write replaces path with data: a temporary file beside it (0600), synced, renamed. */
static bool file_write(const struct session_store *st, const char *name, const char *data,
                       struct err *err)
{
	if (!mkdirs(st->dir, err)) {
		return false;
	}
	char *path = file_path(st, name);
	char *tmp = xasprintf("%s/.%s.json.XXXXXX", st->dir, name);
	int fd = mkostemp(tmp, O_CLOEXEC);
	bool ok = fd >= 0;
	int e = errno;
	if (ok) {
		ok = fchmod(fd, 0600) == 0 && write_all(fd, data, strlen(data)) && fsync(fd) == 0;
		e = errno;
		ok = close(fd) == 0 && ok;
		if (ok && rename(tmp, path) != 0) {
			e = errno;
			ok = false;
		}
		if (!ok) {
			unlink(tmp);
		}
	}
	if (!ok) {
		err_set(err, ERR_REJECTED, 0, "cannot write %s: %s", path, strerror(e));
	}
	free(tmp);
	free(path);
	return ok;
}

static bool file_load(struct session_op *op)
{
	struct err err;
	char *path = file_path(op->st, op->name);
	size_t len = 0;
	bool missing;
	char *text = read_file(path, &len, &missing, &err);
	free(path);
	if (!text) {
		if (missing) {
			op->session = xmalloc(sizeof(*op->session));
			session_init(op->session, op->name);
			return true;
		}
		return op_fail(op, &err);
	}
	struct session *s = xmalloc(sizeof(*s));
	bool ok = session_from_json(text, len, op->name, s, &err);
	free(text);
	if (!ok) {
		free(s);
		return op_fail(op, &err);
	}
	op->session = s;
	return true;
}

static bool file_list(struct session_op *op)
{
	struct session_list *l = xcalloc(1, sizeof(*l));
	op->list = l;
	DIR *d = opendir(op->st->dir);
	if (!d) {
		if (errno == ENOENT) {
			return true; /* nothing saved yet */
		}
		struct err err;
		err_set(&err, ERR_REJECTED, 0, "cannot read %s: %s", op->st->dir, strerror(errno));
		return op_fail(op, &err);
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n <= 5 || strcmp(de->d_name + n - 5, ".json") != 0) {
			continue;
		}
		char *name = xstrndup(de->d_name, n - 5);
		struct session s;
		struct err err;
		char *path = file_path(op->st, name);
		size_t len = 0;
		bool missing;
		char *text = session_name_valid(name, NULL) ? read_file(path, &len, &missing, &err)
		                                            : NULL;
		/* A file that is not a session is left out (load names the problem). */
		if (text && session_from_json(text, len, name, &s, &err)) {
			list_add(l, name, &s);
			session_finish(&s);
		}
		free(text);
		free(path);
		free(name);
	}
	closedir(d);
	if (l->len) { /* qsort wants an array even for none */
		qsort(l->items, l->len, sizeof(*l->items), info_cmp);
	}
	return true;
}

static bool file_rename(struct session_op *op)
{
	struct err err;
	char *from = file_path(op->st, op->name);
	char *to = file_path(op->st, op->name2);
	bool ok = true;
	/* link() refuses to replace an existing session, where rename() would not. */
	if (link(from, to) == 0) {
		unlink(from);
	} else if (errno == EEXIST) {
		ok = err_set(&err, ERR_REJECTED, 0, "session %s already exists", op->name2);
	} else if (errno == ENOENT) {
		ok = err_set(&err, ERR_NOT_FOUND, 0, "session %s not found", op->name);
	} else {
		/* a file system without hard links */
		struct stat sb;
		if (lstat(to, &sb) == 0) {
			ok = err_set(&err, ERR_REJECTED, 0, "session %s already exists", op->name2);
		} else if (rename(from, to) != 0) {
			ok = errno == ENOENT
			             ? err_set(&err, ERR_NOT_FOUND, 0, "session %s not found",
			                       op->name)
			             : err_set(&err, ERR_REJECTED, 0, "cannot rename %s: %s", from,
			                       strerror(errno));
		}
	}
	free(from);
	free(to);
	return ok || op_fail(op, &err);
}

static bool file_delete(struct session_op *op)
{
	struct err err;
	char *path = file_path(op->st, op->name);
	bool ok = true;
	if (unlink(path) != 0) {
		ok = errno == ENOENT
		             ? err_set(&err, ERR_NOT_FOUND, 0, "session %s not found", op->name)
		             : err_set(&err, ERR_REJECTED, 0, "cannot delete %s: %s", path,
		                       strerror(errno));
	}
	free(path);
	return ok || op_fail(op, &err);
}

/* ---- Redis --------------------------------------------------------------------------------- */

static void on_redis(void *ud, const struct redis_client_reply *reply, const struct err *err);

static void redis_send(struct session_op *op, int argc, const char *const *argv)
{
	op->cmd = redis_client_command(op->st->redis, argc, argv, NULL, on_redis, op);
}

static char *redis_key(const char *name)
{
	return xasprintf(KEY_PREFIX "%s", name);
}

static void redis_start(struct session_op *op)
{
	char *key = redis_key(op->name);
	switch (op->kind) {
	case OP_LOAD:
		redis_send(op, 2, (const char *const[]){"GET", key});
		break;
	case OP_SAVE:
		redis_send(op, 3, (const char *const[]){"SET", key, op->json});
		break;
	case OP_LIST:
		redis_send(op, 2, (const char *const[]){"SMEMBERS", SET_KEY});
		break;
	case OP_RENAME: {
		char *to = redis_key(op->name2);
		redis_send(op, 3, (const char *const[]){"RENAMENX", key, to});
		free(to);
		break;
	}
	case OP_DELETE:
		redis_send(op, 2, (const char *const[]){"DEL", key});
		break;
	}
	free(key);
}

static void redis_list_reply(struct session_op *op, const struct redis_client_reply *reply)
{
	if (op->step == 0) {
		struct session_list *l = xcalloc(1, sizeof(*l));
		op->list = l;
		if (reply->type != REDIS_CLIENT_ARRAY || reply->n == 0) {
			op_deliver(op);
			return;
		}
		/* Keep the names (valid ones only) and fetch them all at once. */
		const char **argv = xcalloc(reply->n + 1, sizeof(*argv));
		char **keys = xcalloc(reply->n + 1, sizeof(*keys));
		int argc = 0;
		argv[argc++] = "MGET";
		for (size_t i = 0; i < reply->n; i++) {
			const struct redis_client_reply *e = &reply->elements[i];
			if (e->type == REDIS_CLIENT_STRING && session_name_valid(e->str, NULL)) {
				l->items = xrealloc(l->items, (l->len + 1) * sizeof(*l->items));
				l->items[l->len].name = xstrdup(e->str);
				l->items[l->len].updated = 0;
				l->items[l->len].messages = 0;
				l->len++;
				keys[argc] = redis_key(e->str);
				argv[argc] = keys[argc];
				argc++;
			}
		}
		op->step = 1;
		if (l->len) {
			redis_send(op, argc, argv);
		}
		for (int i = 1; i < argc; i++) {
			free(keys[i]);
		}
		free(keys);
		free(argv);
		if (!l->len) {
			op_deliver(op);
		}
		return;
	}
	/* MGET: one value per name; a name whose value is gone or broken is left out. */
	struct session_list *l = op->list;
	size_t keep = 0;
	for (size_t i = 0; i < l->len; i++) {
		const struct redis_client_reply *v =
		        reply->type == REDIS_CLIENT_ARRAY && i < reply->n ? &reply->elements[i]
		                                                          : NULL;
		struct session s;
		if (v && v->type == REDIS_CLIENT_STRING &&
		    session_from_json(v->str, v->len, l->items[i].name, &s, NULL)) {
			l->items[keep].name = l->items[i].name;
			l->items[keep].updated = s.updated;
			l->items[keep].messages = s.len;
			keep++;
			session_finish(&s);
		} else {
			free(l->items[i].name);
		}
	}
	l->len = keep;
	if (l->len) { /* qsort wants an array even for none */
		qsort(l->items, l->len, sizeof(*l->items), info_cmp);
	}
	op_deliver(op);
}

static void on_redis(void *ud, const struct redis_client_reply *reply, const struct err *err)
{
	struct session_op *op = ud;
	op->cmd = NULL;
	struct err e;
	if (err && !(op->kind == OP_RENAME && op->step == 0 && reply)) {
		e = *err;
		if (op->kind == OP_SAVE) {
			size_t n = strlen(e.msg);
			snprintf(e.msg + n, sizeof(e.msg) - n, "; session kept in memory");
		}
		op_fail(op, &e);
		op_deliver(op);
		return;
	}
	switch (op->kind) {
	case OP_LOAD:
		op->session = xmalloc(sizeof(*op->session));
		if (reply->type == REDIS_CLIENT_NIL) {
			session_init(op->session, op->name);
		} else if (reply->type != REDIS_CLIENT_STRING ||
		           !session_from_json(reply->str, reply->len, op->name, op->session, &e)) {
			if (reply->type != REDIS_CLIENT_STRING) {
				err_set(&e, ERR_MALFORMED, 0,
				        "redis: " KEY_PREFIX "%s is not a string", op->name);
			}
			free(op->session);
			op->session = NULL;
			op_fail(op, &e);
		}
		op_deliver(op);
		return;
	case OP_SAVE:
		if (op->step++ == 0) {
			redis_send(op, 3, (const char *const[]){"SADD", SET_KEY, op->name});
			return;
		}
		op_deliver(op);
		return;
	case OP_LIST:
		redis_list_reply(op, reply);
		return;
	case OP_RENAME:
		if (op->step == 0) {
			if (err) { /* ERR no such key */
				err_set(&e, ERR_NOT_FOUND, 0, "session %s not found", op->name);
				op_fail(op, &e);
				op_deliver(op);
				return;
			}
			if (reply->type == REDIS_CLIENT_INTEGER && reply->integer == 0) {
				err_set(&e, ERR_REJECTED, 0, "session %s already exists",
				        op->name2);
				op_fail(op, &e);
				op_deliver(op);
				return;
			}
			op->step = 1;
			redis_send(op, 3, (const char *const[]){"SADD", SET_KEY, op->name2});
			return;
		}
		if (op->step == 1) {
			op->step = 2;
			redis_send(op, 3, (const char *const[]){"SREM", SET_KEY, op->name});
			return;
		}
		op_deliver(op);
		return;
	case OP_DELETE:
		if (op->step == 0) {
			op->step = 1;
			if (reply->type == REDIS_CLIENT_INTEGER && reply->integer == 0) {
				/* Not there; a stale name in the set goes anyway. */
				err_set(&e, ERR_NOT_FOUND, 0, "session %s not found", op->name);
				op_fail(op, &e);
			}
			redis_send(op, 3, (const char *const[]){"SREM", SET_KEY, op->name});
			return;
		}
		op_deliver(op);
		return;
	}
}

/* ---- operations ---------------------------------------------------------------------------- */

static struct session_op *op_run(struct session_op *op)
{
	if (op->failed) {
		return op_later(op);
	}
	if (op->st->redis) {
		redis_start(op);
		return op;
	}
	switch (op->kind) {
	case OP_LOAD:
		file_load(op);
		break;
	case OP_SAVE: {
		struct err err;
		if (!file_write(op->st, op->name, op->json, &err)) {
			size_t n = strlen(err.msg);
			snprintf(err.msg + n, sizeof(err.msg) - n, "; session kept in memory");
			op_fail(op, &err);
		}
		break;
	}
	case OP_LIST:
		file_list(op);
		break;
	case OP_RENAME:
		file_rename(op);
		break;
	case OP_DELETE:
		file_delete(op);
		break;
	}
	return op_later(op);
}

static void check_name(struct session_op *op, const char *name)
{
	struct err err;
	if (!op->failed && !session_name_valid(name, &err)) {
		op_fail(op, &err);
	}
}

struct session_op *session_load(struct session_store *st, const char *name, session_load_fn fn,
                                void *ud)
{
	struct session_op *op = op_new(st, OP_LOAD, ud);
	op->load_fn = fn;
	op->name = xstrdup(name ? name : "");
	check_name(op, op->name);
	return op_run(op);
}

struct session_op *session_save(struct session_store *st, const struct session *s,
                                session_done_fn fn, void *ud)
{
	struct session_op *op = op_new(st, OP_SAVE, ud);
	op->done_fn = fn;
	op->name = xstrdup(s->name ? s->name : "");
	check_name(op, op->name);
	if (!op->failed) {
		op->json = session_to_json(s);
	}
	return op_run(op);
}

struct session_op *session_list_all(struct session_store *st, session_list_fn fn, void *ud)
{
	struct session_op *op = op_new(st, OP_LIST, ud);
	op->list_fn = fn;
	return op_run(op);
}

struct session_op *session_rename(struct session_store *st, const char *from, const char *to,
                                  session_done_fn fn, void *ud)
{
	struct session_op *op = op_new(st, OP_RENAME, ud);
	op->done_fn = fn;
	op->name = xstrdup(from ? from : "");
	op->name2 = xstrdup(to ? to : "");
	check_name(op, op->name);
	check_name(op, op->name2);
	return op_run(op);
}

struct session_op *session_delete(struct session_store *st, const char *name, session_done_fn fn,
                                  void *ud)
{
	struct session_op *op = op_new(st, OP_DELETE, ud);
	op->done_fn = fn;
	op->name = xstrdup(name ? name : "");
	check_name(op, op->name);
	return op_run(op);
}
