/* hql: `omero hql` — run an HQL query with IQuery.projection and print the rows as OMERO's CLI
 * does: a single object per row as "Class | Id | field…" columns, other rows as Col1…ColN. */
#include "obj.h"
#include "sessions.h"
#include "table.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *usage_text =
    "usage: omero hql [-h] [-q] [--limit LIMIT] [--offset OFFSET] [--admin] [--all]\n"
    "                 [--style {csv,json,plain,sql}] [login arguments] [query]\n";

static const char *help_text =
    "Executes an HQL query against the server\n\n"
    "Positional Arguments:\n"
    "  query                 Single query to run (read from stdin when absent)\n\n"
    "Optional Arguments:\n"
    "  -h, --help            show this help message and exit\n"
    "  -q, --quiet           No user input\n"
    "  --limit LIMIT         Maximum number of return values (default 25)\n"
    "  --offset OFFSET       Number of entries to skip\n"
    "  --admin               Run an admin query (deprecated; use --all)\n"
    "  --all                 Perform query on all groups\n"
    "  --style {csv,json,plain,sql}\n"
    "                        use alternative output style (default=sql)\n\n"
    "Examples:\n"
    "  omero hql -q --limit=10 \"select name from OriginalFile where id=4106\"\n"
    "  omero hql -q \"select id, textValue from TagAnnotation a order by a.id desc\"\n"
    "  omero hql \"select p from Project p where p.details.owner.omeName = 'root'\"\n";

typedef struct {
    const char *query;
    long limit, offset;
    bool quiet, all;
    cli_style_t style;
} hargs_t;

static int
usage_error (const char *fmt, const char *arg)
{
    fputs (usage_text, stderr);
    fprintf (stderr, "omero hql: error: ");
    fprintf (stderr, fmt, arg);
    fputc ('\n', stderr);
    return 2;
}

/* A long option value: "--limit N" or "--limit=N". 1 taken, 0 not this option, -1 bad. */
static int
long_opt (int argc, char **argv, int *i, const char *name, long *out)
{
    size_t n = strlen (name);
    const char *v = NULL;
    if (!strcmp (argv[*i], name)) {
        if (*i + 1 >= argc)
            return -1;
        v = argv[++*i];
    } else if (!strncmp (argv[*i], name, n) && argv[*i][n] == '=')
        v = argv[*i] + n + 1;
    else
        return 0;
    char *end;
    *out = strtol (v, &end, 10);
    return *v && !*end && *out >= 0 ? 1 : -1;
}

/* The cells of a result row and, for a single object, its field columns. */
static void
object_columns (json_t *obj, char ***names, int *n)
{
    const char *k;
    json_t *v;
    json_object_foreach (obj, k, v) {
        if (k[0] == '@' || strchr (k, ':') || json_is_array (v))
            continue;
        const char *name = k;
        bool dup = false;
        for (int i = 0; i < *n && !dup; i++)
            dup = !strcmp ((*names)[i], name);
        if (dup)
            continue;
        *names = realloc (*names, (*n + 1) * sizeof **names);
        (*names)[(*n)++] = strdup (name);
    }
}

static int
cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Print the rows: OMERO's "#", then Class/Id/fields for single-object rows or Col1..ColN. */
static void
display (json_t *rows, const hargs_t *h)
{
    size_t nrows = json_array_size (rows), i;
    json_t *row;
    bool objects = nrows > 0;
    int ncols = 0;
    json_array_foreach (rows, i, row) {
        if (!(json_array_size (row) == 1 && json_is_object (json_array_get (row, 0))
              && json_object_get (json_array_get (row, 0), "@id")))
            objects = false;
        if ((int) json_array_size (row) > ncols)
            ncols = (int) json_array_size (row);
    }
    char **fields = NULL;
    int nfields = 0;
    if (objects) {
        json_array_foreach (rows, i, row)
            object_columns (json_array_get (row, 0), &fields, &nfields);
        qsort (fields, nfields, sizeof *fields, cmp_str);
    }
    int nh = objects ? 3 + nfields : 1 + ncols;
    const char **headers = calloc (nh + 1, sizeof *headers);
    char **own = calloc (nh + 1, sizeof *own);
    headers[0] = "#";
    if (objects) {
        headers[1] = "Class";
        headers[2] = "Id";
        for (int k = 0; k < nfields; k++)
            headers[3 + k] = fields[k];
    } else
        for (int k = 0; k < ncols; k++) {
            own[k] = malloc (16);
            snprintf (own[k], 16, "Col%d", k + 1);
            headers[1 + k] = own[k];
        }
    cli_table_t *t = cli_table_new (headers);
    cli_table_set_style (t, h->style);
    json_array_foreach (rows, i, row) {
        char **cells = calloc (nh + 1, sizeof *cells);
        char idx[32];
        snprintf (idx, sizeof idx, "%ld", h->offset + (long) i);
        cells[0] = strdup (idx);
        if (objects) {
            json_t *o = json_array_get (row, 0);
            char cls[160], id[32];
            snprintf (cls, sizeof cls, "%sI", cli_obj_class (o));
            snprintf (id, sizeof id, "%lld", (long long) json_integer_value (json_object_get (o, "@id")));
            cells[1] = strdup (cls);
            cells[2] = strdup (id);
            for (int f = 0; f < nfields; f++)
                cells[3 + f] = cli_obj_value_text (json_object_get (o, fields[f]), true);
        } else
            for (int k = 0; k < ncols; k++)
                cells[1 + k] = cli_obj_value_text (json_array_get (row, k), true);
        cli_table_add (t, (const char *const *) cells);
        for (int k = 0; k < nh; k++)
            free (cells[k]);
        free (cells);
    }
    cli_table_print (t, stdout);
    cli_table_destroy (&t);
    for (int k = 0; k < nfields; k++)
        free (fields[k]);
    free (fields);
    for (int k = 0; k < nh; k++)
        free (own[k]);
    free (own);
    free (headers);
}

/* Read the whole of stdin as the query. */
static char *
read_query (void)
{
    size_t cap = 1024, len = 0;
    char *buf = malloc (cap);
    size_t n;
    while ((n = fread (buf + len, 1, cap - len - 1, stdin)) > 0) {
        len += n;
        if (len + 1 >= cap)
            buf = realloc (buf, cap *= 2);
    }
    buf[len] = 0;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        buf[--len] = 0;
    return buf;
}

/* `omero hql`. */
int
cli_hql (cli_t *cli, int argc, char **argv)
{
    cli_login_args_t la = {0};
    hargs_t h = {.limit = 25, .style = CLI_STYLE_SQL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp (a, "-h") || !strcmp (a, "--help")) {
            fputs (usage_text, stdout);
            fputs ("\n", stdout);
            fputs (help_text, stdout);
            cli_login_help (stdout);
            return 0;
        }
        int r = long_opt (argc, argv, &i, "--limit", &h.limit);
        if (r == 0)
            r = long_opt (argc, argv, &i, "--offset", &h.offset);
        if (r < 0)
            return usage_error ("argument %s: expected a non-negative integer", a);
        if (r > 0)
            continue;
        if (!strcmp (a, "-q") || !strcmp (a, "--quiet")) {
            h.quiet = la.quiet = true;
            continue;
        }
        if (!strcmp (a, "--all") || !strcmp (a, "--admin")) {
            h.all = true;
            continue;
        }
        if (!strcmp (a, "--style") || !strncmp (a, "--style=", 8)) {
            const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v || cli_style_parse (v, &h.style) < 0)
                return usage_error ("%s", cli_style_choices ());
            continue;
        }
        r = cli_login_arg (&la, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (a[0] == '-' && a[1])
            return usage_error ("unrecognized arguments: %s", a);
        if (h.query)
            return usage_error ("unrecognized arguments: %s", a);
        h.query = a;
    }
    char *owned = NULL;
    if (!h.query || !strcmp (h.query, "-")) {
        if (isatty (STDIN_FILENO) && !h.query)
            return usage_error ("%s", "give a query (omero hql \"select p from Project p\")");
        h.query = owned = read_query ();
    }
    if (!*h.query) {
        free (owned);
        return usage_error ("%s", "the query is empty");
    }
    int rc = 0;
    omero_client_t *c = cli_session_client (cli, &la, &rc);
    if (!c) {
        free (owned);
        return rc;
    }
    for (;;) {
        json_t *args = json_pack ("{s:s,s:{},s:{s:I,s:I},s:s}", "query", h.query, "params", "filter", "offset",
                                  (json_int_t) h.offset, "limit", (json_int_t) h.limit, "fieldNames", "model");
        if (h.all)
            json_object_set_new (args, "group", json_integer (-1));
        omero_err_t err = {0};
        json_t *r = omero_client_call (c, "IQuery", "projection", args, &err);
        json_decref (args);
        if (!r) {
            rc = cli_fail_omero (&err);
            break;
        }
        json_t *rows = json_object_get (r, "data");
        display (rows, &h);
        long got = (long) json_array_size (rows);
        json_decref (r);
        /* OMERO pages interactively when a full page came back */
        if (h.quiet || got < h.limit || h.limit == 0 || !isatty (STDIN_FILENO) || !isatty (STDOUT_FILENO))
            break;
        char *answer = cli_prompt ("Load more? [y/N] ", false);
        bool more = answer && (answer[0] == 'y' || answer[0] == 'Y');
        free (answer);
        if (!more)
            break;
        h.offset += h.limit;
    }
    omero_client_destroy (&c);
    free (owned);
    return rc;
}
