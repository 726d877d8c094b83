/* login: the "login arguments" every connecting command accepts (-s -p -g -u -w -k --sudo -C -q)
 * and OMERO's login procedure (reuse a stored session, join by key, or create one, prompting for
 * what is missing), shared by `omero login` and by every command that talks to a server. */
#ifndef CLI_LOGIN_H
#define CLI_LOGIN_H
#include "cli.h"
#include "omero.h"

typedef struct {
    const char *connection;     /* [USER@]SERVER[:PORT] positional of `omero login` */
    const char *server, *port, *group, *user, *password, *key, *sudo;
    bool create;                /* -C: a new session regardless of stored ones */
    bool quiet;                 /* -q */
    long timeout;               /* -t SECONDS (login only; 0 = server default) */
} cli_login_args_t;

/* Consume the login option at argv[*i] (and its value), advancing *i to the last consumed item.
 * Returns 1 if consumed, 0 if argv[*i] is not a login option, -1 if its value is missing
 * (a usage message was printed). Accepts "-s X", "--server X" and "--server=X". */
int cli_login_arg (cli_login_args_t *a, int argc, char **argv, int *i);
/* One step of an option loop for the options every connecting command without subcommands takes
 * anywhere: -h/--help and the login arguments. Returns 1 when argv[*i] was consumed (as cli_login_arg),
 * 0 when it is neither, -1 when the command ends there with *rc set: help()'s status for -h/--help,
 * 2 after a login option without its value. */
int cli_login_or_help (cli_login_args_t *a, int argc, char **argv, int *i, int (*help) (void), int *rc);
/* The start of a command with subcommands (`omero fs`, `omero user`, `omero group`): consumes the
 * login arguments before the subcommand word and returns that word's index. Returns -1 with *rc set
 * when the command ends there: 2 after a bad login option, 2 when no word follows (usage on stderr,
 * then "omero CMD: error: too few arguments"), help()'s status when the word is -h or --help. */
int cli_login_subcommand (cli_login_args_t *a, int argc, char **argv, const char *cmd, void (*usage) (FILE *),
                          int (*help) (void), int *rc);
/* OMERO accepts login arguments before the command name too (`omero -s host -u user login`,
 * `omero --sudo root -u bob import …`). Returns a new argv (malloc'ed array of the same strings,
 * NULL-terminated, *out_argc entries) in which login arguments found before the first word that
 * is not an option follow that word instead; other options (-q, -h) stay in front. */
char **cli_login_hoist (int argc, char **argv, int *out_argc);
/* The help block describing the login arguments, as OMERO prints it. */
void cli_login_help (FILE *out);
/* Parse "[USER@]SERVER[:PORT]" (the last '@' separates the user) into malloc'ed parts
 * (user/port NULL when absent). Returns -1 on an empty server. */
int cli_login_parse_conn (const char *conn, char **user, char **server, char **port);

/* Log in as OMERO's CLI does and return the connected client, or NULL with *rc set to the exit
 * code after printing the reason. `is_login` is true for `omero login` itself: a session joined
 * with -k then becomes the current one. Prints "<Created|Joined|Using|Reconnected to> session for
 * USER@HOST:PORT. Idle timeout: N min. Current group: G" on stderr unless quiet. */
omero_client_t *cli_login_connect (cli_t *cli, const cli_login_args_t *a, bool is_login, int *rc);

/* Print an OMERO-style fatal message on stderr and return the exit status OMERO's CLI exits
 * with for that return value (Python's exit status: rv modulo 256, never 0). */
int cli_die (int rv, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Print a server error as "Name: message" and return 1. */
int cli_fail_omero (const omero_err_t *err);
/* Read one line from in; returns it malloc'ed without its line ending ("\n", "\r\n"), or NULL at end
 * of input. */
char *cli_read_line (FILE *in);
/* Read a line from the terminal after printing prompt (stdin must be a terminal; hidden turns
 * echo off). Returns a malloc'ed line without its newline, or NULL at end of input. */
char *cli_prompt (const char *prompt, bool hidden);
/* `omero login` / `omero sessions login`. */
int cli_login_main (cli_t *cli, int argc, char **argv);
/* `omero logout` / `omero sessions logout`. */
int cli_logout_main (cli_t *cli, int argc, char **argv);
#endif
