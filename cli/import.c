/* import: `omero import` — find import candidates (files and directories, grouped into
 * filesets as OME-TIFF metadata names them), then for each fileset follow OMERO's sequence:
 * ManagedRepository.importFileset with the client paths, upload each file in chunks while
 * computing its checksum (or link/copy it in place with --transfer), ImportProcess.verifyUpload,
 * then poll the import handle and print one `Image:ID` line per image on stdout. Logs, errors,
 * the progress bar and the summary go to stderr. Exit code 0 when every fileset imported, 1
 * when any failed, 2 for usage errors. */
#include "cli.h"
#include "login.h"
#include "services/blitz/checksum.h"
#include "sessions.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <tiffio.h>
#include <unistd.h>
#include <yaml.h>

#define CHUNK ((size_t) 8 << 20)  /* bytes per ImportProcess.write call */

/* A list of strings. */
typedef struct {
    char **v;
    int n, cap;
} strv_t;

static void
sv_add (strv_t *s, const char *x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = realloc (s->v, (size_t) s->cap * sizeof (char *));
    }
    s->v[s->n++] = strdup (x);
}

static int
sv_has (const strv_t *s, const char *x)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp (s->v[i], x))
            return 1;
    return 0;
}

static void
sv_free (strv_t *s)
{
    for (int i = 0; i < s->n; i++)
        free (s->v[i]);
    free (s->v);
    memset (s, 0, sizeof *s);
}

typedef struct {
    strv_t paths;               /* positional files and directories */
    const char *target, *name, *description, *file, *errs, *transfer, *checksum, *bulk, *exclude, *logprefix;
    strv_t skip;
    int depth, parallel_upload, parallel_fileset;
    bool show_only, keep_going, wait_set;
    long minutes_wait;
    char target_buf[64];        /* -d / -r spelled as a target */
} iargs_t;

/* One import candidate: the files of one fileset, the one readers open first. */
typedef struct {
    strv_t files;
    const char *reader;
    char *container;            /* regex target's Container1 for this fileset */
} cand_t;

typedef struct {
    int files_uploaded, filesets, images, errors;
    long long bytes;
    pthread_mutex_t *lock;      /* filesets may be imported by several threads */
} totals_t;

/* Add n to a counter of the totals under their lock. */
#define TOT_ADD(tot, field, n)                                                                                         \
    do {                                                                                                               \
        pthread_mutex_lock ((tot)->lock);                                                                              \
        (tot)->field += (n);                                                                                           \
        pthread_mutex_unlock ((tot)->lock);                                                                            \
    } while (0)

/* ------------------------------------------------------------------ candidates */

static void
quiet_tiff (const char *module, const char *fmt, va_list ap)
{
    (void) module, (void) fmt, (void) ap;
}

/* What a file is by its first bytes: "tiff", "png", "jpeg", "ome-xml", "empty" or NULL. */
static const char *
sniff (const char *path)
{
    unsigned char b[512];
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read (fd, b, sizeof b - 1);
    close (fd);
    if (n == 0)
        return "empty";
    if (n < 4)
        return NULL;
    b[n] = 0;
    if ((b[0] == 'I' && b[1] == 'I' && (b[2] == 42 || b[2] == 43) && b[3] == 0)
        || (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && (b[3] == 42 || b[3] == 43)))
        return "tiff";
    if (n >= 8 && !memcmp (b, "\x89PNG\r\n\x1a\n", 8))
        return "png";
    if (b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return "jpeg";
    const char *t = (const char *) b;
    while (*t == ' ' || *t == '\n' || *t == '\r' || *t == '\t' || (unsigned char) *t == 0xEF || (unsigned char) *t == 0xBB
           || (unsigned char) *t == 0xBF)
        t++;
    if (*t == '<' && strstr (t, "<OME"))
        return "ome-xml";
    return NULL;
}

static void
xml_refs (xmlNode *n, strv_t *refs, strv_t *meta)
{
    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE) {
            if (!strcmp ((const char *) n->name, "UUID")) {
                xmlChar *f = xmlGetProp (n, (const xmlChar *) "FileName");
                if (f && *f && !sv_has (refs, (const char *) f))
                    sv_add (refs, (const char *) f);
                xmlFree (f);
            } else if (!strcmp ((const char *) n->name, "BinaryOnly")) {
                xmlChar *f = xmlGetProp (n, (const xmlChar *) "MetadataFile");
                if (f && *f)
                    sv_add (meta, (const char *) f);
                xmlFree (f);
            }
            xml_refs (n->children, refs, meta);
        }
    }
}

/* The OME-XML of a file (the companion itself, or a TIFF's first ImageDescription), or NULL. */
static char *
ome_xml_of (const char *path, const char *kind)
{
    if (!strcmp (kind, "ome-xml")) {
        FILE *f = fopen (path, "rb");
        if (!f)
            return NULL;
        fseek (f, 0, SEEK_END);
        long n = ftell (f);
        fseek (f, 0, SEEK_SET);
        if (n <= 0 || n > (64 << 20)) {
            fclose (f);
            return NULL;
        }
        char *s = malloc ((size_t) n + 1);
        size_t got = fread (s, 1, (size_t) n, f);
        fclose (f);
        s[got] = 0;
        return s;
    }
    if (strcmp (kind, "tiff"))
        return NULL;
    TIFF *t = TIFFOpen (path, "rm");
    if (!t)
        return NULL;
    char *desc = NULL, *out = NULL;
    if (TIFFGetField (t, TIFFTAG_IMAGEDESCRIPTION, &desc) && desc && strstr (desc, "<OME"))
        out = strdup (desc);
    TIFFClose (t);
    return out;
}

static void
dir_of (const char *path, char *out, size_t len)
{
    snprintf (out, len, "%s", path);
    char *s = strrchr (out, '/');
    if (s)
        *s = 0;
    else
        snprintf (out, len, ".");
}

/* The files of the fileset a file belongs to, the file readers should open first leading;
 * reader names follow Bio-Formats'. */
static void
fileset_of (const char *path, const char *kind, cand_t *c)
{
    char dir[PATH_MAX];
    dir_of (path, dir, sizeof dir);
    strv_t refs = {0}, meta = {0};
    char *xml = ome_xml_of (path, kind);
    const char *master = path;
    char master_buf[PATH_MAX];
    c->reader = !strcmp (kind, "png") ? "loci.formats.in.APNGReader"
                : !strcmp (kind, "jpeg") ? "loci.formats.in.JPEGReader" : "loci.formats.in.TiffReader";
    if (xml) {
        c->reader = "loci.formats.in.OMETiffReader";
        xmlDoc *doc = xmlReadMemory (xml, (int) strlen (xml), NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR
                                                                                   | XML_PARSE_NOWARNING | XML_PARSE_HUGE);
        if (doc) {
            xml_refs (xmlDocGetRootElement (doc), &refs, &meta);
            xmlFreeDoc (doc);
        }
        free (xml);
        if (meta.n) {
            /* BinaryOnly: the metadata file (companion or master TIFF) describes the set */
            snprintf (master_buf, sizeof master_buf, "%s/%s", dir, meta.v[0]);
            const char *mk = sniff (master_buf);
            char *mx = mk ? ome_xml_of (master_buf, mk) : NULL;
            if (mx) {
                master = master_buf;
                xmlDoc *doc2 = xmlReadMemory (mx, (int) strlen (mx), NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR
                                                                                     | XML_PARSE_NOWARNING | XML_PARSE_HUGE);
                if (doc2) {
                    strv_t meta2 = {0};
                    xml_refs (xmlDocGetRootElement (doc2), &refs, &meta2);
                    sv_free (&meta2);
                    xmlFreeDoc (doc2);
                }
                free (mx);
            }
        }
    }
    sv_add (&c->files, master);
    if (strcmp (master, path))
        sv_add (&c->files, path);
    for (int i = 0; i < refs.n; i++) {
        char p[PATH_MAX];
        snprintf (p, sizeof p, "%s/%s", dir, refs.v[i]);
        if (!sv_has (&c->files, p))
            sv_add (&c->files, p);
    }
    sv_free (&refs);
    sv_free (&meta);
}

static int
cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Files below a directory up to depth levels, sorted. */
static void
scan (const char *dir, int depth, strv_t *out)
{
    DIR *d = opendir (dir);
    if (!d)
        return;
    strv_t here = {0};
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[PATH_MAX];
        snprintf (p, sizeof p, "%s/%s", dir, e->d_name);
        sv_add (&here, p);
    }
    closedir (d);
    qsort (here.v, (size_t) here.n, sizeof (char *), cmp_str);
    for (int i = 0; i < here.n; i++) {
        struct stat st;
        if (stat (here.v[i], &st) < 0)
            continue;
        if (S_ISDIR (st.st_mode)) {
            if (depth > 1)
                scan (here.v[i], depth - 1, out);
        } else if (S_ISREG (st.st_mode))
            sv_add (out, here.v[i]);
    }
    sv_free (&here);
}

/* Absolute, normalised path (no "." / ".." components, no doubled slashes). */
static char *
absolute (const char *p)
{
    char cwd[PATH_MAX], buf[PATH_MAX * 2];
    if (p[0] == '/')
        snprintf (buf, sizeof buf, "%s", p);
    else
        snprintf (buf, sizeof buf, "%s/%s", getcwd (cwd, sizeof cwd) ? cwd : ".", p);
    char *out = malloc (strlen (buf) + 2), *w = out;
    const char *r = buf;
    while (*r) {
        while (*r == '/')
            r++;
        const char *e = strchr (r, '/');
        size_t n = e ? (size_t) (e - r) : strlen (r);
        if (n == 0)
            break;
        if (n == 1 && r[0] == '.') {
        } else if (n == 2 && r[0] == '.' && r[1] == '.') {
            while (w > out && *--w != '/')
                ;
        } else {
            *w++ = '/';
            memcpy (w, r, n);
            w += n;
        }
        r += n;
    }
    if (w == out)
        *w++ = '/';
    *w = 0;
    return out;
}

/* Group the positional paths into candidates; unknown files found in directories are skipped
 * (counted), named files that no reader takes are errors. Returns the number of errors. */
static int
find_candidates (const iargs_t *a, cand_t **out, int *nout, int *unknown)
{
    strv_t files = {0}, explicit_ = {0};
    int errors = 0;
    for (int i = 0; i < a->paths.n; i++) {
        char *abs = absolute (a->paths.v[i]);
        struct stat st;
        if (stat (abs, &st) < 0) {
            fprintf (stderr, "Error: %s: %s\n", a->paths.v[i], strerror (errno));
            errors++;
        } else if (S_ISDIR (st.st_mode))
            scan (abs, a->depth, &files);
        else {
            sv_add (&files, abs);
            sv_add (&explicit_, abs);
        }
        free (abs);
    }
    strv_t used = {0};
    cand_t *c = NULL;
    int n = 0;
    for (int i = 0; i < files.n; i++) {
        const char *f = files.v[i];
        if (sv_has (&used, f))
            continue;
        const char *kind = sniff (f);
        if (!kind || !strcmp (kind, "empty")) {
            if (sv_has (&explicit_, f)) {
                fprintf (stderr, "Error: %s: %s\n", f,
                         kind ? "the file is empty (zero bytes); nothing to import"
                              : "unsupported format: no reader recognises this file (TIFF, OME-TIFF, PNG and JPEG are read)");
                errors++;
            } else
                (*unknown)++;
            continue;
        }
        cand_t cand = {0};
        fileset_of (f, kind, &cand);
        /* a file already used by an earlier fileset makes this one a duplicate */
        int dup = sv_has (&used, cand.files.v[0]);
        if (dup) {
            sv_free (&cand.files);
            continue;
        }
        for (int k = 0; k < cand.files.n; k++)
            sv_add (&used, cand.files.v[k]);
        c = realloc (c, (size_t) (n + 1) * sizeof *c);
        c[n++] = cand;
    }
    sv_free (&files);
    sv_free (&explicit_);
    sv_free (&used);
    *out = c;
    *nout = n;
    return errors;
}

/* ------------------------------------------------------------------ targets */

/* The server's target object for a -d / -T expression and one candidate, or NULL (none);
 * *bad is set (and printed) for expressions that cannot be used. */
static json_t *
target_json (const char *t, const cand_t *c, int *bad)
{
    *bad = 0;
    if (!t)
        return NULL;
    char *s = strdup (t), *proj = NULL;
    json_t *out = NULL;
    /* Project:name:P/Dataset:name:D */
    if (!strncmp (s, "Project:", 8)) {
        char *slash = strstr (s, "/Dataset:");
        if (!slash) {
            fprintf (stderr, "Error: target '%s': a Project target needs /Dataset:name:NAME\n", t);
            *bad = 1;
            free (s);
            return NULL;
        }
        *slash = 0;
        char *pn = s + 8;
        if (!strncmp (pn, "name:", 5) || !strncmp (pn, "+name:", 6) || !strncmp (pn, "-name:", 6))
            pn = strchr (pn, ':') + 1;
        proj = strdup (pn);
        memmove (s, slash + 1, strlen (slash + 1) + 1);
    }
    if (!strncmp (s, "Screen", 6)) {
        fprintf (stderr, "Error: target '%s': Screen targets take plates, and none of the formats read here holds plates\n", t);
        *bad = 1;
    } else if (!strncmp (s, "Dataset:", 8)) {
        char *rest = s + 8;
        char mode = '+';
        const char *name = NULL;
        if (!strncmp (rest, "id:", 3) || (rest[0] >= '0' && rest[0] <= '9')) {
            char *idp = rest[0] == 'i' ? rest + 3 : rest, *end;
            long long id = strtoll (idp, &end, 10);
            if (*end || id <= 0) {
                fprintf (stderr, "Error: target '%s': '%s' is not a dataset id\n", t, idp);
                *bad = 1;
            } else
                out = json_pack ("{s:I}", "id", (json_int_t) id);
        } else if (strchr ("+-%@", rest[0]) && !strncmp (rest + 1, "name:", 5)) {
            mode = rest[0];
            name = rest + 6;
        } else if (!strncmp (rest, "name:", 5))
            name = rest + 5;
        else {
            fprintf (stderr, "Error: target '%s': use Dataset:id:N or Dataset:[+-%%@]name:NAME\n", t);
            *bad = 1;
        }
        if (name) {
            char m[2] = {mode, 0};
            size_t l = strlen (name);
            char *nm = strdup (name);
            if (l >= 2 && nm[0] == '"' && nm[l - 1] == '"') {
                nm[l - 1] = 0;
                memmove (nm, nm + 1, l - 1);
            }
            out = json_pack ("{s:s, s:s}", "name", nm, "mode", m);
            free (nm);
        }
    } else if (!strncmp (s, "regex:", 6)) {
        char *rest = s + 6;
        char mode = '+';
        if (strchr ("+-%@", rest[0]) && !strncmp (rest + 1, "name:", 5)) {
            mode = rest[0];
            rest += 6;
        } else if (!strncmp (rest, "name:", 5))
            rest += 5;
        /* Java's (?<Container1>…) in POSIX ERE: a plain group whose number we count */
        char *named = strstr (rest, "(?<Container1>");
        if (!named) {
            fprintf (stderr, "Error: target '%s': the regex needs a group (?<Container1>...)\n", t);
            *bad = 1;
        } else {
            int group = 1;
            for (char *p = rest; p < named; p++)
                if (*p == '(' && (p == rest || p[-1] != '\\'))
                    group++;
            char *re = malloc (strlen (rest) + 1), *w = re;
            for (const char *p = rest; *p;) {
                if (p == named) {
                    *w++ = '(';
                    p += strlen ("(?<Container1>");
                } else if ((p[0] == '*' || p[0] == '+' || p[0] == '?') && p[1] == '?') {
                    *w++ = p[0];    /* lazy quantifiers have no POSIX form: greedy instead */
                    p += 2;
                } else
                    *w++ = *p++;
            }
            *w = 0;
            regex_t rx;
            regmatch_t mt[16];
            if (regcomp (&rx, re, REG_EXTENDED) != 0) {
                fprintf (stderr, "Error: target '%s': invalid regular expression\n", t);
                *bad = 1;
            } else {
                if (group < 16 && regexec (&rx, c->files.v[0], 16, mt, 0) == 0 && mt[group].rm_so >= 0
                    && mt[group].rm_eo > mt[group].rm_so) {
                    char *name = strndup (c->files.v[0] + mt[group].rm_so, (size_t) (mt[group].rm_eo - mt[group].rm_so));
                    char m[2] = {mode, 0};
                    out = json_pack ("{s:s, s:s}", "name", name, "mode", m);
                    free (name);
                }
                regfree (&rx);
            }
            free (re);
        }
    } else {
        fprintf (stderr, "Error: target '%s': use Dataset:…, Project:…/Dataset:… or regex:…\n", t);
        *bad = 1;
    }
    if (out && proj)
        json_object_set_new (out, "project", json_string (proj));
    free (proj);
    free (s);
    return out;
}

/* ------------------------------------------------------------------ upload */

typedef struct upload_t {
    omero_client_t *c;
    const char *path;
    const char *alg;
    long long process;
    int index;
    long long size;
    char hash[65];
    omero_err_t err;
    int rc;
    totals_t *tot;
    pthread_mutex_t *lock;
    long long *sent, total;     /* progress across the fileset */
    bool bar;
} upload_t;

static void
draw_bar (upload_t *u)
{
    if (!u->bar || u->total <= 0)
        return;
    int pct = (int) (*u->sent * 100 / u->total);
    int fill = pct / 4;
    const char *b = strrchr (u->path, '/');
    fprintf (stderr, "\r%-30.30s [%.*s%*s] %3d%%", b ? b + 1 : u->path, fill, "#########################", 25 - fill, "",
             pct);
    fflush (stderr);
}

/* Feeds one chunk of the file to libcurl as it sends, hashing on the way. */
typedef struct {
    int fd;
    blz_checksum_t *ck;
    size_t left;
    int error;
} feed_t;

static long
feed (void *buf, size_t cap, void *arg)
{
    feed_t *f = arg;
    if (f->left == 0)
        return 0;
    ssize_t n;
    do
        n = read (f->fd, buf, cap < f->left ? cap : f->left);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        f->error = n < 0 ? errno : EIO;     /* the file shrank or failed while uploading */
        return -1;
    }
    if (f->ck)
        blz_checksum_update (f->ck, buf, (size_t) n);
    f->left -= (size_t) n;
    return n;
}

/* Big files go up as several chunks at once, each lane on its own connection (joined to the
 * session), so that reading, TLS, the router and the server's writes overlap; the client's
 * checksum is then computed by a reader thread going through the file in order. */
#define UPLOAD_LANES 3

typedef struct {
    struct upload_t *u;
    omero_client_t *c;
    int lane, nlanes;
    atomic_int *failed;
    blz_checksum_t *ck;         /* hashed on the way when there is one lane, else NULL */
    omero_err_t err;
    int error;                  /* errno of a failed open or read */
    bool open_failed;
    int rc;
} lane_t;

typedef struct {
    const char *path, *alg;
    char hash[65];
    char msg[512];
} hasher_t;

static void *
hash_file (void *arg)
{
    hasher_t *h = arg;
    omr_err_t e = {0};
    if (blz_checksum_file (h->alg, h->path, h->hash, &e) < 0)
        snprintf (h->msg, sizeof h->msg, "%s", e.msg);
    return NULL;
}

/* Send chunks lane, lane + nlanes, … of the file. */
static void *
upload_lane (void *arg)
{
    lane_t *l = arg;
    upload_t *u = l->u;
    l->rc = -1;
    int fd = open (u->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        l->error = errno;
        l->open_failed = true;
        atomic_store (l->failed, 1);
        return NULL;
    }
    l->rc = 0;
    for (long long off = (long long) l->lane * (long long) CHUNK; off < u->size && !atomic_load (l->failed);
         off += (long long) l->nlanes * (long long) CHUNK) {
        size_t n = (size_t) (u->size - off < (long long) CHUNK ? u->size - off : (long long) CHUNK);
        feed_t f = {fd, l->ck, n, 0};
        if (lseek (fd, (off_t) off, SEEK_SET) < 0) {
            l->error = errno;
            l->rc = -1;
            break;
        }
        json_t *args = json_pack ("{s:I, s:i, s:I}", "process", (json_int_t) u->process, "index", u->index, "offset",
                                  (json_int_t) off);
        json_t *r = omero_client_upload_stream (l->c, "ImportProcess", "write", args, feed, &f, n, &l->err);
        json_decref (args);
        json_decref (r);
        if (!r || f.error) {
            l->error = f.error;
            l->rc = -1;
            break;
        }
        pthread_mutex_lock (u->lock);
        *u->sent += (long long) n;
        TOT_ADD (u->tot, bytes, (long long) n);
        draw_bar (u);
        pthread_mutex_unlock (u->lock);
    }
    if (l->rc < 0)
        atomic_store (l->failed, 1);
    close (fd);
    return NULL;
}

/* Say in u->err why lane l failed. */
static void
lane_failure (upload_t *u, const lane_t *l)
{
    if (l->open_failed)
        snprintf (u->err.msg, sizeof u->err.msg, "%s: %s", u->path, strerror (l->error));
    else if (l->error)
        snprintf (u->err.msg, sizeof u->err.msg, "%s changed or failed while uploading: %s", u->path,
                  strerror (l->error));
    else
        u->err = l->err;
    if (!u->err.msg[0])
        snprintf (u->err.msg, sizeof u->err.msg, "%s: upload failed", u->path);
}

/* Upload a big file over UPLOAD_LANES connections; 1 when done, 0 when lanes could not be
 * set up (the caller uploads in one stream), -1 on failure (u->err says why). */
static int
upload_lanes (upload_t *u)
{
    lane_t lanes[UPLOAD_LANES] = {0};
    pthread_t th[UPLOAD_LANES], hth;
    atomic_int failed = 0;
    const char *session = omero_client_session (u->c);
    int n = 0;
    for (int i = 0; i < UPLOAD_LANES; i++) {
        lanes[i] = (lane_t) {.u = u, .c = u->c, .lane = i, .nlanes = UPLOAD_LANES, .failed = &failed};
        if (i > 0) {
            omero_err_t e = {0};
            lanes[i].c = session ? omero_client_new (omero_client_host (u->c), omero_client_port (u->c), &e) : NULL;
            if (!lanes[i].c || omero_client_join (lanes[i].c, session, &e) < 0) {
                omero_client_destroy (&lanes[i].c);
                break;
            }
        }
        n++;
    }
    if (n < UPLOAD_LANES) {
        for (int i = 1; i < n; i++) {
            omero_client_detach (lanes[i].c);
            omero_client_destroy (&lanes[i].c);
        }
        return 0;
    }
    hasher_t h = {.path = u->path, .alg = u->alg};
    bool hashing = pthread_create (&hth, NULL, hash_file, &h) == 0;
    int started = 0;
    for (int i = 1; i < n; i++)
        if (pthread_create (&th[i], NULL, upload_lane, &lanes[i]) == 0)
            started = i;
        else
            break;
    if (started == n - 1)
        upload_lane (&lanes[0]);
    else
        atomic_store (&failed, 1);
    for (int i = 1; i <= started; i++)
        pthread_join (th[i], NULL);
    if (hashing)
        pthread_join (hth, NULL);
    else
        hash_file (&h);
    int rc = 1;
    for (int i = 0; i < n && rc > 0; i++) {
        if (lanes[i].rc < 0 || (i > started && i > 0)) {
            rc = -1;
            lane_failure (u, &lanes[i]);
        }
    }
    if (rc > 0 && h.msg[0]) {
        snprintf (u->err.msg, sizeof u->err.msg, "%s", h.msg);
        rc = -1;
    }
    for (int i = 1; i < n; i++) {
        omero_client_detach (lanes[i].c);
        omero_client_destroy (&lanes[i].c);
    }
    snprintf (u->hash, sizeof u->hash, "%s", h.hash);
    return rc;
}

static void *
upload_one (void *arg)
{
    upload_t *u = arg;
    if (u->size > 2 * (long long) CHUNK) {
        int r = upload_lanes (u);
        if (r != 0) {
            u->rc = r > 0 ? 0 : -1;
            return NULL;
        }
    }
    /* one stream, hashed on the way */
    omr_err_t e = {0};
    atomic_int failed = 0;
    lane_t l = {.u = u, .c = u->c, .lane = 0, .nlanes = 1, .failed = &failed, .ck = blz_checksum_new (u->alg, &e)};
    if (!l.ck) {
        snprintf (u->err.msg, sizeof u->err.msg, "%s", e.msg);
        u->rc = -1;
        return NULL;
    }
    upload_lane (&l);
    blz_checksum_final (&l.ck, u->hash);
    u->rc = l.rc;
    if (l.rc < 0)
        lane_failure (u, &l);
    return NULL;
}

/* Place a file into the repository in place (ln_s, ln, cp …) instead of uploading it. */
static int
transfer_in_place (const char *method, const char *src, const char *dst, char *msg, size_t len)
{
    char dir[PATH_MAX];
    dir_of (dst, dir, sizeof dir);
    char tmp[PATH_MAX];
    snprintf (tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir (tmp, 0755);
            *p = '/';
        }
    mkdir (tmp, 0755);
    int rc = 0;
    if (!strcmp (method, "ln_s"))
        rc = symlink (src, dst);
    else if (!strcmp (method, "ln") || !strcmp (method, "ln_rm"))
        rc = link (src, dst);
    else {
        int in = open (src, O_RDONLY | O_CLOEXEC), out = in < 0 ? -1 : open (dst, O_WRONLY | O_CREAT | O_EXCL, 0644);
        char *buf = malloc (CHUNK);
        ssize_t n = 0;
        while (in >= 0 && out >= 0 && buf && (n = read (in, buf, CHUNK)) > 0)
            if (write (out, buf, (size_t) n) != n) {
                n = -1;
                break;
            }
        if (in < 0 || out < 0 || n < 0 || !buf)
            rc = -1;
        free (buf);
        if (in >= 0)
            close (in);
        if (out >= 0)
            close (out);
    }
    if (rc < 0)
        snprintf (msg, len, "transfer %s of %s to %s failed: %s", method, src, dst, strerror (errno));
    return rc;
}

/* ------------------------------------------------------------------ one fileset */

static int
import_one (omero_client_t *c, const iargs_t *a, cand_t *cand, const char *repo_root, totals_t *tot, json_t *target)
{
    int nf = cand->files.n;
    /* client paths relative to the common directory of the fileset's files */
    size_t common = strlen (cand->files.v[0]);
    for (int i = 0; i < nf; i++) {
        size_t k = 0;
        while (k < common && cand->files.v[i][k] == cand->files.v[0][k])
            k++;
        common = k;
    }
    while (common > 0 && cand->files.v[0][common - 1] != '/')
        common--;
    json_t *files = json_array ();
    long long total = 0;
    for (int i = 0; i < nf; i++) {
        struct stat st;
        if (stat (cand->files.v[i], &st) < 0) {
            if (i)
                fprintf (stderr, "Error: %s: its metadata names %s, which cannot be read: %s\n", cand->files.v[0],
                         cand->files.v[i], strerror (errno));
            else
                fprintf (stderr, "Error: %s: %s\n", cand->files.v[i], strerror (errno));
            json_decref (files);
            return -1;
        }
        total += st.st_size;
        json_array_append_new (files, json_pack ("{s:s, s:s, s:I}", "path", cand->files.v[i] + common, "clientPath",
                                                 cand->files.v[i], "size", (json_int_t) st.st_size));
    }
    json_t *args = json_pack ("{s:o}", "files", files);
    const char *alg = a->checksum;
    for (int i = 0; i < a->skip.n; i++)
        if (!strcmp (a->skip.v[i], "checksum") || !strcmp (a->skip.v[i], "all"))
            alg = "File-Size-64";
    json_object_set_new (args, "checksumAlgorithms",
                         json_string (alg ? alg : "SHA1-160,MD5-128,Murmur3-128,Murmur3-32,CRC-32,Adler-32,File-Size-64"));
    if (a->name)
        json_object_set_new (args, "name", json_string (a->name));
    if (a->transfer)
        json_object_set_new (args, "transfer", json_string (a->transfer));
    if (a->description)
        json_object_set_new (args, "description", json_string (a->description));
    if (target)
        json_object_set (args, "target", target);
    if (a->skip.n) {
        json_t *sk = json_array ();
        for (int i = 0; i < a->skip.n; i++)
            json_array_append_new (sk, json_string (a->skip.v[i]));
        json_object_set_new (args, "skip", sk);
    }
    omero_err_t err = {0};
    json_t *fs = omero_client_call (c, "ManagedRepository", "importFileset", args, &err);
    json_decref (args);
    if (!fs) {
        fprintf (stderr, "Error: %s: %s: %s\n", cand->files.v[0], err.name, err.msg);
        return -1;
    }
    long long process = omero_json_int (fs, "process", -1), handle = omero_json_int (fs, "handle", -1);
    long long fileset = omero_json_int (fs, "fileset", -1);
    const char *prefix = json_string_value (json_object_get (fs, "templatePrefix"));
    const char *use_alg = json_string_value (json_object_get (fs, "checksumAlgorithm"));
    const char *transfer = a->transfer ? a->transfer : "upload";
    bool in_place = strcmp (transfer, "upload") && strcmp (transfer, "upload_rm");
    bool bar = isatty (2) && !in_place;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    long long sent = 0;
    upload_t *ups = calloc ((size_t) nf, sizeof *ups);
    int rc = 0;
    char msg[PATH_MAX * 2 + 256] = "";
    const char *session = omero_client_session (c);
    int par = a->parallel_upload > 1 ? a->parallel_upload : 1;
    for (int i = 0; i < nf; i++) {
        upload_t *u = &ups[i];
        u->path = cand->files.v[i];
        u->alg = use_alg;
        u->process = process;
        u->index = i;
        u->tot = tot;
        u->lock = &lock;
        u->sent = &sent;
        u->total = total;
        u->bar = bar;
        struct stat st;
        stat (u->path, &st);
        u->size = st.st_size;
    }
    if (in_place) {
        for (int i = 0; i < nf && !rc; i++) {
            char dst[PATH_MAX * 2];
            snprintf (dst, sizeof dst, "%s/%s%s", repo_root, prefix, cand->files.v[i] + common);
            omr_err_t e = {0};
            if (transfer_in_place (transfer, cand->files.v[i], dst, msg, sizeof msg) < 0
                || blz_checksum_file (use_alg, cand->files.v[i], ups[i].hash, &e) < 0) {
                if (!msg[0])
                    snprintf (msg, sizeof msg, "%s", e.msg);
                rc = -1;
            }
        }
    } else {
        /* upload with `par` threads, each on its own connection joined to this session */
        for (int start = 0; start < nf && !rc; start += par) {
            pthread_t th[64];
            int nth = 0;
            for (int i = start; i < nf && i < start + par && i < start + 64; i++) {
                upload_t *u = &ups[i];
                if (par > 1) {
                    omero_err_t e2 = {0};
                    u->c = omero_client_new (omero_client_host (c), omero_client_port (c), &e2);
                    if (!u->c || omero_client_join (u->c, session, &e2) < 0) {
                        omero_client_destroy (&u->c);
                        u->c = c;
                        upload_one (u);
                        continue;
                    }
                    if (pthread_create (&th[nth], NULL, upload_one, u) == 0)
                        nth++;
                    else
                        upload_one (u);
                } else {
                    u->c = c;
                    upload_one (u);
                }
            }
            for (int k = 0; k < nth; k++)
                pthread_join (th[k], NULL);
            for (int i = start; i < nf && i < start + par; i++) {
                if (ups[i].c && ups[i].c != c) {
                    omero_client_detach (ups[i].c);
                    omero_client_destroy (&ups[i].c);
                }
                if (ups[i].rc < 0 && !rc) {
                    rc = -1;
                    snprintf (msg, sizeof msg, "%s: %s%s%s", ups[i].path, ups[i].err.name, ups[i].err.name[0] ? ": " : "",
                              ups[i].err.msg);
                }
            }
        }
        if (bar)
            fprintf (stderr, "\n");
    }
    if (rc < 0) {
        json_t *ca = json_pack ("{s:I}", "process", (json_int_t) process);
        json_t *r = omero_client_call (c, "ImportProcess", "cancel", ca, &err);
        json_decref (ca);
        json_decref (r);
        fprintf (stderr, "Error: %s\n", msg);
        free (ups);
        json_decref (fs);
        return -1;
    }
    if (!in_place)
        TOT_ADD (tot, files_uploaded, nf);
    json_t *hashes = json_array ();
    for (int i = 0; i < nf; i++)
        json_array_append_new (hashes, json_string (ups[i].hash));
    free (ups);
    json_t *va = json_pack ("{s:I, s:o}", "process", (json_int_t) process, "hashes", hashes);
    json_t *v = omero_client_call (c, "ImportProcess", "verifyUpload", va, &err);
    json_decref (va);
    if (!v) {
        fprintf (stderr, "Error: %s: %s: %s\n", cand->files.v[0], err.name, err.msg);
        json_decref (fs);
        return -1;
    }
    json_decref (v);
    TOT_ADD (tot, filesets, 1);
    if (a->wait_set && a->minutes_wait == 0) {
        fprintf (stderr, "Fileset:%lld is being imported in the background (handle %lld)\n", fileset, handle);
        json_decref (fs);
        return 0;
    }
    /* poll the import handle */
    long long deadline = a->wait_set && a->minutes_wait > 0 ? (long long) time (NULL) + a->minutes_wait * 60 : 0;
    json_t *st = NULL;
    int delay = 50000;
    for (;;) {
        json_t *ha = json_pack ("{s:I}", "handle", (json_int_t) handle);
        st = omero_client_call (c, "Handle", "getStatus", ha, &err);
        json_decref (ha);
        if (!st) {
            fprintf (stderr, "Error: %s: %s: %s\n", cand->files.v[0], err.name, err.msg);
            json_decref (fs);
            return -1;
        }
        if (omero_json_bool (st, "finished", false))
            break;
        if (isatty (2))
            fprintf (stderr, "\r%-79.79s", json_string_value (json_object_get (st, "message")));
        json_decref (st);
        st = NULL;
        if (deadline && time (NULL) > deadline) {
            fprintf (stderr, "Fileset:%lld is still being imported (handle %lld); stopped waiting\n", fileset, handle);
            json_decref (fs);
            return 0;
        }
        usleep ((useconds_t) delay);
        if (delay < 250000)
            delay = delay * 3 / 2;
    }
    if (isatty (2))
        fprintf (stderr, "\r%79s\r", "");
    const char *status = json_string_value (json_object_get (st, "status"));
    if (!status || strcmp (status, "Finished")) {
        fprintf (stderr, "Error: %s: %s\n", cand->files.v[0], json_string_value (json_object_get (st, "message")));
        TOT_ADD (tot, filesets, -1);
        json_decref (st);
        json_decref (fs);
        return -1;
    }
    json_t *images = json_object_get (st, "images");
    size_t k;
    json_t *im;
    flockfile (stdout);     /* one fileset's lines together when filesets run in parallel */
    json_array_foreach (images, k, im)
    {
        printf ("Image:%lld\n", (long long) json_integer_value (im));
        TOT_ADD (tot, images, 1);
    }
    fflush (stdout);
    funlockfile (stdout);
    fprintf (stderr, "Other imported objects:\nFileset:%lld\n", fileset);
    if (!strcmp (transfer, "upload_rm") || !strcmp (transfer, "cp_rm") || !strcmp (transfer, "ln_rm"))
        for (int i = 0; i < nf; i++)
            if (unlink (cand->files.v[i]) < 0)
                fprintf (stderr, "Warning: could not remove %s: %s\n", cand->files.v[i], strerror (errno));
    json_decref (st);
    json_decref (fs);
    return 0;
}

/* ------------------------------------------------------------------ command line */

static void
usage (FILE *out)
{
    fputs ("usage: omero import [-h] [-f] [-c] [-d DATASET_ID] [-r SCREEN_ID] [-T TARGET] [-n NAME] [-x DESCRIPTION]\n"
           "                    [--depth DEPTH] [--skip {all,checksum,minmax,thumbnails,upgrade}] [--file FILE]\n"
           "                    [--errs ERRS] [--bulk YAML_FILE] [--transfer METHOD] [--checksum-algorithm ALG]\n"
           "                    [--parallel-upload COUNT] [--parallel-fileset COUNT] [--exclude {filename,clientpath}]\n"
           "                    [--minutes-wait MINUTES] [login arguments] path [path ...]\n",
           out);
}

static int
help (void)
{
    usage (stdout);
    fputs ("\nRun the OMERO importer: upload files into the managed repository and import them.\n\n"
           "Positional Arguments:\n"
           "  path                  files or directories to import (directories are searched)\n\n"
           "Optional Arguments:\n"
           "  -h, --help            show this help message and exit\n"
           "  -f                    display the files that would be imported, grouped into filesets, and exit\n"
           "  -c                    continue importing the other filesets after an error\n"
           "  -d DATASET_ID         import images into this Dataset (same as -T Dataset:id:ID)\n"
           "  -r SCREEN_ID          import plates into this Screen\n"
           "  -T, --target TARGET   Dataset:id:N, Dataset:[+-%@]name:NAME, Project:name:P/Dataset:name:D,\n"
           "                        regex:[+name:]PATTERN with a (?<Container1>...) group\n"
           "  -n, --name NAME       image name\n"
           "  -x, --description DESCRIPTION  image description\n"
           "  --depth DEPTH         directory scan depth (default 4)\n"
           "  --skip SKIP           skip an optional step: all, checksum (size only), minmax, thumbnails, upgrade;\n"
           "                        may be repeated\n"
           "  --file FILE           write standard output to FILE\n"
           "  --errs ERRS           write standard error to ERRS\n"
           "  --logprefix PREFIX    directory or file prefix for --file and --errs\n"
           "  --bulk YAML_FILE      bulk import (path, columns, name, target, skip, continue, transfer,\n"
           "                        checksum_algorithm, exclude, parallel_upload, parallel_fileset, include, dry_run)\n"
           "  --transfer METHOD     upload (default), upload_rm, ln_s, ln, ln_rm, cp, cp_rm\n"
           "  --checksum-algorithm ALG  Adler-32, CRC-32, File-Size-64, MD5-128, Murmur3-32, Murmur3-128, SHA1-160\n"
           "  --parallel-upload COUNT   files uploaded concurrently (default 1)\n"
           "  --parallel-fileset COUNT  filesets imported concurrently (default 1)\n"
           "  --exclude filename|clientpath  skip files imported before (same name / same client path)\n"
           "  --minutes-wait MINUTES    wait this long for server-side processing (0: do not wait; <0: forever)\n\n"
           "Prints one Image:ID line per imported image on standard output. Exit status 0 when every\n"
           "fileset imported, 1 when any failed, 2 for usage errors.\n\n",
           stdout);
    cli_login_help (stdout);
    return 0;
}

static const char *
opt_value (int argc, char **argv, int *i, const char *shrt, const char *lng, int *bad)
{
    const char *a = argv[*i];
    size_t ll = lng ? strlen (lng) : 0;
    if (lng && !strncmp (a, lng, ll) && a[ll] == '=')
        return a + ll + 1;
    if ((shrt && !strcmp (a, shrt)) || (lng && !strcmp (a, lng))) {
        if (*i + 1 >= argc) {
            usage (stderr);
            fprintf (stderr, "omero import: error: argument %s: expected one argument\n", a);
            *bad = 1;
            return NULL;
        }
        return argv[++*i];
    }
    return NULL;
}

/* Parse import options from argv (also used for bulk lines); 0, or 2 on a usage error. */
static int
parse_args (iargs_t *a, cli_login_args_t *la, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *v;
        int bad = 0;
        if (la) {
            int r = cli_login_arg (la, argc, argv, &i);
            if (r < 0)
                return 2;
            if (r > 0)
                continue;
        }
        const char *s = argv[i];
        if (!strcmp (s, "--"))
            continue;       /* the rest goes to "the Java importer": the same options here */
        if (!strcmp (s, "-f"))
            a->show_only = true;
        else if (!strcmp (s, "-c") || !strcmp (s, "--continue"))
            a->keep_going = true;
        else if ((v = opt_value (argc, argv, &i, "-d", NULL, &bad))) {
            snprintf (a->target_buf, sizeof a->target_buf, "Dataset:id:%s", !strncmp (v, "Dataset:", 8) ? v + 8 : v);
            a->target = a->target_buf;
        } else if ((v = opt_value (argc, argv, &i, "-r", NULL, &bad))) {
            snprintf (a->target_buf, sizeof a->target_buf, "Screen:id:%s", v);
            a->target = a->target_buf;
        } else if ((v = opt_value (argc, argv, &i, "-T", "--target", &bad)))
            a->target = v;
        else if ((v = opt_value (argc, argv, &i, "-n", "--name", &bad)) || (v = opt_value (argc, argv, &i, NULL, "--plate_name", &bad)))
            a->name = v;
        else if ((v = opt_value (argc, argv, &i, "-x", "--description", &bad))
                 || (v = opt_value (argc, argv, &i, NULL, "--plate_description", &bad)))
            a->description = v;
        else if ((v = opt_value (argc, argv, &i, NULL, "--depth", &bad)))
            a->depth = atoi (v);
        else if ((v = opt_value (argc, argv, &i, NULL, "--skip", &bad))) {
            if (strcmp (v, "all") && strcmp (v, "checksum") && strcmp (v, "minmax") && strcmp (v, "thumbnails")
                && strcmp (v, "upgrade")) {
                usage (stderr);
                fprintf (stderr, "omero import: error: argument --skip: invalid choice: '%s' (choose from 'all', "
                         "'checksum', 'minmax', 'thumbnails', 'upgrade')\n", v);
                return 2;
            }
            sv_add (&a->skip, v);
        } else if ((v = opt_value (argc, argv, &i, NULL, "--file", &bad)))
            a->file = v;
        else if ((v = opt_value (argc, argv, &i, NULL, "--errs", &bad)))
            a->errs = v;
        else if ((v = opt_value (argc, argv, &i, NULL, "--bulk", &bad)))
            a->bulk = v;
        else if ((v = opt_value (argc, argv, &i, NULL, "--transfer", &bad))) {
            static const char *const ok[] = {"upload", "upload_rm", "ln_s", "ln", "ln_rm", "cp", "cp_rm", NULL};
            int found = 0;
            for (int k = 0; ok[k]; k++)
                found |= !strcmp (ok[k], v);
            if (!found) {
                fprintf (stderr, "omero import: error: --transfer: unknown method '%s' (upload, upload_rm, ln_s, ln, "
                         "ln_rm, cp, cp_rm)\n", v);
                return 2;
            }
            a->transfer = v;
        } else if ((v = opt_value (argc, argv, &i, NULL, "--checksum-algorithm", &bad))
                   || (v = opt_value (argc, argv, &i, NULL, "--checksum_algorithm", &bad))) {
            if (!blz_checksum_known (v)) {
                fprintf (stderr, "omero import: error: --checksum-algorithm: unknown '%s' (Adler-32, CRC-32, "
                         "File-Size-64, MD5-128, Murmur3-32, Murmur3-128, SHA1-160)\n", v);
                return 2;
            }
            a->checksum = v;
        } else if ((v = opt_value (argc, argv, &i, NULL, "--parallel-upload", &bad)))
            a->parallel_upload = atoi (v);
        else if ((v = opt_value (argc, argv, &i, NULL, "--parallel-fileset", &bad)))
            a->parallel_fileset = atoi (v);
        else if ((v = opt_value (argc, argv, &i, NULL, "--exclude", &bad))) {
            if (strcmp (v, "filename") && strcmp (v, "clientpath")) {
                fprintf (stderr, "omero import: error: --exclude: use filename or clientpath\n");
                return 2;
            }
            a->exclude = v;
        } else if ((v = opt_value (argc, argv, &i, NULL, "--minutes-wait", &bad))) {
            a->minutes_wait = atol (v);
            a->wait_set = true;
        } else if (!strcmp (s, "--no-stats-info"))
            sv_add (&a->skip, "minmax");
        else if (!strcmp (s, "--no-thumbnails"))
            sv_add (&a->skip, "thumbnails");
        else if (!strcmp (s, "--no-upgrade-check"))
            sv_add (&a->skip, "upgrade");
        else if (!strcmp (s, "--auto-close") || !strcmp (s, "--close-completed") || !strcmp (s, "--wait-completed"))
            ;
        else if ((v = opt_value (argc, argv, &i, NULL, "--logprefix", &bad)))
            a->logprefix = v;
        else if (!strncmp (s, "--debug", 7) || !strncmp (s, "--keep-alive", 12)) {
            if (!strchr (s, '=') && i + 1 < argc)
                i++;       /* accepted for compatibility; logging has one level here */
        } else if (bad)
            return 2;
        else if (s[0] == '-' && s[1]) {
            usage (stderr);
            fprintf (stderr, "omero import: error: unrecognized argument: %s\n", s);
            return 2;
        } else
            sv_add (&a->paths, s);
        if (bad)
            return 2;
    }
    return 0;
}

/* Whether a file was imported before by this user (--exclude). */
static int
excluded (omero_client_t *c, const iargs_t *a, const cand_t *cand)
{
    if (!a->exclude || !c)
        return 0;
    const char *b = strrchr (cand->files.v[0], '/');
    json_t *args = !strcmp (a->exclude, "filename") ? json_pack ("{s:s}", "name", b ? b + 1 : cand->files.v[0])
                                                     : json_pack ("{s:s}", "clientPath", cand->files.v[0] + 1);
    omero_err_t err = {0};
    json_t *r = omero_client_call (c, "ManagedRepository", "findFilesetEntries", args, &err);
    json_decref (args);
    int n = r ? (int) json_array_size (json_object_get (r, "data")) : 0;
    json_decref (r);
    return n > 0;
}

/* The filesets of one run, taken one at a time by --parallel-fileset threads. */
typedef struct {
    omero_client_t *c;          /* the main thread's client (its session is joined by the others) */
    const iargs_t *a;
    cand_t *cands;
    int n, next;
    bool stop;
    const char *repo_root;
    totals_t *tot;
    pthread_mutex_t lock;
} pool_t;

/* Import filesets of the pool with client c until none is left (or an error stops the run). */
static void
pool_run (pool_t *p, omero_client_t *c)
{
    for (;;) {
        pthread_mutex_lock (&p->lock);
        int i = p->stop ? p->n : p->next++;
        pthread_mutex_unlock (&p->lock);
        if (i >= p->n)
            return;
        cand_t *cand = &p->cands[i];
        if (excluded (c, p->a, cand)) {
            fprintf (stderr, "Skipping %s: imported before (--exclude=%s)\n", cand->files.v[0], p->a->exclude);
            continue;
        }
        int bad = 0;
        json_t *target = target_json (p->a->target, cand, &bad);
        if (bad || import_one (c, p->a, cand, p->repo_root, p->tot, target) < 0) {
            TOT_ADD (p->tot, errors, 1);
            if (!p->a->keep_going) {
                pthread_mutex_lock (&p->lock);
                p->stop = true;
                pthread_mutex_unlock (&p->lock);
            }
        }
        json_decref (target);
    }
}

/* A --parallel-fileset thread: its own connection, joined to the session. */
static void *
pool_worker (void *arg)
{
    pool_t *p = arg;
    omero_err_t err = {0};
    omero_client_t *c = omero_client_new (omero_client_host (p->c), omero_client_port (p->c), &err);
    if (c && omero_client_join (c, omero_client_session (p->c), &err) == 0)
        pool_run (p, c);
    if (c)
        omero_client_detach (c);
    omero_client_destroy (&c);
    return NULL;
}

static int
run_import (cli_t *cli, cli_login_args_t *la, iargs_t *a, omero_client_t **cp, totals_t *tot)
{
    cand_t *cands = NULL;
    int n = 0, unknown = 0;
    int errors = find_candidates (a, &cands, &n, &unknown);
    TOT_ADD (tot, errors, errors);
    int rc = 0;
    if (a->show_only) {
        int nfiles = 0;
        for (int i = 0; i < n; i++)
            nfiles += cands[i].files.n;
        fprintf (stderr, "%d file(s) parsed into %d group(s) [%d unknowns]\n", nfiles, n, unknown);
        for (int i = 0; i < n; i++) {
            printf ("#======================================\n# Group: %s SPW: false Reader: %s\n", cands[i].files.v[0],
                    cands[i].reader);
            for (int k = 0; k < cands[i].files.n; k++)
                printf ("%s\n", cands[i].files.v[k]);
        }
        goto done;
    }
    if (n == 0 && errors == 0) {
        fprintf (stderr, "Error: no importable files found in %s\n", a->paths.n ? a->paths.v[0] : "(no path)");
        TOT_ADD (tot, errors, 1);
        goto done;
    }
    if (errors && !a->keep_going)
        goto done;
    if (!*cp) {
        int lrc;
        *cp = cli_session_client (cli, la, &lrc);
        if (!*cp) {
            TOT_ADD (tot, errors, 1);
            rc = lrc;
            goto done;
        }
    }
    char repo_root[PATH_MAX] = "";
    if (a->transfer && strcmp (a->transfer, "upload") && strcmp (a->transfer, "upload_rm")) {
        omero_err_t err = {0};
        json_t *r = omero_client_call (*cp, "ManagedRepository", "listRepositories", NULL, &err);
        const char *p = r ? json_string_value (json_object_get (json_array_get (json_object_get (r, "data"), 0), "path")) : NULL;
        if (!p) {
            fprintf (stderr, "Error: cannot find the managed repository for --transfer=%s: %s\n", a->transfer, err.msg);
            json_decref (r);
            TOT_ADD (tot, errors, 1);
            goto done;
        }
        snprintf (repo_root, sizeof repo_root, "%s", p);
        json_decref (r);
        /* the repository is made by the first import: judge by its closest existing directory */
        char probe[PATH_MAX];
        snprintf (probe, sizeof probe, "%s", repo_root);
        while (access (probe, F_OK) < 0 && strrchr (probe, '/') && strrchr (probe, '/') != probe)
            *strrchr (probe, '/') = '\0';
        if (access (probe, W_OK) < 0) {
            fprintf (stderr, "Error: --transfer=%s needs write access to %s on this machine: %s\n", a->transfer, repo_root,
                     strerror (errno));
            TOT_ADD (tot, errors, 1);
            goto done;
        }
    }
    {
        pool_t pool = {.c = *cp, .a = a, .cands = cands, .n = n, .repo_root = repo_root, .tot = tot};
        pthread_mutex_init (&pool.lock, NULL);
        int par = a->parallel_fileset > 1 ? (a->parallel_fileset < 16 ? a->parallel_fileset : 16) : 1;
        pthread_t th[16];
        int nth = 0;
        for (int k = 1; k < par && k < n; k++)
            if (pthread_create (&th[nth], NULL, pool_worker, &pool) == 0)
                nth++;
        pool_run (&pool, *cp);
        for (int k = 0; k < nth; k++)
            pthread_join (th[k], NULL);
        pthread_mutex_destroy (&pool.lock);
    }
done:
    for (int i = 0; i < n; i++) {
        sv_free (&cands[i].files);
        free (cands[i].container);
    }
    free (cands);
    return rc;
}

/* A scalar of a YAML mapping as text, NULL when absent. */
static const char *
yaml_get (yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node (doc, p->key), *v = yaml_document_get_node (doc, p->value);
        if (k && v && k->type == YAML_SCALAR_NODE && !strcmp ((char *) k->data.scalar.value, key)
            && v->type == YAML_SCALAR_NODE)
            return (const char *) v->data.scalar.value;
    }
    return NULL;
}

static yaml_node_t *
yaml_get_node (yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node (doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp ((char *) k->data.scalar.value, key))
            return yaml_document_get_node (doc, p->value);
    }
    return NULL;
}

/* --bulk: each line of the `path` file is one import, its fields named by `columns`. */
static int
run_bulk (cli_t *cli, cli_login_args_t *la, const iargs_t *base, omero_client_t **cp, totals_t *tot, int depth)
{
    FILE *f = fopen (base->bulk, "rb");
    if (!f) {
        fprintf (stderr, "Error: %s: %s\n", base->bulk, strerror (errno));
        return 1;
    }
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize (&p);
    yaml_parser_set_input_file (&p, f);
    int ok = yaml_parser_load (&p, &doc);
    fclose (f);
    yaml_node_t *root = ok ? yaml_document_get_root_node (&doc) : NULL;
    if (!root || root->type != YAML_MAPPING_NODE) {
        fprintf (stderr, "Error: %s: not a YAML mapping%s%s\n", base->bulk, p.problem ? ": " : "", p.problem ? p.problem : "");
        if (ok)
            yaml_document_delete (&doc);
        yaml_parser_delete (&p);
        return 1;
    }
    iargs_t a = *base;
    a.bulk = NULL;
    memset (&a.paths, 0, sizeof a.paths);
    memset (&a.skip, 0, sizeof a.skip);
    for (int i = 0; i < base->skip.n; i++)
        sv_add (&a.skip, base->skip.v[i]);
    char dir[PATH_MAX];
    dir_of (base->bulk, dir, sizeof dir);
    const char *inc = yaml_get (&doc, root, "include");
    int rc = 0;
    if (inc && depth < 8) {
        /* an included file gives defaults (checksum_algorithm, exclude, transfer …) */
        char ip[PATH_MAX * 2];
        snprintf (ip, sizeof ip, "%s%s%s", inc[0] == '/' ? "" : dir, inc[0] == '/' ? "" : "/", inc);
        FILE *g = fopen (ip, "rb");
        if (!g) {
            fprintf (stderr, "Error: include %s: %s\n", ip, strerror (errno));
            rc = 1;
        } else {
            yaml_parser_t p2;
            yaml_document_t d2;
            yaml_parser_initialize (&p2);
            yaml_parser_set_input_file (&p2, g);
            if (yaml_parser_load (&p2, &d2)) {
                yaml_node_t *r2 = yaml_document_get_root_node (&d2);
                if (r2 && r2->type == YAML_MAPPING_NODE) {
                    const char *v;
                    if ((v = yaml_get (&d2, r2, "checksum_algorithm")))
                        a.checksum = strdup (v);
                    if ((v = yaml_get (&d2, r2, "transfer")))
                        a.transfer = strdup (v);
                    if ((v = yaml_get (&d2, r2, "exclude")))
                        a.exclude = strdup (v);
                }
                yaml_document_delete (&d2);
            }
            yaml_parser_delete (&p2);
            fclose (g);
        }
    }
    const char *v;
    if ((v = yaml_get (&doc, root, "checksum_algorithm")))
        a.checksum = v;
    if ((v = yaml_get (&doc, root, "transfer")))
        a.transfer = v;
    if ((v = yaml_get (&doc, root, "exclude")))
        a.exclude = v;
    if ((v = yaml_get (&doc, root, "target")))
        a.target = v;
    if ((v = yaml_get (&doc, root, "continue")))
        a.keep_going = !strcmp (v, "true") || !strcmp (v, "yes");
    if ((v = yaml_get (&doc, root, "parallel_upload")))
        a.parallel_upload = atoi (v);
    if ((v = yaml_get (&doc, root, "parallel_fileset")))
        a.parallel_fileset = atoi (v);
    yaml_node_t *sk = yaml_get_node (&doc, root, "skip");
    if (sk && sk->type == YAML_SCALAR_NODE)
        sv_add (&a.skip, (char *) sk->data.scalar.value);
    else if (sk && sk->type == YAML_SEQUENCE_NODE)
        for (yaml_node_item_t *it = sk->data.sequence.items.start; it < sk->data.sequence.items.top; it++) {
            yaml_node_t *n = yaml_document_get_node (&doc, *it);
            if (n && n->type == YAML_SCALAR_NODE)
                sv_add (&a.skip, (char *) n->data.scalar.value);
        }
    const char *dry = yaml_get (&doc, root, "dry_run");
    bool dry_run = dry && strcmp (dry, "false") && strcmp (dry, "no");
    strv_t cols = {0};
    yaml_node_t *cn = yaml_get_node (&doc, root, "columns");
    if (cn && cn->type == YAML_SEQUENCE_NODE)
        for (yaml_node_item_t *it = cn->data.sequence.items.start; it < cn->data.sequence.items.top; it++) {
            yaml_node_t *n = yaml_document_get_node (&doc, *it);
            if (n && n->type == YAML_SCALAR_NODE)
                sv_add (&cols, (char *) n->data.scalar.value);
        }
    if (!cols.n)
        sv_add (&cols, "path");
    const char *path = yaml_get (&doc, root, "path");
    if (!path) {
        fprintf (stderr, "Error: %s: no 'path' naming the file of imports\n", base->bulk);
        rc = 1;
    }
    char lp[PATH_MAX * 2];
    FILE *lf = NULL;
    if (path) {
        snprintf (lp, sizeof lp, "%s%s%s", path[0] == '/' ? "" : dir, path[0] == '/' ? "" : "/", path);
        lf = fopen (lp, "r");
        if (!lf) {
            fprintf (stderr, "Error: %s: %s\n", lp, strerror (errno));
            rc = 1;
        }
    }
    char line[PATH_MAX * 2];
    int count = 0;
    while (lf && fgets (line, sizeof line, lf)) {
        line[strcspn (line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        char sep = strchr (line, '\t') ? '\t' : ',';
        iargs_t one = a;
        memset (&one.paths, 0, sizeof one.paths);
        char *fields[32];
        int nfld = 0;
        char *s = line;
        while (nfld < 32) {
            fields[nfld++] = s;
            char *e = strchr (s, sep);
            if (!e || cols.n == 1)
                break;
            *e = 0;
            s = e + 1;
        }
        for (int k = 0; k < nfld && k < cols.n; k++) {
            if (!strcmp (cols.v[k], "path"))
                sv_add (&one.paths, fields[k][0] == '/' ? fields[k] : (snprintf (lp, sizeof lp, "%s/%s", dir, fields[k]), lp));
            else if (!strcmp (cols.v[k], "name"))
                one.name = fields[k];
            else if (!strcmp (cols.v[k], "target"))
                one.target = fields[k];
            else if (!strcmp (cols.v[k], "description"))
                one.description = fields[k];
        }
        count++;
        if (dry_run) {
            printf ("# import %d:%s%s%s%s%s", count, one.name ? " --name " : "", one.name ? one.name : "",
                    one.target ? " -T " : "", one.target ? one.target : "", "");
            for (int k = 0; k < one.paths.n; k++)
                printf (" %s", one.paths.v[k]);
            printf ("\n");
        } else {
            int before = tot->errors;
            int r = run_import (cli, la, &one, cp, tot);
            if (r)
                rc = r;
            if (tot->errors > before && !a.keep_going) {
                sv_free (&one.paths);
                break;
            }
        }
        sv_free (&one.paths);
    }
    if (lf)
        fclose (lf);
    sv_free (&cols);
    sv_free (&a.skip);
    yaml_document_delete (&doc);
    yaml_parser_delete (&p);
    return rc;
}

int
cli_import (cli_t *cli, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--"))
            break;
        if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help") || !strcmp (argv[i], "--advanced-help")
            || !strcmp (argv[i], "--java-help"))
            return help ();
    }
    iargs_t a = {0};
    a.depth = 4;
    a.minutes_wait = -1;
    cli_login_args_t la = {0};
    int rc = parse_args (&a, &la, argc - 1, argv + 1);
    if (rc) {
        sv_free (&a.paths);
        sv_free (&a.skip);
        return rc;
    }
    if (!a.paths.n && !a.bulk) {
        usage (stderr);
        fprintf (stderr, "omero import: error: give files or directories to import (or --bulk FILE)\n");
        sv_free (&a.skip);
        return 2;
    }
    if (a.paths.n == 1 && !strcmp (a.paths.v[0], "-")) {
        /* a list of paths on standard input */
        sv_free (&a.paths);
        char line[PATH_MAX];
        while (fgets (line, sizeof line, stdin)) {
            line[strcspn (line, "\r\n")] = 0;
            if (line[0])
                sv_add (&a.paths, line);
        }
    }
    char file_buf[PATH_MAX], errs_buf[PATH_MAX];
    if (a.logprefix && a.file) {
        snprintf (file_buf, sizeof file_buf, "%s%s", a.logprefix, a.file);
        a.file = file_buf;
    }
    if (a.logprefix && a.errs) {
        snprintf (errs_buf, sizeof errs_buf, "%s%s", a.logprefix, a.errs);
        a.errs = errs_buf;
    }
    if (a.file && !freopen (a.file, "w", stdout))
        return cli_fail ("cannot write %s: %s", a.file, strerror (errno));
    if (a.errs && !freopen (a.errs, "w", stderr))
        return cli_fail ("cannot write %s: %s", a.errs, strerror (errno));
    TIFFSetErrorHandler (quiet_tiff);
    TIFFSetWarningHandler (quiet_tiff);
    struct timeval t0, t1;
    gettimeofday (&t0, NULL);
    pthread_mutex_t tot_lock = PTHREAD_MUTEX_INITIALIZER;
    totals_t tot = {.lock = &tot_lock};
    omero_client_t *c = NULL;
    if (a.bulk)
        rc = run_bulk (cli, &la, &a, &c, &tot, 0);
    else
        rc = run_import (cli, &la, &a, &c, &tot);
    omero_client_destroy (&c);
    gettimeofday (&t1, NULL);
    if (!a.show_only) {
        double s = (double) (t1.tv_sec - t0.tv_sec) + (t1.tv_usec - t0.tv_usec) / 1e6;
        int h = (int) (s / 3600), m = (int) (s / 60) % 60;
        fprintf (stderr, "\n==> Summary\n%d file%s uploaded, %d fileset%s created, %d image%s imported, %d error%s in "
                 "%d:%02d:%06.3f\n",
                 tot.files_uploaded, tot.files_uploaded == 1 ? "" : "s", tot.filesets, tot.filesets == 1 ? "" : "s",
                 tot.images, tot.images == 1 ? "" : "s", tot.errors, tot.errors == 1 ? "" : "s", h, m,
                 s - h * 3600 - m * 60);
    }
    sv_free (&a.paths);
    sv_free (&a.skip);
    if (rc)
        return rc;
    return tot.errors ? 1 : 0;
}
