/* discord.h: the Discord webhook mirror of the action log. One message per action: the first
 * state is POSTed to {webhook}?wait=true (the answer is the message, whose id is kept), each
 * later state edits it (PATCH {webhook}/messages/{id}). Edits are coalesced: one request in
 * flight per message, and only the newest state is sent after it, so the final state is never
 * dropped. Every body carries "allowed_mentions":{"parse":[]} (no pings from lab names).
 *
 * A 429 waits for retry_after (the JSON body's float seconds, else the Retry-After header) for
 * every message (the limit may be global), then sends the newest state; a POST is repeated only
 * then, as Discord documents a 429 as not executed. A 401, 403 or 404 (Unknown Webhook, code
 * 10015) means the webhook was deleted or is wrong: posting stops for the rest of the run after
 * ONE warning. Any other failure is one warning for that message. The webhook URL holds a secret
 * token: it never appears in a warning; "discord webhook" stands for it. */
#ifndef LABDECK_DISCORD_H
#define LABDECK_DISCORD_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct event_base;
struct http;
struct discord;
struct discord_message;

/* Called with a warning for a person ("discord: the webhook was deleted or is wrong ..."), never
 * holding the webhook URL or its token. */
typedef void (*discord_warn_fn)(void *ud, const char *msg);

/* discord_new makes a mirror posting to webhook_url (copied) through http on base. warn may be
 * NULL. */
struct discord *discord_new(struct event_base *base, struct http *http, const char *webhook_url,
                            discord_warn_fn warn, void *ud);
/* discord_free cancels what is in flight or waiting and frees the mirror and its messages.
 * NULL-safe. */
void discord_free(struct discord *d);

/* discord_set_keep_trying makes d fit a console that runs for hours (off by default, for a
 * command that posts once): after a 401, 403 or 404 posting stops only until the next
 * discord_post, which tries again (the webhook may have been fixed; a new failure warns again),
 * and a 429 wait is told once ("discord: 429 rate limited: Discord asks to wait N s ...") until
 * a request succeeds. */
void discord_set_keep_trying(struct discord *d, bool on);

/* discord_post starts a new message with content (Discord Markdown, at most 2000 characters:
 * longer content is cut with "…") and returns its handle, valid until discord_free. Network
 * text in content must have gone through discord_escape. */
struct discord_message *discord_post(struct discord *d, const char *content);
/* discord_edit makes content the message's newest state: sent now when nothing is in flight
 * for it, else after the request in flight (replacing any state still waiting). */
void discord_edit(struct discord_message *m, const char *content);

/* discord_message_id is the message's id once the POST was answered, else NULL. */
const char *discord_message_id(const struct discord_message *m);
/* discord_idle: nothing in flight or waiting to be sent (or posting has stopped). */
bool discord_idle(const struct discord *d);
/* discord_stopped: posting stopped (401/403/404): for the rest of the run, or with
 * discord_set_keep_trying until the next discord_post. */
bool discord_stopped(const struct discord *d);
/* discord_requests counts the requests started (for tests and the status line). */
unsigned discord_requests(const struct discord *d);

/* discord_escape returns text (network text: guest names, app names) made inert in Discord
 * Markdown: controls and escape sequences removed (text_sanitize), the Markdown characters
 * \ * _ ~ ` | < > [ ] ( ) # backslash-escaped, and "@" and "://" broken with a zero-width space
 * so no mention or link forms. */
char *discord_escape(const char *text);

/* discord_parse_message takes the message id out of the answer to POST ?wait=true (a Message
 * object); false with err (ERR_MALFORMED) when there is none. *id is heap. */
bool discord_parse_message(const char *body, size_t len, char **id, struct err *err);

/* discord_parse_retry_after reads a 429 body {"message","retry_after":64.57,"global":bool}:
 * the seconds to wait (the body's, else header_seconds when >= 0, else 1) and, when global is
 * not NULL, whether the limit is global. */
double discord_parse_retry_after(const char *body, size_t len, double header_seconds, bool *global);

/* discord_parse_error reads Discord's error body {"message","code"}: *code (0 when absent) and
 * the message copied into msg (empty when absent). */
void discord_parse_error(const char *body, size_t len, long *code, char *msg, size_t size);

#endif
