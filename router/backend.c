/* backend: DEALER sockets in a libevent loop, with per-call timers and socket monitors. */
#include "backend.h"
#include "omr_log.h"
#include "omr_util.h"
#include "omr_curve.h"
#include <jansson.h>
#include <string.h>

#define DOWN_BACKOFF_MS 1000

typedef struct call_t {
    rtr_backend_t *be;
    char id[64];
    struct event timer;
    rtr_reply_fn fn;
    void *arg;
} call_t;

struct rtr_backend_t {
    rtr_pool_t *pool;
    char *endpoint;
    char *keydir;
    zsock_t *sock;
    void *monitor;              /* raw PAIR socket receiving monitor events */
    struct event *ev, *mev;
    zhashx_t *calls;            /* id -> call_t */
    int64_t down_until;         /* monotonic ms */
    bool connected;
    unsigned serial;
};

struct rtr_pool_t {
    struct event_base *base;
    zhashx_t *backends;         /* endpoint -> rtr_backend_t */
    unsigned next_monitor;
    size_t pending;
    bool closing;               /* being destroyed: sends fail at once */
};

static void backend_close (rtr_backend_t *self, const char *why, int status);

static void
finish (call_t *c, zmsg_t *reply, const omr_err_t *err)
{
    evtimer_del (&c->timer);
    rtr_reply_fn fn = c->fn;
    void *arg = c->arg;
    c->be->pool->pending--;
    free (c);
    fn (reply, err, arg);
}

static void
on_timeout (evutil_socket_t fd, short what, void *arg)
{
    call_t *c = arg;
    rtr_backend_t *be = c->be;
    zhashx_delete (be->calls, c->id);
    omr_err_t err = {0};
    omr_err_set (&err, OMR_E_UNAVAIL, 504, "no answer from %s in time", be->endpoint);
    finish (c, NULL, &err);
}

/* Drain every pending reply (ZMQ_FD is edge-triggered: stop only when ZMQ_EVENTS says empty). */
static void
on_readable (evutil_socket_t fd, short what, void *arg)
{
    rtr_backend_t *be = arg;
    unsigned serial = be->serial;
    while (be->sock && be->serial == serial && (zsock_events (be->sock) & ZMQ_POLLIN)) {
        zmsg_t *m = zmsg_recv (be->sock);
        if (!m)
            break;
        zframe_t *h = zmsg_first (m);
        json_t *hdr = h ? json_loadb ((const char *) zframe_data (h), zframe_size (h), 0, NULL) : NULL;
        const char *id = json_string_value (json_object_get (hdr, "id"));
        call_t *c = id ? zhashx_lookup (be->calls, id) : NULL;
        if (c) {
            zhashx_delete (be->calls, id);
            json_decref (hdr);
            finish (c, m, NULL);
        }
        else {
            /* A reply to a call that already timed out. */
            json_decref (hdr);
            zmsg_destroy (&m);
        }
    }
}

static void
on_monitor (evutil_socket_t fd, short what, void *arg)
{
    rtr_backend_t *be = arg;
    while (be->monitor) {
        int events = 0;
        size_t sz = sizeof events;
        if (zmq_getsockopt (be->monitor, ZMQ_EVENTS, &events, &sz) != 0 || !(events & ZMQ_POLLIN))
            break;
        zmq_msg_t m;
        zmq_msg_init (&m);
        if (zmq_msg_recv (&m, be->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&m);
            break;
        }
        uint16_t event = 0;
        if (zmq_msg_size (&m) >= 2)
            memcpy (&event, zmq_msg_data (&m), 2);
        int more = zmq_msg_more (&m);
        zmq_msg_close (&m);
        while (more) {
            zmq_msg_init (&m);
            zmq_msg_recv (&m, be->monitor, 0);
            more = zmq_msg_more (&m);
            zmq_msg_close (&m);
        }
        omr_debug ("%s: socket event 0x%x", be->endpoint, (unsigned) event);
        if (event == ZMQ_EVENT_CONNECTED)
            be->connected = true;
        else if (event == ZMQ_EVENT_DISCONNECTED || event == ZMQ_EVENT_CONNECT_RETRIED) {
            omr_warn ("%s %s: failing %zu call(s)", be->endpoint,
                      event == ZMQ_EVENT_DISCONNECTED ? "went away" : "is unreachable", zhashx_size (be->calls));
            /* 502: never connected, so nothing sent was delivered and any call may go elsewhere. */
            backend_close (be, event == ZMQ_EVENT_DISCONNECTED ? "went away" : "is unreachable",
                           event == ZMQ_EVENT_DISCONNECTED || be->connected ? 503 : 502);
            return;     /* the monitor socket is gone */
        }
    }
}

static int
backend_open (rtr_backend_t *self, omr_err_t *err)
{
    self->sock = zsock_new (ZMQ_DEALER);
    if (!self->sock)
        return omr_err_set (err, OMR_E_UNAVAIL, 503, "cannot create a socket: %s", zmq_strerror (zmq_errno ()));
    zsock_set_linger (self->sock, 0);
    zsock_set_sndhwm (self->sock, 100000);
    zsock_set_rcvhwm (self->sock, 100000);
    zsock_set_sndtimeo (self->sock, 0);
    zsock_set_rcvtimeo (self->sock, 0);
    zsock_set_reconnect_ivl (self->sock, 100);
    if (self->keydir && omr_curve_client (self->sock, self->keydir, err) < 0) {
        zsock_destroy (&self->sock);
        return -1;
    }
    char mon[128];
    snprintf (mon, sizeof mon, "inproc://rtr-monitor-%p-%u", (void *) self->pool, self->pool->next_monitor++);
    zmq_socket_monitor (zsock_resolve (self->sock), mon,
                        ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECT_RETRIED);
    self->monitor = zmq_socket (zsys_init (), ZMQ_PAIR);
    int zero = 0;
    zmq_setsockopt (self->monitor, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect (self->monitor, mon);
    if (zsock_connect (self->sock, "%s", self->endpoint) < 0) {
        zmq_socket_monitor (zsock_resolve (self->sock), NULL, 0);
        zmq_close (self->monitor);
        self->monitor = NULL;
        zsock_destroy (&self->sock);
        return omr_err_set (err, OMR_E_UNAVAIL, 503, "cannot connect to %s (bad endpoint?)", self->endpoint);
    }
    self->connected = false;
    self->serial++;
    self->ev = event_new (self->pool->base, zsock_fd (self->sock), EV_READ | EV_PERSIST, on_readable, self);
    event_add (self->ev, NULL);
    int mfd = -1;
    size_t sz = sizeof mfd;
    zmq_getsockopt (self->monitor, ZMQ_FD, &mfd, &sz);
    self->mev = event_new (self->pool->base, mfd, EV_READ | EV_PERSIST, on_monitor, self);
    event_add (self->mev, NULL);
    /* A ZeroMQ pipe starts out "active": its first messages raise no signal on ZMQ_FD until the
     * reader has once found it empty. Drain both sockets now so later messages wake the loop. */
    event_active (self->ev, EV_READ, 0);
    event_active (self->mev, EV_READ, 0);
    return 0;
}

/* Close the socket (dropping queued messages) and fail every call on it. */
static void
backend_close (rtr_backend_t *self, const char *why, int status)
{
    if (self->ev) {
        event_free (self->ev);
        self->ev = NULL;
    }
    if (self->mev) {
        event_free (self->mev);
        self->mev = NULL;
    }
    if (self->sock) {
        zmq_socket_monitor (zsock_resolve (self->sock), NULL, 0);
        zsock_destroy (&self->sock);
    }
    if (self->monitor) {
        zmq_close (self->monitor);
        self->monitor = NULL;
    }
    self->serial++;
    self->down_until = omr_mono_ms () + DOWN_BACKOFF_MS;
    /* Detach the calls first: callbacks may send new calls (retries) on other backends. */
    zlist_t *failed = zlist_new ();
    for (call_t *c = zhashx_first (self->calls); c; c = zhashx_next (self->calls))
        zlist_append (failed, c);
    zhashx_purge (self->calls);
    omr_err_t err = {0};
    omr_err_set (&err, OMR_E_UNAVAIL, status, "%s %s", self->endpoint, why);
    for (call_t *c = zlist_first (failed); c; c = zlist_next (failed))
        finish (c, NULL, &err);
    zlist_destroy (&failed);
}

static void
backend_free (void **item)
{
    rtr_backend_t *self = *item;
    if (!self)
        return;
    backend_close (self, "closed: router stopping", 503);
    zhashx_destroy (&self->calls);
    free (self->endpoint);
    free (self->keydir);
    free (self);
    *item = NULL;
}

rtr_pool_t *
rtr_pool_new (struct event_base *base)
{
    rtr_pool_t *self = calloc (1, sizeof *self);
    self->base = base;
    self->backends = zhashx_new ();
    zhashx_set_destructor (self->backends, backend_free);
    return self;
}

void
rtr_pool_destroy (rtr_pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtr_pool_t *self = *self_p;
    /* Fail every call while the table is intact: callbacks may look up or send again, and
     * those sends fail at once now. */
    self->closing = true;
    zlist_t *all = zlist_new ();
    for (rtr_backend_t *be = zhashx_first (self->backends); be; be = zhashx_next (self->backends))
        zlist_append (all, be);
    for (rtr_backend_t *be = zlist_first (all); be; be = zlist_next (all))
        backend_close (be, "closed: router stopping", 503);
    zlist_destroy (&all);
    zhashx_destroy (&(*self_p)->backends);
    free (*self_p);
    *self_p = NULL;
}

rtr_backend_t *
rtr_pool_get (rtr_pool_t *self, const char *endpoint, const char *keydir)
{
    rtr_backend_t *be = zhashx_lookup (self->backends, endpoint);
    if (be)
        return be;
    be = calloc (1, sizeof *be);
    be->pool = self;
    be->endpoint = strdup (endpoint);
    be->keydir = keydir ? strdup (keydir) : NULL;
    be->calls = zhashx_new ();
    zhashx_insert (self->backends, endpoint, be);
    return be;
}

void
rtr_pool_poll (rtr_pool_t *self)
{
    zlist_t *all = zlist_new ();
    for (rtr_backend_t *be = zhashx_first (self->backends); be; be = zhashx_next (self->backends))
        zlist_append (all, be);
    for (rtr_backend_t *be = zlist_first (all); be; be = zlist_next (all))
        if (be->monitor)
            on_monitor (-1, 0, be);
    zlist_destroy (&all);
}

size_t
rtr_pool_pending (rtr_pool_t *self)
{
    return self->pending;
}

int
rtr_backend_send (rtr_backend_t *self, const char *id, zmsg_t **msg, int timeout_ms, rtr_reply_fn fn, void *arg,
                  omr_err_t *err)
{
    if (self->pool->closing) {
        zmsg_destroy (msg);
        return omr_err_set (err, OMR_E_UNAVAIL, 503, "router stopping");
    }
    if (!self->sock && backend_open (self, err) < 0) {
        zmsg_destroy (msg);
        return -1;
    }
    if (zhashx_lookup (self->calls, id)) {
        zmsg_destroy (msg);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "duplicate request id %s", id);
    }
    if (zmsg_send (msg, self->sock) < 0) {
        zmsg_destroy (msg);
        return omr_err_set (err, OMR_E_UNAVAIL, 503, "%s is not accepting more requests (queue full)", self->endpoint);
    }
    call_t *c = calloc (1, sizeof *c);
    c->be = self;
    snprintf (c->id, sizeof c->id, "%s", id);
    c->fn = fn;
    c->arg = arg;
    evtimer_assign (&c->timer, self->pool->base, on_timeout, c);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add (&c->timer, &tv);
    zhashx_insert (self->calls, c->id, c);
    self->pool->pending++;
    /* A send can consume the edge of ZMQ_FD: make the loop look at the socket again. */
    event_active (self->ev, EV_READ, 0);
    return 0;
}

bool
rtr_backend_down (rtr_backend_t *self)
{
    return self->down_until && omr_mono_ms () < self->down_until;
}

int
rtr_backend_inflight (rtr_backend_t *self)
{
    return (int) zhashx_size (self->calls);
}

const char *
rtr_backend_endpoint (rtr_backend_t *self)
{
    return self->endpoint;
}
