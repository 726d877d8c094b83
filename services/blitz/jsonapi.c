/* jsonapi: the bootstrap part of OMERO's JSON API (versions, base URLs, servers, CSRF token,
 * login, logout) with OMERO.web's status codes and {"message": …} errors. */
#include "jsonapi.h"
#include "jsonapi_m.h"
#include "omr_log.h"
#include "password.h"
#include "session.h"
#include <sys/queue.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_VERSION "0.2"
#define CSRF_FAILED                                                                                                   \
    "CSRF Error. You need to include valid CSRF tokens for any POST, PUT, PATCH or DELETE operations. You have to "   \
    "include CSRF token in the POST data or set the X-CSRFToken header."
#define LOGIN_FAILED "Connection not available, please check your user name and password."

typedef struct {
    blz_app_t *app;
    omr_call_t *call;
    const char *method, *path;
    const json_t *headers, *cookies;
    const char *remote;
    char base[512];             /* "https://host" */
} req_t;

void
blz_jsonapi_reply (omr_call_t *call, int status, json_t *body, json_t *cookies)
{
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    call->reply = json_pack ("{s:i,s:{s:s,s:s},s:o}", "status", status, "headers", "Content-Type",
                             "application/json", "X-OMERO-ApiVersion", API_VERSION, "cookies",
                             cookies ? cookies : json_array ());
    omr_call_add_raw (call, text, strlen (text));
    free (text);
}

static int
error (req_t *r, int status, const char *message)
{
    blz_jsonapi_reply (r->call, status, json_pack ("{s:s}", "message", message), NULL);
    return 0;
}

static const char *
header (req_t *r, const char *name)
{
    return json_string_value (json_object_get (r->headers, name));
}

static const char *
cookie (req_t *r, const char *name)
{
    return json_string_value (json_object_get (r->cookies, name));
}

/* ---- GET bootstrap URLs --------------------------------------------------------------------- */

static int
get_versions (req_t *r)
{
    char url[600];
    snprintf (url, sizeof url, "%s/api/v0/", r->base);
    blz_jsonapi_reply (r->call, 200, json_pack ("{s:[{s:s,s:s}]}", "data", "version", "0", "url:base", url), NULL);
    return 0;
}

static int
get_base (req_t *r)
{
    static const char *links[][2] = {
        {"url:login", "login/"},       {"url:save", "m/save/"},       {"url:projects", "m/projects/"},
        {"url:plates", "m/plates/"},   {"url:datasets", "m/datasets/"}, {"url:token", "token/"},
        {"url:screens", "m/screens/"}, {"url:servers", "servers/"},   {"url:images", "m/images/"},
    };
    json_t *o = json_object ();
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        char url[700];
        snprintf (url, sizeof url, "%s/api/v0/%s", r->base, links[i][1]);
        json_object_set_new (o, links[i][0], json_string (url));
    }
    json_object_set_new (o, "url:schema", json_string (BLZ_SCHEMA_URL));
    blz_jsonapi_reply (r->call, 200, o, NULL);
    return 0;
}

/* omero.web.server_list: [["localhost", 4064, "omero"], …] (OMERO.web's default). */
static json_t *
server_list (blz_app_t *app)
{
    const char *v = omr_config_get (app->config, "omero.web.server_list");
    json_t *list = v ? json_loads (v, 0, NULL) : NULL;
    if (!json_is_array (list)) {
        json_decref (list);
        list = json_pack ("[[s,i,s]]", "localhost", 4064, "omero");
    }
    return list;
}

static int
get_servers (req_t *r)
{
    json_t *list = server_list (r->app), *data = json_array ();
    size_t i;
    json_t *s;
    json_array_foreach (list, i, s) {
        json_t *o = json_pack ("{s:I,s:O,s:O}", "id", (json_int_t) i + 1, "host", json_array_get (s, 0), "port",
                               json_array_get (s, 1));
        json_t *name = json_array_get (s, 2);
        json_object_set (o, "server", name ? name : json_array_get (s, 0));
        json_array_append_new (data, o);
    }
    json_decref (list);
    blz_jsonapi_reply (r->call, 200, json_pack ("{s:o}", "data", data), NULL);
    return 0;
}

static json_t *
csrf_cookie (const char *token)
{
    char c[256];
    snprintf (c, sizeof c, "csrftoken=%s; Max-Age=31449600; Path=/; SameSite=Lax", token);
    return json_pack ("[s]", c);
}

static bool
valid_token (const char *t)
{
    if (!t || strlen (t) < 32 || strlen (t) > 64)
        return false;
    for (const char *p = t; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

static int
get_token (req_t *r)
{
    char token[33];
    const char *have = cookie (r, "csrftoken");
    omr_err_t err = {0};
    if (valid_token (have))
        snprintf (token, sizeof token, "%s", have);
    else if (blz_password_random (token, sizeof token, &err) < 0)
        return error (r, 500, err.msg);
    blz_jsonapi_reply (r->call, 200, json_pack ("{s:s}", "data", token), csrf_cookie (token));
    return 0;
}

/* ---- POST: form fields, CSRF, login, logout ------------------------------------------------- */

/* The request's parameters as a JSON object: a JSON body, or a urlencoded form. */
static json_t *
params (req_t *r)
{
    const omr_msg_t *m = r->call->req;
    const char *ct = header (r, "content-type");
    size_t len = m->nraw ? zframe_size (m->raw[0]) : 0;
    char *text = malloc (len + 1);
    if (len)
        memcpy (text, zframe_data (m->raw[0]), len);
    text[len] = 0;
    json_t *out = NULL;
    if (ct && strstr (ct, "application/json")) {
        out = json_loads (text, 0, NULL);
        if (!json_is_object (out)) {
            json_decref (out);
            out = NULL;
        }
    }
    else {
        struct evkeyvalq q;
        TAILQ_INIT (&q);
        if (evhttp_parse_query_str (text, &q) == 0) {
            out = json_object ();
            struct evkeyval *kv;
            TAILQ_FOREACH (kv, &q, next)
                json_object_set_new (out, kv->key, json_string (kv->value));
        }
        evhttp_clear_headers (&q);
    }
    free (text);
    return out;
}

static bool
same_token (const char *a, const char *b)
{
    if (!a || !b || strlen (a) != strlen (b))
        return false;
    return CRYPTO_memcmp (a, b, strlen (a)) == 0;
}

/* Django's rule: the csrftoken cookie must be present and the same token must come back in the
 * X-CSRFToken header or the form (csrfmiddlewaretoken, or the seed's csrftoken). */
static bool
csrf_ok (req_t *r, const json_t *form)
{
    const char *c = cookie (r, "csrftoken");
    if (!valid_token (c))
        return false;
    const char *sent = header (r, "x-csrftoken");
    if (!sent)
        sent = json_string_value (json_object_get (form, "csrfmiddlewaretoken"));
    if (!sent)
        sent = json_string_value (json_object_get (form, "csrftoken"));
    return same_token (c, sent);
}

/* A form field as text (JSON bodies may give numbers); buf holds the text of a number. */
static const char *
form_str (const json_t *form, const char *key, char buf[24])
{
    json_t *v = json_object_get (form, key);
    if (json_is_integer (v)) {
        snprintf (buf, 24, "%lld", (long long) json_integer_value (v));
        return buf;
    }
    return json_string_value (v);
}

static int
post_login (req_t *r)
{
    json_t *form = params (r);
    if (!form)
        return error (r, 400, "the request body is neither a form nor a JSON object");
    if (!csrf_ok (r, form)) {
        json_decref (form);
        return error (r, 403, CSRF_FAILED);
    }
    char b1[24], b2[24], b3[24];
    const char *server = form_str (form, "server", b1), *user = form_str (form, "username", b2),
               *pass = form_str (form, "password", b3);
    char msg[256] = "";
    if (!user || !*user)
        strcat (msg, "Username: This field is required. ");
    if (!pass || !*pass)
        strcat (msg, "Password: This field is required. ");
    json_t *list = server_list (r->app);
    long sid = server && *server ? strtol (server, NULL, 10) : 1;
    if (sid < 1 || sid > (long) json_array_size (list))
        strcat (msg, "Server: Select a valid choice. ");
    json_decref (list);
    if (msg[0]) {
        msg[strlen (msg) - 1] = 0;
        json_decref (form);
        return error (r, 403, msg);
    }
    blz_login_t login = {.name = user, .password = pass, .agent = "OMERO.api", .ip = r->remote, .tti = -1, .ttl = -1};
    blz_db_t *db = blz_app_db (r->app, r->call);
    blz_ctx_t ctx;
    omr_err_t err = {0};
    int rc = blz_session_login (r->app, db, &login, &ctx, &err);
    json_decref (form);
    if (rc < 0) {
        if (err.status >= 500)
            return error (r, err.status, err.msg);
        return error (r, 403, strcmp (err.name, "PermissionDeniedException") ? err.msg : LOGIN_FAILED);
    }
    json_t *ec = blz_session_event_context (r->app, db, &ctx, &err);
    if (!ec)
        return error (r, 500, err.msg);
    char c[256];
    snprintf (c, sizeof c, "sessionid=%s; HttpOnly; Path=/; SameSite=Lax", ctx.session);
    blz_jsonapi_reply (r->call, 200, json_pack ("{s:o,s:b}", "eventContext", ec, "success", 1), json_pack ("[s]", c));
    return 0;
}

static int
post_logout (req_t *r)
{
    json_t *form = params (r);
    bool ok = csrf_ok (r, form);
    json_decref (form);
    if (!ok)
        return error (r, 403, CSRF_FAILED);
    const char *uuid = cookie (r, "sessionid");
    if (!uuid)
        uuid = json_string_value (json_object_get (omr_msg_ctx (r->call->req), "session"));
    if (!uuid)
        return error (r, 403, "Not logged in");
    omr_err_t err = {0};
    if (blz_session_close (r->app, blz_app_db (r->app, r->call), uuid, &err) < 0 && err.status >= 500)
        return error (r, err.status, err.msg);
    blz_jsonapi_reply (r->call, 200, json_pack ("{s:b}", "success", 1),
                       json_pack ("[s]", "sessionid=; Max-Age=0; HttpOnly; Path=/; SameSite=Lax"));
    json_object_set_new (r->call->reply, "invalidate", json_pack ("[s]", uuid));
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static const struct {
    const char *path, *method;
    int (*fn) (req_t *);
} routes[] = {
    {"/api/", "GET", get_versions},         {"/api/v0/", "GET", get_base},
    {"/api/v0/servers/", "GET", get_servers}, {"/api/v0/token/", "GET", get_token},
    {"/api/v0/login/", "POST", post_login},   {"/api/v0/logout/", "POST", post_logout},
};

static int
handle (omr_call_t *call, omr_err_t *err, void *arg)
{
    const json_t *b = call->req->body;
    req_t r = {.app = arg, .call = call};
    r.method = blz_str (b, "method");
    r.path = blz_str (b, "path");
    r.headers = json_object_get (b, "headers");
    r.cookies = json_object_get (b, "cookies");
    r.remote = blz_str (b, "remote");
    if (!r.method || !r.path)
        return omr_err_set (err, OMR_E_API, 400, "JsonApi.handle needs method and path");
    const char *host = header (&r, "host"), *proto = header (&r, "x-forwarded-proto");
    const char *absolute = omr_config_get (r.app->config, "omero.web.api.absolute_url");
    if (absolute && *absolute)
        snprintf (r.base, sizeof r.base, "%s", absolute);
    else
        snprintf (r.base, sizeof r.base, "%s://%s", proto ? proto : "https", host ? host : "localhost");
    size_t bl = strlen (r.base);
    if (bl && r.base[bl - 1] == '/')
        r.base[bl - 1] = 0;
    /* Django appends the slash: /api/v0 is /api/v0/. */
    char path[512];
    snprintf (path, sizeof path, "%s", r.path);
    char *q = strchr (path, '?');
    if (q)
        *q = 0;
    if (path[0] && path[strlen (path) - 1] != '/' && strlen (path) + 1 < sizeof path)
        strcat (path, "/");
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp (routes[i].path, path) != 0)
            continue;
        path_known = true;
        if (!strcmp (routes[i].method, r.method) || (!strcmp (routes[i].method, "GET") && !strcmp (r.method, "HEAD")))
            return routes[i].fn (&r);
    }
    if (path_known)
        return error (&r, 405, "Method not allowed");
    if (!strncmp (path, "/api/v0/m/", 10)) {
        blz_jsonapi_req_t m = {.app = r.app, .call = call, .method = r.method, .path = path,
                               .query = blz_str (b, "query") ? blz_str (b, "query") : "", .headers = r.headers,
                               .cookies = r.cookies, .base = r.base};
        return blz_jsonapi_m_handle (&m);
    }
    return error (&r, 404, "Not found");
}

void
blz_jsonapi_register (blz_app_t *app)
{
    omr_server_on (app->server, "JsonApi.handle", handle, app);
}
