/* omero-registry: the master daemon (IceGrid registry + master node). Deploys the descriptor,
 * supervises node master's servers, keeps the directory of every server of every node, and
 * answers servers, node agents, routers and the CLI on a CURVE-authenticated ROUTER socket.
 *
 * usage: omero-registry DESCRIPTOR [TARGET…]   (started by `omero admin start`) */
#include "descriptor.h"
#include "launch.h"
#include "omr_config.h"
#include "omr_curve.h"
#include "omr_log.h"
#include "omr_msg.h"
#include "omr_util.h"
#include "supervise.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define NODE_TIMEOUT_MS 5000

typedef struct {
    char *id;
    char *node;
    char *kind;
    char *endpoint;
    pid_t pid;
    double load;
    json_t *services;
    bool curve;             /* its socket wants the grid's CURVE keys */
    int64_t last_hb;        /* monotonic ms */
    int64_t last_hb_wall;   /* epoch ms */
} dir_entry_t;

typedef struct {
    char *name;
    char *host;
    pid_t pid;
    int64_t last_hb;
    int64_t registered_wall;
    json_t *servers;        /* last report: [{id,pid,state,enabled,…}] */
    json_t *commands;       /* pending operator actions for the agent */
} node_entry_t;

typedef struct {
    char *omerodir, statedir[4096], keydir[4096], endpoint[256], host[256];
    omr_config_t *config;
    reg_deployment_t *dep;      /* the whole deployment (every node) */
    char *path;                 /* descriptor file */
    json_t *targets;
    json_t *extra_props;
    sup_t *sup;                 /* node master */
    reg_launch_ctx_t lctx;
    dir_entry_t **dir;
    int ndir;
    node_entry_t **nodes;
    int nnodes;
    int serial;                 /* deployment version for node agents */
    bool shutting_down;
} registry_t;

static volatile sig_atomic_t got_signal;
static void
on_signal (int sig)
{
    got_signal = sig;
}

static const char *
prop_lookup (void *arg, const char *key)
{
    return omr_config_get ((omr_config_t *) arg, key);
}

/* Load the descriptor and apply omero.server.nodedescriptors. */
static reg_deployment_t *
load_deployment (registry_t *r, const char *path, json_t *targets, omr_err_t *err)
{
    int n = (int) json_array_size (targets);
    const char **t = calloc (n + 1, sizeof (char *));
    for (int i = 0; i < n; i++)
        t[i] = json_string_value (json_array_get (targets, i));
    reg_deployment_t *dep = reg_deployment_load (path, t, n, prop_lookup, r->config, err);
    free (t);
    if (!dep)
        return NULL;
    const char *nd = omr_config_get (r->config, "omero.server.nodedescriptors");
    if (nd && *nd && reg_deployment_apply_nodedescriptors (dep, nd, err) < 0) {
        reg_deployment_destroy (&dep);
        return NULL;
    }
    for (int i = 0; i < reg_deployment_warning_count (dep); i++)
        omr_warn ("descriptor: %s", reg_deployment_warning (dep, i));
    return dep;
}

static reg_deployment_t *
copy_deployment (reg_deployment_t *dep)
{
    json_t *j = reg_deployment_to_json (dep);
    reg_deployment_t *c = reg_deployment_from_json (j, NULL);
    json_decref (j);
    return c;
}

static dir_entry_t *
dir_find (registry_t *r, const char *id)
{
    for (int i = 0; i < r->ndir; i++)
        if (strcmp (r->dir[i]->id, id) == 0)
            return r->dir[i];
    return NULL;
}

static void
dir_remove (registry_t *r, const char *id)
{
    for (int i = 0; i < r->ndir; i++)
        if (strcmp (r->dir[i]->id, id) == 0) {
            dir_entry_t *e = r->dir[i];
            free (e->id);
            free (e->node);
            free (e->kind);
            free (e->endpoint);
            json_decref (e->services);
            free (e);
            memmove (&r->dir[i], &r->dir[i + 1], (r->ndir - i - 1) * sizeof (dir_entry_t *));
            r->ndir--;
            return;
        }
}

static node_entry_t *
node_find (registry_t *r, const char *name)
{
    for (int i = 0; i < r->nnodes; i++)
        if (strcmp (r->nodes[i]->name, name) == 0)
            return r->nodes[i];
    return NULL;
}

static bool
node_alive (const node_entry_t *n)
{
    return n && omr_mono_ms () - n->last_hb < NODE_TIMEOUT_MS;
}

/* State of a server as the directory sees it: from supervision for master, from the node's
 * last report for others. */
static json_t *
server_status (registry_t *r, const reg_server_t *s)
{
    const char *state = "inactive";
    bool enabled = true;
    int pid = 0, restarts = 0;
    const char *last_error = "";
    if (strcmp (s->node, "master") == 0) {
        sup_proc_t *p = sup_find (r->sup, s->id);
        if (p) {
            state = sup_state_name (p->state);
            enabled = p->enabled;
            pid = p->pid;
            restarts = p->restarts;
            last_error = p->last_error;
        }
    }
    else {
        node_entry_t *n = node_find (r, s->node);
        if (node_alive (n)) {
            size_t i;
            json_t *v;
            json_array_foreach (n->servers, i, v) {
                if (strcmp (json_string_value (json_object_get (v, "id")), s->id) == 0) {
                    state = json_string_value (json_object_get (v, "state"));
                    enabled = json_is_true (json_object_get (v, "enabled"));
                    pid = (int) json_integer_value (json_object_get (v, "pid"));
                    restarts = (int) json_integer_value (json_object_get (v, "restarts"));
                    last_error = json_string_value (json_object_get (v, "last_error"));
                }
            }
        }
    }
    dir_entry_t *d = dir_find (r, s->id);
    json_t *o = json_pack ("{s:s,s:s,s:s,s:s,s:s,s:b,s:i,s:i,s:s}", "id", s->id, "node", s->node, "kind", s->kind,
                           "activation", reg_activation_name (s->activation), "state", state ? state : "inactive",
                           "enabled", enabled, "pid", pid, "restarts", restarts, "last_error",
                           last_error ? last_error : "");
    if (d && d->pid == pid && pid > 0) {
        json_object_set_new (o, "endpoint", json_string (d->endpoint));
        json_object_set_new (o, "load", json_real (d->load));
        json_object_set_new (o, "last_heartbeat_ms", json_integer (d->last_hb_wall));
        json_object_set (o, "services", d->services);
    }
    if (s->replica_group)
        json_object_set_new (o, "replica_group", json_string (s->replica_group));
    return o;
}

static const char *
policy_of (registry_t *r, const reg_server_t *s)
{
    if (s && s->replica_group) {
        const reg_replica_group_t *g = reg_deployment_find_replica_group (r->dep, s->replica_group);
        if (g)
            return reg_lb_name (g->lb);
    }
    return "round-robin";
}

static bool
has_service (json_t *services, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach (services, i, v) if (json_is_string (v) && strcmp (json_string_value (v), name) == 0) return true;
    return false;
}

static int
op_heartbeat (registry_t *r, json_t *b, json_t **out, omr_err_t *err)
{
    const char *id = json_string_value (json_object_get (b, "id"));
    const char *endpoint = json_string_value (json_object_get (b, "endpoint"));
    pid_t pid = (pid_t) json_integer_value (json_object_get (b, "pid"));
    if (!id || !endpoint || pid <= 0)
        return omr_err_set (err, OMR_E_API, 400, "heartbeat needs id, endpoint and pid");
    const reg_server_t *s = reg_deployment_find_server (r->dep, id);
    if (!s)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "server %s is not in the deployment", id);
    if (strcmp (s->node, "master") == 0) {
        sup_proc_t *p = sup_find (r->sup, id);
        if (!p || p->pid != pid)
            return omr_err_set (err, OMR_E_API, 409, "server %s is supervised as another process (pid %d, not %d)",
                                id, p ? (int) p->pid : 0, (int) pid);
        sup_heartbeat (r->sup, id, pid);
    }
    dir_entry_t *d = dir_find (r, id);
    if (!d) {
        d = calloc (1, sizeof *d);
        d->id = strdup (id);
        r->dir = realloc (r->dir, (r->ndir + 1) * sizeof (dir_entry_t *));
        r->dir[r->ndir++] = d;
    }
    if (d->pid != pid || !d->endpoint || strcmp (d->endpoint, endpoint) != 0)
        omr_info ("%s registered at %s (pid %d)", id, endpoint, (int) pid);
    free (d->node);
    free (d->kind);
    free (d->endpoint);
    d->node = strdup (json_string_value (json_object_get (b, "node")) ?: s->node);
    d->kind = strdup (json_string_value (json_object_get (b, "kind")) ?: s->kind);
    d->endpoint = strdup (endpoint);
    d->pid = pid;
    d->load = json_number_value (json_object_get (b, "load"));
    d->curve = json_is_true (json_object_get (b, "curve"));
    json_decref (d->services);
    d->services = json_incref (json_object_get (b, "services"));
    if (!d->services)
        d->services = json_array ();
    d->last_hb = omr_mono_ms ();
    d->last_hb_wall = omr_now_ms ();
    *out = json_object ();
    return 0;
}

/* Whether the directory entry is a live, active, enabled instance. */
static bool
entry_usable (registry_t *r, dir_entry_t *d)
{
    if (omr_mono_ms () - d->last_hb > 3000)
        return false;
    const reg_server_t *s = reg_deployment_find_server (r->dep, d->id);
    if (!s)
        return false;
    if (strcmp (s->node, "master") == 0) {
        /* The hot path of every lookup: read supervision state directly. */
        sup_proc_t *p = sup_find (r->sup, d->id);
        return p && p->state == SUP_ACTIVE && p->enabled && p->pid == d->pid;
    }
    json_t *st = server_status (r, s);
    bool ok = strcmp (json_string_value (json_object_get (st, "state")), "active") == 0
              && json_is_true (json_object_get (st, "enabled"))
              && json_integer_value (json_object_get (st, "pid")) == d->pid;
    json_decref (st);
    return ok;
}

static int
op_lookup (registry_t *r, json_t *b, json_t **out, omr_err_t *err)
{
    const char *service = json_string_value (json_object_get (b, "service"));
    const char *id = json_string_value (json_object_get (b, "id"));
    const char *kind = json_string_value (json_object_get (b, "kind"));
    json_t *list = json_array ();
    const char *policy = "round-robin";
    for (int i = 0; i < r->ndir; i++) {
        dir_entry_t *d = r->dir[i];
        if ((service && !has_service (d->services, service)) || (id && strcmp (d->id, id) != 0)
            || (kind && strcmp (d->kind, kind) != 0))
            continue;
        if (!entry_usable (r, d))
            continue;
        policy = policy_of (r, reg_deployment_find_server (r->dep, d->id));
        json_array_append_new (list, json_pack ("{s:s,s:s,s:s,s:f,s:i,s:b}", "id", d->id, "node", d->node, "endpoint",
                                                d->endpoint, "load", d->load, "pid", (int) d->pid, "curve", d->curve));
    }
    *out = json_pack ("{s:s,s:o}", "policy", policy, "servers", list);
    return 0;
}

static json_t *
nodes_json (registry_t *r)
{
    json_t *a = json_array ();
    json_array_append_new (a, json_pack ("{s:s,s:s,s:i,s:b}", "name", "master", "host",
                                         omr_config_get (r->config, "omero.master.host"), "pid", (int) getpid (),
                                         "up", 1));
    for (int i = 0; i < r->nnodes; i++) {
        node_entry_t *n = r->nodes[i];
        json_array_append_new (a, json_pack ("{s:s,s:s,s:i,s:b}", "name", n->name, "host", n->host, "pid",
                                             (int) n->pid, "up", node_alive (n)));
    }
    /* Nodes the descriptor names that never registered. */
    for (int i = 0; i < reg_deployment_node_count (r->dep); i++) {
        const char *name = reg_deployment_node_name (r->dep, i);
        if (strcmp (name, "master") != 0 && !node_find (r, name))
            json_array_append_new (a, json_pack ("{s:s,s:s,s:i,s:b}", "name", name, "host", "", "pid", 0, "up", 0));
    }
    return a;
}

static int
op_list (registry_t *r, json_t **out)
{
    json_t *servers = json_array ();
    for (int i = 0; i < reg_deployment_server_count (r->dep); i++)
        json_array_append_new (servers, server_status (r, reg_deployment_server (r->dep, i)));
    *out = json_pack ("{s:o,s:o,s:s,s:s,s:i}", "servers", servers, "nodes", nodes_json (r), "descriptor", r->path,
                      "application", reg_deployment_name (r->dep), "pid", (int) getpid ());
    json_object_set (*out, "targets", r->targets);
    return 0;
}

static int
op_server (registry_t *r, json_t *b, json_t **out, omr_err_t *err)
{
    const char *action = json_string_value (json_object_get (b, "action"));
    const char *id = json_string_value (json_object_get (b, "id"));
    if (!action || !id)
        return omr_err_set (err, OMR_E_API, 400, "server action needs action and id");
    const reg_server_t *s = reg_deployment_find_server (r->dep, id);
    if (!s)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "server `%s' does not exist", id);
    bool local = strcmp (s->node, "master") == 0;
    int rc = 0;
    if (!strcmp (action, "state") || !strcmp (action, "pid")) {
        /* read-only */
    }
    else if (local) {
        if (!strcmp (action, "start"))
            rc = sup_start (r->sup, id, err);
        else if (!strcmp (action, "stop"))
            rc = sup_stop (r->sup, id, err);
        else if (!strcmp (action, "enable"))
            rc = sup_enable (r->sup, id, true, err);
        else if (!strcmp (action, "disable"))
            rc = sup_enable (r->sup, id, false, err);
        else
            return omr_err_set (err, OMR_E_API, 400, "unknown server action %s", action);
    }
    else {
        node_entry_t *n = node_find (r, s->node);
        if (!node_alive (n))
            return omr_err_set (err, OMR_E_UNAVAIL, 503, "node %s is not running: start it with `omero node %s start`",
                                s->node, s->node);
        json_array_append_new (n->commands, json_pack ("{s:s,s:s}", "action", action, "id", id));
    }
    if (rc < 0)
        return -1;
    *out = server_status (r, s);
    return 0;
}

static int
op_node_register (registry_t *r, json_t *b, json_t **out, omr_err_t *err)
{
    const char *name = json_string_value (json_object_get (b, "name"));
    const char *host = json_string_value (json_object_get (b, "host"));
    pid_t pid = (pid_t) json_integer_value (json_object_get (b, "pid"));
    if (!name || !*name || pid <= 0)
        return omr_err_set (err, OMR_E_API, 400, "node registration needs name and pid");
    if (strcmp (name, "master") == 0)
        return omr_err_set (err, OMR_E_API, 409, "node name master belongs to the registry");
    node_entry_t *n = node_find (r, name);
    if (n && node_alive (n) && (n->pid != pid || strcmp (n->host, host ? host : "") != 0))
        return omr_err_set (err, OMR_E_API, 409,
                            "node %s is already registered (pid %d on %s); stop that agent first or choose "
                            "another name",
                            name, (int) n->pid, n->host);
    if (!n) {
        n = calloc (1, sizeof *n);
        n->name = strdup (name);
        n->servers = json_array ();
        n->commands = json_array ();
        r->nodes = realloc (r->nodes, (r->nnodes + 1) * sizeof (node_entry_t *));
        r->nodes[r->nnodes++] = n;
    }
    free (n->host);
    n->host = strdup (host ? host : "");
    n->pid = pid;
    n->last_hb = omr_mono_ms ();
    n->registered_wall = omr_now_ms ();
    json_array_clear (n->commands);
    omr_info ("node %s registered (pid %d on %s)", name, (int) pid, n->host);
    *out = json_pack ("{s:i,s:o}", "serial", r->serial, "deployment", reg_deployment_to_json (r->dep));
    return 0;
}

static int
op_node_heartbeat (registry_t *r, json_t *b, json_t **out, omr_err_t *err)
{
    const char *name = json_string_value (json_object_get (b, "name"));
    pid_t pid = (pid_t) json_integer_value (json_object_get (b, "pid"));
    node_entry_t *n = name ? node_find (r, name) : NULL;
    if (!n || n->pid != pid)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "node %s is not registered", name ? name : "?");
    n->last_hb = omr_mono_ms ();
    json_decref (n->servers);
    n->servers = json_incref (json_object_get (b, "servers"));
    if (!n->servers)
        n->servers = json_array ();
    json_t *alive = json_array ();
    for (int i = 0; i < r->ndir; i++)
        if (r->dir[i]->node && strcmp (r->dir[i]->node, name) == 0 && omr_mono_ms () - r->dir[i]->last_hb < 3000)
            json_array_append_new (alive, json_pack ("{s:s,s:i}", "id", r->dir[i]->id, "pid", (int) r->dir[i]->pid));
    *out = json_pack ("{s:i,s:O,s:o}", "serial", r->serial, "commands", n->commands, "alive", alive);
    json_array_clear (n->commands);
    if (json_integer_value (json_object_get (b, "serial")) != r->serial)
        json_object_set_new (*out, "deployment", reg_deployment_to_json (r->dep));
    return 0;
}

static int
op_deploy (registry_t *r, json_t *b, json_t **out, omr_err_t *err)
{
    const char *file = json_string_value (json_object_get (b, "file"));
    json_t *targets = json_object_get (b, "targets");
    omr_config_t *fresh = omr_config_load_omerodir (r->omerodir, err);
    if (!fresh)
        return -1;
    omr_config_destroy (&r->config);
    r->config = fresh;
    reg_deployment_t *dep = load_deployment (r, file ? file : r->path, targets ? targets : r->targets, err);
    if (!dep)
        return -1;
    reg_deployment_t *mine = copy_deployment (dep);
    if (!mine) {
        reg_deployment_destroy (&dep);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "deployment could not be copied");
    }
    /* Directory entries of servers that left the deployment go. */
    for (int i = 0; i < r->ndir; i++)
        if (!reg_deployment_find_server (dep, r->dir[i]->id)) {
            dir_remove (r, r->dir[i]->id);
            i--;
        }
    json_t *changed = json_object ();
    sup_deploy (r->sup, mine, changed);
    reg_deployment_destroy (&r->dep);
    r->dep = dep;
    if (file) {
        free (r->path);
        r->path = strdup (file);
    }
    if (targets) {
        json_decref (r->targets);
        r->targets = json_incref (targets);
    }
    r->serial++;
    json_t *warnings = json_array ();
    for (int i = 0; i < reg_deployment_warning_count (dep); i++)
        json_array_append_new (warnings, json_string (reg_deployment_warning (dep, i)));
    json_object_set_new (changed, "warnings", warnings);
    omr_info ("deployed %s (serial %d)", r->path, r->serial);
    *out = changed;
    return 0;
}

static int
dispatch (registry_t *r, omr_msg_t *req, json_t **out, omr_err_t *err)
{
    const char *op = omr_msg_op (req);
    json_t *b = req->body;
    if (!strcmp (op, "Registry.heartbeat"))
        return op_heartbeat (r, b, out, err);
    if (!strcmp (op, "Registry.unregister")) {
        const char *id = json_string_value (json_object_get (b, "id"));
        dir_entry_t *d = id ? dir_find (r, id) : NULL;
        if (d && d->pid == (pid_t) json_integer_value (json_object_get (b, "pid")))
            dir_remove (r, id);
        *out = json_object ();
        return 0;
    }
    if (!strcmp (op, "Registry.lookup"))
        return op_lookup (r, b, out, err);
    if (!strcmp (op, "Registry.list"))
        return op_list (r, out);
    if (!strcmp (op, "Registry.server"))
        return op_server (r, b, out, err);
    if (!strcmp (op, "Registry.nodes")) {
        *out = json_pack ("{s:o}", "nodes", nodes_json (r));
        return 0;
    }
    if (!strcmp (op, "Registry.nodePing")) {
        const char *name = json_string_value (json_object_get (b, "name"));
        if (!name)
            return omr_err_set (err, OMR_E_API, 400, "nodePing needs name");
        if (strcmp (name, "master") == 0) {
            *out = json_pack ("{s:b,s:i}", "up", 1, "pid", (int) getpid ());
            return 0;
        }
        node_entry_t *n = node_find (r, name);
        if (node_alive (n)) {
            *out = json_pack ("{s:b,s:i,s:s}", "up", 1, "pid", (int) n->pid, "host", n->host);
            return 0;
        }
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "node `%s' is not running", name);
    }
    if (!strcmp (op, "Registry.describe")) {
        char *text = reg_deployment_describe (r->dep);
        *out = json_pack ("{s:s,s:o}", "text", text, "deployment", reg_deployment_to_json (r->dep));
        free (text);
        return 0;
    }
    if (!strcmp (op, "Registry.deploy"))
        return op_deploy (r, b, out, err);
    if (!strcmp (op, "Registry.shutdown")) {
        omr_info ("shutdown requested");
        r->shutting_down = true;
        sup_stop_all (r->sup, (int) omr_config_get_int (r->config, "omero.server.stop_timeout", 10000));
        *out = json_object ();
        return 0;
    }
    if (!strcmp (op, "Node.register"))
        return op_node_register (r, b, out, err);
    if (!strcmp (op, "Node.heartbeat"))
        return op_node_heartbeat (r, b, out, err);
    if (!strcmp (op, "Registry.ping")) {
        *out = json_pack ("{s:i}", "pid", (int) getpid ());
        return 0;
    }
    return omr_err_set (err, OMR_E_API, 404, "the registry has no operation %s", op);
}

static json_t *
load_extra_props (const char *omerodir)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/var/master/db.yaml", omerodir);
    omr_config_t *c = omr_config_new ();
    json_t *o = json_object ();
    if (omr_config_load_file (c, path, NULL) == 0)
        for (int i = 0; i < omr_config_size (c); i++) {
            const char *k = omr_config_key_at (c, i);
            json_object_set_new (o, k, json_string (omr_config_get_set (c, k)));
        }
    omr_config_destroy (&c);
    return o;
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: omero-registry DESCRIPTOR [TARGET…]\n");
        return 2;
    }
    registry_t reg = {0}, *r = &reg;
    omr_err_t err = {0};
    r->omerodir = omr_omerodir (&err);
    if (!r->omerodir) {
        fprintf (stderr, "omero-registry: %s\n", err.msg);
        return 1;
    }
    r->config = omr_config_load_omerodir (r->omerodir, &err);
    if (!r->config) {
        fprintf (stderr, "omero-registry: %s\n", err.msg);
        return 1;
    }
    omr_log_init ("", 0, 0, omr_log_level_parse (omr_config_get (r->config, "omero.logging.level")), "Registry");
    snprintf (r->statedir, sizeof r->statedir, "%s/var/master", r->omerodir);
    snprintf (r->keydir, sizeof r->keydir, "%s/etc/grid/keys", r->omerodir);
    if (omr_mkdirs (r->statedir, 0700, &err) < 0) {
        omr_error ("%s", err.msg);
        return 1;
    }
    /* One registry per installation. */
    char lockpath[4200];
    snprintf (lockpath, sizeof lockpath, "%s/registry.lock", r->statedir);
    int lockfd = open (lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0 || flock (lockfd, LOCK_EX | LOCK_NB) < 0) {
        omr_error ("another registry is running for %s", r->omerodir);
        return 3;
    }
    r->path = strdup (argv[1]);
    r->targets = json_array ();
    for (int i = 2; i < argc; i++)
        json_array_append_new (r->targets, json_string (argv[i]));
    r->dep = load_deployment (r, r->path, r->targets, &err);
    if (!r->dep) {
        omr_error ("%s", err.msg);
        return 1;
    }
    if (omr_curve_ensure (r->keydir, &err) < 0) {
        omr_error ("%s", err.msg);
        return 1;
    }
    int port = omr_config_port (r->config, "omero.ports.registry");
    /* Copied: r->config is replaced on every deploy. */
    snprintf (r->host, sizeof r->host, "%s", omr_config_get (r->config, "omero.master.host"));
    snprintf (r->endpoint, sizeof r->endpoint, "tcp://%s:%d", r->host, port);
    zsys_handler_set (NULL);
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    zactor_t *auth = NULL;
    if (omr_curve_server (sock, r->keydir, &auth, &err) < 0) {
        omr_error ("%s", err.msg);
        return 1;
    }
    zsock_set_linger (sock, 0);
    if (zsock_bind (sock, "%s", r->endpoint) < 0) {
        omr_error ("cannot listen on %s: %s. Is another program using port %d? Change omero.ports.prefix or "
                   "omero.ports.registry.",
                   r->endpoint, zmq_strerror (zmq_errno ()), port);
        zsock_destroy (&sock);
        zactor_destroy (&auth);
        return 4;
    }
    r->extra_props = load_extra_props (r->omerodir);
    r->lctx = (reg_launch_ctx_t) {r->omerodir, "master", r->endpoint, r->host, r->statedir, r->keydir, r->extra_props};
    int orphans = reg_launch_reap_orphans (&r->lctx, 5000);
    if (orphans)
        omr_warn ("stopped %d server(s) left by a previous registry", orphans);
    char pidtxt[32];
    snprintf (pidtxt, sizeof pidtxt, "%d\n", (int) getpid ());
    char pidpath[4200];
    snprintf (pidpath, sizeof pidpath, "%s/registry.pid", r->statedir);
    omr_write_file (pidpath, pidtxt, strlen (pidtxt), 0644, NULL);

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
    signal (SIGHUP, SIG_IGN);

    r->sup = sup_new (&r->lctx);
    sup_deploy (r->sup, copy_deployment (r->dep), NULL);
    omr_info ("registry for %s listening on %s; descriptor %s", r->omerodir, r->endpoint, r->path);

    zpoller_t *poller = zpoller_new (sock, NULL);
    int64_t stop_started = 0;
    for (;;) {
        if (got_signal && !r->shutting_down) {
            omr_info ("signal %d: stopping servers", (int) got_signal);
            r->shutting_down = true;
            sup_stop_all (r->sup, (int) omr_config_get_int (r->config, "omero.server.stop_timeout", 10000));
        }
        if (r->shutting_down) {
            if (!stop_started)
                stop_started = omr_mono_ms ();
            if (!sup_any_alive (r->sup))
                break;
        }
        zsock_t *which = zpoller_wait (poller, 50);
        if (which == sock) {
            /* Drain what is queued, then tick. */
            for (int k = 0; k < 1000; k++) {
                zmsg_t *m = zmsg_recv_nowait (sock);
                if (!m)
                    break;
                zframe_t *peer = zmsg_pop (m);
                omr_err_t e = {0};
                omr_msg_t *req = omr_msg_decode (&m, &e);
                omr_msg_t *rep;
                if (!req)
                    rep = omr_msg_new_error (NULL, &e);
                else {
                    json_t *out = NULL;
                    if (dispatch (r, req, &out, &e) < 0)
                        rep = omr_msg_new_error (req, &e);
                    else
                        rep = omr_msg_new_reply (req, out);
                }
                omr_msg_destroy (&req);
                zmsg_t *z = zmsg_new ();
                zmsg_append (z, &peer);
                z = omr_msg_encode (&rep, z);
                zmsg_send (&z, sock);
            }
        }
        sup_tick (r->sup);
    }
    omr_info ("every server stopped; registry exiting");
    zpoller_destroy (&poller);
    sup_destroy (&r->sup, 1000);
    zsock_destroy (&sock);
    zactor_destroy (&auth);
    unlink (pidpath);
    for (int i = r->ndir - 1; i >= 0; i--)
        dir_remove (r, r->dir[i]->id);
    free (r->dir);
    for (int i = 0; i < r->nnodes; i++) {
        free (r->nodes[i]->name);
        free (r->nodes[i]->host);
        json_decref (r->nodes[i]->servers);
        json_decref (r->nodes[i]->commands);
        free (r->nodes[i]);
    }
    free (r->nodes);
    reg_deployment_destroy (&r->dep);
    json_decref (r->targets);
    json_decref (r->extra_props);
    omr_config_destroy (&r->config);
    free (r->path);
    free (r->omerodir);
    close (lockfd);
    return 0;
}
