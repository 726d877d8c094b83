/* Unit tests of cli/session_store (OMERO's on-disk session layout) and of the login argument
 * parsing and JSON helpers the CLI uses. */
/* UNIT_LINK: cli */
#include "../../cli/login.h"
#include "../../cli/session_store.h"
#include "omero.h"
#include "omr_util.h"
#include "unit.h"
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void
rmrf (const char *path)
{
    char cmd[600];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system (cmd) != 0)
        fprintf (stderr, "cannot remove %s\n", path);
}

static void
test_add_get_layout (void)
{
    omr_err_t err = {0};
    cli_store_t *s = cli_store_open (dir, &err);
    CHECK (s != NULL);
    struct stat st;
    CHECK (stat (dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    cli_props_t p = {0};
    cli_props_set (&p, "omero.port", "14064");
    cli_props_set (&p, "omero.group", "lab");
    CHECK_INT (cli_store_add (s, "localhost", "root", "aaaa-1", &p, &err), 0);
    char path[1024], want[1024];
    snprintf (want, sizeof want, "%s/localhost/root/aaaa-1", dir);
    CHECK_STR (cli_store_path (s, "localhost", "root", "aaaa-1", path, sizeof path), want);
    char *text = omr_read_file (want, NULL, &err);
    CHECK (text && strstr (text, "omero.port=14064\n") && strstr (text, "omero.host=localhost\n")
           && strstr (text, "omero.user=root\n") && strstr (text, "omero.sess=aaaa-1\n"));
    free (text);
    cli_props_t q = {0};
    CHECK_INT (cli_store_get (s, "localhost", "root", "aaaa-1", &q, &err), 0);
    CHECK_STR (cli_props_get (&q, "omero.group"), "lab");
    CHECK_STR (cli_props_get (&q, "omero.sess"), "aaaa-1");
    CHECK (cli_props_get (&q, "omero.sudo") == NULL);
    cli_props_free (&q);
    CHECK (cli_store_exists (s, "localhost", "root", "aaaa-1"));
    CHECK (!cli_store_exists (s, "localhost", "root", "bbbb"));
    CHECK (!cli_store_exists (s, "localhost", "..", "aaaa-1"));
    /* Names that would leave the store are refused. */
    CHECK_INT (cli_store_add (s, "localhost", "../x", "u", &p, &err), -1);
    CHECK_INT (cli_store_add (s, "localhost", "root", "../../etc", &p, &err), -1);
    cli_props_free (&p);
    cli_store_destroy (&s);
    CHECK (s == NULL);
}

static void
test_current_and_remove (void)
{
    omr_err_t err = {0};
    cli_store_t *s = cli_store_open (dir, &err);
    char *h, *u, *id, *port;
    cli_store_get_current (s, &h, &u, &id, &port);
    CHECK (h == NULL && u == NULL && id == NULL);
    CHECK_STR (port, "4064");
    free (port);
    char b[64];
    CHECK_STR (cli_store_last_host (s, b, sizeof b), "localhost");
    CHECK_INT (cli_store_set_current (s, "localhost", "root", "aaaa-1", "14064", &err), 0);
    cli_store_get_current (s, &h, &u, &id, &port);
    CHECK_STR (h, "localhost");
    CHECK_STR (u, "root");
    CHECK_STR (id, "aaaa-1");
    CHECK_STR (port, "14064");
    free (h), free (u), free (id), free (port);
    char p[1024];
    snprintf (p, sizeof p, "%s/localhost/root/._LASTSESS_", dir);
    CHECK (access (p, F_OK) == 0);
    /* Removing the current session drops the ._LASTSESS_ marker too. */
    cli_store_remove (s, "localhost", "root", "aaaa-1");
    CHECK (access (p, F_OK) != 0);
    CHECK (!cli_store_exists (s, "localhost", "root", "aaaa-1"));
    cli_store_get_current (s, &h, &u, &id, &port);
    CHECK_STR (h, "localhost");
    CHECK_STR (u, "root");
    CHECK (id == NULL);
    free (h), free (u), free (id), free (port);
    cli_store_destroy (&s);
}

static int visited;
static void
count_cb (cli_store_t *s, const cli_store_entry_t *e, void *arg)
{
    visited++;
    if (!strcmp (e->user, "bob"))
        cli_store_remove (s, e->host, e->user, e->uuid);
}

static void
test_available_walk_find (void)
{
    omr_err_t err = {0};
    cli_store_t *s = cli_store_open (dir, &err);
    cli_store_add (s, "omero.example.org", "alice", "u2", NULL, &err);
    cli_store_add (s, "omero.example.org", "alice", "u1", NULL, &err);
    cli_store_add (s, "omero.example.org", "bob", "u3", NULL, &err);
    cli_store_add (s, "wss://h/p", "carol", "u4", NULL, &err);
    char p[1024];
    snprintf (p, sizeof p, "%s/wss%%3A%%2F%%2Fh%%2Fp/carol/u4", dir);
    CHECK (access (p, F_OK) == 0);
    char **ids = cli_store_available (s, "omero.example.org", "alice");
    CHECK (ids && ids[0] && ids[1] && !ids[2]);
    CHECK_STR (ids[0], "u1");
    CHECK_STR (ids[1], "u2");
    cli_store_list_free (ids);
    bool amb;
    char *who = cli_store_find_name_by_key (s, "omero.example.org", "u3", &amb);
    CHECK_STR (who, "bob");
    free (who);
    CHECK (cli_store_find_name_by_key (s, "omero.example.org", "nope", &amb) == NULL);
    visited = 0;
    CHECK_INT (cli_store_walk (s, NULL, NULL, count_cb, NULL), 4);
    CHECK_INT (visited, 4);
    CHECK_INT (cli_store_walk (s, NULL, NULL, NULL, NULL), 3);
    CHECK_INT (cli_store_walk (s, "wss://h/p", NULL, NULL, NULL), 1);
    cli_store_destroy (&s);
}

static void
test_conflicts (void)
{
    omr_err_t err = {0};
    cli_store_t *s = cli_store_open (dir, &err);
    cli_props_t old = {0};
    cli_props_set (&old, "omero.group", "lab");
    cli_store_add (s, "h", "u", "k1", &old, &err);
    cli_props_t n = {0};
    char *c = cli_store_conflicts (s, "h", "u", "k1", &n, true, true);
    CHECK_STR (c, "");
    free (c);
    c = cli_store_conflicts (s, "h", "u", "k1", &n, false, true);
    CHECK_STR (c, "omero.group: lab!=None");
    free (c);
    cli_props_set (&n, "omero.port", "4064");
    cli_props_set (&n, "omero.group", "lab");
    c = cli_store_conflicts (s, "h", "u", "k1", &n, false, true);
    CHECK_STR (c, "");
    free (c);
    cli_props_set (&n, "omero.port", "14064");
    cli_props_set (&n, "omero.group", "other");
    c = cli_store_conflicts (s, "h", "u", "k1", &n, false, false);
    CHECK_STR (c, "omero.port: None!=14064");
    free (c);
    c = cli_store_conflicts (s, "h", "u", "k1", &n, false, true);
    CHECK_STR (c, "omero.port: None!=14064; omero.group: lab!=other");
    free (c);
    cli_props_free (&n);
    cli_props_free (&old);
    cli_store_destroy (&s);
}

static void
test_default_dir (void)
{
    char d[300];
    omr_err_t err = {0};
    snprintf (d, sizeof d, "%s/userdir", dir);
    unsetenv ("OMERO_SESSIONDIR");
    setenv ("OMERO_USERDIR", d, 1);
    cli_store_t *s = cli_store_new (&err);
    char want[400];
    snprintf (want, sizeof want, "%s/sessions", d);
    CHECK (s && !strcmp (cli_store_dir (s), want));
    cli_store_destroy (&s);
    setenv ("OMERO_SESSION_DIR", d, 1);
    s = cli_store_new (&err);
    snprintf (want, sizeof want, "%s/omero/sessions", d);
    CHECK (s && !strcmp (cli_store_dir (s), want));
    cli_store_destroy (&s);
    setenv ("OMERO_SESSIONDIR", dir, 1);
    s = cli_store_new (&err);
    CHECK (s && !strcmp (cli_store_dir (s), dir));
    cli_store_destroy (&s);
    unsetenv ("OMERO_SESSION_DIR");
    unsetenv ("OMERO_SESSIONDIR");
    unsetenv ("OMERO_USERDIR");
    setenv ("HOME", d, 1);
    s = cli_store_new (&err);
    snprintf (want, sizeof want, "%s/omero/sessions", d);
    CHECK (s && !strcmp (cli_store_dir (s), want));
    cli_store_destroy (&s);
    /* A file where the directory should be is an error, not a crash. */
    snprintf (want, sizeof want, "%s/afile", dir);
    FILE *f = fopen (want, "w");
    fclose (f);
    CHECK (cli_store_open (want, &err) == NULL);
    CHECK (strstr (err.msg, "Could not access session dir") != NULL);
}

static void
test_login_args (void)
{
    char *argv[] = {"x", "-s", "host", "--port=14064", "-uroot", "-w", "pw", "--sudo", "admin", "-C", "-q",
                    "-g", "grp", "--key", "K", "other", "-w"};
    int argc = (int) (sizeof argv / sizeof argv[0]);
    cli_login_args_t a = {0};
    int consumed = 0, i;
    for (i = 1; i < argc - 2; i++) {
        int r = cli_login_arg (&a, argc, argv, &i);
        if (r == 1)
            consumed++;
        else
            break;
    }
    CHECK_INT (consumed, 9);
    CHECK_STR (argv[i], "other");
    CHECK_STR (a.server, "host");
    CHECK_STR (a.port, "14064");
    CHECK_STR (a.user, "root");
    CHECK_STR (a.password, "pw");
    CHECK_STR (a.sudo, "admin");
    CHECK_STR (a.group, "grp");
    CHECK_STR (a.key, "K");
    CHECK (a.create && a.quiet);
    CHECK_INT (cli_login_arg (&a, argc, argv, &i), 0);
    i = argc - 1;
    /* A value-taking option at the end has no value. */
    CHECK_INT (cli_login_arg (&a, argc, argv, &i), -1);
}

static void
test_hoist (void)
{
    char *argv[] = {"omero", "-q", "-s", "host", "--sudo=root", "-u", "bob", "login", "-w", "pw", NULL};
    int n = 0;
    char **v = cli_login_hoist (10, argv, &n);
    CHECK_INT (n, 10);
    const char *want[] = {"omero", "-q", "login", "-s", "host", "--sudo=root", "-u", "bob", "-w", "pw"};
    for (int i = 0; i < 10 && i < n; i++)
        CHECK_STR (v[i], want[i]);
    CHECK (v[10] == NULL);
    free (v);
    /* Nothing to move; an unknown option stays where it is; a trailing option without value too. */
    char *b[] = {"omero", "config", "set", "-s", NULL};
    v = cli_login_hoist (4, b, &n);
    CHECK_INT (n, 4);
    CHECK_STR (v[1], "config");
    CHECK_STR (v[3], "-s");
    free (v);
    char *c[] = {"omero", "-h", "-g", "grp", NULL};
    v = cli_login_hoist (4, c, &n);
    CHECK_INT (n, 4);
    CHECK_STR (v[1], "-h");
    CHECK_STR (v[2], "-g");
    free (v);
}

static void
test_parse_conn (void)
{
    char *u, *s, *p;
    CHECK_INT (cli_login_parse_conn ("root@localhost:14064", &u, &s, &p), 0);
    CHECK_STR (u, "root");
    CHECK_STR (s, "localhost");
    CHECK_STR (p, "14064");
    free (u), free (s), free (p);
    CHECK_INT (cli_login_parse_conn ("my.email@example.com@omero.example.com", &u, &s, &p), 0);
    CHECK_STR (u, "my.email@example.com");
    CHECK_STR (s, "omero.example.com");
    CHECK (p == NULL);
    free (u), free (s), free (p);
    CHECK_INT (cli_login_parse_conn ("servername", &u, &s, &p), 0);
    CHECK (u == NULL && p == NULL);
    CHECK_STR (s, "servername");
    free (s);
    CHECK_INT (cli_login_parse_conn ("root@", &u, &s, &p), -1);
    CHECK (u == NULL && s == NULL && p == NULL);
}

static void
test_json_helpers (void)
{
    json_t *o = json_pack ("{s:I, s:s, s:{s:I}, s:{s:s}, s:b, s:s, s:n}", "@id", (json_int_t) 7, "UserName", "jsmith",
                           "group", "@id", (json_int_t) 3, "wrapped", "value", "v", "ldap", 1, "num", "42", "nul");
    char b[32];
    CHECK_INT (omero_json_int (o, "id|@id", -1), 7);
    CHECK_INT (omero_json_int (o, "group", -1), 3);
    CHECK_INT (omero_json_int (o, "num", -1), 42);
    CHECK_INT (omero_json_int (o, "UserName", -1), -1);
    CHECK_STR (omero_json_text (o, "omeName|UserName", b, sizeof b, "?"), "jsmith");
    CHECK_STR (omero_json_text (o, "@id", b, sizeof b, "?"), "7");
    CHECK_STR (omero_json_text (o, "wrapped", b, sizeof b, "?"), "v");
    CHECK_STR (omero_json_text (o, "nul|missing", b, sizeof b, "?"), "?");
    CHECK (omero_json_bool (o, "ldap", false));
    CHECK (!omero_json_bool (o, "missing", false));
    CHECK_STR (omero_version (), "5.6.10");
    json_decref (o);
}

static void
test_client_refuses_bad_input (void)
{
    omero_err_t err = {0};
    CHECK (omero_client_new ("", 4064, &err) == NULL);
    CHECK_STR (err.name, "ApiUsageException");
    CHECK (omero_client_new ("a/b", 4064, &err) == NULL);
    CHECK_STR (err.name, "DNSException");
    CHECK (omero_client_new ("h", 70000, &err) == NULL);
    omero_client_t *c = omero_client_new ("localhost", 0, &err);
    CHECK (c != NULL);
    CHECK_INT (omero_client_port (c), 4064);
    CHECK (omero_client_session (c) == NULL);
    /* Bad service names never reach the network. */
    CHECK (omero_client_call (c, "IAdmin/../x", "m", NULL, &err) == NULL);
    CHECK_STR (err.name, "ApiUsageException");
    CHECK (omero_client_call_text (c, "IAdmin", "m", "{not json", &err) == NULL);
    CHECK_STR (err.name, "ApiUsageException");
    CHECK_INT (omero_client_keepalive (c, &err), -1);
    CHECK_STR (err.name, "SessionException");
    CHECK_INT (omero_client_join (c, "bad\nkey", &err), -1);
    CHECK_INT (omero_client_set_ca_file (c, "/nonexistent/ca.pem", &err), -1);
    omero_client_destroy (&c);
    CHECK (c == NULL);
    /* Nothing listens on port 1: a transport error with OMERO's exception name. */
    c = omero_client_new ("127.0.0.1", 1, &err);
    CHECK_INT (omero_client_login (c, "root", "pw", NULL, &err), -1);
    CHECK_STR (err.name, "ConnectionRefusedException");
    CHECK_INT (err.status, 0);
    omero_client_destroy (&c);
}

int
main (void)
{
    snprintf (dir, sizeof dir, "/tmp/test_client_store.%d", (int) getpid ());
    RUN (test_add_get_layout);
    RUN (test_current_and_remove);
    RUN (test_available_walk_find);
    RUN (test_conflicts);
    RUN (test_default_dir);
    RUN (test_login_args);
    RUN (test_hoist);
    RUN (test_parse_conn);
    RUN (test_json_helpers);
    RUN (test_client_refuses_bad_input);
    rmrf (dir);
    return UNIT_DONE ();
}
