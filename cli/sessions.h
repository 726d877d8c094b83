/* sessions: `omero sessions …` and the entry point other commands use to get a logged-in client.
 *
 * A command that talks to a server parses the login arguments with cli_login_arg (login.h) and
 * then calls cli_session_client:
 *     cli_login_args_t la = {0};  ... cli_login_arg (&la, argc, argv, &i) ...
 *     int rc;
 *     omero_client_t *c = cli_session_client (cli, &la, &rc);
 *     if (!c) return rc;                 // the reason was printed ("stdin is not a terminal…")
 *     json_t *r = omero_client_call (c, "IQuery", "findAllByQuery", args, &err);
 *     if (!r) { omero_client_destroy (&c); return cli_fail_omero (&err); }
 *     ...
 *     omero_client_destroy (&c);         // the session stays stored for the next command */
#ifndef CLI_SESSIONS_H
#define CLI_SESSIONS_H
#include "cli.h"
#include "login.h"
#include "omero.h"

/* A client logged in as the login arguments ask (a may be NULL: the current stored session, else
 * prompting on a terminal). NULL with *rc = exit code after printing why. */
omero_client_t *cli_session_client (cli_t *cli, const cli_login_args_t *a, int *rc);
/* The event context of the client's session (new reference): the one the login returned when it
 * did, else IAdmin.getEventContext. */
json_t *cli_session_context (omero_client_t *c, omero_err_t *err);
/* ISession.getSession for a session key: its uuid, started, timeToIdle, timeToLive … */
json_t *cli_session_get (omero_client_t *c, const char *uuid, omero_err_t *err);
/* Set a session's idle timeout in seconds. */
int cli_session_set_timeout (omero_client_t *c, const char *uuid, long seconds, omero_err_t *err);
/* `omero sessions …`. */
int cli_sessions_main (cli_t *cli, int argc, char **argv);
#endif
