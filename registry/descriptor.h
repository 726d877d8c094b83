/* descriptor: the deployment descriptor of the grid — which servers run on which node, with what
 * command line, environment and properties.
 *
 * Two source forms load into the same in-memory deployment:
 *  - our native YAML (descriptors/README.md documents it), and
 *  - IceGrid's XML vocabulary as OMERO ships it (etc/grid/default.xml + templates.xml): application,
 *    variable, properties/property/refid, server-template/parameter, server, option, env, adapter,
 *    target, node, server-instance, replica-group/load-balancing, include.
 * Both support ${NAME} variables ($${x} is a literal ${x}), server templates with parameters,
 * property sets, named targets, replica groups and includes. OMERO's template ids are mapped to our
 * server binaries (BlitzTemplate -> omero-blitz …); parts with no counterpart become warnings.
 *
 * Loading is all-or-nothing: on any error NULL is returned and err->msg reads "FILE:LINE: reason".
 * A deployment is not locked: use one from one thread at a time. libxml2 wants xmlInitParser()
 * called once from main before threads load XML descriptors concurrently. */
#ifndef REG_DESCRIPTOR_H
#define REG_DESCRIPTOR_H
#include <jansson.h>
#include "omr_error.h"

/* Configuration lookup: returns the value of `key` or NULL when unset. Used for OMERO's @key@
 * placeholders in XML descriptors and as the fallback for ${key} references that no descriptor
 * variable defines (e.g. ${omero.data.dir}). The returned string must stay valid until the next call. */
typedef const char *(*reg_prop_fn) (void *arg, const char *key);

typedef enum {
    REG_ACTIVATION_ALWAYS = 0,  /* started with the node, restarted when it dies */
    REG_ACTIVATION_MANUAL = 1   /* started only on request (omero admin ice server start X) */
} reg_activation_t;

typedef enum {
    REG_LB_RANDOM = 0,
    REG_LB_ORDERED,
    REG_LB_ROUND_ROBIN,
    REG_LB_ADAPTIVE
} reg_lb_t;

/* One property of a server, in the order the descriptor gives them (a later setting of the same
 * key replaces the value in place, as a later line in an Ice config file would). */
typedef struct {
    char *key;
    char *value;
} reg_prop_t;

/* One server as the registry or a node agent launches it. All strings are owned by the deployment. */
typedef struct {
    char *id;               /* unique server id: "Blitz-0", "OMERO.Glacier2", "my-emailer" */
    char *kind;             /* "blitz", "router", "indexer", "pixeldata", "tables", "processor",
                               "dropbox", or "exec" for an arbitrary program */
    char *node;             /* node name the server runs on ("master", "node1" …) */
    char *exe;              /* program to run: our binary ("omero-blitz") or the descriptor's exe */
    char **argv;            /* options after exe, NULL-terminated; nargv entries */
    int nargv;
    char **env;             /* "NAME=value" entries, NULL-terminated; nenv entries */
    int nenv;
    char *pwd;              /* working directory; "" = the node's default */
    reg_activation_t activation;
    reg_prop_t *props;      /* nprops ordered key/value pairs */
    int nprops;
    char *adapter;          /* adapter name, NULL when the descriptor gives none */
    char *replica_group;    /* replica group of its adapter, NULL when none */
    char *template_id;      /* template it was instantiated from, NULL for a plain server */
    char *file;             /* descriptor file and line that placed it on its node */
    int line;
    char fingerprint[65];   /* SHA-256 (hex) of the definition; see reg_server_fingerprint */
} reg_server_t;

/* A replica group: interchangeable servers whose adapters share one id. */
typedef struct {
    char *id;               /* "BlitzAdapters" */
    reg_lb_t lb;            /* load-balancing type */
    int n_replicas;         /* how many replicas a lookup returns; 0 = all */
    int load_sample;        /* adaptive only: 1, 5 or 15 (minutes of load average) */
    char **servers;         /* ids of member servers, nservers, in deployment order */
    int nservers;
    char *file;
    int line;
} reg_replica_group_t;

typedef struct reg_deployment reg_deployment_t;

/* Load a descriptor (YAML or XML, chosen by extension, else by content) with the given active
 * targets. props/props_arg (may be NULL) are kept for reg_deployment_apply_nodedescriptors, so they
 * must stay valid while that may still be called. Returns NULL and fills err on any error. */
reg_deployment_t *reg_deployment_load (const char *path, const char *const *targets, int ntargets,
                                       reg_prop_fn props, void *props_arg, omr_err_t *err);
/* Free a deployment and set *self to NULL. */
void reg_deployment_destroy (reg_deployment_t **self);

/* Apply omero.server.nodedescriptors ("master:Blitz-0,Tables-0 worker1:Processor-0") as OMERO's
 * _process_defaultxml does: node master keeps only its router, every listed "X-N" becomes an
 * instance of template XTemplate with index N (Blitz gets config=default, PixelData/Processor/
 * Tables get dir="") on the named node. An empty spec changes nothing. On error nothing changes.
 * Needs the templates, so it fails on a deployment made by reg_deployment_from_json. */
int reg_deployment_apply_nodedescriptors (reg_deployment_t *self, const char *spec, omr_err_t *err);

/* Application name ("OMERO"). */
const char *reg_deployment_name (const reg_deployment_t *self);
/* Path of the descriptor that was loaded ("" for one made from JSON). */
const char *reg_deployment_path (const reg_deployment_t *self);
/* Number of nodes, and the name of node i (declaration order). */
int reg_deployment_node_count (const reg_deployment_t *self);
const char *reg_deployment_node_name (const reg_deployment_t *self, int i);
/* Number of servers, and server i (nodes in order, servers in declaration order within a node). */
int reg_deployment_server_count (const reg_deployment_t *self);
const reg_server_t *reg_deployment_server (const reg_deployment_t *self, int i);
/* The server with this id, or NULL. */
const reg_server_t *reg_deployment_find_server (const reg_deployment_t *self, const char *id);
/* The servers of one node in a new NULL-terminated array the caller frees with free() (the servers
 * themselves stay owned by the deployment); *n receives the count (may be NULL). */
const reg_server_t **reg_deployment_node_servers (const reg_deployment_t *self, const char *node, int *n);
/* Replica groups. */
int reg_deployment_replica_group_count (const reg_deployment_t *self);
const reg_replica_group_t *reg_deployment_replica_group (const reg_deployment_t *self, int i);
const reg_replica_group_t *reg_deployment_find_replica_group (const reg_deployment_t *self, const char *id);
/* Warnings about descriptor parts that have no counterpart here (strings the caller prints). */
int reg_deployment_warning_count (const reg_deployment_t *self);
const char *reg_deployment_warning (const reg_deployment_t *self, int i);

/* A stable SHA-256 (hex) of everything that defines how a server runs (id, kind, node, exe, argv,
 * env, pwd, activation, properties, replica group; not the file/line it came from), so that a
 * redeploy restarts only servers whose fingerprint changed. */
const char *reg_server_fingerprint (const reg_server_t *server);
/* The value of a server property, or NULL. */
const char *reg_server_property (const reg_server_t *server, const char *key);
/* Names for the enums ("always", "round-robin" …). */
const char *reg_activation_name (reg_activation_t a);
const char *reg_lb_name (reg_lb_t lb);

/* How a server differs between two deployments (see reg_deployment_diff). */
typedef enum {
    REG_CHANGE_ADDED,       /* only in the new deployment: start it */
    REG_CHANGE_REMOVED,     /* only in the old one: stop it */
    REG_CHANGE_CHANGED      /* in both with different fingerprints: restart it */
} reg_change_t;

/* Called once per differing server; old_s or new_s is NULL for additions / removals. */
typedef void (*reg_change_fn) (void *arg, reg_change_t change, const reg_server_t *old_s,
                               const reg_server_t *new_s);

/* Compare by server id and fingerprint (what `omero admin deploy` restarts); unchanged servers are
 * not reported. Removals come first, then changes and additions in the new deployment's order.
 * fn may be NULL. Returns the number of differences. */
int reg_deployment_diff (const reg_deployment_t *old_d, const reg_deployment_t *new_d, reg_change_fn fn,
                         void *arg);

/* One server as a JSON object (the form node agents receive). */
json_t *reg_server_to_json (const reg_server_t *server);
/* The whole deployment as JSON: {"application", "nodes", "servers", "replica_groups", "warnings"}. */
json_t *reg_deployment_to_json (const reg_deployment_t *self);
/* The same form restricted to one node (its servers and the replica groups), for that node's
 * agent; NULL when the node is not in the deployment. */
json_t *reg_deployment_node_to_json (const reg_deployment_t *self, const char *node);
/* Rebuild a deployment from reg_deployment_to_json's form, validating it; fingerprints are
 * recomputed. Returns NULL and fills err when the JSON is not a valid deployment. */
reg_deployment_t *reg_deployment_from_json (const json_t *json, omr_err_t *err);

/* A human-readable description (as `omero admin ice application describe` prints); caller frees. */
char *reg_deployment_describe (const reg_deployment_t *self);
#endif
