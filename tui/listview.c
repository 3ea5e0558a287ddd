/* listview.c: see listview.h. */
#include "listview.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "palette.h"
#include "text.h"
#include "util.h"

#define CELL_MAX 512

void listview_init(struct listview *lv, const struct list_source *src)
{
	memset(lv, 0, sizeof(*lv));
	lv->src = *src;
	lv->sort_col = -1;
	lv->widths = xcalloc(src->ncols, sizeof(int));
}

static void free_search(struct listview *lv)
{
	for (size_t i = 0; i < lv->n_search; i++) {
		free(lv->search[i]);
	}
	free(lv->search);
	lv->search = NULL;
	lv->n_search = 0;
}

void listview_finish(struct listview *lv)
{
	free_search(lv);
	free(lv->order);
	free(lv->widths);
	memset(lv, 0, sizeof(*lv));
}

/* ASCII lower-casing is enough for matching names; other bytes compare as they are. */
static void lower_ascii(char *s)
{
	for (; *s; s++) {
		*s = (char)tolower((unsigned char)*s);
	}
}

static bool row_matches(const struct listview *lv, size_t row)
{
	if (!lv->filter[0]) {
		return true;
	}
	return row < lv->n_search && strstr(lv->search[row], lv->filter) != NULL;
}

static int sort_cmp(const void *a, const void *b, void *arg)
{
	const struct listview *lv = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = 0;
	size_t col = (size_t)lv->sort_col;
	if (lv->src.cols[col].numeric && lv->src.number) {
		double dx = lv->src.number(lv->src.ud, x, col);
		double dy = lv->src.number(lv->src.ud, y, col);
		c = dx < dy ? -1 : dx > dy ? 1 : 0;
	} else {
		char bx[CELL_MAX], by[CELL_MAX];
		lv->src.cell(lv->src.ud, x, col, bx, sizeof(bx));
		lv->src.cell(lv->src.ud, y, col, by, sizeof(by));
		c = strcmp(bx, by);
	}
	if (c == 0) {
		c = x < y ? -1 : x > y ? 1 : 0; /* stable */
	}
	return lv->sort_desc ? -c : c;
}

/* Rebuilds the visible order and puts the cursor back on the row it was on. */
static void rebuild_order(struct listview *lv)
{
	size_t n = lv->src.count(lv->src.ud);
	if (n > lv->cap_order) {
		lv->cap_order = n;
		lv->order = xrealloc(lv->order, n * sizeof(size_t));
	}
	lv->n_order = 0;
	for (size_t i = 0; i < n; i++) {
		if (row_matches(lv, i)) {
			lv->order[lv->n_order++] = i;
		}
	}
	if (lv->sort_col >= 0 && lv->n_order > 1) {
		qsort_r(lv->order, lv->n_order, sizeof(size_t), sort_cmp, lv);
	}
	/* Back to the row the cursor was on; if it is gone, stay at the same position. */
	size_t before = lv->selected;
	bool found = false;
	if (lv->selected_key[0] && lv->src.key) {
		char k[256];
		for (size_t i = 0; i < lv->n_order; i++) {
			lv->src.key(lv->src.ud, lv->order[i], k, sizeof(k));
			if (strcmp(k, lv->selected_key) == 0) {
				lv->selected = i;
				found = true;
				break;
			}
		}
	}
	if (!found) {
		lv->selected = lv->n_order == 0       ? 0
		               : before < lv->n_order ? before
		                                      : lv->n_order - 1;
		if (lv->n_order && lv->src.key) {
			lv->src.key(lv->src.ud, lv->order[lv->selected], lv->selected_key,
			            sizeof(lv->selected_key));
		}
	}
}

static void remember_selection(struct listview *lv)
{
	size_t row = listview_selected(lv);
	if (row != (size_t)-1 && lv->src.key) {
		lv->src.key(lv->src.ud, row, lv->selected_key, sizeof(lv->selected_key));
	}
}

void listview_data_changed(struct listview *lv)
{
	/* No remember_selection() here: the indexes point into the old rows, which may be gone.
	 * selected_key was kept current by every move. */
	free_search(lv);
	size_t n = lv->src.count(lv->src.ud);
	lv->search = xcalloc(n ? n : 1, sizeof(char *));
	lv->n_search = n;
	for (size_t c = 0; c < lv->src.ncols; c++) {
		lv->widths[c] = text_width(lv->src.cols[c].title) + 1; /* room for ▲ */
	}
	struct buf b;
	buf_init(&b);
	char cell[CELL_MAX];
	for (size_t r = 0; r < n; r++) {
		b.len = 0;
		for (size_t c = 0; c < lv->src.ncols; c++) {
			lv->src.cell(lv->src.ud, r, c, cell, sizeof(cell));
			buf_append(&b, cell, strlen(cell));
			buf_append(&b, "\t", 1);
			int w = text_width(cell);
			int cap = lv->src.cols[c].max_width;
			if (cap && w > cap) {
				w = cap;
			}
			if (w > lv->widths[c]) {
				lv->widths[c] = w;
			}
		}
		lower_ascii(b.data);
		lv->search[r] = xstrndup(b.data, b.len);
	}
	buf_finish(&b);
	rebuild_order(lv);
}

void listview_set_filter(struct listview *lv, const char *filter)
{
	snprintf(lv->filter, sizeof(lv->filter), "%s", filter ? filter : "");
	lower_ascii(lv->filter);
	rebuild_order(lv);
	lv->top = 0;
}

size_t listview_selected(const struct listview *lv)
{
	return lv->selected < lv->n_order ? lv->order[lv->selected] : (size_t)-1;
}

static void move_to(struct listview *lv, long pos)
{
	if (lv->n_order == 0) {
		lv->selected = 0;
		return;
	}
	if (pos < 0) {
		pos = 0;
	}
	if ((size_t)pos >= lv->n_order) {
		pos = (long)lv->n_order - 1;
	}
	lv->selected = (size_t)pos;
	remember_selection(lv);
}

bool listview_handle(struct listview *lv, enum action a)
{
	long page = lv->page_rows > 1 ? lv->page_rows - 1 : 1;
	long sel = (long)lv->selected;
	switch (a) {
	case ACT_DOWN:
		move_to(lv, sel + 1);
		return true;
	case ACT_UP:
		move_to(lv, sel - 1);
		return true;
	case ACT_TOP:
		move_to(lv, 0);
		return true;
	case ACT_BOTTOM:
		move_to(lv, (long)lv->n_order - 1);
		return true;
	case ACT_PAGE_DOWN:
		move_to(lv, sel + page);
		return true;
	case ACT_PAGE_UP:
		move_to(lv, sel - page);
		return true;
	case ACT_SORT:
		/* s cycles: column 0 ascending, descending, column 1 ascending, ... */
		if (lv->sort_col >= 0 && !lv->sort_desc) {
			lv->sort_desc = true;
		} else {
			lv->sort_desc = false;
			lv->sort_col = (lv->sort_col + 1) % (int)lv->src.ncols;
		}
		rebuild_order(lv);
		return true;
	default:
		return false;
	}
}

const char *listview_sort_title(const struct listview *lv)
{
	return lv->sort_col >= 0 ? lv->src.cols[lv->sort_col].title : "";
}

/* Column widths for the space there is: natural widths; when too wide, optional columns go
 * first (width 0), then the others shrink toward their title's width (widest first), then the
 * flexible column (names) down to 12, then anything. A flexible column takes any spare room. */
static void layout(const struct listview *lv, int avail, int *out)
{
	int nc = (int)lv->src.ncols;
	int total = 0, shown = 0;
	for (int c = 0; c < nc; c++) {
		out[c] = lv->widths[c];
		total += out[c];
		shown++;
	}
	total += 2 * (shown - 1);
	for (int c = nc - 1; c >= 0 && total > avail; c--) {
		if (lv->src.cols[c].optional) {
			total -= out[c] + 2;
			out[c] = 0;
		}
	}
	while (total > avail) {
		/* The widest column above its floor gives up a cell: names keep 16 cells, the
		 * others their title's width, before anything goes below that. */
		int victim = -1;
		for (int c = 0; c < nc; c++) {
			int floor = lv->src.cols[c].flexible
			                    ? 16
			                    : text_width(lv->src.cols[c].title) + 1;
			if (out[c] > floor && (victim < 0 || out[c] > out[victim])) {
				victim = c;
			}
		}
		for (int c = 0; victim < 0 && c < nc; c++) {
			if (out[c] > 3 && (victim < 0 || out[c] > out[victim])) {
				victim = c;
			}
		}
		if (victim < 0) {
			break;
		}
		out[victim]--;
		total--;
	}
	for (int c = 0; c < nc && total < avail; c++) {
		if (lv->src.cols[c].flexible) {
			out[c] += avail - total;
			total = avail;
		}
	}
}

static void draw_cells(const struct listview *lv, WINDOW *win, int y, int x, int w, const int *cw,
                       size_t row, bool header)
{
	char cell[CELL_MAX];
	int col_x = x;
	for (size_t c = 0; c < lv->src.ncols && col_x < x + w; c++) {
		if (cw[c] == 0) {
			continue; /* dropped for lack of room */
		}
		if (header) {
			const char *arrow =
			        (int)c == lv->sort_col ? (lv->sort_desc ? "▼" : "▲") : "";
			snprintf(cell, sizeof(cell), "%s%s", lv->src.cols[c].title, arrow);
		} else {
			lv->src.cell(lv->src.ud, row, c, cell, sizeof(cell));
		}
		int width = cw[c];
		if (col_x + width > x + w) {
			width = x + w - col_x;
		}
		char *safe = text_sanitize(cell, false);
		char *fit = lv->src.cols[c].middle && !header
		                    ? text_fit_middle(safe, width)
		                    : text_fit(safe, width, lv->src.cols[c].right && !header);
		mvwaddstr(win, y, col_x, fit);
		free(fit);
		free(safe);
		col_x += cw[c];
		if (c + 1 < lv->src.ncols && col_x + 2 <= x + w) {
			mvwaddstr(win, y, col_x, "  ");
			col_x += 2;
		}
	}
	/* Fill the rest of the line so the row's colours span it. */
	for (; col_x < x + w; col_x++) {
		mvwaddch(win, y, col_x, ' ');
	}
}

void listview_draw(struct listview *lv, WINDOW *win, int y, int x, int h, int w)
{
	if (h < 2 || w < 4) {
		return;
	}
	int cw[64];
	size_t nc = lv->src.ncols < 64 ? lv->src.ncols : 64;
	layout(lv, w, cw);
	(void)nc;
	wattrset(win, palette_attr(SLOT_HEADER));
	draw_cells(lv, win, y, x, w, cw, 0, true);
	int rows = h - 1;
	lv->page_rows = rows;
	if (lv->selected >= lv->n_order) {
		lv->selected = lv->n_order ? lv->n_order - 1 : 0;
	}
	if (lv->selected < lv->top) {
		lv->top = lv->selected;
	}
	if (lv->selected >= lv->top + (size_t)rows) {
		lv->top = lv->selected - (size_t)rows + 1;
	}
	if (lv->top + (size_t)rows > lv->n_order && lv->n_order >= (size_t)rows) {
		lv->top = lv->n_order - (size_t)rows;
	}
	for (int i = 0; i < rows; i++) {
		size_t pos = lv->top + (size_t)i;
		if (pos >= lv->n_order) {
			wattrset(win, palette_attr(SLOT_NORMAL));
			wmove(win, y + 1 + i, x);
			for (int k = 0; k < w; k++) {
				waddch(win, ' ');
			}
			continue;
		}
		size_t row = lv->order[pos];
		enum theme_slot slot = lv->src.slot ? lv->src.slot(lv->src.ud, row) : SLOT_NORMAL;
		wattrset(win, palette_attr(pos == lv->selected ? SLOT_SELECTED : slot));
		draw_cells(lv, win, y + 1 + i, x, w, cw, row, false);
	}
	wattrset(win, palette_attr(SLOT_NORMAL));
}
