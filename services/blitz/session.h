/* session: ISession. Sessions live in PostgreSQL (OMERO's `session` table plus
 * blitz_session for the current group, client address and last access) so every Blitz
 * replica accepts every session. Logins check slow password hashes, throttle repeated failures
 * per user name and never reveal whether a user exists. */
#ifndef BLZ_SESSION_H
#define BLZ_SESSION_H
#include "blitz.h"

/* What a login asks for. */
typedef struct {
    const char *name;           /* user to log in as */
    const char *password;       /* that user's password, or the sudoer's when sudo is set */
    const char *sudo;           /* administrator (or group owner) name logging in as `name`, or NULL */
    const json_t *group;        /* group name/id, or NULL for the default group */
    const char *agent, *ip, *event_type;
    long long tti, ttl;         /* requested timeouts in ms, -1 = configured defaults */
} blz_login_t;

/* Register the ISession.* operations. */
void blz_session_register (blz_app_t *app);
/* Authenticate and create a session; fills the new session's context. */
int blz_session_login (blz_app_t *app, blz_db_t *db, const blz_login_t *req, blz_ctx_t *out, omr_err_t *err);
/* The context of a live session (SessionException if unknown, RemovedSessionException if
 * closed or expired). With touch, the last access is updated (at most every few seconds). */
int blz_session_load (blz_app_t *app, blz_db_t *db, const char *uuid, bool touch, blz_ctx_t *ctx, omr_err_t *err);
/* Close a session by uuid. */
int blz_session_close (blz_app_t *app, blz_db_t *db, const char *uuid, omr_err_t *err);
/* OMERO's EventContext JSON (sessionUuid, userName, groupName, memberOfGroups …) for a context. */
json_t *blz_session_event_context (blz_app_t *app, blz_db_t *db, const blz_ctx_t *ctx, omr_err_t *err);
#endif
