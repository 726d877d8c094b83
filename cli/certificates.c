/* certificates: `omero certificates`, as the omero-certificates plugin: create or renew the
 * router's self-signed certificates and configure the server to use them (a restart makes the
 * router load them). The plugin runs the openssl tool; this runs `omero-router certificates`,
 * which builds them with OpenSSL's library (router/certs.c): a CA of the installation (ca.pem)
 * signs server.pem; existing keys and a still-valid CA are kept, the certificate is renewed.
 * Properties read: omero.certificates.commonname (localhost), .owner (/L=OMERO/O=OMERO.server),
 * .key (server.key), .days (365), omero.glacier2.IceSSL.DefaultDir ($OMERODIR/etc/certs).
 * Properties set: omero.glacier2.IceSSL.DefaultDir, CertFile, KeyFile, CAs, Ciphers, Protocols,
 * ProtocolVersionMax (TLS 1.2 and 1.3), and the omero.certificates.* defaults when unset. */
#include "cli.h"
#include "omr_util.h"
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void
usage (void)
{
    printf ("usage: omero certificates [--days N] [--commonname NAME]\n\n"
            "Create or renew self-signed certificates for the server (the router's TLS on omero.ports.ssl)\n"
            "and configure the server to use them. Restart the server afterwards.\n\n"
            "  --days N           validity of the server certificate (omero.certificates.days, 365)\n"
            "  --commonname NAME  server name in the certificate (omero.certificates.commonname, localhost)\n");
}

/* The omero-router binary next to this one, else in $OMERODIR/bin. */
static int
router_binary (cli_t *cli, char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        snprintf (out, len, "%s/omero-router", dirname (self));
        if (access (out, X_OK) == 0)
            return 0;
    }
    snprintf (out, len, "%s/bin/omero-router", cli->omerodir);
    return access (out, X_OK) == 0 ? 0 : -1;
}

int
cli_certificates (cli_t *cli, int argc, char **argv)
{
    const char *days = NULL, *cn = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help")) {
            usage ();
            return 0;
        }
        if (!strcmp (argv[i], "--days") && i + 1 < argc)
            days = argv[++i];
        else if (!strcmp (argv[i], "--commonname") && i + 1 < argc)
            cn = argv[++i];
        else {
            usage ();
            return 2;
        }
    }
    if (!cli->config)
        return cli_fail_err (&cli->config_err);
    omr_config_t *cfg = cli->config;
    if (days) {
        char *end;
        long d = strtol (days, &end, 10);
        if (*end || d < 1 || d > 36500)
            return cli_fail ("--days %s: expected a number of days between 1 and 36500", days);
        omr_config_set (cfg, "omero.certificates.days", days);
    }
    if (cn)
        omr_config_set (cfg, "omero.certificates.commonname", cn);
    /* Defaults as the plugin sets them, kept when already configured. */
    if (!omr_config_get_set (cfg, "omero.certificates.commonname"))
        omr_config_set (cfg, "omero.certificates.commonname", "localhost");
    if (!omr_config_get_set (cfg, "omero.certificates.owner"))
        omr_config_set (cfg, "omero.certificates.owner", "/L=OMERO/O=OMERO.server");
    if (!omr_config_get_set (cfg, "omero.certificates.key"))
        omr_config_set (cfg, "omero.certificates.key", "server.key");
    char dir[PATH_MAX];
    const char *dd = omr_config_get_set (cfg, "omero.glacier2.IceSSL.DefaultDir");
    if (dd && *dd)
        snprintf (dir, sizeof dir, "%s", dd);
    else
        snprintf (dir, sizeof dir, "%s/etc/certs", cli->omerodir);

    char router[PATH_MAX];
    if (router_binary (cli, router, sizeof router) < 0)
        return cli_fail ("omero-router is not installed next to omero (or in %s/bin): it makes the certificates",
                         cli->omerodir);
    const char *ndays = omr_config_get_set (cfg, "omero.certificates.days");
    char *args[] = {router, "certificates", "--dir", dir,
                    "--cn", (char *) omr_config_get_set (cfg, "omero.certificates.commonname"),
                    "--owner", (char *) omr_config_get_set (cfg, "omero.certificates.owner"),
                    "--key", (char *) omr_config_get_set (cfg, "omero.certificates.key"),
                    "--cert", "server.pem", "--ca", "ca.pem",
                    "--days", (char *) (ndays ? ndays : "365"), NULL};
    fflush (stdout);
    pid_t pid = fork ();
    if (pid < 0)
        return cli_fail ("cannot start %s: %s", router, strerror (errno));
    if (pid == 0) {
        execv (router, args);
        fprintf (stderr, "Error: cannot run %s: %s\n", router, strerror (errno));
        _exit (127);
    }
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        return 1;   /* the router printed why */

    omr_config_set (cfg, "omero.glacier2.IceSSL.DefaultDir", dir);
    omr_config_set (cfg, "omero.glacier2.IceSSL.CertFile", "server.pem");
    omr_config_set (cfg, "omero.glacier2.IceSSL.KeyFile", omr_config_get_set (cfg, "omero.certificates.key"));
    omr_config_set (cfg, "omero.glacier2.IceSSL.CAs", "ca.pem");
    omr_config_set (cfg, "omero.glacier2.IceSSL.Ciphers", "HIGH");
    omr_config_set (cfg, "omero.glacier2.IceSSL.ProtocolVersionMax", "TLS1_3");
    omr_config_set (cfg, "omero.glacier2.IceSSL.Protocols", "TLS1_2,TLS1_3");
    char path[PATH_MAX], etc[PATH_MAX];
    cli_config_path (cli, path, sizeof path);
    snprintf (etc, sizeof etc, "%s/etc/grid", cli->omerodir);
    omr_err_t err = {0};
    if (omr_mkdirs (etc, 0755, &err) < 0 || omr_config_save_file (cfg, path, &err) < 0)
        return cli_fail_err (&err);
    if (!cli->quiet)
        printf ("Configuration updated. Restart the server (omero admin restart) for the router to use the new "
                "certificate.\nClients verify the server with %s/ca.pem.\n", dir);
    return 0;
}
