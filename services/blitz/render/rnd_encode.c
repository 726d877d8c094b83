/* rnd_encode: JPEG/PNG/TIFF encoding of RGB buffers and the thumbnail scaler. */
#include "rnd_encode.h"
#include <math.h>
#include <stdbool.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <turbojpeg.h>

/* Largest side we encode; JPEG cannot exceed 65535 and nobody renders more. */
#define MAX_SIDE 65535

static int
check_size (int w, int h, omr_err_t *err)
{
    if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE)
        return omr_err_set (err, OMR_E_API, 400, "image size %dx%d out of range 1..%d", w, h, MAX_SIDE);
    return 0;
}

const char *
rnd_format_mime (rnd_format_t f)
{
    return f == RND_FMT_PNG ? "image/png" : f == RND_FMT_TIFF ? "image/tiff" : "image/jpeg";
}

int
rnd_jpeg_quality (double q)
{
    if (!(q >= 0) || !isfinite (q)) q = RND_DEFAULT_QUALITY;
    /* 0..1 is the webgateway's scale; larger values are taken as percent. */
    double pct = q <= 1 ? q * 100 : q;
    if (pct > 100) pct = 100;
    int v = (int) floor (pct + 0.5);
    return v < 1 ? 1 : v;
}

int
rnd_encode_jpeg (const uint8_t *rgb, int w, int h, int quality, uint8_t **out, size_t *out_len,
                 omr_err_t *err)
{
    if (check_size (w, h, err))
        return -1;
    if (quality < 1 || quality > 100)
        return omr_err_set (err, OMR_E_API, 400, "JPEG quality %d out of range 1..100", quality);
    tjhandle tj = tjInitCompress ();
    if (!tj)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "libjpeg-turbo: %s", tjGetErrorStr ());
    unsigned char *buf = NULL;
    unsigned long len = 0;
    int rc = tjCompress2 (tj, rgb, w, 0, h, TJPF_RGB, &buf, &len, TJSAMP_420, quality, TJFLAG_ACCURATEDCT);
    if (rc != 0) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "JPEG encoding failed: %s", tjGetErrorStr2 (tj));
        tjFree (buf);
        tjDestroy (tj);
        return -1;
    }
    tjDestroy (tj);
    /* Hand back malloc'ed memory so every encoder's output is freed the same way. */
    *out = malloc (len);
    if (!*out) {
        tjFree (buf);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    }
    memcpy (*out, buf, len);
    *out_len = len;
    tjFree (buf);
    return 0;
}

struct rnd_jpeg_t {
    tjhandle tj;
    unsigned char *buf;     /* tjAlloc'ed, tjBufSize of the largest image so far */
    unsigned long cap;
};

rnd_jpeg_t *
rnd_jpeg_new (omr_err_t *err)
{
    rnd_jpeg_t *e = calloc (1, sizeof *e);
    if (!e) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        return NULL;
    }
    e->tj = tjInitCompress ();
    if (!e->tj) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "libjpeg-turbo: %s", tjGetErrorStr ());
        free (e);
        return NULL;
    }
    return e;
}

void
rnd_jpeg_destroy (rnd_jpeg_t **self)
{
    if (!self || !*self)
        return;
    tjDestroy ((*self)->tj);
    tjFree ((*self)->buf);
    free (*self);
    *self = NULL;
}

/* Encode with a kept handle and buffer, RGB or one grey byte per pixel; the result is
 * copied into malloc'ed memory. */
static int
jpeg_with (rnd_jpeg_t *e, const uint8_t *src, int w, int h, int quality, bool grey, uint8_t **out,
           size_t *out_len, omr_err_t *err)
{
    if (check_size (w, h, err))
        return -1;
    if (quality < 1 || quality > 100)
        return omr_err_set (err, OMR_E_API, 400, "JPEG quality %d out of range 1..100", quality);
    int sub = grey ? TJSAMP_GRAY : TJSAMP_420;
    /* A buffer of tjBufSize (the worst case) never needs to grow; allocated once per larger image. */
    unsigned long need = tjBufSize (w, h, sub);
    if (need == (unsigned long) -1 || need > (unsigned long) INT32_MAX)
        return omr_err_set (err, OMR_E_API, 400, "image size %dx%d too large for JPEG", w, h);
    if (e->cap < need) {
        tjFree (e->buf);
        e->buf = tjAlloc ((int) need);
        e->cap = e->buf ? need : 0;
        if (!e->buf)
            return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    }
    unsigned long len = e->cap;
    int rc = tjCompress2 (e->tj, src, w, 0, h, grey ? TJPF_GRAY : TJPF_RGB, &e->buf, &len, sub, quality,
                          TJFLAG_FASTDCT | TJFLAG_NOREALLOC);
    if (rc != 0)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "JPEG encoding failed: %s", tjGetErrorStr2 (e->tj));
    *out = malloc (len);
    if (!*out)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    memcpy (*out, e->buf, len);
    *out_len = len;
    return 0;
}

int
rnd_encode_with (rnd_jpeg_t *enc, rnd_format_t f, const uint8_t *rgb, int w, int h, double quality, uint8_t **out,
                 size_t *out_len, omr_err_t *err)
{
    if (enc && f == RND_FMT_JPEG)
        return jpeg_with (enc, rgb, w, h, rnd_jpeg_quality (quality), false, out, out_len, err);
    return rnd_encode (f, rgb, w, h, quality, out, out_len, err);
}

int
rnd_encode_grey_jpeg (rnd_jpeg_t *enc, const uint8_t *grey, int w, int h, double quality, uint8_t **out,
                      size_t *out_len, omr_err_t *err)
{
    if (!enc)
        return omr_err_set (err, OMR_E_API, 400, "grey JPEG: no encoder");
    return jpeg_with (enc, grey, w, h, rnd_jpeg_quality (quality), true, out, out_len, err);
}

typedef struct {
    uint8_t *data;
    size_t len, cap;
    bool oom;
} membuf_t;

static void
membuf_put (membuf_t *m, const void *d, size_t n)
{
    if (m->oom)
        return;
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < m->len + n) cap *= 2;
        uint8_t *nd = realloc (m->data, cap);
        if (!nd) {
            m->oom = true;
            return;
        }
        m->data = nd;
        m->cap = cap;
    }
    memcpy (m->data + m->len, d, n);
    m->len += n;
}

static void
png_write_cb (png_structp png, png_bytep d, png_size_t n)
{
    membuf_put (png_get_io_ptr (png), d, n);
}

static void
png_flush_cb (png_structp png)
{
    (void) png;
}

int
rnd_encode_png (const uint8_t *rgb, int w, int h, uint8_t **out, size_t *out_len, omr_err_t *err)
{
    if (check_size (w, h, err))
        return -1;
    membuf_t m = { 0 };
    png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct (png) : NULL;
    if (!info) {
        png_destroy_write_struct (&png, NULL);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "libpng initialisation failed");
    }
    if (setjmp (png_jmpbuf (png))) {
        png_destroy_write_struct (&png, &info);
        free (m.data);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "PNG encoding failed");
    }
    png_set_write_fn (png, &m, png_write_cb, png_flush_cb);
    png_set_IHDR (png, info, (png_uint_32) w, (png_uint_32) h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                  PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level (png, 6);
    png_write_info (png, info);
    for (int y = 0; y < h; y++)
        png_write_row (png, (png_const_bytep) (rgb + (size_t) y * (size_t) w * 3));
    png_write_end (png, NULL);
    png_destroy_write_struct (&png, &info);
    if (m.oom) {
        free (m.data);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory encoding PNG");
    }
    *out = m.data;
    *out_len = m.len;
    return 0;
}

/* libtiff client I/O on a growable memory buffer. */
typedef struct {
    membuf_t m;
    toff_t pos;
} tiffmem_t;

static tmsize_t
tm_read (thandle_t h, void *d, tmsize_t n)
{
    tiffmem_t *t = h;
    if (t->pos >= t->m.len)
        return 0;
    size_t avail = t->m.len - t->pos, k = (size_t) n < avail ? (size_t) n : avail;
    memcpy (d, t->m.data + t->pos, k);
    t->pos += k;
    return (tmsize_t) k;
}

static tmsize_t
tm_write (thandle_t h, void *d, tmsize_t n)
{
    tiffmem_t *t = h;
    size_t end = t->pos + (size_t) n;
    if (end > t->m.cap) {
        size_t cap = t->m.cap ? t->m.cap : 65536;
        while (cap < end) cap *= 2;
        uint8_t *nd = realloc (t->m.data, cap);
        if (!nd) {
            t->m.oom = true;
            return -1;
        }
        t->m.data = nd;
        t->m.cap = cap;
    }
    if (t->pos > t->m.len)   /* a seek past the end leaves a gap: zero it */
        memset (t->m.data + t->m.len, 0, t->pos - t->m.len);
    memcpy (t->m.data + t->pos, d, (size_t) n);
    t->pos = end;
    if (end > t->m.len)
        t->m.len = end;
    return n;
}

static toff_t
tm_seek (thandle_t h, toff_t off, int whence)
{
    tiffmem_t *t = h;
    if (whence == SEEK_CUR) off += t->pos;
    else if (whence == SEEK_END) off += t->m.len;
    t->pos = off;
    return off;
}

static int tm_close (thandle_t h) { (void) h; return 0; }
static toff_t tm_size (thandle_t h) { return ((tiffmem_t *) h)->m.len; }
static int tm_map (thandle_t h, void **b, toff_t *s) { (void) h; (void) b; (void) s; return 0; }
static void tm_unmap (thandle_t h, void *b, toff_t s) { (void) h; (void) b; (void) s; }

int
rnd_encode_tiff (const uint8_t *rgb, int w, int h, uint8_t **out, size_t *out_len, omr_err_t *err)
{
    if (check_size (w, h, err))
        return -1;
    tiffmem_t t = { { 0 }, 0 };
    TIFF *tif = TIFFClientOpen ("render.tif", "wm", (thandle_t) &t, tm_read, tm_write, tm_seek, tm_close,
                                tm_size, tm_map, tm_unmap);
    if (!tif)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "libtiff: cannot open an in-memory TIFF");
    TIFFSetField (tif, TIFFTAG_IMAGEWIDTH, (uint32_t) w);
    TIFFSetField (tif, TIFFTAG_IMAGELENGTH, (uint32_t) h);
    TIFFSetField (tif, TIFFTAG_SAMPLESPERPIXEL, 3);
    TIFFSetField (tif, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField (tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
    TIFFSetField (tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField (tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    TIFFSetField (tif, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize (tif, 0));
    int ok = 1;
    for (int y = 0; y < h && ok; y++)
        ok = TIFFWriteScanline (tif, (void *) (rgb + (size_t) y * (size_t) w * 3), (uint32_t) y, 0) == 1;
    TIFFClose (tif);
    if (!ok || t.m.oom) {
        free (t.m.data);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "TIFF encoding failed");
    }
    *out = t.m.data;
    *out_len = t.m.len;
    return 0;
}

int
rnd_encode (rnd_format_t f, const uint8_t *rgb, int w, int h, double quality, uint8_t **out, size_t *out_len,
            omr_err_t *err)
{
    switch (f) {
    case RND_FMT_JPEG: return rnd_encode_jpeg (rgb, w, h, rnd_jpeg_quality (quality), out, out_len, err);
    case RND_FMT_PNG:  return rnd_encode_png (rgb, w, h, out, out_len, err);
    case RND_FMT_TIFF: return rnd_encode_tiff (rgb, w, h, out, out_len, err);
    default:           return omr_err_set (err, OMR_E_API, 400, "unknown output format %d", (int) f);
    }
}

/* Per destination index, the first source index and the weights of the sources it covers. */
typedef struct {
    int first, n;
    double *w;
} span_t;

static span_t *
make_spans (int sn, int dn)
{
    span_t *sp = calloc ((size_t) dn, sizeof *sp);
    if (!sp)
        return NULL;
    double scale = (double) sn / dn;
    for (int d = 0; d < dn; d++) {
        double a = d * scale, b = (d + 1) * scale;
        int first = (int) floor (a), last = (int) ceil (b) - 1;
        if (last >= sn) last = sn - 1;
        if (last < first) last = first;
        sp[d].first = first;
        sp[d].n = last - first + 1;
        sp[d].w = malloc ((size_t) sp[d].n * sizeof (double));
        if (!sp[d].w) {
            for (int i = 0; i <= d; i++) free (sp[i].w);
            free (sp);
            return NULL;
        }
        for (int i = 0; i < sp[d].n; i++) {
            double lo = first + i, hi = lo + 1;
            if (lo < a) lo = a;
            if (hi > b) hi = b;
            sp[d].w[i] = (hi - lo) / scale;
        }
    }
    return sp;
}

static void
free_spans (span_t *sp, int n)
{
    for (int i = 0; sp && i < n; i++) free (sp[i].w);
    free (sp);
}

int
rnd_scale_rgb (const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh, omr_err_t *err)
{
    if (check_size (sw, sh, err) || check_size (dw, dh, err))
        return -1;
    span_t *sx = make_spans (sw, dw), *sy = make_spans (sh, dh);
    double *tmp = malloc ((size_t) sh * (size_t) dw * 3 * sizeof (double));
    if (!sx || !sy || !tmp) {
        free_spans (sx, dw);
        free_spans (sy, dh);
        free (tmp);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory scaling");
    }
    /* Horizontal pass into doubles, then vertical pass with rounding: exact area average. */
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < dw; x++)
            for (int k = 0; k < 3; k++) {
                double acc = 0;
                for (int i = 0; i < sx[x].n; i++)
                    acc += sx[x].w[i] * src[((size_t) y * sw + (size_t) (sx[x].first + i)) * 3 + k];
                tmp[((size_t) y * dw + x) * 3 + k] = acc;
            }
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            for (int k = 0; k < 3; k++) {
                double acc = 0;
                for (int i = 0; i < sy[y].n; i++)
                    acc += sy[y].w[i] * tmp[((size_t) (sy[y].first + i) * dw + x) * 3 + k];
                int v = (int) floor (acc + 0.5);
                dst[((size_t) y * dw + x) * 3 + k] = (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : v);
            }
    free_spans (sx, dw);
    free_spans (sy, dh);
    free (tmp);
    return 0;
}

int
rnd_thumbnail_size (int sx, int sy, int longest, int *w, int *h, omr_err_t *err)
{
    if (sx < 1 || sy < 1)
        return omr_err_set (err, OMR_E_API, 400, "image size %dx%d is invalid", sx, sy);
    if (longest < 1 || longest > MAX_SIDE)
        return omr_err_set (err, OMR_E_API, 400, "thumbnail size %d out of range 1..%d", longest, MAX_SIDE);
    if (sx > sy) {
        float ratio = (float) longest / sx;
        *w = longest;
        *h = (int) (sy * ratio);
    } else {
        float ratio = (float) longest / sy;
        *w = (int) (sx * ratio);
        *h = longest;
    }
    if (*w < 1) *w = 1;
    if (*h < 1) *h = 1;
    return 0;
}
