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
static size_t longest; /* the longest registered secret's length */

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
	if (strlen(value) > longest) {
		longest = strlen(value);
	}
}

/* A server that cuts what it echoes ("invalid token 'a1b2c3d4e5f6...'") still gives a piece of
 * the secret away: a run of this many of its bytes (all of it, for a shorter one) is blanked.
 * Not for a URL (a Discord webhook): its first bytes are any URL's on that host, and the token in
 * it is registered on its own. */
#define SECRET_PIECE 12

/* run_in: the length of the longest run of s, from s[0], that occurs in secret (n bytes). */
static size_t run_in(const char *s, const char *secret, size_t n)
{
	size_t best = 0;
	for (size_t j = 0; j < n; j++) {
		size_t k = 0;
		while (s[k] && j + k < n && s[k] == secret[j + k]) {
			k++;
		}
		if (k > best) {
			best = k;
		}
	}
	return best;
}

void err_secret_redact(char *s)
{
	for (size_t i = 0; i < n_secrets; i++) {
		size_t n = strlen(secrets[i]);
		size_t piece = n < SECRET_PIECE || strstr(secrets[i], "://") ? n : SECRET_PIECE;
		for (char *p = s; *p;) {
			size_t run = run_in(p, secrets[i], n);
			if (run >= piece) {
				memcpy(p, "***", 3);
				memmove(p + 3, p + run, strlen(p + run) + 1);
				p += 3;
			} else {
				p++;
			}
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
	longest = 0;
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
		/* Whole, so that a secret cut off at the end of msg is still found; but no further
		 * than a secret starting inside msg reaches (a long body quoted into a message is
		 * not searched to its end). */
		char *full = xvasprintf(fmt, ap);
		if (strlen(full) > sizeof(err->msg) + longest) {
			full[sizeof(err->msg) + longest] = '\0';
		}
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
