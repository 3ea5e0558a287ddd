/* pve.h: the Proxmox VE client — API-token auth, cluster status for nodes and guests. */
#ifndef LABDECK_PVE_H
#define LABDECK_PVE_H

#include <stdbool.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "model.h"

struct pve;
struct pve_op;

enum pve_want {
	PVE_WANT_NODES = 1,  /* nodes, completed with /nodes/{node}/status */
	PVE_WANT_GUESTS = 2, /* guests, with passthrough from each VM's config */
};

/* What a status fetch produced. On a total failure `failed` is set and `errors` has the reason;
 * otherwise the lists hold data and `errors` the parts that failed (one node unreachable...). */
struct pve_status {
	struct node_list nodes;
	struct guest_list guests;
	struct err_list errors;
	bool failed;
};

void pve_status_finish(struct pve_status *st);

/* Called once; the callee owns *st and must pve_status_finish it. */
typedef void (*pve_status_fn)(void *ud, struct pve_status *st);

/* pve_create keeps a pointer to cfg (it must outlive the client). */
struct pve *pve_create(struct http *h, const struct config_proxmox *cfg);
void pve_destroy(struct pve *p);

/* pve_fetch_status starts GET /cluster/resources and the follow-up calls `want` asks for. */
struct pve_op *pve_fetch_status(struct pve *p, unsigned want, pve_status_fn cb, void *ud);
/* pve_op_cancel stops an operation; its callback is not called. */
void pve_op_cancel(struct pve_op *op);

/* pve_http_get starts GET {url}/api2/json{path} (path begins with '/', already escaped) with the
 * client's token and TLS settings, the usual retries and a 16 MiB cap: for calls this client has
 * no dedicated function for. done runs once (see http.h); the handle is for http_cancel. */
struct http_request *pve_http_get(struct pve *p, const char *path, http_done_fn done, void *ud);
/* pve_http_post starts POST {url}/api2/json{path} with an empty body (power actions), sent once:
 * never retried, so an action is never done twice. */
struct http_request *pve_http_post(struct pve *p, const char *path, http_done_fn done, void *ud);

/* pve_error_from_response turns a failed answer into a message a person can act on. `what` names
 * the call ("node pve-b status"). */
void pve_error_from_response(struct err *out, const struct http_response *resp,
                             const struct err *err, const char *what);

#endif
