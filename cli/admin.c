/* admin: `omero admin start|stop|restart|status|deploy|diagnostics|ice` for the grid:
 * the embedded PostgreSQL, the registry daemon, and the servers it supervises. */
#include "graph.h"
#include "cli.h"
#include "registry/descriptor.h"
#include "grid.h"
#include "omr_curve.h"
#include "omr_util.h"
#include "pgembed.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PING_MS 1500

static const char *
prop_lookup (void *arg, const char *key)
{
    return omr_config_get ((omr_config_t *) arg, key);
}

/* Split "start [--foreground] [file] [targets…]" arguments. */
typedef struct {
    bool foreground;
    char *file;
    const char **targets;
    int ntargets;
} start_args_t;

static int
parse_start (cli_t *cli, int argc, char **argv, start_args_t *a)
{
    a->targets = calloc (argc + 1, sizeof (char *));
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--foreground"))
            a->foreground = true;
        else if (!strcmp (argv[i], "--force-rewrite"))
            continue;
        else if (!strcmp (argv[i], "-u") || !strcmp (argv[i], "--user")) {
            i++;
            continue;
        }
        else if (argv[i][0] == '-') {
            fprintf (stderr, "omero admin: unknown option %s\n", argv[i]);
            return 2;
        }
        else if (!a->file && !a->ntargets && access (argv[i], R_OK) == 0) {
            char rp[4096];
            a->file = strdup (realpath (argv[i], rp) ? rp : argv[i]);
        }
        else
            a->targets[a->ntargets++] = argv[i];
    }
    if (!a->file) {
        char p[4200];
        snprintf (p, sizeof p, "%s/etc/grid/default.yaml", cli->omerodir);
        if (access (p, R_OK) != 0)
            snprintf (p, sizeof p, "%s/etc/grid/default.xml", cli->omerodir);
        a->file = strdup (p);
        if (!cli->quiet)
            printf ("No descriptor given. Using %s\n",
                    strstr (a->file, "/etc/grid/") ? strstr (a->file, "etc/grid/") : a->file);
    }
    return 0;
}

static bool
registry_answers (cli_t *cli)
{
    omr_err_t err = {0};
    /* The registry of this installation always runs here with a pid file; no pid, no registry. */
    if (!grid_registry_pid (cli))
        return false;
    json_t *r = grid_call (cli, "Registry.ping", json_object (), PING_MS, &err);
    json_decref (r);
    return r != NULL;
}

static void
tail_file (const char *path, int lines)
{
    char *t = omr_read_file (path, NULL, NULL);
    if (!t)
        return;
    size_t n = strlen (t);
    int seen = 0;
    size_t i = n;
    while (i > 0 && seen <= lines) {
        i--;
        if (t[i] == '\n')
            seen++;
    }
    fprintf (stderr, "--- %s ---\n%s", path, t + (i ? i + 1 : 0));
    free (t);
}

/* Wait for every pid file under var/master/servers to name a dead process; SIGKILL stragglers. */
static void
wait_servers_gone (cli_t *cli, int timeout_ms)
{
    char dir[4200];
    snprintf (dir, sizeof dir, "%s/var/master/servers", cli->omerodir);
    int64_t end = omr_mono_ms () + timeout_ms;
    for (;;) {
        int alive = 0;
        DIR *d = opendir (dir);
        struct dirent *e;
        while (d && (e = readdir (d))) {
            size_t l = strlen (e->d_name);
            if (l < 5 || strcmp (e->d_name + l - 4, ".pid"))
                continue;
            char p[4600];
            snprintf (p, sizeof p, "%s/%s", dir, e->d_name);
            char *t = omr_read_file (p, NULL, NULL);
            int pid = t ? atoi (t) : 0;
            free (t);
            if (pid > 1 && omr_pid_alive (pid)) {
                alive++;
                if (omr_mono_ms () > end)
                    kill (pid, SIGKILL);
            }
            else
                unlink (p);
        }
        if (d)
            closedir (d);
        if (!alive || omr_mono_ms () > end + 2000)
            return;
        usleep (50000);
    }
}

static int
do_stop (cli_t *cli, bool quiet_if_down)
{
    omr_err_t err = {0};
    int pid = grid_registry_pid (cli);
    bool up = registry_answers (cli);
    if (!pid && !up) {
        bool db = pg_embedded (cli) && pg_running (cli, NULL);
        if (db && pg_stop (cli, &err) < 0)
            return cli_fail_err (&err);
        if (!quiet_if_down) {
            fprintf (stderr, "Server not running\n");
            return 1;
        }
        return 0;
    }
    int timeout = (int) omr_config_get_int (cli->config, "omero.server.stop_timeout", 10000);
    if (!cli->quiet)
        printf ("Waiting on shutdown. Use CTRL-C to exit\n");
    if (up) {
        json_t *r = grid_call (cli, "Registry.shutdown", json_object (), 5000, &err);
        json_decref (r);
    }
    else if (pid)
        kill (pid, SIGTERM);
    int64_t end = omr_mono_ms () + timeout + 5000;
    while (pid && omr_pid_alive (pid) && omr_mono_ms () < end)
        usleep (50000);
    if (pid && omr_pid_alive (pid)) {
        fprintf (stderr, "The registry (pid %d) did not stop in time: killing it\n", pid);
        kill (pid, SIGKILL);
        while (omr_pid_alive (pid))
            usleep (20000);
    }
    wait_servers_gone (cli, 5000);
    if (pg_embedded (cli) && pg_stop (cli, &err) < 0)
        return cli_fail_err (&err);
    if (!cli->quiet)
        printf ("OMERO.grid stopped\n");
    return 0;
}

/* Every `always` server (on every node) active? Fills why with the first problem. */
static int
grid_health (json_t *list, bool master_only, char *why, size_t len, bool *fatal)
{
    size_t i;
    json_t *s;
    int inactive = 0;
    *fatal = false;
    why[0] = 0;
    json_array_foreach (json_object_get (list, "servers"), i, s) {
        if (strcmp (json_string_value (json_object_get (s, "activation")), "always") != 0)
            continue;
        if (master_only && strcmp (json_string_value (json_object_get (s, "node")), "master") != 0)
            continue;
        const char *state = json_string_value (json_object_get (s, "state"));
        if (strcmp (state, "active") == 0)
            continue;
        inactive++;
        const char *id = json_string_value (json_object_get (s, "id"));
        const char *le = json_string_value (json_object_get (s, "last_error"));
        bool enabled = json_is_true (json_object_get (s, "enabled"));
        int restarts = (int) json_integer_value (json_object_get (s, "restarts"));
        if (!why[0] || (!*fatal && (!enabled || restarts >= 2 || (le && strstr (le, "not found"))))) {
            snprintf (why, len, "%s is %s%s%s%s", id, state, enabled ? "" : " (disabled)", le && *le ? ": " : "",
                      le ? le : "");
            if (!enabled || restarts >= 2 || (le && (strstr (le, "not found") || strstr (le, "cannot start"))))
                *fatal = true;
        }
    }
    return inactive;
}

static int
spawn_registry (cli_t *cli, start_args_t *a, omr_err_t *err)
{
    char exe[4200], out[4200], errp[4200];
    snprintf (exe, sizeof exe, "%s/bin/omero-registry", cli->omerodir);
    snprintf (out, sizeof out, "%s/var/log/master.out", cli->omerodir);
    snprintf (errp, sizeof errp, "%s/var/log/master.err", cli->omerodir);
    if (access (exe, X_OK) != 0)
        return omr_err_set (err, OMR_E_CONFIG, 500, "%s is missing: reinstall (make install PREFIX=%s)", exe,
                            cli->omerodir);
    char **argv = calloc (a->ntargets + 3, sizeof (char *));
    argv[0] = exe;
    argv[1] = a->file;
    for (int i = 0; i < a->ntargets; i++)
        argv[2 + i] = (char *) a->targets[i];
    if (a->foreground) {
        setenv ("OMERODIR", cli->omerodir, 1);
        execv (exe, argv);
        free (argv);
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot run %s: %s", exe, strerror (errno));
    }
    pid_t pid = fork ();
    if (pid < 0) {
        free (argv);
        return omr_err_set (err, OMR_E_RESOURCE, 500, "fork: %s", strerror (errno));
    }
    if (pid == 0) {
        /* Daemon: a session of its own, double fork so init adopts it. */
        setsid ();
        if (fork () != 0)
            _exit (0);
        int dn = open ("/dev/null", O_RDWR);
        int o = open (out, O_WRONLY | O_CREAT | O_APPEND, 0640);
        int e = open (errp, O_WRONLY | O_CREAT | O_APPEND, 0640);
        dup2 (dn, 0);
        dup2 (o, 1);
        dup2 (e, 2);
        if (chdir (cli->omerodir) < 0)
            _exit (126);
        setenv ("OMERODIR", cli->omerodir, 1);
        execv (exe, argv);
        _exit (127);
    }
    waitpid (pid, NULL, 0);
    free (argv);
    return 0;
}

static int
do_start (cli_t *cli, int argc, char **argv)
{
    omr_err_t err = {0};
    if (!cli->config)
        return cli_fail_err (&cli->config_err);
    start_args_t a = {0};
    int rc = parse_start (cli, argc, argv, &a);
    if (rc)
        goto done;
    int pid = grid_registry_pid (cli);
    if (pid || registry_answers (cli)) {
        rc = cli_fail ("Server already running (registry pid %d). Use `omero admin restart` to restart it or "
                       "`omero admin stop` to stop it",
                       pid);
        goto done;
    }
    /* Validate the descriptor before anything starts. */
    reg_deployment_t *dep = reg_deployment_load (a.file, a.targets, a.ntargets, prop_lookup, cli->config, &err);
    const char *nd = omr_config_get (cli->config, "omero.server.nodedescriptors");
    if (dep && nd && *nd && reg_deployment_apply_nodedescriptors (dep, nd, &err) < 0)
        reg_deployment_destroy (&dep);
    if (!dep) {
        rc = cli_fail ("%s\nNothing was started.", err.msg);
        goto done;
    }
    for (int i = 0; i < reg_deployment_warning_count (dep); i++)
        fprintf (stderr, "Warning: %s\n", reg_deployment_warning (dep, i));
    reg_deployment_destroy (&dep);
    /* Directories, as OMERO's first start creates them. */
    const char *dirs[][2] = {{"var/master", "Creating"}, {"var/log", "Initializing"}};
    for (int i = 0; i < 2; i++) {
        char p[4200];
        snprintf (p, sizeof p, "%s/%s", cli->omerodir, dirs[i][0]);
        if (access (p, F_OK) != 0) {
            if (!cli->quiet)
                printf ("%s %s\n", dirs[i][1], dirs[i][0]);
            if (omr_mkdirs (p, i == 0 ? 0700 : 0755, &err) < 0) {
                rc = cli_fail_err (&err);
                goto done;
            }
        }
    }
    const char *data = omr_config_get (cli->config, "omero.data.dir");
    if (omr_mkdirs (data, 0755, NULL) < 0 || access (data, W_OK) != 0) {
        rc = cli_fail ("data directory %s is not writable: %s. Create it with the right owner or set "
                       "omero.data.dir",
                       data, strerror (errno));
        goto done;
    }
    char keydir[4200];
    snprintf (keydir, sizeof keydir, "%s/etc/grid/keys", cli->omerodir);
    if (omr_curve_ensure (keydir, &err) < 0) {
        rc = cli_fail_err (&err);
        goto done;
    }
    if (pg_embedded (cli))
        rc = pg_start (cli, &err);
    else {
        /* A site database: servers read omero.db.* from the configuration. */
        char dbyaml[4200];
        snprintf (dbyaml, sizeof dbyaml, "%s/var/master/db.yaml", cli->omerodir);
        unlink (dbyaml);
        rc = pg_check_site (cli, &err);
    }
    if (rc < 0) {
        rc = cli_fail ("%s\nNothing was started.", err.msg);
        goto done;
    }
    if (a.foreground) {
        rc = spawn_registry (cli, &a, &err) < 0 ? cli_fail_err (&err) : 0;
        goto done;
    }
    if (spawn_registry (cli, &a, &err) < 0) {
        rc = cli_fail_err (&err);
        goto done;
    }
    if (!cli->quiet) {
        printf ("Waiting on startup. Use CTRL-C to exit\n");
        fflush (stdout);
    }
    int timeout = (int) omr_config_get_int (cli->config, "omero.admin.start_timeout", 120000);
    int64_t end = omr_mono_ms () + timeout;
    char errpath[4200];
    snprintf (errpath, sizeof errpath, "%s/var/log/master.err", cli->omerodir);
    int64_t registry_deadline = omr_mono_ms () + 10000;
    char why[1024] = "";
    bool fatal = false;
    for (;;) {
        json_t *list = grid_call (cli, "Registry.list", json_object (), PING_MS, &err);
        if (!list) {
            if (!grid_registry_pid (cli) && omr_mono_ms () > registry_deadline - 9500) {
                tail_file (errpath, 10);
                rc = cli_fail ("the registry did not start (see var/log/master.err)");
                if (pg_embedded (cli))
                    pg_stop (cli, NULL);
                goto done;
            }
            if (omr_mono_ms () > registry_deadline) {
                rc = cli_fail ("the registry does not answer on %s", "its port");
                do_stop (cli, true);
                goto done;
            }
            usleep (100000);
            continue;
        }
        int inactive = grid_health (list, true, why, sizeof why, &fatal);
        json_decref (list);
        if (inactive == 0)
            break;
        if (fatal || omr_mono_ms () > end) {
            rc = cli_fail ("%s\nSee var/log/ for details. Stopping the grid.", why);
            do_stop (cli, true);
            goto done;
        }
        usleep (100000);
    }
    if (!cli->quiet)
        printf ("OMERO.grid started\n");
    rc = 0;
done:
    free (a.file);
    free (a.targets);
    return rc;
}

static int
do_status (cli_t *cli)
{
    omr_err_t err = {0};
    if (!grid_registry_pid (cli)) {
        fprintf (stderr, "Server not running\n");
        return 1;
    }
    json_t *list = grid_call (cli, "Registry.list", json_object (), PING_MS, &err);
    if (!list) {
        fprintf (stderr, "Server not running\n");
        return 1;
    }
    char why[1024];
    bool fatal;
    int inactive = grid_health (list, false, why, sizeof why, &fatal);
    int total = 0;
    size_t i;
    json_t *s;
    json_array_foreach (json_object_get (list, "servers"), i, s) total++;
    if (!cli->quiet) {
        if (inactive)
            printf ("OMERO.grid running (registry pid %d), but %s\n",
                    (int) json_integer_value (json_object_get (list, "pid")), why);
        else
            printf ("OMERO.grid running (registry pid %d): every server active\n",
                    (int) json_integer_value (json_object_get (list, "pid")));
    }
    json_decref (list);
    return inactive ? 1 : 0;
}

static int
do_deploy (cli_t *cli, int argc, char **argv)
{
    omr_err_t err = {0};
    json_t *body = json_object ();
    json_t *targets = json_array ();
    for (int i = 1; i < argc; i++) {
        if (json_object_get (body, "file") == NULL && json_array_size (targets) == 0 && access (argv[i], R_OK) == 0) {
            char rp[4096];
            json_object_set_new (body, "file", json_string (realpath (argv[i], rp) ? rp : argv[i]));
        }
        else
            json_array_append_new (targets, json_string (argv[i]));
    }
    json_object_set_new (body, "targets", targets);
    json_t *r = grid_call (cli, "Registry.deploy", body, 10000, &err);
    if (!r) {
        if (err.status == 503)
            return cli_fail ("Server not running");
        return cli_fail ("%s\nNothing was changed.", err.msg);
    }
    const char *kinds[] = {"started", "restarted", "stopped"};
    for (int k = 0; k < 3; k++) {
        size_t i;
        json_t *v;
        json_array_foreach (json_object_get (r, kinds[k]), i, v) printf ("%s %s\n", kinds[k],
                                                                        json_string_value (v));
    }
    size_t i;
    json_t *w;
    json_array_foreach (json_object_get (r, "warnings"), i, w) fprintf (stderr, "Warning: %s\n", json_string_value (w));
    json_decref (r);
    return 0;
}

/* --- diagnostics --- */

static void
cmd_version (const char *label, const char *cmd)
{
    char line[512] = "";
    FILE *p = popen (cmd, "r");
    if (p) {
        if (!fgets (line, sizeof line, p))
            line[0] = 0;
        pclose (p);
    }
    line[strcspn (line, "\n")] = 0;
    printf ("Commands:  %-22s %s\n", label, line[0] ? line : "not found");
}

static void
human (long long n, char *buf, size_t len)
{
    if (n < 1024)
        snprintf (buf, len, "%lld B", n);
    else if (n < 1024 * 1024)
        snprintf (buf, len, "%.1f KB", n / 1024.0);
    else
        snprintf (buf, len, "%.1f MB", n / 1048576.0);
}

static void
log_line (const char *dir, const char *name, long long *total)
{
    char p[4600];
    snprintf (p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    if (stat (p, &st) != 0) {
        printf ("Log files: %-22s n/a\n", name);
        return;
    }
    *total += st.st_size;
    if (st.st_size == 0) {
        printf ("Log files: %-22s empty\n", name);
        return;
    }
    int errors = 0, warnings = 0;
    FILE *f = fopen (p, "r");
    char line[8192];
    while (f && fgets (line, sizeof line, f)) {
        if (strstr (line, "ERROR") || strstr (line, "FATAL"))
            errors++;
        else if (strstr (line, "WARN"))
            warnings++;
    }
    if (f)
        fclose (f);
    char h[32];
    human (st.st_size, h, sizeof h);
    printf ("Log files: %-22s %-12s errors=%-6d warnings=%d\n", name, h, errors, warnings);
}

static void
dir_check (const char *label, const char *path)
{
    struct stat st;
    bool exists = stat (path, &st) == 0;
    bool writable = exists && access (path, W_OK) == 0;
    printf ("%s '%s'  Exists? %s   Is writable? %s\n", label, path, exists ? "True" : "False",
            writable ? "True" : "False");
}

static int
do_diagnostics (cli_t *cli)
{
    printf ("\n=====\nOMERO Diagnostics 5.6.10\n=====\n\n");
    char cmd[4400];
    snprintf (cmd, sizeof cmd, "'%s/bin/omero' version 2>/dev/null", cli->omerodir);
    cmd_version ("omero version", cmd);
    cmd_version ("psql --version", "psql --version 2>/dev/null");
    cmd_version ("openssl version", "openssl version 2>/dev/null");
    struct utsname u;
    if (uname (&u) == 0)
        printf ("Commands:  %-22s %s %s %s\n", "uname", u.sysname, u.release, u.machine);
    printf ("\n");
    omr_err_t err = {0};
    json_t *list = grid_call (cli, "Registry.list", json_object (), PING_MS, &err);
    printf ("Server:    %-22s %s\n", "omero-registry", list ? "running" : "not started");
    if (pg_embedded (cli)) {
        int port = 0;
        bool run = pg_running (cli, &port);
        if (run)
            printf ("Server:    %-22s running (port %d)\n", "postgresql", port);
        else
            printf ("Server:    %-22s not started\n", "postgresql");
    }
    size_t i;
    json_t *s;
    json_array_foreach (json_object_get (list, "servers"), i, s) {
        const char *state = json_string_value (json_object_get (s, "state"));
        bool enabled = json_is_true (json_object_get (s, "enabled"));
        int pid = (int) json_integer_value (json_object_get (s, "pid"));
        if (pid > 0 && strcmp (state, "inactive") != 0)
            printf ("Server:    %-22s %s (pid = %d, %s)\n", json_string_value (json_object_get (s, "id")), state, pid,
                    enabled ? "enabled" : "disabled");
        else
            printf ("Server:    %-22s %s (%s)\n", json_string_value (json_object_get (s, "id")), state,
                    enabled ? "enabled" : "disabled");
    }
    json_array_foreach (json_object_get (list, "nodes"), i, s) {
        const char *name = json_string_value (json_object_get (s, "name"));
        if (strcmp (name, "master") == 0)
            continue;
        printf ("Node:      %-22s %s", name, json_is_true (json_object_get (s, "up")) ? "up" : "down");
        int pid = (int) json_integer_value (json_object_get (s, "pid"));
        if (pid && json_is_true (json_object_get (s, "up")))
            printf (" (pid = %d, host %s)", pid, json_string_value (json_object_get (s, "host")));
        printf ("\n");
    }
    printf ("\nOMERO:     %-22s %d\n", "SSL port", omr_config_port (cli->config, "omero.ports.ssl"));
    printf ("OMERO:     %-22s %d\n", "TCP port", omr_config_port (cli->config, "omero.ports.tcp"));
    printf ("OMERO:     %-22s %d\n", "Registry port", omr_config_port (cli->config, "omero.ports.registry"));
    if (pg_embedded (cli))
        printf ("OMERO:     %-22s %d\n", "Database port", pg_port (cli));
    char logdir[4200];
    snprintf (logdir, sizeof logdir, "%s/var/log", cli->omerodir);
    struct stat st;
    printf ("\nLog dir:   %s %s\n\n", logdir, stat (logdir, &st) == 0 ? "exists" : "doesn't exist");
    long long total = 0;
    json_array_foreach (json_object_get (list, "servers"), i, s) {
        char name[300];
        snprintf (name, sizeof name, "%s.log", json_string_value (json_object_get (s, "id")));
        log_line (logdir, name, &total);
    }
    log_line (logdir, "master.err", &total);
    log_line (logdir, "master.out", &total);
    printf ("Log files: %-22s %.2f MB\n\n", "Total size", total / 1048576.0);
    const char *env[] = {"OMERODIR", "OMERO_HOME", "OMERO_NODE", "OMERO_MASTER", "OMERO_TEMPDIR", "OMERO_SESSIONDIR",
                         "PATH", "LD_LIBRARY_PATH", NULL};
    for (int k = 0; env[k]; k++) {
        const char *v = getenv (env[k]);
        printf ("Environment:%s=%s\n", env[k], v ? v : "(unset)");
    }
    printf ("\nOMERO SSL port:%d\nOMERO TCP port:%d\n", omr_config_port (cli->config, "omero.ports.ssl"),
            omr_config_port (cli->config, "omero.ports.tcp"));
    dir_check ("OMERO data dir:", omr_config_get (cli->config, "omero.data.dir"));
    const char *tmp = getenv ("OMERO_TEMPDIR");
    char tpath[4200];
    snprintf (tpath, sizeof tpath, "%s/omero/tmp", tmp ? tmp : getenv ("HOME") ? getenv ("HOME") : "/tmp");
    dir_check ("OMERO temp dir:", tpath);
    json_decref (list);
    return 0;
}

/* --- ice (icegridadmin's commands) --- */

static int
ice_command (cli_t *cli, int argc, char **argv)
{
    omr_err_t err = {0};
    if (argc == 0)
        return 0;
    const char *a0 = argv[0], *a1 = argc > 1 ? argv[1] : "", *a2 = argc > 2 ? argv[2] : NULL;
    if (!strcmp (a0, "help")) {
        printf ("server list\nserver start|stop|enable|disable|state|pid ID\nnode list\nnode ping NAME\n"
                "application list\napplication describe [NAME]\n");
        return 0;
    }
    if (!strcmp (a0, "server") && !strcmp (a1, "list")) {
        json_t *l = grid_call (cli, "Registry.list", json_object (), PING_MS, &err);
        if (!l)
            return cli_fail_err (&err);
        size_t i;
        json_t *s;
        json_array_foreach (json_object_get (l, "servers"), i, s) printf ("%s\n",
                                                                          json_string_value (json_object_get (s, "id")));
        json_decref (l);
        return 0;
    }
    if (!strcmp (a0, "server") && a2) {
        json_t *r = grid_call (cli, "Registry.server", json_pack ("{s:s,s:s}", "action", a1, "id", a2), 5000, &err);
        if (!r)
            return cli_fail ("%s", err.msg);
        if (!strcmp (a1, "state"))
            printf ("%s (%s)\n", json_string_value (json_object_get (r, "state")),
                    json_is_true (json_object_get (r, "enabled")) ? "enabled" : "disabled");
        else if (!strcmp (a1, "pid")) {
            int pid = (int) json_integer_value (json_object_get (r, "pid"));
            if (!pid) {
                json_decref (r);
                return cli_fail ("server `%s' is not active", a2);
            }
            printf ("%d\n", pid);
        }
        else if (!strcmp (a1, "stop")) {
            /* Wait (briefly) until it is down, as icegridadmin does. */
            for (int k = 0; k < 150; k++) {
                json_t *st = grid_call (cli, "Registry.server", json_pack ("{s:s,s:s}", "action", "state", "id", a2),
                                        2000, &err);
                bool down = st && !strcmp (json_string_value (json_object_get (st, "state")), "inactive");
                json_decref (st);
                if (down)
                    break;
                usleep (100000);
            }
        }
        json_decref (r);
        return 0;
    }
    if (!strcmp (a0, "node") && !strcmp (a1, "list")) {
        json_t *r = grid_call (cli, "Registry.nodes", json_object (), PING_MS, &err);
        if (!r)
            return cli_fail_err (&err);
        size_t i;
        json_t *n;
        json_array_foreach (json_object_get (r, "nodes"), i, n) printf ("%s\n",
                                                                        json_string_value (json_object_get (n, "name")));
        json_decref (r);
        return 0;
    }
    if (!strcmp (a0, "node") && !strcmp (a1, "ping") && a2) {
        json_t *r = grid_call (cli, "Registry.nodePing", json_pack ("{s:s}", "name", a2), PING_MS, &err);
        if (!r) {
            printf ("node is down\n");
            return 1;
        }
        printf ("node is up\n");
        json_decref (r);
        return 0;
    }
    if (!strcmp (a0, "application") && (!strcmp (a1, "describe") || !strcmp (a1, "list"))) {
        json_t *r = grid_call (cli, "Registry.describe", json_object (), PING_MS, &err);
        if (!r)
            return cli_fail_err (&err);
        if (!strcmp (a1, "list"))
            printf ("%s\n", json_string_value (json_object_get (json_object_get (r, "deployment"), "application")));
        else
            fputs (json_string_value (json_object_get (r, "text")), stdout);
        json_decref (r);
        return 0;
    }
    return cli_fail ("unknown command: %s %s (try `help`)", a0, a1);
}

static int
do_ice (cli_t *cli, int argc, char **argv)
{
    if (argc > 1)
        return ice_command (cli, argc - 1, argv + 1);
    /* Console: one command per line, as icegridadmin reads them. */
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    bool tty = isatty (0);
    for (;;) {
        if (tty) {
            printf (">>> ");
            fflush (stdout);
        }
        if (getline (&line, &cap, stdin) <= 0)
            break;
        char *words[16];
        int n = 0;
        for (char *t = strtok (line, " \t\n;"); t && n < 16; t = strtok (NULL, " \t\n;"))
            words[n++] = t;
        if (n == 0)
            continue;
        if (!strcmp (words[0], "exit") || !strcmp (words[0], "quit"))
            break;
        rc = ice_command (cli, n, words);
    }
    free (line);
    return rc;
}

int
cli_admin (cli_t *cli, int argc, char **argv)
{
    if (argc < 2 || !strcmp (argv[1], "-h") || !strcmp (argv[1], "--help")) {
        printf ("usage: omero admin {start [--foreground] [file] [targets…] | stop | restart | status |\n"
                "                    deploy [file] [targets…] | diagnostics | ice [command…] |\n"
                "                    cleanse [--dry-run] [data_dir]}\n");
        return argc < 2 ? 2 : 0;
    }
    if (!cli->config)
        return cli_fail_err (&cli->config_err);
    const char *sub = argv[1];
    if (!strcmp (sub, "start"))
        return do_start (cli, argc - 1, argv + 1);
    if (!strcmp (sub, "stop"))
        return do_stop (cli, false);
    if (!strcmp (sub, "restart")) {
        int rc = do_stop (cli, true);
        return rc ? rc : do_start (cli, argc - 1, argv + 1);
    }
    if (!strcmp (sub, "status"))
        return do_status (cli);
    if (!strcmp (sub, "deploy"))
        return do_deploy (cli, argc - 1, argv + 1);
    if (!strcmp (sub, "diagnostics"))
        return do_diagnostics (cli);
    if (!strcmp (sub, "ice"))
        return do_ice (cli, argc - 1, argv + 1);
    if (!strcmp (sub, "cleanse"))
        return cli_graph_cleanse (cli, argc - 1, argv + 1);
    fprintf (stderr, "omero admin: unknown command %s\n", sub);
    return 2;
}
