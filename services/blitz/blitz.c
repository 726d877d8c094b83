/* blitz: shared state accessors, request helpers, object references and permission strings. */
#include "blitz.h"
#include "password.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

blz_db_t *
blz_app_db (blz_app_t *app, omr_call_t *call)
{
    int w = call->worker;
    return w >= 0 && w < app->nworkers ? app->dbs[w] : NULL;
}

void
blz_app_configure (blz_app_t *app)
{
    omr_config_t *c = app->config;
    app->session_timeout = omr_config_get_int (c, "omero.sessions.timeout", 600000);
    app->session_maximum = omr_config_get_int (c, "omero.sessions.maximum", 0);
    app->max_user_tti = omr_config_get_int (c, "omero.sessions.max_user_time_to_idle", 6000000);
    app->max_user_ttl = omr_config_get_int (c, "omero.sessions.max_user_time_to_live", 0);
    app->throttle_count = omr_config_get_int (c, "omero.security.login_failure_throttle_count", 1);
    app->throttle_time = omr_config_get_int (c, "omero.security.login_failure_throttle_time", 3000);
    app->hash_iterations = (int) omr_config_get_int (c, "omero.security.password_hash_iterations",
                                                      BLZ_PBKDF2_ITERATIONS);
    if (app->hash_iterations < 10000)
        app->hash_iterations = 10000;
    app->password_required = omr_config_get_bool (c, "omero.security.password_required", true);
    app->ignore_case = omr_config_get_bool (c, "omero.security.ignore_case", false);
}

const char *
blz_app_username (blz_app_t *app, const char *name, char *buf, size_t len)
{
    if (!name || !app->ignore_case)
        return name;
    size_t i = 0;
    for (; name[i] && i + 1 < len; i++)
        buf[i] = (char) tolower ((unsigned char) name[i]);
    buf[i] = 0;
    return buf;
}

int
blz_app_hash (blz_app_t *app, const char *password, char out[256], omr_err_t *err)
{
    return blz_password_hash (password, app->hash_iterations, out, err);
}

int
blz_call_ctx (omr_call_t *call, blz_ctx_t *ctx, omr_err_t *err)
{
    return blz_ctx_from_json (ctx, omr_msg_ctx (call->req), err);
}

const char *
blz_str (const json_t *body, const char *key)
{
    return json_string_value (json_object_get (body, key));
}

int64_t
blz_int (const json_t *body, const char *key, int64_t fallback)
{
    json_t *v = json_object_get (body, key);
    if (json_is_integer (v))
        return json_integer_value (v);
    if (json_is_string (v)) {
        char *end;
        long long n = strtoll (json_string_value (v), &end, 10);
        if (*json_string_value (v) && !*end)
            return n;
    }
    return fallback;
}

/* Resolve a reference: integer id, numeric string, name string, or object with @id/id or a
 * name member; checks that the row exists. */
static int64_t
ref (blz_db_t *db, const json_t *r, const char *table, const char *namecol, const char *namekey,
     const char *namekey2, const char *what, omr_err_t *err)
{
    char sql[256], buf[24];
    const char *name = NULL;
    int64_t id = -1;
    if (json_is_object (r)) {
        json_t *v = json_object_get (r, "@id");
        if (!v)
            v = json_object_get (r, "id");
        if (json_is_integer (v))
            id = json_integer_value (v);
        else {
            name = json_string_value (json_object_get (r, namekey));
            if (!name)
                name = json_string_value (json_object_get (r, namekey2));
        }
    }
    else if (json_is_integer (r))
        id = json_integer_value (r);
    else if (json_is_string (r)) {
        const char *s = json_string_value (r);
        char *end;
        long long n = strtoll (s, &end, 10);
        if (*s && !*end)
            id = n;
        else
            name = s;
    }
    if (id < 0 && !name) {
        omr_err_set (err, OMR_E_API, 400, "a %s is needed (id or name)", what);
        return -1;
    }
    PGresult *res;
    if (name) {
        snprintf (sql, sizeof sql, "SELECT id FROM %s WHERE %s = $1", table, namecol);
        res = blz_db_query (db, err, sql, BLZ_P (name));
    }
    else {
        snprintf (sql, sizeof sql, "SELECT id FROM %s WHERE id = $1", table);
        res = blz_db_query (db, err, sql, BLZ_P (BLZ_I64 (buf, id)));
    }
    if (!res)
        return -1;
    if (PQntuples (res) != 1) {
        PQclear (res);
        if (name)
            omr_err_set (err, OMR_E_NOTFOUND, 404, "no %s named '%s'", what, name);
        else
            omr_err_set (err, OMR_E_NOTFOUND, 404, "no %s with id %lld", what, (long long) id);
        return -1;
    }
    id = atoll (PQgetvalue (res, 0, 0));
    PQclear (res);
    return id;
}

int64_t
blz_group_ref (blz_db_t *db, const json_t *r, omr_err_t *err)
{
    return ref (db, r, "experimentergroup", "name", "Name", "name", "group", err);
}

int64_t
blz_user_ref (blz_db_t *db, const json_t *r, omr_err_t *err)
{
    return ref (db, r, "experimenter", "omename", "UserName", "omeName", "user", err);
}

/* bits of one triple (user, group, world): read, write, annotate */
static const int64_t bits[3][3] = {{1024, 512, 256}, {64, 32, 16}, {4, 2, 1}};

int
blz_perms_parse (const char *s, int64_t *out, omr_err_t *err)
{
    static const struct { const char *name, *perm; } levels[] = {
        {"private", "rw----"}, {"read-only", "rwr---"}, {"read-annotate", "rwra--"}, {"read-write", "rwrw--"},
    };
    if (!s)
        return omr_err_set (err, OMR_E_API, 400, "a permissions string is needed (e.g. rwr---)");
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcmp (s, levels[i].name) == 0)
            s = levels[i].perm;
    if (strlen (s) != 6)
        goto bad;
    int64_t p = -1;
    for (int t = 0; t < 3; t++) {
        char r = s[2 * t], w = s[2 * t + 1];
        if (r == '-')
            p &= ~bits[t][0];
        else if (r != 'r')
            goto bad;
        if (w == '-')
            p &= ~(bits[t][1] | bits[t][2]);
        else if (w == 'a')
            p &= ~bits[t][1];
        else if (w != 'w')
            goto bad;
    }
    *out = p;
    return 0;
bad:
    return omr_err_set (err, OMR_E_API, 400,
                        "invalid permissions '%s': use rw---- (private), rwr--- (read-only), rwra-- "
                        "(read-annotate) or rwrw-- (read-write)",
                        s);
}

void
blz_perms_string (int64_t p, char out[7])
{
    for (int t = 0; t < 3; t++) {
        out[2 * t] = (p & bits[t][0]) ? 'r' : '-';
        out[2 * t + 1] = (p & bits[t][1]) ? 'w' : (p & bits[t][2]) ? 'a' : '-';
    }
    out[6] = 0;
}

json_t *
blz_perms_json (int64_t p, bool can_edit)
{
    char s[7];
    blz_perms_string (p, s);
    return json_pack ("{s:s,s:s,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b}", "@type", "TBD#Permissions",
                      "perm", s, "canAnnotate", 0, "canDelete", 0, "canEdit", can_edit, "canLink", 0, "isUserRead",
                      (p & 1024) != 0, "isUserAnnotate", (p & 256) != 0, "isUserWrite", (p & 512) != 0,
                      "isGroupRead", (p & 64) != 0, "isGroupAnnotate", (p & 16) != 0, "isGroupWrite",
                      (p & 32) != 0, "isWorldRead", (p & 4) != 0, "isWorldAnnotate", (p & 1) != 0, "isWorldWrite",
                      (p & 2) != 0);
}
