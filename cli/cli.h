/* cli: the `omero` command line. One file per command family (cli/admin.c, cli/config.c …);
 * each family exports `int cli_<family> (cli_t *cli, int argc, char **argv)` where argv[0] is
 * the family name, and is listed in cli/commands.c. Exit codes: 0 ok, 1 failure, 2 usage. */
#ifndef CLI_H
#define CLI_H
#include "omr_config.h"
#include "omr_error.h"
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *omerodir;         /* installation directory */
    omr_config_t *config;   /* etc/grid/config.yaml (NULL if unreadable; see config_err) */
    omr_err_t config_err;
    bool quiet;
} cli_t;

typedef int (*cli_fn) (cli_t *cli, int argc, char **argv);

typedef struct {
    const char *name;
    cli_fn fn;
    const char *summary;    /* one line for `omero help` */
} cli_command_t;

/* The table of command families (cli/commands.c), terminated by a NULL name. */
extern const cli_command_t cli_commands[];

/* Print an error the way every command does ("Error: …") and return the exit code 1. */
int cli_fail (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
/* Print an omr_err_t as an error and return 1. */
int cli_fail_err (const omr_err_t *err);
/* Path of etc/grid/config.yaml. */
void cli_config_path (cli_t *cli, char *buf, size_t len);
/* Whether argv holds an option (exact match), for simple flag parsing. */
bool cli_has_flag (int argc, char **argv, const char *flag);
#endif
