/* blitz: the state shared by the Blitz services (configuration, per-worker database
 * connections, OMERO's special ids) and the helpers every service handler uses. */
#ifndef BLZ_BLITZ_H
#define BLZ_BLITZ_H
#include "context.h"
#include "db.h"
#include "omr_server.h"
#include <stdatomic.h>

#define BLZ_OMERO_VERSION "5.6.10"
#define BLZ_DB_VERSION "OMERO5.4"
#define BLZ_DB_PATCH 0
#define BLZ_SCHEMA_URL "http://www.openmicroscopy.org/Schemas/OME/2016-06"

typedef struct {
    omr_server_t *server;
    omr_config_t *config;       /* the server's configuration (not owned) */
    blz_db_t **dbs;             /* one per worker */
    int nworkers;
    char *conninfo;
    char db_uuid[64];
    int64_t node_id;            /* this server's row in table node */
    /* OMERO's special ids (table _roles) */
    int64_t root_id, guest_id, system_gid, user_gid, guest_gid;
    /* session and login policy */
    long long session_timeout, session_maximum, max_user_tti, max_user_ttl;
    long long throttle_count, throttle_time;
    int hash_iterations;
    bool password_required;
    bool ignore_case;           /* omero.security.ignore_case: user names are lower-cased */
    atomic_int throttle_sleepers; /* workers delaying a failed login right now */
} blz_app_t;

/* The database connection of the worker serving a call. */
blz_db_t *blz_app_db (blz_app_t *app, omr_call_t *call);
/* Read policy values from the configuration into app. */
void blz_app_configure (blz_app_t *app);
/* Hash a new password with the configured cost. */
int blz_app_hash (blz_app_t *app, const char *password, char out[256], omr_err_t *err);

/* A user name as stored: lower-cased when omero.security.ignore_case is set (into buf). */
const char *blz_app_username (blz_app_t *app, const char *name, char *buf, size_t len);
/* The caller context of a request; fails with SessionException when there is none. */
int blz_call_ctx (omr_call_t *call, blz_ctx_t *ctx, omr_err_t *err);
/* Body accessors: a string/integer member, or NULL/-1 when absent or of another type. */
const char *blz_str (const json_t *body, const char *key);
int64_t blz_int (const json_t *body, const char *key, int64_t fallback);

/* A group reference from JSON (id, name, or object with @id / Name) to its id; -1 with
 * NotFoundException when there is no such group. */
int64_t blz_group_ref (blz_db_t *db, const json_t *ref, omr_err_t *err);
/* The same for an experimenter (id, omeName or object with @id / UserName / omeName). */
int64_t blz_user_ref (blz_db_t *db, const json_t *ref, omr_err_t *err);

/* Permission strings: "rwra--" <-> OMERO's permissions bits (-40). -1 with err when invalid. */
int blz_perms_parse (const char *s, int64_t *out, omr_err_t *err);
void blz_perms_string (int64_t perms, char out[7]);
/* The omero:details permissions object of a group-level permissions value (JSON API form). */
json_t *blz_perms_json (int64_t perms, bool can_edit);
#endif
