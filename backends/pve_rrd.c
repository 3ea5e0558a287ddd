/* pve_rrd.c: see pve_rrd.h. */
#include "pve_rrd.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json_util.h"
#include "pve.h"
#include "util.h"

struct pve_rrd_op {
	struct http_request *req;
	char *node;
	pve_rrd_fn cb;
	void *ud;
};

void rrd_series_finish(struct rrd_series *s)
{
	if (!s) {
		return;
	}
	free(s->time);
	free(s->cpu);
	free(s->mem);
	free(s->netin);
	free(s->netout);
	memset(s, 0, sizeof(*s));
}

/* A finite, non-negative number at key, else NAN (absent, null, a string that is no number). */
static double rrd_value(const json_t *point, const char *key)
{
	double d;
	if (!json_num(point, key, &d) || !isfinite(d) || d < 0) {
		return NAN;
	}
	return d;
}

/* used/total when both are there and total is positive, else NAN. */
static double rrd_fraction(const json_t *point, const char *used_key, const char *total_key)
{
	double used = rrd_value(point, used_key);
	double total = rrd_value(point, total_key);
	if (isnan(used) || isnan(total) || total <= 0) {
		return NAN;
	}
	return used / total;
}

struct rrd_point {
	double time, cpu, mem, netin, netout;
};

static int rrd_point_cmp(const void *a, const void *b)
{
	double ta = ((const struct rrd_point *)a)->time;
	double tb = ((const struct rrd_point *)b)->time;
	return (ta > tb) - (ta < tb);
}

bool pve_parse_rrddata(const char *body, size_t len, struct rrd_series *out, struct err *err)
{
	char jerr[160];
	json_t *root = json_load_body(body ? body : "", body ? len : 0, jerr, sizeof(jerr));
	if (!root) {
		return err_set(err, ERR_MALFORMED, 0,
		               "Proxmox rrddata: the answer is not JSON (%s)", jerr);
	}
	json_t *data = json_is_object(root) ? json_object_get(root, "data") : NULL;
	if (!json_is_array(data)) {
		json_decref(root);
		return err_set(err, ERR_MALFORMED, 0,
		               "Proxmox rrddata: the answer has no \"data\" list of points");
	}
	size_t n = json_array_size(data);
	struct rrd_point *pts = xcalloc(n ? n : 1, sizeof(*pts));
	size_t used = 0;
	bool sorted = true;
	size_t i;
	json_t *point;
	json_array_foreach (data, i, point) {
		double t = rrd_value(point, "time");
		if (!json_is_object(point) || isnan(t)) {
			continue;
		}
		struct rrd_point *p = &pts[used];
		p->time = t;
		p->cpu = rrd_value(point, "cpu");
		p->mem = rrd_fraction(point, "memused", "memtotal");
		if (isnan(p->mem)) {
			p->mem = rrd_fraction(point, "mem", "maxmem");
		}
		p->netin = rrd_value(point, "netin");
		p->netout = rrd_value(point, "netout");
		if (used > 0 && pts[used - 1].time > t) {
			sorted = false;
		}
		used++;
	}
	json_decref(root);
	if (!sorted) {
		qsort(pts, used, sizeof(*pts), rrd_point_cmp);
	}
	struct rrd_series s = {
	        .time = xcalloc(used ? used : 1, sizeof(double)),
	        .cpu = xcalloc(used ? used : 1, sizeof(double)),
	        .mem = xcalloc(used ? used : 1, sizeof(double)),
	        .netin = xcalloc(used ? used : 1, sizeof(double)),
	        .netout = xcalloc(used ? used : 1, sizeof(double)),
	        .len = used,
	};
	for (i = 0; i < used; i++) {
		s.time[i] = pts[i].time;
		s.cpu[i] = pts[i].cpu;
		s.mem[i] = pts[i].mem;
		s.netin[i] = pts[i].netin;
		s.netout[i] = pts[i].netout;
	}
	free(pts);
	*out = s;
	return true;
}

static void on_rrd_done(void *ud, struct http_response *resp, const struct err *err)
{
	struct pve_rrd_op *op = ud;
	op->req = NULL;
	struct rrd_series s = {0};
	struct err e;
	err_clear(&e);
	char what[200];
	snprintf(what, sizeof(what), "node %s rrddata", op->node);
	if (err) {
		pve_error_from_response(&e, resp, err, what);
	} else if (!pve_parse_rrddata(resp->body, resp->len, &s, &e)) {
		char msg[sizeof(e.msg)];
		snprintf(msg, sizeof(msg), "proxmox: malformed answer to %s: %s", what, e.msg);
		memcpy(e.msg, msg, sizeof(msg));
	}
	pve_rrd_fn cb = op->cb;
	void *cb_ud = op->ud;
	free(op->node);
	free(op);
	cb(cb_ud, &s, e.code == ERR_NONE ? NULL : &e);
}

struct pve_rrd_op *pve_fetch_rrd(struct pve *p, const char *node, pve_rrd_fn cb, void *ud)
{
	struct pve_rrd_op *op = xcalloc(1, sizeof(*op));
	op->node = xstrdup(node);
	op->cb = cb;
	op->ud = ud;
	char *esc = url_escape(node);
	char *path = xasprintf("/nodes/%s/rrddata?timeframe=hour&cf=AVERAGE", esc);
	op->req = pve_http_get(p, path, on_rrd_done, op);
	free(path);
	free(esc);
	return op;
}

void pve_rrd_cancel(struct pve_rrd_op *op)
{
	if (!op) {
		return;
	}
	http_cancel(op->req);
	free(op->node);
	free(op);
}
