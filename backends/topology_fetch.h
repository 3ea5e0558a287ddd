/* topology_fetch.h: gathers what topology_build needs, all at once and without blocking the
 * loop: Proxmox nodes and guests (with passthrough), the guest agent's addresses of each running
 * qemu guest, Kubernetes nodes (allocatable, metrics) and pods as full objects (requests, limits,
 * owners), and Ollama's loaded and installed models. A source that fails goes into the errors
 * list and the rest still builds. The parsers are public for the unit tests. */
#ifndef LABDECK_TOPOLOGY_FETCH_H
#define LABDECK_TOPOLOGY_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "topology.h"

struct k8s;
struct llm;
struct pve;
struct pve_status;
struct k8s_nodes;
struct llm_models;

/* One pod as the topology counts it (owned strings). */
struct topology_fetch_pod {
	char *namespace_, *name;
	char *node;     /* NULL: not scheduled */
	char *kind;     /* the workload's kind ("Deployment" for a ReplicaSet of one), or NULL */
	char *workload; /* the workload's name, or NULL: the pod stands alone */
	double requests_cpu, limits_cpu;  /* cores */
	int64_t requests_mem, limits_mem; /* bytes */
	bool finished;                    /* phase Succeeded or Failed */
};

/* One source's failure: backend is "proxmox", "kubernetes" or "ollama". */
struct topology_fetch_error {
	char *backend;
	struct err err;
};

/* Everything gathered, and the input topology_build takes (pointing into it). */
struct topology_data {
	struct pve_status *pve;   /* NULL when Proxmox was not asked or failed */
	struct k8s_nodes *knodes; /* NULL when Kubernetes was not asked or failed */
	struct topology_fetch_pod *pods;
	size_t n_pods;
	char ***addresses; /* per pve guest (same index): NULL-terminated agent addresses or NULL */
	struct llm_models *loaded, *available;
	struct topology_fetch_error *errors;
	size_t n_errors;
	char *ollama_host;
	/* topology_build's input, filled by topology_fetch_input */
	struct topology_input in;
	struct topo_host_in *hosts;
	struct topo_guest_in *guests;
	struct topo_node_in *nodes;
	struct topo_pod_in *pod_in;
	struct topo_model_in *loaded_in, *available_in;
	struct topo_map_in *map;
};

/* The clients to ask; a NULL one is not asked. cfg gives [topology] and [ollama] url. */
struct topology_fetch_sources {
	struct pve *pve;
	struct k8s *k8s;
	struct llm *llm;
	const struct config *cfg;
	const char *ollama_url; /* where the models are asked: its host finds the Ollama guest */
};

/* Called once with the data (the callee's: topology_data_free it); its `in` is ready for
 * topology_build. */
typedef void (*topology_fetch_fn)(void *ud, struct topology_data *data);

struct topology_fetch;

/* topology_fetch_start asks every source at once; cb runs once, later, from the loop. */
struct topology_fetch *topology_fetch_start(const struct topology_fetch_sources *src,
                                            topology_fetch_fn cb, void *ud);
/* topology_fetch_cancel stops every request; the callback is not called. NULL-safe. */
void topology_fetch_cancel(struct topology_fetch *f);

/* topology_data_free frees d and everything in it. NULL-safe. */
void topology_data_free(struct topology_data *d);

/* topology_fetch_input (re)fills d->in from what d holds (done before the callback). */
void topology_fetch_input(struct topology_data *d, const struct config *cfg);

/* topology_fetch_parse_agent reads GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces
 * ({"data":{"result":[{"name","ip-addresses":[{"ip-address","prefix"}]}]}}): the addresses,
 * without loopback (127.0.0.0/8, ::1) and link-local (fe80::/10) ones, as a NULL-terminated array
 * (free with topology_fetch_strv_free). */
bool topology_fetch_parse_agent(const char *body, size_t len, char ***out, struct err *err);

/* topology_fetch_agent_absent: the answer says the guest agent is not running or not
 * configured (Proxmox's 500 "QEMU guest agent is not running"): no addresses, not an error. */
bool topology_fetch_agent_absent(const char *body, size_t len);

/* topology_fetch_strv_free frees a NULL-terminated array of strings. NULL-safe. */
void topology_fetch_strv_free(char **v);

/* topology_fetch_parse_pods reads a PodList (GET /api/v1/pods) and appends to *pods (*n):
 * requests and limits summed over the containers (an init container's, when larger, counts
 * instead, as the scheduler counts it), and the owning workload: a ReplicaSet named
 * DEPLOYMENT-HASH (HASH the pod-template-hash label) becomes Deployment DEPLOYMENT; a pod owned by
 * a Node (static) or nothing stands alone. */
bool topology_fetch_parse_pods(const char *body, size_t len, struct topology_fetch_pod **pods,
                               size_t *n, struct err *err);

/* topology_fetch_pods_free frees n pods and the array. */
void topology_fetch_pods_free(struct topology_fetch_pod *pods, size_t n);

/* topology_fetch_url_host: the host part of a URL ("http://[::1]:11434/x" -> "::1"), or NULL. */
char *topology_fetch_url_host(const char *url);

#endif
