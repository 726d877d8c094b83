/* http: evhttp servers with a table of connections. evhttp owns each connection; the router
 * holds an extra reference on its bufferevent to watch its input (a counter callback on the
 * input buffer), to shut down slow or idle connections, and to notice when evhttp let go of it. */
#include "http.h"
#include "dispatch.h"
#include "omr_log.h"
#include "omr_util.h"
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { CONN_READING, CONN_PROCESSING, CONN_IDLE };

struct rtr_conn_t {
    rtr_http_t *http;
    struct bufferevent *bev;
    struct evbuffer_cb_entry *watch;
    int state;
    int64_t since;              /* start of the current state (monotonic ms) */
    uint64_t bytes;             /* bytes read in the current READING state */
    int refs;                   /* the table's + each request's */
    bool gone;                  /* evhttp released it */
    bool shut;                  /* we shut it down */
    bool nodelay;               /* TCP_NODELAY set */
};

struct rtr_http_t {
    rtr_router_t *r;
    struct evhttp *tls, *plain;
    struct evconnlistener *listeners[2];
    struct evhttp_bound_socket *bound[2];
    struct evhttp *owner[2];
    int nlisteners;
    bool paused;                /* listeners disabled at max_connections */
    bool stopped;
    zhashx_t *conns;            /* bufferevent pointer -> rtr_conn_t */
    int nconns;
};

static size_t
ptr_hash (const void *key)
{
    uintptr_t p = (uintptr_t) key;
    return (size_t) (p >> 4) * 2654435761u;
}

static int
ptr_cmp (const void *a, const void *b)
{
    return a < b ? -1 : a > b;
}

static void
conn_unref (rtr_conn_t *c)
{
    if (--c->refs == 0)
        free (c);
}

static void
on_input (struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    rtr_conn_t *c = arg;
    if (info->n_added == 0)
        return;
    if (c->state == CONN_IDLE) {
        c->state = CONN_READING;
        c->since = omr_mono_ms ();
        c->bytes = 0;
    }
    c->bytes += info->n_added;
}

static void
set_listening (rtr_http_t *self)
{
    /* Each loop takes its share of omero.router.max_connections. */
    int cap = self->r->set.max_conns / (self->r->set.threads > 0 ? self->r->set.threads : 1);
    bool want = !self->stopped && self->nconns < (cap > 0 ? cap : 1);
    if (want == !self->paused)
        return;
    for (int i = 0; i < self->nlisteners; i++) {
        if (want)
            evconnlistener_enable (self->listeners[i]);
        else
            evconnlistener_disable (self->listeners[i]);
    }
    if (!want && !self->stopped)
        omr_warn ("%d connections open (omero.router.max_connections): not accepting more for now", self->nconns);
    self->paused = !want;
}

static struct bufferevent *
track (rtr_http_t *self, struct bufferevent *bev)
{
    rtr_conn_t *c = calloc (1, sizeof *c);
    c->http = self;
    c->bev = bev;
    c->state = CONN_READING;        /* a new connection must send its request in time */
    c->since = omr_mono_ms ();
    c->refs = 1;
    bufferevent_incref (bev);
    c->watch = evbuffer_add_cb (bufferevent_get_input (bev), on_input, c);
    zhashx_insert (self->conns, bev, c);
    self->nconns++;
    set_listening (self);
    return bev;
}

static struct bufferevent *
bevcb_tls (struct event_base *base, void *arg)
{
    rtr_http_t *self = arg;
    SSL *ssl = SSL_new (self->r->ssl);
    struct bufferevent *bev = bufferevent_openssl_socket_new (base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                              BEV_OPT_CLOSE_ON_FREE);
    bufferevent_openssl_set_allow_dirty_shutdown (bev, 1);
    return track (self, bev);
}

static struct bufferevent *
bevcb_plain (struct event_base *base, void *arg)
{
    return track (arg, bufferevent_socket_new (base, -1, BEV_OPT_CLOSE_ON_FREE));
}

static void
on_request (struct evhttp_request *req, void *arg)
{
    rtr_http_t *self = arg;
    rtr_dispatch_request (self->r, req);
}

rtr_conn_t *
rtr_http_conn_acquire (rtr_http_t *self, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection (req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent (evcon) : NULL;
    rtr_conn_t *c = bev ? zhashx_lookup (self->conns, bev) : NULL;
    if (!c)
        return NULL;
    c->state = CONN_PROCESSING;
    c->since = omr_mono_ms ();
    c->refs++;
    if (!c->nodelay) {
        /* Responses leave in several writes (TLS records); Nagle would hold the last one back
         * until the client's delayed ACK, 40 ms per request. */
        int one = 1;
        evutil_socket_t fd = bufferevent_getfd (bev);
        if (fd >= 0)
            setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->nodelay = true;
    }
    return c;
}

void
rtr_http_conn_release (rtr_http_t *self, rtr_conn_t *c)
{
    if (!c)
        return;
    if (!c->gone) {
        c->state = CONN_IDLE;
        c->since = omr_mono_ms ();
        /* Bytes of a pipelined next request may already be here. */
        if (evbuffer_get_length (bufferevent_get_input (c->bev)) > 0) {
            c->state = CONN_READING;
            c->bytes = evbuffer_get_length (bufferevent_get_input (c->bev));
        }
    }
    conn_unref (c);
}

static void
conn_shutdown (rtr_conn_t *c)
{
    evutil_socket_t fd = bufferevent_getfd (c->bev);
    if (fd >= 0 && !c->shut) {
        /* evhttp sees end-of-file and frees the connection itself. */
        shutdown (fd, SHUT_RDWR);
        c->shut = true;
    }
}

void
rtr_http_tick (rtr_http_t *self)
{
    rtr_settings_t *set = &self->r->set;
    int64_t now = omr_mono_ms ();
    zlist_t *gone = zlist_new ();
    for (rtr_conn_t *c = zhashx_first (self->conns); c; c = zhashx_next (self->conns)) {
        bufferevent_event_cb ecb = NULL;
        bufferevent_getcb (c->bev, NULL, NULL, &ecb, NULL);
        if (bufferevent_getfd (c->bev) < 0 || !ecb) {
            zlist_append (gone, c);
            continue;
        }
        int64_t age = now - c->since;
        if (c->state == CONN_READING) {
            int64_t allowed = set->header_ms + (int64_t) (c->bytes * 1000 / (uint64_t) set->min_rate);
            if (age > allowed) {
                if (!c->shut)
                    omr_info ("closing a connection that sent %llu bytes in %lld ms (slow client; "
                              "omero.router.header_timeout / min_rate)", (unsigned long long) c->bytes,
                              (long long) age);
                conn_shutdown (c);
            }
        }
        else if (c->state == CONN_IDLE && (age > set->idle_ms || self->stopped))
            conn_shutdown (c);
    }
    for (rtr_conn_t *c = zlist_first (gone); c; c = zlist_next (gone)) {
        zhashx_delete (self->conns, c->bev);
        evbuffer_remove_cb_entry (bufferevent_get_input (c->bev), c->watch);
        c->gone = true;
        bufferevent_decref (c->bev);
        self->nconns--;
        conn_unref (c);
    }
    zlist_destroy (&gone);
    set_listening (self);
    rtr_router_t *first = self->r->first ? self->r->first : self->r;
    if (first->access_on) {
        pthread_mutex_lock (&first->access_lock);
        if (first->access)
            fflush (first->access);
        pthread_mutex_unlock (&first->access_lock);
    }
}

int
rtr_http_connections (rtr_http_t *self)
{
    return self->nconns;
}

static struct evhttp *
new_server (rtr_http_t *self, bool tls, int port, omr_err_t *err)
{
    rtr_settings_t *set = &self->r->set;
    struct evhttp *h = evhttp_new (self->r->base);
    evhttp_set_bevcb (h, tls ? bevcb_tls : bevcb_plain, self);
    evhttp_set_gencb (h, on_request, self);
    /* evhttp answers a head over its limit with a bare 400; give it room so that dispatch can
     * answer 431 for heads over omero.router.max_header, keeping evhttp's limit as a hard cap. */
    evhttp_set_max_headers_size (h, set->max_header * 4 > 65536 ? set->max_header * 4 : 65536);
    evhttp_set_max_body_size (h, set->max_body);
    struct timeval tv = {set->timeout_ms / 1000 + 10, 0};
    evhttp_set_timeout_tv (h, &tv);
    evhttp_set_allowed_methods (h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT
                                       | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_flags (h, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_default_content_type (h, "application/json");
    /* Our own listener for a deep accept queue: 500 clients connecting at once must not wait
     * for SYN retransmissions behind evhttp's default backlog of 128. Later loops listen on a
     * duplicate of the first loop's socket (not SO_REUSEPORT, which would let another router
     * of the same user share the port silently). */
    struct evconnlistener *lev = NULL;
    rtr_http_t *first = self->r->first && self->r->first != self->r ? self->r->first->http : NULL;
    if (first) {
        int idx = tls ? 0 : 1;
        evutil_socket_t fd = idx < first->nlisteners ? dup (evconnlistener_get_fd (first->listeners[idx])) : -1;
        if (fd >= 0) {
            evutil_make_socket_nonblocking (fd);
            evutil_make_socket_closeonexec (fd);
            lev = evconnlistener_new (self->r->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, -1, fd);
        }
    }
    else {
        struct evutil_addrinfo hints = {0}, *ai = NULL;
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = EVUTIL_AI_PASSIVE;
        char portstr[16];
        snprintf (portstr, sizeof portstr, "%d", port);
        if (evutil_getaddrinfo (set->host, portstr, &hints, &ai) == 0 && ai) {
            lev = evconnlistener_new_bind (self->r->base, NULL, NULL,
                                           LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 4096,
                                           ai->ai_addr, (int) ai->ai_addrlen);
            evutil_freeaddrinfo (ai);
        }
    }
    struct evhttp_bound_socket *bound = lev ? evhttp_bind_listener (h, lev) : NULL;
    self->listeners[self->nlisteners] = evhttp_bound_socket_get_listener (bound);
    self->bound[self->nlisteners] = bound;
    self->owner[self->nlisteners++] = h;
    if (self->r->index == 0)
        omr_info ("listening on %s://%s:%d", tls ? "https" : "http", set->host, port);
    return h;
}

rtr_http_t *
rtr_http_new (rtr_router_t *r, omr_err_t *err)
{
    rtr_http_t *self = calloc (1, sizeof *self);
    self->r = r;
    self->conns = zhashx_new ();
    zhashx_set_key_hasher (self->conns, ptr_hash);
    zhashx_set_key_comparator (self->conns, ptr_cmp);
    zhashx_set_key_duplicator (self->conns, NULL);
    zhashx_set_key_destructor (self->conns, NULL);
    self->tls = new_server (self, true, r->set.ssl_port, err);
    if (!self->tls) {
        rtr_http_destroy (&self);
        return NULL;
    }
    if (r->set.insecure) {
        self->plain = new_server (self, false, r->set.tcp_port, err);
        if (!self->plain) {
            rtr_http_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
rtr_http_stop_accepting (rtr_http_t *self)
{
    self->stopped = true;
    /* Close the listening sockets so that new clients are refused at once (and, with several
     * loops on one port, are not queued to a loop that will never accept them). */
    for (int i = 0; i < self->nlisteners; i++)
        evhttp_del_accept_socket (self->owner[i], self->bound[i]);
    self->nlisteners = 0;
    rtr_http_tick (self);
}

void
rtr_http_destroy (rtr_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtr_http_t *self = *self_p;
    if (self->tls)
        evhttp_free (self->tls);
    if (self->plain)
        evhttp_free (self->plain);
    for (rtr_conn_t *c = zhashx_first (self->conns); c; c = zhashx_next (self->conns)) {
        evbuffer_remove_cb_entry (bufferevent_get_input (c->bev), c->watch);
        c->gone = true;
        bufferevent_decref (c->bev);
        conn_unref (c);
    }
    zhashx_destroy (&self->conns);
    free (self);
    *self_p = NULL;
}

/* Rename log -> log.1 -> … -> log.N and reopen (lock held), as omr_log rotates the server log. */
static void
rotate_access (rtr_router_t *first)
{
    const char *path = first->set.access_log;
    fclose (first->access);
    char from[4200], to[4200];
    for (int i = first->access_keep - 1; i >= 1; i--) {
        snprintf (from, sizeof from, "%s.%d", path, i);
        snprintf (to, sizeof to, "%s.%d", path, i + 1);
        rename (from, to);
    }
    if (first->access_keep >= 1) {
        snprintf (to, sizeof to, "%s.1", path);
        rename (path, to);
    }
    else
        unlink (path);
    first->access = fopen (path, "a");
    if (first->access)
        setvbuf (first->access, NULL, _IOFBF, 1 << 16);
    else
        omr_error ("cannot reopen the access log %s: %m; access logging stops", path);
}

void
rtr_http_access (rtr_router_t *r, const char *ip, const char *method, const char *path, int status, size_t bytes,
                 double ms, const char *server)
{
    rtr_router_t *first = r->first ? r->first : r;
    if (first->access_to_server_log) {
        omr_info ("%s %s %s %d %zu %.1fms %s", ip, method, path, status, bytes, ms, server && *server ? server : "-");
        return;
    }
    if (!first->access_on)
        return;
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r (&ts.tv_sec, &tm);
    char when[64];
    strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    pthread_mutex_lock (&first->access_lock);
    if (first->access) {
        fprintf (first->access, "%s.%03ldZ %s %s %s %d %zu %.1fms %s %s\n", when, ts.tv_nsec / 1000000, ip, method,
                 path, status, bytes, ms, omr_server_id (first->server), server && *server ? server : "-");
        if (first->access_max > 0 && ftell (first->access) > first->access_max)
            rotate_access (first);
    }
    pthread_mutex_unlock (&first->access_lock);
}
