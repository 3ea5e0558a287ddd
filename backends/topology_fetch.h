/* topology_fetch.h: what topology_build is made from, and where it comes from.
 *
 * - topology_parts: borrowed pointers to the data (Proxmox nodes and guests, the guest agents'
 *   addresses, Kubernetes nodes with allocatable and metrics, pods with their requests, Ollama's
 *   loaded and installed models); topology_input_fill lays them out as a topology_input. The
 *   console fills the parts from the data its other views already keep (status_poller,
 *   pod_store); `labdeck topology` from its own one-shot fetch.
 * - topology_agents: the guest agents' addresses, asked once per running qemu guest (and again
 *   when it moves or restarts), kept by VMID.
 * - topology_fetch: the one-shot fetch of every source at once, for the CLI. A source that fails
 *   goes into the errors list and the rest still builds.
 * The parsers are public for the unit tests. */
#ifndef LABDECK_TOPOLOGY_FETCH_H
#define LABDECK_TOPOLOGY_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "k8s_parse.h"
#include "model.h"
#include "topology.h"

struct k8s;
struct llm;
struct pve;
struct pve_status;
struct k8s_nodes;
struct k8s_pods;
struct llm_models;
struct topology_agents;

/* One source's failure: backend is "proxmox", "kubernetes" or "ollama". */
struct topology_fetch_error {
	char *backend;
	struct err err;
};

/* The data a topology is built from; every pointer is borrowed and may be NULL (not known). */
struct topology_parts {
	const struct node_list *pve_nodes; /* its Proxmox rows are the hosts */
	const struct guest_list *guests;
	const struct topology_agents *agents; /* addresses by VMID */
	const struct node_list *k8s_nodes;    /* its Kubernetes rows are the nodes */
	/* allocatable of a Kubernetes row (index in k8s_nodes), NULL when unknown */
	const struct k8s_node_extra *(*k8s_extra)(const void *ctx, size_t index,
	                                          const struct node_row *row);
	const void *k8s_extra_ctx;
	bool k8s_metrics;           /* the rows' usage comes from metrics.k8s.io */
	const struct pod_row *pods; /* only rows with has_resources count */
	size_t n_pods;
	const struct llm_models *loaded, *available;
	const char *ollama_host; /* the host part of [ollama] url */
};

/* A topology_input and the arrays it points into. */
struct topology_input_buf {
	struct topology_input in;
	struct topo_host_in *hosts;
	struct topo_guest_in *guests;
	struct topo_node_in *nodes;
	struct topo_pod_in *pods;
	struct topo_model_in *loaded, *available;
	struct topo_map_in *map;
};

/* topology_input_fill (re)fills b from p and cfg's [topology]; b->in points into b and into p's
 * data, so p's data must outlive the use of b->in. b starts zeroed. */
void topology_input_fill(struct topology_input_buf *b, const struct topology_parts *p,
                         const struct config *cfg);
/* topology_input_buf_finish frees b's arrays (not the data they point at). */
void topology_input_buf_finish(struct topology_input_buf *b);

/* --- the guest agents' addresses --- */

/* topology_agents_create: asks through pve (which must outlive it); changed(ud) runs from the
 * loop when an answer changed what topology_agents_get returns. */
struct topology_agents *topology_agents_create(struct pve *pve, void (*changed)(void *ud),
                                               void *ud);
/* topology_agents_destroy cancels the requests; no callback follows. NULL-safe. */
void topology_agents_destroy(struct topology_agents *a);
/* topology_agents_update asks the agent of each running qemu guest of gl that was not asked yet
 * (or has moved node or restarted since), and forgets guests no longer running. */
void topology_agents_update(struct topology_agents *a, const struct guest_list *gl);
/* topology_agents_get: guest vmid's addresses (NULL-terminated), or NULL when unknown. */
const char *const *topology_agents_get(const struct topology_agents *a, int vmid);
/* topology_agents_pending: requests in flight. */
size_t topology_agents_pending(const struct topology_agents *a);
/* topology_agents_errors: the failures of the last answers (an agent that is not running is not
 * one), *n of them; valid until the next loop pass. */
const struct topology_fetch_error *topology_agents_errors(const struct topology_agents *a,
                                                          size_t *n);

/* --- the one-shot fetch (the CLI) --- */

/* Everything gathered, and the input topology_build takes (pointing into it). */
struct topology_data {
	struct pve_status *pve;   /* NULL when Proxmox was not asked or failed */
	struct k8s_nodes *knodes; /* NULL when Kubernetes was not asked or failed */
	struct k8s_pods *pods;    /* NULL likewise */
	struct topology_agents *agents;
	struct llm_models *loaded, *available;
	struct topology_fetch_error *errors;
	size_t n_errors;
	char *ollama_host;
	struct topology_input_buf buf; /* buf.in is ready for topology_build */
};

/* The clients to ask; a NULL one is not asked. cfg gives [topology] and [ollama] url. */
struct topology_fetch_sources {
	struct pve *pve;
	struct k8s *k8s;
	struct llm *llm;
	const struct config *cfg;
	const char *ollama_url; /* where the models are asked: its host finds the Ollama guest */
};

/* Called once with the data (the callee's: topology_data_free it); its buf.in is ready for
 * topology_build. */
typedef void (*topology_fetch_fn)(void *ud, struct topology_data *data);

struct topology_fetch;

/* topology_fetch_start asks every source at once (pods page by page, with their requests); cb
 * runs once, later, from the loop. */
struct topology_fetch *topology_fetch_start(const struct topology_fetch_sources *src,
                                            topology_fetch_fn cb, void *ud);
/* topology_fetch_cancel stops every request; the callback is not called. NULL-safe. */
void topology_fetch_cancel(struct topology_fetch *f);

/* topology_data_free frees d and everything in it. NULL-safe. */
void topology_data_free(struct topology_data *d);

/* topology_data_parts: the parts of what d holds. */
void topology_data_parts(const struct topology_data *d, struct topology_parts *out);

/* --- parsers --- */

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

/* topology_fetch_url_host: the host part of a URL ("http://[::1]:11434/x" -> "::1"), or NULL. */
char *topology_fetch_url_host(const char *url);

#endif
