/* rawpixels: RawPixelsStore reading the repository's original files (see rawpixels.h). */
#include "rawpixels.h"
#include "formats/fileset.h"
#include "repository.h"
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPLY ((size_t) 256 << 20)  /* the router's default body limit */

/* One open fileset per worker, kept between calls (tiles of one image come in series). */
typedef struct {
    int64_t fileset;
    char *path;
    fmt_fileset_t *set;
} cache_t;

typedef struct {
    blz_app_t *app;
    char *root;
    cache_t *cache;             /* one per worker */
} rps_t;

typedef struct {
    int64_t pixels_id, image_id, fileset;
    int series;
    const fmt_image_t *im;
    fmt_fileset_t *set;
} pix_t;

/* Where the pixels' files are: fills ids, series and the repository path (malloc'ed) of the
 * file readers open first; by image id when by_image. Runs in db's open transaction. */
static int
locate (blz_db_t *db, int64_t id, bool by_image, blz_pixels_t *px, char **rel, omr_err_t *err)
{
    char ids[24];
    /* two spellings so that each uses its primary key */
    PGresult *r = blz_db_query (db, err,
                                by_image ? "SELECT i.id, i.series, i.fileset, (SELECT o.path || o.name FROM filesetentry e "
                                           "JOIN originalfile o ON o.id = e.originalfile WHERE e.fileset = i.fileset "
                                           "ORDER BY e.fileset_index LIMIT 1), p.id FROM image i JOIN pixels p ON "
                                           "p.image = i.id WHERE i.id = $1::int8"
                                         : "SELECT i.id, i.series, i.fileset, (SELECT o.path || o.name FROM filesetentry e "
                                           "JOIN originalfile o ON o.id = e.originalfile WHERE e.fileset = i.fileset "
                                           "ORDER BY e.fileset_index LIMIT 1), p.id FROM pixels p JOIN image i ON "
                                           "i.id = p.image WHERE p.id = $1::int8",
                                BLZ_P (BLZ_I64 (ids, id)));
    if (!r)
        return -1;
    if (!PQntuples (r) || PQgetisnull (r, 0, 3)) {
        PQclear (r);
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no readable %s:%s with original files",
                            by_image ? "Image" : "Pixels", ids);
    }
    px->pixels_id = atoll (PQgetvalue (r, 0, 4));
    px->image_id = atoll (PQgetvalue (r, 0, 0));
    px->series = atoi (PQgetvalue (r, 0, 1));
    px->fileset = atoll (PQgetvalue (r, 0, 2));
    *rel = strdup (PQgetvalue (r, 0, 3));
    PQclear (r);
    return 0;
}

int
blz_pixels_open (blz_app_t *app, blz_db_t *db, int64_t pixels_id, blz_pixels_t *out, omr_err_t *err)
{
    memset (out, 0, sizeof *out);
    char *rel = NULL;
    if (locate (db, pixels_id, false, out, &rel, err) < 0)
        return -1;
    char *root = blz_repo_root (app->config);
    char *full = root ? blz_repo_join (root, rel, err) : NULL;
    free (root);
    free (rel);
    if (!full)
        return -1;
    out->set = fmt_fileset_open (full, err);
    free (full);
    if (!out->set)
        return -1;
    out->image = fmt_fileset_image (out->set, out->series);
    if (!out->image) {
        fmt_fileset_destroy (&out->set);
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "Pixels:%lld: series %d is missing from its files",
                            (long long) pixels_id, out->series);
    }
    return 0;
}

void
blz_pixels_close (blz_pixels_t *px)
{
    if (px)
        fmt_fileset_destroy (&px->set);
}

/* Look the pixels up as the caller and open (or reuse) their fileset. */
static int
load (rps_t *s, omr_call_t *call, pix_t *px, omr_err_t *err)
{
    blz_ctx_t ctx;
    if (blz_call_ctx (call, &ctx, err) < 0)
        return -1;
    memset (px, 0, sizeof *px);
    int64_t pid = blz_int (call->req->body, "pixelsId", -1);
    int64_t by_image = blz_int (call->req->body, "imageId", -1);
    if (pid < 0 && by_image < 0)
        return omr_err_set (err, OMR_E_API, 400, "pixelsId (or imageId) missing");
    ctx.group_id = -1;
    blz_db_t *db = blz_app_db (s->app, call);
    if (blz_db_begin (db, &ctx, err) < 0)
        return -1;
    blz_pixels_t where;
    char *rel = NULL;
    int rc = locate (db, pid >= 0 ? pid : by_image, pid < 0, &where, &rel, err);
    blz_db_rollback (db);
    if (rc < 0)
        return -1;
    px->pixels_id = where.pixels_id;
    px->image_id = where.image_id;
    px->series = where.series;
    px->fileset = where.fileset;
    cache_t *c = &s->cache[call->worker];
    if (!c->set || c->fileset != px->fileset || strcmp (c->path, rel)) {
        fmt_fileset_destroy (&c->set);
        free (c->path);
        c->path = NULL;
        char *full = blz_repo_join (s->root, rel, err);
        if (!full) {
            free (rel);
            return -1;
        }
        c->set = fmt_fileset_open (full, err);
        free (full);
        if (!c->set) {
            free (rel);
            return -1;
        }
        c->fileset = px->fileset;
        c->path = rel;
        rel = NULL;
    }
    free (rel);
    px->set = c->set;
    px->im = fmt_fileset_image (c->set, px->series);
    if (!px->im)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "Pixels:%lld: series %d is missing from its files",
                            (long long) px->pixels_id, px->series);
    return 0;
}

/* Convert a host-order buffer of n values to big-endian in place. */
static void
to_big_endian (void *buf, size_t n, int width)
{
#if __BYTE_ORDER == __LITTLE_ENDIAN
    if (width == 2) {
        uint16_t *p = buf;
        for (size_t i = 0; i < n; i++)
            p[i] = htobe16 (p[i]);
    } else if (width == 4) {
        uint32_t *p = buf;
        for (size_t i = 0; i < n; i++)
            p[i] = htobe32 (p[i]);
    } else if (width == 8) {
        uint64_t *p = buf;
        for (size_t i = 0; i < n; i++)
            p[i] = htobe64 (p[i]);
    }
#else
    (void) buf, (void) n, (void) width;
#endif
}

static int
level_of (const pix_t *px, json_t *body, omr_err_t *err)
{
    json_t *l = json_object_get (body, "level");
    json_t *rl = json_object_get (body, "resolutionLevel");
    int level = 0;
    if (json_is_integer (l))
        level = (int) json_integer_value (l);
    else if (json_is_integer (rl))
        level = px->im->level_count - 1 - (int) json_integer_value (rl);
    if (level < 0 || level >= px->im->level_count)
        return omr_err_set (err, OMR_E_API, 400, "resolution level out of range (the image has %d)", px->im->level_count);
    return level;
}

static int
coord (json_t *body, const char *k, uint32_t size, uint32_t *out, omr_err_t *err)
{
    json_t *v = json_object_get (body, k);
    long long x = json_is_integer (v) ? json_integer_value (v) : 0;
    if (x < 0 || (uint64_t) x >= size)
        return omr_err_set (err, OMR_E_API, 400, "%s=%lld is out of range 0..%u", k, x, size ? size - 1 : 0);
    *out = (uint32_t) x;
    return 0;
}

/* Read regions of several planes into one reply buffer, then send it big-endian. */
typedef struct {
    uint32_t z, c, t;
} plane_t;

/* Read regions of several planes into one reply frame as OMERO sends them: big-endian, X
 * fastest, every step_x-th column and step_y-th row, and pixel type bit packed MSB first
 * (each region's pixels as one bit string, padded to a whole byte). */
static int
send_regions (omr_call_t *call, pix_t *px, int level, const plane_t *planes, size_t np, uint32_t x, uint32_t y,
              uint32_t w, uint32_t h, uint32_t step_x, uint32_t step_y, omr_err_t *err)
{
    const fmt_image_t *im = px->im;
    bool bit = im->pixel_type == FMT_PT_BIT;
    int bw = fmt_pixtype_bytes (im->pixel_type);
    uint32_t ow = (w + step_x - 1) / step_x, oh = (h + step_y - 1) / step_y;
    size_t one = fmt_image_region_bytes (im, w, h);                 /* as read */
    size_t out_one = bit ? ((size_t) ow * oh + 7) / 8 : (size_t) ow * oh * (size_t) bw;
    if (np && (one > MAX_REPLY || out_one > MAX_REPLY / np))
        return omr_err_set (err, OMR_E_API, 400, "%zu planes of %ux%u are too large for one reply; read tiles", np, w, h);
    size_t total = out_one * np;
    zframe_t *f = zframe_new (NULL, total ? total : 1);
    if (!f)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "out of memory for %zu bytes", total);
    unsigned char *out = zframe_data (f);
    bool direct = !bit && step_x == 1 && step_y == 1;   /* read straight into the reply frame */
    unsigned char *tmp = direct ? NULL : malloc (one ? one : 1);
    if (!direct && !tmp) {
        zframe_destroy (&f);
        return omr_err_set (err, OMR_E_RESOURCE, 500, "out of memory for %zu bytes", one);
    }
    for (size_t i = 0; i < np; i++) {
        unsigned char *dst = out + i * out_one;
        unsigned char *src = direct ? dst : tmp;
        if (fmt_fileset_read_region (px->set, px->series, level, planes[i].z, planes[i].c, planes[i].t, x, y, w, h, src,
                                     one, err) < 0) {
            free (tmp);
            zframe_destroy (&f);
            return -1;
        }
        if (direct)
            continue;
        if (bit)
            memset (dst, 0, out_one);
        size_t k = 0;
        for (uint32_t yy = 0; yy < h; yy += step_y)
            for (uint32_t xx = 0; xx < w; xx += step_x, k++) {
                const unsigned char *px_src = src + ((size_t) yy * w + xx) * (size_t) bw;
                if (bit) {
                    if (*px_src)
                        dst[k / 8] |= (unsigned char) (0x80 >> (k % 8));
                } else
                    memcpy (dst + k * (size_t) bw, px_src, (size_t) bw);
            }
    }
    free (tmp);
    if (!bit)
        to_big_endian (out, total / (size_t) bw, bw);
    call->raw_out = realloc (call->raw_out, (call->nraw_out + 1) * sizeof (zframe_t *));
    call->raw_out[call->nraw_out++] = f;
    call->reply = json_pack ("{s:I, s:i, s:i}", "size", (json_int_t) total, "width", (int) ow, "height", (int) oh);
    return 0;
}

static int
op_read (omr_call_t *call, omr_err_t *err, void *arg)
{
    rps_t *s = arg;
    const char *op = omr_msg_op (call->req);
    const char *m = strchr (op, '.') ? strchr (op, '.') + 1 : op;
    pix_t px;
    if (load (s, call, &px, err) < 0)
        return -1;
    json_t *b = call->req->body;
    const fmt_image_t *im = px.im;
    int level = level_of (&px, b, err);
    if (level < 0)
        return -1;
    uint32_t lx = im->levels[level].size_x, ly = im->levels[level].size_y;
    uint32_t z = 0, c = 0, t = 0, x = 0, y = 0;
    if (!strcmp (m, "getPlane") || !strcmp (m, "getTile") || !strcmp (m, "getRow") || !strcmp (m, "getCol")) {
        if (coord (b, "z", im->size_z, &z, err) < 0 || coord (b, "c", im->size_c, &c, err) < 0
            || coord (b, "t", im->size_t, &t, err) < 0)
            return -1;
        plane_t p = {z, c, t};
        if (!strcmp (m, "getPlane"))
            return send_regions (call, &px, level, &p, 1, 0, 0, lx, ly, 1, 1, err);
        if (!strcmp (m, "getRow"))
            return coord (b, "y", ly, &y, err) < 0 ? -1 : send_regions (call, &px, level, &p, 1, 0, y, lx, 1, 1, 1, err);
        if (!strcmp (m, "getCol"))
            return coord (b, "x", lx, &x, err) < 0 ? -1 : send_regions (call, &px, level, &p, 1, x, 0, 1, ly, 1, 1, err);
        long long w = blz_int (b, "w", -1), h = blz_int (b, "h", -1);
        if (coord (b, "x", lx, &x, err) < 0 || coord (b, "y", ly, &y, err) < 0)
            return -1;
        if (w <= 0 || h <= 0 || x + (uint64_t) w > lx || y + (uint64_t) h > ly)
            return omr_err_set (err, OMR_E_API, 400, "tile %u,%u %lldx%lld lies outside the %ux%u plane", x, y, w, h, lx, ly);
        return send_regions (call, &px, level, &p, 1, x, y, (uint32_t) w, (uint32_t) h, 1, 1, err);
    }
    size_t np = 0;
    plane_t *planes = NULL;
    int rc;
    if (!strcmp (m, "getStack")) {
        if (coord (b, "c", im->size_c, &c, err) < 0 || coord (b, "t", im->size_t, &t, err) < 0)
            return -1;
        planes = calloc (im->size_z, sizeof *planes);
        for (uint32_t k = 0; k < im->size_z; k++)
            planes[np++] = (plane_t) {k, c, t};
        rc = send_regions (call, &px, level, planes, np, 0, 0, lx, ly, 1, 1, err);
    } else if (!strcmp (m, "getTimepoint")) {
        if (coord (b, "t", im->size_t, &t, err) < 0)
            return -1;
        planes = calloc ((size_t) im->size_z * im->size_c, sizeof *planes);
        for (uint32_t cc = 0; cc < im->size_c; cc++)
            for (uint32_t k = 0; k < im->size_z; k++)
                planes[np++] = (plane_t) {k, cc, t};
        rc = send_regions (call, &px, level, planes, np, 0, 0, lx, ly, 1, 1, err);
    } else {
        /* getHypercube: offset/size/step over X Y Z C T */
        json_t *off = json_object_get (b, "offset"), *sz = json_object_get (b, "size"), *st = json_object_get (b, "step");
        long long o[5], n[5], stp[5];
        uint32_t lim[5] = {lx, ly, im->size_z, im->size_c, im->size_t};
        for (int k = 0; k < 5; k++) {
            o[k] = json_integer_value (json_array_get (off, (size_t) k));
            n[k] = json_array_get (sz, (size_t) k) ? json_integer_value (json_array_get (sz, (size_t) k)) : 0;
            stp[k] = json_array_get (st, (size_t) k) ? json_integer_value (json_array_get (st, (size_t) k)) : 1;
            if (o[k] < 0 || n[k] <= 0 || stp[k] <= 0 || (uint64_t) o[k] + (uint64_t) n[k] > lim[k])
                return omr_err_set (err, OMR_E_API, 400, "hypercube offset/size out of range in dimension %c", "XYZCT"[k]);
        }
        planes = calloc ((size_t) n[2] * n[3] * n[4], sizeof *planes);
        for (long long tt = o[4]; tt < o[4] + n[4]; tt += stp[4])
            for (long long cc = o[3]; cc < o[3] + n[3]; cc += stp[3])
                for (long long zz = o[2]; zz < o[2] + n[2]; zz += stp[2])
                    planes[np++] = (plane_t) {(uint32_t) zz, (uint32_t) cc, (uint32_t) tt};
        rc = send_regions (call, &px, level, planes, np, (uint32_t) o[0], (uint32_t) o[1], (uint32_t) n[0],
                           (uint32_t) n[1], (uint32_t) stp[0], (uint32_t) stp[1], err);
    }
    free (planes);
    return rc;
}

static int
op_info (omr_call_t *call, omr_err_t *err, void *arg)
{
    rps_t *s = arg;
    const char *op = omr_msg_op (call->req);
    const char *m = strchr (op, '.') ? strchr (op, '.') + 1 : op;
    pix_t px;
    if (load (s, call, &px, err) < 0)
        return -1;
    const fmt_image_t *im = px.im;
    fmt_pixtype_t pt = im->pixel_type;
    int bw = fmt_pixtype_bytes (pt);
    int level = level_of (&px, call->req->body, err);
    if (level < 0)
        return -1;
    json_int_t row = (json_int_t) im->levels[level].size_x * bw;
    json_int_t plane = row * im->levels[level].size_y;
    json_int_t stack = plane * im->size_z, tp = stack * im->size_c, total = tp * im->size_t;
    if (pt == FMT_PT_BIT) {
        /* bits packed: sizes in whole bytes, byte width 0 as OMERO's bitSize / 8 */
        row = (row + 7) / 8;
        plane = (plane + 7) / 8;
        stack = (stack + 7) / 8;
        tp = (tp + 7) / 8;
        total = (total + 7) / 8;
        bw = 0;
    }
    if (!strcmp (m, "getOriginalMetadata")) {
        /* what the files themselves say: TIFF tags, ImageJ/Aperio keys, the OME-XML */
        json_t *kv = json_object ();
        for (int i = 0; i < im->original_count; i++)
            json_object_set_new (kv, im->original[i].key, json_string (im->original[i].value ? im->original[i].value : ""));
        const char *xml = fmt_fileset_ome_xml (px.set);
        call->reply = json_pack ("{s:s, s:o, s:o}", "format", fmt_fileset_format (px.set), "series", kv, "omeXml",
                                 xml ? json_string (xml) : json_null ());
    } else if (!strcmp (m, "getByteWidth"))
        call->reply = json_pack ("{s:i}", "value", bw);
    else if (!strcmp (m, "isSigned"))
        call->reply = json_pack ("{s:b}", "value", pt == FMT_PT_INT8 || pt == FMT_PT_INT16 || pt == FMT_PT_INT32
                                                       || pt == FMT_PT_FLOAT || pt == FMT_PT_DOUBLE);
    else if (!strcmp (m, "isFloat"))
        call->reply = json_pack ("{s:b}", "value", pt == FMT_PT_FLOAT || pt == FMT_PT_DOUBLE);
    else if (!strcmp (m, "getResolutionLevels"))
        call->reply = json_pack ("{s:i}", "value", im->level_count);
    else if (!strcmp (m, "getTileSize"))
        call->reply = json_pack ("{s:[i,i]}", "value", (int) im->levels[level].tile_w, (int) im->levels[level].tile_h);
    else if (!strcmp (m, "getRowSize"))
        call->reply = json_pack ("{s:I}", "value", row);
    else if (!strcmp (m, "getPlaneSize"))
        call->reply = json_pack ("{s:I}", "value", plane);
    else if (!strcmp (m, "getStackSize"))
        call->reply = json_pack ("{s:I}", "value", stack);
    else if (!strcmp (m, "getTimepointSize"))
        call->reply = json_pack ("{s:I}", "value", tp);
    else if (!strcmp (m, "getTotalSize"))
        call->reply = json_pack ("{s:I}", "value", total);
    else {
        json_t *levels = json_array ();
        for (int l = 0; l < im->level_count; l++)
            json_array_append_new (levels, json_pack ("{s:i, s:i, s:i, s:i}", "sizeX", (int) im->levels[l].size_x,
                                                      "sizeY", (int) im->levels[l].size_y, "tileWidth",
                                                      (int) im->levels[l].tile_w, "tileHeight", (int) im->levels[l].tile_h));
        if (!strcmp (m, "getResolutionDescriptions"))
            call->reply = json_pack ("{s:o}", "data", levels);
        else
            call->reply = json_pack ("{s:I, s:I, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:i, s:o}", "pixelsId",
                                     (json_int_t) px.pixels_id, "imageId", (json_int_t) px.image_id, "sizeX",
                                     (int) im->size_x, "sizeY", (int) im->size_y, "sizeZ", (int) im->size_z, "sizeC",
                                     (int) im->size_c, "sizeT", (int) im->size_t, "pixelsType", fmt_pixtype_name (pt),
                                     "dimensionOrder", im->dimension_order, "byteWidth", bw, "levels", levels);
    }
    return 0;
}

void
blz_rawpixels_free (void **handle)
{
    rps_t *s = handle ? *handle : NULL;
    if (!s)
        return;
    int n = s->app->nworkers > 0 ? s->app->nworkers : 1;
    for (int i = 0; i < n; i++) {
        fmt_fileset_destroy (&s->cache[i].set);
        free (s->cache[i].path);
    }
    free (s->cache);
    free (s->root);
    free (s);
    *handle = NULL;
}

void *
blz_rawpixels_register (blz_app_t *app)
{
    /* lives until blz_rawpixels_free, after the workers stopped */
    rps_t *s = calloc (1, sizeof *s);
    s->app = app;
    s->root = blz_repo_root (app->config);
    s->cache = calloc ((size_t) (app->nworkers > 0 ? app->nworkers : 1), sizeof (cache_t));
    static const char *const reads[] = {"getPlane", "getTile", "getRow", "getCol", "getStack", "getTimepoint",
                                        "getHypercube"};
    static const char *const infos[] = {"getByteWidth", "isSigned", "isFloat", "getResolutionLevels",
                                        "getResolutionDescriptions", "getTileSize", "getRowSize", "getPlaneSize",
                                        "getStackSize", "getTimepointSize", "getTotalSize", "getPixels",
                                        "getOriginalMetadata"};
    char op[64];
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        snprintf (op, sizeof op, "RawPixelsStore.%s", reads[i]);
        omr_server_on (app->server, op, op_read, s);
    }
    for (size_t i = 0; i < sizeof infos / sizeof infos[0]; i++) {
        snprintf (op, sizeof op, "RawPixelsStore.%s", infos[i]);
        omr_server_on (app->server, op, op_info, s);
    }
    return s;
}
