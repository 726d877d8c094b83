/* tiff_reader.c: libtiff access shared by the TIFF-family readers.
 * libtiff's messages go to handlers bound to this handle (TIFFOpenExt options), so nothing
 * is printed and the text ends up in the error of the call that failed. Every IFD offset is
 * recorded once at open so that selecting a page is one seek, not a walk of the chain. */
#include "tiff_reader.h"
#include "fileset_priv.h"
#include <tiffio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#define MAX_IFDS 1000000

struct fmt_tiff {
    TIFF *tif;
    char *path;
    char msg[512];          /* last libtiff error */
    char warning[512];      /* last libtiff warning */
    uint64_t *offsets;      /* offset of every IFD of the main chain */
    int64_t count;
    int64_t cur_ifd;        /* selected IFD, -1 unknown */
    int cur_sub;
    int64_t sub_ifd;        /* IFD whose SubIFD offsets are cached */
    uint64_t *sub_offsets;
    int sub_count;
    /* the last decoded strip/tile: RGB channels and neighbouring regions reuse it */
    uint8_t *chunk;
    uint64_t chunk_cap;
    int chunk_valid, chunk_tiled, chunk_sub;
    int64_t chunk_ifd;
    uint32_t chunk_idx;
    tmsize_t chunk_got;
};

#define CHUNK_KEEP ((uint64_t) 32 << 20)   /* larger decoded chunks are not kept between calls */

static int
on_error (TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    fmt_tiff_t *self = user;
    char text[400];
    vsnprintf (text, sizeof text, fmt, ap);
    if (self)
        snprintf (self->msg, sizeof self->msg, "%s%s%s", module ? module : "", module ? ": " : "", text);
    return 1;   /* handled: libtiff must not print */
}

static int
on_warning (TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    fmt_tiff_t *self = user;
    char text[400];
    vsnprintf (text, sizeof text, fmt, ap);
    if (self)
        snprintf (self->warning, sizeof self->warning, "%s%s%s", module ? module : "", module ? ": " : "", text);
    return 1;
}

static void after_select (fmt_tiff_t *self);

static const char *
last_msg (fmt_tiff_t *self)
{
    return self->msg[0] ? self->msg : "libtiff gave no detail";
}

fmt_tiff_t *
fmt_tiff_open (const char *path, omr_err_t *err)
{
    fmt_tiff_t *self = calloc (1, sizeof *self);
    if (!self || !(self->path = strdup (path))) {
        free (self);
        omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", path);
        return NULL;
    }
    self->cur_ifd = -1;
    self->sub_ifd = -1;
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc ();
    if (!opts) {
        fmt_tiff_close (&self);
        omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", path);
        return NULL;
    }
    TIFFOpenOptionsSetErrorHandlerExtR (opts, on_error, self);
    TIFFOpenOptionsSetWarningHandlerExtR (opts, on_warning, self);
    TIFFOpenOptionsSetMaxSingleMemAlloc (opts, (tmsize_t) FMT_MAX_CHUNK);
    /* "m": plain reads instead of mmap, so a file truncated under us cannot SIGBUS */
    self->tif = TIFFOpenExt (path, "rm", opts);
    TIFFOpenOptionsFree (opts);
    if (!self->tif) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "%s: cannot read as TIFF: %s", path, last_msg (self));
        fmt_tiff_close (&self);
        return NULL;
    }
    size_t cap = 16;
    self->offsets = malloc (cap * sizeof *self->offsets);
    if (!self->offsets)
        goto oom;
    do {
        if ((size_t) self->count == cap) {
            cap *= 2;
            uint64_t *n = realloc (self->offsets, cap * sizeof *n);
            if (!n)
                goto oom;
            self->offsets = n;
        }
        self->offsets[self->count++] = TIFFCurrentDirOffset (self->tif);
    } while (self->count < MAX_IFDS && TIFFReadDirectory (self->tif));
    /* a broken later IFD ends the chain; what came before it stays readable */
    self->msg[0] = 0;
    if (!TIFFSetSubDirectory (self->tif, self->offsets[0])) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "%s: cannot re-read the first IFD: %s", path, last_msg (self));
        fmt_tiff_close (&self);
        return NULL;
    }
    after_select (self);
    self->cur_ifd = 0;
    self->cur_sub = 0;
    return self;
oom:
    omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", path);
    fmt_tiff_close (&self);
    return NULL;
}

void
fmt_tiff_close (fmt_tiff_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fmt_tiff_t *self = *self_p;
    if (self->tif)
        TIFFClose (self->tif);
    free (self->path);
    free (self->offsets);
    free (self->sub_offsets);
    free (self->chunk);
    free (self);
    *self_p = NULL;
}

const char *
fmt_tiff_path (const fmt_tiff_t *self)
{
    return self->path;
}

int64_t
fmt_tiff_ifd_count (const fmt_tiff_t *self)
{
    return self->count;
}

/* Settings that must be redone after every directory change. */
static void
after_select (fmt_tiff_t *self)
{
    uint16_t comp = 0, photo = 0;
    TIFFGetFieldDefaulted (self->tif, TIFFTAG_COMPRESSION, &comp);
    if (TIFFGetField (self->tif, TIFFTAG_PHOTOMETRIC, &photo) && comp == COMPRESSION_JPEG
        && photo == PHOTOMETRIC_YCBCR)
        /* let libjpeg convert to RGB and upsample, as viewers (and tifffile) do */
        TIFFSetField (self->tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
}

int
fmt_tiff_select (fmt_tiff_t *self, int64_t ifd, int sub, omr_err_t *err)
{
    if (ifd < 0 || ifd >= self->count)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: IFD %lld does not exist (the file has %lld)",
                            self->path, (long long) ifd, (long long) self->count);
    if (self->cur_ifd == ifd && self->cur_sub == sub)
        return 0;
    self->msg[0] = 0;
    if (sub > 0 && self->sub_ifd != ifd) {
        free (self->sub_offsets);
        self->sub_offsets = NULL;
        self->sub_count = 0;
        self->sub_ifd = -1;
        self->cur_ifd = -1;
        if (!TIFFSetSubDirectory (self->tif, self->offsets[ifd]))
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: cannot read IFD %lld: %s",
                                self->path, (long long) ifd, last_msg (self));
        uint16_t n = 0;
        uint64_t *offs = NULL;
        if (TIFFGetField (self->tif, TIFFTAG_SUBIFD, &n, &offs) && n > 0) {
            self->sub_offsets = malloc (n * sizeof *offs);
            if (!self->sub_offsets)
                return omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", self->path);
            memcpy (self->sub_offsets, offs, n * sizeof *offs);
            self->sub_count = n;
        }
        self->sub_ifd = ifd;
        self->cur_ifd = ifd;
        self->cur_sub = 0;
    }
    uint64_t off;
    if (sub == 0)
        off = self->offsets[ifd];
    else {
        if (sub > self->sub_count)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: IFD %lld has %d SubIFDs, level %d asked",
                                self->path, (long long) ifd, self->sub_count, sub);
        off = self->sub_offsets[sub - 1];
    }
    self->cur_ifd = -1;
    if (!TIFFSetSubDirectory (self->tif, off))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: cannot read IFD %lld%s: %s", self->path,
                            (long long) ifd, sub ? " (SubIFD)" : "", last_msg (self));
    after_select (self);
    self->cur_ifd = ifd;
    self->cur_sub = sub;
    return 0;
}

static int
pixtype_of (uint16_t bps, uint16_t fmt, fmt_pixtype_t *pt)
{
    int is_int = fmt == SAMPLEFORMAT_INT;
    int is_uint = fmt == SAMPLEFORMAT_UINT || fmt == SAMPLEFORMAT_VOID;
    if (bps == 1 && is_uint)
        *pt = FMT_PT_BIT;
    else if (is_uint && bps > 1 && bps < 8)
        *pt = FMT_PT_UINT8;     /* packed 2/4-bit samples widen to bytes, as in Bio-Formats */
    else if (is_uint && bps > 8 && bps < 16)
        *pt = FMT_PT_UINT16;    /* 10/12/14-bit packed samples */
    else if (bps == 8 && (is_int || is_uint))
        *pt = is_int ? FMT_PT_INT8 : FMT_PT_UINT8;
    else if (bps == 16 && (is_int || is_uint))
        *pt = is_int ? FMT_PT_INT16 : FMT_PT_UINT16;
    else if (bps == 32 && (is_int || is_uint))
        *pt = is_int ? FMT_PT_INT32 : FMT_PT_UINT32;
    else if (bps == 32 && fmt == SAMPLEFORMAT_IEEEFP)
        *pt = FMT_PT_FLOAT;
    else if (bps == 64 && fmt == SAMPLEFORMAT_IEEEFP)
        *pt = FMT_PT_DOUBLE;
    else
        return -1;
    return 0;
}

int
fmt_tiff_dir (fmt_tiff_t *self, fmt_tiffdir_t *d, omr_err_t *err)
{
    TIFF *tif = self->tif;
    memset (d, 0, sizeof *d);
    if (!TIFFGetField (tif, TIFFTAG_IMAGEWIDTH, &d->width) || !TIFFGetField (tif, TIFFTAG_IMAGELENGTH, &d->height)
        || d->width == 0 || d->height == 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: IFD without image width/length", self->path);
    TIFFGetFieldDefaulted (tif, TIFFTAG_SAMPLESPERPIXEL, &d->spp);
    TIFFGetFieldDefaulted (tif, TIFFTAG_BITSPERSAMPLE, &d->bps);
    TIFFGetFieldDefaulted (tif, TIFFTAG_SAMPLEFORMAT, &d->sample_format);
    TIFFGetFieldDefaulted (tif, TIFFTAG_PLANARCONFIG, &d->planar);
    TIFFGetFieldDefaulted (tif, TIFFTAG_COMPRESSION, &d->compression);
    if (!TIFFGetField (tif, TIFFTAG_PHOTOMETRIC, &d->photometric))
        d->photometric = d->spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    TIFFGetFieldDefaulted (tif, TIFFTAG_SUBFILETYPE, &d->subfile_type);
    d->tiled = TIFFIsTiled (tif);
    if (d->tiled) {
        TIFFGetField (tif, TIFFTAG_TILEWIDTH, &d->tile_w);
        TIFFGetField (tif, TIFFTAG_TILELENGTH, &d->tile_h);
        if (d->tile_w == 0 || d->tile_h == 0)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: tiled IFD with zero tile size", self->path);
    } else {
        uint32_t rps = 0;
        TIFFGetFieldDefaulted (tif, TIFFTAG_ROWSPERSTRIP, &rps);
        d->tile_w = d->width;
        d->tile_h = rps == 0 || rps > d->height ? d->height : rps;
    }
    uint16_t n = 0;
    uint64_t *offs = NULL;
    if (TIFFGetField (tif, TIFFTAG_SUBIFD, &n, &offs))
        d->subifd_count = n;
    if (d->spp == 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: SamplesPerPixel is 0", self->path);
    d->pixtype_ok = pixtype_of (d->bps, d->sample_format, &d->pixtype) == 0;
    return 0;
}

char *
fmt_tiff_string_tag (fmt_tiff_t *self, uint32_t tag)
{
    const char *s = NULL;
    if (!TIFFGetField (self->tif, tag, &s) || !s)
        return NULL;
    return strdup (s);
}

char *
fmt_tiff_description (fmt_tiff_t *self)
{
    return fmt_tiff_string_tag (self, TIFFTAG_IMAGEDESCRIPTION);
}

int
fmt_tiff_resolution (fmt_tiff_t *self, double *xres, double *yres, int *unit)
{
    float x = 0, y = 0;
    uint16_t u = RESUNIT_INCH;
    if (!TIFFGetField (self->tif, TIFFTAG_XRESOLUTION, &x) || !TIFFGetField (self->tif, TIFFTAG_YRESOLUTION, &y))
        return -1;
    TIFFGetFieldDefaulted (self->tif, TIFFTAG_RESOLUTIONUNIT, &u);
    *xres = x;
    *yres = y;
    *unit = u;
    return 0;
}

void
fmt_tiff_add_tags (fmt_tiff_t *self, fmt_image_t *img, const char *prefix, int skip_description)
{
    static const struct { uint32_t tag; const char *name; char kind; } tags[] = {
        { TIFFTAG_SUBFILETYPE, "NewSubfileType", 'L' },
        { TIFFTAG_IMAGEWIDTH, "ImageWidth", 'L' },
        { TIFFTAG_IMAGELENGTH, "ImageLength", 'L' },
        { TIFFTAG_BITSPERSAMPLE, "BitsPerSample", 'S' },
        { TIFFTAG_COMPRESSION, "Compression", 'S' },
        { TIFFTAG_PHOTOMETRIC, "PhotometricInterpretation", 'S' },
        { TIFFTAG_FILLORDER, "FillOrder", 'S' },
        { TIFFTAG_DOCUMENTNAME, "DocumentName", 's' },
        { TIFFTAG_IMAGEDESCRIPTION, "ImageDescription", 's' },
        { TIFFTAG_MAKE, "Make", 's' },
        { TIFFTAG_MODEL, "Model", 's' },
        { TIFFTAG_ORIENTATION, "Orientation", 'S' },
        { TIFFTAG_SAMPLESPERPIXEL, "SamplesPerPixel", 'S' },
        { TIFFTAG_ROWSPERSTRIP, "RowsPerStrip", 'L' },
        { TIFFTAG_XRESOLUTION, "XResolution", 'F' },
        { TIFFTAG_YRESOLUTION, "YResolution", 'F' },
        { TIFFTAG_PLANARCONFIG, "PlanarConfiguration", 'S' },
        { TIFFTAG_PAGENAME, "PageName", 's' },
        { TIFFTAG_RESOLUTIONUNIT, "ResolutionUnit", 'S' },
        { TIFFTAG_SOFTWARE, "Software", 's' },
        { TIFFTAG_DATETIME, "DateTime", 's' },
        { TIFFTAG_ARTIST, "Artist", 's' },
        { TIFFTAG_HOSTCOMPUTER, "HostComputer", 's' },
        { TIFFTAG_PREDICTOR, "Predictor", 'S' },
        { TIFFTAG_TILEWIDTH, "TileWidth", 'L' },
        { TIFFTAG_TILELENGTH, "TileLength", 'L' },
        { TIFFTAG_SAMPLEFORMAT, "SampleFormat", 'S' },
        { TIFFTAG_COPYRIGHT, "Copyright", 's' },
    };
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        if (skip_description && tags[i].tag == TIFFTAG_IMAGEDESCRIPTION)
            continue;
        char key[128], val[64];
        const char *v = val;
        snprintf (key, sizeof key, "%s%s", prefix ? prefix : "", tags[i].name);
        if (tags[i].kind == 'L') {
            uint32_t x;
            if (!TIFFGetField (self->tif, tags[i].tag, &x))
                continue;
            snprintf (val, sizeof val, "%u", x);
        } else if (tags[i].kind == 'S') {
            uint16_t x;
            if (!TIFFGetField (self->tif, tags[i].tag, &x))
                continue;
            snprintf (val, sizeof val, "%u", x);
        } else if (tags[i].kind == 'F') {
            float x;
            if (!TIFFGetField (self->tif, tags[i].tag, &x))
                continue;
            snprintf (val, sizeof val, "%g", x);
        } else {
            const char *s = NULL;
            if (!TIFFGetField (self->tif, tags[i].tag, &s) || !s)
                continue;
            v = s;
        }
        fmt_image_add_kv (img, key, v);
    }
}

/* Copy columns [c0, c1) of one decoded row (starting at image column `col0`) to dst.
 * packed_bps > 0: samples of that many bits packed MSB-first (TIFF's bit order), widened. */
static void
copy_row (uint8_t *dst, const uint8_t *src, uint32_t c0, uint32_t c1, uint32_t col0,
          int bytes, int stride_samples, int sample, int packed_bps)
{
    uint32_t n = c1 - c0, first = c0 - col0;
    if (packed_bps == 1 && stride_samples == 1) {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t col = first + i;
            dst[i] = (src[col >> 3] >> (7 - (col & 7))) & 1;
        }
    } else if (packed_bps > 0) {
        for (uint32_t i = 0; i < n; i++) {
            uint64_t bit = ((uint64_t) (first + i) * stride_samples + sample) * packed_bps;
            uint32_t v = 0;
            for (int b = 0; b < packed_bps; b++, bit++)
                v = (v << 1) | ((src[bit >> 3] >> (7 - (bit & 7))) & 1);
            if (bytes == 1)
                dst[i] = (uint8_t) v;
            else {
                uint16_t v16 = (uint16_t) v;
                memcpy (dst + (size_t) i * 2, &v16, 2);
            }
        }
    } else if (stride_samples == 1)
        memcpy (dst, src + (size_t) first * bytes, (size_t) n * bytes);
    else {
        const uint8_t *s = src + ((size_t) first * stride_samples + sample) * bytes;
        size_t step = (size_t) stride_samples * bytes;
        for (uint32_t i = 0; i < n; i++, s += step, dst += bytes)
            memcpy (dst, s, bytes);
    }
}

int
fmt_tiff_read_region (fmt_tiff_t *self, int sample, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
                      void *buf, omr_err_t *err)
{
    fmt_tiffdir_t d;
    if (fmt_tiff_dir (self, &d, err) < 0)
        return -1;
    if (!d.pixtype_ok)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: %u-bit samples of format %u have no OMERO pixel type",
                            self->path, d.bps, d.sample_format);
    if (sample < 0 || sample >= d.spp)
        return omr_err_set (err, OMR_E_API, 400, "%s: sample %d out of range (%u samples)", self->path, sample, d.spp);
    if ((uint64_t) x + w > d.width || (uint64_t) y + h > d.height || w == 0 || h == 0)
        return omr_err_set (err, OMR_E_API, 400, "%s: region %u,%u %ux%u outside the %ux%u image",
                            self->path, x, y, w, h, d.width, d.height);
    int contig = d.planar == PLANARCONFIG_CONTIG || d.spp == 1;
    int packed = d.bps % 8 ? d.bps : 0;
    int bytes = fmt_pixtype_bytes (d.pixtype);
    if (d.photometric == PHOTOMETRIC_YCBCR && d.compression != COMPRESSION_JPEG && d.compression != COMPRESSION_OJPEG) {
        uint16_t sh = 1, sv = 1;
        TIFFGetFieldDefaulted (self->tif, TIFFTAG_YCBCRSUBSAMPLING, &sh, &sv);
        if (sh != 1 || sv != 1)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: subsampled YCbCr without JPEG is not supported",
                                self->path);
    }
    int stride_samples = contig ? d.spp : 1;
    int plane_sample = contig ? 0 : sample;
    int out_sample = contig ? sample : 0;
    uint64_t chunk_size = d.tiled ? (uint64_t) TIFFTileSize64 (self->tif) : (uint64_t) TIFFStripSize64 (self->tif);
    uint64_t row_size = d.tiled ? (uint64_t) TIFFTileRowSize64 (self->tif) : (uint64_t) TIFFScanlineSize64 (self->tif);
    if (chunk_size == 0 || row_size == 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: cannot size strips/tiles: %s", self->path, last_msg (self));
    if (chunk_size > FMT_MAX_CHUNK)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: one %s decodes to %llu bytes, over the %llu-byte limit",
                            self->path, d.tiled ? "tile" : "strip", (unsigned long long) chunk_size,
                            (unsigned long long) FMT_MAX_CHUNK);
    if (self->chunk_cap < chunk_size) {
        free (self->chunk);
        self->chunk_valid = 0;
        self->chunk_cap = 0;
        if (!(self->chunk = malloc (chunk_size)))
            return omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory for a %llu-byte chunk", self->path,
                                (unsigned long long) chunk_size);
        self->chunk_cap = chunk_size;
    }
    uint8_t *chunk = self->chunk;
    uint8_t *out = buf;
    size_t out_row = (size_t) w * bytes;
    int rc = 0;
    self->msg[0] = 0;
    for (uint32_t cy = y / d.tile_h * d.tile_h; cy < y + h; cy += d.tile_h) {
        uint32_t r0 = cy > y ? cy : y;
        uint32_t r1 = cy + d.tile_h < y + h ? cy + d.tile_h : y + h;
        uint32_t cx_start = d.tiled ? x / d.tile_w * d.tile_w : 0;
        for (uint32_t cx = cx_start; cx < x + w; cx += d.tile_w) {
            tmsize_t got;
            uint32_t idx = d.tiled ? TIFFComputeTile (self->tif, cx, cy, 0, (uint16_t) plane_sample)
                                   : TIFFComputeStrip (self->tif, cy, (uint16_t) plane_sample);
            if (self->chunk_valid && self->chunk_ifd == self->cur_ifd && self->chunk_sub == self->cur_sub
                && self->chunk_tiled == d.tiled && self->chunk_idx == idx)
                got = self->chunk_got;
            else {
                self->chunk_valid = 0;
                got = d.tiled ? TIFFReadEncodedTile (self->tif, idx, chunk, (tmsize_t) chunk_size)
                              : TIFFReadEncodedStrip (self->tif, idx, chunk, (tmsize_t) chunk_size);
                if (got >= 0 && self->cur_ifd >= 0) {
                    self->chunk_valid = 1;
                    self->chunk_ifd = self->cur_ifd;
                    self->chunk_sub = self->cur_sub;
                    self->chunk_tiled = d.tiled;
                    self->chunk_idx = idx;
                    self->chunk_got = got;
                }
            }
            if (got < 0) {
                rc = omr_err_set (err, OMR_E_VALIDATION, 400, "%s: cannot decode the %s at %u,%u: %s", self->path,
                                  d.tiled ? "tile" : "strip", cx, cy, last_msg (self));
                goto done;
            }
            uint32_t c0 = cx > x ? cx : x;
            uint32_t c1 = cx + d.tile_w < x + w ? cx + d.tile_w : x + w;
            for (uint32_t r = r0; r < r1; r++) {
                uint64_t need = (uint64_t) (r - cy + 1) * row_size;
                if (need > (uint64_t) got) {
                    /* a short last strip holds only the rows that exist */
                    rc = omr_err_set (err, OMR_E_VALIDATION, 400, "%s: %s at %u,%u decoded to %lld bytes, row %u needs %llu",
                                      self->path, d.tiled ? "tile" : "strip", cx, cy, (long long) got, r,
                                      (unsigned long long) need);
                    goto done;
                }
                copy_row (out + (size_t) (r - y) * out_row + (size_t) (c0 - x) * bytes,
                          chunk + (size_t) (r - cy) * row_size, c0, c1, cx, bytes, stride_samples, out_sample, packed);
            }
        }
    }
done:
    if (self->chunk_cap > CHUNK_KEEP) {
        free (self->chunk);
        self->chunk = NULL;
        self->chunk_cap = 0;
        self->chunk_valid = 0;
    }
    return rc;
}

int
fmt_tiff_contiguous (fmt_tiff_t *self, uint64_t *offset, uint64_t *bytes)
{
    fmt_tiffdir_t d;
    if (fmt_tiff_dir (self, &d, NULL) < 0 || d.tiled || d.compression != COMPRESSION_NONE || !d.pixtype_ok
        || d.bps % 8 || (d.spp > 1 && d.planar != PLANARCONFIG_CONTIG))
        return -1;
    uint64_t *offs = NULL, *counts = NULL;
    if (!TIFFGetField (self->tif, TIFFTAG_STRIPOFFSETS, &offs) || !TIFFGetField (self->tif, TIFFTAG_STRIPBYTECOUNTS, &counts))
        return -1;
    uint32_t n = TIFFNumberOfStrips (self->tif);
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (offs[i] != offs[0] + total)
            return -1;
        total += counts[i];
    }
    uint64_t need = (uint64_t) d.width * d.height * d.spp * (d.bps / 8);
    if (total != need || offs[0] == 0)
        return -1;
    *offset = offs[0];
    *bytes = total;
    return 0;
}

static void
swap_bytes (uint8_t *p, size_t n, int size)
{
    for (size_t i = 0; i < n; i++, p += size)
        for (int a = 0, b = size - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

int
fmt_tiff_read_raw (fmt_tiff_t *self, uint64_t offset, int sample, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
                   void *buf, omr_err_t *err)
{
    fmt_tiffdir_t d;
    if (fmt_tiff_dir (self, &d, err) < 0)
        return -1;
    if (!d.pixtype_ok || d.bps % 8 || sample < 0 || sample >= d.spp
        || (uint64_t) x + w > d.width || (uint64_t) y + h > d.height)
        return omr_err_set (err, OMR_E_API, 400, "%s: bad raw region request", self->path);
    int bytes = d.bps / 8;
    uint64_t row = (uint64_t) d.width * d.spp * bytes;
    uint64_t span = ((uint64_t) (w - 1) * d.spp + 1) * bytes;   /* from the first to the last wanted sample */
    uint8_t *tmp = malloc (span);
    if (!tmp)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", self->path);
    int fd = TIFFFileno (self->tif);
    uint8_t *out = buf;
    for (uint32_t r = 0; r < h; r++) {
        uint64_t at = offset + (uint64_t) (y + r) * row + ((uint64_t) x * d.spp + sample) * bytes;
        ssize_t got = pread (fd, tmp, span, (off_t) at);
        if (got != (ssize_t) span) {
            free (tmp);
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: plane data at offset %llu ends early (%s)", self->path,
                                (unsigned long long) at, got < 0 ? strerror (errno) : "file too short");
        }
        uint8_t *dst = out + (size_t) r * w * bytes;
        for (uint32_t i = 0; i < w; i++)
            memcpy (dst + (size_t) i * bytes, tmp + (size_t) i * d.spp * bytes, bytes);
        if (bytes > 1 && TIFFIsByteSwapped (self->tif))
            swap_bytes (dst, w, bytes);
    }
    free (tmp);
    return 0;
}
