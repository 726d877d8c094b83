/* rawfile: RawFileStore (see rawfile.h). */
#include "rawfile.h"
#include "checksum.h"
#include "repository.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_READ ((int64_t) 64 << 20)

char *
blz_rawfile_path (omr_config_t *config, int64_t id, const char *repo, const char *path, const char *name,
                  omr_err_t *err)
{
    if (repo && *repo) {
        char *root = blz_repo_root (config), *rel = NULL, *full = NULL;
        if (root && asprintf (&rel, "%s%s", path ? path : "", name ? name : "") >= 0)
            full = blz_repo_join (root, rel, err);
        free (rel);
        free (root);
        return full;
    }
    const char *d = omr_config_get (config, "omero.data.dir");
    char *out = NULL;
    if (asprintf (&out, "%s/Files/%lld", d && *d ? d : "/OMERO", (long long) id) < 0)
        return NULL;
    return out;
}

typedef struct {
    int64_t id, size, owner;
    long rights;
    char *path;                 /* on disk */
    bool in_repo;
} file_t;

static int
load (blz_app_t *app, omr_call_t *call, blz_db_t *db, file_t *f, omr_err_t *err)
{
    blz_ctx_t ctx;
    if (blz_call_ctx (call, &ctx, err) < 0)
        return -1;
    memset (f, 0, sizeof *f);
    f->id = blz_int (call->req->body, "fileId", blz_int (call->req->body, "id", -1));
    if (f->id < 0)
        return omr_err_set (err, OMR_E_API, 400, "fileId missing");
    ctx.group_id = -1;
    if (blz_db_begin (db, &ctx, err) < 0)
        return -1;
    char id[24];
    PGresult *r = blz_db_query (db, err,
                                "SELECT repo, path, name, coalesce(\"size\", 0), owner_id, omero_rights(owner_id, group_id), "
                                "coalesce(mimetype, '') FROM originalfile WHERE id = $1",
                                BLZ_P (BLZ_I64 (id, f->id)));
    if (!r)
        return -1;
    if (!PQntuples (r)) {
        PQclear (r);
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no readable OriginalFile:%s", id);
    }
    if (!strcmp (PQgetvalue (r, 0, 6), "Repository") || !strcmp (PQgetvalue (r, 0, 6), "Directory")) {
        omr_err_set (err, OMR_E_API, 400, "OriginalFile:%s is a %s, not a file", id, PQgetvalue (r, 0, 6));
        PQclear (r);
        return -1;
    }
    f->in_repo = !PQgetisnull (r, 0, 0) && *PQgetvalue (r, 0, 0);
    f->size = atoll (PQgetvalue (r, 0, 3));
    f->owner = atoll (PQgetvalue (r, 0, 4));
    f->rights = atol (PQgetvalue (r, 0, 5));
    f->path = blz_rawfile_path (app->config, f->id, PQgetvalue (r, 0, 0), PQgetvalue (r, 0, 1), PQgetvalue (r, 0, 2), err);
    PQclear (r);
    return f->path ? 0 : -1;
}

static int
op_size_read (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    const char *m = strchr (omr_msg_op (call->req), '.') + 1;
    blz_db_t *db = blz_app_db (app, call);
    file_t f;
    int rc = load (app, call, db, &f, err);
    blz_db_rollback (db);
    if (rc < 0) {
        free (f.path);
        return -1;
    }
    struct stat st;
    bool exists = stat (f.path, &st) == 0;
    if (!strcmp (m, "exists")) {
        call->reply = json_pack ("{s:b}", "value", exists);
        free (f.path);
        return 0;
    }
    if (!exists) {
        rc = omr_err_set (err, OMR_E_RESOURCE, 500, "OriginalFile:%lld has no data on disk", (long long) f.id);
        free (f.path);
        return rc;
    }
    if (!strcmp (m, "size")) {
        call->reply = json_pack ("{s:I}", "value", (json_int_t) st.st_size);
        free (f.path);
        return 0;
    }
    int64_t off = blz_int (call->req->body, "offset", 0);
    int64_t len = blz_int (call->req->body, "length", -1);
    if (off < 0 || off > st.st_size) {
        free (f.path);
        return omr_err_set (err, OMR_E_API, 400, "offset %lld outside the file (%lld bytes)", (long long) off,
                            (long long) st.st_size);
    }
    if (len < 0 || off + len > st.st_size)
        len = st.st_size - off;
    if (len > MAX_READ) {
        free (f.path);
        return omr_err_set (err, OMR_E_API, 400, "read at most %lld bytes a call", (long long) MAX_READ);
    }
    int fd = open (f.path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = omr_err_set (err, OMR_E_RESOURCE, 500, "OriginalFile:%lld: %s", (long long) f.id, strerror (errno));
        free (f.path);
        return rc;
    }
    zframe_t *fr = zframe_new (NULL, (size_t) len);
    unsigned char *d = zframe_data (fr);
    int64_t got = 0;
    while (got < len) {
        ssize_t n = pread (fd, d + got, (size_t) (len - got), (off_t) (off + got));
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        got += n;
    }
    close (fd);
    free (f.path);
    if (got < len) {
        zframe_destroy (&fr);
        return omr_err_set (err, OMR_E_RESOURCE, 500, "OriginalFile:%lld: short read", (long long) f.id);
    }
    call->raw_out = realloc (call->raw_out, (call->nraw_out + 1) * sizeof (zframe_t *));
    call->raw_out[call->nraw_out++] = fr;
    call->reply = json_pack ("{s:I, s:I}", "offset", (json_int_t) off, "length", (json_int_t) len);
    return 0;
}

static int
op_write (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    const char *m = strchr (omr_msg_op (call->req), '.') + 1;
    blz_db_t *db = blz_app_db (app, call);
    file_t f;
    int rc = load (app, call, db, &f, err);
    if (rc == 0 && f.in_repo)
        rc = omr_err_set (err, OMR_E_SECURITY, 403, "OriginalFile:%lld belongs to the managed repository and is "
                          "read-only", (long long) f.id);
    if (rc == 0 && !(f.rights & 1))
        rc = omr_err_set (err, OMR_E_SECURITY, 403, "cannot write OriginalFile:%lld: no edit permission", (long long) f.id);
    if (rc < 0) {
        blz_db_rollback (db);
        free (f.path);
        return -1;
    }
    char id[24];
    BLZ_I64 (id, f.id);
    if (!strcmp (m, "save")) {
        char sum[65];
        struct stat st;
        if (stat (f.path, &st) < 0 || blz_checksum_file ("SHA1-160", f.path, sum, err) < 0) {
            if (!err->name[0])
                omr_err_set (err, OMR_E_API, 400, "OriginalFile:%s has no data to save", id);
            blz_db_rollback (db);
            free (f.path);
            return -1;
        }
        char sz[24];
        if (blz_db_exec (db, err,
                         "UPDATE originalfile SET \"size\" = $2, hash = $3, hasher = (SELECT id FROM checksumalgorithm "
                         "WHERE value = 'SHA1-160'), mtime = now() WHERE id = $1",
                         BLZ_P (id, BLZ_I64 (sz, st.st_size), sum)) < 0
            || blz_db_commit (db, err) < 0) {
            blz_db_rollback (db);
            free (f.path);
            return -1;
        }
        call->reply = json_pack ("{s:I, s:s}", "size", (json_int_t) st.st_size, "hash", sum);
        free (f.path);
        return 0;
    }
    blz_db_rollback (db);
    int64_t off = blz_int (call->req->body, "offset", 0);
    const void *data = call->req->nraw ? (const void *) zframe_data (call->req->raw[0]) : (const void *) "";
    size_t len = call->req->nraw ? zframe_size (call->req->raw[0]) : 0;
    if (off < 0) {
        free (f.path);
        return omr_err_set (err, OMR_E_API, 400, "negative offset");
    }
    char *dir = strdup (f.path);
    *strrchr (dir, '/') = '\0';
    mkdir (dir, 0755);
    free (dir);
    int fd = open (f.path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 || pwrite (fd, data, len, (off_t) off) != (ssize_t) len)
        rc = omr_err_set (err, OMR_E_RESOURCE, 500, "cannot write OriginalFile:%s: %s", id, strerror (errno));
    if (fd >= 0)
        close (fd);
    free (f.path);
    if (rc < 0)
        return -1;
    call->reply = json_pack ("{s:I}", "written", (json_int_t) len);
    return 0;
}

void
blz_rawfile_register (blz_app_t *app)
{
    omr_server_on (app->server, "RawFileStore.size", op_size_read, app);
    omr_server_on (app->server, "RawFileStore.read", op_size_read, app);
    omr_server_on (app->server, "RawFileStore.exists", op_size_read, app);
    omr_server_on (app->server, "RawFileStore.write", op_write, app);
    omr_server_on (app->server, "RawFileStore.save", op_write, app);
}
