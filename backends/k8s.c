/* k8s.c: see k8s.h. Every call is prepared by op_begin (kubeconfig read once, exec plugin run when
 * the cached credential has expired) and then sent by op_send. */
#include "k8s.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_cred.h"
#include "kubeconfig.h"
#include "util.h"

#define TABLE_ACCEPT                                                                               \
	"Accept: "                                                                                 \
	"application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"        \
	"g=meta.k8s.io,application/json"
#define PAGE_LIMIT 500
#define MAX_LIST_RESTARTS 3
#define EXEC_TIMEOUT_MS 30000
/* Renew an exec credential this long before it expires. */
#define EXPIRY_MARGIN_S 60.0

enum op_kind { OP_NODES, OP_PODS, OP_RAW };

struct k8s {
	struct event_base *base;
	struct http *http;
	const struct config_kubernetes *cfg;
	bool loaded;
	struct err load_err;
	struct kube_target target;
	/* Credentials in use: from the kubeconfig, or the exec plugin's last answer. */
	char *auth_header;
	char *exec_cert, *exec_key;
	double exec_expiry; /* epoch seconds; 0: never expires; -1: not fetched yet */
	struct http_tls tls;
	struct exec_run *exec;
	struct k8s_op *waiting; /* ops waiting for the exec plugin */
};

struct k8s_op {
	struct k8s *k;
	enum op_kind kind;
	k8s_nodes_fn nodes_cb;
	k8s_pods_fn pods_cb;
	void *ud;
	struct k8s_op *next_waiting;
	struct http_request *reqs[2];
	int pending;
	struct event *defer;
	struct err fail; /* reported from the loop by `defer` */
	/* OP_NODES */
	struct k8s_nodes nodes;
	struct k8s_node_usage *usage;
	size_t n_usage;
	/* OP_PODS */
	char *ns;
	bool with_objects; /* includeObject=Object: each row carries the full pod */
	char *cont;
	struct k8s_pods pods;
	/* OP_RAW */
	/* path, accept, what, method, body point at raw_strings; [5] is the Content-Type header */
	struct k8s_request_opts raw;
	char *raw_strings[6];
};

void k8s_nodes_finish(struct k8s_nodes *r)
{
	node_list_finish(&r->nodes);
	free(r->extras);
	r->extras = NULL;
	err_list_finish(&r->errors);
}

void k8s_pods_finish(struct k8s_pods *r)
{
	pod_list_finish(&r->pods);
	err_list_finish(&r->errors);
	free(r->resource_version);
	r->resource_version = NULL;
}

struct k8s *k8s_create(struct event_base *base, struct http *h, const struct config_kubernetes *cfg)
{
	struct k8s *k = xcalloc(1, sizeof(*k));
	k->base = base;
	k->http = h;
	k->cfg = cfg;
	k->exec_expiry = -1;
	return k;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void op_free(struct k8s_op *op)
{
	if (op->defer) {
		event_free(op->defer);
	}
	for (int i = 0; i < 2; i++) {
		http_cancel(op->reqs[i]);
	}
	k8s_node_usage_free(op->usage, op->n_usage);
	k8s_nodes_finish(&op->nodes);
	k8s_pods_finish(&op->pods);
	free(op->ns);
	free(op->cont);
	for (size_t i = 0; i < 6; i++) {
		free(op->raw_strings[i]);
	}
	free(op);
}

void k8s_destroy(struct k8s *k)
{
	if (!k) {
		return;
	}
	exec_run_cancel(k->exec);
	while (k->waiting) {
		struct k8s_op *next = k->waiting->next_waiting;
		op_free(k->waiting);
		k->waiting = next;
	}
	kube_target_finish(&k->target);
	wipe_free(k->auth_header);
	wipe_free(k->exec_cert);
	wipe_free(k->exec_key);
	free(k);
}

const char *k8s_context_name(const struct k8s *k)
{
	return k->target.context ? k->target.context : "?";
}

bool k8s_available(const struct config_kubernetes *cfg)
{
	if (cfg->configured) {
		return true;
	}
	const char *env = getenv("KUBECONFIG");
	if (env && *env) {
		return true;
	}
	char *def = path_expand("~/.kube/config");
	bool exists = access(def, F_OK) == 0;
	free(def);
	return exists;
}

/* Which kubeconfig files to read: [kubernetes] kubeconfig, $KUBECONFIG, ~/.kube/config. */
static char *kubeconfig_paths(const struct config_kubernetes *cfg)
{
	if (cfg->kubeconfig) {
		return xstrdup(cfg->kubeconfig);
	}
	const char *env = getenv("KUBECONFIG");
	if (env && *env) {
		return xstrdup(env);
	}
	return path_expand("~/.kube/config");
}

static void set_bearer(struct k8s *k, const char *token)
{
	wipe_free(k->auth_header);
	k->auth_header = token ? xasprintf("Authorization: Bearer %s", token) : NULL;
}

static void ensure_loaded(struct k8s *k)
{
	if (k->loaded) {
		return;
	}
	k->loaded = true;
	char *paths = kubeconfig_paths(k->cfg);
	if (!kubeconfig_load(paths, k->cfg->context, &k->target, &k->load_err)) {
		if (k->load_err.code == ERR_NONE) {
			k->load_err.code = ERR_CONFIG;
		}
		if (!str_has_prefix(k->load_err.msg, "kubernetes:")) {
			char msg[sizeof(k->load_err.msg)];
			snprintf(msg, sizeof(msg), "kubernetes: %s", k->load_err.msg);
			memcpy(k->load_err.msg, msg, sizeof(msg));
		}
	}
	free(paths);
	if (k->load_err.code != ERR_NONE) {
		return;
	}
	set_bearer(k, k->target.token);
	k->tls.ca_pem = k->target.ca_pem;
	k->tls.insecure = k->target.insecure;
	k->tls.client_cert_pem = k->target.client_cert_pem;
	k->tls.client_key_pem = k->target.client_key_pem;
	k->tls.server_name = k->target.tls_server_name;
}

/* --- turning answers into errors a person can act on --- */

static void k8s_error(struct k8s *k, struct err *out, const struct http_response *resp,
                      const struct err *err, const char *what)
{
	if (!http_failed_with_status(resp)) {
		*out = *err;
		return;
	}
	long status = resp->status;
	struct k8s_status st = {0};
	bool has_status = resp->len && k8s_parse_status(resp->body, resp->len, &st);
	const char *msg = has_status && st.message ? st.message
	                  : resp->reason           ? resp->reason
	                                           : "error";
	if (status == 401) {
		err_set(out, ERR_AUTH, status,
		        "kubernetes: 401 %s: the credentials of context '%s' were refused (expired "
		        "token or certificate? check with kubectl --context %s get nodes)",
		        msg, k8s_context_name(k), k8s_context_name(k));
	} else if (status == 403) {
		err_set(out, ERR_AUTH, status, "kubernetes: 403 %s", msg);
	} else {
		http_status_error(out, "kubernetes", status, msg);
		size_t n = strlen(out->msg);
		snprintf(out->msg + n, sizeof(out->msg) - n, " (%s)", what);
	}
	http_append_retry_after(out, resp);
	k8s_status_finish(&st);
}

static struct http_request *k8s_get(struct k8s_op *op, const char *path_and_query,
                                    const char *accept, int retries, long timeout_ms,
                                    http_done_fn done)
{
	struct k8s *k = op->k;
	char *url = xasprintf("%s%s", k->target.server, path_and_query);
	const char *headers[3] = {accept, NULL, NULL};
	if (k->auth_header) {
		headers[1] = k->auth_header;
	}
	struct http_request_opts o = {
	        .backend = "kubernetes",
	        .url = url,
	        .headers = headers,
	        .tls = &k->tls,
	        .max_retries = retries,
	        .max_body = (size_t)16
	                    << 20, /* a page of 500 pods: ~0.5 MiB as a Table, 4 as JSON */
	        /* a limit of its own never outlasts --timeout */
	        .timeout_ms = timeout_ms > 0 && timeout_ms > http_default_timeout(k->http)
	                              ? http_default_timeout(k->http)
	                              : timeout_ms,
	        .on_done = done,
	        .ud = op,
	};
	struct http_request *req = http_start(k->http, &o);
	free(url);
	return req;
}

/* A parser's complaint, said as the backend's. */
static void parse_error(struct err *e, const char *what)
{
	char msg[sizeof(e->msg)];
	snprintf(msg, sizeof(msg),
	         "kubernetes: malformed answer to %s: %s (is the kubeconfig's server the "
	         "Kubernetes API?)",
	         what, e->msg);
	memcpy(e->msg, msg, sizeof(msg));
	e->code = ERR_MALFORMED;
}

/* --- nodes --- */

static void nodes_complete(struct k8s_op *op)
{
	if (op->pending > 0) {
		return;
	}
	struct k8s_nodes *r = &op->nodes;
	for (size_t i = 0; i < r->nodes.len; i++) {
		struct node_row *row = &r->nodes.items[i];
		for (size_t j = 0; j < op->n_usage; j++) {
			if (!str_eq(op->usage[j].name, row->name)) {
				continue;
			}
			row->mem_used = op->usage[j].mem;
			if (row->cpus > 0) {
				row->cpu = (double)op->usage[j].cpu_nano / 1e9 / row->cpus;
			}
		}
	}
	struct k8s_nodes *out = xmalloc(sizeof(*out));
	*out = *r;
	memset(r, 0, sizeof(*r));
	k8s_nodes_fn cb = op->nodes_cb;
	void *ud = op->ud;
	op_free(op);
	cb(ud, out);
}

static void on_nodes(void *ud, struct http_response *resp, const struct err *err)
{
	struct k8s_op *op = ud;
	op->reqs[0] = NULL;
	op->pending--;
	struct err e;
	err_clear(&e);
	if (err) {
		k8s_error(op->k, &e, resp, err, "list nodes");
	} else if (!k8s_parse_nodes(resp->body, resp->len, now_wall(), &op->nodes.nodes,
	                            &op->nodes.extras, &e)) {
		parse_error(&e, "/api/v1/nodes");
	}
	if (e.code != ERR_NONE) {
		op->nodes.failed = true;
		err_list_add(&op->nodes.errors, &e);
	}
	nodes_complete(op);
}

static void on_node_metrics(void *ud, struct http_response *resp, const struct err *err)
{
	struct k8s_op *op = ud;
	op->reqs[1] = NULL;
	op->pending--;
	/* No metrics-server (404/503) is a normal cluster: usage stays unknown, no error. */
	if (!err) {
		struct err e;
		op->nodes.metrics =
		        k8s_parse_node_metrics(resp->body, resp->len, &op->usage, &op->n_usage, &e);
	} else if (err->code == ERR_AUTH) {
		struct err e;
		k8s_error(op->k, &e, resp, err, "node metrics");
		err_list_add(&op->nodes.errors, &e);
	}
	nodes_complete(op);
}

/* --- pods --- */

static void pods_request_page(struct k8s_op *op);

static void pods_complete(struct k8s_op *op)
{
	struct k8s_pods *out = xmalloc(sizeof(*out));
	*out = op->pods;
	memset(&op->pods, 0, sizeof(op->pods));
	k8s_pods_fn cb = op->pods_cb;
	void *ud = op->ud;
	op_free(op);
	cb(ud, out);
}

static void on_pods_page(void *ud, struct http_response *resp, const struct err *err)
{
	struct k8s_op *op = ud;
	op->reqs[0] = NULL;
	op->pending--;
	op->pods.pages++;
	struct err e;
	err_clear(&e);
	if (err) {
		if (resp->status == 410 && op->cont && op->pods.restarts < MAX_LIST_RESTARTS) {
			/* The continue token expired (~5 min): the list must start over to be
			 * consistent. */
			op->pods.restarts++;
			pod_list_finish(&op->pods.pods);
			free(op->cont);
			op->cont = NULL;
			pods_request_page(op);
			return;
		}
		k8s_error(op->k, &e, resp, err, "list pods");
	} else {
		char *cont = NULL, *rv = NULL;
		if (k8s_parse_pod_page(resp->body, resp->len, &op->pods.pods, &cont, &rv, &e)) {
			/* Every page carries the same resourceVersion: the list's snapshot. */
			if (!op->cont || !op->pods.resource_version) {
				free(op->pods.resource_version);
				op->pods.resource_version = rv;
				rv = NULL;
			}
			free(rv);
			free(op->cont);
			op->cont = cont;
			if (cont) {
				pods_request_page(op);
				return;
			}
		} else {
			parse_error(&e, "the pod list");
		}
	}
	if (e.code != ERR_NONE) {
		op->pods.failed = true;
		err_list_add(&op->pods.errors, &e);
	}
	pods_complete(op);
}

static void pods_request_page(struct k8s_op *op)
{
	struct buf path;
	buf_init(&path);
	if (op->ns) {
		char *ns = url_escape(op->ns);
		buf_appendf(&path, "/api/v1/namespaces/%s/pods", ns);
		free(ns);
	} else {
		buf_appendf(&path, "/api/v1/pods");
	}
	buf_appendf(&path, "?limit=%d%s", PAGE_LIMIT,
	            op->with_objects ? "&includeObject=Object" : "");
	if (op->cont) {
		char *c = url_escape(op->cont);
		buf_appendf(&path, "&continue=%s", c);
		free(c);
	}
	op->pending++;
	op->reqs[0] = k8s_get(op, path.data, TABLE_ACCEPT, -1, 0, on_pods_page);
	buf_finish(&path);
}

/* --- any other request --- */

static void on_raw_done(void *ud, struct http_response *resp, const struct err *err)
{
	struct k8s_op *op = ud;
	op->reqs[0] = NULL;
	struct err e;
	if (err) {
		k8s_error(op->k, &e, resp, err, op->raw.what);
	}
	http_done_fn done = op->raw.on_done;
	void *cb_ud = op->raw.ud;
	op_free(op);
	done(cb_ud, resp, err ? &e : NULL);
}

static bool on_raw_chunk(void *ud, const char *data, size_t len)
{
	struct k8s_op *op = ud;
	return op->raw.on_chunk(op->raw.ud, data, len);
}

static void raw_send(struct k8s_op *op)
{
	struct k8s *k = op->k;
	char *url = xasprintf("%s%s", k->target.server, op->raw.path);
	const char *headers[4] = {op->raw.accept, NULL, NULL, NULL};
	int nh = 1;
	if (k->auth_header) {
		headers[nh++] = k->auth_header;
	}
	if (op->raw.body) {
		headers[nh++] = op->raw_strings[5];
	}
	struct http_request_opts o = {
	        .backend = "kubernetes",
	        .method = op->raw.method,
	        .url = url,
	        .headers = headers,
	        .body = op->raw.body,
	        .body_len = op->raw.body ? strlen(op->raw.body) : 0,
	        .tls = &k->tls,
	        .max_retries = op->raw.max_retries,
	        .max_body = op->raw.max_body,
	        .timeout_ms = op->raw.timeout_ms,
	        .idle_timeout_ms = op->raw.idle_timeout_ms,
	        .on_chunk = op->raw.on_chunk ? on_raw_chunk : NULL,
	        .on_done = on_raw_done,
	        .ud = op,
	};
	op->reqs[0] = http_start(k->http, &o);
	free(url);
}

/* --- preparing credentials, then sending --- */

static void op_send(struct k8s_op *op)
{
	if (op->kind == OP_RAW) {
		raw_send(op);
	} else if (op->kind == OP_NODES) {
		op->pending = 2;
		op->reqs[0] =
		        k8s_get(op, "/api/v1/nodes", "Accept: application/json", -1, 0, on_nodes);
		op->reqs[1] = k8s_get(op, "/apis/metrics.k8s.io/v1beta1/nodes",
		                      "Accept: application/json", 0, 10000, on_node_metrics);
	} else {
		pods_request_page(op);
	}
}

static void op_fail(struct k8s_op *op, const struct err *e)
{
	if (op->kind == OP_RAW) {
		char empty[1] = "";
		struct http_response resp = {.body = empty, .retry_after = -1};
		http_done_fn done = op->raw.on_done;
		void *ud = op->raw.ud;
		struct err copy = *e;
		op_free(op);
		done(ud, &resp, &copy);
	} else if (op->kind == OP_NODES) {
		op->nodes.failed = true;
		err_list_add(&op->nodes.errors, e);
		op->pending = 0;
		nodes_complete(op);
	} else {
		op->pods.failed = true;
		err_list_add(&op->pods.errors, e);
		pods_complete(op);
	}
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct k8s_op *op = arg;
	struct err e = op->fail;
	op_fail(op, &e);
}

static void on_exec_done(void *ud, const char *out, size_t len, const struct err *err)
{
	struct k8s *k = ud;
	k->exec = NULL;
	struct err e;
	err_clear(&e);
	if (err) {
		e = *err;
	} else {
		char *token = NULL, *cert = NULL, *key = NULL;
		double expiry = 0;
		if (kube_exec_parse_credential(out, len, &token, &cert, &key, &expiry, &e)) {
			set_bearer(k, token);
			wipe_free(token);
			wipe_free(k->exec_cert);
			wipe_free(k->exec_key);
			k->exec_cert = cert;
			k->exec_key = key;
			if (cert && key) {
				k->tls.client_cert_pem = cert;
				k->tls.client_key_pem = key;
			}
			k->exec_expiry = expiry;
		} else {
			char msg[sizeof(e.msg)];
			snprintf(msg, sizeof(msg), "kubernetes: exec credential plugin '%s': %s",
			         k->target.exec->command, e.msg);
			memcpy(e.msg, msg, sizeof(msg));
		}
	}
	struct k8s_op *op = k->waiting;
	k->waiting = NULL;
	while (op) {
		struct k8s_op *next = op->next_waiting;
		op->next_waiting = NULL;
		if (e.code != ERR_NONE) {
			op_fail(op, &e);
		} else {
			op_send(op);
		}
		op = next;
	}
}

static bool exec_needed(const struct k8s *k)
{
	if (!k->target.exec) {
		return false;
	}
	if (k->exec_expiry < 0) {
		return true;
	}
	return k->exec_expiry > 0 && k->exec_expiry - now_wall() < EXPIRY_MARGIN_S;
}

static void op_begin(struct k8s_op *op)
{
	struct k8s *k = op->k;
	ensure_loaded(k);
	if (k->load_err.code != ERR_NONE) {
		op->fail = k->load_err;
		op->defer = evtimer_new(k->base, on_defer, op);
		struct timeval tv = {0, 0};
		evtimer_add(op->defer, &tv);
		return;
	}
	if (!exec_needed(k)) {
		op_send(op);
		return;
	}
	if (str_eq(k->target.exec->interactive_mode, "Always")) {
		/* Such a plugin asks questions on a terminal; we run plugins without one. */
		err_set(&op->fail, ERR_AUTH, 0,
		        "kubernetes: the exec credential plugin '%s' of context '%s' needs a "
		        "terminal "
		        "(interactiveMode: Always); run kubectl once to log in, or use a token",
		        k->target.exec->command, k8s_context_name(k));
		op->defer = evtimer_new(k->base, on_defer, op);
		struct timeval tv = {0, 0};
		evtimer_add(op->defer, &tv);
		return;
	}
	op->next_waiting = k->waiting;
	k->waiting = op;
	if (!k->exec) {
		k->exec = exec_run_start(k->base, k->target.exec->command, k->target.exec->args,
		                         k->target.exec->env, EXEC_TIMEOUT_MS, on_exec_done, k);
	}
}

struct k8s_op *k8s_fetch_nodes(struct k8s *k, k8s_nodes_fn cb, void *ud)
{
	struct k8s_op *op = xcalloc(1, sizeof(*op));
	op->k = k;
	op->kind = OP_NODES;
	op->nodes_cb = cb;
	op->ud = ud;
	op_begin(op);
	return op;
}

static struct k8s_op *fetch_pods(struct k8s *k, const char *ns, bool with_objects, k8s_pods_fn cb,
                                 void *ud)
{
	struct k8s_op *op = xcalloc(1, sizeof(*op));
	op->k = k;
	op->kind = OP_PODS;
	op->pods_cb = cb;
	op->ud = ud;
	op->with_objects = with_objects;
	const char *use_ns = ns ? ns : k->cfg->namespace_;
	op->ns = use_ns && *use_ns ? xstrdup(use_ns) : NULL;
	op_begin(op);
	return op;
}

struct k8s_op *k8s_fetch_pods(struct k8s *k, const char *ns, k8s_pods_fn cb, void *ud)
{
	return fetch_pods(k, ns, false, cb, ud);
}

struct k8s_op *k8s_fetch_pods_with_resources(struct k8s *k, const char *ns, k8s_pods_fn cb,
                                             void *ud)
{
	return fetch_pods(k, ns, true, cb, ud);
}

struct k8s_op *k8s_request(struct k8s *k, const struct k8s_request_opts *opts)
{
	struct k8s_op *op = xcalloc(1, sizeof(*op));
	op->k = k;
	op->kind = OP_RAW;
	op->raw = *opts;
	op->raw.path = op->raw_strings[0] = xstrdup(opts->path ? opts->path : "/");
	op->raw.accept = op->raw_strings[1] =
	        xstrdup(opts->accept ? opts->accept : "Accept: application/json");
	op->raw.what = op->raw_strings[2] = xstrdup(opts->what ? opts->what : "request");
	op->raw.method = op->raw_strings[3] = opts->method ? xstrdup(opts->method) : NULL;
	op->raw.body = op->raw_strings[4] = opts->body ? xstrdup(opts->body) : NULL;
	op->raw.content_type = NULL;
	op->raw_strings[5] = xasprintf("Content-Type: %s", opts->content_type ? opts->content_type
	                                                                      : "application/json");
	op_begin(op);
	return op;
}

void k8s_op_cancel(struct k8s_op *op)
{
	if (!op) {
		return;
	}
	struct k8s_op **pp = &op->k->waiting;
	while (*pp) {
		if (*pp == op) {
			*pp = op->next_waiting;
			break;
		}
		pp = &(*pp)->next_waiting;
	}
	op_free(op);
}
