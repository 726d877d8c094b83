/* commands: the table of `omero` command families. Add one line per family. */
#include "cli.h"

int cli_admin (cli_t *cli, int argc, char **argv);
int cli_config (cli_t *cli, int argc, char **argv);
int cli_db (cli_t *cli, int argc, char **argv);
int cli_certificates (cli_t *cli, int argc, char **argv);
int cli_node (cli_t *cli, int argc, char **argv);
int cli_login_main (cli_t *cli, int argc, char **argv), cli_logout_main (cli_t *cli, int argc, char **argv);
int cli_sessions_main (cli_t *cli, int argc, char **argv);
int cli_user (cli_t *cli, int argc, char **argv), cli_group (cli_t *cli, int argc, char **argv);
int cli_import (cli_t *cli, int argc, char **argv), cli_fs (cli_t *cli, int argc, char **argv);
int cli_download (cli_t *cli, int argc, char **argv), cli_export (cli_t *cli, int argc, char **argv);
int cli_upload (cli_t *cli, int argc, char **argv);
int cli_hql (cli_t *cli, int argc, char **argv), cli_obj (cli_t *cli, int argc, char **argv);
int cli_version (cli_t *cli, int argc, char **argv), cli_help (cli_t *cli, int argc, char **argv);
int cli_delete (cli_t *cli, int argc, char **argv), cli_chgrp (cli_t *cli, int argc, char **argv);
int cli_chown (cli_t *cli, int argc, char **argv);
int cli_tag (cli_t *cli, int argc, char **argv);

const cli_command_t cli_commands[] = {
    {"admin", cli_admin, "Administrative server commands (start, stop, status, diagnostics, ice …)"},
    {"certificates", cli_certificates, "Create or renew the server's self-signed certificates and configure them"},
    {"db", cli_db, "Database tools (script, password)"},
    {"config", cli_config, "Configuration properties (set, get, list, remove, append, load, edit)"},
    {"node", cli_node, "Control node agents (NAME start|stop|status|restart)"},
    {"login", cli_login_main, "Shortcut for 'sessions login'"},
    {"logout", cli_logout_main, "Shortcut for 'sessions logout'"},
    {"sessions", cli_sessions_main, "Control and create user sessions"},
    {"user", cli_user, "Support for adding and managing users"},
    {"group", cli_group, "Group administration methods"},
    {"fs", cli_fs, "Commands for working with binary data"},
    {"download", cli_download, "Download the original files of an image or fileset, or an original file"},
    {"upload", cli_upload, "Upload local files to the OMERO server"},
    {"export", cli_export, "Export an image as OME-TIFF or OME-XML"},
    {"import", cli_import, "Run the importer: upload and import files into the managed repository"},
    {"hql", cli_hql, "Executes an HQL query against the server"},
    {"obj", cli_obj, "Create and update OMERO objects"},
    {"delete", cli_delete, "Delete OMERO data"},
    {"chgrp", cli_chgrp, "Move data between groups"},
    {"chown", cli_chown, "Transfer ownership of data"},
    {"tag", cli_tag, "Manage tags"},
    {"version", cli_version, "Version number"}, {"help", cli_help, "Syntax help for all commands"},
    {NULL, NULL, NULL},
};
