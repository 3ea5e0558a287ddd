/* pve_parse.c: see pve_parse.h. Every parser checks the whole shape it depends on before it
 * touches the caller's data, so a false return leaves `out` as it was. Individual fields are
 * optional: a field that is absent or unusable keeps the row's "unknown" value. */
#include "pve_parse.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "util.h"

/* Largest byte/second count we accept; below INT64_MAX and exact as a double. */
#define PVE_MAX_COUNT INT64_C(9000000000000000000)

/* Parses the {"data": ...} envelope. Returns the parsed root (caller decrefs) and sets *data, or
 * NULL with err filled. */
static json_t *pve_load(const char *body, size_t len, const char *what, json_t **data,
                        struct err *err)
{
	char jerr[160];
	if (!body) {
		body = "";
		len = 0;
	}
	json_t *root = json_load_body(body, len, jerr, sizeof(jerr));
	if (!root) {
		err_set(err, ERR_MALFORMED, 0, "Proxmox %s: the answer is not JSON (%s)", what,
		        jerr);
		return NULL;
	}
	*data = json_is_object(root) ? json_object_get(root, "data") : NULL;
	if (!*data || json_is_null(*data)) {
		err_set(err, ERR_MALFORMED, 0, "Proxmox %s: the answer has no \"data\" member",
		        what);
		json_decref(root);
		return NULL;
	}
	return root;
}

/* An integral-valued number (or numeric string) at key within [min, max], truncated. */
static bool pve_get_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out)
{
	double d;
	if (!json_num(obj, key, &d) || d < (double)min || d > (double)max) {
		return false;
	}
	*out = (int64_t)d;
	return true;
}

/* A non-empty string at key, or NULL. */
static const char *pve_get_str(const json_t *obj, const char *key)
{
	const char *s = json_str(obj, key);
	return s && *s ? s : NULL;
}

/* The part of an id "prefix/REST" after the prefix, or NULL when id has another form. */
static const char *pve_id_tail(const json_t *obj, const char *prefix)
{
	const char *id = json_str(obj, "id");
	size_t n = strlen(prefix);
	if (!id || strncmp(id, prefix, n) != 0 || id[n] != '/' || id[n + 1] == '\0') {
		return NULL;
	}
	return id + n + 1;
}

/* Fills the usage fields shared by node and guest rows. */
static void pve_fill_usage(const json_t *o, double *cpu, int64_t *mem_used, int64_t *mem_total,
                           int64_t *uptime, int *cpus)
{
	double d;
	int64_t v;
	if (json_num(o, "cpu", &d) && d >= 0) {
		*cpu = d;
	}
	if (pve_get_int(o, "mem", 0, PVE_MAX_COUNT, &v)) {
		*mem_used = v;
	}
	if (pve_get_int(o, "maxmem", 0, PVE_MAX_COUNT, &v)) {
		*mem_total = v;
	}
	if (pve_get_int(o, "uptime", 0, PVE_MAX_COUNT, &v)) {
		*uptime = v;
	}
	if (pve_get_int(o, "maxcpu", 1, INT_MAX, &v)) {
		*cpus = (int)v;
	}
}

static void pve_add_node(const json_t *o, struct node_list *nodes)
{
	const char *name = pve_get_str(o, "node");
	if (!name) {
		name = pve_id_tail(o, "node");
	}
	if (!name) {
		return; /* a node we cannot name is of no use to anyone */
	}
	struct node_row *r = node_list_push(nodes);
	r->name = xstrdup(name);
	r->source = NODE_PROXMOX;
	const char *status = pve_get_str(o, "status");
	r->status = xstrdup(status ? status : "unknown");
	pve_fill_usage(o, &r->cpu, &r->mem_used, &r->mem_total, &r->uptime, &r->cpus);
}

/* The vmid from "vmid" (number or string) or from an id "qemu/100"; false when neither works. */
static bool pve_guest_vmid(const json_t *o, const char *type, int *vmid)
{
	int64_t v;
	if (pve_get_int(o, "vmid", 1, INT_MAX, &v)) {
		*vmid = (int)v;
		return true;
	}
	const char *tail = pve_id_tail(o, type);
	if (!tail) {
		return false;
	}
	char *end;
	long long n = strtoll(tail, &end, 10);
	if (*end != '\0' || n < 1 || n > INT_MAX || tail[0] < '0' || tail[0] > '9') {
		return false;
	}
	*vmid = (int)n;
	return true;
}

static void pve_add_guest(const json_t *o, const char *type, struct guest_list *guests)
{
	int vmid;
	if (!pve_guest_vmid(o, type, &vmid)) {
		return; /* a guest without a vmid cannot be acted on */
	}
	struct guest_row *r = guest_list_push(guests);
	r->vmid = vmid;
	r->type = xstrdup(type);
	const char *s = pve_get_str(o, "name");
	r->name = s ? xstrdup(s) : NULL;
	s = pve_get_str(o, "node");
	r->node = s ? xstrdup(s) : NULL;
	s = pve_get_str(o, "status");
	r->status = xstrdup(s ? s : "unknown");
	pve_fill_usage(o, &r->cpu, &r->mem_used, &r->mem_total, &r->uptime, &r->cpus);
	int64_t t;
	if (pve_get_int(o, "template", INT64_MIN / 2, INT64_MAX / 2, &t)) {
		r->template_ = t != 0;
	}
}

bool pve_parse_cluster_resources(const char *body, size_t len, struct node_list *nodes,
                                 struct guest_list *guests, struct err *err)
{
	json_t *data;
	json_t *root = pve_load(body, len, "cluster resources", &data, err);
	if (!root) {
		return false;
	}
	if (!json_is_array(data)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0,
		               "Proxmox cluster resources: \"data\" is not a list");
	}
	size_t i;
	json_t *o;
	json_array_foreach (data, i, o) {
		if (!json_is_object(o)) {
			json_decref(root);
			return err_set(err, ERR_MALFORMED, 0,
			               "Proxmox cluster resources: entry %zu is not an object", i);
		}
	}
	json_array_foreach (data, i, o) {
		const char *type = json_str(o, "type");
		if (!type) {
			continue;
		}
		if (strcmp(type, "node") == 0) {
			if (nodes) {
				pve_add_node(o, nodes);
			}
		} else if (strcmp(type, "qemu") == 0 || strcmp(type, "lxc") == 0) {
			if (guests) {
				pve_add_guest(o, type, guests);
			}
		}
		/* storage, pool, sdn, network...: not ours */
	}
	json_decref(root);
	return true;
}

bool pve_parse_node_status(const char *body, size_t len, struct node_row *row, struct err *err)
{
	json_t *data;
	json_t *root = pve_load(body, len, "node status", &data, err);
	if (!root) {
		return false;
	}
	if (!json_is_object(data)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0,
		               "Proxmox node status: \"data\" is not an object");
	}
	int64_t v;
	json_t *cpuinfo = json_object_get(data, "cpuinfo");
	if (row->cpus < 0 && json_is_object(cpuinfo)) {
		int64_t cores, sockets;
		if (pve_get_int(cpuinfo, "cpus", 1, INT_MAX, &v)) {
			row->cpus = (int)v;
		} else if (pve_get_int(cpuinfo, "cores", 1, 1 << 20, &cores) &&
		           pve_get_int(cpuinfo, "sockets", 1, 1 << 10, &sockets)) {
			row->cpus = (int)(cores * sockets);
		}
	}
	json_t *memory = json_object_get(data, "memory");
	if (json_is_object(memory)) {
		if (row->mem_used < 0 && pve_get_int(memory, "used", 0, PVE_MAX_COUNT, &v)) {
			row->mem_used = v;
		}
		if (row->mem_total < 0 && pve_get_int(memory, "total", 0, PVE_MAX_COUNT, &v)) {
			row->mem_total = v;
		}
	}
	if (row->uptime < 0 && pve_get_int(data, "uptime", 0, PVE_MAX_COUNT, &v)) {
		row->uptime = v;
	}
	double d;
	if (isnan(row->cpu) && json_num(data, "cpu", &d) && d >= 0) {
		row->cpu = d;
	}
	json_decref(root);
	return true;
}

bool pci_normalize(const char *s, char *out, size_t out_size)
{
	if (!s || !out || out_size == 0) {
		return false;
	}
	/* Split into runs of hex digits separated by ':' and at most one '.'. */
	char part[4][9] = {{0}};
	int nparts = 0;
	int func = -1;
	const char *p = s;
	for (;;) {
		size_t n = 0;
		while (n < 9 && ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f') ||
		                 (p[n] >= 'A' && p[n] <= 'F'))) {
			n++;
		}
		if (n == 0 || n > 8 || nparts == 3) {
			return false;
		}
		for (size_t k = 0; k < n; k++) {
			char c = p[k];
			part[nparts][k] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
		}
		nparts++;
		p += n;
		if (*p == ':') {
			p++;
			continue;
		}
		if (*p == '.') {
			/* the function: one digit 0-7, then the end */
			if (p[1] < '0' || p[1] > '7' || p[2] != '\0') {
				return false;
			}
			func = p[1] - '0';
		} else if (*p != '\0') {
			return false;
		}
		break;
	}
	const char *domain = "0000", *bus, *dev;
	if (nparts == 3) {
		domain = part[0];
		bus = part[1];
		dev = part[2];
		if (strlen(domain) < 4) {
			return false;
		}
	} else if (nparts == 2) {
		bus = part[0];
		dev = part[1];
	} else {
		return false;
	}
	if (strlen(bus) != 2 || strlen(dev) != 2 || strtoul(dev, NULL, 16) > 0x1f) {
		return false;
	}
	int n = func >= 0 ? snprintf(out, out_size, "%s:%s:%s.%d", domain, bus, dev, func)
	                  : snprintf(out, out_size, "%s:%s:%s", domain, bus, dev);
	return n > 0 && (size_t)n < out_size;
}

/* Appends one entry to the row's NULL-terminated passthrough list (takes ownership of s). */
static void pve_add_passthrough(struct guest_row *row, char *s)
{
	row->passthrough = xrealloc(row->passthrough, (row->n_passthrough + 2) * sizeof(char *));
	row->passthrough[row->n_passthrough++] = s;
	row->passthrough[row->n_passthrough] = NULL;
}

/* One hostpciN value: "[[host=]<id[;id...]>][,opt=...]" or "mapping=NAME,...". Ids that are not
 * PCI addresses are skipped. */
static void pve_add_hostpci(struct guest_row *row, const char *value)
{
	char *copy = xstrdup(value);
	const char *host = NULL, *mapping = NULL;
	char *field = copy;
	for (int index = 0; field; index++) {
		char *comma = strchr(field, ',');
		if (comma) {
			*comma = '\0';
		}
		if (str_has_prefix(field, "host=")) {
			host = field + 5;
		} else if (str_has_prefix(field, "mapping=")) {
			mapping = field + 8;
		} else if (index == 0 && !strchr(field, '=')) {
			host = field;
		}
		field = comma ? comma + 1 : NULL;
	}
	if (host && *host) {
		char *save = NULL;
		char *hostcopy = xstrdup(host);
		for (char *id = strtok_r(hostcopy, ";", &save); id;
		     id = strtok_r(NULL, ";", &save)) {
			char addr[32];
			if (pci_normalize(id, addr, sizeof(addr))) {
				pve_add_passthrough(row, xstrdup(addr));
			}
		}
		free(hostcopy);
	} else if (mapping && *mapping) {
		pve_add_passthrough(row, xasprintf("mapping:%s", mapping));
	}
	free(copy);
}

struct pve_hostpci {
	unsigned long index;
	const char *key;
	const char *value;
};

static int pve_hostpci_cmp(const void *a, const void *b)
{
	const struct pve_hostpci *x = a, *y = b;
	if (x->index != y->index) {
		return x->index < y->index ? -1 : 1;
	}
	return strcmp(x->key, y->key);
}

/* The N of a key "hostpciN" (decimal, at most 9 digits), or false. */
static bool pve_hostpci_index(const char *key, unsigned long *index)
{
	if (!str_has_prefix(key, "hostpci")) {
		return false;
	}
	const char *d = key + strlen("hostpci");
	size_t n = strspn(d, "0123456789");
	if (n == 0 || n > 9 || d[n] != '\0') {
		return false;
	}
	*index = strtoul(d, NULL, 10);
	return true;
}

bool pve_parse_guest_config(const char *body, size_t len, struct guest_row *row, struct err *err)
{
	json_t *data;
	json_t *root = pve_load(body, len, "guest config", &data, err);
	if (!root) {
		return false;
	}
	if (!json_is_object(data)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0,
		               "Proxmox guest config: \"data\" is not an object");
	}
	struct pve_hostpci *slots = xcalloc(json_object_size(data), sizeof(*slots));
	size_t nslots = 0;
	const char *key;
	json_t *value;
	json_object_foreach (data, key, value) {
		unsigned long index;
		if (json_is_string(value) && pve_hostpci_index(key, &index)) {
			slots[nslots].index = index;
			slots[nslots].key = key;
			slots[nslots].value = json_string_value(value);
			nslots++;
		}
	}
	qsort(slots, nslots, sizeof(*slots), pve_hostpci_cmp);
	for (size_t i = 0; i < nslots; i++) {
		pve_add_hostpci(row, slots[i].value);
	}
	free(slots);

	if (row->cpus < 0) {
		int64_t cores = -1, sockets = -1;
		bool has_cores = pve_get_int(data, "cores", 1, 1 << 20, &cores);
		if (str_eq(row->type, "lxc")) {
			if (has_cores) {
				row->cpus = (int)cores; /* no cores: all of the host's */
			}
		} else {
			bool has_sockets = pve_get_int(data, "sockets", 1, 1 << 10, &sockets);
			if (has_cores || has_sockets || json_object_get(data, "memory")) {
				row->cpus = (int)((has_cores ? cores : 1) *
				                  (has_sockets ? sockets : 1));
			}
		}
	}
	json_decref(root);
	return true;
}

/* Appends "field: message" pairs from an "errors" object; returns how many. */
static int pve_append_errors(struct buf *b, json_t *errors)
{
	int count = 0;
	const char *key;
	json_t *value;
	json_object_foreach (errors, key, value) {
		if (!json_is_string(value)) {
			continue;
		}
		char *msg = str_trim(xstrdup(json_string_value(value)));
		if (*msg) {
			buf_appendf(b, "%s%s: %s", count ? "; " : "", key, msg);
			count++;
		}
		free(msg);
	}
	return count;
}

char *pve_error_message(const char *body, size_t len)
{
	if (!body || len == 0) {
		return NULL;
	}
	json_t *root = json_load_body(body, len, NULL, 0);
	if (!json_is_object(root)) {
		json_decref(root);
		return NULL;
	}
	char *message = NULL;
	const char *m = json_str(root, "message");
	if (m) {
		message = str_trim(xstrdup(m));
		if (!*message) {
			free(message);
			message = NULL;
		}
	}
	struct buf errors;
	buf_init(&errors);
	json_t *e = json_object_get(root, "errors");
	int count = json_is_object(e) ? pve_append_errors(&errors, e) : 0;
	json_decref(root);

	char *result = NULL;
	if (message && count) {
		/* newer servers send both: "Parameter verification failed." and the fields */
		result = xasprintf("%s (%s)", message, errors.data);
	} else if (message) {
		result = message;
		message = NULL;
	} else if (count) {
		result = buf_steal(&errors);
	}
	free(message);
	buf_finish(&errors);
	return result;
}
