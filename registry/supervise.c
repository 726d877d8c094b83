/* supervise: the supervision state machine of one node's servers. */
#include "supervise.h"
#include "omr_log.h"
#include "omr_util.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ACTIVATION_TIMEOUT_MS 60000     /* start → first heartbeat */
#define HEARTBEAT_TIMEOUT_MS 10000      /* active server silent this long is killed */
#define STABLE_MS 10000                 /* running this long resets the failure count */
#define MAX_FAILURES 5                  /* then disabled, as IceGrid disables failing servers */
#define STOP_TIMEOUT_MS 10000
#define EXEC_GRACE_MS 1000                /* exec servers: alive this long = active */

struct sup_t {
    reg_launch_ctx_t ctx;
    reg_deployment_t *dep;
    sup_proc_t **procs;
    int n;
};

const char *
sup_state_name (sup_state_t s)
{
    switch (s) {
    case SUP_ACTIVATING: return "activating";
    case SUP_ACTIVE: return "active";
    case SUP_DEACTIVATING: return "deactivating";
    default: return "inactive";
    }
}

sup_t *
sup_new (const reg_launch_ctx_t *ctx)
{
    sup_t *self = calloc (1, sizeof *self);
    self->ctx = *ctx;
    return self;
}

static bool
needs_heartbeat (const sup_proc_t *p)
{
    return p->def && strcmp (p->def->kind, "exec") != 0;
}

sup_proc_t *
sup_find (sup_t *self, const char *id)
{
    for (int i = 0; i < self->n; i++)
        if (strcmp (self->procs[i]->id, id) == 0)
            return self->procs[i];
    return NULL;
}

int
sup_count (sup_t *self)
{
    return self->n;
}

sup_proc_t *
sup_at (sup_t *self, int i)
{
    return (i >= 0 && i < self->n) ? self->procs[i] : NULL;
}

reg_deployment_t *
sup_deployment (sup_t *self)
{
    return self->dep;
}

static void
proc_signal (sup_t *self, sup_proc_t *p, int timeout_ms)
{
    if (p->pid > 0 && (p->state == SUP_ACTIVE || p->state == SUP_ACTIVATING)) {
        kill (p->pid, SIGTERM);
        p->state = SUP_DEACTIVATING;
        p->stop_deadline_ms = omr_mono_ms () + timeout_ms;
        omr_info ("stopping %s (pid %d)", p->id, (int) p->pid);
    }
}

static void
proc_start (sup_t *self, sup_proc_t *p)
{
    omr_err_t err = {0};
    pid_t pid = reg_launch (&self->ctx, p->def, &err);
    int64_t now = omr_mono_ms ();
    if (pid < 0) {
        snprintf (p->last_error, sizeof p->last_error, "%s", err.msg);
        p->failures++;
        p->next_start_ms = now + (1000LL << (p->failures < 5 ? p->failures : 5));
        omr_error ("%s", err.msg);
        if (p->failures >= MAX_FAILURES) {
            p->enabled = false;
            omr_error ("%s disabled after %d failed starts: %s", p->id, p->failures, p->last_error);
        }
        return;
    }
    p->pid = pid;
    p->state = SUP_ACTIVATING;
    p->started_ms = now;
    p->last_heartbeat_ms = 0;
    omr_info ("started %s (pid %d)", p->id, (int) pid);
}

static sup_proc_t *
proc_new (const reg_server_t *def)
{
    sup_proc_t *p = calloc (1, sizeof *p);
    p->def = def;
    p->id = strdup (def->id);
    p->enabled = true;
    return p;
}

static void
proc_free (sup_proc_t *p)
{
    free (p->id);
    free (p);
}

void
sup_deploy (sup_t *self, reg_deployment_t *dep, json_t *changed)
{
    json_t *started = json_array (), *restarted = json_array (), *stopped = json_array ();
    int n = 0;
    const reg_server_t **mine = reg_deployment_node_servers (dep, self->ctx.node, &n);
    /* Mark every current process as leaving unless the new deployment keeps it. */
    for (int i = 0; i < self->n; i++)
        self->procs[i]->removing = true;
    for (int i = 0; i < n; i++) {
        sup_proc_t *p = sup_find (self, mine[i]->id);
        if (!p) {
            p = proc_new (mine[i]);
            self->procs = realloc (self->procs, (self->n + 1) * sizeof (sup_proc_t *));
            self->procs[self->n++] = p;
            if (mine[i]->activation == REG_ACTIVATION_ALWAYS)
                json_array_append_new (started, json_string (p->id));
            continue;
        }
        p->removing = false;
        bool same = strcmp (reg_server_fingerprint (p->def), reg_server_fingerprint (mine[i])) == 0;
        p->def = mine[i];
        if (!same) {
            p->failures = 0;
            p->enabled = true;
            if (p->pid > 0) {
                proc_signal (self, p, STOP_TIMEOUT_MS);
                json_array_append_new (restarted, json_string (p->id));
            }
        }
    }
    free (mine);
    for (int i = 0; i < self->n; i++)
        if (self->procs[i]->removing) {
            self->procs[i]->def = NULL;
            if (self->procs[i]->pid > 0) {
                proc_signal (self, self->procs[i], STOP_TIMEOUT_MS);
                json_array_append_new (stopped, json_string (self->procs[i]->id));
            }
        }
    /* The old deployment's servers are no longer referenced by running entries. */
    reg_deployment_destroy (&self->dep);
    self->dep = dep;
    if (changed) {
        json_object_set_new (changed, "started", started);
        json_object_set_new (changed, "restarted", restarted);
        json_object_set_new (changed, "stopped", stopped);
    }
    else {
        json_decref (started);
        json_decref (restarted);
        json_decref (stopped);
    }
}

static void
reap (sup_t *self)
{
    int status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < self->n; i++) {
            sup_proc_t *p = self->procs[i];
            if (p->pid != pid)
                continue;
            int64_t now = omr_mono_ms ();
            bool expected = p->state == SUP_DEACTIVATING;
            p->exit_status = status;
            p->pid = 0;
            p->state = SUP_INACTIVE;
            reg_launch_forget (&self->ctx, p->id);
            if (expected) {
                omr_info ("%s stopped", p->id);
                p->next_start_ms = now;
                break;
            }
            if (WIFSIGNALED (status))
                snprintf (p->last_error, sizeof p->last_error, "killed by signal %d", WTERMSIG (status));
            else
                snprintf (p->last_error, sizeof p->last_error, "exited with status %d", WEXITSTATUS (status));
            if (now - p->started_ms < STABLE_MS)
                p->failures++;
            else
                p->failures = 1;
            p->restarts++;
            int64_t backoff = 250LL << (p->failures < 6 ? p->failures - 1 : 5);
            p->next_start_ms = now + backoff;
            omr_warn ("%s (pid %d) %s; restart in %lld ms (failure %d)", p->id, (int) pid, p->last_error,
                      (long long) backoff, p->failures);
            if (p->failures >= MAX_FAILURES && p->enabled) {
                p->enabled = false;
                omr_error ("%s disabled: it failed %d times in a row (%s). See var/log/%s.log, then "
                           "`omero admin ice server enable %s`",
                           p->id, p->failures, p->last_error, p->id, p->id);
            }
            break;
        }
    }
}

void
sup_tick (sup_t *self)
{
    reap (self);
    int64_t now = omr_mono_ms ();
    for (int i = 0; i < self->n; i++) {
        sup_proc_t *p = self->procs[i];
        if (p->state == SUP_DEACTIVATING && p->pid > 0 && now > p->stop_deadline_ms) {
            omr_warn ("%s (pid %d) did not stop in time: SIGKILL", p->id, (int) p->pid);
            kill (p->pid, SIGKILL);
            p->stop_deadline_ms = now + 60000;
        }
        /* A program that never heartbeats counts as active once it has survived a moment. */
        if (p->state == SUP_ACTIVATING && !needs_heartbeat (p) && now - p->started_ms > EXEC_GRACE_MS) {
            p->state = SUP_ACTIVE;
            omr_info ("%s is running (pid %d)", p->id, (int) p->pid);
        }
        if (p->state == SUP_ACTIVATING && now - p->started_ms > ACTIVATION_TIMEOUT_MS) {
            snprintf (p->last_error, sizeof p->last_error, "no heartbeat within %d s of start",
                      ACTIVATION_TIMEOUT_MS / 1000);
            omr_warn ("%s: %s; killing it", p->id, p->last_error);
            kill (p->pid, SIGKILL);
            p->state = SUP_DEACTIVATING;
            p->stop_deadline_ms = now + 60000;
            p->failures++;
        }
        /* Any server that has heartbeated (exec programs too, once they register) must keep it up. */
        if (p->state == SUP_ACTIVE && p->last_heartbeat_ms
            && now - p->last_heartbeat_ms > HEARTBEAT_TIMEOUT_MS) {
            snprintf (p->last_error, sizeof p->last_error, "stopped heartbeating");
            omr_warn ("%s (pid %d) stopped heartbeating; killing it", p->id, (int) p->pid);
            kill (p->pid, SIGKILL);
            p->state = SUP_DEACTIVATING;
            p->stop_deadline_ms = now + 60000;
        }
        if (p->state == SUP_INACTIVE && p->def && p->enabled && !p->removing
            && (p->def->activation == REG_ACTIVATION_ALWAYS || p->wanted) && now >= p->next_start_ms)
            proc_start (self, p);
    }
    /* Drop entries that left the deployment once their process is gone. */
    for (int i = 0; i < self->n; i++)
        if (self->procs[i]->removing && self->procs[i]->pid == 0) {
            proc_free (self->procs[i]);
            memmove (&self->procs[i], &self->procs[i + 1], (self->n - i - 1) * sizeof (sup_proc_t *));
            self->n--;
            i--;
        }
}

void
sup_heartbeat (sup_t *self, const char *id, pid_t pid)
{
    sup_proc_t *p = sup_find (self, id);
    if (!p || p->pid != pid)
        return;
    p->last_heartbeat_ms = omr_mono_ms ();
    if (p->state == SUP_ACTIVATING) {
        p->state = SUP_ACTIVE;
        omr_info ("%s is active (pid %d)", p->id, (int) pid);
    }
    if (p->state == SUP_ACTIVE && p->last_heartbeat_ms - p->started_ms > STABLE_MS)
        p->failures = 0;
}

void
sup_assume_alive (sup_t *self)
{
    for (int i = 0; i < self->n; i++) {
        sup_proc_t *p = self->procs[i];
        if (p->pid > 0 && (p->state == SUP_ACTIVE || p->state == SUP_ACTIVATING))
            sup_heartbeat (self, p->id, p->pid);
    }
}

int
sup_start (sup_t *self, const char *id, omr_err_t *err)
{
    sup_proc_t *p = sup_find (self, id);
    if (!p || p->removing)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no server %s on node %s", id, self->ctx.node);
    if (!p->enabled)
        return omr_err_set (err, OMR_E_API, 409, "server %s is disabled: `omero admin ice server enable %s` first",
                            id, id);
    p->wanted = true;
    if (p->state == SUP_INACTIVE) {
        p->next_start_ms = 0;
        proc_start (self, p);
        if (p->state == SUP_INACTIVE)
            return omr_err_set (err, OMR_E_API, 500, "%s", p->last_error);
    }
    return 0;
}

int
sup_stop (sup_t *self, const char *id, omr_err_t *err)
{
    sup_proc_t *p = sup_find (self, id);
    if (!p)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no server %s on node %s", id, self->ctx.node);
    p->wanted = false;
    /* An `always` server stopped by hand stays down until started again (IceGrid does the same). */
    if (p->def && p->def->activation == REG_ACTIVATION_ALWAYS)
        p->next_start_ms = INT64_MAX;
    proc_signal (self, p, STOP_TIMEOUT_MS);
    return 0;
}

int
sup_enable (sup_t *self, const char *id, bool enabled, omr_err_t *err)
{
    sup_proc_t *p = sup_find (self, id);
    if (!p)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no server %s on node %s", id, self->ctx.node);
    p->enabled = enabled;
    if (enabled) {
        p->failures = 0;
        p->next_start_ms = 0;
    }
    else
        proc_signal (self, p, STOP_TIMEOUT_MS);
    return 0;
}

void
sup_stop_all (sup_t *self, int timeout_ms)
{
    for (int i = 0; i < self->n; i++) {
        sup_proc_t *p = self->procs[i];
        p->enabled = false;
        p->wanted = false;
        proc_signal (self, p, timeout_ms);
    }
}

bool
sup_any_alive (sup_t *self)
{
    for (int i = 0; i < self->n; i++)
        if (self->procs[i]->pid > 0)
            return true;
    return false;
}

void
sup_destroy (sup_t **self_p, int timeout_ms)
{
    if (!self_p || !*self_p)
        return;
    sup_t *self = *self_p;
    sup_stop_all (self, timeout_ms);
    while (sup_any_alive (self)) {
        sup_tick (self);
        usleep (20000);
    }
    for (int i = 0; i < self->n; i++)
        proc_free (self->procs[i]);
    free (self->procs);
    reg_deployment_destroy (&self->dep);
    free (self);
    *self_p = NULL;
}

json_t *
sup_proc_json (const sup_proc_t *p)
{
    return json_pack ("{s:s,s:s,s:b,s:i,s:i,s:i,s:s,s:s}", "id", p->id, "state", sup_state_name (p->state),
                      "enabled", p->enabled, "pid", (int) p->pid, "restarts", p->restarts, "failures", p->failures,
                      "last_error", p->last_error, "activation",
                      p->def ? reg_activation_name (p->def->activation) : "");
}
