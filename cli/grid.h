/* grid: the CLI's connection to the registry (status, server control, deploy). */
#ifndef CLI_GRID_H
#define CLI_GRID_H
#include "cli.h"
#include "omr_rpc.h"

/* Registry endpoint (tcp://omero.master.host:registry port) into buf. */
void grid_registry_endpoint (cli_t *cli, char *buf, size_t len);
/* A connection to the registry, or NULL with err set. */
omr_rpc_t *grid_connect (cli_t *cli, omr_err_t *err);
/* Call the registry; NULL with err (ServiceUnavailable when it does not answer). */
json_t *grid_call (cli_t *cli, const char *op, json_t *body, int timeout_ms, omr_err_t *err);
/* pid of the registry from var/master/registry.pid if that process is alive, else 0. */
int grid_registry_pid (cli_t *cli);
#endif
