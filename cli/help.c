/* help: `omero help [--all|--list] [--recursive] [COMMAND|TOPIC]`, as OMERO's help plugin:
 * `help CMD` is `CMD -h`; --list shows every command with its subcommands; --all prints the help
 * of every command and topic; --recursive adds the help of each subcommand.
 * Subcommands are read from a family's own `-h` output (run in a child process so nothing it does
 * can touch this one): the indented names under a "<subcommand>" line, as argparse prints them,
 * or else the {a | b …} alternatives of its usage line. */
#include "cli.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char ENV_HELP[] =
    "Environment variables:\n\n"
    "  OMERO_USERDIR     Set the base directory containing the user's files.\n"
    "                    Default: $HOME/omero\n"
    "  OMERO_SESSIONDIR  Set the base directory containing local sessions.\n"
    "                    Default: $OMERO_USERDIR/sessions\n"
    "  OMERO_TMPDIR      Set the base directory containing temporary files.\n"
    "                    Default: $OMERO_USERDIR/tmp\n"
    "  OMERO_PASSWORD    Set the user's password for creating new sessions.\n"
    "                    Ignored if -w or --password is used.\n"
    "  OMERO_CA          CA certificate file used to verify the server's TLS certificate.\n"
    "                    Default: $OMERODIR/etc/certs/ca.pem when present, else the system store\n"
    "  OMERODIR          The OMERO installation directory (server commands).\n";

static const char SUDO_HELP[] =
    "\nThe --sudo option is available to all\n"
    "commands accepting connection arguments.\n\n"
    "Below are a few examples showing how to use the sudo option\n\n"
    "Examples (admin or group owner only):\n\n"
    "    # Import data for user *username*\n"
    "    omero import --sudo root -s servername -u username image.tiff\n"
    "    # Create a connection as another user\n"
    "    omero login --sudo root -s servername -u username -g groupname\n"
    "    Password for root:\n"
    "    omero login --sudo owner -s servername -u username -g groupname\n"
    "    Password for owner:\n";

static const struct {
    const char *name, *text;
} topics[] = {{"env", ENV_HELP}, {"sudo", SUDO_HELP}};
#define NTOPICS (sizeof topics / sizeof topics[0])

static int
cmp_cmd (const void *a, const void *b)
{
    return strcmp ((*(const cli_command_t *const *) a)->name, (*(const cli_command_t *const *) b)->name);
}

/* The command table sorted by name (malloc'ed, NULL-terminated). */
static const cli_command_t **
sorted_commands (int *n)
{
    int count = 0;
    while (cli_commands[count].name)
        count++;
    const cli_command_t **v = calloc ((size_t) count + 1, sizeof *v);
    for (int i = 0; i < count; i++)
        v[i] = &cli_commands[i];
    qsort (v, (size_t) count, sizeof *v, cmp_cmd);
    *n = count;
    return v;
}

/* OMERO's tab-indented, comma-separated list wrapped after 62 characters. */
static void
format_list (char **names, int n)
{
    char line[256] = "\t";
    for (int i = 0; i < n; i++) {
        size_t len = strlen (line);
        snprintf (line + len, sizeof line - len, "%s%s", names[i], i < n - 1 ? ", " : "");
        if (strlen (line) > 62 && i < n - 1) {
            printf ("%s\n", line);
            snprintf (line, sizeof line, "\t");
        }
    }
    printf ("%s\n", line);
}

static void
print_usage (void)
{
    int n;
    const cli_command_t **cmds = sorted_commands (&n);
    char **names = calloc ((size_t) n + 1, sizeof (char *));
    for (int i = 0; i < n; i++)
        names[i] = (char *) cmds[i]->name;
    printf ("usage: omero <command> [options] args\n"
            "See 'help <command>' or '<command> -h' for more information on syntax\n\n"
            "Available commands:\n");
    format_list (names, n);
    char *tnames[NTOPICS];
    for (size_t i = 0; i < NTOPICS; i++)
        tnames[i] = (char *) topics[i].name;
    printf ("\nOther help topics:\n");
    format_list (tnames, (int) NTOPICS);
    printf ("\nFor additional information, see:\n"
            "https://docs.openmicroscopy.org/latest/omero/users/cli/index.html\n");
    free (names);
    free (cmds);
}

/* Run `CMD -h` in a child and return what it printed (stdout and stderr, malloc'ed). */
static char *
capture_help (cli_t *cli, const cli_command_t *c)
{
    int fd[2];
    if (pipe (fd) != 0)
        return NULL;
    fflush (stdout);
    fflush (stderr);
    pid_t pid = fork ();
    if (pid < 0) {
        close (fd[0]);
        close (fd[1]);
        return NULL;
    }
    if (pid == 0) {
        close (fd[0]);
        dup2 (fd[1], STDOUT_FILENO);
        dup2 (fd[1], STDERR_FILENO);
        close (fd[1]);
        char *av[] = {(char *) c->name, "-h", NULL};
        c->fn (cli, 2, av);
        fflush (stdout);
        fflush (stderr);
        _exit (0);
    }
    close (fd[1]);
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream (&out, &len);
    char buf[4096];
    ssize_t r;
    while ((r = read (fd[0], buf, sizeof buf)) > 0)
        fwrite (buf, 1, (size_t) r, m);
    fclose (m);
    close (fd[0]);
    int st;
    waitpid (pid, &st, 0);
    return out;
}

static bool
is_word (const char *s, size_t n)
{
    if (n == 0 || !islower ((unsigned char) s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum ((unsigned char) s[i]) && s[i] != '-' && s[i] != '_')
            return false;
    return true;
}

static void
add_name (char ***v, int *n, const char *s, size_t len)
{
    for (int i = 0; i < *n; i++)
        if (strlen ((*v)[i]) == len && !strncmp ((*v)[i], s, len))
            return;
    char **g = realloc (*v, (size_t) (*n + 2) * sizeof (char *));
    if (!g)
        return;
    *v = g;
    (*v)[(*n)++] = strndup (s, len);
    (*v)[*n] = NULL;
}

/* Subcommand names of a family (NULL-terminated, malloc'ed); *from_list tells whether they came
 * from an argparse-style subcommand list (whose entries accept -h). */
static char **
subcommands (cli_t *cli, const cli_command_t *c, bool *from_list)
{
    char **v = calloc (1, sizeof (char *));
    int n = 0;
    *from_list = false;
    char *text = capture_help (cli, c);
    if (!text)
        return v;
    char *p = strstr (text, "<subcommand>\n");
    if (p) {
        *from_list = true;
        char *line = strchr (p, '\n') + 1;
        while (*line && *line != '\n') {
            char *eol = strchr (line, '\n');
            size_t indent = strspn (line, " ");
            const char *w = line + indent;
            size_t wl = strcspn (w, " \n");
            if (indent >= 4 && is_word (w, wl))
                add_name (&v, &n, w, wl);
            else if (indent < 4)
                break;
            if (!eol)
                break;
            line = eol + 1;
        }
    }
    else {
        char *u = strstr (text, "usage:");
        char *open = u ? strchr (u, '{') : NULL;
        char *close = open ? strchr (open, '}') : NULL;
        if (open && close) {
            /* {set KEY [VALUE] | get [KEY…] | list …} or {start,stop,…}: the first word of each. */
            char *s = open + 1;
            while (s < close) {
                while (s < close && (isspace ((unsigned char) *s) || *s == '|' || *s == ','))
                    s++;
                size_t wl = 0;
                while (s + wl < close && !isspace ((unsigned char) s[wl]) && s[wl] != '|' && s[wl] != ',')
                    wl++;
                if (is_word (s, wl))
                    add_name (&v, &n, s, wl);
                s += wl;
                while (s < close && *s != '|' && *s != ',')
                    s++;
            }
        }
    }
    free (text);
    return v;
}

static void
free_list (char **v)
{
    for (int i = 0; v && v[i]; i++)
        free (v[i]);
    free (v);
}

static void
title (const char *t, char sep)
{
    printf ("\n%s\n", t);
    for (size_t i = 0; i < strlen (t); i++)
        putchar (sep);
    printf ("\n\n");
}

static void
command_help (cli_t *cli, const cli_command_t *c, bool recursive)
{
    char *av[] = {(char *) c->name, "-h", NULL};
    fflush (stdout);
    c->fn (cli, 2, av);
    fflush (stdout);
    if (!recursive)
        return;
    bool from_list;
    char **subs = subcommands (cli, c, &from_list);
    for (int i = 0; from_list && subs[i]; i++) {
        char t[256];
        snprintf (t, sizeof t, "%s %s", c->name, subs[i]);
        title (t, '^');
        char *sv[] = {(char *) c->name, subs[i], "-h", NULL};
        fflush (stdout);
        c->fn (cli, 3, sv);
        fflush (stdout);
    }
    free_list (subs);
}

static int
usage_error (const char *msg)
{
    fprintf (stderr, "usage: omero help [-h] [--recursive] [--all | --list | topic]\n"
                     "omero help: error: %s\n", msg);
    return 2;
}

/* `omero help`. */
int
cli_help (cli_t *cli, int argc, char **argv)
{
    bool all = false, list = false, recursive = false;
    const char *topic = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp (a, "-h") || !strcmp (a, "--help")) {
            printf ("usage: omero help [-h] [--recursive] [--all | --list | topic]\n\n"
                    "Syntax help for all commands\n\n"
                    "Positional Arguments:\n"
                    "  topic        Command or topic for more information\n\n"
                    "Optional Arguments:\n"
                    "  In addition to any higher level options\n\n"
                    "  -h, --help   show this help message and exit\n"
                    "  --recursive  Also print help for all subcommands\n"
                    "  --all        Print help for all commands and topics\n"
                    "  --list       Print list of all commands and subcommands\n");
            return 0;
        }
        else if (!strcmp (a, "--all"))
            all = true;
        else if (!strcmp (a, "--list"))
            list = true;
        else if (!strcmp (a, "--recursive"))
            recursive = true;
        else if (a[0] == '-') {
            char m[256];
            snprintf (m, sizeof m, "unrecognized arguments: %s", a);
            return usage_error (m);
        }
        else if (topic) {
            char m[256];
            snprintf (m, sizeof m, "unrecognized arguments: %s", a);
            return usage_error (m);
        }
        else
            topic = a;
    }
    if ((all && list) || ((all || list) && topic)) {
        const char *x = all && list ? "--list" : topic ? "topic" : "--list";
        const char *y = all ? "--all" : "--list";
        char m[256];
        snprintf (m, sizeof m, "argument %s: not allowed with argument %s", x, y);
        return usage_error (m);
    }
    if (!all && !list && !topic) {
        print_usage ();
        return 0;
    }
    int n;
    const cli_command_t **cmds = sorted_commands (&n);
    if (all) {
        for (int i = 0; i < n; i++) {
            title (cmds[i]->name, '-');
            command_help (cli, cmds[i], recursive);
        }
        for (size_t t = 0; t < NTOPICS; t++) {
            title (topics[t].name, '-');
            printf ("%s\n", topics[t].text);
        }
    }
    else if (list) {
        for (int i = 0; i < n; i++) {
            bool from_list;
            char **subs = subcommands (cli, cmds[i], &from_list);
            int ns = 0;
            while (subs[ns])
                ns++;
            if (ns) {
                printf ("%s (%d)\n", cmds[i]->name, ns);
                for (int s = 0; s < ns; s++)
                    printf ("\t%s\n", subs[s]);
            }
            else
                printf ("%s\n", cmds[i]->name);
            free_list (subs);
        }
    }
    else {
        const cli_command_t *found = NULL;
        for (int i = 0; i < n; i++)
            if (!strcmp (cmds[i]->name, topic))
                found = cmds[i];
        if (found)
            command_help (cli, found, recursive);
        else {
            size_t t = 0;
            while (t < NTOPICS && strcmp (topics[t].name, topic) != 0)
                t++;
            if (t < NTOPICS)
                printf ("%s\n", topics[t].text);
            else
                fprintf (stderr, "Unknown help topic or command: %s\n", topic);
        }
    }
    free (cmds);
    return 0;
}
