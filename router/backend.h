/* backend: ZeroMQ DEALER connections to grid endpoints, driven by the router's libevent loop.
 * One DEALER per endpoint; its ZMQ_FD is watched by libevent (edge-triggered, so every wake-up
 * and every send drains with ZMQ_EVENTS); replies are matched to calls by envelope id; each
 * call has a timeout; a socket monitor notices a peer that went away and fails its calls at
 * once so that the caller can retry elsewhere. Nothing here blocks the loop. */
#ifndef RTR_BACKEND_H
#define RTR_BACKEND_H
#include "omr_error.h"
#include <czmq.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct rtr_pool_t rtr_pool_t;
typedef struct rtr_backend_t rtr_backend_t;

/* Receives the reply frames (header, body, raw …; owned by the callee) or NULL with err. */
typedef void (*rtr_reply_fn) (zmsg_t *reply, const omr_err_t *err, void *arg);

/* A pool of connections on an event base. */
rtr_pool_t *rtr_pool_new (struct event_base *base);
/* Fail every pending call (ServiceUnavailable "router stopping") and free everything. */
void rtr_pool_destroy (rtr_pool_t **self);
/* The connection to endpoint, created on first use. keydir (or NULL) holds CURVE client keys
 * for the registry; plain servers are reached without. */
rtr_backend_t *rtr_pool_get (rtr_pool_t *self, const char *endpoint, const char *keydir);
/* Look at every connection's socket events now (a safety net to the event loop's wake-ups). */
void rtr_pool_poll (rtr_pool_t *self);
/* Number of calls waiting for replies in the whole pool. */
size_t rtr_pool_pending (rtr_pool_t *self);

/* Send an envelope (frames consumed) whose header carries id; fn is called exactly once,
 * from the event loop, with the reply or an error (timeout: 504 ServiceUnavailable; peer
 * gone or unreachable: 503 ServiceUnavailable). Returns 0, or -1 with err when the message
 * could not even be queued (fn is then not called). */
int rtr_backend_send (rtr_backend_t *self, const char *id, zmsg_t **msg, int timeout_ms, rtr_reply_fn fn, void *arg,
                      omr_err_t *err);
/* Whether the endpoint failed recently (within the back-off after a disconnect). */
bool rtr_backend_down (rtr_backend_t *self);
/* Calls outstanding on this endpoint. */
int rtr_backend_inflight (rtr_backend_t *self);
/* The endpoint. */
const char *rtr_backend_endpoint (rtr_backend_t *self);
#endif
