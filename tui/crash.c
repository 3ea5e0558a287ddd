/* crash.c: see crash.h. endwin() is not async-signal-safe, but on a fatal signal the process is
 * lost anyway and a usable terminal is worth the risk (htop does the same). */
#include "crash.h"

#include <curses.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define HAVE_SANITIZER_CALLBACK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define HAVE_SANITIZER_CALLBACK 1
#endif
#endif
#ifdef HAVE_SANITIZER_CALLBACK
#include <dlfcn.h>
#include <sanitizer/common_interface_defs.h>
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
	/* A signal some runtime already handles is left to it: the sanitizers take SIGSEGV, SIGBUS
	 * and SIGFPE (handle_segv and friends), print their report, then call the death callback
	 * below; taking the signal from them would lose the report. Whatever nobody handles (all of
	 * them in a plain build; SIGILL and SIGABRT under ASan's defaults) is ours. */
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old;
		if (sigaction(sigs[i], NULL, &old) == 0 &&
		    ((old.sa_flags & SA_SIGINFO)
		             ? old.sa_sigaction != NULL
		             : old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN &&
		                       old.sa_handler != on_fatal)) {
			continue;
		}
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
	/* With gcc, -fsanitize=address,undefined links two runtimes, each with its own copy of the
	 * sanitizer core: the call above reaches ASan's, and a UBSan report with halt_on_error dies
	 * through libubsan's, which must be told too. */
	void *ubsan = dlopen("libubsan.so.1", RTLD_LAZY | RTLD_NOLOAD);
	if (ubsan) {
		void (*set)(void (*)(void));
		*(void **)&set = dlsym(ubsan, "__sanitizer_set_death_callback");
		if (set && set != __sanitizer_set_death_callback) {
			set(on_sanitizer_death);
		}
		dlclose(ubsan);
	}
#endif
}
