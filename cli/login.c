/* login: `omero login`, `omero logout` and the login procedure every connecting command uses.
 * It follows OMERO's CLI: reuse the current stored session when the request does not differ,
 * join a session by key (-k), reconnect to another stored session of the same user and server,
 * else create a session (asking for missing values on a terminal), then remember it. */
#include "login.h"
#include "session_store.h"
#include "sessions.h"
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

int
cli_die (int rv, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vfprintf (stderr, fmt, ap);
    va_end (ap);
    fputc ('\n', stderr);
    int st = rv & 0xff;
    return st ? st : 1;
}

int
cli_fail_omero (const omero_err_t *err)
{
    if (err->name[0])
        fprintf (stderr, "%s: %s\n", err->name, err->msg);
    else
        fprintf (stderr, "%s\n", err->msg);
    return 1;
}

char *
cli_read_line (FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline (&line, &cap, in);
    if (n < 0) {
        free (line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    return line;
}

char *
cli_prompt (const char *prompt, bool hidden)
{
    struct termios old, quiet;
    bool restore = false;
    /* Echo goes off before the prompt shows, so nothing typed after it is echoed or lost. */
    if (hidden && tcgetattr (STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t) ~ECHO;
        restore = tcsetattr (STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    fputs (prompt, stderr);
    fflush (stderr);
    char *line = cli_read_line (stdin);
    if (restore) {
        tcsetattr (STDIN_FILENO, TCSAFLUSH, &old);
        fputc ('\n', stderr);
    }
    return line;
}

/* ---- arguments ---- */

static const struct {
    const char *s, *l;
    size_t off;
} login_opts[] = {
    {"-s", "--server", offsetof (cli_login_args_t, server)},
    {"-p", "--port", offsetof (cli_login_args_t, port)},
    {"-g", "--group", offsetof (cli_login_args_t, group)},
    {"-u", "--user", offsetof (cli_login_args_t, user)},
    {"-w", "--password", offsetof (cli_login_args_t, password)},
    {"-k", "--key", offsetof (cli_login_args_t, key)},
    {NULL, "--sudo", offsetof (cli_login_args_t, sudo)},
};

int
cli_login_arg (cli_login_args_t *a, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    if (!strcmp (arg, "-C") || !strcmp (arg, "--create")) {
        a->create = true;
        return 1;
    }
    if (!strcmp (arg, "-q") || !strcmp (arg, "--quiet")) {
        a->quiet = true;
        return 1;
    }
    for (size_t k = 0; k < sizeof login_opts / sizeof login_opts[0]; k++) {
        const char **slot = (const char **) ((char *) a + login_opts[k].off);
        size_t ll = strlen (login_opts[k].l);
        if (!strncmp (arg, login_opts[k].l, ll) && arg[ll] == '=') {
            *slot = arg + ll + 1;
            return 1;
        }
        if ((login_opts[k].s && !strcmp (arg, login_opts[k].s)) || !strcmp (arg, login_opts[k].l)) {
            if (*i + 1 >= argc) {
                fprintf (stderr, "error: argument %s%s%s: expected one argument\n",
                         login_opts[k].s ? login_opts[k].s : "", login_opts[k].s ? "/" : "",
                         login_opts[k].l);
                return -1;
            }
            *slot = argv[++*i];
            return 1;
        }
        /* -sHOST, as argparse accepts for short options. */
        if (login_opts[k].s && !strncmp (arg, login_opts[k].s, 2) && arg[2]) {
            *slot = arg + 2;
            return 1;
        }
    }
    return 0;
}

int
cli_login_subcommand (cli_login_args_t *la, int argc, char **argv, const char *cmd, void (*usage) (FILE *),
                      int (*help) (void), int *rc)
{
    int i = 1;
    for (; i < argc; i++) {
        int r = cli_login_arg (la, argc, argv, &i);
        if (r < 0) {
            *rc = 2;
            return -1;
        }
        if (r == 0)
            break;
    }
    if (i >= argc) {
        usage (stderr);
        fprintf (stderr, "omero %s: error: too few arguments\n", cmd);
        *rc = 2;
        return -1;
    }
    if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help")) {
        *rc = help ();
        return -1;
    }
    return i;
}

int
cli_login_or_help (cli_login_args_t *a, int argc, char **argv, int *i, int (*help) (void), int *rc)
{
    if (!strcmp (argv[*i], "-h") || !strcmp (argv[*i], "--help")) {
        *rc = help ();
        return -1;
    }
    int r = cli_login_arg (a, argc, argv, i);
    if (r < 0)
        *rc = 2;
    return r;
}

char **
cli_login_hoist (int argc, char **argv, int *out_argc)
{
    char **out = calloc ((size_t) argc + 1, sizeof (char *));
    char **moved = calloc ((size_t) argc + 1, sizeof (char *));
    int n = 0, nm = 0, i = 0;
    if (!out || !moved) {
        free (out);
        free (moved);
        return NULL;
    }
    if (argc > 0)
        out[n++] = argv[i++];
    cli_login_args_t scratch = {0};
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !strcmp (a, "-") || !strcmp (a, "--"))
            break;
        /* -q is a global option of its own; everything else login takes moves. */
        if (!strcmp (a, "-q") || !strcmp (a, "--quiet")) {
            out[n++] = argv[i];
            continue;
        }
        int start = i;
        if (cli_login_arg (&scratch, argc, argv, &i) == 1)
            for (int k = start; k <= i; k++)
                moved[nm++] = argv[k];
        else
            out[n++] = argv[i];
    }
    if (i < argc)
        out[n++] = argv[i++];
    for (int k = 0; k < nm; k++)
        out[n++] = moved[k];
    for (; i < argc; i++)
        out[n++] = argv[i];
    free (moved);
    *out_argc = n;
    return out;
}

void
cli_login_help (FILE *out)
{
    fprintf (out,
             "\nLogin arguments:\n"
             "  Environment variables:\n\n"
             "    OMERO_USERDIR     Set the base directory containing the user's files.\n"
             "                      Default: $HOME/omero\n"
             "    OMERO_SESSIONDIR  Set the base directory containing local sessions.\n"
             "                      Default: $OMERO_USERDIR/sessions\n"
             "    OMERO_TMPDIR      Set the base directory containing temporary files.\n"
             "                      Default: $OMERO_USERDIR/tmp\n"
             "    OMERO_PASSWORD    Set the user's password for creating new sessions.\n"
             "                      Ignored if -w or --password is used.\n"
             "    OMERO_CA          CA certificate file used to verify the server\n"
             "                      Default: $OMERODIR/etc/certs/ca.pem, else the system store\n\n"
             "  Optional session arguments:\n\n"
             "  -C, --create          Create a new session regardless of existing ones\n"
             "  -s SERVER, --server SERVER\n"
             "                        OMERO server hostname\n"
             "  -p PORT, --port PORT  OMERO server port\n"
             "  -g GROUP, --group GROUP\n"
             "                        OMERO server default group\n"
             "  -u USER, --user USER  OMERO username\n"
             "  -w PASSWORD, --password PASSWORD\n"
             "                        OMERO password\n"
             "  -k KEY, --key KEY     OMERO session key (UUID of an active session)\n"
             "  --sudo ADMINUSER      Create session as this admin. Changes meaning of password!\n"
             "  -q, --quiet           Quiet mode. Causes most warning and diagnostic messages to be\n"
             "                        suppressed.\n");
}

int
cli_login_parse_conn (const char *conn, char **user, char **server, char **port)
{
    *user = *server = *port = NULL;
    const char *at = strrchr (conn, '@');
    const char *host = at ? at + 1 : conn;
    if (at && at > conn)
        *user = strndup (conn, (size_t) (at - conn));
    const char *colon = strrchr (host, ':');
    size_t hl = strlen (host);
    if (colon) {
        const char *d = colon + 1;
        size_t nd = strspn (d, "0123456789");
        if (nd >= 1 && nd <= 5 && d[nd] == 0) {
            *port = strdup (d);
            hl = (size_t) (colon - host);
        }
    }
    *server = strndup (host, hl);
    if (!**server) {
        free (*user);
        free (*server);
        free (*port);
        *user = *server = *port = NULL;
        return -1;
    }
    return 0;
}

/* ---- the procedure ---- */

typedef struct {
    cli_t *cli;
    const cli_login_args_t *a;
    cli_store_t *store;
    bool quiet;
    int rc;
} login_t;

static bool
valid_port (const char *p)
{
    if (!p || !*p || strspn (p, "0123456789") != strlen (p))
        return false;
    long v = strtol (p, NULL, 10);
    return v > 0 && v < 65536;
}

/* A client for host:port configured for the CLI. */
static omero_client_t *
new_client (const char *host, const char *port, omero_err_t *err)
{
    omero_client_t *c = omero_client_new (host, port ? atoi (port) : OMERO_DEFAULT_PORT, err);
    if (c)
        omero_client_set_agent (c, "OMERO.cli");
    return c;
}

/* Whether an error means the server was not reached (the session may still be valid). */
static bool
unreachable (const omero_err_t *e)
{
    return e->status == 0
           && (!strcmp (e->name, "ConnectionRefusedException") || !strcmp (e->name, "DNSException")
               || !strcmp (e->name, "TimeoutException") || !strcmp (e->name, "SSLException")
               || !strcmp (e->name, "ConnectionLostException"));
}

/* Join a stored session; NULL with err set if it is no longer valid or the server is unreachable. */
static omero_client_t *
join_stored (login_t *L, const char *host, const char *name, const char *uuid, const char *port_hint,
             omero_err_t *err)
{
    cli_props_t p = {0};
    cli_store_get (L->store, host, name, uuid, &p, NULL);
    const char *port = cli_props_get (&p, "omero.port");
    if (!port)
        port = port_hint;
    omero_client_t *c = new_client (host, port, err);
    if (c && omero_client_join (c, uuid, err) < 0)
        omero_client_destroy (&c);
    cli_props_free (&p);
    return c;
}

static void
format_timeout (char *out, size_t len, const char *label, long long ms)
{
    out[0] = 0;
    if (ms <= 0)
        return;
    double val = (double) ms / 60.0 / 1000.0;
    const char *unit = "min.";
    if (val < 5) {
        unit = "s.";
        val *= 60;
    }
    snprintf (out, len, "%s%.0f %s", label, val, unit);
}

/* The session's idle and live timeouts in ms (-1 unknown), from the login reply or ISession. */
static void
session_timeouts (omero_client_t *c, long long *idle, long long *live)
{
    json_t *rep = omero_client_login_reply (c);
    json_t *s = json_object_get (rep, "session");
    *idle = omero_json_int (rep, "timeToIdle", -1);
    *live = omero_json_int (rep, "timeToLive", -1);
    if (*idle < 0 && json_is_object (s)) {
        *idle = omero_json_int (s, "timeToIdle", -1);
        *live = omero_json_int (s, "timeToLive", -1);
    }
    if (*idle < 0) {
        omero_err_t err = {0};
        json_t *sess = cli_session_get (c, omero_client_session (c), &err);
        if (sess) {
            *idle = omero_json_int (sess, "timeToIdle", -1);
            *live = omero_json_int (sess, "timeToLive", -1);
            json_decref (sess);
        }
    }
}

/* Print the banner OMERO prints once connected. */
static void
announce (login_t *L, omero_client_t *c, const char *action, json_t *ec)
{
    if (L->quiet)
        return;
    long long idle, live;
    session_timeouts (c, &idle, &live);
    char ti[64], tl[64], buf[64];
    format_timeout (ti, sizeof ti, " Idle timeout: ", idle);
    format_timeout (tl, sizeof tl, " Expires in : ", live);
    fprintf (stderr, "%s session for %s@%s:%d.%s%s Current group: %s\n", action,
             omero_json_text (ec, "userName", buf, sizeof buf, "?"), omero_client_host (c),
             omero_client_port (c), ti, tl, omero_json_text (ec, "groupName", buf, sizeof buf, "?"));
}

static bool
bad_credentials (const omero_err_t *e)
{
    return e->status == 401 || !strcmp (e->name, "PermissionDeniedException")
           || !strcmp (e->name, "AuthenticationException");
}

/* Report a failed session creation as OMERO does; returns the exit code, or 0 to ask again. */
static int
creation_failed (login_t *L, const omero_err_t *e, const char *server, const char *port, int *tries)
{
    if (bad_credentials (e) && tries) {
        if (--*tries == 0)
            return cli_die (524, "3 incorrect password attempts");
        fprintf (stderr, "%s\n", e->msg);
        return 0;
    }
    if (!strcmp (e->name, "RemovedSessionException"))
        return cli_die (525, "User account error: %s.", e->msg);
    if (!strcmp (e->name, "ConnectionRefusedException"))
        return cli_die (554, "Ice.ConnectionRefusedException: %s:%s isn't running", server,
                        port ? port : "4064");
    if (!strcmp (e->name, "DNSException"))
        return cli_die (555, "Ice.DNSException: bad host name: '%s'", server);
    if (!strcmp (e->name, "SecurityViolation"))
        return cli_die (557, "SecurityViolation: %s", e->msg);
    if (!strcmp (e->name, "SSLException"))
        return cli_die (556, "SSLException: %s", e->msg);
    return cli_die (556, "InternalException: Failed to connect: %s%s%s", e->name, e->name[0] ? ": " : "",
                    e->msg);
}

typedef struct {
    const char *uuid;
    char *host, *port;
} key_host_t;

static void
find_key_host (cli_store_t *store, const cli_store_entry_t *e, void *arg)
{
    key_host_t *k = arg;
    if (k->host || strcmp (e->uuid, k->uuid) != 0)
        return;
    cli_props_t p = {0};
    cli_store_get (store, e->host, e->user, e->uuid, &p, NULL);
    k->host = strdup (e->host);
    const char *port = cli_props_get (&p, "omero.port");
    k->port = port ? strdup (port) : NULL;
    cli_props_free (&p);
}

static char *
default_user (const char *previous)
{
    if (previous)
        return strdup (previous);
    const char *u = getenv ("USER");
    if (u && *u)
        return strdup (u);
    struct passwd *pw = getpwuid (getuid ());
    return strdup (pw && pw->pw_name ? pw->pw_name : "root");
}

omero_client_t *
cli_login_connect (cli_t *cli, const cli_login_args_t *a, bool is_login, int *rc)
{
    login_t L = {.cli = cli, .a = a, .quiet = cli->quiet || a->quiet};
    omr_err_t oerr = {0};
    omero_client_t *client = NULL;
    const char *action = NULL;
    char *server = NULL, *name = NULL, *port = NULL, *tmp_user = NULL;
    char *phost = NULL, *puser = NULL, *puuid = NULL, *pport = NULL;
    char *pw_owned = NULL;
    cli_props_t props = {0};
    json_t *ec = NULL;
    /* OMERO prints these notices on stdout for `omero login`; other commands keep stdout for
     * their own output (`x=$(omero obj new …)`), so there they go to stderr. */
    FILE *notices = is_login ? stdout : stderr;
    *rc = 0;

    L.store = cli_store_new (&oerr);
    if (!L.store) {
        *rc = cli_die (155, "%s", oerr.msg);
        return NULL;
    }
    cli_store_get_current (L.store, &phost, &puser, &puuid, &pport);
    if (a->group)
        cli_props_set (&props, "omero.group", a->group);

    const char *conn = a->connection;
    if (a->server) {
        if (conn) {
            *rc = cli_die (3, "Server specified twice: %s and %s", conn, a->server);
            goto out;
        }
        conn = a->server;
    }
    if (conn && cli_login_parse_conn (conn, &name, &server, &port) < 0) {
        *rc = cli_die (555, "Ice.DNSException: bad host name: '%s'", conn);
        goto out;
    }
    if (a->user) {
        if (name) {
            *rc = cli_die (4, "Username specified twice: %s and %s", name, a->user);
            goto out;
        }
        name = strdup (a->user);
    }
    if (a->port) {
        if (port) {
            *rc = cli_die (5, "Port specified twice: %s and %s", port, a->port);
            goto out;
        }
        port = strdup (a->port);
    }
    if (port && !valid_port (port)) {
        *rc = cli_die (5, "Invalid port: %s", port);
        goto out;
    }

    const char *pasw = a->password;
    if (a->key) {
        if (name && !L.quiet)
            fprintf (stderr, "Overriding name since session key set\n");
        free (name);
        name = strdup (a->key);
        if (a->group && !L.quiet)
            fprintf (stderr, "Ignoring group since session key set\n");
        if (a->password && !L.quiet)
            fprintf (stderr, "Ignoring password since session key set\n");
        pasw = a->key;
    }
    else if (phost && puser) {
        bool differs = (server && strcmp (server, phost) != 0) || (name && strcmp (name, puser) != 0)
                       || (port && strcmp (port, pport) != 0);
        if (!a->create && !differs) {
            bool announce_previous = true;
            if (puuid) {
                char *conflicts = cli_store_conflicts (L.store, phost, puser, puuid, &props, true, true);
                if (conflicts && !*conflicts) {
                    omero_err_t jerr = {0};
                    client = join_stored (&L, phost, puser, puuid, pport, &jerr);
                    /* An unreachable server says nothing about the session: keep it. */
                    if (!client && unreachable (&jerr)) {
                        *rc = creation_failed (&L, &jerr, phost, pport, NULL);
                        free (conflicts);
                        goto out;
                    }
                    if (client) {
                        action = "Using";
                        free (server);
                        free (name);
                        server = strdup (phost);
                        name = strdup (puser);
                        free (conflicts);
                        goto connected;
                    }
                    fprintf (notices, "Previous session expired for %s on %s:%s\n", puser, phost, pport);
                    cli_store_remove (L.store, phost, puser, puuid);
                    announce_previous = false;
                }
                free (conflicts);
            }
            if (announce_previous && !L.quiet)
                fprintf (notices, "Previously logged in to %s:%s as %s\n", phost, pport, puser);
            fflush (notices);
        }
    }

    /* A key this store holds names its server: no need to ask (scripts run without a terminal). */
    if (!server && a->key) {
        key_host_t kh = {.uuid = a->key};
        cli_store_walk (L.store, NULL, NULL, find_key_host, &kh);
        if (kh.host) {
            server = kh.host;
            if (!port)
                port = kh.port;
            else
                free (kh.port);
        }
    }
    /* Ask for what is still missing. */
    if (!server) {
        char hb[1024], pb[64];
        const char *defhost = cli_store_last_host (L.store, hb, sizeof hb);
        if (!port)
            port = strdup (cli_store_last_port (L.store, pb, sizeof pb));
        if (!isatty (STDIN_FILENO)) {
            *rc = cli_die (564, "stdin is not a terminal: cannot request server");
            goto out;
        }
        char prompt[1200];
        snprintf (prompt, sizeof prompt, "Server: [%s:%s]", defhost, port);
        char *line = cli_prompt (prompt, false);
        if (!line || !*line)
            server = strdup (defhost);
        else {
            char *u2 = NULL, *p2 = NULL;
            if (cli_login_parse_conn (line, &u2, &server, &p2) < 0) {
                free (line);
                *rc = cli_die (555, "Ice.DNSException: bad host name: ''");
                goto out;
            }
            if (u2 && !name)
                name = u2;
            else
                free (u2);
            if (p2) {
                free (port);
                port = p2;
            }
        }
        free (line);
    }
    if (!name) {
        tmp_user = default_user (puser);
        if (!isatty (STDIN_FILENO)) {
            *rc = cli_die (564, "stdin is not a terminal: cannot request username");
            goto out;
        }
        char prompt[512];
        snprintf (prompt, sizeof prompt, "Username: [%s]", tmp_user);
        char *line = cli_prompt (prompt, false);
        if (!line || !*line) {
            name = tmp_user;
            tmp_user = NULL;
            free (line);
        }
        else
            name = line;
    }
    cli_props_set (&props, "omero.host", server);
    cli_props_set (&props, "omero.user", name);
    if (port)
        cli_props_set (&props, "omero.port", port);
    if (a->timeout > 0) {
        char t[32];
        snprintf (t, sizeof t, "%ld", a->timeout);
        cli_props_set (&props, "omero.timeout", t);
    }

    if (a->key) {
        bool ambiguous = false;
        char *stored = cli_store_find_name_by_key (L.store, server, a->key, &ambiguous);
        if (stored) {
            free (name);
            name = stored;
            omero_err_t jerr = {0};
            client = join_stored (&L, server, name, a->key, port, &jerr);
        }
        else {
            omero_err_t err = {0};
            client = new_client (server, port, &err);
            if (client && omero_client_join (client, a->key, &err) < 0)
                omero_client_destroy (&client);
        }
        action = "Joined";
        if (!client) {
            if (port)
                *rc = cli_die (523, "Bad session key. Cannot join %s on %s:%s.", a->key, server, port);
            else
                *rc = cli_die (523, "Bad session key. Cannot join %s on %s.", a->key, server);
            goto out;
        }
        goto connected;
    }
    if (!a->create) {
        char **ids = cli_store_available (L.store, server, name);
        for (int i = 0; ids && ids[i] && !client; i++) {
            char *conflicts = cli_store_conflicts (L.store, server, name, ids[i], &props, false, true);
            if (conflicts && *conflicts) {
                if (!strstr (conflicts, "omero.port") && !L.quiet)
                    fprintf (stderr, "Skipped session %s due to property conflicts: %s\n", ids[i],
                             conflicts);
            }
            else {
                omero_err_t jerr = {0};
                client = join_stored (&L, server, name, ids[i], port, &jerr);
                if (client)
                    action = "Reconnected to";
                else if (!unreachable (&jerr))
                    cli_store_remove (L.store, server, name, ids[i]);
            }
            free (conflicts);
        }
        cli_store_list_free (ids);
        if (client)
            goto connected;
    }

    /* Create a session. */
    if (!pasw) {
        const char *env = getenv ("OMERO_PASSWORD");
        if (env && *env)
            pasw = env;
    }
    int tries = 3;
    for (;;) {
        if (!pasw) {
            if (!isatty (STDIN_FILENO)) {
                *rc = cli_die (564, "stdin is not a terminal: cannot request password");
                goto out;
            }
            char prompt[512];
            if (a->sudo)
                snprintf (prompt, sizeof prompt, "Password for %s:", a->sudo);
            else
                snprintf (prompt, sizeof prompt, "Password:");
            free (pw_owned);
            pw_owned = NULL;
            while (!pw_owned || !*pw_owned) {
                free (pw_owned);
                pw_owned = cli_prompt (prompt, true);
                if (!pw_owned) {
                    *rc = cli_die (564, "stdin is not a terminal: cannot request password");
                    goto out;
                }
            }
            pasw = pw_owned;
        }
        omero_err_t err = {0};
        client = new_client (server, port, &err);
        int ok = -1;
        if (client) {
            if (a->sudo)
                ok = omero_client_login_sudo (client, a->sudo, pasw, name, a->group, &err);
            else
                ok = omero_client_login (client, name, pasw, a->group, &err);
        }
        if (ok == 0)
            break;
        omero_client_destroy (&client);
        *rc = creation_failed (&L, &err, server, port, &tries);
        if (*rc)
            goto out;
        pasw = NULL;
    }
    action = "Created";

connected:
    {
        omero_err_t err = {0};
        ec = cli_session_context (client, &err);
        if (!ec) {
            *rc = cli_fail_omero (&err);
            omero_client_destroy (&client);
            goto out;
        }
    }
    {
        char ub[256];
        const char *ecuser = omero_json_text (ec, "userName", ub, sizeof ub, name);
        const char *uuid = omero_client_session (client);
        char portbuf[16];
        snprintf (portbuf, sizeof portbuf, "%d", omero_client_port (client));
        if (!strcmp (action, "Created") || (!strcmp (action, "Joined") && is_login)) {
            if (a->sudo)
                cli_props_set (&props, "omero.sudo", a->sudo);
            cli_props_set (&props, "omero.port", portbuf);
            if (!cli_store_exists (L.store, server, ecuser, uuid))
                cli_store_add (L.store, server, ecuser, uuid, &props, NULL);
        }
        if (strcmp (action, "Joined") != 0 || is_login)
            cli_store_set_current (L.store, server, ecuser, uuid, portbuf, NULL);
        /* An idle timeout asked for with -t applies to the new session. */
        if (a->timeout > 0 && strcmp (action, "Created") == 0) {
            omero_err_t err = {0};
            if (cli_session_set_timeout (client, uuid, a->timeout, &err) < 0) {
                if (!L.quiet)
                    fprintf (stderr, "Invalid session timeout requested when creating session: %s\n",
                             err.msg);
            }
            else {
                /* The banner reads the session again: the server may have capped the value. */
                json_object_del (omero_client_login_reply (client), "timeToIdle");
                json_object_del (omero_client_login_reply (client), "timeToLive");
            }
        }
    }
    announce (&L, client, action, ec);

out:
    json_decref (ec);
    cli_props_free (&props);
    free (server);
    free (name);
    free (port);
    free (tmp_user);
    free (phost);
    free (puser);
    free (puuid);
    free (pport);
    if (pw_owned) {
        memset (pw_owned, 0, strlen (pw_owned));
        free (pw_owned);
    }
    cli_store_destroy (&L.store);
    return client;
}

/* ---- commands ---- */

static void
login_usage (FILE *out)
{
    fprintf (out, "usage: omero login [-h] [-C] [-s SERVER] [-p PORT] [-g GROUP] [-u USER]\n"
                  "                   [-w PASSWORD] [-k KEY] [--sudo ADMINUSER] [-q]\n"
                  "                   [-t TIMEOUT]\n"
                  "                   [connection]\n");
}

/* `omero login` (also `omero sessions login`). */
int
cli_login_main (cli_t *cli, int argc, char **argv)
{
    cli_login_args_t a = {0};
    for (int i = 1; i < argc; i++) {
        int r = cli_login_arg (&a, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        const char *arg = argv[i];
        if (!strcmp (arg, "-h") || !strcmp (arg, "--help")) {
            login_usage (stdout);
            printf ("\nLogin to a given server, and store session key locally.\n\n"
                    "USER, HOST, and PORT are set as args or in a ssh-style connection string.\n"
                    "PASSWORD can be entered interactively, or passed via -w (insecure!).\n"
                    "Alternatively, a session KEY can be passed with '-k'.\n"
                    "Admin users can use --sudo=ADMINUSER to login for others.\n\n"
                    "Examples:\n"
                    "  omero login example.com\n"
                    "  omero login user@example.com\n"
                    "  omero login user@example.com:24064\n"
                    "  omero login -k SESSIONKEY example.com\n"
                    "  omero login --sudo=root user@example\n\n"
                    "Positional Arguments:\n"
                    "  connection            Connection string. See extended help for examples\n\n"
                    "Optional Arguments:\n"
                    "  In addition to any higher level options\n\n"
                    "  -h, --help            show this help message and exit\n"
                    "  -t TIMEOUT, --timeout TIMEOUT\n"
                    "                        Timeout for session. After this many inactive seconds,\n"
                    "                        the session will be closed\n");
            cli_login_help (stdout);
            return 0;
        }
        if (!strcmp (arg, "-t") || !strcmp (arg, "--timeout") || !strncmp (arg, "--timeout=", 10)) {
            const char *v = arg[2] == '-' && arg[9] == '=' ? arg + 10 : (i + 1 < argc ? argv[++i] : NULL);
            char *end = NULL;
            long t = v ? strtol (v, &end, 10) : 0;
            if (!v || !*v || *end || t < 0) {
                login_usage (stderr);
                fprintf (stderr, "omero login: error: argument -t/--timeout: invalid int value: '%s'\n",
                         v ? v : "");
                return 2;
            }
            a.timeout = t;
            continue;
        }
        if (arg[0] == '-' && arg[1]) {
            login_usage (stderr);
            fprintf (stderr, "omero login: error: unrecognized arguments: %s\n", arg);
            return 2;
        }
        if (a.connection) {
            login_usage (stderr);
            fprintf (stderr, "omero login: error: unrecognized arguments: %s\n", arg);
            return 2;
        }
        a.connection = arg;
    }
    int rc = 0;
    omero_client_t *c = cli_login_connect (cli, &a, true, &rc);
    if (!c)
        return rc;
    /* The session stays open for later commands: only the connection goes. */
    omero_client_destroy (&c);
    return 0;
}

/* `omero logout` (also `omero sessions logout`): close the current session and forget it. */
int
cli_logout_main (cli_t *cli, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help")) {
            printf ("usage: omero logout [-h]\n\nLogout and remove current session key\n");
            return 0;
        }
        if (!strcmp (argv[i], "-q") || !strcmp (argv[i], "--quiet"))
            continue;
        fprintf (stderr, "usage: omero logout [-h]\nomero logout: error: unrecognized arguments: %s\n",
                 argv[i]);
        return 2;
    }
    omr_err_t oerr = {0};
    cli_store_t *store = cli_store_new (&oerr);
    if (!store)
        return cli_die (155, "%s", oerr.msg);
    char *host, *user, *uuid, *port;
    cli_store_get_current (store, &host, &user, &uuid, &port);
    if (host && user && uuid) {
        cli_props_t p = {0};
        cli_store_get (store, host, user, uuid, &p, NULL);
        const char *sp = cli_props_get (&p, "omero.port");
        omero_err_t err = {0};
        omero_client_t *c = new_client (host, sp ? sp : port, &err);
        if (c && omero_client_join (c, uuid, &err) == 0)
            omero_client_logout (c, &err);
        omero_client_destroy (&c);
        cli_props_free (&p);
        cli_store_remove (store, host, user, uuid);
    }
    free (host);
    free (user);
    free (uuid);
    free (port);
    cli_store_destroy (&store);
    return 0;
}
