/* theme.c: see theme.h. The file is handed to inih one line at a time by ini_reader.c, as in
 * config.c: it counts lines (Debian's inih handler has no line argument), strips indentation (so
 * inih's multi-line values never apply), reports the [section] headers itself and, with
 * skip_bad, turns lines inih would reject into warnings, so one typo never hides the rest of the
 * file. */
#include "theme.h"

#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ini_reader.h"
#include "util.h"

#define THEME_MAX_BYTES (256 * 1024)
#define THEME_MAX_WARNINGS 50
#define THEME_SUFFIX ".theme"
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- slots --------------------------------------------------------------------------------- */

static const struct {
	const char *name;
	const char *desc;
	struct theme_style def;
} slot_info[THEME_SLOT_COUNT] = {
#define X(e, name, desc, fg, bg, attrs) [e] = {name, desc, {fg, bg, attrs}},
        THEME_SLOTS(X)
#undef X
};

const char *theme_slot_name(enum theme_slot slot)
{
	return (unsigned)slot < THEME_SLOT_COUNT ? slot_info[slot].name : "";
}

const char *theme_slot_description(enum theme_slot slot)
{
	return (unsigned)slot < THEME_SLOT_COUNT ? slot_info[slot].desc : "";
}

struct theme_style theme_slot_default(enum theme_slot slot)
{
	if ((unsigned)slot >= THEME_SLOT_COUNT) {
		return (struct theme_style){THEME_COLOR_DEFAULT, THEME_COLOR_DEFAULT, 0};
	}
	return slot_info[slot].def;
}

bool theme_slot_from_name(const char *name, enum theme_slot *out)
{
	for (size_t i = 0; i < THEME_SLOT_COUNT; i++) {
		if (strcasecmp(name, slot_info[i].name) == 0) {
			*out = (enum theme_slot)i;
			return true;
		}
	}
	return false;
}

/* ---- colours ------------------------------------------------------------------------------- */

static const char *const color_names[8] = {"black", "red",     "green", "yellow",
                                           "blue",  "magenta", "cyan",  "white"};

/* What xterm shows for 0–15 by default. */
static const int32_t basic_rgb[16] = {
        0x000000, 0xcd0000, 0x00cd00, 0xcdcd00, 0x0000ee, 0xcd00cd, 0x00cdcd, 0xe5e5e5,
        0x7f7f7f, 0xff0000, 0x00ff00, 0xffff00, 0x5c5cff, 0xff00ff, 0x00ffff, 0xffffff,
};

static const int cube_level[6] = {0x00, 0x5f, 0x87, 0xaf, 0xd7, 0xff};

bool theme_color_parse(const char *word, int32_t *out)
{
	if (strcasecmp(word, "default") == 0) {
		*out = THEME_COLOR_DEFAULT;
		return true;
	}
	if (word[0] == '#') {
		if (strlen(word) != 7) {
			return false;
		}
		int32_t v = 0;
		for (int i = 1; i < 7; i++) {
			int d = hex_digit((unsigned char)word[i]);
			if (d < 0) {
				return false;
			}
			v = v * 16 + d;
		}
		*out = THEME_RGB(v);
		return true;
	}
	if (word[0] >= '0' && word[0] <= '9') {
		size_t n = strlen(word);
		if (n > 3) {
			return false;
		}
		int v = 0;
		for (size_t i = 0; i < n; i++) {
			if (word[i] < '0' || word[i] > '9') {
				return false;
			}
			v = v * 10 + (word[i] - '0');
		}
		if (v > 255) {
			return false;
		}
		*out = v;
		return true;
	}
	int base = 0;
	const char *name = word;
	if (strncasecmp(word, "bright", 6) == 0 && (word[6] == '-' || word[6] == '_')) {
		base = 8;
		name = word + 7;
	}
	for (int i = 0; i < 8; i++) {
		if (strcasecmp(name, color_names[i]) == 0) {
			*out = base + i;
			return true;
		}
	}
	return false;
}

bool theme_attr_parse(const char *word, unsigned *out)
{
	static const struct {
		const char *name;
		unsigned bit;
	} attrs[] = {
#define X(e, name, bit) {name, bit},
	        THEME_ATTRS(X)
#undef X
	};
	for (size_t i = 0; i < N_OF(attrs); i++) {
		if (strcasecmp(word, attrs[i].name) == 0) {
			*out = attrs[i].bit;
			return true;
		}
	}
	return false;
}

int32_t theme_color_rgb(int32_t color)
{
	if (color < 0) {
		return -1;
	}
	if (THEME_IS_RGB(color)) {
		return color & 0xffffff;
	}
	if (color < 16) {
		return basic_rgb[color];
	}
	if (color < 232) {
		int i = color - 16;
		return (cube_level[i / 36] << 16) | (cube_level[(i / 6) % 6] << 8) |
		       cube_level[i % 6];
	}
	if (color < 256) {
		int g = 8 + 10 * (color - 232);
		return (g << 16) | (g << 8) | g;
	}
	return -1;
}

static long rgb_distance(int32_t a, int32_t b)
{
	long dr = ((a >> 16) & 0xff) - ((b >> 16) & 0xff);
	long dg = ((a >> 8) & 0xff) - ((b >> 8) & 0xff);
	long db = (a & 0xff) - (b & 0xff);
	return dr * dr + dg * dg + db * db;
}

/* nearest_in gives the palette index in [from, to) closest to rgb (the lowest on a tie). */
static int nearest_in(int32_t rgb, int from, int to)
{
	int best = from;
	long best_d = -1;
	for (int i = from; i < to; i++) {
		long d = rgb_distance(rgb, theme_color_rgb(i));
		if (best_d < 0 || d < best_d) {
			best = i;
			best_d = d;
		}
	}
	return best;
}

int theme_color_to_256(int32_t color)
{
	if (color < 0) {
		return -1;
	}
	if (!THEME_IS_RGB(color)) {
		return color < 256 ? (int)color : -1;
	}
	return nearest_in(color & 0xffffff, 16, 256);
}

/* luma: perceived lightness 0–255 (Rec. 601 weights). */
static int luma(int32_t rgb)
{
	int r = (rgb >> 16) & 0xff, g = (rgb >> 8) & 0xff, b = rgb & 0xff;
	return (299 * r + 587 * g + 114 * b) / 1000;
}

static int chroma(int32_t rgb)
{
	int r = (rgb >> 16) & 0xff, g = (rgb >> 8) & 0xff, b = rgb & 0xff;
	int max = r > g ? (r > b ? r : b) : (g > b ? g : b);
	int min = r < g ? (r < b ? r : b) : (g < b ? g : b);
	return max - min;
}

/* basic_hue gives the basic colour (1–6) of rgb's hue, or -1 for a colour that is better shown as
 * black or white: greys, pastels (saturation under 40%) and near-blacks. Going by hue rather than
 * by distance keeps a soft green green, where the nearest of the eight would be white. */
static int basic_hue(int32_t rgb)
{
	static const int sector_index[6] = {THEME_RED,  THEME_YELLOW, THEME_GREEN,
	                                    THEME_CYAN, THEME_BLUE,   THEME_MAGENTA};
	int r = (rgb >> 16) & 0xff, g = (rgb >> 8) & 0xff, b = rgb & 0xff;
	int max = r > g ? (r > b ? r : b) : (g > b ? g : b);
	int c = chroma(rgb);
	if (max < 0x40 || c * 10 < max * 4) {
		return -1;
	}
	double hue;
	if (max == r) {
		hue = 60.0 * (g - b) / c;
	} else if (max == g) {
		hue = 60.0 * (2.0 + (double)(b - r) / c);
	} else {
		hue = 60.0 * (4.0 + (double)(r - g) / c);
	}
	if (hue < 0) {
		hue += 360.0;
	}
	return sector_index[(int)((hue + 30.0) / 60.0) % 6];
}

int theme_color_to_16(int32_t color)
{
	if (color < 0) {
		return -1;
	}
	if (!THEME_IS_RGB(color) && color < 16) {
		return (int)color;
	}
	int32_t rgb = theme_color_rgb(color);
	int hue = basic_hue(rgb);
	if (hue < 0) {
		int l = luma(rgb);
		return l < 0x40 ? THEME_BLACK : l < 0xb2 ? 8 : l < 0xf2 ? THEME_WHITE : 15;
	}
	return rgb_distance(rgb, basic_rgb[hue]) <= rgb_distance(rgb, basic_rgb[hue + 8]) ? hue
	                                                                                  : hue + 8;
}

int theme_color_to_8(int32_t color, bool *bright)
{
	if (bright) {
		*bright = false;
	}
	if (color < 0) {
		return -1;
	}
	if (!THEME_IS_RGB(color) && color < 16) {
		if (color >= 8 && bright) {
			*bright = true;
		}
		return (int)color % 8;
	}
	int32_t rgb = theme_color_rgb(color);
	int hue = basic_hue(rgb);
	if (hue < 0) {
		return luma(rgb) < 0x78 ? THEME_BLACK : THEME_WHITE;
	}
	return hue;
}

/* ---- depth and resolution ------------------------------------------------------------------ */

enum theme_depth theme_depth_pick(const char *no_color, bool has_colors, int colors)
{
	if ((no_color && *no_color) || !has_colors) {
		return THEME_DEPTH_NONE;
	}
	if (colors >= 256) {
		return THEME_DEPTH_256;
	}
	if (colors >= 16) {
		return THEME_DEPTH_16;
	}
	if (colors >= 8) {
		return THEME_DEPTH_8;
	}
	return THEME_DEPTH_NONE;
}

static int map_color(int32_t c, enum theme_depth d, bool *bright)
{
	*bright = false;
	switch (d) {
	case THEME_DEPTH_256:
		return theme_color_to_256(c);
	case THEME_DEPTH_16:
		return theme_color_to_16(c);
	case THEME_DEPTH_8:
		return theme_color_to_8(c, bright);
	case THEME_DEPTH_NONE:
		break;
	}
	return -1;
}

/* WCAG relative luminance and contrast ratio (1–21). */
static double channel(int v)
{
	double c = v / 255.0;
	return c <= 0.03928 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static double luminance(int32_t rgb)
{
	return 0.2126 * channel((rgb >> 16) & 0xff) + 0.7152 * channel((rgb >> 8) & 0xff) +
	       0.0722 * channel(rgb & 0xff);
}

double theme_contrast(int32_t a, int32_t b)
{
	double x = luminance(theme_color_rgb(a)), y = luminance(theme_color_rgb(b));
	return x > y ? (x + 0.05) / (y + 0.05) : (y + 0.05) / (x + 0.05);
}

/* cell_of maps a style to depth d (not THEME_DEPTH_NONE). */
static struct theme_cell cell_of(struct theme_style s, enum theme_depth d)
{
	struct theme_cell c = {-1, -1, s.attrs};
	bool fg_bright, bg_bright;
	c.fg = map_color(s.fg, d, &fg_bright);
	c.bg = map_color(s.bg, d, &bg_bright);
	if (fg_bright) {
		c.attrs |= THEME_BOLD;
	}
	if (d == THEME_DEPTH_8 && s.fg >= 0) {
		/* a mid grey that became black or white keeps its softness */
		int32_t rgb = theme_color_rgb(s.fg);
		if (!(!THEME_IS_RGB(s.fg) && s.fg < 16) && chroma(rgb) < 0x20 &&
		    luma(rgb) >= 0x50 && luma(rgb) <= 0xb0) {
			c.attrs |= THEME_DIM;
		}
	}
	if (c.fg < 0 || c.bg < 0) {
		return c;
	}
	/* Text must stay readable: the same colour as its background never, and in 8 or 16
	 * colours (where the theme's choice was approximated) nothing under 3:1. */
	bool too_close = c.fg == c.bg || (d != THEME_DEPTH_256 && theme_contrast(c.fg, c.bg) < 3.0);
	if (too_close) {
		int black = d == THEME_DEPTH_256 ? 16 : THEME_BLACK;
		int white = d == THEME_DEPTH_256 ? 231 : d == THEME_DEPTH_16 ? 15 : THEME_WHITE;
		c.fg = theme_contrast(black, c.bg) >= theme_contrast(white, c.bg) ? black : white;
	}
	return c;
}

static bool style_eq(struct theme_style a, struct theme_style b)
{
	return a.fg == b.fg && a.bg == b.bg && a.attrs == b.attrs;
}

static bool cell_eq(struct theme_cell a, struct theme_cell b)
{
	return a.fg == b.fg && a.bg == b.bg && a.attrs == b.attrs;
}

struct theme_cell theme_resolve(const struct theme *t, enum theme_slot slot, enum theme_depth d)
{
	if ((unsigned)slot >= THEME_SLOT_COUNT) {
		slot = SLOT_NORMAL;
	}
	struct theme_style s = t->style[slot];
	struct theme_style n = t->style[SLOT_NORMAL];
	struct theme_cell c, nc;
	if (d == THEME_DEPTH_NONE) {
		c = (struct theme_cell){-1, -1, s.attrs};
		nc = (struct theme_cell){-1, -1, n.attrs};
		if (s.bg != n.bg) {
			c.attrs |= THEME_REVERSE; /* a bar or the cursor row */
		}
	} else {
		c = cell_of(s, d);
		nc = cell_of(n, d);
	}
	if (slot != SLOT_NORMAL && !style_eq(s, n) && cell_eq(c, nc)) {
		/* the theme told this slot apart, the terminal cannot: use the built-in attributes
		 */
		c.attrs |= slot_info[slot].def.attrs;
	}
	return c;
}

/* ---- init and finish ----------------------------------------------------------------------- */

static void set_builtin_styles(struct theme *t)
{
	for (size_t i = 0; i < THEME_SLOT_COUNT; i++) {
		t->style[i] = slot_info[i].def;
		t->set[i] = false;
	}
}

void theme_init_builtin(struct theme *t)
{
	*t = (struct theme){0};
	t->name = xstrdup("builtin");
	t->title = xstrdup("built-in");
	t->description = xstrdup("the colours labdeck has without a theme file");
	set_builtin_styles(t);
}

void theme_finish(struct theme *t)
{
	if (!t) {
		return;
	}
	free(t->name);
	free(t->title);
	free(t->description);
	free(t->path);
	for (size_t i = 0; i < t->n_warnings; i++) {
		free(t->warnings[i]);
	}
	free(t->warnings);
	*t = (struct theme){0};
}

/* ---- the parser ---------------------------------------------------------------------------- */

enum section {
	SEC_NONE,    /* before any [section] */
	SEC_COLORS,  /* [colors] */
	SEC_THEME,   /* [theme] */
	SEC_IGNORED, /* unknown or broken: already warned, its keys are skipped */
};

struct parse {
	struct theme *t;
	const char *file;
	struct ini_reader rd; /* rd.line: the line inih is working on */
	enum section sec;
	int slot_line[THEME_SLOT_COUNT];
	size_t dropped; /* warnings over THEME_MAX_WARNINGS */
};

static void warn(struct parse *p, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void warn(struct parse *p, int line, const char *fmt, ...)
{
	struct theme *t = p->t;
	if (t->n_warnings >= THEME_MAX_WARNINGS) {
		p->dropped++;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	t->warnings = xrealloc(t->warnings, (t->n_warnings + 1) * sizeof(*t->warnings));
	t->warnings[t->n_warnings++] = xasprintf("%s:%d: %s", p->file, line, msg);
	free(msg);
}

/* section_begin is called by the reader for a "[...]" line; text is what sits between the
 * brackets (len bytes). */
static void section_begin(void *ud, const char *text, size_t len)
{
	struct parse *p = ud;
	char *s = str_trim(xstrndup(text, len));
	if (strcasecmp(s, "colors") == 0 || strcasecmp(s, "colours") == 0) {
		p->sec = SEC_COLORS;
	} else if (strcasecmp(s, "theme") == 0) {
		p->sec = SEC_THEME;
	} else {
		p->sec = SEC_IGNORED;
		warn(p, p->rd.line,
		     "unknown section [%.60s] (a theme has [colors] and [theme]); its lines are "
		     "ignored",
		     s);
	}
	free(s);
}

/* reader_problem is called by the reader for a bad line, which inih then sees as blank. */
static void reader_problem(void *ud, int line, enum ini_reader_problem what, const char *msg)
{
	struct parse *p = ud;
	switch (what) {
	case INI_READER_NUL:
		warn(p, line, "%s", msg);
		break;
	case INI_READER_TOO_LONG:
		warn(p, line, "%s; ignored", msg);
		break;
	case INI_READER_UNCLOSED:
		warn(p, line, "%s; the lines up to the next section are ignored", msg);
		p->sec = SEC_IGNORED;
		break;
	case INI_READER_NOT_KEY:
		warn(p, line, "expected 'slot = FG BG [ATTR...]' or '[section]'");
		break;
	}
}

static void set_string(char **dst, const char *value)
{
	free(*dst);
	*dst = xstrdup(value);
}

static void theme_key(struct parse *p, const char *name, const char *value)
{
	if (strcasecmp(name, "name") == 0) {
		if (*value) {
			set_string(&p->t->title, value);
		}
	} else if (strcasecmp(name, "description") == 0) {
		set_string(&p->t->description, value);
	} else {
		warn(p, p->rd.line, "unknown key '%.60s' in [theme] (it has name and description)",
		     name);
	}
}

static void color_key(struct parse *p, const char *name, const char *value)
{
	enum theme_slot slot;
	if (!theme_slot_from_name(name, &slot)) {
		warn(p, p->rd.line, "unknown slot '%.60s'", name);
		return;
	}
	const char *sname = slot_info[slot].name;
	if (p->slot_line[slot]) {
		warn(p, p->rd.line, "slot '%s' is already set on line %d; this line wins", sname,
		     p->slot_line[slot]);
	}
	p->slot_line[slot] = p->rd.line;

	char *copy = xstrdup(value);
	char *words[16];
	size_t nw = 0;
	char *save = NULL;
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (nw == N_OF(words)) {
			warn(p, p->rd.line, "slot '%s': too many words; expected FG BG [ATTR...]",
			     sname);
			free(copy);
			return;
		}
		words[nw++] = w;
	}
	if (nw == 0) {
		/* "slot =" puts the built-in value back */
		p->t->style[slot] = slot_info[slot].def;
		p->t->set[slot] = false;
		free(copy);
		return;
	}
	if (nw < 2) {
		warn(p, p->rd.line,
		     "slot '%s' needs FG BG [ATTR...] (e.g. '%s = white default bold'); ignored",
		     sname, sname);
		free(copy);
		return;
	}
	struct theme_style st = {0, 0, 0};
	for (size_t i = 0; i < 2; i++) {
		if (!theme_color_parse(words[i], i == 0 ? &st.fg : &st.bg)) {
			warn(p, p->rd.line,
			     "slot '%s': bad colour '%.40s' (default, black..white, bright-NAME, "
			     "0-255 or #rrggbb); ignored",
			     sname, words[i]);
			free(copy);
			return;
		}
	}
	for (size_t i = 2; i < nw; i++) {
		unsigned bit;
		if (theme_attr_parse(words[i], &bit)) {
			st.attrs |= bit;
		} else {
			warn(p, p->rd.line,
			     "slot '%s': unknown attribute '%.40s' (bold, dim, underline, reverse, "
			     "italic, blink)",
			     sname, words[i]);
		}
	}
	p->t->style[slot] = st;
	p->t->set[slot] = true;
	free(copy);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	(void)section; /* the reader follows sections itself */
	switch (p->sec) {
	case SEC_NONE:
		warn(p, p->rd.line, "'%.60s' is outside any section; slots go under [colors]",
		     name);
		break;
	case SEC_COLORS:
		color_key(p, name, value);
		break;
	case SEC_THEME:
		theme_key(p, name, value);
		break;
	case SEC_IGNORED:
		break;
	}
	return 1;
}

static bool has_warning_for_line(const struct theme *t, const char *file, int line)
{
	char *prefix = xasprintf("%s:%d: ", file, line);
	bool found = false;
	for (size_t i = 0; i < t->n_warnings && !found; i++) {
		found = str_has_prefix(t->warnings[i], prefix);
	}
	free(prefix);
	return found;
}

void theme_parse(struct theme *t, const char *file, const char *name, const char *text, size_t len)
{
	*t = (struct theme){0};
	set_builtin_styles(t);
	t->name = xstrdup(name);
	t->description = xstrdup("");
	struct parse p = {.t = t, .file = file, .sec = SEC_NONE};
	ini_reader_init(&p.rd, text, len, true, section_begin, reader_problem, &p);
	int r = ini_parse_stream(ini_reader_read, &p.rd, handler, &p);
	if (r > 0 && !has_warning_for_line(t, file, r)) {
		warn(&p, r, "syntax error: expected 'slot = FG BG [ATTR...]' or '[section]'");
	} else if (r < 0) {
		warn(&p, 0, "cannot be parsed (inih error %d)", r);
	}
	if (p.dropped) {
		t->warnings = xrealloc(t->warnings, (t->n_warnings + 1) * sizeof(*t->warnings));
		t->warnings[t->n_warnings++] =
		        xasprintf("%s: %zu more warnings not shown", file, p.dropped);
	}
	if (!t->title) {
		t->title = xstrdup(name);
	}
}

/* ---- finding and loading ------------------------------------------------------------------- */

struct dirs {
	char *items[4];
	size_t len;
};

static void dirs_init(struct dirs *d)
{
	d->len = 0;
	const char *env = getenv("LABDECK_THEMES");
	if (env && *env) {
		d->items[d->len++] = path_expand(env);
	}
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	if (xdg && xdg[0] == '/') {
		d->items[d->len++] = xasprintf("%s/labdeck/themes", xdg);
	} else if (home && *home) {
		d->items[d->len++] = xasprintf("%s/.local/share/labdeck/themes", home);
	}
#ifdef LABDECK_DATA_DIR
	d->items[d->len++] = xstrdup(LABDECK_DATA_DIR "/themes"); /* installed: meson install */
#endif
#ifdef LABDECK_SOURCE_DIR
	d->items[d->len++] = xstrdup(LABDECK_SOURCE_DIR "/themes"); /* run from the build tree */
#endif
}

static void dirs_finish(struct dirs *d)
{
	for (size_t i = 0; i < d->len; i++) {
		free(d->items[i]);
	}
	d->len = 0;
}

static bool is_regular_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

char *theme_find(const char *name_or_path, struct err *err)
{
	if (!name_or_path || !*name_or_path) {
		err_set(err, ERR_NOT_FOUND, 0,
		        "no theme given: use a name such as default or a path");
		return NULL;
	}
	if (strchr(name_or_path, '/')) {
		char *path = path_expand(name_or_path);
		struct stat st;
		if (stat(path, &st) != 0) {
			err_set(err, ERR_NOT_FOUND, 0, "theme file %s: %s", path, strerror(errno));
			free(path);
			return NULL;
		}
		if (!S_ISREG(st.st_mode)) {
			err_set(err, ERR_NOT_FOUND, 0, "theme file %s: not a regular file", path);
			free(path);
			return NULL;
		}
		return path;
	}
	char *name = xstrdup(name_or_path);
	if (has_suffix(name, THEME_SUFFIX) && strlen(name) > strlen(THEME_SUFFIX)) {
		name[strlen(name) - strlen(THEME_SUFFIX)] = '\0';
	}
	struct dirs d;
	dirs_init(&d);
	for (size_t i = 0; i < d.len; i++) {
		char *path = xasprintf("%s/%s" THEME_SUFFIX, d.items[i], name);
		if (is_regular_file(path)) {
			dirs_finish(&d);
			free(name);
			return path;
		}
		free(path);
	}
	struct buf where, avail;
	buf_init(&where);
	buf_init(&avail);
	for (size_t i = 0; i < d.len; i++) {
		buf_appendf(&where, "%s%s", i ? ", " : "", d.items[i]);
	}
	struct theme_names names;
	theme_list(&names);
	for (size_t i = 0; i < names.len; i++) {
		buf_appendf(&avail, "%s%s", i ? ", " : "", names.items[i]);
	}
	err_set(err, ERR_NOT_FOUND, 0, "theme '%.60s' not found in %s; themes there: %s", name,
	        where.len ? where.data : "(no theme directories)", avail.len ? avail.data : "none");
	theme_names_finish(&names);
	buf_finish(&where);
	buf_finish(&avail);
	dirs_finish(&d);
	free(name);
	return NULL;
}

/* read_file reads a whole theme file of at most THEME_MAX_BYTES. */
static bool read_file(const char *path, struct buf *out, struct err *err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		return err_set(err, ERR_CONFIG, 0, "theme file %s: %s", path, strerror(errno));
	}
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		buf_append(out, chunk, n);
		if (out->len > THEME_MAX_BYTES) {
			fclose(f);
			return err_set(err, ERR_CONFIG, 0,
			               "theme file %s: larger than %d KiB; is this a theme?", path,
			               THEME_MAX_BYTES / 1024);
		}
	}
	bool failed = ferror(f);
	int e = errno;
	fclose(f);
	if (failed) {
		return err_set(err, ERR_CONFIG, 0, "theme file %s: %s", path, strerror(e));
	}
	return true;
}

/* stem_of gives the file name of path without its directory and .theme suffix. */
static char *stem_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *stem = xstrdup(slash ? slash + 1 : path);
	if (has_suffix(stem, THEME_SUFFIX) && strlen(stem) > strlen(THEME_SUFFIX)) {
		stem[strlen(stem) - strlen(THEME_SUFFIX)] = '\0';
	}
	return stem;
}

bool theme_load(struct theme *t, const char *name_or_path, struct err *err)
{
	char *path = theme_find(name_or_path, err);
	*t = (struct theme){0};
	if (!path) {
		return false;
	}
	struct buf text;
	buf_init(&text);
	if (!read_file(path, &text, err)) {
		buf_finish(&text);
		free(path);
		return false;
	}
	char *stem = stem_of(path);
	theme_parse(t, path, stem, text.data, text.len);
	t->path = path;
	free(stem);
	buf_finish(&text);
	return true;
}

/* ---- the themes available ------------------------------------------------------------------ */

static int name_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a;
	const char *y = *(const char *const *)b;
	bool dx = strcmp(x, "default") == 0, dy = strcmp(y, "default") == 0;
	if (dx != dy) {
		return dx ? -1 : 1;
	}
	return strcmp(x, y);
}

static bool names_have(const struct theme_names *names, const char *name)
{
	for (size_t i = 0; i < names->len; i++) {
		if (strcmp(names->items[i], name) == 0) {
			return true;
		}
	}
	return false;
}

static void scan_dir(struct theme_names *out, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *fn = e->d_name;
		size_t n = strlen(fn);
		if (fn[0] == '.' || n <= strlen(THEME_SUFFIX) || !has_suffix(fn, THEME_SUFFIX)) {
			continue;
		}
		char *stem = xstrndup(fn, n - strlen(THEME_SUFFIX));
		char *path = xasprintf("%s/%s", dir, fn);
		if (is_regular_file(path) && !names_have(out, stem)) {
			out->items = xrealloc(out->items, (out->len + 1) * sizeof(*out->items));
			out->items[out->len++] = stem;
			stem = NULL;
		}
		free(stem);
		free(path);
	}
	closedir(d);
}

void theme_list(struct theme_names *out)
{
	*out = (struct theme_names){0};
	struct dirs d;
	dirs_init(&d);
	for (size_t i = 0; i < d.len; i++) {
		scan_dir(out, d.items[i]);
	}
	dirs_finish(&d);
	if (out->len > 1) {
		qsort(out->items, out->len, sizeof(*out->items), name_cmp);
	}
}

const char *theme_names_next(const struct theme_names *names, const char *current)
{
	if (!names || names->len == 0) {
		return NULL;
	}
	for (size_t i = 0; current && i < names->len; i++) {
		if (strcmp(names->items[i], current) == 0) {
			return names->items[(i + 1) % names->len];
		}
	}
	return names->items[0];
}

void theme_names_finish(struct theme_names *names)
{
	if (!names) {
		return;
	}
	for (size_t i = 0; i < names->len; i++) {
		free(names->items[i]);
	}
	free(names->items);
	*names = (struct theme_names){0};
}
