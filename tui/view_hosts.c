/* view_hosts.c: the hosts view (`7`, `:hosts`): the [ssh "name"] hosts of the config — name,
 * user@host:port, how labdeck logs in (a key file or ssh-agent) and how the last command run
 * there ended. Enter on a host lists its quick commands (command.NAME); Enter on one runs it,
 * `c` takes a command line typed at a prompt of the view's own. Every command is confirmed
 * with app_confirm showing the exact command line (a command can change anything), so a
 * read-only console refuses them all, as the CLI does.
 *
 * The command's output is streamed into a pane (`o` reopens it): sanitised line by line, the
 * last OUT_MAX_LINES kept, PgUp/PgDn/j/k/g/G to scroll; Esc stops a running command (the remote
 * one may keep running: the pane says so); the exit status ends the pane and the action log
 * (ops_begin/ops_update, so the status line shows it while it runs). One command runs at a time;
 * it goes on while the user looks at other views.
 *
 * Host keys: an unknown key is shown with its SHA-256 fingerprint and added to known_hosts only
 * when the user confirms (app_confirm naming the fingerprint); a changed key is refused with red
 * lines naming the known_hosts file and line, and nothing is asked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "app.h"
#include "chat_text.h"
#include "format.h"
#include "ops.h"
#include "palette.h"
#include "ssh.h"
#include "text.h"
#include "util.h"
#include "views.h"

#define OUT_MAX_LINES 5000
#define OUT_LINE_MAX 4096 /* a longer line is cut into pieces of this size */
#define PROMPT_MAX 1024
#define N_NOTES 4

struct out_line {
	char *text; /* sanitised */
	bool err;   /* from stderr */
};

/* One command run from the view (the latest one; its output is kept after it ends). */
struct host_run {
	const struct config_ssh_host *host;
	size_t host_index;
	char *command;
	struct ssh_run *run; /* NULL once it ended or was stopped */
	unsigned long op;    /* its entry in the action log */
	bool asking_key;     /* waiting for the user's answer about an unknown host key */
	struct out_line lines[OUT_MAX_LINES]; /* ring */
	size_t head, count;
	size_t total;          /* lines received in all */
	size_t scroll;         /* lines from the bottom the pane is scrolled up */
	struct buf partial[2]; /* stdout, stderr: the line still being written */
	/* Lines about the connection above the output (the host key), each with its slot. */
	char notes[N_NOTES][600];
	enum theme_slot note_slot[N_NOTES];
	size_t n_notes;
	int64_t started_ms, ended_ms;
	bool ended;
	bool failed; /* ended badly: the summary is an error */
	char summary[600];
};

/* What the hosts list says about a host: how the last command there went. */
struct host_state {
	char last[160];
	enum action_phase phase;
	bool ran;
	double at; /* wall clock, when it ended */
};

struct hosts;

/* The hosts list (host NULL, the top-level view) or one host's quick commands (pushed). */
struct page {
	struct view base;
	struct hosts *hs;
	const struct config_ssh_host *host;
	size_t host_index;
	struct listview lv;
};

/* The top-level view, and the state its pages and the output pane share. */
struct hosts {
	struct page page;
	const struct config *cfg;
	struct host_state *state; /* one per cfg->ssh */
	struct host_run *cur;
	/* the command being confirmed */
	const struct config_ssh_host *pending_host;
	size_t pending_index;
	char *pending_command;
	/* the prompt of `c` */
	bool prompting;
	const struct config_ssh_host *prompt_host;
	size_t prompt_index;
	char input[PROMPT_MAX];
	size_t input_len;
	bool cut; /* the output's long lines cut at the edge (w), not wrapped */
};

struct pane {
	struct view base;
	struct hosts *hs;
	int page_rows; /* output rows at the last draw */
};

static struct app *app_of(const struct hosts *hs)
{
	return hs->page.base.app;
}

/* ---- the output --------------------------------------------------------------------------- */

static const struct out_line *line_at(const struct host_run *r, size_t i)
{
	return &r->lines[(r->head + i) % OUT_MAX_LINES];
}

static void add_line(struct hosts *hs, struct host_run *r, const char *raw, size_t len, bool err)
{
	/* What a terminal would show of a line rewritten with \r (progress bars): its last part. */
	while (len > 0 && raw[len - 1] == '\r') {
		len--;
	}
	for (size_t i = len; i > 0; i--) {
		if (raw[i - 1] == '\r') {
			raw += i;
			len -= i;
			break;
		}
	}
	char *text = xstrndup(raw, len);
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\0') {
			text[i] = '\x01'; /* a NUL is a control like the others, not the end */
		}
	}
	char *safe = text_sanitize(text, false);
	free(text);
	if (r->count == OUT_MAX_LINES) {
		free(r->lines[r->head].text);
		r->lines[r->head] = (struct out_line){safe, err};
		r->head = (r->head + 1) % OUT_MAX_LINES;
	} else {
		r->lines[(r->head + r->count) % OUT_MAX_LINES] = (struct out_line){safe, err};
		r->count++;
	}
	r->total++;
	if (r->scroll > 0 && r->scroll < r->count) {
		r->scroll++; /* hold the lines on screen: the new one lands below */
	}
	app_dirty(app_of(hs));
}

/* complete_len: how many leading bytes of s end on a whole UTF-8 character. */
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

static void take_output(struct hosts *hs, struct host_run *r, int stream, const char *data,
                        size_t len)
{
	struct buf *p = &r->partial[stream == 2];
	buf_append(p, data, len);
	for (;;) {
		const char *nl = p->len ? memchr(p->data, '\n', p->len) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - p->data);
			add_line(hs, r, p->data, n, stream == 2);
			buf_consume(p, n + 1);
		} else if (p->len >= OUT_LINE_MAX) {
			size_t n = complete_len(p->data, OUT_LINE_MAX);
			add_line(hs, r, p->data, n ? n : OUT_LINE_MAX, stream == 2);
			buf_consume(p, n ? n : OUT_LINE_MAX);
		} else {
			break;
		}
	}
	app_dirty(app_of(hs));
}

static void flush_partial(struct hosts *hs, struct host_run *r)
{
	for (int i = 0; i < 2; i++) {
		if (r->partial[i].len) {
			add_line(hs, r, r->partial[i].data, r->partial[i].len, i == 1);
			buf_consume(&r->partial[i], r->partial[i].len);
		}
	}
}

__attribute__((format(printf, 3, 4))) static void note(struct host_run *r, enum theme_slot slot,
                                                       const char *fmt, ...)
{
	if (r->n_notes == N_NOTES) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->notes[r->n_notes], sizeof(r->notes[0]), fmt, ap);
	va_end(ap);
	r->note_slot[r->n_notes++] = slot;
}

static void run_free(struct host_run *r)
{
	if (!r) {
		return;
	}
	ssh_run_cancel(r->run);
	for (size_t i = 0; i < r->count; i++) {
		free(line_at(r, i)->text);
	}
	buf_finish(&r->partial[0]);
	buf_finish(&r->partial[1]);
	free(r->command);
	free(r);
}

static void set_last(struct hosts *hs, struct host_run *r, enum action_phase phase,
                     const char *text)
{
	struct host_state *st = &hs->state[r->host_index];
	snprintf(st->last, sizeof(st->last), "%s", text);
	st->phase = phase;
	st->ran = true;
	st->at = now_wall();
	listview_data_changed(&hs->page.lv);
}

static void took(const struct host_run *r, char *out, size_t size)
{
	int64_t end = r->ended_ms ? r->ended_ms : now_mono_ms();
	format_duration((end - r->started_ms) / 1000, out, size);
}

/* end_run: the run is over (done, or stopped by the user): the summary, the log, the list. */
static void end_run(struct hosts *hs, struct host_run *r, enum action_phase phase,
                    const char *state, const char *detail, const char *summary)
{
	flush_partial(hs, r);
	r->run = NULL;
	r->asking_key = false;
	r->ended = true;
	r->ended_ms = now_mono_ms();
	r->failed = phase != ACTION_DONE;
	char t[32];
	took(r, t, sizeof(t));
	/* A failure with a reason ends in that reason's words: the time is set apart from them. */
	snprintf(r->summary, sizeof(r->summary), "%s%s after %s", summary,
	         phase == ACTION_FAILED && detail ? " ·" : "", t);
	ops_update(app_ops(app_of(hs)), r->op, state, phase, detail);
	set_last(hs, r, phase, summary);
	app_dirty(app_of(hs));
}

static void on_output(void *ud, int stream, const char *data, size_t len)
{
	struct hosts *hs = ud;
	take_output(hs, hs->cur, stream, data, len);
}

static void on_done(void *ud, const struct ssh_result *res)
{
	struct hosts *hs = ud;
	struct host_run *r = hs->cur;
	r->run = NULL; /* it frees itself */
	char state[64], summary[600];
	if (res->ok && res->exit_signal[0]) {
		snprintf(state, sizeof(state), "killed by signal %s", res->exit_signal);
		snprintf(summary, sizeof(summary), "✗ %s", state);
		end_run(hs, r, ACTION_FAILED, state, NULL, summary);
	} else if (res->ok) {
		snprintf(state, sizeof(state), "exit %d", res->exit_status);
		snprintf(summary, sizeof(summary), "%s exit %d", res->exit_status == 0 ? "✓" : "✗",
		         res->exit_status);
		end_run(hs, r, res->exit_status == 0 ? ACTION_DONE : ACTION_FAILED, state, NULL,
		        summary);
	} else if (res->hostkey.verdict == SSH_HOSTKEY_CHANGED) {
		const struct ssh_hostkey *k = &res->hostkey;
		note(r, SLOT_ERROR,
		     "✗ REMOTE HOST IDENTIFICATION HAS CHANGED for %s (%s): the server's %s key is "
		     "%s",
		     r->host->name, k->host_pattern, k->label, k->fingerprint);
		if (k->known_line > 0) {
			note(r, SLOT_ERROR,
			     "✗ %s, line %d holds another key for it: refused, nothing was run "
			     "(someone may be intercepting the connection)",
			     k->known_hosts, k->known_line);
		} else {
			note(r, SLOT_ERROR,
			     "✗ %s holds another key for it: refused, nothing was run (someone may "
			     "be "
			     "intercepting the connection)",
			     k->known_hosts);
		}
		note(r, SLOT_ERROR, "  if the change is expected: ssh-keygen -R '%s' -f %s",
		     k->host_pattern, k->known_hosts);
		end_run(hs, r, ACTION_FAILED, "host key changed", res->err.msg,
		        "✗ host key CHANGED: refused");
	} else {
		snprintf(summary, sizeof(summary), "✗ ssh %s: %s", r->host->name, res->err.msg);
		end_run(hs, r, ACTION_FAILED, err_code_name(res->err.code), res->err.msg, summary);
	}
}

static void on_key_answer(void *ud, bool yes)
{
	struct hosts *hs = ud;
	struct host_run *r = hs->cur;
	if (!r || !r->asking_key || !r->run) {
		return; /* the run ended meanwhile */
	}
	r->asking_key = false;
	if (yes) {
		note(r, SLOT_STATUS_OK, "✓ key accepted: added to %s", r->host->known_hosts);
	} else {
		note(r, SLOT_STATUS_WARN, "■ key not accepted: nothing was run");
	}
	app_dirty(app_of(hs));
	ssh_run_accept_key(r->run, yes); /* may end the run (done) */
}

static void on_unknown_key(void *ud, struct ssh_run *run, const struct ssh_hostkey *key)
{
	struct hosts *hs = ud;
	struct host_run *r = hs->cur;
	(void)run;
	r->asking_key = true;
	note(r, SLOT_STATUS_WARN, "? %s (%s) is not in %s: its %s key fingerprint is %s",
	     r->host->name, key->host_pattern, key->known_hosts, key->label, key->fingerprint);
	char *q = xasprintf("%s is the new %s key of %s (%s): add it to known_hosts",
	                    key->fingerprint, key->label, r->host->name, key->host_pattern);
	app_confirm(app_of(hs), q, NULL, on_key_answer, hs);
	free(q);
	app_dirty(app_of(hs));
}

static struct view *pane_create(struct hosts *hs);

static void on_run_answer(void *ud, bool yes)
{
	struct hosts *hs = ud;
	char *command = hs->pending_command;
	hs->pending_command = NULL;
	if (!yes || !command) {
		free(command);
		return;
	}
	if (hs->cur && hs->cur->run) {
		free(command);
		app_message(app_of(hs), true, "a command is already running on %s",
		            hs->cur->host->name);
		return;
	}
	run_free(hs->cur);
	struct host_run *r = xcalloc(1, sizeof(*r));
	hs->cur = r;
	r->host = hs->pending_host;
	r->host_index = hs->pending_index;
	r->command = command;
	buf_init(&r->partial[0]);
	buf_init(&r->partial[1]);
	r->started_ms = now_mono_ms();
	char *target = xasprintf("%s: %s", r->host->name, command);
	r->op = ops_begin(app_ops(app_of(hs)), "ssh", target);
	free(target);
	struct host_state *st = &hs->state[r->host_index];
	snprintf(st->last, sizeof(st->last), "⟳ running");
	st->phase = ACTION_RUNNING;
	st->ran = true;
	listview_data_changed(&hs->page.lv);
	struct ssh_callbacks cb = {
	        .unknown_key = on_unknown_key,
	        .output = on_output,
	        .done = on_done,
	        .ud = hs,
	};
	r->run = ssh_run_start(app_base(app_of(hs)), r->host, command, 0, &cb);
	app_push(app_of(hs), pane_create(hs));
}

static char *address_of(const struct config_ssh_host *h)
{
	if (h->user && h->user[0]) {
		return xasprintf("%s@%s:%d", h->user, h->host, h->port);
	}
	return xasprintf("%s:%d", h->host, h->port);
}

/* ask: confirm a command line for a host, then run it. */
static void ask(struct hosts *hs, const struct config_ssh_host *h, size_t index, const char *cmd)
{
	if (hs->cur && hs->cur->run) {
		app_message(app_of(hs), true,
		            "a command is running on %s: o shows it, Esc there stops it",
		            hs->cur->host->name);
		return;
	}
	free(hs->pending_command);
	hs->pending_command = xstrdup(cmd);
	hs->pending_host = h;
	hs->pending_index = index;
	char *addr = address_of(h);
	char *q = xasprintf("run on %s (%s): %s", h->name, addr, cmd);
	app_confirm(app_of(hs), q, NULL, on_run_answer, hs);
	free(q);
	free(addr);
}

/* stop: Esc in the pane while the command runs. */
static void stop(struct hosts *hs)
{
	struct host_run *r = hs->cur;
	ssh_run_cancel(r->run);
	r->run = NULL;
	char *s = xasprintf("■ stopped: the command may keep running on %s until it next writes "
	                    "output",
	                    r->host->host);
	end_run(hs, r, ACTION_CANCELLED, "stopped", "the remote command may keep running", s);
	free(s);
}

/* ---- the lists ---------------------------------------------------------------------------- */

enum { H_NAME, H_ADDRESS, H_AUTH, H_CMDS, H_LAST, H_N };

static const struct list_column host_columns[H_N] = {
        [H_NAME] = {.title = "NAME", .max_width = 24},
        [H_ADDRESS] = {.title = "ADDRESS", .max_width = 40},
        [H_AUTH] = {.title = "AUTH", .max_width = 28, .optional = true},
        [H_CMDS] = {.title = "CMDS", .right = true, .numeric = true, .optional = true},
        [H_LAST] = {.title = "LAST", .flexible = true, .keep = 12},
};

enum { C_NAME, C_COMMAND, C_N };

static const struct list_column command_columns[C_N] = {
        [C_NAME] = {.title = "NAME", .max_width = 24},
        [C_COMMAND] = {.title = "COMMAND", .flexible = true},
};

static size_t host_count(void *ud)
{
	struct page *p = ud;
	return p->hs->cfg->n_ssh;
}

static void host_cell(void *ud, size_t row, size_t col, char *buf, size_t size)
{
	struct page *p = ud;
	const struct config_ssh_host *h = &p->hs->cfg->ssh[row];
	const struct host_state *st = &p->hs->state[row];
	switch (col) {
	case H_NAME:
		snprintf(buf, size, "%s", h->name);
		break;
	case H_ADDRESS: {
		char *a = address_of(h);
		snprintf(buf, size, "%s", a);
		free(a);
		break;
	}
	case H_AUTH:
		if (h->identity) {
			const char *base = strrchr(h->identity, '/');
			snprintf(buf, size, "key %s", base ? base + 1 : h->identity);
		} else {
			snprintf(buf, size, "agent");
		}
		break;
	case H_CMDS:
		snprintf(buf, size, "%zu", h->n_commands);
		break;
	case H_LAST:
		if (!st->ran) {
			snprintf(buf, size, "-");
		} else if (st->phase == ACTION_RUNNING) {
			snprintf(buf, size, "%s", st->last);
		} else {
			char age[32];
			format_duration((int64_t)(now_wall() - st->at), age, sizeof(age));
			snprintf(buf, size, "%s · %s ago", st->last, age);
		}
		break;
	}
}

static double host_number(void *ud, size_t row, size_t col)
{
	struct page *p = ud;
	(void)col;
	return (double)p->hs->cfg->ssh[row].n_commands;
}

static enum theme_slot host_slot(void *ud, size_t row)
{
	struct page *p = ud;
	const struct host_state *st = &p->hs->state[row];
	if (!st->ran) {
		return SLOT_NORMAL;
	}
	return st->phase == ACTION_RUNNING  ? SLOT_STATUS_WARN
	       : st->phase == ACTION_FAILED ? SLOT_STATUS_FAIL
	                                    : SLOT_NORMAL;
}

static void host_key(void *ud, size_t row, char *buf, size_t size)
{
	struct page *p = ud;
	snprintf(buf, size, "%s", p->hs->cfg->ssh[row].name);
}

static size_t command_count(void *ud)
{
	struct page *p = ud;
	return p->host->n_commands;
}

static void command_cell(void *ud, size_t row, size_t col, char *buf, size_t size)
{
	struct page *p = ud;
	const struct config_ssh_command *c = &p->host->commands[row];
	snprintf(buf, size, "%s", col == C_NAME ? c->name : c->command);
}

static double command_number(void *ud, size_t row, size_t col)
{
	(void)ud;
	(void)col;
	return (double)row;
}

static void command_key(void *ud, size_t row, char *buf, size_t size)
{
	struct page *p = ud;
	snprintf(buf, size, "%s", p->host->commands[row].name);
}

/* The host under the cursor (the page's own host for a commands page). */
static const struct config_ssh_host *page_host(struct page *p, size_t *index)
{
	if (p->host) {
		*index = p->host_index;
		return p->host;
	}
	size_t row = listview_selected(&p->lv);
	if (row == (size_t)-1 || row >= p->hs->cfg->n_ssh) {
		return NULL;
	}
	*index = row;
	return &p->hs->cfg->ssh[row];
}

static struct view *commands_create(struct hosts *hs, size_t index);

static void prompt_key(struct hosts *hs, int k)
{
	if (k == 27) {
		hs->prompting = false;
	} else if (k == '\r' || k == '\n' || k == KEY_ENTER + KEYS_FN_BASE) {
		hs->prompting = false;
		char *cmd = str_trim(hs->input);
		if (cmd[0]) {
			ask(hs, hs->prompt_host, hs->prompt_index, cmd);
		}
	} else if (k == 127 || k == 8 || k == KEY_BACKSPACE + KEYS_FN_BASE) {
		while (hs->input_len > 0) {
			hs->input_len--;
			if ((hs->input[hs->input_len] & 0xC0) != 0x80) {
				break;
			}
		}
		hs->input[hs->input_len] = '\0';
	} else if (k == KEYS_CTRL('u')) {
		hs->input_len = 0;
		hs->input[0] = '\0';
	} else if (k >= 32 && k < KEYS_FN_BASE && k != 127) {
		char mb[8];
		mbstate_t st = {0};
		size_t n = wcrtomb(mb, (wchar_t)k, &st);
		if (n != (size_t)-1 && hs->input_len + n < sizeof(hs->input)) {
			memcpy(hs->input + hs->input_len, mb, n);
			hs->input_len += n;
			hs->input[hs->input_len] = '\0';
		}
	}
	app_dirty(app_of(hs));
}

static void open_pane(struct hosts *hs)
{
	if (!hs->cur) {
		app_message(app_of(hs), false,
		            "no command has run yet: Enter on a host lists its quick commands, c "
		            "types one");
		return;
	}
	app_push(app_of(hs), pane_create(hs));
}

static bool page_handle(struct view *v, enum action a, int k)
{
	struct page *p = (struct page *)v;
	struct hosts *hs = p->hs;
	if (hs->prompting) {
		if (k >= 0) {
			prompt_key(hs, k);
		}
		return true;
	}
	size_t index = 0;
	const struct config_ssh_host *h = page_host(p, &index);
	switch (a) {
	case ACT_ENTER:
		if (!p->host) {
			if (h) {
				app_push(v->app, commands_create(hs, index));
			}
			return true;
		}
		if (h->n_commands) {
			size_t row = listview_selected(&p->lv);
			if (row != (size_t)-1) {
				ask(hs, h, index, h->commands[row].command);
			}
		}
		return true;
	case ACT_HOST_COMMAND:
		if (h) {
			hs->prompting = true;
			hs->prompt_host = h;
			hs->prompt_index = index;
			hs->input[0] = '\0';
			hs->input_len = 0;
		}
		return true;
	case ACT_HOST_OUTPUT:
		open_pane(hs);
		return true;
	default:
		return false;
	}
}

static bool page_wants_raw(struct view *v)
{
	return ((struct page *)v)->hs->prompting;
}

static bool page_cancel(struct view *v)
{
	struct hosts *hs = ((struct page *)v)->hs;
	if (hs->prompting) {
		hs->prompting = false;
		return true;
	}
	return false;
}

static void put_line(WINDOW *w, int y, int cols, enum theme_slot slot, const char *text)
{
	char *safe = text_sanitize(text, false);
	char *fit = text_fit(safe, cols, false);
	wattrset(w, palette_attr(slot));
	mvwaddstr(w, y, 0, fit);
	free(fit);
	free(safe);
	wattrset(w, palette_attr(SLOT_NORMAL));
}

static void page_draw(struct view *v, WINDOW *w, int y, int h, int cols)
{
	struct page *p = (struct page *)v;
	struct hosts *hs = p->hs;
	int list_h = h - 1;
	bool empty = p->host ? p->host->n_commands == 0 : hs->cfg->n_ssh == 0;
	if (empty) {
		char *msg;
		if (p->host) {
			msg = xasprintf(
			        "%s has no quick commands: add 'command.NAME = COMMAND' to its "
			        "[ssh \"%s\"] section, or press c to type one",
			        p->host->name, p->host->name);
		} else {
			msg = xasprintf("no SSH hosts: add an [ssh \"NAME\"] section (host, user, "
			                "identity) to %s",
			                hs->cfg->path ? hs->cfg->path : "the config file");
		}
		put_line(w, y + 1, cols, SLOT_DIM, msg);
		free(msg);
	} else {
		listview_draw(&p->lv, w, y, 0, list_h, cols);
	}
	char *line;
	enum theme_slot slot = SLOT_DIM;
	if (hs->prompting) {
		line = xasprintf("command on %s: %s▏", hs->prompt_host->name, hs->input);
		slot = SLOT_PROMPT;
	} else if (p->host) {
		line = xasprintf(
		        "Enter runs the command (asks first) · c types one · o last output · "
		        "Esc back");
	} else {
		line = xasprintf("Enter: quick commands · c types a command (asks first) · o last "
		                 "output");
	}
	put_line(w, y + list_h, cols, slot, line);
	free(line);
}

static void page_title(struct view *v, char *out, size_t size)
{
	struct page *p = (struct page *)v;
	if (p->host) {
		char *addr = address_of(p->host);
		snprintf(out, size, "%s (%s): quick commands %zu", p->host->name, addr,
		         p->host->n_commands);
		free(addr);
		return;
	}
	const struct host_run *r = p->hs->cur;
	snprintf(out, size, "hosts %zu%s%s", p->hs->cfg->n_ssh, r && r->run ? " · running on " : "",
	         r && r->run ? r->host->name : "");
}

static struct listview *page_list(struct view *v)
{
	return &((struct page *)v)->lv;
}

static void commands_destroy(struct view *v)
{
	struct page *p = (struct page *)v;
	listview_finish(&p->lv);
	free(p);
}

static void hosts_destroy(struct view *v)
{
	struct hosts *hs = (struct hosts *)v;
	run_free(hs->cur);
	free(hs->pending_command);
	free(hs->state);
	listview_finish(&hs->page.lv);
	free(hs);
}

static const struct view_ops hosts_ops = {
        .name = "hosts",
        .scope = SCOPE_HOSTS,
        .draw = page_draw,
        .handle = page_handle,
        .title = page_title,
        .list = page_list,
        .cancel = page_cancel,
        .destroy = hosts_destroy,
        .wants_raw = page_wants_raw,
};

static const struct view_ops commands_ops = {
        .name = "host-commands",
        .scope = SCOPE_HOSTS,
        .draw = page_draw,
        .handle = page_handle,
        .title = page_title,
        .list = page_list,
        .cancel = page_cancel,
        .destroy = commands_destroy,
        .wants_raw = page_wants_raw,
};

static struct view *commands_create(struct hosts *hs, size_t index)
{
	struct page *p = xcalloc(1, sizeof(*p));
	p->base.ops = &commands_ops;
	p->base.app = app_of(hs);
	p->hs = hs;
	p->host = &hs->cfg->ssh[index];
	p->host_index = index;
	struct list_source src = {
	        .cols = command_columns,
	        .ncols = C_N,
	        .count = command_count,
	        .cell = command_cell,
	        .number = command_number,
	        .key = command_key,
	        .ud = p,
	};
	listview_init(&p->lv, &src);
	listview_data_changed(&p->lv);
	return &p->base;
}

struct view *view_hosts_create(struct app *a)
{
	struct hosts *hs = xcalloc(1, sizeof(*hs));
	hs->page.base.ops = &hosts_ops;
	hs->page.base.app = a;
	hs->page.hs = hs;
	hs->cfg = app_config(a);
	hs->state = xcalloc(hs->cfg->n_ssh ? hs->cfg->n_ssh : 1, sizeof(*hs->state));
	struct list_source src = {
	        .cols = host_columns,
	        .ncols = H_N,
	        .count = host_count,
	        .cell = host_cell,
	        .number = host_number,
	        .slot = host_slot,
	        .key = host_key,
	        .ud = &hs->page,
	};
	listview_init(&hs->page.lv, &src);
	listview_data_changed(&hs->page.lv);
	return &hs->page.base;
}

/* ---- the output pane ---------------------------------------------------------------------- */

/* out_text: output line i of r (a complete one, or what is still being written), sanitised. */
static char *out_text(const struct host_run *r, const struct buf *const *pending, size_t i)
{
	if (i < r->count) {
		return xstrdup(line_at(r, i)->text);
	}
	const struct buf *b = pending[i - r->count];
	char *raw = xstrndup(b->data, complete_len(b->data, b->len));
	char *safe = text_sanitize(raw, false);
	free(raw);
	return safe;
}

/* draw_wrapped fills rows screen rows from row with the output lines before last, wrapped to
 * cols as a terminal wraps them (at any character, a wide one never split): the last line's
 * last row at the bottom. */
static void draw_wrapped(WINDOW *w, int row, size_t rows, int cols, const struct host_run *r,
                         const struct buf *const *pending, size_t last)
{
	/* Back from last until the rows are filled, then laid out forwards from there. */
	size_t start = last, filled = 0;
	while (start > 0 && filled < rows) {
		start--;
		struct chat_text_lines one = {0};
		char *s = out_text(r, pending, start);
		chat_text_wrap(&one, s, cols, 0, 0, SLOT_NORMAL, false, false);
		filled += one.len;
		free(s);
		chat_text_free(&one);
	}
	struct chat_text_lines ls = {0};
	for (size_t i = start; i < last; i++) {
		char *s = out_text(r, pending, i);
		chat_text_wrap(&ls, s, cols, 0, 0, SLOT_NORMAL, false, false);
		free(s);
	}
	for (size_t k = ls.len > rows ? ls.len - rows : 0; k < ls.len; k++) {
		chat_text_draw_line(w, row++, &ls.items[k]);
	}
	chat_text_free(&ls);
	wattrset(w, palette_attr(SLOT_NORMAL));
}

static void pane_draw(struct view *v, WINDOW *w, int y, int h, int cols)
{
	struct pane *pn = (struct pane *)v;
	struct hosts *hs = pn->hs;
	struct host_run *r = hs->cur;
	if (!r || h < 3) {
		return;
	}
	char *addr = address_of(r->host);
	char *head = xasprintf("%s (%s) $ %s", r->host->name, addr, r->command);
	put_line(w, y, cols, SLOT_HEADER, head);
	free(head);
	free(addr);
	int row = y + 1;
	int end = y + h - 1; /* the last row is the summary */
	for (size_t i = 0; i < r->n_notes && row < end - 1; i++) {
		put_line(w, row++, cols, r->note_slot[i], r->notes[i]);
	}
	/* The output: complete lines, then what is still being written. */
	const struct buf *pending[2];
	size_t n_pending = 0;
	for (int i = 0; i < 2; i++) {
		if (r->partial[i].len) {
			pending[n_pending++] = &r->partial[i];
		}
	}
	size_t n = r->count + n_pending;
	size_t rows = (size_t)(end - row);
	pn->page_rows = (int)rows;
	if (r->scroll > (n > rows ? n - rows : 0)) {
		r->scroll = n > rows ? n - rows : 0; /* the top: the first page of what is kept */
	}
	size_t last = n - r->scroll; /* one past the last line shown */
	size_t first = last > rows ? last - rows : 0;
	if (!hs->cut) {
		draw_wrapped(w, row, rows, cols, r, pending, last);
		first = last; /* drawn */
	}
	for (size_t i = first; i < last; i++, row++) {
		if (i < r->count) {
			const struct out_line *l = line_at(r, i);
			char *fit = text_fit(l->text, cols, false);
			wattrset(w, palette_attr(SLOT_NORMAL));
			mvwaddstr(w, row, 0, fit);
			free(fit);
		} else {
			const struct buf *b = pending[i - r->count];
			char *raw = xstrndup(b->data, complete_len(b->data, b->len));
			put_line(w, row, cols, SLOT_NORMAL, raw);
			free(raw);
		}
	}
	char t[32];
	took(r, t, sizeof(t));
	char *line;
	enum theme_slot slot;
	char where[64] = "";
	if (r->scroll > 0) {
		snprintf(where, sizeof(where), " · ↓ %zu more below (G: the end)", r->scroll);
	}
	if (!r->ended) {
		line = xasprintf("%s %s · %zu lines%s · PgUp/PgDn scroll · Esc stops",
		                 r->asking_key ? "? waiting for your answer about the host key"
		                               : "⟳ running",
		                 t, r->total, where);
		slot = SLOT_STATUS_WARN;
	} else {
		line = xasprintf("%s · %zu lines%s · Esc back", r->summary, r->total, where);
		slot = r->failed ? SLOT_ERROR : SLOT_STATUS_OK;
	}
	put_line(w, end, cols, slot, line);
	free(line);
}

static size_t pane_rows(const struct host_run *r)
{
	return r->count + (r->partial[0].len ? 1 : 0) + (r->partial[1].len ? 1 : 0);
}

static bool pane_handle(struct view *v, enum action a, int k)
{
	struct pane *pn = (struct pane *)v;
	struct host_run *r = pn->hs->cur;
	(void)k;
	if (!r) {
		return false;
	}
	int lines = 0;
	int page = pn->page_rows > 1 ? pn->page_rows - 1 : 1;
	size_t n = pane_rows(r);
	switch (a) {
	case ACT_PAGE_UP:
		lines = page;
		break;
	case ACT_UP:
		lines = 1;
		break;
	case ACT_PAGE_DOWN:
		lines = -page;
		break;
	case ACT_DOWN:
		lines = -1;
		break;
	case ACT_TOP:
		r->scroll = n;
		return true;
	case ACT_BOTTOM:
		r->scroll = 0;
		return true;
	case ACT_HOST_OUTPUT:
		return true;
	case ACT_WRAP:
		pn->hs->cut = !pn->hs->cut;
		app_message(v->app, false, "long lines %s",
		            pn->hs->cut ? "cut at the edge" : "wrapped");
		return true;
	default:
		return false;
	}
	if (lines > 0) {
		r->scroll = r->scroll + (size_t)lines > n ? n : r->scroll + (size_t)lines;
	} else {
		r->scroll = r->scroll > (size_t)-lines ? r->scroll - (size_t)-lines : 0;
	}
	return true;
}

static bool pane_cancel(struct view *v)
{
	struct hosts *hs = ((struct pane *)v)->hs;
	if (hs->cur && hs->cur->run && !hs->cur->asking_key) {
		stop(hs);
		return true;
	}
	return false;
}

static void pane_title(struct view *v, char *out, size_t size)
{
	struct hosts *hs = ((struct pane *)v)->hs;
	const struct host_run *r = hs->cur;
	snprintf(out, size, "ssh %s%s", r ? r->host->name : "",
	         !r         ? ""
	         : r->ended ? " · ended"
	                    : " · running");
}

static void pane_destroy(struct view *v)
{
	free(v);
}

static const struct view_ops pane_ops = {
        .name = "ssh-output",
        .scope = SCOPE_HOSTS,
        .draw = pane_draw,
        .handle = pane_handle,
        .title = pane_title,
        .cancel = pane_cancel,
        .destroy = pane_destroy,
};

static struct view *pane_create(struct hosts *hs)
{
	struct pane *p = xcalloc(1, sizeof(*p));
	p->base.ops = &pane_ops;
	p->base.app = app_of(hs);
	p->hs = hs;
	return &p->base;
}
