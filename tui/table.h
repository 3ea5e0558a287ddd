/* table.h: aligned plain-text tables, like `kubectl get` prints them. Cells are sanitised for the
 * terminal and measured in display columns (Hangul counts two). */
#ifndef LABDECK_TABLE_H
#define LABDECK_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct table;

/* table_create takes the column headers; a header starting with '>' is right-aligned (the '>' is
 * not printed). */
struct table *table_create(size_t ncols, const char *const *headers);
/* table_add_row appends a row of ncols cells (NULL prints as "-"); the cells are copied. */
void table_add_row(struct table *t, const char *const *cells);
/* table_print writes the table with two spaces between columns; the last column is not padded. */
void table_print(const struct table *t, FILE *out);
void table_destroy(struct table *t);

#endif
