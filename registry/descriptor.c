/* descriptor: turns the intermediate form read from YAML/XML into the deployment — variable
 * substitution, template instantiation, property sets, OMERO template mapping, replica groups,
 * validation — plus omero.server.nodedescriptors, fingerprints, JSON and the text description. */
#include "descriptor.h"
#include "descriptor_ir.h"
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reg_deployment {
    char *name;
    char *path;
    reg_vec_t nodes;        /* char* */
    reg_vec_t servers;      /* reg_server_t* */
    reg_vec_t groups;       /* reg_replica_group_t* */
    reg_vec_t warnings;     /* char* */
    reg_vec_t targets;      /* char* (the active targets, owned) */
    reg_ir_t *ir;           /* what was read, kept for nodedescriptors; NULL when made from JSON */
};

/* OMERO's server templates and what they become here. kind NULL = not deployed, `why` says so. */
static const struct {
    const char *template_id, *kind, *why;
} omero_templates[] = {
    { "BlitzTemplate", "blitz", NULL },
    { "IndexerTemplate", "indexer", NULL },
    { "PixelDataTemplate", "pixeldata", NULL },
    { "TablesTemplate", "tables", NULL },
    { "ProcessorTemplate", "processor", NULL },
    { "DropBoxTemplate", "dropbox", NULL },
    { "Glacier2Template", "router", NULL },
    { "RepositoryTemplate", NULL, "no counterpart: omero-blitz hosts the managed repository" },
    { "IcePatch2Template", NULL, "no counterpart: IcePatch2 file distribution is not used" },
    { "StormTemplate", NULL, "no counterpart: IceStorm is not used, notices travel over ZeroMQ" },
    { "FileServerTemplate", NULL, "no counterpart: omero-dropbox needs no OMERO.fs file server" },
    { "MonitorServerTemplate", NULL, "no counterpart: omero-dropbox watches its directories itself" },
    { "TestDropBoxTemplate", NULL, "no counterpart: the DropBox test harness is not provided" },
};

static const char *const known_kinds[] = { "blitz", "router", "indexer", "pixeldata", "tables",
                                           "processor", "dropbox", "exec" };

static int
omero_template (const char *id)
{
    for (size_t i = 0; i < sizeof omero_templates / sizeof omero_templates[0]; i++)
        if (strcmp (omero_templates[i].template_id, id) == 0)
            return (int) i;
    return -1;
}

static int
known_kind (const char *k)
{
    for (size_t i = 0; i < sizeof known_kinds / sizeof known_kinds[0]; i++)
        if (strcmp (known_kinds[i], k) == 0)
            return 1;
    return 0;
}

/* Server ids and node names become file names (var/log/<id>.log) and command-line words. */
static int
valid_name (const char *s)
{
    if (!s || !*s || strcmp (s, ".") == 0 || strcmp (s, "..") == 0)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.'
              || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static void
warn (reg_vec_t *warnings, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
warn (reg_vec_t *warnings, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    for (int i = 0; i < warnings->n; i++)
        if (strcmp (warnings->v[i], buf) == 0)
            return;
    reg_vec_push (warnings, strdup (buf));
}

static void
strings_free (reg_vec_t *v)
{
    for (int i = 0; i < v->n; i++)
        free (v->v[i]);
    reg_vec_free (v);
}

/* ------------------------------------------------------------------ servers and groups */

static void
server_free (reg_server_t *s)
{
    if (!s)
        return;
    free (s->id);
    free (s->kind);
    free (s->node);
    free (s->exe);
    for (int i = 0; i < s->nargv; i++)
        free (s->argv[i]);
    free (s->argv);
    for (int i = 0; i < s->nenv; i++)
        free (s->env[i]);
    free (s->env);
    free (s->pwd);
    for (int i = 0; i < s->nprops; i++) {
        free (s->props[i].key);
        free (s->props[i].value);
    }
    free (s->props);
    free (s->adapter);
    free (s->replica_group);
    free (s->template_id);
    free (s->file);
    free (s);
}

static void
group_free (reg_replica_group_t *g)
{
    if (!g)
        return;
    free (g->id);
    for (int i = 0; i < g->nservers; i++)
        free (g->servers[i]);
    free (g->servers);
    free (g->file);
    free (g);
}

/* Append to a NULL-terminated string array. */
static void
argv_push (char ***arr, int *n, char *s)
{
    *arr = realloc (*arr, (size_t) (*n + 2) * sizeof **arr);
    (*arr)[(*n)++] = s;
    (*arr)[*n] = NULL;
}

/* Set a property; a later setting of the same key replaces the value where it stands. Takes
 * ownership of key and value. */
static void
prop_set (reg_server_t *s, char *key, char *value)
{
    for (int i = 0; i < s->nprops; i++)
        if (strcmp (s->props[i].key, key) == 0) {
            free (s->props[i].value);
            s->props[i].value = value;
            free (key);
            return;
        }
    s->props = realloc (s->props, (size_t) (s->nprops + 1) * sizeof *s->props);
    s->props[s->nprops].key = key;
    s->props[s->nprops].value = value;
    s->nprops++;
}

static void
hash_str (EVP_MD_CTX *c, const char *tag, const char *s)
{
    char head[64];
    size_t n = s ? strlen (s) : 0;
    /* tag and length first so that no two field sequences hash the same bytes */
    int hl = snprintf (head, sizeof head, "%s:%s%zu:", tag, s ? "" : "null", n);
    EVP_DigestUpdate (c, head, (size_t) hl);
    if (n)
        EVP_DigestUpdate (c, s, n);
}

static void
compute_fingerprint (reg_server_t *s)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new ();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char num[32];
    EVP_DigestInit_ex (c, EVP_sha256 (), NULL);
    hash_str (c, "id", s->id);
    hash_str (c, "kind", s->kind);
    hash_str (c, "node", s->node);
    hash_str (c, "exe", s->exe);
    snprintf (num, sizeof num, "%d", s->nargv);
    hash_str (c, "argc", num);
    for (int i = 0; i < s->nargv; i++)
        hash_str (c, "arg", s->argv[i]);
    snprintf (num, sizeof num, "%d", s->nenv);
    hash_str (c, "envc", num);
    for (int i = 0; i < s->nenv; i++)
        hash_str (c, "env", s->env[i]);
    hash_str (c, "pwd", s->pwd);
    hash_str (c, "activation", reg_activation_name (s->activation));
    snprintf (num, sizeof num, "%d", s->nprops);
    hash_str (c, "propc", num);
    for (int i = 0; i < s->nprops; i++) {
        hash_str (c, "key", s->props[i].key);
        hash_str (c, "value", s->props[i].value);
    }
    hash_str (c, "replica_group", s->replica_group);
    EVP_DigestFinal_ex (c, md, &len);
    EVP_MD_CTX_free (c);
    for (unsigned int i = 0; i < len && i < 32; i++)
        snprintf (s->fingerprint + 2 * i, 3, "%02x", md[i]);
}

const char *
reg_activation_name (reg_activation_t a)
{
    return a == REG_ACTIVATION_MANUAL ? "manual" : "always";
}

const char *
reg_lb_name (reg_lb_t lb)
{
    switch (lb) {
    case REG_LB_ORDERED: return "ordered";
    case REG_LB_ROUND_ROBIN: return "round-robin";
    case REG_LB_ADAPTIVE: return "adaptive";
    default: return "random";
    }
}

static int
parse_activation (const char *s, reg_activation_t *out)
{
    if (strcmp (s, "always") == 0)
        *out = REG_ACTIVATION_ALWAYS;
    else if (strcmp (s, "manual") == 0)
        *out = REG_ACTIVATION_MANUAL;
    else
        return -1;
    return 0;
}

static int
parse_lb (const char *s, reg_lb_t *out)
{
    for (int i = REG_LB_RANDOM; i <= REG_LB_ADAPTIVE; i++)
        if (strcmp (s, reg_lb_name ((reg_lb_t) i)) == 0) {
            *out = (reg_lb_t) i;
            return 0;
        }
    return -1;
}

/* A non-negative decimal integer, or -1. */
static int
parse_count (const char *s)
{
    if (!s || !*s)
        return -1;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
        if (v > 1000000)
            return -1;
    }
    return (int) v;
}

/* ------------------------------------------------------------------ variable scopes */

/* A variable in a scope: raw (substituted on first use, in the scope that defines it) or final. */
typedef struct {
    const char *name;
    const char *raw;
    char *val;
    int busy;
    const char *file;
    int line;
} svar_t;

typedef struct scope {
    struct scope *parent;
    svar_t *v;
    int n;
} scope_t;

static void
scope_add (scope_t *sc, const char *name, const char *raw, const char *final, const char *file, int line)
{
    sc->v = realloc (sc->v, (size_t) (sc->n + 1) * sizeof *sc->v);
    svar_t *e = &sc->v[sc->n++];
    e->name = name;
    e->raw = raw;
    e->val = final ? strdup (final) : NULL;
    e->busy = 0;
    e->file = file;
    e->line = line;
}

static void
scope_free (scope_t *sc)
{
    for (int i = 0; i < sc->n; i++)
        free (sc->v[i].val);
    free (sc->v);
    sc->v = NULL;
    sc->n = 0;
}

typedef struct {
    reg_ir_t *ir;
    reg_vec_t *warnings;
    omr_err_t *err;
} bctx_t;

typedef struct {
    char *s;
    size_t n, cap;
} sbuf_t;

static void
sb_add (sbuf_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = b->cap ? b->cap : 64;
        while (b->n + n + 1 > b->cap)
            b->cap *= 2;
        b->s = realloc (b->s, b->cap);
    }
    memcpy (b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static char *subst (bctx_t *b, scope_t *sc, const char *raw, const char *file, int line);

/* The value of ${name} seen from sc: descriptor variables, then configuration; NULL + err. */
static const char *
lookup (bctx_t *b, scope_t *sc, const char *name, const char *file, int line)
{
    for (scope_t *s = sc; s; s = s->parent)
        for (int i = s->n - 1; i >= 0; i--) {
            svar_t *e = &s->v[i];
            if (strcmp (e->name, name) != 0)
                continue;
            if (e->val)
                return e->val;
            if (e->busy) {
                reg_ir_error (b->err, e->file, e->line, "variable ${%s} refers to itself", name);
                return NULL;
            }
            e->busy = 1;
            char *v = subst (b, s, e->raw, e->file, e->line);
            e->busy = 0;
            if (!v)
                return NULL;
            e->val = v;
            return v;
        }
    const char *v = b->ir->props ? b->ir->props (b->ir->props_arg, name) : NULL;
    if (v)
        return v;
    reg_ir_error (b->err, file, line, "undefined variable ${%s}", name);
    return NULL;
}

/* IceGrid substitution: ${NAME} is replaced, $${x} is a literal ${x}, a lone $ stays. */
static char *
subst (bctx_t *b, scope_t *sc, const char *raw, const char *file, int line)
{
    sbuf_t out = { 0 };
    sb_add (&out, "", 0);
    if (!raw)
        return out.s;
    const char *p = raw;
    while (*p) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            sb_add (&out, "${", 2);
            p += 3;
            continue;
        }
        if (p[0] == '$' && p[1] == '{') {
            const char *close = strchr (p + 2, '}');
            if (!close) {
                reg_ir_error (b->err, file, line, "unterminated ${ in \"%s\"", raw);
                free (out.s);
                return NULL;
            }
            if (close == p + 2) {
                reg_ir_error (b->err, file, line, "empty ${} in \"%s\"", raw);
                free (out.s);
                return NULL;
            }
            char *name = strndup (p + 2, (size_t) (close - p - 2));
            const char *v = lookup (b, sc, name, file, line);
            free (name);
            if (!v) {
                free (out.s);
                return NULL;
            }
            sb_add (&out, v, strlen (v));
            p = close + 1;
            continue;
        }
        sb_add (&out, p, 1);
        p++;
    }
    return out.s;
}

/* ------------------------------------------------------------------ instantiation */

static reg_ir_propset_t *
find_propset (reg_ir_t *ir, const char *id)
{
    for (int i = 0; i < ir->propsets.n; i++) {
        reg_ir_propset_t *ps = ir->propsets.v[i];
        if (strcmp (ps->id, id) == 0)
            return ps;
    }
    return NULL;
}

static reg_ir_template_t *
find_template (reg_ir_t *ir, const char *id)
{
    for (int i = 0; i < ir->templates.n; i++) {
        reg_ir_template_t *t = ir->templates.v[i];
        if (strcmp (t->id, id) == 0)
            return t;
    }
    return NULL;
}

/* Expand property items (refids recursively) into the server, in order. */
static int
expand_props (bctx_t *b, scope_t *sc, reg_vec_t *items, reg_server_t *s, reg_vec_t *stack, int mapped)
{
    for (int i = 0; i < items->n; i++) {
        reg_ir_prop_t *it = items->v[i];
        if (it->is_ref) {
            reg_ir_propset_t *ps = find_propset (b->ir, it->name);
            if (!ps) {
                /* OMERO's Profile set refers to __ACTIVE__, which `omero config` writes into
                 * config.xml; our configuration reaches servers another way. */
                if (strcmp (it->name, "__ACTIVE__") == 0)
                    continue;
                return reg_ir_error (b->err, it->file, it->line, "unknown property set refid \"%s\"", it->name);
            }
            for (int j = 0; j < stack->n; j++)
                if (stack->v[j] == ps)
                    return reg_ir_error (b->err, it->file, it->line, "property set \"%s\" refers to itself",
                                         ps->id);
            reg_vec_push (stack, ps);
            int rc = expand_props (b, sc, &ps->items, s, stack, mapped);
            stack->n--;
            if (rc != 0)
                return -1;
            continue;
        }
        char *key = subst (b, sc, it->name, it->file, it->line);
        if (!key)
            return -1;
        char *val = subst (b, sc, it->value, it->file, it->line);
        if (!val) {
            free (key);
            return -1;
        }
        if (strncmp (key, "REPLACEMENT:", 12) == 0) {
            if (!mapped)    /* a mapped OMERO server already has its Java side reported */
                warn (b->warnings, "%s: JVM memory setting %s ignored", s->id, key);
            free (key);
            free (val);
            continue;
        }
        prop_set (s, key, val);
    }
    return 0;
}

/* "file:line", or just "file" for places without lines (omero.server.nodedescriptors). */
static const char *
where (char *buf, size_t size, const char *file, int line)
{
    if (line > 0)
        snprintf (buf, size, "%s:%d", file, line);
    else
        snprintf (buf, size, "%s", file);
    return buf;
}

/* Build one server from a node item. *out is NULL (without error) when the item is skipped with
 * a warning (templates with no counterpart). */
static int
make_server (bctx_t *b, scope_t *node_scope, const char *node, reg_ir_server_t *plain,
             reg_ir_instance_t *inst, reg_server_t **out)
{
    *out = NULL;
    reg_ir_template_t *tmpl = NULL;
    reg_ir_server_t *raw = plain;
    int om = -1;
    if (inst) {
        tmpl = find_template (b->ir, inst->template_id);
        om = omero_template (inst->template_id);
        if ((!tmpl || tmpl->from_xml) && om >= 0 && !omero_templates[om].kind) {
            char at[512];
            warn (b->warnings, "%s: %s not deployed (%s)", where (at, sizeof at, inst->file, inst->line),
                  inst->template_id, omero_templates[om].why);
            return 0;
        }
        if (!tmpl)
            return reg_ir_error (b->err, inst->file, inst->line, "unknown server template \"%s\"",
                                 inst->template_id);
        raw = tmpl->server;
    }
    if (raw->unsupported) {
        char at[512];
        warn (b->warnings, "%s: server %s not deployed: %s",
              where (at, sizeof at, inst ? inst->file : raw->file, inst ? inst->line : raw->line), raw->id,
              raw->unsupported);
        return 0;
    }
    const char *file = inst ? inst->file : raw->file;
    int line = inst ? inst->line : raw->line;
    int rc = -1;
    scope_t sscope = { node_scope, NULL, 0 };   /* holds ${server} */
    scope_t pscope = { &sscope, NULL, 0 };      /* template parameters */
    reg_vec_t stack = { 0 };
    reg_server_t *s = calloc (1, sizeof *s);
    if (inst) {
        for (int i = 0; i < inst->params.n; i++) {
            reg_ir_var_t *given = inst->params.v[i];
            int declared = 0;
            for (int j = 0; j < tmpl->params.n; j++)
                declared |= strcmp (((reg_ir_var_t *) tmpl->params.v[j])->name, given->name) == 0;
            if (!declared) {
                reg_ir_error (b->err, given->file, given->line, "template %s has no parameter \"%s\"",
                              tmpl->id, given->name);
                goto done;
            }
        }
        for (int j = 0; j < tmpl->params.n; j++) {
            reg_ir_var_t *decl = tmpl->params.v[j];
            reg_ir_var_t *given = NULL;
            for (int i = 0; i < inst->params.n; i++)
                if (strcmp (((reg_ir_var_t *) inst->params.v[i])->name, decl->name) == 0)
                    given = inst->params.v[i];
            char *v;
            if (given)
                v = subst (b, &sscope, given->value, given->file, given->line);
            else if (decl->value)
                v = subst (b, &pscope, decl->value, decl->file, decl->line);
            else {
                reg_ir_error (b->err, file, line, "template %s needs parameter \"%s\" (declared at %s:%d)",
                              tmpl->id, decl->name, decl->file, decl->line);
                goto done;
            }
            if (!v)
                goto done;
            scope_add (&pscope, decl->name, NULL, v, NULL, 0);
            free (v);
        }
    }
    if (!(s->id = subst (b, &pscope, raw->id, raw->file, raw->line)))
        goto done;
    if (!valid_name (s->id)) {
        reg_ir_error (b->err, file, line, "server id \"%s\" may only use letters, digits, '.', '_' and '-'",
                      s->id);
        goto done;
    }
    scope_add (&sscope, "server", NULL, s->id, NULL, 0);
    s->node = strdup (node);
    s->file = strdup (file);
    s->line = line;
    s->template_id = inst ? strdup (inst->template_id) : NULL;
    int mapped = inst && tmpl->from_xml && om >= 0;
    if (mapped)
        s->kind = strdup (omero_templates[om].kind);
    else if (raw->kind) {
        if (!(s->kind = subst (b, &pscope, raw->kind, raw->file, raw->line)))
            goto done;
        if (!known_kind (s->kind)) {
            reg_ir_error (b->err, raw->file, raw->line,
                          "unknown kind \"%s\" (blitz, router, indexer, pixeldata, tables, processor, "
                          "dropbox or exec)", s->kind);
            goto done;
        }
    }
    else if (inst && om >= 0 && omero_templates[om].kind)     /* a YAML BlitzTemplate without kind */
        s->kind = strdup (omero_templates[om].kind);
    else
        s->kind = strdup ("exec");

    if (mapped) {
        if (asprintf (&s->exe, "omero-%s", s->kind) < 0)
            goto done;
        if (raw->options.n || raw->env.n)
            warn (b->warnings, "%s: the Java/Python command line, environment and JVM settings of OMERO's %s "
                  "are not used; it runs %s", s->id, tmpl->id, s->exe);
    }
    else {
        if (raw->exe && *raw->exe && !(s->exe = subst (b, &pscope, raw->exe, raw->file, raw->line)))
            goto done;
        if (!s->exe || !*s->exe) {
            free (s->exe);
            s->exe = NULL;
            if (strcmp (s->kind, "exec") == 0) {
                reg_ir_error (b->err, raw->file, raw->line, "server %s needs an exe (or a kind)", s->id);
                goto done;
            }
            if (asprintf (&s->exe, "omero-%s", s->kind) < 0)
                goto done;
        }
        for (int i = 0; i < raw->options.n; i++) {
            reg_ir_var_t *o = raw->options.v[i];
            if (strncmp (o->value, "MEMORY:", 7) == 0) {
                warn (b->warnings, "%s: JVM memory option %s ignored", s->id, o->value);
                continue;
            }
            char *v = subst (b, &pscope, o->value, o->file, o->line);
            if (!v)
                goto done;
            argv_push (&s->argv, &s->nargv, v);
        }
        for (int i = 0; i < raw->env.n; i++) {
            reg_ir_var_t *e = raw->env.v[i];
            char *v = subst (b, &pscope, e->value, e->file, e->line);
            if (!v)
                goto done;
            if (!strchr (v, '=') || v[0] == '=') {
                reg_ir_error (b->err, e->file, e->line, "env entry \"%s\" must read NAME=value", v);
                free (v);
                goto done;
            }
            argv_push (&s->env, &s->nenv, v);
        }
    }
    if (!(s->pwd = subst (b, &pscope, raw->pwd, raw->file, raw->line)))
        goto done;
    char *act = subst (b, &pscope, raw->activation ? raw->activation : "always", raw->file, raw->line);
    if (!act)
        goto done;
    if (parse_activation (act, &s->activation) != 0) {
        reg_ir_error (b->err, raw->file, raw->line, "bad activation \"%s\" for server %s (always or manual)",
                      act, s->id);
        free (act);
        goto done;
    }
    free (act);
    if (expand_props (b, &pscope, &raw->props, s, &stack, mapped) != 0)
        goto done;
    if (inst && expand_props (b, &pscope, &inst->props, s, &stack, mapped) != 0)
        goto done;
    if (raw->adapter && !(s->adapter = subst (b, &pscope, raw->adapter, raw->file, raw->line)))
        goto done;
    if (raw->replica_group) {
        int rgl = raw->rg_line ? raw->rg_line : raw->line;
        if (!(s->replica_group = subst (b, &pscope, raw->replica_group, raw->file, rgl)))
            goto done;
        int found = 0;
        for (int i = 0; i < b->ir->rgroups.n; i++)
            found |= strcmp (((reg_ir_rgroup_t *) b->ir->rgroups.v[i])->id, s->replica_group) == 0;
        if (!found) {
            reg_ir_error (b->err, raw->file, rgl, "server %s names unknown replica group \"%s\"", s->id,
                          s->replica_group);
            goto done;
        }
    }
    compute_fingerprint (s);
    *out = s;
    s = NULL;
    rc = 0;
done:
    server_free (s);
    reg_vec_free (&stack);
    scope_free (&pscope);
    scope_free (&sscope);
    return rc;
}

/* Scope of a node: ${node} and the node's variables, under the application scope. */
static void
node_scope_init (scope_t *sc, scope_t *app, reg_ir_node_t *irn, const char *name)
{
    sc->parent = app;
    sc->v = NULL;
    sc->n = 0;
    scope_add (sc, "node", NULL, name, NULL, 0);
    if (irn)
        for (int i = 0; i < irn->vars.n; i++) {
            reg_ir_var_t *v = irn->vars.v[i];
            scope_add (sc, v->name, v->value, NULL, v->file, v->line);
        }
}

static void
app_scope_init (scope_t *sc, reg_ir_t *ir)
{
    sc->parent = NULL;
    sc->v = NULL;
    sc->n = 0;
    scope_add (sc, "application", NULL, ir->app_name, NULL, 0);
    for (int i = 0; i < ir->vars.n; i++) {
        reg_ir_var_t *v = ir->vars.v[i];
        scope_add (sc, v->name, v->value, NULL, v->file, v->line);
    }
}

static int
check_duplicates (reg_vec_t *servers, omr_err_t *err)
{
    for (int i = 0; i < servers->n; i++) {
        reg_server_t *a = servers->v[i];
        for (int j = 0; j < i; j++) {
            reg_server_t *o = servers->v[j];
            if (strcmp (a->id, o->id) == 0)
                return reg_ir_error (err, a->file, a->line, "duplicate server id \"%s\" (also at %s:%d)", a->id,
                                     o->file, o->line);
        }
    }
    return 0;
}

/* Fill each group's member list from the servers' replica_group. */
static void
compute_members (reg_deployment_t *d)
{
    for (int g = 0; g < d->groups.n; g++) {
        reg_replica_group_t *grp = d->groups.v[g];
        for (int i = 0; i < grp->nservers; i++)
            free (grp->servers[i]);
        free (grp->servers);
        grp->servers = NULL;
        grp->nservers = 0;
        for (int i = 0; i < d->servers.n; i++) {
            reg_server_t *s = d->servers.v[i];
            if (s->replica_group && strcmp (s->replica_group, grp->id) == 0)
                argv_push (&grp->servers, &grp->nservers, strdup (s->id));
        }
    }
}

static int
build_groups (bctx_t *b, scope_t *app, reg_deployment_t *d)
{
    for (int i = 0; i < b->ir->rgroups.n; i++) {
        reg_ir_rgroup_t *ig = b->ir->rgroups.v[i];
        if (!valid_name (ig->id))
            return reg_ir_error (b->err, ig->file, ig->line, "replica group id \"%s\" may only use letters, "
                                 "digits, '.', '_' and '-'", ig->id);
        reg_replica_group_t *g = calloc (1, sizeof *g);
        g->id = strdup (ig->id);
        g->file = strdup (ig->file);
        g->line = ig->line;
        g->lb = REG_LB_RANDOM;
        g->n_replicas = ig->lb_type ? 1 : 0;    /* IceGrid: no policy = all replicas */
        g->load_sample = 1;
        reg_vec_push (&d->groups, g);
        char *v;
        if (ig->lb_type) {
            if (!(v = subst (b, app, ig->lb_type, ig->file, ig->line)))
                return -1;
            int bad = parse_lb (v, &g->lb) != 0;
            if (bad)
                reg_ir_error (b->err, ig->file, ig->line, "bad load-balancing type \"%s\" (random, ordered, "
                              "round-robin or adaptive)", v);
            free (v);
            if (bad)
                return -1;
        }
        if (ig->n_replicas) {
            if (!(v = subst (b, app, ig->n_replicas, ig->file, ig->line)))
                return -1;
            g->n_replicas = parse_count (v);
            if (g->n_replicas < 0)
                reg_ir_error (b->err, ig->file, ig->line, "bad n-replicas \"%s\" (a number, 0 = all)", v);
            free (v);
            if (g->n_replicas < 0)
                return -1;
        }
        if (ig->load_sample) {
            if (!(v = subst (b, app, ig->load_sample, ig->file, ig->line)))
                return -1;
            g->load_sample = parse_count (v);
            if (g->load_sample != 1 && g->load_sample != 5 && g->load_sample != 15)
                reg_ir_error (b->err, ig->file, ig->line, "bad load-sample \"%s\" (1, 5 or 15)", v);
            free (v);
            if (g->load_sample != 1 && g->load_sample != 5 && g->load_sample != 15)
                return -1;
        }
    }
    return 0;
}

static int
has_node (const reg_deployment_t *d, const char *name)
{
    for (int i = 0; i < d->nodes.n; i++)
        if (strcmp (d->nodes.v[i], name) == 0)
            return 1;
    return 0;
}

static int
build (reg_deployment_t *d, omr_err_t *err)
{
    reg_ir_t *ir = d->ir;
    bctx_t b = { ir, &d->warnings, err };
    scope_t app;
    app_scope_init (&app, ir);
    int rc = build_groups (&b, &app, d);
    for (int n = 0; rc == 0 && n < ir->nodes.n; n++) {
        reg_ir_node_t *irn = ir->nodes.v[n];
        if (!valid_name (irn->name)) {
            rc = reg_ir_error (err, irn->file, irn->line, "node name \"%s\" may only use letters, digits, "
                               "'.', '_' and '-'", irn->name);
            break;
        }
        reg_vec_push (&d->nodes, strdup (irn->name));
        scope_t ns;
        node_scope_init (&ns, &app, irn, irn->name);
        for (int i = 0; rc == 0 && i < irn->items.n; i++) {
            reg_ir_item_t *it = irn->items.v[i];
            reg_server_t *s = NULL;
            rc = make_server (&b, &ns, irn->name, it->server, it->instance, &s);
            if (s)
                reg_vec_push (&d->servers, s);
        }
        scope_free (&ns);
    }
    scope_free (&app);
    if (rc == 0)
        rc = check_duplicates (&d->servers, err);
    if (rc == 0)
        compute_members (d);
    return rc;
}

/* ------------------------------------------------------------------ public: load and destroy */

static reg_deployment_t *
deployment_new (void)
{
    return calloc (1, sizeof (reg_deployment_t));
}

void
reg_deployment_destroy (reg_deployment_t **self)
{
    if (!self || !*self)
        return;
    reg_deployment_t *d = *self;
    free (d->name);
    free (d->path);
    strings_free (&d->nodes);
    for (int i = 0; i < d->servers.n; i++)
        server_free (d->servers.v[i]);
    reg_vec_free (&d->servers);
    for (int i = 0; i < d->groups.n; i++)
        group_free (d->groups.v[i]);
    reg_vec_free (&d->groups);
    strings_free (&d->warnings);
    strings_free (&d->targets);
    reg_ir_destroy (&d->ir);
    free (d);
    *self = NULL;
}

reg_deployment_t *
reg_deployment_load (const char *path, const char *const *targets, int ntargets, reg_prop_fn props,
                     void *props_arg, omr_err_t *err)
{
    if (!path || !*path) {
        omr_err_set (err, OMR_E_API, 400, "no descriptor path given");
        return NULL;
    }
    reg_deployment_t *d = deployment_new ();
    d->path = strdup (path);
    for (int i = 0; targets && i < ntargets; i++)
        if (targets[i] && *targets[i])
            reg_vec_push (&d->targets, strdup (targets[i]));
    d->ir = reg_ir_new ((const char *const *) d->targets.v, d->targets.n, props, props_arg);
    if (reg_ir_read_file (d->ir, path, NULL, 0, err) != 0)
        goto fail;
    if (!d->ir->app_name) {
        reg_ir_error (err, path, 1, "no application (YAML: \"application: NAME\"; XML: <application name=…>)");
        goto fail;
    }
    d->name = strdup (d->ir->app_name);
    /* warnings found while reading come first, in file order */
    for (int i = 0; i < d->ir->warnings.n; i++)
        reg_vec_push (&d->warnings, d->ir->warnings.v[i]);
    d->ir->warnings.n = 0;
    if (build (d, err) != 0)
        goto fail;
    return d;
fail:
    reg_deployment_destroy (&d);
    return NULL;
}

/* ------------------------------------------------------------------ nodedescriptors */

typedef struct {
    char *node;
    char *tmpl;         /* "Blitz" (without "Template") */
    char *index;        /* NULL when the entry has no -N */
} nd_entry_t;

static void
nd_free (reg_vec_t *entries)
{
    for (int i = 0; i < entries->n; i++) {
        nd_entry_t *e = entries->v[i];
        free (e->node);
        free (e->tmpl);
        free (e->index);
        free (e);
    }
    reg_vec_free (entries);
}

static int
nd_parse (const char *spec, reg_vec_t *entries, omr_err_t *err)
{
    char *copy = strdup (spec), *save = NULL;
    int rc = 0;
    for (char *word = strtok_r (copy, " \t\r\n", &save); word && rc == 0;
         word = strtok_r (NULL, " \t\r\n", &save)) {
        char *colon = strchr (word, ':');
        if (!colon || colon == word || strchr (colon + 1, ':')) {
            rc = omr_err_set (err, OMR_E_VALIDATION, 400, "omero.server.nodedescriptors: \"%s\" should read "
                              "NODE:Server-N,Server-N (e.g. master:Blitz-0,Tables-0)", word);
            break;
        }
        *colon = '\0';
        if (!valid_name (word)) {
            rc = omr_err_set (err, OMR_E_VALIDATION, 400, "omero.server.nodedescriptors: bad node name \"%s\"",
                              word);
            break;
        }
        char *save2 = NULL;
        int count = 0;
        for (char *item = strtok_r (colon + 1, ",", &save2); item; item = strtok_r (NULL, ",", &save2)) {
            count++;
            if (!valid_name (item)) {
                rc = omr_err_set (err, OMR_E_VALIDATION, 400,
                                  "omero.server.nodedescriptors: bad server name \"%s\" on node %s", item, word);
                break;
            }
            nd_entry_t *e = calloc (1, sizeof *e);
            e->node = strdup (word);
            char *dash = strrchr (item, '-');
            if (dash && dash != item && parse_count (dash + 1) >= 0) {
                e->tmpl = strndup (item, (size_t) (dash - item));
                e->index = strdup (dash + 1);
            }
            else
                e->tmpl = strdup (item);
            reg_vec_push (entries, e);
        }
        if (rc == 0 && count == 0)
            rc = omr_err_set (err, OMR_E_VALIDATION, 400, "omero.server.nodedescriptors: node %s lists no servers",
                              word);
    }
    free (copy);
    return rc;
}

static int
template_declares (reg_ir_template_t *t, const char *param)
{
    for (int i = 0; t && i < t->params.n; i++)
        if (strcmp (((reg_ir_var_t *) t->params.v[i])->name, param) == 0)
            return 1;
    return 0;
}

int
reg_deployment_apply_nodedescriptors (reg_deployment_t *self, const char *spec, omr_err_t *err)
{
    if (!self)
        return omr_err_set (err, OMR_E_API, 400, "no deployment");
    if (!spec || !*spec)
        return 0;
    if (!self->ir)
        return omr_err_set (err, OMR_E_API, 400, "omero.server.nodedescriptors needs the descriptor's "
                            "templates; this deployment was made from JSON");
    reg_vec_t entries = { 0 };
    if (nd_parse (spec, &entries, err) != 0) {
        nd_free (&entries);
        return -1;
    }
    if (entries.n == 0) {
        nd_free (&entries);
        return 0;
    }
    static const char *const src = "omero.server.nodedescriptors";
    reg_ir_t *ir = self->ir;
    reg_vec_t warnings = { 0 }, fresh = { 0 }, combined = { 0 };
    bctx_t b = { ir, &warnings, err };
    scope_t app;
    app_scope_init (&app, ir);
    int rc = 0;
    for (int i = 0; rc == 0 && i < entries.n; i++) {
        nd_entry_t *e = entries.v[i];
        char *tid = NULL;
        if (asprintf (&tid, "%sTemplate", e->tmpl) < 0)
            abort ();
        reg_ir_instance_t *inst = reg_ir_instance_new (tid, src, 0);
        reg_ir_template_t *t = find_template (ir, tid);
        if (e->index)
            reg_vec_push (&inst->params, reg_ir_var_new ("index", e->index, src, 0));
        if (strcmp (e->tmpl, "Blitz") == 0 && template_declares (t, "config"))
            reg_vec_push (&inst->params, reg_ir_var_new ("config", "default", src, 0));
        if ((strcmp (e->tmpl, "PixelData") == 0 || strcmp (e->tmpl, "Processor") == 0
             || strcmp (e->tmpl, "Tables") == 0) && template_declares (t, "dir"))
            reg_vec_push (&inst->params, reg_ir_var_new ("dir", "", src, 0));
        reg_ir_node_t *irn = NULL;
        for (int n = 0; n < ir->nodes.n; n++)
            if (strcmp (((reg_ir_node_t *) ir->nodes.v[n])->name, e->node) == 0)
                irn = ir->nodes.v[n];
        scope_t ns;
        node_scope_init (&ns, &app, irn, e->node);
        reg_server_t *s = NULL;
        rc = make_server (&b, &ns, e->node, NULL, inst, &s);
        if (s)
            reg_vec_push (&fresh, s);
        scope_free (&ns);
        reg_ir_instance_free (inst);
        free (tid);
    }
    scope_free (&app);
    /* master keeps only its router (OMERO keeps the first server-instance of node master, the
     * Glacier2 one); every other node keeps what it has. */
    for (int i = 0; rc == 0 && i < self->servers.n; i++) {
        reg_server_t *s = self->servers.v[i];
        if (strcmp (s->node, "master") != 0 || strcmp (s->kind, "router") == 0)
            reg_vec_push (&combined, s);
    }
    for (int i = 0; rc == 0 && i < fresh.n; i++)
        reg_vec_push (&combined, fresh.v[i]);
    if (rc == 0)
        rc = check_duplicates (&combined, err);
    if (rc != 0) {
        for (int i = 0; i < fresh.n; i++)
            server_free (fresh.v[i]);
        reg_vec_free (&fresh);
        reg_vec_free (&combined);
        strings_free (&warnings);
        nd_free (&entries);
        return -1;
    }
    /* commit */
    for (int i = 0; i < self->servers.n; i++) {
        reg_server_t *s = self->servers.v[i];
        int kept = 0;
        for (int j = 0; j < combined.n; j++)
            kept |= combined.v[j] == s;
        if (!kept)
            server_free (s);
    }
    reg_vec_free (&self->servers);
    self->servers = combined;
    for (int i = 0; i < entries.n; i++) {
        nd_entry_t *e = entries.v[i];
        if (!has_node (self, e->node))
            reg_vec_push (&self->nodes, strdup (e->node));
    }
    /* servers in node order, as after a load */
    reg_vec_t ordered = { 0 };
    for (int n = 0; n < self->nodes.n; n++)
        for (int i = 0; i < self->servers.n; i++)
            if (strcmp (((reg_server_t *) self->servers.v[i])->node, self->nodes.v[n]) == 0)
                reg_vec_push (&ordered, self->servers.v[i]);
    reg_vec_free (&self->servers);
    self->servers = ordered;
    for (int i = 0; i < warnings.n; i++)
        warn (&self->warnings, "%s", (char *) warnings.v[i]);
    strings_free (&warnings);
    reg_vec_free (&fresh);
    compute_members (self);
    nd_free (&entries);
    return 0;
}

/* ------------------------------------------------------------------ accessors */

const char *
reg_deployment_name (const reg_deployment_t *self)
{
    return self ? self->name : NULL;
}

const char *
reg_deployment_path (const reg_deployment_t *self)
{
    return self && self->path ? self->path : "";
}

int
reg_deployment_node_count (const reg_deployment_t *self)
{
    return self ? self->nodes.n : 0;
}

const char *
reg_deployment_node_name (const reg_deployment_t *self, int i)
{
    return self && i >= 0 && i < self->nodes.n ? self->nodes.v[i] : NULL;
}

int
reg_deployment_server_count (const reg_deployment_t *self)
{
    return self ? self->servers.n : 0;
}

const reg_server_t *
reg_deployment_server (const reg_deployment_t *self, int i)
{
    return self && i >= 0 && i < self->servers.n ? self->servers.v[i] : NULL;
}

const reg_server_t *
reg_deployment_find_server (const reg_deployment_t *self, const char *id)
{
    for (int i = 0; self && id && i < self->servers.n; i++) {
        const reg_server_t *s = self->servers.v[i];
        if (strcmp (s->id, id) == 0)
            return s;
    }
    return NULL;
}

const reg_server_t **
reg_deployment_node_servers (const reg_deployment_t *self, const char *node, int *n)
{
    int count = 0;
    const reg_server_t **out = calloc ((size_t) (self ? self->servers.n : 0) + 1, sizeof *out);
    for (int i = 0; self && node && i < self->servers.n; i++) {
        const reg_server_t *s = self->servers.v[i];
        if (strcmp (s->node, node) == 0)
            out[count++] = s;
    }
    if (n)
        *n = count;
    return out;
}

int
reg_deployment_replica_group_count (const reg_deployment_t *self)
{
    return self ? self->groups.n : 0;
}

const reg_replica_group_t *
reg_deployment_replica_group (const reg_deployment_t *self, int i)
{
    return self && i >= 0 && i < self->groups.n ? self->groups.v[i] : NULL;
}

const reg_replica_group_t *
reg_deployment_find_replica_group (const reg_deployment_t *self, const char *id)
{
    for (int i = 0; self && id && i < self->groups.n; i++) {
        const reg_replica_group_t *g = self->groups.v[i];
        if (strcmp (g->id, id) == 0)
            return g;
    }
    return NULL;
}

int
reg_deployment_warning_count (const reg_deployment_t *self)
{
    return self ? self->warnings.n : 0;
}

const char *
reg_deployment_warning (const reg_deployment_t *self, int i)
{
    return self && i >= 0 && i < self->warnings.n ? self->warnings.v[i] : NULL;
}

const char *
reg_server_fingerprint (const reg_server_t *server)
{
    return server ? server->fingerprint : NULL;
}

const char *
reg_server_property (const reg_server_t *server, const char *key)
{
    for (int i = 0; server && key && i < server->nprops; i++)
        if (strcmp (server->props[i].key, key) == 0)
            return server->props[i].value;
    return NULL;
}

/* ------------------------------------------------------------------ JSON */

static json_t *
str_or_null (const char *s)
{
    return s ? json_string (s) : json_null ();
}

json_t *
reg_server_to_json (const reg_server_t *s)
{
    json_t *argv = json_array (), *env = json_array (), *props = json_object ();
    for (int i = 0; i < s->nargv; i++)
        json_array_append_new (argv, json_string (s->argv[i]));
    for (int i = 0; i < s->nenv; i++)
        json_array_append_new (env, json_string (s->env[i]));
    for (int i = 0; i < s->nprops; i++)
        json_object_set_new (props, s->props[i].key, json_string (s->props[i].value));
    return json_pack ("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:i, s:s}",
                      "id", s->id, "kind", s->kind, "node", s->node, "exe", s->exe, "argv", argv, "env", env,
                      "pwd", s->pwd ? s->pwd : "", "activation", reg_activation_name (s->activation),
                      "properties", props, "adapter", str_or_null (s->adapter), "replica_group",
                      str_or_null (s->replica_group), "template", str_or_null (s->template_id), "file",
                      s->file ? s->file : "", "line", s->line, "fingerprint", s->fingerprint);
}

static json_t *
deployment_json (const reg_deployment_t *self, const char *only_node)
{
    json_t *nodes = json_array (), *servers = json_array (), *groups = json_array (),
           *warnings = json_array (), *targets = json_array ();
    for (int i = 0; i < self->nodes.n; i++)
        if (!only_node || strcmp (self->nodes.v[i], only_node) == 0)
            json_array_append_new (nodes, json_string (self->nodes.v[i]));
    for (int i = 0; i < self->servers.n; i++) {
        reg_server_t *s = self->servers.v[i];
        if (!only_node || strcmp (s->node, only_node) == 0)
            json_array_append_new (servers, reg_server_to_json (s));
    }
    for (int i = 0; i < self->groups.n; i++) {
        reg_replica_group_t *g = self->groups.v[i];
        json_t *members = json_array ();
        for (int j = 0; j < g->nservers; j++) {
            const reg_server_t *m = reg_deployment_find_server (self, g->servers[j]);
            if (!only_node || (m && strcmp (m->node, only_node) == 0))
                json_array_append_new (members, json_string (g->servers[j]));
        }
        json_array_append_new (groups, json_pack ("{s:s, s:{s:s, s:i, s:i}, s:o, s:s, s:i}", "id", g->id,
                                                  "load_balancing", "type", reg_lb_name (g->lb), "n_replicas",
                                                  g->n_replicas, "load_sample", g->load_sample, "servers",
                                                  members, "file", g->file ? g->file : "", "line", g->line));
    }
    for (int i = 0; i < self->warnings.n; i++)
        json_array_append_new (warnings, json_string (self->warnings.v[i]));
    for (int i = 0; i < self->targets.n; i++)
        json_array_append_new (targets, json_string (self->targets.v[i]));
    return json_pack ("{s:s, s:o, s:o, s:o, s:o, s:o}", "application", self->name, "targets", targets, "nodes",
                      nodes, "servers", servers, "replica_groups", groups, "warnings", warnings);
}

json_t *
reg_deployment_to_json (const reg_deployment_t *self)
{
    return self ? deployment_json (self, NULL) : NULL;
}

json_t *
reg_deployment_node_to_json (const reg_deployment_t *self, const char *node)
{
    if (!self || !node || !has_node (self, node))
        return NULL;
    return deployment_json (self, node);
}

int
reg_deployment_diff (const reg_deployment_t *old_d, const reg_deployment_t *new_d, reg_change_fn fn, void *arg)
{
    int count = 0;
    for (int i = 0; old_d && i < old_d->servers.n; i++) {
        const reg_server_t *o = old_d->servers.v[i];
        if (!reg_deployment_find_server (new_d, o->id)) {
            count++;
            if (fn)
                fn (arg, REG_CHANGE_REMOVED, o, NULL);
        }
    }
    for (int i = 0; new_d && i < new_d->servers.n; i++) {
        const reg_server_t *n = new_d->servers.v[i];
        const reg_server_t *o = reg_deployment_find_server (old_d, n->id);
        if (o && strcmp (o->fingerprint, n->fingerprint) == 0)
            continue;
        count++;
        if (fn)
            fn (arg, o ? REG_CHANGE_CHANGED : REG_CHANGE_ADDED, o, n);
    }
    return count;
}

static int
jerr (omr_err_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static int
jerr (omr_err_t *err, const char *fmt, ...)
{
    char buf[900];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    return omr_err_set (err, OMR_E_VALIDATION, 400, "deployment JSON: %s", buf);
}

/* A string member: required (error when absent), or optional (NULL when absent or null). */
static int
jstr (const json_t *obj, const char *key, int required, char **out, const char *where, omr_err_t *err)
{
    json_t *v = json_object_get (obj, key);
    *out = NULL;
    if (!v || json_is_null (v)) {
        if (required)
            return jerr (err, "%s: missing \"%s\"", where, key);
        return 0;
    }
    if (!json_is_string (v))
        return jerr (err, "%s: \"%s\" must be a string", where, key);
    *out = strdup (json_string_value (v));
    return 0;
}

static int
jstrings (const json_t *obj, const char *key, char ***arr, int *n, const char *where, omr_err_t *err)
{
    json_t *v = json_object_get (obj, key);
    if (!v)
        return 0;
    if (!json_is_array (v))
        return jerr (err, "%s: \"%s\" must be an array of strings", where, key);
    size_t i;
    json_t *it;
    json_array_foreach (v, i, it) {
        if (!json_is_string (it))
            return jerr (err, "%s: \"%s\"[%zu] must be a string", where, key, i);
        argv_push (arr, n, strdup (json_string_value (it)));
    }
    return 0;
}

static reg_server_t *
server_from_json (const json_t *o, size_t idx, omr_err_t *err)
{
    char where[128];
    snprintf (where, sizeof where, "servers[%zu]", idx);
    if (!json_is_object (o)) {
        jerr (err, "%s must be an object", where);
        return NULL;
    }
    reg_server_t *s = calloc (1, sizeof *s);
    char *act = NULL;
    if (jstr (o, "id", 1, &s->id, where, err) != 0)
        goto fail;
    snprintf (where, sizeof where, "servers[%zu] (%s)", idx, s->id);
    if (!valid_name (s->id)) {
        jerr (err, "%s: bad server id", where);
        goto fail;
    }
    if (jstr (o, "kind", 1, &s->kind, where, err) != 0 || jstr (o, "node", 1, &s->node, where, err) != 0
        || jstr (o, "exe", 1, &s->exe, where, err) != 0 || jstr (o, "pwd", 0, &s->pwd, where, err) != 0
        || jstr (o, "activation", 0, &act, where, err) != 0 || jstr (o, "adapter", 0, &s->adapter, where, err) != 0
        || jstr (o, "replica_group", 0, &s->replica_group, where, err) != 0
        || jstr (o, "template", 0, &s->template_id, where, err) != 0 || jstr (o, "file", 0, &s->file, where, err) != 0
        || jstrings (o, "argv", &s->argv, &s->nargv, where, err) != 0
        || jstrings (o, "env", &s->env, &s->nenv, where, err) != 0)
        goto fail;
    if (!known_kind (s->kind)) {
        jerr (err, "%s: unknown kind \"%s\"", where, s->kind);
        goto fail;
    }
    if (!*s->exe) {
        jerr (err, "%s: empty exe", where);
        goto fail;
    }
    if (!s->pwd)
        s->pwd = strdup ("");
    if (!s->file)
        s->file = strdup ("");
    if (act && parse_activation (act, &s->activation) != 0) {
        jerr (err, "%s: bad activation \"%s\" (always or manual)", where, act);
        goto fail;
    }
    for (int i = 0; i < s->nenv; i++)
        if (!strchr (s->env[i], '=') || s->env[i][0] == '=') {
            jerr (err, "%s: env entry \"%s\" must read NAME=value", where, s->env[i]);
            goto fail;
        }
    json_t *line = json_object_get (o, "line");
    if (line && !json_is_integer (line)) {
        jerr (err, "%s: \"line\" must be an integer", where);
        goto fail;
    }
    s->line = line ? (int) json_integer_value (line) : 0;
    json_t *props = json_object_get (o, "properties");
    if (props && !json_is_object (props)) {
        jerr (err, "%s: \"properties\" must be an object", where);
        goto fail;
    }
    const char *key;
    json_t *val;
    json_object_foreach (props, key, val) {
        if (!json_is_string (val)) {
            jerr (err, "%s: property \"%s\" must be a string", where, key);
            goto fail;
        }
        prop_set (s, strdup (key), strdup (json_string_value (val)));
    }
    free (act);
    compute_fingerprint (s);
    return s;
fail:
    free (act);
    server_free (s);
    return NULL;
}

reg_deployment_t *
reg_deployment_from_json (const json_t *json, omr_err_t *err)
{
    if (!json_is_object (json)) {
        jerr (err, "not an object");
        return NULL;
    }
    reg_deployment_t *d = deployment_new ();
    d->path = strdup ("");
    size_t i;
    json_t *it;
    if (jstr (json, "application", 1, &d->name, "top level", err) != 0)
        goto fail;
    json_t *nodes = json_object_get (json, "nodes"), *servers = json_object_get (json, "servers"),
           *groups = json_object_get (json, "replica_groups"), *warnings = json_object_get (json, "warnings"),
           *targets = json_object_get (json, "targets");
    if (!json_is_array (nodes) || !json_is_array (servers)) {
        jerr (err, "\"nodes\" and \"servers\" must be arrays");
        goto fail;
    }
    json_array_foreach (nodes, i, it) {
        if (!json_is_string (it) || !valid_name (json_string_value (it))) {
            jerr (err, "nodes[%zu] must be a node name", i);
            goto fail;
        }
        if (has_node (d, json_string_value (it))) {
            jerr (err, "node \"%s\" listed twice", json_string_value (it));
            goto fail;
        }
        reg_vec_push (&d->nodes, strdup (json_string_value (it)));
    }
    for (int pass = 0; pass < 2; pass++) {
        json_t *list = pass == 0 ? warnings : targets;
        reg_vec_t *dst = pass == 0 ? &d->warnings : &d->targets;
        if (!list)
            continue;
        if (!json_is_array (list)) {
            jerr (err, "\"%s\" must be an array of strings", pass == 0 ? "warnings" : "targets");
            goto fail;
        }
        json_array_foreach (list, i, it) {
            if (!json_is_string (it)) {
                jerr (err, "\"%s\"[%zu] must be a string", pass == 0 ? "warnings" : "targets", i);
                goto fail;
            }
            reg_vec_push (dst, strdup (json_string_value (it)));
        }
    }
    if (groups && !json_is_array (groups)) {
        jerr (err, "\"replica_groups\" must be an array");
        goto fail;
    }
    json_array_foreach (groups, i, it) {
        char *id = NULL, *type = NULL, *file = NULL;
        char where[64];
        snprintf (where, sizeof where, "replica_groups[%zu]", i);
        if (!json_is_object (it)) {
            jerr (err, "%s must be an object", where);
            goto fail;
        }
        if (jstr (it, "id", 1, &id, where, err) != 0)
            goto fail;
        reg_replica_group_t *g = calloc (1, sizeof *g);
        g->id = id;
        reg_vec_push (&d->groups, g);
        if (jstr (it, "file", 0, &file, where, err) != 0)
            goto fail;
        g->file = file ? file : strdup ("");
        json_t *line = json_object_get (it, "line");
        g->line = json_is_integer (line) ? (int) json_integer_value (line) : 0;
        json_t *lb = json_object_get (it, "load_balancing");
        if (!json_is_object (lb)) {
            jerr (err, "%s (%s): \"load_balancing\" must be an object", where, id);
            goto fail;
        }
        if (jstr (lb, "type", 1, &type, where, err) != 0)
            goto fail;
        int bad = parse_lb (type, &g->lb) != 0;
        if (bad)
            jerr (err, "%s (%s): bad load-balancing type \"%s\"", where, id, type);
        free (type);
        if (bad)
            goto fail;
        json_t *nr = json_object_get (lb, "n_replicas"), *ls = json_object_get (lb, "load_sample");
        g->n_replicas = json_is_integer (nr) ? (int) json_integer_value (nr) : -1;
        g->load_sample = json_is_integer (ls) ? (int) json_integer_value (ls) : -1;
        if (g->n_replicas < 0 || (g->load_sample != 1 && g->load_sample != 5 && g->load_sample != 15)) {
            jerr (err, "%s (%s): n_replicas must be >= 0 and load_sample 1, 5 or 15", where, id);
            goto fail;
        }
        for (int j = 0; j < d->groups.n - 1; j++)
            if (strcmp (((reg_replica_group_t *) d->groups.v[j])->id, id) == 0) {
                jerr (err, "replica group \"%s\" listed twice", id);
                goto fail;
            }
    }
    json_array_foreach (servers, i, it) {
        reg_server_t *s = server_from_json (it, i, err);
        if (!s)
            goto fail;
        reg_vec_push (&d->servers, s);
        if (!has_node (d, s->node)) {
            jerr (err, "server %s names unknown node \"%s\"", s->id, s->node);
            goto fail;
        }
        if (s->replica_group && !reg_deployment_find_replica_group (d, s->replica_group)) {
            jerr (err, "server %s names unknown replica group \"%s\"", s->id, s->replica_group);
            goto fail;
        }
    }
    for (int a = 0; a < d->servers.n; a++)
        for (int b = 0; b < a; b++)
            if (strcmp (((reg_server_t *) d->servers.v[a])->id, ((reg_server_t *) d->servers.v[b])->id) == 0) {
                jerr (err, "duplicate server id \"%s\"", ((reg_server_t *) d->servers.v[a])->id);
                goto fail;
            }
    compute_members (d);
    return d;
fail:
    reg_deployment_destroy (&d);
    return NULL;
}

/* ------------------------------------------------------------------ describe */

static void
sb_printf (sbuf_t *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
sb_printf (sbuf_t *b, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start (ap, fmt);
    int n = vasprintf (&s, fmt, ap);
    va_end (ap);
    if (n < 0)
        abort ();
    sb_add (b, s, (size_t) n);
    free (s);
}

char *
reg_deployment_describe (const reg_deployment_t *self)
{
    sbuf_t b = { 0 };
    sb_add (&b, "", 0);
    if (!self)
        return b.s;
    sb_printf (&b, "application %s\n", self->name);
    if (self->path && *self->path)
        sb_printf (&b, "  descriptor %s\n", self->path);
    if (self->targets.n) {
        sb_printf (&b, "  targets");
        for (int i = 0; i < self->targets.n; i++)
            sb_printf (&b, " %s", (char *) self->targets.v[i]);
        sb_printf (&b, "\n");
    }
    for (int i = 0; i < self->groups.n; i++) {
        reg_replica_group_t *g = self->groups.v[i];
        sb_printf (&b, "  replica-group %s\n    load-balancing %s", g->id, reg_lb_name (g->lb));
        if (g->n_replicas)
            sb_printf (&b, ", n-replicas %d", g->n_replicas);
        else
            sb_printf (&b, ", all replicas");
        if (g->lb == REG_LB_ADAPTIVE)
            sb_printf (&b, ", load-sample %d", g->load_sample);
        sb_printf (&b, "\n    servers");
        for (int j = 0; j < g->nservers; j++)
            sb_printf (&b, " %s", g->servers[j]);
        sb_printf (&b, "%s\n", g->nservers ? "" : " (none)");
    }
    for (int n = 0; n < self->nodes.n; n++) {
        const char *node = self->nodes.v[n];
        sb_printf (&b, "  node %s\n", node);
        for (int i = 0; i < self->servers.n; i++) {
            reg_server_t *s = self->servers.v[i];
            if (strcmp (s->node, node) != 0)
                continue;
            sb_printf (&b, "    server %s\n", s->id);
            sb_printf (&b, "      kind = %s\n", s->kind);
            if (s->template_id)
                sb_printf (&b, "      template = %s\n", s->template_id);
            sb_printf (&b, "      exe = %s\n", s->exe);
            for (int j = 0; j < s->nargv; j++)
                sb_printf (&b, "      option = %s\n", s->argv[j]);
            for (int j = 0; j < s->nenv; j++)
                sb_printf (&b, "      env = %s\n", s->env[j]);
            if (s->pwd && *s->pwd)
                sb_printf (&b, "      pwd = %s\n", s->pwd);
            sb_printf (&b, "      activation = %s\n", reg_activation_name (s->activation));
            if (s->adapter)
                sb_printf (&b, "      adapter = %s\n", s->adapter);
            if (s->replica_group)
                sb_printf (&b, "      replica-group = %s\n", s->replica_group);
            if (s->file && *s->file)
                sb_printf (&b, "      from = %s:%d\n", s->file, s->line);
            if (s->nprops) {
                sb_printf (&b, "      properties\n");
                for (int j = 0; j < s->nprops; j++)
                    sb_printf (&b, "        %s = %s\n", s->props[j].key, s->props[j].value);
            }
        }
    }
    if (self->warnings.n) {
        sb_printf (&b, "  warnings\n");
        for (int i = 0; i < self->warnings.n; i++)
            sb_printf (&b, "    %s\n", (char *) self->warnings.v[i]);
    }
    return b.s;
}
