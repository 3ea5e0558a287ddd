/* pve_parse.h: pure parsers for Proxmox VE API answers (no I/O). Every function takes the raw
 * body and its length, fills `out`, and returns false with ERR_MALFORMED on a shape it cannot use.
 */
#ifndef LABDECK_PVE_PARSE_H
#define LABDECK_PVE_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "model.h"

/* GET /cluster/resources: nodes (type "node") and guests (qemu, lxc); other types are skipped.
 * Node cpu is a fraction of all its threads; missing fields stay "unknown" (offline nodes).
 * LXC vmid may arrive as a string. Either list may be NULL when the caller does not need it. */
bool pve_parse_cluster_resources(const char *body, size_t len, struct node_list *nodes,
                                 struct guest_list *guests, struct err *err);

/* GET /nodes/{node}/status: fills what cluster/resources lacks (cpus from cpuinfo.cpus,
 * memory.used/total, uptime, cpu) into an existing row, only where the row has "unknown". */
bool pve_parse_node_status(const char *body, size_t len, struct node_row *row, struct err *err);

/* GET /nodes/{node}/qemu/{vmid}/config (or lxc): appends each hostpciN device, ordered by N
 * numerically, normalised to a full PCI address ("c5:00.0" -> "0000:c5:00.0"; several host ids
 * joined by ';' each count; a "mapping=NAME" entry becomes "mapping:NAME"). Also sets cpus from
 * cores*sockets (qemu) or cores (lxc) when the row has none. */
bool pve_parse_guest_config(const char *body, size_t len, struct guest_row *row, struct err *err);

/* pci_normalize writes a full address "dddd:bb:dd.f" (or "dddd:bb:dd" when the function is
 * omitted, meaning all functions) into out; false when s is not a PCI address. */
bool pci_normalize(const char *s, char *out, size_t out_size);

/* pve_error_message extracts the most useful text from a Proxmox error answer: the JSON
 * "message", the "errors" object (field: message, ...), or NULL when the body has neither. The
 * caller frees the result. */
char *pve_error_message(const char *body, size_t len);

#endif
