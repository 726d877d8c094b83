/* metadata: IMetadata's annotation loaders as HQL run as the caller (see metadata.h). */
#include "metadata.h"
#include "container.h"
#include "hql/hql_model.h"
#include "model_json.h"
#include "query.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    blz_db_t *db;
    blz_ctx_t ctx;
    const json_t *body;
    json_t *ids;
    bool orphan;                /* options.orphan (loadTagSets) */
    int64_t owner;              /* options.experimenter, -1 = anyone */
} mop_t;

/* The annotation type a class name names, or NULL with ApiUsageException. */
static const omr_type_t *
annotation_type (const char *s, omr_err_t *err)
{
    const omr_type_t *t = s ? blz_mj_type (s) : NULL;
    const omr_type_t *ann = blz_mj_type ("Annotation");
    if (t && t != ann)
        for (int p = t->parent; p >= 0; p = hql_model_type (p)->parent)
            if (hql_model_type (p) == ann)
                return t;
    if (t == ann)
        return t;
    omr_err_set (err, OMR_E_API, 400, "'%s' is not an annotation type", s ? s : "");
    return NULL;
}

/* The link type of annotations on objects of type t ("ImageAnnotationLink"), or NULL. */
static const omr_type_t *
link_type (const omr_type_t *t)
{
    char name[128];
    snprintf (name, sizeof name, "%sAnnotationLink", t->name);
    return blz_mj_type (name);
}

static void
key_of (const json_t *idv, char k[32])
{
    snprintf (k, 32, "%lld", (long long) json_integer_value (idv));
}

/* An object with a key per id (its decimal form), each holding a new empty array when lists, else 0. */
static json_t *
keyed_by_ids (const json_t *ids, bool lists)
{
    json_t *out = json_object ();
    size_t i;
    json_t *e;
    json_array_foreach (ids, i, e) {
        char k[32];
        key_of (e, k);
        json_object_set_new (out, k, lists ? json_array () : json_integer (0));
    }
    return out;
}

/* Appends each link's `take` side to the list in out under the id of its `by` side ("Parent" or
 * "Child"); links whose key is not in out are skipped. */
static void
append_links (json_t *out, const json_t *links, const char *by, const char *take)
{
    size_t i;
    json_t *e;
    json_array_foreach (links, i, e) {
        char k[32];
        key_of (json_object_get (json_object_get (e, by), "@id"), k);
        json_t *list = json_object_get (out, k), *item = json_object_get (e, take);
        if (list && item)
            json_array_append (list, item);
    }
}

static json_t *
load_annotations (mop_t *op, omr_err_t *err)
{
    const char *rs = blz_str (op->body, "rootType");
    if (!rs)
        rs = blz_str (op->body, "rootNodeType");
    const omr_type_t *t = rs ? blz_mj_type (rs) : NULL;
    const omr_type_t *lt = t ? link_type (t) : NULL;
    if (!lt) {
        omr_err_set (err, OMR_E_API, 400, "rootType %s cannot be annotated", rs ? rs : "(none)");
        return NULL;
    }
    char cond[1024] = "";
    const json_t *types = json_object_get (op->body, "annotationTypes");
    if (types && !json_is_null (types)) {
        if (!json_is_array (types))
            return omr_err_set (err, OMR_E_API, 400, "annotationTypes must be a list of class names"), NULL;
        size_t i;
        json_t *e;
        json_array_foreach (types, i, e) {
            const omr_type_t *at = annotation_type (json_string_value (e), err);
            if (!at)
                return NULL;
            size_t n = strlen (cond);
            snprintf (cond + n, sizeof cond - n, "%sa.class = %s", i ? " or " : " and (", at->name);
        }
        if (json_array_size (types))
            strncat (cond, ")", sizeof cond - strlen (cond) - 1);
    }
    json_t *params = json_pack ("{s:O}", "ids", op->ids);
    const json_t *annotators = json_object_get (op->body, "annotatorIds");
    if (annotators && !json_is_null (annotators)) {
        json_t *ann = blz_container_ids (annotators, true, err);
        if (!ann) {
            json_decref (params);
            return NULL;
        }
        if (json_array_size (ann)) {
            strncat (cond, " and a.details.owner.id in (:annotators)", sizeof cond - strlen (cond) - 1);
            json_object_set (params, "annotators", ann);
        }
        json_decref (ann);
    }
    char hql[1400];
    snprintf (hql, sizeof hql,
              "select l from %s l join fetch l.child a left outer join fetch a.file where l.parent.id in (:ids)%s "
              "order by l.id",
              lt->name, cond);
    json_t *out = keyed_by_ids (op->ids, true);
    json_t *links = json_array_size (op->ids) ? blz_query_run (op->db, hql, params, 0, -1, 0, err) : json_array ();
    json_decref (params);
    if (!links) {
        json_decref (out);
        return NULL;
    }
    append_links (out, links, "Parent", "Child");
    json_decref (links);
    return out;
}

/* A list of namespaces (strings) from the arguments; NULL with err when malformed. */
static json_t *
ns_list (const json_t *v, const char *what, omr_err_t *err)
{
    json_t *out = json_array ();
    if (!v || json_is_null (v))
        return out;
    if (json_is_string (v)) {
        json_array_append (out, (json_t *) v);
        return out;
    }
    size_t i;
    json_t *e;
    if (!json_is_array (v))
        goto bad;
    json_array_foreach (v, i, e) {
        if (!json_is_string (e))
            goto bad;
        json_array_append (out, e);
    }
    return out;
bad:
    json_decref (out);
    omr_err_set (err, OMR_E_API, 400, "%s must be a list of namespaces", what);
    return NULL;
}

static json_t *
load_specified (mop_t *op, omr_err_t *err)
{
    const char *ts = blz_str (op->body, "annotationType");
    if (!ts)
        ts = blz_str (op->body, "type");
    const omr_type_t *t = annotation_type (ts, err);
    if (!t)
        return NULL;
    json_t *inc = ns_list (json_object_get (op->body, "include"), "include", err);
    json_t *exc = inc ? ns_list (json_object_get (op->body, "exclude"), "exclude", err) : NULL;
    if (!exc) {
        json_decref (inc);
        return NULL;
    }
    json_t *params = json_object ();
    char hql[1024];
    size_t n = (size_t) snprintf (hql, sizeof hql, "select a from Annotation a left outer join fetch a.file where a.class = %s",
                                  t->name);
    if (json_array_size (inc)) {
        n += (size_t) snprintf (hql + n, sizeof hql - n, " and a.ns in (:include)");
        json_object_set (params, "include", inc);
    }
    if (json_array_size (exc)) {
        n += (size_t) snprintf (hql + n, sizeof hql - n, " and (a.ns is null or a.ns not in (:exclude))");
        json_object_set (params, "exclude", exc);
    }
    if (op->owner >= 0) {
        n += (size_t) snprintf (hql + n, sizeof hql - n, " and a.details.owner.id = :owner");
        json_object_set_new (params, "owner", json_integer (op->owner));
    }
    snprintf (hql + n, sizeof hql - n, " order by a.id");
    json_t *out = blz_query_run (op->db, hql, params, 0, -1, 0, err);
    json_decref (params);
    json_decref (inc);
    json_decref (exc);
    return out;
}

/* Objects that can be found through a tag by loadTagContent. */
static const char *const tag_targets[] = {"Project", "Dataset", "Image", "Screen", "Plate", "PlateAcquisition",
                                          "Well", "Folder", NULL};

static json_t *
tagged_count (mop_t *op, omr_err_t *err)
{
    json_t *out = keyed_by_ids (op->ids, false);
    size_t i;
    if (!json_array_size (op->ids))
        return out;
    json_t *params = json_pack ("{s:O}", "ids", op->ids);
    for (int ti = 0; ti < OMR_MODEL_NTYPES; ti++) {
        const omr_type_t *t = hql_model_type (ti);
        size_t len = strlen (t->name);
        if (!(t->flags & OMR_TF_LINK) || len < 14 || strcmp (t->name + len - 14, "AnnotationLink")
            || !strcmp (t->name, "AnnotationAnnotationLink"))
            continue;
        char hql[256];
        snprintf (hql, sizeof hql, "select l.child.id, count(l.id) from %s l where l.child.id in (:ids) group by l.child.id",
                  t->name);
        json_t *rows = blz_query_run (op->db, hql, params, 0, -1, BLZ_MJ_ROWS, err);
        if (!rows) {
            json_decref (params);
            json_decref (out);
            return NULL;
        }
        json_t *row;
        json_array_foreach (rows, i, row) {
            char k[32];
            key_of (json_array_get (row, 0), k);
            json_t *c = json_object_get (out, k);
            json_object_set_new (out, k, json_integer (json_integer_value (c) + json_integer_value (json_array_get (row, 1))));
        }
        json_decref (rows);
    }
    json_decref (params);
    return out;
}

static json_t *
tag_content (mop_t *op, omr_err_t *err)
{
    json_t *out = keyed_by_ids (op->ids, true);
    if (!json_array_size (op->ids))
        return out;
    json_t *params = json_pack ("{s:O}", "ids", op->ids);
    for (int ti = 0; tag_targets[ti]; ti++) {
        const omr_type_t *lt = link_type (blz_mj_type (tag_targets[ti]));
        char hql[256];
        snprintf (hql, sizeof hql, "select l from %s l join fetch l.parent p where l.child.id in (:ids) order by p.id",
                  lt->name);
        json_t *links = blz_query_run (op->db, hql, params, 0, -1, 0, err);
        if (!links) {
            json_decref (params);
            json_decref (out);
            return NULL;
        }
        append_links (out, links, "Child", "Parent");
        json_decref (links);
    }
    json_decref (params);
    return out;
}

static json_t *
tag_sets (mop_t *op, omr_err_t *err)
{
    json_t *params = json_pack ("{s:s}", "ns", BLZ_TAGSET_NS);
    char oc[64] = "", hql[1024];
    if (op->owner >= 0) {
        snprintf (oc, sizeof oc, " and t.details.owner.id = :owner");
        json_object_set_new (params, "owner", json_integer (op->owner));
    }
    int64_t id = blz_int (op->body, "id", -1);
    if (id >= 0)
        json_object_set_new (params, "id", json_integer (id));
    snprintf (hql, sizeof hql,
              "select t from TagAnnotation t left outer join fetch t.annotationLinks l left outer join fetch l.child c "
              "where t.ns = :ns%s%s order by lower(t.textValue), t.id",
              oc, id >= 0 ? " and t.id = :id" : "");
    json_t *out = blz_query_run (op->db, hql, params, 0, -1, 0, err);
    if (out && op->orphan) {
        snprintf (hql, sizeof hql,
                  "select t from TagAnnotation t where (t.ns is null or t.ns <> :ns)%s and t.id not in "
                  "(select l.child.id from AnnotationAnnotationLink l where l.parent.ns = :ns) "
                  "order by lower(t.textValue), t.id",
                  oc);
        json_object_del (params, "id");
        json_t *orphans = blz_query_run (op->db, hql, params, 0, -1, 0, err);
        if (!orphans) {
            json_decref (out);
            out = NULL;
        } else {
            json_array_extend (out, orphans);
            json_decref (orphans);
        }
    }
    json_decref (params);
    return out;
}

static int
dispatch (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    const char *method = strchr (omr_msg_op (call->req), '.') + 1;
    mop_t op = {.db = blz_app_db (app, call), .body = call->req->body, .owner = -1};
    if (blz_call_ctx (call, &op.ctx, err) < 0)
        return -1;
    if (!json_is_object (op.body))
        return omr_err_set (err, OMR_E_API, 400, "the arguments must be a JSON object");
    json_t *(*fn) (mop_t *, omr_err_t *) = NULL;
    bool need_ids = true;
    if (!strcmp (method, "loadAnnotations"))
        fn = load_annotations;
    else if (!strcmp (method, "loadSpecifiedAnnotations"))
        fn = load_specified, need_ids = false;
    else if (!strcmp (method, "getTaggedObjectsCount"))
        fn = tagged_count;
    else if (!strcmp (method, "loadTagContent"))
        fn = tag_content;
    else if (!strcmp (method, "loadTagSets"))
        fn = tag_sets, need_ids = false;
    else
        return omr_err_set (err, OMR_E_API, 404, "IMetadata has no method %s", method);
    blz_container_opts_t opts;
    if (blz_container_options (op.body, &opts, &op.ctx, err) < 0)
        return -1;
    op.owner = opts.owner;
    op.orphan = opts.orphan;
    json_t *idv = json_object_get (op.body, "ids");
    if (!idv)
        idv = json_object_get (op.body, "rootIds");
    if (!idv)
        idv = json_object_get (op.body, "tagIds");
    op.ids = need_ids ? blz_container_ids (idv, false, err) : json_array ();
    if (!op.ids)
        return -1;
    if (blz_db_begin (op.db, &op.ctx, err) < 0) {
        json_decref (op.ids);
        return -1;
    }
    return blz_container_reply (call, op.db, op.ids, fn (&op, err));
}

void
blz_metadata_register (blz_app_t *app)
{
    omr_server_on (app->server, "IMetadata.*", dispatch, app);
}
