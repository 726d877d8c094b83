/* import: filesets uploaded into the managed repository and imported in the background by
 * job runners (see import.h). Every import is a MetadataImportJob row: runners claim jobs with a
 * PostgreSQL advisory lock held on their own connection, so a job whose Blitz was killed is
 * claimable again as soon as that connection is gone, and the import itself is one transaction
 * (all its rows or none). */
#include "import.h"
#include "thumbnail.h"
#include "checksum.h"
#include "formats/fileset.h"
#include "omr_log.h"
#include "omr_util.h"
#include "repository.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_CLASS 0x4f4d4950  /* advisory lock class of import jobs ("OMIP") */
#define ST_SUBMITTED "Submitted"
#define ST_WAITING "Waiting"
#define ST_RUNNING "Running"
#define ST_FINISHED "Finished"
#define ST_ERROR "Error"

/* A file being uploaded: its checksum is computed as the chunks arrive, so that verification
 * need not read the file again. Clients send several chunks of one file at once, so chunks may
 * arrive out of order: those ahead of the hashed prefix are remembered (they are already in the
 * file) and hashed from the page cache once the gap before them is filled. A rewrite or too many
 * chunks ahead mark the entry broken (verification then reads the file). */
#define STREAM_AHEAD 64
typedef struct stream_t {
    int64_t process;
    int index;
    pthread_mutex_t mu;         /* guards the fields below; held while hashing */
    int refs;                   /* under imp_t.lock: the map's reference plus writers' */
    int64_t next;               /* offset the hashed prefix ends at */
    bool broken;
    int nahead;
    int64_t ahead_off[STREAM_AHEAD], ahead_len[STREAM_AHEAD];
    blz_checksum_t *ck;
    struct stream_t *next_entry;
} stream_t;

typedef struct {
    blz_app_t *app;
    pthread_mutex_t lock;       /* guards streams */
    stream_t *streams;
    char *root;                 /* repository directory */
    char uuid[64];              /* the repository's OriginalFile hash (its UUID) */
    int64_t repo_id;
    int runners;
    pthread_t *threads;
    atomic_int stop;            /* set by blz_import_stop: runners finish their job and leave */
    long long upload_timeout, import_attempts;
} imp_t;

/* ------------------------------------------------------------------ SQL helpers */

static int64_t
one_int (blz_db_t *db, omr_err_t *err, const char *sql, int n, const char *const *p)
{
    PGresult *r = blz_db_query (db, err, sql, n, p);
    if (!r)
        return -2;
    int64_t v = PQntuples (r) && !PQgetisnull (r, 0, 0) ? atoll (PQgetvalue (r, 0, 0)) : -1;
    PQclear (r);
    return v;
}

/* Insert a Job (root row + subclass row) of a discriminator; returns its id or -1. */
static int64_t
ins_job (blz_db_t *db, omr_err_t *err, int64_t owner, int64_t group, const char *disc, const char *status,
         const char *message)
{
    char g[24], o[24];
    int64_t id = blz_db_insert_owned (db, err, owner, group, "job",
                            "discriminator, groupname, message, scheduledfor, submitted, started, status, type, username",
                            "$1, (SELECT name FROM experimentergroup WHERE id = $2::int8), $3, now(), now(), "
                            "CASE WHEN $4 = 'Running' THEN now() END, (SELECT id FROM jobstatus WHERE value = $4), "
                            "$1, (SELECT omename FROM experimenter WHERE id = $5::int8)",
                            BLZ_P (disc, BLZ_I64 (g, group), message, status, BLZ_I64 (o, owner)));
    if (id < 0)
        return -1;
    char *sql = NULL;
    char ids[24];
    if (asprintf (&sql, "INSERT INTO %s (job_id) VALUES ($1)", strcmp (disc, "UploadJob") ? "metadataimportjob"
                                                                                          : "uploadjob") < 0)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    long rc = blz_db_exec (db, err, sql, BLZ_P (BLZ_I64 (ids, id)));
    free (sql);
    return rc < 0 ? -1 : id;
}

/* Take the stream entry of (process, index) out of the list (NULL when there is none). */
/* Remove the entry of (process, index) from the map; the caller holds the map's reference
 * then (give it back with stream_release). */
static stream_t *
stream_take (imp_t *im, int64_t process, int index)
{
    pthread_mutex_lock (&im->lock);
    stream_t **pp = &im->streams, *e = NULL;
    while (*pp) {
        if ((*pp)->process == process && (*pp)->index == index) {
            e = *pp;
            *pp = e->next_entry;
            break;
        }
        pp = &(*pp)->next_entry;
    }
    pthread_mutex_unlock (&im->lock);
    if (e) {
        /* wait for writers still hashing into it */
        pthread_mutex_lock (&e->mu);
        pthread_mutex_unlock (&e->mu);
    }
    return e;
}

static void
stream_free (stream_t *e)
{
    if (!e)
        return;
    char dummy[65];
    blz_checksum_final (&e->ck, dummy);
    pthread_mutex_destroy (&e->mu);
    free (e);
}

/* The entry of (process, index), created when missing and alg is known, with a writer's
 * reference (release with stream_release); NULL when there is none. */
static stream_t *
stream_acquire (imp_t *im, int64_t process, int index, const char *alg)
{
    pthread_mutex_lock (&im->lock);
    stream_t *e = im->streams;
    while (e && !(e->process == process && e->index == index))
        e = e->next_entry;
    if (!e && blz_checksum_known (alg) && (e = calloc (1, sizeof *e))) {
        e->process = process;
        e->index = index;
        e->refs = 1;
        pthread_mutex_init (&e->mu, NULL);
        e->ck = blz_checksum_new (alg, NULL);
        e->next_entry = im->streams;
        im->streams = e;
    }
    if (e)
        e->refs++;
    pthread_mutex_unlock (&im->lock);
    return e;
}

static void
stream_release (imp_t *im, stream_t *e)
{
    pthread_mutex_lock (&im->lock);
    bool last = --e->refs == 0;
    pthread_mutex_unlock (&im->lock);
    if (last)
        stream_free (e);
}

/* Hash a chunk just written at offset (fd open for reading on the file), and every chunk
 * remembered ahead of it that now follows the hashed prefix. Called with e->mu held. */
static void
stream_hash (stream_t *e, int fd, const void *data, size_t len, int64_t offset)
{
    if (e->broken || !e->ck)
        return;
    if (offset != e->next) {
        if (offset < e->next || e->nahead == STREAM_AHEAD) {
            e->broken = true;
            return;
        }
        e->ahead_off[e->nahead] = offset;
        e->ahead_len[e->nahead++] = (int64_t) len;
        return;
    }
    blz_checksum_update (e->ck, data, len);
    e->next += (int64_t) len;
    for (bool found = true; found && !e->broken;) {
        found = false;
        for (int i = 0; i < e->nahead; i++) {
            if (e->ahead_off[i] != e->next)
                continue;
            int64_t n = e->ahead_len[i], done = 0;
            char *buf = malloc ((size_t) n);
            while (buf && done < n) {
                ssize_t r = pread (fd, buf + done, (size_t) (n - done), (off_t) (e->next + done));
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0)
                    break;
                done += r;
            }
            if (!buf || done < n)
                e->broken = true;
            else
                blz_checksum_update (e->ck, buf, (size_t) n);
            free (buf);
            e->next += n;
            e->ahead_off[i] = e->ahead_off[--e->nahead];
            e->ahead_len[i] = e->ahead_len[e->nahead];
            found = true;
            break;
        }
    }
}

/* Drop every stream entry of a process. */
static void
stream_drop_process (imp_t *im, int64_t process)
{
    pthread_mutex_lock (&im->lock);
    stream_t **pp = &im->streams;
    while (*pp) {
        if ((*pp)->process == process) {
            stream_t *e = *pp;
            *pp = e->next_entry;
            if (--e->refs == 0)     /* else the last writer frees it */
                stream_free (e);
        } else
            pp = &(*pp)->next_entry;
    }
    pthread_mutex_unlock (&im->lock);
}

/* Set a job's status and message (finished time for Finished/Error). */
static int
set_job (blz_db_t *db, omr_err_t *err, int64_t job, const char *status, const char *message)
{
    char j[24], msg[255];
    snprintf (msg, sizeof msg, "%s", message ? message : "");
    return blz_db_exec (db, err,
                        "UPDATE job SET status = (SELECT id FROM jobstatus WHERE value = $2), message = $3, "
                        "started = CASE WHEN $2 = 'Running' THEN coalesce(started, clock_timestamp()) ELSE started END, "
                        "finished = CASE WHEN $2 IN ('Finished', 'Error', 'Cancelled') THEN clock_timestamp() END, "
                        "version = coalesce(version, 0) + 1 WHERE id = $1",
                        BLZ_P (BLZ_I64 (j, job), status, msg))
                   < 0
               ? -1
               : 0;
}

/* Delete a fileset's rows (entries, original files, links; images must not exist yet) and its
 * directory: what a failed import leaves is only its jobs with their error message. */
static int
drop_fileset (imp_t *im, blz_db_t *db, int64_t fs, omr_err_t *err)
{
    char f[24];
    BLZ_I64 (f, fs);
    PGresult *r = blz_db_query (db, err, "SELECT templateprefix FROM fileset WHERE id = $1", BLZ_P (f));
    if (!r)
        return -1;
    char *prefix = PQntuples (r) ? strdup (PQgetvalue (r, 0, 0)) : NULL;
    PQclear (r);
    static const char *const steps[] = {
        "CREATE TEMP TABLE IF NOT EXISTS _imp_files (id int8) ON COMMIT DROP",
        "DELETE FROM _imp_files",
        "INSERT INTO _imp_files SELECT originalfile FROM filesetentry WHERE fileset = $1",
        "DELETE FROM pixelsoriginalfilemap WHERE parent IN (SELECT id FROM _imp_files)",
        "DELETE FROM filesetentry WHERE fileset = $1",
        "DELETE FROM filesetjoblink WHERE parent = $1",
        "DELETE FROM originalfile WHERE id IN (SELECT id FROM _imp_files)",
        "DELETE FROM fileset WHERE id = $1",
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (blz_db_exec (db, err, steps[i], strstr (steps[i], "$1") ? 1 : 0, (const char *const[]) {f}) < 0) {
            free (prefix);
            return -1;
        }
    if (prefix && *prefix) {
        omr_err_t e2 = {0};
        blz_repo_remove_tree (im->root, prefix, &e2);
    }
    free (prefix);
    return 0;
}

/* Fail an import: in a fresh transaction (internal), drop the fileset and mark both jobs Error. */
static void
fail_import (imp_t *im, blz_db_t *db, int64_t upload_job, int64_t import_job, int64_t fs, const char *msg)
{
    blz_ctx_t ctx;
    blz_ctx_internal (&ctx);
    omr_err_t err = {0};
    blz_db_rollback (db);
    if (blz_db_begin (db, &ctx, &err) < 0) {
        omr_error ("import: cannot record failure (%s): %s", msg, err.msg);
        return;
    }
    if ((fs >= 0 && drop_fileset (im, db, fs, &err) < 0)
        || (upload_job >= 0 && set_job (db, &err, upload_job, ST_ERROR, msg) < 0)
        || (import_job >= 0 && set_job (db, &err, import_job, ST_ERROR, msg) < 0) || blz_db_commit (db, &err) < 0) {
        blz_db_rollback (db);
        omr_error ("import: cannot record failure (%s): %s", msg, err.msg);
        return;
    }
    omr_info ("import failed: %s", msg);
}

/* ------------------------------------------------------------------ importFileset */

static const char *
jstr (json_t *o, const char *k)
{
    json_t *v = json_object_get (o, k);
    return json_is_string (v) ? json_string_value (v) : NULL;
}

/* Resolve the target of an import to a Dataset id the caller can link to (creating the
 * dataset, and its project, for name targets as OMERO's CLI does); 0 when there is none. */
static int64_t
resolve_target (blz_db_t *db, const blz_ctx_t *ctx, json_t *target, omr_err_t *err)
{
    if (!target || json_is_null (target))
        return 0;
    if (json_is_integer (target) || json_is_string (target)) {
        json_t *t = json_is_integer (target) ? json_pack ("{s:I}", "id", json_integer_value (target))
                                             : json_pack ("{s:s}", "spec", json_string_value (target));
        int64_t r = resolve_target (db, ctx, t, err);
        json_decref (t);
        return r;
    }
    char gid[24], uid[24], idb[24];
    BLZ_I64 (gid, ctx->group_id);
    BLZ_I64 (uid, ctx->user_id);
    json_t *idv = json_object_get (target, "id");
    if (json_is_integer (idv)) {
        BLZ_I64 (idb, json_integer_value (idv));
        PGresult *r = blz_db_query (db, err, "SELECT id, group_id, omero_rights(owner_id, group_id) FROM dataset WHERE id = $1",
                                    BLZ_P (idb));
        if (!r)
            return -1;
        if (!PQntuples (r)) {
            PQclear (r);
            return omr_err_set (err, OMR_E_NOTFOUND, 404, "import target Dataset:%s not found", idb);
        }
        int64_t g = atoll (PQgetvalue (r, 0, 1));
        long rights = atol (PQgetvalue (r, 0, 2));
        PQclear (r);
        if (ctx->group_id >= 0 && g != ctx->group_id)
            return omr_err_set (err, OMR_E_SECURITY, 403, "import target Dataset:%s is not in the current group", idb);
        if (!(rights & 8))
            return omr_err_set (err, OMR_E_SECURITY, 403, "cannot link images to Dataset:%s", idb);
        return json_integer_value (idv);
    }
    /* by name: mode '+' newest (default), '-' oldest, '%' unique, '@' always new */
    const char *name = jstr (target, "name");
    const char *mode = jstr (target, "mode");
    const char *project = jstr (target, "project");
    if (!name || !*name)
        return omr_err_set (err, OMR_E_API, 400, "import target needs a dataset id or name");
    char m = mode && *mode ? mode[0] : '+';
    int64_t pid = 0;
    if (project && *project) {
        pid = one_int (db, err, "SELECT id FROM project WHERE name = $1 AND group_id = $2 AND owner_id = $3 "
                       "ORDER BY id DESC LIMIT 1", BLZ_P (project, gid, uid));
        if (pid == -2)
            return -1;
        if (pid < 0) {
            pid = blz_db_insert_owned (db, err, ctx->user_id, ctx->group_id, "project", "name", "$1", BLZ_P (project));
            if (pid < 0 || blz_db_log (db, "INSERT", "ome.model.containers.Project", pid, err) < 0)
                return -1;
        }
    }
    int64_t did = -1;
    if (m != '@') {
        PGresult *r = blz_db_query (db, err,
                                    "SELECT id FROM dataset WHERE name = $1 AND group_id = $2 AND owner_id = $3 "
                                    "ORDER BY id", BLZ_P (name, gid, uid));
        if (!r)
            return -1;
        int n = PQntuples (r);
        if (m == '%' && n > 1) {
            PQclear (r);
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%d datasets are named '%s': the target is not unique",
                                n, name);
        }
        if (n)
            did = atoll (PQgetvalue (r, m == '-' ? 0 : n - 1, 0));
        PQclear (r);
    }
    if (did < 0) {
        did = blz_db_insert_owned (db, err, ctx->user_id, ctx->group_id, "dataset", "name", "$1", BLZ_P (name));
        if (did < 0 || blz_db_log (db, "INSERT", "ome.model.containers.Dataset", did, err) < 0)
            return -1;
    }
    if (pid > 0) {
        char p[24], d[24];
        if (one_int (db, err, "SELECT id FROM projectdatasetlink WHERE parent = $1 AND child = $2",
                     BLZ_P (BLZ_I64 (p, pid), BLZ_I64 (d, did))) == -1
            && blz_db_insert_owned (db, err, ctx->user_id, ctx->group_id, "projectdatasetlink", "parent, child", "$1, $2",
                          BLZ_P (p, d)) < 0)
            return -1;
        if (err->name[0])
            return -1;
    }
    return did;
}

/* Add one key/value to a MetadataImportJob's versionInfo map. */
static int
add_info (blz_db_t *db, omr_err_t *err, int64_t job, int index, const char *key, const char *value)
{
    char j[24], i[16];
    snprintf (i, sizeof i, "%d", index);
    return blz_db_exec (db, err,
                        "INSERT INTO metadataimportjob_versioninfo (metadataimportjob_id, name, value, index) "
                        "VALUES ($1, $2, $3, $4)", BLZ_P (BLZ_I64 (j, job), key, value ? value : "", i)) < 0 ? -1 : 0;
}

static int
op_import_fileset (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    blz_app_t *app = im->app;
    blz_ctx_t ctx;
    if (blz_call_ctx (call, &ctx, err) < 0)
        return -1;
    json_t *body = call->req->body;
    json_t *files = json_object_get (body, "files");
    size_t nf = json_array_size (files);
    if (!json_is_array (files) || nf == 0)
        return omr_err_set (err, OMR_E_API, 400, "importFileset needs files: [{path, clientPath, size}]");
    if (ctx.group_id < 0)
        return omr_err_set (err, OMR_E_API, 400, "importFileset needs a current group");
    const char *rules = omr_config_get (app->config, "omero.fs.repo.path_rules");
    char **paths = calloc (nf, sizeof (char *));
    int rc = -1;
    char *prefix = NULL;
    /* names and sizes first: nothing is created for a bad request */
    for (size_t i = 0; i < nf; i++) {
        json_t *f = json_array_get (files, i);
        const char *p = jstr (f, "path");
        json_t *sz = json_object_get (f, "size");
        paths[i] = blz_repo_check_path (p, rules, err);
        if (!paths[i])
            goto out;
        if (!json_is_integer (sz) || json_integer_value (sz) < 0) {
            omr_err_set (err, OMR_E_API, 400, "'%s': size missing", paths[i]);
            goto out;
        }
        if (json_integer_value (sz) == 0) {
            omr_err_set (err, OMR_E_VALIDATION, 400, "'%s': the file is empty (zero bytes); nothing to import", paths[i]);
            goto out;
        }
        const char *cp = jstr (f, "clientPath");
        for (const unsigned char *c = (const unsigned char *) (cp ? cp : ""); *c; c++)
            if (*c < 0x20 || *c == 0x7f) {
                omr_err_set (err, OMR_E_VALIDATION, 400, "'%s': client path holds control characters", paths[i]);
                goto out;
            }
        for (size_t k = 0; k < i; k++)
            if (!strcmp (paths[k], paths[i])) {
                omr_err_set (err, OMR_E_VALIDATION, 400, "'%s' is named twice in the fileset", paths[i]);
                goto out;
            }
    }
    json_t *algs = json_object_get (body, "checksumAlgorithms");
    char client_algs[512] = "";
    if (json_is_array (algs)) {
        size_t k;
        json_t *a;
        json_array_foreach (algs, k, a) if (json_is_string (a))
        {
            strncat (client_algs, json_string_value (a), sizeof client_algs - strlen (client_algs) - 2);
            strcat (client_algs, ",");
        }
    } else if (json_is_string (algs))
        snprintf (client_algs, sizeof client_algs, "%s", json_string_value (algs));
    const char *alg = blz_checksum_negotiate (client_algs[0] ? client_algs : NULL,
                                              omr_config_get (app->config, "omero.checksum.supported"));
    if (!alg) {
        omr_err_set (err, OMR_E_API, 400, "none of the checksum algorithms '%s' is supported (omero.checksum.supported: %s)",
                     client_algs, omr_config_get (app->config, "omero.checksum.supported"));
        goto out;
    }
    blz_db_t *db = blz_app_db (app, call);
    if (blz_db_begin (db, &ctx, err) < 0)
        goto out;
    int64_t dataset = resolve_target (db, &ctx, json_object_get (body, "target"), err);
    if (dataset < 0)
        goto rollback;
    char uid[24], gid[24];
    PGresult *r = blz_db_query (db, err,
                                "SELECT e.omename, e.institution, g.name, g.permissions FROM experimenter e, "
                                "experimentergroup g WHERE e.id = $1 AND g.id = $2",
                                BLZ_P (BLZ_I64 (uid, ctx.user_id), BLZ_I64 (gid, ctx.group_id)));
    if (!r)
        goto rollback;
    if (!PQntuples (r)) {
        PQclear (r);
        omr_err_set (err, OMR_E_SECURITY, 403, "unknown user or group");
        goto rollback;
    }
    char perms[7];
    blz_perms_string (atoll (PQgetvalue (r, 0, 3)), perms);
    char thread[64];
    snprintf (thread, sizeof thread, "%s-worker-%d", omr_server_id (app->server), call->worker);
    blz_repo_vars_t vars = {.user = PQgetvalue (r, 0, 0), .institution = PQgetvalue (r, 0, 1),
                            .group = PQgetvalue (r, 0, 2), .perms = perms, .session = ctx.session,
                            .thread = thread, .user_id = ctx.user_id, .group_id = ctx.group_id,
                            .session_id = ctx.session_id, .paths = (const char *const *) paths, .npaths = (int) nf};
    prefix = blz_repo_make_dir (im->root, omr_config_get (app->config, "omero.fs.repo.path"), &vars, err);
    PQclear (r);
    if (!prefix)
        goto rollback;
    int64_t fs = blz_db_insert_owned (db, err, ctx.user_id, ctx.group_id, "fileset", "templateprefix", "$1", BLZ_P (prefix));
    if (fs < 0 || blz_db_log (db, "INSERT", "ome.model.fs.Fileset", fs, err) < 0)
        goto rollback;
    int64_t upload = ins_job (db, err, ctx.user_id, ctx.group_id, "UploadJob", ST_RUNNING, "Uploading");
    int64_t job = upload < 0 ? -1 : ins_job (db, err, ctx.user_id, ctx.group_id, "MetadataImportJob", ST_SUBMITTED,
                                              "Waiting for the upload");
    if (job < 0)
        goto rollback;
    char fss[24], js[24];
    BLZ_I64 (fss, fs);
    for (int k = 0; k < 2; k++)
        if (blz_db_insert_owned (db, err, ctx.user_id, ctx.group_id, "filesetjoblink", "parent, child", "$1, $2",
                       BLZ_P (fss, BLZ_I64 (js, k ? job : upload))) < 0)
            goto rollback;
    json_t *out_files = json_array ();
    call->reply = json_pack ("{s:I, s:I, s:I, s:s, s:s, s:o}", "fileset", (json_int_t) fs, "process",
                             (json_int_t) upload, "handle", (json_int_t) job, "templatePrefix", prefix,
                             "checksumAlgorithm", alg, "files", out_files);
    for (size_t i = 0; i < nf; i++) {
        json_t *f = json_array_get (files, i);
        char *slash = strrchr (paths[i], '/');
        char dir[PATH_MAX];
        snprintf (dir, sizeof dir, "%s%.*s%s", prefix, slash ? (int) (slash - paths[i]) : 0, paths[i], slash ? "/" : "");
        const char *name = slash ? slash + 1 : paths[i];
        char size[24], idx[16];
        snprintf (idx, sizeof idx, "%zu", i);
        BLZ_I64 (size, json_integer_value (json_object_get (f, "size")));
        int64_t of = blz_db_insert_owned (db, err, ctx.user_id, ctx.group_id, "originalfile",
                                "path, name, repo, \"size\", mimetype, hasher",
                                "$1, $2, $3, $4, 'application/octet-stream', (SELECT id FROM checksumalgorithm WHERE value = $5)",
                                BLZ_P (dir, name, im->uuid, size, alg));
        if (of < 0 || blz_db_log (db, "INSERT", "ome.model.core.OriginalFile", of, err) < 0)
            goto rollback;
        const char *cp = jstr (f, "clientPath");
        while (cp && *cp == '/')
            cp++;
        char ofs[24];
        if (blz_db_insert_owned (db, err, ctx.user_id, ctx.group_id, "filesetentry", "clientpath, fileset, originalfile, fileset_index",
                       "$1, $2, $3, $4", BLZ_P (cp && *cp ? cp : paths[i], fss, BLZ_I64 (ofs, of), idx)) < 0)
            goto rollback;
        json_array_append_new (out_files, json_pack ("{s:i, s:s, s:I}", "index", (int) i, "path", paths[i],
                                                     "originalFileId", (json_int_t) of));
    }
    /* the import settings travel with the job (its versionInfo map) */
    char ds[24];
    json_t *skip = json_object_get (body, "skip");
    char skips[256] = "";
    size_t k;
    json_t *sv;
    json_array_foreach (skip, k, sv) if (json_is_string (sv))
    {
        strncat (skips, json_string_value (sv), sizeof skips - strlen (skips) - 2);
        strcat (skips, ",");
    }
    int n = 0;
    if (add_info (db, err, job, n++, "omero.version", BLZ_OMERO_VERSION) < 0
        || add_info (db, err, job, n++, "import.checksumAlgorithm", alg) < 0
        || (dataset > 0 && add_info (db, err, job, n++, "import.dataset", BLZ_I64 (ds, dataset)) < 0)
        || (jstr (body, "name") && add_info (db, err, job, n++, "import.name", jstr (body, "name")) < 0)
        || (jstr (body, "description") && add_info (db, err, job, n++, "import.description", jstr (body, "description")) < 0)
        || (skips[0] && add_info (db, err, job, n++, "import.skip", skips) < 0)
        || (jstr (body, "transfer") && add_info (db, err, job, n++, "import.transfer", jstr (body, "transfer")) < 0))
        goto rollback;
    if (blz_db_commit (db, err) < 0)
        goto undo_dir;
    rc = 0;
    goto out;
rollback:
    blz_db_rollback (db);
undo_dir:
    if (prefix) {
        omr_err_t e2 = {0};
        blz_repo_remove_tree (im->root, prefix, &e2);
    }
    json_decref (call->reply);
    call->reply = NULL;
out:
    for (size_t i = 0; i < nf; i++)
        free (paths[i]);
    free (paths);
    free (prefix);
    return rc;
}

/* ------------------------------------------------------------------ upload */

/* The caller's running upload job `process` and the repository path of its file `index`
 * (malloc'ed relative path, declared size). */
static int
upload_file (imp_t *im, blz_db_t *db, const blz_ctx_t *ctx, int64_t process, int index, char **rel,
             int64_t *size, int64_t *fileset, char alg[32], omr_err_t *err)
{
    char p[24], i[16];
    snprintf (i, sizeof i, "%d", index);
    PGresult *r = blz_db_query (db, err,
                                "SELECT j.owner_id, s.value, l.parent FROM job j JOIN jobstatus s ON s.id = j.status "
                                "LEFT JOIN filesetjoblink l ON l.child = j.id WHERE j.id = $1 AND j.discriminator = 'UploadJob'",
                                BLZ_P (BLZ_I64 (p, process)));
    if (!r)
        return -1;
    if (!PQntuples (r) || PQgetisnull (r, 0, 2)) {
        PQclear (r);
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no upload process %lld", (long long) process);
    }
    if (atoll (PQgetvalue (r, 0, 0)) != ctx->user_id) {
        PQclear (r);
        return omr_err_set (err, OMR_E_SECURITY, 403, "upload process %lld belongs to another user", (long long) process);
    }
    if (strcmp (PQgetvalue (r, 0, 1), ST_RUNNING)) {
        int rc = omr_err_set (err, OMR_E_API, 400, "upload process %lld is %s, not accepting data", (long long) process,
                              PQgetvalue (r, 0, 1));
        PQclear (r);
        return rc;
    }
    *fileset = atoll (PQgetvalue (r, 0, 2));
    PQclear (r);
    if (index < 0)
        return 0;
    char f[24];
    r = blz_db_query (db, err,
                      "SELECT o.path || o.name, o.\"size\", coalesce(a.value, '') FROM filesetentry e JOIN originalfile o "
                      "ON o.id = e.originalfile LEFT JOIN checksumalgorithm a ON a.id = o.hasher "
                      "WHERE e.fileset = $1 AND e.fileset_index = $2", BLZ_P (BLZ_I64 (f, *fileset), i));
    if (!r)
        return -1;
    if (!PQntuples (r)) {
        PQclear (r);
        return omr_err_set (err, OMR_E_API, 400, "upload process %lld has no file %d", (long long) process, index);
    }
    *rel = strdup (PQgetvalue (r, 0, 0));
    *size = atoll (PQgetvalue (r, 0, 1));
    if (alg)
        snprintf (alg, 32, "%s", PQgetvalue (r, 0, 2));
    PQclear (r);
    return 0;
}

/* The caller's transaction on an upload process's file `index` (-1: the process as a whole):
 * NULL with err when the caller has no such process (nothing left open). */
static blz_db_t *
begin_process (imp_t *im, omr_call_t *call, int64_t process, int index, char **rel, int64_t *size, int64_t *fs,
               char alg[32], omr_err_t *err)
{
    blz_ctx_t ctx;
    if (blz_call_ctx (call, &ctx, err) < 0)
        return NULL;
    blz_db_t *db = blz_app_db (im->app, call);
    if (blz_db_begin (db, &ctx, err) < 0)
        return NULL;
    if (upload_file (im, db, &ctx, process, index, rel, size, fs, alg, err) < 0) {
        blz_db_rollback (db);
        return NULL;
    }
    return db;
}

/* The MetadataImportJob of fileset fs (0 when there is none). */
static int64_t
fileset_job (blz_db_t *db, int64_t fs, omr_err_t *err)
{
    char f[24];
    return one_int (db, err,
                    "SELECT j.id FROM filesetjoblink l JOIN job j ON j.id = l.child WHERE l.parent = $1 "
                    "AND j.discriminator = 'MetadataImportJob'", BLZ_P (BLZ_I64 (f, fs)));
}

static int
op_write (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    json_t *body = call->req->body;
    int64_t process = blz_int (body, "process", -1), offset = blz_int (body, "offset", 0);
    int index = (int) blz_int (body, "index", -1);
    if (process < 0 || index < 0 || offset < 0)
        return omr_err_set (err, OMR_E_API, 400, "write needs process, index and offset >= 0");
    const void *data = call->req->nraw ? (const void *) zframe_data (call->req->raw[0]) : (const void *) "";
    size_t len = call->req->nraw ? zframe_size (call->req->raw[0]) : 0;
    char *rel = NULL;
    int64_t size = 0, fs = 0;
    char alg[32] = "";
    blz_db_t *db = begin_process (im, call, process, index, &rel, &size, &fs, alg, err);
    if (!db)
        return -1;
    blz_db_rollback (db);
    int rc = 0;
    if ((uint64_t) offset + len > (uint64_t) size) {
        rc = omr_err_set (err, OMR_E_API, 400, "'%s': %zu bytes at offset %lld go past the declared size %lld",
                          strrchr (rel, '/') ? strrchr (rel, '/') + 1 : rel, len, (long long) offset, (long long) size);
        free (rel);
        return rc;
    }
    if (blz_repo_make_parents (im->root, rel, err) < 0) {
        free (rel);
        return -1;
    }
    char *full = blz_repo_join (im->root, rel, err);
    free (rel);
    if (!full)
        return -1;
    int fd = open (full, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        rc = omr_err_set (err, OMR_E_RESOURCE, 500, "cannot write %s: %s", full, strerror (errno));
        free (full);
        return rc;
    }
    const char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite (fd, p + done, len - done, (off_t) (offset + (int64_t) done));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = omr_err_set (err, OMR_E_RESOURCE, 500, "cannot write %s: %s", full, strerror (errno));
            break;
        }
        done += (size_t) w;
    }
    stream_t *st = rc < 0 ? NULL : stream_acquire (im, process, index, alg);
    if (st) {
        pthread_mutex_lock (&st->mu);
        stream_hash (st, fd, data, len, offset);
        pthread_mutex_unlock (&st->mu);
        stream_release (im, st);
    }
    close (fd);
    free (full);
    if (rc < 0)
        return -1;
    call->reply = json_pack ("{s:I}", "written", (json_int_t) len);
    return 0;
}

static int
op_cancel (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    int64_t process = blz_int (call->req->body, "process", -1);
    int64_t fs = 0, size = 0;
    char *rel = NULL;
    blz_db_t *db = begin_process (im, call, process, -1, &rel, &size, &fs, NULL, err);
    if (!db)
        return -1;
    int64_t job = fileset_job (db, fs, err);
    blz_db_rollback (db);
    stream_drop_process (im, process);
    fail_import (im, db, process, job, fs, "upload cancelled by the client");
    call->reply = json_object ();
    return 0;
}

static int
op_verify (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    json_t *body = call->req->body;
    int64_t process = blz_int (body, "process", -1);
    json_t *hashes = json_object_get (body, "hashes");
    int64_t fs = 0, size = 0;
    char *rel = NULL;
    blz_db_t *db = begin_process (im, call, process, -1, &rel, &size, &fs, NULL, err);
    if (!db)
        return -1;
    char f[24];
    BLZ_I64 (f, fs);
    int64_t job = fileset_job (db, fs, err);
    PGresult *r = blz_db_query (db, err,
                                "SELECT o.id, o.path || o.name, o.\"size\", a.value, o.name FROM filesetentry e "
                                "JOIN originalfile o ON o.id = e.originalfile "
                                "LEFT JOIN checksumalgorithm a ON a.id = o.hasher WHERE e.fileset = $1 ORDER BY e.fileset_index",
                                BLZ_P (f));
    if (!r || job < 0) {
        if (r)
            PQclear (r);
        blz_db_rollback (db);
        return -1;
    }
    int n = PQntuples (r);
    char msg[1024] = "";
    if (!json_is_array (hashes) || json_array_size (hashes) != (size_t) n)
        snprintf (msg, sizeof msg, "verifyUpload needs %d hashes, one per file", n);
    for (int i = 0; i < n && !msg[0]; i++) {
        const char *name = PQgetvalue (r, i, 4);
        char *full = blz_repo_join (im->root, PQgetvalue (r, i, 1), err);
        struct stat st;
        if (!full || stat (full, &st) < 0) {
            snprintf (msg, sizeof msg, "'%s' was not uploaded", name);
            free (full);
            break;
        }
        if (st.st_size != atoll (PQgetvalue (r, i, 2))) {
            snprintf (msg, sizeof msg, "'%s' is incomplete: %lld of %s bytes uploaded", name, (long long) st.st_size,
                      PQgetvalue (r, i, 2));
            free (full);
            break;
        }
        char sum[65];
        omr_err_t e2 = {0};
        stream_t *stv = stream_take (im, process, i);
        if (stv && !stv->broken && stv->nahead == 0 && stv->next == st.st_size) {
            blz_checksum_final (&stv->ck, sum);
            stream_release (im, stv);
        } else if ((stv ? stream_release (im, stv) : (void) 0), blz_checksum_file (PQgetvalue (r, i, 3), full, sum, &e2) < 0) {
            snprintf (msg, sizeof msg, "'%s': %s", name, e2.msg);
            free (full);
            break;
        }
        free (full);
        const char *client = json_string_value (json_array_get (hashes, (size_t) i));
        if (!client || strcasecmp (client, sum)) {
            snprintf (msg, sizeof msg, "'%s': checksum mismatch (%s): client %s, server %s", name, PQgetvalue (r, i, 3),
                      client ? client : "(none)", sum);
            break;
        }
        char oid[24];
        snprintf (oid, sizeof oid, "%s", PQgetvalue (r, i, 0));
        if (blz_db_exec (db, err, "UPDATE originalfile SET hash = $2, mtime = now(), ctime = now() WHERE id = $1",
                         BLZ_P (oid, sum)) < 0) {
            PQclear (r);
            blz_db_rollback (db);
            return -1;
        }
    }
    PQclear (r);
    stream_drop_process (im, process);
    if (msg[0]) {
        blz_db_rollback (db);
        fail_import (im, db, process, job, fs, msg);
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s", msg);
    }
    if (set_job (db, err, process, ST_FINISHED, "Uploaded and verified") < 0
        || set_job (db, err, job, ST_WAITING, "Waiting for a runner") < 0
        || blz_db_exec (db, err, "NOTIFY omero_import", 0, NULL) < 0 || blz_db_commit (db, err) < 0) {
        blz_db_rollback (db);
        return -1;
    }
    call->reply = json_pack ("{s:I}", "handle", (json_int_t) job);
    return 0;
}

/* ------------------------------------------------------------------ status */

static int
op_status (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    blz_ctx_t ctx;
    if (blz_call_ctx (call, &ctx, err) < 0)
        return -1;
    int64_t handle = blz_int (call->req->body, "handle", -1);
    blz_db_t *db = blz_app_db (im->app, call);
    ctx.group_id = -1;      /* a handle is followed whatever the current group */
    if (blz_db_begin (db, &ctx, err) < 0)
        return -1;
    char h[24];
    BLZ_I64 (h, handle);
    PGresult *r = blz_db_query (db, err,
                                "SELECT s.value, j.message, (SELECT parent FROM filesetjoblink WHERE child = j.id LIMIT 1), "
                                "extract(epoch FROM j.started) * 1000, extract(epoch FROM j.finished) * 1000 "
                                "FROM job j JOIN jobstatus s ON s.id = j.status WHERE j.id = $1", BLZ_P (h));
    if (!r) {
        blz_db_rollback (db);
        return -1;
    }
    if (!PQntuples (r)) {
        PQclear (r);
        blz_db_rollback (db);
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no import handle %s", h);
    }
    const char *st = PQgetvalue (r, 0, 0);
    json_t *images = json_array (), *pixels = json_array ();
    call->reply = json_pack ("{s:I, s:s, s:s, s:o, s:o}", "handle", (json_int_t) handle, "status", st, "message",
                             PQgetvalue (r, 0, 1), "images", images, "pixels", pixels);
    json_object_set_new (call->reply, "finished", json_boolean (!strcmp (st, ST_FINISHED) || !strcmp (st, ST_ERROR)));
    if (!PQgetisnull (r, 0, 2)) {
        char f[24];
        snprintf (f, sizeof f, "%s", PQgetvalue (r, 0, 2));
        json_object_set_new (call->reply, "fileset", json_integer (atoll (f)));
        PGresult *q = blz_db_query (db, err,
                                    "SELECT i.id, p.id FROM image i JOIN pixels p ON p.image = i.id WHERE i.fileset = $1 "
                                    "ORDER BY i.series, i.id", BLZ_P (f));
        for (int i = 0; q && i < PQntuples (q); i++) {
            json_array_append_new (images, json_integer (atoll (PQgetvalue (q, i, 0))));
            json_array_append_new (pixels, json_integer (atoll (PQgetvalue (q, i, 1))));
        }
        if (q)
            PQclear (q);
    }
    if (!PQgetisnull (r, 0, 3) && !PQgetisnull (r, 0, 4))
        json_object_set_new (call->reply, "elapsedMs",
                             json_integer ((json_int_t) (atof (PQgetvalue (r, 0, 4)) - atof (PQgetvalue (r, 0, 3)))));
    PQclear (r);
    blz_db_rollback (db);
    return 0;
}

static int
op_repositories (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    call->reply = json_pack ("{s:[{s:I, s:s, s:s, s:s}]}", "data", "id", (json_int_t) im->repo_id, "uuid", im->uuid,
                             "type", "Managed", "path", im->root);
    return 0;
}

/* ------------------------------------------------------------------ repository listings (omero fs) */

/* Begin a read-only transaction as the caller across all their groups. */
static blz_db_t *
begin_read (imp_t *im, omr_call_t *call, blz_ctx_t *ctx, omr_err_t *err)
{
    if (blz_call_ctx (call, ctx, err) < 0)
        return NULL;
    ctx->group_id = -1;
    blz_db_t *db = blz_app_db (im->app, call);
    return blz_db_begin (db, ctx, err) < 0 ? NULL : db;
}

/* Rows of a query as arrays of strings/ints per column types: 'i' integer, 's' text. */
static json_t *
rows_json (PGresult *r, const char *types, const char *const *names)
{
    json_t *out = json_array ();
    for (int i = 0; i < PQntuples (r); i++) {
        json_t *o = json_object ();
        for (int c = 0; types[c]; c++) {
            json_t *v = PQgetisnull (r, i, c) ? json_null ()
                        : types[c] == 'i'     ? json_integer (atoll (PQgetvalue (r, i, c)))
                                              : json_string (PQgetvalue (r, i, c));
            json_object_set_new (o, names[c], v);
        }
        json_array_append_new (out, o);
    }
    return out;
}

/* The ORDER BY clause for the listing's "order" (newest, the default; oldest; prefix when the
 * listing has one, else newest). */
static const char *
order_by (json_t *body, const char *newest, const char *oldest, const char *prefix)
{
    const char *o = jstr (body, "order");
    if (o && !strcmp (o, "oldest"))
        return oldest;
    if (o && !strcmp (o, "prefix") && prefix)
        return prefix;
    return newest;
}

/* The "limit" (default 25) and "offset" of a listing, as SQL parameters. */
static void
paging (json_t *body, char lim[24], char off[24])
{
    snprintf (lim, 24, "%lld", (long long) blz_int (body, "limit", 25));
    snprintf (off, 24, "%lld", (long long) blz_int (body, "offset", 0));
}

static int
op_list_filesets (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    blz_ctx_t ctx;
    blz_db_t *db = begin_read (im, call, &ctx, err);
    if (!db)
        return -1;
    json_t *b = call->req->body;
    char lim[24], off[24];
    paging (b, lim, off);
    bool without = json_is_true (json_object_get (b, "withoutImages"));
    const char *tr = jstr (b, "withTransfer");
    char *sql = NULL;
    if (asprintf (&sql,
                  "WITH s AS (SELECT f.id, f.templateprefix AS prefix, "
                  "(SELECT count(*) FROM image i WHERE i.fileset = f.id) AS images, "
                  "(SELECT count(*) FROM filesetentry e WHERE e.fileset = f.id) AS files, "
                  "coalesce((SELECT v.value FROM filesetjoblink l JOIN metadataimportjob_versioninfo v ON "
                  "v.metadataimportjob_id = l.child WHERE l.parent = f.id AND v.name = 'import.transfer' LIMIT 1), 'upload') "
                  "AS transfer, f.owner_id FROM fileset f) "
                  "SELECT id, prefix, images, files, transfer, owner_id, count(*) OVER () FROM s WHERE ($3 = 'f' OR images = 0) "
                  "AND ($4::text IS NULL OR transfer = $4) ORDER BY %s LIMIT $1 OFFSET $2",
                  order_by (b, "id DESC", "id ASC", "prefix, id")) < 0)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    PGresult *r = blz_db_query (db, err, sql, BLZ_P (lim, off, without ? "t" : "f", tr));
    free (sql);
    if (!r) {
        blz_db_rollback (db);
        return -1;
    }
    static const char *const names[] = {"id", "prefix", "images", "files", "transfer", "owner"};
    json_int_t total = PQntuples (r) ? atoll (PQgetvalue (r, 0, 6)) : 0;
    json_t *data = rows_json (r, "isiisi", names);
    PQclear (r);
    if (json_is_true (json_object_get (b, "check"))) {
        /* --check: every file's checksum recomputed against the recorded one (administrators) */
        if (!ctx.admin) {
            json_decref (data);
            blz_db_rollback (db);
            return omr_err_set (err, OMR_E_SECURITY, 403, "only administrators may check filesets");
        }
        size_t k;
        json_t *row;
        json_array_foreach (data, k, row)
        {
            char f[24];
            BLZ_I64 (f, json_integer_value (json_object_get (row, "id")));
            PGresult *q = blz_db_query (db, err,
                                        "SELECT o.path || o.name, o.hash, a.value FROM filesetentry e JOIN originalfile o "
                                        "ON o.id = e.originalfile LEFT JOIN checksumalgorithm a ON a.id = o.hasher "
                                        "WHERE e.fileset = $1", BLZ_P (f));
            const char *verdict = "OK";
            for (int i = 0; q && i < PQntuples (q); i++) {
                char sum[65];
                omr_err_t e2 = {0};
                char *full = blz_repo_join (im->root, PQgetvalue (q, i, 0), &e2);
                if (!full || PQgetisnull (q, i, 2) || blz_checksum_file (PQgetvalue (q, i, 2), full, sum, &e2) < 0)
                    verdict = "MISSING";
                else if (strcasecmp (sum, PQgetvalue (q, i, 1)))
                    verdict = "MISMATCH";
                free (full);
                if (strcmp (verdict, "OK"))
                    break;
            }
            if (q)
                PQclear (q);
            json_object_set_new (row, "check", json_string (verdict));
        }
    }
    call->reply = json_pack ("{s:o, s:I}", "data", data, "total", total);
    blz_db_rollback (db);
    return 0;
}

static int
op_list_images (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    blz_ctx_t ctx;
    blz_db_t *db = begin_read (im, call, &ctx, err);
    if (!db)
        return -1;
    json_t *b = call->req->body;
    char lim[24], off[24];
    paging (b, lim, off);
    char *sql = NULL;
    if (asprintf (&sql,
                  "SELECT i.id, i.name, i.fileset, (SELECT count(*) FROM filesetentry e WHERE e.fileset = i.fileset), "
                  "(SELECT coalesce(sum(o.\"size\"), 0) FROM filesetentry e JOIN originalfile o ON o.id = e.originalfile "
                  "WHERE e.fileset = i.fileset), count(*) OVER () FROM image i ORDER BY %s LIMIT $1 OFFSET $2",
                  order_by (b, "i.id DESC", "i.id ASC", NULL)) < 0)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    PGresult *r = blz_db_query (db, err, sql, BLZ_P (lim, off));
    free (sql);
    if (!r) {
        blz_db_rollback (db);
        return -1;
    }
    static const char *const names[] = {"id", "name", "fileset", "files", "size"};
    json_int_t total = PQntuples (r) ? atoll (PQgetvalue (r, 0, 5)) : 0;
    call->reply = json_pack ("{s:o, s:I}", "data", rows_json (r, "isiii", names), "total", total);
    PQclear (r);
    blz_db_rollback (db);
    return 0;
}

/* The entries of a repository directory that the caller may see (through their files' rows). */
static int
op_list_dir (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    blz_ctx_t ctx;
    const char *path = jstr (call->req->body, "path");
    char *norm = NULL;
    if (path && *path && strcmp (path, "/") && !(norm = blz_repo_check_path (path[0] == '/' ? path + 1 : path, "", err)))
        return -1;
    char prefix[PATH_MAX];
    snprintf (prefix, sizeof prefix, "%s%s", norm ? norm : "", norm ? "/" : "");
    free (norm);
    blz_db_t *db = begin_read (im, call, &ctx, err);
    if (!db)
        return -1;
    PGresult *r = blz_db_query (db, err,
                                "WITH f AS (SELECT substr(path || name, length($2) + 1) AS rest, \"size\", mimetype "
                                "FROM originalfile WHERE repo = $1 AND starts_with(path || name, $2) "
                                "AND length(path || name) > length($2)) "
                                "SELECT split_part(rest, '/', 1) AS entry, bool_or(position('/' IN rest) > 0 OR mimetype = "
                                "'Directory') AS dir, sum(\"size\") FROM f GROUP BY 1 ORDER BY 1",
                                BLZ_P (im->uuid, prefix));
    if (!r) {
        blz_db_rollback (db);
        return -1;
    }
    json_t *data = json_array ();
    for (int i = 0; i < PQntuples (r); i++)
        json_array_append_new (data, json_pack ("{s:s, s:s, s:I}", "name", PQgetvalue (r, i, 0), "type",
                                                !strcmp (PQgetvalue (r, i, 1), "t") ? "dir" : "file", "size",
                                                (json_int_t) atoll (PQgetvalue (r, i, 2))));
    PQclear (r);
    blz_db_rollback (db);
    call->reply = json_pack ("{s:s, s:o}", "path", prefix, "data", data);
    return 0;
}

/* Disk usage of the caller's files, or of the files of the given objects ("Image:1" …). */
static int
op_usage (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    blz_ctx_t ctx;
    blz_db_t *db = begin_read (im, call, &ctx, err);
    if (!db)
        return -1;
    json_t *objs = json_object_get (call->req->body, "objects");
    /* the fileset files, and other original files, of what was asked */
    char *ids = NULL;
    size_t idlen = 0;
    FILE *m = open_memstream (&ids, &idlen);
    size_t k;
    json_t *o;
    int n = 0;
    json_array_foreach (objs, k, o)
    {
        const char *spec = json_string_value (o);
        const char *colon = spec ? strchr (spec, ':') : NULL;
        if (!colon) {
            fclose (m);
            free (ids);
            blz_db_rollback (db);
            return omr_err_set (err, OMR_E_API, 400, "objects are given as Class:ID, not '%s'", spec ? spec : "");
        }
        char cls[32];
        snprintf (cls, sizeof cls, "%.*s", (int) (colon - spec), spec);
        char *list = strdup (colon + 1), *save = NULL;
        for (char *id = strtok_r (list, ",", &save); id; id = strtok_r (NULL, ",", &save)) {
            long long v = atoll (id);
            const char *q = !strcmp (cls, "Image")      ? "SELECT fileset FROM image WHERE id = %lld"
                            : !strcmp (cls, "Fileset")  ? "SELECT %lld"
                            : !strcmp (cls, "Dataset")  ? "SELECT i.fileset FROM datasetimagelink l JOIN image i ON i.id = l.child WHERE l.parent = %lld"
                            : !strcmp (cls, "Project")  ? "SELECT i.fileset FROM projectdatasetlink p JOIN datasetimagelink l ON l.parent = p.child JOIN image i ON i.id = l.child WHERE p.parent = %lld"
                                                        : NULL;
            if (!q) {
                free (list);
                fclose (m);
                free (ids);
                blz_db_rollback (db);
                return omr_err_set (err, OMR_E_API, 400, "usage of %s is not counted (Image, Fileset, Dataset, Project)", cls);
            }
            fprintf (m, "%s", n++ ? " UNION " : "");
            fprintf (m, q, v);
        }
        free (list);
    }
    fclose (m);
    PGresult *r;
    char uid[24];
    if (n) {
        char *sql = NULL;
        if (asprintf (&sql,
                      "SELECT 'FilesetEntry', coalesce(sum(o.\"size\"), 0), count(o.id) FROM originalfile o WHERE o.id IN "
                      "(SELECT e.originalfile FROM filesetentry e WHERE e.fileset IN (%s))", ids) < 0)
            sql = NULL;
        r = sql ? blz_db_query (db, err, sql, 0, NULL) : NULL;
        free (sql);
    } else
        r = blz_db_query (db, err,
                          "SELECT CASE WHEN repo IS NOT NULL THEN 'FilesetEntry' ELSE 'OriginalFile' END, "
                          "coalesce(sum(\"size\"), 0), count(*) FROM originalfile WHERE owner_id = $1 AND "
                          "coalesce(mimetype, '') NOT IN ('Repository', 'Directory') GROUP BY 1 ORDER BY 1",
                          BLZ_P (BLZ_I64 (uid, ctx.user_id)));
    free (ids);
    if (!r) {
        blz_db_rollback (db);
        return -1;
    }
    json_t *comp = json_array ();
    long long total = 0, files = 0;
    for (int i = 0; i < PQntuples (r); i++) {
        long long b = atoll (PQgetvalue (r, i, 1)), f = atoll (PQgetvalue (r, i, 2));
        if (!f)
            continue;
        total += b;
        files += f;
        json_array_append_new (comp, json_pack ("{s:s, s:I, s:I}", "component", PQgetvalue (r, i, 0), "size",
                                                (json_int_t) b, "files", (json_int_t) f));
    }
    PQclear (r);
    blz_db_rollback (db);
    call->reply = json_pack ("{s:I, s:I, s:o}", "size", (json_int_t) total, "files", (json_int_t) files, "components",
                             comp);
    return 0;
}

/* Wall-clock times of a fileset's upload and import. */
static int
op_import_time (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    blz_ctx_t ctx;
    blz_db_t *db = begin_read (im, call, &ctx, err);
    if (!db)
        return -1;
    char f[24];
    BLZ_I64 (f, blz_int (call->req->body, "fileset", -1));
    PGresult *r = blz_db_query (db, err,
                                "SELECT j.discriminator, s.value, extract(epoch FROM j.submitted) * 1000, "
                                "extract(epoch FROM j.started) * 1000, extract(epoch FROM j.finished) * 1000 "
                                "FROM filesetjoblink l JOIN job j ON j.id = l.child JOIN jobstatus s ON s.id = j.status "
                                "WHERE l.parent = $1 ORDER BY j.id", BLZ_P (f));
    if (!r) {
        blz_db_rollback (db);
        return -1;
    }
    if (!PQntuples (r)) {
        PQclear (r);
        blz_db_rollback (db);
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no readable Fileset:%s with import jobs", f);
    }
    json_t *jobs = json_array ();
    for (int i = 0; i < PQntuples (r); i++) {
        json_t *j = json_pack ("{s:s, s:s}", "type", PQgetvalue (r, i, 0), "status", PQgetvalue (r, i, 1));
        static const char *const k[] = {"submitted", "started", "finished"};
        for (int c = 0; c < 3; c++)
            json_object_set_new (j, k[c], PQgetisnull (r, i, 2 + c) ? json_null ()
                                                                     : json_integer ((json_int_t) atof (PQgetvalue (r, i, 2 + c))));
        json_array_append_new (jobs, j);
    }
    PQclear (r);
    blz_db_rollback (db);
    call->reply = json_pack ("{s:I, s:o}", "fileset", (json_int_t) atoll (f), "jobs", jobs);
    return 0;
}

/* Files imported before by the caller with the same name or client path (import --exclude). */
static int
op_find_entries (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    blz_ctx_t ctx;
    blz_db_t *db = begin_read (im, call, &ctx, err);
    if (!db)
        return -1;
    char uid[24];
    const char *name = jstr (call->req->body, "name"), *cp = jstr (call->req->body, "clientPath");
    PGresult *r = blz_db_query (db, err,
                                "SELECT e.fileset, e.clientpath FROM filesetentry e JOIN originalfile o ON o.id = e.originalfile "
                                "JOIN fileset f ON f.id = e.fileset WHERE e.owner_id = $1 AND ($2::text IS NULL OR o.name = $2) "
                                "AND ($3::text IS NULL OR e.clientpath = $3) AND EXISTS (SELECT 1 FROM image i WHERE i.fileset = f.id) "
                                "ORDER BY e.id",
                                BLZ_P (BLZ_I64 (uid, ctx.user_id), name, cp));
    if (!r) {
        blz_db_rollback (db);
        return -1;
    }
    static const char *const names[] = {"fileset", "clientPath"};
    call->reply = json_pack ("{s:o}", "data", rows_json (r, "is", names));
    PQclear (r);
    blz_db_rollback (db);
    return 0;
}

/* Administrators: create a directory in the repository, on disk and as an OriginalFile. */
static int
op_make_dir (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    blz_ctx_t ctx;
    if (blz_call_ctx (call, &ctx, err) < 0)
        return -1;
    if (!ctx.admin)
        return omr_err_set (err, OMR_E_SECURITY, 403, "only administrators may create repository directories");
    char *rel = blz_repo_check_path (jstr (call->req->body, "path"), omr_config_get (im->app->config,
                                                                                     "omero.fs.repo.path_rules"), err);
    if (!rel)
        return -1;
    bool parents = json_is_true (json_object_get (call->req->body, "parents"));
    blz_db_t *db = blz_app_db (im->app, call);
    ctx.group_id = im->app->user_gid;
    int rc = -1;
    char *full = NULL;
    if (blz_db_begin (db, &ctx, err) < 0)
        goto out;
    full = blz_repo_join (im->root, rel, err);
    if (!full)
        goto out;
    struct stat st;
    if (stat (full, &st) == 0) {
        omr_err_set (err, OMR_E_VALIDATION, 409, "'%s' already exists", rel);
        goto out;
    }
    char *slash = strrchr (rel, '/');
    if (slash && !parents) {
        char *pfull = strndup (full, strlen (full) - strlen (slash));
        bool ok = stat (pfull, &st) == 0 && S_ISDIR (st.st_mode);
        free (pfull);
        if (!ok) {
            omr_err_set (err, OMR_E_NOTFOUND, 404, "the parent of '%s' does not exist (use --parents)", rel);
            goto out;
        }
    }
    /* every new component becomes a Directory row owned by root in group user */
    for (char *p = rel; p;) {
        char *e = strchr (p, '/');
        char *sub = strndup (rel, e ? (size_t) (e - rel) : strlen (rel));
        char *sfull = blz_repo_join (im->root, sub, err);
        bool existed = sfull && stat (sfull, &st) == 0;
        if (!sfull || (!existed && mkdir (sfull, 0755) < 0)) {
            if (sfull)
                omr_err_set (err, OMR_E_RESOURCE, 500, "cannot create %s: %s", sub, strerror (errno));
            free (sub);
            free (sfull);
            goto out;
        }
        free (sfull);
        if (!existed) {
            char *sl = strrchr (sub, '/');
            char dir[PATH_MAX];
            snprintf (dir, sizeof dir, "%.*s", sl ? (int) (sl - sub + 1) : 0, sub);
            if (blz_db_insert_owned (db, err, im->app->root_id, im->app->user_gid, "originalfile", "path, name, repo, mimetype",
                           "$1, $2, $3, 'Directory'", BLZ_P (dir, sl ? sl + 1 : sub, im->uuid)) < 0) {
                free (sub);
                goto out;
            }
        }
        free (sub);
        p = e ? e + 1 : NULL;
    }
    if (blz_db_commit (db, err) < 0)
        goto out;
    call->reply = json_pack ("{s:s}", "path", rel);
    rc = 0;
out:
    if (rc < 0)
        blz_db_rollback (db);
    free (full);
    free (rel);
    return rc;
}

/* Administrators: give a fileset a new template directory (the current omero.fs.repo.path for
 * its owner) and move its files there unless noMove. */
static int
op_rename_fileset (omr_call_t *call, omr_err_t *err, void *arg)
{
    imp_t *im = arg;
    blz_ctx_t ctx;
    if (blz_call_ctx (call, &ctx, err) < 0)
        return -1;
    if (!ctx.admin)
        return omr_err_set (err, OMR_E_SECURITY, 403, "only administrators may rename filesets");
    bool no_move = json_is_true (json_object_get (call->req->body, "noMove"));
    char f[24];
    BLZ_I64 (f, blz_int (call->req->body, "fileset", -1));
    blz_db_t *db = blz_app_db (im->app, call);
    ctx.group_id = -1;
    if (blz_db_begin (db, &ctx, err) < 0)
        return -1;
    PGresult *r = blz_db_query (db, err,
                                "SELECT f.templateprefix, e.omename, e.id, g.name, g.id, g.permissions, e.institution "
                                "FROM fileset f JOIN experimenter e ON e.id = f.owner_id JOIN experimentergroup g ON "
                                "g.id = f.group_id WHERE f.id = $1", BLZ_P (f));
    if (!r || !PQntuples (r)) {
        if (r)
            PQclear (r);
        blz_db_rollback (db);
        return err->name[0] ? -1 : omr_err_set (err, OMR_E_NOTFOUND, 404, "no Fileset:%s", f);
    }
    char old[PATH_MAX], perms[7];
    snprintf (old, sizeof old, "%s", PQgetvalue (r, 0, 0));
    blz_perms_string (atoll (PQgetvalue (r, 0, 5)), perms);
    blz_repo_vars_t vars = {.user = PQgetvalue (r, 0, 1), .user_id = atoll (PQgetvalue (r, 0, 2)),
                            .group = PQgetvalue (r, 0, 3), .group_id = atoll (PQgetvalue (r, 0, 4)), .perms = perms,
                            .institution = PQgetvalue (r, 0, 6), .session = ctx.session, .session_id = ctx.session_id,
                            .thread = "rename"};
    char *prefix = blz_repo_make_dir (im->root, omr_config_get (im->app->config, "omero.fs.repo.path"), &vars, err);
    PQclear (r);
    if (!prefix) {
        blz_db_rollback (db);
        return -1;
    }
    if (blz_db_exec (db, err, "UPDATE fileset SET templateprefix = $2 WHERE id = $1", BLZ_P (f, prefix)) < 0
        || blz_db_exec (db, err,
                        "UPDATE originalfile SET path = $3 || substr(path, length($2) + 1) WHERE id IN "
                        "(SELECT originalfile FROM filesetentry WHERE fileset = $1) AND starts_with(path, $2)",
                        BLZ_P (f, old, prefix)) < 0) {
        blz_db_rollback (db);
        omr_err_t e2 = {0};
        blz_repo_remove_tree (im->root, prefix, &e2);
        free (prefix);
        return -1;
    }
    char *from = blz_repo_join (im->root, old, err), *to = blz_repo_join (im->root, prefix, err);
    int rc = 0;
    if (!from || !to)
        rc = -1;
    else if (!no_move) {
        rmdir (to);     /* made empty by blz_repo_make_dir: the old directory takes its place */
        if (rename (from, to) < 0) {
            rc = omr_err_set (err, OMR_E_RESOURCE, 500, "cannot move %s to %s: %s", old, prefix, strerror (errno));
            mkdir (to, 0755);
        }
    }
    if (rc == 0 && blz_db_commit (db, err) < 0) {
        rc = -1;
        if (!no_move)
            rename (to, from);
    }
    if (rc < 0) {
        blz_db_rollback (db);
        omr_err_t e2 = {0};
        blz_repo_remove_tree (im->root, prefix, &e2);
    } else
        call->reply = json_pack ("{s:s, s:s, s:s, s:b}", "old", old, "new", prefix, "root", im->root, "moved", !no_move);
    free (from);
    free (to);
    free (prefix);
    return rc;
}

/* ------------------------------------------------------------------ the import itself */

static const char *
format_value (const char *reader)
{
    if (!strcmp (reader, "OME-TIFF"))
        return "OME-TIFF";
    if (!strcmp (reader, "ImageJ TIFF"))
        return "ImageJ";
    if (!strcmp (reader, "PNG"))
        return "PNG";
    if (!strcmp (reader, "JPEG"))
        return "JPEG";
    return "Tiff";
}

/* A quantity's value and unit as SQL text parameters (NULL when unset). */
static void
qty (const fmt_quantity_t *q, char v[40], const char **vp, const char **up)
{
    if (q->set) {
        snprintf (v, 40, "%.17g", q->value);
        *vp = v;
        *up = q->unit;
    } else {
        *vp = NULL;
        *up = NULL;
    }
}

#define UNIT(t, n) "(SELECT e FROM unnest(enum_range(NULL::" t ")) e WHERE e::text = $" #n ")"

typedef struct {
    imp_t *im;
    blz_db_t *pdb;              /* progress connection (autocommit) */
    int64_t job;
    int64_t last_ms;
} progress_t;

static void
progress (progress_t *p, const char *fmt, ...)
{
    int64_t now = omr_now_ms ();
    if (now - p->last_ms < 500)
        return;
    p->last_ms = now;
    char msg[255];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    blz_ctx_t ctx;
    blz_ctx_internal (&ctx);
    omr_err_t err = {0};
    if (blz_db_begin (p->pdb, &ctx, &err) == 0) {
        char j[24];
        if (blz_db_exec (p->pdb, &err, "UPDATE job SET message = $2 WHERE id = $1", BLZ_P (BLZ_I64 (j, p->job), msg)) < 0
            || blz_db_commit (p->pdb, &err) < 0)
            blz_db_rollback (p->pdb);
    }
}

/* Insert everything one image of the fileset describes. */
static int64_t
import_image (blz_db_t *db, fmt_fileset_t *set, int idx, int64_t owner, int64_t group, int64_t fs,
              char **used_of, json_t *settings, progress_t *pg, omr_err_t *err)
{
    const fmt_image_t *m = fmt_fileset_image (set, idx);
    const char *name = json_string_value (json_object_get (settings, "import.name"));
    const char *desc = json_string_value (json_object_get (settings, "import.description"));
    const char *skip = json_string_value (json_object_get (settings, "import.skip"));
    int no_stats = skip && (strstr (skip, "minmax") || strstr (skip, "all"));
    char fss[24], ser[16];
    BLZ_I64 (fss, fs);
    snprintf (ser, sizeof ser, "%d", idx);
    char nm[1024];
    if (name && fmt_fileset_image_count (set) > 1)
        snprintf (nm, sizeof nm, "%s [%d]", name, idx);
    else
        snprintf (nm, sizeof nm, "%s", name ? name : m->name);
    int64_t img = blz_db_insert_owned (db, err, owner, group, "image",
                             "name, description, acquisitiondate, fileset, format, series, partial, archived",
                             "$1, $2, $3::timestamp, $4, (SELECT id FROM format WHERE value = $5), $6, false, false",
                             BLZ_P (nm, desc ? desc : (const char *) m->description, m->acquisition_date, fss,
                                    format_value (fmt_fileset_format (set)), ser));
    if (img < 0 || blz_db_log (db, "INSERT", "ome.model.core.Image", img, err) < 0)
        return -1;
    char ims[24], sx[16], sy[16], sz[16], sc[16], st[16], sb[16];
    char px[40], py[40], pz[40], ti[40];
    const char *pxv, *pxu, *pyv, *pyu, *pzv, *pzu, *tiv, *tiu;
    qty (&m->physical_size_x, px, &pxv, &pxu);
    qty (&m->physical_size_y, py, &pyv, &pyu);
    qty (&m->physical_size_z, pz, &pzv, &pzu);
    qty (&m->time_increment, ti, &tiv, &tiu);
    snprintf (sx, sizeof sx, "%u", m->size_x);
    snprintf (sy, sizeof sy, "%u", m->size_y);
    snprintf (sz, sizeof sz, "%u", m->size_z);
    snprintf (sc, sizeof sc, "%u", m->size_c);
    snprintf (st, sizeof st, "%u", m->size_t);
    snprintf (sb, sizeof sb, "%d", m->significant_bits);
    int64_t pix = blz_db_insert_owned (
        db, err, owner, group, "pixels",
        "image, image_index, dimensionorder, pixelstype, sizex, sizey, sizez, sizec, sizet, significantbits, sha1, "
        "physicalsizex, physicalsizexunit, physicalsizey, physicalsizeyunit, physicalsizez, physicalsizezunit, "
        "timeincrement, timeincrementunit",
        "$1, 0, (SELECT id FROM dimensionorder WHERE value = $2), (SELECT id FROM pixelstype WHERE value = $3), "
        "$4, $5, $6, $7, $8, $9, '', $10, " UNIT ("unitslength", 11) ", $12, " UNIT ("unitslength", 13) ", $14, "
        UNIT ("unitslength", 15) ", $16, " UNIT ("unitstime", 17),
        BLZ_P (BLZ_I64 (ims, img), m->dimension_order, fmt_pixtype_name (m->pixel_type), sx, sy, sz, sc, st,
               m->significant_bits > 0 ? sb : NULL, pxv, pxu, pyv, pyu, pzv, pzu, tiv, tiu));
    if (pix < 0 || blz_db_log (db, "INSERT", "ome.model.core.Pixels", pix, err) < 0)
        return -1;
    char pxs[24];
    BLZ_I64 (pxs, pix);
    uint64_t planes = (uint64_t) m->size_z * m->size_c * m->size_t, done = 0;
    for (uint32_t c = 0; c < m->size_c; c++) {
        const fmt_channel_t *ch = &m->channels[c];
        char em[40], ex[40], spp[16];
        const char *emv, *emu, *exv, *exu;
        qty (&ch->emission, em, &emv, &emu);
        qty (&ch->excitation, ex, &exv, &exu);
        snprintf (spp, sizeof spp, "%d", ch->samples_per_pixel > 0 ? ch->samples_per_pixel : 1);
        int64_t lc = blz_db_insert_owned (db, err, owner, group, "logicalchannel",
                                "name, fluor, emissionwave, emissionwaveunit, excitationwave, excitationwaveunit, samplesperpixel",
                                "$1, $2, $3, " UNIT ("unitslength", 4) ", $5, " UNIT ("unitslength", 6) ", $7",
                                BLZ_P (ch->name, ch->fluor, emv, emu, exv, exu, spp));
        if (lc < 0)
            return -1;
        int64_t stats = 0;
        if (!no_stats) {
            double lo = 0, hi = 0;
            for (uint32_t t = 0; t < m->size_t; t++)
                for (uint32_t z = 0; z < m->size_z; z++) {
                    double a, b;
                    if (fmt_fileset_plane_minmax (set, idx, z, c, t, &a, &b, err) < 0)
                        return -1;
                    if ((z == 0 && t == 0) || a < lo)
                        lo = a;
                    if ((z == 0 && t == 0) || b > hi)
                        hi = b;
                    done++;
                    progress (pg, "Step 2 of 3: pixel statistics of image %d, plane %llu of %llu", idx + 1,
                              (unsigned long long) done, (unsigned long long) planes);
                }
            char los[40], his[40];
            snprintf (los, sizeof los, "%.17g", lo);
            snprintf (his, sizeof his, "%.17g", hi);
            stats = blz_db_insert_owned (db, err, owner, group, "statsinfo", "globalmin, globalmax", "$1, $2", BLZ_P (los, his));
            if (stats < 0)
                return -1;
        }
        char lcs[24], sts[24], cs[16], r[8], g[8], b[8], a[8];
        snprintf (cs, sizeof cs, "%u", c);
        uint32_t col = (uint32_t) ch->color;
        snprintf (r, sizeof r, "%u", (col >> 24) & 255);
        snprintf (g, sizeof g, "%u", (col >> 16) & 255);
        snprintf (b, sizeof b, "%u", (col >> 8) & 255);
        snprintf (a, sizeof a, "%u", col & 255);
        if (blz_db_insert_owned (db, err, owner, group, "channel", "pixels, pixels_index, logicalchannel, statsinfo, red, green, blue, alpha",
                       "$1, $2, $3, $4, $5, $6, $7, $8",
                       BLZ_P (pxs, cs, BLZ_I64 (lcs, lc), stats ? BLZ_I64 (sts, stats) : NULL, ch->has_color ? r : NULL,
                              ch->has_color ? g : NULL, ch->has_color ? b : NULL, ch->has_color ? a : NULL))
            < 0)
            return -1;
    }
    for (int i = 0; i < m->plane_count; i++) {
        const fmt_plane_t *pl = &m->planes[i];
        char z[16], c[16], t[16], dt[40], ex[40], x[40], y[40], zz[40];
        const char *dtv, *dtu, *exv, *exu, *xv, *xu, *yv, *yu, *zv, *zu;
        snprintf (z, sizeof z, "%u", pl->z);
        snprintf (c, sizeof c, "%u", pl->c);
        snprintf (t, sizeof t, "%u", pl->t);
        qty (&pl->delta_t, dt, &dtv, &dtu);
        qty (&pl->exposure_time, ex, &exv, &exu);
        qty (&pl->position_x, x, &xv, &xu);
        qty (&pl->position_y, y, &yv, &yu);
        qty (&pl->position_z, zz, &zv, &zu);
        if (blz_db_insert_owned (db, err, owner, group, "planeinfo",
                       "pixels, thez, thec, thet, deltat, deltatunit, exposuretime, exposuretimeunit, positionx, positionxunit, "
                       "positiony, positionyunit, positionz, positionzunit",
                       "$1, $2, $3, $4, $5, " UNIT ("unitstime", 6) ", $7, " UNIT ("unitstime", 8) ", $9, "
                       UNIT ("unitslength", 10) ", $11, " UNIT ("unitslength", 12) ", $13, " UNIT ("unitslength", 14),
                       BLZ_P (pxs, z, c, t, dtv, dtu, exv, exu, xv, xu, yv, yu, zv, zu))
            < 0)
            return -1;
    }
    for (int f = 0; f < fmt_fileset_file_count (set); f++) {
        if (!fmt_fileset_image_uses_file (set, idx, f) || !used_of[f])
            continue;
        if (blz_db_insert_owned (db, err, owner, group, "pixelsoriginalfilemap", "parent, child", "$1, $2", BLZ_P (used_of[f], pxs)) < 0)
            return -1;
    }
    const char *ds = json_string_value (json_object_get (settings, "import.dataset"));
    if (ds && blz_db_insert_owned (db, err, owner, group, "datasetimagelink", "parent, child", "$1, $2", BLZ_P (ds, ims)) < 0)
        return -1;
    return img;
}

/* Instruments of the fileset's metadata with their objectives and detectors; ids[i] gets the
 * row of instrument i. */
static int
import_instruments (blz_db_t *db, fmt_fileset_t *set, int64_t owner, int64_t group, int64_t *ids, omr_err_t *err)
{
    for (int i = 0; i < fmt_fileset_instrument_count (set); i++) {
        const fmt_instrument_t *in = fmt_fileset_instrument (set, i);
        ids[i] = blz_db_insert_owned (db, err, owner, group, "instrument", "", "", 0, NULL);
        if (ids[i] < 0)
            return -1;
        char is[24];
        BLZ_I64 (is, ids[i]);
        for (int k = 0; k < in->objective_count; k++) {
            const fmt_objective_t *o = &in->objectives[k];
            char mag[40], na[40];
            snprintf (mag, sizeof mag, "%.17g", o->nominal_magnification);
            snprintf (na, sizeof na, "%.17g", o->lens_na);
            if (blz_db_insert_owned (db, err, owner, group, "objective",
                           "instrument, manufacturer, model, nominalmagnification, lensna, immersion, correction",
                           "$1, $2, $3, $4, $5, coalesce((SELECT id FROM immersion WHERE value = $6), "
                           "(SELECT id FROM immersion WHERE value = 'Other')), (SELECT id FROM correction WHERE value = 'Other')",
                           BLZ_P (is, o->manufacturer, o->model, o->has_magnification ? mag : NULL,
                                  o->has_lens_na ? na : NULL, o->immersion))
                < 0)
                return -1;
        }
        for (int k = 0; k < in->detector_count; k++) {
            const fmt_detector_t *d = &in->detectors[k];
            if (blz_db_insert_owned (db, err, owner, group, "detector", "instrument, manufacturer, model, type",
                           "$1, $2, $3, coalesce((SELECT id FROM detectortype WHERE value = $4), "
                           "(SELECT id FROM detectortype WHERE value = 'Other'))",
                           BLZ_P (is, d->manufacturer, d->model, d->type))
                < 0)
                return -1;
        }
    }
    return 0;
}

/* Run import job `job` (claimed by this runner). */
static void
run_job (imp_t *im, blz_db_t *db, blz_db_t *pdb, int64_t job)
{
    blz_ctx_t ctx;
    blz_ctx_internal (&ctx);
    omr_err_t err = {0};
    char j[24];
    BLZ_I64 (j, job);
    int64_t owner = -1, group = -1, fs = -1, upload = -1;
    json_t *settings = json_object ();
    int nfiles = 0;
    char **rel = NULL, **ofid = NULL;
    fmt_fileset_t *set = NULL;
    char msg[1024] = "";
    if (blz_db_begin (db, &ctx, &err) < 0)
        goto fail;
    PGresult *r = blz_db_query (db, &err,
                                "SELECT j.owner_id, j.group_id, l.parent, (SELECT u.child FROM filesetjoblink u JOIN job uj "
                                "ON uj.id = u.child WHERE u.parent = l.parent AND uj.discriminator = 'UploadJob' LIMIT 1), "
                                "e.omename FROM job j JOIN filesetjoblink l ON l.child = j.id "
                                "JOIN experimenter e ON e.id = j.owner_id WHERE j.id = $1", BLZ_P (j));
    if (!r)
        goto fail;
    if (!PQntuples (r)) {
        PQclear (r);
        snprintf (msg, sizeof msg, "import job %lld has no fileset", (long long) job);
        goto fail;
    }
    owner = atoll (PQgetvalue (r, 0, 0));
    group = atoll (PQgetvalue (r, 0, 1));
    fs = atoll (PQgetvalue (r, 0, 2));
    upload = PQgetisnull (r, 0, 3) ? -1 : atoll (PQgetvalue (r, 0, 3));
    snprintf (ctx.user_name, sizeof ctx.user_name, "%s", PQgetvalue (r, 0, 4));
    PQclear (r);
    r = blz_db_query (db, &err, "SELECT name, value FROM metadataimportjob_versioninfo WHERE metadataimportjob_id = $1",
                      BLZ_P (j));
    for (int i = 0; r && i < PQntuples (r); i++)
        json_object_set_new (settings, PQgetvalue (r, i, 0), json_string (PQgetvalue (r, i, 1)));
    if (r)
        PQclear (r);
    char f[24];
    r = blz_db_query (db, &err,
                      "SELECT o.id, o.path || o.name FROM filesetentry e JOIN originalfile o ON o.id = e.originalfile "
                      "WHERE e.fileset = $1 ORDER BY e.fileset_index", BLZ_P (BLZ_I64 (f, fs)));
    if (!r)
        goto fail;
    nfiles = PQntuples (r);
    rel = calloc ((size_t) nfiles + 1, sizeof (char *));
    ofid = calloc ((size_t) nfiles + 1, sizeof (char *));
    for (int i = 0; i < nfiles; i++) {
        ofid[i] = strdup (PQgetvalue (r, i, 0));
        rel[i] = strdup (PQgetvalue (r, i, 1));
    }
    PQclear (r);
    /* every claim is counted (committed before the work): a file that brings the server down
     * each time fails cleanly after omero.fs.import_attempts instead of looping forever */
    long attempts = 1 + (json_string_value (json_object_get (settings, "import.attempts"))
                             ? atol (json_string_value (json_object_get (settings, "import.attempts")))
                             : 0);
    long max_attempts = (long) im->import_attempts;
    if (attempts > max_attempts) {
        blz_db_rollback (db);
        snprintf (msg, sizeof msg, "the import was interrupted %ld times (the server stopped while importing); given up",
                  attempts - 1);
        goto fail;
    }
    char at[24];
    snprintf (at, sizeof at, "%ld", attempts);
    if (blz_db_exec (db, &err, "DELETE FROM metadataimportjob_versioninfo WHERE metadataimportjob_id = $1 "
                     "AND name = 'import.attempts'", BLZ_P (j)) < 0
        || add_info (db, &err, job, 1000 + (int) attempts, "import.attempts", at) < 0)
        goto fail;
    if (set_job (db, &err, job, ST_RUNNING, "Step 1 of 3: reading metadata") < 0 || blz_db_commit (db, &err) < 0)
        goto fail;
    if (nfiles == 0) {
        snprintf (msg, sizeof msg, "the fileset holds no files");
        goto fail;
    }
    char *first = blz_repo_join (im->root, rel[0], &err);
    if (!first)
        goto fail;
    set = fmt_fileset_open (first, &err);
    free (first);
    if (!set)
        goto fail;
    /* every file the reader uses must be one of the fileset's */
    int used = fmt_fileset_file_count (set);
    char **used_of = calloc ((size_t) used + 1, sizeof (char *));
    for (int u = 0; u < used; u++) {
        char real_u[PATH_MAX];
        if (!realpath (fmt_fileset_file (set, u), real_u))
            snprintf (real_u, sizeof real_u, "%s", fmt_fileset_file (set, u));
        for (int i = 0; i < nfiles && !used_of[u]; i++) {
            char *full = blz_repo_join (im->root, rel[i], &err), real_i[PATH_MAX];
            if (full && realpath (full, real_i) && !strcmp (real_i, real_u))
                used_of[u] = ofid[i];
            free (full);
        }
        if (!used_of[u]) {
            const char *b = strrchr (fmt_fileset_file (set, u), '/');
            snprintf (msg, sizeof msg, "'%s' needs '%s', which is not part of the fileset", strrchr (rel[0], '/') + 1,
                      b ? b + 1 : fmt_fileset_file (set, u));
            free (used_of);
            goto fail;
        }
    }
    ctx.user_id = owner;
    ctx.group_id = group;
    snprintf (ctx.event_type, sizeof ctx.event_type, "Import");
    progress_t pg = {.im = im, .pdb = pdb, .job = job, .last_ms = 0};
    err = (omr_err_t) {0};
    if (blz_db_begin (db, &ctx, &err) < 0) {
        free (used_of);
        goto fail;
    }
    int nimg = fmt_fileset_image_count (set);
    int ninst = fmt_fileset_instrument_count (set);
    int64_t *inst = calloc ((size_t) ninst + 1, sizeof (int64_t));
    if (import_instruments (db, set, owner, group, inst, &err) < 0) {
        free (inst);
        free (used_of);
        goto fail;
    }
    const char *skip = json_string_value (json_object_get (settings, "import.skip"));
    bool thumbs = !(skip && (strstr (skip, "thumbnails") || strstr (skip, "all")));
    for (int i = 0; i < nimg; i++) {
        const fmt_image_t *m = fmt_fileset_image (set, i);
        int64_t img = import_image (db, set, i, owner, group, fs, used_of, settings, &pg, &err);
        char is[24], ins[24];
        if (img >= 0)
            progress (&pg, "Step 3 of 3: rendering settings%s of image %d", thumbs ? " and thumbnail" : "", i + 1);
        if (img < 0 || (m->instrument >= 0 && m->instrument < ninst
                        && blz_db_exec (db, &err, "UPDATE image SET instrument = $2 WHERE id = $1",
                                        BLZ_P (BLZ_I64 (is, img), BLZ_I64 (ins, inst[m->instrument]))) < 0)
            || blz_thumb_import_image (im->app, db, img, thumbs, &err) < 0) {
            free (inst);
            free (used_of);
            goto fail;
        }
    }
    free (inst);
    free (used_of);
    char done[128];
    snprintf (done, sizeof done, "Step 3 of 3: done, %d image%s imported", nimg, nimg == 1 ? "" : "s");
    if (set_job (db, &err, job, ST_FINISHED, done) < 0 || blz_db_commit (db, &err) < 0)
        goto fail;
    omr_info ("import job %lld: fileset %lld, %d image(s)", (long long) job, (long long) fs, nimg);
    goto out;
fail:
    if (!msg[0])
        snprintf (msg, sizeof msg, "%s", err.msg[0] ? err.msg : "import failed");
    fail_import (im, db, upload, job, fs, msg);
out:
    fmt_fileset_destroy (&set);
    for (int i = 0; i < nfiles; i++) {
        free (rel[i]);
        free (ofid[i]);
    }
    free (rel);
    free (ofid);
    json_decref (settings);
}

/* Newest modification time (s) of anything below a directory. */
static time_t
newest_mtime (const char *dir)
{
    struct stat st;
    if (lstat (dir, &st) < 0)
        return 0;
    time_t best = st.st_mtime;
    if (!S_ISDIR (st.st_mode))
        return best;
    DIR *d = opendir (dir);
    if (!d)
        return best;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (!strcmp (e->d_name, ".") || !strcmp (e->d_name, ".."))
            continue;
        char sub[PATH_MAX];
        snprintf (sub, sizeof sub, "%s/%s", dir, e->d_name);
        time_t t = newest_mtime (sub);
        if (t > best)
            best = t;
    }
    closedir (d);
    return best;
}

/* Uploads that stopped (the client went away halfway): after omero.fs.upload_timeout ms
 * without new data their fileset, rows and files are removed and the jobs fail. */
static void
reap_uploads (imp_t *im, blz_db_t *db)
{
    long long timeout = im->upload_timeout;
    blz_ctx_t ctx;
    blz_ctx_internal (&ctx);
    omr_err_t err = {0};
    if (blz_db_begin (db, &ctx, &err) < 0)
        return;
    char ms[24];
    PGresult *r = blz_db_query (db, &err,
                                "SELECT j.id, l.parent, f.templateprefix, (SELECT m.child FROM filesetjoblink m JOIN job mj ON "
                                "mj.id = m.child WHERE m.parent = l.parent AND mj.discriminator = 'MetadataImportJob' LIMIT 1) "
                                "FROM job j JOIN jobstatus s ON s.id = j.status JOIN filesetjoblink l ON l.child = j.id "
                                "JOIN fileset f ON f.id = l.parent WHERE j.discriminator = 'UploadJob' AND s.value = 'Running' "
                                "AND j.submitted < now() - make_interval(secs => $1::float8 / 1000) LIMIT 50",
                                BLZ_P (BLZ_I64 (ms, timeout)));
    int n = r ? PQntuples (r) : 0;
    int64_t (*stale)[3] = calloc ((size_t) n + 1, sizeof *stale);
    int ns = 0;
    for (int i = 0; i < n; i++) {
        char *dir = blz_repo_join (im->root, PQgetvalue (r, i, 2), &err);
        time_t t = dir ? newest_mtime (dir) : 0;
        free (dir);
        if (t && (long long) (time (NULL) - t) * 1000 < timeout)
            continue;
        stale[ns][0] = atoll (PQgetvalue (r, i, 0));
        stale[ns][1] = atoll (PQgetvalue (r, i, 1));
        stale[ns][2] = PQgetisnull (r, i, 3) ? -1 : atoll (PQgetvalue (r, i, 3));
        ns++;
    }
    if (r)
        PQclear (r);
    blz_db_rollback (db);
    for (int i = 0; i < ns; i++) {
        char msg[160];
        snprintf (msg, sizeof msg, "upload abandoned: no data for %lld s; the partial upload was removed", timeout / 1000);
        stream_drop_process (im, stale[i][0]);
        fail_import (im, db, stale[i][0], stale[i][2], stale[i][1], msg);
    }
    free (stale);
}

/* Sleep until a verification announces a job (NOTIFY omero_import) or ms pass. */
static void
wait_for_jobs (blz_db_t *db, int ms)
{
    omr_err_t err = {0};
    PGconn *conn = blz_db_conn (db);
    /* LISTEN again every time: the connection may have been replaced after a failure */
    if (!conn || blz_db_exec (db, &err, "LISTEN omero_import", 0, NULL) < 0 || PQsocket (conn) < 0) {
        usleep ((useconds_t) ms * 1000);
        return;
    }
    PGnotify *n;
    bool got = false;
    PQconsumeInput (conn);
    while ((n = PQnotifies (conn))) {
        got = true;
        PQfreemem (n);
    }
    if (got)
        return;
    struct pollfd pfd = {.fd = PQsocket (conn), .events = POLLIN};
    if (poll (&pfd, 1, ms) > 0) {
        PQconsumeInput (conn);
        while ((n = PQnotifies (conn)))
            PQfreemem (n);
    }
}

/* A runner: claim waiting (or orphaned running) import jobs and run them, forever. */
static void *
runner (void *arg)
{
    imp_t *im = arg;
    blz_db_t *db = blz_db_new (im->app->conninfo), *pdb = blz_db_new (im->app->conninfo);
    omr_err_t err = {0};
    while (!atomic_load (&im->stop) && (blz_db_connect (db, 60000, &err) < 0 || blz_db_connect (pdb, 60000, &err) < 0))
        sleep (1);
    blz_ctx_t ctx;
    blz_ctx_internal (&ctx);
    int64_t last_reap = 0;
    while (!atomic_load (&im->stop)) {
        int64_t claimed = -1;
        err = (omr_err_t) {0};
        /* row-level security shows rows only inside a transaction with a context */
        if (blz_db_begin (db, &ctx, &err) < 0) {
            sleep (1);
            continue;
        }
        PGresult *r = blz_db_query (db, &err,
                                    "SELECT j.id FROM job j JOIN jobstatus s ON s.id = j.status WHERE j.discriminator = "
                                    "'MetadataImportJob' AND s.value IN ('Waiting', 'Running') ORDER BY j.id LIMIT 20",
                                    0, NULL);
        for (int i = 0; r && i < PQntuples (r) && claimed < 0; i++) {
            char lk[80];
            snprintf (lk, sizeof lk, "SELECT pg_try_advisory_lock(%d, %s::int4)", LOCK_CLASS, PQgetvalue (r, i, 0));
            PGresult *l = blz_db_query (db, &err, lk, 0, NULL);
            if (l && !strcmp (PQgetvalue (l, 0, 0), "t")) {
                /* re-check under the lock: another runner may have finished it meanwhile */
                char chk[200];
                snprintf (chk, sizeof chk, "SELECT 1 FROM job j JOIN jobstatus s ON s.id = j.status WHERE j.id = %s "
                          "AND s.value IN ('Waiting', 'Running')", PQgetvalue (r, i, 0));
                PGresult *c = blz_db_query (db, &err, chk, 0, NULL);
                if (c && PQntuples (c))
                    claimed = atoll (PQgetvalue (r, i, 0));
                else {
                    snprintf (lk, sizeof lk, "SELECT pg_advisory_unlock(%d, %s::int4)", LOCK_CLASS, PQgetvalue (r, i, 0));
                    PGresult *u = blz_db_query (db, &err, lk, 0, NULL);
                    if (u)
                        PQclear (u);
                }
                if (c)
                    PQclear (c);
            }
            if (l)
                PQclear (l);
        }
        if (r)
            PQclear (r);
        blz_db_rollback (db);   /* the advisory lock is the session's: it outlives the transaction */
        if (claimed < 0) {
            if (omr_now_ms () - last_reap > 5000) {
                last_reap = omr_now_ms ();
                reap_uploads (im, db);
            }
            wait_for_jobs (db, 1000);
            continue;
        }
        omr_info ("import job %lld claimed", (long long) claimed);
        run_job (im, db, pdb, claimed);
        char lk[80];
        snprintf (lk, sizeof lk, "SELECT pg_advisory_unlock(%d, %lld::int4)", LOCK_CLASS, (long long) claimed);
        PGresult *u = blz_db_query (db, &err, lk, 0, NULL);
        if (u)
            PQclear (u);
    }
    blz_db_destroy (&db);
    blz_db_destroy (&pdb);
    return NULL;
}

/* Find or create the repository's OriginalFile (mimetype Repository, its UUID in hash). */
static int
repo_row (imp_t *im, omr_err_t *err)
{
    blz_db_t *db = blz_db_new (im->app->conninfo);
    int rc = -1;
    blz_ctx_t ctx;
    blz_ctx_internal (&ctx);
    ctx.group_id = 0;
    if (blz_db_connect (db, 120000, err) < 0 || blz_db_begin (db, &ctx, err) < 0)
        goto out;
    if (blz_db_exec (db, err, "SELECT pg_advisory_xact_lock(1330466128, 0)", 0, NULL) < 0)
        goto out;
    PGresult *r = blz_db_query (db, err,
                                "SELECT id, hash FROM originalfile WHERE mimetype = 'Repository' AND name = 'ManagedRepository' "
                                "AND path = $1 ORDER BY id LIMIT 1", BLZ_P (im->root));
    if (!r)
        goto out;
    if (PQntuples (r)) {
        im->repo_id = atoll (PQgetvalue (r, 0, 0));
        snprintf (im->uuid, sizeof im->uuid, "%s", PQgetvalue (r, 0, 1));
        PQclear (r);
        blz_db_rollback (db);
        rc = 0;
        goto out;
    }
    PQclear (r);
    char uuid[37];
    omr_uuid (uuid);
    int64_t id = blz_db_insert_owned (db, err, 0, 0, "originalfile", "path, name, hash, mimetype, repo",
                            "$1, 'ManagedRepository', $2, 'Repository', NULL", BLZ_P (im->root, uuid));
    if (id < 0 || blz_db_commit (db, err) < 0)
        goto out;
    im->repo_id = id;
    snprintf (im->uuid, sizeof im->uuid, "%s", uuid);
    rc = 0;
out:
    blz_db_rollback (db);
    blz_db_destroy (&db);
    return rc;
}

void
blz_import_stop (void **handle)
{
    imp_t *im = handle ? *handle : NULL;
    if (!im)
        return;
    atomic_store (&im->stop, 1);
    for (int i = 0; i < im->runners; i++)
        pthread_join (im->threads[i], NULL);
    free (im->threads);
    stream_t *st = im->streams;
    while (st) {
        stream_t *next = st->next_entry;
        stream_free (st);
        st = next;
    }
    pthread_mutex_destroy (&im->lock);
    free (im->root);
    free (im);
    *handle = NULL;
}

void *
blz_import_register (blz_app_t *app)
{
    /* lives until blz_import_stop: the runners and handlers use it */
    imp_t *im = calloc (1, sizeof *im);
    im->app = app;
    pthread_mutex_init (&im->lock, NULL);
    im->upload_timeout = omr_config_get_int (app->config, "omero.fs.upload_timeout", 3600000);
    im->import_attempts = omr_config_get_int (app->config, "omero.fs.import_attempts", 3);
    im->root = blz_repo_root (app->config);
    omr_err_t err = {0};
    /* the directory itself is made by the first import (blz_repo_make_dir creates parents) */
    if (repo_row (im, &err) < 0) {
        omr_error ("managed repository %s unavailable: %s", im->root, err.msg);
        return im;
    }
    omr_info ("managed repository %s (%s)", im->root, im->uuid);
    omr_server_on (app->server, "ManagedRepository.importFileset", op_import_fileset, im);
    omr_server_on (app->server, "ManagedRepository.listRepositories", op_repositories, im);
    omr_server_on (app->server, "ImportProcess.write", op_write, im);
    omr_server_on (app->server, "ImportProcess.verifyUpload", op_verify, im);
    omr_server_on (app->server, "ImportProcess.cancel", op_cancel, im);
    omr_server_on (app->server, "Handle.getStatus", op_status, im);
    omr_server_on (app->server, "ManagedRepository.listFilesets", op_list_filesets, im);
    omr_server_on (app->server, "ManagedRepository.listImages", op_list_images, im);
    omr_server_on (app->server, "ManagedRepository.list", op_list_dir, im);
    omr_server_on (app->server, "ManagedRepository.usage", op_usage, im);
    omr_server_on (app->server, "ManagedRepository.importTime", op_import_time, im);
    omr_server_on (app->server, "ManagedRepository.findFilesetEntries", op_find_entries, im);
    omr_server_on (app->server, "ManagedRepository.makeDir", op_make_dir, im);
    omr_server_on (app->server, "ManagedRepository.renameFileset", op_rename_fileset, im);
    int want = (int) omr_config_get_int (app->config, "omero.fs.import_threads", 2);
    im->threads = calloc (want > 0 ? want : 1, sizeof (pthread_t));
    for (int i = 0; i < want; i++)
        if (pthread_create (&im->threads[im->runners], NULL, runner, im) == 0)
            im->runners++;
    return im;
}
