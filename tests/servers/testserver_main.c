/* omero-testserver: a tiny grid server for supervision tests (never installed).
 * Serves Test.echo, Test.whoami, Test.sleep {ms}, Test.log {lines}, Test.exit {code}; with --exit-now CODE it
 * exits at start (a server crashing in a loop), with --crash-after MS it exits 1 later. */
#include "omr_log.h"
#include "omr_server.h"
#include "omr_util.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
echo (omr_call_t *call, omr_err_t *err, void *arg)
{
    call->reply = json_incref (call->req->body);
    for (size_t i = 0; i < call->req->nraw; i++)
        omr_call_add_raw (call, zframe_data (call->req->raw[i]), zframe_size (call->req->raw[i]));
    return 0;
}

static int
whoami (omr_call_t *call, omr_err_t *err, void *arg)
{
    json_t *ctx = omr_msg_ctx (call->req);
    call->reply = json_pack ("{s:s,s:i,s:s,s:O?}", "id", omr_server_id (call->server), "pid", (int) getpid (),
                             "node", omr_server_node (call->server), "ctx", ctx);
    const char *p = omr_config_get (omr_server_config (call->server), "test.property");
    if (p)
        json_object_set_new (call->reply, "property", json_string (p));
    return 0;
}

static int
sleeper (omr_call_t *call, omr_err_t *err, void *arg)
{
    int ms = (int) json_integer_value (json_object_get (call->req->body, "ms"));
    usleep ((useconds_t) ms * 1000);
    call->reply = json_pack ("{s:i}", "slept", ms);
    return 0;
}

static int
do_log (omr_call_t *call, omr_err_t *err, void *arg)
{
    int n = (int) json_integer_value (json_object_get (call->req->body, "lines"));
    for (int i = 0; i < n; i++)
        omr_info ("log line %d asked for by a test, padded to make the file grow quickly .........", i);
    call->reply = json_pack ("{s:i}", "lines", n);
    return 0;
}

static int
do_exit (omr_call_t *call, omr_err_t *err, void *arg)
{
    _exit ((int) json_integer_value (json_object_get (call->req->body, "code")));
}

static void *
crash_later (void *arg)
{
    usleep ((useconds_t) (long) arg * 1000);
    _exit (1);
}

int
main (int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--exit-now") && i + 1 < argc) {
            fprintf (stderr, "testserver: exiting at start with %s as asked\n", argv[i + 1]);
            return atoi (argv[i + 1]);
        }
        if (!strcmp (argv[i], "--crash-after") && i + 1 < argc) {
            pthread_t t;
            pthread_create (&t, NULL, crash_later, (void *) (long) atoi (argv[i + 1]));
            pthread_detach (t);
        }
    }
    omr_err_t err = {0};
    omr_server_t *srv = omr_server_new ("test", &err);
    if (!srv) {
        fprintf (stderr, "testserver: %s\n", err.msg);
        return 1;
    }
    omr_server_on (srv, "Test.echo", echo, NULL);
    omr_server_on (srv, "Test.whoami", whoami, NULL);
    omr_server_on (srv, "Test.sleep", sleeper, NULL);
    omr_server_on (srv, "Test.exit", do_exit, NULL);
    omr_server_on (srv, "Test.log", do_log, NULL);
    int rc = omr_server_run (srv, &err);
    if (rc < 0)
        omr_error ("%s", err.msg);
    omr_server_destroy (&srv);
    return rc < 0 ? 1 : 0;
}
