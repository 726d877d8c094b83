/* dispatch: request state machine. A request makes at most two exchanges with the grid, one
 * after the other: ISession.resolve when its session is not cached, then the call itself.
 * An exchange looks up the service, picks a replica, sends, and retries on another replica
 * when the chosen one was unreachable (never delivered) or, for reads, went away. */
#include "dispatch.h"
#include "http.h"
#include "omr_log.h"
#include "omr_msg.h"
#include "omr_util.h"
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_ATTEMPTS 8
#define MAX_CANDIDATES 64

typedef struct req_t req_t;
typedef void (*exch_done_fn) (req_t *q, zmsg_t *reply, const omr_err_t *err);

struct req_t {
    rtr_router_t *r;
    struct evhttp_request *ev;
    rtr_conn_t *conn;
    int64_t t0, deadline_mono;
    int64_t t0_us;              /* for the access log's milliseconds with a decimal */
    rtr_route_t route;
    bool idempotent;
    const char *method;
    char *path;
    char ip[64];
    char *agent;
    char *session;
    zframe_t *body;             /* frame 1 of the call */
    zframe_t *raw;              /* raw frame 0 of the call, or NULL */
    zframe_t *resolve_body;     /* {"session": key} for ISession.resolve */
    char id[48];
    /* The exchange in progress. */
    char x_service[64];
    char *x_header;
    zframe_t *x_body, *x_raw;   /* borrowed */
    bool x_retry_reads;
    exch_done_fn x_done;
    char tried[MAX_ATTEMPTS][256];
    int ntried;
    bool relooked;
    char server[64];            /* id of the server that answered */
};

static const char *
reason (int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

static bool
is_ident (const char *s, size_t n)
{
    if (n == 0 || n > 63 || !(isalpha ((unsigned char) s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum ((unsigned char) s[i]) || s[i] == '_'))
            return false;
    return true;
}

static const char *anonymous_ops[] = {
    "ISession.createSession", "ISession.joinSession", "IConfig.getVersion", "IConfig.getClientConfigValues",
    "IConfig.getClientConfigDefaults", NULL,
};
static const char *anonymous_api[] = {"/api", "/api/", "/api/v0", "/api/v0/", "/api/v0/token/", "/api/v0/login/",
                                      "/api/v0/servers/", NULL};

rtr_route_t
rtr_dispatch_route (const char *path)
{
    rtr_route_t r = {0};
    if (!path)
        return r;
    if (strncmp (path, "/rpc/v1/", 8) == 0) {
        const char *svc = path + 8;
        const char *slash = strchr (svc, '/');
        if (!slash)
            return r;
        const char *m = slash + 1;
        size_t ns = (size_t) (slash - svc), nm = strlen (m);
        if (nm && m[nm - 1] == '/')
            nm--;
        if (!is_ident (svc, ns) || !is_ident (m, nm) || memchr (m, '/', nm))
            return r;
        r.family = RTR_FAMILY_RPC;
        snprintf (r.service, sizeof r.service, "%.*s", (int) ns, svc);
        snprintf (r.method, sizeof r.method, "%.*s", (int) nm, m);
        snprintf (r.op, sizeof r.op, "%s.%s", r.service, r.method);
        for (int i = 0; anonymous_ops[i]; i++)
            if (!strcmp (r.op, anonymous_ops[i]))
                r.anonymous = true;
        return r;
    }
    if (!strcmp (path, "/api") || strncmp (path, "/api/", 5) == 0) {
        r.family = RTR_FAMILY_API;
        snprintf (r.service, sizeof r.service, "JsonApi");
        snprintf (r.op, sizeof r.op, "JsonApi.handle");
        for (int i = 0; anonymous_api[i]; i++)
            if (!strcmp (path, anonymous_api[i]))
                r.anonymous = true;
        return r;
    }
    if (!strcmp (path, "/webgateway") || strncmp (path, "/webgateway/", 12) == 0) {
        r.family = RTR_FAMILY_WEBGATEWAY;
        /* OMERO.web's table URLs (/webgateway/table/{fileid}/…, /webgateway/table/{objtype}/{id}/query/)
         * are the Tables servers' */
        if (strncmp (path, "/webgateway/table/", 18) == 0) {
            snprintf (r.service, sizeof r.service, "TablesWeb");
            snprintf (r.op, sizeof r.op, "TablesWeb.handle");
            return r;
        }
        snprintf (r.service, sizeof r.service, "Webgateway");
        snprintf (r.op, sizeof r.op, "Webgateway.handle");
        return r;
    }
    return r;
}

bool
rtr_dispatch_idempotent (const char *op, const char *extra)
{
    static const char *prefixes[] = {"get", "find", "load", "read", "list", "count", "lookup", "resolve", "ping",
                                     NULL};
    const char *dot = strchr (op, '.');
    const char *m = dot ? dot + 1 : op;
    for (int i = 0; prefixes[i]; i++) {
        size_t n = strlen (prefixes[i]);
        /* "getVersion", "get", but not "gettysburg": the prefix ends the word or the name. */
        if (strncmp (m, prefixes[i], n) == 0 && (m[n] == 0 || isupper ((unsigned char) m[n]) || m[n] == '_'))
            return true;
    }
    if (!extra || !*extra)
        return false;
    size_t svc = dot ? (size_t) (dot - op) : strlen (op);
    const char *p = extra;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        size_t n = (size_t) (e - p);
        if (n && n == strlen (op) && strncmp (p, op, n) == 0)
            return true;
        if (n >= 2 && p[n - 2] == '.' && p[n - 1] == '*' && n - 2 == svc && strncmp (p, op, svc) == 0)
            return true;
        p = e;
    }
    return false;
}

int
rtr_dispatch_cookie (const char *header, const char *name, char *out, size_t len)
{
    if (!header)
        return -1;
    size_t nl = strlen (name);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == ';' || *p == '\t')
            p++;
        const char *eq = strchr (p, '=');
        const char *end = strchr (p, ';');
        if (!end)
            end = p + strlen (p);
        if (eq && eq < end && (size_t) (eq - p) == nl && strncmp (p, name, nl) == 0) {
            const char *v = eq + 1;
            size_t vl = (size_t) (end - v);
            if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                v++;
                vl -= 2;
            }
            snprintf (out, len, "%.*s", (int) vl, v);
            return 0;
        }
        p = end;
    }
    return -1;
}

/* ---- answering ---- */

static void
req_free (req_t *q)
{
    zframe_destroy (&q->body);
    zframe_destroy (&q->raw);
    if (q->resolve_body) {
        explicit_bzero (zframe_data (q->resolve_body), zframe_size (q->resolve_body));
        zframe_destroy (&q->resolve_body);
    }
    free (q->x_header);
    free (q->path);
    free (q->agent);
    if (q->session) {
        explicit_bzero (q->session, strlen (q->session));
        free (q->session);
    }
    free (q);
}

static void
respond (req_t *q, int status, struct evbuffer *body, const char *ctype)
{
    rtr_router_t *r = q->r;
    struct evkeyvalq *out = evhttp_request_get_output_headers (q->ev);
    if (ctype && !evhttp_find_header (out, "Content-Type"))
        evhttp_add_header (out, "Content-Type", ctype);
    if (r->draining)
        evhttp_add_header (out, "Connection", "close");
    size_t bytes = body ? evbuffer_get_length (body) : 0;
    evhttp_send_reply (q->ev, status, reason (status), body);
    if (body)
        evbuffer_free (body);
    rtr_http_access (r, q->ip, q->method, q->path ? q->path : "-", status, bytes,
                     (double) (zclock_usecs () - q->t0_us) / 1000.0, q->server);
    rtr_http_conn_release (r->http, q->conn);
    r->inflight--;
    req_free (q);
}

static void
respond_error (req_t *q, int status, const char *name, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    /* The JSON API's clients read OMERO.web's {"message": …}; the rest reads {"error": …}. */
    json_t *j = q->route.family == RTR_FAMILY_API ? json_pack ("{s:s}", "message", msg)
                                                  : json_pack ("{s:{s:s,s:s}}", "error", "name", name, "message", msg);
    char *s = json_dumps (j, JSON_COMPACT);
    json_decref (j);
    struct evbuffer *b = evbuffer_new ();
    evbuffer_add (b, s, strlen (s));
    free (s);
    respond (q, status, b, "application/json");
}

static void
respond_err (req_t *q, const omr_err_t *err)
{
    int status = err->status >= 400 && err->status < 600 ? err->status : 500;
    if (status == 502)
        status = 503;   /* "unreachable" is internal; clients see ServiceUnavailable */
    respond_error (q, status, err->name[0] ? err->name : OMR_E_INTERNAL, "%s", err->msg);
}

static void
free_frame (const void *data, size_t len, void *arg)
{
    zframe_t *f = arg;
    zframe_destroy (&f);
}

/* The header of a reply, and its error as err (returns -1) if it is an error reply. */
static json_t *
reply_header (zmsg_t *reply, omr_err_t *err, int *status)
{
    zframe_t *h = zmsg_first (reply);
    json_t *hdr = h ? json_loadb ((const char *) zframe_data (h), zframe_size (h), 0, NULL) : NULL;
    if (!hdr) {
        omr_err_set (err, OMR_E_INTERNAL, 502, "a server sent a malformed reply");
        return NULL;
    }
    json_t *s = json_object_get (hdr, "status");
    *status = s ? (int) json_integer_value (s) : 200;
    json_t *e = json_object_get (hdr, "error");
    if (e) {
        const char *name = json_string_value (json_object_get (e, "name"));
        const char *msg = json_string_value (json_object_get (e, "message"));
        omr_err_set (err, name ? name : OMR_E_INTERNAL, *status >= 400 ? *status : 500, "%s", msg ? msg : "");
    }
    return hdr;
}

/* ---- exchanges ---- */

static void exch_lookup (req_t *q, bool force);

static void
on_reply (zmsg_t *reply, const omr_err_t *err, void *arg)
{
    req_t *q = arg;
    if (reply) {
        q->x_done (q, reply, NULL);
        return;
    }
    /* 502: the server was unreachable, the request never left; 503: it went away holding it. */
    bool retry = (err->status == 502 || (err->status == 503 && q->x_retry_reads)) && q->r->dir;
    if (retry && q->ntried < MAX_ATTEMPTS && omr_mono_ms () < q->deadline_mono) {
        omr_info ("%s on %s failed (%s): trying another instance", q->route.op, q->server, err->msg);
        exch_lookup (q, false);
        return;
    }
    q->x_done (q, NULL, err);
}

static bool
tried (req_t *q, const char *endpoint)
{
    for (int i = 0; i < q->ntried; i++)
        if (!strcmp (q->tried[i], endpoint))
            return true;
    return false;
}

static void
on_service (rtr_service_t *svc, const omr_err_t *err, void *arg)
{
    req_t *q = arg;
    rtr_router_t *r = q->r;
    if (!svc) {
        omr_err_t e = {0};
        omr_err_set (&e, OMR_E_UNAVAIL, 503, "cannot find a server for %s: %s", q->x_service, err->msg);
        q->x_done (q, NULL, &e);
        return;
    }
    rtr_candidate_t cand[MAX_CANDIDATES];
    rtr_backend_t *bes[MAX_CANDIDATES];
    int n = svc->nservers < MAX_CANDIDATES ? svc->nservers : MAX_CANDIDATES;
    for (int i = 0; i < n; i++) {
        rtr_server_t *s = &svc->servers[i];
        bes[i] = rtr_pool_get (r->pool, s->endpoint, s->curve ? rtr_directory_keydir (r->dir) : NULL);
        cand[i] = (rtr_candidate_t) {s->id, s->load, s->priority, rtr_backend_inflight (bes[i]),
                                     rtr_backend_down (bes[i]), tried (q, s->endpoint)};
    }
    int k = rtr_balance_pick (svc->policy, cand, n, &svc->rr, &svc->seed);
    if (k < 0) {
        if (!q->relooked && r->dir) {
            /* Every instance we knew of failed: ask the registry again before giving up. */
            q->relooked = true;
            exch_lookup (q, true);
            return;
        }
        omr_err_t e = {0};
        omr_err_set (&e, OMR_E_UNAVAIL, 503, "no instance of %s is available%s", q->x_service,
                     q->ntried ? " (the ones tried failed)" : "");
        q->x_done (q, NULL, &e);
        return;
    }
    if (q->ntried < MAX_ATTEMPTS)
        snprintf (q->tried[q->ntried++], sizeof q->tried[0], "%s", svc->servers[k].endpoint);
    snprintf (q->server, sizeof q->server, "%s", svc->servers[k].id);
    int64_t left = q->deadline_mono - omr_mono_ms ();
    if (left <= 0) {
        omr_err_t e = {0};
        omr_err_set (&e, OMR_E_UNAVAIL, 504, "%s did not complete within omero.router.timeout", q->route.op);
        q->x_done (q, NULL, &e);
        return;
    }
    zmsg_t *m = zmsg_new ();
    zmsg_addmem (m, q->x_header, strlen (q->x_header));
    zframe_t *b = zframe_dup (q->x_body);
    zmsg_append (m, &b);
    if (q->x_raw) {
        zframe_t *raw = zframe_dup (q->x_raw);
        zmsg_append (m, &raw);
    }
    omr_err_t e = {0};
    if (rtr_backend_send (bes[k], q->id, &m, (int) left, on_reply, q, &e) < 0)
        on_reply (NULL, &e, q);
}

static void
exch_lookup (req_t *q, bool force)
{
    rtr_directory_lookup (q->r->dir, q->x_service, force, on_service, q);
}

/* Start an exchange: op on service with ctx (stolen), body/raw frames (borrowed). */
static void
exch_start (req_t *q, const char *service, const char *op, json_t *ctx, zframe_t *body, zframe_t *raw,
            bool retry_reads, exch_done_fn done)
{
    rtr_router_t *r = q->r;
    snprintf (q->id, sizeof q->id, "%d-%d-%lu", (int) getpid (), r->index, r->next_id++);
    int64_t now = omr_now_ms ();
    json_t *h = json_pack ("{s:i,s:s,s:s,s:o,s:I}", "v", OMR_PROTOCOL_VERSION, "id", q->id, "op", op, "ctx", ctx,
                           "deadline", (json_int_t) (now + (q->deadline_mono - omr_mono_ms ())));
    free (q->x_header);
    q->x_header = json_dumps (h, JSON_COMPACT);
    json_decref (h);
    snprintf (q->x_service, sizeof q->x_service, "%s", service);
    q->x_body = body;
    q->x_raw = raw;
    q->x_retry_reads = retry_reads;
    q->x_done = done;
    q->ntried = 0;
    q->relooked = false;
    exch_lookup (q, false);
}

/* ---- the call ---- */

static json_t *
request_ctx (req_t *q, json_t *session_ctx)
{
    json_t *ctx = session_ctx ? json_copy (session_ctx) : json_object ();
    json_object_set_new (ctx, "ip", json_string (q->ip));
    json_object_set_new (ctx, "agent", json_string (q->agent ? q->agent : ""));
    return ctx;
}

static void
set_result_header (struct evkeyvalq *out, zframe_t *body)
{
    const char *d = (const char *) zframe_data (body);
    size_t n = zframe_size (body);
    if (n == 0) {
        evhttp_add_header (out, "X-OMERO-Result", "null");
        return;
    }
    if (!memchr (d, '\n', n) && !memchr (d, '\r', n)) {
        char *v = strndup (d, n);
        evhttp_add_header (out, "X-OMERO-Result", v);
        free (v);
        return;
    }
    json_t *j = json_loadb (d, n, JSON_DECODE_ANY, NULL);
    char *v = j ? json_dumps (j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    evhttp_add_header (out, "X-OMERO-Result", v ? v : "null");
    free (v);
    json_decref (j);
}

/* Servers name sessions whose contexts changed (logout, group switch …) in "invalidate". */
static void
drop_invalidated (rtr_router_t *r, json_t *body)
{
    size_t i;
    json_t *v;
    json_array_foreach (json_object_get (body, "invalidate"), i, v)
        if (json_is_string (v))
            rtr_session_cache_drop (r->sessions, json_string_value (v));
}

static void
done_web (req_t *q, zmsg_t *reply)
{
    zframe_t *hf = zmsg_pop (reply);
    zframe_t *bf = zmsg_pop (reply);
    zframe_t *raw = zmsg_pop (reply);
    zmsg_destroy (&reply);
    zframe_destroy (&hf);
    json_t *b = bf ? json_loadb ((const char *) zframe_data (bf), zframe_size (bf), 0, NULL) : NULL;
    zframe_destroy (&bf);
    if (!json_is_object (b)) {
        json_decref (b);
        zframe_destroy (&raw);
        respond_error (q, 502, OMR_E_INTERNAL, "%s answered without a status object", q->route.op);
        return;
    }
    drop_invalidated (q->r, b);
    int status = (int) json_integer_value (json_object_get (b, "status"));
    if (status < 100 || status > 599)
        status = 200;
    /* 1xx, 204 and 304 replies carry no body and so no Content-Type (RFC 9110 §6.4.1, §8.3). */
    bool bodiless = status < 200 || status == 204 || status == 304;
    struct evkeyvalq *out = evhttp_request_get_output_headers (q->ev);
    const char *k;
    json_t *v;
    json_object_foreach (json_object_get (b, "headers"), k, v) {
        if (!json_is_string (v) || !strcasecmp (k, "content-length") || !strcasecmp (k, "connection")
            || !strcasecmp (k, "transfer-encoding") || !strcasecmp (k, "keep-alive")
            || (bodiless && !strcasecmp (k, "content-type")))
            continue;
        evhttp_add_header (out, k, json_string_value (v));
    }
    size_t i;
    json_array_foreach (json_object_get (b, "cookies"), i, v)
        if (json_is_string (v))
            evhttp_add_header (out, "Set-Cookie", json_string_value (v));
    json_decref (b);
    if (bodiless) {
        zframe_destroy (&raw);
        respond (q, status, NULL, NULL);
        return;
    }
    struct evbuffer *body = evbuffer_new ();
    if (raw && zframe_size (raw))
        evbuffer_add_reference (body, zframe_data (raw), zframe_size (raw), free_frame, raw);
    else
        zframe_destroy (&raw);
    respond (q, status, body, "application/octet-stream");
}

static void
done_call (req_t *q, zmsg_t *reply, const omr_err_t *err)
{
    rtr_router_t *r = q->r;
    if (!reply) {
        respond_err (q, err);
        return;
    }
    omr_err_t rerr = {0};
    int status = 200;
    json_t *hdr = reply_header (reply, &rerr, &status);
    json_decref (hdr);
    if (rerr.name[0]) {
        if (q->session && (!strcmp (rerr.name, OMR_E_SESSION) || !strcmp (rerr.name, OMR_E_REMOVED)))
            rtr_session_cache_drop (r->sessions, q->session);
        zmsg_destroy (&reply);
        respond_err (q, &rerr);
        return;
    }
    /* A session operation (close, group switch …) may change what resolve answers. */
    if (q->session && !strncmp (q->route.op, "ISession.", 9))
        rtr_session_cache_drop (r->sessions, q->session);
    if (q->route.family != RTR_FAMILY_RPC) {
        done_web (q, reply);
        return;
    }
    zframe_t *hf = zmsg_pop (reply);
    zframe_t *bf = zmsg_pop (reply);
    zframe_t *raw = zmsg_pop (reply);
    zmsg_destroy (&reply);
    zframe_destroy (&hf);
    if (bf && memmem (zframe_data (bf), zframe_size (bf), "\"invalidate\"", 12)) {
        json_t *b = json_loadb ((const char *) zframe_data (bf), zframe_size (bf), 0, NULL);
        drop_invalidated (r, b);
        json_decref (b);
    }
    struct evbuffer *body = evbuffer_new ();
    const char *ctype = "application/json";
    if (raw) {
        set_result_header (evhttp_request_get_output_headers (q->ev), bf);
        zframe_destroy (&bf);
        ctype = "application/octet-stream";
        if (zframe_size (raw))
            evbuffer_add_reference (body, zframe_data (raw), zframe_size (raw), free_frame, raw);
        else
            zframe_destroy (&raw);
    }
    else {
        if (bf && zframe_size (bf))
            evbuffer_add_reference (body, zframe_data (bf), zframe_size (bf), free_frame, bf);
        else {
            evbuffer_add (body, "null", 4);
            zframe_destroy (&bf);
        }
    }
    respond (q, status >= 200 && status < 300 ? status : 200, body, ctype);
}

static void
call (req_t *q, json_t *session_ctx)
{
    exch_start (q, q->route.service, q->route.op, request_ctx (q, session_ctx), q->body, q->raw, q->idempotent,
                done_call);
}

static void
done_resolve (req_t *q, zmsg_t *reply, const omr_err_t *err)
{
    rtr_router_t *r = q->r;
    if (!reply) {
        respond_error (q, err->status == 504 ? 504 : 503, OMR_E_UNAVAIL, "cannot check the session: %s", err->msg);
        return;
    }
    omr_err_t rerr = {0};
    int status = 200;
    json_t *hdr = reply_header (reply, &rerr, &status);
    json_decref (hdr);
    json_t *ctx = NULL;
    if (!rerr.name[0]) {
        zframe_t *bf = zmsg_next (reply);
        json_t *b = bf ? json_loadb ((const char *) zframe_data (bf), zframe_size (bf), 0, NULL) : NULL;
        json_t *inner = json_object_get (b, "ctx");
        ctx = json_is_object (inner) ? json_incref (inner) : json_is_object (b) ? json_incref (b) : NULL;
        json_decref (b);
        if (!ctx)
            omr_err_set (&rerr, OMR_E_INTERNAL, 502, "ISession.resolve answered something that is not a caller "
                         "context");
    }
    zmsg_destroy (&reply);
    if (ctx) {
        rtr_session_cache_put (r->sessions, q->session, ctx, omr_mono_ms ());
        call (q, ctx);
        json_decref (ctx);
        return;
    }
    bool bad_session = !strcmp (rerr.name, OMR_E_SESSION) || !strcmp (rerr.name, OMR_E_REMOVED)
                       || rerr.status == 403 || rerr.status == 404 || !strcmp (rerr.name, OMR_E_SECURITY);
    if (bad_session && q->route.anonymous) {
        call (q, NULL);
        return;
    }
    if (bad_session)
        respond_error (q, 403, !strcmp (rerr.name, OMR_E_REMOVED) ? OMR_E_REMOVED : OMR_E_SESSION, "%s",
                       rerr.msg[0] ? rerr.msg : "session is not valid: log in again");
    else
        respond_err (q, &rerr);
}

static char *
header_dup (struct evkeyvalq *h, const char *name)
{
    const char *v = evhttp_find_header (h, name);
    return v ? strdup (v) : NULL;
}

static zframe_t *
body_frame (struct evhttp_request *ev)
{
    struct evbuffer *in = evhttp_request_get_input_buffer (ev);
    size_t n = evbuffer_get_length (in);
    zframe_t *f = zframe_new (NULL, n);
    if (n)
        evbuffer_copyout (in, zframe_data (f), n);
    return f;
}

static const char *
method_name (enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
    }
}

/* Build frame 1 (and raw frame 0) of an RPC call; -1 after answering 400/405. */
static int
prepare_rpc (req_t *q)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers (q->ev);
    if (evhttp_request_get_command (q->ev) != EVHTTP_REQ_POST) {
        evhttp_add_header (evhttp_request_get_output_headers (q->ev), "Allow", "POST");
        respond_error (q, 405, OMR_E_API, "%s is called with POST", q->path);
        return -1;
    }
    q->idempotent = rtr_dispatch_idempotent (q->route.op, q->r->set.idempotent);
    const char *ctype = evhttp_find_header (in, "Content-Type");
    zframe_t *payload = body_frame (q->ev);
    const char *json_src;
    size_t json_len;
    if (ctype && !strncasecmp (ctype, "application/octet-stream", 24)) {
        q->raw = payload;
        json_src = evhttp_find_header (in, "X-OMERO-Args");
        if (!json_src)
            json_src = "{}";
        json_len = strlen (json_src);
        payload = NULL;
    }
    else {
        json_src = (const char *) zframe_data (payload);
        json_len = zframe_size (payload);
        if (json_len == 0) {
            json_src = "{}";
            json_len = 2;
        }
    }
    json_error_t jerr;
    json_t *j = json_loadb (json_src, json_len, JSON_DECODE_ANY, &jerr);
    if (!j) {
        zframe_destroy (&payload);
        respond_error (q, 400, OMR_E_API, "%s: the %s is not JSON: %s (line %d)", q->route.op,
                       q->raw ? "X-OMERO-Args header" : "request body", jerr.text, jerr.line);
        return -1;
    }
    json_decref (j);
    q->body = zframe_new (json_src, json_len);
    zframe_destroy (&payload);
    return 0;
}

static void
prepare_web (req_t *q, const struct evhttp_uri *uri)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command (q->ev);
    q->idempotent = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD || cmd == EVHTTP_REQ_OPTIONS;
    json_t *headers = json_object ();
    struct evkeyvalq *in = evhttp_request_get_input_headers (q->ev);
    for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next) {
        char name[256];
        size_t i;
        for (i = 0; kv->key[i] && i < sizeof name - 1; i++)
            name[i] = (char) tolower ((unsigned char) kv->key[i]);
        name[i] = 0;
        json_t *old = json_object_get (headers, name);
        if (old) {
            char *joined;
            if (asprintf (&joined, "%s, %s", json_string_value (old), kv->value) >= 0) {
                json_object_set_new (headers, name, json_string (joined));
                free (joined);
            }
        }
        else
            json_object_set_new (headers, name, json_string (kv->value));
    }
    json_t *cookies = json_object ();
    const char *ch = evhttp_find_header (in, "Cookie");
    for (const char *p = ch; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr (p, ';');
        if (!end)
            end = p + strlen (p);
        const char *eq = memchr (p, '=', (size_t) (end - p));
        if (eq && eq > p) {
            char *k = strndup (p, (size_t) (eq - p));
            char *v = strndup (eq + 1, (size_t) (end - eq - 1));
            json_object_set_new (cookies, k, json_string (v));
            free (k);
            free (v);
        }
        p = end;
    }
    const char *query = evhttp_uri_get_query (uri);
    json_t *b = json_pack ("{s:s,s:s,s:s,s:o,s:o,s:s}", "method", q->method, "path", q->path, "query",
                           query ? query : "", "headers", headers, "cookies", cookies, "remote", q->ip);
    char *s = json_dumps (b, JSON_COMPACT);
    json_decref (b);
    q->body = zframe_new (s, strlen (s));
    free (s);
    q->raw = body_frame (q->ev);
}

void
rtr_dispatch_request (rtr_router_t *r, struct evhttp_request *ev)
{
    req_t *q = calloc (1, sizeof *q);
    q->r = r;
    q->ev = ev;
    q->t0 = omr_mono_ms ();
    q->t0_us = zclock_usecs ();
    q->deadline_mono = q->t0 + r->set.timeout_ms;
    q->conn = rtr_http_conn_acquire (r->http, ev);
    q->method = method_name (evhttp_request_get_command (ev));
    r->inflight++;
    struct evhttp_connection *evcon = evhttp_request_get_connection (ev);
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (evcon)
        evhttp_connection_get_peer (evcon, &addr, &port);
    snprintf (q->ip, sizeof q->ip, "%s", addr ? addr : "-");
    struct evkeyvalq *in = evhttp_request_get_input_headers (ev);
    q->agent = header_dup (in, "User-Agent");

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri (ev);
    const char *path = uri ? evhttp_uri_get_path (uri) : NULL;
    q->path = strdup (path && *path ? path : "/");
    size_t head = strlen (evhttp_request_get_uri (ev)) + 16;
    for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next)
        head += strlen (kv->key) + strlen (kv->value) + 4;
    if (head > (size_t) r->set.max_header) {
        evhttp_add_header (evhttp_request_get_output_headers (ev), "Connection", "close");
        respond_error (q, 431, OMR_E_API, "the request head is %zu bytes, more than omero.router.max_header (%d)",
                       head, r->set.max_header);
        return;
    }
    q->route = rtr_dispatch_route (q->path);
    if (q->route.family == RTR_FAMILY_NONE) {
        respond_error (q, 404, OMR_E_NOTFOUND, "%s is not a URL of this server (use /rpc/v1/<Service>/<method>, "
                       "/api/ or /webgateway/)", q->path);
        return;
    }
    if (q->route.family == RTR_FAMILY_RPC) {
        if (prepare_rpc (q) < 0)
            return;
    }
    else
        prepare_web (q, uri);

    char key[256] = "";
    const char *hk = evhttp_find_header (in, "X-OMERO-Session");
    bool too_long = false;
    if (hk && *hk) {
        too_long = strlen (hk) >= sizeof key;
        snprintf (key, sizeof key, "%s", hk);
    }
    else {
        char big[1024] = "";
        if (rtr_dispatch_cookie (evhttp_find_header (in, "Cookie"), "sessionid", big, sizeof big) == 0) {
            too_long = strlen (big) >= sizeof key;
            snprintf (key, sizeof key, "%s", big);
            explicit_bzero (big, sizeof big);
        }
    }
    if (too_long) {
        /* Never cut a key down: a prefix could name another session. */
        explicit_bzero (key, sizeof key);
        respond_error (q, 403, OMR_E_SESSION, "the session key is too long to be valid");
        return;
    }
    if (!key[0]) {
        if (q->route.anonymous)
            call (q, NULL);
        else if (q->route.family == RTR_FAMILY_API)
            respond_error (q, 403, OMR_E_SESSION, "Not logged in");
        else
            respond_error (q, 403, OMR_E_SESSION, "%s needs a session: log in (ISession.createSession) and send "
                           "its key in the X-OMERO-Session header", q->route.op);
        return;
    }
    q->session = strdup (key);
    explicit_bzero (key, sizeof key);
    json_t *ctx = rtr_session_cache_get (r->sessions, q->session, omr_mono_ms ());
    if (ctx) {
        /* The cache hands out a fresh object: add this request's ip and agent to it. */
        json_object_set_new (ctx, "ip", json_string (q->ip));
        json_object_set_new (ctx, "agent", json_string (q->agent ? q->agent : ""));
        exch_start (q, q->route.service, q->route.op, ctx, q->body, q->raw, q->idempotent, done_call);
        return;
    }
    json_t *body = json_pack ("{s:s}", "session", q->session);
    char *s = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    q->resolve_body = zframe_new (s, strlen (s));
    explicit_bzero (s, strlen (s));
    free (s);
    /* Nothing may follow: the exchange can answer (and free q) before returning. */
    exch_start (q, "ISession", "ISession.resolve", request_ctx (q, NULL), q->resolve_body, NULL, true, done_resolve);
}
