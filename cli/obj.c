/* obj: `omero obj new|update|null|get|list-get|map-get|map-set` — create, change and read any
 * model object through IUpdate and IQuery as OMERO's CLI does, printing "Class:ID" lines so that
 * commands can be piped together; `--file FILE` ("-" = stdin) runs one command per line, where
 * "name = command" keeps a result and "field@=N" / "field@=name" refers to an earlier one. */
#include "obj.h"
#include "sessions.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXPOS 256

static const char *usage_text =
    "usage: omero obj [-h] [login arguments] [--file FILE]\n"
    "                 [{new,update,null,map-get,map-set,get,list-get}] [Class] [fields ...]\n";

static const char *help_text =
    "Create, Update and Query OMERO objects\n\n"
    "The obj command allows inserting any objects into the OMERO database as well as updating and\n"
    "querying existing ones. This is likely useful for preparing datasets for import and similar.\n\n"
    "Examples:\n\n"
    "    $ omero obj new Dataset name=foo\n"
    "    Dataset:123\n"
    "    $ omero obj update Dataset:123 description=bar\n"
    "    Dataset:123\n"
    "    $ omero obj get Dataset:123 name\n"
    "    foo\n"
    "    $ omero obj get Dataset:123\n"
    "    description=bar\n"
    "    id=123\n"
    "    name=foo\n"
    "    version=0\n"
    "    $ omero obj null Dataset:123 description\n"
    "    Dataset:123\n"
    "    $ omero obj new MapAnnotation ns=example.com\n"
    "    MapAnnotation:456\n"
    "    $ omero obj map-set MapAnnotation:456 mapValue foo bar\n"
    "    MapAnnotation:456\n"
    "    $ omero obj map-set MapAnnotation:456 mapValue foo\n"
    "    MapAnnotation:456\n"
    "    $ omero obj map-get MapAnnotation:456 mapValue foo\n"
    "    None\n"
    "    $ omero obj get MapAnnotation:456 mapValue\n"
    "    (fu,baa)\n"
    "    $ omero obj list-get MapAnnotation:456 mapValue 0\n"
    "    (fu,baa)\n\n"
    "Bash examples:\n\n"
    "    $ project=$(omero obj new Project name='my Project')\n"
    "    $ dataset=$(omero obj new Dataset name='my Dataset')\n"
    "    $ omero obj new ProjectDatasetLink parent=$project child=$dataset\n"
    "    ProjectDatasetLink:456\n\n"
    "Several commands, one per line, from a file or stdin (--file -); \"name = command\" keeps a\n"
    "result and \"field@=name\" or \"field@=N\" (the N-th command, from 0) uses it:\n\n"
    "    $ omero obj --file - <<EOF\n"
    "    p = new Project name=p\n"
    "    new Dataset name=d\n"
    "    new ProjectDatasetLink parent@=p child@=1\n"
    "    EOF\n\n"
    "Positional Arguments:\n"
    "  {new,update,null,map-get,map-set,get,list-get}\n"
    "                        operation to be performed\n"
    "  Class                 OMERO model object name, e.g. Project\n"
    "  fields                fields to be set, e.g. name=foo\n\n"
    "Optional Arguments:\n"
    "  -h, --help            show this help message and exit\n";

/* ---- shared formatting ---------------------------------------------------------------------- */

const char *
cli_obj_class (const json_t *obj)
{
    const char *t = json_string_value (json_object_get (obj, "@type"));
    if (!t)
        return "Object";
    const char *h = strrchr (t, '#');
    if (h)
        return !strcmp (h + 1, "ROI") ? "Roi" : h + 1;     /* the OME schema's ROI is OMERO's Roi */
    const char *d = strrchr (t, '.');
    return d ? d + 1 : t;
}

/* A double as Python prints it (1.0, 0.17, 1e-05). */
static void
py_float (double d, char *buf, size_t len)
{
    snprintf (buf, len, "%.17g", d);
    for (int prec = 1; prec <= 17; prec++) {      /* the shortest text that reads back the same */
        snprintf (buf, len, "%.*g", prec, d);
        if (strtod (buf, NULL) == d)
            break;
    }
    if (!strpbrk (buf, ".eninf"))
        strncat (buf, ".0", len - strlen (buf) - 1);
}

char *
cli_obj_value_text (const json_t *v, bool ice_names)
{
    char buf[512];
    if (!v || json_is_null (v))
        return strdup ("");
    if (json_is_string (v))
        return strdup (json_string_value (v));
    if (json_is_integer (v))
        snprintf (buf, sizeof buf, "%lld", (long long) json_integer_value (v));
    else if (json_is_real (v))
        py_float (json_real_value (v), buf, sizeof buf);
    else if (json_is_boolean (v))
        snprintf (buf, sizeof buf, "%s", json_is_true (v) ? "True" : "False");
    else if (json_is_object (v) && !strcmp (json_string_value (json_object_get (v, "@type")) ? json_string_value (json_object_get (v, "@type")) : "", "rtime")) {
        /* a time, as Python's time.ctime prints it (local time) */
        time_t t = (time_t) (json_integer_value (json_object_get (v, "value")) / 1000);
        struct tm tm;
        localtime_r (&t, &tm);
        strftime (buf, sizeof buf, "%a %b %e %H:%M:%S %Y", &tm);
    } else if (json_is_object (v) && json_object_get (v, "@id"))
        snprintf (buf, sizeof buf, "%s%s:%lld", cli_obj_class (v), ice_names ? "I" : "",
                  (long long) json_integer_value (json_object_get (v, "@id")));
    else if (json_is_object (v) && (json_object_get (v, "Value") || json_object_get (v, "value"))) {
        /* a quantity: "1.5 MICROMETER" */
        json_t *val = json_object_get (v, "Value") ? json_object_get (v, "Value") : json_object_get (v, "value");
        json_t *unit = json_object_get (v, "Unit") ? json_object_get (v, "Unit") : json_object_get (v, "unit");
        char num[64];
        py_float (json_number_value (val), num, sizeof num);
        snprintf (buf, sizeof buf, "%s %s", num, json_string_value (unit) ? json_string_value (unit) : "");
    } else if (json_is_array (v)) {
        size_t cap = 64, len = 0, i;
        char *out = calloc (1, cap);
        json_t *e;
        json_array_foreach (v, i, e) {
            char *s;
            if (json_is_array (e) && json_array_size (e) == 2) {    /* a map entry: "(key,value)" */
                char *k = cli_obj_value_text (json_array_get (e, 0), ice_names);
                char *val = cli_obj_value_text (json_array_get (e, 1), ice_names);
                s = malloc (strlen (k) + strlen (val) + 4);
                sprintf (s, "(%s,%s)", k, val);
                free (k);
                free (val);
            } else
                s = cli_obj_value_text (e, ice_names);
            size_t need = len + strlen (s) + 3;
            if (need > cap) {
                cap = need * 2;
                out = realloc (out, cap);
            }
            len += (size_t) sprintf (out + len, "%s%s", i ? "," : "", s);
            free (s);
        }
        return out;
    } else {
        char *s = json_dumps (v, JSON_COMPACT);
        return s ? s : strdup ("");
    }
    return strdup (buf);
}

/* ---- commands ------------------------------------------------------------------------------- */

typedef struct {
    omero_client_t *c;
    char **rows;                /* what each command of a batch printed (for field@=N) */
    int nrows;
    char **vars, **vals;        /* "name = command" results (for field@=name) */
    int nvars;
    const char *dest;           /* the variable the current command assigns, or NULL */
} objctx_t;

static int
usage_error (const char *fmt, const char *arg)
{
    fputs (usage_text, stderr);
    fprintf (stderr, "omero obj: error: ");
    fprintf (stderr, fmt, arg);
    fputc ('\n', stderr);
    return 2;
}

/* Print a command's result and remember it (row and variable). */
static int
out (objctx_t *o, const char *text)
{
    printf ("%s\n", text);
    fflush (stdout);
    o->rows = realloc (o->rows, (o->nrows + 1) * sizeof *o->rows);
    o->rows[o->nrows++] = strdup (text);
    if (o->dest) {
        o->vars = realloc (o->vars, (o->nvars + 1) * sizeof *o->vars);
        o->vals = realloc (o->vals, (o->nvars + 1) * sizeof *o->vals);
        o->vars[o->nvars] = strdup (o->dest);
        o->vals[o->nvars++] = strdup (text);
    }
    return 0;
}

/* "Class" of a user's class argument ("omero.model.DatasetI" -> "Dataset"). */
static void
class_name (const char *arg, char *cls, size_t len)
{
    const char *colon = strchr (arg, ':');
    size_t n = colon ? (size_t) (colon - arg) : strlen (arg);
    if (!strncmp (arg, "omero.model.", 12)) {
        arg += 12;
        n -= 12;
        if (n > 1 && arg[n - 1] == 'I')
            n--;
    }
    snprintf (cls, len, "%.*s", (int) n, arg);
}

/* Split "Class:ID"; 0 on success. */
static int
split_ref (const char *s, char *cls, size_t len, long long *id)
{
    const char *colon = strrchr (s, ':');
    char *end;
    if (!colon || colon == s)
        return -1;
    *id = strtoll (colon + 1, &end, 10);
    if (!colon[1] || *end || *id < 0)
        return -1;
    class_name (s, cls, len);
    return 0;
}

/* Set "field=value" / "field@=N" / "field@=name" arguments on obj. */
static int
set_fields (objctx_t *o, json_t *obj, int n, char **kv)
{
    for (int i = 0; i < n; i++) {
        const char *eq = strchr (kv[i], '=');
        size_t flen = eq ? (size_t) (eq - kv[i]) : 0;
        bool ref = flen > 0 && kv[i][flen - 1] == '@';
        if (ref)
            flen--;
        if (!eq || flen == 0 || !isalpha ((unsigned char) kv[i][0]) || strspn (kv[i], "abcdefghijklmnopqrstuvwxyz"
                                                                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") < flen)
            return cli_die (2, "Unparseable argument: %s", kv[i]);
        char field[256];
        snprintf (field, sizeof field, "%.*s", (int) flen, kv[i]);
        const char *value = eq + 1;
        if (ref) {
            char *end;
            long row = strtol (value, &end, 10);
            const char *found = NULL;
            if (*value && !*end)
                found = row >= 0 && row < o->nrows ? o->rows[row] : NULL;
            else
                for (int k = o->nvars - 1; k >= 0 && !found; k--)
                    if (!strcmp (o->vars[k], value))
                        found = o->vals[k];
            if (!found)
                return cli_die (1, "Invalid reference: %s", value);
            value = found;
        }
        json_object_set_new (obj, field, json_string (value));
    }
    return 0;
}

/* The object Class:ID with unset fields and the model's field names, in any of the caller's
 * groups; NULL after printing OMERO's "No object found" (rc set). */
static json_t *
load (objctx_t *o, const char *ref, char *cls, size_t clen, long long *id, int *rc)
{
    if (split_ref (ref, cls, clen, id) < 0) {
        class_name (ref, cls, clen);
        *rc = cli_die (334, "No id given for %s. Use e.g. '%s:123'", cls, cls);
        return NULL;
    }
    omero_err_t err = {0};
    json_t *args = json_pack ("{s:s,s:I,s:i,s:b,s:s}", "type", cls, "id", (json_int_t) *id, "group", -1, "nulls", 1,
                              "fieldNames", "model");
    json_t *r = omero_client_call (o->c, "IQuery", "get", args, &err);
    json_decref (args);
    if (!r) {
        if (!strcmp (err.name, "ApiUsageException") && strstr (err.msg, "unknown type"))
            *rc = cli_die (102, "No class named '%sI'", cls);
        else
            *rc = cli_die (334, "No object found: %s:%lld", cls, *id);
        return NULL;
    }
    json_t *data = json_incref (json_object_get (r, "data"));
    json_decref (r);
    return data;
}

/* Save obj and print "Class:ID"; failures as OMERO's "Failed to create/update". */
static int
save (objctx_t *o, json_t *obj, const char *cls, long long id)
{
    omero_err_t err = {0};
    json_t *args = json_pack ("{s:O}", "object", obj);
    if (id >= 0)
        json_object_set_new (args, "group", json_integer (-1));
    json_t *r = omero_client_call (o->c, "IUpdate", "saveAndReturnObject", args, &err);
    json_decref (args);
    if (!r) {
        const char *req = strstr (err.msg, " is missing required fields: ");
        if (id < 0 && req)      /* OMERO checks these before saving */
            return cli_die (103, "required arguments: %s", req + strlen (" is missing required fields: "));
        if (id < 0)
            return cli_die (336, "Failed to create %s - %s%s%s", cls, err.name, err.name[0] ? ": " : "", err.msg);
        return cli_die (336, "Failed to update %s:%lld - %s%s%s", cls, id, err.name, err.name[0] ? ": " : "", err.msg);
    }
    char line[256];
    snprintf (line, sizeof line, "%s:%lld", id < 0 ? cli_obj_class (json_object_get (r, "data")) : cls,
              (long long) json_integer_value (json_object_get (json_object_get (r, "data"), "@id")));
    json_decref (r);
    return out (o, line);
}

static int
cmd_new (objctx_t *o, int n, char **pos)
{
    if (n < 1)
        return cli_die (102, "No object argument provided. Use e.g. 'Image:123'");
    char cls[128];
    class_name (pos[0], cls, sizeof cls);
    json_t *obj = json_pack ("{s:s}", "@type", cls);
    int rc = set_fields (o, obj, n - 1, pos + 1);
    if (rc == 0)
        rc = save (o, obj, cls, -1);
    json_decref (obj);
    return rc;
}

static int
cmd_update (objctx_t *o, int n, char **pos)
{
    int rc = 0;
    char cls[128];
    long long id;
    if (n < 1)
        return cli_die (102, "No object argument provided. Use e.g. 'Image:123'");
    json_t *cur = load (o, pos[0], cls, sizeof cls, &id, &rc);
    if (!cur)
        return rc;
    json_t *obj = json_pack ("{s:s,s:I}", "@type", cls, "@id", (json_int_t) id);
    json_t *ver = json_object_get (cur, "version");
    if (json_is_integer (ver))
        json_object_set (obj, "version", ver);
    json_decref (cur);
    rc = set_fields (o, obj, n - 1, pos + 1);
    if (rc == 0)
        rc = save (o, obj, cls, id);
    json_decref (obj);
    return rc;
}

static int
cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

/* "null OBJ FIELD", "get OBJ [FIELD]", "list-get OBJ FIELD INDEX", "map-get OBJ FIELD KEY",
 * "map-set OBJ FIELD KEY [VALUE]": commands on a loaded object. */
static int
cmd_loaded (objctx_t *o, const char *sub, int n, char **pos)
{
    int rc = 0;
    char cls[128];
    long long id;
    bool get = !strcmp (sub, "get"), null = !strcmp (sub, "null"), lget = !strcmp (sub, "list-get");
    bool mget = !strcmp (sub, "map-get"), mset = !strcmp (sub, "map-set");
    if (n < 1)
        return cli_die (102, "No object argument provided. Use e.g. 'Image:123'");
    json_t *obj = load (o, pos[0], cls, sizeof cls, &id, &rc);
    if (!obj)
        return rc;
    int argc = n + 1;   /* OMERO counts the action too */
    if ((get && argc != 2 && argc != 3) || (null && argc != 3) || (lget && argc != 4) || (mget && argc != 4)
        || (mset && argc != 4 && argc != 5)) {
        json_decref (obj);
        return cli_die (335, "usage: %s", get    ? "get OBJ [FIELD]"
                                              : null ? "null OBJ FIELD"
                                              : lget ? "list-get OBJ FIELD INDEX"
                                              : mget ? "map-get OBJ FIELD KEY"
                                                     : "map-set OBJ FIELD KEY [VALUE]");
    }
    if (get && argc == 2) {
        /* every field as name=value, sorted by name (collections and details left out) */
        const char *k;
        json_t *v;
        char **lines = NULL;
        int nl = 0;
        json_object_foreach (obj, k, v) {
            if (k[0] == '@' || strchr (k, ':') || (json_is_array (v) && json_array_size (v) && json_is_object (json_array_get (v, 0))))
                continue;
            char *val = cli_obj_value_text (v, false);
            char *line = malloc (strlen (k) + strlen (val) + 2);
            sprintf (line, "%s=%s", k, val);
            free (val);
            lines = realloc (lines, (nl + 1) * sizeof *lines);
            lines[nl++] = line;
        }
        char idline[64];
        snprintf (idline, sizeof idline, "id=%lld", id);
        lines = realloc (lines, (nl + 1) * sizeof *lines);
        lines[nl++] = strdup (idline);
        qsort (lines, nl, sizeof *lines, cmp_str);
        size_t total = 1;
        for (int i = 0; i < nl; i++)
            total += strlen (lines[i]) + 1;
        char *text = calloc (1, total);
        for (int i = 0; i < nl; i++) {
            strcat (text, lines[i]);
            strcat (text, "\n");
            free (lines[i]);
        }
        free (lines);
        rc = out (o, text);     /* OMERO prints the lines and an empty one */
        free (text);
        json_decref (obj);
        return rc;
    }
    const char *field = pos[1];
    json_t *cur = !strcmp (field, "id") ? json_object_get (obj, "@id") : json_object_get (obj, field);
    if (!cur && !json_object_get (obj, field) && strcmp (field, "id")) {
        json_decref (obj);
        return cli_die (336, "Unknown field '%s' for %s:%lld", field, cls, id);
    }
    if (get) {
        char *val = cli_obj_value_text (cur, false);
        rc = out (o, val);
        free (val);
    } else if (null) {
        json_t *upd = json_pack ("{s:s,s:I,s:n}", "@type", cls, "@id", (json_int_t) id, field);
        rc = save (o, upd, cls, id);
        json_decref (upd);
    } else if (lget) {
        char *end;
        long idx = strtol (pos[2], &end, 10);
        if (json_is_null (cur))
            rc = out (o, "");
        else if (!json_is_array (cur))
            rc = cli_die (336, "Field '%s' for %s:%lld is not a list", field, cls, id);
        else if (*end || idx < 0 || (size_t) idx >= json_array_size (cur))
            rc = cli_die (336, "Error: field '%s[%s]' for %s:%lld, ('list index out of range',)", field, pos[2], cls, id);
        else {
            json_t *one = json_pack ("[O]", json_array_get (cur, idx));
            char *val = cli_obj_value_text (one, false);
            rc = out (o, val);
            free (val);
            json_decref (one);
        }
    } else if (mget) {
        const char *value = NULL;
        size_t i;
        json_t *e;
        json_array_foreach (cur, i, e)
            if (json_string_value (json_array_get (e, 0)) && !strcmp (json_string_value (json_array_get (e, 0)), pos[2]))
                value = json_string_value (json_array_get (e, 1));
        rc = out (o, value ? value : "None");
    } else {
        json_t *list = json_array ();
        bool done = false;
        size_t i;
        json_t *e;
        json_array_foreach (cur, i, e) {
            const char *k = json_string_value (json_array_get (e, 0));
            if (k && !strcmp (k, pos[2])) {
                if (argc == 5 && !done)
                    json_array_append_new (list, json_pack ("[s,s]", k, pos[3]));
                done = true;
                continue;
            }
            json_array_append (list, e);
        }
        if (argc == 5 && !done)
            json_array_append_new (list, json_pack ("[s,s]", pos[2], pos[3]));
        json_t *upd = json_pack ("{s:s,s:I,s:o}", "@type", cls, "@id", (json_int_t) id, field, list);
        json_t *ver = json_object_get (obj, "version");
        if (json_is_integer (ver))
            json_object_set (upd, "version", ver);
        rc = save (o, upd, cls, id);
        json_decref (upd);
    }
    json_decref (obj);
    return rc;
}

static int
run_one (objctx_t *o, int n, char **args)
{
    const char *sub = args[0];
    char *pos[MAXPOS];
    int np = 0;
    for (int i = 1; i < n && np < MAXPOS; i++)
        pos[np++] = args[i];
    if (!strcmp (sub, "new"))
        return cmd_new (o, np, pos);
    if (!strcmp (sub, "update"))
        return cmd_update (o, np, pos);
    if (!strcmp (sub, "null") || !strcmp (sub, "get") || !strcmp (sub, "list-get") || !strcmp (sub, "map-get")
        || !strcmp (sub, "map-set"))
        return cmd_loaded (o, sub, np, pos);
    return cli_die (100, "Unknown command: %s", sub);
}

/* Split a line into words with shell-like quotes ('…', "…", \x). */
static int
split_words (const char *line, char **words, int max)
{
    int n = 0;
    const char *p = line;
    while (*p) {
        while (isspace ((unsigned char) *p))
            p++;
        if (!*p)
            break;
        char *w = malloc (strlen (p) + 1);
        size_t len = 0;
        char q = 0;
        for (; *p && (q || !isspace ((unsigned char) *p)); p++) {
            if (q && *p == q)
                q = 0;
            else if (!q && (*p == '\'' || *p == '"'))
                q = *p;
            else if (*p == '\\' && p[1] && q != '\'')
                w[len++] = *++p;
            else
                w[len++] = *p;
        }
        w[len] = 0;
        if (n < max)
            words[n++] = w;
        else
            free (w);
    }
    return n;
}

/* Run the commands of a file ("-" = stdin): blank lines and "#" comments skipped. */
static int
run_file (objctx_t *o, const char *path)
{
    FILE *f = strcmp (path, "-") ? fopen (path, "r") : stdin;
    if (!f)
        return cli_die (337, "Cannot read file");
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && getline (&line, &cap, f) >= 0) {
        char *l = line;
        while (isspace ((unsigned char) *l))
            l++;
        size_t len = strlen (l);
        while (len && isspace ((unsigned char) l[len - 1]))
            l[--len] = 0;
        if (!*l || *l == '#')
            continue;
        /* "name = command" */
        char dest[128] = "";
        size_t nl = strspn (l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
        const char *after = l + nl;
        while (*after == ' ' || *after == '\t')
            after++;
        if (nl > 0 && isalpha ((unsigned char) l[0]) && after[0] == '=' && isspace ((unsigned char) after[1])
            && nl < sizeof dest) {
            snprintf (dest, sizeof dest, "%.*s", (int) nl, l);
            l = (char *) after + 1;
        }
        char *words[MAXPOS];
        int n = split_words (l, words, MAXPOS);
        if (n == 0)
            continue;
        o->dest = dest[0] ? dest : NULL;
        rc = run_one (o, n, words);
        o->dest = NULL;
        for (int i = 0; i < n; i++)
            free (words[i]);
    }
    free (line);
    if (f != stdin)
        fclose (f);
    return rc;
}

int
cli_obj (cli_t *cli, int argc, char **argv)
{
    cli_login_args_t la = {0};
    char *rest[MAXPOS];
    int nrest = 0;
    const char *file = NULL;
    bool dashdash = false;
    for (int i = 1; i < argc; i++) {
        if (!dashdash) {
            if (!strcmp (argv[i], "--")) {
                dashdash = true;
                continue;
            }
            if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help")) {
                fputs (usage_text, stdout);
                fputs ("\n", stdout);
                fputs (help_text, stdout);
                cli_login_help (stdout);
                return 0;
            }
            if (!strcmp (argv[i], "--file") || !strncmp (argv[i], "--file=", 7)) {
                file = argv[i][6] == '=' ? argv[i] + 7 : (i + 1 < argc ? argv[++i] : NULL);
                if (!file)
                    return usage_error ("argument %s: expected one argument", "--file");
                continue;
            }
            if (strcmp (argv[i], "-")) {
                int r = cli_login_arg (&la, argc, argv, &i);
                if (r < 0)
                    return 2;
                if (r > 0)
                    continue;
            }
        }
        if (nrest < MAXPOS)
            rest[nrest++] = argv[i];
    }
    if (nrest == 1 && !strcmp (rest[0], "-") && !file) {   /* "omero obj -": commands from stdin */
        file = "-";
        nrest = 0;
    }
    if (nrest == 0 && !file)
        return cli_die (100, "No command provided");
    static const char *subs[] = {"new", "update", "null", "map-get", "map-set", "get", "list-get"};
    bool known = nrest == 0;
    for (size_t k = 0; k < sizeof subs / sizeof subs[0] && nrest; k++)
        known |= !strcmp (rest[0], subs[k]);
    if (!known)
        return usage_error ("argument command: invalid choice: '%s' (choose from 'new', 'update', 'null', "
                            "'map-get', 'map-set', 'get', 'list-get')", rest[0]);
    if (file && nrest) {
        fprintf (stderr, "Ignoring %s\n", file);
        file = NULL;
    }
    int rc = 0;
    objctx_t o = {0};
    o.c = cli_session_client (cli, &la, &rc);
    if (!o.c)
        return rc;
    rc = file ? run_file (&o, file) : run_one (&o, nrest, rest);
    for (int i = 0; i < o.nrows; i++)
        free (o.rows[i]);
    free (o.rows);
    for (int i = 0; i < o.nvars; i++) {
        free (o.vars[i]);
        free (o.vals[i]);
    }
    free (o.vars);
    free (o.vals);
    omero_client_destroy (&o.c);
    return rc;
}
