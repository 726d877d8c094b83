/* usergroup: what `omero user` and `omero group` share, as OMERO's UserGroupControl: finding users
 * and groups by id or name, memberships, the user and group tables, and their option parsing. */
#ifndef CLI_USERGROUP_H
#define CLI_USERGROUP_H
#include "cli.h"
#include "login.h"
#include "omero.h"
#include "table.h"

/* Options common to the listing subcommands. */
typedef struct {
    cli_style_t style;
    bool count;             /* --count: numbers instead of id lists */
    bool long_;             /* --long: id lists */
    const char *sort;       /* "id", "login", "first-name", "last-name", "email", "name" */
} ug_list_opts_t;

/* A connection plus the ids of the built-in groups. */
typedef struct {
    cli_t *cli;
    omero_client_t *c;
    long long user_gid, system_gid;
} ug_t;

/* Connect (login arguments as every command) and learn the built-in group ids. 0 or exit code. */
int ug_open (ug_t *u, cli_t *cli, const cli_login_args_t *la);
void ug_close (ug_t *u);

/* The list inside a reply ({"data": [...]} or a bare array), borrowed. */
json_t *ug_data (json_t *rep);
/* Text of a model object's field (tolerant names), e.g. ug_text (exp, "UserName|omeName", buf). */
const char *ug_text (json_t *o, const char *names, char *buf, size_t len);
/* A group's permissions string ("rwr---"). */
const char *ug_perms (json_t *group, char *buf, size_t len);
/* Group ids a user is in and owns (ints, new references). */
int ug_memberships (ug_t *u, long long uid, json_t **member, json_t **owner, omero_err_t *err);
/* Whether a JSON array of ids holds id. */
bool ug_has (json_t *ids, long long id);

/* Find a user/group by "id or name" (mode 0), id only (1) or name only (2); NULL if none (with
 * OMERO's message printed unless quiet_missing). *ambiguous set when id and name differ. */
json_t *ug_find_user (ug_t *u, const char *s, int mode, bool *ambiguous);
json_t *ug_find_group (ug_t *u, const char *s, int mode, bool *ambiguous);
/* How `user`/`group` commands name what they act on: words (mode 0), ids (1), names (2). */
typedef struct {
    const char *const *v[3];    /* positional words, --id values, --name values */
    int n[3];
    const char *what;           /* "user" / "group", for messages */
    json_t *(*find) (ug_t *, const char *, int, bool *);
    const char *ctx_key;        /* event-context key naming the caller's own one ("userId") */
    int rc_none, rc_unknown_ctx, rc_not_found;  /* OMERO's exit codes */
} ug_select_t;
/* Resolve the selection into out (found objects); with use_context and nothing named, the
 * caller's own user or group. Returns 0 or the exit code after printing why. */
int ug_select (ug_t *u, const ug_select_t *sel, json_t *out, bool use_context);

/* Parse a listing option at argv[*i]; 1 consumed, 0 not one, -1 bad value (message printed). */
int ug_list_opt (ug_list_opts_t *o, int argc, char **argv, int *i, const char *prog);
/* Print users (an array of Experimenter objects) as OMERO's user table; 0 or exit code. */
int ug_print_users (ug_t *u, json_t *users, const ug_list_opts_t *o);
/* Print groups as OMERO's group table; 0 or exit code. */
int ug_print_groups (ug_t *u, json_t *groups, const ug_list_opts_t *o);

/* A list of names given to an nargs="+" option: consumes following non-option words. */
int ug_take_many (int argc, char **argv, int *i, const char **out, int *n, int max);
/* Valid OMERO permissions string (6 characters, [r-][wa-] per class); a --type name maps to one. */
const char *ug_perms_from_type (const char *type);
bool ug_perms_valid (const char *perm);
#endif
