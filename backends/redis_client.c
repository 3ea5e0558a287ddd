/* redis_client.c: hiredis async on the libevent loop, with lazy connect, non-blocking name lookup,
 * AUTH/SELECT, per-command timeouts, backoff after failed connects, and results delivered from a
 * loop event of their own (so no user code ever runs inside hiredis).
 *
 * A command (struct redis_client_cmd) lives in the client's list until its result is delivered or
 * it is cancelled; hiredis may hold a reference to it too (in_hiredis), and it is freed when both
 * are done with it. Every connection this module frees itself gets ac->data = NULL first, so the
 * connect, disconnect and setup callbacks hiredis then runs know to ignore it. */
#include "redis_client.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "resolve.h"
#include "util.h"

#define DEFAULT_PORT 6379
#define DEFAULT_TIMEOUT_MS 5000

struct redis_client_cmd {
	struct redis_client *client; /* NULL once finished */
	struct redis_client_cmd *prev, *next;
	struct event *ev; /* the timeout, then the delivery */
	redis_client_fn fn;
	void *ud;
	int argc;
	char **argv;
	size_t *argvlen;
	bool in_hiredis; /* hiredis will call cmd_reply for it */
	bool scheduled;  /* the result is decided, delivery pending */
	bool finished;   /* delivered or cancelled: the user is never called again */
	bool has_reply;
	struct redis_client_reply reply;
	bool has_err;
	struct err err;
};

struct redis_client {
	struct event_base *base;
	struct redis_client_url url;
	char where[300];
	struct health health;
	long timeout_ms;
	int64_t retry_at_ms; /* no new connect before this */
	redisAsyncContext *ac;
	bool setup_failed; /* AUTH or SELECT refused on ac: its commands fail with setup_err */
	struct err setup_err;
	bool dropping; /* freeing ac ourselves: its commands fail with drop_err */
	struct err drop_err;
	struct resolve_lookup *lookup; /* the name lookup in flight, or NULL */
	struct redis_client_cmd *head, *tail;
};

/* ---- the URL ------------------------------------------------------------------------------- */

/* pct_decode copies n bytes of s with %XX decoded; NULL when a %XX is broken or decodes to NUL. */
static char *pct_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n) {
				free(out);
				return NULL;
			}
			int a = hex_digit((unsigned char)s[i + 1]);
			int b = hex_digit((unsigned char)s[i + 2]);
			if (a < 0 || b < 0 || (a == 0 && b == 0)) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(a * 16 + b);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

static bool parse_number(const char *s, size_t n, long min, long max, long *out)
{
	if (n == 0 || n > 10) {
		return false;
	}
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return false;
		}
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > max) {
		return false;
	}
	*out = v;
	return true;
}

bool redis_client_parse_url(const char *url, struct redis_client_url *out, struct err *err)
{
	static const char usage[] = "use redis://[:PASSWORD@]HOST[:PORT][/DB]";
	memset(out, 0, sizeof(*out));
	if (!url || !*url) {
		return err_set(err, ERR_CONFIG, 0, "redis: no url given; %s", usage);
	}
	if (strncasecmp(url, "rediss://", 9) == 0) {
		return err_set(
		        err, ERR_CONFIG, 0,
		        "redis: rediss:// (TLS) is not supported: this build's hiredis 0.14 has "
		        "no TLS; use redis:// over a private network (Tailscale) or a tunnel");
	}
	if (strncasecmp(url, "redis://", 8) != 0) {
		return err_set(err, ERR_CONFIG, 0, "redis: url must start with redis://; %s",
		               usage);
	}
	const char *p = url + 8;
	const char *end = p + strcspn(p, "/?#");
	const char *at = NULL;
	for (const char *q = p; q < end; q++) {
		if (*q == '@') {
			at = q; /* the last one: a password may hold '@' only percent-encoded, but
			           be kind */
		}
	}
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon) {
			if (colon > p) {
				out->username = pct_decode(p, (size_t)(colon - p));
				if (!out->username) {
					goto bad_escape;
				}
			}
			out->password = pct_decode(colon + 1, (size_t)(at - colon - 1));
			if (!out->password) {
				goto bad_escape;
			}
		} else if (at > p) {
			/* redis://secret@host: the only word is the password (what redis-cli -u
			 * does) */
			out->password = pct_decode(p, (size_t)(at - p));
			if (!out->password) {
				goto bad_escape;
			}
		}
		p = at + 1;
	}
	const char *host_end;
	const char *port_at = NULL;
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));
		if (!close || close == p + 1) {
			redis_client_url_finish(out);
			return err_set(err, ERR_CONFIG, 0, "redis: bad IPv6 address in url; %s",
			               usage);
		}
		out->host = xstrndup(p + 1, (size_t)(close - p - 1));
		host_end = close + 1;
		if (host_end < end) {
			if (*host_end != ':') {
				redis_client_url_finish(out);
				return err_set(err, ERR_CONFIG, 0, "redis: bad url; %s", usage);
			}
			port_at = host_end + 1;
		}
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		host_end = colon ? colon : end;
		out->host = xstrndup(p, (size_t)(host_end - p));
		if (colon) {
			port_at = colon + 1;
		}
	}
	if (!out->host[0]) {
		redis_client_url_finish(out);
		return err_set(err, ERR_CONFIG, 0, "redis: url has no host; %s", usage);
	}
	out->port = DEFAULT_PORT;
	if (port_at) {
		long port;
		if (!parse_number(port_at, (size_t)(end - port_at), 1, 65535, &port)) {
			redis_client_url_finish(out);
			return err_set(err, ERR_CONFIG, 0,
			               "redis: bad port in url (1 to 65535); %s", usage);
		}
		out->port = (int)port;
	}
	if (*end == '/' && end[1]) {
		const char *db = end + 1;
		size_t n = strcspn(db, "/?#");
		long v;
		if (!parse_number(db, n, 0, 1000000, &v) || (db[n] && strcmp(db + n, "/") != 0)) {
			redis_client_url_finish(out);
			return err_set(err, ERR_CONFIG, 0, "redis: bad database number in url; %s",
			               usage);
		}
		out->db = (int)v;
	} else if (*end && strcmp(end, "/") != 0) {
		redis_client_url_finish(out);
		return err_set(err, ERR_CONFIG, 0, "redis: bad url; %s", usage);
	}
	return true;

bad_escape:
	redis_client_url_finish(out);
	return err_set(err, ERR_CONFIG, 0, "redis: bad %%XX escape in the url's user or password");
}

void redis_client_url_finish(struct redis_client_url *u)
{
	if (!u) {
		return;
	}
	free(u->host);
	free(u->username);
	if (u->password) {
		memset(u->password, 0, strlen(u->password));
	}
	free(u->password);
	memset(u, 0, sizeof(*u));
}

/* ---- replies ------------------------------------------------------------------------------- */

static void reply_copy(struct redis_client_reply *dst, const redisReply *r)
{
	memset(dst, 0, sizeof(*dst));
	switch (r->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		dst->type = r->type == REDIS_REPLY_STRING   ? REDIS_CLIENT_STRING
		            : r->type == REDIS_REPLY_STATUS ? REDIS_CLIENT_STATUS
		                                            : REDIS_CLIENT_ERROR;
		dst->len = r->str ? (size_t)r->len : 0;
		dst->str = xmalloc(dst->len + 1);
		if (dst->len) {
			memcpy(dst->str, r->str, dst->len);
		}
		dst->str[dst->len] = '\0';
		break;
	case REDIS_REPLY_INTEGER:
		dst->type = REDIS_CLIENT_INTEGER;
		dst->integer = r->integer;
		break;
	case REDIS_REPLY_ARRAY:
		dst->type = REDIS_CLIENT_ARRAY;
		dst->n = r->elements;
		dst->elements = xcalloc(dst->n ? dst->n : 1, sizeof(*dst->elements));
		for (size_t i = 0; i < dst->n; i++) {
			reply_copy(&dst->elements[i], r->element[i]);
		}
		break;
	default:
		dst->type = REDIS_CLIENT_NIL;
		break;
	}
}

static void reply_finish(struct redis_client_reply *r)
{
	for (size_t i = 0; i < r->n; i++) {
		reply_finish(&r->elements[i]);
	}
	free(r->elements);
	free(r->str);
	memset(r, 0, sizeof(*r));
}

/* ---- commands ------------------------------------------------------------------------------ */

static void cmd_unlink(struct redis_client_cmd *cmd)
{
	struct redis_client *c = cmd->client;
	if (!c) {
		return;
	}
	if (cmd->prev) {
		cmd->prev->next = cmd->next;
	} else {
		c->head = cmd->next;
	}
	if (cmd->next) {
		cmd->next->prev = cmd->prev;
	} else {
		c->tail = cmd->prev;
	}
	cmd->prev = cmd->next = NULL;
	cmd->client = NULL;
}

/* cmd_release frees cmd once nobody will call back for it any more. */
static void cmd_release(struct redis_client_cmd *cmd)
{
	if (!cmd->finished || cmd->in_hiredis) {
		return;
	}
	if (cmd->ev) {
		event_free(cmd->ev);
	}
	for (int i = 0; i < cmd->argc; i++) {
		free(cmd->argv[i]);
	}
	free(cmd->argv);
	free(cmd->argvlen);
	if (cmd->has_reply) {
		reply_finish(&cmd->reply);
	}
	free(cmd);
}

/* cmd_finish: the user will not hear of cmd again; it leaves the list. */
static void cmd_finish(struct redis_client_cmd *cmd)
{
	cmd->finished = true;
	cmd_unlink(cmd);
	if (cmd->ev) {
		event_del(cmd->ev);
	}
	cmd_release(cmd);
}

/* cmd_schedule decides cmd's result (a reply, an error or both) and has the loop deliver it. */
static void cmd_schedule(struct redis_client_cmd *cmd, const redisReply *r, const struct err *err)
{
	if (cmd->finished || cmd->scheduled) {
		return;
	}
	cmd->scheduled = true;
	if (r) {
		reply_copy(&cmd->reply, r);
		cmd->has_reply = true;
	}
	if (err) {
		cmd->err = *err;
		cmd->has_err = true;
	}
	event_del(cmd->ev);
	event_active(cmd->ev, EV_TIMEOUT, 1);
}

static void deliver(struct redis_client_cmd *cmd)
{
	redis_client_fn fn = cmd->fn;
	void *ud = cmd->ud;
	struct redis_client_reply reply = cmd->reply;
	bool has_reply = cmd->has_reply;
	struct err err = cmd->err;
	bool has_err = cmd->has_err;
	cmd->has_reply = false; /* the reply now belongs to this frame */
	cmd_finish(cmd);        /* may free cmd */
	if (fn) {
		fn(ud, has_reply ? &reply : NULL, has_err ? &err : NULL);
	}
	if (has_reply) {
		reply_finish(&reply);
	}
}

static void connection_dropped(struct redis_client *c, const struct err *err, bool connect_failed);
static void connect_now(struct redis_client *c);

static void on_cmd_event(evutil_socket_t fd, short what, void *arg)
{
	struct redis_client_cmd *cmd = arg;
	if (cmd->scheduled) {
		deliver(cmd);
		return;
	}
	/* The timeout. */
	struct redis_client *c = cmd->client;
	struct err err;
	long ms = c->timeout_ms;
	if (ms % 1000 == 0) {
		err_set(&err, ERR_TIMEOUT, 0, "redis: no answer from %s in %ld s", c->where,
		        ms / 1000);
	} else {
		err_set(&err, ERR_TIMEOUT, 0, "redis: no answer from %s in %ld ms", c->where, ms);
	}
	if (cmd->in_hiredis && c->ac) {
		/* The connection is stuck: drop it, failing every command on it. */
		connection_dropped(c, &err, !(c->ac->c.flags & REDIS_CONNECTED));
	}
	cmd_schedule(cmd, NULL, &err);
}

static struct err conn_error(const struct redis_client *c, const redisAsyncContext *ac)
{
	struct err err;
	const char *why = ac->c.errstr[0] ? ac->c.errstr : "connection failed";
	enum err_code code = ERR_NETWORK;
	if (strcmp(why, strerror(ECONNREFUSED)) == 0 || strcmp(why, strerror(EHOSTUNREACH)) == 0 ||
	    strcmp(why, strerror(ENETUNREACH)) == 0) {
		code = ERR_UNREACHABLE;
	} else if (strcmp(why, strerror(ETIMEDOUT)) == 0) {
		code = ERR_TIMEOUT;
	}
	char low[128];
	snprintf(low, sizeof(low), "%s", why);
	low[0] = (char)tolower((unsigned char)low[0]);
	err_set(&err, code, 0, "redis: %s at %s", low, c->where);
	return err;
}

/* cmd_reply: hiredis's callback for a user command. */
static void cmd_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct redis_client_cmd *cmd = privdata;
	cmd->in_hiredis = false;
	struct redis_client *c = cmd->client;
	if (cmd->finished || cmd->scheduled || !c) {
		cmd_release(cmd);
		return;
	}
	redisReply *reply = r;
	struct err err;
	if (!reply) {
		err = c->dropping       ? c->drop_err
		      : c->setup_failed ? c->setup_err
		                        : conn_error(c, ac);
		cmd_schedule(cmd, NULL, &err);
	} else if (c->setup_failed && ac == c->ac) {
		cmd_schedule(cmd, NULL, &c->setup_err);
	} else {
		health_ok(&c->health, now_wall());
		c->retry_at_ms = 0;
		if (reply->type == REDIS_REPLY_ERROR) {
			const char *msg = reply->str ? reply->str : "error";
			if (str_has_prefix(msg, "NOAUTH")) {
				err_set(&err, ERR_AUTH, 0, "redis: %s (set [redis] password)", msg);
			} else {
				err_set(&err, ERR_REJECTED, 0, "redis: %s", msg);
			}
			cmd_schedule(cmd, reply, &err);
		} else {
			cmd_schedule(cmd, reply, NULL);
		}
	}
}

static bool cmd_send(struct redis_client *c, struct redis_client_cmd *cmd)
{
	if (redisAsyncCommandArgv(c->ac, cmd_reply, cmd, cmd->argc, (const char **)cmd->argv,
	                          cmd->argvlen) != REDIS_OK) {
		return false;
	}
	cmd->in_hiredis = true;
	return true;
}

/* fail_waiting fails every command that is not on a connection yet. */
static void fail_waiting(struct redis_client *c, const struct err *err)
{
	for (struct redis_client_cmd *cmd = c->head; cmd; cmd = cmd->next) {
		if (!cmd->in_hiredis) {
			cmd_schedule(cmd, NULL, err);
		}
	}
}

/* connection_dropped frees the current connection ourselves (a timeout, a failed setup): every
 * command on it fails with err. A failed connect starts the backoff. */
static void connection_dropped(struct redis_client *c, const struct err *err, bool connect_failed)
{
	redisAsyncContext *ac = c->ac;
	c->ac = NULL;
	health_fail(&c->health, err);
	c->retry_at_ms = connect_failed ? now_mono_ms() + health_backoff_ms(&c->health) : 0;
	if (ac) {
		c->dropping = true;
		c->drop_err = *err;
		ac->data = NULL;
		redisAsyncFree(ac); /* calls cmd_reply with NULL for each command on it */
		c->dropping = false;
	}
	fail_waiting(c, err);
}

/* ---- connection ---------------------------------------------------------------------------- */

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct redis_client *c = ac->data;
	if (!c || c->ac != ac || status == REDIS_OK) {
		return;
	}
	/* hiredis frees ac after this and fails its commands (cmd_reply with NULL). */
	struct err err = conn_error(c, ac);
	c->ac = NULL;
	health_fail(&c->health, &err);
	c->retry_at_ms = now_mono_ms() + health_backoff_ms(&c->health);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct redis_client *c = ac->data;
	if (!c || c->ac != ac) {
		return;
	}
	c->ac = NULL;
	if (c->setup_failed) {
		return; /* already recorded, backoff running */
	}
	if (status != REDIS_OK) {
		/* A connection that worked went away: the next command tries again at once. */
		struct err err = conn_error(c, ac);
		health_fail(&c->health, &err);
		c->retry_at_ms = 0;
	}
}

enum setup_step { SETUP_AUTH = 1, SETUP_SELECT = 2 };

static void setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct redis_client *c = ac->data;
	redisReply *reply = r;
	if (!c || c->ac != ac || !reply || c->setup_failed) {
		return;
	}
	if (reply->type != REDIS_REPLY_ERROR) {
		return;
	}
	const char *msg = reply->str ? reply->str : "error";
	if (str_has_prefix(msg, "NOAUTH")) {
		/* SELECT on a server that wants a password we were not given */
		err_set(&c->setup_err, ERR_AUTH, 0, "redis: %s (set [redis] password)", msg);
	} else if ((intptr_t)privdata == SETUP_AUTH) {
		err_set(&c->setup_err, ERR_AUTH, 0,
		        "redis: AUTH refused by %s: %s (check [redis] password)", c->where, msg);
	} else {
		err_set(&c->setup_err, ERR_CONFIG, 0,
		        "redis: SELECT refused by %s: %s (check the database number in [redis] "
		        "url)",
		        c->where, msg);
	}
	c->setup_failed = true;
	health_fail(&c->health, &c->setup_err);
	c->retry_at_ms = now_mono_ms() + health_backoff_ms(&c->health);
	redisAsyncDisconnect(ac); /* after the replies already on their way */
}

static void connect_ip(struct redis_client *c, const char *ip)
{
	redisAsyncContext *ac = redisAsyncConnect(ip, c->url.port);
	if (ac->err) {
		struct err err = conn_error(c, ac);
		redisAsyncFree(ac);
		health_fail(&c->health, &err);
		c->retry_at_ms = now_mono_ms() + health_backoff_ms(&c->health);
		fail_waiting(c, &err);
		return;
	}
	ac->data = c;
	c->ac = ac;
	c->setup_failed = false;
	redisLibeventAttach(ac, c->base);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	if (c->url.password) {
		if (c->url.username) {
			const char *argv[] = {"AUTH", c->url.username, c->url.password};
			redisAsyncCommandArgv(ac, setup_reply, (void *)(intptr_t)SETUP_AUTH, 3,
			                      argv, NULL);
		} else {
			const char *argv[] = {"AUTH", c->url.password};
			redisAsyncCommandArgv(ac, setup_reply, (void *)(intptr_t)SETUP_AUTH, 2,
			                      argv, NULL);
		}
	}
	if (c->url.db) {
		char db[16];
		snprintf(db, sizeof(db), "%d", c->url.db);
		const char *argv[] = {"SELECT", db};
		redisAsyncCommandArgv(ac, setup_reply, (void *)(intptr_t)SETUP_SELECT, 2, argv,
		                      NULL);
	}
	for (struct redis_client_cmd *cmd = c->head; cmd; cmd = cmd->next) {
		if (!cmd->in_hiredis && !cmd->scheduled && !cmd->finished) {
			cmd_send(c, cmd);
		}
	}
}

static void on_resolved(void *ud, const char *ip, const struct err *err)
{
	struct redis_client *c = ud;
	c->lookup = NULL;
	if (!ip) {
		struct err e;
		err_set(&e, err->code, 0, "redis: %s", err->msg);
		health_fail(&c->health, &e);
		c->retry_at_ms = now_mono_ms() + health_backoff_ms(&c->health);
		fail_waiting(c, &e);
		return;
	}
	bool any = false;
	for (struct redis_client_cmd *cmd = c->head; cmd; cmd = cmd->next) {
		any = any || (!cmd->scheduled && !cmd->finished);
	}
	/* Nothing is kept: the next connect looks the name up again (addresses change). */
	if (any) {
		connect_ip(c, ip);
	}
}

static void connect_now(struct redis_client *c)
{
	if (resolve_is_numeric(c->url.host)) {
		connect_ip(c, c->url.host);
		return;
	}
	c->lookup = resolve_start(c->base, c->url.host, on_resolved, c);
}

/* ---- the client ---------------------------------------------------------------------------- */

struct redis_client *redis_client_create(struct event_base *base, const char *url,
                                         const char *password, struct err *err)
{
	struct redis_client *c = xcalloc(1, sizeof(*c));
	if (!redis_client_parse_url(url, &c->url, err)) {
		free(c);
		return NULL;
	}
	if (password && *password) {
		if (c->url.password) {
			memset(c->url.password, 0, strlen(c->url.password));
			free(c->url.password);
		}
		c->url.password = xstrdup(password);
	}
	c->base = base;
	c->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (strchr(c->url.host, ':')) {
		snprintf(c->where, sizeof(c->where), "[%s]:%d", c->url.host, c->url.port);
	} else {
		snprintf(c->where, sizeof(c->where), "%s:%d", c->url.host, c->url.port);
	}
	health_init(&c->health);
	return c;
}

void redis_client_destroy(struct redis_client *c)
{
	if (!c) {
		return;
	}
	while (c->head) {
		cmd_finish(c->head);
	}
	resolve_cancel(c->lookup);
	if (c->ac) {
		redisAsyncContext *ac = c->ac;
		c->ac = NULL;
		ac->data = NULL;
		redisAsyncFree(ac); /* releases the finished commands hiredis still held */
	}
	redis_client_url_finish(&c->url);
	free(c);
}

struct redis_client_cmd *redis_client_command(struct redis_client *c, int argc,
                                              const char *const *argv, const size_t *argvlen,
                                              redis_client_fn fn, void *ud)
{
	struct redis_client_cmd *cmd = xcalloc(1, sizeof(*cmd));
	cmd->client = c;
	cmd->fn = fn;
	cmd->ud = ud;
	cmd->argc = argc;
	cmd->argv = xcalloc((size_t)argc + 1, sizeof(*cmd->argv));
	cmd->argvlen = xcalloc((size_t)argc + 1, sizeof(*cmd->argvlen));
	for (int i = 0; i < argc; i++) {
		size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
		cmd->argv[i] = xmalloc(n + 1);
		memcpy(cmd->argv[i], argv[i], n);
		cmd->argv[i][n] = '\0';
		cmd->argvlen[i] = n;
	}
	cmd->ev = evtimer_new(c->base, on_cmd_event, cmd);
	struct timeval tv = {.tv_sec = c->timeout_ms / 1000,
	                     .tv_usec = (c->timeout_ms % 1000) * 1000};
	evtimer_add(cmd->ev, &tv);
	cmd->prev = c->tail;
	if (c->tail) {
		c->tail->next = cmd;
	} else {
		c->head = cmd;
	}
	c->tail = cmd;

	if (c->ac) {
		if (!cmd_send(c, cmd)) {
			/* The connection is closing (a refused AUTH): fail with why. */
			struct err err;
			if (c->setup_failed) {
				err = c->setup_err;
			} else {
				err_set(&err, ERR_NETWORK, 0,
				        "redis: the connection to %s is closing", c->where);
			}
			cmd_schedule(cmd, NULL, &err);
		}
	} else if (c->lookup) {
		/* sent when the name is resolved */
	} else if (c->retry_at_ms && now_mono_ms() < c->retry_at_ms) {
		cmd_schedule(cmd, NULL, &c->health.last_err);
	} else {
		if (c->health.state != HEALTH_FAILING) {
			c->health.state = HEALTH_CONNECTING;
		}
		connect_now(c);
	}
	return cmd;
}

void redis_client_cancel(struct redis_client_cmd *cmd)
{
	if (cmd && !cmd->finished) {
		cmd_finish(cmd);
	}
}

void redis_client_set_timeout(struct redis_client *c, long timeout_ms)
{
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
}

const struct health *redis_client_health(const struct redis_client *c)
{
	return &c->health;
}

const char *redis_client_where(const struct redis_client *c)
{
	return c->where;
}

bool redis_client_connected(const struct redis_client *c)
{
	return c->ac != NULL;
}

long redis_client_retry_in_ms(const struct redis_client *c)
{
	if (c->ac || c->lookup || !c->retry_at_ms) {
		return 0;
	}
	int64_t left = c->retry_at_ms - now_mono_ms();
	return left > 0 ? (long)left : 0;
}
