/* thumbnail: ThumbnailStore — JPEG thumbnails rendered from the caller's rendering settings,
 * recorded as Thumbnail rows and cached under <omero.data.dir>/Thumbnails (see thumbnail.h). */
#include "thumbnail.h"
#include "omr_log.h"
#include "rawpixels.h"
#include "rendering_settings.h"
#include "services/blitz/render/rnd_encode.h"
#include "services/blitz/render/rnd_render.h"
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* JPEG quality of stored thumbnails (percent). */
#define THUMB_QUALITY 90
/* Most pixels ids one set request may name. */
#define THUMB_SET_MAX 1000
/* Levels up to this many pixels are rendered whole and scaled exactly (rnd_scale_rgb); larger
 * ones (big images without a small enough resolution level) are read, rendered and averaged
 * in bands of about THUMB_BAND_PIXELS, so memory stays bounded whatever the image size. */
#define THUMB_WHOLE_PIXELS ((uint64_t) 4096 * 4096)
#define THUMB_BAND_PIXELS ((uint64_t) 1 << 22)

/* The file of Thumbnail:id, laid out as OMERO lays out Pixels and Thumbnails: every group of
 * three digits above the last becomes a directory "Dir-NNN" (AbstractFileSystemService.getPath). */
static char *
thumb_path (blz_app_t *app, int64_t id)
{
    const char *d = omr_config_get (app->config, "omero.data.dir");
    char suffix[256] = "";
    int64_t rem = id;
    while (rem > 999) {
        rem /= 1000;
        if (rem > 0) {
            char tmp[256];
            snprintf (tmp, sizeof tmp, "Dir-%03lld/%s", (long long) (rem % 1000), suffix);
            snprintf (suffix, sizeof suffix, "%s", tmp);
        }
    }
    char *out = NULL;
    if (asprintf (&out, "%s/Thumbnails/%s%lld", d && *d ? d : "/OMERO", suffix, (long long) id) < 0)
        return NULL;
    return out;
}

/* mkdir -p of the directory holding path. */
static int
make_parent (const char *path, omr_err_t *err)
{
    char *dir = strdup (path);
    if (!dir)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    char *slash = strrchr (dir, '/');
    if (slash)
        *slash = '\0';
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir (dir, 0755);
            *p = '/';
        }
    int rc = 0;
    if (mkdir (dir, 0755) < 0 && errno != EEXIST)
        rc = omr_err_set (err, OMR_E_RESOURCE, 500, "cannot create %s: %s", dir, strerror (errno));
    free (dir);
    return rc;
}

/* Write data to path atomically (temporary file, then rename). */
static int
write_file (const char *path, const uint8_t *data, size_t len, omr_err_t *err)
{
    if (make_parent (path, err) < 0)
        return -1;
    char *tmp = NULL;
    if (asprintf (&tmp, "%s.tmp.%ld.%lx", path, (long) getpid (), (unsigned long) pthread_self ()) < 0)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t done = 0;
    while (fd >= 0 && done < len) {
        ssize_t n = write (fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t) n;
    }
    int rc = 0;
    if (fd < 0 || done < len || close (fd) < 0 || rename (tmp, path) < 0) {
        rc = omr_err_set (err, OMR_E_RESOURCE, 500, "cannot write thumbnail %s: %s", path, strerror (errno));
        unlink (tmp);
    }
    free (tmp);
    return rc;
}

/* The whole file, or -1 (no error set: a missing file means the thumbnail must be made). */
static int
read_file (const char *path, uint8_t **out, size_t *len)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat (fd, &st) < 0 || st.st_size <= 0 || st.st_size > (64 << 20)) {
        close (fd);
        return -1;
    }
    uint8_t *buf = malloc ((size_t) st.st_size);
    size_t done = 0;
    while (buf && done < (size_t) st.st_size) {
        ssize_t n = read (fd, buf + done, (size_t) st.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t) n;
    }
    close (fd);
    if (!buf || done < (size_t) st.st_size) {
        free (buf);
        return -1;
    }
    *out = buf;
    *len = done;
    return 0;
}

/* The size of a thumbnail fitting w x h with the image's aspect ratio kept: the side that
 * limits becomes w (or h), the other is truncated as ThumbnailBean truncates it, at least 1. */
static void
fit_size (int sx, int sy, int w, int h, int *tw, int *th)
{
    if ((double) sx * h >= (double) sy * w) {
        *tw = w;
        *th = (int) (sy * (float) w / sx);
    } else {
        *th = h;
        *tw = (int) (sx * (float) h / sy);
    }
    if (*tw < 1)
        *tw = 1;
    if (*th < 1)
        *th = 1;
}

static int
check_size (int w, int h, omr_err_t *err)
{
    if (w < 1 || h < 1 || w > BLZ_THUMB_MAX || h > BLZ_THUMB_MAX)
        return omr_err_set (err, OMR_E_API, 400, "thumbnail size %dx%d outside 1..%d", w, h, BLZ_THUMB_MAX);
    return 0;
}

/* Pack a 1-byte-per-pixel bit plane MSB first, as rnd planes of type bit are. */
static void *
pack_bits (const uint8_t *src, size_t n)
{
    uint8_t *out = calloc ((n + 7) / 8 + 1, 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (src[i])
            out[i >> 3] |= (uint8_t) (0x80 >> (i & 7));
    return out;
}

/* Area-average accumulation of rendered bands into a tw x th image, for levels at least as large
 * as the thumbnail on both axes: every source pixel adds its coverage of each destination pixel
 * (at most 2 x 2 of them, since a destination pixel spans >= 1 source pixel). */
typedef struct {
    int lw, lh, tw, th;
    double sx, sy;              /* source pixels per destination pixel */
    double *acc;                /* th x tw x 3 */
} accum_t;

static void
overlap (int x, double s, int n, int *j0, double *w0, double *w1)
{
    *j0 = (int) (x / s);
    if (*j0 >= n)
        *j0 = n - 1;
    double edge = (*j0 + 1) * s;
    *w0 = (x + 1 <= edge || *j0 + 1 >= n) ? 1.0 : edge - x;
    *w1 = 1.0 - *w0;
}

static void
accum_band (accum_t *a, const uint8_t *band, int y0, int bh)
{
    for (int y = 0; y < bh; y++) {
        int i0;
        double v0, v1;
        overlap (y0 + y, a->sy, a->th, &i0, &v0, &v1);
        const uint8_t *row = band + (size_t) y * a->lw * 3;
        for (int x = 0; x < a->lw; x++) {
            int j0;
            double w0, w1;
            overlap (x, a->sx, a->tw, &j0, &w0, &w1);
            for (int k = 0; k < 3; k++) {
                double p = row[(size_t) x * 3 + k];
                double *d = a->acc + ((size_t) i0 * a->tw + j0) * 3 + k;
                d[0] += v0 * w0 * p;
                if (w1 > 0)
                    d[3] += v0 * w1 * p;
                if (v1 > 0) {
                    d[(size_t) a->tw * 3] += v1 * w0 * p;
                    if (w1 > 0)
                        d[(size_t) a->tw * 3 + 3] += v1 * w1 * p;
                }
            }
        }
    }
}

/* Render the default plane of the pixels with settings s, from the smallest resolution level
 * at least tw x th, and scale it to tw x th RGB (area average). */
static int
render_thumb (blz_app_t *app, blz_db_t *db, int64_t pixels_id, const rnd_settings_t *s, int tw, int th, uint8_t *rgb,
              omr_err_t *err)
{
    blz_pixels_t px;
    if (blz_pixels_open (app, db, pixels_id, &px, err) < 0)
        return -1;
    const fmt_image_t *im = px.image;
    int level = 0;
    for (int k = 0; k < im->level_count; k++) {
        const fmt_level_t *l = &im->levels[k];
        if ((int) l->size_x >= tw && (int) l->size_y >= th
            && (uint64_t) l->size_x * l->size_y < (uint64_t) im->levels[level].size_x * im->levels[level].size_y)
            level = k;
    }
    int lw = (int) im->levels[level].size_x, lh = (int) im->levels[level].size_y;
    bool banded = (uint64_t) lw * lh > THUMB_WHOLE_PIXELS && lw >= tw && lh >= th;
    int band_h = lh;
    if (banded) {
        band_h = (int) (THUMB_BAND_PIXELS / (uint64_t) lw);
        if (band_h < 1)
            band_h = 1;
        if (band_h > lh)
            band_h = lh;
    }
    rnd_settings_t *use = rnd_settings_copy (s, err);
    double *gmin = NULL, *gmax = NULL;
    int n = s->n_channels, rc = -1;
    rnd_plane_t *planes = calloc ((size_t) n, sizeof *planes);
    void **bufs = calloc ((size_t) n, sizeof (void *));
    uint8_t *band = NULL;
    accum_t acc = {.lw = lw, .lh = lh, .tw = tw, .th = th, .sx = (double) lw / tw, .sy = (double) lh / th};
    size_t bytes = fmt_image_region_bytes (im, (uint32_t) lw, (uint32_t) band_h);
    if (!use || !planes || !bufs) {
        if (use)
            omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        goto out;
    }
    if (n != (int) im->size_c) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "settings have %d channels, the image %u", n, im->size_c);
        goto out;
    }
    if (use->model == RND_MODEL_GREYSCALE) {
        /* only the first active channel is shown: read no other */
        bool seen = false;
        for (int c = 0; c < n; c++) {
            if (use->channels[c].active && seen)
                use->channels[c].active = false;
            seen = seen || use->channels[c].active;
        }
    }
    if (blz_rdef_stats (db, pixels_id, n, &gmin, &gmax, err) < 0)
        goto out;
    rnd_ptype_t type;
    if (rnd_ptype_parse (fmt_pixtype_name (im->pixel_type), &type, err) < 0)
        goto out;
    band = malloc ((size_t) lw * band_h * 3);
    if (banded)
        acc.acc = calloc ((size_t) tw * th * 3, sizeof (double));
    if (!bytes || !band || (banded && !acc.acc)) {
        omr_err_set (err, OMR_E_RESOURCE, 413, "Pixels:%lld: no memory for a %dx%d thumbnail source", (long long) pixels_id,
                     lw, band_h);
        goto out;
    }
    for (int c = 0; c < n; c++)
        if (use->channels[c].active && !(bufs[c] = malloc (bytes))) {
            omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
            goto out;
        }
    for (int y0 = 0; y0 < lh; y0 += band_h) {
        int bh = lh - y0 < band_h ? lh - y0 : band_h;
        for (int c = 0; c < n; c++) {
            planes[c] = (rnd_plane_t) {.type = type, .size_x = lw, .size_y = bh, .data = NULL};
            if (!bufs[c])
                continue;
            if (fmt_fileset_read_region (px.set, px.series, level, (uint32_t) use->default_z, (uint32_t) c,
                                         (uint32_t) use->default_t, 0, (uint32_t) y0, (uint32_t) lw, (uint32_t) bh, bufs[c],
                                         bytes, err) < 0)
                goto out;
            if (type == RND_BIT) {
                /* the packed raster is never longer than the bytes read: copy it back */
                void *p = pack_bits (bufs[c], (size_t) lw * bh);
                if (!p) {
                    omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
                    goto out;
                }
                memcpy (bufs[c], p, ((size_t) lw * bh + 7) / 8);
                free (p);
            }
            planes[c].data = bufs[c];
        }
        rnd_render_req_t req = {.settings = use, .planes = planes, .global_min = gmin, .global_max = gmax, .threads = 0};
        if (rnd_render (&req, band, err) < 0)
            goto out;
        if (banded)
            accum_band (&acc, band, y0, bh);
        else if (rnd_scale_rgb (band, lw, lh, rgb, tw, th, err) < 0)
            goto out;
    }
    if (banded) {
        double norm = 1.0 / (acc.sx * acc.sy);
        for (size_t i = 0; i < (size_t) tw * th * 3; i++) {
            double v = floor (acc.acc[i] * norm + 0.5);
            rgb[i] = (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    rc = 0;
out:
    for (int c = 0; bufs && c < n; c++)
        free (bufs[c]);
    free (bufs);
    free (planes);
    free (band);
    free (acc.acc);
    free (gmin);
    free (gmax);
    rnd_settings_destroy (&use);
    blz_pixels_close (&px);
    return rc;
}

/* Sizes and group of the pixels (NotFoundException when the caller cannot read them). */
static int
pixels_size (blz_db_t *db, int64_t pixels_id, int *sx, int *sy, int64_t *group, omr_err_t *err)
{
    char ps[24];
    PGresult *r = blz_db_query (db, err, "SELECT sizex, sizey, group_id FROM pixels WHERE id = $1::int8",
                                BLZ_P (BLZ_I64 (ps, pixels_id)));
    if (!r)
        return -1;
    if (!PQntuples (r)) {
        PQclear (r);
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no readable Pixels:%s", ps);
    }
    *sx = atoi (PQgetvalue (r, 0, 0));
    *sy = atoi (PQgetvalue (r, 0, 1));
    *group = atoll (PQgetvalue (r, 0, 2));
    PQclear (r);
    return 0;
}

/* The text query parameters naming a thumbnail row: ref ("RenderingDef:<rd>", or "defaults" when
 * rd < 0; 48 bytes), the width and the height (16 bytes each). */
static void
thumb_key (int64_t rd, int tw, int th, char ref[48], char ws[16], char hs[16])
{
    if (rd >= 0)
        snprintf (ref, 48, "RenderingDef:%lld", (long long) rd);
    else
        snprintf (ref, 48, "defaults");
    snprintf (ws, 16, "%d", tw);
    snprintf (hs, 16, "%d", th);
}

/* The thumbnail of tw x th (already fitted) for the caller's current settings: the cached
 * file when its row's version matches the settings', else made now (row inserted or its
 * version updated, file rewritten). *made tells which. */
static int
thumb_fitted (blz_app_t *app, blz_db_t *db, int64_t pixels_id, int tw, int th, uint8_t **jpeg, size_t *len,
              bool *made, omr_err_t *err)
{
    *jpeg = NULL;
    *len = 0;
    if (made)
        *made = false;
    int64_t rd = -1, version = 0;
    if (blz_rdef_current (db, pixels_id, &rd, &version, err) < 0)
        return -1;
    char ref[48], ps[24], ws[16], hs[16];
    thumb_key (rd, tw, th, ref, ws, hs);
    BLZ_I64 (ps, pixels_id);
    PGresult *r = blz_db_query (db, err,
                                "SELECT id, coalesce(version, 0) FROM thumbnail WHERE pixels = $1::int8 AND sizex = "
                                "$2::int4 AND sizey = $3::int4 AND ref = $4 ORDER BY id DESC LIMIT 1",
                                BLZ_P (ps, ws, hs, ref));
    if (!r)
        return -1;
    int64_t tid = PQntuples (r) ? atoll (PQgetvalue (r, 0, 0)) : -1;
    int64_t tver = PQntuples (r) ? atoll (PQgetvalue (r, 0, 1)) : -1;
    PQclear (r);
    char *path = NULL;
    if (tid >= 0 && tver == version) {
        path = thumb_path (app, tid);
        if (path && read_file (path, jpeg, len) == 0) {
            free (path);
            return 0;
        }
        free (path);
        path = NULL;
    }
    /* make it */
    rnd_settings_t *s = NULL;
    int64_t used = -1;
    uint8_t *rgb = malloc ((size_t) tw * th * 3);
    if (!rgb)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    int rc = blz_rdef_load (app, db, pixels_id, &s, &used, err);
    if (rc == 0)
        rc = render_thumb (app, db, pixels_id, s, tw, th, rgb, err);
    if (rc == 0)
        rc = rnd_encode_jpeg (rgb, tw, th, THUMB_QUALITY, jpeg, len, err);
    free (rgb);
    rnd_settings_destroy (&s);
    if (rc < 0)
        return -1;
    char vs[24], ts[24];
    BLZ_I64 (vs, version);
    if (tid < 0) {
        int64_t ev = blz_db_event (db, err);
        char evs[24];
        r = ev < 0 ? NULL
                   : blz_db_query (db, err,
                                   "INSERT INTO thumbnail (id, permissions, owner_id, group_id, creation_id, update_id, "
                                   "version, mimetype, pixels, ref, sizex, sizey) SELECT nextval('seq_thumbnail'), "
                                   "g.permissions, _omero_uid(), p.group_id, $5::int8, $5::int8, $6::int4, 'image/jpeg', "
                                   "p.id, $4, $2::int4, $3::int4 FROM pixels p JOIN experimentergroup g ON g.id = "
                                   "p.group_id WHERE p.id = $1::int8 RETURNING id",
                                   BLZ_P (ps, ws, hs, ref, BLZ_I64 (evs, ev), vs));
        if (!r)
            goto fail;
        tid = PQntuples (r) ? atoll (PQgetvalue (r, 0, 0)) : -1;
        PQclear (r);
        if (tid < 0) {
            omr_err_set (err, OMR_E_INTERNAL, 500, "insert into thumbnail returned no id");
            goto fail;
        }
        if (blz_db_log (db, "INSERT", "ome.model.display.Thumbnail", tid, err) < 0)
            goto fail;
    } else {
        int64_t ev = blz_db_event (db, err);
        char evs[24];
        if (ev < 0
            || blz_db_exec (db, err, "UPDATE thumbnail SET version = $2::int4, update_id = $3::int8 WHERE id = $1::int8",
                            BLZ_P (BLZ_I64 (ts, tid), vs, BLZ_I64 (evs, ev))) < 0)
            goto fail;
    }
    path = thumb_path (app, tid);
    if (!path) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        goto fail;
    }
    if (write_file (path, *jpeg, *len, err) < 0) {
        free (path);
        goto fail;
    }
    free (path);
    if (made)
        *made = true;
    return 0;
fail:
    free (*jpeg);
    *jpeg = NULL;
    *len = 0;
    return -1;
}

/* The thumbnail fitting w x h, or by longest side w when longest; *tw, *th get its size. */
static int
thumb_sized (blz_app_t *app, blz_db_t *db, int64_t pixels_id, bool longest, int w, int h, uint8_t **jpeg, size_t *len,
             int *tw, int *th, bool *made, omr_err_t *err)
{
    int sx, sy;
    int64_t group;
    *jpeg = NULL;
    *len = 0;
    if (check_size (w, h, err) < 0 || pixels_size (db, pixels_id, &sx, &sy, &group, err) < 0)
        return -1;
    if (longest) {
        if (rnd_thumbnail_size (sx, sy, w, tw, th, err) < 0)
            return -1;
    } else
        fit_size (sx, sy, w, h, tw, th);
    return thumb_fitted (app, db, pixels_id, *tw, *th, jpeg, len, made, err);
}

int
blz_thumb_get (blz_app_t *app, blz_db_t *db, int64_t pixels_id, int w, int h, uint8_t **jpeg, size_t *len,
               omr_err_t *err)
{
    int tw, th;
    return thumb_sized (app, db, pixels_id, false, w, h, jpeg, len, &tw, &th, NULL, err);
}

int
blz_thumb_get_longest (blz_app_t *app, blz_db_t *db, int64_t pixels_id, int size, uint8_t **jpeg, size_t *len,
                       omr_err_t *err)
{
    int tw, th;
    return thumb_sized (app, db, pixels_id, true, size, size, jpeg, len, &tw, &th, NULL, err);
}

/* Whether an entry's error only concerns that entry (the transaction is still usable). */
static bool
entry_error (const omr_err_t *e)
{
    return !strcmp (e->name, OMR_E_NOTFOUND) || !strcmp (e->name, OMR_E_RESOURCE);
}

int
blz_thumb_get_many (blz_app_t *app, blz_db_t *db, blz_thumb_t *items, int n, bool longest, int w, int h,
                    omr_err_t *err)
{
    if (check_size (w, h, err) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        items[i].jpeg = NULL;
        items[i].len = 0;
        items[i].size_x = items[i].size_y = 0;
        items[i].err = (omr_err_t) {0};
    }
    if (n <= 0)
        return 0;
    /* the id array literal: {1,2,3} */
    size_t room = (size_t) n * 21 + 3, used = 0;
    char *arr = malloc (room);
    if (!arr)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    arr[used++] = '{';
    for (int i = 0; i < n; i++)
        used += (size_t) snprintf (arr + used, room - used, "%s%lld", i ? "," : "", (long long) items[i].pixels_id);
    snprintf (arr + used, room - used, "}");
    /* 1: sizes and the settings each thumbnail is made from (the caller's own, else the owner's) */
    PGresult *r = blz_db_query (db, err,
                                "SELECT p.id, p.sizex, p.sizey, r.id, coalesce(r.version, 0) FROM pixels p JOIN image i ON "
                                "i.id = p.image LEFT JOIN LATERAL (SELECT d.id, d.version FROM renderingdef d WHERE "
                                "d.pixels = p.id AND (d.owner_id = _omero_uid() OR d.owner_id = i.owner_id) ORDER BY "
                                "(d.owner_id = _omero_uid()) DESC, d.id DESC LIMIT 1) r ON true WHERE p.id = ANY ($1::int8[])",
                                BLZ_P (arr));
    PGresult *t = r ? blz_db_query (db, err,
                                    "SELECT DISTINCT ON (pixels, sizex, sizey, ref) pixels, sizex, sizey, ref, id, "
                                    "coalesce(version, 0) FROM thumbnail WHERE pixels = ANY ($1::int8[]) ORDER BY pixels, "
                                    "sizex, sizey, ref, id DESC",
                                    BLZ_P (arr))
                    : NULL;
    free (arr);
    if (!r || !t) {
        if (r)
            PQclear (r);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        blz_thumb_t *it = &items[i];
        int row = -1;
        for (int k = 0; k < PQntuples (r) && row < 0; k++)
            if (atoll (PQgetvalue (r, k, 0)) == it->pixels_id)
                row = k;
        if (row < 0) {
            omr_err_set (&it->err, OMR_E_NOTFOUND, 404, "no readable Pixels:%lld", (long long) it->pixels_id);
            continue;
        }
        int sx = atoi (PQgetvalue (r, row, 1)), sy = atoi (PQgetvalue (r, row, 2));
        if (longest) {
            if (rnd_thumbnail_size (sx, sy, w, &it->size_x, &it->size_y, &it->err) < 0)
                continue;
        } else
            fit_size (sx, sy, w, h, &it->size_x, &it->size_y);
        char ref[48];
        if (PQgetisnull (r, row, 3))
            snprintf (ref, sizeof ref, "defaults");
        else
            snprintf (ref, sizeof ref, "RenderingDef:%s", PQgetvalue (r, row, 3));
        int64_t version = atoll (PQgetvalue (r, row, 4));
        for (int k = 0; k < PQntuples (t); k++) {
            if (atoll (PQgetvalue (t, k, 0)) != it->pixels_id || atoi (PQgetvalue (t, k, 1)) != it->size_x
                || atoi (PQgetvalue (t, k, 2)) != it->size_y || strcmp (PQgetvalue (t, k, 3), ref)
                || atoll (PQgetvalue (t, k, 5)) != version)
                continue;
            char *path = thumb_path (app, atoll (PQgetvalue (t, k, 4)));
            if (path && read_file (path, &it->jpeg, &it->len) < 0)
                it->jpeg = NULL;
            free (path);
            break;
        }
    }
    PQclear (r);
    PQclear (t);
    /* 2: whatever is not cached is made one by one */
    for (int i = 0; i < n; i++) {
        blz_thumb_t *it = &items[i];
        if (it->jpeg || it->err.name[0])
            continue;
        if (thumb_fitted (app, db, it->pixels_id, it->size_x, it->size_y, &it->jpeg, &it->len, NULL, &it->err) < 0
            && !entry_error (&it->err)) {
            *err = it->err;
            return -1;
        }
    }
    return 0;
}

int
blz_thumb_import_image (blz_app_t *app, blz_db_t *db, int64_t image_id, bool make_thumbnail, omr_err_t *err)
{
    char is[24];
    PGresult *r = blz_db_query (db, err, "SELECT id FROM pixels WHERE image = $1::int8 ORDER BY id",
                                BLZ_P (BLZ_I64 (is, image_id)));
    if (!r)
        return -1;
    int n = PQntuples (r);
    int64_t *ids = calloc ((size_t) n + 1, sizeof *ids);
    for (int i = 0; ids && i < n; i++)
        ids[i] = atoll (PQgetvalue (r, i, 0));
    PQclear (r);
    if (!ids)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        rnd_settings_t *s = NULL;
        int64_t rd = -1, version = 0;
        rc = blz_rdef_current (db, ids[i], &rd, &version, err);
        if (rc == 0 && rd < 0) {
            rc = blz_rdef_defaults (db, ids[i], &s, err);
            if (rc == 0)
                rc = blz_rdef_save (app, db, ids[i], s, err);
            rnd_settings_destroy (&s);
        }
        if (rc == 0 && make_thumbnail) {
            uint8_t *jpeg = NULL;
            size_t len = 0;
            omr_err_t e = {0};
            /* a thumbnail that cannot be made from the file does not fail the import; clients
             * get the error when they ask for it */
            if (blz_thumb_get_longest (app, db, ids[i], BLZ_THUMB_DEFAULT, &jpeg, &len, &e) < 0) {
                if (!strcmp (e.name, OMR_E_RESOURCE) || !strcmp (e.name, OMR_E_VALIDATION))
                    omr_warn ("Image:%s: no thumbnail: %s", is, e.msg);
                else {
                    *err = e;
                    rc = -1;
                }
            }
            free (jpeg);
        }
    }
    free (ids);
    return rc;
}

/* ------------------------------------------------------------------ RPC */

typedef struct {
    blz_app_t *app;
    blz_db_t *db;
} req_t;

static int
begin (blz_app_t *app, omr_call_t *call, req_t *q, omr_err_t *err)
{
    blz_ctx_t ctx;
    q->app = app;
    q->db = blz_app_db (app, call);
    if (blz_call_ctx (call, &ctx, err) < 0)
        return -1;
    return blz_db_begin (q->db, &ctx, err);
}

/* A size argument: absent -> fallback; present but not a positive integer up to the maximum -> 400. */
static int
arg_size (const json_t *body, const char *key, int fallback, int *out, omr_err_t *err)
{
    json_t *v = json_object_get (body, key);
    if (!v || json_is_null (v)) {
        *out = fallback;
        return 0;
    }
    if (!json_is_integer (v) || json_integer_value (v) < 1 || json_integer_value (v) > BLZ_THUMB_MAX)
        return omr_err_set (err, OMR_E_API, 400, "%s must be an integer in 1..%d", key, BLZ_THUMB_MAX);
    *out = (int) json_integer_value (v);
    return 0;
}

static int
arg_pixels (const json_t *body, int64_t *out, omr_err_t *err)
{
    *out = blz_int (body, "pixelsId", blz_int (body, "id", -1));
    if (*out < 0)
        return omr_err_set (err, OMR_E_API, 400, "pixelsId missing or not a non-negative integer");
    return 0;
}

/* The sizes a request asks for: by longest side (size) or fitting sizeX x sizeY. */
static int
arg_sizes (const char *m, const json_t *body, bool *longest, int *w, int *h, omr_err_t *err)
{
    *longest = strstr (m, "LongestSide") != NULL;
    if (*longest) {
        if (arg_size (body, "size", BLZ_THUMB_DEFAULT, w, err) < 0)
            return -1;
        *h = *w;
        return 0;
    }
    if (arg_size (body, "sizeX", BLZ_THUMB_DEFAULT, w, err) < 0 || arg_size (body, "sizeY", BLZ_THUMB_DEFAULT, h, err) < 0)
        return -1;
    return 0;
}

/* getThumbnail {pixelsId, sizeX, sizeY} / getThumbnailByLongestSide {pixelsId, size}: the JPEG
 * as raw frame 0, {pixelsId, sizeX, sizeY, mimeType, length} as the reply. */
static int
op_get (omr_call_t *call, omr_err_t *err, void *arg)
{
    const char *m = strchr (omr_msg_op (call->req), '.') + 1;
    const json_t *body = call->req->body;
    int64_t pid;
    bool longest;
    int w, h, tw = 0, th = 0;
    if (arg_pixels (body, &pid, err) < 0 || arg_sizes (m, body, &longest, &w, &h, err) < 0)
        return -1;
    req_t q;
    if (begin (arg, call, &q, err) < 0)
        return -1;
    uint8_t *jpeg = NULL;
    size_t len = 0;
    if (thumb_sized (q.app, q.db, pid, longest, w, h, &jpeg, &len, &tw, &th, NULL, err) < 0
        || blz_db_commit (q.db, err) < 0) {
        blz_db_rollback (q.db);
        free (jpeg);
        return -1;
    }
    omr_call_add_raw (call, jpeg, len);
    call->reply = json_pack ("{s:I, s:i, s:i, s:s, s:I}", "pixelsId", (json_int_t) pid, "sizeX", tw, "sizeY", th,
                             "mimeType", "image/jpeg", "length", (json_int_t) len);
    free (jpeg);
    return 0;
}

/* The pixelsIds list of a set request (at most THUMB_SET_MAX non-negative integers). */
static int
arg_pixels_list (const json_t *body, json_t **out, omr_err_t *err)
{
    json_t *ids = json_object_get (body, "pixelsIds");
    if (!json_is_array (ids))
        return omr_err_set (err, OMR_E_API, 400, "pixelsIds missing or not a list");
    if (json_array_size (ids) > THUMB_SET_MAX)
        return omr_err_set (err, OMR_E_API, 400, "at most %d pixelsIds a call", THUMB_SET_MAX);
    size_t i;
    json_t *v;
    json_array_foreach (ids, i, v) if (!json_is_integer (v) || json_integer_value (v) < 0)
        return omr_err_set (err, OMR_E_API, 400, "pixelsIds must be non-negative integers");
    *out = ids;
    return 0;
}

/* Base64 of data (new JSON string). */
static json_t *
b64_json (const uint8_t *data, size_t len)
{
    char *out = malloc (4 * ((len + 2) / 3) + 1);
    if (!out)
        return json_null ();
    EVP_EncodeBlock ((unsigned char *) out, data, (int) len);
    json_t *j = json_string (out);
    free (out);
    return j;
}

/* getThumbnailSet {pixelsIds, sizeX, sizeY} / getThumbnailByLongestSideSet {pixelsIds, size}:
 * {"thumbnails": {"<pixelsId>": {offset, length, sizeX, sizeY}}, "errors": {"<pixelsId>": msg}}
 * with every JPEG concatenated in raw frame 0; with "encoding": "base64" each entry carries
 * "data" (base64) instead of offset and there is no raw frame. Pixels that cannot be read are
 * left out of "thumbnails" and named in "errors", as OMERO leaves them out of its map. */
static int
op_get_set (omr_call_t *call, omr_err_t *err, void *arg)
{
    const char *m = strchr (omr_msg_op (call->req), '.') + 1;
    const json_t *body = call->req->body;
    json_t *ids;
    bool longest;
    int w, h;
    const char *enc = blz_str (body, "encoding");
    if (enc && strcmp (enc, "base64") && strcmp (enc, "raw"))
        return omr_err_set (err, OMR_E_API, 400, "encoding must be raw or base64");
    bool b64 = enc && !strcmp (enc, "base64");
    if (arg_pixels_list (body, &ids, err) < 0 || arg_sizes (m, body, &longest, &w, &h, err) < 0)
        return -1;
    req_t q;
    if (begin (arg, call, &q, err) < 0)
        return -1;
    json_t *thumbs = json_object (), *errors = json_object ();
    uint8_t *all = NULL;
    size_t total = 0;
    size_t i;
    json_t *v;
    int n = 0, rc = 0;
    blz_thumb_t *items = calloc (json_array_size (ids) + 1, sizeof *items);
    if (!items)
        rc = omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    json_array_foreach (ids, i, v) if (items)
    {
        int64_t pid = json_integer_value (v);
        bool dup = false;
        for (int k = 0; k < n && !dup; k++)
            dup = items[k].pixels_id == pid;
        if (!dup)
            items[n++].pixels_id = pid;
    }
    if (rc == 0)
        rc = blz_thumb_get_many (q.app, q.db, items, n, longest, w, h, err);
    for (int k = 0; rc == 0 && k < n; k++) {
        blz_thumb_t *it = &items[k];
        char key[24];
        BLZ_I64 (key, it->pixels_id);
        if (!it->jpeg) {
            json_object_set_new (errors, key, json_string (it->err.msg));
            continue;
        }
        if (b64)
            json_object_set_new (thumbs, key, json_pack ("{s:o, s:I, s:i, s:i}", "data", b64_json (it->jpeg, it->len),
                                                         "length", (json_int_t) it->len, "sizeX", it->size_x, "sizeY",
                                                         it->size_y));
        else {
            uint8_t *grown = realloc (all, total + it->len);
            if (!grown) {
                rc = omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
                break;
            }
            all = grown;
            memcpy (all + total, it->jpeg, it->len);
            json_object_set_new (thumbs, key, json_pack ("{s:I, s:I, s:i, s:i}", "offset", (json_int_t) total, "length",
                                                         (json_int_t) it->len, "sizeX", it->size_x, "sizeY", it->size_y));
            total += it->len;
        }
    }
    for (int k = 0; items && k < n; k++)
        free (items[k].jpeg);
    free (items);
    if (rc < 0 || blz_db_commit (q.db, err) < 0) {
        blz_db_rollback (q.db);
        free (all);
        json_decref (thumbs);
        json_decref (errors);
        return -1;
    }
    if (!b64)
        omr_call_add_raw (call, all ? all : (const uint8_t *) "", total);
    free (all);
    call->reply = json_pack ("{s:o, s:o, s:s}", "thumbnails", thumbs, "errors", errors, "mimeType", "image/jpeg");
    return 0;
}

/* thumbnailExists {pixelsId, sizeX?, sizeY?}: whether a thumbnail of that size made from the
 * caller's current settings is stored. */
static int
op_exists (omr_call_t *call, omr_err_t *err, void *arg)
{
    const json_t *body = call->req->body;
    int64_t pid;
    bool longest;
    int w, h, sx, sy, tw, th;
    int64_t group, rd = -1, version = 0;
    if (arg_pixels (body, &pid, err) < 0 || arg_sizes ("thumbnailExists", body, &longest, &w, &h, err) < 0)
        return -1;
    req_t q;
    if (begin (arg, call, &q, err) < 0)
        return -1;
    int rc = pixels_size (q.db, pid, &sx, &sy, &group, err);
    if (rc == 0)
        rc = blz_rdef_current (q.db, pid, &rd, &version, err);
    bool exists = false;
    if (rc == 0) {
        fit_size (sx, sy, w, h, &tw, &th);
        char ref[48], ps[24], ws[16], hs[16], vs[24];
        thumb_key (rd, tw, th, ref, ws, hs);
        PGresult *r = blz_db_query (q.db, err,
                                    "SELECT id FROM thumbnail WHERE pixels = $1::int8 AND sizex = $2::int4 AND sizey = "
                                    "$3::int4 AND ref = $4 AND coalesce(version, 0) = $5::int4 ORDER BY id DESC LIMIT 1",
                                    BLZ_P (BLZ_I64 (ps, pid), ws, hs, ref, BLZ_I64 (vs, version)));
        if (!r)
            rc = -1;
        else {
            if (PQntuples (r)) {
                char *path = thumb_path (q.app, atoll (PQgetvalue (r, 0, 0)));
                struct stat st;
                exists = path && stat (path, &st) == 0;
                free (path);
            }
            PQclear (r);
        }
    }
    blz_db_rollback (q.db);
    if (rc < 0)
        return -1;
    call->reply = json_pack ("{s:b}", "value", exists);
    return 0;
}

/* createThumbnails {pixelsIds} / createThumbnailsByLongestSideSet {pixelsIds, size} /
 * createThumbnail {pixelsId, sizeX?, sizeY?}: make (or refresh) the thumbnails; the reply lists
 * the pixels ids done and the errors of the others. */
static int
op_create (omr_call_t *call, omr_err_t *err, void *arg)
{
    const char *m = strchr (omr_msg_op (call->req), '.') + 1;
    const json_t *body = call->req->body;
    json_t *ids = NULL, *one = NULL;
    bool longest;
    int w, h;
    if (!strcmp (m, "createThumbnail")) {
        int64_t pid;
        if (arg_pixels (body, &pid, err) < 0)
            return -1;
        ids = one = json_pack ("[I]", (json_int_t) pid);
    } else if (arg_pixels_list (body, &ids, err) < 0)
        return -1;
    if (!strcmp (m, "createThumbnails")) {
        longest = true;
        w = h = BLZ_THUMB_DEFAULT;
    } else if (arg_sizes (m, body, &longest, &w, &h, err) < 0) {
        json_decref (one);
        return -1;
    }
    req_t q;
    if (begin (arg, call, &q, err) < 0) {
        json_decref (one);
        return -1;
    }
    json_t *done = json_array (), *errors = json_object ();
    size_t i;
    json_t *v;
    int rc = 0;
    json_array_foreach (ids, i, v)
    {
        int64_t pid = json_integer_value (v);
        uint8_t *jpeg = NULL;
        size_t len = 0;
        int tw, th;
        omr_err_t e = {0};
        char key[24];
        if (thumb_sized (q.app, q.db, pid, longest, w, h, &jpeg, &len, &tw, &th, NULL, &e) < 0) {
            if (strcmp (e.name, OMR_E_NOTFOUND) && strcmp (e.name, OMR_E_RESOURCE)) {
                *err = e;
                rc = -1;
                break;
            }
            json_object_set_new (errors, BLZ_I64 (key, pid), json_string (e.msg));
        } else
            json_array_append_new (done, json_integer (pid));
        free (jpeg);
    }
    json_decref (one);
    if (rc < 0 || blz_db_commit (q.db, err) < 0) {
        blz_db_rollback (q.db);
        json_decref (done);
        json_decref (errors);
        return -1;
    }
    call->reply = json_pack ("{s:o, s:o}", "value", done, "errors", errors);
    return 0;
}

void
blz_thumb_register (blz_app_t *app)
{
    omr_server_t *s = app->server;
    omr_server_on (s, "ThumbnailStore.getThumbnail", op_get, app);
    omr_server_on (s, "ThumbnailStore.getThumbnailByLongestSide", op_get, app);
    omr_server_on (s, "ThumbnailStore.getThumbnailSet", op_get_set, app);
    omr_server_on (s, "ThumbnailStore.getThumbnailByLongestSideSet", op_get_set, app);
    omr_server_on (s, "ThumbnailStore.thumbnailExists", op_exists, app);
    omr_server_on (s, "ThumbnailStore.createThumbnail", op_create, app);
    omr_server_on (s, "ThumbnailStore.createThumbnails", op_create, app);
    omr_server_on (s, "ThumbnailStore.createThumbnailsByLongestSideSet", op_create, app);
}
