/* pgembed: initdb/pg_ctl/psql driven as an unprivileged user for the private cluster. */
#include "pgembed.h"
#include "omr_util.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG_BIN_DEFAULT "/usr/lib/postgresql/15/bin"

bool
pg_embedded (cli_t *cli)
{
    const char *h = omr_config_get_set (cli->config, "omero.db.host");
    return !h || !*h;
}

int
pg_port (cli_t *cli)
{
    const char *p = omr_config_get_set (cli->config, "omero.db.port");
    if (p && *p)
        return atoi (p);
    const char *prefix = omr_config_get (cli->config, "omero.ports.prefix");
    char buf[32];
    snprintf (buf, sizeof buf, "%s4060", prefix ? prefix : "");
    return atoi (buf);
}

static const char *
pg_bindir (cli_t *cli)
{
    const char *b = omr_config_get_set (cli->config, "omero.db.embedded_bin");
    if (b && *b)
        return b;
    /* Prefer the newest installed major version. */
    static const char *cands[] = {"/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", PG_BIN_DEFAULT,
                                  "/usr/lib/postgresql/14/bin", "/usr/lib/postgresql/13/bin", NULL};
    for (int i = 0; cands[i]; i++) {
        char p[256];
        snprintf (p, sizeof p, "%s/pg_ctl", cands[i]);
        if (access (p, X_OK) == 0)
            return cands[i];
    }
    return PG_BIN_DEFAULT;
}

/* The OS user the cluster runs as: ourselves, or (as root) omero.db.embedded_user / postgres. */
static int
pg_user (cli_t *cli, uid_t *uid, gid_t *gid, omr_err_t *err)
{
    if (geteuid () != 0) {
        *uid = geteuid ();
        *gid = getegid ();
        return 0;
    }
    const char *name = omr_config_get_set (cli->config, "omero.db.embedded_user");
    if (!name || !*name)
        name = "postgres";
    struct passwd *pw = getpwnam (name);
    if (!pw)
        return omr_err_set (err, OMR_E_CONFIG, 500,
                            "PostgreSQL refuses to run as root and there is no user `%s' to run the embedded "
                            "database as: install postgresql (which creates it) or set omero.db.embedded_user",
                            name);
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

/* Run argv as the cluster's user; output to logfd (or inherited when -1). Returns exit status. */
static int
run_as (uid_t uid, gid_t gid, char *const argv[], int outfd, const char *input)
{
    int in[2] = {-1, -1};
    if (input && pipe (in) < 0)
        return -1;
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (input) {
            dup2 (in[0], 0);
            close (in[0]);
            close (in[1]);
        }
        else {
            int dn = open ("/dev/null", O_RDONLY);
            dup2 (dn, 0);
        }
        if (outfd >= 0) {
            dup2 (outfd, 1);
            dup2 (outfd, 2);
        }
        if (geteuid () == 0) {
            if (setgroups (0, NULL) < 0 || setgid (gid) < 0 || setuid (uid) < 0)
                _exit (126);
        }
        setsid ();
        execv (argv[0], argv);
        _exit (127);
    }
    if (input) {
        close (in[0]);
        size_t left = strlen (input);
        const char *p = input;
        while (left > 0) {
            ssize_t w = write (in[1], p, left);
            if (w <= 0)
                break;
            p += w;
            left -= w;
        }
        close (in[1]);
    }
    int st;
    while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

static void
paths (cli_t *cli, char *db, char *data, char *run, char *log, size_t n)
{
    snprintf (db, n, "%s/var/db", cli->omerodir);
    snprintf (data, n, "%s/var/db/data", cli->omerodir);
    snprintf (run, n, "%s/var/db/run", cli->omerodir);
    snprintf (log, n, "%s/var/log/postgresql.log", cli->omerodir);
}

static bool
port_free (int port)
{
    int s = socket (AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return false;
    int one = 1;
    setsockopt (s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons (port)};
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    int ok = bind (s, (struct sockaddr *) &a, sizeof a) == 0;
    close (s);
    return ok;
}

bool
pg_running (cli_t *cli, int *port)
{
    char db[4096], data[4096], run[4096], log[4096];
    paths (cli, db, data, run, log, sizeof db);
    char pidfile[4200];
    snprintf (pidfile, sizeof pidfile, "%s/postmaster.pid", data);
    char *txt = omr_read_file (pidfile, NULL, NULL);
    if (!txt)
        return false;
    /* postmaster.pid: pid, datadir, start time, port, socket dir … one per line */
    int pid = atoi (txt);
    char *l = txt;
    for (int i = 0; i < 3 && l; i++) {
        l = strchr (l, '\n');
        if (l)
            l++;
    }
    if (port)
        *port = l ? atoi (l) : 0;
    free (txt);
    return omr_pid_alive (pid);
}

static void
random_password (char *out, size_t n)
{
    static const char al[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    unsigned char b[64];
    RAND_bytes (b, sizeof b);
    size_t i;
    for (i = 0; i + 1 < n && i < sizeof b; i++)
        out[i] = al[b[i] % (sizeof al - 1)];
    out[i] = 0;
}

/* Make the path reachable check explicit: the cluster user must traverse every parent. */
static int
check_reachable (uid_t uid, gid_t gid, const char *dir, omr_err_t *err)
{
    if (geteuid () != 0)
        return 0;
    char buf[4096];
    snprintf (buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char save = *p;
            *p = 0;
            struct stat st;
            if (stat (buf, &st) == 0) {
                int ok = (st.st_uid == uid && (st.st_mode & S_IXUSR)) || (st.st_gid == gid && (st.st_mode & S_IXGRP))
                         || (st.st_mode & S_IXOTH);
                if (!ok)
                    return omr_err_set (err, OMR_E_CONFIG, 500,
                                        "the embedded PostgreSQL runs as an unprivileged user (uid %d) that cannot "
                                        "enter %s: run `chmod o+x %s` or configure omero.db.host",
                                        (int) uid, buf, buf);
            }
            *p = save;
            if (!save)
                break;
        }
    }
    return 0;
}

int
pg_start (cli_t *cli, omr_err_t *err)
{
    uid_t uid;
    gid_t gid;
    if (pg_user (cli, &uid, &gid, err) < 0)
        return -1;
    char db[4096], data[4096], run[4096], log[4096], pgver[4200];
    paths (cli, db, data, run, log, sizeof db);
    const char *bin = pg_bindir (cli);
    char initdb[512], pgctl[512], psql[512];
    snprintf (initdb, sizeof initdb, "%s/initdb", bin);
    snprintf (pgctl, sizeof pgctl, "%s/pg_ctl", bin);
    snprintf (psql, sizeof psql, "%s/psql", bin);
    if (access (pgctl, X_OK) != 0)
        return omr_err_set (err, OMR_E_CONFIG, 500,
                            "PostgreSQL server programs not found in %s: install the postgresql package (make deps) "
                            "or configure omero.db.host",
                            bin);
    int port = pg_port (cli), running_port = 0;
    if (pg_running (cli, &running_port)) {
        if (!cli->quiet)
            printf ("Embedded PostgreSQL already running on port %d\n", running_port);
        return 0;
    }
    char logdir[4096];
    snprintf (logdir, sizeof logdir, "%s/var/log", cli->omerodir);
    if (omr_mkdirs (db, 0700, err) < 0 || omr_mkdirs (logdir, 0755, err) < 0)
        return -1;
    char var[4200];
    snprintf (var, sizeof var, "%s/var", cli->omerodir);
    if (check_reachable (uid, gid, var, err) < 0)
        return -1;
    if (geteuid () == 0 && chown (db, uid, gid) < 0)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot hand %s to the database user: %s", db, strerror (errno));
    if (!port_free (port))
        return omr_err_set (err, OMR_E_CONFIG, 500,
                            "port %d, wanted by the embedded PostgreSQL, is in use by another program: set "
                            "omero.ports.prefix or omero.db.port",
                            port);
    int logfd = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (logfd < 0)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot write %s: %s", log, strerror (errno));
    if (geteuid () == 0 && fchown (logfd, uid, gid) < 0) {
        /* the server can still log to stderr */
    }
    snprintf (pgver, sizeof pgver, "%s/PG_VERSION", data);
    bool fresh = access (pgver, R_OK) != 0;
    char dbyaml[4200];
    snprintf (dbyaml, sizeof dbyaml, "%s/var/master/db.yaml", cli->omerodir);
    if (fresh) {
        if (!cli->quiet)
            printf ("Creating the embedded PostgreSQL cluster in %s\n", data);
        omr_mkdirs (data, 0700, NULL);
        omr_mkdirs (run, 0700, NULL);
        if (geteuid () == 0) {
            if (chown (db, uid, gid) < 0 || chown (data, uid, gid) < 0 || chown (run, uid, gid) < 0) {
                close (logfd);
                return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot hand %s to the database user: %s", db,
                                    strerror (errno));
            }
        }
        char *argv[] = {initdb, "-D", data, "-U", "postgres", "-E", "UTF8", "--locale=C", "--auth-local=trust",
                        "--auth-host=scram-sha-256", NULL};
        if (run_as (uid, gid, argv, logfd, NULL) != 0) {
            close (logfd);
            return omr_err_set (err, OMR_E_RESOURCE, 500, "initdb failed: see %s", log);
        }
    }
    else {
        omr_mkdirs (run, 0700, NULL);
        if (geteuid () == 0 && chown (run, uid, gid) < 0) {
            close (logfd);
            return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot hand %s to the database user", run);
        }
    }
    char opts[4400];
    snprintf (opts, sizeof opts,
              "-p %d -k %s -c listen_addresses=127.0.0.1 -c unix_socket_permissions=0700 -c max_connections=200 "
              "-c shared_buffers=128MB -c fsync=on",
              port, run);
    char *start[] = {pgctl, "-D", data, "-o", opts, "-l", log, "-w", "-t", "60", "start", NULL};
    if (run_as (uid, gid, start, logfd, NULL) != 0) {
        close (logfd);
        return omr_err_set (err, OMR_E_RESOURCE, 500, "the embedded PostgreSQL did not start: see %s", log);
    }
    if (fresh || access (dbyaml, R_OK) != 0) {
        char pass[33];
        random_password (pass, sizeof pass);
        char sql[1024];
        snprintf (sql, sizeof sql,
                  "\\set ON_ERROR_STOP on\n"
                  "DROP DATABASE IF EXISTS omero;\n"
                  "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='omero') THEN "
                  "CREATE ROLE omero LOGIN; END IF; END$$;\n"
                  "ALTER ROLE omero PASSWORD '%s' NOSUPERUSER NOCREATEROLE NOCREATEDB;\n"
                  "CREATE DATABASE omero OWNER omero ENCODING 'UTF8';\n",
                  pass);
        char portstr[16];
        snprintf (portstr, sizeof portstr, "%d", port);
        char *argv[] = {psql, "-X", "-q", "-h", run, "-p", portstr, "-U", "postgres", "-d", "postgres", NULL};
        if (run_as (uid, gid, argv, logfd, sql) != 0) {
            close (logfd);
            return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot create the omero database: see %s", log);
        }
        char schema[4200];
        snprintf (schema, sizeof schema, "%s/share/omero/schema.sql", cli->omerodir);
        if (access (schema, R_OK) == 0) {
            if (!cli->quiet)
                printf ("Loading the OMERO schema into the embedded database\n");
            char *load[] = {psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", run, "-p", portstr, "-U", "omero", "-d",
                            "omero", "-f", schema, NULL};
            /* psql runs as the database user, which may not read the installation's share/: feed stdin. */
            char *text = omr_read_file (schema, NULL, err);
            if (!text) {
                close (logfd);
                return -1;
            }
            load[14] = "-";
            int rc = run_as (uid, gid, load, logfd, text);
            free (text);
            if (rc != 0) {
                close (logfd);
                return omr_err_set (err, OMR_E_RESOURCE, 500, "loading %s failed: see %s", schema, log);
            }
        }
        char yaml[1024];
        int n = snprintf (yaml, sizeof yaml,
                          "\"omero.db.host\": \"127.0.0.1\"\n\"omero.db.port\": \"%d\"\n\"omero.db.name\": \"omero\"\n"
                          "\"omero.db.user\": \"omero\"\n\"omero.db.pass\": \"%s\"\n",
                          port, pass);
        char master[4200];
        snprintf (master, sizeof master, "%s/var/master", cli->omerodir);
        if (omr_mkdirs (master, 0700, err) < 0 || omr_write_file (dbyaml, yaml, n, 0600, err) < 0) {
            close (logfd);
            return -1;
        }
    }
    else {
        /* The port may have changed with omero.ports.prefix: keep db.yaml in step. */
        omr_config_t *c = omr_config_new ();
        omr_config_load_file (c, dbyaml, NULL);
        char ps[16];
        snprintf (ps, sizeof ps, "%d", port);
        omr_config_set (c, "omero.db.port", ps);
        omr_config_save_file (c, dbyaml, NULL);
        chmod (dbyaml, 0600);
        omr_config_destroy (&c);
    }
    close (logfd);
    if (!cli->quiet)
        printf ("Embedded PostgreSQL running on 127.0.0.1:%d (data in %s)\n", port, data);
    return 0;
}

int
pg_stop (cli_t *cli, omr_err_t *err)
{
    if (!pg_running (cli, NULL))
        return 0;
    uid_t uid;
    gid_t gid;
    if (pg_user (cli, &uid, &gid, err) < 0)
        return -1;
    char db[4096], data[4096], run[4096], log[4096];
    paths (cli, db, data, run, log, sizeof db);
    char pgctl[512];
    snprintf (pgctl, sizeof pgctl, "%s/pg_ctl", pg_bindir (cli));
    int logfd = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    char *argv[] = {pgctl, "-D", data, "-m", "fast", "-w", "-t", "60", "stop", NULL};
    int rc = run_as (uid, gid, argv, logfd, NULL);
    if (logfd >= 0)
        close (logfd);
    if (rc != 0)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "the embedded PostgreSQL did not stop: see %s", log);
    if (!cli->quiet)
        printf ("Embedded PostgreSQL stopped\n");
    return 0;
}

int
pg_check_site (cli_t *cli, omr_err_t *err)
{
    const char *keys[] = {"host", "port", "dbname", "user", "password", "connect_timeout", NULL};
    char port[16];
    snprintf (port, sizeof port, "%s", omr_config_get (cli->config, "omero.db.port"));
    const char *vals[] = {omr_config_get (cli->config, "omero.db.host"), port,
                          omr_config_get (cli->config, "omero.db.name"), omr_config_get (cli->config, "omero.db.user"),
                          omr_config_get (cli->config, "omero.db.pass"), "5", NULL};
    PGconn *c = PQconnectdbParams (keys, vals, 0);
    if (PQstatus (c) != CONNECTION_OK) {
        char msg[600];
        snprintf (msg, sizeof msg, "%s", PQerrorMessage (c));
        msg[strcspn (msg, "\n")] = 0;
        PQfinish (c);
        return omr_err_set (err, OMR_E_CONFIG, 500,
                            "database unreachable (omero.db.host=%s port %s, database %s, user %s): %s. Check "
                            "omero.db.* (`omero config get`) and that PostgreSQL runs",
                            vals[0], port, vals[2], vals[3], msg);
    }
    PQfinish (c);
    return 0;
}
