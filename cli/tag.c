/* tag: `omero tag create|createset|list|listsets|link` — tag annotations and tag sets (tags
 * whose namespace is openmicroscopy.org/omero/insight/tagset, holding tags through
 * AnnotationAnnotationLinks), created with IUpdate and listed with IMetadata.loadTagSets. */
#include "login.h"
#include "sessions.h"
#include "usage.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAGSET_NS "openmicroscopy.org/omero/insight/tagset"

static const char *usage_text = "usage: omero tag [-h] {create,createset,list,listsets,link} ...\n";

static const char *help_text =
    "Manage tags\n\n"
    "Positional Arguments:\n"
    "  {create,createset,list,listsets,link}\n"
    "    create              Create a new tag\n"
    "    createset           Create a new tag set containing existing tags\n"
    "    list                List all the tags, grouped by tag set\n"
    "    listsets            List tag sets\n"
    "    link                Link a tag to an object: omero tag link Image:1000 1260\n\n"
    "Options of create and createset:\n"
    "  --name NAME           name of the tag or tag set (asked for when missing)\n"
    "  --desc DESC           description\n"
    "  --tag ID [ID ...]     (createset) the tags the set contains\n";

static int
usage_error (const char *fmt, const char *arg)
{
    return cli_usage_error (usage_text, "tag", fmt, arg);
}

/* Ask for a name on stdin (a terminal or not, as OMERO's raw_input does). */
static char *
ask (const char *prompt)
{
    fputs (prompt, stdout);
    fflush (stdout);
    return cli_read_line (stdin);
}

static int
parse_id (const char *s, long long *out)
{
    char *end;
    *out = strtoll (s, &end, 10);
    return *s && !*end && *out >= 0 ? 0 : -1;
}

/* Save one object and print "Class:ID" of it. */
static int
save_print (omero_client_t *c, json_t *obj, const char *cls)
{
    omero_err_t err = {0};
    json_t *args = json_pack ("{s:o}", "object", obj);
    json_t *r = omero_client_call (c, "IUpdate", "saveAndReturnObject", args, &err);
    json_decref (args);
    if (!r)
        return cli_fail_omero (&err);
    printf ("%s:%lld\n", cls, (long long) json_integer_value (json_object_get (json_object_get (r, "data"), "@id")));
    json_decref (r);
    return 0;
}

static int
tag_create (omero_client_t *c, const char *name, const char *desc, json_t *tags)
{
    char *asked = NULL;
    if (!name) {
        asked = ask (tags ? "Please enter a name for this tag set: " : "Please enter a name for this tag: ");
        if (!asked || !*asked) {
            free (asked);
            return cli_die (1, "No name given");
        }
        name = asked;
    }
    json_t *o = json_pack ("{s:s,s:s}", "@type", "TagAnnotation", "TextValue", name);
    if (desc)
        json_object_set_new (o, "Description", json_string (desc));
    if (tags) {
        json_object_set_new (o, "Ns", json_string (TAGSET_NS));
        json_t *links = json_array ();
        size_t i;
        json_t *id;
        json_array_foreach (tags, i, id)
            json_array_append_new (links, json_pack ("{s:s,s:{s:s,s:O}}", "@type", "AnnotationAnnotationLink", "child",
                                                     "@type", "TagAnnotation", "@id", id));
        json_object_set_new (o, "AnnotationLinks", links);
    }
    free (asked);
    return save_print (c, o, "TagAnnotation");
}

static const char *
text_of (const json_t *tag)
{
    const char *s = json_string_value (json_object_get (tag, "Value"));
    if (!s)
        s = json_string_value (json_object_get (tag, "TextValue"));
    return s ? s : "";
}

/* The current user's tag sets (with their tags) and, with orphans, the tags in no set. */
static json_t *
load_sets (omero_client_t *c, bool orphans, omero_err_t *err)
{
    json_t *ec = cli_session_context (c, err);
    if (!ec)
        return NULL;
    json_t *uid = json_object_get (ec, "userId");
    json_t *args = json_pack ("{s:{s:O,s:b}}", "options", "experimenter", uid, "orphan", orphans);
    json_decref (ec);
    json_t *r = omero_client_call (c, "IMetadata", "loadTagSets", args, err);
    json_decref (args);
    return r;
}

static bool
is_set (const json_t *t)
{
    const char *ns = json_string_value (json_object_get (t, "Namespace"));
    if (!ns)
        ns = json_string_value (json_object_get (t, "Ns"));
    return ns && !strcmp (ns, TAGSET_NS);
}

static int
tag_list (omero_client_t *c, bool sets_only)
{
    omero_err_t err = {0};
    json_t *r = load_sets (c, !sets_only, &err);
    if (!r)
        return cli_fail_omero (&err);
    json_t *data = json_object_get (r, "data");
    size_t i;
    json_t *t;
    if (sets_only) {
        printf ("--------|----------\nID      |Name\n--------|----------\n");
        json_array_foreach (data, i, t) if (is_set (t))
            printf ("%-8lld|%s\n", (long long) json_integer_value (json_object_get (t, "@id")), text_of (t));
        printf ("--------|----------\n");
        json_decref (r);
        return 0;
    }
    bool any_orphan = false;
    json_array_foreach (data, i, t) {
        if (!is_set (t)) {
            any_orphan = true;
            continue;
        }
        printf ("+- %lld: '%s'\n", (long long) json_integer_value (json_object_get (t, "@id")), text_of (t));
        json_t *links = json_object_get (t, "AnnotationLinks");
        if (json_array_size (links))
            printf ("| \\\n");
        size_t j;
        json_t *l;
        json_array_foreach (links, j, l) {
            json_t *child = json_object_get (l, "Child");
            printf ("| +- %lld: '%s'\n", (long long) json_integer_value (json_object_get (child, "@id")), text_of (child));
        }
    }
    if (any_orphan) {
        printf ("\nOrphaned tags:\n");
        json_array_foreach (data, i, t) if (!is_set (t))
            printf ("> %lld: '%s'\n", (long long) json_integer_value (json_object_get (t, "@id")), text_of (t));
    }
    json_decref (r);
    return 0;
}

static int
tag_link (omero_client_t *c, const char *target, const char *tag)
{
    const char *colon = strchr (target, ':');
    long long oid, tid;
    if (!colon || colon == target || parse_id (colon + 1, &oid) < 0)
        return cli_die (2, "The object must be given as Type:ID (e.g. Image:1000), not '%s'", target);
    if (parse_id (tag, &tid) < 0)
        return cli_die (2, "The tag must be given by its id, not '%s'", tag);
    char cls[128], link[160];
    snprintf (cls, sizeof cls, "%.*s", (int) (colon - target), target);
    size_t n = strlen (cls);
    if (n > 1 && cls[n - 1] == 'I' && !strncmp (cls, "omero.model.", 12))
        cls[n - 1] = 0;
    const char *base = strrchr (cls, '.') ? strrchr (cls, '.') + 1 : cls;
    snprintf (link, sizeof link, "%sAnnotationLink", base);
    json_t *o = json_pack ("{s:s,s:{s:s,s:I},s:{s:s,s:I}}", "@type", link, "parent", "@type", base, "@id",
                           (json_int_t) oid, "child", "@type", "TagAnnotation", "@id", (json_int_t) tid);
    return save_print (c, o, link);
}

int
cli_tag (cli_t *cli, int argc, char **argv)
{
    cli_login_args_t la = {0};
    const char *sub = NULL, *name = NULL, *desc = NULL;
    const char *pos[4];
    int npos = 0;
    json_t *tags = NULL;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp (a, "-h") || !strcmp (a, "--help")) {
            cli_usage_help (usage_text, help_text);
            json_decref (tags);
            return 0;
        }
        if (!strcmp (a, "--name") || !strcmp (a, "--desc")) {
            if (i + 1 >= argc) {
                json_decref (tags);
                return usage_error ("argument %s: expected one argument", a);
            }
            *(a[2] == 'n' ? &name : &desc) = argv[++i];
            continue;
        }
        if (!strcmp (a, "--tag")) {
            if (!tags)
                tags = json_array ();
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                long long id;
                if (parse_id (argv[++i], &id) < 0) {
                    json_decref (tags);
                    return usage_error ("argument --tag: invalid int value: '%s'", argv[i]);
                }
                json_array_append_new (tags, json_integer (id));
            }
            continue;
        }
        int r = cli_login_arg (&la, argc, argv, &i);
        if (r < 0) {
            json_decref (tags);
            return 2;
        }
        if (r > 0)
            continue;
        if (a[0] == '-' && a[1]) {
            json_decref (tags);
            return usage_error ("unrecognized arguments: %s", a);
        }
        if (!sub)
            sub = a;
        else if (npos < 4)
            pos[npos++] = a;
    }
    static const char *subs[] = {"create", "createset", "list", "listsets", "link"};
    bool known = false;
    for (size_t k = 0; sub && k < sizeof subs / sizeof subs[0]; k++)
        known |= !strcmp (sub, subs[k]);
    if (!known) {
        json_decref (tags);
        if (!sub)
            return usage_error ("%s", "too few arguments");
        return usage_error ("argument subcommand: invalid choice: '%s' (choose from 'create', 'createset', 'list', "
                            "'listsets', 'link')", sub);
    }
    if (!strcmp (sub, "createset") && !json_array_size (tags)) {
        json_decref (tags);
        return usage_error ("%s", "the following arguments are required: --tag");
    }
    if (!strcmp (sub, "link") && npos != 2) {
        json_decref (tags);
        return usage_error ("%s", "usage: omero tag link Type:ID TAG_ID");
    }
    omero_client_t *c = cli_session_client (cli, &la, &rc);
    if (!c) {
        json_decref (tags);
        return rc;
    }
    if (!strcmp (sub, "create"))
        rc = tag_create (c, name, desc, NULL);
    else if (!strcmp (sub, "createset"))
        rc = tag_create (c, name, desc, tags);
    else if (!strcmp (sub, "list"))
        rc = tag_list (c, false);
    else if (!strcmp (sub, "listsets"))
        rc = tag_list (c, true);
    else
        rc = tag_link (c, pos[0], pos[1]);
    json_decref (tags);
    omero_client_destroy (&c);
    return rc;
}
