/* cli.c: what every one-shot command shares for its diagnostics: the error list of a run, and one
 * sanitised line on stderr (names and messages come from the network). */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "session.h"
#include "text.h"
#include "util.h"

void cli_add_error(struct cli *c, const char *backend, const struct err *e)
{
	for (size_t i = 0; i < c->n_errors; i++) {
		/* Two requests that failed alike (nodes and their metrics): said once. */
		if (strcmp(c->errors[i].backend, backend) == 0 &&
		    c->errors[i].err.code == e->code && strcmp(c->errors[i].err.msg, e->msg) == 0) {
			return;
		}
	}
	c->errors = xrealloc(c->errors, (c->n_errors + 1) * sizeof(*c->errors));
	c->errors[c->n_errors].backend = xstrdup(backend);
	c->errors[c->n_errors].err = *e;
	c->n_errors++;
	c->exit_status = err_worse_exit(c->exit_status, err_exit_status(e->code));
}

void cli_report_errors(const struct cli *c)
{
	for (size_t i = 0; i < c->n_errors; i++) {
		cli_say("%s", c->errors[i].err.msg);
	}
}

static void say_v(const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);
	char *safe = text_sanitize(msg, false);
	fprintf(stderr, "labdeck: %s\n", safe);
	fflush(stderr);
	free(safe);
	free(msg);
}

void cli_say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say_v(fmt, ap);
	va_end(ap);
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	cli_say("%s: %s", command, msg);
	fprintf(stderr, "Try 'labdeck %s --help'.\n", command);
	free(msg);
	return 2;
}

static void session_wait_finish(struct cli_session_wait *w, const struct err *err)
{
	w->done = true;
	if (err) {
		w->failed = true;
		w->err = *err;
	}
}

void cli_session_loaded(void *ud, struct session *s, const struct err *err)
{
	struct cli_session_wait *w = ud;
	w->session = s;
	session_wait_finish(w, err);
}

void cli_session_done(void *ud, const struct err *err)
{
	session_wait_finish(ud, err);
}

void cli_session_listed(void *ud, struct session_list *list, const struct err *err)
{
	struct cli_session_wait *w = ud;
	w->list = list;
	session_wait_finish(w, err);
}

void cli_wait_until(struct cli *c, const bool *done)
{
	while (!*done) {
		event_base_loop(c->base, EVLOOP_ONCE);
	}
}
