/* repository: the managed repository's directory layout and path rules (see repository.h). */
#include "repository.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

char *
blz_repo_root (omr_config_t *config)
{
    const char *m = omr_config_get (config, "omero.managed.dir");
    char *out = NULL;
    if (m && *m)
        out = strdup (m);
    else {
        const char *d = omr_config_get (config, "omero.data.dir");
        if (!d || !*d)
            d = "/OMERO";
        if (asprintf (&out, "%s/ManagedRepository", d) < 0)
            out = NULL;
    }
    if (!out)
        return NULL;
    /* canonical form: no doubled or trailing slashes */
    char *w = out;
    for (char *r = out; *r; r++)
        if (!(*r == '/' && w > out && w[-1] == '/'))
            *w++ = *r;
    *w = '\0';
    while (w - out > 1 && w[-1] == '/')
        *--w = '\0';
    return out;
}

/* A growing string. */
typedef struct {
    char *s;
    size_t n, cap;
} sbuf_t;

static void
sb_add (sbuf_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 128) + n;
        char *p = realloc (b->s, cap);
        if (!p)
            return;
        b->s = p;
        b->cap = cap;
    }
    memcpy (b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void
sb_str (sbuf_t *b, const char *s)
{
    sb_add (b, s, strlen (s));
}

static int
mkdir_p (const char *path)
{
    char tmp[PATH_MAX];
    if (snprintf (tmp, sizeof tmp, "%s", path) >= (int) sizeof tmp)
        return -1;
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir (tmp, 0755) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir (tmp, 0755) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int
count_entries (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir (d)))
        if (strcmp (e->d_name, ".") && strcmp (e->d_name, ".."))
            n++;
    closedir (d);
    return n;
}

/* A file-name-safe version of a term's value (no '/', no control characters). */
static void
sb_safe (sbuf_t *b, const char *v)
{
    for (const char *p = v ? v : ""; *p; p++) {
        char c = (*p == '/' || (unsigned char) *p < 0x20 || *p == 0x7f) ? '_' : *p;
        sb_add (b, &c, 1);
    }
}

/* The 8-hex-digit hash constant for a set of client paths (FNV-1a over the sorted-insensitive
 * concatenation, which is enough to make it constant for the same set in the same order). */
static void
paths_hash (const blz_repo_vars_t *v, char out[9])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < v->npaths; i++) {
        for (const char *p = v->paths[i]; p && *p; p++) {
            h ^= (unsigned char) *p;
            h *= 16777619u;
        }
        h ^= 0;
        h *= 16777619u;
    }
    snprintf (out, 9, "%08X", h);
}

/* The highest number n such that parent holds an entry named prefix + n + suffix. */
static long
highest_increment (const char *parent, const char *prefix, const char *suffix)
{
    DIR *d = opendir (parent);
    long best = 0;
    if (!d)
        return 0;
    struct dirent *e;
    size_t pl = strlen (prefix), sl = strlen (suffix);
    while ((e = readdir (d))) {
        size_t l = strlen (e->d_name);
        if (l <= pl + sl || strncmp (e->d_name, prefix, pl) || strcmp (e->d_name + l - sl, suffix))
            continue;
        const char *p = e->d_name + pl;
        char *end;
        long n = strtol (p, &end, 10);
        if (end == e->d_name + l - sl && isdigit ((unsigned char) *p) && n > best)
            best = n;
    }
    closedir (d);
    return best;
}

static const char *const month_names[] = {"January", "February", "March", "April", "May", "June", "July",
                                          "August", "September", "October", "November", "December"};

/* Expand one template component (between slashes) below the directory `parent` (absolute)
 * into out; *omit = 1 when the component vanishes (%institution% unset, %subdirs% below its
 * limit). The result may hold '/' (%hash:3,3,2%, %subdirs% recursion). */
static int
expand_component (const char *comp, size_t len, const char *parent, const blz_repo_vars_t *v,
                  const struct tm *tm, int ms, sbuf_t *out, int *omit, omr_err_t *err)
{
    *omit = 0;
    sbuf_t pre = {0};           /* the text before a %increment%/%subdirs% term */
    int special = 0;            /* 1 increment, 2 subdirs */
    int has_time = 0;
    int special_digits = 0;
    size_t special_at = 0;
    const char *end = comp + len;
    for (const char *p = comp; p < end;) {
        if (*p != '%') {
            sb_add (out, p, 1);
            p++;
            continue;
        }
        const char *q = memchr (p + 1, '%', (size_t) (end - p - 1));
        if (!q) {
            free (pre.s);
            return omr_err_set (err, OMR_E_CONFIG, 500, "omero.fs.repo.path: unterminated term in '%.*s'",
                                (int) len, comp);
        }
        char term[256];
        snprintf (term, sizeof term, "%.*s", (int) (q - p - 1), p + 1);
        char *arg = strchr (term, ':');
        if (arg)
            *arg++ = '\0';
        char num[64];
        if (!strcmp (term, "user"))
            sb_safe (out, v->user);
        else if (!strcmp (term, "userId"))
            snprintf (num, sizeof num, "%lld", (long long) v->user_id), sb_str (out, num);
        else if (!strcmp (term, "group"))
            sb_safe (out, v->group);
        else if (!strcmp (term, "groupId"))
            snprintf (num, sizeof num, "%lld", (long long) v->group_id), sb_str (out, num);
        else if (!strcmp (term, "perms"))
            sb_safe (out, v->perms ? v->perms : "rw----");
        else if (!strcmp (term, "institution")) {
            const char *inst = v->institution && *v->institution ? v->institution : arg;
            if (!inst || !*inst) {
                *omit = 1;
                free (pre.s);
                return 0;
            }
            sb_safe (out, inst);
        } else if (!strcmp (term, "year"))
            snprintf (num, sizeof num, "%04d", tm->tm_year + 1900), sb_str (out, num);
        else if (!strcmp (term, "month"))
            snprintf (num, sizeof num, "%02d", tm->tm_mon + 1), sb_str (out, num);
        else if (!strcmp (term, "monthname"))
            sb_str (out, month_names[tm->tm_mon]);
        else if (!strcmp (term, "day"))
            snprintf (num, sizeof num, "%02d", tm->tm_mday), sb_str (out, num);
        else if (!strcmp (term, "time")) {
            if (special || has_time) {
                free (pre.s);
                return omr_err_set (err, OMR_E_CONFIG, 500, "omero.fs.repo.path: more than one of %%time%%, "
                                    "%%subdirs%% or %%increment%% in '%.*s'", (int) len, comp);
            }
            has_time = 1;
            snprintf (num, sizeof num, "%02d-%02d-%02d.%03d", tm->tm_hour, tm->tm_min, tm->tm_sec, ms);
            sb_str (out, num);
        }
        else if (!strcmp (term, "session"))
            sb_safe (out, v->session);
        else if (!strcmp (term, "sessionId"))
            snprintf (num, sizeof num, "%lld", (long long) v->session_id), sb_str (out, num);
        else if (!strcmp (term, "thread"))
            sb_safe (out, v->thread ? v->thread : "Blitz");
        else if (!strcmp (term, "hash")) {
            char h[9];
            paths_hash (v, h);
            if (!arg)
                sb_str (out, h);
            else {
                /* "3,3,2": successive slices of the hash, one directory each */
                int at = 0;
                for (char *save = NULL, *tok = strtok_r (arg, ",", &save); tok && at < 8; tok = strtok_r (NULL, ",", &save)) {
                    int d = atoi (tok);
                    if (d <= 0)
                        continue;
                    if (d > 8 - at)
                        d = 8 - at;
                    if (at)
                        sb_str (out, "/");
                    sb_add (out, h + at, (size_t) d);
                    at += d;
                }
            }
        } else if (!strcmp (term, "increment") || !strcmp (term, "subdirs")) {
            if (special || has_time) {
                free (pre.s);
                return omr_err_set (err, OMR_E_CONFIG, 500, "omero.fs.repo.path: more than one of %%time%%, "
                                    "%%subdirs%% or %%increment%% in '%.*s'", (int) len, comp);
            }
            special = term[0] == 'i' ? 1 : 2;
            special_digits = arg ? atoi (arg) : (special == 2 ? 3 : 0);
            if (special == 2 && (special_digits <= 0 || special_digits > 9))
                special_digits = 3;
            special_at = out->n;
        } else {
            free (pre.s);
            return omr_err_set (err, OMR_E_CONFIG, 500, "omero.fs.repo.path: unknown term %%%s%%", term);
        }
        p = q + 1;
    }
    free (pre.s);
    if (!special)
        return 0;
    /* split the expansion around the special term */
    char *prefix = strndup (out->s ? out->s : "", special_at);
    char *suffix = strdup (out->s ? out->s + special_at : "");
    out->n = 0;
    if (out->s)
        out->s[0] = '\0';
    char num[32];
    if (special == 1) {
        long n = highest_increment (parent, prefix, suffix) + 1;
        snprintf (num, sizeof num, "%0*ld", special_digits, n);
        sb_str (out, prefix);
        sb_str (out, num);
        sb_str (out, suffix);
    } else {
        long limit = 1;
        for (int i = 0; i < special_digits; i++)
            limit *= 10;
        if (count_entries (parent) < limit) {
            *omit = 1;
        } else {
            /* descend: the first numbered directory that is not full, recursively */
            char dir[PATH_MAX];
            snprintf (dir, sizeof dir, "%s", parent);
            int depth = 0;
            for (;;) {
                long i;
                char cand[PATH_MAX];
                for (i = 0; i < limit; i++) {
                    snprintf (num, sizeof num, "%0*ld", special_digits, i);
                    snprintf (cand, sizeof cand, "%s/%s%s%s", dir, depth ? "" : prefix, num, depth ? "" : suffix);
                    if (count_entries (cand) < limit)
                        break;
                }
                if (depth)
                    sb_str (out, "/");
                else
                    sb_str (out, prefix);
                sb_str (out, num);
                if (!depth)
                    sb_str (out, suffix);
                if (i < limit || depth >= 4)
                    break;
                snprintf (dir, sizeof dir, "%s", cand);
                depth++;
            }
        }
    }
    free (prefix);
    free (suffix);
    return 0;
}

char *
blz_repo_make_dir (const char *root, const char *tmpl, const blz_repo_vars_t *vars, omr_err_t *err)
{
    if (!tmpl || !*tmpl)
        tmpl = "%user%_%userId%//%year%-%month%/%day%/%time%";
    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    localtime_r (&tv.tv_sec, &tm);
    int ms = (int) (tv.tv_usec / 1000);
    sbuf_t rel = {0};
    const char *p = tmpl;
    while (*p == '/')
        p++;
    while (*p) {
        const char *e = strchr (p, '/');
        size_t len = e ? (size_t) (e - p) : strlen (p);
        if (len) {
            sbuf_t comp = {0};
            int omit = 0;
            char parent[PATH_MAX];
            snprintf (parent, sizeof parent, "%s/%s", root, rel.s ? rel.s : "");
            if (expand_component (p, len, parent, vars, &tm, ms, &comp, &omit, err) < 0) {
                free (comp.s);
                free (rel.s);
                return NULL;
            }
            if (!omit && comp.n) {
                if (!strcmp (comp.s, ".") || !strcmp (comp.s, "..") || strstr (comp.s, "//")) {
                    omr_err_set (err, OMR_E_CONFIG, 500, "omero.fs.repo.path expands to an unusable name '%s'",
                                 comp.s);
                    free (comp.s);
                    free (rel.s);
                    return NULL;
                }
                sb_str (&rel, comp.s);
                sb_str (&rel, "/");
            }
            free (comp.s);
        }
        p += len;
        while (*p == '/')
            p++;
    }
    if (!rel.s) {
        omr_err_set (err, OMR_E_CONFIG, 500, "omero.fs.repo.path '%s' expands to no directory", tmpl);
        return NULL;
    }
    /* make it new: create the parent, then the leaf exclusively (suffix -2, -3 … on collision) */
    rel.s[rel.n - 1] = '\0';
    char full[PATH_MAX];
    snprintf (full, sizeof full, "%s/%s", root, rel.s);
    char *slash = strrchr (full, '/');
    *slash = '\0';
    if (mkdir_p (full) < 0) {
        omr_err_set (err, OMR_E_RESOURCE, 500, "cannot create %s: %s", full, strerror (errno));
        free (rel.s);
        return NULL;
    }
    *slash = '/';
    char *out = NULL;
    for (int k = 1; k < 1000 && !out; k++) {
        char leaf[PATH_MAX];
        if (k == 1)
            snprintf (leaf, sizeof leaf, "%s", full);
        else
            snprintf (leaf, sizeof leaf, "%s-%d", full, k);
        if (mkdir (leaf, 0755) == 0) {
            if (asprintf (&out, "%s/", leaf + strlen (root) + 1) < 0)
                out = NULL;
        } else if (errno != EEXIST) {
            omr_err_set (err, OMR_E_RESOURCE, 500, "cannot create %s: %s", leaf, strerror (errno));
            break;
        }
    }
    if (!out && !err->name[0])
        omr_err_set (err, OMR_E_RESOURCE, 500, "no free directory for %s", full);
    free (rel.s);
    if (out) {
        /* the result must still lie inside the repository */
        char *chk = blz_repo_join (root, out, err);
        if (!chk) {
            free (out);
            return NULL;
        }
        free (chk);
    }
    return out;
}

static int
has_rule (const char *rules, const char *name)
{
    return rules && strcasestr (rules, name) != NULL;
}

/* Whether a byte sequence at p is a Unicode control character (C0, DEL, or C1 in UTF-8). */
static int
is_control (const unsigned char *p)
{
    return *p < 0x20 || *p == 0x7f || (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F);
}

static int
check_component (const char *path, const char *c, size_t n, const char *rules, omr_err_t *err)
{
    char name[1024];
    if (n >= sizeof name)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "file name too long in '%s'", path);
    memcpy (name, c, n);
    name[n] = '\0';
    if (!strcmp (name, ".."))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "'%s': the path may not contain '..'", path);
    for (const unsigned char *p = (const unsigned char *) name; *p; p++)
        if (is_control (p))
            return omr_err_set (err, OMR_E_VALIDATION, 400, "'%s': file names may not contain control characters",
                                path);
    int win_req = has_rule (rules, "Windows required");
    int win_opt = has_rule (rules, "Windows optional");
    int unix_opt = has_rule (rules, "UNIX optional") || has_rule (rules, "local optional");
    if (win_req) {
        const char *bad = strpbrk (name, "\"*:<>?\\|");
        if (bad)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "'%s': '%c' is not allowed in file names (Windows required)",
                                path, *bad);
        if (name[0] == '$')
            return omr_err_set (err, OMR_E_VALIDATION, 400, "'%s': names may not begin with '$' (Windows required)",
                                path);
        static const char *const reserved[] = {"AUX", "CLOCK$", "CON", "NUL", "PRN", NULL};
        char up[16];
        size_t k = 0;
        while (name[k] && name[k] != '.' && k < sizeof up - 1) {
            up[k] = (char) toupper ((unsigned char) name[k]);
            k++;
        }
        up[k] = '\0';
        if (name[k] == '\0' || name[k] == '.') {
            int hit = 0;
            for (int i = 0; reserved[i]; i++)
                hit |= !strcmp (up, reserved[i]);
            if ((!strncmp (up, "COM", 3) || !strncmp (up, "LPT", 3)) && up[3] >= '1' && up[3] <= '9' && !up[4])
                hit = 1;
            if (hit)
                return omr_err_set (err, OMR_E_VALIDATION, 400, "'%s': '%s' is a reserved name (Windows required)",
                                    path, name);
        }
    }
    if (win_opt && (name[n - 1] == '.' || name[n - 1] == ' '))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "'%s': names may not end with '.' or a space (Windows optional)",
                            path);
    if (unix_opt && (name[0] == '.' || name[0] == '-'))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "'%s': names may not begin with '.' or '-' (UNIX optional)",
                            path);
    return 0;
}

char *
blz_repo_check_path (const char *path, const char *rules, omr_err_t *err)
{
    if (!path || !*path) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "empty file path");
        return NULL;
    }
    if (path[0] == '/' || path[0] == '\\' || (isalpha ((unsigned char) path[0]) && path[1] == ':')) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "'%s': absolute paths are not accepted; send the path relative "
                     "to the fileset's common directory", path);
        return NULL;
    }
    sbuf_t out = {0};
    const char *p = path;
    while (*p) {
        const char *e = strchr (p, '/');
        size_t n = e ? (size_t) (e - p) : strlen (p);
        if (n && !(n == 1 && p[0] == '.')) {
            if (check_component (path, p, n, rules, err) < 0) {
                free (out.s);
                return NULL;
            }
            if (out.n)
                sb_str (&out, "/");
            sb_add (&out, p, n);
        }
        p += n;
        while (*p == '/')
            p++;
    }
    if (!out.s) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "'%s' names no file", path);
        return NULL;
    }
    return out.s;
}

char *
blz_repo_join (const char *root, const char *rel, omr_err_t *err)
{
    if (!rel || rel[0] == '/' || strstr (rel, "/../") || !strncmp (rel, "../", 3) || !strcmp (rel, "..")
        || (strlen (rel) >= 3 && !strcmp (rel + strlen (rel) - 3, "/.."))) {
        omr_err_set (err, OMR_E_SECURITY, 403, "'%s' lies outside the managed repository", rel ? rel : "");
        return NULL;
    }
    char *full = NULL;
    if (asprintf (&full, "%s/%s", root, rel) < 0)
        return NULL;
    /* the deepest existing ancestor directory must resolve inside the repository; the last
     * component itself may be a link (in-place imports link files into the repository) */
    char probe[PATH_MAX], real[PATH_MAX], rroot[PATH_MAX];
    if (!realpath (root, rroot)) {
        omr_err_set (err, OMR_E_RESOURCE, 500, "managed repository %s: %s", root, strerror (errno));
        free (full);
        return NULL;
    }
    snprintf (probe, sizeof probe, "%s", full);
    size_t pl = strlen (probe);
    while (pl > 1 && probe[pl - 1] == '/')
        probe[--pl] = '\0';
    char *last = strrchr (probe, '/');
    if (last && last > probe)
        *last = '\0';
    while (!realpath (probe, real)) {
        char *s = strrchr (probe, '/');
        if (!s || s == probe) {
            snprintf (real, sizeof real, "%s", rroot);
            break;
        }
        *s = '\0';
    }
    size_t rl = strlen (rroot);
    if (strncmp (real, rroot, rl) || (real[rl] != '\0' && real[rl] != '/')) {
        omr_err_set (err, OMR_E_SECURITY, 403, "'%s' lies outside the managed repository", rel);
        free (full);
        return NULL;
    }
    return full;
}

int
blz_repo_make_parents (const char *root, const char *rel, omr_err_t *err)
{
    char *full = blz_repo_join (root, rel, err);
    if (!full)
        return -1;
    char *s = strrchr (full, '/');
    *s = '\0';
    int rc = 0;
    if (mkdir_p (full) < 0)
        rc = omr_err_set (err, OMR_E_RESOURCE, 500, "cannot create %s: %s", full, strerror (errno));
    free (full);
    if (rc == 0) {
        full = blz_repo_join (root, rel, err);     /* re-check now that the directories exist */
        if (!full)
            return -1;
        free (full);
    }
    return rc;
}

static void
rm_tree (const char *path)
{
    struct stat st;
    if (lstat (path, &st) < 0)
        return;
    if (S_ISDIR (st.st_mode)) {
        DIR *d = opendir (path);
        if (d) {
            struct dirent *e;
            while ((e = readdir (d))) {
                if (!strcmp (e->d_name, ".") || !strcmp (e->d_name, ".."))
                    continue;
                char sub[PATH_MAX];
                snprintf (sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_tree (sub);
            }
            closedir (d);
        }
        rmdir (path);
    } else
        unlink (path);
}

int
blz_repo_remove_tree (const char *root, const char *rel, omr_err_t *err)
{
    char *full = blz_repo_join (root, rel, err);
    if (!full)
        return -1;
    size_t l = strlen (full);
    while (l > strlen (root) + 1 && full[l - 1] == '/')
        full[--l] = '\0';
    rm_tree (full);
    /* drop parents that became empty, never the root itself */
    for (char *s = strrchr (full, '/'); s && (size_t) (s - full) > strlen (root); s = strrchr (full, '/')) {
        *s = '\0';
        if (rmdir (full) < 0)
            break;
    }
    free (full);
    return 0;
}
