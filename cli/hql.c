/* hql: `omero hql` — run HQL queries with IQuery.projection and print the rows as OMERO's CLI
 * does: a single object per row as "Class | Id | field…" columns (empty fields and collections
 * left out, details as "owner=N;group=M"), other rows as Col1…ColN. Without a query it reads
 * queries, one per line, until an empty one. */
#include "obj.h"
#include "sessions.h"
#include "usage.h"
#include "table.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *usage_text =
    "usage: omero hql [-h] [--admin] [--all] [--ids-only] [--limit LIMIT] [--offset OFFSET]\n"
    "                 [--style {csv,json,plain,sql}] [login arguments] [query]\n";

static const char *help_text =
    "Executes an HQL statement with the given parameters\n\n"
    "If no query is given, then a shell is opened which will run any entered query\n"
    "with the current parameters.\n\n"
    "Positional Arguments:\n"
    "  query                 Single query to run\n\n"
    "Optional Arguments:\n"
    "  -h, --help            show this help message and exit\n"
    "  --admin               Run an admin query (deprecated; use 'all')\n"
    "  --all                 Perform query on all groups\n"
    "  --ids-only            Show only the ids of returned objects\n"
    "  --limit LIMIT         maximum number of return values (default=25)\n"
    "  --offset OFFSET       number of entries to skip (default=0)\n"
    "  --style {csv,json,plain,sql}\n"
    "                        use alternative output style (default=sql)\n\n"
    "Examples:\n"
    "  omero hql -q --limit=10 \"select name from OriginalFile where id=4106\"\n"
    "  omero hql -q \"select id, textValue from TagAnnotation a order by a.id desc\"\n"
    "  omero hql \"select p from Project p where p.details.owner.omeName = 'root'\"\n";

typedef struct {
    const char *query;
    long limit, offset;
    bool quiet, all, ids_only;
    cli_style_t style;
} hargs_t;

static int
usage_error (const char *fmt, const char *arg)
{
    return cli_usage_error (usage_text, "hql", fmt, arg);
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
        if (json_is_null (v) || (json_is_string (v) && !*json_string_value (v)))
            continue;   /* OMERO leaves empty values out (0 and False stay) */
        bool dup = false;
        for (int i = 0; i < *n && !dup; i++)
            dup = !strcmp ((*names)[i], name);
        if (dup)
            continue;
        *names = realloc (*names, (*n + 1) * sizeof **names);
        (*names)[(*n)++] = strdup (name);
    }
}

/* OMERO's "owner=N;group=M" of an object's details, or NULL when it has neither. */
static char *
details_text (json_t *obj)
{
    json_t *d = json_object_get (obj, "omero:details");
    json_t *ow = json_object_get (json_object_get (d, "owner"), "@id");
    json_t *gr = json_object_get (json_object_get (d, "group"), "@id");
    if (!ow && !gr)
        return NULL;
    char buf[96], a[32] = "None", b[32] = "None";
    if (ow)
        snprintf (a, sizeof a, "%lld", (long long) json_integer_value (ow));
    if (gr)
        snprintf (b, sizeof b, "%lld", (long long) json_integer_value (gr));
    snprintf (buf, sizeof buf, "owner=%s;group=%s", a, b);
    return strdup (buf);
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
        if (h->ids_only || !(json_array_size (row) == 1 && json_is_object (json_array_get (row, 0))
                             && json_object_get (json_array_get (row, 0), "@id")))
            objects = false;
        if ((int) json_array_size (row) > ncols)
            ncols = (int) json_array_size (row);
    }
    char **fields = NULL;
    int nfields = 0;
    if (objects) {
        json_array_foreach (rows, i, row) {
            object_columns (json_array_get (row, 0), &fields, &nfields);
            char *dt = details_text (json_array_get (row, 0));
            bool dup = false;
            for (int k = 0; k < nfields && dt; k++)
                dup |= !strcmp (fields[k], "details");
            if (dt && !dup) {
                fields = realloc (fields, (nfields + 1) * sizeof *fields);
                fields[nfields++] = strdup ("details");
            }
            free (dt);
        }
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
                cells[3 + f] = !strcmp (fields[f], "details") && !json_object_get (o, "details")
                                   ? details_text (o)
                                   : cli_obj_value_text (json_object_get (o, fields[f]), true);
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

/* Run one query and print it; on a terminal, offer OMERO's paging and details prompts. */
static int
run_query (omero_client_t *c, hargs_t *h, bool loop)
{
    long offset = h->offset;
    json_t *rows = NULL;
    for (;;) {
        json_t *args = json_pack ("{s:s,s:{},s:{s:I,s:I},s:s,s:s}", "query", h->query, "params", "filter", "offset",
                                  (json_int_t) offset, "limit", (json_int_t) h->limit, "fieldNames", "model",
                                  "timestamps", "objects");
        if (h->all)
            json_object_set_new (args, "group", json_integer (-1));
        omero_err_t err = {0};
        json_t *r = omero_client_call (c, "IQuery", "projection", args, &err);
        json_decref (args);
        if (!r) {
            json_decref (rows);
            if (!strcmp (err.name, "SecurityViolation"))
                return h->all ? cli_die (53, "SecurityViolation: Current user is not an admin and cannot use '--admin'")
                              : cli_die (54, "SecurityViolation: %s", err.msg);
            if (!strcmp (err.name, "QueryException"))
                return cli_die (52, "Bad query: %s", err.msg);
            return cli_fail_omero (&err);
        }
        json_decref (rows);
        rows = json_incref (json_object_get (r, "data"));
        json_decref (r);
        hargs_t page = *h;
        page.offset = offset;
        display (rows, &page);
        if (h->quiet || !isatty (STDOUT_FILENO) || !isatty (STDIN_FILENO))
            break;
        char *answer = cli_prompt (loop ? "\nTo see details for object, enter line number.\nTo move ahead one page, "
                                          "enter 'p'\nTo re-display list, enter 'r'.\nTo quit, enter 'q' or just "
                                          "enter.\nTo run another query, press enter\n"
                                        : "\nTo see details for object, enter line number.\nTo move ahead one page, "
                                          "enter 'p'\nTo re-display list, enter 'r'.\nTo quit, enter 'q' or just "
                                          "enter.\n",
                                   false);
        char a = answer ? answer[0] : 0;
        long pick = answer && *answer ? strtol (answer, NULL, 10) : -1;
        bool digit = answer && *answer >= '0' && *answer <= '9';
        free (answer);
        if (!a || a == 'q' || a == 'Q')
            break;
        if (a == 'p' || a == 'P') {
            offset += h->limit;
            continue;
        }
        if (a == 'r' || a == 'R') {
            display (rows, &page);
            continue;
        }
        json_t *row = digit ? json_array_get (rows, (size_t) (pick - offset)) : NULL;
        json_t *o = json_array_size (row) == 1 ? json_array_get (row, 0) : NULL;
        if (!json_is_object (o) || !json_object_get (o, "@id")) {
            printf (digit && row ? "No details available: %ld\n" : "Invalid choice: %ld\n", pick);
            continue;
        }
        printf ("id = %lld\n", (long long) json_integer_value (json_object_get (o, "@id")));
        char **names = NULL;
        int n = 0;
        object_columns (o, &names, &n);
        qsort (names, n, sizeof *names, cmp_str);
        for (int k = 0; k < n; k++) {
            json_t *v = json_object_get (o, names[k]);
            char *val = cli_obj_value_text (v, true);
            printf (json_is_string (v) ? "%s = '%s'\n" : "%s = %s\n", names[k], val);
            free (val);
            free (names[k]);
        }
        free (names);
    }
    json_decref (rows);
    return 0;
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
            cli_usage_help (usage_text, help_text);
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
        if (!strcmp (a, "--ids-only")) {
            h.ids_only = true;
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
    if (!h.query && h.quiet)
        return cli_die (67, "Can't ask for query with --quiet option");
    int rc = 0;
    omero_client_t *c = cli_session_client (cli, &la, &rc);
    if (!c)
        return rc;
    if (h.query)
        rc = run_query (c, &h, false);
    else {
        /* the shell: one query per line until an empty one (or the end of input) */
        char *line = NULL;
        size_t cap = 0;
        bool tty = isatty (STDIN_FILENO);
        for (;;) {
            if (tty) {
                fputs ("Enter query:", stdout);
                fflush (stdout);
            }
            ssize_t n = getline (&line, &cap, stdin);
            if (n < 0)
                break;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = 0;
            if (!*line)
                break;
            h.query = line;
            rc = run_query (c, &h, true);
            if (rc)
                break;
        }
        free (line);
    }
    omero_client_destroy (&c);
    return rc;
}
