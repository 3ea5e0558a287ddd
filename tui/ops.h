/* ops.h: the console's changing actions in one place — the action log (backends/action_log.h)
 * the action log view reads, the status line's "running" item, the announcement when an action
 * ends, and, when [discord] is configured, one Discord message per action edited as it
 * progresses. Whatever starts an action (a guest power action, a sync...) calls ops_begin, then
 * ops_update as the service reports, until a phase that ends it. */
#ifndef LABDECK_OPS_H
#define LABDECK_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "action_log.h"

struct app;
struct ops;

/* ops_create: the hub of a console (its Discord mirror when [discord] webhook_url is set). */
struct ops *ops_create(struct app *a);
/* ops_destroy frees the hub; Discord requests in flight are dropped. NULL-safe. */
void ops_destroy(struct ops *o);

/* ops_begin records an action that starts now ("stop guest", "101 (web) on pve-a"): its id. */
unsigned long ops_begin(struct ops *o, const char *what, const char *target);
/* ops_update records a change (see action_log_update); an end is announced on the bottom line
 * and in the status line's place for actions. */
void ops_update(struct ops *o, unsigned long id, const char *state, enum action_phase phase,
                const char *detail);

/* ops_log: the log, for the action log view. */
const struct action_log *ops_log(const struct ops *o);

/* ops_status writes the status line's item while actions run: "⟳ stop guest 101 (web): running"
 * or "⟳ 3 actions running"; false when none runs. */
bool ops_status(const struct ops *o, char *out, size_t size);

#endif
