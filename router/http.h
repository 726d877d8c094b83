/* http: the router's HTTP/1.1 servers (libevent evhttp): HTTPS through bufferevent_openssl and,
 * when configured, plain HTTP; the limits on header and body size, idle keep-alive
 * connections, slow clients (a request must arrive within header_timeout plus the time its
 * bytes take at min_rate) and the number of connections; and the access log. */
#ifndef RTR_HTTP_H
#define RTR_HTTP_H
#include "router.h"
#include <event2/http.h>

typedef struct rtr_conn_t rtr_conn_t;

/* Start listening as r->set says; requests go to rtr_dispatch_request. */
rtr_http_t *rtr_http_new (rtr_router_t *r, omr_err_t *err);
/* Free the servers and connections. */
void rtr_http_destroy (rtr_http_t **self);
/* Stop accepting connections (drain) and close idle keep-alive connections. */
void rtr_http_stop_accepting (rtr_http_t *self);
/* Periodic work (every 200 ms): connection deadlines, closed connections, log flush. */
void rtr_http_tick (rtr_http_t *self);
/* Number of open client connections. */
int rtr_http_connections (rtr_http_t *self);
/* The connection a request arrived on, with a reference held for the request (or NULL). */
rtr_conn_t *rtr_http_conn_acquire (rtr_http_t *self, struct evhttp_request *req);
/* The request on conn was answered: the connection is idle again; drops the reference. */
void rtr_http_conn_release (rtr_http_t *self, rtr_conn_t *conn);
/* One access log line: time, client ip, method, path (no query: it may hold secrets), status,
 * response bytes, milliseconds, router id and the server that answered. */
void rtr_http_access (rtr_router_t *r, const char *ip, const char *method, const char *path, int status,
                      size_t bytes, double ms, const char *server);
#endif
