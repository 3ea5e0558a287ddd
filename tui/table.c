/* table.c: see table.h. */
#include "table.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "util.h"

struct table {
	size_t ncols;
	char **headers;
	bool *right;
	int *width;
	char **cells; /* rows * ncols, sanitised */
	size_t rows, cap;
};

struct table *table_create(size_t ncols, const char *const *headers)
{
	struct table *t = xcalloc(1, sizeof(*t));
	t->ncols = ncols;
	t->headers = xcalloc(ncols, sizeof(char *));
	t->right = xcalloc(ncols, sizeof(bool));
	t->width = xcalloc(ncols, sizeof(int));
	for (size_t i = 0; i < ncols; i++) {
		const char *h = headers[i];
		if (h[0] == '>') {
			t->right[i] = true;
			h++;
		}
		t->headers[i] = xstrdup(h);
		t->width[i] = text_width(h);
	}
	return t;
}

void table_add_row(struct table *t, const char *const *cells)
{
	if (t->rows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof(char *));
	}
	for (size_t i = 0; i < t->ncols; i++) {
		char *c = text_sanitize(cells[i] ? cells[i] : "-", false);
		int w = text_width(c);
		if (w > t->width[i]) {
			t->width[i] = w;
		}
		t->cells[t->rows * t->ncols + i] = c;
	}
	t->rows++;
}

static void print_row(const struct table *t, char *const *cells, FILE *out)
{
	for (size_t i = 0; i < t->ncols; i++) {
		bool last = i + 1 == t->ncols;
		int pad = t->width[i] - text_width(cells[i]);
		if (t->right[i]) {
			fprintf(out, "%*s%s", pad, "", cells[i]);
		} else {
			fputs(cells[i], out);
			if (!last) {
				fprintf(out, "%*s", pad, "");
			}
		}
		fputs(last ? "\n" : "  ", out);
	}
}

void table_print(const struct table *t, FILE *out)
{
	print_row(t, t->headers, out);
	for (size_t r = 0; r < t->rows; r++) {
		print_row(t, &t->cells[r * t->ncols], out);
	}
}

void table_destroy(struct table *t)
{
	if (!t) {
		return;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		free(t->headers[i]);
	}
	for (size_t i = 0; i < t->rows * t->ncols; i++) {
		free(t->cells[i]);
	}
	free(t->headers);
	free(t->right);
	free(t->width);
	free(t->cells);
	free(t);
}
