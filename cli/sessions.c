/* sessions: `omero sessions login|logout|list|group|timeout|who|keepalive|clear|file|key` over
 * the on-disk store (session_store.h), and cli_session_client for every connecting command. */
#include "sessions.h"
#include "session_store.h"
#include "table.h"
#include "usergroup.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

omero_client_t *
cli_session_client (cli_t *cli, const cli_login_args_t *a, int *rc)
{
    cli_login_args_t none = {0};
    return cli_login_connect (cli, a ? a : &none, false, rc);
}

json_t *
cli_session_context (omero_client_t *c, omero_err_t *err)
{
    json_t *rep = omero_client_login_reply (c);
    json_t *ec = json_object_get (rep, "eventContext");
    if (json_is_object (ec) && json_object_get (ec, "userName"))
        return json_incref (ec);
    ec = omero_client_event_context (c, err);
    /* Keep it with the login reply so later callers do not ask again. */
    if (ec && json_is_object (rep))
        json_object_set (rep, "eventContext", ec);
    return ec;
}

json_t *
cli_session_get (omero_client_t *c, const char *uuid, omero_err_t *err)
{
    json_t *args = json_pack ("{s:s}", "session", uuid ? uuid : "");
    json_t *rep = omero_client_call (c, "ISession", "getSession", args, err);
    json_decref (args);
    json_t *inner = json_object_get (rep, "session");
    if (json_is_object (inner)) {
        json_incref (inner);
        json_decref (rep);
        return inner;
    }
    return rep;
}

int
cli_session_set_timeout (omero_client_t *c, const char *uuid, long seconds, omero_err_t *err)
{
    json_t *args = json_pack ("{s:s, s:I}", "session", uuid ? uuid : "", "timeToIdle",
                              (json_int_t) seconds * 1000);
    json_t *rep = omero_client_call (c, "ISession", "updateSessionTimeout", args, err);
    json_decref (args);
    if (!rep)
        return -1;
    json_decref (rep);
    return 0;
}

static void
usage (FILE *out)
{
    fprintf (out, "usage: omero sessions [-h] [-C] [-s SERVER] [-p PORT] [-g GROUP] [-u USER]\n"
                  "                      [-w PASSWORD] [-k KEY] [--sudo ADMINUSER] [-q]\n"
                  "                      <subcommand> ...\n");
}

static int
help (void)
{
    usage (stdout);
    printf ("\nControl and create user sessions\n\n"
            "Sessions are stored locally on disk. Several can\n"
            "be active simultaneously, but only one will be used\n"
            "for a single invocation of omero.\n\n"
            "Optional Arguments:\n"
            "  In addition to any higher level options\n\n"
            "  -h, --help            show this help message and exit\n\n"
            "Subcommands:\n"
            "  Use omero sessions <subcommand> -h for more information.\n\n"
            "  <subcommand>\n"
            "    help                Extended help\n"
            "    login               Login to a given server, and store session key locally.\n"
            "    logout              Logout and remove current session key\n"
            "    group               Set the group of the given session by id or name\n"
            "    timeout             Query or set the timeToIdle for the given session\n"
            "    list                List all available sessions stored locally\n"
            "    who                 List all active server sessions\n"
            "    keepalive           Keeps the current session alive\n"
            "    clear               Close and remove locally stored sessions\n"
            "    file                Print the path to the current session file\n"
            "    key                 Print the key of the current active session\n"
            "    open                Create a session for the given user and group\n"
            "    close               Close the session with the given session ID\n");
    cli_login_help (stdout);
    return 0;
}

static int
extended_help (void)
{
    printf ("\nUses the login parameters from omero sessions to login.\n\n"
            "To list these options, use \"omero sessions -h\"\n\n"
            "Options for logging in:\n\n"
            "    # Provide all values interactively\n"
            "    $ omero sessions login\n"
            "    Server: [localhost:4064]\n"
            "    Username: [root]\n"
            "    Password:\n\n"
            "    # Pass values as the target\n"
            "    $ omero sessions login user@omero.example.com\n"
            "    Password:\n"
            "    $ omero sessions login user@omero.example.com:24064\n"
            "    Password:\n\n"
            "    # Use a session ID to login without a password\n"
            "    $ omero -s localhost -k 8afe443f-19fc-4cc4-bf4a-850ec94f4650 sessions login\n\n"
            "    # The *last* \"@\" symbol is used\n"
            "    $ omero sessions login my.email@example.com@omero.example.com\n"
            "    Password:\n\n"
            "    # System administrators can use \"--sudo\" to login as others\n"
            "    $ omero sessions login --sudo=root example@localhost\n"
            "    Password for root:\n\n"
            "Other sessions commands:\n\n"
            "    # Logging out of the currently active sessions\n"
            "    $ omero sessions logout\n\n"
            "    # List all locally available sessions (purging the expired ones)\n"
            "    $ omero sessions list\n\n"
            "    # List all local sessions\n"
            "    $ omero sessions list --no-purge\n\n"
            "    # List all active server sessions\n"
            "    $ omero sessions who\n\n"
            "    # List or change the group for the session\n"
            "    $ omero sessions group\n"
            "    $ omero sessions group mygroup\n"
            "    $ omero sessions group 123\n\n"
            "    # List or change the timeToIdle for the session\n"
            "    $ omero sessions timeout\n"
            "    $ omero sessions timeout 300 # Seconds\n"
            "    $ omero sessions timeout 300 --session=$UUID\n\n"
            "Custom sessions directory:\n\n"
            "    # Specify a custom session directory using OMERO_SESSIONDIR\n"
            "    $ export OMERO_SESSIONDIR=/tmp/my_sessions\n"
            "    # Create a new session stored under OMERO_SESSIONDIR\n"
            "    $ omero sessions login\n"
            "    $ omero sessions file\n"
            "    $ omero sessions list\n");
    return 0;
}

static cli_store_t *
open_store (int *rc)
{
    omr_err_t err = {0};
    cli_store_t *s = cli_store_new (&err);
    if (!s)
        *rc = cli_die (155, "%s", err.msg);
    return s;
}

static int
cmd_file_or_key (bool key)
{
    int rc = 0;
    cli_store_t *s = open_store (&rc);
    if (!s)
        return rc;
    char *host, *user, *uuid, *port;
    cli_store_get_current (s, &host, &user, &uuid, &port);
    if (key && uuid)
        printf ("%s\n", uuid);
    else if (!key && host && user && uuid) {
        char path[4096];
        printf ("%s\n", cli_store_path (s, host, user, uuid, path, sizeof path));
    }
    free (host);
    free (user);
    free (uuid);
    free (port);
    cli_store_destroy (&s);
    return 0;
}

/* ---- list ---- */

typedef struct {
    cli_table_t *t;
    bool purge;
    char *chost, *cuser, *cuuid, *cport;
} list_ctx_t;

static void
format_ms_ctime (long long ms, char *buf, size_t len)
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    localtime_r (&t, &tm);
    strftime (buf, len, "%a %b %e %H:%M:%S %Y", &tm);
}

static void
list_one (cli_store_t *store, const cli_store_entry_t *e, void *arg)
{
    list_ctx_t *L = arg;
    cli_props_t p = {0};
    cli_store_get (store, e->host, e->user, e->uuid, &p, NULL);
    const char *port = cli_props_get (&p, "omero.port");
    const char *msg = "True";
    char grp[256] = "Unknown", started[64] = "Unknown";
    omero_err_t err = {0};
    omero_client_t *c = omero_client_new (e->host, port ? atoi (port) : OMERO_DEFAULT_PORT, &err);
    bool alive = false;
    if (c) {
        omero_client_set_agent (c, "OMERO.cli");
        if (omero_client_join (c, e->uuid, &err) == 0) {
            alive = true;
            json_t *ec = cli_session_context (c, &err);
            char b[256];
            snprintf (grp, sizeof grp, "%s", omero_json_text (ec, "groupName", b, sizeof b, "Unknown"));
            json_decref (ec);
            json_t *s = cli_session_get (c, e->uuid, &err);
            long long st = omero_json_int (s, "started", -1);
            if (st > 0)
                format_ms_ctime (st, started, sizeof started);
            json_decref (s);
        }
        else
            msg = err.status == 0 ? "Unknown exception" : err.msg;
    }
    /* Sessions of a server that cannot be reached are kept: they may well be valid. */
    if (!alive && L->purge && !(c && err.status == 0)) {
        cli_store_remove (store, e->host, e->user, e->uuid);
        omero_client_destroy (&c);
        cli_props_free (&p);
        return;
    }
    if (L->chost && L->cuser && L->cuuid && !strcmp (e->host, L->chost) && !strcmp (e->user, L->cuser)
        && !strcmp (e->uuid, L->cuuid))
        msg = "Logged in";
    char server[1100];
    if (port)
        snprintf (server, sizeof server, "%s:%s", e->host, port);
    else
        snprintf (server, sizeof server, "%s", e->host);
    cli_table_row (L->t, server, e->user, grp, e->uuid, msg, started);
    omero_client_destroy (&c);
    cli_props_free (&p);
}

static int
cmd_list (int argc, char **argv)
{
    list_ctx_t L = {.purge = true};
    for (int i = 0; i < argc; i++) {
        if (!strcmp (argv[i], "--no-purge"))
            L.purge = false;
        else if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help")) {
            printf ("usage: omero sessions list [-h] [--no-purge]\n\n"
                    "List all available sessions stored locally\n\n"
                    "By default, inactive sessions are purged from the local sessions store and\n"
                    "removed from the listing. To list all sessions stored locally independently of\n"
                    "their status, use the --no-purge argument.\n\n"
                    "Optional Arguments:\n"
                    "  -h, --help   show this help message and exit\n"
                    "  --no-purge   Do not remove inactive sessions\n");
            return 0;
        }
        else {
            fprintf (stderr, "usage: omero sessions list [-h] [--no-purge]\n"
                             "omero sessions list: error: unrecognized arguments: %s\n", argv[i]);
            return 2;
        }
    }
    int rc = 0;
    cli_store_t *s = open_store (&rc);
    if (!s)
        return rc;
    cli_store_get_current (s, &L.chost, &L.cuser, &L.cuuid, &L.cport);
    const char *headers[] = {"Server", "User", "Group", "Session", "Active", "Started", NULL};
    L.t = cli_table_new (headers);
    cli_store_walk (s, NULL, NULL, list_one, &L);
    cli_table_print (L.t, stdout);
    cli_table_destroy (&L.t);
    free (L.chost);
    free (L.cuser);
    free (L.cuuid);
    free (L.cport);
    cli_store_destroy (&s);
    return 0;
}

/* ---- clear ---- */

typedef struct {
    bool all;
    int removed;
} clear_ctx_t;

static void
clear_one (cli_store_t *store, const cli_store_entry_t *e, void *arg)
{
    clear_ctx_t *C = arg;
    cli_props_t p = {0};
    cli_store_get (store, e->host, e->user, e->uuid, &p, NULL);
    const char *port = cli_props_get (&p, "omero.port");
    omero_err_t err = {0};
    omero_client_t *c = omero_client_new (e->host, port ? atoi (port) : OMERO_DEFAULT_PORT, &err);
    bool alive = c && omero_client_join (c, e->uuid, &err) == 0;
    if (alive && C->all)
        omero_client_logout (c, &err);
    if (!alive || C->all) {
        cli_store_remove (store, e->host, e->user, e->uuid);
        C->removed++;
    }
    omero_client_destroy (&c);
    cli_props_free (&p);
}

static int
cmd_clear (int argc, char **argv)
{
    clear_ctx_t C = {0};
    for (int i = 0; i < argc; i++) {
        if (!strcmp (argv[i], "--all"))
            C.all = true;
        else if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help")) {
            printf ("usage: omero sessions clear [-h] [--all]\n\n"
                    "Close and remove locally stored sessions\n\n"
                    "Optional Arguments:\n"
                    "  -h, --help  show this help message and exit\n"
                    "  --all       Remove all locally stored sessions not just inactive ones\n");
            return 0;
        }
        else {
            fprintf (stderr, "usage: omero sessions clear [-h] [--all]\n"
                             "omero sessions clear: error: unrecognized arguments: %s\n", argv[i]);
            return 2;
        }
    }
    int rc = 0;
    cli_store_t *s = open_store (&rc);
    if (!s)
        return rc;
    cli_store_walk (s, NULL, NULL, clear_one, &C);
    printf ("%d session(s) cleared\n", C.removed);
    cli_store_destroy (&s);
    return 0;
}

/* ---- commands needing a connection ---- */

static bool
is_number (const char *s)
{
    if (!s || !*s)
        return false;
    if (*s == '-')
        s++;
    return *s && strspn (s, "0123456789") == strlen (s);
}

/* The group named by id or name: its id and name (NULL with the message printed on failure). */
static json_t *
find_group (omero_client_t *c, const char *target, long long *id, omero_err_t *err)
{
    json_t *args, *g;
    if (is_number (target)) {
        args = json_pack ("{s:I}", "id", (json_int_t) strtoll (target, NULL, 10));
        g = omero_client_call (c, "IAdmin", "getGroup", args, err);
    }
    else {
        args = json_pack ("{s:s}", "name", target);
        g = omero_client_call (c, "IAdmin", "lookupGroup", args, err);
    }
    json_decref (args);
    json_t *inner = json_object_get (g, "group");
    if (json_is_object (inner)) {
        json_incref (inner);
        json_decref (g);
        g = inner;
    }
    if (g)
        *id = omero_json_int (g, "@id|id", -1);
    return g;
}

static int
cmd_group (cli_t *cli, const cli_login_args_t *la, const char *target)
{
    int rc = 0;
    omero_client_t *c = cli_session_client (cli, la, &rc);
    if (!c)
        return rc;
    omero_err_t err = {0};
    json_t *ec = cli_session_context (c, &err);
    if (!ec) {
        omero_client_destroy (&c);
        return cli_fail_omero (&err);
    }
    long long old_id = omero_json_int (ec, "groupId", -1);
    char ob[256], nb[256];
    const char *old_name = omero_json_text (ec, "groupName", ob, sizeof ob, "");
    if (!target) {
        printf ("ExperimenterGroup:%lld\n", old_id);
        goto done;
    }
    long long gid = -1;
    json_t *g = find_group (c, target, &gid, &err);
    if (!g || gid < 0) {
        json_decref (g);
        rc = cli_die (503, "Unknown group: %s", target);
        goto done;
    }
    const char *gname = omero_json_text (g, "name|Name", nb, sizeof nb, target);
    if (gid == old_id) {
        if (!cli->quiet && !la->quiet)
            fprintf (stderr, "Group '%s' (id=%lld) is already active\n", gname, gid);
    }
    else if (omero_client_set_group (c, gid, &err) < 0) {
        if (!strcmp (err.name, "SecurityViolation"))
            rc = cli_die (564, "SecurityViolation: %s", err.msg);
        else
            rc = cli_fail_omero (&err);
    }
    else
        printf ("Group '%s' (id=%lld) switched to '%s' (id=%lld)\n", old_name, old_id, gname, gid);
    json_decref (g);
done:
    json_decref (ec);
    omero_client_destroy (&c);
    return rc;
}

static int
cmd_timeout (cli_t *cli, const cli_login_args_t *la, const char *seconds, const char *session)
{
    long secs = -1;
    if (seconds) {
        char *end;
        secs = strtol (seconds, &end, 10);
        if (*end || secs < 0) {
            fprintf (stderr, "usage: omero sessions timeout [-h] [--session SESSION] [seconds]\n"
                             "omero sessions timeout: error: argument seconds: invalid int value: '%s'\n",
                     seconds);
            return 2;
        }
    }
    int rc = 0;
    omero_client_t *c = cli_session_client (cli, la, &rc);
    if (!c)
        return rc;
    const char *uuid = session ? session : omero_client_session (c);
    omero_err_t err = {0};
    json_t *s = cli_session_get (c, uuid, &err);
    if (!s) {
        omero_client_destroy (&c);
        return cli_die (557, "cannot get session: %s", uuid);
    }
    if (secs < 0) {
        long long ms = omero_json_int (s, "timeToIdle", 0);
        printf ("%.1f\n", (double) ms / 1000.0);
    }
    else if (cli_session_set_timeout (c, uuid, secs, &err) < 0)
        rc = cli_die (559, "cannot update timeout for %s: %s", uuid, err.msg);
    json_decref (s);
    omero_client_destroy (&c);
    return rc;
}

static void
format_ms (long long ms, char *buf, size_t len)
{
    if (ms <= 0) {
        snprintf (buf, len, "---");
        return;
    }
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    localtime_r (&t, &tm);
    strftime (buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static int
cmd_who (cli_t *cli, const cli_login_args_t *la)
{
    int rc = 0;
    omero_client_t *c = cli_session_client (cli, la, &rc);
    if (!c)
        return rc;
    omero_err_t err = {0};
    json_t *rep = omero_client_call (c, "ISession", "currentSessions", NULL, &err);
    if (!rep) {
        omero_client_destroy (&c);
        return cli_die (560, "CmdError: %s: %s", err.name, err.msg);
    }
    /* {"sessions": [...], "contexts": [...]} as OMERO's CurrentSessionsResponse, or a list of
     * sessions each carrying its context. */
    json_t *sessions = json_is_array (rep) ? rep : json_object_get (rep, "sessions");
    json_t *contexts = json_object_get (rep, "contexts");
    const char *headers[] = {"name", "group", "logged in", "agent", "timeout", NULL};
    cli_table_t *t = cli_table_new (headers);
    const char *me = omero_client_session (c);
    size_t i;
    json_t *s;
    json_array_foreach (sessions, i, s) {
        json_t *ec = json_array_get (contexts, i);
        if (!ec)
            ec = json_object_get (s, "eventContext") ? json_object_get (s, "eventContext") : s;
        char nb[256], gb[256], ab[256], when[80], tmo[64];
        const char *uuid = omero_json_text (s, "uuid", ab, sizeof ab, "");
        bool mine = me && !strcmp (uuid, me);
        format_ms (omero_json_int (s, "started", -1), when, sizeof when);
        if (mine && strcmp (when, "---") != 0)
            strncat (when, " (*)", sizeof when - strlen (when) - 1);
        long long idle = omero_json_int (s, "timeToIdle", -1);
        tmo[0] = 0;
        if (idle > 0) {
            double val = (double) idle / 60000.0;
            if (val < 5)
                snprintf (tmo, sizeof tmo, "%.0f s.", val * 60);
            else
                snprintf (tmo, sizeof tmo, "%.0f min.", val);
        }
        const char *name = omero_json_text (ec, "userName", nb, sizeof nb, "---");
        const char *grp = omero_json_text (ec, "groupName", gb, sizeof gb, "---");
        const char *agent = omero_json_text (s, "userAgent", ab, sizeof ab, "---");
        cli_table_row (t, name, grp, when, agent, tmo[0] ? tmo : "---");
    }
    cli_table_print (t, stdout);
    cli_table_destroy (&t);
    json_decref (rep);
    omero_client_destroy (&c);
    return 0;
}

static int
cmd_keepalive (cli_t *cli, const cli_login_args_t *la, long freq)
{
    int rc = 0;
    omero_client_t *c = cli_session_client (cli, la, &rc);
    if (!c)
        return rc;
    printf ("Running keep alive every %ld seconds\n", freq);
    printf ("Press enter to cancel.");
    fflush (stdout);
    for (;;) {
        omero_err_t err = {0};
        if (omero_client_keepalive (c, &err) < 0) {
            fprintf (stderr, "Keep alive failed: %s\n", err.msg);
            rc = 1;
            break;
        }
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int n = poll (&pfd, 1, (int) (freq * 1000));
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0) {
            /* Enter (or end of input) cancels. */
            char buf[256];
            ssize_t r = read (STDIN_FILENO, buf, sizeof buf);
            if (r <= 0 || memchr (buf, '\n', (size_t) r))
                break;
        }
    }
    putchar ('\n');
    omero_client_destroy (&c);
    return rc;
}

/* `sessions open`: an administrator (or sudoer) opens a session for another user. */
static int
cmd_open (cli_t *cli, const cli_login_args_t *la, int n, char **rest)
{
    const char *uid = NULL, *uname = NULL, *gid = NULL, *gname = NULL;
    long timeout = 0;
    for (int i = 0; i < n; i++) {
        const char **slot = !strcmp (rest[i], "--user-id")      ? &uid
                            : !strcmp (rest[i], "--user-name")  ? &uname
                            : !strcmp (rest[i], "--group-id")   ? &gid
                            : !strcmp (rest[i], "--group-name") ? &gname
                                                                : NULL;
        if (slot && i + 1 < n) {
            *slot = rest[++i];
            continue;
        }
        char *end = NULL;
        if (!strcmp (rest[i], "--timeout") && i + 1 < n && (timeout = strtol (rest[i + 1], &end, 10), !*end)
            && timeout >= 0) {
            i++;
            continue;
        }
        fprintf (stderr, "usage: omero sessions open [-h] (--user-id user | --user-name user)\n"
                         "                           [--group-id group | --group-name group]\n"
                         "                           [--timeout [TIMEOUT]]\n"
                         "omero sessions open: error: unrecognized arguments: %s\n", rest[i]);
        return 2;
    }
    if (!uid == !uname || (gid && gname)) {
        fprintf (stderr, "usage: omero sessions open [-h] (--user-id user | --user-name user)\n"
                         "omero sessions open: error: one of the arguments --user-id --user-name is required\n");
        return 2;
    }
    ug_t u;
    int rc = ug_open (&u, cli, la);
    if (rc)
        return rc;
    bool amb;
    json_t *user = ug_find_user (&u, uid ? uid : uname, uid ? 1 : 2, &amb);
    json_t *group = (gid || gname) ? ug_find_group (&u, gid ? gid : gname, gid ? 1 : 2, &amb) : NULL;
    char nb[256], gb[256];
    if (!user)
        rc = cli_die (156, "No user found");
    else if ((gid || gname) && !group)
        rc = cli_die (503, "Unknown group: %s", gid ? gid : gname);
    else {
        const char *username = omero_json_text (user, "UserName|omeName", nb, sizeof nb, "");
        const char *groupname = group ? omero_json_text (group, "Name|name", gb, sizeof gb, "") : NULL;
        json_t *pr = json_pack ("{s:s, s:s}", "name", username, "eventType", "User");
        if (groupname)
            json_object_set_new (pr, "group", json_string (groupname));
        json_t *args = json_pack ("{s:o}", "principal", pr);
        if (timeout > 0)
            json_object_set_new (args, "timeout", json_integer ((json_int_t) timeout * 1000));
        omero_err_t err = {0};
        json_t *rep = omero_client_call (u.c, "ISession", "createSessionWithTimeout", args, &err);
        json_decref (args);
        if (!rep)
            rc = cli_fail_omero (&err);
        else {
            char kb[64];
            const char *key = omero_json_text (rep, "session|uuid", kb, sizeof kb, "");
            fprintf (stderr, "Session created for user %s", username);
            if (groupname)
                fprintf (stderr, " in group %s", groupname);
            fprintf (stderr, " (timeToIdle: %lld sec, timeToLive: %lld sec)\n",
                     omero_json_int (rep, "timeToIdle", 0) / 1000, omero_json_int (rep, "timeToLive", 0) / 1000);
            printf ("%s\n", key);
        }
        json_decref (rep);
    }
    json_decref (user);
    json_decref (group);
    ug_close (&u);
    return rc;
}

/* `sessions close ID`: close a session by its key. */
static int
cmd_close (cli_t *cli, const cli_login_args_t *la, const char *key)
{
    int rc = 0;
    omero_client_t *c = cli_session_client (cli, la, &rc);
    if (!c)
        return rc;
    omero_err_t err = {0};
    json_t *s = key ? cli_session_get (c, key, &err) : NULL;
    if (!s)
        fprintf (stderr, "No session with the given ID found.\n");
    else {
        json_t *args = json_pack ("{s:s}", "session", key);
        json_t *rep = omero_client_call (c, "ISession", "closeSession", args, &err);
        json_decref (args);
        if (rep)
            printf ("Session %s closed.\n", key);
        else
            rc = cli_fail_omero (&err);
        json_decref (rep);
    }
    json_decref (s);
    omero_client_destroy (&c);
    return rc;
}

int
cli_sessions_main (cli_t *cli, int argc, char **argv)
{
    cli_login_args_t la = {0};
    const char *sub = NULL;
    int subidx = -1;
    char **rest = calloc ((size_t) argc + 1, sizeof (char *));
    int nrest = 0, rc = 0;
    bool want_help = false;
    for (int i = 1; i < argc; i++) {
        if (!sub || (strcmp (sub, "login") != 0 && strcmp (sub, "logout") != 0)) {
            int r = cli_login_arg (&la, argc, argv, &i);
            if (r < 0) {
                free (rest);
                return 2;
            }
            if (r > 0)
                continue;
        }
        if (!sub && (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help"))) {
            want_help = true;
            continue;
        }
        if (!sub && argv[i][0] != '-') {
            sub = argv[i];
            subidx = i;
            continue;
        }
        rest[nrest++] = argv[i];
    }
    if (want_help || !sub) {
        free (rest);
        if (want_help)
            return help ();
        usage (stderr);
        fprintf (stderr, "omero sessions: error: too few arguments\n");
        return 2;
    }
    if (!strcmp (sub, "login") || !strcmp (sub, "logout")) {
        /* Pass every argument except the subcommand word itself (options may precede it). */
        char **av = calloc ((size_t) argc, sizeof (char *));
        int n = 0;
        av[n++] = (char *) sub;
        for (int i = 1; i < argc; i++)
            if (i != subidx)
                av[n++] = argv[i];
        rc = !strcmp (sub, "login") ? cli_login_main (cli, n, av) : cli_logout_main (cli, n, av);
        free (av);
        free (rest);
        return rc;
    }
    bool sub_help = nrest > 0 && (!strcmp (rest[0], "-h") || !strcmp (rest[0], "--help"));
    if (!strcmp (sub, "help"))
        rc = extended_help ();
    else if (!strcmp (sub, "file") || !strcmp (sub, "key")) {
        if (sub_help)
            printf ("usage: omero sessions %s [-h]\n\n%s\n", sub,
                    !strcmp (sub, "file") ? "Print the path to the current session file"
                                          : "Print the key of the current active session");
        else
            rc = cmd_file_or_key (!strcmp (sub, "key"));
    }
    else if (!strcmp (sub, "list"))
        rc = cmd_list (nrest, rest);
    else if (!strcmp (sub, "clear"))
        rc = cmd_clear (nrest, rest);
    else if (!strcmp (sub, "group")) {
        if (sub_help)
            printf ("usage: omero sessions group [-h] [target]\n\n"
                    "Set the group of the given session by id or name\n"
                    "If any current services are open, the command will fail.\n\n"
                    "Positional Arguments:\n"
                    "  target      Id or name of the group to switch this session to\n");
        else if (nrest > 1) {
            fprintf (stderr, "usage: omero sessions group [-h] [target]\n"
                             "omero sessions group: error: unrecognized arguments: %s\n", rest[1]);
            rc = 2;
        }
        else
            rc = cmd_group (cli, &la, nrest ? rest[0] : NULL);
    }
    else if (!strcmp (sub, "timeout")) {
        const char *secs = NULL, *session = NULL;
        for (int i = 0; i < nrest && rc == 0; i++) {
            if (!strcmp (rest[i], "--session") && i + 1 < nrest)
                session = rest[++i];
            else if (!strncmp (rest[i], "--session=", 10))
                session = rest[i] + 10;
            else if (sub_help) {
                printf ("usage: omero sessions timeout [-h] [--session SESSION] [seconds]\n\n"
                        "Query or set the timeToIdle for the given session\n\n"
                        "Positional Arguments:\n"
                        "  seconds            Number of seconds to set the timeToIdle value to\n\n"
                        "Optional Arguments:\n"
                        "  --session SESSION  Session other than the current to update\n");
                free (rest);
                return 0;
            }
            else if (!secs)
                secs = rest[i];
            else {
                fprintf (stderr, "omero sessions timeout: error: unrecognized arguments: %s\n", rest[i]);
                rc = 2;
            }
        }
        if (rc == 0)
            rc = cmd_timeout (cli, &la, secs, session);
    }
    else if (!strcmp (sub, "who")) {
        if (sub_help)
            printf ("usage: omero sessions who [-h]\n\nList all active server sessions\n\n"
                    "Administrators will receive a list of all active sessions\n"
                    "along with critical information on last activity. This is\n"
                    "useful for determining whether or not the server can be\n"
                    "restarted.\n\n"
                    "Other users will only see a list of names, i.e. users who\n"
                    "can be considered \"online\".\n");
        else
            rc = cmd_who (cli, &la);
    }
    else if (!strcmp (sub, "keepalive")) {
        long freq = 60;
        for (int i = 0; i < nrest && rc == 0; i++) {
            const char *v = NULL;
            if ((!strcmp (rest[i], "-f") || !strcmp (rest[i], "--frequency")) && i + 1 < nrest)
                v = rest[++i];
            else if (!strncmp (rest[i], "--frequency=", 12))
                v = rest[i] + 12;
            else if (sub_help) {
                printf ("usage: omero sessions keepalive [-h] [-f SECS]\n\n"
                        "Keeps the current session alive\n\n"
                        "Optional Arguments:\n"
                        "  -f SECS, --frequency SECS\n"
                        "                        Time in seconds between keep alive calls\n");
                free (rest);
                return 0;
            }
            char *end = NULL;
            if (!v || (freq = strtol (v, &end, 10), *end) || freq <= 0) {
                fprintf (stderr, "usage: omero sessions keepalive [-h] [-f SECS]\n"
                                 "omero sessions keepalive: error: argument -f/--frequency: invalid "
                                 "int value: '%s'\n",
                         v ? v : rest[i]);
                rc = 2;
            }
        }
        if (rc == 0)
            rc = cmd_keepalive (cli, &la, freq);
    }
    else if (!strcmp (sub, "open")) {
        if (sub_help)
            printf ("usage: omero sessions open [-h] (--user-id user | --user-name user)\n"
                    "                           [--group-id group | --group-name group]\n"
                    "                           [--timeout [TIMEOUT]]\n\n"
                    "Create a session for the given user and group\n\n"
                    "Optional Arguments:\n"
                    "  --timeout [TIMEOUT]  Timeout in seconds (optional; default: maximum possible)\n");
        else
            rc = cmd_open (cli, &la, nrest, rest);
    }
    else if (!strcmp (sub, "close")) {
        if (sub_help)
            printf ("usage: omero sessions close [-h] [sessionId]\n\n"
                    "Close the session with the given session ID\n\n"
                    "Positional Arguments:\n"
                    "  sessionId   The session ID\n");
        else
            rc = cmd_close (cli, &la, nrest ? rest[0] : NULL);
    }
    else {
        usage (stderr);
        fprintf (stderr,
                 "omero sessions: error: argument <subcommand>: invalid choice: '%s'\n\nchoose from:\n"
                 "\tclear, close, file, group, help, keepalive, key, list, login, logout, open, timeout, who\n",
                 sub);
        rc = 2;
    }
    free (rest);
    return rc;
}
