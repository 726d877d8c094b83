/* config: `omero config set|get|list|remove|append|load|edit|keys`, as OMERO documents:
 * `set KEY` without a value removes KEY; `load` reads key=value lines (files or stdin);
 * values live in etc/grid/config.yaml, read by every process of the grid. */
#include "cli.h"
#include "omr_util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int
save (cli_t *cli)
{
    char path[4096];
    cli_config_path (cli, path, sizeof path);
    omr_err_t err = {0};
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/etc/grid", cli->omerodir);
    if (omr_mkdirs (dir, 0755, &err) < 0 || omr_config_save_file (cli->config, path, &err) < 0)
        return cli_fail_err (&err);
    return 0;
}

static char *
trim (char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen (s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = 0;
    return s;
}

/* Parse key=value lines (comments with #, blank lines skipped, trailing \ continues a line). */
static int
load_stream (cli_t *cli, FILE *f, const char *name)
{
    char *line = NULL, *acc = NULL;
    size_t cap = 0;
    int lineno = 0;
    while (getline (&line, &cap, f) > 0) {
        lineno++;
        char *l = line;
        size_t n = strlen (l);
        while (n && (l[n - 1] == '\n' || l[n - 1] == '\r'))
            l[--n] = 0;
        if (n && l[n - 1] == '\\') {
            /* A continued line keeps its trailing spaces; the next one loses its leading ones. */
            l[n - 1] = 0;
            if (acc)
                while (*l == ' ' || *l == '\t')
                    l++;
            char *na;
            if (asprintf (&na, "%s%s", acc ? acc : "", l) < 0)
                break;
            free (acc);
            acc = na;
            continue;
        }
        char *full;
        if (asprintf (&full, "%s%s", acc ? acc : "", acc ? trim (l) : l) < 0)
            break;
        free (acc);
        acc = NULL;
        char *t = trim (full);
        if (*t == 0 || *t == '#') {
            free (full);
            continue;
        }
        char *eq = strchr (t, '=');
        if (!eq) {
            fprintf (stderr, "Error: %s:%d: expected key=value, found \"%s\"\n", name, lineno, t);
            free (full);
            free (line);
            return 1;
        }
        *eq = 0;
        omr_config_set (cli->config, trim (t), trim (eq + 1));
        free (full);
    }
    free (acc);
    free (line);
    return 0;
}

static int
usage (void)
{
    fprintf (stderr, "usage: omero config {set KEY [VALUE] | get [KEY…] [--show-password] | list | keys |\n"
                     "                     remove KEY [VALUE] | append [--set] KEY VALUE | load [-q] FILE… | edit}\n");
    return 2;
}

int
cli_config (cli_t *cli, int argc, char **argv)
{
    if (!cli->config)
        return cli_fail_err (&cli->config_err);
    if (argc < 2 || !strcmp (argv[1], "-h") || !strcmp (argv[1], "--help"))
        return usage ();
    const char *sub = argv[1];
    if (!strcmp (sub, "set")) {
        if (argc < 3 || argc > 4)
            return usage ();
        omr_config_set (cli->config, argv[2], argc == 4 ? argv[3] : NULL);
        return save (cli);
    }
    if (!strcmp (sub, "get")) {
        bool show = cli_has_flag (argc, argv, "--show-password");
        int nkeys = 0;
        for (int i = 2; i < argc; i++) {
            if (argv[i][0] == '-')
                continue;
            nkeys++;
            const char *v = omr_config_get_set (cli->config, argv[i]);
            if (v) {
                if (!show && strstr (argv[i], "pass") && nkeys > 1)
                    printf ("%s=********\n", argv[i]);
                else if (nkeys == 1 && argc - (show ? 1 : 0) == 3)
                    printf ("%s\n", v);
                else
                    printf ("%s=%s\n", argv[i], v);
            }
        }
        if (nkeys == 0)
            for (int i = 0; i < omr_config_size (cli->config); i++) {
                const char *k = omr_config_key_at (cli->config, i);
                const char *v = omr_config_get_set (cli->config, k);
                printf ("%s=%s\n", k, (!show && strstr (k, "pass")) ? "********" : v);
            }
        return 0;
    }
    if (!strcmp (sub, "list")) {
        printf ("[default]\n");
        return 0;
    }
    if (!strcmp (sub, "keys")) {
        const char *v;
        for (int i = 0;; i++) {
            const char *k = omr_config_default_at (i, &v);
            if (!k)
                break;
            printf ("%s=%s\n", k, v);
        }
        return 0;
    }
    if (!strcmp (sub, "remove")) {
        if (argc < 3 || argc > 4)
            return usage ();
        const char *cur = omr_config_get_set (cli->config, argv[2]);
        if (!cur)
            return cli_fail ("no such key: %s", argv[2]);
        if (argc == 4) {
            /* Remove one value of a JSON list or comma-separated value. */
            char *copy = strdup (cur), *out = calloc (1, strlen (cur) + 1);
            int found = 0;
            for (char *tok = strtok (copy, ","); tok; tok = strtok (NULL, ",")) {
                if (!found && !strcmp (trim (tok), argv[3])) {
                    found = 1;
                    continue;
                }
                if (*out)
                    strcat (out, ",");
                strcat (out, trim (tok));
            }
            free (copy);
            if (!found) {
                free (out);
                return cli_fail ("%s does not contain %s", argv[2], argv[3]);
            }
            omr_config_set (cli->config, argv[2], *out ? out : NULL);
            free (out);
        }
        else
            omr_config_set (cli->config, argv[2], NULL);
        return save (cli);
    }
    if (!strcmp (sub, "append")) {
        int i = 2;
        bool set = false;
        if (i < argc && !strcmp (argv[i], "--set")) {
            set = true;
            i++;
        }
        if (argc - i != 2)
            return usage ();
        const char *cur = omr_config_get_set (cli->config, argv[i]);
        if (cur && set) {
            char *copy = strdup (cur);
            for (char *tok = strtok (copy, ","); tok; tok = strtok (NULL, ","))
                if (!strcmp (trim (tok), argv[i + 1])) {
                    free (copy);
                    return 0;
                }
            free (copy);
        }
        char *nv;
        if (asprintf (&nv, "%s%s%s", cur ? cur : "", cur && *cur ? "," : "", argv[i + 1]) < 0)
            return 1;
        omr_config_set (cli->config, argv[i], nv);
        free (nv);
        return save (cli);
    }
    if (!strcmp (sub, "load")) {
        int any = 0;
        for (int i = 2; i < argc; i++) {
            if (!strcmp (argv[i], "-q"))
                continue;
            any = 1;
            int rc;
            if (!strcmp (argv[i], "-"))
                rc = load_stream (cli, stdin, "<stdin>");
            else {
                FILE *f = fopen (argv[i], "r");
                if (!f)
                    return cli_fail ("cannot read %s: %s", argv[i], strerror (errno));
                rc = load_stream (cli, f, argv[i]);
                fclose (f);
            }
            if (rc)
                return rc;
        }
        if (!any && load_stream (cli, stdin, "<stdin>"))
            return 1;
        return save (cli);
    }
    if (!strcmp (sub, "edit")) {
        char tmpl[] = "/tmp/omero-config-XXXXXX";
        int fd = mkstemp (tmpl);
        if (fd < 0)
            return cli_fail ("cannot create a temporary file: %s", strerror (errno));
        FILE *f = fdopen (fd, "w");
        for (int i = 0; i < omr_config_size (cli->config); i++) {
            const char *k = omr_config_key_at (cli->config, i);
            fprintf (f, "%s=%s\n", k, omr_config_get_set (cli->config, k));
        }
        fclose (f);
        const char *ed = getenv ("EDITOR");
        char *cmd;
        if (asprintf (&cmd, "%s '%s'", ed && *ed ? ed : "vi", tmpl) < 0)
            return 1;
        int st = system (cmd);
        free (cmd);
        if (st != 0) {
            unlink (tmpl);
            return cli_fail ("editor exited with status %d; nothing changed", WEXITSTATUS (st));
        }
        omr_config_t *fresh = omr_config_new ();
        omr_config_t *old = cli->config;
        cli->config = fresh;
        f = fopen (tmpl, "r");
        int rc = f ? load_stream (cli, f, tmpl) : 1;
        if (f)
            fclose (f);
        unlink (tmpl);
        if (rc) {
            cli->config = old;
            omr_config_destroy (&fresh);
            return rc;
        }
        omr_config_destroy (&old);
        return save (cli);
    }
    return usage ();
}
