/* omero-node: a node agent (IceGrid node). Registers node NAME with the registry at
 * omero.master.host, receives the deployment, supervises the servers placed on NAME, reports
 * them in its heartbeat and carries out operator actions. Losing the registry does not stop
 * its servers: it keeps supervising and re-registers when the registry is back.
 *
 * usage: omero-node NAME   (started by `omero node NAME start`) */
#include "descriptor.h"
#include "launch.h"
#include "omr_config.h"
#include "omr_log.h"
#include "omr_rpc.h"
#include "omr_util.h"
#include "supervise.h"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static volatile sig_atomic_t got_signal;
static void
on_signal (int sig)
{
    got_signal = sig;
}

static json_t *
report (sup_t *sup)
{
    json_t *a = json_array ();
    for (int i = 0; i < sup_count (sup); i++)
        json_array_append_new (a, sup_proc_json (sup_at (sup, i)));
    return a;
}

static void
adopt (sup_t *sup, json_t *depjson)
{
    omr_err_t err = {0};
    reg_deployment_t *dep = reg_deployment_from_json (depjson, &err);
    if (!dep) {
        omr_error ("deployment from the registry refused: %s", err.msg);
        return;
    }
    json_t *changed = json_object ();
    sup_deploy (sup, dep, changed);
    char *s = json_dumps (changed, JSON_COMPACT);
    omr_info ("deployment applied: %s", s);
    free (s);
    json_decref (changed);
}

static void
run_commands (sup_t *sup, json_t *cmds)
{
    size_t i;
    json_t *c;
    json_array_foreach (cmds, i, c) {
        const char *action = json_string_value (json_object_get (c, "action"));
        const char *id = json_string_value (json_object_get (c, "id"));
        omr_err_t err = {0};
        int rc = 0;
        if (!action || !id)
            continue;
        if (!strcmp (action, "start"))
            rc = sup_start (sup, id, &err);
        else if (!strcmp (action, "stop"))
            rc = sup_stop (sup, id, &err);
        else if (!strcmp (action, "enable"))
            rc = sup_enable (sup, id, true, &err);
        else if (!strcmp (action, "disable"))
            rc = sup_enable (sup, id, false, &err);
        if (rc < 0)
            omr_warn ("%s %s: %s", action, id, err.msg);
    }
}

int
main (int argc, char **argv)
{
    if (argc != 2 || !argv[1][0]) {
        fprintf (stderr, "usage: omero-node NAME\n");
        return 2;
    }
    const char *name = argv[1];
    omr_err_t err = {0};
    char *omerodir = omr_omerodir (&err);
    omr_config_t *config = omerodir ? omr_config_load_omerodir (omerodir, &err) : NULL;
    if (!config) {
        fprintf (stderr, "omero-node: %s\n", err.msg);
        return 1;
    }
    char logname[160];
    snprintf (logname, sizeof logname, "Node-%s", name);
    omr_log_init ("", 0, 0, omr_log_level_parse (omr_config_get (config, "omero.logging.level")), logname);
    char statedir[4096], keydir[4096], registry[256], lockpath[4200], pidpath[4200];
    snprintf (statedir, sizeof statedir, "%s/var/%s", omerodir, name);
    snprintf (keydir, sizeof keydir, "%s/etc/grid/keys", omerodir);
    snprintf (registry, sizeof registry, "tcp://%s:%d", omr_config_get (config, "omero.master.host"),
              omr_config_port (config, "omero.ports.registry"));
    if (omr_mkdirs (statedir, 0700, &err) < 0) {
        omr_error ("%s", err.msg);
        return 1;
    }
    snprintf (lockpath, sizeof lockpath, "%s/node.lock", statedir);
    int lockfd = open (lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0 || flock (lockfd, LOCK_EX | LOCK_NB) < 0) {
        omr_error ("node %s is already running from %s", name, omerodir);
        return 3;
    }
    snprintf (pidpath, sizeof pidpath, "%s/node.pid", statedir);
    char pidtxt[32];
    snprintf (pidtxt, sizeof pidtxt, "%d\n", (int) getpid ());
    omr_write_file (pidpath, pidtxt, strlen (pidtxt), 0644, NULL);
    const char *host = omr_config_get_set (config, "omero.node.host");
    if (!host)
        host = "127.0.0.1";
    json_t *extra = json_object ();
    reg_launch_ctx_t lctx = {omerodir, name, registry, host, statedir, keydir, extra};
    reg_launch_reap_orphans (&lctx, 5000);

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
    signal (SIGHUP, SIG_IGN);
    zsys_handler_set (NULL);

    sup_t *sup = sup_new (&lctx);
    omr_rpc_t *rpc = omr_rpc_new (registry, keydir, &err);
    if (!rpc) {
        omr_error ("%s", err.msg);
        return 1;
    }
    bool registered = false;
    int serial = -1, exit_code = 0;
    int64_t next = 0, refused_since = 0;
    omr_info ("node %s starting; registry %s", name, registry);
    while (!got_signal) {
        int64_t now = omr_mono_ms ();
        if (now >= next) {
            next = now + 1000;
            if (!registered) {
                json_t *rep = omr_rpc_call_json (rpc, "Node.register",
                                                 json_pack ("{s:s,s:s,s:i}", "name", name, "host", host, "pid",
                                                            (int) getpid ()),
                                                 2000, &err);
                if (rep) {
                    registered = true;
                    serial = (int) json_integer_value (json_object_get (rep, "serial"));
                    adopt (sup, json_object_get (rep, "deployment"));
                    omr_info ("registered as node %s", name);
                    json_decref (rep);
                }
                else if (err.status == 409) {
                    /* The name may still be held by an agent that just died: the registry frees it
                     * once that agent's heartbeats stop, so only a live holder makes us give up. */
                    if (!refused_since)
                        refused_since = omr_mono_ms ();
                    if (omr_mono_ms () - refused_since > 7000) {
                        omr_error ("%s", err.msg);
                        exit_code = 4;
                        break;
                    }
                }
                else
                    omr_debug ("registry not reachable: %s", err.msg);
            }
            else {
                json_t *rep = omr_rpc_call_json (rpc, "Node.heartbeat",
                                                 json_pack ("{s:s,s:i,s:i,s:o}", "name", name, "pid", (int) getpid (),
                                                            "serial", serial, "servers", report (sup)),
                                                 2000, &err);
                if (rep) {
                    json_t *dep = json_object_get (rep, "deployment");
                    if (dep) {
                        serial = (int) json_integer_value (json_object_get (rep, "serial"));
                        adopt (sup, dep);
                    }
                    run_commands (sup, json_object_get (rep, "commands"));
                    size_t i;
                    json_t *hb;
                    json_array_foreach (json_object_get (rep, "alive"), i, hb)
                        sup_heartbeat (sup, json_string_value (json_object_get (hb, "id")),
                                       (pid_t) json_integer_value (json_object_get (hb, "pid")));
                    json_decref (rep);
                }
                else {
                    /* Keep the servers running; register again once the registry answers. */
                    omr_warn ("lost the registry (%s); servers keep running", err.msg);
                    registered = false;
                }
            }
        }
        if (!registered)
            sup_assume_alive (sup);
        sup_tick (sup);
        usleep (50000);
    }
    omr_info ("node %s stopping its servers", name);
    sup_destroy (&sup, (int) omr_config_get_int (config, "omero.server.stop_timeout", 10000));
    omr_rpc_destroy (&rpc);
    unlink (pidpath);
    json_decref (extra);
    omr_config_destroy (&config);
    free (omerodir);
    close (lockfd);
    return exit_code;
}
