/* model_json: OMERO model objects <-> the JSON API's JSON (see model_json.h). */
#include "omr_model_gen.h"      /* with the data: the unit names (not in hql_model's lookups) */
#include "model_json.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- names ---------------------------------------------------------------------------------- */

/* Keys the JSON API (omero-marshal) uses where they are not the capitalised field name. */
static const char *key_exceptions[][2] = {
    {"omeName", "UserName"},       {"ldap", "omero:ldap"},     {"series", "omero:series"},
    {"sha1", "omero:sha1"},        {"pixelsType", "Type"},     {"version", "omero:version"},
    {"ns", "Namespace"},           {"textValue", "Value"},     {"longValue", "Value"},
    {"doubleValue", "Value"},      {"boolValue", "Value"},     {"timeValue", "Value"},
    {"termValue", "Value"},        {"mapValue", "Value"},
};

const char *
blz_mj_key (const omr_field_t *f, char *buf, size_t len)
{
    const omr_type_t *decl = hql_model_type (f->declared_in);
    if (decl && (decl->flags & OMR_TF_ENUM))
        return f->name;     /* enumerations: {"@id", "@type", "value": "uint16"} */
    for (size_t i = 0; i < sizeof key_exceptions / sizeof key_exceptions[0]; i++)
        if (!strcmp (f->name, key_exceptions[i][0]))
            return key_exceptions[i][1];
    snprintf (buf, len, "%s", f->name);
    buf[0] = (char) toupper ((unsigned char) buf[0]);
    return buf;
}

const omr_field_t *
blz_mj_field (const omr_type_t *t, const char *key)
{
    if (!t || !key || !*key)
        return NULL;
    const omr_field_t *f = hql_model_field (t, key);
    if (f && !(f->flags & OMR_FF_DETAILS))
        return f;
    const omr_field_t *loose = NULL;
    for (int i = 0; i < t->nfields; i++) {
        f = hql_model_field_at (t->first_field + i);
        if (f->flags & OMR_FF_DETAILS)
            continue;
        char buf[128];
        if (!strcmp (blz_mj_key (f, buf, sizeof buf), key))
            return f;
        if (!strcasecmp (f->name, key))
            loose = f;
    }
    return loose;
}

void
blz_mj_type_uri (const omr_type_t *t, char *buf, size_t len)
{
    /* the OME schema (and so the JSON API) spells Roi "ROI" */
    const char *name = !t ? "Object" : !strcmp (t->name, "Roi") ? "ROI" : t->name;
    snprintf (buf, len, "%s#%s", BLZ_SCHEMA_URL, name);
}

const omr_type_t *
blz_mj_type (const char *s)
{
    if (!s || !*s)
        return NULL;
    const char *hash = strrchr (s, '#');
    if (hash)
        s = hash + 1;
    int i = hql_model_type_index (strcmp (s, "ROI") ? s : "Roi");
    return i >= 0 ? hql_model_type (i) : NULL;
}

void
blz_mj_class_name (const omr_type_t *t, char *buf, size_t len)
{
    static const char *meta[] = {"Experimenter", "ExperimenterGroup", "GroupExperimenterMap", "Event", "EventLog",
                                 "Session", "Share", "ShareMember", "Node", "ExternalInfo", "DBPatch", "Namespace",
                                 NULL};
    static const char *containers[] = {"Project", "Dataset", "ProjectDatasetLink", "DatasetImageLink", NULL};
    static const char *core[] = {"Image", "Pixels", "Channel", "LogicalChannel", "PlaneInfo", "OriginalFile",
                                 "PixelsOriginalFileMap", NULL};
    static const char *screen[] = {"Screen", "Plate", "Well", "WellSample", "PlateAcquisition", "ScreenPlateLink",
                                   "Reagent", "WellReagentLink", NULL};
    static const char *roi[] = {"Roi", "Shape", "Rectangle", "Ellipse", "Point", "Line", "Polyline", "Polygon",
                                "Label", "Mask", "AffineTransform", NULL};
    static const char *display[] = {"RenderingDef", "ChannelBinding", "QuantumDef", "CodomainMapContext",
                                    "ReverseIntensityContext", "ContrastStretchingContext", "PlaneSlicingContext",
                                    "Thumbnail", "ProjectionDef", NULL};
    static const char *fs[] = {"Fileset", "FilesetEntry", "FilesetJobLink", NULL};
    struct { const char *pkg; const char **names; } pkgs[] = {
        {"meta", meta}, {"containers", containers}, {"core", core}, {"screen", screen},
        {"roi", roi}, {"display", display}, {"fs", fs},
    };
    const char *name = t ? t->name : "Object", *pkg = "acquisition";
    if (t && (t->flags & OMR_TF_ENUM))
        pkg = "enums";
    else if (strstr (name, "Annotation"))
        pkg = "annotations";
    else if (!strncmp (name, "Folder", 6))
        pkg = "containers";
    else if (!strcmp (name, "StatsInfo"))
        pkg = "stats";
    else if (strstr (name, "Job"))
        pkg = "jobs";
    else
        for (size_t k = 0; k < sizeof pkgs / sizeof pkgs[0]; k++)
            for (const char **n = pkgs[k].names; *n; n++)
                if (!strcmp (*n, name))
                    pkg = pkgs[k].pkg;
    snprintf (buf, len, "ome.model.%s.%s", pkg, name);
}

long long
blz_mj_timestamp_ms (const char *s)
{
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, n = 0;
    double sec = 0;
    if (!s || sscanf (s, "%d-%d-%d%n", &y, &mo, &d, &n) < 3)
        return -1;
    const char *p = s + n;
    if (*p == ' ' || *p == 'T') {
        int m = 0;
        if (sscanf (p + 1, "%d:%d:%lf%n", &h, &mi, &sec, &m) < 3)
            return -1;
        p += 1 + m;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    long long ms = (long long) timegm (&tm) * 1000 + llround (sec * 1000);
    if (*p == '+' || *p == '-') {      /* a time zone offset: +HH[:MM] */
        int oh = 0, om = 0;
        sscanf (p + 1, "%d:%d", &oh, &om);
        long long off = (oh * 60LL + om) * 60000;
        ms -= *p == '+' ? off : -off;
    }
    return ms;
}

/* ---- encoding ------------------------------------------------------------------------------- */

/* The key of a field in encoded objects. */
#define FKEY(e, f, buf) (((e)->flags & BLZ_MJ_MODEL_NAMES) ? (f)->name : blz_mj_key ((f), (buf), sizeof (buf)))

/* An object to complete once the whole result is read (owner, group, enumeration value). */
typedef struct {
    json_t *obj;
    int type;
    int64_t id;
} fill_t;

typedef struct {
    blz_db_t *db;
    const hql_query_t *q;
    PGresult *res;
    json_t *seen;               /* "object:id" -> json object (borrowed from the result tree) */
    json_t *links;              /* "parent obj:id:child obj:id" -> true */
    fill_t *fills;
    int nfills, capfills;
    json_t *sorts;              /* collections holding ordered children to sort */
    struct mapfill {
        json_t *obj;
        const omr_field_t *f;
        int64_t id;
    } *maps;                    /* map fields to read from their side tables */
    int nmaps, capmaps;
    unsigned flags;             /* BLZ_MJ_* */
    json_t *shared;             /* "type:id" of users, groups, enumeration values, and permission
                                   texts -> one JSON object shared by every row that names it */
} enc_t;

/* Remember that obj's map field f is to be read. */
static void
add_map (enc_t *e, json_t *obj, const omr_field_t *f, int64_t id)
{
    if (e->nmaps == e->capmaps) {
        e->capmaps = e->capmaps ? 2 * e->capmaps : 16;
        e->maps = realloc (e->maps, e->capmaps * sizeof *e->maps);
    }
    e->maps[e->nmaps++] = (struct mapfill) {obj, f, id};
}

static void
add_fill (enc_t *e, json_t *obj, int type, int64_t id)
{
    if (e->nfills == e->capfills) {
        e->capfills = e->capfills ? 2 * e->capfills : 64;
        e->fills = realloc (e->fills, e->capfills * sizeof *e->fills);
    }
    e->fills[e->nfills++] = (fill_t) {obj, type, id};
}

/* An unloaded reference {"@id", "@type"} (enumerations and experimenters/groups get filled). */
static json_t *
ref_json (enc_t *e, int type, int64_t id)
{
    char uri[160];
    const omr_type_t *t = hql_model_type (type);
    blz_mj_type_uri (t, uri, sizeof uri);
    bool fill = t && ((t->flags & OMR_TF_ENUM) || type == OMR_TYPE_Experimenter || type == OMR_TYPE_ExperimenterGroup);
    char key[64];
    if (fill) {
        snprintf (key, sizeof key, "%d:%lld", type, (long long) id);
        json_t *o = json_object_get (e->shared, key);
        if (o)
            return json_incref (o);
    }
    json_t *o = json_pack ("{s:I,s:s}", "@id", (json_int_t) id, "@type", uri);
    if (fill) {
        add_fill (e, o, type, id);
        json_object_set (e->shared, key, o);
    }
    return o;
}

/* A value of a column as JSON by its declared scalar type, or by its PostgreSQL type. */
static json_t *
value_json (PGresult *res, int row, int col, omr_scalar_t scalar, unsigned flags)
{
    if (PQgetisnull (res, row, col))
        return json_null ();
    const char *v = PQgetvalue (res, row, col);
    if (scalar == OMR_SCALAR_NONE)
        switch (PQftype (res, col)) {
        case 16: scalar = OMR_SCALAR_BOOL; break;
        case 20: case 21: case 23: case 26: scalar = OMR_SCALAR_LONG; break;
        case 700: case 701: scalar = OMR_SCALAR_DOUBLE; break;
        case 1700: return strchr (v, '.') ? json_real (atof (v)) : json_integer (atoll (v));
        case 1114: case 1184: scalar = OMR_SCALAR_TIMESTAMP; break;
        case 114: case 3802: {
            json_t *j = json_loads (v, JSON_DECODE_ANY, NULL);
            return j ? j : json_string (v);
        }
        default: scalar = OMR_SCALAR_TEXT;
        }
    switch (scalar) {
    case OMR_SCALAR_BOOL: return json_boolean (v[0] == 't');
    case OMR_SCALAR_INT: case OMR_SCALAR_LONG: return json_integer (atoll (v));
    case OMR_SCALAR_DOUBLE: return json_real (atof (v));
    case OMR_SCALAR_TIMESTAMP: {
        long long ms = blz_mj_timestamp_ms (v);
        if (ms == -1)
            return json_string (v);
        if (flags & BLZ_MJ_TIME_OBJECTS)
            return json_pack ("{s:s,s:I}", "@type", "rtime", "value", (json_int_t) ms);
        return json_integer (ms);
    }
    default: return json_string (v);
    }
}

/* Code name of a unit symbol in units type u ("µm" -> "MICROMETER"), or NULL. */
static const char *
unit_name (int u, const char *symbol)
{
    if (u < 0 || u >= OMR_MODEL_NUNITS || !symbol)
        return NULL;
    const omr_units_t *ut = &omr_model_units[u];
    for (int i = 0; i < ut->n; i++)
        if (!strcmp (omr_model_unit_values[ut->first + i].symbol, symbol))
            return omr_model_unit_values[ut->first + i].name;
    return NULL;
}

/* Symbol of a unit given by code name or symbol, or NULL. */
static const char *
unit_symbol (int u, const char *name)
{
    if (u < 0 || u >= OMR_MODEL_NUNITS || !name)
        return NULL;
    const omr_units_t *ut = &omr_model_units[u];
    for (int i = 0; i < ut->n; i++)
        if (!strcasecmp (omr_model_unit_values[ut->first + i].name, name)
            || !strcmp (omr_model_unit_values[ut->first + i].symbol, name))
            return omr_model_unit_values[ut->first + i].symbol;
    return NULL;
}

/* The quantity object of a units field, created on first use. */
static json_t *
quantity (json_t *obj, const char *key, int u)
{
    json_t *q = json_object_get (obj, key);
    if (!q) {
        char t[64];
        const char *name = omr_model_units[u].name;
        snprintf (t, sizeof t, "TBD#%sI", !strncmp (name, "Units", 5) ? name + 5 : name);
        q = json_pack ("{s:s}", "@type", t);
        json_object_set_new (obj, key, q);
    }
    return q;
}

static json_t *
details_of (json_t *obj)
{
    json_t *d = json_object_get (obj, "omero:details");
    if (!d) {
        d = json_pack ("{s:s}", "@type", "TBD#Details");
        json_object_set_new (obj, "omero:details", d);
    }
    return d;
}

/* Build (or find) object o of the query from a row; NULL when its id is NULL. */
static json_t *
object_at (enc_t *e, int row, int o, bool *fresh)
{
    const hql_query_t *q = e->q;
    const hql_object_t *ob = &q->objects[o];
    int64_t id = -1;
    const char *disc = NULL;
    for (int c = ob->first_col; c < ob->first_col + ob->ncols; c++) {
        if (q->cols[c].role == HQL_COL_ID && !PQgetisnull (e->res, row, c))
            id = atoll (PQgetvalue (e->res, row, c));
        if (q->cols[c].role == HQL_COL_DISCRIMINATOR && !PQgetisnull (e->res, row, c))
            disc = PQgetvalue (e->res, row, c);
    }
    *fresh = false;
    if (id < 0)
        return NULL;
    char key[64];
    snprintf (key, sizeof key, "%d:%lld", o, (long long) id);
    json_t *obj = json_object_get (e->seen, key);
    if (obj)
        return obj;
    const omr_type_t *t = hql_type_for_discriminator (ob->type, disc);
    char uri[160], kb[128];
    blz_mj_type_uri (t, uri, sizeof uri);
    obj = json_pack ("{s:I,s:s}", "@id", (json_int_t) id, "@type", uri);
    /* an owner or group fetched into another object's details is shown as the JSON API does:
     * its own fields only (no details, version or config of its own) */
    bool in_details = ob->via && (ob->via->flags & OMR_FF_DETAILS);
    for (int c = ob->first_col; c < ob->first_col + ob->ncols; c++) {
        const hql_column_t *col = &q->cols[c];
        const omr_field_t *f = col->field;
        if (in_details && (col->role == HQL_COL_PERMISSIONS || (f && ((f->flags & OMR_FF_DETAILS)
                                                                     || !strcmp (f->name, "version")))))
            continue;
        if (col->role == HQL_COL_PERMISSIONS) {
            if (PQgetisnull (e->res, row, c))
                continue;
            /* rows share a handful of distinct permission objects: parse each once */
            const char *text = PQgetvalue (e->res, row, c);
            json_t *p = json_object_get (e->shared, text);
            if (!p) {
                p = json_loads (text, 0, NULL);
                if (!p)
                    continue;
                json_object_set_new (p, "@type", json_string ("TBD#Permissions"));
                json_object_set_new (e->shared, text, p);
            }
            json_object_set (details_of (obj), "permissions", p);
            continue;
        }
        if (col->role == HQL_COL_INDEX) {
            if (!PQgetisnull (e->res, row, c))
                json_object_set_new (obj, "\x01index", json_integer (atoll (PQgetvalue (e->res, row, c))));
            continue;
        }
        if (!f)
            continue;
        if (PQgetisnull (e->res, row, c)) {
            /* unset fields of the object's own type (a polymorphic query also reads its siblings') */
            if ((e->flags & BLZ_MJ_NULLS) && col->role == HQL_COL_FIELD && !(f->flags & OMR_FF_DETAILS)
                && hql_model_field (t, f->name))
                json_object_set_new (obj, FKEY (e, f, kb), json_null ());
            continue;
        }
        if (col->role == HQL_COL_UNIT) {
            const char *sym = PQgetvalue (e->res, row, c);
            json_t *qv = quantity (obj, FKEY (e, f, kb), f->units);
            json_object_set_new (qv, "Symbol", json_string (sym));
            const char *un = unit_name (f->units, sym);
            json_object_set_new (qv, "Unit", json_string (un ? un : sym));
            continue;
        }
        if (col->role != HQL_COL_FIELD)
            continue;
        if (f->flags & OMR_FF_PERMISSIONS) {
            /* raw bits; owned objects carry the caller's view in the permissions column, global
             * ones (users, groups: a group's level) get the bits' meaning */
            if (!(hql_model_type (t->root)->flags & OMR_TF_OWNED))
                json_object_set_new (details_of (obj), "permissions",
                                     blz_perms_json (atoll (PQgetvalue (e->res, row, c)), false));
            continue;
        }
        if (f->flags & OMR_FF_DETAILS) {
            /* omero:details holds owner and group (the JSON API's form); events and external
             * info only when a query fetches them */
            const char *dn = f->name + 8;    /* after "details." */
            if (!strcmp (dn, "owner") || !strcmp (dn, "group"))
                json_object_set_new (details_of (obj), dn, ref_json (e, f->target, atoll (PQgetvalue (e->res, row, c))));
            continue;
        }
        const char *key_ = FKEY (e, f, kb);
        if (f->kind == OMR_FIELD_UNITS) {
            json_t *qv = quantity (obj, key_, f->units);
            json_object_set_new (qv, "Value", json_real (atof (PQgetvalue (e->res, row, c))));
        } else if (f->kind == OMR_FIELD_REF)
            json_object_set_new (obj, key_, ref_json (e, f->target, atoll (PQgetvalue (e->res, row, c))));
        else
            json_object_set_new (obj, key_, value_json (e->res, row, c, f->scalar, e->flags));
    }
    for (int i = 0; i < t->nfields && !in_details; i++) {
        const omr_field_t *mf = hql_model_field_at (t->first_field + i);
        if (mf->kind == OMR_FIELD_MAP && mf->side_table)
            add_map (e, obj, mf, id);
    }
    json_object_set_new (e->seen, key, obj);    /* the tree takes another reference below */
    *fresh = true;
    return obj;
}

/* Hang fetched object o (with parent) of a row under its parent. */
static void
attach (enc_t *e, int row, int o, json_t *child)
{
    const hql_object_t *ob = &e->q->objects[o];
    bool fresh;
    json_t *parent = object_at (e, row, ob->parent, &fresh);
    if (!parent || !ob->via)
        return;
    char kb[128];
    const omr_field_t *via = ob->via;
    if (via->flags & OMR_FF_DETAILS) {
        json_object_set (details_of (parent), via->name + 8, child);
        return;
    }
    const char *key = FKEY (e, via, kb);
    if (via->kind == OMR_FIELD_COLLECTION) {
        json_t *arr = json_object_get (parent, key);
        if (!json_is_array (arr)) {
            arr = json_array ();
            json_object_set_new (parent, key, arr);
            if (via->order_column)
                json_array_append (e->sorts, arr);
        }
        if (!child)
            return;     /* a fetched, empty collection is loaded and empty */
        char lk[128];
        snprintf (lk, sizeof lk, "%d:%s:%d:%s", ob->parent, json_string_value (json_object_get (parent, "@type")), o,
                  json_string_value (json_object_get (child, "@type")));
        char full[200];
        snprintf (full, sizeof full, "%s:%lld:%lld", lk, (long long) json_integer_value (json_object_get (parent, "@id")),
                  (long long) json_integer_value (json_object_get (child, "@id")));
        if (json_object_get (e->links, full))
            return;
        json_object_set_new (e->links, full, json_true ());
        json_array_append (arr, child);
    } else if (child)
        json_object_set (parent, key, child);
}

static int
cmp_index (const void *a, const void *b)
{
    json_int_t x = json_integer_value (json_object_get (*(json_t *const *) a, "\x01index"));
    json_int_t y = json_integer_value (json_object_get (*(json_t *const *) b, "\x01index"));
    return x < y ? -1 : x > y;
}

/* Sort ordered collections by their list index, then drop the index keys. */
static void
sort_collections (enc_t *e)
{
    size_t i;
    json_t *arr;
    json_array_foreach (e->sorts, i, arr) {
        size_t n = json_array_size (arr);
        json_t **items = malloc ((n ? n : 1) * sizeof *items);
        for (size_t k = 0; k < n; k++)
            items[k] = json_incref (json_array_get (arr, k));
        qsort (items, n, sizeof *items, cmp_index);
        json_array_clear (arr);
        for (size_t k = 0; k < n; k++)
            json_array_append_new (arr, items[k]);
        free (items);
    }
    const char *k;
    json_t *v;
    json_object_foreach (e->seen, k, v)
        json_object_del (v, "\x01index");
}

/* Fill experimenters, groups and enumeration values: one query per table. */
static int
fill_all (enc_t *e, omr_err_t *err)
{
    bool *done = calloc (e->nfills + 1, sizeof *done);
    int rc = 0;
    for (int i = 0; i < e->nfills && rc == 0; i++) {
        if (done[i])
            continue;
        int type = e->fills[i].type;
        const omr_type_t *t = hql_model_type (type);
        size_t cap = 64, off = 0;
        char *ids = malloc (cap);
        off += snprintf (ids, cap, "{");
        for (int k = i; k < e->nfills; k++) {
            if (e->fills[k].type != type)
                continue;
            if (off + 32 > cap) {
                cap *= 2;
                ids = realloc (ids, cap);
            }
            off += snprintf (ids + off, cap - off, "%s%lld", off > 1 ? "," : "", (long long) e->fills[k].id);
        }
        snprintf (ids + off, cap - off, "}");
        char sql[512];
        if (type == OMR_TYPE_Experimenter)
            snprintf (sql, sizeof sql, "SELECT id, omename, firstname, middlename, lastname, email, institution "
                                       "FROM experimenter WHERE id = ANY ($1::int8[])");
        else if (type == OMR_TYPE_ExperimenterGroup)
            snprintf (sql, sizeof sql, "SELECT id, name, description FROM experimentergroup WHERE id = ANY ($1::int8[])");
        else
            snprintf (sql, sizeof sql, "SELECT id, value FROM %s WHERE id = ANY ($1::int8[])", t->table);
        const char *params[] = {ids};
        PGresult *res = blz_db_query (e->db, err, sql, 1, params);
        free (ids);
        if (!res) {
            rc = -1;
            break;
        }
        static const char *exp_keys[] = {NULL, "UserName", "FirstName", "MiddleName", "LastName", "Email", "Institution"};
        static const char *grp_keys[] = {NULL, "Name", "Description"};
        static const char *enum_keys[] = {NULL, "value"};
        const char **keys = type == OMR_TYPE_Experimenter ? exp_keys
                            : type == OMR_TYPE_ExperimenterGroup ? grp_keys : enum_keys;
        for (int k = i; k < e->nfills; k++) {
            if (e->fills[k].type != type)
                continue;
            done[k] = true;
            for (int r = 0; r < PQntuples (res); r++) {
                if (atoll (PQgetvalue (res, r, 0)) != e->fills[k].id)
                    continue;
                for (int c = 1; c < PQnfields (res); c++)
                    if (!PQgetisnull (res, r, c))
                        json_object_set_new (e->fills[k].obj, keys[c], json_string (PQgetvalue (res, r, c)));
                break;
            }
        }
        PQclear (res);
    }
    free (done);
    return rc;
}

/* Read the map fields of the objects: one query per side table, entries in list order. */
static int
fill_maps (enc_t *e, omr_err_t *err)
{
    bool *done = calloc (e->nmaps + 1, sizeof *done);
    int rc = 0;
    for (int i = 0; i < e->nmaps && rc == 0; i++) {
        if (done[i])
            continue;
        const omr_field_t *f = e->maps[i].f;
        size_t cap = 64, off = 0;
        char *ids = malloc (cap);
        off += snprintf (ids, cap, "{");
        for (int k = i; k < e->nmaps; k++) {
            if (strcmp (e->maps[k].f->side_table, f->side_table))
                continue;
            if (off + 32 > cap) {
                cap *= 2;
                ids = realloc (ids, cap);
            }
            off += snprintf (ids + off, cap - off, "%s%lld", off > 1 ? "," : "", (long long) e->maps[k].id);
        }
        snprintf (ids + off, cap - off, "}");
        char sql[512], kb[128];
        snprintf (sql, sizeof sql, "SELECT %s, name, value FROM %s WHERE %s = ANY ($1::int8[]) ORDER BY 1, \"index\"",
                  f->inverse_column, f->side_table, f->inverse_column);
        const char *params[] = {ids};
        PGresult *res = blz_db_query (e->db, err, sql, 1, params);
        free (ids);
        if (!res) {
            rc = -1;
            break;
        }
        for (int k = i; k < e->nmaps; k++) {
            if (strcmp (e->maps[k].f->side_table, f->side_table))
                continue;
            done[k] = true;
            json_t *arr = json_array ();
            for (int r = 0; r < PQntuples (res); r++)
                if (atoll (PQgetvalue (res, r, 0)) == e->maps[k].id)
                    json_array_append_new (arr, json_pack ("[s,s]", PQgetvalue (res, r, 1), PQgetvalue (res, r, 2)));
            json_object_set_new (e->maps[k].obj, FKEY (e, e->maps[k].f, kb), arr);
        }
        PQclear (res);
    }
    free (done);
    return rc;
}

/* The JSON of item i of a row (rows mode). */
static json_t *
item_json (enc_t *e, int row, int i)
{
    const hql_query_t *q = e->q;
    const hql_item_t *it = &q->items[i];
    bool fresh;
    switch (it->kind) {
    case HQL_ITEM_OBJECT: {
        json_t *o = object_at (e, row, it->object, &fresh);
        return o ? json_incref (o) : json_null ();
    }
    case HQL_ITEM_QUANTITY: {
        if (PQgetisnull (e->res, row, it->first_col))
            return json_null ();
        const char *sym = PQgetisnull (e->res, row, it->first_col + 1) ? NULL : PQgetvalue (e->res, row, it->first_col + 1);
        const char *un = unit_name (it->units, sym);
        return json_pack ("{s:f,s:s?,s:s?}", "value", atof (PQgetvalue (e->res, row, it->first_col)), "unit",
                          un ? un : sym, "symbol", sym);
    }
    case HQL_ITEM_MAP: {
        json_t *m = json_object ();
        for (int k = 0; k < it->ncols; k++)
            json_object_set_new (m, it->keys[k], value_json (e->res, row, it->first_col + k, q->cols[it->first_col + k].scalar, e->flags));
        return m;
    }
    default:
        return value_json (e->res, row, it->first_col, q->cols[it->first_col].scalar, e->flags);
    }
}

json_t *
blz_mj_encode (blz_db_t *db, const hql_query_t *q, PGresult *res, unsigned flags, long offset, long limit,
               omr_err_t *err)
{
    enc_t e = {.db = db, .q = q, .res = res, .seen = json_object (), .links = json_object (), .sorts = json_array (),
               .shared = json_object (), .flags = flags};
    bool rows = (flags & BLZ_MJ_ROWS) != 0;
    json_t *out = json_array ();
    json_t *roots = json_object ();
    long distinct = 0;
    int nrows = PQntuples (res);
    for (int r = 0; r < nrows; r++) {
        bool fresh;
        /* objects of the row, parents first (fetched objects follow the ones they hang from) */
        for (int o = 0; o < q->nobjects; o++) {
            json_t *obj = object_at (&e, r, o, &fresh);
            if (q->objects[o].parent >= 0)
                attach (&e, r, o, obj);
        }
        for (int c = 0; c < q->ncols; c++)
            if (q->cols[c].role == HQL_COL_COUNTS && q->cols[c].object >= 0 && !PQgetisnull (res, r, c)) {
                json_t *obj = object_at (&e, r, q->cols[c].object, &fresh);
                char key[160];
                snprintf (key, sizeof key, "omero:%sCountPerOwner", q->cols[c].field ? q->cols[c].field->name : "");
                json_t *v = json_loads (PQgetvalue (res, r, c), 0, NULL);
                if (obj && v)
                    json_object_set_new (obj, key, v);
                else
                    json_decref (v);
            }
        if (rows) {
            if (limit >= 0 && distinct >= offset + limit)
                continue;
            if (distinct++ < offset)
                continue;
            json_t *a = json_array ();
            for (int i = 0; i < q->nitems; i++)
                json_array_append_new (a, item_json (&e, r, i));
            json_array_append_new (out, a);
        } else if (q->nitems > 0) {
            json_t *root = item_json (&e, r, 0);
            if (json_is_object (root)) {
                char key[48];
                snprintf (key, sizeof key, "%lld", (long long) json_integer_value (json_object_get (root, "@id")));
                if (!json_object_get (roots, key)) {
                    json_object_set_new (roots, key, json_true ());
                    if (distinct >= offset && (limit < 0 || distinct < offset + limit))
                        json_array_append (out, root);
                    distinct++;
                }
            } else if (!json_is_null (root)) {
                if (distinct >= offset && (limit < 0 || distinct < offset + limit))
                    json_array_append (out, root);
                distinct++;
            }
            json_decref (root);
        }
    }
    sort_collections (&e);
    int rc = fill_all (&e, err);
    if (rc == 0)
        rc = fill_maps (&e, err);
    json_decref (e.seen);
    json_decref (e.links);
    json_decref (e.sorts);
    json_decref (e.shared);
    json_decref (roots);
    free (e.fills);
    free (e.maps);
    if (rc < 0) {
        json_decref (out);
        return NULL;
    }
    return out;
}

/* ---- decoding ------------------------------------------------------------------------------- */

int
blz_mj_parse_ref (const char *s, const omr_type_t **type, int64_t *id)
{
    const char *colon = s ? strrchr (s, ':') : NULL;
    if (!colon || colon == s || !colon[1])
        return -1;
    char name[128];
    size_t n = (size_t) (colon - s);
    if (n >= sizeof name)
        return -1;
    memcpy (name, s, n);
    name[n] = 0;
    char *end;
    long long v = strtoll (colon + 1, &end, 10);
    if (*end || v < 0)
        return -1;
    const omr_type_t *t = blz_mj_type (name);
    if (!t)
        return -1;
    *type = t;
    *id = v;
    return 0;
}

static bool
is_subtype (const omr_type_t *t, const omr_type_t *of)
{
    for (int i = hql_model_type_index_of (t); i >= 0;) {
        if (i == hql_model_type_index_of (of))
            return true;
        i = hql_model_type (i)->parent;
    }
    return false;
}

static int
append_node (blz_mj_plan_t *plan, const blz_mj_node_t *node)
{
    plan->nodes = realloc (plan->nodes, (plan->n + 1) * sizeof *plan->nodes);
    plan->nodes[plan->n] = *node;
    return plan->n++;
}

static void
free_sets (blz_mj_set_t *sets, int n)
{
    for (int i = 0; i < n; i++) {
        free (sets[i].value);
        free (sets[i].unit);
        json_decref (sets[i].map);
    }
    free (sets);
}

void
blz_mj_plan_free (blz_mj_plan_t *plan)
{
    for (int i = 0; i < plan->n; i++)
        free_sets (plan->nodes[i].sets, plan->nodes[i].nsets);
    free (plan->nodes);
    plan->nodes = NULL;
    plan->n = 0;
}

/* An id from JSON: integer, numeric string, or object with "@id". -1 when none. */
static int64_t
json_id (const json_t *v)
{
    if (json_is_object (v))
        v = json_object_get (v, "@id") ? json_object_get (v, "@id") : json_object_get (v, "id");
    if (json_is_integer (v))
        return json_integer_value (v);
    if (json_is_string (v)) {
        char *end;
        long long n = strtoll (json_string_value (v), &end, 10);
        if (*json_string_value (v) && !*end)
            return n;
    }
    return -1;
}

/* Whether a nested object only names an existing row (no changes). */
static bool
only_reference (const json_t *o)
{
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *) o, k, v)
        if (strcmp (k, "@id") && strcmp (k, "@type") && strcmp (k, "omero:details") && strcmp (k, "@context")
            && strncmp (k, "url:", 4) && strcmp (k, "omero:version") && strcmp (k, "version"))
            return false;
    return true;
}

/* Text of a JSON scalar for a text field. */
static char *
text_of (const json_t *v)
{
    char buf[64];
    if (json_is_string (v))
        return strdup (json_string_value (v));
    if (json_is_integer (v))
        snprintf (buf, sizeof buf, "%lld", (long long) json_integer_value (v));
    else if (json_is_real (v))
        snprintf (buf, sizeof buf, "%.17g", json_real_value (v));
    else if (json_is_boolean (v))
        snprintf (buf, sizeof buf, "%s", json_is_true (v) ? "true" : "false");
    else
        return NULL;
    return strdup (buf);
}

static int
bad (omr_err_t *err, const omr_type_t *t, const omr_field_t *f, const char *what)
{
    return omr_err_set (err, OMR_E_VALIDATION, 400, "%s.%s %s", t->name, f->name, what);
}

/* Decode a scalar value into set->value. */
static int
scalar_value (const omr_type_t *t, const omr_field_t *f, const json_t *v, blz_mj_set_t *set, omr_err_t *err)
{
    char buf[64], *end;
    switch (f->scalar) {
    case OMR_SCALAR_INT:
    case OMR_SCALAR_LONG: {
        long long n = 0;
        if (json_is_integer (v))
            n = json_integer_value (v);
        else if (json_is_string (v) && *json_string_value (v)
                 && (n = strtoll (json_string_value (v), &end, 10), !*end))
            ;
        else if (json_is_real (v) && json_real_value (v) == floor (json_real_value (v)))
            n = (long long) json_real_value (v);
        else
            return bad (err, t, f, "must be an integer");
        if (f->scalar == OMR_SCALAR_INT && (n < -2147483648LL || n > 2147483647LL))
            return bad (err, t, f, "is out of range for a 32-bit integer");
        snprintf (buf, sizeof buf, "%lld", n);
        set->value = strdup (buf);
        return 0;
    }
    case OMR_SCALAR_DOUBLE: {
        double d = 0;
        if (json_is_number (v))
            d = json_number_value (v);
        else if (json_is_string (v) && *json_string_value (v) && (d = strtod (json_string_value (v), &end), !*end))
            ;
        else
            return bad (err, t, f, "must be a number");
        if (!isfinite (d))
            return bad (err, t, f, "must be a finite number");
        snprintf (buf, sizeof buf, "%.17g", d);
        set->value = strdup (buf);
        return 0;
    }
    case OMR_SCALAR_BOOL: {
        const char *s = json_is_string (v) ? json_string_value (v) : NULL;
        if (json_is_boolean (v))
            set->value = strdup (json_is_true (v) ? "true" : "false");
        else if (s && (!strcasecmp (s, "true") || !strcmp (s, "1") || !strcasecmp (s, "t")))
            set->value = strdup ("true");
        else if (s && (!strcasecmp (s, "false") || !strcmp (s, "0") || !strcasecmp (s, "f")))
            set->value = strdup ("false");
        else
            return bad (err, t, f, "must be true or false");
        return 0;
    }
    case OMR_SCALAR_TIMESTAMP: {
        /* milliseconds since the epoch (the JSON API's form) or a date-time text */
        long long ms = 0;
        if (json_is_integer (v) || (json_is_string (v) && *json_string_value (v)
                                    && (ms = strtoll (json_string_value (v), &end, 10), !*end && ms > 100000))) {
            ms = json_is_integer (v) ? json_integer_value (v) : ms;
            time_t s = (time_t) (ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
            struct tm tm;
            gmtime_r (&s, &tm);
            snprintf (buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03lld", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms - (long long) s * 1000);
            set->value = strdup (buf);
            return 0;
        }
        if (json_is_string (v) && blz_mj_timestamp_ms (json_string_value (v)) != -1) {
            set->value = strdup (json_string_value (v));
            return 0;
        }
        return bad (err, t, f, "must be a time (milliseconds since 1970 or YYYY-MM-DD HH:MM:SS)");
    }
    default:
        if (!json_is_string (v) && !json_is_number (v) && !json_is_boolean (v))
            return bad (err, t, f, "must be a string");
        set->value = text_of (v);
        return 0;
    }
}

/* Decode a quantity: {"Value", "Unit"|"Symbol"} or "1.5 MICROMETER" / "1.5 µm". */
static int
units_value (const omr_type_t *t, const omr_field_t *f, const json_t *v, blz_mj_set_t *set, omr_err_t *err)
{
    double d = 0;
    const char *unit = NULL;
    char ubuf[64] = "";
    if (json_is_object (v)) {
        json_t *val = json_object_get (v, "Value") ? json_object_get (v, "Value") : json_object_get (v, "value");
        json_t *u = json_object_get (v, "Unit") ? json_object_get (v, "Unit") : json_object_get (v, "unit");
        if (!u)
            u = json_object_get (v, "Symbol") ? json_object_get (v, "Symbol") : json_object_get (v, "symbol");
        if (!json_is_number (val))
            return bad (err, t, f, "needs a numeric \"Value\"");
        d = json_number_value (val);
        unit = json_string_value (u);
    } else if (json_is_string (v)) {
        int n = 0;
        if (sscanf (json_string_value (v), "%lf %n", &d, &n) < 1)
            return bad (err, t, f, "must be a number and a unit (\"1.5 MICROMETER\")");
        snprintf (ubuf, sizeof ubuf, "%s", json_string_value (v) + n);
        unit = ubuf;
    } else
        return bad (err, t, f, "must be {\"Value\": number, \"Unit\": name}");
    if (!isfinite (d))
        return bad (err, t, f, "must be a finite number");
    if (!unit || !*unit)
        return bad (err, t, f, "needs a unit (\"Unit\": \"MICROMETER\" or \"Symbol\")");
    const char *sym = unit_symbol (f->units, unit);
    if (!sym)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s.%s: unknown unit '%s' for %s", t->name, f->name, unit,
                            omr_model_units[f->units].name);
    char buf[64];
    snprintf (buf, sizeof buf, "%.17g", d);
    set->value = strdup (buf);
    set->unit = strdup (sym);
    return 0;
}

/* A map: [[k, v], ...], [{"name", "value"}, ...] or {k: v, ...} -> [[k, v], ...]. */
static int
map_value (const omr_type_t *t, const omr_field_t *f, const json_t *v, blz_mj_set_t *set, omr_err_t *err)
{
    json_t *out = json_array ();
    size_t i;
    json_t *e;
    const char *k;
    if (json_is_array (v)) {
        json_array_foreach (v, i, e) {
            json_t *kk = NULL, *vv = NULL;
            if (json_is_array (e) && json_array_size (e) == 2) {
                kk = json_array_get (e, 0);
                vv = json_array_get (e, 1);
            } else if (json_is_object (e)) {
                kk = json_object_get (e, "name");
                vv = json_object_get (e, "value");
            }
            char *vs = vv ? text_of (vv) : NULL;
            if (!json_is_string (kk) || !vs) {
                free (vs);
                json_decref (out);
                return bad (err, t, f, "must be a list of [name, value] pairs");
            }
            json_array_append_new (out, json_pack ("[s,s]", json_string_value (kk), vs));
            free (vs);
        }
    } else if (json_is_object (v)) {
        json_object_foreach ((json_t *) v, k, e) {
            char *vs = text_of (e);
            if (!vs) {
                json_decref (out);
                return bad (err, t, f, "values must be strings");
            }
            json_array_append_new (out, json_pack ("[s,s]", k, vs));
            free (vs);
        }
    } else if (!json_is_null (v)) {
        json_decref (out);
        return bad (err, t, f, "must be a list of [name, value] pairs");
    }
    set->map = out;
    return 0;
}

static int decode (const json_t *o, const omr_type_t *hint, blz_mj_plan_t *plan, int parent,
                   const omr_field_t *via, int index, int depth, omr_err_t *err);

/* Decode a reference value (id, "Class:ID", object). */
static int
ref_value (const omr_type_t *t, const omr_field_t *f, const json_t *v, blz_mj_set_t *set, blz_mj_plan_t *plan,
           int depth, omr_err_t *err)
{
    const omr_type_t *target = hql_model_type (f->target);
    if (json_is_string (v) && strchr (json_string_value (v), ':')) {
        const omr_type_t *rt;
        int64_t id;
        if (blz_mj_parse_ref (json_string_value (v), &rt, &id) < 0)
            return bad (err, t, f, "must be a reference Class:ID");
        if (!is_subtype (rt, target))
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%s.%s must reference a %s, not a %s", t->name, f->name,
                                target->name, rt->name);
        set->ref = id;
        return 0;
    }
    bool global = !(hql_model_type (target->root)->flags & OMR_TF_OWNED);
    if (json_is_object (v) && !only_reference (v) && !(global && json_id (v) >= 0)) {
        int n = decode (v, target, plan, -1, NULL, 0, depth + 1, err);
        if (n < 0)
            return -1;
        set->node = n;
        return 0;
    }
    if (json_is_object (v) && json_object_get (v, "@type")) {
        const omr_type_t *rt = blz_mj_type (json_string_value (json_object_get (v, "@type")));
        if (!rt || !is_subtype (rt, target))
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%s.%s must reference a %s", t->name, f->name, target->name);
    }
    int64_t id = json_id (v);
    if (id < 0)
        return bad (err, t, f, "must reference an object by id (\"@id\")");
    set->ref = id;
    return 0;
}

static int
decode (const json_t *o, const omr_type_t *hint, blz_mj_plan_t *plan, int parent, const omr_field_t *via, int index,
        int depth, omr_err_t *err)
{
    if (depth > 32)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "object graph nested too deeply");
    if (!json_is_object (o))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "a model object must be a JSON object with \"@type\"");
    const char *ts = json_string_value (json_object_get (o, "@type"));
    const omr_type_t *t = ts ? blz_mj_type (ts) : hint;
    if (!t)
        return omr_err_set (err, OMR_E_VALIDATION, 400, ts ? "unknown type '%s'" : "the object needs \"@type\"%s",
                            ts ? ts : "");
    if (hint && !is_subtype (t, hint))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "a %s is expected here, not a %s", hint->name, t->name);
    blz_mj_node_t node = {.type = t, .id = 0, .version = -1, .group = -1, .owner = -1, .parent = parent, .via = via,
                          .index = index};
    json_t *idv = json_object_get (o, "@id");
    if (idv && !json_is_null (idv)) {
        node.id = json_id (idv);
        if (node.id < 0)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "\"@id\" must be an integer");
    }
    json_t *ver = json_object_get (o, "omero:version") ? json_object_get (o, "omero:version") : json_object_get (o, "version");
    if (json_is_integer (ver))
        node.version = (long) json_integer_value (ver);
    else if (ver && !json_is_null (ver))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "\"omero:version\" must be an integer");
    json_t *det = json_object_get (o, "omero:details");
    if (json_is_object (det)) {
        json_t *ow = json_object_get (det, "owner"), *gr = json_object_get (det, "group");
        if (ow && !json_is_null (ow))
            node.owner = json_id (ow);
        if (gr && !json_is_null (gr))
            node.group = json_id (gr);
    }
    if (node.id == 0 && (t->flags & OMR_TF_ABSTRACT))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s is abstract: create one of its subtypes", t->name);
    blz_mj_set_t *sets = NULL;
    int nsets = 0;
    const char *k;
    json_t *v;
    /* scalar, units, reference and map fields first (new referenced objects get saved first) */
    json_object_foreach ((json_t *) o, k, v) {
        if (k[0] == '@' || !strncmp (k, "url:", 4) || !strcmp (k, "omero:details") || !strcmp (k, "omero:version")
            || !strcmp (k, "version") || (!strncmp (k, "omero:", 6) && strstr (k, "CountPerOwner")))
            continue;
        const omr_field_t *f = blz_mj_field (t, k);
        if (!f) {
            if (!strncmp (k, "details", 7))
                goto security;
            free_sets (sets, nsets);
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%s has no field '%s'", t->name, k);
        }
        if (f->kind == OMR_FIELD_COLLECTION)
            continue;
        if (!strcmp (f->name, "id"))
            continue;       /* the same as "@id" */
        if (f->flags & OMR_FF_READONLY) {
            free_sets (sets, nsets);
            return omr_err_set (err, OMR_E_SECURITY, 403, "%s.%s is set by the server", t->name, f->name);
        }
        sets = realloc (sets, (nsets + 1) * sizeof *sets);
        blz_mj_set_t *set = &sets[nsets++];
        *set = (blz_mj_set_t) {.field = f, .node = -1, .ref = -1};
        int rc = 0;
        if (json_is_null (v)) {
            if (f->kind == OMR_FIELD_MAP)
                set->map = json_array ();
            else if (!(f->flags & OMR_FF_NULLABLE))
                rc = bad (err, t, f, "is required and cannot be null");
        } else if (f->kind == OMR_FIELD_SCALAR)
            rc = scalar_value (t, f, v, set, err);
        else if (f->kind == OMR_FIELD_UNITS)
            rc = units_value (t, f, v, set, err);
        else if (f->kind == OMR_FIELD_MAP)
            rc = map_value (t, f, v, set, err);
        else if (f->kind == OMR_FIELD_REF)
            rc = ref_value (t, f, v, set, plan, depth, err);
        if (rc < 0) {
            free_sets (sets, nsets);
            return -1;
        }
    }
    node.sets = sets;
    node.nsets = nsets;
    int self = append_node (plan, &node);
    /* collections: new (or re-parented) members saved after this object */
    json_object_foreach ((json_t *) o, k, v) {
        if (k[0] == '@' || !strncmp (k, "url:", 4) || !strncmp (k, "omero:", 6))
            continue;
        const omr_field_t *f = blz_mj_field (t, k);
        if (!f || f->kind != OMR_FIELD_COLLECTION)
            continue;
        if (json_is_null (v))
            continue;
        if (!json_is_array (v))
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%s.%s must be a list of objects", t->name, f->name);
        size_t i;
        json_t *e;
        json_array_foreach (v, i, e)
            if (decode (e, hql_model_type (f->target), plan, self, f, (int) i, depth + 1, err) < 0)
                return -1;
    }
    return self;
security:
    free_sets (sets, nsets);
    return omr_err_set (err, OMR_E_SECURITY, 403, "details are set by the server (use \"omero:details\")");
}

int
blz_mj_decode (const json_t *obj, blz_mj_plan_t *plan, omr_err_t *err)
{
    int n = decode (obj, NULL, plan, -1, NULL, 0, 0, err);
    return n;
}
