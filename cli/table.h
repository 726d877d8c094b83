/* table: tables printed by `omero` commands in OMERO's output styles (--style):
 *   sql   (default) " id | name " rows, a "----+------" rule and "(N rows)";
 *   csv   a header line then one CSV row per line;
 *   plain CSV rows without the header;
 *   json  an array of objects whose values are the cells as strings. */
#ifndef CLI_TABLE_H
#define CLI_TABLE_H
#include <stdio.h>

typedef enum { CLI_STYLE_SQL, CLI_STYLE_CSV, CLI_STYLE_PLAIN, CLI_STYLE_JSON } cli_style_t;

typedef struct cli_table_t cli_table_t;

/* Create a table with the given column headers (a NULL-terminated list). */
cli_table_t *cli_table_new (const char *const *headers);
/* Free a table and set *self to NULL. */
void cli_table_destroy (cli_table_t **self);
/* Parse a style name (sql, csv, plain, json); -1 if unknown. */
int cli_style_parse (const char *name, cli_style_t *style);
/* The message OMERO prints for an unknown --style value (a static string). */
const char *cli_style_choices (void);
/* Choose the output style (default sql). */
void cli_table_set_style (cli_table_t *self, cli_style_t style);
/* Column alignment, one character per column: 'r' right, anything else left (the default). */
void cli_table_set_align (cli_table_t *self, const char *align);
/* Mark the table as one page of a longer listing: "(N rows, starting at OFFSET of approx. TOTAL)". */
void cli_table_page (cli_table_t *self, long long offset, long long limit, long long total);
/* Append a row of cells (a list of as many strings as columns; NULL cells print as ""). */
void cli_table_add (cli_table_t *self, const char *const *cells);
/* Append a row given as printf-free varargs: exactly one const char * per column. */
void cli_table_row (cli_table_t *self, ...);
/* Number of rows. */
int cli_table_rows (const cli_table_t *self);
/* Render the whole table in its style as a malloc'ed string (no trailing newline). */
char *cli_table_render (const cli_table_t *self);
/* Print the table followed by a newline. */
void cli_table_print (const cli_table_t *self, FILE *out);
#endif
