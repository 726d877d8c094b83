/* graph_rules: traversal and execution of graph requests over a temporary table (see graph_rules.h). */
#include "graph_rules.h"
#include "hql/hql_model.h"
#include "model_json.h"
#include "rawfile.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Kinds of references between owned rows. */
enum {
    E_PARENT,   /* src.col -> dst, dst holds the inverse collection: src goes with dst */
    E_COMP,     /* src.col -> dst component: dst goes with src when nothing else refers to it */
    E_DUAL,     /* both (WellSample.image) */
    E_LPARENT,  /* link.parent */
    E_LCHILD,   /* link.child: the child goes with the link when no other link keeps it */
    E_NULLIFY,  /* only cleared when dst is deleted (Pixels.relatedTo) */
};

typedef struct {
    const char *src;            /* root table of the referring type (as named in the set) */
    const char *coltab;         /* table holding the column */
    const char *key;            /* that table's key column ("id", or "<root>_id" of a subclass table) */
    const char *col;
    const char *dst;            /* root table of the target */
    int kind;
    bool nullable;
    bool guard;                 /* a parent pointer that keeps a component with its surviving parent */
} edge_t;

/* Growing text. */
typedef struct {
    char *s;
    size_t len, cap;
} sb_t;

static void sb_add (sb_t *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static void
sb_add (sb_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (NULL, 0, fmt, ap);
    va_end (ap);
    if (n < 0)
        return;
    if (b->len + (size_t) n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + (size_t) n + 1)
            cap *= 2;
        char *s = realloc (b->s, cap);
        if (!s)
            return;
        b->s = s;
        b->cap = cap;
    }
    va_start (ap, fmt);
    vsnprintf (b->s + b->len, b->cap - b->len, fmt, ap);
    va_end (ap);
    b->len += (size_t) n;
}

typedef struct {
    blz_app_t *app;
    blz_db_t *db;
    const blz_ctx_t *ctx;
    int kind;                   /* of the request that modifies (SkipHead: of its inner request) */
    const json_t *req;          /* the request (for SkipHead the inner one, with the found targets) */
    edge_t *edges;
    int nedges;
    int64_t group_id, user_id;  /* Chgrp2 / Chown2 */
    bool dry_run;
    blz_gr_tick_fn tick;
    void *arg;
} gr_t;

static const omr_type_t *
root_of (const omr_type_t *t)
{
    return hql_model_type (t->root);
}

/* The root type stored in a table. */
static const omr_type_t *
table_type (const char *tbl)
{
    for (int i = 0; i < OMR_MODEL_NTYPES; i++) {
        const omr_type_t *t = hql_model_type (i);
        if (t == hql_model_type (t->root) && !strcmp (t->table, tbl))
            return t;
    }
    return NULL;
}

/* A type by any of OMERO's spellings. */
static const omr_type_t *
type_named (const char *name)
{
    int i = name ? hql_model_type_index (name) : -1;
    return i >= 0 ? hql_model_type (i) : NULL;
}

static bool
owned (const omr_type_t *t)
{
    return (root_of (t)->flags & OMR_TF_OWNED) != 0;
}

/* Rules that the collections of the model do not tell. */
static int
override_kind (const char *decl, const char *field, int kind)
{
    static const struct {
        const char *type, *field;
        int kind;
    } o[] = {
        {"Channel", "logicalChannel", E_COMP},  {"FilesetEntry", "originalFile", E_COMP},
        {"WellSample", "image", E_DUAL},        {"Pixels", "relatedTo", E_NULLIFY},
        {"Mask", "pixels", E_NULLIFY},          {"Roi", "source", E_NULLIFY},
    };
    for (size_t i = 0; i < sizeof o / sizeof o[0]; i++)
        if (!strcmp (o[i].type, decl) && !strcmp (o[i].field, field))
            return o[i].kind;
    return kind;
}

/* The references between owned tables, from the model. */
static int
load_edges (gr_t *g)
{
    int cap = 512;
    g->edges = calloc ((size_t) cap, sizeof *g->edges);
    g->nedges = 0;
    for (int ti = 0; ti < OMR_MODEL_NTYPES; ti++) {
        const omr_type_t *t = hql_model_type (ti), *root = root_of (t);
        if (!(root->flags & OMR_TF_OWNED))
            continue;
        for (int k = 0; k < t->nfields; k++) {
            const omr_field_t *f = hql_model_field_at (t->first_field + k);
            if (f->kind != OMR_FIELD_REF || (f->flags & OMR_FF_DETAILS) || !f->column || !f->table || f->target < 0)
                continue;
            const omr_type_t *x = hql_model_type (f->target), *xr = root_of (x);
            if (!(xr->flags & OMR_TF_OWNED))
                continue;   /* users, groups, enumerations, events: outside */
            bool dup = false;
            for (int e = 0; e < g->nedges && !dup; e++)
                dup = !strcmp (g->edges[e].coltab, f->table) && !strcmp (g->edges[e].col, f->column);
            if (dup)
                continue;
            const omr_type_t *decl = hql_model_type (f->declared_in);
            int kind;
            if ((t->flags & OMR_TF_LINK) && (!strcmp (f->name, "parent") || !strcmp (f->name, "child")))
                kind = !strcmp (f->name, "parent") ? E_LPARENT : E_LCHILD;
            else {
                kind = E_COMP;
                for (int si = 0; si < OMR_MODEL_NTYPES && kind == E_COMP; si++) {
                    const omr_type_t *s = hql_model_type (si);
                    if (s->root != x->root)
                        continue;
                    for (int m = 0; m < s->nfields; m++) {
                        const omr_field_t *c = hql_model_field_at (s->first_field + m);
                        if (c->kind == OMR_FIELD_COLLECTION && c->inverse_column && c->target >= 0
                            && !strcmp (c->inverse_column, f->column) && hql_model_type (c->target)->root == t->root) {
                            kind = E_PARENT;
                            break;
                        }
                    }
                }
                kind = override_kind (decl->name, f->name, kind);
            }
            if (g->nedges == cap) {
                cap *= 2;
                g->edges = realloc (g->edges, (size_t) cap * sizeof *g->edges);
            }
            const char *key = "id";
            if (strcmp (f->table, root->table))
                key = decl->key_column ? decl->key_column : "id";
            g->edges[g->nedges++] = (edge_t) {
                .src = root->table, .coltab = f->table, .key = key, .col = f->column, .dst = xr->table,
                .kind = kind, .nullable = (f->flags & OMR_FF_NULLABLE) != 0,
                .guard = kind == E_PARENT && !(root == hql_model_type (OMR_TYPE_Image) && !strcmp (f->name, "fileset")),
            };
        }
    }
    return 0;
}

/* Run one statement; rows touched or -1. */
static long
run (gr_t *g, omr_err_t *err, const char *sql)
{
    return blz_db_exec (g->db, err, sql, 0, NULL);
}

static long
runf (gr_t *g, omr_err_t *err, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
static long
runf (gr_t *g, omr_err_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    char *sql = NULL;
    int n = vasprintf (&sql, fmt, ap);
    va_end (ap);
    if (n < 0)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    long r = run (g, err, sql);
    free (sql);
    return r;
}

static PGresult *
queryf (gr_t *g, omr_err_t *err, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
static PGresult *
queryf (gr_t *g, omr_err_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    char *sql = NULL;
    int n = vasprintf (&sql, fmt, ap);
    va_end (ap);
    if (n < 0) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        return NULL;
    }
    PGresult *r = blz_db_query (g->db, err, sql, 0, NULL);
    free (sql);
    return r;
}

/* "x.discriminator IN (...)" for a type stored with others in its root's table, else "true". */
static void
type_pred (sb_t *b, const omr_type_t *t, const char *alias)
{
    if (t->disc_in && t != root_of (t))
        sb_add (b, "%s.discriminator IN (%s)", alias, t->disc_in);
    else
        sb_add (b, "true");
}

/* SQL literal of a string (through libpq's escaping). */
static void
sb_literal (gr_t *g, sb_t *b, const char *s)
{
    char *q = PQescapeLiteral (blz_db_conn (g->db), s, strlen (s));
    sb_add (b, "%s", q ? q : "''");
    PQfreemem (q);
}

/* The childOptions predicate on rows x of table tbl: which = "includeType" or "excludeType";
 * false when no option names a type stored in tbl. */
static void
option_pred (gr_t *g, sb_t *b, const char *tbl, const char *which)
{
    json_t *opts = json_object_get (g->req, "childOptions");
    size_t i, k;
    json_t *o, *tn;
    sb_add (b, "(false");
    json_array_foreach (opts, i, o) {
        json_array_foreach (json_object_get (o, which), k, tn) {
            const omr_type_t *t = type_named (json_string_value (tn));
            if (!t || strcmp (root_of (t)->table, tbl))
                continue;
            sb_add (b, " OR (");
            type_pred (b, t, "x");
            if (!strcmp (tbl, "annotation")) {
                json_t *inc = json_object_get (o, "includeNs"), *exc = json_object_get (o, "excludeNs");
                size_t n;
                json_t *ns;
                if (json_array_size (inc)) {
                    sb_add (b, " AND x.ns IN (");
                    json_array_foreach (inc, n, ns) {
                        if (n)
                            sb_add (b, ", ");
                        sb_literal (g, b, json_string_value (ns));
                    }
                    sb_add (b, ")");
                }
                if (json_array_size (exc)) {
                    sb_add (b, " AND (x.ns IS NULL OR x.ns NOT IN (");
                    json_array_foreach (exc, n, ns) {
                        if (n)
                            sb_add (b, ", ");
                        sb_literal (g, b, json_string_value (ns));
                    }
                    sb_add (b, "))");
                }
            }
            sb_add (b, ")");
        }
    }
    sb_add (b, ")");
}

/* Types a request leaves alone unless asked (OMERO's delete keeps tags, files and terms). */
static void
default_excluded (gr_t *g, sb_t *b, const char *tbl)
{
    if (g->kind != BLZ_GR_DELETE || strcmp (tbl, "annotation")) {
        sb_add (b, "false");
        return;
    }
    const char *names[] = {"TagAnnotation", "FileAnnotation", "TermAnnotation"};
    sb_add (b, "(false");
    for (size_t i = 0; i < 3; i++) {
        sb_add (b, " OR ");
        type_pred (b, type_named (names[i]), "x");
    }
    sb_add (b, ")");
}

/* Whether rows x of tbl may be taken along by the caller (others' objects are left, unlinked). */
static void
perm_pred (gr_t *g, sb_t *b)
{
    if (g->kind == BLZ_GR_DELETE)
        sb_add (b, "(omero_rights(x.owner_id, x.group_id) & 4) <> 0");
    else if (g->kind == BLZ_GR_CHGRP || g->kind == BLZ_GR_CHOWN)
        sb_add (b, "x.owner_id IN (SELECT owner_id FROM _gowners)");
    else
        sb_add (b, "true");
}

static bool
forced (gr_t *g)
{
    return g->kind == BLZ_GR_USAGE || g->kind == BLZ_GR_SKIPHEAD;
}

/* The table of a link table's parents. */
static const char *
link_parent_table (gr_t *g, const char *coltab)
{
    for (int e = 0; e < g->nedges; e++)
        if (g->edges[e].kind == E_LPARENT && !strcmp (g->edges[e].coltab, coltab))
            return g->edges[e].dst;
    return NULL;
}

/* "x.discriminator IN (…) OR …" for the typesToIgnore stored in tbl (false when none). */
static void
ignore_pred (gr_t *g, sb_t *b, const char *tbl, const char *alias)
{
    size_t i;
    json_t *tn;
    sb_add (b, "(false");
    json_array_foreach (json_object_get (g->req, "typesToIgnore"), i, tn) {
        const omr_type_t *t = type_named (json_string_value (tn));
        if (!t || strcmp (root_of (t)->table, tbl))
            continue;
        sb_add (b, " OR ");
        type_pred (b, t, alias);
    }
    sb_add (b, ")");
}

/* Add the candidates of table tbl (rows of _gc) that the rules take, as generation gen. */
static long
take_candidates (gr_t *g, const char *tbl, int gen, omr_err_t *err)
{
    sb_t b = {0};
    sb_add (&b, "INSERT INTO _g SELECT DISTINCT '%s', x.id, %d FROM _gc c JOIN %s x ON x.id = c.id WHERE c.tbl = '%s' AND ",
            tbl, gen, tbl, tbl);
    if (forced (g))
        sb_add (&b, "true");
    else {
        sb_add (&b, "(");
        option_pred (g, &b, tbl, "includeType");
        sb_add (&b, " OR (NOT ");
        option_pred (g, &b, tbl, "excludeType");
        sb_add (&b, " AND NOT ");
        default_excluded (g, &b, tbl);
        /* orphans only: nothing outside the set refers to x as a component or link child */
        for (int e = 0; e < g->nedges; e++) {
            edge_t *ed = &g->edges[e];
            if (strcmp (ed->dst, tbl) || (ed->kind != E_COMP && ed->kind != E_DUAL && ed->kind != E_LCHILD))
                continue;
            sb_add (&b, " AND NOT EXISTS (SELECT 1 FROM %s r WHERE r.%s = x.id AND NOT EXISTS "
                        "(SELECT 1 FROM _g h WHERE h.tbl = '%s' AND h.id = r.%s))",
                    ed->coltab, ed->col, ed->src, ed->key);
        }
        /* a component that belongs to a surviving parent stays with it */
        for (int e = 0; e < g->nedges; e++) {
            edge_t *ed = &g->edges[e];
            if (strcmp (ed->src, tbl) || strcmp (ed->coltab, tbl) || ed->kind != E_PARENT || !ed->guard)
                continue;
            sb_add (&b, " AND (x.%s IS NULL OR EXISTS (SELECT 1 FROM _g h WHERE h.tbl = '%s' AND h.id = x.%s))", ed->col,
                    ed->dst, ed->col);
        }
        sb_add (&b, "))");
    }
    sb_add (&b, " AND NOT ");
    ignore_pred (g, &b, tbl, "x");
    sb_add (&b, " AND ");
    perm_pred (g, &b);
    sb_add (&b, " ON CONFLICT DO NOTHING");
    long n = b.s ? run (g, err, b.s) : -1;
    free (b.s);
    return n;
}

/* One round: everything the rows of generation gen-1 bring in; the number of rows added. */
static long
round_once (gr_t *g, int gen, omr_err_t *err)
{
    int prev = gen - 1;
    PGresult *res = queryf (g, err, "SELECT DISTINCT tbl FROM _g WHERE gen = %d", prev);
    if (!res)
        return -1;
    int nt = PQntuples (res);
    long added = 0, n;
    bool cand = false;
    if (run (g, err, "TRUNCATE _gc") < 0)
        goto fail;
    for (int r = 0; r < nt; r++) {
        const char *tbl = PQgetvalue (res, r, 0);
        for (int e = 0; e < g->nedges; e++) {
            edge_t *ed = &g->edges[e];
            /* referrers that go with tbl's rows */
            bool hard = ed->kind == E_PARENT || ed->kind == E_DUAL || ed->kind == E_LPARENT || ed->kind == E_LCHILD
                        || (g->kind == BLZ_GR_DELETE && ed->kind == E_COMP && !ed->nullable);
            if (g->kind == BLZ_GR_SKIPHEAD && ed->kind == E_LCHILD)
                hard = false;   /* finding descendants: not up through links */
            if (hard && !strcmp (ed->dst, tbl)) {
                sb_t ig = {0};
                if (!strcmp (ed->coltab, ed->src)) {
                    sb_add (&ig, " WHERE NOT ");
                    ignore_pred (g, &ig, ed->src, "r");
                }
                n = runf (g, err,
                          "INSERT INTO _g SELECT DISTINCT '%s', r.%s, %d FROM %s r JOIN _g h ON h.tbl = '%s' AND h.gen = %d "
                          "AND h.id = r.%s%s ON CONFLICT DO NOTHING",
                          ed->src, ed->key, gen, ed->coltab, tbl, prev, ed->col, ig.s ? ig.s : "");
                free (ig.s);
                if (n < 0)
                    goto fail;
                added += n;
            }
            /* components and link children of tbl's rows: candidates */
            if ((ed->kind == E_COMP || ed->kind == E_DUAL || ed->kind == E_LCHILD) && !strcmp (ed->src, tbl)) {
                /* a link's child only follows its parent: a link deleted alone orphans it */
                const char *ptab = ed->kind == E_LCHILD ? link_parent_table (g, ed->coltab) : NULL;
                char pcond[256] = "";
                if (ptab)
                    snprintf (pcond, sizeof pcond, " AND EXISTS (SELECT 1 FROM _g p WHERE p.tbl = '%s' AND p.id = r.parent)",
                              ptab);
                n = runf (g, err,
                          "INSERT INTO _gc SELECT '%s', r.%s FROM %s r JOIN _g h ON h.tbl = '%s' AND h.gen = %d "
                          "AND h.id = r.%s WHERE r.%s IS NOT NULL%s",
                          ed->dst, ed->col, ed->coltab, tbl, prev, ed->key, ed->col, pcond);
                if (n < 0)
                    goto fail;
                cand |= n > 0;
            }
        }
        /* a fileset goes when all its images go (usage: with any of them) */
        if (!strcmp (tbl, "image") && g->kind != BLZ_GR_SKIPHEAD) {
            n = runf (g, err,
                      "INSERT INTO _g SELECT DISTINCT 'fileset', i.fileset, %d FROM image i JOIN _g h ON h.tbl = 'image' "
                      "AND h.gen = %d AND h.id = i.id WHERE i.fileset IS NOT NULL%s ON CONFLICT DO NOTHING",
                      gen, prev,
                      g->kind == BLZ_GR_USAGE ? ""
                                              : " AND NOT EXISTS (SELECT 1 FROM image j WHERE j.fileset = i.fileset "
                                                "AND NOT EXISTS (SELECT 1 FROM _g k WHERE k.tbl = 'image' AND k.id = j.id))");
            if (n < 0)
                goto fail;
            added += n;
        }
    }
    PQclear (res);
    res = NULL;
    if (cand) {
        res = queryf (g, err, "SELECT DISTINCT tbl FROM _gc");
        if (!res)
            return -1;
        for (int r = 0; r < PQntuples (res); r++) {
            n = take_candidates (g, PQgetvalue (res, r, 0), gen, err);
            if (n < 0)
                goto fail;
            added += n;
        }
        PQclear (res);
    }
    return added;
fail:
    PQclear (res);
    return -1;
}

/* The class expression of rows x of a table (per discriminator for shared tables). */
static void
class_expr (sb_t *b, const char *tbl, bool full)
{
    const omr_type_t *root = NULL;
    bool disc = false;
    for (int i = 0; i < OMR_MODEL_NTYPES; i++) {
        const omr_type_t *t = hql_model_type (i);
        if (t == root_of (t) && !strcmp (t->table, tbl) && (t->flags & OMR_TF_OWNED))
            root = t;
    }
    if (!root) {
        sb_add (b, "'%s'", tbl);
        return;
    }
    char name[160];
    for (int i = 0; i < OMR_MODEL_NTYPES; i++) {
        const omr_type_t *t = hql_model_type (i);
        if (root_of (t) == root && t->discriminator && t != root) {
            if (!disc)
                sb_add (b, "CASE x.discriminator");
            disc = true;
            if (full)
                blz_mj_class_name (t, name, sizeof name);
            sb_add (b, " WHEN '%s' THEN '%s'", t->discriminator, full ? name : t->name);
        }
    }
    if (full)
        blz_mj_class_name (root, name, sizeof name);
    if (disc)
        sb_add (b, " ELSE '%s' END", full ? name : root->name);
    else
        sb_add (b, "'%s'", full ? name : root->name);
}

/* {"ome.model.core.Image": [ids], …} of the rows of _g matching where (over x and h). */
static json_t *
objects_of (gr_t *g, const char *where, omr_err_t *err)
{
    PGresult *tabs = queryf (g, err, "SELECT DISTINCT tbl FROM _g ORDER BY tbl");
    if (!tabs)
        return NULL;
    json_t *out = json_object ();
    for (int i = 0; i < PQntuples (tabs); i++) {
        const char *tbl = PQgetvalue (tabs, i, 0);
        sb_t b = {0};
        sb_add (&b, "SELECT ");
        class_expr (&b, tbl, true);
        sb_add (&b, ", x.id FROM _g h JOIN %s x ON x.id = h.id WHERE h.tbl = '%s' AND (%s) ORDER BY 1, 2", tbl, tbl,
                where);
        PGresult *res = b.s ? blz_db_query (g->db, err, b.s, 0, NULL) : NULL;
        free (b.s);
        if (!res) {
            json_decref (out);
            PQclear (tabs);
            return NULL;
        }
        for (int r = 0; r < PQntuples (res); r++) {
            const char *cls = PQgetvalue (res, r, 0);
            json_t *arr = json_object_get (out, cls);
            if (!arr) {
                arr = json_array ();
                json_object_set_new (out, cls, arr);
            }
            json_array_append_new (arr, json_integer (atoll (PQgetvalue (res, r, 1))));
        }
        PQclear (res);
    }
    PQclear (tabs);
    return out;
}

/* Put the targets of type t into _g (generation 0); checks that each exists and is visible. */
static int
seed_targets (gr_t *g, const omr_type_t *t, const json_t *ids, omr_err_t *err)
{
    sb_t list = {0};
    size_t i;
    json_t *v;
    json_array_foreach (ids, i, v)
        sb_add (&list, "%s%lld", i ? "," : "", (long long) json_integer_value (v));
    const omr_type_t *root = root_of (t);
    int rc = -1;
    if (!list.s)
        return 0;
    if (t == hql_model_type (OMR_TYPE_Experimenter) || t == hql_model_type (OMR_TYPE_ExperimenterGroup)) {
        /* everything owned by these users (or in these groups) */
        bool user = t == hql_model_type (OMR_TYPE_Experimenter);
        for (int ti = 0; ti < OMR_MODEL_NTYPES; ti++) {
            const omr_type_t *x = hql_model_type (ti);
            if (x != root_of (x) || !(x->flags & OMR_TF_OWNED))
                continue;
            if (g->kind == BLZ_GR_USAGE && strcmp (x->table, "originalfile") && strcmp (x->table, "thumbnail")
                && strcmp (x->table, "pixels"))
                continue;   /* only what holds files */
            if (runf (g, err, "INSERT INTO _g SELECT '%s', id, 0 FROM %s WHERE %s IN (%s) ON CONFLICT DO NOTHING", x->table,
                      x->table, user ? "owner_id" : "group_id", list.s) < 0)
                goto done;
        }
        rc = 0;
        goto done;
    }
    sb_t b = {0};
    sb_add (&b, "SELECT v FROM unnest(ARRAY[%s]::int8[]) v WHERE NOT EXISTS (SELECT 1 FROM %s x WHERE x.id = v AND ", list.s,
            root->table);
    type_pred (&b, t, "x");
    sb_add (&b, ") ORDER BY v");
    PGresult *res = blz_db_query (g->db, err, b.s, 0, NULL);
    free (b.s);
    if (!res)
        goto done;
    if (PQntuples (res)) {
        sb_t miss = {0};
        for (int r = 0; r < PQntuples (res); r++)
            sb_add (&miss, "%s%s", r ? "," : "", PQgetvalue (res, r, 0));
        omr_err_set (err, OMR_E_SECURITY, 403, "%s:%s does not exist or you may not see it", t->name, miss.s);
        free (miss.s);
        PQclear (res);
        goto done;
    }
    PQclear (res);
    if (runf (g, err, "INSERT INTO _g SELECT '%s', id, 0 FROM %s WHERE id IN (%s) ON CONFLICT DO NOTHING", root->table,
              root->table, list.s) < 0)
        goto done;
    rc = 0;
done:
    free (list.s);
    return rc;
}

/* Error naming the first rows (table, class, ids) that a query returns. */
static int
fail_rows (gr_t *g, PGresult *res, const char *what, omr_err_t *err)
{
    (void) g;
    sb_t b = {0};
    for (int r = 0; r < PQntuples (res) && r < 10; r++)
        sb_add (&b, "%s%s:%s", r ? ", " : "", PQgetvalue (res, r, 0), PQgetvalue (res, r, 1));
    omr_err_set (err, OMR_E_SECURITY, 403, "%s: %s", what, b.s ? b.s : "");
    free (b.s);
    return -1;
}

/* Whether tbl is one of the table names in the first column of tabs. */
static bool
tabs_has (PGresult *tabs, const char *tbl)
{
    for (int i = 0; i < PQntuples (tabs); i++)
        if (!strcmp (PQgetvalue (tabs, i, 0), tbl))
            return true;
    return false;
}

/* Rows of _g (of the targets when gen0) failing cond (over x), as "Class", "id"; NULL on error. */
static PGresult *
rows_failing (gr_t *g, const char *cond, bool gen0, omr_err_t *err)
{
    PGresult *tabs = queryf (g, err, "SELECT DISTINCT tbl FROM _g%s", gen0 ? " WHERE gen = 0" : "");
    if (!tabs)
        return NULL;
    sb_t b = {0};
    for (int i = 0; i < PQntuples (tabs); i++) {
        const char *tbl = PQgetvalue (tabs, i, 0);
        sb_add (&b, "%sSELECT ", b.len ? " UNION ALL " : "");
        class_expr (&b, tbl, false);
        sb_add (&b, ", x.id, x.owner_id, x.group_id FROM _g h JOIN %s x ON x.id = h.id WHERE h.tbl = '%s'%s AND NOT (%s)",
                tbl, tbl, gen0 ? " AND h.gen = 0" : "", cond);
    }
    PQclear (tabs);
    if (!b.s)
        return queryf (g, err, "SELECT 1 WHERE false");
    sb_add (&b, " ORDER BY 1, 2 LIMIT 10");
    PGresult *res = blz_db_query (g->db, err, b.s, 0, NULL);
    free (b.s);
    return res;
}

/* 0 when no row of _g (of the targets when gen0) fails cond; else -1 with an error naming them. */
static int
require_rows (gr_t *g, const char *cond, bool gen0, const char *what, omr_err_t *err)
{
    PGresult *res = rows_failing (g, cond, gen0, err);
    if (!res)
        return -1;
    int rc = PQntuples (res) ? fail_rows (g, res, what, err) : 0;
    PQclear (res);
    return rc;
}

/* 0 when table tbl (a constant) has a row id; else -1 with SecurityViolation "there is no <what> <id>". */
static int
require_id (gr_t *g, const char *tbl, int64_t id, const char *what, omr_err_t *err)
{
    char b[24], sql[96];
    snprintf (sql, sizeof sql, "SELECT 1 FROM %s WHERE id = $1", tbl);
    PGresult *res = blz_db_query (g->db, err, sql, BLZ_P (BLZ_I64 (b, id)));
    if (!res)
        return -1;
    bool exists = PQntuples (res) > 0;
    PQclear (res);
    if (!exists)
        return omr_err_set (err, OMR_E_SECURITY, 403, "there is no %s %lld", what, (long long) id);
    return 0;
}

/* Whether the caller may do the request to the targets (before traversal). */
static int
check_targets (gr_t *g, omr_err_t *err)
{
    const blz_ctx_t *c = g->ctx;
    char cond[512];
    const char *what = NULL;
    if (g->kind == BLZ_GR_DELETE) {
        snprintf (cond, sizeof cond, "(omero_rights(x.owner_id, x.group_id) & 4) <> 0");
        what = "you may not delete";
    } else if (g->kind == BLZ_GR_CHGRP) {
        if (require_id (g, "experimentergroup", g->group_id, "group", err) < 0)
            return -1;
        if (g->group_id == g->app->user_gid || g->group_id == g->app->system_gid)
            return omr_err_set (err, OMR_E_SECURITY, 403, "data cannot be moved into the '%s' group",
                                g->group_id == g->app->user_gid ? "user" : "system");
        bool admin = blz_ctx_can (c, "Chgrp");
        if (!admin && !blz_ctx_member (c, g->group_id))
            return omr_err_set (err, OMR_E_SECURITY, 403, "you are not a member of group %lld", (long long) g->group_id);
        if (admin)
            snprintf (cond, sizeof cond, "true");
        else
            snprintf (cond, sizeof cond, "x.owner_id = %lld", (long long) c->user_id);
        what = "only the owner or an administrator may move";
    } else if (g->kind == BLZ_GR_CHOWN) {
        if (require_id (g, "experimenter", g->user_id, "user", err) < 0)
            return -1;
        if (blz_ctx_can (c, "Chown"))
            snprintf (cond, sizeof cond, "true");
        else {
            char owned[4096];
            blz_ctx_idlist (c->owned_ids, c->nowned, owned, sizeof owned);
            snprintf (cond, sizeof cond, "x.group_id IN (%s)", *owned ? owned : "-1");
        }
        what = "only administrators and the group's owners may give away";
    } else
        return 0;
    if (require_rows (g, cond, true, what, err) < 0)
        return -1;
    if (g->kind == BLZ_GR_CHOWN) {
        snprintf (cond, sizeof cond,
                  "EXISTS (SELECT 1 FROM groupexperimentermap m WHERE m.parent = x.group_id AND m.child = %lld)",
                  (long long) g->user_id);
        char msg[128];
        snprintf (msg, sizeof msg, "user %lld is not a member of the group of", (long long) g->user_id);
        if (require_rows (g, cond, true, msg, err) < 0)
            return -1;
    }
    return 0;
}

/* Checks on the whole set: filesets whole, owners members of the new group. */
static int
check_set (gr_t *g, omr_err_t *err)
{
    PGresult *res = queryf (g, err,
                            "SELECT DISTINCT i.fileset, (SELECT string_agg(j.id::text, ',' ORDER BY j.id) FROM image j "
                            "WHERE j.fileset = i.fileset AND NOT EXISTS (SELECT 1 FROM _g k WHERE k.tbl = 'image' AND k.id = j.id)) "
                            "FROM image i JOIN _g h ON h.tbl = 'image' AND h.id = i.id WHERE i.fileset IS NOT NULL "
                            "AND EXISTS (SELECT 1 FROM image j WHERE j.fileset = i.fileset AND NOT EXISTS "
                            "(SELECT 1 FROM _g k WHERE k.tbl = 'image' AND k.id = j.id)) ORDER BY 1 LIMIT 1");
    if (!res)
        return -1;
    if (PQntuples (res)) {
        omr_err_set (err, "GraphException", 400,
                     "may not split Fileset:%s: its Image:%s would be left behind (a fileset's images go together; "
                     "include them or target the Fileset)",
                     PQgetvalue (res, 0, 0), PQgetvalue (res, 0, 1));
        PQclear (res);
        return -1;
    }
    PQclear (res);
    if (g->kind == BLZ_GR_DELETE) {
        /* others' links to what goes, from what stays (a tag someone else used): the caller must
         * be allowed to delete them (group owners and read-write members are) */
        PGresult *tabs = queryf (g, err, "SELECT DISTINCT tbl FROM _g WHERE tbl LIKE '%%link'");
        if (!tabs)
            return -1;
        for (int e = 0; e < g->nedges; e++) {
            edge_t *ed = &g->edges[e];
            bool present = tabs_has (tabs, ed->src);
            if (ed->kind != E_LPARENT || !present)
                continue;
            res = queryf (g, err,
                          "SELECT x.id, x.owner_id, x.child FROM %s x JOIN _g h ON h.tbl = '%s' AND h.id = x.id "
                          "WHERE NOT EXISTS (SELECT 1 FROM _g p WHERE p.tbl = '%s' AND p.id = x.parent) "
                          "AND (omero_rights(x.owner_id, x.group_id) & 4) = 0 ORDER BY 1 LIMIT 1",
                          ed->coltab, ed->src, ed->dst);
            if (!res) {
                PQclear (tabs);
                return -1;
            }
            if (PQntuples (res)) {
                PQclear (tabs);
                const omr_type_t *lt = table_type (ed->coltab), *ct = NULL;
                for (int k = 0; k < g->nedges; k++)
                    if (g->edges[k].kind == E_LCHILD && !strcmp (g->edges[k].coltab, ed->coltab))
                        ct = table_type (g->edges[k].dst);
                omr_err_set (err, OMR_E_SECURITY, 403,
                             "%s:%s is used by another user (%s:%s, owner %s): you may not delete it while they use it; "
                             "they can unlink it, or a group owner can delete it",
                             ct ? ct->name : "Object", PQgetvalue (res, 0, 2), lt ? lt->name : ed->coltab,
                             PQgetvalue (res, 0, 0), PQgetvalue (res, 0, 1));
                PQclear (res);
                return -1;
            }
            PQclear (res);
        }
        PQclear (tabs);
    }
    if (g->kind == BLZ_GR_CHGRP) {
        /* a moved object may not keep pointing at a shared part that stays behind */
        PGresult *tabs = queryf (g, err, "SELECT DISTINCT tbl FROM _g");
        if (!tabs)
            return -1;
        for (int e = 0; e < g->nedges; e++) {
            edge_t *ed = &g->edges[e];
            bool present = tabs_has (tabs, ed->src);
            if (!present || (ed->kind != E_COMP && ed->kind != E_DUAL) || strcmp (ed->coltab, ed->src))
                continue;
            res = queryf (g, err,
                          "SELECT x.id, x.%s FROM %s x JOIN _g h ON h.tbl = '%s' AND h.id = x.id WHERE x.%s IS NOT NULL "
                          "AND NOT EXISTS (SELECT 1 FROM _g k WHERE k.tbl = '%s' AND k.id = x.%s) ORDER BY 1 LIMIT 1",
                          ed->col, ed->src, ed->src, ed->col, ed->dst, ed->col);
            if (!res) {
                PQclear (tabs);
                return -1;
            }
            if (PQntuples (res)) {
                const omr_type_t *st = table_type (ed->src), *dt = table_type (ed->dst);
                omr_err_set (err, "GraphException", 400,
                             "%s:%s refers to %s:%s, which stays in its group (other objects use it or it is not yours): "
                             "move them together or include %s",
                             st ? st->name : ed->src, PQgetvalue (res, 0, 0), dt ? dt->name : ed->dst,
                             PQgetvalue (res, 0, 1), dt ? dt->name : ed->dst);
                PQclear (res);
                PQclear (tabs);
                return -1;
            }
            PQclear (res);
        }
        PQclear (tabs);
        char cond[256];
        snprintf (cond, sizeof cond,
                  "x.owner_id NOT IN (SELECT owner_id FROM _gowners) OR EXISTS (SELECT 1 FROM groupexperimentermap m "
                  "WHERE m.parent = %lld AND m.child = x.owner_id)",
                  (long long) g->group_id);
        res = rows_failing (g, cond, false, err);
        if (!res)
            return -1;
        if (PQntuples (res)) {
            char msg[160];
            snprintf (msg, sizeof msg, "the owner (user %s) is not a member of group %lld, so cannot own",
                      PQgetvalue (res, 0, 2), (long long) g->group_id);
            int rc = fail_rows (g, res, msg, err);
            PQclear (res);
            return rc;
        }
        PQclear (res);
    }
    return 0;
}

static int
tick (gr_t *g, int step, omr_err_t *err)
{
    if (g->tick && g->tick (g->arg, step, 4) < 0)
        return omr_err_set (err, "Cancelled", 409, "the request was cancelled");
    return 0;
}

/* Tables of _g in an order that deletes referrers before what they refer to. */
static char **
delete_order (gr_t *g, int *n, omr_err_t *err)
{
    PGresult *res = queryf (g, err, "SELECT DISTINCT tbl FROM _g");
    if (!res)
        return NULL;
    int nt = PQntuples (res);
    char **tabs = calloc ((size_t) nt + 1, sizeof *tabs), **out = calloc ((size_t) nt + 1, sizeof *out);
    for (int i = 0; i < nt; i++)
        tabs[i] = strdup (PQgetvalue (res, i, 0));
    PQclear (res);
    int done = 0;
    while (done < nt) {
        int pick = -1;
        for (int i = 0; i < nt && pick < 0; i++) {
            if (!tabs[i])
                continue;
            bool referenced = false;
            for (int e = 0; e < g->nedges && !referenced; e++) {
                edge_t *ed = &g->edges[e];
                if (strcmp (ed->dst, tabs[i]) || !strcmp (ed->src, tabs[i]) || ed->kind == E_NULLIFY)
                    continue;
                for (int k = 0; k < nt && !referenced; k++)
                    referenced = tabs[k] && k != i && !strcmp (tabs[k], ed->src);
            }
            if (!referenced)
                pick = i;
        }
        if (pick < 0)   /* a cycle: take any (the database still checks every reference) */
            for (int i = 0; i < nt && pick < 0; i++)
                if (tabs[i])
                    pick = i;
        out[done++] = tabs[pick];
        tabs[pick] = NULL;
    }
    free (tabs);
    *n = nt;
    return out;
}

/* Hand each file of the rows about to be deleted to on_file. */
static int
collect_files (gr_t *g, blz_gr_file_fn on_file, void *arg, omr_err_t *err)
{
    if (!on_file)
        return 0;
    PGresult *res = queryf (g, err,
                            "SELECT o.id, coalesce(o.repo, ''), coalesce(o.path, ''), coalesce(o.name, '') FROM originalfile o "
                            "JOIN _g h ON h.tbl = 'originalfile' AND h.id = o.id ORDER BY o.id");
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples (res); r++) {
        omr_err_t perr = {0};
        char *p = blz_rawfile_path (g->app->config, atoll (PQgetvalue (res, r, 0)), PQgetvalue (res, r, 1),
                                    PQgetvalue (res, r, 2), PQgetvalue (res, r, 3), &perr);
        if (p && on_file (arg, p, err) < 0) {
            free (p);
            PQclear (res);
            return -1;
        }
        free (p);
    }
    PQclear (res);
    const char *d = omr_config_get (g->app->config, "omero.data.dir");
    res = queryf (g, err, "SELECT h.tbl, h.id FROM _g h WHERE h.tbl IN ('thumbnail', 'pixels') ORDER BY 1, 2");
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples (res); r++) {
        int64_t id = atoll (PQgetvalue (res, r, 1));
        char **paths = NULL;
        if (!strcmp (PQgetvalue (res, r, 0), "thumbnail"))
            paths = blz_gr_thumbnail_paths (g->app->config, id);
        else {
            paths = calloc (3, sizeof *paths);
            if (asprintf (&paths[0], "%s/Pixels/%lld", d && *d ? d : "/OMERO", (long long) id) < 0
                || asprintf (&paths[1], "%s/Pixels/%lld_pyramid", d && *d ? d : "/OMERO", (long long) id) < 0) {
                blz_gr_paths_free (paths);
                PQclear (res);
                return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
            }
        }
        for (int k = 0; paths && paths[k]; k++)
            if (on_file (arg, paths[k], err) < 0) {
                blz_gr_paths_free (paths);
                PQclear (res);
                return -1;
            }
        blz_gr_paths_free (paths);
    }
    PQclear (res);
    return 0;
}

/* EventLog rows for every row of set (_g or _gdel) matching where, in bulk. */
static int
log_rows (gr_t *g, const char *set, const char *action, const char *where, omr_err_t *err)
{
    int64_t ev = blz_db_event (g->db, err);
    if (ev < 0)
        return -1;
    PGresult *tabs = queryf (g, err, "SELECT DISTINCT tbl FROM %s", set);
    if (!tabs)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples (tabs) && rc == 0; i++) {
        const char *tbl = PQgetvalue (tabs, i, 0);
        sb_t b = {0};
        sb_add (&b, "INSERT INTO eventlog (id, permissions, action, entityid, entitytype, event) SELECT "
                    "nextval('seq_eventlog'), -52, '%s', x.id, ", action);
        class_expr (&b, tbl, true);
        sb_add (&b, ", %lld FROM %s h JOIN %s x ON x.id = h.id WHERE h.tbl = '%s' AND (%s)", (long long) ev, set, tbl, tbl,
                where);
        if (run (g, err, b.s) < 0)
            rc = -1;
        free (b.s);
    }
    PQclear (tabs);
    return rc;
}

static int
execute_delete (gr_t *g, blz_gr_file_fn on_file, void *arg, omr_err_t *err)
{
    if (collect_files (g, on_file, arg, err) < 0 || log_rows (g, "_g", "DELETE", "true", err) < 0)
        return -1;
    /* references from rows that stay to rows that go are cleared */
    PGresult *tabs = queryf (g, err, "SELECT DISTINCT tbl FROM _g");
    if (!tabs)
        return -1;
    for (int e = 0; e < g->nedges; e++) {
        edge_t *ed = &g->edges[e];
        bool present = tabs_has (tabs, ed->dst);
        if (!ed->nullable || !present)
            continue;
        if (runf (g, err,
                  "UPDATE %s r SET %s = NULL WHERE r.%s IN (SELECT id FROM _g WHERE tbl = '%s') "
                  "AND NOT EXISTS (SELECT 1 FROM _g k WHERE k.tbl = '%s' AND k.id = r.%s)",
                  ed->coltab, ed->col, ed->col, ed->dst, ed->src, ed->key) < 0) {
            PQclear (tabs);
            return -1;
        }
    }
    PQclear (tabs);
    int n = 0;
    char **order = delete_order (g, &n, err);
    if (!order)
        return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const char *tbl = order[i];
        if (tick (g, 3, err) < 0) {     /* a cancel stops the request until its commit */
            rc = -1;
            break;
        }
        /* subclass tables first (laser, uploadjob …) */
        for (int ti = 0; ti < OMR_MODEL_NTYPES && rc == 0; ti++) {
            const omr_type_t *t = hql_model_type (ti);
            if (!t->key_column || !strcmp (t->table, tbl) || strcmp (root_of (t)->table, tbl))
                continue;
            if (runf (g, err, "DELETE FROM %s WHERE %s IN (SELECT id FROM _g WHERE tbl = '%s')", t->table, t->key_column,
                      tbl) < 0)
                rc = -1;
        }
        if (rc == 0 && runf (g, err, "DELETE FROM %s WHERE id IN (SELECT id FROM _g WHERE tbl = '%s')", tbl, tbl) < 0)
            rc = -1;
    }
    for (int i = 0; i < n; i++)
        free (order[i]);
    free (order);
    return rc;
}

/* Links of the set with an end outside it (chgrp: they would join two groups). */
static const char *
boundary_where (void)
{
    return "h.tbl LIKE '%link' AND (NOT EXISTS (SELECT 1 FROM _g a WHERE a.id = x.parent AND a.tbl = "
           "(SELECT dst FROM _gedge e WHERE e.coltab = h.tbl AND e.col = 'parent')) OR NOT EXISTS "
           "(SELECT 1 FROM _g b WHERE b.id = x.child AND b.tbl = (SELECT dst FROM _gedge e WHERE e.coltab = h.tbl AND e.col = 'child')))";
}

static int
save_link_edges (gr_t *g, omr_err_t *err)
{
    if (run (g, err, "CREATE TEMP TABLE IF NOT EXISTS _gedge (coltab text, col text, dst text) ON COMMIT DROP") < 0
        || run (g, err, "TRUNCATE _gedge") < 0)
        return -1;
    sb_t b = {0};
    for (int e = 0; e < g->nedges; e++)
        if (g->edges[e].kind == E_LPARENT || g->edges[e].kind == E_LCHILD)
            sb_add (&b, "%s('%s', '%s', '%s')", b.len ? ", " : "INSERT INTO _gedge VALUES ", g->edges[e].coltab,
                    g->edges[e].col, g->edges[e].dst);
    long rc = b.s ? run (g, err, b.s) : 0;
    free (b.s);
    return rc < 0 ? -1 : 0;
}

/* Move (chgrp) or give (chown) the set; links across the boundary are deleted for chgrp. */
static int
execute_move (gr_t *g, json_t **deleted, omr_err_t *err)
{
    char where_boundary[1024];
    snprintf (where_boundary, sizeof where_boundary, "%s", boundary_where ());
    if (g->kind == BLZ_GR_CHGRP) {
        /* boundary links: only link tables have parent/child, so filter the tables first */
        PGresult *tabs = queryf (g, err, "SELECT DISTINCT tbl FROM _g WHERE tbl LIKE '%%link'");
        if (!tabs)
            return -1;
        for (int i = 0; i < PQntuples (tabs); i++) {
            const char *tbl = PQgetvalue (tabs, i, 0);
            if (runf (g, err, "INSERT INTO _gdel SELECT h.tbl, h.id FROM _g h JOIN %s x ON x.id = h.id WHERE h.tbl = '%s' AND %s",
                      tbl, tbl, where_boundary) < 0) {
                PQclear (tabs);
                return -1;
            }
        }
        PQclear (tabs);
        /* into a private group ($to_private): links made by others than the data's owners go too,
         * as nobody could see them there */
        char gb0[24];
        PGresult *pv = blz_db_query (g->db, err, "SELECT (permissions & 64) = 0 FROM experimentergroup WHERE id = $1",
                                     BLZ_P (BLZ_I64 (gb0, g->group_id)));
        if (!pv)
            return -1;
        bool to_private = PQntuples (pv) && !strcmp (PQgetvalue (pv, 0, 0), "t");
        PQclear (pv);
        if (to_private) {
            tabs = queryf (g, err, "SELECT DISTINCT tbl FROM _g WHERE tbl LIKE '%%link'");
            if (!tabs)
                return -1;
            for (int i = 0; i < PQntuples (tabs); i++) {
                const char *tbl = PQgetvalue (tabs, i, 0);
                if (runf (g, err, "INSERT INTO _gdel SELECT h.tbl, h.id FROM _g h JOIN %s x ON x.id = h.id WHERE h.tbl = '%s' "
                          "AND x.owner_id NOT IN (SELECT owner_id FROM _gowners) AND NOT EXISTS "
                          "(SELECT 1 FROM _gdel d WHERE d.tbl = h.tbl AND d.id = h.id)", tbl, tbl) < 0) {
                    PQclear (tabs);
                    return -1;
                }
            }
            PQclear (tabs);
        }
        if (run (g, err, "DELETE FROM _g WHERE (tbl, id) IN (SELECT tbl, id FROM _gdel)") < 0)
            return -1;
        /* report and delete them */
        if (log_rows (g, "_gdel", "DELETE", "true", err) < 0)
            return -1;
        PGresult *res = queryf (g, err, "SELECT DISTINCT tbl FROM _gdel");
        if (!res)
            return -1;
        *deleted = json_object ();
        for (int i = 0; i < PQntuples (res); i++) {
            const char *tbl = PQgetvalue (res, i, 0);
            sb_t b = {0};
            sb_add (&b, "SELECT ");
            class_expr (&b, tbl, true);
            sb_add (&b, ", x.id FROM _gdel h JOIN %s x ON x.id = h.id WHERE h.tbl = '%s' ORDER BY 2", tbl, tbl);
            PGresult *r = blz_db_query (g->db, err, b.s, 0, NULL);
            free (b.s);
            if (!r) {
                PQclear (res);
                return -1;
            }
            for (int k = 0; k < PQntuples (r); k++) {
                json_t *arr = json_object_get (*deleted, PQgetvalue (r, k, 0));
                if (!arr)
                    json_object_set_new (*deleted, PQgetvalue (r, k, 0), arr = json_array ());
                json_array_append_new (arr, json_integer (atoll (PQgetvalue (r, k, 1))));
            }
            PQclear (r);
            if (runf (g, err, "DELETE FROM %s WHERE id IN (SELECT id FROM _gdel WHERE tbl = '%s')", tbl, tbl) < 0) {
                PQclear (res);
                return -1;
            }
        }
        PQclear (res);
    }
    if (log_rows (g, "_g", "UPDATE", "true", err) < 0)
        return -1;
    PGresult *tabs = queryf (g, err, "SELECT DISTINCT tbl FROM _g");
    if (!tabs)
        return -1;
    char gb[24];
    PGresult *pr = NULL;
    if (g->kind == BLZ_GR_CHGRP) {
        pr = blz_db_query (g->db, err, "SELECT permissions FROM experimentergroup WHERE id = $1",
                           BLZ_P (BLZ_I64 (gb, g->group_id)));
        if (!pr || !PQntuples (pr)) {
            PQclear (pr);
            PQclear (tabs);
            return pr ? omr_err_set (err, OMR_E_SECURITY, 403, "there is no group %lld", (long long) g->group_id) : -1;
        }
    }
    int rc = 0;
    for (int i = 0; i < PQntuples (tabs) && rc == 0; i++) {
        const char *tbl = PQgetvalue (tabs, i, 0);
        long n;
        if (g->kind == BLZ_GR_CHGRP)
            n = runf (g, err, "UPDATE %s SET group_id = %lld, permissions = %s WHERE id IN (SELECT id FROM _g WHERE tbl = '%s')",
                      tbl, (long long) g->group_id, PQgetvalue (pr, 0, 0), tbl);
        else
            n = runf (g, err,
                      "UPDATE %s SET owner_id = %lld WHERE id IN (SELECT id FROM _g WHERE tbl = '%s') "
                      "AND owner_id IN (SELECT owner_id FROM _gowners)",
                      tbl, (long long) g->user_id, tbl);
        if (n < 0)
            rc = -1;
    }
    PQclear (pr);
    PQclear (tabs);
    return rc;
}

/* Adds b bytes in n files of class cls owned by user u in group gr to the by-reference lists and to the
 * "user/group" totals. */
static void
add_usage (json_t *bref, json_t *fref, json_t *tot, long long u, long long gr, const char *cls, long long b,
           long long n)
{
    json_array_append_new (bref, json_pack ("{sI sI ss sI}", "userId", u, "groupId", gr, "class", cls, "value", b));
    json_array_append_new (fref, json_pack ("{sI sI ss sI}", "userId", u, "groupId", gr, "class", cls, "value", n));
    char key[64];
    snprintf (key, sizeof key, "%lld/%lld", u, gr);
    json_t *t = json_object_get (tot, key);
    if (!t)
        json_object_set_new (tot, key, t = json_pack ("[I I I I]", u, gr, 0LL, 0LL));
    json_array_set_new (t, 2, json_integer (json_integer_value (json_array_get (t, 2)) + b));
    json_array_set_new (t, 3, json_integer (json_integer_value (json_array_get (t, 3)) + n));
}

/* Bytes and counts of the files of the set, by owner and group and by the class holding them. */
static json_t *
usage_response (gr_t *g, omr_err_t *err)
{
    PGresult *res = queryf (g, err,
                            "SELECT o.owner_id, o.group_id, CASE WHEN EXISTS (SELECT 1 FROM filesetentry e WHERE e.originalfile = o.id) "
                            "THEN 'FilesetEntry' WHEN EXISTS (SELECT 1 FROM annotation a WHERE a.file = o.id) THEN 'Annotation' "
                            "WHEN EXISTS (SELECT 1 FROM joboriginalfilelink j WHERE j.child = o.id) THEN 'Job' ELSE 'OriginalFile' END, "
                            "sum(coalesce(o.\"size\", 0)), count(*) FROM originalfile o JOIN _g h ON h.tbl = 'originalfile' "
                            "AND h.id = o.id WHERE coalesce(o.mimetype, '') NOT IN ('Directory', 'Repository') GROUP BY 1, 2, 3 "
                            "ORDER BY 1, 2, 3");
    if (!res)
        return NULL;
    json_t *bytes = json_array (), *files = json_array (), *bref = json_array (), *fref = json_array ();
    json_t *tot = json_object ();   /* "user/group" -> [bytes, files] */
    for (int r = 0; r < PQntuples (res); r++) {
        long long u = atoll (PQgetvalue (res, r, 0)), gr = atoll (PQgetvalue (res, r, 1));
        long long b = atoll (PQgetvalue (res, r, 3)), n = atoll (PQgetvalue (res, r, 4));
        const char *cls = PQgetvalue (res, r, 2);
        add_usage (bref, fref, tot, u, gr, cls, b, n);
    }
    PQclear (res);
    /* thumbnails and pixel files: their size on disk */
    res = queryf (g, err, "SELECT h.tbl, h.id, x.owner_id, x.group_id FROM _g h JOIN thumbnail x ON h.tbl = 'thumbnail' "
                          "AND x.id = h.id UNION ALL SELECT h.tbl, h.id, x.owner_id, x.group_id FROM _g h JOIN pixels x "
                          "ON h.tbl = 'pixels' AND x.id = h.id ORDER BY 1, 2");
    if (!res) {
        json_decref (bytes), json_decref (files), json_decref (bref), json_decref (fref), json_decref (tot);
        return NULL;
    }
    const char *d = omr_config_get (g->app->config, "omero.data.dir");
    for (int r = 0; r < PQntuples (res); r++) {
        bool thumb = !strcmp (PQgetvalue (res, r, 0), "thumbnail");
        int64_t id = atoll (PQgetvalue (res, r, 1));
        char **paths = NULL;
        if (thumb)
            paths = blz_gr_thumbnail_paths (g->app->config, id);
        else {
            paths = calloc (2, sizeof *paths);
            if (asprintf (&paths[0], "%s/Pixels/%lld", d && *d ? d : "/OMERO", (long long) id) < 0)
                paths[0] = NULL;
        }
        long long b = 0, n = 0;
        for (int k = 0; paths && paths[k]; k++) {
            struct stat st;
            if (stat (paths[k], &st) == 0 && S_ISREG (st.st_mode)) {
                b += st.st_size;
                n++;
            }
        }
        blz_gr_paths_free (paths);
        if (!n)
            continue;
        long long u = atoll (PQgetvalue (res, r, 2)), gr = atoll (PQgetvalue (res, r, 3));
        const char *cls = thumb ? "Thumbnail" : "Pixels";
        add_usage (bref, fref, tot, u, gr, cls, b, n);
    }
    PQclear (res);
    const char *k;
    json_t *t;
    json_object_foreach (tot, k, t) {
        json_int_t u = json_integer_value (json_array_get (t, 0)), gr = json_integer_value (json_array_get (t, 1));
        json_array_append_new (bytes, json_pack ("{sI sI sI}", "userId", u, "groupId", gr, "value",
                                                 json_integer_value (json_array_get (t, 2))));
        json_array_append_new (files, json_pack ("{sI sI sI}", "userId", u, "groupId", gr, "value",
                                                 json_integer_value (json_array_get (t, 3))));
    }
    json_decref (tot);
    return json_pack ("{ss so so so so}", "@type", "omero.cmd.DiskUsage2Response", "totalBytesUsed", bytes,
                      "totalFileCounts", files, "bytesUsedByReferer", bref, "fileCountByReferer", fref);
}

/* Traverse from the targets in _g until no rule adds anything. */
static int
traverse (gr_t *g, omr_err_t *err)
{
    for (int gen = 1; gen < 200; gen++) {
        long n = round_once (g, gen, err);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        if (g->tick && g->tick (g->arg, 1, 4) < 0)
            return omr_err_set (err, "Cancelled", 409, "the request was cancelled");
    }
    return omr_err_set (err, OMR_E_INTERNAL, 500, "the graph did not settle after 200 rounds");
}

/* Seed _g from a request's targetObjects. */
static int
seed_all (gr_t *g, const json_t *targets, omr_err_t *err)
{
    const char *k;
    json_t *ids;
    json_object_foreach ((json_t *) targets, k, ids) {
        const omr_type_t *t = type_named (k);
        if (!t)
            return omr_err_set (err, OMR_E_API, 400, "unknown class %s", k);
        if (seed_targets (g, t, ids, err) < 0)
            return -1;
    }
    return 0;
}

/* DiskUsage2's targetClasses: every instance of these types the caller can see. */
static int
seed_classes (gr_t *g, const json_t *classes, omr_err_t *err)
{
    size_t i;
    json_t *c;
    json_array_foreach (classes, i, c) {
        const omr_type_t *t = type_named (json_string_value (c));
        if (!t || !owned (t))
            return omr_err_set (err, OMR_E_API, 400, "targetClasses: %s is not a class of owned objects",
                                json_string_value (c) ? json_string_value (c) : "(not a string)");
        sb_t b = {0};
        sb_add (&b, "INSERT INTO _g SELECT '%s', x.id, 0 FROM %s x WHERE ", root_of (t)->table, root_of (t)->table);
        type_pred (&b, t, "x");
        sb_add (&b, " ON CONFLICT DO NOTHING");
        long n = run (g, err, b.s);
        free (b.s);
        if (n < 0)
            return -1;
    }
    return 0;
}

static int
setup_tables (gr_t *g, omr_err_t *err)
{
    if (run (g, err, "CREATE TEMP TABLE IF NOT EXISTS _g (tbl text, id int8, gen int, PRIMARY KEY (tbl, id)) ON COMMIT DROP") < 0
        || run (g, err, "CREATE TEMP TABLE IF NOT EXISTS _gc (tbl text, id int8) ON COMMIT DROP") < 0
        || run (g, err, "CREATE TEMP TABLE IF NOT EXISTS _gowners (owner_id int8 PRIMARY KEY) ON COMMIT DROP") < 0
        || run (g, err, "CREATE TEMP TABLE IF NOT EXISTS _gdel (tbl text, id int8) ON COMMIT DROP") < 0
        || run (g, err, "TRUNCATE _g, _gc, _gowners, _gdel") < 0)
        return -1;
    return 0;
}

/* Everything below the targets of the types in startFrom, as a targetObjects object. */
static json_t *
skiphead_targets (gr_t *g, const json_t *start, omr_err_t *err)
{
    json_t *out = json_object ();
    size_t i;
    json_t *s;
    json_array_foreach (start, i, s) {
        const omr_type_t *t = type_named (json_string_value (s));
        if (!t)
            continue;
        sb_t b = {0};
        sb_add (&b, "SELECT x.id FROM _g h JOIN %s x ON x.id = h.id WHERE h.tbl = '%s' AND ", root_of (t)->table,
                root_of (t)->table);
        type_pred (&b, t, "x");
        sb_add (&b, " ORDER BY 1");
        PGresult *res = blz_db_query (g->db, err, b.s, 0, NULL);
        free (b.s);
        if (!res) {
            json_decref (out);
            return NULL;
        }
        json_t *ids = json_array ();
        for (int r = 0; r < PQntuples (res); r++)
            json_array_append_new (ids, json_integer (atoll (PQgetvalue (res, r, 0))));
        PQclear (res);
        if (json_array_size (ids))
            json_object_set_new (out, t->name, ids);
        else
            json_decref (ids);
    }
    return out;
}

static json_t *run_modify (gr_t *g, const json_t *targets, blz_gr_file_fn on_file, void *arg, omr_err_t *err);

json_t *
blz_gr_run (blz_app_t *app, blz_db_t *db, const blz_ctx_t *ctx, const json_t *req, blz_gr_tick_fn tickfn,
            blz_gr_file_fn on_file, void *arg, omr_err_t *err)
{
    gr_t g = {.app = app, .db = db, .ctx = ctx, .req = req, .tick = tickfn, .arg = arg};
    g.kind = blz_gr_kind (json_string_value (json_object_get (req, "@type")));
    if (g.kind < 0) {
        omr_err_set (err, OMR_E_API, 400, "unknown request type");
        return NULL;
    }
    if (g.kind == BLZ_GR_DOALL) {
        json_t *all = json_array ();
        size_t i;
        json_t *r;
        json_array_foreach (json_object_get (req, "requests"), i, r) {
            json_t *one = blz_gr_run (app, db, ctx, r, tickfn, on_file, arg, err);
            if (!one) {
                omr_err_prefix (err, "request %zu of %zu: ", i + 1, json_array_size (json_object_get (req, "requests")));
                json_decref (all);
                return NULL;
            }
            json_array_append_new (all, one);
        }
        return json_pack ("{ss so}", "@type", "omero.cmd.DoAllRsp", "responses", all);
    }
    load_edges (&g);
    json_t *out = NULL;
    if (setup_tables (&g, err) < 0)
        goto done;
    if (g.kind == BLZ_GR_SKIPHEAD) {
        if (seed_all (&g, json_object_get (req, "targetObjects"), err) < 0 || traverse (&g, err) < 0)
            goto done;
        json_t *targets = skiphead_targets (&g, json_object_get (req, "startFrom"), err);
        if (!targets)
            goto done;
        const json_t *inner = json_object_get (req, "request");
        gr_t h = g;
        h.req = inner;
        h.kind = blz_gr_kind (json_string_value (json_object_get (inner, "@type")));
        if (setup_tables (&h, err) == 0)
            out = run_modify (&h, targets, on_file, arg, err);
        json_decref (targets);
        goto done;
    }
    out = run_modify (&g, json_object_get (req, "targetObjects"), on_file, arg, err);
done:
    free (g.edges);
    return out;
}

static const char *
response_type (int kind)
{
    return kind == BLZ_GR_DELETE ? "omero.cmd.Delete2Response"
           : kind == BLZ_GR_CHGRP ? "omero.cmd.Chgrp2Response"
                                  : "omero.cmd.Chown2Response";
}

/* Delete2 / Chgrp2 / Chown2 / DiskUsage2 from the given targets. */
static json_t *
run_modify (gr_t *g, const json_t *targets, blz_gr_file_fn on_file, void *arg, omr_err_t *err)
{
    g->dry_run = json_is_true (json_object_get (g->req, "dryRun"));
    g->group_id = blz_int (g->req, "groupId", -1);
    g->user_id = blz_int (g->req, "userId", -1);
    if (seed_all (g, targets, err) < 0 || seed_classes (g, json_object_get (g->req, "targetClasses"), err) < 0
        || tick (g, 1, err) < 0)
        return NULL;
    if (g->kind == BLZ_GR_USAGE) {
        if (traverse (g, err) < 0)
            return NULL;
        return usage_response (g, err);
    }
    if (check_targets (g, err) < 0)
        return NULL;
    if (g->kind == BLZ_GR_CHGRP || g->kind == BLZ_GR_CHOWN) {
        /* the data's owners: others' objects met on the way are unlinked, not taken */
        const json_t *exp = json_object_get (targets, "Experimenter");
        if (exp && g->kind == BLZ_GR_CHOWN) {
            size_t i;
            json_t *v;
            json_array_foreach (exp, i, v)
                if (runf (g, err, "INSERT INTO _gowners VALUES (%lld) ON CONFLICT DO NOTHING", (long long) json_integer_value (v)) < 0)
                    return NULL;
        }
        PGresult *tabs = queryf (g, err, "SELECT DISTINCT tbl FROM _g WHERE gen = 0");
        if (!tabs)
            return NULL;
        for (int i = 0; i < PQntuples (tabs); i++)
            if (runf (g, err, "INSERT INTO _gowners SELECT DISTINCT x.owner_id FROM %s x JOIN _g h ON h.tbl = '%s' AND h.gen = 0 "
                      "AND h.id = x.id ON CONFLICT DO NOTHING", PQgetvalue (tabs, i, 0), PQgetvalue (tabs, i, 0)) < 0) {
                PQclear (tabs);
                return NULL;
            }
        PQclear (tabs);
    }
    if (traverse (g, err) < 0 || tick (g, 2, err) < 0 || check_set (g, err) < 0 || save_link_edges (g, err) < 0)
        return NULL;
    /* the rows the caller cannot see are not touched by this request's checks; the execution
     * runs as the server so that others' dependent rows (ROIs, rendering settings) go too */
    json_t *resp = json_pack ("{ss}", "@type", response_type (g->kind));
    if (g->kind == BLZ_GR_DELETE) {
        json_t *del = objects_of (g, "true", err);
        if (!del)
            goto fail;
        json_object_set_new (resp, "deletedObjects", del);
    }
    if (tick (g, 3, err) < 0 || blz_db_internal (g->db, true, err) < 0)
        goto fail;
    if (g->kind == BLZ_GR_DELETE) {
        if (execute_delete (g, g->dry_run ? NULL : on_file, arg, err) < 0)
            goto fail;
    } else {
        json_t *deleted = NULL;
        if (execute_move (g, &deleted, err) < 0) {
            json_decref (deleted);
            goto fail;
        }
        json_t *inc = objects_of (g, "true", err);
        if (!inc) {
            json_decref (deleted);
            goto fail;
        }
        json_object_set_new (resp, "includedObjects", inc);
        json_object_set_new (resp, "deletedObjects", deleted ? deleted : json_object ());
    }
    if (blz_db_internal (g->db, false, err) < 0)
        goto fail;
    return resp;
fail:
    json_decref (resp);
    return NULL;
}

int
blz_gr_kind (const char *type)
{
    if (!type)
        return -1;
    if (!strncmp (type, "omero.cmd.", 10))
        type += 10;
    static const struct {
        const char *name;
        int kind;
    } k[] = {
        {"Delete2", BLZ_GR_DELETE},       {"Chgrp2", BLZ_GR_CHGRP}, {"Chown2", BLZ_GR_CHOWN},
        {"DiskUsage2", BLZ_GR_USAGE}, {"SkipHead", BLZ_GR_SKIPHEAD}, {"DoAll", BLZ_GR_DOALL},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp (k[i].name, type))
            return k[i].kind;
    return -1;
}

/* A list of known class names. */
static int
check_type_list (const json_t *list, const char *what, omr_err_t *err)
{
    if (!list)
        return 0;
    if (!json_is_array (list))
        return omr_err_set (err, OMR_E_API, 400, "%s must be a list of class names", what);
    size_t i;
    json_t *v;
    json_array_foreach (list, i, v) {
        const omr_type_t *t = type_named (json_string_value (v));
        if (!t)
            return omr_err_set (err, OMR_E_API, 400, "%s: unknown class %s", what,
                                json_is_string (v) ? json_string_value (v) : "(not a string)");
    }
    return 0;
}

static int
validate (const json_t *req, bool inner, omr_err_t *err)
{
    if (!json_is_object (req))
        return omr_err_set (err, OMR_E_API, 400, "the request must be an object with \"@type\"");
    const char *type = json_string_value (json_object_get (req, "@type"));
    int kind = blz_gr_kind (type);
    if (kind < 0)
        return omr_err_set (err, OMR_E_API, 400,
                            "unknown request type %s (Delete2, Chgrp2, Chown2, DiskUsage2, SkipHead or DoAll)", type ? type : "(none)");
    if (inner && (kind == BLZ_GR_SKIPHEAD || kind == BLZ_GR_USAGE || kind == BLZ_GR_DOALL))
        return omr_err_set (err, OMR_E_API, 400, "SkipHead's request must be Delete2, Chgrp2 or Chown2");
    if (kind == BLZ_GR_DOALL) {
        const json_t *reqs = json_object_get (req, "requests");
        if (!json_is_array (reqs) || !json_array_size (reqs))
            return omr_err_set (err, OMR_E_API, 400, "DoAll needs requests: [requests]");
        size_t i;
        json_t *r;
        json_array_foreach (reqs, i, r) {
            if (blz_gr_kind (json_string_value (json_object_get (r, "@type"))) == BLZ_GR_DOALL)
                return omr_err_set (err, OMR_E_API, 400, "DoAll requests cannot hold DoAll");
            if (validate (r, false, err) < 0) {
                omr_err_prefix (err, "request %zu: ", i + 1);
                return -1;
            }
        }
        return 0;
    }
    const json_t *targets = json_object_get (req, "targetObjects"), *classes = json_object_get (req, "targetClasses");
    if (classes && (kind != BLZ_GR_USAGE || !json_is_array (classes)))
        return omr_err_set (err, OMR_E_API, 400, "targetClasses is a list of class names, for DiskUsage2");
    if (classes && check_type_list (classes, "targetClasses", err) < 0)
        return -1;
    if (!inner && !(kind == BLZ_GR_USAGE && json_array_size (classes) && !targets)) {
        if (!json_is_object (targets) || !json_object_size (targets))
            return omr_err_set (err, OMR_E_API, 400, "targetObjects must be {\"Class\": [ids…]} with at least one class");
        const char *k;
        json_t *ids;
        json_object_foreach ((json_t *) targets, k, ids) {
            const omr_type_t *t = type_named (k);
            if (!t)
                return omr_err_set (err, OMR_E_API, 400, "unknown class %s", k);
            bool people = t == hql_model_type (OMR_TYPE_Experimenter) || t == hql_model_type (OMR_TYPE_ExperimenterGroup);
            if (!owned (t) && !(people && (kind == BLZ_GR_USAGE || (kind == BLZ_GR_CHOWN && t == hql_model_type (OMR_TYPE_Experimenter)))))
                return omr_err_set (err, OMR_E_API, 400, "%s objects cannot be the target of %s", t->name, type);
            if (!json_is_array (ids) || !json_array_size (ids))
                return omr_err_set (err, OMR_E_API, 400, "targetObjects.%s must be a non-empty list of ids", k);
            size_t i;
            json_t *v;
            json_array_foreach (ids, i, v)
                if (!json_is_integer (v) || json_integer_value (v) < 0)
                    return omr_err_set (err, OMR_E_API, 400, "targetObjects.%s: ids must be non-negative integers", k);
        }
    }
    const json_t *opts = json_object_get (req, "childOptions");
    if (opts && !json_is_array (opts))
        return omr_err_set (err, OMR_E_API, 400, "childOptions must be a list");
    size_t i;
    json_t *o;
    json_array_foreach (opts, i, o) {
        if (!json_is_object (o))
            return omr_err_set (err, OMR_E_API, 400, "each childOption must be an object");
        if (check_type_list (json_object_get (o, "includeType"), "includeType", err) < 0
            || check_type_list (json_object_get (o, "excludeType"), "excludeType", err) < 0)
            return -1;
        const char *nsk[] = {"includeNs", "excludeNs"};
        for (int n = 0; n < 2; n++) {
            const json_t *ns = json_object_get (o, nsk[n]);
            size_t j;
            json_t *s;
            if (ns && !json_is_array (ns))
                return omr_err_set (err, OMR_E_API, 400, "%s must be a list of strings", nsk[n]);
            json_array_foreach (ns, j, s)
                if (!json_is_string (s))
                    return omr_err_set (err, OMR_E_API, 400, "%s must be a list of strings", nsk[n]);
        }
    }
    if (check_type_list (json_object_get (req, "typesToIgnore"), "typesToIgnore", err) < 0)
        return -1;
    if (kind == BLZ_GR_CHGRP && !json_is_integer (json_object_get (req, "groupId")))
        return omr_err_set (err, OMR_E_API, 400, "Chgrp2 needs groupId (a group id)");
    if (kind == BLZ_GR_CHOWN && !json_is_integer (json_object_get (req, "userId")))
        return omr_err_set (err, OMR_E_API, 400, "Chown2 needs userId (a user id)");
    if (kind == BLZ_GR_SKIPHEAD) {
        const json_t *start = json_object_get (req, "startFrom");
        if (!json_is_array (start) || !json_array_size (start))
            return omr_err_set (err, OMR_E_API, 400, "SkipHead needs startFrom: [class names]");
        if (check_type_list (start, "startFrom", err) < 0)
            return -1;
        return validate (json_object_get (req, "request"), true, err);
    }
    return 0;
}

bool
blz_gr_dry_run (const json_t *req)
{
    if (blz_gr_kind (json_string_value (json_object_get (req, "@type"))) == BLZ_GR_DOALL) {
        size_t i;
        json_t *r;
        json_array_foreach (json_object_get (req, "requests"), i, r)
            if (!blz_gr_dry_run (r))
                return false;
        return json_array_size (json_object_get (req, "requests")) > 0;
    }
    return json_is_true (json_object_get (req, "dryRun"))
           || json_is_true (json_object_get (json_object_get (req, "request"), "dryRun"));
}

int
blz_gr_validate (const json_t *req, omr_err_t *err)
{
    return validate (req, false, err);
}

char **
blz_gr_thumbnail_paths (omr_config_t *config, int64_t id)
{
    const char *d = omr_config_get (config, "omero.data.dir");
    if (!d || !*d)
        d = "/OMERO";
    char **p = calloc (3, sizeof *p);
    if (!p)
        return NULL;
    /* flat, and OMERO's Dir-XXX levels for every three digits above the last three */
    if (asprintf (&p[0], "%s/Thumbnails/%lld", d, (long long) id) < 0)
        p[0] = NULL;
    char dirs[256] = "";
    size_t off = 0;
    int64_t v = id / 1000;
    int64_t parts[8];
    int np = 0;
    while (v > 0 && np < 8) {
        parts[np++] = v % 1000;
        v /= 1000;
    }
    for (int i = np - 1; i >= 0; i--)
        off += (size_t) snprintf (dirs + off, sizeof dirs - off, "Dir-%03lld/", (long long) parts[i]);
    if (np && asprintf (&p[1], "%s/Thumbnails/%s%lld", d, dirs, (long long) id) < 0)
        p[1] = NULL;
    return p;
}

void
blz_gr_paths_free (char **paths)
{
    for (int i = 0; paths && paths[i]; i++)
        free (paths[i]);
    free (paths);
}
