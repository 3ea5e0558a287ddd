/* exec_cred.h: running a kubeconfig exec credential plugin without blocking the loop. The child's
 * stdout is read through the event loop; stdin is /dev/null (never interactive). */
#ifndef LABDECK_EXEC_CRED_H
#define LABDECK_EXEC_CRED_H

#include <stddef.h>

#include "err.h"

struct event_base;
struct exec_run;

/* Called once with the plugin's stdout (NUL-terminated) when it exits 0, else with err set
 * (its stderr's last line in the message). */
typedef void (*exec_run_fn)(void *ud, const char *out, size_t len, const struct err *err);

/* exec_run_start runs command with args (NULL-terminated, without argv[0]) and extra environment
 * entries "NAME=value" added to ours. It is killed after timeout_ms. */
struct exec_run *exec_run_start(struct event_base *base, const char *command, char *const *args,
                                char *const *env, long timeout_ms, exec_run_fn cb, void *ud);
/* exec_run_cancel kills the child; the callback is not called. */
void exec_run_cancel(struct exec_run *r);

#endif
