/* omero-router: the grid's front door (OMERO's Glacier2 role), started by the registry.
 * `omero-router certificates [options]` instead creates or renews the installation's
 * certificates (used by `omero certificates`). */
#include "certs.h"
#include "omr_log.h"
#include "router.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
certificates (int argc, char **argv)
{
    rtr_certs_opts_t o = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf (stderr, "Error: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp (a, "--dir"))
            o.dir = v;
        else if (!strcmp (a, "--cn"))
            o.commonname = v;
        else if (!strcmp (a, "--owner"))
            o.owner = v;
        else if (!strcmp (a, "--key"))
            o.keyfile = v;
        else if (!strcmp (a, "--cert"))
            o.certfile = v;
        else if (!strcmp (a, "--ca"))
            o.cafile = v;
        else if (!strcmp (a, "--days"))
            o.days = atoi (v);
        else if (!strcmp (a, "--bits"))
            o.bits = atoi (v);
        else {
            fprintf (stderr, "Error: unknown option %s\nusage: omero-router certificates --dir DIR [--cn NAME] "
                     "[--owner /L=../O=..] [--key F] [--cert F] [--ca F] [--days N] [--bits N]\n", a);
            return 2;
        }
        i++;
    }
    omr_err_t err = {0};
    rtr_certs_report_t rep;
    if (rtr_certs_create (&o, &rep, &err) < 0) {
        fprintf (stderr, "Error: %s\n", err.msg);
        return 1;
    }
    printf ("%s: %s\n", rep.key_reused ? "Using existing key" : "Creating new key", rep.key);
    printf ("%s: %s\n", rep.ca_reused ? "Using existing CA certificate" : "Creating CA certificate", rep.ca);
    printf ("Creating certificate signed by the CA: %s\n", rep.cert);
    printf ("certificates created: %s %s %s\n", rep.key, rep.cert, rep.ca);
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc > 1 && !strcmp (argv[1], "certificates"))
        return certificates (argc, argv);
    if (argc > 1) {
        fprintf (stderr, "usage: omero-router            (started by the registry; see OMERODIR, OMERO_SERVER_ID …)\n"
                         "       omero-router certificates --dir DIR [options]\n");
        return 2;
    }
    omr_err_t err = {0};
    rtr_router_t *r = rtr_router_new (&err);
    if (!r) {
        omr_error ("cannot start the router: %s", err.msg);
        fprintf (stderr, "omero-router: %s\n", err.msg);
        return 1;
    }
    int rc = rtr_router_run (r, &err);
    rtr_router_destroy (&r);
    return rc == 0 ? 0 : 1;
}
