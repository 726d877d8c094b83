/* descriptor_yaml: reads our native YAML deployment descriptor (format in descriptors/README.md)
 * with libyaml into the intermediate form. Every key is checked: a misspelt key is an error with
 * its line, not a silently ignored setting. */
#include "descriptor_yaml.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct {
    reg_ir_t *ir;
    const char *file;
    yaml_document_t *doc;
    int depth;              /* mapping nesting, bounded: an alias can make the node graph cyclic */
} yctx_t;

#define REG_YAML_MAX_DEPTH 64

static int
yline (yaml_node_t *n)
{
    return n ? (int) n->start_mark.line + 1 : 1;
}

static yaml_node_t *
ynode (yctx_t *y, int idx)
{
    return yaml_document_get_node (y->doc, idx);
}

/* Plain null / ~ / empty scalar. */
static int
is_null (yaml_node_t *n)
{
    if (!n)
        return 1;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *) n->data.scalar.value;
    return !*v || strcmp (v, "~") == 0 || strcmp (v, "null") == 0 || strcmp (v, "Null") == 0
           || strcmp (v, "NULL") == 0;
}

/* The text of a scalar; NULL (and err) when n is not a scalar. A null scalar reads as "". */
static const char *
scalar (yctx_t *y, yaml_node_t *n, const char *what, omr_err_t *err)
{
    if (!n || n->type != YAML_SCALAR_NODE) {
        reg_ir_error (err, y->file, yline (n), "%s must be a single value, not a %s", what,
                      n && n->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return NULL;
    }
    return is_null (n) ? "" : (const char *) n->data.scalar.value;
}

static int
want (yctx_t *y, yaml_node_t *n, yaml_node_type_t type, const char *what, omr_err_t *err)
{
    if (n && n->type == type)
        return 0;
    return reg_ir_error (err, y->file, yline (n), "%s must be a %s", what,
                         type == YAML_MAPPING_NODE ? "mapping (key: value lines)" : "list");
}

typedef int (*pair_fn) (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx,
                        omr_err_t *err);

/* Call fn for each key of a mapping, refusing non-scalar and duplicate keys. */
static int
each_pair (yctx_t *y, yaml_node_t *map, const char *what, pair_fn fn, void *ctx, omr_err_t *err)
{
    if (is_null (map))
        return 0;
    if (want (y, map, YAML_MAPPING_NODE, what, err) != 0)
        return -1;
    if (y->depth >= REG_YAML_MAX_DEPTH)
        return reg_ir_error (err, y->file, yline (map), "%s is nested too deeply (an alias refers to itself?)",
                             what);
    y->depth++;
    int rc = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; rc == 0 && p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ynode (y, p->key), *v = ynode (y, p->value);
        if (!k || k->type != YAML_SCALAR_NODE) {
            rc = reg_ir_error (err, y->file, yline (k), "keys of %s must be plain names", what);
            break;
        }
        const char *key = (const char *) k->data.scalar.value;
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; rc == 0 && q < p; q++) {
            yaml_node_t *k2 = ynode (y, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && strcmp ((const char *) k2->data.scalar.value, key) == 0)
                rc = reg_ir_error (err, y->file, yline (k), "duplicate key \"%s\" in %s (first at line %d)",
                                   key, what, yline (k2));
        }
        if (rc == 0 && fn (y, key, k, v, ctx, err) != 0)
            rc = -1;
    }
    y->depth--;
    return rc;
}

/* Call fn for each target of a `targets:` mapping that is active. */
static int
each_active_target (yctx_t *y, yaml_node_t *targets, pair_fn fn, void *ctx, omr_err_t *err);

typedef int (*seq_fn) (yctx_t *y, yaml_node_t *item, void *ctx, omr_err_t *err);

static int
each_item (yctx_t *y, yaml_node_t *seq, const char *what, seq_fn fn, void *ctx, omr_err_t *err)
{
    if (is_null (seq))
        return 0;
    if (want (y, seq, YAML_SEQUENCE_NODE, what, err) != 0)
        return -1;
    for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++)
        if (fn (y, ynode (y, *i), ctx, err) != 0)
            return -1;
    return 0;
}

static int
unknown_key (yctx_t *y, yaml_node_t *k, const char *key, const char *where, const char *expected,
             omr_err_t *err)
{
    return reg_ir_error (err, y->file, yline (k), "unknown key \"%s\" in %s (expected %s)", key, where,
                         expected);
}

/* ------------------------------------------------------------------ property sets */

static int propset_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx,
                         omr_err_t *err);

static int
refid_item (yctx_t *y, yaml_node_t *item, void *ctx, omr_err_t *err)
{
    const char *ref = scalar (y, item, "a refid entry", err);
    if (!ref)
        return -1;
    if (!*ref)
        return reg_ir_error (err, y->file, yline (item), "empty refid");
    reg_vec_push (ctx, reg_ir_prop_new (1, ref, NULL, y->file, yline (item)));
    return 0;
}

static int
propset_target (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    return each_pair (y, v, "a property target", propset_pair, ctx, err);
}

/* One entry of a property mapping: "refid", "targets" or property: value. */
static int
propset_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    reg_vec_t *items = ctx;
    if (strcmp (key, "refid") == 0) {
        if (v && v->type == YAML_SEQUENCE_NODE)
            return each_item (y, v, "refid", refid_item, items, err);
        return refid_item (y, v, items, err);
    }
    if (strcmp (key, "targets") == 0)
        return each_active_target (y, v, propset_target, items, err);
    const char *val = scalar (y, v, "a property value", err);
    if (!val)
        return -1;
    reg_vec_push (items, reg_ir_prop_new (0, key, val, y->file, yline (k)));
    return 0;
}

static int
read_props (yctx_t *y, yaml_node_t *v, reg_vec_t *items, omr_err_t *err)
{
    return each_pair (y, v, "properties", propset_pair, items, err);
}

static int
named_propset (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    reg_ir_propset_t *ps = reg_ir_propset_new (key, y->file, yline (k));
    if (read_props (y, v, &ps->items, err) != 0) {
        reg_ir_propset_free (ps);
        return -1;
    }
    return reg_ir_add_propset (y->ir, ps, err);
}

/* ------------------------------------------------------------------ servers */

static int
option_item (yctx_t *y, yaml_node_t *item, void *ctx, omr_err_t *err)
{
    const char *o = scalar (y, item, "an option", err);
    if (!o)
        return -1;
    reg_vec_push (ctx, reg_ir_var_new (NULL, o, y->file, yline (item)));
    return 0;
}

static int
env_item (yctx_t *y, yaml_node_t *item, void *ctx, omr_err_t *err)
{
    const char *e = scalar (y, item, "an env entry", err);
    if (!e)
        return -1;
    if (!strchr (e, '='))
        return reg_ir_error (err, y->file, yline (item), "env entry \"%s\" must read NAME=value", e);
    reg_vec_push (ctx, reg_ir_var_new (NULL, e, y->file, yline (item)));
    return 0;
}

static int
env_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    const char *val = scalar (y, v, "an env value", err);
    if (!val)
        return -1;
    char *entry = NULL;
    if (asprintf (&entry, "%s=%s", key, val) < 0)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    reg_vec_push (ctx, reg_ir_var_new (NULL, entry, y->file, yline (k)));
    free (entry);
    return 0;
}

static int
set_string (yctx_t *y, char **dst, yaml_node_t *v, const char *what, omr_err_t *err)
{
    const char *s = scalar (y, v, what, err);
    if (!s)
        return -1;
    free (*dst);
    *dst = strdup (s);
    return 0;
}

static int server_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx,
                        omr_err_t *err);

static int
server_target (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    return each_pair (y, v, "a server target", server_pair, ctx, err);
}

#define SERVER_KEYS "id, kind, exe, options, env, pwd, activation, properties, adapter, replica-group, targets"

static int
server_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    reg_ir_server_t *s = ctx;
    if (strcmp (key, "id") == 0)
        return set_string (y, &s->id, v, "id", err);
    if (strcmp (key, "kind") == 0)
        return set_string (y, &s->kind, v, "kind", err);
    if (strcmp (key, "exe") == 0)
        return set_string (y, &s->exe, v, "exe", err);
    if (strcmp (key, "pwd") == 0)
        return set_string (y, &s->pwd, v, "pwd", err);
    if (strcmp (key, "activation") == 0)
        return set_string (y, &s->activation, v, "activation", err);
    if (strcmp (key, "adapter") == 0)
        return set_string (y, &s->adapter, v, "adapter", err);
    if (strcmp (key, "replica-group") == 0) {
        s->rg_line = yline (v);
        return set_string (y, &s->replica_group, v, "replica-group", err);
    }
    if (strcmp (key, "options") == 0)
        return each_item (y, v, "options", option_item, &s->options, err);
    if (strcmp (key, "env") == 0) {
        if (v && v->type == YAML_MAPPING_NODE)
            return each_pair (y, v, "env", env_pair, &s->env, err);
        return each_item (y, v, "env", env_item, &s->env, err);
    }
    if (strcmp (key, "properties") == 0)
        return read_props (y, v, &s->props, err);
    if (strcmp (key, "targets") == 0)
        return each_active_target (y, v, server_target, s, err);
    if (strcmp (key, "description") == 0)
        return 0;
    return unknown_key (y, k, key, "a server", SERVER_KEYS, err);
}

static reg_ir_server_t *
read_server (yctx_t *y, yaml_node_t *v, omr_err_t *err)
{
    if (want (y, v, YAML_MAPPING_NODE, "a server", err) != 0)
        return NULL;
    reg_ir_server_t *s = reg_ir_server_new (y->file, yline (v));
    if (each_pair (y, v, "a server", server_pair, s, err) != 0) {
        reg_ir_server_free (s);
        return NULL;
    }
    if (!s->id || !*s->id) {
        reg_ir_server_free (s);
        reg_ir_error (err, y->file, yline (v), "a server needs an id");
        return NULL;
    }
    return s;
}

static int instance_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx,
                          omr_err_t *err);

static int
instance_target (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    return each_pair (y, v, "an instance target", instance_pair, ctx, err);
}

/* template: X, properties, targets; any other key is a template parameter. */
static int
instance_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    reg_ir_instance_t *in = ctx;
    if (strcmp (key, "template") == 0)
        return set_string (y, &in->template_id, v, "template", err);
    if (strcmp (key, "properties") == 0)
        return read_props (y, v, &in->props, err);
    if (strcmp (key, "targets") == 0)
        return each_active_target (y, v, instance_target, in, err);
    const char *val = scalar (y, v, "a template parameter", err);
    if (!val)
        return -1;
    reg_ir_set_var (&in->params, key, val, y->file, yline (k));
    return 0;
}

/* A node's server entry: an instance when it names a template, else a server. */
static int
node_server_item (yctx_t *y, yaml_node_t *item, void *ctx, omr_err_t *err)
{
    reg_ir_node_t *node = ctx;
    if (want (y, item, YAML_MAPPING_NODE, "a server entry", err) != 0)
        return -1;
    int has_template = 0;
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ynode (y, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp ((const char *) k->data.scalar.value, "template") == 0)
            has_template = 1;
    }
    if (has_template) {
        reg_ir_instance_t *in = reg_ir_instance_new (NULL, y->file, yline (item));
        if (each_pair (y, item, "a template instance", instance_pair, in, err) != 0) {
            reg_ir_instance_free (in);
            return -1;
        }
        if (!in->template_id || !*in->template_id) {
            reg_ir_instance_free (in);
            return reg_ir_error (err, y->file, yline (item), "template needs a name");
        }
        reg_ir_node_add_instance (node, in);
        return 0;
    }
    reg_ir_server_t *s = read_server (y, item, err);
    if (!s)
        return -1;
    reg_ir_node_add_server (node, s);
    return 0;
}

/* ------------------------------------------------------------------ nodes, templates, groups */

static int
var_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    const char *val = scalar (y, v, "a variable value", err);
    if (!val)
        return -1;
    reg_ir_set_var (ctx, key, val, y->file, yline (k));
    return 0;
}

static int node_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx,
                      omr_err_t *err);

static int
node_target (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    return each_pair (y, v, "a node target", node_pair, ctx, err);
}

static int
node_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    reg_ir_node_t *node = ctx;
    if (strcmp (key, "variables") == 0)
        return each_pair (y, v, "variables", var_pair, &node->vars, err);
    if (strcmp (key, "servers") == 0)
        return each_item (y, v, "servers", node_server_item, node, err);
    if (strcmp (key, "targets") == 0)
        return each_active_target (y, v, node_target, node, err);
    if (strcmp (key, "description") == 0)
        return 0;
    return unknown_key (y, k, key, "a node", "variables, servers, targets", err);
}

static int
node_entry (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    reg_ir_node_t *node = reg_ir_node (y->ir, key, y->file, yline (k));
    if (v && v->type == YAML_SEQUENCE_NODE)   /* shorthand: node: [servers…] */
        return each_item (y, v, "servers", node_server_item, node, err);
    return each_pair (y, v, "a node", node_pair, node, err);
}

static int
param_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    reg_ir_template_t *t = ctx;
    const char *def = NULL;
    if (!is_null (v) && !(def = scalar (y, v, "a parameter default", err)))
        return -1;
    for (int i = 0; i < t->params.n; i++)
        if (strcmp (((reg_ir_var_t *) t->params.v[i])->name, key) == 0)
            return reg_ir_error (err, y->file, yline (k), "duplicate parameter \"%s\"", key);
    reg_vec_push (&t->params, reg_ir_var_new (key, def, y->file, yline (k)));
    return 0;
}

static int
param_item (yctx_t *y, yaml_node_t *item, void *ctx, omr_err_t *err)
{
    reg_ir_template_t *t = ctx;
    const char *name = scalar (y, item, "a parameter name", err);
    if (!name)
        return -1;
    reg_vec_push (&t->params, reg_ir_var_new (name, NULL, y->file, yline (item)));
    return 0;
}

static int
template_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    reg_ir_template_t *t = ctx;
    if (strcmp (key, "parameters") == 0) {
        if (v && v->type == YAML_SEQUENCE_NODE)
            return each_item (y, v, "parameters", param_item, t, err);
        return each_pair (y, v, "parameters", param_pair, t, err);
    }
    if (strcmp (key, "server") == 0) {
        t->server = read_server (y, v, err);
        return t->server ? 0 : -1;
    }
    if (strcmp (key, "description") == 0)
        return 0;
    return unknown_key (y, k, key, "a template", "parameters, server", err);
}

static int
template_entry (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    reg_ir_template_t *t = reg_ir_template_new (key, y->file, yline (k));
    if (each_pair (y, v, "a template", template_pair, t, err) != 0) {
        reg_ir_template_free (t);
        return -1;
    }
    if (!t->server) {
        reg_ir_template_free (t);
        return reg_ir_error (err, y->file, yline (k), "template \"%s\" has no server", key);
    }
    return reg_ir_add_template (y->ir, t, err);
}

static int
lb_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    reg_ir_rgroup_t *g = ctx;
    if (strcmp (key, "type") == 0)
        return set_string (y, &g->lb_type, v, "type", err);
    if (strcmp (key, "n-replicas") == 0)
        return set_string (y, &g->n_replicas, v, "n-replicas", err);
    if (strcmp (key, "load-sample") == 0)
        return set_string (y, &g->load_sample, v, "load-sample", err);
    return unknown_key (y, k, key, "load-balancing", "type, n-replicas, load-sample", err);
}

static int
rgroup_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    reg_ir_rgroup_t *g = ctx;
    if (strcmp (key, "load-balancing") == 0) {
        if (v && v->type == YAML_SCALAR_NODE)
            return set_string (y, &g->lb_type, v, "load-balancing", err);
        if (each_pair (y, v, "load-balancing", lb_pair, g, err) != 0)
            return -1;
        if (!g->lb_type)
            return reg_ir_error (err, y->file, yline (v), "load-balancing needs a type");
        return 0;
    }
    if (strcmp (key, "description") == 0)
        return 0;
    return unknown_key (y, k, key, "a replica group", "load-balancing", err);
}

static int
rgroup_entry (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    reg_ir_rgroup_t *g = reg_ir_rgroup_new (key, y->file, yline (k));
    if (each_pair (y, v, "a replica group", rgroup_pair, g, err) != 0) {
        reg_ir_rgroup_free (g);
        return -1;
    }
    return reg_ir_add_rgroup (y->ir, g, err);
}

/* ------------------------------------------------------------------ top level */

static int
include_item (yctx_t *y, yaml_node_t *item, void *ctx, omr_err_t *err)
{
    const char *f = scalar (y, item, "an include", err);
    if (!f)
        return -1;
    return reg_ir_include (y->ir, y->file, yline (item), f, err);
}

static int top_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx,
                     omr_err_t *err);

static int
app_target (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    return each_pair (y, v, "an application target", top_pair, (void *) "target", err);
}

#define TOP_KEYS "application, include, variables, properties, templates, replica-groups, nodes, targets"

static int
top_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    reg_ir_t *ir = y->ir;
    if (strcmp (key, "application") == 0) {
        if (ctx)
            return reg_ir_error (err, y->file, yline (k), "application may not be set inside a target");
        if (ir->stack.n > 1)
            return reg_ir_error (err, y->file, yline (k), "an included file may not name the application");
        const char *name = scalar (y, v, "application", err);
        if (!name)
            return -1;
        if (!*name)
            return reg_ir_error (err, y->file, yline (v), "application needs a name");
        free (ir->app_name);
        ir->app_name = strdup (name);
        ir->app_file = y->file;
        ir->app_line = yline (k);
        return 0;
    }
    if (strcmp (key, "include") == 0) {
        if (v && v->type == YAML_SEQUENCE_NODE)
            return each_item (y, v, "include", include_item, NULL, err);
        return include_item (y, v, NULL, err);
    }
    if (strcmp (key, "variables") == 0)
        return each_pair (y, v, "variables", var_pair, &ir->vars, err);
    if (strcmp (key, "properties") == 0)
        return each_pair (y, v, "properties", named_propset, NULL, err);
    if (strcmp (key, "templates") == 0)
        return each_pair (y, v, "templates", template_entry, NULL, err);
    if (strcmp (key, "replica-groups") == 0)
        return each_pair (y, v, "replica-groups", rgroup_entry, NULL, err);
    if (strcmp (key, "nodes") == 0)
        return each_pair (y, v, "nodes", node_entry, NULL, err);
    if (strcmp (key, "targets") == 0)
        return each_active_target (y, v, app_target, NULL, err);
    if (strcmp (key, "description") == 0)
        return 0;
    return unknown_key (y, k, key, "the descriptor", TOP_KEYS, err);
}

typedef struct {
    pair_fn fn;
    void *ctx;
} target_ctx_t;

static int
target_pair (yctx_t *y, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx, omr_err_t *err)
{
    target_ctx_t *t = ctx;
    if (!reg_ir_target_active (y->ir, key))
        return 0;
    return t->fn (y, key, k, v, t->ctx, err);
}

static int
each_active_target (yctx_t *y, yaml_node_t *targets, pair_fn fn, void *ctx, omr_err_t *err)
{
    target_ctx_t t = { fn, ctx };
    return each_pair (y, targets, "targets", target_pair, &t, err);
}

int
reg_yaml_read (reg_ir_t *ir, const char *file, const char *text, size_t len, omr_err_t *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize (&parser))
        return omr_err_set (err, OMR_E_INTERNAL, 500, "%s: cannot create a YAML parser", file);
    yaml_parser_set_input_string (&parser, (const unsigned char *) text, len);
    if (!yaml_parser_load (&parser, &doc)) {
        int line = (int) (parser.problem_mark.line + 1);
        char msg[512];
        snprintf (msg, sizeof msg, "%s%s%s", parser.problem ? parser.problem : "syntax error",
                  parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete (&parser);
        return reg_ir_error (err, file, line, "malformed YAML: %s", msg);
    }
    yaml_parser_delete (&parser);
    yctx_t y = { ir, file, &doc, 0 };
    yaml_node_t *root = yaml_document_get_root_node (&doc);
    int rc;
    if (!root)
        rc = reg_ir_error (err, file, 1, "empty descriptor");
    else if (root->type != YAML_MAPPING_NODE)
        rc = reg_ir_error (err, file, yline (root), "a descriptor must be a mapping (%s)", TOP_KEYS);
    else
        rc = each_pair (&y, root, "the descriptor", top_pair, NULL, err);
    yaml_document_delete (&doc);
    return rc;
}
