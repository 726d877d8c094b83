/* upload: `omero upload [--mimetype M] [--data-dir DIR] FILE...` — each local file becomes an
 * OriginalFile (IUpdate) whose bytes are written with RawFileStore and saved (size and SHA1-160
 * recorded by the server, checked against the local file), then prints OriginalFile:IDS as
 * OMERO's CLI does ("OriginalFile:5", "OriginalFile:5,6", "OriginalFile:5-7"). With --data-dir
 * (the server's omero.data.dir, on this machine) the file is not copied: Files/<id> there
 * becomes a symbolic link to it, as OMERO's upload_ln_s. A file that fails leaves no
 * OriginalFile behind. */
#include "cli.h"
#include "login.h"
#include "services/blitz/checksum.h"
#include "sessions.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK ((long long) 16 << 20)

static void
usage (FILE *out)
{
    fputs ("usage: omero upload [-h] [--mimetype MIMETYPE] [--data-dir DATA_DIR] [login arguments] file [file ...]\n",
           out);
}

static int
help (void)
{
    usage (stdout);
    fputs ("\nUpload local files to the OMERO server\n\n"
           "Positional Arguments:\n"
           "  file                  local files to be uploaded\n\n"
           "Optional Arguments:\n"
           "  --mimetype MIMETYPE   mimetype of the uploaded files (default: guessed from the extension)\n"
           "  --data-dir DATA_DIR   the server's omero.data.dir, reachable from here: link the files into it\n"
           "                        instead of copying them\n\n",
           stdout);
    cli_login_help (stdout);
    return 0;
}

/* Python's mimetypes.guess_type for the common cases; NULL leaves the server's default. */
static const char *
guess_mimetype (const char *file)
{
    static const char *map[][2] = {
        {".csv", "text/csv"},          {".txt", "text/plain"},         {".tsv", "text/tab-separated-values"},
        {".json", "application/json"}, {".xml", "application/xml"},    {".html", "text/html"},
        {".pdf", "application/pdf"},   {".zip", "application/zip"},    {".gz", "application/gzip"},
        {".png", "image/png"},         {".jpg", "image/jpeg"},         {".jpeg", "image/jpeg"},
        {".tif", "image/tiff"},        {".tiff", "image/tiff"},        {".gif", "image/gif"},
        {".py", "text/x-python"},      {".h5", "application/x-hdf5"},  {".hdf5", "application/x-hdf5"},
    };
    const char *dot = strrchr (file, '.');
    const char *slash = strrchr (file, '/');
    if (!dot || (slash && dot < slash))
        return NULL;
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcasecmp (dot, map[i][0]))
            return map[i][1];
    return NULL;
}

typedef struct {
    FILE *in;
    long long left;
    blz_checksum_t *ck;
} source_t;

static long
source (void *buf, size_t cap, void *arg)
{
    source_t *s = arg;
    size_t want = (long long) cap < s->left ? cap : (size_t) s->left;
    size_t n = want ? fread (buf, 1, want, s->in) : 0;
    if (n < want && ferror (s->in))
        return -1;
    blz_checksum_update (s->ck, buf, n);
    s->left -= (long long) n;
    return (long) n;
}

/* Remove a half-made OriginalFile (best effort: the upload already failed). */
static void
discard (omero_client_t *c, long long id)
{
    omero_err_t err = {0};
    char ref[64];
    snprintf (ref, sizeof ref, "OriginalFile:%lld", id);
    json_t *args = json_pack ("{s:s}", "object", ref);
    json_decref (omero_client_call (c, "IUpdate", "deleteObject", args, &err));
    json_decref (args);
}

/* Create the OriginalFile row; its id or -1 after printing why. */
static long long
create (omero_client_t *c, const char *file, const char *mimetype, long long size)
{
    char dir[PATH_MAX];
    snprintf (dir, sizeof dir, "%s", file);
    char *slash = strrchr (dir, '/');
    const char *name = strrchr (file, '/') ? strrchr (file, '/') + 1 : file;
    if (slash)
        slash[1] = 0;
    else
        dir[0] = 0;
    json_t *obj = json_pack ("{s:s, s:s, s:s, s:I}", "@type", "OriginalFile", "Name", name, "Path", dir, "Size",
                             (json_int_t) size);
    if (mimetype)
        json_object_set_new (obj, "Mimetype", json_string (mimetype));
    json_t *args = json_pack ("{s:o}", "object", obj);
    omero_err_t err = {0};
    json_t *r = omero_client_call (c, "IUpdate", "saveAndReturnObject", args, &err);
    json_decref (args);
    if (!r) {
        fprintf (stderr, "Error: %s: ", file);
        cli_fail_omero (&err);
        return -1;
    }
    json_t *id = json_object_get (json_object_get (r, "data"), "@id");
    long long out = json_is_integer (id) ? (long long) json_integer_value (id) : -1;
    json_decref (r);
    if (out < 0)
        fprintf (stderr, "Error: %s: the server did not return the new OriginalFile's id\n", file);
    return out;
}

/* RawFileStore.save (the server records size and SHA1-160 of what it holds), checked against
 * the local file; the id, or -1 after removing the OriginalFile. */
static long long
save (omero_client_t *c, const char *file, long long id, long long size, const char *sum)
{
    omero_err_t err = {0};
    json_t *args = json_pack ("{s:I}", "fileId", (json_int_t) id);
    json_t *saved = omero_client_call (c, "RawFileStore", "save", args, &err);
    json_decref (args);
    if (!saved) {
        fprintf (stderr, "Error: %s: ", file);
        cli_fail_omero (&err);
        discard (c, id);
        return -1;
    }
    const char *hash = json_string_value (json_object_get (saved, "hash"));
    long long got = (long long) json_integer_value (json_object_get (saved, "size"));
    if (!hash || strcasecmp (hash, sum) || got != size) {
        fprintf (stderr, "Error: %s: the server holds %lld bytes with SHA1 %s, expected %lld bytes with %s\n", file,
                 got, hash ? hash : "(none)", size, sum);
        json_decref (saved);
        discard (c, id);
        return -1;
    }
    json_decref (saved);
    return id;
}

/* SHA1-160 of a local file into sum; -1 after printing why. */
static int
local_sha1 (const char *file, char sum[65])
{
    omr_err_t e = {0};
    if (blz_checksum_file ("SHA1-160", file, sum, &e) == 0)
        return 0;
    cli_fail ("%s: %s", file, e.msg);
    return -1;
}

/* Upload one file through RawFileStore; its id or -1. */
static long long
upload_copy (omero_client_t *c, const char *file, const char *mimetype, long long size)
{
    FILE *in = fopen (file, "rb");
    if (!in) {
        cli_fail ("cannot read %s: %s", file, strerror (errno));
        return -1;
    }
    long long id = create (c, file, mimetype, size);
    if (id < 0) {
        fclose (in);
        return -1;
    }
    source_t s = {in, size, blz_checksum_new ("SHA1-160", NULL)};
    omero_err_t err = {0};
    long long off = 0;
    int ok = 1;
    do {
        long long n = size - off < CHUNK ? size - off : CHUNK;
        json_t *args = json_pack ("{s:I, s:I}", "fileId", (json_int_t) id, "offset", (json_int_t) off);
        s.left = n;
        json_t *r = omero_client_upload_stream (c, "RawFileStore", "write", args, source, &s, (size_t) n, &err);
        json_decref (args);
        if (!r) {
            ok = 0;
            break;
        }
        json_decref (r);
        off += n;
    } while (off < size);
    fclose (in);
    char sum[65];
    blz_checksum_final (&s.ck, sum);
    if (!ok) {
        fprintf (stderr, "Error: %s: ", file);
        cli_fail_omero (&err);
        discard (c, id);
        return -1;
    }
    return save (c, file, id, size, sum);
}

/* OMERO's upload_ln_s: the row with size and checksum, then <data-dir>/Files/<id> -> file. */
static long long
upload_link (omero_client_t *c, const char *file, const char *mimetype, long long size, const char *data_dir)
{
    char abs[PATH_MAX], sum[65];
    if (!realpath (file, abs)) {
        cli_fail ("cannot resolve %s: %s", file, strerror (errno));
        return -1;
    }
    if (local_sha1 (file, sum) < 0)
        return -1;
    long long id = create (c, file, mimetype, size);
    if (id < 0)
        return -1;
    /* the server's layout for files outside the managed repository (services/blitz/rawfile.c) */
    char dir[PATH_MAX], link[PATH_MAX + 32];
    snprintf (dir, sizeof dir, "%s/Files", data_dir);
    snprintf (link, sizeof link, "%s/%lld", dir, id);
    if ((mkdir (dir, 0755) < 0 && errno != EEXIST) || symlink (abs, link) < 0) {
        cli_fail ("cannot link %s to %s: %s", link, abs, strerror (errno));
        discard (c, id);
        return -1;
    }
    return save (c, file, id, size, sum);
}

/* OMERO's _order_and_range_ids: sorted ids, runs of three or more as "a-c". */
static void
print_ids (long long *ids, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            long long t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    printf ("OriginalFile:");
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && ids[j + 1] == ids[j] + 1)
            j++;
        if (j - i >= 2)
            printf ("%s%lld-%lld", i ? "," : "", ids[i], ids[j]);
        else
            for (int k = i; k <= j; k++)
                printf ("%s%lld", k ? "," : "", ids[k]);
        i = j + 1;
    }
    printf ("\n");
}

int
cli_upload (cli_t *cli, int argc, char **argv)
{
    cli_login_args_t la = {0};
    const char *mimetype = NULL, *data_dir = NULL;
    const char **files = calloc ((size_t) argc, sizeof *files);
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help")) {
            free (files);
            return help ();
        }
        const char **opt = !strncmp (argv[i], "--mimetype", 10) ? &mimetype
                           : !strncmp (argv[i], "--data-dir", 10) ? &data_dir : NULL;
        if (opt && (argv[i][10] == '=' || argv[i][10] == 0)) {
            if (argv[i][10] == '=')
                *opt = argv[i] + 11;
            else if (i + 1 < argc)
                *opt = argv[++i];
            else {
                usage (stderr);
                fprintf (stderr, "omero upload: error: argument %.10s: expected one argument\n", argv[i]);
                free (files);
                return 2;
            }
            if (!**opt) {
                usage (stderr);
                fprintf (stderr, "omero upload: error: argument %.10s: must not be empty\n", argv[i]);
                free (files);
                return 2;
            }
            continue;
        }
        int r = cli_login_arg (&la, argc, argv, &i);
        if (r < 0) {
            free (files);
            return 2;
        }
        if (r > 0)
            continue;
        if (argv[i][0] == '-' && argv[i][1]) {
            usage (stderr);
            fprintf (stderr, "omero upload: error: unrecognized argument: %s\n", argv[i]);
            free (files);
            return 2;
        }
        files[nfiles++] = argv[i];
    }
    if (!nfiles) {
        usage (stderr);
        fprintf (stderr, "omero upload: error: the following arguments are required: file\n");
        free (files);
        return 2;
    }
    /* every file must exist before anything is uploaded (as OMERO checks first) */
    long long *sizes = calloc ((size_t) nfiles, sizeof *sizes);
    for (int i = 0; i < nfiles; i++) {
        struct stat st;
        if (stat (files[i], &st) < 0 || !S_ISREG (st.st_mode)) {
            int rc = cli_fail ("File: %s %s", files[i], stat (files[i], &st) < 0 ? "does not exist" : "is not a regular file");
            free (files);
            free (sizes);
            return rc;
        }
        sizes[i] = st.st_size;
    }
    struct stat dst;
    if (data_dir && (stat (data_dir, &dst) < 0 || !S_ISDIR (dst.st_mode))) {
        int rc = cli_fail ("--data-dir %s is not a directory", data_dir);
        free (files);
        free (sizes);
        return rc;
    }
    int rc;
    omero_client_t *c = cli_session_client (cli, &la, &rc);
    if (!c) {
        free (files);
        free (sizes);
        return rc;
    }
    long long *ids = calloc ((size_t) nfiles, sizeof *ids);
    int done = 0;
    rc = 0;
    for (int i = 0; i < nfiles; i++) {
        const char *m = mimetype ? mimetype : guess_mimetype (files[i]);
        long long id = data_dir ? upload_link (c, files[i], m, sizes[i], data_dir)
                                : upload_copy (c, files[i], m, sizes[i]);
        if (id < 0) {
            rc = 1;
            break;
        }
        ids[done++] = id;
    }
    if (done)
        print_ids (ids, done);
    omero_client_destroy (&c);
    free (ids);
    free (files);
    free (sizes);
    return rc;
}
