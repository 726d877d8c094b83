/* omero-rpc: test tool that sends one envelope to a grid endpoint and prints the reply as one
 * JSON line {"status", "error", "body", "raw":[frames as text], "ms"}.
 *
 *   omero-rpc [-s SESSION] [-c CTX_JSON] [-r FILE] [-n N] [-t MS] ENDPOINT OP [BODY_JSON]
 *
 * -s resolves SESSION with ISession.resolve on the same endpoint first and sends the resulting
 * ctx (what the router does); -c sends a ctx given literally; -r attaches FILE as raw frame 0;
 * -n repeats the call N times and reports the mean and minimum time per call. */
#include "omr_msg.h"
#include "omr_rpc.h"
#include "omr_util.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
usage (void)
{
    fprintf (stderr, "usage: omero-rpc [-s SESSION] [-c CTX_JSON] [-r FILE] [-n N] [-t MS] ENDPOINT OP [BODY_JSON]\n");
}

static json_t *
frame_json (zframe_t *f)
{
    json_t *s = json_stringn ((const char *) zframe_data (f), zframe_size (f));
    if (s)
        return s;
    char *hex = zframe_strhex (f);
    s = json_pack ("{s:s}", "hex", hex);
    free (hex);
    return s;
}

int
main (int argc, char **argv)
{
    const char *session = NULL, *ctxtext = NULL, *rawfile = NULL;
    int n = 1, timeout = 30000, c;
    while ((c = getopt (argc, argv, "s:c:r:n:t:h")) != -1) {
        switch (c) {
        case 's': session = optarg; break;
        case 'c': ctxtext = optarg; break;
        case 'r': rawfile = optarg; break;
        case 'n': n = atoi (optarg) > 0 ? atoi (optarg) : 1; break;
        case 't': timeout = atoi (optarg); break;
        default: usage (); return 2;
        }
    }
    if (argc - optind < 2) {
        usage ();
        return 2;
    }
    const char *endpoint = argv[optind], *op = argv[optind + 1];
    const char *bodytext = argc - optind > 2 ? argv[optind + 2] : "{}";
    json_error_t jerr;
    json_t *body = json_loads (bodytext, JSON_DECODE_ANY, &jerr);
    if (!body) {
        fprintf (stderr, "omero-rpc: body is not JSON: %s\n", jerr.text);
        return 2;
    }
    json_t *ctx = NULL;
    if (ctxtext && !(ctx = json_loads (ctxtext, 0, &jerr))) {
        fprintf (stderr, "omero-rpc: ctx is not JSON: %s\n", jerr.text);
        return 2;
    }
    char *raw = NULL;
    size_t rawlen = 0;
    omr_err_t err = {0};
    if (rawfile && !(raw = omr_read_file (rawfile, &rawlen, &err))) {
        fprintf (stderr, "omero-rpc: %s\n", err.msg);
        return 2;
    }
    omr_rpc_t *rpc = omr_rpc_new (endpoint, NULL, &err);
    if (!rpc) {
        fprintf (stderr, "omero-rpc: %s\n", err.msg);
        return 3;
    }
    int rc = 0;
    if (session) {
        omr_msg_t *req = omr_msg_new_request ("ISession.resolve", json_pack ("{s:s}", "session", session));
        omr_msg_t *rep = omr_rpc_call (rpc, &req, timeout, &err);
        if (!rep) {
            fprintf (stderr, "omero-rpc: %s\n", err.msg);
            rc = 3;
            goto done;
        }
        if (omr_msg_error (rep, &err) < 0) {
            /* The router would answer with the resolve error: do the same. */
            json_t *out = json_pack ("{s:i,s:{s:s,s:s},s:n,s:[]}", "status", err.status, "error", "name", err.name,
                                     "message", err.msg, "body", "raw");
            char *t = json_dumps (out, JSON_COMPACT);
            printf ("%s\n", t);
            free (t);
            json_decref (out);
            omr_msg_destroy (&rep);
            goto done;
        }
        json_decref (ctx);
        ctx = json_incref (rep->body);
        omr_msg_destroy (&rep);
    }
    double total = 0, best = 1e18;
    for (int i = 0; i < n; i++) {
        omr_msg_t *req = omr_msg_new_request (op, json_deep_copy (body));
        if (ctx)
            omr_msg_set_ctx (req, json_incref (ctx));
        if (raw)
            omr_msg_add_raw (req, raw, rawlen);
        int64_t t0 = omr_mono_ms ();
        omr_msg_t *rep = omr_rpc_call (rpc, &req, timeout, &err);
        double ms = (double) (omr_mono_ms () - t0);
        total += ms;
        if (ms < best)
            best = ms;
        if (!rep) {
            fprintf (stderr, "omero-rpc: %s\n", err.msg);
            rc = 3;
            goto done;
        }
        if (i == n - 1) {
            json_t *out = json_object ();
            json_object_set_new (out, "status", json_integer (omr_msg_status (rep)));
            omr_err_t rerr = {0};
            if (omr_msg_error (rep, &rerr) < 0)
                json_object_set_new (out, "error", json_pack ("{s:s,s:s}", "name", rerr.name, "message", rerr.msg));
            else
                json_object_set_new (out, "error", json_null ());
            json_object_set (out, "body", rep->body);
            json_t *frames = json_array ();
            for (size_t k = 0; k < rep->nraw; k++)
                json_array_append_new (frames, frame_json (rep->raw[k]));
            json_object_set_new (out, "raw", frames);
            json_object_set_new (out, "ms", json_real (total / n));
            json_object_set_new (out, "ms_min", json_real (best));
            char *t = json_dumps (out, JSON_COMPACT);
            printf ("%s\n", t);
            free (t);
            json_decref (out);
        }
        omr_msg_destroy (&rep);
    }
done:
    omr_rpc_destroy (&rpc);
    json_decref (body);
    json_decref (ctx);
    free (raw);
    return rc;
}
