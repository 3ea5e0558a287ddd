/* redis_client.h: one Redis connection, driven by the libevent loop (hiredis async with its
 * libevent adapter). Shared by the session store and the LLM cache.
 *
 * The client connects lazily, on the first command: it resolves a host name without blocking
 * (libevent's evdns; a numeric address needs no lookup), connects, sends AUTH (when a password
 * is given) and SELECT (when the database is not 0) ahead of the first command. When the server
 * goes away, every command in flight fails with a message that names the address ("redis:
 * connection refused at 127.0.0.1:6379"); the next command connects again, but not before the
 * backoff of health.h has passed since the last failed connect (commands issued sooner fail at
 * once with the last error, so nothing waits on a dead server). Every command has a timeout.
 *
 * Results are always delivered from the loop, never from inside the call that issued the command
 * and never from inside hiredis, so a callback may issue commands or destroy the client.
 *
 * The process must ignore SIGPIPE (labdeck does): hiredis writes to a socket the server may have
 * closed. */
#ifndef LABDECK_REDIS_CLIENT_H
#define LABDECK_REDIS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "health.h"

struct event_base;
struct redis_client;
struct redis_client_cmd;

/* Where to connect, from a redis:// URL. */
struct redis_client_url {
	char *host;     /* "127.0.0.1", "redis.lab", "::1" (without brackets) */
	int port;       /* default 6379 */
	int db;         /* default 0 */
	char *username; /* NULL unless the URL has user:password@ */
	char *password; /* NULL unless the URL has [user]:password@ */
};

/* redis_client_parse_url reads redis://[[user]:password@]host[:port][/db] (user and password
 * percent-decoded; an IPv6 address in brackets). rediss:// (TLS) is refused with ERR_CONFIG:
 * hiredis 0.14 has no TLS. Fills out (free with redis_client_url_finish) or returns false. */
bool redis_client_parse_url(const char *url, struct redis_client_url *out, struct err *err);
/* redis_client_url_finish frees what parse_url allocated. NULL-safe. */
void redis_client_url_finish(struct redis_client_url *u);

/* One reply from the server, copied out of hiredis. */
struct redis_client_reply {
	enum redis_client_type {
		REDIS_CLIENT_NIL,
		REDIS_CLIENT_STRING, /* a bulk string: str/len (binary-safe, NUL-terminated) */
		REDIS_CLIENT_STATUS, /* +OK: str */
		REDIS_CLIENT_INTEGER,
		REDIS_CLIENT_ARRAY, /* elements/n */
		REDIS_CLIENT_ERROR  /* -ERR ...: str */
	} type;
	long long integer;
	char *str;
	size_t len;
	struct redis_client_reply *elements;
	size_t n;
};

/* Called once per command (never after redis_client_cancel or redis_client_destroy). err is NULL
 * when the server answered with anything but an error. When the server answered with an error,
 * err says so (ERR_REJECTED, "redis: ERR ...") and reply is that error; when it did not answer
 * (connection refused or lost, timeout), err says why and reply is NULL. The reply is freed after
 * the callback returns. */
typedef void (*redis_client_fn)(void *ud, const struct redis_client_reply *reply,
                                const struct err *err);

/* redis_client_create parses the URL (the password argument, when not NULL, wins over one in the
 * URL) and binds a client to the loop; it does not connect yet. NULL with err on a bad URL. */
struct redis_client *redis_client_create(struct event_base *base, const char *url,
                                         const char *password, struct err *err);

/* redis_client_destroy drops the connection; commands still pending are cancelled (no
 * callbacks). NULL-safe; may be called from a callback. A name lookup still in flight is
 * finished by the loop later (turn it once more before freeing the event base). */
void redis_client_destroy(struct redis_client *c);

/* redis_client_command sends one command: argc arguments, each argvlen[i] bytes (binary-safe) or,
 * when argvlen is NULL, NUL-terminated. The arguments are copied at once. Returns a handle valid
 * until fn runs or the command is cancelled. */
struct redis_client_cmd *redis_client_command(struct redis_client *c, int argc,
                                              const char *const *argv, const size_t *argvlen,
                                              redis_client_fn fn, void *ud);

/* redis_client_cancel forgets a pending command: its callback is not called (the command may
 * still reach the server). */
void redis_client_cancel(struct redis_client_cmd *cmd);

/* redis_client_set_timeout sets how long a command (including connecting) may take before it
 * fails with ERR_TIMEOUT and the connection is dropped (default 5000 ms). */
void redis_client_set_timeout(struct redis_client *c, long timeout_ms);

/* redis_client_health: how the connection is doing, for the status line (HEALTH_CONNECTING
 * until the first command has been answered). */
const struct health *redis_client_health(const struct redis_client *c);

/* redis_client_where: "host:port" as used in messages ("[::1]:6379" for IPv6). */
const char *redis_client_where(const struct redis_client *c);

/* redis_client_connected: whether a connection is up (or being set up) right now. */
bool redis_client_connected(const struct redis_client *c);

/* redis_client_retry_in_ms: how long until the backoff lets a command connect again (0: the next
 * command may connect now, or a connection is up). A caller that checks the server on a timer
 * (the console's PING) waits at least this long, so a dead server is tried no more often than
 * the backoff allows. */
long redis_client_retry_in_ms(const struct redis_client *c);

#endif
