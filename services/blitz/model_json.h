/* model_json: OMERO model objects as JSON, in the JSON API's form ("@type", "@id", fields under
 * OMERO's names, units as {"@type": "TBD#LengthI", "Unit", "Symbol", "Value"}, "omero:details"
 * with owner, group and the caller's permissions), both ways: encoding the rows of a translated
 * HQL query (join-fetched graphs nested), and decoding JSON objects into a plan of inserts and
 * updates (field names and value types validated, references by "@id") that update.c saves. */
#ifndef BLZ_MODEL_JSON_H
#define BLZ_MODEL_JSON_H
#include "blitz.h"
#include "hql/hql.h"

/* JSON key of a field: "Name", "Description", "UserName", "omero:series", "omero:version" … */
const char *blz_mj_key (const omr_field_t *f, char *buf, size_t len);
/* The field of t that a JSON key names (its JSON key, its model name, or the model name with a
 * capital first letter), or NULL. */
const omr_field_t *blz_mj_field (const omr_type_t *t, const char *key);
/* "@type" of a type: "http://www.openmicroscopy.org/Schemas/OME/2016-06#Project". */
void blz_mj_type_uri (const omr_type_t *t, char *buf, size_t len);
/* The type an "@type" or class string names ("…#Project", "omero.model.ProjectI",
 * "ome.model.containers.Project", "Project"), or NULL. */
const omr_type_t *blz_mj_type (const char *s);
/* OMERO's Java class name of a type ("ome.model.containers.Project"), as EventLog stores it. */
void blz_mj_class_name (const omr_type_t *t, char *buf, size_t len);
/* Milliseconds since the epoch of a PostgreSQL timestamp text (UTC), or -1 if unparsable. */
long long blz_mj_timestamp_ms (const char *text);

/* Flags of blz_mj_encode. */
#define BLZ_MJ_ROWS 0x1         /* one array per row instead of the objects of the first item */
#define BLZ_MJ_NULLS 0x2        /* unset fields as JSON null (else left out) */
#define BLZ_MJ_MODEL_NAMES 0x4  /* keys are the model's field names ("name", "omeName") */
#define BLZ_MJ_TIME_OBJECTS 0x8 /* times as {"@type": "rtime", "value": ms} (else plain ms) */

/* Encode a query result. Without BLZ_MJ_ROWS: the objects of every row's first item,
 * de-duplicated by id, with join-fetched objects nested (collections as arrays, references as
 * objects); with it: one array per row (objects, scalars, {value, unit, symbol} quantities,
 * maps). offset/limit (limit < 0 = all) page on the distinct results. Owners, groups,
 * enumeration values and map fields are filled with one query per table. Returns a JSON array or
 * NULL with err set. */
json_t *blz_mj_encode (blz_db_t *db, const hql_query_t *q, PGresult *res, unsigned flags, long offset, long limit,
                       omr_err_t *err);

/* ---- decoding ------------------------------------------------------------------------------ */

typedef struct {
    const omr_field_t *field;
    char *value;                /* SQL text of a scalar or units value; NULL = SQL NULL */
    char *unit;                 /* units: the unit symbol as stored */
    int node;                   /* reference to a new object of the plan (its index), else -1 */
    int64_t ref;                /* reference to an existing row (>= 0), else -1 (NULL when node < 0) */
    json_t *map;                /* map field: array of [name, value] (owned) */
} blz_mj_set_t;

typedef struct {
    const omr_type_t *type;
    int64_t id;                 /* existing row; 0 for a new object (set when saved) */
    long version;               /* version the client read (-1 = not given) */
    int64_t group;              /* details.group asked for a new object (-1 = the context's) */
    int64_t owner;              /* details.owner given (-1 = none) */
    blz_mj_set_t *sets;
    int nsets;
    int parent;                 /* new member of a collection of node `parent` (else -1) */
    const omr_field_t *via;     /* that collection field */
    int index;                  /* position in the collection */
} blz_mj_node_t;

typedef struct {
    blz_mj_node_t *nodes;       /* in save order: references before referrers, parents first */
    int n;
} blz_mj_plan_t;

/* Decode one object (and everything new it holds) into plan; returns the object's node index,
 * or -1 with ValidationException/ApiUsageException/SecurityViolation in err. A bare
 * {"@type", "@id"} gives an update node without changes. */
int blz_mj_decode (const json_t *obj, blz_mj_plan_t *plan, omr_err_t *err);
/* Free a plan's contents. */
void blz_mj_plan_free (blz_mj_plan_t *plan);
/* Parse a "Class:ID" reference (or "omero.model.ClassI:ID"); 0 on success. */
int blz_mj_parse_ref (const char *s, const omr_type_t **type, int64_t *id);
#endif
