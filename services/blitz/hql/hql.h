/* hql: translate OMERO HQL into one PostgreSQL statement with bound parameters.
 *
 * Use from the Blitz server (IQuery.findAllByQuery, projection, omero hql):
 *
 *     omr_err_t err;
 *     hql_query_t *q = hql_translate ("select i from Image i where i.id in (:ids)", &err);
 *     if (!q) -> reply err.name ("QueryException") / err.msg ("HQL error at position N: ...")
 *     // bind parameters in order: q->params[k] becomes $k+1
 *     for k: value = q->params[k].name ? client_value(q->params[k].name) : q->params[k].literal
 *            (a list parameter, is_list, is bound as an array literal: hql_pg_array (values, n))
 *     // paging: append " LIMIT <n> OFFSET <m>" (integers you produced) to q->sql; note that with
 *     // a fetched collection a row is a (parent, child) pair, so page on the parent ids first
 *     PQexecParams (conn, q->sql, nparams, NULL, values, NULL, NULL, 0);
 *     // each result row: q->ncols columns described by q->cols; q->items says how to group them
 *     hql_query_destroy (&q);
 * The translator checks names, not every type: a query such as "where i.name = 5" or a
 * non-grouped column fails in PostgreSQL (SQLSTATE class 42/22): report that as a
 * QueryException too. Literal numbers are bound typed ($n::int8 / $n::float8), other parameters
 * take the type PostgreSQL infers from their use.
 *
 * Supported HQL: [select [distinct] items] from Entity [as] a [, Entity b] [[left [outer] | inner]
 * join [fetch] a.path [as] x [with cond]] [where cond] [group by ...] [having cond]
 * [order by expr [asc|desc], ...]. Entities by class name (Image, ome.model.core.Image,
 * omero.model.ImageI), polymorphic (from Annotation = every subtype; x.class = TagAnnotation).
 * Paths through references and details (i.details.owner.omeName, i.details.creationEvent.time,
 * l.parent.id without a join), collections and map fields only through joins
 * (join d.imageLinks l, join ann.mapValue nv -> nv.name/nv.value), units (x.exposureTime.value,
 * .unit = code name, cast(.unit as text) = symbol, the whole quantity as an item),
 * xxxCountPerOwner fetches, size(coll), coll is [not] empty, = <> != < <= > >=, + - * / ||,
 * and/or/not, [not] like/ilike, [not] in (list | :listParam | subquery), [not] between,
 * is [not] null, [not] exists (subquery), count/sum/min/max/avg (distinct), lower, upper, length,
 * trim, coalesce, abs, sqrt, mod, concat, str, cast(x as text|long|int|double|boolean|timestamp),
 * case [x] when ... then ... [else ...] end,
 * select new map(x as key, ...), order by a select alias, named parameters :x (positional '?'
 * is refused, as in OMERO). details.permissions can be selected but not filtered on.
 * Unsupported (clean QueryException): union, right/full joins, comments, ';', quoted
 * identifiers, unknown functions/entities/properties.
 *
 * Security: no HQL text is ever copied into the SQL. Identifiers come from the model tables,
 * SQL aliases are generated (t1, t2 ...), literals ('abc', 42) become parameters. Row
 * visibility is enforced by PostgreSQL row-level security (schema.sql): the caller sets
 * omero.uid, omero.gids ... in the transaction before running q->sql.
 *
 * Result shape. A row holds q->ncols columns. q->items[i] is the i-th selected item:
 *  - HQL_ITEM_SCALAR: one column (a value, count, id ...).
 *  - HQL_ITEM_QUANTITY: two columns (value double, unit symbol) -> {value, unit, symbol}.
 *  - HQL_ITEM_MAP: "new map(x as k, ...)": one value column per key in item.keys.
 *  - HQL_ITEM_OBJECT: a whole model object q->objects[item.object]. Its columns are listed in
 *    q->cols[first_col .. first_col+ncols): the id, the discriminator (actual subtype; NULL id
 *    means no object, e.g. an empty left join), permissions, details references and every field.
 *    References come back as ids (unloaded objects) unless fetched.
 * Objects fetched with "join fetch" are extra entries of q->objects whose `parent` is the object
 * they hang from and `via` the field (a collection such as Project.datasetLinks, or a reference
 * such as DatasetImageLink.child); their columns follow the selected items' columns. Rows repeat
 * the parent for each fetched child: de-duplicate by (type, id) and build the collections.
 * A fetched "xxxCountPerOwner" is one HQL_COL_COUNTS column (JSON {"ownerId": count}) placed
 * after the objects' columns; its `object` names the object it belongs to. Children fetched
 * through an ordered collection (Pixels.channels ...) carry an HQL_COL_INDEX column.
 */
#ifndef HQL_H
#define HQL_H
#include "omr_error.h"
#include "hql_model.h"

typedef enum {
    HQL_ITEM_SCALAR = 1,
    HQL_ITEM_QUANTITY,
    HQL_ITEM_OBJECT,
    HQL_ITEM_MAP            /* "new map(a as k1, b as k2)": one column per key (keys[]) */
} hql_item_kind_t;

typedef enum {
    HQL_COL_VALUE = 1,      /* a computed value of a scalar item */
    HQL_COL_ID,             /* object id */
    HQL_COL_DISCRIMINATOR,  /* object's discriminator (see hql_type_for_discriminator) */
    HQL_COL_FIELD,          /* object field `field` (refs: the target id; units: the value) */
    HQL_COL_UNIT,           /* unit symbol of units field `field` (or of a quantity item) */
    HQL_COL_COUNTS,         /* JSON object {"<owner id>": count} of a fetched ...CountPerOwner */
    HQL_COL_PERMISSIONS,    /* JSON permissions object of omero:details for the caller
                               (perm, canEdit, canAnnotate ...; see model/README.md) */
    HQL_COL_INDEX           /* position of a fetched object in an ordered collection (Pixels.channels:
                               channel index; `field` is the collection): sort children by it */
} hql_col_role_t;

/* Flags of hql_translate_ex. */
#define HQL_WITH_PERMISSIONS 0x1    /* add an HQL_COL_PERMISSIONS column to every owned object */

typedef struct {
    hql_col_role_t role;
    const omr_field_t *field;   /* FIELD, UNIT, COUNTS (the collection counted) */
    omr_scalar_t scalar;        /* value type when known (LONG for ids/refs), else NONE */
    int object;                 /* index in objects for object columns, -1 otherwise */
} hql_column_t;

typedef struct {
    hql_item_kind_t kind;
    char *label;                /* item as written (or its "as" alias) */
    int first_col, ncols;
    int object;                 /* OBJECT: index in objects; else -1 */
    int units;                  /* QUANTITY: index of the units type; else -1 */
    char **keys;                /* MAP: ncols keys ("as" aliases, else "0", "1" ...) */
} hql_item_t;

typedef struct {
    const omr_type_t *type;     /* declared type; the actual one follows the discriminator */
    char *path;                 /* "p", "p.datasetLinks", "dil.child" */
    int parent;                 /* object it hangs from, -1 for a selected object */
    const omr_field_t *via;     /* field of the parent leading here (NULL for selected) */
    int first_col, ncols;
    int optional;               /* reached through a left join: all columns may be NULL */
} hql_object_t;

typedef struct {
    char *name;                 /* named parameter (without ':'), or NULL for a literal */
    char *literal;              /* literal value text when name is NULL */
    int is_list;                /* bind a PostgreSQL array literal ('{1,2}') */
} hql_param_t;

typedef struct {
    char *sql;                  /* the statement, parameters $1..$nparams */
    hql_param_t *params;
    int nparams;
    hql_column_t *cols;
    int ncols;
    hql_item_t *items;
    int nitems;
    hql_object_t *objects;
    int nobjects;
    int object_query;           /* every item is an object (IQuery.findAllByQuery style) */
} hql_query_t;

/* Translate one HQL query. NULL with err set (QueryException, "HQL error at position N: ...")
 * when the text is not valid HQL, names an unknown entity/field, or tries what is not allowed. */
hql_query_t *hql_translate (const char *hql, omr_err_t *err);
/* Same with HQL_* flags. */
hql_query_t *hql_translate_ex (const char *hql, unsigned flags, omr_err_t *err);
/* Free a translated query; *self becomes NULL. */
void hql_query_destroy (hql_query_t **self);
/* Index of the named parameter in q->params (first occurrence), or -1. */
int hql_param_index (const hql_query_t *q, const char *name);
/* A PostgreSQL array literal for a list parameter: {"v1","v2",NULL}, every element quoted and
 * escaped (" and \\), NULL entries as NULL. Malloc'd; NULL when out of memory. */
char *hql_pg_array (const char *const *values, int n);
/* The concrete type within `declared`'s hierarchy whose discriminator is `disc`; `declared`
 * itself when disc is NULL or unknown. */
const omr_type_t *hql_type_for_discriminator (const omr_type_t *declared, const char *disc);
#endif
