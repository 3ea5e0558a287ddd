/* theme.h: colour themes (SPEC.md §5): the slot table, the .theme file parser, the theme
 * search path and the pure colour arithmetic (nearest xterm-256 / 16 / 8 colour) that
 * tui/palette.c uses to set up ncurses. Nothing here touches the terminal. */
#ifndef LABDECK_THEME_H
#define LABDECK_THEME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* A colour: THEME_COLOR_DEFAULT (the terminal's own), 0–255 (an xterm palette index), or
 * THEME_RGB(0xrrggbb) (a 24-bit colour, mapped to the nearest the terminal has). */
#define THEME_COLOR_DEFAULT (-1)
#define THEME_COLOR_RGB_FLAG 0x1000000
#define THEME_RGB(rrggbb) ((int32_t)(THEME_COLOR_RGB_FLAG | ((rrggbb)&0xffffff)))
#define THEME_IS_RGB(c) ((c) >= 0 && ((c)&THEME_COLOR_RGB_FLAG) != 0)

/* The basic colours by their palette index, for the slot table. */
#define THEME_BLACK 0
#define THEME_RED 1
#define THEME_GREEN 2
#define THEME_YELLOW 3
#define THEME_BLUE 4
#define THEME_MAGENTA 5
#define THEME_CYAN 6
#define THEME_WHITE 7
#define THEME_D THEME_COLOR_DEFAULT

/* Attributes, a bit set. */
#define THEME_ATTRS(X)                                                                             \
	X(THEME_BOLD, "bold", 1u << 0)                                                             \
	X(THEME_DIM, "dim", 1u << 1)                                                               \
	X(THEME_UNDERLINE, "underline", 1u << 2)                                                   \
	X(THEME_REVERSE, "reverse", 1u << 3)                                                       \
	X(THEME_ITALIC, "italic", 1u << 4)                                                         \
	X(THEME_BLINK, "blink", 1u << 5)

enum theme_attr {
#define X(e, name, bit) e = bit,
	THEME_ATTRS(X)
#undef X
};

/* The slots views draw with (never raw colours). X(enum, name in the file, description,
 * built-in fg, bg, attrs). The built-in values are used for a slot a theme does not set, and
 * their attributes are also what a slot falls back to without colour (see theme_resolve), so
 * they must be readable in 8 colours and in none. The status_* slots are drawn on the status
 * line and should share its background. */
#define THEME_SLOTS(X)                                                                             \
	X(SLOT_NORMAL, "normal", "ordinary text", THEME_D, THEME_D, 0)                             \
	X(SLOT_HEADER, "header", "the table header row", THEME_D, THEME_D,                         \
	  THEME_BOLD | THEME_UNDERLINE)                                                            \
	X(SLOT_SELECTED, "selected", "the cursor row", THEME_D, THEME_D,                           \
	  THEME_REVERSE | THEME_BOLD)                                                              \
	X(SLOT_SELECTED_INACTIVE, "selected_inactive", "the cursor row of a pane without focus",   \
	  THEME_D, THEME_D, THEME_REVERSE)                                                         \
	X(SLOT_TITLE, "title", "the top bar: view, context, time", THEME_D, THEME_D,               \
	  THEME_REVERSE | THEME_BOLD)                                                              \
	X(SLOT_STATUS_OK, "status_ok", "status line: a backend that answers", THEME_GREEN,         \
	  THEME_D, THEME_REVERSE)                                                                  \
	X(SLOT_STATUS_WARN, "status_warn", "status line: a backend with a warning", THEME_YELLOW,  \
	  THEME_D, THEME_REVERSE | THEME_BOLD)                                                     \
	X(SLOT_STATUS_FAIL, "status_fail", "status line: a failing backend", THEME_RED, THEME_D,   \
	  THEME_REVERSE | THEME_BOLD)                                                              \
	X(SLOT_STATUS_STALE, "status_stale", "status line: a backend showing old data", THEME_D,   \
	  THEME_D, THEME_REVERSE | THEME_UNDERLINE)                                                \
	X(SLOT_STATUSLINE, "statusline", "the status line's background", THEME_D, THEME_D,         \
	  THEME_REVERSE)                                                                           \
	X(SLOT_DIM, "dim", "stopped guests, secondary text", THEME_D, THEME_D, THEME_DIM)          \
	X(SLOT_ACCENT, "accent", "keys in hints, the iGPU marker", THEME_CYAN, THEME_D,            \
	  THEME_BOLD)                                                                              \
	X(SLOT_GAUGE_LOW, "gauge_low", "bars and sparklines, low use", THEME_GREEN, THEME_D, 0)    \
	X(SLOT_GAUGE_MID, "gauge_mid", "bars and sparklines, middle use", THEME_YELLOW, THEME_D,   \
	  0)                                                                                       \
	X(SLOT_GAUGE_HIGH, "gauge_high", "bars and sparklines, high use", THEME_RED, THEME_D,      \
	  THEME_BOLD)                                                                              \
	X(SLOT_BORDER, "border", "lines between panes", THEME_D, THEME_D, THEME_DIM)               \
	X(SLOT_ERROR, "error", "error messages", THEME_RED, THEME_D, THEME_BOLD)                   \
	X(SLOT_PROMPT, "prompt", "the : and / line", THEME_D, THEME_D, THEME_BOLD)                 \
	X(SLOT_MATCH, "match", "text matching the filter", THEME_YELLOW, THEME_D,                  \
	  THEME_BOLD | THEME_UNDERLINE)                                                            \
	X(SLOT_LOG_TIME, "log_time", "log view: timestamps", THEME_D, THEME_D, THEME_DIM)          \
	X(SLOT_LOG_WARN, "log_warn", "log view: warning lines", THEME_YELLOW, THEME_D, 0)          \
	X(SLOT_LOG_ERROR, "log_error", "log view: error lines", THEME_RED, THEME_D, THEME_BOLD)    \
	X(SLOT_HELP_KEY, "help_key", "help: the keys", THEME_CYAN, THEME_D, THEME_BOLD)            \
	X(SLOT_HELP_TEXT, "help_text", "help: what they do", THEME_D, THEME_D, 0)

enum theme_slot {
#define X(e, name, desc, fg, bg, attrs) e,
	THEME_SLOTS(X)
#undef X
	        THEME_SLOT_COUNT
};

/* How one slot looks: fg and bg are colours as above, attrs a set of enum theme_attr. */
struct theme_style {
	int32_t fg;
	int32_t bg;
	unsigned attrs;
};

/* A loaded theme. Always usable once initialised: unset slots hold the built-in values. */
struct theme {
	char *name;        /* the file stem ("high-contrast"): what `:theme` and `t` go by */
	char *title;       /* [theme] name, else the stem */
	char *description; /* [theme] description, else "" */
	char *path;        /* the file read; NULL for the built-in theme */
	struct theme_style style[THEME_SLOT_COUNT];
	bool set[THEME_SLOT_COUNT]; /* the file gave this slot */
	/* Findings that did not stop loading, each "FILE:LINE: problem". */
	char **warnings;
	size_t n_warnings;
};

/* ---- slots --------------------------------------------------------------------------------- */

/* theme_slot_name gives the slot's name in theme files ("status_ok"); "" if out of range. */
const char *theme_slot_name(enum theme_slot slot);
/* theme_slot_description gives the help text of a slot; "" if out of range. */
const char *theme_slot_description(enum theme_slot slot);
/* theme_slot_default gives a slot's built-in style. */
struct theme_style theme_slot_default(enum theme_slot slot);
/* theme_slot_from_name finds a slot by its file name (case-insensitive). */
bool theme_slot_from_name(const char *name, enum theme_slot *out);

/* ---- colours ------------------------------------------------------------------------------- */

/* theme_color_parse reads one colour word: "default", a name (black red green yellow blue
 * magenta cyan white, each also as bright-NAME), a number 0–255 or "#rrggbb"; case-insensitive.
 * False (out untouched) for anything else. */
bool theme_color_parse(const char *word, int32_t *out);
/* theme_attr_parse reads one attribute word (bold dim underline reverse italic blink). */
bool theme_attr_parse(const char *word, unsigned *out);
/* theme_color_rgb gives the 0xrrggbb an xterm shows for a palette index or RGB colour (the
 * xterm defaults for 0–15); -1 for THEME_COLOR_DEFAULT. */
int32_t theme_color_rgb(int32_t color);
/* theme_color_to_256 maps a colour to a palette index 0–255: indexes are kept, RGB goes to the
 * nearest colour of the 6x6x6 cube or the grey ramp (16–255; never the terminal-defined 0–15).
 * THEME_COLOR_DEFAULT stays -1. */
int theme_color_to_256(int32_t color);
/* theme_color_to_16 maps a colour to one of the 16 basic colours (0–15 are kept): a colourful
 * one to its hue's basic colour (red yellow green cyan blue magenta), plain or bright, whichever is
 * nearer; a grey, pastel or near-black one to black, bright-black, white or bright-white by its
 * lightness. THEME_COLOR_DEFAULT stays -1. */
int theme_color_to_16(int32_t color);
/* theme_color_to_8 maps a colour to one of the 8 basic colours. bright-NAME (8–15) becomes NAME
 * with *bright set (drawn bold); a colourful colour goes to its hue's basic colour, a grey, pastel
 * or near-black one to black or white by its lightness. THEME_COLOR_DEFAULT stays -1. bright may
 * be NULL. */
int theme_color_to_8(int32_t color, bool *bright);
/* theme_contrast gives the WCAG contrast ratio (1–21) of two colours (palette indexes or RGB, not
 * THEME_COLOR_DEFAULT), as xterm shows them. */
double theme_contrast(int32_t a, int32_t b);

/* ---- the terminal's colour depth and what a slot becomes there ----------------------------- */

enum theme_depth {
	THEME_DEPTH_NONE, /* attributes only */
	THEME_DEPTH_8,
	THEME_DEPTH_16,
	THEME_DEPTH_256,
};

/* theme_depth_pick decides the colour depth: none when no_color (the NO_COLOR variable's value,
 * or NULL) is non-empty or the terminal has no colours, else 256, 16 or 8 by the number of
 * colours it reports. */
enum theme_depth theme_depth_pick(const char *no_color, bool has_colors, int colors);

/* What a slot becomes on a terminal of some depth: fg and bg are palette indexes valid at that
 * depth (-1: the terminal's default), attrs a set of enum theme_attr. */
struct theme_cell {
	int fg;
	int bg;
	unsigned attrs;
};

/* theme_resolve maps a slot of t to depth d. Colours go to the nearest the depth has (in 8
 * colours bright-NAME adds bold and a mid grey that became black or white adds dim); text never
 * takes its background's colour, and in 8 or 16 colours a pair under 3:1 contrast gets black or
 * white text. Without colour a slot keeps its attributes and gains reverse if its background
 * differs from the normal slot's (bars, the cursor row). Whenever the theme made a slot differ
 * from normal text but the result would not, the slot adds its built-in attributes. */
struct theme_cell theme_resolve(const struct theme *t, enum theme_slot slot, enum theme_depth d);

/* ---- loading ------------------------------------------------------------------------------- */

/* theme_init_builtin fills t with the built-in theme (name "builtin", every slot at its
 * built-in value). */
void theme_init_builtin(struct theme *t);

/* theme_parse fills t from the text of a .theme file (len bytes) named file in warnings;
 * name becomes t->name. Unknown sections, keys and slots, bad colours or attributes and syntax
 * errors are collected in t->warnings ("FILE:LINE: ..."), never fatal; slots not given keep the
 * built-in values. t must not be initialised before; release it with theme_finish. */
void theme_parse(struct theme *t, const char *file, const char *name, const char *text, size_t len);

/* theme_find resolves a theme name or path to the file to read: a value containing '/' is a
 * path (a leading ~/ is the home directory); a bare name (".theme" optional) is looked up as
 * NAME.theme in $LABDECK_THEMES, then $XDG_DATA_HOME/labdeck/themes (default
 * ~/.local/share/labdeck/themes), then the source tree's themes/. Returns a new string, or NULL
 * with err filled (ERR_NOT_FOUND naming the places searched and the themes there). */
char *theme_find(const char *name_or_path, struct err *err);

/* theme_load finds (theme_find) and parses a theme. On failure (not found, unreadable, too big)
 * it returns false with err filled and t zeroed (nothing to free); the caller may then fall
 * back to theme_init_builtin. On success release t with theme_finish. */
bool theme_load(struct theme *t, const char *name_or_path, struct err *err);

/* theme_finish frees what t holds and zeroes it; safe on a zeroed struct and on NULL. */
void theme_finish(struct theme *t);

/* ---- the themes available ------------------------------------------------------------------ */

/* Theme names, as from theme_list. */
struct theme_names {
	char **items;
	size_t len;
};

/* theme_list fills out with the names of the themes in the search directories (the stems of
 * their regular *.theme files), each once, sorted, "default" first. */
void theme_list(struct theme_names *out);
/* theme_names_next gives the name after current, wrapping around (for `t`); the first name when
 * current is not in the list; NULL when the list is empty. */
const char *theme_names_next(const struct theme_names *names, const char *current);
/* theme_names_finish frees the list and zeroes it; safe on a zeroed struct and on NULL. */
void theme_names_finish(struct theme_names *names);

#endif
