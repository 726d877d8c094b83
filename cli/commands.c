/* commands: the table of `omero` command families. Add one line per family. */
#include "cli.h"

int cli_admin (cli_t *cli, int argc, char **argv);
int cli_config (cli_t *cli, int argc, char **argv);
int cli_node (cli_t *cli, int argc, char **argv);

const cli_command_t cli_commands[] = {
    {"admin", cli_admin, "Administrative server commands (start, stop, status, diagnostics, ice …)"},
    {"config", cli_config, "Configuration properties (set, get, list, remove, append, load, edit)"},
    {"node", cli_node, "Control node agents (NAME start|stop|status|restart)"},
    {NULL, NULL, NULL},
};
