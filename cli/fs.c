/* fs: `omero fs` — the managed repository as OMERO's CLI shows it: repos, sets, images, ls,
 * usage, importtime, mkdir and rename, through ManagedRepository.* on the server. */
#include "graph.h"
#include "cli.h"
#include "login.h"
#include "sessions.h"
#include "table.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    cli_style_t style;
    long long limit, offset;
    const char *order, *units, *with_transfer, *wait;
    bool managed, without_images, check, size_only, report, groups, parents, no_move;
    const char *pos[64];
    int npos;
} fargs_t;

static const char *const subs[] = {"repos", "sets", "images", "ls", "usage", "importtime", "mkdir", "rename", NULL};

static void
usage (FILE *out)
{
    fputs ("usage: omero fs [-h] {repos,sets,images,ls,usage,importtime,mkdir,rename} ...\n", out);
}

static int
help (void)
{
    usage (stdout);
    fputs ("\nCommands for working with binary data\n\n"
           "Positional Arguments:\n"
           "    repos               List all repositories (--managed: managed repositories only)\n"
           "    sets                List filesets (--limit, --offset, --order newest|oldest|prefix,\n"
           "                        --without-images, --with-transfer T, --check)\n"
           "    images              List images with their fileset and original files (--limit, --offset, --order)\n"
           "    ls                  List a directory of the managed repository ([PATH])\n"
           "    usage               Disk usage of your files or of Class:IDs (--size_only, --report, --units K|M|G|T|P)\n"
           "    importtime          Import times of a fileset (FILESET or Fileset:ID)\n"
           "    mkdir               Create a repository directory (administrators; --parents)\n"
           "    rename              Move a fileset to the current template path (administrators; --no-move)\n\n"
           "Every listing takes --style sql|csv|plain|json.\n\n",
           stdout);
    cli_login_help (stdout);
    return 0;
}

static int
parse (const char *sub, int argc, char **argv, cli_login_args_t *la, fargs_t *f)
{
    f->limit = 25;
    for (int i = 0; i < argc; i++) {
        int r = cli_login_arg (la, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        const char *a = argv[i];
        const char *eq = strchr (a, '=');
        char key[64];
        snprintf (key, sizeof key, "%.*s", eq ? (int) (eq - a) : (int) strlen (a), a);
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        bool takes = !strcmp (key, "--style") || !strcmp (key, "--limit") || !strcmp (key, "--offset")
                     || !strcmp (key, "--order") || !strcmp (key, "--units") || !strcmp (key, "--with-transfer")
                     || !strcmp (key, "--wait");
        if (takes) {
            if (!val) {
                fprintf (stderr, "omero fs %s: error: argument %s: expected one argument\n", sub, key);
                return 2;
            }
            if (!eq)
                i++;
            if (!strcmp (key, "--style") && cli_style_parse (val, &f->style) < 0) {
                fprintf (stderr, "omero fs %s: error: argument --style: invalid choice: '%s' (%s)\n", sub, val,
                         cli_style_choices ());
                return 2;
            }
            if (!strcmp (key, "--limit"))
                f->limit = atoll (val);
            if (!strcmp (key, "--offset"))
                f->offset = atoll (val);
            if (!strcmp (key, "--order")) {
                if (strcmp (val, "newest") && strcmp (val, "oldest") && strcmp (val, "prefix")) {
                    fprintf (stderr, "omero fs %s: error: argument --order: invalid choice: '%s' (choose from "
                             "'newest', 'oldest', 'prefix')\n", sub, val);
                    return 2;
                }
                f->order = val;
            }
            if (!strcmp (key, "--units")) {
                if (strlen (val) != 1 || !strchr ("KMGTP", val[0])) {
                    fprintf (stderr, "omero fs %s: error: argument --units: invalid choice: '%s' (choose from 'K', "
                             "'M', 'G', 'T', 'P')\n", sub, val);
                    return 2;
                }
                f->units = val;
            }
            if (!strcmp (key, "--with-transfer"))
                f->with_transfer = val;
            if (!strcmp (key, "--wait"))
                f->wait = val;
        } else if (!strcmp (a, "--managed"))
            f->managed = true;
        else if (!strcmp (a, "--without-images"))
            f->without_images = true;
        else if (!strcmp (a, "--check"))
            f->check = true;
        else if (!strcmp (a, "--size_only") || !strcmp (a, "--size-only"))
            f->size_only = true;
        else if (!strcmp (a, "--report"))
            f->report = true;
        else if (!strcmp (a, "--groups"))
            f->groups = true;
        else if (!strcmp (a, "--parents"))
            f->parents = true;
        else if (!strcmp (a, "--no-move"))
            f->no_move = true;
        else if (a[0] == '-' && a[1]) {
            fprintf (stderr, "omero fs %s: error: unrecognized argument: %s\n", sub, a);
            return 2;
        } else if (f->npos < 64)
            f->pos[f->npos++] = a;
    }
    return 0;
}

static void
human_size (long long b, char *out, size_t len)
{
    static const char *const u[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    double v = (double) b;
    int k = 0;
    while (v >= 1024 && k < 5) {
        v /= 1024;
        k++;
    }
    if (k == 0)
        snprintf (out, len, "%lld B", b);
    else
        snprintf (out, len, "%.1f %s", v, u[k]);
}

static long long
id_arg (const char *s, const char *cls)
{
    size_t l = strlen (cls);
    if (!strncmp (s, cls, l) && s[l] == ':')
        s += l + 1;
    char *end;
    long long v = strtoll (s, &end, 10);
    return *end || v < 0 ? -1 : v;
}

static int
run (omero_client_t *c, const char *sub, fargs_t *f)
{
    omero_err_t err = {0};
    char b1[64], b2[64], b3[64], b4[64], b5[64];
    if (!strcmp (sub, "repos")) {
        json_t *r = omero_client_call (c, "ManagedRepository", "listRepositories", NULL, &err);
        if (!r)
            return cli_fail_omero (&err);
        cli_table_t *t = cli_table_new ((const char *const[]) {"#", "Id", "UUID", "Type", "Path", NULL});
        cli_table_set_style (t, f->style);
        size_t i;
        json_t *x;
        json_array_foreach (json_object_get (r, "data"), i, x)
        {
            snprintf (b1, sizeof b1, "%zu", i);
            snprintf (b2, sizeof b2, "%lld", omero_json_int (x, "id", 0));
            cli_table_row (t, b1, b2, json_string_value (json_object_get (x, "uuid")),
                           json_string_value (json_object_get (x, "type")), json_string_value (json_object_get (x, "path")));
        }
        cli_table_print (t, stdout);
        cli_table_destroy (&t);
        json_decref (r);
        return 0;
    }
    if (!strcmp (sub, "sets") || !strcmp (sub, "images")) {
        bool sets = !strcmp (sub, "sets");
        json_t *args = json_pack ("{s:I, s:I, s:s}", "limit", (json_int_t) f->limit, "offset", (json_int_t) f->offset,
                                  "order", f->order ? f->order : "newest");
        if (f->without_images)
            json_object_set_new (args, "withoutImages", json_true ());
        if (f->with_transfer)
            json_object_set_new (args, "withTransfer", json_string (f->with_transfer));
        if (f->check && sets)
            json_object_set_new (args, "check", json_true ());
        json_t *r = omero_client_call (c, "ManagedRepository", sets ? "listFilesets" : "listImages", args, &err);
        json_decref (args);
        if (!r)
            return cli_fail_omero (&err);
        cli_table_t *t = sets && f->check
                             ? cli_table_new ((const char *const[]) {"#", "Id", "Prefix", "Images", "Files", "Transfer",
                                                                     "Check", NULL})
                         : sets ? cli_table_new ((const char *const[]) {"#", "Id", "Prefix", "Images", "Files", "Transfer", NULL})
                              : cli_table_new ((const char *const[]) {"#", "Image", "Name", "FS", "# Files", "Size", NULL});
        cli_table_set_style (t, f->style);
        size_t i;
        json_t *x;
        json_array_foreach (json_object_get (r, "data"), i, x)
        {
            snprintf (b1, sizeof b1, "%lld", (long long) i + f->offset);
            snprintf (b2, sizeof b2, "%lld", omero_json_int (x, "id", 0));
            if (sets) {
                snprintf (b3, sizeof b3, "%lld", omero_json_int (x, "images", 0));
                snprintf (b4, sizeof b4, "%lld", omero_json_int (x, "files", 0));
                if (f->check)
                    cli_table_row (t, b1, b2, json_string_value (json_object_get (x, "prefix")), b3, b4,
                                   json_string_value (json_object_get (x, "transfer")),
                                   json_string_value (json_object_get (x, "check")));
                else
                    cli_table_row (t, b1, b2, json_string_value (json_object_get (x, "prefix")), b3, b4,
                                   json_string_value (json_object_get (x, "transfer")));
            } else {
                snprintf (b3, sizeof b3, "%lld", omero_json_int (x, "fileset", 0));
                snprintf (b4, sizeof b4, "%lld", omero_json_int (x, "files", 0));
                human_size (omero_json_int (x, "size", 0), b5, sizeof b5);
                cli_table_row (t, b1, b2, json_string_value (json_object_get (x, "name")), b3, b4, b5);
            }
        }
        cli_table_page (t, f->offset, f->limit, omero_json_int (r, "total", 0));
        cli_table_print (t, stdout);
        cli_table_destroy (&t);
        json_decref (r);
        return 0;
    }
    if (!strcmp (sub, "ls")) {
        json_t *args = json_pack ("{s:s}", "path", f->npos ? f->pos[0] : "");
        json_t *r = omero_client_call (c, "ManagedRepository", "list", args, &err);
        json_decref (args);
        if (!r)
            return cli_fail_omero (&err);
        size_t i;
        json_t *x;
        json_array_foreach (json_object_get (r, "data"), i, x)
        {
            const char *type = json_string_value (json_object_get (x, "type"));
            printf ("%s%s\n", json_string_value (json_object_get (x, "name")), type && !strcmp (type, "dir") ? "/" : "");
        }
        json_decref (r);
        return 0;
    }
    if (!strcmp (sub, "usage")) {
        /* ManagedRepository.usage counts the imported files of images, filesets, datasets and
         * projects; DiskUsage2 (cli_graph_usage) every other class, thumbnails and --groups */
        bool graph = f->groups;
        for (int i = 0; i < f->npos; i++)
            graph |= strncmp (f->pos[i], "Image:", 6) && strncmp (f->pos[i], "Fileset:", 8)
                     && strncmp (f->pos[i], "Dataset:", 8) && strncmp (f->pos[i], "Project:", 8);
        json_t *r = NULL;
        if (graph)
            r = cli_graph_usage (c, f->pos, f->npos, f->groups, &err);
        else {
            json_t *objs = json_array ();
            for (int i = 0; i < f->npos; i++)
                json_array_append_new (objs, json_string (f->pos[i]));
            json_t *args = json_pack ("{s:o}", "objects", objs);
            r = omero_client_call (c, "ManagedRepository", "usage", args, &err);
            json_decref (args);
        }
        if (!r)
            return cli_fail_omero (&err);
        long long size = omero_json_int (r, "size", 0), files = omero_json_int (r, "files", 0);
        if (f->size_only)
            printf ("%lld\n", size);
        else {
            if (f->units) {
                int shift = (int) (strchr ("KMGTP", f->units[0]) - "KMGTP" + 1) * 10;
                printf ("Total disk usage: %lld %siB in %lld files\n", size >> shift, f->units, files);
            } else
                printf ("Total disk usage: %lld bytes in %lld files\n", size, files);
            if (f->report) {
                cli_table_t *t = cli_table_new ((const char *const[]) {"component", "size (bytes)", "files", NULL});
                cli_table_set_style (t, f->style);
                size_t i;
                json_t *x;
                json_array_foreach (json_object_get (r, "components"), i, x)
                {
                    snprintf (b1, sizeof b1, "%lld", omero_json_int (x, "size", 0));
                    snprintf (b2, sizeof b2, "%lld", omero_json_int (x, "files", 0));
                    cli_table_row (t, json_string_value (json_object_get (x, "component")), b1, b2);
                }
                cli_table_print (t, stdout);
                cli_table_destroy (&t);
            }
        }
        json_decref (r);
        return 0;
    }
    if (!strcmp (sub, "importtime")) {
        long long id = f->npos ? id_arg (f->pos[0], "Fileset") : -1;
        if (id < 0) {
            fprintf (stderr, "omero fs importtime: error: give a fileset id (N or Fileset:N)\n");
            return 2;
        }
        json_t *args = json_pack ("{s:I}", "fileset", (json_int_t) id);
        json_t *r = omero_client_call (c, "ManagedRepository", "importTime", args, &err);
        json_decref (args);
        if (!r)
            return cli_fail_omero (&err);
        size_t i;
        json_t *x;
        long long first = 0, last = 0;
        json_array_foreach (json_object_get (r, "jobs"), i, x)
        {
            const char *type = json_string_value (json_object_get (x, "type"));
            long long s = omero_json_int (x, "started", 0), e = omero_json_int (x, "finished", 0);
            long long sub_ = omero_json_int (x, "submitted", 0);
            if (!first || (sub_ && sub_ < first))
                first = sub_;
            if (e > last)
                last = e;
            const char *what = type && !strcmp (type, "UploadJob") ? "upload" : "import (metadata, pixel statistics)";
            if (s && e)
                printf ("%s: %.3f s (%s)\n", what, (e - s) / 1000.0, json_string_value (json_object_get (x, "status")));
            else
                printf ("%s: %s\n", what, json_string_value (json_object_get (x, "status")));
        }
        if (first && last)
            printf ("total: %.3f s\n", (last - first) / 1000.0);
        json_decref (r);
        return 0;
    }
    if (!strcmp (sub, "mkdir")) {
        if (!f->npos) {
            fprintf (stderr, "omero fs mkdir: error: give the path to create\n");
            return 2;
        }
        json_t *args = json_pack ("{s:s, s:b}", "path", f->pos[0], "parents", f->parents);
        json_t *r = omero_client_call (c, "ManagedRepository", "makeDir", args, &err);
        json_decref (args);
        if (!r)
            return cli_fail_omero (&err);
        json_decref (r);
        return 0;
    }
    /* rename */
    long long id = f->npos ? id_arg (f->pos[0], "Fileset") : -1;
    if (id < 0) {
        fprintf (stderr, "omero fs rename: error: give a fileset id (N or Fileset:N)\n");
        return 2;
    }
    json_t *args = json_pack ("{s:I, s:b}", "fileset", (json_int_t) id, "noMove", f->no_move);
    json_t *r = omero_client_call (c, "ManagedRepository", "renameFileset", args, &err);
    json_decref (args);
    if (!r)
        return cli_fail_omero (&err);
    const char *old = json_string_value (json_object_get (r, "old")), *nw = json_string_value (json_object_get (r, "new"));
    printf ("Renaming Fileset:%lld to %s\n", id, nw);
    if (f->no_move)
        printf ("Done. You will now need to move these files manually:\n-----\nmv %s/%s %s/%s\n",
                json_string_value (json_object_get (r, "root")), old, json_string_value (json_object_get (r, "root")), nw);
    else
        printf ("Moving %s to %s\n", old, nw);
    json_decref (r);
    return 0;
}

int
cli_fs (cli_t *cli, int argc, char **argv)
{
    cli_login_args_t la = {0};
    int rc = 0;
    int i = cli_login_subcommand (&la, argc, argv, "fs", usage, help, &rc);
    if (i < 0)
        return rc;
    const char *sub = argv[i];
    bool known = false;
    for (int k = 0; subs[k]; k++)
        known |= !strcmp (subs[k], sub);
    if (!known) {
        usage (stderr);
        fprintf (stderr, "omero fs: error: argument subcommand: invalid choice: '%s' (choose from 'repos', 'sets', "
                 "'images', 'ls', 'usage', 'importtime', 'mkdir', 'rename')\n", sub);
        return 2;
    }
    for (int j = i + 1; j < argc; j++)
        if (!strcmp (argv[j], "-h") || !strcmp (argv[j], "--help"))
            return help ();
    fargs_t f = {0};
    rc = parse (sub, argc - i - 1, argv + i + 1, &la, &f);
    if (rc)
        return rc;
    omero_client_t *c = cli_session_client (cli, &la, &rc);
    if (!c)
        return rc;
    rc = run (c, sub, &f);
    omero_client_destroy (&c);
    return rc;
}
