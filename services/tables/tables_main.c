/* omero-tables: the Tables-N server. Serves every omero.grid.Table method as grid operation
 * "Table.<method>" (Table.getWhereList, Table.addData …). The request body is the method's JSON
 * arguments (services/tables/README.md) plus "fileId", the id of the table's OriginalFile; the
 * file lives where OMERO's legacy repository keeps it: <omero.data.dir>/Files/[Dir-XXX/…]<id>.
 * The caller (Blitz) is trusted to have checked the session's read/write permission on that
 * OriginalFile; this server only turns the id into a repository path, so no client-supplied path
 * ever reaches the file system. Context key omero.tables.include_row_numbers = "false" drops
 * rowNumbers from Data replies, as in OMERO. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "omr_log.h"
#include "omr_server.h"
#include "table_api.h"

typedef struct {
    const char *data_dir;
    double lock_timeout_s;
} tables_app_t;

typedef struct {
    tables_app_t *app;
    const tbl_api_method_t *method;
} tables_route_t;

/* OMERO's AbstractFileSystemService.getPath: ids above 999 go into Dir-XXX buckets. */
static void file_path (const char *data_dir, long long id, char *out, size_t outsz)
{
    char suffix[256] = "";
    long long remaining = id;
    while (remaining > 999) {
        remaining /= 1000;
        if (remaining > 0) {
            char tmp[256];
            snprintf (tmp, sizeof tmp, "Dir-%03lld/%s", remaining % 1000, suffix);
            snprintf (suffix, sizeof suffix, "%s", tmp);
        }
    }
    snprintf (out, outsz, "%s/Files/%s%lld", data_dir, suffix, id);
}

/* mkdir -p of the directory part of path. */
static int make_parents (const char *path)
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

static int table_handler (omr_call_t *call, omr_err_t *err, void *arg)
{
    tables_route_t *route = arg;
    json_t *body = call->req->body;
    if (!json_is_object (body))
        return omr_err_set (err, OMR_E_API, 400, "Table.%s needs a JSON object body with fileId", route->method->name);
    json_t *fid = json_object_get (body, "fileId");
    if (!json_is_integer (fid) || json_integer_value (fid) <= 0)
        return omr_err_set (err, OMR_E_API, 400, "Table.%s needs fileId (the table's OriginalFile id)", route->method->name);
    char path[4096];
    file_path (route->app->data_dir, (long long) json_integer_value (fid), path, sizeof path);
    if (route->method->writes && make_parents (path) < 0)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "Cannot create the directory of %s", path);
    tbl_api_opts_t opts = { .lock_timeout_s = route->app->lock_timeout_s };
    json_t *ctx = omr_msg_ctx (call->req);
    const char *irn = json_string_value (json_object_get (ctx, "omero.tables.include_row_numbers"));
    if (irn && strcasecmp (irn, "false") == 0)
        opts.omit_row_numbers = 1;
    json_t *res = route->method->fn (path, body, &opts, err);
    if (!res)
        return -1;
    call->reply = res;
    return 0;
}

int main (int argc, char **argv)
{
    omr_err_t err = { 0 };
    omr_server_t *srv = omr_server_new ("tables", &err);
    if (!srv) {
        fprintf (stderr, "omero-tables: %s\n", err.msg);
        return 1;
    }
    omr_config_t *c = omr_server_config (srv);
    tables_app_t app = { .data_dir = omr_config_get (c, "omero.data.dir"), .lock_timeout_s = 5.0 };
    if (!app.data_dir || !*app.data_dir)
        app.data_dir = "/OMERO";
    size_t n;
    const tbl_api_method_t *methods = tbl_api_methods (&n);
    tables_route_t *routes = calloc (n, sizeof *routes);
    for (size_t i = 0; i < n; i++) {
        char op[128];
        routes[i].app = &app;
        routes[i].method = &methods[i];
        snprintf (op, sizeof op, "Table.%s", methods[i].name);
        omr_server_on (srv, op, table_handler, &routes[i]);
    }
    omr_info ("serving OMERO.tables from %s/Files", app.data_dir);
    int rc = omr_server_run (srv, &err) == 0 ? 0 : 1;
    if (rc)
        omr_error ("%s", err.msg);
    free (routes);
    omr_server_destroy (&srv);
    return rc;
}
