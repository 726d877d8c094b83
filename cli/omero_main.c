/* omero: the command line entry point; finds the installation and dispatches to a family. */
#include "cli.h"
#include "login.h"
#include "omr_util.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cli_fail (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    fputs ("Error: ", stderr);
    vfprintf (stderr, fmt, ap);
    fputc ('\n', stderr);
    va_end (ap);
    return 1;
}

int
cli_fail_err (const omr_err_t *err)
{
    if (err->name[0] && strcmp (err->name, OMR_E_API) != 0 && strcmp (err->name, OMR_E_CONFIG) != 0
        && strcmp (err->name, OMR_E_RESOURCE) != 0)
        return cli_fail ("%s: %s", err->name, err->msg);
    return cli_fail ("%s", err->msg);
}

void
cli_config_path (cli_t *cli, char *buf, size_t len)
{
    snprintf (buf, len, "%s/etc/grid/config.yaml", cli->omerodir);
}

bool
cli_has_flag (int argc, char **argv, const char *flag)
{
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], flag) == 0)
            return true;
    return false;
}

static void
usage (void)
{
    printf ("usage: omero [-h] [-q] <subcommand> ...\n\nOMERO command line (C implementation).\n\n"
            "Subcommands:\n");
    for (const cli_command_t *c = cli_commands; c->name; c++)
        printf ("  %-12s %s\n", c->name, c->summary);
    printf ("\nRun `omero help <subcommand>` or `omero <subcommand> -h` for details.\n");
}

int
main (int argc, char **argv)
{
    cli_t cli = {0};
    /* Login options may come before the command name, as OMERO accepts them. */
    int hargc = 0;
    char **hoisted = cli_login_hoist (argc, argv, &hargc);
    if (hoisted) {
        argc = hargc;
        argv = hoisted;
    }
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp (argv[i], "-q") || !strcmp (argv[i], "--quiet"))
            cli.quiet = true;
        else if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help")) {
            usage ();
            free (hoisted);
            return 0;
        }
        else {
            fprintf (stderr, "omero: unknown option %s\n", argv[i]);
            free (hoisted);
            return 2;
        }
    }
    if (i >= argc) {
        usage ();
        free (hoisted);
        return 2;
    }
    omr_err_t err = {0};
    cli.omerodir = omr_omerodir (&err);
    if (!cli.omerodir)
        return cli_fail_err (&err);
    cli.config = omr_config_load_omerodir (cli.omerodir, &cli.config_err);
    int rc = -1;
    for (const cli_command_t *c = cli_commands; c->name; c++)
        if (strcmp (c->name, argv[i]) == 0) {
            rc = c->fn (&cli, argc - i, argv + i);
            break;
        }
    if (rc == -1) {
        fprintf (stderr, "omero: unknown subcommand '%s' (see `omero help --list`)\n", argv[i]);
        rc = 2;
    }
    omr_config_destroy (&cli.config);
    free (cli.omerodir);
    free (hoisted);
    return rc;
}
