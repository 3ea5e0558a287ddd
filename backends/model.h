/* model.h: the rows the status commands and views show, as plain C. A field the source does not
 * report is NAN (doubles) or -1 (integers), printed as JSON null. */
#ifndef LABDECK_MODEL_H
#define LABDECK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum node_source { NODE_PROXMOX, NODE_KUBERNETES };

/* A Kubernetes node condition other than Ready that is not "False" (a pressure). */
struct node_row {
	char *name;
	enum node_source source;
	char *status;      /* online/offline/unknown, or Ready/NotReady/Unknown */
	double cpu;        /* fraction 0..1 of the node's CPUs, NAN if unknown */
	int64_t mem_used;  /* bytes, -1 if unknown */
	int64_t mem_total; /* bytes, -1 if unknown */
	int64_t uptime;    /* seconds, -1 if unknown */
	int cpus;          /* logical CPUs (Proxmox maxcpu, Kubernetes capacity), -1 if unknown */
	char *roles;       /* Kubernetes: "control-plane,worker"; NULL otherwise */
	char *pressures; /* Kubernetes: "MemoryPressure,DiskPressure" when any is True; else NULL */
	char *internal_ip; /* Kubernetes InternalIP, NULL if none */
	int unschedulable; /* Kubernetes spec.unschedulable */
};

struct guest_row {
	int vmid;
	char *name;
	char *type; /* "qemu" or "lxc" */
	char *node;
	char *status; /* running/stopped/paused/... */
	double cpu;   /* fraction of the guest's vCPUs, NAN if unknown */
	int64_t mem_used;
	int64_t mem_total;
	int64_t uptime;
	int cpus; /* vCPUs (maxcpu), -1 if unknown */
	int template_;
	char **passthrough; /* full PCI addresses, "0000:c5:00.0"; NULL-terminated, never NULL */
	size_t n_passthrough;
};

struct pod_row {
	char *namespace_;
	char *name;
	char *phase; /* kubectl's STATUS column: the phase, or the reason when there is one */
	char *ready; /* "1/1" */
	int64_t restarts;
	char *node;     /* NULL when not scheduled */
	double created; /* epoch seconds from metadata.creationTimestamp, NAN if unknown */
	char *ip;       /* NULL if none */
	/* What the scheduler counts, known only when the pod came as a full object (a watch event,
	 * a PodList, a Table row with includeObject=Object): has_resources says so. */
	bool has_resources;
	bool finished;                    /* phase Succeeded or Failed: requests no longer held */
	double requests_cpu, limits_cpu;  /* cores */
	int64_t requests_mem, limits_mem; /* bytes */
	char *owner_kind; /* the workload: "Deployment" for a ReplicaSet DEPLOY-HASH; NULL alone */
	char *owner_name;
};

void node_row_finish(struct node_row *r);
void guest_row_finish(struct guest_row *r);
void pod_row_finish(struct pod_row *r);

/* Growable arrays of rows. */
struct node_list {
	struct node_row *items;
	size_t len, cap;
};
struct guest_list {
	struct guest_row *items;
	size_t len, cap;
};
struct pod_list {
	struct pod_row *items;
	size_t len, cap;
};

/* *_push returns a zeroed row (numbers set to "unknown") appended to the list. */
struct node_row *node_list_push(struct node_list *l);
struct guest_row *guest_list_push(struct guest_list *l);
struct pod_row *pod_list_push(struct pod_list *l);
void node_list_finish(struct node_list *l);
void guest_list_finish(struct guest_list *l);
void pod_list_finish(struct pod_list *l);

#endif
