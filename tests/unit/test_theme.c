/* test_theme.c: theme files as users write them (and get them wrong), the search path, and the
 * colour arithmetic that decides what a terminal of 256, 16, 8 or no colours shows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"
#include "theme.h"
#include "util.h"

static char *tmp_root; /* a fresh directory: $HOME, and $XDG_DATA_HOME below it */
static char *xdg_themes;
static char *fixture_dir; /* $FIXTURES/themes/dir, the $LABDECK_THEMES of these tests */

static const char *const shipped[] = {"default", "mono", "high-contrast", "light"};
#define N_SHIPPED (sizeof(shipped) / sizeof(shipped[0]))
static const enum theme_depth depths[] = {THEME_DEPTH_NONE, THEME_DEPTH_8, THEME_DEPTH_16,
                                          THEME_DEPTH_256};
#define N_DEPTHS (sizeof(depths) / sizeof(depths[0]))

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int group_setup(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/labdeck-theme-XXXXXX";
	if (!mkdtemp(tmpl)) {
		return -1;
	}
	tmp_root = xstrdup(tmpl);
	char *data = xasprintf("%s/data", tmp_root);
	char *labdeck = xasprintf("%s/data/labdeck", tmp_root);
	xdg_themes = xasprintf("%s/data/labdeck/themes", tmp_root);
	if (mkdir(data, 0700) != 0 || mkdir(labdeck, 0700) != 0 || mkdir(xdg_themes, 0700) != 0) {
		return -1;
	}
	setenv("HOME", tmp_root, 1);
	setenv("XDG_DATA_HOME", data, 1);
	fixture_dir = support_fixture_path("themes", "dir");
	setenv("LABDECK_THEMES", fixture_dir, 1);
	free(data);
	free(labdeck);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", tmp_root);
	int rc = system(cmd);
	free(cmd);
	free(tmp_root);
	free(xdg_themes);
	free(fixture_dir);
	return rc == 0 ? 0 : -1;
}

static struct theme parse(const char *text)
{
	struct theme t;
	theme_parse(&t, "t.theme", "t", text, strlen(text));
	return t;
}

static bool cell_eq(struct theme_cell a, struct theme_cell b)
{
	return a.fg == b.fg && a.bg == b.bg && a.attrs == b.attrs;
}

/* ---- the slot table ------------------------------------------------------------------------ */

static void test_slot_table(void **state)
{
	(void)state;
	for (int i = 0; i < THEME_SLOT_COUNT; i++) {
		const char *name = theme_slot_name((enum theme_slot)i);
		assert_true(strlen(name) > 0);
		assert_true(strlen(theme_slot_description((enum theme_slot)i)) > 0);
		for (const char *c = name; *c; c++) {
			assert_true((*c >= 'a' && *c <= 'z') || *c == '_');
		}
		for (int j = 0; j < i; j++) {
			assert_string_not_equal(name, theme_slot_name((enum theme_slot)j));
		}
		enum theme_slot back;
		assert_true(theme_slot_from_name(name, &back));
		assert_int_equal(back, i);
	}
	enum theme_slot s = SLOT_NORMAL;
	assert_true(theme_slot_from_name("Status_OK", &s));
	assert_int_equal(s, SLOT_STATUS_OK);
	assert_false(theme_slot_from_name("selcted", &s));
	assert_false(theme_slot_from_name("", &s));
	assert_string_equal(theme_slot_name(SLOT_SELECTED_INACTIVE), "selected_inactive");
	assert_string_equal(theme_slot_name(THEME_SLOT_COUNT), "");
	/* the built-in cursor row stands out without any colour */
	assert_true(theme_slot_default(SLOT_SELECTED).attrs & THEME_REVERSE);
}

/* ---- colours ------------------------------------------------------------------------------- */

static void test_color_parse(void **state)
{
	(void)state;
	static const struct {
		const char *word;
		int32_t want;
	} good[] = {
	        {"default", THEME_COLOR_DEFAULT},
	        {"DEFAULT", THEME_COLOR_DEFAULT},
	        {"black", 0},
	        {"red", 1},
	        {"Yellow", 3},
	        {"white", 7},
	        {"bright-black", 8},
	        {"bright-red", 9},
	        {"bright_cyan", 14},
	        {"BRIGHT-WHITE", 15},
	        {"0", 0},
	        {"16", 16},
	        {"007", 7},
	        {"255", 255},
	        {"#000000", THEME_RGB(0x000000)},
	        {"#5f87af", THEME_RGB(0x5f87af)},
	        {"#FFD700", THEME_RGB(0xffd700)},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int32_t c = 12345;
		assert_true(theme_color_parse(good[i].word, &c));
		assert_int_equal(c, good[i].want);
	}
	assert_true(THEME_IS_RGB(THEME_RGB(0)));
	assert_false(THEME_IS_RGB(0));
	assert_false(THEME_IS_RGB(THEME_COLOR_DEFAULT));

	static const char *const bad[] = {"",         "256",     "1000",      "-1",
	                                  "+5",       "0x10",    "1a",        "#12345",
	                                  "#1234567", "#gg0000", "#",         "purple",
	                                  "grey",     "bright-", "brightred", "bright-bright-red",
	                                  "red;",     "defaults"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int32_t c = 12345;
		assert_false(theme_color_parse(bad[i], &c));
		assert_int_equal(c, 12345);
	}
}

static void test_attr_parse(void **state)
{
	(void)state;
	unsigned a = 0;
	assert_true(theme_attr_parse("bold", &a));
	assert_int_equal(a, THEME_BOLD);
	assert_true(theme_attr_parse("Reverse", &a));
	assert_int_equal(a, THEME_REVERSE);
	assert_true(theme_attr_parse("italic", &a));
	assert_int_equal(a, THEME_ITALIC);
	assert_true(theme_attr_parse("dim", &a));
	assert_true(theme_attr_parse("underline", &a));
	assert_true(theme_attr_parse("blink", &a));
	assert_false(theme_attr_parse("bolt", &a));
	assert_false(theme_attr_parse("", &a));
}

static void test_color_rgb(void **state)
{
	(void)state;
	assert_int_equal(theme_color_rgb(THEME_COLOR_DEFAULT), -1);
	assert_int_equal(theme_color_rgb(0), 0x000000);
	assert_int_equal(theme_color_rgb(1), 0xcd0000);
	assert_int_equal(theme_color_rgb(9), 0xff0000);
	assert_int_equal(theme_color_rgb(16), 0x000000);
	assert_int_equal(theme_color_rgb(21), 0x0000ff);
	assert_int_equal(theme_color_rgb(67), 0x5f87af);
	assert_int_equal(theme_color_rgb(196), 0xff0000);
	assert_int_equal(theme_color_rgb(231), 0xffffff);
	assert_int_equal(theme_color_rgb(232), 0x080808);
	assert_int_equal(theme_color_rgb(244), 0x808080);
	assert_int_equal(theme_color_rgb(255), 0xeeeeee);
	assert_int_equal(theme_color_rgb(THEME_RGB(0x123456)), 0x123456);
}

static void test_nearest_256(void **state)
{
	(void)state;
	/* every colour of the cube and the ramp maps back to itself */
	for (int i = 16; i < 256; i++) {
		assert_int_equal(theme_color_to_256(THEME_RGB(theme_color_rgb(i))), i);
	}
	assert_int_equal(theme_color_to_256(THEME_RGB(0x5f87b0)), 67);
	assert_int_equal(theme_color_to_256(THEME_RGB(0x000000)),
	                 16); /* not 0: terminals redefine it */
	assert_int_equal(theme_color_to_256(THEME_RGB(0xffffff)), 231);
	assert_int_equal(theme_color_to_256(THEME_RGB(0xfe0101)), 196);
	assert_int_equal(theme_color_to_256(THEME_RGB(0x7f7f7f)),
	                 244); /* grey ramp, not the cube */
	assert_int_equal(theme_color_to_256(THEME_RGB(0x121212)), 233);
	assert_int_equal(theme_color_to_256(THEME_RGB(0xfdf6e3)), 230); /* solarized base3 */
	assert_int_equal(theme_color_to_256(THEME_RGB(0x268bd2)), 32);  /* solarized blue */
	/* palette indexes and default are kept */
	assert_int_equal(theme_color_to_256(7), 7);
	assert_int_equal(theme_color_to_256(200), 200);
	assert_int_equal(theme_color_to_256(THEME_COLOR_DEFAULT), -1);
}

static void test_nearest_8(void **state)
{
	(void)state;
	bool bright = true;
	for (int i = 0; i < 8; i++) {
		assert_int_equal(theme_color_to_8(i, &bright), i);
		assert_false(bright);
		/* xterm's own values of the eight map to themselves */
		assert_int_equal(theme_color_to_8(THEME_RGB(theme_color_rgb(i)), &bright), i);
	}
	assert_int_equal(theme_color_to_8(9, &bright), 1); /* bright-red: red, drawn bold */
	assert_true(bright);
	assert_int_equal(theme_color_to_8(8, &bright), 0);
	assert_true(bright);
	assert_int_equal(theme_color_to_8(15, NULL), 7);
	assert_int_equal(theme_color_to_8(THEME_COLOR_DEFAULT, &bright), -1);
	assert_false(bright);

	static const struct {
		int32_t color;
		int want;
	} cases[] = {
	        {THEME_RGB(0x5faf5f),
	         2}, /* a soft green stays green (the nearest would be white) */
	        {THEME_RGB(0xff8700), 3}, /* orange: yellow */
	        {THEME_RGB(0xd75f00), 1}, /* dark orange: red */
	        {THEME_RGB(0x005f87), 6}, /* teal: cyan */
	        {THEME_RGB(0x005fd7), 4},
	        {THEME_RGB(0xaf005f), 5},
	        {THEME_RGB(0x00005f), 4}, /* dark but clearly blue */
	        {THEME_RGB(0x200000), 0}, /* too dark to be red */
	        {THEME_RGB(0x808080), 7}, /* greys by lightness */
	        {THEME_RGB(0x6c6c6c), 0},
	        {THEME_RGB(0x303030), 0},
	        {THEME_RGB(0xd0d0d0), 7},
	        {THEME_RGB(0x87afd7), 7}, /* pastel blue: white, not a dark blue */
	        {196, 1},
	        {226, 3},
	        {46, 2},
	        {21, 4},
	        {51, 6},
	        {201, 5},
	        {16, 0},
	        {231, 7},
	        {245, 7},
	        {242, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(theme_color_to_8(cases[i].color, &bright), cases[i].want);
		assert_false(bright);
	}
}

static void test_nearest_16(void **state)
{
	(void)state;
	for (int i = 0; i < 16; i++) {
		assert_int_equal(theme_color_to_16(i), i);
	}
	assert_int_equal(theme_color_to_16(THEME_COLOR_DEFAULT), -1);
	assert_int_equal(theme_color_to_16(THEME_RGB(0xff5f5f)), 9);
	assert_int_equal(theme_color_to_16(THEME_RGB(0xd70000)), 1);
	assert_int_equal(theme_color_to_16(THEME_RGB(0x00ff00)), 10);
	assert_int_equal(theme_color_to_16(THEME_RGB(0x5fd7ff)), 14);
	assert_int_equal(theme_color_to_16(THEME_RGB(0x808080)), 8);
	assert_int_equal(theme_color_to_16(THEME_RGB(0x303030)), 0);
	assert_int_equal(theme_color_to_16(THEME_RGB(0xd0d0d0)), 7);
	assert_int_equal(theme_color_to_16(THEME_RGB(0xffffff)), 15);
	assert_int_equal(theme_color_to_16(226), 11);
	assert_int_equal(theme_color_to_16(160), 1);
}

static void test_contrast(void **state)
{
	(void)state;
	assert_float_equal(theme_contrast(16, 231), 21.0, 0.01);
	assert_float_equal(theme_contrast(231, 16), 21.0, 0.01);
	assert_float_equal(theme_contrast(1, 1), 1.0, 0.001);
	assert_true(theme_contrast(7, 6) < 3.0); /* white on cyan: unreadable */
}

static void test_depth_pick(void **state)
{
	(void)state;
	assert_int_equal(theme_depth_pick(NULL, true, 256), THEME_DEPTH_256);
	assert_int_equal(theme_depth_pick(NULL, true, 16777216), THEME_DEPTH_256);
	assert_int_equal(theme_depth_pick("", true, 256), THEME_DEPTH_256); /* empty: not set */
	assert_int_equal(theme_depth_pick("1", true, 256), THEME_DEPTH_NONE);
	assert_int_equal(theme_depth_pick(NULL, true, 88), THEME_DEPTH_16);
	assert_int_equal(theme_depth_pick(NULL, true, 16), THEME_DEPTH_16);
	assert_int_equal(theme_depth_pick(NULL, true, 8), THEME_DEPTH_8);
	assert_int_equal(theme_depth_pick(NULL, true, 2), THEME_DEPTH_NONE);
	assert_int_equal(theme_depth_pick(NULL, false, 256), THEME_DEPTH_NONE);
}

/* ---- what a slot becomes ------------------------------------------------------------------- */

static void test_resolve_builtin(void **state)
{
	(void)state;
	struct theme t;
	theme_init_builtin(&t);
	assert_string_equal(t.name, "builtin");
	assert_null(t.path);
	for (int i = 0; i < THEME_SLOT_COUNT; i++) {
		struct theme_style def = theme_slot_default((enum theme_slot)i);
		struct theme_cell c = theme_resolve(&t, (enum theme_slot)i, THEME_DEPTH_NONE);
		assert_int_equal(c.fg, -1);
		assert_int_equal(c.bg, -1);
		assert_int_equal(c.attrs, def.attrs);
		c = theme_resolve(&t, (enum theme_slot)i, THEME_DEPTH_8);
		assert_int_equal(c.fg, def.fg);
		assert_int_equal(c.bg, def.bg);
		assert_false(t.set[i]);
	}
	theme_finish(&t);
	assert_null(t.name);
	theme_finish(&t); /* twice is fine */
	theme_finish(NULL);
}

static void test_resolve_no_colour(void **state)
{
	(void)state;
	struct theme t = parse("[colors]\n"
	                       "normal = white 16\n"
	                       "selected = white 25 bold\n" /* told apart by background: reverse */
	                       "error = red 16\n"           /* by colour alone: built-in attrs */
	                       "dim = 245 16 italic\n"      /* has its own attribute: kept */
	                       "title = white 16\n");       /* same as normal: stays plain */
	assert_int_equal(t.n_warnings, 0);
	struct theme_cell c = theme_resolve(&t, SLOT_NORMAL, THEME_DEPTH_NONE);
	assert_int_equal(c.fg, -1);
	assert_int_equal(c.bg, -1);
	assert_int_equal(c.attrs, 0); /* normal text never turns reverse */
	c = theme_resolve(&t, SLOT_SELECTED, THEME_DEPTH_NONE);
	assert_int_equal(c.attrs, THEME_BOLD | THEME_REVERSE);
	c = theme_resolve(&t, SLOT_ERROR, THEME_DEPTH_NONE);
	assert_int_equal(c.attrs, theme_slot_default(SLOT_ERROR).attrs);
	assert_true(c.attrs != 0);
	c = theme_resolve(&t, SLOT_DIM, THEME_DEPTH_NONE);
	assert_int_equal(c.attrs, THEME_ITALIC);
	c = theme_resolve(&t, SLOT_TITLE, THEME_DEPTH_NONE);
	assert_int_equal(c.attrs, 0);
	/* a slot the file left out has its built-in look, which works without colour */
	c = theme_resolve(&t, SLOT_STATUSLINE, THEME_DEPTH_NONE);
	assert_true(c.attrs & THEME_REVERSE);
	theme_finish(&t);
}

static void test_resolve_colours(void **state)
{
	(void)state;
	struct theme t = parse("[colors]\n"
	                       "normal = white black\n"
	                       "header = bright-cyan default\n"
	                       "selected = 252 24\n" /* white on teal: white on cyan in 8 colours */
	                       "title = 231 231 bold\n" /* text the colour of its background */
	                       "dim = 252 black\n"      /* like normal once in 8 colours */
	                       "border = 245 default\n"
	                       "accent = #ff8700 default\n"
	                       "match = 250 252\n"); /* low contrast, but the theme's choice */
	assert_int_equal(t.n_warnings, 0);

	struct theme_cell c = theme_resolve(&t, SLOT_HEADER, THEME_DEPTH_8);
	assert_int_equal(c.fg, 6);
	assert_int_equal(c.bg, -1);
	assert_int_equal(c.attrs, THEME_BOLD); /* bright-cyan in 8 colours */
	c = theme_resolve(&t, SLOT_HEADER, THEME_DEPTH_16);
	assert_int_equal(c.fg, 14);
	assert_int_equal(c.attrs, 0);
	c = theme_resolve(&t, SLOT_HEADER, THEME_DEPTH_256);
	assert_int_equal(c.fg, 14);

	c = theme_resolve(&t, SLOT_SELECTED, THEME_DEPTH_256);
	assert_int_equal(c.fg, 252);
	assert_int_equal(c.bg, 24);
	c = theme_resolve(&t, SLOT_SELECTED, THEME_DEPTH_8);
	assert_int_equal(c.bg, 6);
	assert_int_equal(c.fg, 0); /* white on cyan is unreadable: black */

	for (size_t i = 1; i < N_DEPTHS; i++) {
		c = theme_resolve(&t, SLOT_TITLE, depths[i]);
		assert_true(c.fg != c.bg);
		assert_int_equal(c.attrs, THEME_BOLD);
	}
	c = theme_resolve(&t, SLOT_TITLE, THEME_DEPTH_256);
	assert_int_equal(c.fg, 16);

	c = theme_resolve(&t, SLOT_DIM, THEME_DEPTH_256);
	assert_int_equal(c.attrs, 0);
	c = theme_resolve(&t, SLOT_DIM, THEME_DEPTH_8);
	assert_int_equal(c.fg, 7);
	assert_int_equal(c.bg, 0);
	assert_true(c.attrs & THEME_DIM); /* would look like normal text: built-in dim */

	c = theme_resolve(&t, SLOT_BORDER, THEME_DEPTH_8);
	assert_int_equal(c.fg, 7);
	assert_true(c.attrs & THEME_DIM); /* a mid grey turned white stays soft */
	c = theme_resolve(&t, SLOT_BORDER, THEME_DEPTH_16);
	assert_int_equal(c.fg, 8);

	c = theme_resolve(&t, SLOT_ACCENT, THEME_DEPTH_256);
	assert_int_equal(c.fg, 208);
	c = theme_resolve(&t, SLOT_ACCENT, THEME_DEPTH_8);
	assert_int_equal(c.fg, 3);

	c = theme_resolve(&t, SLOT_MATCH, THEME_DEPTH_256);
	assert_int_equal(c.fg, 250);
	assert_int_equal(c.bg, 252);

	/* out of range: normal */
	assert_true(cell_eq(theme_resolve(&t, THEME_SLOT_COUNT, THEME_DEPTH_8),
	                    theme_resolve(&t, SLOT_NORMAL, THEME_DEPTH_8)));
	theme_finish(&t);
}

/* ---- the shipped themes -------------------------------------------------------------------- */

static struct theme load_shipped(const char *name)
{
	char *path = xasprintf("themes/%s.theme", name); /* a path: the cwd is the repository */
	struct theme t;
	struct err err;
	err_clear(&err);
	if (!theme_load(&t, path, &err)) {
		fail_msg("%s: %s", path, err.msg);
	}
	for (size_t i = 0; i < t.n_warnings; i++) {
		print_error("%s\n", t.warnings[i]);
	}
	assert_int_equal(t.n_warnings, 0);
	assert_string_equal(t.name, name);
	assert_string_equal(t.path, path);
	free(path);
	return t;
}

static void test_shipped_themes_complete(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_SHIPPED; k++) {
		struct theme t = load_shipped(shipped[k]);
		assert_true(strlen(t.title) > 0);
		assert_true(strlen(t.description) > 10);
		for (int i = 0; i < THEME_SLOT_COUNT; i++) {
			if (!t.set[i]) {
				fail_msg("%s.theme leaves out slot %s", shipped[k],
				         theme_slot_name((enum theme_slot)i));
			}
		}
		theme_finish(&t);
	}
}

/* What must hold in every shipped theme at every depth. */
static void test_shipped_themes_readable(void **state)
{
	(void)state;
	static const enum theme_slot distinct[] = {
	        SLOT_HEADER,      SLOT_SELECTED, SLOT_TITLE,      SLOT_STATUSLINE,
	        SLOT_STATUS_FAIL, SLOT_DIM,      SLOT_ERROR,      SLOT_MATCH,
	        SLOT_PROMPT,      SLOT_HELP_KEY, SLOT_GAUGE_HIGH,
	};
	static const enum theme_slot states[] = {SLOT_STATUS_OK, SLOT_STATUS_WARN, SLOT_STATUS_FAIL,
	                                         SLOT_STATUS_STALE};
	for (size_t k = 0; k < N_SHIPPED; k++) {
		struct theme t = load_shipped(shipped[k]);
		for (size_t d = 0; d < N_DEPTHS; d++) {
			struct theme_cell normal = theme_resolve(&t, SLOT_NORMAL, depths[d]);
			for (size_t i = 0; i < sizeof(distinct) / sizeof(distinct[0]); i++) {
				struct theme_cell c = theme_resolve(&t, distinct[i], depths[d]);
				if (cell_eq(c, normal)) {
					fail_msg("%s: %s looks like normal text at depth %d",
					         shipped[k], theme_slot_name(distinct[i]), (int)d);
				}
			}
			/* the cursor row differs from the header and the inactive cursor */
			struct theme_cell sel = theme_resolve(&t, SLOT_SELECTED, depths[d]);
			assert_false(cell_eq(sel, theme_resolve(&t, SLOT_HEADER, depths[d])));
			assert_false(
			        cell_eq(sel, theme_resolve(&t, SLOT_SELECTED_INACTIVE, depths[d])));
			for (int i = 0; i < THEME_SLOT_COUNT; i++) {
				struct theme_cell c =
				        theme_resolve(&t, (enum theme_slot)i, depths[d]);
				if (c.fg >= 0 && c.bg >= 0) {
					assert_true(c.fg != c.bg);
					assert_true(theme_contrast(c.fg, c.bg) >=
					            (depths[d] == THEME_DEPTH_256 ? 4.5 : 3.0));
				}
			}
			/* with colour, the four backend states all look different */
			for (size_t i = 0; depths[d] != THEME_DEPTH_NONE && i < 4; i++) {
				for (size_t j = 0; j < i; j++) {
					assert_false(
					        cell_eq(theme_resolve(&t, states[i], depths[d]),
					                theme_resolve(&t, states[j], depths[d])));
				}
			}
		}
		theme_finish(&t);
	}
}

static void test_shipped_themes_character(void **state)
{
	(void)state;
	struct theme t = load_shipped("mono");
	for (int i = 0; i < THEME_SLOT_COUNT; i++) {
		assert_int_equal(t.style[i].fg, THEME_COLOR_DEFAULT);
		assert_int_equal(t.style[i].bg, THEME_COLOR_DEFAULT);
		/* so NO_COLOR changes nothing */
		assert_true(cell_eq(theme_resolve(&t, (enum theme_slot)i, THEME_DEPTH_NONE),
		                    theme_resolve(&t, (enum theme_slot)i, THEME_DEPTH_256)));
	}
	assert_true(t.style[SLOT_SELECTED].attrs & THEME_REVERSE);
	/* mono tells the backend states apart by attributes alone */
	static const enum theme_slot states[] = {SLOT_STATUS_OK, SLOT_STATUS_WARN, SLOT_STATUS_FAIL,
	                                         SLOT_STATUS_STALE};
	for (size_t i = 0; i < 4; i++) {
		for (size_t j = 0; j < i; j++) {
			assert_int_not_equal(t.style[states[i]].attrs, t.style[states[j]].attrs);
		}
	}
	theme_finish(&t);

	t = load_shipped("high-contrast");
	assert_true(t.style[SLOT_SELECTED].attrs & (THEME_BOLD | THEME_REVERSE));
	assert_true(t.style[SLOT_STATUS_FAIL].attrs & THEME_BOLD);
	assert_true(t.style[SLOT_STATUS_FAIL].bg >= 0); /* a solid background */
	assert_true(theme_contrast(t.style[SLOT_NORMAL].fg, t.style[SLOT_NORMAL].bg) >= 15.0);
	theme_finish(&t);

	/* default keeps the terminal's background; its text is light enough for a dark one */
	t = load_shipped("default");
	assert_int_equal(t.style[SLOT_NORMAL].fg, THEME_COLOR_DEFAULT);
	assert_int_equal(t.style[SLOT_NORMAL].bg, THEME_COLOR_DEFAULT);
	for (int i = 0; i < THEME_SLOT_COUNT; i++) {
		struct theme_style s = t.style[i];
		if (s.bg == THEME_COLOR_DEFAULT && s.fg != THEME_COLOR_DEFAULT) {
			assert_true(theme_contrast(s.fg, 16) >= 4.5);
			int fg8 = theme_color_to_8(s.fg, NULL);
			assert_true(fg8 != 0 && fg8 != 4); /* no black or dark blue text */
		}
	}
	theme_finish(&t);

	/* light: dark text on the terminal's (light) background */
	t = load_shipped("light");
	assert_int_equal(t.style[SLOT_NORMAL].bg, THEME_COLOR_DEFAULT);
	for (int i = 0; i < THEME_SLOT_COUNT; i++) {
		struct theme_style s = t.style[i];
		if (s.bg == THEME_COLOR_DEFAULT && s.fg != THEME_COLOR_DEFAULT) {
			assert_true(theme_contrast(s.fg, 231) >= 4.5);
			assert_int_not_equal(theme_color_to_8(s.fg, NULL), 7); /* no white text */
		}
	}
	theme_finish(&t);
}

static void test_readme_names_every_slot(void **state)
{
	(void)state;
	char *readme = support_read_file("themes/README.md", NULL);
	for (int i = 0; i < THEME_SLOT_COUNT; i++) {
		char *cell = xasprintf("| `%s` |", theme_slot_name((enum theme_slot)i));
		if (!strstr(readme, cell)) {
			fail_msg("themes/README.md does not document slot %s",
			         theme_slot_name((enum theme_slot)i));
		}
		free(cell);
	}
	free(readme);
}

/* ---- the parser ---------------------------------------------------------------------------- */

static void test_warnings_with_lines(void **state)
{
	(void)state;
	char *path = support_fixture_path("themes", "warnings.theme");
	struct theme t;
	struct err err;
	err_clear(&err);
	assert_true(theme_load(&t, path, &err));
	static const char *const want[] = {
	        "4: unknown key 'author' in [theme] (it has name and description)",
	        "8: unknown slot 'selcted'",
	        "9: slot 'header': bad colour 'grey' (default, black..white, bright-NAME, 0-255 or "
	        "#rrggbb); ignored",
	        "10: slot 'error': unknown attribute 'bolt' (bold, dim, underline, reverse, "
	        "italic, "
	        "blink)",
	        "11: slot 'selected' needs FG BG [ATTR...] (e.g. 'selected = white default bold'); "
	        "ignored",
	        "13: slot 'title' is already set on line 12; this line wins",
	        "14: slot 'dim': bad colour '300'",
	        "15: slot 'accent': bad colour '#12345'",
	        "16: expected 'slot = FG BG [ATTR...]' or '[section]'",
	        "22: expected 'slot = FG BG [ATTR...]' or '[section]'",
	        "23: unknown section [palette]",
	        "25: '[' without a closing ']'",
	};
	size_t n_want = sizeof(want) / sizeof(want[0]);
	for (size_t i = 0; i < t.n_warnings; i++) {
		print_message("%s\n", t.warnings[i]);
	}
	assert_int_equal(t.n_warnings, n_want);
	for (size_t i = 0; i < n_want; i++) {
		char *prefix = xasprintf("%s:%s", path, want[i]);
		if (!str_has_prefix(t.warnings[i], prefix)) {
			fail_msg("warning %zu is \"%s\", want \"%s...\"", i, t.warnings[i], prefix);
		}
		free(prefix);
	}
	/* the exact form the brief promises */
	char *exact = xasprintf("%s:8: unknown slot 'selcted'", path);
	assert_string_equal(t.warnings[1], exact);
	free(exact);

	assert_string_equal(t.name, "warnings");
	assert_string_equal(t.title, "Broken on purpose");
	assert_string_equal(t.description, "");
	/* what the mistakes left alone */
	assert_false(t.set[SLOT_HEADER]);
	assert_false(t.set[SLOT_SELECTED]);
	assert_false(t.set[SLOT_DIM]);
	assert_false(t.set[SLOT_ACCENT]);
	assert_false(t.set[SLOT_STATUS_OK]); /* under the broken section header */
	assert_int_equal(t.style[SLOT_SELECTED].attrs, theme_slot_default(SLOT_SELECTED).attrs);
	assert_int_equal(t.style[SLOT_NORMAL].fg, THEME_COLOR_DEFAULT); /* [palette] ignored */
	assert_int_equal(t.style[SLOT_NORMAL].bg, THEME_COLOR_DEFAULT);
	/* a bad attribute drops only itself */
	assert_true(t.set[SLOT_ERROR]);
	assert_int_equal(t.style[SLOT_ERROR].fg, 1);
	assert_int_equal(t.style[SLOT_ERROR].attrs, THEME_UNDERLINE);
	/* the later of two lines wins */
	assert_int_equal(t.style[SLOT_TITLE].fg, 231);
	assert_int_equal(t.style[SLOT_TITLE].bg, 24);
	/* [colours], upper case, inline comments, indentation, ':' */
	assert_int_equal(t.style[SLOT_MATCH].fg, THEME_RGB(0xffd700));
	assert_int_equal(t.style[SLOT_MATCH].bg, THEME_RGB(0x000000));
	assert_int_equal(t.style[SLOT_MATCH].attrs, THEME_BOLD | THEME_UNDERLINE);
	assert_int_equal(t.style[SLOT_HELP_KEY].fg, 81);
	assert_int_equal(t.style[SLOT_HELP_KEY].attrs, THEME_BOLD);
	assert_int_equal(t.style[SLOT_LOG_TIME].fg, 244);
	assert_int_equal(t.style[SLOT_GAUGE_HIGH].fg, 196);
	theme_finish(&t);
	free(path);
}

static void test_parse_odd_text(void **state)
{
	(void)state;
	/* BOM, CRLF, ';' and '#' comments, a blank value putting the built-in back */
	struct theme t = parse("\xEF\xBB\xBF; comment\r\n"
	                       "# another\r\n"
	                       "[colors]\r\n"
	                       "selected =\r\n"
	                       "header = Bright-Red Default UNDERLINE dim\r\n");
	assert_int_equal(t.n_warnings, 0);
	assert_false(t.set[SLOT_SELECTED]);
	assert_int_equal(t.style[SLOT_SELECTED].fg, theme_slot_default(SLOT_SELECTED).fg);
	assert_int_equal(t.style[SLOT_SELECTED].attrs, theme_slot_default(SLOT_SELECTED).attrs);
	assert_int_equal(t.style[SLOT_HEADER].fg, 9);
	assert_int_equal(t.style[SLOT_HEADER].attrs, THEME_UNDERLINE | THEME_DIM);
	assert_string_equal(t.title, "t"); /* no [theme] name: the stem */
	theme_finish(&t);

	/* an empty file: the built-in theme, no complaint */
	t = parse("");
	assert_int_equal(t.n_warnings, 0);
	for (int i = 0; i < THEME_SLOT_COUNT; i++) {
		assert_false(t.set[i]);
	}
	theme_finish(&t);

	/* a key before any section, a NUL byte, a line too long for inih */
	char text[600];
	int n = snprintf(text, sizeof(text), "normal = red default\n[colors]\nheader = red");
	text[n++] = '\0';
	n += snprintf(text + n, sizeof(text) - (size_t)n, " default\nerror = red default %0400d\n",
	              0);
	n += snprintf(text + n, sizeof(text) - (size_t)n, "dim = 245 default\n");
	theme_parse(&t, "t.theme", "t", text, (size_t)n);
	assert_int_equal(t.n_warnings, 3);
	assert_string_equal(t.warnings[0],
	                    "t.theme:1: 'normal' is outside any section; slots go under [colors]");
	assert_true(str_has_prefix(t.warnings[1], "t.theme:3: the line holds a NUL byte"));
	assert_true(str_has_prefix(t.warnings[2], "t.theme:4: the line is too long"));
	assert_false(t.set[SLOT_NORMAL]);
	assert_false(t.set[SLOT_HEADER]);
	assert_false(t.set[SLOT_ERROR]);
	assert_true(t.set[SLOT_DIM]); /* the line after them still counts */
	theme_finish(&t);

	/* [theme] keys; words too many */
	t = parse("[theme]\nname = Mine\ndescription = for tests ; cut here\n[colors]\n"
	          "dim = 1 2 bold bold bold bold bold bold bold bold bold bold bold bold bold "
	          "bold bold bold bold bold\n");
	assert_string_equal(t.title, "Mine");
	assert_string_equal(t.description, "for tests");
	assert_int_equal(t.n_warnings, 1);
	assert_true(strstr(t.warnings[0], "too many words"));
	theme_finish(&t);
}

static void test_warnings_are_capped(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	buf_appendf(&b, "[colors]\n");
	for (int i = 0; i < 80; i++) {
		buf_appendf(&b, "nope%d = red default\n", i);
	}
	buf_appendf(&b, "normal = red default\n");
	struct theme t;
	theme_parse(&t, "t.theme", "t", b.data, b.len);
	assert_int_equal(t.n_warnings, 51);
	assert_string_equal(t.warnings[0], "t.theme:2: unknown slot 'nope0'");
	assert_string_equal(t.warnings[50], "t.theme: 30 more warnings not shown");
	assert_true(t.set[SLOT_NORMAL]);
	theme_finish(&t);
	buf_finish(&b);
}

/* ---- finding themes ------------------------------------------------------------------------ */

static void test_lookup_by_name(void **state)
{
	(void)state;
	struct err err;
	err_clear(&err);
	char *want = xasprintf("%s/ocean.theme", fixture_dir);
	char *path = theme_find("ocean", &err);
	assert_non_null(path);
	assert_string_equal(path, want);
	free(path);
	path = theme_find("ocean.theme", &err);
	assert_string_equal(path, want);
	free(path);

	struct theme t;
	assert_true(theme_load(&t, "ocean", &err));
	assert_string_equal(t.name, "ocean");
	assert_string_equal(t.title, "Ocean");
	assert_string_equal(t.description, "blues, from the fixtures");
	assert_string_equal(t.path, want);
	assert_int_equal(t.style[SLOT_NORMAL].fg, 153);
	assert_int_equal(t.style[SLOT_NORMAL].bg, 17);
	theme_finish(&t);
	free(want);

	/* $LABDECK_THEMES comes first: its default.theme shadows the shipped one */
	assert_true(theme_load(&t, "default", &err));
	assert_string_equal(t.title, "fixture default");
	theme_finish(&t);

	/* then $XDG_DATA_HOME/labdeck/themes */
	char *xdg_file = xasprintf("%s/dusk.theme", xdg_themes);
	write_file(xdg_file, "[colors]\nnormal = 250 235\n");
	assert_true(theme_load(&t, "dusk", &err));
	assert_string_equal(t.path, xdg_file);
	assert_int_equal(t.style[SLOT_NORMAL].bg, 235);
	theme_finish(&t);
	unlink(xdg_file);
	free(xdg_file);

	/* then the source tree's themes/ */
	assert_true(theme_load(&t, "mono", &err));
	assert_string_equal(t.path, LABDECK_SOURCE_DIR "/themes/mono.theme");
	theme_finish(&t);

	/* without $XDG_DATA_HOME: ~/.local/share/labdeck/themes */
	char *saved = xstrdup(getenv("XDG_DATA_HOME"));
	unsetenv("XDG_DATA_HOME");
	char *local = xasprintf("%s/.local", tmp_root);
	char *share = xasprintf("%s/.local/share", tmp_root);
	char *ld = xasprintf("%s/.local/share/labdeck", tmp_root);
	char *dir = xasprintf("%s/.local/share/labdeck/themes", tmp_root);
	assert_int_equal(mkdir(local, 0700), 0);
	assert_int_equal(mkdir(share, 0700), 0);
	assert_int_equal(mkdir(ld, 0700), 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	char *file = xasprintf("%s/home.theme", dir);
	write_file(file, "[colors]\n");
	path = theme_find("home", &err);
	assert_non_null(path);
	assert_string_equal(path, file);
	free(path);
	setenv("XDG_DATA_HOME", saved, 1);
	assert_null(theme_find("home", &err)); /* $XDG_DATA_HOME set: ~/.local is not searched */
	unlink(file);
	rmdir(dir);
	rmdir(ld);
	rmdir(share);
	rmdir(local);
	free(file);
	free(dir);
	free(ld);
	free(share);
	free(local);
	free(saved);
}

static void test_lookup_by_path(void **state)
{
	(void)state;
	struct err err;
	err_clear(&err);
	struct theme t;
	/* relative, with a '/' */
	assert_true(theme_load(&t, "tests/fixtures/themes/dir/ocean.theme", &err));
	assert_string_equal(t.name, "ocean");
	theme_finish(&t);

	/* ~/ is $HOME; any file name will do */
	char *file = xasprintf("%s/my colours.ini", tmp_root);
	write_file(file, "[theme]\nname = tilde\n");
	assert_true(theme_load(&t, "~/my colours.ini", &err));
	assert_string_equal(t.path, file);
	assert_string_equal(t.name, "my colours.ini");
	assert_string_equal(t.title, "tilde");
	theme_finish(&t);
	unlink(file);
	free(file);

	/* a missing file and a directory are errors, and leave nothing to free */
	err_clear(&err);
	assert_false(theme_load(&t, "~/missing.theme", &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "missing.theme"));
	assert_non_null(strstr(err.msg, "No such file"));
	assert_null(t.name);
	assert_int_equal(t.n_warnings, 0);
	theme_finish(&t);

	err_clear(&err);
	assert_false(theme_load(&t, "tests/fixtures/themes/dir/", &err));
	assert_non_null(strstr(err.msg, "not a regular file"));
	theme_finish(&t);

	/* too big to be a theme */
	file = xasprintf("%s/huge.theme", tmp_root);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	for (int i = 0; i < 30000; i++) {
		fputs("; padding\n", f);
	}
	fclose(f);
	err_clear(&err);
	assert_false(theme_load(&t, file, &err));
	assert_int_equal(err.code, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "larger than"));
	assert_null(t.name);
	unlink(file);
	free(file);
}

static void test_lookup_not_found(void **state)
{
	(void)state;
	struct err err;
	err_clear(&err);
	struct theme t;
	assert_false(theme_load(&t, "solarised", &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	/* the message says where it looked and what is there */
	assert_non_null(strstr(err.msg, "theme 'solarised' not found"));
	assert_non_null(strstr(err.msg, fixture_dir));
	assert_non_null(strstr(err.msg, xdg_themes));
	assert_non_null(strstr(err.msg, "high-contrast"));
	assert_non_null(strstr(err.msg, "ocean"));
	assert_null(t.name);
	theme_finish(&t);

	err_clear(&err);
	assert_null(theme_find("", &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_null(theme_find(NULL, &err));
}

static void test_list(void **state)
{
	(void)state;
	/* things the list must skip, in the XDG directory */
	char *hidden = xasprintf("%s/.hidden.theme", xdg_themes);
	char *bare = xasprintf("%s/.theme", xdg_themes);
	char *subdir = xasprintf("%s/folder.theme", xdg_themes);
	char *xdg_one = xasprintf("%s/zz-last.theme", xdg_themes);
	char *dup = xasprintf("%s/ocean.theme", xdg_themes);
	write_file(hidden, "[colors]\n");
	write_file(bare, "[colors]\n");
	write_file(xdg_one, "[colors]\n");
	write_file(dup, "[colors]\n");
	assert_int_equal(mkdir(subdir, 0700), 0);

	struct theme_names names;
	theme_list(&names);
	for (size_t i = 0; i < names.len; i++) {
		print_message("%s\n", names.items[i]);
	}
	assert_true(names.len >= 6);
	assert_string_equal(names.items[0], "default");
	for (size_t i = 2; i < names.len; i++) {
		assert_true(strcmp(names.items[i - 1], names.items[i]) < 0); /* sorted, once each */
	}
	static const char *const must[] = {"mono", "high-contrast", "light", "ocean", "zz-last"};
	for (size_t m = 0; m < sizeof(must) / sizeof(must[0]); m++) {
		bool found = false;
		for (size_t i = 0; i < names.len; i++) {
			found = found || strcmp(names.items[i], must[m]) == 0;
		}
		if (!found) {
			fail_msg("theme_list misses %s", must[m]);
		}
	}
	for (size_t i = 0; i < names.len; i++) {
		assert_string_not_equal(names.items[i], "notes");
		assert_string_not_equal(names.items[i], "folder");
		assert_string_not_equal(names.items[i], ".hidden");
		assert_string_not_equal(names.items[i], "");
		assert_null(strchr(names.items[i], '.'));
	}

	/* t: the next name, wrapping; from a path or unknown name, the first */
	assert_string_equal(theme_names_next(&names, "default"), names.items[1]);
	assert_string_equal(theme_names_next(&names, names.items[names.len - 1]), "default");
	assert_string_equal(theme_names_next(&names, "/some/file.theme"), "default");
	assert_string_equal(theme_names_next(&names, NULL), "default");
	theme_names_finish(&names);
	assert_null(names.items);
	assert_int_equal(names.len, 0);
	theme_names_finish(&names);
	theme_names_finish(NULL);
	assert_null(theme_names_next(&names, "default"));

	unlink(hidden);
	unlink(bare);
	unlink(xdg_one);
	unlink(dup);
	rmdir(subdir);
	free(hidden);
	free(bare);
	free(subdir);
	free(xdg_one);
	free(dup);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_slot_table),
	        cmocka_unit_test(test_color_parse),
	        cmocka_unit_test(test_attr_parse),
	        cmocka_unit_test(test_color_rgb),
	        cmocka_unit_test(test_nearest_256),
	        cmocka_unit_test(test_nearest_8),
	        cmocka_unit_test(test_nearest_16),
	        cmocka_unit_test(test_contrast),
	        cmocka_unit_test(test_depth_pick),
	        cmocka_unit_test(test_resolve_builtin),
	        cmocka_unit_test(test_resolve_no_colour),
	        cmocka_unit_test(test_resolve_colours),
	        cmocka_unit_test(test_shipped_themes_complete),
	        cmocka_unit_test(test_shipped_themes_readable),
	        cmocka_unit_test(test_shipped_themes_character),
	        cmocka_unit_test(test_readme_names_every_slot),
	        cmocka_unit_test(test_warnings_with_lines),
	        cmocka_unit_test(test_parse_odd_text),
	        cmocka_unit_test(test_warnings_are_capped),
	        cmocka_unit_test(test_lookup_by_name),
	        cmocka_unit_test(test_lookup_by_path),
	        cmocka_unit_test(test_lookup_not_found),
	        cmocka_unit_test(test_list),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
