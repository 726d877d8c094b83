/* update: IUpdate over model_json's plans (see update.h). */
#include "update.h"
#include "model_json.h"
#include "omr_log.h"
#include "query.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rights bits of the schema's omero_rights(). */
#define R_EDIT 1
#define R_ANNOTATE 2
#define R_DELETE 4
#define R_LINK 8

typedef struct {
    blz_app_t *app;
    blz_db_t *db;
    blz_ctx_t ctx;
    const json_t *body;
    json_t *required;           /* table -> [NOT NULL columns without a default], read once per call */
} uop_t;

/* A row's owner, group, the caller's rights and version. */
typedef struct {
    int64_t owner, group;
    int rights;
    long version;               /* -1 when the type has none */
} row_t;

static const omr_type_t *
root_of (const omr_type_t *t)
{
    return hql_model_type (t->root);
}

static void
ref_name (const omr_type_t *t, int64_t id, char *buf, size_t len)
{
    snprintf (buf, len, "%s:%lld", t->name, (long long) id);
}

/* Read (and lock, for writes) an owned row as the caller sees it; SecurityViolation when the
 * caller cannot read it. */
static int
row_rights (uop_t *op, const omr_type_t *t, int64_t id, bool lock, row_t *out, omr_err_t *err)
{
    const omr_type_t *root = root_of (t);
    char sql[512], b[24], name[160];
    bool versioned = hql_model_field (root, "version") != NULL;
    bool disc = t->disc_in && (root->flags & OMR_TF_DISC);
    snprintf (sql, sizeof sql, "SELECT owner_id, group_id, omero_rights(owner_id, group_id), %s FROM %s WHERE id = $1%s%s%s",
              versioned ? "version" : "NULL", root->table, disc ? " AND discriminator IN (" : "",
              disc ? t->disc_in : "", disc ? ")" : "");
    if (lock)
        snprintf (sql + strlen (sql), sizeof sql - strlen (sql), " FOR UPDATE");
    PGresult *res = blz_db_query (op->db, err, sql, BLZ_P (BLZ_I64 (b, id)));
    if (!res)
        return -1;
    if (PQntuples (res) == 0) {
        PQclear (res);
        ref_name (t, id, name, sizeof name);
        return omr_err_set (err, OMR_E_SECURITY, 403, "Cannot read %s: it does not exist or you may not see it", name);
    }
    out->owner = atoll (PQgetvalue (res, 0, 0));
    out->group = atoll (PQgetvalue (res, 0, 1));
    out->rights = atoi (PQgetvalue (res, 0, 2));
    out->version = PQgetisnull (res, 0, 3) ? -1 : atol (PQgetvalue (res, 0, 3));
    PQclear (res);
    return 0;
}

/* OriginalFiles follow their own privileges: a restricted administrator edits others' files
 * with WriteFile (not WriteOwned) and deletes them with DeleteFile (not DeleteOwned). Rights
 * that come from owning the file, owning its group or a read-write membership stay. */
static int
file_rights (uop_t *op, const omr_type_t *t, row_t *r, omr_err_t *err)
{
    if (strcmp (root_of (t)->name, "OriginalFile") || !op->ctx.admin || r->owner == op->ctx.user_id
        || blz_ctx_owner (&op->ctx, r->group))
        return 0;
    char b[24];
    PGresult *res = blz_db_query (op->db, err, "SELECT permissions FROM experimentergroup WHERE id = $1",
                                  BLZ_P (BLZ_I64 (b, r->group)));
    if (!res)
        return -1;
    bool gwrite = PQntuples (res) && (atoll (PQgetvalue (res, 0, 0)) & 32) && blz_ctx_member (&op->ctx, r->group);
    PQclear (res);
    if (gwrite)
        return 0;
    r->rights &= ~(R_EDIT | R_DELETE | R_ANNOTATE | R_LINK);
    if (blz_ctx_can (&op->ctx, "WriteFile"))
        r->rights |= R_EDIT | R_ANNOTATE | R_LINK;
    if (blz_ctx_can (&op->ctx, "DeleteFile"))
        r->rights |= R_DELETE;
    return 0;
}

/* Whether a type's references to others' objects count as annotating them (ROIs, annotations,
 * rendering settings, thumbnails) rather than mixing data (containers, links). */
static bool
annotating (const omr_type_t *t)
{
    const omr_type_t *r = root_of (t);
    return strstr (t->name, "Annotation") || !strcmp (r->name, "Roi") || !strcmp (r->name, "Shape")
           || !strcmp (r->name, "RenderingDef") || !strcmp (r->name, "Thumbnail");
}

/* Check that an object of type t in group `group` may point at target:id through field f. */
static int
check_reference (uop_t *op, const omr_type_t *t, const omr_field_t *f, int64_t target_id, int64_t group,
                 omr_err_t *err)
{
    const omr_type_t *target = hql_model_type (f->target);
    if (!(root_of (target)->flags & OMR_TF_OWNED))
        return 0;   /* users, groups, enumerations, events: the foreign key checks they exist */
    row_t r;
    if (row_rights (op, target, target_id, false, &r, err) < 0 || file_rights (op, target, &r, err) < 0)
        return -1;
    char name[160];
    ref_name (target, target_id, name, sizeof name);
    if (r.group != group)
        return omr_err_set (err, OMR_E_SECURITY, 403,
                            "%s.%s: %s is in group %lld, not in group %lld: objects of different groups cannot be linked",
                            t->name, f->name, name, (long long) r.group, (long long) group);
    int need = R_LINK;
    if (annotating (t) && !(t->flags & OMR_TF_LINK))
        need = R_ANNOTATE;
    else if ((t->flags & OMR_TF_LINK) && strstr (t->name, "AnnotationLink"))
        need = R_ANNOTATE;
    if (!(r.rights & need))
        return omr_err_set (err, OMR_E_SECURITY, 403, "you may not %s %s (owner %lld) in this group",
                            need == R_ANNOTATE ? "annotate" : "link to", name, (long long) r.owner);
    return 0;
}

/* The id a set refers to: an existing row or a node saved before. */
static int64_t
set_ref (const blz_mj_plan_t *plan, const blz_mj_set_t *s)
{
    return s->node >= 0 ? plan->nodes[s->node].id : s->ref;
}

/* Statement builder: columns and text parameters. */
typedef struct {
    char sql[8192];
    size_t len;
    const char *vals[256];
    int n;
    bool full;                  /* the text did not fit: the statement must not run */
} stmt_t;

static void
sadd (stmt_t *s, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static void
sadd (stmt_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (s->sql + s->len, sizeof s->sql - s->len, fmt, ap);
    va_end (ap);
    if (n > 0 && (size_t) n >= sizeof s->sql - s->len)
        s->full = true;
    if (n > 0)
        s->len += (size_t) n < sizeof s->sql - s->len ? (size_t) n : sizeof s->sql - s->len - 1;
}

/* Run a built statement (refused when it did not fit). */
static long
sexec (blz_db_t *db, stmt_t *st, const char *const *vals, int n, omr_err_t *err)
{
    if (st->full)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "too many fields in one object");
    return blz_db_exec (db, err, st->sql, n, vals);
}

/* Parameter $n of a value (kept by the caller until the statement runs). */
static int
sparam (stmt_t *s, const char *v)
{
    if (s->n >= 250)
        return 0;
    s->vals[s->n] = v;
    return ++s->n;
}

/* Replace a map field's rows (side table <table>_<field>). */
static int
write_map (uop_t *op, const omr_field_t *f, int64_t id, const json_t *pairs, omr_err_t *err)
{
    char sql[512], b[24], ib[24];
    snprintf (sql, sizeof sql, "DELETE FROM %s WHERE %s = $1", f->side_table, f->inverse_column);
    if (blz_db_exec (op->db, err, sql, BLZ_P (BLZ_I64 (b, id))) < 0)
        return -1;
    snprintf (sql, sizeof sql, "INSERT INTO %s (%s, name, value, \"index\") VALUES ($1, $2, $3, $4)", f->side_table,
              f->inverse_column);
    size_t i;
    json_t *p;
    json_array_foreach (pairs, i, p)
        if (blz_db_exec (op->db, err, sql, BLZ_P (b, json_string_value (json_array_get (p, 0)),
                                                 json_string_value (json_array_get (p, 1)), BLZ_I64 (ib, (int64_t) i))) < 0)
            return -1;
    return 0;
}

/* Text buffers for the values a node's statements need (ids of references). */
typedef struct {
    char b[256][24];            /* as many as a statement has parameters (sparam) */
    int n;
} bufs_t;

static const char *
bufid (bufs_t *bs, int64_t v)
{
    if (bs->n >= 256)
        return NULL;            /* sparam refuses the statement before this matters */
    snprintf (bs->b[bs->n], sizeof bs->b[0], "%lld", (long long) v);
    return bs->b[bs->n++];
}

/* Add "col = $n" (update) or the column and value lists (insert) of a node's sets for one
 * table. */
static int
add_sets (uop_t *op, blz_mj_plan_t *plan, blz_mj_node_t *node, const char *table, stmt_t *cols, stmt_t *vals,
          bufs_t *bs, bool update, omr_err_t *err)
{
    for (int i = 0; i < node->nsets; i++) {
        blz_mj_set_t *s = &node->sets[i];
        const omr_field_t *f = s->field;
        if (f->kind == OMR_FIELD_MAP || strcmp (f->table, table))
            continue;
        const char *v = s->value;
        if (f->kind == OMR_FIELD_REF) {
            v = s->node >= 0 || s->ref >= 0 ? bufid (bs, set_ref (plan, s)) : NULL;
        }
        const char *sep = update ? (cols->n ? ", " : "") : ", ";
        int k = sparam (vals ? vals : cols, v);
        if (!k)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "too many fields in one %s", node->type->name);
        if (update)
            sadd (cols, "%s%s = $%d", sep, f->column, k);
        else {
            sadd (cols, "%s%s", sep, f->column);
            sadd (vals, ", $%d", k);
        }
        if (f->kind == OMR_FIELD_UNITS) {
            k = sparam (vals ? vals : cols, s->unit);
            if (update)
                sadd (cols, ", %s = $%d", f->unit_column, k);
            else {
                sadd (cols, ", %s", f->unit_column);
                sadd (vals, ", $%d", k);
            }
        }
    }
    (void) op;
    return 0;
}

/* Tables holding a type's fields other than its root's (joined subclasses). */
static int
sub_tables (const omr_type_t *t, const char **out, int max)
{
    const omr_type_t *root = root_of (t);
    int n = 0;
    for (int i = 0; i < t->nfields; i++) {
        const omr_field_t *f = hql_model_field_at (t->first_field + i);
        if (!f->table || !strcmp (f->table, root->table) || f->kind == OMR_FIELD_COLLECTION || f->kind == OMR_FIELD_MAP)
            continue;
        bool dup = false;
        for (int k = 0; k < n; k++)
            dup |= !strcmp (out[k], f->table);
        if (!dup && n < max)
            out[n++] = f->table;
    }
    if (t->key_column && strcmp (t->table, root->table)) {
        bool dup = false;
        for (int k = 0; k < n; k++)
            dup |= !strcmp (out[k], t->table);
        if (!dup && n < max)
            out[n++] = t->table;
    }
    return n;
}

/* Say which field a NOT NULL violation is about, in the model's names. */
static void
explain_db_error (const omr_type_t *t, omr_err_t *err)
{
    const char *p = strstr (err->msg, "null value in column \"");
    if (!p || !strstr (err->msg, "not-null"))
        return;
    char col[64];
    if (sscanf (p + 22, "%63[^\"]", col) != 1)
        return;
    const char *field = col;
    for (int i = 0; i < t->nfields; i++) {
        const omr_field_t *f = hql_model_field_at (t->first_field + i);
        if (f->column && !strcmp (f->column, col))
            field = f->name;
    }
    omr_err_set (err, OMR_E_VALIDATION, 400, "%s.%s is required: give it a value", t->name, field);
}

/* Every required field a new object lacks, named at once ("Objective is missing required
 * fields: correction, immersion"): the NOT NULL columns without a default of its tables. */
static int
check_required (uop_t *op, const blz_mj_node_t *node, omr_err_t *err)
{
    const omr_type_t *t = node->type;
    if (!op->required)
        op->required = json_object ();
    char missing[512] = "";
    size_t off = 0;
    for (int i = 0; i < t->nfields; i++) {
        const omr_field_t *f = hql_model_field_at (t->first_field + i);
        if (!f->column || !f->table || (f->flags & (OMR_FF_NULLABLE | OMR_FF_READONLY))
            || (f->kind != OMR_FIELD_SCALAR && f->kind != OMR_FIELD_REF && f->kind != OMR_FIELD_UNITS))
            continue;
        bool set = false;
        for (int k = 0; k < node->nsets && !set; k++)
            set = node->sets[k].field == f;
        if (set)
            continue;
        json_t *cols = json_object_get (op->required, f->table);
        if (!cols) {
            PGresult *res = blz_db_query (op->db, err,
                                          "SELECT quote_ident(column_name::text) FROM information_schema.columns "
                                          "WHERE table_schema = current_schema() AND table_name = $1 "
                                          "AND is_nullable = 'NO' AND column_default IS NULL",
                                          BLZ_P (f->table));
            if (!res)
                return -1;
            cols = json_array ();
            for (int r = 0; r < PQntuples (res); r++)
                json_array_append_new (cols, json_string (PQgetvalue (res, r, 0)));
            PQclear (res);
            json_object_set_new (op->required, f->table, cols);
        }
        size_t k;
        json_t *c;
        json_array_foreach (cols, k, c)
            if (!strcmp (json_string_value (c), f->column))
                off += (size_t) snprintf (missing + off, off < sizeof missing ? sizeof missing - off : 0, "%s%s",
                                          off ? ", " : "", f->name);
    }
    if (off)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s is missing required fields: %s", t->name, missing);
    return 0;
}

/* Turn a collection member's back reference into a set of its own (checked like the others). */
static void
add_inverse_set (blz_mj_plan_t *plan, blz_mj_node_t *node)
{
    if (node->parent < 0 || !node->via || !node->via->inverse)
        return;
    const omr_field_t *inv = hql_model_field (node->type, node->via->inverse);
    if (!inv || inv->kind != OMR_FIELD_REF)
        return;
    for (int i = 0; i < node->nsets; i++)
        if (node->sets[i].field == inv) {
            node->sets[i].node = node->parent;
            node->sets[i].ref = -1;
            return;
        }
    node->sets = realloc (node->sets, (node->nsets + 1) * sizeof *node->sets);
    node->sets[node->nsets++] = (blz_mj_set_t) {.field = inv, .node = node->parent, .ref = -1};
    (void) plan;
}

/* The group permissions of a group (stored on each new row, as OMERO does). */
static int
group_perms (uop_t *op, int64_t gid, char out[24], omr_err_t *err)
{
    char b[24];
    PGresult *res = blz_db_query (op->db, err, "SELECT permissions FROM experimentergroup WHERE id = $1",
                                  BLZ_P (BLZ_I64 (b, gid)));
    if (!res)
        return -1;
    if (PQntuples (res) == 0) {
        PQclear (res);
        return omr_err_set (err, OMR_E_VALIDATION, 400, "no group %lld", (long long) gid);
    }
    snprintf (out, 24, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    return 0;
}

/* With the context spanning all groups (-1), new objects go to the group of what they are linked
 * with (the parent of a collection, a link's parent, an object a new one points at ...), as
 * objects of different groups cannot be linked anyway. Groups spread through the graph until
 * nothing changes; objects linked to nothing owned keep -1 (and are refused). */
static int
propagate_groups (uop_t *op, blz_mj_plan_t *plan, omr_err_t *err)
{
    /* known groups first: the existing objects of the graph */
    for (int i = 0; i < plan->n; i++) {
        blz_mj_node_t *n = &plan->nodes[i];
        if (n->id > 0 && n->group < 0 && (root_of (n->type)->flags & OMR_TF_OWNED)) {
            row_t r;
            if (row_rights (op, n->type, n->id, false, &r, err) < 0)
                return -1;
            n->group = r.group;
        }
    }
    bool changed = true;
    while (changed) {
        changed = false;
        for (int i = 0; i < plan->n; i++) {
            blz_mj_node_t *n = &plan->nodes[i];
            if (!(root_of (n->type)->flags & OMR_TF_OWNED))
                continue;
            if (n->group < 0 && n->parent >= 0 && plan->nodes[n->parent].group >= 0) {
                n->group = plan->nodes[n->parent].group;
                changed = true;
            }
            for (int k = 0; k < n->nsets; k++) {
                blz_mj_set_t *st = &n->sets[k];
                const omr_type_t *target = st->field->kind == OMR_FIELD_REF ? hql_model_type (st->field->target) : NULL;
                if (!target || !(root_of (target)->flags & OMR_TF_OWNED))
                    continue;
                if (st->node >= 0) {
                    blz_mj_node_t *t = &plan->nodes[st->node];
                    if (n->group < 0 && t->group >= 0) {
                        n->group = t->group;
                        changed = true;
                    } else if (n->group >= 0 && t->group < 0 && t->id == 0) {
                        t->group = n->group;
                        changed = true;
                    }
                } else if (st->ref >= 0 && n->group < 0) {
                    row_t r;
                    if (row_rights (op, target, st->ref, false, &r, err) < 0)
                        return -1;
                    n->group = r.group;
                    changed = true;
                }
            }
            if (n->group >= 0 && n->parent >= 0 && plan->nodes[n->parent].group < 0 && plan->nodes[n->parent].id == 0) {
                plan->nodes[n->parent].group = n->group;
                changed = true;
            }
        }
    }
    return 0;
}

static int
insert_node (uop_t *op, blz_mj_plan_t *plan, int idx, omr_err_t *err)
{
    blz_mj_node_t *node = &plan->nodes[idx];
    const omr_type_t *t = node->type, *root = root_of (t);
    bool owned = (root->flags & OMR_TF_OWNED) != 0;
    add_inverse_set (plan, node);
    if (!owned && !((root->flags & OMR_TF_ENUM) && blz_ctx_can (&op->ctx, "WriteOwned")))
        return omr_err_set (err, OMR_E_SECURITY, 403, "%s objects cannot be created through IUpdate%s", t->name,
                            t == hql_model_type (OMR_TYPE_Experimenter) || t == hql_model_type (OMR_TYPE_ExperimenterGroup)
                                ? " (use IAdmin)" : "");
    int64_t group = -1;
    char perms[24] = "-52", gb[24], ob[24], eb[24];
    if (owned) {
        group = node->group >= 0 ? node->group : op->ctx.group_id;
        if (group < 0)
            return omr_err_set (err, OMR_E_API, 400, "to save new objects choose one group (omero.group), not -1");
        if (group == op->app->user_gid)
            return omr_err_set (err, OMR_E_SECURITY, 403, "objects cannot be saved in the 'user' group; switch to one of your groups");
        if (!blz_ctx_member (&op->ctx, group) && !blz_ctx_can (&op->ctx, "WriteOwned"))
            return omr_err_set (err, OMR_E_SECURITY, 403, "you are not a member of group %lld", (long long) group);
        if (node->owner >= 0 && node->owner != op->ctx.user_id && !blz_ctx_can (&op->ctx, "WriteOwned"))
            return omr_err_set (err, OMR_E_SECURITY, 403, "you may not create objects owned by user %lld",
                                (long long) node->owner);
        if (group_perms (op, group, perms, err) < 0)
            return -1;
        node->group = group;    /* members and referrers saved later go to the same group */
    }
    for (int i = 0; i < node->nsets; i++) {
        blz_mj_set_t *s = &node->sets[i];
        if (s->field->kind == OMR_FIELD_REF && (s->node >= 0 || s->ref >= 0) && owned
            && check_reference (op, t, s->field, set_ref (plan, s), group, err) < 0)
            return -1;
    }
    if (check_required (op, node, err) < 0)
        return -1;
    int64_t ev = blz_db_event (op->db, err);
    if (ev < 0)
        return -1;
    char sql_id[160];
    snprintf (sql_id, sizeof sql_id, "SELECT nextval('seq_%s')", root->table);
    PGresult *res = blz_db_query (op->db, err, sql_id, 0, NULL);
    if (!res)
        return -1;
    node->id = atoll (PQgetvalue (res, 0, 0));
    PQclear (res);
    char idb[24];
    BLZ_I64 (idb, node->id);
    stmt_t *c = calloc (1, sizeof *c), *v = calloc (1, sizeof *v);
    bufs_t *bs = calloc (1, sizeof *bs);
    int rc = -1;
    sadd (c, "INSERT INTO %s (id", root->table);
    sadd (v, ") VALUES ($%d", sparam (v, idb));
    if (root->discriminator || t->discriminator) {
        sadd (c, ", discriminator");
        sadd (v, ", $%d", sparam (v, t->discriminator ? t->discriminator : root->discriminator));
    }
    if (owned) {
        sadd (c, ", owner_id, group_id, creation_id, permissions");
        int64_t owner = node->owner >= 0 ? node->owner : op->ctx.user_id;
        int k1 = sparam (v, BLZ_I64 (ob, owner)), k2 = sparam (v, BLZ_I64 (gb, group)), k3 = sparam (v, BLZ_I64 (eb, ev));
        int k4 = sparam (v, perms);
        sadd (v, ", $%d, $%d, $%d, $%d", k1, k2, k3, k4);
        if (hql_model_field (t, "details.updateEvent")) {
            sadd (c, ", update_id");
            sadd (v, ", $%d", k3);
        }
    }
    if (add_sets (op, plan, node, root->table, c, v, bs, false, err) < 0)
        goto done;
    sadd (c, "%s)", v->sql);
    c->full |= v->full;
    if (sexec (op->db, c, v->vals, v->n, err) < 0) {
        explain_db_error (t, err);
        goto done;
    }
    const char *subs[8];
    int nsub = sub_tables (t, subs, 8);
    for (int k = 0; k < nsub; k++) {
        memset (c, 0, sizeof *c);
        memset (v, 0, sizeof *v);
        sadd (c, "INSERT INTO %s (%s_id", subs[k], root->table);
        sadd (v, ") VALUES ($%d", sparam (v, idb));
        if (add_sets (op, plan, node, subs[k], c, v, bs, false, err) < 0)
            goto done;
        sadd (c, "%s)", v->sql);
        c->full |= v->full;
        if (sexec (op->db, c, v->vals, v->n, err) < 0) {
            explain_db_error (t, err);
            goto done;
        }
    }
    for (int i = 0; i < node->nsets; i++)
        if (node->sets[i].field->kind == OMR_FIELD_MAP
            && write_map (op, node->sets[i].field, node->id, node->sets[i].map, err) < 0)
            goto done;
    if (node->parent >= 0 && node->via && node->via->order_column) {
        char sql[256], ib[24];
        snprintf (sql, sizeof sql, "UPDATE %s SET %s = $2 WHERE id = $1", root->table, node->via->order_column);
        if (blz_db_exec (op->db, err, sql, BLZ_P (idb, BLZ_I64 (ib, node->index))) < 0)
            goto done;
    }
    char cls[160];
    blz_mj_class_name (t, cls, sizeof cls);
    rc = blz_db_log (op->db, "INSERT", cls, node->id, err);
done:
    free (c);
    free (v);
    free (bs);
    return rc;
}

/* Whether a set writes what the row already holds (an object read and saved back unchanged). */
static int
same_as_stored (uop_t *op, const blz_mj_node_t *node, const blz_mj_set_t *s, bool *same, omr_err_t *err)
{
    const omr_field_t *f = s->field;
    char sql[256], idb[24];
    BLZ_I64 (idb, node->id);
    *same = false;
    if (f->kind == OMR_FIELD_MAP) {
        snprintf (sql, sizeof sql, "SELECT name, value FROM %s WHERE %s = $1 ORDER BY \"index\"", f->side_table,
                  f->inverse_column);
        PGresult *res = blz_db_query (op->db, err, sql, BLZ_P (idb));
        if (!res)
            return -1;
        *same = PQntuples (res) == (int) json_array_size (s->map);
        for (int r = 0; *same && r < PQntuples (res); r++) {
            json_t *e = json_array_get (s->map, r);
            *same = !strcmp (PQgetvalue (res, r, 0), json_string_value (json_array_get (e, 0)))
                    && !strcmp (PQgetvalue (res, r, 1), json_string_value (json_array_get (e, 1)));
        }
        PQclear (res);
        return 0;
    }
    if (f->kind != OMR_FIELD_SCALAR)
        return 0;
    snprintf (sql, sizeof sql, "SELECT %s IS NOT DISTINCT FROM $2 FROM %s WHERE id = $1", f->column,
              root_of (node->type)->table);
    PGresult *res = blz_db_query (op->db, err, sql, BLZ_P (idb, s->value));
    if (!res)
        return -1;
    *same = PQntuples (res) == 1 && PQgetvalue (res, 0, 0)[0] == 't';
    PQclear (res);
    return 0;
}

/* Whether a config list restricts privilege p ("AdminPrivilege:<p>" = false). */
static bool
restricts (const json_t *pairs, const char *p)
{
    size_t i;
    json_t *e;
    json_array_foreach (pairs, i, e) {
        const char *k = json_string_value (json_array_get (e, 0)), *v = json_string_value (json_array_get (e, 1));
        if (k && v && !strncmp (k, "AdminPrivilege:", 15) && !strcmp (k + 15, p) && !strcasecmp (v, "false"))
            return true;
    }
    return false;
}

/* OMERO's rules for restricted administrators kept in Experimenter.config: nobody clears a
 * restriction they have themselves, and root is never restricted. */
static int
check_restrictions (uop_t *op, const blz_mj_node_t *node, omr_err_t *err)
{
    for (int i = 0; i < node->nsets; i++) {
        const blz_mj_set_t *s = &node->sets[i];
        if (s->field->kind != OMR_FIELD_MAP || strcmp (s->field->name, "config"))
            continue;
        char sql[256], idb[24];
        snprintf (sql, sizeof sql, "SELECT name, value FROM %s WHERE %s = $1 ORDER BY \"index\"", s->field->side_table,
                  s->field->inverse_column);
        PGresult *res = blz_db_query (op->db, err, sql, BLZ_P (BLZ_I64 (idb, node->id)));
        if (!res)
            return -1;
        json_t *before = json_array ();
        for (int r = 0; r < PQntuples (res); r++)
            json_array_append_new (before, json_pack ("[s,s]", PQgetvalue (res, r, 0), PQgetvalue (res, r, 1)));
        PQclear (res);
        int rc = 0;
        for (int p = 0; p < BLZ_NPRIVILEGES && rc == 0; p++) {
            const char *name = blz_privilege_name (p);
            bool was = restricts (before, name), now = restricts (s->map, name);
            if (now && node->id == op->app->root_id)
                rc = omr_err_set (err, OMR_E_SECURITY, 403, "root cannot be restricted (AdminPrivilege:%s)", name);
            else if (was && !now && !blz_ctx_can (&op->ctx, name))
                rc = omr_err_set (err, OMR_E_SECURITY, 403,
                                  "you may not clear the restriction AdminPrivilege:%s: it applies to you too", name);
        }
        json_decref (before);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Who may change global rows: administrators with the privilege, users their own record. */
static int
check_global_update (uop_t *op, blz_mj_node_t *node, omr_err_t *err)
{
    const omr_type_t *t = node->type;
    if (t == hql_model_type (OMR_TYPE_Experimenter)) {
        if (blz_ctx_can (&op->ctx, "ModifyUser"))
            return check_restrictions (op, node, err);
        if (node->id != op->ctx.user_id)
            return omr_err_set (err, OMR_E_SECURITY, 403, "only administrators may change other users");
        for (int i = 0; i < node->nsets; i++) {
            const char *n = node->sets[i].field->name;
            if (!strcmp (n, "omeName") || !strcmp (n, "ldap") || !strcmp (n, "config")) {
                bool same = false;
                if (same_as_stored (op, node, &node->sets[i], &same, err) < 0)
                    return -1;
                if (!same)
                    return omr_err_set (err, OMR_E_SECURITY, 403, "only administrators may change Experimenter.%s", n);
            }
        }
        return 0;
    }
    if (t == hql_model_type (OMR_TYPE_ExperimenterGroup)) {
        if (blz_ctx_can (&op->ctx, "ModifyGroup") || blz_ctx_owner (&op->ctx, node->id))
            return 0;
        return omr_err_set (err, OMR_E_SECURITY, 403, "only administrators and the group's owners may change it");
    }
    if ((root_of (t)->flags & OMR_TF_ENUM) && blz_ctx_can (&op->ctx, "WriteOwned"))
        return 0;
    return omr_err_set (err, OMR_E_SECURITY, 403, "%s objects cannot be changed through IUpdate", t->name);
}

static int
update_node (uop_t *op, blz_mj_plan_t *plan, int idx, omr_err_t *err)
{
    blz_mj_node_t *node = &plan->nodes[idx];
    const omr_type_t *t = node->type, *root = root_of (t);
    bool owned = (root->flags & OMR_TF_OWNED) != 0;
    char name[160], idb[24], vb[24];
    ref_name (t, node->id, name, sizeof name);
    BLZ_I64 (idb, node->id);
    add_inverse_set (plan, node);
    bool versioned = hql_model_field (root, "version") != NULL;
    long current = -1;
    if (owned) {
        row_t r;
        if (row_rights (op, t, node->id, true, &r, err) < 0 || file_rights (op, t, &r, err) < 0)
            return -1;
        if (node->nsets > 0 && !(r.rights & R_EDIT))
            return omr_err_set (err, OMR_E_SECURITY, 403, "you may not edit %s (owner %lld, group %lld)", name,
                                (long long) r.owner, (long long) r.group);
        if (node->group >= 0 && node->group != r.group)
            return omr_err_set (err, OMR_E_SECURITY, 403, "%s is in group %lld: moving it to another group is chgrp, not an update",
                                name, (long long) r.group);
        if (node->owner >= 0 && node->owner != r.owner)
            return omr_err_set (err, OMR_E_SECURITY, 403, "%s is owned by user %lld: changing the owner is chown, not an update",
                                name, (long long) r.owner);
        node->group = r.group;  /* new members of its collections go to its group */
        for (int i = 0; i < node->nsets; i++) {
            blz_mj_set_t *s = &node->sets[i];
            if (s->field->kind == OMR_FIELD_REF && (s->node >= 0 || s->ref >= 0)
                && check_reference (op, t, s->field, set_ref (plan, s), r.group, err) < 0)
                return -1;
        }
        current = r.version;
    } else {
        if (node->nsets > 0 && check_global_update (op, node, err) < 0)
            return -1;
        char sql[256];
        snprintf (sql, sizeof sql, "SELECT %s FROM %s WHERE id = $1 FOR UPDATE", versioned ? "version" : "NULL",
                  root->table);
        PGresult *res = blz_db_query (op->db, err, sql, BLZ_P (idb));
        if (!res)
            return -1;
        bool found = PQntuples (res) > 0;
        current = found && !PQgetisnull (res, 0, 0) ? atol (PQgetvalue (res, 0, 0)) : -1;
        PQclear (res);
        if (!found)
            return omr_err_set (err, OMR_E_SECURITY, 403, "Cannot read %s: it does not exist", name);
    }
    if (node->version >= 0 && versioned && current >= 0 && node->version != current)
        return omr_err_set (err, OMR_E_LOCK, 409, "%s was changed by someone else (version %ld, yours is %ld): reload it",
                            name, current, node->version);
    if (node->nsets == 0)
        return 0;   /* a reference to an existing object, nothing to change */
    int64_t ev = blz_db_event (op->db, err);
    if (ev < 0)
        return -1;
    stmt_t *c = calloc (1, sizeof *c);
    bufs_t *bs = calloc (1, sizeof *bs);
    char eb[24];
    int rc = -1;
    sadd (c, "UPDATE %s SET ", root->table);
    if (add_sets (op, plan, node, root->table, c, NULL, bs, true, err) < 0)
        goto done;
    if (versioned)
        sadd (c, "%sversion = coalesce(version, 0) + 1", c->n ? ", " : "");
    if (owned && hql_model_field (t, "details.updateEvent"))
        sadd (c, ", update_id = $%d", sparam (c, BLZ_I64 (eb, ev)));
    if (c->n > 0 || versioned) {
        sadd (c, " WHERE id = $%d", sparam (c, idb));
        if (versioned && node->version >= 0)
            sadd (c, " AND coalesce(version, 0) = $%d", sparam (c, BLZ_I64 (vb, node->version)));
        long n = sexec (op->db, c, c->vals, c->n, err);
        if (n < 0)
            goto done;
        if (n == 0) {
            omr_err_set (err, OMR_E_LOCK, 409, "%s was changed by someone else: reload it", name);
            goto done;
        }
    }
    const char *subs[8];
    int nsub = sub_tables (t, subs, 8);
    for (int k = 0; k < nsub; k++) {
        memset (c, 0, sizeof *c);
        sadd (c, "UPDATE %s SET ", subs[k]);
        if (add_sets (op, plan, node, subs[k], c, NULL, bs, true, err) < 0)
            goto done;
        if (c->n == 0)
            continue;
        sadd (c, " WHERE %s_id = $%d", root->table, sparam (c, idb));
        if (sexec (op->db, c, c->vals, c->n, err) < 0)
            goto done;
    }
    for (int i = 0; i < node->nsets; i++)
        if (node->sets[i].field->kind == OMR_FIELD_MAP
            && write_map (op, node->sets[i].field, node->id, node->sets[i].map, err) < 0)
            goto done;
    char cls[160];
    blz_mj_class_name (t, cls, sizeof cls);
    rc = blz_db_log (op->db, "UPDATE", cls, node->id, err);
done:
    free (c);
    free (bs);
    return rc;
}

/* Whether node a is node i or one of its ancestors (collection parents). */
static bool
ancestor (const blz_mj_plan_t *plan, int a, int i)
{
    for (; i >= 0; i = plan->nodes[i].parent)
        if (i == a)
            return true;
    return false;
}

/* The saved graph as the caller now sees it, as OMERO's saveAndReturnObject returns it: every
 * object of the plan read back, new collection members in their parents' lists and new
 * referenced objects in place of the references. */
static json_t *
read_back (uop_t *op, const blz_mj_plan_t *plan, int root, omr_err_t *err)
{
    if (plan->n > 1000)     /* a huge graph: the root only (its members can be queried) */
        return blz_query_load (op->db, plan->nodes[root].type, plan->nodes[root].id, err);
    json_t **objs = calloc ((size_t) plan->n, sizeof *objs);
    json_t *out = NULL;
    for (int i = 0; i < plan->n; i++) {
        objs[i] = blz_query_load (op->db, plan->nodes[i].type, plan->nodes[i].id, err);
        if (!objs[i]) {
            if (!err->name[0])
                omr_err_set (err, OMR_E_INTERNAL, 500, "the saved %s could not be read back", plan->nodes[i].type->name);
            goto done;
        }
    }
    char kb[128];
    for (int i = 0; i < plan->n; i++) {
        const blz_mj_node_t *n = &plan->nodes[i];
        for (int k = 0; k < n->nsets; k++) {
            const blz_mj_set_t *st = &n->sets[k];
            if (st->node >= 0 && st->field->kind == OMR_FIELD_REF && !ancestor (plan, st->node, i))
                json_object_set (objs[i], blz_mj_key (st->field, kb, sizeof kb), objs[st->node]);
        }
        if (n->parent >= 0 && n->via) {
            const char *key = blz_mj_key (n->via, kb, sizeof kb);
            json_t *arr = json_object_get (objs[n->parent], key);
            if (!json_is_array (arr)) {
                arr = json_array ();
                json_object_set_new (objs[n->parent], key, arr);
            }
            json_array_append (arr, objs[i]);
        }
    }
    out = json_incref (objs[root]);
done:
    for (int i = 0; i < plan->n; i++)
        json_decref (objs[i]);
    free (objs);
    return out;
}

/* Save one object graph; returns the root's id or -1. With graph, *graph receives the saved
 * graph read back (read_back). */
static int64_t
save_one (uop_t *op, const json_t *obj, json_t **graph, omr_err_t *err)
{
    blz_mj_plan_t plan = {0};
    int root = blz_mj_decode (obj, &plan, err);
    int64_t id = -1;
    if (root < 0)
        goto done;
    if (op->ctx.group_id < 0 && propagate_groups (op, &plan, err) < 0)
        goto done;
    for (int i = 0; i < plan.n; i++) {
        int rc = plan.nodes[i].id == 0 ? insert_node (op, &plan, i, err) : update_node (op, &plan, i, err);
        if (rc < 0)
            goto done;
    }
    if (graph && !(*graph = read_back (op, &plan, root, err)))
        goto done;
    id = plan.nodes[root].id;
done:
    blz_mj_plan_free (&plan);
    return id;
}

/* The objects of a call: "object" (one) or "objects" (a list); a body with "@type" is itself
 * the object. */
static json_t *
objects_arg (uop_t *op, bool many, omr_err_t *err)
{
    json_t *o = json_object_get (op->body, many ? "objects" : "object");
    if (!o && many)
        o = json_object_get (op->body, "graph");
    if (!o && !many && json_object_get (op->body, "@type"))
        o = (json_t *) op->body;
    if (many ? !json_is_array (o) : !json_is_object (o)) {
        omr_err_set (err, OMR_E_API, 400, many ? "give the objects to save as \"objects\": [...]"
                                                : "give the object to save as \"object\": {\"@type\": ...}");
        return NULL;
    }
    return many ? json_incref (o) : json_pack ("[O]", o);
}

typedef enum { U_SAVE, U_SAVE_RETURN, U_SAVE_ARRAY, U_SAVE_RETURN_ARRAY, U_SAVE_RETURN_IDS, U_DELETE } ukind_t;

static const struct {
    const char *name;
    ukind_t kind;
} ops[] = {
    {"saveObject", U_SAVE}, {"saveAndReturnObject", U_SAVE_RETURN}, {"saveArray", U_SAVE_ARRAY},
    {"saveCollection", U_SAVE_ARRAY}, {"saveAndReturnArray", U_SAVE_RETURN_ARRAY},
    {"saveAndReturnIds", U_SAVE_RETURN_IDS}, {"deleteObject", U_DELETE},
};

static int
delete_row (uop_t *op, const omr_type_t *t, int64_t id, omr_err_t *err)
{
    const omr_type_t *root = root_of (t);
    char name[160], idb[24], sql[256];
    ref_name (t, id, name, sizeof name);
    BLZ_I64 (idb, id);
    if (root->flags & OMR_TF_OWNED) {
        row_t r;
        if (row_rights (op, t, id, true, &r, err) < 0 || file_rights (op, t, &r, err) < 0)
            return -1;
        if (!(r.rights & R_DELETE))
            return omr_err_set (err, OMR_E_SECURITY, 403, "you may not delete %s (owner %lld, group %lld)", name,
                                (long long) r.owner, (long long) r.group);
    } else if (!((root->flags & OMR_TF_ENUM) && blz_ctx_can (&op->ctx, "DeleteOwned")))
        return omr_err_set (err, OMR_E_SECURITY, 403, "%s objects cannot be deleted through IUpdate", t->name);
    const char *subs[8];
    int nsub = sub_tables (t, subs, 8);
    for (int k = 0; k < nsub; k++) {
        snprintf (sql, sizeof sql, "DELETE FROM %s WHERE %s_id = $1", subs[k], root->table);
        if (blz_db_exec (op->db, err, sql, BLZ_P (idb)) < 0)
            return -1;
    }
    snprintf (sql, sizeof sql, "DELETE FROM %s WHERE id = $1", root->table);
    long n = blz_db_exec (op->db, err, sql, BLZ_P (idb));
    if (n < 0) {
        if (!strcmp (err->name, OMR_E_VALIDATION))
            omr_err_prefix (err, "%s is still used by other objects (delete those first, or use omero delete): ", name);
        return -1;
    }
    if (n == 0)
        return omr_err_set (err, OMR_E_SECURITY, 403, "Cannot read %s", name);
    char cls[160];
    blz_mj_class_name (t, cls, sizeof cls);
    if (blz_db_log (op->db, "DELETE", cls, id, err) < 0)
        return -1;
    return 0;
}

static int
delete_object (uop_t *op, omr_err_t *err)
{
    json_t *o = json_object_get (op->body, "object");
    const omr_type_t *t = NULL;
    int64_t id = -1;
    if (json_is_string (o)) {
        if (blz_mj_parse_ref (json_string_value (o), &t, &id) < 0)
            return omr_err_set (err, OMR_E_API, 400, "\"object\" must be Class:ID or {\"@type\", \"@id\"}");
    } else if (json_is_object (o)) {
        t = blz_mj_type (json_string_value (json_object_get (o, "@type")));
        id = blz_int (o, "@id", -1);
    }
    if (!t || id < 0)
        return omr_err_set (err, OMR_E_API, 400, "give the object to delete as \"object\": {\"@type\", \"@id\"}");
    return delete_row (op, t, id, err);
}

int64_t
blz_update_save (blz_app_t *app, blz_db_t *db, const blz_ctx_t *ctx, const json_t *obj, omr_err_t *err)
{
    uop_t op = {.app = app, .db = db, .ctx = *ctx};
    int64_t id = save_one (&op, obj, NULL, err);
    json_decref (op.required);
    return id;
}

int
blz_update_delete (blz_app_t *app, blz_db_t *db, const blz_ctx_t *ctx, const omr_type_t *t, int64_t id,
                   omr_err_t *err)
{
    uop_t op = {.app = app, .db = db, .ctx = *ctx};
    return delete_row (&op, t, id, err);
}

static int
dispatch (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    const char *method = strchr (omr_msg_op (call->req), '.') + 1;
    int kind = -1;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp (ops[i].name, method))
            kind = (int) ops[i].kind;
    if (kind < 0)
        return omr_err_set (err, OMR_E_API, 404, "IUpdate has no method %s", method);
    uop_t op = {.app = app, .db = blz_app_db (app, call), .body = call->req->body};
    if (blz_call_ctx (call, &op.ctx, err) < 0)
        return -1;
    if (!json_is_object (op.body))
        return omr_err_set (err, OMR_E_API, 400, "the arguments must be a JSON object");
    if (blz_query_group_context (op.body, &op.ctx, err) < 0)
        return -1;
    json_t *objs = NULL, *data = NULL;
    if (kind != U_DELETE) {
        bool many = kind == U_SAVE_ARRAY || kind == U_SAVE_RETURN_ARRAY || kind == U_SAVE_RETURN_IDS;
        objs = objects_arg (&op, many, err);
        if (!objs)
            return -1;
    }
    if (blz_db_begin (op.db, &op.ctx, err) < 0) {
        json_decref (objs);
        return -1;
    }
    int rc = 0;
    if (kind == U_DELETE)
        rc = delete_object (&op, err);
    else {
        json_t *ids = json_array ();
        bool want = kind == U_SAVE_RETURN || kind == U_SAVE_RETURN_ARRAY;
        json_t *graphs = json_array ();
        size_t i;
        json_t *o;
        json_array_foreach (objs, i, o) {
            json_t *g = NULL;
            int64_t id = save_one (&op, o, want ? &g : NULL, err);
            if (id < 0) {
                if (json_array_size (objs) > 1)
                    omr_err_prefix (err, "object %zu: ", i);
                rc = -1;
                break;
            }
            json_array_append_new (ids, json_integer (id));
            if (g)
                json_array_append_new (graphs, g);
        }
        if (rc == 0 && want) {
            data = json_incref (graphs);
            if (kind == U_SAVE_RETURN) {
                json_t *one = json_incref (json_array_get (data, 0));
                json_decref (data);
                data = one;
            }
        } else if (rc == 0 && kind == U_SAVE_RETURN_IDS)
            data = json_incref (ids);
        json_decref (ids);
        json_decref (graphs);
    }
    json_decref (objs);
    json_decref (op.required);
    if (rc < 0 || blz_db_commit (op.db, err) < 0) {
        blz_db_rollback (op.db);
        json_decref (data);
        return -1;
    }
    call->reply = data ? json_pack ("{s:o}", "data", data) : json_object ();
    return 0;
}

void
blz_update_register (blz_app_t *app)
{
    omr_server_on (app->server, "IUpdate.*", dispatch, app);
}
