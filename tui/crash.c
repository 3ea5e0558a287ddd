/* crash.c: see crash.h. endwin() is not async-signal-safe, but on a fatal signal the process is
 * lost anyway and a usable terminal is worth the risk (htop does the same). */
#include "crash.h"

#include <curses.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#include <sanitizer/common_interface_defs.h>
#define HAVE_SANITIZER_CALLBACK 1
#endif

static volatile sig_atomic_t restored;

void crash_restore_terminal(void)
{
	if (restored) {
		return;
	}
	restored = 1;
	if (!isendwin()) {
		endwin();
	}
	/* Belt and braces for a terminal curses did not fully reset: leave the alternate screen,
	 * show the cursor, reset attributes. */
	static const char reset[] = "\033[?1049l\033[?25h\033[0m";
	ssize_t n = write(STDOUT_FILENO, reset, sizeof(reset) - 1);
	(void)n;
}

static void on_fatal(int sig)
{
	crash_restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_exit_hook(void)
{
	crash_restore_terminal();
}

#ifdef HAVE_SANITIZER_CALLBACK
static void on_sanitizer_death(void)
{
	crash_restore_terminal();
}
#endif

void crash_install(void)
{
	restored = 0;
#ifdef HAVE_SANITIZER_CALLBACK
	/* The sanitizers catch these themselves, print their report, then call the death
	 * callback below: taking the signals from them would lose the report. */
	static const int sigs[] = {SIGABRT};
#else
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#endif
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_fatal;
		sa.sa_flags = SA_RESETHAND;
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
	atexit(on_exit_hook);
#ifdef HAVE_SANITIZER_CALLBACK
	__sanitizer_set_death_callback(on_sanitizer_death);
#endif
}
