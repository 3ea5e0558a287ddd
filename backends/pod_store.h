/* pod_store.h: the live set of pods for the console, kept the way informers keep it: one LIST
 * (paginated server-side Table), then a WATCH from the list's resourceVersion, applying each
 * ADDED/MODIFIED/DELETED event and remembering the resourceVersion of every event and bookmark.
 *
 * - A watch that ends normally (timeoutSeconds) is resumed at once from the last resourceVersion.
 * - Only a 410 (Expired/Gone: the resourceVersion is too old), as an ERROR event or as the answer
 *   to a watch, makes it LIST again; so does pod_store_refresh.
 * - A network error, a 5xx or any other failure keeps the data (it becomes stale), sets the health
 *   to failing and retries after health_backoff_ms (1 s doubling to 30 s), resuming the watch.
 * - A malformed or over-long watch line means an update may be lost: it fails and LISTs again.
 * - A watch that stays open but says nothing, not even a bookmark, for 90 s ($LABDECK_WATCH_IDLE
 *   seconds when set) has stalled: the health fails ("the pod watch stalled"), with the data as
 *   old as the last line heard, and the watch is resumed on the backoff; a resumed watch counts
 *   as connected only once a line arrives (a stalling server keeps connections open).
 * It never gives up, never blocks, and never calls back from inside a network callback. */
#ifndef LABDECK_POD_STORE_H
#define LABDECK_POD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "health.h"
#include "k8s.h"
#include "model.h"

struct event_base;
struct pod_store;

/* Called (from the loop, at most once per loop pass) when the rows or the health changed. The
 * store may be used, changed or destroyed from inside it. */
typedef void (*pod_store_changed_fn)(void *ud);

/* pod_store_create starts listing the pods of namespace ns (NULL: all namespaces) through k,
 * which must outlive the store. changed may be NULL. */
struct pod_store *pod_store_create(struct event_base *base, struct k8s *k, const char *ns,
                                   pod_store_changed_fn changed, void *ud);
/* pod_store_destroy stops every request; no callback follows. NULL-safe. */
void pod_store_destroy(struct pod_store *s);

/* pod_store_pods returns the current rows, sorted by namespace then name, *n of them. The array
 * belongs to the store and must not be changed (copy or index it to sort or filter). It stays
 * valid, with the same contents, as long as pod_store_generation() returns the same value: every
 * change of the rows bumps the generation (and is followed by a change callback), so compare the
 * generation before using a pointer kept from an earlier loop pass. */
const struct pod_row *pod_store_pods(const struct pod_store *s, size_t *n);
/* pod_store_find: the row of namespace/name (ns NULL or "" for a pod without one), or NULL; an
 * element of the pod_store_pods array, with its lifetime. */
const struct pod_row *pod_store_find(const struct pod_store *s, const char *ns, const char *name);
/* pod_store_generation increments on every change of the rows. */
uint64_t pod_store_generation(const struct pod_store *s);
/* pod_store_health: ok while the watch is connected (last_ok is then now), failing with the
 * reason, connecting before the first list answered. */
const struct health *pod_store_health(struct pod_store *s);
/* pod_store_resource_version: where the watch resumes, NULL before the first list. */
const char *pod_store_resource_version(const struct pod_store *s);
/* pod_store_namespace: the namespace shown, NULL for all. */
const char *pod_store_namespace(const struct pod_store *s);

/* pod_store_set_namespace switches to namespace ns (NULL: all): the rows are emptied and it lists
 * anew. */
void pod_store_set_namespace(struct pod_store *s, const char *ns);
/* pod_store_refresh lists again now (the rows are kept until the new list arrives). */
void pod_store_refresh(struct pod_store *s);
/* pod_store_want_resources: from now on every row carries its requests, limits and owner
 * (has_resources): the list is asked again with full objects (includeObject=Object), once. The
 * topology view asks for it; the pods view alone does not need the heavier list. */
void pod_store_want_resources(struct pod_store *s);
/* pod_store_has_resources: the rows come from a list with full objects (or watch events). */
bool pod_store_has_resources(const struct pod_store *s);

#endif
