/* table_file: the OriginalFile behind a table (see table_file.h). */
#include "table_file.h"
#include "services/blitz/checksum.h"
#include "services/blitz/rawfile.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FILE_CLASS "ome.model.core.OriginalFile"

int64_t
tbl_file_create (blz_db_t *db, const blz_ctx_t *ctx, const char *name, const char *path, omr_err_t *err)
{
    if (!name || !*name) {
        omr_err_set (err, OMR_E_API, 400, "newTable needs a name for the table");
        return -1;
    }
    if (strlen (name) > 4096 || (path && strlen (path) > 4096)) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "table name or path longer than 4096 bytes");
        return -1;
    }
    int64_t group = ctx->group_id;
    if (group < 0) {
        omr_err_set (err, OMR_E_API, 400, "to create a table choose one group (omero.group), not -1");
        return -1;
    }
    char gb[24], ub[24], eb[24];
    PGresult *res = blz_db_query (db, err,
                                  "SELECT g.permissions, (SELECT user_group_id FROM _roles LIMIT 1) "
                                  "FROM experimentergroup g WHERE g.id = $1",
                                  BLZ_P (BLZ_I64 (gb, group)));
    if (!res)
        return -1;
    if (PQntuples (res) == 0) {
        PQclear (res);
        omr_err_set (err, OMR_E_VALIDATION, 400, "no group %lld", (long long) group);
        return -1;
    }
    char perms[24];
    snprintf (perms, sizeof perms, "%s", PQgetvalue (res, 0, 0));
    int64_t user_gid = PQgetisnull (res, 0, 1) ? -1 : atoll (PQgetvalue (res, 0, 1));
    PQclear (res);
    if (group == user_gid) {
        omr_err_set (err, OMR_E_SECURITY, 403, "tables cannot be created in the 'user' group; switch to one of your groups");
        return -1;
    }
    if (!blz_ctx_member (ctx, group) && !blz_ctx_can (ctx, "WriteOwned")) {
        omr_err_set (err, OMR_E_SECURITY, 403, "you are not a member of group %lld", (long long) group);
        return -1;
    }
    int64_t ev = blz_db_event (db, err);
    if (ev < 0)
        return -1;
    /* As SharedResourcesI.newTable: name and path are the table name, times are now. */
    res = blz_db_query (db, err,
                        "INSERT INTO originalfile (id, permissions, version, creation_id, owner_id, group_id, "
                        "update_id, name, path, mimetype, \"size\", atime, ctime, mtime) "
                        "VALUES (nextval('seq_originalfile'), $1, 0, $2, $3, $4, $2, $5, $6, $7, 0, now(), now(), now()) "
                        "RETURNING id",
                        BLZ_P (perms, BLZ_I64 (eb, ev), BLZ_I64 (ub, ctx->user_id), gb, name,
                               path && *path ? path : name, TBL_MIMETYPE));
    if (!res)
        return -1;
    int64_t id = atoll (PQgetvalue (res, 0, 0));
    PQclear (res);
    if (blz_db_log (db, "INSERT", FILE_CLASS, id, err) < 0)
        return -1;
    return id;
}

int
tbl_file_load (blz_db_t *db, const blz_ctx_t *ctx, omr_config_t *config, int64_t id, bool write, tbl_file_t *f,
               omr_err_t *err)
{
    memset (f, 0, sizeof *f);
    f->id = id;
    char ib[24];
    PGresult *res = blz_db_query (db, err,
                                  "SELECT repo, path, name, owner_id, group_id, omero_rights(owner_id, group_id), "
                                  "coalesce(mimetype, ''), hash IS NOT NULL, (SELECT permissions FROM experimentergroup g "
                                  "WHERE g.id = o.group_id) FROM originalfile o WHERE id = $1",
                                  BLZ_P (BLZ_I64 (ib, id)));
    if (!res)
        return -1;
    if (PQntuples (res) == 0) {
        PQclear (res);
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no readable OriginalFile:%lld", (long long) id);
    }
    f->in_repo = !PQgetisnull (res, 0, 0) && *PQgetvalue (res, 0, 0);
    f->owner = atoll (PQgetvalue (res, 0, 3));
    f->group = atoll (PQgetvalue (res, 0, 4));
    f->rights = atoi (PQgetvalue (res, 0, 5));
    snprintf (f->mimetype, sizeof f->mimetype, "%s", PQgetvalue (res, 0, 6));
    f->hashed = !strcmp (PQgetvalue (res, 0, 7), "t");
    int64_t gperms = atoll (PQgetvalue (res, 0, 8));
    if (!strcmp (f->mimetype, "Repository") || !strcmp (f->mimetype, "Directory")) {
        omr_err_set (err, OMR_E_API, 400, "OriginalFile:%lld is a %s, not a table", (long long) id, f->mimetype);
        PQclear (res);
        return -1;
    }
    /* OriginalFiles follow their own administrator privileges (as IUpdate): a restricted
     * administrator edits others' files with WriteFile and deletes them with DeleteFile. */
    if (ctx->admin && f->owner != ctx->user_id && !blz_ctx_owner (ctx, f->group)
        && !((gperms & 32) && blz_ctx_member (ctx, f->group))) {
        f->rights &= ~(1 | 2 | 4);
        if (blz_ctx_can (ctx, "WriteFile"))
            f->rights |= 1 | 2;
        if (blz_ctx_can (ctx, "DeleteFile"))
            f->rights |= 4;
    }
    f->path = blz_rawfile_path (config, id, PQgetvalue (res, 0, 0), PQgetvalue (res, 0, 1), PQgetvalue (res, 0, 2), err);
    PQclear (res);
    if (!f->path)
        return err->name[0] ? -1 : omr_err_set (err, OMR_E_INTERNAL, 500, "no path for OriginalFile:%lld", (long long) id);
    if (write && f->in_repo)
        return omr_err_set (err, OMR_E_SECURITY, 403, "OriginalFile:%lld belongs to the managed repository and is "
                            "read-only", (long long) id);
    if (write && !(f->rights & 1))
        return omr_err_set (err, OMR_E_SECURITY, 403, "Current user cannot write to file %lld", (long long) id);
    return 0;
}

int
tbl_file_record (blz_db_t *db, const tbl_file_t *f, bool hash, omr_err_t *err)
{
    struct stat st;
    if (stat (f->path, &st) < 0)
        return 0;               /* nothing on disk yet (a table never initialized) */
    char sum[65] = "";
    if (hash && blz_checksum_file ("SHA1-160", f->path, sum, err) < 0)
        return -1;
    int64_t ev = blz_db_event (db, err);
    if (ev < 0)
        return -1;
    char ib[24], sb[24], eb[24];
    if (blz_db_exec (db, err,
                     "UPDATE originalfile SET \"size\" = $2, hash = $3, hasher = CASE WHEN $3::text IS NULL THEN NULL "
                     "ELSE (SELECT id FROM checksumalgorithm WHERE value = 'SHA1-160') END, mtime = now(), "
                     "update_id = $4, version = coalesce(version, 0) + 1 WHERE id = $1",
                     BLZ_P (BLZ_I64 (ib, f->id), BLZ_I64 (sb, st.st_size), hash ? sum : NULL, BLZ_I64 (eb, ev)))
        < 0)
        return -1;
    return blz_db_log (db, "UPDATE", FILE_CLASS, f->id, err);
}

int
tbl_file_remove (blz_db_t *db, const tbl_file_t *f, omr_err_t *err)
{
    if (f->in_repo)
        return omr_err_set (err, OMR_E_SECURITY, 403, "OriginalFile:%lld belongs to the managed repository and is "
                            "read-only", (long long) f->id);
    if (!(f->rights & 4))
        return omr_err_set (err, OMR_E_SECURITY, 403, "Current user cannot delete file %lld", (long long) f->id);
    char ib[24];
    PGresult *res = blz_db_query (db, err,
                                  "SELECT 'FileAnnotation:' || a.id FROM annotation a WHERE a.file = $1 "
                                  "UNION ALL SELECT 'FilesetEntry:' || e.id FROM filesetentry e "
                                  "WHERE e.originalfile = $1 LIMIT 1",
                                  BLZ_P (BLZ_I64 (ib, f->id)));
    if (!res)
        return -1;
    if (PQntuples (res)) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "OriginalFile:%lld is still used by %s; delete that first",
                     (long long) f->id, PQgetvalue (res, 0, 0));
        PQclear (res);
        return -1;
    }
    PQclear (res);
    /* annotations on the table go with it, as Delete2 of an OriginalFile removes its links */
    if (blz_db_exec (db, err, "DELETE FROM originalfileannotationlink WHERE parent = $1", BLZ_P (ib)) < 0)
        return -1;
    long n = blz_db_exec (db, err, "DELETE FROM originalfile WHERE id = $1", BLZ_P (ib));
    if (n < 0)
        return -1;
    if (n == 0)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no readable OriginalFile:%lld", (long long) f->id);
    return blz_db_log (db, "DELETE", FILE_CLASS, f->id, err);
}

void
tbl_file_clear (tbl_file_t *f)
{
    free (f->path);
    f->path = NULL;
}
