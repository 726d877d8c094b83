/* commands: the table of `omero` command families. Add one line per family. */
#include "cli.h"

int cli_config (cli_t *cli, int argc, char **argv);

const cli_command_t cli_commands[] = {
    {"config", cli_config, "Configuration properties (set, get, list, remove, append, load, edit)"},
    {NULL, NULL, NULL},
};
