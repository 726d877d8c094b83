/* directory: which servers offer a service, from the registry's Registry.lookup, cached for a
 * short time (omero.router.lookup_cache, 1 s) so that replicas appearing or dying are seen
 * quickly without asking the registry per request. Lookups go over the router's DEALER to the
 * registry (CURVE when the grid has keys) and never block the event loop. */
#ifndef RTR_DIRECTORY_H
#define RTR_DIRECTORY_H
#include "backend.h"
#include "balance.h"
#include <jansson.h>
#include <stdbool.h>

typedef struct {
    char id[64];
    char endpoint[256];
    double load;
    int priority;
    bool curve;             /* the server accepts only holders of the grid's CURVE keys */
} rtr_server_t;

/* A service's current instances and balancing state. */
typedef struct {
    char *name;
    rtr_policy_t policy;
    rtr_server_t *servers;
    int nservers;
    int64_t fetched_ms;         /* monotonic time of the registry's answer; 0 = never */
    unsigned rr, seed;
    void *waiters;              /* internal */
    bool fetching;
} rtr_service_t;

typedef struct rtr_directory_t rtr_directory_t;

/* Called with the service (borrowed, valid during the call) or NULL and err. */
typedef void (*rtr_lookup_fn) (rtr_service_t *svc, const omr_err_t *err, void *arg);

/* The CURVE key directory the directory was made with (NULL when none). */
const char *rtr_directory_keydir (rtr_directory_t *self);
/* A directory asking registry (endpoint) through pool; keydir for CURVE (or NULL). */
rtr_directory_t *rtr_directory_new (rtr_pool_t *pool, const char *registry, const char *keydir, int64_t ttl_ms,
                                    int timeout_ms);
/* Free the directory (waiting lookups are failed). */
void rtr_directory_destroy (rtr_directory_t **self);
/* Find the instances of service. A fresh cached answer is given at once (fn runs before this
 * returns); a stale one is given at once while a refresh runs; otherwise fn runs when the
 * registry answers. force skips the cache (after every known instance failed). */
void rtr_directory_lookup (rtr_directory_t *self, const char *service, bool force, rtr_lookup_fn fn, void *arg);
/* Forget what is known about service, so the next lookup asks the registry. */
void rtr_directory_invalidate (rtr_directory_t *self, const char *service);
/* Send one request to the registry and get the reply frames (for heartbeats). */
int rtr_directory_call (rtr_directory_t *self, const char *op, json_t *body, int timeout_ms, rtr_reply_fn fn,
                        void *arg, omr_err_t *err);
/* The registry connection (for its health). */
rtr_backend_t *rtr_directory_registry (rtr_directory_t *self);
#endif
