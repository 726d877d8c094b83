/* session_store: OMERO's on-disk session store (see session_store.h for the layout). */
#include "session_store.h"
#include "omr_util.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PORT "4064"

struct cli_store_t {
    char *dir;
};

/* ---- properties ---- */

const char *
cli_props_get (const cli_props_t *p, const char *key)
{
    for (int i = 0; p && i < p->n; i++)
        if (strcmp (p->keys[i], key) == 0)
            return p->vals[i];
    return NULL;
}

void
cli_props_set (cli_props_t *p, const char *key, const char *value)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp (p->keys[i], key) == 0) {
            if (value) {
                char *v = strdup (value);
                free (p->vals[i]);
                p->vals[i] = v;
            }
            else {
                free (p->keys[i]);
                free (p->vals[i]);
                memmove (p->keys + i, p->keys + i + 1, (size_t) (p->n - i - 1) * sizeof (char *));
                memmove (p->vals + i, p->vals + i + 1, (size_t) (p->n - i - 1) * sizeof (char *));
                p->n--;
            }
            return;
        }
    if (!value)
        return;
    char **k = realloc (p->keys, (size_t) (p->n + 1) * sizeof (char *));
    if (!k)
        return;
    p->keys = k;
    char **v = realloc (p->vals, (size_t) (p->n + 1) * sizeof (char *));
    if (!v)
        return;
    p->vals = v;
    p->keys[p->n] = strdup (key);
    p->vals[p->n] = strdup (value);
    p->n++;
}

void
cli_props_free (cli_props_t *p)
{
    for (int i = 0; i < p->n; i++) {
        free (p->keys[i]);
        free (p->vals[i]);
    }
    free (p->keys);
    free (p->vals);
    memset (p, 0, sizeof *p);
}

/* ---- paths ---- */

/* Percent-encode a host name as Python's quote(host, safe='') does. */
static void
escape_host (const char *host, char *out, size_t len)
{
    size_t o = 0;
    for (const unsigned char *s = (const unsigned char *) host; *s && o + 4 < len; s++) {
        if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')
            || *s == '_' || *s == '.' || *s == '-' || *s == '~')
            out[o++] = (char) *s;
        else
            o += (size_t) snprintf (out + o, len - o, "%%%02X", *s);
    }
    out[o] = 0;
}

static void
unescape_host (const char *in, char *out, size_t len)
{
    size_t o = 0;
    for (const char *s = in; *s && o + 1 < len; s++) {
        unsigned int c;
        if (*s == '%' && sscanf (s + 1, "%2x", &c) == 1 && s[1] && s[2]) {
            out[o++] = (char) c;
            s += 2;
        }
        else
            out[o++] = *s;
    }
    out[o] = 0;
}

/* A path component must not escape its directory. */
static bool
safe_name (const char *s)
{
    return s && *s && strcmp (s, ".") != 0 && strcmp (s, "..") != 0 && !strchr (s, '/');
}

char *
cli_store_path (const cli_store_t *self, const char *host, const char *user, const char *uuid,
                char *buf, size_t len)
{
    char eh[1024];
    escape_host (host, eh, sizeof eh);
    if (uuid)
        snprintf (buf, len, "%s/%s/%s/%s", self->dir, eh, user, uuid);
    else if (user)
        snprintf (buf, len, "%s/%s/%s", self->dir, eh, user);
    else
        snprintf (buf, len, "%s/%s", self->dir, eh);
    return buf;
}

static char *
read_trimmed (const char *path)
{
    char *s = omr_read_file (path, NULL, NULL);
    if (!s)
        return NULL;
    char *b = s;
    while (*b == ' ' || *b == '\n' || *b == '\r' || *b == '\t')
        b++;
    char *e = b + strlen (b);
    while (e > b && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\r' || e[-1] == '\t'))
        *--e = 0;
    if (!*b) {
        free (s);
        return NULL;
    }
    char *r = strdup (b);
    free (s);
    return r;
}

static int
write_text (const char *path, const char *text, omr_err_t *err)
{
    return omr_write_file (path, text, strlen (text), 0600, err);
}

/* ---- store ---- */

cli_store_t *
cli_store_open (const char *dir, omr_err_t *err)
{
    if (omr_mkdirs (dir, 0700, err) < 0) {
        omr_err_set (err, OMR_E_RESOURCE, 500, "Could not access session dir: %s", dir);
        return NULL;
    }
    struct stat st;
    if (stat (dir, &st) != 0 || !S_ISDIR (st.st_mode) || access (dir, W_OK | X_OK) != 0) {
        omr_err_set (err, OMR_E_RESOURCE, 500, "Could not access session dir: %s", dir);
        return NULL;
    }
    /* Session keys are passwords: keep the directory private. */
    chmod (dir, 0700);
    cli_store_t *self = calloc (1, sizeof *self);
    if (!self || !(self->dir = strdup (dir))) {
        free (self);
        omr_err_set (err, OMR_E_RESOURCE, 500, "out of memory");
        return NULL;
    }
    return self;
}

cli_store_t *
cli_store_new (omr_err_t *err)
{
    char dir[PATH_MAX];
    const char *sd = getenv ("OMERO_SESSIONDIR");
    const char *old = getenv ("OMERO_SESSION_DIR");
    const char *ud = getenv ("OMERO_USERDIR");
    const char *home = getenv ("HOME");
    if (sd && *sd)
        snprintf (dir, sizeof dir, "%s", sd);
    else if (old && *old)
        /* Deprecated since 5.1.1; it named the parent of omero/sessions. */
        snprintf (dir, sizeof dir, "%s/omero/sessions", old);
    else if (ud && *ud)
        snprintf (dir, sizeof dir, "%s/sessions", ud);
    else if (home && *home)
        snprintf (dir, sizeof dir, "%s/omero/sessions", home);
    else {
        omr_err_set (err, OMR_E_CONFIG, 500,
                     "Could not access session dir: neither OMERO_SESSIONDIR, OMERO_USERDIR nor HOME is set");
        return NULL;
    }
    return cli_store_open (dir, err);
}

void
cli_store_destroy (cli_store_t **self)
{
    if (!self || !*self)
        return;
    free ((*self)->dir);
    free (*self);
    *self = NULL;
}

const char *
cli_store_dir (const cli_store_t *self)
{
    return self->dir;
}

int
cli_store_add (cli_store_t *self, const char *host, const char *user, const char *uuid,
               const cli_props_t *props, omr_err_t *err)
{
    if (!safe_name (user) || !safe_name (uuid) || !host || !*host)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "bad session name %s/%s/%s", host ? host : "",
                            user ? user : "", uuid ? uuid : "");
    cli_props_t all = {0};
    for (int i = 0; props && i < props->n; i++)
        cli_props_set (&all, props->keys[i], props->vals[i]);
    cli_props_set (&all, "omero.host", host);
    cli_props_set (&all, "omero.user", user);
    cli_props_set (&all, "omero.sess", uuid);
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream (&text, &tlen);
    for (int i = 0; f && i < all.n; i++)
        fprintf (f, "%s=%s\n", all.keys[i], all.vals[i]);
    if (f)
        fclose (f);
    cli_props_free (&all);
    char dir[PATH_MAX], path[PATH_MAX];
    cli_store_path (self, host, user, NULL, dir, sizeof dir);
    int rc = omr_mkdirs (dir, 0700, err);
    if (rc == 0)
        rc = omr_write_file (cli_store_path (self, host, user, uuid, path, sizeof path), text ? text : "",
                             tlen, 0600, err);
    free (text);
    return rc;
}

int
cli_store_get (cli_store_t *self, const char *host, const char *user, const char *uuid,
               cli_props_t *props, omr_err_t *err)
{
    memset (props, 0, sizeof *props);
    if (!safe_name (user) || !safe_name (uuid))
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no such session");
    char path[PATH_MAX];
    char *text = omr_read_file (cli_store_path (self, host, user, uuid, path, sizeof path), NULL, err);
    if (!text)
        return -1;
    char *save = NULL;
    for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        size_t n = strlen (line);
        if (n && line[n - 1] == '\r')
            line[n - 1] = 0;
        if (!*line)
            continue;
        char *eq = strchr (line, '=');
        if (eq)
            *eq = 0;
        cli_props_set (props, line, eq ? eq + 1 : "");
    }
    free (text);
    return 0;
}

bool
cli_store_exists (cli_store_t *self, const char *host, const char *user, const char *uuid)
{
    if (!host || !safe_name (user) || !safe_name (uuid))
        return false;
    char path[PATH_MAX];
    return access (cli_store_path (self, host, user, uuid, path, sizeof path), F_OK) == 0;
}

static void
sess_file (cli_store_t *self, const char *host, const char *user, char *buf, size_t len)
{
    char dir[PATH_MAX];
    cli_store_path (self, host, user, NULL, dir, sizeof dir);
    snprintf (buf, len, "%s/._LASTSESS_", dir);
}

void
cli_store_remove (cli_store_t *self, const char *host, const char *user, const char *uuid)
{
    if (!host || !safe_name (user) || !safe_name (uuid))
        return;
    char path[PATH_MAX];
    unlink (cli_store_path (self, host, user, uuid, path, sizeof path));
    sess_file (self, host, user, path, sizeof path);
    char *cur = read_trimmed (path);
    if (cur && strcmp (cur, uuid) == 0)
        unlink (path);
    free (cur);
}

static int
cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Names in a directory: files (want_dirs false, skipping dot files) or directories. */
static char **
list_dir (const char *dir, bool want_dirs)
{
    DIR *d = opendir (dir);
    char **out = calloc (1, sizeof (char *));
    int n = 0;
    if (!d || !out)
        goto done;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        /* omr_write_file's temporary files are not sessions. */
        if (strstr (e->d_name, ".tmp."))
            continue;
        char p[PATH_MAX];
        snprintf (p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat (p, &st) != 0 || (bool) S_ISDIR (st.st_mode) != want_dirs
            || (!want_dirs && !S_ISREG (st.st_mode)))
            continue;
        char **grown = realloc (out, (size_t) (n + 2) * sizeof (char *));
        if (!grown)
            break;
        out = grown;
        out[n++] = strdup (e->d_name);
        out[n] = NULL;
    }
    qsort (out, (size_t) n, sizeof (char *), cmp_str);
done:
    if (d)
        closedir (d);
    return out;
}

char **
cli_store_available (cli_store_t *self, const char *host, const char *user)
{
    char dir[PATH_MAX];
    if (!host || !safe_name (user))
        return calloc (1, sizeof (char *));
    return list_dir (cli_store_path (self, host, user, NULL, dir, sizeof dir), false);
}

void
cli_store_list_free (char **list)
{
    for (int i = 0; list && list[i]; i++)
        free (list[i]);
    free (list);
}

int
cli_store_set_current (cli_store_t *self, const char *host, const char *user, const char *uuid,
                       const char *port, omr_err_t *err)
{
    char path[PATH_MAX], dir[PATH_MAX];
    if (host) {
        snprintf (path, sizeof path, "%s/._LASTHOST_", self->dir);
        if (write_text (path, host, err) < 0)
            return -1;
    }
    snprintf (path, sizeof path, "%s/._LASTPORT_", self->dir);
    if (port && write_text (path, port, err) < 0)
        return -1;
    if (host && user && safe_name (user)) {
        cli_store_path (self, host, NULL, NULL, dir, sizeof dir);
        if (omr_mkdirs (dir, 0700, err) < 0)
            return -1;
        snprintf (path, sizeof path, "%s/._LASTUSER_", dir);
        if (write_text (path, user, err) < 0)
            return -1;
        if (uuid) {
            cli_store_path (self, host, user, NULL, dir, sizeof dir);
            if (omr_mkdirs (dir, 0700, err) < 0)
                return -1;
            sess_file (self, host, user, path, sizeof path);
            if (write_text (path, uuid, err) < 0)
                return -1;
        }
    }
    return 0;
}

void
cli_store_get_current (cli_store_t *self, char **host, char **user, char **uuid, char **port)
{
    char path[PATH_MAX], dir[PATH_MAX];
    *host = *user = *uuid = NULL;
    snprintf (path, sizeof path, "%s/._LASTHOST_", self->dir);
    *host = read_trimmed (path);
    if (*host) {
        cli_store_path (self, *host, NULL, NULL, dir, sizeof dir);
        snprintf (path, sizeof path, "%s/._LASTUSER_", dir);
        *user = read_trimmed (path);
        if (*user && !safe_name (*user)) {
            free (*user);
            *user = NULL;
        }
    }
    if (*user) {
        sess_file (self, *host, *user, path, sizeof path);
        *uuid = read_trimmed (path);
        if (*uuid && !safe_name (*uuid)) {
            free (*uuid);
            *uuid = NULL;
        }
    }
    if (port) {
        char buf[64];
        *port = strdup (cli_store_last_port (self, buf, sizeof buf));
    }
}

const char *
cli_store_last_host (cli_store_t *self, char *buf, size_t len)
{
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/._LASTHOST_", self->dir);
    char *h = read_trimmed (path);
    snprintf (buf, len, "%s", h ? h : "localhost");
    free (h);
    return buf;
}

const char *
cli_store_last_port (cli_store_t *self, char *buf, size_t len)
{
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/._LASTPORT_", self->dir);
    char *p = read_trimmed (path);
    snprintf (buf, len, "%s", p ? p : DEFAULT_PORT);
    free (p);
    return buf;
}

char *
cli_store_find_name_by_key (cli_store_t *self, const char *host, const char *uuid, bool *ambiguous)
{
    if (ambiguous)
        *ambiguous = false;
    if (!safe_name (uuid))
        return NULL;
    char dir[PATH_MAX];
    char **users = list_dir (cli_store_path (self, host, NULL, NULL, dir, sizeof dir), true);
    char *found = NULL;
    for (int i = 0; users && users[i]; i++)
        if (cli_store_exists (self, host, users[i], uuid)) {
            if (found) {
                if (ambiguous)
                    *ambiguous = true;
                free (found);
                found = NULL;
                break;
            }
            found = strdup (users[i]);
        }
    cli_store_list_free (users);
    return found;
}

char *
cli_store_conflicts (cli_store_t *self, const char *host, const char *user, const char *uuid,
                     const cli_props_t *new_props, bool ignore_nulls, bool check_group)
{
    cli_props_t old = {0};
    cli_store_get (self, host, user, uuid, &old, NULL);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&out, &len);
    const char *keys[] = {"omero.port", check_group ? "omero.group" : NULL};
    bool any = false;
    for (int i = 0; i < 2 && keys[i]; i++) {
        const char *o = cli_props_get (&old, keys[i]);
        const char *n = cli_props_get (new_props, keys[i]);
        if (ignore_nulls && !n)
            continue;
        /* An absent port and the default port are the same port. */
        if (i == 0 && (!o || !strcmp (o, DEFAULT_PORT)) && (!n || !strcmp (n, DEFAULT_PORT)))
            continue;
        if ((o == NULL) != (n == NULL) || (o && strcmp (o, n) != 0)) {
            fprintf (f, "%s%s: %s!=%s", any ? "; " : "", keys[i], o ? o : "None", n ? n : "None");
            any = true;
        }
    }
    fclose (f);
    cli_props_free (&old);
    return out;
}

int
cli_store_walk (cli_store_t *self, const char *host, const char *user,
                void (*fn) (cli_store_t *store, const cli_store_entry_t *e, void *arg), void *arg)
{
    int count = 0;
    char **hosts = list_dir (self->dir, true);
    for (int h = 0; hosts && hosts[h]; h++) {
        char dhost[1024];
        unescape_host (hosts[h], dhost, sizeof dhost);
        if (host && strcmp (host, dhost) != 0)
            continue;
        char dir[PATH_MAX];
        snprintf (dir, sizeof dir, "%s/%s", self->dir, hosts[h]);
        char **users = list_dir (dir, true);
        for (int u = 0; users && users[u]; u++) {
            if (user && strcmp (user, users[u]) != 0)
                continue;
            char **ids = cli_store_available (self, dhost, users[u]);
            for (int i = 0; ids && ids[i]; i++) {
                count++;
                if (fn) {
                    cli_store_entry_t e = {dhost, users[u], ids[i]};
                    fn (self, &e, arg);
                }
            }
            cli_store_list_free (ids);
        }
        cli_store_list_free (users);
    }
    cli_store_list_free (hosts);
    return count;
}
