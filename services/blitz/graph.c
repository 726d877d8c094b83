/* graph: Command.* handles for graph requests, files removed after commit, cleanse (see graph.h). */
#include "graph.h"
#include "graph_rules.h"
#include "omr_log.h"
#include "repository.h"
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Advisory lock class of running requests (the object id is the handle's id). */
#define GRAPH_LOCK_CLASS "727275"

static const char *schema_sql =
    "SELECT pg_advisory_xact_lock(727274);"
    "CREATE TABLE IF NOT EXISTS graph_handle (id bigserial PRIMARY KEY, uuid text UNIQUE NOT NULL, "
    " user_id int8 NOT NULL, type text NOT NULL, state text NOT NULL, steps int NOT NULL DEFAULT 4, "
    " current_step int NOT NULL DEFAULT 0, cancel bool NOT NULL DEFAULT false, request jsonb, response jsonb, "
    " started timestamptz NOT NULL DEFAULT now(), finished timestamptz);"
    "CREATE TABLE IF NOT EXISTS graph_pending_file (id bigserial PRIMARY KEY, handle int8, path text NOT NULL, "
    " created timestamptz NOT NULL DEFAULT now());";

/* Create the handle tables when missing (in the current transaction). */
static int
ensure_schema (blz_db_t *db, omr_err_t *err)
{
    PGresult *res = PQexec (blz_db_conn (db), schema_sql);
    if (!res || PQresultStatus (res) != PGRES_COMMAND_OK) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "cannot prepare the command tables: %s",
                     PQerrorMessage (blz_db_conn (db)));
        PQclear (res);
        return -1;
    }
    PQclear (res);
    return 0;
}

typedef struct {
    blz_app_t *app;
    blz_ctx_t ctx;
    json_t *req;
    int64_t hid;
    blz_db_t *db, *pdb;         /* the request's transaction; progress (autocommit) */
} job_t;

/* Write a handle's state as the server (autocommit on pdb). */
static int
set_state (blz_db_t *pdb, int64_t hid, const char *state, int step, const json_t *resp, omr_err_t *err)
{
    blz_ctx_t in;
    blz_ctx_internal (&in);
    if (blz_db_begin (pdb, &in, err) < 0)
        return -1;
    char hb[24], sb[16];
    snprintf (sb, sizeof sb, "%d", step);
    char *rtext = resp ? json_dumps (resp, JSON_COMPACT) : NULL;
    long n = blz_db_exec (pdb, err,
                          "UPDATE graph_handle SET state = coalesce($2, state), current_step = $3, "
                          "response = coalesce($4::jsonb, response), finished = CASE WHEN $2 IN ('FINISHED', 'FAILURE', "
                          "'CANCELLED') THEN now() ELSE finished END WHERE id = $1",
                          BLZ_P (BLZ_I64 (hb, hid), state, sb, rtext));
    free (rtext);
    if (n < 0 || blz_db_commit (pdb, err) < 0) {
        blz_db_rollback (pdb);
        return -1;
    }
    return 0;
}

/* Progress and cancellation between steps. */
static int
job_tick (void *arg, int step, int steps)
{
    job_t *j = arg;
    omr_err_t err = {0};
    (void) steps;
    set_state (j->pdb, j->hid, NULL, step, NULL, &err);
    char hb[24];
    /* the request's own transaction sees a committed cancel */
    PGresult *res = blz_db_query (j->db, &err, "SELECT cancel FROM graph_handle WHERE id = $1", BLZ_P (BLZ_I64 (hb, j->hid)));
    bool cancel = res && PQntuples (res) && !strcmp (PQgetvalue (res, 0, 0), "t");
    PQclear (res);
    return cancel ? -1 : 0;
}

/* Record a file to remove after the commit (in the request's transaction). */
static int
job_file (void *arg, const char *path, omr_err_t *err)
{
    job_t *j = arg;
    char hb[24];
    return blz_db_exec (j->db, err, "INSERT INTO graph_pending_file (handle, path) VALUES ($1, $2)",
                        BLZ_P (BLZ_I64 (hb, j->hid), path))
                   < 0
               ? -1
               : 0;
}

/* Remove a file or an empty directory; missing is fine. */
static void
remove_path (const char *path)
{
    struct stat st;
    if (lstat (path, &st) < 0)
        return;
    if (S_ISDIR (st.st_mode)) {
        if (rmdir (path) < 0 && errno != ENOTEMPTY && errno != EEXIST)
            omr_warn ("cannot remove directory %s: %s", path, strerror (errno));
    } else if (unlink (path) < 0)
        omr_warn ("cannot remove %s: %s", path, strerror (errno));
}

/* Remove the recorded files of a handle (or of every handle when hid < 0) and forget them;
 * returns the number removed or -1. */
static int still_named (blz_app_t *app, blz_db_t *db, const char *path, omr_err_t *err);

static long
remove_pending (blz_app_t *app, blz_db_t *pdb, int64_t hid, json_t *list, omr_err_t *err)
{
    blz_ctx_t in;
    blz_ctx_internal (&in);
    if (blz_db_begin (pdb, &in, err) < 0)
        return -1;
    char hb[24];
    PGresult *res = hid >= 0 ? blz_db_query (pdb, err, "DELETE FROM graph_pending_file WHERE handle = $1 RETURNING path",
                                             BLZ_P (BLZ_I64 (hb, hid)))
                             : blz_db_query (pdb, err, "DELETE FROM graph_pending_file RETURNING path", 0, NULL);
    if (!res) {
        blz_db_rollback (pdb);
        return -1;
    }
    long n = 0;
    for (int r = 0; r < PQntuples (res); r++) {
        const char *path = PQgetvalue (res, r, 0);
        omr_err_t kerr = {0};
        if (still_named (app, pdb, path, &kerr) != 0)
            continue;   /* a row names it again (or we cannot tell): never remove live data */
        n++;
        if (!list)
            remove_path (path);
        else
            json_array_append_new (list, json_string (path));
    }
    PQclear (res);
    if (list) {     /* dry run: keep the records */
        blz_db_rollback (pdb);
        return n;
    }
    if (blz_db_commit (pdb, err) < 0)
        return -1;
    return n;
}

/* OMERO's ERR response for a failure. */
static json_t *
err_response (const omr_err_t *err)
{
    const char *cat = !strcmp (err->name, "GraphException") ? "ome.graphs.GraphException"
                      : !strcmp (err->name, OMR_E_SECURITY) ? "ome.conditions.SecurityViolation"
                                                            : "ome.conditions.InternalException";
    return json_pack ("{ss ss ss ss s{ss ss}}", "@type", "omero.cmd.ERR", "category", cat, "name",
                      err->name[0] ? err->name : OMR_E_INTERNAL, "message", err->msg, "parameters", "message", err->msg,
                      "exception", err->name);
}

static double
now_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void *
job_main (void *arg)
{
    job_t *j = arg;
    omr_err_t err = {0};
    json_t *resp = NULL;
    const char *state = "FAILURE";
    bool dry = blz_gr_dry_run (j->req);
    if (blz_db_connect (j->db, 30000, &err) < 0 || blz_db_connect (j->pdb, 30000, &err) < 0) {
        omr_error ("graph request %lld: %s", (long long) j->hid, err.msg);
        goto out;
    }
    double t0 = now_s ();
    /* held while this job lives (its connection closes if the server dies): status tells a
     * dead request from a running one by it */
    char hb[24];
    PGresult *lk = PQexecParams (blz_db_conn (j->pdb), "SELECT pg_advisory_lock(" GRAPH_LOCK_CLASS ", $1::int4)", 1, NULL,
                                 (const char *const[]) {BLZ_I64 (hb, j->hid)}, NULL, NULL, 0);
    PQclear (lk);
    set_state (j->pdb, j->hid, "RUNNING", 0, NULL, &err);
    blz_ctx_t ctx = j->ctx;
    ctx.group_id = -1;          /* graph requests reach across the caller's groups */
    double t1 = now_s (), t2 = t1;
    if (blz_db_begin (j->db, &ctx, &err) == 0) {
        resp = blz_gr_run (j->app, j->db, &ctx, j->req, job_tick, job_file, j, &err);
        t2 = now_s ();
        if (resp && !dry && blz_db_commit (j->db, &err) < 0) {
            json_decref (resp);
            resp = NULL;
        }
    }
    omr_info ("graph request %lld (%s): connect %.3f s, run %.3f s, commit %.3f s", (long long) j->hid,
              json_string_value (json_object_get (j->req, "@type")), t1 - t0, t2 - t1, now_s () - t2);
    if (!resp || dry)
        blz_db_rollback (j->db);
    if (resp) {
        state = "FINISHED";
        omr_err_t ferr = {0};
        if (!dry && remove_pending (j->app, j->pdb, j->hid, NULL, &ferr) < 0)
            omr_warn ("graph request %lld: files not removed yet (omero admin cleanse removes them): %s",
                      (long long) j->hid, ferr.msg);
    } else {
        state = !strcmp (err.name, "Cancelled") ? "CANCELLED" : "FAILURE";
        resp = err_response (&err);
    }
out:
    if (!resp)
        resp = err_response (&err);
    omr_err_t serr = {0};
    if (set_state (j->pdb, j->hid, state, 4, resp, &serr) < 0)
        omr_error ("graph request %lld: cannot record the result: %s", (long long) j->hid, serr.msg);
    json_decref (resp);
    json_decref (j->req);
    blz_db_destroy (&j->db);
    blz_db_destroy (&j->pdb);
    free (j);
    return NULL;
}

static int
op_submit (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    blz_ctx_t ctx;
    if (blz_call_ctx (call, &ctx, err) < 0)
        return -1;
    json_t *req = json_object_get (call->req->body, "request");
    if (!req && json_object_get (call->req->body, "@type"))
        req = call->req->body;
    if (blz_gr_validate (req, err) < 0)
        return -1;
    blz_db_t *db = blz_app_db (app, call);
    blz_ctx_t in;
    blz_ctx_internal (&in);
    if (blz_db_begin (db, &in, err) < 0)
        return -1;
    if (ensure_schema (db, err) < 0) {
        blz_db_rollback (db);
        return -1;
    }
    /* handles are kept a day after they finish, for clients that come back for the response */
    if (blz_db_exec (db, err, "DELETE FROM graph_handle WHERE finished < now() - interval '1 day'", 0, NULL) < 0) {
        blz_db_rollback (db);
        return -1;
    }
    char ub[24];
    char *rtext = json_dumps (req, JSON_COMPACT);
    PGresult *res = blz_db_query (db, err,
                                  "INSERT INTO graph_handle (uuid, user_id, type, state, request) VALUES "
                                  "(md5(random()::text || clock_timestamp()::text), $1, $2, 'QUEUED', $3::jsonb) RETURNING id, uuid",
                                  BLZ_P (BLZ_I64 (ub, ctx.user_id), json_string_value (json_object_get (req, "@type")), rtext));
    free (rtext);
    if (!res) {
        blz_db_rollback (db);
        return -1;
    }
    int64_t hid = atoll (PQgetvalue (res, 0, 0));
    char uuid[64];
    snprintf (uuid, sizeof uuid, "%s", PQgetvalue (res, 0, 1));
    PQclear (res);
    if (blz_db_commit (db, err) < 0)
        return -1;
    job_t *j = calloc (1, sizeof *j);
    j->app = app;
    j->ctx = ctx;
    j->req = json_deep_copy (req);
    j->hid = hid;
    j->db = blz_db_new (app->conninfo);
    j->pdb = blz_db_new (app->conninfo);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init (&attr);
    pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create (&th, &attr, job_main, j);
    pthread_attr_destroy (&attr);
    if (rc != 0) {
        json_decref (j->req);
        blz_db_destroy (&j->db);
        blz_db_destroy (&j->pdb);
        free (j);
        return omr_err_set (err, OMR_E_UNAVAIL, 503, "cannot start the request: %s", strerror (rc));
    }
    call->reply = json_pack ("{ss sI}", "handle", uuid, "id", (json_int_t) hid);
    return 0;
}

/* A request whose server stopped (its lock is free while RUNNING, or never started after a
 * minute) is marked FAILURE so that clients stop waiting; res is updated in place when so. */
static int
mark_dead (blz_db_t *db, PGresult *res, omr_err_t *err)
{
    const char *state = PQgetvalue (res, 0, 4), *id = PQgetvalue (res, 0, 0);
    bool dead = false;
    if (!strcmp (state, "RUNNING")) {
        PGresult *r = blz_db_query (db, err, "SELECT pg_try_advisory_lock(" GRAPH_LOCK_CLASS ", $1::int4)", BLZ_P (id));
        if (!r)
            return -1;
        dead = !strcmp (PQgetvalue (r, 0, 0), "t");
        PQclear (r);
        if (dead) {
            r = blz_db_query (db, err, "SELECT pg_advisory_unlock(" GRAPH_LOCK_CLASS ", $1::int4)", BLZ_P (id));
            PQclear (r);
        }
    } else if (!strcmp (state, "QUEUED")) {
        PGresult *r = blz_db_query (db, err, "SELECT started < now() - interval '60 seconds' FROM graph_handle WHERE id = $1",
                                    BLZ_P (id));
        if (!r)
            return -1;
        dead = PQntuples (r) && !strcmp (PQgetvalue (r, 0, 0), "t");
        PQclear (r);
    }
    if (!dead)
        return 0;
    omr_err_t why = {0};
    omr_err_set (&why, OMR_E_INTERNAL, 500, "the server running this request stopped before it finished; nothing was committed");
    json_t *resp = err_response (&why);
    char *text = json_dumps (resp, JSON_COMPACT);
    json_decref (resp);
    long n = blz_db_exec (db, err,
                          "UPDATE graph_handle SET state = 'FAILURE', response = $2::jsonb, finished = now() "
                          "WHERE id = $1 AND state IN ('RUNNING', 'QUEUED')",
                          BLZ_P (id, text));
    free (text);
    return n < 0 ? -1 : 1;
}

/* The handle row of a call ({handle}) the caller may see: columns as named. */
static PGresult *
load_handle (blz_app_t *app, omr_call_t *call, blz_db_t **dbo, omr_err_t *err)
{
    blz_ctx_t ctx;
    if (blz_call_ctx (call, &ctx, err) < 0)
        return NULL;
    const char *h = blz_str (call->req->body, "handle");
    char hb[24];
    if (!h && json_is_integer (json_object_get (call->req->body, "handle")))
        h = BLZ_I64 (hb, json_integer_value (json_object_get (call->req->body, "handle")));
    if (!h) {
        omr_err_set (err, OMR_E_API, 400, "give the handle returned by Command.submit");
        return NULL;
    }
    blz_db_t *db = blz_app_db (app, call);
    blz_ctx_t in;
    blz_ctx_internal (&in);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (blz_db_begin (db, &in, err) < 0)
            return NULL;
        /* no ensure_schema here (status is polled): before the first submit there is no table */
        PGresult *res = blz_db_query (db, err,
                                      "SELECT id, uuid, user_id, type, state, steps, current_step, cancel, response::text, "
                                      "(extract(epoch from started) * 1000)::int8, (extract(epoch from finished) * 1000)::int8 "
                                      "FROM graph_handle WHERE uuid = $1 OR id::text = $1",
                                      BLZ_P (h));
        if (!res) {
            blz_db_rollback (db);
            if (strstr (err->msg, "graph_handle") && strstr (err->msg, "does not exist"))
                omr_err_set (err, OMR_E_NOTFOUND, 404, "no command handle %s", h);
            return NULL;
        }
        if (!PQntuples (res) || (atoll (PQgetvalue (res, 0, 2)) != ctx.user_id && !ctx.admin)) {
            PQclear (res);
            blz_db_rollback (db);
            omr_err_set (err, OMR_E_NOTFOUND, 404, "no command handle %s", h);
            return NULL;
        }
        int dead = attempt ? 0 : mark_dead (db, res, err);
        if (dead == 0) {
            *dbo = db;
            return res;
        }
        PQclear (res);
        if (dead < 0 || blz_db_commit (db, err) < 0) {
            blz_db_rollback (db);
            return NULL;
        }
    }
    omr_err_set (err, OMR_E_INTERNAL, 500, "command handle %s could not be read", h);
    return NULL;
}

static json_t *
status_json (PGresult *res)
{
    const char *state = PQgetvalue (res, 0, 4);
    json_t *s = json_pack ("{ss ss ss sI sI sb}", "handle", PQgetvalue (res, 0, 1), "type", PQgetvalue (res, 0, 3), "state",
                           !strcmp (state, "QUEUED") ? "RUNNING" : state, "steps", (json_int_t) atoll (PQgetvalue (res, 0, 5)), "currentStep",
                           (json_int_t) atoll (PQgetvalue (res, 0, 6)), "cancelled", !strcmp (PQgetvalue (res, 0, 7), "t"));
    json_object_set_new (s, "startTime", json_integer (atoll (PQgetvalue (res, 0, 9))));
    if (!PQgetisnull (res, 0, 10))
        json_object_set_new (s, "finishTime", json_integer (atoll (PQgetvalue (res, 0, 10))));
    return s;
}

static int
op_status (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_db_t *db = NULL;
    PGresult *res = load_handle (arg, call, &db, err);
    if (!res)
        return -1;
    call->reply = status_json (res);
    PQclear (res);
    blz_db_rollback (db);
    return 0;
}

static int
op_response (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_db_t *db = NULL;
    PGresult *res = load_handle (arg, call, &db, err);
    if (!res)
        return -1;
    int rc = 0;
    if (PQgetisnull (res, 0, 8))
        rc = omr_err_set (err, OMR_E_API, 409, "the request is still %s: ask Command.status until it is done",
                          PQgetvalue (res, 0, 4));
    else {
        json_error_t je;
        call->reply = json_loads (PQgetvalue (res, 0, 8), 0, &je);
        if (!call->reply)
            rc = omr_err_set (err, OMR_E_INTERNAL, 500, "stored response unreadable: %s", je.text);
        else
            json_object_set_new (call->reply, "status", status_json (res));
    }
    PQclear (res);
    blz_db_rollback (db);
    return rc;
}

static int
op_cancel (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_db_t *db = NULL;
    PGresult *res = load_handle (arg, call, &db, err);
    if (!res)
        return -1;
    bool running = !strcmp (PQgetvalue (res, 0, 4), "RUNNING") || !strcmp (PQgetvalue (res, 0, 4), "QUEUED");
    long n = running ? blz_db_exec (db, err, "UPDATE graph_handle SET cancel = true WHERE id = $1 AND state IN ('RUNNING', 'QUEUED')",
                                    BLZ_P (PQgetvalue (res, 0, 0)))
                     : 0;
    PQclear (res);
    if (n < 0 || blz_db_commit (db, err) < 0) {
        blz_db_rollback (db);
        return -1;
    }
    call->reply = json_pack ("{sb}", "cancelled", n > 0);
    return 0;
}

/* ---- cleanse ------------------------------------------------------------------------------ */

typedef struct {
    blz_db_t *db;
    const char *root;           /* directory walked */
    int kind;                   /* 0 managed repository, 1 Files, 2 Thumbnails, 3 Pixels */
    bool dry;
    json_t *removed;
    omr_err_t *err;
} walk_t;

/* Whether a row names a file found in a walk (rel below the walk's root). */
static int
known (walk_t *w, const char *rel, const char *base, bool dir, omr_err_t *err)
{
    PGresult *res = NULL;
    if (w->kind == 0) {
        if (dir)
            res = blz_db_query (w->db, err, "SELECT 1 FROM originalfile WHERE repo IS NOT NULL AND left(path, length($1) + 1) = $1 || '/' LIMIT 1",
                                BLZ_P (rel));
        else
            res = blz_db_query (w->db, err, "SELECT 1 FROM originalfile WHERE repo IS NOT NULL AND path || name = $1 LIMIT 1",
                                BLZ_P (rel));
    } else {
        const char *p = base;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == base || (*p && strcmp (p, "_pyramid")) || dir)
            return 1;   /* not a file the server names by id: leave it */
        char id[24];
        snprintf (id, sizeof id, "%.*s", (int) (p - base), base);
        const char *sql = w->kind == 1   ? "SELECT 1 FROM originalfile WHERE id = $1::int8 AND repo IS NULL"
                          : w->kind == 2 ? "SELECT 1 FROM thumbnail WHERE id = $1::int8"
                                         : "SELECT 1 FROM pixels WHERE id = $1::int8";
        res = blz_db_query (w->db, err, sql, BLZ_P (id));
    }
    if (!res)
        return -1;
    int k = PQntuples (res) > 0;
    PQclear (res);
    return k;
}

/* The four places server files live, indexed by walk kind: the managed repository, then Files, Thumbnails
 * and Pixels under omero.data.dir; an entry is NULL when it cannot be made. The caller frees each. */
static void
data_roots (blz_app_t *app, char *roots[4])
{
    const char *d = omr_config_get (app->config, "omero.data.dir");
    if (!d || !*d)
        d = "/OMERO";
    const char *sub[4] = {NULL, "Files", "Thumbnails", "Pixels"};
    roots[0] = blz_repo_root (app->config);
    for (int k = 1; k < 4; k++)
        if (asprintf (&roots[k], "%s/%s", d, sub[k]) < 0)
            roots[k] = NULL;
}

static int
still_named (blz_app_t *app, blz_db_t *db, const char *path, omr_err_t *err)
{
    char *roots[4];
    data_roots (app, roots);
    int rc = 0;
    for (int k = 0; k < 4; k++) {
        size_t l = roots[k] ? strlen (roots[k]) : 0;
        if (!l || strncmp (path, roots[k], l) || path[l] != '/')
            continue;
        struct stat st;
        bool dir = stat (path, &st) == 0 && S_ISDIR (st.st_mode);
        const char *base = strrchr (path, '/') + 1;
        walk_t w = {.db = db, .kind = k};
        rc = known (&w, path + l + 1, base, dir, err);
        break;
    }
    for (int k = 0; k < 4; k++)
        free (roots[k]);
    return rc;
}

/* Walk dir (rel below the root, "" at the top); removes orphans; returns 1 when dir ends up
 * empty, 0 when not, -1 on error. */
static int
walk (walk_t *w, const char *rel)
{
    char *dirpath = NULL;
    if (asprintf (&dirpath, "%s%s%s", w->root, *rel ? "/" : "", rel) < 0)
        return -1;
    DIR *d = opendir (dirpath);
    if (!d) {
        free (dirpath);
        return 0;
    }
    int entries = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir (d)) && rc >= 0) {
        if (!strcmp (e->d_name, ".") || !strcmp (e->d_name, ".."))
            continue;
        entries++;
        char *crel = NULL, *full = NULL;
        if (asprintf (&crel, "%s%s%s", rel, *rel ? "/" : "", e->d_name) < 0
            || asprintf (&full, "%s/%s", w->root, crel) < 0) {
            free (crel);
            rc = -1;
            break;
        }
        struct stat st;
        if (lstat (full, &st) == 0) {
            bool dir = S_ISDIR (st.st_mode);
            if (dir) {
                int empty = walk (w, crel);
                if (empty < 0)
                    rc = -1;
                else if (empty) {
                    int k = known (w, crel, e->d_name, true, w->err);
                    if (k < 0)
                        rc = -1;
                    else if (!k) {
                        json_array_append_new (w->removed, json_string (full));
                        if (!w->dry)
                            rmdir (full);
                        entries--;
                    }
                }
            } else {
                int k = known (w, crel, e->d_name, false, w->err);
                if (k < 0)
                    rc = -1;
                else if (!k) {
                    json_array_append_new (w->removed, json_string (full));
                    if (!w->dry)
                        unlink (full);
                    entries--;
                }
            }
        }
        free (crel);
        free (full);
    }
    closedir (d);
    free (dirpath);
    return rc < 0 ? -1 : entries == 0;
}

static int
op_cleanse (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    blz_ctx_t ctx;
    if (blz_call_ctx (call, &ctx, err) < 0)
        return -1;
    if (!ctx.admin)
        return omr_err_set (err, OMR_E_SECURITY, 403, "only administrators may cleanse the repository");
    bool dry = json_is_true (json_object_get (call->req->body, "dryRun"));
    const char *want = blz_str (call->req->body, "dataDir"), *have = omr_config_get (app->config, "omero.data.dir");
    if (want) {
        char *a = realpath (want, NULL), *b = have ? realpath (have, NULL) : NULL;
        bool same = a && b && !strcmp (a, b);
        free (a);
        free (b);
        if (!same)
            return omr_err_set (err, OMR_E_API, 400, "%s is not this server's data directory (omero.data.dir is %s)", want,
                                have ? have : "unset");
    }
    blz_db_t *db = blz_app_db (app, call);
    json_t *removed = json_array ();
    blz_ctx_t in;
    blz_ctx_internal (&in);
    /* first the files that committed deletes left behind */
    if (blz_db_begin (db, &in, err) < 0 || ensure_schema (db, err) < 0 || blz_db_commit (db, err) < 0) {
        blz_db_rollback (db);
        json_decref (removed);
        return -1;
    }
    json_t *pending = json_array ();
    long np = remove_pending (app, db, -1, pending, err);
    if (np < 0) {
        json_decref (removed);
        json_decref (pending);
        return -1;
    }
    if (!dry && remove_pending (app, db, -1, NULL, err) < 0) {
        json_decref (removed);
        json_decref (pending);
        return -1;
    }
    if (blz_db_begin (db, &in, err) < 0) {
        json_decref (removed);
        json_decref (pending);
        return -1;
    }
    char *roots[4];
    data_roots (app, roots);
    int rc = 0;
    for (int k = 0; k < 4 && rc == 0; k++) {
        if (!roots[k])
            continue;
        walk_t w = {.db = db, .root = roots[k], .kind = k, .dry = dry, .removed = removed, .err = err};
        if (walk (&w, "") < 0)
            rc = -1;
    }
    for (int k = 0; k < 4; k++)
        free (roots[k]);
    blz_db_rollback (db);
    if (rc < 0) {
        json_decref (removed);
        json_decref (pending);
        return -1;
    }
    call->reply = json_pack ("{so so sb}", "removed", removed, "pending", pending, "dryRun", dry);
    return 0;
}

void
blz_graph_register (blz_app_t *app)
{
    omr_server_on (app->server, "Command.submit", op_submit, app);
    omr_server_on (app->server, "Command.status", op_status, app);
    omr_server_on (app->server, "Command.response", op_response, app);
    omr_server_on (app->server, "Command.cancel", op_cancel, app);
    omr_server_on (app->server, "Command.cleanse", op_cleanse, app);
}
