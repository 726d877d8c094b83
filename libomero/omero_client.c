/* omero_client: the public client API (omero.h) over HTTPS with libcurl.
 * One CURL easy handle per client keeps the TLS connection alive between calls; every call is
 * POST /rpc/v1/<Service>/<method> as docs/protocol.md describes. */
#include "omero.h"
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* JSON replies larger than this are refused: a protection against a confused server. */
#define MAX_JSON_REPLY (256u << 20)

struct omero_client_t {
    CURL *curl;
    char *host;
    int port;
    char *ca_file;          /* explicit CA file, NULL for the default choice */
    bool insecure;
    char *agent;
    long timeout_ms;
    char *session;          /* current session key */
    json_t *login_reply;    /* reply of the login/join call */
    char curl_errbuf[CURL_ERROR_SIZE];
};

static int
seterr (omero_err_t *err, const char *name, int status, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
seterr (omero_err_t *err, const char *name, int status, const char *fmt, ...)
{
    if (!err)
        return -1;
    snprintf (err->name, sizeof err->name, "%s", name);
    err->status = status;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err->msg, sizeof err->msg, fmt, ap);
    va_end (ap);
    return -1;
}

const char *
omero_version (void)
{
    return "5.6.10";
}

omero_client_t *
omero_client_new (const char *host, int port, omero_err_t *err)
{
    if (!host || !*host) {
        seterr (err, "ApiUsageException", 0, "no server host given");
        return NULL;
    }
    if (strpbrk (host, "/ \t\r\n?#@")) {
        seterr (err, "DNSException", 0, "bad host name: '%s'", host);
        return NULL;
    }
    if (port <= 0)
        port = OMERO_DEFAULT_PORT;
    if (port > 65535) {
        seterr (err, "ApiUsageException", 0, "bad port: %d", port);
        return NULL;
    }
    omero_client_t *self = calloc (1, sizeof *self);
    if (!self) {
        seterr (err, "ClientError", 0, "out of memory");
        return NULL;
    }
    self->curl = curl_easy_init ();
    self->host = strdup (host);
    self->agent = strdup ("OMERO.c");
    self->port = port;
    if (!self->curl || !self->host || !self->agent) {
        omero_client_destroy (&self);
        seterr (err, "ClientError", 0, "cannot initialise libcurl");
        return NULL;
    }
    return self;
}

void
omero_client_destroy (omero_client_t **pself)
{
    if (!pself || !*pself)
        return;
    omero_client_t *self = *pself;
    if (self->curl)
        curl_easy_cleanup (self->curl);
    free (self->host);
    free (self->ca_file);
    free (self->agent);
    free (self->session);
    json_decref (self->login_reply);
    free (self);
    *pself = NULL;
}

int
omero_client_set_ca_file (omero_client_t *self, const char *path, omero_err_t *err)
{
    if (access (path, R_OK) != 0)
        return seterr (err, "ClientError", 0, "cannot read CA file %s", path);
    free (self->ca_file);
    self->ca_file = strdup (path);
    return 0;
}

void
omero_client_set_insecure (omero_client_t *self, bool insecure)
{
    self->insecure = insecure;
}

void
omero_client_set_agent (omero_client_t *self, const char *agent)
{
    char *a = strdup (agent ? agent : "OMERO.c");
    if (a) {
        free (self->agent);
        self->agent = a;
    }
}

void
omero_client_set_timeout (omero_client_t *self, long ms)
{
    self->timeout_ms = ms < 0 ? 0 : ms;
}

const char *
omero_client_host (const omero_client_t *self)
{
    return self->host;
}

int
omero_client_port (const omero_client_t *self)
{
    return self->port;
}

const char *
omero_client_session (const omero_client_t *self)
{
    return self->session;
}

json_t *
omero_client_login_reply (const omero_client_t *self)
{
    return self->login_reply;
}

/* The CA file to use when none was set: $OMERO_CA, else $OMERODIR/etc/certs/ca.pem if readable,
 * else NULL (the system store). */
static const char *
default_ca (char *buf, size_t len)
{
    const char *env = getenv ("OMERO_CA");
    if (env && *env)
        return env;
    const char *dir = getenv ("OMERODIR");
    if (dir && *dir) {
        snprintf (buf, len, "%s/etc/certs/ca.pem", dir);
        if (access (buf, R_OK) == 0)
            return buf;
    }
    return NULL;
}

/* ---- one HTTP exchange ---- */

typedef struct {
    char *data;
    size_t len, cap;
    bool too_big;
} buf_t;

typedef struct {
    buf_t body;             /* JSON (or error) body */
    bool octet;             /* the reply is application/octet-stream */
    char *result_hdr;       /* X-OMERO-Result value */
    long status;
    omero_sink_fn *sink;
    void *sink_arg;
    bool sink_failed;
    omero_source_fn *source;    /* streamed request body, or NULL */
    void *source_arg;
    size_t source_len, source_sent;
    bool source_failed;
} reply_t;

static int
buf_add (buf_t *b, const void *data, size_t len)
{
    if (b->len + len + 1 > MAX_JSON_REPLY) {
        b->too_big = true;
        return -1;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *n = realloc (b->data, cap);
        if (!n)
            return -1;
        b->data = n;
        b->cap = cap;
    }
    memcpy (b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
    return 0;
}

static size_t
on_body (char *ptr, size_t size, size_t nmemb, void *arg)
{
    reply_t *r = arg;
    size_t n = size * nmemb;
    if (r->octet && r->sink && r->status < 300) {
        if (r->sink (ptr, n, r->sink_arg) != 0) {
            r->sink_failed = true;
            return 0;
        }
        return n;
    }
    return buf_add (&r->body, ptr, n) == 0 ? n : 0;
}

static size_t
on_header (char *ptr, size_t size, size_t nmemb, void *arg)
{
    reply_t *r = arg;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp (ptr, "HTTP/", 5) == 0) {
        /* A new response (after 100-continue): forget what the previous one said. */
        r->octet = false;
        free (r->result_hdr);
        r->result_hdr = NULL;
        const char *sp = memchr (ptr, ' ', n);
        r->status = sp ? strtol (sp + 1, NULL, 10) : 0;
        return n;
    }
    const char *colon = memchr (ptr, ':', n);
    if (!colon)
        return n;
    size_t klen = (size_t) (colon - ptr);
    const char *v = colon + 1, *end = ptr + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    if (klen == 12 && strncasecmp (ptr, "Content-Type", 12) == 0)
        r->octet = (size_t) (end - v) >= 24 && strncasecmp (v, "application/octet-stream", 24) == 0;
    else if (klen == 14 && strncasecmp (ptr, "X-OMERO-Result", 14) == 0) {
        free (r->result_hdr);
        r->result_hdr = strndup (v, (size_t) (end - v));
    }
    return n;
}

static size_t
on_read (char *buf, size_t size, size_t nmemb, void *arg)
{
    reply_t *r = arg;
    size_t cap = size * nmemb;
    if (cap > r->source_len - r->source_sent)
        cap = r->source_len - r->source_sent;
    if (cap == 0)
        return 0;
    long n = r->source (buf, cap, r->source_arg);
    /* A source that ends early would leave the server waiting for the promised length. */
    if (n <= 0 || (size_t) n > cap) {
        r->source_failed = true;
        return CURL_READFUNC_ABORT;
    }
    r->source_sent += (size_t) n;
    return (size_t) n;
}

/* Map a failed transfer to OMERO-style transport exceptions. */
static int
curl_error (omero_client_t *self, CURLcode rc, omero_err_t *err)
{
    const char *detail = self->curl_errbuf[0] ? self->curl_errbuf : curl_easy_strerror (rc);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return seterr (err, "ConnectionRefusedException", 0, "%s:%d isn't running (%s)", self->host,
                       self->port, detail);
    case CURLE_COULDNT_RESOLVE_HOST:
        return seterr (err, "DNSException", 0, "bad host name: '%s'", self->host);
    case CURLE_OPERATION_TIMEDOUT:
        return seterr (err, "TimeoutException", 0, "%s:%d did not answer in time (%s)", self->host,
                       self->port, detail);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
        return seterr (err, "SSLException", 0,
                       "TLS with %s:%d failed: %s (set OMERO_CA to the server's CA certificate file)",
                       self->host, self->port, detail);
    default:
        return seterr (err, "ConnectionLostException", 0, "%s:%d: %s", self->host, self->port, detail);
    }
}

/* Turn an error reply into err: the body is {"error":{"name","message"}} when a server wrote it. */
static int
http_error (omero_client_t *self, reply_t *r, omero_err_t *err)
{
    int status = (int) r->status;
    json_t *j = r->body.data ? json_loads (r->body.data, 0, NULL) : NULL;
    json_t *e = j ? json_object_get (j, "error") : NULL;
    const char *name = e ? json_string_value (json_object_get (e, "name")) : NULL;
    const char *msg = e ? json_string_value (json_object_get (e, "message")) : NULL;
    if (e && json_is_string (e))
        msg = json_string_value (e);
    if (!name)
        name = status == 401 || status == 419 ? "SessionException"
             : status == 403                  ? "SecurityViolation"
             : status == 404                  ? "ApiUsageException"
             : status == 409                  ? "OptimisticLockException"
             : status == 503                  ? "ServiceUnavailable"
             : status >= 500                  ? "InternalException"
                                              : "ApiUsageException";
    char snippet[200] = "";
    if (!msg && r->body.data) {
        snprintf (snippet, sizeof snippet, "%s", r->body.data);
        for (char *p = snippet; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
    }
    seterr (err, name, status, "%s", msg ? msg : *snippet ? snippet : "no message");
    if (!msg && !*snippet)
        snprintf (err->msg, sizeof err->msg, "HTTP %d from %s:%d", status, self->host, self->port);
    json_decref (j);
    return -1;
}

/* POST one request. body/body_len is the JSON text or the raw bytes (octet); args_hdr is the
 * X-OMERO-Args value for octet bodies. On success fills r (status < 300). */
static int
exchange (omero_client_t *self, const char *service, const char *method, const char *body,
          size_t body_len, bool octet, const char *args_hdr, reply_t *r, omero_err_t *err)
{
    if (!service || !method || !*service || !*method || strpbrk (service, "/?# ")
        || strpbrk (method, "/?# "))
        return seterr (err, "ApiUsageException", 0, "bad service or method name: %s.%s",
                       service ? service : "(null)", method ? method : "(null)");
    CURL *c = self->curl;
    curl_easy_reset (c);
    char url[1024];
    bool v6 = strchr (self->host, ':') != NULL;
    snprintf (url, sizeof url, "https://%s%s%s:%d/rpc/v1/%s/%s", v6 ? "[" : "", self->host,
              v6 ? "]" : "", self->port, service, method);
    struct curl_slist *h = NULL;
    char line[4096];
    h = curl_slist_append (h, octet ? "Content-Type: application/octet-stream"
                                    : "Content-Type: application/json");
    h = curl_slist_append (h, "Accept: application/json, application/octet-stream");
    h = curl_slist_append (h, "Expect:");
    if (self->session) {
        snprintf (line, sizeof line, "X-OMERO-Session: %s", self->session);
        h = curl_slist_append (h, line);
    }
    char *argsline = NULL;
    if (octet && args_hdr) {
        if (asprintf (&argsline, "X-OMERO-Args: %s", args_hdr) < 0)
            argsline = NULL;
        if (argsline)
            h = curl_slist_append (h, argsline);
    }
    self->curl_errbuf[0] = 0;
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt (c, CURLOPT_POST, 1L);
    if (r->source) {
        curl_easy_setopt (c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt (c, CURLOPT_READDATA, r);
        curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->source_len);
    }
    else {
        curl_easy_setopt (c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) (body ? body_len : 0));
    }
    curl_easy_setopt (c, CURLOPT_USERAGENT, self->agent);
    curl_easy_setopt (c, CURLOPT_ERRORBUFFER, self->curl_errbuf);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt (c, CURLOPT_HEADERDATA, r);
    /* Left at 0 so libcurl ignores SIGPIPE while it writes: a kept-alive connection the router
     * closed must give an error (and a retry), not kill the program. */
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 0L);
    curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, self->timeout_ms);
    curl_easy_setopt (c, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "https");
    /* The router speaks HTTP/1.1 with keep-alive; HTTP/2 negotiation would only add a round trip. */
    curl_easy_setopt (c, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
    if (self->insecure) {
        curl_easy_setopt (c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt (c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    else {
        char cabuf[4096];
        const char *ca = self->ca_file ? self->ca_file : default_ca (cabuf, sizeof cabuf);
        if (ca)
            curl_easy_setopt (c, CURLOPT_CAINFO, ca);
    }
    CURLcode rc = curl_easy_perform (c);
    curl_slist_free_all (h);
    free (argsline);
    if (r->sink_failed)
        return seterr (err, "ClientError", (int) r->status, "download aborted by the receiver");
    if (r->source_failed)
        return seterr (err, "ClientError", 0, "upload aborted: the source gave %zu of %zu bytes", r->source_sent,
                       r->source_len);
    if (r->body.too_big)
        return seterr (err, "ClientError", (int) r->status, "reply larger than %u MiB",
                       MAX_JSON_REPLY >> 20);
    if (rc != CURLE_OK)
        return curl_error (self, rc, err);
    long code = 0;
    curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &code);
    r->status = code;
    if (code >= 300)
        return http_error (self, r, err);
    return 0;
}

static void
reply_free (reply_t *r)
{
    free (r->body.data);
    free (r->result_hdr);
}

static json_t *
parse_json (const char *text, const char *what, omero_err_t *err)
{
    if (!text || !*text)
        return json_object ();
    json_error_t je;
    json_t *j = json_loads (text, JSON_DECODE_ANY, &je);
    if (!j)
        seterr (err, "ClientError", 0, "server sent invalid JSON in %s: %s", what, je.text);
    return j;
}

static char *
dump_args (json_t *args)
{
    return args ? json_dumps (args, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY) : strdup ("{}");
}

json_t *
omero_client_call (omero_client_t *self, const char *service, const char *method, json_t *args,
                   omero_err_t *err)
{
    char *body = dump_args (args);
    if (!body) {
        seterr (err, "ApiUsageException", 0, "arguments of %s.%s cannot be encoded as JSON", service,
                method);
        return NULL;
    }
    reply_t r = {0};
    json_t *out = NULL;
    if (exchange (self, service, method, body, strlen (body), false, NULL, &r, err) == 0)
        out = parse_json (r.body.data, "the reply", err);
    reply_free (&r);
    free (body);
    return out;
}

char *
omero_client_call_text (omero_client_t *self, const char *service, const char *method,
                        const char *args_json, omero_err_t *err)
{
    json_t *args = NULL;
    if (args_json && *args_json) {
        json_error_t je;
        args = json_loads (args_json, 0, &je);
        if (!args) {
            seterr (err, "ApiUsageException", 0, "arguments are not valid JSON: %s", je.text);
            return NULL;
        }
    }
    json_t *rep = omero_client_call (self, service, method, args, err);
    json_decref (args);
    if (!rep)
        return NULL;
    char *s = json_dumps (rep, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref (rep);
    return s;
}

json_t *
omero_client_upload (omero_client_t *self, const char *service, const char *method, json_t *args,
                     const void *data, size_t len, omero_err_t *err)
{
    char *hdr = dump_args (args);
    if (!hdr) {
        seterr (err, "ApiUsageException", 0, "arguments of %s.%s cannot be encoded as JSON", service,
                method);
        return NULL;
    }
    reply_t r = {0};
    json_t *out = NULL;
    if (exchange (self, service, method, data, data ? len : 0, true, hdr, &r, err) == 0)
        out = parse_json (r.result_hdr ? r.result_hdr : r.body.data, "the reply", err);
    reply_free (&r);
    free (hdr);
    return out;
}

json_t *
omero_client_upload_stream (omero_client_t *self, const char *service, const char *method, json_t *args,
                            omero_source_fn *source, void *source_arg, size_t len, omero_err_t *err)
{
    char *hdr = dump_args (args);
    if (!hdr || !source) {
        free (hdr);
        seterr (err, "ApiUsageException", 0, "arguments of %s.%s cannot be encoded as JSON", service, method);
        return NULL;
    }
    reply_t r = {.source = source, .source_arg = source_arg, .source_len = len};
    json_t *out = NULL;
    if (exchange (self, service, method, NULL, 0, true, hdr, &r, err) == 0)
        out = parse_json (r.result_hdr ? r.result_hdr : r.body.data, "the reply", err);
    reply_free (&r);
    free (hdr);
    return out;
}

int
omero_client_download (omero_client_t *self, const char *service, const char *method, json_t *args,
                       omero_sink_fn *sink, void *sink_arg, json_t **result, omero_err_t *err)
{
    if (result)
        *result = NULL;
    char *body = dump_args (args);
    if (!body)
        return seterr (err, "ApiUsageException", 0, "arguments of %s.%s cannot be encoded as JSON",
                       service, method);
    reply_t r = {.sink = sink, .sink_arg = sink_arg};
    int rc = exchange (self, service, method, body, strlen (body), false, NULL, &r, err);
    free (body);
    if (rc == 0) {
        /* A JSON reply carries no bytes; it is still a valid answer (e.g. an empty read). */
        const char *js = r.octet ? r.result_hdr : r.body.data;
        json_t *j = parse_json (js, r.octet ? "X-OMERO-Result" : "the reply", err);
        if (!j)
            rc = -1;
        else if (result)
            *result = j;
        else
            json_decref (j);
    }
    reply_free (&r);
    return rc;
}

static int
collect (const void *data, size_t len, void *arg)
{
    return buf_add (arg, data, len);
}

int
omero_client_download_buf (omero_client_t *self, const char *service, const char *method,
                           json_t *args, void **data, size_t *len, json_t **result, omero_err_t *err)
{
    buf_t b = {0};
    *data = NULL;
    *len = 0;
    int rc = omero_client_download (self, service, method, args, collect, &b, result, err);
    if (rc < 0) {
        free (b.data);
        return -1;
    }
    *data = b.data ? b.data : calloc (1, 1);
    *len = b.len;
    return 0;
}

/* ---- sessions ---- */

/* The session key in a createSession reply: {"uuid"}, {"session": "…"}, {"session": {"uuid"}},
 * {"sessionUuid"} or a bare string. */
static const char *
reply_uuid (json_t *rep)
{
    if (json_is_string (rep))
        return json_string_value (rep);
    json_t *s = json_object_get (rep, "session");
    if (json_is_string (s))
        return json_string_value (s);
    if (json_is_object (s) && json_is_string (json_object_get (s, "uuid")))
        return json_string_value (json_object_get (s, "uuid"));
    const char *names[] = {"uuid", "sessionUuid", "key", NULL};
    for (int i = 0; names[i]; i++)
        if (json_is_string (json_object_get (rep, names[i])))
            return json_string_value (json_object_get (rep, names[i]));
    json_t *ec = json_object_get (rep, "eventContext");
    if (json_is_object (ec) && json_is_string (json_object_get (ec, "sessionUuid")))
        return json_string_value (json_object_get (ec, "sessionUuid"));
    return NULL;
}

static int
adopt_session (omero_client_t *self, json_t *rep, omero_err_t *err)
{
    const char *uuid = reply_uuid (rep);
    if (!uuid || !*uuid) {
        json_decref (rep);
        return seterr (err, "ClientError", 0, "the server's login reply holds no session key");
    }
    char *k = strdup (uuid);
    free (self->session);
    self->session = k;
    json_decref (self->login_reply);
    self->login_reply = rep;
    return 0;
}

/* ISession.createSession: {username, password, group?, agent, sudo?}. */
static int
create_session (omero_client_t *self, const char *user, const char *password, const char *group,
                const char *sudoer, omero_err_t *err)
{
    if (!user || !*user)
        return seterr (err, "ApiUsageException", 0, "no user name given");
    /* A new login replaces any session this client held; it is not closed (others may use it). */
    free (self->session);
    self->session = NULL;
    json_t *args = json_pack ("{s:s, s:s, s:s}", "username", user, "password", password ? password : "",
                              "agent", self->agent);
    if (group && *group)
        json_object_set_new (args, "group", json_string (group));
    if (sudoer && *sudoer)
        json_object_set_new (args, "sudo", json_string (sudoer));
    json_t *rep = omero_client_call (self, "ISession", "createSession", args, err);
    json_decref (args);
    if (!rep)
        return -1;
    return adopt_session (self, rep, err);
}

int
omero_client_login (omero_client_t *self, const char *user, const char *password, const char *group,
                    omero_err_t *err)
{
    return create_session (self, user, password, group, NULL, err);
}

int
omero_client_login_sudo (omero_client_t *self, const char *sudoer, const char *sudoer_password,
                         const char *user, const char *group, omero_err_t *err)
{
    if (!sudoer || !*sudoer)
        return seterr (err, "ApiUsageException", 0, "no administrator name given for sudo");
    return create_session (self, user, sudoer_password, group, sudoer, err);
}

int
omero_client_join (omero_client_t *self, const char *key, omero_err_t *err)
{
    if (!key || !*key || strpbrk (key, "\r\n"))
        return seterr (err, "ApiUsageException", 0, "no valid session key given");
    char *k = strdup (key);
    free (self->session);
    self->session = k;
    /* Any call validates the key; the event context is what callers want next anyway. */
    json_t *ec = omero_client_call (self, "IAdmin", "getEventContext", NULL, err);
    if (!ec) {
        free (self->session);
        self->session = NULL;
        return -1;
    }
    json_t *rep = json_pack ("{s:s, s:o}", "uuid", key, "eventContext", ec);
    json_decref (self->login_reply);
    self->login_reply = rep;
    return 0;
}

void
omero_client_detach (omero_client_t *self)
{
    free (self->session);
    self->session = NULL;
}

int
omero_client_logout (omero_client_t *self, omero_err_t *err)
{
    if (!self->session)
        return 0;
    json_t *args = json_pack ("{s:s}", "session", self->session);
    json_t *rep = omero_client_call (self, "ISession", "closeSession", args, err);
    json_decref (args);
    omero_client_detach (self);
    if (!rep)
        return -1;
    json_decref (rep);
    return 0;
}

int
omero_client_keepalive (omero_client_t *self, omero_err_t *err)
{
    if (!self->session)
        return seterr (err, "SessionException", 0, "not logged in");
    json_t *args = json_pack ("{s:s}", "session", self->session);
    json_t *rep = omero_client_call (self, "ISession", "keepAlive", args, err);
    json_decref (args);
    if (!rep)
        return -1;
    json_decref (rep);
    return 0;
}

json_t *
omero_client_event_context (omero_client_t *self, omero_err_t *err)
{
    json_t *rep = omero_client_call (self, "IAdmin", "getEventContext", NULL, err);
    /* Tolerate servers that wrap it: {"eventContext": {...}}. */
    json_t *inner = json_object_get (rep, "eventContext");
    if (json_is_object (inner)) {
        json_incref (inner);
        json_decref (rep);
        return inner;
    }
    return rep;
}

int
omero_client_set_group (omero_client_t *self, long long group_id, omero_err_t *err)
{
    json_t *args = json_pack ("{s:I}", "groupId", (json_int_t) group_id);
    json_t *rep = omero_client_call (self, "ISession", "setSecurityContext", args, err);
    json_decref (args);
    if (!rep)
        return -1;
    json_decref (rep);
    return 0;
}

/* ---- JSON helpers ---- */

json_t *
omero_json_find (json_t *obj, const char *names)
{
    if (!json_is_object (obj) || !names)
        return NULL;
    const char *p = names;
    while (*p) {
        const char *bar = strchr (p, '|');
        size_t n = bar ? (size_t) (bar - p) : strlen (p);
        char key[128];
        if (n < sizeof key) {
            memcpy (key, p, n);
            key[n] = 0;
            json_t *v = json_object_get (obj, key);
            if (v && !json_is_null (v)) {
                json_t *inner = json_is_object (v) ? json_object_get (v, "value") : NULL;
                return inner && json_object_size (v) <= 2 && !json_object_get (v, "@id") ? inner : v;
            }
        }
        if (!bar)
            break;
        p = bar + 1;
    }
    return NULL;
}

const char *
omero_json_text (json_t *obj, const char *names, char *buf, size_t len, const char *fallback)
{
    json_t *v = omero_json_find (obj, names);
    if (json_is_string (v))
        return json_string_value (v);
    if (json_is_integer (v)) {
        snprintf (buf, len, "%lld", (long long) json_integer_value (v));
        return buf;
    }
    if (json_is_real (v)) {
        snprintf (buf, len, "%g", json_real_value (v));
        return buf;
    }
    if (json_is_boolean (v))
        return json_is_true (v) ? "True" : "False";
    return fallback;
}

long long
omero_json_int (json_t *obj, const char *names, long long fallback)
{
    json_t *v = omero_json_find (obj, names);
    if (json_is_integer (v))
        return json_integer_value (v);
    if (json_is_real (v))
        return (long long) json_real_value (v);
    if (json_is_string (v)) {
        char *end;
        long long x = strtoll (json_string_value (v), &end, 10);
        return *end == 0 && end != json_string_value (v) ? x : fallback;
    }
    if (json_is_object (v))
        return omero_json_int (v, "@id|id", fallback);
    return fallback;
}

bool
omero_json_bool (json_t *obj, const char *names, bool fallback)
{
    json_t *v = omero_json_find (obj, names);
    if (json_is_boolean (v))
        return json_is_true (v);
    if (json_is_integer (v))
        return json_integer_value (v) != 0;
    if (json_is_string (v))
        return strcasecmp (json_string_value (v), "true") == 0;
    return fallback;
}
