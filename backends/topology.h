/* topology.h: the lab as one tree — Proxmox hosts, their guests, the Kubernetes nodes running in
 * those guests, the workloads on those nodes, and the models Ollama holds on the inference
 * guest — with what is allocated against what exists at every level, and warnings where a level
 * is over budget. Pure: the caller gathers the data (status_poller, k8s, llm) and this builds
 * the tree, so the command, the view and the unit tests share every decision.
 *
 * Matching a Kubernetes node to its guest, in order: the [topology] map (node = VMID), then the
 * guest agent's addresses against the node's InternalIP, then equal names (case-insensitive). A
 * node none of these match is listed as unmatched, never guessed. */
#ifndef LABDECK_TOPOLOGY_H
#define LABDECK_TOPOLOGY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- what goes in (borrowed: the caller keeps it alive while building) --- */

struct topo_host_in {
	const char *name;
	int cpus;          /* logical CPUs, -1 unknown */
	int64_t mem_total; /* bytes, -1 unknown */
	double cpu_used;   /* fraction of the host's CPUs, NAN unknown */
	int64_t mem_used;  /* bytes, -1 unknown */
};

struct topo_guest_in {
	int vmid;
	const char *name;
	const char *host; /* the Proxmox node it is on */
	const char *status;
	int cpus;          /* vCPUs, -1 unknown */
	int64_t mem_total; /* bytes allocated, -1 unknown */
	int64_t mem_used;  /* bytes, -1 unknown */
	const char *const *passthrough;
	size_t n_passthrough;
	const char *const *addresses; /* from the guest agent, without prefix length */
	size_t n_addresses;
};

struct topo_node_in {
	const char *name;
	const char *internal_ip; /* or NULL */
	double alloc_cpu;        /* allocatable cores, NAN unknown */
	int64_t alloc_mem;       /* allocatable bytes, -1 unknown */
	double usage_cpu;        /* cores in use (metrics), NAN unknown */
	int64_t usage_mem;       /* bytes in use (metrics), -1 unknown */
};

struct topo_pod_in {
	const char *namespace_;
	const char *name;
	const char *node;     /* NULL: not scheduled */
	const char *kind;     /* the workload's kind ("Deployment", "StatefulSet", ...), or NULL */
	const char *workload; /* the workload's name, or NULL: the pod stands alone */
	double requests_cpu, limits_cpu;  /* cores (sum over containers), 0 when none */
	int64_t requests_mem, limits_mem; /* bytes, 0 when none */
	bool finished;                    /* Succeeded or Failed: holds no resources */
};

struct topo_model_in {
	const char *name;
	int64_t size;           /* bytes */
	int64_t size_vram;      /* bytes in VRAM (loaded models), -1 unknown */
	const char *expires_at; /* RFC 3339, or NULL */
};

struct topo_map_in {
	const char *node;
	int vmid;
};

struct topology_input {
	const struct topo_host_in *hosts;
	size_t n_hosts;
	const struct topo_guest_in *guests;
	size_t n_guests;
	const struct topo_node_in *nodes;
	size_t n_nodes;
	const struct topo_pod_in *pods;
	size_t n_pods;
	const struct topo_model_in *loaded; /* /api/ps */
	size_t n_loaded;
	const struct topo_model_in *available; /* /api/tags */
	size_t n_available;
	const struct topo_map_in *map; /* [topology] node = VMID */
	size_t n_map;
	int ollama_vmid;         /* [topology] ollama, -1: find it by ollama_host */
	const char *ollama_host; /* the host part of [ollama] url, or NULL */
};

/* --- what comes out --- */

enum topo_match { TOPO_MATCH_CONFIG, TOPO_MATCH_ADDRESS, TOPO_MATCH_NAME };

struct topo_workload {
	char *namespace_, *name, *kind;
	int pods;
	double requests_cpu;
	int64_t requests_mem;
};

struct topo_node {
	const struct topo_node_in *in;
	enum topo_match match;
	double requests_cpu, limits_cpu;
	int64_t requests_mem, limits_mem;
	struct topo_workload *workloads; /* by namespace, then name */
	size_t n_workloads;
};

struct topo_guest {
	const struct topo_guest_in *in;
	struct topo_node *node; /* the Kubernetes node in it, or NULL */
	bool runs_ollama;       /* the loaded models are on this guest */
};

struct topo_host {
	const struct topo_host_in *in;
	int alloc_cpus;            /* vCPUs given to its guests that run */
	int64_t alloc_mem;         /* memory given to its guests that run */
	struct topo_guest *guests; /* by vmid */
	size_t n_guests;
};

enum topo_level { TOPO_WARN, TOPO_CRIT };

struct topo_warning {
	enum topo_level level;
	char *subject; /* "pve-b", "101 k8s-node-a", "node k8s-node-b", "model qwen2.5:32b" */
	char *message; /* which numbers cross: "memory given to guests 80.0 GiB > 62.6 GiB" */
};

struct topology {
	struct topo_host *hosts; /* in the input's order */
	size_t n_hosts;
	struct topo_node *nodes; /* one per input node, matched or not */
	size_t n_nodes;
	const char **unmatched; /* names of the nodes no guest holds */
	size_t n_unmatched;
	struct topo_warning *warnings;
	size_t n_warnings;
	const struct topology_input *in;
};

/* topology_build builds the tree and its warnings from in (which must outlive the result). */
void topology_build(const struct topology_input *in, struct topology *out);

/* topology_finish frees what topology_build made. */
void topology_finish(struct topology *t);

/* topology_to_json: the tree as SPEC.md §3's `topology` object, without "errors" (the caller adds
 * them): {"hosts":[...],"unmatched_nodes":[...],"warnings":[...]}. Unknown figures are null. */
json_t *topology_to_json(const struct topology *t);

/* topology_match_name: "config", "address" or "name". */
const char *topology_match_name(enum topo_match m);

#endif
