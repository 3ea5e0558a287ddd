/* http.h: every HTTP request labdeck makes, through the libcurl multi interface driven by the one
 * libevent loop. Requests are asynchronous, bounded (connect and total timeouts, a size cap) and
 * cancellable. Idempotent GETs retry with backoff and jitter; 429/503 honour Retry-After; a
 * changing request (POST, PUT, PATCH, DELETE) is never retried on its own. */
#ifndef LABDECK_HTTP_H
#define LABDECK_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct event_base;
struct http;
struct http_request;

/* How to trust the server. Strings are copied when the request starts. */
struct http_tls {
	const char *ca_file;         /* CA bundle path, NULL: the system store */
	const char *ca_pem;          /* CA as PEM text (kubeconfig certificate-authority-data) */
	const char *fingerprint;     /* "AA:BB:..." SHA-256 pin of the leaf certificate */
	bool insecure;               /* verify nothing */
	const char *client_cert_pem; /* client certificate (PEM text) */
	const char *client_key_pem;  /* its key (PEM text) */
	/* The name the certificate is checked against and sent as SNI, when it is not the url's
	 * host (kubeconfig tls-server-name): the connection still goes to the url's host and port,
	 * and Host stays the url's. */
	const char *server_name;
};

struct http_response {
	long status;  /* HTTP status, 0 when none arrived */
	char *reason; /* the status line's reason phrase ("authentication failure") or NULL */
	char *body;   /* NUL-terminated; empty when streamed */
	size_t len;
	char *content_type; /* or NULL */
	double retry_after; /* seconds from Retry-After, -1 when absent */
	int attempts;       /* how many tries it took */
	/* GitHub-style rate-limit headers of the last answer: X-RateLimit-Remaining (requests
	 * left, -1 when absent) and X-RateLimit-Reset (when the limit resets, epoch seconds, -1
	 * when absent). */
	long ratelimit_remaining;
	double ratelimit_reset;
};

/* Called with each piece of the body as it arrives (streaming); return false to stop (the request
 * then finishes with ERR_CANCELLED). When set, the body is not accumulated. */
typedef bool (*http_chunk_fn)(void *ud, const char *data, size_t len);

/* Called exactly once when the request ends (not after http_cancel). err is NULL on a 2xx answer;
 * otherwise err describes the failure and resp (never NULL) holds what arrived. The response is
 * freed after the callback returns. */
typedef void (*http_done_fn)(void *ud, struct http_response *resp, const struct err *err);

struct http_request_opts {
	const char *backend; /* "proxmox", used in messages */
	const char *method;  /* NULL: GET */
	const char *url;
	const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL */
	const char *body;           /* request body or NULL */
	size_t body_len;
	const struct http_tls *tls;
	long connect_timeout_ms; /* 0: 5000 */
	long timeout_ms;      /* total per attempt; 0: the client's default; -1: none (streams) */
	long idle_timeout_ms; /* abort when no byte arrives for this long; 0: off */
	size_t max_body;      /* 0: 64 MiB */
	int max_retries;      /* GET only; -1: the default (3); 0: no retry */
	http_chunk_fn on_chunk;
	http_done_fn on_done;
	void *ud;
};

/* http_create binds a client to the loop. */
struct http *http_create(struct event_base *base);
/* http_destroy cancels every request still running (no callbacks). NULL-safe. */
void http_destroy(struct http *h);

/* http_start begins a request and returns its handle, valid until on_done runs or it is cancelled.
 * Errors at start (bad URL...) are reported through on_done from the loop, never synchronously. */
struct http_request *http_start(struct http *h, const struct http_request_opts *opts);
/* http_cancel stops a running request; its on_done is not called. */
void http_cancel(struct http_request *req);
/* http_set_default_timeout sets the total timeout used when a request passes 0 (default 30 s). */
void http_set_default_timeout(struct http *h, long timeout_ms);
/* http_default_timeout: the total timeout a request that passes 0 gets, in ms (a backend with a
 * shorter limit of its own takes the smaller of the two, so --timeout is always honoured). */
long http_default_timeout(const struct http *h);
/* http_pending counts requests not yet finished. */
int http_pending(struct http *h);

/* http_status_error fills err from an HTTP status (401/403 → ERR_AUTH, 404 → ERR_NOT_FOUND,
 * 429 → ERR_RATE_LIMIT, 5xx → ERR_SERVER, other 4xx → ERR_REJECTED) with "backend: STATUS text". */
void http_status_error(struct err *err, const char *backend, long status, const char *detail);

/* http_failed_with_status: the server answered, with a non-2xx status (as opposed to a transport
 * failure, where the error itself says what happened). */
bool http_failed_with_status(const struct http_response *resp);
/* http_append_retry_after adds "; the server asks to retry after N s" for a 429/503 that said so.
 */
void http_append_retry_after(struct err *err, const struct http_response *resp);

#endif
