/* omr_server: what every grid server is built on. A server is started by the registry or a
 * node agent (never by hand) with its identity in the environment; it binds a ROUTER socket,
 * registers its endpoint and the services it offers with the registry, heartbeats with its
 * load, serves envelopes (omr_msg) on a pool of worker threads and stops cleanly on SIGTERM.
 *
 *   omr_server_t *srv = omr_server_new ("tables", &err);
 *   omr_server_on (srv, "Tables.*", tables_handler, state);
 *   rc = omr_server_run (srv, &err);      // returns after SIGTERM, in-flight requests finished
 *   omr_server_destroy (&srv);
 *
 * Environment set by the launcher: OMERODIR, OMERO_SERVER_ID, OMERO_NODE, OMERO_REGISTRY,
 * OMERO_NODE_HOST (address to bind), OMERO_SERVER_PROPS, OMERO_LOGFILE, OMERO_KEYDIR. */
#ifndef OMR_SERVER_H
#define OMR_SERVER_H
#include "omr_config.h"
#include "omr_msg.h"

typedef struct omr_server_t omr_server_t;

/* One request being served, handed to a handler on a worker thread. */
typedef struct {
    omr_server_t *server;
    const omr_msg_t *req;       /* op, ctx, body, raw frames */
    json_t *reply;              /* set by the handler (owned by the call); NULL = json null */
    zframe_t **raw_out;         /* raw frames to append to the reply (use omr_call_add_raw) */
    size_t nraw_out;
    int worker;                 /* worker index, 0..workers-1, for per-thread state */
} omr_call_t;

/* A handler returns 0 (reply set) or -1 with err filled. */
typedef int (*omr_handler_fn) (omr_call_t *call, omr_err_t *err, void *arg);

/* Create a server of a kind ("blitz", "tables" …) from the launcher's environment. */
omr_server_t *omr_server_new (const char *kind, omr_err_t *err);
/* Free the server. */
void omr_server_destroy (omr_server_t **self);
/* Route an op ("IConfig.getVersion") or every op of a service ("Tables.*") to a handler.
 * The service names are registered so the router and other servers can find this server. */
void omr_server_on (omr_server_t *self, const char *op, omr_handler_fn fn, void *arg);
/* Number of worker threads (default omero.threads.min_threads, at least 1). */
void omr_server_set_workers (omr_server_t *self, int n);
/* Called once per worker thread before it serves (e.g. to open a database connection). */
void omr_server_on_worker_start (omr_server_t *self, void (*fn) (omr_server_t *, int worker, void *), void *arg);
/* Serve until SIGTERM/SIGINT. Returns 0 on a clean stop. */
int omr_server_run (omr_server_t *self, omr_err_t *err);
/* Ask a running server to stop (thread-safe). */
void omr_server_stop (omr_server_t *self);
/* Identity and configuration. */
const char *omr_server_id (omr_server_t *self);
const char *omr_server_kind (omr_server_t *self);
const char *omr_server_node (omr_server_t *self);
const char *omr_server_omerodir (omr_server_t *self);
const char *omr_server_endpoint (omr_server_t *self);
const char *omr_server_registry (omr_server_t *self);
const char *omr_server_keydir (omr_server_t *self);
omr_config_t *omr_server_config (omr_server_t *self);
/* Append a raw frame to the reply (copied). */
void omr_call_add_raw (omr_call_t *call, const void *data, size_t len);
#endif
