/* usergroup: shared parts of `omero user` and `omero group` (see usergroup.h). */
#include "usergroup.h"
#include "sessions.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
ug_open (ug_t *u, cli_t *cli, const cli_login_args_t *la)
{
    memset (u, 0, sizeof *u);
    u->cli = cli;
    int rc = 0;
    u->c = cli_session_client (cli, la, &rc);
    if (!u->c)
        return rc;
    /* OMERO's security roles: the "user" group marks active accounts, "system" administrators. */
    u->user_gid = 1;
    u->system_gid = 0;
    omero_err_t err = {0};
    json_t *roles = omero_client_call (u->c, "IAdmin", "getSecurityRoles", NULL, &err);
    if (roles) {
        u->user_gid = omero_json_int (roles, "userGroupId", 1);
        u->system_gid = omero_json_int (roles, "systemGroupId", 0);
        json_decref (roles);
        return 0;
    }
    const char *names[] = {"user", "system"};
    long long *slots[] = {&u->user_gid, &u->system_gid};
    for (int i = 0; i < 2; i++) {
        json_t *args = json_pack ("{s:s}", "name", names[i]);
        json_t *g = omero_client_call (u->c, "IAdmin", "lookupGroup", args, &err);
        json_decref (args);
        if (g)
            *slots[i] = omero_json_int (g, "@id|id", *slots[i]);
        json_decref (g);
    }
    return 0;
}

void
ug_close (ug_t *u)
{
    omero_client_destroy (&u->c);
}

json_t *
ug_data (json_t *rep)
{
    if (json_is_array (rep))
        return rep;
    json_t *d = omero_json_find (rep, "data|experimenters|groups|ids");
    return json_is_array (d) ? d : NULL;
}

const char *
ug_text (json_t *o, const char *names, char *buf, size_t len)
{
    return omero_json_text (o, names, buf, len, "");
}

const char *
ug_perms (json_t *g, char *buf, size_t len)
{
    json_t *p = json_object_get (json_object_get (g, "omero:details"), "permissions");
    if (!p)
        p = json_object_get (json_object_get (g, "details"), "permissions");
    if (!p)
        p = omero_json_find (g, "permissions|perms|perm");
    if (json_is_string (p))
        return json_string_value (p);
    const char *s = omero_json_text (p, "perm", buf, len, "");
    return s;
}

bool
ug_has (json_t *ids, long long id)
{
    size_t i;
    json_t *v;
    json_array_foreach (ids, i, v) {
        long long x = json_is_integer (v) ? json_integer_value (v) : omero_json_int (v, "@id|id", -9);
        if (x == id)
            return true;
    }
    return false;
}

int
ug_memberships (ug_t *u, long long uid, json_t **member, json_t **owner, omero_err_t *err)
{
    *member = *owner = NULL;
    json_t *args = json_pack ("{s:I}", "user", (json_int_t) uid);
    json_t *m = omero_client_call (u->c, "IAdmin", "getMemberOfGroupIds", args, err);
    json_t *o = m ? omero_client_call (u->c, "IAdmin", "getLeaderOfGroupIds", args, err) : NULL;
    json_decref (args);
    if (!m || !o) {
        json_decref (m);
        return -1;
    }
    json_t *md = ug_data (m), *od = ug_data (o);
    *member = md ? json_incref (md) : json_array ();
    *owner = od ? json_incref (od) : json_array ();
    json_decref (m);
    json_decref (o);
    return 0;
}

static bool
is_number (const char *s)
{
    if (!s || !*s)
        return false;
    return strspn (s, "0123456789") == strlen (s);
}

static json_t *
get_by (ug_t *u, const char *getter, const char *lookup, const char *s, bool by_id)
{
    omero_err_t err = {0};
    json_t *args = by_id ? json_pack ("{s:I}", "id", (json_int_t) strtoll (s, NULL, 10))
                         : json_pack ("{s:s}", "name", s);
    json_t *r = omero_client_call (u->c, "IAdmin", by_id ? getter : lookup, args, &err);
    json_decref (args);
    return r;
}

/* OMERO's find_user/find_group: by name and by id, ambiguous when both match different objects. */
static json_t *
find (ug_t *u, const char *s, int mode, bool *ambiguous, const char *getter, const char *lookup)
{
    *ambiguous = false;
    json_t *byname = mode != 1 ? get_by (u, getter, lookup, s, false) : NULL;
    json_t *byid = mode != 2 && is_number (s) ? get_by (u, getter, lookup, s, true) : NULL;
    if (byname && byid) {
        if (omero_json_int (byname, "@id|id", -1) != omero_json_int (byid, "@id|id", -2)) {
            *ambiguous = true;
            json_decref (byname);
            json_decref (byid);
            return NULL;
        }
        json_decref (byid);
        return byname;
    }
    return byname ? byname : byid;
}

json_t *
ug_find_user (ug_t *u, const char *s, int mode, bool *ambiguous)
{
    return find (u, s, mode, ambiguous, "getExperimenter", "lookupExperimenter");
}

json_t *
ug_find_group (ug_t *u, const char *s, int mode, bool *ambiguous)
{
    return find (u, s, mode, ambiguous, "getGroup", "lookupGroup");
}

int
ug_take_many (int argc, char **argv, int *i, const char **out, int *n, int max)
{
    int start = *n;
    while (*i + 1 < argc && argv[*i + 1][0] != '-' && *n < max)
        out[(*n)++] = argv[++*i];
    return *n > start ? 0 : -1;
}

int
ug_list_opt (ug_list_opts_t *o, int argc, char **argv, int *i, const char *prog)
{
    const char *a = argv[*i];
    const char *style = NULL;
    if (!strcmp (a, "--style")) {
        if (*i + 1 >= argc) {
            fprintf (stderr, "%s: error: argument --style: expected one argument\n", prog);
            return -1;
        }
        style = argv[++*i];
    }
    else if (!strncmp (a, "--style=", 8))
        style = a + 8;
    if (style) {
        if (cli_style_parse (style, &o->style) < 0) {
            fprintf (stderr, "%s: error: argument --style: invalid choice: '%s'\n\n%s\n", prog, style,
                     cli_style_choices ());
            return -1;
        }
        return 1;
    }
    if (!strcmp (a, "--count")) {
        o->count = true;
        o->long_ = false;
        return 1;
    }
    if (!strcmp (a, "--long")) {
        o->long_ = true;
        o->count = false;
        return 1;
    }
    if (!strncmp (a, "--sort-by-", 10)) {
        static const char *keys[] = {"id", "login", "first-name", "last-name", "email", "name"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (!strcmp (a + 10, keys[k])) {
                o->sort = keys[k];
                return 1;
            }
    }
    return 0;
}

/* ---- tables ---- */

typedef struct {
    json_t *obj;
    const char *key;
    long long id;
    char text[512];
} sortrow_t;

static int
cmp_rows (const void *a, const void *b)
{
    const sortrow_t *x = a, *y = b;
    if (!x->key) {
        return x->id < y->id ? -1 : x->id > y->id;
    }
    int c = strcmp (x->text, y->text);
    return c ? c : (x->id < y->id ? -1 : x->id > y->id);
}

static sortrow_t *
sorted (json_t *arr, const char *names, size_t *n)
{
    *n = json_array_size (arr);
    sortrow_t *rows = calloc (*n + 1, sizeof *rows);
    for (size_t i = 0; i < *n; i++) {
        rows[i].obj = json_array_get (arr, i);
        rows[i].id = omero_json_int (rows[i].obj, "@id|id", -1);
        rows[i].key = names;
        char tmp[64];
        if (names)
            snprintf (rows[i].text, sizeof rows[i].text, "%s",
                      omero_json_text (rows[i].obj, names, tmp, sizeof tmp, ""));
    }
    qsort (rows, *n, sizeof *rows, cmp_rows);
    return rows;
}

static void
join_ids (char *out, size_t len, long long *ids, int n)
{
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen (out);
        snprintf (out + l, len - l, "%s%lld", i ? "," : "", ids[i]);
    }
}

int
ug_print_users (ug_t *u, json_t *users, const ug_list_opts_t *o)
{
    const char *sortkey = NULL;
    if (o->sort && !strcmp (o->sort, "login"))
        sortkey = "UserName|omeName";
    else if (o->sort && !strcmp (o->sort, "first-name"))
        sortkey = "FirstName|firstName";
    else if (o->sort && !strcmp (o->sort, "last-name"))
        sortkey = "LastName|lastName";
    else if (o->sort && !strcmp (o->sort, "email"))
        sortkey = "Email|email";
    size_t n;
    sortrow_t *rows = sorted (users, sortkey, &n);
    const char *hl[] = {"id", "login", "first name", "last name", "email", "active", "ldap", "admin",
                        "member of", "owner of", NULL};
    const char *hc[] = {"id", "login", "first name", "last name", "email", "active", "ldap", "admin",
                        "# group memberships", "# group ownerships", NULL};
    cli_table_t *t = cli_table_new (o->count ? hc : hl);
    cli_table_set_style (t, o->style);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = rows[i].obj;
        json_t *member = NULL, *owner = NULL;
        omero_err_t err = {0};
        if (ug_memberships (u, rows[i].id, &member, &owner, &err) < 0) {
            rc = cli_fail_omero (&err);
            break;
        }
        long long mem[256], lead[256];
        int nm = 0, nl = 0;
        bool active = false, admin = false;
        size_t k;
        json_t *g;
        json_array_foreach (member, k, g) {
            long long gid = json_integer_value (g);
            if (gid == u->user_gid)
                active = true;
            else if (gid == u->system_gid)
                admin = true;
            else if (ug_has (owner, gid)) {
                if (nl < 256)
                    lead[nl++] = gid;
            }
            else if (nm < 256)
                mem[nm++] = gid;
        }
        char idb[32], b1[256], b2[256], b3[256], b4[256], ms[2048], ls[2048];
        snprintf (idb, sizeof idb, "%lld", rows[i].id);
        if (o->count) {
            snprintf (ms, sizeof ms, "%d", nm);
            snprintf (ls, sizeof ls, "%d", nl);
        }
        else {
            join_ids (ms, sizeof ms, mem, nm);
            join_ids (ls, sizeof ls, lead, nl);
        }
        cli_table_row (t, idb, ug_text (e, "UserName|omeName", b1, sizeof b1),
                       ug_text (e, "FirstName|firstName", b2, sizeof b2),
                       ug_text (e, "LastName|lastName", b3, sizeof b3), ug_text (e, "Email|email", b4, sizeof b4),
                       active ? "Yes" : "", omero_json_bool (e, "omero:ldap|ldap|Ldap", false) ? "True" : "False",
                       admin ? "Yes" : "", nm ? ms : "", nl ? ls : "");
        json_decref (member);
        json_decref (owner);
    }
    if (rc == 0)
        cli_table_print (t, stdout);
    cli_table_destroy (&t);
    free (rows);
    return rc;
}

static int
cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Ids as Python's ",".join(sorted(str(x) …)): sorted as strings. */
static void
join_sorted_str (char *out, size_t len, long long *ids, int n)
{
    char **s = calloc ((size_t) n + 1, sizeof (char *));
    for (int i = 0; i < n; i++)
        if (asprintf (&s[i], "%lld", ids[i]) < 0)
            s[i] = NULL;
    qsort (s, (size_t) n, sizeof (char *), cmp_str);
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen (out);
        snprintf (out + l, len - l, "%s%s", i ? "," : "", s[i] ? s[i] : "");
        free (s[i]);
    }
    free (s);
}

int
ug_print_groups (ug_t *u, json_t *groups, const ug_list_opts_t *o)
{
    /* Membership comes per user: gather every user's groups once. */
    omero_err_t err = {0};
    json_t *rep = omero_client_call (u->c, "IAdmin", "lookupExperimenters", NULL, &err);
    json_t *users = ug_data (rep);
    if (!rep)
        return cli_fail_omero (&err);
    size_t nu = json_array_size (users);
    long long *uids = calloc (nu + 1, sizeof (long long));
    json_t **mem = calloc (nu + 1, sizeof (json_t *)), **own = calloc (nu + 1, sizeof (json_t *));
    int rc = 0;
    for (size_t i = 0; i < nu && rc == 0; i++) {
        uids[i] = omero_json_int (json_array_get (users, i), "@id|id", -1);
        if (ug_memberships (u, uids[i], &mem[i], &own[i], &err) < 0)
            rc = cli_fail_omero (&err);
    }
    size_t n = 0;
    sortrow_t *rows = NULL;
    cli_table_t *t = NULL;
    if (rc)
        goto out;
    rows = sorted (groups, o->sort && !strcmp (o->sort, "name") ? "Name|name" : NULL, &n);
    const char *hl[] = {"id", "name", "perms", "ldap", "owner ids", "member ids", NULL};
    const char *hc[] = {"id", "name", "perms", "ldap", "# of owners", "# of members", NULL};
    t = cli_table_new (o->long_ ? hl : hc);
    cli_table_set_style (t, o->style);
    for (size_t i = 0; i < n; i++) {
        long long gid = rows[i].id, owners[1024], members[1024];
        int no = 0, nm = 0;
        for (size_t k = 0; k < nu; k++) {
            if (!ug_has (mem[k], gid))
                continue;
            if (ug_has (own[k], gid)) {
                if (no < 1024)
                    owners[no++] = uids[k];
            }
            else if (nm < 1024)
                members[nm++] = uids[k];
        }
        char idb[32], nb[256], pb[32], os[4096], ms[4096];
        snprintf (idb, sizeof idb, "%lld", gid);
        if (o->long_) {
            join_sorted_str (os, sizeof os, owners, no);
            join_sorted_str (ms, sizeof ms, members, nm);
        }
        else {
            snprintf (os, sizeof os, "%d", no);
            snprintf (ms, sizeof ms, "%d", nm);
        }
        cli_table_row (t, idb, ug_text (rows[i].obj, "Name|name", nb, sizeof nb), ug_perms (rows[i].obj, pb, sizeof pb),
                       omero_json_bool (rows[i].obj, "omero:ldap|ldap|Ldap", false) ? "True" : "False", os, ms);
    }
    cli_table_print (t, stdout);
out:
    cli_table_destroy (&t);
    free (rows);
    for (size_t i = 0; i < nu; i++) {
        json_decref (mem[i]);
        json_decref (own[i]);
    }
    free (mem);
    free (own);
    free (uids);
    json_decref (rep);
    return rc;
}

const char *
ug_perms_from_type (const char *type)
{
    static const struct {
        const char *name, *perm;
    } levels[] = {{"private", "rw----"}, {"read-only", "rwr---"}, {"read-annotate", "rwra--"}, {"read-write", "rwrw--"}};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (!strcmp (type, levels[i].name))
            return levels[i].perm;
    return NULL;
}

bool
ug_perms_valid (const char *p)
{
    if (!p || strlen (p) != 6)
        return false;
    for (int t = 0; t < 3; t++) {
        if (p[2 * t] != 'r' && p[2 * t] != '-')
            return false;
        if (p[2 * t + 1] != 'w' && p[2 * t + 1] != 'a' && p[2 * t + 1] != '-')
            return false;
        /* Write or annotate without read makes no sense. */
        if (p[2 * t] == '-' && p[2 * t + 1] != '-')
            return false;
    }
    return true;
}

int
ug_select (ug_t *u, const ug_select_t *sel, json_t *out, bool use_context)
{
    bool any = sel->n[0] || sel->n[1] || sel->n[2];
    if (!use_context && !any)
        return cli_die (sel->rc_none, "No input %s is specified", sel->what);
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < sel->n[s]; i++) {
            const char *x = sel->v[s][i];
            if (s == 1 && strspn (x, "0123456789") != strlen (x)) {
                fprintf (stderr, "Not a valid %s ID: %s\n", sel->what, x);
                continue;
            }
            bool amb;
            json_t *o = sel->find (u, x, s, &amb);
            if (amb)
                fprintf (stderr, "Ambiguous %s identifier: %s\n", sel->what, x);
            else if (!o)
                fprintf (stderr, "Unknown %s: %s\n", sel->what, x);
            else
                json_array_append_new (out, o);
        }
    if (json_array_size (out) > 0)
        return 0;
    if (!use_context || any)
        return cli_die (sel->rc_not_found, "No %s found", sel->what);
    omero_err_t err = {0};
    json_t *ec = cli_session_context (u->c, &err);
    if (!ec)
        return cli_fail_omero (&err);
    char b[32];
    snprintf (b, sizeof b, "%lld", omero_json_int (ec, sel->ctx_key, -1));
    json_decref (ec);
    bool amb;
    json_t *o = sel->find (u, b, 1, &amb);
    if (!o)
        return cli_die (sel->rc_unknown_ctx, "Unknown %s: %s", sel->what, b);
    json_array_append_new (out, o);
    return 0;
}
