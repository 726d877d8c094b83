/* fileset.c: opening a fileset (format detection and dispatch to the readers), owning its
 * metadata, and serving region reads and min/max from the plane references the readers
 * recorded. */
#include "fileset_priv.h"
#include "detect.h"
#include "tiff_reader.h"
#include "ometiff.h"
#include "tiff_series.h"
#include "png_reader.h"
#include "jpeg_reader.h"
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *pixtype_names[] = { "int8", "uint8", "int16", "uint16", "int32", "uint32", "float", "double", "bit" };
static const int pixtype_sizes[] = { 1, 1, 2, 2, 4, 4, 4, 8, 1 };

const char *
fmt_pixtype_name (fmt_pixtype_t type)
{
    return (unsigned) type <= FMT_PT_BIT ? pixtype_names[type] : "unknown";
}

int
fmt_pixtype_bytes (fmt_pixtype_t type)
{
    return (unsigned) type <= FMT_PT_BIT ? pixtype_sizes[type] : 0;
}

int
fmt_pixtype_parse (const char *name, fmt_pixtype_t *type)
{
    for (int i = 0; i <= FMT_PT_BIT; i++)
        if (name && strcmp (name, pixtype_names[i]) == 0) {
            *type = (fmt_pixtype_t) i;
            return 0;
        }
    return -1;
}

const char *
fmt_basename (const char *path)
{
    const char *s = strrchr (path, '/');
    return s ? s + 1 : path;
}

int
fmt_order_valid (const char *order)
{
    if (!order || strlen (order) != 5 || order[0] != 'X' || order[1] != 'Y')
        return -1;
    if (!strchr (order + 2, 'Z') || !strchr (order + 2, 'C') || !strchr (order + 2, 'T'))
        return -1;
    return 0;
}

void
fmt_order_zct (const char *order, uint32_t Z, uint32_t C, uint32_t T, uint64_t index,
               uint32_t *z, uint32_t *c, uint32_t *t)
{
    for (int i = 2; i < 5; i++) {
        uint32_t n = order[i] == 'Z' ? Z : order[i] == 'C' ? C : T;
        uint32_t v = (uint32_t) (index % n);
        index /= n;
        if (order[i] == 'Z')
            *z = v;
        else if (order[i] == 'C')
            *c = v;
        else
            *t = v;
    }
}

void
fmt_quantity_set (fmt_quantity_t *q, double value, const char *unit)
{
    q->set = 1;
    q->value = value;
    snprintf (q->unit, sizeof q->unit, "%s", unit ? unit : "");
}

int
fmt_fileset_add_file (fmt_fileset_t *fs, const char *path, fmt_filekind_t kind, omr_err_t *err)
{
    for (int i = 0; i < fs->file_count; i++)
        if (strcmp (fs->files[i], path) == 0)
            return i;
    if (fs->file_count >= FMT_MAX_FILES)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: more than %d files in one fileset", path, FMT_MAX_FILES);
    int n = fs->file_count + 1;
    char **files = realloc (fs->files, n * sizeof *files);
    if (files)
        fs->files = files;
    fmt_filekind_t *kinds = realloc (fs->kinds, n * sizeof *kinds);
    if (kinds)
        fs->kinds = kinds;
    struct fmt_tiff **tiffs = realloc (fs->tiffs, n * sizeof *tiffs);
    if (tiffs)
        fs->tiffs = tiffs;
    uint64_t *last_use = realloc (fs->last_use, n * sizeof *last_use);
    if (last_use)
        fs->last_use = last_use;
    char *copy = strdup (path);
    if (!files || !kinds || !tiffs || !last_use || !copy) {
        free (copy);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", path);
    }
    fs->files[fs->file_count] = copy;
    fs->kinds[fs->file_count] = kind;
    fs->tiffs[fs->file_count] = NULL;
    fs->last_use[fs->file_count] = 0;
    return fs->file_count++;
}

fmt_image_t *
fmt_fileset_add_image (fmt_fileset_t *fs, fmt_imgsrc_t **src, omr_err_t *err)
{
    if (fs->image_count >= FMT_MAX_IMAGES) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "more than %d images in one fileset", FMT_MAX_IMAGES);
        return NULL;
    }
    int n = fs->image_count + 1;
    fmt_image_t *images = realloc (fs->images, n * sizeof *images);
    if (images)
        fs->images = images;
    fmt_imgsrc_t *srcs = realloc (fs->srcs, n * sizeof *srcs);
    if (srcs)
        fs->srcs = srcs;
    if (!images || !srcs) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        return NULL;
    }
    fmt_image_t *img = &fs->images[fs->image_count];
    memset (img, 0, sizeof *img);
    memset (&fs->srcs[fs->image_count], 0, sizeof fs->srcs[0]);
    img->instrument = -1;
    snprintf (img->dimension_order, sizeof img->dimension_order, "XYZCT");
    *src = &fs->srcs[fs->image_count];
    fs->image_count++;
    return img;
}

int
fmt_image_alloc (fmt_image_t *img, fmt_imgsrc_t *src, const char *file, omr_err_t *err)
{
    if (img->size_x == 0 || img->size_y == 0 || img->size_z == 0 || img->size_c == 0 || img->size_t == 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: image with a zero size (%ux%u, Z=%u C=%u T=%u)", file,
                            img->size_x, img->size_y, img->size_z, img->size_c, img->size_t);
    uint64_t planes = (uint64_t) img->size_z * img->size_c * img->size_t;
    if (planes > FMT_MAX_PLANES || img->size_c > 65536)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: %llu planes (Z=%u C=%u T=%u) is more than this reader accepts (%u)",
                            file, (unsigned long long) planes, img->size_z, img->size_c, img->size_t, FMT_MAX_PLANES);
    free (src->refs);
    src->refs = malloc (planes * sizeof *src->refs);
    if (!src->refs)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", file);
    for (uint64_t i = 0; i < planes; i++)
        src->refs[i] = (fmt_planeref_t) { .file = 0, .ifd = -1, .sample = 0 };
    if (!img->channels) {
        img->channels = calloc (img->size_c, sizeof *img->channels);
        if (!img->channels)
            return omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", file);
        for (uint32_t c = 0; c < img->size_c; c++)
            img->channels[c].samples_per_pixel = 1;
    }
    return 0;
}

size_t
fmt_image_ref_index (const fmt_image_t *img, uint32_t z, uint32_t c, uint32_t t)
{
    return z + (size_t) img->size_z * (c + (size_t) img->size_c * t);
}

int
fmt_image_set_levels (fmt_image_t *img, int n, omr_err_t *err)
{
    fmt_level_t *l = calloc (n, sizeof *l);
    if (!l)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    free (img->levels);
    img->levels = l;
    img->level_count = n;
    return 0;
}

int
fmt_image_add_kv (fmt_image_t *img, const char *key, const char *value)
{
    fmt_kv_t *kv = realloc (img->original, (img->original_count + 1) * sizeof *kv);
    if (!kv)
        return -1;
    img->original = kv;
    char *k = strdup (key), *v = strdup (value ? value : "");
    if (!k || !v) {
        free (k);
        free (v);
        return -1;
    }
    kv[img->original_count].key = k;
    kv[img->original_count].value = v;
    img->original_count++;
    return 0;
}

struct fmt_tiff *
fmt_fileset_tiff (fmt_fileset_t *fs, int file, omr_err_t *err)
{
    if (file < 0 || file >= fs->file_count || fs->kinds[file] != FMT_FILE_TIFF) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "file %d of the fileset is not a TIFF", file);
        return NULL;
    }
    if (!fs->tiffs[file]) {
        /* large multi-file sets: keep the number of open descriptors bounded */
        if (fs->open_count >= FMT_MAX_OPEN) {
            int lru = -1;
            for (int i = 0; i < fs->file_count; i++)
                if (fs->tiffs[i] && (lru < 0 || fs->last_use[i] < fs->last_use[lru]))
                    lru = i;
            if (lru >= 0) {
                fmt_tiff_close (&fs->tiffs[lru]);
                fs->open_count--;
            }
        }
        fs->tiffs[file] = fmt_tiff_open (fs->files[file], err);
        if (!fs->tiffs[file])
            return NULL;
        fs->open_count++;
    }
    fs->last_use[file] = ++fs->use_clock;
    return fs->tiffs[file];
}

static void
image_free (fmt_image_t *img, fmt_imgsrc_t *src)
{
    free (img->name);
    free (img->description);
    free (img->acquisition_date);
    for (uint32_t c = 0; img->channels && c < img->size_c; c++) {
        free (img->channels[c].name);
        free (img->channels[c].fluor);
    }
    free (img->channels);
    free (img->planes);
    free (img->levels);
    for (int i = 0; i < img->original_count; i++) {
        free (img->original[i].key);
        free (img->original[i].value);
    }
    free (img->original);
    free (src->refs);
    free (src->level_ifds);
}

void
fmt_fileset_destroy (fmt_fileset_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fmt_fileset_t *fs = *self_p;
    for (int i = 0; i < fs->image_count; i++)
        image_free (&fs->images[i], &fs->srcs[i]);
    free (fs->images);
    free (fs->srcs);
    for (int i = 0; i < fs->file_count; i++) {
        fmt_tiff_close (&fs->tiffs[i]);
        free (fs->files[i]);
    }
    free (fs->files);
    free (fs->kinds);
    free (fs->tiffs);
    free (fs->last_use);
    for (int i = 0; i < fs->instrument_count; i++) {
        fmt_instrument_t *in = &fs->instruments[i];
        free (in->id);
        for (int j = 0; j < in->objective_count; j++) {
            free (in->objectives[j].id);
            free (in->objectives[j].manufacturer);
            free (in->objectives[j].model);
            free (in->objectives[j].immersion);
        }
        free (in->objectives);
        for (int j = 0; j < in->detector_count; j++) {
            free (in->detectors[j].id);
            free (in->detectors[j].manufacturer);
            free (in->detectors[j].model);
            free (in->detectors[j].type);
        }
        free (in->detectors);
    }
    free (fs->instruments);
    free (fs->ome_xml);
    free (fs->format);
    free (fs);
    *self_p = NULL;
}

/* Every image must be usable by callers without further checks. */
static int
validate (fmt_fileset_t *fs, const char *path, omr_err_t *err)
{
    if (fs->image_count == 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: no image found", path);
    for (int i = 0; i < fs->image_count; i++) {
        fmt_image_t *img = &fs->images[i];
        if (!img->name && !(img->name = strdup (fmt_basename (path))))
            return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        if (!fs->srcs[i].refs || !img->channels)
            return omr_err_set (err, OMR_E_INTERNAL, 500, "%s: image %d was not set up", path, i);
        if (img->level_count == 0) {
            if (fmt_image_set_levels (img, 1, err) < 0)
                return -1;
            img->levels[0] = (fmt_level_t) { img->size_x, img->size_y, img->size_x, img->size_y };
        }
    }
    return 0;
}

fmt_fileset_t *
fmt_fileset_open (const char *path, omr_err_t *err)
{
    fmt_kind_t kind;
    omr_err_t local;
    if (!err)
        err = &local;   /* the readers copy errors around; give them somewhere to write */
    if (!path || !*path) {
        omr_err_set (err, OMR_E_API, 400, "no file path given");
        return NULL;
    }
    if (fmt_detect (path, &kind, err) < 0)
        return NULL;
    fmt_fileset_t *fs = calloc (1, sizeof *fs);
    if (!fs) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", path);
        return NULL;
    }
    int rc;
    switch (kind) {
    case FMT_KIND_TIFF:
        rc = fmt_ometiff_load (fs, path, 0, err);
        if (rc == 1)    /* not OME: a plain TIFF, ImageJ or SVS file */
            rc = fmt_tiff_series_load (fs, path, err);
        break;
    case FMT_KIND_OMEXML:
        rc = fmt_ometiff_load (fs, path, 1, err);
        if (rc == 1)
            rc = omr_err_set (err, OMR_E_VALIDATION, 400, "%s: XML file without OME images", path);
        break;
    case FMT_KIND_PNG:
        rc = fmt_png_load (fs, path, err);
        break;
    case FMT_KIND_JPEG:
        rc = fmt_jpeg_load (fs, path, err);
        break;
    default:
        rc = omr_err_set (err, OMR_E_VALIDATION, 400, "%s: unsupported format", path);
    }
    if (rc == 0)
        rc = validate (fs, path, err);
    if (rc != 0) {
        fmt_fileset_destroy (&fs);
        return NULL;
    }
    return fs;
}

const char *
fmt_fileset_format (const fmt_fileset_t *self)
{
    return self->format ? self->format : "unknown";
}

int
fmt_fileset_file_count (const fmt_fileset_t *self)
{
    return self->file_count;
}

const char *
fmt_fileset_file (const fmt_fileset_t *self, int i)
{
    return i >= 0 && i < self->file_count ? self->files[i] : NULL;
}

int
fmt_fileset_image_count (const fmt_fileset_t *self)
{
    return self->image_count;
}

const fmt_image_t *
fmt_fileset_image (const fmt_fileset_t *self, int i)
{
    return i >= 0 && i < self->image_count ? &self->images[i] : NULL;
}

int
fmt_fileset_instrument_count (const fmt_fileset_t *self)
{
    return self->instrument_count;
}

const fmt_instrument_t *
fmt_fileset_instrument (const fmt_fileset_t *self, int i)
{
    return i >= 0 && i < self->instrument_count ? &self->instruments[i] : NULL;
}

int
fmt_fileset_image_uses_file (const fmt_fileset_t *self, int image, int file)
{
    if (image < 0 || image >= self->image_count || file < 0 || file >= self->file_count)
        return 0;
    if (self->kinds[file] == FMT_FILE_XML || (self->ome_xml && file == 0))
        return 1;   /* the file the whole fileset's metadata comes from */
    const fmt_image_t *img = &self->images[image];
    size_t n = (size_t) img->size_z * img->size_c * img->size_t;
    for (size_t i = 0; i < n; i++)
        if (self->srcs[image].refs[i].ifd >= 0 && self->srcs[image].refs[i].file == file)
            return 1;
    return 0;
}

const char *
fmt_fileset_ome_xml (const fmt_fileset_t *self)
{
    return self->ome_xml;
}

size_t
fmt_image_region_bytes (const fmt_image_t *image, uint32_t w, uint32_t h)
{
    return (size_t) w * h * fmt_pixtype_bytes (image->pixel_type);
}

static int
read_tiff (fmt_fileset_t *fs, int image, int level, const fmt_planeref_t *ref,
           uint32_t x, uint32_t y, uint32_t w, uint32_t h, void *buf, omr_err_t *err)
{
    const fmt_image_t *img = &fs->images[image];
    const fmt_imgsrc_t *src = &fs->srcs[image];
    fmt_tiff_t *tif = fmt_fileset_tiff (fs, ref->file, err);
    if (!tif)
        return -1;
    int rc;
    if (level == 0 || src->level_kind == FMT_LEVELS_NONE)
        rc = fmt_tiff_select (tif, ref->ifd, 0, err);
    else if (src->level_kind == FMT_LEVELS_SUBIFD)
        rc = fmt_tiff_select (tif, ref->ifd, level, err);
    else
        rc = fmt_tiff_select (tif, src->level_ifds[level], 0, err);
    if (rc < 0)
        return -1;
    fmt_tiffdir_t d;
    if (fmt_tiff_dir (tif, &d, err) < 0)
        return -1;
    /* the metadata and the IFD must agree, or the copy would not fit the caller's buffer */
    const fmt_level_t *lv = &img->levels[level];
    if (!d.pixtype_ok || d.pixtype != img->pixel_type || d.width != lv->size_x || d.height != lv->size_y)
        return omr_err_set (err, OMR_E_VALIDATION, 400,
                            "%s: IFD %lld is %ux%u %s but the metadata says %ux%u %s", fs->files[ref->file],
                            (long long) ref->ifd, d.width, d.height, d.pixtype_ok ? fmt_pixtype_name (d.pixtype) : "(no OMERO type)",
                            lv->size_x, lv->size_y, fmt_pixtype_name (img->pixel_type));
    if (ref->raw_offset)
        return fmt_tiff_read_raw (tif, ref->raw_offset, ref->sample, x, y, w, h, buf, err);
    return fmt_tiff_read_region (tif, ref->sample, x, y, w, h, buf, err);
}

int
fmt_fileset_read_region (fmt_fileset_t *self, int image, int level, uint32_t z, uint32_t c, uint32_t t,
                         uint32_t x, uint32_t y, uint32_t w, uint32_t h, void *buf, size_t buf_size, omr_err_t *err)
{
    if (image < 0 || image >= self->image_count)
        return omr_err_set (err, OMR_E_API, 400, "image %d out of range (fileset has %d)", image, self->image_count);
    const fmt_image_t *img = &self->images[image];
    if (level < 0 || level >= img->level_count)
        return omr_err_set (err, OMR_E_API, 400, "resolution level %d out of range (image has %d)", level, img->level_count);
    if (z >= img->size_z || c >= img->size_c || t >= img->size_t)
        return omr_err_set (err, OMR_E_API, 400, "plane z=%u c=%u t=%u outside Z=%u C=%u T=%u", z, c, t,
                            img->size_z, img->size_c, img->size_t);
    const fmt_level_t *lv = &img->levels[level];
    if (w == 0 || h == 0 || (uint64_t) x + w > lv->size_x || (uint64_t) y + h > lv->size_y)
        return omr_err_set (err, OMR_E_API, 400, "region %u,%u %ux%u outside the %ux%u plane", x, y, w, h,
                            lv->size_x, lv->size_y);
    if (!buf || buf_size < fmt_image_region_bytes (img, w, h))
        return omr_err_set (err, OMR_E_API, 400, "buffer of %zu bytes too small for a %zu-byte region", buf_size,
                            fmt_image_region_bytes (img, w, h));
    const fmt_planeref_t *ref = &self->srcs[image].refs[fmt_image_ref_index (img, z, c, t)];
    if (ref->ifd < 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: plane z=%u c=%u t=%u of image %d is not stored in any file",
                            self->files[ref->file], z, c, t, image);
    switch (self->kinds[ref->file]) {
    case FMT_FILE_TIFF:
        return read_tiff (self, image, level, ref, x, y, w, h, buf, err);
    case FMT_FILE_PNG:
        return fmt_png_read_region (self->files[ref->file], img, ref->sample, x, y, w, h, buf, err);
    case FMT_FILE_JPEG:
        return fmt_jpeg_read_region (self->files[ref->file], img, ref->sample, x, y, w, h, buf, err);
    default:
        return omr_err_set (err, OMR_E_INTERNAL, 500, "%s: holds no pixels", self->files[ref->file]);
    }
}

static double
sample_at (const uint8_t *p, fmt_pixtype_t pt)
{
    switch (pt) {
    case FMT_PT_INT8: return *(const int8_t *) p;
    case FMT_PT_UINT8: case FMT_PT_BIT: return *p;
    case FMT_PT_INT16: { int16_t v; memcpy (&v, p, 2); return v; }
    case FMT_PT_UINT16: { uint16_t v; memcpy (&v, p, 2); return v; }
    case FMT_PT_INT32: { int32_t v; memcpy (&v, p, 4); return v; }
    case FMT_PT_UINT32: { uint32_t v; memcpy (&v, p, 4); return v; }
    case FMT_PT_FLOAT: { float v; memcpy (&v, p, 4); return v; }
    case FMT_PT_DOUBLE: { double v; memcpy (&v, p, 8); return v; }
    }
    return 0;
}

int
fmt_fileset_plane_minmax (fmt_fileset_t *self, int image, uint32_t z, uint32_t c, uint32_t t,
                          double *min, double *max, omr_err_t *err)
{
    if (image < 0 || image >= self->image_count)
        return omr_err_set (err, OMR_E_API, 400, "image %d out of range (fileset has %d)", image, self->image_count);
    const fmt_image_t *img = &self->images[image];
    const fmt_level_t *lv = &img->levels[0];
    int bytes = fmt_pixtype_bytes (img->pixel_type);
    /* blocks follow the native chunks so each strip/tile is decoded about once */
    uint32_t bw = lv->tile_w ? lv->tile_w : lv->size_x, bh = lv->tile_h ? lv->tile_h : lv->size_y;
    if (z < img->size_z && c < img->size_c && t < img->size_t
        && self->kinds[self->srcs[image].refs[fmt_image_ref_index (img, z, c, t)].file] != FMT_FILE_TIFF) {
        /* PNG/JPEG decode from the top on every read: take as many rows at once as fit */
        bw = lv->size_x;
        bh = lv->size_y;
    }
    if (bw > lv->size_x)
        bw = lv->size_x;
    if (bh > lv->size_y)
        bh = lv->size_y;
    const uint64_t cap = 64u << 20;
    while ((uint64_t) bw * bh * bytes > cap && bh > 1)
        bh = (bh + 1) / 2;
    while ((uint64_t) bw * bh * bytes > cap && bw > 1)
        bw = (bw + 1) / 2;
    size_t size = (size_t) bw * bh * bytes;
    uint8_t *block = malloc (size);
    if (!block)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    double lo = DBL_MAX, hi = -DBL_MAX;
    int any = 0;
    for (uint32_t y = 0; y < lv->size_y; y += bh)
        for (uint32_t x = 0; x < lv->size_x; x += bw) {
            uint32_t w = lv->size_x - x < bw ? lv->size_x - x : bw;
            uint32_t h = lv->size_y - y < bh ? lv->size_y - y : bh;
            if (fmt_fileset_read_region (self, image, 0, z, c, t, x, y, w, h, block, size, err) < 0) {
                free (block);
                return -1;
            }
            size_t n = (size_t) w * h;
            for (size_t i = 0; i < n; i++) {
                double v = sample_at (block + i * bytes, img->pixel_type);
                if (v != v)
                    continue;   /* NaN has no place in a display range */
                if (v < lo)
                    lo = v;
                if (v > hi)
                    hi = v;
                any = 1;
            }
        }
    free (block);
    *min = any ? lo : 0;
    *max = any ? hi : 0;
    return 0;
}
