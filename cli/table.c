/* table: OMERO's text table styles (omero.util.text: sql, csv, plain, json) for CLI listings. */
#include "table.h"
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct cli_table_t {
    int ncols;
    char **headers;
    char *align;            /* per column 'r' or 'l' */
    char ***rows;           /* rows[i][c] */
    int nrows, cap;
    cli_style_t style;
    bool paged;
    long long offset, limit, total;
};

cli_table_t *
cli_table_new (const char *const *headers)
{
    cli_table_t *t = calloc (1, sizeof *t);
    if (!t)
        return NULL;
    while (headers[t->ncols])
        t->ncols++;
    t->headers = calloc ((size_t) t->ncols + 1, sizeof (char *));
    t->align = calloc ((size_t) t->ncols + 1, 1);
    for (int c = 0; c < t->ncols; c++) {
        t->headers[c] = strdup (headers[c]);
        t->align[c] = 'l';
    }
    return t;
}

void
cli_table_destroy (cli_table_t **self)
{
    if (!self || !*self)
        return;
    cli_table_t *t = *self;
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++)
            free (t->rows[r][c]);
        free (t->rows[r]);
    }
    free (t->rows);
    for (int c = 0; c < t->ncols; c++)
        free (t->headers[c]);
    free (t->headers);
    free (t->align);
    free (t);
    *self = NULL;
}

int
cli_style_parse (const char *name, cli_style_t *style)
{
    static const char *names[] = {"sql", "csv", "plain", "json"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp (name, names[i]) == 0) {
            *style = (cli_style_t) i;
            return 0;
        }
    return -1;
}

const char *
cli_style_choices (void)
{
    return "choose from:\n\tcsv, json, plain, sql";
}

void
cli_table_set_style (cli_table_t *self, cli_style_t style)
{
    self->style = style;
}

void
cli_table_set_align (cli_table_t *self, const char *align)
{
    for (int c = 0; c < self->ncols; c++)
        self->align[c] = (align && c < (int) strlen (align) && align[c] == 'r') ? 'r' : 'l';
}

void
cli_table_page (cli_table_t *self, long long offset, long long limit, long long total)
{
    self->paged = true;
    self->offset = offset;
    self->limit = limit;
    self->total = total;
}

void
cli_table_add (cli_table_t *self, const char *const *cells)
{
    if (self->nrows == self->cap) {
        int cap = self->cap ? self->cap * 2 : 16;
        char ***n = realloc (self->rows, (size_t) cap * sizeof *n);
        if (!n)
            return;
        self->rows = n;
        self->cap = cap;
    }
    char **row = calloc ((size_t) self->ncols, sizeof (char *));
    if (!row)
        return;
    for (int c = 0; c < self->ncols; c++)
        row[c] = strdup (cells[c] ? cells[c] : "");
    self->rows[self->nrows++] = row;
}

void
cli_table_row (cli_table_t *self, ...)
{
    const char **cells = calloc ((size_t) self->ncols + 1, sizeof (char *));
    if (!cells)
        return;
    va_list ap;
    va_start (ap, self);
    for (int c = 0; c < self->ncols; c++)
        cells[c] = va_arg (ap, const char *);
    va_end (ap);
    cli_table_add (self, cells);
    free (cells);
}

int
cli_table_rows (const cli_table_t *self)
{
    return self->nrows;
}

/* Display width of a UTF-8 string: code points, as Python's str formatting counts them. */
static int
width (const char *s)
{
    int n = 0;
    for (; *s; s++)
        if (((unsigned char) *s & 0xC0) != 0x80)
            n++;
    return n;
}

static void
cell (FILE *f, const char *s, int w, char align)
{
    int pad = w - width (s);
    fputc (' ', f);
    if (align == 'r')
        for (int i = 0; i < pad; i++)
            fputc (' ', f);
    fputs (s, f);
    if (align != 'r')
        for (int i = 0; i < pad; i++)
            fputc (' ', f);
    fputc (' ', f);
}

/* A CSV field, quoted when it holds a comma, quote or line break (Python csv QUOTE_MINIMAL). */
static void
csv_field (FILE *f, const char *s)
{
    if (!strpbrk (s, ",\"\r\n")) {
        fputs (s, f);
        return;
    }
    fputc ('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc ('"', f);
        fputc (*s, f);
    }
    fputc ('"', f);
}

static void
render_sql (const cli_table_t *t, FILE *f)
{
    int *w = calloc ((size_t) t->ncols + 1, sizeof (int));
    for (int c = 0; c < t->ncols; c++) {
        w[c] = width (t->headers[c]);
        for (int r = 0; r < t->nrows; r++)
            if (width (t->rows[r][c]) > w[c])
                w[c] = width (t->rows[r][c]);
    }
    for (int c = 0; c < t->ncols; c++) {
        if (c)
            fputc ('|', f);
        cell (f, t->headers[c], w[c], t->align[c]);
    }
    fputc ('\n', f);
    for (int c = 0; c < t->ncols; c++) {
        if (c)
            fputc ('+', f);
        for (int i = 0; i < w[c] + 2; i++)
            fputc ('-', f);
    }
    fputc ('\n', f);
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            if (c)
                fputc ('|', f);
            cell (f, t->rows[r][c], w[c], t->align[c]);
        }
        fputc ('\n', f);
    }
    fprintf (f, "(%d %s", t->nrows, t->nrows == 1 ? "row" : "rows");
    if (t->paged)
        fprintf (f, ", starting at %lld of approx. %lld", t->offset, t->total);
    fputc (')', f);
    free (w);
}

static void
render_csv (const cli_table_t *t, FILE *f, bool header)
{
    bool first = true;
    if (header) {
        for (int c = 0; c < t->ncols; c++)
            fprintf (f, "%s%s", c ? "," : "", t->headers[c]);
        first = false;
    }
    for (int r = 0; r < t->nrows; r++) {
        if (!first)
            fputc ('\n', f);
        first = false;
        for (int c = 0; c < t->ncols; c++) {
            if (c)
                fputc (',', f);
            csv_field (f, t->rows[r][c]);
        }
    }
}

static void
render_json (const cli_table_t *t, FILE *f)
{
    if (t->nrows == 0) {
        fputs ("[]", f);
        return;
    }
    for (int r = 0; r < t->nrows; r++) {
        json_t *o = json_object ();
        for (int c = 0; c < t->ncols; c++)
            json_object_set_new (o, t->headers[c], json_string (t->rows[r][c]));
        /* Python's json.dumps separators (", " and ": ") and ASCII escapes. */
        char *s = json_dumps (o, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_INDENT (0));
        json_decref (o);
        /* Python writes \u escapes in lower case. */
        for (char *e = s; e && *e; e++)
            if (*e == '\\') {
                if (e[1] == 'u')
                    for (int k = 2; k < 6 && e[k]; k++)
                        e[k] = (char) tolower ((unsigned char) e[k]);
                if (e[1])
                    e++;
            }
        fprintf (f, "%s%s%s", r == 0 ? "[" : "", s ? s : "{}", r == t->nrows - 1 ? "]" : ",\n");
        free (s);
    }
}

char *
cli_table_render (const cli_table_t *self)
{
    char *data = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&data, &len);
    if (!f)
        return NULL;
    switch (self->style) {
    case CLI_STYLE_SQL:
        render_sql (self, f);
        break;
    case CLI_STYLE_CSV:
        render_csv (self, f, true);
        break;
    case CLI_STYLE_PLAIN:
        render_csv (self, f, false);
        break;
    case CLI_STYLE_JSON:
        render_json (self, f);
        break;
    }
    fclose (f);
    return data;
}

void
cli_table_print (const cli_table_t *self, FILE *out)
{
    char *s = cli_table_render (self);
    if (s) {
        fputs (s, out);
        if (*s)
            fputc ('\n', out);
        free (s);
    }
}
