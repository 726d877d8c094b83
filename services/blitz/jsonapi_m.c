/* jsonapi_m: OMERO's JSON API model URLs (/api/v0/m/…): listings, single objects, nested URLs,
 * save and delete, in omero-marshal's shapes (see jsonapi_m.h). Objects come from the HQL
 * translator and model_json (row-level security decides what the caller sees) and are then
 * reshaped: url:* links, Pixels as one object, Channels with their LogicalChannel's fields,
 * enumerations as TBD# types, unloaded references and version numbers left out. */
#include "jsonapi_m.h"
#include "jsonapi.h"
#include "graph_rules.h"
#include "model_json.h"
#include "omr_log.h"
#include "query.h"
#include "update.h"
#include <sys/queue.h>
#include <ctype.h>
#include <errno.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CSRF_FAILED                                                                                                   \
    "CSRF Error. You need to include valid CSRF tokens for any POST, PUT, PATCH or DELETE operations. You have to "   \
    "include CSRF token in the POST data or set the X-CSRFToken header."
#define MAX_IDS 500

typedef struct {
    const char *param;          /* query parameter */
    const char *cond;           /* HQL condition on x using :param (NULL: boolean "orphaned") */
    const char *orphan_cond;    /* condition when the boolean is true */
} filt_t;

typedef struct {
    const char *kind;           /* URL segment: "projects" */
    const char *type;           /* model type: "Project" */
    const char *self;           /* url:<self> of list items: "project" */
    const char *list_fetch;     /* HQL joins of a listing */
    const char *single_fetch;   /* HQL joins of a single object */
    const char *order;
    const char *count_hql;      /* childCount: rows (parent id, count) for :ids, or NULL */
    const char *children[3];    /* nested listings linked as url:<child> */
    bool owned;                 /* owner/group filters apply */
    bool save;                  /* POST/PUT/DELETE allowed (Projects, Datasets, Screens) */
    filt_t filters[4];
} kind_t;

#define IMG_FETCH "left outer join fetch x.pixels p left outer join fetch p.pixelsType "
#define WELL_FETCH                                                                                                    \
    "left outer join fetch x.wellSamples ws left outer join fetch ws.image img "                                      \
    "left outer join fetch ws.plateAcquisition pa "

static const kind_t kinds[] = {
    {"projects", "Project", "project", "", "", "lower(x.name), x.id",
     "select l.parent.id, count(l.id) from ProjectDatasetLink l where l.parent.id in (:ids) group by l.parent.id",
     {"datasets"}, true, true,
     {{"dataset", "x.id in (select l.parent.id from ProjectDatasetLink l where l.child.id = :dataset)", NULL}}},
    {"datasets", "Dataset", "dataset", "", "", "lower(x.name), x.id",
     "select l.parent.id, count(l.id) from DatasetImageLink l where l.parent.id in (:ids) group by l.parent.id",
     {"images", "projects"}, true, true,
     {{"project", "x.id in (select l.child.id from ProjectDatasetLink l where l.parent.id = :project)", NULL},
      {"image", "x.id in (select l.parent.id from DatasetImageLink l where l.child.id = :image)", NULL},
      {"orphaned", NULL, "x.id not in (select l.child.id from ProjectDatasetLink l)"}}},
    {"images", "Image", "image", IMG_FETCH,
     IMG_FETCH "left outer join fetch p.channels c left outer join fetch c.logicalChannel lc "
               "left outer join fetch lc.photometricInterpretation",
     "lower(x.name), x.id", NULL, {NULL}, true, false,
     {{"dataset", "x.id in (select l.child.id from DatasetImageLink l where l.parent.id = :dataset)", NULL},
      {"orphaned", NULL,
       "x.id not in (select l.child.id from DatasetImageLink l) and x.id not in (select ws.image.id from WellSample ws)"}}},
    {"screens", "Screen", "screen", "", "", "lower(x.name), x.id",
     "select l.parent.id, count(l.id) from ScreenPlateLink l where l.parent.id in (:ids) group by l.parent.id",
     {"plates"}, true, true,
     {{"plate", "x.id in (select l.parent.id from ScreenPlateLink l where l.child.id = :plate)", NULL}}},
    {"plates", "Plate", "plate", "", "", "lower(x.name), x.id", NULL, {"plateacquisitions", "wells"}, true, false,
     {{"screen", "x.id in (select l.child.id from ScreenPlateLink l where l.parent.id = :screen)", NULL},
      {"well", "x.id in (select w.plate.id from Well w where w.id = :well)", NULL},
      {"orphaned", NULL, "x.id not in (select l.child.id from ScreenPlateLink l)"}}},
    {"wells", "Well", "well", WELL_FETCH,
     WELL_FETCH "left outer join fetch img.pixels pix left outer join fetch pix.pixelsType", "x.column, x.row, x.id",
     NULL, {NULL}, true, false, {{"plate", "x.plate.id = :plate", NULL}}},
    {"plateacquisitions", "PlateAcquisition", "plateacquisition", "", "", "x.id", NULL, {NULL}, true, false,
     {{"plate", "x.plate.id = :plate", NULL}}},
    {"rois", "Roi", "roi", "left outer join fetch x.shapes s", "left outer join fetch x.shapes s", "x.id", NULL,
     {NULL}, true, false, {{"image", "x.image.id = :image", NULL}}},
    {"experimenters", "Experimenter", "experimenter", "", "", "lower(x.lastName), lower(x.firstName), x.id", NULL,
     {"experimentergroups"}, false, false,
     {{"experimentergroup",
       "x.id in (select m.child.id from GroupExperimenterMap m where m.parent.id = :experimentergroup)", NULL}}},
    {"experimentergroups", "ExperimenterGroup", "experimentergroup", "", "", "lower(x.name), x.id", NULL,
     {"experimenters"}, false, false,
     {{"experimenter", "x.id in (select m.parent.id from GroupExperimenterMap m where m.child.id = :experimenter)",
       NULL}}},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

/* Nested listings: /m/<parent>/<id>/<child>/ = /m/<child>/?<param>=<id>. */
static const struct {
    const char *parent, *child, *param;
} nested[] = {
    {"projects", "datasets", "project"},   {"datasets", "images", "dataset"},
    {"datasets", "projects", "dataset"},   {"images", "datasets", "image"},
    {"screens", "plates", "screen"},       {"plates", "screens", "plate"},
    {"plates", "wells", "plate"},          {"plates", "plateacquisitions", "plate"},
    {"wells", "plates", "well"},           {"images", "rois", "image"},
    {"experimentergroups", "experimenters", "experimentergroup"},
    {"experimenters", "experimentergroups", "experimenter"},
};

typedef struct {
    const blz_jsonapi_req_t *r;
    json_t *q;                  /* query parameters: name -> string */
    blz_db_t *db;
    blz_ctx_t ctx;
} mreq_t;

static int
reply_error (const blz_jsonapi_req_t *r, int status, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static int
reply_error (const blz_jsonapi_req_t *r, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    blz_jsonapi_reply (r->call, status, json_pack ("{s:s}", "message", msg), NULL);
    return 0;
}

static int
reply_err (const blz_jsonapi_req_t *r, const omr_err_t *err)
{
    int status = err->status >= 400 ? err->status : 500;
    return reply_error (r, status, "%s", err->msg);
}

static const kind_t *
kind_named (const char *name, size_t len)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (strlen (kinds[i].kind) == len && !strncmp (kinds[i].kind, name, len))
            return &kinds[i];
    return NULL;
}

static const kind_t *
kind_of_type (const char *type)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (!strcmp (kinds[i].type, type))
            return &kinds[i];
    return NULL;
}

/* ---- query parameters ------------------------------------------------------------------------ */

static json_t *
parse_query (const char *qs)
{
    json_t *out = json_object ();
    if (!qs || !*qs)
        return out;
    struct evkeyvalq q;
    TAILQ_INIT (&q);
    if (evhttp_parse_query_str (qs, &q) == 0) {
        struct evkeyval *kv;
        TAILQ_FOREACH (kv, &q, next)
            if (!json_object_get (out, kv->key))
                json_object_set_new (out, kv->key, json_string (kv->value));
    }
    evhttp_clear_headers (&q);
    return out;
}

/* An integer parameter as Python's int() reads it; 1 found, 0 absent, -1 after replying 400. */
static int
param_int (mreq_t *m, const char *name, long long *out)
{
    const char *v = json_string_value (json_object_get (m->q, name));
    if (!v)
        return 0;
    const char *p = v;
    while (isspace ((unsigned char) *p))
        p++;
    char *end;
    errno = 0;
    long long x = strtoll (p, &end, 10);
    while (isspace ((unsigned char) *end))
        end++;
    if (end == p || *end || errno || !(isdigit ((unsigned char) *p) || ((*p == '-' || *p == '+') && isdigit ((unsigned char) p[1])))) {
        reply_error (m->r, 400, "invalid literal for int() with base 10: '%s'", v);
        return -1;
    }
    *out = x;
    return 1;
}

/* A boolean parameter ("true"/"false", any case, or 1/0); -1 after replying 400. */
static int
param_bool (mreq_t *m, const char *name, bool *out)
{
    const char *v = json_string_value (json_object_get (m->q, name));
    *out = false;
    if (!v)
        return 0;
    if (!strcasecmp (v, "true") || !strcmp (v, "1"))
        *out = true;
    else if (strcasecmp (v, "false") && strcmp (v, "0") && *v) {
        reply_error (m->r, 400, "Invalid boolean value for %s: '%s'", name, v);
        return -1;
    }
    return 1;
}

/* ---- reshaping model_json objects into omero-marshal's ---------------------------------------- */

static void
set_url (json_t *o, const char *key, const char *base, const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

static void
set_url (json_t *o, const char *key, const char *base, const char *fmt, ...)
{
    char tail[256], url[900];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (tail, sizeof tail, fmt, ap);
    va_end (ap);
    snprintf (url, sizeof url, "%s/api/v0/m/%s", base, tail);
    json_object_set_new (o, key, json_string (url));
}

static const char *
type_name (const json_t *o)
{
    const char *t = json_string_value (json_object_get (o, "@type"));
    const char *h = t ? strrchr (t, '#') : NULL;
    return h ? h + 1 : t;
}

/* An object holding nothing but its id and type: a reference that was not loaded. */
static bool
unloaded (const json_t *v)
{
    if (!json_is_object (v) || !json_object_get (v, "@id"))
        return false;
    const char *k;
    json_t *x;
    json_object_foreach ((json_t *) v, k, x)
        if (strcmp (k, "@id") && strcmp (k, "@type"))
            return false;
    return true;
}

/* A Channel with its LogicalChannel's fields, as omero-marshal encodes it. */
static void
flatten_channel (json_t *ch)
{
    json_t *lc = json_object_get (ch, "LogicalChannel");
    if (json_is_object (lc)) {
        const char *k;
        json_t *v;
        json_object_foreach (lc, k, v) {
            if (!strcmp (k, "@type") || !strcmp (k, "omero:details") || !strcmp (k, "Channels")
                || !strcmp (k, "omero:version"))
                continue;
            if (!strcmp (k, "@id"))
                json_object_set (ch, "omero:LogicalChannelId", v);
            else if (!strcmp (k, "EmissionWave"))
                json_object_set (ch, "EmissionWavelength", v);
            else if (!strcmp (k, "ExcitationWave"))
                json_object_set (ch, "ExcitationWavelength", v);
            else if (!strcmp (k, "PhotometricInterpretation"))
                json_object_set (ch, "omero:photometricInterpretation", v);
            else if (!strcmp (k, "NdFilter"))
                json_object_set (ch, "NDFilter", v);
            else if (!json_object_get (ch, k))
                json_object_set (ch, k, v);
        }
        json_object_del (ch, "LogicalChannel");
    }
    json_t *r = json_object_get (ch, "Red"), *g = json_object_get (ch, "Green"), *b = json_object_get (ch, "Blue"),
           *a = json_object_get (ch, "Alpha");
    if (json_is_integer (r) && json_is_integer (g) && json_is_integer (b) && json_is_integer (a)) {
        uint32_t rgba = ((uint32_t) (json_integer_value (r) & 255) << 24) | ((uint32_t) (json_integer_value (g) & 255) << 16)
                        | ((uint32_t) (json_integer_value (b) & 255) << 8) | (uint32_t) (json_integer_value (a) & 255);
        json_object_set_new (ch, "Color", json_integer ((int32_t) rgba));
    }
    json_object_del (ch, "Red");
    json_object_del (ch, "Green");
    json_object_del (ch, "Blue");
    json_object_del (ch, "Alpha");
}

/* Reshape one object and what it holds; depth 0 = a top-level object of the response. */
static void
tidy (json_t *o, const char *base, int depth, bool single)
{
    if (!json_is_object (o))
        return;
    json_object_del (o, "omero:version");
    const char *tn = type_name (o);
    const omr_type_t *t = tn ? blz_mj_type (tn) : NULL;
    if (t && (t->flags & OMR_TF_ENUM)) {
        char at[128];
        snprintf (at, sizeof at, "TBD#%s", t->name);
        json_object_set_new (o, "@type", json_string (at));
        json_object_del (o, "bitSize");
        return;
    }
    /* Image.Pixels is one object in the JSON API */
    json_t *pix = json_object_get (o, "Pixels");
    if (json_is_array (pix) && t && !strcmp (t->name, "Image")) {
        if (json_array_size (pix))
            json_object_set (o, "Pixels", json_array_get (pix, 0));
        else
            json_object_del (o, "Pixels");
    }
    if (t && !strcmp (t->name, "Roi")) {
        json_t *s = json_object_get (o, "Shapes");
        if (s) {
            json_object_set (o, "shapes", s);
            json_object_del (o, "Shapes");
        }
    }
    if (t && (!strcmp (t->name, "Experimenter") || !strcmp (t->name, "ExperimenterGroup")))
        json_object_del (o, "Config");  /* configuration maps are not part of the JSON API */
    if (t && !strcmp (t->name, "WellSample")) {
        const char *from[] = {"PosX", "PosY"}, *to[] = {"PositionX", "PositionY"};
        for (int i = 0; i < 2; i++) {
            json_t *p = json_object_get (o, from[i]);
            if (p) {
                json_object_set (o, to[i], p);
                json_object_del (o, from[i]);
            }
        }
    }
    if (t && !strcmp (t->name, "Channel"))
        flatten_channel (o);
    /* drop unloaded references, recurse into loaded ones */
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe (o, tmp, k, v) {
        if (!strcmp (k, "omero:details"))
            continue;
        if (unloaded (v))
            json_object_del (o, k);
        else if (json_is_object (v))
            tidy (v, base, depth + 1, false);
        else if (json_is_array (v)) {
            size_t i;
            json_t *e;
            json_array_foreach (v, i, e) tidy (e, base, depth + 1, false);
        }
    }
    const kind_t *kd = t ? kind_of_type (t->name) : NULL;
    json_int_t id = json_integer_value (json_object_get (o, "@id"));
    if (kd && json_object_get (o, "@id")) {
        char key[64];
        /* list items and nested objects link to themselves; single objects to their children
         * (a single Plate also to itself, as in the seed) */
        if (!single || !strcmp (kd->kind, "plates")) {
            snprintf (key, sizeof key, "url:%s", kd->self);
            set_url (o, key, base, "%s/%lld/", kd->kind, (long long) id);
        }
        if (depth == 0)
            for (int c = 0; c < 3 && kd->children[c]; c++) {
                snprintf (key, sizeof key, "url:%s", kd->children[c]);
                set_url (o, key, base, "%s/%lld/%s/", kd->kind, (long long) id, kd->children[c]);
            }
    }
}

/* ?normalize=true: owners and groups of top-level objects into "experimenters" and
 * "experimenterGroups", each object keeping {"@id"} references. */
static void
normalize (json_t *data, json_t *reply)
{
    json_t *users = json_array (), *groups = json_array (), *seen_u = json_object (), *seen_g = json_object ();
    size_t i;
    json_t *o;
    json_array_foreach (data, i, o) {
        json_t *d = json_object_get (o, "omero:details");
        const char *keys[] = {"owner", "group"};
        json_t *lists[] = {users, groups}, *seen[] = {seen_u, seen_g};
        for (int k = 0; k < 2; k++) {
            json_t *x = json_object_get (d, keys[k]);
            if (!json_is_object (x) || !json_object_get (x, "@id"))
                continue;
            char ids[32];
            snprintf (ids, sizeof ids, "%lld", (long long) json_integer_value (json_object_get (x, "@id")));
            if (!json_object_get (seen[k], ids)) {
                json_object_set_new (seen[k], ids, json_true ());
                json_array_append (lists[k], x);
            }
            json_object_set_new (d, keys[k], json_pack ("{s:O}", "@id", json_object_get (x, "@id")));
        }
    }
    json_object_set_new (reply, "experimenters", users);
    json_object_set_new (reply, "experimenterGroups", groups);
    json_decref (seen_u);
    json_decref (seen_g);
}

/* ---- writing large replies ------------------------------------------------------------------- */

/* JSON text of a listing. jansson's json_dumps tracks every container it enters in a hash table
 * (loop detection), which costs about 20 ns a byte: 450 ms for the 22 MB of 10,000 images. The
 * objects here are trees built by this module and model_json (shared sub-objects, no loops), so
 * they are written directly, with jansson's formatting: compact, keys in insertion order, UTF-8
 * left as is, control characters escaped, reals as "%.17g" with a ".0" when they look integral. */
typedef struct {
    char *buf;
    size_t len, cap;
} wbuf_t;

static void
wb_put (wbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->buf = realloc (b->buf, b->cap);
    }
    memcpy (b->buf + b->len, s, n);
    b->len += n;
}

static void
wb_str (wbuf_t *b, const char *s, size_t n)
{
    wb_put (b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        wb_put (b, s + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"': wb_put (b, "\\\"", 2); break;
        case '\\': wb_put (b, "\\\\", 2); break;
        case '\b': wb_put (b, "\\b", 2); break;
        case '\f': wb_put (b, "\\f", 2); break;
        case '\n': wb_put (b, "\\n", 2); break;
        case '\r': wb_put (b, "\\r", 2); break;
        case '\t': wb_put (b, "\\t", 2); break;
        default:
            snprintf (esc, sizeof esc, "\\u%04X", c);
            wb_put (b, esc, 6);
        }
    }
    wb_put (b, s + run, n - run);
    wb_put (b, "\"", 1);
}

static void
wb_json (wbuf_t *b, const json_t *v)
{
    char num[64];
    int n;
    switch (json_typeof (v)) {
    case JSON_OBJECT: {
        wb_put (b, "{", 1);
        const char *k;
        json_t *x;
        bool first = true;
        json_object_foreach ((json_t *) v, k, x) {
            if (!first)
                wb_put (b, ",", 1);
            first = false;
            wb_str (b, k, strlen (k));
            wb_put (b, ":", 1);
            wb_json (b, x);
        }
        wb_put (b, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        wb_put (b, "[", 1);
        size_t i;
        json_t *x;
        json_array_foreach (v, i, x) {
            if (i)
                wb_put (b, ",", 1);
            wb_json (b, x);
        }
        wb_put (b, "]", 1);
        break;
    }
    case JSON_STRING: wb_str (b, json_string_value (v), json_string_length (v)); break;
    case JSON_INTEGER:
        n = snprintf (num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value (v));
        wb_put (b, num, (size_t) n);
        break;
    case JSON_REAL:
        n = snprintf (num, sizeof num, "%.17g", json_real_value (v));
        if (!strpbrk (num, ".eEni"))
            n += snprintf (num + n, sizeof num - (size_t) n, ".0");
        wb_put (b, num, (size_t) n);
        break;
    case JSON_TRUE: wb_put (b, "true", 4); break;
    case JSON_FALSE: wb_put (b, "false", 5); break;
    case JSON_NULL: wb_put (b, "null", 4); break;
    }
}

/* Reply 200 with a large JSON body (stolen): the headers blz_jsonapi_reply sets, the body
 * written by wb_json in place of its frame. */
static void
reply_large (omr_call_t *call, json_t *body)
{
    blz_jsonapi_reply (call, 200, json_object (), NULL);
    wbuf_t b = {0};
    wb_json (&b, body);
    json_decref (body);
    zframe_destroy (&call->raw_out[call->nraw_out - 1]);
    call->raw_out[call->nraw_out - 1] = zframe_new (b.buf, b.len);
    free (b.buf);
}

/* ---- reads ----------------------------------------------------------------------------------- */

static long long
config_int (blz_app_t *app, const char *key, long long dflt)
{
    return omr_config_get_int (app->config, key, dflt);
}

/* Begin a read transaction as the caller in all their groups; -1 after replying. */
static int
begin_read (mreq_t *m)
{
    omr_err_t err = {0};
    m->ctx.group_id = -1;
    if (blz_db_begin (m->db, &m->ctx, &err) < 0) {
        reply_err (m->r, &err);
        return -1;
    }
    return 0;
}

/* Add childCount to the objects of one page (one grouped query for all of them). */
static int
child_counts (mreq_t *m, const kind_t *k, json_t *data, json_t *ids, omr_err_t *err)
{
    json_t *params = json_pack ("{s:O}", "ids", ids);
    json_t *rows = blz_query_run (m->db, k->count_hql, params, 0, -1, BLZ_MJ_ROWS, err);
    json_decref (params);
    if (!rows)
        return -1;
    json_t *by = json_object ();
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        char key[32];
        snprintf (key, sizeof key, "%lld", (long long) json_integer_value (json_array_get (row, 0)));
        json_object_set (by, key, json_array_get (row, 1));
    }
    json_t *o;
    json_array_foreach (data, i, o) {
        char key[32];
        snprintf (key, sizeof key, "%lld", (long long) json_integer_value (json_object_get (o, "@id")));
        json_t *c = json_object_get (by, key);
        json_object_set_new (o, "omero:childCount", json_integer (c ? json_integer_value (c) : 0));
    }
    json_decref (by);
    json_decref (rows);
    return 0;
}

/* The caller's permissions on objects of (owner, group), once per pair, into every owned
 * object of a result that has none (nested ones too). */
static int
add_permissions (blz_db_t *db, json_t *v, json_t *cache, omr_err_t *err)
{
    if (json_is_array (v)) {
        size_t i;
        json_t *e;
        json_array_foreach (v, i, e) if (add_permissions (db, e, cache, err) < 0) return -1;
        return 0;
    }
    if (!json_is_object (v))
        return 0;
    json_t *d = json_object_get (v, "omero:details");
    json_t *ow = json_object_get (json_object_get (d, "owner"), "@id"), *gr = json_object_get (json_object_get (d, "group"), "@id");
    if (d && ow && gr && !json_object_get (d, "permissions")) {
        char key[64], a[24], b[24];
        snprintf (key, sizeof key, "%lld:%lld", (long long) json_integer_value (ow), (long long) json_integer_value (gr));
        json_t *p = json_object_get (cache, key);
        if (!p) {
            PGresult *res = blz_db_query (db, err, "SELECT omero_details_permissions($1::int8, $2::int8)::text",
                                          BLZ_P (BLZ_I64 (a, json_integer_value (ow)), BLZ_I64 (b, json_integer_value (gr))));
            if (!res)
                return -1;
            p = PQntuples (res) == 1 && !PQgetisnull (res, 0, 0) ? json_loads (PQgetvalue (res, 0, 0), 0, NULL) : NULL;
            PQclear (res);
            if (!p)
                return omr_err_set (err, OMR_E_INTERNAL, 500, "no permissions for owner %s in group %s", a, b);
            json_object_set_new (p, "@type", json_string ("TBD#Permissions"));
            json_object_set_new (cache, key, p);
        }
        json_object_set (d, "permissions", p);
    }
    const char *k;
    json_t *x;
    json_object_foreach (v, k, x) {
        if (strcmp (k, "omero:details") && (json_is_object (x) || json_is_array (x))
            && add_permissions (db, x, cache, err) < 0)
            return -1;
    }
    return 0;
}

/* A PostgreSQL array literal of a JSON array of ids ("{1,2}"), malloc'ed. */
static char *
id_list (const json_t *ids)
{
    size_t cap = 16 + json_array_size (ids) * 21, n = 0, i;
    char *list = malloc (cap);
    json_t *e;
    n += (size_t) snprintf (list, cap, "{");
    json_array_foreach (ids, i, e)
        n += (size_t) snprintf (list + n, cap - n, "%s%lld", i ? "," : "", (long long) json_integer_value (e));
    snprintf (list + n, cap - n, "}");
    return list;
}

/* The objects of a listing's page (HQL with the parameter :ids only). The translator's per-row
 * permissions column calls omero_details_permissions for every row and object (seconds for
 * 10,000 images), so the objects are read without it and get the caller's permissions once
 * per (owner, group) pair instead. */
static json_t *
page_objects (blz_db_t *db, const char *hql, const json_t *ids, omr_err_t *err)
{
    hql_query_t *q = hql_translate_ex (hql, 0, err);
    if (!q)
        return NULL;
    char *list = id_list (ids);
    const char **values = calloc ((size_t) q->nparams + 1, sizeof *values);
    for (int k = 0; k < q->nparams; k++)
        values[k] = q->params[k].name ? list : q->params[k].literal;
    PGconn *conn = blz_db_conn (db);
    PGresult *res = conn ? PQexecParams (conn, q->sql, q->nparams, NULL, values, NULL, NULL, 0) : NULL;
    free (values);
    free (list);
    json_t *out = NULL;
    if (!res || PQresultStatus (res) != PGRES_TUPLES_OK)
        omr_err_set (err, OMR_E_INTERNAL, 500, "listing failed: %s", conn ? PQerrorMessage (conn) : "no database connection");
    else
        out = blz_mj_encode (db, q, res, 0, 0, -1, err);
    PQclear (res);
    hql_query_destroy (&q);
    if (out) {
        json_t *cache = json_object ();
        if (add_permissions (db, out, cache, err) < 0) {
            json_decref (out);
            out = NULL;
        }
        json_decref (cache);
    }
    return out;
}

/* One page of ids of a listing and the total count, in one statement (count(*) over the
 * ordered ids before LIMIT); params as blz_query_run takes them. */
static json_t *
page_ids (blz_db_t *db, const char *hql, const json_t *params, long long offset, long long limit, long long *total,
          omr_err_t *err)
{
    hql_query_t *q = hql_translate_ex (hql, 0, err);
    if (!q)
        return NULL;
    const char **values = calloc ((size_t) q->nparams + 1, sizeof *values);
    char (*bufs)[24] = calloc ((size_t) q->nparams + 1, sizeof *bufs);
    char **lists = calloc ((size_t) q->nparams + 1, sizeof *lists);
    for (int k = 0; k < q->nparams; k++) {
        if (!q->params[k].name) {
            values[k] = q->params[k].literal;
            continue;
        }
        /* listing parameters are ids, or lists of ids */
        json_t *v = json_object_get (params, q->params[k].name);
        if (json_is_array (v)) {
            values[k] = lists[k] = id_list (v);
            continue;
        }
        snprintf (bufs[k], sizeof bufs[k], "%lld", (long long) json_integer_value (v));
        values[k] = bufs[k];
    }
    size_t sl = strlen (q->sql) + 128;
    char *sql = malloc (sl);
    snprintf (sql, sl, "SELECT s.*, count(*) OVER () FROM (%s) s LIMIT %lld OFFSET %lld", q->sql, limit, offset);
    PGconn *conn = blz_db_conn (db);
    PGresult *res = conn ? PQexecParams (conn, sql, q->nparams, NULL, values, NULL, NULL, 0) : NULL;
    free (sql);
    free (values);
    free (bufs);
    for (int k = 0; k < q->nparams; k++)
        free (lists[k]);
    free (lists);
    json_t *out = NULL;
    if (!res || PQresultStatus (res) != PGRES_TUPLES_OK)
        omr_err_set (err, OMR_E_INTERNAL, 500, "listing failed: %s", conn ? PQerrorMessage (conn) : "no database connection");
    else {
        out = json_array ();
        int nc = PQnfields (res);
        for (int r = 0; r < PQntuples (res); r++)
            json_array_append_new (out, json_integer (atoll (PQgetvalue (res, r, 0))));
        *total = PQntuples (res) ? atoll (PQgetvalue (res, 0, nc - 1)) : -1;
    }
    PQclear (res);
    hql_query_destroy (&q);
    return out;
}

static int ws_index (mreq_t *m, const kind_t *k, json_t *objs, omr_err_t *err);

/* The users whose details the caller may see: OMERO shows Experimenters only to members of a
 * non-private group they share (the group every user is in does not count), and oneself;
 * administrators see everyone (NULL and *all set). */
static json_t *
visible_users (mreq_t *m, bool *all, omr_err_t *err)
{
    *all = m->ctx.admin;
    if (*all)
        return NULL;
    json_t *gids = json_array ();
    for (int i = 0; i < m->ctx.ngroups; i++)
        json_array_append_new (gids, json_integer (m->ctx.group_ids[i]));
    char *list = id_list (gids), ug[24];
    json_decref (gids);
    PGresult *res = blz_db_query (m->db, err,
                                  "SELECT DISTINCT m.child FROM groupexperimentermap m JOIN experimentergroup g "
                                  "ON g.id = m.parent WHERE m.parent = ANY ($1::int8[]) AND m.parent <> $2 "
                                  "AND (g.permissions & 64) <> 0",
                                  BLZ_P (list, BLZ_I64 (ug, m->r->app->user_gid)));
    free (list);
    if (!res)
        return NULL;
    json_t *out = json_pack ("[I]", (json_int_t) m->ctx.user_id);
    for (int r = 0; r < PQntuples (res); r++)
        json_array_append_new (out, json_integer (atoll (PQgetvalue (res, r, 0))));
    PQclear (res);
    return out;
}

/* The limit (default omero.web.api.limit, at most omero.web.api.max_limit) and offset parameters
 * of a paged list, and that maximum; -1 after replying 400. */
static int
param_paging (mreq_t *m, long long *limit, long long *offset, long long *max_limit)
{
    blz_app_t *app = m->r->app;
    long long dflt = config_int (app, "omero.web.api.limit", 200), max = config_int (app, "omero.web.api.max_limit", 500);
    long long v;
    int rc;
    *limit = dflt, *offset = 0, *max_limit = max;
    if ((rc = param_int (m, "limit", &v)) < 0)
        return -1;
    if (rc && v >= 0)
        *limit = v;
    if (*limit > max)
        *limit = max;
    if ((rc = param_int (m, "offset", &v)) < 0)
        return -1;
    if (rc) {
        if (v < 0) {
            reply_error (m->r, 400, "offset must not be negative: %lld", v);
            return -1;
        }
        *offset = v;
    }
    return 0;
}

/* Append " and <cond>" to the where clause. */
static void
add_cond (char *where, size_t len, const char *cond)
{
    size_t n = strlen (where);
    snprintf (where + n, len - n, "%s%s", n ? " and " : "", cond);
}

static int
do_list (mreq_t *m, const kind_t *k)
{
    long long limit, offset, max, v;
    int rc;
    if (param_paging (m, &limit, &offset, &max) < 0)
        return 0;
    bool norm, counts;
    if (param_bool (m, "normalize", &norm) < 0 || param_bool (m, "childCount", &counts) < 0)
        return 0;
    char where[2048] = "";
    json_t *params = json_object ();
    if (k->owned) {
        const char *names[] = {"owner", "group"};
        const char *conds[] = {"x.details.owner.id = :owner", "x.details.group.id = :group"};
        for (int i = 0; i < 2; i++) {
            if ((rc = param_int (m, names[i], &v)) < 0)
                goto done;
            if (rc && v != -1) {
                add_cond (where, sizeof where, conds[i]);
                json_object_set_new (params, names[i], json_integer (v));
            }
        }
    }
    for (int f = 0; f < 4 && k->filters[f].param; f++) {
        const filt_t *ft = &k->filters[f];
        if (!ft->cond) {
            bool on;
            if (param_bool (m, ft->param, &on) < 0)
                goto done;
            if (on)
                add_cond (where, sizeof where, ft->orphan_cond);
            continue;
        }
        if ((rc = param_int (m, ft->param, &v)) < 0)
            goto done;
        if (rc) {
            add_cond (where, sizeof where, ft->cond);
            json_object_set_new (params, ft->param, json_integer (v));
        }
    }
    if (begin_read (m) < 0)
        goto done;
    omr_err_t err = {0};
    char hql[4096];
    json_t *data = NULL, *ids = NULL;
    if (!strcmp (k->kind, "experimenters")) {
        bool all;
        json_t *vis = visible_users (m, &all, &err);
        if (!vis && !all)
            goto fail;
        if (vis) {
            add_cond (where, sizeof where, "x.id in (:visible)");
            json_object_set_new (params, "visible", vis);
        }
    }
    const char *w = where[0] ? " where " : "";
    long long total = -1;
    snprintf (hql, sizeof hql, "select x.id from %s x%s%s order by %s", k->type, w, where, k->order);
    ids = page_ids (m->db, hql, params, offset, limit, &total, &err);
    if (!ids)
        goto fail;
    if (total < 0) {
        /* an empty page: count on its own */
        snprintf (hql, sizeof hql, "select count(x.id) from %s x%s%s", k->type, w, where);
        json_t *c = blz_query_run (m->db, hql, params, 0, -1, BLZ_MJ_ROWS, &err);
        if (!c)
            goto fail;
        total = json_integer_value (json_array_get (json_array_get (c, 0), 0));
        json_decref (c);
    }
    size_t i;
    if (json_array_size (ids)) {
        snprintf (hql, sizeof hql, "select x from %s x %s where x.id in (:ids) order by %s", k->type, k->list_fetch,
                  k->order);
        data = page_objects (m->db, hql, ids, &err);
        if (!data)
            goto fail;
        if (counts && k->count_hql && child_counts (m, k, data, ids, &err) < 0)
            goto fail;
        if (!strcmp (k->kind, "plateacquisitions") && ws_index (m, k, data, &err) < 0)
            goto fail;
    } else
        data = json_array ();
    blz_db_rollback (m->db);
    json_t *o;
    json_array_foreach (data, i, o) tidy (o, m->r->base, 0, false);
    json_t *reply = json_pack ("{s:o,s:{s:I,s:I,s:I,s:I}}", "data", data, "meta", "totalCount", (json_int_t) total, "maxLimit",
                               (json_int_t) max, "limit", (json_int_t) limit, "offset", (json_int_t) offset);
    if (norm)
        normalize (data, reply);
    reply_large (m->r->call, reply);
    json_decref (ids);
    goto done;
fail:
    blz_db_rollback (m->db);
    json_decref (ids);
    json_decref (data);
    reply_err (m->r, &err);
done:
    json_decref (params);
    return 0;
}

/* omero:wellsampleIndex [min, max] and url:wellsampleindex_wells (one URL per index) of Plates
 * or PlateAcquisitions, one statement for all of them. */
static int
ws_index (mreq_t *m, const kind_t *k, json_t *objs, omr_err_t *err)
{
    bool plates = !strcmp (k->kind, "plates");
    size_t i;
    json_t *o, *ids = json_array ();
    json_array_foreach (objs, i, o) json_array_append (ids, json_object_get (o, "@id"));
    char *list = id_list (ids);
    json_decref (ids);
    PGresult *res = blz_db_query (m->db, err,
                                  plates ? "SELECT w.plate, min(ws.well_index), max(ws.well_index) FROM wellsample ws "
                                           "JOIN well w ON w.id = ws.well WHERE w.plate = ANY ($1::int8[]) GROUP BY w.plate"
                                         : "SELECT ws.plateacquisition, min(ws.well_index), max(ws.well_index) FROM "
                                           "wellsample ws WHERE ws.plateacquisition = ANY ($1::int8[]) "
                                           "GROUP BY ws.plateacquisition",
                                  BLZ_P (list));
    free (list);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples (res); r++) {
        long long id = atoll (PQgetvalue (res, r, 0));
        long lo = atol (PQgetvalue (res, r, 1)), hi = atol (PQgetvalue (res, r, 2));
        json_array_foreach (objs, i, o) {
            if (json_integer_value (json_object_get (o, "@id")) != id)
                continue;
            json_object_set_new (o, "omero:wellsampleIndex", json_pack ("[i,i]", (int) lo, (int) hi));
            json_t *urls = json_array ();
            for (long x = lo; x <= hi; x++) {
                char url[900];
                snprintf (url, sizeof url, "%s/api/v0/m/%s/%lld/wellsampleindex/%ld/wells/", m->r->base, k->kind, id, x);
                json_array_append_new (urls, json_string (url));
            }
            json_object_set_new (o, "url:wellsampleindex_wells", urls);
        }
    }
    PQclear (res);
    return 0;
}

/* GET /m/plates/{id}/wellsampleindex/{index}/wells/ (and by PlateAcquisition): the Wells with
 * the WellSample at that index and its Image only, empty Wells left out; paged like a list. */
static int
do_wsindex_wells (mreq_t *m, const kind_t *parent, long long id, long long index)
{
    long long limit, offset, max;
    if (param_paging (m, &limit, &offset, &max) < 0)
        return 0;
    if (begin_read (m) < 0)
        return 0;
    omr_err_t err = {0};
    char a[24], b[24], c[24], d[24];
    const char *sql = !strcmp (parent->kind, "plates")
                          ? "SELECT ws.id, count(*) OVER () FROM wellsample ws JOIN well w ON w.id = ws.well "
                            "WHERE w.plate = $1 AND ws.well_index = $2 ORDER BY w.\"column\", w.\"row\", w.id LIMIT $3 OFFSET $4"
                          : "SELECT ws.id, count(*) OVER () FROM wellsample ws JOIN well w ON w.id = ws.well "
                            "WHERE ws.plateacquisition = $1 AND ws.well_index = $2 ORDER BY w.\"column\", w.\"row\", w.id "
                            "LIMIT $3 OFFSET $4";
    PGresult *res = blz_db_query (m->db, &err, sql,
                                  BLZ_P (BLZ_I64 (a, id), BLZ_I64 (b, index), BLZ_I64 (c, limit), BLZ_I64 (d, offset)));
    json_t *ids = json_array (), *data = NULL;
    long long total = 0;
    if (!res)
        goto fail;
    for (int r = 0; r < PQntuples (res); r++) {
        json_array_append_new (ids, json_integer (atoll (PQgetvalue (res, r, 0))));
        total = atoll (PQgetvalue (res, r, 1));
    }
    PQclear (res);
    if (!json_array_size (ids) && offset > 0) {
        /* past the end: the total on its own */
        const char *csql = !strcmp (parent->kind, "plates")
                               ? "SELECT count(*) FROM wellsample ws JOIN well w ON w.id = ws.well WHERE w.plate = $1 "
                                 "AND ws.well_index = $2"
                               : "SELECT count(*) FROM wellsample ws WHERE ws.plateacquisition = $1 AND ws.well_index = $2";
        res = blz_db_query (m->db, &err, csql, BLZ_P (a, b));
        if (!res)
            goto fail;
        total = atoll (PQgetvalue (res, 0, 0));
        PQclear (res);
    }
    if (json_array_size (ids)) {
        data = page_objects (m->db,
                             "select x from Well x join fetch x.wellSamples ws join fetch ws.image img "
                             "left outer join fetch ws.plateAcquisition pa where ws.id in (:ids) "
                             "order by x.column, x.row, x.id",
                             ids, &err);
        if (!data)
            goto fail;
    } else
        data = json_array ();
    blz_db_rollback (m->db);
    size_t i;
    json_t *o;
    json_array_foreach (data, i, o) tidy (o, m->r->base, 0, false);
    reply_large (m->r->call,
                 json_pack ("{s:o,s:{s:I,s:I,s:I,s:I}}", "data", data, "meta", "totalCount", (json_int_t) total,
                            "maxLimit", (json_int_t) max, "limit", (json_int_t) limit, "offset", (json_int_t) offset));
    json_decref (ids);
    return 0;
fail:
    blz_db_rollback (m->db);
    json_decref (ids);
    return reply_err (m->r, &err);
}

/* One object as a single GET shows it (within an open transaction); NULL when not visible. */
static json_t *
load_single (mreq_t *m, const kind_t *k, long long id, omr_err_t *err)
{
    char hql[1024];
    snprintf (hql, sizeof hql, "select x from %s x %s where x.id = :id", k->type, k->single_fetch);
    json_t *params = json_pack ("{s:I}", "id", (json_int_t) id);
    json_t *arr = blz_query_run (m->db, hql, params, 0, -1, 0, err);
    json_decref (params);
    if (!arr)
        return NULL;
    json_t *o = json_incref (json_array_get (arr, 0));
    json_decref (arr);
    if (!o)
        return NULL;
    if (!strcmp (k->kind, "plates") || !strcmp (k->kind, "plateacquisitions")) {
        json_t *one = json_pack ("[O]", o);
        int rc = ws_index (m, k, one, err);
        json_decref (one);
        if (rc < 0) {
            json_decref (o);
            return NULL;
        }
    }
    tidy (o, m->r->base, 0, true);
    return o;
}

static int
do_single (mreq_t *m, const kind_t *k, long long id)
{
    if (begin_read (m) < 0)
        return 0;
    omr_err_t err = {0};
    if (!strcmp (k->kind, "experimenters")) {
        bool all, seen = false;
        json_t *vis = visible_users (m, &all, &err);
        if (!vis && !all) {
            blz_db_rollback (m->db);
            return reply_err (m->r, &err);
        }
        size_t i;
        json_t *e;
        json_array_foreach (vis, i, e) seen |= json_integer_value (e) == id;
        json_decref (vis);
        if (!all && !seen) {
            blz_db_rollback (m->db);
            return reply_error (m->r, 404, "%s %lld not found", k->type, id);
        }
    }
    json_t *o = load_single (m, k, id, &err);
    blz_db_rollback (m->db);
    if (!o)
        return err.msg[0] ? reply_err (m->r, &err) : reply_error (m->r, 404, "%s %lld not found", k->type, id);
    blz_jsonapi_reply (m->r->call, 200, json_pack ("{s:o}", "data", o), NULL);
    return 0;
}

/* ---- writes ---------------------------------------------------------------------------------- */

static bool
same_token (const char *a, const char *b)
{
    if (!a || !b || strlen (a) != strlen (b) || strlen (a) < 32)
        return false;
    return CRYPTO_memcmp (a, b, strlen (a)) == 0;
}

/* Django's rule: the csrftoken cookie must come back in the X-CSRFToken header. */
static bool
csrf_ok (const blz_jsonapi_req_t *r)
{
    const char *c = json_string_value (json_object_get (r->cookies, "csrftoken"));
    const char *h = json_string_value (json_object_get (r->headers, "x-csrftoken"));
    return same_token (c, h);
}

static json_t *
body_json (const blz_jsonapi_req_t *r)
{
    const omr_msg_t *msg = r->call->req;
    size_t len = msg->nraw ? zframe_size (msg->raw[0]) : 0;
    if (!len)
        return NULL;
    return json_loadb ((const char *) zframe_data (msg->raw[0]), len, 0, NULL);
}

/* The object to save: JSON API decorations removed; for a replacement (PUT) every own scalar
 * field not given becomes null, as omero-marshal's decoding of the whole object does. */
static json_t *
save_object (json_t *in, const omr_type_t *t, bool replace)
{
    json_t *o = json_object ();
    const char *k;
    json_t *v;
    json_object_foreach (in, k, v) {
        if (!strncmp (k, "url:", 4) || !strcmp (k, "omero:details") || !strcmp (k, "omero:childCount"))
            continue;
        json_object_set (o, k, v);
    }
    json_object_set_new (o, "@type", json_string (t->name));
    if (replace)
        for (int i = 0; i < t->nfields; i++) {
            const omr_field_t *f = hql_model_field_at (t->first_field + i);
            if (f->kind != OMR_FIELD_SCALAR || !strncmp (f->name, "details", 7) || !strcmp (f->name, "version"))
                continue;
            char key[128];
            blz_mj_key (f, key, sizeof key);
            if (!json_object_get (o, key) && !json_object_get (o, f->name))
                json_object_set_new (o, key, json_null ());
        }
    return o;
}

static int
do_save (mreq_t *m, bool create)
{
    const blz_jsonapi_req_t *r = m->r;
    json_t *in = body_json (r);
    if (!json_is_object (in)) {
        json_decref (in);
        return reply_error (r, 400, "No JSON data in the request body");
    }
    const char *ts = json_string_value (json_object_get (in, "@type"));
    if (!ts) {
        json_decref (in);
        return reply_error (r, 400, "Need to specify @type attribute");
    }
    const omr_type_t *t = blz_mj_type (ts);
    const kind_t *k = t ? kind_of_type (t->name) : NULL;
    if (!t) {
        json_decref (in);
        return reply_error (r, 400, "Unknown @type: %s", ts);
    }
    if (!k || !k->save) {
        json_decref (in);
        return reply_error (r, 405, "%s of %s not supported", create ? "Creation" : "Update", t->name);
    }
    json_t *idv = json_object_get (in, "@id");
    if (create && idv) {
        json_decref (in);
        return reply_error (r, 400, "Object has '@id' attribute. Use PUT to update objects");
    }
    if (!create && !json_is_integer (idv)) {
        json_decref (in);
        return reply_error (r, 400, "No '@id' attribute. Use POST to create new objects");
    }
    long long gid;
    int rc = param_int (m, "group", &gid);
    if (rc < 0) {
        json_decref (in);
        return 0;
    }
    if (rc) {
        if (!m->ctx.admin && !blz_ctx_member (&m->ctx, gid)) {
            json_decref (in);
            return reply_error (r, 403, "you are not a member of group %lld", gid);
        }
        m->ctx.group_id = gid;
    }
    json_t *obj = save_object (in, t, !create);
    json_decref (in);
    omr_err_t err = {0};
    if (blz_db_begin (m->db, &m->ctx, &err) < 0) {
        json_decref (obj);
        return reply_err (r, &err);
    }
    int64_t id = -1;
    if (!create) {
        id = json_integer_value (json_object_get (obj, "@id"));
        json_t *have = blz_query_load (m->db, t, id, &err);
        if (!have) {
            blz_db_rollback (m->db);
            json_decref (obj);
            return err.msg[0] ? reply_err (r, &err) : reply_error (r, 404, "%s %lld not found", t->name, (long long) id);
        }
        json_decref (have);
    }
    id = blz_update_save (r->app, m->db, &m->ctx, obj, &err);
    json_decref (obj);
    json_t *out = id >= 0 ? load_single (m, k, id, &err) : NULL;
    if (!out || blz_db_commit (m->db, &err) < 0) {
        blz_db_rollback (m->db);
        json_decref (out);
        return reply_err (r, &err);
    }
    blz_jsonapi_reply (r->call, create ? 201 : 200, json_pack ("{s:o}", "data", out), NULL);
    return 0;
}

/* Delete2 hands over the files of deleted rows: removed from disk after the commit. */
static int
collect_file (void *arg, const char *path, omr_err_t *err)
{
    json_array_append_new ((json_t *) arg, json_string (path));
    return 0;
}

/* DELETE /m/<kind>/<id>/: OMERO.web deletes with Delete2, so the object goes with what only it
 * contains (a Project's Datasets and their Images unless they are also elsewhere, annotations
 * nobody else uses …), all or nothing, in this request's transaction. The reply is the object
 * as it was. Files of deleted rows are removed after the commit (a crash in between leaves
 * files that `omero admin cleanse` finds unreferenced). */
static int
do_delete (mreq_t *m, const kind_t *k, long long id)
{
    const blz_jsonapi_req_t *r = m->r;
    if (!k->save)
        return reply_error (r, 405, "Delete of %s not supported", k->type);
    omr_err_t err = {0};
    if (blz_db_begin (m->db, &m->ctx, &err) < 0)
        return reply_err (r, &err);
    json_t *o = load_single (m, k, id, &err);
    if (!o) {
        blz_db_rollback (m->db);
        return err.msg[0] ? reply_err (r, &err) : reply_error (r, 404, "%s %lld not found", k->type, id);
    }
    json_t *req = json_pack ("{s:s,s:{s:[I]}}", "@type", "omero.cmd.Delete2", "targetObjects", k->type, (json_int_t) id);
    json_t *files = json_array ();
    json_t *resp = blz_gr_validate (req, &err) < 0 ? NULL
                                                   : blz_gr_run (r->app, m->db, &m->ctx, req, NULL, collect_file, files, &err);
    json_decref (req);
    if (!resp || blz_db_commit (m->db, &err) < 0) {
        blz_db_rollback (m->db);
        json_decref (resp);
        json_decref (files);
        json_decref (o);
        return reply_err (r, &err);
    }
    size_t i;
    json_t *f;
    json_array_foreach (files, i, f) {
        if (unlink (json_string_value (f)) < 0 && errno != ENOENT)
            omr_warn ("deleted %s %lld but could not remove %s: %s", k->type, id, json_string_value (f), strerror (errno));
    }
    json_decref (files);
    json_decref (resp);
    blz_jsonapi_reply (r->call, 200, json_pack ("{s:o}", "data", o), NULL);
    return 0;
}

/* ---- routing --------------------------------------------------------------------------------- */

/* Split "/api/v0/m/a/b/c/" into at most 6 segments; returns their count. */
static int
segments (const char *path, char seg[6][64])
{
    const char *p = path + strlen ("/api/v0/m/");
    int n = 0;
    while (*p) {
        const char *e = strchr (p, '/');
        size_t len = e ? (size_t) (e - p) : strlen (p);
        if (len == 0 || len >= 64 || n == 6)
            return -1;
        memcpy (seg[n], p, len);
        seg[n][len] = 0;
        n++;
        p += len + (e ? 1 : 0);
    }
    return n;
}

/* A path segment that is an object id (digits only), else -1. */
static long long
seg_id (const char *s)
{
    if (!*s || strlen (s) > 18)
        return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit ((unsigned char) *p))
            return -1;
    return atoll (s);
}

static int
method_not_allowed (const blz_jsonapi_req_t *r)
{
    return reply_error (r, 405, "Method %s not allowed", r->method);
}

int
blz_jsonapi_m_handle (const blz_jsonapi_req_t *r)
{
    char seg[6][64];
    int n = segments (r->path, seg);
    if (n <= 0)
        return reply_error (r, 404, "Not found: %s", r->path);
    bool get = !strcmp (r->method, "GET") || !strcmp (r->method, "HEAD");
    bool unsafe = !strcmp (r->method, "POST") || !strcmp (r->method, "PUT") || !strcmp (r->method, "DELETE")
                  || !strcmp (r->method, "PATCH");
    /* which route: save, list, single, nested */
    const kind_t *k = NULL;
    long long id = -1;
    const char *nest_param = NULL;
    bool save = false;
    if (n == 1 && !strcmp (seg[0], "save"))
        save = true;
    else if ((k = kind_named (seg[0], strlen (seg[0]))) == NULL)
        return reply_error (r, 404, "Not found: %s", r->path);
    else if (n >= 2 && (id = seg_id (seg[1])) < 0)
        return reply_error (r, 404, "Not found: %s", r->path);
    else if (n == 5) {
        long long index = seg_id (seg[3]);
        if ((strcmp (seg[0], "plates") && strcmp (seg[0], "plateacquisitions")) || strcmp (seg[2], "wellsampleindex")
            || index < 0 || strcmp (seg[4], "wells"))
            return reply_error (r, 404, "Not found: %s", r->path);
        if (!get)
            return method_not_allowed (r);
        mreq_t m = {.r = r, .db = blz_app_db (r->app, r->call)};
        omr_err_t err = {0};
        if (blz_call_ctx (r->call, &m.ctx, &err) < 0)
            return reply_error (r, 403, "Not logged in");
        m.q = parse_query (r->query);
        do_wsindex_wells (&m, k, id, index);
        json_decref (m.q);
        return 0;
    } else if (n == 3) {
        for (size_t i = 0; i < sizeof nested / sizeof nested[0]; i++)
            if (!strcmp (nested[i].parent, seg[0]) && !strcmp (nested[i].child, seg[2]))
                nest_param = nested[i].param;
        if (!nest_param)
            return reply_error (r, 404, "Not found: %s", r->path);
        k = kind_named (seg[2], strlen (seg[2]));
    } else if (n == 4 || n > 5)
        return reply_error (r, 404, "Not found: %s", r->path);
    /* allowed methods before anything else, as Django's views do */
    if (save && strcmp (r->method, "POST") && strcmp (r->method, "PUT"))
        return method_not_allowed (r);
    if (!save && n == 2 && !get && strcmp (r->method, "DELETE"))
        return method_not_allowed (r);
    if (!save && n != 2 && !get)
        return method_not_allowed (r);
    mreq_t m = {.r = r, .db = blz_app_db (r->app, r->call)};
    omr_err_t err = {0};
    if (blz_call_ctx (r->call, &m.ctx, &err) < 0)
        return reply_error (r, 403, "Not logged in");
    if (unsafe && !csrf_ok (r))
        return reply_error (r, 403, CSRF_FAILED);
    m.q = parse_query (r->query);
    if (nest_param) {
        char ids[32];
        json_object_set_new (m.q, nest_param, json_string (BLZ_I64 (ids, id)));
    }
    if (save)
        do_save (&m, !strcmp (r->method, "POST"));
    else if (n == 2 && !get)
        do_delete (&m, k, id);
    else if (n == 2)
        do_single (&m, k, id);
    else
        do_list (&m, k);
    json_decref (m.q);
    return 0;
}
