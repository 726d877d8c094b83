/* pgembed: the private PostgreSQL cluster under var/db that `omero admin start` runs when
 * omero.db.host is not configured (never as root: as the installation's owner, or as the
 * `postgres` system user when called by root). */
#ifndef CLI_PGEMBED_H
#define CLI_PGEMBED_H
#include "cli.h"

/* Whether this installation uses the embedded cluster (omero.db.host unset). */
bool pg_embedded (cli_t *cli);
/* Create (first time), start and prepare the cluster, load the schema into a new database and
 * write var/master/db.yaml with the connection properties servers use. Prints what it does
 * unless quiet. */
int pg_start (cli_t *cli, omr_err_t *err);
/* Stop the cluster if it runs (fast shutdown: committed data is safe). */
int pg_stop (cli_t *cli, omr_err_t *err);
/* Whether the cluster runs; *port receives its port. */
bool pg_running (cli_t *cli, int *port);
/* Check that the configured (site) database answers; error says what to fix. */
int pg_check_site (cli_t *cli, omr_err_t *err);
/* Port the embedded cluster uses: omero.db.port when set, else 4060 with omero.ports.prefix. */
int pg_port (cli_t *cli);
#endif
