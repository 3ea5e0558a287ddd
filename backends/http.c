/* http.c: libcurl's multi interface on the libevent loop (the pattern of curl's hiperfifo.c):
 * curl tells us which sockets to watch and when its timer fires; libevent tells curl when a
 * socket is ready. Nothing here blocks. */
#include "http.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tls.h"
#include "util.h"

#define DEFAULT_CONNECT_MS 5000L
#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_MAX_BODY ((size_t)64 << 20)
#define DEFAULT_RETRIES 3
#define BACKOFF_BASE_MS 250
#define BACKOFF_CAP_MS 4000
/* A Retry-After longer than this is reported instead of waited for. */
#define RETRY_AFTER_MAX_S 30.0

struct http {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct http_request *head;
	int pending;
	long default_timeout_ms;
};

struct http_request {
	struct http *h;
	struct http_request *prev, *next;
	CURL *easy; /* NULL while waiting to (re)try */
	struct curl_slist *headers;
	struct event *timer;  /* retry delay, or the deferred report of a start error */
	struct event *idle;   /* the stall watch of a stream (idle_timeout_ms) */
	int64_t last_byte_ms; /* when the current attempt last received anything */
	bool stalled;         /* the stall watch ended the attempt */
	/* Copies of the options, owned. */
	char *backend, *method, *url, *body;
	char *fetch_url;               /* url with tls.server_name as its host, or NULL */
	struct curl_slist *connect_to; /* where fetch_url's host really is */
	size_t body_len;
	struct http_tls tls;
	char *tls_strings[6]; /* [4] is the client key, wiped when freed */
	long connect_timeout_ms, timeout_ms, idle_timeout_ms;
	size_t max_body;
	int max_retries;
	http_chunk_fn on_chunk;
	http_done_fn on_done;
	void *ud;
	/* Per attempt. */
	struct buf body_in;
	struct http_response resp;
	struct tls_state tls_state;
	size_t streamed; /* bytes handed to on_chunk over all attempts */
	bool stopped_by_chunk, too_large;
	char errbuf[CURL_ERROR_SIZE];
	struct err start_err; /* set when the request could not start */
};

static void check_multi_info(struct http *h);
static void arm_idle(struct http_request *req, long ms);
static void attempt_finished(struct http_request *req, CURLcode rc);

/* --- libevent <-> curl glue --- */

struct sock_watch {
	struct event *ev;
	struct http *h;
};

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	int flags =
	        (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running = 0;
	curl_multi_socket_action(h->multi, fd, flags, &running);
	check_multi_info(h);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	(void)easy;
	struct http *h = userp;
	struct sock_watch *w = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (w) {
			event_free(w->ev);
			free(w);
			curl_multi_assign(h->multi, s, NULL);
		}
		return 0;
	}
	short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
	             (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (!w) {
		w = xcalloc(1, sizeof(*w));
		w->h = h;
		curl_multi_assign(h->multi, s, w);
	} else {
		event_free(w->ev);
	}
	w->ev = event_new(h->base, s, kind, on_socket_event, h);
	event_add(w->ev, NULL);
	return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct http *h = arg;
	int running = 0;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(h);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	struct http *h = userp;
	if (timeout_ms < 0) {
		evtimer_del(h->timer);
	} else {
		struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
		evtimer_add(h->timer, &tv);
	}
	return 0;
}

struct http *http_create(struct event_base *base)
{
	static bool global_done;
	if (!global_done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_done = true;
	}
	struct http *h = xcalloc(1, sizeof(*h));
	h->base = base;
	h->multi = curl_multi_init();
	h->timer = evtimer_new(base, on_timer, h);
	h->default_timeout_ms = DEFAULT_TIMEOUT_MS;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 6L);
	return h;
}

/* --- request lifetime --- */

static void response_reset(struct http_response *r)
{
	free(r->reason);
	free(r->body);
	free(r->content_type);
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	r->ratelimit_remaining = -1;
	r->ratelimit_reset = -1;
}

static void easy_release(struct http_request *req)
{
	if (req->idle) {
		evtimer_del(req->idle);
	}
	if (req->easy) {
		curl_multi_remove_handle(req->h->multi, req->easy);
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
	}
}

static void request_free(struct http_request *req)
{
	struct http *h = req->h;
	easy_release(req);
	curl_slist_free_all(req->headers);
	if (req->timer) {
		event_free(req->timer);
	}
	if (req->idle) {
		event_free(req->idle);
	}
	if (req->prev) {
		req->prev->next = req->next;
	} else {
		h->head = req->next;
	}
	if (req->next) {
		req->next->prev = req->prev;
	}
	h->pending--;
	free(req->backend);
	free(req->method);
	free(req->url);
	free(req->body);
	if (req->tls_strings[4]) {
		explicit_bzero(req->tls_strings[4], strlen(req->tls_strings[4]));
	}
	for (size_t i = 0; i < 6; i++) {
		free(req->tls_strings[i]);
	}
	free(req->fetch_url);
	curl_slist_free_all(req->connect_to);
	buf_finish(&req->body_in);
	response_reset(&req->resp);
	free(req->resp.reason);
	free(req);
}

void http_destroy(struct http *h)
{
	if (!h) {
		return;
	}
	while (h->head) {
		request_free(h->head);
	}
	curl_multi_cleanup(h->multi);
	event_free(h->timer);
	free(h);
}

void http_set_default_timeout(struct http *h, long timeout_ms)
{
	h->default_timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
}

long http_default_timeout(const struct http *h)
{
	return h->default_timeout_ms;
}

int http_pending(struct http *h)
{
	return h->pending;
}

void http_cancel(struct http_request *req)
{
	if (req) {
		request_free(req);
	}
}

/* --- callbacks from curl for one transfer --- */

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	struct http_request *req = ud;
	req->last_byte_ms = now_mono_ms();
	size_t len = size * n;
	char line[1024];
	size_t copy = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
	memcpy(line, data, copy);
	line[copy] = '\0';
	str_trim(line);
	if (str_has_prefix(line, "HTTP/")) {
		/* A new status line (after 100 Continue or a redirect): start over. */
		free(req->resp.reason);
		free(req->resp.content_type);
		req->resp.reason = NULL;
		req->resp.content_type = NULL;
		req->resp.retry_after = -1;
		req->resp.ratelimit_remaining = -1;
		req->resp.ratelimit_reset = -1;
		char *sp = strchr(line, ' ');
		sp = sp ? strchr(sp + 1, ' ') : NULL;
		if (sp && sp[1]) {
			req->resp.reason = xstrdup(sp + 1);
		}
	} else if (strncasecmp(line, "content-type:", 13) == 0) {
		free(req->resp.content_type);
		req->resp.content_type = xstrdup(str_trim(line + 13));
	} else if (strncasecmp(line, "retry-after:", 12) == 0) {
		char *end;
		double s = strtod(line + 12, &end);
		if (end != line + 12 && s >= 0) {
			req->resp.retry_after = s;
		}
	} else if (strncasecmp(line, "x-ratelimit-remaining:", 22) == 0) {
		char *end;
		long v = strtol(line + 22, &end, 10);
		if (end != line + 22 && v >= 0 && !*str_trim(end)) {
			req->resp.ratelimit_remaining = v;
		}
	} else if (strncasecmp(line, "x-ratelimit-reset:", 18) == 0) {
		char *end;
		double v = strtod(line + 18, &end);
		if (end != line + 18 && v >= 0 && v < 1e11 && !*str_trim(end)) {
			req->resp.ratelimit_reset = v;
		}
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	struct http_request *req = ud;
	size_t len = size * n;
	req->last_byte_ms = now_mono_ms();
	if (req->on_chunk) {
		long status = 0;
		curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300) {
			req->streamed += len;
			if (!req->on_chunk(req->ud, data, len)) {
				req->stopped_by_chunk = true;
				return 0;
			}
			return len;
		}
		/* An error answer to a stream is collected like any body, to explain it. */
	}
	if (req->body_in.len + len > req->max_body) {
		req->too_large = true;
		return 0;
	}
	buf_append(&req->body_in, data, len);
	return len;
}

static void fire_done(struct http_request *req, const struct err *err)
{
	req->resp.len = req->body_in.len;
	req->resp.body = buf_steal(&req->body_in);
	http_done_fn done = req->on_done;
	void *ud = req->ud;
	struct http_response resp = req->resp;
	memset(&req->resp, 0, sizeof(req->resp));
	request_free(req);
	if (done) {
		done(ud, &resp, err);
	}
	free(resp.reason);
	free(resp.body);
	free(resp.content_type);
}

static bool begin_attempt(struct http_request *req);

static void on_request_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct http_request *req = arg;
	if (req->start_err.code != ERR_NONE) {
		struct err e = req->start_err;
		fire_done(req, &e);
		return;
	}
	begin_attempt(req);
}

static void schedule(struct http_request *req, long delay_ms)
{
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
	evtimer_add(req->timer, &tv);
}

static long backoff_ms(int attempt)
{
	long base = BACKOFF_BASE_MS << (attempt > 5 ? 5 : attempt);
	if (base > BACKOFF_CAP_MS) {
		base = BACKOFF_CAP_MS;
	}
	/* Full jitter over the upper half, so clients that failed together do not return together.
	 */
	return base / 2 + (long)(arc4random_uniform((uint32_t)(base / 2 + 1)));
}

/* size_text writes a size limit for a message: "64 MiB", "1 KiB", "1500 bytes" (never rounded to
 * a wrong "0 MiB"). */
static void size_text(size_t n, char *out, size_t out_size)
{
	const size_t mib = (size_t)1 << 20;
	if (n >= mib && n % mib == 0) {
		snprintf(out, out_size, "%zu MiB", n / mib);
	} else if (n >= 1024 && n % 1024 == 0) {
		snprintf(out, out_size, "%zu KiB", n / 1024);
	} else {
		snprintf(out, out_size, "%zu bytes", n);
	}
}

static bool is_idempotent(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Decides what a finished attempt means: success, a retry, or an error for the caller. */
static void attempt_finished(struct http_request *req, CURLcode rc)
{
	long status = 0;
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_off_t retry_after = 0;
	/* curl also understands the HTTP-date form of Retry-After. */
	if (req->resp.retry_after < 0 &&
	    curl_easy_getinfo(req->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
	    retry_after > 0) {
		req->resp.retry_after = (double)retry_after;
	}
	req->resp.status = status;
	req->resp.len = req->body_in.len;
	easy_release(req);

	struct err e;
	err_clear(&e);
	bool retryable = false;
	long delay = backoff_ms(req->resp.attempts - 1);
	if (rc == CURLE_OK) {
		if (status >= 200 && status < 300) {
			fire_done(req, NULL);
			return;
		}
		http_status_error(&e, req->backend, status, req->resp.reason);
		if (status == 429 || status == 502 || status == 503 || status == 504) {
			retryable = true;
			if (req->resp.retry_after >= 0) {
				if (req->resp.retry_after > RETRY_AFTER_MAX_S) {
					retryable = false;
				}
				delay = (long)(req->resp.retry_after * 1000);
			}
		}
	} else if (req->stopped_by_chunk) {
		err_set(&e, ERR_CANCELLED, 0, "%s: stream stopped", req->backend);
	} else if (req->too_large) {
		char limit[32];
		size_text(req->max_body, limit, sizeof(limit));
		err_set(&e, ERR_TOO_LARGE, status,
		        "%s: answer too large: the answer from %s is larger than %s; refused (is "
		        "url the right service, not a proxy or a file server?)",
		        req->backend, req->url, limit);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		if (req->stalled) {
			err_set(&e, ERR_TIMEOUT, 0,
			        "%s: timed out: no data from %s for %.1f s (stalled): the server "
			        "stopped answering; try again, and check the service if it keeps "
			        "happening",
			        req->backend, req->url, req->idle_timeout_ms / 1000.0);
		} else {
			err_set(&e, ERR_TIMEOUT, 0,
			        "%s: timed out: %s did not answer within %.1f s: is it "
			        "overloaded or the link slow? (--timeout SECONDS allows more)",
			        req->backend, req->url, req->timeout_ms / 1000.0);
		}
	} else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
	           rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM) {
		char why[440];
		tls_describe_failure(&req->tls_state,
		                     req->errbuf[0] ? req->errbuf : curl_easy_strerror(rc), why,
		                     sizeof(why));
		err_set(&e, ERR_TLS, 0, "%s: %s", req->backend, why);
	} else if (rc == CURLE_COULDNT_RESOLVE_HOST) {
		err_set(&e, ERR_NETWORK, 0, "%s: cannot resolve host in %s: check the url",
		        req->backend, req->url);
	} else if (rc == CURLE_COULDNT_CONNECT) {
		err_set(&e, ERR_NETWORK, 0,
		        "%s: cannot connect to %s (%s): is it running and reachable?", req->backend,
		        req->url, req->errbuf[0] ? req->errbuf : curl_easy_strerror(rc));
		retryable = true;
	} else if (rc == CURLE_PARTIAL_FILE) {
		err_set(&e, ERR_NETWORK, status,
		        "%s: answer cut short: the connection to %s dropped mid-answer; try "
		        "again, and check the server or proxy if it keeps happening",
		        req->backend, req->url);
		retryable = true;
	} else {
		err_set(&e, ERR_NETWORK, status,
		        "%s: %s (%s): check that the service is up and nothing (proxy, firewall) "
		        "cuts the connection, then try again",
		        req->backend, req->errbuf[0] ? req->errbuf : curl_easy_strerror(rc),
		        req->url);
		retryable =
		        rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR;
	}

	bool may_retry = retryable && is_idempotent(req->method) && req->streamed == 0 &&
	                 req->resp.attempts <= req->max_retries;
	if (may_retry) {
		buf_finish(&req->body_in);
		int attempts = req->resp.attempts;
		response_reset(&req->resp);
		req->resp.attempts = attempts;
		schedule(req, delay);
		return;
	}
	fire_done(req, &e);
}

static void check_multi_info(struct http *h)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(h->multi, &left))) {
		if (msg->msg != CURLMSG_DONE) {
			continue;
		}
		struct http_request *req = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
		attempt_finished(req, msg->data.result);
	}
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct http_request *req = arg;
	if (!req->easy) {
		return;
	}
	int64_t quiet = now_mono_ms() - req->last_byte_ms;
	if (quiet < req->idle_timeout_ms) {
		arm_idle(req, req->idle_timeout_ms - quiet);
		return;
	}
	/* Outside curl's callbacks here, so the transfer can be ended like any finished one. */
	req->stalled = true;
	attempt_finished(req, CURLE_OPERATION_TIMEDOUT);
}

static void arm_idle(struct http_request *req, long ms)
{
	if (!req->idle) {
		req->idle = evtimer_new(req->h->base, on_idle, req);
	}
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(req->idle, &tv);
}

static bool begin_attempt(struct http_request *req)
{
	CURL *easy = curl_easy_init();
	req->easy = easy;
	req->resp.attempts++;
	req->errbuf[0] = '\0';
	req->stopped_by_chunk = req->too_large = false;
	curl_easy_setopt(easy, CURLOPT_URL, req->fetch_url ? req->fetch_url : req->url);
	if (req->connect_to) {
		curl_easy_setopt(easy, CURLOPT_CONNECT_TO, req->connect_to);
	}
	curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
	if (req->timeout_ms > 0) {
		curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	}
	if (req->idle_timeout_ms > 0) {
		/* Our own watch, not curl's low-speed check (which averages over seconds and fired
		 * 5-6 s late): no byte for idle_timeout_ms ends the attempt. */
		req->stalled = false;
		req->last_byte_ms = now_mono_ms();
		arm_idle(req, req->idle_timeout_ms);
	}
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "labdeck/" LABDECK_VERSION);
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers);
	if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
	}
	if (req->body) {
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	tls_apply(easy, &req->tls, &req->tls_state);
	CURLMcode mc = curl_multi_add_handle(req->h->multi, easy);
	if (mc != CURLM_OK) {
		err_set(&req->start_err, ERR_NETWORK, 0, "%s: cannot start request: %s",
		        req->backend, curl_multi_strerror(mc));
		curl_easy_cleanup(easy);
		req->easy = NULL;
		schedule(req, 0);
		return false;
	}
	return true;
}

/* route_server_name makes the TLS name tls.server_name while the connection still goes to the
 * url's host: curl fetches fetch_url (the url with server_name as host), connect_to sends that
 * name's connections to the url's host and port, and a Host header keeps the url's host (as
 * kubectl sends it). False when either is not a usable host. */
static bool route_server_name(struct http_request *req)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *explicit_port = NULL, *fetch = NULL;
	bool ok = curl_url_set(u, CURLUPART_URL, req->url, 0) == CURLUE_OK &&
	          curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	          curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	          curl_url_set(u, CURLUPART_HOST, req->tls.server_name, 0) == CURLUE_OK &&
	          curl_url_get(u, CURLUPART_URL, &fetch, 0) == CURLUE_OK &&
	          !strpbrk(req->tls.server_name, ":/@[] \t\r\n");
	if (ok) {
		char *route = xasprintf("%s:%s:%s:%s", req->tls.server_name, port, host, port);
		req->connect_to = curl_slist_append(NULL, route);
		free(route);
		req->fetch_url = xstrdup(fetch);
		bool has_port = curl_url_get(u, CURLUPART_PORT, &explicit_port, 0) == CURLUE_OK;
		char *hd = has_port ? xasprintf("Host: %s:%s", host, explicit_port)
		                    : xasprintf("Host: %s", host);
		req->headers = curl_slist_append(req->headers, hd);
		free(hd);
	}
	curl_free(host);
	curl_free(port);
	curl_free(explicit_port);
	curl_free(fetch);
	curl_url_cleanup(u);
	return ok;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct http_request *http_start(struct http *h, const struct http_request_opts *o)
{
	struct http_request *req = xcalloc(1, sizeof(*req));
	req->h = h;
	req->next = h->head;
	if (h->head) {
		h->head->prev = req;
	}
	h->head = req;
	h->pending++;
	req->timer = evtimer_new(h->base, on_request_timer, req);
	req->backend = xstrdup(o->backend ? o->backend : "http");
	req->method = xstrdup(o->method ? o->method : "GET");
	req->url = xstrdup(o->url ? o->url : "");
	if (o->body) {
		req->body = xmalloc(o->body_len + 1);
		memcpy(req->body, o->body, o->body_len);
		req->body[o->body_len] = '\0';
		req->body_len = o->body_len;
	}
	if (o->tls) {
		req->tls = *o->tls;
		req->tls.ca_file = req->tls_strings[0] = dup_or_null(o->tls->ca_file);
		req->tls.ca_pem = req->tls_strings[1] = dup_or_null(o->tls->ca_pem);
		req->tls.fingerprint = req->tls_strings[2] = dup_or_null(o->tls->fingerprint);
		req->tls.client_cert_pem = req->tls_strings[3] =
		        dup_or_null(o->tls->client_cert_pem);
		req->tls.client_key_pem = req->tls_strings[4] = dup_or_null(o->tls->client_key_pem);
		req->tls.server_name = req->tls_strings[5] = dup_or_null(o->tls->server_name);
	}
	for (const char *const *hd = o->headers; hd && *hd; hd++) {
		req->headers = curl_slist_append(req->headers, *hd);
	}
	/* libcurl would send "Expect: 100-continue" for larger bodies: one round trip wasted. */
	req->headers = curl_slist_append(req->headers, "Expect:");
	req->connect_timeout_ms =
	        o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_CONNECT_MS;
	req->timeout_ms = o->timeout_ms != 0 ? o->timeout_ms : h->default_timeout_ms;
	req->idle_timeout_ms = o->idle_timeout_ms;
	req->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
	req->max_retries = o->max_retries < 0 ? DEFAULT_RETRIES : o->max_retries;
	req->on_chunk = o->on_chunk;
	req->on_done = o->on_done;
	req->ud = o->ud;
	buf_init(&req->body_in);
	response_reset(&req->resp);
	if (!str_has_prefix(req->url, "http://") && !str_has_prefix(req->url, "https://")) {
		err_set(&req->start_err, ERR_CONFIG, 0,
		        "%s: url '%s' must start with https:// or http://", req->backend, req->url);
		schedule(req, 0);
		return req;
	}
	if (req->tls.server_name && str_has_prefix(req->url, "https://") &&
	    !route_server_name(req)) {
		err_set(&req->start_err, ERR_CONFIG, 0,
		        "%s: tls-server-name '%s' is not a host name (or url '%s' has no "
		        "host): fix it in the kubeconfig",
		        req->backend, req->tls.server_name, req->url);
		schedule(req, 0);
		return req;
	}
	begin_attempt(req);
	return req;
}

void http_status_error(struct err *err, const char *backend, long status, const char *detail)
{
	const char *hint = status == 401   ? ": check the credentials"
	                   : status == 403 ? ": permission denied for this token or user"
	                   : status == 404 ? ": not there (gone, or a wrong url or name?)"
	                   : status == 429 ? ": rate limited; wait a little and try again"
	                   : status >= 500
	                           ? ": the server failed; try again later, or check its logs"
	                           : "";
	err_set(err, err_code_for_status(status), status, "%s: %ld %s%s", backend, status,
	        detail && *detail ? detail : "error", hint);
}

bool http_failed_with_status(const struct http_response *resp)
{
	return resp && resp->status > 0 && (resp->status < 200 || resp->status >= 300);
}

void http_append_retry_after(struct err *err, const struct http_response *resp)
{
	if (resp && resp->retry_after >= 0 && (resp->status == 429 || resp->status == 503)) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n,
		         "; the server asks to retry after %.0f s", resp->retry_after);
	}
}
