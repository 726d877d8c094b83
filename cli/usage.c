/* usage: the argparse-style help and usage errors the `omero` subcommands print. */
#include "usage.h"
#include "login.h"
#include <stdio.h>

int
cli_usage_error (const char *usage, const char *cmd, const char *fmt, const char *arg)
{
    fputs (usage, stderr);
    fprintf (stderr, "omero %s: error: ", cmd);
    fprintf (stderr, fmt, arg);
    fputc ('\n', stderr);
    return 2;
}

void
cli_usage_help (const char *usage, const char *help)
{
    fputs (usage, stdout);
    fputs ("\n", stdout);
    fputs (help, stdout);
    cli_login_help (stdout);
}
