/* omr_rpc: request/reply over a DEALER socket with timeouts (ZeroMQ guide's "lazy pirate"):
 * after a timeout the socket is recreated so a late reply cannot be taken for the next one. */
#include "omr_rpc.h"
#include "omr_curve.h"
#include "omr_util.h"
#include <string.h>

struct omr_rpc_t {
    char *endpoint;
    char *keydir;
    zsock_t *sock;
};

static int
rpc_connect (omr_rpc_t *self, omr_err_t *err)
{
    self->sock = zsock_new (ZMQ_DEALER);
    if (!self->sock)
        return omr_err_set (err, OMR_E_UNAVAIL, 503, "cannot create a socket: %s", zmq_strerror (zmq_errno ()));
    zsock_set_linger (self->sock, 0);
    zsock_set_sndhwm (self->sock, 10000);
    if (self->keydir && omr_curve_client (self->sock, self->keydir, err) < 0) {
        zsock_destroy (&self->sock);
        return -1;
    }
    if (zsock_connect (self->sock, "%s", self->endpoint) < 0) {
        zsock_destroy (&self->sock);
        return omr_err_set (err, OMR_E_UNAVAIL, 503, "cannot connect to %s", self->endpoint);
    }
    return 0;
}

omr_rpc_t *
omr_rpc_new (const char *endpoint, const char *keydir, omr_err_t *err)
{
    omr_rpc_t *self = calloc (1, sizeof *self);
    self->endpoint = strdup (endpoint);
    self->keydir = keydir ? strdup (keydir) : NULL;
    if (rpc_connect (self, err) < 0) {
        omr_rpc_destroy (&self);
        return NULL;
    }
    return self;
}

void
omr_rpc_destroy (omr_rpc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    omr_rpc_t *self = *self_p;
    zsock_destroy (&self->sock);
    free (self->endpoint);
    free (self->keydir);
    free (self);
    *self_p = NULL;
}

const char *
omr_rpc_endpoint (omr_rpc_t *self)
{
    return self->endpoint;
}

omr_msg_t *
omr_rpc_call (omr_rpc_t *self, omr_msg_t **req_p, int timeout_ms, omr_err_t *err)
{
    if (!self->sock && rpc_connect (self, err) < 0) {
        omr_msg_destroy (req_p);
        return NULL;
    }
    char id[64];
    snprintf (id, sizeof id, "%s", omr_msg_id (*req_p));
    char op[128];
    snprintf (op, sizeof op, "%s", omr_msg_op (*req_p));
    if (!json_object_get ((*req_p)->header, "deadline") && timeout_ms > 0)
        omr_msg_set_deadline (*req_p, omr_now_ms () + timeout_ms);
    zmsg_t *z = omr_msg_encode (req_p, NULL);
    if (zmsg_send (&z, self->sock) < 0) {
        zmsg_destroy (&z);
        zsock_destroy (&self->sock);
        omr_err_set (err, OMR_E_UNAVAIL, 503, "cannot send to %s", self->endpoint);
        return NULL;
    }
    int64_t end = omr_mono_ms () + timeout_ms;
    zpoller_t *poller = zpoller_new (self->sock, NULL);
    omr_msg_t *reply = NULL;
    for (;;) {
        int64_t left = end - omr_mono_ms ();
        if (left <= 0)
            break;
        if (!zpoller_wait (poller, (int) left)) {
            if (zpoller_terminated (poller))
                break;
            continue;
        }
        zmsg_t *in = zmsg_recv (self->sock);
        if (!in)
            break;
        omr_msg_t *m = omr_msg_decode (&in, NULL);
        if (m && strcmp (omr_msg_id (m), id) == 0) {
            reply = m;
            break;
        }
        omr_msg_destroy (&m);       /* a late reply to an earlier call */
    }
    zpoller_destroy (&poller);
    if (!reply) {
        zsock_destroy (&self->sock);
        omr_err_set (err, OMR_E_UNAVAIL, 503, "no answer from %s to %s within %d ms", self->endpoint, op,
                     timeout_ms);
    }
    return reply;
}

json_t *
omr_rpc_call_json (omr_rpc_t *self, const char *op, json_t *body, int timeout_ms, omr_err_t *err)
{
    omr_msg_t *req = omr_msg_new_request (op, body);
    omr_msg_t *rep = omr_rpc_call (self, &req, timeout_ms, err);
    if (!rep)
        return NULL;
    if (omr_msg_error (rep, err) < 0) {
        omr_msg_destroy (&rep);
        return NULL;
    }
    json_t *b = json_incref (rep->body);
    omr_msg_destroy (&rep);
    return b;
}
