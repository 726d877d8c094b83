/* webgateway: OMERO.web's webgateway URLs (rendered planes, regions, tiles, split views,
 * imgData, histograms, thumbnails, saved settings) on top of the rendering engine (render/),
 * RawPixelsStore's pixel access (rawpixels.h), rendering_settings.h and thumbnail.h. See
 * webgateway.h for the URL list. Each worker keeps the last image it served (metadata, open
 * files, the caller's settings), checked on every request by one prepared query, because a
 * viewer asks for the tiles of one image in long series. */
#include "webgateway.h"
#include "omr_log.h"
#include "rawpixels.h"
#include "rendering_settings.h"
#include "thumbnail.h"
#include "render/rnd_encode.h"
#include "render/rnd_lut.h"
#include "render/rnd_params.h"
#include "render/rnd_project.h"
#include "render/rnd_render.h"
#include "render/rnd_split.h"
#include <sys/queue.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SPLIT_BORDER 2
#define MAX_PATH_PARTS 8
#define DEFAULT_BINS 256
#define MAX_BINS 65536
#define DEFAULT_THUMB 96
#define MAX_THUMB_IDS 500
#define QMAPS_PER_WORKER 16     /* quantum tables kept per worker (64 KiB each for 16-bit types) */

/* One channel of an image as the database describes it. */
typedef struct {
    char *label;
    double emission, excitation;    /* nm, <= 0 when unknown */
    bool has_color;
    uint8_t rgba[4];
    bool has_stats;
    double gmin, gmax;
} chan_t;

/* The image a request is about (read as the caller; absent = 404). */
typedef struct {
    int64_t image_id, pixels_id, owner_id, group_id;
    rnd_pixels_t px;
    char *name, *description, *author;
    double timestamp;               /* acquisition date (epoch s), else creation */
    double psize[3];                /* physical size x, y, z; NAN when unknown */
    bool archived;
    time_t modified;                /* newest of creation and settings change; 0 unknown */
    chan_t *ch;
    rnd_level_t *levels;            /* from the files */
    int n_levels;
    blz_pixels_t files;
    bool files_open;
    rnd_settings_t *settings;       /* the caller's settings (requests change copies) */
    int64_t rdef_id, rdef_version;
    char stamp[160];                /* what the cached entry was built from */
} img_t;

/* Per worker: the last image served, with its files open, so that the tiles of one image,
 * which come in series, cost one small query each. */
/* The connection a worker prepared its statements on (a reconnect gets a new backend). */
typedef struct {
    PGconn *conn;
    int backend_pid;
} prepared_t;

typedef struct {
    blz_app_t *app;
    int nworkers;
    img_t *cache;                   /* one per worker */
    prepared_t *prepared;           /* one per worker */
    rnd_qcache_t **qmaps;           /* one per worker: quantum tables of the settings last used */
    rnd_jpeg_t **jpeg;              /* one per worker: a kept libjpeg-turbo handle and buffer */
} wg_state_t;

/* One request. */
typedef struct {
    blz_app_t *app;
    omr_call_t *call;
    const char *method, *path, *query;
    const json_t *headers, *cookies;
    struct evkeyvalq q;             /* decoded query parameters */
    char *parts[MAX_PATH_PARTS];    /* path segments after /webgateway/ */
    int nparts;
    char *pathbuf;
    blz_ctx_t ctx;
    blz_db_t *db;
    wg_state_t *state;
    bool fresh;                     /* the worker's cached image was checked against the database,
                                       as the caller, in this request (fast_check) */
} wg_t;

/* ---- replies ---------------------------------------------------------------------------------- */

/* Reply with a body of a content type and extra headers (stolen, may be NULL). */
static void
reply (wg_t *r, int status, const char *ctype, const void *data, size_t len, json_t *headers)
{
    if (!headers)
        headers = json_object ();
    if (ctype)
        json_object_set_new (headers, "Content-Type", json_string (ctype));
    json_decref (r->call->reply);
    r->call->reply = json_pack ("{s:i,s:o,s:[]}", "status", status, "headers", headers, "cookies");
    if (len)
        omr_call_add_raw (r->call, data, len);
}

static int
reply_text (wg_t *r, int status, const char *msg)
{
    reply (r, status, "text/plain; charset=utf-8", msg, strlen (msg), NULL);
    return 0;
}

/* An error as OMERO.web shows it: the status (400 for bad input, 404 for what cannot be
 * seen) and the message as text. */
static int
reply_err (wg_t *r, const omr_err_t *err)
{
    int status = err->status >= 400 && err->status <= 599 ? err->status : 500;
    if (status == 403 && !strcmp (err->name, OMR_E_SECURITY))
        status = 404;
    if (status >= 500)
        omr_error ("webgateway %s: %s", r->path, err->msg);
    return reply_text (r, status, err->msg[0] ? err->msg : "internal error");
}

static int
reply_json (wg_t *r, int status, json_t *body, json_t *headers)
{
    char *text = json_dumps (body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref (body);
    reply (r, status, "application/json", text, strlen (text), headers);
    free (text);
    return 0;
}

/* ---- request helpers -------------------------------------------------------------------------- */

static const char *
header (wg_t *r, const char *name)
{
    return json_string_value (json_object_get (r->headers, name));
}

static const char *
param (wg_t *r, const char *name)
{
    return evhttp_find_header (&r->q, name);
}

/* A path segment as a non-negative integer; -1 when it is not one. */
static int64_t
seg_int (const char *s)
{
    if (!s || !*s || strlen (s) > 18)
        return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit ((unsigned char) *p))
            return -1;
    return strtoll (s, NULL, 10);
}

/* A query parameter as an integer in lo..hi (fallback when absent); -1 with err when bad. */
static int
param_int (wg_t *r, const char *name, long lo, long hi, long fallback, long *out, omr_err_t *err)
{
    const char *v = param (r, name);
    if (!v || !*v) {
        *out = fallback;
        return 0;
    }
    char *end;
    long n = strtol (v, &end, 10);
    if (*end || n < lo || n > hi)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s=%s: expected an integer in %ld..%ld", name, v, lo, hi);
    *out = n;
    return 0;
}

static long long
config_int (wg_t *r, const char *key, long long fallback)
{
    return omr_config_get_int (r->app->config, key, fallback);
}

/* ---- the image -------------------------------------------------------------------------------- */

static void
img_free (img_t *im)
{
    if (im->ch)
        for (int i = 0; i < im->px.size_c; i++)
            free (im->ch[i].label);
    free (im->ch);
    free (im->name);
    free (im->description);
    free (im->author);
    free (im->levels);
    if (im->files_open)
        blz_pixels_close (&im->files);
    rnd_settings_destroy (&im->settings);
    memset (im, 0, sizeof *im);
}

static double
num_or_nan (PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? NAN : atof (PQgetvalue (res, row, col));
}

/* The image's row, pixels and channels as the caller sees them; 404 when invisible. */
static int
img_load (wg_t *r, int64_t image_id, img_t *im, omr_err_t *err)
{
    memset (im, 0, sizeof *im);
    im->rdef_id = -1;
    char ids[24];
    PGresult *res = blz_db_query (
        r->db, err,
        "SELECT p.id, pt.value, p.sizex, p.sizey, p.sizez, p.sizec, p.sizet, p.physicalsizex, p.physicalsizey, "
        "p.physicalsizez, i.name, i.description, extract(epoch FROM coalesce(i.acquisitiondate, ce.time)), "
        "coalesce(trim(e.firstname || ' ' || e.lastname), ''), i.owner_id, i.group_id, coalesce(i.archived, false), "
        "extract(epoch FROM greatest(ce.time, ue.time, pe.time)) "
        "FROM image i JOIN pixels p ON p.image = i.id JOIN pixelstype pt ON pt.id = p.pixelstype "
        "LEFT JOIN experimenter e ON e.id = i.owner_id LEFT JOIN event ce ON ce.id = i.creation_id "
        "LEFT JOIN event ue ON ue.id = i.update_id LEFT JOIN event pe ON pe.id = p.update_id "
        "WHERE i.id = $1::int8 ORDER BY p.id LIMIT 1",
        BLZ_P (BLZ_I64 (ids, image_id)));
    if (!res)
        return -1;
    if (!PQntuples (res)) {
        PQclear (res);
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "Image %lld not found", (long long) image_id);
    }
    im->image_id = image_id;
    im->pixels_id = atoll (PQgetvalue (res, 0, 0));
    if (rnd_ptype_parse (PQgetvalue (res, 0, 1), &im->px.type, err) < 0) {
        PQclear (res);
        return -1;
    }
    im->px.size_x = atoi (PQgetvalue (res, 0, 2));
    im->px.size_y = atoi (PQgetvalue (res, 0, 3));
    im->px.size_z = atoi (PQgetvalue (res, 0, 4));
    im->px.size_c = atoi (PQgetvalue (res, 0, 5));
    im->px.size_t = atoi (PQgetvalue (res, 0, 6));
    for (int k = 0; k < 3; k++)
        im->psize[k] = num_or_nan (res, 0, 7 + k);
    im->name = strdup (PQgetvalue (res, 0, 10));
    im->description = strdup (PQgetvalue (res, 0, 11));
    im->timestamp = PQgetisnull (res, 0, 12) ? 0 : atof (PQgetvalue (res, 0, 12));
    im->author = strdup (PQgetvalue (res, 0, 13));
    im->owner_id = atoll (PQgetvalue (res, 0, 14));
    im->group_id = atoll (PQgetvalue (res, 0, 15));
    im->archived = PQgetvalue (res, 0, 16)[0] == 't';
    im->modified = PQgetisnull (res, 0, 17) ? 0 : (time_t) atof (PQgetvalue (res, 0, 17));
    PQclear (res);
    if (im->px.size_c < 1 || im->px.size_c > RND_MAX_CHANNELS)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "Image %lld has %d channels", (long long) image_id,
                            im->px.size_c);
    im->ch = calloc ((size_t) im->px.size_c, sizeof *im->ch);
    char pid[24];
    res = blz_db_query (r->db, err,
                        "SELECT c.pixels_index, c.red, c.green, c.blue, c.alpha, coalesce(lc.name, lc.fluor), "
                        "lc.emissionwave, lc.excitationwave, s.globalmin, s.globalmax FROM channel c "
                        "LEFT JOIN logicalchannel lc ON lc.id = c.logicalchannel "
                        "LEFT JOIN statsinfo s ON s.id = c.statsinfo WHERE c.pixels = $1::int8",
                        BLZ_P (BLZ_I64 (pid, im->pixels_id)));
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples (res); i++) {
        int c = atoi (PQgetvalue (res, i, 0));
        if (c < 0 || c >= im->px.size_c)
            continue;
        chan_t *ch = &im->ch[c];
        ch->has_color = !PQgetisnull (res, i, 1) && !PQgetisnull (res, i, 2) && !PQgetisnull (res, i, 3)
                        && !PQgetisnull (res, i, 4);
        for (int k = 0; k < 4 && ch->has_color; k++)
            ch->rgba[k] = (uint8_t) atoi (PQgetvalue (res, i, 1 + k));
        if (!PQgetisnull (res, i, 5))
            ch->label = strdup (PQgetvalue (res, i, 5));
        ch->emission = PQgetisnull (res, i, 6) ? -1 : atof (PQgetvalue (res, i, 6));
        ch->excitation = PQgetisnull (res, i, 7) ? -1 : atof (PQgetvalue (res, i, 7));
        ch->has_stats = !PQgetisnull (res, i, 8) && !PQgetisnull (res, i, 9);
        if (ch->has_stats) {
            ch->gmin = atof (PQgetvalue (res, i, 8));
            ch->gmax = atof (PQgetvalue (res, i, 9));
        }
    }
    PQclear (res);
    return 0;
}

/* Open the image's files (levels and native tile sizes come from them). */
static int
img_open_files (wg_t *r, img_t *im, omr_err_t *err)
{
    if (im->files_open)
        return 0;
    if (blz_pixels_open (r->app, r->db, im->pixels_id, &im->files, err) < 0)
        return -1;
    im->files_open = true;
    const fmt_image_t *fi = im->files.image;
    if ((int) fi->size_x != im->px.size_x || (int) fi->size_y != im->px.size_y || (int) fi->size_c != im->px.size_c
        || (int) fi->size_z != im->px.size_z || (int) fi->size_t != im->px.size_t)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "Image %lld: the files' sizes differ from the database's",
                            (long long) im->image_id);
    im->n_levels = fi->level_count;
    im->levels = calloc ((size_t) im->n_levels, sizeof *im->levels);
    for (int i = 0; i < im->n_levels; i++) {
        im->levels[i].size_x = (int) fi->levels[i].size_x;
        im->levels[i].size_y = (int) fi->levels[i].size_y;
    }
    return 0;
}

/* The stamp query: the image's pixels, the last changes of image and pixels rows and the
 * settings shown (the caller's RenderingDef, else the owner's, as rendering_settings.c picks
 * them). Every tile runs it, so it is prepared once per connection: planning it, with the
 * row-level security policies of three tables, costs far more than running it. */
#define STAMP_SQL                                                                                                     \
    "SELECT p.id, i.update_id, p.update_id, (SELECT r.id || ':' || coalesce(r.version, 0) FROM renderingdef r "      \
    "WHERE r.pixels = p.id AND (r.owner_id = _omero_uid() OR r.owner_id = i.owner_id) ORDER BY (r.owner_id = "       \
    "_omero_uid()) DESC, r.id DESC LIMIT 1) FROM image i JOIN pixels p ON p.image = i.id WHERE i.id = $1::int8 "       \
    "ORDER BY p.id LIMIT 1"

/* Prepare the worker's statements once per backend connection. */
static PGconn *
prepared_conn (wg_t *r, omr_err_t *err)
{
    PGconn *conn = blz_db_conn (r->db);
    prepared_t *pr = &r->state->prepared[r->call->worker];
    if (!conn) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "no database connection");
        return NULL;
    }
    if (pr->conn != conn || pr->backend_pid != PQbackendPID (conn)) {
        const char *names[] = {"wg_stamp", "wg_ctx"}, *sql[] = {STAMP_SQL, BLZ_DB_CTX_SQL};
        int nparams[] = {1, 6};
        for (int i = 0; i < 2; i++) {
            PGresult *p = PQprepare (conn, names[i], sql[i], nparams[i], NULL);
            bool ok = p && PQresultStatus (p) == PGRES_COMMAND_OK;
            if (!ok)
                omr_err_set (err, OMR_E_INTERNAL, 500, "preparing the image look-up: %s", PQerrorMessage (conn));
            PQclear (p);
            if (!ok) {
                pr->conn = NULL;
                return NULL;
            }
        }
        pr->conn = conn;
        pr->backend_pid = PQbackendPID (conn);
    }
    return conn;
}

static PGresult *
stamp_query (wg_t *r, const char *image_id, omr_err_t *err)
{
    PGconn *conn = prepared_conn (r, err);
    if (!conn)
        return NULL;
    const char *params[] = {image_id};
    PGresult *res = PQexecPrepared (conn, "wg_stamp", 1, params, NULL, NULL, 0);
    if (!res || PQresultStatus (res) != PGRES_TUPLES_OK) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "the image look-up failed: %s", PQerrorMessage (conn));
        PQclear (res);
        return NULL;
    }
    return res;
}

/* The stamp of an image from a stamp query's row. */
static void
stamp_of (wg_t *r, int64_t image_id, PGresult *res, char *stamp, size_t len)
{
    snprintf (stamp, len, "%lld/%s/%s/%s/%lld/%s", (long long) image_id, PQgetvalue (res, 0, 0), PQgetvalue (res, 0, 1),
              PQgetvalue (res, 0, 2), (long long) r->ctx.user_id, PQgetvalue (res, 0, 3));
}

/* The tiles of one image come in series: when the worker's cached image is the one asked for,
 * check it in one round trip instead of four (BEGIN, context, look-up, ROLLBACK). The context
 * and the stamp query go out together in libpq's pipeline mode; up to the Sync they form one
 * implicit transaction, so set_config(..., true) holds for the look-up and row-level security
 * decides it exactly as in a transaction opened by blz_db_begin. True when the image is visible
 * to the caller and nothing the cached entry depends on changed; false sends the request down
 * the ordinary path (which also reports errors). */
static bool
fast_check (wg_t *r, int64_t image_id, const blz_ctx_t *ctx)
{
    img_t *im = &r->state->cache[r->call->worker];
    if (!im->files_open || !im->settings || im->image_id != image_id)
        return false;
    PGconn *conn = blz_db_conn (r->db);
    if (!conn || PQstatus (conn) != CONNECTION_OK || PQtransactionStatus (conn) != PQTRANS_IDLE
        || PQpipelineStatus (conn) != PQ_PIPELINE_OFF)
        return false;
    omr_err_t e = {0};
    if (!prepared_conn (r, &e))
        return false;
    char ids[24];
    blz_db_ctx_params_t *cp = malloc (sizeof *cp);
    if (!cp)
        return false;
    blz_db_ctx_params (ctx, cp);
    const char *sp[] = {BLZ_I64 (ids, image_id)};
    if (!PQenterPipelineMode (conn)) {
        free (cp);
        return false;
    }
    bool sent = PQsendQueryPrepared (conn, "wg_ctx", 6, cp->values, NULL, NULL, 0)
                && PQsendQueryPrepared (conn, "wg_stamp", 1, sp, NULL, NULL, 0) && PQpipelineSync (conn);
    free (cp);      /* libpq copied the parameters into its output buffer */
    /* Results: the context's row, NULL, the stamp's rows, NULL, then the Sync. Anything else
     * (an error, an aborted pipeline, a broken connection) makes the check fail. */
    bool ok = sent, synced = false;
    char stamp[sizeof im->stamp] = "";
    for (int step = 0; sent && step < 8 && !synced; step++) {
        PGresult *res = PQgetResult (conn);
        if (!res) {
            if (PQstatus (conn) != CONNECTION_OK)
                break;
            continue;
        }
        ExecStatusType st = PQresultStatus (res);
        if (st == PGRES_PIPELINE_SYNC)
            synced = true;
        else if (st != PGRES_TUPLES_OK || PQntuples (res) != 1)
            ok = false;
        else if (PQnfields (res) == 4)
            stamp_of (r, image_id, res, stamp, sizeof stamp);
        PQclear (res);
    }
    if (!PQexitPipelineMode (conn) || !synced) {
        /* Leave no half-read pipeline to the next request: a fresh connection is simplest. */
        PQreset (conn);
        return false;
    }
    return ok && stamp[0] && !strcmp (stamp, im->stamp);
}

/* A cheap look-up of what an image's cached entry depends on, as the caller sees it: the
 * pixels and the last changes of image and pixels rows. 404 when the image is invisible. */
static int
img_stamp (wg_t *r, int64_t image_id, char *stamp, size_t len, omr_err_t *err)
{
    char ids[24];
    PGresult *res = stamp_query (r, BLZ_I64 (ids, image_id), err);
    if (!res)
        return -1;
    if (!PQntuples (res)) {
        PQclear (res);
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "Image %lld not found", (long long) image_id);
    }
    stamp_of (r, image_id, res, stamp, len);
    PQclear (res);
    return 0;
}

static int img_settings (wg_t *r, img_t *im, omr_err_t *err);

/* The image with its files open and the caller's settings: the worker's cached entry when
 * nothing it depends on changed, else loaded afresh. Valid until the worker's next request. */
static img_t *
img_get (wg_t *r, int64_t image_id, omr_err_t *err)
{
    img_t *im = &r->state->cache[r->call->worker];
    if (r->fresh && im->image_id == image_id)
        return im;
    char stamp[160];
    if (img_stamp (r, image_id, stamp, sizeof stamp, err) < 0)
        return NULL;
    if (im->files_open && im->settings && !strcmp (im->stamp, stamp))
        return im;
    img_free (im);
    if (img_load (r, image_id, im, err) < 0 || img_open_files (r, im, err) < 0 || img_settings (r, im, err) < 0) {
        img_free (im);
        return NULL;
    }
    snprintf (im->stamp, sizeof im->stamp, "%s", stamp);
    return im;
}

/* Per-channel global range for rendering: statistics, else the pixel type's range. */
static void
img_range (const img_t *im, int c, double *lo, double *hi)
{
    if (im->ch[c].has_stats) {
        *lo = im->ch[c].gmin;
        *hi = im->ch[c].gmax;
    }
    else
        rnd_ptype_range (im->px.type, lo, hi);
}

/* The caller's rendering settings (their RenderingDef, else the owner's, else the import
 * defaults) and the version they have. */
static int
img_settings (wg_t *r, img_t *im, omr_err_t *err)
{
    if (im->settings)
        return 0;
    if (blz_rdef_load (r->app, r->db, im->pixels_id, &im->settings, &im->rdef_id, err) < 0)
        return -1;
    if (im->rdef_id >= 0 && blz_rdef_current (r->db, im->pixels_id, &im->rdef_id, &im->rdef_version, err) < 0)
        return -1;
    if (im->rdef_id >= 0) {
        /* Last-Modified covers the settings too. */
        char rs[24];
        PGresult *res = blz_db_query (r->db, err,
                                      "SELECT extract(epoch FROM e.time) FROM renderingdef d JOIN event e ON e.id = "
                                      "d.update_id WHERE d.id = $1::int8",
                                      BLZ_P (BLZ_I64 (rs, im->rdef_id)));
        if (!res)
            return -1;
        if (PQntuples (res) && !PQgetisnull (res, 0, 0) && (time_t) atof (PQgetvalue (res, 0, 0)) > im->modified)
            im->modified = (time_t) atof (PQgetvalue (res, 0, 0));
        PQclear (res);
    }
    if (im->settings->n_channels != im->px.size_c)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "Image %lld: settings for %d channels, the pixels have %d",
                            (long long) im->image_id, im->settings->n_channels, im->px.size_c);
    return 0;
}

/* ---- caching: ETag / Last-Modified ------------------------------------------------------------ */

static uint64_t
fnv1a (uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Caching headers of a reply that depends on the caller, the image, its settings and the
 * request's path and query. Returns true when the client's If-None-Match already names it. */
static bool
cache_headers_of (wg_t *r, const char *stamp, time_t modified, json_t *headers)
{
    char key[256];
    snprintf (key, sizeof key, "wg1|%lld|%s|", (long long) r->ctx.user_id, stamp);
    uint64_t h = fnv1a (0xcbf29ce484222325ULL, key, strlen (key));
    h = fnv1a (h, r->path, strlen (r->path));
    h = fnv1a (h, "?", 1);
    h = fnv1a (h, r->query, strlen (r->query));
    char etag[40];
    snprintf (etag, sizeof etag, "\"%016llx\"", (unsigned long long) h);
    json_object_set_new (headers, "ETag", json_string (etag));
    json_object_set_new (headers, "Cache-Control", json_string ("private, no-cache"));
    if (modified > 0) {
        struct tm tm;
        char date[64];
        time_t t = modified;
        gmtime_r (&t, &tm);
        strftime (date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        json_object_set_new (headers, "Last-Modified", json_string (date));
    }
    const char *inm = header (r, "if-none-match");
    if (!inm)
        return false;
    /* A list of entity tags, possibly weak (W/"…"), or "*". */
    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (!strncmp (p, "W/", 2))
            p += 2;
        size_t n = strcspn (p, ",");
        while (n && p[n - 1] == ' ')
            n--;
        if (n == strlen (etag) && !strncmp (p, etag, n))
            return true;
        p += strcspn (p, ",");
    }
    return false;
}

/* The caching headers of a reply about one image (see cache_headers_of). */
static bool
cache_headers (wg_t *r, const img_t *im, json_t *headers)
{
    return cache_headers_of (r, im->stamp, im->modified, headers);
}

/* Answer 304 Not Modified with the caching headers. */
static int
reply_not_modified (wg_t *r, json_t *headers)
{
    reply (r, 304, NULL, NULL, 0, headers);
    return 0;
}

/* ---- pixels ----------------------------------------------------------------------------------- */

/* Pack a 0/1-per-byte raster (what the readers give for "bit") MSB first, in place. */
static void
pack_bits (uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint8_t b = 0;
        for (size_t k = 0; k < 8; k++)
            b = (uint8_t) (b << 1) | (i + k < n && buf[i + k] ? 1 : 0);
        buf[i / 8] = b;
    }
}

/* Read region reg of (z, c, t) at level into a new raster; "bit" pixels are packed as the
 * engine reads them when pack, else left one byte per pixel. */
static void *
read_region (img_t *im, int level, int z, int c, int t, const rnd_region_t *reg, bool pack, omr_err_t *err)
{
    size_t n = fmt_image_region_bytes (im->files.image, (uint32_t) reg->w, (uint32_t) reg->h);
    void *buf = n ? malloc (n) : NULL;
    if (!buf) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory for a %dx%d region", reg->w, reg->h);
        return NULL;
    }
    if (fmt_fileset_read_region (im->files.set, im->files.series, level, (uint32_t) z, (uint32_t) c, (uint32_t) t,
                                 (uint32_t) reg->x, (uint32_t) reg->y, (uint32_t) reg->w, (uint32_t) reg->h, buf, n,
                                 err) < 0) {
        free (buf);
        return NULL;
    }
    if (pack && im->px.type == RND_BIT)
        pack_bits (buf, (size_t) reg->w * (size_t) reg->h);
    return buf;
}

/* The planes of every active channel for region reg of level (projected over z when proj
 * says so); data[c] is malloc'ed or NULL for inactive channels. */
static int
read_channels (wg_t *r, img_t *im, const rnd_settings_t *s, int level, int z, int t, const rnd_region_t *reg,
               const rnd_proj_spec_t *proj, rnd_plane_t *planes, void **data, omr_err_t *err)
{
    size_t plane_bytes = rnd_plane_bytes (im->px.type, reg->w, reg->h);
    long long max_bytes = config_int (r, "omero.pixeldata.max_projection_bytes", RND_MAX_PROJECTION_BYTES);
    for (int c = 0; c < s->n_channels; c++) {
        planes[c] = (rnd_plane_t) {.type = im->px.type, .size_x = reg->w, .size_y = reg->h, .data = NULL};
        data[c] = NULL;
        if (!s->channels[c].active)
            continue;
        if (proj->type == RND_PROJ_NORMAL) {
            data[c] = read_region (im, level, z, c, t, reg, true, err);
            if (!data[c])
                return -1;
        }
        else {
            int n = proj->end - proj->start + 1;
            if ((long long) n * (long long) plane_bytes > max_bytes)
                return omr_err_set (err, OMR_E_VALIDATION, 400,
                                    "the projection would read %lld bytes, more than "
                                    "omero.pixeldata.max_projection_bytes (%lld)",
                                    (long long) n * (long long) plane_bytes, max_bytes);
            rnd_plane_t *stack = calloc ((size_t) n, sizeof *stack);
            void **bufs = calloc ((size_t) n, sizeof *bufs);
            int rc = 0;
            for (int k = 0; k < n && rc == 0; k++) {
                bufs[k] = read_region (im, level, proj->start + k, c, t, reg, true, err);
                if (!bufs[k])
                    rc = -1;
                stack[k] = (rnd_plane_t) {.type = im->px.type, .size_x = reg->w, .size_y = reg->h, .data = bufs[k]};
            }
            if (rc == 0) {
                data[c] = malloc (plane_bytes ? plane_bytes : 1);
                rc = rnd_project (proj->type, stack, n, 0, n - 1, 1, max_bytes, data[c], err);
            }
            for (int k = 0; k < n; k++)
                free (bufs[k]);
            free (bufs);
            free (stack);
            if (rc < 0)
                return -1;
        }
        planes[c].data = data[c];
    }
    return 0;
}

static void
free_channels (void **data, int n)
{
    for (int c = 0; c < n; c++)
        free (data[c]);
}

/* A lookup-table provider when the settings use tables (loaded for the request only). */
static rnd_lut_provider_t *
luts_for (wg_t *r, const rnd_settings_t *s, const char *c_param)
{
    bool need = c_param && strstr (c_param, ".lut");
    for (int c = 0; c < s->n_channels && !need; c++)
        need = s->channels[c].lut[0] != 0;
    if (!need)
        return NULL;
    const char *dir = omr_config_get (r->app->config, "omero.rendering.lut_dir");
    char path[1024];
    if (!dir || !*dir) {
        snprintf (path, sizeof path, "%s/lib/scripts/luts", omr_server_omerodir (r->app->server));
        dir = path;
    }
    if (access (dir, R_OK) != 0)
        return NULL;
    omr_err_t e = {0};
    return rnd_lut_provider_new (dir, &e);
}

/* ---- rendering URLs --------------------------------------------------------------------------- */

/* What a rendering URL asks for. */
typedef enum { RENDER_PLANE, RENDER_REGION, RENDER_SPLIT } render_kind_t;

/* The largest level whose plane is at most max_px pixels (or -1). */
static int
level_fitting (const img_t *im, long long max_px)
{
    for (int l = 0; l < im->n_levels; l++)
        if ((long long) im->levels[l].size_x * im->levels[l].size_y <= max_px)
            return l;
    return -1;
}

static int
render (wg_t *r, render_kind_t kind, omr_err_t *err)
{
    /* render_image/{id}/[{z}/{t}/] ; render_image_region|render_split_channel/{id}/{z}/{t}/ */
    int64_t id = r->nparts >= 2 ? seg_int (r->parts[1]) : -1;
    bool has_zt = r->nparts >= 4;
    if (id < 0 || (r->nparts != 2 && r->nparts != 4) || (kind != RENDER_PLANE && !has_zt))
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no such URL: %s", r->path);
    int64_t z = has_zt ? seg_int (r->parts[2]) : 0, t = has_zt ? seg_int (r->parts[3]) : 0;
    if (z < 0 || t < 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "z and t must be non-negative integers");
    img_t *im = img_get (r, id, err);
    if (!im)
        return -1;
    int rc = -1;
    rnd_query_t q;
    memset (&q, 0, sizeof q);
    bool parsed = false;
    void **data = NULL;
    rnd_plane_t *planes = NULL;
    double *gmin = NULL, *gmax = NULL;
    uint8_t *rgb = NULL, *out = NULL;
    rnd_lut_provider_t *luts = NULL;
    rnd_settings_t *s = NULL;
    json_t *headers = json_object ();
    if (!has_zt) {
        z = im->settings->default_z;
        t = im->settings->default_t;
    }
    if (z >= im->px.size_z || t >= im->px.size_t) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "z=%lld t=%lld outside the image (sizeZ %d, sizeT %d)", (long long) z,
                     (long long) t, im->px.size_z, im->px.size_t);
        goto done;
    }
    if (cache_headers (r, im, headers)) {
        rc = reply_not_modified (r, headers);
        headers = NULL;
        goto done;
    }
    const char *region = param (r, "region"), *tile = param (r, "tile");
    if (kind == RENDER_REGION && !region && !tile) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "tile or region argument required");
        goto done;
    }
    rnd_query_in_t in = {.c = param (r, "c"), .m = param (r, "m"), .p = param (r, "p"), .q = param (r, "q"),
                         .maps = param (r, "maps"), .format = param (r, "format"),
                         .region = kind == RENDER_REGION ? region : NULL, .tile = kind == RENDER_REGION ? tile : NULL};
    rnd_image_geom_t geom = {.size_x = im->px.size_x, .size_y = im->px.size_y, .size_z = im->px.size_z,
                             .size_c = im->px.size_c, .levels = im->levels, .n_levels = im->n_levels,
                             .tile_w = (int) config_int (r, "omero.pixeldata.tile_width", 256),
                             .tile_h = (int) config_int (r, "omero.pixeldata.tile_height", 256),
                             .max_tile_len = (int) config_int (r, "omero.pixeldata.max_tile_length", 1024)};
    if (rnd_query_parse (&in, &geom, &q, err) < 0)
        goto done;
    parsed = true;
    long long max_px = config_int (r, "omero.pixeldata.max_plane_width", 3192)
                       * config_int (r, "omero.pixeldata.max_plane_height", 3192);
    if (!q.has_region && !q.has_tile) {
        /* A whole plane: of a big pyramid, the largest level that is not too big. */
        int l = level_fitting (im, max_px);
        if (l < 0) {
            omr_err_set (err, OMR_E_VALIDATION, 400,
                         "the plane is %dx%d pixels, too large to render whole: use render_image_region",
                         im->px.size_x, im->px.size_y);
            goto done;
        }
        q.level = l;
        q.region = (rnd_region_t) {0, 0, im->levels[l].size_x, im->levels[l].size_y};
    }
    else if ((long long) q.region.w * q.region.h > max_px) {
        omr_err_set (err, OMR_E_VALIDATION, 400,
                     "region %dx%d is larger than omero.pixeldata.max_plane_width x max_plane_height (%lld pixels)",
                     q.region.w, q.region.h, max_px);
        goto done;
    }
    if (!(s = rnd_settings_copy (im->settings, err)))
        goto done;
    luts = luts_for (r, s, in.c);
    if (rnd_query_apply_parsed (&s, &q, luts, err) < 0)
        goto done;
    if (s->model == RND_MODEL_GREYSCALE && kind != RENDER_SPLIT) {
        /* Only the first active channel is shown: read no other. */
        bool seen = false;
        for (int c = 0; c < s->n_channels; c++) {
            if (s->channels[c].active && seen)
                s->channels[c].active = false;
            else if (s->channels[c].active)
                seen = true;
        }
    }
    size_t nc = s->n_channels > 0 ? (size_t) s->n_channels : 1;
    data = calloc (nc, sizeof *data);
    planes = calloc (nc, sizeof *planes);
    gmin = calloc (nc, sizeof (double));
    gmax = calloc (nc, sizeof (double));
    if (read_channels (r, im, s, q.level, (int) z, (int) t, &q.region, &q.proj, planes, data, err) < 0)
        goto done;
    for (int c = 0; c < s->n_channels; c++)
        img_range (im, c, &gmin[c], &gmax[c]);
    long long area = (long long) q.region.w * q.region.h;
    rnd_render_req_t req = {.settings = s, .planes = planes, .global_min = gmin, .global_max = gmax, .luts = luts,
                            .region = {0, 0, 0, 0}, .threads = area >= 512 * 512 ? 0 : 1};
    int w = q.region.w, h = q.region.h;
    bool grey = false;             /* rgb holds one grey byte per pixel */
    rnd_jpeg_t *enc = r->state->jpeg[r->call->worker];
    if (kind == RENDER_SPLIT) {
        rnd_split_layout_t lay;
        int panels = s->model == RND_MODEL_GREYSCALE ? s->n_channels : s->n_channels + 1;
        if (rnd_split_layout (w, h, panels, SPLIT_BORDER, &lay, err) < 0)
            goto done;
        if ((long long) lay.width * lay.height > 4 * max_px) {
            omr_err_set (err, OMR_E_VALIDATION, 400, "the split view would be %dx%d pixels, too large", lay.width,
                         lay.height);
            goto done;
        }
        req.region = (rnd_region_t) {0, 0, w, h};
        if (rnd_render_split (&req, SPLIT_BORDER, &rgb, &lay, err) < 0)
            goto done;
        w = lay.width;
        h = lay.height;
    }
    else if (enc && s->model == RND_MODEL_GREYSCALE && q.format == RND_FMT_JPEG) {
        /* R = G = B: render and encode one grey component. */
        rgb = malloc ((size_t) area);
        if (!rgb) {
            omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
            goto done;
        }
        if (rnd_render_grey_cached (&req, r->state->qmaps[r->call->worker], rgb, err) < 0)
            goto done;
        grey = true;
    }
    else {
        rgb = malloc ((size_t) area * 3);
        if (!rgb) {
            omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
            goto done;
        }
        if (rnd_render_cached (&req, r->state->qmaps[r->call->worker], rgb, err) < 0)
            goto done;
    }
    size_t len = 0;
    if ((grey ? rnd_encode_grey_jpeg (enc, rgb, w, h, q.quality, &out, &len, err)
              : rnd_encode_with (enc, q.format, rgb, w, h, q.quality, &out, &len, err)) < 0)
        goto done;
    reply (r, 200, rnd_format_mime (q.format), out, len, headers);
    headers = NULL;
    rc = 0;
done:
    if (data)
        free_channels (data, s ? s->n_channels : 0);
    free (data);
    free (planes);
    free (gmin);
    free (gmax);
    free (rgb);
    free (out);
    if (parsed)
        rnd_query_free (&q);
    rnd_lut_provider_destroy (&luts);
    rnd_settings_destroy (&s);
    json_decref (headers);
    return rc;
}

/* ---- imgData ---------------------------------------------------------------------------------- */

static json_t *
json_num_or_null (double v)
{
    return isnan (v) ? json_null () : json_real (v);
}

/* A number as OMERO.web's JSON shows it: integers without a fraction. */
static json_t *
json_num (double v)
{
    if (isfinite (v) && v == floor (v) && fabs (v) < 9e15)
        return json_integer ((json_int_t) v);
    return json_real (v);
}

static json_t *
split_json (int w, int h, int n, omr_err_t *err)
{
    rnd_split_layout_t l;
    if (rnd_split_layout (w, h, n, SPLIT_BORDER, &l, err) < 0)
        return NULL;
    return json_pack ("{s:i,s:i,s:i,s:i,s:i}", "width", l.width, "height", l.height, "border", l.border, "gridx",
                      l.gridx, "gridy", l.gridy);
}

/* The dataset and project the image is in (the first link), as meta keys. */
static int
add_containers (wg_t *r, const img_t *im, json_t *meta, omr_err_t *err)
{
    char ids[24];
    PGresult *res = blz_db_query (r->db, err,
                                  "SELECT d.id, d.name, coalesce(d.description, ''), pr.id, pr.name, "
                                  "coalesce(pr.description, '') FROM datasetimagelink l JOIN dataset d ON d.id = "
                                  "l.parent LEFT JOIN projectdatasetlink pl ON pl.child = d.id LEFT JOIN project pr "
                                  "ON pr.id = pl.parent WHERE l.child = $1::int8 ORDER BY d.id, pr.id LIMIT 1",
                                  BLZ_P (BLZ_I64 (ids, im->image_id)));
    if (!res)
        return -1;
    bool d = PQntuples (res) > 0, p = d && !PQgetisnull (res, 0, 3);
    json_object_set_new (meta, "datasetId", d ? json_integer (atoll (PQgetvalue (res, 0, 0))) : json_null ());
    json_object_set_new (meta, "datasetName", json_string (d ? PQgetvalue (res, 0, 1) : "Multiple"));
    json_object_set_new (meta, "datasetDescription", json_string (d ? PQgetvalue (res, 0, 2) : ""));
    json_object_set_new (meta, "projectId", p ? json_integer (atoll (PQgetvalue (res, 0, 3))) : json_null ());
    json_object_set_new (meta, "projectName", json_string (p ? PQgetvalue (res, 0, 4) : "Multiple"));
    json_object_set_new (meta, "projectDescription", json_string (p ? PQgetvalue (res, 0, 5) : ""));
    PQclear (res);
    return 0;
}

static void
color_hex (const rnd_channel_binding_t *b, char out[7])
{
    snprintf (out, 7, "%02X%02X%02X", b->red, b->green, b->blue);
}

static int
img_data (wg_t *r, omr_err_t *err)
{
    int64_t id = r->nparts >= 2 ? seg_int (r->parts[1]) : -1;
    if (id < 0 || r->nparts > 3)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no such URL: %s", r->path);
    const char *key = r->nparts == 3 ? r->parts[2] : NULL;
    img_t *im = img_get (r, id, err);
    if (!im)
        return -1;
    json_t *headers = json_object (), *o = NULL;
    int rc = -1;
    if (cache_headers (r, im, headers)) {
        rc = reply_not_modified (r, headers);
        headers = NULL;
        goto done;
    }
    const rnd_settings_t *s = im->settings;
    o = json_object ();
    json_object_set_new (o, "id", json_integer (im->image_id));
    json_t *meta = json_pack ("{s:s,s:s,s:s,s:I,s:f,s:s,s:b,s:n,s:n,s:I}", "imageName", im->name, "imageDescription",
                              im->description, "imageAuthor", im->author, "imageId", (json_int_t) im->image_id,
                              "imageTimestamp", im->timestamp, "pixelsType", rnd_ptype_name (im->px.type),
                              "imageArchived", im->archived, "wellId", "wellSampleId", "pixelsId",
                              (json_int_t) im->pixels_id);
    if (add_containers (r, im, meta, err) < 0) {
        json_decref (meta);
        goto done;
    }
    json_object_set_new (o, "meta", meta);
    bool own = im->owner_id == r->ctx.user_id;
    bool can = own || r->ctx.admin || blz_ctx_owner (&r->ctx, im->group_id);
    json_object_set_new (o, "perms", json_pack ("{s:b,s:b,s:b,s:b}", "canAnnotate", can || blz_ctx_member (&r->ctx, im->group_id),
                                                "canEdit", can, "canDelete", can, "canLink", can));
    long long max_px = config_int (r, "omero.pixeldata.max_plane_width", 3192)
                       * config_int (r, "omero.pixeldata.max_plane_height", 3192);
    bool tiles = im->n_levels > 1 || (long long) im->px.size_x * im->px.size_y > max_px;
    json_object_set_new (o, "tiles", json_boolean (tiles));
    if (tiles) {
        int tw = (int) config_int (r, "omero.pixeldata.tile_width", 256);
        int th = (int) config_int (r, "omero.pixeldata.tile_height", 256);
        json_object_set_new (o, "tile_size", json_pack ("{s:i,s:i}", "width", tw, "height", th));
        json_object_set_new (o, "levels", json_integer (im->n_levels));
        json_t *zs = json_object (), *res = json_object ();
        for (int l = 0; l < im->n_levels; l++) {
            char k[16];
            snprintf (k, sizeof k, "%d", l);
            json_object_set_new (zs, k, json_real ((double) im->levels[l].size_x / im->levels[0].size_x));
            json_object_set_new (res, k, json_pack ("{s:i,s:i}", "sizeX", im->levels[l].size_x, "sizeY",
                                                    im->levels[l].size_y));
        }
        json_object_set_new (o, "zoomLevelScaling", zs);
        json_object_set_new (o, "resolutions", res);
    }
    json_object_set_new (o, "interpolate", json_true ());
    json_object_set_new (o, "size", json_pack ("{s:i,s:i,s:i,s:i,s:i}", "width", im->px.size_x, "height", im->px.size_y,
                                               "z", im->px.size_z, "t", im->px.size_t, "c", im->px.size_c));
    json_object_set_new (o, "pixel_size", json_pack ("{s:o,s:o,s:o}", "x", json_num_or_null (im->psize[0]), "y",
                                                     json_num_or_null (im->psize[1]), "z", json_num_or_null (im->psize[2])));
    json_object_set_new (o, "init_zoom", json_integer (0));
    double tmin, tmax;
    rnd_ptype_range (im->px.type, &tmin, &tmax);
    if (rnd_ptype_is_float (im->px.type)) {
        /* The type's range says nothing useful: OMERO.web shows the statistics' extremes. */
        bool any = false;
        for (int c = 0; c < im->px.size_c; c++)
            if (im->ch[c].has_stats) {
                tmin = any ? fmin (tmin, im->ch[c].gmin) : im->ch[c].gmin;
                tmax = any ? fmax (tmax, im->ch[c].gmax) : im->ch[c].gmax;
                any = true;
            }
    }
    json_object_set_new (o, "pixel_range", json_pack ("[o,o]", json_num (tmin), json_num (tmax)));
    json_t *chans = json_array ();
    for (int c = 0; c < im->px.size_c; c++) {
        const rnd_channel_binding_t *b = &s->channels[c];
        const chan_t *ch = &im->ch[c];
        double lo, hi;
        img_range (im, c, &lo, &hi);
        char hex[7], label[32];
        color_hex (b, hex);
        snprintf (label, sizeof label, "%d", c);
        const char *lab = ch->label && *ch->label ? ch->label : NULL;
        if (!lab && ch->emission > 0)
            snprintf (label, sizeof label, "%g", ch->emission);
        json_t *cj = json_pack ("{s:s,s:s,s:b,s:b,s:b,s:s,s:o,s:{s:o,s:o,s:o,s:o}}", "label", lab ? lab : label,
                                "color", hex, "active", b->active, "inverted", b->reverse, "reverseIntensity",
                                b->reverse, "family", rnd_family_name (b->family), "coefficient",
                                json_num (b->coefficient), "window", "min", json_num (lo), "max", json_num (hi),
                                "start", json_num (b->input_start), "end", json_num (b->input_end));
        json_object_set_new (cj, "emissionWave", ch->emission > 0 ? json_num (ch->emission) : json_null ());
        if (b->lut[0])
            json_object_set_new (cj, "lut", json_string (b->lut));
        json_array_append_new (chans, cj);
    }
    json_object_set_new (o, "channels", chans);
    json_t *sg = split_json (im->px.size_x, im->px.size_y, im->px.size_c, err);
    json_t *sc = sg ? split_json (im->px.size_x, im->px.size_y, im->px.size_c + 1, err) : NULL;
    if (!sc) {
        json_decref (sg);
        goto done;
    }
    json_object_set_new (o, "split_channel", json_pack ("{s:o,s:o}", "g", sg, "c", sc));
    json_object_set_new (o, "rdefs", json_pack ("{s:s,s:s,s:i,s:i,s:b}", "model",
                                                s->model == RND_MODEL_GREYSCALE ? "greyscale" : "color",
                                                "projection", "normal", "defaultZ", s->default_z, "defaultT",
                                                s->default_t, "invertAxis", 0));
    if (key) {
        /* imgData/{id}/{key}/: one member only. */
        json_t *v = json_object_get (o, key);
        if (!v) {
            omr_err_set (err, OMR_E_NOTFOUND, 404, "imgData has no key %s", key);
            goto done;
        }
        json_incref (v);
        json_decref (o);
        o = v;
    }
    reply_json (r, 200, o, headers);
    o = NULL;
    headers = NULL;
    rc = 0;
done:
    json_decref (o);
    json_decref (headers);
    return rc;
}

/* ---- histogram_json --------------------------------------------------------------------------- */

static int
histogram (wg_t *r, omr_err_t *err)
{
    /* histogram_json/{id}/channel/{c}/ */
    int64_t id = r->nparts == 4 ? seg_int (r->parts[1]) : -1, c = r->nparts == 4 ? seg_int (r->parts[3]) : -1;
    if (id < 0 || strcmp (r->parts[2], "channel") != 0)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no such URL: %s", r->path);
    if (c < 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "the channel index must be a non-negative integer");
    long z, t, bins;
    if (param_int (r, "theZ", 0, 1L << 30, 0, &z, err) < 0 || param_int (r, "theT", 0, 1L << 30, 0, &t, err) < 0
        || param_int (r, "bins", 1, MAX_BINS, DEFAULT_BINS, &bins, err) < 0)
        return -1;
    img_t *im = img_get (r, id, err);
    if (!im)
        return -1;
    int rc = -1;
    void *buf = NULL;
    json_t *headers = json_object ();
    if (c >= im->px.size_c || z >= im->px.size_z || t >= im->px.size_t) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "channel %lld, theZ %ld or theT %ld outside the image (%d, %d, %d)",
                     (long long) c, z, t, im->px.size_c, im->px.size_z, im->px.size_t);
        goto done;
    }
    if (cache_headers (r, im, headers)) {
        rc = reply_not_modified (r, headers);
        headers = NULL;
        goto done;
    }
    long long max_px = config_int (r, "omero.pixeldata.max_plane_width", 3192)
                       * config_int (r, "omero.pixeldata.max_plane_height", 3192);
    if ((long long) im->px.size_x * im->px.size_y > max_px) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "the plane is too large for a histogram (%dx%d)", im->px.size_x,
                     im->px.size_y);
        goto done;
    }
    rnd_region_t reg = {0, 0, im->px.size_x, im->px.size_y};
    rnd_ptype_t type = im->px.type;
    buf = read_region (im, 0, (int) z, (int) c, (int) t, &reg, false, err);
    if (!buf)
        goto done;
    double lo, hi;
    img_range (im, (int) c, &lo, &hi);
    json_int_t *counts = calloc ((size_t) bins, sizeof *counts);
    rnd_plane_t p = {.type = type == RND_BIT ? RND_UINT8 : type, .size_x = reg.w, .size_y = reg.h, .data = buf};
    size_t n = (size_t) reg.w * (size_t) reg.h;
    double span = hi - lo;
    for (size_t i = 0; i < n; i++) {
        double v = rnd_plane_get (&p, i);
        if (!(v >= lo && v <= hi))
            continue;
        long b = span > 0 ? (long) ((v - lo) / span * (double) bins) : 0;
        if (b >= bins)
            b = bins - 1;
        counts[b]++;
    }
    json_t *arr = json_array ();
    for (long b = 0; b < bins; b++)
        json_array_append_new (arr, json_integer (counts[b]));
    free (counts);
    reply_json (r, 200, json_pack ("{s:o}", "data", arr), headers);
    headers = NULL;
    rc = 0;
done:
    free (buf);
    json_decref (headers);
    return rc;
}

/* ---- thumbnails ------------------------------------------------------------------------------- */

/* The Pixels of an image the caller can see, or -1 (err set: 404). */
static int64_t
pixels_of (wg_t *r, int64_t image_id, omr_err_t *err)
{
    char ids[24];
    PGresult *res = blz_db_query (r->db, err, "SELECT p.id FROM pixels p WHERE p.image = $1::int8 ORDER BY p.id LIMIT 1",
                                  BLZ_P (BLZ_I64 (ids, image_id)));
    if (!res)
        return -1;
    int64_t id = PQntuples (res) ? atoll (PQgetvalue (res, 0, 0)) : -1;
    PQclear (res);
    if (id < 0)
        omr_err_set (err, OMR_E_NOTFOUND, 404, "Image %lld not found", (long long) image_id);
    return id;
}

/* A thumbnail size from a path segment: 1..BLZ_THUMB_MAX, else 400. */
static int
thumb_size (const char *seg, int *out, omr_err_t *err)
{
    int64_t v = seg_int (seg);
    if (v < 1 || v > BLZ_THUMB_MAX)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "thumbnail size %s: expected an integer in 1..%d", seg,
                            BLZ_THUMB_MAX);
    *out = (int) v;
    return 0;
}

/* render_thumbnail/{id}/[{w}/[{h}/]], render_thumbnail/size/{w}/{id}/,
 * render_birds_eye_view/{id}/[{size}/]: a JPEG by longest side (w only, or the default
 * omero.client.browser.thumb_default_size) or fitting w x h. */
static int
thumbnail (wg_t *r, bool birds_eye, omr_err_t *err)
{
    int64_t id;
    int w = (int) config_int (r, "omero.client.browser.thumb_default_size", DEFAULT_THUMB), h = 0;
    if (!birds_eye && r->nparts == 4 && !strcmp (r->parts[1], "size")) {
        id = seg_int (r->parts[3]);
        if (thumb_size (r->parts[2], &w, err) < 0)
            return -1;
    }
    else {
        id = r->nparts >= 2 ? seg_int (r->parts[1]) : -1;
        if (r->nparts > (birds_eye ? 3 : 4))
            id = -1;
        if (id >= 0 && r->nparts >= 3 && thumb_size (r->parts[2], &w, err) < 0)
            return -1;
        if (id >= 0 && r->nparts == 4 && thumb_size (r->parts[3], &h, err) < 0)
            return -1;
    }
    if (id < 0)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no such URL: %s", r->path);
    char stamp[160];
    if (img_stamp (r, id, stamp, sizeof stamp, err) < 0)
        return -1;
    int64_t pid = pixels_of (r, id, err);
    if (pid < 0)
        return -1;
    json_t *headers = json_object ();
    if (cache_headers_of (r, stamp, 0, headers))
        return reply_not_modified (r, headers);
    uint8_t *jpeg = NULL;
    size_t len = 0;
    int rc = h ? blz_thumb_get (r->app, r->db, pid, w, h, &jpeg, &len, err)
               : blz_thumb_get_longest (r->app, r->db, pid, w, &jpeg, &len, err);
    if (rc < 0) {
        json_decref (headers);
        return -1;
    }
    reply (r, 200, "image/jpeg", jpeg, len, headers);
    free (jpeg);
    return 0;
}

/* get_thumbnails/[{w}/]?id=1&id=2…: {"1": "data:image/jpeg;base64,…", …}; images that cannot
 * be shown map to null, as OMERO.web answers. */
static int
get_thumbnails (wg_t *r, omr_err_t *err)
{
    int w = (int) config_int (r, "omero.client.browser.thumb_default_size", DEFAULT_THUMB);
    if (r->nparts > 2)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no such URL: %s", r->path);
    if (r->nparts == 2 && thumb_size (r->parts[1], &w, err) < 0)
        return -1;
    /* The ids as a Postgres array literal, checked. */
    size_t cap = 64, used = 0;
    char *arr = malloc (cap);
    arr[used++] = '{';
    int n = 0;
    json_t *out = json_object ();
    struct evkeyval *kv;
    TAILQ_FOREACH (kv, &r->q, next)
    {
        if (strcmp (kv->key, "id"))
            continue;
        if (seg_int (kv->value) < 0 || ++n > MAX_THUMB_IDS) {
            free (arr);
            json_decref (out);
            if (n > MAX_THUMB_IDS)
                return omr_err_set (err, OMR_E_VALIDATION, 400, "at most %d ids in one request", MAX_THUMB_IDS);
            return omr_err_set (err, OMR_E_VALIDATION, 400, "id=%s: expected an image id", kv->value);
        }
        char id[24];
        BLZ_I64 (id, seg_int (kv->value));  /* canonical: "007" is image 7 */
        if (json_object_get (out, id))
            continue;
        json_object_set_new (out, id, json_null ());
        size_t l = strlen (id);
        if (used + l + 3 > cap) {
            cap = (used + l + 3) * 2;
            arr = realloc (arr, cap);
        }
        if (used > 1)
            arr[used++] = ',';
        memcpy (arr + used, id, l);
        used += l;
    }
    arr[used++] = '}';
    arr[used] = 0;
    if (!json_object_size (out)) {
        free (arr);
        return reply_json (r, 200, out, NULL);
    }
    /* One look-up for every id: what the caller cannot see stays null. */
    PGresult *res = blz_db_query (r->db, err,
                                  "SELECT DISTINCT ON (p.image) p.image, p.id FROM pixels p WHERE p.image = "
                                  "ANY ($1::int8[]) ORDER BY p.image, p.id",
                                  BLZ_P (arr));
    free (arr);
    if (!res) {
        json_decref (out);
        return -1;
    }
    /* Cached thumbnails of the whole list come from two queries (blz_thumb_get_many). */
    int nt = PQntuples (res);
    blz_thumb_t *items = calloc ((size_t) (nt ? nt : 1), sizeof *items);
    for (int i = 0; i < nt; i++)
        items[i].pixels_id = atoll (PQgetvalue (res, i, 1));
    if (!items || blz_thumb_get_many (r->app, r->db, items, nt, true, w, w, err) < 0) {
        for (int i = 0; items && i < nt; i++)
            free (items[i].jpeg);
        free (items);
        PQclear (res);
        json_decref (out);
        return -1;
    }
    for (int i = 0; i < nt; i++) {
        char key[24];
        BLZ_I64 (key, atoll (PQgetvalue (res, i, 0)));
        if (!items[i].jpeg)
            continue;       /* pixels the file cannot give: null, as for images not visible */
        char *text = malloc (4 * ((items[i].len + 2) / 3) + 32);
        int off = snprintf (text, 32, "data:image/jpeg;base64,");
        EVP_EncodeBlock ((unsigned char *) text + off, items[i].jpeg, (int) items[i].len);
        json_object_set_new (out, key, json_string (text));
        free (text);
        free (items[i].jpeg);
    }
    free (items);
    PQclear (res);
    return reply_json (r, 200, out, NULL);
}

/* ---- saveImgRDef ------------------------------------------------------------------------------ */

/* Parameters of a POST: the query string and a urlencoded form body (Django's request.POST). */
static int
form_params (wg_t *r, struct evkeyvalq *form, omr_err_t *err)
{
    TAILQ_INIT (form);
    const omr_msg_t *m = r->call->req;
    size_t len = m->nraw ? zframe_size (m->raw[0]) : 0;
    if (!len)
        return 0;
    const char *ct = header (r, "content-type");
    if (ct && !strstr (ct, "application/x-www-form-urlencoded"))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "the form must be application/x-www-form-urlencoded");
    char *text = malloc (len + 1);
    memcpy (text, zframe_data (m->raw[0]), len);
    text[len] = 0;
    int rc = evhttp_parse_query_str (text, form);
    free (text);
    return rc < 0 ? omr_err_set (err, OMR_E_VALIDATION, 400, "the form is malformed") : 0;
}

/* Django's CSRF rule as jsonapi.c applies it: the csrftoken cookie must come back in the
 * X-CSRFToken header or the form's csrfmiddlewaretoken. */
static bool
csrf_ok (wg_t *r, struct evkeyvalq *form)
{
    const char *c = json_string_value (json_object_get (r->cookies, "csrftoken"));
    const char *sent = header (r, "x-csrftoken");
    if (!sent)
        sent = evhttp_find_header (form, "csrfmiddlewaretoken");
    if (!c || !sent || strlen (c) < 32 || strlen (c) != strlen (sent))
        return false;
    return CRYPTO_memcmp (c, sent, strlen (c)) == 0;
}

/* saveImgRDef/{id}/ (POST): c=, m=, maps= (and 1-based z=, t= for the default plane) applied to
 * the caller's settings and saved as their RenderingDef; answers true. */
static int
save_rdef (wg_t *r, omr_err_t *err)
{
    int64_t id = r->nparts == 2 ? seg_int (r->parts[1]) : -1;
    if (id < 0)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no such URL: %s", r->path);
    struct evkeyvalq form;
    if (form_params (r, &form, err) < 0)
        return -1;
    int rc = -1;
    rnd_settings_t *s = NULL;
    rnd_query_t q;
    bool parsed = false;
    rnd_lut_provider_t *luts = NULL;
    if (!csrf_ok (r, &form)) {
        omr_err_set (err, OMR_E_API, 403, "CSRF Error. You need to include valid CSRF tokens for any POST, PUT, "
                     "PATCH or DELETE operations. You have to include CSRF token in the POST data or set the "
                     "X-CSRFToken header.");
        goto done;
    }
    img_t *im = img_get (r, id, err);
    if (!im)
        goto done;
#define FORM(k) (evhttp_find_header (&form, k) ? evhttp_find_header (&form, k) : param (r, k))
    rnd_query_in_t in = {.c = FORM ("c"), .m = FORM ("m"), .maps = FORM ("maps")};
    rnd_image_geom_t geom = {.size_x = im->px.size_x, .size_y = im->px.size_y, .size_z = im->px.size_z,
                             .size_c = im->px.size_c, .levels = im->levels, .n_levels = im->n_levels,
                             .tile_w = 256, .tile_h = 256, .max_tile_len = 1024};
    if (rnd_query_parse (&in, &geom, &q, err) < 0)
        goto done;
    parsed = true;
    if (!(s = rnd_settings_copy (im->settings, err)))
        goto done;
    luts = luts_for (r, s, in.c);
    if (rnd_query_apply_parsed (&s, &q, luts, err) < 0)
        goto done;
    const char *zs = FORM ("z"), *ts = FORM ("t");
#undef FORM
    int64_t z = zs ? seg_int (zs) : 0, t = ts ? seg_int (ts) : 0;
    if ((zs && (z < 1 || z > im->px.size_z)) || (ts && (t < 1 || t > im->px.size_t))) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "z and t are 1-based: z in 1..%d, t in 1..%d", im->px.size_z,
                     im->px.size_t);
        goto done;
    }
    if (zs)
        s->default_z = (int) z - 1;
    if (ts)
        s->default_t = (int) t - 1;
    if (rnd_settings_validate (s, err) < 0 || blz_rdef_save (r->app, r->db, im->pixels_id, s, err) < 0)
        goto done;
    rc = reply_json (r, 200, json_true (), NULL);
done:
    if (parsed)
        rnd_query_free (&q);
    rnd_lut_provider_destroy (&luts);
    rnd_settings_destroy (&s);
    evhttp_clear_headers (&form);
    return rc;
}

/* ---- dispatch --------------------------------------------------------------------------------- */

static void
wg_free (wg_t *r)
{
    evhttp_clear_headers (&r->q);
    free (r->pathbuf);
}

/* Split the path after /webgateway/ into segments and decode the query. */
static int
wg_parse (wg_t *r, omr_err_t *err)
{
    TAILQ_INIT (&r->q);
    if (r->query && *r->query && evhttp_parse_query_str (r->query, &r->q) < 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "the query string is malformed");
    const char *p = r->path + strlen ("/webgateway");
    r->pathbuf = strdup (p);
    char *save = NULL;
    for (char *s = strtok_r (r->pathbuf, "/", &save); s; s = strtok_r (NULL, "/", &save)) {
        if (r->nparts == MAX_PATH_PARTS)
            return omr_err_set (err, OMR_E_NOTFOUND, 404, "no such URL: %s", r->path);
        r->parts[r->nparts++] = s;
    }
    return 0;
}

/* The routes: name, whether it writes (runs in the caller's current group and commits), handler. */
typedef enum { R_PLANE, R_REGION, R_SPLIT, R_IMGDATA, R_HIST, R_THUMB, R_BIRDS, R_THUMBS, R_SAVE } route_t;

static const struct {
    const char *name;
    route_t route;
    bool post, writes;
} routes[] = {
    {"render_image", R_PLANE, false, false},       {"render_image_region", R_REGION, false, false},
    {"render_split_channel", R_SPLIT, false, false}, {"imgData", R_IMGDATA, false, false},
    {"histogram_json", R_HIST, false, false},      {"render_thumbnail", R_THUMB, false, true},
    {"render_birds_eye_view", R_BIRDS, false, true}, {"get_thumbnails", R_THUMBS, false, true},
    {"saveImgRDef", R_SAVE, true, true},
};

static int
dispatch (wg_t *r, route_t route, omr_err_t *err)
{
    switch (route) {
    case R_PLANE: return render (r, RENDER_PLANE, err);
    case R_REGION: return render (r, RENDER_REGION, err);
    case R_SPLIT: return render (r, RENDER_SPLIT, err);
    case R_IMGDATA: return img_data (r, err);
    case R_HIST: return histogram (r, err);
    case R_THUMB: return thumbnail (r, false, err);
    case R_BIRDS: return thumbnail (r, true, err);
    case R_THUMBS: return get_thumbnails (r, err);
    case R_SAVE: return save_rdef (r, err);
    }
    return omr_err_set (err, OMR_E_NOTFOUND, 404, "no such URL: %s", r->path);
}

/* Find the route of a request; -1 with 404/405 when there is none. */
static int
route_of (wg_t *r, int *idx, omr_err_t *err)
{
    for (size_t i = 0; r->nparts && i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp (routes[i].name, r->parts[0]))
            continue;
        bool get = !strcmp (r->method, "GET") || !strcmp (r->method, "HEAD");
        if (routes[i].post ? strcmp (r->method, "POST") != 0 : !get)
            return omr_err_set (err, OMR_E_API, 405, "%s is not allowed on %s", r->method, r->path);
        *idx = (int) i;
        return 0;
    }
    return omr_err_set (err, OMR_E_NOTFOUND, 404, "no such URL: %s", r->path);
}

static int
handle (omr_call_t *call, omr_err_t *err, void *arg)
{
    const json_t *b = call->req->body;
    wg_state_t *st = arg;
    wg_t r = {.app = st->app, .call = call, .state = st};
    r.method = blz_str (b, "method");
    r.path = blz_str (b, "path");
    r.query = blz_str (b, "query");
    r.headers = json_object_get (b, "headers");
    r.cookies = json_object_get (b, "cookies");
    if (!r.method || !r.path || strncmp (r.path, "/webgateway", 11) != 0)
        return omr_err_set (err, OMR_E_API, 400, "Webgateway.handle needs method and a /webgateway/ path");
    if (!r.query)
        r.query = "";
    if (blz_call_ctx (call, &r.ctx, err) < 0)
        return -1;
    omr_err_t e = {0};
    int idx = -1;
    int rc = wg_parse (&r, &e);
    if (rc == 0)
        rc = route_of (&r, &idx, &e);
    if (rc == 0) {
        /* Reads see every group the caller belongs to; writes (settings, Thumbnail rows) happen
         * in the session's group as ThumbnailStore and IRenderingSettings do. */
        blz_ctx_t ctx = r.ctx;
        if (!routes[idx].writes)
            ctx.group_id = -1;
        r.db = blz_app_db (r.app, call);
        /* Rendering an image the worker holds, unchanged, reads nothing more from the database
         * (render() on a fresh entry makes no query): no transaction is needed after the check. */
        route_t rt = routes[idx].route;
        if ((rt == R_PLANE || rt == R_REGION || rt == R_SPLIT) && r.nparts >= 2 && seg_int (r.parts[1]) >= 0)
            r.fresh = fast_check (&r, seg_int (r.parts[1]), &ctx);
        if (r.fresh)
            rc = dispatch (&r, rt, &e);
        else if ((rc = blz_db_begin (r.db, &ctx, &e)) == 0) {
            rc = dispatch (&r, routes[idx].route, &e);
            if (rc == 0 && routes[idx].writes)
                rc = blz_db_commit (r.db, &e);
            blz_db_rollback (r.db);
        }
    }
    if (rc < 0)
        reply_err (&r, &e);
    wg_free (&r);
    return 0;
}

void *
blz_webgateway_register (blz_app_t *app)
{
    wg_state_t *st = calloc (1, sizeof *st);
    if (!st)
        return NULL;
    st->app = app;
    st->nworkers = app->nworkers > 0 ? app->nworkers : 1;
    size_t n = (size_t) st->nworkers;
    st->cache = calloc (n, sizeof *st->cache);
    st->prepared = calloc (n, sizeof *st->prepared);
    st->qmaps = calloc (n, sizeof *st->qmaps);
    st->jpeg = calloc (n, sizeof *st->jpeg);
    if (!st->cache || !st->prepared || !st->qmaps || !st->jpeg) {
        void *p = st;
        blz_webgateway_free (&p);
        return NULL;
    }
    /* Without a cache or an encoder a worker still renders (rnd_render_cached and
     * rnd_encode_with take NULL), only slower. */
    for (size_t i = 0; i < n; i++) {
        omr_err_t e = {0};
        st->qmaps[i] = rnd_qcache_new (QMAPS_PER_WORKER);
        st->jpeg[i] = rnd_jpeg_new (&e);
    }
    omr_server_on (app->server, "Webgateway.handle", handle, st);
    return st;
}

void
blz_webgateway_free (void **state)
{
    wg_state_t *st = state ? *state : NULL;
    if (!st)
        return;
    for (int i = 0; i < st->nworkers; i++) {
        if (st->cache)
            img_free (&st->cache[i]);
        if (st->qmaps)
            rnd_qcache_destroy (&st->qmaps[i]);
        if (st->jpeg)
            rnd_jpeg_destroy (&st->jpeg[i]);
    }
    free (st->cache);
    free (st->prepared);
    free (st->qmaps);
    free (st->jpeg);
    free (st);
    *state = NULL;
}
