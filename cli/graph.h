/* graph: `omero delete`, `omero chgrp`, `omero chown` (Delete2 / Chgrp2 / Chown2 through Blitz's
 * Command.submit, with SkipHead for Project/Dataset/Image:51 paths), the disk usage that
 * `omero fs usage` prints (DiskUsage2) and `omero admin cleanse`. */
#ifndef CLI_GRAPH_H
#define CLI_GRAPH_H
#include "cli.h"
#include "omero.h"
#include <jansson.h>

/* `omero delete …`. */
int cli_delete (cli_t *cli, int argc, char **argv);
/* `omero chgrp GROUP …`. */
int cli_chgrp (cli_t *cli, int argc, char **argv);
/* `omero chown USER …`. */
int cli_chown (cli_t *cli, int argc, char **argv);
/* `omero admin cleanse [--dry-run] [DATA_DIR]` (argv[0] = "cleanse"). */
int cli_graph_cleanse (cli_t *cli, int argc, char **argv);
/* Disk usage through DiskUsage2 of object specifiers ("Image:1,2", "Project:5"); with none, of
 * the caller's data (groups: of everything in the caller's groups). Returns {size, files,
 * components: [{component, size, files}]} (new reference) or NULL with err. */
json_t *cli_graph_usage (omero_client_t *c, const char *const *specs, int nspecs, bool groups, omero_err_t *err);
#endif
