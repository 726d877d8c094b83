/* node: `omero node [NAME] start|stop|status|restart` (also `omero node start NAME` and
 * OMERO_NODE=NAME omero node start): runs the node agent omero-node as a daemon. */
#include "cli.h"
#include "grid.h"
#include "omr_util.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static bool
is_action (const char *s)
{
    return !strcmp (s, "start") || !strcmp (s, "stop") || !strcmp (s, "status") || !strcmp (s, "restart");
}

static int
node_pid (cli_t *cli, const char *name)
{
    char p[4200];
    snprintf (p, sizeof p, "%s/var/%s/node.pid", cli->omerodir, name);
    char *t = omr_read_file (p, NULL, NULL);
    int pid = t ? atoi (t) : 0;
    free (t);
    return pid > 0 && omr_pid_alive (pid) ? pid : 0;
}

/* Whether the registry lists node name as up, held by agent pid (any pid when 0). */
static bool
node_up (cli_t *cli, const char *name, int pid)
{
    omr_err_t err = {0};
    json_t *r = grid_call (cli, "Registry.nodePing", json_pack ("{s:s}", "name", name), 1500, &err);
    bool up = r && (!pid || json_integer_value (json_object_get (r, "pid")) == pid);
    json_decref (r);
    return up;
}

static int
node_stop (cli_t *cli, const char *name, bool quiet_if_down)
{
    int pid = node_pid (cli, name);
    if (!pid) {
        if (quiet_if_down)
            return 0;
        fprintf (stderr, "Node %s not running\n", name);
        return 1;
    }
    kill (pid, SIGTERM);
    int64_t end = omr_mono_ms () + omr_config_get_int (cli->config, "omero.server.stop_timeout", 10000) + 5000;
    while (omr_pid_alive (pid) && omr_mono_ms () < end)
        usleep (50000);
    if (omr_pid_alive (pid)) {
        kill (pid, SIGKILL);
        while (omr_pid_alive (pid))
            usleep (20000);
    }
    if (!cli->quiet)
        printf ("Node %s stopped\n", name);
    return 0;
}

static int
node_start (cli_t *cli, const char *name)
{
    if (node_pid (cli, name))
        return cli_fail ("node %s is already running (pid %d): `omero node %s stop` first", name,
                         node_pid (cli, name), name);
    char exe[4200], out[4200], errp[4200], logdir[4200];
    snprintf (exe, sizeof exe, "%s/bin/omero-node", cli->omerodir);
    snprintf (logdir, sizeof logdir, "%s/var/log", cli->omerodir);
    snprintf (out, sizeof out, "%s/%s.out", logdir, name);
    snprintf (errp, sizeof errp, "%s/%s.err", logdir, name);
    omr_err_t err = {0};
    if (omr_mkdirs (logdir, 0755, &err) < 0)
        return cli_fail_err (&err);
    long errsize = 0;
    FILE *ef = fopen (errp, "r");
    if (ef) {
        fseek (ef, 0, SEEK_END);
        errsize = ftell (ef);
        fclose (ef);
    }
    pid_t pid = fork ();
    if (pid == 0) {
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
        execl (exe, exe, name, (char *) NULL);
        _exit (127);
    }
    waitpid (pid, NULL, 0);
    /* Wait until the registry lists the node as up, or the agent gives up. */
    int64_t end = omr_mono_ms () + 15000;
    while (omr_mono_ms () < end) {
        if (node_pid (cli, name) && node_up (cli, name, node_pid (cli, name))) {
            if (!cli->quiet)
                printf ("Node %s started (pid %d)\n", name, node_pid (cli, name));
            return 0;
        }
        usleep (100000);
        if (omr_mono_ms () > end - 14000 && !node_pid (cli, name)) {
            char *t = omr_read_file (errp, NULL, NULL);
            const char *last = t && (long) strlen (t) > errsize ? t + errsize : "";
            int rc = cli_fail ("node %s could not start: %s", name, *last ? last : "see var/log");
            free (t);
            return rc;
        }
    }
    if (node_pid (cli, name))
        return cli_fail ("node %s runs but the registry at omero.master.host=%s does not list it yet: is the "
                         "master running and reachable?",
                         name, omr_config_get (cli->config, "omero.master.host"));
    return cli_fail ("node %s did not start: see var/log/%s.err", name, name);
}

int
cli_node (cli_t *cli, int argc, char **argv)
{
    const char *name = NULL, *action = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help")) {
            printf ("usage: omero node [NAME] {start|stop|status|restart}\n");
            return 0;
        }
        if (!action && is_action (argv[i]))
            action = argv[i];
        else if (!name)
            name = argv[i];
        else
            return cli_fail ("too many arguments: %s", argv[i]);
    }
    if (!action) {
        fprintf (stderr, "usage: omero node [NAME] {start|stop|status|restart}\n");
        return 2;
    }
    if (!name)
        name = getenv ("OMERO_NODE");
    char host[256];
    if (!name || !*name) {
        if (gethostname (host, sizeof host) != 0)
            snprintf (host, sizeof host, "master");
        name = host;
    }
    if (!strcmp (name, "master"))
        return cli_fail ("node master is run by `omero admin start`");
    if (strchr (name, '/') || !strcmp (name, "..") || !strcmp (name, "."))
        return cli_fail ("invalid node name: %s", name);
    if (!cli->config)
        return cli_fail_err (&cli->config_err);
    if (!strcmp (action, "start"))
        return node_start (cli, name);
    if (!strcmp (action, "stop"))
        return node_stop (cli, name, false);
    if (!strcmp (action, "restart")) {
        node_stop (cli, name, true);
        return node_start (cli, name);
    }
    int pid = node_pid (cli, name);
    bool up = pid && node_up (cli, name, pid);
    if (!cli->quiet)
        printf ("Node %s %s%s\n", name, pid ? "running" : "not running",
                pid ? (up ? " and registered" : " but not registered with the registry") : "");
    return pid && up ? 0 : 1;
}
