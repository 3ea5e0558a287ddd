/* k8s.h: the Kubernetes client — kubeconfig credentials (certificates, tokens, exec plugins),
 * nodes with metrics, and pods listed the way kubectl lists them (server-side Table, paginated). */
#ifndef LABDECK_K8S_H
#define LABDECK_K8S_H

#include <stdbool.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "k8s_parse.h"
#include "model.h"

struct event_base;
struct k8s;
struct k8s_op;

struct k8s_nodes {
	struct node_list nodes;
	struct k8s_node_extra *extras; /* one per node */
	bool metrics;                  /* metrics.k8s.io answered */
	struct err_list errors;
	bool failed;
};

struct k8s_pods {
	struct pod_list pods;
	int pages;    /* how many list calls it took */
	int restarts; /* how often an expired continue token restarted the list */
	struct err_list errors;
	bool failed;
	/* The list's metadata.resourceVersion, where a watch of it starts; NULL if none. */
	char *resource_version;
};

void k8s_nodes_finish(struct k8s_nodes *r);
void k8s_pods_finish(struct k8s_pods *r);

typedef void (*k8s_nodes_fn)(void *ud, struct k8s_nodes *r);
typedef void (*k8s_pods_fn)(void *ud, struct k8s_pods *r);

/* k8s_create keeps a pointer to cfg. The kubeconfig is read on the first call. */
struct k8s *k8s_create(struct event_base *base, struct http *h,
                       const struct config_kubernetes *cfg);
void k8s_destroy(struct k8s *k);

/* k8s_fetch_nodes lists nodes and, when metrics.k8s.io is installed, their usage. */
struct k8s_op *k8s_fetch_nodes(struct k8s *k, k8s_nodes_fn cb, void *ud);
/* k8s_fetch_pods lists pods in ns (NULL: the config's namespace, else all), page by page. */
struct k8s_op *k8s_fetch_pods(struct k8s *k, const char *ns, k8s_pods_fn cb, void *ud);
/* k8s_fetch_pods_with_resources lists the same way with each row's full pod
 * (includeObject=Object), so the rows also carry requests, limits and owners (has_resources). */
struct k8s_op *k8s_fetch_pods_with_resources(struct k8s *k, const char *ns, k8s_pods_fn cb,
                                             void *ud);
/* k8s_op_cancel stops an operation; its callback is not called. */
void k8s_op_cancel(struct k8s_op *op);

/* A request of any other kind (watch streams, logs, single objects), sent with the same
 * credentials as the calls above (kubeconfig, exec plugin). */
struct k8s_request_opts {
	const char *path;     /* "/api/v1/...?query", already escaped */
	const char *accept;   /* a whole "Accept: ..." header; NULL: application/json */
	const char *what;     /* "watch pods", named in error messages */
	int max_retries;      /* as http.h: -1 the default, 0 none */
	long timeout_ms;      /* as http.h: 0 the default, -1 none (streams) */
	long idle_timeout_ms; /* as http.h: 0 off */
	size_t max_body;      /* as http.h: 0 the default */
	/* Streaming (may be NULL): the pieces of a 2xx body as they arrive; return false to stop
	 * (the request then ends with ERR_CANCELLED). Never cancel the op from in here. */
	http_chunk_fn on_chunk;
	/* Called once at the end (not after k8s_op_cancel). err is NULL on a 2xx answer; else it
	 * says what happened the Kubernetes way (a Status message, the context for a 401), and resp
	 * (never NULL) holds what arrived (status 0 when nothing did). The op is gone by then. */
	http_done_fn on_done;
	void *ud;
	/* A changing request (never retried, as http.h says): method NULL means GET; body (copied)
	 * is sent with Content-Type: content_type, NULL meaning application/json (a PATCH names its
	 * patch type: "application/merge-patch+json", ...). */
	const char *method;
	const char *body;
	const char *content_type;
};

/* k8s_request starts opts' request (a GET unless opts->method says otherwise) once the
 * credentials are ready; k8s_op_cancel stops it. */
struct k8s_op *k8s_request(struct k8s *k, const struct k8s_request_opts *opts);

/* k8s_available: whether Kubernetes can be tried at all — a [kubernetes] section, $KUBECONFIG, or
 * an existing ~/.kube/config (as kubectl would find it). */
bool k8s_available(const struct config_kubernetes *cfg);

/* k8s_context_name: the context in use (after the first call), for messages. */
const char *k8s_context_name(const struct k8s *k);

#endif
