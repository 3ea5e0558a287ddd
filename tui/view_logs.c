/* view_logs.c: a pod's log, following (`follow=true`): a bounded ring of lines (sanitised as they
 * arrive), pause, scroll, and search with n/N. Leaving the view cancels the stream. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "k8s.h"
#include "k8s_logs.h"
#include "palette.h"
#include "text.h"
#include "util.h"

#define LOG_MAX_LINES 5000
#define LOG_TAIL 200

struct logs_view {
	struct view base;
	char *ns, *pod;
	char *container; /* NULL: the pod's only container */
	char *others;    /* the other containers, when the pod has several */
	struct k8s_logs *stream;
	char *lines[LOG_MAX_LINES]; /* ring, sanitised */
	size_t head, count;         /* first line, how many */
	size_t total;               /* lines received in all */
	size_t scroll;              /* lines from the bottom the view is scrolled up */
	bool paused;
	size_t new_while_paused;
	bool ended;
	char state[300];
	bool prompting;
	char search[128], input[128];
	size_t input_len;
	long match; /* index (0..count-1) of the current match, -1 none */
};

static const char *line_at(const struct logs_view *l, size_t i)
{
	return l->lines[(l->head + i) % LOG_MAX_LINES];
}

static void on_line(void *ud, const char *line, size_t len)
{
	struct logs_view *l = ud;
	char *raw = xstrndup(line, len);
	char *safe = text_sanitize(raw, false);
	free(raw);
	if (l->count == LOG_MAX_LINES) {
		free(l->lines[l->head]);
		l->lines[l->head] = safe;
		l->head = (l->head + 1) % LOG_MAX_LINES;
		if (l->match > 0) {
			l->match--;
		}
	} else {
		l->lines[(l->head + l->count) % LOG_MAX_LINES] = safe;
		l->count++;
	}
	l->total++;
	if (l->paused || l->scroll > 0) {
		/* Hold the same lines on screen: the new one lands below what is shown. */
		l->new_while_paused++;
		if (l->scroll < l->count) {
			l->scroll++;
		}
	}
	app_dirty(l->base.app);
}

static void start(struct logs_view *l);

/* "a container name must be specified for pod X, choose one of: [a b]" → follow "a". */
static bool pick_container(struct logs_view *l, const char *msg)
{
	const char *list = strstr(msg, "choose one of: [");
	if (!list || l->container) {
		return false;
	}
	list += strlen("choose one of: [");
	const char *end = strchr(list, ']');
	if (!end) {
		return false;
	}
	size_t first = strcspn(list, " ]");
	l->container = xstrndup(list, first);
	const char *rest = list + first;
	while (*rest == ' ') {
		rest++;
	}
	l->others = rest < end ? xstrndup(rest, (size_t)(end - rest)) : NULL;
	return true;
}

static void on_done(void *ud, const struct err *err)
{
	struct logs_view *l = ud;
	l->stream = NULL;
	if (err && pick_container(l, err->msg)) {
		start(l);
		return;
	}
	l->ended = true;
	if (err) {
		snprintf(l->state, sizeof(l->state), "log stream ended: %s", err->msg);
	} else {
		snprintf(l->state, sizeof(l->state), "log stream ended (the container stopped?)");
	}
	app_dirty(l->base.app);
}

static void start(struct logs_view *l)
{
	struct k8s *k = app_k8s(l->base.app);
	if (!k) {
		snprintf(l->state, sizeof(l->state), "Kubernetes is not configured");
		l->ended = true;
		return;
	}
	l->ended = false;
	snprintf(l->state, sizeof(l->state), "following");
	if (l->container) {
		snprintf(l->state, sizeof(l->state), "following container %s%s%s%s", l->container,
		         l->others ? " (also: " : "", l->others ? l->others : "",
		         l->others ? ")" : "");
	}
	l->stream = k8s_follow_logs(k, l->ns, l->pod, l->container, LOG_TAIL, true, on_line,
	                            on_done, l);
}

/* Whether s holds word as a word of its own (case-insensitive): "ERROR:" yes, "NOERROR" no. */
static bool has_word(const char *s, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = strcasestr(s, word); p; p = strcasestr(p + 1, word)) {
		bool left = p == s || !isalpha((unsigned char)p[-1]);
		bool right = !isalpha((unsigned char)p[n]);
		if (left && right) {
			return true;
		}
	}
	return false;
}

static enum theme_slot line_slot(const char *s)
{
	static const char *const bad[] = {"error",     "err",       "panic",   "fatal",
	                                  "traceback", "exception", "critical"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (has_word(s, bad[i])) {
			return SLOT_LOG_ERROR;
		}
	}
	return has_word(s, "warn") || has_word(s, "warning") ? SLOT_LOG_WARN : SLOT_NORMAL;
}

static void draw(struct view *v, WINDOW *w, int y, int h, int cols)
{
	struct logs_view *l = (struct logs_view *)v;
	int body = h - 1;
	if (l->scroll > l->count) {
		l->scroll = l->count;
	}
	size_t end = l->count - l->scroll; /* one past the last line shown */
	size_t first = end > (size_t)body ? end - (size_t)body : 0;
	for (int i = 0; i < body; i++) {
		size_t idx = first + (size_t)i;
		if (idx >= end) {
			break;
		}
		const char *s = line_at(l, idx);
		enum theme_slot slot = (long)idx == l->match ? SLOT_MATCH : line_slot(s);
		wattrset(w, palette_attr(slot));
		char *shown = NULL;
		if ((long)idx == l->match && l->search[0]) {
			/* A match past the right edge is brought into view: "…" and the text from a
			 * little before it. */
			const char *hit = strcasestr(s, l->search);
			char *before = hit ? xstrndup(s, (size_t)(hit - s)) : NULL;
			if (before && text_width(before) + text_width(l->search) > cols - 1) {
				const char *from = hit;
				for (int back = 0; back < 12 && from > s; back++) {
					do {
						from--;
					} while (from > s && (*from & 0xC0) == 0x80);
				}
				shown = xasprintf("…%s", from);
			}
			free(before);
		}
		char *fit = text_fit(shown ? shown : s, cols, false);
		mvwaddstr(w, y + i, 0, fit);
		free(fit);
		free(shown);
	}
	/* The view's own status row. */
	char status[400];
	if (l->prompting) {
		snprintf(status, sizeof(status), "search: %s", l->input);
	} else {
		snprintf(status, sizeof(status), "%s/%s  %s%s  %zu lines%s%s%s", l->ns, l->pod,
		         l->paused ? "PAUSED (p resumes) " : "", l->state, l->total,
		         l->new_while_paused && (l->paused || l->scroll) ? ", new below" : "",
		         l->search[0] ? "  search: " : "", l->search);
	}
	char *safe = text_sanitize(status, false);
	char *fit = text_fit(safe, cols, false);
	wattrset(w, palette_attr(l->ended ? SLOT_STATUS_WARN : SLOT_HEADER));
	mvwaddstr(w, y + body, 0, fit);
	free(fit);
	free(safe);
	if (l->prompting) {
		curs_set(1);
		wmove(w, y + body, 8 + text_width(l->input));
	}
	wattrset(w, palette_attr(SLOT_NORMAL));
}

/* Finds the next line (from the current match, in direction dir) containing the search text. */
static void find(struct logs_view *l, int dir)
{
	if (!l->search[0] || l->count == 0) {
		return;
	}
	long start = l->match >= 0 ? l->match : (dir > 0 ? -1 : (long)l->count);
	for (long i = start + dir; i >= 0 && i < (long)l->count; i += dir) {
		if (strcasestr(line_at(l, (size_t)i), l->search)) {
			l->match = i;
			/* Bring it into view: scroll so it sits a few lines above the bottom. */
			size_t from_bottom = l->count - (size_t)i;
			l->scroll = from_bottom > 3 ? from_bottom - 3 : 0;
			l->paused = true;
			return;
		}
	}
	app_message(l->base.app, false, "no more matches for '%s'", l->search);
}

static bool handle(struct view *v, enum action a, int key)
{
	struct logs_view *l = (struct logs_view *)v;
	if (l->prompting) {
		if (key == 27) {
			l->prompting = false;
		} else if (key == '\n' || key == '\r' || key == KEY_ENTER + KEYS_FN_BASE) {
			l->prompting = false;
			snprintf(l->search, sizeof(l->search), "%s", l->input);
			l->match = -1;
			find(l, -1); /* the newest match first, as less's ? would */
		} else if (key == 127 || key == 8 || key == KEY_BACKSPACE + KEYS_FN_BASE) {
			if (l->input_len) {
				do {
					l->input_len--;
				} while (l->input_len && (l->input[l->input_len] & 0xC0) == 0x80);
				l->input[l->input_len] = '\0';
			}
		} else if (key >= 32 && key < KEYS_FN_BASE) {
			char mb[8];
			mbstate_t st = {0};
			size_t n = wcrtomb(mb, (wchar_t)key, &st);
			if (n != (size_t)-1 && l->input_len + n < sizeof(l->input)) {
				memcpy(l->input + l->input_len, mb, n);
				l->input_len += n;
				l->input[l->input_len] = '\0';
			}
		}
		if (!l->prompting) {
			curs_set(0);
		}
		return true;
	}
	int page = LINES - 6 > 1 ? LINES - 6 : 1;
	switch (a) {
	case ACT_PAUSE:
		l->paused = !l->paused;
		if (!l->paused) {
			l->scroll = 0;
			l->new_while_paused = 0;
		}
		return true;
	case ACT_UP:
		l->scroll = l->scroll + 1 < l->count ? l->scroll + 1 : l->scroll;
		return true;
	case ACT_DOWN:
		l->scroll = l->scroll ? l->scroll - 1 : 0;
		return true;
	case ACT_PAGE_UP:
		l->scroll =
		        l->scroll + (size_t)page < l->count ? l->scroll + (size_t)page : l->count;
		return true;
	case ACT_PAGE_DOWN:
		l->scroll = l->scroll > (size_t)page ? l->scroll - (size_t)page : 0;
		return true;
	case ACT_TOP:
		l->scroll = l->count;
		return true;
	case ACT_BOTTOM:
		l->scroll = 0;
		l->paused = false;
		l->new_while_paused = 0;
		return true;
	case ACT_SEARCH:
		l->prompting = true;
		l->input[0] = '\0';
		l->input_len = 0;
		return true;
	case ACT_NEXT_MATCH:
		find(l, 1);
		return true;
	case ACT_PREV_MATCH:
		find(l, -1);
		return true;
	case ACT_REFRESH:
		if (l->ended) {
			start(l);
		}
		return true;
	default:
		return false;
	}
}

static bool wants_raw(struct view *v)
{
	return ((struct logs_view *)v)->prompting;
}

static bool cancel(struct view *v)
{
	struct logs_view *l = (struct logs_view *)v;
	if (l->search[0]) {
		l->search[0] = '\0';
		l->match = -1;
		return true;
	}
	return false; /* Esc then leaves the view, which stops the stream */
}

static void title(struct view *v, char *out, size_t size)
{
	struct logs_view *l = (struct logs_view *)v;
	snprintf(out, size, "logs %s/%s", l->ns, l->pod);
}

static void destroy(struct view *v)
{
	struct logs_view *l = (struct logs_view *)v;
	k8s_logs_cancel(l->stream);
	for (size_t i = 0; i < l->count; i++) {
		free(l->lines[(l->head + i) % LOG_MAX_LINES]);
	}
	free(l->ns);
	free(l->pod);
	free(l->container);
	free(l->others);
	free(l);
	curs_set(0);
}

static const struct view_ops ops = {
        .name = "logs",
        .scope = SCOPE_LOGS,
        .draw = draw,
        .handle = handle,
        .title = title,
        .cancel = cancel,
        .destroy = destroy,
        .wants_raw = wants_raw,
};

struct view *view_logs_create(struct app *a, const char *ns, const char *pod)
{
	struct logs_view *l = xcalloc(1, sizeof(*l));
	l->base.ops = &ops;
	l->base.app = a;
	l->ns = xstrdup(ns ? ns : "default");
	l->pod = xstrdup(pod ? pod : "");
	l->match = -1;
	start(l);
	return &l->base;
}
