/* download: `omero download OBJECT [PATH]` — the original files of an image or fileset (into a
 * directory, keeping their paths within the fileset), or one OriginalFile (to a file, or "-"
 * for standard output), read with RawFileStore in chunks and checked against the checksum the
 * server recorded at import. */
#include "cli.h"
#include "login.h"
#include "services/blitz/checksum.h"
#include "sessions.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK ((long long) 16 << 20)

static void
usage (FILE *out)
{
    fputs ("usage: omero download [-h] [login arguments] object [filename]\n", out);
}

static int
help (void)
{
    usage (stdout);
    fputs ("\nDownload the original files of an image or fileset, or one original file.\n\n"
           "Positional Arguments:\n"
           "  object      Image:ID, Fileset:ID, OriginalFile:ID (or a bare OriginalFile id)\n"
           "  filename    where to write: a directory for images and filesets (default: the current\n"
           "              directory), a file or '-' (standard output) for an original file\n\n",
           stdout);
    cli_login_help (stdout);
    return 0;
}

typedef struct {
    FILE *out;
    blz_checksum_t *ck;
} sink_t;

static int
sink (const void *data, size_t len, void *arg)
{
    sink_t *s = arg;
    if (s->ck)
        blz_checksum_update (s->ck, data, len);
    return fwrite (data, 1, len, s->out) == len ? 0 : -1;
}

/* Copy OriginalFile id into out (opened by the caller); checks size and checksum. */
static int
fetch (omero_client_t *c, long long id, FILE *out, const char *where)
{
    omero_err_t err = {0};
    json_t *args = json_pack ("{s:s, s:{s:I}, s:i}", "query",
                              "select o.size, o.hash, o.hasher.value, o.name from OriginalFile o where o.id = :id",
                              "params", "id", (json_int_t) id, "group", -1);
    json_t *r = omero_client_call (c, "IQuery", "projection", args, &err);
    json_decref (args);
    json_t *row = r ? json_array_get (json_object_get (r, "data"), 0) : NULL;
    if (!row) {
        if (r)
            fprintf (stderr, "Error: OriginalFile:%lld not found\n", id);
        else
            cli_fail_omero (&err);
        json_decref (r);
        return 1;
    }
    const char *hash = json_string_value (json_array_get (row, 1));
    const char *hasher = json_string_value (json_array_get (row, 2));
    if (!hasher) {
        json_t *h = json_array_get (row, 2);
        hasher = json_is_object (h) ? json_string_value (json_object_get (h, "value")) : NULL;
    }
    sink_t s = {out, hash && hasher && blz_checksum_known (hasher) ? blz_checksum_new (hasher, NULL) : NULL};
    json_t *sz = NULL;
    args = json_pack ("{s:I}", "fileId", (json_int_t) id);
    sz = omero_client_call (c, "RawFileStore", "size", args, &err);
    json_decref (args);
    if (!sz) {
        char dummy[65];
        blz_checksum_final (&s.ck, dummy);
        json_decref (r);
        return cli_fail_omero (&err);
    }
    long long size = omero_json_int (sz, "value", 0);
    json_decref (sz);
    for (long long off = 0; off < size; off += CHUNK) {
        args = json_pack ("{s:I, s:I, s:I}", "fileId", (json_int_t) id, "offset", (json_int_t) off, "length",
                          (json_int_t) (size - off < CHUNK ? size - off : CHUNK));
        int rc = omero_client_download (c, "RawFileStore", "read", args, sink, &s, NULL, &err);
        json_decref (args);
        if (rc < 0) {
            char dummy[65];
            blz_checksum_final (&s.ck, dummy);
            json_decref (r);
            if (!err.name[0])
                fprintf (stderr, "Error: cannot write %s: %s\n", where, strerror (errno));
            else
                cli_fail_omero (&err);
            return 1;
        }
    }
    int rc = 0;
    if (s.ck) {
        char sum[65];
        blz_checksum_final (&s.ck, sum);
        if (strcasecmp (sum, hash)) {
            fprintf (stderr, "Error: %s: checksum mismatch (%s %s, expected %s)\n", where, hasher, sum, hash);
            rc = 1;
        }
    }
    json_decref (r);
    return rc;
}

static int
mkdirs (const char *path)
{
    char tmp[4096];
    snprintf (tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir (tmp, 0755) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir (tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

int
cli_download (cli_t *cli, int argc, char **argv)
{
    cli_login_args_t la = {0};
    int rc = 0;
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_login_or_help (&la, argc, argv, &i, help, &rc);
        if (r < 0)
            return rc;
        if (r > 0)
            continue;
        if (argv[i][0] == '-' && argv[i][1]) {
            usage (stderr);
            fprintf (stderr, "omero download: error: unrecognized argument: %s\n", argv[i]);
            return 2;
        }
        if (npos == 2) {
            usage (stderr);
            fprintf (stderr, "omero download: error: too many arguments\n");
            return 2;
        }
        pos[npos++] = argv[i];
    }
    if (!npos) {
        usage (stderr);
        fprintf (stderr, "omero download: error: too few arguments\n");
        return 2;
    }
    const char *obj = pos[0];
    const char *colon = strchr (obj, ':');
    char cls[32] = "OriginalFile";
    if (colon)
        snprintf (cls, sizeof cls, "%.*s", (int) (colon - obj), obj);
    char *end;
    long long id = strtoll (colon ? colon + 1 : obj, &end, 10);
    if (*end || id < 0 || (strcmp (cls, "OriginalFile") && strcmp (cls, "Image") && strcmp (cls, "Fileset"))) {
        usage (stderr);
        fprintf (stderr, "omero download: error: object must be Image:ID, Fileset:ID or OriginalFile:ID, not '%s'\n", obj);
        return 2;
    }
    omero_client_t *c = cli_session_client (cli, &la, &rc);
    if (!c)
        return rc;
    rc = 0;
    if (!strcmp (cls, "OriginalFile")) {
        const char *target = pos[1] ? pos[1] : NULL;
        char name[4096];
        if (!target) {
            snprintf (name, sizeof name, "OriginalFile-%lld", id);
            target = name;
        }
        FILE *out = !strcmp (target, "-") ? stdout : fopen (target, "wb");
        if (!out)
            rc = cli_fail ("cannot write %s: %s", target, strerror (errno));
        else {
            rc = fetch (c, id, out, target);
            if (out != stdout && fclose (out) != 0 && !rc)
                rc = cli_fail ("cannot write %s: %s", target, strerror (errno));
            if (rc && out != stdout)
                unlink (target);
        }
        omero_client_destroy (&c);
        return rc;
    }
    /* an image's or fileset's original files, under their paths below the fileset prefix */
    omero_err_t err = {0};
    json_t *args, *r;
    if (!strcmp (cls, "Image")) {
        args = json_pack ("{s:s, s:{s:I}, s:i}", "query", "select i.fileset.id from Image i where i.id = :id", "params",
                          "id", (json_int_t) id, "group", -1);
        r = omero_client_call (c, "IQuery", "projection", args, &err);
        json_decref (args);
        if (!r) {
            omero_client_destroy (&c);
            return cli_fail_omero (&err);
        }
        json_t *v = json_array_get (json_array_get (json_object_get (r, "data"), 0), 0);
        long long fs = json_is_integer (v) ? json_integer_value (v) : -1;
        json_decref (r);
        if (fs < 0) {
            fprintf (stderr, "Error: Image:%lld not found or has no fileset\n", id);
            omero_client_destroy (&c);
            return 1;
        }
        id = fs;
        snprintf (cls, sizeof cls, "Fileset");
    }
    args = json_pack ("{s:s, s:{s:I}, s:i}", "query",
                      "select o.id, o.path, o.name, f.templatePrefix from FilesetEntry e join e.fileset f "
                      "join e.originalFile o where f.id = :id order by e.id",
                      "params", "id", (json_int_t) id, "group", -1);
    r = omero_client_call (c, "IQuery", "projection", args, &err);
    json_decref (args);
    if (!r) {
        omero_client_destroy (&c);
        return cli_fail_omero (&err);
    }
    json_t *rows = json_object_get (r, "data");
    if (!json_array_size (rows)) {
        fprintf (stderr, "Error: %s:%lld has no original files you can read\n", cls, id);
        json_decref (r);
        omero_client_destroy (&c);
        return 1;
    }
    const char *dir = pos[1] ? pos[1] : ".";
    size_t k;
    json_t *row;
    json_array_foreach (rows, k, row)
    {
        const char *path = json_string_value (json_array_get (row, 1));
        const char *name = json_string_value (json_array_get (row, 2));
        const char *prefix = json_string_value (json_array_get (row, 3));
        const char *sub = path && prefix && !strncmp (path, prefix, strlen (prefix)) ? path + strlen (prefix) : "";
        if (strstr (sub, "..") || strstr (name ? name : "", "/") || !name || !strcmp (name, "..")) {
            fprintf (stderr, "Error: refusing the unsafe file name %s%s\n", sub, name ? name : "");
            rc = 1;
            break;
        }
        char where[8192], d[8192];
        snprintf (d, sizeof d, "%s/%s", dir, sub);
        snprintf (where, sizeof where, "%s/%s%s", dir, sub, name);
        if (mkdirs (d) < 0) {
            rc = cli_fail ("cannot create %s: %s", d, strerror (errno));
            break;
        }
        FILE *out = fopen (where, "wb");
        if (!out) {
            rc = cli_fail ("cannot write %s: %s", where, strerror (errno));
            break;
        }
        rc = fetch (c, json_integer_value (json_array_get (row, 0)), out, where);
        if (fclose (out) != 0 && !rc)
            rc = cli_fail ("cannot write %s: %s", where, strerror (errno));
        if (rc) {
            unlink (where);
            break;
        }
        fprintf (stderr, "Downloaded %s\n", where);
    }
    json_decref (r);
    omero_client_destroy (&c);
    return rc;
}
