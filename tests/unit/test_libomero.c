/* Unit tests of libomero's core: configuration, envelope, RPC + server framework, log rotation. */
#include "omr_config.h"
#include "omr_log.h"
#include "omr_msg.h"
#include "omr_rpc.h"
#include "omr_server.h"
#include "omr_util.h"
#include "unit.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void
test_config (void)
{
    omr_config_t *c = omr_config_new ();
    CHECK_STR (omr_config_get (c, "omero.ports.ssl"), "4064");
    CHECK_INT (omr_config_port (c, "omero.ports.ssl"), 4064);
    omr_config_set (c, "omero.ports.prefix", "1");
    CHECK_INT (omr_config_port (c, "omero.ports.registry"), 14061);
    omr_config_set (c, "omero.ports.prefix", "9");
    CHECK_INT (omr_config_port (c, "omero.ports.ssl"), -1);         /* 94064 is no port */
    omr_config_set (c, "omero.x", "a \"quoted\" value\nwith newline");
    omr_config_set (c, "omero.ports.prefix", NULL);
    CHECK (omr_config_get_set (c, "omero.ports.prefix") == NULL);
    CHECK_INT (omr_config_get_int (c, "omero.sessions.timeout", 0), 600000);
    CHECK (omr_config_get_bool (c, "omero.router.insecure", true) == false);
    char path[512];
    snprintf (path, sizeof path, "%s/config.yaml", tmpdir);
    omr_err_t err = {0};
    CHECK_INT (omr_config_save_file (c, path, &err), 0);
    omr_config_t *d = omr_config_new ();
    CHECK_INT (omr_config_load_file (d, path, &err), 0);
    CHECK_STR (omr_config_get (d, "omero.x"), "a \"quoted\" value\nwith newline");
    CHECK_INT (omr_config_size (d), 1);
    omr_config_destroy (&d);
    omr_config_destroy (&c);
    CHECK (c == NULL);
    /* Malformed YAML names the line; a missing file is no error. */
    snprintf (path, sizeof path, "%s/bad.yaml", tmpdir);
    FILE *f = fopen (path, "w");
    fputs ("a: 1\nb: [1, 2\n", f);
    fclose (f);
    c = omr_config_new ();
    CHECK_INT (omr_config_load_file (c, path, &err), -1);
    CHECK (strstr (err.msg, "bad.yaml:") != NULL);
    CHECK_INT (omr_config_load_file (c, "/nonexistent/config.yaml", &err), 0);
    omr_config_destroy (&c);
}

static void
test_msg (void)
{
    omr_msg_t *req = omr_msg_new_request ("IConfig.getVersion", json_pack ("{s:i}", "a", 1));
    omr_msg_set_ctx (req, json_pack ("{s:s}", "session", "abc"));
    omr_msg_add_raw (req, "\0\1\2", 3);
    char id[64];
    snprintf (id, sizeof id, "%s", omr_msg_id (req));
    zmsg_t *z = omr_msg_encode (&req, NULL);
    CHECK (req == NULL);
    CHECK_INT (zmsg_size (z), 3);
    omr_err_t err = {0};
    omr_msg_t *back = omr_msg_decode (&z, &err);
    CHECK (back != NULL);
    CHECK_STR (omr_msg_op (back), "IConfig.getVersion");
    CHECK_STR (omr_msg_id (back), id);
    CHECK_STR (json_string_value (json_object_get (omr_msg_ctx (back), "session")), "abc");
    CHECK_INT (json_integer_value (json_object_get (back->body, "a")), 1);
    CHECK_INT (back->nraw, 1);
    CHECK_INT (zframe_size (back->raw[0]), 3);
    omr_err_set (&err, OMR_E_SECURITY, 403, "no");
    omr_msg_t *e = omr_msg_new_error (back, &err);
    omr_err_t out = {0};
    CHECK_INT (omr_msg_error (e, &out), -1);
    CHECK_STR (out.name, OMR_E_SECURITY);
    CHECK_INT (out.status, 403);
    omr_msg_destroy (&e);
    omr_msg_destroy (&back);
    /* Malformed input: one frame, bad JSON, other protocol version. */
    z = zmsg_new ();
    zmsg_addstr (z, "{}");
    CHECK (omr_msg_decode (&z, &err) == NULL);
    z = zmsg_new ();
    zmsg_addstr (z, "{not json");
    zmsg_addstr (z, "null");
    CHECK (omr_msg_decode (&z, &err) == NULL);
    CHECK_INT (err.status, 400);
    z = zmsg_new ();
    zmsg_addstr (z, "{\"v\":99,\"op\":\"x\"}");
    zmsg_addstr (z, "null");
    CHECK (omr_msg_decode (&z, &err) == NULL);
    CHECK (strstr (err.msg, "version") != NULL);
}

static int
h_echo (omr_call_t *call, omr_err_t *err, void *arg)
{
    call->reply = json_incref (call->req->body);
    if (call->req->nraw)
        omr_call_add_raw (call, zframe_data (call->req->raw[0]), zframe_size (call->req->raw[0]));
    return 0;
}

static int
h_fail (omr_call_t *call, omr_err_t *err, void *arg)
{
    return omr_err_set (err, OMR_E_VALIDATION, 400, "bad %s", "input");
}

static int
h_slow (omr_call_t *call, omr_err_t *err, void *arg)
{
    usleep (300000);
    call->reply = json_true ();
    return 0;
}

static void *
serve (void *arg)
{
    omr_server_run ((omr_server_t *) arg, NULL);
    return NULL;
}

static void
test_server_rpc (void)
{
    setenv ("OMERODIR", tmpdir, 1);
    setenv ("OMERO_SERVER_ID", "Unit-0", 1);
    setenv ("OMERO_REGISTRY", "tcp://127.0.0.1:9", 1);     /* nobody: heartbeats just fail */
    omr_err_t err = {0};
    omr_server_t *srv = omr_server_new ("unit", &err);
    CHECK (srv != NULL);
    if (!srv)
        return;
    omr_server_set_workers (srv, 2);
    omr_server_on (srv, "Unit.echo", h_echo, NULL);
    omr_server_on (srv, "Fail.*", h_fail, NULL);
    omr_server_on (srv, "Unit.slow", h_slow, NULL);
    pthread_t t;
    pthread_create (&t, NULL, serve, srv);
    for (int i = 0; i < 100 && !omr_server_endpoint (srv)[0]; i++)
        usleep (10000);
    omr_rpc_t *rpc = omr_rpc_new (omr_server_endpoint (srv), NULL, &err);
    json_t *r = omr_rpc_call_json (rpc, "Unit.echo", json_pack ("{s:s}", "x", "y"), 2000, &err);
    CHECK_STR (json_string_value (json_object_get (r, "x")), "y");
    json_decref (r);
    omr_msg_t *req = omr_msg_new_request ("Unit.echo", NULL);
    omr_msg_add_raw (req, "bytes", 5);
    omr_msg_t *rep = omr_rpc_call (rpc, &req, 2000, &err);
    CHECK (rep && rep->nraw == 1 && zframe_size (rep->raw[0]) == 5);
    omr_msg_destroy (&rep);
    CHECK (omr_rpc_call_json (rpc, "Fail.anything", NULL, 2000, &err) == NULL);
    CHECK_STR (err.name, OMR_E_VALIDATION);
    CHECK_STR (err.msg, "bad input");
    CHECK (omr_rpc_call_json (rpc, "Unit.nothing", NULL, 2000, &err) == NULL);
    CHECK_INT (err.status, 404);
    /* A deadline already past is refused without running the handler. */
    req = omr_msg_new_request ("Unit.slow", NULL);
    omr_msg_set_deadline (req, omr_now_ms () - 1);
    rep = omr_rpc_call (rpc, &req, 2000, &err);
    CHECK (rep && omr_msg_status (rep) == 504);
    omr_msg_destroy (&rep);
    /* A timeout reports ServiceUnavailable and the next call is not confused by the late reply. */
    CHECK (omr_rpc_call_json (rpc, "Unit.slow", NULL, 50, &err) == NULL);
    CHECK_STR (err.name, OMR_E_UNAVAIL);
    r = omr_rpc_call_json (rpc, "Unit.echo", json_string ("after"), 2000, &err);
    CHECK_STR (json_string_value (r), "after");
    json_decref (r);
    omr_rpc_destroy (&rpc);
    omr_server_stop (srv);
    pthread_join (t, NULL);
    omr_server_destroy (&srv);
}

static void
test_log_rotation (void)
{
    char path[512];
    snprintf (path, sizeof path, "%s/unit.log", tmpdir);
    fflush (stdout);
    int saved = dup (2), saved_out = dup (1);     /* rotation points fds 1 and 2 at the new file */
    int fd = open (path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2 (fd, 2);
    close (fd);
    omr_log_init (path, 2000, 2, OMR_LOG_INFO, "Unit");
    for (int i = 0; i < 200; i++)
        omr_info ("line %d of a log that must rotate", i);
    omr_debug ("below the level: never written");
    dup2 (saved, 2);
    dup2 (saved_out, 1);
    close (saved);
    close (saved_out);
    omr_log_init ("", 0, 0, OMR_LOG_INFO, "Unit");
    struct stat st;
    char p1[600], p2[600], p3[600];
    snprintf (p1, sizeof p1, "%s.1", path);
    snprintf (p2, sizeof p2, "%s.2", path);
    snprintf (p3, sizeof p3, "%s.3", path);
    CHECK (stat (path, &st) == 0 && st.st_size <= 2200);
    CHECK (stat (p1, &st) == 0);
    CHECK (stat (p2, &st) == 0);
    CHECK (stat (p3, &st) != 0);                    /* lognum = 2 */
    char *text = omr_read_file (path, NULL, NULL);
    CHECK (text && strstr (text, "line 199") && !strstr (text, "below the level"));
    free (text);
}

int
main (void)
{
    snprintf (tmpdir, sizeof tmpdir, "/tmp/omero-unit-XXXXXX");
    if (!mkdtemp (tmpdir))
        return 1;
    RUN (test_config);
    RUN (test_msg);
    RUN (test_server_rpc);
    RUN (test_log_rotation);
    char cmd[300];
    snprintf (cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", tmpdir);
    return UNIT_DONE ();
}
