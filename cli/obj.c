/* obj: `omero obj new|update|null|get|list-get|map-get|map-set` — create, change and read any
 * model object through IUpdate and IQuery, printing "Class:ID" lines so that commands can be
 * piped together; "-" reads one command per line from stdin ("ref:N" = the N-th result). */
#include "obj.h"
#include "sessions.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXPOS 256

static const char *usage_text =
    "usage: omero obj [-h] [login arguments] {new,update,null,get,list-get,map-get,map-set,-} ...\n";

static const char *help_text =
    "Create and update OMERO objects\n\n"
    "The obj command allows inspecting and editing any objects in the OMERO database.\n\n"
    "Examples:\n\n"
    "    $ omero obj new Dataset name=foo\n"
    "    Dataset:123\n"
    "    $ omero obj update Dataset:123 description=bar\n"
    "    Dataset:123\n"
    "    $ omero obj new ProjectDatasetLink parent=Project:101 child=Dataset:123\n"
    "    ProjectDatasetLink:456\n"
    "    $ omero obj null Dataset:123 description\n"
    "    Dataset:123\n"
    "    $ omero obj get Dataset:123 name\n"
    "    foo\n"
    "    $ omero obj get Dataset:123\n"
    "    description=\n"
    "    id=123\n"
    "    name=foo\n"
    "    ...\n"
    "    $ omero obj map-set ExperimenterGroup:15 config -- omero.policy.binary_access +read,+write\n"
    "    ExperimenterGroup:15\n"
    "    $ omero obj map-get ExperimenterGroup:15 config omero.policy.binary_access\n"
    "    +read,+write\n"
    "    $ omero obj list-get MapAnnotation:5 mapValue 0\n"
    "    key=value\n\n"
    "map-set without a value removes the key. \"--\" ends the options, for values beginning with\n"
    "'-' or '+'. With \"-\" as the subcommand, commands are read from stdin, one per line, and\n"
    "\"ref:N\" stands for the object the N-th of them (counting from 0) printed:\n\n"
    "    $ omero obj - <<EOF\n"
    "    new Project name=p\n"
    "    new Dataset name=d\n"
    "    new ProjectDatasetLink parent=ref:0 child=ref:1\n"
    "    EOF\n\n"
    "Positional Arguments:\n"
    "  {new,update,null,get,list-get,map-get,map-set,-}\n"
    "    new         Create a new object: Class field=value ...\n"
    "    update      Change fields of an object: Class:ID field=value ...\n"
    "    null        Set a field to null: Class:ID field\n"
    "    get         Print fields of an object: Class:ID [field ...]\n"
    "    list-get    Print one item of a list field: Class:ID field index\n"
    "    map-get     Print the value of a key of a map field: Class:ID field key\n"
    "    map-set     Set (or, without a value, remove) a key of a map field: Class:ID field key [value]\n\n"
    "Optional Arguments:\n"
    "  -h, --help  show this help message and exit\n";

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

const char *
cli_obj_field_name (const char *cls, const char *key, char *buf, size_t len)
{
    static const char *fixed[][2] = {{"UserName", "omeName"}, {"omero:ldap", "ldap"}, {"omero:series", "series"},
                                     {"omero:sha1", "sha1"},  {"Type", "pixelsType"}, {"omero:version", "version"},
                                     {"Namespace", "ns"}};
    static const char *values[][2] = {{"MapAnnotation", "mapValue"},      {"LongAnnotation", "longValue"},
                                      {"DoubleAnnotation", "doubleValue"}, {"BooleanAnnotation", "boolValue"},
                                      {"TimestampAnnotation", "timeValue"}, {"TermAnnotation", "termValue"}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcmp (key, fixed[i][0]))
            return fixed[i][1];
    if (!strcmp (key, "Value") && cls && !strstr (cls, "Annotation"))
        return "value";
    if (!strcmp (key, "Value")) {
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
            if (cls && !strcmp (cls, values[i][0]))
                return values[i][1];
        return "textValue";
    }
    if (!strncmp (key, "omero:", 6))
        key += 6;
    snprintf (buf, len, "%s", key);
    buf[0] = (char) tolower ((unsigned char) buf[0]);
    return buf;
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
        snprintf (buf, sizeof buf, "%.15g", json_real_value (v));
    else if (json_is_boolean (v))
        snprintf (buf, sizeof buf, "%s", json_is_true (v) ? "True" : "False");
    else if (json_is_object (v) && json_object_get (v, "@id"))
        snprintf (buf, sizeof buf, "%s%s:%lld", cli_obj_class (v), ice_names ? "I" : "",
                  (long long) json_integer_value (json_object_get (v, "@id")));
    else if (json_is_object (v) && (json_object_get (v, "Value") || json_object_get (v, "value"))) {
        json_t *val = json_object_get (v, "Value") ? json_object_get (v, "Value") : json_object_get (v, "value");
        json_t *sym = json_object_get (v, "Symbol") ? json_object_get (v, "Symbol") : json_object_get (v, "symbol");
        snprintf (buf, sizeof buf, "%.15g %s", json_number_value (val), json_string_value (sym) ? json_string_value (sym) : "");
    } else if (json_is_array (v)) {
        size_t cap = 64, len = 0, i;
        char *out = calloc (1, cap);
        json_t *e;
        json_array_foreach (v, i, e) {
            char *s;
            if (json_is_array (e) && json_array_size (e) == 2) {    /* a map entry */
                char *k = cli_obj_value_text (json_array_get (e, 0), ice_names);
                char *val = cli_obj_value_text (json_array_get (e, 1), ice_names);
                s = malloc (strlen (k) + strlen (val) + 2);
                sprintf (s, "%s=%s", k, val);
                free (k);
                free (val);
            } else
                s = cli_obj_value_text (e, ice_names);
            size_t need = len + strlen (s) + 3;
            if (need > cap) {
                cap = need * 2;
                out = realloc (out, cap);
            }
            len += (size_t) sprintf (out + len, "%s%s", i ? ", " : "", s);
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
    char **refs;                /* "Class:ID" printed by earlier commands of a "-" batch */
    int nrefs;
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

/* Split "Class:ID"; 0 on success. */
static int
split_ref (const char *s, char *cls, size_t len, long long *id)
{
    const char *colon = strrchr (s, ':');
    char *end;
    if (!colon || colon == s || (size_t) (colon - s) >= len)
        return -1;
    *id = strtoll (colon + 1, &end, 10);
    if (!colon[1] || *end || *id < 0)
        return -1;
    memcpy (cls, s, (size_t) (colon - s));
    cls[colon - s] = 0;
    return 0;
}

/* A value with "ref:N" replaced by the N-th earlier result. */
static const char *
resolve (objctx_t *o, const char *v)
{
    if (strncmp (v, "ref:", 4) != 0)
        return v;
    char *end;
    long n = strtol (v + 4, &end, 10);
    if (*end || n < 0 || n >= o->nrefs)
        return v;
    return o->refs[n];
}

/* Print the "Class:ID" of a saved object and remember it. */
static int
report (objctx_t *o, const json_t *obj)
{
    char line[256];
    snprintf (line, sizeof line, "%s:%lld", cli_obj_class (obj), (long long) json_integer_value (json_object_get (obj, "@id")));
    printf ("%s\n", line);
    fflush (stdout);
    o->refs = realloc (o->refs, (o->nrefs + 1) * sizeof *o->refs);
    o->refs[o->nrefs++] = strdup (line);
    return 0;
}

static int
save (objctx_t *o, json_t *obj)
{
    omero_err_t err = {0};
    json_t *args = json_pack ("{s:O}", "object", obj);
    json_t *r = omero_client_call (o->c, "IUpdate", "saveAndReturnObject", args, &err);
    json_decref (args);
    if (!r)
        return cli_fail_omero (&err);
    int rc = report (o, json_object_get (r, "data"));
    json_decref (r);
    return rc;
}

/* Fields "name=value" into obj. */
static int
set_fields (objctx_t *o, json_t *obj, int n, char **kv)
{
    for (int i = 0; i < n; i++) {
        const char *eq = strchr (kv[i], '=');
        if (!eq || eq == kv[i])
            return usage_error ("expected field=value, not '%s'", kv[i]);
        char field[256];
        snprintf (field, sizeof field, "%.*s", (int) (eq - kv[i]), kv[i]);
        json_object_set_new (obj, field, json_string (resolve (o, eq + 1)));
    }
    return 0;
}

static int
cmd_new (objctx_t *o, int n, char **pos)
{
    if (n < 1)
        return usage_error ("%s", "new: which class? (omero obj new Class field=value ...)");
    if (strchr (pos[0], ':') || strchr (pos[0], '='))
        return usage_error ("new: '%s' is not a class name", pos[0]);
    json_t *obj = json_pack ("{s:s}", "@type", pos[0]);
    int rc = set_fields (o, obj, n - 1, pos + 1);
    if (rc == 0)
        rc = save (o, obj);
    json_decref (obj);
    return rc;
}

static json_t *
ref_obj (objctx_t *o, const char *s, int *rc)
{
    char cls[128];
    long long id;
    s = resolve (o, s);
    if (split_ref (s, cls, sizeof cls, &id) < 0) {
        *rc = usage_error ("expected Class:ID, not '%s'", s);
        return NULL;
    }
    return json_pack ("{s:s,s:I}", "@type", cls, "@id", (json_int_t) id);
}

static int
cmd_update (objctx_t *o, int n, char **pos, bool null)
{
    int rc = 0;
    if (n < 2)
        return usage_error ("%s", null ? "null: give Class:ID and a field" : "update: give Class:ID and field=value ...");
    json_t *obj = ref_obj (o, pos[0], &rc);
    if (!obj)
        return rc;
    if (null) {
        for (int i = 1; i < n; i++)
            json_object_set_new (obj, pos[i], json_null ());
    } else
        rc = set_fields (o, obj, n - 1, pos + 1);
    if (rc == 0)
        rc = save (o, obj);
    json_decref (obj);
    return rc;
}

/* The object Class:ID as the server returns it. */
static json_t *
load (objctx_t *o, const char *ref, int *rc)
{
    json_t *ro = ref_obj (o, ref, rc);
    if (!ro)
        return NULL;
    omero_err_t err = {0};
    json_t *args = json_pack ("{s:O,s:O}", "type", json_object_get (ro, "@type"), "id", json_object_get (ro, "@id"));
    json_t *r = omero_client_call (o->c, "IQuery", "get", args, &err);
    json_decref (args);
    json_decref (ro);
    if (!r) {
        *rc = cli_fail_omero (&err);
        return NULL;
    }
    json_t *data = json_incref (json_object_get (r, "data"));
    json_decref (r);
    return data;
}

/* The JSON member of obj for a model field name (or NULL); *key gets the JSON key. */
static json_t *
member (json_t *obj, const char *field, const char **key)
{
    const char *k;
    json_t *v;
    char buf[256];
    json_object_foreach (obj, k, v) {
        if (k[0] == '@' || !strcmp (k, "omero:details") || !strncmp (k, "url:", 4))
            continue;
        if (!strcmp (cli_obj_field_name (cli_obj_class (obj), k, buf, sizeof buf), field) || !strcmp (k, field)) {
            if (key)
                *key = k;
            return v;
        }
    }
    return NULL;
}

static int
cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
cmd_get (objctx_t *o, int n, char **pos)
{
    int rc = 0;
    if (n < 1)
        return usage_error ("%s", "get: give Class:ID [field ...]");
    json_t *obj = load (o, pos[0], &rc);
    if (!obj)
        return rc;
    if (n == 1) {
        /* every field, as name=value lines sorted by name */
        char **lines = NULL;
        int nl = 0;
        const char *k;
        json_t *v;
        char buf[256];
        json_object_foreach (obj, k, v) {
            if (k[0] == '@' || !strcmp (k, "omero:details") || !strncmp (k, "url:", 4))
                continue;
            char *val = cli_obj_value_text (v, false);
            const char *name = cli_obj_field_name (cli_obj_class (obj), k, buf, sizeof buf);
            char *line = malloc (strlen (name) + strlen (val) + 2);
            sprintf (line, "%s=%s", name, val);
            free (val);
            lines = realloc (lines, (nl + 1) * sizeof *lines);
            lines[nl++] = line;
        }
        char idline[64];
        snprintf (idline, sizeof idline, "id=%lld", (long long) json_integer_value (json_object_get (obj, "@id")));
        lines = realloc (lines, (nl + 1) * sizeof *lines);
        lines[nl++] = strdup (idline);
        qsort (lines, nl, sizeof *lines, cmp_str);
        for (int i = 0; i < nl; i++) {
            printf ("%s\n", lines[i]);
            free (lines[i]);
        }
        free (lines);
    } else
        for (int i = 1; i < n; i++) {
            json_t *v = !strcmp (pos[i], "id") ? json_object_get (obj, "@id") : member (obj, pos[i], NULL);
            if (!v && !strcmp (pos[i], "version"))
                v = json_object_get (obj, "omero:version");
            if (!v) {
                printf ("\n");     /* unset (null) fields are not sent */
                continue;
            }
            char *val = cli_obj_value_text (v, false);
            printf ("%s\n", val);
            free (val);
        }
    json_decref (obj);
    return 0;
}

static int
cmd_list_get (objctx_t *o, int n, char **pos)
{
    int rc = 0;
    if (n != 3)
        return usage_error ("%s", "list-get: give Class:ID field index");
    char *end;
    long idx = strtol (pos[2], &end, 10);
    if (*end || idx < 0)
        return usage_error ("list-get: '%s' is not an index", pos[2]);
    json_t *obj = load (o, pos[0], &rc);
    if (!obj)
        return rc;
    json_t *list = member (obj, pos[1], NULL);
    if (!json_is_array (list) || (size_t) idx >= json_array_size (list)) {
        fprintf (stderr, "Error: %s has no item %ld in %s (it has %zu)\n", pos[0], idx, pos[1],
                 json_is_array (list) ? json_array_size (list) : (size_t) 0);
        json_decref (obj);
        return 1;
    }
    json_t *item = json_array_get (list, idx);
    json_t *one = json_pack ("[O]", item);      /* a map entry prints as "key=value" */
    char *val = cli_obj_value_text (json_is_array (item) ? one : item, false);
    json_decref (one);
    printf ("%s\n", val);
    free (val);
    json_decref (obj);
    return 0;
}

static int
cmd_map (objctx_t *o, int n, char **pos, bool set)
{
    int rc = 0;
    if (set ? (n != 3 && n != 4) : n != 3)
        return usage_error ("%s", set ? "map-set: give Class:ID field key [value]" : "map-get: give Class:ID field key");
    json_t *obj = load (o, pos[0], &rc);
    if (!obj)
        return rc;
    json_t *map = member (obj, pos[1], NULL);
    if (map && !json_is_array (map)) {
        fprintf (stderr, "Error: %s.%s is not a map field\n", cli_obj_class (obj), pos[1]);
        json_decref (obj);
        return 1;
    }
    if (!set) {
        size_t i;
        json_t *e;
        json_array_foreach (map, i, e)
            if (!strcmp (json_string_value (json_array_get (e, 0)) ? json_string_value (json_array_get (e, 0)) : "", pos[2])) {
                printf ("%s\n", json_string_value (json_array_get (e, 1)) ? json_string_value (json_array_get (e, 1)) : "");
                json_decref (obj);
                return 0;
            }
        json_decref (obj);
        return 0;   /* an absent key prints nothing, as for an unset field */
    }
    json_t *out = json_array ();
    bool done = false;
    size_t i;
    json_t *e;
    json_array_foreach (map, i, e) {
        const char *k = json_string_value (json_array_get (e, 0));
        if (k && !strcmp (k, pos[2])) {
            if (n == 4 && !done)
                json_array_append_new (out, json_pack ("[s,s]", k, pos[3]));
            done = true;
            continue;
        }
        json_array_append (out, e);
    }
    if (!done && n == 4)
        json_array_append_new (out, json_pack ("[s,s]", pos[2], pos[3]));
    json_t *upd = json_pack ("{s:s,s:O,s:o}", "@type", cli_obj_class (obj), "@id", json_object_get (obj, "@id"),
                             pos[1], out);
    rc = save (o, upd);
    json_decref (upd);
    json_decref (obj);
    return rc;
}

static int run_one (objctx_t *o, int n, char **args);

/* Split a line into words with shell-like quotes ('…', "…", \x). */
static int
split_words (const char *line, char **words, int max)
{
    int n = 0;
    const char *p = line;
    while (*p) {
        while (isspace ((unsigned char) *p))
            p++;
        if (!*p || *p == '#')
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

static int
run_stdin (objctx_t *o)
{
    char *line = NULL;
    size_t cap = 0;
    int rc = 0, lineno = 0;
    while (getline (&line, &cap, stdin) >= 0) {
        lineno++;
        char *words[MAXPOS];
        int n = split_words (line, words, MAXPOS);
        if (n == 0)
            continue;
        int r = run_one (o, n, words);
        for (int i = 0; i < n; i++)
            free (words[i]);
        if (r) {
            fprintf (stderr, "(line %d)\n", lineno);
            rc = r;
            break;
        }
    }
    free (line);
    return rc;
}

static int
run_one (objctx_t *o, int n, char **args)
{
    const char *sub = args[0];
    char *pos[MAXPOS];
    int np = 0;
    bool dashdash = false;
    for (int i = 1; i < n && np < MAXPOS; i++) {
        if (!dashdash && !strcmp (args[i], "--")) {
            dashdash = true;
            continue;
        }
        pos[np++] = args[i];
    }
    if (!strcmp (sub, "new"))
        return cmd_new (o, np, pos);
    if (!strcmp (sub, "update"))
        return cmd_update (o, np, pos, false);
    if (!strcmp (sub, "null"))
        return cmd_update (o, np, pos, true);
    if (!strcmp (sub, "get"))
        return cmd_get (o, np, pos);
    if (!strcmp (sub, "list-get"))
        return cmd_list_get (o, np, pos);
    if (!strcmp (sub, "map-get"))
        return cmd_map (o, np, pos, false);
    if (!strcmp (sub, "map-set"))
        return cmd_map (o, np, pos, true);
    return usage_error ("argument subcommand: invalid choice: '%s' (choose from 'new', 'update', 'null', 'get', "
                        "'list-get', 'map-get', 'map-set', '-')", sub);
}

int
cli_obj (cli_t *cli, int argc, char **argv)
{
    cli_login_args_t la = {0};
    char *rest[MAXPOS];
    int nrest = 0;
    bool dashdash = false;
    for (int i = 1; i < argc; i++) {
        if (!dashdash) {
            if (!strcmp (argv[i], "--")) {
                dashdash = true;
                if (nrest < MAXPOS)
                    rest[nrest++] = argv[i];
                continue;
            }
            if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help")) {
                fputs (usage_text, stdout);
                fputs ("\n", stdout);
                fputs (help_text, stdout);
                cli_login_help (stdout);
                return 0;
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
    if (nrest == 0) {
        fputs (usage_text, stderr);
        fprintf (stderr, "omero obj: error: too few arguments\n");
        return 2;
    }
    static const char *subs[] = {"new", "update", "null", "get", "list-get", "map-get", "map-set", "-"};
    bool known = false;
    for (size_t k = 0; k < sizeof subs / sizeof subs[0]; k++)
        known |= !strcmp (rest[0], subs[k]);
    if (!known)
        return usage_error ("argument subcommand: invalid choice: '%s' (choose from 'new', 'update', 'null', 'get', "
                            "'list-get', 'map-get', 'map-set', '-')", rest[0]);
    int rc = 0;
    objctx_t o = {0};
    o.c = cli_session_client (cli, &la, &rc);
    if (!o.c)
        return rc;
    if (!strcmp (rest[0], "-"))
        rc = run_stdin (&o);
    else
        rc = run_one (&o, nrest, rest);
    for (int i = 0; i < o.nrefs; i++)
        free (o.refs[i]);
    free (o.refs);
    omero_client_destroy (&o.c);
    return rc;
}
