/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "macro.h"

/* A table for people: column widths come from the data, cells are cleaned for the terminal and
 * bounded, and a cell may carry a colour (printed only when colours are on). */
typedef struct Table Table;

/* headers: n_columns names. */
int table_new(Table **ret, size_t n_columns, const char *const *headers);
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);

/* Cap a column's width (in columns); longer cells end in an ellipsis. */
void table_set_max_width(Table *t, size_t column, size_t width);

/* Cells fill the table row by row; NULL shows as "-", "" as a blank. color is an ANSI_* or NULL. */
int table_add(Table *t, const char *text, const char *color);
int table_addf(Table *t, const char *color, const char *format, ...) _printf_(3, 4);

size_t table_rows(const Table *t);
int table_print(Table *t, FILE *f, bool header, const char *indent);
