/* directory: a CZMQ hash of services with waiters queued while the registry is asked. */
#include "directory.h"
#include "omr_log.h"
#include "omr_msg.h"
#include "omr_util.h"
#include <string.h>
#include <unistd.h>

#define MAX_SERVICES 1024

typedef struct {
    rtr_lookup_fn fn;
    void *arg;
} waiter_t;

struct rtr_directory_t {
    rtr_pool_t *pool;
    char *registry, *keydir;
    int64_t ttl;
    int timeout;
    zhashx_t *services;     /* name -> rtr_service_t */
    unsigned next_id;
};

typedef struct {
    rtr_directory_t *dir;
    char *name;
} fetch_t;

static void
service_free (void **item)
{
    rtr_service_t *s = *item;
    if (!s)
        return;
    zlist_t *w = s->waiters;
    omr_err_t err = {0};
    omr_err_set (&err, OMR_E_UNAVAIL, 503, "router stopping");
    waiter_t *x;
    while (w && (x = zlist_pop (w))) {
        x->fn (NULL, &err, x->arg);
        free (x);
    }
    zlist_destroy (&w);
    free (s->servers);
    free (s->name);
    free (s);
    *item = NULL;
}

const char *
rtr_directory_keydir (rtr_directory_t *self)
{
    return self->keydir;
}

rtr_directory_t *
rtr_directory_new (rtr_pool_t *pool, const char *registry, const char *keydir, int64_t ttl_ms, int timeout_ms)
{
    rtr_directory_t *self = calloc (1, sizeof *self);
    self->pool = pool;
    self->registry = strdup (registry);
    self->keydir = keydir ? strdup (keydir) : NULL;
    self->ttl = ttl_ms;
    self->timeout = timeout_ms;
    self->services = zhashx_new ();
    zhashx_set_destructor (self->services, service_free);
    return self;
}

void
rtr_directory_destroy (rtr_directory_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtr_directory_t *self = *self_p;
    zhashx_destroy (&self->services);
    free (self->registry);
    free (self->keydir);
    free (self);
    *self_p = NULL;
}

rtr_backend_t *
rtr_directory_registry (rtr_directory_t *self)
{
    return rtr_pool_get (self->pool, self->registry, self->keydir);
}

int
rtr_directory_call (rtr_directory_t *self, const char *op, json_t *body, int timeout_ms, rtr_reply_fn fn, void *arg,
                    omr_err_t *err)
{
    char id[64];
    snprintf (id, sizeof id, "reg-%d-%u", (int) getpid (), self->next_id++);
    json_t *h = json_pack ("{s:i,s:s,s:s,s:I}", "v", OMR_PROTOCOL_VERSION, "id", id, "op", op, "deadline",
                           (json_int_t) (omr_now_ms () + timeout_ms));
    char *hs = json_dumps (h, JSON_COMPACT);
    char *bs = json_dumps (body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref (h);
    json_decref (body);
    zmsg_t *m = zmsg_new ();
    zmsg_addmem (m, hs, strlen (hs));
    zmsg_addmem (m, bs, strlen (bs));
    free (hs);
    free (bs);
    return rtr_backend_send (rtr_directory_registry (self), id, &m, timeout_ms, fn, arg, err);
}

static void
deliver (rtr_service_t *s, const omr_err_t *err)
{
    zlist_t *w = s->waiters;
    s->waiters = NULL;
    waiter_t *x;
    while (w && (x = zlist_pop (w))) {
        x->fn (err ? NULL : s, err, x->arg);
        free (x);
    }
    zlist_destroy (&w);
}

/* Parse the lookup reply into s; -1 with err on an error reply or malformed body. */
static int
parse_reply (rtr_service_t *s, zmsg_t *reply, omr_err_t *err)
{
    omr_msg_t *m = omr_msg_decode (&reply, err);
    if (!m)
        return -1;
    if (omr_msg_error (m, err) < 0) {
        omr_msg_destroy (&m);
        return -1;
    }
    json_t *servers = json_object_get (m->body, "servers");
    if (!json_is_array (servers)) {
        omr_msg_destroy (&m);
        return omr_err_set (err, OMR_E_UNAVAIL, 503, "the registry's answer to Registry.lookup has no servers list");
    }
    size_t n = json_array_size (servers);
    rtr_server_t *list = calloc (n ? n : 1, sizeof *list);
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get (servers, i);
        const char *id = json_string_value (json_object_get (e, "id"));
        const char *ep = json_string_value (json_object_get (e, "endpoint"));
        if (!ep || strncmp (ep, "tcp://", 6) != 0)
            continue;       /* not reachable over ZeroMQ (e.g. another router) */
        snprintf (list[k].id, sizeof list[k].id, "%s", id ? id : ep);
        snprintf (list[k].endpoint, sizeof list[k].endpoint, "%s", ep);
        list[k].load = json_number_value (json_object_get (e, "load"));
        list[k].curve = json_is_true (json_object_get (e, "curve"));
        json_t *prio = json_object_get (e, "priority");
        list[k].priority = prio ? (int) json_integer_value (prio) : (int) i;
        k++;
    }
    free (s->servers);
    s->servers = list;
    s->nservers = k;
    s->policy = rtr_policy_parse (json_string_value (json_object_get (m->body, "policy")));
    s->fetched_ms = omr_mono_ms ();
    omr_msg_destroy (&m);
    return 0;
}

static void
on_lookup (zmsg_t *reply, const omr_err_t *err, void *arg)
{
    fetch_t *f = arg;
    rtr_service_t *s = zhashx_lookup (f->dir->services, f->name);
    if (!s) {
        zmsg_destroy (&reply);
        free (f->name);
        free (f);
        return;
    }
    s->fetching = false;
    omr_err_t perr = {0};
    if (!reply) {
        perr = *err;
        omr_warn ("Registry.lookup %s: %s", f->name, err->msg);
    }
    else
        parse_reply (s, reply, &perr);
    free (f->name);
    free (f);
    /* A failed refresh leaves an older answer usable; waiters with nothing get the error. */
    deliver (s, perr.name[0] && !s->fetched_ms ? &perr : NULL);
}

static void
fetch (rtr_directory_t *self, rtr_service_t *s)
{
    if (s->fetching)
        return;
    s->fetching = true;
    fetch_t *f = calloc (1, sizeof *f);
    f->dir = self;
    f->name = strdup (s->name);
    omr_err_t err = {0};
    if (rtr_directory_call (self, "Registry.lookup", json_pack ("{s:s}", "service", s->name), self->timeout,
                            on_lookup, f, &err) < 0) {
        s->fetching = false;
        free (f->name);
        free (f);
        deliver (s, s->fetched_ms ? NULL : &err);
    }
}

/* Clients name services in URLs: keep the table bounded by forgetting idle entries, those
 * the registry knows no server for first. */
static void
trim (rtr_directory_t *self)
{
    if (zhashx_size (self->services) < MAX_SERVICES)
        return;
    for (int pass = 0; pass < 2 && zhashx_size (self->services) >= MAX_SERVICES / 2; pass++) {
        zlist_t *idle = zlist_new ();
        zlist_autofree (idle);
        for (rtr_service_t *s = zhashx_first (self->services); s; s = zhashx_next (self->services))
            if (!s->fetching && !s->waiters && (pass == 1 || s->nservers == 0))
                zlist_append (idle, (void *) zhashx_cursor (self->services));
        for (char *k = zlist_first (idle); k; k = zlist_next (idle))
            zhashx_delete (self->services, k);
        zlist_destroy (&idle);
    }
}

void
rtr_directory_lookup (rtr_directory_t *self, const char *service, bool force, rtr_lookup_fn fn, void *arg)
{
    rtr_service_t *s = zhashx_lookup (self->services, service);
    if (!s) {
        trim (self);
        s = calloc (1, sizeof *s);
        s->name = strdup (service);
        s->seed = (unsigned) (omr_now_ms () ^ getpid ());
        zhashx_insert (self->services, service, s);
    }
    int64_t age = s->fetched_ms ? omr_mono_ms () - s->fetched_ms : -1;
    if (!force && age >= 0 && age < self->ttl) {
        fn (s, NULL, arg);
        return;
    }
    if (!force && age >= 0 && s->nservers > 0) {
        /* Stale but usable: answer now, refresh behind. */
        fetch (self, s);
        fn (s, NULL, arg);
        return;
    }
    if (!s->waiters)
        s->waiters = zlist_new ();
    waiter_t *w = calloc (1, sizeof *w);
    w->fn = fn;
    w->arg = arg;
    zlist_append (s->waiters, w);
    if (force)
        s->fetched_ms = 0;
    fetch (self, s);
}

void
rtr_directory_invalidate (rtr_directory_t *self, const char *service)
{
    rtr_service_t *s = zhashx_lookup (self->services, service);
    if (s)
        s->fetched_ms = 0;
}
