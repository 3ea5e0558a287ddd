/* err.c: see err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The registered secrets (err_secret_add); labdeck runs its backends on one thread. */
static char **secrets;
static size_t n_secrets;

#define SECRET_MIN 8

void err_secret_add(const char *value)
{
	if (!value || strlen(value) < SECRET_MIN) {
		return;
	}
	for (size_t i = 0; i < n_secrets; i++) {
		if (strcmp(secrets[i], value) == 0) {
			return;
		}
	}
	secrets = xrealloc(secrets, (n_secrets + 1) * sizeof(*secrets));
	secrets[n_secrets++] = xstrdup(value);
}

void err_secret_redact(char *s)
{
	for (size_t i = 0; i < n_secrets; i++) {
		size_t n = strlen(secrets[i]);
		for (char *hit; (hit = strstr(s, secrets[i]));) {
			memcpy(hit, "***", 3);
			memmove(hit + 3, hit + n, strlen(hit + n) + 1);
		}
	}
}

void err_secret_clear(void)
{
	for (size_t i = 0; i < n_secrets; i++) {
		explicit_bzero(secrets[i], strlen(secrets[i]));
		free(secrets[i]);
	}
	free(secrets);
	secrets = NULL;
	n_secrets = 0;
}

bool err_set(struct err *err, enum err_code code, long http_status, const char *fmt, ...)
{
	if (!err) {
		return false;
	}
	err->code = code;
	err->http_status = http_status;
	va_list ap;
	va_start(ap, fmt);
	if (n_secrets == 0) {
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	} else {
		/* Whole, so that a secret cut off at the end of msg is still found. */
		char *full = xvasprintf(fmt, ap);
		err_secret_redact(full);
		snprintf(err->msg, sizeof(err->msg), "%s", full);
		free(full);
	}
	va_end(ap);
	return false;
}

void err_clear(struct err *err)
{
	if (err) {
		err->code = ERR_NONE;
		err->http_status = 0;
		err->msg[0] = '\0';
	}
}

const char *err_code_name(enum err_code code)
{
	switch (code) {
#define X(c, name, exit)                                                                           \
	case c:                                                                                    \
		return name;
		ERR_CODES(X)
#undef X
	}
	return "error";
}

enum err_code err_code_for_status(long status)
{
	if (status == 401 || status == 403) {
		return ERR_AUTH;
	}
	if (status == 404) {
		return ERR_NOT_FOUND;
	}
	if (status == 429) {
		return ERR_RATE_LIMIT;
	}
	if (status >= 500) {
		return ERR_SERVER;
	}
	return ERR_REJECTED;
}

int err_exit_status(enum err_code code)
{
	switch (code) {
#define X(c, name, exit)                                                                           \
	case c:                                                                                    \
		return exit;
		ERR_CODES(X)
#undef X
	}
	return 1;
}

int err_worse_exit(int a, int b)
{
	/* SPEC.md §3 numbers grow with severity: 1 refused < 3 unreachable < 4 auth. */
	return a > b ? a : b;
}

void err_list_add(struct err_list *l, const struct err *e)
{
	l->items = xrealloc(l->items, (l->len + 1) * sizeof(*l->items));
	l->items[l->len++] = *e;
}

void err_list_finish(struct err_list *l)
{
	free(l->items);
	l->items = NULL;
	l->len = 0;
}
