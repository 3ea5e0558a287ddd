/* health.h: how one backend is doing, for the status line: ok, connecting, failing (with the
 * reason and how often in a row), or stale (with the age of its last good data); and how long to
 * wait before the next try. */
#ifndef LABDECK_HEALTH_H
#define LABDECK_HEALTH_H

#include <stddef.h>

#include "err.h"

struct health {
	enum health_state {
		HEALTH_UNCONFIGURED,
		HEALTH_CONNECTING,
		HEALTH_OK,
		HEALTH_FAILING
	} state;
	double last_ok;      /* wall time of the last good answer, 0 never */
	struct err last_err; /* the last failure (kept after recovery, for details) */
	int failures;        /* consecutive failures; 0 after a good answer */
	double retry_at;     /* wall time of the next try after a failure, 0 unknown; its owner
	                      * sets it when it schedules the try */
};

/* health_init: CONNECTING, never ok, no failure, no retry time. */
void health_init(struct health *h);
/* health_ok records a good answer at wall time now (and forgets the retry time). */
void health_ok(struct health *h, double now);
/* health_fail records a failed try: FAILING, failures + 1, err kept as last_err. */
void health_fail(struct health *h, const struct err *err);

/* health_describe writes a short text for a status line: "ok", "connecting…", "not configured",
 * "stale 2m" (ok, but the last good answer is older than 3 × refresh_s; refresh_s <= 0: never
 * stale), "failing: 401 Unauthorized (3 tries)" and, when older data is still shown,
 * "failing: ... — data 2m old"; while h->retry_at is ahead of now, "failing, retry in 45s: ..."
 * (rounded up to the second; first, so a status line cut short keeps it). The backend's name that
 * starts error messages ("kubernetes: ") is left out (the status line names the backend), and the
 * reason is shortened with "…" so that the tries, the retry time and the data age always fit in
 * size bytes. */
void health_describe(const struct health *h, double now, double refresh_s, char *out, size_t size);

/* health_backoff_ms: how long to wait before the next try after h->failures failures in a row:
 * 1 s, doubling, capped at 30 s, each with ±20 % jitter (never above the cap); 0 when nothing
 * failed. */
long health_backoff_ms(const struct health *h);

/* health_retry_after_ms: the wait a 429 or 503 asked for with Retry-After (read from the text
 * http_append_retry_after put in its message), capped at 5 minutes (a server asking for more, or
 * a broken header, is asked again after that); -1 when it did not ask. */
long health_retry_after_ms(const struct err *e);

#endif
