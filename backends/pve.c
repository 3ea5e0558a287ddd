/* pve.c: see pve.h. One GET /cluster/resources gives the whole picture; per-node status and
 * per-VM config calls then run in parallel to fill in what it lacks. */
#include "pve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pve_parse.h"
#include "util.h"

struct pve {
	struct http *http;
	const struct config_proxmox *cfg;
	char *auth_header;
	struct http_tls tls;
};

/* One follow-up call of an operation. */
struct pve_sub {
	struct pve_op *op;
	struct http_request *req;
	size_t index; /* row it fills */
	bool is_node;
};

struct pve_op {
	struct pve *p;
	unsigned want;
	pve_status_fn cb;
	void *ud;
	struct http_request *main_req;
	struct pve_sub *subs;
	size_t n_subs, pending;
	struct pve_status st;
};

void pve_status_finish(struct pve_status *st)
{
	node_list_finish(&st->nodes);
	guest_list_finish(&st->guests);
	err_list_finish(&st->errors);
}

struct pve *pve_create(struct http *h, const struct config_proxmox *cfg)
{
	struct pve *p = xcalloc(1, sizeof(*p));
	p->http = h;
	p->cfg = cfg;
	if (cfg->token_id && cfg->token_secret) {
		p->auth_header = xasprintf("Authorization: PVEAPIToken=%s=%s", cfg->token_id,
		                           cfg->token_secret);
	}
	p->tls.ca_file = cfg->tls.ca_file;
	p->tls.fingerprint = cfg->tls.fingerprint;
	p->tls.insecure = cfg->tls.insecure;
	return p;
}

void pve_destroy(struct pve *p)
{
	if (!p) {
		return;
	}
	if (p->auth_header) {
		explicit_bzero(p->auth_header, strlen(p->auth_header));
		free(p->auth_header);
	}
	free(p);
}

void pve_error_from_response(struct err *out, const struct http_response *resp,
                             const struct err *err, const char *what)
{
	if (!http_failed_with_status(resp)) {
		*out = *err;
		return;
	}
	long status = resp->status;
	char *detail = resp->len ? pve_error_message(resp->body, resp->len) : NULL;
	const char *reason = detail ? detail : (resp->reason ? resp->reason : "error");
	if (status == 401) {
		err_set(out, ERR_AUTH, status,
		        "proxmox: 401 %s: check token_id and token_secret (an API token is sent as "
		        "PVEAPIToken=USER@REALM!TOKENID=SECRET)",
		        reason);
	} else if (status == 403) {
		err_set(out, ERR_AUTH, status,
		        "proxmox: 403 %s: the token lacks a privilege for %s (give it PVEAuditor "
		        "on /, "
		        "or turn off privilege separation)",
		        reason, what);
	} else if (status == 595 || status == 596) {
		err_set(out, ERR_UNREACHABLE, status,
		        "proxmox: %s: %ld %s: the node is unreachable from the one you talk to (is "
		        "it "
		        "down, or is the cluster network broken?)",
		        what, status, reason);
	} else if (status == 501) {
		err_set(out, ERR_REJECTED, status,
		        "proxmox: %s: 501 %s: is url the Proxmox API (https://HOST:8006)?", what,
		        reason);
	} else {
		http_status_error(out, "proxmox", status, reason);
		size_t n = strlen(out->msg);
		snprintf(out->msg + n, sizeof(out->msg) - n, " (%s)", what);
	}
	http_append_retry_after(out, resp);
	free(detail);
}

/* A parser's complaint, said as the backend's: "proxmox: malformed answer to X: ...". */
static void parse_error(struct err *e, const char *what)
{
	char msg[sizeof(e->msg)];
	snprintf(msg, sizeof(msg), "proxmox: malformed answer to %s: %s (is url the Proxmox API?)",
	         what, e->msg);
	memcpy(e->msg, msg, sizeof(msg));
	e->code = ERR_MALFORMED;
}

static void op_finish_if_done(struct pve_op *op)
{
	if (op->pending > 0) {
		return;
	}
	pve_status_fn cb = op->cb;
	void *ud = op->ud;
	struct pve_status *st = xmalloc(sizeof(*st));
	*st = op->st;
	free(op->subs);
	free(op);
	cb(ud, st);
}

static void on_sub_done(void *ud, struct http_response *resp, const struct err *err)
{
	struct pve_sub *sub = ud;
	struct pve_op *op = sub->op;
	sub->req = NULL;
	op->pending--;
	struct err e;
	err_clear(&e);
	if (sub->is_node) {
		struct node_row *row = &op->st.nodes.items[sub->index];
		if (err) {
			char what[160];
			snprintf(what, sizeof(what), "node %s status", row->name);
			pve_error_from_response(&e, resp, err, what);
		} else if (!pve_parse_node_status(resp->body, resp->len, row, &e)) {
			parse_error(&e, "node status");
		}
	} else {
		struct guest_row *row = &op->st.guests.items[sub->index];
		if (err) {
			char what[160];
			snprintf(what, sizeof(what), "guest %d config", row->vmid);
			pve_error_from_response(&e, resp, err, what);
		} else if (!pve_parse_guest_config(resp->body, resp->len, row, &e)) {
			parse_error(&e, "guest config");
		}
	}
	if (e.code != ERR_NONE) {
		err_list_add(&op->st.errors, &e);
	}
	op_finish_if_done(op);
}

/* pve_call sends METHOD (NULL: GET) {url}/api2/json{path}. A POST goes once: an action is never
 * sent twice; a GET has the usual retries. */
static struct http_request *pve_call(struct pve *p, const char *method, const char *path,
                                     http_done_fn done, void *ud)
{
	char *url = xasprintf("%s/api2/json%s", p->cfg->url, path);
	const char *headers[] = {p->auth_header, "Accept: application/json", NULL};
	struct http_request_opts o = {
	        .backend = "proxmox",
	        .method = method,
	        .url = url,
	        .headers = p->auth_header ? headers : headers + 1,
	        .body = method ? "" : NULL,
	        .tls = &p->tls,
	        .max_retries = method ? 0 : -1,
	        .max_body = (size_t)16 << 20, /* a big cluster's resources are well under 1 MiB */
	        .on_done = done,
	        .ud = ud,
	};
	struct http_request *req = http_start(p->http, &o);
	free(url);
	return req;
}

struct http_request *pve_http_get(struct pve *p, const char *path, http_done_fn done, void *ud)
{
	return pve_call(p, NULL, path, done, ud);
}

struct http_request *pve_http_post(struct pve *p, const char *path, http_done_fn done, void *ud)
{
	return pve_call(p, "POST", path, done, ud);
}

static void start_sub(struct pve_op *op, const char *path, size_t index, bool is_node)
{
	struct pve_sub *sub = &op->subs[op->n_subs++];
	sub->op = op;
	sub->index = index;
	sub->is_node = is_node;
	op->pending++;
	sub->req = pve_http_get(op->p, path, on_sub_done, sub);
}

static void on_resources(void *ud, struct http_response *resp, const struct err *err)
{
	struct pve_op *op = ud;
	op->main_req = NULL;
	op->pending--;
	struct err e;
	err_clear(&e);
	if (err) {
		pve_error_from_response(&e, resp, err, "cluster resources");
	} else if (pve_parse_cluster_resources(resp->body, resp->len, &op->st.nodes, &op->st.guests,
	                                       &e)) {
		size_t max = op->st.nodes.len + op->st.guests.len;
		op->subs = xcalloc(max ? max : 1, sizeof(*op->subs));
		for (size_t i = 0; (op->want & PVE_WANT_NODES) && i < op->st.nodes.len; i++) {
			const struct node_row *n = &op->st.nodes.items[i];
			if (!str_eq(n->status, "online")) {
				continue; /* offline is a state, not an error: nothing to ask */
			}
			char *node = url_escape(n->name);
			char *path = xasprintf("/nodes/%s/status", node);
			start_sub(op, path, i, true);
			free(path);
			free(node);
		}
		for (size_t i = 0; (op->want & PVE_WANT_GUESTS) && i < op->st.guests.len; i++) {
			const struct guest_row *g = &op->st.guests.items[i];
			if (!str_eq(g->type, "qemu") || !g->node || str_eq(g->status, "unknown")) {
				continue; /* only VMs take hostpci; a guest on a lost node cannot be
				             asked */
			}
			char *node = url_escape(g->node);
			char *path = xasprintf("/nodes/%s/qemu/%d/config", node, g->vmid);
			start_sub(op, path, i, false);
			free(path);
			free(node);
		}
	} else {
		parse_error(&e, "/cluster/resources");
	}
	if (e.code != ERR_NONE) {
		op->st.failed = true;
		err_list_add(&op->st.errors, &e);
	}
	op_finish_if_done(op);
}

struct pve_op *pve_fetch_status(struct pve *p, unsigned want, pve_status_fn cb, void *ud)
{
	struct pve_op *op = xcalloc(1, sizeof(*op));
	op->p = p;
	op->want = want;
	op->cb = cb;
	op->ud = ud;
	op->pending = 1;
	op->main_req = pve_http_get(p, "/cluster/resources", on_resources, op);
	return op;
}

void pve_op_cancel(struct pve_op *op)
{
	if (!op) {
		return;
	}
	http_cancel(op->main_req);
	for (size_t i = 0; i < op->n_subs; i++) {
		http_cancel(op->subs[i].req);
	}
	pve_status_finish(&op->st);
	free(op->subs);
	free(op);
}
