/* admin: IAdmin operations. Every call runs in one transaction as the caller; writes record an
 * Event with EventLog rows. Who may do what follows OMERO: administrators (holding the needed
 * AdminPrivilege) manage everything, group owners manage their own groups' members, users
 * change their own password, names and default group. */
#include "admin.h"
#include "omr_log.h"
#include "password.h"
#include "session.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_EXP "ome.model.meta.Experimenter"
#define T_GROUP "ome.model.meta.ExperimenterGroup"
#define T_MAP "ome.model.meta.GroupExperimenterMap"

typedef struct {
    blz_app_t *app;
    blz_db_t *db;
    blz_ctx_t ctx;
    const json_t *body;
    omr_call_t *call;
} op_t;

typedef int (*admin_fn) (op_t *op, omr_err_t *err);

/* ---- JSON of model objects ---------------------------------------------------------------- */

#define EXP_COLS "id, omename, firstname, middlename, lastname, email, institution, ldap"

static void
set_str (json_t *o, const char *key, PGresult *res, int row, int col)
{
    if (!PQgetisnull (res, row, col))
        json_object_set_new (o, key, json_string (PQgetvalue (res, row, col)));
}

static json_t *
details (int64_t perms)
{
    return json_pack ("{s:s,s:o}", "@type", "TBD#Details", "permissions", blz_perms_json (perms, false));
}

static json_t *
exp_row (PGresult *res, int row)
{
    json_t *o = json_pack ("{s:I,s:s,s:o}", "@id", (json_int_t) atoll (PQgetvalue (res, row, 0)), "@type",
                           BLZ_SCHEMA_URL "#Experimenter", "omero:details", details (-52));
    set_str (o, "UserName", res, row, 1);
    set_str (o, "FirstName", res, row, 2);
    set_str (o, "MiddleName", res, row, 3);
    set_str (o, "LastName", res, row, 4);
    set_str (o, "Email", res, row, 5);
    set_str (o, "Institution", res, row, 6);
    json_object_set_new (o, "omero:ldap", json_boolean (PQgetvalue (res, row, 7)[0] == 't'));
    return o;
}

#define GROUP_COLS "id, name, description, permissions, ldap"

static json_t *
group_row (PGresult *res, int row)
{
    json_t *o = json_pack ("{s:I,s:s,s:o}", "@id", (json_int_t) atoll (PQgetvalue (res, row, 0)), "@type",
                           BLZ_SCHEMA_URL "#ExperimenterGroup", "omero:details",
                           details (atoll (PQgetvalue (res, row, 3))));
    set_str (o, "Name", res, row, 1);
    set_str (o, "Description", res, row, 2);
    json_object_set_new (o, "omero:ldap", json_boolean (PQgetvalue (res, row, 4)[0] == 't'));
    return o;
}

/* Run a query and return {"data":[rows]} (list) or the single row object. */
static json_t *
rows_json (blz_db_t *db, omr_err_t *err, json_t *(*row_fn) (PGresult *, int), const char *sql, int n,
           const char *const *params)
{
    PGresult *res = blz_db_query (db, err, sql, n, params);
    if (!res)
        return NULL;
    json_t *arr = json_array ();
    for (int i = 0; i < PQntuples (res); i++)
        json_array_append_new (arr, row_fn (res, i));
    PQclear (res);
    return arr;
}

json_t *
blz_admin_experimenter_json (blz_db_t *db, int64_t id, omr_err_t *err)
{
    char b[24];
    json_t *arr = rows_json (db, err, exp_row, "SELECT " EXP_COLS " FROM experimenter WHERE id = $1",
                             BLZ_P (BLZ_I64 (b, id)));
    if (!arr)
        return NULL;
    json_t *o = json_incref (json_array_get (arr, 0));
    json_decref (arr);
    if (!o)
        omr_err_set (err, OMR_E_NOTFOUND, 404, "no user with id %lld", (long long) id);
    return o;
}

json_t *
blz_admin_group_json (blz_db_t *db, int64_t id, omr_err_t *err)
{
    char b[24];
    json_t *arr = rows_json (db, err, group_row, "SELECT " GROUP_COLS " FROM experimentergroup WHERE id = $1",
                             BLZ_P (BLZ_I64 (b, id)));
    if (!arr)
        return NULL;
    json_t *o = json_incref (json_array_get (arr, 0));
    json_decref (arr);
    if (!o)
        omr_err_set (err, OMR_E_NOTFOUND, 404, "no group with id %lld", (long long) id);
    return o;
}

/* ---- checks --------------------------------------------------------------------------------- */

static int
need (op_t *op, const char *privilege, const char *what, omr_err_t *err)
{
    if (blz_ctx_can (&op->ctx, privilege))
        return 0;
    return omr_err_set (err, OMR_E_SECURITY, 403, "only administrators%s%s may %s",
                        op->ctx.admin ? " holding the privilege " : "", op->ctx.admin ? privilege : "", what);
}

static bool
builtin_group (op_t *op, int64_t gid)
{
    return gid == op->app->system_gid || gid == op->app->user_gid || gid == op->app->guest_gid;
}

/* Membership of a group may be managed by administrators holding ModifyGroupMembership and by
 * the group's owners (not for the built-in groups, whose membership means roles). */
static int
may_manage_members (op_t *op, int64_t gid, omr_err_t *err)
{
    if (blz_ctx_can (&op->ctx, "ModifyGroupMembership")) {
        /* Making administrators is for full administrators only: no escalation. */
        if (gid == op->app->system_gid && op->ctx.privileges != BLZ_ALL_PRIVILEGES)
            return omr_err_set (err, OMR_E_SECURITY, 403,
                                "only a full administrator may change the members of group system");
        return 0;
    }
    if (blz_ctx_owner (&op->ctx, gid) && !builtin_group (op, gid))
        return 0;
    return omr_err_set (err, OMR_E_SECURITY, 403,
                        "only administrators and owners of group %lld may change its members", (long long) gid);
}

static int64_t
user_arg (op_t *op, const char *key, bool default_self, omr_err_t *err)
{
    json_t *r = json_object_get (op->body, key);
    if (!r && default_self)
        return op->ctx.user_id;
    return blz_user_ref (op->db, r, err);
}

static int64_t
group_arg (op_t *op, const char *key, omr_err_t *err)
{
    return blz_group_ref (op->db, json_object_get (op->body, key), err);
}

/* Whether a user is an administrator (member of system). */
static int
is_admin (op_t *op, int64_t uid, bool *out, omr_err_t *err)
{
    char ub[24], gb[24];
    PGresult *res = blz_db_query (op->db, err, "SELECT 1 FROM groupexperimentermap WHERE child = $1 AND parent = $2",
                                  BLZ_P (BLZ_I64 (ub, uid), BLZ_I64 (gb, op->app->system_gid)));
    if (!res)
        return -1;
    *out = PQntuples (res) > 0;
    PQclear (res);
    return 0;
}

/* ---- membership ----------------------------------------------------------------------------- */

/* Add uid to gid (appended to the user's group order); owner sets/keeps the owner flag. */
static int
add_member (op_t *op, int64_t uid, int64_t gid, bool owner, omr_err_t *err)
{
    char ub[24], gb[24];
    PGresult *res = blz_db_query (
        op->db, err,
        "INSERT INTO groupexperimentermap (id, permissions, version, parent, child, owner, child_index) "
        "SELECT nextval('seq_groupexperimentermap'), -52, 0, $2, $1, $3, "
        "coalesce((SELECT max(child_index) + 1 FROM groupexperimentermap WHERE child = $1), 0) "
        "ON CONFLICT (parent, child) DO UPDATE SET owner = groupexperimentermap.owner OR EXCLUDED.owner "
        "RETURNING id",
        BLZ_P (BLZ_I64 (ub, uid), BLZ_I64 (gb, gid), owner ? "true" : "false"));
    if (!res)
        return -1;
    int64_t id = atoll (PQgetvalue (res, 0, 0));
    PQclear (res);
    return blz_db_log (op->db, "INSERT", T_MAP, id, err);
}

static int
count_members (op_t *op, int64_t gid, long *out, omr_err_t *err)
{
    char gb[24];
    PGresult *res = blz_db_query (op->db, err, "SELECT count(*) FROM groupexperimentermap WHERE parent = $1",
                                  BLZ_P (BLZ_I64 (gb, gid)));
    if (!res)
        return -1;
    *out = atol (PQgetvalue (res, 0, 0));
    PQclear (res);
    return 0;
}

static int
remove_member (op_t *op, int64_t uid, int64_t gid, omr_err_t *err)
{
    blz_app_t *app = op->app;
    if (uid == app->root_id && (gid == app->system_gid || gid == app->user_gid))
        return omr_err_set (err, OMR_E_SECURITY, 403, "root cannot be removed from group %s",
                            gid == app->system_gid ? "system" : "user");
    if (uid == app->guest_id && gid == app->guest_gid)
        return omr_err_set (err, OMR_E_SECURITY, 403, "guest cannot be removed from group guest");
    if (gid == app->system_gid) {
        long n;
        if (count_members (op, gid, &n, err) < 0)
            return -1;
        if (n <= 1)
            return omr_err_set (err, OMR_E_SECURITY, 403, "cannot remove the last administrator from group system");
    }
    char ub[24], gb[24];
    PGresult *res = blz_db_query (op->db, err,
                                  "DELETE FROM groupexperimentermap WHERE child = $1 AND parent = $2 RETURNING id",
                                  BLZ_P (BLZ_I64 (ub, uid), BLZ_I64 (gb, gid)));
    if (!res)
        return -1;
    int n = PQntuples (res);
    int64_t id = n ? atoll (PQgetvalue (res, 0, 0)) : -1;
    PQclear (res);
    if (n == 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "user %lld is not a member of group %lld", (long long) uid,
                            (long long) gid);
    return blz_db_log (op->db, "DELETE", T_MAP, id, err);
}

static int
set_owner_flag (op_t *op, int64_t uid, int64_t gid, bool owner, omr_err_t *err)
{
    char ub[24], gb[24];
    PGresult *res = blz_db_query (op->db, err,
                                  "UPDATE groupexperimentermap SET owner = $3, version = coalesce(version, 0) + 1 "
                                  "WHERE child = $1 AND parent = $2 RETURNING id",
                                  BLZ_P (BLZ_I64 (ub, uid), BLZ_I64 (gb, gid), owner ? "true" : "false"));
    if (!res)
        return -1;
    int n = PQntuples (res);
    int64_t id = n ? atoll (PQgetvalue (res, 0, 0)) : -1;
    PQclear (res);
    if (n == 0) {
        if (!owner)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "user %lld is not a member of group %lld",
                                (long long) uid, (long long) gid);
        /* OMERO: making a non-member an owner makes them a member too. */
        return add_member (op, uid, gid, true, err);
    }
    return blz_db_log (op->db, "UPDATE", T_MAP, id, err);
}

/* Put gid first in the user's group order (index 0 = default group). */
static int
set_default_group (op_t *op, int64_t uid, int64_t gid, omr_err_t *err)
{
    char ub[24], gb[24];
    long n = blz_db_exec (op->db, err,
                          "UPDATE groupexperimentermap m SET child_index = r.rn FROM (SELECT id, row_number() OVER "
                          "(ORDER BY (parent = $2) DESC, child_index NULLS LAST, id) - 1 AS rn "
                          "FROM groupexperimentermap WHERE child = $1) r WHERE m.id = r.id "
                          "AND EXISTS (SELECT 1 FROM groupexperimentermap WHERE child = $1 AND parent = $2)",
                          BLZ_P (BLZ_I64 (ub, uid), BLZ_I64 (gb, gid)));
    if (n < 0)
        return -1;
    if (n == 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "user %lld is not a member of group %lld", (long long) uid,
                            (long long) gid);
    return blz_db_log (op->db, "UPDATE", T_EXP, uid, err);
}

/* ---- experimenters -------------------------------------------------------------------------- */

static const char *
field (const json_t *o, const char *a, const char *b)
{
    const char *v = json_string_value (json_object_get (o, a));
    return v ? v : json_string_value (json_object_get (o, b));
}

static int
set_password (op_t *op, int64_t uid, const char *password, omr_err_t *err)
{
    if (!password || (!*password && op->app->password_required))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "a non-empty password is required");
    char hash[BLZ_PASSWORD_MAX], ub[24];
    if (blz_app_hash (op->app, password, hash, err) < 0)
        return -1;
    if (blz_db_exec (op->db, err,
                     "INSERT INTO password (experimenter_id, hash, changed) VALUES ($1, $2, now()) "
                     "ON CONFLICT (experimenter_id) DO UPDATE SET hash = EXCLUDED.hash, changed = now()",
                     BLZ_P (BLZ_I64 (ub, uid), hash))
        < 0)
        return -1;
    return blz_db_log (op->db, "UPDATE", T_EXP, uid, err);
}

/* Insert an experimenter from JSON ({UserName|omeName, FirstName, LastName, …}). */
static int64_t
insert_experimenter (op_t *op, const json_t *e, omr_err_t *err)
{
    if (!json_is_object (e)) {
        omr_err_set (err, OMR_E_API, 400, "\"experimenter\" must be an object with UserName, FirstName, LastName");
        return -1;
    }
    char namebuf[256];
    const char *name = blz_app_username (op->app, field (e, "UserName", "omeName"), namebuf, sizeof namebuf),
               *first = field (e, "FirstName", "firstName"), *last = field (e, "LastName", "lastName");
    if (!name || !*name || strspn (name, " \t") == strlen (name)) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "a user name (UserName) is required");
        return -1;
    }
    if (!first || !last) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "FirstName and LastName are required");
        return -1;
    }
    PGresult *res = blz_db_query (
        op->db, err,
        "INSERT INTO experimenter (id, permissions, version, omename, firstname, middlename, lastname, email, "
        "institution, ldap) VALUES (nextval('seq_experimenter'), -52, 0, $1, $2, $3, $4, $5, $6, $7) RETURNING id",
        BLZ_P (name, first, field (e, "MiddleName", "middleName"), last, field (e, "Email", "email"),
               field (e, "Institution", "institution"),
               json_is_true (json_object_get (e, "omero:ldap")) ? "true" : "false"));
    if (!res) {
        if (!strcmp (err->name, OMR_E_VALIDATION) && err->status == 409)
            omr_err_set (err, OMR_E_VALIDATION, 409, "a user named '%s' already exists", name);
        return -1;
    }
    int64_t id = atoll (PQgetvalue (res, 0, 0));
    PQclear (res);
    if (blz_db_log (op->db, "INSERT", T_EXP, id, err) < 0)
        return -1;
    return id;
}

/* Create a user with a default group and more groups, and an optional password. */
static int
create_user (op_t *op, const json_t *e, const json_t *defgroup, const json_t *groups, bool system, omr_err_t *err)
{
    if (need (op, "ModifyUser", "create users", err) < 0)
        return -1;
    if (system && op->ctx.privileges != BLZ_ALL_PRIVILEGES)
        return omr_err_set (err, OMR_E_SECURITY, 403, "only a full administrator may create administrators");
    int64_t uid = insert_experimenter (op, e, err);
    if (uid < 0)
        return -1;
    int64_t gids[BLZ_MAX_GROUPS];
    int n = 0;
    if (defgroup && !json_is_null (defgroup)) {
        if ((gids[n] = blz_group_ref (op->db, defgroup, err)) < 0)
            return -1;
        n++;
    }
    size_t i;
    json_t *g;
    json_array_foreach (groups, i, g) {
        if (n >= BLZ_MAX_GROUPS)
            return omr_err_set (err, OMR_E_API, 400, "too many groups");
        if ((gids[n] = blz_group_ref (op->db, g, err)) < 0)
            return -1;
        n++;
    }
    if (system) {
        gids[n++] = op->app->system_gid;
        gids[n++] = op->app->user_gid;
    }
    if (n == 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "a new user needs at least one group");
    for (int k = 0; k < n; k++) {
        if (gids[k] == op->app->system_gid && op->ctx.privileges != BLZ_ALL_PRIVILEGES)
            return omr_err_set (err, OMR_E_SECURITY, 403, "only a full administrator may create administrators");
        if (add_member (op, uid, gids[k], false, err) < 0)
            return -1;
    }
    const char *pw = blz_str (op->body, "password");
    if (pw && set_password (op, uid, pw, err) < 0)
        return -1;
    op->call->reply = json_pack ("{s:I}", "id", (json_int_t) uid);
    omr_info ("user %lld created by %s", (long long) uid, op->ctx.user_name);
    return 0;
}

static int
a_create_user (op_t *op, omr_err_t *err)
{
    json_t *group = json_object_get (op->body, "group");
    if (!group)
        return omr_err_set (err, OMR_E_API, 400, "createUser needs \"group\" (the user's default group)");
    json_t *groups = json_pack ("[i]", (int) op->app->user_gid);
    int rc = create_user (op, json_object_get (op->body, "experimenter"), group, groups, false, err);
    json_decref (groups);
    return rc;
}

static int
a_create_system_user (op_t *op, omr_err_t *err)
{
    return create_user (op, json_object_get (op->body, "experimenter"), NULL, NULL, true, err);
}

static int
a_create_experimenter (op_t *op, omr_err_t *err)
{
    json_t *def = json_object_get (op->body, "defaultGroup");
    if (!def)
        return omr_err_set (err, OMR_E_API, 400, "createExperimenter needs \"defaultGroup\"");
    return create_user (op, json_object_get (op->body, "experimenter"), def, json_object_get (op->body, "groups"),
                        false, err);
}

static int
a_create_experimenter_pw (op_t *op, omr_err_t *err)
{
    if (!blz_str (op->body, "password"))
        return omr_err_set (err, OMR_E_API, 400, "createExperimenterWithPassword needs \"password\"");
    return a_create_experimenter (op, err);
}

/* Update names/email/institution (and, for administrators, the user name). */
static int
update_experimenter (op_t *op, int64_t uid, const json_t *e, bool allow_rename, omr_err_t *err)
{
    char namebuf[256], ub[24];
    const char *name = blz_app_username (op->app, field (e, "UserName", "omeName"), namebuf, sizeof namebuf);
    PGresult *res = blz_db_query (op->db, err, "SELECT omename FROM experimenter WHERE id = $1 FOR UPDATE",
                                  BLZ_P (BLZ_I64 (ub, uid)));
    if (!res)
        return -1;
    if (PQntuples (res) != 1) {
        PQclear (res);
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no user with id %lld", (long long) uid);
    }
    bool renamed = name && strcmp (name, PQgetvalue (res, 0, 0)) != 0;
    PQclear (res);
    if (renamed) {
        if (!allow_rename)
            return omr_err_set (err, OMR_E_SECURITY, 403, "only administrators may change a user name");
        if (uid == op->app->root_id || uid == op->app->guest_id)
            return omr_err_set (err, OMR_E_SECURITY, 403, "the %s user cannot be renamed",
                                uid == op->app->root_id ? "root" : "guest");
        if (!*name)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "a user name cannot be empty");
    }
    /* Absent members keep their value; JSON null clears an optional one. */
    static const char *cols[][3] = {{"omename", "UserName", "omeName"},       {"firstname", "FirstName", "firstName"},
                                    {"middlename", "MiddleName", "middleName"}, {"lastname", "LastName", "lastName"},
                                    {"email", "Email", "email"},               {"institution", "Institution", "institution"}};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        json_t *v = json_object_get (e, cols[i][1]);
        if (!v)
            v = json_object_get (e, cols[i][2]);
        if (!v)
            continue;
        if (!json_is_string (v) && !json_is_null (v))
            return omr_err_set (err, OMR_E_API, 400, "%s must be a string", cols[i][1]);
        if (json_is_null (v) && i < 4 && i != 2)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%s cannot be removed", cols[i][1]);
        char sql[160], lower[256];
        snprintf (sql, sizeof sql, "UPDATE experimenter SET %s = $2, version = coalesce(version, 0) + 1 WHERE id = $1",
                  cols[i][0]);
        const char *value = i == 0 ? blz_app_username (op->app, json_string_value (v), lower, sizeof lower)
                                   : json_string_value (v);
        if (blz_db_exec (op->db, err, sql, BLZ_P (ub, value)) < 0) {
            if (!strcmp (err->name, OMR_E_VALIDATION) && err->status == 409)
                omr_err_set (err, OMR_E_VALIDATION, 409, "a user named '%s' already exists", json_string_value (v));
            return -1;
        }
    }
    return blz_db_log (op->db, "UPDATE", T_EXP, uid, err);
}

static int
a_update_experimenter (op_t *op, omr_err_t *err)
{
    const json_t *e = json_object_get (op->body, "experimenter");
    int64_t uid = blz_user_ref (op->db, json_object_get (e, "@id") ? json_object_get (e, "@id") : e, err);
    if (uid < 0)
        return -1;
    if (need (op, "ModifyUser", "change other users", err) < 0)
        return -1;
    bool target_admin;
    if (is_admin (op, uid, &target_admin, err) < 0)
        return -1;
    if (target_admin && op->ctx.privileges != BLZ_ALL_PRIVILEGES)
        return omr_err_set (err, OMR_E_SECURITY, 403, "only a full administrator may change an administrator");
    if (update_experimenter (op, uid, e, true, err) < 0)
        return -1;
    op->call->reply = json_object ();
    return 0;
}

static int
a_update_self (op_t *op, omr_err_t *err)
{
    if (update_experimenter (op, op->ctx.user_id, json_object_get (op->body, "experimenter"), false, err) < 0)
        return -1;
    op->call->reply = json_object ();
    return 0;
}

static int
a_get_experimenter (op_t *op, omr_err_t *err)
{
    int64_t uid = user_arg (op, "id", false, err);
    if (uid < 0)
        return -1;
    return (op->call->reply = blz_admin_experimenter_json (op->db, uid, err)) ? 0 : -1;
}

static int
a_lookup_experimenter (op_t *op, omr_err_t *err)
{
    char namebuf[256];
    const char *name = blz_app_username (op->app, blz_str (op->body, "name"), namebuf, sizeof namebuf);
    if (!name)
        return omr_err_set (err, OMR_E_API, 400, "lookupExperimenter needs \"name\"");
    json_t *arr = rows_json (op->db, err, exp_row, "SELECT " EXP_COLS " FROM experimenter WHERE omename = $1",
                             BLZ_P (name));
    if (!arr)
        return -1;
    op->call->reply = json_incref (json_array_get (arr, 0));
    json_decref (arr);
    if (!op->call->reply)
        return omr_err_set (err, OMR_E_API, 404, "no user named '%s'", name);
    return 0;
}

static int
a_lookup_experimenters (op_t *op, omr_err_t *err)
{
    json_t *arr = rows_json (op->db, err, exp_row, "SELECT " EXP_COLS " FROM experimenter ORDER BY id", 0, NULL);
    if (!arr)
        return -1;
    op->call->reply = json_pack ("{s:o}", "data", arr);
    return 0;
}

/* ---- groups --------------------------------------------------------------------------------- */

static int
group_perms_of (const json_t *g, const char **out)
{
    const json_t *d = json_object_get (json_object_get (g, "omero:details"), "permissions");
    *out = field (d, "perm", "perm");
    if (!*out)
        *out = field (g, "perms", "permissions");
    return 0;
}

static int
a_create_group (op_t *op, omr_err_t *err)
{
    if (need (op, "ModifyGroup", "create groups", err) < 0)
        return -1;
    const json_t *g = json_object_get (op->body, "group");
    const char *name = field (g, "Name", "name"), *perm = NULL;
    if (!name || !*name)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "a group name (Name) is required");
    group_perms_of (g, &perm);
    if (!perm)
        perm = blz_str (op->body, "perms");
    int64_t bits;
    if (blz_perms_parse (perm ? perm : "rw----", &bits, err) < 0)
        return -1;
    char pb[24];
    PGresult *res = blz_db_query (op->db, err,
                                  "INSERT INTO experimentergroup (id, permissions, version, name, description, ldap) "
                                  "VALUES (nextval('seq_experimentergroup'), $1, 0, $2, $3, false) RETURNING id",
                                  BLZ_P (BLZ_I64 (pb, bits), name, field (g, "Description", "description")));
    if (!res) {
        if (!strcmp (err->name, OMR_E_VALIDATION) && err->status == 409)
            omr_err_set (err, OMR_E_VALIDATION, 409, "a group named '%s' already exists", name);
        return -1;
    }
    int64_t id = atoll (PQgetvalue (res, 0, 0));
    PQclear (res);
    if (blz_db_log (op->db, "INSERT", T_GROUP, id, err) < 0)
        return -1;
    op->call->reply = json_pack ("{s:I}", "id", (json_int_t) id);
    return 0;
}

static int change_permissions (op_t *op, int64_t gid, const char *perm, omr_err_t *err);

static int
a_update_group (op_t *op, omr_err_t *err)
{
    const json_t *g = json_object_get (op->body, "group");
    int64_t gid = blz_group_ref (op->db, json_object_get (g, "@id") ? json_object_get (g, "@id") : g, err);
    if (gid < 0)
        return -1;
    if (!blz_ctx_can (&op->ctx, "ModifyGroup") && !(blz_ctx_owner (&op->ctx, gid) && !builtin_group (op, gid)))
        return omr_err_set (err, OMR_E_SECURITY, 403, "only administrators and owners of group %lld may change it",
                            (long long) gid);
    char gb[24];
    BLZ_I64 (gb, gid);
    const char *name = field (g, "Name", "name");
    if (name) {
        PGresult *res = blz_db_query (op->db, err, "SELECT name FROM experimentergroup WHERE id = $1", BLZ_P (gb));
        if (!res)
            return -1;
        bool renamed = strcmp (PQgetvalue (res, 0, 0), name) != 0;
        PQclear (res);
        if (renamed && builtin_group (op, gid))
            return omr_err_set (err, OMR_E_SECURITY, 403, "the built-in groups system, user and guest cannot be renamed");
        if (renamed && !*name)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "a group name cannot be empty");
        if (renamed && blz_db_exec (op->db, err, "UPDATE experimentergroup SET name = $2 WHERE id = $1", BLZ_P (gb, name)) < 0) {
            if (!strcmp (err->name, OMR_E_VALIDATION) && err->status == 409)
                omr_err_set (err, OMR_E_VALIDATION, 409, "a group named '%s' already exists", name);
            return -1;
        }
    }
    json_t *d = json_object_get (g, "Description");
    if (!d)
        d = json_object_get (g, "description");
    if (d && blz_db_exec (op->db, err, "UPDATE experimentergroup SET description = $2 WHERE id = $1",
                          BLZ_P (gb, json_string_value (d))) < 0)
        return -1;
    if (blz_db_exec (op->db, err, "UPDATE experimentergroup SET version = coalesce(version, 0) + 1 WHERE id = $1",
                     BLZ_P (gb)) < 0
        || blz_db_log (op->db, "UPDATE", T_GROUP, gid, err) < 0)
        return -1;
    const char *perm = NULL;
    group_perms_of (g, &perm);
    if (perm && change_permissions (op, gid, perm, err) < 0)
        return -1;
    op->call->reply = json_object ();
    return 0;
}

static int
a_get_group (op_t *op, omr_err_t *err)
{
    int64_t gid = group_arg (op, "id", err);
    if (gid < 0)
        return -1;
    return (op->call->reply = blz_admin_group_json (op->db, gid, err)) ? 0 : -1;
}

static int
a_lookup_group (op_t *op, omr_err_t *err)
{
    const char *name = blz_str (op->body, "name");
    if (!name)
        return omr_err_set (err, OMR_E_API, 400, "lookupGroup needs \"name\"");
    json_t *arr = rows_json (op->db, err, group_row, "SELECT " GROUP_COLS " FROM experimentergroup WHERE name = $1",
                             BLZ_P (name));
    if (!arr)
        return -1;
    op->call->reply = json_incref (json_array_get (arr, 0));
    json_decref (arr);
    if (!op->call->reply)
        return omr_err_set (err, OMR_E_API, 404, "no group named '%s'", name);
    return 0;
}

static int
a_lookup_groups (op_t *op, omr_err_t *err)
{
    json_t *arr = rows_json (op->db, err, group_row, "SELECT " GROUP_COLS " FROM experimentergroup ORDER BY id", 0, NULL);
    if (!arr)
        return -1;
    op->call->reply = json_pack ("{s:o}", "data", arr);
    return 0;
}

/* Whether a group holds references between objects of different owners (links, projections …):
 * OMERO refuses to make such a group private. Looks at every foreign key between owned tables. */
static int
cross_owner_refs (op_t *op, int64_t gid, char *example, size_t len, omr_err_t *err)
{
    PGresult *fk = blz_db_query (
        op->db, err,
        "SELECT c.relname, a.attname, t.relname FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class t ON t.oid = k.confrelid "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.conkey[1] "
        "WHERE k.contype = 'f' AND array_length(k.conkey, 1) = 1 AND c.relnamespace = t.relnamespace "
        "AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) "
        "AND a.attname NOT IN ('owner_id', 'group_id', 'creation_id', 'update_id', 'external_id') "
        "AND EXISTS (SELECT 1 FROM pg_attribute x WHERE x.attrelid = c.oid AND x.attname = 'owner_id') "
        "AND EXISTS (SELECT 1 FROM pg_attribute x WHERE x.attrelid = c.oid AND x.attname = 'group_id') "
        "AND EXISTS (SELECT 1 FROM pg_attribute x WHERE x.attrelid = t.oid AND x.attname = 'owner_id') "
        "ORDER BY 1, 2",
        0, NULL);
    if (!fk)
        return -1;
    size_t cap = 4096, off = 0;
    char *sql = malloc (cap);
    sql[0] = 0;
    PGconn *conn = blz_db_conn (op->db);
    for (int i = 0; i < PQntuples (fk); i++) {
        char *tab = PQescapeIdentifier (conn, PQgetvalue (fk, i, 0), strlen (PQgetvalue (fk, i, 0)));
        char *col = PQescapeIdentifier (conn, PQgetvalue (fk, i, 1), strlen (PQgetvalue (fk, i, 1)));
        char *tgt = PQescapeIdentifier (conn, PQgetvalue (fk, i, 2), strlen (PQgetvalue (fk, i, 2)));
        char *lit = PQescapeLiteral (conn, PQgetvalue (fk, i, 0), strlen (PQgetvalue (fk, i, 0)));
        size_t need_len = strlen (tab) * 2 + strlen (col) + strlen (tgt) + strlen (lit) + 200;
        if (off + need_len >= cap) {
            cap = (off + need_len) * 2;
            sql = realloc (sql, cap);
        }
        off += snprintf (sql + off, cap - off,
                         "%s(SELECT %s FROM %s s JOIN %s t ON t.id = s.%s WHERE s.group_id = $1 "
                         "AND s.owner_id <> t.owner_id LIMIT 1)",
                         off ? " UNION ALL " : "", lit, tab, tgt, col);
        PQfreemem (tab);
        PQfreemem (col);
        PQfreemem (tgt);
        PQfreemem (lit);
    }
    PQclear (fk);
    int found = 0;
    if (off) {
        char gb[24];
        snprintf (sql + off, cap - off, " LIMIT 1");
        PGresult *res = blz_db_query (op->db, err, sql, BLZ_P (BLZ_I64 (gb, gid)));
        if (!res) {
            free (sql);
            return -1;
        }
        if (PQntuples (res) > 0) {
            found = 1;
            snprintf (example, len, "%s", PQgetvalue (res, 0, 0));
        }
        PQclear (res);
    }
    free (sql);
    return found;
}

static int
change_permissions (op_t *op, int64_t gid, const char *perm, omr_err_t *err)
{
    int64_t bits;
    if (blz_perms_parse (perm, &bits, err) < 0)
        return -1;
    if (builtin_group (op, gid))
        return omr_err_set (err, OMR_E_SECURITY, 403, "the permissions of groups system, user and guest are fixed");
    bool admin = blz_ctx_can (&op->ctx, "ModifyGroup");
    if (!admin && !blz_ctx_owner (&op->ctx, gid))
        return omr_err_set (err, OMR_E_SECURITY, 403,
                            "only administrators and owners of group %lld may change its permissions", (long long) gid);
    char s[7];
    blz_perms_string (bits, s);
    if (strcmp (s, "rw----") && strcmp (s, "rwr---") && strcmp (s, "rwra--") && strcmp (s, "rwrw--"))
        return omr_err_set (err, OMR_E_API, 400,
                            "groups are private (rw----), read-only (rwr---), read-annotate (rwra--) or read-write (rwrw--)");
    char gb[24];
    PGresult *res = blz_db_query (op->db, err, "SELECT permissions FROM experimentergroup WHERE id = $1 FOR UPDATE",
                                  BLZ_P (BLZ_I64 (gb, gid)));
    if (!res)
        return -1;
    int64_t old = atoll (PQgetvalue (res, 0, 0));
    PQclear (res);
    char olds[7];
    blz_perms_string (old, olds);
    if (!strcmp (olds, s))
        return 0;
    if (!admin && (bits & 32) && !(old & 32))
        return omr_err_set (err, OMR_E_SECURITY, 403, "only an administrator may make a group read-write");
    if (!(bits & 64) && (old & 64)) {
        char example[128] = "";
        if (blz_db_internal (op->db, true, err) < 0)
            return -1;
        int found = cross_owner_refs (op, gid, example, sizeof example, err);
        if (found >= 0 && blz_db_internal (op->db, false, err) < 0)
            return -1;
        if (found < 0)
            return -1;
        if (found)
            return omr_err_set (err, OMR_E_VALIDATION, 409,
                                "group %lld cannot become private: it holds data of one member linked to data of "
                                "another (table %s); remove those links first",
                                (long long) gid, example);
    }
    /* Keep the flag bits above the rights (reverse logic in OMERO) and replace the rights. */
    int64_t merged = (old & ~(int64_t) 0x7ff) | (bits & 0x7ff);
    char pb[24];
    if (blz_db_exec (op->db, err,
                     "UPDATE experimentergroup SET permissions = $2, version = coalesce(version, 0) + 1 WHERE id = $1",
                     BLZ_P (gb, BLZ_I64 (pb, merged)))
        < 0)
        return -1;
    omr_info ("group %lld permissions %s -> %s by %s", (long long) gid, olds, s, op->ctx.user_name);
    return blz_db_log (op->db, "UPDATE", T_GROUP, gid, err);
}

static int
a_change_permissions (op_t *op, omr_err_t *err)
{
    json_t *g = json_object_get (op->body, "group");
    int64_t gid = blz_group_ref (op->db, json_is_object (g) && json_object_get (g, "@id") ? json_object_get (g, "@id") : g, err);
    if (gid < 0)
        return -1;
    const char *perm = blz_str (op->body, "perms");
    if (!perm)
        perm = blz_str (op->body, "permissions");
    if (!perm && json_is_object (g))
        group_perms_of (g, &perm);
    if (change_permissions (op, gid, perm, err) < 0)
        return -1;
    op->call->reply = json_object ();
    return 0;
}

/* ---- membership operations ------------------------------------------------------------------ */

static int
groups_list (op_t *op, const char *key, int64_t *gids, int *n, omr_err_t *err)
{
    json_t *arr = json_object_get (op->body, key);
    *n = 0;
    if (!json_is_array (arr)) {
        if (!arr)
            return omr_err_set (err, OMR_E_API, 400, "\"%s\" (a list of groups) is needed", key);
        if ((gids[0] = blz_group_ref (op->db, arr, err)) < 0)
            return -1;
        *n = 1;
        return 0;
    }
    size_t i;
    json_t *g;
    json_array_foreach (arr, i, g) {
        if (*n >= BLZ_MAX_GROUPS)
            return omr_err_set (err, OMR_E_API, 400, "too many groups");
        if ((gids[*n] = blz_group_ref (op->db, g, err)) < 0)
            return -1;
        (*n)++;
    }
    return 0;
}

static int
a_add_groups (op_t *op, omr_err_t *err)
{
    int64_t uid = user_arg (op, "user", false, err), gids[BLZ_MAX_GROUPS];
    int n;
    if (uid < 0 || groups_list (op, "groups", gids, &n, err) < 0)
        return -1;
    bool owner = json_is_true (json_object_get (op->body, "owner"));
    for (int i = 0; i < n; i++)
        if (may_manage_members (op, gids[i], err) < 0 || add_member (op, uid, gids[i], owner, err) < 0)
            return -1;
    op->call->reply = json_object ();
    return 0;
}

static int
a_remove_groups (op_t *op, omr_err_t *err)
{
    int64_t uid = user_arg (op, "user", false, err), gids[BLZ_MAX_GROUPS];
    int n;
    if (uid < 0 || groups_list (op, "groups", gids, &n, err) < 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (may_manage_members (op, gids[i], err) < 0 || remove_member (op, uid, gids[i], err) < 0)
            return -1;
    op->call->reply = json_object ();
    return 0;
}

static int
owners (op_t *op, bool owner, bool many, omr_err_t *err)
{
    int64_t gid = group_arg (op, "group", err);
    if (gid < 0 || may_manage_members (op, gid, err) < 0)
        return -1;
    json_t *users = many ? json_object_get (op->body, "users") : NULL;
    if (many && !json_is_array (users))
        return omr_err_set (err, OMR_E_API, 400, "\"users\" (a list of users) is needed");
    size_t n = many ? json_array_size (users) : 1;
    for (size_t i = 0; i < n; i++) {
        int64_t uid = many ? blz_user_ref (op->db, json_array_get (users, i), err) : user_arg (op, "user", false, err);
        if (uid < 0 || set_owner_flag (op, uid, gid, owner, err) < 0)
            return -1;
    }
    op->call->reply = json_object ();
    return 0;
}

static int a_set_group_owner (op_t *op, omr_err_t *err) { return owners (op, true, false, err); }
static int a_unset_group_owner (op_t *op, omr_err_t *err) { return owners (op, false, false, err); }
static int a_add_group_owners (op_t *op, omr_err_t *err) { return owners (op, true, true, err); }
static int a_remove_group_owners (op_t *op, omr_err_t *err) { return owners (op, false, true, err); }

static int
a_set_default_group (op_t *op, omr_err_t *err)
{
    int64_t uid = user_arg (op, "user", true, err);
    if (uid < 0)
        return -1;
    int64_t gid = group_arg (op, "group", err);
    if (gid < 0)
        return -1;
    if (uid != op->ctx.user_id && need (op, "ModifyUser", "change another user's default group", err) < 0)
        return -1;
    if (set_default_group (op, uid, gid, err) < 0)
        return -1;
    op->call->reply = json_object ();
    return 0;
}

static int
a_get_default_group (op_t *op, omr_err_t *err)
{
    int64_t uid = user_arg (op, "user", true, err);
    if (uid < 0)
        return -1;
    char ub[24], gb[24];
    PGresult *res = blz_db_query (op->db, err,
                                  "SELECT parent FROM groupexperimentermap WHERE child = $1 AND parent <> $2 "
                                  "ORDER BY child_index NULLS LAST, id LIMIT 1",
                                  BLZ_P (BLZ_I64 (ub, uid), BLZ_I64 (gb, op->app->user_gid)));
    if (!res)
        return -1;
    int64_t gid = PQntuples (res) ? atoll (PQgetvalue (res, 0, 0)) : op->app->user_gid;
    PQclear (res);
    return (op->call->reply = blz_admin_group_json (op->db, gid, err)) ? 0 : -1;
}

static int
id_list (op_t *op, const char *sql, int64_t id, omr_err_t *err)
{
    char b[24];
    PGresult *res = blz_db_query (op->db, err, sql, BLZ_P (BLZ_I64 (b, id)));
    if (!res)
        return -1;
    json_t *arr = json_array ();
    for (int i = 0; i < PQntuples (res); i++)
        json_array_append_new (arr, json_integer (atoll (PQgetvalue (res, i, 0))));
    PQclear (res);
    op->call->reply = json_pack ("{s:o}", "data", arr);
    return 0;
}

static int
a_member_of (op_t *op, omr_err_t *err)
{
    int64_t uid = user_arg (op, "user", true, err);
    return uid < 0 ? -1
                   : id_list (op, "SELECT parent FROM groupexperimentermap WHERE child = $1 "
                                  "ORDER BY child_index NULLS LAST, id", uid, err);
}

static int
a_leader_of (op_t *op, omr_err_t *err)
{
    int64_t uid = user_arg (op, "user", true, err);
    return uid < 0 ? -1
                   : id_list (op, "SELECT parent FROM groupexperimentermap WHERE child = $1 AND owner "
                                  "ORDER BY child_index NULLS LAST, id", uid, err);
}

static int
a_contained_experimenters (op_t *op, omr_err_t *err)
{
    int64_t gid = group_arg (op, "group", err);
    char b[24];
    if (gid < 0)
        return -1;
    json_t *arr = rows_json (op->db, err, exp_row,
                             "SELECT e.id, e.omename, e.firstname, e.middlename, e.lastname, e.email, e.institution, "
                             "e.ldap FROM experimenter e JOIN groupexperimentermap m ON m.child = e.id "
                             "WHERE m.parent = $1 ORDER BY e.id",
                             BLZ_P (BLZ_I64 (b, gid)));
    if (!arr)
        return -1;
    op->call->reply = json_pack ("{s:o}", "data", arr);
    return 0;
}

static int
a_contained_groups (op_t *op, omr_err_t *err)
{
    int64_t uid = user_arg (op, "user", true, err);
    char b[24];
    if (uid < 0)
        return -1;
    json_t *arr = rows_json (op->db, err, group_row,
                             "SELECT g.id, g.name, g.description, g.permissions, g.ldap FROM experimentergroup g "
                             "JOIN groupexperimentermap m ON m.parent = g.id WHERE m.child = $1 "
                             "ORDER BY m.child_index NULLS LAST, m.id",
                             BLZ_P (BLZ_I64 (b, uid)));
    if (!arr)
        return -1;
    op->call->reply = json_pack ("{s:o}", "data", arr);
    return 0;
}

/* ---- passwords and context ------------------------------------------------------------------ */

static int
a_change_password (op_t *op, omr_err_t *err)
{
    const char *old = blz_str (op->body, "oldPassword"), *pw = blz_str (op->body, "newPassword");
    if (!pw)
        pw = blz_str (op->body, "password");
    if (!old || !pw)
        return omr_err_set (err, OMR_E_API, 400, "changePassword needs \"oldPassword\" and \"newPassword\"");
    if (op->ctx.sudoer_id >= 0)
        return omr_err_set (err, OMR_E_SECURITY, 403, "a sudo session cannot change the user's password");
    char ub[24];
    PGresult *res = blz_db_query (op->db, err, "SELECT hash FROM password WHERE experimenter_id = $1",
                                  BLZ_P (BLZ_I64 (ub, op->ctx.user_id)));
    if (!res)
        return -1;
    bool ok = blz_password_verify (old, PQntuples (res) && !PQgetisnull (res, 0, 0) ? PQgetvalue (res, 0, 0) : NULL,
                                   op->app->hash_iterations);
    PQclear (res);
    if (!ok)
        return omr_err_set (err, OMR_E_SECURITY, 403, "the old password is not correct");
    if (set_password (op, op->ctx.user_id, pw, err) < 0)
        return -1;
    op->call->reply = json_object ();
    return 0;
}

static int
a_change_user_password (op_t *op, omr_err_t *err)
{
    int64_t uid = user_arg (op, "user", false, err);
    if (uid < 0)
        return -1;
    const char *pw = blz_str (op->body, "password");
    if (!pw)
        pw = blz_str (op->body, "newPassword");
    if (need (op, "ModifyUser", "change other users' passwords", err) < 0)
        return -1;
    bool target_admin;
    if (is_admin (op, uid, &target_admin, err) < 0)
        return -1;
    if (target_admin && op->ctx.privileges != BLZ_ALL_PRIVILEGES)
        return omr_err_set (err, OMR_E_SECURITY, 403, "only a full administrator may change an administrator's password");
    if (set_password (op, uid, pw, err) < 0)
        return -1;
    op->call->reply = json_object ();
    return 0;
}

static int
a_get_event_context (op_t *op, omr_err_t *err)
{
    blz_db_rollback (op->db);   /* event_context runs its own read */
    op->call->reply = blz_session_event_context (op->app, op->db, &op->ctx, err);
    return op->call->reply ? 0 : -1;
}

static int
a_admin_privileges (op_t *op, omr_err_t *err)
{
    int64_t uid = user_arg (op, "user", true, err);
    if (uid < 0)
        return -1;
    bool admin;
    if (is_admin (op, uid, &admin, err) < 0)
        return -1;
    json_t *arr = json_array ();
    if (admin) {
        char ub[24];
        PGresult *res = blz_db_query (op->db, err,
                                      "SELECT substr(name, 16) FROM experimenter_config WHERE experimenter_id = $1 "
                                      "AND name LIKE 'AdminPrivilege:%' AND lower(value) = 'false'",
                                      BLZ_P (BLZ_I64 (ub, uid)));
        if (!res) {
            json_decref (arr);
            return -1;
        }
        for (int i = 0; i < BLZ_NPRIVILEGES; i++) {
            bool denied = false;
            for (int r = 0; r < PQntuples (res); r++)
                denied |= !strcmp (PQgetvalue (res, r, 0), blz_privilege_name (i));
            if (!denied)
                json_array_append_new (arr, json_string (blz_privilege_name (i)));
        }
        PQclear (res);
    }
    op->call->reply = json_pack ("{s:o}", "data", arr);
    return 0;
}

static int
a_current_privileges (op_t *op, omr_err_t *err)
{
    json_t *arr = json_array ();
    for (int i = 0; op->ctx.admin && i < BLZ_NPRIVILEGES; i++)
        if (op->ctx.privileges & (1u << i))
            json_array_append_new (arr, json_string (blz_privilege_name (i)));
    op->call->reply = json_pack ("{s:o}", "data", arr);
    return 0;
}

/* Privilege names from {"privileges": [...]} into a bitmask; unknown names are refused. */
static int
privileges_arg (op_t *op, unsigned *out, omr_err_t *err)
{
    json_t *arr = json_object_get (op->body, "privileges");
    if (!json_is_array (arr))
        return omr_err_set (err, OMR_E_API, 400, "\"privileges\" (a list of AdminPrivilege names) is needed");
    unsigned p = 0;
    size_t i;
    json_t *v;
    json_array_foreach (arr, i, v) {
        int k = blz_privilege_index (json_string_value (v));
        if (k < 0)
            return omr_err_set (err, OMR_E_API, 400, "unknown AdminPrivilege %s",
                                json_is_string (v) ? json_string_value (v) : "(not a string)");
        p |= 1u << k;
    }
    *out = p;
    return 0;
}

/* Store a restricted administrator's privileges as OMERO does: AdminPrivilege:<Name> = false in
 * Experimenter.config for each privilege not held. */
static int
store_privileges (op_t *op, int64_t uid, unsigned privs, omr_err_t *err)
{
    if (op->ctx.privileges != BLZ_ALL_PRIVILEGES)
        return omr_err_set (err, OMR_E_SECURITY, 403, "only a full administrator may set administrator privileges");
    if (uid == op->app->root_id)
        return omr_err_set (err, OMR_E_SECURITY, 403, "root always holds every privilege");
    char ub[24];
    BLZ_I64 (ub, uid);
    if (blz_db_exec (op->db, err,
                     "DELETE FROM experimenter_config WHERE experimenter_id = $1 AND name LIKE 'AdminPrivilege:%'",
                     BLZ_P (ub)) < 0)
        return -1;
    for (int i = 0; i < BLZ_NPRIVILEGES; i++) {
        if (privs & (1u << i))
            continue;
        char name[64];
        snprintf (name, sizeof name, "AdminPrivilege:%s", blz_privilege_name (i));
        if (blz_db_exec (op->db, err,
                         "INSERT INTO experimenter_config (experimenter_id, name, value, index) VALUES ($1, $2, "
                         "'false', coalesce((SELECT max(index) + 1 FROM experimenter_config WHERE experimenter_id = $1), 0))",
                         BLZ_P (ub, name)) < 0)
            return -1;
    }
    return blz_db_log (op->db, "UPDATE", T_EXP, uid, err);
}

static int
a_set_admin_privileges (op_t *op, omr_err_t *err)
{
    int64_t uid = user_arg (op, "user", false, err);
    unsigned privs;
    if (uid < 0 || privileges_arg (op, &privs, err) < 0 || store_privileges (op, uid, privs, err) < 0)
        return -1;
    op->call->reply = json_object ();
    return 0;
}

static int
a_create_light_system_user (op_t *op, omr_err_t *err)
{
    unsigned privs;
    if (privileges_arg (op, &privs, err) < 0)
        return -1;
    if (create_user (op, json_object_get (op->body, "experimenter"), NULL, NULL, true, err) < 0)
        return -1;
    int64_t uid = json_integer_value (json_object_get (op->call->reply, "id"));
    return store_privileges (op, uid, privs, err);
}

static int
a_admins_with_privileges (op_t *op, omr_err_t *err)
{
    unsigned want;
    if (privileges_arg (op, &want, err) < 0)
        return -1;
    char gb[24];
    PGresult *res = blz_db_query (
        op->db, err,
        "SELECT e.id, e.omename, e.firstname, e.middlename, e.lastname, e.email, e.institution, e.ldap, "
        "coalesce((SELECT string_agg(substr(c.name, 16), ',') FROM experimenter_config c WHERE c.experimenter_id = e.id "
        "AND c.name LIKE 'AdminPrivilege:%' AND lower(c.value) = 'false'), '') "
        "FROM experimenter e JOIN groupexperimentermap m ON m.child = e.id WHERE m.parent = $1 ORDER BY e.id",
        BLZ_P (BLZ_I64 (gb, op->app->system_gid)));
    if (!res)
        return -1;
    json_t *arr = json_array ();
    for (int i = 0; i < PQntuples (res); i++) {
        unsigned held = BLZ_ALL_PRIVILEGES;
        char denied[512];
        snprintf (denied, sizeof denied, "%s", PQgetvalue (res, i, 8));
        char *save = NULL;
        for (char *t = strtok_r (denied, ",", &save); t; t = strtok_r (NULL, ",", &save)) {
            int k = blz_privilege_index (t);
            if (k >= 0)
                held &= ~(1u << k);
        }
        if ((held & want) == want)
            json_array_append_new (arr, exp_row (res, i));
    }
    PQclear (res);
    op->call->reply = json_pack ("{s:o}", "data", arr);
    return 0;
}

static int
a_security_roles (op_t *op, omr_err_t *err)
{
    blz_app_t *a = op->app;
    op->call->reply = json_pack ("{s:I,s:s,s:I,s:s,s:I,s:s,s:I,s:s,s:I,s:s}", "rootId", (json_int_t) a->root_id,
                                 "rootName", "root", "guestId", (json_int_t) a->guest_id, "guestName", "guest",
                                 "systemGroupId", (json_int_t) a->system_gid, "systemGroupName", "system",
                                 "userGroupId", (json_int_t) a->user_gid, "userGroupName", "user", "guestGroupId",
                                 (json_int_t) a->guest_gid, "guestGroupName", "guest");
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    admin_fn fn;
} ops[] = {
    {"createUser", a_create_user},
    {"createSystemUser", a_create_system_user},
    {"createExperimenter", a_create_experimenter},
    {"createExperimenterWithPassword", a_create_experimenter_pw},
    {"updateExperimenter", a_update_experimenter},
    {"updateSelf", a_update_self},
    {"getExperimenter", a_get_experimenter},
    {"lookupExperimenter", a_lookup_experimenter},
    {"lookupExperimenters", a_lookup_experimenters},
    {"createGroup", a_create_group},
    {"updateGroup", a_update_group},
    {"getGroup", a_get_group},
    {"lookupGroup", a_lookup_group},
    {"lookupGroups", a_lookup_groups},
    {"changePermissions", a_change_permissions},
    {"addGroups", a_add_groups},
    {"removeGroups", a_remove_groups},
    {"setGroupOwner", a_set_group_owner},
    {"unsetGroupOwner", a_unset_group_owner},
    {"addGroupOwners", a_add_group_owners},
    {"removeGroupOwners", a_remove_group_owners},
    {"setDefaultGroup", a_set_default_group},
    {"getDefaultGroup", a_get_default_group},
    {"getMemberOfGroupIds", a_member_of},
    {"getLeaderOfGroupIds", a_leader_of},
    {"containedExperimenters", a_contained_experimenters},
    {"containedGroups", a_contained_groups},
    {"changePassword", a_change_password},
    {"changePasswordWithOldPassword", a_change_password},
    {"changeUserPassword", a_change_user_password},
    {"getEventContext", a_get_event_context},
    {"getAdminPrivileges", a_admin_privileges},
    {"getCurrentAdminPrivileges", a_current_privileges},
    {"getSecurityRoles", a_security_roles},
    {"setAdminPrivileges", a_set_admin_privileges},
    {"createLightSystemUser", a_create_light_system_user},
    {"createRestrictedSystemUser", a_create_light_system_user},
    {"getAdminsWithPrivileges", a_admins_with_privileges},
};

static int
dispatch (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    const char *method = strchr (omr_msg_op (call->req), '.') + 1;
    admin_fn fn = NULL;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp (ops[i].name, method))
            fn = ops[i].fn;
    if (!fn)
        return omr_err_set (err, OMR_E_API, 404, "IAdmin has no method %s", method);
    op_t op = {.app = app, .db = blz_app_db (app, call), .body = call->req->body, .call = call};
    if (blz_call_ctx (call, &op.ctx, err) < 0)
        return -1;
    if (!json_is_object (op.body) && !json_is_null (op.body))
        return omr_err_set (err, OMR_E_API, 400, "the arguments must be a JSON object");
    if (blz_db_begin (op.db, &op.ctx, err) < 0)
        return -1;
    if (fn (&op, err) < 0 || blz_db_commit (op.db, err) < 0) {
        blz_db_rollback (op.db);
        json_decref (call->reply);
        call->reply = NULL;
        return -1;
    }
    return 0;
}

void
blz_admin_register (blz_app_t *app)
{
    omr_server_on (app->server, "IAdmin.*", dispatch, app);
}
