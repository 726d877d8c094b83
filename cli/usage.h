/* usage: the argparse-style help and usage errors the `omero` subcommands print. */
#ifndef CLI_USAGE_H
#define CLI_USAGE_H

/* Prints usage, the error "omero <cmd>: error: <fmt with arg>" to stderr as argparse does; returns 2
 * (argparse's exit status). */
int cli_usage_error (const char *usage, const char *cmd, const char *fmt, const char *arg);
/* Prints usage, a blank line, help and the login options to stdout (the answer to -h/--help). */
void cli_usage_help (const char *usage, const char *help);
#endif
