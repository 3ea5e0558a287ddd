/* guest_actions.h: Proxmox power actions from the console — start, shutdown, stop, reboot of the
 * guest under the cursor: the question first (stop, which cuts the power, wants the guest's name
 * typed), then the action once (never retried), then its task followed in the background while
 * the user moves on; the action log and the status line tell how it goes and how it ended. */
#ifndef LABDECK_GUEST_ACTIONS_H
#define LABDECK_GUEST_ACTIONS_H

#include "pve_task.h"

struct app;
struct guest_row;
struct guest_actions;

/* guest_actions_create: the runner of a console (NULL-safe to destroy). */
struct guest_actions *guest_actions_create(struct app *a);
/* guest_actions_destroy stops following (the tasks themselves go on in Proxmox). */
void guest_actions_destroy(struct guest_actions *ga);

/* guest_actions_request asks for confirmation of action on guest g (copied), then runs it. */
void guest_actions_request(struct guest_actions *ga, const struct guest_row *g,
                           enum pve_action action);

#endif
