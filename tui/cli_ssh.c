/* cli_ssh.c: `labdeck ssh HOST -- COMMAND...`, `labdeck ssh HOST` (the host's quick commands)
 * and `labdeck ssh HOST :NAME` (one of them). The command's stdout and stderr go to ours as they
 * arrive (sanitised where ours is a terminal) and its exit status is ours. */
#include <event2/event.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_action.h"
#include "ssh.h"
#include "text.h"
#include "util.h"

static int usage_error(const char *msg)
{
	cli_say("ssh: %s", msg);
	fputs("usage: labdeck ssh HOST -- COMMAND [ARGS...]\n"
	      "       labdeck ssh HOST            (lists the host's quick commands)\n"
	      "       labdeck ssh HOST :NAME      (runs the quick command NAME)\n",
	      stderr);
	return 2;
}

/* One of our output streams. On a terminal the bytes are sanitised; a UTF-8 character cut
 * between two chunks waits in `carry` for the rest. */
struct out {
	FILE *f;
	bool tty;
	struct buf carry;
};

/* complete_len: how many leading bytes of s end on a whole UTF-8 character (a cut lead byte and
 * its continuation bytes wait; anything invalid goes through, to be replaced). */
static size_t complete_len(const char *s, size_t n)
{
	size_t i = n;
	size_t back = 0;
	while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
		i--;
		back++;
	}
	if (i == 0) {
		return n;
	}
	unsigned char lead = (unsigned char)s[i - 1];
	size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	if (lead >= 0xC0 && lead < 0xF8 && back + 1 < want) {
		return i - 1;
	}
	return n;
}

static bool write_safe(struct out *o, const char *data, size_t len, bool flush_all)
{
	if (!o->tty) {
		bool ok = fwrite(data, 1, len, o->f) == len;
		return fflush(o->f) == 0 && ok;
	}
	buf_append(&o->carry, data, len);
	size_t n = flush_all ? o->carry.len : complete_len(o->carry.data, o->carry.len);
	if (n == 0) {
		return true;
	}
	char *text = xstrndup(o->carry.data, n);
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '\0') {
			text[i] = '\x01'; /* a NUL is a control like the others, not the end */
		}
	}
	buf_consume(&o->carry, n);
	char *safe = text_sanitize(text, true);
	free(text);
	size_t sl = strlen(safe);
	bool ok = fwrite(safe, 1, sl, o->f) == sl;
	free(safe);
	return fflush(o->f) == 0 && ok;
}

struct state {
	struct cli *c;
	const struct config_ssh_host *host;
	struct ssh_run *run;
	struct out out, err;
	bool done;
	int signal;
	bool broken; /* our stdout went away */
	struct ssh_result res;
};

static void on_output(void *ud, int stream, const char *data, size_t len)
{
	struct state *st = ud;
	if (!write_safe(stream == 1 ? &st->out : &st->err, data, len, false) && stream == 1) {
		st->broken = true;
		st->done = true;
		ssh_run_cancel(st->run);
		st->run = NULL;
	}
}

static void on_unknown_key(void *ud, struct ssh_run *run, const struct ssh_hostkey *key)
{
	struct state *st = ud;
	if (!isatty(STDIN_FILENO)) {
		ssh_run_accept_key(run, false);
		return;
	}
	char *name = text_sanitize(st->host->name, false);
	char *pat = text_sanitize(key->host_pattern, false);
	char *file = text_sanitize(key->known_hosts, false);
	fprintf(stderr,
	        "The authenticity of host '%s' (%s) can't be established.\n"
	        "%s key fingerprint is %s.\n"
	        "Are you sure you want to continue connecting and add the key to %s "
	        "(yes/no/[fingerprint])? ",
	        pat, name, key->label, key->fingerprint, file);
	fflush(stderr);
	char line[256];
	bool yes = false;
	if (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *w = str_trim(line);
		yes = strcmp(w, "yes") == 0 || strcmp(w, key->fingerprint) == 0;
	} else {
		fputc('\n', stderr);
	}
	if (yes) {
		fprintf(stderr, "labdeck: adding the %s key of %s to %s\n", key->label, pat, file);
	}
	free(name);
	free(pat);
	free(file);
	ssh_run_accept_key(run, yes);
}

static void on_done(void *ud, const struct ssh_result *res)
{
	struct state *st = ud;
	st->res = *res;
	st->run = NULL;
	st->done = true;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct state *st = arg;
	st->signal = (int)sig;
	st->done = true;
	ssh_run_cancel(st->run);
	st->run = NULL;
}

static void changed_banner(const struct state *st)
{
	const struct ssh_hostkey *k = &st->res.hostkey;
	cli_say("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
	cli_say("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @");
	cli_say("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
	cli_say("Someone could be eavesdropping on you right now (man-in-the-middle attack),");
	cli_say("or the host key of %s (%s) has just been changed.", st->host->name,
	        k->host_pattern);
	cli_say("The %s key the server sent has the fingerprint %s.", k->label, k->fingerprint);
	if (k->known_line > 0) {
		cli_say("The key known for it is in %s, line %d.", k->known_hosts, k->known_line);
	} else {
		cli_say("The key known for it is in %s.", k->known_hosts);
	}
	cli_say("If the change is expected, remove that entry: ssh-keygen -R '%s' -f %s",
	        k->host_pattern, k->known_hosts);
}

static int run_command(struct cli *c, const struct config_ssh_host *h, const char *command)
{
	char *what = xasprintf("run '%s' on %s", command, h->name);
	int gate = cli_action_gate(c, true, what, NULL); /* only the read-only refusal */
	free(what);
	if (gate) {
		return gate;
	}
	struct state st = {
	        .c = c,
	        .host = h,
	        .out = {.f = stdout, .tty = isatty(STDOUT_FILENO)},
	        .err = {.f = stderr, .tty = isatty(STDERR_FILENO)},
	};
	buf_init(&st.out.carry);
	buf_init(&st.err.carry);
	struct ssh_callbacks cb = {
	        .unknown_key = on_unknown_key,
	        .output = on_output,
	        .done = on_done,
	        .ud = &st,
	};
	st.run = ssh_run_start(c->base, h, command, c->timeout_ms, &cb);
	struct event *sigint = evsignal_new(c->base, SIGINT, on_signal, &st);
	struct event *sigterm = evsignal_new(c->base, SIGTERM, on_signal, &st);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	while (!st.done) {
		event_base_loop(c->base, EVLOOP_ONCE);
	}
	event_free(sigint);
	event_free(sigterm);
	write_safe(&st.out, "", 0, true);
	write_safe(&st.err, "", 0, true);
	buf_finish(&st.out.carry);
	buf_finish(&st.err.carry);
	if (st.signal) {
		cli_say("ssh %s: stopped; the command may go on running on %s until it next writes "
		        "output",
		        h->name, h->host);
		return 128 + st.signal;
	}
	if (st.broken) {
		return 128 + SIGPIPE;
	}
	if (!st.res.ok) {
		if (st.res.hostkey.verdict == SSH_HOSTKEY_CHANGED) {
			changed_banner(&st);
		}
		cli_say("ssh %s: %s", h->name, st.res.err.msg);
		if (st.res.hostkey.verdict == SSH_HOSTKEY_UNKNOWN && !isatty(STDIN_FILENO)) {
			cli_say("check the fingerprint and accept the key by running the command "
			        "once "
			        "on "
			        "a terminal, or add the host's key to %s yourself",
			        h->known_hosts);
		}
		return err_exit_status(st.res.err.code);
	}
	if (st.res.exit_signal[0]) {
		int n = ssh_signal_number(st.res.exit_signal);
		cli_say("ssh %s: the command was killed by signal %s", h->name, st.res.exit_signal);
		return n ? 128 + n : 255;
	}
	return st.res.exit_status & 0xff;
}

static int list_commands(struct cli *c, const struct config_ssh_host *h)
{
	if (c->json) {
		json_t *root = json_object();
		json_t *list = json_array();
		json_object_set_new(root, "host", json_string(h->name));
		for (size_t i = 0; i < h->n_commands; i++) {
			json_t *o = json_object();
			json_object_set_new(o, "name", json_string(h->commands[i].name));
			json_object_set_new(o, "command", json_string(h->commands[i].command));
			json_array_append_new(list, o);
		}
		json_object_set_new(root, "commands", list);
		{
			char *json = json_dumps(
			        root, JSON_COMPACT); /* C1 and bidi escaped (text_json_fputs) */
			text_json_fputs(json, stdout);
			free(json);
		}
		fputc('\n', stdout);
		json_decref(root);
		return 0;
	}
	if (h->n_commands == 0) {
		cli_say("%s has no quick commands: add 'command.NAME = COMMAND' to its [ssh "
		        "\"%s\"] "
		        "section, or run 'labdeck ssh %s -- COMMAND'",
		        h->name, h->name, h->name);
		return 0;
	}
	int w = 4;
	for (size_t i = 0; i < h->n_commands; i++) {
		int n = (int)strlen(h->commands[i].name) + 1;
		w = n > w ? n : w;
	}
	bool tty = isatty(STDOUT_FILENO);
	printf("%-*s  %s\n", w, "NAME", "COMMAND");
	for (size_t i = 0; i < h->n_commands; i++) {
		char *name = xasprintf(":%s", h->commands[i].name);
		char *sn = tty ? text_sanitize(name, false) : xstrdup(name);
		char *sc = tty ? text_sanitize(h->commands[i].command, false)
		               : xstrdup(h->commands[i].command);
		printf("%-*s  %s\n", w, sn, sc);
		free(name);
		free(sn);
		free(sc);
	}
	return 0;
}

static const struct config_ssh_host *find_host(const struct cli *c, const char *name)
{
	for (size_t i = 0; i < c->cfg.n_ssh; i++) {
		if (strcmp(c->cfg.ssh[i].name, name) == 0) {
			return &c->cfg.ssh[i];
		}
	}
	return NULL;
}

static int unknown_host(const struct cli *c, const char *name)
{
	if (c->cfg.n_ssh == 0) {
		cli_say("ssh: no host called '%s': %s has no [ssh \"NAME\"] section", name,
		        c->cfg.path ? c->cfg.path : "no config file was found, so it");
		return 2;
	}
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < c->cfg.n_ssh; i++) {
		buf_appendf(&b, "%s%s", i ? ", " : "", c->cfg.ssh[i].name);
	}
	cli_say("ssh: no host called '%s' in %s; configured: %s", name,
	        c->cfg.path ? c->cfg.path : "the configuration", b.data);
	buf_finish(&b);
	return 2;
}

int cli_ssh(struct cli *c, int argc, char **argv)
{
	if (argc < 2) {
		return usage_error("which host? (a [ssh \"NAME\"] section of the config)");
	}
	const char *name = argv[1];
	if (name[0] == '-') {
		return usage_error("the host comes first, then '--' and the command");
	}
	const struct config_ssh_host *h = find_host(c, name);
	if (!h) {
		return unknown_host(c, name);
	}
	if (argc == 2) {
		return list_commands(c, h);
	}
	if (c->json) {
		return usage_error("the command's own output is printed as it comes: --json only "
		                   "lists quick commands ('labdeck ssh HOST --json')");
	}
	if (strcmp(argv[2], "--") == 0) {
		if (argc == 3) {
			return usage_error("no command after '--'");
		}
		char *command = ssh_join_command(argc - 3, argv + 3);
		int rc = run_command(c, h, command);
		free(command);
		return rc;
	}
	if (argv[2][0] == ':' && argc == 3) {
		for (size_t i = 0; i < h->n_commands; i++) {
			if (strcmp(h->commands[i].name, argv[2] + 1) == 0) {
				return run_command(c, h, h->commands[i].command);
			}
		}
		struct buf b;
		buf_init(&b);
		for (size_t i = 0; i < h->n_commands; i++) {
			buf_appendf(&b, "%s:%s", i ? ", " : "", h->commands[i].name);
		}
		cli_say("ssh %s: no quick command called '%s'; %s%s", h->name, argv[2],
		        h->n_commands ? "configured: " : "the host has none",
		        h->n_commands ? b.data : "");
		buf_finish(&b);
		return 2;
	}
	return usage_error("put the command after '--' (labdeck ssh HOST -- COMMAND...)");
}
