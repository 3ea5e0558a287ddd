/* k8s_parse.h: pure parsers for Kubernetes API answers (no I/O). */
#ifndef LABDECK_K8S_PARSE_H
#define LABDECK_K8S_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"

/* Per-node figures kept beside the node row for CPU/memory fractions and topology. */
struct k8s_node_extra {
	int64_t alloc_cpu_milli; /* allocatable cpu, millicores; -1 unknown */
	int64_t alloc_mem;       /* allocatable memory, bytes; -1 unknown */
	int64_t capacity_cpu_milli;
	int64_t capacity_mem;
};

/* GET /api/v1/nodes (NodeList JSON): one row per node. status is Ready/NotReady/Unknown from the
 * Ready condition; pressures lists conditions other than Ready whose status is "True"; cpus from
 * capacity.cpu; mem_total = capacity.memory; uptime = now - Ready.lastTransitionTime when Ready.
 * extras (may be NULL) gets one entry per row, in the same order (caller frees the array). */
bool k8s_parse_nodes(const char *body, size_t len, double now, struct node_list *out,
                     struct k8s_node_extra **extras, struct err *err);

/* Node usage from metrics.k8s.io. */
struct k8s_node_usage {
	char *name;
	int64_t cpu_nano; /* nanocores */
	int64_t mem;      /* bytes */
};

/* GET /apis/metrics.k8s.io/v1beta1/nodes (NodeMetricsList). *out is an array of *n entries. */
bool k8s_parse_node_metrics(const char *body, size_t len, struct k8s_node_usage **out, size_t *n,
                            struct err *err);
void k8s_node_usage_free(struct k8s_node_usage *u, size_t n);

/* GET /api/v1/pods?limit=N with the Table Accept header: appends rows to out. Columns are found
 * by name (Name, Ready, Status, Restarts, IP, Node) so any server version works; namespace and
 * creationTimestamp come from row.object.metadata. Also accepts a plain PodList (kind PodList) for
 * servers that ignore the Table request. *continue_token gets metadata.continue (NULL when
 * empty); caller frees it. */
bool k8s_parse_pod_table(const char *body, size_t len, struct pod_list *out, char **continue_token,
                         struct err *err);

/* k8s_parse_pod_page is k8s_parse_pod_table that also hands out the list's
 * metadata.resourceVersion (*resource_version, NULL when absent; caller frees), where a watch of
 * the same list starts. */
bool k8s_parse_pod_page(const char *body, size_t len, struct pod_list *out, char **continue_token,
                        char **resource_version, struct err *err);

/* k8s_parse_pod: GET /api/v1/namespaces/{ns}/pods/{name} (one Pod) as the row kubectl shows for
 * it (READY, STATUS and RESTARTS derived from the container statuses). */
bool k8s_parse_pod(const char *body, size_t len, struct pod_row *out, struct err *err);

/* A Kubernetes Status object (errors). */
struct k8s_status {
	char *reason;  /* "Expired", "Forbidden", ... or NULL */
	char *message; /* verbatim message or NULL */
	long code;
};

/* k8s_parse_status returns false when body is not a Status object. */
bool k8s_parse_status(const char *body, size_t len, struct k8s_status *out);
void k8s_status_finish(struct k8s_status *s);

/* One line of a pod watch stream (GET .../pods?watch=1, NDJSON). */
enum k8s_watch_type {
	K8S_WATCH_ADDED,
	K8S_WATCH_MODIFIED,
	K8S_WATCH_DELETED,
	K8S_WATCH_BOOKMARK, /* only a resourceVersion to resume from */
	K8S_WATCH_EXPIRED,  /* ERROR with a 410 Status (Expired/Gone): list again */
	K8S_WATCH_ERROR,    /* ERROR with another Status */
};

struct k8s_watch_event {
	enum k8s_watch_type type;
	struct pod_row pod;       /* ADDED/MODIFIED/DELETED: the pod as a row (name always set) */
	char *resource_version;   /* the object's metadata.resourceVersion, NULL if none */
	struct k8s_status status; /* EXPIRED/ERROR: the Status (fields may be empty) */
};

/* k8s_parse_watch_event reads one event {"type", "object"} of len bytes. ADDED, MODIFIED and
 * DELETED carry a Pod (its row is derived as kubectl derives READY/STATUS/RESTARTS); BOOKMARK
 * carries only metadata.resourceVersion; ERROR carries a Status, and a 410 one (reason Expired or
 * Gone) comes back as K8S_WATCH_EXPIRED. Not JSON, no or an unknown type, no object, a Pod without
 * a name or a bookmark without a resourceVersion: false with ERR_MALFORMED (out is left empty).
 * Release out with k8s_watch_event_finish. */
bool k8s_parse_watch_event(const char *line, size_t len, struct k8s_watch_event *out,
                           struct err *err);
void k8s_watch_event_finish(struct k8s_watch_event *ev);

/* k8s_restarts_cell: "3 (5m ago)" or 3 -> 3; -1 when unparseable. */
int64_t k8s_restarts_cell(const char *s);

#endif
