/* descriptor_ir: the intermediate form shared by the YAML and XML descriptor readers — its
 * constructors, file reading with include resolution (relative paths, cycle check, OMERO's
 * config.xml fallback) and the error/warning helpers. */
#include "descriptor_ir.h"
#include "descriptor_xml.h"
#include "descriptor_yaml.h"
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REG_MAX_INCLUDE_DEPTH 32
#define REG_MAX_FILE_BYTES (16 * 1024 * 1024)

void
reg_vec_push (reg_vec_t *vec, void *p)
{
    if (vec->n == vec->cap) {
        vec->cap = vec->cap ? vec->cap * 2 : 8;
        void **nv = realloc (vec->v, (size_t) vec->cap * sizeof *nv);
        if (!nv)
            abort ();
        vec->v = nv;
    }
    vec->v[vec->n++] = p;
}

void
reg_vec_free (reg_vec_t *vec)
{
    free (vec->v);
    vec->v = NULL;
    vec->n = vec->cap = 0;
}

static char *
dup_or_null (const char *s)
{
    return s ? strdup (s) : NULL;
}

reg_ir_var_t *
reg_ir_var_new (const char *name, const char *value, const char *file, int line)
{
    reg_ir_var_t *v = calloc (1, sizeof *v);
    v->name = dup_or_null (name);
    v->value = dup_or_null (value);
    v->file = file;
    v->line = line;
    return v;
}

void
reg_ir_var_free (reg_ir_var_t *v)
{
    if (!v)
        return;
    free (v->name);
    free (v->value);
    free (v);
}

reg_ir_prop_t *
reg_ir_prop_new (int is_ref, const char *name, const char *value, const char *file, int line)
{
    reg_ir_prop_t *p = calloc (1, sizeof *p);
    p->is_ref = is_ref;
    p->name = dup_or_null (name);
    p->value = dup_or_null (value);
    p->file = file;
    p->line = line;
    return p;
}

static void
prop_free (reg_ir_prop_t *p)
{
    if (!p)
        return;
    free (p->name);
    free (p->value);
    free (p);
}

static void
vars_free (reg_vec_t *vec)
{
    for (int i = 0; i < vec->n; i++)
        reg_ir_var_free (vec->v[i]);
    reg_vec_free (vec);
}

static void
props_free (reg_vec_t *vec)
{
    for (int i = 0; i < vec->n; i++)
        prop_free (vec->v[i]);
    reg_vec_free (vec);
}

reg_ir_server_t *
reg_ir_server_new (const char *file, int line)
{
    reg_ir_server_t *s = calloc (1, sizeof *s);
    s->file = file;
    s->line = line;
    return s;
}

void
reg_ir_server_free (reg_ir_server_t *s)
{
    if (!s)
        return;
    free (s->id);
    free (s->kind);
    free (s->exe);
    free (s->pwd);
    free (s->activation);
    free (s->adapter);
    free (s->replica_group);
    free (s->unsupported);
    vars_free (&s->options);
    vars_free (&s->env);
    props_free (&s->props);
    free (s);
}

reg_ir_instance_t *
reg_ir_instance_new (const char *template_id, const char *file, int line)
{
    reg_ir_instance_t *i = calloc (1, sizeof *i);
    i->template_id = dup_or_null (template_id);
    i->file = file;
    i->line = line;
    return i;
}

void
reg_ir_instance_free (reg_ir_instance_t *i)
{
    if (!i)
        return;
    free (i->template_id);
    vars_free (&i->params);
    props_free (&i->props);
    free (i);
}

reg_ir_propset_t *
reg_ir_propset_new (const char *id, const char *file, int line)
{
    reg_ir_propset_t *ps = calloc (1, sizeof *ps);
    ps->id = dup_or_null (id);
    ps->file = file;
    ps->line = line;
    return ps;
}

void
reg_ir_propset_free (reg_ir_propset_t *ps)
{
    if (!ps)
        return;
    free (ps->id);
    props_free (&ps->items);
    free (ps);
}

reg_ir_template_t *
reg_ir_template_new (const char *id, const char *file, int line)
{
    reg_ir_template_t *t = calloc (1, sizeof *t);
    t->id = dup_or_null (id);
    t->file = file;
    t->line = line;
    return t;
}

void
reg_ir_template_free (reg_ir_template_t *t)
{
    if (!t)
        return;
    free (t->id);
    vars_free (&t->params);
    reg_ir_server_free (t->server);
    free (t);
}

reg_ir_rgroup_t *
reg_ir_rgroup_new (const char *id, const char *file, int line)
{
    reg_ir_rgroup_t *g = calloc (1, sizeof *g);
    g->id = dup_or_null (id);
    g->file = file;
    g->line = line;
    return g;
}

void
reg_ir_rgroup_free (reg_ir_rgroup_t *g)
{
    if (!g)
        return;
    free (g->id);
    free (g->lb_type);
    free (g->n_replicas);
    free (g->load_sample);
    free (g);
}

static void
node_free (reg_ir_node_t *n)
{
    free (n->name);
    vars_free (&n->vars);
    for (int i = 0; i < n->items.n; i++) {
        reg_ir_item_t *it = n->items.v[i];
        reg_ir_server_free (it->server);
        reg_ir_instance_free (it->instance);
        free (it);
    }
    reg_vec_free (&n->items);
    free (n);
}

reg_ir_t *
reg_ir_new (const char *const *targets, int ntargets, reg_prop_fn props, void *props_arg)
{
    reg_ir_t *ir = calloc (1, sizeof *ir);
    ir->targets = targets;
    ir->ntargets = targets ? ntargets : 0;
    ir->props = props;
    ir->props_arg = props_arg;
    return ir;
}

void
reg_ir_destroy (reg_ir_t **self)
{
    if (!self || !*self)
        return;
    reg_ir_t *ir = *self;
    free (ir->app_name);
    vars_free (&ir->vars);
    for (int i = 0; i < ir->propsets.n; i++)
        reg_ir_propset_free (ir->propsets.v[i]);
    reg_vec_free (&ir->propsets);
    for (int i = 0; i < ir->templates.n; i++)
        reg_ir_template_free (ir->templates.v[i]);
    reg_vec_free (&ir->templates);
    for (int i = 0; i < ir->nodes.n; i++)
        node_free (ir->nodes.v[i]);
    reg_vec_free (&ir->nodes);
    for (int i = 0; i < ir->rgroups.n; i++)
        reg_ir_rgroup_free (ir->rgroups.v[i]);
    reg_vec_free (&ir->rgroups);
    for (int i = 0; i < ir->files.n; i++)
        free (ir->files.v[i]);
    reg_vec_free (&ir->files);
    for (int i = 0; i < ir->warnings.n; i++)
        free (ir->warnings.v[i]);
    reg_vec_free (&ir->warnings);
    for (int i = 0; i < ir->stack.n; i++)
        free (ir->stack.v[i]);
    reg_vec_free (&ir->stack);
    free (ir);
    *self = NULL;
}

const char *
reg_ir_file (reg_ir_t *ir, const char *path)
{
    for (int i = 0; i < ir->files.n; i++)
        if (strcmp (ir->files.v[i], path) == 0)
            return ir->files.v[i];
    char *copy = strdup (path);
    reg_vec_push (&ir->files, copy);
    return copy;
}

void
reg_ir_warn (reg_ir_t *ir, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    for (int i = 0; i < ir->warnings.n; i++)
        if (strcmp (ir->warnings.v[i], buf) == 0)
            return;
    reg_vec_push (&ir->warnings, strdup (buf));
}

int
reg_ir_target_active (const reg_ir_t *ir, const char *name)
{
    if (!name)
        return 0;
    for (int i = 0; i < ir->ntargets; i++)
        if (ir->targets[i] && strcmp (ir->targets[i], name) == 0)
            return 1;
    return 0;
}

int
reg_ir_error (omr_err_t *err, const char *file, int line, const char *fmt, ...)
{
    char buf[900];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    if (line <= 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: %s", file ? file : "?", buf);
    return omr_err_set (err, OMR_E_VALIDATION, 400, "%s:%d: %s", file ? file : "?", line, buf);
}

reg_ir_node_t *
reg_ir_node (reg_ir_t *ir, const char *name, const char *file, int line)
{
    for (int i = 0; i < ir->nodes.n; i++) {
        reg_ir_node_t *n = ir->nodes.v[i];
        if (strcmp (n->name, name) == 0)
            return n;
    }
    reg_ir_node_t *n = calloc (1, sizeof *n);
    n->name = strdup (name);
    n->file = file;
    n->line = line;
    reg_vec_push (&ir->nodes, n);
    return n;
}

int
reg_ir_add_propset (reg_ir_t *ir, reg_ir_propset_t *ps, omr_err_t *err)
{
    for (int i = 0; i < ir->propsets.n; i++) {
        reg_ir_propset_t *o = ir->propsets.v[i];
        if (strcmp (o->id, ps->id) == 0) {
            reg_ir_error (err, ps->file, ps->line, "property set \"%s\" is already defined at %s:%d",
                          ps->id, o->file, o->line);
            reg_ir_propset_free (ps);
            return -1;
        }
    }
    reg_vec_push (&ir->propsets, ps);
    return 0;
}

int
reg_ir_add_template (reg_ir_t *ir, reg_ir_template_t *t, omr_err_t *err)
{
    for (int i = 0; i < ir->templates.n; i++) {
        reg_ir_template_t *o = ir->templates.v[i];
        if (strcmp (o->id, t->id) == 0) {
            reg_ir_error (err, t->file, t->line, "server template \"%s\" is already defined at %s:%d",
                          t->id, o->file, o->line);
            reg_ir_template_free (t);
            return -1;
        }
    }
    reg_vec_push (&ir->templates, t);
    return 0;
}

int
reg_ir_add_rgroup (reg_ir_t *ir, reg_ir_rgroup_t *g, omr_err_t *err)
{
    for (int i = 0; i < ir->rgroups.n; i++) {
        reg_ir_rgroup_t *o = ir->rgroups.v[i];
        if (strcmp (o->id, g->id) == 0) {
            reg_ir_error (err, g->file, g->line, "replica group \"%s\" is already defined at %s:%d",
                          g->id, o->file, o->line);
            reg_ir_rgroup_free (g);
            return -1;
        }
    }
    reg_vec_push (&ir->rgroups, g);
    return 0;
}

void
reg_ir_set_var (reg_vec_t *vars, const char *name, const char *value, const char *file, int line)
{
    for (int i = 0; i < vars->n; i++) {
        reg_ir_var_t *v = vars->v[i];
        if (strcmp (v->name, name) == 0) {
            free (v->value);
            v->value = strdup (value ? value : "");
            v->file = file;
            v->line = line;
            return;
        }
    }
    reg_vec_push (vars, reg_ir_var_new (name, value ? value : "", file, line));
}

void
reg_ir_node_add_server (reg_ir_node_t *node, reg_ir_server_t *s)
{
    reg_ir_item_t *it = calloc (1, sizeof *it);
    it->server = s;
    reg_vec_push (&node->items, it);
}

void
reg_ir_node_add_instance (reg_ir_node_t *node, reg_ir_instance_t *i)
{
    reg_ir_item_t *it = calloc (1, sizeof *it);
    it->instance = i;
    reg_vec_push (&node->items, it);
}

/* Read a whole file; NULL with err set when it cannot be read. */
static char *
slurp (const char *path, size_t *len, const char *inc_file, int inc_line, omr_err_t *err)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        if (inc_file)
            reg_ir_error (err, inc_file, inc_line, "cannot open included file %s: %s", path, strerror (errno));
        else
            omr_err_set (err, OMR_E_CONFIG, 400, "%s: cannot open descriptor: %s", path, strerror (errno));
        return NULL;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc (cap + 1);
    size_t got;
    while ((got = fread (buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            if (cap >= REG_MAX_FILE_BYTES) {
                fclose (f);
                free (buf);
                omr_err_set (err, OMR_E_CONFIG, 400, "%s: descriptor larger than %d bytes", path,
                             REG_MAX_FILE_BYTES);
                return NULL;
            }
            cap *= 2;
            buf = realloc (buf, cap + 1);
        }
    }
    int failed = ferror (f);
    fclose (f);
    if (failed) {
        free (buf);
        omr_err_set (err, OMR_E_CONFIG, 400, "%s: read error", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int
ends_with (const char *s, const char *suffix)
{
    size_t a = strlen (s), b = strlen (suffix);
    return a >= b && strcasecmp (s + a - b, suffix) == 0;
}

/* XML by extension, YAML by extension, else XML when the first non-blank character is '<'. */
static int
is_xml (const char *path, const char *text)
{
    if (ends_with (path, ".xml"))
        return 1;
    if (ends_with (path, ".yaml") || ends_with (path, ".yml"))
        return 0;
    const char *p = text;
    if ((unsigned char) p[0] == 0xEF && (unsigned char) p[1] == 0xBB && (unsigned char) p[2] == 0xBF)
        p += 3;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return *p == '<';
}

int
reg_ir_read_file (reg_ir_t *ir, const char *path, const char *include_file, int include_line,
                  omr_err_t *err)
{
    const char *file = reg_ir_file (ir, path);
    char real[PATH_MAX];
    if (!realpath (path, real)) {
        if (include_file)
            return reg_ir_error (err, include_file, include_line, "cannot open included file %s: %s",
                                 path, strerror (errno));
        return omr_err_set (err, OMR_E_CONFIG, 400, "%s: cannot open descriptor: %s", path,
                            strerror (errno));
    }
    for (int i = 0; i < ir->stack.n; i++)
        if (strcmp (ir->stack.v[i], real) == 0)
            return reg_ir_error (err, include_file, include_line, "cyclic include of %s", path);
    if (ir->stack.n >= REG_MAX_INCLUDE_DEPTH)
        return reg_ir_error (err, include_file, include_line, "includes nested deeper than %d",
                             REG_MAX_INCLUDE_DEPTH);
    size_t len = 0;
    char *text = slurp (path, &len, include_file, include_line, err);
    if (!text)
        return -1;
    reg_vec_push (&ir->stack, strdup (real));
    int rc = is_xml (path, text) ? reg_xml_read (ir, file, text, len, err)
                                 : reg_yaml_read (ir, file, text, len, err);
    ir->stack.n--;
    free (ir->stack.v[ir->stack.n]);
    free (text);
    return rc;
}

/* Directory part of path joined with name (name kept as is when absolute). Caller frees. */
static char *
relative_to (const char *from_file, const char *name)
{
    if (name[0] == '/' || !from_file)
        return strdup (name);
    char *copy = strdup (from_file);
    const char *dir = dirname (copy);
    char *out = NULL;
    if (strcmp (dir, ".") == 0 && from_file[0] != '.')
        out = strdup (name);
    else if (asprintf (&out, "%s/%s", dir, name) < 0)
        out = NULL;
    free (copy);
    return out;
}

static int
templates_count (const reg_ir_t *ir)
{
    return ir->templates.n;
}

int
reg_ir_include (reg_ir_t *ir, const char *from_file, int line, const char *name, omr_err_t *err)
{
    if (!name || !*name)
        return reg_ir_error (err, from_file, line, "include needs a file name");
    char *path = relative_to (from_file, name);
    struct stat st;
    int rc;
    const char *base = strrchr (name, '/') ? strrchr (name, '/') + 1 : name;
    if (strcmp (base, "config.xml") == 0) {
        /* OMERO writes config.xml with `omero config` and folds templates.xml into it at rewrite;
         * here configuration lives elsewhere, so an absent config.xml means "templates.xml beside
         * it", and a config.xml without templates is completed from templates.xml. */
        char *templates = relative_to (path, "templates.xml");
        int before = templates_count (ir);
        if (stat (path, &st) == 0)
            rc = reg_ir_read_file (ir, path, from_file, line, err);
        else
            rc = 0;
        if (rc == 0 && templates_count (ir) == before && stat (templates, &st) == 0)
            rc = reg_ir_read_file (ir, templates, from_file, line, err);
        else if (rc == 0 && templates_count (ir) == before && stat (path, &st) != 0)
            rc = reg_ir_error (err, from_file, line, "cannot open included file %s (nor templates.xml beside it)",
                               path);
        free (templates);
    }
    else
        rc = reg_ir_read_file (ir, path, from_file, line, err);
    free (path);
    return rc;
}
