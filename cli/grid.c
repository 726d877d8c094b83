/* grid: registry calls from the CLI, with the installation's CURVE keys. */
#include "grid.h"
#include "omr_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void
grid_registry_endpoint (cli_t *cli, char *buf, size_t len)
{
    snprintf (buf, len, "tcp://%s:%d", omr_config_get (cli->config, "omero.master.host"),
              omr_config_port (cli->config, "omero.ports.registry"));
}

omr_rpc_t *
grid_connect (cli_t *cli, omr_err_t *err)
{
    char ep[256], keydir[4096];
    grid_registry_endpoint (cli, ep, sizeof ep);
    snprintf (keydir, sizeof keydir, "%s/etc/grid/keys", cli->omerodir);
    if (access (keydir, R_OK) != 0) {
        omr_err_set (err, OMR_E_UNAVAIL, 503, "Server not running (no grid keys in %s yet)", keydir);
        return NULL;
    }
    return omr_rpc_new (ep, keydir, err);
}

json_t *
grid_call (cli_t *cli, const char *op, json_t *body, int timeout_ms, omr_err_t *err)
{
    omr_rpc_t *rpc = grid_connect (cli, err);
    if (!rpc) {
        json_decref (body);
        return NULL;
    }
    json_t *r = omr_rpc_call_json (rpc, op, body, timeout_ms, err);
    omr_rpc_destroy (&rpc);
    return r;
}

int
grid_registry_pid (cli_t *cli)
{
    char path[4200];
    snprintf (path, sizeof path, "%s/var/master/registry.pid", cli->omerodir);
    char *t = omr_read_file (path, NULL, NULL);
    int pid = t ? atoi (t) : 0;
    free (t);
    return pid > 0 && omr_pid_alive (pid) ? pid : 0;
}
