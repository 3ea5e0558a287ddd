/* k8s_logs.h: a pod's log as a stream of lines (GET .../pods/{pod}/log, text/plain), followed live
 * or read once, through the line splitter of ndjson.h. */
#ifndef LABDECK_K8S_LOGS_H
#define LABDECK_K8S_LOGS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "k8s.h"

struct k8s_logs;

/* One log line, without its '\n', NOT NUL-terminated, raw bytes from the container (sanitise
 * before display). */
typedef void (*k8s_log_line_fn)(void *ud, const char *line, size_t len);
/* The end: err NULL when the stream ended normally (the container stopped, or the whole log was
 * read when not following); otherwise what went wrong, e.g. "kubernetes: 400 a container name
 * must be specified for pod web-1, choose one of: [app sidecar] (pod logs)". The handle is gone
 * by the time this runs. */
typedef void (*k8s_log_done_fn)(void *ud, const struct err *err);

/* k8s_follow_logs reads the log of container (NULL: the pod's only one) of pod ns/pod: the last
 * tail_lines lines (< 0: all), then, when follow, new lines as they come, with no time limit.
 * Returns a handle for k8s_logs_cancel. */
struct k8s_logs *k8s_follow_logs(struct k8s *k, const char *ns, const char *pod,
                                 const char *container, int tail_lines, bool follow,
                                 k8s_log_line_fn line_cb, k8s_log_done_fn done_cb, void *ud);
/* k8s_logs_cancel stops the stream at once, even while the server sends nothing; no callback
 * follows. It may be called from inside line_cb. NULL-safe. */
void k8s_logs_cancel(struct k8s_logs *h);
/* k8s_logs_dropped: how many lines were longer than NDJSON_MAX_LINE and left out so far. */
size_t k8s_logs_dropped(const struct k8s_logs *h);

#endif
