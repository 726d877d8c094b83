/* user: `omero user add|list|info|listgroups|password|email|joingroup|leavegroup`, with the
 * options, messages and exit codes of OMERO's user plugin. */
#include "login.h"
#include "sessions.h"
#include "usergroup.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXARGS 256

static void
usage (FILE *out)
{
    fprintf (out, "usage: omero user [-h] [-C] [-s SERVER] [-p PORT] [-g GROUP] [-u USER]\n"
                  "                  [-w PASSWORD] [-k KEY] [--sudo ADMINUSER] [-q]\n"
                  "                  <subcommand> ...\n");
}

static int
help (void)
{
    usage (stdout);
    printf ("\nSupport for adding and managing users\n\n"
            "Optional Arguments:\n"
            "  In addition to any higher level options\n\n"
            "  -h, --help            show this help message and exit\n\n"
            "Subcommands:\n"
            "  Use omero user <subcommand> -h for more information.\n\n"
            "  <subcommand>\n"
            "    add                 Add user\n"
            "    list                List information about all users\n"
            "    info                List information about the user(s). Default to the context user\n"
            "    listgroups          List the groups of the user. Default to the context user\n"
            "    password            Set user's password\n"
            "    email               List users' email addresses\n"
            "    joingroup           Join one or more groups\n"
            "    leavegroup          Leave one or more groups\n");
    cli_login_help (stdout);
    return 0;
}

static const char *const sub_help[][2] = {
    {"add", "usage: omero user add [-h] [--ignore-existing] [-m MIDDLENAME] [-e EMAIL]\n"
            "                      [-i INSTITUTION] [-a] [--group-id group [group ...]]\n"
            "                      [--group-name group [group ...]]\n"
            "                      [-P USERPASSWORD | --no-password]\n"
            "                      username firstname lastname [group [group ...]]\n\n"
            "Add user\n\n"
            "Positional Arguments:\n"
            "  username              User's login name\n"
            "  firstname             User's first name\n"
            "  lastname              User's last name\n\n"
            "Optional Arguments:\n"
            "  --ignore-existing     Do not fail if user already exists\n"
            "  -m MIDDLENAME, --middlename MIDDLENAME\n"
            "                        Middle name, if available\n"
            "  -e EMAIL, --email EMAIL\n"
            "  -i INSTITUTION, --institution INSTITUTION\n"
            "  -a, --admin           Whether the user should be an admin\n"
            "  -P USERPASSWORD, --userpassword USERPASSWORD\n"
            "                        Password for user\n"
            "  --no-password         Create user with empty password\n\n"
            "Group arguments:\n"
            "  group                 ID or name of the group(s) to join\n"
            "  --group-id group [group ...]\n"
            "                        ID  of the group(s) to join\n"
            "  --group-name group [group ...]\n"
            "                        Name of the group(s) to join\n"},
    {"list", "usage: omero user list [-h] [--style {csv,json,plain,sql}] [--long | --count]\n"
             "                       [--sort-by-id | --sort-by-login | --sort-by-first-name |\n"
             "                        --sort-by-last-name | --sort-by-email]\n\n"
             "List information about all users\n\n"
             "Optional Arguments:\n"
             "  --style {csv,json,plain,sql}\n"
             "                        use alternative output style (default=sql)\n"
             "  --long                Print comma-separated list of all groups (default)\n"
             "  --count               Print count of all groups\n"
             "  --sort-by-id          Sort users by ID (default)\n"
             "  --sort-by-login       Sort users by login\n"
             "  --sort-by-first-name  Sort users by first name\n"
             "  --sort-by-last-name   Sort users by last name\n"
             "  --sort-by-email       Sort users by email\n"},
    {"info", "usage: omero user info [-h] [--user-id user [user ...]]\n"
             "                       [--user-name user [user ...]]\n"
             "                       [--style {csv,json,plain,sql}] [--long | --count]\n"
             "                       [--sort-by-id | --sort-by-login | --sort-by-first-name |\n"
             "                        --sort-by-last-name | --sort-by-email]\n"
             "                       [user [user ...]]\n\n"
             "List information about the user(s). Default to the context user\n\n"
             "User arguments:\n"
             "  user                  ID or name of the user(s)\n"
             "  --user-id user [user ...]\n"
             "                        ID of the user(s)\n"
             "  --user-name user [user ...]\n"
             "                        Name of the user(s)\n"},
    {"listgroups", "usage: omero user listgroups [-h] [--user-id user [user ...]]\n"
                   "                             [--user-name user [user ...]]\n"
                   "                             [--style {csv,json,plain,sql}] [--count | --long]\n"
                   "                             [--sort-by-id | --sort-by-name]\n"
                   "                             [user [user ...]]\n\n"
                   "List the groups of the user. Default to the context user\n"},
    {"password", "usage: omero user password [-h] [username]\n\n"
                 "Set user's password\n\n"
                 "Positional Arguments:\n"
                 "  username    Username if not the current user\n"},
    {"email", "usage: omero user email [-h] [-n] [-1] [-i] [--all]\n\n"
              "List users' email addresses\n\n"
              "Optional Arguments:\n"
              "  -n, --names   Print user names along with email addresses\n"
              "  -1, --one     Print one user per line\n"
              "  -i, --ignore  Ignore users without email addresses\n"
              "  --all         Include all users, including deactivated accounts\n"},
    {"joingroup", "usage: omero user joingroup [-h] [--id ID | --name NAME]\n"
                  "                            [--group-id group [group ...]]\n"
                  "                            [--group-name group [group ...]] [--as-owner]\n"
                  "                            [group [group ...]]\n\n"
                  "Join one or more groups\n\n"
                  "Optional Arguments:\n"
                  "  --id ID               ID of the user. Default to the current user\n"
                  "  --name NAME           Name of the user. Default to the current user\n\n"
                  "Group arguments:\n"
                  "  group                 ID or name of the group(s) to join\n"
                  "  --as-owner            Join the group(s) as an owner\n"},
    {"leavegroup", "usage: omero user leavegroup [-h] [--id ID | --name NAME]\n"
                   "                             [--group-id group [group ...]]\n"
                   "                             [--group-name group [group ...]] [--as-owner]\n"
                   "                             [group [group ...]]\n\n"
                   "Leave one or more groups\n\n"
                   "Optional Arguments:\n"
                   "  --id ID               ID of the user. Default to the current user\n"
                   "  --name NAME           Name of the user. Default to the current user\n\n"
                   "Group arguments:\n"
                   "  group                 ID or name of the group(s) to leave\n"
                   "  --as-owner            Leave the owner list of the group(s)\n"},
};

/* Parsed arguments of any user subcommand. */
typedef struct {
    const char *pos[MAXARGS];
    int npos;
    const char *gids[MAXARGS], *gnames[MAXARGS], *uids[MAXARGS], *unames[MAXARGS];
    int ngids, ngnames, nuids, nunames;
    const char *middle, *email, *institution, *password, *id, *name;
    bool admin, no_password, ignore_existing, as_owner, names, one, ignore, all;
    ug_list_opts_t lo;
} uargs_t;

static int
bad (const char *sub, const char *fmt, const char *arg)
{
    for (size_t i = 0; i < sizeof sub_help / sizeof sub_help[0]; i++)
        if (!strcmp (sub_help[i][0], sub)) {
            const char *h = sub_help[i][1];
            const char *end = strstr (h, "\n\n");
            fprintf (stderr, "%.*s\n", (int) (end ? end - h : (long) strlen (h)), h);
        }
    fprintf (stderr, "omero user %s: error: ", sub);
    fprintf (stderr, fmt, arg);
    fputc ('\n', stderr);
    return 2;
}

/* Parse the arguments after the subcommand word (login arguments are taken anywhere). */
static int
parse (const char *sub, int argc, char **argv, cli_login_args_t *la, uargs_t *u)
{
    for (int i = 0; i < argc; i++) {
        int r = cli_login_arg (la, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        r = ug_list_opt (&u->lo, argc, argv, &i, "omero user");
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        const char *a = argv[i];
        const char **one = NULL;
        if (!strcmp (sub, "add") && (!strcmp (a, "-m") || !strcmp (a, "--middlename")))
            one = &u->middle;
        else if (!strcmp (sub, "add") && (!strcmp (a, "-e") || !strcmp (a, "--email")))
            one = &u->email;
        else if (!strcmp (sub, "add") && (!strcmp (a, "-i") || !strcmp (a, "--institution")))
            one = &u->institution;
        else if (!strcmp (sub, "add") && (!strcmp (a, "-P") || !strcmp (a, "--userpassword")))
            one = &u->password;
        else if (!strcmp (a, "--id"))
            one = &u->id;
        else if (!strcmp (a, "--name"))
            one = &u->name;
        if (one) {
            if (i + 1 >= argc)
                return bad (sub, "argument %s: expected one argument", a);
            *one = argv[++i];
            continue;
        }
        if (!strncmp (a, "--name=", 7)) {
            u->name = a + 7;
            continue;
        }
        if (!strncmp (a, "--id=", 5)) {
            u->id = a + 5;
            continue;
        }
        if (!strncmp (a, "--userpassword=", 15)) {
            u->password = a + 15;
            continue;
        }
        if (!strncmp (a, "--email=", 8)) {
            u->email = a + 8;
            continue;
        }
        struct {
            const char *opt;
            const char **list;
            int *n;
        } many[] = {{"--group-id", u->gids, &u->ngids},
                    {"--group-name", u->gnames, &u->ngnames},
                    {"--user-id", u->uids, &u->nuids},
                    {"--user-name", u->unames, &u->nunames}};
        bool took = false;
        for (size_t k = 0; k < 4 && !took; k++)
            if (!strcmp (a, many[k].opt)) {
                took = true;
                if (ug_take_many (argc, argv, &i, many[k].list, many[k].n, MAXARGS) < 0)
                    return bad (sub, "argument %s: expected at least one argument", a);
            }
        if (took)
            continue;
        if (!strcmp (a, "-a") || !strcmp (a, "--admin"))
            u->admin = true;
        else if (!strcmp (a, "--no-password"))
            u->no_password = true;
        else if (!strcmp (a, "--ignore-existing"))
            u->ignore_existing = true;
        else if (!strcmp (a, "--as-owner"))
            u->as_owner = true;
        else if (!strcmp (sub, "email") && (!strcmp (a, "-n") || !strcmp (a, "--names")))
            u->names = true;
        else if (!strcmp (sub, "email") && (!strcmp (a, "-1") || !strcmp (a, "--one")))
            u->one = true;
        else if (!strcmp (sub, "email") && (!strcmp (a, "-i") || !strcmp (a, "--ignore")))
            u->ignore = true;
        else if (!strcmp (sub, "email") && !strcmp (a, "--all"))
            u->all = true;
        else if (a[0] == '-' && a[1])
            return bad (sub, "unrecognized arguments: %s", a);
        else if (u->npos < MAXARGS)
            u->pos[u->npos++] = a;
    }
    if (u->password && u->no_password)
        return bad (sub, "argument --no-password: not allowed with argument %s", "-P/--userpassword");
    if (u->id && u->name)
        return bad (sub, "argument --name: not allowed with argument %s", "--id");
    return 0;
}

/* Groups named by positionals and --group-id/--group-name (OMERO's list_groups); fills ids.
 * Returns 0, or an exit code after printing. */
static int
list_groups (ug_t *g, const char *const *pos, int npos, const uargs_t *u, long long *ids, json_t **objs,
             int *n, bool use_context)
{
    *n = 0;
    struct {
        const char *const *v;
        int n, mode;
    } src[] = {{pos, npos, 0}, {u->gids, u->ngids, 1}, {u->gnames, u->ngnames, 2}};
    bool any = npos || u->ngids || u->ngnames;
    if (!use_context && !any)
        return cli_die (501, "No input group is specified");
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < src[s].n && *n < MAXARGS; i++) {
            const char *x = src[s].v[i];
            if (src[s].mode == 1 && strspn (x, "0123456789") != strlen (x)) {
                fprintf (stderr, "Not a valid group ID: %s\n", x);
                continue;
            }
            bool amb;
            json_t *grp = ug_find_group (g, x, src[s].mode, &amb);
            if (amb)
                fprintf (stderr, "Ambiguous group identifier: %s\n", x);
            else if (!grp)
                fprintf (stderr, "Unknown group: %s\n", x);
            else {
                ids[*n] = omero_json_int (grp, "@id|id", -1);
                objs[(*n)++] = grp;
            }
        }
    if (*n == 0) {
        if (!use_context || any)
            return cli_die (504, "No group found");
        omero_err_t err = {0};
        json_t *ec = cli_session_context (g->c, &err);
        if (!ec)
            return cli_fail_omero (&err);
        char b[32];
        snprintf (b, sizeof b, "%lld", omero_json_int (ec, "groupId", -1));
        json_decref (ec);
        bool amb;
        json_t *grp = ug_find_group (g, b, 1, &amb);
        if (!grp)
            return cli_die (503, "Unknown group: %s", b);
        ids[*n] = omero_json_int (grp, "@id|id", -1);
        objs[(*n)++] = grp;
    }
    return 0;
}

/* Users named by positionals and --user-id/--user-name (OMERO's list_users). */
static int
list_users (ug_t *g, const uargs_t *u, json_t *out, bool use_context)
{
    ug_select_t sel = {{u->pos, u->uids, u->unames}, {u->npos, u->nuids, u->nunames}, "user", ug_find_user,
                       "userId", 511, 513, 514};
    return ug_select (g, &sel, out, use_context);
}

/* Ask for a password as OMERO does ("Please enter password…", and with strict a confirmation). */
static char *
ask_password (const char *reason, bool strict)
{
    char p1[512], p2[512];
    snprintf (p1, sizeof p1, "Please enter password%s: ", reason);
    snprintf (p2, sizeof p2, "Please re-enter password%s: ", reason);
    for (int tries = 0; tries < 3; tries++) {
        char *pw = cli_prompt (p1, true);
        if (!pw)
            return NULL;
        if (!strict)
            return pw;
        if (!*pw) {
            fprintf (stderr, "Password cannot be empty\n");
            free (pw);
            continue;
        }
        char *again = cli_prompt (p2, true);
        if (again && !strcmp (again, pw)) {
            free (again);
            return pw;
        }
        fprintf (stderr, "Passwords don't match\n");
        free (again);
        free (pw);
    }
    return NULL;
}

static int
cmd_add (ug_t *g, uargs_t *u)
{
    if (u->npos < 3)
        return bad ("add", "the following arguments are required: %s",
                    u->npos == 0 ? "username, firstname, lastname" : u->npos == 1 ? "firstname, lastname" : "lastname");
    const char *login = u->pos[0];
    omero_err_t err = {0};
    if (u->no_password) {
        json_t *args = json_pack ("{s:s}", "key", "omero.security.password_required");
        json_t *v = omero_client_call (g->c, "IConfig", "getConfigValue", args, &err);
        json_decref (args);
        char b[32];
        const char *val = omero_json_text (v, "value", b, sizeof b, "true");
        bool required = strcasecmp (val, "false") != 0;
        json_decref (v);
        if (required)
            return cli_die (502, "Server does not allow user creation with empty passwords");
    }
    bool amb;
    json_t *existing = ug_find_user (g, login, 2, &amb);
    if (existing) {
        long long id = omero_json_int (existing, "@id|id", -1);
        json_decref (existing);
        if (u->ignore_existing) {
            printf ("User exists: %s (id=%lld)\n", login, id);
            return 0;
        }
        return cli_die (3, "User exists: %s (id=%lld)", login, id);
    }
    long long gids[MAXARGS + 2];
    json_t *gobjs[MAXARGS];
    int n = 0;
    int rc = list_groups (g, u->pos + 3, u->npos - 3, u, gids, gobjs, &n, false);
    for (int i = 0; i < n; i++)
        json_decref (gobjs[i]);
    if (rc)
        return rc;
    gids[n++] = g->user_gid;
    if (u->admin)
        gids[n++] = g->system_gid;
    json_t *exp = json_pack ("{s:s, s:s, s:s, s:s, s:b}", "@type", "Experimenter", "UserName", login, "FirstName",
                             u->pos[1], "LastName", u->pos[2], "omero:ldap", 0);
    if (u->middle)
        json_object_set_new (exp, "MiddleName", json_string (u->middle));
    if (u->email)
        json_object_set_new (exp, "Email", json_string (u->email));
    if (u->institution)
        json_object_set_new (exp, "Institution", json_string (u->institution));
    json_t *others = json_array ();
    for (int i = 1; i < n; i++)
        json_array_append_new (others, json_integer (gids[i]));
    json_t *args = json_pack ("{s:o, s:I, s:o}", "experimenter", exp, "defaultGroup", (json_int_t) gids[0], "groups",
                              others);
    char *pw = NULL;
    const char *method = "createExperimenter";
    if (!u->no_password) {
        if (u->password)
            pw = strdup (u->password);
        else {
            char reason[300];
            snprintf (reason, sizeof reason, " for your new user (%s)", login);
            pw = ask_password (reason, true);
            if (!pw) {
                json_decref (args);
                return cli_die (564, "stdin is not a terminal: cannot request password");
            }
        }
        json_object_set_new (args, "password", json_string (pw));
        method = "createExperimenterWithPassword";
    }
    json_t *rep = omero_client_call (g->c, "IAdmin", method, args, &err);
    json_decref (args);
    if (pw) {
        memset (pw, 0, strlen (pw));
        free (pw);
    }
    if (!rep) {
        if (!strcmp (err.name, "ValidationException") && err.status == 409)
            return cli_die (66, "User already exists: %s", login);
        if (!strcmp (err.name, "ValidationException"))
            return cli_die (67, "Unknown ValidationException: %s", err.msg);
        if (!strcmp (err.name, "SecurityViolation"))
            return cli_die (68, "Security violation: %s", err.msg);
        return cli_fail_omero (&err);
    }
    long long id = json_is_integer (rep) ? json_integer_value (rep) : omero_json_int (rep, "id|@id", -1);
    json_decref (rep);
    printf ("Added user %s (id=%lld) %s password\n", login, id, u->no_password ? "without" : "with");
    return 0;
}

static int
cmd_password (ug_t *g, uargs_t *u)
{
    if (u->npos > 1)
        return bad ("password", "unrecognized arguments: %s", u->pos[1]);
    const char *target = u->npos ? u->pos[0] : NULL;
    omero_err_t err = {0};
    json_t *ec = cli_session_context (g->c, &err);
    if (!ec)
        return cli_fail_omero (&err);
    char nb[256];
    char *own = strdup (omero_json_text (ec, "userName", nb, sizeof nb, ""));
    json_decref (ec);
    char reason[300];
    snprintf (reason, sizeof reason, " for your user (%s)", own);
    char *own_pw = ask_password (reason, false);
    int rc = 0;
    char *pw = NULL;
    if (!own_pw) {
        rc = cli_die (564, "stdin is not a terminal: cannot request password");
        goto out;
    }
    /* Verify the caller's own password with a short-lived session of their own. */
    omero_client_t *v = omero_client_new (omero_client_host (g->c), omero_client_port (g->c), &err);
    bool ok = v && omero_client_login (v, own, own_pw, NULL, &err) == 0;
    if (ok)
        omero_client_logout (v, &err);
    omero_client_destroy (&v);
    if (!ok) {
        rc = cli_die (456, "SecurityViolation: Bad credentials");
        goto out;
    }
    printf ("Verified password.\n\n");
    if (target) {
        bool amb;
        json_t *e = ug_find_user (g, target, 2, &amb);
        if (!e) {
            rc = cli_die (457, "Unknown user: %s", target);
            goto out;
        }
        printf ("Changing password for %s (id:%lld)\n", target, omero_json_int (e, "@id|id", -1));
        json_decref (e);
    }
    else
        printf ("Changing password for %s\n", own);
    fflush (stdout);
    pw = ask_password (" to be set", true);
    if (!pw) {
        rc = cli_die (564, "stdin is not a terminal: cannot request password");
        goto out;
    }
    json_t *args = target ? json_pack ("{s:s, s:s}", "user", target, "password", pw)
                          : json_pack ("{s:s, s:s}", "oldPassword", own_pw, "newPassword", pw);
    json_t *rep = omero_client_call (g->c, "IAdmin", target ? "changeUserPassword" : "changePassword", args, &err);
    json_decref (args);
    if (!rep)
        rc = cli_fail_omero (&err);
    else
        printf ("Password changed\n");
    json_decref (rep);
out:
    if (own_pw) {
        memset (own_pw, 0, strlen (own_pw));
        free (own_pw);
    }
    if (pw) {
        memset (pw, 0, strlen (pw));
        free (pw);
    }
    free (own);
    return rc;
}

static void
format_name (json_t *e, char *out, size_t len)
{
    char f[256], m[256], l[256];
    const char *mn = ug_text (e, "MiddleName|middleName", m, sizeof m);
    snprintf (out, len, "%s%s%s%s%s", ug_text (e, "FirstName|firstName", f, sizeof f), *mn ? " " : "", mn, " ",
              ug_text (e, "LastName|lastName", l, sizeof l));
}

static int
cmd_email (ug_t *g, uargs_t *u)
{
    omero_err_t err = {0};
    json_t *rep = omero_client_call (g->c, "IAdmin", "lookupExperimenters", NULL, &err);
    if (!rep)
        return cli_fail_omero (&err);
    json_t *users = ug_data (rep);
    json_t *skipped = json_array ();
    char *out = NULL;
    size_t olen = 0;
    FILE *f = open_memstream (&out, &olen);
    int count = 0, rc = 0;
    size_t i;
    json_t *e;
    json_array_foreach (users, i, e) {
        char eb[512];
        const char *email = ug_text (e, "Email|email", eb, sizeof eb);
        if (!*email) {
            if (!u->ignore)
                json_array_append (skipped, e);
            continue;
        }
        if (!u->all) {
            json_t *m, *o;
            if (ug_memberships (g, omero_json_int (e, "@id|id", -1), &m, &o, &err) < 0) {
                rc = cli_fail_omero (&err);
                break;
            }
            bool active = ug_has (m, g->user_gid);
            json_decref (m);
            json_decref (o);
            if (!active)
                continue;
        }
        char name[800];
        format_name (e, name, sizeof name);
        fprintf (f, "%s", count ? (u->one ? "\n" : ", ") : "");
        if (u->names)
            fprintf (f, "\"%s\" <%s>", name, email);
        else
            fprintf (f, "%s", email);
        count++;
    }
    fclose (f);
    if (rc == 0) {
        printf ("%s\n", out ? out : "");
        if (json_array_size (skipped)) {
            fprintf (stderr, "Missing email addresses:\n");
            json_array_foreach (skipped, i, e) {
                char name[800];
                format_name (e, name, sizeof name);
                fprintf (stderr, "%s\n", name);
            }
        }
    }
    free (out);
    json_decref (skipped);
    json_decref (rep);
    return rc;
}

/* joingroup / leavegroup. */
static int
cmd_membership (ug_t *g, uargs_t *u, bool join)
{
    omero_err_t err = {0};
    json_t *user = NULL;
    bool amb;
    if (u->id) {
        if (strspn (u->id, "0123456789") != strlen (u->id))
            return cli_die (512, "Not a valid user ID: %s", u->id);
        if (!(user = ug_find_user (g, u->id, 1, &amb)))
            return cli_die (513, "Unknown user: %s", u->id);
    }
    else {
        const char *name = u->name;
        char nb[256];
        json_t *ec = NULL;
        if (!name) {
            ec = cli_session_context (g->c, &err);
            if (!ec)
                return cli_fail_omero (&err);
            name = omero_json_text (ec, "userName", nb, sizeof nb, "");
        }
        user = ug_find_user (g, name, 2, &amb);
        if (!user) {
            int rc = cli_die (513, "Unknown user: %s", name);
            json_decref (ec);
            return rc;
        }
        json_decref (ec);
    }
    long long uid = omero_json_int (user, "@id|id", -1);
    json_decref (user);
    long long gids[MAXARGS];
    json_t *gobjs[MAXARGS];
    int n = 0;
    int rc = list_groups (g, u->pos, u->npos, u, gids, gobjs, &n, false);
    if (rc)
        return rc;
    json_t *member = NULL, *owner = NULL;
    if (ug_memberships (g, uid, &member, &owner, &err) < 0)
        rc = cli_fail_omero (&err);
    for (int i = 0; i < n && rc == 0; i++) {
        json_t *list = u->as_owner ? owner : member;
        bool in = ug_has (list, gids[i]);
        const char *rel = u->as_owner ? "owner of" : "in";
        if (join && in) {
            printf ("%lld is already %s group %lld\n", uid, rel, gids[i]);
            continue;
        }
        if (!join && !in) {
            printf ("%lld is not %s group %lld\n", uid, rel, gids[i]);
            continue;
        }
        json_t *args;
        const char *method;
        if (u->as_owner) {
            args = json_pack ("{s:I, s:[I]}", "group", (json_int_t) gids[i], "users", (json_int_t) uid);
            method = join ? "addGroupOwners" : "removeGroupOwners";
        }
        else {
            args = json_pack ("{s:I, s:[I]}", "user", (json_int_t) uid, "groups", (json_int_t) gids[i]);
            method = join ? "addGroups" : "removeGroups";
        }
        json_t *rep = omero_client_call (g->c, "IAdmin", method, args, &err);
        json_decref (args);
        if (!rep) {
            rc = cli_fail_omero (&err);
            break;
        }
        json_decref (rep);
        if (u->as_owner)
            printf ("%s %lld %s the owner list of group %lld\n", join ? "Added" : "Removed", uid, join ? "to" : "from",
                    gids[i]);
        else
            printf ("%s %lld %s group %lld\n", join ? "Added" : "Removed", uid, join ? "to" : "from", gids[i]);
    }
    json_decref (member);
    json_decref (owner);
    for (int i = 0; i < n; i++)
        json_decref (gobjs[i]);
    return rc;
}

/* `omero user`. */
int
cli_user (cli_t *cli, int argc, char **argv)
{
    cli_login_args_t la = {0};
    int rc = 0;
    int i = cli_login_subcommand (&la, argc, argv, "user", usage, help, &rc);
    if (i < 0)
        return rc;
    const char *sub = argv[i];
    bool known = false;
    for (size_t k = 0; k < sizeof sub_help / sizeof sub_help[0]; k++)
        if (!strcmp (sub_help[k][0], sub)) {
            known = true;
            for (int j = i + 1; j < argc; j++)
                if (!strcmp (argv[j], "-h") || !strcmp (argv[j], "--help")) {
                    fputs (sub_help[k][1], stdout);
                    cli_login_help (stdout);
                    return 0;
                }
        }
    if (!known) {
        usage (stderr);
        fprintf (stderr,
                 "omero user: error: argument <subcommand>: invalid choice: '%s'\n\nchoose from:\n"
                 "\tadd, email, info, joingroup, leavegroup, list, listgroups, password\n",
                 sub);
        return 2;
    }
    uargs_t *u = calloc (1, sizeof *u);
    u->lo.long_ = true;
    rc = parse (sub, argc - i - 1, argv + i + 1, &la, u);
    if (rc) {
        free (u);
        return rc;
    }
    ug_t g;
    rc = ug_open (&g, cli, &la);
    if (rc) {
        free (u);
        return rc;
    }
    omero_err_t err = {0};
    if (!strcmp (sub, "add"))
        rc = cmd_add (&g, u);
    else if (!strcmp (sub, "list")) {
        json_t *rep = omero_client_call (g.c, "IAdmin", "lookupExperimenters", NULL, &err);
        rc = rep ? ug_print_users (&g, ug_data (rep), &u->lo) : cli_fail_omero (&err);
        json_decref (rep);
    }
    else if (!strcmp (sub, "info")) {
        json_t *users = json_array ();
        rc = list_users (&g, u, users, true);
        if (rc == 0)
            rc = ug_print_users (&g, users, &u->lo);
        json_decref (users);
    }
    else if (!strcmp (sub, "listgroups")) {
        json_t *users = json_array ();
        rc = list_users (&g, u, users, true);
        if (rc == 0 && json_array_size (users) != 1)
            rc = cli_die (516, "Too many user arguments");
        if (rc == 0) {
            json_t *args = json_pack ("{s:I}", "user", (json_int_t) omero_json_int (json_array_get (users, 0), "@id|id", -1));
            json_t *rep = omero_client_call (g.c, "IAdmin", "containedGroups", args, &err);
            json_decref (args);
            /* listgroups prints counts unless --long, as OMERO's user-print arguments do. */
            ug_list_opts_t lo = u->lo;
            lo.long_ = false;
            for (int j = i + 1; j < argc; j++)
                if (!strcmp (argv[j], "--long"))
                    lo.long_ = true;
            rc = rep ? ug_print_groups (&g, ug_data (rep), &lo) : cli_fail_omero (&err);
            json_decref (rep);
        }
        json_decref (users);
    }
    else if (!strcmp (sub, "password"))
        rc = cmd_password (&g, u);
    else if (!strcmp (sub, "email"))
        rc = cmd_email (&g, u);
    else if (!strcmp (sub, "joingroup"))
        rc = cmd_membership (&g, u, true);
    else if (!strcmp (sub, "leavegroup"))
        rc = cmd_membership (&g, u, false);
    ug_close (&g);
    free (u);
    return rc;
}
