/* launch: fork/exec of grid servers with their identity in the environment. */
#include "launch.h"
#include "omr_log.h"
#include "omr_util.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *
reg_launch_resolve (const reg_launch_ctx_t *ctx, const char *exe, omr_err_t *err)
{
    char path[4096];
    if (!exe || !*exe) {
        omr_err_set (err, OMR_E_CONFIG, 500, "no executable given");
        return NULL;
    }
    if (strchr (exe, '/')) {
        if (exe[0] == '/')
            snprintf (path, sizeof path, "%s", exe);
        else
            snprintf (path, sizeof path, "%s/%s", ctx->omerodir, exe);
        if (access (path, X_OK) == 0)
            return strdup (path);
        omr_err_set (err, OMR_E_CONFIG, 500, "executable not found: %s (%s)", exe,
                     errno == EACCES ? "not executable" : "no such file");
        return NULL;
    }
    snprintf (path, sizeof path, "%s/bin/%s", ctx->omerodir, exe);
    if (access (path, X_OK) == 0)
        return strdup (path);
    const char *pathenv = getenv ("PATH");
    char *copy = strdup (pathenv ? pathenv : "/usr/bin:/bin");
    for (char *dir = strtok (copy, ":"); dir; dir = strtok (NULL, ":")) {
        snprintf (path, sizeof path, "%s/%s", dir, exe);
        if (access (path, X_OK) == 0) {
            free (copy);
            return strdup (path);
        }
    }
    free (copy);
    omr_err_set (err, OMR_E_CONFIG, 500,
                 "executable not found: %s (looked in %s/bin and PATH); fix the descriptor or install it", exe,
                 ctx->omerodir);
    return NULL;
}

static void
yaml_quoted (FILE *f, const char *s)
{
    fputc ('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc ('\\', f);
        if (*s == '\n')
            fputs ("\\n", f);
        else
            fputc (*s, f);
    }
    fputc ('"', f);
}

static int
write_props (const reg_launch_ctx_t *ctx, const reg_server_t *srv, const char *path, omr_err_t *err)
{
    char tmp[4200];
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen (tmp, "w");
    if (!f)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot write %s: %s", tmp, strerror (errno));
    fchmod (fileno (f), 0600);
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *) ctx->extra_props, k, v) {
        if (!json_is_string (v))
            continue;
        yaml_quoted (f, k);
        fputs (": ", f);
        yaml_quoted (f, json_string_value (v));
        fputc ('\n', f);
    }
    for (int i = 0; i < srv->nprops; i++) {
        yaml_quoted (f, srv->props[i].key);
        fputs (": ", f);
        yaml_quoted (f, srv->props[i].value ? srv->props[i].value : "");
        fputc ('\n', f);
    }
    if (fclose (f) != 0 || rename (tmp, path) != 0)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot write %s: %s", path, strerror (errno));
    return 0;
}

pid_t
reg_launch (const reg_launch_ctx_t *ctx, const reg_server_t *srv, omr_err_t *err)
{
    char *exe = reg_launch_resolve (ctx, srv->exe, err);
    if (!exe)
        return -1;
    char dir[4096], props[4400], pidpath[4400], logdir[4096], logpath[4400];
    snprintf (dir, sizeof dir, "%s/servers", ctx->statedir);
    snprintf (logdir, sizeof logdir, "%s/var/log", ctx->omerodir);
    if (omr_mkdirs (dir, 0700, err) < 0 || omr_mkdirs (logdir, 0755, err) < 0) {
        free (exe);
        return -1;
    }
    snprintf (props, sizeof props, "%s/%s.yaml", dir, srv->id);
    snprintf (pidpath, sizeof pidpath, "%s/%s.pid", dir, srv->id);
    snprintf (logpath, sizeof logpath, "%s/%s.log", logdir, srv->id);
    if (write_props (ctx, srv, props, err) < 0) {
        free (exe);
        return -1;
    }
    int logfd = open (logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (logfd < 0) {
        omr_err_set (err, OMR_E_RESOURCE, 500, "cannot open %s: %s", logpath, strerror (errno));
        free (exe);
        return -1;
    }
    char cwd[4096];
    if (srv->pwd && *srv->pwd)
        snprintf (cwd, sizeof cwd, "%s%s%s", srv->pwd[0] == '/' ? "" : ctx->omerodir, srv->pwd[0] == '/' ? "" : "/",
                  srv->pwd);
    else
        snprintf (cwd, sizeof cwd, "%s", ctx->omerodir);
    /* An error pipe tells the parent whether exec worked (close-on-exec: EOF = success). */
    int ep[2];
    if (pipe2 (ep, O_CLOEXEC) < 0) {
        close (logfd);
        free (exe);
        return omr_err_set (err, OMR_E_RESOURCE, 500, "pipe: %s", strerror (errno));
    }
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid < 0) {
        close (logfd);
        close (ep[0]);
        close (ep[1]);
        free (exe);
        return omr_err_set (err, OMR_E_RESOURCE, 500, "fork: %s", strerror (errno));
    }
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        if (getppid () != parent)
            _exit (127);
        setpgid (0, 0);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        signal (SIGPIPE, SIG_DFL);
        signal (SIGTERM, SIG_DFL);
        signal (SIGINT, SIG_DFL);
        int devnull = open ("/dev/null", O_RDONLY);
        dup2 (devnull, 0);
        dup2 (logfd, 1);
        dup2 (logfd, 2);
        const char *stage = "chdir";
        if (chdir (cwd) == 0) {
            setenv ("OMERODIR", ctx->omerodir, 1);
            setenv ("OMERO_SERVER_ID", srv->id, 1);
            setenv ("OMERO_NODE", ctx->node, 1);
            setenv ("OMERO_REGISTRY", ctx->registry, 1);
            setenv ("OMERO_NODE_HOST", ctx->host, 1);
            setenv ("OMERO_SERVER_PROPS", props, 1);
            setenv ("OMERO_LOGFILE", logpath, 1);
            setenv ("OMERO_KEYDIR", ctx->keydir, 1);
            for (int i = 0; i < srv->nenv; i++)
                putenv (strdup (srv->env[i]));
            char **argv = calloc (srv->nargv + 2, sizeof (char *));
            argv[0] = exe;
            for (int i = 0; i < srv->nargv; i++)
                argv[i + 1] = srv->argv[i];
            stage = "exec";
            execv (exe, argv);
        }
        int e = errno;
        char msg[512];
        int n = snprintf (msg, sizeof msg, "%s %s: %s", stage, stage[0] == 'c' ? cwd : exe, strerror (e));
        if (write (ep[1], msg, n) < 0) {
            /* parent sees EOF and treats the start as failed by the exit status */
        }
        _exit (127);
    }
    close (ep[1]);
    close (logfd);
    char msg[512];
    ssize_t n = read (ep[0], msg, sizeof msg - 1);
    close (ep[0]);
    if (n > 0) {
        msg[n] = 0;
        waitpid (pid, NULL, 0);
        free (exe);
        return omr_err_set (err, OMR_E_CONFIG, 500, "cannot start %s: %s", srv->id, msg);
    }
    char pidtxt[32];
    int len = snprintf (pidtxt, sizeof pidtxt, "%d\n", (int) pid);
    omr_write_file (pidpath, pidtxt, len, 0644, NULL);
    free (exe);
    return pid;
}

void
reg_launch_forget (const reg_launch_ctx_t *ctx, const char *id)
{
    char path[4400];
    snprintf (path, sizeof path, "%s/servers/%s.pid", ctx->statedir, id);
    unlink (path);
}

int
reg_launch_reap_orphans (const reg_launch_ctx_t *ctx, int timeout_ms)
{
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/servers", ctx->statedir);
    DIR *d = opendir (dir);
    if (!d)
        return 0;
    pid_t pids[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir (d)) && n < 256) {
        size_t len = strlen (e->d_name);
        if (len < 5 || strcmp (e->d_name + len - 4, ".pid") != 0)
            continue;
        char path[4400];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        char *txt = omr_read_file (path, NULL, NULL);
        pid_t pid = txt ? (pid_t) atoi (txt) : 0;
        free (txt);
        unlink (path);
        /* Only a live process whose command line names this installation is ours. */
        if (pid <= 1 || !omr_pid_alive (pid))
            continue;
        char envpath[64];
        snprintf (envpath, sizeof envpath, "/proc/%d/environ", (int) pid);
        size_t elen = 0;
        char *env = omr_read_file (envpath, &elen, NULL);
        int ours = 0;
        char want[4200];
        snprintf (want, sizeof want, "OMERO_SERVER_PROPS=%s/", dir);
        for (size_t off = 0; env && off < elen; off += strlen (env + off) + 1)
            if (strncmp (env + off, want, strlen (want)) == 0)
                ours = 1;
        free (env);
        if (!ours)
            continue;
        omr_warn ("stopping %s (pid %d) left running by an earlier registry", e->d_name, (int) pid);
        kill (pid, SIGTERM);
        pids[n++] = pid;
    }
    closedir (d);
    int64_t end = omr_mono_ms () + timeout_ms;
    for (int i = 0; i < n; i++) {
        while (omr_pid_alive (pids[i]) && omr_mono_ms () < end)
            usleep (20000);
        if (omr_pid_alive (pids[i]))
            kill (pids[i], SIGKILL);
    }
    return n;
}
