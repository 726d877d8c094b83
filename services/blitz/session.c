/* session: ISession (createSession, joinSession, closeSession, keepAlive, getSession, resolve,
 * setSecurityContext, createSessionWithTimeout) on PostgreSQL. */
#include "session.h"
#include "omr_log.h"
#include "omr_util.h"
#include "password.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Last access is written only when older than this (ms): cheap keep-alive for busy sessions. */
#define TOUCH_INTERVAL_MS 5000
#define LOGIN_FAILED "Login failed: wrong user name or password"

static int
begin_internal (blz_db_t *db, omr_err_t *err)
{
    blz_ctx_t internal;
    blz_ctx_internal (&internal);
    return blz_db_begin (db, &internal, err);
}

static bool
looks_like_uuid (const char *s)
{
    if (!s || strlen (s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        }
        else if (!isxdigit ((unsigned char) s[i]))
            return false;
    }
    return true;
}

/* Membership of a user: groups in OMERO's order (child_index) and which of them they own. */
static int
load_groups (blz_db_t *db, int64_t uid, blz_ctx_t *ctx, omr_err_t *err)
{
    char ub[24];
    PGresult *res = blz_db_query (db, err,
                                  "SELECT parent, owner FROM groupexperimentermap WHERE child = $1 "
                                  "ORDER BY child_index NULLS LAST, id",
                                  BLZ_P (BLZ_I64 (ub, uid)));
    if (!res)
        return -1;
    ctx->ngroups = ctx->nowned = 0;
    for (int i = 0; i < PQntuples (res) && i < BLZ_MAX_GROUPS; i++) {
        int64_t g = atoll (PQgetvalue (res, i, 0));
        ctx->group_ids[ctx->ngroups++] = g;
        if (PQgetvalue (res, i, 1)[0] == 't')
            ctx->owned_ids[ctx->nowned++] = g;
    }
    PQclear (res);
    return 0;
}

/* Privileges of an administrator: all but those their config restricts (AdminPrivilege:X=false). */
static int
load_privileges (blz_db_t *db, int64_t uid, unsigned *out, omr_err_t *err)
{
    char ub[24];
    PGresult *res = blz_db_query (db, err,
                                  "SELECT substr(name, 16) FROM experimenter_config WHERE experimenter_id = $1 "
                                  "AND name LIKE 'AdminPrivilege:%' AND lower(value) = 'false'",
                                  BLZ_P (BLZ_I64 (ub, uid)));
    if (!res)
        return -1;
    unsigned p = BLZ_ALL_PRIVILEGES;
    for (int i = 0; i < PQntuples (res); i++) {
        int k = blz_privilege_index (PQgetvalue (res, i, 0));
        if (k >= 0)
            p &= ~(1u << k);
    }
    PQclear (res);
    *out = p;
    return 0;
}

/* Fill the user part of a context (groups, admin flag, privileges). */
static int
fill_user (blz_app_t *app, blz_db_t *db, int64_t uid, blz_ctx_t *ctx, omr_err_t *err)
{
    if (load_groups (db, uid, ctx, err) < 0)
        return -1;
    ctx->admin = blz_ctx_member (ctx, app->system_gid);
    ctx->privileges = 0;
    if (ctx->admin && load_privileges (db, uid, &ctx->privileges, err) < 0)
        return -1;
    return 0;
}

/* A user's default group: the first by child_index that is not "user" (else "user"). */
static int64_t
default_group (blz_app_t *app, const blz_ctx_t *ctx)
{
    for (int i = 0; i < ctx->ngroups; i++)
        if (ctx->group_ids[i] != app->user_gid)
            return ctx->group_ids[i];
    return ctx->ngroups ? ctx->group_ids[0] : app->user_gid;
}

int
blz_session_load (blz_app_t *app, blz_db_t *db, const char *uuid, bool touch, blz_ctx_t *ctx, omr_err_t *err)
{
    memset (ctx, 0, sizeof *ctx);
    ctx->sudoer_id = -1;
    if (!uuid || !*uuid)
        return omr_err_set (err, OMR_E_SESSION, 401, "no session given: log in first");
    if (begin_internal (db, err) < 0)
        return -1;
    PGresult *res = blz_db_query (
        db, err,
        "SELECT s.id, s.owner, coalesce(s.sudoer, -1), s.timetoidle, s.timetolive, s.closed IS NOT NULL, "
        "(extract(epoch FROM (now() - b.last_access)) * 1000)::int8, "
        "(extract(epoch FROM (now() - s.started)) * 1000)::int8, b.group_id, coalesce(s.userip, ''), "
        "coalesce(s.useragent, ''), s.defaulteventtype, e.omename, coalesce(su.omename, '') "
        "FROM session s JOIN blitz_session b ON b.session_id = s.id JOIN experimenter e ON e.id = s.owner "
        "LEFT JOIN experimenter su ON su.id = s.sudoer WHERE s.uuid = $1",
        BLZ_P (uuid));
    if (!res)
        goto fail;
    if (PQntuples (res) != 1) {
        PQclear (res);
        omr_err_set (err, OMR_E_SESSION, 401, "no such session: log in again");
        goto fail;
    }
    int64_t sid = atoll (PQgetvalue (res, 0, 0));
    int64_t tti = atoll (PQgetvalue (res, 0, 3)), ttl = atoll (PQgetvalue (res, 0, 4));
    bool closed = PQgetvalue (res, 0, 5)[0] == 't';
    int64_t idle = atoll (PQgetvalue (res, 0, 6)), age = atoll (PQgetvalue (res, 0, 7));
    snprintf (ctx->session, sizeof ctx->session, "%s", uuid);
    ctx->session_id = sid;
    ctx->user_id = atoll (PQgetvalue (res, 0, 1));
    ctx->sudoer_id = atoll (PQgetvalue (res, 0, 2));
    ctx->group_id = atoll (PQgetvalue (res, 0, 8));
    snprintf (ctx->ip, sizeof ctx->ip, "%s", PQgetvalue (res, 0, 9));
    snprintf (ctx->agent, sizeof ctx->agent, "%s", PQgetvalue (res, 0, 10));
    snprintf (ctx->event_type, sizeof ctx->event_type, "%s", PQgetvalue (res, 0, 11));
    snprintf (ctx->user_name, sizeof ctx->user_name, "%s", PQgetvalue (res, 0, 12));
    snprintf (ctx->sudoer_name, sizeof ctx->sudoer_name, "%s", PQgetvalue (res, 0, 13));
    PQclear (res);
    char sb[24];
    if (closed) {
        omr_err_set (err, OMR_E_REMOVED, 401, "session %.8s… has been closed: log in again", uuid);
        goto fail;
    }
    if ((tti > 0 && idle > tti) || (ttl > 0 && age > ttl)) {
        /* Expired: record it so that every replica sees the session as closed from now on. */
        if (blz_db_exec (db, err, "UPDATE session SET closed = now() WHERE id = $1", BLZ_P (BLZ_I64 (sb, sid))) < 0
            || blz_db_commit (db, err) < 0)
            goto fail;
        return omr_err_set (err, OMR_E_REMOVED, 401, "session %.8s… has expired (%s): log in again", uuid,
                            tti > 0 && idle > tti ? "idle too long" : "maximum lifetime reached");
    }
    if (touch && idle > TOUCH_INTERVAL_MS
        && blz_db_exec (db, err, "UPDATE blitz_session SET last_access = now() WHERE session_id = $1",
                        BLZ_P (BLZ_I64 (sb, sid)))
               < 0)
        goto fail;
    if (fill_user (app, db, ctx->user_id, ctx, err) < 0)
        goto fail;
    if (!blz_ctx_member (ctx, app->user_gid) && ctx->user_id != app->guest_id) {
        omr_err_set (err, OMR_E_REMOVED, 401, "the account of %s is disabled", ctx->user_name);
        goto fail;
    }
    if (ctx->sudoer_id >= 0) {
        /* A sudo session never has more rights than the administrator who opened it. */
        blz_ctx_t sudoer;
        memset (&sudoer, 0, sizeof sudoer);
        if (fill_user (app, db, ctx->sudoer_id, &sudoer, err) < 0)
            goto fail;
        if (ctx->admin)
            ctx->privileges &= sudoer.admin ? sudoer.privileges : 0;
    }
    if (!blz_ctx_member (ctx, ctx->group_id) && !ctx->admin)
        ctx->group_id = default_group (app, ctx);
    if (blz_db_commit (db, err) < 0)
        return -1;
    return 0;
fail:
    blz_db_rollback (db);
    return -1;
}

/* Count a failed login for a name (in its own transaction, so it survives the failed one) and
 * delay the answer once the count reaches omero.security.login_failure_throttle_count, as
 * OMERO's LoginAttemptListener does. */
static int
sleeper_cap (blz_app_t *app)
{
    return app->nworkers > 1 ? app->nworkers / 2 : 1;
}

static void
throttle_failure (blz_app_t *app, blz_db_t *db, const char *name)
{
    omr_err_t err = {0};
    char tb[24];
    long failures = 1;
    if (begin_internal (db, &err) == 0) {
        /* Failures older than 20 throttle periods are forgotten, so an old typo costs nothing. */
        PGresult *res = blz_db_query (
            db, &err,
            "INSERT INTO blitz_login_failure (name, failures, last_failure) VALUES ($1, 1, now()) "
            "ON CONFLICT (name) DO UPDATE SET failures = CASE WHEN blitz_login_failure.last_failure "
            "< now() - make_interval(secs => $2::float8 / 1000 * 20) THEN 1 "
            "ELSE blitz_login_failure.failures + 1 END, last_failure = now() RETURNING failures",
            BLZ_P (name, BLZ_I64 (tb, app->throttle_time > 0 ? app->throttle_time : 3000)));
        if (res) {
            failures = atol (PQgetvalue (res, 0, 0));
            PQclear (res);
            /* Forget stale counts, so that guessed names do not pile up. */
            blz_db_exec (db, NULL,
                         "DELETE FROM blitz_login_failure WHERE last_failure < now() - "
                         "make_interval(secs => $1::float8 / 1000 * 20)",
                         BLZ_P (tb));
            blz_db_commit (db, &err);
        }
        else
            blz_db_rollback (db);
    }
    if (app->throttle_count > 0 && failures >= app->throttle_count && app->throttle_time > 0) {
        /* At most half of the workers wait at a time, so failed logins cannot stall the server;
         * beyond that, throttle_locked refuses further attempts on the name unchecked. */
        if (atomic_fetch_add (&app->throttle_sleepers, 1) < sleeper_cap (app)) {
            omr_info ("login failure #%ld for a user name: answering after %lld ms", failures, app->throttle_time);
            usleep ((useconds_t) (app->throttle_time * 1000));
        }
        atomic_fetch_sub (&app->throttle_sleepers, 1);
    }
}

/* While workers are busy delaying failed logins, a name that failed within the throttle time
 * is refused without checking its password: no guess is tested and no worker waits. */
static bool
throttle_locked (blz_app_t *app, blz_db_t *db, const char *name)
{
    if (app->throttle_count <= 0 || app->throttle_time <= 0
        || atomic_load (&app->throttle_sleepers) < sleeper_cap (app))
        return false;
    char tb[24], cb[24];
    PGresult *res = blz_db_query (db, NULL,
                                  "SELECT 1 FROM blitz_login_failure WHERE name = $1 AND failures >= $2::int4 "
                                  "AND last_failure > now() - make_interval(secs => $3::float8 / 1000)",
                                  BLZ_P (name, BLZ_I64 (cb, app->throttle_count), BLZ_I64 (tb, app->throttle_time)));
    bool locked = res && PQntuples (res) > 0;
    PQclear (res);
    return locked;
}

/* Check name + password; returns the user id, or -1 (the same error for every failure). */
static int64_t
authenticate (blz_app_t *app, blz_db_t *db, const char *name, const char *password, omr_err_t *err)
{
    PGresult *res = blz_db_query (db, err,
                                  "SELECT e.id, p.hash FROM experimenter e LEFT JOIN password p "
                                  "ON p.experimenter_id = e.id WHERE e.omename = $1",
                                  BLZ_P (name));
    if (!res)
        return -2;
    int64_t uid = -1;
    const char *stored = NULL;
    if (PQntuples (res) == 1) {
        uid = atoll (PQgetvalue (res, 0, 0));
        stored = PQgetisnull (res, 0, 1) ? NULL : PQgetvalue (res, 0, 1);
    }
    /* The hash runs whether or not the user exists: same answer, same time. */
    bool ok = blz_password_verify (password, stored, app->hash_iterations);
    PQclear (res);
    if (!ok || uid < 0) {
        omr_err_set (err, "PermissionDeniedException", 403, LOGIN_FAILED);
        return -1;
    }
    return uid;
}

/* Insert the session rows and return the new uuid in out. */
static int
insert_session (blz_app_t *app, blz_db_t *db, int64_t uid, int64_t sudoer, int64_t gid, const blz_login_t *req,
                char uuid[37], int64_t *sid_out, omr_err_t *err)
{
    long long tti = req->tti >= 0 ? req->tti : app->session_timeout;
    long long ttl = req->ttl >= 0 ? req->ttl : app->session_maximum;
    if (req->tti >= 0 && app->max_user_tti > 0 && (tti == 0 || tti > app->max_user_tti))
        tti = app->max_user_tti;
    if (req->ttl >= 0 && app->max_user_ttl > 0 && (ttl == 0 || ttl > app->max_user_ttl))
        ttl = app->max_user_ttl;
    omr_uuid (uuid);
    char ub[24], sb[24], nb[24], tb[24], lb[24], gb[24], idb[24];
    PGresult *res = blz_db_query (
        db, err,
        "INSERT INTO session (id, discriminator, permissions, version, timetoidle, timetolive, started, "
        "defaulteventtype, uuid, owner, sudoer, node, useragent, userip) VALUES (nextval('seq_session'), 'Session', "
        "-120, 0, $1, $2, now(), $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        BLZ_P (BLZ_I64 (tb, tti), BLZ_I64 (lb, ttl), req->event_type && *req->event_type ? req->event_type : "User",
               uuid, BLZ_I64 (ub, uid), sudoer >= 0 ? BLZ_I64 (sb, sudoer) : NULL, BLZ_I64 (nb, app->node_id),
               req->agent && *req->agent ? req->agent : NULL, req->ip && *req->ip ? req->ip : NULL));
    if (!res)
        return -1;
    int64_t sid = atoll (PQgetvalue (res, 0, 0));
    PQclear (res);
    if (blz_db_exec (db, err, "INSERT INTO blitz_session (session_id, group_id) VALUES ($1, $2)",
                     BLZ_P (BLZ_I64 (idb, sid), BLZ_I64 (gb, gid)))
        < 0)
        return -1;
    *sid_out = sid;
    return 0;
}

/* Whether `by` may open a session as target (sudo): administrators holding Sudo (a restricted
 * administrator never for a full administrator), or owners of one of the target's groups for
 * non-administrators. */
static bool
may_sudo (blz_app_t *app, const blz_ctx_t *by, const blz_ctx_t *target)
{
    if (blz_ctx_can (by, "Sudo"))
        return !target->admin || (by->privileges | target->privileges) == by->privileges;
    if (target->admin)
        return false;
    for (int i = 0; i < by->nowned; i++)
        if (by->owned_ids[i] != app->user_gid && blz_ctx_member (target, by->owned_ids[i]))
            return true;
    return false;
}

/* Pick and check the session's group for a user. */
static int64_t
choose_group (blz_app_t *app, blz_db_t *db, const blz_ctx_t *user, const json_t *group, omr_err_t *err)
{
    if (!group || json_is_null (group) || (json_is_string (group) && !*json_string_value (group)))
        return default_group (app, user);
    int64_t gid = blz_group_ref (db, group, err);
    if (gid < 0)
        return -1;
    if (!blz_ctx_member (user, gid) && !user->admin) {
        omr_err_set (err, OMR_E_SECURITY, 403, "%s is not a member of group %lld", user->user_name, (long long) gid);
        return -1;
    }
    return gid;
}

int
blz_session_login (blz_app_t *app, blz_db_t *db, const blz_login_t *given, blz_ctx_t *out, omr_err_t *err)
{
    if (!given->name || !*given->name || !given->password)
        return omr_err_set (err, OMR_E_API, 400, "a user name and a password are needed");
    blz_login_t lreq = *given;
    const blz_login_t *req = &lreq;
    char namebuf[256], sudobuf[256];
    lreq.name = blz_app_username (app, given->name, namebuf, sizeof namebuf);
    lreq.sudo = blz_app_username (app, given->sudo, sudobuf, sizeof sudobuf);
    const char *authname = req->sudo && *req->sudo ? req->sudo : req->name;
    if (begin_internal (db, err) < 0)
        return -1;
    if (throttle_locked (app, db, authname)) {
        blz_db_rollback (db);
        throttle_failure (app, db, authname);
        omr_info ("login refused unchecked: repeated failures for a user name while the throttle is saturated");
        return omr_err_set (err, "PermissionDeniedException", 403, LOGIN_FAILED);
    }
    int64_t authid = authenticate (app, db, authname, req->password, err);
    if (authid == -2)
        goto fail;
    if (authid < 0) {
        blz_db_rollback (db);
        throttle_failure (app, db, authname);
        return -1;
    }
    blz_db_exec (db, NULL, "DELETE FROM blitz_login_failure WHERE name = $1", BLZ_P (authname));
    blz_ctx_t auth, user;
    memset (&auth, 0, sizeof auth);
    memset (&user, 0, sizeof user);
    if (fill_user (app, db, authid, &auth, err) < 0)
        goto fail;
    if (!blz_ctx_member (&auth, app->user_gid)) {
        omr_err_set (err, OMR_E_SECURITY, 403, "the account of %s is disabled: ask an administrator", authname);
        goto fail;
    }
    int64_t uid = authid, sudoer = -1;
    if (authname != req->name) {
        json_t *tmp = json_string (req->name);
        uid = blz_user_ref (db, tmp, err);
        json_decref (tmp);
        if (uid < 0)
            goto fail;
        if (fill_user (app, db, uid, &user, err) < 0)
            goto fail;
        if (!may_sudo (app, &auth, &user)) {
            omr_err_set (err, OMR_E_SECURITY, 403, "%s may not open a session as %s", authname, req->name);
            goto fail;
        }
        if (!blz_ctx_member (&user, app->user_gid)) {
            omr_err_set (err, OMR_E_SECURITY, 403, "the account of %s is disabled", req->name);
            goto fail;
        }
        sudoer = authid;
    }
    else
        user = auth;
    snprintf (user.user_name, sizeof user.user_name, "%s", req->name);
    int64_t gid = choose_group (app, db, &user, req->group, err);
    if (gid < 0)
        goto fail;
    char uuid[37];
    int64_t sid;
    if (insert_session (app, db, uid, sudoer, gid, req, uuid, &sid, err) < 0)
        goto fail;
    /* The login is an Event of type Sessions by the new session's user. */
    blz_ctx_t evctx;
    memset (&evctx, 0, sizeof evctx);
    if (blz_db_commit (db, err) < 0)
        return -1;
    if (blz_session_load (app, db, uuid, false, out, err) < 0)
        return -1;
    evctx = *out;
    snprintf (evctx.event_type, sizeof evctx.event_type, "Sessions");
    if (blz_db_begin (db, &evctx, err) < 0 || blz_db_log (db, "INSERT", "ome.model.meta.Session", sid, err) < 0
        || blz_db_commit (db, err) < 0) {
        blz_db_rollback (db);
        return -1;
    }
    omr_info ("session %.8s… created for %s%s%s (group %lld)", uuid, req->name, sudoer >= 0 ? " by " : "",
              sudoer >= 0 ? authname : "", (long long) gid);
    return 0;
fail:
    blz_db_rollback (db);
    return -1;
}

int
blz_session_close (blz_app_t *app, blz_db_t *db, const char *uuid, omr_err_t *err)
{
    if (!uuid || !*uuid)
        return omr_err_set (err, OMR_E_API, 400, "which session? give its uuid");
    if (begin_internal (db, err) < 0)
        return -1;
    PGresult *res = blz_db_query (db, err,
                                  "UPDATE session SET closed = now() WHERE uuid = $1 AND closed IS NULL "
                                  "AND discriminator = 'Session' RETURNING id, owner",
                                  BLZ_P (uuid));
    if (!res) {
        blz_db_rollback (db);
        return -1;
    }
    int n = PQntuples (res);
    blz_ctx_t by;
    blz_ctx_internal (&by);
    if (n == 1) {
        /* The closing is an Event of the session's owner in that session. */
        by.session_id = atoll (PQgetvalue (res, 0, 0));
        by.user_id = atoll (PQgetvalue (res, 0, 1));
        snprintf (by.event_type, sizeof by.event_type, "Sessions");
    }
    PQclear (res);
    if (blz_db_commit (db, err) < 0)
        return -1;
    if (n != 1)
        return omr_err_set (err, OMR_E_REMOVED, 404, "no open session %.8s…", uuid);
    if (blz_db_begin (db, &by, err) < 0 || blz_db_log (db, "UPDATE", "ome.model.meta.Session", by.session_id, err) < 0
        || blz_db_commit (db, err) < 0) {
        blz_db_rollback (db);
        return -1;
    }
    omr_info ("session %.8s… closed", uuid);
    (void) app;
    return 0;
}

json_t *
blz_session_event_context (blz_app_t *app, blz_db_t *db, const blz_ctx_t *ctx, omr_err_t *err)
{
    blz_ctx_t internal;
    blz_ctx_internal (&internal);
    if (blz_db_begin (db, &internal, err) < 0)
        return NULL;
    char gb[24];
    PGresult *res = blz_db_query (db, err, "SELECT name, permissions FROM experimentergroup WHERE id = $1",
                                  BLZ_P (BLZ_I64 (gb, ctx->group_id)));
    blz_db_rollback (db);
    if (!res)
        return NULL;
    const char *gname = PQntuples (res) ? PQgetvalue (res, 0, 0) : "";
    int64_t gperm = PQntuples (res) ? atoll (PQgetvalue (res, 0, 1)) : -120;
    json_t *member = json_array (), *leader = json_array (), *privs = json_array ();
    for (int i = 0; i < ctx->ngroups; i++)
        json_array_append_new (member, json_integer (ctx->group_ids[i]));
    for (int i = 0; i < ctx->nowned; i++)
        json_array_append_new (leader, json_integer (ctx->owned_ids[i]));
    for (int i = 0; ctx->admin && i < BLZ_NPRIVILEGES; i++)
        if (ctx->privileges & (1u << i))
            json_array_append_new (privs, json_string (blz_privilege_name (i)));
    json_t *ec = json_pack (
        "{s:I,s:s,s:I,s:s,s:I,s:s,s:b,s:I,s:s,s:o,s:o,s:I,s:o,s:o}", "sessionId", (json_int_t) ctx->session_id,
        "sessionUuid", ctx->session, "userId", (json_int_t) ctx->user_id, "userName", ctx->user_name, "groupId",
        (json_int_t) ctx->group_id, "groupName", gname, "isAdmin", ctx->admin, "eventId", (json_int_t) -1,
        "eventType", ctx->event_type[0] ? ctx->event_type : "User", "memberOfGroups", member, "leaderOfGroups",
        leader, "shareId", (json_int_t) -1, "groupPermissions", blz_perms_json (gperm, false), "adminPrivileges",
        privs);
    PQclear (res);
    if (ctx->sudoer_id >= 0) {
        json_object_set_new (ec, "sudoerId", json_integer (ctx->sudoer_id));
        json_object_set_new (ec, "sudoerName", json_string (ctx->sudoer_name));
    }
    (void) app;
    return ec;
}

/* ---- ISession operations ------------------------------------------------------------------ */

/* Reply of a login: the session uuid, its event context and the router's ctx. */
static int
session_reply (blz_app_t *app, blz_db_t *db, const blz_ctx_t *ctx, omr_call_t *call, omr_err_t *err)
{
    json_t *ec = blz_session_event_context (app, db, ctx, err);
    if (!ec)
        return -1;
    char sb[24];
    PGresult *res = NULL;
    blz_ctx_t internal;
    blz_ctx_internal (&internal);
    if (blz_db_begin (db, &internal, err) == 0) {
        res = blz_db_query (db, err, "SELECT timetoidle, timetolive FROM session WHERE id = $1",
                            BLZ_P (BLZ_I64 (sb, ctx->session_id)));
        blz_db_rollback (db);
    }
    if (!res) {
        json_decref (ec);
        return -1;
    }
    call->reply = json_pack ("{s:s,s:I,s:o,s:o,s:I,s:I}", "session", ctx->session, "sessionId",
                             (json_int_t) ctx->session_id, "eventContext", ec, "ctx", blz_ctx_to_json (ctx),
                             "timeToIdle", (json_int_t) atoll (PQgetvalue (res, 0, 0)), "timeToLive",
                             (json_int_t) atoll (PQgetvalue (res, 0, 1)));
    PQclear (res);
    return 0;
}

/* Login fields from a body: flat {username,password,group} or OMERO's {principal:{name,group,
 * eventType}, credentials}. */
static void
login_fields (const json_t *body, const json_t *hdrctx, blz_login_t *req)
{
    const json_t *pr = json_object_get (body, "principal");
    memset (req, 0, sizeof *req);
    req->name = blz_str (pr, "name");
    if (!req->name)
        req->name = blz_str (body, "username");
    if (!req->name)
        req->name = blz_str (body, "name");
    req->password = blz_str (body, "credentials");
    if (!req->password)
        req->password = blz_str (body, "password");
    req->group = json_object_get (pr, "group");
    if (!req->group)
        req->group = json_object_get (body, "group");
    req->event_type = blz_str (pr, "eventType");
    if (!req->event_type)
        req->event_type = blz_str (body, "eventType");
    req->sudo = blz_str (body, "sudo");
    req->agent = blz_str (body, "agent");
    if (!req->agent)
        req->agent = blz_str (hdrctx, "agent");
    req->ip = blz_str (body, "ip");
    if (!req->ip)
        req->ip = blz_str (hdrctx, "ip");
    req->tti = blz_int (body, "timeToIdle", -1);
    req->ttl = blz_int (body, "timeToLive", -1);
}

static int
op_create_session (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    blz_db_t *db = blz_app_db (app, call);
    blz_login_t req;
    login_fields (call->req->body, omr_msg_ctx (call->req), &req);
    blz_ctx_t ctx;
    /* OMERO: a live session's uuid given as the password joins that session. */
    if (req.password && !req.sudo && looks_like_uuid (req.password)) {
        omr_err_t jerr = {0};
        if (blz_session_load (app, db, req.password, true, &ctx, &jerr) == 0)
            return session_reply (app, db, &ctx, call, err);
    }
    if (blz_session_login (app, db, &req, &ctx, err) < 0)
        return -1;
    return session_reply (app, db, &ctx, call, err);
}

/* The session a call is about: body "session" (or "sessionUuid"), else the caller's own. */
static const char *
target_session (omr_call_t *call)
{
    const char *s = blz_str (call->req->body, "session");
    if (!s)
        s = blz_str (call->req->body, "sessionUuid");
    if (!s)
        s = blz_str (omr_msg_ctx (call->req), "session");
    return s;
}

static int
op_join_session (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    blz_db_t *db = blz_app_db (app, call);
    blz_ctx_t ctx;
    if (blz_session_load (app, db, target_session (call), true, &ctx, err) < 0)
        return -1;
    return session_reply (app, db, &ctx, call, err);
}

static int
op_resolve (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    blz_ctx_t ctx;
    if (blz_session_load (app, blz_app_db (app, call), target_session (call), true, &ctx, err) < 0)
        return -1;
    call->reply = blz_ctx_to_json (&ctx);
    return 0;
}

static int
op_close_session (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    const char *uuid = target_session (call);
    if (blz_session_close (app, blz_app_db (app, call), uuid, err) < 0)
        return -1;
    /* Routers drop cached contexts of sessions named in "invalidate". */
    call->reply = json_pack ("{s:b,s:[s]}", "closed", 1, "invalidate", uuid);
    return 0;
}

static int
op_keep_alive (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    blz_db_t *db = blz_app_db (app, call);
    blz_ctx_t ctx;
    if (blz_session_load (app, db, target_session (call), false, &ctx, err) < 0)
        return -1;
    char sb[24];
    if (begin_internal (db, err) < 0)
        return -1;
    if (blz_db_exec (db, err, "UPDATE blitz_session SET last_access = now() WHERE session_id = $1",
                     BLZ_P (BLZ_I64 (sb, ctx.session_id)))
            < 0
        || blz_db_commit (db, err) < 0) {
        blz_db_rollback (db);
        return -1;
    }
    call->reply = json_pack ("{s:b}", "alive", 1);
    return 0;
}

/* OMERO's Session as JSON (uuid, timeouts, started, last access, agent, address, owner …). */
static json_t *
session_json (blz_db_t *db, const blz_ctx_t *ctx, omr_err_t *err)
{
    if (begin_internal (db, err) < 0)
        return NULL;
    char sb[24];
    PGresult *res = blz_db_query (
        db, err,
        "SELECT s.timetoidle, s.timetolive, (extract(epoch FROM s.started) * 1000)::int8, s.defaulteventtype, "
        "coalesce(s.useragent, ''), coalesce(s.message, ''), s.node, "
        "(extract(epoch FROM b.last_access) * 1000)::int8, coalesce(s.userip, '') "
        "FROM session s JOIN blitz_session b ON b.session_id = s.id WHERE s.id = $1",
        BLZ_P (BLZ_I64 (sb, ctx->session_id)));
    blz_db_rollback (db);
    if (!res)
        return NULL;
    if (PQntuples (res) != 1) {
        PQclear (res);
        omr_err_set (err, OMR_E_REMOVED, 404, "session %.8s… is gone", ctx->session);
        return NULL;
    }
    json_t *owner = json_pack ("{s:I,s:s,s:s}", "@id", (json_int_t) ctx->user_id, "@type",
                               BLZ_SCHEMA_URL "#Experimenter", "UserName", ctx->user_name);
    json_t *o = json_pack (
        "{s:I,s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:s,s:s,s:s,s:o,s:I,s:I,s:o}", "@id", (json_int_t) ctx->session_id, "@type",
        "TBD#Session", "uuid", ctx->session, "timeToIdle", (json_int_t) atoll (PQgetvalue (res, 0, 0)), "timeToLive",
        (json_int_t) atoll (PQgetvalue (res, 0, 1)), "started", (json_int_t) atoll (PQgetvalue (res, 0, 2)),
        "lastAccess", (json_int_t) atoll (PQgetvalue (res, 0, 7)), "defaultEventType", PQgetvalue (res, 0, 3),
        "userAgent", PQgetvalue (res, 0, 4), "message", PQgetvalue (res, 0, 5), "userIP", PQgetvalue (res, 0, 8),
        "owner", owner, "node", (json_int_t) atoll (PQgetvalue (res, 0, 6)), "groupId", (json_int_t) ctx->group_id,
        "sudoer",
        ctx->sudoer_id >= 0
            ? json_pack ("{s:I,s:s}", "@id", (json_int_t) ctx->sudoer_id, "UserName", ctx->sudoer_name)
            : json_null ());
    PQclear (res);
    return o;
}

static int
op_get_session (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    blz_db_t *db = blz_app_db (app, call);
    blz_ctx_t ctx;
    if (blz_session_load (app, db, target_session (call), true, &ctx, err) < 0)
        return -1;
    call->reply = session_json (db, &ctx, err);
    return call->reply ? 0 : -1;
}

static int
op_set_security_context (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    blz_db_t *db = blz_app_db (app, call);
    blz_ctx_t ctx;
    if (blz_session_load (app, db, target_session (call), true, &ctx, err) < 0)
        return -1;
    json_t *g = json_object_get (call->req->body, "group");
    if (!g)
        g = json_object_get (call->req->body, "groupId");
    if (!g)
        return omr_err_set (err, OMR_E_API, 400, "which group? give \"group\" (id or name)");
    if (begin_internal (db, err) < 0)
        return -1;
    int64_t gid = blz_group_ref (db, g, err);
    if (gid < 0)
        goto fail;
    if (!blz_ctx_member (&ctx, gid) && !ctx.admin) {
        omr_err_set (err, OMR_E_SECURITY, 403, "%s is not a member of group %lld", ctx.user_name, (long long) gid);
        goto fail;
    }
    char sb[24], gb[24];
    if (blz_db_exec (db, err, "UPDATE blitz_session SET group_id = $2, last_access = now() WHERE session_id = $1",
                     BLZ_P (BLZ_I64 (sb, ctx.session_id), BLZ_I64 (gb, gid)))
            < 0
        || blz_db_commit (db, err) < 0)
        goto fail;
    ctx.group_id = gid;
    if (session_reply (app, db, &ctx, call, err) < 0)
        return -1;
    json_object_set_new (call->reply, "invalidate", json_pack ("[s]", ctx.session));
    return 0;
fail:
    blz_db_rollback (db);
    return -1;
}

static int
op_create_session_with_timeout (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    blz_db_t *db = blz_app_db (app, call);
    blz_ctx_t caller;
    if (blz_call_ctx (call, &caller, err) < 0)
        return -1;
    /* Rights come from the database, not from a possibly stale cached context. */
    char own[64];
    snprintf (own, sizeof own, "%s", caller.session);
    if (blz_session_load (app, db, own, false, &caller, err) < 0)
        return -1;
    blz_login_t req;
    login_fields (call->req->body, omr_msg_ctx (call->req), &req);
    long long timeout = blz_int (call->req->body, "timeout", -1);
    if (timeout >= 0) {
        req.tti = timeout;
        req.ttl = timeout;
    }
    if (!req.name)
        req.name = caller.user_name;
    if (begin_internal (db, err) < 0)
        return -1;
    blz_ctx_t target;
    memset (&target, 0, sizeof target);
    json_t *tmp = json_string (req.name);
    int64_t uid = blz_user_ref (db, tmp, err);
    json_decref (tmp);
    if (uid < 0)
        goto fail;
    if (fill_user (app, db, uid, &target, err) < 0)
        goto fail;
    snprintf (target.user_name, sizeof target.user_name, "%s", req.name);
    int64_t sudoer = -1;
    if (uid != caller.user_id) {
        if (caller.sudoer_id >= 0 || !may_sudo (app, &caller, &target)) {
            omr_err_set (err, OMR_E_SECURITY, 403, "%s may not open a session as %s", caller.user_name, req.name);
            goto fail;
        }
        sudoer = caller.user_id;
    }
    else
        sudoer = caller.sudoer_id;
    if (!blz_ctx_member (&target, app->user_gid)) {
        omr_err_set (err, OMR_E_SECURITY, 403, "the account of %s is disabled", req.name);
        goto fail;
    }
    int64_t gid = choose_group (app, db, &target, req.group, err);
    if (gid < 0)
        goto fail;
    char uuid[37];
    int64_t sid;
    if (insert_session (app, db, uid, sudoer, gid, &req, uuid, &sid, err) < 0)
        goto fail;
    if (blz_db_log (db, "INSERT", "ome.model.meta.Session", sid, err) < 0 || blz_db_commit (db, err) < 0)
        goto fail;
    blz_ctx_t ctx;
    if (blz_session_load (app, db, uuid, false, &ctx, err) < 0)
        return -1;
    omr_info ("session %.8s… created for %s by %s", uuid, req.name, caller.user_name);
    return session_reply (app, db, &ctx, call, err);
fail:
    blz_db_rollback (db);
    return -1;
}

/* Change the timeouts of a session (its owner, sudoer or an administrator), capped by
 * omero.sessions.max_user_time_to_idle / _live as for new sessions. */
static int
op_update_session_timeout (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    blz_db_t *db = blz_app_db (app, call);
    blz_ctx_t caller, target;
    if (blz_call_ctx (call, &caller, err) < 0)
        return -1;
    const char *uuid = target_session (call);
    if (blz_session_load (app, db, uuid, false, &target, err) < 0)
        return -1;
    if (target.user_id != caller.user_id && target.sudoer_id != caller.user_id && !caller.admin)
        return omr_err_set (err, OMR_E_SECURITY, 403, "only its owner or an administrator may change a session");
    long long tti = blz_int (call->req->body, "timeToIdle", -1), ttl = blz_int (call->req->body, "timeToLive", -1);
    if (tti < 0 && ttl < 0)
        return omr_err_set (err, OMR_E_API, 400, "give timeToIdle and/or timeToLive (ms, 0 = never)");
    if (tti >= 0 && app->max_user_tti > 0 && (tti == 0 || tti > app->max_user_tti))
        tti = app->max_user_tti;
    if (ttl >= 0 && app->max_user_ttl > 0 && (ttl == 0 || ttl > app->max_user_ttl))
        ttl = app->max_user_ttl;
    if (blz_db_begin (db, &caller, err) < 0)
        return -1;
    char sb[24], ib[24], lb[24];
    if (blz_db_exec (db, err,
                     "UPDATE session SET timetoidle = coalesce($2::int8, timetoidle), "
                     "timetolive = coalesce($3::int8, timetolive), version = coalesce(version, 0) + 1 WHERE id = $1",
                     BLZ_P (BLZ_I64 (sb, target.session_id), tti >= 0 ? BLZ_I64 (ib, tti) : NULL,
                            ttl >= 0 ? BLZ_I64 (lb, ttl) : NULL))
            < 0
        || blz_db_log (db, "UPDATE", "ome.model.meta.Session", target.session_id, err) < 0
        || blz_db_commit (db, err) < 0) {
        blz_db_rollback (db);
        return -1;
    }
    if (blz_session_load (app, db, uuid, false, &target, err) < 0)
        return -1;
    call->reply = session_json (db, &target, err);
    return call->reply ? 0 : -1;
}

/* Open sessions: all of them for administrators holding ReadSession, else the caller's own
 * (and those opened as them by sudo). Each with the event context of its user. */
static int
op_current_sessions (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    blz_db_t *db = blz_app_db (app, call);
    blz_ctx_t caller;
    if (blz_call_ctx (call, &caller, err) < 0)
        return -1;
    bool all = blz_ctx_can (&caller, "ReadSession");
    if (begin_internal (db, err) < 0)
        return -1;
    char ub[24];
    PGresult *res = blz_db_query (
        db, err,
        "SELECT s.uuid FROM session s WHERE s.closed IS NULL AND s.discriminator = 'Session' AND s.id > 1 "
        "AND ($1::bool OR s.owner = $2::int8) ORDER BY s.started",
        BLZ_P (all ? "true" : "false", BLZ_I64 (ub, caller.user_id)));
    blz_db_rollback (db);
    if (!res)
        return -1;
    json_t *sessions = json_array (), *contexts = json_array ();
    for (int i = 0; i < PQntuples (res); i++) {
        blz_ctx_t ctx;
        omr_err_t lerr = {0};
        const char *uuid = PQgetvalue (res, i, 0);
        /* Loading also expires idle ones: they are left out. */
        if (blz_session_load (app, db, uuid, false, &ctx, &lerr) < 0)
            continue;
        json_t *s = session_json (db, &ctx, &lerr);
        int rc = s ? 0 : -1;
        json_t *ec = rc == 0 ? blz_session_event_context (app, db, &ctx, &lerr) : NULL;
        if (rc == 0 && ec) {
            json_array_append_new (sessions, s);
            json_array_append_new (contexts, ec);
        }
        else {
            json_decref (s);
            json_decref (ec);
        }
    }
    PQclear (res);
    call->reply = json_pack ("{s:o,s:o}", "sessions", sessions, "contexts", contexts);
    return 0;
}

void
blz_session_register (blz_app_t *app)
{
    omr_server_t *s = app->server;
    omr_server_on (s, "ISession.createSession", op_create_session, app);
    omr_server_on (s, "ISession.joinSession", op_join_session, app);
    omr_server_on (s, "ISession.resolve", op_resolve, app);
    omr_server_on (s, "ISession.closeSession", op_close_session, app);
    omr_server_on (s, "ISession.keepAlive", op_keep_alive, app);
    omr_server_on (s, "ISession.getSession", op_get_session, app);
    omr_server_on (s, "ISession.setSecurityContext", op_set_security_context, app);
    omr_server_on (s, "ISession.createSessionWithTimeout", op_create_session_with_timeout, app);
    omr_server_on (s, "ISession.updateSessionTimeout", op_update_session_timeout, app);
    omr_server_on (s, "ISession.currentSessions", op_current_sessions, app);
}
