/* session_cache: a CZMQ hash of session keys with expiry times. */
#include "session_cache.h"
#include <czmq.h>
#include <pthread.h>

/* Contexts are kept as JSON text: each caller gets its own object, so no jansson value is ever
 * shared between the router's threads. */
typedef struct {
    char *ctx;
    int64_t expires;
} entry_t;

struct rtr_session_cache_t {
    pthread_mutex_t lock;
    zhashx_t *map;
    int64_t ttl;
    size_t max;
};

static void
entry_free (void **item)
{
    entry_t *e = *item;
    if (e) {
        free (e->ctx);
        free (e);
    }
    *item = NULL;
}

rtr_session_cache_t *
rtr_session_cache_new (int64_t ttl_ms, size_t max_entries)
{
    rtr_session_cache_t *self = calloc (1, sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    self->map = zhashx_new ();
    zhashx_set_destructor (self->map, entry_free);
    self->ttl = ttl_ms;
    self->max = max_entries ? max_entries : 1;
    return self;
}

void
rtr_session_cache_destroy (rtr_session_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->map);
    pthread_mutex_destroy (&(*self_p)->lock);
    free (*self_p);
    *self_p = NULL;
}

json_t *
rtr_session_cache_get (rtr_session_cache_t *self, const char *key, int64_t now_ms)
{
    pthread_mutex_lock (&self->lock);
    entry_t *e = zhashx_lookup (self->map, key);
    char *text = NULL;
    if (e && e->expires <= now_ms)
        zhashx_delete (self->map, key);
    else if (e)
        text = strdup (e->ctx);
    pthread_mutex_unlock (&self->lock);
    json_t *ctx = text ? json_loads (text, 0, NULL) : NULL;
    free (text);
    return ctx;
}

static size_t purge_locked (rtr_session_cache_t *self, int64_t now_ms);

void
rtr_session_cache_put (rtr_session_cache_t *self, const char *key, json_t *ctx, int64_t now_ms)
{
    if (self->ttl <= 0 || !ctx)
        return;
    char *text = json_dumps (ctx, JSON_COMPACT);
    if (!text)
        return;
    pthread_mutex_lock (&self->lock);
    if (!zhashx_lookup (self->map, key) && zhashx_size (self->map) >= self->max) {
        purge_locked (self, now_ms);
        if (zhashx_size (self->map) >= self->max) {
            const char *victim = NULL;
            int64_t soonest = INT64_MAX;
            for (entry_t *e = zhashx_first (self->map); e; e = zhashx_next (self->map))
                if (e->expires < soonest) {
                    soonest = e->expires;
                    victim = zhashx_cursor (self->map);
                }
            if (victim) {
                char *copy = strdup (victim);
                zhashx_delete (self->map, copy);
                free (copy);
            }
        }
    }
    entry_t *e = calloc (1, sizeof *e);
    e->ctx = text;
    e->expires = now_ms + self->ttl;
    zhashx_update (self->map, key, e);
    pthread_mutex_unlock (&self->lock);
}

void
rtr_session_cache_drop (rtr_session_cache_t *self, const char *key)
{
    pthread_mutex_lock (&self->lock);
    zhashx_delete (self->map, key);
    pthread_mutex_unlock (&self->lock);
}

size_t
rtr_session_cache_purge (rtr_session_cache_t *self, int64_t now_ms)
{
    pthread_mutex_lock (&self->lock);
    size_t n = purge_locked (self, now_ms);
    pthread_mutex_unlock (&self->lock);
    return n;
}

static size_t
purge_locked (rtr_session_cache_t *self, int64_t now_ms)
{
    zlist_t *dead = zlist_new ();
    zlist_autofree (dead);
    for (entry_t *e = zhashx_first (self->map); e; e = zhashx_next (self->map))
        if (e->expires <= now_ms)
            zlist_append (dead, (void *) zhashx_cursor (self->map));
    size_t n = zlist_size (dead);
    for (char *k = zlist_first (dead); k; k = zlist_next (dead))
        zhashx_delete (self->map, k);
    zlist_destroy (&dead);
    return n;
}

size_t
rtr_session_cache_size (rtr_session_cache_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = zhashx_size (self->map);
    pthread_mutex_unlock (&self->lock);
    return n;
}
