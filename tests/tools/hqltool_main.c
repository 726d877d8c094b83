/* omero-hqltool: test tool for the HQL translator. Translates each HQL query (arguments, or
 * one per line of stdin with "-") and prints one JSON object per query:
 *   {"hql": ..., "sql": ..., "params": [{"name": .. | "literal": .., "list": bool}],
 *    "items": [{"kind", "label", "first_col", "ncols", "object"}],
 *    "objects": [{"type", "path", "parent", "via", "first_col", "ncols", "optional"}],
 *    "cols": [{"role", "field", "object"}]}
 * or {"hql": ..., "error": {"name": ..., "message": ...}} (exit status 1 if any failed).
 * "omero-hqltool --bench N QUERY..." translates the queries N times and prints queries/s;
 * a first argument --perms adds the permissions columns (HQL_WITH_PERMISSIONS);
 * "omero-hqltool --array V..." prints hql_pg_array of the values. */
#include "../../services/blitz/hql/hql.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *item_kinds[] = {"", "scalar", "quantity", "object", "map"};
static const char *col_roles[] = {"", "value", "id", "discriminator", "field", "unit", "counts", "permissions", "index"};

static unsigned flags;

static json_t *
describe (const char *hql)
{
    omr_err_t err = {0};
    hql_query_t *q = hql_translate_ex (hql, flags, &err);
    json_t *o = json_object ();
    json_object_set_new (o, "hql", json_string (hql));
    if (!q) {
        json_object_set_new (o, "error", json_pack ("{s:s, s:s}", "name", err.name, "message", err.msg));
        return o;
    }
    json_object_set_new (o, "sql", json_string (q->sql));
    json_t *ps = json_array ();
    for (int i = 0; i < q->nparams; i++) {
        json_t *p = json_object ();
        if (q->params[i].name)
            json_object_set_new (p, "name", json_string (q->params[i].name));
        else
            json_object_set_new (p, "literal", json_string (q->params[i].literal));
        json_object_set_new (p, "list", json_boolean (q->params[i].is_list));
        json_array_append_new (ps, p);
    }
    json_object_set_new (o, "params", ps);
    json_t *items = json_array ();
    for (int i = 0; i < q->nitems; i++) {
        const hql_item_t *it = &q->items[i];
        json_t *ij = json_pack ("{s:s, s:s, s:i, s:i, s:i}", "kind", item_kinds[it->kind], "label",
                                it->label ? it->label : "", "first_col", it->first_col, "ncols", it->ncols,
                                "object", it->object);
        if (it->keys) {
            json_t *keys = json_array ();
            for (int k = 0; k < it->ncols; k++)
                json_array_append_new (keys, json_string (it->keys[k] ? it->keys[k] : ""));
            json_object_set_new (ij, "keys", keys);
        }
        json_array_append_new (items, ij);
    }
    json_object_set_new (o, "items", items);
    json_t *objs = json_array ();
    for (int i = 0; i < q->nobjects; i++) {
        const hql_object_t *ob = &q->objects[i];
        json_array_append_new (objs, json_pack ("{s:s, s:s, s:i, s:s?, s:i, s:i, s:b}", "type", ob->type->name,
                                                "path", ob->path ? ob->path : "", "parent", ob->parent, "via",
                                                ob->via ? ob->via->name : NULL, "first_col", ob->first_col,
                                                "ncols", ob->ncols, "optional", ob->optional));
    }
    json_object_set_new (o, "objects", objs);
    json_t *cols = json_array ();
    for (int i = 0; i < q->ncols; i++) {
        const hql_column_t *c = &q->cols[i];
        json_array_append_new (cols, json_pack ("{s:s, s:s?, s:i}", "role", col_roles[c->role], "field",
                                                c->field ? c->field->name : NULL, "object", c->object));
    }
    json_object_set_new (o, "cols", cols);
    json_object_set_new (o, "object_query", json_boolean (q->object_query));
    hql_query_destroy (&q);
    return o;
}

static int
emit (const char *hql)
{
    json_t *o = describe (hql);
    int failed = json_object_get (o, "error") != NULL;
    char *s = json_dumps (o, JSON_COMPACT | JSON_ENSURE_ASCII);
    puts (s ? s : "{}");
    free (s);
    json_decref (o);
    return failed;
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: omero-hqltool HQL... | omero-hqltool - | omero-hqltool --bench N HQL...\n");
        return 2;
    }
    if (strcmp (argv[1], "--perms") == 0) {   /* add the omero:details permissions columns */
        flags |= HQL_WITH_PERMISSIONS;
        argv++;
        argc--;
        if (argc < 2)
            return 2;
    }
    if (strcmp (argv[1], "--array") == 0) {   /* print hql_pg_array of the other arguments */
        char *a = hql_pg_array ((const char *const *) argv + 2, argc - 2);
        puts (a ? a : "");
        free (a);
        return a ? 0 : 1;
    }
    if (strcmp (argv[1], "--bench") == 0) {
        if (argc < 4) {
            fprintf (stderr, "usage: omero-hqltool --bench N HQL...\n");
            return 2;
        }
        long n = atol (argv[2]);
        struct timespec a, b, ca, cb;
        clock_gettime (CLOCK_MONOTONIC, &a);
        clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ca);
        long done = 0;
        for (long k = 0; k < n; k++)
            for (int i = 3; i < argc; i++) {
                omr_err_t err;
                hql_query_t *q = hql_translate (argv[i], &err);
                if (!q) {
                    fprintf (stderr, "%s: %s\n", argv[i], err.msg);
                    return 1;
                }
                hql_query_destroy (&q);
                done++;
            }
        clock_gettime (CLOCK_MONOTONIC, &b);
        clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &cb);
        double s = (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9;
        double cpu = (double) (cb.tv_sec - ca.tv_sec) + (double) (cb.tv_nsec - ca.tv_nsec) / 1e9;
        /* CPU time too: on a shared machine the wall-clock rate mostly measures the neighbours */
        printf ("{\"queries\": %ld, \"seconds\": %.4f, \"queries_per_second\": %.0f, \"cpu_seconds\": %.4f, "
                "\"queries_per_cpu_second\": %.0f}\n", done, s, done / s, cpu, done / cpu);
        return 0;
    }
    int failed = 0;
    if (strcmp (argv[1], "-") == 0) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline (&line, &cap, stdin)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = 0;
            if (len == 0)
                continue;
            failed |= emit (line);
        }
        free (line);
    } else
        for (int i = 1; i < argc; i++)
            failed |= emit (argv[i]);
    fflush (stdout);
    return failed ? 1 : 0;
}
