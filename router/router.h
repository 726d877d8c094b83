/* router: the omero-router process (OMERO's Glacier2 role): settings read from the
 * configuration, and the object tying together TLS, the HTTP server, the backend pool, the
 * registry directory and the session cache, all on one libevent loop. */
#ifndef RTR_ROUTER_H
#define RTR_ROUTER_H
#include "backend.h"
#include "directory.h"
#include "omr_server.h"
#include "session_cache.h"
#include <event2/event.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

/* Everything the router reads from configuration (omero.router.*, omero.ports.*). */
typedef struct {
    char host[256];             /* omero.router.host (0.0.0.0) */
    int ssl_port;               /* omero.ports.ssl with prefix */
    int tcp_port;               /* omero.ports.tcp with prefix, used when insecure */
    bool insecure;              /* omero.router.insecure=true: also plain HTTP */
    int timeout_ms;             /* omero.router.timeout (60000): per request to a server */
    int max_header;             /* omero.router.max_header (16384 bytes) */
    long long max_body;         /* omero.router.max_body (256 MiB) */
    int idle_ms;                /* omero.router.idle_timeout (60000): idle keep-alive connection */
    int header_ms;              /* omero.router.header_timeout (10000): to deliver a request's head */
    long long min_rate;         /* omero.router.min_rate (16384 bytes/s): slowest accepted upload */
    int max_conns;              /* omero.router.max_connections (10000, capped by RLIMIT_NOFILE) */
    int drain_ms;               /* omero.router.drain_timeout (10000): SIGTERM grace */
    int session_ttl_ms;         /* omero.router.session_cache (3000) */
    int lookup_ttl_ms;          /* omero.router.lookup_cache (1000) */
    int registry_timeout_ms;    /* omero.router.registry_timeout (2000) */
    char idempotent[2048];      /* omero.router.idempotent: more ops to retry ("Svc.op,Svc2.*") */
    char access_log[4096];      /* omero.router.access_log: file, "server" (into the log) or "off" */
    int threads;                /* omero.router.threads: event loops (default: CPUs, at most 4) */
} rtr_settings_t;

typedef struct rtr_http_t rtr_http_t;

/* One event loop. The first (index 0) owns the process-wide parts (identity, TLS context,
 * access log, session cache, signals, registry heartbeat); the others share them and have their
 * own listener (a duplicate of the first loop's listening socket), connections to servers and
 * directory. */
typedef struct rtr_router_t {
    int index;                  /* 0 for the first loop */
    struct rtr_router_t **peers;    /* loops 1..npeers (first loop only) */
    struct rtr_router_t *first;     /* the first loop (itself for the first) */
    int npeers;
    atomic_int *stop;           /* set by the first loop on SIGTERM; shared */
    pthread_t thread;
    omr_server_t *server;       /* identity (id, node, registry, keydir) and configuration */
    rtr_settings_t set;
    struct event_base *base;
    SSL_CTX *ssl;
    rtr_http_t *http;
    rtr_pool_t *pool;
    rtr_directory_t *dir;
    rtr_session_cache_t *sessions;
    FILE *access;               /* access log file (first loop's; others use first->access) */
    pthread_mutex_t access_lock;    /* first loop's: guards writes and rotation of the file */
    long long access_max;       /* rotate past this size (omero.logging.logsize) */
    int access_keep;            /* rotated files kept (omero.logging.lognum) */
    bool access_to_server_log;
    bool access_on;             /* an access log file is configured (fixed at start) */
    atomic_int inflight;        /* HTTP requests not yet answered */
    bool draining;
    int64_t drain_deadline;
    unsigned long next_id;
    bool registered;
    unsigned ticks;             /* count of 200 ms ticks, for once-a-second work */
    struct event *sigterm, *sigint, *tick;
} rtr_router_t;

/* Read the settings from cfg (errors name the property and what to do). */
int rtr_settings_load (rtr_settings_t *set, omr_config_t *cfg, const char *omerodir, const char *id, omr_err_t *err);
/* Create the router from the launcher's environment (see omr_server.h): config, TLS, listeners. */
rtr_router_t *rtr_router_new (omr_err_t *err);
/* Run the loop until SIGTERM/SIGINT and the drain that follows. Returns 0 on a clean stop. */
int rtr_router_run (rtr_router_t *self, omr_err_t *err);
/* Free everything. */
void rtr_router_destroy (rtr_router_t **self);
#endif
