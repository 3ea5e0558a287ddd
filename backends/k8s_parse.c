/* k8s_parse.c: see k8s_parse.h.
 *
 * Shape problems that make the whole answer unusable (not JSON, not an object, no item array, a
 * Table without columns) fail with ERR_MALFORMED before any row is added, so a failed call leaves
 * the output untouched. Inside an item every field is optional and every type is checked: a
 * field that is missing or of the wrong type stays "unknown" and the row is kept. */
#include "k8s_parse.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_util.h"
#include "quantity.h"
#include "util.h"

#define K8S_ROLE_PREFIX "node-role.kubernetes.io/"

/* ---- shared helpers ---- */

/* k8s_load parses body and checks it is a JSON object that is not a Status; `what` starts the
 * error message ("node list"), `expect` names the kind wanted. */
static json_t *k8s_load(const char *what, const char *expect, const char *body, size_t len,
                        struct err *err)
{
	char jerr[160];
	json_t *root = json_load_body(body, len, jerr, sizeof(jerr));
	if (!root) {
		err_set(err, ERR_MALFORMED, 0, "%s: not JSON (%s)", what, jerr);
		return NULL;
	}
	if (!json_is_object(root)) {
		err_set(err, ERR_MALFORMED, 0, "%s: not a JSON object", what);
		json_decref(root);
		return NULL;
	}
	if (str_eq(json_str(root, "kind"), "Status")) {
		const char *msg = json_str(root, "message");
		err_set(err, ERR_MALFORMED, 0, "%s: expected a %s, got a Status: %.300s", what,
		        expect, msg ? msg : "(no message)");
		json_decref(root);
		return NULL;
	}
	return root;
}

/* k8s_items returns root[key] as an array; null is an empty list (*items = NULL); a missing key
 * or any other type is malformed. */
static bool k8s_items(const char *what, json_t *root, const char *key, json_t **items,
                      struct err *err)
{
	json_t *v = json_object_get(root, key);
	if (!v) {
		return err_set(err, ERR_MALFORMED, 0, "%s: no %s array", what, key);
	}
	if (json_is_null(v)) {
		*items = NULL;
		return true;
	}
	if (!json_is_array(v)) {
		return err_set(err, ERR_MALFORMED, 0, "%s: %s is not an array", what, key);
	}
	*items = v;
	return true;
}

static char *k8s_dup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* k8s_nonempty: a string at key that is neither absent nor empty. */
static const char *k8s_nonempty(const json_t *obj, const char *key)
{
	const char *s = json_str(obj, key);
	return s && *s ? s : NULL;
}

/* k8s_quantity reads a quantity at key (a string, or a number from a non-standard server);
 * scale is 0 (units), 3 (milli) or 9 (nano). */
static bool k8s_quantity(const json_t *obj, const char *key, int scale, int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	char num[64];
	const char *s = NULL;
	if (json_is_string(v)) {
		s = json_string_value(v);
	} else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" PRId64, (int64_t)json_integer_value(v));
		s = num;
	} else if (json_is_real(v) && isfinite(json_real_value(v))) {
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		s = num;
	}
	if (!s) {
		return false;
	}
	switch (scale) {
	case 3:
		return quantity_parse_milli(s, out);
	case 9:
		return quantity_parse_nano(s, out);
	default:
		return quantity_parse_int(s, out);
	}
}

static void k8s_join(struct buf *b, const char *s)
{
	if (b->len) {
		buf_append(b, ",", 1);
	}
	buf_append(b, s, strlen(s));
}

static char *k8s_buf_or_null(struct buf *b)
{
	if (b->len == 0) {
		buf_finish(b);
		return NULL;
	}
	return buf_steal(b);
}

static int k8s_strcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static double k8s_time(const json_t *obj, const char *key)
{
	double t;
	return rfc3339_parse(json_str(obj, key), &t) ? t : NAN;
}

/* ---- nodes ---- */

/* k8s_node_roles: as kubectl, roles from node-role.kubernetes.io/<role> label keys and the
 * kubernetes.io/role label's value, sorted, each once; NULL when none. */
static char *k8s_node_roles(const json_t *labels)
{
	if (!json_is_object(labels)) {
		return NULL;
	}
	size_t n = 0, cap = json_object_size(labels);
	const char **roles = xcalloc(cap ? cap : 1, sizeof(*roles));
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)labels, key, value) {
		const char *role = NULL;
		if (str_has_prefix(key, K8S_ROLE_PREFIX)) {
			role = key + strlen(K8S_ROLE_PREFIX);
		} else if (strcmp(key, "kubernetes.io/role") == 0 && json_is_string(value)) {
			role = json_string_value(value);
		}
		if (role && *role && n < cap) {
			roles[n++] = role;
		}
	}
	qsort(roles, n, sizeof(*roles), k8s_strcmp);
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(roles[i], roles[i - 1]) != 0) {
			k8s_join(&b, roles[i]);
		}
	}
	free(roles);
	return k8s_buf_or_null(&b);
}

static void k8s_node_conditions(const json_t *status, double now, struct node_row *r)
{
	const char *ready = NULL;
	double since = NAN;
	struct buf pressures;
	buf_init(&pressures);
	json_t *conds = json_object_get(status, "conditions");
	size_t i;
	json_t *c;
	if (json_is_array(conds)) {
		json_array_foreach (conds, i, c) {
			const char *type = json_str(c, "type");
			const char *st = json_str(c, "status");
			if (!type || !st) {
				continue;
			}
			if (strcmp(type, "Ready") == 0) {
				if (!ready) {
					ready = st;
					since = k8s_time(c, "lastTransitionTime");
				}
			} else if (strcmp(st, "True") == 0 && *type) {
				k8s_join(&pressures, type);
			}
		}
	}
	if (str_eq(ready, "True")) {
		r->status = xstrdup("Ready");
		if (!isnan(since)) {
			double up = now - since;
			r->uptime = up < 0 ? 0 : up > 9e18 ? INT64_MAX : (int64_t)up;
		}
	} else if (str_eq(ready, "False")) {
		r->status = xstrdup("NotReady");
	} else {
		r->status = xstrdup("Unknown");
	}
	r->pressures = k8s_buf_or_null(&pressures);
}

static void k8s_node_row(const json_t *item, double now, struct node_row *r,
                         struct k8s_node_extra *x)
{
	json_t *meta = json_object_get(item, "metadata");
	json_t *spec = json_object_get(item, "spec");
	json_t *status = json_object_get(item, "status");
	const char *name = json_str(meta, "name");
	r->name = xstrdup(name ? name : "");
	r->source = NODE_KUBERNETES;
	k8s_node_conditions(status, now, r);
	r->roles = k8s_node_roles(json_object_get(meta, "labels"));
	r->unschedulable = json_is_true(json_object_get(spec, "unschedulable")) ? 1 : 0;

	json_t *addrs = json_object_get(status, "addresses");
	size_t i;
	json_t *a;
	if (json_is_array(addrs)) {
		json_array_foreach (addrs, i, a) {
			const char *addr = k8s_nonempty(a, "address");
			if (addr && str_eq(json_str(a, "type"), "InternalIP")) {
				r->internal_ip = xstrdup(addr);
				break;
			}
		}
	}

	json_t *cap = json_object_get(status, "capacity");
	json_t *alloc = json_object_get(status, "allocatable");
	int64_t v;
	if (k8s_quantity(cap, "cpu", 3, &v) && v >= 0) {
		int64_t cores = v / 1000 + (v % 1000 ? 1 : 0);
		r->cpus = cores > INT_MAX ? INT_MAX : (int)cores;
	}
	if (k8s_quantity(cap, "memory", 0, &v) && v >= 0) {
		r->mem_total = v;
	}
	if (x) {
		x->alloc_cpu_milli = k8s_quantity(alloc, "cpu", 3, &v) && v >= 0 ? v : -1;
		x->alloc_mem = k8s_quantity(alloc, "memory", 0, &v) && v >= 0 ? v : -1;
		x->capacity_cpu_milli = k8s_quantity(cap, "cpu", 3, &v) && v >= 0 ? v : -1;
		x->capacity_mem = r->mem_total;
	}
}

bool k8s_parse_nodes(const char *body, size_t len, double now, struct node_list *out,
                     struct k8s_node_extra **extras, struct err *err)
{
	if (extras) {
		*extras = NULL;
	}
	json_t *root = k8s_load("node list", "NodeList", body, len, err);
	if (!root) {
		return false;
	}
	json_t *items = NULL;
	if (!k8s_items("node list", root, "items", &items, err)) {
		json_decref(root);
		return false;
	}
	size_t n = json_array_size(items);
	struct k8s_node_extra *x = extras && n ? xcalloc(n, sizeof(*x)) : NULL;
	size_t rows = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *item = json_array_get(items, i);
		if (!json_is_object(item)) {
			continue; /* nothing to show for a non-object */
		}
		k8s_node_row(item, now, node_list_push(out), x ? &x[rows] : NULL);
		rows++;
	}
	if (extras) {
		if (rows == 0) {
			free(x);
			x = NULL;
		}
		*extras = x;
	}
	json_decref(root);
	return true;
}

/* ---- node metrics ---- */

bool k8s_parse_node_metrics(const char *body, size_t len, struct k8s_node_usage **out, size_t *n,
                            struct err *err)
{
	*out = NULL;
	*n = 0;
	json_t *root = k8s_load("node metrics", "NodeMetricsList", body, len, err);
	if (!root) {
		return false;
	}
	json_t *items = NULL;
	if (!k8s_items("node metrics", root, "items", &items, err)) {
		json_decref(root);
		return false;
	}
	size_t count = json_array_size(items);
	struct k8s_node_usage *u = count ? xcalloc(count, sizeof(*u)) : NULL;
	size_t used = 0;
	for (size_t i = 0; i < count; i++) {
		json_t *item = json_array_get(items, i);
		if (!json_is_object(item)) {
			continue;
		}
		const char *name = json_str(json_object_get(item, "metadata"), "name");
		json_t *usage = json_object_get(item, "usage");
		struct k8s_node_usage *e = &u[used++];
		e->name = xstrdup(name ? name : "");
		int64_t v;
		e->cpu_nano = k8s_quantity(usage, "cpu", 9, &v) && v >= 0 ? v : -1;
		e->mem = k8s_quantity(usage, "memory", 0, &v) && v >= 0 ? v : -1;
	}
	if (used == 0) {
		free(u);
		u = NULL;
	}
	*out = u;
	*n = used;
	json_decref(root);
	return true;
}

void k8s_node_usage_free(struct k8s_node_usage *u, size_t n)
{
	for (size_t i = 0; u && i < n; i++) {
		free(u[i].name);
	}
	free(u);
}

/* ---- pods ---- */

enum k8s_col {
	K8S_COL_NAME,
	K8S_COL_READY,
	K8S_COL_STATUS,
	K8S_COL_RESTARTS,
	K8S_COL_IP,
	K8S_COL_NODE,
	K8S_COL_COUNT
};

static const char *const k8s_col_names[K8S_COL_COUNT] = {"Name",     "Ready", "Status",
                                                         "Restarts", "IP",    "Node"};

/* k8s_cell_text: a Table cell as text (strings as they are, numbers formatted); NULL for null
 * and anything that is not a scalar. */
static char *k8s_cell_text(const json_t *cell)
{
	if (json_is_string(cell)) {
		return xstrdup(json_string_value(cell));
	}
	if (json_is_integer(cell)) {
		return xasprintf("%" PRId64, (int64_t)json_integer_value(cell));
	}
	if (json_is_real(cell)) {
		return xasprintf("%g", json_real_value(cell));
	}
	if (json_is_boolean(cell)) {
		return xstrdup(json_is_true(cell) ? "true" : "false");
	}
	return NULL;
}

/* k8s_none: kubectl prints "<none>" for an empty IP or node; keep NULL for those. */
static char *k8s_none(char *s)
{
	if (s && (*s == '\0' || strcmp(s, "<none>") == 0)) {
		free(s);
		return NULL;
	}
	return s;
}

static int64_t k8s_cell_restarts(const json_t *cell)
{
	if (json_is_integer(cell)) {
		json_int_t v = json_integer_value(cell);
		return v >= 0 ? (int64_t)v : -1;
	}
	return k8s_restarts_cell(json_string_value(cell));
}

/* The resources of one container: adds its requests/limits to the four sums. */
static void container_resources(const json_t *c, double *rc, int64_t *rm, double *lc, int64_t *lm)
{
	json_t *res = json_object_get(c, "resources");
	const char *s;
	int64_t v;
	json_t *req = json_object_get(res, "requests");
	json_t *lim = json_object_get(res, "limits");
	if ((s = json_str(req, "cpu")) && quantity_parse_milli(s, &v)) {
		*rc += (double)v / 1000.0;
	}
	if ((s = json_str(req, "memory")) && quantity_parse_int(s, &v)) {
		*rm = quantity_add(*rm, v);
	}
	if ((s = json_str(lim, "cpu")) && quantity_parse_milli(s, &v)) {
		*lc += (double)v / 1000.0;
	}
	if ((s = json_str(lim, "memory")) && quantity_parse_int(s, &v)) {
		*lm = quantity_add(*lm, v);
	}
}

/* pod_owner: the controlling owner; a ReplicaSet named DEPLOYMENT-HASH (HASH the
 * pod-template-hash label) is its Deployment; a pod owned by a Node (static) stands alone. */
static void pod_owner(const json_t *md, struct pod_row *r)
{
	json_t *refs = json_object_get(md, "ownerReferences");
	json_t *owner = NULL, *ref;
	size_t i;
	json_array_foreach (refs, i, ref) {
		if (json_is_true(json_object_get(ref, "controller")) || !owner) {
			owner = ref;
		}
	}
	const char *kind = json_str(owner, "kind");
	const char *name = json_str(owner, "name");
	if (!kind || !name || strcmp(kind, "Node") == 0) {
		return;
	}
	if (strcmp(kind, "ReplicaSet") == 0) {
		const char *hash = json_str(json_object_get(md, "labels"), "pod-template-hash");
		size_t nl = strlen(name), hl = hash ? strlen(hash) : 0;
		if (hash && hl > 0 && nl > hl + 1 && name[nl - hl - 1] == '-' &&
		    strcmp(name + nl - hl, hash) == 0) {
			r->owner_kind = xstrdup("Deployment");
			r->owner_name = xstrndup(name, nl - hl - 1);
			return;
		}
	}
	r->owner_kind = xstrdup(kind);
	r->owner_name = xstrdup(name);
}

/* k8s_pod_resources fills what the scheduler counts from a full Pod: requests and limits summed
 * over the containers (an init container's, when larger, counts instead, as the scheduler counts
 * it), the owning workload, and whether it finished. Does nothing for an object without spec
 * (PartialObjectMetadata). */
static void k8s_pod_resources(const json_t *pod, struct pod_row *r)
{
	json_t *spec = json_object_get(pod, "spec");
	if (!json_is_object(spec)) {
		return;
	}
	r->has_resources = true;
	const char *phase = json_str(json_object_get(pod, "status"), "phase");
	r->finished = str_eq(phase, "Succeeded") || str_eq(phase, "Failed");
	size_t j;
	json_t *c;
	json_array_foreach (json_object_get(spec, "containers"), j, c) {
		container_resources(c, &r->requests_cpu, &r->requests_mem, &r->limits_cpu,
		                    &r->limits_mem);
	}
	json_array_foreach (json_object_get(spec, "initContainers"), j, c) {
		double rc = 0, lc = 0;
		int64_t rm = 0, lm = 0;
		container_resources(c, &rc, &rm, &lc, &lm);
		r->requests_cpu = fmax(r->requests_cpu, rc);
		r->limits_cpu = fmax(r->limits_cpu, lc);
		r->requests_mem = rm > r->requests_mem ? rm : r->requests_mem;
		r->limits_mem = lm > r->limits_mem ? lm : r->limits_mem;
	}
	pod_owner(json_object_get(pod, "metadata"), r);
}

static void k8s_table_row(const json_t *row, const int *col, struct pod_row *r)
{
	json_t *cells = json_object_get(row, "cells");
	json_t *meta = json_path(row, "object", "metadata", NULL);
	json_t *cell[K8S_COL_COUNT];
	for (int c = 0; c < K8S_COL_COUNT; c++) {
		cell[c] = col[c] >= 0 ? json_array_get(cells, (size_t)col[c]) : NULL;
	}
	r->name = k8s_cell_text(cell[K8S_COL_NAME]);
	if (!r->name) {
		const char *name = json_str(meta, "name");
		r->name = xstrdup(name ? name : "");
	}
	r->namespace_ = k8s_dup(k8s_nonempty(meta, "namespace"));
	r->ready = k8s_cell_text(cell[K8S_COL_READY]);
	r->phase = k8s_cell_text(cell[K8S_COL_STATUS]);
	r->restarts = k8s_cell_restarts(cell[K8S_COL_RESTARTS]);
	r->ip = k8s_none(k8s_cell_text(cell[K8S_COL_IP]));
	r->node = k8s_none(k8s_cell_text(cell[K8S_COL_NODE]));
	r->created = k8s_time(meta, "creationTimestamp");
	k8s_pod_resources(json_object_get(row, "object"), r); /* includeObject=Object */
}

static bool k8s_parse_table(json_t *root, struct pod_list *out, struct err *err)
{
	json_t *cols = json_object_get(root, "columnDefinitions");
	if (!json_is_array(cols)) {
		return err_set(err, ERR_MALFORMED, 0, "pod table: Table without columnDefinitions");
	}
	json_t *rows = NULL;
	if (!k8s_items("pod table", root, "rows", &rows, err)) {
		return false;
	}
	int col[K8S_COL_COUNT];
	for (int c = 0; c < K8S_COL_COUNT; c++) {
		col[c] = -1;
	}
	size_t i;
	json_t *def;
	json_array_foreach (cols, i, def) {
		const char *name = json_str(def, "name");
		for (int c = 0; name && c < K8S_COL_COUNT && i <= INT_MAX; c++) {
			if (col[c] < 0 && strcasecmp(name, k8s_col_names[c]) == 0) {
				col[c] = (int)i;
			}
		}
	}
	json_t *row;
	json_array_foreach (rows, i, row) {
		if (json_is_object(row)) {
			k8s_table_row(row, col, pod_list_push(out));
		}
	}
	return true;
}

/* k8s_pod_status derives kubectl's READY, STATUS and RESTARTS columns from a full Pod, following
 * printPod in kubectl (pkg/printers/internalversion/printers.go), without sidecar subtleties. */
static void k8s_pod_status(const json_t *pod, struct pod_row *r)
{
	json_t *meta = json_object_get(pod, "metadata");
	json_t *spec = json_object_get(pod, "spec");
	json_t *status = json_object_get(pod, "status");
	const char *phase = k8s_nonempty(status, "phase");
	const char *status_reason = k8s_nonempty(status, "reason");
	char *reason = k8s_dup(status_reason ? status_reason : phase);
	int64_t restarts = 0;
	size_t total = json_array_size(json_object_get(spec, "containers"));
	size_t ready = 0;

	bool initializing = false;
	json_t *inits = json_object_get(status, "initContainerStatuses");
	size_t n_init = json_array_size(json_object_get(spec, "initContainers"));
	size_t i;
	json_t *c;
	json_array_foreach (inits, i, c) {
		int64_t rc;
		if (json_int(c, "restartCount", &rc) && rc > 0) {
			restarts += rc;
		}
		json_t *term = json_path(c, "state", "terminated", NULL);
		json_t *wait = json_path(c, "state", "waiting", NULL);
		int64_t code = 0, sig = 0;
		bool has_code = json_int(term, "exitCode", &code);
		json_int(term, "signal", &sig);
		if (json_is_object(term) && has_code && code == 0) {
			continue;
		}
		free(reason);
		const char *wr = k8s_nonempty(wait, "reason");
		if (json_is_object(term)) {
			const char *tr = k8s_nonempty(term, "reason");
			reason = tr    ? xasprintf("Init:%s", tr)
			         : sig ? xasprintf("Init:Signal:%" PRId64, sig)
			               : xasprintf("Init:ExitCode:%" PRId64, code);
		} else if (wr && strcmp(wr, "PodInitializing") != 0) {
			reason = xasprintf("Init:%s", wr);
		} else {
			reason = xasprintf("Init:%zu/%zu", i,
			                   n_init ? n_init : json_array_size(inits));
		}
		initializing = true;
		break;
	}

	bool initialized = false;
	json_t *conds = json_object_get(status, "conditions");
	json_array_foreach (conds, i, c) {
		if (str_eq(json_str(c, "type"), "Initialized") &&
		    str_eq(json_str(c, "status"), "True")) {
			initialized = true;
		}
	}
	if (!initializing || initialized) {
		restarts = 0;
		bool running = false;
		json_t *cs = json_object_get(status, "containerStatuses");
		for (size_t k = json_array_size(cs); k-- > 0;) {
			c = json_array_get(cs, k);
			int64_t rc;
			if (json_int(c, "restartCount", &rc) && rc > 0) {
				restarts += rc;
			}
			json_t *term = json_path(c, "state", "terminated", NULL);
			const char *wr =
			        k8s_nonempty(json_path(c, "state", "waiting", NULL), "reason");
			const char *tr = k8s_nonempty(term, "reason");
			if (wr || tr) {
				free(reason);
				reason = xstrdup(wr ? wr : tr);
			} else if (json_is_object(term)) {
				int64_t code = 0, sig = 0;
				json_int(term, "exitCode", &code);
				json_int(term, "signal", &sig);
				free(reason);
				reason = sig ? xasprintf("Signal:%" PRId64, sig)
				             : xasprintf("ExitCode:%" PRId64, code);
			} else if (json_is_true(json_object_get(c, "ready")) &&
			           json_is_object(json_path(c, "state", "running", NULL))) {
				running = true;
				ready++;
			}
		}
		if (str_eq(reason, "Completed") && running) {
			bool pod_ready = false;
			json_array_foreach (conds, i, c) {
				if (str_eq(json_str(c, "type"), "Ready") &&
				    str_eq(json_str(c, "status"), "True")) {
					pod_ready = true;
				}
			}
			free(reason);
			reason = xstrdup(pod_ready ? "Running" : "NotReady");
		}
	}

	if (json_object_get(meta, "deletionTimestamp") &&
	    !json_is_null(json_object_get(meta, "deletionTimestamp"))) {
		if (str_eq(status_reason, "NodeLost")) {
			free(reason);
			reason = xstrdup("Unknown");
		} else if (!str_eq(phase, "Succeeded") && !str_eq(phase, "Failed")) {
			free(reason);
			reason = xstrdup("Terminating");
		}
	}
	r->phase = reason;
	r->ready = xasprintf("%zu/%zu", ready, total);
	r->restarts = restarts;
}

/* k8s_pod_row: one full Pod object as a row, as kubectl get pods shows it (a PodList item, or the
 * object of a watch event). */
static void k8s_pod_row(const json_t *pod, struct pod_row *r)
{
	json_t *meta = json_object_get(pod, "metadata");
	const char *name = json_str(meta, "name");
	r->name = xstrdup(name ? name : "");
	r->namespace_ = k8s_dup(k8s_nonempty(meta, "namespace"));
	r->created = k8s_time(meta, "creationTimestamp");
	r->node = k8s_dup(k8s_nonempty(json_object_get(pod, "spec"), "nodeName"));
	r->ip = k8s_dup(k8s_nonempty(json_object_get(pod, "status"), "podIP"));
	k8s_pod_status(pod, r);
	k8s_pod_resources(pod, r);
}

static bool k8s_parse_podlist(json_t *root, struct pod_list *out, struct err *err)
{
	json_t *items = NULL;
	if (!k8s_items("pod list", root, "items", &items, err)) {
		return false;
	}
	size_t i;
	json_t *pod;
	json_array_foreach (items, i, pod) {
		if (!json_is_object(pod)) {
			continue;
		}
		k8s_pod_row(pod, pod_list_push(out));
	}
	return true;
}

static bool parse_pod_table(const char *body, size_t len, struct pod_list *out,
                            char **continue_token, char **resource_version, struct err *err)
{
	if (continue_token) {
		*continue_token = NULL;
	}
	if (resource_version) {
		*resource_version = NULL;
	}
	json_t *root = k8s_load("pod table", "Table", body, len, err);
	if (!root) {
		return false;
	}
	const char *kind = json_str(root, "kind");
	bool ok;
	if (str_eq(kind, "Table") || (!kind && json_object_get(root, "columnDefinitions"))) {
		ok = k8s_parse_table(root, out, err);
	} else if (str_eq(kind, "PodList") || (!kind && json_object_get(root, "items"))) {
		ok = k8s_parse_podlist(root, out, err);
	} else {
		ok = err_set(err, ERR_MALFORMED, 0,
		             "pod table: expected a Table or PodList, got %s%.80s%s",
		             kind ? "kind '" : "no kind", kind ? kind : "", kind ? "'" : "");
	}
	if (ok && continue_token) {
		*continue_token =
		        k8s_dup(k8s_nonempty(json_object_get(root, "metadata"), "continue"));
	}
	if (ok && resource_version) {
		*resource_version =
		        k8s_dup(k8s_nonempty(json_object_get(root, "metadata"), "resourceVersion"));
	}
	json_decref(root);
	return ok;
}

bool k8s_parse_pod_table(const char *body, size_t len, struct pod_list *out, char **continue_token,
                         struct err *err)
{
	return k8s_parse_pod_page(body, len, out, continue_token, NULL, err);
}

bool k8s_parse_pod_page(const char *body, size_t len, struct pod_list *out, char **continue_token,
                        char **resource_version, struct err *err)
{
	/* The tree is read once and dropped: allocate it from an arena (see json_util.h). The
	 * strings handed out are copied with the ordinary allocator (xstrdup). */
	/* managedFields are most of each row's metadata (kubectl's Table asks for the metadata) and
	 * nothing a list shows: cut them from the text before jansson builds a tree of them. */
	char *copy = xmalloc(len + 1);
	memcpy(copy, body, len);
	size_t n = json_strip_key(copy, len, "managedFields");
	json_arena_begin();
	bool ok = parse_pod_table(copy, n, out, continue_token, resource_version, err);
	json_arena_end();
	free(copy);
	return ok;
}

bool k8s_parse_pod(const char *body, size_t len, struct pod_row *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	out->restarts = -1;
	out->created = NAN;
	json_t *root = k8s_load("pod", "Pod", body, len, err);
	if (!root) {
		return false;
	}
	const char *kind = json_str(root, "kind");
	bool ok = !kind || strcmp(kind, "Pod") == 0;
	if (ok) {
		k8s_pod_row(root, out);
	} else {
		err_set(err, ERR_MALFORMED, 0, "pod: expected a Pod, got kind '%.80s'", kind);
	}
	json_decref(root);
	return ok;
}

/* ---- watch events ---- */

static const struct {
	const char *name;
	enum k8s_watch_type type;
} k8s_watch_types[] = {
        {"ADDED", K8S_WATCH_ADDED},     {"MODIFIED", K8S_WATCH_MODIFIED},
        {"DELETED", K8S_WATCH_DELETED}, {"BOOKMARK", K8S_WATCH_BOOKMARK},
        {"ERROR", K8S_WATCH_ERROR},
};

static void k8s_watch_status(const json_t *st, struct k8s_watch_event *out)
{
	if (json_is_object(st)) {
		out->status.reason = k8s_dup(k8s_nonempty(st, "reason"));
		out->status.message = k8s_dup(k8s_nonempty(st, "message"));
		int64_t code;
		out->status.code = json_int(st, "code", &code) && code >= 0 && code <= LONG_MAX
		                           ? (long)code
		                           : 0;
	}
	/* 410: the resourceVersion is too old ("Gone" before 1.x, "Expired" now). */
	if (out->status.code == 410 || str_eq(out->status.reason, "Expired") ||
	    str_eq(out->status.reason, "Gone")) {
		out->type = K8S_WATCH_EXPIRED;
	}
}

static bool parse_watch_event(json_t *root, struct k8s_watch_event *out, struct err *err)
{
	const char *type = json_str(root, "type");
	if (!type) {
		return err_set(err, ERR_MALFORMED, 0, "watch event: no type");
	}
	size_t t = 0;
	size_t n_types = sizeof(k8s_watch_types) / sizeof(k8s_watch_types[0]);
	while (t < n_types && strcmp(type, k8s_watch_types[t].name) != 0) {
		t++;
	}
	if (t == n_types) {
		return err_set(err, ERR_MALFORMED, 0, "watch event: unknown type '%.40s'", type);
	}
	json_t *obj = json_object_get(root, "object");
	if (!json_is_object(obj)) {
		return err_set(err, ERR_MALFORMED, 0, "watch event %s: no object", type);
	}
	out->type = k8s_watch_types[t].type;
	if (out->type == K8S_WATCH_ERROR) {
		k8s_watch_status(obj, out);
		return true;
	}
	json_t *meta = json_object_get(obj, "metadata");
	out->resource_version = k8s_dup(k8s_nonempty(meta, "resourceVersion"));
	if (out->type == K8S_WATCH_BOOKMARK) {
		if (!out->resource_version) {
			return err_set(err, ERR_MALFORMED, 0,
			               "watch BOOKMARK without resourceVersion");
		}
		return true;
	}
	const char *kind = json_str(obj, "kind");
	if (kind && strcmp(kind, "Pod") != 0) {
		return err_set(err, ERR_MALFORMED, 0, "watch event %s: expected a Pod, got '%.40s'",
		               type, kind);
	}
	if (!k8s_nonempty(meta, "name")) {
		return err_set(err, ERR_MALFORMED, 0, "watch event %s: a Pod without a name", type);
	}
	k8s_pod_row(obj, &out->pod);
	return true;
}

bool k8s_parse_watch_event(const char *line, size_t len, struct k8s_watch_event *out,
                           struct err *err)
{
	memset(out, 0, sizeof(*out));
	out->pod.restarts = -1;
	out->pod.created = NAN;
	char jerr[160];
	json_t *root = json_load_body(line, len, jerr, sizeof(jerr));
	if (!root) {
		return err_set(err, ERR_MALFORMED, 0, "watch event: not JSON (%s)", jerr);
	}
	bool ok = json_is_object(root)
	                  ? parse_watch_event(root, out, err)
	                  : err_set(err, ERR_MALFORMED, 0, "watch event: not a JSON object");
	json_decref(root);
	if (!ok) {
		k8s_watch_event_finish(out);
	}
	return ok;
}

void k8s_watch_event_finish(struct k8s_watch_event *ev)
{
	if (!ev) {
		return;
	}
	pod_row_finish(&ev->pod);
	free(ev->resource_version);
	k8s_status_finish(&ev->status);
	memset(ev, 0, sizeof(*ev));
	ev->pod.restarts = -1;
	ev->pod.created = NAN;
}

/* ---- Status ---- */

bool k8s_parse_status(const char *body, size_t len, struct k8s_status *out)
{
	memset(out, 0, sizeof(*out));
	json_t *root = json_load_body(body, len, NULL, 0);
	if (!root) {
		return false;
	}
	json_t *st = root;
	/* A watch stream delivers its error as {"type":"ERROR","object":<Status>}. */
	if (str_eq(json_str(root, "type"), "ERROR")) {
		st = json_object_get(root, "object");
	}
	bool ok = json_is_object(st) && str_eq(json_str(st, "kind"), "Status");
	if (ok) {
		out->reason = k8s_dup(k8s_nonempty(st, "reason"));
		out->message = k8s_dup(k8s_nonempty(st, "message"));
		int64_t code;
		out->code = json_int(st, "code", &code) && code >= 0 && code <= LONG_MAX
		                    ? (long)code
		                    : 0;
	}
	json_decref(root);
	return ok;
}

void k8s_status_finish(struct k8s_status *s)
{
	if (!s) {
		return;
	}
	free(s->reason);
	free(s->message);
	memset(s, 0, sizeof(*s));
}

int64_t k8s_restarts_cell(const char *s)
{
	if (!s || *s < '0' || *s > '9') {
		return -1;
	}
	int64_t v = 0;
	size_t digits = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (++digits > 18) {
			return -1;
		}
		v = v * 10 + (*s - '0');
	}
	if (*s == '\0') {
		return v;
	}
	/* "7 (3m ago)": the count, then when the last restart was. */
	size_t n = strlen(s);
	if (s[0] == ' ' && s[1] == '(' && s[n - 1] == ')') {
		return v;
	}
	return -1;
}
