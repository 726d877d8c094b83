/* descriptor_ir: the intermediate form the YAML and XML descriptor readers both fill in.
 * It is what the files say, with targets already applied and ${…} references left unexpanded;
 * descriptor.c turns it into servers (variables, templates, property sets, validation).
 * Internal to registry/: callers use descriptor.h. */
#ifndef REG_DESCRIPTOR_IR_H
#define REG_DESCRIPTOR_IR_H
#include "descriptor.h"

/* A growable array of pointers. */
typedef struct {
    void **v;
    int n, cap;
} reg_vec_t;

/* Append p (never fails short of memory exhaustion, which aborts as malloc failure would). */
void reg_vec_push (reg_vec_t *vec, void *p);
/* Free the array itself (not the elements). */
void reg_vec_free (reg_vec_t *vec);

/* name = value at file:line. Used for variables, template parameters (value NULL = no default),
 * instance parameters, options and env entries (name unused). */
typedef struct {
    char *name;
    char *value;
    const char *file;
    int line;
} reg_ir_var_t;

/* One entry of a property set: a property, or a reference to another set. */
typedef struct {
    int is_ref;             /* 1: name is a property-set id (refid) */
    char *name;
    char *value;
    const char *file;
    int line;
} reg_ir_prop_t;

typedef struct {
    char *id;
    reg_vec_t items;        /* reg_ir_prop_t* */
    const char *file;
    int line;
} reg_ir_propset_t;

/* A server as written (inside a node or a template). Strings may hold ${…}. */
typedef struct {
    char *id, *kind, *exe, *pwd, *activation;
    char *adapter, *replica_group;
    int rg_line;            /* line of the replica-group reference */
    reg_vec_t options;      /* reg_ir_var_t* (value) */
    reg_vec_t env;          /* reg_ir_var_t* (value "NAME=value") */
    reg_vec_t props;        /* reg_ir_prop_t* */
    char *unsupported;      /* non-NULL: cannot run here (icebox …); the reason */
    const char *file;
    int line;
} reg_ir_server_t;

typedef struct {
    char *id;
    reg_vec_t params;       /* reg_ir_var_t*, value = default or NULL */
    reg_ir_server_t *server;
    int from_xml;           /* OMERO's template ids map to our binaries only in the XML form */
    const char *file;
    int line;
} reg_ir_template_t;

typedef struct {
    char *template_id;
    reg_vec_t params;       /* reg_ir_var_t* */
    reg_vec_t props;        /* reg_ir_prop_t*: instance properties override the template's */
    const char *file;
    int line;
} reg_ir_instance_t;

typedef struct {
    reg_ir_server_t *server;        /* exactly one of server / instance */
    reg_ir_instance_t *instance;
} reg_ir_item_t;

typedef struct {
    char *name;
    reg_vec_t vars;         /* reg_ir_var_t* */
    reg_vec_t items;        /* reg_ir_item_t* */
    const char *file;
    int line;
} reg_ir_node_t;

typedef struct {
    char *id;
    char *lb_type, *n_replicas, *load_sample;   /* as written, NULL = default */
    const char *file;
    int line;
} reg_ir_rgroup_t;

typedef struct {
    char *app_name;
    const char *app_file;
    int app_line;
    reg_vec_t vars;         /* reg_ir_var_t* (application scope) */
    reg_vec_t propsets;     /* reg_ir_propset_t* */
    reg_vec_t templates;    /* reg_ir_template_t* */
    reg_vec_t nodes;        /* reg_ir_node_t* */
    reg_vec_t rgroups;      /* reg_ir_rgroup_t* */
    reg_vec_t files;        /* char*: every file name referenced by a `file` field (owned here) */
    reg_vec_t warnings;     /* char* */
    reg_vec_t stack;        /* char*: real paths of the files being read (include cycle check) */
    const char *const *targets;
    int ntargets;
    reg_prop_fn props;
    void *props_arg;
} reg_ir_t;

/* Create / free the intermediate form. */
reg_ir_t *reg_ir_new (const char *const *targets, int ntargets, reg_prop_fn props, void *props_arg);
void reg_ir_destroy (reg_ir_t **self);
/* Read one descriptor file (YAML or XML by extension, else content) into ir. include_file/line
 * name the including element, NULL/0 for the top file. */
int reg_ir_read_file (reg_ir_t *ir, const char *path, const char *include_file, int include_line,
                      omr_err_t *err);
/* Read the file an include names, relative to the including file; OMERO's absent config.xml
 * falls back to templates.xml beside it. */
int reg_ir_include (reg_ir_t *ir, const char *from_file, int line, const char *name, omr_err_t *err);
/* Keep a copy of a file name for the life of the ir and return it. */
const char *reg_ir_file (reg_ir_t *ir, const char *path);
/* Add a warning (printf-style); identical warnings are kept once. */
void reg_ir_warn (reg_ir_t *ir, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* 1 when target `name` is among the active targets. */
int reg_ir_target_active (const reg_ir_t *ir, const char *name);
/* Set err to "FILE:LINE: reason" (ValidationException); returns -1. */
int reg_ir_error (omr_err_t *err, const char *file, int line, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/* Find or create the node called name (first declaration gives file/line). */
reg_ir_node_t *reg_ir_node (reg_ir_t *ir, const char *name, const char *file, int line);
/* Add a property set, template or replica group; a duplicate id is an error. */
int reg_ir_add_propset (reg_ir_t *ir, reg_ir_propset_t *ps, omr_err_t *err);
int reg_ir_add_template (reg_ir_t *ir, reg_ir_template_t *t, omr_err_t *err);
int reg_ir_add_rgroup (reg_ir_t *ir, reg_ir_rgroup_t *g, omr_err_t *err);
/* Set (or replace) a variable in a list. */
void reg_ir_set_var (reg_vec_t *vars, const char *name, const char *value, const char *file, int line);

/* Constructors and destructors of the parts. */
reg_ir_var_t *reg_ir_var_new (const char *name, const char *value, const char *file, int line);
void reg_ir_var_free (reg_ir_var_t *v);
reg_ir_prop_t *reg_ir_prop_new (int is_ref, const char *name, const char *value, const char *file, int line);
reg_ir_server_t *reg_ir_server_new (const char *file, int line);
void reg_ir_server_free (reg_ir_server_t *s);
reg_ir_instance_t *reg_ir_instance_new (const char *template_id, const char *file, int line);
void reg_ir_instance_free (reg_ir_instance_t *i);
reg_ir_propset_t *reg_ir_propset_new (const char *id, const char *file, int line);
void reg_ir_propset_free (reg_ir_propset_t *ps);
reg_ir_template_t *reg_ir_template_new (const char *id, const char *file, int line);
void reg_ir_template_free (reg_ir_template_t *t);
reg_ir_rgroup_t *reg_ir_rgroup_new (const char *id, const char *file, int line);
void reg_ir_rgroup_free (reg_ir_rgroup_t *g);
/* Append a server / instance to a node. */
void reg_ir_node_add_server (reg_ir_node_t *node, reg_ir_server_t *s);
void reg_ir_node_add_instance (reg_ir_node_t *node, reg_ir_instance_t *i);

#endif
