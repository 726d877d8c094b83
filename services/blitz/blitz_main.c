/* omero-blitz: the API server (Blitz-N). Connects to PostgreSQL (waiting while it starts),
 * refuses to serve a schema of another version, prepares its own tables and root's password,
 * then serves ISession, IAdmin, IConfig and the JSON API on the grid. */
#include "admin.h"
#include "blitz.h"
#include "bootstrap.h"
#include "graph.h"
#include "container.h"
#include "iconfig.h"
#include "import.h"
#include "jsonapi.h"
#include "metadata.h"
#include "omr_log.h"
#include "rawfile.h"
#include "rawpixels.h"
#include "rendering_settings.h"
#include "query.h"
#include "session.h"
#include "thumbnail.h"
#include "update.h"
#include "webgateway.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Open the worker's own connection before it serves. */
static void
worker_start (omr_server_t *srv, int worker, void *arg)
{
    blz_app_t *app = arg;
    omr_err_t err = {0};
    if (blz_db_connect (app->dbs[worker], 60000, &err) < 0)
        omr_error ("worker %d: %s (it will retry on its first request)", worker, err.msg);
}

int
main (int argc, char **argv)
{
    omr_err_t err = {0};
    omr_server_t *srv = omr_server_new ("blitz", &err);
    if (!srv) {
        fprintf (stderr, "omero-blitz: %s\n", err.msg);
        return 1;
    }
    blz_app_t app = {0};
    app.server = srv;
    app.config = omr_server_config (srv);
    blz_app_configure (&app);
    omr_config_t *c = app.config;
    char port[16];
    snprintf (port, sizeof port, "%lld", omr_config_get_int (c, "omero.db.port", 5432));
    const char *host = omr_config_get (c, "omero.db.host");
    app.conninfo = blz_db_conninfo (host && *host ? host : NULL, port, omr_config_get (c, "omero.db.name"),
                                    omr_config_get (c, "omero.db.user"), omr_config_get (c, "omero.db.pass"));
    omr_info ("connecting to database %s as %s on %s:%s", omr_config_get (c, "omero.db.name"),
              omr_config_get (c, "omero.db.user"), host && *host ? host : "(local socket)", port);
    blz_db_t *main_db = blz_db_new (app.conninfo);
    int wait_ms = (int) omr_config_get_int (c, "omero.db.connect_wait", 120000);
    int rc = 1;
    if (blz_db_connect (main_db, wait_ms, &err) < 0 || blz_bootstrap_wait_schema (main_db, wait_ms, &err) < 0
        || blz_bootstrap (&app, main_db, &err) < 0) {
        omr_error ("cannot serve: %s", err.msg);
        fprintf (stderr, "omero-blitz: cannot serve: %s\n", err.msg);
        goto done;
    }
    omr_info ("database %s ready (schema %s__%d), node %lld", app.db_uuid, BLZ_DB_VERSION, BLZ_DB_PATCH,
              (long long) app.node_id);
    app.nworkers = (int) omr_config_get_int (c, "omero.threads.min_threads", 5);
    if (app.nworkers < 1)
        app.nworkers = 1;
    omr_server_set_workers (srv, app.nworkers);
    app.dbs = calloc (app.nworkers, sizeof (blz_db_t *));
    for (int i = 0; i < app.nworkers; i++)
        app.dbs[i] = blz_db_new (app.conninfo);
    omr_server_on_worker_start (srv, worker_start, &app);
    blz_session_register (&app);
    blz_admin_register (&app);
    blz_iconfig_register (&app);
    blz_jsonapi_register (&app);
    blz_query_register (&app);
    blz_update_register (&app);
    blz_container_register (&app);
    blz_metadata_register (&app);
    void *imports = blz_import_register (&app);
    void *rawpixels = blz_rawpixels_register (&app);
    blz_rawfile_register (&app);
    blz_graph_register (&app);
    blz_rdef_register (&app);
    blz_thumb_register (&app);
    void *webgateway = blz_webgateway_register (&app);
    rc = omr_server_run (srv, &err) == 0 ? 0 : 1;
    blz_import_stop (&imports);
    blz_rawpixels_free (&rawpixels);
    blz_webgateway_free (&webgateway);
    if (rc)
        omr_error ("%s", err.msg);
    blz_bootstrap_node_down (&app, main_db);
    for (int i = 0; i < app.nworkers; i++)
        blz_db_destroy (&app.dbs[i]);
    free (app.dbs);
done:
    blz_db_destroy (&main_db);
    free (app.conninfo);
    omr_server_destroy (&srv);
    return rc;
}
