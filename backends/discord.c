/* discord.c: the Discord webhook mirror (see discord.h). */
#include "discord.h"

#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json_util.h"
#include "text.h"
#include "util.h"

#define MAX_CHARS 2000
#define REQUEST_TIMEOUT_MS 10000L

struct discord_message {
	struct discord *d;
	struct discord_message *next;
	char *id;       /* NULL until the POST was answered */
	char *pending;  /* the newest state not yet sent, or NULL */
	char *inflight; /* what the request in flight sends */
	char *sent;     /* the last state Discord accepted */
	struct http_request *req;
	bool dead; /* its POST failed: nothing more for this message */
};

struct discord {
	struct event_base *base;
	struct http *http;
	char *path_url; /* the webhook URL without its query */
	char *query;    /* its query ("thread_id=..."), or "" */
	char *token;    /* the URL's last path segment: the secret */
	discord_warn_fn warn;
	void *ud;
	struct discord_message *messages;
	struct event *timer; /* the end of a 429 wait */
	int64_t wait_until_ms;
	bool stopped;
	bool keep_trying; /* a console: a stop lasts until the next post, a 429 wait is told */
	bool wait_told;   /* the 429 wait was told (keep_trying); until a request succeeds */
	unsigned requests;
};

static void pump_all(struct discord *d);

static void on_timer(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	pump_all(ud);
}

struct discord *discord_new(struct event_base *base, struct http *http, const char *webhook_url,
                            discord_warn_fn warn, void *ud)
{
	struct discord *d = xcalloc(1, sizeof(*d));
	d->base = base;
	d->http = http;
	d->warn = warn;
	d->ud = ud;
	const char *q = strchr(webhook_url, '?');
	size_t n = q ? (size_t)(q - webhook_url) : strlen(webhook_url);
	while (n > 0 && webhook_url[n - 1] == '/') {
		n--;
	}
	d->path_url = xstrndup(webhook_url, n);
	d->query = xstrdup(q ? q + 1 : "");
	const char *slash = strrchr(d->path_url, '/');
	d->token = xstrdup(slash ? slash + 1 : d->path_url);
	err_secret_add(d->path_url);
	err_secret_add(d->token);
	d->timer = evtimer_new(base, on_timer, d);
	return d;
}

static void message_free(struct discord_message *m)
{
	if (m->req) {
		http_cancel(m->req);
	}
	free(m->id);
	free(m->pending);
	free(m->inflight);
	free(m->sent);
	free(m);
}

void discord_free(struct discord *d)
{
	if (!d) {
		return;
	}
	for (struct discord_message *m = d->messages, *next; m; m = next) {
		next = m->next;
		message_free(m);
	}
	event_free(d->timer);
	free(d->path_url);
	free(d->query);
	free(d->token);
	free(d);
}

/* replace_all replaces every occurrence of what in s (heap) by with; returns the new string. */
static char *replace_all(char *s, const char *what, const char *with)
{
	if (!what[0]) {
		return s;
	}
	struct buf b;
	buf_init(&b);
	const char *p = s;
	for (const char *hit; (hit = strstr(p, what));) {
		buf_append(&b, p, (size_t)(hit - p));
		buf_append(&b, with, strlen(with));
		p = hit + strlen(what);
	}
	buf_append(&b, p, strlen(p));
	free(s);
	return buf_steal(&b);
}

/* warn says msg once, with every form of the webhook URL and its token taken out. */
static void warn(struct discord *d, const char *msg)
{
	char *s = xstrdup(msg);
	/* The longest forms first: the URLs of the requests, then the bare token. */
	char *post = xasprintf("%s?%s%swait=true", d->path_url, d->query, d->query[0] ? "&" : "");
	s = replace_all(s, post, "discord webhook");
	free(post);
	s = replace_all(s, d->path_url, "discord webhook");
	/* The same forms with the token already taken out by err_set (err_secret_add). */
	char *red =
	        xasprintf("%.*s***", (int)(strlen(d->path_url) - strlen(d->token)), d->path_url);
	post = xasprintf("%s?%s%swait=true", red, d->query, d->query[0] ? "&" : "");
	s = replace_all(s, post, "discord webhook");
	free(post);
	s = replace_all(s, red, "discord webhook");
	free(red);
	/* ... or the whole URL taken out (the config registers webhook_url itself as a secret). */
	post = xasprintf("***?%s%swait=true", d->query, d->query[0] ? "&" : "");
	s = replace_all(s, post, "discord webhook");
	free(post);
	s = replace_all(s, d->token, "***");
	if (d->warn) {
		d->warn(d->ud, s);
	}
	free(s);
}

static void stop(struct discord *d, long status, const char *why)
{
	if (d->stopped) {
		return;
	}
	d->stopped = true;
	char *msg = xasprintf("discord: the webhook was deleted or is wrong (%ld%s%s): check the "
	                      "webhook URL in [discord]; %s",
	                      status, why[0] ? " " : "", why,
	                      d->keep_trying ? "the next action tries again"
	                                     : "not posting to Discord for the rest of this run");
	warn(d, msg);
	free(msg);
	for (struct discord_message *m = d->messages; m; m = m->next) {
		if (m->req) {
			http_cancel(m->req);
			m->req = NULL;
		}
		free(m->pending);
		m->pending = NULL;
	}
	evtimer_del(d->timer);
}

/* body builds the JSON for content, cut to MAX_CHARS characters. */
static char *body_for(const char *content)
{
	size_t chars = 0, i = 0, cut = 0;
	for (; content[i]; i++) {
		if (((unsigned char)content[i] & 0xC0) != 0x80) {
			if (chars == MAX_CHARS - 1) {
				cut = i;
			}
			chars++;
		}
	}
	char *text = chars > MAX_CHARS ? xasprintf("%.*s…", (int)cut, content) : xstrdup(content);
	json_t *o = json_pack("{s:s, s:{s:[]}}", "content", text, "allowed_mentions", "parse");
	if (!o) { /* not UTF-8: send it sanitised */
		char *safe = text_sanitize(text, true);
		o = json_pack("{s:s, s:{s:[]}}", "content", safe, "allowed_mentions", "parse");
		free(safe);
	}
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(text);
	return s;
}

static void on_done(void *ud, struct http_response *resp, const struct err *e);

static void send_now(struct discord_message *m)
{
	struct discord *d = m->d;
	free(m->inflight);
	m->inflight = m->pending;
	m->pending = NULL;
	char *url;
	const char *method;
	if (!m->id) {
		url = xasprintf("%s?%s%swait=true", d->path_url, d->query, d->query[0] ? "&" : "");
		method = "POST";
	} else {
		url = xasprintf("%s/messages/%s%s%s", d->path_url, m->id, d->query[0] ? "?" : "",
		                d->query);
		method = "PATCH";
	}
	char *body = body_for(m->inflight);
	static const char *const headers[] = {"Content-Type: application/json",
	                                      "Accept: application/json", NULL};
	struct http_request_opts o = {
	        .backend = "discord",
	        .method = method,
	        .url = url,
	        .headers = headers,
	        .body = body,
	        .body_len = strlen(body),
	        .timeout_ms = http_default_timeout(d->http) < REQUEST_TIMEOUT_MS
	                              ? http_default_timeout(d->http)
	                              : REQUEST_TIMEOUT_MS,
	        .max_body = 1 << 20,
	        .max_retries = 0,
	        .on_done = on_done,
	        .ud = m,
	};
	d->requests++;
	m->req = http_start(d->http, &o);
	free(body);
	free(url);
}

/* arm_timer makes the timer fire when the 429 wait is over (again, if it fired early). */
static void arm_timer(struct discord *d)
{
	int64_t left = d->wait_until_ms - now_mono_ms() + 1;
	if (left < 1) {
		left = 1;
	}
	struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
	evtimer_add(d->timer, &tv);
}

static void pump(struct discord_message *m)
{
	struct discord *d = m->d;
	if (d->stopped || m->dead || m->req || !m->pending) {
		return;
	}
	if (m->id && m->sent && strcmp(m->pending, m->sent) == 0) {
		free(m->pending); /* already there */
		m->pending = NULL;
		return;
	}
	if (now_mono_ms() < d->wait_until_ms) {
		arm_timer(d); /* the timer sends it */
		return;
	}
	send_now(m);
}

static void pump_all(struct discord *d)
{
	for (struct discord_message *m = d->messages; m; m = m->next) {
		pump(m);
	}
}

static void on_done(void *ud, struct http_response *resp, const struct err *e)
{
	struct discord_message *m = ud;
	struct discord *d = m->d;
	m->req = NULL;
	bool was_post = m->id == NULL;
	if (!e) {
		if (was_post) {
			struct err pe;
			if (!discord_parse_message(resp->body, resp->len, &m->id, &pe)) {
				m->dead = true;
				char *msg =
				        xasprintf("%s: is the webhook URL in [discord] a Discord "
				                  "webhook?",
				                  pe.msg);
				warn(d, msg);
				free(msg);
				return;
			}
		}
		d->wait_told = false;
		free(m->sent);
		m->sent = m->inflight;
		m->inflight = NULL;
		pump(m);
		return;
	}
	if (resp->status == 429) {
		bool global = false;
		double s = discord_parse_retry_after(resp->body, resp->len, resp->retry_after,
		                                     &global);
		int64_t until = now_mono_ms() + (int64_t)(s * 1000.0 + 0.5);
		if (until > d->wait_until_ms) {
			d->wait_until_ms = until;
		}
		/* Not executed: what was in flight is sent again unless a newer state came. */
		if (!m->pending) {
			m->pending = m->inflight;
			m->inflight = NULL;
		}
		arm_timer(d);
		if (d->keep_trying && !d->wait_told) {
			d->wait_told = true;
			char *msg =
			        xasprintf("discord: 429 rate limited: Discord asks to wait %.0f s; "
			                  "the message goes out then",
			                  ceil(s));
			warn(d, msg);
			free(msg);
		}
		return;
	}
	long code = 0;
	char why[200] = "";
	if (http_failed_with_status(resp)) {
		discord_parse_error(resp->body, resp->len, &code, why, sizeof(why));
	}
	if (resp->status == 401 || resp->status == 403 || resp->status == 404) {
		char *safe = text_sanitize(why, false);
		char *detail = code ? xasprintf("%s, code %ld", safe, code) : xstrdup(safe);
		stop(d, resp->status, detail);
		free(detail);
		free(safe);
		return;
	}
	if (was_post) {
		m->dead = true; /* a POST is never sent twice */
	}
	char *safe = text_sanitize(why, false);
	char *msg = xasprintf("%s%s%s%s", e->msg, safe[0] ? " (" : "", safe, safe[0] ? ")" : "");
	warn(d, msg);
	free(msg);
	free(safe);
	free(m->inflight);
	m->inflight = NULL;
	pump(m);
}

void discord_set_keep_trying(struct discord *d, bool on)
{
	d->keep_trying = on;
}

struct discord_message *discord_post(struct discord *d, const char *content)
{
	if (d->stopped && d->keep_trying) {
		d->stopped = false; /* the webhook may have been fixed meanwhile */
	}
	struct discord_message *m = xcalloc(1, sizeof(*m));
	m->d = d;
	m->pending = xstrdup(content);
	/* Appended, so the order of messages is the order of actions. */
	struct discord_message **tail = &d->messages;
	while (*tail) {
		tail = &(*tail)->next;
	}
	*tail = m;
	pump(m);
	return m;
}

void discord_edit(struct discord_message *m, const char *content)
{
	if (m->d->stopped || m->dead) {
		return;
	}
	free(m->pending);
	m->pending = xstrdup(content);
	pump(m);
}

const char *discord_message_id(const struct discord_message *m)
{
	return m->id;
}

bool discord_idle(const struct discord *d)
{
	if (d->stopped) {
		return true;
	}
	for (const struct discord_message *m = d->messages; m; m = m->next) {
		if (m->req || (m->pending && !m->dead)) {
			return false;
		}
	}
	return true;
}

bool discord_stopped(const struct discord *d)
{
	return d->stopped;
}

unsigned discord_requests(const struct discord *d)
{
	return d->requests;
}

char *discord_escape(const char *text)
{
	char *s = text_sanitize(text, false);
	struct buf b;
	buf_init(&b);
	for (const char *p = s; *p; p++) {
		if (strchr("\\*_~`|<>[]()#", *p)) {
			buf_append(&b, "\\", 1);
			buf_append(&b, p, 1);
		} else if (*p == '@') {
			buf_append(&b, "@\xE2\x80\x8B", 4);
		} else if (strncmp(p, "://", 3) == 0) {
			buf_append(&b, ":\xE2\x80\x8B//", 6);
			p += 2;
		} else {
			buf_append(&b, p, 1);
		}
	}
	free(s);
	buf_append(&b, "", 1);
	return buf_steal(&b);
}

bool discord_parse_message(const char *body, size_t len, char **id, struct err *err)
{
	char jerr[160];
	json_t *root = json_load_body(body, len, jerr, sizeof(jerr));
	if (!root) {
		return err_set(err, ERR_MALFORMED, 0,
		               "discord: the answer to the post is not JSON (%s)", jerr);
	}
	const char *s = json_str(root, "id");
	if (!s || !s[0]) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0,
		               "discord: the answer to the post holds no message id");
	}
	*id = xstrdup(s);
	json_decref(root);
	return true;
}

double discord_parse_retry_after(const char *body, size_t len, double header_seconds, bool *global)
{
	double s = -1;
	if (global) {
		*global = false;
	}
	char jerr[80];
	json_t *root = body && len ? json_load_body(body, len, jerr, sizeof(jerr)) : NULL;
	if (root) {
		double v;
		if (json_num(root, "retry_after", &v) && v >= 0) {
			s = v;
		}
		if (global) {
			*global = json_is_true(json_object_get(root, "global"));
		}
		json_decref(root);
	}
	if (s < 0) {
		s = header_seconds >= 0 ? header_seconds : 1.0;
	}
	return s;
}

void discord_parse_error(const char *body, size_t len, long *code, char *msg, size_t size)
{
	*code = 0;
	if (size) {
		msg[0] = '\0';
	}
	char jerr[80];
	json_t *root = body && len ? json_load_body(body, len, jerr, sizeof(jerr)) : NULL;
	if (!root) {
		return;
	}
	int64_t c;
	if (json_int(root, "code", &c)) {
		*code = (long)c;
	}
	const char *m = json_str(root, "message");
	if (m && size) {
		snprintf(msg, size, "%s", m);
	}
	json_decref(root);
}
