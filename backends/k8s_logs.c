/* k8s_logs.c: see k8s_logs.h. The request goes through k8s_request (credentials as for every
 * Kubernetes call); the body is split into lines as it arrives. A cancel from inside line_cb only
 * marks the handle: the chunk callback then stops the transfer, and the handle is freed when the
 * request ends, a moment later in the same loop pass (curl forbids ending a transfer from inside
 * its own callback). */
#include "k8s_logs.h"

#include <stdlib.h>
#include <string.h>

#include "ndjson.h"
#include "util.h"

/* Without follow the whole answer comes at once; stalled for this long, it is given up. */
#define READ_IDLE_MS 30000L
#define MAX_ERROR_BODY ((size_t)1 << 20)

struct k8s_logs {
	struct k8s_op *op;
	struct ndjson split;
	k8s_log_line_fn line_cb;
	k8s_log_done_fn done_cb;
	void *ud;
	bool dispatching; /* inside line_cb */
	bool cancelled;   /* cancelled while dispatching: free when the request ends */
};

static void logs_free(struct k8s_logs *h)
{
	ndjson_destroy(&h->split);
	free(h);
}

static bool on_line(void *ud, const char *line, size_t len)
{
	struct k8s_logs *h = ud;
	if (h->cancelled) {
		return false;
	}
	h->line_cb(h->ud, line, len);
	return !h->cancelled;
}

static bool on_chunk(void *ud, const char *data, size_t len)
{
	struct k8s_logs *h = ud;
	if (h->cancelled) {
		return false;
	}
	h->dispatching = true;
	bool go = ndjson_feed(&h->split, data, len);
	h->dispatching = false;
	return go && !h->cancelled;
}

static void on_done(void *ud, struct http_response *resp, const struct err *err)
{
	(void)resp;
	struct k8s_logs *h = ud;
	h->op = NULL;
	if (!h->cancelled && !err) {
		h->dispatching = true;
		ndjson_finish(&h->split); /* a last line without '\n' */
		h->dispatching = false;
	}
	if (h->cancelled) {
		logs_free(h);
		return;
	}
	k8s_log_done_fn done = h->done_cb;
	void *cb_ud = h->ud;
	struct err copy;
	if (err) {
		copy = *err;
	}
	logs_free(h);
	if (done) {
		done(cb_ud, err ? &copy : NULL);
	}
}

struct k8s_logs *k8s_follow_logs(struct k8s *k, const char *ns, const char *pod,
                                 const char *container, int tail_lines, bool follow,
                                 k8s_log_line_fn line_cb, k8s_log_done_fn done_cb, void *ud)
{
	struct k8s_logs *h = xcalloc(1, sizeof(*h));
	h->line_cb = line_cb;
	h->done_cb = done_cb;
	h->ud = ud;
	ndjson_init(&h->split, NDJSON_MAX_LINE, on_line, NULL, h);

	struct buf path;
	buf_init(&path);
	char *ens = url_escape(ns ? ns : "default");
	char *epod = url_escape(pod ? pod : "");
	buf_appendf(&path, "/api/v1/namespaces/%s/pods/%s/log", ens, epod);
	free(ens);
	free(epod);
	char sep = '?';
	if (follow) {
		buf_appendf(&path, "%cfollow=true", sep);
		sep = '&';
	}
	if (tail_lines >= 0) {
		buf_appendf(&path, "%ctailLines=%d", sep, tail_lines);
		sep = '&';
	}
	if (container && *container) {
		char *ec = url_escape(container);
		buf_appendf(&path, "%ccontainer=%s", sep, ec);
		free(ec);
	}
	struct k8s_request_opts o = {
	        .path = path.data,
	        .accept = "Accept: */*",
	        .what = "pod logs",
	        .max_retries = -1, /* only before the first byte: http.h never repeats data */
	        .timeout_ms = -1,
	        .idle_timeout_ms = follow ? 0 : READ_IDLE_MS,
	        .max_body = MAX_ERROR_BODY,
	        .on_chunk = on_chunk,
	        .on_done = on_done,
	        .ud = h,
	};
	h->op = k8s_request(k, &o);
	buf_finish(&path);
	return h;
}

void k8s_logs_cancel(struct k8s_logs *h)
{
	if (!h || h->cancelled) {
		return;
	}
	if (h->dispatching) {
		h->cancelled = true;
		return;
	}
	k8s_op_cancel(h->op);
	logs_free(h);
}

size_t k8s_logs_dropped(const struct k8s_logs *h)
{
	return h ? h->split.dropped : 0;
}
