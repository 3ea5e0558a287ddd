/* demo.h: `labdeck --demo` — the console against the simulated lab, started for it and stopped
 * after. */
#ifndef LABDECK_DEMO_H
#define LABDECK_DEMO_H

#include <stdbool.h>

/* demo_run starts labsim in a temporary directory, opens the console against it, and stops and
 * removes everything when the console closes. Returns the exit status. */
int demo_run(bool readonly);

#endif
