/* k8s_detail.h: one pod in detail, as `kubectl describe pod` shows it: its status, conditions,
 * containers (with their current and last state) and its events, oldest first. The pod and its
 * events are fetched in parallel; the parsers are pure and separate. */
#ifndef LABDECK_K8S_DETAIL_H
#define LABDECK_K8S_DETAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "k8s.h"
#include "model.h"

enum pod_state_kind { POD_STATE_NONE, POD_STATE_RUNNING, POD_STATE_WAITING, POD_STATE_TERMINATED };

/* A container's state (state or lastState in the API). */
struct pod_container_state {
	enum pod_state_kind kind;
	char *reason;              /* CrashLoopBackOff, Error, OOMKilled, Completed... or NULL */
	char *message;             /* or NULL */
	int64_t exit_code, signal; /* TERMINATED; -1 unknown, signal 0 when none */
	double started, finished;  /* epoch seconds, NAN if unknown */
	/* As text: "running since 2019-08-09T05:12:20Z", "waiting: CrashLoopBackOff",
	 * "terminated: Error (exit 1)", "terminated: OOMKilled (exit 137, signal 9)"; NULL for
	 * POD_STATE_NONE. */
	char *text;
};

struct pod_container {
	char *name;
	char *image;
	bool init; /* an init container (listed first, as they run first) */
	bool ready;
	int64_t restart_count; /* -1 unknown */
	struct pod_container_state state, last_state;
};

struct pod_condition {
	char *type, *status, *reason, *message; /* reason and message may be NULL */
	double last_transition;                 /* epoch seconds, NAN if unknown */
};

struct pod_event {
	char *type;                             /* Normal, Warning */
	char *reason;                           /* Scheduled, Pulled, BackOff... */
	char *message;                          /* or NULL */
	int64_t count;                          /* how often it happened, at least 1 */
	double first_timestamp, last_timestamp; /* epoch seconds, NAN if unknown */
	char *source; /* "kubelet, node1" (source.component, host) or the reporting component */
	char *involved_uid; /* the involvedObject's uid or NULL */
};

struct pod_detail {
	struct pod_row row; /* namespace, name, kubectl's STATUS (row.phase), READY, RESTARTS, node,
	                       created, IP */
	char *uid;
	char *phase;  /* status.phase: Pending, Running, Succeeded, Failed, Unknown; or NULL */
	char *reason; /* status.reason (Evicted...) or NULL */
	char *message;
	char *host_ip;
	double start_time; /* status.startTime, NAN if unknown */
	char *qos;         /* status.qosClass or NULL */
	struct pod_condition *conditions;
	size_t n_conditions;
	struct pod_container *containers; /* init containers first, then the others */
	size_t n_containers;
	struct pod_event *events; /* sorted by last_timestamp, oldest first */
	size_t n_events;
	/* Set by k8s_fetch_pod_detail: */
	bool failed; /* the pod could not be read: err says why */
	struct err err;
	bool events_failed; /* the pod was read but not its events (e.g. RBAC): events_err says why
	                     */
	struct err events_err;
};

/* k8s_parse_pod_detail reads GET /api/v1/namespaces/{ns}/pods/{name} into out, which must be
 * empty (zeroed, or after pod_detail_finish); events are left untouched. Missing or mistyped
 * fields stay unknown (NULL, NAN, -1). */
bool k8s_parse_pod_detail(const char *body, size_t len, struct pod_detail *out, struct err *err);

/* k8s_parse_events reads an EventList (GET /api/v1/namespaces/{ns}/events) into *events (*n of
 * them, NULL when none), sorted by last_timestamp (lastTimestamp, else series.lastObservedTime,
 * else eventTime, else firstTimestamp), oldest first. */
bool k8s_parse_events(const char *body, size_t len, struct pod_event **events, size_t *n,
                      struct err *err);

void pod_detail_finish(struct pod_detail *d);
/* pod_detail_free finishes and frees a detail handed out by k8s_fetch_pod_detail. NULL-safe. */
void pod_detail_free(struct pod_detail *d);
void pod_events_free(struct pod_event *events, size_t n);

/* The answer: d is the callee's (pod_detail_free). d->failed says whether the pod was read. */
typedef void (*k8s_pod_detail_fn)(void *ud, struct pod_detail *d);

struct k8s_detail;

/* k8s_fetch_pod_detail fetches pod ns/name and its events (fieldSelector involvedObject.name,
 * kind Pod; events of an older pod of the same name are left out by uid) in parallel, then calls
 * cb once. */
struct k8s_detail *k8s_fetch_pod_detail(struct k8s *k, const char *ns, const char *name,
                                        k8s_pod_detail_fn cb, void *ud);
/* k8s_detail_cancel stops the fetch; cb is not called. NULL-safe. Not from inside cb. */
void k8s_detail_cancel(struct k8s_detail *h);

#endif
