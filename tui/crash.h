/* crash.h: the terminal is given back whatever happens — a fatal signal, a sanitizer abort, or
 * exit() from anywhere. */
#ifndef LABDECK_CRASH_H
#define LABDECK_CRASH_H

/* crash_install registers handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT that restore
 * the terminal and then die by the same signal (each one no other runtime handles already: under
 * ASan its own SEGV/BUS/FPE handlers report first), plus an exit hook and the sanitizers' death
 * callback. */
void crash_install(void);
/* crash_restore_terminal leaves curses mode if it is active (idempotent, signal-tolerant). */
void crash_restore_terminal(void);

#endif
