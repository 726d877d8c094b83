/* router: settings, start-up (identity through omr_server, TLS, listeners), the periodic
 * tick (connection deadlines, registry heartbeat, cache purge), SIGTERM drain and shutdown. */
#include "router.h"
#include "http.h"
#include "omr_log.h"
#include "omr_rpc.h"
#include "omr_util.h"
#include "tls.h"
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define TICK_MS 200

static int
get_ms (omr_config_t *cfg, const char *key, long long fallback, long long min, long long *out, omr_err_t *err)
{
    const char *v = omr_config_get (cfg, key);
    if (!v || !*v) {
        *out = fallback;
        return 0;
    }
    char *end;
    long long n = strtoll (v, &end, 10);
    if (*end || n < min)
        return omr_err_set (err, OMR_E_CONFIG, 500, "%s=%s: expected a whole number of at least %lld", key, v, min);
    *out = n;
    return 0;
}

int
rtr_settings_load (rtr_settings_t *set, omr_config_t *cfg, const char *omerodir, const char *id, omr_err_t *err)
{
    memset (set, 0, sizeof *set);
    const char *host = omr_config_get (cfg, "omero.router.host");
    snprintf (set->host, sizeof set->host, "%s", host && *host ? host : "0.0.0.0");
    set->ssl_port = omr_config_port (cfg, "omero.ports.ssl");
    if (set->ssl_port <= 0)
        return omr_err_set (err, OMR_E_CONFIG, 500, "omero.ports.prefix%s + omero.ports.ssl=%s is not a port number",
                            omr_config_get (cfg, "omero.ports.prefix") ? omr_config_get (cfg, "omero.ports.prefix") : "",
                            omr_config_get (cfg, "omero.ports.ssl") ? omr_config_get (cfg, "omero.ports.ssl") : "");
    set->insecure = omr_config_get_bool (cfg, "omero.router.insecure", false);
    if (set->insecure) {
        set->tcp_port = omr_config_port (cfg, "omero.ports.tcp");
        if (set->tcp_port <= 0 || set->tcp_port == set->ssl_port)
            return omr_err_set (err, OMR_E_CONFIG, 500, "omero.router.insecure=true needs omero.ports.tcp to be a "
                                "port other than the SSL one");
    }
    long long v = 0;
    struct { const char *key; long long def, min; long long *dst; } ints[] = {
        {"omero.router.timeout", 60000, 100, NULL},
        {"omero.router.max_header", 16384, 1024, NULL},
        {"omero.router.max_body", 268435456LL, 0, &set->max_body},
        {"omero.router.idle_timeout", 60000, 100, NULL},
        {"omero.router.header_timeout", 10000, 100, NULL},
        {"omero.router.min_rate", 16384, 1, &set->min_rate},
        {"omero.router.max_connections", 10000, 1, NULL},
        {"omero.router.drain_timeout", 10000, 0, NULL},
        {"omero.router.session_cache", 3000, 0, NULL},
        {"omero.router.lookup_cache", 1000, 0, NULL},
        {"omero.router.registry_timeout", 2000, 100, NULL},
    };
    int *targets[] = {&set->timeout_ms, &set->max_header, NULL, &set->idle_ms, &set->header_ms, NULL,
                      &set->max_conns, &set->drain_ms, &set->session_ttl_ms, &set->lookup_ttl_ms,
                      &set->registry_timeout_ms};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (get_ms (cfg, ints[i].key, ints[i].def, ints[i].min, &v, err) < 0)
            return -1;
        if (ints[i].dst)
            *ints[i].dst = v;
        else {
            if (v > 1000000000LL)
                return omr_err_set (err, OMR_E_CONFIG, 500, "%s=%lld is too large", ints[i].key, v);
            *targets[i] = (int) v;
        }
    }
    /* Every connection is a descriptor; keep some for logs, sockets to servers and the registry. */
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        int cap = (int) rl.rlim_cur - 256;
        if (cap < 16)
            cap = 16;
        if (set->max_conns > cap) {
            omr_warn ("omero.router.max_connections=%d exceeds what the open-file limit allows; using %d",
                      set->max_conns, cap);
            set->max_conns = cap;
        }
    }
    long cpus = sysconf (_SC_NPROCESSORS_ONLN);
    if (get_ms (cfg, "omero.router.threads", cpus < 1 ? 1 : cpus > 4 ? 4 : cpus, 1, &v, err) < 0)
        return -1;
    set->threads = v > 64 ? 64 : (int) v;
    const char *idem = omr_config_get (cfg, "omero.router.idempotent");
    snprintf (set->idempotent, sizeof set->idempotent, "%s", idem ? idem : "");
    const char *log = omr_config_get (cfg, "omero.router.access_log");
    if (log && *log)
        snprintf (set->access_log, sizeof set->access_log, "%s", log);
    else
        snprintf (set->access_log, sizeof set->access_log, "%s/var/log/%s-access.log", omerodir, id);
    return 0;
}

static void
on_heartbeat (zmsg_t *reply, const omr_err_t *err, void *arg)
{
    rtr_router_t *r = arg;
    if (!reply) {
        if (r->registered)
            omr_warn ("registry not answering: %s", err->msg);
        r->registered = false;
        return;
    }
    omr_msg_t *m = omr_msg_decode (&reply, NULL);
    omr_err_t e = {0};
    if (m && omr_msg_error (m, &e) < 0)
        omr_error ("registry refused the router's heartbeat: %s", e.msg);
    else if (m && !r->registered) {
        omr_info ("registered with the registry at %s", omr_server_registry (r->server));
        r->registered = true;
    }
    omr_msg_destroy (&m);
}

static void
heartbeat (rtr_router_t *r)
{
    char endpoint[300];
    snprintf (endpoint, sizeof endpoint, "https://%s:%d", r->set.host, r->set.ssl_port);
    double load = r->set.max_conns ? (double) rtr_http_connections (r->http) / r->set.max_conns : 0;
    json_t *b = json_pack ("{s:s,s:s,s:s,s:s,s:i,s:f,s:[]}", "id", omr_server_id (r->server), "node",
                           omr_server_node (r->server), "kind", "router", "endpoint", endpoint, "pid", (int) getpid (),
                           "load", load, "services");
    omr_err_t err = {0};
    if (rtr_directory_call (r->dir, "Registry.heartbeat", b, r->set.registry_timeout_ms < 900 ? r->set.registry_timeout_ms : 900,
                            on_heartbeat, r, &err) < 0 && r->registered) {
        omr_warn ("cannot send a heartbeat: %s", err.msg);
        r->registered = false;
    }
}

static void begin_drain (rtr_router_t *r);

static void
on_tick (evutil_socket_t fd, short what, void *arg)
{
    rtr_router_t *r = arg;
    rtr_http_tick (r->http);
    rtr_pool_poll (r->pool);
    int64_t now = omr_mono_ms ();
    if (!r->draining && r->index > 0 && atomic_load (r->stop))
        begin_drain (r);
    if (!r->draining) {
        /* Heartbeat (first loop) once a second, purge expired sessions every five. */
        r->ticks++;
        if (r->index == 0 && r->ticks % (1000 / TICK_MS) == 0)
            heartbeat (r);
        if (r->ticks % (5000 / TICK_MS) == 0)
            rtr_session_cache_purge (r->sessions, now);
    }
    else if (r->inflight == 0 || now >= r->drain_deadline) {
        if (r->inflight)
            omr_warn ("drain time over with %d request(s) unanswered", (int) r->inflight);
        event_base_loopexit (r->base, NULL);
    }
}

static void
begin_drain (rtr_router_t *r)
{
    r->draining = true;
    r->drain_deadline = omr_mono_ms () + r->set.drain_ms;
    rtr_http_stop_accepting (r->http);
}

static void
on_signal (evutil_socket_t sig, short what, void *arg)
{
    rtr_router_t *r = arg;
    if (r->draining)
        return;
    int inflight = r->inflight;
    for (int i = 0; i < r->npeers; i++)
        inflight += atomic_load (&r->peers[i]->inflight);
    omr_info ("signal %d: not accepting connections; draining %d request(s) (up to %d ms)", (int) sig, inflight,
              r->set.drain_ms);
    atomic_store (r->stop, 1);
    begin_drain (r);
}

/* The per-loop parts: event base, connections to servers, directory, sessions, listeners. */
static int
loop_init (rtr_router_t *r, omr_err_t *err)
{
    /* evhttp turns read and write interest on and off around every request; the change list
     * folds those into one epoll_ctl per descriptor per loop turn. */
    struct event_config *ecfg = event_config_new ();
    event_config_set_flag (ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST | EVENT_BASE_FLAG_NOLOCK);
    r->base = event_base_new_with_config (ecfg);
    event_config_free (ecfg);
    if (!r->base)
        r->base = event_base_new ();
    r->pool = rtr_pool_new (r->base);
    const char *keydir = omr_server_keydir (r->server);
    r->dir = rtr_directory_new (r->pool, omr_server_registry (r->server),
                                keydir && access (keydir, R_OK) == 0 ? keydir : NULL, r->set.lookup_ttl_ms,
                                r->set.registry_timeout_ms);
    if (!r->sessions)
        r->sessions = rtr_session_cache_new (r->set.session_ttl_ms, 100000);
    r->http = rtr_http_new (r, err);
    if (!r->http)
        return -1;
    r->tick = event_new (r->base, -1, EV_PERSIST, on_tick, r);
    struct timeval tv = {0, TICK_MS * 1000};
    event_add (r->tick, &tv);
    return 0;
}

static void
loop_fini (rtr_router_t *r)
{
    if (r->tick)
        event_free (r->tick);
    if (r->sigterm)
        event_free (r->sigterm);
    if (r->sigint)
        event_free (r->sigint);
    /* Calls first (their callbacks answer HTTP requests and may consult the directory), then
     * the directory, then the HTTP servers. */
    rtr_pool_destroy (&r->pool);
    rtr_directory_destroy (&r->dir);
    rtr_http_destroy (&r->http);
    if (r->index == 0)
        rtr_session_cache_destroy (&r->sessions);
    if (r->base)
        event_base_free (r->base);
    r->base = NULL;
}

rtr_router_t *
rtr_router_new (omr_err_t *err)
{
    rtr_router_t *r = calloc (1, sizeof *r);
    r->stop = calloc (1, sizeof (atomic_int));
    r->first = r;
    r->server = omr_server_new ("router", err);
    if (!r->server)
        goto fail;
    omr_config_t *cfg = omr_server_config (r->server);
    if (rtr_settings_load (&r->set, cfg, omr_server_omerodir (r->server), omr_server_id (r->server), err) < 0)
        goto fail;
    r->ssl = rtr_tls_ctx_new (cfg, omr_server_omerodir (r->server), err);
    if (!r->ssl)
        goto fail;
    if (!strcmp (r->set.access_log, "server"))
        r->access_to_server_log = true;
    else if (strcmp (r->set.access_log, "off") != 0) {
        char dir[4096];
        snprintf (dir, sizeof dir, "%s", r->set.access_log);
        char *slash = strrchr (dir, '/');
        if (slash && slash != dir) {
            *slash = 0;
            omr_mkdirs (dir, 0755, NULL);
        }
        r->access = fopen (r->set.access_log, "a");
        if (!r->access) {
            omr_err_set (err, OMR_E_CONFIG, 500, "cannot open the access log %s (omero.router.access_log): %m",
                         r->set.access_log);
            goto fail;
        }
        setvbuf (r->access, NULL, _IOFBF, 1 << 16);
        r->access_on = true;
        r->access_max = omr_config_get_int (cfg, "omero.logging.logsize", 5000000);
        r->access_keep = (int) omr_config_get_int (cfg, "omero.logging.lognum", 9);
    }
    pthread_mutex_init (&r->access_lock, NULL);
    signal (SIGPIPE, SIG_IGN);
    zsys_handler_set (NULL);
    zsys_init ();       /* once, before several loops create sockets at the same time */
    if (loop_init (r, err) < 0)
        goto fail;
    r->peers = calloc ((size_t) r->set.threads, sizeof (rtr_router_t *));
    for (int i = 1; i < r->set.threads; i++) {
        rtr_router_t *p = calloc (1, sizeof *p);
        p->index = i;
        p->first = r;
        p->stop = r->stop;
        p->server = r->server;
        p->set = r->set;
        p->ssl = r->ssl;
        p->access_to_server_log = r->access_to_server_log;
        p->sessions = r->sessions;      /* shared, so invalidations reach every loop */
        r->peers[r->npeers++] = p;
        if (loop_init (p, err) < 0)
            goto fail;
    }
    return r;
fail:
    rtr_router_destroy (&r);
    return NULL;
}

static void *
peer_main (void *arg)
{
    rtr_router_t *p = arg;
    event_base_dispatch (p->base);
    return NULL;
}

int
rtr_router_run (rtr_router_t *r, omr_err_t *err)
{
    /* Signals go to this thread only: the other loops learn of SIGTERM through r->stop. */
    sigset_t block, old;
    sigemptyset (&block);
    sigaddset (&block, SIGTERM);
    sigaddset (&block, SIGINT);
    pthread_sigmask (SIG_BLOCK, &block, &old);
    for (int i = 0; i < r->npeers; i++)
        pthread_create (&r->peers[i]->thread, NULL, peer_main, r->peers[i]);
    pthread_sigmask (SIG_SETMASK, &old, NULL);
    r->sigterm = evsignal_new (r->base, SIGTERM, on_signal, r);
    r->sigint = evsignal_new (r->base, SIGINT, on_signal, r);
    event_add (r->sigterm, NULL);
    event_add (r->sigint, NULL);
    omr_info ("%s ready with %d event loop(s) (registry %s)", omr_server_id (r->server), r->npeers + 1,
              omr_server_registry (r->server));
    heartbeat (r);
    event_base_dispatch (r->base);
    for (int i = 0; i < r->npeers; i++)
        pthread_join (r->peers[i]->thread, NULL);
    /* Leave the directory at once rather than waiting for the registry to time us out. */
    const char *keydir = omr_server_keydir (r->server);
    omr_rpc_t *reg = omr_rpc_new (omr_server_registry (r->server), keydir && access (keydir, R_OK) == 0 ? keydir : NULL,
                                  NULL);
    if (reg) {
        json_t *ok = omr_rpc_call_json (reg, "Registry.unregister",
                                        json_pack ("{s:s,s:i}", "id", omr_server_id (r->server), "pid", (int) getpid ()),
                                        500, NULL);
        json_decref (ok);
        omr_rpc_destroy (&reg);
    }
    omr_info ("%s stopped", omr_server_id (r->server));
    return 0;
}

void
rtr_router_destroy (rtr_router_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtr_router_t *r = *self_p;
    for (int i = 0; i < r->npeers; i++) {
        loop_fini (r->peers[i]);
        free (r->peers[i]);
    }
    free (r->peers);
    loop_fini (r);
    if (r->access)
        fclose (r->access);
    pthread_mutex_destroy (&r->access_lock);
    if (r->ssl)
        SSL_CTX_free (r->ssl);
    omr_server_destroy (&r->server);
    free (r->stop);
    free (r);
    *self_p = NULL;
}
