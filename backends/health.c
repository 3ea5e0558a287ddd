/* health.c: see health.h. */
#include "health.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

#define BACKOFF_FIRST_MS 1000L
#define BACKOFF_CAP_MS 30000L
#define STALE_FACTOR 3.0

void health_init(struct health *h)
{
	memset(h, 0, sizeof(*h));
	h->state = HEALTH_CONNECTING;
	err_clear(&h->last_err);
}

void health_ok(struct health *h, double now)
{
	h->state = HEALTH_OK;
	h->last_ok = now;
	h->failures = 0;
	h->retry_at = 0;
}

void health_fail(struct health *h, const struct err *err)
{
	h->state = HEALTH_FAILING;
	if (h->failures < INT32_MAX) {
		h->failures++;
	}
	if (err) {
		h->last_err = *err;
	} else {
		err_set(&h->last_err, ERR_NETWORK, 0, "unknown failure");
	}
}

/* reason_text skips a leading "backend: " (a lowercase word and a colon) of an error message. */
static const char *reason_text(const char *msg)
{
	const char *p = msg;
	while ((*p >= 'a' && *p <= 'z') || *p == '_' || *p == '-') {
		p++;
	}
	if (p > msg && p[0] == ':' && p[1] == ' ') {
		return p + 2;
	}
	return msg;
}

/* fit_utf8 copies s into out (size bytes), shortened with "…" at a character boundary when it
 * does not fit. */
static void fit_utf8(const char *s, char *out, size_t size)
{
	if (size == 0) {
		return;
	}
	size_t len = strlen(s);
	if (len < size) {
		memcpy(out, s, len + 1);
		return;
	}
	static const char ellipsis[] = "…";
	size_t el = sizeof(ellipsis) - 1;
	if (size <= el) {
		out[0] = '\0';
		return;
	}
	size_t keep = size - 1 - el;
	while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80) {
		keep--; /* do not cut a character in two */
	}
	memcpy(out, s, keep);
	memcpy(out + keep, ellipsis, el + 1);
}

void health_describe(const struct health *h, double now, double refresh_s, char *out, size_t size)
{
	if (size == 0) {
		return;
	}
	char age[32];
	double old = h->last_ok > 0 ? now - h->last_ok : 0;
	format_duration(old > 0 ? (int64_t)old : 0, age, sizeof(age));
	switch (h->state) {
	case HEALTH_UNCONFIGURED:
		snprintf(out, size, "not configured");
		return;
	case HEALTH_CONNECTING:
		snprintf(out, size, "connecting…");
		return;
	case HEALTH_OK:
		if (refresh_s > 0 && h->last_ok > 0 && old > STALE_FACTOR * refresh_s) {
			snprintf(out, size, "stale %s", age);
		} else {
			snprintf(out, size, "ok");
		}
		return;
	case HEALTH_FAILING:
		break;
	}
	char suffix[96] = "";
	size_t n = 0;
	if (h->failures > 1) {
		n += (size_t)snprintf(suffix, sizeof(suffix), " (%d tries)", h->failures);
	}
	if (h->last_ok > 0) {
		snprintf(suffix + n, sizeof(suffix) - n, " — data %s old", age);
	}
	/* The next try goes first: a status line cut short keeps it, and loses the reason's end. */
	char head[64] = "failing: ";
	if (h->retry_at > now) {
		char in[32];
		format_duration((int64_t)ceil(h->retry_at - now), in, sizeof(in));
		snprintf(head, sizeof(head), "failing, retry in %s: ", in);
	}
	size_t fixed = strlen(head) + strlen(suffix);
	if (fixed >= size) {
		snprintf(out, size, "failing");
		return;
	}
	memcpy(out, head, strlen(head));
	fit_utf8(reason_text(h->last_err.msg), out + strlen(head), size - fixed);
	strcat(out, suffix);
}

long health_backoff_ms(const struct health *h)
{
	if (h->failures <= 0) {
		return 0;
	}
	long base = BACKOFF_FIRST_MS;
	for (int i = 1; i < h->failures && base < BACKOFF_CAP_MS; i++) {
		base *= 2;
	}
	if (base > BACKOFF_CAP_MS) {
		base = BACKOFF_CAP_MS;
	}
	/* ±20 %, so clients that failed together do not come back together. */
	long spread = base / 5;
	long delay = base - spread + (long)arc4random_uniform((uint32_t)(2 * spread + 1));
	return delay > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : delay;
}

/* The longest wait a Retry-After gets honoured for. */
#define RETRY_AFTER_CAP_MS (5L * 60 * 1000)
/* What http_append_retry_after (http.h) adds to the message of a 429 or 503 with Retry-After. */
#define RETRY_AFTER_TEXT "the server asks to retry after "

long health_retry_after_ms(const struct err *e)
{
	if (e->http_status != 429 && e->http_status != 503) {
		return -1;
	}
	const char *p = strstr(e->msg, RETRY_AFTER_TEXT);
	if (!p) {
		return -1;
	}
	char *end;
	double sec = strtod(p + strlen(RETRY_AFTER_TEXT), &end);
	if (end == p + strlen(RETRY_AFTER_TEXT) || !(sec >= 0)) {
		return -1;
	}
	return sec * 1000 >= (double)RETRY_AFTER_CAP_MS ? RETRY_AFTER_CAP_MS : (long)(sec * 1000);
}
