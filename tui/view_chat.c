/* view_chat.c: the chat view (`4`): a conversation with a local model or Gemini. The answer
 * streams in token by token; the scrollback is wrapped to the width with wide characters counted
 * as two columns and never split, with light Markdown (headings, **emphasis**, lists, fenced code
 * set apart and never joined). The input line at the bottom takes raw keys while typing (UTF-8,
 * Ctrl-A/E/W/U, Left/Right, Up/Down history, Enter sends, Alt-Enter or Ctrl-J a new line); Esc
 * stops a running answer and keeps what came. A header line names the models Ollama has loaded
 * and their VRAM share; the token meter counts cloud and local tokens and the cost from [gemini]
 * prices. `y` / `Y` copy the last answer / its last code block with OSC 52. Network text is kept
 * as it came and sanitised when drawn. */
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "app.h"
#include "llm.h"
#include "palette.h"
#include "text.h"
#include "http.h"
#include "util.h"

#define MAX_INPUT 8192
#define MAX_HISTORY 100
#define MAX_INPUT_ROWS 5
#define BOLD_MARK '\x01' /* stands for "**" in wrapped text; never in sanitised text */
#define ESC_WAIT_MS 40   /* an Esc followed this fast by Enter is Alt-Enter */

enum entry_kind { ENTRY_USER, ENTRY_ASSISTANT, ENTRY_ERROR, ENTRY_INFO };

struct entry {
	enum entry_kind kind;
	struct buf text; /* as it came (sanitised when drawn) */
	bool stopped;    /* the answer was stopped with Esc */
};

struct msg {
	enum llm_role role;
	char *content;
};

/* One screen line of the scrollback. */
struct line {
	char *text; /* sanitised; BOLD_MARK toggles bold */
	int indent;
	enum theme_slot slot;
	bool bold; /* bold at the line's start */
};

struct lines {
	struct line *items;
	size_t len, cap;
};

struct chat_view {
	struct view base;
	struct http *http;
	struct llm *llm;
	enum llm_provider provider;
	char *model;
	struct entry *entries;
	size_t n_entries, cap_entries;
	struct msg *msgs;
	size_t n_msgs, cap_msgs;
	struct llm_call *call;     /* the chat streaming, or NULL */
	size_t answer;             /* entry the answer goes to */
	struct llm_call *ps;       /* /api/ps in flight */
	bool ps_pending;           /* set before the call starts, cleared by its callback */
	struct llm_models *loaded; /* last /api/ps answer */
	char ps_error[256];
	bool typing;
	char input[MAX_INPUT];
	size_t input_len, cursor; /* bytes */
	char *history[MAX_HISTORY];
	size_t n_history;
	long hist_pos; /* -1: not browsing */
	bool esc_pending;
	struct event *esc_ev;
	size_t scroll; /* lines from the bottom */
	/* the meter */
	bool used;
	int64_t cloud_tokens, local_tokens;
	double cost;
};

/* --- small helpers --- */

static struct entry *add_entry(struct chat_view *c, enum entry_kind kind, const char *text)
{
	if (c->n_entries == c->cap_entries) {
		c->cap_entries = c->cap_entries ? c->cap_entries * 2 : 16;
		c->entries = xrealloc(c->entries, c->cap_entries * sizeof(*c->entries));
	}
	struct entry *e = &c->entries[c->n_entries++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	buf_init(&e->text);
	if (text) {
		buf_append(&e->text, text, strlen(text));
	}
	c->scroll = 0;
	return e;
}

static const char *entry_text(const struct entry *e)
{
	return e->text.data ? e->text.data : "";
}

static void add_msg(struct chat_view *c, enum llm_role role, const char *content)
{
	if (c->n_msgs == c->cap_msgs) {
		c->cap_msgs = c->cap_msgs ? c->cap_msgs * 2 : 16;
		c->msgs = xrealloc(c->msgs, c->cap_msgs * sizeof(*c->msgs));
	}
	c->msgs[c->n_msgs].role = role;
	c->msgs[c->n_msgs].content = xstrdup(content);
	c->n_msgs++;
}

static const char *model_of(const struct chat_view *c)
{
	if (c->model) {
		return c->model;
	}
	const char *m = llm_default_model(app_config(c->base.app), c->provider);
	return m ? m : "(no model)";
}

static void fmt_tokens(int64_t n, char *out, size_t size)
{
	if (n < 1000) {
		snprintf(out, size, "%lld", (long long)n);
	} else if (n < 1000000) {
		snprintf(out, size, "%.1fk", (double)n / 1000.0);
	} else {
		snprintf(out, size, "%.1fM", (double)n / 1e6);
	}
}

bool view_chat_meter(struct view *v, char *out, size_t size)
{
	struct chat_view *c = (struct chat_view *)v;
	if (!c || !c->used) {
		return false;
	}
	char cloud[32], local[32];
	fmt_tokens(c->cloud_tokens, cloud, sizeof(cloud));
	fmt_tokens(c->local_tokens, local, sizeof(local));
	snprintf(out, size, "cloud %s tok $%.3f · local %s tok", cloud, c->cost, local);
	return true;
}

/* --- /api/ps --- */

static void on_ps(void *ud, struct llm_models *models, const struct err *err)
{
	struct chat_view *c = ud;
	c->ps = NULL;
	c->ps_pending = false;
	if (models) {
		llm_models_free(c->loaded);
		c->loaded = models;
		c->ps_error[0] = '\0';
	} else {
		snprintf(c->ps_error, sizeof(c->ps_error), "%s", err ? err->msg : "no answer");
	}
	app_dirty(c->base.app);
}

static void fetch_ps(struct chat_view *c)
{
	const struct config *cfg = app_config(c->base.app);
	if (c->ps_pending || !cfg->ollama.url) {
		return;
	}
	c->ps_pending = true;
	struct llm_call *call = llm_ollama_ps(c->llm, on_ps, c);
	if (c->ps_pending) {
		c->ps = call;
	}
}

/* --- the chat --- */

static void count_usage(struct chat_view *c, const struct llm_result *res)
{
	if (!res || !res->usage.known) {
		return;
	}
	int64_t in = res->usage.prompt_tokens, out = res->usage.completion_tokens;
	c->used = true;
	if (llm_provider_is_cloud(res->provider)) {
		const struct config *cfg = app_config(c->base.app);
		c->cloud_tokens += in + out;
		c->cost += (double)in * cfg->gemini.price_in / 1e6 +
		           (double)out * cfg->gemini.price_out / 1e6;
	} else {
		c->local_tokens += in + out;
	}
}

/* Settles the history once an answer ended: an answer with text is kept, else the question
 * goes too (history stays user/assistant in turn). */
static void finish_answer(struct chat_view *c, struct llm_result *res)
{
	struct entry *e = &c->entries[c->answer];
	buf_consume(&e->text, e->text.len);
	buf_append(&e->text, res->text, res->text_len);
	if (res->text_len) {
		add_msg(c, LLM_ROLE_ASSISTANT, res->text);
	} else if (c->n_msgs && c->msgs[c->n_msgs - 1].role == LLM_ROLE_USER) {
		free(c->msgs[--c->n_msgs].content);
	}
	count_usage(c, res);
}

static void on_token(void *ud, const char *text, size_t len, bool is_thinking)
{
	struct chat_view *c = ud;
	if (is_thinking) {
		return; /* thinking is kept apart from the answer and not shown here */
	}
	buf_append(&c->entries[c->answer].text, text, len);
	app_dirty(c->base.app);
}

static void on_done(void *ud, struct llm_result *res)
{
	struct chat_view *c = ud;
	c->call = NULL;
	finish_answer(c, res);
	if (!res->ok) {
		add_entry(c, ENTRY_ERROR, res->err.msg);
	} else if (res->truncated) {
		char note[160];
		snprintf(note, sizeof(note), "[cut short: %s]",
		         res->finish_reason ? res->finish_reason : "the token limit");
		add_entry(c, ENTRY_INFO, note);
	}
	llm_result_free(res);
	fetch_ps(c);
	app_dirty(c->base.app);
}

static void stop(struct chat_view *c)
{
	struct llm_result *res = llm_cancel(c->call);
	c->call = NULL;
	c->entries[c->answer].stopped = true;
	if (res) {
		finish_answer(c, res);
		llm_result_free(res);
	}
	fetch_ps(c);
}

static void history_push(struct chat_view *c, const char *s)
{
	if (c->n_history && strcmp(c->history[c->n_history - 1], s) == 0) {
		return;
	}
	if (c->n_history == MAX_HISTORY) {
		free(c->history[0]);
		memmove(c->history, c->history + 1, (MAX_HISTORY - 1) * sizeof(char *));
		c->n_history--;
	}
	c->history[c->n_history++] = xstrdup(s);
}

static void set_input(struct chat_view *c, const char *s)
{
	snprintf(c->input, sizeof(c->input), "%s", s);
	c->input_len = c->cursor = strlen(c->input);
}

static void send_input(struct chat_view *c)
{
	if (c->call) {
		app_message(c->base.app, false, "an answer is still coming (Esc stops it)");
		return;
	}
	const char *p = c->input;
	while (*p == ' ' || *p == '\n') {
		p++;
	}
	if (!*p) {
		return;
	}
	history_push(c, c->input);
	c->hist_pos = -1;
	add_entry(c, ENTRY_USER, c->input);
	add_msg(c, LLM_ROLE_USER, c->input);
	set_input(c, "");
	struct llm_message *m = xmalloc(c->n_msgs * sizeof(*m));
	for (size_t i = 0; i < c->n_msgs; i++) {
		m[i].role = c->msgs[i].role;
		m[i].content = c->msgs[i].content;
	}
	struct llm_request req;
	llm_request_init(&req, c->provider);
	req.model = c->model;
	req.messages = m;
	req.n_messages = c->n_msgs;
	add_entry(c, ENTRY_ASSISTANT, NULL);
	c->answer = c->n_entries - 1;
	struct llm_callbacks cb = {on_token, on_done, c};
	struct err err;
	err_clear(&err);
	c->call = llm_chat(c->llm, &req, &cb, &err);
	free(m);
	if (!c->call) {
		free(c->msgs[--c->n_msgs].content);
		c->n_entries--;
		buf_finish(&c->entries[c->n_entries].text);
		add_entry(c, ENTRY_ERROR, err.msg);
	}
}

/* --- providers --- */

static bool provider_ready(struct chat_view *c, enum llm_provider p, struct err *err)
{
	return llm_ready(app_config(c->base.app), p, NULL, err);
}

static void switch_provider(struct chat_view *c, enum llm_provider p)
{
	c->provider = p;
	free(c->model);
	c->model = NULL;
	char note[200];
	snprintf(note, sizeof(note), "— now %s %s —", llm_provider_name(p), model_of(c));
	add_entry(c, ENTRY_INFO, note);
}

void view_chat_set_provider(struct view *v, const char *name)
{
	struct chat_view *c = (struct chat_view *)v;
	enum llm_provider p;
	if (!llm_provider_from_name(name, &p)) {
		char *safe = text_sanitize(name, false);
		app_message(c->base.app, true,
		            "chat: the provider is ollama, gemini or openai, not '%s'", safe);
		free(safe);
		return;
	}
	struct err err;
	err_clear(&err);
	if (!provider_ready(c, p, &err)) {
		add_entry(c, ENTRY_ERROR, err.msg);
		app_dirty(c->base.app);
		return;
	}
	switch_provider(c, p);
	app_dirty(c->base.app);
}

static void cycle_provider(struct chat_view *c)
{
	for (int i = 1; i <= LLM_N_PROVIDERS; i++) {
		enum llm_provider p = (enum llm_provider)(((int)c->provider + i) % LLM_N_PROVIDERS);
		struct err err;
		err_clear(&err);
		if (provider_ready(c, p, &err)) {
			if (p != c->provider) {
				switch_provider(c, p);
			} else {
				app_message(c->base.app, false, "no other provider is configured");
			}
			return;
		}
	}
}

/* --- OSC 52 --- */

static char *base64(const char *s, size_t n)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n) {
			v |= (uint32_t)p[i + 1] << 8;
		}
		if (i + 2 < n) {
			v |= p[i + 2];
		}
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* The last fenced code block of s, or NULL. */
static char *last_code_block(const char *s)
{
	char *found = NULL;
	const char *p = s;
	while ((p = strstr(p, "```"))) {
		if (p != s && p[-1] != '\n') {
			p += 3;
			continue;
		}
		const char *body = strchr(p, '\n');
		if (!body) {
			break;
		}
		body++;
		const char *end = body;
		while ((end = strstr(end, "```")) && end != body && end[-1] != '\n') {
			end += 3;
		}
		free(found);
		found = xstrndup(body, end ? (size_t)(end - body) : strlen(body));
		if (!end) {
			break;
		}
		p = end + 3;
	}
	return found;
}

static void copy(struct chat_view *c, bool code)
{
	const struct entry *e = NULL;
	for (size_t i = c->n_entries; i-- > 0;) {
		if (c->entries[i].kind == ENTRY_ASSISTANT && c->entries[i].text.len) {
			e = &c->entries[i];
			break;
		}
	}
	if (!e) {
		app_message(c->base.app, false, "nothing to copy yet");
		return;
	}
	char *text = code ? last_code_block(entry_text(e)) : xstrdup(entry_text(e));
	if (!text) {
		app_message(c->base.app, false, "the last answer has no code block");
		return;
	}
	/* The one escape sequence labdeck emits on purpose: base64 keeps the model's text inert. */
	char *b64 = base64(text, strlen(text));
	char *seq = xasprintf("\033]52;c;%s\a", b64);
	size_t len = strlen(seq), off = 0;
	while (off < len) {
		ssize_t n = write(STDOUT_FILENO, seq + off, len - off);
		if (n <= 0) {
			break;
		}
		off += (size_t)n;
	}
	app_message(c->base.app, false, "copied %s (%zu bytes) to the clipboard (OSC 52)",
	            code ? "the code block" : "the answer", strlen(text));
	free(seq);
	free(b64);
	free(text);
}

/* --- wrapping and Markdown --- */

static void lines_add(struct lines *ls, const char *s, size_t n, int indent, enum theme_slot slot,
                      bool bold)
{
	if (ls->len == ls->cap) {
		ls->cap = ls->cap ? ls->cap * 2 : 64;
		ls->items = xrealloc(ls->items, ls->cap * sizeof(*ls->items));
	}
	ls->items[ls->len++] = (struct line){xstrndup(s, n), indent, slot, bold};
}

static void lines_free(struct lines *ls)
{
	for (size_t i = 0; i < ls->len; i++) {
		free(ls->items[i].text);
	}
	free(ls->items);
}

/* Decodes one character of valid UTF-8 at p: its length and columns. */
static size_t char_at(const char *p, int *cols)
{
	mbstate_t st = {0};
	wchar_t wc;
	size_t n = mbrtowc(&wc, p, strlen(p) < 8 ? strlen(p) : 8, &st);
	if (n == 0 || n == (size_t)-1 || n == (size_t)-2) {
		*cols = 1;
		return 1;
	}
	int w = wcwidth(wc);
	*cols = w < 0 ? 1 : w;
	return n;
}

static int seg_width(const char *s, const char *end)
{
	int w = 0;
	while (s < end) {
		if (*s == BOLD_MARK) {
			s++;
			continue;
		}
		int cw;
		s += char_at(s, &cw);
		w += cw;
	}
	return w;
}

static bool toggles(const char *s, const char *end, bool bold)
{
	for (; s < end; s++) {
		if (*s == BOLD_MARK) {
			bold = !bold;
		}
	}
	return bold;
}

/* Wraps s (one logical line) into width columns: the first line at indent, the others at hang.
 * words: break at spaces when possible; else (code) at any character. A character never splits. */
static void wrap(struct lines *ls, const char *s, int cols, int indent, int hang,
                 enum theme_slot slot, bool bold, bool words)
{
	const char *start = s, *p = s, *space = NULL;
	int w = 0, ind = indent;
	bool any = false;
	while (*p) {
		if (*p == BOLD_MARK) {
			p++;
			continue;
		}
		int cw;
		size_t n = char_at(p, &cw);
		int room = cols - ind;
		if (room < 1) {
			room = 1;
		}
		if (w > 0 && w + cw > room) {
			const char *cut = p, *next = p;
			if (words && space && space > start) {
				cut = space;
				next = space + 1;
			}
			lines_add(ls, start, (size_t)(cut - start), ind, slot, bold);
			any = true;
			bold = toggles(start, next, bold);
			start = next;
			ind = hang;
			space = NULL;
			w = seg_width(start, p);
			continue;
		}
		if (*p == ' ') {
			space = p;
		}
		w += cw;
		p += n;
	}
	if (p > start || !any) {
		lines_add(ls, start, (size_t)(p - start), ind, slot, bold);
	}
}

/* "**" becomes BOLD_MARK. */
static char *mark_emphasis(const char *s)
{
	char *out = xstrdup(s);
	char *o = out;
	for (const char *p = s; *p;) {
		if (p[0] == '*' && p[1] == '*') {
			*o++ = BOLD_MARK;
			p += 2;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

static void render_markdown(struct lines *ls, const char *text, int cols)
{
	char *safe = text_sanitize(text, true);
	bool code = false;
	char *save = NULL;
	/* strtok_r would drop empty lines: split by hand. */
	for (char *line = safe; line; line = save) {
		char *nl = strchr(line, '\n');
		save = nl ? nl + 1 : NULL;
		if (nl) {
			*nl = '\0';
		}
		if (strncmp(line, "```", 3) == 0) {
			code = !code;
			if (code) {
				char label[80];
				snprintf(label, sizeof(label), "╭─ %.60s",
				         line[3] ? line + 3 : "code");
				wrap(ls, label, cols, 2, 2, SLOT_DIM, false, false);
			} else {
				wrap(ls, "╰─", cols, 2, 2, SLOT_DIM, false, false);
			}
			continue;
		}
		if (code) {
			char *row = xasprintf("│ %s", line);
			wrap(ls, row, cols, 2, 4, SLOT_DIM, false, false);
			free(row);
			continue;
		}
		char *marked = mark_emphasis(line);
		const char *p = marked;
		size_t hashes = strspn(p, "#");
		const char *lead = p + strspn(p, " ");
		if (hashes >= 1 && hashes <= 6 && p[hashes] == ' ') {
			char *h = xstrdup(p + hashes + 1);
			for (char *q = h; *q; q++) {
				if (*q == BOLD_MARK) {
					*q = ' ';
				}
			}
			wrap(ls, h, cols, 0, 0, SLOT_NORMAL, true, true);
			free(h);
		} else if ((lead[0] == '-' || lead[0] == '*' || lead[0] == '+') && lead[1] == ' ') {
			int depth = (int)(lead - p) / 2;
			char *item = xasprintf("• %s", lead + 2);
			wrap(ls, item, cols, 2 + 2 * depth, 4 + 2 * depth, SLOT_NORMAL, false,
			     true);
			free(item);
		} else {
			wrap(ls, p, cols, 0, 0, SLOT_NORMAL, false, true);
		}
		free(marked);
	}
	free(safe);
}

static void render(struct chat_view *c, struct lines *ls, int cols)
{
	for (size_t i = 0; i < c->n_entries; i++) {
		const struct entry *e = &c->entries[i];
		switch (e->kind) {
		case ENTRY_USER: {
			char *safe = text_sanitize(entry_text(e), true);
			bool first = true;
			for (char *line = safe, *next; line; line = next) {
				char *nl = strchr(line, '\n');
				next = nl ? nl + 1 : NULL;
				if (nl) {
					*nl = '\0';
				}
				char *row = xasprintf("%s%s", first ? "› " : "  ", line);
				wrap(ls, row, cols, 0, 2, SLOT_ACCENT, false, true);
				free(row);
				first = false;
			}
			free(safe);
			break;
		}
		case ENTRY_ASSISTANT:
			if (e->text.len) {
				render_markdown(ls, entry_text(e), cols);
			} else if (c->call && i == c->answer) {
				wrap(ls, "…", cols, 0, 0, SLOT_DIM, false, true);
			}
			if (e->stopped) {
				wrap(ls, "[stopped]", cols, 0, 0, SLOT_STATUS_WARN, false, true);
			}
			break;
		case ENTRY_ERROR: {
			char *safe = text_sanitize(entry_text(e), false);
			wrap(ls, safe, cols, 0, 2, SLOT_ERROR, false, true);
			free(safe);
			break;
		}
		case ENTRY_INFO: {
			char *safe = text_sanitize(entry_text(e), false);
			wrap(ls, safe, cols, 0, 2, SLOT_DIM, false, true);
			free(safe);
			break;
		}
		}
		if (e->kind != ENTRY_USER) {
			lines_add(ls, "", 0, 0, SLOT_NORMAL, false);
		}
	}
}

static void draw_line(WINDOW *w, int y, const struct line *l)
{
	attr_t base = palette_attr(l->slot);
	bool bold = l->bold;
	wattrset(w, base | (bold ? A_BOLD : 0));
	wmove(w, y, l->indent);
	const char *p = l->text;
	while (*p) {
		if (*p == BOLD_MARK) {
			bold = !bold;
			wattrset(w, base | (bold ? A_BOLD : 0));
			p++;
			continue;
		}
		int cw;
		size_t n = char_at(p, &cw);
		waddnstr(w, p, (int)n);
		p += n;
	}
}

/* --- the input area --- */

struct input_row {
	size_t from, to; /* bytes of c->input */
	bool first;      /* starts a logical line */
};

static size_t input_rows(const struct chat_view *c, int cols, struct input_row *rows, size_t max,
                         int *cur_row, int *cur_col)
{
	size_t n = 0;
	int room = cols - 2;
	size_t i = 0, start = 0;
	int w = 0;
	*cur_row = 0;
	*cur_col = 2;
	bool first = true;
	for (;;) {
		if (i == c->cursor) {
			*cur_row = (int)n;
			*cur_col = 2 + w;
		}
		if (i == c->input_len || c->input[i] == '\n') {
			if (n < max) {
				rows[n] = (struct input_row){start, i, first};
			}
			n++;
			if (i == c->input_len) {
				break;
			}
			i++;
			start = i;
			w = 0;
			first = true;
			continue;
		}
		int cw;
		size_t len = char_at(c->input + i, &cw);
		if (w + cw > room) {
			if (n < max) {
				rows[n] = (struct input_row){start, i, first};
			}
			n++;
			start = i;
			w = 0;
			first = false;
			if (i == c->cursor) {
				*cur_row = (int)n;
				*cur_col = 2;
			}
		}
		w += cw;
		i += len;
	}
	return n;
}

static void draw_header(struct chat_view *c, WINDOW *w, int y, int cols)
{
	struct buf b;
	buf_init(&b);
	if (c->loaded) {
		buf_appendf(&b, "ollama loaded: ");
		if (c->loaded->len == 0) {
			buf_appendf(&b, "none");
		}
		for (size_t i = 0; i < c->loaded->len; i++) {
			const struct llm_model_info *m = &c->loaded->items[i];
			double share = llm_model_vram_share(m);
			buf_appendf(&b, "%s%s %.1f GB", i ? " · " : "", m->name ? m->name : "?",
			            (double)m->size / 1e9);
			if (share >= 0) {
				buf_appendf(&b, " %.0f%% VRAM", share * 100.0);
			}
		}
	} else if (c->ps_error[0]) {
		buf_appendf(&b, "ollama: %s", c->ps_error);
	} else if (c->ps_pending) {
		buf_appendf(&b, "ollama: asking which models are loaded…");
	} else {
		buf_appendf(&b, "ollama: not configured");
	}
	char *safe = text_sanitize(b.data ? b.data : "", false);
	char *fit = text_fit(safe, cols, false);
	wattrset(w, palette_attr(SLOT_HEADER));
	mvwaddstr(w, y, 0, fit);
	free(fit);
	free(safe);
	buf_finish(&b);
}

static void draw(struct view *v, WINDOW *w, int y, int h, int cols)
{
	struct chat_view *c = (struct chat_view *)v;
	draw_header(c, w, y, cols);
	struct input_row rows[64];
	int cur_row = 0, cur_col = 2;
	size_t n_rows = 1;
	if (c->typing) {
		n_rows = input_rows(c, cols, rows, 64, &cur_row, &cur_col);
	}
	size_t shown = n_rows < MAX_INPUT_ROWS ? n_rows : MAX_INPUT_ROWS;
	size_t first_row = 0;
	if (n_rows > shown) {
		first_row = (size_t)cur_row >= shown ? (size_t)cur_row - shown + 1 : 0;
		if (first_row + shown > n_rows) {
			first_row = n_rows - shown;
		}
	}
	int body_y = y + 1;
	int body_h = h - 2 - (int)shown; /* header, rule, input rows */
	if (body_h < 1) {
		body_h = 1;
	}
	struct lines ls = {0};
	render(c, &ls, cols);
	size_t max_scroll = ls.len > (size_t)body_h ? ls.len - (size_t)body_h : 0;
	if (c->scroll > max_scroll) {
		c->scroll = max_scroll;
	}
	size_t end = ls.len - c->scroll;
	size_t from = end > (size_t)body_h ? end - (size_t)body_h : 0;
	for (size_t i = from; i < end; i++) {
		draw_line(w, body_y + (int)(i - from), &ls.items[i]);
	}
	if (c->n_entries == 0) {
		wattrset(w, palette_attr(SLOT_DIM));
		char intro[200];
		snprintf(intro, sizeof(intro), "Ask %s %s anything: type and press Enter.",
		         llm_provider_name(c->provider), model_of(c));
		char *safe = text_sanitize(intro, false);
		char *fit = text_fit(safe, cols, false);
		mvwaddstr(w, body_y, 0, fit);
		free(fit);
		free(safe);
	}
	lines_free(&ls);
	/* The rule with the keys, then the input. */
	int rule_y = y + h - 1 - (int)shown;
	char rule[300];
	if (c->scroll) {
		snprintf(rule, sizeof(rule), "── %zu more below (PgDn) ", c->scroll);
	} else if (c->call) {
		snprintf(rule, sizeof(rule), "── generating… Esc stops ");
	} else if (c->typing) {
		snprintf(rule, sizeof(rule),
		         "── Enter sends · Alt-Enter/^J new line · Esc leaves the input ");
	} else {
		snprintf(rule, sizeof(rule),
		         "── Enter types · y copies the answer · Y its code · p provider ");
	}
	struct buf rb;
	buf_init(&rb);
	buf_appendf(&rb, "%s", rule);
	for (int i = text_width(rule); i < cols; i++) {
		buf_appendf(&rb, "─");
	}
	char *fit = text_fit(rb.data, cols, false);
	wattrset(w, palette_attr(SLOT_BORDER));
	mvwaddstr(w, rule_y, 0, fit);
	free(fit);
	buf_finish(&rb);
	if (!c->typing) {
		wattrset(w, palette_attr(SLOT_DIM));
		mvwaddstr(w, rule_y + 1, 0, "> ");
		return;
	}
	wattrset(w, palette_attr(SLOT_PROMPT));
	for (size_t r = 0; r < shown; r++) {
		const struct input_row *ir = &rows[first_row + r];
		char *raw = xstrndup(c->input + ir->from, ir->to - ir->from);
		char *safe = text_sanitize(raw, false);
		mvwaddstr(w, rule_y + 1 + (int)r, 0,
		          ir->first ? (first_row + r == 0 ? "> " : "│ ") : "  ");
		mvwaddstr(w, rule_y + 1 + (int)r, 2, safe);
		free(safe);
		free(raw);
	}
	/* The cursor is a reverse-video cell (the terminal's own is the command line's). */
	int cy = rule_y + 1 + cur_row - (int)first_row;
	attr_t pa = palette_attr(SLOT_PROMPT);
	mvwchgat(w, cy, cur_col < cols ? cur_col : cols - 1, 1, (pa & ~A_COLOR) | A_REVERSE,
	         (short)PAIR_NUMBER(pa), NULL);
}

/* --- keys --- */

static void insert(struct chat_view *c, const char *s, size_t n)
{
	if (c->input_len + n >= sizeof(c->input)) {
		return;
	}
	memmove(c->input + c->cursor + n, c->input + c->cursor, c->input_len - c->cursor + 1);
	memcpy(c->input + c->cursor, s, n);
	c->input_len += n;
	c->cursor += n;
}

static size_t prev_char(const struct chat_view *c, size_t i)
{
	if (i == 0) {
		return 0;
	}
	do {
		i--;
	} while (i > 0 && (c->input[i] & 0xC0) == 0x80);
	return i;
}

static void delete_range(struct chat_view *c, size_t from, size_t to)
{
	memmove(c->input + from, c->input + to, c->input_len - to + 1);
	c->input_len -= to - from;
	c->cursor = from;
}

static void history_move(struct chat_view *c, int dir)
{
	if (!c->n_history) {
		return;
	}
	long pos = c->hist_pos < 0 ? (long)c->n_history : c->hist_pos;
	pos += dir;
	if (pos < 0) {
		pos = 0;
	}
	if (pos >= (long)c->n_history) {
		c->hist_pos = -1;
		set_input(c, "");
		return;
	}
	c->hist_pos = pos;
	set_input(c, c->history[pos]);
}

static int page(void)
{
	return LINES - 8 > 1 ? LINES - 8 : 1;
}

static void esc_action(struct chat_view *c)
{
	c->esc_pending = false;
	if (c->call) {
		stop(c);
		app_message(c->base.app, false, "stopped; the answer so far is kept");
	} else {
		c->typing = false;
	}
	app_dirty(c->base.app);
}

static void on_esc_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct chat_view *c = arg;
	if (c->esc_pending) {
		esc_action(c);
	}
}

static void typing_key(struct chat_view *c, int key)
{
	bool enter = key == '\r' || key == KEY_ENTER + KEYS_FN_BASE;
	if (c->esc_pending) {
		event_del(c->esc_ev);
		if (enter || key == '\n') {
			c->esc_pending = false;
			insert(c, "\n", 1); /* Alt-Enter */
			return;
		}
		esc_action(c);
		if (!c->typing) {
			return;
		}
	}
	if (key == 27) {
		c->esc_pending = true;
		struct timeval tv = {0, ESC_WAIT_MS * 1000};
		event_add(c->esc_ev, &tv);
	} else if (enter) {
		send_input(c);
	} else if (key == '\n') {
		insert(c, "\n", 1);
	} else if (key == 127 || key == 8 || key == KEY_BACKSPACE + KEYS_FN_BASE) {
		delete_range(c, prev_char(c, c->cursor), c->cursor);
	} else if (key == KEY_DC + KEYS_FN_BASE) {
		if (c->cursor < c->input_len) {
			size_t save = c->cursor;
			int cw;
			size_t n = char_at(c->input + c->cursor, &cw);
			delete_range(c, save, save + n);
		}
	} else if (key == KEYS_CTRL('a') || key == KEY_HOME + KEYS_FN_BASE) {
		while (c->cursor > 0 && c->input[c->cursor - 1] != '\n') {
			c->cursor--;
		}
	} else if (key == KEYS_CTRL('e') || key == KEY_END + KEYS_FN_BASE) {
		while (c->cursor < c->input_len && c->input[c->cursor] != '\n') {
			c->cursor++;
		}
	} else if (key == KEYS_CTRL('u')) {
		size_t from = c->cursor;
		while (from > 0 && c->input[from - 1] != '\n') {
			from--;
		}
		delete_range(c, from, c->cursor);
	} else if (key == KEYS_CTRL('w')) {
		size_t from = c->cursor;
		while (from > 0 && c->input[from - 1] == ' ') {
			from--;
		}
		while (from > 0 && c->input[from - 1] != ' ' && c->input[from - 1] != '\n') {
			from--;
		}
		delete_range(c, from, c->cursor);
	} else if (key == KEY_LEFT + KEYS_FN_BASE) {
		c->cursor = prev_char(c, c->cursor);
	} else if (key == KEY_RIGHT + KEYS_FN_BASE) {
		if (c->cursor < c->input_len) {
			int cw;
			c->cursor += char_at(c->input + c->cursor, &cw);
		}
	} else if (key == KEY_UP + KEYS_FN_BASE) {
		history_move(c, -1);
	} else if (key == KEY_DOWN + KEYS_FN_BASE) {
		history_move(c, 1);
	} else if (key == KEY_PPAGE + KEYS_FN_BASE) {
		c->scroll += (size_t)page();
	} else if (key == KEY_NPAGE + KEYS_FN_BASE) {
		c->scroll = c->scroll > (size_t)page() ? c->scroll - (size_t)page() : 0;
	} else if (key >= 32 && key != 127 && key < KEYS_FN_BASE) {
		char mb[8];
		mbstate_t st = {0};
		size_t n = wcrtomb(mb, (wchar_t)key, &st);
		if (n != (size_t)-1) {
			insert(c, mb, n);
		}
	}
}

static bool handle(struct view *v, enum action a, int key)
{
	struct chat_view *c = (struct chat_view *)v;
	if (c->typing) {
		if (key >= 0) {
			typing_key(c, key);
		}
		return true;
	}
	switch (a) {
	case ACT_CHAT_INPUT:
		c->typing = true;
		return true;
	case ACT_COPY:
		copy(c, false);
		return true;
	case ACT_COPY_CODE:
		copy(c, true);
		return true;
	case ACT_PROVIDER:
		cycle_provider(c);
		return true;
	case ACT_UP:
		c->scroll++;
		return true;
	case ACT_DOWN:
		c->scroll = c->scroll ? c->scroll - 1 : 0;
		return true;
	case ACT_PAGE_UP:
		c->scroll += (size_t)page();
		return true;
	case ACT_PAGE_DOWN:
		c->scroll = c->scroll > (size_t)page() ? c->scroll - (size_t)page() : 0;
		return true;
	case ACT_TOP:
		c->scroll = (size_t)1 << 30; /* clamped when drawn */
		return true;
	case ACT_BOTTOM:
		c->scroll = 0;
		return true;
	case ACT_REFRESH:
		fetch_ps(c);
		return true;
	default:
		return false;
	}
}

static bool wants_raw(struct view *v)
{
	return ((struct chat_view *)v)->typing;
}

static bool cancel(struct view *v)
{
	struct chat_view *c = (struct chat_view *)v;
	if (c->call) {
		stop(c);
		return true;
	}
	return false;
}

static void title(struct view *v, char *out, size_t size)
{
	struct chat_view *c = (struct chat_view *)v;
	snprintf(out, size, "chat %s %s%s", llm_provider_name(c->provider), model_of(c),
	         c->call ? " · generating…" : "");
}

static void enter(struct view *v)
{
	struct chat_view *c = (struct chat_view *)v;
	c->typing = true;
	fetch_ps(c);
}

static void leave(struct view *v)
{
	struct chat_view *c = (struct chat_view *)v;
	if (c->esc_pending) {
		event_del(c->esc_ev);
		c->esc_pending = false;
	}
	curs_set(0);
}

static void destroy(struct view *v)
{
	struct chat_view *c = (struct chat_view *)v;
	llm_destroy(c->llm); /* cancels the chat and /api/ps without callbacks */
	http_destroy(c->http);
	event_free(c->esc_ev);
	llm_models_free(c->loaded);
	for (size_t i = 0; i < c->n_entries; i++) {
		buf_finish(&c->entries[i].text);
	}
	free(c->entries);
	for (size_t i = 0; i < c->n_msgs; i++) {
		free(c->msgs[i].content);
	}
	free(c->msgs);
	for (size_t i = 0; i < c->n_history; i++) {
		free(c->history[i]);
	}
	free(c->model);
	free(c);
}

static const struct view_ops ops = {
        .name = "chat",
        .scope = SCOPE_CHAT,
        .draw = draw,
        .handle = handle,
        .title = title,
        .enter = enter,
        .leave = leave,
        .cancel = cancel,
        .destroy = destroy,
        .wants_raw = wants_raw,
};

struct view *view_chat_create(struct app *a)
{
	struct chat_view *c = xcalloc(1, sizeof(*c));
	c->base.ops = &ops;
	c->base.app = a;
	c->http = http_create(app_base(a));
	c->llm = llm_create(c->http, app_config(a));
	c->provider = LLM_OLLAMA;
	c->hist_pos = -1;
	c->esc_ev = evtimer_new(app_base(a), on_esc_timer, c);
	return &c->base;
}
