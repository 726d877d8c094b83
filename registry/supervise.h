/* supervise: keeping one node's servers running as the descriptor says (IceGrid's node role):
 * start `always` servers, restart those that exit or stop heartbeating with back-off, disable
 * one that keeps failing, stop them with SIGTERM then SIGKILL. Used by the registry for node
 * master and by `omero-node` agents for theirs. */
#ifndef REG_SUPERVISE_H
#define REG_SUPERVISE_H
#include "descriptor.h"
#include "launch.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum {
    SUP_INACTIVE = 0,
    SUP_ACTIVATING,     /* started, no heartbeat yet */
    SUP_ACTIVE,
    SUP_DEACTIVATING    /* SIGTERM sent */
} sup_state_t;

typedef struct {
    const reg_server_t *def;    /* owned by the supervisor's current deployment */
    char *id;
    sup_state_t state;
    bool enabled;
    bool wanted;                /* manual servers: started on request */
    pid_t pid;
    int64_t started_ms;         /* monotonic */
    int64_t stop_deadline_ms;   /* SIGKILL after this while deactivating */
    int64_t next_start_ms;      /* back-off */
    int64_t last_heartbeat_ms;  /* monotonic; 0 = none since start */
    int failures;               /* consecutive early exits / activation timeouts */
    int restarts;
    int exit_status;            /* last wait status */
    char last_error[512];
    bool removing;              /* no longer in the deployment: stop, then drop */
} sup_proc_t;

typedef struct sup_t sup_t;

/* A supervisor for node ctx->node (ctx strings must outlive it). */
sup_t *sup_new (const reg_launch_ctx_t *ctx);
/* Stop every server (blocking, SIGKILL after timeout_ms) and free. */
void sup_destroy (sup_t **self, int timeout_ms);
/* Adopt a new deployment (ownership taken): servers of this node that are new are added,
 * changed ones (fingerprint) restarted, vanished ones stopped; unchanged ones keep running.
 * Fills changed (may be NULL) with {"started":[],"restarted":[],"stopped":[]} ids. */
void sup_deploy (sup_t *self, reg_deployment_t *dep, json_t *changed);
/* The current deployment (may be NULL). */
reg_deployment_t *sup_deployment (sup_t *self);
/* Reap exited children, start/restart what should run, enforce deadlines. Call often. */
void sup_tick (sup_t *self);
/* A heartbeat from server id with pid arrived. */
void sup_heartbeat (sup_t *self, const char *id, pid_t pid);
/* Treat every running server as heartbeating now (a node agent cut off from the registry,
 * which is where heartbeats arrive, keeps its servers rather than killing them). */
void sup_assume_alive (sup_t *self);
/* Operator actions (omero admin ice server start|stop|enable|disable). */
int sup_start (sup_t *self, const char *id, omr_err_t *err);
int sup_stop (sup_t *self, const char *id, omr_err_t *err);
int sup_enable (sup_t *self, const char *id, bool enabled, omr_err_t *err);
/* Stop everything (non-blocking: SIGTERM now, SIGKILL by sup_tick after timeout_ms). */
void sup_stop_all (sup_t *self, int timeout_ms);
/* Whether any server process is still alive. */
bool sup_any_alive (sup_t *self);
/* Lookup and iteration. */
sup_proc_t *sup_find (sup_t *self, const char *id);
int sup_count (sup_t *self);
sup_proc_t *sup_at (sup_t *self, int i);
/* "active", "activating", "inactive", "deactivating". */
const char *sup_state_name (sup_state_t s);
/* A JSON summary of one process. */
json_t *sup_proc_json (const sup_proc_t *p);
#endif
