/* tiff_series.c: images of a TIFF that carries no OME-XML: plain multi-page stacks (pages as
 * Z, or as the axes a tifffile description names), ImageJ hyperstacks (CZT page order),
 * colour pages as channels, and separate-IFD pyramids (Aperio SVS, generic tiled pyramids
 * where reduced-size IFDs follow the full one). */
#include "tiff_series.h"
#include "fileset_priv.h"
#include "imagej.h"
#include "tiff_reader.h"
#include <jansson.h>
#include <tiffio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int
same_shape (const fmt_tiffdir_t *a, const fmt_tiffdir_t *b)
{
    return a->width == b->width && a->height == b->height && a->spp == b->spp && a->bps == b->bps
           && a->sample_format == b->sample_format && a->planar == b->planar && a->photometric == b->photometric;
}

/* A reduced copy of prev, as pyramid writers store them after the full image. In SVS only
 * tiled IFDs are levels (Aperio flags label and macro as reduced images too). */
static int
is_level (const fmt_tiffdir_t *base, const fmt_tiffdir_t *prev, const fmt_tiffdir_t *d, int svs)
{
    if (svs && !(d->tiled && base->tiled))
        return 0;
    if (d->width >= prev->width || d->height >= prev->height)
        return 0;
    if (d->spp != base->spp || d->bps != base->bps || d->sample_format != base->sample_format
        || d->planar != base->planar)
        return 0;
    return (d->subfile_type & FILETYPE_REDUCEDIMAGE) || (d->tiled && base->tiled);
}

/* ISO 8601 from TIFF DateTime "YYYY:MM:DD HH:MM:SS". */
static char *
iso_date (const char *dt)
{
    int Y, M, D, h, m, s;
    if (!dt || sscanf (dt, "%d:%d:%d %d:%d:%d", &Y, &M, &D, &h, &m, &s) != 6)
        return NULL;
    char buf[32];
    snprintf (buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", Y, M, D, h, m, s);
    return strdup (buf);
}

/* Pages-to-axes from a tifffile JSON description {"shape": [...], "axes": "TZYX"}: sets the
 * stored order (e.g. "XYZCT") and sizes when they multiply to npages. */
static int
json_axes (const char *desc, long npages, int spp, char order[8], uint32_t *Z, uint32_t *C, uint32_t *T)
{
    if (!desc || desc[0] != '{')
        return -1;
    json_t *root = json_loads (desc, 0, NULL);
    if (!root)
        return -1;
    int rc = -1;
    json_t *shape = json_object_get (root, "shape");
    const char *axes = json_string_value (json_object_get (root, "axes"));
    if (!json_is_array (shape) || !axes || strlen (axes) != json_array_size (shape))
        goto done;
    size_t n = strlen (axes), lead = n;
    /* the trailing Y X (and S for samples) are the page itself */
    if (lead && axes[lead - 1] == 'S')
        lead--;
    if (lead < 2 || axes[lead - 1] != 'X' || axes[lead - 2] != 'Y')
        goto done;
    lead -= 2;
    uint32_t sz[3] = { 1, 1, 1 };   /* Z C T */
    int used[3] = { 0, 0, 0 };
    long prod = 1;
    char rev[4] = { 0 };
    int nr = 0;
    for (size_t i = 0; i < lead; i++) {
        json_int_t v = json_integer_value (json_array_get (shape, i));
        int k = axes[i] == 'Z' ? 0 : axes[i] == 'C' ? 1 : axes[i] == 'T' ? 2 : -1;
        if (k < 0 || used[k] || v <= 0 || (k == 1 && spp > 1))
            goto done;
        used[k] = 1;
        sz[k] = (uint32_t) v;
        prod *= (long) v;
        rev[nr++] = axes[i];
    }
    if (prod != npages)
        goto done;
    /* stored order lists the fastest-varying axis first */
    char o[8] = "XY";
    int pos = 2;
    for (int i = nr - 1; i >= 0; i--)
        o[pos++] = rev[i];
    for (const char *a = "ZCT"; *a; a++)
        if (!memchr (o, *a, pos))
            o[pos++] = *a;
    o[pos] = 0;
    memcpy (order, o, 6);
    *Z = sz[0];
    *C = sz[1];
    *T = sz[2];
    rc = 0;
done:
    json_decref (root);
    return rc;
}

/* Aperio's description: "Aperio Image Library …\n…|AppMag = 20|MPP = 0.499|Date = 12/29/09|Time = 09:59:15".
 * Every key becomes original metadata; MPP is the pixel size of the full image (µm), and
 * Date/Time the acquisition date (as Bio-Formats reads them). */
static void
svs_metadata (const char *desc, fmt_image_t *img, int full)
{
    const char *p = strchr (desc, '|');
    char date[32] = "", time[32] = "";
    while (p) {
        p++;
        const char *end = strchr (p, '|');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        char item[512];
        snprintf (item, sizeof item, "%.*s", (int) (len < sizeof item ? len : sizeof item - 1), p);
        char *eq = strstr (item, " = ");
        if (eq) {
            *eq = 0;
            const char *k = item, *v = eq + 3;
            char key[300];
            snprintf (key, sizeof key, "Aperio.%s", k);
            fmt_image_add_kv (img, key, v);
            if (full && strcmp (k, "MPP") == 0) {
                double mpp = strtod (v, NULL);
                if (mpp > 0) {
                    fmt_quantity_set (&img->physical_size_x, mpp, "\xc2\xb5m");
                    fmt_quantity_set (&img->physical_size_y, mpp, "\xc2\xb5m");
                }
            } else if (strcmp (k, "Date") == 0)
                snprintf (date, sizeof date, "%s", v);
            else if (strcmp (k, "Time") == 0)
                snprintf (time, sizeof time, "%s", v);
        }
        p = end;
    }
    int mo, d, y, h = 0, mi = 0, sec = 0;
    if (sscanf (date, "%d/%d/%d", &mo, &d, &y) == 3 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31) {
        sscanf (time, "%d:%d:%d", &h, &mi, &sec);
        if (y < 100)
            y += 2000;
        char iso[40];
        snprintf (iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d, h, mi, sec);
        free (img->acquisition_date);
        img->acquisition_date = strdup (iso);
    }
}

static void
set_physical_from_resolution (fmt_tiff_t *t, fmt_image_t *img, const char *ij_unit)
{
    double xr, yr;
    int unit;
    if (fmt_tiff_resolution (t, &xr, &yr, &unit) < 0 || xr <= 0 || yr <= 0)
        return;
    if (ij_unit) {
        /* ImageJ: resolution is pixels per calibration unit */
        fmt_quantity_set (&img->physical_size_x, 1.0 / xr, ij_unit);
        fmt_quantity_set (&img->physical_size_y, 1.0 / yr, ij_unit);
    } else if (unit == RESUNIT_CENTIMETER) {
        fmt_quantity_set (&img->physical_size_x, 10000.0 / xr, "\xc2\xb5m");
        fmt_quantity_set (&img->physical_size_y, 10000.0 / yr, "\xc2\xb5m");
    } else if (unit == RESUNIT_INCH) {
        fmt_quantity_set (&img->physical_size_x, 25400.0 / xr, "\xc2\xb5m");
        fmt_quantity_set (&img->physical_size_y, 25400.0 / yr, "\xc2\xb5m");
    }
}

/* Common set-up of an image whose pages are dirs[first..] and whose channels may be samples. */
static fmt_image_t *
new_image (fmt_fileset_t *fs, fmt_imgsrc_t **src, const fmt_tiffdir_t *d0, const char *path, omr_err_t *err)
{
    if (!d0->pixtype_ok) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "%s: %u-bit samples of sample format %u have no OMERO pixel type",
                     path, d0->bps, d0->sample_format);
        return NULL;
    }
    fmt_image_t *img = fmt_fileset_add_image (fs, src, err);
    if (!img)
        return NULL;
    img->size_x = d0->width;
    img->size_y = d0->height;
    img->pixel_type = d0->pixtype;
    img->significant_bits = d0->bps;
    img->rgb = d0->spp > 1;
    img->interleaved = d0->spp > 1 && d0->planar == PLANARCONFIG_CONTIG;
    return img;
}

static int
build_imagej (fmt_fileset_t *fs, int file, fmt_tiff_t *t, const fmt_tiffdir_t *dirs, int64_t n,
              const char *desc, omr_err_t *err)
{
    const char *path = fs->files[file];
    fmt_imagej_t ij;
    fmt_imgsrc_t *src;
    fmt_image_t *img = new_image (fs, &src, &dirs[0], path, err);
    if (!img)
        return -1;
    fmt_imagej_parse (desc, &ij, img);
    long C = ij.channels > 0 ? ij.channels : 1, Z = ij.slices > 0 ? ij.slices : 1, T = ij.frames > 0 ? ij.frames : 1;
    long images = ij.images > 0 ? ij.images : n;
    int spp = dirs[0].spp;
    if (spp > 1)
        C = 1;      /* colour ImageJ stacks: channels are the samples of each page */
    if (C * Z * T != images) {
        /* an inconsistent description: fall back to pages as Z */
        C = 1;
        Z = images;
        T = 1;
    }
    img->size_c = (uint32_t) C * spp;
    img->size_z = (uint32_t) Z;
    img->size_t = (uint32_t) T;
    snprintf (img->dimension_order, sizeof img->dimension_order, "XYCZT");
    if (fmt_image_alloc (img, src, path, err) < 0)
        return -1;
    /* ImageJ writes files with more images than IFDs (over 4 GB): one IFD, then the planes
     * back to back, uncompressed, with page 0's layout */
    uint64_t off0 = 0, plane_bytes = 0;
    int contiguous = images > n && n == 1 && fmt_tiff_select (t, 0, 0, err) == 0 && fmt_tiff_contiguous (t, &off0, &plane_bytes) == 0;
    struct stat st;
    if (contiguous && (stat (path, &st) < 0 || (uint64_t) st.st_size < off0 + (uint64_t) images * plane_bytes))
        contiguous = 0;     /* the description claims more planes than the file can hold */
    for (long p = 0; p < images; p++) {
        uint32_t c = (uint32_t) (p % C), z = (uint32_t) ((p / C) % Z), tt = (uint32_t) (p / C / Z);
        fmt_planeref_t ref = { file, -1, 0, 0 };
        if (p < n && same_shape (&dirs[p], &dirs[0]))
            ref.ifd = p;
        else if (contiguous) {
            ref.ifd = 0;
            ref.raw_offset = off0 + (uint64_t) p * plane_bytes;
        }
        for (int s = 0; s < spp; s++) {
            ref.sample = s;
            src->refs[fmt_image_ref_index (img, z, c * spp + s, tt)] = ref;
        }
    }
    const char *unit = fmt_imagej_unit (ij.unit);
    if (unit)
        set_physical_from_resolution (t, img, unit);
    if (ij.has_spacing && ij.spacing > 0 && unit)
        fmt_quantity_set (&img->physical_size_z, ij.spacing, unit);
    if (ij.has_finterval && ij.finterval > 0)
        fmt_quantity_set (&img->time_increment, ij.finterval, "s");
    if (fmt_image_set_levels (img, 1, err) < 0)
        return -1;
    img->levels[0] = (fmt_level_t) { dirs[0].width, dirs[0].height, dirs[0].tile_w, dirs[0].tile_h };
    fmt_tiff_add_tags (t, img, NULL, 0);
    fs->format = strdup ("ImageJ TIFF");
    return 0;
}

int
fmt_tiff_series_load (fmt_fileset_t *fs, const char *path, omr_err_t *err)
{
    int file = fmt_fileset_add_file (fs, path, FMT_FILE_TIFF, err);
    if (file < 0)
        return -1;
    fmt_tiff_t *t = fmt_fileset_tiff (fs, file, err);
    if (!t)
        return -1;
    int64_t n = fmt_tiff_ifd_count (t);
    fmt_tiffdir_t *dirs = calloc (n, sizeof *dirs);
    if (!dirs)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", path);
    int rc = -1;
    char *desc = NULL, *used = NULL;
    for (int64_t i = 0; i < n; i++) {
        omr_err_t e2;
        if (fmt_tiff_select (t, i, 0, &e2) < 0 || fmt_tiff_dir (t, &dirs[i], &e2) < 0) {
            if (i == 0) {
                *err = e2;
                goto done;
            }
            n = i;  /* pages after a broken IFD are not used */
            break;
        }
    }
    if (fmt_tiff_select (t, 0, 0, err) < 0)
        goto done;
    desc = fmt_tiff_description (t);
    if (desc && strncmp (desc, "ImageJ=", 7) == 0) {
        rc = build_imagej (fs, file, t, dirs, n, desc, err);
        goto done;
    }
    int svs = desc && strncmp (desc, "Aperio", 6) == 0;
    fs->format = strdup (svs ? "Aperio SVS" : "TIFF");
    used = calloc (n, 1);
    if (!used) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", path);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        if (used[i])
            continue;
        const fmt_tiffdir_t *d0 = &dirs[i];
        if (!d0->pixtype_ok && i > 0)       /* e.g. an odd thumbnail: not an image we can serve */
            continue;
        int64_t j = i + 1;
        if (!svs)
            while (j < n && !used[j] && same_shape (&dirs[j], d0) && !(dirs[j].subfile_type & FILETYPE_REDUCEDIMAGE))
                j++;
        int64_t npages = j - i;
        for (int64_t p = i; p < j; p++)
            used[p] = 1;
        int64_t *levels = malloc ((n - i + 1) * sizeof *levels);
        if (!levels) {
            omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", path);
            goto done;
        }
        int nlev = 1;
        levels[0] = i;
        /* reduced copies follow the full image; in SVS the stripped thumbnail sits between
         * the tiled levels, and label/macro follow them: skip those, they are images */
        for (int64_t k = j; npages == 1 && k < n; k++) {
            if (used[k])
                continue;
            if (is_level (d0, &dirs[levels[nlev - 1]], &dirs[k], svs)) {
                levels[nlev++] = k;
                used[k] = 1;
            } else if (!(svs && !dirs[k].tiled))
                break;
        }
        fmt_imgsrc_t *src;
        fmt_image_t *img = new_image (fs, &src, d0, path, err);
        if (!img) {
            free (levels);
            goto done;
        }
        int spp = d0->spp;
        char *pdesc = NULL;
        fmt_tiff_select (t, i, 0, err);
        pdesc = fmt_tiff_description (t);
        uint32_t Z = (uint32_t) npages, C = 1, T = 1;
        if (json_axes (pdesc, (long) npages, spp, img->dimension_order, &Z, &C, &T) < 0)
            snprintf (img->dimension_order, sizeof img->dimension_order, "XYZCT");
        img->size_z = Z;
        img->size_c = C * spp;
        img->size_t = T;
        if (fmt_image_alloc (img, src, path, err) < 0) {
            free (levels);
            free (pdesc);
            goto done;
        }
        for (int64_t p = 0; p < npages; p++) {
            uint32_t z = 0, c = 0, tt = 0;
            fmt_order_zct (img->dimension_order, Z, C, T, (uint64_t) p, &z, &c, &tt);
            for (int s = 0; s < spp; s++)
                src->refs[fmt_image_ref_index (img, z, c * spp + s, tt)] = (fmt_planeref_t) { .file = file, .ifd = i + p, .sample = s };
        }
        if (fmt_image_set_levels (img, nlev, err) < 0) {
            free (levels);
            free (pdesc);
            goto done;
        }
        for (int l = 0; l < nlev; l++) {
            const fmt_tiffdir_t *d = &dirs[levels[l]];
            img->levels[l] = (fmt_level_t) { d->width, d->height, d->tile_w, d->tile_h };
        }
        if (nlev > 1) {
            src->level_kind = FMT_LEVELS_IFDS;
            src->level_ifds = levels;
        } else {
            free (levels);
            /* SubIFD pyramids outside OME-TIFF (tifffile's subifds=, bfconvert without OME) */
            int ns = 0;
            fmt_level_t sub[64];
            for (int l = 1; l <= d0->subifd_count && l < 64; l++) {
                fmt_tiffdir_t sd;
                omr_err_t e2;
                if (fmt_tiff_select (t, i, l, &e2) < 0 || fmt_tiff_dir (t, &sd, &e2) < 0 || sd.spp != d0->spp
                    || sd.bps != d0->bps || sd.sample_format != d0->sample_format || sd.planar != d0->planar
                    || sd.width >= (ns ? sub[ns - 1].size_x : d0->width)
                    || sd.height >= (ns ? sub[ns - 1].size_y : d0->height))
                    break;
                sub[ns++] = (fmt_level_t) { sd.width, sd.height, sd.tile_w, sd.tile_h };
            }
            if (ns > 0) {
                if (fmt_image_set_levels (img, ns + 1, err) < 0)
                    goto done;
                img->levels[0] = (fmt_level_t) { d0->width, d0->height, d0->tile_w, d0->tile_h };
                memcpy (img->levels + 1, sub, ns * sizeof *sub);
                src->level_kind = FMT_LEVELS_SUBIFD;
            }
            if (d0->subifd_count > 0 && fmt_tiff_select (t, i, 0, err) < 0)
                goto done;      /* back to the page itself for its tags */
        }
        /* names: the file name; later images of the file say what they are */
        char name[600];
        const char *base = fmt_basename (path);
        if (fs->image_count == 1)
            snprintf (name, sizeof name, "%s", base);
        else if (svs && pdesc && strstr (pdesc, "label"))
            snprintf (name, sizeof name, "%s [label]", base);
        else if (svs && pdesc && strstr (pdesc, "macro"))
            snprintf (name, sizeof name, "%s [macro]", base);
        else if (svs && fs->image_count == 2)
            snprintf (name, sizeof name, "%s [thumbnail]", base);
        else
            snprintf (name, sizeof name, "%s [%d]", base, fs->image_count - 1);
        img->name = strdup (name);
        if (pdesc && pdesc[0] && pdesc[0] != '{')
            img->description = strdup (pdesc);
        char *dt = fmt_tiff_string_tag (t, TIFFTAG_DATETIME);
        img->acquisition_date = iso_date (dt);
        free (dt);
        set_physical_from_resolution (t, img, NULL);
        if (svs && pdesc)
            svs_metadata (pdesc, img, fs->image_count == 1);
        free (pdesc);
        fmt_tiff_add_tags (t, img, NULL, 0);
    }
    rc = 0;
done:
    free (used);
    free (desc);
    free (dirs);
    return rc;
}
