/* db: libpq connection per worker, transactions carrying the caller context, Event/EventLog. */
#include "db.h"
#include "omr_log.h"
#include "omr_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct blz_db_t {
    char *conninfo;
    PGconn *conn;
    bool in_tx;
    blz_ctx_t ctx;              /* caller of the current transaction */
    int64_t event_id;           /* -1 until the transaction's Event is created */
};

blz_db_t *
blz_db_new (const char *conninfo)
{
    blz_db_t *self = calloc (1, sizeof *self);
    self->conninfo = strdup (conninfo ? conninfo : "");
    self->event_id = -1;
    return self;
}

void
blz_db_destroy (blz_db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    blz_db_t *self = *self_p;
    if (self->conn)
        PQfinish (self->conn);
    free (self->conninfo);
    free (self);
    *self_p = NULL;
}

PGconn *
blz_db_conn (blz_db_t *self)
{
    return self->conn;
}

/* Append key='value' with libpq's quoting rules. */
static void
kv (char **buf, size_t *len, size_t *off, const char *key, const char *value)
{
    if (!value || !*value)
        return;
    size_t need = *off + strlen (key) + 2 * strlen (value) + 8;
    if (need > *len) {
        *len = need * 2;
        *buf = realloc (*buf, *len);
    }
    *off += sprintf (*buf + *off, "%s%s='", *off ? " " : "", key);
    for (const char *p = value; *p; p++) {
        if (*p == '\'' || *p == '\\')
            (*buf)[(*off)++] = '\\';
        (*buf)[(*off)++] = *p;
    }
    (*buf)[(*off)++] = '\'';
    (*buf)[*off] = 0;
}

char *
blz_db_conninfo (const char *host, const char *port, const char *name, const char *user, const char *pass)
{
    size_t len = 256, off = 0;
    char *buf = calloc (1, len);
    kv (&buf, &len, &off, "host", host);
    kv (&buf, &len, &off, "port", port);
    kv (&buf, &len, &off, "dbname", name);
    kv (&buf, &len, &off, "user", user);
    kv (&buf, &len, &off, "password", pass);
    kv (&buf, &len, &off, "application_name", "omero-blitz");
    kv (&buf, &len, &off, "connect_timeout", "10");
    return buf;
}

/* Server notices ("already exists, skipping" …) go to the log at debug level, not to stderr. */
static void
notice (void *arg, const char *message)
{
    char text[512];
    snprintf (text, sizeof text, "%s", message);
    text[strcspn (text, "\n")] = 0;
    omr_debug ("database: %s", text);
}

int
blz_db_connect (blz_db_t *self, int wait_ms, omr_err_t *err)
{
    int64_t until = omr_mono_ms () + wait_ms;
    int delay = 100, attempt = 0;
    while (true) {
        if (self->conn)
            PQfinish (self->conn);
        self->conn = PQconnectdb (self->conninfo);
        if (PQstatus (self->conn) == CONNECTION_OK) {
            if (attempt > 0)
                omr_info ("connected to the database after %d attempt(s)", attempt + 1);
            PQsetClientEncoding (self->conn, "UTF8");
            PQsetNoticeProcessor (self->conn, notice, NULL);
            self->in_tx = false;
            return 0;
        }
        char msg[512];
        snprintf (msg, sizeof msg, "%s", PQerrorMessage (self->conn));
        msg[strcspn (msg, "\n")] = 0;
        int64_t now = omr_mono_ms ();
        if (now >= until) {
            PQfinish (self->conn);
            self->conn = NULL;
            return omr_err_set (err, OMR_E_UNAVAIL, 503, "cannot connect to the database: %s", msg);
        }
        if (attempt == 0 || attempt % 10 == 0)
            omr_warn ("database not reachable yet (%s); retrying", msg);
        usleep ((useconds_t) (now + delay > until ? until - now : delay) * 1000);
        delay = delay * 2 > 2000 ? 2000 : delay * 2;
        attempt++;
    }
}

static int
pg_error (PGresult *res, PGconn *conn, omr_err_t *err)
{
    const char *state = res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage (res) : PQerrorMessage (conn);
    char text[768];
    snprintf (text, sizeof text, "%s", msg && *msg ? msg : "unknown database error");
    text[strcspn (text, "\n")] = 0;
    if (state && strcmp (state, "23505") == 0)
        return omr_err_set (err, OMR_E_VALIDATION, 409, "already exists: %s", text);
    if (state && (strncmp (state, "23", 2) == 0 || strncmp (state, "22", 2) == 0))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s", text);
    if (state && strcmp (state, "42501") == 0)
        return omr_err_set (err, OMR_E_SECURITY, 403, "%s", text);
    if (state && strcmp (state, "P0001") == 0)
        return omr_err_set (err, OMR_E_SECURITY, 403, "%s", text);
    if (PQstatus (conn) != CONNECTION_OK)
        return omr_err_set (err, OMR_E_UNAVAIL, 503, "database connection lost: %s", text);
    return omr_err_set (err, OMR_E_INTERNAL, 500, "database error: %s", text);
}

PGresult *
blz_db_query (blz_db_t *self, omr_err_t *err, const char *sql, int n, const char *const *params)
{
    if (!self->conn) {
        omr_err_set (err, OMR_E_UNAVAIL, 503, "no database connection");
        return NULL;
    }
    PGresult *res = PQexecParams (self->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res ? PQresultStatus (res) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        pg_error (res, self->conn, err);
        PQclear (res);
        return NULL;
    }
    return res;
}

long
blz_db_exec (blz_db_t *self, omr_err_t *err, const char *sql, int n, const char *const *params)
{
    PGresult *res = blz_db_query (self, err, sql, n, params);
    if (!res)
        return -1;
    const char *t = PQcmdTuples (res);
    long rows = t && *t ? atol (t) : PQntuples (res);
    PQclear (res);
    return rows;
}

/* Apply a context's settings to the current transaction. */
void
blz_db_ctx_params (const blz_ctx_t *ctx, blz_db_ctx_params_t *out)
{
    blz_ctx_idlist (ctx->group_ids, ctx->ngroups, out->gids, sizeof out->gids);
    blz_ctx_idlist (ctx->owned_ids, ctx->nowned, out->owned, sizeof out->owned);
    out->privs[0] = 0;
    if (ctx->admin && ctx->privileges != BLZ_ALL_PRIVILEGES) {
        size_t off = 0;
        for (int i = 0; i < BLZ_NPRIVILEGES; i++)
            if (ctx->privileges & (1u << i))
                off += snprintf (out->privs + off, sizeof out->privs - off, "%s%s", off ? "," : "",
                                 blz_privilege_name (i));
        if (!out->privs[0])
            snprintf (out->privs, sizeof out->privs, "none");     /* restricted to nothing, never "all" */
    }
    out->values[0] = BLZ_I64 (out->uid, ctx->user_id);
    out->values[1] = out->gids;
    out->values[2] = out->owned;
    out->values[3] = ctx->admin ? "true" : "false";
    out->values[4] = BLZ_I64 (out->gid, ctx->group_id);
    out->values[5] = out->privs;
}

static int
apply_ctx (blz_db_t *self, const blz_ctx_t *ctx, omr_err_t *err)
{
    blz_db_ctx_params_t *p = malloc (sizeof *p);    /* ~21 kB: kept off the worker's stack */
    if (!p)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    blz_db_ctx_params (ctx, p);
    long rc = blz_db_exec (self, err, BLZ_DB_CTX_SQL, 6, p->values);
    free (p);
    return rc < 0 ? -1 : 0;
}

int
blz_db_internal (blz_db_t *self, bool on, omr_err_t *err)
{
    if (!self->in_tx)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "no transaction to switch");
    blz_ctx_t internal;
    blz_ctx_internal (&internal);
    return apply_ctx (self, on ? &internal : &self->ctx, err);
}

int
blz_db_begin (blz_db_t *self, const blz_ctx_t *ctx, omr_err_t *err)
{
    if (self->in_tx)
        blz_db_rollback (self);
    if (!self->conn || PQstatus (self->conn) != CONNECTION_OK) {
        omr_warn ("database connection lost; reconnecting");
        if (blz_db_connect (self, 5000, err) < 0)
            return -1;
    }
    PGresult *res = PQexec (self->conn, "BEGIN");
    if (!res || PQresultStatus (res) != PGRES_COMMAND_OK) {
        PQclear (res);
        /* A broken socket shows up here: reconnect once and retry. */
        if (blz_db_connect (self, 5000, err) < 0)
            return -1;
        res = PQexec (self->conn, "BEGIN");
        if (!res || PQresultStatus (res) != PGRES_COMMAND_OK) {
            pg_error (res, self->conn, err);
            PQclear (res);
            return -1;
        }
    }
    PQclear (res);
    self->in_tx = true;
    self->ctx = *ctx;
    self->event_id = -1;
    if (apply_ctx (self, ctx, err) < 0) {
        blz_db_rollback (self);
        return -1;
    }
    return 0;
}

int
blz_db_commit (blz_db_t *self, omr_err_t *err)
{
    if (!self->in_tx)
        return 0;
    PGresult *res = PQexec (self->conn, "COMMIT");
    self->in_tx = false;
    self->event_id = -1;
    if (!res || PQresultStatus (res) != PGRES_COMMAND_OK) {
        pg_error (res, self->conn, err);
        PQclear (res);
        return -1;
    }
    PQclear (res);
    return 0;
}

void
blz_db_rollback (blz_db_t *self)
{
    if (!self->in_tx)
        return;
    self->in_tx = false;
    self->event_id = -1;
    if (self->conn && PQstatus (self->conn) == CONNECTION_OK)
        PQclear (PQexec (self->conn, "ROLLBACK"));
}

int64_t
blz_db_insert_owned (blz_db_t *self, omr_err_t *err, int64_t owner, int64_t group, const char *table,
                     const char *cols, const char *vals, int n, const char *const *params)
{
    int64_t ev = blz_db_event (self, err);
    if (ev < 0)
        return -1;
    char owner_sql[24], *sql = NULL;
    if (owner < 0)
        snprintf (owner_sql, sizeof owner_sql, "_omero_uid()");
    else
        snprintf (owner_sql, sizeof owner_sql, "%lld", (long long) owner);
    if (asprintf (&sql,
                  "INSERT INTO %s (id, permissions, owner_id, group_id, creation_id, update_id%s%s) "
                  "VALUES (nextval('seq_%s'), (SELECT permissions FROM experimentergroup WHERE id = %lld), "
                  "%s, %lld, %lld, %lld%s%s) RETURNING id",
                  table, *cols ? ", " : "", cols, table, (long long) group, owner_sql, (long long) group,
                  (long long) ev, (long long) ev, *vals ? ", " : "", vals)
        < 0)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    PGresult *r = blz_db_query (self, err, sql, n, params);
    free (sql);
    if (!r)
        return -1;
    int64_t id = PQntuples (r) ? atoll (PQgetvalue (r, 0, 0)) : -1;
    PQclear (r);
    if (id < 0)
        omr_err_set (err, OMR_E_INTERNAL, 500, "insert into %s returned no id", table);
    return id;
}

int64_t
blz_db_event (blz_db_t *self, omr_err_t *err)
{
    if (self->event_id >= 0)
        return self->event_id;
    if (!self->in_tx) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "an Event needs a transaction");
        return -1;
    }
    const blz_ctx_t *c = &self->ctx;
    char uid[24], gid[24], sid[24];
    /* An event belongs to one group: the current one, or "user" when the context spans all. */
    int64_t g = c->group_id >= 0 ? c->group_id : 1;
    PGresult *res = blz_db_query (
        self, err,
        "INSERT INTO event (id, permissions, time, status, experimenter, experimentergroup, \"session\", type) "
        "VALUES (nextval('seq_event'), -52, now(), NULL, $1, $2, $3, "
        "coalesce((SELECT id FROM eventtype WHERE value = $4), (SELECT id FROM eventtype WHERE value = 'User'))) "
        "RETURNING id",
        BLZ_P (BLZ_I64 (uid, c->user_id), BLZ_I64 (gid, g), BLZ_I64 (sid, c->session_id),
               c->event_type[0] ? c->event_type : "User"));
    if (!res)
        return -1;
    self->event_id = atoll (PQgetvalue (res, 0, 0));
    PQclear (res);
    return self->event_id;
}

int
blz_db_log (blz_db_t *self, const char *action, const char *entity_type, int64_t id, omr_err_t *err)
{
    int64_t ev = blz_db_event (self, err);
    if (ev < 0)
        return -1;
    char eid[24], evs[24];
    return blz_db_exec (self, err,
                        "INSERT INTO eventlog (id, permissions, action, entityid, entitytype, event) "
                        "VALUES (nextval('seq_eventlog'), -52, $1, $2, $3, $4)",
                        BLZ_P (action, BLZ_I64 (eid, id), entity_type, BLZ_I64 (evs, ev)))
                   < 0
               ? -1
               : 0;
}
