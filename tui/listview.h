/* listview.h: the one list engine every table view uses — selection, scrolling, incremental
 * filter, sort by column, column widths by display width, truncation with an ellipsis. A view
 * supplies rows through callbacks and only says what a cell holds. */
#ifndef LABDECK_LISTVIEW_H
#define LABDECK_LISTVIEW_H

#include <curses.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "theme.h"

struct list_column {
	const char *title;
	int max_width; /* 0: no cap */
	bool right;    /* right-aligned (numbers) */
	bool numeric;  /* sort by list_source.number */
	bool flexible; /* takes what is left; shrinks only after the others */
	bool optional; /* dropped first when the terminal is narrow (IP...) */
	int keep;      /* width kept as long as others can still shrink (STATUS) */
	bool middle;   /* cut in the middle, not at the end (pod names end in their identity) */
};

struct list_source {
	const struct list_column *cols;
	size_t ncols;
	size_t (*count)(void *ud);
	/* cell writes the display text (unsanitised is fine: it is sanitised when drawn). */
	void (*cell)(void *ud, size_t row, size_t col, char *buf, size_t size);
	/* number: the sort value of a numeric column. */
	double (*number)(void *ud, size_t row, size_t col);
	/* slot: the theme slot of a row (dim for stopped guests...); NULL: normal. */
	enum theme_slot (*slot)(void *ud, size_t row);
	/* key: a stable identity, so the selection survives refreshes and re-sorts. */
	void (*key)(void *ud, size_t row, char *buf, size_t size);
	void *ud;
};

struct listview {
	struct list_source src;
	size_t *order; /* visible rows (filtered, sorted), indexes into the source */
	size_t n_order, cap_order;
	char **search; /* lower-cased row text for filtering, one per source row */
	size_t n_search;
	int *widths; /* natural width per column */
	size_t selected, top;
	int sort_col; /* -1: the source's order */
	bool sort_desc;
	char filter[256];
	char selected_key[256];
	int page_rows; /* rows shown at the last draw */
};

void listview_init(struct listview *lv, const struct list_source *src);
void listview_finish(struct listview *lv);
/* listview_data_changed re-reads the source (after new data): search text, widths, order. */
void listview_data_changed(struct listview *lv);
/* listview_set_filter applies a filter (case-insensitive substring of any cell). */
void listview_set_filter(struct listview *lv, const char *filter);
/* listview_handle moves the selection or sorts; true when the action was a list action. */
bool listview_handle(struct listview *lv, enum action a);
/* listview_selected: the source row under the cursor, or (size_t)-1 when empty. */
size_t listview_selected(const struct listview *lv);
/* listview_draw draws the header and the rows into w at (y, x) with h rows and w columns. */
void listview_draw(struct listview *lv, WINDOW *win, int y, int x, int h, int w);
/* listview_sort_name: "NAME ▲" of the sort column for the title, or "". */
const char *listview_sort_title(const struct listview *lv);

#endif
