/* err.h: errors are data. One X-macro table gives the code, its name and the exit status. */
#ifndef LABDECK_ERR_H
#define LABDECK_ERR_H

#include <stdbool.h>
#include <stddef.h>

/* X(code, name, exit status per SPEC.md §3) */
#define ERR_CODES(X)                                                                               \
	X(ERR_NONE, "ok", 0)                                                                       \
	X(ERR_USAGE, "usage", 2)                                                                   \
	X(ERR_CONFIG, "config", 2)                                                                 \
	X(ERR_NETWORK, "network", 3)                                                               \
	X(ERR_TIMEOUT, "timeout", 3)                                                               \
	X(ERR_TLS, "tls", 3)                                                                       \
	X(ERR_AUTH, "auth", 4)                                                                     \
	X(ERR_NOT_FOUND, "not found", 1)                                                           \
	X(ERR_REJECTED, "rejected", 1)                                                             \
	X(ERR_RATE_LIMIT, "rate limit", 3)                                                         \
	X(ERR_SERVER, "server", 3)                                                                 \
	X(ERR_UNREACHABLE, "unreachable", 3)                                                       \
	X(ERR_MALFORMED, "malformed", 3)                                                           \
	X(ERR_TOO_LARGE, "too large", 3)                                                           \
	X(ERR_CANCELLED, "cancelled", 1)

enum err_code {
#define X(code, name, exit) code,
	ERR_CODES(X)
#undef X
};

/* An error a person can act on: what failed, where, and what to do. */
struct err {
	enum err_code code;
	long http_status; /* 0 when not an HTTP answer */
	char msg[512];
};

/* err_set fills err (if not NULL) and returns false, so `return err_set(...)` reads well. */
bool err_set(struct err *err, enum err_code code, long http_status, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void err_clear(struct err *err);

/* err_secret_add registers a secret (a token, a password, an API key, as labdeck holds it):
 * from then on err_set writes "***" wherever the value appears in a message, so a server that
 * echoes a credential back (in a reason phrase, an error body, a URL) cannot make labdeck print
 * it. Values shorter than 8 bytes are ignored (they would blank out ordinary words); adding the
 * same value twice keeps one. The list lives until err_secret_clear. */
void err_secret_add(const char *value);
/* err_secret_redact replaces every registered secret in s (in place) with "***", and every
 * piece of one of 12 bytes or more (a server may echo a token cut short) unless the secret is a
 * URL, which only counts whole. */
void err_secret_redact(char *s);
/* err_secret_clear forgets every registered secret (wiping them). */
void err_secret_clear(void);
const char *err_code_name(enum err_code code);
/* err_code_for_status: the code for an HTTP answer that is not 2xx: 401 and 403 ERR_AUTH, 404
 * ERR_NOT_FOUND, 429 ERR_RATE_LIMIT, 5xx ERR_SERVER, any other ERR_REJECTED. */
enum err_code err_code_for_status(long status);
/* err_exit_status maps a code to SPEC.md §3's exit statuses. */
int err_exit_status(enum err_code code);
/* err_worse: the exit status that wins when several backends fail (auth > unreachable > refused).
 */
int err_worse_exit(int a, int b);

/* A list of errors from one backend operation that still produced data (a node that did not
 * answer while the others did). */
struct err_list {
	struct err *items;
	size_t len;
};

/* err_list_add copies e into the list. */
void err_list_add(struct err_list *l, const struct err *e);
void err_list_finish(struct err_list *l);

#endif
