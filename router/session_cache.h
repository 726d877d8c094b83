/* session_cache: session key -> caller context (the answer of ISession.resolve), kept a few
 * seconds so that a busy client costs Blitz one resolve per TTL, not one per request.
 * Thread-safe: the router's event loops share one cache, so a session a server invalidates is
 * forgotten by all of them. */
#ifndef RTR_SESSION_CACHE_H
#define RTR_SESSION_CACHE_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rtr_session_cache_t rtr_session_cache_t;

/* A cache whose entries live ttl_ms and which holds at most max_entries. */
rtr_session_cache_t *rtr_session_cache_new (int64_t ttl_ms, size_t max_entries);
/* Free the cache and every entry. */
void rtr_session_cache_destroy (rtr_session_cache_t **self);
/* The context cached for key at time now_ms (a new object of the caller's), or NULL when absent
 * or expired. */
json_t *rtr_session_cache_get (rtr_session_cache_t *self, const char *key, int64_t now_ms);
/* Cache a copy of ctx for key from now_ms. When full, expired entries are
 * dropped first, then the entry closest to expiry. */
void rtr_session_cache_put (rtr_session_cache_t *self, const char *key, json_t *ctx, int64_t now_ms);
/* Forget key (logout, group switch, session errors from a server). */
void rtr_session_cache_drop (rtr_session_cache_t *self, const char *key);
/* Drop every expired entry; returns how many were dropped. */
size_t rtr_session_cache_purge (rtr_session_cache_t *self, int64_t now_ms);
/* Number of entries (expired ones included until purged). */
size_t rtr_session_cache_size (rtr_session_cache_t *self);
#endif
