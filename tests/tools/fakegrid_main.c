/* omero-fakegrid: test scaffolding for the router (never installed). A small registry and a
 * backend server that speak the grid protocol of docs/protocol.md, so the router can be tested
 * before the real registry and Blitz exist, plus a ZeroMQ client for calls and benchmarks.
 *
 *   omero-fakegrid registry --endpoint tcp://127.0.0.1:P [--keydir D] [--policy P] [--expire MS] [--no-pid-check]
 *   omero-fakegrid backend          (environment as omr_server.h: OMERODIR, OMERO_SERVER_ID, OMERO_REGISTRY …)
 *   omero-fakegrid call --endpoint E [--keydir D] OP [JSON]
 *   omero-fakegrid bench --endpoint E --op OP [--conns N] [--seconds S] [--session KEY]
 *
 * Backend operations: IConfig.getVersion, IConfig.getClientConfigValues, ISession.createSession
 * ({username:"alice",password:"secret"}), ISession.resolve (sessions "sess-alice", "sess-bob";
 * "sess-removed" answers RemovedSessionException), ISession.closeSession, Echo.* (body, ctx and
 * raw frames back), Slow.* ({ms}), Big.get ({size}: that many raw bytes), Fail.* ({name,status,
 * message}: an error reply), Die.* (the process kills itself without answering), JsonApi.handle
 * and Webgateway.handle (the request described back as the response body). */
#include "omr_curve.h"
#include "omr_log.h"
#include "omr_msg.h"
#include "omr_rpc.h"
#include "omr_server.h"
#include "omr_util.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *
opt (int argc, char **argv, const char *name, const char *fallback)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp (argv[i], name))
            return argv[i + 1];
    return fallback;
}

static bool
flag (int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp (argv[i], name))
            return true;
    return false;
}

/* ---------------- registry ---------------- */

typedef struct {
    char id[64], kind[32], endpoint[256];
    int pid;
    double load;
    json_t *services;
    bool curve;             /* as the real registry: the server wants the grid's CURVE keys */
    int64_t last;
} entry_t;

static int
registry (int argc, char **argv)
{
    const char *endpoint = opt (argc, argv, "--endpoint", NULL);
    const char *keydir = opt (argc, argv, "--keydir", NULL);
    const char *policy = opt (argc, argv, "--policy", "round-robin");
    int64_t expire = atoll (opt (argc, argv, "--expire", "3000"));
    bool pidcheck = !flag (argc, argv, "--no-pid-check");
    if (!endpoint) {
        fprintf (stderr, "registry needs --endpoint\n");
        return 2;
    }
    zsys_handler_set (NULL);
    signal (SIGTERM, SIG_DFL);
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (sock, 0);
    zactor_t *auth = NULL;
    omr_err_t err = {0};
    if (keydir && (omr_curve_ensure (keydir, &err) < 0 || omr_curve_server (sock, keydir, &auth, &err) < 0)) {
        fprintf (stderr, "curve: %s\n", err.msg);
        return 1;
    }
    if (zsock_bind (sock, "%s", endpoint) < 0) {
        fprintf (stderr, "cannot bind %s\n", endpoint);
        return 1;
    }
    printf ("registry ready on %s\n", endpoint);
    fflush (stdout);
    entry_t entries[64];
    int n = 0;
    long lookups = 0, heartbeats = 0;
    while (true) {
        zmsg_t *m = zmsg_recv (sock);
        if (!m)
            break;
        zframe_t *who = zmsg_pop (m);
        omr_msg_t *req = omr_msg_decode (&m, &err);
        if (!req) {
            zframe_destroy (&who);
            continue;
        }
        const char *op = omr_msg_op (req);
        json_t *b = req->body;
        json_t *reply = json_object ();
        int64_t now = omr_mono_ms ();
        if (!strcmp (op, "Registry.heartbeat")) {
            heartbeats++;
            const char *id = json_string_value (json_object_get (b, "id"));
            int i;
            for (i = 0; i < n; i++)
                if (!strcmp (entries[i].id, id ? id : ""))
                    break;
            if (i == n && n < 64)
                n++;
            if (i < 64) {
                entry_t *e = &entries[i];
                json_decref (e->services);
                snprintf (e->id, sizeof e->id, "%s", id ? id : "?");
                snprintf (e->kind, sizeof e->kind, "%s", json_string_value (json_object_get (b, "kind")) ?: "");
                snprintf (e->endpoint, sizeof e->endpoint, "%s",
                          json_string_value (json_object_get (b, "endpoint")) ?: "");
                e->pid = (int) json_integer_value (json_object_get (b, "pid"));
                e->load = json_number_value (json_object_get (b, "load"));
                e->services = json_incref (json_object_get (b, "services"));
                e->curve = json_is_true (json_object_get (b, "curve"));
                e->last = now;
            }
        }
        else if (!strcmp (op, "Registry.unregister")) {
            const char *id = json_string_value (json_object_get (b, "id"));
            for (int i = 0; i < n; i++)
                if (id && !strcmp (entries[i].id, id))
                    entries[i].last = 0;
        }
        else if (!strcmp (op, "Registry.lookup") || !strcmp (op, "Registry.list")) {
            if (!strcmp (op, "Registry.lookup"))
                lookups++;
            const char *svc = json_string_value (json_object_get (b, "service"));
            const char *id = json_string_value (json_object_get (b, "id"));
            const char *kind = json_string_value (json_object_get (b, "kind"));
            json_t *list = json_array ();
            for (int i = 0; i < n; i++) {
                entry_t *e = &entries[i];
                if (!e->last || now - e->last > expire || (pidcheck && !omr_pid_alive (e->pid)))
                    continue;
                bool match = !svc && !id && !kind;
                if (id && !strcmp (id, e->id))
                    match = true;
                if (kind && !strcmp (kind, e->kind))
                    match = true;
                size_t j;
                json_t *v;
                json_array_foreach (e->services, j, v) if (svc && !strcmp (json_string_value (v), svc)) match = true;
                if (match)
                    json_array_append_new (list, json_pack ("{s:s,s:s,s:s,s:f,s:i,s:s,s:b}", "id", e->id, "node",
                                                            "master", "endpoint", e->endpoint, "load", e->load, "pid",
                                                            e->pid, "kind", e->kind, "curve", e->curve));
            }
            json_object_set_new (reply, "policy", json_string (policy));
            json_object_set_new (reply, "servers", list);
        }
        else if (!strcmp (op, "Fake.stats")) {
            json_object_set_new (reply, "lookups", json_integer (lookups));
            json_object_set_new (reply, "heartbeats", json_integer (heartbeats));
            json_t *ids = json_array ();
            for (int i = 0; i < n; i++)
                if (entries[i].last)
                    json_array_append_new (ids, json_string (entries[i].id));
            json_object_set_new (reply, "ids", ids);
        }
        else if (!strcmp (op, "Fake.stop")) {
            zmsg_t *out = zmsg_new ();
            zmsg_append (out, &who);
            omr_msg_t *rep = omr_msg_new_reply (req, reply);
            out = omr_msg_encode (&rep, out);
            zmsg_send (&out, sock);
            omr_msg_destroy (&req);
            break;
        }
        else {
            json_decref (reply);
            reply = NULL;
        }
        omr_msg_t *rep;
        if (reply)
            rep = omr_msg_new_reply (req, reply);
        else {
            omr_err_set (&err, OMR_E_API, 404, "the fake registry has no operation %s", op);
            rep = omr_msg_new_error (req, &err);
        }
        zmsg_t *out = zmsg_new ();
        zmsg_append (out, &who);
        out = omr_msg_encode (&rep, out);
        zmsg_send (&out, sock);
        omr_msg_destroy (&req);
    }
    for (int i = 0; i < n; i++)
        json_decref (entries[i].services);
    zsock_destroy (&sock);
    zactor_destroy (&auth);
    return 0;
}

/* ---------------- backend ---------------- */

static json_t *
session_ctx (const char *key)
{
    if (!strcmp (key, "sess-alice"))
        return json_pack ("{s:s,s:i,s:s,s:i,s:[i,i],s:[],s:b,s:[],s:n}", "session", key, "userId", 2, "userName",
                          "alice", "groupId", 3, "groupIds", 1, 3, "ownedGroupIds", "admin", 0, "privileges", "sudoer");
    if (!strcmp (key, "sess-bob"))
        return json_pack ("{s:s,s:i,s:s,s:i,s:[i],s:[],s:b,s:[],s:n}", "session", key, "userId", 3, "userName",
                          "bob", "groupId", 4, "groupIds", 4, "ownedGroupIds", "admin", 0, "privileges", "sudoer");
    return NULL;
}

static int
h_config (omr_call_t *call, omr_err_t *err, void *arg)
{
    const char *op = omr_msg_op (call->req);
    if (!strcmp (op, "IConfig.getVersion"))
        call->reply = json_pack ("{s:s,s:s}", "version", "5.6.10", "server", omr_server_id (call->server));
    else if (!strcmp (op, "IConfig.getClientConfigValues"))
        call->reply = json_pack ("{s:s}", "omero.client.ui.tree.type_order", "project");
    else
        return omr_err_set (err, OMR_E_API, 404, "fake backend has no %s", op);
    return 0;
}

static int
h_session (omr_call_t *call, omr_err_t *err, void *arg)
{
    const char *op = omr_msg_op (call->req);
    json_t *b = call->req->body;
    if (!strcmp (op, "ISession.resolve")) {
        const char *key = json_string_value (json_object_get (b, "session"));
        if (!key)
            return omr_err_set (err, OMR_E_API, 400, "ISession.resolve needs {session}");
        if (!strcmp (key, "sess-removed"))
            return omr_err_set (err, OMR_E_REMOVED, 403, "session was closed");
        call->reply = session_ctx (key);
        if (!call->reply)
            return omr_err_set (err, OMR_E_SESSION, 403, "no such session");
        /* Count resolves so that tests can see the router's cache at work. */
        char path[4200];
        const char *dir = getenv ("FAKEGRID_COUNTS");
        if (dir) {
            snprintf (path, sizeof path, "%s/resolve-%s", dir, omr_server_id (call->server));
            FILE *f = fopen (path, "a");
            if (f) {
                fputs ("x", f);
                fclose (f);
            }
        }
        return 0;
    }
    if (!strcmp (op, "ISession.createSession")) {
        const char *u = json_string_value (json_object_get (b, "username"));
        const char *p = json_string_value (json_object_get (b, "password"));
        if (u && p && !strcmp (u, "alice") && !strcmp (p, "secret")) {
            call->reply = json_pack ("{s:s}", "session", "sess-alice");
            return 0;
        }
        return omr_err_set (err, OMR_E_SECURITY, 403, "wrong user name or password");
    }
    if (!strcmp (op, "ISession.closeSession")) {
        /* As Blitz: routers drop the cached contexts of sessions named in "invalidate". */
        const char *key = json_string_value (json_object_get (b, "session"));
        call->reply = json_pack ("{s:b,s:[s]}", "closed", 1, "invalidate", key ? key : "");
        return 0;
    }
    return omr_err_set (err, OMR_E_API, 404, "fake backend has no %s", op);
}

static int
h_echo (omr_call_t *call, omr_err_t *err, void *arg)
{
    json_t *sizes = json_array ();
    for (size_t i = 0; i < call->req->nraw; i++) {
        json_array_append_new (sizes, json_integer ((json_int_t) zframe_size (call->req->raw[i])));
        omr_call_add_raw (call, zframe_data (call->req->raw[i]), zframe_size (call->req->raw[i]));
    }
    json_t *ctx = omr_msg_ctx (call->req);
    call->reply = json_pack ("{s:s,s:O,s:O,s:s,s:o,s:I}", "op", omr_msg_op (call->req), "body", call->req->body, "ctx",
                             ctx ? ctx : json_null (), "server", omr_server_id (call->server), "raw", sizes, "deadline",
                             (json_int_t) omr_msg_deadline (call->req));
    return 0;
}

static int
h_slow (omr_call_t *call, omr_err_t *err, void *arg)
{
    int ms = (int) json_integer_value (json_object_get (call->req->body, "ms"));
    usleep ((useconds_t) ms * 1000);
    call->reply = json_pack ("{s:s,s:i}", "server", omr_server_id (call->server), "slept", ms);
    return 0;
}

static int
h_big (omr_call_t *call, omr_err_t *err, void *arg)
{
    json_int_t size = json_integer_value (json_object_get (call->req->body, "size"));
    if (size < 0 || size > 512 * 1024 * 1024)
        return omr_err_set (err, OMR_E_API, 400, "size out of range");
    unsigned char *buf = malloc ((size_t) size + 1);
    for (json_int_t i = 0; i < size; i++)
        buf[i] = (unsigned char) (i * 7 + 3);
    omr_call_add_raw (call, buf, (size_t) size);
    free (buf);
    call->reply = json_pack ("{s:I,s:s}", "size", size, "server", omr_server_id (call->server));
    return 0;
}

static int
h_fail (omr_call_t *call, omr_err_t *err, void *arg)
{
    json_t *b = call->req->body;
    const char *name = json_string_value (json_object_get (b, "name"));
    const char *msg = json_string_value (json_object_get (b, "message"));
    int status = (int) json_integer_value (json_object_get (b, "status"));
    return omr_err_set (err, name ? name : OMR_E_SECURITY, status ? status : 403, "%s", msg ? msg : "denied");
}

static int
h_die (omr_call_t *call, omr_err_t *err, void *arg)
{
    kill (getpid (), SIGKILL);
    return omr_err_set (err, OMR_E_INTERNAL, 500, "still alive");
}

static int
h_web (omr_call_t *call, omr_err_t *err, void *arg)
{
    json_t *b = call->req->body;
    const char *path = json_string_value (json_object_get (b, "path"));
    json_t *ctx = omr_msg_ctx (call->req);
    size_t bodylen = call->req->nraw ? zframe_size (call->req->raw[0]) : 0;
    json_t *desc = json_pack ("{s:s,s:O,s:O,s:I,s:s}", "op", omr_msg_op (call->req), "request", b, "ctx",
                              ctx ? ctx : json_null (), "bodylen", (json_int_t) bodylen, "server",
                              omr_server_id (call->server));
    char *s = json_dumps (desc, JSON_COMPACT);
    json_decref (desc);
    omr_call_add_raw (call, s, strlen (s));
    free (s);
    json_t *cookies = json_array ();
    if (path && !strcmp (path, "/api/v0/login/"))
        json_array_append_new (cookies, json_string ("sessionid=sess-alice; Path=/; HttpOnly"));
    int status = path && strstr (path, "/missing") ? 404 : 200;
    call->reply = json_pack ("{s:i,s:{s:s,s:s},s:o}", "status", status, "headers", "Content-Type", "application/json",
                             "X-Fake-Server", omr_server_id (call->server), "cookies", cookies);
    return 0;
}

static int
backend (void)
{
    omr_err_t err = {0};
    omr_server_t *srv = omr_server_new ("blitz", &err);
    if (!srv) {
        fprintf (stderr, "backend: %s\n", err.msg);
        return 1;
    }
    const char *w = getenv ("FAKEGRID_WORKERS");
    if (w)
        omr_server_set_workers (srv, atoi (w));
    omr_server_on (srv, "IConfig.*", h_config, NULL);
    omr_server_on (srv, "ISession.*", h_session, NULL);
    omr_server_on (srv, "Echo.*", h_echo, NULL);
    omr_server_on (srv, "Slow.*", h_slow, NULL);
    omr_server_on (srv, "Big.*", h_big, NULL);
    omr_server_on (srv, "Fail.*", h_fail, NULL);
    omr_server_on (srv, "Die.*", h_die, NULL);
    omr_server_on (srv, "JsonApi.*", h_web, NULL);
    omr_server_on (srv, "Webgateway.*", h_web, NULL);
    int rc = omr_server_run (srv, &err);
    omr_server_destroy (&srv);
    return rc == 0 ? 0 : 1;
}

/* ---------------- client ---------------- */

static int
call_cmd (int argc, char **argv)
{
    const char *endpoint = opt (argc, argv, "--endpoint", NULL);
    const char *keydir = opt (argc, argv, "--keydir", NULL);
    const char *op = NULL, *body = "{}";
    for (int i = 2; i < argc; i++) {
        if (!strcmp (argv[i], "--endpoint") || !strcmp (argv[i], "--keydir")) {
            i++;
            continue;
        }
        if (!op)
            op = argv[i];
        else
            body = argv[i];
    }
    if (!endpoint || !op) {
        fprintf (stderr, "call needs --endpoint and OP\n");
        return 2;
    }
    omr_err_t err = {0};
    omr_rpc_t *rpc = omr_rpc_new (endpoint, keydir, &err);
    json_t *b = json_loads (body, JSON_DECODE_ANY, NULL);
    json_t *r = rpc && b ? omr_rpc_call_json (rpc, op, b, 3000, &err) : NULL;
    omr_rpc_destroy (&rpc);
    if (!r) {
        fprintf (stderr, "%s: %s\n", err.name, err.msg);
        return 1;
    }
    char *s = json_dumps (r, JSON_COMPACT | JSON_ENCODE_ANY);
    printf ("%s\n", s);
    free (s);
    json_decref (r);
    return 0;
}

static int
cmp_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

/* Closed-loop load over ZeroMQ: conns DEALERs, each with one request outstanding (as wrk keeps
 * one request per connection), for the router-overhead ratio. Prints req/s and p99. */
static int
bench_cmd (int argc, char **argv)
{
    const char *endpoint = opt (argc, argv, "--endpoint", NULL);
    const char *op = opt (argc, argv, "--op", "IConfig.getVersion");
    const char *session = opt (argc, argv, "--session", NULL);
    int conns = atoi (opt (argc, argv, "--conns", "1"));
    double seconds = atof (opt (argc, argv, "--seconds", "5"));
    const char *keydir = opt (argc, argv, "--keydir", NULL);     /* servers of a keyed grid want CURVE */
    if (!endpoint || conns < 1) {
        fprintf (stderr, "bench needs --endpoint\n");
        return 2;
    }
    zsock_t **socks = calloc ((size_t) conns, sizeof *socks);
    int64_t *sent_at = calloc ((size_t) conns, sizeof *sent_at);
    zpoller_t *poller = zpoller_new (NULL);
    for (int i = 0; i < conns; i++) {
        socks[i] = zsock_new (ZMQ_DEALER);
        if (keydir && omr_curve_client (socks[i], keydir, NULL) < 0) {
            fprintf (stderr, "bench: no grid keys in %s\n", keydir);
            return 2;
        }
        zsock_connect (socks[i], "%s", endpoint);
        zsock_set_linger (socks[i], 0);
        zpoller_add (poller, socks[i]);
    }
    size_t cap = 1 << 20, nlat = 0;
    int64_t *lat = malloc (cap * sizeof *lat);
    json_t *ctx = session ? json_pack ("{s:s,s:s}", "session", session, "ip", "127.0.0.1") : NULL;
    int64_t start = zclock_usecs (), end = start + (int64_t) (seconds * 1e6);
    for (int i = 0; i < conns; i++) {
        omr_msg_t *m = omr_msg_new_request (op, json_object ());
        if (ctx)
            omr_msg_set_ctx (m, json_incref (ctx));
        zmsg_t *z = omr_msg_encode (&m, NULL);
        sent_at[i] = zclock_usecs ();
        zmsg_send (&z, socks[i]);
    }
    long done = 0;
    while (zclock_usecs () < end) {
        zsock_t *s = zpoller_wait (poller, 100);
        if (!s)
            continue;
        int i = 0;
        while (socks[i] != s)
            i++;
        zmsg_t *r = zmsg_recv (s);
        zmsg_destroy (&r);
        int64_t now = zclock_usecs ();
        if (nlat < cap)
            lat[nlat++] = now - sent_at[i];
        done++;
        omr_msg_t *m = omr_msg_new_request (op, json_object ());
        if (ctx)
            omr_msg_set_ctx (m, json_incref (ctx));
        zmsg_t *z = omr_msg_encode (&m, NULL);
        sent_at[i] = zclock_usecs ();
        zmsg_send (&z, s);
    }
    double secs = (double) (zclock_usecs () - start) / 1e6;
    qsort (lat, nlat, sizeof *lat, cmp_i64);
    double p99 = nlat ? (double) lat[(size_t) ((double) nlat * 0.99)] / 1000.0 : 0;
    printf ("{\"requests\": %ld, \"rps\": %.0f, \"p99_ms\": %.2f}\n", done, (double) done / secs, p99);
    json_decref (ctx);
    for (int i = 0; i < conns; i++)
        zsock_destroy (&socks[i]);
    zpoller_destroy (&poller);
    free (socks);
    free (sent_at);
    free (lat);
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: omero-fakegrid registry|backend|call|bench …\n");
        return 2;
    }
    if (!strcmp (argv[1], "registry"))
        return registry (argc, argv);
    if (!strcmp (argv[1], "backend"))
        return backend ();
    if (!strcmp (argv[1], "call"))
        return call_cmd (argc, argv);
    if (!strcmp (argv[1], "bench"))
        return bench_cmd (argc, argv);
    fprintf (stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
