/* session.h: named chat sessions (a system prompt, a provider and a model, the messages so far)
 * and the store that keeps them: Redis when [redis] url is configured (one JSON value at
 * labdeck:session:NAME, the names in the set labdeck:sessions), else one file per session under
 * $XDG_STATE_HOME/labdeck/sessions/NAME.json (~/.local/state/labdeck/sessions by default;
 * directory 0700, files 0600, written to a temporary file and renamed into place).
 *
 * Store operations are asynchronous: each calls back once, from the loop (never before it
 * returns), unless it is cancelled or the store destroyed first. A failure leaves the caller's
 * in-memory session as it was: nothing typed is lost, and saving it again later (after Redis is
 * back) is the caller's choice. */
#ifndef LABDECK_SESSION_H
#define LABDECK_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct event_base;
struct redis_client;
struct session_store;
struct session_op;

/* SESSION_NAME_MAX: the longest name, in bytes. */
#define SESSION_NAME_MAX 64

struct session_message {
	char *role; /* "system", "user", "assistant" (stored as given) */
	char *content;
};

struct session {
	char *name;
	char *provider; /* "ollama", "gemini", "openai"; NULL: the configured default */
	char *model;    /* NULL: the provider's configured model */
	char *system;   /* the system prompt, or NULL */
	struct session_message *messages;
	size_t len, cap;
	double created, updated; /* seconds since the epoch */
	bool is_new;             /* load found nothing under this name (not stored) */
};

/* session_name_valid: 1 to 64 ASCII letters, digits, '-', '_' or '.', not starting with '.'.
 * Anything else fails with ERR_USAGE and a message that says what is allowed. */
bool session_name_valid(const char *name, struct err *err);

/* session_init makes s an empty session called name, created and updated now, is_new set. */
void session_init(struct session *s, const char *name);
/* session_finish frees what s holds. NULL-safe. */
void session_finish(struct session *s);
/* session_destroy finishes and frees a heap session (as load hands over). NULL-safe. */
void session_destroy(struct session *s);

/* session_add appends a message (both strings copied; invalid UTF-8 becomes U+FFFD) and sets
 * updated to now. */
void session_add(struct session *s, const char *role, const char *content);

/* session_set_meta replaces provider, model and system prompt with copies of those that are not
 * NULL (an empty string clears the field). */
void session_set_meta(struct session *s, const char *provider, const char *model,
                      const char *system);

/* session_to_json serialises s (without its name: the key or file name is the name) as compact
 * JSON: {"version":1,"provider","model","system","created","updated","messages":[{"role",
 * "content"}]}. Invalid UTF-8 is written as U+FFFD. Heap string. */
char *session_to_json(const struct session *s);

/* session_from_json reads what session_to_json wrote into out (a session called name; free with
 * session_finish). Unknown keys are ignored; a missing "messages" is an empty list. Fails with
 * ERR_MALFORMED when text is not such a document. */
bool session_from_json(const char *text, size_t len, const char *name, struct session *out,
                       struct err *err);

/* session_utf8_repair returns a copy of the len bytes at s with every byte that does not start a
 * well-formed UTF-8 character (overlongs, surrogates and truncated sequences included) replaced by
 * U+FFFD, so that JSON encoders accept it. NUL bytes become U+FFFD too. */
char *session_utf8_repair(const char *s, size_t len);

/* session_default_dir: $XDG_STATE_HOME/labdeck/sessions when XDG_STATE_HOME is an absolute path,
 * else $HOME/.local/state/labdeck/sessions (heap). */
char *session_default_dir(void);

/* session_store_create: a store on redis when redis is not NULL (the client is shared, not
 * owned), else on files in dir (NULL: session_default_dir(); created, 0700, when first saved). */
struct session_store *session_store_create(struct event_base *base, struct redis_client *redis,
                                           const char *dir);
/* session_store_destroy cancels the operations still pending (no callbacks). NULL-safe. */
void session_store_destroy(struct session_store *st);
/* session_store_describe: "redis 127.0.0.1:6379" or the directory, for messages. */
const char *session_store_describe(const struct session_store *st);

/* One session in a list. */
struct session_info {
	char *name;
	double updated;
	size_t messages;
};

struct session_list {
	struct session_info *items; /* most recently updated first */
	size_t len;
};

/* session_list_destroy frees a list handed over by session_list. NULL-safe. */
void session_list_destroy(struct session_list *l);

/* Callbacks. Ownership of s and list passes to the callback (session_destroy,
 * session_list_destroy); they are NULL exactly when err is not NULL. */
typedef void (*session_load_fn)(void *ud, struct session *s, const struct err *err);
typedef void (*session_done_fn)(void *ud, const struct err *err);
typedef void (*session_list_fn)(void *ud, struct session_list *list, const struct err *err);

/* session_load reads the session called name. A name nothing is stored under gives a new empty
 * session (is_new) and no error; a bad name, a store that cannot be read (Redis down) or a stored
 * value that is not a session give an error. */
struct session_op *session_load(struct session_store *st, const char *name, session_load_fn fn,
                                void *ud);

/* session_save stores s under s->name, replacing what was there. s is serialised before
 * session_save returns, so the caller may change it at once. Errors end with "; session kept in
 * memory". fn may be NULL. */
struct session_op *session_save(struct session_store *st, const struct session *s,
                                session_done_fn fn, void *ud);

/* session_list_all lists the stored sessions (names, update times, message counts). */
struct session_op *session_list_all(struct session_store *st, session_list_fn fn, void *ud);

/* session_rename moves a session to a new name: ERR_NOT_FOUND when from does not exist,
 * ERR_REJECTED when to already does. */
struct session_op *session_rename(struct session_store *st, const char *from, const char *to,
                                  session_done_fn fn, void *ud);

/* session_delete removes a session: ERR_NOT_FOUND when there is none by that name. */
struct session_op *session_delete(struct session_store *st, const char *name, session_done_fn fn,
                                  void *ud);

/* session_cancel forgets a pending operation: its callback is not called (what was already sent
 * to Redis may still happen). */
void session_cancel(struct session_op *op);

#endif
