/* graph: `omero delete|chgrp|chown`, disk usage and `omero admin cleanse` (see graph.h).
 * Each command builds OMERO's requests (Delete2, Chgrp2, Chown2; SkipHead for paths), submits
 * them with Command.submit, waits for the handle and prints the outcome as OMERO's CLI does:
 *     omero.cmd.Delete2 Image 1,2... ok
 * and with --report the steps, time and the objects by class. */
#include "graph.h"
#include "sessions.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef enum { G_DELETE, G_CHGRP, G_CHOWN } gkind_t;

static const char *const req_type[] = {"omero.cmd.Delete2", "omero.cmd.Chgrp2", "omero.cmd.Chown2"};
static const char *const cmd_name[] = {"delete", "chgrp", "chown"};

/* One parsed specifier: Class[/Class…]:ids. */
typedef struct {
    char path[8][64];
    int depth;
    json_t *ids;                /* integers */
    bool range;
    const char *text;
} spec_t;

typedef struct {
    gkind_t kind;
    const char *target;         /* group or user argument */
    spec_t specs[128];
    int nspecs;
    json_t *include, *exclude;  /* class names */
    bool dry_run, report, ordered, force;
    long long target_id;
} gargs_t;

static void
usage (gkind_t k, FILE *out)
{
    if (k == G_DELETE)
        fprintf (out, "usage: omero delete [-h] [--wait WAIT] [--include INCLUDE] [--exclude EXCLUDE]\n"
                      "                    [--ordered] [--list] [--report] [--dry-run] [--force]\n"
                      "                    [login arguments] obj [obj ...]\n");
    else
        fprintf (out, "usage: omero %s [-h] [--wait WAIT] [--include INCLUDE] [--exclude EXCLUDE]\n"
                      "                   [--ordered] [--list] [--report] [--dry-run]\n"
                      "                   [login arguments] %s obj [obj ...]\n",
                 cmd_name[k], k == G_CHGRP ? "grp" : "usr");
}

static int
usage_error (gkind_t k, const char *fmt, const char *arg)
{
    usage (k, stderr);
    fprintf (stderr, "omero %s: error: ", cmd_name[k]);
    fprintf (stderr, fmt, arg);
    fputc ('\n', stderr);
    return 2;
}

static void
help (gkind_t k)
{
    usage (k, stdout);
    static const char *const what[] = {
        "Delete OMERO data.\n\nRemove entire graphs of data based on the ID of the top-node.\n",
        "Move data between groups.\n\nMove entire graphs of data based on the ID of the top-node.\n",
        "Transfer ownership of data.\n\nTransfer entire graphs of data based on the ID of the top-node.\n",
    };
    printf ("\n%s\n", what[k]);
    printf ("Examples:\n\n");
    if (k == G_DELETE)
        printf ("    omero delete Image:50\n    omero delete Project:51 Dataset:53-56 --force\n"
                "    omero delete Project/Dataset/Image:51\n    omero delete Image:51 --include Annotation\n"
                "    omero delete Project:51 --exclude Dataset\n    omero delete Dataset:53 Project:51 --ordered\n");
    else if (k == G_CHGRP)
        printf ("    omero chgrp 5 Project:51\n    omero chgrp Group:5 Project:51\n    omero chgrp lab_group Project:51\n"
                "    omero chgrp 5 Project/Dataset/Image:51\n    omero chgrp 5 Image:51 --include Annotation\n");
    else
        printf ("    omero chown 5 Project:51\n    omero chown User:5 Project:51\n    omero chown jane Project:51\n"
                "    omero chown 10 Experimenter:1,3,7\n    omero chown 5 Project/Image:51\n");
    printf ("\nPositional Arguments:\n");
    if (k != G_DELETE)
        printf ("  %s                   %s\n", k == G_CHGRP ? "grp" : "usr",
                k == G_CHGRP ? "ID or name of the group to move the data to (5, Group:5, lab_group)"
                             : "ID or name of the user to give the data to (5, User:5, jane)");
    printf ("  obj                   objects to be processed in the form <Class>:<Id>[,<Id>…] or\n"
            "                        <Class>/<Class>…:<Id>; ranges as 53-56\n\n"
            "Optional Arguments:\n"
            "  -h, --help            show this help message and exit\n"
            "  --wait WAIT           accepted for compatibility (the command always waits)\n"
            "  --include INCLUDE     classes to include even if they are shared (comma-separated)\n"
            "  --exclude EXCLUDE     classes to leave alone (comma-separated)\n"
            "  --ordered             process the objects one at a time, in the order given\n"
            "  --list, --report      print the objects processed\n"
            "  --dry-run             do everything but commit: report success or failure only\n");
    if (k == G_DELETE)
        printf ("  --force               needed to delete ranges of objects (without it, a dry run)\n");
}

/* Parse "Class[/Class…]:1-5,9". 0 or -1 (bad). */
static int
parse_spec (const char *s, spec_t *sp)
{
    memset (sp, 0, sizeof *sp);
    sp->text = s;
    const char *colon = strrchr (s, ':');
    if (!colon || colon == s || !colon[1])
        return -1;
    const char *p = s;
    while (p < colon) {
        const char *slash = memchr (p, '/', (size_t) (colon - p));
        const char *end = slash ? slash : colon;
        size_t n = (size_t) (end - p);
        if (!n || n >= sizeof sp->path[0] || sp->depth >= 8)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (!isalnum ((unsigned char) p[i]) && p[i] != '.' && p[i] != '_')
                return -1;
        memcpy (sp->path[sp->depth], p, n);
        sp->path[sp->depth++][n] = 0;
        p = end + (slash ? 1 : 0);
    }
    sp->ids = json_array ();
    char *list = strdup (colon + 1), *save = NULL;
    for (char *item = strtok_r (list, ",", &save); item; item = strtok_r (NULL, ",", &save)) {
        char *end;
        long long a = strtoll (item, &end, 10), b = a;
        if (end == item || a < 0)
            goto bad;
        if (*end == '-') {
            char *e2;
            b = strtoll (end + 1, &e2, 10);
            if (e2 == end + 1 || *e2 || b < a || b - a > 1000000)
                goto bad;
            sp->range = true;
        } else if (*end)
            goto bad;
        for (long long v = a; v <= b; v++)
            json_array_append_new (sp->ids, json_integer (v));
    }
    free (list);
    return json_array_size (sp->ids) ? 0 : -1;
bad:
    free (list);
    json_decref (sp->ids);
    sp->ids = NULL;
    return -1;
}

/* Append comma-separated class names to a list. */
static void
add_classes (json_t *list, const char *v)
{
    char *s = strdup (v), *save = NULL;
    for (char *t = strtok_r (s, ",", &save); t; t = strtok_r (NULL, ",", &save))
        if (*t)
            json_array_append_new (list, json_string (t));
    free (s);
}

/* The request body shared by every request of a command (no targets). */
static json_t *
base_request (const gargs_t *a)
{
    json_t *r = json_pack ("{ss sb}", "@type", req_type[a->kind], "dryRun", a->dry_run);
    json_t *opt = json_object ();
    if (json_array_size (a->include))
        json_object_set (opt, "includeType", a->include);
    if (json_array_size (a->exclude))
        json_object_set (opt, "excludeType", a->exclude);
    json_object_set_new (r, "childOptions", json_object_size (opt) ? json_pack ("[o]", opt) : (json_decref (opt), json_array ()));
    if (a->kind == G_CHGRP)
        json_object_set_new (r, "groupId", json_integer (a->target_id));
    if (a->kind == G_CHOWN)
        json_object_set_new (r, "userId", json_integer (a->target_id));
    return r;
}

/* "Image 1,2,3" for the progress line. */
static void
describe (const spec_t *const *specs, int n, char *out, size_t len)
{
    size_t off = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        const spec_t *s = specs[i];
        for (int k = 0; k < s->depth; k++)
            off += (size_t) snprintf (out + off, off < len ? len - off : 0, "%s%s", k ? "/" : (i ? " " : ""), s->path[k]);
        off += (size_t) snprintf (out + off, off < len ? len - off : 0, " ");
        size_t j;
        json_t *v;
        json_array_foreach (s->ids, j, v)
            off += (size_t) snprintf (out + off, off < len ? len - off : 0, "%s%lld", j ? "," : "",
                                      (long long) json_integer_value (v));
    }
}

/* "ome.model.core.Image" -> "Image". */
static const char *
short_class (const char *c)
{
    const char *d = strrchr (c, '.');
    return d ? d + 1 : c;
}

static void
print_objects (const char *title, const json_t *objs)
{
    if (!json_object_size (objs))
        return;
    printf ("%s\n", title);
    const char *k;
    json_t *ids;
    json_object_foreach ((json_t *) objs, k, ids) {
        printf ("%s:", short_class (k));
        size_t i;
        json_t *v;
        json_array_foreach (ids, i, v)
            printf ("%s%lld", i ? "," : "", (long long) json_integer_value (v));
        printf ("\n");
    }
}

/* Submit a request, wait for it and return the response (new reference) or NULL with err. */
static json_t *
submit_wait (omero_client_t *c, json_t *req, omero_err_t *err)
{
    json_t *args = json_pack ("{sO}", "request", req);
    json_t *r = omero_client_call (c, "Command", "submit", args, err);
    json_decref (args);
    if (!r)
        return NULL;
    json_t *h = json_incref (json_object_get (r, "handle"));
    json_decref (r);
    useconds_t wait = 20000;
    for (;;) {
        args = json_pack ("{sO}", "handle", h);
        json_t *st = omero_client_call (c, "Command", "status", args, err);
        json_decref (args);
        if (!st) {
            json_decref (h);
            return NULL;
        }
        bool running = !strcmp (json_string_value (json_object_get (st, "state")) ?: "", "RUNNING");
        json_decref (st);
        if (!running)
            break;
        usleep (wait);
        if (wait < 500000)
            wait *= 2;
    }
    args = json_pack ("{sO}", "handle", h);
    r = omero_client_call (c, "Command", "response", args, err);
    json_decref (args);
    json_decref (h);
    return r;
}

/* The request for specifiers (one path, or plain Class:ids merged), its description in what. */
static json_t *
build_request (const gargs_t *a, const spec_t *const *specs, int n, char *what, size_t len)
{
    json_t *req = base_request (a);
    if (n == 1 && specs[0]->depth > 1) {
        json_t *inner = req;
        req = json_pack ("{ss s{sO} s[s] so}", "@type", "omero.cmd.SkipHead", "targetObjects", specs[0]->path[0],
                         specs[0]->ids, "startFrom", specs[0]->path[specs[0]->depth - 1], "request", inner);
        json_object_set (req, "dryRun", json_object_get (inner, "dryRun"));
    } else {
        json_t *t = json_object ();
        for (int i = 0; i < n; i++) {
            json_t *ids = json_object_get (t, specs[i]->path[0]);
            if (!ids)
                json_object_set_new (t, specs[i]->path[0], ids = json_array ());
            json_array_extend (ids, specs[i]->ids);
        }
        json_object_set_new (req, "targetObjects", t);
    }
    describe (specs, n, what, len);
    return req;
}

static void
print_report (const gargs_t *a, const json_t *r, const json_t *status, double secs)
{
    printf ("Steps: %lld\n", (long long) json_integer_value (json_object_get (status, "steps")));
    printf ("Elapsed time: %.3f secs.\n", secs);
    printf ("Flags: []\n");
    if (a->kind == G_DELETE)
        print_objects ("Deleted objects", json_object_get (r, "deletedObjects"));
    else {
        print_objects ("Included objects", json_object_get (r, "includedObjects"));
        print_objects ("Deleted objects", json_object_get (r, "deletedObjects"));
    }
}

/* Submit requests (several as one DoAll: all or nothing) and print each outcome; 0 or 1. */
static int
run_batch (omero_client_t *c, const gargs_t *a, json_t **reqs, char (*whats)[1024], int n)
{
    json_t *req = n == 1 ? json_incref (reqs[0]) : json_pack ("{ss s[]}", "@type", "omero.cmd.DoAll", "requests");
    for (int i = 0; n > 1 && i < n; i++)
        json_array_append (json_object_get (req, "requests"), reqs[i]);
    printf ("%s %s... ", req_type[a->kind], whats[0]);
    fflush (stdout);
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    omero_err_t err = {0};
    json_t *r = submit_wait (c, req, &err);
    json_decref (req);
    clock_gettime (CLOCK_MONOTONIC, &t1);
    double secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (!r) {
        printf ("failed\n");
        fflush (stdout);
        return cli_fail_omero (&err);
    }
    const char *type = json_string_value (json_object_get (r, "@type"));
    if (type && !strcmp (type, "omero.cmd.ERR")) {
        printf ("failed: '%s'\n", json_string_value (json_object_get (r, "name")) ?: "error");
        fflush (stdout);
        fprintf (stderr, "Error: %s\n", json_string_value (json_object_get (r, "message")) ?: "the request failed");
        if (n > 1)
            fprintf (stderr, "Nothing was changed: the %d requests run together, all or nothing\n", n);
        json_decref (r);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        if (i)
            printf ("%s %s... ", req_type[a->kind], whats[i]);
        printf ("ok\n");
        if (a->report)
            print_report (a, n == 1 ? r : json_array_get (json_object_get (r, "responses"), (size_t) i),
                          json_object_get (r, "status"), secs);
    }
    json_decref (r);
    return 0;
}

/* The group or user argument to an id (digits, Group:5 / User:5 …, or a name). */
static int
resolve_target (omero_client_t *c, gargs_t *a)
{
    const char *s = a->target;
    const char *prefixes[] = {"Group:", "ExperimenterGroup:", "User:", "Experimenter:"};
    for (int i = a->kind == G_CHGRP ? 0 : 2; i < (a->kind == G_CHGRP ? 2 : 4); i++)
        if (!strncmp (s, prefixes[i], strlen (prefixes[i]))) {
            s += strlen (prefixes[i]);
            break;
        }
    char *end;
    long long v = strtoll (s, &end, 10);
    if (*s && !*end && v >= 0) {
        a->target_id = v;
        return 0;
    }
    if (s != a->target)
        return cli_fail ("%s is not a %s id", a->target, a->kind == G_CHGRP ? "group" : "user");
    omero_err_t err = {0};
    json_t *args = json_pack ("{ss}", "name", s);
    json_t *r = omero_client_call (c, "IAdmin", a->kind == G_CHGRP ? "lookupGroup" : "lookupExperimenter", args, &err);
    json_decref (args);
    if (!r)
        return err.status == 404 || !strcmp (err.name, "ApiUsageException")
                   ? cli_fail ("no %s named %s", a->kind == G_CHGRP ? "group" : "user", s)
                   : cli_fail_omero (&err);
    a->target_id = json_integer_value (json_object_get (r, "@id"));
    json_decref (r);
    return 0;
}

static int
graph_main (cli_t *cli, gkind_t kind, int argc, char **argv)
{
    cli_login_args_t la = {0};
    gargs_t a = {.kind = kind, .include = json_array (), .exclude = json_array ()};
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp (s, "-h") || !strcmp (s, "--help")) {
            help (kind);
            cli_login_help (stdout);
            goto done;
        }
        if (!strcmp (s, "--include") || !strcmp (s, "--exclude") || !strcmp (s, "--wait")) {
            if (i + 1 >= argc) {
                rc = usage_error (kind, "argument %s: expected one argument", s);
                goto done;
            }
            if (strcmp (s, "--wait"))
                add_classes (!strcmp (s, "--include") ? a.include : a.exclude, argv[++i]);
            else
                i++;
            continue;
        }
        if (!strncmp (s, "--include=", 10) || !strncmp (s, "--exclude=", 10)) {
            add_classes (s[2] == 'i' ? a.include : a.exclude, s + 10);
            continue;
        }
        if (!strncmp (s, "--wait=", 7))
            continue;
        if (!strcmp (s, "--dry-run")) {
            a.dry_run = true;
            continue;
        }
        if (!strcmp (s, "--report") || !strcmp (s, "--list")) {
            a.report = true;
            continue;
        }
        if (!strcmp (s, "--ordered")) {
            a.ordered = true;
            continue;
        }
        if (!strcmp (s, "--force") && kind == G_DELETE) {
            a.force = true;
            continue;
        }
        int r = cli_login_arg (&la, argc, argv, &i);
        if (r < 0) {
            rc = 2;
            goto done;
        }
        if (r > 0)
            continue;
        if (s[0] == '-' && s[1]) {
            rc = usage_error (kind, "unrecognized arguments: %s", s);
            goto done;
        }
        if (kind != G_DELETE && !a.target) {
            a.target = s;
            continue;
        }
        if (a.nspecs >= 128) {
            rc = usage_error (kind, "too many objects (at most 128 specifiers): %s", s);
            goto done;
        }
        if (parse_spec (s, &a.specs[a.nspecs]) < 0) {
            rc = usage_error (kind, "argument obj: Bad object: %s (expected Class:Id[,Id…], Class:Id-Id or Class/Class:Id)",
                              s);
            goto done;
        }
        a.nspecs++;
    }
    if (kind != G_DELETE && !a.target) {
        rc = usage_error (kind, "the following arguments are required: %s, obj", kind == G_CHGRP ? "grp" : "usr");
        goto done;
    }
    if (!a.nspecs) {
        rc = usage_error (kind, "the following arguments are required: %s", "obj");
        goto done;
    }
    if (kind == G_DELETE && !a.force && !a.dry_run) {
        bool range = false;
        for (int i = 0; i < a.nspecs; i++)
            range |= a.specs[i].range;
        if (range) {
            fprintf (stderr, "Using '--dry-run'. Future versions will switch to '--force'. Explicitly set the "
                             "parameter for portability\n");
            a.dry_run = true;
        }
    }
    omero_client_t *c = cli_session_client (cli, &la, &rc);
    if (!c)
        goto done;
    if (kind != G_DELETE && (rc = resolve_target (c, &a)) != 0) {
        omero_client_destroy (&c);
        goto done;
    }
    /* Plain specifiers make one request, each path a SkipHead; together they run as one DoAll
     * (all or nothing). --ordered: one request per specifier, one after the other. */
    json_t *reqs[129];
    char (*whats)[1024] = calloc (129, sizeof *whats);
    int nr = 0;
    const spec_t *plain[128];
    int np = 0;
    for (int i = 0; i < a.nspecs; i++) {
        const spec_t *s = &a.specs[i];
        if (a.ordered || s->depth > 1) {
            reqs[nr] = build_request (&a, &s, 1, whats[nr], sizeof whats[nr]);
            nr++;
        } else
            plain[np++] = s;
    }
    if (np) {
        reqs[nr] = build_request (&a, plain, np, whats[nr], sizeof whats[nr]);
        nr++;
    }
    if (a.ordered)
        for (int i = 0; i < nr && rc == 0; i++)
            rc = run_batch (c, &a, &reqs[i], &whats[i], 1);
    else
        rc = run_batch (c, &a, reqs, whats, nr);
    for (int i = 0; i < nr; i++)
        json_decref (reqs[i]);
    free (whats);
    omero_client_destroy (&c);
done:
    for (int i = 0; i < a.nspecs; i++)
        json_decref (a.specs[i].ids);
    json_decref (a.include);
    json_decref (a.exclude);
    return rc;
}

int
cli_delete (cli_t *cli, int argc, char **argv)
{
    return graph_main (cli, G_DELETE, argc, argv);
}

int
cli_chgrp (cli_t *cli, int argc, char **argv)
{
    return graph_main (cli, G_CHGRP, argc, argv);
}

int
cli_chown (cli_t *cli, int argc, char **argv)
{
    return graph_main (cli, G_CHOWN, argc, argv);
}

/* Adds each {"class", "value"} of list to slot (0 bytes, 1 files) of comp's [size, files] for the
 * class; returns the sum of the values. */
static long long
add_by_class (json_t *comp, const json_t *list, size_t slot)
{
    long long sum = 0;
    size_t i;
    json_t *x;
    json_array_foreach (list, i, x) {
        const char *cls = json_string_value (json_object_get (x, "class"));
        json_t *e = json_object_get (comp, cls);
        if (!e)
            json_object_set_new (comp, cls, e = json_pack ("[I I]", 0LL, 0LL));
        json_int_t v = json_integer_value (json_object_get (x, "value"));
        json_array_set_new (e, slot, json_integer (json_integer_value (json_array_get (e, slot)) + v));
        sum += v;
    }
    return sum;
}

json_t *
cli_graph_usage (omero_client_t *c, const char *const *specs, int nspecs, bool groups, omero_err_t *err)
{
    json_t *targets = json_object ();
    for (int i = 0; i < nspecs; i++) {
        spec_t sp;
        if (parse_spec (specs[i], &sp) < 0 || sp.depth != 1) {
            json_decref (targets);
            snprintf (err->name, sizeof err->name, "ApiUsageException");
            snprintf (err->msg, sizeof err->msg, "Bad object: %s (expected Class:Id[,Id…])", specs[i]);
            return NULL;
        }
        json_t *ids = json_object_get (targets, sp.path[0]);
        if (!ids)
            json_object_set_new (targets, sp.path[0], ids = json_array ());
        json_array_extend (ids, sp.ids);
        json_decref (sp.ids);
    }
    if (!nspecs) {
        json_t *ec = cli_session_context (c, err);
        if (!ec) {
            json_decref (targets);
            return NULL;
        }
        if (groups)
            json_object_set (targets, "ExperimenterGroup", json_object_get (ec, "memberOfGroups"));
        else
            json_object_set_new (targets, "Experimenter", json_pack ("[I]", json_integer_value (json_object_get (ec, "userId"))));
        json_decref (ec);
    }
    json_t *req = json_pack ("{ss so}", "@type", "omero.cmd.DiskUsage2", "targetObjects", targets);
    json_t *r = submit_wait (c, req, err);
    json_decref (req);
    if (!r)
        return NULL;
    if (!strcmp (json_string_value (json_object_get (r, "@type")) ?: "", "omero.cmd.ERR")) {
        snprintf (err->name, sizeof err->name, "%s", json_string_value (json_object_get (r, "name")) ?: "GraphException");
        snprintf (err->msg, sizeof err->msg, "%s", json_string_value (json_object_get (r, "message")) ?: "failed");
        json_decref (r);
        return NULL;
    }
    json_t *comp = json_object ();  /* class -> [size, files] */
    long long size = add_by_class (comp, json_object_get (r, "bytesUsedByReferer"), 0);
    long long files = add_by_class (comp, json_object_get (r, "fileCountByReferer"), 1);
    json_decref (r);
    json_t *out = json_pack ("{sI sI s[]}", "size", (json_int_t) size, "files", (json_int_t) files, "components");
    const char *k;
    json_t *e;
    json_object_foreach (comp, k, e)
        json_array_append_new (json_object_get (out, "components"),
                               json_pack ("{ss sO sO}", "component", k, "size", json_array_get (e, 0), "files",
                                          json_array_get (e, 1)));
    json_decref (comp);
    return out;
}

int
cli_graph_cleanse (cli_t *cli, int argc, char **argv)
{
    cli_login_args_t la = {0};
    bool dry = false;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp (s, "-h") || !strcmp (s, "--help")) {
            printf ("usage: omero admin cleanse [-h] [--dry-run] [login arguments] [data_dir]\n\n"
                    "Remove the files of the binary repository that no database row refers to (files left\n"
                    "when a delete could not remove them, e.g. after a crash) and empty directories.\n"
                    "Administrators only.\n\n"
                    "Positional Arguments:\n"
                    "  data_dir              the server's omero.data.dir (checked when given)\n\n"
                    "Optional Arguments:\n"
                    "  --dry-run             list what would be removed, remove nothing\n");
            cli_login_help (stdout);
            return 0;
        }
        if (!strcmp (s, "--dry-run")) {
            dry = true;
            continue;
        }
        int r = cli_login_arg (&la, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if ((s[0] == '-' && s[1]) || dir) {
            fprintf (stderr, "omero admin cleanse: error: unrecognized arguments: %s\n", s);
            return 2;
        }
        dir = s;
    }
    int rc = 0;
    omero_client_t *c = cli_session_client (cli, &la, &rc);
    if (!c)
        return rc;
    omero_err_t err = {0};
    json_t *args = json_pack ("{sb}", "dryRun", dry);
    if (dir)
        json_object_set_new (args, "dataDir", json_string (dir));
    json_t *r = omero_client_call (c, "Command", "cleanse", args, &err);
    json_decref (args);
    omero_client_destroy (&c);
    if (!r)
        return cli_fail_omero (&err);
    size_t i;
    json_t *p;
    size_t n = 0;
    json_array_foreach (json_object_get (r, "pending"), i, p) {
        printf ("%s %s\n", dry ? "Would remove" : "Removing", json_string_value (p));
        n++;
    }
    json_array_foreach (json_object_get (r, "removed"), i, p) {
        printf ("%s %s\n", dry ? "Would remove" : "Removing", json_string_value (p));
        n++;
    }
    printf ("%s %zu orphaned path%s\n", dry ? "Would remove" : "Removed", n, n == 1 ? "" : "s");
    json_decref (r);
    return 0;
}
