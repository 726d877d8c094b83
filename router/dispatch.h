/* dispatch: one HTTP request -> one grid envelope -> one HTTP response, as docs/protocol.md
 * says. URL families: POST /rpc/v1/<Service>/<method> (op Service.method), /api/… (op
 * JsonApi.handle), /webgateway/table/… (op TablesWeb.handle, on the Tables servers) and the
 * rest of /webgateway/… (op Webgateway.handle). The session (X-OMERO-Session or
 * the JSON API's sessionid cookie) is resolved to the caller context with ISession.resolve
 * (cached), which travels in the envelope header. Reads that fail because their server went
 * away are retried on another replica; errors are JSON {"error":{"name","message"}}. */
#ifndef RTR_DISPATCH_H
#define RTR_DISPATCH_H
#include "router.h"
#include <event2/http.h>

typedef enum { RTR_FAMILY_NONE = 0, RTR_FAMILY_RPC, RTR_FAMILY_API, RTR_FAMILY_WEBGATEWAY } rtr_family_t;

/* Where a URL path goes. */
typedef struct {
    rtr_family_t family;
    char service[64];           /* "IConfig", "JsonApi", "Webgateway" */
    char op[160];               /* "IConfig.getVersion", "JsonApi.handle" */
    char method[96];            /* RPC method name ("getVersion"); "" for the other families */
    bool anonymous;             /* may be called without a session */
} rtr_route_t;

/* Handle one request from evhttp (the router answers it, now or later). */
void rtr_dispatch_request (rtr_router_t *r, struct evhttp_request *req);
/* Classify a URL path; RTR_FAMILY_NONE when it belongs to no family or names an invalid
 * service or method. */
rtr_route_t rtr_dispatch_route (const char *path);
/* Whether an RPC op may be retried on another replica: methods named get/find/load/read/list/
 * count/lookup/resolve/ping…, or listed in extra ("Svc.op,Svc2.*", comma or space separated). */
bool rtr_dispatch_idempotent (const char *op, const char *extra);
/* Value of cookie name in a Cookie header into out; -1 when absent. */
int rtr_dispatch_cookie (const char *header, const char *name, char *out, size_t len);
#endif
