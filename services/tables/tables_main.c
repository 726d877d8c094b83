/* omero-tables: the Tables-N server. Serves every omero.grid.Table method as grid operation
 * "Table.<method>" (Table.getWhereList, Table.addData …) on the table whose OriginalFile id is
 * the body's "fileId", plus Table.newTable {name, path?} -> {"fileId"} (a new OriginalFile
 * with mimetype OMERO.tables in the caller's current group), Table.getOriginalFile {fileId}
 * (that OriginalFile in the JSON API's form), Table.close {fileId} (records the
 * file's checksum after writes) and TablesWeb.handle (OMERO.web's /webgateway/table/ URLs).
 *
 * Every call runs as its caller: the request's ctx (the session's context, added by the router)
 * starts a database transaction in which PostgreSQL's row-level security and omero_rights()
 * decide, as for Blitz, whether the caller may see the OriginalFile (else NotFoundException)
 * and, for writes, edit it (else SecurityViolation). The bytes live where RawFileStore keeps
 * them (services/blitz/rawfile.h), so a table downloads like any file and a file uploaded with
 * mimetype OMERO.tables opens as a table. Writes record the new size (and clear the checksum)
 * in the same transaction; context key omero.tables.include_row_numbers = "false" drops
 * rowNumbers from Data replies, as in OMERO. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "omr_log.h"
#include "omr_server.h"
#include "services/blitz/model_json.h"
#include "services/blitz/query.h"
#include "table_api.h"
#include "table_file.h"
#include "table_web.h"

typedef struct {
    omr_config_t *config;
    double lock_timeout_s;
    blz_db_t **dbs;             /* one connection per worker */
    int nworkers;
} tables_app_t;

typedef struct {
    tables_app_t *app;
    const tbl_api_method_t *method;
} tables_route_t;

/* mkdir -p of the directory part of path. */
static int
make_parents (const char *path)
{
    char buf[4096];
    snprintf (buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir (buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

static blz_db_t *
call_db (tables_app_t *app, omr_call_t *call, omr_err_t *err)
{
    if (call->worker < 0 || call->worker >= app->nworkers) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "no database connection for worker %d", call->worker);
        return NULL;
    }
    return app->dbs[call->worker];
}

static void
call_opts (omr_call_t *call, tables_app_t *app, tbl_api_opts_t *opts)
{
    memset (opts, 0, sizeof *opts);
    opts->lock_timeout_s = app->lock_timeout_s;
    const char *irn = json_string_value (json_object_get (omr_msg_ctx (call->req), "omero.tables.include_row_numbers"));
    if (irn && strcasecmp (irn, "false") == 0)
        opts->omit_row_numbers = 1;
}

/* Begin a transaction as the caller over all their groups (as OMERO.web and RawFileStore
 * look files up) and load OriginalFile id; for writes, continue in the file's group so the
 * Event of the change belongs to it. */
static int
open_file (tables_app_t *app, blz_db_t *db, const blz_ctx_t *ctx, int64_t id, bool write, tbl_file_t *f,
           omr_err_t *err)
{
    blz_ctx_t all = *ctx;
    all.group_id = -1;
    memset (f, 0, sizeof *f);
    if (blz_db_begin (db, &all, err) < 0)
        return -1;
    if (tbl_file_load (db, ctx, app->config, id, write, f, err) < 0) {
        blz_db_rollback (db);
        return -1;
    }
    if (!write) {
        blz_db_rollback (db);
        return 0;
    }
    blz_ctx_t in_group = *ctx;
    in_group.group_id = f->group;
    return blz_db_begin (db, &in_group, err);
}

static int
new_table (omr_call_t *call, omr_err_t *err, tables_app_t *app, const blz_ctx_t *ctx)
{
    json_t *body = call->req->body;
    json_t *name = json_object_get (body, "name"), *path = json_object_get (body, "path");
    if (!json_is_string (name) || (path && !json_is_string (path)))
        return omr_err_set (err, OMR_E_API, 400, "Table.newTable needs {\"name\": text, \"path\": text (optional)}");
    blz_db_t *db = call_db (app, call, err);
    if (!db || blz_db_begin (db, ctx, err) < 0)
        return -1;
    int64_t id = tbl_file_create (db, ctx, json_string_value (name), json_string_value (path), err);
    if (id < 0 || blz_db_commit (db, err) < 0) {
        blz_db_rollback (db);
        return -1;
    }
    call->reply = json_pack ("{s:I}", "fileId", (json_int_t) id);
    return 0;
}

/* Table.close: OMERO updates the file's size and checksum when a modified table is closed. */
static int
close_table (omr_call_t *call, omr_err_t *err, tables_app_t *app, const blz_ctx_t *ctx, int64_t id)
{
    blz_db_t *db = call_db (app, call, err);
    tbl_file_t f = {0};
    if (!db || open_file (app, db, ctx, id, false, &f, err) < 0) {
        tbl_file_clear (&f);
        return -1;
    }
    int rc = 0;
    if (!f.hashed && !f.in_repo && (f.rights & 1) && access (f.path, F_OK) == 0) {
        tbl_file_clear (&f);
        if (open_file (app, db, ctx, id, true, &f, err) < 0 || tbl_file_record (db, &f, true, err) < 0
            || blz_db_commit (db, err) < 0) {
            blz_db_rollback (db);
            rc = -1;
        }
    }
    tbl_file_clear (&f);
    return rc;
}

/* Table.getOriginalFile: the table's OriginalFile as the caller sees it (JSON API form). */
static int
get_original_file (omr_call_t *call, omr_err_t *err, tables_app_t *app, const blz_ctx_t *ctx, int64_t id)
{
    blz_db_t *db = call_db (app, call, err);
    tbl_file_t f = {0};
    if (!db || open_file (app, db, ctx, id, false, &f, err) < 0) {
        tbl_file_clear (&f);
        return -1;
    }
    tbl_file_clear (&f);
    blz_ctx_t all = *ctx;
    all.group_id = -1;
    if (blz_db_begin (db, &all, err) < 0)
        return -1;
    json_t *o = blz_query_load (db, hql_model_type (OMR_TYPE_OriginalFile), id, err);
    blz_db_rollback (db);
    if (!o)
        return err->name[0] ? -1 : omr_err_set (err, OMR_E_NOTFOUND, 404, "no readable OriginalFile:%lld", (long long) id);
    call->reply = o;
    return 0;
}

static int
table_handler (omr_call_t *call, omr_err_t *err, void *arg)
{
    tables_route_t *route = arg;
    tables_app_t *app = route->app;
    const char *mname = route->method ? route->method->name : "close";
    json_t *body = call->req->body;
    blz_ctx_t ctx;
    if (blz_ctx_from_json (&ctx, omr_msg_ctx (call->req), err) < 0)
        return -1;
    if (!route->method && !strcmp (omr_msg_op (call->req), "Table.newTable"))
        return new_table (call, err, app, &ctx);
    if (!json_is_object (body))
        return omr_err_set (err, OMR_E_API, 400, "Table.%s needs a JSON object body with fileId", mname);
    json_t *fid = json_object_get (body, "fileId");
    if (!json_is_integer (fid) || json_integer_value (fid) <= 0)
        return omr_err_set (err, OMR_E_API, 400, "Table.%s needs fileId (the table's OriginalFile id)", mname);
    int64_t id = (int64_t) json_integer_value (fid);
    if (!route->method && !strcmp (omr_msg_op (call->req), "Table.getOriginalFile"))
        return get_original_file (call, err, app, &ctx, id);
    if (!route->method)
        return close_table (call, err, app, &ctx, id);
    bool writes = route->method->writes != 0;
    bool deletes = !strcmp (mname, "delete");
    blz_db_t *db = call_db (app, call, err);
    tbl_file_t f = {0};
    if (!db || open_file (app, db, &ctx, id, writes, &f, err) < 0) {
        tbl_file_clear (&f);
        return -1;
    }
    tbl_api_opts_t opts;
    call_opts (call, app, &opts);
    json_t *res = NULL;
    if (writes && make_parents (f.path) < 0)
        omr_err_set (err, OMR_E_RESOURCE, 500, "Cannot create the directory of OriginalFile:%lld", (long long) id);
    /* delete: the row first (refused while annotations use it), then the bytes, then commit */
    else if (!deletes || tbl_file_remove (db, &f, err) == 0)
        res = route->method->fn (f.path, body, &opts, err);
    if (res && writes && !deletes && tbl_file_record (db, &f, false, err) < 0) {
        json_decref (res);
        res = NULL;
    }
    if (res && writes && blz_db_commit (db, err) < 0) {
        json_decref (res);
        res = NULL;
    }
    if (writes && !res)
        blz_db_rollback (db);
    tbl_file_clear (&f);
    if (!res)
        return -1;
    call->reply = res;
    return 0;
}

#define NS_BULK "openmicroscopy.org/omero/bulk_annotations"

/* The bulk-annotation tables of an object as OMERO.web's _bulk_file_annotations finds them (as
 * the caller, across their groups): [{annId, fileId, owner, addedBy, parentId, addedOn}], or
 * NULL with *status and *msg set. */
static json_t *
bulk_annotations (blz_db_t *db, const blz_ctx_t *ctx, const char *objtype, int64_t objid, int *status, char *msg,
                  size_t msglen)
{
    char *exists = NULL, *links = NULL;
    json_t *params = json_pack ("{s:I}", "id", (json_int_t) objid);
    json_t *found = NULL, *rows = NULL, *anns = NULL, *out = NULL;
    blz_ctx_t all = *ctx;
    all.group_id = -1;
    omr_err_t e = {0};
    if (tbl_web_bulk_hql (objtype, &exists, &links) < 0 || blz_db_begin (db, &all, &e) < 0) {
        *status = e.status >= 400 ? e.status : 500;
        snprintf (msg, msglen, "%s", e.msg[0] ? e.msg : "out of memory");
        goto done;
    }
    found = blz_query_run (db, exists, params, 0, 1, BLZ_MJ_ROWS, &e);
    if (!found) {
        *status = e.status >= 500 ? e.status : 400;
        snprintf (msg, msglen, "%s cannot be queried", objtype);
        goto done;
    }
    if (!json_array_size (found)) {
        *status = 404;
        snprintf (msg, msglen, "%s with id %lld not found", objtype, (long long) objid);
        goto done;
    }
    rows = blz_query_run (db, links, params, 0, -1, BLZ_MJ_ROWS, &e);
    json_t *ids = json_array ();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r)
        json_array_append (ids, json_array_get (r, 1));
    if (rows && json_array_size (ids)) {
        json_t *p2 = json_pack ("{s:o, s:s}", "ids", json_incref (ids), "ns", NS_BULK);
        anns = blz_query_run (db,
                              "select a.id, a.file.id, a.details.owner.firstName, a.details.owner.lastName "
                              "from FileAnnotation a where a.id in (:ids) and a.ns = :ns and a.file is not null",
                              p2, 0, -1, BLZ_MJ_ROWS, &e);
        json_decref (p2);
    }
    json_decref (ids);
    if (!rows || (json_array_size (rows) && !anns)) {
        *status = e.status >= 400 ? e.status : 500;
        snprintf (msg, msglen, "%s", e.msg);
        goto done;
    }
    out = json_array ();
    json_t *a;
    json_array_foreach (anns, i, a) {
        json_t *link = NULL;
        size_t k;
        json_array_foreach (rows, k, r)
            if (json_equal (json_array_get (r, 1), json_array_get (a, 0)))
                link = r;
        char owner[520], added[520];
        snprintf (owner, sizeof owner, "%s %s", json_string_value (json_array_get (a, 2)) ?: "",
                  json_string_value (json_array_get (a, 3)) ?: "");
        snprintf (added, sizeof added, "%s %s", json_string_value (json_array_get (link, 2)) ?: "",
                  json_string_value (json_array_get (link, 3)) ?: "");
        json_array_append_new (out, json_pack ("{s:O, s:O, s:s, s:s, s:O, s:O}", "annId", json_array_get (a, 0),
                                               "fileId", json_array_get (a, 1), "owner", owner, "addedBy", added,
                                               "parentId", json_array_get (link, 0), "addedOn",
                                               json_array_get (link, 4) ?: json_null ()));
    }
done:
    blz_db_rollback (db);
    free (exists);
    free (links);
    json_decref (params);
    json_decref (found);
    json_decref (rows);
    json_decref (anns);
    return out;
}

/* OMERO.web's object_table_query: of the object's bulk-annotation tables, the newest (highest
 * file id) that the caller can open and that answers the query, with the annotation's details. */
static json_t *
object_query (tables_app_t *app, blz_db_t *db, const blz_ctx_t *ctx, const char *objtype, int64_t objid,
              const char *query, int *status)
{
    char msg[1024];
    json_t *anns = bulk_annotations (db, ctx, objtype, objid, status, msg, sizeof msg);
    if (!anns)
        return json_pack ("{s:s}", "error", msg);
    if (!json_array_size (anns)) {
        json_decref (anns);
        *status = 404;
        return json_pack ("{s:s}", "error", "Could not retrieve bulk annotations table");
    }
    /* newest file first */
    size_t n = json_array_size (anns);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            json_t *a = json_array_get (anns, j - 1), *b = json_array_get (anns, j);
            if (json_integer_value (json_object_get (a, "fileId")) >= json_integer_value (json_object_get (b, "fileId")))
                break;
            json_incref (a);
            json_array_set (anns, j - 1, b);
            json_array_set_new (anns, j, a);
        }
    json_t *data = NULL;
    char ptype[256];
    snprintf (ptype, sizeof ptype, "%.*s", (int) strcspn (objtype, "."), objtype);
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get (anns, i);
        int64_t fid = json_integer_value (json_object_get (a, "fileId"));
        tbl_file_t f = {0};
        omr_err_t e = {0};
        json_decref (data);
        if (open_file (app, db, ctx, fid, false, &f, &e) < 0) {
            *status = e.status >= 400 && e.status < 600 ? e.status : 500;
            data = json_pack ("{s:s}", "error", e.msg);
        } else {
            tbl_api_opts_t opts = {.lock_timeout_s = app->lock_timeout_s};
            data = tbl_web_query (f.path, query, &opts, status);
        }
        tbl_file_clear (&f);
        if (*status == 200) {
            json_object_set_new (data, "id", json_integer ((json_int_t) fid));
            json_object_set (data, "annId", json_object_get (a, "annId"));
            json_object_set (data, "owner", json_object_get (a, "owner"));
            json_object_set (data, "addedBy", json_object_get (a, "addedBy"));
            json_object_set_new (data, "parentType", json_string (ptype));
            json_object_set (data, "parentId", json_object_get (a, "parentId"));
            json_object_set (data, "addedOn", json_object_get (a, "addedOn"));
            break;
        }
    }
    json_decref (anns);
    return data;
}

/* TablesWeb.handle: the request as the router sends /webgateway/… ({method, path, query,
 * headers, cookies, remote}); replies {status, headers, cookies} with the JSON in raw frame 0. */
static int
web_handler (omr_call_t *call, omr_err_t *err, void *arg)
{
    tables_app_t *app = arg;
    json_t *body = call->req->body;
    const char *method = json_string_value (json_object_get (body, "method"));
    const char *path = json_string_value (json_object_get (body, "path"));
    const char *query = json_string_value (json_object_get (body, "query"));
    int64_t id = 0;
    char kind[16], objtype[256];
    int status = 200;
    json_t *out = NULL;
    json_t *headers = json_pack ("{s:s}", "Content-Type", "application/json");
    bool by_object = false;
    if (tbl_web_parse_path (path, &id, kind) < 0) {
        by_object = tbl_web_parse_object_path (path, objtype, sizeof objtype, &id) == 0;
        if (!by_object) {
            status = 404;
            out = json_pack ("{s:s}", "error", "not a table URL: use /webgateway/table/{fileid}/query/, "
                             "/webgateway/table/{fileid}/metadata/ or /webgateway/table/{objtype}/{objid}/query/");
        }
    }
    if (!out && method && strcmp (method, "GET") && strcmp (method, "HEAD")) {
        status = 405;
        json_object_set_new (headers, "Allow", json_string ("GET, HEAD"));
        out = json_pack ("{s:s}", "error", "table URLs are read with GET");
    }
    else if (!out) {
        blz_ctx_t ctx;
        tbl_file_t f = {0};
        omr_err_t e = {0};
        blz_db_t *db = call_db (app, call, &e);
        if (by_object && db && blz_ctx_from_json (&ctx, omr_msg_ctx (call->req), &e) == 0)
            out = object_query (app, db, &ctx, objtype, id, query, &status);
        else if (by_object) {
            status = e.status >= 400 && e.status < 600 ? e.status : 500;
            out = json_pack ("{s:s}", "error", e.msg);
        }
        else if (blz_ctx_from_json (&ctx, omr_msg_ctx (call->req), &e) < 0 || !db
            || open_file (app, db, &ctx, id, false, &f, &e) < 0) {
            /* OMERO.web's message for a table the caller cannot open */
            char msg[64];
            snprintf (msg, sizeof msg, "Table %lld not found", (long long) id);
            status = e.status >= 400 && e.status < 600 ? e.status : 500;
            out = json_pack ("{s:s}", "error", status == 404 ? msg : e.msg);
        }
        else {
            tbl_api_opts_t opts;
            call_opts (call, app, &opts);
            out = !strcmp (kind, "query") ? tbl_web_query (f.path, query, &opts, &status)
                                          : tbl_web_metadata (f.path, &opts, &status);
        }
        tbl_file_clear (&f);
    }
    char *text = json_dumps (out, JSON_COMPACT);
    json_decref (out);
    if (!text) {
        json_decref (headers);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "cannot encode the reply");
    }
    call->reply = json_pack ("{s:i, s:o, s:[]}", "status", status, "headers", headers, "cookies");
    if (!method || strcmp (method, "HEAD"))
        omr_call_add_raw (call, text, strlen (text));
    free (text);
    return 0;
}

/* Open the worker's own connection before it serves. Briefly: unlike Blitz, a Tables server
 * must not hold its workers (and its shutdown) while the database starts; a worker that did not
 * connect connects on its first call (blz_db_begin). */
static void
worker_start (omr_server_t *srv, int worker, void *arg)
{
    tables_app_t *app = arg;
    omr_err_t err = {0};
    if (blz_db_connect (app->dbs[worker], 1000, &err) < 0)
        omr_error ("worker %d: %s (it will retry on its first request)", worker, err.msg);
}

int
main (int argc, char **argv)
{
    omr_err_t err = {0};
    omr_server_t *srv = omr_server_new ("tables", &err);
    if (!srv) {
        fprintf (stderr, "omero-tables: %s\n", err.msg);
        return 1;
    }
    omr_config_t *c = omr_server_config (srv);
    tables_app_t app = {.config = c, .lock_timeout_s = 5.0};
    const char *data_dir = omr_config_get (c, "omero.data.dir");
    char port[16];
    snprintf (port, sizeof port, "%lld", omr_config_get_int (c, "omero.db.port", 5432));
    const char *host = omr_config_get (c, "omero.db.host");
    char *conninfo = blz_db_conninfo (host && *host ? host : NULL, port, omr_config_get (c, "omero.db.name"),
                                      omr_config_get (c, "omero.db.user"), omr_config_get (c, "omero.db.pass"));
    app.nworkers = (int) omr_config_get_int (c, "omero.threads.min_threads", 5);
    if (app.nworkers < 1)
        app.nworkers = 1;
    omr_server_set_workers (srv, app.nworkers);
    app.dbs = calloc ((size_t) app.nworkers, sizeof *app.dbs);
    for (int i = 0; i < app.nworkers; i++)
        app.dbs[i] = blz_db_new (conninfo);
    omr_server_on_worker_start (srv, worker_start, &app);
    size_t n;
    const tbl_api_method_t *methods = tbl_api_methods (&n);
    tables_route_t *routes = calloc (n + 1, sizeof *routes);
    for (size_t i = 0; i < n; i++) {
        char op[128];
        routes[i].app = &app;
        routes[i].method = &methods[i];
        snprintf (op, sizeof op, "Table.%s", methods[i].name);
        omr_server_on (srv, op, table_handler, &routes[i]);
    }
    routes[n].app = &app;       /* method NULL: newTable, getOriginalFile and close */
    omr_server_on (srv, "Table.newTable", table_handler, &routes[n]);
    omr_server_on (srv, "Table.getOriginalFile", table_handler, &routes[n]);
    omr_server_on (srv, "Table.close", table_handler, &routes[n]);
    omr_server_on (srv, "TablesWeb.handle", web_handler, &app);
    omr_info ("serving OMERO.tables from %s/Files, database %s on %s:%s", data_dir && *data_dir ? data_dir : "/OMERO",
              omr_config_get (c, "omero.db.name"), host && *host ? host : "(local socket)", port);
    int rc = omr_server_run (srv, &err) == 0 ? 0 : 1;
    if (rc)
        omr_error ("%s", err.msg);
    for (int i = 0; i < app.nworkers; i++)
        blz_db_destroy (&app.dbs[i]);
    free (app.dbs);
    free (conninfo);
    free (routes);
    omr_server_destroy (&srv);
    return rc;
}
