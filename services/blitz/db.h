/* db: one libpq connection per Blitz worker thread. Every unit of work is a transaction that
 * starts with the caller's context applied (set_config(..., true) of omero.uid, omero.gids,
 * omero.owned_gids, omero.admin, omero.group, omero.privileges: what the schema's row-level
 * security policies read), and writes record an Event with EventLog rows as OMERO does. */
#ifndef BLZ_DB_H
#define BLZ_DB_H
#include "context.h"
#include <libpq-fe.h>

typedef struct blz_db_t blz_db_t;

/* A connection (not yet opened) for a libpq conninfo string. */
blz_db_t *blz_db_new (const char *conninfo);
/* Close and free. */
void blz_db_destroy (blz_db_t **self);
/* libpq conninfo built from omero.db.host/port/name/user/pass (malloc'ed). */
char *blz_db_conninfo (const char *host, const char *port, const char *name, const char *user, const char *pass);
/* Open the connection, retrying with back-off for up to wait_ms (the database may be starting). */
int blz_db_connect (blz_db_t *self, int wait_ms, omr_err_t *err);
/* Begin a transaction as the caller (reconnects first if the connection was lost). */
int blz_db_begin (blz_db_t *self, const blz_ctx_t *ctx, omr_err_t *err);

/* The statement that applies a caller context to a transaction (what row-level security reads),
 * and its six parameters for one context: for callers that send it themselves (pipelined). */
#define BLZ_DB_CTX_SQL                                                                                                \
    "SELECT set_config('omero.uid', $1, true), set_config('omero.gids', $2, true), "                                  \
    "set_config('omero.owned_gids', $3, true), set_config('omero.admin', $4, true), "                                \
    "set_config('omero.group', $5, true), set_config('omero.privileges', $6, true)"
typedef struct {
    char uid[24], gid[24], gids[BLZ_MAX_GROUPS * 21], owned[BLZ_MAX_GROUPS * 21], privs[512];
    const char *values[6];
} blz_db_ctx_params_t;
/* Fill out with the parameters of BLZ_DB_CTX_SQL for ctx. */
void blz_db_ctx_params (const blz_ctx_t *ctx, blz_db_ctx_params_t *out);
/* Commit; on failure the transaction is rolled back and err says why. */
int blz_db_commit (blz_db_t *self, omr_err_t *err);
/* Roll back the current transaction (no-op outside one). */
void blz_db_rollback (blz_db_t *self);
/* Within the current transaction, read as the server itself (administrator, all groups) when
 * on, and back as the transaction's caller when off: for checks that must see every row, such
 * as data of other users before a permission change. */
int blz_db_internal (blz_db_t *self, bool on, omr_err_t *err);
/* Run a statement with text parameters (NULL = SQL NULL); returns the result (PQclear it) or
 * NULL with err set (unique violations -> ValidationException 409, others 500). */
PGresult *blz_db_query (blz_db_t *self, omr_err_t *err, const char *sql, int n, const char *const *params);
/* Run a statement and return the number of rows it touched, or -1 with err set. */
long blz_db_exec (blz_db_t *self, omr_err_t *err, const char *sql, int n, const char *const *params);
/* The Event of the current transaction (created on first use) with the caller, group and
 * session of the context given to blz_db_begin; returns its id or -1. */
int64_t blz_db_event (blz_db_t *self, omr_err_t *err);
/* Insert an owned row into `table` (id from seq_<table>, the group's permissions, creation and
 * update by this transaction's event) with further columns `cols` = `vals` ($1.. of params;
 * both "" for none); owner -1 is the caller. Returns the new id, or -1 with err. */
int64_t blz_db_insert_owned (blz_db_t *self, omr_err_t *err, int64_t owner, int64_t group, const char *table,
                             const char *cols, const char *vals, int n, const char *const *params);
/* Record one EventLog row (action INSERT/UPDATE/DELETE, entity type "ome.model.meta.Experimenter"). */
int blz_db_log (blz_db_t *self, const char *action, const char *entity_type, int64_t id, omr_err_t *err);
/* Raw connection (for one-off checks at start-up). */
PGconn *blz_db_conn (blz_db_t *self);

/* Parameter array helper: BLZ_P ("a", b) -> (const char *const[]){"a", b}, with its count. */
#define BLZ_P(...) (int) (sizeof ((const char *[]) {__VA_ARGS__}) / sizeof (const char *)), \
                   (const char *const[]) {__VA_ARGS__}
/* Text of an int64 in a small stack buffer. */
#define BLZ_I64(buf, v) (snprintf ((buf), sizeof (buf), "%lld", (long long) (v)), (buf))
#endif
