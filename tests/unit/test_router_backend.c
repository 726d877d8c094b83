/* Unit tests of the router's ZeroMQ side inside libevent: reply matching, timeouts, servers
 * that are unreachable or go away, and the registry directory with its cache. The server side
 * is a CZMQ actor answering envelopes on a ROUTER socket. */
/* UNIT_LINK: router */
#include "unit.h"
#include "../../router/backend.h"
#include "../../router/directory.h"
#include "omr_log.h"
#include "omr_msg.h"
#include "omr_util.h"

typedef struct {
    int port;
    int lookups;
} server_state_t;

/* Answers "Echo.*" at once, never answers "Never.*", closes its socket on "Die.*" and answers
 * Registry.lookup with one server. Stops on $TERM. */
static void
server_actor (zsock_t *pipe, void *arg)
{
    server_state_t *st = arg;
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (sock, 0);
    st->port = zsock_bind (sock, "tcp://127.0.0.1:*");
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, sock, NULL);
    while (true) {
        zsock_t *which = zpoller_wait (poller, -1);
        if (which == pipe || !which)
            break;
        zmsg_t *m = zmsg_recv (sock);
        zframe_t *who = zmsg_pop (m);
        omr_msg_t *req = omr_msg_decode (&m, NULL);
        const char *op = req ? omr_msg_op (req) : "";
        if (!strncmp (op, "Die.", 4)) {
            zframe_destroy (&who);
            omr_msg_destroy (&req);
            zpoller_remove (poller, sock);
            zsock_destroy (&sock);
            continue;
        }
        if (!strncmp (op, "Never.", 6)) {
            zframe_destroy (&who);
            omr_msg_destroy (&req);
            continue;
        }
        json_t *body;
        if (!strcmp (op, "Registry.lookup")) {
            st->lookups++;
            body = json_pack ("{s:s,s:[{s:s,s:s,s:f},{s:s,s:s,s:f}]}", "policy", "ordered", "servers", "id", "A-0",
                              "endpoint", "tcp://127.0.0.1:1", "load", 0.5, "id", "Router", "endpoint",
                              "https://127.0.0.1:4064", "load", 0.0);
        }
        else
            body = json_pack ("{s:s}", "echo", op);
        omr_msg_t *rep = omr_msg_new_reply (req, body);
        omr_msg_add_raw (rep, "raw", 3);
        zmsg_t *out = zmsg_new ();
        zmsg_append (out, &who);
        out = omr_msg_encode (&rep, out);
        zmsg_send (&out, sock);
        omr_msg_destroy (&req);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&sock);
}

typedef struct {
    struct event_base *base;
    int calls;
    int status;
    char name[64];
    char id[64];
    size_t frames;
} result_t;

static void
on_reply (zmsg_t *reply, const omr_err_t *err, void *arg)
{
    result_t *r = arg;
    r->calls++;
    if (reply) {
        r->status = 200;
        r->frames = zmsg_size (reply);
        zframe_t *h = zmsg_first (reply);
        json_t *hdr = json_loadb ((const char *) zframe_data (h), zframe_size (h), 0, NULL);
        snprintf (r->id, sizeof r->id, "%s", json_string_value (json_object_get (hdr, "id")));
        json_decref (hdr);
        zmsg_destroy (&reply);
    }
    else {
        r->status = err->status;
        snprintf (r->name, sizeof r->name, "%s", err->name);
    }
    event_base_loopbreak (r->base);
}

static zmsg_t *
request (const char *op, const char *id)
{
    zmsg_t *m = zmsg_new ();
    char h[256];
    snprintf (h, sizeof h, "{\"v\":1,\"id\":\"%s\",\"op\":\"%s\"}", id, op);
    zmsg_addstr (m, h);
    zmsg_addstr (m, "{}");
    return m;
}

/* Run the loop until the callback fires or 5 s pass. */
static void
run (struct event_base *base)
{
    struct timeval tv = {5, 0};
    event_base_loopexit (base, &tv);
    event_base_dispatch (base);
}

static void
test_reply_timeout_and_failures (void)
{
    server_state_t st = {0};
    zactor_t *srv = zactor_new (server_actor, &st);
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", st.port);
    struct event_base *base = event_base_new ();
    rtr_pool_t *pool = rtr_pool_new (base);
    rtr_backend_t *be = rtr_pool_get (pool, ep, NULL);
    CHECK (rtr_pool_get (pool, ep, NULL) == be);
    CHECK_STR (rtr_backend_endpoint (be), ep);
    omr_err_t err = {0};

    result_t r = {.base = base};
    zmsg_t *m = request ("Echo.getIt", "id-1");
    CHECK_INT (rtr_backend_send (be, "id-1", &m, 2000, on_reply, &r, &err), 0);
    CHECK_INT (rtr_backend_inflight (be), 1);
    run (base);
    CHECK_INT (r.calls, 1);
    CHECK_INT (r.status, 200);
    CHECK_STR (r.id, "id-1");
    CHECK_INT (r.frames, 3);
    CHECK_INT (rtr_backend_inflight (be), 0);

    /* Several in flight at once are matched by id. */
    result_t many[5];
    for (int i = 0; i < 5; i++) {
        many[i] = (result_t) {.base = base};
        char id[16];
        snprintf (id, sizeof id, "m-%d", i);
        m = request ("Echo.x", id);
        rtr_backend_send (be, id, &m, 2000, on_reply, &many[i], &err);
    }
    for (int k = 0; k < 5 && rtr_pool_pending (pool) > 0; k++)
        run (base);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf (id, sizeof id, "m-%d", i);
        CHECK_STR (many[i].id, id);
    }

    /* No answer: the call's timer fires. */
    r = (result_t) {.base = base};
    m = request ("Never.answer", "id-2");
    int64_t t0 = omr_mono_ms ();
    rtr_backend_send (be, "id-2", &m, 300, on_reply, &r, &err);
    run (base);
    CHECK_INT (r.status, 504);
    CHECK (omr_mono_ms () - t0 < 2000);

    /* The server goes away while holding a call: failed at once with 503, marked down. */
    result_t hold = {.base = base};
    m = request ("Never.answer", "id-3");
    rtr_backend_send (be, "id-3", &m, 10000, on_reply, &hold, &err);
    r = (result_t) {.base = base};
    m = request ("Die.now", "id-4");
    t0 = omr_mono_ms ();
    rtr_backend_send (be, "id-4", &m, 10000, on_reply, &r, &err);
    while (hold.calls == 0 || r.calls == 0) {
        run (base);
        if (omr_mono_ms () - t0 > 5000)
            break;
    }
    CHECK_INT (hold.status, 503);
    CHECK_STR (hold.name, "ServiceUnavailable");
    CHECK_INT (r.status, 503);
    CHECK (omr_mono_ms () - t0 < 3000);
    CHECK (rtr_backend_down (be));

    /* Nobody listening: 502 (never delivered, safe to send elsewhere). */
    rtr_backend_t *nobody = rtr_pool_get (pool, "tcp://127.0.0.1:1", NULL);
    r = (result_t) {.base = base};
    m = request ("Echo.x", "id-5");
    rtr_backend_send (nobody, "id-5", &m, 10000, on_reply, &r, &err);
    run (base);
    CHECK_INT (r.status, 502);

    /* Destroying the pool fails what is left. */
    r = (result_t) {.base = base};
    rtr_backend_t *again = rtr_pool_get (pool, "tcp://127.0.0.1:1", NULL);
    m = request ("Echo.y", "id-6");
    rtr_backend_send (again, "id-6", &m, 10000, on_reply, &r, &err);
    rtr_pool_destroy (&pool);
    CHECK_INT (r.calls, 1);
    CHECK_INT (r.status, 503);
    event_base_free (base);
    zactor_destroy (&srv);
}

typedef struct {
    struct event_base *base;
    int calls, nservers;
    rtr_policy_t policy;
    char first[64];
    int status;
} lookup_t;

static void
on_lookup (rtr_service_t *svc, const omr_err_t *err, void *arg)
{
    lookup_t *l = arg;
    l->calls++;
    if (svc) {
        l->nservers = svc->nservers;
        l->policy = svc->policy;
        snprintf (l->first, sizeof l->first, "%s", svc->nservers ? svc->servers[0].id : "");
    }
    else
        l->status = err->status;
    event_base_loopbreak (l->base);
}

static void
test_directory (void)
{
    server_state_t st = {0};
    zactor_t *srv = zactor_new (server_actor, &st);
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", st.port);
    struct event_base *base = event_base_new ();
    rtr_pool_t *pool = rtr_pool_new (base);
    rtr_directory_t *dir = rtr_directory_new (pool, ep, NULL, 60000, 1000);
    lookup_t l = {.base = base};
    rtr_directory_lookup (dir, "IConfig", false, on_lookup, &l);
    CHECK_INT (l.calls, 0);             /* asked the registry */
    run (base);
    CHECK_INT (l.calls, 1);
    CHECK_INT (l.nservers, 1);          /* the https:// entry is not a ZeroMQ server */
    CHECK_STR (l.first, "A-0");
    CHECK_INT (l.policy, RTR_POLICY_ORDERED);
    /* Cached: answered before the call returns, without the registry. */
    rtr_directory_lookup (dir, "IConfig", false, on_lookup, &l);
    CHECK_INT (l.calls, 2);
    CHECK_INT (st.lookups, 1);
    /* Forced: asks again. */
    rtr_directory_lookup (dir, "IConfig", true, on_lookup, &l);
    run (base);
    CHECK_INT (l.calls, 3);
    CHECK_INT (st.lookups, 2);
    rtr_directory_destroy (&dir);
    rtr_pool_destroy (&pool);

    /* A registry nobody runs: the waiting lookup fails with ServiceUnavailable. */
    pool = rtr_pool_new (base);
    dir = rtr_directory_new (pool, "tcp://127.0.0.1:1", NULL, 1000, 1000);
    l = (lookup_t) {.base = base};
    rtr_directory_lookup (dir, "IConfig", false, on_lookup, &l);
    run (base);
    CHECK_INT (l.calls, 1);
    CHECK (l.status == 502 || l.status == 503 || l.status == 504);     /* 504 when a loaded host times out first */
    rtr_pool_destroy (&pool);
    rtr_directory_destroy (&dir);
    event_base_free (base);
    zactor_destroy (&srv);
}

int
main (void)
{
    omr_log_init ("", 0, 0, OMR_LOG_ERROR, "test_router_backend");
    zsys_handler_set (NULL);
    RUN (test_reply_timeout_and_failures);
    RUN (test_directory);
    return UNIT_DONE ();
}
