/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-table.h"
#include "ctl-util.h"

/* A reply is bounded by sd-varlink's message limit; this only guards the arithmetic. */
#define TABLE_CELLS_MAX (1024u * 1024u)

typedef struct Cell {
        char *text;
        size_t width;
        const char *color;
} Cell;

struct Table {
        size_t n_columns;
        char **headers;
        size_t *max_width;
        Cell *cells;
        size_t n_cells;
        size_t n_allocated;
};

Table *table_free(Table *t) {
        if (!t)
                return NULL;

        for (size_t i = 0; i < t->n_columns; i++)
                free(t->headers ? t->headers[i] : NULL);
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i].text);
        free(t->headers);
        free(t->max_width);
        free(t->cells);
        free(t);
        return NULL;
}

int table_new(Table **ret, size_t n_columns, const char *const *headers) {
        _cleanup_(table_freep) Table *t = NULL;

        if (n_columns == 0)
                return -EINVAL;

        t = calloc(1, sizeof(Table));
        if (!t)
                return -ENOMEM;
        t->n_columns = n_columns;
        t->headers = calloc(n_columns, sizeof(char *));
        t->max_width = calloc(n_columns, sizeof(size_t));
        if (!t->headers || !t->max_width)
                return -ENOMEM;

        for (size_t i = 0; i < n_columns; i++) {
                t->headers[i] = strdup(headers[i]);
                if (!t->headers[i])
                        return -ENOMEM;
                t->max_width[i] = TEXT_MAX;
        }

        *ret = TAKE_PTR(t);
        return 0;
}

void table_set_max_width(Table *t, size_t column, size_t width) {
        if (column < t->n_columns && width > 0)
                t->max_width[column] = width;
}

int table_add(Table *t, const char *text, const char *color) {
        char buf[TEXT_MAX];
        size_t width;
        Cell *c;

        if (t->n_cells >= TABLE_CELLS_MAX)
                return -E2BIG;

        if (t->n_cells == t->n_allocated) {
                size_t n = t->n_allocated ? t->n_allocated * 2 : 64;

                c = reallocarray(t->cells, n, sizeof(Cell));
                if (!c)
                        return -ENOMEM;
                t->cells = c;
                t->n_allocated = n;
        }

        width = text_clean(buf, sizeof buf, text ?: "-", t->max_width[t->n_cells % t->n_columns]);

        c = t->cells + t->n_cells;
        c->text = strdup(buf);
        if (!c->text)
                return -ENOMEM;
        c->width = width;
        c->color = color;
        t->n_cells++;
        return 0;
}

int table_addf(Table *t, const char *color, const char *format, ...) {
        char buf[TEXT_MAX];
        va_list ap;

        va_start(ap, format);
        /* Truncation is fine: table_add() bounds the cell anyway. */
        (void) vsnprintf(buf, sizeof buf, format, ap);
        va_end(ap);

        return table_add(t, buf, color);
}

size_t table_rows(const Table *t) {
        return t->n_cells / t->n_columns;
}

static void print_cell(FILE *f, const char *text, size_t width, const char *color, size_t column_width, bool last) {
        bool colored = color && colors_enabled();

        if (colored)
                fputs(color, f);
        fputs(text, f);
        if (colored)
                fputs(ANSI_NORMAL, f);

        /* No trailing blanks after the last column. */
        if (last)
                return;
        for (size_t i = width; i < column_width + 2; i++)
                fputc(' ', f);
}

int table_print(Table *t, FILE *f, bool header, const char *indent) {
        _cleanup_free_ size_t *widths = NULL;
        size_t n_rows = table_rows(t);

        widths = calloc(t->n_columns, sizeof(size_t));
        if (!widths)
                return -ENOMEM;

        for (size_t col = 0; col < t->n_columns; col++) {
                if (header)
                        widths[col] = text_width(t->headers[col]);
                for (size_t row = 0; row < n_rows; row++) {
                        const Cell *c = t->cells + row * t->n_columns + col;

                        if (c->width > widths[col])
                                widths[col] = c->width;
                }
        }

        if (header) {
                fputs(indent ?: "", f);
                for (size_t col = 0; col < t->n_columns; col++)
                        print_cell(f, t->headers[col], text_width(t->headers[col]), ANSI_BOLD, widths[col],
                                   col + 1 == t->n_columns);
                fputc('\n', f);
        }

        for (size_t row = 0; row < n_rows; row++) {
                fputs(indent ?: "", f);
                for (size_t col = 0; col < t->n_columns; col++) {
                        const Cell *c = t->cells + row * t->n_columns + col;

                        print_cell(f, c->text, c->width, c->color, widths[col], col + 1 == t->n_columns);
                }
                fputc('\n', f);
        }

        return 0;
}
