/* palette.c: see palette.h. The colour arithmetic (which colour, which attributes, at which
 * depth) is theme_resolve's in backends/theme.c; here it only meets ncurses. */
#include "palette.h"

#include <stdlib.h>

static attr_t slot_attr[THEME_SLOT_COUNT];
static const char *mode_name = "no colour (terminal)";
static bool colors_started;
static bool default_colors; /* use_default_colors() worked: -1 is the terminal's own */

static attr_t curses_attrs(unsigned a)
{
	attr_t r = A_NORMAL;
	if (a & THEME_BOLD) {
		r |= A_BOLD;
	}
	if (a & THEME_DIM) {
		r |= A_DIM;
	}
	if (a & THEME_UNDERLINE) {
		r |= A_UNDERLINE;
	}
	if (a & THEME_REVERSE) {
		r |= A_REVERSE;
	}
	if (a & THEME_BLINK) {
		r |= A_BLINK;
	}
#ifdef A_ITALIC
	if (a & THEME_ITALIC) {
		r |= A_ITALIC;
	}
#endif
	return r;
}

static const char *depth_name(enum theme_depth d, bool no_color_env)
{
	switch (d) {
	case THEME_DEPTH_256:
		return "256 colours";
	case THEME_DEPTH_16:
		return "16 colours";
	case THEME_DEPTH_8:
		return "8 colours";
	case THEME_DEPTH_NONE:
		break;
	}
	return no_color_env ? "no colour (NO_COLOR)" : "no colour (terminal)";
}

void palette_apply(const struct theme *t)
{
	const char *no_color = getenv("NO_COLOR");
	bool no_color_env = no_color && *no_color;
	bool has = !no_color_env && has_colors();
	if (has && !colors_started) {
		colors_started = start_color() == OK;
		if (colors_started) {
			default_colors = use_default_colors() == OK;
		}
	}
	enum theme_depth d =
	        theme_depth_pick(no_color, has && colors_started, colors_started ? COLORS : 0);
	mode_name = depth_name(d, no_color_env);
	for (int i = 0; i < THEME_SLOT_COUNT; i++) {
		struct theme_cell c = theme_resolve(t, (enum theme_slot)i, d);
		attr_t a = curses_attrs(c.attrs);
		short pair = (short)(i + 1);
		if (d != THEME_DEPTH_NONE && pair < COLOR_PAIRS) {
			int fg = c.fg, bg = c.bg;
			if (!default_colors) {
				fg = fg < 0 ? COLOR_WHITE : fg;
				bg = bg < 0 ? COLOR_BLACK : bg;
			}
			if (init_pair(pair, (short)fg, (short)bg) == OK) {
				a |= COLOR_PAIR(pair);
			}
		}
		slot_attr[i] = a;
	}
}

attr_t palette_attr(enum theme_slot slot)
{
	return (unsigned)slot < THEME_SLOT_COUNT ? slot_attr[slot] : A_NORMAL;
}

const char *palette_mode_name(void)
{
	return mode_name;
}
