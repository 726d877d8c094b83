/* descriptor_xml: reads IceGrid's XML application descriptors (OMERO's etc/grid XML files) with
 * libxml2 into the intermediate form. OMERO's `omero admin rewrite` placeholders (@omero.ports.ssl@
 * …) are substituted in the text first, as rewrite does; targets are applied while reading;
 * elements with no counterpart here become warnings, unknown elements are errors. */
#include "descriptor_xml.h"
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    reg_ir_t *ir;
    const char *file;
    const char *text;       /* the parsed text, to find where a start tag begins */
    size_t len;
    size_t *lines;          /* offset of each line's first character; nlines entries */
    int nlines;
} xctx_t;

/* ------------------------------------------------------------------ placeholders */

/* A configuration value through the caller's lookup, NULL when unset or empty-callback. */
static const char *
cfg (reg_ir_t *ir, const char *key)
{
    return ir->props ? ir->props (ir->props_arg, key) : NULL;
}

/* The value OMERO's rewrite puts for @name@ (config value, else OMERO's default); NULL = leave
 * the placeholder as written. Caller frees. */
static char *
placeholder_value (reg_ir_t *ir, const char *name)
{
    static const struct { const char *key, *def; } simple[] = {
        { "omero.ports.prefix", "" },   { "omero.ports.ssl", "4064" }, { "omero.ports.tcp", "4063" },
        { "omero.ports.ws", "4065" },   { "omero.ports.wss", "4066" }, { "omero.ports.registry", "4061" },
        { "omero.tables.module", "runTables" },
        /* The router reads its TLS settings from configuration; no properties are spliced in. */
        { "omero.glacier2.icessl", "" },
    };
    const char *v;
    if (strcmp (name, "omero.master.host") == 0 || strcmp (name, "omero.host") == 0) {
        if ((v = cfg (ir, name)) && *v)
            return strdup (v);
        if (strcmp (name, "omero.host") == 0 && (v = cfg (ir, "omero.master.host")) && *v)
            return strdup (v);
        if ((v = cfg (ir, "Ice.Default.Host")) && *v)
            return strdup (v);
        return strdup ("127.0.0.1");
    }
    if (strcmp (name, "omero.client.endpoints") == 0) {
        char *prefix = placeholder_value (ir, "omero.ports.prefix");
        const char *transports = cfg (ir, "omero.client.icetransports");
        if (!transports || !*transports)
            transports = "ssl,tcp";
        char out[512] = "";
        char *copy = strdup (transports), *save = NULL;
        for (char *t = strtok_r (copy, ", ", &save); t; t = strtok_r (NULL, ", ", &save)) {
            char key[64];
            snprintf (key, sizeof key, "omero.ports.%s", t);
            char *port = placeholder_value (ir, key);
            if (!port)
                continue;
            size_t used = strlen (out);
            snprintf (out + used, sizeof out - used, "%s%s -p %s%s", used ? ":" : "", t, prefix, port);
            free (port);
        }
        free (copy);
        free (prefix);
        return strdup (out);
    }
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strcmp (name, simple[i].key) == 0)
            return strdup ((v = cfg (ir, name)) ? v : simple[i].def);
    v = cfg (ir, name);
    return v ? strdup (v) : NULL;
}

static int
is_name_char (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
           || c == '.' || c == '-';
}

static void
buf_add (char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap)
            *cap *= 2;
        *buf = realloc (*buf, *cap);
    }
    memcpy (*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* Replace @dotted.name@ placeholders whose value is known, escaping the value for XML. */
static char *
substitute_placeholders (reg_ir_t *ir, const char *text, size_t len, size_t *outlen)
{
    size_t cap = len + 64, n = 0;
    char *out = malloc (cap);
    out[0] = '\0';
    size_t i = 0;
    while (i < len) {
        if (text[i] == '@') {
            size_t j = i + 1;
            int dot = 0;
            while (j < len && is_name_char (text[j])) {
                dot |= text[j] == '.';
                j++;
            }
            if (j < len && text[j] == '@' && j > i + 1 && dot) {
                char name[256];
                size_t nl = j - i - 1 < sizeof name - 1 ? j - i - 1 : sizeof name - 1;
                memcpy (name, text + i + 1, nl);
                name[nl] = '\0';
                char *val = placeholder_value (ir, name);
                if (val) {
                    for (const char *p = val; *p; p++) {
                        const char *esc = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;"
                                        : *p == '"' ? "&quot;" : NULL;
                        if (esc)
                            buf_add (&out, &n, &cap, esc, strlen (esc));
                        else
                            buf_add (&out, &n, &cap, p, 1);
                    }
                    free (val);
                    i = j + 1;
                    continue;
                }
            }
        }
        buf_add (&out, &n, &cap, text + i, 1);
        i++;
    }
    *outlen = n;
    return out;
}

/* ------------------------------------------------------------------ element helpers */

/* The line where el's start tag begins. libxml2 records the line where the start tag ends, which
 * for OMERO's multi-line <server-instance …/> elements is the line of the last attribute. */
static int
line_of (xctx_t *x, xmlNode *el)
{
    int end = (int) xmlGetLineNo (el);
    if (end < 1 || end > x->nlines || !x->text)
        return end < 1 ? 1 : end;
    size_t nl = strlen ((const char *) el->name);
    size_t stop = end < x->nlines ? x->lines[end] : x->len;  /* first character after line `end` */
    for (size_t p = stop; p-- > 0;) {
        if (x->text[p] != '<' || p + 1 + nl > x->len || memcmp (x->text + p + 1, el->name, nl) != 0)
            continue;
        char after = p + 1 + nl < x->len ? x->text[p + 1 + nl] : '>';
        if (after != ' ' && after != '\t' && after != '\r' && after != '\n' && after != '>' && after != '/')
            continue;
        int line = end;
        while (line > 1 && x->lines[line - 1] > p)
            line--;
        return line;
    }
    return end;
}

static int
is (xmlNode *el, const char *name)
{
    return strcmp ((const char *) el->name, name) == 0;
}

/* Attribute value (malloc'd copy) or NULL. */
static char *
attr (xmlNode *el, const char *name)
{
    xmlChar *v = xmlGetProp (el, (const xmlChar *) name);
    if (!v)
        return NULL;
    char *copy = strdup ((const char *) v);
    xmlFree (v);
    return copy;
}

/* Required attribute; error when missing or empty. */
static char *
need_attr (xctx_t *x, xmlNode *el, const char *name, omr_err_t *err)
{
    char *v = attr (el, name);
    if (!v || !*v) {
        free (v);
        reg_ir_error (err, x->file, line_of (x, el), "<%s> needs a %s attribute", el->name, name);
        return NULL;
    }
    return v;
}

/* Element text (malloc'd), surrounding whitespace removed. */
static char *
text_of (xmlNode *el)
{
    xmlChar *v = xmlNodeGetContent (el);
    const char *s = v ? (const char *) v : "";
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen (s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    char *copy = strndup (s, n);
    if (v)
        xmlFree (v);
    return copy;
}

typedef int (*child_fn) (xctx_t *x, xmlNode *el, void *ctx, omr_err_t *err);

/* Call fn on each element child of parent; the children of an active <target> count as children
 * of parent, an inactive target is skipped unread (its ${…} may name things that do not exist). */
static int
each_child (xctx_t *x, xmlNode *parent, child_fn fn, void *ctx, omr_err_t *err)
{
    for (xmlNode *c = parent->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (is (c, "target")) {
            char *name = need_attr (x, c, "name", err);
            if (!name)
                return -1;
            int active = reg_ir_target_active (x->ir, name);
            free (name);
            if (active && each_child (x, c, fn, ctx, err) != 0)
                return -1;
            continue;
        }
        if (is (c, "description"))
            continue;
        if (fn (x, c, ctx, err) != 0)
            return -1;
    }
    return 0;
}

static int
unknown (xctx_t *x, xmlNode *el, const char *where, omr_err_t *err)
{
    return reg_ir_error (err, x->file, line_of (x, el), "unknown element <%s> in <%s>", el->name, where);
}

/* ------------------------------------------------------------------ properties */

static int
props_child (xctx_t *x, xmlNode *el, void *ctx, omr_err_t *err)
{
    reg_vec_t *items = ctx;
    if (is (el, "property")) {
        char *name = need_attr (x, el, "name", err);
        if (!name)
            return -1;
        char *value = attr (el, "value");
        reg_vec_push (items, reg_ir_prop_new (0, name, value ? value : "", x->file, line_of (x, el)));
        free (name);
        free (value);
        return 0;
    }
    if (is (el, "properties")) {
        char *ref = need_attr (x, el, "refid", err);
        if (!ref)
            return -1;
        reg_vec_push (items, reg_ir_prop_new (1, ref, NULL, x->file, line_of (x, el)));
        free (ref);
        return 0;
    }
    return unknown (x, el, "properties", err);
}

/* <properties> inside a server or server-instance: refid attribute and/or children. */
static int
read_anon_props (xctx_t *x, xmlNode *el, reg_vec_t *items, omr_err_t *err)
{
    char *ref = attr (el, "refid");
    if (ref) {
        reg_vec_push (items, reg_ir_prop_new (1, ref, NULL, x->file, line_of (x, el)));
        free (ref);
    }
    return each_child (x, el, props_child, items, err);
}

static int
read_propset (xctx_t *x, xmlNode *el, omr_err_t *err)
{
    char *id = attr (el, "id");
    if (!id || !*id) {
        free (id);
        return reg_ir_error (err, x->file, line_of (x, el),
                             "<properties> outside a server needs an id attribute");
    }
    reg_ir_propset_t *ps = reg_ir_propset_new (id, x->file, line_of (x, el));
    free (id);
    if (each_child (x, el, props_child, &ps->items, err) != 0) {
        reg_ir_propset_free (ps);
        return -1;
    }
    return reg_ir_add_propset (x->ir, ps, err);
}

/* ------------------------------------------------------------------ servers */

static int
adapter_child (xctx_t *x, xmlNode *el, void *ctx, omr_err_t *err)
{
    /* Well-known objects are how Ice clients find servers; here the registry's directory
     * resolves server ids, so they carry no information to keep. */
    if (is (el, "object") || is (el, "allocatable"))
        return 0;
    return unknown (x, el, "adapter", err);
}

static int
server_child (xctx_t *x, xmlNode *el, void *ctx, omr_err_t *err)
{
    reg_ir_server_t *s = ctx;
    if (is (el, "option")) {
        char *t = text_of (el);
        reg_vec_push (&s->options, reg_ir_var_new (NULL, t, x->file, line_of (x, el)));
        free (t);
        return 0;
    }
    if (is (el, "env")) {
        char *t = text_of (el);
        reg_vec_push (&s->env, reg_ir_var_new (NULL, t, x->file, line_of (x, el)));
        free (t);
        return 0;
    }
    if (is (el, "properties"))
        return read_anon_props (x, el, &s->props, err);
    if (is (el, "property"))
        return props_child (x, el, &s->props, err);
    if (is (el, "adapter")) {
        char *name = need_attr (x, el, "name", err);
        if (!name)
            return -1;
        char *rg = attr (el, "replica-group");
        if (rg && !*rg) {
            free (rg);
            rg = NULL;
        }
        if (!s->adapter) {
            s->adapter = name;
            name = NULL;
        }
        if (rg && !s->replica_group) {
            s->replica_group = rg;
            s->rg_line = line_of (x, el);
            rg = NULL;
        }
        else if (rg)
            reg_ir_warn (x->ir, "%s:%d: only the first replicated adapter of a server is used; "
                         "replica-group \"%s\" ignored", x->file, line_of (x, el), rg);
        free (name);
        free (rg);
        return each_child (x, el, adapter_child, NULL, err);
    }
    if (is (el, "distrib") || is (el, "dbenv") || is (el, "log")) {
        reg_ir_warn (x->ir, "%s:%d: <%s> is not supported and was ignored", x->file, line_of (x, el),
                     el->name);
        return 0;
    }
    return unknown (x, el, "server", err);
}

/* A <server> (or an <icebox>, kept only to be reported as unsupported). */
static reg_ir_server_t *
read_server (xctx_t *x, xmlNode *el, omr_err_t *err)
{
    reg_ir_server_t *s = reg_ir_server_new (x->file, line_of (x, el));
    s->id = need_attr (x, el, "id", err);
    if (!s->id) {
        reg_ir_server_free (s);
        return NULL;
    }
    if (is (el, "icebox")) {
        s->unsupported = strdup ("IceBox servers (IceStorm) are not supported; notices use ZeroMQ");
        return s;
    }
    s->exe = attr (el, "exe");
    s->pwd = attr (el, "pwd");
    s->activation = attr (el, "activation");
    char *user = attr (el, "user");
    if (user) {
        reg_ir_warn (x->ir, "%s:%d: server attribute user=\"%s\" ignored: servers run as the node's user",
                     x->file, line_of (x, el), user);
        free (user);
    }
    char *distrib = attr (el, "application-distrib");
    if (distrib && strcmp (distrib, "false") != 0)
        reg_ir_warn (x->ir, "%s:%d: application-distrib is not supported and was ignored", x->file,
                     line_of (x, el));
    free (distrib);
    if (each_child (x, el, server_child, s, err) != 0) {
        reg_ir_server_free (s);
        return NULL;
    }
    return s;
}

static int
instance_child (xctx_t *x, xmlNode *el, void *ctx, omr_err_t *err)
{
    reg_ir_instance_t *in = ctx;
    if (is (el, "properties"))
        return read_anon_props (x, el, &in->props, err);
    return unknown (x, el, "server-instance", err);
}

static reg_ir_instance_t *
read_instance (xctx_t *x, xmlNode *el, omr_err_t *err)
{
    char *tid = need_attr (x, el, "template", err);
    if (!tid)
        return NULL;
    reg_ir_instance_t *in = reg_ir_instance_new (tid, x->file, line_of (x, el));
    free (tid);
    for (xmlAttr *a = el->properties; a; a = a->next) {
        const char *name = (const char *) a->name;
        if (strcmp (name, "template") == 0)
            continue;
        char *v = attr (el, name);
        reg_vec_push (&in->params, reg_ir_var_new (name, v ? v : "", x->file, line_of (x, el)));
        free (v);
    }
    if (each_child (x, el, instance_child, in, err) != 0) {
        reg_ir_instance_free (in);
        return NULL;
    }
    return in;
}

static int
template_child (xctx_t *x, xmlNode *el, void *ctx, omr_err_t *err)
{
    reg_ir_template_t *t = ctx;
    if (is (el, "parameter")) {
        char *name = need_attr (x, el, "name", err);
        if (!name)
            return -1;
        char *def = attr (el, "default");
        reg_vec_push (&t->params, reg_ir_var_new (name, def, x->file, line_of (x, el)));
        free (name);
        free (def);
        return 0;
    }
    if (is (el, "server") || is (el, "icebox")) {
        if (t->server)
            return reg_ir_error (err, x->file, line_of (x, el), "server template \"%s\" has more than one server",
                                 t->id);
        t->server = read_server (x, el, err);
        return t->server ? 0 : -1;
    }
    return unknown (x, el, "server-template", err);
}

static int
read_template (xctx_t *x, xmlNode *el, omr_err_t *err)
{
    char *id = need_attr (x, el, "id", err);
    if (!id)
        return -1;
    reg_ir_template_t *t = reg_ir_template_new (id, x->file, line_of (x, el));
    t->from_xml = 1;
    free (id);
    if (each_child (x, el, template_child, t, err) != 0) {
        reg_ir_template_free (t);
        return -1;
    }
    if (!t->server) {
        int line = t->line;
        reg_ir_template_free (t);
        return reg_ir_error (err, x->file, line, "server template has no <server>");
    }
    return reg_ir_add_template (x->ir, t, err);
}

/* ------------------------------------------------------------------ replica groups, nodes */

static int
rgroup_child (xctx_t *x, xmlNode *el, void *ctx, omr_err_t *err)
{
    reg_ir_rgroup_t *g = ctx;
    if (is (el, "load-balancing")) {
        free (g->lb_type);
        free (g->n_replicas);
        free (g->load_sample);
        g->lb_type = attr (el, "type");
        g->n_replicas = attr (el, "n-replicas");
        g->load_sample = attr (el, "load-sample");
        if (!g->lb_type)
            return reg_ir_error (err, x->file, line_of (x, el), "<load-balancing> needs a type attribute");
        return 0;
    }
    if (is (el, "object"))
        return 0;
    if (is (el, "filter")) {
        reg_ir_warn (x->ir, "%s:%d: replica-group filters are not supported and were ignored", x->file,
                     line_of (x, el));
        return 0;
    }
    return unknown (x, el, "replica-group", err);
}

static int
read_rgroup (xctx_t *x, xmlNode *el, omr_err_t *err)
{
    char *id = need_attr (x, el, "id", err);
    if (!id)
        return -1;
    reg_ir_rgroup_t *g = reg_ir_rgroup_new (id, x->file, line_of (x, el));
    free (id);
    if (each_child (x, el, rgroup_child, g, err) != 0) {
        reg_ir_rgroup_free (g);
        return -1;
    }
    return reg_ir_add_rgroup (x->ir, g, err);
}

static int
node_child (xctx_t *x, xmlNode *el, void *ctx, omr_err_t *err)
{
    reg_ir_node_t *node = ctx;
    if (is (el, "variable")) {
        char *name = need_attr (x, el, "name", err);
        if (!name)
            return -1;
        char *value = attr (el, "value");
        reg_ir_set_var (&node->vars, name, value, x->file, line_of (x, el));
        free (name);
        free (value);
        return 0;
    }
    if (is (el, "server") || is (el, "icebox")) {
        reg_ir_server_t *s = read_server (x, el, err);
        if (!s)
            return -1;
        reg_ir_node_add_server (node, s);
        return 0;
    }
    if (is (el, "server-instance")) {
        reg_ir_instance_t *in = read_instance (x, el, err);
        if (!in)
            return -1;
        reg_ir_node_add_instance (node, in);
        return 0;
    }
    if (is (el, "properties"))
        return read_propset (x, el, err);
    return unknown (x, el, "node", err);
}

static int
read_node (xctx_t *x, xmlNode *el, omr_err_t *err)
{
    char *name = need_attr (x, el, "name", err);
    if (!name)
        return -1;
    reg_ir_node_t *node = reg_ir_node (x->ir, name, x->file, line_of (x, el));
    free (name);
    return each_child (x, el, node_child, node, err);
}

/* ------------------------------------------------------------------ application level */

static int app_child (xctx_t *x, xmlNode *el, void *ctx, omr_err_t *err);

static int
read_application (xctx_t *x, xmlNode *el, omr_err_t *err)
{
    if (x->ir->stack.n > 1)
        return reg_ir_error (err, x->file, line_of (x, el), "an included file may not define an <application>");
    if (x->ir->app_name)
        return reg_ir_error (err, x->file, line_of (x, el), "a second <application> (the first is at %s:%d)",
                             x->ir->app_file, x->ir->app_line);
    x->ir->app_name = need_attr (x, el, "name", err);
    if (!x->ir->app_name)
        return -1;
    x->ir->app_file = x->file;
    x->ir->app_line = line_of (x, el);
    char *imp = attr (el, "import-default-templates");
    if (imp && strcmp (imp, "true") == 0)
        reg_ir_warn (x->ir, "%s:%d: import-default-templates is not supported and was ignored", x->file,
                     line_of (x, el));
    free (imp);
    return each_child (x, el, app_child, NULL, err);
}

static int
app_child (xctx_t *x, xmlNode *el, void *ctx, omr_err_t *err)
{
    if (is (el, "variable")) {
        char *name = need_attr (x, el, "name", err);
        if (!name)
            return -1;
        char *value = attr (el, "value");
        reg_ir_set_var (&x->ir->vars, name, value, x->file, line_of (x, el));
        free (name);
        free (value);
        return 0;
    }
    if (is (el, "properties"))
        return read_propset (x, el, err);
    if (is (el, "server-template"))
        return read_template (x, el, err);
    if (is (el, "replica-group"))
        return read_rgroup (x, el, err);
    if (is (el, "node"))
        return read_node (x, el, err);
    if (is (el, "include")) {
        char *f = need_attr (x, el, "file", err);
        if (!f)
            return -1;
        int rc = reg_ir_include (x->ir, x->file, line_of (x, el), f, err);
        free (f);
        return rc;
    }
    if (is (el, "application"))
        return read_application (x, el, err);
    if (is (el, "service-template")) {
        char *id = attr (el, "id");
        reg_ir_warn (x->ir, "%s:%d: service-template %s ignored: IceBox services are not supported",
                     x->file, line_of (x, el), id ? id : "");
        free (id);
        return 0;
    }
    if (is (el, "distrib")) {
        reg_ir_warn (x->ir, "%s:%d: <distrib> (IcePatch2 distribution) is not supported and was ignored",
                     x->file, line_of (x, el));
        return 0;
    }
    return unknown (x, el, "application", err);
}

/* The first error libxml2 reports (later ones are usually consequences of it). */
typedef struct {
    int line;
    char msg[512];
} first_error_t;

static void
on_xml_error (void *user, xmlErrorPtr e)
{
    xmlParserCtxtPtr ctxt = user;
    first_error_t *fe = ctxt ? ctxt->_private : NULL;
    if (!fe || fe->msg[0] || !e || e->level < XML_ERR_ERROR)
        return;
    snprintf (fe->msg, sizeof fe->msg, "%s", e->message ? e->message : "not well-formed");
    char *nl = strchr (fe->msg, '\n');    /* libxml2 appends context on further lines */
    if (nl)
        *nl = '\0';
    size_t l = strlen (fe->msg);
    while (l && (fe->msg[l - 1] == '\n' || fe->msg[l - 1] == ' '))
        fe->msg[--l] = '\0';
    fe->line = e->line > 0 ? e->line : 1;
}

int
reg_xml_read (reg_ir_t *ir, const char *file, const char *text, size_t len, omr_err_t *err)
{
    size_t n = 0;
    char *buf = substitute_placeholders (ir, text, len, &n);
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt ();
    if (!ctxt) {
        free (buf);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "%s: cannot create an XML parser", file);
    }
    first_error_t fe = { 0, "" };
    ctxt->_private = &fe;
    ctxt->sax->serror = on_xml_error;
    xmlDocPtr doc = xmlCtxtReadMemory (ctxt, buf, (int) n, file, NULL,
                                       XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING
                                           | XML_PARSE_BIG_LINES);
    if (!doc) {
        free (buf);
        xmlErrorPtr e = xmlCtxtGetLastError (ctxt);
        char msg[512] = "not well-formed";
        int line = 1;
        if (fe.msg[0]) {
            snprintf (msg, sizeof msg, "%s", fe.msg);
            line = fe.line;
        }
        else if (e && e->message) {
            snprintf (msg, sizeof msg, "%s", e->message);
            size_t l = strlen (msg);
            while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
                msg[--l] = '\0';
            line = e->line > 0 ? e->line : 1;
        }
        xmlFreeParserCtxt (ctxt);
        return reg_ir_error (err, file, line, "malformed XML: %s", msg);
    }
    xmlFreeParserCtxt (ctxt);
    xctx_t x = { ir, file, buf, n, NULL, 0 };
    x.lines = malloc (sizeof *x.lines * 16);
    int cap = 16;
    x.lines[x.nlines++] = 0;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\n') {
            if (x.nlines == cap) {
                cap *= 2;
                x.lines = realloc (x.lines, sizeof *x.lines * (size_t) cap);
            }
            x.lines[x.nlines++] = i + 1;
        }
    xmlNode *root = xmlDocGetRootElement (doc);
    int rc;
    if (!root || !is (root, "icegrid"))
        rc = reg_ir_error (err, file, root ? line_of (&x, root) : 1,
                           "the root element of an IceGrid descriptor must be <icegrid>");
    else
        rc = each_child (&x, root, app_child, NULL, err);
    xmlFreeDoc (doc);
    free (x.lines);
    free (buf);
    return rc;
}
