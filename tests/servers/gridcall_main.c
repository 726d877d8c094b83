/* omero-gridcall: test tool: call one grid operation and print the JSON reply.
 *   omero-gridcall registry OP [JSON]          call the registry of $OMERODIR
 *   omero-gridcall service NAME OP [JSON]      look NAME up in the registry, call one instance
 *   omero-gridcall endpoint tcp://… OP [JSON]  call an endpoint directly
 * Options before the mode: --timeout MS, --count N (repeat, print calls/s), --ctx JSON.
 * Exit 0 on success, 1 on an error reply (printed as {"error":…}), 3 on no answer. */
#include "omr_config.h"
#include "omr_curve.h"
#include "omr_rpc.h"
#include "omr_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
    int timeout = 5000, count = 1, inflight = 1, i = 1;
    json_t *ctx = NULL;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp (argv[i], "--timeout") && i + 1 < argc)
            timeout = atoi (argv[++i]);
        else if (!strcmp (argv[i], "--count") && i + 1 < argc)
            count = atoi (argv[++i]);
        else if (!strcmp (argv[i], "--inflight") && i + 1 < argc)
            inflight = atoi (argv[++i]);
        else if (!strcmp (argv[i], "--ctx") && i + 1 < argc)
            ctx = json_loads (argv[++i], 0, NULL);
    }
    if (argc - i < 2) {
        fprintf (stderr, "usage: omero-gridcall [--timeout MS] [--count N] registry OP [JSON] | service NAME OP "
                         "[JSON] | endpoint EP OP [JSON]\n");
        return 2;
    }
    omr_err_t err = {0};
    char *omerodir = omr_omerodir (&err);
    omr_config_t *cfg = omerodir ? omr_config_load_omerodir (omerodir, &err) : NULL;
    if (!cfg) {
        fprintf (stderr, "%s\n", err.msg);
        return 2;
    }
    char reg[256], keydir[4200];
    snprintf (reg, sizeof reg, "tcp://%s:%d", omr_config_get (cfg, "omero.master.host"),
              omr_config_port (cfg, "omero.ports.registry"));
    snprintf (keydir, sizeof keydir, "%s/etc/grid/keys", omerodir);
    const char *mode = argv[i++];
    char endpoint[512] = "";
    const char *keys = NULL;
    if (!strcmp (mode, "registry")) {
        snprintf (endpoint, sizeof endpoint, "%s", reg);
        keys = keydir;
    }
    else if (!strcmp (mode, "endpoint")) {
        snprintf (endpoint, sizeof endpoint, "%s", argv[i++]);
        /* Servers of an installation with grid keys accept only key holders. */
        char secret[4300];
        snprintf (secret, sizeof secret, "%s/registry.key_secret", keydir);
        if (access (secret, R_OK) == 0 && !getenv ("OMERO_GRIDCALL_NOKEYS"))
            keys = keydir;
    }
    else if (!strcmp (mode, "service")) {
        const char *name = argv[i++];
        omr_rpc_t *r = omr_rpc_new (reg, keydir, &err);
        json_t *l = r ? omr_rpc_call_json (r, "Registry.lookup", json_pack ("{s:s}", "service", name), timeout, &err)
                      : NULL;
        omr_rpc_destroy (&r);
        json_t *first = json_array_get (json_object_get (l, "servers"), 0);
        if (!first) {
            fprintf (stderr, "no instance of %s: %s\n", name, err.msg);
            json_decref (l);
            return 3;
        }
        snprintf (endpoint, sizeof endpoint, "%s", json_string_value (json_object_get (first, "endpoint")));
        if (json_is_true (json_object_get (first, "curve")))
            keys = keydir;
        json_decref (l);
    }
    if (i >= argc) {
        fprintf (stderr, "missing OP\n");
        return 2;
    }
    const char *op = argv[i++];
    json_t *body = i < argc ? json_loads (argv[i], JSON_DECODE_ANY, NULL) : json_object ();
    if (!body) {
        fprintf (stderr, "bad JSON body\n");
        return 2;
    }
    if (inflight > 1) {
        /* Throughput: keep `inflight` requests outstanding on one DEALER until count replies. */
        zsock_t *d = zsock_new (ZMQ_DEALER);
        zsock_set_sndhwm (d, 0);
        zsock_set_rcvhwm (d, 0);
        if (keys && omr_curve_client (d, keys, &err) < 0) {
            fprintf (stderr, "%s\n", err.msg);
            return 2;
        }
        zsock_connect (d, "%s", endpoint);
        int sent = 0, got = 0, errors = 0;
        int64_t t0 = omr_mono_ms ();
        while (got < count) {
            while (sent < count && sent - got < inflight) {
                omr_msg_t *req = omr_msg_new_request (op, json_incref (body));
                zmsg_t *z = omr_msg_encode (&req, NULL);
                zmsg_send (&z, d);
                sent++;
            }
            zsock_set_rcvtimeo (d, timeout);
            zmsg_t *in = zmsg_recv (d);
            if (!in) {
                fprintf (stderr, "timeout after %d replies\n", got);
                zsock_destroy (&d);
                return 3;
            }
            omr_msg_t *m = omr_msg_decode (&in, NULL);
            if (!m || omr_msg_status (m) != 200)
                errors++;
            omr_msg_destroy (&m);
            got++;
        }
        int64_t ms = omr_mono_ms () - t0;
        fprintf (stderr, "%d calls (%d in flight, %d errors) in %lld ms: %.0f calls/s\n", count, inflight, errors,
                 (long long) ms, count * 1000.0 / (double) (ms + 1));
        zsock_destroy (&d);
        json_decref (body);
        omr_config_destroy (&cfg);
        free (omerodir);
        return errors ? 1 : 0;
    }
    omr_rpc_t *rpc = omr_rpc_new (endpoint, keys, &err);
    int rc = 0;
    int64_t t0 = omr_mono_ms ();
    for (int k = 0; k < count && rpc; k++) {
        omr_msg_t *req = omr_msg_new_request (op, json_incref (body));
        if (ctx)
            omr_msg_set_ctx (req, json_incref (ctx));
        omr_msg_t *rep = omr_rpc_call (rpc, &req, timeout, &err);
        if (!rep) {
            printf ("{\"error\":{\"name\":\"%s\",\"message\":\"no answer\"}}\n", err.name);
            rc = 3;
            break;
        }
        if (k == count - 1) {
            omr_err_t e = {0};
            if (omr_msg_error (rep, &e) < 0) {
                json_t *o = json_pack ("{s:{s:s,s:s,s:i}}", "error", "name", e.name, "message", e.msg, "status",
                                       e.status);
                char *s = json_dumps (o, JSON_COMPACT);
                printf ("%s\n", s);
                free (s);
                json_decref (o);
                rc = 1;
            }
            else {
                char *s = json_dumps (rep->body, JSON_COMPACT | JSON_ENCODE_ANY);
                printf ("%s\n", s);
                free (s);
            }
        }
        omr_msg_destroy (&rep);
    }
    if (count > 1 && rc == 0)
        fprintf (stderr, "%d calls in %lld ms: %.0f calls/s\n", count, (long long) (omr_mono_ms () - t0),
                 count * 1000.0 / (double) (omr_mono_ms () - t0 + 1));
    if (!rpc)
        rc = 3;
    omr_rpc_destroy (&rpc);
    json_decref (body);
    json_decref (ctx);
    omr_config_destroy (&cfg);
    free (omerodir);
    return rc;
}
