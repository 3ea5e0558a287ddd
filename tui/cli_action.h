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
 * terminal.
 *
 * When [discord] is configured, the answer is also mirrored to the webhook, waiting on c->base
 * up to CLI_ACTION_DISCORD_WAIT_MS: the message of the action's open cli_action_progress is
 * edited into the answer, else one new message is posted (none when a progress of this action
 * and target already ended). A Discord failure is one line "labdeck: warning: discord: ..." on
 * stderr; it never changes stdout or the exit status. */
void cli_action_print(const struct cli *c, const char *action, const char *target, const char *id,
                      const char *state, json_t *extra);

/* How long a command waits at its end for Discord to take the final state (--timeout, when
 * shorter, bounds it instead). */
#define CLI_ACTION_DISCORD_WAIT_MS 5000

/* ---- following an operation (guest tasks, deploy syncs, workflow runs, job runs) ---------- */

struct cli_progress;

/* cli_action_progress starts the Discord mirror of an action that is followed: one message
 * "ACTION TARGET: started" is posted at once (without waiting; the command's own waiting on
 * c->base sends it). Call it after cli_action_gate allowed the action and the request was
 * accepted. Returns a handle even when [discord] is not configured (then every call on it does
 * nothing), so callers need no test. Use it like this:
 *
 *     struct cli_progress *p = cli_action_progress(c, "guest stop", "101");
 *     ... each new state seen while following: cli_action_progress_state(p, "running");
 *     ... at the end, either cli_action_print(c, "guest stop", "101", upid, "OK", NULL)
 *         (which edits the message into the final answer and frees p), or, on a path that
 *         prints no answer (failure, Ctrl-C), cli_action_progress_end(p, "failed: ...").
 *
 * Only one progress is open at a time; every path must end it (print or _end). */
struct cli_progress *cli_action_progress(const struct cli *c, const char *action,
                                         const char *target);

/* cli_action_progress_state makes state (network text is fine: it is escaped) the message's
 * newest state. Edits are coalesced: only the newest is sent when a request is in flight. Does
 * not wait. NULL-safe. */
void cli_action_progress_state(struct cli_progress *p, const char *state);

/* cli_action_progress_end edits the message into its final state ("failed: task error",
 * "stopped following; still running"), waits up to CLI_ACTION_DISCORD_WAIT_MS for it to be sent
 * and frees p. NULL-safe. */
void cli_action_progress_end(struct cli_progress *p, const char *state);

#endif
