/* iconfig: IConfig operations. */
#include "iconfig.h"
#include "omr_util.h"
#include <stdlib.h>
#include <string.h>

/* OMERO 5.6.10's documented omero.client.* defaults (configuration glossary, "Client"). */
static const char *client_defaults[][2] = {
    {"omero.client.browser.thumb_default_size", "96"},
    {"omero.client.download_as.max_size", "144000000"},
    {"omero.client.icetransports", "ssl,tcp"},
    {"omero.client.scripts_to_ignore",
     "/omero/figure_scripts/Movie_Figure.py,/omero/figure_scripts/Split_View_Figure.py,"
     "/omero/figure_scripts/Thumbnail_Figure.py,/omero/figure_scripts/ROI_Split_Figure.py,"
     "/omero/export_scripts/Make_Movie.py,/omero/import_scripts/Populate_ROI.py"},
    {"omero.client.ui.menu.dropdown.colleagues.enabled", "true"},
    {"omero.client.ui.menu.dropdown.colleagues.label", "Members"},
    {"omero.client.ui.menu.dropdown.everyone.enabled", "true"},
    {"omero.client.ui.menu.dropdown.everyone.label", "All Members"},
    {"omero.client.ui.menu.dropdown.leaders.enabled", "true"},
    {"omero.client.ui.menu.dropdown.leaders.label", "Owners"},
    {"omero.client.ui.tree.orphans.description",
     "This is a virtual container with orphaned images. These images are not linked anywhere. Just drag them to "
     "the selected container."},
    {"omero.client.ui.tree.orphans.enabled", "true"},
    {"omero.client.ui.tree.orphans.name", "Orphaned Images"},
    {"omero.client.ui.tree.type_order", "tagset,tag,project,dataset,screen,plate,acquisition,image"},
    {"omero.client.viewer.initial_zoom_level", "0"},
    {"omero.client.viewer.interpolate_pixels", "true"},
    {"omero.client.viewer.roi_limit", "2000"},
    {"omero.client.web.host", ""},
};

json_t *
blz_iconfig_client_values (blz_app_t *app, bool defaults_only)
{
    json_t *out = json_object ();
    for (size_t i = 0; i < sizeof client_defaults / sizeof client_defaults[0]; i++)
        json_object_set_new (out, client_defaults[i][0], json_string (client_defaults[i][1]));
    if (defaults_only)
        return out;
    for (int i = 0; i < omr_config_size (app->config); i++) {
        const char *k = omr_config_key_at (app->config, i);
        if (strncmp (k, "omero.client.", 13) == 0)
            json_object_set_new (out, k, json_string (omr_config_get_set (app->config, k)));
    }
    return out;
}

static int
op_get_version (omr_call_t *call, omr_err_t *err, void *arg)
{
    call->reply = json_pack ("{s:s}", "version", BLZ_OMERO_VERSION);
    return 0;
}

static int
op_get_server_time (omr_call_t *call, omr_err_t *err, void *arg)
{
    call->reply = json_pack ("{s:I}", "time", (json_int_t) omr_now_ms ());
    return 0;
}

static int
op_get_database_uuid (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    call->reply = json_pack ("{s:s}", "uuid", app->db_uuid);
    return 0;
}

static int
op_get_database_time (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    blz_db_t *db = blz_app_db (app, call);
    blz_ctx_t internal;
    blz_ctx_internal (&internal);
    if (blz_db_begin (db, &internal, err) < 0)
        return -1;
    PGresult *res = blz_db_query (db, err, "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8", 0, NULL);
    blz_db_rollback (db);
    if (!res)
        return -1;
    call->reply = json_pack ("{s:I}", "time", (json_int_t) atoll (PQgetvalue (res, 0, 0)));
    PQclear (res);
    return 0;
}

static int
op_client_values (omr_call_t *call, omr_err_t *err, void *arg)
{
    call->reply = json_pack ("{s:o}", "values", blz_iconfig_client_values (arg, false));
    return 0;
}

static int
op_client_defaults (omr_call_t *call, omr_err_t *err, void *arg)
{
    call->reply = json_pack ("{s:o}", "values", blz_iconfig_client_values (arg, true));
    return 0;
}

/* Whether a caller may read a key: omero.client.* for everybody; other keys for
 * administrators, except secrets (anything holding a password). */
static bool
readable (const blz_ctx_t *ctx, const char *key)
{
    if (strncmp (key, "omero.client.", 13) == 0)
        return true;
    if (!ctx->admin)
        return false;
    return !strstr (key, "pass") && !strstr (key, "secret") && !strstr (key, "key");
}

static int
op_get_config_value (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    const char *key = blz_str (call->req->body, "key");
    if (!key || !*key)
        return omr_err_set (err, OMR_E_API, 400, "which key? give \"key\"");
    blz_ctx_t ctx;
    omr_err_t cerr = {0};
    if (blz_call_ctx (call, &ctx, &cerr) < 0)
        memset (&ctx, 0, sizeof ctx);   /* anonymous callers may read omero.client.* only */
    if (!readable (&ctx, key))
        return omr_err_set (err, OMR_E_SECURITY, 403, "%s is not a client-visible configuration key", key);
    json_t *values = blz_iconfig_client_values (app, false);
    const char *v = json_string_value (json_object_get (values, key));
    if (!v)
        v = omr_config_get (app->config, key);
    call->reply = json_pack ("{s:s,s:o}", "key", key, "value", v ? json_string (v) : json_null ());
    json_decref (values);
    return 0;
}

void
blz_iconfig_register (blz_app_t *app)
{
    omr_server_t *s = app->server;
    omr_server_on (s, "IConfig.getVersion", op_get_version, app);
    omr_server_on (s, "IConfig.getServerTime", op_get_server_time, app);
    omr_server_on (s, "IConfig.getDatabaseUuid", op_get_database_uuid, app);
    omr_server_on (s, "IConfig.getDatabaseTime", op_get_database_time, app);
    omr_server_on (s, "IConfig.getClientConfigValues", op_client_values, app);
    omr_server_on (s, "IConfig.getClientConfigDefaults", op_client_defaults, app);
    omr_server_on (s, "IConfig.getConfigValue", op_get_config_value, app);
}
