/* omr_rpc: a client connection to one grid endpoint (a server's or the registry's ROUTER):
 * send an envelope, wait for the matching reply with a timeout. One per thread. */
#ifndef OMR_RPC_H
#define OMR_RPC_H
#include "omr_msg.h"

typedef struct omr_rpc_t omr_rpc_t;

/* Connect (lazily) to endpoint "tcp://host:port". keydir, when not NULL, is a directory
 * holding the grid's CURVE keys (registry.pub, client.key) to authenticate with. */
omr_rpc_t *omr_rpc_new (const char *endpoint, const char *keydir, omr_err_t *err);
/* Close and free. */
void omr_rpc_destroy (omr_rpc_t **self);
/* The endpoint this connection talks to. */
const char *omr_rpc_endpoint (omr_rpc_t *self);
/* Send *req (consumed) and wait up to timeout_ms for its reply. Returns the reply (which
 * may be an error reply) or NULL on timeout/transport failure with err set (ServiceUnavailable). */
omr_msg_t *omr_rpc_call (omr_rpc_t *self, omr_msg_t **req, int timeout_ms, omr_err_t *err);
/* Call op with a JSON body (stolen); returns the reply body (new reference) or NULL with err
 * set from an error reply or transport failure. */
json_t *omr_rpc_call_json (omr_rpc_t *self, const char *op, json_t *body, int timeout_ms, omr_err_t *err);
#endif
