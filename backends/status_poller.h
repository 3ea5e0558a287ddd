/* status_poller.h: the periodic refresh of the dashboard's data (Proxmox nodes and guests,
 * Kubernetes nodes). Each backend is polled on its own: every refresh_s seconds while the data is
 * on screen, every 4 x refresh_s otherwise, never with more than one poll in flight, and after a
 * failure on the health's backoff (1 s doubling, capped at 30 s), or after the Retry-After of a 429
 * or 503 when that is later (capped at 5 minutes), while the last good data stays available,
 * shown as stale; the health's retry_at says when the next try is. Per node it keeps a history of
 * CPU and memory fractions for sparklines, seeded from Proxmox's rrddata. Everything runs on the
 * event loop; nothing blocks.
 *
 * Pointers returned by the accessors stay valid until control returns to the loop (the next poll
 * result may replace them); watch status_poller_generation to know when to read again. */
#ifndef LABDECK_STATUS_POLLER_H
#define LABDECK_STATUS_POLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "health.h"
#include "k8s_parse.h"
#include "model.h"

struct event_base;
struct k8s;
struct pve;
struct status_poller;

/* Samples kept per node (older ones drop off), and how many rrddata points seed a history. */
#define STATUS_POLLER_HISTORY 120
#define STATUS_POLLER_SEED 60

/* status_poller_create starts polling at once. pve and k8s (either may be NULL: that backend is
 * not configured, and its health says so) must outlive the poller. changed(ud) runs on the loop
 * after each poll result, success or failure, and when a history is seeded. */
struct status_poller *status_poller_create(struct event_base *base, struct pve *pve,
                                           struct k8s *k8s, int refresh_s,
                                           void (*changed)(void *ud), void *ud);
/* status_poller_destroy cancels every request and timer; no callback runs after it. NULL-safe. */
void status_poller_destroy(struct status_poller *p);

/* status_poller_set_visible says whether a view showing this data is on screen: polls are then
 * every refresh_s seconds (data older than that is fetched at once), otherwise every 4 x. */
void status_poller_set_visible(struct status_poller *p, bool visible);
/* status_poller_interval_s: the seconds between polls now (refresh_s, or 4 x while hidden): what
 * "stale" is measured against, so slower polling on purpose is not shown as stale data. */
int status_poller_interval_s(const struct status_poller *p);
/* status_poller_refresh_now (the `r` key) drops the waiting timers, backoff included, and polls
 * every configured backend at once; a backend with a poll already in flight keeps that one. */
void status_poller_refresh_now(struct status_poller *p);
/* status_poller_cancel (Esc) stops the polls and rrddata fetches in flight; the health is left
 * as it was and the next poll comes at the next tick. */
void status_poller_cancel(struct status_poller *p);

/* status_poller_nodes: the last good node rows, Proxmox first, then Kubernetes (each in the
 * order its backend gave). Never NULL; empty before the first success. */
const struct node_list *status_poller_nodes(const struct status_poller *p);
/* status_poller_guests: the last good Proxmox guest list. Never NULL. */
const struct guest_list *status_poller_guests(const struct status_poller *p);
/* status_poller_k8s_extra: allocatable/capacity of the Kubernetes node `name`, NULL if unknown.
 */
const struct k8s_node_extra *status_poller_k8s_extra(const struct status_poller *p,
                                                     const char *name);
/* status_poller_k8s_metrics: whether the last good node list came with metrics.k8s.io usage. */
bool status_poller_k8s_metrics(const struct status_poller *p);
/* status_poller_errors: the partial failures of the last good poll of `source` (one node that
 * did not answer while the others did). Never NULL. */
const struct err_list *status_poller_errors(const struct status_poller *p, enum node_source source);

/* status_poller_history gives node `name`'s CPU and memory fractions (0..1, NAN for a gap),
 * oldest first, *n of each (at most STATUS_POLLER_HISTORY). False, with *n = 0 and NULL arrays,
 * when there is no history for that node. */
bool status_poller_history(const struct status_poller *p, const char *name, enum node_source source,
                           const double **cpu, const double **mem, size_t *n);

/* status_poller_health: the health of `source`'s backend (HEALTH_UNCONFIGURED when it has none).
 */
const struct health *status_poller_health(const struct status_poller *p, enum node_source source);
/* status_poller_refreshed_at: wall-clock time (epoch seconds) of `source`'s last good data, 0 when
 * it never had any. */
double status_poller_refreshed_at(const struct status_poller *p, enum node_source source);
/* status_poller_busy: whether a poll of `source` is in flight. */
bool status_poller_busy(const struct status_poller *p, enum node_source source);
/* status_poller_next_poll_ms: milliseconds until `source`'s next poll (0 when due), -1 when none
 * is waiting (a poll is in flight, or the backend is not configured). */
int64_t status_poller_next_poll_ms(const struct status_poller *p, enum node_source source);
/* status_poller_polls: how many polls of `source` have finished (succeeded or failed). */
unsigned status_poller_polls(const struct status_poller *p, enum node_source source);
/* status_poller_generation grows by one on every change of anything the accessors return. */
uint64_t status_poller_generation(const struct status_poller *p);

#endif
