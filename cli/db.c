/* db: `omero db script [--password P] [-f FILE|-]` prints the SQL that creates the OMERO database
 * (for sysadmins who create it themselves) with root's password set, and `omero db password [P]`
 * prints the statement that resets root's password. */
#include "cli.h"
#include "login.h"
#include "omr_util.h"
#include "services/blitz/password.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The password from argv, or asked twice on the terminal; NULL (after printing why) otherwise. */
static char *
root_password (const char *given, bool *from_cli)
{
    *from_cli = given != NULL;
    if (given)
        return strdup (given);
    if (!isatty (0)) {
        cli_fail ("no password given: use --password (stdin is not a terminal)");
        return NULL;
    }
    char *a = cli_prompt ("Please enter password for OMERO root user: ", true);
    char *b = a ? cli_prompt ("Please re-enter password for OMERO root user: ", true) : NULL;
    if (!a || !b || strcmp (a, b) != 0) {
        free (a);
        free (b);
        cli_fail ("passwords don't match");
        return NULL;
    }
    free (b);
    return a;
}

static int
db_password (cli_t *cli, int argc, char **argv)
{
    const char *given = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp (argv[i], "--password") && i + 1 < argc)
            given = argv[++i];
        else if (argv[i][0] != '-')
            given = argv[i];
    }
    bool from_cli;
    char *pw = root_password (given, &from_cli);
    if (!pw)
        return 1;
    char hash[BLZ_PASSWORD_MAX];
    omr_err_t err = {0};
    int rc = blz_password_hash (pw, 0, hash, &err);
    free (pw);
    if (rc < 0)
        return cli_fail_err (&err);
    printf ("UPDATE password SET hash = '%s' WHERE experimenter_id = 0;\n", hash);
    return 0;
}

static int
db_script (cli_t *cli, int argc, char **argv)
{
    const char *given = NULL, *file = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp (argv[i], "--password") && i + 1 < argc)
            given = argv[++i];
        else if (!strcmp (argv[i], "-f") && i + 1 < argc)
            file = argv[++i];
        else
            return cli_fail ("unknown argument %s (usage: omero db script [--password P] [-f FILE|-])", argv[i]);
    }
    const char *version = omr_config_get_set (cli->config, "omero.db.version");
    const char *patch = omr_config_get_set (cli->config, "omero.db.patch");
    version = version ? version : "OMERO5.4";
    patch = patch ? patch : "0";
    char path[4200];
    snprintf (path, sizeof path, "%s/share/omero/schema.sql", cli->omerodir);
    omr_err_t err = {0};
    char *sql = omr_read_file (path, NULL, &err);
    if (!sql)
        return cli_fail ("%s (is the installation complete?)", err.msg);
    FILE *msg = file && !strcmp (file, "-") ? stderr : stdout;
    fprintf (msg, "Using %s for version\nUsing %s for patch\n", version, patch);
    bool from_cli;
    char *pw = root_password (given, &from_cli);
    if (!pw) {
        free (sql);
        return 1;
    }
    fprintf (msg, "Using password from %s\n", from_cli ? "commandline" : "prompt");
    char hash[BLZ_PASSWORD_MAX];
    int rc = blz_password_hash (pw, 0, hash, &err);
    free (pw);
    if (rc < 0) {
        free (sql);
        return cli_fail_err (&err);
    }
    const char *marker = "INSERT INTO password (experimenter_id, hash) VALUES (0, NULL);";
    char *at = strstr (sql, marker);
    if (!at) {
        free (sql);
        return cli_fail ("%s has no root password row to fill in", path);
    }
    char dflt[256];
    snprintf (dflt, sizeof dflt, "%s__%s.sql", version, patch);
    const char *out = file ? file : dflt;
    FILE *f = strcmp (out, "-") == 0 ? stdout : fopen (out, "w");
    if (!f) {
        free (sql);
        return cli_fail ("cannot write %s: %s", out, strerror (errno));
    }
    fwrite (sql, 1, at - sql, f);
    fprintf (f, "INSERT INTO password (experimenter_id, hash) VALUES (0, '%s');", hash);
    fputs (at + strlen (marker), f);
    free (sql);
    if (f != stdout) {
        if (fclose (f) != 0)
            return cli_fail ("cannot write %s: %s", out, strerror (errno));
        char abs[4096];
        fprintf (msg, "Saving to %s\n", realpath (out, abs) ? abs : out);
    }
    return 0;
}

int
cli_db (cli_t *cli, int argc, char **argv)
{
    if (argc < 2 || !strcmp (argv[1], "-h") || !strcmp (argv[1], "--help")) {
        printf ("usage: omero db {script [--password P] [-f FILE|-] | password [P]}\n");
        return argc < 2 ? 2 : 0;
    }
    if (!cli->config)
        return cli_fail_err (&cli->config_err);
    if (!strcmp (argv[1], "script"))
        return db_script (cli, argc, argv);
    if (!strcmp (argv[1], "password"))
        return db_password (cli, argc, argv);
    return cli_fail ("unknown db command %s", argv[1]);
}
