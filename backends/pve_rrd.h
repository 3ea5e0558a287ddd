/* pve_rrd.h: Proxmox round-robin statistics (GET /nodes/{node}/rrddata), the last hour of a node's
 * CPU and memory as series for sparklines. The parser is pure; pve_fetch_rrd does the I/O. */
#ifndef LABDECK_PVE_RRD_H
#define LABDECK_PVE_RRD_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct pve;
struct pve_rrd_op;

/* Parallel arrays, one entry per point, oldest first. A point that carries no value for a series
 * (a stopped VM, a gap after a reboot) has NAN there. */
struct rrd_series {
	double *time;   /* epoch seconds */
	double *cpu;    /* fraction 0..1 of all the node's (guest's) CPUs */
	double *mem;    /* memused/memtotal (guests: mem/maxmem), 0..1 */
	double *netin;  /* bytes/s, averaged over the step */
	double *netout; /* bytes/s */
	size_t len;
};

/* rrd_series_finish frees the arrays and empties the series. NULL-safe. */
void rrd_series_finish(struct rrd_series *s);

/* pve_parse_rrddata parses {"data":[{"time":..., "cpu":..., ...}, ...]} (node keys memused and
 * memtotal, guest keys mem and maxmem; every key optional, numbers may be strings). Points without
 * a usable time are skipped; the result is sorted by time. On false *out is untouched. */
bool pve_parse_rrddata(const char *body, size_t len, struct rrd_series *out, struct err *err);

/* Called once, not after pve_rrd_cancel. On success err is NULL and the callee owns the arrays in
 * *s (rrd_series_finish); on failure s is empty and err says why. */
typedef void (*pve_rrd_fn)(void *ud, struct rrd_series *s, const struct err *err);

/* pve_fetch_rrd starts GET /nodes/{node}/rrddata?timeframe=hour&cf=AVERAGE (about 70 points, one a
 * minute). The handle is valid until cb runs or pve_rrd_cancel. */
struct pve_rrd_op *pve_fetch_rrd(struct pve *p, const char *node, pve_rrd_fn cb, void *ud);
/* pve_rrd_cancel stops a fetch; its callback is not called. NULL-safe. */
void pve_rrd_cancel(struct pve_rrd_op *op);

#endif
