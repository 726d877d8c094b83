/* hql: the HQL -> PostgreSQL translator. Walks the AST of hql_parse, resolves every name in the
 * generated model tables and writes SQL whose identifiers all come from the model and whose
 * aliases are generated; values always travel as $n parameters. */
#include "hql.h"
#include "hql_parse.h"
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- string buffer */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} sbuf_t;

static void
sb_putn (sbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *ns = realloc (b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy (b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void
sb_puts (sbuf_t *b, const char *s)
{
    sb_putn (b, s, strlen (s));
}

static void
sb_printf (sbuf_t *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static void
sb_printf (sbuf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (tmp, sizeof tmp, fmt, ap);
    va_end (ap);
    if (n < 0)
        return;
    if ((size_t) n < sizeof tmp) {
        sb_putn (b, tmp, (size_t) n);
        return;
    }
    char *big = malloc ((size_t) n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start (ap, fmt);
    vsnprintf (big, (size_t) n + 1, fmt, ap);
    va_end (ap);
    sb_putn (b, big, (size_t) n);
    free (big);
}

/* "alias.column" */
static void
sb_col (sbuf_t *b, const char *alias, const char *column)
{
    sb_puts (b, alias);
    sb_putn (b, ".", 1);
    sb_puts (b, column);
}

static void
sb_free (sbuf_t *b)
{
    free (b->s);
    memset (b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- translation state */

typedef struct qctx qctx_t;
typedef struct source source_t;

typedef struct ijoin {
    const omr_field_t *field;
    int left;
    qctx_t *ctx;
    source_t *target;
    struct ijoin *next;
} ijoin_t;

struct source {
    const omr_type_t *type;         /* entity source; NULL for a map (NamedValue) source */
    const omr_field_t *map_field;   /* map source */
    char sql[16];                   /* generated SQL alias */
    const char *alias;              /* HQL alias or NULL */
    const char *path;               /* HQL path text for result shapes */
    qctx_t *ctx;
    int root;                       /* from-item chain it belongs to */
    int object;                     /* result object index or -1 */
    int left;                       /* reached through a left join */
    ijoin_t *joins;                 /* implicit joins made from it */
    struct { const char *table; char sql[16]; } subs[16];  /* joined subclass tables (laser ...) */
    int nsubs;
};

struct qctx {
    qctx_t *outer;
    source_t **src;
    int nsrc, capsrc;
    sbuf_t *chain;                  /* per from item: "table tN JOIN ..." */
    int nchain;
    sbuf_t restrict_;               /* discriminator restrictions of from items */
    int sub;                        /* a subquery: no result shape */
};

typedef struct {
    hql_ast_t *ast;
    omr_err_t *err;
    int failed;
    int nalias;
    unsigned flags;
    hql_query_t *q;
    int capparams, capcols, capitems, capobjects;
    sbuf_t sel;                     /* select list of the top query */
} tr_t;

/* value kinds of resolved paths */
typedef enum { V_SCALAR = 1, V_ENTITY, V_REF, V_QUANTITY, V_UNIT, V_COLL } vkind_t;

/* resolve_path flags */
#define RP_LEFT 0x1                 /* implicit joins are left joins */
#define RP_COLL 0x2                 /* the path may end at a collection or map (size, is empty) */

typedef struct {
    vkind_t kind;
    source_t *src;                  /* source the column is read from (or the entity) */
    const omr_field_t *field;       /* field (NULL for entity / map columns) */
    const char *column;             /* SQL column */
    const char *alias;              /* SQL alias of the table holding the column */
    omr_scalar_t scalar;
    int perms;                      /* details.permissions */
} val_t;

static const char *col_alias (tr_t *t, source_t *s, const omr_field_t *f);
static const char *root_table (const omr_type_t *ty);

#define CTX_SELECT 0x1              /* top-level select item: permissions allowed */
#define CTX_CAST_TEXT 0x2           /* inside cast(... as text): unit symbol */

static int
terr (tr_t *t, int pos, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
static int
terr (tr_t *t, int pos, const char *fmt, ...)
{
    if (t->failed)
        return -1;
    t->failed = 1;
    char msg[768];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    omr_err_set (t->err, OMR_E_QUERY, 400, "HQL error at position %d: %s", pos, msg);
    return -1;
}

static int
oom (tr_t *t)
{
    if (!t->failed) {
        t->failed = 1;
        omr_err_set (t->err, OMR_E_INTERNAL, 500, "out of memory translating HQL");
    }
    return -1;
}

static void *
xgrow (tr_t *t, void *arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return arr;
    int nc = *cap ? *cap * 2 : 8;
    while (nc < need)
        nc *= 2;
    void *na = realloc (arr, (size_t) nc * elem);
    if (!na) {
        oom (t);
        return NULL;
    }
    memset ((char *) na + (size_t) *cap * elem, 0, (size_t) (nc - *cap) * elem);
    *cap = nc;
    return na;
}

static char *
xstrdup (tr_t *t, const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup (s);
    if (!d)
        oom (t);
    return d;
}

static source_t *
new_source (tr_t *t, qctx_t *c, const omr_type_t *type, int root)
{
    source_t *s = hql_arena_alloc (t->ast->arena, sizeof *s);
    if (!s) {
        oom (t);
        return NULL;
    }
    s->type = type;
    s->ctx = c;
    s->root = root;
    s->object = -1;
    snprintf (s->sql, sizeof s->sql, "t%d", ++t->nalias);
    if (c->nsrc == c->capsrc) {
        int nc = c->capsrc ? c->capsrc * 2 : 8;
        source_t **ns = hql_arena_alloc (t->ast->arena, (size_t) nc * sizeof *ns);
        if (!ns) {
            oom (t);
            return NULL;
        }
        if (c->src)
            memcpy (ns, c->src, (size_t) c->nsrc * sizeof *ns);
        c->src = ns;
        c->capsrc = nc;
    }
    c->src[c->nsrc++] = s;
    return s;
}

static char *
arena_printf (tr_t *t, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static char *
arena_printf (tr_t *t, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (tmp, sizeof tmp, fmt, ap);
    va_end (ap);
    if (n < 0)
        n = 0;
    if ((size_t) n >= sizeof tmp)
        n = sizeof tmp - 1;
    char *s = hql_arena_strndup (t->ast->arena, tmp, (size_t) n);
    if (!s)
        oom (t);
    return s;
}

/* ---------------------------------------------------------------- parameters */

static int
add_param (tr_t *t, const char *name, const char *literal, int is_list, int pos)
{
    hql_query_t *q = t->q;
    if (name) {
        for (int i = 0; i < q->nparams; i++)
            if (q->params[i].name && strcmp (q->params[i].name, name) == 0) {
                if (q->params[i].is_list != is_list)
                    return terr (t, pos, "parameter :%s is used both as a list and as a single value", name);
                return i + 1;
            }
    }
    hql_param_t *np = xgrow (t, q->params, &t->capparams, q->nparams + 1, sizeof *np);
    if (!np)
        return -1;
    q->params = np;
    hql_param_t *p = &q->params[q->nparams++];
    p->name = xstrdup (t, name);
    p->literal = xstrdup (t, literal);
    p->is_list = is_list;
    if (t->failed)
        return -1;
    return q->nparams;
}

/* ---------------------------------------------------------------- result shape */

static int
add_col (tr_t *t, hql_col_role_t role, const omr_field_t *f, omr_scalar_t scalar, int object)
{
    hql_query_t *q = t->q;
    hql_column_t *nc = xgrow (t, q->cols, &t->capcols, q->ncols + 1, sizeof *nc);
    if (!nc)
        return -1;
    q->cols = nc;
    hql_column_t *c = &q->cols[q->ncols++];
    c->role = role;
    c->field = f;
    c->scalar = scalar;
    c->object = object;
    if (q->ncols > 1)
        sb_puts (&t->sel, ", ");
    return q->ncols - 1;
}

static int
add_object (tr_t *t, const omr_type_t *type, const char *path, int parent, const omr_field_t *via, int optional)
{
    hql_query_t *q = t->q;
    hql_object_t *no = xgrow (t, q->objects, &t->capobjects, q->nobjects + 1, sizeof *no);
    if (!no)
        return -1;
    q->objects = no;
    hql_object_t *o = &q->objects[q->nobjects++];
    o->type = type;
    o->path = xstrdup (t, path);
    o->parent = parent;
    o->via = via;
    o->optional = optional;
    return t->failed ? -1 : q->nobjects - 1;
}

/* Emit every column of an entity source as an object's columns. */
static int
object_columns (tr_t *t, source_t *s, int obj)
{
    const omr_type_t *ty = s->type;
    hql_object_t *o = &t->q->objects[obj];
    o->first_col = t->q->ncols;
    if (add_col (t, HQL_COL_ID, hql_model_field (ty, "id"), OMR_SCALAR_LONG, obj) < 0)
        return -1;
    sb_col (&t->sel, s->sql, "id");
    if (ty->flags & OMR_TF_DISC) {
        add_col (t, HQL_COL_DISCRIMINATOR, NULL, OMR_SCALAR_STRING, obj);
        sb_col (&t->sel, s->sql, "discriminator");
    }
    /* the type's fields, then those only its subtypes declare (same table) */
    const omr_field_t *seen[256];
    int nseen = 0;
    for (int k = -1; k < ty->nsub; k++) {
        const omr_type_t *tt = k < 0 ? ty : hql_model_type (hql_model_subtype (ty, k));
        for (int i = 0; i < tt->nfields; i++) {
            const omr_field_t *f = hql_model_field_at (tt->first_field + i);
            if (!f->column || strcmp (f->name, "id") == 0)
                continue;
            if (f->kind != OMR_FIELD_SCALAR && f->kind != OMR_FIELD_UNITS && f->kind != OMR_FIELD_REF)
                continue;
            if (k >= 0) {   /* a column several subtypes declare (shape x, y ...) is read once */
                int dup = 0;
                for (int j = 0; j < nseen && !dup; j++)
                    if (strcmp (seen[j]->column, f->column) == 0 && strcmp (seen[j]->table, f->table) == 0)
                        dup = 1;
                if (dup)
                    continue;
            }
            if (nseen < 256)
                seen[nseen++] = f;
            const char *a = col_alias (t, s, f);
            add_col (t, HQL_COL_FIELD, f, f->scalar, obj);
            sb_col (&t->sel, a, f->column);
            if (f->kind == OMR_FIELD_UNITS) {
                add_col (t, HQL_COL_UNIT, f, OMR_SCALAR_STRING, obj);
                sb_col (&t->sel, a, f->unit_column);
            }
        }
    }
    const omr_field_t *via = t->q->objects[obj].via;
    if (via && via->order_column) {
        add_col (t, HQL_COL_INDEX, via, OMR_SCALAR_INT, obj);
        sb_printf (&t->sel, "%s.%s", s->sql, via->order_column);
    }
    if ((t->flags & HQL_WITH_PERMISSIONS) && (ty->flags & OMR_TF_OWNED)) {
        add_col (t, HQL_COL_PERMISSIONS, NULL, OMR_SCALAR_NONE, obj);
        sb_printf (&t->sel, "omero_details_permissions(%s.owner_id, %s.group_id)", s->sql, s->sql);
    }
    o = &t->q->objects[obj];
    o->ncols = t->q->ncols - o->first_col;
    return t->failed ? -1 : 0;
}

/* ---------------------------------------------------------------- suggestions */

/* Edit distance of two short names (case-insensitive), capped at 9. */
static int
distance (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    if (la > 40 || lb > 40)
        return 9;
    int prev[41], cur[41];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int) j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int) i;
        for (size_t j = 1; j <= lb; j++) {
            int cost = tolower ((unsigned char) a[i - 1]) != tolower ((unsigned char) b[j - 1]);
            int v = prev[j - 1] + cost;
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            cur[j] = v;
        }
        memcpy (prev, cur, sizeof (int) * (lb + 1));
    }
    return prev[lb] < 9 ? prev[lb] : 9;
}

/* "; did you mean 'x'?" for the closest field of ty (and its subtypes), or "". */
static void
suggest_field (const omr_type_t *ty, const char *name, char *out, size_t n)
{
    out[0] = 0;
    int best = 3;
    const char *hit = NULL;
    for (int k = -1; k < ty->nsub; k++) {
        const omr_type_t *tt = k < 0 ? ty : hql_model_type (hql_model_subtype (ty, k));
        for (int i = 0; i < tt->nfields; i++) {
            const char *fn = hql_model_field_at (tt->first_field + i)->name;
            int d = distance (name, fn);
            if (d < best) {
                best = d;
                hit = fn;
                continue;
            }
            if (hit)
                continue;
            /* images -> imageLinks, defaultPixels -> pixels */
            size_t ln = strlen (name), lf = strlen (fn);
            size_t stem = ln > 1 && name[ln - 1] == 's' ? ln - 1 : ln;
            if ((stem >= 4 && lf > stem && strncasecmp (fn, name, stem) == 0) ||
                (lf >= 4 && ln > lf && strcasecmp (name + ln - lf, fn) == 0))
                hit = fn;
        }
    }
    if (hit)
        snprintf (out, n, "; did you mean '%s'?", hit);
}

/* Same for entity names. */
static void
suggest_type (const char *name, char *out, size_t n)
{
    out[0] = 0;
    const char *dot = strrchr (name, '.');
    const char *base = dot ? dot + 1 : name;
    int best = 3;
    const char *hit = NULL;
    for (int i = 0; i < OMR_MODEL_NTYPES; i++) {
        int d = distance (base, hql_model_type (i)->name);
        if (d < best) {
            best = d;
            hit = hql_model_type (i)->name;
        }
    }
    if (hit)
        snprintf (out, n, "; did you mean '%s'?", hit);
}

/* ---------------------------------------------------------------- sources and joins */

static int
disc_restrict (sbuf_t *b, const source_t *s, const omr_type_t *ty)
{
    if (ty->disc_in) {
        sb_printf (b, " AND %s.discriminator IN (%s)", s->sql, ty->disc_in);
        return 1;
    }
    return 0;
}

/* The source for the target of reference field f of src, joining it when needed. */
static source_t *
implicit_join (tr_t *t, qctx_t *c, source_t *src, const omr_field_t *f, int left)
{
    for (ijoin_t *j = src->joins; j; j = j->next)
        if (j->field == f && j->left == left && j->ctx == c)
            return j->target;
    const omr_type_t *target = hql_model_type (f->target);
    int root = src->ctx == c ? src->root : 0;
    source_t *ns = new_source (t, c, target, root);
    if (!ns)
        return NULL;
    ns->left = left || src->left;
    ns->path = arena_printf (t, "%s.%s", src->path ? src->path : src->sql, f->name);
    const char *sa = col_alias (t, src, f);   /* may join a subclass table first */
    sbuf_t *b = &c->chain[root];
    sb_printf (b, " %sJOIN %s %s ON %s.id = %s.%s", left ? "LEFT " : "", root_table (target), ns->sql, ns->sql,
               sa, f->column);
    disc_restrict (b, ns, target);
    ijoin_t *j = hql_arena_alloc (t->ast->arena, sizeof *j);
    if (!j) {
        oom (t);
        return NULL;
    }
    j->field = f;
    j->left = left;
    j->ctx = c;
    j->target = ns;
    j->next = src->joins;
    src->joins = j;
    return ns;
}

static source_t *
find_alias (qctx_t *c, const char *name)
{
    for (; c; c = c->outer)
        for (int i = c->nsrc - 1; i >= 0; i--)
            if (c->src[i]->alias && strcmp (c->src[i]->alias, name) == 0)
                return c->src[i];
    return NULL;
}


/* The table rows of type ty live in (the root's: subclass tables are joined to it). */
static const char *
root_table (const omr_type_t *ty)
{
    return hql_model_type (ty->root)->table;
}

/* Key joining the table of field f to its owner row: "id", or the subclass table's key column. */
static const char *
owner_key (const omr_field_t *f)
{
    const omr_type_t *d = hql_model_type (f->declared_in);
    return d && d->key_column && strcmp (d->table, f->table) == 0 ? d->key_column : "id";
}

static int
is_a (const omr_type_t *ty, int ancestor)
{
    for (int i = hql_model_type_index_of (ty); i >= 0; i = hql_model_type (i)->parent)
        if (i == ancestor)
            return 1;
    return 0;
}

/* SQL alias of the table holding field f of source s: the source's own alias, or a subclass
 * table (laser ...) joined on first use; an inner join when every row of s must have one. */
static const char *
col_alias (tr_t *t, source_t *s, const omr_field_t *f)
{
    if (!s->type || !f->table || strcmp (f->table, root_table (s->type)) == 0)
        return s->sql;
    for (int i = 0; i < s->nsubs; i++)
        if (strcmp (s->subs[i].table, f->table) == 0)
            return s->subs[i].sql;
    if (s->nsubs == (int) (sizeof s->subs / sizeof s->subs[0])) {
        terr (t, 0, "too many subclass tables");
        return s->sql;
    }
    const omr_type_t *d = hql_model_type (f->declared_in);
    int inner = !s->left && is_a (s->type, f->declared_in);
    int k = s->nsubs++;
    s->subs[k].table = f->table;
    snprintf (s->subs[k].sql, sizeof s->subs[k].sql, "t%d", ++t->nalias);
    sb_printf (&s->ctx->chain[s->root], " %sJOIN %s %s ON %s.%s = %s.id", inner ? "" : "LEFT ", f->table,
               s->subs[k].sql, s->subs[k].sql, d->key_column ? d->key_column : "id", s->sql);
    return s->subs[k].sql;
}

/* Resolve a path expression (alias.a.b, or an unqualified property of the root entity) to a
 * value, joining the references it navigates through (RP_* flags). */
static int
resolve_path (tr_t *t, qctx_t *c, const hql_node_t *n, int rpflags, val_t *v)
{
    int left = rpflags & RP_LEFT;
    memset (v, 0, sizeof *v);
    const char **segs = n->segs;
    int nsegs = n->nsegs;
    int i = 0;
    source_t *s = find_alias (c, segs[0]);
    if (s)
        i = 1;
    else {
        /* an unqualified property of the (first) root entity of this query or an outer one */
        const char *first = segs[0];
        char dn[80];
        if (strcmp (first, "details") == 0 && nsegs > 1) {
            snprintf (dn, sizeof dn, "details.%s", segs[1]);
            first = dn;
        }
        for (qctx_t *cc = c; cc && !s; cc = cc->outer)
            if (cc->nsrc > 0 && cc->src[0]->type && hql_model_field_poly (cc->src[0]->type, first))
                s = cc->src[0];
        if (!s)
            return terr (t, n->pos, "unknown alias or property '%s'", segs[0]);
    }
    if (i == nsegs) {
        v->kind = V_ENTITY;
        v->src = s;
        v->column = "id";
        v->scalar = OMR_SCALAR_LONG;
        if (!s->type)
            return terr (t, n->pos, "'%s' is a name/value pair: use %s.name or %s.value", segs[0], segs[0], segs[0]);
        return 0;
    }
    while (i < nsegs) {
        const char *seg = segs[i];
        if (!s->type) {
            /* NamedValue of a map field */
            if (i != nsegs - 1 || (strcmp (seg, "name") && strcmp (seg, "value") && strcmp (seg, "index")))
                return terr (t, n->pos, "a name/value pair has only name, value and index (in '%s')", n->text);
            v->kind = V_SCALAR;
            v->src = s;
            v->alias = s->sql;
            v->column = strcmp (seg, "index") == 0 ? "\"index\"" : strcmp (seg, "value") == 0 ? "\"value\"" : "name";
            v->scalar = strcmp (seg, "index") == 0 ? OMR_SCALAR_INT : OMR_SCALAR_TEXT;
            return 0;
        }
        char name[96];
        if (strcmp (seg, "details") == 0) {
            if (i + 1 >= nsegs)
                return terr (t, n->pos, "'details' needs a property: owner, group, creationEvent, updateEvent, "
                             "externalInfo or permissions (in '%s')", n->text);
            snprintf (name, sizeof name, "details.%s", segs[i + 1]);
            i++;
        } else
            snprintf (name, sizeof name, "%s", seg);
        const omr_field_t *f = hql_model_field_poly (s->type, name);
        if (!f) {
            char hint[128];
            suggest_field (s->type, name, hint, sizeof hint);
            return terr (t, n->pos, "%s has no property '%s' (in '%s')%s", s->type->name, name, n->text, hint);
        }
        int last = i == nsegs - 1;
        switch (f->kind) {
        case OMR_FIELD_SCALAR:
            if (!last)
                return terr (t, n->pos, "cannot navigate into %s.%s, which is a value (in '%s')", s->type->name,
                             name, n->text);
            v->kind = V_SCALAR;
            v->src = s;
            v->field = f;
            v->column = f->column;
            v->alias = col_alias (t, s, f);
            v->scalar = f->scalar;
            v->perms = (f->flags & OMR_FF_PERMISSIONS) != 0;
            return 0;
        case OMR_FIELD_UNITS:
            v->src = s;
            v->field = f;
            v->alias = col_alias (t, s, f);
            if (last) {
                v->kind = V_QUANTITY;
                v->column = f->column;
                return 0;
            }
            if (i + 2 != nsegs || (strcmp (segs[i + 1], "value") && strcmp (segs[i + 1], "unit")))
                return terr (t, n->pos, "a quantity has only .value and .unit (in '%s')", n->text);
            if (strcmp (segs[i + 1], "value") == 0) {
                v->kind = V_SCALAR;
                v->column = f->column;
                v->scalar = OMR_SCALAR_DOUBLE;
            } else {
                v->kind = V_UNIT;
                v->column = f->unit_column;
                v->scalar = OMR_SCALAR_STRING;
            }
            return 0;
        case OMR_FIELD_REF:
            if (last) {
                v->kind = V_REF;
                v->src = s;
                v->field = f;
                v->column = f->column;
                v->alias = col_alias (t, s, f);
                v->scalar = OMR_SCALAR_LONG;
                return 0;
            }
            if (i + 2 == nsegs && strcmp (segs[i + 1], "id") == 0) {
                v->kind = V_SCALAR;
                v->src = s;
                v->field = f;
                v->column = f->column;
                v->alias = col_alias (t, s, f);
                v->scalar = OMR_SCALAR_LONG;
                return 0;
            }
            s = implicit_join (t, c, s, f, left);
            if (!s)
                return -1;
            i++;
            continue;
        case OMR_FIELD_COLLECTION:
        case OMR_FIELD_MAP:
            if (last && (rpflags & RP_COLL)) {
                v->kind = V_COLL;
                v->src = s;
                v->field = f;
                return 0;
            }
            return terr (t, n->pos, "%s.%s is a collection: join it (join x.%s as alias) to use it (in '%s')",
                         s->type->name, name, name, n->text);
        }
        return terr (t, n->pos, "cannot use '%s'", n->text);
    }
    return terr (t, n->pos, "cannot use '%s'", n->text);
}

/* ---------------------------------------------------------------- expressions */

static int translate_select (tr_t *t, qctx_t *outer, const hql_select_t *s, sbuf_t *out, int exists);

static int
emit_val (tr_t *t, const hql_node_t *n, const val_t *v, sbuf_t *b, int ctx)
{
    if (v->perms && !(ctx & CTX_SELECT))
        return terr (t, n->pos, "details.permissions can only be selected, not used in conditions");
    switch (v->kind) {
    case V_ENTITY:
        sb_printf (b, "%s.id", v->src->sql);
        return OMR_SCALAR_LONG;
    case V_SCALAR:
    case V_REF:
        sb_col (b, v->alias, v->column);
        return v->scalar;
    case V_UNIT:
        if (ctx & CTX_CAST_TEXT)
            sb_printf (b, "%s.%s::text", v->alias, v->column);
        else
            sb_printf (b, "_unit_name(%s.%s)", v->alias, v->column);
        return OMR_SCALAR_STRING;
    case V_QUANTITY:
        return terr (t, n->pos, "'%s' is a quantity: use %s.value or %s.unit here", n->text, n->text, n->text);
    case V_COLL:
        return terr (t, n->pos, "'%s' is a collection: use size(%s), '%s is empty' or a join", n->text, n->text,
                     n->text);
    }
    return terr (t, n->pos, "cannot use '%s'", n->text);
}

static int expr (tr_t *t, qctx_t *c, const hql_node_t *n, sbuf_t *b, int ctx);

/* A condition: an expression whose type, when known, is boolean. */
static int
cond (tr_t *t, qctx_t *c, const hql_node_t *n, sbuf_t *b)
{
    int ty = expr (t, c, n, b, 0);
    if (ty < 0)
        return -1;
    if (ty != OMR_SCALAR_BOOL && ty != OMR_SCALAR_NONE)
        return terr (t, n->pos, "a condition is expected here (a comparison, like, in, is null, exists ...)");
    return OMR_SCALAR_BOOL;
}

static int
subquery (tr_t *t, qctx_t *c, const hql_select_t *s, sbuf_t *b, int exists)
{
    sb_puts (b, "(");
    int r = translate_select (t, c, s, b, exists);
    sb_puts (b, ")");
    return r;
}

/* x.class = TagAnnotation / x.class <> TagAnnotation: a test on the discriminator. */
static int
class_test (tr_t *t, qctx_t *c, const hql_node_t *n, sbuf_t *b)
{
    if (strcmp (n->text, "=") && strcmp (n->text, "<>"))
        return terr (t, n->pos, "the class of an object can only be compared with = or <>");
    if (n->b->kind != HQL_N_PATH)
        return terr (t, n->b->pos, "compare .class with an entity name such as TagAnnotation");
    int ti = hql_model_type_index (n->b->text);
    if (ti < 0) {
        char hint[128];
        suggest_type (n->b->text, hint, sizeof hint);
        return terr (t, n->b->pos, "unknown entity '%s'%s", n->b->text, hint);
    }
    hql_node_t head = *n->a;
    head.nsegs--;
    head.text = head.segs[0];
    val_t v;
    if (resolve_path (t, c, &head, 0, &v) < 0)
        return -1;
    if (v.kind == V_REF) {
        source_t *ts = implicit_join (t, c, v.src, v.field, 0);
        if (!ts)
            return -1;
        v.kind = V_ENTITY;
        v.src = ts;
    }
    if (v.kind != V_ENTITY)
        return terr (t, n->a->pos, "'%s' is not an object", n->a->text);
    const omr_type_t *want = hql_model_type (ti);
    const omr_type_t *have = v.src->type;
    int neg = strcmp (n->text, "<>") == 0;
    if (want->root != have->root) {
        sb_puts (b, neg ? "TRUE" : "FALSE");
        return OMR_SCALAR_BOOL;
    }
    if (!want->disc_in) {   /* the root of the hierarchy: every row */
        sb_puts (b, neg ? "FALSE" : "TRUE");
        return OMR_SCALAR_BOOL;
    }
    sb_printf (b, "(%s.discriminator %sIN (%s))", v.src->sql, neg ? "NOT " : "", want->disc_in);
    return OMR_SCALAR_BOOL;
}

/* "FROM <rows of collection v> x WHERE x.<back reference> = <owner>.id" for size() and is empty. */
static int
collection_rows (tr_t *t, qctx_t *c, const hql_node_t *n, sbuf_t *b)
{
    val_t v;
    if (n->kind != HQL_N_PATH)
        return terr (t, n->pos, "a collection property such as d.imageLinks is expected");
    if (resolve_path (t, c, n, RP_COLL, &v) < 0)
        return -1;
    if (v.kind != V_COLL)
        return terr (t, n->pos, "'%s' is not a collection", n->text);
    if (v.field->kind == OMR_FIELD_MAP) {
        const char *a = col_alias (t, v.src, v.field);
        sb_printf (b, "FROM %s x WHERE x.%s = %s.%s", v.field->side_table, v.field->inverse_column, a,
                   owner_key (v.field));
        return 0;
    }
    const omr_type_t *target = hql_model_type (v.field->target);
    sb_printf (b, "FROM %s x WHERE x.%s = %s.id", root_table (target), v.field->inverse_column, v.src->sql);
    if (target->disc_in)
        sb_printf (b, " AND x.discriminator IN (%s)", target->disc_in);
    return 0;
}

static const struct { const char *hql, *sql; } cast_types[] = {
    {"text", "text"}, {"string", "text"}, {"long", "int8"}, {"int", "int4"}, {"integer", "int4"},
    {"double", "float8"}, {"float", "float4"}, {"boolean", "bool"}, {"timestamp", "timestamp"},
    {"date", "date"}, {"big_decimal", "numeric"}, {NULL, NULL}};

static int
expr (tr_t *t, qctx_t *c, const hql_node_t *n, sbuf_t *b, int ctx)
{
    if (t->failed)
        return -1;
    int r;
    switch (n->kind) {
    case HQL_N_PATH: {
        val_t v;
        if (resolve_path (t, c, n, 0, &v) < 0)
            return -1;
        return emit_val (t, n, &v, b, ctx);
    }
    case HQL_N_PARAM:
        if ((r = add_param (t, n->text, NULL, 0, n->pos)) < 0)
            return -1;
        sb_printf (b, "$%d", r);
        return OMR_SCALAR_NONE;
    case HQL_N_STRING:
        if ((r = add_param (t, NULL, n->text, 0, n->pos)) < 0)
            return -1;
        sb_printf (b, "$%d", r);
        return OMR_SCALAR_STRING;
    case HQL_N_NUMBER: {
        /* typed, so that arithmetic between literals is not ambiguous for PostgreSQL */
        int isfloat = strpbrk (n->text, ".eE") != NULL;
        if ((r = add_param (t, NULL, n->text, 0, n->pos)) < 0)
            return -1;
        sb_printf (b, "$%d::%s", r, isfloat ? "float8" : "int8");
        return isfloat ? OMR_SCALAR_DOUBLE : OMR_SCALAR_LONG;
    }
    case HQL_N_NULL:
        sb_puts (b, "NULL");
        return OMR_SCALAR_NONE;
    case HQL_N_TRUE:
    case HQL_N_FALSE:
        sb_puts (b, n->kind == HQL_N_TRUE ? "TRUE" : "FALSE");
        return OMR_SCALAR_BOOL;
    case HQL_N_BINOP: {
        if (n->a->kind == HQL_N_PATH && n->a->nsegs >= 2 && strcmp (n->a->segs[n->a->nsegs - 1], "class") == 0)
            return class_test (t, c, n, b);
        sb_puts (b, "(");
        int ta = expr (t, c, n->a, b, ctx & ~CTX_SELECT);
        sb_printf (b, " %s ", n->text);
        int tb = expr (t, c, n->b, b, ctx & ~CTX_SELECT);
        sb_puts (b, ")");
        if (ta < 0 || tb < 0)
            return -1;
        if (strchr ("=<>", n->text[0]))
            return OMR_SCALAR_BOOL;
        if (strcmp (n->text, "||") == 0)
            return OMR_SCALAR_TEXT;
        return ta == OMR_SCALAR_DOUBLE || tb == OMR_SCALAR_DOUBLE ? OMR_SCALAR_DOUBLE : ta ? ta : tb;
    }
    case HQL_N_AND:
    case HQL_N_OR:
        sb_puts (b, "(");
        if (cond (t, c, n->a, b) < 0)
            return -1;
        sb_puts (b, n->kind == HQL_N_AND ? " AND " : " OR ");
        if (cond (t, c, n->b, b) < 0)
            return -1;
        sb_puts (b, ")");
        return OMR_SCALAR_BOOL;
    case HQL_N_NOT:
        sb_puts (b, "(NOT ");
        if (cond (t, c, n->a, b) < 0)
            return -1;
        sb_puts (b, ")");
        return OMR_SCALAR_BOOL;
    case HQL_N_NEG:
        sb_puts (b, "(-");
        r = expr (t, c, n->a, b, 0);
        sb_puts (b, ")");
        return r;
    case HQL_N_LIKE:
        sb_puts (b, "(");
        if (expr (t, c, n->a, b, 0) < 0)
            return -1;
        sb_printf (b, " %s%s ", n->negated ? "NOT " : "", n->text);
        if (expr (t, c, n->b, b, 0) < 0)
            return -1;
        sb_puts (b, ")");
        return OMR_SCALAR_BOOL;
    case HQL_N_ISNULL:
        sb_puts (b, "(");
        if (expr (t, c, n->a, b, 0) < 0)
            return -1;
        sb_puts (b, n->negated ? " IS NOT NULL)" : " IS NULL)");
        return OMR_SCALAR_BOOL;
    case HQL_N_ISEMPTY:
        sb_puts (b, n->negated ? "(EXISTS (SELECT 1 " : "(NOT EXISTS (SELECT 1 ");
        if (collection_rows (t, c, n->a, b) < 0)
            return -1;
        sb_puts (b, "))");
        return OMR_SCALAR_BOOL;
    case HQL_N_CASE: {
        int rt = OMR_SCALAR_NONE;
        sb_puts (b, "(CASE");
        if (n->a) {
            sb_puts (b, " ");
            if (expr (t, c, n->a, b, 0) < 0)
                return -1;
        }
        for (int i = 0; i + 1 < n->nlist; i += 2) {
            sb_puts (b, " WHEN ");
            if ((n->a ? expr (t, c, n->list[i], b, 0) : cond (t, c, n->list[i], b)) < 0)
                return -1;
            sb_puts (b, " THEN ");
            int vt = expr (t, c, n->list[i + 1], b, 0);
            if (vt < 0)
                return -1;
            if (rt == OMR_SCALAR_NONE)
                rt = vt;
        }
        if (n->c) {
            sb_puts (b, " ELSE ");
            if (expr (t, c, n->c, b, 0) < 0)
                return -1;
        }
        sb_puts (b, " END)");
        return rt;
    }
    case HQL_N_BETWEEN:
        sb_puts (b, "(");
        if (expr (t, c, n->a, b, 0) < 0)
            return -1;
        sb_puts (b, n->negated ? " NOT BETWEEN " : " BETWEEN ");
        if (expr (t, c, n->b, b, 0) < 0)
            return -1;
        sb_puts (b, " AND ");
        if (expr (t, c, n->c, b, 0) < 0)
            return -1;
        sb_puts (b, ")");
        return OMR_SCALAR_BOOL;
    case HQL_N_IN:
        if (n->sub) {
            sb_puts (b, "(");
            if (expr (t, c, n->a, b, 0) < 0)
                return -1;
            sb_puts (b, n->negated ? " NOT IN " : " IN ");
            if (subquery (t, c, n->sub, b, 0) < 0)
                return -1;
            sb_puts (b, ")");
            return OMR_SCALAR_BOOL;
        }
        if (n->nlist == 1 && n->list[0]->kind == HQL_N_PARAM) {
            /* a list parameter: bound as one array */
            int idx = add_param (t, n->list[0]->text, NULL, 1, n->list[0]->pos);
            if (idx < 0)
                return -1;
            sb_puts (b, n->negated ? "(NOT (" : "((");
            if (expr (t, c, n->a, b, 0) < 0)
                return -1;
            sb_printf (b, " = ANY ($%d)))", idx);
            return OMR_SCALAR_BOOL;
        }
        sb_puts (b, "(");
        if (expr (t, c, n->a, b, 0) < 0)
            return -1;
        sb_puts (b, n->negated ? " NOT IN (" : " IN (");
        for (int i = 0; i < n->nlist; i++) {
            if (i)
                sb_puts (b, ", ");
            if (expr (t, c, n->list[i], b, 0) < 0)
                return -1;
        }
        sb_puts (b, "))");
        return OMR_SCALAR_BOOL;
    case HQL_N_EXISTS:
        sb_puts (b, n->negated ? "(NOT EXISTS " : "(EXISTS ");
        if (subquery (t, c, n->sub, b, 1) < 0)
            return -1;
        sb_puts (b, ")");
        return OMR_SCALAR_BOOL;
    case HQL_N_SUBQUERY:
        if (subquery (t, c, n->sub, b, 0) < 0)
            return -1;
        return OMR_SCALAR_NONE;
    case HQL_N_CAST: {
        int i;
        for (i = 0; cast_types[i].hql; i++)
            if (strcmp (cast_types[i].hql, n->text) == 0)
                break;
        if (!cast_types[i].hql)
            return terr (t, n->pos, "cannot cast to '%s' (use text, long, int, double, boolean, timestamp)", n->text);
        sb_puts (b, "CAST(");
        int sub = strcmp (cast_types[i].sql, "text") == 0 ? CTX_CAST_TEXT : 0;
        if (expr (t, c, n->a, b, sub) < 0)
            return -1;
        sb_printf (b, " AS %s)", cast_types[i].sql);
        const char *s = cast_types[i].sql;
        return strcmp (s, "text") == 0 ? OMR_SCALAR_TEXT : strcmp (s, "int8") == 0 ? OMR_SCALAR_LONG
             : strcmp (s, "int4") == 0 ? OMR_SCALAR_INT : strcmp (s, "bool") == 0 ? OMR_SCALAR_BOOL
             : strcmp (s, "timestamp") == 0 ? OMR_SCALAR_TIMESTAMP : OMR_SCALAR_DOUBLE;
    }
    case HQL_N_FUNC: {
        const char *f = n->text;
        int agg = !strcmp (f, "count") || !strcmp (f, "sum") || !strcmp (f, "min") || !strcmp (f, "max") ||
                  !strcmp (f, "avg");
        if (n->distinct && !agg)
            return terr (t, n->pos, "distinct is only allowed in aggregate functions");
        if (!strcmp (f, "size")) {
            if (n->nlist != 1 || n->distinct)
                return terr (t, n->pos, "size() takes one collection");
            sb_puts (b, "(SELECT count(*) ");
            if (collection_rows (t, c, n->list[0], b) < 0)
                return -1;
            sb_puts (b, ")");
            return OMR_SCALAR_LONG;
        }
        if (!strcmp (f, "count") && n->nlist == 1 && n->list[0]->kind == HQL_N_STAR && !n->distinct) {
            sb_puts (b, "count(*)");
            return OMR_SCALAR_LONG;
        }
        for (int i = 0; i < n->nlist; i++)
            if (n->list[i]->kind == HQL_N_STAR)
                return terr (t, n->list[i]->pos, "'*' is only allowed in count(*)");
        int want = (!strcmp (f, "coalesce") || !strcmp (f, "concat")) ? -1 : !strcmp (f, "mod") ? 2 : 1;
        if ((want > 0 && n->nlist != want) || (want < 0 && n->nlist < 1))
            return terr (t, n->pos, "%s() takes %d argument%s", f, want < 0 ? 1 : want, want == 1 ? "" : "s");
        const char *sqlf = !strcmp (f, "str") ? NULL : f;
        if (sqlf)
            sb_printf (b, "%s(%s", sqlf, n->distinct ? "DISTINCT " : "");
        else
            sb_puts (b, "CAST(");
        int at = OMR_SCALAR_NONE;
        for (int i = 0; i < n->nlist; i++) {
            if (i)
                sb_puts (b, ", ");
            int r2 = expr (t, c, n->list[i], b, 0);
            if (r2 < 0)
                return -1;
            if (i == 0)
                at = r2;
        }
        sb_puts (b, sqlf ? ")" : " AS text)");
        if (!strcmp (f, "count") || !strcmp (f, "length"))
            return OMR_SCALAR_LONG;
        if (!strcmp (f, "avg") || !strcmp (f, "sqrt"))
            return OMR_SCALAR_DOUBLE;
        if (!strcmp (f, "lower") || !strcmp (f, "upper") || !strcmp (f, "trim") || !strcmp (f, "concat") ||
            !strcmp (f, "str"))
            return OMR_SCALAR_TEXT;
        return at;
    }
    case HQL_N_STAR:
        return terr (t, n->pos, "'*' is only allowed in count(*)");
    }
    return terr (t, n->pos, "unsupported expression");
}

/* ---------------------------------------------------------------- from / joins */

static int
add_root (tr_t *t, qctx_t *c, const hql_from_t *f)
{
    int ti = hql_model_type_index (f->entity);
    if (ti < 0) {
        char hint[128];
        suggest_type (f->entity, hint, sizeof hint);
        return terr (t, f->pos, "unknown entity '%s'%s", f->entity, hint);
    }
    const omr_type_t *ty = hql_model_type (ti);
    int root = c->nchain;
    sbuf_t *nc = realloc (c->chain, (size_t) (c->nchain + 1) * sizeof *nc);
    if (!nc)
        return oom (t);
    c->chain = nc;
    memset (&c->chain[c->nchain++], 0, sizeof (sbuf_t));
    source_t *s = new_source (t, c, ty, root);
    if (!s)
        return -1;
    s->alias = f->alias;
    s->path = f->alias ? f->alias : ty->name;
    sb_printf (&c->chain[root], "%s %s", root_table (ty), s->sql);
    if (ty->disc_in)
        sb_printf (&c->restrict_, "%s%s.discriminator IN (%s)", c->restrict_.len ? " AND " : "", s->sql, ty->disc_in);
    return 0;
}

static int
counts_column (tr_t *t, source_t *src, const omr_field_t *coll, const hql_join_t *j)
{
    if (src->object < 0)
        return terr (t, j->pos, "%s can only be fetched for a selected object", j->path->text);
    const omr_type_t *target = hql_model_type (coll->target);
    add_col (t, HQL_COL_COUNTS, coll, OMR_SCALAR_NONE, src->object);
    sb_printf (&t->sel, "(SELECT coalesce(json_object_agg(c.o, c.n), '{}') FROM (SELECT x.owner_id AS o, "
                        "count(*) AS n FROM %s x WHERE x.%s = %s.id", root_table (target), coll->inverse_column, src->sql);
    if (target->disc_in)
        sb_printf (&t->sel, " AND x.discriminator IN (%s)", target->disc_in);
    sb_puts (&t->sel, " GROUP BY x.owner_id) c)");
    return t->failed ? -1 : 0;
}

/* Join j: resolves the path's owner, then joins its last property. Fetch shapes are added
 * later by fetch_join, once the selected objects are known. */
static int
add_join (tr_t *t, qctx_t *c, const hql_join_t *j, source_t **out, const omr_field_t **via, source_t **owner)
{
    const hql_node_t *p = j->path;
    source_t *s = find_alias (c, p->segs[0]);
    if (!s)
        return terr (t, p->pos, "unknown alias '%s' in join", p->segs[0]);
    int i = 1;
    const omr_field_t *f = NULL;
    *out = NULL;
    for (;;) {
        if (!s->type)
            return terr (t, p->pos, "cannot join from a name/value pair (in '%s')", p->text);
        char name[96];
        const char *seg = p->segs[i];
        if (strcmp (seg, "details") == 0) {
            if (i + 1 >= p->nsegs)
                return terr (t, p->pos, "'details' needs a property (in '%s')", p->text);
            snprintf (name, sizeof name, "details.%s", p->segs[++i]);
        } else
            snprintf (name, sizeof name, "%s", seg);
        f = hql_model_field_poly (s->type, name);
        size_t nl = strlen (name);
        if (!f && nl > 13 && strcmp (name + nl - 13, "CountPerOwner") == 0 && i == p->nsegs - 1) {
            name[nl - 13] = 0;
            const omr_field_t *coll = hql_model_field_poly (s->type, name);
            if (!coll || coll->kind != OMR_FIELD_COLLECTION)
                return terr (t, p->pos, "%s has no collection '%s' to count (in '%s')", s->type->name, name, p->text);
            if (!j->fetch || j->alias)
                return terr (t, p->pos, "%sCountPerOwner can only be fetched (left outer join fetch, no alias)", name);
            *owner = s;
            *via = coll;
            return 1;   /* counts: handled by fetch_join */
        }
        if (!f) {
            char hint[128];
            suggest_field (s->type, name, hint, sizeof hint);
            return terr (t, p->pos, "%s has no property '%s' (in '%s')%s", s->type->name, name, p->text, hint);
        }
        if (i == p->nsegs - 1)
            break;
        if (f->kind != OMR_FIELD_REF)
            return terr (t, p->pos, "cannot navigate through %s.%s in a join path (in '%s')", s->type->name, name,
                         p->text);
        s = implicit_join (t, c, s, f, j->left);
        if (!s)
            return -1;
        i++;
    }
    sbuf_t *b = &c->chain[s->ctx == c ? s->root : j->root];
    const char *kw = j->left ? " LEFT JOIN" : " JOIN";
    source_t *ns = NULL;
    switch (f->kind) {
    case OMR_FIELD_COLLECTION: {
        const omr_type_t *target = hql_model_type (f->target);
        if (!(ns = new_source (t, c, target, s->ctx == c ? s->root : j->root)))
            return -1;
        sb_printf (b, "%s %s %s ON %s.%s = %s.id", kw, root_table (target), ns->sql, ns->sql, f->inverse_column,
                   s->sql);
        disc_restrict (b, ns, target);
        break;
    }
    case OMR_FIELD_REF: {
        const omr_type_t *target = hql_model_type (f->target);
        const char *sa = col_alias (t, s, f);
        if (!(ns = new_source (t, c, target, s->ctx == c ? s->root : j->root)))
            return -1;
        sb_printf (b, "%s %s %s ON %s.id = %s.%s", kw, root_table (target), ns->sql, ns->sql, sa, f->column);
        disc_restrict (b, ns, target);
        break;
    }
    case OMR_FIELD_MAP:
        if (j->fetch)
            return terr (t, p->pos, "a name/value list cannot be fetched; join it with an alias");
        const char *sa = col_alias (t, s, f);
        if (!(ns = new_source (t, c, NULL, s->ctx == c ? s->root : j->root)))
            return -1;
        ns->map_field = f;
        sb_printf (b, "%s %s %s ON %s.%s = %s.%s", kw, f->side_table, ns->sql, ns->sql, f->inverse_column, sa,
                   owner_key (f));
        break;
    default:
        return terr (t, p->pos, "%s.%s is a value and cannot be joined (in '%s')", s->type->name, f->name, p->text);
    }
    ns->alias = j->alias;
    ns->left = j->left || s->left;
    ns->path = j->alias ? j->alias : p->text;
    if (j->with) {
        sbuf_t w = {0};
        size_t before = c->chain[ns->root].len;
        int r = cond (t, c, j->with, &w);
        if (r >= 0 && c->chain[ns->root].len != before)
            r = terr (t, j->with->pos, "a with condition cannot navigate references; join them first");
        if (r >= 0) {
            sb_puts (&c->chain[ns->root], " AND ");
            sb_puts (&c->chain[ns->root], w.s ? w.s : "TRUE");
        }
        sb_free (&w);
        if (r < 0)
            return -1;
    }
    *out = ns;
    *via = f;
    *owner = s;
    return 0;
}

/* ---------------------------------------------------------------- select */

static char *
item_label (tr_t *t, const hql_sel_item_t *it)
{
    if (it->alias)
        return xstrdup (t, it->alias);
    int n = it->end - it->pos;
    if (n <= 0)
        n = 0;
    char *s = malloc ((size_t) n + 1);
    if (!s) {
        oom (t);
        return NULL;
    }
    memcpy (s, t->ast->src + it->pos, (size_t) n);
    s[n] = 0;
    return s;
}

static int
add_item (tr_t *t, hql_item_kind_t kind, const hql_sel_item_t *it, const char *label)
{
    hql_query_t *q = t->q;
    hql_item_t *ni = xgrow (t, q->items, &t->capitems, q->nitems + 1, sizeof *ni);
    if (!ni)
        return -1;
    q->items = ni;
    hql_item_t *i = &q->items[q->nitems++];
    i->kind = kind;
    i->label = it ? item_label (t, it) : xstrdup (t, label);
    i->first_col = q->ncols;
    i->object = -1;
    i->units = -1;
    return t->failed ? -1 : q->nitems - 1;
}

static int
select_object (tr_t *t, source_t *s, const hql_sel_item_t *it, const char *label)
{
    int ii = add_item (t, HQL_ITEM_OBJECT, it, label);
    if (ii < 0)
        return -1;
    int obj = s->object >= 0 ? s->object : add_object (t, s->type, s->path, -1, NULL, s->left);
    if (obj < 0)
        return -1;
    s->object = obj;
    t->q->items[ii].object = obj;
    if (object_columns (t, s, obj) < 0)
        return -1;
    t->q->items[ii].ncols = t->q->ncols - t->q->items[ii].first_col;
    return 0;
}

static int
select_map (tr_t *t, qctx_t *c, const hql_sel_item_t *it)
{
    int ii = add_item (t, HQL_ITEM_MAP, it, NULL);
    if (ii < 0)
        return -1;
    char **keys = calloc ((size_t) it->nmap, sizeof *keys);
    if (!keys)
        return oom (t);
    t->q->items[ii].keys = keys;
    t->q->items[ii].ncols = it->nmap;   /* keys[] are freed by ncols */
    for (int k = 0; k < it->nmap; k++) {
        const hql_sel_item_t *e = &it->map[k];
        if (e->alias)
            keys[k] = xstrdup (t, e->alias);
        else {
            char num[16];
            snprintf (num, sizeof num, "%d", k);
            keys[k] = xstrdup (t, num);
        }
        for (int j = 0; j < k; j++)
            if (keys[j] && keys[k] && strcmp (keys[j], keys[k]) == 0)
                return terr (t, e->pos, "duplicate key '%s' in new map(...)", keys[k]);
        int col = add_col (t, HQL_COL_VALUE, NULL, OMR_SCALAR_NONE, -1);
        if (col < 0)
            return -1;
        int ty = expr (t, c, e->expr, &t->sel, CTX_SELECT);
        if (ty < 0)
            return -1;
        t->q->cols[col].scalar = (omr_scalar_t) ty;
    }
    return t->failed ? -1 : 0;
}

static int
select_item (tr_t *t, qctx_t *c, const hql_sel_item_t *it)
{
    if (it->map)
        return select_map (t, c, it);
    const hql_node_t *n = it->expr;
    val_t v;
    int resolved = 0;
    if (n->kind == HQL_N_PATH) {
        /* references on the way are inner joins (as in Hibernate); a selected reference itself
         * is a left join, so that rows without one are kept */
        if (resolve_path (t, c, n, 0, &v) < 0)
            return -1;
        resolved = 1;
        if (v.kind == V_ENTITY)
            return select_object (t, v.src, it, NULL);
        if (v.kind == V_REF) {
            source_t *ts = implicit_join (t, c, v.src, v.field, 1);
            if (!ts)
                return -1;
            return select_object (t, ts, it, NULL);
        }
        if (v.kind == V_QUANTITY) {
            int ii = add_item (t, HQL_ITEM_QUANTITY, it, NULL);
            if (ii < 0)
                return -1;
            t->q->items[ii].units = v.field->units;
            add_col (t, HQL_COL_FIELD, v.field, OMR_SCALAR_DOUBLE, -1);
            sb_printf (&t->sel, "%s.%s", v.alias, v.field->column);
            add_col (t, HQL_COL_UNIT, v.field, OMR_SCALAR_STRING, -1);
            sb_printf (&t->sel, "%s.%s", v.alias, v.field->unit_column);
            t->q->items[ii].ncols = 2;
            return t->failed ? -1 : 0;
        }
    }
    int ii = add_item (t, HQL_ITEM_SCALAR, it, NULL);
    if (ii < 0)
        return -1;
    int col = add_col (t, HQL_COL_VALUE, NULL, OMR_SCALAR_NONE, -1);
    if (col < 0)
        return -1;
    int ty = resolved ? emit_val (t, n, &v, &t->sel, CTX_SELECT) : expr (t, c, n, &t->sel, CTX_SELECT);
    if (ty < 0)
        return -1;
    t->q->cols[col].scalar = (omr_scalar_t) ty;
    t->q->items[ii].ncols = 1;
    return 0;
}

/* Subquery select list: one scalar value per item (objects stand for their id). */
static int
sub_select_list (tr_t *t, qctx_t *c, const hql_select_t *s, sbuf_t *b)
{
    if (s->nitems == 0) {
        sb_printf (b, "%s.id", c->src[0]->sql);
        return 0;
    }
    for (int i = 0; i < s->nitems; i++) {
        if (i)
            sb_puts (b, ", ");
        if (!s->items[i].expr)
            return terr (t, s->items[i].pos, "new map(...) cannot be used in a subquery");
        if (expr (t, c, s->items[i].expr, b, 0) < 0)
            return -1;
    }
    return 0;
}

static void
free_ctx (qctx_t *c)
{
    for (int i = 0; i < c->nchain; i++)
        sb_free (&c->chain[i]);
    free (c->chain);
    sb_free (&c->restrict_);
}

/* "order by c" where c is the "as" alias of a scalar select item: its column index, else -1. */
static int
select_alias_column (tr_t *t, qctx_t *c, const hql_select_t *s, const hql_node_t *n)
{
    if (n->kind != HQL_N_PATH || n->nsegs != 1 || find_alias (c, n->segs[0]))
        return -1;
    for (int i = 0; i < s->nitems && i < t->q->nitems; i++)
        if (s->items[i].alias && strcmp (s->items[i].alias, n->segs[0]) == 0 &&
            t->q->items[i].kind == HQL_ITEM_SCALAR)
            return t->q->items[i].first_col;
    return -1;
}

typedef struct {
    source_t *src;
    source_t *owner;
    const omr_field_t *via;
    int counts;
} joined_t;

static int
translate_select (tr_t *t, qctx_t *outer, const hql_select_t *s, sbuf_t *out, int exists)
{
    qctx_t c = {0};
    c.outer = outer;
    c.sub = outer != NULL;
    sbuf_t tail = {0};
    joined_t *joined = NULL;
    int rc = -1;
    for (int i = 0; i < s->nfrom; i++)
        if (add_root (t, &c, &s->from[i]) < 0)
            goto done;
    if (s->njoins) {
        joined = calloc ((size_t) s->njoins, sizeof *joined);
        if (!joined) {
            oom (t);
            goto done;
        }
    }
    for (int i = 0; i < s->njoins; i++) {
        int r = add_join (t, &c, &s->joins[i], &joined[i].src, &joined[i].via, &joined[i].owner);
        if (r < 0)
            goto done;
        joined[i].counts = r == 1;   /* fetch in a subquery is a plain join */
    }
    sbuf_t sub_sel = {0};
    if (!c.sub) {
        /* selected items, then fetched objects */
        if (s->nitems == 0) {
            if (select_object (t, c.src[0], NULL, c.src[0]->path) < 0)
                goto done;
        }
        for (int i = 0; i < s->nitems; i++)
            if (select_item (t, &c, &s->items[i]) < 0)
                goto done;
        for (int i = 0; i < s->njoins; i++) {
            const hql_join_t *j = &s->joins[i];
            if (!j->fetch)
                continue;
            if (joined[i].counts) {
                if (counts_column (t, joined[i].owner, joined[i].via, j) < 0)
                    goto done;
                continue;
            }
            source_t *js = joined[i].src;
            if (!js->type)
                continue;
            if (joined[i].owner->object < 0) {
                terr (t, j->pos, "join fetch of '%s': its owner '%s' is not selected", j->path->text,
                      joined[i].owner->path);
                goto done;
            }
            if (js->object >= 0)
                continue;
            int obj = add_object (t, js->type, j->path->text, joined[i].owner->object, joined[i].via, js->left);
            if (obj < 0)
                goto done;
            js->object = obj;
            if (object_columns (t, js, obj) < 0)
                goto done;
        }
        int all_obj = t->q->nitems > 0;
        for (int i = 0; i < t->q->nitems; i++)
            if (t->q->items[i].kind != HQL_ITEM_OBJECT)
                all_obj = 0;
        t->q->object_query = all_obj;
    } else {
        for (int i = 0; i < s->njoins; i++)
            if (joined[i].counts) {
                terr (t, s->joins[i].pos, "...CountPerOwner cannot be fetched in a subquery");
                goto done;
            }
        if (exists)
            sb_puts (&sub_sel, "1");
        else if (sub_select_list (t, &c, s, &sub_sel) < 0) {
            sb_free (&sub_sel);
            goto done;
        }
    }
    /* where, group by, having, order by (may add implicit joins, so before FROM is written) */
    sbuf_t where = {0};
    if (s->where) {
        if (cond (t, &c, s->where, &where) < 0) {
            sb_free (&where);
            sb_free (&sub_sel);
            goto done;
        }
    }
    for (int i = 0; i < s->ngroup; i++) {
        sb_puts (&tail, i ? ", " : " GROUP BY ");
        if (expr (t, &c, s->group[i], &tail, 0) < 0)
            break;
    }
    if (!t->failed && s->having) {
        sb_puts (&tail, " HAVING ");
        cond (t, &c, s->having, &tail);
    }
    for (int i = 0; !t->failed && i < s->norder; i++) {
        sb_puts (&tail, i ? ", " : " ORDER BY ");
        int ord = c.sub ? -1 : select_alias_column (t, &c, s, s->order[i].expr);
        if (ord >= 0)
            sb_printf (&tail, "%d", ord + 1);   /* output column position */
        else if (expr (t, &c, s->order[i].expr, &tail, 0) < 0)
            break;
        if (s->order[i].desc)
            sb_puts (&tail, " DESC");
    }
    if (t->failed) {
        sb_free (&where);
        sb_free (&sub_sel);
        goto done;
    }
    sb_puts (out, s->distinct ? "SELECT DISTINCT " : "SELECT ");
    if (c.sub)
        sb_puts (out, sub_sel.s ? sub_sel.s : "");
    else
        sb_puts (out, t->sel.s ? t->sel.s : "");
    sb_free (&sub_sel);
    sb_puts (out, " FROM ");
    for (int i = 0; i < c.nchain; i++) {
        if (i)
            sb_puts (out, ", ");
        sb_puts (out, c.chain[i].s ? c.chain[i].s : "");
    }
    if (c.restrict_.len || where.len) {
        sb_puts (out, " WHERE ");
        if (c.restrict_.len)
            sb_puts (out, c.restrict_.s);
        if (c.restrict_.len && where.len)
            sb_puts (out, " AND ");
        if (where.len)
            sb_puts (out, where.s);
    }
    sb_free (&where);
    if (tail.len)
        sb_puts (out, tail.s);
    rc = 0;
done:
    free (joined);
    sb_free (&tail);
    free_ctx (&c);
    if (out->oom || t->sel.oom)
        rc = oom (t);
    return t->failed ? -1 : rc;
}

/* ---------------------------------------------------------------- public */

void
hql_query_destroy (hql_query_t **self)
{
    if (!self || !*self)
        return;
    hql_query_t *q = *self;
    free (q->sql);
    for (int i = 0; i < q->nparams; i++) {
        free (q->params[i].name);
        free (q->params[i].literal);
    }
    free (q->params);
    free (q->cols);
    for (int i = 0; i < q->nitems; i++) {
        free (q->items[i].label);
        if (q->items[i].keys)
            for (int k = 0; k < q->items[i].ncols; k++)
                free (q->items[i].keys[k]);
        free (q->items[i].keys);
    }
    free (q->items);
    for (int i = 0; i < q->nobjects; i++)
        free (q->objects[i].path);
    free (q->objects);
    free (q);
    *self = NULL;
}

hql_query_t *
hql_translate (const char *hql, omr_err_t *err)
{
    return hql_translate_ex (hql, 0, err);
}

hql_query_t *
hql_translate_ex (const char *hql, unsigned flags, omr_err_t *err)
{
    hql_ast_t *ast = hql_parse (hql, err);
    if (!ast)
        return NULL;
    tr_t t = {0};
    t.ast = ast;
    t.err = err;
    t.flags = flags;
    t.q = calloc (1, sizeof *t.q);
    if (!t.q) {
        hql_ast_destroy (&ast);
        omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        return NULL;
    }
    sbuf_t out = {0};
    int rc = translate_select (&t, NULL, ast->query, &out, 0);
    sb_free (&t.sel);
    hql_ast_destroy (&ast);
    if (rc < 0 || out.oom) {
        if (!t.failed)
            omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory translating HQL");
        sb_free (&out);
        hql_query_destroy (&t.q);
        return NULL;
    }
    t.q->sql = out.s;
    return t.q;
}

int
hql_param_index (const hql_query_t *q, const char *name)
{
    if (!q || !name)
        return -1;
    for (int i = 0; i < q->nparams; i++)
        if (q->params[i].name && strcmp (q->params[i].name, name) == 0)
            return i;
    return -1;
}

const omr_type_t *
hql_type_for_discriminator (const omr_type_t *declared, const char *disc)
{
    if (!declared || !disc)
        return declared;
    const omr_type_t *root = hql_model_type (declared->root);
    if (root->discriminator && strcmp (root->discriminator, disc) == 0)
        return root;
    for (int k = 0; k < root->nsub; k++) {
        const omr_type_t *st = hql_model_type (hql_model_subtype (root, k));
        if (st->discriminator && strcmp (st->discriminator, disc) == 0)
            return st;
    }
    return declared;
}

char *
hql_pg_array (const char *const *values, int n)
{
    sbuf_t b = {0};
    sb_putn (&b, "{", 1);
    for (int i = 0; i < n; i++) {
        if (i)
            sb_putn (&b, ",", 1);
        if (!values[i]) {
            sb_puts (&b, "NULL");
            continue;
        }
        sb_putn (&b, "\"", 1);
        for (const char *c = values[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                sb_putn (&b, "\\", 1);
            sb_putn (&b, c, 1);
        }
        sb_putn (&b, "\"", 1);
    }
    sb_putn (&b, "}", 1);
    if (b.oom) {
        sb_free (&b);
        return NULL;
    }
    return b.s;
}
