/* group: `omero group add|perms|list|info|listusers|copyusers|adduser|removeuser`, with the
 * options, messages and exit codes of OMERO's group plugin. */
#include "login.h"
#include "sessions.h"
#include "usergroup.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXARGS 256

static const char PERM_TXT[] =
    "\nGroup permissions come in several styles:\n\n"
    "    * private       (rw----)   [DEFAULT]\n"
    "    * read-only     (rwr---)\n"
    "    * read-annotate (rwra--)   [Previously known as 'collaborative']\n"
    "    * read-write    (rwrw--)\n\n"
    "In private groups, only group owners and system administrators will be\n"
    "able to view someone else's data. In read-only groups, other group members\n"
    "can see data but not annotate or modify it. In read-annotate groups,\n"
    "annotation is permitted by group members. In read-write groups, all\n"
    "group members can behave as if they co-own all the data.\n\n"
    "Changing a group to private unlinks data from other users' containers and\n"
    "unlinks other users' annotations from data. The change to private will\n"
    "fail if different users' data is too closely related to be separated.\n";

static void
usage (FILE *out)
{
    fprintf (out, "usage: omero group [-h] [-C] [-s SERVER] [-p PORT] [-g GROUP] [-u USER]\n"
                  "                   [-w PASSWORD] [-k KEY] [--sudo ADMINUSER] [-q]\n"
                  "                   <subcommand> ...\n");
}

static int
help (void)
{
    usage (stdout);
    printf ("\nGroup administration methods\n\n"
            "Optional Arguments:\n"
            "  In addition to any higher level options\n\n"
            "  -h, --help            show this help message and exit\n\n"
            "Subcommands:\n"
            "  Use omero group <subcommand> -h for more information.\n\n"
            "  <subcommand>\n"
            "    add                 Add a new group with given permissions\n"
            "    perms               Modify a group's permissions\n"
            "    list                List information about all groups\n"
            "    info                List information about the group(s). Default to the context group\n"
            "    listusers           List users of the current group\n"
            "    copyusers           Copy the users of one group to another group\n"
            "    adduser             Add one or more users to a group\n"
            "    removeuser          Remove one or more users from a group\n");
    cli_login_help (stdout);
    return 0;
}

static const char *const sub_help[][2] = {
    {"add", "usage: omero group add [-h] [--ignore-existing]\n"
            "                       [--perms PERMS | --type {private,read-only,read-annotate,read-write}]\n"
            "                       name\n\n"
            "Add a new group with given permissions\n\n"
            "Positional Arguments:\n"
            "  name                  Name of the group\n\n"
            "Optional Arguments:\n"
            "  --ignore-existing     Do not fail if user already exists\n"
            "  --perms PERMS         Group permissions set as string, e.g. 'rw----'\n"
            "  --type {private,read-only,read-annotate,read-write}\n"
            "                        Group permissions set symbolically\n"},
    {"perms", "usage: omero group perms [-h] [--id ID | --name NAME]\n"
              "                         [--perms PERMS | --type {private,read-only,read-annotate,read-write}]\n\n"
              "Modify a group's permissions\n\n"
              "Optional Arguments:\n"
              "  --id ID               ID of the group\n"
              "  --name NAME           Name of the group\n"
              "  --perms PERMS         Group permissions set as string, e.g. 'rw----'\n"
              "  --type {private,read-only,read-annotate,read-write}\n"
              "                        Group permissions set symbolically\n"},
    {"list", "usage: omero group list [-h] [--style {csv,json,plain,sql}] [--count | --long]\n"
             "                        [--sort-by-id | --sort-by-name]\n\n"
             "List information about all groups\n\n"
             "Optional Arguments:\n"
             "  --style {csv,json,plain,sql}\n"
             "                        use alternative output style (default=sql)\n"
             "  --count               Print count of all users and owners (default)\n"
             "  --long                Print comma-separated list of all users and owners\n"
             "  --sort-by-id          Sort groups by ID (default)\n"
             "  --sort-by-name        Sort groups by name\n"},
    {"info", "usage: omero group info [-h] [--group-id group [group ...]]\n"
             "                        [--group-name group [group ...]]\n"
             "                        [--style {csv,json,plain,sql}] [--count | --long]\n"
             "                        [--sort-by-id | --sort-by-name]\n"
             "                        [group [group ...]]\n\n"
             "List information about the group(s). Default to the context group\n\n"
             "Group arguments:\n"
             "  group                 ID or name of the group(s)\n"
             "  --group-id group [group ...]\n"
             "                        ID  of the group(s)\n"
             "  --group-name group [group ...]\n"
             "                        Name of the group(s)\n"},
    {"listusers", "usage: omero group listusers [-h] [--group-id group [group ...]]\n"
                  "                             [--group-name group [group ...]]\n"
                  "                             [--style {csv,json,plain,sql}] [--long | --count]\n"
                  "                             [group [group ...]]\n\n"
                  "List users of the current group\n"},
    {"copyusers", "usage: omero group copyusers [-h] [--as-owner] from_group to_group\n\n"
                  "Copy the users of one group to another group\n\n"
                  "Positional Arguments:\n"
                  "  from_group  ID or name of the source group whose users will be copied\n"
                  "  to_group    ID or name of the target group which will have new users added\n\n"
                  "Optional Arguments:\n"
                  "  --as-owner  Copy the group owners only\n"},
    {"adduser", "usage: omero group adduser [-h] [--id ID | --name NAME]\n"
                "                           [--user-id user [user ...]]\n"
                "                           [--user-name user [user ...]] [--as-owner]\n"
                "                           [user [user ...]]\n\n"
                "Add one or more users to a group\n\n"
                "Optional Arguments:\n"
                "  --id ID               ID of the group\n"
                "  --name NAME           Name of the group\n\n"
                "User arguments:\n"
                "  user                  ID or name of the user(s) to add to the group\n"
                "  --as-owner            Add the users as owners of the group\n"},
    {"removeuser", "usage: omero group removeuser [-h] [--id ID | --name NAME]\n"
                   "                              [--user-id user [user ...]]\n"
                   "                              [--user-name user [user ...]] [--as-owner]\n"
                   "                              [user [user ...]]\n\n"
                   "Remove one or more users from a group\n\n"
                   "Optional Arguments:\n"
                   "  --id ID               ID of the group\n"
                   "  --name NAME           Name of the group\n\n"
                   "User arguments:\n"
                   "  user                  ID or name of the user(s) to remove from the group\n"
                   "  --as-owner            Remove the users from the group owner list\n"},
};

typedef struct {
    const char *pos[MAXARGS];
    int npos;
    const char *gids[MAXARGS], *gnames[MAXARGS], *uids[MAXARGS], *unames[MAXARGS];
    int ngids, ngnames, nuids, nunames;
    const char *perms, *type, *id, *name;
    bool ignore_existing, as_owner;
    ug_list_opts_t lo;
} gargs_t;

static int
bad (const char *sub, const char *fmt, const char *arg)
{
    for (size_t i = 0; i < sizeof sub_help / sizeof sub_help[0]; i++)
        if (!strcmp (sub_help[i][0], sub)) {
            const char *h = sub_help[i][1];
            const char *end = strstr (h, "\n\n");
            fprintf (stderr, "%.*s\n", (int) (end ? end - h : (long) strlen (h)), h);
        }
    fprintf (stderr, "omero group %s: error: ", sub);
    fprintf (stderr, fmt, arg);
    fputc ('\n', stderr);
    return 2;
}

static int
parse (const char *sub, int argc, char **argv, cli_login_args_t *la, gargs_t *g)
{
    for (int i = 0; i < argc; i++) {
        int r = cli_login_arg (la, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        r = ug_list_opt (&g->lo, argc, argv, &i, "omero group");
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        const char *a = argv[i];
        struct {
            const char *opt;
            const char **slot;
        } one[] = {{"--perms", &g->perms}, {"--type", &g->type}, {"--id", &g->id}, {"--name", &g->name}};
        bool took = false;
        for (size_t k = 0; k < 4 && !took; k++) {
            size_t ol = strlen (one[k].opt);
            if (!strcmp (a, one[k].opt)) {
                if (i + 1 >= argc)
                    return bad (sub, "argument %s: expected one argument", a);
                *one[k].slot = argv[++i];
                took = true;
            }
            else if (!strncmp (a, one[k].opt, ol) && a[ol] == '=') {
                *one[k].slot = a + ol + 1;
                took = true;
            }
        }
        if (took)
            continue;
        struct {
            const char *opt;
            const char **list;
            int *n;
        } many[] = {{"--group-id", g->gids, &g->ngids},
                    {"--group-name", g->gnames, &g->ngnames},
                    {"--user-id", g->uids, &g->nuids},
                    {"--user-name", g->unames, &g->nunames}};
        for (size_t k = 0; k < 4 && !took; k++)
            if (!strcmp (a, many[k].opt)) {
                took = true;
                if (ug_take_many (argc, argv, &i, many[k].list, many[k].n, MAXARGS) < 0)
                    return bad (sub, "argument %s: expected at least one argument", a);
            }
        if (took)
            continue;
        if (!strcmp (a, "--ignore-existing"))
            g->ignore_existing = true;
        else if (!strcmp (a, "--as-owner"))
            g->as_owner = true;
        else if (a[0] == '-' && a[1])
            return bad (sub, "unrecognized arguments: %s", a);
        else if (g->npos < MAXARGS)
            g->pos[g->npos++] = a;
    }
    if (g->perms && g->type)
        return bad (sub, "argument --type: not allowed with argument %s", "--perms");
    if (g->id && g->name)
        return bad (sub, "argument --name: not allowed with argument %s", "--id");
    if (g->type && !ug_perms_from_type (g->type)) {
        char m[300];
        snprintf (m, sizeof m,
                  "argument --type: invalid choice: '%s'\n\nchoose from:\n\tprivate, read-annotate, read-only, "
                  "read-write",
                  g->type);
        return bad (sub, "%s", m);
    }
    return 0;
}

/* The permissions asked for (--perms, else --type, default private); NULL after printing. */
static const char *
parse_perms (const gargs_t *g, int *rc)
{
    const char *p = g->perms ? g->perms : ug_perms_from_type (g->type ? g->type : "private");
    if (!ug_perms_valid (p)) {
        *rc = cli_die (505, "Invalid permissions string: %s (expected e.g. 'rw----', 'rwr---', 'rwra--', 'rwrw--')",
                       p);
        return NULL;
    }
    return p;
}

/* The group named by --id/--name (OMERO's parse_groupid); NULL with *rc set. */
static json_t *
parse_groupid (ug_t *u, const gargs_t *g, int *rc)
{
    bool amb;
    json_t *grp;
    if (g->id) {
        if (strspn (g->id, "0123456789") != strlen (g->id)) {
            *rc = cli_die (502, "Not a valid group ID: %s", g->id);
            return NULL;
        }
        grp = ug_find_group (u, g->id, 1, &amb);
        if (!grp)
            *rc = cli_die (503, "Unknown group: %s", g->id);
        return grp;
    }
    if (g->name) {
        grp = ug_find_group (u, g->name, 2, &amb);
        if (!grp)
            *rc = cli_die (503, "Unknown group: %s", g->name);
        return grp;
    }
    *rc = cli_die (501, "No input group is specified");
    return NULL;
}

/* Groups from positionals and --group-id/--group-name, else (use_context) the current group. */
static int
list_groups (ug_t *u, const gargs_t *g, json_t *out, bool use_context)
{
    ug_select_t sel = {{g->pos, g->gids, g->gnames}, {g->npos, g->ngids, g->ngnames}, "group", ug_find_group,
                       "groupId", 501, 503, 504};
    return ug_select (u, &sel, out, use_context);
}

/* Users from positionals and --user-id/--user-name (required). */
static int
list_users (ug_t *u, const gargs_t *g, long long *ids, int *n)
{
    struct {
        const char *const *v;
        int n, mode;
    } src[] = {{g->pos, g->npos, 0}, {g->uids, g->nuids, 1}, {g->unames, g->nunames, 2}};
    *n = 0;
    if (!g->npos && !g->nuids && !g->nunames)
        return cli_die (511, "No input user is specified");
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < src[s].n && *n < MAXARGS; i++) {
            const char *x = src[s].v[i];
            if (src[s].mode == 1 && strspn (x, "0123456789") != strlen (x)) {
                fprintf (stderr, "Not a valid user ID: %s\n", x);
                continue;
            }
            bool amb;
            json_t *e = ug_find_user (u, x, src[s].mode, &amb);
            if (amb)
                fprintf (stderr, "Ambiguous user identifier: %s\n", x);
            else if (!e)
                fprintf (stderr, "Unknown user: %s\n", x);
            else
                ids[(*n)++] = omero_json_int (e, "@id|id", -1);
            json_decref (e);
        }
    if (*n == 0)
        return cli_die (514, "No user found");
    return 0;
}

static int
cmd_add (ug_t *u, gargs_t *g)
{
    if (g->npos != 1)
        return g->npos ? bad ("add", "unrecognized arguments: %s", g->pos[1])
                       : bad ("add", "the following arguments are required: %s", "name");
    int rc = 0;
    const char *perms = parse_perms (g, &rc);
    if (!perms)
        return rc;
    const char *name = g->pos[0];
    bool amb;
    json_t *existing = ug_find_group (u, name, 2, &amb);
    if (existing) {
        long long id = omero_json_int (existing, "@id|id", -1);
        json_decref (existing);
        if (g->ignore_existing) {
            printf ("Group exists: %s (id=%lld)\n", name, id);
            return 0;
        }
        return cli_die (3, "Group exists: %s (id=%lld)", name, id);
    }
    json_t *args = json_pack ("{s:{s:s, s:s, s:b, s:{s:{s:s}}}, s:s}", "group", "@type", "ExperimenterGroup", "Name",
                              name, "omero:ldap", 0, "omero:details", "permissions", "perm", perms, "perms", perms);
    omero_err_t err = {0};
    json_t *rep = omero_client_call (u->c, "IAdmin", "createGroup", args, &err);
    json_decref (args);
    if (!rep) {
        if (!strcmp (err.name, "ValidationException") && err.status == 409)
            return cli_die (66, "Group already exists: %s", name);
        if (!strcmp (err.name, "ValidationException"))
            return cli_die (67, "Unknown ValidationException: %s", err.msg);
        if (!strcmp (err.name, "SecurityViolation"))
            return cli_die (68, "Security violation: %s", err.msg);
        return cli_die (4, "%s: %s", err.name, err.msg);
    }
    long long id = json_is_integer (rep) ? json_integer_value (rep) : omero_json_int (rep, "id|@id", -1);
    json_decref (rep);
    printf ("Added group %s (id=%lld) with permissions %s\n", name, id, perms);
    return 0;
}

static int
cmd_perms (ug_t *u, gargs_t *g)
{
    int rc = 0;
    const char *perms = parse_perms (g, &rc);
    if (!perms)
        return rc;
    json_t *grp = parse_groupid (u, g, &rc);
    if (!grp)
        return rc;
    long long gid = omero_json_int (grp, "@id|id", -1);
    char nb[256], pb[32];
    const char *name = ug_text (grp, "Name|name", nb, sizeof nb);
    const char *old = ug_perms (grp, pb, sizeof pb);
    if (!strcmp (old, perms))
        printf ("Permissions for group %s (id=%lld) already %s\n", name, gid, perms);
    else {
        omero_err_t err = {0};
        json_t *args = json_pack ("{s:I, s:s}", "group", (json_int_t) gid, "perms", perms);
        json_t *rep = omero_client_call (u->c, "IAdmin", "changePermissions", args, &err);
        json_decref (args);
        if (!rep)
            rc = cli_die (504, "Cannot change permissions for group %s (id=%lld) to %s: %s", name, gid, perms, err.msg);
        else
            printf ("Changed permissions for group %s (id=%lld) to %s\n", name, gid, perms);
        json_decref (rep);
    }
    json_decref (grp);
    return rc;
}

/* Add or remove users (or owners) of one group, skipping those already in the wanted state. */
static int
change_members (ug_t *u, long long gid, const long long *uids, int n, bool owner, bool join)
{
    omero_err_t err = {0};
    for (int i = 0; i < n; i++) {
        json_t *member, *own;
        if (ug_memberships (u, uids[i], &member, &own, &err) < 0)
            return cli_fail_omero (&err);
        bool in = ug_has (owner ? own : member, gid);
        json_decref (member);
        json_decref (own);
        const char *rel = owner ? "owner of" : "in";
        if (join && in) {
            printf ("%lld is already %s group %lld\n", uids[i], rel, gid);
            continue;
        }
        if (!join && !in) {
            printf ("%lld is not %s group %lld\n", uids[i], rel, gid);
            continue;
        }
        json_t *args;
        const char *method;
        if (owner) {
            args = json_pack ("{s:I, s:[I]}", "group", (json_int_t) gid, "users", (json_int_t) uids[i]);
            method = join ? "addGroupOwners" : "removeGroupOwners";
        }
        else {
            args = json_pack ("{s:I, s:[I]}", "user", (json_int_t) uids[i], "groups", (json_int_t) gid);
            method = join ? "addGroups" : "removeGroups";
        }
        json_t *rep = omero_client_call (u->c, "IAdmin", method, args, &err);
        json_decref (args);
        if (!rep)
            return cli_fail_omero (&err);
        json_decref (rep);
        if (owner)
            printf ("%s %lld %s the owner list of group %lld\n", join ? "Added" : "Removed", uids[i],
                    join ? "to" : "from", gid);
        else
            printf ("%s %lld %s group %lld\n", join ? "Added" : "Removed", uids[i], join ? "to" : "from", gid);
    }
    return 0;
}

static int
cmd_adduser (ug_t *u, gargs_t *g, bool join)
{
    int rc = 0;
    json_t *grp = parse_groupid (u, g, &rc);
    if (!grp)
        return rc;
    long long gid = omero_json_int (grp, "@id|id", -1);
    json_decref (grp);
    long long uids[MAXARGS];
    int n;
    rc = list_users (u, g, uids, &n);
    if (rc)
        return rc;
    return change_members (u, gid, uids, n, g->as_owner, join);
}

static int
cmd_copyusers (ug_t *u, gargs_t *g)
{
    if (g->npos != 2)
        return g->npos > 2 ? bad ("copyusers", "unrecognized arguments: %s", g->pos[2])
                           : bad ("copyusers", "the following arguments are required: %s",
                                  g->npos ? "to_group" : "from_group, to_group");
    long long ids[2];
    for (int k = 0; k < 2; k++) {
        bool amb;
        json_t *grp = ug_find_group (u, g->pos[k], 0, &amb);
        if (amb)
            return cli_die (505, "Ambiguous group identifier: %s", g->pos[k]);
        if (!grp)
            return cli_die (503, "Unknown group: %s", g->pos[k]);
        ids[k] = omero_json_int (grp, "@id|id", -1);
        json_decref (grp);
    }
    omero_err_t err = {0};
    json_t *rep = omero_client_call (u->c, "IAdmin", "lookupExperimenters", NULL, &err);
    if (!rep)
        return cli_fail_omero (&err);
    long long uids[1024];
    int n = 0, rc = 0;
    size_t i;
    json_t *e;
    json_array_foreach (ug_data (rep), i, e) {
        long long uid = omero_json_int (e, "@id|id", -1);
        json_t *member, *own;
        if (ug_memberships (u, uid, &member, &own, &err) < 0) {
            rc = cli_fail_omero (&err);
            break;
        }
        if (ug_has (g->as_owner ? own : member, ids[0]) && n < 1024)
            uids[n++] = uid;
        json_decref (member);
        json_decref (own);
    }
    json_decref (rep);
    if (rc == 0)
        rc = change_members (u, ids[1], uids, n, g->as_owner, true);
    if (rc == 0)
        printf ("%s of %s copied to %s\n", g->as_owner ? "Owners" : "Users", g->pos[0], g->pos[1]);
    return rc;
}

/* `omero group`. */
int
cli_group (cli_t *cli, int argc, char **argv)
{
    cli_login_args_t la = {0};
    int rc = 0;
    int i = cli_login_subcommand (&la, argc, argv, "group", usage, help, &rc);
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
                    if (!strcmp (sub, "add") || !strcmp (sub, "perms"))
                        fputs (PERM_TXT, stdout);
                    cli_login_help (stdout);
                    return 0;
                }
        }
    if (!known) {
        usage (stderr);
        fprintf (stderr,
                 "omero group: error: argument <subcommand>: invalid choice: '%s'\n\nchoose from:\n"
                 "\tadd, adduser, copyusers, info, list, listusers, perms, removeuser\n",
                 sub);
        return 2;
    }
    gargs_t *g = calloc (1, sizeof *g);
    /* listusers prints id lists by default (group-print arguments), list/info counts. */
    g->lo.long_ = !strcmp (sub, "listusers");
    rc = parse (sub, argc - i - 1, argv + i + 1, &la, g);
    if (rc) {
        free (g);
        return rc;
    }
    if (!strcmp (sub, "add") || !strcmp (sub, "perms")) {
        /* Check the permissions before connecting: bad input changes nothing. */
        const char *p = parse_perms (g, &rc);
        if (!p) {
            free (g);
            return rc;
        }
    }
    ug_t u;
    rc = ug_open (&u, cli, &la);
    if (rc) {
        free (g);
        return rc;
    }
    omero_err_t err = {0};
    if (!strcmp (sub, "add"))
        rc = cmd_add (&u, g);
    else if (!strcmp (sub, "perms"))
        rc = cmd_perms (&u, g);
    else if (!strcmp (sub, "list")) {
        json_t *rep = omero_client_call (u.c, "IAdmin", "lookupGroups", NULL, &err);
        rc = rep ? ug_print_groups (&u, ug_data (rep), &g->lo) : cli_fail_omero (&err);
        json_decref (rep);
    }
    else if (!strcmp (sub, "info")) {
        json_t *groups = json_array ();
        rc = list_groups (&u, g, groups, true);
        if (rc == 0)
            rc = ug_print_groups (&u, groups, &g->lo);
        json_decref (groups);
    }
    else if (!strcmp (sub, "listusers")) {
        json_t *groups = json_array ();
        rc = list_groups (&u, g, groups, true);
        if (rc == 0 && json_array_size (groups) != 1)
            rc = cli_die (516, "Too many group arguments");
        if (rc == 0) {
            json_t *args = json_pack ("{s:I}", "group",
                                      (json_int_t) omero_json_int (json_array_get (groups, 0), "@id|id", -1));
            json_t *rep = omero_client_call (u.c, "IAdmin", "containedExperimenters", args, &err);
            json_decref (args);
            rc = rep ? ug_print_users (&u, ug_data (rep), &g->lo) : cli_fail_omero (&err);
            json_decref (rep);
        }
        json_decref (groups);
    }
    else if (!strcmp (sub, "copyusers"))
        rc = cmd_copyusers (&u, g);
    else if (!strcmp (sub, "adduser"))
        rc = cmd_adduser (&u, g, true);
    else if (!strcmp (sub, "removeuser"))
        rc = cmd_adduser (&u, g, false);
    ug_close (&u);
    free (g);
    return rc;
}
