/* bootstrap: start-up checks and preparation of the database for Blitz. */
#include "bootstrap.h"
#include "omr_log.h"
#include "omr_util.h"
#include "password.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* blitz_schema.sql is compiled in, so an installation needs no extra file. */
__asm__ (".section .rodata\n"
         ".balign 16\n"
         "blz_schema_sql_text:\n"
         ".incbin \"services/blitz/blitz_schema.sql\"\n"
         ".byte 0\n"
         ".previous\n");
extern const char blz_schema_sql_text[];

const char *
blz_bootstrap_schema_sql (void)
{
    return blz_schema_sql_text;
}

static int
check_version (blz_db_t *db, omr_err_t *err)
{
    PGresult *res = blz_db_query (db, err,
                                  "SELECT currentversion, currentpatch, finished IS NOT NULL FROM dbpatch "
                                  "ORDER BY id DESC LIMIT 1",
                                  0, NULL);
    if (!res) {
        omr_err_prefix (err, "the database has no OMERO schema (table dbpatch): load share/omero/schema.sql: ");
        err->status = 503;
        snprintf (err->name, sizeof err->name, "%s", OMR_E_CONFIG);
        return -1;
    }
    int rc = 0;
    if (PQntuples (res) != 1)
        rc = omr_err_set (err, OMR_E_CONFIG, 503, "the database has no dbpatch row: the schema was not loaded completely");
    else if (strcmp (PQgetvalue (res, 0, 0), BLZ_DB_VERSION) != 0 || atoi (PQgetvalue (res, 0, 1)) != BLZ_DB_PATCH)
        rc = omr_err_set (err, OMR_E_CONFIG, 503,
                          "the database schema is version %s__%s but this server needs %s__%d: upgrade the database",
                          PQgetvalue (res, 0, 0), PQgetvalue (res, 0, 1), BLZ_DB_VERSION, BLZ_DB_PATCH);
    else if (PQgetvalue (res, 0, 2)[0] != 't')
        rc = omr_err_set (err, OMR_E_CONFIG, 503, "the last database patch did not finish: check the database");
    PQclear (res);
    return rc;
}

static int
load_roles (blz_app_t *app, blz_db_t *db, omr_err_t *err)
{
    PGresult *res = blz_db_query (db, err,
                                  "SELECT root_user_id, guest_user_id, system_group_id, user_group_id, guest_group_id "
                                  "FROM _roles LIMIT 1",
                                  0, NULL);
    if (!res)
        return -1;
    if (PQntuples (res) != 1) {
        PQclear (res);
        return omr_err_set (err, OMR_E_CONFIG, 503, "table _roles is empty: the schema was not loaded completely");
    }
    app->root_id = atoll (PQgetvalue (res, 0, 0));
    app->guest_id = atoll (PQgetvalue (res, 0, 1));
    app->system_gid = atoll (PQgetvalue (res, 0, 2));
    app->user_gid = atoll (PQgetvalue (res, 0, 3));
    app->guest_gid = atoll (PQgetvalue (res, 0, 4));
    PQclear (res);
    res = blz_db_query (db, err, "SELECT value FROM configuration WHERE name = 'omero.db.uuid'", 0, NULL);
    if (!res)
        return -1;
    if (PQntuples (res) == 1)
        snprintf (app->db_uuid, sizeof app->db_uuid, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    if (!app->db_uuid[0])
        return omr_err_set (err, OMR_E_CONFIG, 503, "the database has no omero.db.uuid configuration row");
    return 0;
}

/* root's password: kept if set; else omero.db.root_pass, else a generated one written to
 * var/master/root_password (0600). */
static int
root_password (blz_app_t *app, blz_db_t *db, omr_err_t *err)
{
    char rb[24];
    PGresult *res = blz_db_query (db, err, "SELECT hash FROM password WHERE experimenter_id = $1",
                                  BLZ_P (BLZ_I64 (rb, app->root_id)));
    if (!res)
        return -1;
    bool have_row = PQntuples (res) == 1;
    bool set = have_row && !PQgetisnull (res, 0, 0) && PQgetvalue (res, 0, 0)[0];
    PQclear (res);
    if (set)
        return 0;
    const char *configured = omr_config_get_set (app->config, "omero.db.root_pass");
    char generated[25], hash[BLZ_PASSWORD_MAX];
    const char *pw = configured;
    char path[4096] = "";
    if (!pw || !*pw) {
        if (blz_password_random (generated, sizeof generated, err) < 0)
            return -1;
        pw = generated;
        char dir[4096];
        snprintf (dir, sizeof dir, "%s/var/master", omr_server_omerodir (app->server));
        if (omr_mkdirs (dir, 0700, err) < 0)
            return -1;
        snprintf (path, sizeof path, "%s/root_password", dir);
        char line[64];
        int n = snprintf (line, sizeof line, "%s\n", pw);
        if (omr_write_file (path, line, (size_t) n, 0600, err) < 0)
            return -1;
        chmod (path, 0600);
    }
    if (blz_app_hash (app, pw, hash, err) < 0)
        return -1;
    const char *sql = have_row ? "UPDATE password SET hash = $2, changed = now() WHERE experimenter_id = $1"
                               : "INSERT INTO password (experimenter_id, hash, changed) VALUES ($1, $2, now())";
    if (blz_db_exec (db, err, sql, BLZ_P (rb, hash)) < 0)
        return -1;
    if (path[0])
        omr_info ("root had no password: generated one and stored it in %s (mode 0600)", path);
    else
        omr_info ("root had no password: set it from omero.db.root_pass");
    return 0;
}

static int
register_node (blz_app_t *app, blz_db_t *db, omr_err_t *err)
{
    char uuid[37];
    omr_uuid (uuid);
    PGresult *res = blz_db_query (db, err,
                                  "INSERT INTO node (id, permissions, version, uuid, conn, up) "
                                  "VALUES (nextval('seq_node'), -52, 0, $1, $2, now()) RETURNING id",
                                  BLZ_P (uuid, omr_server_id (app->server)));
    if (!res)
        return -1;
    app->node_id = atoll (PQgetvalue (res, 0, 0));
    PQclear (res);
    return 0;
}

int
blz_bootstrap_wait_schema (blz_db_t *db, int wait_ms, omr_err_t *err)
{
    int64_t until = omr_mono_ms () + wait_ms;
    bool logged = false;
    while (true) {
        PGresult *res = blz_db_query (db, err, "SELECT to_regclass('dbpatch') IS NOT NULL", 0, NULL);
        if (!res)
            return -1;
        bool present = PQgetvalue (res, 0, 0)[0] == 't';
        PQclear (res);
        if (present)
            return 0;
        if (omr_mono_ms () >= until)
            return omr_err_set (err, OMR_E_CONFIG, 503,
                                "the database has no OMERO schema (table dbpatch): load share/omero/schema.sql");
        if (!logged)
            omr_warn ("the database has no OMERO schema yet; waiting for it to be loaded");
        logged = true;
        usleep (500 * 1000);
    }
}

int
blz_bootstrap (blz_app_t *app, blz_db_t *db, omr_err_t *err)
{
    blz_ctx_t internal;
    blz_ctx_internal (&internal);
    if (blz_db_begin (db, &internal, err) < 0)
        return -1;
    if (check_version (db, err) < 0)
        goto fail;
    /* Serialise concurrent starts of several replicas on the same database. */
    if (blz_db_exec (db, err, "SELECT pg_advisory_xact_lock(4064, 1)", 0, NULL) < 0)
        goto fail;
    PGresult *res = PQexec (blz_db_conn (db), blz_bootstrap_schema_sql ());
    if (!res || PQresultStatus (res) != PGRES_COMMAND_OK) {
        omr_err_set (err, OMR_E_CONFIG, 503, "cannot apply blitz_schema.sql: %s",
                     res ? PQresultErrorMessage (res) : PQerrorMessage (blz_db_conn (db)));
        PQclear (res);
        goto fail;
    }
    PQclear (res);
    if (load_roles (app, db, err) < 0 || root_password (app, db, err) < 0 || register_node (app, db, err) < 0)
        goto fail;
    /* Row-level security does not apply to superusers and BYPASSRLS roles: say so loudly. */
    res = blz_db_query (db, err, "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user", 0,
                        NULL);
    if (!res)
        goto fail;
    if (PQntuples (res) == 1 && PQgetvalue (res, 0, 0)[0] == 't')
        omr_warn ("the database role is a superuser or bypasses row-level security: users would see each "
                  "other's private data; connect as a plain role that owns the tables");
    PQclear (res);
    return blz_db_commit (db, err);
fail:
    blz_db_rollback (db);
    return -1;
}

void
blz_bootstrap_node_down (blz_app_t *app, blz_db_t *db)
{
    blz_ctx_t internal;
    blz_ctx_internal (&internal);
    omr_err_t err = {0};
    char nb[24];
    if (blz_db_begin (db, &internal, &err) < 0)
        return;
    if (blz_db_exec (db, &err, "UPDATE node SET down = now() WHERE id = $1", BLZ_P (BLZ_I64 (nb, app->node_id))) < 0)
        blz_db_rollback (db);
    else
        blz_db_commit (db, &err);
}
