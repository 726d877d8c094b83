/* container: IContainer as HQL over the model, run as the caller (see container.h). */
#include "container.h"
#include "model_json.h"
#include "query.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    blz_app_t *app;
    blz_db_t *db;
    blz_ctx_t ctx;
    const json_t *body;
    const char *root;           /* rootType as a model type name */
    json_t *ids;                /* root ids (possibly empty) */
    bool leaves;
    int64_t owner;              /* options.experimenter, -1 = anyone */
} cop_t;

json_t *
blz_container_ids (const json_t *v, bool allow_none, omr_err_t *err)
{
    if (!v || json_is_null (v)) {
        if (allow_none)
            return json_array ();
        omr_err_set (err, OMR_E_API, 400, "give the ids (\"ids\": [1, 2])");
        return NULL;
    }
    if (json_is_integer (v))
        return json_pack ("[O]", v);
    if (!json_is_array (v)) {
        omr_err_set (err, OMR_E_API, 400, "ids must be a list of integers");
        return NULL;
    }
    json_t *out = json_array ();
    size_t i;
    json_t *e;
    json_array_foreach (v, i, e) {
        json_t *x = json_is_object (e) ? json_object_get (e, "@id") : e;
        if (!json_is_integer (x)) {
            json_decref (out);
            omr_err_set (err, OMR_E_API, 400, "ids must be a list of integers");
            return NULL;
        }
        json_array_append (out, x);
    }
    return out;
}

/* A value bare or wrapped as an rtype ({"@type": "rbool", "value": true}). */
static const json_t *
bare (const json_t *v)
{
    json_t *x = json_is_object (v) ? json_object_get (v, "value") : NULL;
    return x ? x : v;
}

int
blz_container_options (const json_t *body, blz_container_opts_t *out, blz_ctx_t *ctx, omr_err_t *err)
{
    *out = (blz_container_opts_t) {.owner = -1};
    const json_t *o = json_object_get (body, "options");
    if (o && !json_is_null (o) && !json_is_object (o))
        return omr_err_set (err, OMR_E_API, 400, "\"options\" must be an object");
    const json_t *map = json_object_get (o, "map"), *filter = json_object_get (o, "theFilter");
    const json_t *flags = json_is_object (map) ? map : o;
    out->leaves = json_is_true (bare (json_object_get (flags, "leaves")));
    out->orphan = json_is_true (bare (json_object_get (flags, "orphan")));
    const json_t *exp = bare (json_object_get (filter, "ownerId"));
    if (!exp)
        exp = bare (json_object_get (o, "experimenter"));
    if (!exp)
        exp = bare (json_object_get (o, "owner"));
    if (exp && !json_is_null (exp)) {
        if (!json_is_integer (exp))
            return omr_err_set (err, OMR_E_API, 400, "the experimenter option must be a user id");
        out->owner = json_integer_value (exp) >= 0 ? json_integer_value (exp) : -1;
    }
    if (blz_query_group_context (body, ctx, err) < 0 || (o && blz_query_group_context (o, ctx, err) < 0))
        return -1;
    const json_t *gid = bare (json_object_get (filter, "groupId"));
    if (json_is_integer (gid)) {
        json_t *g = json_pack ("{s:O}", "group", gid);
        int rc = blz_query_group_context (g, ctx, err);
        json_decref (g);
        return rc;
    }
    return 0;
}

/* The model type name a rootType names (class names in any of OMERO's spellings). */
static const char *
root_type (const json_t *body, const char *const *allowed, omr_err_t *err)
{
    const char *keys[] = {"rootType", "rootNodeType", "type", "class"};
    const char *s = NULL;
    for (int i = 0; i < 4 && !s; i++)
        s = blz_str (body, keys[i]);
    if (!s) {
        omr_err_set (err, OMR_E_API, 400, "give the \"rootType\" (e.g. \"Project\")");
        return NULL;
    }
    const omr_type_t *t = blz_mj_type (s);
    for (int i = 0; t && allowed[i]; i++)
        if (!strcmp (allowed[i], t->name))
            return allowed[i];
    omr_err_set (err, OMR_E_API, 400, "rootType %s is not supported here", s);
    return NULL;
}

/* Owner condition on alias a ("" when no experimenter was asked for). */
static void
owner_cond (const cop_t *op, const char *a, char *buf, size_t len)
{
    if (op->owner >= 0)
        snprintf (buf, len, " and %s.details.owner.id = :owner", a);
    else
        buf[0] = 0;
}

static json_t *
params_of (const cop_t *op)
{
    json_t *p = json_object ();
    if (json_array_size (op->ids))
        json_object_set (p, "ids", op->ids);
    if (op->owner >= 0)
        json_object_set_new (p, "owner", json_integer (op->owner));
    return p;
}

/* Run HQL with the op's parameters and append the objects to out. */
static int
run_into (cop_t *op, const char *hql, json_t *out, omr_err_t *err)
{
    json_t *p = params_of (op);
    json_t *r = blz_query_run (op->db, hql, p, 0, -1, 0, err);
    json_decref (p);
    if (!r)
        return -1;
    json_array_extend (out, r);
    json_decref (r);
    return 0;
}

/* Folders as a tree: every folder hangs in its parent's "ChildFolders". */
static json_t *
folder_tree (json_t *all, const json_t *ids)
{
    json_t *by = json_object ();
    size_t i;
    json_t *f;
    json_array_foreach (all, i, f) {
        char k[32];
        snprintf (k, sizeof k, "%lld", (long long) json_integer_value (json_object_get (f, "@id")));
        json_object_set (by, k, f);
        if (!json_object_get (f, "ChildFolders"))
            json_object_set_new (f, "ChildFolders", json_array ());
    }
    json_t *roots = json_array ();
    json_array_foreach (all, i, f) {
        json_int_t id = json_integer_value (json_object_get (f, "@id"));
        json_t *pref = json_object_get (json_object_get (f, "ParentFolder"), "@id");
        char k[32];
        snprintf (k, sizeof k, "%lld", (long long) json_integer_value (pref));
        json_t *parent = pref ? json_object_get (by, k) : NULL;
        /* never attach under a descendant (a cycle would make the reply infinite) */
        json_t *up = parent;
        for (int steps = 0; up && steps < 10000; steps++) {
            if (json_integer_value (json_object_get (up, "@id")) == id) {
                parent = NULL;
                break;
            }
            json_t *upid = json_object_get (json_object_get (up, "ParentFolder"), "@id");
            snprintf (k, sizeof k, "%lld", (long long) json_integer_value (upid));
            up = upid ? json_object_get (by, k) : NULL;
        }
        if (parent)
            json_array_append (json_object_get (parent, "ChildFolders"), f);
        bool wanted = false;
        if (json_array_size (ids)) {
            size_t j;
            json_t *x;
            json_array_foreach (ids, j, x) wanted |= json_integer_value (x) == id;
        } else
            wanted = !parent;
        if (wanted)
            json_array_append (roots, f);
    }
    json_decref (by);
    return roots;
}

/* A container type holding another through links (Project -> Dataset, Screen -> Plate): the HQL
 * names and aliases; the link alias is the two aliases and "l" (pdl, spl). */
typedef struct {
    const char *parent, *pa, *links, *child, *ca, *link_class;
} level_t;

/* Appends to out, for op->root being lv's parent or child type: the parents (the ids, or all) holding
 * their children with child_part fetched; the children asked for by id, or, without ids, all those in
 * no parent. */
static int
load_level (cop_t *op, const level_t *lv, const char *child_part, json_t *out, omr_err_t *err)
{
    bool byid = json_array_size (op->ids) > 0;
    char oc[96], hql[1024], which[160];
    if (!strcmp (op->root, lv->parent)) {
        owner_cond (op, lv->pa, oc, sizeof oc);
        if (byid)
            snprintf (which, sizeof which, "%s.id in (:ids)", lv->pa);
        snprintf (hql, sizeof hql,
                  "select %s from %s %s left outer join fetch %s.%s %s%sl left outer join fetch %s%sl.child %s "
                  "%s where %s%s order by lower(%s.name), %s.id",
                  lv->pa, lv->parent, lv->pa, lv->pa, lv->links, lv->pa, lv->ca, lv->pa, lv->ca, lv->ca, child_part,
                  byid ? which : "1 = 1", oc, lv->pa, lv->pa);
        if (run_into (op, hql, out, err) < 0)
            return -1;
    }
    bool asked = !strcmp (op->root, lv->child);
    if (asked || !byid) {
        owner_cond (op, lv->ca, oc, sizeof oc);
        if (!asked)
            snprintf (which, sizeof which, "%s.id not in (select l.child.id from %s l)", lv->ca, lv->link_class);
        else if (byid)
            snprintf (which, sizeof which, "%s.id in (:ids)", lv->ca);
        else
            snprintf (which, sizeof which, "1 = 1");
        snprintf (hql, sizeof hql, "select %s from %s %s %s where %s%s order by lower(%s.name), %s.id", lv->ca,
                  lv->child, lv->ca, child_part, which, oc, lv->ca, lv->ca);
        if (run_into (op, hql, out, err) < 0)
            return -1;
    }
    return 0;
}

static json_t *
load_hierarchy (cop_t *op, omr_err_t *err)
{
    static const char *const allowed[] = {"Project", "Dataset", "Screen", "Plate", "Folder", NULL};
    if (!(op->root = root_type (op->body, allowed, err)))
        return NULL;
    char oc[96], hql[1024];
    json_t *out = json_array ();
    const char *r = op->root;
    if (!strcmp (r, "Project") || !strcmp (r, "Dataset")) {
        const char *dataset_part = op->leaves ? "left outer join fetch d.imageLinks dil left outer join fetch dil.child i "
                                                "left outer join fetch i.pixels pix left outer join fetch pix.pixelsType "
                                              : "left outer join fetch d.imageLinksCountPerOwner ";
        static const level_t pd = {"Project", "p", "datasetLinks", "Dataset", "d", "ProjectDatasetLink"};
        if (load_level (op, &pd, dataset_part, out, err) < 0)
            goto fail;
    } else if (!strcmp (r, "Screen") || !strcmp (r, "Plate")) {
        const char *plate_part = op->leaves ? "left outer join fetch pl.wells w left outer join fetch w.wellSamples ws "
                                              "left outer join fetch ws.image i "
                                            : "left outer join fetch pl.wellsCountPerOwner ";
        static const level_t sp = {"Screen", "s", "plateLinks", "Plate", "pl", "ScreenPlateLink"};
        if (load_level (op, &sp, plate_part, out, err) < 0)
            goto fail;
    } else {
        owner_cond (op, "f", oc, sizeof oc);
        snprintf (hql, sizeof hql, "select f from Folder f %s where 1 = 1%s order by lower(f.name), f.id",
                  op->leaves ? "left outer join fetch f.imageLinks fil left outer join fetch fil.child i "
                               "left outer join fetch f.roiLinks frl left outer join fetch frl.child r"
                             : "left outer join fetch f.imageLinksCountPerOwner left outer join fetch f.roiLinksCountPerOwner",
                  oc);
        json_t *all = json_array ();
        if (run_into (op, hql, all, err) < 0) {
            json_decref (all);
            goto fail;
        }
        json_t *roots = folder_tree (all, op->ids);
        json_decref (all);
        json_decref (out);
        out = roots;
    }
    return out;
fail:
    json_decref (out);
    return NULL;
}

static json_t *
find_hierarchies (cop_t *op, omr_err_t *err)
{
    static const char *const allowed[] = {"Project", NULL};
    if (!root_type (op->body, allowed, err))
        return NULL;
    json_t *out = json_array ();
    if (!json_array_size (op->ids))
        return out;
    const char *img = "join fetch d.imageLinks dil join fetch dil.child i left outer join fetch i.pixels pix "
                      "left outer join fetch pix.pixelsType ";
    char hql[1024];
    snprintf (hql, sizeof hql,
              "select p from Project p join fetch p.datasetLinks pdl join fetch pdl.child d %s where i.id in (:ids) "
              "order by lower(p.name), p.id",
              img);
    if (run_into (op, hql, out, err) < 0)
        goto fail;
    snprintf (hql, sizeof hql,
              "select d from Dataset d %s where i.id in (:ids) and d.id not in (select l.child.id from "
              "ProjectDatasetLink l) order by lower(d.name), d.id",
              img);
    if (run_into (op, hql, out, err) < 0)
        goto fail;
    snprintf (hql, sizeof hql,
              "select i from Image i left outer join fetch i.pixels pix left outer join fetch pix.pixelsType where "
              "i.id in (:ids) and i.id not in (select l.child.id from DatasetImageLink l) order by lower(i.name), i.id");
    if (run_into (op, hql, out, err) < 0)
        goto fail;
    return out;
fail:
    json_decref (out);
    return NULL;
}

static json_t *
get_images (cop_t *op, omr_err_t *err)
{
    static const char *const allowed[] = {"Project", "Dataset", "Image", "Screen", "Plate", "Well", "Folder", NULL};
    const char *r = root_type (op->body, allowed, err);
    if (!r)
        return NULL;
    if (!json_array_size (op->ids))
        return json_array ();
    static const struct {
        const char *type, *cond;
    } conds[] = {
        {"Project", "i.id in (select dil.child.id from DatasetImageLink dil where dil.parent.id in "
                    "(select pdl.child.id from ProjectDatasetLink pdl where pdl.parent.id in (:ids)))"},
        {"Dataset", "i.id in (select dil.child.id from DatasetImageLink dil where dil.parent.id in (:ids))"},
        {"Image", "i.id in (:ids)"},
        {"Screen", "i.id in (select ws.image.id from WellSample ws where ws.well.plate.id in "
                   "(select spl.child.id from ScreenPlateLink spl where spl.parent.id in (:ids)))"},
        {"Plate", "i.id in (select ws.image.id from WellSample ws where ws.well.plate.id in (:ids))"},
        {"Well", "i.id in (select ws.image.id from WellSample ws where ws.well.id in (:ids))"},
        {"Folder", "i.id in (select fil.child.id from FolderImageLink fil where fil.parent.id in (:ids))"},
    };
    const char *cond = NULL;
    for (size_t k = 0; k < sizeof conds / sizeof conds[0]; k++)
        if (!strcmp (conds[k].type, r))
            cond = conds[k].cond;
    char oc[96], hql[1024];
    owner_cond (op, "i", oc, sizeof oc);
    snprintf (hql, sizeof hql,
              "select i from Image i left outer join fetch i.pixels pix left outer join fetch pix.pixelsType "
              "where %s%s order by lower(i.name), i.id",
              cond, oc);
    json_t *out = json_array ();
    if (run_into (op, hql, out, err) < 0) {
        json_decref (out);
        return NULL;
    }
    return out;
}

static json_t *
collection_count (cop_t *op, omr_err_t *err)
{
    const char *ts = blz_str (op->body, "type");
    const char *prop = blz_str (op->body, "property");
    if (!ts || !prop) {
        omr_err_set (err, OMR_E_API, 400, "give \"type\" and \"property\" (e.g. \"Dataset\", \"imageLinks\")");
        return NULL;
    }
    const omr_type_t *t = blz_mj_type (ts);
    if (!t) {
        omr_err_set (err, OMR_E_API, 400, "unknown type '%s'", ts);
        return NULL;
    }
    /* OMERO names the property "ome.model.containers.Dataset_imageLinks" */
    const char *us = strrchr (prop, '_');
    const char *fname = us ? us + 1 : prop;
    const omr_field_t *f = hql_model_field (t, fname);
    if (!f || f->kind != OMR_FIELD_COLLECTION) {
        omr_err_set (err, OMR_E_API, 400, "%s has no collection '%s'", t->name, fname);
        return NULL;
    }
    json_t *out = json_object ();
    if (!json_array_size (op->ids))
        return out;
    char hql[512];
    snprintf (hql, sizeof hql, "select x.id, size(x.%s) from %s x where x.id in (:ids)", f->name, t->name);
    json_t *p = json_pack ("{s:O}", "ids", op->ids);
    json_t *rows = blz_query_run (op->db, hql, p, 0, -1, BLZ_MJ_ROWS, err);
    json_decref (p);
    if (!rows) {
        json_decref (out);
        return NULL;
    }
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        char k[32];
        snprintf (k, sizeof k, "%lld", (long long) json_integer_value (json_array_get (row, 0)));
        json_object_set (out, k, json_array_get (row, 1));
    }
    json_decref (rows);
    return out;
}

static int
dispatch (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    const char *method = strchr (omr_msg_op (call->req), '.') + 1;
    cop_t op = {.app = app, .db = blz_app_db (app, call), .body = call->req->body, .owner = -1};
    if (blz_call_ctx (call, &op.ctx, err) < 0)
        return -1;
    if (!json_is_object (op.body))
        return omr_err_set (err, OMR_E_API, 400, "the arguments must be a JSON object");
    json_t *(*fn) (cop_t *, omr_err_t *) = NULL;
    if (!strcmp (method, "loadContainerHierarchy"))
        fn = load_hierarchy;
    else if (!strcmp (method, "findContainerHierarchies"))
        fn = find_hierarchies;
    else if (!strcmp (method, "getImages"))
        fn = get_images;
    else if (!strcmp (method, "getCollectionCount"))
        fn = collection_count;
    else
        return omr_err_set (err, OMR_E_API, 404, "IContainer has no method %s", method);
    blz_container_opts_t opts;
    if (blz_container_options (op.body, &opts, &op.ctx, err) < 0)
        return -1;
    op.leaves = opts.leaves;
    op.owner = opts.owner;
    const char *idkeys[] = {"ids", "rootIds", "rootNodeIds", "imageIds"};
    json_t *idv = NULL;
    for (int i = 0; i < 4 && !idv; i++)
        idv = json_object_get (op.body, idkeys[i]);
    op.ids = blz_container_ids (idv, true, err);
    if (!op.ids)
        return -1;
    if (blz_db_begin (op.db, &op.ctx, err) < 0) {
        json_decref (op.ids);
        return -1;
    }
    return blz_container_reply (call, op.db, op.ids, fn (&op, err));
}

int
blz_container_reply (omr_call_t *call, blz_db_t *db, json_t *ids, json_t *data)
{
    blz_db_rollback (db);    /* reads only */
    json_decref (ids);
    if (!data)
        return -1;
    call->reply = json_pack ("{s:o}", "data", data);
    return 0;
}

void
blz_container_register (blz_app_t *app)
{
    omr_server_on (app->server, "IContainer.*", dispatch, app);
}
