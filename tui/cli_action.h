/* cli_action.h: what every changing command (guest start/stop, deploy sync/run, jobs trigger,
 * session delete...) shares, per SPEC.md §3: the read-only refusal, the confirmation (asked on a
 * terminal unless --yes, refused without one), and the `--json` answer
 * {"action","target","id","state"}. */
#ifndef LABDECK_CLI_ACTION_H
#define LABDECK_CLI_ACTION_H

#include <jansson.h>
#include <stdbool.h>

struct cli;

/* cli_action_gate decides whether a changing action may go ahead. what names it as a person
 * reads it ("stop guest 101 (web) on pve-a"). Under --readonly or [ui] readonly it is refused
 * (exit 2). With yes it goes ahead. Else, when standard input is a terminal, it asks on stderr —
 * "Stop guest 101 (web) on pve-a? [y/N] ", or with type_name not NULL "Stop guest 101 (web) on
 * pve-a: type web to confirm: " (for what cannot be undone) — and goes ahead on y / yes / the
 * exact name, else stops with exit 1 ("not done"); without a terminal it is refused with exit 2
 * and the hint to add --yes. Returns 0 to go ahead, else the exit status, after saying why on
 * stderr. */
int cli_action_gate(const struct cli *c, bool yes, const char *what, const char *type_name);

/* cli_action_print prints the action's answer: with --json one object {"action","target","id",
 * "state"} plus the members of extra (may be NULL; the reference is taken), else one line
 * "ACTION TARGET: STATE" with " (ID)" when id differs from target. Strings are sanitised for a
 * terminal. */
void cli_action_print(const struct cli *c, const char *action, const char *target, const char *id,
                      const char *state, json_t *extra);

#endif
