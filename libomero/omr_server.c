/* omr_server: ROUTER front socket, a least-recently-used broker to worker threads
 * (ZeroMQ guide's load-balancing pattern, so one slow request never queues others behind it),
 * and the registry heartbeat. */
#include "omr_server.h"
#include "omr_curve.h"
#include "omr_log.h"
#include "omr_rpc.h"
#include "omr_util.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define HEARTBEAT_MS 1000

typedef struct {
    char *op;           /* exact op, or "Service.*" */
    omr_handler_fn fn;
    void *arg;
} route_t;

typedef struct {
    omr_server_t *server;
    int index;
    pthread_t thread;
} worker_t;

struct omr_server_t {
    char *kind, *id, *node, *omerodir, *registry, *host, *keydir;
    char endpoint[256];
    omr_config_t *config;
    route_t *routes;
    int nroutes;
    int nworkers;
    worker_t *workers;
    void (*worker_start) (omr_server_t *, int, void *);
    void *worker_start_arg;
    bool curve;                 /* front socket requires the grid's CURVE keys */
    atomic_int stopping;
    atomic_int busy;
    double load;
};

static char *
env_or (const char *name, const char *fallback)
{
    const char *v = getenv (name);
    return strdup (v && *v ? v : fallback);
}

omr_server_t *
omr_server_new (const char *kind, omr_err_t *err)
{
    omr_server_t *self = calloc (1, sizeof *self);
    self->kind = strdup (kind);
    self->omerodir = omr_omerodir (err);
    if (!self->omerodir) {
        omr_server_destroy (&self);
        return NULL;
    }
    self->config = omr_config_load_omerodir (self->omerodir, err);
    if (!self->config) {
        omr_server_destroy (&self);
        return NULL;
    }
    self->id = env_or ("OMERO_SERVER_ID", kind);
    self->node = env_or ("OMERO_NODE", "master");
    self->host = env_or ("OMERO_NODE_HOST", "127.0.0.1");
    char reg[256], kd[4096];
    snprintf (reg, sizeof reg, "tcp://%s:%d", omr_config_get (self->config, "omero.master.host"),
              omr_config_port (self->config, "omero.ports.registry"));
    self->registry = env_or ("OMERO_REGISTRY", reg);
    snprintf (kd, sizeof kd, "%s/etc/grid/keys", self->omerodir);
    self->keydir = env_or ("OMERO_KEYDIR", kd);
    self->nworkers = (int) omr_config_get_int (self->config, "omero.threads.min_threads", 5);
    if (self->nworkers < 1)
        self->nworkers = 1;
    const char *logfile = getenv ("OMERO_LOGFILE");
    omr_log_init (logfile ? logfile : "", omr_config_get_int (self->config, "omero.logging.logsize", 5000000),
                  (int) omr_config_get_int (self->config, "omero.logging.lognum", 9),
                  omr_log_level_parse (omr_config_get (self->config, "omero.logging.level")), self->id);
    return self;
}

void
omr_server_destroy (omr_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    omr_server_t *self = *self_p;
    for (int i = 0; i < self->nroutes; i++)
        free (self->routes[i].op);
    free (self->routes);
    free (self->workers);
    omr_config_destroy (&self->config);
    free (self->kind);
    free (self->id);
    free (self->node);
    free (self->omerodir);
    free (self->registry);
    free (self->host);
    free (self->keydir);
    free (self);
    *self_p = NULL;
}

void
omr_server_on (omr_server_t *self, const char *op, omr_handler_fn fn, void *arg)
{
    self->routes = realloc (self->routes, (self->nroutes + 1) * sizeof (route_t));
    self->routes[self->nroutes++] = (route_t) {strdup (op), fn, arg};
}

void
omr_server_set_workers (omr_server_t *self, int n)
{
    self->nworkers = n > 0 ? n : 1;
}

void
omr_server_on_worker_start (omr_server_t *self, void (*fn) (omr_server_t *, int, void *), void *arg)
{
    self->worker_start = fn;
    self->worker_start_arg = arg;
}

void
omr_server_stop (omr_server_t *self)
{
    atomic_store (&self->stopping, 1);
}

const char *omr_server_id (omr_server_t *self) { return self->id; }
const char *omr_server_kind (omr_server_t *self) { return self->kind; }
const char *omr_server_node (omr_server_t *self) { return self->node; }
const char *omr_server_omerodir (omr_server_t *self) { return self->omerodir; }
const char *omr_server_endpoint (omr_server_t *self) { return self->endpoint; }
const char *omr_server_registry (omr_server_t *self) { return self->registry; }
const char *omr_server_keydir (omr_server_t *self) { return self->keydir; }
omr_config_t *omr_server_config (omr_server_t *self) { return self->config; }

void
omr_call_add_raw (omr_call_t *call, const void *data, size_t len)
{
    call->raw_out = realloc (call->raw_out, (call->nraw_out + 1) * sizeof (zframe_t *));
    call->raw_out[call->nraw_out++] = zframe_new (data, len);
}

static const route_t *
find_route (omr_server_t *self, const char *op)
{
    for (int i = 0; i < self->nroutes; i++)
        if (strcmp (self->routes[i].op, op) == 0)
            return &self->routes[i];
    const char *dot = strchr (op, '.');
    size_t svc = dot ? (size_t) (dot - op) : strlen (op);
    for (int i = 0; i < self->nroutes; i++) {
        const char *r = self->routes[i].op;
        size_t n = strlen (r);
        if (n >= 2 && strcmp (r + n - 2, ".*") == 0 && n - 2 == svc && strncmp (r, op, svc) == 0)
            return &self->routes[i];
    }
    return NULL;
}

/* Serve one decoded request; always returns a reply message. */
static omr_msg_t *
serve (omr_server_t *self, int worker, omr_msg_t *req)
{
    omr_err_t err = {0};
    int64_t deadline = omr_msg_deadline (req);
    if (deadline > 0 && omr_now_ms () > deadline) {
        omr_err_set (&err, OMR_E_UNAVAIL, 504, "deadline passed before %s could start", omr_msg_op (req));
        return omr_msg_new_error (req, &err);
    }
    const route_t *r = find_route (self, omr_msg_op (req));
    if (!r) {
        omr_err_set (&err, OMR_E_API, 404, "%s has no operation %s", self->id, omr_msg_op (req));
        return omr_msg_new_error (req, &err);
    }
    omr_call_t call = {.server = self, .req = req, .worker = worker};
    omr_msg_t *rep;
    if (r->fn (&call, &err, r->arg) < 0) {
        if (!err.name[0])
            omr_err_set (&err, OMR_E_INTERNAL, 500, "%s failed", omr_msg_op (req));
        if (err.status >= 500)
            omr_error ("%s: %s: %s", omr_msg_op (req), err.name, err.msg);
        json_decref (call.reply);
        rep = omr_msg_new_error (req, &err);
        for (size_t i = 0; i < call.nraw_out; i++)
            zframe_destroy (&call.raw_out[i]);
    }
    else {
        rep = omr_msg_new_reply (req, call.reply);
        for (size_t i = 0; i < call.nraw_out; i++)
            omr_msg_add_frame (rep, call.raw_out[i]);
    }
    free (call.raw_out);
    return rep;
}

static void *
worker_main (void *arg)
{
    worker_t *w = arg;
    omr_server_t *self = w->server;
    if (self->worker_start)
        self->worker_start (self, w->index, self->worker_start_arg);
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    zsock_set_linger (sock, 1000);
    zsock_set_rcvtimeo (sock, 200);
    zsock_connect (sock, "inproc://omr-workers-%p", (void *) self);
    zstr_send (sock, "READY");
    while (true) {
        zmsg_t *m = zmsg_recv (sock);
        if (!m) {
            if (atomic_load (&self->stopping) == 2)
                break;
            continue;
        }
        zframe_t *client = zmsg_pop (m);
        if (!client || zframe_streq (client, "STOP")) {
            zframe_destroy (&client);
            zmsg_destroy (&m);
            break;
        }
        atomic_fetch_add (&self->busy, 1);
        omr_err_t err = {0};
        omr_msg_t *req = omr_msg_decode (&m, &err);
        omr_msg_t *rep = req ? serve (self, w->index, req) : omr_msg_new_error (NULL, &err);
        omr_msg_destroy (&req);
        zmsg_t *out = zmsg_new ();
        zmsg_append (out, &client);
        out = omr_msg_encode (&rep, out);
        zmsg_send (&out, sock);
        atomic_fetch_sub (&self->busy, 1);
    }
    zsock_destroy (&sock);
    return NULL;
}

static volatile sig_atomic_t got_signal;
static void
on_signal (int sig)
{
    got_signal = sig;
}

static json_t *
heartbeat_body (omr_server_t *self)
{
    json_t *svcs = json_array ();
    for (int i = 0; i < self->nroutes; i++) {
        char svc[128];
        snprintf (svc, sizeof svc, "%s", self->routes[i].op);
        char *dot = strchr (svc, '.');
        if (dot)
            *dot = 0;
        int seen = 0;
        size_t j;
        json_t *v;
        json_array_foreach (svcs, j, v) if (strcmp (json_string_value (v), svc) == 0) seen = 1;
        if (!seen)
            json_array_append_new (svcs, json_string (svc));
    }
    return json_pack ("{s:s,s:s,s:s,s:s,s:i,s:f,s:o,s:b}", "id", self->id, "node", self->node, "kind", self->kind,
                      "endpoint", self->endpoint, "pid", (int) getpid (), "load", self->load, "services", svcs,
                      "curve", self->curve);
}

/* The heartbeat thread: registers, reports load every second, unregisters at the end. */
static void *
heartbeat_main (void *arg)
{
    omr_server_t *self = arg;
    omr_rpc_t *reg = omr_rpc_new (self->registry, access (self->keydir, R_OK) == 0 ? self->keydir : NULL, NULL);
    int registered = 0;
    while (reg && !got_signal && !atomic_load (&self->stopping)) {
        omr_err_t herr = {0};
        double busy = atomic_load (&self->busy);
        self->load = 0.7 * self->load + 0.3 * (busy / self->nworkers);
        json_t *ok = omr_rpc_call_json (reg, "Registry.heartbeat", heartbeat_body (self), 1000, &herr);
        if (ok && !registered) {
            omr_info ("registered with the registry at %s", self->registry);
            registered = 1;
        }
        else if (!ok && herr.status == 409)
            omr_error ("registry refused %s: %s", self->id, herr.msg);
        else if (!ok && registered) {
            omr_warn ("registry at %s not answering: %s", self->registry, herr.msg);
            registered = 0;
        }
        json_decref (ok);
        for (int i = 0; i < HEARTBEAT_MS / 50 && !got_signal && !atomic_load (&self->stopping); i++)
            usleep (50000);
    }
    if (reg) {
        json_t *ok = omr_rpc_call_json (reg, "Registry.unregister",
                                        json_pack ("{s:s,s:i}", "id", self->id, "pid", (int) getpid ()), 500, NULL);
        json_decref (ok);
    }
    omr_rpc_destroy (&reg);
    return NULL;
}

int
omr_server_run (omr_server_t *self, omr_err_t *err)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
    zsys_handler_set (NULL);

    zsock_t *front = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (front, 1000);
    zsock_set_router_mandatory (front, 0);
    zsock_set_rcvhwm (front, 100000);
    zsock_set_sndhwm (front, 100000);
    /* With the grid's keys present only grid members may call: the caller context a request
     * carries (user, groups, admin) is trusted, so nobody else may send one. */
    zactor_t *auth = NULL;
    char secret[4200];
    snprintf (secret, sizeof secret, "%s/registry.key_secret", self->keydir);
    if (omr_config_get_bool (self->config, "omero.grid.curve", true) && access (secret, R_OK) == 0) {
        if (omr_curve_server (front, self->keydir, &auth, err) < 0) {
            zsock_destroy (&front);
            return -1;
        }
        self->curve = true;
    }
    const char *port = omr_config_get_set (self->config, "omero.server.port");
    int bound = zsock_bind (front, "tcp://%s:%s", self->host, port && *port ? port : "*");
    if (bound < 0) {
        zsock_destroy (&front);
        zactor_destroy (&auth);
        return omr_err_set (err, OMR_E_RESOURCE, 500, "%s cannot bind tcp://%s:%s: %s", self->id, self->host,
                            port && *port ? port : "*", zmq_strerror (zmq_errno ()));
    }
    snprintf (self->endpoint, sizeof self->endpoint, "tcp://%s:%d", self->host, bound);
    zsock_t *back = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (back, 0);
    zsock_bind (back, "inproc://omr-workers-%p", (void *) self);

    self->workers = calloc (self->nworkers, sizeof (worker_t));
    for (int i = 0; i < self->nworkers; i++) {
        self->workers[i] = (worker_t) {self, i, 0};
        pthread_create (&self->workers[i].thread, NULL, worker_main, &self->workers[i]);
    }
    omr_info ("%s (%s) serving on %s with %d workers", self->id, self->kind, self->endpoint, self->nworkers);

    /* Heartbeats run on a thread of their own: a slow or absent registry never delays requests. */
    pthread_t hb;
    pthread_create (&hb, NULL, heartbeat_main, self);
    zlist_t *idle = zlist_new ();       /* zframe_t identities of idle workers */
    zpoller_t *poller = zpoller_new (back, front, NULL);
    int inflight = 0;
    while (!got_signal && !atomic_load (&self->stopping)) {
        /* Only take client requests when a worker is idle (back-pressure stays in ZeroMQ). */
        zsock_t *which;
        if (zlist_size (idle) > 0)
            which = zpoller_wait (poller, 100);
        else {
            zpoller_t *bp = zpoller_new (back, NULL);
            which = zpoller_wait (bp, 100);
            zpoller_destroy (&bp);
        }
        if (which == back) {
            zmsg_t *m = zmsg_recv (back);
            if (!m)
                continue;
            zframe_t *wid = zmsg_pop (m);
            zlist_append (idle, wid);
            zframe_t *first = zmsg_first (m);
            if (first && zframe_streq (first, "READY"))
                zmsg_destroy (&m);
            else {
                inflight--;
                zmsg_send (&m, front);
            }
        }
        else if (which == front) {
            zmsg_t *m = zmsg_recv (front);
            if (!m)
                continue;
            zframe_t *wid = zlist_pop (idle);
            zmsg_prepend (m, &wid);
            zmsg_send (&m, back);
            inflight++;
        }
    }
    if (got_signal)
        omr_info ("signal %d: draining %d request(s) and stopping", (int) got_signal, inflight);
    /* Graceful drain: stop taking requests, let in-flight ones finish (bounded). */
    int64_t drain_end = omr_mono_ms () + 5000;
    while (inflight > 0 && omr_mono_ms () < drain_end) {
        zpoller_t *bp = zpoller_new (back, NULL);
        zsock_t *w = zpoller_wait (bp, 100);
        zpoller_destroy (&bp);
        if (w == back) {
            zmsg_t *m = zmsg_recv (back);
            zframe_t *wid = zmsg_pop (m);
            zframe_destroy (&wid);
            zframe_t *first = zmsg_first (m);
            if (first && zframe_streq (first, "READY"))
                zmsg_destroy (&m);
            else {
                inflight--;
                zmsg_send (&m, front);
            }
        }
    }
    atomic_store (&self->stopping, 2);
    for (int i = 0; i < self->nworkers; i++)
        pthread_join (self->workers[i].thread, NULL);
    pthread_join (hb, NULL);
    zpoller_destroy (&poller);
    zframe_t *f;
    while ((f = zlist_pop (idle)))
        zframe_destroy (&f);
    zlist_destroy (&idle);
    zsock_destroy (&back);
    zsock_destroy (&front);
    zactor_destroy (&auth);
    omr_info ("%s stopped", self->id);
    return 0;
}
